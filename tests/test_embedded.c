/* The tool schemas as steps (schemas/embedded.h): schemas/embed_tree.c
 * turns fixture files holding every kind of JSON value (reals at the
 * edges of double, the extreme integers, escapes, non-ASCII text, empty
 * and deeply nested containers, key order, a scalar at the root) into
 * steps at build time (tests/meson.build), and embedded_build must give
 * back exactly the value that parsing the file gives. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "schemas/embedded.h"
#include "tests/testutil.h"

/* Generated from tests/data/embed_tree/ (tests/meson.build). */
extern const struct embedded_tree fixture_trees[];
extern const size_t fixture_trees_len;

START_TEST(steps_build_the_parsed_value)
{
    const char *root = getenv("MSG91_SOURCE_DIR");
    ck_assert_uint_eq(fixture_trees_len, 2);
    for (size_t i = 0; i < fixture_trees_len; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/tests/data/embed_tree/%s", root ? root : ".",
                 fixture_trees[i].name);
        json_error_t jerr;
        json_t *parsed = json_load_file(path, JSON_DECODE_ANY, &jerr);
        ck_assert_msg(parsed != NULL, "%s: %s", path, jerr.text);
        json_t *built = embedded_build(&fixture_trees[i]);
        ck_assert_ptr_nonnull(built);
        ck_assert_msg(json_equal(built, parsed), "%s", fixture_trees[i].name);
        /* Same key order and the same bits in every real. */
        size_t flags = JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17);
        char *a = json_dumps(built, flags);
        char *b = json_dumps(parsed, flags);
        ck_assert_str_eq(a, b);
        free(a);
        free(b);
        json_decref(built);
        json_decref(parsed);
    }
}
END_TEST

START_TEST(a_negative_zero_stays_negative)
{
    json_t *built = NULL;
    for (size_t i = 0; i < fixture_trees_len; i++)
        if (strcmp(fixture_trees[i].name, "kinds.json") == 0)
            built = embedded_build(&fixture_trees[i]);
    ck_assert_ptr_nonnull(built);
    json_t *reals = json_object_get(built, "reals");
    ck_assert_str_eq(
        json_string_value(json_array_get(json_object_get(built, "strings"), 5)),
        "\xc3\xa9 \xc3\xb1 \xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80");
    char *text = json_dumps(json_array_get(reals, 4), JSON_ENCODE_ANY);
    ck_assert_str_eq(text, "-0.0");
    free(text);
    ck_assert_int_eq(
        json_integer_value(json_array_get(json_object_get(built, "integers"), 3)),
        (json_int_t)(-9223372036854775807LL - 1));
    json_decref(built);
}
END_TEST

START_TEST(the_server_tables_hold_every_schema)
{
    bool missing = true;
    json_t *doc = embedded_value("send_otp.input.json", &missing);
    ck_assert(!missing);
    ck_assert_str_eq(json_string_value(json_object_get(doc, "type")), "object");
    json_decref(doc);
    ck_assert_ptr_null(embedded_value("send_otp.json", &missing));
    ck_assert(missing);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("embedded");
    TCase *tc = tcase_create("steps");
    tcase_add_test(tc, steps_build_the_parsed_value);
    tcase_add_test(tc, a_negative_zero_stays_negative);
    tcase_add_test(tc, the_server_tables_hold_every_schema);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
