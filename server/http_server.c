#include "server/http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "util/dynbuf.h"
#include "util/list.h"
#include "util/log.h"
#include "util/msg.h"

/* The JSON-RPC codes of the transport's own refusals: the one of
 * 2026-07-28 for a header that cannot be read, the generic one for the
 * HTTP rules. */
#define RPC_INVALID_REQUEST (-32600)
#define MCP_HEADER_MISMATCH (-32020)

/* MHD reads the request line and headers into this much memory per
 * connection: larger headers get 431 from MHD itself. As much as nginx's
 * large header buffer (MCP requests carry a few short headers and a
 * bearer token), and no more: MHD zeroes the whole pool before each
 * request, so its size is paid on every call (32 KiB, the default, was a
 * seventh of the instructions of a tools/call). */
#define CONNECTION_MEMORY ((size_t)8 * 1024)
#define TLS_FILE_MAX ((size_t)256 * 1024)
/* No timer wait is longer: a timeout MHD does not report is still seen. */
#define MAX_WAIT_MS 1000

/* One request from its headers to its last byte sent. It lives until both
 * MHD is done with it and the handler has replied, whichever is last. */
struct request {
    struct http_server *srv;
    struct MHD_Connection *conn;
    struct dynbuf body;
    bool too_big;
    size_t dropped; /* bytes read past the limit */
    bool suspended;
    bool handled;    /* the handler has it */
    bool answered;   /* the handler replied */
    bool mhd_done;   /* MHD completed or dropped it */
    bool in_handler; /* the handler is running: a reply now is synchronous */
    const void *persona;
    unsigned status;
    char *reply;
    size_t reply_len;
    struct request *prev, *next; /* waiting for the handler, to detach */
};

/* One open connection, oldest first: when connections run short, the
 * oldest one without a request in progress is closed to make room, so
 * idle and slow clients cannot keep everybody else out. */
struct conn_rec {
    struct MHD_Connection *conn;
    int fd;
    char client[INET6_ADDRSTRLEN + 16]; /* "ADDRESS:PORT", for the audit line */
    bool busy;                          /* a request was read and is being answered */
    bool evicted;                       /* shut down, waiting for MHD to notice */
    struct list link;                   /* http_server.conns */
};

struct http_server {
    uv_loop_t *loop;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    const struct http_handler *handler;
    void *ctx;
    struct http_server_options o;
    char *origins; /* a copy of o.allowed_origins */
    char *tls_cert, *tls_key;
    bool loopback_bound;
    bool tls;
    uint16_t port;
    unsigned inflight;
    bool quiesced;
    bool destroying;
    unsigned open_handles;
    struct request *waiting;
    struct list conn_list; /* conn_rec.link, oldest first */
    unsigned conns;
    unsigned evict_above; /* open connections past which the oldest idle goes */
    void (*closed)(void *data);
    void *closed_data;
};

/* ---- small helpers ---- */

/* The host part of "host[:port]" (an IPv6 literal keeps its brackets). */
static size_t host_part(const char *hostport, size_t len)
{
    if (len > 0 && hostport[0] == '[') {
        const char *close = memchr(hostport, ']', len);
        return close ? (size_t)(close - hostport) + 1 : len;
    }
    const char *colon = memchr(hostport, ':', len);
    return colon ? (size_t)(colon - hostport) : len;
}

static bool origin_listed(const struct http_server *s, const char *origin)
{
    if (!s->origins)
        return false;
    size_t olen = strlen(origin);
    for (const char *p = s->origins; *p;) {
        size_t n = strcspn(p, ",");
        const char *item = p;
        size_t ilen = n;
        while (ilen && (*item == ' ' || *item == '\t'))
            item++, ilen--;
        while (ilen && (item[ilen - 1] == ' ' || item[ilen - 1] == '\t'))
            ilen--;
        if (ilen == olen && !strncasecmp(item, origin, olen))
            return true;
        p += n + (p[n] == ',');
    }
    return false;
}

/* The host of an "scheme://host[:port]" origin, or len 0. */
static size_t origin_host(const char *origin, const char **host)
{
    const char *sep = strstr(origin, "://");
    if (!sep)
        return 0;
    *host = sep + 3;
    size_t rest = strcspn(*host, "/");
    return host_part(*host, rest);
}

/* A host named by an allowed origin is allowed in Host too: a reverse
 * proxy in front of a loopback server may pass the public name on. */
static bool host_of_listed_origin(const struct http_server *s, const char *host,
                                  size_t len)
{
    if (!s->origins)
        return false;
    char *copy = strdup(s->origins);
    bool found = false;
    char *save = NULL;
    for (char *tok = copy ? strtok_r(copy, ", \t", &save) : NULL; tok && !found;
         tok = strtok_r(NULL, ", \t", &save)) {
        const char *h = NULL;
        size_t hl = origin_host(tok, &h);
        found = hl == len && !strncasecmp(h, host, len);
    }
    free(copy);
    return found;
}

/* DNS rebinding: a page served from another site may reach a loopback
 * server through a name that resolves to 127.0.0.1, so a present Origin
 * must be loopback or listed, and on a loopback server the Host must name
 * it. */
static bool origin_and_host_ok(const struct http_server *s, struct MHD_Connection *c)
{
    const char *origin = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
    if (origin) {
        const char *h = NULL;
        size_t hl = origin_host(origin, &h);
        if (!origin_listed(s, origin) && !(hl && http_server_is_loopback_host(h, hl)))
            return false;
    }
    if (!s->loopback_bound)
        return true;
    const char *host = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Host");
    if (!host)
        return false;
    size_t hl = host_part(host, strlen(host));
    return http_server_is_loopback_host(host, hl) || host_of_listed_origin(s, host, hl);
}

/* True when an Accept or Content-Type list names type (or a wildcard
 * covering it, when wild is set). */
static bool media_listed(const char *list, const char *type, bool wild)
{
    size_t tlen = strlen(type);
    const char *slash = strchr(type, '/');
    size_t major = (size_t)(slash - type);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        size_t n = strcspn(p, ",;");
        size_t m = n;
        while (m && (p[m - 1] == ' ' || p[m - 1] == '\t'))
            m--;
        if ((m == tlen && !strncasecmp(p, type, tlen)) ||
            (wild && ((m == 3 && !strncmp(p, "*/*", 3)) ||
                      (m == major + 2 && !strncasecmp(p, type, major) &&
                       !strncmp(p + major, "/*", 2)))))
            return true;
        p += strcspn(p, ",");
    }
    return false;
}

/* ---- responses ---- */

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, const char *body,
                             size_t len, const char *type)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (len > 0 && type)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "POST");
    if (status == MHD_HTTP_UNAUTHORIZED)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
                                "Bearer realm=\"msg91-mcp\"");
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    enum MHD_Result rc = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return rc;
}

/* A JSON-RPC error with the given id (borrowed; NULL: null). */
static enum MHD_Result queue_rpc_error(struct MHD_Connection *c, unsigned status,
                                       json_t *id, int code, const char *message,
                                       json_t *data)
{
    json_t *err = json_pack("{s:i,s:s}", "code", code, "message", message);
    if (err && data)
        json_object_set(err, "data", data);
    json_t *msg = json_pack("{s:s,s:O,s:o}", "jsonrpc", "2.0", "id",
                            id ? id : json_null(), "error", err);
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    enum MHD_Result rc = text ? queue(c, status, text, strlen(text), "application/json")
                              : queue(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "", 0, NULL);
    free(text);
    return rc;
}

static enum MHD_Result queue_text(struct MHD_Connection *c, unsigned status,
                                  const char *message)
{
    return queue_rpc_error(c, status, NULL, RPC_INVALID_REQUEST, message, NULL);
}

/* ---- the request lifecycle ---- */

static void waiting_unlink(struct request *rq)
{
    struct http_server *s = rq->srv;
    if (rq->prev)
        rq->prev->next = rq->next;
    else if (s && s->waiting == rq)
        s->waiting = rq->next;
    if (rq->next)
        rq->next->prev = rq->prev;
    rq->prev = rq->next = NULL;
}

/* Hands the persona back to the handler: a SIGHUP between the headers
 * and the body must not free the persona the request authenticated as. */
static void release_persona(struct http_server *s, struct request *rq)
{
    if (rq->persona && s && s->handler->release)
        s->handler->release(s->ctx, rq->persona);
    rq->persona = NULL;
}

static void request_free(struct request *rq)
{
    release_persona(rq->srv, rq); /* a handled request has released it */
    dynbuf_finish(&rq->body);
    free(rq->reply);
    free(rq);
}

static void schedule(struct http_server *s);

/* Runs MHD over what is ready and arms the timer for what comes next. */
static void run_mhd(struct http_server *s)
{
    if (!s->mhd)
        return;
    MHD_run(s->mhd);
    schedule(s);
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status;
    (void)events;
    run_mhd(p->data);
}

static void schedule(struct http_server *s)
{
    MHD_UNSIGNED_LONG_LONG ms = MAX_WAIT_MS;
    if (MHD_get_timeout(s->mhd, &ms) != MHD_YES || ms > MAX_WAIT_MS)
        ms = MAX_WAIT_MS;
    uv_timer_start(&s->timer, on_timer, (uint64_t)ms, 0);
}

static void on_reply(void *call_ctx, unsigned status, const char *body, size_t len)
{
    struct request *rq = call_ctx;
    rq->answered = true;
    rq->status = status;
    rq->reply = len ? strndup(body, len) : NULL;
    rq->reply_len = rq->reply ? len : 0;
    if (len && !rq->reply)
        rq->status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    if (rq->mhd_done || !rq->srv) {
        /* The connection went away first (or the server stopped). */
        request_free(rq);
        return;
    }
    waiting_unlink(rq);
    if (rq->in_handler)
        return;
    if (rq->suspended) {
        rq->suspended = false;
        MHD_resume_connection(rq->conn);
    }
    /* MHD picks the resumed connection up on its next run. */
    uv_timer_start(&rq->srv->timer, on_timer, 0, 0);
}

static enum MHD_Result queue_reply(struct request *rq)
{
    if (rq->status == 0)
        rq->status = rq->reply_len ? MHD_HTTP_OK : MHD_HTTP_ACCEPTED;
    return queue(rq->conn, rq->status, rq->reply ? rq->reply : "", rq->reply_len,
                 "application/json");
}

static void conn_mark(struct http_server *s, struct MHD_Connection *c, bool busy);

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)toe;
    struct http_server *s = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return;
    *con_cls = NULL;
    s->inflight--;
    rq->mhd_done = true;
    conn_mark(s, c, false);
    if (rq->handled && !rq->answered) {
        /* Only when the server stops: the reply will free it. */
        waiting_unlink(rq);
        rq->srv = NULL;
        return;
    }
    request_free(rq);
}

static void client_address(struct MHD_Connection *c, char *buf, size_t size)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    snprintf(buf, size, "unknown");
    if (!ci || !ci->client_addr)
        return;
    char ip[INET6_ADDRSTRLEN];
    if (ci->client_addr->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ci->client_addr;
        if (inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip))
            snprintf(buf, size, "%s:%u", ip, (unsigned)ntohs(a->sin_port));
    } else if (ci->client_addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ci->client_addr;
        if (inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip))
            snprintf(buf, size, "[%s]:%u", ip, (unsigned)ntohs(a->sin6_port));
    }
}

/* The MCP headers the handler gets, decoded. */
static const char *const mcp_header_names[] = {"MCP-Protocol-Version", "Mcp-Method",
                                               "Mcp-Name"};
#define MCP_HEADERS (sizeof mcp_header_names / sizeof *mcp_header_names)

/* Decodes the MCP headers into values (each malloc'd, NULL when absent).
 * An Mcp-Method or Mcp-Name that does not decode counts as absent (the
 * handler says it is missing); a protocol version that does not decode
 * leaves the era unknown, so it is refused here. Returns false then. */
static bool decode_mcp_headers(struct MHD_Connection *c, char *values[MCP_HEADERS])
{
    for (size_t i = 0; i < MCP_HEADERS; i++) {
        const char *raw =
            MHD_lookup_connection_value(c, MHD_HEADER_KIND, mcp_header_names[i]);
        values[i] = raw ? http_server_header_value(raw) : NULL;
        if (raw && !values[i] && i == 0)
            return false;
    }
    return true;
}

/* The whole body is in: hand it over with what the headers said. */
static enum MHD_Result process_body(struct request *rq)
{
    char *mcp[MCP_HEADERS] = {0};
    if (!decode_mcp_headers(rq->conn, mcp)) {
        for (size_t i = 0; i < MCP_HEADERS; i++)
            free(mcp[i]);
        return queue_rpc_error(rq->conn, MHD_HTTP_BAD_REQUEST, NULL, MCP_HEADER_MISMATCH,
                               "Header mismatch: the MCP-Protocol-Version header is "
                               "not valid",
                               NULL);
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(rq->conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    const struct conn_rec *r = ci ? ci->socket_context : NULL;
    char client[INET6_ADDRSTRLEN + 16];
    if (!r)
        client_address(rq->conn, client, sizeof client);
    struct http_request_info info = {
        .protocol_version = mcp[0],
        .mcp_method = mcp[1],
        .mcp_name = mcp[2],
        .persona = rq->persona,
        .client = r ? r->client : client,
        .transport = rq->srv->tls ? "https" : "http",
    };
    rq->handled = true;
    rq->in_handler = true;
    struct http_server *s = rq->srv;
    s->handler->handle(s->ctx, dynbuf_ptr(&rq->body), dynbuf_len(&rq->body), &info,
                       on_reply, rq);
    rq->in_handler = false;
    release_persona(s, rq); /* handle holds what it still needs */
    for (size_t i = 0; i < MCP_HEADERS; i++)
        free(mcp[i]);
    dynbuf_finish(&rq->body);
    if (rq->answered)
        return queue_reply(rq);
    rq->prev = NULL;
    rq->next = s->waiting;
    if (s->waiting)
        s->waiting->prev = rq;
    s->waiting = rq;
    rq->suspended = true;
    MHD_suspend_connection(rq->conn);
    return MHD_YES;
}

/* ---- connections ---- */

static void conn_append(struct http_server *s, struct conn_rec *r)
{
    list_insert(s->conn_list.prev, &r->link);
}

/* Shuts the oldest idle connection down; MHD sees the end of the stream
 * on its next run and closes it. A connection still sending its headers
 * counts as idle: nothing of it has reached the handler. */
static void evict_oldest_idle(struct http_server *s)
{
    struct conn_rec *r;
    list_for_each(r, &s->conn_list, link) {
        if (!r->busy && !r->evicted) {
            r->evicted = true;
            shutdown(r->fd, SHUT_RDWR);
            return;
        }
    }
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct http_server *s = cls;
    struct conn_rec *r = *socket_context;
    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        if (r) {
            list_remove(&r->link);
            s->conns--;
            free(r);
            *socket_context = NULL;
        }
        return;
    }
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci || !(r = calloc(1, sizeof *r)))
        return; /* not tracked: never evicted */
    r->conn = c;
    r->fd = ci->connect_fd;
    client_address(c, r->client, sizeof r->client);
    *socket_context = r;
    conn_append(s, r);
    if (++s->conns > s->evict_above)
        evict_oldest_idle(s);
}

/* Marks the connection busy (a request is in progress) or idle again, at
 * the young end of the list. */
static void conn_mark(struct http_server *s, struct MHD_Connection *c, bool busy)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    struct conn_rec *r = ci ? ci->socket_context : NULL;
    if (!r)
        return;
    r->busy = busy;
    if (!busy) {
        list_remove(&r->link);
        conn_append(s, r);
    }
}

/* ---- the access handler ---- */

static enum MHD_Result answer_healthz(struct MHD_Connection *c, const char *method)
{
    static const char ok[] = "{\"status\":\"ok\"}";
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        struct MHD_Response *r =
            MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
        if (!r)
            return MHD_NO;
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET");
        enum MHD_Result rc = MHD_queue_response(c, MHD_HTTP_METHOD_NOT_ALLOWED, r);
        MHD_destroy_response(r);
        return rc;
    }
    return queue(c, MHD_HTTP_OK, ok, sizeof ok - 1, "application/json");
}

/* The checks that need only the request line and headers, in the order of
 * the specification: method, Origin and Host, authentication, Accept,
 * Content-Type, size. Returns true when an answer was queued (*rc). */
static bool refuse_early(struct http_server *s, struct MHD_Connection *c,
                         const char *method, const void **persona, enum MHD_Result *rc)
{
    if (strcmp(method, "POST") != 0) {
        *rc = queue(c, MHD_HTTP_METHOD_NOT_ALLOWED, "", 0, NULL);
        return true;
    }
    if (!origin_and_host_ok(s, c)) {
        *rc = queue_text(c, MHD_HTTP_FORBIDDEN, "Forbidden: Origin or Host not allowed");
        return true;
    }
    if (s->o.require_auth && !(*persona = s->handler->authenticate(
                                   s->ctx, MHD_lookup_connection_value(
                                               c, MHD_HEADER_KIND, "Authorization")))) {
        *rc = queue_text(c, MHD_HTTP_UNAUTHORIZED,
                         "Unauthorized: a valid bearer token is required");
        return true;
    }
    if (s->quiesced) {
        *rc = queue_text(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                         "Service Unavailable: the server is shutting down");
        return true;
    }
    const char *accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Accept");
    if (!media_listed(accept, "application/json", true) ||
        !media_listed(accept, "text/event-stream", true)) {
        *rc = queue_text(c, MHD_HTTP_NOT_ACCEPTABLE,
                         "Not Acceptable: the client must accept both application/json "
                         "and text/event-stream");
        return true;
    }
    const char *type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Type");
    if (!media_listed(type, "application/json", false)) {
        *rc = queue_text(c, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                         "Unsupported Media Type: the body must be application/json");
        return true;
    }
    const char *clen = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
    if (clen && strtoull(clen, NULL, 10) > s->o.max_body) {
        *rc = queue_text(c, MHD_HTTP_CONTENT_TOO_LARGE,
                         "Payload Too Large: the body passes the size limit");
        return true;
    }
    return false;
}

static enum MHD_Result first_call(struct http_server *s, struct MHD_Connection *c,
                                  const char *url, const char *method, void **con_cls)
{
    if (!strcmp(url, "/healthz"))
        return answer_healthz(c, method);
    if (strcmp(url, "/mcp") != 0)
        return queue_text(c, MHD_HTTP_NOT_FOUND, "Not Found: the MCP endpoint is /mcp");
    enum MHD_Result rc = MHD_YES;
    struct request *rq = calloc(1, sizeof *rq);
    if (!rq)
        return queue(c, MHD_HTTP_SERVICE_UNAVAILABLE, "", 0, NULL);
    rq->srv = s;
    rq->conn = c;
    if (refuse_early(s, c, method, &rq->persona, &rc)) {
        request_free(rq);
        return rc;
    }
    dynbuf_init(&rq->body, s->o.max_body + 1);
    s->inflight++;
    conn_mark(s, c, true);
    *con_cls = rq;
    return MHD_YES;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *c, const char *url,
                                 const char *method, const char *version,
                                 const char *upload_data, size_t *upload_data_size,
                                 void **con_cls)
{
    (void)version;
    struct http_server *s = cls;
    struct request *rq = *con_cls;
    if (!rq)
        return first_call(s, c, url, method, con_cls);
    if (rq->answered)
        return queue_reply(rq);
    if (rq->handled)
        return MHD_YES; /* resumed without an answer: cannot happen */
    if (*upload_data_size > 0) {
        /* Past the limit (a chunked body, with no Content-Length to refuse
         * up front) the rest is read and dropped, then refused. */
        if (!rq->too_big &&
            dynbuf_append(&rq->body, upload_data, *upload_data_size) != DYNBUF_OK)
            rq->too_big = true;
        if (rq->too_big && (rq->dropped += *upload_data_size) > s->o.max_body)
            return MHD_NO; /* a body that does not end: close the connection */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (rq->too_big)
        return queue_text(c, MHD_HTTP_CONTENT_TOO_LARGE,
                          "Payload Too Large: the body passes the size limit");
    return process_body(rq);
}

/* ---- the daemon on the loop ---- */

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    (void)cls;
    char text[512];
    vsnprintf(text, sizeof text, fmt, ap);
    size_t n = strlen(text);
    while (n && (text[n - 1] == '\n' || text[n - 1] == '\r'))
        text[--n] = '\0';
    log_debug("http: %s", text);
}

static char *read_pem(const char *path, const char *what, char **error)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        *error = msg_format("cannot read the TLS %s %s: %s", what, path, strerror(errno));
        return NULL;
    }
    char *buf = malloc(TLS_FILE_MAX + 1);
    size_t n = buf ? fread(buf, 1, TLS_FILE_MAX + 1, f) : 0;
    fclose(f);
    if (!buf || n == 0 || n > TLS_FILE_MAX) {
        *error = msg_format("the TLS %s %s is %s", what, path,
                            !buf ? "not readable (out of memory)"
                            : n  ? "too large"
                                 : "empty");
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* The bind address from o->host and o->port. */
static int make_address(const struct http_server_options *o, struct sockaddr_storage *ss,
                        bool *v6, bool *loopback)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, o->host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons(o->port);
        *v6 = false;
        *loopback = (ntohl(a4->sin_addr.s_addr) >> 24) == 127;
        return 0;
    }
    if (inet_pton(AF_INET6, o->host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(o->port);
        *v6 = true;
        *loopback = IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr);
        return 0;
    }
    return -EINVAL;
}

static struct MHD_Daemon *start_daemon(struct http_server *s,
                                       const struct sockaddr_storage *ss, bool v6)
{
    /* Turbo: MHD reads, writes and accepts on its non-blocking sockets
     * before asking epoll, which saves a turn on keep-alive connections. */
    unsigned flags =
        MHD_USE_EPOLL | MHD_USE_TURBO | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (s->tls)
        flags |= MHD_USE_TLS;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert},
        {MHD_OPTION_END, 0, NULL},
    };
    if (!s->tls)
        tls_opts[0].option = MHD_OPTION_END;
    return MHD_start_daemon(
        flags, s->o.port, NULL, NULL, on_access, s, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, s, MHD_OPTION_SOCK_ADDR, (const struct sockaddr *)ss,
        MHD_OPTION_CONNECTION_LIMIT, s->o.max_conns, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        s->o.max_per_ip, MHD_OPTION_CONNECTION_TIMEOUT, s->o.idle_timeout,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONNECTION_MEMORY,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 512u, MHD_OPTION_NOTIFY_COMPLETED, on_completed,
        s, MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
}

static int load_tls(struct http_server *s, const struct http_server_options *o,
                    char **error)
{
    if (!o->tls_cert_file && !o->tls_key_file)
        return 0;
    if (!o->tls_cert_file || !o->tls_key_file) {
        *error =
            msg_format("HTTPS needs both MSG91_HTTP_TLS_CERT and MSG91_HTTP_TLS_KEY");
        return -EINVAL;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        *error = msg_format("this libmicrohttpd was built without TLS support");
        return -ENOTSUP;
    }
    s->tls_cert = read_pem(o->tls_cert_file, "certificate", error);
    s->tls_key = s->tls_cert ? read_pem(o->tls_key_file, "key", error) : NULL;
    if (!s->tls_key)
        return -EINVAL;
    s->tls = true;
    return 0;
}

static int attach_loop(struct http_server *s, char **error)
{
    const union MHD_DaemonInfo *info =
        MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *port =
        MHD_get_daemon_info(s->mhd, MHD_DAEMON_INFO_BIND_PORT);
    int err = info ? uv_poll_init(s->loop, &s->poll, info->epoll_fd) : UV_EINVAL;
    if (err != 0) {
        *error = msg_format("cannot watch the HTTP server: %s", uv_strerror(err));
        return err;
    }
    s->port = port ? port->port : s->o.port;
    uv_timer_init(s->loop, &s->timer);
    s->poll.data = s->timer.data = s;
    s->open_handles = 2;
    uv_poll_start(&s->poll, UV_READABLE, on_poll);
    schedule(s);
    return 0;
}

struct http_server *http_server_create(uv_loop_t *loop,
                                       const struct http_server_options *o,
                                       const struct http_handler *handler, void *ctx,
                                       char **error)
{
    *error = NULL;
    struct http_server *s = calloc(1, sizeof *s);
    if (!s)
        goto out_nomem;
    s->loop = loop;
    s->o = *o;
    list_init(&s->conn_list);
    s->handler = handler;
    s->ctx = ctx;
    /* Room is made while an eighth of the connections is still free. */
    s->evict_above = o->max_conns - o->max_conns / 8;
    if (o->allowed_origins && !(s->origins = strdup(o->allowed_origins)))
        goto out_nomem;
    struct sockaddr_storage ss;
    bool v6 = false;
    if (make_address(o, &ss, &v6, &s->loopback_bound) != 0) {
        *error = msg_format("the listen address \"%s\" is not a numeric IPv4 or IPv6 "
                            "address",
                            o->host);
        goto out_free;
    }
    if (load_tls(s, o, error) != 0)
        goto out_free;
    s->mhd = start_daemon(s, &ss, v6);
    if (!s->mhd) {
        *error = msg_format("cannot listen on %s%s%s:%u (address in use, or not an "
                            "address of this machine)",
                            v6 ? "[" : "", o->host, v6 ? "]" : "", (unsigned)o->port);
        goto out_free;
    }
    if (attach_loop(s, error) != 0)
        goto out_stop;
    return s;

out_stop:
    MHD_stop_daemon(s->mhd);
out_free:
    free(s->tls_cert);
    free(s->tls_key);
    free(s->origins);
    free(s);
    return NULL;
out_nomem:
    if (s)
        free(s);
    *error = msg_format("out of memory while starting the HTTP server");
    return NULL;
}

uint16_t http_server_port(const struct http_server *s)
{
    return s->port;
}

unsigned http_server_inflight(const struct http_server *s)
{
    return s->inflight;
}

void http_server_quiesce(struct http_server *s)
{
    if (s->quiesced)
        return;
    s->quiesced = true;
    MHD_socket fd = MHD_quiesce_daemon(s->mhd);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
    uv_timer_start(&s->timer, on_timer, 0, 0);
}

static void on_handle_closed(uv_handle_t *h)
{
    struct http_server *s = h->data;
    if (--s->open_handles > 0)
        return;
    void (*closed)(void *) = s->closed;
    void *data = s->closed_data;
    free(s->tls_cert);
    free(s->tls_key);
    free(s->origins);
    free(s);
    if (closed)
        closed(data);
}

void http_server_destroy(struct http_server *s, void (*closed)(void *data), void *data)
{
    if (!s)
        return;
    s->destroying = true;
    s->closed = closed;
    s->closed_data = data;
    /* Connections waiting for the handler are given up: MHD may not stop
     * with suspended connections, so each is resumed, refused, and the
     * late reply frees its request. */
    for (struct request *rq = s->waiting; rq; rq = rq->next) {
        if (rq->suspended) {
            rq->suspended = false;
            MHD_resume_connection(rq->conn);
        }
    }
    MHD_run(s->mhd);
    for (struct request *rq = s->waiting, *next; rq; rq = next) {
        next = rq->next;
        rq->srv = NULL;
        rq->prev = rq->next = NULL;
    }
    s->waiting = NULL;
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    uv_timer_stop(&s->timer);
    uv_poll_stop(&s->poll);
    uv_close((uv_handle_t *)&s->poll, on_handle_closed);
    uv_close((uv_handle_t *)&s->timer, on_handle_closed);
}
