/* util/pct.h: the value of one percent escape. */
#include <check.h>
#include <ctype.h>
#include <stdint.h>

#include "tests/testutil.h"
#include "util/pct.h"

START_TEST(reads_an_escape_in_either_case)
{
    ck_assert_int_eq(pct_escape_value("%2B9198", 7), '+');
    ck_assert_int_eq(pct_escape_value("%2b", 3), '+');
    ck_assert_int_eq(pct_escape_value("%ff", 3), 255);
    ck_assert_int_eq(pct_escape_value("%00", 3), 0);
    ck_assert_int_eq(pct_escape_value("%7E/a", SIZE_MAX), '~');
}
END_TEST

/* A malformed or cut escape is not one: the callers keep its bytes. */
START_TEST(refuses_what_is_not_an_escape)
{
    ck_assert_int_eq(pct_escape_value("2B", 2), -1);
    ck_assert_int_eq(pct_escape_value("%G1", 3), -1);
    ck_assert_int_eq(pct_escape_value("%1G", 3), -1);
    ck_assert_int_eq(pct_escape_value("%2B", 2), -1);
    ck_assert_int_eq(pct_escape_value("%", SIZE_MAX), -1);
    ck_assert_int_eq(pct_escape_value("%4", SIZE_MAX), -1);
}
END_TEST

START_TEST(reads_hex_digits)
{
    const char *digits = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        ck_assert_int_eq(pct_hex_value(digits[i]), i);
        ck_assert_int_eq(pct_hex_value((char)toupper((unsigned char)digits[i])), i);
    }
    ck_assert_int_eq(pct_hex_value('g'), -1);
    ck_assert_int_eq(pct_hex_value('%'), -1);
    ck_assert_int_eq(pct_hex_value('\0'), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("pct");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, reads_an_escape_in_either_case);
    tcase_add_test(tc, refuses_what_is_not_an_escape);
    tcase_add_test(tc, reads_hex_digits);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
