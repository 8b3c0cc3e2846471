/* Every tool schema embedded in the binary (each *.input.json and
 * *.output.json) must be a valid JSON Schema 2020-12 document, checked
 * against the built-in meta-schema, and must compile; and it is embedded
 * compact (embed --compact-json) with the same meaning as its file, and
 * built from its steps (schemas/embed_tree.c) as the same value. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema/schema.h"
#include "schemas/embedded.h"
#include "tests/testutil.h"

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static bool is_tool_schema(const char *name)
{
    return ends_with(name, ".input.json") || ends_with(name, ".output.json");
}

/* The file schemas/name below $MSG91_SOURCE_DIR (meson test sets it; else
 * the current directory) parses to the same value as doc. */
static void same_as_file(const char *name, json_t *doc)
{
    const char *root = getenv("MSG91_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/schemas/%s", root ? root : ".", name);
    json_error_t jerr;
    json_t *file = json_load_file(path, 0, &jerr);
    ck_assert_msg(file != NULL, "%s: %s", path, jerr.text);
    ck_assert_msg(json_equal(file, doc), "%s is embedded with another meaning", name);
    json_decref(file);
}

/* The value the server builds from the steps (embedded_value) is the one
 * parsing the text gives, down to the order of keys and the bits of
 * reals. */
static void same_as_built(const char *name, json_t *doc)
{
    bool missing = true;
    json_t *built = embedded_value(name, &missing);
    ck_assert_msg(built != NULL && !missing, "%s is not built", name);
    ck_assert_msg(json_equal(built, doc), "%s is built with another meaning", name);
    char *a = json_dumps(built, JSON_COMPACT | JSON_REAL_PRECISION(17));
    char *b = json_dumps(doc, JSON_COMPACT | JSON_REAL_PRECISION(17));
    ck_assert_str_eq(a, b);
    free(a);
    free(b);
    json_decref(built);
}

START_TEST(tool_schemas_are_valid)
{
    char *error = NULL;
    json_t *meta_ref =
        json_pack("{s:s}", "$ref", "https://json-schema.org/draft/2020-12/schema");
    struct schema *meta = schema_compile(NULL, meta_ref, NULL, NULL, &error);
    ck_assert_msg(meta != NULL, "meta-schema: %s", error ? error : "?");
    json_decref(meta_ref);

    size_t checked = 0;
    for (size_t i = 0; i < embedded_files_len; i++) {
        const struct embedded_file *f = &embedded_files[i];
        if (!is_tool_schema(f->name))
            continue;
        json_error_t jerr;
        json_t *doc = json_loadb(f->text, f->len, 0, &jerr);
        ck_assert_msg(doc != NULL, "%s: %s", f->name, jerr.text);
        ck_assert_msg(!memchr(f->text, '\n', f->len), "%s is embedded with its blanks",
                      f->name);
        same_as_file(f->name, doc);
        same_as_built(f->name, doc);

        struct schema_errors errs;
        bool valid = schema_validate(meta, doc, &errs);
        char *text = schema_errors_text(&errs);
        ck_assert_msg(valid, "%s is not a valid 2020-12 schema:\n%s", f->name, text);
        ck_assert_str_eq(text, "");
        free(text);
        schema_errors_finish(&errs);

        struct schema *s = schema_compile(NULL, doc, NULL, NULL, &error);
        ck_assert_msg(s != NULL, "%s does not compile: %s", f->name, error ? error : "?");
        schema_destroy(s);
        json_decref(doc);
        checked++;
    }
    /* Eight tools, an input and an output schema each. */
    ck_assert_uint_eq(checked, 16);
    ck_assert_uint_eq(embedded_trees_len, 16);
    bool missing = false;
    ck_assert_ptr_null(embedded_value("nope.input.json", &missing));
    ck_assert(missing);
    schema_destroy(meta);
}
END_TEST

START_TEST(meta_schema_rejects_bad_schemas)
{
    char *error = NULL;
    json_t *meta_ref =
        json_pack("{s:s}", "$ref", "https://json-schema.org/draft/2020-12/schema");
    struct schema *meta = schema_compile(NULL, meta_ref, NULL, NULL, &error);
    ck_assert_ptr_nonnull(meta);
    json_decref(meta_ref);
    json_t *bad =
        json_loads("{\"type\":\"object\",\"properties\":{\"a\":{\"type\":\"strin\"},"
                   "\"b\":{\"maxLength\":-1}}}",
                   0, NULL);
    struct schema_errors errs;
    ck_assert(!schema_validate(meta, bad, &errs));
    char *text = schema_errors_text(&errs);
    ck_assert_str_eq(text, "/properties/a/type: must be one of \"array\", \"boolean\", "
                           "\"integer\", \"null\", \"number\", \"object\", \"string\"\n"
                           "/properties/b/maxLength: must be at least 0");
    free(text);
    schema_errors_finish(&errs);
    json_decref(bad);
    schema_destroy(meta);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("schema_files");
    TCase *tc = tcase_create("embedded");
    tcase_add_test(tc, tool_schemas_are_valid);
    tcase_add_test(tc, meta_schema_rejects_bad_schemas);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
