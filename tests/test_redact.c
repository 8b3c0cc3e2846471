#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "tests/alloc_hook.h"
#include "tests/testutil.h"
#include "util/redact.h"

START_TEST(replaces_every_occurrence)
{
    redact_set_secret("s3cr3tKEY");
    const char *in = "a s3cr3tKEY b s3cr3tKEYs3cr3tKEY c";
    size_t len = 0;
    char *out = NULL;
    ck_assert_int_eq(redact_apply(in, strlen(in), &out, &len), 0);
    ck_assert_str_eq(out, "a [REDACTED] b [REDACTED][REDACTED] c");
    ck_assert_uint_eq(len, strlen(out));
    free(out);
    redact_clear();
}
END_TEST

/* redact_apply's result when no copy is needed or made. */
static char *apply(const char *text, size_t len)
{
    char *out = (char *)"untouched";
    ck_assert_int_eq(redact_apply(text, len, &out, NULL), 0);
    return out;
}

START_TEST(returns_null_when_clean)
{
    redact_set_secret("s3cr3tKEY");
    ck_assert_ptr_null(apply("nothing here", 12));
    ck_assert(!redact_needed("s3cr3tKE", 8));
    ck_assert(redact_needed("xs3cr3tKEYx", 11));
    redact_clear();
    ck_assert_ptr_null(apply("s3cr3tKEY", 9));
}
END_TEST

START_TEST(short_secret_longer_mark)
{
    /* The mark is longer than the secret: the output must grow safely. */
    redact_set_secret("k");
    char *out = apply("kkk", 3);
    ck_assert_str_eq(out, "[REDACTED][REDACTED][REDACTED]");
    free(out);
    redact_clear();
}
END_TEST

START_TEST(empty_secret_is_no_secret)
{
    ck_assert_int_eq(redact_set_secret(""), 0);
    ck_assert_ptr_null(apply("abc", 3));
    ck_assert_int_eq(redact_set_secret(NULL), 0);
    ck_assert_ptr_null(apply("abc", 3));
}
END_TEST

START_TEST(binary_text_with_nul)
{
    redact_set_secret("KEY");
    const char in[] = "a\0KEY\0b";
    size_t len = 0;
    char *out = NULL;
    ck_assert_int_eq(redact_apply(in, sizeof in - 1, &out, &len), 0);
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
    char *out = apply(raw, strlen(raw));
    ck_assert_str_eq(out, "raw [REDACTED] and json \"[REDACTED]\"");
    free(out);
    redact_clear();
}
END_TEST

START_TEST(out_of_memory_fails_closed)
{
    /* Without memory for the copy the answer must not be "nothing to
     * redact", which callers took as leave to write the text as it is. */
    redact_set_secret("s3cr3tKEY");
    const char *in = "key s3cr3tKEY here";
    char *out = (char *)"untouched";
    alloc_hook_arm(1, false);
    int rc = redact_apply(in, strlen(in), &out, NULL);
    alloc_hook_disarm();
    ck_assert_int_eq(rc, -1);
    ck_assert_ptr_null(out);
    /* Text with nothing to redact needs no copy, so no memory either. */
    alloc_hook_arm(1, true);
    rc = redact_apply("clean", 5, &out, NULL);
    alloc_hook_disarm();
    ck_assert_int_eq(rc, 0);
    ck_assert_ptr_null(out);
    redact_clear();
}
END_TEST

/* Persona keys and digests are added beside the server's key. */
START_TEST(several_secrets)
{
    redact_set_secret("abcdefgh");
    ck_assert_int_eq(redact_add_secret("abcdefghijkl"), 0);
    ck_assert_int_eq(redact_add_secret("zz\"zzzzz"), 0);
    ck_assert_int_eq(redact_add_secret("abcdefgh"), 0); /* once is enough */
    ck_assert_int_eq(redact_add_secret(NULL), 0);
    ck_assert_int_eq(redact_add_secret(""), 0);
    /* At one offset the longest wins; the JSON form of each counts too. */
    char *out = apply("x abcdefghijkl y zz\\\"zzzzz abcdefgh zz\"zzzzz",
                      strlen("x abcdefghijkl y zz\\\"zzzzz abcdefgh zz\"zzzzz"));
    ck_assert_str_eq(out, "x [REDACTED] y [REDACTED] [REDACTED] [REDACTED]");
    free(out);
    ck_assert_uint_eq(redact_partial_tail("end abcdefghij", 14, 4), 10);
    /* Setting the key again drops the others. */
    redact_set_secret("other-key");
    ck_assert_ptr_null(apply("abcdefgh zz\"zzzzz", 15));
    redact_clear();
}
END_TEST

/* An add that runs out of memory adds nothing, and keeps what was set. */
START_TEST(add_secret_out_of_memory)
{
    redact_set_secret("first-secret");
    for (unsigned long n = 1; n <= 4; n++) {
        alloc_hook_arm(n, false);
        int rc = redact_add_secret("quo\"ted-secret");
        bool failed = alloc_hook_failed();
        alloc_hook_disarm();
        if (!failed) {
            ck_assert_int_eq(rc, 0);
            break;
        }
        ck_assert_int_eq(rc, -1);
        ck_assert(!redact_needed("quo\"ted-secret", 14));
        ck_assert(!redact_needed("quo\\\"ted-secret", 16));
        ck_assert(redact_needed("first-secret", 12));
    }
    ck_assert(redact_needed("quo\"ted-secret", 14));
    ck_assert(redact_needed("quo\\\"ted-secret", 16));
    redact_clear();
}
END_TEST

START_TEST(mask_in_place_keeps_the_length)
{
    redact_set_secret("Q\"uo\\te-1");
    char text[] = "raw Q\"uo\\te-1 json \"Q\\\"uo\\\\te-1\" end";
    size_t len = strlen(text);
    ck_assert_uint_eq(redact_mask_in_place(text, len), 2);
    ck_assert_str_eq(text, "raw ********* json \"***********\" end");
    ck_assert_uint_eq(redact_mask_in_place(text, len), 0);
    redact_clear();
}
END_TEST

START_TEST(set_secret_reports_out_of_memory)
{
    /* Each allocation of the set-up failing in turn: a failure is reported
     * and leaves no secret half set. */
    alloc_hook_route_jansson();
    for (unsigned long n = 1;; n++) {
        alloc_hook_arm(n, false);
        int rc = redact_set_secret("Q\"uo\\te-1");
        bool failed = alloc_hook_failed();
        alloc_hook_disarm();
        if (!failed) {
            ck_assert_int_eq(rc, 0);
            ck_assert(redact_needed("Q\"uo\\te-1", 9));
            break;
        }
        ck_assert_int_eq(rc, -1);
        ck_assert(!redact_needed("Q\"uo\\te-1", 9));
        ck_assert_int_lt(n, 100);
    }
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
    tcase_add_test(tc, out_of_memory_fails_closed);
    tcase_add_test(tc, mask_in_place_keeps_the_length);
    tcase_add_test(tc, several_secrets);
    tcase_add_test(tc, add_secret_out_of_memory);
    tcase_add_test(tc, set_secret_reports_out_of_memory);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
