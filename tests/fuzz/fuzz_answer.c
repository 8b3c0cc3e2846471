/* Fuzz target: the answer reader of every tool (tools/answer.c and each
 * tool's read function) on an upstream answer made from the input.
 *
 * Input: six bytes of set-up, then three fields separated by the first two
 * newlines: Content-Type, libcurl's error text, and the body (the rest,
 * which may hold more newlines). A missing field is empty.
 *   byte 0  the tool (index into tool_table)
 *   byte 1  below 128: an answer (HTTP_ANSWERED); else an outcome, n % 8
 *   byte 2  below 128: a status from a table of the usual ones; else a raw
 *           status 100..699 from bytes 2 and 3
 *   byte 4  Retry-After: absent, byte 3 seconds, a billion, or the most
 *           http.c reports (LONG_MAX / 1000)
 *   byte 5  bit 0: no Content-Type at all; bit 1: maybe_delivered;
 *           bit 2: the call's arguments hold only the required members
 *
 * Checks besides the sanitizers, as dispatch relies on them: exactly one
 * of structured and error_text is set; an error text makes a
 * CallToolResult (it must be valid UTF-8); a structured result serialises
 * and validates against the tool's output schema, formats asserted. */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema/schema.h"
#include "schemas/embedded.h"
#include "server/dispatch.h"
#include "tools/tool.h"

/* Valid arguments per tool, in tool_table order by name: all members, and
 * only the required ones. */
static const struct {
    const char *tool, *full, *minimal;
} arguments[] = {
    {"send_otp",
     "{\"mobile\":\"+919876543210\",\"template_id\":\"tmpl_1\",\"otp\":\"123456\","
     "\"otp_length\":6,\"otp_expiry\":10,\"variables\":{\"name\":\"Asha\"}}",
     "{\"mobile\":\"919876543210\"}"},
    {"resend_otp", "{\"mobile\":\"+919876543210\",\"retry_type\":\"voice\"}",
     "{\"mobile\":\"919876543210\"}"},
    {"verify_otp", "{\"mobile\":\"+919876543210\",\"otp\":\"1234\"}",
     "{\"mobile\":\"919876543210\",\"otp\":\"123456789\"}"},
    {"send_sms_flow",
     "{\"template_id\":\"flow-1\",\"recipients\":[{\"mobiles\":\"919876543210\","
     "\"name\":\"Asha\"},{\"mobiles\":\"+14155550123\"}],\"short_url\":true,"
     "\"short_url_expiry\":3600,\"realtime_response\":true}",
     "{\"template_id\":\"f\",\"recipients\":[{\"mobiles\":\"919876543210\"}]}"},
    {"create_user_events",
     "{\"identifier\":\"asha@example.com\",\"events\":[{\"name\":\"login\","
     "\"timestamp\":\"2026-01-01T00:00:00Z\",\"properties\":{\"k\":[1,2]}},"
     "{\"name\":\"purchase\"}]}",
     "{\"identifier\":\"contact-1001\",\"events\":[{\"name\":\"login\"}]}"},
    {"get_event_types", "{}", "{}"},
    {"get_failed_events",
     "{\"campaign_id\":\"1032\",\"page\":2,\"limit\":5,\"start_date\":\"2026-01-01\","
     "\"end_date\":\"2026-02-01\"}",
     "{\"campaign_id\":\"welcome\"}"},
    {"list_campaigns", "{\"page\":3,\"limit\":100}", "{}"},
};
#define N_ARGUMENTS (sizeof arguments / sizeof arguments[0])

static const long statuses[] = {200, 201, 202, 204, 301, 400, 401, 403, 404,
                                405, 409, 413, 422, 429, 500, 502, 503, 504};
#define N_STATUSES (sizeof statuses / sizeof statuses[0])

static struct schema *output_schemas[N_ARGUMENTS];
static json_t *args_full[N_ARGUMENTS], *args_minimal[N_ARGUMENTS];
static bool ready;

static void setup(void)
{
    struct schema_options opts = {.format_assertion = true};
    for (unsigned i = 0; i < tool_table_len && i < N_ARGUMENTS; i++) {
        const char *name = tool_table[i]->name;
        unsigned a = 0;
        while (a < N_ARGUMENTS && strcmp(arguments[a].tool, name) != 0)
            a++;
        char file[128];
        snprintf(file, sizeof file, "%s.output.json", name);
        const struct embedded_file *ef = embedded_find(file);
        json_t *doc = ef ? json_loadb(ef->text, ef->len, 0, NULL) : NULL;
        char *error = NULL;
        output_schemas[i] = doc ? schema_compile(NULL, doc, NULL, &opts, &error) : NULL;
        json_decref(doc);
        if (a == N_ARGUMENTS || !output_schemas[i]) {
            fprintf(stderr, "fuzz_answer: no arguments or output schema for %s: %s\n",
                    name, error ? error : "");
            abort();
        }
        args_full[i] = json_loads(arguments[a].full, 0, NULL);
        args_minimal[i] = json_loads(arguments[a].minimal, 0, NULL);
        if (!args_full[i] || !args_minimal[i])
            abort();
    }
    ready = true;
}

/* Cuts the next field, up to a newline, out of *p; returns a malloc'd copy. */
static char *next_field(const char **p, const char *end)
{
    const char *nl = memchr(*p, '\n', (size_t)(end - *p));
    const char *stop = nl ? nl : end;
    /* Not strndup: the input has no NUL after its last byte, and strndup
     * may look one byte past n for it (ASan's strict_string_checks). */
    size_t n = (size_t)(stop - *p);
    char *out = malloc(n + 1);
    if (!out)
        abort();
    memcpy(out, *p, n);
    out[n] = '\0';
    *p = nl ? nl + 1 : end;
    return out;
}

static void check_outcome(unsigned t, struct tool_outcome *out)
{
    if (!out->structured == !out->error_text) {
        fprintf(stderr, "fuzz_answer: %s set %s\n", tool_table[t]->name,
                out->structured ? "both results" : "no result");
        abort();
    }
    if (out->error_text) {
        json_t *r = dispatch_error_result(out->error_text);
        if (!r) {
            fprintf(stderr, "fuzz_answer: unusable error text: %s\n", out->error_text);
            abort();
        }
        json_decref(r);
        return;
    }
    char *text = json_dumps(out->structured, JSON_COMPACT);
    struct schema_errors errors = {0};
    if (!text || !schema_validate(output_schemas[t], out->structured, &errors)) {
        char *why = schema_errors_text(&errors);
        fprintf(stderr, "fuzz_answer: %s result breaks its output schema: %s\n%s\n",
                tool_table[t]->name, text ? text : "(no text)", why ? why : "");
        abort();
    }
    schema_errors_finish(&errors);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!ready)
        setup();
    if (size < 6)
        return 0;
    unsigned t = data[0] % tool_table_len;
    struct http_response resp = {
        .outcome = data[1] < 128 ? HTTP_ANSWERED : (enum http_outcome)(data[1] % 8),
        .status = data[2] < 128 ? statuses[data[2] % N_STATUSES]
                                : 100 + (((long)data[2] << 8 | data[3]) % 600),
        .attempts = 1,
        .elapsed_ms = 12.5,
        .maybe_delivered = data[5] & 2,
    };
    static const long big_waits[2] = {1000000000L, LONG_MAX / 1000};
    resp.retry_after_s = data[4] % 4 == 0   ? -1
                         : data[4] % 4 == 1 ? (long)data[3]
                                            : big_waits[data[4] % 4 - 2];
    const char *p = (const char *)data + 6, *end = (const char *)data + size;
    char *content_type = next_field(&p, end);
    char *error = next_field(&p, end);
    size_t body_len = (size_t)(end - p);
    char *body = malloc(body_len + 1);
    if (!body)
        abort();
    memcpy(body, p, body_len);
    body[body_len] = '\0';
    resp.content_type = data[5] & 1 ? NULL : content_type;
    resp.error = error;
    resp.body = body;
    resp.body_len = body_len;

    const struct tool_def *tool = tool_table[t];
    struct tool_read_ctx ctx = {
        .tool = tool, .timeout_ms = 15000, .endpoint = &tool->endpoint};
    struct tool_outcome out = {0};
    tool_read(&ctx, &resp, data[5] & 4 ? args_minimal[t] : args_full[t], &out);
    check_outcome(t, &out);
    tool_outcome_finish(&out);
    free(body);
    free(error);
    free(content_type);
    return 0;
}
