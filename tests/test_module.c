/* util/module.h: finding, opening and checking a loadable module. The
 * fixtures (tests/module_fixture.c) are built beside this program: one
 * good, one with another ABI number, one exporting another symbol. */
#include <check.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"
#include "util/log.h"
#include "util/module.h"

struct module_fixture_api {
    int abi_version;
    int (*answer)(void);
};

static struct module_spec spec(const char *file)
{
    return (struct module_spec){
        .what = "test module",
        .file = file,
        .env = "TEST_MODULE_PATH",
        .install_dir = "/nonexistent-install-dir",
        .symbol = "module_fixture_api",
        .abi = 1,
    };
}

/* The path of a fixture beside this program. */
static const char *fixture(const char *file)
{
    static char dir[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
    ck_assert_int_gt(n, 0);
    dir[n] = '\0';
    *strrchr(dir, '/') = '\0';
    return testutil_fmt("%s/%s", dir, file);
}

static void assert_contains(const char *text, const char *part)
{
    ck_assert_msg(text && strstr(text, part), "\"%s\" lacks \"%s\"",
                  text ? text : "(null)", part);
}

START_TEST(loads_the_table_beside_the_program)
{
    unsetenv("TEST_MODULE_PATH");
    struct module_spec s = spec("module-fixture-ok.so");
    const void *table = NULL;
    char *error = NULL;
    ck_assert_int_eq(module_load(&s, &table, &error), 0);
    ck_assert_ptr_null(error);
    const struct module_fixture_api *api = table;
    ck_assert_int_eq(api->abi_version, 1);
    ck_assert_int_eq(api->answer(), 42);
}
END_TEST

START_TEST(says_where_it_looked_when_nothing_is_there)
{
    unsetenv("TEST_MODULE_PATH");
    struct module_spec s = spec("no-such-module.so");
    const void *table = &table;
    char *error = NULL;
    ck_assert_int_eq(module_load(&s, &table, &error), -ENOENT);
    ck_assert_ptr_null(table);
    assert_contains(error, "cannot find the test module");
    assert_contains(error, "no-such-module.so");
    assert_contains(error, "/nonexistent-install-dir");
    assert_contains(error, "installed completely");
    free(error);
}
END_TEST

START_TEST(refuses_another_abi)
{
    unsetenv("TEST_MODULE_PATH");
    struct module_spec s = spec("module-fixture-abi.so");
    const void *table = NULL;
    char *error = NULL;
    ck_assert_int_eq(module_load(&s, &table, &error), -ENOEXEC);
    ck_assert_ptr_null(table);
    assert_contains(error, fixture("module-fixture-abi.so"));
    assert_contains(error, "ABI 99");
    assert_contains(error, "needs ABI 1");
    free(error);
}
END_TEST

START_TEST(refuses_a_file_without_the_symbol)
{
    unsetenv("TEST_MODULE_PATH");
    struct module_spec s = spec("module-fixture-nosym.so");
    const void *table = NULL;
    char *error = NULL;
    ck_assert_int_eq(module_load(&s, &table, &error), -ENOEXEC);
    ck_assert_ptr_null(table);
    assert_contains(error, "is not a test module");
    assert_contains(error, "does not export module_fixture_api");
    free(error);
}
END_TEST

START_TEST(the_environment_names_the_only_place)
{
    struct module_spec s = spec("module-fixture-ok.so");
    const void *table = NULL;
    char *error = NULL;
    setenv("TEST_MODULE_PATH", fixture("module-fixture-ok.so"), 1);
    s.file = "no-such-module.so";
    ck_assert_int_eq(module_load(&s, &table, &error), 0);
    ck_assert_int_eq(((const struct module_fixture_api *)table)->answer(), 42);

    /* A wrong path is reported, not replaced by the copy beside the program. */
    s.file = "module-fixture-ok.so";
    setenv("TEST_MODULE_PATH", "/nonexistent/module-fixture-ok.so", 1);
    ck_assert_int_eq(module_load(&s, &table, &error), -ENOENT);
    ck_assert_ptr_null(table);
    assert_contains(error, "cannot load the test module");
    assert_contains(error, "/nonexistent/module-fixture-ok.so");
    free(error);
    unsetenv("TEST_MODULE_PATH");
}
END_TEST

START_TEST(falls_back_to_the_install_directory)
{
    unsetenv("TEST_MODULE_PATH");
    char dir[] = "/tmp/test_module.XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    size_t len = 0;
    char *bytes = testutil_read_file(fixture("module-fixture-ok.so"), &len);
    ck_assert_ptr_nonnull(bytes);
    const char *copy = testutil_fmt("%s/installed-fixture.so", dir);
    FILE *f = fopen(copy, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(bytes, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    free(bytes);

    struct module_spec s = spec("installed-fixture.so");
    s.install_dir = dir;
    const void *table = NULL;
    char *error = NULL;
    ck_assert_int_eq(module_load(&s, &table, &error), 0);
    ck_assert_int_eq(((const struct module_fixture_api *)table)->answer(), 42);
    unlink(copy);
    rmdir(dir);
}
END_TEST

START_TEST(refuses_a_file_that_is_no_shared_object)
{
    char *path = testutil_temp_file("not ELF\n");
    struct module_spec s = spec("unused.so");
    const void *table = NULL;
    char *error = NULL;
    ck_assert_int_eq(module_open(&s, path, &table, &error), -ENOENT);
    ck_assert_ptr_null(table);
    assert_contains(error, "cannot load the test module");
    assert_contains(error, path);
    free(error);
    unlink(path);
    free(path);
}
END_TEST

/* The executable loads its HTTP transport with this loader too: a wrong
 * MSG91_HTTP_MODULE is reported, not replaced by the copy beside it. */
START_TEST(the_binary_reports_a_wrong_http_module)
{
    const char *argv[] = {"msg91-mcp", "http", NULL};
    const char *env[] = {"MSG91_HTTP_MODULE=/nonexistent/msg91-mcp-http.so",
                         "MSG91_HTTP_LISTEN=127.0.0.1:0", NULL};
    struct testutil_child c;
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    ck_assert_int_eq(testutil_finish(&c, 20000), 1);
    char *err = testutil_read_stderr(&c);
    assert_contains(err, "cannot load the HTTP transport module");
    assert_contains(err, "/nonexistent/msg91-mcp-http.so");
    free(err);
}
END_TEST

/* module_get: the table, or NULL with the sentence handed back, or
 * logged when the caller takes none. */
static char logged[1024];

static void on_log(void *data, enum log_level level, const char *text)
{
    (void)data;
    (void)level;
    snprintf(logged, sizeof logged, "%s", text);
}

START_TEST(module_get_hands_back_or_logs_the_sentence)
{
    unsetenv("TEST_MODULE_PATH");
    struct module_spec good = spec("module-fixture-ok.so");
    char *error = &logged[0];
    const struct module_fixture_api *api = module_get(&good, &error);
    ck_assert_ptr_nonnull(api);
    ck_assert_ptr_null(error);
    ck_assert_int_eq(api->answer(), 42);

    struct module_spec bad = spec("module-fixture-abi.so");
    ck_assert_ptr_null(module_get(&bad, &error));
    assert_contains(error, "ABI 99");
    free(error);

    logged[0] = '\0';
    log_set_sink(on_log, NULL);
    ck_assert_ptr_null(module_get(&bad, NULL));
    log_set_sink(NULL, NULL);
    assert_contains(logged, "ABI 99");
}
END_TEST

/* The server starts and answers without its state store module, which
 * only the first store operation loads: here msg91-mcp state's. */
START_TEST(the_binary_loads_the_store_module_at_the_first_operation)
{
    char *path = testutil_temp_file("");
    const char *store = testutil_fmt("MSG91_STORE=sqlite:%s", path);
    char store_env[4200];
    snprintf(store_env, sizeof store_env, "%s", store);
    const char *env[] = {store_env, "MSG91_STORE_MODULE=/nonexistent/msg91-mcp-store.so",
                         NULL};
    const char *serve[] = {"msg91-mcp", NULL};
    struct testutil_child c;
    ck_assert_int_eq(testutil_spawn(&c, serve, env), 0);
    testutil_initialize(&c, "module-test", 20000);
    ck_assert_int_eq(testutil_finish(&c, 20000), 0);
    char *err = testutil_read_stderr(&c);
    ck_assert_msg(!err || !strstr(err, "state store module"), "%s", err);
    free(err);

    const char *state[] = {"msg91-mcp", "state", NULL};
    ck_assert_int_eq(testutil_spawn(&c, state, env), 0);
    ck_assert_int_eq(testutil_finish(&c, 20000), 1);
    err = testutil_read_stderr(&c);
    assert_contains(err, "cannot load the state store module");
    assert_contains(err, "/nonexistent/msg91-mcp-store.so");
    free(err);
    unlink(path);
    free(path);
}
END_TEST

/* msg91-mcp token needs the digest module, and says so without it. */
START_TEST(the_binary_reports_a_missing_digest_module)
{
    const char *argv[] = {"msg91-mcp", "token", NULL};
    const char *env[] = {"MSG91_DIGEST_MODULE=/nonexistent/msg91-mcp-digest.so", NULL};
    struct testutil_child c;
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    ck_assert_ptr_null(testutil_read_line(&c, 20000));
    ck_assert_int_ne(testutil_finish(&c, 20000), 0);
    char *err = testutil_read_stderr(&c);
    assert_contains(err, "cannot load the digest module");
    assert_contains(err, "/nonexistent/msg91-mcp-digest.so");
    free(err);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("module");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, loads_the_table_beside_the_program);
    tcase_add_test(tc, says_where_it_looked_when_nothing_is_there);
    tcase_add_test(tc, refuses_another_abi);
    tcase_add_test(tc, refuses_a_file_without_the_symbol);
    tcase_add_test(tc, the_environment_names_the_only_place);
    tcase_add_test(tc, falls_back_to_the_install_directory);
    tcase_add_test(tc, refuses_a_file_that_is_no_shared_object);
    tcase_add_test(tc, the_binary_reports_a_wrong_http_module);
    tcase_add_test(tc, module_get_hands_back_or_logs_the_sentence);
    tcase_add_test(tc, the_binary_loads_the_store_module_at_the_first_operation);
    tcase_add_test(tc, the_binary_reports_a_missing_digest_module);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
