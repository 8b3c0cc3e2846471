#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/config.h"
#include "tools/tool.h"

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

static char *write_temp(const char *text)
{
    char *path = strdup("/tmp/msg91-config-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
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
    char *file = write_temp("{\"timeout_ms\": 1000, \"max_inflight\": 5, "
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
    ck_assert_int_eq(l.rc, -1);
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
    char *file = write_temp("  filekey-XYZ \n");
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

    char *empty = write_temp("\n");
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
    char *file = write_temp("{\"endpoints\":{\"get_event_types\":{\"method\":\"POST\","
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

    char *bad = write_temp("{\"endpoints\":{\"nope\":{\"path\":\"/x\"}}}");
    char *a2[] = {"msg91-mcp", "--config", bad, NULL};
    expect_error(a2, envp, "unknown tool \"nope\"");
    unlink(bad);
    free(bad);
    char *bad2 = write_temp("{\"endpoints\":{\"send_otp\":{\"path\":\"/x?y=1\"}}}");
    char *a3[] = {"msg91-mcp", "--config", bad2, NULL};
    expect_error(a3, envp, "must start with / and hold no query");
    unlink(bad2);
    free(bad2);
    char *bad3 = write_temp("{\"surprise\": 1}");
    char *a4[] = {"msg91-mcp", "--config", bad3, NULL};
    expect_error(a4, envp, "unknown setting \"surprise\"");
    unlink(bad3);
    free(bad3);
    char *a5[] = {"msg91-mcp", "--config", "/nonexistent.json", NULL};
    expect_error(a5, envp, "cannot load the config file /nonexistent.json");
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
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
