/* The Segmento tools: create_user_events, get_event_types and
 * get_failed_events. Their upstream paths are unverified (doc/msg91-api.md),
 * so the readers accept the few plausible spellings of each field rather
 * than one guess; answers are family 2 ({"data":...,"status":...}). */
#include "tools/impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/answer.h"
#include "tools/args.h"
#include "tools/request.h"
#include "util/msg.h"

static const struct answer_effect events_effect = {
    "the events may or may not have been recorded",
    "Sending them again could record them twice; check the contact's activity in the "
    "MSG91 panel (or get_failed_events) first.",
};

static const char nomem_text[] =
    "The server ran out of memory while building the request.";

/* ---- RFC 3339 to MSG91's "YYYY-MM-DD HH:MM:SS" in UTC ---- */

/* Value of n decimal digits at s, or -1 when any is not a digit. */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * algorithm), so the conversion does not depend on the C library's time
 * zone handling. */
static long long days_from_civil(long long y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long long z, long long *y, int *m, int *d)
{
    z += 719468;
    long long era = (z >= 0 ? z : z - 146096) / 146097;
    long long doe = z - era * 146097;
    long long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long long mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int y, int m)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Converts an RFC 3339 date-time (offset or Z, optional fraction) into
 * UTC "YYYY-MM-DD HH:MM:SS" in out. Returns 0, or -1 when s is not one. */
static int utc_timestamp(const char *s, char out[20])
{
    size_t len = strlen(s);
    if (len < 20 || s[4] != '-' || s[7] != '-' ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
        return -1;
    int y = digits(s, 4), mo = digits(s + 5, 2), d = digits(s + 8, 2);
    int h = digits(s + 11, 2), mi = digits(s + 14, 2), sec = digits(s + 17, 2);
    if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h < 0 ||
        h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
        return -1;
    /* A leap second has no place in MSG91's format; it is recorded as the
     * second before it. */
    if (sec == 60)
        sec = 59;

    const char *p = s + 19;
    /* MSG91 keeps whole seconds; the fraction is dropped, which keeps the
     * event inside the second it happened. */
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return -1;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    long long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh = digits(p + 1, 2), om = -1;
        if (oh >= 0 && p[3] == ':')
            om = digits(p + 4, 2);
        if (oh < 0 || oh > 23 || om < 0 || om > 59)
            return -1;
        offset = (oh * 3600LL + om * 60LL) * (*p == '-' ? -1 : 1);
        p += 6;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;

    long long t =
        days_from_civil(y, mo, d) * 86400LL + h * 3600LL + mi * 60LL + sec - offset;
    long long days = t >= 0 ? t / 86400 : -((-t + 86399) / 86400);
    long long rem = t - days * 86400;
    long long uy;
    int um, ud;
    civil_from_days(days, &uy, &um, &ud);
    if (uy < 1 || uy > 9999)
        return -2;       /* valid, but outside what "YYYY-MM-DD" can say in UTC */
    int secs = (int)rem; /* 0..86399 */
    snprintf(out, 20, "%04u-%02u-%02u %02u:%02u:%02u", (unsigned)uy % 10000u,
             (unsigned)um % 100u, (unsigned)ud % 100u, (unsigned)secs / 3600u % 100u,
             (unsigned)secs % 3600u / 60u, (unsigned)secs % 60u);
    return 0;
}

/* ---- create_user_events ---- */

/* One event as Segmento wants it, for the visitor data (the identifier):
 * a request_item_fn. Returns a new reference, or NULL with *error set. */
static json_t *event_body(json_t *event, size_t i, const void *data, char **error)
{
    const char *identifier = data;
    const char *name = json_string_value(json_object_get(event, "name"));
    if (!name) {
        request_failf(error, "events/%zu/name is required.", i);
        return NULL;
    }
    char when[20];
    const char *timestamp = json_string_value(json_object_get(event, "timestamp"));
    int rc = timestamp ? utc_timestamp(timestamp, when) : 0;
    if (rc == -2) {
        request_failf(error,
                      "events/%zu/timestamp falls outside the years 0001 to 9999 once "
                      "converted to UTC; use a date within them.",
                      i);
        return NULL;
    }
    if (rc != 0) {
        request_failf(error,
                      "events/%zu/timestamp is not an RFC 3339 date-time with a time "
                      "zone, e.g. 2024-05-01T10:30:00+05:30 or 2024-05-01T05:00:00Z.",
                      i);
        return NULL;
    }
    json_t *properties = json_object_get(event, "properties");
    json_t *obj = json_object();
    if (!obj || json_object_set_new(obj, "event_name", json_string(name)) ||
        json_object_set_new(obj, "visitor_id", json_string(identifier)) ||
        json_object_set_new(obj, "event_properties",
                            json_is_object(properties) ? json_incref(properties)
                                                       : json_object()) ||
        (timestamp && json_object_set_new(obj, "event_timestamp", json_string(when))) ||
        json_object_set_new(obj, "type", json_string("track"))) {
        json_decref(obj);
        request_fail(error, nomem_text);
        return NULL;
    }
    return obj;
}

int create_user_events_build(const struct tool_build_ctx *ctx, json_t *args,
                             struct http_request *req, char **error)
{
    const char *identifier = json_string_value(json_object_get(args, "identifier"));
    json_t *events = json_object_get(args, "events");
    if (!identifier || !json_is_array(events))
        return request_fail(error, "identifier and events are required.");

    json_t *list = request_list(events, event_body, identifier, error);
    if (!list)
        return -1;
    json_t *body = json_pack("{s:o}", "data", list);
    if (!body)
        return request_fail(error, nomem_text);

    struct request_url u;
    if (request_url_init(&u, ctx, args, error) != 0) {
        json_decref(body);
        return -1;
    }
    return request_complete(ctx, &u, body, req, error);
}

/* The success of create_user_events: how many events MSG91 took. */
static void read_accepted(const struct answer *a, const struct http_response *resp,
                          json_t *args, struct tool_outcome *out)
{
    (void)resp;
    /* Without a count, a success means MSG91 took every event it was given. */
    json_t *accepted = json_object_get(a->data, "accepted");
    json_int_t n = json_is_integer(accepted) && json_integer_value(accepted) >= 0
                       ? json_integer_value(accepted)
                       : (json_int_t)json_array_size(json_object_get(args, "events"));
    const char *message = json_string_value(json_object_get(a->data, "message"));
    if (!message)
        message = json_string_value(json_object_get(a->root, "message"));
    json_t *result = json_pack("{s:I}", "accepted", n);
    if (result && message &&
        json_object_set_new(result, "message", json_string(message))) {
        json_decref(result);
        result = NULL;
    }
    answer_success(out, result);
}

void create_user_events_read(const struct tool_read_ctx *ctx,
                             const struct http_response *resp, json_t *args,
                             struct tool_outcome *out)
{
    static const struct answer_reader reader = {&events_effect, read_accepted, NULL,
                                                NULL};
    answer_run(&reader, ctx, resp, args, out);
}

/* ---- get_event_types ---- */

int get_event_types_build(const struct tool_build_ctx *ctx, json_t *args,
                          struct http_request *req, char **error)
{
    struct request_url u;
    if (request_url_init(&u, ctx, args, error) != 0)
        return -1;
    return request_complete(ctx, &u, NULL, req, error);
}

/* The list inside data: data itself, or the first array under one of the
 * names a paginated variant might use. Borrowed, or NULL. */
static json_t *list_in(json_t *data, const char *const *names)
{
    if (json_is_array(data))
        return data;
    for (size_t i = 0; names[i]; i++) {
        json_t *v = json_object_get(data, names[i]);
        if (json_is_array(v))
            return v;
    }
    return NULL;
}

/* Copies member `from` of src into dst as the string `to`; integers are
 * written in decimal, since ids are strings in our results whatever MSG91
 * sends. Absent or other types are left out. Returns 0, -1 on no memory. */
static int copy_id_string(json_t *dst, const char *to, json_t *src, const char *from)
{
    json_t *v = json_object_get(src, from);
    if (json_is_string(v))
        return json_object_set(dst, to, v);
    if (json_is_integer(v)) {
        char buf[32];
        snprintf(buf, sizeof buf, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return json_object_set_new(dst, to, json_string(buf));
    }
    return 0;
}

/* The first of two spellings (MSG91 mixes camelCase and snake_case). */
static const char *either(json_t *obj, const char *a, const char *b)
{
    return json_object_get(obj, a) ? a : b;
}

/* An answer_item_fn: one event type. */
static json_t *event_type(json_t *item, size_t index, char *what, size_t what_size)
{
    const char *key = either(item, "name", "event_name");
    const char *name = json_string_value(json_object_get(item, key));
    if (!name) {
        snprintf(what, what_size, "event type %zu has no \"name\"", index);
        return NULL;
    }
    json_t *t = json_object();
    json_t *description = json_object_get(item, "description");
    if (!t || copy_id_string(t, "id", item, either(item, "id", "event_id")) ||
        json_object_set_new(t, "name", json_string(name)) ||
        (json_is_string(description) && json_object_set(t, "description", description))) {
        json_decref(t);
        return NULL;
    }
    return t;
}

/* The success of get_event_types: the list, whichever spelling holds it. */
static void read_event_types(const struct answer *a, const struct http_response *resp,
                             json_t *args, struct tool_outcome *out)
{
    (void)args;
    static const char *const names[] = {"data", "eventTypes", "event_types", NULL};
    json_t *list = list_in(a->data, names);
    if (!list) {
        answer_wrong_shape(resp, NULL, "\"data\" is not a list of event types", out);
        return;
    }
    json_t *types;
    if (answer_list(resp, NULL, list, event_type, &types, out) != 0)
        return;
    answer_success(out, types ? json_pack("{s:o, s:I}", "event_types", types, "total",
                                          (json_int_t)json_array_size(types))
                              : NULL);
}

void get_event_types_read(const struct tool_read_ctx *ctx,
                          const struct http_response *resp, json_t *args,
                          struct tool_outcome *out)
{
    static const struct answer_reader reader = {NULL, read_event_types, NULL, NULL};
    answer_run(&reader, ctx, resp, args, out);
}

/* ---- get_failed_events ---- */

int get_failed_events_build(const struct tool_build_ctx *ctx, json_t *args,
                            struct http_request *req, char **error)
{
    json_int_t page, limit;
    if (args_page(args, 10, &page, &limit, error) != 0)
        return -1;
    const char *start = json_string_value(json_object_get(args, "start_date"));
    const char *end = json_string_value(json_object_get(args, "end_date"));

    struct request_url u;
    if (request_url_init(&u, ctx, args, error) != 0)
        return -1;
    /* The default is POST with a JSON body; since the endpoint is
     * unverified and may be overridden to GET, the same fields then travel
     * as query parameters, as a GET body would be ignored. */
    if (strcmp(ctx->endpoint->method, "GET") == 0) {
        request_url_add_int(&u, "page", page);
        request_url_add_int(&u, "limit", limit);
        if (start)
            request_url_add(&u, "start_date", start);
        if (end)
            request_url_add(&u, "end_date", end);
        return request_complete(ctx, &u, NULL, req, error);
    }
    json_t *body = json_pack("{s:I, s:I}", "page", page, "limit", limit);
    if (body && ((start && json_object_set_new(body, "start_date", json_string(start))) ||
                 (end && json_object_set_new(body, "end_date", json_string(end))))) {
        json_decref(body);
        body = NULL;
    }
    if (!body) {
        request_url_finish(&u);
        return request_fail(error, nomem_text);
    }
    return request_complete(ctx, &u, body, req, error);
}

/* A positive integer member, or fallback. */
static json_int_t positive(json_t *obj, const char *name, json_int_t fallback)
{
    json_t *v = json_object_get(obj, name);
    return json_is_integer(v) && json_integer_value(v) >= 1 ? json_integer_value(v)
                                                            : fallback;
}

/* An answer_item_fn: one failed event (any shape will do). */
static json_t *failed_event(json_t *item, size_t index, char *what, size_t what_size)
{
    (void)index;
    (void)what;
    (void)what_size;
    json_t *e = json_object();
    if (!e || copy_id_string(e, "event_id", item, either(item, "eventId", "event_id")) ||
        copy_id_string(e, "reason", item, "reason") ||
        copy_id_string(e, "recipient", item, "recipient") ||
        copy_id_string(e, "timestamp", item, "timestamp")) {
        json_decref(e);
        return NULL;
    }
    return e;
}

static void campaign_not_found(const struct answer *a, json_t *args,
                               struct tool_outcome *out)
{
    const char *id = json_string_value(json_object_get(args, "campaign_id"));
    char *clean = answer_excerpt(id ? id : "", id ? strlen(id) : 0, 100);
    char *text = clean
                     ? msg_format("MSG91 did not find campaign \"%s\" (HTTP %ld: %s). "
                                  "Get valid campaign ids from list_campaigns.",
                                  clean, a->status, a->message ? a->message : "not found")
                     : NULL;
    free(clean);
    free(out->error_text);
    out->error_text = text ? text : strdup("MSG91 did not find the campaign.");
}

/* The success of get_failed_events: the events of one page. */
static void read_failed_events(const struct answer *a, const struct http_response *resp,
                               json_t *args, struct tool_outcome *out)
{
    static const char *const names[] = {"failedEvents", "failed_events", NULL};
    json_t *list = json_is_object(a->data) ? list_in(a->data, names) : NULL;
    if (!list) {
        answer_wrong_shape(resp, NULL, "\"data.failedEvents\" is missing", out);
        return;
    }
    json_t *events;
    if (answer_list(resp, NULL, list, failed_event, &events, out) != 0)
        return;
    const char *campaign = json_string_value(json_object_get(args, "campaign_id"));
    json_int_t page = positive(a->data, "page", args_integer_or(args, "page", 1));
    json_int_t limit = positive(a->data, "limit", args_integer_or(args, "limit", 10));
    json_t *total = json_object_get(a->data, "total");
    json_int_t n = json_is_integer(total) && json_integer_value(total) >= 0
                       ? json_integer_value(total)
                       : (json_int_t)json_array_size(events);
    answer_success(out, events
                            ? json_pack("{s:s, s:o, s:I, s:I, s:I}", "campaign_id",
                                        campaign ? campaign : "", "failed_events", events,
                                        "page", page, "limit", limit, "total", n)
                            : NULL);
}

/* A refusal of get_failed_events: an unknown campaign gets a sentence of
 * its own. */
static void failed_events_refused(const struct answer *a, json_t *args,
                                  struct tool_outcome *out)
{
    if (a->status == 404 || (a->message && strcmp(a->message, "Campaign not found") == 0))
        campaign_not_found(a, args, out);
    else
        answer_refused(a, NULL, out);
}

void get_failed_events_read(const struct tool_read_ctx *ctx,
                            const struct http_response *resp, json_t *args,
                            struct tool_outcome *out)
{
    static const struct answer_reader reader = {NULL, read_failed_events,
                                                failed_events_refused, NULL};
    answer_run(&reader, ctx, resp, args, out);
}
