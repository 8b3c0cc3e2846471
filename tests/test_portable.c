/* The published copy of a schema (jsonschema/portable.h): what it keeps,
 * drops and refuses, that every shipped input schema publishes inside the
 * subset every model provider accepts, that tools/list of the real binary
 * shows exactly that copy, and that the server still validates arguments
 * against the full schema. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema/portable.h"
#include "jsonschema/schema.h"
#include "schemas/embedded.h"
#include "tests/testutil.h"

#define TIMEOUT_MS 10000

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *v = json_loads(text, 0, &jerr);
    ck_assert_msg(v != NULL, "bad JSON in the test: %s: %s", jerr.text, text);
    return v;
}

static json_t *embedded_doc(const char *name)
{
    const struct embedded_file *f = embedded_find(name);
    ck_assert_msg(f != NULL, "%s is not embedded", name);
    json_t *v = json_loadb(f->text, f->len, 0, NULL);
    ck_assert_ptr_nonnull(v);
    return v;
}

/* The copy of text must equal expected (both JSON text). */
static void expect_copy(const char *text, const char *expected)
{
    json_t *doc = parse(text), *want = parse(expected);
    char *error = NULL;
    json_t *got = schema_portable_copy(doc, &error);
    ck_assert_msg(got != NULL, "refused: %s", error ? error : "?");
    char *dump = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT);
    ck_assert_msg(json_equal(got, want), "copy of %s is %s", text, dump);
    free(dump);
    json_decref(got);
    json_decref(want);
    json_decref(doc);
}

/* The copy of text must be refused with exactly this sentence. */
static void expect_refused(const char *text, const char *expected)
{
    json_t *doc = parse(text);
    char *error = NULL;
    json_t *got = schema_portable_copy(doc, &error);
    ck_assert_msg(got == NULL, "not refused: %s", text);
    ck_assert_ptr_nonnull(error);
    ck_assert_str_eq(error, expected);
    free(error);
    json_decref(doc);
}

START_TEST(keeps_the_subset)
{
    const char *all =
        "{\"type\":\"object\",\"title\":\"T\",\"description\":\"D\","
        "\"properties\":{\"s\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":9,"
        "\"pattern\":\"^a+$\",\"enum\":[\"a\",\"aa\"],\"default\":\"a\"},"
        "\"n\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":5},"
        "\"t\":{\"type\":\"string\",\"format\":\"date-time\"},"
        "\"l\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":3,"
        "\"items\":{\"type\":\"number\"}},"
        "\"m\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}},"
        "\"required\":[\"s\"],\"additionalProperties\":false}";
    expect_copy(all, all);
}
END_TEST

START_TEST(drops_what_it_safely_can)
{
    expect_copy("{\"$schema\":\"https://json-schema.org/draft/2020-12/schema\","
                "\"$comment\":\"c\",\"type\":\"object\",\"properties\":{"
                "\"d\":{\"type\":\"string\",\"format\":\"date\",\"pattern\":\"^x$\"},"
                "\"e\":{\"type\":\"string\",\"format\":\"email\",\"pattern\":\"@\","
                "\"examples\":[\"a@b\"]},"
                "\"m\":{\"type\":\"object\",\"description\":\"at most 2\","
                "\"maxProperties\":2,\"additionalProperties\":{\"type\":\"string\"}},"
                "\"u\":{\"type\":\"array\",\"description\":\"no repeats\","
                "\"uniqueItems\":true,\"items\":{\"type\":\"string\"}}}}",
                "{\"type\":\"object\",\"properties\":{"
                "\"d\":{\"type\":\"string\",\"pattern\":\"^x$\"},"
                "\"e\":{\"type\":\"string\",\"pattern\":\"@\"},"
                "\"m\":{\"type\":\"object\",\"description\":\"at most 2\","
                "\"additionalProperties\":{\"type\":\"string\"}},"
                "\"u\":{\"type\":\"array\",\"description\":\"no repeats\","
                "\"items\":{\"type\":\"string\"}}}}");
}
END_TEST

START_TEST(refuses_what_would_change_the_meaning)
{
    expect_refused("{\"type\":\"object\",\"properties\":{\"a\":{\"$ref\":\"#\"}}}",
                   "/properties/a: $ref is outside the portable subset and cannot be "
                   "dropped without changing what the schema allows");
    expect_refused("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"array\","
                   "\"items\":{\"anyOf\":[{\"type\":\"string\"}]}}}}",
                   "/properties/a/items: anyOf is outside the portable subset and cannot "
                   "be dropped without changing what the schema allows");
    expect_refused(
        "{\"oneOf\":[{\"type\":\"string\"}]}",
        "/: oneOf is outside the portable subset and cannot be dropped without "
        "changing what the schema allows");
    expect_refused(
        "{\"type\":\"object\",\"allOf\":[]}",
        "/: allOf is outside the portable subset and cannot be dropped without "
        "changing what the schema allows");
    expect_refused(
        "{\"type\":\"string\",\"const\":\"x\"}",
        "/: const is outside the portable subset and cannot be dropped without "
        "changing what the schema allows");
    expect_refused("{\"type\":\"object\",\"x-vendor\":1}",
                   "/: x-vendor is outside the portable subset and cannot be dropped "
                   "without changing what the schema allows");
    expect_refused("{\"type\":\"object\",\"properties\":{\"a/b\":{\"type\":[\"string\","
                   "\"null\"]}}}",
                   "/properties/a~1b: type must name one type, not a list");
    expect_refused("{\"type\":\"object\",\"properties\":{\"a\":{}}}",
                   "/properties/a: no type: every published schema names exactly one");
    expect_refused("{\"type\":\"object\",\"properties\":{\"a\":true}}",
                   "/properties/a: a boolean schema has no portable form");
}
END_TEST

START_TEST(refuses_drops_that_would_lose_a_rule)
{
    expect_refused(
        "{\"type\":\"object\",\"properties\":{\"d\":{\"type\":\"string\","
        "\"format\":\"date\",\"description\":\"A day.\"}}}",
        "/properties/d: format \"date\" is not portable and is dropped from the "
        "published copy; add a pattern that says the same");
    expect_refused(
        "{\"type\":\"object\",\"maxProperties\":3}",
        "/: maxProperties is dropped from the published copy; give this schema "
        "a description that states the rule");
    expect_refused(
        "{\"type\":\"object\",\"additionalProperties\":true}",
        "/: additionalProperties must be false or the schema of a map's values");
    expect_refused("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"object\"}}",
                   "/: additionalProperties must give the map's values one scalar type "
                   "(string, number, integer or boolean)");
    expect_refused("{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\","
                   "\"format\":\"uri\"}}",
                   "/additionalProperties: format \"uri\" is not portable and is dropped "
                   "from the published copy; add a pattern that says the same");
}
END_TEST

/* An independent reading of the contract's subset, to check the copies
 * against rather than trusting the function under test. */
static const char *const subset[] = {
    "type",        "properties", "required", "items",   "enum",
    "description", "title",      "minimum",  "maximum", "minLength",
    "maxLength",   "minItems",   "maxItems", "pattern", "additionalProperties",
    "default",     "format",
};

static bool in_subset(const char *key)
{
    for (size_t i = 0; i < sizeof subset / sizeof subset[0]; i++)
        if (strcmp(subset[i], key) == 0)
            return true;
    return false;
}

static void check_subset(const char *file, const char *where, json_t *s)
{
    ck_assert_msg(json_is_object(s), "%s %s: not an object schema", file, where);
    ck_assert_msg(json_is_string(json_object_get(s, "type")), "%s %s: not one type", file,
                  where);
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v) {
        ck_assert_msg(in_subset(key), "%s %s: %s is published", file, where, key);
    }
    json_t *format = json_object_get(s, "format");
    ck_assert_msg(!format || strcmp(json_string_value(format), "date-time") == 0,
                  "%s %s: format %s is published", file, where,
                  json_string_value(format));
    json_t *props = json_object_get(s, "properties");
    json_object_foreach(props, key, v) {
        check_subset(file, key, v);
    }
    if (json_object_get(s, "items"))
        check_subset(file, "items", json_object_get(s, "items"));
    json_t *extra = json_object_get(s, "additionalProperties");
    ck_assert_msg(!extra || json_is_false(extra) || json_is_object(extra),
                  "%s %s: additionalProperties is neither false nor a schema", file,
                  where);
    if (json_is_object(extra))
        check_subset(file, "additionalProperties", extra);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

START_TEST(every_shipped_schema_publishes_inside_the_subset)
{
    size_t checked = 0;
    for (size_t i = 0; i < embedded_files_len; i++) {
        const char *name = embedded_files[i].name;
        if (!ends_with(name, ".input.json"))
            continue;
        json_t *doc = embedded_doc(name);
        char *error = NULL;
        json_t *copy = schema_portable_copy(doc, &error);
        ck_assert_msg(copy != NULL, "schemas/%s: %s", name, error ? error : "?");
        check_subset(name, "/", copy);
        /* Nothing a model needs to fill the arguments in is lost. */
        json_t *req = json_object_get(doc, "required");
        ck_assert(req ? json_equal(json_object_get(copy, "required"), req)
                      : !json_object_get(copy, "required"));
        ck_assert_uint_eq(json_object_size(json_object_get(copy, "properties")),
                          json_object_size(json_object_get(doc, "properties")));
        json_decref(copy);
        json_decref(doc);
        checked++;
    }
    ck_assert_uint_eq(checked, 8);
}
END_TEST

/* What the dispatch compiles: format asserted, as in server/dispatch.c. */
static struct schema *compile_full(const char *name)
{
    json_t *doc = embedded_doc(name);
    struct schema_options opts = {.format_assertion = true, .max_errors = 20};
    char *error = NULL;
    struct schema *s = schema_compile(NULL, doc, NULL, &opts, &error);
    ck_assert_msg(s != NULL, "%s: %s", name, error ? error : "?");
    json_decref(doc);
    return s;
}

static void expect_errors(struct schema *s, const char *instance, const char *expected)
{
    json_t *v = parse(instance);
    struct schema_errors errs;
    bool ok = schema_validate(s, v, &errs);
    char *text = schema_errors_text(&errs);
    ck_assert_msg(ok == (*expected == '\0'), "%s: %s", instance, text);
    ck_assert_str_eq(text, expected);
    free(text);
    schema_errors_finish(&errs);
    json_decref(v);
}

static char *variables(unsigned n, const char *prefix)
{
    json_t *o = json_object();
    for (unsigned i = 0; i < n; i++)
        json_object_set_new(o, testutil_fmt("v%u", i), json_string("x"));
    char *vars = json_dumps(o, JSON_COMPACT);
    char *out = NULL;
    ck_assert_int_ge(asprintf(&out, "%s%s}", prefix, vars), 0);
    free(vars);
    json_decref(o);
    return out;
}

/* send_sms_flow arguments with one recipient of n variables. */
static char *flow_args(unsigned n)
{
    json_t *r = json_pack("{s:s}", "mobiles", "919876543210");
    for (unsigned i = 0; i < n; i++)
        json_object_set_new(r, testutil_fmt("v%u", i), json_string("x"));
    json_t *args = json_pack("{s:s,s:[o]}", "template_id", "f", "recipients", r);
    char *out = json_dumps(args, JSON_COMPACT);
    json_decref(args);
    return out;
}

START_TEST(the_full_schemas_stay_strict)
{
    struct schema *otp = compile_full("send_otp.input.json");
    const char *prefix = "{\"mobile\":\"919876543210\",\"variables\":";
    char *fifty = variables(50, prefix), *fifty_one = variables(51, prefix);
    expect_errors(otp, fifty, "");
    expect_errors(otp, fifty_one, "/variables: must have at most 50 properties");
    free(fifty);
    free(fifty_one);
    schema_destroy(otp);

    /* A recipient is mobiles plus at most 50 variables. */
    struct schema *flow = compile_full("send_sms_flow.input.json");
    char *ok = flow_args(50), *too_many = flow_args(51);
    expect_errors(flow, ok, "");
    expect_errors(flow, too_many, "/recipients/0: must have at most 51 properties");
    free(ok);
    free(too_many);
    schema_destroy(flow);

    struct schema *failed = compile_full("get_failed_events.input.json");
    expect_errors(failed, "{\"campaign_id\":\"1\",\"start_date\":\"2026-02-28\"}", "");
    expect_errors(failed, "{\"campaign_id\":\"1\",\"start_date\":\"2026-02-30\"}",
                  "/start_date: must be a valid date");
    expect_errors(failed, "{\"campaign_id\":\"1\",\"end_date\":\"2026-2-3\"}",
                  "/end_date: does not match ^[0-9]{4}-[0-9]{2}-[0-9]{2}$\n"
                  "/end_date: must be a valid date");
    schema_destroy(failed);
}
END_TEST

/* The copy is looser than the full schema, never stricter: what the full
 * schema accepts, the published copy accepts too. */
START_TEST(the_published_copy_is_only_looser)
{
    json_t *doc = embedded_doc("get_failed_events.input.json");
    char *error = NULL;
    json_t *copy = schema_portable_copy(doc, &error);
    ck_assert_ptr_nonnull(copy);
    struct schema *s = schema_compile(NULL, copy, NULL, NULL, &error);
    ck_assert_ptr_nonnull(s);
    expect_errors(s, "{\"campaign_id\":\"1\",\"start_date\":\"2026-02-28\"}", "");
    /* A calendar check the copy cannot say; its description asks for one. */
    expect_errors(s, "{\"campaign_id\":\"1\",\"start_date\":\"2026-02-30\"}", "");
    schema_destroy(s);
    json_decref(copy);
    json_decref(doc);
}
END_TEST

static json_t *rpc(struct testutil_child *c, const char *line)
{
    ck_assert_int_eq(testutil_send_line(c, line), 0);
    json_t *v = testutil_read_json(c, TIMEOUT_MS);
    ck_assert_ptr_nonnull(v);
    return v;
}

static const char *call_text(json_t *reply, bool *is_error)
{
    json_t *result = json_object_get(reply, "result");
    *is_error = json_is_true(json_object_get(result, "isError"));
    json_t *block = json_array_get(json_object_get(result, "content"), 0);
    return json_string_value(json_object_get(block, "text"));
}

/* tools/list of the real binary shows the published copies, and a call is
 * still checked against the full schema. */
START_TEST(binary_publishes_the_copy_and_validates_the_full_schema)
{
    struct testutil_child c;
    const char *argv[] = {"msg91-mcp", NULL};
    const char *env[] = {"MSG91_AUTH_KEY=portable-test-key", "MSG91_DRY_RUN=1", NULL};
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    testutil_initialize(&c, "test_portable", TIMEOUT_MS);
    json_t *list = rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    json_t *tools = json_object_get(json_object_get(list, "result"), "tools");
    ck_assert_uint_eq(json_array_size(tools), 8);
    size_t i;
    json_t *tool;
    json_array_foreach(tools, i, tool) {
        const char *name = json_string_value(json_object_get(tool, "name"));
        json_t *doc = embedded_doc(testutil_fmt("%s.input.json", name));
        char *error = NULL;
        json_t *want = schema_portable_copy(doc, &error);
        ck_assert_ptr_nonnull(want);
        ck_assert_msg(json_equal(json_object_get(tool, "inputSchema"), want),
                      "%s: tools/list does not show the published copy", name);
        json_decref(want);
        json_decref(doc);
    }
    json_decref(list);

    bool is_error = false;
    json_t *r =
        rpc(&c, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
                "{\"name\":\"get_failed_events\",\"arguments\":{\"campaign_id\":"
                "\"1032\",\"start_date\":\"2026-02-30\"}}}");
    const char *text = call_text(r, &is_error);
    ck_assert(is_error);
    ck_assert_ptr_nonnull(strstr(text, "/start_date: must be a valid date"));
    json_decref(r);

    char *args = variables(51, "{\"mobile\":\"919876543210\",\"template_id\":\"t\","
                               "\"variables\":");
    char *line = NULL;
    ck_assert_int_ge(asprintf(&line,
                              "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\","
                              "\"params\":{\"name\":\"send_otp\",\"arguments\":%s}}",
                              args),
                     0);
    r = rpc(&c, line);
    text = call_text(r, &is_error);
    ck_assert(is_error);
    ck_assert_ptr_nonnull(strstr(text, "/variables: must have at most 50 properties"));
    json_decref(r);
    free(line);
    free(args);
    ck_assert_int_eq(testutil_finish(&c, TIMEOUT_MS), 0);
}
END_TEST

static Suite *portable_suite(void)
{
    Suite *s = suite_create("portable");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, keeps_the_subset);
    tcase_add_test(tc, drops_what_it_safely_can);
    tcase_add_test(tc, refuses_what_would_change_the_meaning);
    tcase_add_test(tc, refuses_drops_that_would_lose_a_rule);
    tcase_add_test(tc, every_shipped_schema_publishes_inside_the_subset);
    tcase_add_test(tc, the_full_schemas_stay_strict);
    tcase_add_test(tc, the_published_copy_is_only_looser);
    tcase_add_test(tc, binary_publishes_the_copy_and_validates_the_full_schema);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(portable_suite());
}
