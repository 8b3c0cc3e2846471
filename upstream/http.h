/* The upstream HTTP engine: one libcurl multi handle driven by the libuv loop
 * (curl_multi_socket_action fed by uv_poll and one uv_timer). It owns the
 * credential header, the in-flight cap and its bounded FIFO queue, timeouts,
 * the response size cap, retries of read-only calls, and cancellation. It
 * knows nothing of the service it talks to: the caller passes the header,
 * the base URL and the retry policy as options.
 * Design note: doc/upstream.md. */
#ifndef UPSTREAM_HTTP_H
#define UPSTREAM_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

struct http_engine;
struct http_call;

/* Longest Retry-After the engine reports (one day): a larger value, or a
 * date further ahead, is reported as this. */
#define HTTP_RETRY_AFTER_MAX_S 86400L

struct http_engine_options {
    /* One header sent on every request, typically a credential, as
     * "auth_header: auth_value". NULL name or value sends none. The engine
     * keeps its own copy of the value and wipes it when destroyed. */
    const char *auth_header;
    const char *auth_value;
    /* When not NULL, every request URL must start with it (followed by '/',
     * '?' or nothing), and http_engine_create checks it first with
     * http_url_check_base (upstream/url.h) and then with libcurl's URL
     * parser, which must find no user, query or fragment, and a host that
     * is loopback when the scheme is http. */
    const char *base_url;
    const char *user_agent;    /* User-Agent header; NULL sends none */
    long connect_timeout_ms;   /* 0 picks 5000, capped at timeout_ms */
    long timeout_ms;           /* whole request, per attempt; 0 picks 15000 */
    size_t max_response_bytes; /* 0 picks 8 MiB; a larger body fails the call */
    unsigned max_inflight;     /* requests on the wire at once; 0 picks 64 */
    unsigned max_queue;        /* calls waiting for a slot; 0 picks 1024 */
    const char *ca_file;       /* CA bundle used instead of the system CAs;
                                  NULL uses the system CAs. Verification of
                                  peer and host name is always on. */
    /* The retry policy for requests marked retryable (see struct
     * http_request): */
    unsigned max_retries;   /* extra attempts; 0 none */
    long retry_base_ms;     /* first backoff; doubles each retry; 0 picks 200 */
    long retry_max_wait_ms; /* longest single wait incl. Retry-After; 0 picks 10000 */
};

/* What a caller hands to http_submit. The engine takes ownership of the
 * malloc'd fields (url, body) whether or not submission succeeds, and sets
 * them to NULL in the caller's struct. */
struct http_request {
    const char *method; /* static string: "GET", "POST", ... */
    char *url;          /* absolute, already percent-encoded */
    char *body;         /* NULL for none */
    size_t body_len;
    const char *content_type; /* static string or NULL */
    /* The credential for this request only, sent under the engine's
     * auth_header in place of its auth_value; NULL sends the engine's. The
     * engine keeps its own copy (wiped when the engine is destroyed). */
    const char *auth_value;
    /* Only read-only calls may be retried: a call that sends a message is
     * never repeated automatically. */
    bool retryable;
};

enum http_outcome {
    HTTP_ANSWERED = 0,   /* an HTTP response arrived, whatever its status */
    HTTP_TIMEOUT,        /* the whole-request or connect timeout expired */
    HTTP_DNS_FAILED,     /* the host name did not resolve */
    HTTP_CONNECT_FAILED, /* refused or unreachable */
    HTTP_TLS_FAILED,     /* handshake or certificate verification failed */
    HTTP_RESET,          /* connection reset or closed before a full answer */
    HTTP_TOO_LARGE,      /* body exceeded max_response_bytes, or a header
                            line exceeded libcurl's limit */
    HTTP_FAILED,         /* anything else libcurl reported */
};

/* Valid only during the done callback; copy what must outlive it. */
struct http_response {
    enum http_outcome outcome;
    long status;      /* HTTP status when outcome == HTTP_ANSWERED; for
                         other outcomes the status of a response that
                         began (e.g. HTTP_TOO_LARGE), else 0 */
    const char *body; /* NUL-terminated, may be empty; never NULL */
    size_t body_len;
    long retry_after_s;       /* Retry-After seconds of the last response (an
                                 HTTP-date is converted), at most
                                 HTTP_RETRY_AFTER_MAX_S; -1 when absent or
                                 not understood */
    const char *content_type; /* response Content-Type or NULL */
    const char *error;        /* libcurl's text for failures, else "" */
    unsigned attempts;        /* 1 + retries made */
    double elapsed_ms;        /* from submission to completion */
    /* False only when the failure happened before any byte of the request
     * left (DNS, connect, TLS, or a timeout while still in one of those); a
     * sent-but-unanswered request may have taken effect upstream. */
    bool maybe_delivered;
};

/* Stages are reported only as they happen: QUEUED only when the call has
 * to wait for a slot (again if a retry has to wait), SENT once per attempt,
 * ANSWERED once, just before done. QUEUED or SENT may be reported from
 * inside http_submit, before it returns. */
enum http_stage {
    HTTP_STAGE_QUEUED,   /* waiting for an in-flight slot */
    HTTP_STAGE_SENT,     /* handed to libcurl */
    HTTP_STAGE_ANSWERED, /* a response (or failure) arrived */
};

typedef void (*http_done_cb)(void *data, const struct http_response *resp);
typedef void (*http_stage_cb)(void *data, enum http_stage stage);

/* Creates an engine on loop. Returns 0, or a negative errno-style code:
 * -EINVAL for options that cannot work (a header name that is not an HTTP
 * token, a line break in a header value, a base URL refused as described
 * above), -ENOENT when libcurl (the engine module) cannot be loaded, -EIO
 * when libcurl fails to start, -ENOMEM. */
int http_engine_create(struct http_engine **out, uv_loop_t *loop,
                       const struct http_engine_options *opts);

/* Queues a request. Steals req->url and req->body, whatever the result.
 * Returns 0 and sets *call to a handle for http_cancel; `done` is then
 * called exactly once, later, from the loop (never from inside
 * http_submit), unless the call is cancelled first. `stage` may be NULL.
 * On failure *call is NULL and no callback is ever called:
 *   -EBUSY       max_queue calls are already waiting for a slot;
 *   -EINVAL      no done callback, no URL, a method or content type with a
 *                line break, or a URL outside the engine's base URL;
 *   -ESHUTDOWN   the engine is being destroyed;
 *   -ECANCELED   a stage callback run from inside http_submit destroyed
 *                the engine, which took the call with it;
 *   -ENOMEM      out of memory.
 * A waiting call holds only its request; the libcurl handle that carries it
 * is taken when it starts. Callbacks may submit, cancel and destroy the
 * engine. */
int http_submit(struct http_engine *engine, struct http_request *req, http_done_cb done,
                http_stage_cb stage, void *data, struct http_call **call);

/* Aborts a queued, running or retry-waiting call; its callbacks are never
 * called again and the call handle is invalid afterwards. A running
 * transfer is removed from libcurl, which closes an HTTP/1.1 connection or
 * resets an HTTP/2 stream. NULL is ignored. */
void http_cancel(struct http_call *call);

unsigned http_engine_inflight(const struct http_engine *engine);
unsigned http_engine_queued(const struct http_engine *engine);

/* Cancels everything (no done callbacks), tears down libcurl and closes
 * the libuv handles. `closed` runs from the loop once all handles are
 * closed; the engine memory is freed before it is called. May be called
 * from the engine's own callbacks. NULL, and a second call, are ignored. */
void http_engine_destroy(struct http_engine *engine, void (*closed)(void *data),
                         void *data);

#endif
