#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "util/dynbuf.h"

START_TEST(appends_and_terminates)
{
    struct dynbuf b;
    dynbuf_init(&b, 100);
    ck_assert_str_eq(dynbuf_ptr(&b), "");
    ck_assert_int_eq(dynbuf_append_str(&b, "hello"), DYNBUF_OK);
    ck_assert_int_eq(dynbuf_append(&b, ", world", 7), DYNBUF_OK);
    ck_assert_str_eq(dynbuf_ptr(&b), "hello, world");
    ck_assert_uint_eq(dynbuf_len(&b), 12);
    dynbuf_reset(&b);
    ck_assert_str_eq(dynbuf_ptr(&b), "");
    dynbuf_finish(&b);
}
END_TEST

START_TEST(refuses_past_the_maximum_and_frees)
{
    struct dynbuf b;
    dynbuf_init(&b, 10);
    ck_assert_int_eq(dynbuf_append(&b, "123456789", 9), DYNBUF_OK);
    ck_assert_int_eq(dynbuf_append(&b, "0", 1), DYNBUF_TOOBIG);
    /* Like curl's dynbuf, a failed append leaves an empty usable buffer. */
    ck_assert_uint_eq(dynbuf_len(&b), 0);
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(dynbuf_append(&b, "abc", 3), DYNBUF_OK);
    ck_assert_str_eq(dynbuf_ptr(&b), "abc");
    dynbuf_finish(&b);
}
END_TEST

START_TEST(take_hands_over_the_memory)
{
    struct dynbuf b;
    dynbuf_init(&b, 1 << 20);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(dynbuf_append(&b, "0123456789", 10), DYNBUF_OK);
    size_t len = 0;
    char *s = dynbuf_take(&b, &len);
    ck_assert_uint_eq(len, 10000);
    ck_assert_uint_eq(strlen(s), 10000);
    ck_assert_uint_eq(dynbuf_len(&b), 0);
    free(s);
    dynbuf_finish(&b);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dynbuf");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, appends_and_terminates);
    tcase_add_test(tc, refuses_past_the_maximum_and_frees);
    tcase_add_test(tc, take_hands_over_the_memory);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
