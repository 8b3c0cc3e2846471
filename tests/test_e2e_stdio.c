/* End-to-end tests of the real binary over pipes: start-up and exit,
 * flow control, oversized lines, signals, a vanished reader, files as
 * stdio, and the subcommands' exit codes. */
#include <check.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <utmp.h>

#include "tests/testutil.h"

#define INIT_LINE                                                                        \
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"               \
    "\"protocolVersion\":"                                                               \
    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"e2e\",\"version\":"   \
    "\"1\"}}}"

/* Runs a shell command with the binary in $BIN; returns the exit status. */
static int run_shell(const char *cmd)
{
    char full[4096];
    snprintf(full, sizeof full, "BIN='%s'; %s", testutil_binary(), cmd);
    int st = system(full);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(dev_null_exits_zero_at_once)
{
    double t0 = testutil_now_s();
    int rc = run_shell("\"$BIN\" < /dev/null > /tmp/msg91-e2e-null.out 2>/dev/null");
    double took = testutil_now_s() - t0;
    ck_assert_int_eq(rc, 0);
    ck_assert_msg(took < 2.0, "took %.2f s", took);
    size_t len = 99;
    char *out = testutil_read_file("/tmp/msg91-e2e-null.out", &len);
    ck_assert_uint_eq(len, 0);
    free(out);
}
END_TEST

START_TEST(ten_thousand_pings_without_reading)
{
    struct testutil_child c;
    const char *argv[] = {"msg91-mcp", NULL};
    ck_assert_int_eq(testutil_spawn(&c, argv, NULL), 0);
    ck_assert_int_eq(testutil_send_line(&c, INIT_LINE), 0);
    /* Write everything first: far more than a pipe holds in either direction. */
    size_t cap = 10000 * 64, len = 0;
    char *all = malloc(cap);
    for (int i = 1; i <= 10000; i++)
        len +=
            (size_t)snprintf(all + len, cap - len,
                             "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"ping\"}\n", i);
    ck_assert_int_eq(testutil_send(&c, all, len), 0);
    free(all);
    char *line = testutil_read_line(&c, 10000);
    ck_assert_ptr_nonnull(line);
    ck_assert_ptr_nonnull(strstr(line, "\"protocolVersion\":\"2025-11-25\""));
    free(line);
    for (int i = 1; i <= 10000; i++) {
        line = testutil_read_line(&c, 10000);
        ck_assert_msg(line != NULL, "reply %d missing", i);
        char expect[96];
        snprintf(expect, sizeof expect, "{\"jsonrpc\":\"2.0\",\"id\":%d,\"result\":{}}",
                 i);
        ck_assert_str_eq(line, expect);
        free(line);
    }
    ck_assert_int_eq(testutil_finish(&c, 5000), 0);
    free(testutil_read_stderr(&c));
}
END_TEST

START_TEST(oversized_line_gets_an_error_and_serving_goes_on)
{
    struct testutil_child c;
    const char *argv[] = {"msg91-mcp", "--max-line-bytes", "1024", NULL};
    ck_assert_int_eq(testutil_spawn(&c, argv, NULL), 0);
    char big[5000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    ck_assert_int_eq(testutil_send_line(&c, big), 0);
    ck_assert_int_eq(
        testutil_send_line(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}"), 0);
    char *line = testutil_read_line(&c, 5000);
    ck_assert_str_eq(line,
                     "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,"
                     "\"message\":\"Invalid Request: the message is larger than the "
                     "1024-byte line limit and was discarded (MSG91_MAX_LINE_BYTES)\"}}");
    free(line);
    line = testutil_read_line(&c, 5000);
    ck_assert_str_eq(line, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}");
    free(line);
    ck_assert_int_eq(testutil_finish(&c, 5000), 0);
    free(testutil_read_stderr(&c));
}
END_TEST

START_TEST(sigterm_exits_zero)
{
    struct testutil_child c;
    const char *argv[] = {"msg91-mcp", NULL};
    ck_assert_int_eq(testutil_spawn(&c, argv, NULL), 0);
    ck_assert_int_eq(testutil_send_line(&c, INIT_LINE), 0);
    free(testutil_read_line(&c, 5000));
    kill(c.pid, SIGTERM);
    int status;
    double t0 = testutil_now_s();
    ck_assert_int_eq(waitpid(c.pid, &status, 0), c.pid);
    ck_assert(testutil_now_s() - t0 < 3.0);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    c.pid = 0;
    close(c.in_fd);
    close(c.out_fd);
    free(c.pending);
    free(testutil_read_stderr(&c));
}
END_TEST

START_TEST(closed_stdout_ends_the_process_cleanly)
{
    struct testutil_child c;
    const char *argv[] = {"msg91-mcp", NULL};
    ck_assert_int_eq(testutil_spawn(&c, argv, NULL), 0);
    close(c.out_fd); /* the reader goes away */
    for (int i = 0; i < 100; i++) {
        if (testutil_send_line(&c,
                               "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}") != 0)
            break;
    }
    int status;
    double t0 = testutil_now_s();
    while (waitpid(c.pid, &status, WNOHANG) == 0) {
        ck_assert_msg(testutil_now_s() - t0 < 5.0,
                      "server did not exit after stdout closed");
        usleep(10000);
    }
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    close(c.in_fd);
    free(c.pending);
    free(testutil_read_stderr(&c));
}
END_TEST

START_TEST(regular_files_as_stdin_and_stdout)
{
    FILE *f = fopen("/tmp/msg91-e2e-in.jsonl", "w");
    fprintf(f, "%s\r\n{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"method\":\"ping\"}", INIT_LINE);
    fclose(f);
    int rc = run_shell("\"$BIN\" < /tmp/msg91-e2e-in.jsonl > /tmp/msg91-e2e-out.jsonl "
                       "2>/dev/null");
    ck_assert_int_eq(rc, 0);
    char *out = testutil_read_file("/tmp/msg91-e2e-out.jsonl", NULL);
    ck_assert_ptr_nonnull(out);
    char *second = strchr(out, '\n');
    ck_assert_ptr_nonnull(second);
    ck_assert_str_eq(second + 1, "{\"jsonrpc\":\"2.0\",\"id\":\"x\",\"result\":{}}\n");
    free(out);
}
END_TEST

START_TEST(stdout_holds_only_protocol_lines)
{
    struct testutil_child c;
    const char *argv[] = {"msg91-mcp", "--log-level", "debug", NULL};
    const char *env[] = {"MSG91_AUTH_KEY=k3y-for-stdout-test", NULL};
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    const char *lines[] = {
        INIT_LINE,
        "garbage",
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}",
        ("{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
         "\"send_otp\",\"arguments\":{\"mobile\":\"x\"}}}"),
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"nope\"}",
    };
    for (size_t i = 0; i < 5; i++)
        ck_assert_int_eq(testutil_send_line(&c, lines[i]), 0);
    for (int i = 0; i < 5; i++) {
        json_t *v = testutil_read_json(&c, 5000);
        ck_assert_msg(json_is_object(v), "reply %d is not a JSON object", i);
        ck_assert_str_eq(json_string_value(json_object_get(v, "jsonrpc")), "2.0");
        json_decref(v);
    }
    ck_assert_int_eq(testutil_finish(&c, 5000), 0);
    char *err = testutil_read_stderr(&c);
    ck_assert_msg(!strstr(err, "k3y-for-stdout-test"), "key leaked to stderr: %s", err);
    free(err);
}
END_TEST

START_TEST(startup_errors_exit_one)
{
    int rc = run_shell("MSG91_TOOLS=send_fax \"$BIN\" < /dev/null > /tmp/msg91-e2e-o 2> "
                       "/tmp/msg91-e2e-e");
    ck_assert_int_eq(rc, 1);
    char *err = testutil_read_file("/tmp/msg91-e2e-e", NULL);
    ck_assert_ptr_nonnull(strstr(err, "configuration error: unknown tool \"send_fax\""));
    free(err);
    size_t len = 9;
    free(testutil_read_file("/tmp/msg91-e2e-o", &len));
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(run_shell("\"$BIN\" --auth-key abc </dev/null >/dev/null 2>&1"), 1);
    ck_assert_int_eq(run_shell("\"$BIN\" bogus </dev/null >/dev/null 2>&1"), 1);
}
END_TEST

START_TEST(help_version_list)
{
    ck_assert_int_eq(run_shell("\"$BIN\" --version > /tmp/msg91-e2e-v"), 0);
    char *v = testutil_read_file("/tmp/msg91-e2e-v", NULL);
    ck_assert_str_eq(v, "msg91-mcp " MSG91_MCP_VERSION "\n");
    free(v);
    ck_assert_int_eq(run_shell("\"$BIN\" --help > /dev/null"), 0);
    ck_assert_int_eq(
        run_shell("MSG91_READ_ONLY=1 \"$BIN\" list --json > /tmp/msg91-e2e-l"), 0);
    char *l = testutil_read_file("/tmp/msg91-e2e-l", NULL);
    json_t *tools = json_loads(l, 0, NULL);
    ck_assert_int_eq(json_array_size(tools), 3);
    json_decref(tools);
    free(l);
    ck_assert_int_eq(run_shell("\"$BIN\" list > /tmp/msg91-e2e-l"), 0);
    l = testutil_read_file("/tmp/msg91-e2e-l", NULL);
    ck_assert_ptr_nonnull(strstr(l, "send_otp "));
    ck_assert_ptr_nonnull(strstr(l, "List Campaigns"));
    free(l);
}
END_TEST

START_TEST(call_exit_codes)
{
    /* usage and configuration errors: 1 */
    ck_assert_int_eq(run_shell("\"$BIN\" call >/dev/null 2>&1"), 1);
    ck_assert_int_eq(run_shell("\"$BIN\" call send_fax '{}' >/dev/null 2>&1"), 1);
    ck_assert_int_eq(run_shell("\"$BIN\" call send_otp 'not json' >/dev/null 2>&1"), 1);
    /* a tool error: 2 (invalid arguments, or no key) */
    ck_assert_int_eq(
        run_shell("\"$BIN\" call send_otp '{\"mobile\":\"1\"}' >/dev/null 2>&1"), 2);
    ck_assert_int_eq(run_shell("\"$BIN\" call list_campaigns >/dev/null 2>&1"), 2);
    /* dry run: the built request, exit 0 */
    ck_assert_int_eq(run_shell("MSG91_DRY_RUN=1 \"$BIN\" call verify_otp --arg "
                               "mobile=919876543210 --arg otp=1234 > /tmp/msg91-e2e-c "
                               "2>/dev/null"),
                     0);
    char *out = testutil_read_file("/tmp/msg91-e2e-c", NULL);
    ck_assert_msg(strstr(out, "otp/verify?otp=1234&mobile=919876543210"), "%s", out);
    free(out);
}
END_TEST

/* A terminal as stdin and stdout (a person trying the server by hand):
 * the same framing and replies, and hanging up the terminal ends the
 * server cleanly. The terminal is put in raw mode so it neither echoes
 * the input nor rewrites newlines. */
START_TEST(terminal_as_stdin_and_stdout)
{
    /* Raw mode is set before the child exists, so nothing races it. */
    int master, slave;
    struct termios t;
    ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, NULL), 0);
    ck_assert_int_eq(tcgetattr(slave, &t), 0);
    cfmakeraw(&t);
    ck_assert_int_eq(tcsetattr(slave, TCSANOW, &t), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(master);
        if (login_tty(slave) == 0)
            execl(testutil_binary(), testutil_binary(), "--log-level", "error",
                  (char *)NULL);
        _exit(127);
    }
    close(slave);
    const char *in = INIT_LINE "\n{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}\n";
    ck_assert_int_eq(write(master, in, strlen(in)), (ssize_t)strlen(in));
    char buf[8192];
    size_t got = 0;
    double t0 = testutil_now_s();
    while (testutil_now_s() - t0 < 5.0) {
        ssize_t n = read(master, buf + got, sizeof buf - 1 - got);
        if (n <= 0)
            break;
        got += (size_t)n;
        buf[got] = '\0';
        if (strstr(buf, "\"id\":7,"))
            break;
    }
    buf[got] = '\0';
    ck_assert_msg(strstr(buf, "\"protocolVersion\":\"2025-11-25\""), "%s", buf);
    char *ping = strstr(buf, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":{}}\n");
    ck_assert_msg(ping != NULL, "no ping reply in: %s", buf);
    close(master); /* hang up */
    int status;
    t0 = testutil_now_s();
    while (waitpid(pid, &status, WNOHANG) == 0) {
        ck_assert_msg(testutil_now_s() - t0 < 5.0,
                      "server did not exit after the hang-up");
        usleep(10000);
    }
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("e2e_stdio");
    TCase *tc = tcase_create("binary");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, dev_null_exits_zero_at_once);
    tcase_add_test(tc, ten_thousand_pings_without_reading);
    tcase_add_test(tc, oversized_line_gets_an_error_and_serving_goes_on);
    tcase_add_test(tc, sigterm_exits_zero);
    tcase_add_test(tc, closed_stdout_ends_the_process_cleanly);
    tcase_add_test(tc, regular_files_as_stdin_and_stdout);
    tcase_add_test(tc, terminal_as_stdin_and_stdout);
    tcase_add_test(tc, stdout_holds_only_protocol_lines);
    tcase_add_test(tc, startup_errors_exit_one);
    tcase_add_test(tc, help_version_list);
    tcase_add_test(tc, call_exit_codes);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
