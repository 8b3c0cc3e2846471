/* The eight tools without a network: the exact request each builds from
 * given arguments (method, URL, body bytes, retry flag), that hostile
 * argument values cannot change the path or add parameters, that endpoint
 * overrides are honoured, and the exact result or error text each reader
 * produces for success bodies and every kind of failure. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "tests/toolutil.h"
#include "tools/answer.h"
#include "tools/request.h"
#include "tools/tool.h"
#include "util/msg.h"
#include "util/redact.h"

#define BASE "https://control.msg91.com"

/* ---- helpers ---- */

static json_t *parse(const char *text)
{
    json_error_t err;
    json_t *v = json_loads(text, 0, &err);
    ck_assert_msg(v != NULL, "bad test JSON %s: %s", text, err.text);
    return v;
}

static const struct tool_def *tool(const char *name)
{
    const struct tool_def *t = tool_find(name);
    ck_assert_msg(t != NULL, "no tool %s", name);
    return t;
}

/* Builds with the default endpoint (or endpoint when not NULL). Returns the
 * build's result; *error is set on failure. */
static int build_with(const char *name, const struct tool_endpoint *endpoint,
                      const char *default_template, const char *args_text,
                      struct http_request *req, char **error)
{
    const struct tool_def *t = tool(name);
    struct tool_build_ctx ctx = {
        .tool = t,
        .endpoint = endpoint ? endpoint : &t->endpoint,
        .base_url = BASE,
        .arg_default = default_template,
    };
    json_t *args = parse(args_text);
    memset(req, 0, sizeof *req);
    *error = NULL;
    int rc = t->build(&ctx, args, req, error);
    json_decref(args);
    return rc;
}

/* Asserts the exact request; body NULL means no body at all. */
static void expect_request_with(const char *name, const struct tool_endpoint *endpoint,
                                const char *default_template, const char *args_text,
                                const char *method, const char *url, const char *body,
                                bool retryable)
{
    struct http_request req;
    char *error;
    int rc = build_with(name, endpoint, default_template, args_text, &req, &error);
    ck_assert_msg(rc == 0, "%s build failed: %s", name, error ? error : "(null)");
    ck_assert_ptr_null(error);
    ck_assert_str_eq(req.method, method);
    ck_assert_str_eq(req.url, url);
    if (body) {
        ck_assert_ptr_nonnull(req.body);
        ck_assert_str_eq(req.body, body);
        ck_assert_uint_eq(req.body_len, strlen(body));
        ck_assert_str_eq(req.content_type, "application/json");
    } else {
        ck_assert_ptr_null(req.body);
        ck_assert_uint_eq(req.body_len, 0);
        ck_assert_ptr_null(req.content_type);
    }
    ck_assert_int_eq(req.retryable, retryable);
    request_clear(&req);
}

static void expect_request(const char *name, const char *args_text, const char *method,
                           const char *url, const char *body, bool retryable)
{
    expect_request_with(name, NULL, NULL, args_text, method, url, body, retryable);
}

static void expect_build_error_with(const char *name,
                                    const struct tool_endpoint *endpoint,
                                    const char *default_template, const char *args_text,
                                    const char *text)
{
    struct http_request req;
    char *error;
    int rc = build_with(name, endpoint, default_template, args_text, &req, &error);
    ck_assert_int_eq(rc, -1);
    ck_assert_ptr_nonnull(error);
    ck_assert_str_eq(error, text);
    ck_assert_ptr_null(req.url);
    ck_assert_ptr_null(req.body);
    free(error);
}

static void expect_build_error(const char *name, const char *args_text, const char *text)
{
    expect_build_error_with(name, NULL, NULL, args_text, text);
}

static struct http_response failed(enum http_outcome outcome, const char *error)
{
    struct http_response r = {
        .outcome = outcome,
        .status = 0,
        .body = "",
        .retry_after_s = -1,
        .error = error,
        .attempts = 1,
        .maybe_delivered = outcome != HTTP_DNS_FAILED && outcome != HTTP_CONNECT_FAILED &&
                           outcome != HTTP_TLS_FAILED,
    };
    return r;
}

static void expect_result(const char *name, const char *args_text,
                          const struct http_response *resp, const char *result)
{
    struct tool_outcome out;
    toolutil_read(name, NULL, args_text, resp, &out);
    ck_assert_msg(out.error_text == NULL, "%s: unexpected error: %s", name,
                  out.error_text ? out.error_text : "");
    ck_assert_ptr_nonnull(out.structured);
    toolutil_expect_conforms(name, out.structured);
    char *got = json_dumps(out.structured, JSON_COMPACT);
    ck_assert_str_eq(got, result);
    free(got);
    tool_outcome_finish(&out);
}

static void expect_error_with(const char *name, const struct tool_endpoint *endpoint,
                              const char *args_text, const struct http_response *resp,
                              const char *text)
{
    struct tool_outcome out;
    toolutil_read(name, endpoint, args_text, resp, &out);
    ck_assert_ptr_null(out.structured);
    ck_assert_msg(out.error_text != NULL, "%s: no error text", name);
    ck_assert_str_eq(out.error_text, text);
    tool_outcome_finish(&out);
}

static void expect_error(const char *name, const char *args_text,
                         const struct http_response *resp, const char *text)
{
    expect_error_with(name, NULL, args_text, resp, text);
}

/* ---- request building: encoding and mobiles ---- */

START_TEST(encode_everything_but_unreserved)
{
    const char in[] = "aZ09-._~ &=#/?%+\r\n\xc3\xa9";
    char *out = request_encode(in, strlen(in));
    ck_assert_str_eq(out, "aZ09-._~%20%26%3D%23%2F%3F%25%2B%0D%0A%C3%A9");
    free(out);
    out = request_encode("", 0);
    ck_assert_str_eq(out, "");
    free(out);
}
END_TEST

START_TEST(mobile_digits_only)
{
    char *m = request_mobile("+919876543210");
    ck_assert_str_eq(m, "919876543210");
    free(m);
    m = request_mobile("919876543210");
    ck_assert_str_eq(m, "919876543210");
    free(m);
}
END_TEST

/* ---- each tool's request ---- */

START_TEST(send_otp_request)
{
    expect_request(
        "send_otp", "{\"mobile\":\"+919876543210\",\"template_id\":\"tmpl_1\"}", "POST",
        BASE "/api/v5/otp?template_id=tmpl_1&mobile=919876543210", "{}", false);
    expect_request(
        "send_otp",
        "{\"mobile\":\"919876543210\",\"template_id\":\"T-9\",\"otp\":\"482113\","
        "\"otp_length\":6,\"otp_expiry\":10,"
        "\"variables\":{\"name\":\"Asha\",\"company\":\"Acme & Co\"}}",
        "POST",
        BASE "/api/v5/otp?template_id=T-9&mobile=919876543210&otp=482113"
             "&otp_length=6&otp_expiry=10",
        "{\"name\":\"Asha\",\"company\":\"Acme & Co\"}", false);
}
END_TEST

/* MSG91's documented switches, in W-SEND's order after the code: unicode
 * and invisible as 1 or 0 when given, realTimeResponse=1 only when true. */
START_TEST(send_otp_switches)
{
    expect_request("send_otp",
                   "{\"mobile\":\"+919876543210\",\"template_id\":\"t\","
                   "\"realtime_response\":true,\"unicode\":true,\"invisible\":false,"
                   "\"otp_expiry\":5}",
                   "POST",
                   BASE "/api/v5/otp?template_id=t&mobile=919876543210&otp_expiry=5"
                        "&unicode=1&invisible=0&realTimeResponse=1",
                   "{}", false);
    expect_request("send_otp",
                   "{\"mobile\":\"+919876543210\",\"template_id\":\"t\","
                   "\"realtime_response\":false,\"unicode\":false,\"invisible\":true}",
                   "POST",
                   BASE "/api/v5/otp?template_id=t&mobile=919876543210&unicode=0"
                        "&invisible=1",
                   "{}", false);
}
END_TEST

/* A custom code decides the length: otp_length follows it when left out,
 * and a different otp_length is refused before anything is sent. */
START_TEST(send_otp_length_follows_otp)
{
    expect_request("send_otp",
                   "{\"mobile\":\"+919876543210\",\"template_id\":\"t\","
                   "\"otp\":\"12345\"}",
                   "POST",
                   BASE "/api/v5/otp?template_id=t&mobile=919876543210&otp=12345"
                        "&otp_length=5",
                   "{}", false);
    expect_request("send_otp",
                   "{\"mobile\":\"+919876543210\",\"template_id\":\"t\","
                   "\"otp\":\"0042\",\"otp_length\":4}",
                   "POST",
                   BASE "/api/v5/otp?template_id=t&mobile=919876543210&otp=0042"
                        "&otp_length=4",
                   "{}", false);
    /* Without a code, otp_length is MSG91's to use as given. */
    expect_request("send_otp",
                   "{\"mobile\":\"+919876543210\",\"template_id\":\"t\","
                   "\"otp_length\":7}",
                   "POST",
                   BASE "/api/v5/otp?template_id=t&mobile=919876543210&otp_length=7",
                   "{}", false);
    expect_build_error("send_otp",
                       "{\"mobile\":\"+919876543210\",\"template_id\":\"t\","
                       "\"otp\":\"12345\",\"otp_length\":4}",
                       "otp has 5 digits but otp_length is 4: give otp_length the length "
                       "of otp, or leave otp_length out. Nothing was sent.");
    expect_build_error("send_otp",
                       "{\"mobile\":\"+919876543210\",\"template_id\":\"t\","
                       "\"otp\":\"123456789\",\"otp_length\":6.0}",
                       "otp has 9 digits but otp_length is 6: give otp_length the length "
                       "of otp, or leave otp_length out. Nothing was sent.");
}
END_TEST

START_TEST(send_otp_template_default)
{
    expect_request_with("send_otp", NULL, "dflt", "{\"mobile\":\"+919876543210\"}",
                        "POST", BASE "/api/v5/otp?template_id=dflt&mobile=919876543210",
                        "{}", false);
    /* An explicit template wins over the configured default. */
    expect_request_with("send_otp", NULL, "dflt",
                        "{\"mobile\":\"+919876543210\",\"template_id\":\"mine\"}", "POST",
                        BASE "/api/v5/otp?template_id=mine&mobile=919876543210", "{}",
                        false);
    expect_build_error("send_otp", "{\"mobile\":\"+919876543210\"}",
                       "template_id is required: pass template_id or configure "
                       "MSG91_OTP_TEMPLATE_ID.");
    expect_build_error_with("send_otp", NULL, "", "{\"mobile\":\"+919876543210\"}",
                            "template_id is required: pass template_id or configure "
                            "MSG91_OTP_TEMPLATE_ID.");
}
END_TEST

START_TEST(resend_otp_request)
{
    expect_request("resend_otp", "{\"mobile\":\"+919876543210\"}", "GET",
                   BASE "/api/v5/otp/retry?retrytype=text&mobile=919876543210", NULL,
                   false);
    expect_request(
        "resend_otp", "{\"mobile\":\"+919876543210\",\"retry_type\":\"voice\"}", "GET",
        BASE "/api/v5/otp/retry?retrytype=voice&mobile=919876543210", NULL, false);
}
END_TEST

START_TEST(verify_otp_request)
{
    expect_request("verify_otp", "{\"mobile\":\"+919876543210\",\"otp\":\"048213\"}",
                   "GET", BASE "/api/v5/otp/verify?otp=048213&mobile=919876543210", NULL,
                   false);
}
END_TEST

START_TEST(send_sms_flow_request)
{
    expect_request(
        "send_sms_flow",
        "{\"template_id\":\"flow_1\",\"recipients\":[{\"mobiles\":\"+919876543210\","
        "\"name\":\"Asha\",\"OTP\":\"1234\"},{\"VAR1\":\"x\",\"mobiles\":"
        "\"447700900123\"}]}",
        "POST", BASE "/api/v5/flow",
        "{\"template_id\":\"flow_1\",\"recipients\":[{\"mobiles\":\"919876543210\","
        "\"name\":\"Asha\",\"OTP\":\"1234\"},{\"mobiles\":\"447700900123\","
        "\"VAR1\":\"x\"}]}",
        false);
    expect_request(
        "send_sms_flow",
        "{\"template_id\":\"flow_1\",\"recipients\":[{\"mobiles\":\"919876543210\"}],"
        "\"short_url\":true,\"short_url_expiry\":3600,\"realtime_response\":true}",
        "POST", BASE "/api/v5/flow",
        "{\"template_id\":\"flow_1\",\"short_url\":\"1\",\"short_url_expiry\":3600,"
        "\"realTimeResponse\":\"1\",\"recipients\":[{\"mobiles\":\"919876543210\"}]}",
        false);
    expect_request(
        "send_sms_flow",
        "{\"template_id\":\"flow_1\",\"recipients\":[{\"mobiles\":\"919876543210\"}],"
        "\"short_url\":false,\"realtime_response\":false}",
        "POST", BASE "/api/v5/flow",
        "{\"template_id\":\"flow_1\",\"short_url\":\"0\",\"recipients\":"
        "[{\"mobiles\":\"919876543210\"}]}",
        false);
    /* sender and unicode: the sender as given, unicode as "1" or "0". */
    expect_request(
        "send_sms_flow",
        "{\"template_id\":\"flow_1\",\"recipients\":[{\"mobiles\":\"919876543210\"}],"
        "\"unicode\":true,\"sender\":\"MSGIND\",\"realtime_response\":true}",
        "POST", BASE "/api/v5/flow",
        "{\"template_id\":\"flow_1\",\"realTimeResponse\":\"1\",\"sender\":\"MSGIND\","
        "\"unicode\":\"1\",\"recipients\":[{\"mobiles\":\"919876543210\"}]}",
        false);
    expect_request(
        "send_sms_flow",
        "{\"template_id\":\"flow_1\",\"recipients\":[{\"mobiles\":\"919876543210\"}],"
        "\"unicode\":false}",
        "POST", BASE "/api/v5/flow",
        "{\"template_id\":\"flow_1\",\"unicode\":\"0\",\"recipients\":"
        "[{\"mobiles\":\"919876543210\"}]}",
        false);
}
END_TEST

START_TEST(create_user_events_request)
{
    expect_request(
        "create_user_events",
        "{\"identifier\":\"asha@example.com\",\"events\":[{\"name\":\"login\"},"
        "{\"name\":\"purchase\",\"properties\":{\"amount\":499,\"sku\":\"A1\"},"
        "\"timestamp\":\"2024-05-01T10:30:00+05:30\"}]}",
        "POST", BASE "/api/v5/segmento/api/v1/events",
        "{\"data\":[{\"event_name\":\"login\",\"visitor_id\":\"asha@example.com\","
        "\"event_properties\":{},\"type\":\"track\"},{\"event_name\":\"purchase\","
        "\"visitor_id\":\"asha@example.com\",\"event_properties\":{\"amount\":499,"
        "\"sku\":\"A1\"},\"event_timestamp\":\"2024-05-01 "
        "05:00:00\",\"type\":\"track\"}]}",
        false);
}
END_TEST

/* Builds create_user_events with one event at this timestamp and checks
 * the converted value in the body. */
static void expect_timestamp(const char *in, const char *utc)
{
    char args[256], body[512];
    snprintf(args, sizeof args,
             "{\"identifier\":\"c1\",\"events\":[{\"name\":\"e\",\"timestamp\":\"%s\"}]}",
             in);
    snprintf(
        body, sizeof body,
        "{\"data\":[{\"event_name\":\"e\",\"visitor_id\":\"c1\",\"event_properties\":{},"
        "\"event_timestamp\":\"%s\",\"type\":\"track\"}]}",
        utc);
    expect_request("create_user_events", args, "POST",
                   BASE "/api/v5/segmento/api/v1/events", body, false);
}

static void expect_bad_timestamp(const char *in)
{
    char args[256];
    snprintf(args, sizeof args,
             "{\"identifier\":\"c1\",\"events\":[{\"name\":\"e\"},{\"name\":\"e\","
             "\"timestamp\":\"%s\"}]}",
             in);
    expect_build_error(
        "create_user_events", args,
        "events/1/timestamp is not an RFC 3339 date-time with a time zone, "
        "e.g. 2024-05-01T10:30:00+05:30 or 2024-05-01T05:00:00Z.");
}

START_TEST(timestamps_to_utc)
{
    expect_timestamp("2024-05-01T05:00:00Z", "2024-05-01 05:00:00");
    expect_timestamp("2024-12-31T23:59:59.123-01:00", "2025-01-01 00:59:59");
    expect_timestamp("2024-02-29t00:00:00z", "2024-02-29 00:00:00");
    expect_timestamp("2024-03-01T00:30:00+01:00", "2024-02-29 23:30:00");
    expect_timestamp("2023-03-01T00:30:00+01:00", "2023-02-28 23:30:00");
    expect_timestamp("2000-01-01 00:00:00.999999+14:00", "1999-12-31 10:00:00");
    expect_timestamp("2016-12-31T23:59:60Z", "2016-12-31 23:59:59");
    expect_bad_timestamp("2023-02-29T00:00:00Z");
    expect_bad_timestamp("2024-05-01T10:30:00");
    expect_bad_timestamp("2024-05-01");
    expect_bad_timestamp("2024-05-01T24:00:00Z");
    expect_bad_timestamp("2024-05-01T10:30:00+5:30");
    expect_bad_timestamp("2024-05-01T10:30:00.Z");
    expect_bad_timestamp("2024-05-01T10:30:00Zjunk");
    /* Valid RFC 3339, but before year 1 once in UTC: said as such. */
    expect_build_error(
        "create_user_events",
        "{\"identifier\":\"c1\",\"events\":[{\"name\":\"e\"},{\"name\":\"e\","
        "\"timestamp\":\"0001-01-01T00:30:00+01:00\"}]}",
        "events/1/timestamp falls outside the years 0001 to 9999 once "
        "converted to UTC; use a date within them.");
}
END_TEST

START_TEST(get_event_types_request)
{
    expect_request("get_event_types", "{}", "GET",
                   BASE "/api/v5/segmento/api/v1/event-types", NULL, true);
}
END_TEST

START_TEST(get_failed_events_request)
{
    expect_request("get_failed_events", "{\"campaign_id\":\"cmp-42\"}", "POST",
                   BASE "/api/v5/segmento/api/v1/campaigns/cmp-42/failed-events",
                   "{\"page\":1,\"limit\":10}", true);
    expect_request("get_failed_events",
                   "{\"campaign_id\":\"42\",\"page\":3,\"limit\":50,"
                   "\"start_date\":\"2024-05-01\",\"end_date\":\"2024-05-31\"}",
                   "POST", BASE "/api/v5/segmento/api/v1/campaigns/42/failed-events",
                   "{\"page\":3,\"limit\":50,\"start_date\":\"2024-05-01\","
                   "\"end_date\":\"2024-05-31\"}",
                   true);
}
END_TEST

START_TEST(list_campaigns_request)
{
    expect_request("list_campaigns", "{}", "GET",
                   BASE "/api/v5/campaign/api/campaigns?pageNo=1&itemsPerPage=25", NULL,
                   true);
    expect_request("list_campaigns", "{\"page\":4,\"limit\":100}", "GET",
                   BASE "/api/v5/campaign/api/campaigns?pageNo=4&itemsPerPage=100", NULL,
                   true);
}
END_TEST

/* ---- integer arguments that arrive as reals ---- */

/* JSON Schema counts 3.0 as an integer, so a builder must read it as 3,
 * never fall back to its default. */
START_TEST(whole_reals_are_integers)
{
    expect_request("list_campaigns", "{\"page\":3.0,\"limit\":5.0}", "GET",
                   BASE "/api/v5/campaign/api/campaigns?pageNo=3&itemsPerPage=5", NULL,
                   true);
    expect_request("get_failed_events",
                   "{\"campaign_id\":\"42\",\"page\":3.0,\"limit\":5e1}", "POST",
                   BASE "/api/v5/segmento/api/v1/campaigns/42/failed-events",
                   "{\"page\":3,\"limit\":50}", true);
    expect_request(
        "send_otp",
        "{\"mobile\":\"919876543210\",\"template_id\":\"t\",\"otp_length\":6.0,"
        "\"otp_expiry\":10.0}",
        "POST",
        BASE "/api/v5/otp?template_id=t&mobile=919876543210&otp_length=6"
             "&otp_expiry=10",
        "{}", false);
    expect_request(
        "send_sms_flow",
        "{\"template_id\":\"f\",\"recipients\":[{\"mobiles\":\"919876543210\"}],"
        "\"short_url_expiry\":3600.0}",
        "POST", BASE "/api/v5/flow",
        "{\"template_id\":\"f\",\"short_url_expiry\":3600,\"recipients\":"
        "[{\"mobiles\":\"919876543210\"}]}",
        false);
}
END_TEST

/* A number too big for 64 bits (the JSON-RPC parser reads such a literal
 * as a real) or with a fraction is refused by name, never replaced by a
 * default. */
START_TEST(huge_or_fractional_numbers_are_refused)
{
    static const struct {
        const char *tool, *args, *name;
    } cases[] = {
        {"list_campaigns", "{\"page\":1.2345678901234568e29}", "page"},
        {"list_campaigns", "{\"page\":2,\"limit\":9.3e18}", "limit"},
        {"get_failed_events", "{\"campaign_id\":\"1\",\"page\":1e30}", "page"},
        {"get_failed_events", "{\"campaign_id\":\"1\",\"limit\":2.5}", "limit"},
        {"send_otp",
         "{\"mobile\":\"919876543210\",\"template_id\":\"t\",\"otp_length\":1e19}",
         "otp_length"},
        {"send_otp",
         "{\"mobile\":\"919876543210\",\"template_id\":\"t\",\"otp_expiry\":-1e19}",
         "otp_expiry"},
        {"send_sms_flow",
         "{\"template_id\":\"f\",\"recipients\":[{\"mobiles\":\"919876543210\"}],"
         "\"short_url_expiry\":1e300}",
         "short_url_expiry"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char text[256];
        snprintf(text, sizeof text,
                 "Invalid arguments: %s must be a whole number between "
                 "-9223372036854775808 and 9223372036854775807; fix it and call again.",
                 cases[i].name);
        expect_build_error(cases[i].tool, cases[i].args, text);
    }
}
END_TEST

/* ---- hostile values ---- */

START_TEST(hostile_campaign_id_stays_one_segment)
{
    expect_request("get_failed_events", "{\"campaign_id\":\"../../otp\"}", "POST",
                   BASE "/api/v5/segmento/api/v1/campaigns/..%2F..%2Fotp/failed-events",
                   "{\"page\":1,\"limit\":10}", true);
    expect_request("get_failed_events", "{\"campaign_id\":\"a?b=c&d#e%f/g\"}", "POST",
                   BASE "/api/v5/segmento/api/v1/campaigns/a%3Fb%3Dc%26d%23e%25f%2Fg"
                        "/failed-events",
                   "{\"page\":1,\"limit\":10}", true);
    expect_request("get_failed_events", "{\"campaign_id\":\"x\\r\\nHost: evil\"}", "POST",
                   BASE "/api/v5/segmento/api/v1/campaigns/x%0D%0AHost%3A%20evil"
                        "/failed-events",
                   "{\"page\":1,\"limit\":10}", true);
    expect_request("get_failed_events", "{\"campaign_id\":\"caf\\u00e9 \\u2603\"}",
                   "POST",
                   BASE "/api/v5/segmento/api/v1/campaigns/caf%C3%A9%20%E2%98%83"
                        "/failed-events",
                   "{\"page\":1,\"limit\":10}", true);
    expect_request("get_failed_events", "{\"campaign_id\":\"...\"}", "POST",
                   BASE "/api/v5/segmento/api/v1/campaigns/.../failed-events",
                   "{\"page\":1,\"limit\":10}", true);
    expect_build_error("get_failed_events", "{\"campaign_id\":\"..\"}",
                       "campaign_id must not be \".\" or \"..\".");
    expect_build_error("get_failed_events", "{\"campaign_id\":\".\"}",
                       "campaign_id must not be \".\" or \"..\".");
    expect_build_error("get_failed_events", "{\"campaign_id\":\"\"}",
                       "campaign_id must not be empty.");
}
END_TEST

START_TEST(hostile_query_values_stay_values)
{
    /* The default template comes from configuration, not a schema, so it
     * is the one query value that can hold anything. */
    expect_request_with("send_otp", NULL, "t&mobile=1#x/../y?z=%25\r\n\xc3\xa9",
                        "{\"mobile\":\"+919876543210\"}", "POST",
                        BASE "/api/v5/otp?template_id=t%26mobile%3D1%23x%2F..%2Fy%3Fz%3D"
                             "%2525%0D%0A%C3%A9&mobile=919876543210",
                        "{}", false);
    /* A GET override sends get_failed_events' fields in the query. */
    static const struct tool_endpoint get = {"GET", "/v1/failed/{campaign_id}", NULL};
    expect_request_with("get_failed_events", &get, NULL,
                        "{\"campaign_id\":\"7\",\"start_date\":\"2024-01-01&limit=100\","
                        "\"end_date\":\"2024-01-02#x\"}",
                        "GET",
                        BASE
                        "/v1/failed/7?page=1&limit=10&start_date=2024-01-01%26limit%3D100"
                        "&end_date=2024-01-02%23x",
                        NULL, true);
}
END_TEST

START_TEST(hostile_body_values_stay_strings)
{
    expect_request("send_sms_flow",
                   "{\"template_id\":\"f\",\"recipients\":[{\"mobiles\":\"919876543210\","
                   "\"v\":\"\\\"},\\\"x\\\":\\\"\\r\\n\\u00e9\"}]}",
                   "POST", BASE "/api/v5/flow",
                   "{\"template_id\":\"f\",\"recipients\":[{\"mobiles\":\"919876543210\","
                   "\"v\":\"\\\"},\\\"x\\\":\\\"\\r\\n\xc3\xa9\"}]}",
                   false);
}
END_TEST

/* ---- endpoint overrides ---- */

START_TEST(endpoint_override_honoured)
{
    static const struct tool_endpoint post_retry = {"POST", "/api/v5/otp/retry", NULL};
    expect_request_with(
        "resend_otp", &post_retry, NULL, "{\"mobile\":\"+919876543210\"}", "POST",
        BASE "/api/v5/otp/retry?retrytype=text&mobile=919876543210", NULL, false);
    static const struct tool_endpoint put_events = {"PUT", "/api/v6/segmento/track",
                                                    NULL};
    expect_request_with("create_user_events", &put_events, NULL,
                        "{\"identifier\":\"c1\",\"events\":[{\"name\":\"login\"}]}",
                        "PUT", BASE "/api/v6/segmento/track",
                        "{\"data\":[{\"event_name\":\"login\",\"visitor_id\":\"c1\","
                        "\"event_properties\":{},\"type\":\"track\"}]}",
                        false);
    static const struct tool_endpoint failed_v2 = {
        "POST", "/api/v5/segmento/api/v2/failed/{campaign_id}/{campaign_id}", NULL};
    expect_request_with("get_failed_events", &failed_v2, NULL,
                        "{\"campaign_id\":\"a/b\"}", "POST",
                        BASE "/api/v5/segmento/api/v2/failed/a%2Fb/a%2Fb",
                        "{\"page\":1,\"limit\":10}", true);
    /* A template that already has a query string gets '&' before ours. */
    static const struct tool_endpoint versioned = {"GET", "/api/v5/campaigns?v=2", NULL};
    expect_request_with("list_campaigns", &versioned, NULL, "{}", "GET",
                        BASE "/api/v5/campaigns?v=2&pageNo=1&itemsPerPage=25", NULL,
                        true);
    static const struct tool_endpoint by_mobile = {"GET", "/otp/{mobile}/verify", NULL};
    /* A placeholder moves the argument into the path, as it is sent. */
    expect_request_with("verify_otp", &by_mobile, NULL,
                        "{\"mobile\":\"+919876543210\",\"otp\":\"1234\"}", "GET",
                        BASE "/otp/919876543210/verify?otp=1234", NULL, false);
}
END_TEST

START_TEST(endpoint_override_errors)
{
    static const struct tool_endpoint missing = {"GET", "/x/{nope}", NULL};
    expect_build_error_with(
        "get_event_types", &missing, NULL, "{}",
        "The path \"/x/{nope}\" has the placeholder \"nope\", but get_event_types "
        "has no argument of that name (it takes none).");
    static const struct tool_endpoint unbalanced = {"GET", "/x/{campaign_id", NULL};
    expect_build_error_with(
        "get_failed_events", &unbalanced, NULL, "{\"campaign_id\":\"1\"}",
        "The endpoint path \"/x/{campaign_id\" has an unbalanced '{' or "
        "'}': fix \"path\" under \"endpoints\" in the config file.");
    static const struct tool_endpoint stray = {"GET", "/x/}", NULL};
    expect_build_error_with(
        "list_campaigns", &stray, NULL, "{}",
        "The endpoint path \"/x/}\" has an unbalanced '{' or '}': fix "
        "\"path\" under \"endpoints\" in the config file.");
    static const struct tool_endpoint relative = {"GET", "x", NULL};
    expect_build_error_with(
        "list_campaigns", &relative, NULL, "{}",
        "The endpoint path \"x\" does not start with '/': fix \"path\" "
        "under \"endpoints\" in the config file.");
    static const struct tool_endpoint fragment = {"GET", "/x#frag", NULL};
    expect_build_error_with("list_campaigns", &fragment, NULL, "{}",
                            "The endpoint path \"/x#frag\" holds a character that cannot "
                            "appear in a URL path: fix \"path\" under \"endpoints\" in "
                            "the config file.");
    static const struct tool_endpoint space = {"GET", "/x y", NULL};
    expect_build_error_with("list_campaigns", &space, NULL, "{}",
                            "The endpoint path \"/x y\" holds a character that cannot "
                            "appear in a URL path: fix \"path\" under \"endpoints\" in "
                            "the config file.");
    static const struct tool_endpoint empty = {"GET", "/x/{}", NULL};
    expect_build_error_with(
        "list_campaigns", &empty, NULL, "{}",
        "The endpoint path has an empty or overlong {...} placeholder: "
        "fix \"path\" under \"endpoints\" in the config file.");
}
END_TEST

/* ---- readers: success ---- */

static const char ok2_tail[] =
    ",\"status\":\"success\",\"hasError\":false,\"errors\":[]}";

START_TEST(send_otp_success)
{
    struct http_response r = toolutil_answered(
        200, "{\"type\":\"success\",\"request_id\":\"3463686b6b6d363832393530\"}",
        "application/json");
    struct tool_outcome out;
    toolutil_read("send_otp", NULL,
                  "{\"mobile\":\"+919876543210\",\"template_id\":\"t\"}", &r, &out);
    toolutil_expect_conforms("send_otp", out.structured);
    char *got = json_dumps(out.structured, JSON_COMPACT);
    ck_assert_str_eq(got, "{\"request_id\":\"3463686b6b6d363832393530\","
                          "\"mobile\":\"919876543210\"}");
    ck_assert_str_eq(out.upstream_request_id, "3463686b6b6d363832393530");
    free(got);
    tool_outcome_finish(&out);

    r = toolutil_answered(200, "{\"type\":\"success\"}", "application/json");
    expect_error(
        "send_otp", "{\"mobile\":\"+919876543210\"}", &r,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): "
        "\"request_id\" is missing: {\"type\":\"success\"}. The outcome is "
        "unknown: the OTP may or may not have been sent. Ask the person whether a "
        "code arrived before calling send_otp again, since that mints a new code; "
        "if none arrived, resend_otp delivers the pending one.");
    r = toolutil_answered(
        200,
        "{\"type\":\"error\",\"message\":\"The provided flow ID or template ID is "
        "invalid.\"}",
        "application/json");
    expect_error(
        "send_otp", "{\"mobile\":\"+919876543210\"}", &r,
        "MSG91 returned an error: The provided flow ID or template ID is invalid. "
        "Check template_id (or the configured MSG91_OTP_TEMPLATE_ID) against the "
        "OTP templates in the MSG91 panel.");
}
END_TEST

START_TEST(resend_otp_success)
{
    struct http_response r = toolutil_answered(
        200, "{\"type\":\"success\",\"message\":\"retry send successfully\"}", NULL);
    expect_result("resend_otp", "{\"mobile\":\"+919876543210\"}", &r,
                  "{\"message\":\"retry send successfully\",\"mobile\":\"919876543210\","
                  "\"retry_type\":\"text\"}");
    expect_result("resend_otp", "{\"mobile\":\"919876543210\",\"retry_type\":\"voice\"}",
                  &r,
                  "{\"message\":\"retry send successfully\",\"mobile\":\"919876543210\","
                  "\"retry_type\":\"voice\"}");
    r = toolutil_answered(
        200, "{\"type\":\"error\",\"message\":\"OTP retry count maxed out\"}", NULL);
    expect_error(
        "resend_otp", "{\"mobile\":\"919876543210\"}", &r,
        "MSG91 returned an error: OTP retry count maxed out. No more retries for "
        "this code: call send_otp to send a new one.");
    r = toolutil_answered(
        200, "{\"type\":\"error\",\"message\":\"No OTP request found to retryotp\"}",
        NULL);
    expect_error("resend_otp", "{\"mobile\":\"919876543210\"}", &r,
                 "MSG91 returned an error: No OTP request found to retryotp. There is no "
                 "pending OTP for this number: call send_otp first.");
}
END_TEST

START_TEST(verify_otp_outcomes)
{
    const char *args = "{\"mobile\":\"+919876543210\",\"otp\":\"1234\"}";
    struct http_response r = toolutil_answered(
        200, "{\"type\":\"success\",\"message\":\"OTP verified success\"}", NULL);
    expect_result("verify_otp", args, &r,
                  "{\"verified\":true,\"message\":\"OTP verified success\","
                  "\"mobile\":\"919876543210\"}");
    /* MSG91's messages (any capitalisation) and the reason each gives. */
    static const char *const reasons[][2] = {
        {"OTP not match", "mismatch"},
        {"OTP expired", "expired"},
        {"Mobile no. already verified", "already_verified"},
        {"Mobile no. not found", "not_found"},
        {"Max limit reached for this otp verification", "attempts_exceeded"},
        {"otp NOT match", "mismatch"},
    };
    for (size_t i = 0; i < sizeof reasons / sizeof reasons[0]; i++) {
        char body[256], result[256];
        snprintf(body, sizeof body, "{\"type\":\"error\",\"message\":\"%s\"}",
                 reasons[i][0]);
        snprintf(result, sizeof result,
                 "{\"verified\":false,\"reason\":\"%s\",\"message\":\"%s\","
                 "\"mobile\":\"919876543210\"}",
                 reasons[i][1], reasons[i][0]);
        r = toolutil_answered(200, body, "application/json");
        expect_result("verify_otp", args, &r, result);
    }
    /* Any other refusal is an error, not a reason. */
    r = toolutil_answered(
        200, "{\"type\":\"error\",\"message\":\"Otp empty or not numeric\"}", NULL);
    expect_error("verify_otp", args, &r,
                 "MSG91 returned an error: Otp empty or not numeric.");
    r = toolutil_answered(
        200, "{\"message\":\"Invalid authkey\",\"type\":\"error\",\"code\":\"201\"}",
        NULL);
    expect_error(
        "verify_otp", args, &r,
        "MSG91 rejected the auth key (code 201: Invalid authkey): set MSG91_AUTH_KEY (or "
        "MSG91_AUTH_KEY_FILE) to a valid key.");
}
END_TEST

START_TEST(send_sms_flow_success)
{
    const char *args =
        "{\"template_id\":\"f\",\"recipients\":[{\"mobiles\":\"919876543210\"},"
        "{\"mobiles\":\"919876543211\"}]}";
    struct http_response r = toolutil_answered(
        200, "{\"type\":\"success\",\"message\":\"3463686b6b6d363832393531\"}", NULL);
    struct tool_outcome out;
    toolutil_read("send_sms_flow", NULL, args, &r, &out);
    toolutil_expect_conforms("send_sms_flow", out.structured);
    char *got = json_dumps(out.structured, JSON_COMPACT);
    ck_assert_str_eq(got,
                     "{\"request_id\":\"3463686b6b6d363832393531\",\"recipients\":2}");
    ck_assert_str_eq(out.upstream_request_id, "3463686b6b6d363832393531");
    free(got);
    tool_outcome_finish(&out);

    r = toolutil_answered(200, "{\"type\":\"success\"}", NULL);
    expect_error(
        "send_sms_flow", args, &r,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): the request id "
        "(\"message\") is missing: {\"type\":\"success\"}. The outcome is unknown: "
        "the message may or may not have been sent. Do not send it again until the "
        "recipients or MSG91's delivery reports show it did not arrive.");
}
END_TEST

START_TEST(create_user_events_success)
{
    const char *args =
        "{\"identifier\":\"c1\",\"events\":[{\"name\":\"a\"},{\"name\":\"b\"},"
        "{\"name\":\"c\"}]}";
    char body[256];
    snprintf(body, sizeof body, "{\"data\":{\"accepted\":2}%s", ok2_tail);
    struct http_response r = toolutil_answered(200, body, "application/json");
    expect_result("create_user_events", args, &r,
                  "{\"accepted\":2,\"upstream\":{\"accepted\":2}}");
    snprintf(body, sizeof body, "{\"data\":{\"accepted\":3,\"message\":\"queued\"}%s",
             ok2_tail);
    r = toolutil_answered(200, body, "application/json");
    expect_result("create_user_events", args, &r,
                  "{\"accepted\":3,\"message\":\"queued\",\"upstream\":{\"accepted\":3,"
                  "\"message\":\"queued\"}}");
    /* Without a count, success means every event was taken. */
    r = toolutil_answered(200, "{\"type\":\"success\",\"message\":\"Events queued\"}",
                          NULL);
    expect_result("create_user_events", args, &r,
                  "{\"accepted\":3,\"message\":\"Events queued\",\"upstream\":{\"type\":"
                  "\"success\",\"message\":\"Events queued\"}}");
    snprintf(body, sizeof body, "{\"data\":null%s", ok2_tail);
    r = toolutil_answered(200, body, NULL);
    expect_result("create_user_events", args, &r, "{\"accepted\":3}");
}
END_TEST

START_TEST(get_event_types_success)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"data\":[{\"id\":\"1\",\"name\":\"login\",\"description\":\"Signed in\"},"
             "{\"id\":2,\"name\":\"purchase\",\"extra\":true}]%s",
             ok2_tail);
    struct http_response r = toolutil_answered(200, body, "application/json");
    expect_result("get_event_types", "{}", &r,
                  "{\"event_types\":[{\"id\":\"1\",\"name\":\"login\",\"description\":"
                  "\"Signed in\",\"upstream\":{\"id\":\"1\",\"name\":\"login\","
                  "\"description\":\"Signed in\"}},{\"id\":\"2\",\"name\":\"purchase\","
                  "\"upstream\":{\"id\":2,\"name\":\"purchase\",\"extra\":true}}],"
                  "\"total\":2}");
    snprintf(body, sizeof body, "{\"data\":[]%s", ok2_tail);
    r = toolutil_answered(200, body, "application/json");
    expect_result("get_event_types", "{}", &r, "{\"event_types\":[],\"total\":0}");
    snprintf(body, sizeof body, "{\"data\":{\"eventTypes\":[{\"event_name\":\"x\"}]}%s",
             ok2_tail);
    r = toolutil_answered(200, body, "application/json");
    expect_result("get_event_types", "{}", &r,
                  "{\"event_types\":[{\"name\":\"x\",\"upstream\":{\"event_name\":"
                  "\"x\"}}],\"total\":1}");
    /* An item without a name is kept: what MSG91 sent is in upstream. */
    snprintf(body, sizeof body, "{\"data\":[{\"id\":\"1\"}]%s", ok2_tail);
    r = toolutil_answered(200, body, "application/json");
    expect_result("get_event_types", "{}", &r,
                  "{\"event_types\":[{\"id\":\"1\",\"upstream\":{\"id\":\"1\"}}],"
                  "\"total\":1}");
    snprintf(body, sizeof body, "{\"data\":{}%s", ok2_tail);
    r = toolutil_answered(200, body, "application/json");
    expect_error(
        "get_event_types", "{}", &r,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): no list found "
        "in it: {\"data\":{},\"status\":\"success\",\"hasError\":false,"
        "\"errors\":[]}.");
}
END_TEST

START_TEST(get_failed_events_success)
{
    char body[512];
    snprintf(body, sizeof body,
             "{\"data\":{\"failedEvents\":[{\"eventId\":\"ev1\",\"reason\":\"visitor not "
             "found\",\"recipient\":\"c9\",\"timestamp\":\"2024-05-01 05:00:00\"},"
             "{\"eventId\":77}],\"page\":2,\"limit\":2,\"total\":5}%s",
             ok2_tail);
    struct http_response r = toolutil_answered(200, body, "application/json");
    expect_result(
        "get_failed_events", "{\"campaign_id\":\"42\",\"page\":2,\"limit\":2}", &r,
        "{\"campaign_id\":\"42\",\"failed_events\":[{\"event_id\":\"ev1\","
        "\"reason\":\"visitor not found\",\"recipient\":\"c9\",\"timestamp\":"
        "\"2024-05-01 05:00:00\",\"upstream\":{\"eventId\":\"ev1\",\"reason\":"
        "\"visitor not found\",\"recipient\":\"c9\",\"timestamp\":"
        "\"2024-05-01 05:00:00\"}},{\"event_id\":\"77\",\"upstream\":{\"eventId\":"
        "77}}],\"page\":2,\"limit\":2,\"total\":5}");
    snprintf(body, sizeof body, "{\"data\":{\"failed_events\":[]}%s", ok2_tail);
    r = toolutil_answered(200, body, "application/json");
    expect_result("get_failed_events", "{\"campaign_id\":\"42\",\"limit\":20}", &r,
                  "{\"campaign_id\":\"42\",\"failed_events\":[],\"page\":1,\"limit\":20,"
                  "\"total\":0}");
    r = toolutil_answered(
        404, "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Campaign not found\"}",
        "application/json");
    expect_error(
        "get_failed_events", "{\"campaign_id\":\"nope\\n\"}", &r,
        "MSG91 did not find campaign \"nope\" (HTTP 404: Campaign not found). Get "
        "valid campaign ids from list_campaigns.");
    snprintf(body, sizeof body, "{\"data\":{\"count\":0}%s", ok2_tail);
    r = toolutil_answered(200, body, "application/json");
    expect_error("get_failed_events", "{\"campaign_id\":\"42\"}", &r,
                 "MSG91 answered with JSON of an unexpected shape (HTTP 200): "
                 "no list found in it: {\"data\":{\"count\":0},\"status\":"
                 "\"success\",\"hasError\":false,\"errors\":[]}.");
}
END_TEST

START_TEST(list_campaigns_success)
{
    struct http_response r = toolutil_answered(
        200,
        "{\"data\":{\"data\":[{\"id\":123,\"name\":\"Welcome\",\"is_active\":true,"
        "\"slug\":"
        "\"welcome-abc\",\"channels\":[{\"campaign_id\":123,\"channel_id\":1,\"count\":2}"
        ","
        "{\"campaign_id\":123,\"channel_id\":3,\"count\":1}]}],\"itemsPerPage\":25,"
        "\"pageNo\":1,\"pageNumber\":1,\"totalEntityCount\":1,\"totalPageCount\":1},"
        "\"status\":\"success\",\"hasError\":false,\"errors\":[]}",
        "application/json");
    expect_result(
        "list_campaigns", "{}", &r,
        "{\"campaigns\":[{\"id\":123,\"name\":\"Welcome\",\"slug\":\"welcome-abc\","
        "\"is_active\":true,\"channels\":[1,3]}],\"page\":1,\"total_pages\":1,"
        "\"total\":1}");
    /* The older backend's spelling. */
    r = toolutil_answered(
        200,
        "{\"data\":{\"data\":[{\"id\":\"7\",\"name\":\"Old\",\"is_active\":0,"
        "\"channels\":\"1,2\"},{\"id\":8,\"name\":\"Older\",\"is_active\":1,"
        "\"channels\":\"\"}],\"pageNumber\":2,\"totalEntityCount\":27,"
        "\"totalPageCount\":14},\"status\":\"success\",\"hasError\":false,"
        "\"errors\":[]}",
        "application/json");
    expect_result("list_campaigns", "{\"page\":2,\"limit\":2}", &r,
                  "{\"campaigns\":[{\"id\":7,\"name\":\"Old\",\"is_active\":false,"
                  "\"channels\":[1,2]},{\"id\":8,\"name\":\"Older\",\"is_active\":true,"
                  "\"channels\":[]}],\"page\":2,\"total_pages\":14,\"total\":27}");
    /* Counts missing: derived from what was asked and received. */
    r = toolutil_answered(
        200,
        "{\"data\":{\"data\":[]},\"status\":\"success\",\"hasError\":false,"
        "\"errors\":[]}",
        "application/json");
    expect_result("list_campaigns", "{\"page\":3}", &r,
                  "{\"campaigns\":[],\"page\":3,\"total_pages\":0,\"total\":0}");
    r = toolutil_answered(
        200,
        "{\"data\":{\"data\":[{\"id\":1,\"name\":\"x\",\"channels\":\"1;2\"}]},"
        "\"status\":\"success\",\"hasError\":false,\"errors\":[]}",
        "application/json");
    expect_error(
        "list_campaigns", "{}", &r,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): a campaign's "
        "\"channels\" is neither a list nor \"1,2\": {\"data\":{\"data\":[{\"id\":1,"
        "\"name\":\"x\",\"channels\":\"1;2\"}]},\"status\":\"success\",\"hasError\":"
        "false,\"errors\":[]}.");
    r = toolutil_answered(
        200,
        "{\"data\":{\"data\":[{\"id\":1,\"name\":\"x\",\"is_active\":2}]},"
        "\"status\":\"success\",\"hasError\":false,\"errors\":[]}",
        "application/json");
    expect_error(
        "list_campaigns", "{}", &r,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): a campaign's "
        "\"is_active\" is neither a boolean nor 0/1: {\"data\":{\"data\":[{\"id\":1,"
        "\"name\":\"x\",\"is_active\":2}]},\"status\":\"success\",\"hasError\":"
        "false,\"errors\":[]}.");
    r = toolutil_answered(
        200, "{\"data\":{\"data\":[{\"name\":\"x\"}]},\"status\":\"success\"}",
        "application/json");
    expect_error(
        "list_campaigns", "{}", &r,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): a campaign has "
        "no integer \"id\": {\"data\":{\"data\":[{\"name\":\"x\"}]},\"status\":"
        "\"success\"}.");
    r = toolutil_answered(200, "{\"data\":[],\"status\":\"success\"}",
                          "application/json");
    expect_error(
        "list_campaigns", "{}", &r,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): \"data.data\" "
        "is not a list of campaigns: {\"data\":[],\"status\":\"success\"}.");
}
END_TEST

/* ---- readers: every failure kind, for every tool ---- */

struct case_tool {
    const char *name;
    const char *args;
    const char *unknown; /* NULL for read-only tools */
    const char *advice;
};

static const struct case_tool case_tools[] = {
    {"send_otp", "{\"mobile\":\"+919876543210\",\"template_id\":\"t\"}",
     "the OTP may or may not have been sent",
     "Ask the person whether a code arrived before calling send_otp again, since that "
     "mints a new code; if none arrived, resend_otp delivers the pending one."},
    {"resend_otp", "{\"mobile\":\"+919876543210\"}",
     "the OTP may or may not have been resent",
     "Ask the person whether a code arrived before calling resend_otp again; MSG91 "
     "allows "
     "only two retries per code."},
    {"verify_otp", "{\"mobile\":\"+919876543210\",\"otp\":\"1234\"}",
     "MSG91 may or may not have checked the code",
     "A code can be verified only once: if verifying it again gives reason "
     "\"already_verified\", this check succeeded."},
    {"send_sms_flow",
     "{\"template_id\":\"f\",\"recipients\":[{\"mobiles\":\"919876543210\"}]}",
     "the message may or may not have been sent",
     "Do not send it again until the recipients or MSG91's delivery reports show it did "
     "not "
     "arrive."},
    {"create_user_events", "{\"identifier\":\"c1\",\"events\":[{\"name\":\"login\"}]}",
     "the events may or may not have been recorded",
     "Sending them again could record them twice; check the contact's activity in the "
     "MSG91 "
     "panel (or get_failed_events) first."},
    {"get_event_types", "{}", NULL, NULL},
    {"get_failed_events", "{\"campaign_id\":\"42\"}", NULL, NULL},
    {"list_campaigns", "{}", NULL, NULL},
};
#define N_CASE_TOOLS (sizeof case_tools / sizeof case_tools[0])

/* The expected text: main, then for a tool that sends something
 * "<sep><unknown>. <advice>", else readonly (which may be ""). */
static char *expected(const struct case_tool *c, const char *main, const char *sep,
                      const char *readonly)
{
    if (c->unknown)
        return msg_format("%s%s%s. %s", main, sep, c->unknown, c->advice);
    return msg_format("%s%s", main, readonly);
}

/* Whether name is one of skip (NULL-terminated; skip may be NULL). */
static bool skipped(const char *name, const char *const *skip)
{
    for (size_t i = 0; skip && skip[i]; i++)
        if (strcmp(skip[i], name) == 0)
            return true;
    return false;
}

/* check_kind for every tool but those of skip, whose readers take such an
 * answer as a success (tests/test_readers.c). */
static void check_kind_except(const struct http_response *r, const char *main,
                              const char *sep, const char *readonly,
                              const char *const *skip)
{
    for (size_t i = 0; i < N_CASE_TOOLS; i++) {
        if (skipped(case_tools[i].name, skip))
            continue;
        char *text = expected(&case_tools[i], main, sep, readonly);
        expect_error(case_tools[i].name, case_tools[i].args, r, text);
        free(text);
    }
}

static void check_kind(const struct http_response *r, const char *main, const char *sep,
                       const char *readonly)
{
    for (size_t i = 0; i < N_CASE_TOOLS; i++) {
        char *text = expected(&case_tools[i], main, sep, readonly);
        expect_error(case_tools[i].name, case_tools[i].args, r, text);
        free(text);
    }
}

/* A failure whose text is the same for every tool. */
static void check_same(const struct http_response *r, const char *text)
{
    for (size_t i = 0; i < N_CASE_TOOLS; i++)
        expect_error(case_tools[i].name, case_tools[i].args, r, text);
}

START_TEST(failure_timeout)
{
    struct http_response r = failed(HTTP_TIMEOUT, "Operation timed out after 15001 ms");
    check_kind(
        &r, "MSG91 did not answer: the request timed out after 15000 ms", "; ",
        ". Nothing was changed, so it is safe to ask again; if this keeps happening, "
        "check the network or raise MSG91_TIMEOUT_MS.");
    /* Spelled out once, to read as a whole. */
    expect_error(
        "send_otp", "{\"mobile\":\"+919876543210\"}", &r,
        "MSG91 did not answer: the request timed out after 15000 ms; the OTP may "
        "or may not have been sent. Ask the person whether a code arrived before "
        "calling send_otp again, since that mints a new code; if none arrived, "
        "resend_otp delivers the pending one.");
}
END_TEST

START_TEST(failure_network)
{
    struct http_response r =
        failed(HTTP_DNS_FAILED, "Could not resolve host: control.msg91.com");
    check_same(&r,
               "Could not reach MSG91: the host name in MSG91_BASE_URL did not resolve "
               "(Could not resolve host: control.msg91.com). Nothing was sent. Check "
               "MSG91_BASE_URL and the network connection.");
    r = failed(HTTP_CONNECT_FAILED, "Failed to connect to control.msg91.com port 443");
    check_same(
        &r, "Could not connect to MSG91 (Failed to connect to control.msg91.com port "
            "443). Nothing was sent. Check the network connection and MSG91_BASE_URL.");
    r = failed(HTTP_CONNECT_FAILED, "");
    check_same(&r, "Could not connect to MSG91. Nothing was sent. Check the network "
                   "connection and MSG91_BASE_URL.");
    r = failed(HTTP_TLS_FAILED, "SSL certificate problem: unable to get local issuer "
                                "certificate");
    check_same(
        &r, "The TLS connection to MSG91 failed (SSL certificate problem: unable to get "
            "local issuer certificate). Nothing was sent. Check MSG91_BASE_URL; if a "
            "proxy or private CA signs the certificate, set MSG91_CA_FILE to its CA "
            "bundle.");
}
END_TEST

START_TEST(failure_reset_too_large_other)
{
    struct http_response r = failed(HTTP_RESET, "Connection reset by peer");
    check_kind(&r, "The connection to MSG91 dropped before a full answer arrived", "; ",
               ". Nothing was changed, so it is safe to ask again.");
    r = failed(HTTP_TOO_LARGE, "");
    check_kind(
        &r, "MSG91's answer was too large to read (over the response size limit)", "; ",
        ". Nothing was changed; ask for less at once (a smaller limit) if the tool "
        "takes one.");
    r = failed(HTTP_FAILED, "Unsupported protocol");
    check_kind(&r, "The request to MSG91 failed (Unsupported protocol)", "; ",
               ". Nothing was changed, so it is safe to ask again.");
}
END_TEST

static const char key_text[] = "MSG91 rejected the auth key: set MSG91_AUTH_KEY (or "
                               "MSG91_AUTH_KEY_FILE) to a valid key.";

/* The key error with what MSG91 said in parentheses (said: "" or " (...)"). */
static char *key_said(const char *said)
{
    return msg_format("MSG91 rejected the auth key%s: set MSG91_AUTH_KEY (or "
                      "MSG91_AUTH_KEY_FILE) to a valid key.",
                      said);
}

static void check_key(const struct http_response *r, const char *said)
{
    char *text = key_said(said);
    check_same(r, text);
    free(text);
}

START_TEST(failure_auth)
{
    struct http_response r =
        toolutil_answered(401,
                          "{\"status\":\"fail\",\"hasError\":true,\"errors\":"
                          "\"Unauthorized\",\"code\":\"401\","
                          "\"apiError\":\"201\"}",
                          "application/json");
    check_key(&r, " (HTTP 401, code 201: Unauthorized)");
    r = toolutil_answered(401, "", NULL);
    check_same(&r, key_text);
    r = toolutil_answered(403, "<html>Forbidden</html>", "text/html");
    check_same(&r,
               "MSG91 rejected the auth key: set MSG91_AUTH_KEY (or MSG91_AUTH_KEY_FILE) "
               "to a valid key. A 403 can also mean the key may not be used from this "
               "machine's IP address: check the key's settings in the MSG91 panel.");
    r = toolutil_answered(
        200, "{\"message\":\"Invalid authkey\",\"type\":\"error\",\"code\":\"201\"}",
        "application/json");
    check_key(&r, " (code 201: Invalid authkey)");
    r = toolutil_answered(200, "{\"type\":\"error\",\"message\":\"Auth Key missing\"}",
                          "application/json");
    check_key(&r, " (Auth Key missing)");
    r = toolutil_answered(
        200, "{\"status\":\"fail\",\"hasError\":true,\"errors\":[\"Unauthorized\"]}",
        "application/json");
    check_key(&r, " (Unauthorized)");
    /* A 401 that only repeats its status as the code. */
    r = toolutil_answered(401, "{\"status\":\"fail\",\"hasError\":true,\"code\":\"401\"}",
                          NULL);
    check_same(&r, key_text);
}
END_TEST

START_TEST(failure_route_missing)
{
    struct http_response r = toolutil_answered(
        404, "{\"type\":\"error\",\"msg\":\"Route Missing\"}", "application/json");
    for (size_t i = 0; i < N_CASE_TOOLS; i++) {
        const struct tool_def *t = tool(case_tools[i].name);
        char *text = msg_format(
            "MSG91 does not know the endpoint used by %s (HTTP 404 Route Missing), so "
            "nothing was done. The path may have changed upstream: its method and path "
            "can "
            "be overridden in the config file under \"endpoints\", e.g. "
            "{\"endpoints\":{\"%s\":{\"method\":\"%s\",\"path\":\"/api/v5/...\"}}}.",
            t->name, t->name, t->endpoint.method);
        expect_error(t->name, case_tools[i].args, &r, text);
        free(text);
    }
    static const struct tool_endpoint ep = {"GET", "/api/v5/segmento/api/v1/event-types",
                                            NULL};
    expect_error_with(
        "get_event_types", &ep, "{}", &r,
        "MSG91 does not know the endpoint GET "
        "/api/v5/segmento/api/v1/event-types used by get_event_types (HTTP 404 "
        "Route Missing), so nothing was done. The path may have changed "
        "upstream: its method and path can be overridden in the config file "
        "under \"endpoints\", e.g. {\"endpoints\":{\"get_event_types\":"
        "{\"method\":\"GET\",\"path\":\"/api/v5/...\"}}}.");
    /* A front end's HTML 404 means the same. */
    r = toolutil_answered(404, "<html>Not Found</html>", "text/html");
    expect_error_with(
        "get_event_types", &ep, "{}", &r,
        "MSG91 does not know the endpoint GET "
        "/api/v5/segmento/api/v1/event-types used by get_event_types (HTTP 404 "
        "Route Missing), so nothing was done. The path may have changed "
        "upstream: its method and path can be overridden in the config file "
        "under \"endpoints\", e.g. {\"endpoints\":{\"get_event_types\":"
        "{\"method\":\"GET\",\"path\":\"/api/v5/...\"}}}.");
}
END_TEST

START_TEST(failure_too_large_request)
{
    struct http_response r = toolutil_answered(
        413, "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Payload too large\"}",
        "application/json");
    check_same(&r,
               "MSG91 refused the request as too large (HTTP 413), so nothing was done: "
               "split it into smaller calls (fewer recipients or events per call).");
}
END_TEST

START_TEST(failure_rate_limited)
{
    struct http_response r =
        toolutil_answered(429, "{\"message\":\"Too many Attempts\"}", NULL);
    r.retry_after_s = 7;
    check_same(&r,
               "The call was rate limited by MSG91: retry after 7 s. Nothing was done.");
    r.retry_after_s = -1;
    check_same(
        &r, "The call was rate limited by MSG91: retry in a minute. Nothing was done.");
    r.retry_after_s = 0;
    check_same(&r,
               "The call was rate limited by MSG91: retry after 0 s. Nothing was done.");
    r.retry_after_s = 86400;
    check_same(
        &r, "The call was rate limited by MSG91: retry after 86400 s. Nothing was done.");
    /* A saturated or absurd Retry-After is not quoted as a wait. */
    static const long long_waits[] = {86401, 9223372036854775L};
    for (size_t i = 0; i < 2; i++) {
        r.retry_after_s = long_waits[i];
        check_same(&r, "The call was rate limited by MSG91, which asked for a wait of "
                       "more than a day: try again later. Nothing was done.");
    }
}
END_TEST

START_TEST(failure_server_error)
{
    struct http_response r = toolutil_answered(500,
                                               "{\"status\":\"fail\",\"hasError\":true,"
                                               "\"errors\":\"Internal\"}",
                                               "application/json");
    for (size_t i = 0; i < N_CASE_TOOLS; i++) {
        const struct case_tool *c = &case_tools[i];
        char *text =
            c->unknown ? msg_format("MSG91 had a server error (HTTP 500), so the outcome "
                                    "is unknown: %s. %s",
                                    c->unknown, c->advice)
                       : strdup("MSG91 had a server error (HTTP 500); try again later.");
        expect_error(c->name, c->args, &r, text);
        free(text);
    }
    r = toolutil_answered(502, "<html><body>Bad Gateway</body></html>", "text/html");
    check_kind(&r, "MSG91 had a server error (HTTP 502)",
               ", so the outcome is unknown: ", "; try again later.");
}
END_TEST

START_TEST(failure_not_json)
{
    /* create_user_events takes a 2xx text body as its answer. */
    static const char *const text_ok[] = {"create_user_events", NULL};
    struct http_response r =
        toolutil_answered(200, "<html>\r\n<body>\tPlease log in\x01\x7f</body>\n</html>",
                          "text/html; charset=UTF-8");
    check_kind_except(
        &r,
        "MSG91 answered with something that is not JSON (HTTP 200, text/html): "
        "\"<html> <body> Please log in</body> </html>\". Check that MSG91_BASE_URL "
        "points at MSG91 and not at a proxy or captive portal.",
        " The outcome is unknown: ", "", text_ok);
    r = toolutil_answered(200, "", NULL);
    check_kind_except(
        &r,
        "MSG91 answered with something that is not JSON (HTTP 200, no content type): "
        "an empty body. Check that MSG91_BASE_URL points at MSG91 and not at a proxy "
        "or captive portal.",
        " The outcome is unknown: ", "", text_ok);
    /* A refusal status means nothing was taken, whatever the tool. */
    r = toolutil_answered(400, " \n ", "text/plain");
    check_same(&r,
               "MSG91 answered with something that is not JSON (HTTP 400, text/plain): "
               "an empty body. Check that MSG91_BASE_URL points at MSG91 and not at a "
               "proxy or captive portal.");
}
END_TEST

START_TEST(excerpt_is_short_and_clean)
{
    /* 250 'a's, a control, invalid UTF-8 and a multi-byte character that
     * straddles the cut. */
    char body[400];
    memset(body, 'a', 198);
    memcpy(body + 198, "\xe2\x98\x83zzzz", 7);
    body[205] = '\0';
    char *e = answer_excerpt(body, strlen(body), 200);
    char want[220];
    memset(want, 'a', 198);
    memcpy(want + 198, "...", 4);
    ck_assert_str_eq(e, want);
    free(e);
    const char bad[] =
        "ok\xff\xc0\xaf\xed\xa0\x80 \x1b[31mred\x1b[0m \xc2\x85 end \xc3\xa9";
    e = answer_excerpt(bad, strlen(bad), 200);
    ck_assert_str_eq(e, "ok [31mred[0m end \xc3\xa9");
    free(e);
}
END_TEST

START_TEST(failure_wrong_shape)
{
    /* The Segmento tools read a 2xx answer of any shape (test_readers.c). */
    static const char *const any_ok[] = {"create_user_events", "get_event_types",
                                         "get_failed_events", NULL};
    struct http_response r = toolutil_answered(200, "[1,2]", "application/json");
    check_kind_except(
        &r,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): expected a JSON "
        "object: [1,2].",
        " The outcome is unknown: ", "", any_ok);
    r = toolutil_answered(200, "\"ok\"", "application/json");
    check_kind_except(
        &r,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): expected a JSON "
        "object: \"ok\".",
        " The outcome is unknown: ", "", any_ok);
    r = toolutil_answered(200, "{\"foo\":1}", "application/json");
    check_kind_except(
        &r,
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): it has neither "
        "\"type\" nor \"status\": {\"foo\":1}.",
        " The outcome is unknown: ", "", any_ok);
    r = toolutil_answered(400, "{\"foo\":1}", "application/json");
    check_kind(
        &r,
        "MSG91 answered with JSON of an unexpected shape (HTTP 400): an error status "
        "without a message: {\"foo\":1}.",
        " The outcome is unknown: ", "");
}
END_TEST

START_TEST(failure_msg91_errors)
{
    struct http_response r = toolutil_answered(
        200, "{\"type\":\"error\",\"message\":\"Something odd\"}", "application/json");
    check_same(&r, "MSG91 returned an error: Something odd.");
    r = toolutil_answered(
        200, "{\"type\":\"error\",\"message\":\"Insufficient balance!\"}", NULL);
    check_same(&r, "MSG91 returned an error: Insufficient balance!");
    r = toolutil_answered(200, "{\"type\":\"error\"}", NULL);
    check_same(&r, "MSG91 returned an error: no message given.");
    r = toolutil_answered(
        400, "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Invalid page\"}",
        "application/json");
    check_same(&r, "MSG91 returned an error (HTTP 400): Invalid page.");
    r = toolutil_answered(
        422,
        "{\"status\":\"fail\",\"hasError\":true,\"errors\":[\"name is required\","
        "\"limit must be a number\"]}",
        "application/json");
    check_same(&r,
               "MSG91 returned an error (HTTP 422): name is required; limit must be a "
               "number.");
    r = toolutil_answered(
        200,
        "{\"status\":\"fail\",\"hasError\":true,\"errors\":[{\"message\":\"bad "
        "date\\r\\n\"},{\"code\":9}]}",
        "application/json");
    check_same(&r, "MSG91 returned an error: bad date; {\"code\":9}.");
    r = toolutil_answered(
        400,
        "{\"status\":\"fail\",\"hasError\":true,\"errors\":{\"start_date\":[\"must "
        "be a date\"],\"limit\":\"too big\"}}",
        "application/json");
    check_same(&r,
               "MSG91 returned an error (HTTP 400): start_date: must be a date; limit: "
               "too big.");
    r = toolutil_answered(200, "{\"status\":\"error\",\"message\":\"Campaign paused\"}",
                          NULL);
    check_same(&r, "MSG91 returned an error: Campaign paused.");
    r = toolutil_answered(400, "{\"message\":\"Bad request\"}", NULL);
    check_same(&r, "MSG91 returned an error (HTTP 400): Bad request.");
}
END_TEST

START_TEST(request_id_taken_from_errors_too)
{
    struct http_response r = toolutil_answered(
        200,
        "{\"type\":\"error\",\"message\":\"Something odd\",\"request_id\":\"abc123\"}",
        NULL);
    struct tool_outcome out;
    toolutil_read("send_otp", NULL, "{\"mobile\":\"919876543210\"}", &r, &out);
    ck_assert_str_eq(out.error_text, "MSG91 returned an error: Something odd.");
    ck_assert_str_eq(out.upstream_request_id, "abc123");
    tool_outcome_finish(&out);
}
END_TEST

/* An integer past 64 bits in an answer is still JSON: a successful send
 * must not read as "not JSON, outcome unknown", and the other integers
 * of the answer keep their values. */
START_TEST(huge_integer_in_an_answer)
{
    struct http_response r =
        toolutil_answered(200,
                          "{\"type\":\"success\",\"request_id\":\"3463686b\",\"code\":"
                          "123456789012345678901234567890}",
                          "application/json");
    struct tool_outcome out;
    toolutil_read("send_otp", NULL,
                  "{\"mobile\":\"+919876543210\",\"template_id\":\"t\"}", &r, &out);
    ck_assert_msg(out.error_text == NULL, "%s", out.error_text);
    char *got = json_dumps(out.structured, JSON_COMPACT);
    ck_assert_str_eq(got, "{\"request_id\":\"3463686b\",\"mobile\":\"919876543210\"}");
    free(got);
    tool_outcome_finish(&out);

    r = toolutil_answered(
        200,
        "{\"data\":{\"data\":[{\"id\":9,\"views\":"
        "123456789012345678901234567890,\"name\":"
        "\"Big\"}],\"pageNo\":2,\"itemsPerPage\":5,\"totalEntityCount\":7,"
        "\"totalPageCount\":2}"
        ","
        "\"status\":\"success\",\"hasError\":false,"
        "\"errors\":[]}",
        "application/json");
    toolutil_read("list_campaigns", NULL, "{\"page\":2,\"limit\":5}", &r, &out);
    ck_assert_msg(out.error_text == NULL, "%s", out.error_text);
    ck_assert_int_eq(json_integer_value(json_object_get(out.structured, "page")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(out.structured, "total")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(out.structured, "total_pages")),
                     2);
    tool_outcome_finish(&out);
}
END_TEST

/* ---- no part of the key in any excerpt ---- */

#define KEY "Zq7-secret-key-0123456789"
/* Every prefix of KEY of 4 bytes or more starts with this. */
#define KEY_START "Zq7-"

static void expect_no_key_part(const char *what, const char *text)
{
    ck_assert_msg(text != NULL, "%s: no text", what);
    ck_assert_msg(strstr(text, KEY_START) == NULL, "%s: part of the key in \"%s\"", what,
                  text);
}

/* Whatever the cut, an excerpt holds the key neither whole nor in part,
 * also when a control byte splits it (cleaning joins the halves). */
START_TEST(excerpts_never_hold_part_of_the_key)
{
    redact_set_secret(KEY);
    static const char *const keys[] = {KEY, "Zq7-secret\x01-key-0123456789",
                                       /* DEL and U+0085, in octal so the
                                        * escapes end where they should */
                                       "Zq7-se\177\302\205cret-key-0123456789"};
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        for (size_t pad = 150; pad <= 205; pad++) {
            char text[512];
            memset(text, 'a', pad);
            snprintf(text + pad, sizeof text - pad, "%s bbbbbbbbbb", keys[k]);
            char *e = answer_excerpt(text, strlen(text), 200);
            char what[64];
            snprintf(what, sizeof what, "key %zu after %zu bytes", k, pad);
            expect_no_key_part(what, e);
            ck_assert_uint_le(strlen(e), 203);
            free(e);
        }
    }
    char *e = answer_excerpt("x " KEY " y", strlen("x " KEY " y"), 200);
    ck_assert_str_eq(e, "x [REDACTED] y");
    free(e);
    /* A text that ends in the first bytes of the key loses them. */
    e = answer_excerpt("the key starts Zq7-sec", strlen("the key starts Zq7-sec"), 200);
    ck_assert_str_eq(e, "the key starts...");
    free(e);
    redact_clear();
}
END_TEST

/* MSG91's message is decoded before it is cut: a key written with a JSON
 * escape, placed across the cut, must not leave its start behind. The
 * same for the Content-Type header, curl's error text and a JSON body of
 * the wrong shape. */
START_TEST(answers_never_quote_part_of_the_key)
{
    redact_set_secret(KEY);
    for (size_t pad = 270; pad <= 300; pad++) {
        char body[512];
        int n = snprintf(body, sizeof body, "{\"type\":\"error\",\"message\":\"");
        memset(body + n, 'a', pad);
        snprintf(body + n + pad, sizeof body - n - pad,
                 " Zq7\\u002dsecret-key-0123456789\"}");
        struct http_response r = toolutil_answered(200, body, "application/json");
        struct tool_outcome out;
        toolutil_read("send_otp", NULL, "{\"mobile\":\"919876543210\"}", &r, &out);
        expect_no_key_part("message", out.error_text);
        ck_assert_msg(strncmp(out.error_text, "MSG91 returned an error: aaa", 28) == 0,
                      "%s", out.error_text);
        tool_outcome_finish(&out);
    }
    for (size_t pad = 30; pad <= 60; pad++) {
        char type[128] = "text/";
        memset(type + 5, 'p', pad);
        snprintf(type + 5 + pad, sizeof type - 5 - pad, " %s", KEY);
        struct http_response r = toolutil_answered(200, "not json", type);
        struct tool_outcome out;
        toolutil_read("send_otp", NULL, "{\"mobile\":\"919876543210\"}", &r, &out);
        expect_no_key_part("content type", out.error_text);
        tool_outcome_finish(&out);
    }
    struct http_response r = toolutil_answered(200, "not json", "text/plain " KEY);
    expect_error("list_campaigns", "{}", &r,
                 "MSG91 answered with something that is not JSON (HTTP 200, text/plain "
                 "[REDACTED]): \"not json\". Check that MSG91_BASE_URL points at MSG91 "
                 "and not at a proxy or captive portal.");
    r = failed(HTTP_CONNECT_FAILED, "Failed to connect to " KEY);
    expect_error("list_campaigns", "{}", &r,
                 "Could not connect to MSG91 (Failed to connect to [REDACTED]). Nothing "
                 "was sent. Check the network connection and MSG91_BASE_URL.");
    r = toolutil_answered(
        200, "{\"type\":\"success\",\"weird\":\"Zq7\\u002dsecret-key-0123456789\"}",
        "application/json");
    struct tool_outcome out;
    toolutil_read("send_otp", NULL, "{\"mobile\":\"919876543210\"}", &r, &out);
    ck_assert_ptr_nonnull(strstr(out.error_text, "\"weird\":\"[REDACTED]\""));
    ck_assert_ptr_null(strstr(out.error_text, "Zq7"));
    tool_outcome_finish(&out);
    redact_clear();
}
END_TEST

/* A long message from MSG91 is quoted in part, never reported as a lack
 * of memory. */
START_TEST(long_message_is_cut)
{
    static char body[6000];
    int n = snprintf(body, sizeof body, "{\"type\":\"error\",\"message\":\"");
    memset(body + n, 'm', 5000);
    snprintf(body + n + 5000, sizeof body - n - 5000, "\"}");
    struct http_response r = toolutil_answered(200, body, "application/json");
    char want[400] = "MSG91 returned an error: ";
    size_t w = strlen(want);
    memset(want + w, 'm', 300);
    memcpy(want + w + 300, "...", 4);
    expect_error("list_campaigns", "{}", &r, want);
    n = snprintf(body, sizeof body,
                 "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"");
    memset(body + n, 'm', 5000);
    snprintf(body + n + 5000, sizeof body - n - 5000, "\"}");
    r = toolutil_answered(200, body, "application/json");
    expect_error("list_campaigns", "{}", &r, want);
}
END_TEST

/* ---- the table ---- */

START_TEST(table_retryable_matches_read_only)
{
    const char *const args[] = {
        "{\"mobile\":\"919876543210\",\"template_id\":\"t\"}",
        "{\"mobile\":\"919876543210\"}",
        "{\"mobile\":\"919876543210\",\"otp\":\"1234\"}",
        "{\"template_id\":\"f\",\"recipients\":[{\"mobiles\":\"919876543210\"}]}",
        "{\"identifier\":\"c\",\"events\":[{\"name\":\"e\"}]}",
        "{}",
        "{\"campaign_id\":\"1\"}",
        "{}",
    };
    ck_assert_uint_eq(tool_table_len, 8);
    for (unsigned i = 0; i < tool_table_len; i++) {
        struct http_request req;
        char *error;
        ck_assert_int_eq(
            build_with(tool_table[i]->name, NULL, NULL, args[i], &req, &error), 0);
        ck_assert_int_eq(req.retryable, tool_table[i]->read_only);
        request_clear(&req);
    }
}
END_TEST

static Suite *tools_suite(void)
{
    Suite *s = suite_create("tools");
    TCase *tc = tcase_create("request");
    tcase_add_test(tc, encode_everything_but_unreserved);
    tcase_add_test(tc, mobile_digits_only);
    tcase_add_test(tc, send_otp_request);
    tcase_add_test(tc, send_otp_switches);
    tcase_add_test(tc, send_otp_length_follows_otp);
    tcase_add_test(tc, send_otp_template_default);
    tcase_add_test(tc, resend_otp_request);
    tcase_add_test(tc, verify_otp_request);
    tcase_add_test(tc, send_sms_flow_request);
    tcase_add_test(tc, create_user_events_request);
    tcase_add_test(tc, timestamps_to_utc);
    tcase_add_test(tc, get_event_types_request);
    tcase_add_test(tc, get_failed_events_request);
    tcase_add_test(tc, list_campaigns_request);
    tcase_add_test(tc, whole_reals_are_integers);
    tcase_add_test(tc, huge_or_fractional_numbers_are_refused);
    tcase_add_test(tc, hostile_campaign_id_stays_one_segment);
    tcase_add_test(tc, hostile_query_values_stay_values);
    tcase_add_test(tc, hostile_body_values_stay_strings);
    tcase_add_test(tc, endpoint_override_honoured);
    tcase_add_test(tc, endpoint_override_errors);
    tcase_add_test(tc, table_retryable_matches_read_only);
    suite_add_tcase(s, tc);

    tc = tcase_create("answer");
    tcase_add_test(tc, send_otp_success);
    tcase_add_test(tc, resend_otp_success);
    tcase_add_test(tc, verify_otp_outcomes);
    tcase_add_test(tc, send_sms_flow_success);
    tcase_add_test(tc, create_user_events_success);
    tcase_add_test(tc, get_event_types_success);
    tcase_add_test(tc, get_failed_events_success);
    tcase_add_test(tc, list_campaigns_success);
    tcase_add_test(tc, failure_timeout);
    tcase_add_test(tc, failure_network);
    tcase_add_test(tc, failure_reset_too_large_other);
    tcase_add_test(tc, failure_auth);
    tcase_add_test(tc, failure_route_missing);
    tcase_add_test(tc, failure_too_large_request);
    tcase_add_test(tc, failure_rate_limited);
    tcase_add_test(tc, failure_server_error);
    tcase_add_test(tc, failure_not_json);
    tcase_add_test(tc, excerpt_is_short_and_clean);
    tcase_add_test(tc, failure_wrong_shape);
    tcase_add_test(tc, failure_msg91_errors);
    tcase_add_test(tc, request_id_taken_from_errors_too);
    tcase_add_test(tc, huge_integer_in_an_answer);
    tcase_add_test(tc, excerpts_never_hold_part_of_the_key);
    tcase_add_test(tc, answers_never_quote_part_of_the_key);
    tcase_add_test(tc, long_message_is_cut);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(tools_suite());
}
