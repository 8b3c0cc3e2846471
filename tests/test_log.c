#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/log.h"
#include "server/redact.h"

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

int main(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, levels_redaction_and_single_lines);
    tcase_add_test(tc, sink_receives_redacted_text_at_every_level);
    tcase_add_test(tc, long_messages_are_not_cut);
    tcase_add_test(tc, parses_levels);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
