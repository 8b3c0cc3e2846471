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

/* MSG91 authenticates every request with this header carrying the auth
 * key; the HTTP engine sends whatever header it is given. */
#define REQUEST_AUTH_HEADER SERVICE_AUTH_HEADER

/* The User-Agent of every upstream request. */
#define REQUEST_USER_AGENT "msg91-mcp/" MSG91_MCP_VERSION

/* Longest URL we build. MSG91 URLs are a few hundred bytes; a URL past
 * this means an endpoint override or an argument far outside the schemas. */
#define REQUEST_URL_MAX ((size_t)64 * 1024)

/* Percent-encodes len bytes of s: every byte but the RFC 3986 unreserved
 * characters (A-Z a-z 0-9 - . _ ~) becomes %XX. Returns a malloc'd string,
 * or NULL when out of memory. */
char *request_encode(const char *s, size_t len);

/* The mobile number as MSG91 wants it: digits only, so a leading '+' (and
 * anything else that is not a digit) is dropped. Returns a malloc'd string,
 * or NULL when out of memory. */
char *request_mobile(const char *mobile);

/* Whether s is a phone number: an optional '+' and 8 to 15 digits, the
 * mobile pattern of the schemas. request_put_phone sends such a value as
 * digits and any other unchanged; the sending limits use the same rule. */
bool request_is_phone(const char *s);

/* The values a build function computed, by argument name, in the order
 * they were put: that order is the order of the query parameters and body
 * members. Where each travels is not the build function's business: the
 * endpoint's placement says it (tools/endpoint.h). A put that runs out of
 * memory marks the whole set failed, so puts need no checks of their own. */
struct request_values {
    json_t *obj;
    bool failed;
};

void request_values_init(struct request_values *v);
void request_values_finish(struct request_values *v);

/* Puts value (stolen; NULL marks v failed) as the wire value of arg. */
void request_put(struct request_values *v, const char *arg, json_t *value);
/* The same for a string (nothing when s is NULL) and an integer. */
void request_put_string(struct request_values *v, const char *arg, const char *s);
void request_put_int(struct request_values *v, const char *arg, json_int_t n);
/* Puts the argument arg of args as it was given, when it was given. */
void request_put_arg(struct request_values *v, json_t *args, const char *arg);
/* Puts the string argument arg of args as a mobile number (request_mobile)
 * when it is one: an optional '+' and 8 to 15 digits, the pattern every
 * mobile argument has; any other string is put as it is. */
void request_put_phone(struct request_values *v, json_t *args, const char *arg);

/* The request: the endpoint's placement resolved for ctx->tool, the URL
 * from ctx->base_url and the path template with its placeholders filled
 * (each percent-encoded as one segment), every value of v in the query or
 * the JSON body (sent, {} when empty, when some argument travels there) or
 * nowhere,
 * req->method from ctx->endpoint, and req->retryable true only for
 * read-only tools, since a call that sends something must never be
 * repeated automatically. Releases v. Returns 0, or -1 with *error set to
 * a sentence and req left empty. */
int request_build(const struct tool_build_ctx *ctx, struct request_values *v,
                  struct http_request *req, char **error);

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

/* A new array with each(item) for every item of the array argument name
 * of args, in order (data is passed along). Returns it, or NULL with
 * *error set: "name is required." when args has no such array, each's
 * error, or running out of memory. */
json_t *request_list(json_t *args, const char *name, request_item_fn each,
                     const void *data, char **error);

/* Releases the url and body a failed build may have left in req. */
void request_clear(struct http_request *req);

#endif
