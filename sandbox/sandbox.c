/* The sandbox's HTTP side: a libmicrohttpd daemon on 127.0.0.1 with one
 * thread per connection (so a delayed answer never holds up another), the
 * upload buffer and its cap, the recording of every request, the
 * misbehaviour rules, the statistics and the control routes under
 * /_sandbox/. What MSG91 would answer is decided in state.c. */
#include "sandbox/sandbox.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "sandbox/internal.h"
#include "util/msg.h"

/* For clang-tidy: the Annex K (*_s) functions it suggests are not in glibc,
 * and every copy here is bounded by its size; parameter lists of the same
 * type are fixed by the libraries' callbacks or read as HTTP names them.
 * NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling)
 * NOLINTBEGIN(bugprone-easily-swappable-parameters) */

/* An upload larger than this is answered with 413 and not kept. */
#define MAX_UPLOAD ((size_t)16 * 1024 * 1024)
/* Older records are dropped past this many, so a benchmark cannot
 * exhaust memory; tests clear the list long before. */
#define MAX_RECORDS 10000
#define MAX_RULES 64
/* Room for the 1,000 simultaneous connections the tests open, and more. */
#define CONNECTION_LIMIT 8192
#define WANT_FDS 16384

#define CONTROL_PREFIX "/_sandbox/"

struct rule {
    bool any_tool;
    enum sandbox_tool tool;
    long delay_ms;
    unsigned status; /* 0: keep the normal status */
    char *body;      /* NULL: keep the normal body */
    char *content_type;
    bool reset;
    /* Answer MSG91's coded refusal: code "" for none ("ip_blocked" is
     * "418"), message NULL for the code's wording, envelope -1 for the
     * route's family, else 0 (family 1) or 1 (family 2). */
    char code[8];
    char *message;
    int envelope;
    bool huge;
    uint64_t huge_bytes;
    long retry_after; /* -1: none */
    unsigned count;   /* answers left; 0: until cleared */
};

struct sandbox {
    struct MHD_Daemon *daemon;
    uint16_t port;
    char *auth_key;
    struct sandbox_router *router;
    struct sandbox_state *state;

    /* Guards rules, records and statistics, never the domain state. */
    pthread_mutex_t lock;
    struct rule rules[MAX_RULES];
    size_t rule_count;
    json_t *records;
    uint64_t received;
    unsigned inflight;
    unsigned max_inflight;

    /* Delays wait on this condition so destroy can cut them short, and a
     * reset (which bumps resets) can drop them. */
    pthread_mutex_t stop_lock;
    pthread_cond_t stop_cond;
    bool stopping;
    uint64_t resets;
};

/* One request, from the URI log callback to the completion callback. */
struct request {
    char *uri; /* raw, as it came on the request line */
    bool started;
    bool counted; /* included in inflight */
    bool too_large;
    char *body;
    size_t len, cap;
};

/* ---- small helpers ---- */

static void rule_finish(struct rule *r)
{
    free(r->body);
    free(r->content_type);
    free(r->message);
    memset(r, 0, sizeof *r);
}

static void clear_rules(struct sandbox *sb)
{
    for (size_t i = 0; i < sb->rule_count; i++)
        rule_finish(&sb->rules[i]);
    sb->rule_count = 0;
}

/* Adds the headers every answer may carry and queues it; takes resp. */
static enum MHD_Result send_response(struct MHD_Connection *conn, unsigned status,
                                     struct MHD_Response *resp, const char *content_type,
                                     long retry_after)
{
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    if (retry_after >= 0) {
        char v[32];
        snprintf(v, sizeof v, "%ld", retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, v);
    }
    enum MHD_Result rc = MHD_queue_response(conn, status, resp);
    MHD_destroy_response(resp);
    return rc;
}

/* A response that takes body (NULL: empty); NULL when out of memory. */
static struct MHD_Response *response_of(char *body)
{
    size_t len = body ? strlen(body) : 0;
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, body ? body : "", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp)
        free(body);
    return resp;
}

static enum MHD_Result queue(struct MHD_Connection *conn, unsigned status, char *body,
                             const char *content_type, long retry_after)
{
    struct MHD_Response *resp = response_of(body);
    if (!resp)
        return MHD_NO;
    return send_response(conn, status, resp, content_type, retry_after);
}

/* Steals v. */
static enum MHD_Result queue_json(struct MHD_Connection *conn, unsigned status, json_t *v)
{
    struct sandbox_reply r = {0};
    sandbox_reply_json(&r, status, v);
    return queue(conn, r.status, r.body, "application/json", -1);
}

static enum MHD_Result control_error(struct MHD_Connection *conn, unsigned status,
                                     const char *msg)
{
    return queue_json(conn, status, json_pack("{s:s}", "error", msg));
}

/* Waits up to ms, returning early when the sandbox is being destroyed or
 * reset. No other lock is held here, so other requests carry on meanwhile.
 * Returns false when a reset came meanwhile: the request belongs to the
 * time before it and must neither answer nor touch the state. */
static bool wait_ms(struct sandbox *sb, long ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += ms / 1000;
    deadline.tv_nsec += (ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&sb->stop_lock);
    uint64_t resets = sb->resets;
    while (!sb->stopping && sb->resets == resets &&
           pthread_cond_timedwait(&sb->stop_cond, &sb->stop_lock, &deadline) != ETIMEDOUT)
        ;
    bool kept = sb->resets == resets;
    pthread_mutex_unlock(&sb->stop_lock);
    return kept;
}

/* ---- the huge answer ---- */

struct huge {
    uint64_t size;
};

/* A valid JSON success envelope padded to exactly the asked size, so a
 * client that reads it all could even parse it. */
static const char huge_prefix[] = "{\"type\":\"success\",\"message\":\"";
static const char huge_suffix[] = "\"}";

static ssize_t huge_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    const struct huge *h = cls;
    const uint64_t p = sizeof huge_prefix - 1, s = sizeof huge_suffix - 1;
    bool framed = h->size >= p + s;
    size_t n = 0;
    for (; n < max && pos + n < h->size; n++) {
        uint64_t at = pos + n;
        if (framed && at < p)
            buf[n] = huge_prefix[at];
        else if (framed && at >= h->size - s)
            buf[n] = huge_suffix[at - (h->size - s)];
        else
            buf[n] = 'x';
    }
    return n ? (ssize_t)n : MHD_CONTENT_READER_END_OF_STREAM;
}

static enum MHD_Result queue_huge(struct MHD_Connection *conn, unsigned status,
                                  uint64_t size, const char *content_type,
                                  long retry_after)
{
    struct huge *h = malloc(sizeof *h);
    if (!h)
        return MHD_NO;
    h->size = size;
    struct MHD_Response *resp =
        MHD_create_response_from_callback(size, (size_t)64 * 1024, huge_read, h, free);
    if (!resp) {
        free(h);
        return MHD_NO;
    }
    return send_response(conn, status, resp, content_type, retry_after);
}

/* ---- recording ---- */

static void base64(const unsigned char *in, size_t len, char *out)
{
    static const char tbl[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)in[i + 1] << 8;
        if (i + 2 < len)
            v |= in[i + 2];
        out[o++] = tbl[(v >> 18) & 63];
        out[o++] = tbl[(v >> 12) & 63];
        out[o++] = (char)(i + 1 < len ? tbl[(v >> 6) & 63] : '=');
        out[o++] = (char)(i + 2 < len ? tbl[v & 63] : '=');
    }
    out[o] = '\0';
}

/* The body as a JSON string; a body that is not UTF-8 cannot be one, so it
 * is also kept exactly as "body_base64" next to a lossy "body". */
static void set_body(json_t *rec, const char *body, size_t len)
{
    json_t *s = json_stringn(body, len);
    if (s) {
        json_object_set_new(rec, "body", s);
        return;
    }
    char *lossy = malloc(len + 1);
    char *b64 = malloc(4 * ((len + 2) / 3) + 1);
    if (lossy && b64) {
        for (size_t i = 0; i < len; i++)
            lossy[i] = (char)((unsigned char)body[i] < 0x80 ? body[i] : '?');
        base64((const unsigned char *)body, len, b64);
        json_object_set_new(rec, "body", json_stringn(lossy, len));
        json_object_set_new(rec, "body_base64", json_string(b64));
    }
    free(lossy);
    free(b64);
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    (void)kind;
    json_t *headers = cls;
    char *name = strdup(key);
    if (!name)
        return MHD_YES;
    for (char *p = name; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    const char *prev = json_string_value(json_object_get(headers, name));
    if (prev) {
        /* A repeated header keeps every value, joined as HTTP allows. */
        char *joined = NULL;
        if (asprintf(&joined, "%s, %s", prev, value ? value : "") >= 0) {
            json_object_set_new(headers, name, json_string(joined));
            free(joined);
        }
    } else {
        json_object_set_new(headers, name, json_string(value ? value : ""));
    }
    free(name);
    return MHD_YES;
}

static void record(struct sandbox *sb, struct MHD_Connection *conn, const char *method,
                   const char *path, const char *query, const struct request *rq,
                   const char *tool)
{
    json_t *headers = json_object();
    MHD_get_connection_values(conn, MHD_HEADER_KIND, add_header, headers);
    json_t *rec = json_pack("{s:s,s:s,s:s,s:o}", "method", method, "path", path, "query",
                            query, "headers", headers);
    if (!rec)
        return;
    set_body(rec, rq->body ? rq->body : "", rq->too_large ? 0 : rq->len);
    if (rq->too_large)
        json_object_set_new(rec, "too_large", json_true());
    json_object_set_new(rec, "tool", tool ? json_string(tool) : json_null());
    pthread_mutex_lock(&sb->lock);
    if (json_array_size(sb->records) >= MAX_RECORDS)
        json_array_remove(sb->records, 0);
    json_array_append_new(sb->records, rec);
    pthread_mutex_unlock(&sb->lock);
}

/* ---- misbehaviour ---- */

/* Copies the first rule that applies to tool (-1: no route) and uses up one
 * of its answers. Returns true when one applied. */
static bool take_rule(struct sandbox *sb, int tool, struct rule *out)
{
    bool found = false;
    pthread_mutex_lock(&sb->lock);
    for (size_t i = 0; i < sb->rule_count && !found; i++) {
        struct rule *r = &sb->rules[i];
        if (!r->any_tool && (int)r->tool != tool)
            continue;
        *out = *r;
        out->body = r->body ? strdup(r->body) : NULL;
        out->content_type = r->content_type ? strdup(r->content_type) : NULL;
        out->message = r->message ? strdup(r->message) : NULL;
        found = true;
        if (r->count > 0 && --r->count == 0) {
            rule_finish(r);
            memmove(r, r + 1, (sb->rule_count - i - 1) * sizeof *r);
            sb->rule_count--;
        }
    }
    pthread_mutex_unlock(&sb->lock);
    return found;
}

/* Reads an integer field within [min, max]; absent leaves *out alone. */
static bool int_field(json_t *v, const char *key, long long min, long long max,
                      long long *out, const char **problem)
{
    json_t *f = json_object_get(v, key);
    if (!f)
        return false;
    if (!json_is_integer(f) || json_integer_value(f) < min ||
        json_integer_value(f) > max) {
        *problem = key;
        return false;
    }
    *out = json_integer_value(f);
    return true;
}

/* The coded-refusal fields of a rule: "code" (digits, as a string or a
 * number), "ip_blocked" (true: code 418), "message" and "envelope" ("otp"
 * or "campaign"), the last two only with a code. */
static const char *parse_code(json_t *v, struct rule *r)
{
    json_t *code = json_object_get(v, "code");
    json_t *blocked = json_object_get(v, "ip_blocked");
    json_t *message = json_object_get(v, "message");
    json_t *envelope = json_object_get(v, "envelope");
    if (blocked && !json_is_boolean(blocked))
        return "ip_blocked";
    if (json_is_true(blocked))
        snprintf(r->code, sizeof r->code, "418");
    if (json_is_integer(code) && json_integer_value(code) >= 0 &&
        json_integer_value(code) <= 999999) {
        snprintf(r->code, sizeof r->code, "%lld", (long long)json_integer_value(code));
    } else if (json_is_string(code) && json_string_length(code) >= 1 &&
               json_string_length(code) <= 6 &&
               strspn(json_string_value(code), "0123456789") ==
                   json_string_length(code)) {
        snprintf(r->code, sizeof r->code, "%s", json_string_value(code));
    } else if (code) {
        return "code: digits, at most 6";
    }
    if ((message || envelope) && !r->code[0])
        return "message and envelope need a code";
    if (message && !json_is_string(message))
        return "message";
    if (envelope) {
        const char *e = json_string_value(envelope);
        r->envelope = !e                           ? -2
                      : strcmp(e, "otp") == 0      ? 0
                      : strcmp(e, "campaign") == 0 ? 1
                                                   : -2;
        if (r->envelope == -2)
            return "envelope: \"otp\" or \"campaign\"";
    }
    if (message && !(r->message = strdup(json_string_value(message))))
        return "out of memory";
    return NULL;
}

static const char *parse_rule(json_t *v, struct rule *r)
{
    static const char *const known[] = {
        "tool",  "delay_ms",   "status",      "body",  "content_type",
        "reset", "huge_bytes", "retry_after", "count", "ip_blocked",
        "code",  "message",    "envelope"};
    memset(r, 0, sizeof *r);
    r->retry_after = -1;
    r->any_tool = true;
    r->envelope = -1;
    const char *key;
    json_t *val;
    json_object_foreach(v, key, val) {
        bool ok = false;
        for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
            ok = ok || strcmp(key, known[i]) == 0;
        if (!ok)
            return "unknown field";
    }
    json_t *tool = json_object_get(v, "tool");
    if (tool && !json_is_null(tool)) {
        if (sandbox_tool_from_name(json_string_value(tool), &r->tool) != 0)
            return "tool: no such tool";
        r->any_tool = false;
    }
    const char *problem = NULL;
    long long n;
    if (int_field(v, "delay_ms", 0, 600000, &n, &problem))
        r->delay_ms = (long)n;
    if (int_field(v, "status", 100, 599, &n, &problem))
        r->status = (unsigned)n;
    if (int_field(v, "huge_bytes", 0, 1LL << 32, &n, &problem)) {
        r->huge = true;
        r->huge_bytes = (uint64_t)n;
    }
    if (int_field(v, "retry_after", 0, 86400, &n, &problem))
        r->retry_after = (long)n;
    if (int_field(v, "count", 0, 1000000000, &n, &problem))
        r->count = (unsigned)n;
    if (problem)
        return problem;
    json_t *body = json_object_get(v, "body");
    json_t *ctype = json_object_get(v, "content_type");
    json_t *reset = json_object_get(v, "reset");
    if (body && !json_is_string(body))
        return "body";
    if (ctype && !json_is_string(ctype))
        return "content_type";
    if (reset && !json_is_boolean(reset))
        return "reset";
    r->reset = json_is_true(reset);
    const char *problem_code = parse_code(v, r);
    if (problem_code)
        return problem_code;
    /* Retry-After is a rate-limit hint: alone it implies the 429. */
    if (r->retry_after >= 0 && r->status == 0)
        r->status = 429;
    if (body && !(r->body = strdup(json_string_value(body))))
        return "out of memory";
    if (ctype && !(r->content_type = strdup(json_string_value(ctype))))
        return "out of memory";
    return NULL;
}

/* The body a status-only rule answers with, in the family's envelope. */
static json_t *default_body(unsigned status, int tool)
{
    if (status == 429)
        return json_pack("{s:s}", "message", "Too many Attempts");
    const char *text = status == 200   ? "OK"
                       : status < 500  ? "Request failed"
                       : status == 503 ? "Service Unavailable"
                                       : "Internal Server Error";
    if (tool >= 0 && sandbox_tool_is_otp_family((enum sandbox_tool)tool))
        return json_pack("{s:s,s:s}", "type", "error", "message", text);
    return json_pack("{s:s,s:b,s:s}", "status", "fail", "hasError", 1, "errors", text);
}

/* The rule's coded refusal, in the envelope it names or the route's. An
 * unknown route (tool < 0) gets family 1, like MSG91's own 404. */
static void coded_reply(const struct rule *rule, int tool, struct sandbox_reply *out)
{
    bool otp = rule->envelope >= 0
                   ? rule->envelope == 0
                   : tool < 0 || sandbox_tool_is_otp_family((enum sandbox_tool)tool);
    sandbox_reply_coded(out, otp, rule->status, rule->code, rule->message);
}

/* ---- control routes ---- */

static json_t *parse_object(const struct request *rq)
{
    if (rq->len == 0)
        return json_object();
    json_t *v = json_loadb(rq->body, rq->len, 0, NULL);
    if (!json_is_object(v)) {
        json_decref(v);
        return NULL;
    }
    return v;
}

static enum MHD_Result control_ok(struct MHD_Connection *conn)
{
    return queue_json(conn, 200, json_pack("{s:b}", "ok", 1));
}

/* What every control route gets: the request's query (raw) and upload. */
struct control_ctx {
    struct sandbox *sb;
    struct MHD_Connection *conn;
    const char *query;
    const struct request *rq;
};

static enum MHD_Result add_rule(const struct control_ctx *c)
{
    json_t *v = parse_object(c->rq);
    if (!v)
        return control_error(c->conn, 400, "body must be a JSON object");
    struct rule r;
    const char *problem = parse_rule(v, &r);
    json_decref(v);
    if (problem) {
        rule_finish(&r);
        char *msg = NULL;
        if (asprintf(&msg, "bad rule: %s", problem) < 0)
            return MHD_NO;
        enum MHD_Result rc = control_error(c->conn, 400, msg);
        free(msg);
        return rc;
    }
    struct sandbox *sb = c->sb;
    pthread_mutex_lock(&sb->lock);
    size_t count = sb->rule_count;
    if (count < MAX_RULES)
        sb->rules[sb->rule_count++] = r;
    pthread_mutex_unlock(&sb->lock);
    if (count >= MAX_RULES) {
        rule_finish(&r);
        return control_error(c->conn, 400, "too many rules");
    }
    return queue_json(c->conn, 200,
                      json_pack("{s:b,s:I}", "ok", 1, "rules", (json_int_t)count + 1));
}

static enum MHD_Result drop_rules(const struct control_ctx *c)
{
    pthread_mutex_lock(&c->sb->lock);
    clear_rules(c->sb);
    pthread_mutex_unlock(&c->sb->lock);
    return control_ok(c->conn);
}

static enum MHD_Result get_requests(const struct control_ctx *c)
{
    pthread_mutex_lock(&c->sb->lock);
    char *text = json_dumps(c->sb->records, JSON_COMPACT);
    pthread_mutex_unlock(&c->sb->lock);
    char *body = NULL;
    if (!text || asprintf(&body, "{\"requests\":%s}", text) < 0)
        body = NULL;
    free(text);
    if (!body)
        return MHD_NO;
    return queue(c->conn, 200, body, "application/json", -1);
}

static enum MHD_Result drop_requests(const struct control_ctx *c)
{
    pthread_mutex_lock(&c->sb->lock);
    json_array_clear(c->sb->records);
    pthread_mutex_unlock(&c->sb->lock);
    return control_ok(c->conn);
}

static enum MHD_Result get_stats(const struct control_ctx *c)
{
    struct sandbox *sb = c->sb;
    pthread_mutex_lock(&sb->lock);
    json_t *v =
        json_pack("{s:I,s:I,s:I}", "received", (json_int_t)sb->received, "inflight",
                  (json_int_t)sb->inflight, "max_inflight", (json_int_t)sb->max_inflight);
    pthread_mutex_unlock(&sb->lock);
    return queue_json(c->conn, 200, v);
}

static enum MHD_Result reset_stats(const struct control_ctx *c)
{
    pthread_mutex_lock(&c->sb->lock);
    c->sb->received = 0;
    c->sb->max_inflight = 0;
    pthread_mutex_unlock(&c->sb->lock);
    return control_ok(c->conn);
}

static enum MHD_Result get_otp(const struct control_ctx *c)
{
    struct sandbox_params q;
    if (sandbox_params_parse(&q, c->query) != 0)
        return MHD_NO;
    json_t *v = sandbox_state_otp(c->sb->state, sandbox_params_get(&q, "mobile"));
    sandbox_params_finish(&q);
    if (!v)
        return control_error(c->conn, 404, "no OTP for this mobile");
    return queue_json(c->conn, 200, v);
}

static enum MHD_Result get_flows(const struct control_ctx *c)
{
    return queue_json(c->conn, 200, sandbox_state_flows(c->sb->state));
}

static enum MHD_Result get_events(const struct control_ctx *c)
{
    return queue_json(c->conn, 200, sandbox_state_events(c->sb->state));
}

/* Reads the integer field name of the upload (a JSON object) within
 * [min, max]. Returns false when the upload or the field is not that. */
static bool body_integer(const struct control_ctx *c, const char *name, long long min,
                         long long max, long long *value)
{
    json_t *v = parse_object(c->rq);
    json_t *f = json_object_get(v, name);
    bool ok = json_is_integer(f) && json_integer_value(f) >= min &&
              json_integer_value(f) <= max;
    if (ok)
        *value = json_integer_value(f);
    json_decref(v);
    return ok;
}

static enum MHD_Result advance_clock(const struct control_ctx *c)
{
    long long seconds;
    if (!body_integer(c, "advance_s", 0, LLONG_MAX, &seconds))
        return control_error(c->conn, 400, "advance_s must be a non-negative integer");
    sandbox_state_advance(c->sb->state, (int64_t)seconds);
    return control_ok(c->conn);
}

static enum MHD_Result freeze_clock(const struct control_ctx *c)
{
    sandbox_state_freeze(c->sb->state);
    return control_ok(c->conn);
}

static enum MHD_Result set_repeat_window(const struct control_ctx *c)
{
    long long seconds;
    if (!body_integer(c, "seconds", 0, 86400, &seconds))
        return control_error(c->conn, 400, "seconds must be an integer from 0 to 86400");
    sandbox_state_set_repeat_window(c->sb->state, (int64_t)seconds);
    return control_ok(c->conn);
}

static enum MHD_Result reset_all(const struct control_ctx *c)
{
    struct sandbox *sb = c->sb;
    /* Drop the requests still waiting out a delay first, so that none of
     * them can answer into, or change the state of, what follows. */
    pthread_mutex_lock(&sb->stop_lock);
    sb->resets++;
    pthread_cond_broadcast(&sb->stop_cond);
    pthread_mutex_unlock(&sb->stop_lock);
    sandbox_state_reset(sb->state);
    pthread_mutex_lock(&sb->lock);
    clear_rules(sb);
    json_array_clear(sb->records);
    sb->received = 0;
    sb->max_inflight = 0;
    pthread_mutex_unlock(&sb->lock);
    return control_ok(c->conn);
}

typedef enum MHD_Result (*control_fn)(const struct control_ctx *c);

/* The methods a control route may answer, in the order of its handlers. */
static const char *const control_methods[] = {"GET", "POST", "DELETE"};
#define CONTROL_METHODS (sizeof control_methods / sizeof control_methods[0])

/* The control API, one row per resource with its handler for each method
 * (NULL: not answered); doc/sandbox.md lists the same. */
static const struct {
    const char *what; /* the path after CONTROL_PREFIX */
    control_fn by_method[CONTROL_METHODS];
} control_routes[] = {
    {"misbehave", {NULL, add_rule, drop_rules}},
    {"requests", {get_requests, NULL, drop_requests}},
    {"stats", {get_stats}},
    {"stats/reset", {NULL, reset_stats}},
    {"otp", {get_otp}},
    {"flows", {get_flows}},
    {"events", {get_events}},
    {"clock", {NULL, advance_clock}},
    {"clock/freeze", {NULL, freeze_clock}},
    {"repeat-window", {NULL, set_repeat_window}},
    {"reset", {NULL, reset_all}},
};

/* 405 for a control route asked with a method it does not answer, with
 * the Allow header HTTP requires. */
static enum MHD_Result wrong_method(struct MHD_Connection *conn,
                                    const control_fn *by_method)
{
    char allow[32] = "";
    for (size_t m = 0; m < CONTROL_METHODS; m++)
        if (by_method[m])
            snprintf(allow + strlen(allow), sizeof allow - strlen(allow), "%s%s",
                     *allow ? ", " : "", control_methods[m]);
    struct sandbox_reply r = {0};
    sandbox_reply_json(
        &r, 405, json_pack("{s:s}", "error", "method not allowed on this control route"));
    struct MHD_Response *resp = response_of(r.body);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    return send_response(conn, r.status, resp, "application/json", -1);
}

static enum MHD_Result control(struct sandbox *sb, struct MHD_Connection *conn,
                               const char *method, const char *path, const char *query,
                               const struct request *rq)
{
    const char *what = path + strlen(CONTROL_PREFIX);
    const struct control_ctx c = {.sb = sb, .conn = conn, .query = query, .rq = rq};
    for (size_t i = 0; i < sizeof control_routes / sizeof control_routes[0]; i++) {
        if (strcmp(what, control_routes[i].what) != 0)
            continue;
        for (size_t m = 0; m < CONTROL_METHODS; m++)
            if (strcmp(method, control_methods[m]) == 0 && control_routes[i].by_method[m])
                return control_routes[i].by_method[m](&c);
        return wrong_method(conn, control_routes[i].by_method);
    }
    return control_error(conn, 404, "no such control route");
}

/* ---- MSG91 routes ---- */

static enum MHD_Result answer(struct sandbox *sb, struct MHD_Connection *conn,
                              const char *method, const char *path, const char *query,
                              const struct request *rq)
{
    enum sandbox_tool tool;
    struct sandbox_params captures = {0}, params = {0};
    int found = sandbox_router_match(sb->router, method, path, &tool, &captures);
    int tool_id = found == 0 ? (int)tool : -1;
    record(sb, conn, method, path, query, rq,
           found == 0 ? sandbox_tool_name(tool) : NULL);

    enum MHD_Result rc;
    if (rq->too_large) {
        rc = queue_json(conn, 413,
                        json_pack("{s:s,s:b,s:s}", "status", "fail", "hasError", 1,
                                  "errors", "Request too large"));
        goto done;
    }

    struct rule rule;
    bool misbehave = take_rule(sb, tool_id, &rule);
    if (!misbehave) {
        memset(&rule, 0, sizeof rule);
        rule.retry_after = -1;
    }
    bool dropped = rule.delay_ms > 0 && !wait_ms(sb, rule.delay_ms);
    const char *ctype = rule.content_type ? rule.content_type : "application/json";
    if (rule.reset || dropped) {
        rc = MHD_NO;
    } else if (rule.huge) {
        rc = queue_huge(conn, rule.status ? rule.status : 200, rule.huge_bytes, ctype,
                        rule.retry_after);
    } else if (rule.code[0]) {
        struct sandbox_reply r = {0};
        coded_reply(&rule, tool_id, &r);
        rc = queue(conn, r.status, r.body, ctype, rule.retry_after);
    } else if (rule.status || rule.body) {
        unsigned status = rule.status ? rule.status : 200;
        char *body = rule.body;
        rule.body = NULL;
        if (!body) {
            struct sandbox_reply r = {0};
            sandbox_reply_json(&r, status, default_body(status, tool_id));
            body = r.body;
        }
        rc = queue(conn, status, body, ctype, rule.retry_after);
    } else if (found != 0) {
        rc = queue(conn, 404, strdup("{\"type\":\"error\",\"msg\":\"Route Missing\"}"),
                   ctype, rule.retry_after);
    } else {
        struct sandbox_reply r = {0};
        const char *key = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "authkey");
        if (sandbox_params_parse(&params, query) != 0) {
            rc = MHD_NO;
        } else if (sandbox_auth_check(tool, sb->auth_key, key, &params, &r)) {
            struct sandbox_call call = {
                .tool = tool,
                .query = &params,
                .captures = &captures,
                .body = rq->body ? rq->body : "",
                .body_len = rq->len,
            };
            sandbox_state_answer(sb->state, &call, &r);
            rc = queue(conn, r.status, r.body, ctype, rule.retry_after);
        } else {
            rc = queue(conn, r.status, r.body, ctype, rule.retry_after);
        }
    }
    rule_finish(&rule);
done:
    sandbox_params_finish(&params);
    sandbox_params_finish(&captures);
    return rc;
}

/* ---- libmicrohttpd callbacks ---- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct request *rq = calloc(1, sizeof *rq);
    if (!rq)
        return NULL;
    rq->uri = strdup(uri ? uri : "");
    if (!rq->uri) {
        free(rq);
        return NULL;
    }
    return rq;
}

/* Takes the request out of the in-flight count, once. */
static void release(struct sandbox *sb, struct request *rq)
{
    if (!rq->counted)
        return;
    rq->counted = false;
    pthread_mutex_lock(&sb->lock);
    sb->inflight--;
    pthread_mutex_unlock(&sb->lock);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)conn;
    (void)toe;
    struct sandbox *sb = cls;
    struct request *rq = *req_cls;
    if (!rq)
        return;
    release(sb, rq);
    free(rq->uri);
    free(rq->body);
    free(rq);
    *req_cls = NULL;
}

static bool is_control(const char *uri)
{
    return strncmp(uri, CONTROL_PREFIX, strlen(CONTROL_PREFIX)) == 0;
}

/* Appends an upload chunk; past MAX_UPLOAD the body is dropped and the
 * request remembered as too large. */
static void append_body(struct request *rq, const char *data, size_t len)
{
    if (rq->too_large)
        return;
    if (len > MAX_UPLOAD - rq->len) {
        rq->too_large = true;
        free(rq->body);
        rq->body = NULL;
        rq->len = rq->cap = 0;
        return;
    }
    if (rq->len + len + 1 > rq->cap) {
        size_t cap = rq->cap ? rq->cap : 1024;
        while (cap < rq->len + len + 1)
            cap *= 2;
        char *grown = realloc(rq->body, cap);
        if (!grown) {
            rq->too_large = true;
            return;
        }
        rq->body = grown;
        rq->cap = cap;
    }
    memcpy(rq->body + rq->len, data, len);
    rq->len += len;
    rq->body[rq->len] = '\0';
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **req_cls)
{
    (void)url;
    (void)version;
    struct sandbox *sb = cls;
    struct request *rq = *req_cls;
    if (!rq)
        return MHD_NO;
    if (!rq->started) {
        rq->started = true;
        if (!is_control(rq->uri)) {
            pthread_mutex_lock(&sb->lock);
            sb->received++;
            sb->inflight++;
            if (sb->inflight > sb->max_inflight)
                sb->max_inflight = sb->inflight;
            pthread_mutex_unlock(&sb->lock);
            rq->counted = true;
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        append_body(rq, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }

    /* The whole request is here: split the raw URI as it was sent. */
    char *path = rq->uri;
    char *q = strchr(path, '?');
    const char *query = "";
    if (q) {
        *q = '\0';
        query = q + 1;
    }
    enum MHD_Result rc = is_control(path) ? control(sb, conn, method, path, query, rq)
                                          : answer(sb, conn, method, path, query, rq);
    if (q)
        *q = '?';
    /* Leave the count before the answer goes out, so a client that has its
     * answer never sees itself still in flight. */
    release(sb, rq);
    return rc;
}

/* ---- lifecycle ---- */

/* A thousand connections need a thousand descriptors and more; raise the
 * soft limit towards the hard one rather than fail the concurrency tests. */
static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= WANT_FDS)
        return;
    rl.rlim_cur =
        rl.rlim_max == RLIM_INFINITY || rl.rlim_max > WANT_FDS ? WANT_FDS : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
}

struct sandbox *sandbox_create(const struct sandbox_options *opts, char **error)
{
    static const struct sandbox_options defaults = {0};
    char *ignored = NULL;
    if (!opts)
        opts = &defaults;
    if (!error)
        error = &ignored;
    *error = NULL;
    struct sandbox *sb = calloc(1, sizeof *sb);
    if (!sb) {
        *error = strdup("sandbox: out of memory");
        free(ignored);
        return NULL;
    }
    pthread_condattr_t cattr;
    pthread_condattr_init(&cattr);
    pthread_condattr_setclock(&cattr, CLOCK_MONOTONIC);
    pthread_mutex_init(&sb->lock, NULL);
    pthread_mutex_init(&sb->stop_lock, NULL);
    pthread_cond_init(&sb->stop_cond, &cattr);
    pthread_condattr_destroy(&cattr);

    sb->router = sandbox_router_create(opts->routes, opts->route_count, error);
    if (!sb->router)
        goto fail;
    sb->state = sandbox_state_create(opts->seed);
    sb->records = json_array();
    if (!sb->state || !sb->records ||
        (opts->auth_key && !(sb->auth_key = strdup(opts->auth_key)))) {
        *error = strdup("sandbox: out of memory");
        goto fail;
    }

    raise_fd_limit();
    struct sockaddr_in addr = {
        .sin_family = AF_INET,
        .sin_port = htons(opts->port),
        .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
    };
    errno = 0;
    sb->daemon = MHD_start_daemon(
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL,
        opts->port, NULL, NULL, on_request, sb, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_URI_LOG_CALLBACK, on_uri, sb,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, sb, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned)CONNECTION_LIMIT, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)4096,
        MHD_OPTION_END);
    if (!sb->daemon) {
        *error = msg_format("sandbox: cannot listen on 127.0.0.1:%u: %s", opts->port,
                            errno ? strerror(errno) : "unknown error");
        goto fail;
    }
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(sb->daemon, MHD_DAEMON_INFO_BIND_PORT);
    sb->port = info ? info->port : opts->port;
    return sb;

fail:
    if (!*error)
        *error = strdup("sandbox: out of memory");
    free(ignored);
    sandbox_destroy(sb);
    return NULL;
}

uint16_t sandbox_port(const struct sandbox *sb)
{
    return sb->port;
}

void sandbox_destroy(struct sandbox *sb)
{
    if (!sb)
        return;
    if (sb->daemon) {
        /* Wake delayed answers first, or stopping would wait them out. */
        pthread_mutex_lock(&sb->stop_lock);
        sb->stopping = true;
        pthread_cond_broadcast(&sb->stop_cond);
        pthread_mutex_unlock(&sb->stop_lock);
        MHD_stop_daemon(sb->daemon);
    }
    clear_rules(sb);
    json_decref(sb->records);
    sandbox_state_destroy(sb->state);
    sandbox_router_destroy(sb->router);
    free(sb->auth_key);
    pthread_cond_destroy(&sb->stop_cond);
    pthread_mutex_destroy(&sb->stop_lock);
    pthread_mutex_destroy(&sb->lock);
    free(sb);
}

/* NOLINTEND(bugprone-easily-swappable-parameters)
 * NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */
