/* Helpers for the suites that read MSG91 answers (toolutil.h). */
#include "tests/toolutil.h"

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema/schema.h"
#include "schemas/embedded.h"

struct http_response toolutil_answered(long status, const char *body, const char *type)
{
    struct http_response r = {
        .outcome = HTTP_ANSWERED,
        .status = status,
        .body = body,
        .body_len = strlen(body),
        .retry_after_s = -1,
        .content_type = type,
        .error = "",
        .attempts = 1,
        .maybe_delivered = true,
    };
    return r;
}

void toolutil_read(const char *name, const struct tool_endpoint *endpoint,
                   const char *args_text, const struct http_response *resp,
                   struct tool_outcome *out)
{
    const struct tool_def *t = tool_find(name);
    ck_assert_msg(t != NULL, "no tool %s", name);
    struct tool_read_ctx ctx = {.tool = t, .timeout_ms = 15000, .endpoint = endpoint};
    json_error_t err;
    json_t *args = json_loads(args_text, 0, &err);
    ck_assert_msg(args != NULL, "bad test JSON %s: %s", args_text, err.text);
    memset(out, 0, sizeof *out);
    tool_read(&ctx, resp, args, out);
    json_decref(args);
}

void toolutil_expect_conforms(const char *name, json_t *result)
{
    char file[128];
    snprintf(file, sizeof file, "%s.output.json", name);
    const struct embedded_file *f = embedded_find(file);
    ck_assert_msg(f != NULL, "no embedded %s", file);
    json_t *doc = json_loadb(f->text, f->len, 0, NULL);
    ck_assert_ptr_nonnull(doc);
    char *error = NULL;
    struct schema_options opts = {.format_assertion = true};
    struct schema *schema = schema_compile(NULL, doc, NULL, &opts, &error);
    ck_assert_msg(schema != NULL, "%s: %s", file, error ? error : "");
    struct schema_errors errors = {0};
    bool ok = schema_validate(schema, result, &errors);
    char *text = ok ? NULL : schema_errors_text(&errors);
    ck_assert_msg(ok, "%s result does not conform: %s", name, text ? text : "");
    free(text);
    schema_errors_finish(&errors);
    schema_destroy(schema);
    json_decref(doc);
}
