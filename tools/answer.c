#include "tools/answer.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/msg91_errors.h"
#include "util/dynbuf.h"
#include "util/jsonload.h"
#include "util/msg.h"
#include "util/redact.h"

/* Longest excerpt of an upstream body quoted in a message: enough to
 * recognise an HTML error page or a proxy's text, short enough for a
 * model's context. */
#define EXCERPT_MAX 200
/* MSG91's own error messages are short; longer ones are cut. */
#define MESSAGE_MAX 300
/* Upper bound of any message this module builds. */
#define TEXT_MAX 4096
/* The shortest start of the key that a cut may not leave in an excerpt:
 * shorter ones are too common to tell apart from ordinary text. */
#define ANSWER_PARTIAL_KEY_MIN 4
/* How far past an excerpt's cut the text is cleaned and redacted. */
#define ANSWER_CLEAN_MARGIN 4096

/* A message under construction. Once an append fails (out of memory) the
 * message is dropped rather than sent half-written; finish_text then
 * reports the lack of memory instead. */
struct text {
    struct dynbuf buf;
    bool failed;
};

static void text_init(struct text *t)
{
    dynbuf_init(&t->buf, TEXT_MAX);
    t->failed = false;
}

static void appendf(struct text *t, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void appendf(struct text *t, const char *fmt, ...)
{
    if (t->failed)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = msg_vformat(fmt, ap);
    va_end(ap);
    if (!s || dynbuf_append_str(&t->buf, s) != DYNBUF_OK)
        t->failed = true;
    free(s);
}

static void set_error(struct tool_outcome *out, char *text)
{
    free(out->error_text);
    out->error_text = text ? text
                           : strdup("The server ran out of memory while reading "
                                    "MSG91's answer.");
}

static void finish_text(struct text *t, struct tool_outcome *out)
{
    if (t->failed) {
        dynbuf_finish(&t->buf);
        set_error(out, NULL);
        return;
    }
    set_error(out, dynbuf_take(&t->buf, NULL));
}

/* Length of the UTF-8 sequence starting at s (at most left bytes), or 0
 * when it is not valid (overlong, surrogate, past U+10FFFF, truncated). */
static size_t utf8_len(const unsigned char *s, size_t left, unsigned long *cp)
{
    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    size_t n;
    unsigned long c, min;
    if ((s[0] & 0xe0) == 0xc0) {
        n = 2, c = s[0] & 0x1f, min = 0x80;
    } else if ((s[0] & 0xf0) == 0xe0) {
        n = 3, c = s[0] & 0x0f, min = 0x800;
    } else if ((s[0] & 0xf8) == 0xf0) {
        n = 4, c = s[0] & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n > left)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        c = (c << 6) | (s[i] & 0x3f);
    }
    if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return 0;
    *cp = c;
    return n;
}

/* Copies the printable part of s to out, which has room for limit bytes:
 * valid UTF-8 only, line breaks and tabs as one space (they still
 * separate words), other C0 and C1 controls and DEL dropped (they would
 * corrupt a log line or a terminal), trimmed. Returns the length; *more
 * tells whether printable text did not fit. */
static size_t clean_text(const char *s, size_t len, char *out, size_t limit, bool *more)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t k = 0, i = 0;
    bool space = false;
    *more = false;
    while (i < len) {
        unsigned long cp;
        size_t n = utf8_len(u + i, len - i, &cp);
        if (n == 0) {
            i++;
            continue;
        }
        i += n;
        if (cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || cp == '\v' ||
            cp == '\f') {
            space = k > 0;
            continue;
        }
        if (cp < 0x20 || (cp >= 0x7f && cp < 0xa0))
            continue;
        if (k + n + (space ? 1 : 0) > limit) {
            *more = true;
            break;
        }
        if (space)
            out[k++] = ' ';
        space = false;
        memcpy(out + k, s + i - n, n);
        k += n;
    }
    return k;
}

/* Appends text[0..len) to b with every whole secret replaced by the mark. */
static int append_redacted(struct dynbuf *b, const char *text, size_t len)
{
    for (;;) {
        size_t match = 0;
        size_t at = redact_find(text, len, &match);
        int rc = dynbuf_append(b, text, at);
        if (rc != DYNBUF_OK || at == len)
            return rc;
        rc = dynbuf_append_str(b, REDACT_MARK);
        if (rc != DYNBUF_OK)
            return rc;
        text += at + match;
        len -= at + match;
    }
}

/* Redacts clean[0..n), cuts it at max bytes on a character boundary and
 * drops what a cut would leave of a secret's start (which no later
 * redaction could recognise) and trailing spaces; "..." marks anything
 * left out. Returns a malloc'd string, or NULL when out of memory. */
static char *cut_excerpt(const char *clean, size_t n, size_t max, bool cut)
{
    struct dynbuf b;
    dynbuf_init(&b, (n + 1) * (sizeof REDACT_MARK));
    if (append_redacted(&b, clean, n) != DYNBUF_OK)
        return NULL;
    const char *t = dynbuf_ptr(&b);
    size_t k = dynbuf_len(&b);
    if (k > max) {
        k = max;
        while (k > 0 && ((unsigned char)t[k] & 0xc0) == 0x80)
            k--;
        cut = true;
    }
    for (;;) {
        size_t partial = redact_partial_tail(t, k, ANSWER_PARTIAL_KEY_MIN);
        if (partial > 0) {
            k -= partial;
            cut = true;
        } else if (k > 0 && t[k - 1] == ' ') {
            k--;
        } else {
            break;
        }
    }
    char *out = malloc(k + 4);
    if (out) {
        memcpy(out, t, k);
        memcpy(out + k, cut ? "..." : "", cut ? 4 : 1);
    }
    dynbuf_finish(&b);
    return out;
}

char *answer_excerpt(const char *s, size_t len, size_t max)
{
    /* Whole secrets go first, in the text as given (cleaning could hide
     * one, by joining spaces) and again once cleaned (cleaning joins a key
     * split by a control byte); only then is the text cut. */
    char *raw = NULL;
    size_t match;
    if (redact_find(s, len, &match) < len) {
        struct dynbuf b;
        dynbuf_init(&b, (len + 1) * (sizeof REDACT_MARK));
        if (append_redacted(&b, s, len) != DYNBUF_OK)
            return NULL;
        raw = dynbuf_take(&b, &len);
        if (!raw)
            return NULL;
        s = raw;
    }
    /* Cleaned past the cut by a margin, so a secret across the cut is
     * whole when it is redacted; a longer one is still caught at the cut. */
    size_t limit = max + ANSWER_CLEAN_MARGIN;
    char *clean = malloc(limit);
    bool more = false;
    size_t n = clean ? clean_text(s, len, clean, limit, &more) : 0;
    free(raw);
    char *out = clean ? cut_excerpt(clean, n, max, more) : NULL;
    free(clean);
    return out;
}

/* Appends what an unknown outcome means for a tool that changes
 * something: "; <unknown>. <advice>" (and out says it may have sent) or,
 * for a read-only tool, readonly. */
static void append_unknown(struct text *b, const struct answer_effect *effect,
                           const char *readonly, struct tool_outcome *out)
{
    if (effect) {
        out->maybe_sent = true;
        appendf(b, "; %s. %s", effect->unknown, effect->advice);
    } else {
        appendf(b, "%s", readonly);
    }
}

/* The libcurl detail in parentheses, when there is one. */
static void append_detail(struct text *b, const char *error)
{
    if (!error || !error[0])
        return;
    char *detail = answer_excerpt(error, strlen(error), EXCERPT_MAX);
    if (detail && detail[0])
        appendf(b, " (%s)", detail);
    free(detail);
}

/* A failure before anything could be sent: what happened, libcurl's
 * detail, then what to check. */
static void not_sent(struct text *b, const char *what, const char *error,
                     const char *check)
{
    appendf(b, "%s", what);
    append_detail(b, error);
    appendf(b, ". Nothing was sent. %s", check);
}

static void transport_failure(const struct tool_read_ctx *ctx,
                              const struct http_response *resp,
                              const struct answer_effect *effect,
                              struct tool_outcome *out)
{
    struct text b;
    text_init(&b);
    switch (resp->outcome) {
    case HTTP_TIMEOUT:
        appendf(&b, "MSG91 did not answer: the request timed out after %ld ms",
                ctx->timeout_ms);
        append_unknown(&b, effect,
                       ". Nothing was changed, so it is safe to ask again; if this keeps "
                       "happening, check the network or raise MSG91_TIMEOUT_MS.",
                       out);
        break;
    case HTTP_DNS_FAILED:
        not_sent(&b,
                 "Could not reach MSG91: the host name in MSG91_BASE_URL did not resolve",
                 resp->error, "Check MSG91_BASE_URL and the network connection.");
        break;
    case HTTP_CONNECT_FAILED:
        not_sent(&b, "Could not connect to MSG91", resp->error,
                 "Check the network connection and MSG91_BASE_URL.");
        break;
    case HTTP_TLS_FAILED:
        not_sent(&b, "The TLS connection to MSG91 failed", resp->error,
                 "Check MSG91_BASE_URL; if a proxy or private CA signs the certificate, "
                 "set MSG91_CA_FILE to its CA bundle.");
        break;
    case HTTP_RESET:
        appendf(&b, "The connection to MSG91 dropped before a full answer arrived");
        append_unknown(&b, effect, ". Nothing was changed, so it is safe to ask again.",
                       out);
        break;
    case HTTP_TOO_LARGE:
        appendf(&b, "MSG91's answer was too large to read (over the response size "
                    "limit)");
        append_unknown(&b, effect,
                       ". Nothing was changed; ask for less at once (a smaller limit) "
                       "if the tool takes one.",
                       out);
        break;
    case HTTP_ANSWERED:
    case HTTP_FAILED:
    default:
        appendf(&b, "The request to MSG91 failed");
        append_detail(&b, resp->error);
        append_unknown(&b, effect, ". Nothing was changed, so it is safe to ask again.",
                       out);
        break;
    }
    finish_text(&b, out);
}

/* The media type of a Content-Type header, without parameters. */
static char *media_type(const char *content_type)
{
    if (!content_type || !content_type[0])
        return strdup("no content type");
    /* The whole header is redacted before the parameters are cut off, in
     * case a secret holds a ';'. */
    char *whole = answer_excerpt(content_type, strlen(content_type), 1024);
    if (!whole)
        return NULL;
    size_t n = strcspn(whole, ";");
    while (n > 0 && whole[n - 1] == ' ')
        n--;
    char *t = answer_excerpt(whole, n, 60);
    free(whole);
    if (t && !t[0]) {
        free(t);
        return strdup("no content type");
    }
    return t;
}

static void not_json(const struct http_response *resp, const struct answer_effect *effect,
                     struct tool_outcome *out)
{
    /* A success status means MSG91 (or whatever answered) took the request. */
    bool took = effect && resp->status >= 200 && resp->status < 300;
    if (took)
        out->maybe_sent = true;
    struct text b;
    text_init(&b);
    char *type = media_type(resp->content_type);
    char *excerpt = answer_excerpt(resp->body, resp->body_len, EXCERPT_MAX);
    if (!type || !excerpt) {
        free(type);
        free(excerpt);
        set_error(out, NULL);
        return;
    }
    appendf(&b, "MSG91 answered with something that is not JSON (HTTP %ld, %s): ",
            resp->status, type);
    if (excerpt[0])
        appendf(&b, "\"%s\".", excerpt);
    else
        appendf(&b, "an empty body.");
    appendf(&b, " Check that MSG91_BASE_URL points at MSG91 and not at a proxy or "
                "captive portal.");
    if (took)
        appendf(&b, " The outcome is unknown: %s. %s", effect->unknown, effect->advice);
    free(type);
    free(excerpt);
    finish_text(&b, out);
}

/* An excerpt of a JSON body as the parsed value written out again, so
 * that escapes are decoded before redaction: a key written with "\u002d"
 * in it is the key all the same. A body that does not parse is quoted as
 * it came. */
static char *json_excerpt(const struct http_response *resp)
{
    json_t *root =
        jsonload_buffer(resp->body, resp->body_len, JSON_DECODE_ANY, NULL, NULL);
    char *text = root ? json_dumps(root, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(root);
    char *excerpt = text ? answer_excerpt(text, strlen(text), EXCERPT_MAX)
                         : answer_excerpt(resp->body, resp->body_len, EXCERPT_MAX);
    free(text);
    return excerpt;
}

void answer_wrong_shape(const struct http_response *resp,
                        const struct answer_effect *effect, const char *what,
                        struct tool_outcome *out)
{
    if (effect)
        out->maybe_sent = true;
    struct text b;
    text_init(&b);
    char *excerpt = json_excerpt(resp);
    if (!excerpt) {
        set_error(out, NULL);
        return;
    }
    appendf(&b, "MSG91 answered with JSON of an unexpected shape (HTTP %ld): %s: %s.",
            resp->status, what, excerpt);
    if (effect)
        appendf(&b, " The outcome is unknown: %s. %s", effect->unknown, effect->advice);
    free(excerpt);
    finish_text(&b, out);
}

void answer_refused(const struct answer *a, const char *hint, struct tool_outcome *out)
{
    struct text b;
    text_init(&b);
    const char *msg = a->message && a->message[0] ? a->message : "no message given";
    size_t n = strlen(msg);
    /* MSG91's messages sometimes end with a full stop and sometimes not. */
    const char *stop = n > 0 && (msg[n - 1] == '.' || msg[n - 1] == '!') ? "" : ".";
    bool http = a->status < 200 || a->status >= 300;
    /* Family 2's "code" often only repeats the HTTP status. */
    bool code = a->code[0] && !(http && strtol(a->code, NULL, 10) == a->status);
    appendf(&b, "MSG91 returned an error");
    if (http && code)
        appendf(&b, " (HTTP %ld, code %s)", a->status, a->code);
    else if (http)
        appendf(&b, " (HTTP %ld)", a->status);
    else if (code)
        appendf(&b, " (code %s)", a->code);
    appendf(&b, ": %s%s", msg, stop);
    if (hint)
        appendf(&b, " %s", hint);
    finish_text(&b, out);
}

void answer_success(struct tool_outcome *out, json_t *result)
{
    if (!result) {
        set_error(out, NULL);
        return;
    }
    json_decref(out->structured);
    out->structured = result;
}

void answer_set_request_id(struct tool_outcome *out, const char *id)
{
    free(out->upstream_request_id);
    out->upstream_request_id = id ? strdup(id) : NULL;
}

/* The first string among MSG91's usual message members. */
static const char *member_text(json_t *obj, const char *const *names)
{
    for (size_t i = 0; names[i]; i++) {
        json_t *v = json_object_get(obj, names[i]);
        if (json_is_string(v))
            return json_string_value(v);
    }
    return NULL;
}

static const char *const message_members[] = {"message", "msg", "error", NULL};

/* Appends an excerpt of s. Once the text is longer than a message may
 * be, the rest would be cut off anyway and is skipped, which also keeps a
 * long answer within TEXT_MAX. */
static void append_excerpt(struct text *b, const char *s)
{
    if (dynbuf_len(&b->buf) > MESSAGE_MAX)
        return;
    char *clean = answer_excerpt(s, strlen(s), MESSAGE_MAX);
    if (!clean)
        b->failed = true;
    else
        appendf(b, "%s", clean);
    free(clean);
}

/* Appends one item of family 2's "errors": a string, an object with a
 * message, or anything else as compact JSON. */
static void append_error_item(struct text *b, const char *key, json_t *item)
{
    if (dynbuf_len(&b->buf) > MESSAGE_MAX)
        return;
    const char *text = json_is_string(item) ? json_string_value(item)
                                            : member_text(item, message_members);
    char *dumped = NULL;
    if (!text && json_is_array(item) && json_array_size(item) > 0 &&
        json_is_string(json_array_get(item, 0)))
        text = json_string_value(json_array_get(item, 0));
    if (!text)
        text = dumped = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);
    if (dynbuf_len(&b->buf) > 0)
        appendf(b, "; ");
    if (key) {
        append_excerpt(b, key);
        appendf(b, ": ");
    }
    if (text)
        append_excerpt(b, text);
    else
        b->failed = true;
    free(dumped);
}

/* MSG91's error text from either family: family 2's "errors" (a string,
 * an array, or an object of field errors) first, then the message members.
 * Returns a sanitised malloc'd string, "" when there is none, NULL when
 * out of memory. */
static char *error_text_of(json_t *root)
{
    struct text b;
    text_init(&b);
    json_t *errors = json_object_get(root, "errors");
    if (json_is_string(errors)) {
        append_excerpt(&b, json_string_value(errors));
    } else if (json_is_array(errors)) {
        size_t i;
        json_t *item;
        json_array_foreach(errors, i, item) {
            append_error_item(&b, NULL, item);
        }
    } else if (json_is_object(errors)) {
        const char *key;
        json_t *item;
        json_object_foreach(errors, key, item) {
            append_error_item(&b, key, item);
        }
    }
    if (dynbuf_len(&b.buf) == 0) {
        const char *msg = member_text(root, message_members);
        if (msg)
            append_excerpt(&b, msg);
    }
    if (b.failed) {
        dynbuf_finish(&b.buf);
        return NULL;
    }
    char *raw = dynbuf_take(&b.buf, NULL);
    char *clean = answer_excerpt(raw ? raw : "", raw ? strlen(raw) : 0, MESSAGE_MAX);
    free(raw);
    return clean;
}

static bool is_route_missing(json_t *root)
{
    const char *msg = member_text(root, message_members);
    json_t *errors = json_object_get(root, "errors");
    if (!msg && json_is_string(errors))
        msg = json_string_value(errors);
    return msg && strcasecmp(msg, "Route Missing") == 0;
}

static void route_missing(const struct tool_read_ctx *ctx, struct tool_outcome *out)
{
    const char *name = ctx->tool ? ctx->tool->name : "this tool";
    struct text b;
    text_init(&b);
    if (ctx->endpoint)
        appendf(&b,
                "MSG91 does not know the endpoint %s %s used by %s (HTTP 404 Route "
                "Missing), so nothing was done.",
                ctx->endpoint->method, ctx->endpoint->path, name);
    else
        appendf(&b,
                "MSG91 does not know the endpoint used by %s (HTTP 404 Route "
                "Missing), so nothing was done.",
                name);
    const char *method = ctx->endpoint ? ctx->endpoint->method
                         : ctx->tool   ? ctx->tool->endpoint.method
                                       : "POST";
    appendf(&b,
            " The path may have changed upstream: its method and path can be "
            "overridden in the config file under \"endpoints\", e.g. "
            "{\"endpoints\":{\"%s\":{\"method\":\"%s\",\"path\":\"/api/v5/...\"}}}.",
            name, method);
    finish_text(&b, out);
}

static void server_error(const struct http_response *resp,
                         const struct answer_effect *effect, struct tool_outcome *out)
{
    if (effect) {
        out->maybe_sent = true;
        set_error(out, msg_format("MSG91 had a server error (HTTP %ld), so the outcome "
                                  "is unknown: %s. %s",
                                  resp->status, effect->unknown, effect->advice));
    } else {
        set_error(out, msg_format("MSG91 had a server error (HTTP %ld); try again "
                                  "later.",
                                  resp->status));
    }
}

static void rate_limited(const struct http_response *resp, struct tool_outcome *out)
{
    /* A wait past a day is a saturated or absurd header, not advice worth
     * quoting in seconds. */
    if (resp->retry_after_s > 86400)
        set_error(out, strdup("The call was rate limited by MSG91, which asked for a "
                              "wait of more than a day: try again later. Nothing was "
                              "done."));
    else if (resp->retry_after_s >= 0)
        set_error(out, msg_format("The call was rate limited by MSG91: retry after "
                                  "%ld s. Nothing was done.",
                                  resp->retry_after_s));
    else
        set_error(out, strdup("The call was rate limited by MSG91: retry in a minute. "
                              "Nothing was done."));
}

/* MSG91's own error code: family 2's "apiError" (its "code" repeats the
 * HTTP status), else "code", as digits. out (size bytes) is left empty
 * when there is none, or when the value is not a short run of digits. */
static void read_code(json_t *root, char *out, size_t size)
{
    json_t *v = json_object_get(root, "apiError");
    if (!v || json_is_null(v))
        v = json_object_get(root, "code");
    out[0] = '\0';
    if (json_is_integer(v) && json_integer_value(v) >= 0) {
        snprintf(out, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strspn(s, "0123456789");
        if (n > 0 && n < size && s[n] == '\0')
            memcpy(out, s, n + 1);
    }
}

/* The row of the table that explains a refusal: by MSG91's code or text,
 * and an HTTP 418 is MSG91's code 418 even without a body. */
static const struct msg91_error *known_error(const struct answer *a)
{
    const struct msg91_error *row = msg91_errors_find(a->code, a->message);
    if (!row && a->status == 418)
        row = msg91_errors_find("418", NULL);
    return row;
}

/* The row about the auth key, for a 401 or 403 MSG91 said nothing more of. */
static const struct msg91_error *key_row(void)
{
    for (size_t i = 0; i < msg91_errors_len; i++)
        if (msg91_errors[i].key)
            return &msg91_errors[i];
    return NULL;
}

/* Appends what MSG91 itself said, in parentheses: the HTTP status when it
 * is not a success, its code unless that only repeats the status, and its
 * message. Nothing when MSG91 gave neither code nor message. */
static void append_said(struct text *b, const struct answer *a)
{
    char status[24] = "";
    if (a->status < 200 || a->status >= 300)
        snprintf(status, sizeof status, "%ld", a->status);
    bool code = a->code[0] && strcmp(a->code, status) != 0;
    bool message = a->message && a->message[0];
    if (!code && !message)
        return;
    appendf(b, " (");
    if (status[0])
        appendf(b, "HTTP %s%s", status, code ? ", " : "");
    if (code)
        appendf(b, "code %s", a->code);
    if (message)
        appendf(b, "%s%s", status[0] || code ? ": " : "", a->message);
    appendf(b, ")");
}

/* Sets out's error text for a documented refusal: the row's headline,
 * what MSG91 said, then the row's advice. */
static void explain(const struct msg91_error *row, const struct answer *a,
                    struct tool_outcome *out)
{
    struct text b;
    text_init(&b);
    appendf(&b, "MSG91 %s", row->headline);
    append_said(&b, a);
    appendf(&b, ": %s", row->advice);
    if (row->key && a->status == 403)
        appendf(&b, " A 403 can also mean the key may not be used from this machine's IP "
                    "address: check the key's settings in the MSG91 panel.");
    finish_text(&b, out);
}

/* HTTP 401, 403 and 418: a documented code or text in the body says which
 * refusal it is; anything else is a problem with the key. */
static void rejected(struct answer *a, struct tool_outcome *out)
{
    if (json_is_object(a->root)) {
        read_code(a->root, a->code, sizeof a->code);
        a->message = error_text_of(a->root);
        if (!a->message) {
            set_error(out, NULL);
            return;
        }
    }
    const struct msg91_error *row = known_error(a);
    explain(row ? row : key_row(), a, out);
}

/* Whether root is a success in family 1 ("type", or "msg_type" in older
 * answers) or family 2 ("status" and "hasError"); sets a->data then. Sets
 * *marked when root has either family's markers at all. */
static bool is_success(json_t *root, bool ok_http, struct answer *a, bool *marked)
{
    json_t *type = json_object_get(root, "type");
    json_t *status = json_object_get(root, "status");
    json_t *has_error = json_object_get(root, "hasError");
    if (!json_is_string(type))
        type = json_object_get(root, "msg_type");
    *marked = true;
    if (json_is_string(type)) {
        if (!ok_http || strcmp(json_string_value(type), "success") != 0)
            return false;
        a->data = root;
        return true;
    }
    if (json_is_boolean(has_error) || json_is_string(status)) {
        const char *s = json_string_value(status);
        if (json_is_true(has_error) || !ok_http || (s && strcmp(s, "success") != 0))
            return false;
        a->data = json_object_get(root, "data");
        return true;
    }
    *marked = false;
    return false;
}

/* Returns the verdict for a parsed object, filling a->message and a->code
 * on a refusal. A refusal the table documents is explained here, whatever
 * the tool. */
static enum answer_verdict envelope(const struct http_response *resp,
                                    const struct answer_effect *effect, struct answer *a,
                                    struct tool_outcome *out)
{
    json_t *root = a->root;
    bool ok_http = resp->status >= 200 && resp->status < 300;
    bool marked;
    if (is_success(root, ok_http, a, &marked))
        return ANSWER_SUCCESS;
    read_code(root, a->code, sizeof a->code);
    if (!marked && (ok_http || !member_text(root, message_members)) &&
        !msg91_errors_find(a->code, NULL)) {
        answer_wrong_shape(resp, effect,
                           ok_http ? "it has neither \"type\" nor \"status\""
                                   : "an error status without a message",
                           out);
        return ANSWER_FAILED;
    }
    a->message = error_text_of(root);
    if (!a->message) {
        set_error(out, NULL);
        return ANSWER_FAILED;
    }
    const struct msg91_error *row = known_error(a);
    if (row) {
        explain(row, a, out);
        return ANSWER_FAILED;
    }
    return ANSWER_REFUSED;
}

/* Whether a JSON object is one of MSG91's two envelopes (or the older
 * msg_type answers of the first family), or carries one of MSG91's
 * documented error codes: a lenient reader must not take an error for
 * data. */
static bool is_envelope(json_t *root)
{
    char code[16];
    read_code(root, code, sizeof code);
    if (code[0] && msg91_errors_find(code, NULL))
        return true;
    return json_is_string(json_object_get(root, "type")) ||
           json_is_string(json_object_get(root, "msg_type")) ||
           json_is_boolean(json_object_get(root, "hasError")) ||
           json_is_string(json_object_get(root, "status"));
}

/* answer_read, with the leniency of accept (ANSWER_ACCEPT_*). */
static enum answer_verdict read_answer(const struct tool_read_ctx *ctx,
                                       const struct http_response *resp,
                                       const struct answer_effect *effect,
                                       unsigned accept, struct answer *a,
                                       struct tool_outcome *out)
{
    memset(a, 0, sizeof *a);
    a->status = resp->status;
    if (resp->outcome != HTTP_ANSWERED) {
        transport_failure(ctx, resp, effect, out);
        return ANSWER_FAILED;
    }

    /* An integer past 64 bits (an id, a counter) is still JSON; read as a
     * real, it must not turn a successful send into "not JSON". */
    bool nomem = false;
    a->root = jsonload_buffer(resp->body, resp->body_len, JSON_DECODE_ANY, NULL, &nomem);
    if (nomem) {
        set_error(out, NULL);
        return ANSWER_FAILED;
    }
    if (json_is_object(a->root)) {
        json_t *id = json_object_get(a->root, "request_id");
        if (json_is_string(id) && json_string_length(id) > 0)
            answer_set_request_id(out, json_string_value(id));
    }

    long st = resp->status;
    if (st == 401 || st == 403 || st == 418) {
        rejected(a, out);
        return ANSWER_FAILED;
    }
    if (st == 429) {
        rate_limited(resp, out);
        return ANSWER_FAILED;
    }
    /* A 404 that is not JSON comes from a front end that knows no such
     * path, which is the same situation as MSG91's own "Route Missing". */
    if (st == 404 && (!json_is_object(a->root) || is_route_missing(a->root))) {
        route_missing(ctx, out);
        return ANSWER_FAILED;
    }
    if (st == 413) {
        set_error(out, strdup("MSG91 refused the request as too large (HTTP 413), so "
                              "nothing was done: split it into smaller calls (fewer "
                              "recipients or events per call)."));
        return ANSWER_FAILED;
    }
    if (st >= 500) {
        server_error(resp, effect, out);
        return ANSWER_FAILED;
    }
    bool ok_http = st >= 200 && st < 300;
    if (!a->root) {
        if (ok_http && (accept & ANSWER_ACCEPT_TEXT))
            return ANSWER_SUCCESS;
        not_json(resp, effect, out);
        return ANSWER_FAILED;
    }
    if (ok_http && (accept & ANSWER_ACCEPT_ANY) &&
        (!json_is_object(a->root) || !is_envelope(a->root))) {
        a->data = a->root;
        return ANSWER_SUCCESS;
    }
    if (!json_is_object(a->root)) {
        answer_wrong_shape(resp, effect, "expected a JSON object", out);
        return ANSWER_FAILED;
    }
    return envelope(resp, effect, a, out);
}

enum answer_verdict answer_read(const struct tool_read_ctx *ctx,
                                const struct http_response *resp,
                                const struct answer_effect *effect, struct answer *a,
                                struct tool_outcome *out)
{
    return read_answer(ctx, resp, effect, 0, a, out);
}

int answer_list(const struct http_response *resp, const struct answer_effect *effect,
                json_t *list, answer_item_fn each, json_t **result,
                struct tool_outcome *out)
{
    json_t *items = json_array();
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        char what[128] = "";
        json_t *e = each(item, i, what, sizeof what);
        if (!e && what[0]) {
            answer_wrong_shape(resp, effect, what, out);
            json_decref(items);
            return -1;
        }
        /* Appending to a NULL array fails and releases e. */
        if (!e || json_array_append_new(items, e)) {
            json_decref(items);
            items = NULL;
            break;
        }
    }
    *result = items;
    return 0;
}

bool answer_message_is(const struct answer *a, const char *text)
{
    return a->message && strcasecmp(a->message, text) == 0;
}

static void refused_with_hint(const struct answer *a, const struct answer_hint *hints,
                              struct tool_outcome *out)
{
    for (size_t i = 0; hints && hints[i].message; i++) {
        if (answer_message_is(a, hints[i].message)) {
            answer_refused(a, hints[i].hint, out);
            return;
        }
    }
    answer_refused(a, NULL, out);
}

void tool_read(const struct tool_read_ctx *ctx, const struct http_response *resp,
               json_t *args, struct tool_outcome *out)
{
    const struct answer_reader *r = ctx->tool->reader;
    struct answer a;
    switch (read_answer(ctx, resp, r->effect, r->accept, &a, out)) {
    case ANSWER_SUCCESS:
        r->success(&a, resp, args, out);
        break;
    case ANSWER_REFUSED:
        if (r->refused)
            r->refused(&a, args, out);
        else
            refused_with_hint(&a, r->hints, out);
        break;
    case ANSWER_FAILED:
        break;
    }
    answer_finish(&a);
}

void answer_finish(struct answer *a)
{
    json_decref(a->root);
    free(a->message);
    a->root = NULL;
    a->data = NULL;
    a->message = NULL;
}
