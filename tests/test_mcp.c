/* The MCP session driven line by line, with no stdio: every reply is
 * compared with the exact line or the exact fields expected. */
#include <check.h>
#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "sandbox/sandbox.h"
#include "server/config.h"
#include "server/dispatch.h"
#include "server/mcp.h"
#include "tests/alloc_hook.h"
#include "tests/testutil.h"
#include "util/log.h"
#include "util/redact.h"

/* The per-request _meta of 2026-07-28, naming the version v. */
#define META_V(v)                                                                        \
    "\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":\"" v "\","                  \
    "\"io.modelcontextprotocol/clientCapabilities\":{},"                                 \
    "\"io.modelcontextprotocol/clientInfo\":{\"name\":\"modern-test\",\"version\":"      \
    "\"2\"}}"
#define META META_V("2026-07-28")
#define SERVER_INFO_META                                                                 \
    "\"_meta\":{\"io.modelcontextprotocol/serverInfo\":{\"name\":\"msg91-mcp\","         \
    "\"version\":\"" MSG91_MCP_VERSION "\",\"title\":\"MSG91\",\"description\":"         \
    "\"MSG91 OTP, SMS and Segmento tools over MCP\"}}"

struct harness {
    uv_loop_t loop;
    struct config cfg;
    struct dispatch *dispatch;
    struct mcp_session *session;
    char *lines[256];
    int turns[256];      /* the loop turn each line was written in */
    uint64_t times[256]; /* the loop time (ms) each line was written at */
    int count;
    int turn;
    int refuse; /* the next `refuse` writes fail as if memory ran out */
};

static int capture(void *data, const char *line, size_t len)
{
    struct harness *h = data;
    alloc_hook_suspend();
    ck_assert_int_lt(h->count, 256);
    ck_assert_uint_eq(strlen(line), len);
    ck_assert_ptr_null(strchr(line, '\n'));
    int rc = 0;
    if (h->refuse > 0) {
        h->refuse--;
        rc = UV_ENOMEM;
    } else {
        h->turns[h->count] = h->turn;
        h->times[h->count] = uv_now(&h->loop);
        h->lines[h->count++] = strndup(line, len);
    }
    alloc_hook_resume();
    return rc;
}

static void setup_with(struct harness *h, void (*tweak)(struct config *))
{
    memset(h, 0, sizeof *h);
    uv_loop_init(&h->loop);
    config_init(&h->cfg);
    if (tweak)
        tweak(&h->cfg);
    char *error = NULL;
    h->dispatch = dispatch_create(&h->cfg, &h->loop, &error);
    ck_assert_msg(h->dispatch != NULL, "%s", error);
    h->session = mcp_session_create(&h->loop, h->dispatch, &h->cfg, capture, h);
}

static void teardown_harness(struct harness *h)
{
    mcp_session_destroy(h->session);
    dispatch_destroy(h->dispatch, NULL, NULL);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    uv_loop_close(&h->loop);
    config_finish(&h->cfg);
    for (int i = 0; i < h->count; i++)
        free(h->lines[i]);
}

static void send_line(struct harness *h, const char *line)
{
    mcp_session_handle_line(h->session, line, strlen(line));
}

/* Sends one line and returns the single reply it caused, parsed. */
static json_t *exchange(struct harness *h, const char *line)
{
    int before = h->count;
    send_line(h, line);
    ck_assert_msg(h->count == before + 1, "expected one reply to %s, got %d", line,
                  h->count - before);
    json_error_t err;
    json_t *v = json_loads(h->lines[h->count - 1], JSON_DECODE_ANY, &err);
    ck_assert_msg(v != NULL, "reply is not JSON: %s", h->lines[h->count - 1]);
    return v;
}

static void initialize(struct harness *h, const char *version)
{
    char line[256];
    snprintf(
        line, sizeof line,
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"
        "{\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":{\"name\":\"t\","
        "\"version\":\"1\"}}}",
        version);
    json_decref(exchange(h, line));
}

static const char *error_message(json_t *reply, int *code)
{
    json_t *e = json_object_get(reply, "error");
    ck_assert_ptr_nonnull(e);
    *code = (int)json_integer_value(json_object_get(e, "code"));
    return json_string_value(json_object_get(e, "message"));
}

static const char *first_text(json_t *reply)
{
    json_t *content = json_object_get(json_object_get(reply, "result"), "content");
    return json_string_value(json_object_get(json_array_get(content, 0), "text"));
}

static bool is_tool_error(json_t *reply)
{
    return json_is_true(json_object_get(json_object_get(reply, "result"), "isError"));
}

START_TEST(negotiates_each_version)
{
    static const char *const versions[][2] = {
        {"2024-11-05", "2024-11-05"}, {"2025-03-26", "2025-03-26"},
        {"2025-06-18", "2025-06-18"}, {"2025-11-25", "2025-11-25"},
        {"2099-01-01", "2025-11-25"}, {"2024-10-07", "2025-11-25"},
        {"2026-07-28", "2025-11-25"},
    };
    for (size_t i = 0; i < sizeof versions / sizeof *versions; i++) {
        struct harness h;
        setup_with(&h, NULL);
        char line[256];
        snprintf(line, sizeof line,
                 "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":"
                 "{\"protocolVersion\":\"%s\",\"capabilities\":{}}}",
                 versions[i][0]);
        json_t *r = exchange(&h, line);
        json_t *result = json_object_get(r, "result");
        ck_assert_str_eq(json_string_value(json_object_get(result, "protocolVersion")),
                         versions[i][1]);
        ck_assert_str_eq(mcp_session_version(h.session), versions[i][1]);
        json_t *caps = json_object_get(result, "capabilities");
        ck_assert_int_eq(json_object_size(caps), 2);
        ck_assert(json_is_false(
            json_object_get(json_object_get(caps, "tools"), "listChanged")));
        ck_assert(json_is_object(json_object_get(caps, "logging")));
        json_t *info = json_object_get(result, "serverInfo");
        ck_assert_str_eq(json_string_value(json_object_get(info, "name")), "msg91-mcp");
        ck_assert_str_eq(json_string_value(json_object_get(info, "version")),
                         MSG91_MCP_VERSION);
        ck_assert_int_eq(json_object_get(info, "title") != NULL,
                         strcmp(versions[i][1], "2025-06-18") >= 0);
        const char *instr = json_string_value(json_object_get(result, "instructions"));
        ck_assert_ptr_nonnull(strstr(instr, "send_otp"));
        ck_assert_ptr_nonnull(strstr(instr, "verify_otp"));
        ck_assert_ptr_nonnull(strstr(instr, "resend_otp"));
        json_decref(r);
        teardown_harness(&h);
    }
}
END_TEST

START_TEST(initialize_errors)
{
    struct harness h;
    setup_with(&h, NULL);
    int code;
    json_t *r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\"}");
    ck_assert_str_eq(error_message(r, &code),
                     "initialize needs params.protocolVersion (a string)");
    ck_assert_int_eq(code, -32602);
    json_decref(r);
    initialize(&h, "2025-11-25");
    r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"initialize\",\"params\":"
                     "{\"protocolVersion\":\"2025-11-25\"}}");
    ck_assert_str_eq(error_message(r, &code), "the session is already initialized");
    ck_assert_int_eq(code, -32600);
    json_decref(r);
    teardown_harness(&h);
}
END_TEST

START_TEST(before_initialize)
{
    struct harness h;
    setup_with(&h, NULL);
    json_t *r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"method\":\"ping\"}");
    ck_assert_str_eq(h.lines[0], "{\"jsonrpc\":\"2.0\",\"id\":\"p\",\"result\":{}}");
    json_decref(r);
    int code;
    r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
    ck_assert_str_eq(error_message(r, &code),
                     "Server not initialized: send initialize first");
    ck_assert_int_eq(code, -32600);
    json_decref(r);
    r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":"
                     "{\"name\":\"send_otp\"}}");
    error_message(r, &code);
    ck_assert_int_eq(code, -32600);
    json_decref(r);
    r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":\"d\",\"method\":\"server/discover\","
                     "\"params\":{\"_meta\":{}}}");
    ck_assert_str_eq(h.lines[h.count - 1],
                     "{\"jsonrpc\":\"2.0\",\"id\":\"d\",\"error\":"
                     "{\"code\":-32601,\"message\":\"Method not found\"}}");
    json_decref(r);
    teardown_harness(&h);
}
END_TEST

START_TEST(notifications_get_no_reply)
{
    struct harness h;
    setup_with(&h, NULL);
    initialize(&h, "2025-11-25");
    int before = h.count;
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    send_line(
        &h, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/whatever\",\"params\":{}}");
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                  "\"params\":{\"requestId\":99}}");
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":{}}");
    ck_assert_int_eq(h.count, before);
    teardown_harness(&h);
}
END_TEST

START_TEST(protocol_errors)
{
    struct harness h;
    setup_with(&h, NULL);
    initialize(&h, "2025-11-25");
    /* 2025-11-25 forbids a null id: an error with no readable id has none. */
    send_line(&h, "{not json");
    ck_assert_str_eq(h.lines[h.count - 1],
                     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":"
                     "\"Parse error: the line is not valid JSON\"}}");
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"resources/list\"}");
    ck_assert_str_eq(
        h.lines[h.count - 1],
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32601,\"message\":"
        "\"Method not found\"}}");
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":8}");
    ck_assert_str_eq(
        h.lines[h.count - 1],
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"error\":{\"code\":-32600,\"message\":"
        "\"Invalid Request: \\\"method\\\" is missing\"}}");
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":"
                  "{\"name\":\"get_failed_events\",\"arguments\":{\"campaign_id\":"
                  "\"1\\u0000/..\"}}}");
    ck_assert_str_eq(
        h.lines[h.count - 1],
        "{\"jsonrpc\":\"2.0\",\"id\":9,\"result\":{\"content\":[{\"type\":\"text\","
        "\"text\":\"Invalid arguments: a string holds a NUL character (\\\\u0000), "
        "which no MSG91 field accepts; remove it and send the request again\"}],"
        "\"isError\":true}}");
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"p\\u0000ing\"}");
    ck_assert_str_eq(
        h.lines[h.count - 1],
        "{\"jsonrpc\":\"2.0\",\"id\":10,\"error\":{\"code\":-32602,\"message\":"
        "\"Invalid params: a string holds a NUL character (\\\\u0000), which no "
        "MSG91 field accepts\"}}");
    mcp_session_line_too_big(h.session, 1024);
    ck_assert_str_eq(
        h.lines[h.count - 1],
        "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":"
        "\"Invalid Request: the message is larger than the 1024-byte line limit "
        "and was discarded (MSG91_MAX_LINE_BYTES)\"}}");
    teardown_harness(&h);
}
END_TEST

START_TEST(tools_list_by_version)
{
    static const char *const names[] = {
        "send_otp",           "resend_otp",      "verify_otp",        "send_sms_flow",
        "create_user_events", "get_event_types", "get_failed_events", "list_campaigns",
    };
    static const char *const versions[] = {"2024-11-05", "2025-03-26", "2025-06-18",
                                           "2025-11-25"};
    for (int v = 0; v < 4; v++) {
        struct harness h;
        setup_with(&h, NULL);
        initialize(&h, versions[v]);
        json_t *r =
            exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
        json_t *tools = json_object_get(json_object_get(r, "result"), "tools");
        ck_assert_int_eq(json_array_size(tools), 8);
        ck_assert_ptr_null(json_object_get(json_object_get(r, "result"), "nextCursor"));
        for (size_t i = 0; i < 8; i++) {
            json_t *t = json_array_get(tools, i);
            ck_assert_str_eq(json_string_value(json_object_get(t, "name")), names[i]);
            ck_assert(json_is_string(json_object_get(t, "description")));
            json_t *in = json_object_get(t, "inputSchema");
            ck_assert_str_eq(json_string_value(json_object_get(in, "type")), "object");
            ck_assert(json_is_false(json_object_get(in, "additionalProperties")));
            ck_assert_int_eq(json_object_get(t, "title") != NULL, v >= 2);
            ck_assert_int_eq(json_object_get(t, "outputSchema") != NULL, v >= 2);
            json_t *ann = json_object_get(t, "annotations");
            ck_assert_int_eq(ann != NULL, v >= 1);
            if (ann) {
                ck_assert(json_is_true(json_object_get(ann, "openWorldHint")));
                ck_assert(json_is_false(json_object_get(ann, "destructiveHint")));
                ck_assert_int_eq(json_is_true(json_object_get(ann, "readOnlyHint")),
                                 i >= 5);
                ck_assert_int_eq(json_is_true(json_object_get(ann, "idempotentHint")),
                                 i >= 5);
            }
        }
        json_decref(r);
        int code;
        r = exchange(&h,
                     "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":"
                     "{\"cursor\":\"abc\"}}");
        ck_assert_str_eq(error_message(r, &code),
                         "invalid cursor: this server lists all tools in one page");
        ck_assert_int_eq(code, -32602);
        json_decref(r);
        teardown_harness(&h);
    }
}
END_TEST

START_TEST(tools_call_protocol_errors)
{
    struct harness h;
    setup_with(&h, NULL);
    initialize(&h, "2025-11-25");
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                  "{\"name\":\"nope\",\"arguments\":{}}}");
    ck_assert_str_eq(
        h.lines[h.count - 1],
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32602,\"message\":"
        "\"Unknown tool: nope\"}}");
    int code;
    json_t *r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\","
                             "\"params\":{\"name\":\"send_otp\",\"arguments\":[1]}}");
    ck_assert_str_eq(error_message(r, &code),
                     "tools/call params.arguments must be an object");
    ck_assert_int_eq(code, -32602);
    json_decref(r);
    r = exchange(
        &h, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{}}");
    ck_assert_str_eq(error_message(r, &code), "tools/call needs params.name (a string)");
    json_decref(r);
    teardown_harness(&h);
}
END_TEST

START_TEST(invalid_arguments_are_tool_errors)
{
    struct harness h;
    setup_with(&h, NULL);
    initialize(&h, "2025-11-25");
    json_t *r =
        exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                     "\"params\":{\"name\":\"send_otp\",\"arguments\":{\"mobile\":"
                     "\"12ab\",\"otp_length\":12,\"surprise\":1}}}");
    ck_assert(is_tool_error(r));
    const char *text = first_text(r);
    ck_assert_msg(strstr(text, "Invalid arguments for send_otp"), "%s", text);
    ck_assert_msg(strstr(text, "/otp_length: must be at most 9"), "%s", text);
    ck_assert_msg(strstr(text, "/mobile: does not match ^\\+?[0-9]{8,15}$"), "%s", text);
    ck_assert_msg(strstr(text, "/: unexpected property \"surprise\""), "%s", text);
    json_decref(r);
    /* Numbers as strings are errors, not guesses. */
    r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
                     "{\"name\":\"list_campaigns\",\"arguments\":{\"page\":\"2\"}}}");
    ck_assert(is_tool_error(r));
    ck_assert_msg(strstr(first_text(r), "/page:"), "%s", first_text(r));
    json_decref(r);
    teardown_harness(&h);
}
END_TEST

START_TEST(no_key_means_a_tool_error_that_says_how)
{
    struct harness h;
    setup_with(&h, NULL);
    initialize(&h, "2025-11-25");
    json_t *r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                             "\"params\":{\"name\":\"list_campaigns\"}}");
    ck_assert(is_tool_error(r));
    ck_assert_str_eq(
        first_text(r),
        "No MSG91 auth key is configured, so nothing was sent. Set "
        "MSG91_AUTH_KEY (or MSG91_AUTH_KEY_FILE) in this server's environment, "
        "or start it with --sandbox to try the tools against the built-in "
        "sandbox.");
    json_decref(r);
    teardown_harness(&h);
}
END_TEST

static void read_only(struct config *c)
{
    c->read_only = true;
}

START_TEST(read_only_scope_at_list_and_call)
{
    struct harness h;
    setup_with(&h, read_only);
    initialize(&h, "2025-11-25");
    json_t *r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    json_t *tools = json_object_get(json_object_get(r, "result"), "tools");
    ck_assert_int_eq(json_array_size(tools), 3);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(tools, 0), "name")),
                     "get_event_types");
    json_decref(r);
    r = exchange(&h,
                 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"send_otp\",\"arguments\":{\"mobile\":\"919876543210\"}}}");
    ck_assert(is_tool_error(r));
    ck_assert_str_eq(
        first_text(r),
        "The tool send_otp is not allowed: this server runs in read-only mode "
        "(MSG91_READ_ONLY=1), which allows only get_event_types, "
        "get_failed_events and list_campaigns.");
    json_decref(r);
    teardown_harness(&h);
}
END_TEST

static void dry_run_with_prefix(struct config *c)
{
    c->dry_run = true;
    c->tool_prefix = strdup("msg91_");
    c->tool_settings[SERVICE_SETTING_OTP_TEMPLATE] = strdup("tmpl1");
}

START_TEST(dry_run_and_prefix)
{
    struct harness h;
    setup_with(&h, dry_run_with_prefix);
    initialize(&h, "2025-11-25");
    json_t *r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}");
    json_t *tools = json_object_get(json_object_get(r, "result"), "tools");
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(tools, 0), "name")),
                     "msg91_send_otp");
    json_decref(r);
    r = exchange(&h,
                 "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"send_otp\",\"arguments\":{\"mobile\":\"919876543210\"}}}");
    int code;
    ck_assert_str_eq(error_message(r, &code), "Unknown tool: send_otp");
    json_decref(r);
    r = exchange(
        &h,
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":"
        "{\"name\":\"msg91_send_otp\",\"arguments\":{\"mobile\":\"+919876543210\"}}}");
    ck_assert(is_tool_error(r));
    json_t *result = json_object_get(r, "result");
    ck_assert(
        json_is_true(json_object_get(json_object_get(result, "_meta"), "msg91/dryRun")));
    ck_assert_str_eq(first_text(r),
                     "Dry run (MSG91_DRY_RUN=1): the request below was "
                     "validated and built but NOT sent; nothing was delivered.");
    const char *req = json_string_value(
        json_object_get(json_array_get(json_object_get(result, "content"), 1), "text"));
    json_t *parsed = json_loads(req, 0, NULL);
    ck_assert_str_eq(json_string_value(json_object_get(parsed, "method")), "POST");
    ck_assert_str_eq(
        json_string_value(json_object_get(parsed, "url")),
        "https://control.msg91.com/api/v5/otp?template_id=tmpl1&mobile=919876543210");
    ck_assert_str_eq(
        json_string_value(json_object_get(json_object_get(parsed, "headers"), "authkey")),
        "[REDACTED]");
    json_decref(parsed);
    json_decref(r);
    teardown_harness(&h);
}
END_TEST

static void dry_run_only(struct config *c)
{
    c->dry_run = true;
}

START_TEST(key_never_reaches_the_output)
{
    redact_set_secret("SECRETKEY42");
    struct harness h;
    setup_with(&h, dry_run_only);
    initialize(&h, "2025-11-25");
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                  "{\"name\":\"send_otp\",\"arguments\":{\"mobile\":\"919876543210\","
                  "\"template_id\":\"SECRETKEY42\"}}}");
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":\"SECRETKEY42\",\"method\":\"nope\"}");
    for (int i = 0; i < h.count; i++)
        ck_assert_msg(!strstr(h.lines[i], "SECRETKEY42"), "leaked: %s", h.lines[i]);
    ck_assert_ptr_nonnull(strstr(h.lines[h.count - 2], "template_id=[REDACTED]"));
    teardown_harness(&h);
    redact_clear();
}
END_TEST

START_TEST(logging_set_level_and_notifications)
{
    struct harness h;
    setup_with(&h, NULL);
    initialize(&h, "2025-11-25");
    int code;
    json_t *r =
        exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"logging/setLevel\","
                     "\"params\":{\"level\":\"loud\"}}");
    error_message(r, &code);
    ck_assert_int_eq(code, -32602);
    json_decref(r);
    send_line(&h,
              "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"logging/setLevel\",\"params\":"
              "{\"level\":\"warning\"}}");
    ck_assert_str_eq(h.lines[h.count - 1],
                     "{\"jsonrpc\":\"2.0\",\"id\":2,\"result\":{}}");
    /* stderr shows only errors here; the client still gets its warnings. */
    log_set_level(LOG_LEVEL_ERROR);
    int before = h.count;
    log_info("below the client's level");
    ck_assert_int_eq(h.count, before);
    log_warning("upstream is slow");
    ck_assert_int_eq(h.count, before + 1);
    ck_assert_str_eq(
        h.lines[h.count - 1],
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\",\"params\":"
        "{\"level\":\"warning\",\"logger\":\"msg91-mcp\",\"data\":"
        "\"upstream is slow\"}}");
    teardown_harness(&h);
    log_set_level(LOG_LEVEL_INFO);
}
END_TEST

START_TEST(batches_only_for_2025_03_26)
{
    struct harness h;
    setup_with(&h, NULL);
    initialize(&h, "2025-03-26");
    int before = h.count;
    send_line(&h, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                  "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"},"
                  "{\"jsonrpc\":\"2.0\",\"id\":\"b\",\"method\":\"nope\"}]");
    ck_assert_int_eq(h.count, before + 1);
    ck_assert_str_eq(
        h.lines[h.count - 1],
        "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}},{\"jsonrpc\":\"2.0\",\"id\":"
        "\"b\",\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}]");
    before = h.count;
    send_line(&h, "[{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}]");
    ck_assert_int_eq(h.count, before);
    send_line(&h, "[]");
    ck_assert_str_eq(
        h.lines[h.count - 1],
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32600,\"message\":"
        "\"Invalid Request: empty batch\"}}");
    teardown_harness(&h);

    setup_with(&h, NULL);
    initialize(&h, "2025-11-25");
    send_line(&h, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]");
    ck_assert_str_eq(h.lines[h.count - 1],
                     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":"
                     "\"Invalid Request: batches are only accepted with protocol version "
                     "2025-03-26\"}}");
    teardown_harness(&h);
}
END_TEST

START_TEST(unknown_ids_by_version)
{
    /* Before initialize and in older versions JSON-RPC's null id is used. */
    struct harness h;
    setup_with(&h, NULL);
    send_line(&h, "{not json");
    ck_assert_str_eq(
        h.lines[h.count - 1],
        "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,\"message\":"
        "\"Parse error: the line is not valid JSON\"}}");
    initialize(&h, "2025-06-18");
    send_line(&h, "{not json");
    ck_assert_ptr_nonnull(strstr(h.lines[h.count - 1], "\"id\":null"));
    teardown_harness(&h);
}
END_TEST

static struct sandbox *shared_sandbox;

static size_t discard_body(char *p, size_t size, size_t n, void *data)
{
    (void)p;
    (void)data;
    return size * n;
}

static void against_sandbox(struct config *c)
{
    free(c->base_url);
    if (asprintf(&c->base_url, "http://127.0.0.1:%u",
                 (unsigned)sandbox_port(shared_sandbox)) < 0)
        c->base_url = NULL;
    c->auth_key = strdup("test-key-for-mcp");
}

/* Runs the loop until the session has written `want` lines in all. */
static void run_until(struct harness *h, int want)
{
    for (int i = 0; i < 5000 && h->count < want; i++) {
        h->turn++;
        uv_run(&h->loop, UV_RUN_ONCE);
    }
    ck_assert_int_ge(h->count, want);
}

/* The index of the first line from `from` on holding `needle`, or -1. */
static int find_line(const struct harness *h, int from, const char *needle)
{
    for (int i = from; i < h->count; i++)
        if (strstr(h->lines[i], needle))
            return i;
    return -1;
}

/* POSTs a misbehaviour rule to the shared sandbox's control API. */
static void sandbox_rule(const char *rule)
{
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/_sandbox/misbehave",
             (unsigned)sandbox_port(shared_sandbox));
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, rule);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
    ck_assert_int_eq(curl_easy_perform(c), CURLE_OK);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    ck_assert_int_eq(status, 200);
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
}

/* The loop time, brought up to date (it is cached per turn). */
static uint64_t loop_now(struct harness *h)
{
    uv_update_time(&h->loop);
    return uv_now(&h->loop);
}

/* Checks the progress lines for token (a quoted JSON string, e.g.
 * "\"t1\"") against the result line: each was written at least the hold
 * time after the request was sent, before the result and in an earlier
 * loop turn (the transport writes the lines of one turn together), and
 * none says the call was answered. Returns how many there were. */
static int check_progress(const struct harness *h, int first, const char *token,
                          int result, uint64_t sent_at)
{
    char needle[64];
    snprintf(needle, sizeof needle, "\"progressToken\":%s,", token);
    int n = 0;
    for (int i = first; i < h->count; i++) {
        if (!strstr(h->lines[i], "notifications/progress") ||
            !strstr(h->lines[i], needle))
            continue;
        n++;
        ck_assert_msg(h->times[i] >= sent_at + 250,
                      "progress %llu ms after the request: %s",
                      (unsigned long long)(h->times[i] - sent_at), h->lines[i]);
        ck_assert_msg(i < result && h->turns[i] < h->turns[result],
                      "progress in the result's turn or after it: %s", h->lines[i]);
        ck_assert_msg(h->times[result] >= h->times[i] + 100,
                      "result %llu ms after a progress notification",
                      (unsigned long long)(h->times[result] - h->times[i]));
        ck_assert_ptr_null(strstr(h->lines[i], "answered"));
        ck_assert_ptr_null(strstr(h->lines[i], "\"progress\":3"));
    }
    return n;
}

/* Turns the loop without blocking until nothing more happens in a turn:
 * any line still due would be written now. */
static void drain(struct harness *h)
{
    int before;
    do {
        before = h->count;
        h->turn++;
        uv_run(&h->loop, UV_RUN_NOWAIT);
    } while (h->count != before);
}

START_TEST(a_lingering_call_gets_progress_before_its_result)
{
    /* The upstream takes 800 ms: the call is reported as sent once it has
     * been waiting the hold time, well before its result. */
    char *error = NULL;
    struct sandbox_options opts = {0};
    shared_sandbox = sandbox_create(&opts, &error);
    ck_assert_msg(shared_sandbox != NULL, "%s", error);
    sandbox_rule("{\"tool\":\"list_campaigns\",\"delay_ms\":800,\"count\":1}");
    struct harness h;
    setup_with(&h, against_sandbox);
    initialize(&h, "2025-11-25");
    int first = h.count;
    uint64_t sent_at = loop_now(&h);
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":"
                  "{\"name\":\"list_campaigns\",\"arguments\":{\"limit\":1},"
                  "\"_meta\":{\"progressToken\":\"tok\"}}}");
    int result = -1;
    while (result < 0) {
        run_until(&h, h.count + 1);
        result = find_line(&h, first, "\"id\":7,");
    }
    drain(&h);
    ck_assert_int_eq(h.count, result + 1);
    ck_assert_int_eq(check_progress(&h, first, "\"tok\"", result, sent_at), 1);
    ck_assert_str_eq(
        h.lines[find_line(&h, first, "notifications/progress")],
        "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":"
        "{\"progressToken\":\"tok\",\"progress\":2,\"total\":3,\"message\":"
        "\"sent to MSG91\"}}");
    ck_assert_ptr_null(strstr(h.lines[result], "isError"));
    teardown_harness(&h);
    sandbox_destroy(shared_sandbox);
}
END_TEST

START_TEST(a_result_waits_after_a_late_progress)
{
    /* The upstream answers 280 ms after the request, just after the call's
     * progress went out (at 250 ms): the result waits until 100 ms after
     * it, so that the client has handled the notification before the
     * result comes. Without the wait it followed within a few ms. */
    char *error = NULL;
    struct sandbox_options opts = {0};
    shared_sandbox = sandbox_create(&opts, &error);
    ck_assert_msg(shared_sandbox != NULL, "%s", error);
    struct harness h;
    setup_with(&h, against_sandbox);
    initialize(&h, "2025-11-25");
    for (int call = 0; call < 3; call++) {
        sandbox_rule("{\"tool\":\"list_campaigns\",\"delay_ms\":280,\"count\":1}");
        int first = h.count;
        char line[256], id[32];
        snprintf(line, sizeof line,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"list_campaigns\",\"arguments\":{\"limit\":1},"
                 "\"_meta\":{\"progressToken\":\"late\"}}}",
                 200 + call);
        snprintf(id, sizeof id, "\"id\":%d,", 200 + call);
        uint64_t sent_at = loop_now(&h);
        send_line(&h, line);
        int result = -1;
        while (result < 0) {
            run_until(&h, h.count + 1);
            result = find_line(&h, first, id);
        }
        drain(&h);
        ck_assert_int_eq(h.count, result + 1);
        ck_assert_int_eq(check_progress(&h, first, "\"late\"", result, sent_at), 1);
    }
    teardown_harness(&h);
    sandbox_destroy(shared_sandbox);
}
END_TEST

START_TEST(no_progress_follows_a_quick_result)
{
    /* An upstream that answers at once: whatever progress a call gets
     * comes a hold time after the request and a turn before its result,
     * and nothing for it is written after the result. Before the hold
     * existed, every call's "sent" progress went out in the turn the
     * request was sent, a few milliseconds before the result, and reached
     * the client in the same read. */
    char *error = NULL;
    struct sandbox_options opts = {0};
    shared_sandbox = sandbox_create(&opts, &error);
    ck_assert_msg(shared_sandbox != NULL, "%s", error);
    struct harness h;
    setup_with(&h, against_sandbox);
    initialize(&h, "2025-11-25");
    for (int call = 0; call < 20; call++) {
        int first = h.count;
        char line[256], id[32], token[32];
        snprintf(line, sizeof line,
                 "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"list_campaigns\",\"arguments\":{\"limit\":1},"
                 "\"_meta\":{\"progressToken\":%d}}}",
                 100 + call, call);
        snprintf(id, sizeof id, "\"id\":%d,", 100 + call);
        snprintf(token, sizeof token, "%d", call);
        uint64_t sent_at = loop_now(&h);
        send_line(&h, line);
        int result = -1;
        while (result < 0) {
            run_until(&h, h.count + 1);
            result = find_line(&h, first, id);
        }
        drain(&h);
        ck_assert_int_eq(h.count, result + 1);
        check_progress(&h, first, token, result, sent_at);
        ck_assert_uint_eq(mcp_session_pending(h.session), 0);
    }
    teardown_harness(&h);
    sandbox_destroy(shared_sandbox);
}
END_TEST

/* ---- the 2026-07-28 era ---- */

static json_t *result_of(json_t *reply)
{
    json_t *result = json_object_get(reply, "result");
    ck_assert_msg(json_is_object(result), "no result");
    return result;
}

START_TEST(modern_discover_needs_no_initialize)
{
    struct harness h;
    setup_with(&h, NULL);
    json_t *r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":\"d\",\"method\":"
                             "\"server/discover\",\"params\":{" META "}}");
    json_t *result = result_of(r);
    json_t *want = json_loads(
        "{\"supportedVersions\":[\"2026-07-28\",\"2025-11-25\",\"2025-06-18\","
        "\"2025-03-26\",\"2024-11-05\"],\"capabilities\":{\"tools\":{\"listChanged\":"
        "false}},\"ttlMs\":3600000,\"cacheScope\":\"public\",\"resultType\":"
        "\"complete\"," SERVER_INFO_META "}",
        0, NULL);
    ck_assert_ptr_nonnull(want);
    const char *instr = json_string_value(json_object_get(result, "instructions"));
    ck_assert_ptr_nonnull(strstr(instr, "verify_otp"));
    json_object_del(result, "instructions");
    ck_assert_msg(json_equal(result, want), "%s", h.lines[h.count - 1]);
    json_decref(want);
    json_decref(r);
    /* Nothing was negotiated: a legacy request still needs initialize. */
    ck_assert_ptr_null(mcp_session_version(h.session));
    int code;
    r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
    error_message(r, &code);
    ck_assert_int_eq(code, -32600);
    json_decref(r);
    teardown_harness(&h);
}
END_TEST

START_TEST(modern_tools_list_has_cache_hints)
{
    struct harness h;
    setup_with(&h, NULL);
    json_t *r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
                             "\"params\":{" META "}}");
    json_t *result = result_of(r);
    json_t *tools = json_object_get(result, "tools");
    ck_assert_int_eq(json_array_size(tools), 8);
    for (size_t i = 0; i < 8; i++) {
        json_t *t = json_array_get(tools, i);
        ck_assert(json_is_string(json_object_get(t, "title")));
        ck_assert(json_is_object(json_object_get(t, "outputSchema")));
        ck_assert(json_is_object(json_object_get(t, "annotations")));
    }
    ck_assert_int_eq(json_integer_value(json_object_get(result, "ttlMs")), 300000);
    ck_assert_str_eq(json_string_value(json_object_get(result, "cacheScope")), "public");
    ck_assert_str_eq(json_string_value(json_object_get(result, "resultType")),
                     "complete");
    ck_assert_ptr_nonnull(json_object_get(json_object_get(result, "_meta"),
                                          "io.modelcontextprotocol/serverInfo"));
    json_decref(r);
    /* A list that depends on who asks may not be shared between callers. */
    mcp_session_set_caller_scoped(h.session, true);
    r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\","
                     "\"params\":{" META "}}");
    ck_assert_str_eq(json_string_value(json_object_get(result_of(r), "cacheScope")),
                     "private");
    json_decref(r);
    /* The legacy era has none of it. */
    initialize(&h, "2025-11-25");
    r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}");
    result = result_of(r);
    ck_assert_int_eq(json_object_size(result), 1);
    json_decref(r);
    teardown_harness(&h);
}
END_TEST

START_TEST(modern_tool_results_carry_result_type)
{
    /* A dry run's result keeps its own _meta beside the server's name. */
    struct harness h;
    setup_with(&h, dry_run_only);
    json_t *r =
        exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
                     "{\"name\":\"send_otp\",\"arguments\":{\"mobile\":\"+919876543210\","
                     "\"template_id\":\"t1\"}," META "}}");
    json_t *result = result_of(r);
    ck_assert_str_eq(json_string_value(json_object_get(result, "resultType")),
                     "complete");
    json_t *meta = json_object_get(result, "_meta");
    ck_assert(json_is_true(json_object_get(meta, "msg91/dryRun")));
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_object_get(meta, "io.modelcontextprotocol/serverInfo"), "name")),
        "msg91-mcp");
    json_decref(r);
    /* Invalid arguments: a tool error, a result like any other. */
    r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
                     "{\"name\":\"verify_otp\",\"arguments\":{}," META "}}");
    ck_assert(is_tool_error(r));
    ck_assert_str_eq(json_string_value(json_object_get(result_of(r), "resultType")),
                     "complete");
    json_decref(r);
    teardown_harness(&h);

    /* A success from upstream: the line that reuses the text block ends with
     * the members 2026-07-28 adds. */
    char *error = NULL;
    struct sandbox_options opts = {0};
    shared_sandbox = sandbox_create(&opts, &error);
    ck_assert_msg(shared_sandbox != NULL, "%s", error);
    setup_with(&h, against_sandbox);
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":"
                  "{\"name\":\"list_campaigns\",\"arguments\":{\"limit\":1}," META "}}");
    run_until(&h, 1);
    const char *line = h.lines[0];
    static const char tail[] = ",\"resultType\":\"complete\"," SERVER_INFO_META "}}";
    size_t n = strlen(line);
    ck_assert_msg(n > sizeof tail && !strcmp(line + n - (sizeof tail - 1), tail), "%s",
                  line);
    r = json_loads(line, 0, NULL);
    result = result_of(r);
    json_t *text = json_loads(first_text(r), 0, NULL);
    ck_assert(json_equal(text, json_object_get(result, "structuredContent")));
    json_decref(text);
    json_decref(r);
    teardown_harness(&h);
    sandbox_destroy(shared_sandbox);
}
END_TEST

START_TEST(modern_envelope_errors)
{
    static const char *const cases[][2] = {
        /* an unknown version: the versions we speak, and the one asked for */
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META_V(
             "v999.0.0") "}}",
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"error\":{\"code\":-32022,\"message\":"
         "\"Unsupported protocol version\",\"data\":{\"supported\":[\"2026-07-28\","
         "\"2025-11-25\",\"2025-06-18\",\"2025-03-26\",\"2024-11-05\"],\"requested\":"
         "\"v999.0.0\"}}}"},
        {"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\",\"params\":{\"_meta\":"
         "{\"io.modelcontextprotocol/protocolVersion\":20260728}}}",
         "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32602,\"message\":"
         "\"Invalid params: _meta[\\\"io.modelcontextprotocol/protocolVersion\\\"] "
         "must be a string\"}}"},
        {"{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\",\"params\":{\"_meta\":"
         "{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}",
         "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-32602,\"message\":"
         "\"Invalid params: _meta[\\\"io.modelcontextprotocol/clientCapabilities\\\"] "
         "is required (an object)\"}}"},
        {"{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\",\"params\":{\"_meta\":"
         "{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
         "\"io.modelcontextprotocol/clientCapabilities\":{},"
         "\"io.modelcontextprotocol/logLevel\":\"loud\"}}}",
         "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32602,\"message\":"
         "\"level must be one of debug, info, notice, warning, error, critical, alert, "
         "emergency\"}}"},
        /* the methods 2026-07-28 removed, and one it never had */
        {"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"initialize\",\"params\":{"
         "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}," META "}}",
         "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32601,\"message\":"
         "\"Method not found\"}}"},
        {"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"ping\",\"params\":{" META "}}",
         "{\"jsonrpc\":\"2.0\",\"id\":6,\"error\":{\"code\":-32601,\"message\":"
         "\"Method not found\"}}"},
        {"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"logging/setLevel\",\"params\":"
         "{\"level\":\"debug\"," META "}}",
         "{\"jsonrpc\":\"2.0\",\"id\":7,\"error\":{\"code\":-32601,\"message\":"
         "\"Method not found\"}}"},
        {"{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"resources/list\",\"params\":{" META
         "}}",
         "{\"jsonrpc\":\"2.0\",\"id\":8,\"error\":{\"code\":-32601,\"message\":"
         "\"Method not found\"}}"},
        /* a legacy version in _meta is the legacy era: it needs initialize */
        {"{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/list\",\"params\":{" META_V(
             "2025-11-25") "}}",
         "{\"jsonrpc\":\"2.0\",\"id\":9,\"error\":{\"code\":-32600,\"message\":"
         "\"Server not initialized: send initialize first\"}}"},
    };
    struct harness h;
    setup_with(&h, NULL);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        send_line(&h, cases[i][0]);
        ck_assert_str_eq(h.lines[h.count - 1], cases[i][1]);
    }
    /* A valid log level is accepted (and no log line is sent for it). */
    int before = h.count;
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":10,\"method\":\"server/discover\","
                  "\"params\":{\"_meta\":{\"io.modelcontextprotocol/protocolVersion\":"
                  "\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{},"
                  "\"io.modelcontextprotocol/logLevel\":\"debug\"}}}");
    ck_assert_int_eq(h.count, before + 1);
    ck_assert_ptr_nonnull(strstr(h.lines[before], "\"supportedVersions\""));
    /* After a 2026-07-28 request, an error whose id is unknown has none. */
    send_line(&h, "{not json");
    ck_assert_str_eq(h.lines[h.count - 1],
                     "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32700,\"message\":"
                     "\"Parse error: the line is not valid JSON\"}}");
    teardown_harness(&h);
}
END_TEST

START_TEST(both_eras_on_one_session)
{
    /* A legacy session and stateless requests side by side: each request
     * is served in its own era, and neither changes the other. */
    struct harness h;
    setup_with(&h, NULL);
    initialize(&h, "2025-03-26");
    json_t *r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\","
                             "\"params\":{" META "}}");
    json_t *t = json_array_get(json_object_get(result_of(r), "tools"), 0);
    ck_assert_ptr_nonnull(json_object_get(t, "outputSchema"));
    json_decref(r);
    r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}");
    t = json_array_get(json_object_get(result_of(r), "tools"), 0);
    ck_assert_ptr_null(json_object_get(t, "outputSchema"));
    ck_assert_ptr_null(json_object_get(result_of(r), "resultType"));
    json_decref(r);
    ck_assert_str_eq(mcp_session_version(h.session), "2025-03-26");
    r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"}");
    ck_assert_str_eq(h.lines[h.count - 1],
                     "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}");
    json_decref(r);
    teardown_harness(&h);
}
END_TEST

START_TEST(initialize_offers_a_legacy_version_for_2026)
{
    /* A handshake cannot open the stateless era. */
    struct harness h;
    setup_with(&h, NULL);
    json_t *r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\","
                             "\"params\":{\"protocolVersion\":\"2026-07-28\","
                             "\"capabilities\":{}}}");
    ck_assert_str_eq(json_string_value(json_object_get(result_of(r), "protocolVersion")),
                     "2025-11-25");
    ck_assert_ptr_null(json_object_get(result_of(r), "resultType"));
    json_decref(r);
    teardown_harness(&h);
}
END_TEST

/* One message through the HTTP entry; returns the status it maps to and
 * leaves the reply (if any) as the last line. */
static int http_exchange(struct harness *h, const char *body, const char *version,
                         const char *method, const char *name, struct mcp_outcome *out)
{
    struct mcp_http_request req = {version, method, name};
    mcp_session_handle_message(h->session, body, strlen(body), &req, out);
    return mcp_outcome_http_status(out);
}

static const char *last_error_code(const struct harness *h, char *buf, size_t size)
{
    json_t *v = json_loads(h->lines[h->count - 1], 0, NULL);
    int code =
        (int)json_integer_value(json_object_get(json_object_get(v, "error"), "code"));
    json_decref(v);
    snprintf(buf, size, "%d", code);
    return buf;
}

START_TEST(http_entry_checks_headers_in_order)
{
    static const char list[] =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\",\"params\":{" META "}}";
    static const char call[] =
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"verify_otp\",\"arguments\":{}," META "}}";
    static const char odd_meta[] =
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\",\"params\":{" META_V(
            "v999.0.0") "}}";
    static const char no_caps[] =
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/list\",\"params\":{\"_meta\":"
        "{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\"}}}";
    static const struct {
        const char *body, *version, *method, *name;
        int status;
        const char *code; /* of the error reply, "0" for a result */
        bool modern, bad_envelope;
    } cases[] = {
        {list, "2026-07-28", "tools/list", NULL, 200, "0", true, false},
        {call, "2026-07-28", "tools/call", "verify_otp", 200, "0", true, false},
        /* a supported header with another version in _meta */
        {odd_meta, "2026-07-28", "tools/list", NULL, 400, "-32020", true, true},
        /* an unknown version in the header wins over the mismatch */
        {odd_meta, "v999.0.0", "tools/list", NULL, 400, "-32022", true, true},
        /* a missing _meta field comes before the header comparison */
        {no_caps, "2026-07-28", "tools/call", NULL, 400, "-32602", true, true},
        {list, "2026-07-28", "tools/call", NULL, 400, "-32020", true, true},
        {list, "2026-07-28", NULL, NULL, 400, "-32020", true, true},
        {call, "2026-07-28", "tools/call", NULL, 400, "-32020", true, true},
        {call, "2026-07-28", "tools/call", "send_otp", 400, "-32020", true, true},
        /* a 2026-07-28 body without the header */
        {list, NULL, "tools/list", NULL, 400, "-32020", true, true},
        {"{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"ping\",\"params\":{" META "}}",
         "2026-07-28", "ping", NULL, 404, "-32601", true, false},
        /* the legacy era over HTTP: served without a handshake */
        {"{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/list\"}", "2025-11-25", NULL,
         NULL, 200, "0", false, false},
        {"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"nope\"}", "2025-06-18", NULL, NULL,
         200, "-32601", false, false},
        {"{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", "2025-11-25",
         NULL, NULL, 202, "0", false, false},
        /* not a JSON-RPC message, and a batch the version does not allow */
        {"{not json", "2026-07-28", NULL, NULL, 400, "-32700", false, true},
        {"5", "2025-11-25", NULL, NULL, 400, "-32600", false, true},
        {"[{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/list\"}]", "2025-11-25", NULL,
         NULL, 400, "-32600", false, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct harness h;
        setup_with(&h, NULL);
        struct mcp_outcome out;
        int status = http_exchange(&h, cases[i].body, cases[i].version, cases[i].method,
                                   cases[i].name, &out);
        ck_assert_msg(status == cases[i].status, "case %zu: status %d", i, status);
        ck_assert_int_eq(out.modern, cases[i].modern);
        ck_assert_int_eq(out.bad_envelope, cases[i].bad_envelope);
        ck_assert_int_eq(h.count, cases[i].status == 202 ? 0 : 1);
        if (h.count) {
            char code[16];
            ck_assert_msg(!strcmp(last_error_code(&h, code, sizeof code), cases[i].code),
                          "case %zu: %s", i, h.lines[0]);
        }
        ck_assert_int_eq(out.error, atoi(cases[i].code));
        teardown_harness(&h);
    }
    /* A 2025-03-26 batch: no header means that version. */
    struct harness h;
    setup_with(&h, NULL);
    struct mcp_outcome out;
    ck_assert_int_eq(
        http_exchange(&h,
                      "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                      "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}]",
                      NULL, NULL, NULL, &out),
        200);
    ck_assert(out.request);
    ck_assert_int_eq(h.count, 1);
    ck_assert_ptr_nonnull(
        strstr(h.lines[0], "[{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}"));
    teardown_harness(&h);
}
END_TEST

START_TEST(missing_capabilities)
{
    static const char *const cases[][3] = {
        /* required, declared, missing ("" for none) */
        {"{}", "{}", ""},
        {"{\"elicitation\":{}}", "{}", "{\"elicitation\":{}}"},
        {"{\"elicitation\":{}}", "{\"elicitation\":{\"form\":{}}}", ""},
        {"{\"elicitation\":{\"url\":{}}}", "{\"elicitation\":{}}",
         "{\"elicitation\":{\"url\":{}}}"},
        {"{\"elicitation\":{\"url\":{}},\"roots\":{}}", "{\"roots\":{}}",
         "{\"elicitation\":{\"url\":{}}}"},
        {"{\"sampling\":{\"tools\":{}}}", "{\"sampling\":true}",
         "{\"sampling\":{\"tools\":{}}}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        json_t *required = json_loads(cases[i][0], 0, NULL);
        json_t *declared = json_loads(cases[i][1], 0, NULL);
        json_t *missing = mcp_missing_capabilities(required, declared);
        if (!*cases[i][2]) {
            ck_assert_ptr_null(missing);
        } else {
            json_t *want = json_loads(cases[i][2], 0, NULL);
            ck_assert_msg(json_equal(missing, want), "case %zu", i);
            json_decref(want);
        }
        json_decref(missing);
        json_decref(required);
        json_decref(declared);
    }
    /* Nothing declared at all. */
    json_t *required = json_loads("{\"roots\":{}}", 0, NULL);
    json_t *missing = mcp_missing_capabilities(required, NULL);
    ck_assert(json_equal(missing, required));
    json_decref(missing);
    json_decref(required);
}
END_TEST

START_TEST(a_reply_that_cannot_be_written_becomes_an_internal_error)
{
    struct harness h;
    setup_with(&h, NULL);
    initialize(&h, "2025-11-25");
    /* The ping's reply is refused once (out of memory in the transport):
     * the request still gets exactly one reply, the fixed -32603 line
     * with its id. */
    h.refuse = 1;
    json_t *r = exchange(&h, "{\"jsonrpc\":\"2.0\",\"id\":\"p-1\",\"method\":\"ping\"}");
    json_decref(r);
    ck_assert_str_eq(h.lines[h.count - 1],
                     "{\"jsonrpc\":\"2.0\",\"id\":\"p-1\",\"error\":{\"code\":-32603,"
                     "\"message\":\"Internal error: the server ran out of memory while "
                     "answering this request\"}}");
    /* An id holding the key is masked in that line too, with no memory. */
    redact_set_secret("SECRETKEY42");
    h.refuse = 1;
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":\"SECRETKEY42\",\"method\":\"ping\"}");
    ck_assert_ptr_nonnull(
        strstr(h.lines[h.count - 1], "\"id\":\"***********\",\"error\""));
    redact_clear();
    teardown_harness(&h);
}
END_TEST

START_TEST(every_failed_allocation_still_answers_once)
{
    /* Each allocation made while answering a request, failed in turn
     * (jansson's included): the request gets exactly one reply, and it is
     * JSON. This covers the lines jansson 2.14 would serialise without a
     * key and report as a success. */
    static const char *const requests[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/list\"}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"verify_otp\",\"arguments\":{\"mobile\":\"x\",\"otp\":\"1\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"get_event_types\"}}",
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"send_otp\",\"arguments\":{\"mobile\":\"+919876543210\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"server/discover\",\"params\":{" META
        "}}",
        "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/list\",\"params\":{" META "}}",
        "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"send_otp\",\"arguments\":{\"mobile\":\"+919876543210\"}," META "}}",
        "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/list\",\"params\":{" META_V(
            "v9") "}}",
    };
    alloc_hook_route_jansson();
    for (size_t q = 0; q < sizeof requests / sizeof *requests; q++) {
        for (unsigned long n = 1;; n++) {
            struct harness h;
            setup_with(&h, dry_run_only);
            initialize(&h, "2025-11-25");
            int before = h.count;
            alloc_hook_arm(n, false);
            send_line(&h, requests[q]);
            bool failed = alloc_hook_failed();
            alloc_hook_disarm();
            ck_assert_msg(h.count == before + 1,
                          "request %zu, allocation %lu: %d replies", q, n,
                          h.count - before);
            json_t *v = json_loads(h.lines[before], 0, NULL);
            ck_assert_msg(v != NULL, "not JSON: %s", h.lines[before]);
            json_decref(v);
            teardown_harness(&h);
            if (!failed)
                break;
        }
    }
}
END_TEST

/* Counts the replies to ids 1..3 in one line (a reply or an array). */
static void count_replies(const char *line, int seen[4])
{
    json_t *v = json_loads(line, 0, NULL);
    ck_assert_msg(v != NULL, "not JSON: %s", line);
    json_t *items = json_is_array(v) ? v : NULL;
    size_t n = items ? json_array_size(items) : 1;
    for (size_t i = 0; i < n; i++) {
        json_t *reply = items ? json_array_get(items, i) : v;
        json_int_t id = json_integer_value(json_object_get(reply, "id"));
        ck_assert_msg(id >= 1 && id <= 3, "unexpected reply: %s", line);
        seen[id]++;
    }
    json_decref(v);
}

START_TEST(a_batch_answers_each_request_once_whatever_fails)
{
    /* 2025-03-26 batches: each allocation failed in turn, every request of
     * the batch is still answered exactly once (in the array, or on lines
     * of their own when the array cannot be built). */
    alloc_hook_route_jansson();
    for (unsigned long n = 1;; n++) {
        struct harness h;
        setup_with(&h, dry_run_only);
        initialize(&h, "2025-03-26");
        int before = h.count;
        alloc_hook_arm(n, false);
        send_line(&h,
                  "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"},"
                  "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":"
                  "{\"name\":\"verify_otp\",\"arguments\":{\"otp\":\"1\"}}},"
                  "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\"}]");
        bool failed = alloc_hook_failed();
        alloc_hook_disarm();
        /* A batch that could not be read at all gets one error, no id. */
        bool whole = h.count == before + 1 && strstr(h.lines[before], "\"id\":null");
        int seen[4] = {0};
        for (int i = before; i < h.count && !whole; i++)
            count_replies(h.lines[i], seen);
        if (!whole)
            for (int id = 1; id <= 3; id++)
                ck_assert_msg(seen[id] == 1, "allocation %lu: id %d answered %d times", n,
                              id, seen[id]);
        teardown_harness(&h);
        if (!failed)
            break;
    }
}
END_TEST

START_TEST(initialize_that_fails_can_be_retried)
{
    struct harness h;
    setup_with(&h, NULL);
    h.refuse = 1;
    send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"
                  "{\"protocolVersion\":\"2025-06-18\",\"capabilities\":{}}}");
    ck_assert_ptr_nonnull(strstr(h.lines[h.count - 1], "-32603"));
    ck_assert_ptr_null(mcp_session_version(h.session));
    initialize(&h, "2025-06-18");
    ck_assert_str_eq(mcp_session_version(h.session), "2025-06-18");
    teardown_harness(&h);
}
END_TEST

START_TEST(structured_content_only_from_2025_06_18)
{
    char *error = NULL;
    struct sandbox_options opts = {0};
    shared_sandbox = sandbox_create(&opts, &error);
    ck_assert_msg(shared_sandbox != NULL, "%s", error);
    static const char *const versions[] = {"2024-11-05", "2025-03-26", "2025-06-18",
                                           "2025-11-25"};
    for (int v = 0; v < 4; v++) {
        struct harness h;
        setup_with(&h, against_sandbox);
        initialize(&h, versions[v]);
        int before = h.count;
        send_line(
            &h, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                "\"params\":{\"name\":\"list_campaigns\",\"arguments\":{\"limit\":1}}}");
        run_until(&h, before + 1);
        json_t *r = json_loads(h.lines[h.count - 1], 0, NULL);
        json_t *result = json_object_get(r, "result");
        ck_assert(!json_is_true(json_object_get(result, "isError")));
        json_t *sc = json_object_get(result, "structuredContent");
        ck_assert_int_eq(sc != NULL, v >= 2);
        /* The same JSON is always in the text block. */
        json_t *text = json_loads(first_text(r), 0, NULL);
        ck_assert_int_eq(json_integer_value(json_object_get(text, "page")), 1);
        ck_assert_int_eq(json_array_size(json_object_get(text, "campaigns")), 1);
        if (sc)
            ck_assert(json_equal(sc, text));
        json_decref(text);
        json_decref(r);
        teardown_harness(&h);
    }
    sandbox_destroy(shared_sandbox);
}
END_TEST

/* The line that reuses the text block is byte for byte what jansson writes
 * for the whole reply, whatever the text holds: quotes, backslashes, every
 * C0 control (short and \u escapes), DEL, a slash, and text past ASCII
 * (which jansson escapes itself). */
START_TEST(tool_result_line_is_what_jansson_writes)
{
    static const char *const names[] = {
        "plain", "q\\\"b\\\\s/l\\u007f",
        "\\u0002\\u0001\\b\\t\\n\\u000b\\f\\r\\u001a\\u001F end",
        "caf\\u00e9 \\u20ac \\ud83d\\ude00 \\\"x\\\"\\n"};
    char *error = NULL;
    struct sandbox_options opts = {0};
    shared_sandbox = sandbox_create(&opts, &error);
    ck_assert_msg(shared_sandbox != NULL, "%s", error);
    struct harness h;
    setup_with(&h, against_sandbox);
    initialize(&h, "2025-11-25");
    for (int i = 0; i < 4; i++) {
        /* The name is JSON text inside MSG91's body, which is a string in
         * the rule. */
        char body[512];
        snprintf(body, sizeof body,
                 "{\"data\":{\"data\":[{\"id\":7,\"name\":\"%s\"}],\"pageNo\":1,"
                 "\"totalEntityCount\":1},\"status\":\"success\",\"hasError\":false}",
                 names[i]);
        json_t *r = json_pack("{s:s,s:i,s:s}", "tool", "list_campaigns", "count", 1,
                              "body", body);
        char *rule = json_dumps(r, JSON_COMPACT);
        json_decref(r);
        ck_assert_ptr_nonnull(rule);
        sandbox_rule(rule);
        free(rule);
        int before = h.count;
        send_line(&h, "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\","
                      "\"params\":{\"name\":\"list_campaigns\",\"arguments\":{}}}");
        run_until(&h, before + 1);
        const char *line = h.lines[h.count - 1];
        r = json_loads(line, JSON_ALLOW_NUL, NULL);
        ck_assert_msg(r != NULL, "%s", line);
        ck_assert_msg(
            !json_is_true(json_object_get(json_object_get(r, "result"), "isError")), "%s",
            line);
        char *again = json_dumps(r, JSON_COMPACT);
        ck_assert_str_eq(line, again);
        free(again);
        json_decref(r);
    }
    teardown_harness(&h);
    sandbox_destroy(shared_sandbox);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("mcp");
    TCase *tc = tcase_create("session");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, negotiates_each_version);
    tcase_add_test(tc, initialize_errors);
    tcase_add_test(tc, before_initialize);
    tcase_add_test(tc, notifications_get_no_reply);
    tcase_add_test(tc, protocol_errors);
    tcase_add_test(tc, tools_list_by_version);
    tcase_add_test(tc, tools_call_protocol_errors);
    tcase_add_test(tc, invalid_arguments_are_tool_errors);
    tcase_add_test(tc, no_key_means_a_tool_error_that_says_how);
    tcase_add_test(tc, read_only_scope_at_list_and_call);
    tcase_add_test(tc, dry_run_and_prefix);
    tcase_add_test(tc, key_never_reaches_the_output);
    tcase_add_test(tc, logging_set_level_and_notifications);
    tcase_add_test(tc, batches_only_for_2025_03_26);
    tcase_add_test(tc, unknown_ids_by_version);
    tcase_add_test(tc, structured_content_only_from_2025_06_18);
    tcase_add_test(tc, tool_result_line_is_what_jansson_writes);
    tcase_add_test(tc, a_lingering_call_gets_progress_before_its_result);
    tcase_add_test(tc, a_result_waits_after_a_late_progress);
    tcase_add_test(tc, no_progress_follows_a_quick_result);
    tcase_add_test(tc, modern_discover_needs_no_initialize);
    tcase_add_test(tc, modern_tools_list_has_cache_hints);
    tcase_add_test(tc, modern_tool_results_carry_result_type);
    tcase_add_test(tc, modern_envelope_errors);
    tcase_add_test(tc, both_eras_on_one_session);
    tcase_add_test(tc, initialize_offers_a_legacy_version_for_2026);
    tcase_add_test(tc, http_entry_checks_headers_in_order);
    tcase_add_test(tc, missing_capabilities);
    tcase_add_test(tc, a_reply_that_cannot_be_written_becomes_an_internal_error);
    tcase_add_test(tc, every_failed_allocation_still_answers_once);
    tcase_add_test(tc, initialize_that_fails_can_be_retried);
    tcase_add_test(tc, a_batch_answers_each_request_once_whatever_fails);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
