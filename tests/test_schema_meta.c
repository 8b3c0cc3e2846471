/* The built-in 2020-12 meta-schemas (jsonschema/meta.h), which a registry
 * parses only when something first reaches one: each is found under the
 * URI its own "$id" gives, a registry parses none of them when it is made
 * nor for a schema that names the standard "$schema", the first document
 * registered under a meta-schema's URI is still the meta-schema, and a
 * "$schema" naming one of them still sets the vocabularies. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema/meta.h"
#include "jsonschema/schema.h"
#include "tests/testutil.h"

#define META_URI "https://json-schema.org/draft/2020-12/schema"

/* jansson's allocations, counted through json_set_alloc_funcs: parsing a
 * meta-schema makes hundreds of them. */
static size_t json_allocs;

static void *counting_malloc(size_t n)
{
    json_allocs++;
    return malloc(n);
}

static json_t *parse(const char *text)
{
    json_error_t jerr;
    json_t *doc = json_loads(text, 0, &jerr);
    ck_assert_msg(doc != NULL, "bad JSON in the test: %s", jerr.text);
    return doc;
}

/* Whether instance (JSON text) is valid under schema (JSON text), compiled
 * against reg (NULL: a registry of its own). */
static bool valid(struct schema_registry *reg, const char *schema, const char *instance)
{
    json_t *doc = parse(schema);
    char *error = NULL;
    struct schema *s = schema_compile(reg, doc, NULL, NULL, &error);
    ck_assert_msg(s != NULL, "%s: %s", schema, error ? error : "?");
    json_t *value = json_loads(instance, JSON_DECODE_ANY, NULL);
    ck_assert_ptr_nonnull(value);
    bool ok = schema_validate(s, value, NULL);
    json_decref(value);
    schema_destroy(s);
    json_decref(doc);
    return ok;
}

START_TEST(each_meta_schema_is_found_by_its_id)
{
    ck_assert_uint_eq(schema_meta_files_len, 8);
    for (size_t i = 0; i < schema_meta_files_len; i++) {
        json_t *doc =
            json_loadb(schema_meta_files[i].text, schema_meta_files[i].len, 0, NULL);
        ck_assert_ptr_nonnull(doc);
        /* Embedded compact (embed --compact-json). */
        ck_assert(!memchr(schema_meta_files[i].text, '\n', schema_meta_files[i].len));
        const char *id = json_string_value(json_object_get(doc, "$id"));
        ck_assert_ptr_nonnull(id);
        json_t *ref = json_pack("{s:s}", "$ref", id);
        char *error = NULL;
        struct schema *s = schema_compile(NULL, ref, NULL, NULL, &error);
        ck_assert_msg(s != NULL, "%s (%s): %s", schema_meta_files[i].name, id,
                      error ? error : "?");
        /* Every meta-schema accepts a schema object and refuses a number. */
        json_t *schema = parse("{\"type\":\"string\"}");
        json_t *number = json_integer(5);
        ck_assert(schema_validate(s, schema, NULL));
        ck_assert(!schema_validate(s, number, NULL));
        json_decref(number);
        json_decref(schema);
        schema_destroy(s);
        json_decref(ref);
        json_decref(doc);
    }
}
END_TEST

START_TEST(nothing_is_parsed_until_needed)
{
    json_set_alloc_funcs(counting_malloc, free);
    json_allocs = 0;
    struct schema_registry *reg = schema_registry_create();
    ck_assert_ptr_nonnull(reg);
    /* The registry's own list of documents and nothing else. */
    ck_assert_uint_lt(json_allocs, 10);
    json_t *doc = parse("{\"$schema\":\"" META_URI "\",\"type\":\"string\"}");
    json_allocs = 0;
    char *error = NULL;
    struct schema *s = schema_compile(reg, doc, NULL, NULL, &error);
    ck_assert_msg(s != NULL, "%s", error ? error : "?");
    /* The standard "$schema" means every vocabulary: no meta-schema read. */
    ck_assert_uint_lt(json_allocs, 50);
    schema_destroy(s);
    json_decref(doc);

    /* A reference to the meta-schema parses it and the six vocabulary
     * meta-schemas it refers to; a second compile parses nothing again. */
    doc = parse("{\"$ref\":\"" META_URI "\"}");
    json_allocs = 0;
    s = schema_compile(reg, doc, NULL, NULL, &error);
    ck_assert_msg(s != NULL, "%s", error ? error : "?");
    size_t first = json_allocs;
    ck_assert_uint_gt(first, 500);
    schema_destroy(s);
    json_allocs = 0;
    s = schema_compile(reg, doc, NULL, NULL, &error);
    ck_assert_msg(s != NULL, "%s", error ? error : "?");
    ck_assert_uint_lt(json_allocs, first / 4);
    schema_destroy(s);
    json_decref(doc);
    schema_registry_destroy(reg);
    json_set_alloc_funcs(malloc, free);
}
END_TEST

START_TEST(a_document_under_a_meta_uri_does_not_replace_it)
{
    static const char *const uris[] = {
        META_URI,
        "https://json-schema.org/draft/2020-12/meta/validation",
    };
    for (size_t i = 0; i < 2; i++) {
        struct schema_registry *reg = schema_registry_create();
        ck_assert_ptr_nonnull(reg);
        json_t *impostor = parse("{\"type\":\"string\"}");
        char *error = NULL;
        ck_assert_int_eq(schema_registry_add(reg, uris[i], impostor, &error), 0);
        json_decref(impostor);
        char ref[200];
        snprintf(ref, sizeof ref, "{\"$ref\":\"%s\"}", uris[i]);
        /* The meta-schema, registered first, wins: a string is not a
         * schema, an object is. */
        ck_assert(!valid(reg, ref, "\"abc\""));
        ck_assert(valid(reg, ref, "{}"));
        schema_registry_destroy(reg);
    }
}
END_TEST

START_TEST(a_meta_schema_named_by_schema_sets_the_vocabularies)
{
    /* The core meta-schema declares the core vocabulary only, so "type"
     * is not asserted; the standard one declares them all. */
    ck_assert(valid(NULL,
                    "{\"$schema\":\"https://json-schema.org/draft/2020-12/meta/core\","
                    "\"type\":\"string\"}",
                    "5"));
    ck_assert(!valid(NULL, "{\"$schema\":\"" META_URI "\",\"type\":\"string\"}", "5"));
    ck_assert(!valid(NULL, "{\"type\":\"string\"}", "5"));
}
END_TEST

START_TEST(an_unknown_uri_is_still_an_error)
{
    json_t *doc = parse("{\"$ref\":\"https://json-schema.org/draft/2020-12/meta/nope\"}");
    char *error = NULL;
    ck_assert_ptr_null(schema_compile(NULL, doc, NULL, NULL, &error));
    ck_assert_str_eq(error, "cannot resolve reference "
                            "\"https://json-schema.org/draft/2020-12/meta/nope\": "
                            "https://json-schema.org/draft/2020-12/meta/nope is not a "
                            "known schema");
    free(error);
    json_decref(doc);
}
END_TEST

/* jansson's allocator failing from the n-th allocation on (-1: never). */
static long allocs_left = -1;

static void *failing_malloc(size_t n)
{
    if (allocs_left == 0)
        return NULL;
    if (allocs_left > 0)
        allocs_left--;
    return malloc(n);
}

/* Memory running out while a meta-schema loads fails that compile as out
 * of memory; the next compile against the same registry either loads it
 * (the parse is tried again) or says out of memory again, and never that
 * the meta-schema is unknown. */
START_TEST(running_out_while_loading_is_not_permanent)
{
    json_t *doc = parse("{\"$ref\":\"" META_URI "\"}");
    unsigned failed_then_loaded = 0;
    /* Every fifth allocation: the parse makes about a thousand, and the
     * sweep must stay quick under the sanitizers. */
    for (long n = 0;; n += 5) {
        struct schema_registry *reg = schema_registry_create();
        ck_assert_ptr_nonnull(reg);
        char *error = NULL;
        json_set_alloc_funcs(failing_malloc, free);
        allocs_left = n;
        struct schema *s = schema_compile(reg, doc, NULL, NULL, &error);
        allocs_left = -1;
        json_set_alloc_funcs(malloc, free);
        if (s) {
            schema_destroy(s);
            schema_registry_destroy(reg);
            break;
        }
        ck_assert_msg(error && strstr(error, "out of memory"), "allocation %ld: %s", n,
                      error ? error : "no error");
        free(error);
        error = NULL;
        s = schema_compile(reg, doc, NULL, NULL, &error);
        if (s)
            failed_then_loaded++;
        else
            ck_assert_msg(strstr(error, "out of memory") && !strstr(error, "not a known"),
                          "allocation %ld, second compile: %s", n, error);
        free(error);
        schema_destroy(s);
        schema_registry_destroy(reg);
    }
    /* Most failures fall in the parse, which is tried again. */
    ck_assert_uint_gt(failed_then_loaded, 20);
    json_decref(doc);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schema_meta");
    TCase *tc = tcase_create("lazy");
    tcase_add_test(tc, each_meta_schema_is_found_by_its_id);
    tcase_add_test(tc, nothing_is_parsed_until_needed);
    tcase_add_test(tc, a_document_under_a_meta_uri_does_not_replace_it);
    tcase_add_test(tc, a_meta_schema_named_by_schema_sets_the_vocabularies);
    tcase_add_test(tc, an_unknown_uri_is_still_an_error);
    tcase_add_test(tc, running_out_while_loading_is_not_permanent);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
