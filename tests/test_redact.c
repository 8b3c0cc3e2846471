#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/redact.h"

START_TEST(replaces_every_occurrence)
{
    redact_set_secret("s3cr3tKEY");
    const char *in = "a s3cr3tKEY b s3cr3tKEYs3cr3tKEY c";
    size_t len = 0;
    char *out = redact_apply(in, strlen(in), &len);
    ck_assert_str_eq(out, "a [REDACTED] b [REDACTED][REDACTED] c");
    ck_assert_uint_eq(len, strlen(out));
    free(out);
    redact_clear();
}
END_TEST

START_TEST(returns_null_when_clean)
{
    redact_set_secret("s3cr3tKEY");
    ck_assert_ptr_null(redact_apply("nothing here", 12, NULL));
    ck_assert(!redact_needed("s3cr3tKE", 8));
    ck_assert(redact_needed("xs3cr3tKEYx", 11));
    redact_clear();
    ck_assert_ptr_null(redact_apply("s3cr3tKEY", 9, NULL));
}
END_TEST

START_TEST(short_secret_longer_mark)
{
    /* The mark is longer than the secret: the output must grow safely. */
    redact_set_secret("k");
    char *out = redact_apply("kkk", 3, NULL);
    ck_assert_str_eq(out, "[REDACTED][REDACTED][REDACTED]");
    free(out);
    redact_clear();
}
END_TEST

START_TEST(empty_secret_is_no_secret)
{
    redact_set_secret("");
    ck_assert_ptr_null(redact_apply("abc", 3, NULL));
    redact_set_secret(NULL);
    ck_assert_ptr_null(redact_apply("abc", 3, NULL));
}
END_TEST

START_TEST(binary_text_with_nul)
{
    redact_set_secret("KEY");
    const char in[] = "a\0KEY\0b";
    size_t len = 0;
    char *out = redact_apply(in, sizeof in - 1, &len);
    ck_assert_uint_eq(len, 2 + strlen("[REDACTED]") + 2);
    ck_assert_int_eq(memcmp(out, "a\0[REDACTED]\0b", len), 0);
    free(out);
    redact_clear();
}
END_TEST

START_TEST(json_escaped_form_is_redacted_too)
{
    /* A key with characters JSON escapes looks different inside a JSON
     * string; both forms must go. */
    redact_set_secret("Q\"uo\\te-1");
    const char *raw = "raw Q\"uo\\te-1 and json \"Q\\\"uo\\\\te-1\"";
    char *out = redact_apply(raw, strlen(raw), NULL);
    ck_assert_str_eq(out, "raw [REDACTED] and json \"[REDACTED]\"");
    free(out);
    redact_clear();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("redact");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, replaces_every_occurrence);
    tcase_add_test(tc, returns_null_when_clean);
    tcase_add_test(tc, short_secret_longer_mark);
    tcase_add_test(tc, empty_secret_is_no_secret);
    tcase_add_test(tc, binary_text_with_nul);
    tcase_add_test(tc, json_escaped_form_is_redacted_too);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
