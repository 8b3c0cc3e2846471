/* The sandbox suite: starts the sandbox on a free port and drives every
 * MSG91 route and control route with libcurl, asserting the exact status
 * codes and bytes MSG91 (and doc/msg91-api.md) say the server will see. */
#include <check.h>
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "sandbox/sandbox.h"
#include "tests/testutil.h"

/* For clang-tidy: the Annex K (*_s) functions it suggests are not in glibc,
 * and every copy here is bounded by its size; parameter lists of the same
 * type are fixed by the libraries' callbacks or read as HTTP names them.
 * NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling)
 * NOLINTBEGIN(bugprone-easily-swappable-parameters) */

#define KEY "test-key"
#define MOBILE "919876543210"

static struct sandbox *sb;
static char base[64];

static void start(void)
{
    sb = testutil_sandbox_start(KEY, 42, base);
}

static void stop(void)
{
    sandbox_destroy(sb);
    sb = NULL;
}

/* ---- an HTTP client for the tests ---- */

struct resp {
    CURLcode rc;
    long status;
    char *body;
    size_t len;
    char *content_type;
    char *retry_after;
    char *allow;
};

static size_t on_data(char *p, size_t size, size_t n, void *cls)
{
    struct resp *r = cls;
    size_t len = size * n;
    char *grown = realloc(r->body, r->len + len + 1);
    if (!grown)
        return 0; /* curl fails the transfer; r->body is still freed */
    r->body = grown;
    memcpy(r->body + r->len, p, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static void resp_free(struct resp *r)
{
    free(r->body);
    free(r->content_type);
    free(r->retry_after);
    free(r->allow);
    memset(r, 0, sizeof *r);
}

/* Sets up an easy handle for method + target; key NULL sends no authkey.
 * Accept and Expect are removed so recorded headers are predictable. */
static CURL *easy(const char *method, const char *target, const char *key,
                  const char *body, size_t body_len, struct curl_slist **hdrs,
                  struct resp *r)
{
    char url[4096];
    snprintf(url, sizeof url, "%s%s", base, target);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    *hdrs = curl_slist_append(*hdrs, "Accept:");
    *hdrs = curl_slist_append(*hdrs, "Expect:");
    if (key) {
        char h[256]; /* curl_slist_append copies it */
        snprintf(h, sizeof h, "authkey: %s", key);
        *hdrs = curl_slist_append(*hdrs, h);
    }
    if (body) {
        *hdrs = curl_slist_append(*hdrs, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, *hdrs);
    return c;
}

static void finish(CURL *c, struct resp *r)
{
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    struct curl_header *h;
    if (curl_easy_header(c, "Content-Type", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
        r->content_type = strdup(h->value);
    if (curl_easy_header(c, "Retry-After", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
        r->retry_after = strdup(h->value);
    if (curl_easy_header(c, "Allow", 0, CURLH_HEADER, -1, &h) == CURLHE_OK)
        r->allow = strdup(h->value);
    if (!r->body)
        r->body = strdup("");
}

static struct resp req_n(const char *method, const char *target, const char *key,
                         const char *body, size_t body_len)
{
    struct resp r = {0};
    struct curl_slist *hdrs = NULL;
    CURL *c = easy(method, target, key, body, body_len, &hdrs, &r);
    r.rc = curl_easy_perform(c);
    finish(c, &r);
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    return r;
}

static struct resp req(const char *method, const char *target, const char *key,
                       const char *body)
{
    return req_n(method, target, key, body, body ? strlen(body) : 0);
}

/* Asserts status and exact body, then frees the response. */
#define EXPECT(r, code, text)                                                            \
    do {                                                                                 \
        struct resp r_ = (r);                                                            \
        ck_assert_int_eq(r_.rc, CURLE_OK);                                               \
        ck_assert_str_eq(r_.body, (text));                                               \
        ck_assert_int_eq(r_.status, (code));                                             \
        resp_free(&r_);                                                                  \
    } while (0)

#define OTP_ERROR(msg) "{\"type\":\"error\",\"message\":\"" msg "\"}"

static bool is_hex24(const char *s)
{
    if (strlen(s) != 24)
        return false;
    for (int i = 0; i < 24; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return false;
    return true;
}

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &err);
    ck_assert_msg(v != NULL, "bad JSON (%s): %s", err.text, text);
    return v;
}

static void send_code(const char *mobile, const char *extra)
{
    char target[512];
    snprintf(target, sizeof target, "/api/v5/otp?template_id=tmpl_1&mobile=%s%s", mobile,
             extra);
    struct resp r = req("POST", target, KEY, "{}");
    ck_assert_int_eq(r.status, 200);
    json_t *v = parse(r.body);
    ck_assert_str_eq(json_string_value(json_object_get(v, "type")), "success");
    ck_assert(is_hex24(json_string_value(json_object_get(v, "request_id"))));
    json_decref(v);
    resp_free(&r);
}

static void verify(const char *mobile, const char *code, const char *expected)
{
    char target[256];
    snprintf(target, sizeof target, "/api/v5/otp/verify?otp=%s&mobile=%s", code, mobile);
    EXPECT(req("GET", target, KEY, NULL), 200, expected);
}

static void resend(const char *mobile, const char *expected)
{
    char target[256];
    snprintf(target, sizeof target, "/api/v5/otp/retry?retrytype=text&mobile=%s", mobile);
    EXPECT(req("GET", target, KEY, NULL), 200, expected);
}

static const char *const VERIFIED =
    "{\"type\":\"success\",\"message\":\"OTP verified success\"}";
static const char *const RETRIED =
    "{\"type\":\"success\",\"message\":\"retry send successfully\"}";

/* ---- OTP ---- */

START_TEST(send_otp_stores_the_given_code)
{
    struct resp r =
        req("POST", "/api/v5/otp?template_id=tmpl_1&mobile=" MOBILE "&otp=123456", KEY,
            "{\"name\":\"Asha\"}");
    ck_assert_int_eq(r.rc, CURLE_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.content_type, "application/json");
    ck_assert_uint_eq(r.len, strlen("{\"type\":\"success\",\"request_id\":\"\"}") + 24);
    ck_assert(strncmp(r.body, "{\"type\":\"success\",\"request_id\":\"", 32) == 0);
    resp_free(&r);
    EXPECT(req("GET", "/_sandbox/otp?mobile=" MOBILE, NULL, NULL), 200,
           "{\"mobile\":\"" MOBILE "\",\"otp\":\"123456\",\"retries\":0,\"attempts\":0,"
           "\"verified\":false}");
}
END_TEST

START_TEST(send_otp_generates_codes_of_the_asked_length)
{
    send_code(MOBILE, "");
    struct resp r = req("GET", "/_sandbox/otp?mobile=" MOBILE, NULL, NULL);
    json_t *v = parse(r.body);
    const char *code = json_string_value(json_object_get(v, "otp"));
    ck_assert_uint_eq(strlen(code), 4);
    ck_assert_uint_eq(strspn(code, "0123456789"), 4);
    json_decref(v);
    resp_free(&r);

    send_code(MOBILE, "&otp_length=9");
    r = req("GET", "/_sandbox/otp?mobile=" MOBILE, NULL, NULL);
    v = parse(r.body);
    code = json_string_value(json_object_get(v, "otp"));
    ck_assert_uint_eq(strlen(code), 9);
    ck_assert_uint_eq(strspn(code, "0123456789"), 9);
    json_decref(v);
    resp_free(&r);
}
END_TEST

START_TEST(send_otp_rejects_bad_input)
{
    const char *bad_template =
        OTP_ERROR("The provided flow ID or template ID is invalid.");
    const char *bad_mobile = OTP_ERROR("Mobile no. empty or not numeric");
    EXPECT(req("POST", "/api/v5/otp?template_id=invalid_1&mobile=" MOBILE, KEY, "{}"),
           200, bad_template);
    EXPECT(req("POST", "/api/v5/otp?template_id=a%20b&mobile=" MOBILE, KEY, "{}"), 200,
           bad_template);
    EXPECT(req("POST", "/api/v5/otp?mobile=" MOBILE, KEY, "{}"), 200, bad_template);
    /* A "+" must have been stripped by the server, encoded or not. */
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=%2B" MOBILE, KEY, "{}"), 200,
           bad_mobile);
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=+" MOBILE, KEY, "{}"), 200,
           bad_mobile);
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=1234567", KEY, "{}"), 200,
           bad_mobile);
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=1234567890123456", KEY, "{}"),
           200, bad_mobile);
    EXPECT(req("POST", "/api/v5/otp?template_id=t", KEY, "{}"), 200, bad_mobile);
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=" MOBILE "&otp_length=3", KEY,
               "{}"),
           200, OTP_ERROR("Invalid otp_length"));
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=" MOBILE "&otp_expiry=0", KEY,
               "{}"),
           200, OTP_ERROR("Invalid otp_expiry"));
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=" MOBILE, KEY, "[1]"), 200,
           OTP_ERROR("Invalid JSON body"));
    /* Nothing was stored by any of these. */
    EXPECT(req("GET", "/_sandbox/otp?mobile=" MOBILE, NULL, NULL), 404,
           "{\"error\":\"no OTP for this mobile\"}");
}
END_TEST

START_TEST(resend_allows_two_retries)
{
    resend(MOBILE, OTP_ERROR("No OTP request found to retryotp"));
    send_code(MOBILE, "&otp=4321");
    resend(MOBILE, RETRIED);
    /* MSG91's SDK posts to the retry route; both methods answer. */
    EXPECT(req("POST", "/api/v5/otp/retry?retrytype=voice&mobile=" MOBILE, KEY, NULL),
           200, RETRIED);
    resend(MOBILE, OTP_ERROR("OTP retry count maxed out"));
    EXPECT(req("GET", "/_sandbox/otp?mobile=" MOBILE, NULL, NULL), 200,
           "{\"mobile\":\"" MOBILE "\",\"otp\":\"4321\",\"retries\":2,\"attempts\":0,"
           "\"verified\":false}");
    /* The code stays the same across resends. */
    verify(MOBILE, "4321", VERIFIED);
    resend(MOBILE, OTP_ERROR("No OTP request found to retryotp"));
    resend("12", OTP_ERROR("Mobile no. empty or not numeric"));
}
END_TEST

START_TEST(verify_lifecycle)
{
    verify(MOBILE, "1234", OTP_ERROR("Mobile no. not found"));
    send_code(MOBILE, "&otp=1234");
    verify(MOBILE, "9999", OTP_ERROR("OTP not match"));
    verify(MOBILE, "1234", VERIFIED);
    verify(MOBILE, "1234", OTP_ERROR("Mobile no. already verified"));
    EXPECT(req("GET", "/_sandbox/otp?mobile=" MOBILE, NULL, NULL), 200,
           "{\"mobile\":\"" MOBILE "\",\"otp\":\"1234\",\"retries\":0,\"attempts\":1,"
           "\"verified\":true}");
    /* POST works as well, with the key in the query as MSG91's SDK sends it. */
    send_code(MOBILE, "&otp=5678");
    EXPECT(req("POST", "/api/v5/otp/verify?otp=5678&mobile=" MOBILE "&authkey=" KEY, NULL,
               NULL),
           200, VERIFIED);
}
END_TEST

START_TEST(verify_stops_after_five_wrong_codes)
{
    send_code(MOBILE, "&otp=1234");
    for (int i = 0; i < 5; i++)
        verify(MOBILE, "0000", OTP_ERROR("OTP not match"));
    verify(MOBILE, "1234", OTP_ERROR("Max limit reached for this otp verification"));
    /* A new send starts over. */
    send_code(MOBILE, "&otp=1234");
    verify(MOBILE, "1234", VERIFIED);
}
END_TEST

START_TEST(verify_after_expiry)
{
    /* Only the test moves the clock: a real second passing between the
     * send and the first check must not expire the code early. */
    EXPECT(req("POST", "/_sandbox/clock/freeze", NULL, NULL), 200, "{\"ok\":true}");
    send_code(MOBILE, "&otp=1234&otp_expiry=1");
    EXPECT(req("POST", "/_sandbox/clock", NULL, "{\"advance_s\":59}"), 200,
           "{\"ok\":true}");
    verify(MOBILE, "0000", OTP_ERROR("OTP not match"));
    EXPECT(req("POST", "/_sandbox/clock", NULL, "{\"advance_s\":1}"), 200,
           "{\"ok\":true}");
    verify(MOBILE, "1234", OTP_ERROR("OTP expired"));
    /* A resend gives the same code a fresh window. */
    resend(MOBILE, RETRIED);
    verify(MOBILE, "1234", VERIFIED);

    /* The default window is 15 minutes. */
    send_code("919812345678", "&otp=2222");
    EXPECT(req("POST", "/_sandbox/clock", NULL, "{\"advance_s\":900}"), 200,
           "{\"ok\":true}");
    verify("919812345678", "2222", OTP_ERROR("OTP expired"));
    EXPECT(req("POST", "/_sandbox/clock", NULL, "{\"advance_s\":-1}"), 400,
           "{\"error\":\"advance_s must be a non-negative integer\"}");
}
END_TEST

START_TEST(send_replaces_the_pending_code)
{
    send_code(MOBILE, "&otp=1111");
    send_code(MOBILE, "&otp=2222");
    verify(MOBILE, "1111", OTP_ERROR("OTP not match"));
    verify(MOBILE, "2222", VERIFIED);
}
END_TEST

/* ---- authentication ---- */

#define UNAUTHORIZED                                                                     \
    "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Unauthorized\",\"code\":"       \
    "\"401\","                                                                           \
    "\"apiError\":\"201\"}"
#define INVALID_KEY                                                                      \
    "{\"message\":\"Invalid authkey\",\"type\":\"error\",\"code\":\"201\"}"

START_TEST(auth_errors_in_both_families)
{
    const char *missing = OTP_ERROR("Auth Key missing");
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=" MOBILE, NULL, "{}"), 200,
           missing);
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=" MOBILE, "", "{}"), 200,
           missing);
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=" MOBILE, "nope", "{}"), 200,
           INVALID_KEY);
    EXPECT(req("GET", "/api/v5/otp/verify?otp=1&mobile=" MOBILE, "nope", NULL), 200,
           INVALID_KEY);
    EXPECT(req("GET", "/api/v5/otp/retry?retrytype=text&mobile=" MOBILE, NULL, NULL), 200,
           missing);
    /* The OTP routes also take the key from the query... */
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=" MOBILE "&authkey=nope", NULL,
               "{}"),
           200, INVALID_KEY);
    /* ...the flow route does not. */
    EXPECT(req("POST", "/api/v5/flow?authkey=" KEY, NULL,
               "{\"template_id\":\"t\",\"recipients\":[{\"mobiles\":\"" MOBILE "\"}]}"),
           200, missing);
    EXPECT(req("POST", "/api/v5/flow", "nope", "{}"), 200, INVALID_KEY);

    EXPECT(req("GET", "/api/v5/campaign/api/campaigns", NULL, NULL), 401, UNAUTHORIZED);
    EXPECT(req("GET", "/api/v5/campaign/api/campaigns", "nope", NULL), 401, UNAUTHORIZED);
    EXPECT(req("GET", "/api/v5/segmento/api/v1/event-types", NULL, NULL), 401,
           UNAUTHORIZED);
    EXPECT(req("POST", "/api/v5/segmento/api/v1/events", "nope", "{}"), 401,
           UNAUTHORIZED);
    EXPECT(
        req("POST", "/api/v5/segmento/api/v1/campaigns/1001/failed-events", NULL, "{}"),
        401, UNAUTHORIZED);
}
END_TEST

START_TEST(null_auth_key_accepts_any_key)
{
    stop();
    struct sandbox_options opts = {.port = 0, .auth_key = NULL, .seed = 7};
    char *error = NULL;
    sb = sandbox_create(&opts, &error);
    ck_assert_ptr_nonnull(sb);
    snprintf(base, sizeof base, "http://127.0.0.1:%u", (unsigned)sandbox_port(sb));
    EXPECT(req("GET", "/api/v5/otp/verify?otp=1&mobile=" MOBILE, "anything", NULL), 200,
           OTP_ERROR("Mobile no. not found"));
    EXPECT(req("GET", "/api/v5/otp/verify?otp=1&mobile=" MOBILE, NULL, NULL), 200,
           OTP_ERROR("Auth Key missing"));
    EXPECT(req("GET", "/api/v5/campaign/api/campaigns", NULL, NULL), 401, UNAUTHORIZED);
}
END_TEST

/* ---- flow ---- */

START_TEST(flow_records_accepted_sends)
{
    const char *body = "{\"template_id\":\"flow_7\",\"short_url\":\"0\",\"recipients\":["
                       "{\"mobiles\":\"" MOBILE "\",\"name\":\"Asha\"},"
                       "{\"mobiles\":\"919812345678,14155550123\",\"name\":\"Ravi\"}]}";
    struct resp r = req("POST", "/api/v5/flow", KEY, body);
    ck_assert_int_eq(r.status, 200);
    json_t *v = parse(r.body);
    ck_assert_uint_eq(json_object_size(v), 2);
    ck_assert_str_eq(json_string_value(json_object_get(v, "type")), "success");
    const char *id = json_string_value(json_object_get(v, "message"));
    ck_assert(is_hex24(id));
    char expected[1024];
    snprintf(
        expected, sizeof expected,
        "{\"flows\":[{\"request_id\":\"%s\",\"template_id\":\"flow_7\",\"recipients\":["
        "{\"mobiles\":\"" MOBILE "\",\"name\":\"Asha\"},"
        "{\"mobiles\":\"919812345678,14155550123\",\"name\":\"Ravi\"}]}]}",
        id);
    EXPECT(req("GET", "/_sandbox/flows", NULL, NULL), 200, expected);
    json_decref(v);
    resp_free(&r);
    /* The trailing-slash form MSG91's docs use reaches the same route
     * (another template: the same SMS again would be refused as a repeat). */
    r = req("POST", "/api/v5/flow/", KEY,
            "{\"template_id\":\"flow_8\",\"recipients\":[{\"mobiles\":\"" MOBILE "\"}]}");
    ck_assert_int_eq(r.status, 200);
    v = parse(r.body);
    ck_assert_str_eq(json_string_value(json_object_get(v, "type")), "success");
    json_decref(v);
    resp_free(&r);
}
END_TEST

#define REPEATED                                                                         \
    "{\"message\":\"Request discarded because same request was generated twice within "  \
    "10 seconds\",\"type\":\"error\",\"code\":\"311\"}"

/* Sends a flow and asserts it was accepted (or refused as a repeat). */
static void flow(const char *body, bool accepted)
{
    struct resp r = req("POST", "/api/v5/flow", KEY, body);
    ck_assert_int_eq(r.status, 200);
    if (accepted) {
        json_t *v = parse(r.body);
        ck_assert_msg(
            json_is_string(json_object_get(v, "type")) &&
                strcmp(json_string_value(json_object_get(v, "type")), "success") == 0,
            "not accepted: %s", r.body);
        json_decref(v);
    } else {
        ck_assert_str_eq(r.body, REPEATED);
    }
    resp_free(&r);
}

static size_t flows_kept(void)
{
    struct resp r = req("GET", "/_sandbox/flows", NULL, NULL);
    json_t *v = parse(r.body);
    size_t n = json_array_size(json_object_get(v, "flows"));
    json_decref(v);
    resp_free(&r);
    return n;
}

static void advance(int seconds)
{
    char body[64];
    snprintf(body, sizeof body, "{\"advance_s\":%d}", seconds);
    EXPECT(req("POST", "/_sandbox/clock", NULL, body), 200, "{\"ok\":true}");
}

#define ASHA                                                                             \
    "{\"template_id\":\"t\",\"recipients\":[{\"mobiles\":\"" MOBILE                      \
    "\",\"name\":\"Asha\"}]}"

/* send_otp's switches and send_sms_flow's sender and unicode: accepted
 * as MSG91 documents them, refused otherwise (a sender starting with
 * "invalid" is one the account has not registered: MSG91's error 203). */
START_TEST(switches_and_sender)
{
    send_code(MOBILE, "&unicode=1&invisible=0&realTimeResponse=1");
    static const char *const bad[][2] = {
        {"&unicode=2", "Invalid unicode"},
        {"&invisible=yes", "Invalid invisible"},
        {"&realTimeResponse=0", "Invalid realTimeResponse"},
    };
    for (size_t i = 0; i < 3; i++) {
        char target[256], want[128];
        snprintf(target, sizeof target, "/api/v5/otp?template_id=t&mobile=%s%s", MOBILE,
                 bad[i][0]);
        snprintf(want, sizeof want, "{\"type\":\"error\",\"message\":\"%s\"}", bad[i][1]);
        EXPECT(req("POST", target, KEY, "{}"), 200, want);
    }
    struct resp r = req("POST", "/api/v5/flow", KEY,
                        "{\"template_id\":\"t\",\"sender\":\"MSGIND\",\"unicode\":\"1\","
                        "\"recipients\":[{\"mobiles\":\"" MOBILE "\"}]}");
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"type\":\"success\""));
    resp_free(&r);
    EXPECT(req("POST", "/api/v5/flow", KEY,
               "{\"template_id\":\"t\",\"sender\":\"InvalidHdr\",\"recipients\":"
               "[{\"mobiles\":\"" MOBILE "\"}]}"),
           200,
           "{\"message\":\"Invalid sender ID\",\"type\":\"error\",\"code\":\"203\"}");
    EXPECT(req("POST", "/api/v5/flow", KEY,
               "{\"template_id\":\"t\",\"sender\":\"MSG-IN\",\"recipients\":"
               "[{\"mobiles\":\"" MOBILE "\"}]}"),
           200,
           "{\"message\":\"Invalid sender ID\",\"type\":\"error\",\"code\":\"203\"}");
    EXPECT(req("POST", "/api/v5/flow", KEY,
               "{\"template_id\":\"t\",\"unicode\":1,\"recipients\":"
               "[{\"mobiles\":\"" MOBILE "\"}]}"),
           200, "{\"type\":\"error\",\"message\":\"Invalid unicode\"}");
}
END_TEST

/* MSG91's error 311: the same SMS to the same number within 10 s. */
START_TEST(flow_refuses_the_same_sms_within_ten_seconds)
{
    EXPECT(req("POST", "/_sandbox/clock/freeze", NULL, NULL), 200, "{\"ok\":true}");
    flow(ASHA, true);
    flow(ASHA, false);
    ck_assert_uint_eq(flows_kept(), 1);
    /* The same variables in another order are the same SMS. */
    flow("{\"template_id\":\"t\",\"recipients\":[{\"name\":\"Asha\",\"mobiles\":\"" MOBILE
         "\"}]}",
         false);
    /* Another number, other variables or another template are other SMS. */
    flow("{\"template_id\":\"t\",\"recipients\":[{\"mobiles\":\"919812345678\","
         "\"name\":\"Asha\"}]}",
         true);
    flow("{\"template_id\":\"t\",\"recipients\":[{\"mobiles\":\"" MOBILE
         "\",\"name\":\"Ravi\"}]}",
         true);
    flow("{\"template_id\":\"u\",\"recipients\":[{\"mobiles\":\"" MOBILE
         "\",\"name\":\"Asha\"}]}",
         true);
    /* One number of a comma list repeating is enough; nothing is kept. */
    flow("{\"template_id\":\"t\",\"recipients\":[{\"mobiles\":\"14155550123,"
         "919812345678\",\"name\":\"Asha\"}]}",
         false);
    ck_assert_uint_eq(flows_kept(), 4);
    advance(9);
    flow(ASHA, false);
    advance(1);
    flow(ASHA, true);
    flow(ASHA, false);
}
END_TEST

START_TEST(repeat_window_control)
{
    EXPECT(req("POST", "/_sandbox/repeat-window", NULL, "{\"seconds\":0}"), 200,
           "{\"ok\":true}");
    flow(ASHA, true);
    flow(ASHA, true);
    EXPECT(req("POST", "/_sandbox/clock/freeze", NULL, NULL), 200, "{\"ok\":true}");
    EXPECT(req("POST", "/_sandbox/repeat-window", NULL, "{\"seconds\":60}"), 200,
           "{\"ok\":true}");
    flow(ASHA, true);
    advance(59);
    flow(ASHA, false);
    EXPECT(req("POST", "/_sandbox/repeat-window", NULL, "{\"seconds\":-1}"), 400,
           "{\"error\":\"seconds must be an integer from 0 to 86400\"}");
    EXPECT(req("POST", "/_sandbox/repeat-window", NULL, "{}"), 400,
           "{\"error\":\"seconds must be an integer from 0 to 86400\"}");
    /* A reset forgets what was sent and brings back the 10 s rule. */
    EXPECT(req("POST", "/_sandbox/reset", NULL, NULL), 200, "{\"ok\":true}");
    EXPECT(req("POST", "/_sandbox/clock/freeze", NULL, NULL), 200, "{\"ok\":true}");
    flow(ASHA, true);
    advance(9);
    flow(ASHA, false);
    advance(1);
    flow(ASHA, true);
}
END_TEST

START_TEST(flow_rejects_bad_sends)
{
    EXPECT(req("POST", "/api/v5/flow", KEY,
               "{\"template_id\":\"invalid\",\"recipients\":[{\"mobiles\":\"" MOBILE
               "\"}]}"),
           200, OTP_ERROR("The provided flow ID or template ID is invalid."));
    EXPECT(req("POST", "/api/v5/flow", KEY,
               "{\"recipients\":[{\"mobiles\":\"" MOBILE "\"}]}"),
           200, OTP_ERROR("The provided flow ID or template ID is invalid."));
    EXPECT(req("POST", "/api/v5/flow", KEY, "{\"template_id\":\"t\",\"recipients\":[]}"),
           200, OTP_ERROR("Please enter atleast one number to send sms."));
    EXPECT(req("POST", "/api/v5/flow", KEY,
               "{\"template_id\":\"t\",\"recipients\":[{\"mobiles\":\"+" MOBILE "\"}]}"),
           200, OTP_ERROR("Mobile no. empty or not numeric"));
    EXPECT(req("POST", "/api/v5/flow", KEY, "not json"), 200,
           OTP_ERROR("Invalid JSON body"));
    EXPECT(req("GET", "/_sandbox/flows", NULL, NULL), 200, "{\"flows\":[]}");
}
END_TEST

/* ---- campaigns and events ---- */

START_TEST(campaigns_paginate)
{
    struct resp r = req("GET", "/api/v5/campaign/api/campaigns", KEY, NULL);
    ck_assert_int_eq(r.status, 200);
    json_t *v = parse(r.body);
    json_t *data = json_object_get(v, "data");
    ck_assert_str_eq(json_string_value(json_object_get(v, "status")), "success");
    ck_assert(json_is_false(json_object_get(v, "hasError")));
    ck_assert_uint_eq(json_array_size(json_object_get(data, "data")), 25);
    ck_assert_int_eq(json_integer_value(json_object_get(data, "itemsPerPage")), 25);
    ck_assert_int_eq(json_integer_value(json_object_get(data, "pageNo")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(data, "totalEntityCount")), 32);
    ck_assert_int_eq(json_integer_value(json_object_get(data, "totalPageCount")), 2);
    json_decref(v);
    resp_free(&r);

    r = req("GET", "/api/v5/campaign/api/campaigns?pageNo=2&itemsPerPage=25", KEY, NULL);
    v = parse(r.body);
    data = json_object_get(v, "data");
    ck_assert_uint_eq(json_array_size(json_object_get(data, "data")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(data, "data"), 6), "id")),
                     1001);
    json_decref(v);
    resp_free(&r);

    EXPECT(
        req("GET", "/api/v5/campaign/api/campaigns?pageNo=1&itemsPerPage=2", KEY, NULL),
        200,
        "{\"data\":{\"data\":["
        "{\"id\":1032,\"name\":\"Service Outage\",\"is_active\":true,"
        "\"slug\":\"service-outage-188\",\"channels\":[{\"campaign_id\":1032,"
        "\"channel_id\":1,\"count\":1},{\"campaign_id\":1032,\"channel_id\":2,\"count\":"
        "1}]},"
        "{\"id\":1031,\"name\":\"Re-engagement\",\"is_active\":true,"
        "\"slug\":\"re-engagement-7d7\",\"channels\":[{\"campaign_id\":1031,"
        "\"channel_id\":1,\"count\":3}]}],"
        "\"itemsPerPage\":2,\"pageNo\":1,\"pageNumber\":1,\"totalEntityCount\":32,"
        "\"totalPageCount\":16},\"status\":\"success\",\"hasError\":false,\"errors\":[]"
        "}");
    EXPECT(req("GET", "/api/v5/campaign/api/campaigns?pageNo=9", KEY, NULL), 200,
           "{\"data\":{\"data\":[],\"itemsPerPage\":25,\"pageNo\":9,\"pageNumber\":9,"
           "\"totalEntityCount\":32,\"totalPageCount\":2},\"status\":\"success\","
           "\"hasError\":false,\"errors\":[]}");
    EXPECT(req("GET", "/api/v5/campaign/api/campaigns?pageNo=0", KEY, NULL), 422,
           "{\"status\":\"fail\",\"hasError\":true,"
           "\"errors\":\"pageNo must be a positive integer\"}");
}
END_TEST

START_TEST(event_types_fixture)
{
    EXPECT(req("GET", "/api/v5/segmento/api/v1/event-types", KEY, NULL), 200,
           "{\"data\":["
           "{\"id\":\"1\",\"name\":\"login\",\"description\":\"A contact signed in.\"},"
           "{\"id\":\"2\",\"name\":\"logout\",\"description\":\"A contact signed out.\"},"
           "{\"id\":\"3\",\"name\":\"signup\",\"description\":\"A contact created an "
           "account.\"},"
           "{\"id\":\"4\",\"name\":\"page-view\",\"description\":\"A contact viewed a "
           "page.\"},"
           "{\"id\":\"5\",\"name\":\"product-clicked\",\"description\":\"A contact "
           "clicked a "
           "product.\"},"
           "{\"id\":\"6\",\"name\":\"add-to-cart\",\"description\":\"A contact added a "
           "product "
           "to the cart.\"},"
           "{\"id\":\"7\",\"name\":\"purchase\",\"description\":\"A contact completed a "
           "purchase.\"}],"
           "\"status\":\"success\",\"hasError\":false,\"errors\":[]}");
}
END_TEST

#define FAILED_PATH "/api/v5/segmento/api/v1/campaigns/%s/failed-events"

START_TEST(events_and_failed_events)
{
    EXPECT(req("POST", "/api/v5/segmento/api/v1/events", KEY,
               "{\"data\":["
               "{\"event_name\":\"login\",\"visitor_id\":\"+919876543210\","
               "\"event_properties\":{},\"type\":\"track\"},"
               "{\"event_name\":\"purchase\",\"visitor_id\":\"ghost@example.com\","
               "\"event_properties\":{\"sku\":\"A1\"},"
               "\"event_timestamp\":\"2024-05-01 10:00:00\",\"type\":\"track\"},"
               "{\"event_name\":\"login\",\"visitor_id\":\"asha@example.com\"}]}"),
           200,
           "{\"data\":{\"accepted\":3},\"status\":\"success\",\"hasError\":false,"
           "\"errors\":[]}");

    char target[256];
    snprintf(target, sizeof target, FAILED_PATH, "1001");
    struct resp r = req("POST", target, KEY, "{\"page\":1,\"limit\":10}");
    ck_assert_int_eq(r.status, 200);
    json_t *v = parse(r.body);
    json_t *data = json_object_get(v, "data");
    json_t *list = json_object_get(data, "failedEvents");
    ck_assert_int_eq(json_integer_value(json_object_get(data, "total")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(data, "page")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(data, "limit")), 10);
    ck_assert_uint_eq(json_array_size(list), 2);
    json_t *first = json_array_get(list, 0), *second = json_array_get(list, 1);
    ck_assert_uint_eq(json_object_size(first), 4);
    ck_assert(is_hex24(json_string_value(json_object_get(first, "eventId"))));
    ck_assert_str_eq(json_string_value(json_object_get(first, "reason")),
                     "visitor_id not found in phonebook");
    ck_assert_str_eq(json_string_value(json_object_get(first, "recipient")),
                     "ghost@example.com");
    ck_assert_uint_eq(strlen(json_string_value(json_object_get(first, "timestamp"))), 19);
    ck_assert_str_eq(json_string_value(json_object_get(second, "reason")),
                     "event_properties must be an object");
    json_decref(v);
    resp_free(&r);

    /* Every campaign of the fixture shows them; pages work; a body is optional. */
    snprintf(target, sizeof target, FAILED_PATH, "1032");
    r = req("POST", target, KEY, "{\"page\":2,\"limit\":1}");
    v = parse(r.body);
    data = json_object_get(v, "data");
    ck_assert_int_eq(json_integer_value(json_object_get(data, "total")), 2);
    ck_assert_uint_eq(json_array_size(json_object_get(data, "failedEvents")), 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(
            json_array_get(json_object_get(data, "failedEvents"), 0), "reason")),
        "event_properties must be an object");
    json_decref(v);
    resp_free(&r);
    r = req("POST", target, KEY, NULL);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);

    /* A date range that excludes today leaves nothing. */
    EXPECT(
        req("POST", target, KEY, "{\"page\":1,\"limit\":10,\"end_date\":\"2000-01-01\"}"),
        200,
        "{\"data\":{\"failedEvents\":[],\"page\":1,\"limit\":10,\"total\":0},"
        "\"status\":\"success\",\"hasError\":false,\"errors\":[]}");
    EXPECT(req("POST", target, KEY, "{\"start_date\":\"01-01-2000\"}"), 422,
           "{\"status\":\"fail\",\"hasError\":true,"
           "\"errors\":\"start_date must be YYYY-MM-DD\"}");

    snprintf(target, sizeof target, FAILED_PATH, "999");
    EXPECT(req("POST", target, KEY, "{\"page\":1,\"limit\":10}"), 404,
           "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Campaign not found\"}");

    EXPECT(req("POST", "/api/v5/segmento/api/v1/events", KEY, "{\"data\":[]}"), 422,
           "{\"status\":\"fail\",\"hasError\":true,"
           "\"errors\":[\"The data field is required.\"]}");
    EXPECT(req("POST", "/api/v5/segmento/api/v1/events", KEY, "{"), 400,
           "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Invalid JSON body\"}");

    r = req("GET", "/_sandbox/events", NULL, NULL);
    v = parse(r.body);
    ck_assert_uint_eq(json_array_size(json_object_get(v, "events")), 3);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(v, "events"), 0), "status")),
                     "accepted");
    json_decref(v);
    resp_free(&r);
}
END_TEST

START_TEST(failed_events_by_slug)
{
    struct resp r =
        req("GET", "/api/v5/campaign/api/campaigns?pageNo=1&itemsPerPage=1", KEY, NULL);
    json_t *v = parse(r.body);
    const char *slug = json_string_value(json_object_get(
        json_array_get(json_object_get(json_object_get(v, "data"), "data"), 0), "slug"));
    char target[256];
    snprintf(target, sizeof target, FAILED_PATH, slug);
    EXPECT(req("POST", target, KEY, "{}"), 200,
           "{\"data\":{\"failedEvents\":[],\"page\":1,\"limit\":10,\"total\":0},"
           "\"status\":\"success\",\"hasError\":false,\"errors\":[]}");
    json_decref(v);
    resp_free(&r);
}
END_TEST

/* ---- routing ---- */

#define ROUTE_MISSING "{\"type\":\"error\",\"msg\":\"Route Missing\"}"

START_TEST(unknown_routes)
{
    EXPECT(req("GET", "/api/v5/nothing", KEY, NULL), 404, ROUTE_MISSING);
    EXPECT(req("GET", "/api/v5/flow", KEY, NULL), 404, ROUTE_MISSING);
    EXPECT(req("DELETE", "/api/v5/otp", KEY, NULL), 404, ROUTE_MISSING);
    EXPECT(req("POST", "/api/v5/segmento/api/v1/campaigns//failed-events", KEY, "{}"),
           404, ROUTE_MISSING);
    EXPECT(req("GET", "/_sandbox/nothing", NULL, NULL), 404,
           "{\"error\":\"no such control route\"}");
    /* A control route answers its own methods only, and says which. */
    static const struct {
        const char *method, *target, *allow;
    } wrong[] = {
        {"GET", "/_sandbox/misbehave", "POST, DELETE"},
        {"GET", "/_sandbox/reset", "POST"},
        {"POST", "/_sandbox/requests", "GET, DELETE"},
        {"PUT", "/_sandbox/stats", "GET"},
    };
    for (size_t i = 0; i < sizeof wrong / sizeof wrong[0]; i++) {
        struct resp r = req(wrong[i].method, wrong[i].target, NULL, "{}");
        ck_assert_int_eq(r.status, 405);
        ck_assert_str_eq(r.body,
                         "{\"error\":\"method not allowed on this control route\"}");
        ck_assert_ptr_nonnull(r.allow);
        ck_assert_str_eq(r.allow, wrong[i].allow);
        resp_free(&r);
    }
}
END_TEST

START_TEST(custom_routes)
{
    stop();
    static const struct sandbox_route routes[] = {
        {"get_event_types", "GET", "/custom/{account}/types"},
        {"get_failed_events", "GET", "/fe/{campaign_id}"},
    };
    struct sandbox_options opts = {.auth_key = KEY, .routes = routes, .route_count = 2};
    char *error = NULL;
    sb = sandbox_create(&opts, &error);
    ck_assert_ptr_nonnull(sb);
    snprintf(base, sizeof base, "http://127.0.0.1:%u", (unsigned)sandbox_port(sb));
    struct resp r = req("GET", "/custom/acme/types", KEY, NULL);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strncmp(r.body, "{\"data\":[{\"id\":\"1\",\"name\":\"login\"", 33) == 0);
    resp_free(&r);
    EXPECT(req("GET", "/fe/1001", KEY, NULL), 200,
           "{\"data\":{\"failedEvents\":[],\"page\":1,\"limit\":10,\"total\":0},"
           "\"status\":\"success\",\"hasError\":false,\"errors\":[]}");
    EXPECT(req("GET", "/api/v5/segmento/api/v1/event-types", KEY, NULL), 404,
           ROUTE_MISSING);
    /* Over GET, get_failed_events reads its fields from the query. */
    EXPECT(req("GET", "/fe/1001?page=3&limit=5&start_date=2000-01-01", KEY, NULL), 200,
           "{\"data\":{\"failedEvents\":[],\"page\":3,\"limit\":5,\"total\":0},"
           "\"status\":\"success\",\"hasError\":false,\"errors\":[]}");
    EXPECT(req("GET", "/fe/1001?limit=x", KEY, NULL), 422,
           "{\"status\":\"fail\",\"hasError\":true,"
           "\"errors\":\"limit must be an integer from 1 to 1000\"}");

    static const struct sandbox_route bad[] = {{"send_email", "POST", "/x"}};
    opts.routes = bad;
    opts.route_count = 1;
    ck_assert_ptr_null(sandbox_create(&opts, &error));
    ck_assert_str_eq(error, "sandbox: route POST send_email names no known tool");
    free(error);
}
END_TEST

START_TEST(port_in_use)
{
    struct sandbox_options opts = {.port = sandbox_port(sb)};
    char *error = NULL;
    ck_assert_ptr_null(sandbox_create(&opts, &error));
    char expected[128];
    snprintf(expected, sizeof expected,
             "sandbox: cannot listen on 127.0.0.1:%u: Address already in use",
             (unsigned)sandbox_port(sb));
    ck_assert_str_eq(error, expected);
    free(error);
}
END_TEST

/* ---- misbehaviour ---- */

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void misbehave(const char *rule, unsigned rules_after)
{
    char expected[64];
    snprintf(expected, sizeof expected, "{\"ok\":true,\"rules\":%u}", rules_after);
    EXPECT(req("POST", "/_sandbox/misbehave", NULL, rule), 200, expected);
}

START_TEST(misbehave_delay)
{
    misbehave("{\"tool\":\"verify_otp\",\"delay_ms\":300}", 1);
    long t0 = now_ms();
    verify(MOBILE, "1", OTP_ERROR("Mobile no. not found"));
    ck_assert_int_ge(now_ms() - t0, 290);
}
END_TEST

START_TEST(misbehave_status_and_body)
{
    misbehave("{\"tool\":\"send_otp\",\"status\":500,\"body\":\"oops\","
              "\"content_type\":\"text/plain\"}",
              1);
    struct resp r = req("POST", "/api/v5/otp?template_id=t&mobile=" MOBILE, KEY, "{}");
    ck_assert_int_eq(r.status, 500);
    ck_assert_str_eq(r.body, "oops");
    ck_assert_str_eq(r.content_type, "text/plain");
    resp_free(&r);
    /* The answer replaced the behaviour: nothing was stored. */
    EXPECT(req("GET", "/_sandbox/otp?mobile=" MOBILE, NULL, NULL), 404,
           "{\"error\":\"no OTP for this mobile\"}");

    EXPECT(req("DELETE", "/_sandbox/misbehave", NULL, NULL), 200, "{\"ok\":true}");
    misbehave("{\"status\":503}", 1);
    EXPECT(req("GET", "/api/v5/campaign/api/campaigns", KEY, NULL), 503,
           "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Service Unavailable\"}");
    EXPECT(req("GET", "/api/v5/otp/verify?otp=1&mobile=" MOBILE, KEY, NULL), 503,
           OTP_ERROR("Service Unavailable"));
    EXPECT(req("DELETE", "/_sandbox/misbehave", NULL, NULL), 200, "{\"ok\":true}");
    misbehave("{\"body\":\"{not json\"}", 1);
    EXPECT(req("GET", "/api/v5/segmento/api/v1/event-types", KEY, NULL), 200,
           "{not json");
}
END_TEST

START_TEST(misbehave_reset)
{
    misbehave("{\"tool\":\"send_sms_flow\",\"reset\":true}", 1);
    struct resp r = req("POST", "/api/v5/flow", KEY, "{}");
    ck_assert_int_eq(r.rc, CURLE_GOT_NOTHING);
    resp_free(&r);
    /* The request was still recorded: it reached the sandbox. */
    r = req("GET", "/_sandbox/requests", NULL, NULL);
    json_t *v = parse(r.body);
    ck_assert_uint_eq(json_array_size(json_object_get(v, "requests")), 1);
    json_decref(v);
    resp_free(&r);
}
END_TEST

START_TEST(misbehave_huge)
{
    misbehave("{\"huge_bytes\":5000000}", 1);
    struct resp r = req("GET", "/api/v5/campaign/api/campaigns", KEY, NULL);
    ck_assert_int_eq(r.rc, CURLE_OK);
    ck_assert_int_eq(r.status, 200);
    ck_assert_uint_eq(r.len, 5000000);
    ck_assert(strncmp(r.body, "{\"type\":\"success\",\"message\":\"xxx", 32) == 0);
    ck_assert_str_eq(r.body + r.len - 3, "x\"}");
    json_t *v = parse(r.body);
    json_decref(v);
    resp_free(&r);
}
END_TEST

START_TEST(misbehave_rate_limit)
{
    misbehave("{\"status\":429,\"retry_after\":7}", 1);
    struct resp r = req("GET", "/api/v5/campaign/api/campaigns", KEY, NULL);
    ck_assert_int_eq(r.status, 429);
    ck_assert_str_eq(r.body, "{\"message\":\"Too many Attempts\"}");
    ck_assert_str_eq(r.retry_after, "7");
    resp_free(&r);
    /* Without retry_after there is no header. */
    EXPECT(req("DELETE", "/_sandbox/misbehave", NULL, NULL), 200, "{\"ok\":true}");
    misbehave("{\"status\":429}", 1);
    r = req("GET", "/api/v5/campaign/api/campaigns", KEY, NULL);
    ck_assert_int_eq(r.status, 429);
    ck_assert_ptr_null(r.retry_after);
    resp_free(&r);
}
END_TEST

/* MSG91's error 418, in each family's envelope. */
START_TEST(misbehave_ip_blocked)
{
    misbehave("{\"tool\":\"send_otp\",\"ip_blocked\":true,\"count\":1}", 1);
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=" MOBILE, KEY, "{}"), 200,
           "{\"message\":\"IP is not whitelisted\",\"type\":\"error\",\"code\":\"418\"}");
    /* The answer replaced the behaviour: nothing was stored, and the rule
     * is used up. */
    EXPECT(req("GET", "/_sandbox/otp?mobile=" MOBILE, NULL, NULL), 404,
           "{\"error\":\"no OTP for this mobile\"}");
    send_code(MOBILE, "");
    misbehave("{\"ip_blocked\":true}", 1);
    EXPECT(req("GET", "/api/v5/campaign/api/campaigns", KEY, NULL), 401,
           "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"IP is not whitelisted\","
           "\"code\":\"401\",\"apiError\":\"418\"}");
    EXPECT(req("POST", "/api/v5/flow", KEY, ASHA), 200,
           "{\"message\":\"IP is not whitelisted\",\"type\":\"error\",\"code\":\"418\"}");
    EXPECT(req("POST", "/_sandbox/misbehave", NULL, "{\"ip_blocked\":1}"), 400,
           "{\"error\":\"bad rule: ip_blocked\"}");
}
END_TEST

/* Every code MSG91 documents, answered in each family's envelope on any
 * route: family 1 by default on OTP and flow routes, family 2 on the
 * others, and either one when the rule names it. */
START_TEST(misbehave_codes_in_both_envelopes)
{
    static const char *const codes[][2] = {
        {"106", "Missing Authentication Key"},
        {"201", "Invalid authkey"},
        {"202", "Invalid mobile number"},
        {"203", "Invalid sender ID"},
        {"207", "Invalid authentication key"},
        {"301", "Insufficient balance to send SMS"},
        {"311", "Request discarded because same request was generated twice within 10 "
                "seconds"},
        {"418", "IP is not whitelisted"},
    };
    char rule[256], want[512];
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const char *code = codes[i][0];
        bool key = strcmp(code, "106") == 0 || strcmp(code, "201") == 0 ||
                   strcmp(code, "207") == 0 || strcmp(code, "418") == 0;
        snprintf(rule, sizeof rule, "{\"code\":\"%s\",\"count\":2}", code);
        misbehave(rule, 1);
        snprintf(want, sizeof want,
                 "{\"message\":\"%s\",\"type\":\"error\",\"code\":\"%s\"}", codes[i][1],
                 code);
        EXPECT(req("GET", "/api/v5/otp/verify?otp=1234&mobile=" MOBILE, KEY, NULL), 200,
               want);
        snprintf(want, sizeof want,
                 "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"%s\",\"code\":"
                 "\"%s\",\"apiError\":\"%s\"}",
                 codes[i][1], key ? "401" : "400", code);
        EXPECT(req("GET", "/api/v5/campaign/api/campaigns", KEY, NULL), key ? 401 : 400,
               want);
        /* The other family on each route, as the rule says. */
        snprintf(rule, sizeof rule,
                 "{\"tool\":\"send_sms_flow\",\"code\":%s,\"envelope\":\"campaign\","
                 "\"count\":1}",
                 code);
        misbehave(rule, 1);
        EXPECT(req("POST", "/api/v5/flow", KEY, ASHA), key ? 401 : 400, want);
        snprintf(rule, sizeof rule,
                 "{\"tool\":\"list_campaigns\",\"code\":\"%s\",\"envelope\":\"otp\","
                 "\"count\":1}",
                 code);
        misbehave(rule, 1);
        snprintf(want, sizeof want,
                 "{\"message\":\"%s\",\"type\":\"error\",\"code\":\"%s\"}", codes[i][1],
                 code);
        EXPECT(req("GET", "/api/v5/campaign/api/campaigns", KEY, NULL), 200, want);
    }
    /* A message and a status of the test's choosing; an unknown code. */
    misbehave("{\"tool\":\"send_otp\",\"code\":\"301\",\"message\":\"Low balance\","
              "\"status\":402,\"count\":1}",
              1);
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=" MOBILE, KEY, "{}"), 402,
           "{\"message\":\"Low balance\",\"type\":\"error\",\"code\":\"301\"}");
    misbehave("{\"code\":\"999\",\"envelope\":\"campaign\",\"count\":1}", 1);
    EXPECT(req("POST", "/api/v5/otp?template_id=t&mobile=" MOBILE, KEY, "{}"), 400,
           "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Request failed\","
           "\"code\":\"400\",\"apiError\":\"999\"}");
    /* Nothing was stored by the coded answers. */
    EXPECT(req("GET", "/_sandbox/otp?mobile=" MOBILE, NULL, NULL), 404,
           "{\"error\":\"no OTP for this mobile\"}");
    EXPECT(req("POST", "/_sandbox/misbehave", NULL, "{\"code\":\"4a\"}"), 400,
           "{\"error\":\"bad rule: code: digits, at most 6\"}");
    EXPECT(req("POST", "/_sandbox/misbehave", NULL, "{\"code\":\"1234567\"}"), 400,
           "{\"error\":\"bad rule: code: digits, at most 6\"}");
    EXPECT(req("POST", "/_sandbox/misbehave", NULL, "{\"message\":\"x\"}"), 400,
           "{\"error\":\"bad rule: message and envelope need a code\"}");
    EXPECT(req("POST", "/_sandbox/misbehave", NULL, "{\"code\":1,\"envelope\":\"x\"}"),
           400, "{\"error\":\"bad rule: envelope: \\\"otp\\\" or \\\"campaign\\\"\"}");
    EXPECT(req("POST", "/_sandbox/misbehave", NULL, "{\"code\":1,\"message\":2}"), 400,
           "{\"error\":\"bad rule: message\"}");
}
END_TEST

START_TEST(misbehave_count_and_order)
{
    misbehave(
        "{\"tool\":\"get_event_types\",\"status\":500,\"body\":\"first\",\"count\":2}",
        1);
    misbehave("{\"status\":502,\"body\":\"second\"}", 2);
    EXPECT(req("GET", "/api/v5/segmento/api/v1/event-types", KEY, NULL), 500, "first");
    EXPECT(req("GET", "/api/v5/segmento/api/v1/event-types", KEY, NULL), 500, "first");
    /* The counted rule is used up; the next one applies, until cleared. */
    EXPECT(req("GET", "/api/v5/segmento/api/v1/event-types", KEY, NULL), 502, "second");
    EXPECT(req("GET", "/api/v5/segmento/api/v1/event-types", KEY, NULL), 502, "second");
    EXPECT(req("DELETE", "/_sandbox/misbehave", NULL, NULL), 200, "{\"ok\":true}");
    struct resp r = req("GET", "/api/v5/segmento/api/v1/event-types", KEY, NULL);
    ck_assert_int_eq(r.status, 200);
    resp_free(&r);

    EXPECT(req("POST", "/_sandbox/misbehave", NULL, "{\"tool\":\"nope\"}"), 400,
           "{\"error\":\"bad rule: tool: no such tool\"}");
    EXPECT(req("POST", "/_sandbox/misbehave", NULL, "{\"delay\":5}"), 400,
           "{\"error\":\"bad rule: unknown field\"}");
    EXPECT(req("POST", "/_sandbox/misbehave", NULL, "{\"status\":99}"), 400,
           "{\"error\":\"bad rule: status\"}");
    EXPECT(req("POST", "/_sandbox/misbehave", NULL, "[]"), 400,
           "{\"error\":\"body must be a JSON object\"}");
}
END_TEST

/* ---- recording, stats, reset ---- */

START_TEST(requests_are_recorded_exactly)
{
    const char *body =
        "{\"template_id\":\"t\",\"recipients\":[{\"mobiles\":\"" MOBILE "\"}]}";
    struct resp r = req("POST", "/api/v5/flow?pluginsource=1100&x=a%20b", KEY, body);
    resp_free(&r);
    r = req("GET", "/api/v5/nowhere", NULL, NULL);
    resp_free(&r);
    char expected[2048];
    snprintf(
        expected, sizeof expected,
        "{\"requests\":["
        "{\"method\":\"POST\",\"path\":\"/api/v5/flow\","
        "\"query\":\"pluginsource=1100&x=a%%20b\","
        "\"headers\":{\"host\":\"127.0.0.1:%u\",\"authkey\":\"" KEY "\","
        "\"content-type\":\"application/json\",\"content-length\":\"%zu\"},"
        "\"body\":\"{\\\"template_id\\\":\\\"t\\\",\\\"recipients\\\":[{\\\"mobiles\\\":"
        "\\\"" MOBILE "\\\"}]}\",\"tool\":\"send_sms_flow\"},"
        "{\"method\":\"GET\",\"path\":\"/api/v5/nowhere\",\"query\":\"\","
        "\"headers\":{\"host\":\"127.0.0.1:%u\"},\"body\":\"\",\"tool\":null}]}",
        (unsigned)sandbox_port(sb), strlen(body), (unsigned)sandbox_port(sb));
    EXPECT(req("GET", "/_sandbox/requests", NULL, NULL), 200, expected);
    EXPECT(req("DELETE", "/_sandbox/requests", NULL, NULL), 200, "{\"ok\":true}");
    EXPECT(req("GET", "/_sandbox/requests", NULL, NULL), 200, "{\"requests\":[]}");

    /* A body that is not UTF-8 is kept exactly in base64. */
    r = req_n("POST", "/api/v5/segmento/api/v1/events", KEY, "a\xff", 2);
    resp_free(&r);
    r = req("GET", "/_sandbox/requests", NULL, NULL);
    json_t *v = parse(r.body);
    json_t *rec = json_array_get(json_object_get(v, "requests"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "body")), "a?");
    ck_assert_str_eq(json_string_value(json_object_get(rec, "body_base64")), "Yf8=");
    json_decref(v);
    resp_free(&r);
}
END_TEST

START_TEST(too_large_upload)
{
    size_t n = 16u * 1024 * 1024 + 1;
    char *big = malloc(n);
    memset(big, 'a', n);
    EXPECT(req_n("POST", "/api/v5/flow", KEY, big, n), 413,
           "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Request too large\"}");
    free(big);
}
END_TEST

START_TEST(stats_and_reset)
{
    send_code(MOBILE, "&otp=1234");
    EXPECT(req("GET", "/_sandbox/stats", NULL, NULL), 200,
           "{\"received\":1,\"inflight\":0,\"max_inflight\":1}");
    misbehave("{\"status\":500}", 1);
    EXPECT(req("POST", "/_sandbox/stats/reset", NULL, NULL), 200, "{\"ok\":true}");
    EXPECT(req("GET", "/_sandbox/stats", NULL, NULL), 200,
           "{\"received\":0,\"inflight\":0,\"max_inflight\":0}");
    EXPECT(req("POST", "/_sandbox/reset", NULL, NULL), 200, "{\"ok\":true}");
    EXPECT(req("GET", "/_sandbox/otp?mobile=" MOBILE, NULL, NULL), 404,
           "{\"error\":\"no OTP for this mobile\"}");
    EXPECT(req("GET", "/_sandbox/requests", NULL, NULL), 200, "{\"requests\":[]}");
    /* The rule went with the reset. */
    verify(MOBILE, "1234", OTP_ERROR("Mobile no. not found"));
}
END_TEST

START_TEST(same_seed_same_ids)
{
    struct resp a =
        req("POST", "/api/v5/flow", KEY,
            "{\"template_id\":\"t\",\"recipients\":[{\"mobiles\":\"" MOBILE "\"}]}");
    EXPECT(req("POST", "/_sandbox/reset", NULL, NULL), 200, "{\"ok\":true}");
    struct resp b =
        req("POST", "/api/v5/flow", KEY,
            "{\"template_id\":\"t\",\"recipients\":[{\"mobiles\":\"" MOBILE "\"}]}");
    ck_assert_str_eq(a.body, b.body);
    resp_free(&a);
    resp_free(&b);
}
END_TEST

/* Runs n requests at once, each delayed by the sandbox, and returns how
 * long they all took. Every one must succeed. */
static long run_concurrent(int n, int delay_ms)
{
    char rule[128];
    snprintf(rule, sizeof rule, "{\"tool\":\"get_event_types\",\"delay_ms\":%d}",
             delay_ms);
    misbehave(rule, 1);
    CURLM *m = curl_multi_init();
    CURL **handles = calloc((size_t)n, sizeof *handles);
    struct resp *resps = calloc((size_t)n, sizeof *resps);
    /* NOLINTNEXTLINE(bugprone-sizeof-expression): n list pointers, as meant */
    struct curl_slist **hdrs = calloc((size_t)n, sizeof *hdrs);
    long t0 = now_ms();
    for (int i = 0; i < n; i++) {
        handles[i] = easy("GET", "/api/v5/segmento/api/v1/event-types", KEY, NULL, 0,
                          &hdrs[i], &resps[i]);
        curl_multi_add_handle(m, handles[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    long elapsed = now_ms() - t0;
    CURLMsg *msg;
    int left, done = 0;
    while ((msg = curl_multi_info_read(m, &left))) {
        if (msg->msg == CURLMSG_DONE) {
            ck_assert_int_eq(msg->data.result, CURLE_OK);
            done++;
        }
    }
    ck_assert_int_eq(done, n);
    for (int i = 0; i < n; i++) {
        finish(handles[i], &resps[i]);
        ck_assert_int_eq(resps[i].status, 200);
        curl_multi_remove_handle(m, handles[i]);
        curl_easy_cleanup(handles[i]);
        curl_slist_free_all(hdrs[i]);
        resp_free(&resps[i]);
    }
    curl_multi_cleanup(m);
    free(handles);
    free(resps);
    free(hdrs);
    return elapsed;
}

static json_int_t stat_of(const char *name)
{
    struct resp r = req("GET", "/_sandbox/stats", NULL, NULL);
    json_t *v = parse(r.body);
    json_int_t n = json_integer_value(json_object_get(v, name));
    json_decref(v);
    resp_free(&r);
    return n;
}

START_TEST(concurrent_delays_overlap)
{
    long elapsed = run_concurrent(200, 300);
    /* Every answer waited its delay, and the delays overlapped: the
     * sandbox held at least half of the requests at once. */
    ck_assert_int_ge(elapsed, 290);
    ck_assert_int_ge(stat_of("max_inflight"), 100);
    ck_assert_int_eq(stat_of("received"), 200);
    ck_assert_int_eq(stat_of("inflight"), 0);
}
END_TEST

START_TEST(a_thousand_connections)
{
    long elapsed = run_concurrent(1000, 1000);
    ck_assert_int_ge(elapsed, 990);
    ck_assert_int_ge(stat_of("max_inflight"), 500);
    ck_assert_int_eq(stat_of("received"), 1000);
}
END_TEST

/* A request the sandbox holds for a delay, sent with a multi handle so
 * the test goes on meanwhile. */
struct held {
    CURLM *m;
    CURL *c;
    struct curl_slist *hdrs;
    struct resp r;
};

/* Sends method + target and returns once the sandbox counts it in
 * flight, i.e. it is waiting out its delay. */
static void held_start(struct held *h, const char *method, const char *target)
{
    memset(h, 0, sizeof *h);
    h->m = curl_multi_init();
    h->c = easy(method, target, KEY, NULL, 0, &h->hdrs, &h->r);
    curl_multi_add_handle(h->m, h->c);
    int running = 1;
    long t0 = now_ms();
    while (stat_of("inflight") == 0) {
        ck_assert_msg(now_ms() - t0 < 60000, "the request never reached the sandbox");
        curl_multi_perform(h->m, &running);
        curl_multi_poll(h->m, NULL, 0, 20, NULL);
    }
    ck_assert_int_eq(stat_of("inflight"), 1);
}

/* Drives the held request to its end; returns libcurl's result. */
static CURLcode held_finish(struct held *h)
{
    int running = 1;
    while (running) {
        curl_multi_perform(h->m, &running);
        if (running)
            curl_multi_poll(h->m, NULL, 0, 100, NULL);
    }
    int left;
    CURLMsg *msg = curl_multi_info_read(h->m, &left);
    ck_assert_ptr_nonnull(msg);
    CURLcode rc = msg->data.result;
    curl_multi_remove_handle(h->m, h->c);
    curl_easy_cleanup(h->c);
    curl_slist_free_all(h->hdrs);
    curl_multi_cleanup(h->m);
    resp_free(&h->r);
    return rc;
}

/* The delay outlasts the test: were it waited out, the test would time
 * out rather than pass. */
#define FOREVER_RULE(tool) "{\"tool\":\"" tool "\",\"delay_ms\":600000}"

START_TEST(delays_hold_only_their_own_request)
{
    misbehave(FOREVER_RULE("send_otp"), 1);
    struct held h;
    held_start(&h, "POST", "/api/v5/otp?template_id=t&otp=1234&mobile=" MOBILE);
    /* Another tool is answered while the send is held... */
    verify(MOBILE, "1234", OTP_ERROR("Mobile no. not found"));
    ck_assert_int_eq(stat_of("inflight"), 1);
    /* ...and a reset drops the held request: no answer, nothing stored. */
    EXPECT(req("POST", "/_sandbox/reset", NULL, NULL), 200, "{\"ok\":true}");
    ck_assert_int_eq(held_finish(&h), CURLE_GOT_NOTHING);
    ck_assert_int_eq(stat_of("inflight"), 0);
    EXPECT(req("GET", "/_sandbox/otp?mobile=" MOBILE, NULL, NULL), 404,
           "{\"error\":\"no OTP for this mobile\"}");
    verify(MOBILE, "1234", OTP_ERROR("Mobile no. not found"));
}
END_TEST

START_TEST(destroy_cuts_delays_short)
{
    misbehave(FOREVER_RULE("get_event_types"), 1);
    struct held h;
    held_start(&h, "GET", "/api/v5/segmento/api/v1/event-types");
    stop();
    held_finish(&h);
}
END_TEST

static Suite *sandbox_suite(void)
{
    Suite *s = suite_create("sandbox");
    TCase *tc = tcase_create("routes");
    tcase_add_checked_fixture(tc, start, stop);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, send_otp_stores_the_given_code);
    tcase_add_test(tc, send_otp_generates_codes_of_the_asked_length);
    tcase_add_test(tc, send_otp_rejects_bad_input);
    tcase_add_test(tc, resend_allows_two_retries);
    tcase_add_test(tc, verify_lifecycle);
    tcase_add_test(tc, verify_stops_after_five_wrong_codes);
    tcase_add_test(tc, verify_after_expiry);
    tcase_add_test(tc, send_replaces_the_pending_code);
    tcase_add_test(tc, auth_errors_in_both_families);
    tcase_add_test(tc, null_auth_key_accepts_any_key);
    tcase_add_test(tc, flow_records_accepted_sends);
    tcase_add_test(tc, flow_rejects_bad_sends);
    tcase_add_test(tc, switches_and_sender);
    tcase_add_test(tc, flow_refuses_the_same_sms_within_ten_seconds);
    tcase_add_test(tc, repeat_window_control);
    tcase_add_test(tc, campaigns_paginate);
    tcase_add_test(tc, event_types_fixture);
    tcase_add_test(tc, events_and_failed_events);
    tcase_add_test(tc, failed_events_by_slug);
    tcase_add_test(tc, unknown_routes);
    tcase_add_test(tc, custom_routes);
    tcase_add_test(tc, port_in_use);
    suite_add_tcase(s, tc);

    tc = tcase_create("control");
    tcase_add_checked_fixture(tc, start, stop);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, misbehave_delay);
    tcase_add_test(tc, misbehave_status_and_body);
    tcase_add_test(tc, misbehave_reset);
    tcase_add_test(tc, misbehave_huge);
    tcase_add_test(tc, misbehave_rate_limit);
    tcase_add_test(tc, misbehave_count_and_order);
    tcase_add_test(tc, misbehave_ip_blocked);
    tcase_add_test(tc, misbehave_codes_in_both_envelopes);
    tcase_add_test(tc, requests_are_recorded_exactly);
    tcase_add_test(tc, too_large_upload);
    tcase_add_test(tc, stats_and_reset);
    tcase_add_test(tc, same_seed_same_ids);
    tcase_add_test(tc, concurrent_delays_overlap);
    tcase_add_test(tc, a_thousand_connections);
    tcase_add_test(tc, delays_hold_only_their_own_request);
    tcase_add_test(tc, destroy_cuts_delays_short);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int status = testutil_run(sandbox_suite());
    curl_global_cleanup();
    return status;
}

/* NOLINTEND(bugprone-easily-swappable-parameters)
 * NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */
