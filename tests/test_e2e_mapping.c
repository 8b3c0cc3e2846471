/* End to end, the real binary against a sandbox in this process: a config
 * file that remaps an endpoint (method, path, arguments moved between path,
 * query and body, renamed, omitted) makes exactly that request; the three
 * Segmento readers take the answer shapes no source rules out (a plain-text
 * "Event Created", a bare list with MSG91's own field names) without loss;
 * list_campaigns filters reach the campaign backend; and a mapping that
 * cannot work stops the start with its sentence. Sandbox rules make the
 * sandbox answer whatever a case needs (doc/sandbox.md). */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "tests/testutil.h"

#define F testutil_fmt
#define KEY "e2e-mapping-key-51c0ffee"
#define REPLY_MS 15000

struct run {
    int status;
    json_t *result; /* the CallToolResult printed on stdout, or NULL */
    char *err;      /* stderr */
};

/* Runs `msg91-mcp ARGS...` against base with the config file text (NULL:
 * none); fills r (release with run_finish). */
static void run(struct run *r, const char *base, const char *config,
                const char *const *args)
{
    char *file = config ? testutil_temp_file(config) : NULL;
    const char *env[] = {
        F("MSG91_BASE_URL=%s", base),
        "MSG91_AUTH_KEY=" KEY,
        "MSG91_DUPLICATE_WINDOW_S=0",
        "MSG91_STORE=memory",
        file ? F("MSG91_CONFIG=%s", file) : NULL,
        NULL,
    };
    struct testutil_child c;
    ck_assert_int_eq(testutil_spawn(&c, args, env), 0);
    char *line = testutil_read_line(&c, REPLY_MS);
    r->result = line ? json_loads(line, 0, NULL) : NULL;
    free(line);
    r->status = testutil_finish(&c, REPLY_MS);
    r->err = testutil_read_stderr(&c);
    if (file) {
        unlink(file);
        free(file);
    }
}

static void run_finish(struct run *r)
{
    json_decref(r->result);
    free(r->err);
}

/* Fails unless got equals the JSON text want. */
static void expect_json(json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
    ck_assert_msg(want != NULL, "bad expected JSON %s", want_text);
    char *g = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
    ck_assert_msg(json_equal(got, want), "got  %s\nwant %s", g ? g : "(null)", want_text);
    free(g);
    json_decref(want);
}

/* A call that must succeed; returns its structuredContent (borrowed from
 * r). */
static json_t *call_ok(struct run *r, const char *base, const char *config,
                       const char *tool, const char *args)
{
    const char *argv[] = {"msg91-mcp", "call", tool, args, NULL};
    run(r, base, config, argv);
    ck_assert_msg(r->status == 0 && r->result, "exit %d, stderr: %s", r->status, r->err);
    json_t *sc = json_object_get(r->result, "structuredContent");
    ck_assert_ptr_nonnull(sc);
    return sc;
}

/* The one request the sandbox recorded since the last clear. */
static json_t *only_request(const char *base)
{
    json_t *v = testutil_sandbox_ctl(base, "GET", "/_sandbox/requests", NULL);
    json_t *list = json_object_get(v, "requests");
    ck_assert_uint_eq(json_array_size(list), 1);
    json_t *rec = json_incref(json_array_get(list, 0));
    json_decref(v);
    json_decref(testutil_sandbox_ctl(base, "DELETE", "/_sandbox/requests", NULL));
    return rec;
}

static void expect_request(const char *base, const char *method, const char *path,
                           const char *query, const char *body)
{
    json_t *rec = only_request(base);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "method")), method);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "path")), path);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "query")), query);
    ck_assert_str_eq(json_string_value(json_object_get(rec, "body")), body);
    json_decref(rec);
}

/* A rule: the next request (of any route, known or not) gets body. */
static void answer_next(const char *base, const char *body, const char *content_type)
{
    json_t *rule = json_pack("{s:i, s:s}", "count", 1, "body", body);
    if (content_type)
        json_object_set_new(rule, "content_type", json_string(content_type));
    char *text = json_dumps(rule, JSON_COMPACT);
    json_decref(testutil_sandbox_ctl(base, "POST", "/_sandbox/misbehave", text));
    free(text);
    json_decref(rule);
}

START_TEST(remapped_failed_events)
{
    char base[64];
    struct sandbox *sb = testutil_sandbox_start(KEY, 7, base);
    /* The contract's example, plus a date moved to the query and renamed,
     * and one left out. */
    const char *config = "{\"endpoints\":{\"get_failed_events\":{\"method\":\"POST\","
                         "\"path\":\"/api/v5/segmento/api/v1/failed-events\",\"params\":{"
                         "\"campaign_id\":\"body:campaignId\",\"page\":\"body:pageNo\","
                         "\"limit\":\"body:itemsPerPage\",\"start_date\":\"query:from\","
                         "\"end_date\":\"omit\"}}}}";
    answer_next(base,
                "{\"data\":{\"data\":[{\"event_id\":\"e1\",\"event_name\":\"login\","
                "\"visitor_id\":\"c-9\",\"reason\":\"visitor_id not found in phonebook\","
                "\"phonebook\":\"Main\"}],\"totalEntityCount\":1},\"status\":\"success\","
                "\"hasError\":false,\"errors\":[]}",
                NULL);
    struct run r;
    json_t *sc = call_ok(&r, base, config, "get_failed_events",
                         "{\"campaign_id\":\"10 32\",\"limit\":5,\"start_date\":"
                         "\"2026-01-01\",\"end_date\":\"2026-01-31\"}");
    expect_json(sc, "{\"campaign_id\":\"10 32\",\"failed_events\":[{\"event_id\":\"e1\","
                    "\"event_name\":\"login\",\"reason\":\"visitor_id not found in "
                    "phonebook\",\"recipient\":\"c-9\",\"upstream\":{\"event_id\":\"e1\","
                    "\"event_name\":\"login\",\"visitor_id\":\"c-9\",\"reason\":"
                    "\"visitor_id not found in phonebook\",\"phonebook\":\"Main\"}}],"
                    "\"page\":1,\"limit\":5,\"total\":1}");
    run_finish(&r);
    expect_request(base, "POST", "/api/v5/segmento/api/v1/failed-events",
                   "from=2026-01-01",
                   "{\"campaignId\":\"10 32\",\"pageNo\":1,"
                   "\"itemsPerPage\":5}");
    sandbox_destroy(sb);
}
END_TEST

START_TEST(remapped_into_the_path)
{
    char base[64];
    struct sandbox *sb = testutil_sandbox_start(KEY, 7, base);
    /* An argument that is a query parameter by default, moved into the
     * path and percent-encoded as one segment. */
    const char *config = "{\"endpoints\":{\"list_campaigns\":{"
                         "\"path\":\"/api/v5/campaign/api/campaigns/search/{name}\"}}}";
    answer_next(base,
                "{\"data\":{\"data\":[],\"totalEntityCount\":0},\"status\":\"success\","
                "\"hasError\":false,\"errors\":[]}",
                NULL);
    struct run r;
    json_t *sc = call_ok(&r, base, config, "list_campaigns",
                         "{\"name\":\"Diwali/50% off?\",\"is_active\":true}");
    expect_json(sc, "{\"campaigns\":[],\"page\":1,\"total_pages\":0,\"total\":0}");
    run_finish(&r);
    expect_request(base, "GET",
                   "/api/v5/campaign/api/campaigns/search/Diwali%2F50%25%20off%3F",
                   "pageNo=1&itemsPerPage=25&is_active=1", "");
    sandbox_destroy(sb);
}
END_TEST

START_TEST(user_events_plain_text)
{
    char base[64];
    struct sandbox *sb = testutil_sandbox_start(KEY, 7, base);
    answer_next(base, "Event Created", "text/html; charset=UTF-8");
    struct run r;
    json_t *sc = call_ok(&r, base, NULL, "create_user_events",
                         "{\"identifier\":\"+919876543210\",\"events\":[{\"name\":"
                         "\"login\"},{\"name\":\"purchase\"}]}");
    expect_json(sc, "{\"accepted\":2,\"message\":\"Event Created\"}");
    run_finish(&r);
    /* The phone number went out as digits, like every mobile. */
    expect_request(base, "POST", "/api/v5/segmento/api/v1/events", "",
                   "{\"data\":[{\"event_name\":\"login\",\"visitor_id\":\"919876543210\","
                   "\"event_properties\":{},\"type\":\"track\"},{\"event_name\":"
                   "\"purchase\",\"visitor_id\":\"919876543210\",\"event_properties\":{},"
                   "\"type\":\"track\"}]}");
    /* The sandbox's own answer for a contact in its phonebook. */
    sc = call_ok(&r, base, NULL, "create_user_events",
                 "{\"identifier\":\"contact-1001\",\"events\":[{\"name\":\"login\"}]}");
    expect_json(sc, "{\"accepted\":1,\"upstream\":{\"accepted\":1}}");
    run_finish(&r);
    sandbox_destroy(sb);
}
END_TEST

START_TEST(event_types_bare_list)
{
    char base[64];
    struct sandbox *sb = testutil_sandbox_start(KEY, 7, base);
    answer_next(base,
                "[{\"event_type_id\":5,\"name\":\"login\",\"type\":\"track\"},"
                "{\"identifier\":\"ev-6\",\"event_name\":\"viewed\",\"type\":\"page\"}]",
                NULL);
    struct run r;
    json_t *sc = call_ok(&r, base, NULL, "get_event_types", "{}");
    expect_json(sc,
                "{\"event_types\":[{\"id\":\"5\",\"name\":\"login\",\"upstream\":"
                "{\"event_type_id\":5,\"name\":\"login\",\"type\":\"track\"}},"
                "{\"id\":\"ev-6\",\"name\":\"viewed\",\"upstream\":{\"identifier\":"
                "\"ev-6\",\"event_name\":\"viewed\",\"type\":\"page\"}}],\"total\":2}");
    run_finish(&r);
    sandbox_destroy(sb);
}
END_TEST

START_TEST(campaign_filters)
{
    char base[64];
    struct sandbox *sb = testutil_sandbox_start(KEY, 7, base);
    struct run r;
    json_t *sc = call_ok(&r, base, NULL, "list_campaigns", "{\"limit\":100}");
    json_int_t all = json_integer_value(json_object_get(sc, "total"));
    json_t *first = json_array_get(json_object_get(sc, "campaigns"), 0);
    char *name = strdup(json_string_value(json_object_get(first, "name")));
    run_finish(&r);
    json_decref(testutil_sandbox_ctl(base, "DELETE", "/_sandbox/requests", NULL));

    sc = call_ok(&r, base, NULL, "list_campaigns", "{\"is_active\":false,\"limit\":100}");
    json_int_t inactive = json_integer_value(json_object_get(sc, "total"));
    ck_assert(inactive > 0 && inactive < all);
    size_t i;
    json_t *c;
    json_array_foreach(json_object_get(sc, "campaigns"), i, c) {
        ck_assert(json_is_false(json_object_get(c, "is_active")));
    }
    run_finish(&r);
    expect_request(base, "GET", "/api/v5/campaign/api/campaigns",
                   "pageNo=1&itemsPerPage=100&is_active=0", "");

    sc = call_ok(&r, base, NULL, "list_campaigns", F("{\"name\":\"%s\"}", name));
    ck_assert(json_integer_value(json_object_get(sc, "total")) >= 1);
    json_array_foreach(json_object_get(sc, "campaigns"), i, c) {
        ck_assert(strstr(json_string_value(json_object_get(c, "name")), name));
    }
    run_finish(&r);
    json_t *rec = only_request(base);
    ck_assert(strstr(json_string_value(json_object_get(rec, "query")), "&name="));
    json_decref(rec);
    free(name);
    sandbox_destroy(sb);
}
END_TEST

START_TEST(bad_mapping_stops_the_start)
{
    const char *argv[] = {"msg91-mcp", "list", NULL};
    struct run r;
    run(&r, "http://127.0.0.1:9",
        "{\"endpoints\":{\"get_failed_events\":{\"path\":\"/api/v5/failed\"}}}", argv);
    ck_assert_int_eq(r.status, 1);
    ck_assert_ptr_null(r.result);
    ck_assert_msg(strstr(r.err, ": endpoints.get_failed_events: campaign_id travels in "
                                "the path, but the path \"/api/v5/failed\" has no "
                                "{campaign_id}: add it, or place campaign_id with "
                                "\"params\" (\"query\", \"body\" or \"omit\")."),
                  "%s", r.err);
    run_finish(&r);
    run(&r, "http://127.0.0.1:9",
        "{\"endpoints\":{\"verify_otp\":{\"params\":{\"code\":\"body\"}}}}", argv);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.err, ": endpoints.verify_otp: \"params\" places \"code\", but "
                                "verify_otp has no argument of that name (its arguments: "
                                "mobile, otp)."),
                  "%s", r.err);
    run_finish(&r);
}
END_TEST

static Suite *mapping_suite(void)
{
    Suite *s = suite_create("e2e_mapping");
    TCase *tc = tcase_create("mapping");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, remapped_failed_events);
    tcase_add_test(tc, remapped_into_the_path);
    tcase_add_test(tc, user_events_plain_text);
    tcase_add_test(tc, event_types_bare_list);
    tcase_add_test(tc, campaign_filters);
    tcase_add_test(tc, bad_mapping_stops_the_start);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(mapping_suite());
}
