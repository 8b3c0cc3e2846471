/* util/strpack.h: strings copied behind a record. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "util/strpack.h"

START_TEST(sizes_count_terminators_and_skip_null)
{
    const char *s[] = {"ab", NULL, "", "xyz"};
    ck_assert_uint_eq(strpack_size(s, 4), 3 + 0 + 1 + 4);
    ck_assert_uint_eq(strpack_size(s, 0), 0);
    const char *none[] = {NULL, NULL};
    ck_assert_uint_eq(strpack_size(none, 2), 0);
}
END_TEST

/* The copies sit one after another and fill exactly the room counted. */
START_TEST(puts_copies_back_to_back)
{
    const char *s[] = {"ab", NULL, "", "xyz"};
    size_t size = strpack_size(s, 4);
    char *pack = malloc(size + 1);
    ck_assert_ptr_nonnull(pack);
    pack[size] = '#';
    char *at = pack;
    char *copies[4];
    for (size_t i = 0; i < 4; i++)
        copies[i] = strpack_put(&at, s[i]);
    ck_assert_ptr_eq(copies[0], pack);
    ck_assert_str_eq(copies[0], "ab");
    ck_assert_ptr_null(copies[1]);
    ck_assert_ptr_eq(copies[2], pack + 3);
    ck_assert_str_eq(copies[2], "");
    ck_assert_ptr_eq(copies[3], pack + 4);
    ck_assert_str_eq(copies[3], "xyz");
    ck_assert_ptr_eq(at, pack + size);
    ck_assert_int_eq(pack[size], '#');
    free(pack);
}
END_TEST

/* The use it is for: a record and its strings in one allocation, which one
 * free releases (the sanitizer build sees a leak otherwise). */
struct record {
    const char *name;
    const char *note;
    char strings[];
};

START_TEST(a_record_keeps_its_strings_in_its_own_block)
{
    const char *from[] = {"client", NULL};
    struct record *r = calloc(1, sizeof *r + strpack_size(from, 2));
    ck_assert_ptr_nonnull(r);
    char *at = r->strings;
    r->name = strpack_put(&at, from[0]);
    r->note = strpack_put(&at, from[1]);
    ck_assert_str_eq(r->name, "client");
    ck_assert_ptr_ne(r->name, from[0]);
    ck_assert_ptr_null(r->note);
    ck_assert_ptr_eq(at, r->strings + 7);
    free(r);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("strpack");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, sizes_count_terminators_and_skip_null);
    tcase_add_test(tc, puts_copies_back_to_back);
    tcase_add_test(tc, a_record_keeps_its_strings_in_its_own_block);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
