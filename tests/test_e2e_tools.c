/* End-to-end tests of the eight tools: the real msg91-mcp binary, spawned
 * over pipes, speaks MCP to this test while its upstream calls go to a
 * sandbox running inside the test process. Each test asserts the exact
 * request the sandbox recorded (method, path, query, headers, body) and the
 * exact tool result, the text of every failure kind, that hostile argument
 * values cannot steer a request, concurrency and its cap, cancellation and
 * progress, dry runs and the tool scopes. */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "tests/testutil.h"
#include "tools/msg91_errors.h"

/* For clang-tidy: the Annex K (*_s) functions it suggests are not in glibc,
 * and every copy here is bounded by its size; parameter lists of the same
 * type are fixed by the libraries' callbacks or read as HTTP names them.
 * NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling)
 * NOLINTBEGIN(bugprone-easily-swappable-parameters) */

#define F testutil_fmt

/* The key the server is given; long and distinctive so a leak is found by
 * a plain substring search. */
#define TEST_KEY "e2e-test-key-7f3a9c51d2"
#define UA "msg91-mcp/" MSG91_MCP_VERSION
#define MOBILE "919876543210"
/* Valid arguments for each tool, for calls whose answer a rule decides. */
#define OTP_ARGS "{\"mobile\":\"" MOBILE "\",\"template_id\":\"T1\"}"
#define RESEND_ARGS "{\"mobile\":\"" MOBILE "\"}"
#define VERIFY_ARGS "{\"mobile\":\"" MOBILE "\",\"otp\":\"1234\"}"
#define FLOW_ARGS "{\"template_id\":\"F1\",\"recipients\":[{\"mobiles\":\"" MOBILE "\"}]}"
#define EVENTS_ARGS "{\"identifier\":\"contact-1001\",\"events\":[{\"name\":\"login\"}]}"
#define FAILED_ARGS "{\"campaign_id\":\"1001\"}"
#define CAMPAIGNS_ARGS "{\"limit\":1}"
/* Longest wait for any single answer: far beyond every delay used here. */
#define REPLY_MS 15000

/* The key error, with what MSG91 said in parentheses (said: "" or " (...)"). */
#define KEY_TEXT_SAID(said)                                                              \
    "MSG91 rejected the auth key" said ": set MSG91_AUTH_KEY (or MSG91_AUTH_KEY_FILE) "  \
    "to a valid key."
/* The sandbox's answers to a wrong key, in each family. */
#define KEY_TEXT_F1 KEY_TEXT_SAID(" (code 201: Invalid authkey)")
#define KEY_TEXT_F2 KEY_TEXT_SAID(" (HTTP 401, code 201: Unauthorized)")
/* A status-only rule's body in the sandbox. */
#define KEY_TEXT_RULE KEY_TEXT_SAID(" (HTTP 401: Request failed)")
#define KEY_TEXT_RULE_403 KEY_TEXT_SAID(" (HTTP 403: Request failed)")
#define OTP_UNKNOWN                                                                      \
    "the OTP may or may not have been sent. Ask the person whether a code arrived "      \
    "before calling send_otp again, since that mints a new code; if none arrived, "      \
    "resend_otp delivers the pending one."
#define FLOW_UNKNOWN                                                                     \
    "the message may or may not have been sent. Do not send it again until the "         \
    "recipients or MSG91's delivery reports show it did not arrive."
#define NOT_JSON_TAIL                                                                    \
    " Check that MSG91_BASE_URL points at MSG91 and not at a proxy or captive portal."

/* Fails with both values printed unless got equals the JSON text want. */
static void expect_json(json_t *got, const char *want_text)
{
    json_error_t err;
    json_t *want = json_loads(want_text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err);
    ck_assert_msg(want != NULL, "bad expected JSON (%s): %s", err.text, want_text);
    char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_msg(json_equal(got, want), "got  %s\nwant %s", g ? g : "(null)", want_text);
    free(g);
    json_decref(want);
}

/* ---- the sandbox and its control API ---- */

struct sbx {
    struct sandbox *sb;
    unsigned port;
    char base[64];
};

/* The default sandbox: one per TCase (started in Check's parent process,
 * which serves it while each test runs in its own child), reset before
 * every test. */
static struct sbx SB;

static void sbx_start(struct sbx *s, const char *auth_key)
{
    s->sb = testutil_sandbox_start(auth_key, 42, s->base);
    s->port = sandbox_port(s->sb);
}

static void sbx_stop(struct sbx *s)
{
    sandbox_destroy(s->sb);
    s->sb = NULL;
}

/* A control route that must answer 200; returns its JSON (new reference). */
static json_t *ctl(const struct sbx *s, const char *method, const char *path,
                   const char *body)
{
    return testutil_sandbox_ctl(s->base, method, path, body);
}

static void sb_rule(const struct sbx *s, const char *rule)
{
    json_decref(ctl(s, "POST", "/_sandbox/misbehave", rule));
}

static void sb_clear(const struct sbx *s)
{
    json_decref(ctl(s, "DELETE", "/_sandbox/misbehave", NULL));
    json_decref(ctl(s, "DELETE", "/_sandbox/requests", NULL));
}

/* The recorded requests (new reference to the array). */
static json_t *sb_requests(const struct sbx *s)
{
    json_t *v = ctl(s, "GET", "/_sandbox/requests", NULL);
    json_t *list = json_incref(json_object_get(v, "requests"));
    json_decref(v);
    ck_assert(json_is_array(list));
    return list;
}

static size_t sb_count(const struct sbx *s)
{
    json_t *list = sb_requests(s);
    size_t n = json_array_size(list);
    json_decref(list);
    return n;
}

/* The pending code for a mobile, from /_sandbox/otp (malloc'd). */
static char *sb_otp(const struct sbx *s, const char *mobile)
{
    json_t *v = ctl(s, "GET", F("/_sandbox/otp?mobile=%s", mobile), NULL);
    const char *otp = json_string_value(json_object_get(v, "otp"));
    ck_assert_ptr_nonnull(otp);
    char *copy = strdup(otp);
    json_decref(v);
    return copy;
}

static json_int_t sb_stat(const struct sbx *s, const char *name)
{
    return testutil_sandbox_stat(s->base, name);
}

static void sb_wait_stat(const struct sbx *s, const char *name, json_int_t want)
{
    testutil_sandbox_wait_stat(s->base, name, want, REPLY_MS);
}

/* ---- decoding what was recorded ---- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* Strict percent-decoding ("+" stays "+": the server never sends it for a
 * space). NULL when an escape is malformed. */
static json_t *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n) {
                free(out);
                return NULL;
            }
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) {
                free(out);
                return NULL;
            }
            out[k++] = (char)(hi * 16 + lo);
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    /* Every value the tests send is UTF-8, so a decoded value that is not
     * would be a mangled one. */
    json_t *v = json_stringn(out, k);
    free(out);
    return v;
}

/* The query string as [[name, value], ...] in order, decoded. */
static json_t *query_pairs(const char *q)
{
    json_t *pairs = json_array();
    while (*q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        size_t nlen = eq ? (size_t)(eq - q) : len;
        json_t *name = pct_decode(q, nlen);
        json_t *value = eq ? pct_decode(eq + 1, len - nlen - 1) : json_string("");
        ck_assert_msg(name && value, "malformed escape in query %s", q);
        json_array_append_new(pairs, json_pack("[oo]", name, value));
        q += len;
        if (*q == '&')
            q++;
    }
    return pairs;
}

/* Asserts one recorded request exactly. query is the raw query string as
 * sent; body NULL means no body (and then no content type). The header set
 * is exactly what libcurl and the engine send, and nothing an argument
 * could add. */
static void expect_req_at(const struct sbx *s, json_t *rec, const char *method,
                          const char *path, const char *query, const char *body,
                          const char *tool)
{
    ck_assert_ptr_nonnull(rec);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "method")), method);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "path")), path);
    const char *q = json_string_value(json_object_get(rec, "query"));
    ck_assert_str_eq(q, query);
    ck_assert_msg(!strcasestr(q, "authkey"), "authkey in the query: %s", q);
    if (tool)
        ck_assert_str_eq(json_string_value(json_object_get(rec, "tool")), tool);
    else
        ck_assert(json_is_null(json_object_get(rec, "tool")));
    json_t *h = json_object_get(rec, "headers");
    ck_assert_str_eq(json_string_value(json_object_get(h, "authkey")), TEST_KEY);
    ck_assert_str_eq(json_string_value(json_object_get(h, "host")),
                     F("127.0.0.1:%u", s->port));
    ck_assert_str_eq(json_string_value(json_object_get(h, "user-agent")), UA);
    ck_assert_str_eq(json_string_value(json_object_get(h, "accept")), "application/json");
    ck_assert(!json_object_get(rec, "body_base64"));
    const char *got_body = json_string_value(json_object_get(rec, "body"));
    if (body) {
        ck_assert_str_eq(json_string_value(json_object_get(h, "content-type")),
                         "application/json");
        ck_assert_str_eq(json_string_value(json_object_get(h, "content-length")),
                         F("%zu", strlen(body)));
        ck_assert_uint_eq(json_object_size(h), 6);
        ck_assert_str_eq(got_body, body);
    } else {
        ck_assert_msg(json_object_size(h) == 4, "headers: %s",
                      json_dumps(h, JSON_COMPACT));
        ck_assert_str_eq(got_body, "");
    }
}

static void expect_req(json_t *rec, const char *method, const char *path,
                       const char *query, const char *body, const char *tool)
{
    expect_req_at(&SB, rec, method, path, query, body, tool);
}

/* Asserts the decoded query parameters: only the expected names, in
 * order, with exactly these values. */
static void expect_query(json_t *rec, const char *pairs_json)
{
    json_t *pairs = query_pairs(json_string_value(json_object_get(rec, "query")));
    expect_json(pairs, pairs_json);
    json_decref(pairs);
}

/* The only recorded request (borrowed from *list, which the caller frees). */
static json_t *only_req(const struct sbx *s, json_t **list)
{
    *list = sb_requests(s);
    ck_assert_msg(json_array_size(*list) == 1, "%zu requests recorded",
                  json_array_size(*list));
    return json_array_get(*list, 0);
}

/* ---- the server over pipes ---- */

struct srv {
    struct testutil_child c;
    long next_id;
    json_t *log;   /* every line read from stdout, in order */
    json_t *stash; /* responses read while waiting for another id */
};

/* Starts the binary with MSG91_BASE_URL=base_url, MSG91_AUTH_KEY=TEST_KEY
 * and extra "K=V" entries (NULL-terminated, may be NULL), then initializes
 * the session. */
static void srv_start(struct srv *v, const char *base_url, const char *const *extra)
{
    static char base_env[256];
    snprintf(base_env, sizeof base_env, "MSG91_BASE_URL=%s", base_url);
    /* Identical sends repeat here on purpose: safe sends are off
     * (tests/test_safe_send.c tests them). */
    const char *env[] = {base_env, "MSG91_AUTH_KEY=" TEST_KEY,
                         "MSG91_DUPLICATE_WINDOW_S=0",
                         "MSG91_OTP_PER_RECIPIENT_PER_HOUR=0", NULL};
    memset(v, 0, sizeof *v);
    v->next_id = 1;
    v->log = json_array();
    v->stash = json_array();
    testutil_start_session(&v->c, env, extra, "e2e-tools", REPLY_MS);
}

/* Ends the server: stdin closed, exit 0, and the key nowhere on stderr or
 * in anything it wrote to stdout. */
static void srv_stop(struct srv *v)
{
    testutil_stop_session(&v->c, TEST_KEY, 10000);
    char *all = json_dumps(v->log, JSON_COMPACT);
    ck_assert_msg(!strstr(all, TEST_KEY), "key on stdout");
    free(all);
    json_decref(v->log);
    json_decref(v->stash);
}

/* Writes a tools/call with the next id; args and meta are raw JSON text
 * (meta may be NULL). Returns the id. */
static long srv_send(struct srv *v, const char *tool, const char *args, const char *meta)
{
    long id = v->next_id++;
    char *line = NULL;
    ck_assert_int_ge(asprintf(&line,
                              "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\","
                              "\"params\":{\"name\":\"%s\",\"arguments\":%s%s%s}}",
                              id, tool, args, meta ? ",\"_meta\":" : "",
                              meta ? meta : ""),
                     0);
    ck_assert_int_eq(testutil_send_line(&v->c, line), 0);
    free(line);
    return id;
}

static bool has_id(json_t *msg, long id)
{
    json_t *i = json_object_get(msg, "id");
    return json_is_integer(i) && json_integer_value(i) == id;
}

/* Reads one line into the log (new reference to the parsed line, NULL on
 * timeout). Anything but JSON on stdout fails the test. */
static json_t *srv_read(struct srv *v, int timeout_ms)
{
    char *line = testutil_read_line(&v->c, timeout_ms);
    if (!line)
        return NULL;
    json_t *m = json_loads(line, JSON_DECODE_ANY, NULL);
    ck_assert_msg(json_is_object(m), "not a JSON-RPC message on stdout: %s", line);
    free(line);
    json_array_append(v->log, m);
    return m;
}

/* Waits for the response with this id; other responses are kept for later
 * waits, notifications stay in the log. NULL on timeout. */
static json_t *srv_wait(struct srv *v, long id, int timeout_ms)
{
    size_t i;
    json_t *m;
    json_array_foreach(v->stash, i, m) {
        if (has_id(m, id)) {
            json_incref(m);
            json_array_remove(v->stash, i);
            return m;
        }
    }
    double deadline = testutil_now_s() + timeout_ms / 1000.0;
    for (;;) {
        int left = (int)((deadline - testutil_now_s()) * 1000);
        if (left <= 0)
            return NULL;
        m = srv_read(v, left);
        if (!m)
            return NULL;
        if (has_id(m, id))
            return m;
        if (!json_object_get(m, "method"))
            json_array_append(v->stash, m);
        json_decref(m);
    }
}

/* A tools/call and its response (new reference). */
static json_t *srv_call_meta(struct srv *v, const char *tool, const char *args,
                             const char *meta)
{
    long id = srv_send(v, tool, args, meta);
    json_t *r = srv_wait(v, id, REPLY_MS);
    ck_assert_msg(r != NULL, "no reply to %s %s", tool, args);
    return r;
}

static json_t *srv_call(struct srv *v, const char *tool, const char *args)
{
    return srv_call_meta(v, tool, args, NULL);
}

/* A successful result whose structuredContent equals want and whose one
 * text block holds the same JSON. Takes resp. */
static void expect_ok(json_t *resp, const char *want)
{
    json_t *res = json_object_get(resp, "result");
    char *dump = json_dumps(resp, JSON_COMPACT);
    ck_assert_msg(json_is_object(res), "not a result: %s", dump);
    ck_assert_msg(!json_is_true(json_object_get(res, "isError")), "tool error: %s", dump);
    free(dump);
    json_t *sc = json_object_get(res, "structuredContent");
    expect_json(sc, want);
    json_t *content = json_object_get(res, "content");
    ck_assert_uint_eq(json_array_size(content), 1);
    json_t *block = json_array_get(content, 0);
    ck_assert_str_eq(json_string_value(json_object_get(block, "type")), "text");
    json_t *parsed =
        json_loads(json_string_value(json_object_get(block, "text")), 0, NULL);
    ck_assert_msg(json_equal(parsed, sc), "text block differs from structuredContent");
    json_decref(parsed);
    json_decref(resp);
}

/* A tool error with exactly this text. Takes resp. */
static void expect_err(json_t *resp, const char *text)
{
    json_t *res = json_object_get(resp, "result");
    char *dump = json_dumps(resp, JSON_COMPACT);
    ck_assert_msg(json_is_true(json_object_get(res, "isError")), "not a tool error: %s",
                  dump);
    free(dump);
    ck_assert(!json_object_get(res, "structuredContent"));
    json_t *content = json_object_get(res, "content");
    ck_assert_uint_eq(json_array_size(content), 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(content, 0), "text")), text);
    json_decref(resp);
}

/* The text of a tool error (malloc'd). Takes resp. */
static char *err_text(json_t *resp)
{
    json_t *res = json_object_get(resp, "result");
    ck_assert(json_is_true(json_object_get(res, "isError")));
    char *t = strdup(json_string_value(
        json_object_get(json_array_get(json_object_get(res, "content"), 0), "text")));
    json_decref(resp);
    return t;
}

static void srv_ping(struct srv *v)
{
    long id = v->next_id++;
    ck_assert_int_eq(
        testutil_send_line(&v->c,
                           F("{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"ping\"}", id)),
        0);
    json_t *r = srv_wait(v, id, REPLY_MS);
    ck_assert_msg(r != NULL, "no answer to ping");
    expect_json(r, F("{\"jsonrpc\":\"2.0\",\"id\":%ld,\"result\":{}}", id));
    json_decref(r);
}

/* The first campaign of a one-item page, as the sandbox lists it. */
#define NEWEST_CAMPAIGN                                                                  \
    "{\"campaigns\":[{\"id\":1032,\"name\":\"Service Outage\",\"slug\":"                 \
    "\"service-outage-188\",\"is_active\":true,\"channels\":[1,2]}],\"page\":1,"         \
    "\"total_pages\":32,\"total\":32}"

/* After a failure: rules and records cleared, a ping answers and a real
 * call succeeds. */
static void srv_healthy(struct srv *v, const struct sbx *s)
{
    sb_clear(s);
    srv_ping(v);
    expect_ok(srv_call(v, "list_campaigns", "{\"limit\":1}"), NEWEST_CAMPAIGN);
    json_t *list;
    expect_req_at(s, only_req(s, &list), "GET", "/api/v5/campaign/api/campaigns",
                  "pageNo=1&itemsPerPage=1", NULL, "list_campaigns");
    json_decref(list);
    sb_clear(s);
}

static void tcase_setup(void)
{
    sbx_start(&SB, NULL);
}

static void tcase_teardown(void)
{
    sbx_stop(&SB);
}

/* Each test starts from the sandbox as it was created: the reset forgets
 * state, rules, records and statistics and drops any request an earlier
 * test left waiting out a delay, which the wait then sees gone. */
static void setup(void)
{
    json_decref(ctl(&SB, "POST", "/_sandbox/reset", NULL));
    sb_wait_stat(&SB, "inflight", 0);
}

/* structuredContent of a response (borrowed). */
static json_t *sc_of(json_t *resp)
{
    return json_object_get(json_object_get(resp, "result"), "structuredContent");
}

/* The 24-hex request id of a successful result (malloc'd). */
static char *request_id_of(json_t *resp)
{
    const char *rid = json_string_value(json_object_get(sc_of(resp), "request_id"));
    char *dump = json_dumps(resp, JSON_COMPACT);
    ck_assert_msg(rid != NULL, "no request_id: %s", dump);
    free(dump);
    ck_assert_uint_eq(strlen(rid), 24);
    ck_assert_uint_eq(strspn(rid, "0123456789abcdef"), 24);
    return strdup(rid);
}

/* ---- the eight tools: exact request and exact result ---- */

START_TEST(otp_send_resend_verify)
{
    struct srv v;
    srv_start(&v, SB.base,
              (const char *[]){"MSG91_OTP_TEMPLATE_ID=tmpl_default-1", NULL});

    /* No template_id: the configured one is used; variables are the body. */
    json_t *r = srv_call(&v, "send_otp",
                         "{\"mobile\":\"+" MOBILE "\",\"otp_length\":6,\"otp_expiry\":5,"
                         "\"variables\":{\"name\":\"Asha\",\"company\":\"Acme & Co\"}}");
    char *rid = request_id_of(r);
    expect_ok(r, F("{\"request_id\":\"%s\",\"mobile\":\"" MOBILE "\"}", rid));
    free(rid);
    json_t *list;
    json_t *rec = only_req(&SB, &list);
    expect_req(rec, "POST", "/api/v5/otp",
               "template_id=tmpl_default-1&mobile=" MOBILE "&otp_length=6&otp_expiry=5",
               "{\"name\":\"Asha\",\"company\":\"Acme & Co\"}", "send_otp");
    expect_query(rec, "[[\"template_id\",\"tmpl_default-1\"],[\"mobile\",\"" MOBILE "\"],"
                      "[\"otp_length\",\"6\"],[\"otp_expiry\",\"5\"]]");
    json_decref(list);
    char *code = sb_otp(&SB, MOBILE);
    ck_assert_uint_eq(strlen(code), 6);
    sb_clear(&SB);

    /* Resend by voice: GET, no body, retrytype spelled out. */
    expect_ok(srv_call(&v, "resend_otp",
                       "{\"mobile\":\"" MOBILE "\",\"retry_type\":\"voice\"}"),
              "{\"message\":\"retry send successfully\",\"mobile\":\"" MOBILE "\","
              "\"retry_type\":\"voice\"}");
    rec = only_req(&SB, &list);
    expect_req(rec, "GET", "/api/v5/otp/retry", "retrytype=voice&mobile=" MOBILE, NULL,
               "resend_otp");
    json_decref(list);
    sb_clear(&SB);

    /* A wrong code, the right one, then the right one again. */
    char wrong[16];
    snprintf(wrong, sizeof wrong, "%s", code);
    wrong[0] = (char)(wrong[0] == '9' ? '0' : wrong[0] + 1);
    expect_ok(srv_call(&v, "verify_otp",
                       F("{\"mobile\":\"" MOBILE "\",\"otp\":\"%s\"}", wrong)),
              "{\"verified\":false,\"reason\":\"mismatch\",\"message\":\"OTP not match\","
              "\"mobile\":\"" MOBILE "\"}");
    expect_ok(
        srv_call(&v, "verify_otp",
                 F("{\"mobile\":\"+" MOBILE "\",\"otp\":\"%s\"}", code)),
        "{\"verified\":true,\"message\":\"OTP verified success\",\"mobile\":\"" MOBILE
        "\"}");
    expect_ok(
        srv_call(&v, "verify_otp", F("{\"mobile\":\"" MOBILE "\",\"otp\":\"%s\"}", code)),
        "{\"verified\":false,\"reason\":\"already_verified\",\"message\":\"Mobile no. "
        "already verified\",\"mobile\":\"" MOBILE "\"}");
    list = sb_requests(&SB);
    ck_assert_uint_eq(json_array_size(list), 3);
    expect_req(json_array_get(list, 0), "GET", "/api/v5/otp/verify",
               F("otp=%s&mobile=" MOBILE, wrong), NULL, "verify_otp");
    expect_query(json_array_get(list, 0),
                 F("[[\"otp\",\"%s\"],[\"mobile\",\"" MOBILE "\"]]", wrong));
    expect_req(json_array_get(list, 1), "GET", "/api/v5/otp/verify",
               F("otp=%s&mobile=" MOBILE, code), NULL, "verify_otp");
    expect_req(json_array_get(list, 2), "GET", "/api/v5/otp/verify",
               F("otp=%s&mobile=" MOBILE, code), NULL, "verify_otp");
    json_decref(list);
    free(code);
    sb_clear(&SB);

    /* An explicit template and code win over the default; no variables
     * still sends an empty JSON object. */
    r = srv_call(&v, "send_otp",
                 "{\"mobile\":\"14155550123\",\"template_id\":\"T_2\",\"otp\":\"4821\"}");
    rid = request_id_of(r);
    expect_ok(r, F("{\"request_id\":\"%s\",\"mobile\":\"14155550123\"}", rid));
    free(rid);
    expect_req(only_req(&SB, &list), "POST", "/api/v5/otp",
               "template_id=T_2&mobile=14155550123&otp=4821&otp_length=4", "{}",
               "send_otp");
    json_decref(list);
    code = sb_otp(&SB, "14155550123");
    ck_assert_str_eq(code, "4821");
    free(code);
    srv_stop(&v);
}
END_TEST

#define NOT_VERIFIED(reason, msg)                                                        \
    "{\"verified\":false,\"reason\":\"" reason "\",\"message\":\"" msg                   \
    "\",\"mobile\":\"" MOBILE "\"}"

/* MSG91's other answers to "is this code right?", and its retry limit. */
START_TEST(otp_expiry_and_limits)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    /* Nothing sent to this number yet. */
    expect_ok(srv_call(&v, "verify_otp", VERIFY_ARGS),
              NOT_VERIFIED("not_found", "Mobile no. not found"));

    /* A one-minute code checked 61 s later on the sandbox clock. */
    json_decref(srv_call(&v, "send_otp",
                         "{\"mobile\":\"" MOBILE
                         "\",\"template_id\":\"T1\",\"otp\":\"246810\","
                         "\"otp_expiry\":1}"));
    json_decref(ctl(&SB, "POST", "/_sandbox/clock", "{\"advance_s\":61}"));
    expect_ok(
        srv_call(&v, "verify_otp", "{\"mobile\":\"" MOBILE "\",\"otp\":\"246810\"}"),
        NOT_VERIFIED("expired", "OTP expired"));

    /* Two resends, then the third is refused with what to do next. */
    json_decref(srv_call(&v, "send_otp",
                         "{\"mobile\":\"" MOBILE
                         "\",\"template_id\":\"T1\",\"otp\":\"1357\"}"));
    for (int i = 0; i < 2; i++)
        expect_ok(srv_call(&v, "resend_otp", RESEND_ARGS),
                  "{\"message\":\"retry send successfully\",\"mobile\":\"" MOBILE "\","
                  "\"retry_type\":\"text\"}");
    expect_err(
        srv_call(&v, "resend_otp", RESEND_ARGS),
        "MSG91 returned an error: OTP retry count maxed out. No more retries for this "
        "code: call send_otp to send a new one.");

    /* Five wrong codes use up the attempts: even the right one is refused. */
    for (int i = 0; i < 5; i++)
        expect_ok(
            srv_call(&v, "verify_otp", "{\"mobile\":\"" MOBILE "\",\"otp\":\"9999\"}"),
            NOT_VERIFIED("mismatch", "OTP not match"));
    expect_ok(
        srv_call(&v, "verify_otp", "{\"mobile\":\"" MOBILE "\",\"otp\":\"1357\"}"),
        NOT_VERIFIED("attempts_exceeded", "Max limit reached for this otp verification"));
    json_t *otp = ctl(&SB, "GET", "/_sandbox/otp?mobile=" MOBILE, NULL);
    expect_json(json_object_get(otp, "verified"), "false");
    json_decref(otp);
    /* Every one of those was one request: nothing is retried. */
    ck_assert_uint_eq(sb_count(&SB), 13);
    srv_stop(&v);
}
END_TEST

START_TEST(flow_to_several_recipients)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    json_t *r = srv_call(
        &v, "send_sms_flow",
        "{\"template_id\":\"flow_welcome\",\"recipients\":["
        "{\"mobiles\":\"+" MOBILE "\",\"name\":\"Asha\",\"code\":\"1234\"},"
        "{\"mobiles\":\"919812345678\",\"name\":\"Ravi\"},"
        "{\"mobiles\":\"+14155550123\",\"name\":\"Sam & "
        "Co\",\"link\":\"https://x.example/?a=1#b\"}],"
        "\"short_url\":true,\"short_url_expiry\":3600,\"realtime_response\":true}");
    char *rid = request_id_of(r);
    expect_ok(r, F("{\"request_id\":\"%s\",\"recipients\":3}", rid));
    json_t *list;
    json_t *rec = only_req(&SB, &list);
    expect_req(
        rec, "POST", "/api/v5/flow", "",
        "{\"template_id\":\"flow_welcome\",\"short_url\":\"1\",\"short_url_expiry\":3600,"
        "\"realTimeResponse\":\"1\",\"recipients\":["
        "{\"mobiles\":\"" MOBILE "\",\"name\":\"Asha\",\"code\":\"1234\"},"
        "{\"mobiles\":\"919812345678\",\"name\":\"Ravi\"},"
        "{\"mobiles\":\"14155550123\",\"name\":\"Sam & Co\","
        "\"link\":\"https://x.example/?a=1#b\"}]}",
        "send_sms_flow");
    json_decref(list);
    /* The sandbox kept the send under the id the result reports. */
    json_t *flows = ctl(&SB, "GET", "/_sandbox/flows", NULL);
    json_t *flow = json_array_get(json_object_get(flows, "flows"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(flow, "request_id")), rid);
    ck_assert_str_eq(json_string_value(json_object_get(flow, "template_id")),
                     "flow_welcome");
    json_decref(flows);
    free(rid);
    sb_clear(&SB);

    /* Without the optional flags only template_id and recipients go. */
    r = srv_call(&v, "send_sms_flow",
                 "{\"template_id\":\"F1\",\"recipients\":[{\"mobiles\":\"" MOBILE "\"}],"
                 "\"short_url\":false,\"realtime_response\":false}");
    rid = request_id_of(r);
    expect_ok(r, F("{\"request_id\":\"%s\",\"recipients\":1}", rid));
    free(rid);
    expect_req(only_req(&SB, &list), "POST", "/api/v5/flow", "",
               "{\"template_id\":\"F1\",\"short_url\":\"0\",\"recipients\":[{\"mobiles\":"
               "\"" MOBILE "\"}]}",
               "send_sms_flow");
    json_decref(list);
    srv_stop(&v);
}
END_TEST

START_TEST(user_events_with_offset_timestamps)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    expect_ok(
        srv_call(
            &v, "create_user_events",
            "{\"identifier\":\"asha@example.com\",\"events\":["
            "{\"name\":\"login\",\"properties\":{\"plan\":\"pro\",\"seats\":3},"
            "\"timestamp\":\"2024-05-01T10:30:00+05:30\"},"
            "{\"name\":\"purchase\",\"timestamp\":\"2024-12-31T23:59:59.750-01:00\"},"
            "{\"name\":\"signup\",\"timestamp\":\"2024-02-29T23:30:00-01:00\"},"
            "{\"name\":\"logout\"}]}"),
        "{\"accepted\":4,\"upstream\":{\"accepted\":4}}");
    json_t *list;
    expect_req(only_req(&SB, &list), "POST", "/api/v5/segmento/api/v1/events", "",
               "{\"data\":["
               "{\"event_name\":\"login\",\"visitor_id\":\"asha@example.com\","
               "\"event_properties\":{\"plan\":\"pro\",\"seats\":3},"
               "\"event_timestamp\":\"2024-05-01 05:00:00\",\"type\":\"track\"},"
               "{\"event_name\":\"purchase\",\"visitor_id\":\"asha@example.com\","
               "\"event_properties\":{},\"event_timestamp\":\"2025-01-01 00:59:59\","
               "\"type\":\"track\"},"
               "{\"event_name\":\"signup\",\"visitor_id\":\"asha@example.com\","
               "\"event_properties\":{},\"event_timestamp\":\"2024-03-01 00:30:00\","
               "\"type\":\"track\"},"
               "{\"event_name\":\"logout\",\"visitor_id\":\"asha@example.com\","
               "\"event_properties\":{},\"type\":\"track\"}]}",
               "create_user_events");
    json_decref(list);
    /* All four were stored as accepted (asha is in the phonebook). */
    json_t *events = ctl(&SB, "GET", "/_sandbox/events", NULL);
    json_t *all = json_object_get(events, "events");
    ck_assert_uint_eq(json_array_size(all), 4);
    for (size_t i = 0; i < 4; i++)
        ck_assert_str_eq(
            json_string_value(json_object_get(json_array_get(all, i), "status")),
            "accepted");
    json_decref(events);
    srv_stop(&v);
}
END_TEST

START_TEST(event_types_listed)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    expect_ok(
        srv_call(&v, "get_event_types", "{}"),
        "{\"event_types\":["
        "{\"id\":\"1\",\"name\":\"login\",\"description\":\"A contact signed in.\","
        "\"upstream\":{\"id\":\"1\",\"name\":\"login\",\"description\":\"A contact "
        "signed in.\"}},"
        "{\"id\":\"2\",\"name\":\"logout\",\"description\":\"A contact signed out.\","
        "\"upstream\":{\"id\":\"2\",\"name\":\"logout\",\"description\":\"A contact "
        "signed out.\"}},"
        "{\"id\":\"3\",\"name\":\"signup\",\"description\":\"A contact created an "
        "account.\","
        "\"upstream\":{\"id\":\"3\",\"name\":\"signup\",\"description\":\"A contact "
        "created an account.\"}},"
        "{\"id\":\"4\",\"name\":\"page-view\",\"description\":\"A contact viewed a "
        "page.\","
        "\"upstream\":{\"id\":\"4\",\"name\":\"page-view\",\"description\":\"A contact "
        "viewed a page.\"}},"
        "{\"id\":\"5\",\"name\":\"product-clicked\",\"description\":\"A contact clicked "
        "a product.\","
        "\"upstream\":{\"id\":\"5\",\"name\":\"product-clicked\",\"description\":\"A "
        "contact clicked a product.\"}},"
        "{\"id\":\"6\",\"name\":\"add-to-cart\",\"description\":\"A contact added a "
        "product to the cart.\","
        "\"upstream\":{\"id\":\"6\",\"name\":\"add-to-cart\",\"description\":\"A contact "
        "added a product to the cart.\"}},"
        "{\"id\":\"7\",\"name\":\"purchase\",\"description\":\"A contact completed a "
        "purchase.\","
        "\"upstream\":{\"id\":\"7\",\"name\":\"purchase\",\"description\":\"A contact "
        "completed a purchase.\"}}],\"total\":7}");
    json_t *list;
    expect_req(only_req(&SB, &list), "GET", "/api/v5/segmento/api/v1/event-types", "",
               NULL, "get_event_types");
    json_decref(list);
    /* No arguments at all is the same call. */
    sb_clear(&SB);
    long id = v.next_id++;
    ck_assert_int_eq(
        testutil_send_line(&v.c, F("{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":"
                                   "\"tools/call\",\"params\":{\"name\":"
                                   "\"get_event_types\"}}",
                                   id)),
        0);
    json_t *r = srv_wait(&v, id, REPLY_MS);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(json_integer_value(json_object_get(sc_of(r), "total")), 7);
    json_decref(r);
    ck_assert_uint_eq(sb_count(&SB), 1);
    srv_stop(&v);
}
END_TEST

/* A string field of stored event i (static copy, valid until the next call). */
static const char *event_field(size_t i, const char *field)
{
    static char out[64];
    json_t *events = ctl(&SB, "GET", "/_sandbox/events", NULL);
    const char *s = json_string_value(
        json_object_get(json_array_get(json_object_get(events, "events"), i), field));
    ck_assert_ptr_nonnull(s);
    snprintf(out, sizeof out, "%s", s);
    json_decref(events);
    return out;
}

START_TEST(failed_events_with_dates)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    /* Two events for a contact the phonebook does not know, two days apart
     * on the sandbox clock: both are accepted and then stored as failed. */
    expect_ok(
        srv_call(
            &v, "create_user_events",
            "{\"identifier\":\"nobody@example.com\",\"events\":[{\"name\":\"login\"}]}"),
        "{\"accepted\":1,\"upstream\":{\"accepted\":1}}");
    json_decref(ctl(&SB, "POST", "/_sandbox/clock", "{\"advance_s\":172800}"));
    expect_ok(
        srv_call(&v, "create_user_events",
                 "{\"identifier\":\"15550000000\",\"events\":[{\"name\":\"signup\"}]}"),
        "{\"accepted\":1,\"upstream\":{\"accepted\":1}}");
    char id0[32], id1[32], at0[32], at1[32], day0[11], day1[11];
    snprintf(id0, sizeof id0, "%s", event_field(0, "eventId"));
    snprintf(at0, sizeof at0, "%s", event_field(0, "received_at"));
    snprintf(id1, sizeof id1, "%s", event_field(1, "eventId"));
    snprintf(at1, sizeof at1, "%s", event_field(1, "received_at"));
    snprintf(day0, sizeof day0, "%.10s", at0);
    snprintf(day1, sizeof day1, "%.10s", at1);
    ck_assert_str_ne(day0, day1);
    sb_clear(&SB);

    /* The first day only. */
    expect_ok(
        srv_call(
            &v, "get_failed_events",
            F("{\"campaign_id\":\"1001\",\"page\":1,\"limit\":5,\"start_date\":\"%s\","
              "\"end_date\":\"%s\"}",
              day0, day0)),
        F("{\"campaign_id\":\"1001\",\"failed_events\":[{\"event_id\":\"%s\",\"reason\":"
          "\"visitor_id not found in phonebook\",\"recipient\":\"nobody@example.com\","
          "\"timestamp\":\"%s\",\"upstream\":{\"eventId\":\"%s\",\"reason\":"
          "\"visitor_id not found in phonebook\",\"recipient\":\"nobody@example.com\","
          "\"timestamp\":\"%s\"}}],\"page\":1,\"limit\":5,\"total\":1}",
          id0, at0, id0, at0));
    json_t *list;
    expect_req(only_req(&SB, &list), "POST",
               "/api/v5/segmento/api/v1/campaigns/1001/failed-events", "",
               F("{\"page\":1,\"limit\":5,\"start_date\":\"%s\",\"end_date\":\"%s\"}",
                 day0, day0),
               "get_failed_events");
    json_decref(list);
    sb_clear(&SB);

    /* From the second day on, page 1 of size 1 (the defaults otherwise). */
    expect_ok(
        srv_call(
            &v, "get_failed_events",
            F("{\"campaign_id\":\"welcome-series-519\",\"start_date\":\"%s\"}", day1)),
        F("{\"campaign_id\":\"welcome-series-519\",\"failed_events\":[{\"event_id\":"
          "\"%s\",\"reason\":\"visitor_id not found in phonebook\",\"recipient\":"
          "\"15550000000\","
          "\"timestamp\":\"%s\",\"upstream\":{\"eventId\":\"%s\",\"reason\":"
          "\"visitor_id not found in phonebook\",\"recipient\":\"15550000000\","
          "\"timestamp\":\"%s\"}}],\"page\":1,\"limit\":10,\"total\":1}",
          id1, at1, id1, at1));
    expect_req(only_req(&SB, &list), "POST",
               "/api/v5/segmento/api/v1/campaigns/welcome-series-519/failed-events", "",
               F("{\"page\":1,\"limit\":10,\"start_date\":\"%s\"}", day1),
               "get_failed_events");
    json_decref(list);
    sb_clear(&SB);

    /* Both, second page of size 1. */
    expect_ok(
        srv_call(&v, "get_failed_events",
                 "{\"campaign_id\":\"1032\",\"page\":2,\"limit\":1,"
                 "\"start_date\":\"2000-01-01\",\"end_date\":\"2999-12-31\"}"),
        F("{\"campaign_id\":\"1032\",\"failed_events\":[{\"event_id\":\"%s\",\"reason\":"
          "\"visitor_id not found in phonebook\",\"recipient\":\"15550000000\","
          "\"timestamp\":\"%s\",\"upstream\":{\"eventId\":\"%s\",\"reason\":"
          "\"visitor_id not found in phonebook\",\"recipient\":\"15550000000\","
          "\"timestamp\":\"%s\"}}],\"page\":2,\"limit\":1,\"total\":2}",
          id1, at1, id1, at1));
    sb_clear(&SB);

    /* An unknown campaign is a tool error naming it. */
    expect_err(
        srv_call(&v, "get_failed_events", "{\"campaign_id\":\"9999\"}"),
        "MSG91 did not find campaign \"9999\" (HTTP 404: Campaign not found). Get valid "
        "campaign ids from list_campaigns.");
    ck_assert_uint_eq(sb_count(&SB), 1);
    srv_stop(&v);
}
END_TEST

START_TEST(campaigns_page_two)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    expect_ok(
        srv_call(&v, "list_campaigns", "{\"page\":2}"),
        "{\"campaigns\":["
        "{\"id\":1007,\"name\":\"Win Back\",\"slug\":\"win-back-f3f\",\"is_active\":true,"
        "\"channels\":[1]},"
        "{\"id\":1006,\"name\":\"Birthday Wishes\",\"slug\":\"birthday-wishes-58e\","
        "\"is_active\":true,\"channels\":[1,2]},"
        "{\"id\":1005,\"name\":\"Delivery Feedback\",\"slug\":\"delivery-feedback-bdd\","
        "\"is_active\":false,\"channels\":[1]},"
        "{\"id\":1004,\"name\":\"Shipping Update\",\"slug\":\"shipping-update-22c\","
        "\"is_active\":true,\"channels\":[1,2]},"
        "{\"id\":1003,\"name\":\"Order "
        "Confirmation\",\"slug\":\"order-confirmation-87b\","
        "\"is_active\":true,\"channels\":[1]},"
        "{\"id\":1002,\"name\":\"Cart Recovery\",\"slug\":\"cart-recovery-eca\","
        "\"is_active\":true,\"channels\":[1,2]},"
        "{\"id\":1001,\"name\":\"Welcome Series\",\"slug\":\"welcome-series-519\","
        "\"is_active\":true,\"channels\":[1]}],"
        "\"page\":2,\"total_pages\":2,\"total\":32}");
    json_t *list;
    json_t *rec = only_req(&SB, &list);
    expect_req(rec, "GET", "/api/v5/campaign/api/campaigns", "pageNo=2&itemsPerPage=25",
               NULL, "list_campaigns");
    expect_query(rec, "[[\"pageNo\",\"2\"],[\"itemsPerPage\",\"25\"]]");
    json_decref(list);
    sb_clear(&SB);
    /* Past the last page: an empty list, the counts still right. */
    expect_ok(srv_call(&v, "list_campaigns", "{\"page\":5,\"limit\":10}"),
              "{\"campaigns\":[],\"page\":5,\"total_pages\":4,\"total\":32}");
    srv_stop(&v);
}
END_TEST

/* ---- failures: exact text, requests made, and a healthy server after ---- */

#define RESEND_UNKNOWN                                                                   \
    "the OTP may or may not have been resent. Ask the person whether a code arrived "    \
    "before calling resend_otp again; MSG91 allows only two retries per code."
#define EVENTS_UNKNOWN                                                                   \
    "the events may or may not have been recorded. Sending them again could record "     \
    "them twice; check the contact's activity in the MSG91 panel (or "                   \
    "get_failed_events) "                                                                \
    "first."
#define ROUTE_MISSING(method, path, tool)                                                \
    "MSG91 does not know the endpoint " method " " path " used by " tool                 \
    " (HTTP 404 Route Missing), so nothing was done. The path may have changed "         \
    "upstream: its method and path can be overridden in the config file under "          \
    "\"endpoints\", e.g. {\"endpoints\":{\"" tool "\":{\"method\":\"" method "\","       \
    "\"path\":\"/api/v5/...\"}}}."

/* With rule in place (NULL: none), tool(args) fails with exactly text after
 * exactly `requests` upstream requests; then the server is healthy. */
static void expect_failure(struct srv *v, const char *rule, const char *tool,
                           const char *args, const char *text, size_t requests)
{
    sb_clear(&SB);
    if (rule)
        sb_rule(&SB, rule);
    expect_err(srv_call(v, tool, args), text);
    size_t n = sb_count(&SB);
    ck_assert_msg(n == requests, "%s with rule %s: %zu requests recorded, want %zu", tool,
                  rule ? rule : "none", n, requests);
    srv_healthy(v, &SB);
}

START_TEST(failure_msg91_type_error)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    expect_failure(
        &v,
        "{\"tool\":\"send_otp\",\"count\":1,\"body\":\"{\\\"type\\\":\\\"error\\\","
        "\\\"message\\\":\\\"The provided flow ID or template ID is invalid.\\\"}\"}",
        "send_otp", OTP_ARGS,
        "MSG91 returned an error: The provided flow ID or template ID is invalid. "
        "Check template_id (or the configured MSG91_OTP_TEMPLATE_ID) against the OTP "
        "templates in the MSG91 panel.",
        1);
    /* The same from the sandbox's own validation. */
    expect_failure(
        &v, NULL, "send_otp",
        "{\"mobile\":\"" MOBILE "\",\"template_id\":\"invalid_tmpl\"}",
        "MSG91 returned an error: The provided flow ID or template ID is invalid. "
        "Check template_id (or the configured MSG91_OTP_TEMPLATE_ID) against the OTP "
        "templates in the MSG91 panel.",
        1);
    expect_failure(
        &v, NULL, "send_sms_flow",
        "{\"template_id\":\"invalid_flow\",\"recipients\":[{\"mobiles\":\"" MOBILE
        "\"}]}",
        "MSG91 returned an error: The provided flow ID or template ID is invalid. "
        "Check template_id against the Flow templates in the MSG91 panel; nothing "
        "was sent.",
        1);
    expect_failure(
        &v, NULL, "resend_otp", "{\"mobile\":\"919812345678\"}",
        "MSG91 returned an error: No OTP request found to retryotp. There is no "
        "pending OTP for this number: call send_otp first.",
        1);
    expect_failure(
        &v,
        "{\"tool\":\"verify_otp\",\"count\":1,\"body\":\"{\\\"type\\\":\\\"error\\\","
        "\\\"message\\\":\\\"Something else went wrong\\\"}\"}",
        "verify_otp", VERIFY_ARGS, "MSG91 returned an error: Something else went wrong.",
        1);
    /* Family 2 refusals, with and without an error status. */
    expect_failure(
        &v,
        "{\"tool\":\"list_campaigns\",\"count\":1,\"body\":\"{\\\"status\\\":"
        "\\\"fail\\\",\\\"hasError\\\":true,\\\"errors\\\":[\\\"pageNo is bad\\\","
        "\\\"itemsPerPage is bad\\\"]}\"}",
        "list_campaigns", CAMPAIGNS_ARGS,
        "MSG91 returned an error: pageNo is bad; itemsPerPage is bad.", 1);
    expect_failure(&v, "{\"tool\":\"create_user_events\",\"count\":1,\"status\":422}",
                   "create_user_events", EVENTS_ARGS,
                   "MSG91 returned an error (HTTP 422): Request failed.", 1);
    srv_stop(&v);
}
END_TEST

START_TEST(failure_wrong_key_both_families)
{
    struct sbx other;
    sbx_start(&other, "the-sandbox-only-key");
    struct srv v;
    srv_start(&v, other.base, NULL);
    static const char *const calls[][2] = {
        {"send_otp", OTP_ARGS},
        {"resend_otp", RESEND_ARGS},
        {"verify_otp", VERIFY_ARGS},
        {"send_sms_flow", FLOW_ARGS},
        {"create_user_events", EVENTS_ARGS},
        {"get_event_types", "{}"},
        {"get_failed_events", FAILED_ARGS},
        {"list_campaigns", CAMPAIGNS_ARGS},
    };
    static const char *const paths[] = {
        "/api/v5/otp",
        "/api/v5/otp/retry",
        "/api/v5/otp/verify",
        "/api/v5/flow",
        "/api/v5/segmento/api/v1/events",
        "/api/v5/segmento/api/v1/event-types",
        "/api/v5/segmento/api/v1/campaigns/1001/failed-events",
        "/api/v5/campaign/api/campaigns",
    };
    for (size_t i = 0; i < 8; i++)
        expect_err(srv_call(&v, calls[i][0], calls[i][1]),
                   i < 4 ? KEY_TEXT_F1 : KEY_TEXT_F2);
    /* One request each (a 401 is not retried), each carrying our key. */
    json_t *list = sb_requests(&other);
    ck_assert_uint_eq(json_array_size(list), 8);
    for (size_t i = 0; i < 8; i++) {
        json_t *rec = json_array_get(list, i);
        ck_assert_str_eq(json_string_value(json_object_get(rec, "tool")), calls[i][0]);
        ck_assert_str_eq(json_string_value(json_object_get(rec, "path")), paths[i]);
        ck_assert_str_eq(json_string_value(
                             json_object_get(json_object_get(rec, "headers"), "authkey")),
                         TEST_KEY);
    }
    json_decref(list);
    /* Still serving: a ping, and the next call gets the same clear answer. */
    srv_ping(&v);
    expect_err(srv_call(&v, "list_campaigns", "{}"), KEY_TEXT_F2);
    srv_stop(&v);
    sbx_stop(&other);
}
END_TEST

START_TEST(failure_401_403)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    expect_failure(&v, "{\"tool\":\"list_campaigns\",\"count\":1,\"status\":401}",
                   "list_campaigns", CAMPAIGNS_ARGS, KEY_TEXT_RULE, 1);
    expect_failure(&v, "{\"tool\":\"send_otp\",\"count\":1,\"status\":401}", "send_otp",
                   OTP_ARGS, KEY_TEXT_RULE, 1);
    expect_failure(&v, "{\"tool\":\"send_otp\",\"count\":1,\"status\":403}", "send_otp",
                   OTP_ARGS,
                   KEY_TEXT_RULE_403
                   " A 403 can also mean the key may not be used from this machine's "
                   "IP address: check the key's settings in the MSG91 panel.",
                   1);
    expect_failure(&v, "{\"tool\":\"get_event_types\",\"count\":1,\"status\":403}",
                   "get_event_types", "{}",
                   KEY_TEXT_RULE_403
                   " A 403 can also mean the key may not be used from this machine's "
                   "IP address: check the key's settings in the MSG91 panel.",
                   1);
    srv_stop(&v);
}
END_TEST

START_TEST(failure_route_missing)
{
    /* The config file points get_event_types at a path the sandbox does
     * not serve: MSG91's real 404 Route Missing comes back. */
    char *config = testutil_temp_file(
        "{\"endpoints\":{\"get_event_types\":{\"method\":\"GET\",\"path\":"
        "\"/api/v5/segmento/api/v1/no-such-route\"}}}");
    char config_env[128];
    snprintf(config_env, sizeof config_env, "MSG91_CONFIG=%s", config);
    struct srv v;
    srv_start(&v, SB.base, (const char *[]){config_env, NULL});
    expect_err(
        srv_call(&v, "get_event_types", "{}"),
        ROUTE_MISSING("GET", "/api/v5/segmento/api/v1/no-such-route", "get_event_types"));
    json_t *list;
    expect_req(only_req(&SB, &list), "GET", "/api/v5/segmento/api/v1/no-such-route", "",
               NULL, NULL);
    json_decref(list);
    srv_healthy(&v, &SB);
    /* A 404 Route Missing on a default endpoint, and a 404 that is not JSON. */
    expect_failure(&v,
                   "{\"tool\":\"send_otp\",\"count\":1,\"status\":404,\"body\":"
                   "\"{\\\"type\\\":\\\"error\\\",\\\"msg\\\":\\\"Route Missing\\\"}\"}",
                   "send_otp", OTP_ARGS, ROUTE_MISSING("POST", "/api/v5/otp", "send_otp"),
                   1);
    expect_failure(
        &v,
        "{\"tool\":\"list_campaigns\",\"count\":1,\"status\":404,\"body\":"
        "\"<html>Not Found</html>\",\"content_type\":\"text/html\"}",
        "list_campaigns", CAMPAIGNS_ARGS,
        ROUTE_MISSING("GET", "/api/v5/campaign/api/campaigns", "list_campaigns"), 1);
    srv_stop(&v);
    unlink(config);
    free(config);
}
END_TEST

START_TEST(failure_413_429)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    static const char too_large[] =
        "MSG91 refused the request as too large (HTTP 413), so nothing was done: split "
        "it "
        "into smaller calls (fewer recipients or events per call).";
    expect_failure(&v, "{\"tool\":\"send_sms_flow\",\"count\":1,\"status\":413}",
                   "send_sms_flow", FLOW_ARGS, too_large, 1);
    expect_failure(&v, "{\"tool\":\"create_user_events\",\"count\":1,\"status\":413}",
                   "create_user_events", EVENTS_ARGS, too_large, 1);

    /* A send is never retried, whatever the wait. */
    expect_failure(
        &v, "{\"tool\":\"send_otp\",\"count\":1,\"retry_after\":7}", "send_otp", OTP_ARGS,
        "The call was rate limited by MSG91: retry after 7 s. Nothing was done.", 1);
    expect_failure(
        &v, "{\"tool\":\"send_sms_flow\",\"count\":1,\"status\":429}", "send_sms_flow",
        FLOW_ARGS,
        "The call was rate limited by MSG91: retry in a minute. Nothing was done.", 1);
    /* A read is retried (twice) unless the wait asked for is too long. */
    expect_failure(
        &v, "{\"tool\":\"list_campaigns\",\"count\":3,\"status\":429}", "list_campaigns",
        CAMPAIGNS_ARGS,
        "The call was rate limited by MSG91: retry in a minute. Nothing was done.", 3);
    expect_failure(
        &v, "{\"tool\":\"get_event_types\",\"count\":1,\"retry_after\":60}",
        "get_event_types", "{}",
        "The call was rate limited by MSG91: retry after 60 s. Nothing was done.", 1);
    /* One 429 with a short Retry-After, then the answer: success. */
    sb_clear(&SB);
    sb_rule(&SB, "{\"tool\":\"get_event_types\",\"count\":1,\"retry_after\":1}");
    double t0 = testutil_now_s();
    json_t *r = srv_call(&v, "get_event_types", "{}");
    double took = testutil_now_s() - t0;
    ck_assert_int_eq(json_integer_value(json_object_get(sc_of(r), "total")), 7);
    json_decref(r);
    ck_assert_uint_eq(sb_count(&SB), 2);
    ck_assert_msg(took >= 0.9, "Retry-After 1 honoured after only %.3f s", took);
    srv_healthy(&v, &SB);
    srv_stop(&v);
}
END_TEST

START_TEST(failure_5xx_and_read_retries)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    expect_failure(
        &v, "{\"tool\":\"send_otp\",\"status\":503}", "send_otp", OTP_ARGS,
        "MSG91 had a server error (HTTP 503), so the outcome is unknown: " OTP_UNKNOWN,
        1);
    expect_failure(
        &v, "{\"tool\":\"send_otp\",\"count\":1,\"status\":500}", "send_otp", OTP_ARGS,
        "MSG91 had a server error (HTTP 500), so the outcome is unknown: " OTP_UNKNOWN,
        1);
    expect_failure(
        &v, "{\"tool\":\"resend_otp\",\"count\":1,\"status\":502}", "resend_otp",
        RESEND_ARGS,
        "MSG91 had a server error (HTTP 502), so the outcome is unknown: " RESEND_UNKNOWN,
        1);
    expect_failure(
        &v, "{\"tool\":\"verify_otp\",\"count\":1,\"status\":500}", "verify_otp",
        VERIFY_ARGS,
        "MSG91 had a server error (HTTP 500), so the outcome is unknown: MSG91 may or "
        "may not have checked the code. A code can be verified only once: if "
        "verifying it again gives reason \"already_verified\", this check "
        "succeeded.",
        1);
    expect_failure(
        &v, "{\"tool\":\"send_sms_flow\",\"count\":1,\"status\":503}", "send_sms_flow",
        FLOW_ARGS,
        "MSG91 had a server error (HTTP 503), so the outcome is unknown: " FLOW_UNKNOWN,
        1);
    expect_failure(
        &v, "{\"tool\":\"create_user_events\",\"count\":1,\"status\":502}",
        "create_user_events", EVENTS_ARGS,
        "MSG91 had a server error (HTTP 502), so the outcome is unknown: " EVENTS_UNKNOWN,
        1);
    /* Reads: three attempts, then the error. */
    expect_failure(&v, "{\"tool\":\"list_campaigns\",\"status\":502}", "list_campaigns",
                   CAMPAIGNS_ARGS,
                   "MSG91 had a server error (HTTP 502); try again later.", 3);
    expect_failure(&v, "{\"tool\":\"get_failed_events\",\"status\":500}",
                   "get_failed_events", FAILED_ARGS,
                   "MSG91 had a server error (HTTP 500); try again later.", 3);
    /* Reads: one 503 (or 500) then the answer is a success after 2 requests. */
    sb_clear(&SB);
    sb_rule(&SB, "{\"tool\":\"list_campaigns\",\"count\":1,\"status\":503}");
    expect_ok(srv_call(&v, "list_campaigns", CAMPAIGNS_ARGS), NEWEST_CAMPAIGN);
    json_t *list = sb_requests(&SB);
    ck_assert_uint_eq(json_array_size(list), 2);
    for (size_t i = 0; i < 2; i++)
        expect_req(json_array_get(list, i), "GET", "/api/v5/campaign/api/campaigns",
                   "pageNo=1&itemsPerPage=1", NULL, "list_campaigns");
    json_decref(list);
    sb_clear(&SB);
    sb_rule(&SB, "{\"tool\":\"get_event_types\",\"count\":2,\"status\":500}");
    json_t *r = srv_call(&v, "get_event_types", "{}");
    ck_assert_int_eq(json_integer_value(json_object_get(sc_of(r), "total")), 7);
    json_decref(r);
    ck_assert_uint_eq(sb_count(&SB), 3);
    srv_healthy(&v, &SB);
    srv_stop(&v);
}
END_TEST

START_TEST(failure_bodies_that_are_not_envelopes)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    expect_failure(
        &v,
        "{\"tool\":\"list_campaigns\",\"count\":1,\"body\":\"<html><body>Bad "
        "Gateway</body></html>\",\"content_type\":\"text/html; charset=utf-8\"}",
        "list_campaigns", CAMPAIGNS_ARGS,
        "MSG91 answered with something that is not JSON (HTTP 200, text/html): "
        "\"<html><body>Bad Gateway</body></html>\"." NOT_JSON_TAIL,
        1);
    expect_failure(
        &v,
        "{\"tool\":\"send_otp\",\"count\":1,\"body\":\"Service temporarily\\r\\n"
        "unavailable\",\"content_type\":\"text/plain\"}",
        "send_otp", OTP_ARGS,
        "MSG91 answered with something that is not JSON (HTTP 200, text/plain): "
        "\"Service temporarily unavailable\"." NOT_JSON_TAIL
        " The outcome is unknown: " OTP_UNKNOWN,
        1);
    expect_failure(&v, "{\"tool\":\"get_event_types\",\"count\":1,\"body\":\"\"}",
                   "get_event_types", "{}",
                   "MSG91 answered with something that is not JSON (HTTP 200, "
                   "application/json): an empty body." NOT_JSON_TAIL,
                   1);
    expect_failure(
        &v,
        "{\"tool\":\"send_sms_flow\",\"count\":1,\"body\":\"\",\"content_type\":\"\"}",
        "send_sms_flow", FLOW_ARGS,
        "MSG91 answered with something that is not JSON (HTTP 200, no content type): "
        "an empty body." NOT_JSON_TAIL " The outcome is unknown: " FLOW_UNKNOWN,
        1);
    expect_failure(
        &v,
        "{\"tool\":\"list_campaigns\",\"count\":1,\"body\":\"{\\\"data\\\":{\\\"data\\\":"
        "[\"}",
        "list_campaigns", CAMPAIGNS_ARGS,
        "MSG91 answered with something that is not JSON (HTTP 200, application/json): "
        "\"{\"data\":{\"data\":[\"." NOT_JSON_TAIL,
        1);
    expect_failure(
        &v, "{\"tool\":\"list_campaigns\",\"count\":1,\"body\":\"[1,2]\"}",
        "list_campaigns", CAMPAIGNS_ARGS,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): expected a JSON "
        "object: [1,2].",
        1);
    expect_failure(
        &v,
        "{\"tool\":\"send_otp\",\"count\":1,\"body\":\"{\\\"type\\\":\\\"success\\\"}\"}",
        "send_otp", OTP_ARGS,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): \"request_id\" is "
        "missing: {\"type\":\"success\"}. The outcome is unknown: " OTP_UNKNOWN,
        1);
    /* A long body is quoted only in part. */
    char rule[1024], want[1024], xs[301];
    memset(xs, 'x', 300);
    xs[300] = '\0';
    snprintf(rule, sizeof rule,
             "{\"tool\":\"get_event_types\",\"count\":1,\"status\":400,\"body\":\"%s\","
             "\"content_type\":\"text/plain\"}",
             xs);
    snprintf(want, sizeof want,
             "MSG91 answered with something that is not JSON (HTTP 400, text/plain): "
             "\"%.200s...\"." NOT_JSON_TAIL,
             xs);
    expect_failure(&v, rule, "get_event_types", "{}", want, 1);
    srv_stop(&v);
}
END_TEST

START_TEST(failure_huge_answer)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    /* 9 MiB, past the engine's 8 MiB cap. */
    expect_failure(
        &v, "{\"tool\":\"list_campaigns\",\"count\":1,\"huge_bytes\":9437184}",
        "list_campaigns", CAMPAIGNS_ARGS,
        "MSG91's answer was too large to read (over the response size limit). "
        "Nothing was changed; ask for less at once (a smaller limit) if the tool "
        "takes one.",
        1);
    expect_failure(&v, "{\"tool\":\"send_sms_flow\",\"count\":1,\"huge_bytes\":9437184}",
                   "send_sms_flow", FLOW_ARGS,
                   "MSG91's answer was too large to read (over the response size "
                   "limit); " FLOW_UNKNOWN,
                   1);
    srv_stop(&v);
}
END_TEST

START_TEST(failure_connection_reset)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    expect_failure(
        &v, "{\"tool\":\"send_otp\",\"count\":1,\"reset\":true}", "send_otp", OTP_ARGS,
        "The connection to MSG91 dropped before a full answer arrived; " OTP_UNKNOWN, 1);
    expect_failure(
        &v, "{\"tool\":\"create_user_events\",\"count\":1,\"reset\":true}",
        "create_user_events", EVENTS_ARGS,
        "The connection to MSG91 dropped before a full answer arrived; " EVENTS_UNKNOWN,
        1);
    /* A read is attempted three times by the engine; the first attempt
     * goes out on the connection the previous call left open, and libcurl
     * itself sends it once more on a fresh one when that dies before any
     * answer (doc/upstream.md keeps that for retryable calls): 4 requests. */
    expect_failure(
        &v, "{\"tool\":\"list_campaigns\",\"reset\":true}", "list_campaigns",
        CAMPAIGNS_ARGS,
        "The connection to MSG91 dropped before a full answer arrived. Nothing was "
        "changed, so it is safe to ask again.",
        4);
    /* A read whose first attempt is reset succeeds on the second. */
    sb_clear(&SB);
    sb_rule(&SB, "{\"tool\":\"get_event_types\",\"count\":1,\"reset\":true}");
    json_t *r = srv_call(&v, "get_event_types", "{}");
    ck_assert_int_eq(json_integer_value(json_object_get(sc_of(r), "total")), 7);
    json_decref(r);
    ck_assert_uint_eq(sb_count(&SB), 2);
    srv_healthy(&v, &SB);
    srv_stop(&v);
}
END_TEST

START_TEST(failure_timeout)
{
    struct srv v;
    srv_start(&v, SB.base, (const char *[]){"MSG91_TIMEOUT_MS=300", NULL});
    /* Each delay outlasts the test, so an answer can only be the timeout. */
    expect_failure(
        &v, "{\"tool\":\"send_otp\",\"count\":1,\"delay_ms\":600000}", "send_otp",
        OTP_ARGS,
        "MSG91 did not answer: the request timed out after 300 ms; " OTP_UNKNOWN, 1);
    expect_failure(
        &v, "{\"tool\":\"send_sms_flow\",\"count\":1,\"delay_ms\":600000}",
        "send_sms_flow", FLOW_ARGS,
        "MSG91 did not answer: the request timed out after 300 ms; " FLOW_UNKNOWN, 1);
    /* A read that timed out after it was sent is not repeated either. */
    expect_failure(
        &v, "{\"tool\":\"list_campaigns\",\"count\":1,\"delay_ms\":600000}",
        "list_campaigns", CAMPAIGNS_ARGS,
        "MSG91 did not answer: the request timed out after 300 ms. Nothing was "
        "changed, so it is safe to ask again; if this keeps happening, check the "
        "network or raise MSG91_TIMEOUT_MS.",
        1);
    /* The sandbox still holds all three: the server waited out no delay. */
    ck_assert_int_eq(sb_stat(&SB, "inflight"), 3);
    srv_stop(&v);
}
END_TEST

/* The connection-refused text around libcurl's own detail. */
static void expect_refused(json_t *resp, unsigned port)
{
    char *text = err_text(resp);
    static const char head[] = "Could not connect to MSG91 (";
    static const char tail[] =
        "). Nothing was sent. Check the network connection and MSG91_BASE_URL.";
    ck_assert_msg(strncmp(text, head, strlen(head)) == 0, "%s", text);
    ck_assert_msg(strlen(text) > strlen(tail) &&
                      strcmp(text + strlen(text) - strlen(tail), tail) == 0,
                  "%s", text);
    ck_assert_msg(strstr(text, F("127.0.0.1 port %u", port)), "%s", text);
    ck_assert_msg(!strstr(text, TEST_KEY), "%s", text);
    free(text);
}

START_TEST(failure_connection_refused)
{
    unsigned port = testutil_closed_port();
    struct srv v;
    srv_start(&v, F("http://127.0.0.1:%u", port), NULL);
    expect_refused(srv_call(&v, "send_otp", OTP_ARGS), port);
    expect_refused(srv_call(&v, "send_sms_flow", FLOW_ARGS), port);
    /* A read retries (nothing can have happened) and then says the same. */
    expect_refused(srv_call(&v, "list_campaigns", CAMPAIGNS_ARGS), port);
    srv_ping(&v);
    expect_refused(srv_call(&v, "get_event_types", "{}"), port);
    ck_assert_uint_eq(sb_count(&SB), 0);
    srv_stop(&v);
}
END_TEST

/* Optional: a name that cannot resolve. Some resolvers answer at once,
 * some only time out; either text is accepted, anything slower skips. */
START_TEST(failure_dns)
{
    struct srv v;
    srv_start(&v, "https://nonexistent.invalid",
              (const char *[]){"MSG91_TIMEOUT_MS=2000", NULL});
    long id = srv_send(&v, "send_otp", OTP_ARGS, NULL);
    json_t *r = srv_wait(&v, id, 6000);
    if (!r) {
        fprintf(stderr, "failure_dns: no answer within 6 s on this resolver; skipped\n");
        kill(v.c.pid, SIGKILL);
        testutil_finish(&v.c, 5000);
        free(testutil_read_stderr(&v.c));
        json_decref(v.log);
        json_decref(v.stash);
        return;
    }
    char *text = err_text(r);
    bool dns =
        strncmp(text,
                "Could not reach MSG91: the host name in MSG91_BASE_URL did not resolve",
                70) == 0 &&
        strstr(text, ". Nothing was sent. Check MSG91_BASE_URL and the network "
                     "connection.");
    bool timeout =
        strcmp(
            text,
            "MSG91 did not answer: the request timed out after 2000 ms; " OTP_UNKNOWN) ==
        0;
    ck_assert_msg(dns || timeout, "%s", text);
    printf("dns: %s\n", text);
    fflush(stdout);
    free(text);
    srv_ping(&v);
    srv_stop(&v);
}
END_TEST

/* ---- hostile argument values ---- */

#define FAILED_PREFIX "/api/v5/segmento/api/v1/campaigns/"
#define FAILED_SUFFIX "/failed-events"

/* Campaign ids (as JSON string literals) and the path segment each must
 * become: one segment, nothing decoded or dropped, no query, no fragment. */
static const char *const hostile_ids[][3] = {
    /* JSON literal, encoded segment, the id as the error text shows it */
    {"\"../../otp\"", "..%2F..%2Fotp", "../../otp"},
    {"\"a/b?c=d#e\"", "a%2Fb%3Fc%3Dd%23e", "a/b?c=d#e"},
    {"\"1001&authkey=evil\"", "1001%26authkey%3Devil", "1001&authkey=evil"},
    {"\"1001?page=99\"", "1001%3Fpage%3D99", "1001?page=99"},
    {"\"%2e%2e\"", "%252e%252e", "%2e%2e"},
    {"\"..%2F..\"", "..%252F..", "..%2F.."},
    {"\"...\"", "...", "..."},
    {"\"a\\r\\nX-Injected: 1\"", "a%0D%0AX-Injected%3A%201", "a X-Injected: 1"},
    {"\"#\"", "%23", "#"},
    {"\" \"", "%20", ""},
    {"\"\\u0915\\u0948\\u0902\\u092a\\u0947\\u0928-\\u00e9\"",
     "%E0%A4%95%E0%A5%88%E0%A4%82%E0%A4%AA%E0%A5%87%E0%A4%A8-%C3%A9",
     "\xe0\xa4\x95\xe0\xa5\x88\xe0\xa4\x82\xe0\xa4\xaa\xe0\xa5\x87\xe0\xa4\xa8-\xc3\xa9"},
    {"\"1001/../../../../flow\"", "1001%2F..%2F..%2F..%2F..%2Fflow",
     "1001/../../../../flow"},
};

START_TEST(hostile_campaign_ids_stay_in_their_segment)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    for (size_t i = 0; i < sizeof hostile_ids / sizeof hostile_ids[0]; i++) {
        sb_clear(&SB);
        expect_err(
            srv_call(&v, "get_failed_events",
                     F("{\"campaign_id\":%s,\"limit\":3}", hostile_ids[i][0])),
            F("MSG91 did not find campaign \"%s\" (HTTP 404: Campaign not found). Get "
              "valid campaign ids from list_campaigns.",
              hostile_ids[i][2]));
        json_t *list;
        /* The sandbox routed it to get_failed_events: the path stayed put. */
        expect_req(only_req(&SB, &list), "POST",
                   F(FAILED_PREFIX "%s" FAILED_SUFFIX, hostile_ids[i][1]), "",
                   "{\"page\":1,\"limit\":3}", "get_failed_events");
        json_decref(list);
    }
    srv_stop(&v);
}
END_TEST

START_TEST(hostile_campaign_ids_with_get_override)
{
    /* Overridden to GET, the paging fields travel in the query: still only
     * page, limit and the dates, whatever the id holds. */
    char *config = testutil_temp_file(
        "{\"endpoints\":{\"get_failed_events\":{\"method\":\"GET\",\"path\":"
        "\"/api/v5/segmento/api/v1/campaigns/{campaign_id}/failed-events\"}}}");
    char config_env[128];
    snprintf(config_env, sizeof config_env, "MSG91_CONFIG=%s", config);
    struct sandbox_route routes[] = {
        {"get_failed_events", "GET",
         "/api/v5/segmento/api/v1/campaigns/{campaign_id}/failed-events"},
        {"list_campaigns", "GET", "/api/v5/campaign/api/campaigns"},
    };
    /* This test's own sandbox serves the overridden method (the shared one
     * belongs to the parent process and serves the default routes). */
    struct sbx gs;
    struct sandbox_options opts = {.routes = routes, .route_count = 2, .seed = 42};
    char *error = NULL;
    gs.sb = sandbox_create(&opts, &error);
    ck_assert_ptr_nonnull(gs.sb);
    gs.port = sandbox_port(gs.sb);
    snprintf(gs.base, sizeof gs.base, "http://127.0.0.1:%u", gs.port);

    struct srv v;
    srv_start(&v, gs.base, (const char *[]){config_env, NULL});
    for (size_t i = 0; i < sizeof hostile_ids / sizeof hostile_ids[0]; i++) {
        sb_clear(&gs);
        expect_err(
            srv_call(&v, "get_failed_events",
                     F("{\"campaign_id\":%s,\"page\":2,\"start_date\":\"2024-02-29\"}",
                       hostile_ids[i][0])),
            F("MSG91 did not find campaign \"%s\" (HTTP 404: Campaign not found). Get "
              "valid campaign ids from list_campaigns.",
              hostile_ids[i][2]));
        json_t *list;
        json_t *rec = only_req(&gs, &list);
        expect_req_at(&gs, rec, "GET",
                      F(FAILED_PREFIX "%s" FAILED_SUFFIX, hostile_ids[i][1]),
                      "page=2&limit=10&start_date=2024-02-29", NULL, "get_failed_events");
        expect_query(
            rec, "[[\"page\",\"2\"],[\"limit\",\"10\"],[\"start_date\",\"2024-02-29\"]]");
        json_decref(list);
    }
    /* And a real one answers through the override. */
    sb_clear(&gs);
    expect_ok(srv_call(&v, "get_failed_events",
                       "{\"campaign_id\":\"1001\",\"start_date\":\"2024-01-01\","
                       "\"end_date\":\"2024-01-31\"}"),
              "{\"campaign_id\":\"1001\",\"failed_events\":[],\"page\":1,\"limit\":10,"
              "\"total\":0}");
    json_t *list;
    expect_query(only_req(&gs, &list), "[[\"page\",\"1\"],[\"limit\",\"10\"],"
                                       "[\"start_date\",\"2024-01-01\"],"
                                       "[\"end_date\",\"2024-01-31\"]]");
    json_decref(list);
    srv_stop(&v);
    sbx_stop(&gs);
    unlink(config);
    free(config);
}
END_TEST

/* Values that would steer a request are refused by the schema (or the
 * builder) before anything is sent. */
START_TEST(hostile_values_rejected_before_sending)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    static const char *const cases[][3] = {
        {"send_otp", "{\"mobile\":\"" MOBILE "&otp=1234\",\"template_id\":\"T1\"}",
         "Invalid arguments for send_otp; fix these and call again:\n"
         "/mobile: does not match ^\\+?[0-9]{8,15}$"},
        {"send_otp", "{\"mobile\":\"" MOBILE "\\r\\nauthkey: x\",\"template_id\":\"T1\"}",
         "Invalid arguments for send_otp; fix these and call again:\n"
         "/mobile: does not match ^\\+?[0-9]{8,15}$"},
        {"send_otp", "{\"mobile\":\"" MOBILE "\",\"template_id\":\"T1/../../flow\"}",
         "Invalid arguments for send_otp; fix these and call again:\n"
         "/template_id: does not match ^[A-Za-z0-9_-]+$"},
        {"send_otp", "{\"mobile\":\"" MOBILE "\",\"template_id\":\"T1#x\"}",
         "Invalid arguments for send_otp; fix these and call again:\n"
         "/template_id: does not match ^[A-Za-z0-9_-]+$"},
        {"send_otp",
         "{\"mobile\":\"" MOBILE "\",\"template_id\":\"T1\",\"otp\":\"12%34\"}",
         "Invalid arguments for send_otp; fix these and call again:\n"
         "/otp: does not match ^[0-9]{4,9}$"},
        {"send_otp",
         "{\"mobile\":\"" MOBILE "\",\"template_id\":\"T1\",\"authkey\":\"evil\"}",
         "Invalid arguments for send_otp; fix these and call again:\n"
         "/: unexpected property \"authkey\""},
        {"send_otp",
         "{\"mobile\":\"\\u0969\\u0967\\u096a\\u0967\\u096b\\u096b\\u096b\\u096b\","
         "\"template_id\":\"T1\"}",
         "Invalid arguments for send_otp; fix these and call again:\n"
         "/mobile: does not match ^\\+?[0-9]{8,15}$"},
        {"resend_otp", "{\"mobile\":\"" MOBILE "\",\"retry_type\":\"voice&mobile=1\"}",
         "Invalid arguments for resend_otp; fix these and call again:\n"
         "/retry_type: must be one of \"text\", \"voice\""},
        {"verify_otp", "{\"mobile\":\"" MOBILE "\",\"otp\":\"1234&mobile=1\"}",
         "Invalid arguments for verify_otp; fix these and call again:\n"
         "/otp: does not match ^[0-9]{4,9}$"},
        {"list_campaigns", "{\"page\":\"2&itemsPerPage=1000\"}",
         "Invalid arguments for list_campaigns; fix these and call again:\n"
         "/page: must be integer, not string"},
        {"get_failed_events",
         "{\"campaign_id\":\"1001\",\"start_date\":\"2024-01-01&x=1\"}",
         "Invalid arguments for get_failed_events; fix these and call again:\n"
         "/start_date: does not match ^[0-9]{4}-[0-9]{2}-[0-9]{2}$\n"
         "/start_date: must be a valid date"},
        {"get_failed_events", "{\"campaign_id\":\"..\"}",
         "campaign_id must not be \".\" or \"..\"."},
        {"get_failed_events", "{\"campaign_id\":\".\"}",
         "campaign_id must not be \".\" or \"..\"."},
        {"send_sms_flow",
         "{\"template_id\":\"F1\",\"recipients\":[{\"mobiles\":\"" MOBILE
         ",919812345678\"}]}",
         "Invalid arguments for send_sms_flow; fix these and call again:\n"
         "/recipients/0/mobiles: does not match ^\\+?[0-9]{8,15}$"},
        {"create_user_events",
         "{\"identifier\":\"contact-1001\",\"events\":[{\"name\":\"login\","
         "\"timestamp\":\"2024-05-01 10:30:00\"}]}",
         "Invalid arguments for create_user_events; fix these and call again:\n"
         "/events/0/timestamp: must be a valid date-time"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_err(srv_call(&v, cases[i][0], cases[i][1]), cases[i][2]);
    ck_assert_uint_eq(sb_count(&SB), 0);
    srv_healthy(&v, &SB);
    srv_stop(&v);
}
END_TEST

/* Hostile text where the tools allow free text (template variables, event
 * data, identifiers) goes into the JSON body, escaped, and nowhere else. */
START_TEST(hostile_values_in_bodies)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
#define HOSTILE_VARS                                                                     \
    "{\"q\":\"a&b=c#d/../?%25 %\",\"crlf\":\"x\\r\\nauthkey: evil\\r\\nX-Injected: 1\"," \
    "\"uni\":"                                                                           \
    "\"\xe0\xa4\xa8\xe0\xa4\xae\xe0\xa4\xb8\xe0\xa5\x8d\xe0\xa4\xa4\xe0\xa5\x87 "        \
    "\xe2\x9c\x93\",\"path\":\"../../otp?mobile=1\",\"a&b=c\":\"key with & and =\"}"
    json_t *r = srv_call(&v, "send_otp",
                         "{\"mobile\":\"" MOBILE
                         "\",\"template_id\":\"T1\",\"variables\":" HOSTILE_VARS "}");
    char *rid = request_id_of(r);
    json_decref(r);
    free(rid);
    json_t *list;
    json_t *rec = only_req(&SB, &list);
    expect_req(rec, "POST", "/api/v5/otp", "template_id=T1&mobile=" MOBILE, HOSTILE_VARS,
               "send_otp");
    expect_query(rec, "[[\"template_id\",\"T1\"],[\"mobile\",\"" MOBILE "\"]]");
    json_decref(list);
    sb_clear(&SB);

    r = srv_call(
        &v, "send_sms_flow",
        "{\"template_id\":\"F1\",\"recipients\":[{\"mobiles\":\"" MOBILE "\","
        "\"var\\r\\nX-Evil\":\"1\",\"authkey\":\"evil\",\"v\":\"a\\u2028b\\\"c\\\\\"}]}");
    rid = request_id_of(r);
    json_decref(r);
    free(rid);
    expect_req(only_req(&SB, &list), "POST", "/api/v5/flow", "",
               "{\"template_id\":\"F1\",\"recipients\":[{\"mobiles\":\"" MOBILE "\","
               "\"var\\r\\nX-Evil\":\"1\",\"authkey\":\"evil\",\"v\":\"a\xe2\x80\xa8"
               "b\\\"c\\\\\"}]}",
               "send_sms_flow");
    json_decref(list);
    sb_clear(&SB);

    expect_ok(
        srv_call(&v, "create_user_events",
                 "{\"identifier\":\"x&y=z#/../?%\\r\\n \xc3\xbc\",\"events\":[{\"name\":"
                 "\"a/../b?c#d\",\"properties\":{\"k&\":\"v#\",\"n\":null}}]}"),
        "{\"accepted\":1,\"upstream\":{\"accepted\":1}}");
    expect_req(
        only_req(&SB, &list), "POST", "/api/v5/segmento/api/v1/events", "",
        "{\"data\":[{\"event_name\":\"a/../b?c#d\",\"visitor_id\":\"x&y=z#/../?%\\r\\n "
        "\xc3\xbc\",\"event_properties\":{\"k&\":\"v#\",\"n\":null},\"type\":\"track\"}]"
        "}",
        "create_user_events");
    json_decref(list);
    srv_stop(&v);
}
END_TEST

/* NUL (\u0000) is valid JSON. Whatever the server makes of it, it must
 * not reach the URL as anything but %00 and must not cut a value short. */
START_TEST(nul_in_arguments)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    static const char *const lines[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":901,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"get_failed_events\",\"arguments\":{\"campaign_id\":\"1001\\u0000/../../"
        "otp\"}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":902,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"send_otp\",\"arguments\":{\"mobile\":\"" MOBILE
        "\\u0000&otp=1\",\"template_id\":"
        "\"T1\"}}}",
    };
    for (size_t i = 0; i < 2; i++) {
        ck_assert_int_eq(testutil_send_line(&v.c, lines[i]), 0);
        json_t *r = srv_read(&v, REPLY_MS);
        ck_assert_ptr_nonnull(r);
        json_t *id = json_object_get(r, "id");
        if (!id || json_is_null(id)) {
            /* Refused at the protocol level (jansson without JSON_ALLOW_NUL);
             * since 2025-11-25 such an error carries no id at all. */
            expect_json(json_object_get(r, "error"),
                        "{\"code\":-32700,\"message\":\"Parse error: the line is not "
                        "valid JSON\"}");
        } else {
            ck_assert_int_eq(json_integer_value(id), 901 + (json_int_t)i);
            ck_assert(
                json_is_true(json_object_get(json_object_get(r, "result"), "isError")));
        }
        json_decref(r);
    }
    json_t *list = sb_requests(&SB);
    size_t n;
    json_t *rec;
    json_array_foreach(list, n, rec) {
        /* Only the first can have been sent, and only in full. */
        ck_assert_str_eq(json_string_value(json_object_get(rec, "path")),
                         FAILED_PREFIX "1001%00%2F..%2F..%2Fotp" FAILED_SUFFIX);
    }
    ck_assert_uint_le(json_array_size(list), 1);
    json_decref(list);
    srv_healthy(&v, &SB);
    srv_stop(&v);
}
END_TEST

/* ---- concurrency ---- */

/* Writes n list_campaigns calls in one write and waits for all of them;
 * returns the seconds from the write to the last answer. */
static double burst(struct srv *v, int n)
{
    size_t cap = (size_t)n * 160, len = 0;
    char *all = malloc(cap);
    long first = v->next_id;
    for (int i = 0; i < n; i++)
        len +=
            (size_t)snprintf(all + len, cap - len,
                             "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\","
                             "\"params\":{\"name\":\"list_campaigns\",\"arguments\":"
                             "{\"limit\":1}}}\n",
                             v->next_id++);
    double t0 = testutil_now_s();
    ck_assert_int_eq(testutil_send(&v->c, all, len), 0);
    free(all);
    for (long id = first; id < first + n; id++) {
        json_t *r = srv_wait(v, id, REPLY_MS);
        ck_assert_msg(r != NULL, "no answer for id %ld", id);
        ck_assert_int_eq(json_integer_value(json_object_get(sc_of(r), "total")), 32);
        json_decref(r);
    }
    return testutil_now_s() - t0;
}

START_TEST(concurrency_200_at_once)
{
    struct srv v;
    srv_start(&v, SB.base, (const char *[]){"MSG91_MAX_INFLIGHT=200", NULL});
    sb_rule(&SB, "{\"tool\":\"list_campaigns\",\"delay_ms\":300}");
    double took = burst(&v, 200);
    json_int_t max = sb_stat(&SB, "max_inflight");
    printf(
        "concurrency: 200 calls against a 300 ms delay (MSG91_MAX_INFLIGHT=200) answered "
        "in %.3f s; sandbox max_inflight %lld\n",
        took, (long long)max);
    fflush(stdout);
    ck_assert_int_eq(sb_stat(&SB, "received"), 200);
    /* More at once than the default cap of 64 allows: the setting holds. */
    ck_assert_int_le(max, 200);
    ck_assert_int_gt(max, 64);
    srv_healthy(&v, &SB);
    srv_stop(&v);
}
END_TEST

START_TEST(concurrency_default_cap_64)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    sb_rule(&SB, "{\"tool\":\"list_campaigns\",\"delay_ms\":300}");
    double took = burst(&v, 200);
    json_int_t max = sb_stat(&SB, "max_inflight");
    printf("concurrency: 200 calls against a 300 ms delay (default cap 64) answered in "
           "%.3f s; sandbox max_inflight %lld\n",
           took, (long long)max);
    fflush(stdout);
    ck_assert_int_eq(max, 64);
    ck_assert_int_eq(sb_stat(&SB, "received"), 200);
    /* At least four waves of 0.3 s. */
    ck_assert_msg(took >= 1.1, "200 calls took %.3f s", took);
    srv_stop(&v);
}
END_TEST

START_TEST(concurrency_cap_3)
{
    struct srv v;
    srv_start(&v, SB.base, (const char *[]){"MSG91_MAX_INFLIGHT=3", NULL});
    sb_rule(&SB, "{\"tool\":\"list_campaigns\",\"delay_ms\":300}");
    /* Three full waves are enough to show the cap holds while calls queue. */
    double took = burst(&v, 9);
    json_int_t max = sb_stat(&SB, "max_inflight");
    printf("concurrency: 9 calls with MSG91_MAX_INFLIGHT=3 answered in %.3f s; sandbox "
           "max_inflight %lld\n",
           took, (long long)max);
    fflush(stdout);
    ck_assert_int_eq(max, 3);
    ck_assert_int_eq(sb_stat(&SB, "received"), 9);
    /* At least 9 / 3 = 3 waves of 0.3 s. */
    ck_assert_msg(took >= 0.85, "9 calls took %.3f s", took);
    srv_stop(&v);
}
END_TEST

/* ---- cancellation and progress ---- */

/* TCP state (as in /proc/net/tcp) of the IPv4 socket local -> remote port,
 * 0 when absent, -1 when /proc/net/tcp cannot be read. */
static int tcp_state(unsigned local, unsigned remote)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return -1;
    char line[512];
    int state = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned la, lp, ra, rp, st;
        if (sscanf(line, " %*u: %8X:%4X %8X:%4X %2X", &la, &lp, &ra, &rp, &st) == 5 &&
            lp == local && rp == remote)
            state = (int)st;
    }
    fclose(f);
    return state;
}

/* Remote ports of the sandbox's established connections (up to max). */
static size_t sandbox_peers(unsigned *ports, size_t max)
{
    FILE *f = fopen("/proc/net/tcp", "r");
    if (!f)
        return 0;
    char line[512];
    size_t n = 0;
    while (fgets(line, sizeof line, f) && n < max) {
        unsigned la, lp, ra, rp, st;
        if (sscanf(line, " %*u: %8X:%4X %8X:%4X %2X", &la, &lp, &ra, &rp, &st) == 5 &&
            lp == SB.port && st == 0x01)
            ports[n++] = rp;
    }
    fclose(f);
    return n;
}

/* Sends notifications/cancelled for id. */
static void srv_cancel(struct srv *v, long id)
{
    ck_assert_int_eq(
        testutil_send_line(
            &v->c, F("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                     "\"params\":{\"requestId\":%ld,\"reason\":\"user\"}}",
                     id)),
        0);
}

/* True when anything the server wrote so far answers id. */
static bool srv_answered(const struct srv *v, long id)
{
    size_t i;
    json_t *m;
    json_array_foreach(v->log, i, m) {
        if (has_id(m, id))
            return true;
    }
    return false;
}

START_TEST(cancelled_call_gets_no_reply)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    /* The delay outlasts the test: only the server can end this call. */
    sb_rule(&SB, "{\"tool\":\"list_campaigns\",\"count\":1,\"delay_ms\":600000}");
    long id = srv_send(&v, "list_campaigns", CAMPAIGNS_ARGS, NULL);
    /* Wait until the request is at the sandbox, held by the delay. */
    sb_wait_stat(&SB, "inflight", 1);
    ck_assert_msg(tcp_state(SB.port, 0) >= 0, "/proc/net/tcp cannot be read");
    unsigned peers[16];
    size_t npeers = sandbox_peers(peers, 16);
    ck_assert_uint_ge(npeers, 1);
    srv_cancel(&v, id);
    /* The server dropped the connection: on the sandbox's side it is no
     * longer established (CLOSE_WAIT while the delay sleeps). */
    for (size_t i = 0; i < npeers; i++) {
        double t1 = testutil_now_s();
        while (tcp_state(SB.port, peers[i]) == 0x01) {
            ck_assert_msg(testutil_now_s() - t1 < REPLY_MS / 1000.0,
                          "connection from port %u still open", peers[i]);
            usleep(2000);
        }
        printf("cancel: the sandbox's connection from port %u left ESTABLISHED for "
               "state %02X (08 is CLOSE_WAIT) %.0f ms after the cancellation\n",
               peers[i], tcp_state(SB.port, peers[i]), (testutil_now_s() - t1) * 1000);
    }
    fflush(stdout);
    /* Nothing for that id: the server read the cancellation before the
     * ping, and no upstream answer can come on a closed connection. */
    srv_ping(&v);
    ck_assert_msg(!srv_answered(&v, id), "reply to a cancelled call");
    ck_assert_uint_eq(sb_count(&SB), 1);
    srv_healthy(&v, &SB);
    /* A cancellation for an unknown or finished id is ignored. */
    ck_assert_int_eq(
        testutil_send_line(&v.c,
                           "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\","
                           "\"params\":{\"requestId\":12345}}"),
        0);
    srv_healthy(&v, &SB);
    ck_assert_msg(!srv_answered(&v, id), "reply to a cancelled call");
    srv_stop(&v);
}
END_TEST

/* Reads lines until a notifications/progress for token arrives; returns
 * its progress value, or -1 after timeout_ms. */
static double wait_progress(struct srv *v, const char *token, int timeout_ms)
{
    double deadline = testutil_now_s() + timeout_ms / 1000.0;
    for (;;) {
        int left = (int)((deadline - testutil_now_s()) * 1000);
        json_t *m = left > 0 ? srv_read(v, left) : NULL;
        if (!m)
            return -1;
        json_t *p = json_object_get(m, "params");
        const char *method = json_string_value(json_object_get(m, "method"));
        const char *t = json_string_value(json_object_get(p, "progressToken"));
        if (method && !strcmp(method, "notifications/progress") && t &&
            !strcmp(t, token)) {
            double progress = json_number_value(json_object_get(p, "progress"));
            json_decref(m);
            return progress;
        }
        if (!json_object_get(m, "method"))
            json_array_append(v->stash, m);
        json_decref(m);
    }
}

/* The tools of the recorded requests, in order, as a JSON array text. */
static void expect_tools_recorded(const char *tools_json)
{
    json_t *list = sb_requests(&SB), *tools = json_array();
    size_t i;
    json_t *rec;
    json_array_foreach(list, i, rec) {
        json_array_append(tools, json_object_get(rec, "tool"));
    }
    expect_json(tools, tools_json);
    json_decref(tools);
    json_decref(list);
}

START_TEST(cancel_while_queued_or_waiting_to_retry)
{
    struct srv v;
    srv_start(&v, SB.base, (const char *[]){"MSG91_MAX_INFLIGHT=1", NULL});
    /* The first call holds the only slot until the sandbox lets it go. */
    sb_rule(&SB, "{\"tool\":\"list_campaigns\",\"count\":1,\"delay_ms\":600000}");
    long a = srv_send(&v, "list_campaigns", CAMPAIGNS_ARGS, "{\"progressToken\":\"a\"}");
    ck_assert_double_eq(wait_progress(&v, "a", REPLY_MS), 2);
    /* The only slot is taken: the second call says it is queued. */
    long b = srv_send(&v, "get_event_types", "{}", "{\"progressToken\":\"b\"}");
    ck_assert_double_eq(wait_progress(&v, "b", REPLY_MS), 1);
    srv_cancel(&v, b);
    srv_ping(&v); /* the cancellation has been read */
    /* Dropping the held request frees the slot: the first call, a read,
     * tries again and gets its answer. */
    json_decref(ctl(&SB, "POST", "/_sandbox/reset", NULL));
    json_t *r = srv_wait(&v, a, REPLY_MS);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(json_integer_value(json_object_get(sc_of(r), "total")), 32);
    json_decref(r);
    /* The cancelled call never leaves the queue and never answers: had it
     * stayed queued, it would have gone out (and answered) before a call
     * made after the first one finished. */
    expect_ok(srv_call(&v, "list_campaigns", CAMPAIGNS_ARGS), NEWEST_CAMPAIGN);
    ck_assert_msg(!srv_answered(&v, b), "reply to a cancelled call");
    expect_tools_recorded("[\"list_campaigns\",\"list_campaigns\"]");
    sb_clear(&SB);

    /* A read waiting out Retry-After 2 before its retry: cancelled there,
     * it is not sent again and gets no answer. */
    sb_rule(&SB, "{\"tool\":\"get_event_types\",\"count\":1,\"status\":503,"
                 "\"retry_after\":2}");
    long c = srv_send(&v, "get_event_types", "{}", NULL);
    /* With one slot, this call can only go out once the first has its 503
     * and waits to retry: its answer says the first is in the backoff. */
    long d = srv_send(&v, "list_campaigns", CAMPAIGNS_ARGS, NULL);
    r = srv_wait(&v, d, REPLY_MS);
    ck_assert_ptr_nonnull(r);
    expect_ok(r, NEWEST_CAMPAIGN);
    double t1 = testutil_now_s();
    srv_cancel(&v, c);
    /* The retry was due at most 2 s after t1; wait well past that. */
    ck_assert_ptr_null(srv_wait(&v, c, (int)((t1 + 2.5 - testutil_now_s()) * 1000)));
    ck_assert_msg(!srv_answered(&v, c), "reply to a cancelled call");
    expect_tools_recorded("[\"get_event_types\",\"list_campaigns\"]");
    srv_healthy(&v, &SB);
    srv_stop(&v);
}
END_TEST

/* Runs one call with a progress token and checks the notifications: the
 * same token (same JSON type), progress rising, all before the result and
 * none after it. */
static void check_progress(struct srv *v, const char *token_json)
{
    json_t *token = json_loads(token_json, JSON_DECODE_ANY, NULL);
    size_t before = json_array_size(v->log);
    json_t *r = srv_call_meta(v, "list_campaigns", CAMPAIGNS_ARGS,
                              F("{\"progressToken\":%s}", token_json));
    ck_assert(!json_is_true(json_object_get(json_object_get(r, "result"), "isError")));
    json_decref(r);
    srv_ping(v); /* anything late would arrive before the ping's answer */
    size_t n = json_array_size(v->log), seen = 0;
    bool answered = false;
    double last = 0;
    for (size_t i = before; i < n; i++) {
        json_t *m = json_array_get(v->log, i);
        const char *method = json_string_value(json_object_get(m, "method"));
        if (!method) {
            if (json_object_get(m, "result") &&
                json_object_get(json_object_get(m, "result"), "content"))
                answered = true;
            continue;
        }
        ck_assert_str_eq(method, "notifications/progress");
        ck_assert_msg(!answered, "progress after the result");
        json_t *p = json_object_get(m, "params");
        ck_assert_msg(json_equal(json_object_get(p, "progressToken"), token),
                      "token %s changed", token_json);
        double progress = json_number_value(json_object_get(p, "progress"));
        ck_assert(json_is_number(json_object_get(p, "progress")));
        ck_assert_msg(progress > last, "progress %.1f after %.1f", progress, last);
        last = progress;
        json_t *total = json_object_get(p, "total");
        if (total)
            ck_assert(progress <= json_number_value(total));
        seen++;
    }
    ck_assert(answered);
    ck_assert_uint_ge(seen, 1);
    printf("progress: token %s got %zu notification(s), last progress %.0f\n", token_json,
           seen, last);
    fflush(stdout);
    json_decref(token);
}

START_TEST(progress_tokens_string_and_integer)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    /* Progress is held back until a call has waited 250 ms. */
    sb_rule(&SB, "{\"tool\":\"list_campaigns\",\"delay_ms\":800}");
    check_progress(&v, "\"tok\"");
    check_progress(&v, "5");
    /* Without a token there is no notification at all. */
    size_t before = json_array_size(v.log);
    json_decref(srv_call(&v, "list_campaigns", CAMPAIGNS_ARGS));
    ck_assert_uint_eq(json_array_size(v.log), before + 1);
    srv_stop(&v);
}
END_TEST

/* ---- dry run and scopes ---- */

START_TEST(dry_run_sends_nothing)
{
    struct srv v;
    srv_start(&v, SB.base, (const char *[]){"MSG91_DRY_RUN=1", NULL});
    const char *b = SB.base;
    const char *cases[][3] = {
        {"send_otp",
         "{\"mobile\":\"+" MOBILE "\",\"template_id\":\"T1\",\"otp\":\"1234\"}",
         F("{\"method\":\"POST\",\"url\":\"%s/api/v5/otp?template_id=T1&mobile=" MOBILE
           "&otp=1234&otp_length=4\",\"headers\":{\"authkey\":\"[REDACTED]\",\"content-"
           "type\":"
           "\"application/json\"},\"body\":{}}",
           b)},
        {"resend_otp", RESEND_ARGS,
         F("{\"method\":\"GET\",\"url\":\"%s/api/v5/otp/"
           "retry?retrytype=text&mobile=" MOBILE
           "\",\"headers\":{\"authkey\":\"[REDACTED]\"},\"body\":null}",
           b)},
        {"verify_otp", VERIFY_ARGS,
         F("{\"method\":\"GET\",\"url\":\"%s/api/v5/otp/verify?otp=1234&mobile=" MOBILE
           "\",\"headers\":{\"authkey\":\"[REDACTED]\"},\"body\":null}",
           b)},
        {"send_sms_flow", FLOW_ARGS,
         F("{\"method\":\"POST\",\"url\":\"%s/api/v5/flow\",\"headers\":{\"authkey\":"
           "\"[REDACTED]\",\"content-type\":\"application/"
           "json\"},\"body\":{\"template_id\":"
           "\"F1\",\"recipients\":[{\"mobiles\":\"" MOBILE "\"}]}}",
           b)},
    };
    const char *cases2[][3] = {
        {"create_user_events", EVENTS_ARGS,
         F("{\"method\":\"POST\",\"url\":\"%s/api/v5/segmento/api/v1/"
           "events\",\"headers\":"
           "{\"authkey\":\"[REDACTED]\",\"content-type\":\"application/json\"},\"body\":"
           "{\"data\":[{\"event_name\":\"login\",\"visitor_id\":\"contact-1001\","
           "\"event_properties\":{},\"type\":\"track\"}]}}",
           b)},
        {"get_event_types", "{}",
         F("{\"method\":\"GET\",\"url\":\"%s/api/v5/segmento/api/v1/event-types\","
           "\"headers\":{\"authkey\":\"[REDACTED]\"},\"body\":null}",
           b)},
        {"get_failed_events", FAILED_ARGS,
         F("{\"method\":\"POST\",\"url\":\"%s" FAILED_PREFIX "1001" FAILED_SUFFIX "\","
           "\"headers\":{\"authkey\":\"[REDACTED]\",\"content-type\":\"application/"
           "json\"},"
           "\"body\":{\"page\":1,\"limit\":10}}",
           b)},
        {"list_campaigns", "{}",
         F("{\"method\":\"GET\",\"url\":\"%s/api/v5/campaign/api/campaigns?pageNo=1&"
           "itemsPerPage=25\",\"headers\":{\"authkey\":\"[REDACTED]\"},\"body\":null}",
           b)},
    };
    for (size_t i = 0; i < 8; i++) {
        const char *const *c = i < 4 ? cases[i] : cases2[i - 4];
        json_t *r = srv_call(&v, c[0], c[1]);
        json_t *res = json_object_get(r, "result");
        expect_json(json_object_get(res, "_meta"), "{\"msg91/dryRun\":true}");
        ck_assert(json_is_true(json_object_get(res, "isError")));
        json_t *content = json_object_get(res, "content");
        ck_assert_uint_eq(json_array_size(content), 2);
        ck_assert_str_eq(
            json_string_value(json_object_get(json_array_get(content, 0), "text")),
            "Dry run (MSG91_DRY_RUN=1): the request below was validated and "
            "built but NOT sent; nothing was delivered.");
        json_t *req = json_loads(
            json_string_value(json_object_get(json_array_get(content, 1), "text")), 0,
            NULL);
        expect_json(req, c[2]);
        json_decref(req);
        json_decref(r);
    }
    ck_assert_uint_eq(sb_count(&SB), 0);
    ck_assert_int_eq(sb_stat(&SB, "received"), 0);
    srv_stop(&v);
}
END_TEST

START_TEST(scope_read_only)
{
    struct srv v;
    srv_start(&v, SB.base, (const char *[]){"MSG91_READ_ONLY=1", NULL});
    static const char *const writers[][2] = {
        {"send_otp", OTP_ARGS},
        {"resend_otp", RESEND_ARGS},
        {"verify_otp", VERIFY_ARGS},
        {"send_sms_flow", FLOW_ARGS},
        {"create_user_events", EVENTS_ARGS},
    };
    for (size_t i = 0; i < 5; i++)
        expect_err(srv_call(&v, writers[i][0], writers[i][1]),
                   F("The tool %s is not allowed: this server runs in read-only mode "
                     "(MSG91_READ_ONLY=1), which allows only get_event_types, "
                     "get_failed_events and list_campaigns.",
                     writers[i][0]));
    ck_assert_uint_eq(sb_count(&SB), 0);
    srv_healthy(&v, &SB);
    srv_stop(&v);
}
END_TEST

START_TEST(scope_allowlist)
{
    struct srv v;
    srv_start(&v, SB.base, (const char *[]){"MSG91_TOOLS=list_campaigns", NULL});
    expect_err(
        srv_call(&v, "verify_otp", VERIFY_ARGS),
        "The tool verify_otp is not allowed: it is not in this server's MSG91_TOOLS "
        "allowlist. Use one of the tools from tools/list.");
    expect_err(srv_call(&v, "get_event_types", "{}"),
               "The tool get_event_types is not allowed: it is not in this server's "
               "MSG91_TOOLS allowlist. Use one of the tools from tools/list.");
    ck_assert_uint_eq(sb_count(&SB), 0);
    srv_healthy(&v, &SB);
    srv_stop(&v);
}
END_TEST

START_TEST(scope_tool_prefix)
{
    struct srv v;
    srv_start(&v, SB.base, (const char *[]){"MSG91_TOOL_PREFIX=msg91_", NULL});
    expect_ok(srv_call(&v, "msg91_list_campaigns", CAMPAIGNS_ARGS), NEWEST_CAMPAIGN);
    json_t *list;
    expect_req(only_req(&SB, &list), "GET", "/api/v5/campaign/api/campaigns",
               "pageNo=1&itemsPerPage=1", NULL, "list_campaigns");
    json_decref(list);
    sb_clear(&SB);
    /* The bare name is not a tool of this server. */
    json_t *r = srv_call(&v, "list_campaigns", CAMPAIGNS_ARGS);
    expect_json(json_object_get(r, "error"),
                "{\"code\":-32602,\"message\":\"Unknown tool: list_campaigns\"}");
    json_decref(r);
    ck_assert_uint_eq(sb_count(&SB), 0);
    srv_ping(&v);
    srv_stop(&v);
}
END_TEST

/* A placeholder key such as "type" (people try "key", "test", "type"
 * before they have a real one) must not turn the server's own protocol
 * text into "[REDACTED]": either the key is refused at start-up, or the
 * answers stay intact. */
START_TEST(placeholder_key_does_not_corrupt_messages)
{
    struct sbx other;
    sbx_start(&other, "the-sandbox-only-key");
    const char *env[] = {F("MSG91_BASE_URL=%s", other.base), "MSG91_AUTH_KEY=type", NULL};
    const char *argv[] = {"msg91-mcp", NULL};
    struct testutil_child c;
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    testutil_send_line(
        &c, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"
            "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},"
            "\"clientInfo\":{\"name\":\"e2e\",\"version\":\"1\"}}}");
    testutil_send_line(
        &c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",\"params\":"
            "{\"name\":\"list_campaigns\",\"arguments\":{}}}");
    char *init = testutil_read_line(&c, REPLY_MS);
    if (!init) {
        /* Refused at start-up: a configuration error, exit 1. */
        ck_assert_int_eq(testutil_finish(&c, 5000), 1);
        char *err = testutil_read_stderr(&c);
        ck_assert_msg(strstr(err, "MSG91_AUTH_KEY"), "%s", err);
        free(err);
    } else {
        free(init);
        char *line = testutil_read_line(&c, REPLY_MS);
        ck_assert_ptr_nonnull(line);
        json_t *r = json_loads(line, 0, NULL);
        ck_assert_ptr_nonnull(r);
        expect_json(
            r,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\","
            "\"text\":\"" KEY_TEXT_F2 "\"}],\"isError\":true}}");
        json_decref(r);
        free(line);
        ck_assert_int_eq(testutil_finish(&c, 5000), 0);
        free(testutil_read_stderr(&c));
    }
    sbx_stop(&other);
}
END_TEST

/* ---- MSG91's own codes, reasons and options, through the binary ---- */

/* The sentence for the row of code, with MSG91's words as said. */
static const char *coded_text(const char *code, const char *said)
{
    const struct msg91_error *row = msg91_errors_find(code, NULL);
    ck_assert_ptr_nonnull(row);
    return F("MSG91 %s%s: %s", row->headline, said, row->advice);
}

/* Every documented code, answered by the sandbox in each family's envelope,
 * comes back as its sentence with MSG91's code and words, after exactly one
 * request (a refusal is never retried, not even for a read-only tool). */
START_TEST(msg91_codes_through_the_binary)
{
    static const char *const codes[][2] = {
        {"106", "Missing Authentication Key"},
        {"201", "Invalid authkey"},
        {"207", "Invalid authentication key"},
        {"418", "IP is not whitelisted"},
        {"311", "Request discarded because same request was generated twice within 10 "
                "seconds"},
        {"301", "Insufficient balance to send SMS"},
        {"202", "Invalid mobile number"},
        {"203", "Invalid sender ID"},
    };
    struct srv v;
    srv_start(&v, SB.base, NULL);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *code = codes[i][0];
        bool key = i < 4;
        expect_failure(
            &v, F("{\"tool\":\"send_sms_flow\",\"code\":\"%s\",\"count\":1}", code),
            "send_sms_flow", FLOW_ARGS,
            coded_text(code, F(" (code %s: %s)", code, codes[i][1])), 1);
        expect_failure(
            &v, F("{\"tool\":\"list_campaigns\",\"code\":\"%s\",\"count\":1}", code),
            "list_campaigns", CAMPAIGNS_ARGS,
            coded_text(code, F(" (HTTP %s, code %s: %s)", key ? "401" : "400", code,
                               codes[i][1])),
            1);
        /* Each family's envelope on the other family's route. */
        expect_failure(&v,
                       F("{\"tool\":\"verify_otp\",\"code\":%s,\"envelope\":\"campaign\","
                         "\"count\":1}",
                         code),
                       "verify_otp", VERIFY_ARGS,
                       coded_text(code, F(" (HTTP %s, code %s: %s)", key ? "401" : "400",
                                          code, codes[i][1])),
                       1);
        expect_failure(&v,
                       F("{\"tool\":\"get_event_types\",\"code\":%s,\"envelope\":\"otp\","
                         "\"count\":1}",
                         code),
                       "get_event_types", "{}",
                       coded_text(code, F(" (code %s: %s)", code, codes[i][1])), 1);
    }
    /* The spelled-out 418 and the ip_blocked rule agree. */
    expect_failure(
        &v, "{\"tool\":\"send_otp\",\"ip_blocked\":true,\"count\":1}", "send_otp",
        OTP_ARGS,
        "MSG91 refused this machine's IP address (code 418: IP is not "
        "whitelisted): MSG91 turns API IP security on by default, so an auth key "
        "works only from the IP addresses on its whitelist, and this one is not "
        "on it. Nothing was sent. Add this machine's public IP address to the "
        "key's whitelist in the MSG91 panel, or turn IP security off for the key.",
        1);
    /* An undocumented code stays in the generic refusal. */
    expect_failure(
        &v, "{\"tool\":\"resend_otp\",\"code\":\"999\",\"message\":\"Odd\",\"count\":1}",
        "resend_otp", RESEND_ARGS, "MSG91 returned an error (code 999): Odd.", 1);
    srv_stop(&v);
}
END_TEST

/* The same SMS to the same number twice within 10 s: the sandbox's state
 * answers MSG91's 311, which reads as the duplicate it is. */
START_TEST(flow_duplicate_is_explained)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    sb_clear(&SB);
    json_decref(srv_call(&v, "send_sms_flow", FLOW_ARGS));
    expect_err(srv_call(&v, "send_sms_flow", FLOW_ARGS),
               coded_text("311", " (code 311: Request discarded because same request was "
                                 "generated twice within 10 seconds)"));
    ck_assert_uint_eq(sb_count(&SB), 2);
    json_t *flows = ctl(&SB, "GET", "/_sandbox/flows", NULL);
    ck_assert_uint_eq(json_array_size(json_object_get(flows, "flows")), 1);
    json_decref(flows);
    srv_stop(&v);
}
END_TEST

/* send_otp's and send_sms_flow's documented options, exactly as the
 * sandbox received them; a custom code's length decides otp_length. */
START_TEST(otp_and_flow_options_on_the_wire)
{
    struct srv v;
    srv_start(&v, SB.base, NULL);
    sb_clear(&SB);
    json_t *list;
    json_decref(srv_call(&v, "send_otp",
                         "{\"mobile\":\"+" MOBILE "\",\"template_id\":\"T1\",\"otp\":"
                         "\"123456\",\"realtime_response\":true,\"unicode\":true,"
                         "\"invisible\":false}"));
    expect_req(only_req(&SB, &list), "POST", "/api/v5/otp",
               "template_id=T1&mobile=" MOBILE
               "&otp=123456&otp_length=6&unicode=1&invisible=0&realTimeResponse=1",
               "{}", "send_otp");
    json_decref(list);
    char *code = sb_otp(&SB, MOBILE);
    ck_assert_str_eq(code, "123456");
    free(code);
    /* A length that contradicts the code is refused before anything goes. */
    expect_failure(&v, NULL, "send_otp",
                   "{\"mobile\":\"" MOBILE "\",\"template_id\":\"T1\",\"otp\":\"1234\","
                   "\"otp_length\":6}",
                   "otp has 4 digits but otp_length is 6: give otp_length the length of "
                   "otp, or leave otp_length out. Nothing was sent.",
                   0);
    sb_clear(&SB);
    json_decref(srv_call(&v, "send_sms_flow",
                         "{\"template_id\":\"F2\",\"sender\":\"MSGIND\",\"unicode\":true,"
                         "\"recipients\":[{\"mobiles\":\"+" MOBILE
                         "\",\"name\":\"Asha\"}]}"));
    expect_req(only_req(&SB, &list), "POST", "/api/v5/flow", "",
               "{\"template_id\":\"F2\",\"sender\":\"MSGIND\",\"unicode\":\"1\","
               "\"recipients\":[{\"mobiles\":\"" MOBILE "\",\"name\":\"Asha\"}]}",
               "send_sms_flow");
    json_decref(list);
    /* A sender the account has not registered: the sandbox's state answers
     * MSG91's 203. */
    expect_failure(&v, NULL, "send_sms_flow",
                   "{\"template_id\":\"F3\",\"sender\":\"INVALIDX\",\"recipients\":"
                   "[{\"mobiles\":\"" MOBILE "\"}]}",
                   coded_text("203", " (code 203: Invalid sender ID)"), 1);
    srv_stop(&v);
}
END_TEST

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    Suite *s = suite_create("e2e_tools");
    struct {
        const char *name;
        const TTest *tests[16];
    } groups[] = {
        {"tools",
         {otp_send_resend_verify, otp_expiry_and_limits, flow_to_several_recipients,
          user_events_with_offset_timestamps, event_types_listed,
          failed_events_with_dates, campaigns_page_two, NULL}},
        {"failures",
         {failure_msg91_type_error, failure_wrong_key_both_families, failure_401_403,
          failure_route_missing, failure_413_429, failure_5xx_and_read_retries,
          failure_bodies_that_are_not_envelopes, failure_huge_answer,
          failure_connection_reset, failure_timeout, failure_connection_refused,
          failure_dns, NULL}},
        {"hostile",
         {hostile_campaign_ids_stay_in_their_segment,
          hostile_campaign_ids_with_get_override, hostile_values_rejected_before_sending,
          hostile_values_in_bodies, nul_in_arguments, NULL}},
        {"concurrency",
         {concurrency_200_at_once, concurrency_default_cap_64, concurrency_cap_3,
          cancelled_call_gets_no_reply, cancel_while_queued_or_waiting_to_retry,
          progress_tokens_string_and_integer, NULL}},
        {"msg91",
         {msg91_codes_through_the_binary, flow_duplicate_is_explained,
          otp_and_flow_options_on_the_wire, NULL}},
        {"modes",
         {dry_run_sends_nothing, scope_read_only, scope_allowlist, scope_tool_prefix,
          placeholder_key_does_not_corrupt_messages, NULL}},
    };
    for (size_t g = 0; g < sizeof groups / sizeof groups[0]; g++) {
        TCase *tc = tcase_create(groups[g].name);
        tcase_set_timeout(tc, 60);
        /* Checked: a sandbox thread in the parent could hold the allocator
         * lock across Check's fork and hang the child (seen under ASan). */
        tcase_add_checked_fixture(tc, tcase_setup, tcase_teardown);
        tcase_add_checked_fixture(tc, setup, NULL);
        for (size_t i = 0; groups[g].tests[i]; i++)
            tcase_add_test(tc, groups[g].tests[i]);
        suite_add_tcase(s, tc);
    }
    int status = testutil_run(s);
    curl_global_cleanup();
    return status;
}

/* NOLINTEND(bugprone-easily-swappable-parameters)
 * NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */
