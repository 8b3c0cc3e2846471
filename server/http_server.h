/* The Streamable HTTP transport: libmicrohttpd driven from the libuv loop
 * (its epoll descriptor under a uv_poll, its timeout on a uv_timer), one
 * endpoint (POST /mcp) plus GET /healthz. It owns everything HTTP: limits,
 * Origin and Host checks, authentication through a callback, the Accept,
 * Content-Type and size rules, and decoding the MCP headers. It never
 * parses the body: what a JSON-RPC message means, and whether the MCP
 * headers agree with it, is the handler's business (the protocol core's).
 * The handler gets the body and answers now or later, on the loop,
 * through a reply callback. */
#ifndef MSG91_HTTP_SERVER_H
#define MSG91_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

struct http_server;

/* What the transport learned about one POST, for the handler (all
 * borrowed, valid until the handle call returns). The MCP headers are
 * decoded (surrounding white space trimmed, the "=?base64?...?=" form
 * decoded) and NULL when absent or not decodable; what they must say is
 * the handler's business (the protocol core checks them against the
 * body). */
struct http_request_info {
    const char *protocol_version; /* MCP-Protocol-Version */
    const char *mcp_method;       /* Mcp-Method */
    const char *mcp_name;         /* Mcp-Name */
    const void *persona;          /* what authenticate returned; NULL without personas */
    const char *client;           /* the peer as "ADDRESS:PORT" ("[v6]:port") */
    const char *transport;        /* "http" or "https", for the audit line */
};

/* The answer to one POST: the HTTP status and the body, a JSON text
 * (copied; len 0 for none). Must be called exactly once per handle call,
 * from the loop thread, now or later. */
typedef void (*http_reply_fn)(void *call_ctx, unsigned status, const char *body,
                              size_t len);

struct http_handler {
    /* Only when the server requires authentication: returns the persona
     * (opaque to the transport) that the Authorization header names, or
     * NULL for 401. The header is NULL when absent. */
    const void *(*authenticate)(void *ctx, const char *authorization);
    /* Optional: the transport is done with a persona authenticate returned
     * (after handle, or when the request ends before it), so the handler
     * may keep it alive from authenticate until then. */
    void (*release)(void *ctx, const void *persona);
    /* One POST body that passed every HTTP rule (not parsed: it may not
     * even be JSON). body is NUL-terminated and borrowed until this
     * returns. */
    void (*handle)(void *ctx, const char *body, size_t len,
                   const struct http_request_info *info, http_reply_fn reply,
                   void *call_ctx);
};

struct http_server_options {
    const char *host; /* a numeric IPv4 or IPv6 address */
    uint16_t port;    /* 0: any free port (see http_server_port) */
    /* Origins allowed besides loopback ones: a comma list, or NULL. */
    const char *allowed_origins;
    const char *tls_cert_file; /* both or neither: PEM files */
    const char *tls_key_file;
    bool require_auth;     /* call authenticate on every POST */
    size_t max_body;       /* larger bodies get 413 */
    unsigned max_conns;    /* connections at once, all clients */
    unsigned max_per_ip;   /* connections at once from one address */
    unsigned idle_timeout; /* seconds without traffic before a close */
};

/* Fills o with the defaults (127.0.0.1:8080, the limits below). */
void http_server_options_init(struct http_server_options *o);

/* Starts listening on loop. Returns NULL with *error set to a malloc'd
 * sentence (NULL when even that could not be allocated). handler and ctx
 * are borrowed and must outlive the server. */
struct http_server *http_server_create(uv_loop_t *loop,
                                       const struct http_server_options *o,
                                       const struct http_handler *handler, void *ctx,
                                       char **error);

/* The port actually bound. */
uint16_t http_server_port(const struct http_server *s);

/* Stops accepting connections; requests already read still get their
 * reply, and new requests on open connections get 503. */
void http_server_quiesce(struct http_server *s);

/* Requests read and not yet fully answered. */
unsigned http_server_inflight(const struct http_server *s);

/* Closes every connection and the handles; closed(data) runs once they
 * are released (the loop must run). Replies that come later are dropped.
 * Accepts NULL. */
void http_server_destroy(struct http_server *s, void (*closed)(void *data), void *data);

/* True when a host (from a Host header or an Origin, without port) is a
 * loopback name or address. Exposed for the tests. */
bool http_server_is_loopback_host(const char *host, size_t len);

/* Decodes an MCP header value: surrounding whitespace trimmed and the
 * "=?base64?...?=" form decoded. Returns a malloc'd string, or NULL when
 * the value is not valid (bad base64, control characters). */
char *http_server_header_value(const char *raw);

#endif
