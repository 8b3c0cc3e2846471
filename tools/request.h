/* Building upstream requests, shared by every tool: the URL from the base,
 * the endpoint's path template and query parameters (every argument
 * percent-encoded, never spliced raw), mobile number normalisation, and the
 * compact JSON body. Design note: doc/tools.md. */
#ifndef MSG91_TOOLS_REQUEST_H
#define MSG91_TOOLS_REQUEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "tools/service.h"
#include "tools/tool.h"
#include "upstream/http.h"
#include "util/dynbuf.h"

/* MSG91 authenticates every request with this header carrying the auth
 * key; the HTTP engine sends whatever header it is given. */
#define REQUEST_AUTH_HEADER SERVICE_AUTH_HEADER

/* The User-Agent of every upstream request. */
#define REQUEST_USER_AGENT "msg91-mcp/" MSG91_MCP_VERSION

/* Longest URL we build. MSG91 URLs are a few hundred bytes; a URL past
 * this means an endpoint override or an argument far outside the schemas. */
#define REQUEST_URL_MAX ((size_t)64 * 1024)

/* A URL under construction. Initialised by request_url_init, which expands
 * the path template; parameters are then appended in call order. */
struct request_url {
    struct dynbuf buf;
    bool has_query; /* the next parameter starts with '&', not '?' */
    bool failed;    /* an append failed; request_url_take returns NULL */
};

/* Percent-encodes len bytes of s: every byte but the RFC 3986 unreserved
 * characters (A-Z a-z 0-9 - . _ ~) becomes %XX. Returns a malloc'd string,
 * or NULL when out of memory. */
char *request_encode(const char *s, size_t len);

/* The mobile number as MSG91 wants it: digits only, so a leading '+' (and
 * anything else that is not a digit) is dropped. Returns a malloc'd string,
 * or NULL when out of memory. */
char *request_mobile(const char *mobile);

/* Starts u with ctx->base_url followed by ctx->endpoint->path, where each
 * "{name}" is replaced by the argument `name` of args (a string, or an
 * integer written in decimal) percent-encoded as one path segment. Returns
 * 0, or -1 with *error set to a malloc'd sentence (missing or empty
 * argument, a value that is only dots, a malformed template) and u left
 * empty. */
int request_url_init(struct request_url *u, const struct tool_build_ctx *ctx,
                     json_t *args, char **error);

/* Appends "name=value" (both percent-encoded) as the next query parameter. */
void request_url_add(struct request_url *u, const char *name, const char *value);
void request_url_add_int(struct request_url *u, const char *name, json_int_t value);

/* Hands over the finished URL (malloc'd) and empties u; NULL when any
 * append failed (out of memory or longer than REQUEST_URL_MAX). */
char *request_url_take(struct request_url *u);

/* Releases what u holds; safe after request_url_take. */
void request_url_finish(struct request_url *u);

/* Completes a build: req->method from ctx->endpoint, req->url taken from
 * u (which is finished either way), the JSON body when body is not NULL
 * (stolen, also on failure), and req->retryable true only for read-only
 * tools, since a call that sends something must never be repeated
 * automatically. Returns 0, or -1 with *error set and req left empty. */
int request_complete(const struct tool_build_ctx *ctx, struct request_url *u,
                     json_t *body, struct http_request *req, char **error);

/* Serialises body compactly into req->body and sets req->content_type to
 * "application/json". Steals body (also on failure). Returns 0, or -1 when
 * out of memory. */
int request_set_json_body(struct http_request *req, json_t *body);

/* Sets *error to a malloc'd copy of text and returns -1, so a build
 * function can fail in one line. */
int request_fail(char **error, const char *text);
/* The same with a printf format (util/msg.h builds the text). */
int request_failf(char **error, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Makes one element of a request body from item, the index-th of an
 * argument array: a new reference, or NULL with *error set. */
typedef json_t *(*request_item_fn)(json_t *item, size_t index, const void *data,
                                   char **error);

/* A new array with each(item) for every item of the array items, in order
 * (data is passed along). Returns it, or NULL with *error set: each's
 * error, or running out of memory. */
json_t *request_list(json_t *items, request_item_fn each, const void *data, char **error);

/* Releases the url and body a failed build may have left in req. */
void request_clear(struct http_request *req);

#endif
