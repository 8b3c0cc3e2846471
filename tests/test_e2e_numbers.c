/* End-to-end tests of numbers and quotes at the edges: the real msg91-mcp
 * binary, spawned over pipes, calls a sandbox running inside this test.
 * An integer too big for 64 bits anywhere in a message (a progress token,
 * a _meta field, a batch element's id) must not change the other integer
 * arguments (page 3 stays page 3) nor any id; one in MSG91's answer must
 * not turn a success into "not JSON"; and no answer may leave a part of the
 * key in a result. */
#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox.h"
#include "tests/testutil.h"

#define F testutil_fmt
#define TEST_KEY "e2e-numbers-key-4b8d21c7e9"
/* Every part of the key a cut could leave (4 bytes or more) starts so. */
#define KEY_START "e2e-"
#define HUGE_INT "123456789012345678901234567890"
#define REPLY_MS 15000
#define CAMPAIGNS "/api/v5/campaign/api/campaigns"

static struct sandbox *SB;
static char BASE[64];

static void setup(void)
{
    SB = testutil_sandbox_start(TEST_KEY, 7, BASE);
}

static void teardown(void)
{
    sandbox_destroy(SB);
    SB = NULL;
}

/* A sandbox control request that must answer 200; its JSON (new reference). */
static json_t *ctl(const char *method, const char *path, const char *body)
{
    return testutil_sandbox_ctl(BASE, method, path, body);
}

/* The query strings of the recorded requests to path, in order, as one
 * text separated by " | "; the records are cleared. */
static char *recorded_queries(const char *path)
{
    json_t *v = ctl("GET", "/_sandbox/requests", NULL);
    json_t *list = json_object_get(v, "requests");
    char *all = strdup("");
    size_t i;
    json_t *r;
    json_array_foreach(list, i, r) {
        if (strcmp(json_string_value(json_object_get(r, "path")), path) != 0)
            continue;
        char *grown = NULL;
        ck_assert_int_ge(asprintf(&grown, "%s%s%s", all, all[0] ? " | " : "",
                                  json_string_value(json_object_get(r, "query"))),
                         0);
        free(all);
        all = grown;
    }
    json_decref(v);
    json_decref(ctl("DELETE", "/_sandbox/requests", NULL));
    return all;
}

/* Starts the binary against the sandbox and answers initialize with
 * version; no initialized notification is needed for these calls. */
static void start(struct testutil_child *c, const char *version)
{
    const char *env[] = {F("MSG91_BASE_URL=%s", BASE), "MSG91_AUTH_KEY=" TEST_KEY, NULL};
    const char *argv[] = {"msg91-mcp", NULL};
    ck_assert_int_eq(testutil_spawn(c, argv, env), 0);
    ck_assert_int_eq(
        testutil_send_line(
            c, F("{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"
                 "{\"protocolVersion\":\"%s\",\"capabilities\":{},\"clientInfo\":"
                 "{\"name\":\"e2e-numbers\",\"version\":\"1\"}}}",
                 version)),
        0);
    char *line = testutil_read_line(c, REPLY_MS);
    ck_assert_msg(line && strstr(line, F("\"protocolVersion\":\"%s\"", version)), "%s",
                  line ? line : "no answer to initialize");
    free(line);
    ck_assert_int_eq(
        testutil_send_line(
            c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"),
        0);
}

/* Ends the server: exit 0 and no part of the key on stderr. */
static void stop(struct testutil_child *c)
{
    ck_assert_int_eq(testutil_finish(c, 10000), 0);
    char *err = testutil_read_stderr(c);
    ck_assert_msg(!strstr(err, KEY_START), "key on stderr: %s", err);
    free(err);
}

/* Sends line and returns the next stdout line (malloc'd); no part of the
 * key may be in it. */
static char *exchange(struct testutil_child *c, const char *line)
{
    ck_assert_int_eq(testutil_send_line(c, line), 0);
    char *reply = testutil_read_line(c, REPLY_MS);
    ck_assert_msg(reply != NULL, "no reply to %s", line);
    ck_assert_msg(!strstr(reply, KEY_START), "part of the key in %s", reply);
    return reply;
}

static const char *const page3_calls[] = {
    /* The reference: no huge integer anywhere. */
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"list_campaigns\",\"arguments\":{\"page\":3,\"limit\":5}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"list_campaigns\",\"arguments\":{\"page\":3,\"limit\":5},\"_meta\":{\"x\":" HUGE_INT
    "}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"list_campaigns\",\"arguments\":{\"page\":3,\"limit\":5},\"_meta\":"
    "{\"progressToken\":" HUGE_INT "}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":" HUGE_INT ",\"method\":\"tools/call\",\"params\":"
    "{\"name\":\"list_campaigns\",\"arguments\":{\"page\":3,\"limit\":5}}}",
};

/* page 3 and limit 5 reach MSG91 as sent, whatever huge integer the
 * message also holds, and each reply carries its own id. */
START_TEST(page_3_stays_page_3)
{
    struct testutil_child c;
    start(&c, "2025-11-25");
    static const char *const ids[] = {"1", "2", "3", HUGE_INT};
    for (size_t i = 0; i < sizeof page3_calls / sizeof *page3_calls; i++) {
        char *reply = exchange(&c, page3_calls[i]);
        ck_assert_msg(strstr(reply, F("{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":",
                                      ids[i])) == reply,
                      "call %zu: %s", i, reply);
        ck_assert_msg(strstr(reply, "\"structuredContent\":{\"campaigns\":") &&
                          !strstr(reply, "\"isError\""),
                      "call %zu: %s", i, reply);
        char *queries = recorded_queries(CAMPAIGNS);
        ck_assert_str_eq(queries, "pageNo=3&itemsPerPage=5");
        free(queries);
        free(reply);
    }
    stop(&c);
}
END_TEST

/* In a batch (2025-03-26), a huge integer in one element changes nothing
 * for the others, and every element is answered under its own id. */
START_TEST(batch_keeps_ids_and_integers)
{
    struct testutil_child c;
    start(&c, "2025-03-26");
    char *reply = exchange(
        &c,
        "[{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"params\":{\"x\":" HUGE_INT
        "}},"
        "{\"jsonrpc\":\"2.0\",\"id\":" HUGE_INT ",\"method\":\"ping\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"list_campaigns\",\"arguments\":{\"page\":3,\"limit\":5}}}]");
    json_t *all = json_loads(reply, JSON_DECODE_INT_AS_REAL, NULL);
    ck_assert_msg(json_array_size(all) == 4, "%s", reply);
    ck_assert_msg(strstr(reply, "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":{}}"), "%s",
                  reply);
    ck_assert_msg(strstr(reply, "{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}"), "%s",
                  reply);
    ck_assert_msg(
        strstr(reply, "{\"jsonrpc\":\"2.0\",\"id\":" HUGE_INT ",\"result\":{}}"), "%s",
        reply);
    ck_assert_msg(strstr(reply, "{\"jsonrpc\":\"2.0\",\"id\":5,\"result\":"), "%s",
                  reply);
    ck_assert_msg(!strstr(reply, "\"error\""), "%s", reply);
    json_decref(all);
    free(reply);
    char *queries = recorded_queries(CAMPAIGNS);
    ck_assert_str_eq(queries, "pageNo=3&itemsPerPage=5");
    free(queries);
    stop(&c);
}
END_TEST

/* A page too big for 64 bits is refused by name; nothing is sent. */
START_TEST(huge_page_is_refused)
{
    struct testutil_child c;
    start(&c, "2025-11-25");
    char *reply = exchange(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                               "\"params\":{\"name\":\"list_campaigns\",\"arguments\":"
                               "{\"page\":" HUGE_INT ",\"limit\":5}}}");
    ck_assert_msg(strstr(reply, "\"isError\":true"), "%s", reply);
    ck_assert_msg(strstr(reply, "Invalid arguments: page must be a whole number between "
                                "-9223372036854775808 and 9223372036854775807"),
                  "%s", reply);
    free(reply);
    char *queries = recorded_queries(CAMPAIGNS);
    ck_assert_str_eq(queries, "");
    free(queries);
    stop(&c);
}
END_TEST

/* A huge integer in MSG91's answer to a send is still a success. */
START_TEST(huge_integer_in_the_answer)
{
    struct testutil_child c;
    start(&c, "2025-11-25");
    json_decref(
        ctl("POST", "/_sandbox/misbehave",
            "{\"tool\":\"send_otp\",\"count\":1,\"body\":\"{\\\"type\\\":"
            "\\\"success\\\",\\\"request_id\\\":\\\"abc123\\\",\\\"n\\\":" HUGE_INT
            "}\",\"content_type\":\"application/json\"}"));
    char *reply = exchange(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                               "\"params\":{\"name\":\"send_otp\",\"arguments\":"
                               "{\"mobile\":\"919876543210\",\"template_id\":\"T1\"}}}");
    ck_assert_msg(!strstr(reply, "\"isError\""), "%s", reply);
    ck_assert_msg(strstr(reply, "\"structuredContent\":{\"request_id\":\"abc123\","
                                "\"mobile\":\"919876543210\"}"),
                  "%s", reply);
    free(reply);
    stop(&c);
}
END_TEST

/* An answer that quotes the key across a cut, escaped in MSG91's message
 * or in the Content-Type header, leaves no part of it in the result (the
 * check is in exchange). */
START_TEST(no_part_of_the_key_in_quotes)
{
    struct testutil_child c;
    start(&c, "2025-11-25");
    char pad[320];
    for (size_t n = 280; n <= 300; n += 4) {
        memset(pad, 'a', n);
        pad[n] = '\0';
        json_decref(
            ctl("POST", "/_sandbox/misbehave",
                F("{\"tool\":\"list_campaigns\",\"count\":1,\"body\":\"{\\\"type\\\":"
                  "\\\"error\\\",\\\"message\\\":\\\"%s e2e\\\\u002dnumbers-key-"
                  "4b8d21c7e9\\\"}\",\"content_type\":\"application/json\"}",
                  pad)));
        char *reply = exchange(&c, F("{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":"
                                     "\"tools/call\",\"params\":{\"name\":"
                                     "\"list_campaigns\",\"arguments\":{}}}",
                                     n));
        ck_assert_msg(strstr(reply, "MSG91 returned an error: aaaa"), "%s", reply);
        free(reply);
    }
    for (size_t n = 40; n <= 56; n += 4) {
        memset(pad, 'p', n);
        pad[n] = '\0';
        json_decref(
            ctl("POST", "/_sandbox/misbehave",
                F("{\"tool\":\"list_campaigns\",\"count\":1,\"body\":\"not json\","
                  "\"content_type\":\"text/%s " TEST_KEY "\"}",
                  pad)));
        char *reply = exchange(&c, F("{\"jsonrpc\":\"2.0\",\"id\":%zu,\"method\":"
                                     "\"tools/call\",\"params\":{\"name\":"
                                     "\"list_campaigns\",\"arguments\":{}}}",
                                     n));
        ck_assert_msg(strstr(reply, "not JSON (HTTP 200, text/ppp"), "%s", reply);
        free(reply);
    }
    stop(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("e2e_numbers");
    TCase *tc = tcase_create("numbers");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, page_3_stays_page_3);
    tcase_add_test(tc, batch_keeps_ids_and_integers);
    tcase_add_test(tc, huge_page_is_refused);
    tcase_add_test(tc, huge_integer_in_the_answer);
    tcase_add_test(tc, no_part_of_the_key_in_quotes);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
