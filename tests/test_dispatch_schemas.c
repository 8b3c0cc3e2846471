/* The tool schemas in the dispatch: every embedded input schema compiles
 * with the options the server uses; none is compiled at start-up or for
 * the tool list, each at its tool's first call and only once; and one
 * that does not compile fails that call with an internal error while the
 * next calls are served. The suite is linked with --wrap=schema_compile
 * (tests/meson.build) so that it can count compiles and make one fail. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "jsonschema/schema.h"
#include "server/config.h"
#include "server/dispatch.h"
#include "server/mcp.h"
#include "tests/testutil.h"

struct schema *__real_schema_compile(struct schema_registry *reg, json_t *doc,
                                     const char *base_uri,
                                     const struct schema_options *opts, char **error);
struct schema *__wrap_schema_compile(struct schema_registry *reg, json_t *doc,
                                     const char *base_uri,
                                     const struct schema_options *opts, char **error);

static int compiles;      /* calls to schema_compile */
static bool fail_compile; /* make the next ones fail */

struct schema *__wrap_schema_compile(struct schema_registry *reg, json_t *doc,
                                     const char *base_uri,
                                     const struct schema_options *opts, char **error)
{
    compiles++;
    if (fail_compile) {
        *error = strdup("the test made it fail");
        return NULL;
    }
    return __real_schema_compile(reg, doc, base_uri, opts, error);
}

struct harness {
    uv_loop_t loop;
    struct config cfg;
    struct dispatch *d;
};

static void setup(struct harness *h)
{
    memset(h, 0, sizeof *h);
    ck_assert_int_eq(uv_loop_init(&h->loop), 0);
    config_init(&h->cfg);
    h->cfg.dry_run = true;
    char *error = NULL;
    compiles = 0;
    fail_compile = false;
    h->d = dispatch_create(&h->cfg, &h->loop, &error);
    ck_assert_msg(h->d != NULL, "%s", error);
}

static void teardown(struct harness *h)
{
    dispatch_destroy(h->d, NULL, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&h->loop), 0);
    config_finish(&h->cfg);
}

static void on_done(void *data, json_t *result)
{
    (void)data;
    json_decref(result);
    ck_abort_msg("a dry run answers at once");
}

static const struct dispatch_callbacks callbacks = {on_done, NULL};

/* Calls tool with args (JSON text) and returns the first text block of
 * the result, malloc'd; *is_error tells whether it was an error. */
static char *call_text(struct harness *h, const char *tool, const char *args,
                       bool *is_error)
{
    json_t *a = json_loads(args, 0, NULL);
    ck_assert_ptr_nonnull(a);
    json_t *r = NULL;
    struct dispatch_call *c = NULL;
    struct dispatch_client client = {.name = "test", .version = "1"};
    ck_assert_int_eq(dispatch_call(h->d, tool, a, &client, &callbacks, h, &r, &c),
                     DISPATCH_DONE);
    ck_assert_ptr_nonnull(r);
    ck_assert_ptr_null(c);
    *is_error = json_is_true(json_object_get(r, "isError"));
    json_t *block = json_array_get(json_object_get(r, "content"), 0);
    char *text = strdup(json_string_value(json_object_get(block, "text")));
    json_decref(r);
    json_decref(a);
    return text;
}

START_TEST(every_input_schema_compiles)
{
    struct harness h;
    setup(&h);
    char *error = NULL;
    int rc = dispatch_compile_schemas(h.d, &error);
    ck_assert_msg(rc == 0, "%s", error ? error : "out of memory");
    ck_assert_int_eq(compiles, 8);
    /* Compiled once: a second pass compiles nothing. */
    ck_assert_int_eq(dispatch_compile_schemas(h.d, &error), 0);
    ck_assert_int_eq(compiles, 8);
    teardown(&h);
}
END_TEST

START_TEST(compiled_at_first_call_only)
{
    struct harness h;
    setup(&h);
    ck_assert_int_eq(compiles, 0);
    /* The tool list is made from the documents, not the compiled schemas. */
    json_t *tools = mcp_tools_json(h.d, mcp_features_find("2025-06-18"));
    ck_assert_uint_eq(json_array_size(tools), 8);
    json_t *limit = json_object_get(
        json_object_get(json_object_get(json_array_get(tools, 7), "inputSchema"),
                        "properties"),
        "limit");
    ck_assert_ptr_nonnull(limit);
    json_decref(tools);
    ck_assert_int_eq(compiles, 0);

    bool is_error;
    char *text = call_text(&h, "list_campaigns", "{\"limit\":0,\"x\":1}", &is_error);
    ck_assert(is_error);
    ck_assert_str_eq(text, "Invalid arguments for list_campaigns; fix these and call "
                           "again:\n"
                           "/limit: must be at least 1\n"
                           "/: unexpected property \"x\"");
    free(text);
    ck_assert_int_eq(compiles, 1);
    text = call_text(&h, "list_campaigns", "{\"limit\":2}", &is_error);
    ck_assert_msg(!is_error || strncmp(text, "Dry run", 7) == 0, "%s", text);
    free(text);
    ck_assert_int_eq(compiles, 1);
    text = call_text(&h, "send_otp", "{\"mobile\":\"12\"}", &is_error);
    ck_assert(is_error);
    ck_assert_int_eq(compiles, 2);
    free(text);
    teardown(&h);
}
END_TEST

START_TEST(a_schema_that_does_not_compile_fails_its_call_only)
{
    struct harness h;
    setup(&h);
    fail_compile = true;
    bool is_error;
    char *text = call_text(&h, "list_campaigns", "{\"limit\":2}", &is_error);
    ck_assert(is_error);
    ck_assert_str_eq(text, "Internal error: the server cannot check the arguments of "
                           "list_campaigns because its input schema does not compile "
                           "(schemas/list_campaigns.input.json does not compile: the "
                           "test made it fail); nothing was sent.");
    free(text);
    /* The server keeps serving: the next call compiles and is checked. */
    fail_compile = false;
    text = call_text(&h, "list_campaigns", "{\"limit\":0}", &is_error);
    ck_assert(is_error);
    ck_assert_str_eq(text, "Invalid arguments for list_campaigns; fix these and call "
                           "again:\n"
                           "/limit: must be at least 1");
    free(text);
    ck_assert_int_eq(compiles, 2);
    teardown(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("dispatch_schemas");
    TCase *tc = tcase_create("lazy");
    tcase_add_test(tc, every_input_schema_compiles);
    tcase_add_test(tc, compiled_at_first_call_only);
    tcase_add_test(tc, a_schema_that_does_not_compile_fails_its_call_only);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
