/* The Segmento tools: create_user_events, get_event_types and
 * get_failed_events. Their upstream paths and answers are unverified
 * (doc/msg91-api.md), so a 2xx answer of any reasonable shape is read: a
 * family 2 envelope, a bare list, a list under any plausible name, and for
 * create_user_events plain text. Known fields are read from the spellings
 * sources show, and every item keeps MSG91's own fields under "upstream". */
#include "tools/impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/answer.h"
#include "tools/args.h"
#include "tools/listing.h"
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
    /* MSG91's visitor_id is the contact's id in the Segmento phonebook; a
     * phone number given for it is sent as digits, like every mobile. */
    struct request_values v;
    request_values_init(&v);
    request_put_phone(&v, args, "identifier");
    const char *visitor = json_string_value(json_object_get(v.obj, "identifier"));
    json_t *list =
        visitor ? request_list(args, "events", event_body, visitor, error) : NULL;
    if (!list) {
        if (!visitor)
            request_fail(error, v.failed ? nomem_text : "identifier is required.");
        request_values_finish(&v);
        return -1;
    }
    request_put(&v, "events", list);
    return request_build(ctx, &v, req, error);
}

/* The success of create_user_events: how many events MSG91 took, its
 * message, and what it answered (family 2's "data", else the whole JSON). The answer may
 * be JSON of any shape or plain text ("Event Created"); without a count, a success means
 * MSG91 took every event it was given. */
static void read_accepted(const struct answer *a, const struct http_response *resp,
                          json_t *args, struct tool_outcome *out)
{
    static const char *const counts[] = {"accepted", "count", NULL};
    json_int_t n = (json_int_t)json_array_size(json_object_get(args, "events"));
    n = listing_int(a->root, counts, 0,
                    listing_int(json_object_get(a->root, "data"), counts, 0, n));
    const char *message = json_string_value(json_object_get(a->root, "message"));
    if (!message)
        message = json_string_value(
            json_object_get(json_object_get(a->root, "data"), "message"));
    char *text = !a->root ? answer_excerpt(resp->body, resp->body_len, 200) : NULL;
    if (text && text[0])
        message = text;
    /* What MSG91 answered, always an object: a list or a bare value goes
     * under "data", where family 2 puts its own. */
    json_t *upstream = NULL;
    if (json_is_object(a->data))
        upstream = json_incref(a->data);
    else if (a->data && !json_is_null(a->data))
        upstream = json_pack("{s:O}", "data", a->data);
    json_t *result = json_pack("{s:I}", "accepted", n);
    if (result &&
        ((message && json_object_set_new(result, "message", json_string(message))) ||
         (upstream && json_object_set(result, "upstream", upstream)))) {
        json_decref(result);
        result = NULL;
    }
    json_decref(upstream);
    free(text);
    answer_success(out, result);
}

const struct answer_reader create_user_events_reader = {
    .effect = &events_effect,
    .success = read_accepted,
    .accept = ANSWER_ACCEPT_ANY | ANSWER_ACCEPT_TEXT,
};

/* ---- get_event_types ---- */

int get_event_types_build(const struct tool_build_ctx *ctx, json_t *args,
                          struct http_request *req, char **error)
{
    (void)args;
    struct request_values v;
    request_values_init(&v);
    return request_build(ctx, &v, req, error);
}

/* An answer_item_fn: one event type, its known fields read from the
 * spellings sources show (a bare name is a name too). */
static json_t *event_type(json_t *item, size_t index, char *what, size_t what_size)
{
    static const char *const ids[] = {"id", "event_type_id", "event_id", "identifier",
                                      NULL};
    static const char *const names[] = {"name", "event_name", NULL};
    static const char *const descriptions[] = {"description", NULL};
    if (json_is_string(item))
        return json_pack("{s:O}", "name", item);
    if (!json_is_object(item)) {
        snprintf(what, what_size, "event type %zu is neither an object nor a name",
                 index);
        return NULL;
    }
    json_t *t = json_object();
    if (!t || listing_copy_string(t, "id", item, ids) ||
        listing_copy_string(t, "name", item, names) ||
        listing_copy_string(t, "description", item, descriptions) ||
        listing_keep(t, item)) {
        json_decref(t);
        return NULL;
    }
    return t;
}

/* The items of a Segmento answer's list, wherever it is, each made by
 * each. Returns 0 with *items set (NULL when memory ran out) and *holder
 * the object holding the list, or -1 with out's error text set. */
static int segmento_items(const struct answer *a, const struct http_response *resp,
                          const char *const *names, answer_item_fn each, json_t **holder,
                          json_t **items, struct tool_outcome *out)
{
    json_t *list = listing_find(a->data, names, holder);
    if (!list) {
        answer_wrong_shape(resp, NULL, "no list found in it", out);
        return -1;
    }
    return answer_list(resp, NULL, list, each, items, out);
}

/* The success of get_event_types: the list, wherever the answer holds it. */
static void read_event_types(const struct answer *a, const struct http_response *resp,
                             json_t *args, struct tool_outcome *out)
{
    (void)args;
    static const char *const names[] = {"eventTypes", "event_types", "events", NULL};
    json_t *holder, *types;
    if (segmento_items(a, resp, names, event_type, &holder, &types, out) != 0)
        return;
    answer_success(out, types ? json_pack("{s:o, s:I}", "event_types", types, "total",
                                          (json_int_t)json_array_size(types))
                              : NULL);
}

const struct answer_reader get_event_types_reader = {.success = read_event_types,
                                                     .accept = ANSWER_ACCEPT_ANY};

/* ---- get_failed_events ---- */

int get_failed_events_build(const struct tool_build_ctx *ctx, json_t *args,
                            struct http_request *req, char **error)
{
    struct request_values v;
    request_values_init(&v);
    request_put_arg(&v, args, "campaign_id");
    if (args_put_page(&v, args, 10, error) != 0) {
        request_values_finish(&v);
        return -1;
    }
    request_put_arg(&v, args, "start_date");
    request_put_arg(&v, args, "end_date");
    return request_build(ctx, &v, req, error);
}

/* An answer_item_fn: one failed event (any shape will do). */
static json_t *failed_event(json_t *item, size_t index, char *what, size_t what_size)
{
    static const char *const ids[] = {"eventId", "event_id", "id", "identifier", NULL};
    static const char *const names[] = {"event_name", "eventName", "name", NULL};
    static const char *const reasons[] = {"reason", "failure_reason", "error", NULL};
    static const char *const recipients[] = {"recipient", "visitor_id", NULL};
    static const char *const times[] = {"timestamp", "event_timestamp", "created_at",
                                        "createdAt", NULL};
    if (!json_is_object(item)) {
        snprintf(what, what_size, "failed event %zu is not an object", index);
        return NULL;
    }
    json_t *e = json_object();
    if (!e || listing_copy_string(e, "event_id", item, ids) ||
        listing_copy_string(e, "event_name", item, names) ||
        listing_copy_string(e, "reason", item, reasons) ||
        listing_copy_string(e, "recipient", item, recipients) ||
        listing_copy_string(e, "timestamp", item, times) || listing_keep(e, item)) {
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
    static const char *const names[] = {"failedEvents", "failed_events", "events", NULL};
    static const char *const pages[] = {"page", "pageNo", NULL};
    static const char *const limits[] = {"limit", "itemsPerPage", NULL};
    static const char *const totals[] = {"total", "totalEntityCount", "totalCount", NULL};
    json_t *holder, *events;
    if (segmento_items(a, resp, names, failed_event, &holder, &events, out) != 0)
        return;
    const char *campaign = json_string_value(json_object_get(args, "campaign_id"));
    json_int_t page = listing_int(holder, pages, 1, args_integer_or(args, "page", 1));
    json_int_t limit = listing_int(holder, limits, 1, args_integer_or(args, "limit", 10));
    json_int_t n = listing_int(holder, totals, 0, (json_int_t)json_array_size(events));
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

const struct answer_reader get_failed_events_reader = {
    .success = read_failed_events,
    .refused = failed_events_refused,
    .accept = ANSWER_ACCEPT_ANY,
};
