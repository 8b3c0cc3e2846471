/* The audit log: what a line holds (fields, masking, caps on large
 * arguments), how the file is opened (regular files only, mode 0600, never
 * through a symbolic link, never blocking on a FIFO), the bounded queue in
 * front of the writes, and reopening after rotation. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "server/audit.h"
#include "tests/testutil.h"
#include "tools/service.h"
#include "util/log.h"

static char dir[64];
static uv_loop_t loop;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/msg91-audit-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    log_set_personal(service.personal);
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    DIR *d = opendir(dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (e->d_name[0] != '.')
            unlink(testutil_fmt("%s/%s", dir, e->d_name));
    if (d)
        closedir(d);
    rmdir(dir);
}

/* A path in the test's directory; four rotating buffers, apart from
 * testutil_fmt's so that building a line cannot overwrite a path. */
static const char *in_dir(const char *name)
{
    static char paths[4][128];
    static unsigned next;
    char *p = paths[next++ % 4];
    snprintf(p, sizeof paths[0], "%s/%s", dir, name);
    return p;
}

static struct audit_log *open_ok(const char *path)
{
    char *error = NULL;
    struct audit_log *log = audit_open(&loop, path, &error);
    ck_assert_msg(log != NULL, "audit_open: %s", error ? error : "(no sentence)");
    return log;
}

/* audit_open must fail with a sentence holding fragment. */
static void open_refused(const char *path, const char *fragment)
{
    char *error = NULL;
    struct audit_log *log = audit_open(&loop, path, &error);
    if (log) {
        audit_close(log);
        ck_abort_msg("%s was accepted as the audit log", path);
    }
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, fragment), "\"%s\" lacks \"%s\"", error, fragment);
    free(error);
}

static void write_call(struct audit_log *log, json_t *args, const char *outcome)
{
    struct audit_entry e = {
        .who = {.name = "test-client", .version = "1.2"},
        .tool = "send_otp",
        .arguments = args,
        .outcome = outcome,
        .error = NULL,
        .request_id = "req-1",
        .http_status = 200,
        .duration_ms = 6.865,
    };
    audit_write(log, &e);
}

static char *read_all(const char *path);

/* The persona a call was made as follows the client; a long name is cut
 * like every other string. */
START_TEST(line_names_the_persona)
{
    const char *path = in_dir("persona.jsonl");
    struct audit_log *log = open_ok(path);
    struct audit_entry e = {
        .who.persona = "support-bot", .tool = "t", .outcome = "refused"};
    audit_write(log, &e);
    audit_close(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    char *text = read_all(path);
    ck_assert_ptr_nonnull(strstr(text, ",\"client\":{\"name\":null,\"version\":null},"
                                       "\"persona\":\"support-bot\",\"tool\":\"t\","));
    free(text);
}
END_TEST

static char *read_all(const char *path)
{
    size_t len = 0;
    char *text = testutil_read_file(path, &len);
    ck_assert_msg(text != NULL, "cannot read %s", path);
    return text;
}

static size_t count_lines(const char *text)
{
    size_t n = 0;
    for (const char *p = text; *p; p++)
        n += *p == '\n';
    return n;
}

static mode_t mode_of(const char *path)
{
    struct stat st;
    ck_assert_int_eq(lstat(path, &st), 0);
    return st.st_mode & 07777;
}

START_TEST(symlink_is_refused)
{
    const char *victim = in_dir("victim");
    FILE *f = fopen(victim, "w");
    fputs("original\n", f);
    fclose(f);
    ck_assert_int_eq(symlink(victim, in_dir("audit.jsonl")), 0);
    open_refused(in_dir("audit.jsonl"), "symbolic link");
    char *text = read_all(victim);
    ck_assert_str_eq(text, "original\n");
    free(text);
}
END_TEST

START_TEST(fifo_is_refused_without_blocking)
{
    const char *fifo = in_dir("fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    /* No reader: opening for writing would wait for one for ever. */
    open_refused(fifo, "not a regular file");
    /* With a reader the open succeeds, and the file type refuses it. */
    int reader = open(fifo, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(reader, 0);
    open_refused(fifo, "not a regular file");
    close(reader);
    open_refused("/dev/null", "not a regular file");
    open_refused(dir, "cannot open the audit log");
}
END_TEST

START_TEST(mode_is_0600)
{
    const char *path = in_dir("audit.jsonl");
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(fchmod(fd, 0644), 0);
    close(fd);
    struct audit_log *log = open_ok(path);
    ck_assert_uint_eq(mode_of(path), 0600);
    audit_close(log);

    const char *fresh = in_dir("fresh.jsonl");
    log = open_ok(fresh);
    ck_assert_uint_eq(mode_of(fresh), 0600);
    audit_close(log);
}
END_TEST

START_TEST(line_fields_and_masking)
{
    const char *path = in_dir("audit.jsonl");
    struct audit_log *log = open_ok(path);
    json_t *args = json_pack("{s:s,s:s,s:s,s:[s,s],s:s,s:{s:s}}", "otp", "123456",
                             "mobile", "+919876543210", "identifier", "919812345678",
                             "mobiles", "919811111111", "919822222222", "template_id",
                             "tmpl_1", "nested", "mobile", "919833333333");
    write_call(log, args, "ok");
    json_t *email = json_pack("{s:s}", "identifier", "someone@example.com");
    write_call(log, email, "tool_error");
    /* Numbers where strings belong: a call the schema refuses is audited. */
    json_t *numbers = json_pack("{s:i,s:I,s:i}", "otp", 482913, "mobile",
                                (json_int_t)919876543210, "otp_length", 6);
    write_call(log, numbers, "invalid_arguments");
    json_decref(numbers);
    json_decref(args);
    json_decref(email);
    audit_close(log);
    uv_run(&loop, UV_RUN_DEFAULT);

    char *text = read_all(path);
    ck_assert_uint_eq(count_lines(text), 3);
    /* Everything but the time is fixed. */
    const char *first = strchr(text, ',');
    ck_assert_ptr_nonnull(first);
    ck_assert(!strncmp(text, "{\"time\":\"", 9));
    const char *expected =
        ",\"client\":{\"name\":\"test-client\",\"version\":\"1.2\"},\"persona\":null,"
        "\"tool\":\"send_"
        "otp\","
        "\"arguments\":{\"otp\":\"****\",\"mobile\":\"+********3210\",\"identifier\":"
        "\"********5678\",\"mobiles\":[\"********1111\",\"********2222\"],"
        "\"template_id\":\"tmpl_1\",\"nested\":{\"mobile\":\"********3333\"}},"
        "\"outcome\":\"ok\",\"request_id\":\"req-1\",\"http_status\":200,"
        "\"duration_ms\":6.865}\n";
    ck_assert_msg(!strncmp(first, expected, strlen(expected)), "line: %s", text);
    ck_assert_ptr_nonnull(strstr(text, "\"identifier\":\"someone@example.com\""));
    ck_assert_ptr_nonnull(strstr(
        text,
        "\"arguments\":{\"otp\":\"****\",\"mobile\":\"********3210\",\"otp_length\":6}"));
    ck_assert_ptr_null(strstr(text, "482913"));
    ck_assert_ptr_null(strstr(text, "123456"));
    ck_assert_ptr_null(strstr(text, "9876543210"));
    free(text);
}
END_TEST

static char *big_string(size_t n, char c)
{
    char *s = malloc(n + 1);
    memset(s, c, n);
    s[n] = '\0';
    return s;
}

START_TEST(big_arguments_are_capped)
{
    const char *path = in_dir("audit.jsonl");
    struct audit_log *log = open_ok(path);
    char *huge = big_string(3000000, 'x');
    /* Two-byte characters, so a cut could land inside one. */
    char *accents = big_string(2 * AUDIT_STRING_MAX + 2, 'a');
    for (size_t i = 1; i < strlen(accents); i += 2) {
        accents[i - 1] = (char)0xc3;
        accents[i] = (char)0xa9;
    }
    json_t *many = json_array();
    for (int i = 0; i < 5000; i++)
        json_array_append_new(many, json_string("919800000000"));
    json_t *keys = json_object();
    for (int i = 0; i < 5000; i++)
        json_object_set_new(keys, testutil_fmt("variable_%d", i), json_string("value"));
    json_t *args = json_pack("{s:s,s:s,s:o,s:o}", "template_id", huge, "accents", accents,
                             "mobiles", many, "variables", keys);
    for (int i = 0; i < 3; i++)
        write_call(log, args, "invalid_arguments");
    json_decref(args);
    audit_close(log);
    uv_run(&loop, UV_RUN_DEFAULT);

    char *text = read_all(path);
    ck_assert_uint_eq(count_lines(text), 3);
    /* Three calls with 3 MB each once wrote 9 MB. */
    ck_assert_uint_lt(strlen(text), 3 * AUDIT_LINE_MAX);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        ck_assert_uint_le(strlen(line), AUDIT_LINE_MAX);
        json_error_t jerr;
        json_t *v = json_loads(line, 0, &jerr);
        ck_assert_msg(v != NULL, "not JSON: %s", jerr.text);
        json_t *a = json_object_get(v, "arguments");
        const char *t = json_string_value(json_object_get(a, "template_id"));
        ck_assert_ptr_nonnull(t);
        ck_assert(!strncmp(t, huge, AUDIT_STRING_MAX));
        ck_assert_str_eq(t + AUDIT_STRING_MAX, "...[3000000 bytes]");
        const char *acc = json_string_value(json_object_get(a, "accents"));
        ck_assert_ptr_nonnull(acc); /* still valid UTF-8, or jansson would refuse */
        ck_assert_ptr_nonnull(strstr(acc, "...[514 bytes]"));
        ck_assert_str_eq(json_string_value(json_object_get(v, "outcome")),
                         "invalid_arguments");
        json_decref(v);
    }
    free(text);
    free(huge);
    free(accents);
}
END_TEST

START_TEST(reopen_after_rotation)
{
    const char *path = in_dir("audit.jsonl");
    struct audit_log *log = open_ok(path);
    json_t *args = json_pack("{s:s}", "template_id", "one");
    write_call(log, args, "ok");
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(rename(path, in_dir("audit.jsonl.1")), 0);
    ck_assert_int_eq(audit_reopen(log), 0);
    write_call(log, args, "ok");
    write_call(log, args, "ok");
    audit_close(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    json_decref(args);
    char *old = read_all(in_dir("audit.jsonl.1"));
    char *fresh = read_all(path);
    ck_assert_uint_eq(count_lines(old), 1);
    ck_assert_uint_eq(count_lines(fresh), 2);
    ck_assert_uint_eq(mode_of(path), 0600);
    free(old);
    free(fresh);
}
END_TEST

START_TEST(reopen_refuses_a_fifo_or_symlink_and_keeps_the_old_file)
{
    const char *path = in_dir("audit.jsonl");
    struct audit_log *log = open_ok(path);
    json_t *args = json_pack("{s:s}", "template_id", "one");
    write_call(log, args, "ok");
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(rename(path, in_dir("audit.jsonl.1")), 0);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_lt(audit_reopen(log), 0);
    write_call(log, args, "ok");
    uv_run(&loop, UV_RUN_DEFAULT);
    unlink(path);
    ck_assert_int_eq(symlink(in_dir("victim"), path), 0);
    ck_assert_int_lt(audit_reopen(log), 0);
    write_call(log, args, "ok");
    audit_close(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    json_decref(args);
    char *old = read_all(in_dir("audit.jsonl.1"));
    ck_assert_uint_eq(count_lines(old), 3);
    free(old);
    ck_assert_int_ne(access(in_dir("victim"), F_OK), 0);
}
END_TEST

static char warnings[4096];

static void collect(void *data, enum log_level level, const char *text)
{
    (void)data;
    if (level >= LOG_LEVEL_WARNING)
        snprintf(warnings + strlen(warnings), sizeof warnings - strlen(warnings), "%s\n",
                 text);
}

START_TEST(full_queue_drops_and_counts)
{
    const char *path = in_dir("audit.jsonl");
    struct audit_log *log = open_ok(path);
    warnings[0] = '\0';
    log_set_sink(collect, NULL);
    char *filler = big_string(AUDIT_STRING_MAX, 'f');
    json_t *args = json_pack("{s:s,s:s,s:s}", "a", filler, "b", filler, "c", filler);
    /* The loop does not run, so nothing completes: the first line is being
     * written and the rest wait in the bounded queue until it is full. */
    unsigned calls = (unsigned)(2 * AUDIT_QUEUE_MAX / (3 * AUDIT_STRING_MAX));
    for (unsigned i = 0; i < calls; i++)
        write_call(log, args, "ok");
    json_decref(args);
    free(filler);
    ck_assert_ptr_nonnull(strstr(warnings, "dropping lines"));
    audit_close(log);
    uv_run(&loop, UV_RUN_DEFAULT);
    log_set_sink(NULL, NULL);

    char *text = read_all(path);
    size_t written = count_lines(text);
    ck_assert_uint_gt(written, 1);
    ck_assert_uint_lt(written, calls);
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        json_t *v = json_loads(line, 0, NULL);
        ck_assert_msg(v != NULL, "torn line: %.80s", line);
        json_decref(v);
    }
    free(text);
    const char *expected =
        testutil_fmt("%zu audit line(s) were dropped", (size_t)calls - written);
    ck_assert_msg(strstr(warnings, expected), "\"%s\" lacks \"%s\"", warnings, expected);
}
END_TEST

/* The server, not the module: a FIFO at the audit path is refused at
 * start-up at once, with exit status 1. */
START_TEST(server_refuses_a_fifo_at_startup)
{
    const char *fifo = in_dir("fifo");
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    struct testutil_child c;
    const char *env[] = {"MSG91_DRY_RUN=1", testutil_fmt("MSG91_AUDIT_LOG=%s", fifo),
                         NULL};
    ck_assert_int_eq(testutil_spawn(&c, (const char *[]){"msg91-mcp", NULL}, env), 0);
    ck_assert_int_eq(testutil_finish(&c, 30000), 1);
    char *err = testutil_read_stderr(&c);
    ck_assert_msg(strstr(err, "not a regular file"), "stderr: %s", err);
    free(err);
}
END_TEST

static bool read_until(struct testutil_child *c, const char *fragment)
{
    for (;;) {
        char *line = testutil_read_line(c, 30000);
        if (!line)
            return false;
        bool found = strstr(line, fragment) != NULL;
        free(line);
        if (found)
            return true;
    }
}

static size_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (size_t)st.st_size : 0;
}

/* After rotation a FIFO at the path must neither block the event loop nor
 * replace the file: the server says why, keeps the old file and answers. */
START_TEST(server_sighup_with_a_fifo_keeps_serving)
{
    const char *path = in_dir("audit.jsonl");
    struct testutil_child c;
    const char *env[] = {"MSG91_DRY_RUN=1", testutil_fmt("MSG91_AUDIT_LOG=%s", path),
                         NULL};
    ck_assert_int_eq(testutil_spawn(&c, (const char *[]){"msg91-mcp", NULL}, env), 0);
    testutil_initialize(&c, "audit-test", 30000);
    testutil_send_line(&c,
                       "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"logging/setLevel\","
                       "\"params\":{\"level\":\"error\"}}");
    ck_assert(read_until(&c, "\"id\":2"));
    const char *call =
        "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":"
        "{\"name\":\"list_campaigns\",\"arguments\":{}}}";
    testutil_send_line(&c, testutil_fmt(call, 3));
    ck_assert(read_until(&c, "\"id\":3"));
    while (file_size(path) == 0)
        usleep(10000); /* the line is written off the loop */
    ck_assert_int_eq(rename(path, in_dir("audit.jsonl.1")), 0);
    ck_assert_int_eq(mkfifo(path, 0600), 0);
    ck_assert_int_eq(kill(c.pid, SIGHUP), 0);
    ck_assert(read_until(&c, "cannot reopen the audit log"));
    testutil_send_line(&c, "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\"}");
    ck_assert(read_until(&c, "\"id\":4"));
    testutil_send_line(&c, testutil_fmt(call, 5));
    ck_assert(read_until(&c, "\"id\":5"));
    ck_assert_int_eq(testutil_finish(&c, 30000), 0);
    char *old = read_all(in_dir("audit.jsonl.1"));
    ck_assert_uint_eq(count_lines(old), 2);
    free(old);
    free(testutil_read_stderr(&c));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("audit");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, symlink_is_refused);
    tcase_add_test(tc, fifo_is_refused_without_blocking);
    tcase_add_test(tc, mode_is_0600);
    tcase_add_test(tc, line_fields_and_masking);
    tcase_add_test(tc, line_names_the_persona);
    tcase_add_test(tc, big_arguments_are_capped);
    tcase_add_test(tc, reopen_after_rotation);
    tcase_add_test(tc, reopen_refuses_a_fifo_or_symlink_and_keeps_the_old_file);
    tcase_add_test(tc, full_queue_drops_and_counts);
    tcase_add_test(tc, server_refuses_a_fifo_at_startup);
    tcase_add_test(tc, server_sighup_with_a_fifo_keeps_serving);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
