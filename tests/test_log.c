#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/testutil.h"
#include "util/log.h"
#include "util/redact.h"

static char sunk[4096];
static enum log_level sunk_level;

static void sink(void *data, enum log_level level, const char *text)
{
    (void)data;
    sunk_level = level;
    snprintf(sunk, sizeof sunk, "%s", text);
}

/* Runs fn with stderr sent to a temporary file and returns what it wrote. */
static char *capture_stderr(void (*fn)(void))
{
    char path[] = "/tmp/msg91-log-XXXXXX";
    int fd = mkstemp(path);
    int saved = dup(2);
    fflush(stderr);
    dup2(fd, 2);
    fn();
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    lseek(fd, 0, SEEK_SET);
    char *buf = calloc(1, 8192);
    ssize_t n = read(fd, buf, 8191);
    (void)n;
    close(fd);
    unlink(path);
    return buf;
}

static void emit_some(void)
{
    log_debug("hidden at info");
    log_info("key is %s, twice %s", "TOPSECRET123", "TOPSECRET123");
    log_warning("multi\nline");
    log_error("%d errors", 3);
}

START_TEST(levels_redaction_and_single_lines)
{
    redact_set_secret("TOPSECRET123");
    log_set_level(LOG_LEVEL_INFO);
    char *out = capture_stderr(emit_some);
    ck_assert_str_eq(out, "msg91-mcp: info: key is [REDACTED], twice [REDACTED]\n"
                          "msg91-mcp: warning: multi line\n"
                          "msg91-mcp: error: 3 errors\n");
    free(out);
    redact_clear();
}
END_TEST

START_TEST(sink_receives_redacted_text_at_every_level)
{
    redact_set_secret("TOPSECRET123");
    log_set_level(LOG_LEVEL_ERROR);
    log_set_sink(sink, NULL);
    char *out = capture_stderr(emit_some);
    ck_assert_str_eq(out, "msg91-mcp: error: 3 errors\n");
    ck_assert_str_eq(sunk, "3 errors");
    ck_assert_int_eq(sunk_level, LOG_LEVEL_ERROR);
    log_info("the key TOPSECRET123");
    ck_assert_str_eq(sunk, "the key [REDACTED]");
    log_set_sink(NULL, NULL);
    free(out);
    redact_clear();
}
END_TEST

static void emit_big(void)
{
    /* Longer than log.c's stack buffer, so the heap path is taken. */
    static char big[3000];
    memset(big, 'x', sizeof big - 1);
    log_error("%s", big);
}

START_TEST(long_messages_are_not_cut)
{
    log_set_level(LOG_LEVEL_ERROR);
    log_set_sink(sink, NULL);
    char *out = capture_stderr(emit_big);
    ck_assert_uint_eq(strlen(sunk), 2999);
    ck_assert_uint_eq(strlen(out), strlen("msg91-mcp: error: \n") + 2999);
    log_set_sink(NULL, NULL);
    free(out);
}
END_TEST

START_TEST(parses_levels)
{
    enum log_level l;
    ck_assert_int_eq(log_level_parse("debug", &l), 0);
    ck_assert_int_eq(l, LOG_LEVEL_DEBUG);
    ck_assert_int_eq(log_level_parse("WARN", &l), 0);
    ck_assert_int_eq(l, LOG_LEVEL_WARNING);
    ck_assert_int_eq(log_level_parse("error", &l), 0);
    ck_assert_int_eq(l, LOG_LEVEL_ERROR);
    ck_assert_int_eq(log_level_parse("loud", &l), -1);
}
END_TEST

static void emit_urls(void)
{
    log_debug("verify_otp: GET https://control.msg91.com/api/v5/otp/verify?otp=123456"
              "&mobile=919876543210");
    log_debug("send_otp: POST http://127.0.0.1:9/api/v5/otp?template_id=t1&mobile="
              "919812345678&otp_length=6 (an otp=1 outside a query stays)");
    log_debug("x?identifier=someone@example.com&identifier=%%2B919811122222&mobiles="
              "919800000001,919800000002#frag");
}

/* The names the tools declare personal (tools/service.c), as a table of
 * this test's own: the log knows no names by itself. */
static const struct log_personal_name personal[] = {
    {"otp", LOG_PERSONAL_IS_CODE},
    {"mobile", LOG_PERSONAL_IS_PHONE},
    {"mobiles", LOG_PERSONAL_IS_PHONE},
    {"identifier", LOG_PERSONAL_IS_PHONE_LIKE},
    {NULL, 0},
};

/* Personal values in URLs are masked in log lines as in the audit log: the
 * debug log once carried full mobile numbers and OTP codes. */
START_TEST(personal_values_in_urls_are_masked)
{
    log_set_personal(personal);
    log_set_level(LOG_LEVEL_DEBUG);
    log_set_sink(sink, NULL);
    char *out = capture_stderr(emit_urls);
    ck_assert_str_eq(
        out,
        "msg91-mcp: debug: verify_otp: GET https://control.msg91.com/api/v5/otp/"
        "verify?otp=****&mobile=********3210\n"
        "msg91-mcp: debug: send_otp: POST http://127.0.0.1:9/api/v5/otp?template_id=t1"
        "&mobile=********5678&otp_length=6 (an otp=1 outside a query stays)\n"
        "msg91-mcp: debug: x?identifier=someone@example.com&identifier=***********2222"
        "&mobiles=*********************0002#frag\n");
    ck_assert_ptr_nonnull(strstr(sunk, "&mobiles=*****"));
    log_set_sink(NULL, NULL);
    log_set_level(LOG_LEVEL_INFO);
    log_set_personal(NULL);
    free(out);
}
END_TEST

/* Without a table of names nothing is personal; with one, only its names,
 * and a phone-like name only when the value looks like a phone number. */
START_TEST(personal_kind_follows_the_table)
{
    ck_assert_int_eq(log_personal_kind("otp", 3, "123456", 6), LOG_PERSONAL_NONE);
    log_set_personal(personal);
    ck_assert_int_eq(log_personal_kind("otp", 3, "123456", 6), LOG_PERSONAL_CODE);
    ck_assert_int_eq(log_personal_kind("otp_length", 3, "6", 1), LOG_PERSONAL_CODE);
    ck_assert_int_eq(log_personal_kind("otp_length", 10, "6", 1), LOG_PERSONAL_NONE);
    ck_assert_int_eq(log_personal_kind("mobiles", 7, "x", 1), LOG_PERSONAL_PHONE);
    ck_assert_int_eq(log_personal_kind("identifier", 10, "%2B919811122222", 15),
                     LOG_PERSONAL_PHONE);
    ck_assert_int_eq(log_personal_kind("identifier", 10, "a@b.c", 5), LOG_PERSONAL_NONE);
    log_set_personal(NULL);
    ck_assert_int_eq(log_personal_kind("mobile", 6, "919876543210", 12),
                     LOG_PERSONAL_NONE);
}
END_TEST

/* The binary at MSG91_LOG_LEVEL=debug logs each upstream URL. */
START_TEST(debug_log_of_a_call_holds_no_otp_or_mobile)
{
    struct testutil_child c;
    const char *env[] = {"MSG91_AUTH_KEY=abcdefgh12345", "MSG91_LOG_LEVEL=debug",
                         "MSG91_BASE_URL=http://127.0.0.1:1", NULL};
    const char *argv[] = {"msg91-mcp",  "call",  "verify_otp",          "--arg",
                          "otp=482913", "--arg", "mobile=919876543210", NULL};
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    ck_assert_int_eq(testutil_finish(&c, 60000), 2);
    char *err = testutil_read_stderr(&c);
    ck_assert_msg(strstr(err, "verify_otp: POST http://127.0.0.1:1/") ||
                      strstr(err, "verify_otp: GET http://127.0.0.1:1/"),
                  "no URL in the debug log: %s", err);
    ck_assert_msg(!strstr(err, "482913"), "the OTP is in the debug log: %s", err);
    ck_assert_msg(!strstr(err, "9876543210"), "the mobile is in the debug log: %s", err);
    ck_assert_ptr_nonnull(strstr(err, "********3210"));
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, levels_redaction_and_single_lines);
    tcase_add_test(tc, sink_receives_redacted_text_at_every_level);
    tcase_add_test(tc, long_messages_are_not_cut);
    tcase_add_test(tc, parses_levels);
    tcase_add_test(tc, personal_values_in_urls_are_masked);
    tcase_add_test(tc, personal_kind_follows_the_table);
    tcase_add_test(tc, debug_log_of_a_call_holds_no_otp_or_mobile);
    tcase_set_timeout(tc, 120);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
