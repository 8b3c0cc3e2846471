/* Unit tests for the JSON Schema validator (server/schema.h): the exact
 * error lines a model sees, the error cap, references and the registry,
 * numbers, formats, and hostile input: deep instances, huge arrays,
 * catastrophic patterns and schemas that loop. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonschema/schema.h"
#include "schemas/embedded.h"
#include "tests/testutil.h"

/* Counting allocations: the test binary replaces malloc (glibc allows it)
 * so that "validating a valid instance allocates nothing" is checked, not
 * assumed. Sanitizer builds keep their own allocator and skip the check. */
#if defined(__SANITIZE_ADDRESS__)
#define COUNT_ALLOCS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COUNT_ALLOCS 0
#endif
#endif
#ifndef COUNT_ALLOCS
#define COUNT_ALLOCS 1
#endif

#if COUNT_ALLOCS
extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);
static volatile size_t alloc_count;

void *malloc(size_t n)
{
    alloc_count++;
    return __libc_malloc(n);
}
void *calloc(size_t n, size_t m)
{
    alloc_count++;
    return __libc_calloc(n, m);
}
void *realloc(void *p, size_t n)
{
    alloc_count++;
    return __libc_realloc(p, n);
}
void free(void *p)
{
    __libc_free(p);
}
#endif

static struct schema *compile_text(const char *text, const struct schema_options *opts)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, JSON_DECODE_ANY, &jerr);
    ck_assert_msg(doc != NULL, "bad test schema: %s", jerr.text);
    char *error = NULL;
    struct schema *s = schema_compile(NULL, doc, NULL, opts, &error);
    ck_assert_msg(s != NULL, "compile failed: %s", error ? error : "?");
    json_decref(doc);
    return s;
}

static struct schema *compile_tool(const char *name)
{
    const struct embedded_file *f = embedded_find(name);
    ck_assert_ptr_nonnull(f);
    return compile_text(f->text, NULL);
}

/* Validates text and returns the error lines (malloc'd); *valid gets the
 * answer, which must agree with the errors == NULL answer. */
static char *errors_of(const struct schema *s, const char *text, bool *valid)
{
    json_t *inst = json_loads(text, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(inst);
    struct schema_errors errs;
    *valid = schema_validate(s, inst, &errs);
    ck_assert_int_eq(schema_validate(s, inst, NULL), *valid);
    ck_assert_int_eq(errs.count == 0 && !errs.truncated, *valid);
    char *out = schema_errors_text(&errs);
    schema_errors_finish(&errs);
    json_decref(inst);
    return out;
}

#define ASSERT_ERRORS(s, instance, expected)                                             \
    do {                                                                                 \
        bool valid_;                                                                     \
        char *got_ = errors_of((s), (instance), &valid_);                                \
        ck_assert_str_eq(got_, (expected));                                              \
        ck_assert_int_eq(valid_, ((expected)[0] == '\0'));                               \
        free(got_);                                                                      \
    } while (0)

START_TEST(messages_send_sms_flow)
{
    struct schema *s = compile_tool("send_sms_flow.input.json");
    ASSERT_ERRORS(s,
                  "{\"template_id\":\"t1\",\"recipients\":[{\"mobiles\":\"12\"}],"
                  "\"surprise\":1}",
                  "/recipients/0/mobiles: does not match ^\\+?[0-9]{8,15}$\n"
                  "/: unexpected property \"surprise\"");
    ASSERT_ERRORS(
        s, "{\"template_id\":\"t1\",\"recipients\":[{\"mobiles\":\"+919876543210\"}]}",
        "");
    ASSERT_ERRORS(s, "{\"recipients\":[]}",
                  "/: missing required property \"template_id\"\n"
                  "/recipients: must have at least 1 item");
    ASSERT_ERRORS(s, "[]", "/: must be object, not array");
    schema_destroy(s);
}
END_TEST

START_TEST(messages_send_otp)
{
    struct schema *s = compile_tool("send_otp.input.json");
    ASSERT_ERRORS(s, "{\"mobile\":\"919876543210\",\"otp_length\":12}",
                  "/otp_length: must be at most 9");
    ASSERT_ERRORS(s, "{\"otp_length\":4.0}", "/: missing required property \"mobile\"");
    ASSERT_ERRORS(s, "{\"mobile\":\"919876543210\",\"otp_length\":4.5}",
                  "/otp_length: must be integer, not number");
    ASSERT_ERRORS(s, "{\"mobile\":\"919876543210\",\"variables\":{\"a/b~c\":7}}",
                  "/variables/a~1b~0c: must be string, not integer");
    schema_destroy(s);

    s = compile_tool("list_campaigns.input.json");
    ASSERT_ERRORS(s, "{\"page\":\"2\"}", "/page: must be integer, not string");
    ASSERT_ERRORS(s, "{\"page\":0,\"limit\":101}",
                  "/page: must be at least 1\n/limit: must be at most 100");
    schema_destroy(s);
}
END_TEST

START_TEST(messages_keywords)
{
    struct schema *s = compile_text(
        "{\"type\":\"object\",\"properties\":{"
        "\"e\":{\"enum\":[\"a\",\"b\",1]},"
        "\"c\":{\"const\":{\"x\":1}},"
        "\"n\":{\"exclusiveMinimum\":0,\"exclusiveMaximum\":1.5,\"multipleOf\":0.25},"
        "\"s\":{\"minLength\":2,\"maxLength\":3},"
        "\"a\":{\"uniqueItems\":true,\"maxItems\":3,\"contains\":{\"type\":\"null\"}},"
        "\"o\":{\"minProperties\":1,\"propertyNames\":{\"maxLength\":2}},"
        "\"t\":{\"type\":[\"string\",\"null\"]},"
        "\"x\":{\"not\":{\"type\":\"integer\"}},"
        "\"d\":{\"dependentRequired\":{\"a\":[\"b\"]}}"
        "}}",
        NULL);
    ASSERT_ERRORS(s, "{\"e\":\"z\"}", "/e: must be one of \"a\", \"b\", 1");
    ASSERT_ERRORS(s, "{\"c\":{\"x\":1.0}}", "");
    ASSERT_ERRORS(s, "{\"c\":{\"x\":2}}", "/c: must be {\"x\":1}");
    ASSERT_ERRORS(s, "{\"n\":1.3}", "/n: must be a multiple of 0.25");
    ASSERT_ERRORS(s, "{\"n\":1.5}", "/n: must be less than 1.5");
    ASSERT_ERRORS(s, "{\"n\":0}", "/n: must be greater than 0");
    ASSERT_ERRORS(s, "{\"s\":\"\\u00e9\\u00e9\\u00e9\"}", "");
    ASSERT_ERRORS(s, "{\"s\":\"abcd\"}", "/s: must be at most 3 characters long");
    ASSERT_ERRORS(s, "{\"a\":[1,2,1,3]}",
                  "/a: must have at most 3 items\n"
                  "/a: must not contain duplicates (items 0 and 2 are equal)\n"
                  "/a: must contain at least one matching item");
    ASSERT_ERRORS(s, "{\"o\":{\"abc\":1}}", "/o: property name \"abc\" is not allowed");
    ASSERT_ERRORS(s, "{\"o\":{}}", "/o: must have at least 1 property");
    ASSERT_ERRORS(s, "{\"t\":1}", "/t: must be null or string, not integer");
    ASSERT_ERRORS(s, "{\"x\":3}", "/x: must not match the schema in \"not\"");
    ASSERT_ERRORS(s, "{\"d\":{\"a\":1}}",
                  "/d: missing property \"b\" (required when \"a\" is present)");
    schema_destroy(s);
}
END_TEST

START_TEST(messages_alternatives)
{
    struct schema *s = compile_text(
        "{\"properties\":{"
        "\"v\":{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"integer\"}]},"
        "\"w\":{\"oneOf\":[{\"type\":\"integer\",\"maximum\":9},{\"type\":\"string\"}]},"
        "\"z\":{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]},"
        "\"q\":{\"anyOf\":[{\"required\":[\"a\",\"b\"]},{\"required\":[\"c\",\"d\"]}]}"
        "}}",
        NULL);
    ASSERT_ERRORS(s, "{\"v\":{}}", "/v: must be string or integer, not object");
    ASSERT_ERRORS(s, "{\"w\":12}", "/w: must be at most 9");
    ASSERT_ERRORS(s, "{\"z\":3}",
                  "/z: must match exactly one alternative, but matches 0 and 1");
    ASSERT_ERRORS(s, "{\"q\":{}}",
                  "/q: does not match any of the 2 allowed alternatives");
    schema_destroy(s);
}
END_TEST

START_TEST(errors_are_capped)
{
    struct schema_options opts = {.max_errors = 3};
    struct schema *s = compile_text("{\"items\":{\"type\":\"string\"}}", &opts);
    ASSERT_ERRORS(s, "[1,2,3,4,5,6]",
                  "/0: must be string, not integer\n/1: must be string, not integer\n"
                  "/2: must be string, not integer\n... and more errors");
    schema_destroy(s);

    /* A million bad items still give a short reply, quickly. */
    s = compile_text("{\"items\":{\"type\":\"string\"}}", NULL);
    json_t *big = json_array();
    for (int i = 0; i < 1000000; i++)
        json_array_append_new(big, json_integer(i));
    struct schema_errors errs;
    ck_assert(!schema_validate(s, big, &errs));
    ck_assert_uint_eq(errs.count, 32);
    ck_assert(errs.truncated);
    ck_assert_str_eq(errs.items[31].instance_path, "/31");
    ck_assert_str_eq(errs.items[31].keyword, "type");
    schema_errors_finish(&errs);
    json_decref(big);
    schema_destroy(s);
}
END_TEST

START_TEST(numbers)
{
    struct schema *s =
        compile_text("{\"type\":\"integer\",\"maximum\":9007199254740992}", NULL);
    ASSERT_ERRORS(s, "9007199254740993", "/: must be at most 9007199254740992");
    ASSERT_ERRORS(s, "9007199254740992.0", "");
    ASSERT_ERRORS(s, "1.0", "");
    ASSERT_ERRORS(s, "-1e300", "");
    ASSERT_ERRORS(s, "1.5", "/: must be integer, not number");
    schema_destroy(s);

    s = compile_text("{\"minimum\":0.1,\"multipleOf\":0.01}", NULL);
    ASSERT_ERRORS(s, "19.99", "");
    ASSERT_ERRORS(s, "0", "/: must be at least 0.1");
    ASSERT_ERRORS(s, "0.105", "/: must be a multiple of 0.01");
    schema_destroy(s);
}
END_TEST

START_TEST(references_and_registry)
{
    struct schema_registry *reg = schema_registry_create();
    ck_assert_ptr_nonnull(reg);
    json_t *defs =
        json_loads("{\"$defs\":{\"phone\":{\"type\":\"string\",\"$anchor\":\"ph\","
                   "\"pattern\":\"^[0-9]+$\"}}}",
                   0, NULL);
    char *error = NULL;
    ck_assert_int_eq(
        schema_registry_add(reg, "https://example.com/defs.json", defs, &error), 0);
    json_decref(defs);

    json_t *doc =
        json_loads("{\"$id\":\"https://example.com/root.json\","
                   "\"properties\":{\"a\":{\"$ref\":\"defs.json#/$defs/phone\"},"
                   "\"b\":{\"$ref\":\"defs.json#ph\"}}}",
                   0, NULL);
    struct schema *s = schema_compile(reg, doc, NULL, NULL, &error);
    ck_assert_ptr_nonnull(s);
    /* The compiled schema keeps what it needs: the registry may go first. */
    schema_registry_destroy(reg);
    ASSERT_ERRORS(s, "{\"a\":\"12\",\"b\":\"x\"}", "/b: does not match ^[0-9]+$");
    schema_destroy(s);
    json_decref(doc);

    doc = json_loads("{\"$ref\":\"https://nowhere.example/x.json\"}", 0, NULL);
    ck_assert_ptr_null(schema_compile(NULL, doc, NULL, NULL, &error));
    ck_assert_str_eq(error,
                     "cannot resolve reference \"https://nowhere.example/x.json\": "
                     "https://nowhere.example/x.json is not a known schema");
    free(error);
    json_decref(doc);

    /* The meta-schema is built in and can be referred to. */
    s = compile_text("{\"$ref\":\"https://json-schema.org/draft/2020-12/schema\"}", NULL);
    ASSERT_ERRORS(s, "{\"type\":\"object\",\"minLength\":2}", "");
    ASSERT_ERRORS(s, "{\"minLength\":-1}", "/minLength: must be at least 0");
    schema_destroy(s);
}
END_TEST

static void assert_loop_rejected(const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    char *error = NULL;
    struct schema *s = schema_compile(NULL, doc, NULL, NULL, &error);
    ck_assert_msg(s == NULL, "compiled a loop: %s", text);
    ck_assert_str_eq(error, "\"$ref\" loops back to itself without consuming any of "
                            "the instance");
    free(error);
    json_decref(doc);
}

START_TEST(loops_are_errors)
{
    static const char *const loops[] = {
        "{\"$ref\":\"#\"}",
        "{\"$defs\":{\"a\":{\"$ref\":\"#/$defs/b\"},\"b\":{\"allOf\":[{\"$ref\":\"#/"
        "$defs/a\"}]}},"
        "\"$ref\":\"#/$defs/a\"}",
    };
    for (size_t i = 0; i < sizeof(loops) / sizeof(loops[0]); i++)
        assert_loop_rejected(loops[i]);
}
END_TEST

/* Every keyword that applies a subschema to the same value closes a loop
 * just as "$ref" and "allOf" do. Two branches per level made these take
 * time exponential in max_depth before they were rejected. */
START_TEST(loops_through_applicators)
{
    static const char *const loops[] = {
        "{\"oneOf\":[{\"$ref\":\"#\"},{\"$ref\":\"#\"}]}",
        "{\"$defs\":{\"a\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"},{\"$ref\":\"#/$defs/"
        "a\"}]}},\"$ref\":\"#/$defs/a\"}",
        "{\"anyOf\":[{\"$ref\":\"#\"}]}",
        "{\"not\":{\"$ref\":\"#\"}}",
        "{\"if\":{\"$ref\":\"#\"}}",
        "{\"if\":true,\"then\":{\"$ref\":\"#\"}}",
        "{\"if\":false,\"else\":{\"$ref\":\"#\"}}",
        "{\"dependentSchemas\":{\"a\":{\"$ref\":\"#\"}}}",
        "{\"$defs\":{\"a\":{\"oneOf\":[{\"$ref\":\"#/$defs/b\"},true]},"
        "\"b\":{\"not\":{\"anyOf\":[{\"$ref\":\"#/$defs/a\"}]}}},\"$ref\":\"#/$defs/a\"}",
        /* Statically this "$dynamicRef" lands on a resource that ends the
         * chain; at run time the outermost "node" anchor, the root, wins
         * and the chain comes back to where it started. */
        "{\"$id\":\"http://example.com/root\",\"$dynamicAnchor\":\"node\","
        "\"$ref\":\"inner\",\"$defs\":{"
        "\"inner\":{\"$id\":\"inner\",\"anyOf\":[{\"$dynamicRef\":\"leaf#node\"}]},"
        "\"leaf\":{\"$id\":\"leaf\",\"$dynamicAnchor\":\"node\",\"type\":\"string\"}}}",
    };
    for (size_t i = 0; i < sizeof(loops) / sizeof(loops[0]); i++)
        assert_loop_rejected(loops[i]);

    /* A subschema that reaches the same node twice without a loop, or
     * loops only through a keyword that moves into the value, is fine. */
    struct schema *s =
        compile_text("{\"$defs\":{\"a\":{\"type\":\"integer\"}},\"anyOf\":[{"
                     "\"$ref\":\"#/$defs/a\"},{\"not\":{\"$ref\":\"#/$defs/"
                     "a\"}}],\"items\":{\"$ref\":\"#\"}}",
                     NULL);
    ASSERT_ERRORS(s, "[[1],[\"x\"]]", "");
    schema_destroy(s);
}
END_TEST

/* Frees a deeply nested value without jansson's recursion. */
static void free_deep(json_t *v)
{
    while (v) {
        json_t *child = NULL;
        if (json_is_array(v) && json_array_size(v))
            child = json_incref(json_array_get(v, 0));
        else if (json_is_object(v))
            child = json_incref(json_object_get(v, "a"));
        json_decref(v);
        v = child;
    }
}

static json_t *deep_instance(int levels, bool objects)
{
    json_t *inner = json_integer(1);
    for (int i = 0; i < levels; i++) {
        json_t *outer = objects ? json_object() : json_array();
        if (objects)
            json_object_set_new(outer, "a", inner);
        else
            json_array_append_new(outer, inner);
        inner = outer;
    }
    return inner;
}

START_TEST(deep_instances)
{
    json_t *arr = deep_instance(100000, false);
    json_t *obj = deep_instance(100000, true);

    struct schema *s = compile_text("{\"items\":{\"$ref\":\"#\"}}", NULL);
    struct schema_errors errs;
    ck_assert(!schema_validate(s, arr, NULL));
    ck_assert(!schema_validate(s, arr, &errs));
    ck_assert_uint_eq(errs.count, 1);
    ck_assert_str_eq(errs.items[0].keyword, "$ref");
    ck_assert_str_eq(errs.items[0].message, "nesting exceeds 256 levels");
    ck_assert_uint_eq(strlen(errs.items[0].instance_path), 128 * 2);
    schema_errors_finish(&errs);
    schema_destroy(s);

    s = compile_text("{\"additionalProperties\":{\"$ref\":\"#\"},\"type\":\"object\"}",
                     NULL);
    ck_assert(!schema_validate(s, obj, NULL));
    schema_destroy(s);

    /* Keywords that compare whole values stop at a bounded depth too. */
    s = compile_text("{\"uniqueItems\":true}", NULL);
    json_t *pair = json_array();
    json_array_append(pair, arr);
    json_array_append(pair, arr);
    ck_assert(!schema_validate(s, pair, NULL));
    json_array_clear(pair);
    json_decref(pair);
    schema_destroy(s);

    s = compile_text("{\"type\":\"array\",\"const\":[[[[1]]]]}", NULL);
    ck_assert(!schema_validate(s, arr, NULL));
    schema_destroy(s);

    free_deep(arr);
    free_deep(obj);
}
END_TEST

/* A schema of levels oneOf keywords, each with two references to the
 * next level: no loop, but 2^levels paths to walk on any value. */
static char *doubling_schema(int levels)
{
    size_t size = 64 + (size_t)levels * 96;
    char *text = malloc(size);
    ck_assert_ptr_nonnull(text);
    size_t off = (size_t)snprintf(text, size, "{\"$ref\":\"#/$defs/d0\",\"$defs\":{");
    for (int i = 0; i < levels; i++)
        off +=
            (size_t)snprintf(text + off, size - off,
                             "\"d%d\":{\"oneOf\":[{\"$ref\":\"#/$defs/d%d\"},{\"$ref\":"
                             "\"#/$defs/d%d\"}]},",
                             i, i + 1, i + 1);
    snprintf(text + off, size - off, "\"d%d\":true}}", levels);
    return text;
}

/* Validation work is bounded by max_steps: a schema whose cost grows
 * exponentially stops with an error instead of running for hours. Both
 * cases below ran forever before the budget existed (the Check timeout
 * ended them). */
START_TEST(costly_schemas_stop)
{
    char *text = doubling_schema(40);
    struct schema_options small = {.max_steps = 5000};
    struct schema *s = compile_text(text, &small);
    ASSERT_ERRORS(s, "{}",
                  "/: validation stopped after 5000 steps: the schema is too costly for "
                  "this value");
    schema_destroy(s);
    s = compile_text(text, NULL);
    ASSERT_ERRORS(s, "{}",
                  "/: validation stopped after 1000000 steps: the schema is too costly "
                  "for this value");
    schema_destroy(s);
    free(text);

    /* Two branches that both move one level into a nested array: a loop
     * that consumes the value, but doubles the work per level. */
    json_t *deep = deep_instance(80, false);
    s = compile_text("{\"oneOf\":[{\"items\":{\"$ref\":\"#\"}},{\"items\":{\"$ref\":"
                     "\"#\"}}]}",
                     NULL);
    struct schema_errors errs;
    ck_assert(!schema_validate(s, deep, NULL));
    ck_assert(!schema_validate(s, deep, &errs));
    char *got = schema_errors_text(&errs);
    ck_assert_str_eq(got, "/: validation stopped after 1000000 steps: the schema is too "
                          "costly for this value");
    free(got);
    schema_errors_finish(&errs);
    schema_destroy(s);
    free_deep(deep);
}
END_TEST

START_TEST(hostile_schemas)
{
    /* A schema nested far deeper than any real one is refused, not
     * followed down the stack. */
    json_t *doc = json_true();
    for (int i = 0; i < 100000; i++)
        doc = json_pack("{s:o}", "not", doc);
    char *error = NULL;
    ck_assert_ptr_null(schema_compile(NULL, doc, NULL, NULL, &error));
    ck_assert_str_eq(error,
                     "cannot register urn:msg91-mcp:schema: out of memory or nested too "
                     "deeply");
    free(error);
    while (doc) {
        json_t *inner = json_incref(json_object_get(doc, "not"));
        json_decref(doc);
        doc = json_is_object(inner) ? inner : (json_decref(inner), NULL);
    }

    static const struct {
        const char *schema, *error;
    } bad[] = {
        {"{\"type\":\"strng\"}", "\"type\" must name JSON types"},
        {"{\"minLength\":-1}", "\"minLength\" must be a non-negative integer"},
        {"{\"multipleOf\":0}", "\"multipleOf\" must be greater than 0"},
        {"{\"items\":[true]}", "\"items\" must be a schema in 2020-12 (use prefixItems)"},
        {"{\"$ref\":\"#/$defs/missing\"}",
         "cannot resolve reference \"#/$defs/missing\": no such location"},
        {"{\"$ref\":\"#nope\"}",
         "cannot resolve reference \"#nope\": no anchor \"nope\""},
        {"{\"pattern\":\"(?P<x>a)\"}",
         "\"pattern\" (?P<x>a) uses syntax that ECMA-262 does not allow"},
        {"{\"allOf\":[]}", "\"allOf\" must be a non-empty array of schemas"},
        {"{\"properties\":{\"a\":3}}", "a schema must be an object or a boolean"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        doc = json_loads(bad[i].schema, 0, NULL);
        ck_assert_ptr_nonnull(doc);
        ck_assert_ptr_null(schema_compile(NULL, doc, NULL, NULL, &error));
        ck_assert_str_eq(error, bad[i].error);
        free(error);
        json_decref(doc);
    }
}
END_TEST

START_TEST(huge_arrays)
{
    struct schema *s = compile_text(
        "{\"type\":\"array\",\"items\":{\"type\":\"integer\"},\"uniqueItems\":true}",
        NULL);
    json_t *big = json_array();
    for (int i = 0; i < 200000; i++)
        json_array_append_new(big, json_integer(i));
    ck_assert(schema_validate(s, big, NULL));
    json_array_append_new(big, json_real(3.0));
    struct schema_errors errs;
    ck_assert(!schema_validate(s, big, &errs));
    char *text = schema_errors_text(&errs);
    ck_assert_str_eq(text,
                     "/: must not contain duplicates (items 3 and 200000 are equal)");
    free(text);
    schema_errors_finish(&errs);
    json_decref(big);
    schema_destroy(s);
}
END_TEST

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

START_TEST(catastrophic_regex)
{
    struct schema *s = compile_text("{\"pattern\":\"^(a+)+$\"}", NULL);
    char *str = malloc(100002);
    memset(str, 'a', 100000);
    str[100000] = 'b';
    str[100001] = '\0';
    json_t *inst = json_string(str);
    double t0 = now();
    struct schema_errors errs;
    ck_assert(!schema_validate(s, inst, &errs));
    ck_assert(!schema_validate(s, inst, NULL));
    ck_assert_msg(now() - t0 < 1.0, "took %.3f s", now() - t0);
    char *text = schema_errors_text(&errs);
    ck_assert_str_eq(text, "/: is too costly to match against ^(a+)+$");
    free(text);
    schema_errors_finish(&errs);
    json_decref(inst);
    free(str);
    schema_destroy(s);

    /* ECMA semantics: $ is the end of input, \d is ASCII only. */
    s = compile_text("{\"pattern\":\"^\\\\d+$\"}", NULL);
    ASSERT_ERRORS(s, "\"123\"", "");
    ASSERT_ERRORS(s, "\"123\\n\"", "/: does not match ^\\d+$");
    ASSERT_ERRORS(s, "\"\\u09ea\"", "/: does not match ^\\d+$");
    schema_destroy(s);

    json_t *doc = json_loads("{\"pattern\":\"(\"}", 0, NULL);
    char *error = NULL;
    ck_assert_ptr_null(schema_compile(NULL, doc, NULL, NULL, &error));
    ck_assert_str_eq(error,
                     "\"pattern\" ( is not a valid regular expression: missing closing "
                     "parenthesis");
    free(error);
    json_decref(doc);
}
END_TEST

START_TEST(formats)
{
    struct schema *s = compile_text("{\"format\":\"date\"}", NULL);
    ASSERT_ERRORS(s, "\"2024-02-30\"", "");
    schema_destroy(s);
    struct schema_options opts = {.format_assertion = true};
    s = compile_text(
        "{\"properties\":{\"d\":{\"format\":\"date\"},\"e\":{\"format\":\"email\"},"
        "\"i\":{\"format\":\"ipv4\"},\"u\":{\"format\":\"uuid\"},"
        "\"t\":{\"format\":\"date-time\"},\"h\":{\"format\":\"hostname\"},"
        "\"r\":{\"format\":\"regex\"},\"x\":{\"format\":\"no-such-format\"}}}",
        &opts);
    ASSERT_ERRORS(
        s,
        "{\"d\":\"2024-02-29\",\"e\":\"a@example.com\",\"i\":\"10.0.0.1\","
        "\"u\":\"2eb8aa08-aa98-11ea-b4aa-73b441d16380\","
        "\"t\":\"2024-01-01T10:00:00+05:30\",\"h\":\"api.msg91.com\",\"r\":\"^a\","
        "\"x\":\"anything\"}",
        "");
    ASSERT_ERRORS(
        s,
        "{\"d\":\"2023-02-29\",\"e\":\"a..b@example.com\",\"i\":\"10.0.0.256\","
        "\"u\":\"2eb8aa08\",\"t\":\"2024-01-01 10:00:00\",\"h\":\"-bad-.com\","
        "\"r\":\"(\"}",
        "/d: must be a valid date\n/e: must be a valid email\n/i: must be a valid ipv4\n"
        "/u: must be a valid uuid\n/t: must be a valid date-time\n"
        "/h: must be a valid hostname\n/r: must be a valid regex");
    schema_destroy(s);
}
END_TEST

START_TEST(unevaluated_and_dynamic)
{
    struct schema *s =
        compile_text("{\"allOf\":[{\"properties\":{\"a\":true}}],\"anyOf\":[{"
                     "\"properties\":{\"b\":true},"
                     "\"required\":[\"b\"]},true],\"unevaluatedProperties\":false}",
                     NULL);
    ASSERT_ERRORS(s, "{\"a\":1,\"b\":2}", "");
    ASSERT_ERRORS(s, "{\"a\":1,\"c\":2}", "/: unexpected property \"c\"");
    schema_destroy(s);

    s = compile_text("{\"prefixItems\":[true],\"unevaluatedItems\":false}", NULL);
    ASSERT_ERRORS(s, "[1,2]", "/1: unexpected item");
    schema_destroy(s);
}
END_TEST

START_TEST(no_allocation_on_success)
{
#if COUNT_ALLOCS
    struct schema *s = compile_tool("send_sms_flow.input.json");
    json_t *inst =
        json_loads("{\"template_id\":\"flow_1\",\"recipients\":[{\"mobiles\":"
                   "\"919876543210\",\"name\":\"A\"},"
                   "{\"mobiles\":\"+919876543211\",\"name\":\"B\"}],\"short_url\":true}",
                   0, NULL);
    struct schema_errors errs;
    ck_assert(schema_validate(s, inst, NULL)); /* warms up lazily built regex state */
    /* No Check asserts between the counts: they allocate themselves. */
    int valid = 0;
    size_t before = alloc_count;
    for (int i = 0; i < 100; i++)
        valid += schema_validate(s, inst, NULL);
    size_t quiet = alloc_count - before;
    before = alloc_count;
    valid += schema_validate(s, inst, &errs);
    size_t collecting = alloc_count - before;
    ck_assert_int_eq(valid, 101);
    ck_assert_uint_eq(quiet, 0);
    ck_assert_uint_eq(collecting, 0);
    schema_errors_finish(&errs);
    json_decref(inst);
    schema_destroy(s);
#endif
}
END_TEST

START_TEST(errors_text_edges)
{
    struct schema_errors none = {0};
    char *t = schema_errors_text(&none);
    ck_assert_str_eq(t, "");
    free(t);
    struct schema_errors only = {.truncated = true};
    t = schema_errors_text(&only);
    ck_assert_str_eq(t, "... and more errors");
    free(t);
    schema_errors_finish(NULL);
    schema_destroy(NULL);
    schema_registry_destroy(NULL);

    struct schema *s = compile_text("false", NULL);
    ASSERT_ERRORS(s, "null", "/: is not allowed here");
    schema_destroy(s);
}
END_TEST

/* jsonschema/ is a library on its own: its files include only its own
 * headers, util/ and system headers (doc/jsonschema.md). Read from the source
 * tree ($MSG91_SOURCE_DIR, or the current directory). */
START_TEST(library_includes_only_its_own)
{
    const char *root = getenv("MSG91_SOURCE_DIR");
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/jsonschema", root && root[0] ? root : ".");
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s (set MSG91_SOURCE_DIR to the source root)",
                  dir);
    size_t files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t n = strlen(e->d_name);
        if (n < 3 || (strcmp(e->d_name + n - 2, ".c") && strcmp(e->d_name + n - 2, ".h")))
            continue;
        char *text = testutil_read_file(testutil_fmt("%s/%s", dir, e->d_name), NULL);
        ck_assert_ptr_nonnull(text);
        for (char *line = text; line; line = strchr(line, '\n')) {
            line += line[0] == '\n';
            if (strncmp(line, "#include \"", 10) == 0)
                ck_assert_msg(strncmp(line + 10, "jsonschema/", 11) == 0 ||
                                  strncmp(line + 10, "util/", 5) == 0,
                              "%s: %.*s", e->d_name, (int)strcspn(line, "\n"), line);
        }
        free(text);
        files++;
    }
    closedir(d);
    ck_assert_uint_ge(files, 6);
}
END_TEST

int main(void)
{
    Suite *suite = suite_create("schema");
    TCase *tc = tcase_create("schema");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, messages_send_sms_flow);
    tcase_add_test(tc, messages_send_otp);
    tcase_add_test(tc, messages_keywords);
    tcase_add_test(tc, messages_alternatives);
    tcase_add_test(tc, errors_are_capped);
    tcase_add_test(tc, numbers);
    tcase_add_test(tc, references_and_registry);
    tcase_add_test(tc, loops_are_errors);
    tcase_add_test(tc, deep_instances);
    tcase_add_test(tc, hostile_schemas);
    tcase_add_test(tc, huge_arrays);
    tcase_add_test(tc, catastrophic_regex);
    tcase_add_test(tc, formats);
    tcase_add_test(tc, unevaluated_and_dynamic);
    tcase_add_test(tc, no_allocation_on_success);
    tcase_add_test(tc, errors_text_edges);
    tcase_add_test(tc, loops_through_applicators);
    tcase_add_test(tc, library_includes_only_its_own);
    suite_add_tcase(suite, tc);
    /* Alone, with a generous timeout: before the step budget these never
     * finished, and the timeout is what reported them. */
    TCase *costly = tcase_create("costly");
    tcase_set_timeout(costly, 120);
    tcase_add_test(costly, costly_schemas_stop);
    suite_add_tcase(suite, costly);
    return testutil_run(suite);
}
