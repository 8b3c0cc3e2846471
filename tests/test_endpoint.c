/* Endpoint mapping: the "params" spellings, every start-up error of the
 * config file's "endpoints" with its sentence, and the exact request each
 * placement produces (path, query, body, omitted; renamed; percent-encoded
 * path segments), for the defaults and for remapped endpoints. Also that
 * every tool places exactly the arguments its input schema has. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "schemas/embedded.h"
#include "server/config.h"
#include "server/safe_send.h"
#include "tests/testutil.h"
#include "tools/endpoint.h"
#include "tools/request.h"
#include "tools/tool.h"

#define BASE "https://control.msg91.com"
#define END                                                                              \
    {                                                                                    \
        NULL, TOOL_PLACE_DEFAULT, NULL, false                                            \
    }

static const struct tool_def *tool(const char *name)
{
    const struct tool_def *t = tool_find(name);
    ck_assert_msg(t != NULL, "no tool %s", name);
    return t;
}

/* Builds name's request for args_text with ep (NULL: the default). Returns
 * the build's result; on success *req holds the request, else *error. */
static int build(const char *name, const struct tool_endpoint *ep, const char *args_text,
                 struct http_request *req, char **error)
{
    const struct tool_def *t = tool(name);
    struct tool_build_ctx ctx = {
        .tool = t, .endpoint = ep ? ep : &t->endpoint, .base_url = BASE};
    json_error_t jerr;
    json_t *args = json_loads(args_text, 0, &jerr);
    ck_assert_msg(args != NULL, "bad test JSON %s: %s", args_text, jerr.text);
    memset(req, 0, sizeof *req);
    *error = NULL;
    int rc = t->build(&ctx, args, req, error);
    json_decref(args);
    return rc;
}

/* Asserts the exact request; body NULL: none. */
static void expect(const char *name, const struct tool_endpoint *ep, const char *args,
                   const char *method, const char *url, const char *body)
{
    struct http_request req;
    char *error;
    int rc = build(name, ep, args, &req, &error);
    ck_assert_msg(rc == 0, "%s: %s", name, error ? error : "");
    ck_assert_str_eq(req.method, method);
    ck_assert_str_eq(req.url, url);
    if (body)
        ck_assert_str_eq(req.body ? req.body : "(none)", body);
    else
        ck_assert_ptr_null(req.body);
    request_clear(&req);
}

/* Asserts that resolving ep for name fails with exactly text, and that a
 * build fails with it too. */
static void expect_plan_error(const char *name, const struct tool_endpoint *ep,
                              const char *text)
{
    struct endpoint_plan plan;
    char *error = NULL;
    ck_assert_int_eq(endpoint_plan(tool(name), ep, &plan, &error), -1);
    ck_assert_ptr_nonnull(error);
    ck_assert_str_eq(error, text);
    free(error);
}

/* ---- the spellings of a placement ---- */

START_TEST(placements_parse)
{
    static const struct {
        const char *spec;
        enum tool_place place;
        const char *name;
    } good[] = {
        {"path", TOOL_PLACE_PATH, NULL},
        {"query", TOOL_PLACE_QUERY, NULL},
        {"body", TOOL_PLACE_BODY, NULL},
        {"omit", TOOL_PLACE_OMIT, NULL},
        {"query:pageNo", TOOL_PLACE_QUERY, "pageNo"},
        {"body:data.x", TOOL_PLACE_BODY, "data.x"},
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        enum tool_place place = TOOL_PLACE_DEFAULT;
        const char *name = "unset";
        ck_assert_int_eq(endpoint_parse_place(good[i].spec, &place, &name), 0);
        ck_assert_int_eq(place, good[i].place);
        if (good[i].name)
            ck_assert_str_eq(name, good[i].name);
        else
            ck_assert_ptr_null(name);
    }
    static const char *const bad[] = {"", "Query", "header", "query:", ":x", "bodyx"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        enum tool_place place;
        const char *name;
        ck_assert_msg(endpoint_parse_place(bad[i], &place, &name) == -1, "%s", bad[i]);
    }
}
END_TEST

/* ---- every tool places every argument of its schema, and only those ---- */

START_TEST(params_cover_the_input_schemas)
{
    for (unsigned i = 0; i < tool_table_len; i++) {
        const struct tool_def *t = tool_table[i];
        char file[128];
        snprintf(file, sizeof file, "%s.input.json", t->name);
        const struct embedded_file *f = embedded_find(file);
        ck_assert_ptr_nonnull(f);
        json_t *doc = json_loadb(f->text, f->len, 0, NULL);
        json_t *props = json_object_get(doc, "properties");
        size_t n = 0;
        for (; t->params && t->params[n].arg; n++) {
            json_t *p = json_object_get(props, t->params[n].arg);
            ck_assert_msg(p != NULL, "%s places %s, which its schema lacks", t->name,
                          t->params[n].arg);
            const char *type = json_string_value(json_object_get(p, "type"));
            bool structured = !strcmp(type, "object") || !strcmp(type, "array");
            ck_assert_msg(structured == t->params[n].structured, "%s.%s structured",
                          t->name, t->params[n].arg);
        }
        /* The server takes a sending tool's idempotency key out of the
         * arguments before the tool builds its request (server/safe_send.h):
         * it never travels to MSG91, so no placement names it. */
        size_t expected = json_object_size(props);
        if (t->sends) {
            ck_assert_ptr_nonnull(json_object_get(props, SAFE_SEND_KEY_ARG));
            expected--;
        }
        ck_assert_msg(n == expected, "%s: %zu params, %zu properties", t->name, n,
                      expected);
        /* The defaults resolve without an error. */
        struct endpoint_plan plan;
        char *error = NULL;
        ck_assert_msg(endpoint_plan(t, &t->endpoint, &plan, &error) == 0, "%s: %s",
                      t->name, error);
        json_decref(doc);
    }
}
END_TEST

/* ---- the errors a mapping can have, each with its sentence ---- */

START_TEST(unknown_argument)
{
    static const struct tool_param params[] = {{"campaign", TOOL_PLACE_BODY, NULL, false},
                                               END};
    static const struct tool_endpoint ep = {
        "POST", "/api/v5/segmento/api/v1/campaigns/{campaign_id}/failed-events", params};
    expect_plan_error("get_failed_events", &ep,
                      "\"params\" places \"campaign\", but get_failed_events has no "
                      "argument of that name (its arguments: campaign_id, page, limit, "
                      "start_date, end_date).");
    static const struct tool_param any[] = {{"page", TOOL_PLACE_QUERY, NULL, false}, END};
    static const struct tool_endpoint none = {"GET", "/x", any};
    expect_plan_error("get_event_types", &none,
                      "\"params\" places \"page\", but get_event_types has no argument "
                      "of that name (it takes none).");
}
END_TEST

START_TEST(placeholder_without_argument)
{
    static const struct tool_endpoint ep = {"GET", "/x/{nope}/y", NULL};
    expect_plan_error("get_event_types", &ep,
                      "The path \"/x/{nope}/y\" has the placeholder \"nope\", but "
                      "get_event_types has no argument of that name (it takes none).");
    static const struct tool_endpoint typo = {"POST", "/c/{campaignId}/failed", NULL};
    expect_plan_error(
        "get_failed_events", &typo,
        "The path \"/c/{campaignId}/failed\" has the placeholder "
        "\"campaignId\", but get_failed_events has no argument of that name "
        "(its arguments: campaign_id, page, limit, start_date, end_date).");
    static const struct tool_endpoint empty = {"GET", "/x/{}", NULL};
    expect_plan_error("list_campaigns", &empty,
                      "The endpoint path has an empty or overlong {...} placeholder: fix "
                      "\"path\" under \"endpoints\" in the config file.");
    static const struct tool_endpoint open = {"GET", "/x/{page", NULL};
    expect_plan_error("list_campaigns", &open,
                      "The endpoint path \"/x/{page\" has an unbalanced '{' or '}': fix "
                      "\"path\" under \"endpoints\" in the config file.");
}
END_TEST

START_TEST(path_argument_without_placeholder)
{
    /* The default place of campaign_id is the path: a path without it
     * must say where it goes instead. */
    static const struct tool_endpoint ep = {"POST", "/failed-events", NULL};
    expect_plan_error(
        "get_failed_events", &ep,
        "campaign_id travels in the path, but the path \"/failed-events\" "
        "has no {campaign_id}: add it, or place campaign_id with \"params\" "
        "(\"query\", \"body\" or \"omit\").");
    static const struct tool_param params[] = {{"page", TOOL_PLACE_PATH, NULL, false},
                                               END};
    static const struct tool_endpoint moved = {"GET", "/campaigns", params};
    expect_plan_error("list_campaigns", &moved,
                      "\"params\" puts page in the path, but the path \"/campaigns\" has "
                      "no {page}.");
    static const struct tool_param named[] = {{"page", TOOL_PLACE_PATH, "p", false}, END};
    static const struct tool_endpoint with_name = {"GET", "/campaigns/{page}", named};
    expect_plan_error(
        "list_campaigns", &with_name,
        "\"path:p\" for page: an argument in the path is named by its {page} "
        "placeholder and takes no upstream name.");
}
END_TEST

START_TEST(placeholder_against_params)
{
    static const struct tool_param params[] = {{"page", TOOL_PLACE_QUERY, NULL, false},
                                               END};
    static const struct tool_endpoint ep = {"GET", "/campaigns/{page}", params};
    expect_plan_error("list_campaigns", &ep,
                      "The path \"/campaigns/{page}\" names {page}, but \"params\" puts "
                      "page in the query.");
}
END_TEST

START_TEST(structured_outside_the_body)
{
    static const struct tool_param params[] = {{"events", TOOL_PLACE_QUERY, NULL, true},
                                               END};
    static const struct tool_endpoint ep = {"POST", "/events", params};
    expect_plan_error("create_user_events", &ep,
                      "events is an object or a list: it can travel only in the body "
                      "(\"body\") or not at all (\"omit\"), not in the query.");
    /* send_otp's variables are its body: a GET has none. */
    static const struct tool_endpoint get = {"GET", "/api/v5/otp", NULL};
    expect_plan_error("send_otp", &get,
                      "variables is an object or a list: it can travel only in the body "
                      "(\"body\"), which a GET request does not have, or not at all "
                      "(\"omit\"), not in the query.");
}
END_TEST

START_TEST(body_in_a_get)
{
    static const struct tool_param params[] = {{"name", TOOL_PLACE_BODY, NULL, false},
                                               END};
    static const struct tool_endpoint ep = {"GET", "/campaigns", params};
    expect_plan_error("list_campaigns", &ep,
                      "\"params\" puts name in the body, but a GET request has no body: "
                      "use \"query\".");
}
END_TEST

START_TEST(two_arguments_one_name)
{
    static const struct tool_param params[] = {{"page", TOOL_PLACE_QUERY, "n", false},
                                               {"limit", TOOL_PLACE_QUERY, "n", false},
                                               END};
    static const struct tool_endpoint ep = {"GET", "/campaigns", params};
    expect_plan_error("list_campaigns", &ep,
                      "page and limit would both travel as \"n\" in the query.");
    /* A default name counts too. */
    static const struct tool_param clash[] = {{"name", TOOL_PLACE_QUERY, "pageNo", false},
                                              END};
    static const struct tool_endpoint ep2 = {"GET", "/campaigns", clash};
    expect_plan_error("list_campaigns", &ep2,
                      "page and name would both travel as \"pageNo\" in the query.");
}
END_TEST

/* ---- what each placement sends ---- */

START_TEST(contract_example)
{
    /* The example of the contract: the real failed-events call, if it is a
     * POST with MSG91's paging names and the campaign in the body. */
    static const struct tool_param params[] = {
        {"campaign_id", TOOL_PLACE_BODY, "campaignId", false},
        {"page", TOOL_PLACE_BODY, "pageNo", false},
        {"limit", TOOL_PLACE_BODY, "itemsPerPage", false},
        END,
    };
    static const struct tool_endpoint ep = {
        "POST", "/api/v5/segmento/api/v1/failed-events", params};
    expect("get_failed_events", &ep,
           "{\"campaign_id\":\"1032\",\"page\":2,\"start_date\":\"2026-01-01\"}", "POST",
           BASE "/api/v5/segmento/api/v1/failed-events",
           "{\"campaignId\":\"1032\",\"pageNo\":2,\"itemsPerPage\":10,"
           "\"start_date\":\"2026-01-01\"}");
}
END_TEST

START_TEST(moved_renamed_and_omitted)
{
    /* Out of the path into the query, a date renamed into the query, one
     * left out: every other argument stays in the body. */
    static const struct tool_param params[] = {
        {"campaign_id", TOOL_PLACE_QUERY, "campaign", false},
        {"start_date", TOOL_PLACE_QUERY, "from", false},
        {"end_date", TOOL_PLACE_OMIT, NULL, false},
        END,
    };
    static const struct tool_endpoint ep = {"POST", "/failed", params};
    expect("get_failed_events", &ep,
           "{\"campaign_id\":\"a b&c\",\"start_date\":\"2026-01-01\","
           "\"end_date\":\"2026-01-31\"}",
           "POST", BASE "/failed?campaign=a%20b%26c&from=2026-01-01",
           "{\"page\":1,\"limit\":10}");
    /* Query arguments into the body, under MSG91's names or new ones. */
    static const struct tool_param to_body[] = {
        {"mobile", TOOL_PLACE_BODY, NULL, false},
        {"retry_type", TOOL_PLACE_BODY, NULL, false},
        END,
    };
    static const struct tool_endpoint post = {"POST", "/api/v5/otp/retry", to_body};
    expect("resend_otp", &post, "{\"mobile\":\"+919876543210\",\"retry_type\":\"voice\"}",
           "POST", BASE "/api/v5/otp/retry",
           "{\"retrytype\":\"voice\",\"mobile\":\"919876543210\"}");
    /* The body of template variables nested under a name. */
    static const struct tool_param nested[] = {
        {"variables", TOOL_PLACE_BODY, "vars", true}, END};
    static const struct tool_endpoint otp = {"POST", "/api/v5/otp", nested};
    expect(
        "send_otp", &otp,
        "{\"mobile\":\"919876543210\",\"template_id\":\"t\",\"variables\":{\"a\":\"b\"}}",
        "POST", BASE "/api/v5/otp?template_id=t&mobile=919876543210",
        "{\"vars\":{\"a\":\"b\"}}");
}
END_TEST

START_TEST(path_segments_encoded)
{
    /* Any argument can be a path segment, given as the wire value (a mobile
     * as digits), percent-encoded whole. */
    static const struct tool_endpoint by_mobile = {"GET", "/otp/{mobile}/verify", NULL};
    expect("verify_otp", &by_mobile, "{\"mobile\":\"+919876543210\",\"otp\":\"1234\"}",
           "GET", BASE "/otp/919876543210/verify?otp=1234", NULL);
    static const struct tool_endpoint by_name = {"GET", "/campaigns/{name}/{page}", NULL};
    expect("list_campaigns", &by_name, "{\"name\":\"Diwali/50% off?\",\"page\":3}", "GET",
           BASE "/campaigns/Diwali%2F50%25%20off%3F/3?itemsPerPage=25", NULL);
    static const struct tool_endpoint dates = {
        "POST", "/f/{campaign_id}/{start_date}..{end_date}", NULL};
    expect("get_failed_events", &dates,
           "{\"campaign_id\":\"7\",\"start_date\":\"2026-01-01\","
           "\"end_date\":\"2026-01-02\"}",
           "POST", BASE "/f/7/2026-01-01..2026-01-02", "{\"page\":1,\"limit\":10}");
}
END_TEST

START_TEST(get_moves_body_defaults_to_query)
{
    static const struct tool_endpoint get = {"GET", "/failed/{campaign_id}", NULL};
    expect("get_failed_events", &get, "{\"campaign_id\":\"7\",\"limit\":3}", "GET",
           BASE "/failed/7?page=1&limit=3", NULL);
    /* A body is sent when some argument travels in it: none for a POST
     * with nothing there, {} for one whose body holds only what was left out. */
    static const struct tool_endpoint post = {"POST", "/types", NULL};
    expect("get_event_types", &post, "{}", "POST", BASE "/types", NULL);
    static const struct tool_param dates_only[] = {
        {"page", TOOL_PLACE_QUERY, NULL, false},
        {"limit", TOOL_PLACE_QUERY, NULL, false},
        END,
    };
    static const struct tool_endpoint post_dates = {"POST", "/f/{campaign_id}",
                                                    dates_only};
    expect("get_failed_events", &post_dates, "{\"campaign_id\":\"7\"}", "POST",
           BASE "/f/7?page=1&limit=10", "{}");
}
END_TEST

START_TEST(list_campaigns_filters)
{
    expect("list_campaigns", NULL, "{\"name\":\"Welcome back\",\"is_active\":true}",
           "GET",
           BASE "/api/v5/campaign/api/campaigns?pageNo=1&itemsPerPage=25"
                "&name=Welcome%20back&is_active=1",
           NULL);
    expect("list_campaigns", NULL, "{\"is_active\":false,\"page\":2}", "GET",
           BASE "/api/v5/campaign/api/campaigns?pageNo=2&itemsPerPage=25&is_active=0",
           NULL);
}
END_TEST

START_TEST(identifier_as_visitor)
{
    /* A phone number is sent as digits, like every mobile; a contact id or
     * an e-mail as it is. */
    expect("create_user_events", NULL,
           "{\"identifier\":\"+919876543210\",\"events\":[{\"name\":\"login\"}]}", "POST",
           BASE "/api/v5/segmento/api/v1/events",
           "{\"data\":[{\"event_name\":\"login\",\"visitor_id\":\"919876543210\","
           "\"event_properties\":{},\"type\":\"track\"}]}");
    expect("create_user_events", NULL,
           "{\"identifier\":\"+1001\",\"events\":[{\"name\":\"login\"}]}", "POST",
           BASE "/api/v5/segmento/api/v1/events",
           "{\"data\":[{\"event_name\":\"login\",\"visitor_id\":\"+1001\","
           "\"event_properties\":{},\"type\":\"track\"}]}");
    /* Placed by the operator, it travels there too, normalised alike. */
    static const struct tool_param params[] = {
        {"identifier", TOOL_PLACE_QUERY, "contact_id", false},
        {"events", TOOL_PLACE_BODY, "events", true},
        END,
    };
    static const struct tool_endpoint ep = {"POST", "/track", params};
    expect("create_user_events", &ep,
           "{\"identifier\":\"+919876543210\",\"events\":[{\"name\":\"a\"}]}", "POST",
           BASE "/track?contact_id=919876543210",
           "{\"events\":[{\"event_name\":\"a\",\"visitor_id\":\"919876543210\","
           "\"event_properties\":{},\"type\":\"track\"}]}");
}
END_TEST

/* ---- the config file ---- */

/* Loads a config file with this text; returns config_load's result and
 * the error text (malloc'd) in *error. */
static int load_file(const char *text, struct config *cfg, char **error)
{
    char *file = testutil_temp_file(text);
    char *argv[] = {"msg91-mcp", "--config", file, NULL};
    char *envp[] = {NULL};
    char **rest = NULL;
    config_init(cfg);
    *error = NULL;
    int rc = config_load(cfg, 3, argv, envp, &rest, error);
    free(rest);
    unlink(file);
    free(file);
    return rc;
}

static void expect_config_error(const char *text, const char *want)
{
    struct config cfg;
    char *error;
    ck_assert_int_ne(load_file(text, &cfg, &error), 0);
    ck_assert_ptr_nonnull(error);
    const char *colon = strstr(error, ": endpoints.");
    ck_assert_msg(colon != NULL, "%s", error);
    ck_assert_str_eq(colon + 2, want);
    free(error);
    config_finish(&cfg);
}

START_TEST(config_params_loaded)
{
    struct config cfg;
    char *error;
    int rc = load_file("{\"endpoints\":{\"get_failed_events\":{\"method\":\"POST\","
                       "\"path\":\"/api/v5/segmento/api/v1/failed-events\",\"params\":{"
                       "\"campaign_id\":\"body:campaignId\",\"page\":\"body:pageNo\","
                       "\"limit\":\"body:itemsPerPage\",\"end_date\":\"omit\"}}}}",
                       &cfg, &error);
    ck_assert_msg(rc == 0, "%s", error ? error : "");
    unsigned i = 0;
    while (strcmp(tool_table[i]->name, "get_failed_events") != 0)
        i++;
    const struct tool_param *p = cfg.endpoints[i].params;
    ck_assert_ptr_nonnull(p);
    ck_assert_str_eq(p[0].arg, "campaign_id");
    ck_assert_int_eq(p[0].place, TOOL_PLACE_BODY);
    ck_assert_str_eq(p[0].name, "campaignId");
    ck_assert_str_eq(p[3].arg, "end_date");
    ck_assert_int_eq(p[3].place, TOOL_PLACE_OMIT);
    ck_assert_ptr_null(p[3].name);
    ck_assert_ptr_null(p[4].arg);
    config_finish(&cfg);
}
END_TEST

START_TEST(config_errors)
{
    expect_config_error(
        "{\"endpoints\":{\"get_failed_events\":{\"path\":\"/failed-events\"}}}",
        "endpoints.get_failed_events: campaign_id travels in the path, but the path "
        "\"/failed-events\" has no {campaign_id}: add it, or place campaign_id with "
        "\"params\" (\"query\", \"body\" or \"omit\").");
    expect_config_error(
        "{\"endpoints\":{\"list_campaigns\":{\"params\":{\"pageNo\":\"query\"}}}}",
        "endpoints.list_campaigns: \"params\" places \"pageNo\", but list_campaigns has "
        "no argument of that name (its arguments: page, limit, name, is_active).");
    expect_config_error(
        "{\"endpoints\":{\"get_event_types\":{\"path\":\"/types/{phonebook}\"}}}",
        "endpoints.get_event_types: The path \"/types/{phonebook}\" has the placeholder "
        "\"phonebook\", but get_event_types has no argument of that name (it takes "
        "none).");
    expect_config_error(
        "{\"endpoints\":{\"list_campaigns\":{\"params\":{\"page\":\"header:x\"}}}}",
        "endpoints.list_campaigns.params.page must be \"path\", \"query\", \"body\" or "
        "\"omit\", optionally followed by \":upstreamName\"");
    expect_config_error(
        "{\"endpoints\":{\"list_campaigns\":{\"params\":{\"page\":1}}}}",
        "endpoints.list_campaigns.params.page must be \"path\", \"query\", \"body\" or "
        "\"omit\", optionally followed by \":upstreamName\"");
    expect_config_error(
        "{\"endpoints\":{\"list_campaigns\":{\"params\":[\"page\"]}}}",
        "endpoints.list_campaigns must be {\"method\": \"GET\"|\"POST\", \"path\": "
        "\"/api/...\", \"params\": {\"argument\": \"query:name\"}}, any of the three");
    expect_config_error(
        "{\"endpoints\":{\"list_campaigns\":{\"headers\":{}}}}",
        "endpoints.list_campaigns has an unknown key \"headers\"; it takes \"method\", "
        "\"path\" and \"params\"");
    /* The method of the file applies to the default placement: a GET
     * send_sms_flow has nowhere for its recipients. */
    expect_config_error(
        "{\"endpoints\":{\"send_sms_flow\":{\"method\":\"GET\"}}}",
        "endpoints.send_sms_flow: recipients is an object or a list: it can travel only "
        "in the body (\"body\"), which a GET request does not have, or not at all "
        "(\"omit\"), not in the query.");
}
END_TEST

static Suite *endpoint_suite(void)
{
    Suite *s = suite_create("endpoint");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, placements_parse);
    tcase_add_test(tc, params_cover_the_input_schemas);
    tcase_add_test(tc, unknown_argument);
    tcase_add_test(tc, placeholder_without_argument);
    tcase_add_test(tc, path_argument_without_placeholder);
    tcase_add_test(tc, placeholder_against_params);
    tcase_add_test(tc, structured_outside_the_body);
    tcase_add_test(tc, body_in_a_get);
    tcase_add_test(tc, two_arguments_one_name);
    tcase_add_test(tc, contract_example);
    tcase_add_test(tc, moved_renamed_and_omitted);
    tcase_add_test(tc, path_segments_encoded);
    tcase_add_test(tc, get_moves_body_defaults_to_query);
    tcase_add_test(tc, list_campaigns_filters);
    tcase_add_test(tc, identifier_as_visitor);
    tcase_add_test(tc, config_params_loaded);
    tcase_add_test(tc, config_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(endpoint_suite());
}
