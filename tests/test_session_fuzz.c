/* Hostile input against the MCP session, in process and under the
 * sanitizers in CI: valid messages mutated at random (bytes flipped,
 * inserted and deleted, lines cut, values swapped for other types), plus
 * deep nesting and huge strings. Whatever arrives, every reply is one valid
 * JSON object line, no line gets more than one reply, and the session
 * still answers a ping at the end. The generator is seeded, so a failure
 * repeats exactly. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "server/config.h"
#include "server/dispatch.h"
#include "server/mcp.h"
#include "tests/testutil.h"

static char *replies[8];
static int reply_count;

static int capture(void *data, const char *line, size_t len)
{
    (void)data;
    ck_assert_int_lt(reply_count, 8);
    ck_assert_uint_eq(strlen(line), len);
    replies[reply_count++] = strndup(line, len);
    return 0;
}

static void clear_replies(void)
{
    for (int i = 0; i < reply_count; i++)
        free(replies[i]);
    reply_count = 0;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint32_t rng(void)
{
    /* xorshift64*: small, fast, and the same sequence on every machine. */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (uint32_t)((rng_state * 0x2545f4914f6cdd1dull) >> 32);
}

static const char *const corpus[] = {
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"method\":\"tools/list\",\"params\":{}}",
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/"
    "call\",\"params\":{\"name\":\"send_otp\","
    "\"arguments\":{\"mobile\":\"+919876543210\",\"template_id\":\"t1\",\"otp_length\":6}"
    "}}",
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"send_sms_flow\",\"arguments\":{\"template_id\":\"f\",\"recipients\":[{\"mobiles\":"
    "\"919876543210\",\"name\":\"A\"}],\"short_url\":true}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"create_user_events\",\"arguments\":{\"identifier\":\"x@y.z\",\"events\":[{"
    "\"name\":"
    "\"login\",\"timestamp\":\"2026-01-01T00:00:00Z\",\"properties\":{\"k\":[1,2]}}]}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"get_failed_events\",\"arguments\":{\"campaign_id\":\"1\",\"page\":2,\"start_"
    "date\":"
    "\"2026-01-01\"},\"_meta\":{\"progressToken\":\"t\"}}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
    "cancelled\",\"params\":{\"requestId\":2}}",
    "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"logging/setLevel\",\"params\":{\"level\":"
    "\"debug\"}}",
    "[{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"},{\"jsonrpc\":\"2.0\",\"method\":"
    "\"x\"}]",
    /* the stateless 2026-07-28 era */
    "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"server/discover\",\"params\":{\"_meta\":"
    "{\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
    "\"io.modelcontextprotocol/clientCapabilities\":{}}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"verify_otp\",\"arguments\":{\"mobile\":\"919876543210\",\"otp\":\"1234\"},"
    "\"_meta\":{\"progressToken\":9,\"io.modelcontextprotocol/protocolVersion\":"
    "\"2026-07-28\",\"io.modelcontextprotocol/clientCapabilities\":{\"elicitation\":{}},"
    "\"io.modelcontextprotocol/logLevel\":\"info\",\"io.modelcontextprotocol/"
    "clientInfo\":"
    "{\"name\":\"f\",\"version\":\"1\"}}}}",
};

static const char *const fragments[] = {
    "null",        "true",        "[]",       "{}",
    "\"\"",        "-1",          "1e999",    "123456789012345678901234567890",
    "\"\\u0000\"", "\"\\ud800\"", "\"\xff\"", "{\"a\":",
    "]",           "\"\\\"",      "0.5",      "\"%s%n\"",
};

/* One mutation of a corpus line into buf (NUL-terminated). */
static size_t mutate(char *buf, size_t cap)
{
    const char *base = corpus[rng() % (sizeof corpus / sizeof *corpus)];
    size_t len = strlen(base);
    memcpy(buf, base, len);
    int edits = 1 + (int)(rng() % 4);
    for (int e = 0; e < edits; e++) {
        size_t pos = len ? rng() % len : 0;
        switch (rng() % 5) {
        case 0: /* flip a byte, sometimes to a control or high byte */
            if (len)
                buf[pos] = (char)(rng() % 256);
            break;
        case 1: /* delete a run */
            if (len) {
                size_t n = 1 + rng() % 8;
                if (pos + n > len)
                    n = len - pos;
                memmove(buf + pos, buf + pos + n, len - pos - n);
                len -= n;
            }
            break;
        case 2: { /* insert a fragment */
            const char *f = fragments[rng() % (sizeof fragments / sizeof *fragments)];
            size_t n = strlen(f);
            if (len + n < cap - 1) {
                memmove(buf + pos + n, buf + pos, len - pos);
                memcpy(buf + pos, f, n);
                len += n;
            }
            break;
        }
        case 3: /* cut the line */
            len = pos;
            break;
        default: /* duplicate a run */
            if (len && len * 2 < cap - 1) {
                size_t n = 1 + rng() % 16;
                if (pos + n > len)
                    n = len - pos;
                memmove(buf + pos + n, buf + pos, len - pos);
                len += n;
            }
            break;
        }
    }
    /* The framer never hands over a newline or a NUL-free guarantee. */
    for (size_t i = 0; i < len; i++)
        if (buf[i] == '\n')
            buf[i] = ' ';
    buf[len] = '\0';
    return len;
}

static void dry_config(struct config *c)
{
    config_init(c);
    c->dry_run = true; /* build every request, send nothing */
}

static void check_replies(const char *input)
{
    ck_assert_msg(reply_count <= 1, "%d replies to: %s", reply_count, input);
    for (int i = 0; i < reply_count; i++) {
        json_error_t err;
        /* Ids past 64 bits are echoed as given: valid JSON, which jansson
         * reads only as reals. */
        json_t *v =
            json_loads(replies[i], JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL, &err);
        ck_assert_msg(json_is_object(v) || json_is_array(v), "not JSON: %s (input %s)",
                      replies[i], input);
        json_decref(v);
    }
    clear_replies();
}

START_TEST(mutated_messages)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct config cfg;
    dry_config(&cfg);
    char *error = NULL;
    struct dispatch *d = dispatch_create(&cfg, &loop, &error);
    ck_assert_ptr_nonnull(d);
    struct mcp_session *s = mcp_session_create(&loop, d, &cfg, capture, NULL);
    const char *init =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"
        "{\"protocolVersion\":\"2025-03-26\",\"capabilities\":{}}}";
    mcp_session_handle_line(s, init, strlen(init));
    clear_replies();
    static char buf[4096];
    for (int i = 0; i < 100000; i++) {
        size_t len = mutate(buf, sizeof buf);
        mcp_session_handle_line(s, buf, len);
        check_replies(buf);
    }
    const char *ping = "{\"jsonrpc\":\"2.0\",\"id\":\"end\",\"method\":\"ping\"}";
    mcp_session_handle_line(s, ping, strlen(ping));
    ck_assert_int_eq(reply_count, 1);
    ck_assert_str_eq(replies[0], "{\"jsonrpc\":\"2.0\",\"id\":\"end\",\"result\":{}}");
    clear_replies();
    mcp_session_destroy(s);
    dispatch_destroy(d, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    config_finish(&cfg);
}
END_TEST

START_TEST(deep_and_huge)
{
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct config cfg;
    dry_config(&cfg);
    char *error = NULL;
    struct dispatch *d = dispatch_create(&cfg, &loop, &error);
    struct mcp_session *s = mcp_session_create(&loop, d, &cfg, capture, NULL);
    const char *init =
        "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"
        "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{}}}";
    mcp_session_handle_line(s, init, strlen(init));
    clear_replies();

    /* 100,000 nested arrays as an argument value. */
    size_t depth = 100000;
    const char *head =
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
        "{\"name\":\"send_otp\",\"arguments\":{\"mobile\":";
    size_t n = strlen(head);
    char *deep = malloc(n + 2 * depth + 16);
    memcpy(deep, head, n);
    memset(deep + n, '[', depth);
    memset(deep + n + depth, ']', depth);
    strcpy(deep + n + 2 * depth, "}}}");
    mcp_session_handle_line(s, deep, strlen(deep));
    ck_assert_int_eq(reply_count, 1);
    /* jansson refuses such depth as a parse error; either way one reply. */
    clear_replies();
    free(deep);

    /* A 2 MB string where a mobile number should be. */
    size_t big = 2u * 1024 * 1024;
    char *huge = malloc(n + big + 16);
    memcpy(huge, head, n);
    huge[n] = '"';
    memset(huge + n + 1, '9', big);
    strcpy(huge + n + 1 + big, "\"}}}");
    mcp_session_handle_line(s, huge, strlen(huge));
    ck_assert_int_eq(reply_count, 1);
    json_t *r = json_loads(replies[0], 0, NULL);
    json_t *result = json_object_get(r, "result");
    ck_assert(json_is_true(json_object_get(result, "isError")));
    /* The reply does not echo the 2 MB value back. */
    ck_assert_uint_lt(strlen(replies[0]), 4096);
    json_decref(r);
    clear_replies();
    free(huge);

    mcp_session_destroy(s);
    dispatch_destroy(d, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    config_finish(&cfg);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("session_fuzz");
    TCase *tc = tcase_create("hostile");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, mutated_messages);
    tcase_add_test(tc, deep_and_huge);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
