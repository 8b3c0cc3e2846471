/* util/msg.h: the one formatted-message helper. */
#include <check.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "tests/alloc_hook.h"
#include "tests/testutil.h"
#include "util/msg.h"

START_TEST(formats_into_memory_of_the_right_size)
{
    char *text = msg_format("%s must be a whole number from %ld to %ld, not \"%s\"",
                            "--timeout", 1L, 600000L, "x");
    ck_assert_str_eq(text,
                     "--timeout must be a whole number from 1 to 600000, not \"x\"");
    free(text);
    text = msg_format("%s", "");
    ck_assert_str_eq(text, "");
    free(text);
}
END_TEST

/* Longer than any stack buffer a caller might have used before. */
START_TEST(long_texts_are_not_cut)
{
    static char big[5000];
    memset(big, 'k', sizeof big - 1);
    char *text = msg_format("<%s>", big);
    ck_assert_uint_eq(strlen(text), sizeof big + 1);
    ck_assert_int_eq(text[0], '<');
    ck_assert_int_eq(text[sizeof big], '>');
    free(text);
}
END_TEST

static char *through_va_list(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *through_va_list(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = msg_vformat(fmt, ap);
    va_end(ap);
    return text;
}

START_TEST(va_list_variant_formats_the_same)
{
    char *text = through_va_list("recipients/%zu needs %s.", (size_t)3, "mobiles");
    ck_assert_str_eq(text, "recipients/3 needs mobiles.");
    free(text);
}
END_TEST

START_TEST(out_of_memory_is_null)
{
    alloc_hook_arm(1, true);
    char *text = msg_format("HTTP %d", 503);
    char *vtext = through_va_list("HTTP %d", 503);
    bool failed = alloc_hook_failed();
    alloc_hook_disarm();
    ck_assert(failed);
    ck_assert_ptr_null(text);
    ck_assert_ptr_null(vtext);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("msg");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, formats_into_memory_of_the_right_size);
    tcase_add_test(tc, long_texts_are_not_cut);
    tcase_add_test(tc, va_list_variant_formats_the_same);
    tcase_add_test(tc, out_of_memory_is_null);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
