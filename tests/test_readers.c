/* The readers of the three Segmento tools, whose answers no source shows:
 * every plausible shape of a 2xx answer is read without loss (a bare list,
 * a list under data, data.data, data.<name> or <name>, plain text for
 * create_user_events), each item keeps MSG91's fields under "upstream",
 * ids come from every spelling sources show, and only a body that is not
 * JSON where JSON is needed, or an error envelope, is an error. Every
 * result is checked against the tool's output schema. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "tests/toolutil.h"
#include "tools/tool.h"

#define OK2 ",\"status\":\"success\",\"hasError\":false,\"errors\":[]}"
#define EVENTS "{\"identifier\":\"c1\",\"events\":[{\"name\":\"a\"},{\"name\":\"b\"}]}"
#define FAILED "{\"campaign_id\":\"1032\"}"

static void read_answer(const char *name, const char *args_text, long status,
                        const char *body, const char *type, struct tool_outcome *out)
{
    const struct tool_def *t = tool_find(name);
    ck_assert_ptr_nonnull(t);
    struct http_response r = toolutil_answered(status, body, type);
    toolutil_read(name, &t->endpoint, args_text, &r, out);
}

/* The body (status 200, JSON) reads as exactly the result want. */
static void expect_typed(const char *name, const char *args, const char *body,
                         const char *type, const char *want)
{
    struct tool_outcome out;
    read_answer(name, args, 200, body, type, &out);
    ck_assert_msg(out.error_text == NULL, "%s on %s: %s", name, body,
                  out.error_text ? out.error_text : "");
    toolutil_expect_conforms(name, out.structured);
    json_t *w = json_loads(want, 0, NULL);
    ck_assert_msg(w != NULL, "bad expected JSON %s", want);
    char *got = json_dumps(out.structured, JSON_COMPACT);
    ck_assert_msg(json_equal(out.structured, w), "%s on %s:\ngot  %s\nwant %s", name,
                  body, got, want);
    free(got);
    json_decref(w);
    tool_outcome_finish(&out);
}

static void expect_read(const char *name, const char *args, const char *body,
                        const char *want)
{
    expect_typed(name, args, body, "application/json", want);
}

static void expect_error(const char *name, const char *args, long status,
                         const char *body, const char *type, const char *want)
{
    struct tool_outcome out;
    read_answer(name, args, status, body, type, &out);
    ck_assert_ptr_null(out.structured);
    ck_assert_ptr_nonnull(out.error_text);
    ck_assert_str_eq(out.error_text, want);
    tool_outcome_finish(&out);
}

/* ---- get_event_types ---- */

START_TEST(event_types_every_shape)
{
    /* One item as the sandbox invents it, in each envelope. */
    const char *item = "{\"id\":1,\"name\":\"login\",\"description\":\"Signed in.\"}";
    const char *want =
        "{\"event_types\":[{\"id\":\"1\",\"name\":\"login\",\"description\":"
        "\"Signed in.\",\"upstream\":{\"id\":1,\"name\":\"login\","
        "\"description\":\"Signed in.\"}}],\"total\":1}";
    static const char *const shapes[] = {
        "{\"data\":[%s]" OK2,
        "[%s]",
        "{\"data\":[%s]}",
        "{\"data\":{\"data\":[%s],\"total\":1}" OK2,
        "{\"data\":{\"eventTypes\":[%s]}}",
        "{\"data\":{\"event_types\":[%s]}" OK2,
        "{\"event_types\":[%s]}",
        "{\"events\":[%s],\"count\":1}",
        "{\"data\":{\"rows\":[%s],\"page\":1}}",
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        expect_read("get_event_types", "{}", testutil_fmt(shapes[i], item), want);
}
END_TEST

START_TEST(event_types_ids_and_names)
{
    /* Composio's model names the id event_type_id; MSG91's prototype
     * service names it identifier and adds a type no one asked for. */
    expect_read(
        "get_event_types", "{}",
        "[{\"event_type_id\":7,\"name\":\"signup\",\"createdAt\":\"2024-01-01\"},"
        "{\"identifier\":\"ev_9\",\"event_name\":\"page\",\"type\":\"page\"},"
        "{\"event_id\":\"x1\",\"name\":\"buy\"},{\"kind\":\"odd\"},\"logout\"]",
        "{\"event_types\":["
        "{\"id\":\"7\",\"name\":\"signup\",\"upstream\":{\"event_type_id\":7,"
        "\"name\":\"signup\",\"createdAt\":\"2024-01-01\"}},"
        "{\"id\":\"ev_9\",\"name\":\"page\",\"upstream\":{\"identifier\":\"ev_9\","
        "\"event_name\":\"page\",\"type\":\"page\"}},"
        "{\"id\":\"x1\",\"name\":\"buy\",\"upstream\":{\"event_id\":\"x1\","
        "\"name\":\"buy\"}},"
        "{\"upstream\":{\"kind\":\"odd\"}},"
        "{\"name\":\"logout\"}],\"total\":5}");
    expect_read("get_event_types", "{}", "{\"data\":[]" OK2,
                "{\"event_types\":[],\"total\":0}");
}
END_TEST

START_TEST(event_types_errors)
{
    expect_error("get_event_types", "{}", 200, "Event types: login, logout", "text/plain",
                 "MSG91 answered with something that is not JSON (HTTP 200, text/plain): "
                 "\"Event types: login, logout\". Check that MSG91_BASE_URL points at "
                 "MSG91 and not at a proxy or captive portal.");
    expect_error(
        "get_event_types", "{}", 200,
        "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Phonebook missing\"}",
        "application/json", "MSG91 returned an error: Phonebook missing.");
    expect_error("get_event_types", "{}", 200,
                 "{\"type\":\"error\",\"message\":\"Unknown account\"}",
                 "application/json", "MSG91 returned an error: Unknown account.");
    expect_error(
        "get_event_types", "{}", 200, "[\"login\",7]", "application/json",
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): event type 1 "
        "is neither an object nor a name: [\"login\",7].");
    expect_error(
        "get_failed_events", FAILED, 200, "{\"data\":[\"e1\"]}", "application/json",
        "MSG91 answered with JSON of an unexpected shape (HTTP 200): failed event "
        "0 is not an object: {\"data\":[\"e1\"]}.");
    expect_error("get_event_types", "{}", 200, "{\"data\":{\"count\":0}}",
                 "application/json",
                 "MSG91 answered with JSON of an unexpected shape (HTTP 200): no list "
                 "found in it: {\"data\":{\"count\":0}}.");
}
END_TEST

/* ---- get_failed_events ---- */

START_TEST(failed_events_every_shape)
{
    const char *item = "{\"eventId\":\"e1\",\"reason\":\"visitor_id not found in "
                       "phonebook\",\"recipient\":\"c9\",\"timestamp\":\"2026-01-02\"}";
    char want[1024];
    snprintf(
        want, sizeof want,
        "{\"campaign_id\":\"1032\",\"failed_events\":[{\"event_id\":\"e1\",\"reason\":"
        "\"visitor_id not found in phonebook\",\"recipient\":\"c9\",\"timestamp\":"
        "\"2026-01-02\",\"upstream\":%s}],\"page\":1,\"limit\":10,\"total\":1}",
        item);
    static const char *const shapes[] = {
        "{\"data\":{\"failedEvents\":[%s],\"page\":1,\"limit\":10,\"total\":1}" OK2,
        "[%s]",
        "{\"data\":[%s]" OK2,
        "{\"data\":{\"data\":[%s]}}",
        "{\"data\":{\"failed_events\":[%s]}}",
        "{\"failedEvents\":[%s],\"total\":1}",
        "{\"events\":[%s]}",
        "{\"data\":{\"list\":[%s],\"total\":1}}",
    };
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++)
        expect_read("get_failed_events", FAILED, testutil_fmt(shapes[i], item), want);
}
END_TEST

START_TEST(failed_events_fields_and_paging)
{
    /* Ids, names, reasons and times under the spellings MSG91 uses for
     * events; the paging of the object that holds the list. */
    expect_read(
        "get_failed_events", "{\"campaign_id\":\"1032\",\"page\":2,\"limit\":2}",
        "{\"data\":{\"data\":[{\"identifier\":\"u7\",\"event_name\":\"login\","
        "\"visitor_id\":\"contact-9\",\"error\":\"bad payload\",\"created_at\":"
        "\"2026-01-03 10:00:00\"},{\"event_id\":42,\"failure_reason\":\"x\","
        "\"event_timestamp\":\"2026-01-04 00:00:00\"}],\"pageNo\":2,\"itemsPerPage\":2,"
        "\"totalEntityCount\":9}" OK2,
        "{\"campaign_id\":\"1032\",\"failed_events\":["
        "{\"event_id\":\"u7\",\"event_name\":\"login\",\"reason\":\"bad payload\","
        "\"recipient\":\"contact-9\",\"timestamp\":\"2026-01-03 10:00:00\",\"upstream\":"
        "{\"identifier\":\"u7\",\"event_name\":\"login\",\"visitor_id\":\"contact-9\","
        "\"error\":\"bad payload\",\"created_at\":\"2026-01-03 10:00:00\"}},"
        "{\"event_id\":\"42\",\"reason\":\"x\",\"timestamp\":\"2026-01-04 00:00:00\","
        "\"upstream\":{\"event_id\":42,\"failure_reason\":\"x\",\"event_timestamp\":"
        "\"2026-01-04 00:00:00\"}}],\"page\":2,\"limit\":2,\"total\":9}");
    /* Without counts: the call's page and limit, the list's length. */
    expect_read("get_failed_events", "{\"campaign_id\":\"7\",\"page\":3,\"limit\":5}",
                "[]",
                "{\"campaign_id\":\"7\",\"failed_events\":[],\"page\":3,\"limit\":5,"
                "\"total\":0}");
}
END_TEST

START_TEST(failed_events_errors)
{
    expect_error("get_failed_events", FAILED, 200, "<html>ok</html>", "text/html",
                 "MSG91 answered with something that is not JSON (HTTP 200, text/html): "
                 "\"<html>ok</html>\". Check that MSG91_BASE_URL points at MSG91 and not "
                 "at a proxy or captive portal.");
    expect_error(
        "get_failed_events", FAILED, 404,
        "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Campaign not found\"}",
        "application/json",
        "MSG91 did not find campaign \"1032\" (HTTP 404: Campaign not found). Get "
        "valid campaign ids from list_campaigns.");
}
END_TEST

/* ---- create_user_events ---- */

START_TEST(user_events_every_shape)
{
    /* The prototype of MSG91's events service answers in plain text. */
    expect_typed("create_user_events", EVENTS, "Event Created", "text/html",
                 "{\"accepted\":2,\"message\":\"Event Created\"}");
    expect_typed("create_user_events", EVENTS, "", NULL, "{\"accepted\":2}");
    expect_read("create_user_events", EVENTS, "{\"data\":{\"accepted\":1}" OK2,
                "{\"accepted\":1,\"upstream\":{\"accepted\":1}}");
    expect_read("create_user_events", EVENTS, "{\"type\":\"success\",\"message\":\"ok\"}",
                "{\"accepted\":2,\"message\":\"ok\",\"upstream\":{\"type\":\"success\","
                "\"message\":\"ok\"}}");
    expect_read("create_user_events", EVENTS,
                "{\"message\":\"Events queued\",\"count\":2}",
                "{\"accepted\":2,\"message\":\"Events queued\",\"upstream\":{\"message\":"
                "\"Events queued\",\"count\":2}}");
    expect_read("create_user_events", EVENTS, "[\"e1\",\"e2\"]",
                "{\"accepted\":2,\"upstream\":{\"data\":[\"e1\",\"e2\"]}}");
    expect_read(
        "create_user_events", EVENTS, "{\"data\":{\"message\":\"Done\"}}",
        "{\"accepted\":2,\"message\":\"Done\",\"upstream\":{\"data\":{\"message\":"
        "\"Done\"}}}");
}
END_TEST

START_TEST(user_events_errors)
{
    expect_error(
        "create_user_events", EVENTS, 200,
        "{\"status\":\"fail\",\"hasError\":true,\"errors\":[\"The data.0.visitor_id "
        "field is required.\"]}",
        "application/json",
        "MSG91 returned an error: The data.0.visitor_id field is required.");
    expect_error(
        "create_user_events", EVENTS, 422, "Unprocessable", "text/plain",
        "MSG91 answered with something that is not JSON (HTTP 422, text/plain): "
        "\"Unprocessable\". Check that MSG91_BASE_URL points at MSG91 and not at "
        "a proxy or captive portal.");
}
END_TEST

static Suite *readers_suite(void)
{
    Suite *s = suite_create("readers");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, event_types_every_shape);
    tcase_add_test(tc, event_types_ids_and_names);
    tcase_add_test(tc, event_types_errors);
    tcase_add_test(tc, failed_events_every_shape);
    tcase_add_test(tc, failed_events_fields_and_paging);
    tcase_add_test(tc, failed_events_errors);
    tcase_add_test(tc, user_events_every_shape);
    tcase_add_test(tc, user_events_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(readers_suite());
}
