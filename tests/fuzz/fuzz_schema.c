/* Fuzz target: the JSON Schema validator (jsonschema/schema.h), compile
 * then validate.
 *
 * Input: byte 0 holds options, then two JSON texts back to back: the
 * schema (the first complete JSON value) and the instance (the rest).
 *   bit 0     format assertion on
 *   bits 1-2  max_depth: default (256), 8, 24 or 64
 *   bit 3     a base URI for the schema
 *   bits 4-5  max_errors: default (32), 1, 2 or 1000
 *
 * Checks besides the sanitizers: the verdict is the same with and without
 * error collection, an invalid instance has at least one error and a valid
 * one none, and the error text can always be rendered. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema/schema.h"

static const unsigned depths[4] = {0, 8, 24, 64};
static const size_t error_caps[4] = {0, 1, 2, 1000};

static void check_errors(const struct schema_errors *errors, bool valid)
{
    if (valid != (errors->count == 0)) {
        fprintf(stderr, "fuzz_schema: verdict %s with %zu errors\n",
                valid ? "valid" : "invalid", errors->count);
        abort();
    }
    char *text = schema_errors_text(errors);
    if (!text) {
        fprintf(stderr, "fuzz_schema: no error text\n");
        abort();
    }
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t flags = data[0];
    const char *text = (const char *)data + 1;
    size_t len = size - 1;

    json_error_t err;
    json_t *doc = json_loadb(text, len, JSON_DECODE_ANY | JSON_DISABLE_EOF_CHECK, &err);
    if (!doc)
        return 0;
    size_t used = (size_t)err.position;
    json_t *instance = NULL;
    if (used < len)
        instance = json_loadb(text + used, len - used, JSON_DECODE_ANY, &err);
    if (!instance)
        instance = json_object(); /* an empty rest stands for {} */

    struct schema_options opts = {
        .format_assertion = flags & 1,
        .max_depth = depths[(flags >> 1) & 3],
        .max_errors = error_caps[(flags >> 4) & 3],
    };
    const char *base = flags & 8 ? "https://example.com/fuzz/root.json" : NULL;
    char *error = NULL;
    struct schema *schema = schema_compile(NULL, doc, base, &opts, &error);
    if (!schema) {
        if (!error) {
            fprintf(stderr, "fuzz_schema: compile failed without a message\n");
            abort();
        }
        free(error);
        goto out;
    }
    bool valid = schema_validate(schema, instance, NULL);
    struct schema_errors errors = {0};
    bool again = schema_validate(schema, instance, &errors);
    if (valid != again) {
        fprintf(stderr, "fuzz_schema: verdict differs with error collection\n");
        abort();
    }
    check_errors(&errors, valid);
    schema_errors_finish(&errors);
    schema_destroy(schema);
out:
    json_decref(instance);
    json_decref(doc);
    return 0;
}
