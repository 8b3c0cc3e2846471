#include "server/mcp.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "server/jsonrpc.h"
#include "tools/service.h"
#include "util/dynbuf.h"
#include "util/list.h"
#include "util/log.h"
#include "util/redact.h"

/* What 2025-06-18 brought, and what 2025-11-25 added to it; every later
 * version keeps both. */
#define SINCE_2025_06_18                                                                 \
    .titles = true, .output_schema = true, .structured_content = true,                   \
    .annotations = true, .progress_message = true
#define SINCE_2025_11_25 SINCE_2025_06_18, .server_description = true, .no_null_id = true

/* The versions the server speaks, newest first, and what each allows.
 * Fields arrive with the version that introduced them; batches exist only
 * in 2025-03-26; 2025-11-25 forbids a null id; 2026-07-28 drops the
 * handshake (the stateless era) and adds resultType and cache hints. */
static const struct mcp_features supported_versions[] = {
    {.version = MCP_MODERN_VERSION,
     SINCE_2025_11_25,
     .stateless = true,
     .result_type = true,
     .cache_hints = true,
     .server_info_meta = true},
    {.version = MCP_LATEST_VERSION, SINCE_2025_11_25},
    {.version = "2025-06-18", SINCE_2025_06_18},
    {.version = "2025-03-26",
     .annotations = true,
     .progress_message = true,
     .batches = true},
    {.version = "2024-11-05"},
};

/* The _meta keys of 2026-07-28. */
#define META_PROTOCOL_VERSION "io.modelcontextprotocol/protocolVersion"
#define META_CLIENT_CAPABILITIES "io.modelcontextprotocol/clientCapabilities"
#define META_CLIENT_INFO "io.modelcontextprotocol/clientInfo"
#define META_LOG_LEVEL "io.modelcontextprotocol/logLevel"
#define META_SERVER_INFO "io.modelcontextprotocol/serverInfo"

/* How long a client may reuse a server/discover answer: what it says
 * (versions, capabilities, instructions) changes only with the binary. */
#define DISCOVER_TTL_MS 3600000
/* How long a client may reuse a tools/list answer: the tools are fixed for
 * the life of the process, but a restart with other settings (or a reload
 * of personas) may change them, so a client looks again every 5 minutes. */
#define TOOLS_LIST_TTL_MS 300000

/* MCP log levels (RFC 5424 names), lowest first. */
static const char *const mcp_levels[] = {
    "debug", "info", "notice", "warning", "error", "critical", "alert", "emergency",
};

/* How long a call must have been in a stage before that stage is reported
 * as progress. A client reads stdout in chunks, and the TypeScript SDK
 * handles a notification a step later than a response from the same chunk
 * and forgets the progress token with the response: a progress line
 * written shortly before the result reaches it after the call is over, and
 * it reports an error. Against an upstream that answers in a few
 * milliseconds no progress is sent at all; a call that lingers long enough
 * for progress to matter to a person still gets it, well before its
 * result. */
#define PROGRESS_HOLD_MS 250

/* How long a result waits after a progress notification for its call, so
 * that the client has read and handled the notification on its own before
 * the result follows: a call that ends just after its progress went out
 * would otherwise race it in the same way. Only such calls wait, and at
 * most this long. */
#define RESULT_GAP_MS 100

struct pending_call {
    struct mcp_session *s;
    struct batch *batch; /* NULL for a plain request */
    char *id_raw;
    char *id_key;
    json_t *progress_token;              /* NULL when the client asked for no progress */
    const struct mcp_features *features; /* of the request's version */
    struct dispatch_call *call;
    struct list link; /* mcp_session.pending */
    /* What is held back until held_due: a stage to report (0: none), or
     * the call's result (result_held), which waits RESULT_GAP_MS after the
     * last progress notification. queued: in the session's queue of held
     * things, which is in due order. */
    enum dispatch_stage held_stage;
    bool result_held;
    json_t *held_result;
    bool queued;
    uint64_t held_due;
    struct list held_link; /* mcp_session.held, when queued */
    bool progress_sent;
    uint64_t progress_at; /* loop time of the last progress notification */
};

/* A batch's responses are collected and written as one array line when
 * the last of its requests has been answered. Each element is answered at
 * most once, so `lines` is sized for all of them up front and adding a
 * response never allocates. */
struct batch {
    struct mcp_session *s;
    char **lines;
    size_t count, cap;
    unsigned outstanding;
    bool parsing; /* still handing out elements; do not flush yet */
};

/* The reply to a request whose real reply could not be built or written
 * (out of memory) is built in memory the session holds from its start, so
 * every request still gets exactly one reply. Ids longer than this get a
 * buffer of their own, if memory allows. */
#define FALLBACK_LINE_MAX 1024
static const char fallback_head[] = "{\"jsonrpc\":\"2.0\",";
static const char fallback_tail[] =
    "\"error\":{\"code\":-32603,\"message\":\"Internal error: the server ran out "
    "of memory while answering this request\"}}";

struct mcp_session {
    uv_loop_t *loop;
    uv_timer_t *progress_timer; /* fires when the oldest held stage is due */
    struct list held;           /* pending_call.held_link, in due order */
    struct dispatch *dispatch;
    const struct config *cfg;
    mcp_write_fn write;
    void *write_data;
    const struct mcp_features *features; /* negotiated, NULL before initialize */
    char *client_name;
    char *client_version;
    char *transport, *address;     /* for the audit line; NULL: stdio */
    const struct persona *persona; /* HTTP: the authenticated one; NULL: default */
    int client_log_level;          /* index into mcp_levels, -1: no notifications */
    bool reporting;                /* logging a failed reply: no notifications now */
    bool caller_scoped;            /* the tool list depends on who asks */
    bool no_notifications;         /* the transport has nowhere to send them */
    bool seen_modern;              /* a 2026-07-28 request came before any initialize */
    struct mcp_outcome *outcome;   /* of the message being handled, or NULL */
    struct list pending;           /* pending_call.link */
    unsigned pending_count;
    char fallback[FALLBACK_LINE_MAX];
};

#define VERSION_COUNT (sizeof supported_versions / sizeof *supported_versions)

/* The session that is the log sink, if any: destroying another session
 * (one per HTTP exchange) must not take the sink away from it. */
static struct mcp_session *log_owner;

const struct mcp_features *mcp_features_find(const char *version)
{
    for (size_t i = 0; i < VERSION_COUNT; i++)
        if (!strcmp(version, supported_versions[i].version))
            return &supported_versions[i];
    return NULL;
}

/* The features of a version initialize can negotiate, or NULL. */
static const struct mcp_features *legacy_features_find(const char *version)
{
    const struct mcp_features *f = mcp_features_find(version);
    return f && !f->stateless ? f : NULL;
}

/* Every version the server speaks, newest first (new reference). */
static json_t *versions_json(void)
{
    json_t *list = json_array();
    for (size_t i = 0; i < VERSION_COUNT; i++)
        json_array_append_new(list, json_string(supported_versions[i].version));
    return list;
}

void mcp_session_set_caller_scoped(struct mcp_session *s, bool scoped)
{
    s->caller_scoped = scoped;
}

int mcp_version_supported(const char *version)
{
    return mcp_features_find(version) != NULL;
}

const char *mcp_session_version(const struct mcp_session *s)
{
    return s->features ? s->features->version : NULL;
}

unsigned mcp_session_pending(const struct mcp_session *s)
{
    return s->pending_count;
}

/* ---- checking outgoing lines ---- */

static const char *skip_space(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

static bool is_digit(const char *p, const char *end)
{
    return p < end && *p >= '0' && *p <= '9';
}

static const char *scan_digits(const char *p, const char *end)
{
    while (is_digit(p, end))
        p++;
    return p;
}

/* Whether c may follow a backslash in a JSON string ('u' is checked apart). */
static bool is_short_escape(unsigned char c)
{
    switch (c) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't':
        return true;
    default:
        return false;
    }
}

static bool is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

/* Each scanner returns the end of the token at p, or NULL if it is not one.
 * Every outgoing line goes through scan_string for each of its strings, so
 * the run of plain characters is skipped in a tight loop first. */
static const char *scan_string(const char *p, const char *end)
{
    if (p >= end || *p++ != '"')
        return NULL;
    for (;;) {
        while (p < end && *p != '"' && *p != '\\' && (unsigned char)*p >= 0x20)
            p++;
        if (p >= end || (unsigned char)*p < 0x20)
            return NULL;
        if (*p++ == '"')
            return p;
        if (p >= end)
            return NULL;
        unsigned char c = (unsigned char)*p++;
        if (c == 'u') {
            for (int i = 0; i < 4; i++, p++)
                if (p >= end || !is_hex((unsigned char)*p))
                    return NULL;
        } else if (!is_short_escape(c)) {
            return NULL;
        }
    }
}

static const char *scan_scalar(const char *p, const char *end)
{
    static const char *const words[] = {"true", "false", "null"};
    if (p < end && *p == '"')
        return scan_string(p, end);
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(end - p) >= n && !memcmp(p, words[i], n))
            return p + n;
    }
    if (p < end && *p == '-')
        p++;
    if (!is_digit(p, end))
        return NULL;
    p = *p == '0' ? p + 1 : scan_digits(p, end);
    if (p < end && *p == '.') {
        if (!is_digit(++p, end))
            return NULL;
        p = scan_digits(p, end);
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        if (++p < end && (*p == '+' || *p == '-'))
            p++;
        if (!is_digit(p, end))
            return NULL;
        p = scan_digits(p, end);
    }
    return p;
}

#define JSON_CHECK_DEPTH 4096

/* True when text[0..len) is exactly one JSON value. jansson 2.14 can report
 * success for a serialisation that lost an object key to a failed
 * allocation, so every line is checked before it is written; this scan
 * allocates nothing, so it works when memory is short. */
static bool json_text_valid(const char *p, size_t len)
{
    const char *end = p + len;
    unsigned char is_object[JSON_CHECK_DEPTH / 8] = {0};
    size_t depth = 0;
    bool want_value = true;
    for (;;) {
        p = skip_space(p, end);
        if (want_value && p < end && (*p == '{' || *p == '[')) {
            if (depth == JSON_CHECK_DEPTH)
                return false;
            bool obj = *p++ == '{';
            if (obj)
                is_object[depth / 8] |= (unsigned char)(1u << depth % 8);
            else
                is_object[depth / 8] &= (unsigned char)~(1u << depth % 8);
            depth++;
            p = skip_space(p, end);
            if (p < end && (*p == '}' || *p == ']')) {
                if (*p++ != (obj ? '}' : ']'))
                    return false;
                depth--;
                want_value = false;
                continue;
            }
            if (obj && (!(p = scan_string(p, end)) || (p = skip_space(p, end)) >= end ||
                        *p++ != ':'))
                return false;
            continue;
        }
        if (want_value) {
            if (!(p = scan_scalar(p, end)))
                return false;
            want_value = false;
            continue;
        }
        if (depth == 0)
            return p == end;
        bool obj = is_object[(depth - 1) / 8] & (1u << (depth - 1) % 8);
        if (p < end && *p == (obj ? '}' : ']')) {
            p++;
            depth--;
            continue;
        }
        if (p >= end || *p++ != ',')
            return false;
        if (obj && (!(p = scan_string(skip_space(p, end), end)) ||
                    (p = skip_space(p, end)) >= end || *p++ != ':'))
            return false;
        want_value = true;
    }
}

/* ---- writing ---- */

/* Every outgoing byte passes through here: a check that the line is JSON,
 * one redaction step, then the transport. Takes line. Returns 0 when the
 * line was handed over; nothing is written otherwise. Redaction fails
 * closed: when there is no memory for a redacted copy, the secret is
 * masked in the line itself. */
static int emit(struct mcp_session *s, char *line, size_t len)
{
    if (!line)
        return -1;
    int rc = -1;
    if (json_text_valid(line, len)) {
        char *clean = NULL;
        size_t clean_len = len;
        if (redact_apply(line, len, &clean, &clean_len) != 0)
            redact_mask_in_place(line, len);
        rc = clean ? s->write(s->write_data, clean, clean_len)
                   : s->write(s->write_data, line, len);
        free(clean);
    }
    free(line);
    return rc;
}

/* Logs a failure to answer, without sending the log to the client as a
 * notification (which could fail the same way and recurse). */
static void report_unanswered(struct mcp_session *s, const char *id_raw)
{
    s->reporting = true;
    log_error("out of memory: request %.64s could not be answered",
              id_raw ? id_raw : "without an id");
    s->reporting = false;
}

/* The -32603 reply for id_raw (NULL: no id member), in the session's own
 * buffer when it fits, else in a malloc'd one (*heap, to free). */
static char *fallback_line(struct mcp_session *s, const char *id_raw, size_t *len,
                           char **heap)
{
    size_t id_len = id_raw ? strlen(id_raw) : 0;
    size_t n =
        sizeof fallback_head - 1 + (id_raw ? id_len + 6 : 0) + sizeof fallback_tail - 1;
    *heap = NULL;
    char *buf = n + 1 > sizeof s->fallback ? (*heap = malloc(n + 1)) : s->fallback;
    if (!buf)
        return NULL;
    size_t o = 0;
    memcpy(buf, fallback_head, sizeof fallback_head - 1);
    o += sizeof fallback_head - 1;
    if (id_raw) {
        /* The line is assembled piece by piece; the last copy (the tail,
         * with its NUL) terminates it. */
        // NOLINTNEXTLINE(bugprone-not-null-terminated-result): see above
        memcpy(buf + o, "\"id\":", 5);
        // NOLINTNEXTLINE(bugprone-not-null-terminated-result): see above
        memcpy(buf + o + 5, id_raw, id_len);
        buf[o + 5 + id_len] = ',';
        o += id_len + 6;
    }
    memcpy(buf + o, fallback_tail, sizeof fallback_tail);
    *len = n;
    return buf;
}

/* Answers a request whose reply could not be built or written. */
static void answer_internal_error(struct mcp_session *s, const char *id_raw)
{
    size_t len;
    char *heap;
    char *line = fallback_line(s, id_raw, &len, &heap);
    int rc = -1;
    if (line) {
        /* The id is the client's text and may hold the key. */
        redact_mask_in_place(line, len);
        rc = s->write(s->write_data, line, len);
    }
    free(heap);
    /* A stdout that is gone is reported once, by its owner. */
    if (rc != 0 && rc != -EPIPE)
        report_unanswered(s, id_raw);
}

static void batch_flush(struct batch *b);

/* The id of an error answering a message whose id could not be read:
 * JSON-RPC says null, but newer versions forbid a null id and make the
 * member optional, so it is left out. Before initialize the version is
 * unknown and plain JSON-RPC applies, unless the client has shown itself
 * to speak 2026-07-28 (which forbids null too). */
static const char *unknown_id(const struct mcp_session *s)
{
    bool no_null = s->features ? s->features->no_null_id : s->seen_modern;
    return no_null ? NULL : "null";
}

/* Older versions have no structuredContent; its JSON is in the text block
 * anyway, so older clients lose nothing. */
static void fit_result_to_version(const struct mcp_features *f, json_t *result)
{
    if (f && !f->structured_content)
        json_object_del(result, "structuredContent");
}

/* serverInfo for the version f (new reference). */
static json_t *server_info(const struct mcp_features *f)
{
    json_t *info =
        json_pack("{s:s,s:s}", "name", MCP_SERVER_NAME, "version", MSG91_MCP_VERSION);
    if (f->titles)
        json_object_set_new(info, "title", json_string(service.title));
    if (f->server_description)
        json_object_set_new(info, "description", json_string(service.description));
    return info;
}

/* What 2026-07-28 adds to every result: resultType, and the server's name
 * in _meta (beside whatever _meta the result already has). */
static void add_result_members(json_t *result, const struct mcp_features *f)
{
    if (!f || !f->result_type || !result)
        return;
    json_object_set_new(result, "resultType", json_string("complete"));
    if (!f->server_info_meta)
        return;
    json_t *meta = json_object_get(result, "_meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(result, "_meta", meta);
    }
    json_object_set_new(meta, META_SERVER_INFO, server_info(f));
}

/* Sends the response line to the request id_raw, or adds it to its batch.
 * Takes line; NULL means building it ran out of memory. Returns true when
 * this very line went out (or into the batch), false when the request got
 * the internal-error reply instead. */
static bool respond(struct mcp_session *s, struct batch *b, const char *id_raw,
                    char *line, size_t len)
{
    if (!b) {
        if (emit(s, line, len) == 0)
            return true;
        answer_internal_error(s, id_raw);
        return false;
    }
    bool ok = line && json_text_valid(line, len);
    if (!ok) {
        free(line);
        char *heap;
        const char *fallback = fallback_line(s, id_raw, &len, &heap);
        line = heap ? heap : fallback ? strdup(fallback) : NULL;
    }
    if (line && b->count < b->cap)
        b->lines[b->count++] = line;
    else {
        free(line);
        report_unanswered(s, id_raw);
    }
    return ok;
}

/* Makes the response line (malloc'd, its length in *len) to the request
 * id_raw of a result shaped for the version f (may be NULL); NULL when
 * memory ran out. */
typedef char *result_line_fn(const char *id_raw, json_t *result,
                             const struct mcp_features *f, size_t *len);

/* Takes result, and responds with the line line_of makes of it. */
static bool respond_with(struct mcp_session *s, struct batch *b,
                         const struct mcp_features *f, const char *id_raw, json_t *result,
                         result_line_fn *line_of)
{
    size_t len = 0;
    char *line = result ? line_of(id_raw, result, f, &len) : NULL;
    json_decref(result);
    return respond(s, b, id_raw, line, len);
}

/* Any result, with what the version f wants on every result added. */
static char *result_line(const char *id_raw, json_t *result, const struct mcp_features *f,
                         size_t *len)
{
    add_result_members(result, f);
    return jsonrpc_result_line(id_raw, result, len);
}

/* Takes result. */
static bool respond_result(struct mcp_session *s, struct batch *b,
                           const struct mcp_features *f, const char *id_raw,
                           json_t *result)
{
    return respond_with(s, b, f, id_raw, result, result_line);
}

/* The members add_result_members gives a result of the version f, as
 * compact JSON text without the braces and with a leading comma
 * (malloc'd); "" when there are none; NULL when memory ran out. */
static char *result_members_text(const struct mcp_features *f)
{
    if (!f || !f->result_type)
        return strdup("");
    json_t *o = json_object();
    add_result_members(o, f);
    char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    if (text && text[0] == '{' && text[1] != '}') {
        text[0] = ',';
        text[strlen(text) - 1] = '\0';
    }
    return text;
}

/* The bytes json_dumps writes for the ASCII character c inside a string:
 * '"', '\\' and the C0 controls escaped (\b \f \n \r \t, else \u with
 * upper-case hex), everything else as it is. out has room for 6 bytes;
 * returns how many were written. */
static size_t escape_ascii(unsigned char c, char *out)
{
    const char *shorter = c > 0 && c < 0x20 ? strchr("\bb\tt\nn\ff\rr", c) : NULL;
    out[0] = '\\';
    if (c == '"' || c == '\\' || shorter) {
        out[1] = (char)c;
        if (shorter)
            out[1] = shorter[1];
        return 2;
    }
    if (c < 0x20) {
        out[1] = 'u';
        out[2] = '0';
        out[3] = '0';
        out[4] = "0123456789ABCDEF"[c >> 4];
        out[5] = "0123456789ABCDEF"[c & 0xf];
        return 6;
    }
    out[0] = (char)c;
    return 1;
}

/* Appends the JSON string str as json_dumps writes it. Text with a byte
 * past ASCII goes through jansson, which also checks its UTF-8. Escaping
 * here costs two scans (one to size, one to write) instead of a pass of
 * jansson's encoder, a callback per piece, over the same text. */
static int append_json_string(struct dynbuf *b, json_t *str)
{
    const char *s = json_string_value(str);
    size_t n = json_string_length(str), size = 2;
    char esc[8];
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x80) {
            char *dumped = json_dumps(str, JSON_ENCODE_ANY | JSON_COMPACT);
            int rc = dumped ? dynbuf_append_str(b, dumped) : DYNBUF_NOMEM;
            free(dumped);
            return rc;
        }
        size += c >= 0x20 && c != '"' && c != '\\' ? 1 : escape_ascii(c, esc);
    }
    char *out = malloc(size);
    if (!out) {
        dynbuf_finish(b);
        return DYNBUF_NOMEM;
    }
    size_t o = 0;
    out[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            out[o++] = (char)c;
        else
            o += escape_ascii(c, out + o);
    }
    out[o++] = '"';
    int rc = dynbuf_append(b, out, o);
    free(out);
    return rc;
}

/* A CallToolResult, shaped for the version f. A successful one holds its
 * structuredContent twice: as the object and, in its one text block, as
 * that object's compact JSON (see dispatch.h). The line reuses the text
 * for the object instead of serialising it again, which is most of the
 * cost of answering a call. */
static char *tool_result_line(const char *id_raw, json_t *result,
                              const struct mcp_features *f, size_t *len)
{
    fit_result_to_version(f, result);
    json_t *content = json_object_get(result, "content");
    json_t *text = json_object_get(json_array_get(content, 0), "text");
    if (!json_object_get(result, "structuredContent") || json_object_size(result) != 2 ||
        json_array_size(content) != 1 || !json_is_string(text))
        return result_line(id_raw, result, f, len);
    char *members = result_members_text(f);
    struct dynbuf b;
    dynbuf_init(&b, (size_t)1 << 30);
    int rc = members ? DYNBUF_OK : DYNBUF_NOMEM;
    rc = rc ? rc : dynbuf_append_str(&b, "{\"content\":[{\"type\":\"text\",\"text\":");
    rc = rc ? rc : append_json_string(&b, text);
    rc = rc ? rc : dynbuf_append_str(&b, "}],\"structuredContent\":");
    rc = rc ? rc : dynbuf_append(&b, json_string_value(text), json_string_length(text));
    rc = rc ? rc : dynbuf_append_str(&b, members);
    rc = rc ? rc : dynbuf_append_str(&b, "}");
    free(members);
    char *line = NULL;
    if (rc == DYNBUF_OK)
        line = jsonrpc_result_line_raw(id_raw, dynbuf_ptr(&b), dynbuf_len(&b), len);
    dynbuf_finish(&b);
    return line;
}

/* Takes result: a CallToolResult. */
static void respond_tool_result(struct mcp_session *s, struct batch *b,
                                const struct mcp_features *f, const char *id_raw,
                                json_t *result)
{
    respond_with(s, b, f, id_raw, result, tool_result_line);
}

/* The internal-error reply, alone or as part of a batch. */
static void answer_internal_error_in(struct mcp_session *s, struct batch *b,
                                     const char *id_raw)
{
    if (b)
        respond(s, b, id_raw, NULL, 0);
    else
        answer_internal_error(s, id_raw);
}

/* Takes data (may be NULL). An error to a message of its own (not in a
 * batch) is recorded in the outcome. */
static void respond_error_data(struct mcp_session *s, struct batch *b, const char *id_raw,
                               int code, const char *message, json_t *data)
{
    if (s->outcome && !b)
        s->outcome->error = code;
    size_t len = 0;
    char *line = jsonrpc_error_line(id_raw, code, message, data, &len);
    json_decref(data);
    respond(s, b, id_raw, line, len);
}

static void respond_error(struct mcp_session *s, struct batch *b, const char *id_raw,
                          int code, const char *message)
{
    respond_error_data(s, b, id_raw, code, message, NULL);
}

/* Notifications are best effort: one that cannot be built or written is
 * dropped, and nothing waits for it. */
static void notify(struct mcp_session *s, const char *method, json_t *params)
{
    if (s->no_notifications) {
        json_decref(params);
        return;
    }
    size_t len = 0;
    char *line = params ? jsonrpc_notification_line(method, params, &len) : NULL;
    json_decref(params);
    emit(s, line, len);
}

static void log_sink(void *data, enum log_level level, const char *text)
{
    struct mcp_session *s = data;
    static const int to_mcp[] = {0, 1, 3, 4}; /* debug info warning error */
    int mcp_level = to_mcp[level];
    if (s->client_log_level < 0 || mcp_level < s->client_log_level || s->reporting)
        return;
    notify(s, "notifications/message",
           json_pack("{s:s,s:s,s:s}", "level", mcp_levels[mcp_level], "logger",
                     MCP_SERVER_NAME, "data", text));
}

static void free_timer(uv_handle_t *h)
{
    free(h);
}

struct mcp_session *mcp_session_create(uv_loop_t *loop, struct dispatch *dispatch,
                                       const struct config *cfg, mcp_write_fn write,
                                       void *data)
{
    struct mcp_session *s = malloc(sizeof *s);
    uv_timer_t *timer = malloc(sizeof *timer);
    if (!s || !timer) {
        free(s);
        free(timer);
        return NULL;
    }
    /* The timer is its own allocation, freed in its close callback, so the
     * session can be freed at once however the loop is run afterwards. */
    uv_timer_init(loop, timer);
    timer->data = s;
    *s = (struct mcp_session){.loop = loop,
                              .progress_timer = timer,
                              .dispatch = dispatch,
                              .cfg = cfg,
                              .write = write,
                              .write_data = data,
                              .client_log_level = -1};
    list_init(&s->held);
    list_init(&s->pending);
    return s;
}

/* ---- held progress and results ---- */

/* The held call due first, or NULL. */
static struct pending_call *held_first(const struct mcp_session *s)
{
    // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): on_held_due's loop; see there
    return list_empty(&s->held)
               ? NULL
               : container_of(s->held.next, struct pending_call, held_link);
}

static void held_remove(struct pending_call *p)
{
    struct mcp_session *s = p->s;
    if (!p->queued)
        return;
    list_remove(&p->held_link);
    p->queued = false;
    p->held_stage = 0;
    /* Nothing held: nothing may wake the loop, or keep it running. */
    if (list_empty(&s->held))
        uv_timer_stop(s->progress_timer);
}

static void send_progress(struct pending_call *p, enum dispatch_stage stage)
{
    /* The total counts the answer as the third step; the result itself
     * reports it (see enum dispatch_stage). */
    const char *message = stage == DISPATCH_STAGE_QUEUED
                              ? "queued: waiting for a free upstream slot"
                              : service.progress_sent;
    json_t *params = json_pack("{s:O,s:i,s:i}", "progressToken", p->progress_token,
                               "progress", (int)stage, "total", 3);
    if (p->features->progress_message)
        json_object_set_new(params, "message", json_string(message));
    p->progress_sent = true;
    p->progress_at = uv_now(p->s->loop);
    notify(p->s, "notifications/progress", params);
}

static void finish_call(struct pending_call *p, json_t *result);

static void on_held_due(uv_timer_t *timer)
{
    struct mcp_session *s = timer->data;
    uint64_t now = uv_now(s->loop);
    /* held_remove below moves the head on before finish_call frees the
     * call; the analyzer does not follow it and takes the head for the
     * call freed in the last turn. */
    struct pending_call *p;
    // NOLINTNEXTLINE(clang-analyzer-unix.Malloc): see above
    while ((p = held_first(s)) && p->held_due <= now) {
        enum dispatch_stage stage = p->held_stage;
        held_remove(p);
        if (p->result_held) {
            json_t *result = p->held_result;
            p->held_result = NULL;
            p->result_held = false;
            finish_call(p, result);
        } else {
            send_progress(p, stage);
        }
    }
    if ((p = held_first(s)))
        uv_timer_start(timer, on_held_due, p->held_due - now, 0);
}

/* Puts p in the queue of held things at its due time (after those due no
 * later), and wakes the timer for it when it is the first. */
static void held_insert(struct pending_call *p, uint64_t due)
{
    struct mcp_session *s = p->s;
    struct list *after = s->held.prev;
    while (after != &s->held &&
           container_of(after, struct pending_call, held_link)->held_due > due)
        after = after->prev;
    p->held_due = due;
    list_insert(after, &p->held_link);
    p->queued = true;
    if (held_first(s) == p) {
        uint64_t now = uv_now(s->loop);
        uv_timer_start(s->progress_timer, on_held_due, due > now ? due - now : 0, 0);
    }
}

/* Holds the stage back until the call has been in it PROGRESS_HOLD_MS; a
 * later stage replaces an earlier one still held. */
static void hold_progress(struct pending_call *p, enum dispatch_stage stage)
{
    held_remove(p);
    p->held_stage = stage;
    held_insert(p, uv_now(p->s->loop) + PROGRESS_HOLD_MS);
}

/* Holds the result (taken) back until RESULT_GAP_MS after the last
 * progress notification, when that was sent less than that ago; a stage
 * still held is dropped. Returns false when the result may go now. */
static bool hold_result(struct pending_call *p, json_t *result)
{
    uint64_t due = p->progress_at + RESULT_GAP_MS;
    if (!p->progress_sent || uv_now(p->s->loop) >= due)
        return false;
    held_remove(p);
    p->result_held = true;
    p->held_result = result;
    held_insert(p, due);
    return true;
}

/* The call is over (answered, cancelled or abandoned): progress still
 * held back for it is dropped, so none follows or accompanies its result. */
static void pending_unlink(struct pending_call *p)
{
    struct mcp_session *s = p->s;
    held_remove(p);
    list_remove(&p->link);
    s->pending_count--;
}

static void pending_free(struct pending_call *p)
{
    held_remove(p);
    json_decref(p->held_result);
    free(p->id_raw);
    free(p->id_key);
    json_decref(p->progress_token);
    free(p);
}

void mcp_session_destroy(struct mcp_session *s)
{
    if (!s)
        return;
    /* Each turn frees its own call and no other. */
    struct pending_call *p, *next;
    list_for_each_safe(p, next, &s->pending, link) {
        dispatch_cancel(p->call);
        pending_unlink(p);
        struct batch *b = p->batch;
        pending_free(p);
        if (b && --b->outstanding == 0) {
            for (size_t i = 0; i < b->count; i++)
                free(b->lines[i]);
            free(b->lines);
            free(b);
        }
    }
    uv_close((uv_handle_t *)s->progress_timer, free_timer);
    if (log_owner == s) {
        log_set_sink(NULL, NULL);
        log_owner = NULL;
    }
    free(s->client_name);
    free(s->client_version);
    free(s->transport);
    free(s->address);
    free(s);
}

void mcp_session_set_peer(struct mcp_session *s, const char *transport,
                          const char *address, const struct persona *persona)
{
    s->persona = persona;
    /* Without memory for them the lines go out without the labels. */
    s->transport = transport ? strdup(transport) : NULL;
    s->address = address ? strdup(address) : NULL;
}

void mcp_session_drop_notifications(struct mcp_session *s)
{
    s->no_notifications = true;
}

/* ---- methods ---- */

/* One Tool object; fields are added by the version that introduced them. */
static json_t *tool_json(const struct dispatch_tool *t, const struct mcp_features *f)
{
    json_t *o = json_pack("{s:s}", "name", t->name);
    if (f->titles)
        json_object_set_new(o, "title", json_string(t->title));
    json_object_set_new(o, "description", json_string(t->description));
    json_object_set(o, "inputSchema", t->input_schema);
    if (f->output_schema)
        json_object_set(o, "outputSchema", t->output_schema);
    if (f->annotations) {
        json_object_set_new(o, "annotations",
                            json_pack("{s:s,s:b,s:b,s:b,s:b}", "title", t->title,
                                      "readOnlyHint", t->read_only, "destructiveHint",
                                      t->destructive, "idempotentHint", t->idempotent,
                                      "openWorldHint", t->open_world));
    }
    return o;
}

/* The tools persona may see (NULL: the dispatch's own persona). */
static json_t *tools_json_as(struct dispatch *dispatch, const struct persona *persona,
                             const struct mcp_features *f)
{
    const struct persona *p = persona ? persona : dispatch_persona(dispatch);
    json_t *tools = json_array();
    unsigned n = dispatch_tool_count_as(dispatch, p);
    for (unsigned i = 0; i < n; i++)
        json_array_append_new(tools, tool_json(dispatch_tool_at_as(dispatch, p, i), f));
    return tools;
}

json_t *mcp_tools_json(struct dispatch *dispatch, const struct mcp_features *f)
{
    return tools_json_as(dispatch, NULL, f);
}

/* How one request is served: its batch (2025-03-26 only), the features of
 * its version (NULL: a legacy request before initialize), and who asked,
 * for the audit log (borrowed). */
struct req {
    struct batch *b;
    const struct mcp_features *f;
    const char *client_name;
    const char *client_version;
};

static json_t *initialize_result(struct mcp_session *s)
{
    const struct mcp_features *f = s->features;
    return json_pack("{s:s,s:{s:{s:b},s:{}},s:o,s:s}", "protocolVersion", f->version,
                     "capabilities", "tools", "listChanged", 0, "logging", "serverInfo",
                     server_info(f), "instructions", service.instructions);
}

static void handle_initialize(struct mcp_session *s, const struct req *rq,
                              struct jsonrpc_message *m)
{
    struct batch *b = rq->b;
    if (b) {
        respond_error(s, b, m->id_raw, JSONRPC_INVALID_REQUEST,
                      "initialize must not be part of a batch");
        return;
    }
    if (s->features) {
        respond_error(s, b, m->id_raw, JSONRPC_INVALID_REQUEST,
                      "the session is already initialized");
        return;
    }
    json_t *requested = m->params ? json_object_get(m->params, "protocolVersion") : NULL;
    if (!json_is_object(m->params) || !json_is_string(requested)) {
        respond_error(s, b, m->id_raw, JSONRPC_INVALID_PARAMS,
                      "initialize needs params.protocolVersion (a string)");
        return;
    }
    const char *want = json_string_value(requested);
    /* Echo a version we speak, else offer our newest and let the client
     * decide; negotiation itself never fails. A handshake cannot open the
     * stateless era, so 2026-07-28 is answered with the newest legacy one. */
    s->features = legacy_features_find(want);
    if (!s->features)
        s->features = legacy_features_find(MCP_LATEST_VERSION);
    json_t *info = json_object_get(m->params, "clientInfo");
    const char *name = json_string_value(json_object_get(info, "name"));
    const char *version = json_string_value(json_object_get(info, "version"));
    /* The names only label audit lines: without memory for them the
     * session goes on unlabelled. */
    s->client_name = name ? strdup(name) : NULL;
    s->client_version = version ? strdup(version) : NULL;
    log_debug("initialize: client %s %s, protocol %s", name ? name : "?",
              version ? version : "?", s->features->version);
    if (!respond_result(s, b, NULL, m->id_raw, initialize_result(s))) {
        /* The client got an error, so it may send initialize again. */
        s->features = NULL;
        free(s->client_name);
        free(s->client_version);
        s->client_name = s->client_version = NULL;
    }
}

static void handle_tools_list(struct mcp_session *s, const struct req *rq,
                              struct jsonrpc_message *m)
{
    json_t *cursor =
        json_is_object(m->params) ? json_object_get(m->params, "cursor") : NULL;
    if (cursor && !json_is_null(cursor)) {
        /* Every tool fits in one page, so no cursor was ever handed out and
         * any cursor the client sends is not one of ours. */
        respond_error(s, rq->b, m->id_raw, JSONRPC_INVALID_PARAMS,
                      "invalid cursor: this server lists all tools in one page");
        return;
    }
    json_t *result =
        json_pack("{s:o}", "tools", tools_json_as(s->dispatch, s->persona, rq->f));
    if (rq->f->cache_hints && result) {
        /* The list is the same for every caller unless it depends on who
         * asks (personas): then no cache may share it between callers. */
        json_object_set_new(result, "ttlMs", json_integer(TOOLS_LIST_TTL_MS));
        json_object_set_new(result, "cacheScope",
                            json_string(s->caller_scoped ? "private" : "public"));
    }
    respond_result(s, rq->b, rq->f, m->id_raw, result);
}

static void handle_discover(struct mcp_session *s, const struct req *rq,
                            struct jsonrpc_message *m)
{
    /* Logging is not offered here: 2026-07-28 deprecates it, and the
     * server sends no log notifications to a request of this era. */
    json_t *result = json_pack("{s:o,s:{s:{s:b}},s:s,s:I,s:s}", "supportedVersions",
                               versions_json(), "capabilities", "tools", "listChanged", 0,
                               "instructions", service.instructions, "ttlMs",
                               (json_int_t)DISCOVER_TTL_MS, "cacheScope", "public");
    respond_result(s, rq->b, rq->f, m->id_raw, result);
}

/* The index of level in mcp_levels, or -1. */
static int level_index(const char *level)
{
    for (int i = 0; level && i < 8; i++)
        if (!strcmp(level, mcp_levels[i]))
            return i;
    return -1;
}

static const char bad_level[] = "level must be one of debug, info, notice, warning, "
                                "error, critical, alert, emergency";

static void handle_set_level(struct mcp_session *s, const struct req *rq,
                             struct jsonrpc_message *m)
{
    int found = level_index(json_string_value(json_object_get(m->params, "level")));
    if (found < 0) {
        respond_error(s, rq->b, m->id_raw, JSONRPC_INVALID_PARAMS, bad_level);
        return;
    }
    s->client_log_level = found;
    log_set_sink(log_sink, s);
    log_owner = s;
    respond_result(s, rq->b, rq->f, m->id_raw, json_object());
}

static void batch_done_one(struct batch *b)
{
    if (--b->outstanding == 0 && !b->parsing)
        batch_flush(b);
}

static void call_stage(void *data, enum dispatch_stage stage)
{
    struct pending_call *p = data;
    if (p->progress_token)
        hold_progress(p, stage);
}

/* Answers the pending call p with result (taken) and forgets it. */
static void finish_call(struct pending_call *p, json_t *result)
{
    struct mcp_session *s = p->s;
    struct batch *b = p->batch;
    pending_unlink(p);
    respond_tool_result(s, b, p->features, p->id_raw, result);
    pending_free(p);
    if (b)
        batch_done_one(b);
}

static void call_done(void *data, json_t *result)
{
    struct pending_call *p = data;
    p->call = NULL; /* dispatch is done with it */
    if (!hold_result(p, result))
        finish_call(p, result);
}

/* Starts the call of tool name with args (borrowed, may be NULL) and
 * answers it now, or keeps it pending until dispatch calls back. */
static void start_call(struct mcp_session *s, const struct req *rq,
                       struct jsonrpc_message *m, const char *name, json_t *args)
{
    struct batch *b = rq->b;
    json_t *token = json_object_get(json_object_get(m->params, "_meta"), "progressToken");
    if (token && !json_is_string(token) && !json_is_integer(token))
        token = NULL;
    struct pending_call *p = calloc(1, sizeof *p);
    if (!p) {
        answer_internal_error_in(s, b, m->id_raw);
        return;
    }
    p->s = s;
    p->batch = b;
    p->features = rq->f;
    p->id_raw = strdup(m->id_raw);
    p->id_key = strdup(m->id_key);
    if (!p->id_raw || !p->id_key) {
        pending_free(p);
        answer_internal_error_in(s, b, m->id_raw);
        return;
    }
    /* Without a way to send progress, none is held back or waited for. */
    p->progress_token = token && !s->no_notifications ? json_incref(token) : NULL;

    static const struct dispatch_callbacks callbacks = {call_done, call_stage};
    struct dispatch_client client = {.name = rq->client_name,
                                     .version = rq->client_version,
                                     .transport = s->transport ? s->transport : "stdio",
                                     .address = s->address,
                                     .persona = s->persona};
    json_t *result = NULL;
    enum dispatch_status st =
        dispatch_call(s->dispatch, name, args, &client, &callbacks, p, &result, &p->call);
    if (st == DISPATCH_PENDING) {
        list_insert(&s->pending, &p->link);
        s->pending_count++;
        if (b)
            b->outstanding++;
        return;
    }
    if (st == DISPATCH_UNKNOWN_TOOL) {
        char *text = NULL;
        if (asprintf(&text, "Unknown tool: %s", name) < 0)
            text = NULL;
        respond_error(s, b, p->id_raw, JSONRPC_INVALID_PARAMS,
                      text ? text : "Unknown tool");
        free(text);
    } else {
        respond_tool_result(s, b, rq->f, p->id_raw, result);
    }
    pending_free(p);
}

static void handle_tools_call(struct mcp_session *s, const struct req *rq,
                              struct jsonrpc_message *m)
{
    json_t *params = m->params;
    json_t *name = json_is_object(params) ? json_object_get(params, "name") : NULL;
    if (!json_is_string(name)) {
        respond_error(s, rq->b, m->id_raw, JSONRPC_INVALID_PARAMS,
                      "tools/call needs params.name (a string)");
        return;
    }
    json_t *args = json_object_get(params, "arguments");
    if (args && json_is_null(args))
        args = NULL;
    if (args && !json_is_object(args)) {
        respond_error(s, rq->b, m->id_raw, JSONRPC_INVALID_PARAMS,
                      "tools/call params.arguments must be an object");
        return;
    }
    start_call(s, rq, m, json_string_value(name), args);
}

void mcp_session_abandon_pending(struct mcp_session *s)
{
    /* finish_call frees its own call and no other. */
    struct pending_call *p, *next;
    list_for_each_safe(p, next, &s->pending, link) {
        dispatch_cancel(p->call);
        json_t *result = p->held_result;
        p->held_result = NULL;
        /* A result held back for its gap is the real answer: it goes now. */
        if (!p->result_held)
            result = dispatch_error_result(
                "The server is shutting down and stopped waiting for " SERVICE_NAME
                "'s answer; "
                "the request may or may not have been carried out.");
        p->result_held = false;
        finish_call(p, result);
    }
}

static void handle_cancelled(struct mcp_session *s, struct jsonrpc_message *m)
{
    json_t *id =
        json_is_object(m->params) ? json_object_get(m->params, "requestId") : NULL;
    char *key = id ? jsonrpc_id_key(id) : NULL;
    if (!key)
        return;
    struct pending_call *p;
    list_for_each(p, &s->pending, link) {
        if (!strcmp(p->id_key, key)) {
            log_debug("request %s cancelled by the client", p->id_raw);
            dispatch_cancel(p->call);
            pending_unlink(p);
            struct batch *b = p->batch;
            pending_free(p);
            if (b)
                batch_done_one(b);
            break;
        }
    }
    /* Unknown or finished ids are ignored: cancellation races completion. */
    free(key);
}

/* The id of a message whose copy of the id's text could not be made (out
 * of memory), written into buf without allocating; NULL if it cannot be. */
static const char *lost_id(const struct jsonrpc_message *m, char *buf, size_t size)
{
    json_t *id = json_is_object(m->root) ? json_object_get(m->root, "id") : NULL;
    if (m->error_code != JSONRPC_INTERNAL_ERROR || !id)
        return NULL;
    if (json_is_integer(id)) {
        snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(id));
        return buf;
    }
    if (!json_is_string(id))
        return NULL;
    const char *p = json_string_value(id);
    size_t n = json_string_length(id), o = 0;
    buf[o++] = '"';
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if (o + 8 > size)
            return NULL;
        if (c < 0x20 || c == '"' || c == '\\')
            o += (size_t)snprintf(buf + o, size - o, "\\u%04x", c);
        else
            buf[o++] = (char)c;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}

/* The features a legacy request is served with: the session's on stdio
 * (NULL before initialize). Over HTTP each exchange has a session of its
 * own and no handshake before it, so the header's version (2025-03-26
 * when absent, as the specification allows) stands in for it. */
static const struct mcp_features *
legacy_session_features(const struct mcp_session *s, const struct mcp_http_request *http)
{
    if (!http || s->features)
        return s->features;
    return legacy_features_find(http->protocol_version ? http->protocol_version
                                                       : "2025-03-26");
}

/* A request with a string holding \u0000. In a tool call this is an
 * argument a model can fix, so it is a tool error (as every invalid
 * argument is); elsewhere a protocol error. Either way the request's own
 * id is answered. */
static void answer_nul(struct mcp_session *s, const struct req *rq,
                       struct jsonrpc_message *m)
{
    static const char text[] =
        "a string holds a NUL character (\\u0000), which no " SERVICE_NAME
        " field accepts; remove it and send the request again";
    if (!strcmp(m->method, "tools/call") && rq->f) {
        char *msg = NULL;
        if (asprintf(&msg, "Invalid arguments: %s", text) < 0)
            msg = NULL;
        respond_result(s, rq->b, rq->f, m->id_raw,
                       dispatch_error_result(msg ? msg : text));
        free(msg);
    } else {
        respond_error(s, rq->b, m->id_raw, JSONRPC_INVALID_PARAMS,
                      "Invalid params: "
                      "a string "
                      "holds a NUL character (\\u0000), which no " SERVICE_NAME
                      " field accepts");
    }
}

/* A request of the legacy era, served with the features rq->f. */
static void serve_legacy(struct mcp_session *s, const struct req *rq,
                         struct jsonrpc_message *m)
{
    const char *method = m->method;
    if (m->has_nul) {
        answer_nul(s, rq, m);
    } else if (strcmp(method, "initialize") == 0) {
        handle_initialize(s, rq, m);
    } else if (strcmp(method, "ping") == 0) {
        respond_result(s, rq->b, NULL, m->id_raw, json_object());
    } else if (strcmp(method, "tools/list") != 0 && strcmp(method, "tools/call") != 0 &&
               strcmp(method, "logging/setLevel") != 0) {
        /* server/discover without a 2026-07-28 _meta, the resource, prompt
         * and completion methods and anything else are answered at once,
         * so probing clients fall back quickly instead of waiting. */
        respond_error(s, rq->b, m->id_raw, JSONRPC_METHOD_NOT_FOUND, "Method not found");
    } else if (!rq->f) {
        respond_error(s, rq->b, m->id_raw, JSONRPC_INVALID_REQUEST,
                      "Server not initialized: send initialize first");
    } else if (!strcmp(method, "tools/list")) {
        handle_tools_list(s, rq, m);
    } else if (!strcmp(method, "tools/call")) {
        handle_tools_call(s, rq, m);
    } else {
        handle_set_level(s, rq, m);
    }
}

/* ---- the 2026-07-28 era ---- */

/* The methods of the stateless era, with the client capabilities each
 * needs (a ClientCapabilities object as JSON text; NULL: none). None of
 * this server's methods needs one today: a tool that asked the client
 * for input (elicitation) would say so here, and a client that did not
 * declare it would get -32021. */
static const struct modern_method {
    const char *name;
    const char *requires;
    void (*handle)(struct mcp_session *s, const struct req *rq,
                   struct jsonrpc_message *m);
} modern_methods[] = {
    {"server/discover", NULL, handle_discover},
    {"tools/list", NULL, handle_tools_list},
    {"tools/call", NULL, handle_tools_call},
};

json_t *mcp_missing_capabilities(json_t *required, json_t *declared)
{
    json_t *missing = NULL;
    const char *key;
    json_t *want;
    json_object_foreach(required, key, want) {
        json_t *have = json_object_get(declared, key);
        json_t *gap = NULL;
        if (!have)
            gap = json_incref(want);
        else if (json_is_object(want) && json_object_size(want) > 0)
            gap = mcp_missing_capabilities(want, json_is_object(have) ? have : NULL);
        if (!gap)
            continue;
        if (!missing)
            missing = json_object();
        json_object_set_new(missing, key, gap);
    }
    return missing;
}

/* params._meta of a request, or NULL. */
static json_t *request_meta(const struct jsonrpc_message *m)
{
    json_t *meta = json_is_object(m->params) ? json_object_get(m->params, "_meta") : NULL;
    return json_is_object(meta) ? meta : NULL;
}

/* True when a request is served as 2026-07-28: over HTTP when its header
 * names no legacy version we speak (an absent header is legacy unless the
 * body carries the 2026-07-28 _meta); on stdio when its _meta names a
 * protocol version that is not a legacy one (an initialize handshake
 * selects the legacy era, a per-request version the modern one). */
static bool is_modern(const struct mcp_http_request *http,
                      const struct jsonrpc_message *m)
{
    const char *v = http ? http->protocol_version : NULL;
    if (!v) {
        json_t *mv = json_object_get(request_meta(m), META_PROTOCOL_VERSION);
        if (!mv)
            return false;
        if (!(v = json_string_value(mv)))
            return true; /* malformed: the modern path says what is wrong */
    }
    return !legacy_features_find(v);
}

/* Refuses a request for its envelope. Takes data. Returns false. */
static bool refuse(struct mcp_session *s, struct jsonrpc_message *m, int code,
                   const char *message, json_t *data)
{
    if (s->outcome)
        s->outcome->bad_envelope = true;
    respond_error_data(s, NULL, m->id_raw, code, message, data);
    return false;
}

/* The HTTP headers against the body (2026-07-28 Streamable HTTP): -32020
 * for any that is missing or disagrees. Returns true when they agree. */
static bool check_headers(struct mcp_session *s, const struct mcp_http_request *http,
                          struct jsonrpc_message *m, const char *body_version)
{
    if (!http->protocol_version)
        return refuse(s, m, MCP_HEADER_MISMATCH,
                      "Header mismatch: the MCP-Protocol-Version header is required",
                      NULL);
    if (strcmp(http->protocol_version, body_version) != 0)
        return refuse(s, m, MCP_HEADER_MISMATCH,
                      "Header mismatch: MCP-Protocol-Version differs from "
                      "_meta[\"" META_PROTOCOL_VERSION "\"]",
                      NULL);
    if (!http->method || strcmp(http->method, m->method) != 0)
        return refuse(s, m, MCP_HEADER_MISMATCH,
                      "Header mismatch: the Mcp-Method header must be the request's "
                      "method",
                      NULL);
    /* Mcp-Name mirrors the name (or URI) of the methods that have one. */
    const char *member =
        !strcmp(m->method, "tools/call") || !strcmp(m->method, "prompts/get") ? "name"
        : !strcmp(m->method, "resources/read")                                ? "uri"
                                                                              : NULL;
    const char *name =
        member ? json_string_value(json_object_get(m->params, member)) : NULL;
    if (member && (!http->name || !name || strcmp(http->name, name) != 0))
        return refuse(s, m, MCP_HEADER_MISMATCH,
                      "Header mismatch: the Mcp-Name header must be the request's "
                      "params.name (params.uri for resources/read)",
                      NULL);
    return true;
}

/* The per-request protocol fields, in the order the specification and its
 * conformance suite check them: a version we serve (-32022), the required
 * _meta fields (-32602), the HTTP headers (-32020), the optional log
 * level (-32602). Fills rq and returns true when the request may go on. */
static bool check_envelope(struct mcp_session *s, const struct mcp_http_request *http,
                           struct jsonrpc_message *m, struct req *rq)
{
    json_t *meta = request_meta(m);
    json_t *mv = json_object_get(meta, META_PROTOCOL_VERSION);
    const char *v =
        http && http->protocol_version ? http->protocol_version : json_string_value(mv);
    if (!v)
        return refuse(s, m, JSONRPC_INVALID_PARAMS,
                      "Invalid params: _meta[\"" META_PROTOCOL_VERSION
                      "\"] must be a string",
                      NULL);
    rq->f = mcp_features_find(v);
    if (!rq->f || !rq->f->stateless)
        return refuse(
            s, m, MCP_UNSUPPORTED_PROTOCOL_VERSION, "Unsupported protocol version",
            json_pack("{s:o,s:s}", "supported", versions_json(), "requested", v));
    if (!json_is_string(mv))
        return refuse(s, m, JSONRPC_INVALID_PARAMS,
                      "Invalid params: _meta[\"" META_PROTOCOL_VERSION
                      "\"] is required (a string)",
                      NULL);
    if (!json_is_object(json_object_get(meta, META_CLIENT_CAPABILITIES)))
        return refuse(s, m, JSONRPC_INVALID_PARAMS,
                      "Invalid params: _meta[\"" META_CLIENT_CAPABILITIES
                      "\"] is required (an object)",
                      NULL);
    if (http && !check_headers(s, http, m, json_string_value(mv)))
        return false;
    json_t *level = json_object_get(meta, META_LOG_LEVEL);
    if (level && level_index(json_string_value(level)) < 0)
        return refuse(s, m, JSONRPC_INVALID_PARAMS, bad_level, NULL);
    /* clientInfo is optional and only labels audit lines. */
    json_t *info = json_object_get(meta, META_CLIENT_INFO);
    rq->client_name = json_string_value(json_object_get(info, "name"));
    rq->client_version = json_string_value(json_object_get(info, "version"));
    return true;
}

/* A request of the 2026-07-28 era: everything it needs is in itself. */
static void serve_modern(struct mcp_session *s, const struct mcp_http_request *http,
                         struct jsonrpc_message *m)
{
    struct req rq = {0};
    if (!s->features)
        s->seen_modern = true;
    if (!check_envelope(s, http, m, &rq))
        return;
    if (m->has_nul) {
        answer_nul(s, &rq, m);
        return;
    }
    const struct modern_method *mm = NULL;
    for (size_t i = 0; i < sizeof modern_methods / sizeof *modern_methods; i++)
        if (!strcmp(m->method, modern_methods[i].name))
            mm = &modern_methods[i];
    if (!mm) {
        /* initialize, ping, logging/setLevel and the rest do not exist in
         * this era. */
        respond_error(s, NULL, m->id_raw, JSONRPC_METHOD_NOT_FOUND, "Method not found");
        return;
    }
    json_t *required = mm->requires ? json_loads(mm->requires, 0, NULL) : NULL;
    json_t *missing = mcp_missing_capabilities(
        required, json_object_get(request_meta(m), META_CLIENT_CAPABILITIES));
    json_decref(required);
    if (missing) {
        refuse(s, m, MCP_MISSING_CLIENT_CAPABILITY, "Missing required client capability",
               json_pack("{s:o}", "requiredCapabilities", missing));
        return;
    }
    mm->handle(s, &rq, m);
}

/* ---- messages ---- */

static void handle_message(struct mcp_session *s, struct batch *b,
                           const struct mcp_http_request *http, struct jsonrpc_message *m)
{
    char id_buf[256];
    const char *id = NULL;
    switch (m->kind) {
    case JSONRPC_INVALID:
        if (!(id = m->id_raw) && !(id = lost_id(m, id_buf, sizeof id_buf)))
            id = unknown_id(s);
        /* Not a JSON-RPC message: nothing of either era reads it (HTTP 400). */
        if (s->outcome && !b)
            s->outcome->bad_envelope = true;
        respond_error(s, b, id, m->error_code, m->error_text);
        return;
    case JSONRPC_RESPONSE:
        /* The server sends no requests, so a response answers nothing. */
        return;
    case JSONRPC_BATCH:
        respond_error(s, b, unknown_id(s), JSONRPC_INVALID_REQUEST,
                      "Invalid Request: batches may not be nested");
        return;
    case JSONRPC_NOTIFICATION:
        if (!strcmp(m->method, "notifications/cancelled"))
            handle_cancelled(s, m);
        /* notifications/initialized and unknown notifications need nothing. */
        return;
    case JSONRPC_REQUEST:
        break;
    }
    if (!b && is_modern(http, m)) {
        if (s->outcome)
            s->outcome->modern = true;
        serve_modern(s, http, m);
        return;
    }
    struct req rq = {b, legacy_session_features(s, http), s->client_name,
                     s->client_version};
    serve_legacy(s, &rq, m);
}

/* The batch's responses as one JSON array, or NULL when memory ran out. */
static char *batch_join(const struct batch *b, size_t *len)
{
    size_t total = 2;
    for (size_t i = 0; i < b->count; i++)
        total += strlen(b->lines[i]) + 1;
    char *line = malloc(total + 1);
    if (!line)
        return NULL;
    size_t o = 0;
    line[o++] = '[';
    for (size_t i = 0; i < b->count; i++) {
        size_t n = strlen(b->lines[i]);
        if (i)
            line[o++] = ',';
        memcpy(line + o, b->lines[i], n);
        o += n;
    }
    line[o++] = ']';
    line[o] = '\0';
    *len = o;
    return line;
}

static void batch_flush(struct batch *b)
{
    struct mcp_session *s = b->s;
    size_t len = 0;
    char *joined = b->count > 0 ? batch_join(b, &len) : NULL;
    if (b->count > 0 && emit(s, joined, len) != 0) {
        /* Without memory for the array, each response goes out on its own
         * line: JSON-RPC clients match responses by id, so each request is
         * still answered once. emit takes each line. */
        for (size_t i = 0; i < b->count; i++) {
            if (emit(s, b->lines[i], strlen(b->lines[i])) != 0)
                report_unanswered(s, "in a batch");
            b->lines[i] = NULL;
        }
    }
    for (size_t i = 0; i < b->count; i++)
        free(b->lines[i]);
    free(b->lines);
    free(b);
}

static void handle_batch(struct mcp_session *s, const struct mcp_http_request *http,
                         const struct jsonrpc_message *batch)
{
    json_t *array = batch->root;
    const struct mcp_features *f = legacy_session_features(s, http);
    /* Only one version has batches; every other version gets one error. */
    if (!f || !f->batches || json_array_size(array) == 0) {
        if (s->outcome) {
            s->outcome->request = true; /* the error is its reply */
            s->outcome->bad_envelope = true;
        }
        respond_error(s, NULL, unknown_id(s), JSONRPC_INVALID_REQUEST,
                      json_array_size(array) == 0
                          ? "Invalid Request: empty batch"
                          : "Invalid Request: batches are only accepted with protocol "
                            "version 2025-03-26");
        return;
    }
    struct batch *b = calloc(1, sizeof *b);
    if (b)
        b->lines = calloc(json_array_size(array), sizeof *b->lines);
    if (!b || !b->lines) {
        /* Nothing of the batch was read: one error answers it, as for an
         * invalid batch. */
        free(b);
        answer_internal_error(s, unknown_id(s));
        return;
    }
    b->cap = json_array_size(array);
    b->s = s;
    b->parsing = true;
    size_t i;
    json_t *item;
    json_array_foreach(array, i, item) {
        struct jsonrpc_message m;
        jsonrpc_parse_element(batch, i, &m);
        if (s->outcome)
            s->outcome->request |=
                m.kind != JSONRPC_NOTIFICATION && m.kind != JSONRPC_RESPONSE;
        handle_message(s, b, NULL, &m);
        jsonrpc_message_finish(&m);
    }
    b->parsing = false;
    if (b->outstanding == 0)
        batch_flush(b);
}

void mcp_session_handle_message(struct mcp_session *s, const char *text, size_t len,
                                const struct mcp_http_request *http,
                                struct mcp_outcome *out)
{
    struct mcp_outcome ignored;
    if (!out)
        out = &ignored;
    memset(out, 0, sizeof *out);
    s->outcome = out;
    struct jsonrpc_message m;
    jsonrpc_parse_line(text, len, &m);
    if (m.kind == JSONRPC_BATCH) {
        handle_batch(s, http, &m);
    } else {
        out->request = m.kind != JSONRPC_NOTIFICATION && m.kind != JSONRPC_RESPONSE;
        handle_message(s, NULL, http, &m);
    }
    jsonrpc_message_finish(&m);
    s->outcome = NULL;
}

void mcp_session_handle_line(struct mcp_session *s, const char *line, size_t len)
{
    mcp_session_handle_message(s, line, len, NULL, NULL);
}

int mcp_outcome_http_status(const struct mcp_outcome *o)
{
    if (!o->request)
        return 202;
    if (o->bad_envelope || o->error == JSONRPC_PARSE_ERROR)
        return 400;
    if (o->modern && o->error == JSONRPC_METHOD_NOT_FOUND)
        return 404;
    return 200;
}

void mcp_session_line_too_big(struct mcp_session *s, size_t max_line)
{
    char text[160];
    snprintf(
        text, sizeof text,
        "Invalid Request: the message is larger than the %zu-byte line limit and was "
        "discarded (MSG91_MAX_LINE_BYTES)",
        max_line);
    respond_error(s, NULL, unknown_id(s), JSONRPC_INVALID_REQUEST, text);
}

void mcp_session_line_lost(struct mcp_session *s)
{
    respond_error(s, NULL, unknown_id(s), JSONRPC_INTERNAL_ERROR,
                  "Internal error: the server ran out of memory while reading a "
                  "message, which was discarded; send it again");
}
