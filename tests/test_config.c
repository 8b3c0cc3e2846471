#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "tests/testutil.h"
#include "tools/tool.h"

/* strdup of exactly this string fails, as it would when memory runs out:
 * the test binary's strdup takes the place of the C library's. */
static const char *fail_strdup_of;

char *strdup(const char *s)
{
    if (fail_strdup_of && !strcmp(s, fail_strdup_of)) {
        errno = ENOMEM;
        return NULL;
    }
    size_t n = strlen(s) + 1;
    char *copy = malloc(n);
    if (copy)
        memcpy(copy, s, n);
    return copy;
}

struct loaded {
    struct config cfg;
    char **rest;
    char *error;
    int rc;
};

static void load(struct loaded *l, char **argv, char **envp)
{
    int argc = 0;
    while (argv[argc])
        argc++;
    config_init(&l->cfg);
    l->rest = NULL;
    l->error = NULL;
    l->rc = config_load(&l->cfg, argc, argv, envp, &l->rest, &l->error);
}

static void unload(struct loaded *l)
{
    config_finish(&l->cfg);
    free(l->rest);
    free(l->error);
}

static unsigned tool_index(const char *name)
{
    for (unsigned i = 0; i < tool_table_len; i++)
        if (!strcmp(tool_table[i]->name, name))
            return i;
    ck_abort_msg("no tool %s", name);
    return 0;
}

START_TEST(defaults)
{
    struct loaded l;
    char *argv[] = {"msg91-mcp", NULL};
    char *envp[] = {NULL};
    load(&l, argv, envp);
    ck_assert_int_eq(l.rc, 0);
    ck_assert_str_eq(l.cfg.base_url, "https://control.msg91.com");
    ck_assert_int_eq(l.cfg.timeout_ms, 15000);
    ck_assert_uint_eq(l.cfg.max_inflight, 64);
    ck_assert_uint_eq(l.cfg.max_line_bytes, 4u * 1024 * 1024);
    ck_assert_int_eq(l.cfg.log_level, LOG_LEVEL_INFO);
    ck_assert_ptr_null(l.cfg.auth_key);
    ck_assert(!l.cfg.read_only && !l.cfg.dry_run && !l.cfg.sandbox);
    for (unsigned i = 0; i < tool_table_len; i++)
        ck_assert(config_tool_allowed(&l.cfg, i));
    ck_assert_ptr_null(l.rest[0]);
    unload(&l);
}
END_TEST

START_TEST(file_then_env_then_flags)
{
    char *file =
        testutil_temp_file("{\"timeout_ms\": 1000, \"max_inflight\": 5, "
                           "\"log_level\": \"error\", \"tool_prefix\": \"file_\"}");
    char config_env[256];
    snprintf(config_env, sizeof config_env, "MSG91_CONFIG=%s", file);
    struct loaded l;
    char *argv[] = {"msg91-mcp", "--timeout-ms", "3000", "list", "--json", NULL};
    char *envp[] = {config_env, "MSG91_TIMEOUT_MS=2000", "MSG91_MAX_INFLIGHT=7",
                    "MSG91_AUTH_KEY=abc123def456", NULL};
    load(&l, argv, envp);
    ck_assert_msg(l.rc == 0, "%s", l.error);
    ck_assert_int_eq(l.cfg.timeout_ms, 3000);           /* flag beats env beats file */
    ck_assert_uint_eq(l.cfg.max_inflight, 7);           /* env beats file */
    ck_assert_int_eq(l.cfg.log_level, LOG_LEVEL_ERROR); /* file only */
    ck_assert_str_eq(l.cfg.tool_prefix, "file_");
    ck_assert_str_eq(l.cfg.auth_key, "abc123def456");
    ck_assert_str_eq(l.rest[0], "list");
    ck_assert_str_eq(l.rest[1], "--json");
    ck_assert_ptr_null(l.rest[2]);
    unload(&l);
    unlink(file);
    free(file);
}
END_TEST

START_TEST(flag_forms_and_booleans)
{
    struct loaded l;
    char *argv[] = {"msg91-mcp",
                    "--read-only",
                    "--dry-run=0",
                    "--log-level=debug",
                    "--sandbox",
                    "--tools",
                    "list_campaigns,send_otp",
                    NULL};
    char *envp[] = {"MSG91_DRY_RUN=1", NULL};
    load(&l, argv, envp);
    ck_assert_msg(l.rc == 0, "%s", l.error);
    ck_assert(l.cfg.read_only);
    ck_assert(!l.cfg.dry_run);
    ck_assert(l.cfg.sandbox);
    ck_assert_int_eq(l.cfg.log_level, LOG_LEVEL_DEBUG);
    ck_assert(config_tool_allowed(&l.cfg, tool_index("list_campaigns")));
    /* Allowed by the list but not read-only. */
    ck_assert(!config_tool_allowed(&l.cfg, tool_index("send_otp")));
    ck_assert(!config_tool_allowed(&l.cfg, tool_index("get_event_types")));
    unload(&l);
}
END_TEST

static void expect_error(char **argv, char **envp, const char *fragment)
{
    struct loaded l;
    load(&l, argv, envp);
    ck_assert_int_lt(l.rc, 0);
    ck_assert_ptr_nonnull(l.error);
    ck_assert_msg(strstr(l.error, fragment), "\"%s\" lacks \"%s\"", l.error, fragment);
    unload(&l);
}

START_TEST(bad_values_are_startup_errors)
{
    char *argv[] = {"msg91-mcp", NULL};
    char *e1[] = {"MSG91_TOOLS=send_otp,send_fax", NULL};
    expect_error(argv, e1, "unknown tool \"send_fax\" in MSG91_TOOLS");
    char *e2[] = {"MSG91_BASE_URL=http://example.com", NULL};
    expect_error(argv, e2, "uses http:// for a host that is not loopback");
    char *e3[] = {"MSG91_BASE_URL=ftp://127.0.0.1", NULL};
    expect_error(argv, e3, "must start with https://");
    char *e4[] = {"MSG91_AUTH_KEY_FILE=/nonexistent/key", NULL};
    expect_error(argv, e4, "cannot read the auth key file /nonexistent/key");
    char *e5[] = {"MSG91_TIMEOUT_MS=fast", NULL};
    expect_error(argv, e5, "MSG91_TIMEOUT_MS must be a whole number from 100 to 600000");
    char *e6[] = {"MSG91_LOG_LEVEL=loud", NULL};
    expect_error(argv, e6, "MSG91_LOG_LEVEL must be debug, info, warning or error");
    char *e7[] = {"MSG91_READ_ONLY=maybe", NULL};
    expect_error(argv, e7, "MSG91_READ_ONLY must be 1 or 0");
    char *e8[] = {"MSG91_MAX_INFLIGHT=0", NULL};
    expect_error(argv, e8, "MSG91_MAX_INFLIGHT must be a whole number from 1");
    char *e9[] = {"MSG91_TOOL_PREFIX=bad.prefix", NULL};
    expect_error(argv, e9, "MSG91_TOOL_PREFIX may hold only");
    char *e12[] = {"MSG91_CA_FILE=/nonexistent/ca.pem", NULL};
    expect_error(argv, e12, "MSG91_CA_FILE /nonexistent/ca.pem cannot be read");
    char *e10[] = {"MSG91_AUTH_KEY=type", NULL};
    expect_error(argv, e10, "MSG91_AUTH_KEY is too short to be an MSG91 auth key");
    char *e11[] = {"MSG91_AUTH_KEY=abc def ghi", NULL};
    expect_error(argv, e11, "MSG91_AUTH_KEY contains spaces or control characters");
}
END_TEST

START_TEST(key_is_refused_on_the_command_line)
{
    char *envp[] = {NULL};
    char *a1[] = {"msg91-mcp", "--auth-key", "abc", NULL};
    expect_error(a1, envp, "never accepted on the command line");
    char *a2[] = {"msg91-mcp", "--auth-key=abc", NULL};
    expect_error(a2, envp, "never accepted on the command line");
}
END_TEST

START_TEST(key_file_is_trimmed)
{
    char *file = testutil_temp_file("  filekey-XYZ \n");
    char env[256];
    snprintf(env, sizeof env, "MSG91_AUTH_KEY_FILE=%s", file);
    struct loaded l;
    char *argv[] = {"msg91-mcp", NULL};
    char *envp[] = {env, NULL};
    load(&l, argv, envp);
    ck_assert_msg(l.rc == 0, "%s", l.error);
    ck_assert_str_eq(l.cfg.auth_key, "filekey-XYZ");
    unload(&l);

    char *both[] = {env, "MSG91_AUTH_KEY=x", NULL};
    expect_error(argv, both, "set only one");
    unlink(file);
    free(file);

    char *empty = testutil_temp_file("\n");
    snprintf(env, sizeof env, "MSG91_AUTH_KEY_FILE=%s", empty);
    char *e2[] = {env, NULL};
    expect_error(argv, e2, "is empty");
    unlink(empty);
    free(empty);
}
END_TEST

START_TEST(loopback_http_is_allowed)
{
    const char *ok[] = {"http://127.0.0.1:8080", "http://localhost:1/", "http://[::1]:9",
                        "https://api.msg91.com/"};
    for (size_t i = 0; i < 4; i++) {
        char env[128];
        snprintf(env, sizeof env, "MSG91_BASE_URL=%s", ok[i]);
        struct loaded l;
        char *argv[] = {"msg91-mcp", NULL};
        char *envp[] = {env, NULL};
        load(&l, argv, envp);
        ck_assert_msg(l.rc == 0, "%s: %s", ok[i], l.error);
        ck_assert_int_ne(l.cfg.base_url[strlen(l.cfg.base_url) - 1], '/');
        unload(&l);
    }
    char *argv[] = {"msg91-mcp", NULL};
    char *bad[] = {"MSG91_BASE_URL=http://127.0.0.1.evil.com", NULL};
    expect_error(argv, bad, "not loopback");
}
END_TEST

START_TEST(endpoint_overrides_from_the_file)
{
    char *file =
        testutil_temp_file("{\"endpoints\":{\"get_event_types\":{\"method\":\"POST\","
                           "\"path\":\"/api/v5/segmento/x\"}}}");
    char *argv[] = {"msg91-mcp", "--config", file, NULL};
    char *envp[] = {NULL};
    struct loaded l;
    load(&l, argv, envp);
    ck_assert_msg(l.rc == 0, "%s", l.error);
    unsigned i = tool_index("get_event_types");
    ck_assert_str_eq(l.cfg.endpoints[i].method, "POST");
    ck_assert_str_eq(l.cfg.endpoints[i].path, "/api/v5/segmento/x");
    ck_assert_ptr_null(l.rest[0]);
    unload(&l);
    unlink(file);
    free(file);

    char *bad = testutil_temp_file("{\"endpoints\":{\"nope\":{\"path\":\"/x\"}}}");
    char *a2[] = {"msg91-mcp", "--config", bad, NULL};
    expect_error(a2, envp, "unknown tool \"nope\"");
    unlink(bad);
    free(bad);
    char *bad2 =
        testutil_temp_file("{\"endpoints\":{\"send_otp\":{\"path\":\"/x?y=1\"}}}");
    char *a3[] = {"msg91-mcp", "--config", bad2, NULL};
    expect_error(a3, envp, "must start with / and hold no query");
    unlink(bad2);
    free(bad2);
    char *bad3 = testutil_temp_file("{\"surprise\": 1}");
    char *a4[] = {"msg91-mcp", "--config", bad3, NULL};
    expect_error(a4, envp, "unknown setting \"surprise\"");
    unlink(bad3);
    free(bad3);
    char *a5[] = {"msg91-mcp", "--config", "/nonexistent.json", NULL};
    expect_error(a5, envp, "cannot load the config file /nonexistent.json");
}
END_TEST

/* The config file's value must have the JSON type of its setting. */
static void expect_file_error(const char *json, const char *fragment)
{
    char *file = testutil_temp_file(json);
    char *argv[] = {"msg91-mcp", "--config", file, NULL};
    char *envp[] = {NULL};
    expect_error(argv, envp, fragment);
    unlink(file);
    free(file);
}

START_TEST(tools_array_in_the_file)
{
    char *file =
        testutil_temp_file("{\"tools\": [\"list_campaigns\", \"get_event_types\"]}");
    char *argv[] = {"msg91-mcp", "--config", file, NULL};
    char *envp[] = {NULL};
    struct loaded l;
    load(&l, argv, envp);
    ck_assert_msg(l.rc == 0, "%s", l.error);
    for (unsigned i = 0; i < tool_table_len; i++)
        ck_assert_int_eq(config_tool_allowed(&l.cfg, i),
                         i == tool_index("list_campaigns") ||
                             i == tool_index("get_event_types"));
    unload(&l);
    unlink(file);
    free(file);

    /* A non-string item once overflowed the joined list on the heap. */
    expect_file_error(
        "{\"tools\": [\"send_otp\", 1, \"list_campaigns\", \"get_event_types\"]}",
        "\"tools\" item 2 must be a tool name, not 1");
    expect_file_error("{\"tools\": [\"list_campaigns\", 5, \"get_event_types\", "
                      "\"get_failed_events\"]}",
                      "\"tools\" item 2 must be a tool name");
    expect_file_error("{\"tools\": [\"send_otp\", null]}", "item 2 must be a tool name");
    expect_file_error("{\"tools\": [[\"send_otp\"]]}", "item 1 must be a tool name");
    expect_file_error("{\"tools\": [\"send_otp\", \"send_fax\"]}",
                      "unknown tool \"send_fax\"");
    expect_file_error("{\"tools\": {\"send_otp\": true}}",
                      "\"tools\" must be a list of tool names");
    expect_file_error("{\"tools\": 3}", "\"tools\" must be a list of tool names");
}
END_TEST

START_TEST(file_values_must_have_their_type)
{
    expect_file_error(
        "{\"timeout_ms\": true}",
        "\"timeout_ms\" must be a whole number from 100 to 600000, not true");
    expect_file_error("{\"timeout_ms\": \"2000\"}",
                      "\"timeout_ms\" must be a whole number from 100 to 600000, not a "
                      "string");
    expect_file_error("{\"timeout_ms\": 1.5}", "\"timeout_ms\" must be a whole number");
    expect_file_error("{\"timeout_ms\": 99}",
                      "\"timeout_ms\" must be a whole number from "
                      "100 to 600000, not 99");
    expect_file_error("{\"max_inflight\": -3}", "not -3");
    expect_file_error("{\"max_line_bytes\": 99999999999}", "not 99999999999");
    expect_file_error("{\"read_only\": 5}", "\"read_only\" must be true or false, not 5");
    expect_file_error("{\"dry_run\": \"yes\"}", "\"dry_run\" must be true or false");
    expect_file_error("{\"base_url\": 5}", "\"base_url\" must be a string, not 5");
    expect_file_error("{\"log_level\": null}",
                      "\"log_level\" must be a string, not null");
    expect_file_error("{\"audit_log\": [\"/tmp/x\"]}", "\"audit_log\" must be a string");
    expect_file_error("{\"auth_key_file\": {}}", "\"auth_key_file\" must be a string");
    expect_file_error("{\"log_level\": \"loud\"}",
                      "must be debug, info, warning or error");
    expect_file_error("{\"surprise\": 1}", "unknown setting \"surprise\"");
    expect_file_error("{\"auth_key\": \"abcdefgh1234\"}", "put the key in a file");
    expect_file_error("{\"timeout_ms\": 1000, \"timeout_ms\": 2000}", "duplicate");
    expect_file_error("[\"timeout_ms\"]", "must hold a JSON object");
    expect_file_error("\"text\"", "must hold a JSON object");
    expect_file_error("{\n  \"timeout_ms\": 1000,\n  oops\n}", "line 3, column");
    expect_file_error("", "line 1");
    expect_file_error("{\"endpoints\": []}", "\"endpoints\" must be an object");
    expect_file_error("{\"endpoints\": {\"send_otp\": \"/x\"}}",
                      "endpoints.send_otp must be");
    expect_file_error("{\"endpoints\": {\"send_otp\": {\"path\": 5}}}",
                      "endpoints.send_otp must be");
    expect_file_error("{\"endpoints\": {\"send_otp\": {\"methd\": \"GET\"}}}",
                      "endpoints.send_otp has an unknown key \"methd\"");
    expect_file_error("{\"endpoints\": {\"send_otp\": {\"method\": \"FETCH\"}}}",
                      "is not an HTTP method");
}
END_TEST

START_TEST(command_line_errors)
{
    char *envp[] = {NULL};
    char *a1[] = {"msg91-mcp", "--timeout-ms", NULL};
    expect_error(a1, envp, "--timeout-ms needs a value");
    char *a2[] = {"msg91-mcp", "--config", NULL};
    expect_error(a2, envp, "--config needs a value");
    char *a3[] = {"msg91-mcp", "--timeout-ms=5", NULL};
    expect_error(a3, envp,
                 "--timeout-ms must be a whole number from 100 to 600000, not \"5\"");
    char *a4[] = {"msg91-mcp", "--tools", "send_fax", NULL};
    expect_error(a4, envp,
                 "unknown tool \"send_fax\" in --tools; the tools are send_otp,");
}
END_TEST

/* main registers the key for redaction before it prints a configuration
 * error, so the key must be loaded before any other value can fail. */
START_TEST(key_is_known_before_other_values_fail)
{
    const char *key = "s3cretKEYvalue";
    char *argv[] = {"msg91-mcp", NULL};
    char *e1[] = {"MSG91_AUTH_KEY=s3cretKEYvalue", "MSG91_DRY_RUN=s3cretKEYvalue", NULL};
    struct loaded l;
    load(&l, argv, e1);
    ck_assert_int_lt(l.rc, 0);
    ck_assert_str_eq(l.cfg.auth_key, key);
    unload(&l);

    char *file = testutil_temp_file("{\"dry_run\": \"s3cretKEYvalue\"}");
    char *a2[] = {"msg91-mcp", "--config", file, NULL};
    char *e2[] = {"MSG91_AUTH_KEY=s3cretKEYvalue", NULL};
    load(&l, a2, e2);
    ck_assert_int_lt(l.rc, 0);
    ck_assert_str_eq(l.cfg.auth_key, key);
    unload(&l);
    unlink(file);
    free(file);

    char *key_file = testutil_temp_file("s3cretKEYvalue\n");
    char *bad = testutil_temp_file(testutil_fmt("{\"timeout_ms\": \"s3cretKEYvalue\", "
                                                "\"auth_key_file\": \"%s\"}",
                                                key_file));
    char *a3[] = {"msg91-mcp", "--config", bad, NULL};
    char *e3[] = {NULL};
    load(&l, a3, e3);
    ck_assert_int_lt(l.rc, 0);
    ck_assert_str_eq(l.cfg.auth_key, key);
    unload(&l);
    unlink(bad);
    free(bad);
    unlink(key_file);
    free(key_file);
}
END_TEST

START_TEST(failed_key_copy_is_an_error)
{
    char *argv[] = {"msg91-mcp", NULL};
    fail_strdup_of = "abcdefgh12345";
    char *e1[] = {"MSG91_AUTH_KEY=abcdefgh12345", NULL};
    expect_error(argv, e1, "out of memory");
    char *file = testutil_temp_file("abcdefgh12345\n");
    char env[256];
    snprintf(env, sizeof env, "MSG91_AUTH_KEY_FILE=%s", file);
    char *e2[] = {env, NULL};
    expect_error(argv, e2, "out of memory");
    fail_strdup_of = NULL;
    unlink(file);
    free(file);
}
END_TEST

/* The binary: the configuration error goes through the redaction step. */
START_TEST(configuration_errors_are_redacted)
{
    struct testutil_child c;
    const char *env[] = {"MSG91_AUTH_KEY=s3cretKEYvalue", "MSG91_DRY_RUN=s3cretKEYvalue",
                         NULL};
    ck_assert_int_eq(testutil_spawn(&c, (const char *[]){"msg91-mcp", "list", NULL}, env),
                     0);
    ck_assert_int_eq(testutil_finish(&c, 30000), 1);
    char *err = testutil_read_stderr(&c);
    ck_assert_str_eq(err, "msg91-mcp: configuration error: MSG91_DRY_RUN must be 1 or 0, "
                          "not \"[REDACTED]\"\n");
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, defaults);
    tcase_add_test(tc, file_then_env_then_flags);
    tcase_add_test(tc, flag_forms_and_booleans);
    tcase_add_test(tc, bad_values_are_startup_errors);
    tcase_add_test(tc, key_is_refused_on_the_command_line);
    tcase_add_test(tc, key_file_is_trimmed);
    tcase_add_test(tc, loopback_http_is_allowed);
    tcase_add_test(tc, endpoint_overrides_from_the_file);
    tcase_add_test(tc, tools_array_in_the_file);
    tcase_add_test(tc, file_values_must_have_their_type);
    tcase_add_test(tc, command_line_errors);
    tcase_add_test(tc, key_is_known_before_other_values_fail);
    tcase_add_test(tc, failed_key_copy_is_an_error);
    tcase_add_test(tc, configuration_errors_are_redacted);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
