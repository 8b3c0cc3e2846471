/* The upstream HTTP engine: one libcurl multi handle driven by the libuv loop,
 * after curl's docs/examples/multi-uv.c with its known caveats fixed. The
 * life of a call, the queue, retries and the teardown order are described in
 * doc/upstream.md; the comments here explain the choices that are easy to get
 * wrong. */
#include "upstream/http.h"

#include "upstream/url.h"
#include "util/dynbuf.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_CONNECT_TIMEOUT_MS 5000L
#define DEFAULT_TIMEOUT_MS 15000L
#define DEFAULT_MAX_RESPONSE_BYTES ((size_t)8 * 1024 * 1024)
#define DEFAULT_MAX_INFLIGHT 64u
#define DEFAULT_MAX_QUEUE 1024u
#define DEFAULT_RETRY_BASE_MS 200L
#define DEFAULT_RETRY_MAX_WAIT_MS 10000L
#define RECV_BUFFER_BYTES 1024L
/* The most idle transfers kept for reuse (also at most max_inflight). */
#define EASY_POOL_MAX 64u
/* Socket contexts made when the engine is created, beyond two per slot
 * (happy eyeballs may try two addresses at once): curl's socket callback
 * then normally allocates nothing, since a failure there kills the multi
 * handle. */
#define SOCK_POOL_SLACK 8u

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* A circular doubly linked list with a sentinel, like libuv's queue. Every
 * call sits in exactly one of the engine's lists until it is released. */
struct list {
    struct list *prev;
    struct list *next;
};

static void list_init(struct list *l)
{
    l->prev = l;
    l->next = l;
}

static bool list_empty(const struct list *l)
{
    return l->next == l;
}

static void list_insert_after(struct list *at, struct list *item)
{
    item->prev = at;
    item->next = at->next;
    at->next->prev = item;
    at->next = item;
}

static void list_push_back(struct list *l, struct list *item)
{
    list_insert_after(l->prev, item);
}

static void list_push_front(struct list *l, struct list *item)
{
    list_insert_after(l, item);
}

static void list_remove(struct list *item)
{
    item->prev->next = item->next;
    item->next->prev = item->prev;
    item->prev = item;
    item->next = item;
}

/* Where a call is; see the state diagram in doc/upstream.md. */
enum call_state {
    CALL_QUEUED,     /* in engine->queue, waiting for a slot */
    CALL_RUNNING,    /* has a transfer, added to the multi, in engine->running */
    CALL_BACKOFF,    /* waiting on call->timer before the next attempt */
    CALL_FAILING,    /* failed before reaching curl; done runs from call->timer */
    CALL_DELIVERING, /* its callbacks are running, in no list */
    CALL_CLOSED,     /* released; memory goes in the timer's close callback */
};

/* A libcurl easy handle and the error buffer curl writes into. A call holds
 * one only while an attempt runs: a waiting call must not pay for the
 * handle's state (about 5 KiB, 7 KB with what curl hangs off it). */
struct transfer {
    CURL *easy;
    char errbuf[CURL_ERROR_SIZE];
};

struct header_set;

struct http_call {
    struct list link;
    struct http_engine *engine;
    enum call_state state;
    bool cancelled;             /* http_cancel was called while delivering */
    uv_timer_t timer;           /* retry backoff and deferred failures */
    struct transfer *xfer;      /* only while CALL_RUNNING */
    struct header_set *headers; /* shared, owned by the engine */

    const char *method;
    char *url;
    char *body;
    size_t body_len;
    bool retryable;
    http_done_cb done;
    http_stage_cb stage;
    void *data;

    /* The current attempt. */
    unsigned attempts;
    struct dynbuf resp;
    bool too_large;
    bool out_of_memory;
    bool body_started;    /* the write callback ran: the headers were read */
    bool request_started; /* curl got as far as sending the request */
    bool resend_refused;  /* curl tried to send a non-retryable call again */
    long retry_after_s;

    /* The outcome of the last attempt. */
    enum http_outcome outcome;
    long status;
    bool maybe_delivered;
    char *content_type;
    char *error; /* NULL reads as "" */

    uint64_t start_ns;
};

/* One per socket curl asks us to watch, found again through
 * curl_multi_assign (or engine->kept) so that a socket never has two
 * uv_poll handles. */
struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    struct http_engine *engine;
    struct list link; /* in engine->sockets while the poll is open, else in
                         free_socks (or in no list: kept, not yet polled) */
    int events;       /* what the poll watches now; 0 when stopped */
    bool polling;     /* the poll handle is initialised */
    /* curl opened the socket through on_open_socket and closes it through
     * on_close_socket, so the poll can live as long as the socket does,
     * across the transfers that reuse its connection (see on_curl_socket). */
    bool kept;
    bool idle;   /* kept, and curl does not watch it now (a cached connection) */
    bool pooled; /* part of engine->sock_pool, not malloc'd alone */
};

/* The request headers for one Content-Type. Callers use a handful of static
 * content types, so each list is built once and shared by every call; the
 * copies of the credential live only here and are wiped on destroy. */
struct header_set {
    struct header_set *next;
    char *content_type; /* NULL for requests without one */
    char *auth_value;   /* a per-request credential, or NULL for the engine's */
    struct curl_slist *list;
};

/* A callback with its argument, called once the engine is gone. */
struct closed_cb {
    void (*fn)(void *data);
    void *data;
};

struct http_engine {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer; /* curl's single timeout */

    char *auth_header;
    char *auth_value;
    char *base_url;
    size_t base_len;
    char *user_agent;
    char *ca_file;
    long connect_timeout_ms;
    long timeout_ms;
    size_t max_response_bytes;
    unsigned max_inflight;
    unsigned max_queue;
    unsigned max_retries;
    long retry_base_ms;
    long retry_max_wait_ms;
    bool no_proxy; /* no proxy variable was set when the engine was created */
    struct header_set *header_sets;

    /* Idle transfers, cleared of the last call: creating one costs a 5 KiB
     * zeroed allocation and more set-up than resetting one does. */
    struct transfer *idle[EASY_POOL_MAX];
    unsigned n_idle;
    unsigned idle_cap;

    struct list queue;   /* CALL_QUEUED, oldest first */
    struct list running; /* CALL_RUNNING */
    struct list waiting; /* CALL_BACKOFF and CALL_FAILING */
    struct list sockets; /* struct sock_ctx whose poll is open */
    /* Kept socket contexts by descriptor (NULL: none), for sockets curl
     * opened through on_open_socket; grown as descriptors need. */
    struct sock_ctx **kept;
    size_t kept_len;
    /* Socket contexts made in advance (one array) and the unused ones. */
    struct sock_ctx *sock_pool;
    struct list free_socks;
    /* Why the socket callback last failed (a libuv error code), for the
     * message of the calls that failed with the multi handle. */
    int sock_error;
    /* The message of the calls failed with the multi handle. */
    char multi_error[160];
    unsigned n_running;
    unsigned n_queued;

    /* Handles not yet through their close callback (the timer, call timers,
     * socket polls); the engine memory goes when this reaches zero. */
    unsigned open_handles;
    /* Depth of engine code on the stack around user callbacks: a destroy
     * from inside a callback finishes when the outermost frame returns. */
    unsigned busy;
    bool destroying;
    bool torn_down;
    bool in_multi_cleanup;
    struct closed_cb closed; /* what http_engine_destroy was given */
};

static void start_attempt(struct http_call *call);
static void on_call_timer(uv_timer_t *timer);
static int configure_transfer(struct http_engine *e, struct transfer *x);
static void clear_request(CURL *c);
static int configure_request(struct http_call *call);
static int on_curl_socket(CURL *easy, curl_socket_t s, int action, void *userp,
                          void *socketp);
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp);
static void multi_failed(struct http_engine *e, CURLMcode mc);

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;
    while (n--)
        *v++ = 0;
}

static long positive_or(long v, long fallback)
{
    return v > 0 ? v : fallback;
}

/* ---- engine lifetime -------------------------------------------------- */

static void free_strings(struct http_engine *e)
{
    if (e->auth_value) {
        wipe(e->auth_value, strlen(e->auth_value));
        free(e->auth_value);
        e->auth_value = NULL;
    }
    free(e->auth_header);
    free(e->base_url);
    free(e->user_agent);
    free(e->ca_file);
    e->auth_header = e->base_url = e->user_agent = e->ca_file = NULL;
}

/* The engine's memory, after teardown or from a creation that failed
 * midway (free_strings is a no-op when teardown already ran it). */
static void engine_free(struct http_engine *e)
{
    free_strings(e);
    free(e->kept);
    free(e->sock_pool);
    free(e);
}

static void handle_closed(struct http_engine *e)
{
    if (--e->open_handles != 0 || !e->torn_down)
        return;
    struct closed_cb closed = e->closed;
    engine_free(e);
    curl_global_cleanup();
    if (closed.fn)
        closed.fn(closed.data);
}

static void on_engine_timer_closed(uv_handle_t *handle)
{
    handle_closed(handle->data);
}

static void header_set_free(struct header_set *hs);

static void free_header_sets(struct http_engine *e)
{
    struct header_set *hs = e->header_sets;
    while (hs) {
        struct header_set *next = hs->next;
        header_set_free(hs);
        hs = next;
    }
    e->header_sets = NULL;
}

static void xfer_destroy(struct transfer *x)
{
    curl_easy_cleanup(x->easy);
    free(x);
}

/* A clean context for fd from the pool, or a new one past it; NULL when
 * out of memory. */
static struct sock_ctx *sock_take(struct http_engine *e, curl_socket_t fd)
{
    struct sock_ctx *ctx;
    if (!list_empty(&e->free_socks)) {
        ctx = container_of(e->free_socks.next, struct sock_ctx, link);
        list_remove(&ctx->link);
    } else if (!(ctx = calloc(1, sizeof *ctx))) {
        return NULL;
    }
    bool pooled = ctx->pooled;
    memset(ctx, 0, sizeof *ctx);
    ctx->pooled = pooled;
    ctx->fd = fd;
    ctx->engine = e;
    list_init(&ctx->link);
    return ctx;
}

static void sock_put(struct http_engine *e, struct sock_ctx *ctx)
{
    if (ctx->pooled)
        list_push_back(&e->free_socks, &ctx->link);
    else
        free(ctx);
}

static void on_sock_closed(uv_handle_t *handle)
{
    struct sock_ctx *ctx = handle->data;
    struct http_engine *e = ctx->engine;
    sock_put(e, ctx);
    handle_closed(e);
}

static struct sock_ctx *kept_ctx(const struct http_engine *e, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < e->kept_len ? e->kept[fd] : NULL;
}

/* Closes the poll (uv_close stops it first: no uv_poll_stop, whose
 * epoll_ctl would be repeated and fail) or, for a kept context that never
 * polled, returns the context at once. */
static void sock_close(struct sock_ctx *ctx)
{
    struct http_engine *e = ctx->engine;
    if (ctx->kept && kept_ctx(e, ctx->fd) == ctx)
        e->kept[ctx->fd] = NULL;
    if (!ctx->polling) {
        sock_put(e, ctx);
        return;
    }
    list_remove(&ctx->link);
    uv_close((uv_handle_t *)&ctx->poll, on_sock_closed);
}

/* Closes the polls of sockets curl did not report removed or closed. */
static void close_all_sockets(struct http_engine *e)
{
    while (!list_empty(&e->sockets))
        sock_close(container_of(e->sockets.next, struct sock_ctx, link));
    for (size_t fd = 0; fd < e->kept_len; fd++)
        if (e->kept[fd])
            sock_close(e->kept[fd]);
}

/* The order matters (doc/upstream.md): the easy handles are already out of the
 * multi; curl_multi_cleanup may still call the socket callback for cached
 * connections, so the poll handles and the loop must exist then; only
 * afterwards are the remaining handles closed. */
static void teardown(struct http_engine *e)
{
    while (e->n_idle)
        xfer_destroy(e->idle[--e->n_idle]);
    e->in_multi_cleanup = true;
    curl_multi_cleanup(e->multi);
    e->multi = NULL;
    e->in_multi_cleanup = false;
    close_all_sockets(e);
    uv_timer_stop(&e->timer);
    free_header_sets(e);
    free_strings(e);
    e->torn_down = true;
    uv_close((uv_handle_t *)&e->timer, on_engine_timer_closed);
}

static void engine_enter(struct http_engine *e)
{
    e->busy++;
}

static void engine_leave(struct http_engine *e)
{
    if (--e->busy == 0 && e->destroying && !e->torn_down)
        teardown(e);
}

/* ---- the transfer pool ------------------------------------------------ */

/* Returns an idle transfer, or a new one with the engine's options set;
 * NULL, with the reason in *why, when there is none. Either way the
 * request's own options are for configure_request to set. */
static struct transfer *xfer_take(struct http_engine *e, const char **why)
{
    if (e->n_idle)
        return e->idle[--e->n_idle];
    *why = "out of memory starting the request";
    struct transfer *x = malloc(sizeof *x);
    if (x && !(x->easy = curl_easy_init())) {
        free(x);
        return NULL;
    }
    if (x && configure_transfer(e, x) != 0) {
        *why = "libcurl refused an option of the request";
        xfer_destroy(x);
        return NULL;
    }
    return x;
}

/* The handle must be out of the multi. The options that are the same for
 * every request stay (curl_easy_reset and setting them all again cost more
 * than the rest of the engine's work on a request); those that point at
 * the call (private pointer, callback data, URL, body, header list) are
 * cleared, so an idle handle points at no freed call. The previous
 * transfer's info is reset by curl when the next one starts. */
static void xfer_give_back(struct http_engine *e, struct transfer *x)
{
    if (!x)
        return;
    if (e->destroying || e->n_idle >= e->idle_cap) {
        xfer_destroy(x);
        return;
    }
    clear_request(x->easy);
    e->idle[e->n_idle++] = x;
}

/* ---- calls ------------------------------------------------------------ */

static void on_call_closed(uv_handle_t *handle)
{
    struct http_call *call = handle->data;
    struct http_engine *e = call->engine;
    free(call);
    handle_closed(e);
}

/* Frees everything but the struct itself, which the timer's close callback
 * releases. The easy handle must already be out of the multi. */
static void call_release(struct http_call *call)
{
    call->state = CALL_CLOSED;
    uv_timer_stop(&call->timer);
    xfer_give_back(call->engine, call->xfer);
    call->xfer = NULL;
    free(call->url);
    call->url = NULL;
    free(call->body);
    call->body = NULL;
    dynbuf_finish(&call->resp);
    free(call->content_type);
    call->content_type = NULL;
    free(call->error);
    call->error = NULL;
    uv_close((uv_handle_t *)&call->timer, on_call_closed);
}

/* Takes a call out of whatever it is doing without calling anything. */
static void call_drop(struct http_call *call)
{
    struct http_engine *e = call->engine;
    CURLMcode mc = CURLM_OK;
    switch (call->state) {
    case CALL_QUEUED:
        list_remove(&call->link);
        e->n_queued--;
        break;
    case CALL_RUNNING:
        list_remove(&call->link);
        e->n_running--;
        mc = curl_multi_remove_handle(e->multi, call->xfer->easy);
        break;
    case CALL_BACKOFF:
    case CALL_FAILING:
        list_remove(&call->link);
        break;
    case CALL_DELIVERING:
        call->cancelled = true;
        return;
    case CALL_CLOSED:
        return;
    }
    call_release(call);
    if (mc != CURLM_OK && !e->destroying)
        multi_failed(e, mc);
}

static void notify_stage(struct http_call *call, enum http_stage stage)
{
    if (call->stage && !call->cancelled && call->state != CALL_CLOSED)
        call->stage(call->data, stage);
}

/* Hands the result of the last attempt to the caller and releases the call.
 * The caller may submit, cancel or destroy the engine from its callbacks. */
static void call_complete(struct http_call *call)
{
    call->state = CALL_DELIVERING;
    struct http_response resp = {
        .outcome = call->outcome,
        .status = call->status,
        .body = dynbuf_ptr(&call->resp),
        .body_len = dynbuf_len(&call->resp),
        .retry_after_s = call->retry_after_s,
        .content_type = call->content_type,
        .error = call->error ? call->error : "",
        .attempts = call->attempts,
        .elapsed_ms = (double)(uv_hrtime() - call->start_ns) / 1e6,
        .maybe_delivered = call->maybe_delivered,
    };
    notify_stage(call, HTTP_STAGE_ANSWERED);
    if (!call->cancelled)
        call->done(call->data, &resp);
    call_release(call);
}

/* Replaces the call's error text; on failure to copy it the text is lost
 * and the outcome alone tells what happened. */
static void set_error(struct http_call *call, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct http_call *call, const char *fmt, ...)
{
    free(call->error);
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&call->error, fmt, ap) < 0)
        call->error = NULL;
    va_end(ap);
}

/* Failures before the request reaches curl are reported from the loop, so
 * that done never runs inside http_submit. */
static void call_fail_later(struct http_call *call, const char *why)
{
    struct http_engine *e = call->engine;
    call->outcome = HTTP_FAILED;
    call->status = 0;
    call->maybe_delivered = false;
    set_error(call, "%s", why);
    free(call->content_type);
    call->content_type = NULL;
    call->state = CALL_FAILING;
    list_push_back(&e->waiting, &call->link);
    uv_timer_start(&call->timer, on_call_timer, 0, 0);
}

/* Starts queued calls while there are free slots, oldest first. */
static void pump(struct http_engine *e)
{
    while (!e->destroying && e->n_running < e->max_inflight && !list_empty(&e->queue)) {
        struct http_call *call = container_of(e->queue.next, struct http_call, link);
        list_remove(&call->link);
        e->n_queued--;
        start_attempt(call);
    }
}

/* Puts a call in the queue to wait for a slot: a new call at the back, a
 * retry at the front, since it was admitted before anything still queued. */
static void call_enqueue(struct http_call *call, bool retry)
{
    struct http_engine *e = call->engine;
    call->state = CALL_QUEUED;
    if (retry)
        list_push_front(&e->queue, &call->link);
    else
        list_push_back(&e->queue, &call->link);
    e->n_queued++;
    notify_stage(call, HTTP_STAGE_QUEUED);
}

/* ---- curl callbacks (never call the user from here) -------------------- */

static size_t on_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct http_call *call = userdata;
    size_t n = size * nmemb;
    call->body_started = true;
    int rc = dynbuf_append(&call->resp, ptr, n);
    if (rc == DYNBUF_OK)
        return n;
    if (rc == DYNBUF_TOOBIG)
        call->too_large = true;
    else
        call->out_of_memory = true;
    /* Anything but n makes curl stop the transfer with CURLE_WRITE_ERROR. */
    return n ? 0 : 1;
}

/* curl calls this once the connection (TLS included) is ready and just
 * before the request goes out. */
static int on_prereq(void *clientp, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
    (void)primary_ip;
    (void)local_ip;
    (void)primary_port;
    (void)local_port;
    struct http_call *call = clientp;
    /* When a reused connection dies before any answer, curl sends the
     * request again on a fresh one by itself. The first copy may have been
     * acted on, so a call that is not retryable is stopped here instead. */
    if (call->request_started && !call->retryable) {
        call->resend_refused = true;
        return CURL_PREREQFUNC_ABORT;
    }
    call->request_started = true;
    return CURL_PREREQFUNC_OK;
}

/* Retry-After is delta-seconds or an HTTP-date (RFC 9110 10.2.3). Returns
 * seconds from now, at most HTTP_RETRY_AFTER_MAX_S (a server that asks for
 * more than a day means "not soon", and a caller must not show or wait for
 * an absurd figure), or -1 when the value is not understood. */
static long parse_retry_after(const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n &&
           (v[n - 1] == '\r' || v[n - 1] == '\n' || v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n == 0)
        return -1;
    bool digits = true;
    for (size_t i = 0; i < n; i++)
        if (v[i] < '0' || v[i] > '9')
            digits = false;
    if (digits) {
        long s = 0;
        for (size_t i = 0; i < n && s <= HTTP_RETRY_AFTER_MAX_S; i++)
            s = s * 10 + (v[i] - '0');
        return s < HTTP_RETRY_AFTER_MAX_S ? s : HTTP_RETRY_AFTER_MAX_S;
    }
    char date[64];
    if (n >= sizeof date)
        return -1;
    memcpy(date, v, n);
    date[n] = '\0';
    time_t when = curl_getdate(date, NULL);
    if (when == (time_t)-1)
        return -1;
    time_t now = time(NULL);
    if (when <= now)
        return 0;
    return when - now < HTTP_RETRY_AFTER_MAX_S ? (long)(when - now)
                                               : HTTP_RETRY_AFTER_MAX_S;
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *userdata)
{
    struct http_call *call = userdata;
    size_t n = size * nitems;
    static const char name[] = "retry-after:";
    /* A status line starts a new response (1xx, then the final one). */
    if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0)
        call->retry_after_s = -1;
    else if (n >= sizeof name - 1 && strncasecmp(buf, name, sizeof name - 1) == 0)
        call->retry_after_s =
            parse_retry_after(buf + sizeof name - 1, n - (sizeof name - 1));
    return n;
}

/* Drains every finished transfer. Called after every socket_action, as the
 * reference example fails to do on its timer path. */
static void attempt_finished(struct http_call *call, CURLcode rc);

static void drain(struct http_engine *e)
{
    CURLMsg *msg;
    int left;
    while (!e->destroying && (msg = curl_multi_info_read(e->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        /* The message is invalid once the handle is removed; copy first. */
        CURL *easy = msg->easy_handle;
        CURLcode rc = msg->data.result;
        char *priv = NULL;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
        struct http_call *call = (struct http_call *)priv;
        CURLMcode mc = curl_multi_remove_handle(e->multi, easy);
        attempt_finished(call, rc);
        if (mc != CURLM_OK && !e->destroying) {
            multi_failed(e, mc);
            pump(e);
        }
    }
}

/* Lets curl act on a socket or on its timeout, then hands on what finished.
 * An error means the multi handle cannot go on (a callback of ours failed,
 * or curl ran out of memory): multi_failed fails the running calls and
 * replaces the handle, and the queue starts on the new one. */
static void socket_action(struct http_engine *e, curl_socket_t fd, int flags)
{
    int running;
    engine_enter(e);
    CURLMcode mc = curl_multi_socket_action(e->multi, fd, flags, &running);
    if (mc != CURLM_OK) {
        multi_failed(e, mc);
        pump(e);
    } else {
        drain(e);
    }
    engine_leave(e);
}

static void on_poll(uv_poll_t *handle, int status, int events)
{
    struct sock_ctx *ctx = handle->data;
    struct http_engine *e = ctx->engine;
    if (e->torn_down)
        return;
    if (ctx->idle) {
        /* A cached connection became readable: the peer closed it (or sent
         * what nobody asked for). curl finds that out when it next picks the
         * connection; until then the poll would report it on every turn. */
        uv_poll_stop(&ctx->poll);
        ctx->events = 0;
        return;
    }
    int flags = 0;
    if (status < 0) {
        flags = CURL_CSELECT_ERR;
    } else {
        if (events & UV_READABLE)
            flags |= CURL_CSELECT_IN;
        if (events & UV_WRITABLE)
            flags |= CURL_CSELECT_OUT;
    }
    socket_action(e, ctx->fd, flags);
}

static void on_timeout(uv_timer_t *timer)
{
    struct http_engine *e = timer->data;
    if (e->torn_down)
        return;
    socket_action(e, CURL_SOCKET_TIMEOUT, 0);
}

/* Initialises the context's poll handle; 0, or -1 with the reason in
 * e->sock_error. */
static int sock_poll_init(struct http_engine *e, struct sock_ctx *ctx)
{
    int rc = uv_poll_init_socket(e->loop, &ctx->poll, ctx->fd);
    if (rc != 0) {
        e->sock_error = rc;
        return -1;
    }
    ctx->poll.data = ctx;
    ctx->polling = true;
    list_push_back(&e->sockets, &ctx->link);
    e->open_handles++;
    return 0;
}

/* A context and a poll handle for a socket that is not kept, reported for
 * the first time; NULL, with the reason in e->sock_error, when there is
 * none. */
static struct sock_ctx *sock_open(struct http_engine *e, curl_socket_t s)
{
    struct sock_ctx *ctx = sock_take(e, s);
    if (!ctx) {
        e->sock_error = UV_ENOMEM;
        return NULL;
    }
    if (sock_poll_init(e, ctx) != 0) {
        sock_put(e, ctx);
        return NULL;
    }
    return ctx;
}

/* Room in e->kept for descriptor fd. */
static bool kept_room(struct http_engine *e, curl_socket_t fd)
{
    if ((size_t)fd < e->kept_len)
        return true;
    size_t n = e->kept_len ? e->kept_len : 64;
    while (n <= (size_t)fd)
        n *= 2;
    struct sock_ctx **t = realloc(e->kept, n * sizeof(struct sock_ctx *));
    if (!t)
        return false;
    memset(t + e->kept_len, 0, (n - e->kept_len) * sizeof(struct sock_ctx *));
    e->kept = t;
    e->kept_len = n;
    return true;
}

/* CURLOPT_OPENSOCKETFUNCTION: the socket of a new connection, which curl
 * will close through on_close_socket. Remembered so that its poll can stay
 * open while the connection waits in curl's cache; without memory for
 * that, it is watched like any other socket, and its poll is closed when
 * curl stops watching it. */
static curl_socket_t on_open_socket(void *clientp, curlsocktype purpose,
                                    struct curl_sockaddr *addr)
{
    (void)purpose;
    struct http_engine *e = clientp;
    curl_socket_t fd =
        socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    if (!kept_room(e, fd))
        return fd;
    /* A context left for this number would be stale; curl closed it. */
    if (e->kept[fd])
        sock_close(e->kept[fd]);
    struct sock_ctx *ctx = sock_take(e, fd);
    if (ctx) {
        ctx->kept = true;
        ctx->idle = true;
        e->kept[fd] = ctx;
    }
    return fd;
}

/* CURLOPT_CLOSESOCKETFUNCTION: the poll goes before the descriptor. */
static int on_close_socket(void *clientp, curl_socket_t fd)
{
    struct http_engine *e = clientp;
    struct sock_ctx *ctx = kept_ctx(e, fd);
    if (ctx)
        sock_close(ctx);
    return close(fd);
}

/* Starts watching what curl asks for; -1 with the reason in e->sock_error
 * when the poll cannot. Starting a poll in libuv 1.44 always removes the
 * descriptor from epoll and adds it again, so an unchanged interest is left
 * alone: a reused connection usually costs no epoll_ctl at all. */
static int sock_watch(struct http_engine *e, struct sock_ctx *ctx, int action)
{
    int events = 0;
    if (action != CURL_POLL_OUT)
        events |= UV_READABLE;
    if (action != CURL_POLL_IN)
        events |= UV_WRITABLE;
    ctx->idle = false;
    if (events == ctx->events)
        return 0;
    int rc = uv_poll_start(&ctx->poll, events, on_poll);
    if (rc != 0) {
        e->sock_error = rc;
        return -1;
    }
    ctx->events = events;
    return 0;
}

static int on_curl_socket(CURL *easy, curl_socket_t s, int action, void *userp,
                          void *socketp)
{
    (void)easy;
    struct http_engine *e = userp;
    struct sock_ctx *ctx = socketp ? socketp : kept_ctx(userp, s);
    switch (action) {
    case CURL_POLL_IN:
    case CURL_POLL_OUT:
    case CURL_POLL_INOUT:
        /* -1 marks the multi handle dead (CURLM_ABORTED_BY_CALLBACK), which
         * socket_action then reports and multi_failed repairs. */
        if (!ctx && !(ctx = sock_open(e, s)))
            return -1;
        if (!ctx->polling && sock_poll_init(e, ctx) != 0)
            return -1;
        if (ctx != socketp)
            curl_multi_assign(e->multi, s, ctx);
        return sock_watch(e, ctx, action);
    case CURL_POLL_REMOVE:
        if (ctx && ctx->kept) {
            /* The connection goes to curl's cache (or is about to be closed
             * through on_close_socket). Its poll stays, with its interest if
             * that is reading, which is what the next request on it waits
             * for; a readable socket is never busy while nothing comes. */
            ctx->idle = true;
            if (ctx->events & UV_WRITABLE) {
                uv_poll_stop(&ctx->poll);
                ctx->events = 0;
            }
        } else if (ctx) {
            sock_close(ctx);
            /* During curl_multi_cleanup the socket hash is going away. */
            if (!e->in_multi_cleanup)
                curl_multi_assign(e->multi, s, NULL);
        }
        return 0;
    default:
        return -1;
    }
}

/* curl asks for one non-repeating timer whose new expiry replaces the old.
 * A 0 ms request becomes 1 ms: uv timers never fire from uv_timer_start, but
 * in libuv 1.44 a 0 ms timer started from a timer callback runs again in the
 * same pass, which could spin without polling. */
static int on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct http_engine *e = userp;
    if (e->torn_down)
        return 0;
    if (timeout_ms < 0) {
        uv_timer_stop(&e->timer);
        return 0;
    }
    if (timeout_ms == 0)
        timeout_ms = 1;
    return uv_timer_start(&e->timer, on_timeout, (uint64_t)timeout_ms, 0) == 0 ? 0 : -1;
}

/* ---- attempts ----------------------------------------------------------- */

static bool is_tls_error(CURLcode rc)
{
    switch (rc) {
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_ENGINE_NOTFOUND:
    case CURLE_SSL_ENGINE_SETFAILED:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_ENGINE_INITFAILED:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_SHUTDOWN_FAILED:
    case CURLE_SSL_CRL_BADFILE:
    case CURLE_SSL_ISSUER_ERROR:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_INVALIDCERTSTATUS:
    case CURLE_SSL_CLIENTCERT:
        return true;
    default:
        return false;
    }
}

/* The outcome of a transfer that libcurl ended with rc, and whether the
 * request may have reached the server. */
static enum http_outcome outcome_of(const struct http_call *call, CURLcode rc,
                                    bool *maybe_delivered)
{
    *maybe_delivered = true;
    switch (rc) {
    case CURLE_OK:
        return HTTP_ANSWERED;
    case CURLE_OPERATION_TIMEDOUT:
        /* A timeout before curl got to sending (still resolving, connecting
         * or in the TLS handshake) cannot have reached the server. */
        *maybe_delivered = call->request_started;
        return HTTP_TIMEOUT;
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        *maybe_delivered = false;
        return HTTP_DNS_FAILED;
    case CURLE_COULDNT_CONNECT:
        *maybe_delivered = false;
        return HTTP_CONNECT_FAILED;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return HTTP_RESET;
    default:
        if (is_tls_error(rc)) {
            *maybe_delivered = false;
            return HTTP_TLS_FAILED;
        }
        return HTTP_FAILED;
    }
}

/* Failures the engine words itself, since curl's text would mislead.
 * Returns false when rc is left to outcome_of. */
static bool classify_own(struct http_call *call, CURLcode rc)
{
    if (call->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
        call->outcome = HTTP_TOO_LARGE;
        set_error(call, "response body exceeds %zu bytes",
                  call->engine->max_response_bytes);
        /* Nothing partial is handed on. */
        dynbuf_finish(&call->resp);
    } else if (call->out_of_memory) {
        call->outcome = HTTP_FAILED;
        set_error(call, "out of memory reading the response");
        dynbuf_finish(&call->resp);
    } else if (rc == CURLE_OUT_OF_MEMORY && !call->body_started) {
        /* libcurl 7.x reports a header line over its limit (100 KiB) as
         * "Out of memory", without a message; an answer whose headers are
         * that large is a too-large answer, and says nothing about memory. */
        call->outcome = HTTP_TOO_LARGE;
        set_error(call, "a response header exceeds libcurl's size limit");
    } else if (call->resend_refused) {
        call->outcome = HTTP_RESET;
        set_error(call, "connection closed before an answer; not sent again");
    } else {
        return false;
    }
    return true;
}

static void classify(struct http_call *call, CURLcode rc)
{
    CURL *easy = call->xfer->easy;
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    call->status = status;
    call->maybe_delivered = true;
    free(call->content_type);
    call->content_type = NULL;
    char *ct = NULL;
    if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
        call->content_type = strdup(ct);
    if (classify_own(call, rc))
        return;
    call->outcome = outcome_of(call, rc, &call->maybe_delivered);
    if (call->outcome == HTTP_ANSWERED) {
        free(call->error);
        call->error = NULL;
    } else {
        const char *errbuf = call->xfer->errbuf;
        set_error(call, "%s", errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
}

/* Milliseconds to wait before another attempt, or -1 for none. Only calls
 * marked retryable are repeated, and only when the failure says nothing
 * happened upstream (no connection, or a reset before any answer) or the
 * server asked for a retry (5xx, 429). */
static long retry_wait_ms(const struct http_call *call)
{
    const struct http_engine *e = call->engine;
    if (!call->retryable || call->attempts > e->max_retries)
        return -1;
    bool no_connection = call->outcome == HTTP_DNS_FAILED ||
                         call->outcome == HTTP_CONNECT_FAILED ||
                         (call->outcome == HTTP_RESET && call->status == 0) ||
                         (call->outcome == HTTP_TIMEOUT && !call->maybe_delivered);
    bool retry_status =
        call->outcome == HTTP_ANSWERED &&
        (call->status == 429 || (call->status >= 500 && call->status <= 599));
    if (!no_connection && !retry_status)
        return -1;
    long max = e->retry_max_wait_ms;
    if (retry_status && (call->status == 429 || call->status == 503) &&
        call->retry_after_s >= 0) {
        /* The server said when; if that is longer than we may wait, the
         * caller gets the answer with retry_after_s instead. */
        if (call->retry_after_s > max / 1000 || call->retry_after_s * 1000 > max)
            return -1;
        return call->retry_after_s * 1000;
    }
    long wait = e->retry_base_ms;
    for (unsigned i = 1; i < call->attempts; i++) {
        if (wait > max / 2) {
            wait = max;
            break;
        }
        wait *= 2;
    }
    return wait < max ? wait : max;
}

static void attempt_finished(struct http_call *call, CURLcode rc)
{
    struct http_engine *e = call->engine;
    list_remove(&call->link);
    e->n_running--;
    classify(call, rc);
    /* A call waiting for its retry holds no handle either. */
    xfer_give_back(e, call->xfer);
    call->xfer = NULL;
    long wait = retry_wait_ms(call);
    if (wait >= 0) {
        call->state = CALL_BACKOFF;
        list_push_back(&e->waiting, &call->link);
        uv_timer_start(&call->timer, on_call_timer, (uint64_t)wait, 0);
    } else {
        call_complete(call);
    }
    pump(e);
}

static void on_call_timer(uv_timer_t *timer)
{
    struct http_call *call = timer->data;
    struct http_engine *e = call->engine;
    engine_enter(e);
    if (call->state == CALL_BACKOFF) {
        list_remove(&call->link);
        if (e->n_running < e->max_inflight) {
            start_attempt(call);
            /* A multi handle that failed there took the running calls. */
            pump(e);
        } else {
            call_enqueue(call, true);
        }
    } else if (call->state == CALL_FAILING) {
        list_remove(&call->link);
        call_complete(call);
    }
    engine_leave(e);
}

/* Takes a transfer for the call and hands it to curl; NULL, or why not. */
static const char *attach_transfer(struct http_call *call)
{
    struct http_engine *e = call->engine;
    const char *why = NULL;
    if (!(call->xfer = xfer_take(e, &why)))
        return why;
    call->xfer->errbuf[0] = '\0';
    if (configure_request(call) != 0) {
        /* Half set: not reused. */
        xfer_destroy(call->xfer);
        call->xfer = NULL;
        return "libcurl refused an option of the request";
    }
    CURLMcode mc = curl_multi_add_handle(e->multi, call->xfer->easy);
    if (mc == CURLM_OK)
        return NULL;
    /* libcurl 7.88 can fail after linking the handle in (its timer
     * callback failed); removing a handle that is not in is harmless. The
     * handle is not reused. */
    curl_multi_remove_handle(e->multi, call->xfer->easy);
    xfer_destroy(call->xfer);
    call->xfer = NULL;
    multi_failed(e, mc);
    return e->multi_error;
}

static void start_attempt(struct http_call *call)
{
    struct http_engine *e = call->engine;
    size_t toobig =
        e->max_response_bytes < SIZE_MAX ? e->max_response_bytes + 1 : SIZE_MAX;
    dynbuf_finish(&call->resp);
    dynbuf_init(&call->resp, toobig);
    call->too_large = false;
    call->out_of_memory = false;
    call->body_started = false;
    call->request_started = false;
    call->resend_refused = false;
    call->retry_after_s = -1;
    call->attempts++;
    const char *why = attach_transfer(call);
    if (why) {
        call_fail_later(call, why);
        return;
    }
    call->state = CALL_RUNNING;
    list_push_back(&e->running, &call->link);
    e->n_running++;
    notify_stage(call, HTTP_STAGE_SENT);
}

/* ---- set-up ------------------------------------------------------------ */

static void header_set_free(struct header_set *hs)
{
    for (struct curl_slist *it = hs->list; it; it = it->next)
        wipe(it->data, strlen(it->data));
    curl_slist_free_all(hs->list);
    free(hs->content_type);
    if (hs->auth_value) {
        wipe(hs->auth_value, strlen(hs->auth_value));
        free(hs->auth_value);
    }
    free(hs);
}

/* Appends "name:[ value]" to hs->list. curl copies the line, so the buffer
 * (which may hold the credential) is wiped and freed here. */
static int header_append(struct header_set *hs, const char *name, const char *value)
{
    size_t n = strlen(name) + 2 + (value ? strlen(value) : 0) + 1;
    char *line = malloc(n);
    if (!line)
        return -ENOMEM;
    snprintf(line, n, "%s:%s%s", name, value ? " " : "", value ? value : "");
    struct curl_slist *l = curl_slist_append(hs->list, line);
    wipe(line, n);
    free(line);
    if (!l)
        return -ENOMEM;
    hs->list = l;
    return 0;
}

static bool same_text(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* A set per content type and per-request credential: a caller uses a
 * handful of each (one credential per tenant it serves). */
static struct header_set *header_set_for(struct http_engine *e, const char *content_type,
                                         const char *auth_value)
{
    for (struct header_set *hs = e->header_sets; hs; hs = hs->next)
        if (same_text(hs->content_type, content_type) &&
            same_text(hs->auth_value, auth_value))
            return hs;
    struct header_set *hs = calloc(1, sizeof *hs);
    if (!hs)
        return NULL;
    if ((content_type && !(hs->content_type = strdup(content_type))) ||
        (auth_value && !(hs->auth_value = strdup(auth_value))))
        goto fail;
    /* An empty "Expect:" stops curl waiting for 100-continue on bodies, and
     * an empty "Content-Type:" stops it inventing a form type for POST. */
    if (header_append(hs, "Accept", "application/json") != 0 ||
        header_append(hs, "Expect", NULL) != 0 ||
        header_append(hs, "Content-Type", content_type) != 0)
        goto fail;
    if (e->auth_header &&
        header_append(hs, e->auth_header, auth_value ? auth_value : e->auth_value) != 0)
        goto fail;
    hs->next = e->header_sets;
    e->header_sets = hs;
    return hs;

fail:
    header_set_free(hs);
    return NULL;
}

/* Sets curl option opt unless an earlier one failed; *rc keeps the first
 * failure. */
#define SET(opt, val)                                                                    \
    do {                                                                                 \
        if (*rc == CURLE_OK)                                                             \
            *rc = curl_easy_setopt(c, opt, val);                                         \
    } while (0)

/* What every transfer of the engine needs, set once when it is made:
 * callbacks, limits and security. */
static void configure_engine_options(struct http_engine *e, struct transfer *x,
                                     CURLcode *rc)
{
    CURL *c = x->easy;
    SET(CURLOPT_PROTOCOLS_STR, "http,https");
    SET(CURLOPT_NOSIGNAL, 1L);
    SET(CURLOPT_ERRORBUFFER, x->errbuf);
    SET(CURLOPT_WRITEFUNCTION, on_write);
    SET(CURLOPT_HEADERFUNCTION, on_header);
    SET(CURLOPT_PREREQFUNCTION, on_prereq);
    SET(CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
    SET(CURLOPT_OPENSOCKETDATA, e);
    SET(CURLOPT_CLOSESOCKETFUNCTION, on_close_socket);
    SET(CURLOPT_CLOSESOCKETDATA, e);
    if (e->user_agent)
        SET(CURLOPT_USERAGENT, e->user_agent);
    SET(CURLOPT_CONNECTTIMEOUT_MS, e->connect_timeout_ms);
    SET(CURLOPT_TIMEOUT_MS, e->timeout_ms);
    /* curl's receive buffer is 16 KiB per transfer by default, 16 MB with
     * 1,000 calls in flight, for answers that are mostly under 1 KiB; it is
     * allocated when the transfer starts, so a call waiting for its answer
     * holds it. 1 KiB is curl's smallest. A larger answer simply takes more
     * reads (the cap is counted in on_write). */
    SET(CURLOPT_BUFFERSIZE, RECV_BUFFER_BYTES);
    SET(CURLOPT_MAXFILESIZE_LARGE,
        (curl_off_t)(e->max_response_bytes > INT64_MAX ? INT64_MAX
                                                       : e->max_response_bytes));
    /* Verification stays on whatever the configuration says. */
    SET(CURLOPT_SSL_VERIFYPEER, 1L);
    SET(CURLOPT_SSL_VERIFYHOST, 2L);
    if (e->ca_file)
        SET(CURLOPT_CAINFO, e->ca_file);
    SET(CURLOPT_TCP_KEEPALIVE, 1L);
    /* Without this libcurl looks up no_proxy, NO_PROXY and the proxy
     * variables in the environment for every request. When none was set at
     * start-up there is nothing to find; with one set, libcurl decides as
     * usual. */
    if (e->no_proxy)
        SET(CURLOPT_NOPROXY, "*");
}

static int configure_transfer(struct http_engine *e, struct transfer *x)
{
    CURLcode rc = CURLE_OK;
    configure_engine_options(e, x, &rc);
    if (rc != CURLE_OK)
        return -1;
    /* HTTP/2 over TLS when the server offers it; a libcurl without nghttp2
     * refuses the option and HTTP/1.1 is used. */
    curl_easy_setopt(x->easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    return 0;
}

/* The method. Every request starts from a plain GET (which also clears
 * NOBODY) with no custom method, whatever the handle carried before. */
static void configure_method(struct http_call *call, CURL *c, CURLcode *rc)
{
    SET(CURLOPT_HTTPGET, 1L);
    SET(CURLOPT_CUSTOMREQUEST, (char *)NULL);
    if (strcmp(call->method, "GET") == 0)
        return;
    if (strcmp(call->method, "HEAD") == 0) {
        SET(CURLOPT_NOBODY, 1L);
        return;
    }
    if (call->body || strcmp(call->method, "POST") == 0) {
        SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)call->body_len);
        SET(CURLOPT_POSTFIELDS, call->body ? call->body : "");
    }
    if (strcmp(call->method, "POST") != 0)
        SET(CURLOPT_CUSTOMREQUEST, call->method);
}

/* What changes from one request to the next. */
static void configure_call_options(struct http_call *call, CURL *c, CURLcode *rc)
{
    SET(CURLOPT_URL, call->url);
    SET(CURLOPT_PRIVATE, (char *)call);
    SET(CURLOPT_WRITEDATA, call);
    SET(CURLOPT_HEADERDATA, call);
    SET(CURLOPT_PREREQDATA, call);
    SET(CURLOPT_HTTPHEADER, call->headers->list);
    /* Over TLS, wait for a connection that may multiplex rather than open
     * more; ALPN settles the question at the handshake. Over plain http://
     * (HTTP/1.1 only) curl 7.88 would wait for the first whole response. */
    SET(CURLOPT_PIPEWAIT, strncasecmp(call->url, "https://", 8) == 0 ? 1L : 0L);
}

static int configure_request(struct http_call *call)
{
    CURL *c = call->xfer->easy;
    CURLcode rc = CURLE_OK;
    configure_call_options(call, c, &rc);
    configure_method(call, c, &rc);
    return rc == CURLE_OK ? 0 : -1;
}

#undef SET

/* Drops what points at the last call; these cannot fail. */
static void clear_request(CURL *c)
{
    curl_easy_setopt(c, CURLOPT_PRIVATE, (char *)NULL);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, (void *)NULL);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, (void *)NULL);
    curl_easy_setopt(c, CURLOPT_PREREQDATA, (void *)NULL);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, (char *)NULL);
    curl_easy_setopt(c, CURLOPT_URL, (char *)NULL);
}

/* The variables libcurl reads to pick a proxy for http:// and https://
 * (it ignores upper-case HTTP_PROXY, but a set one may be meant for it). */
static bool proxy_in_environment(void)
{
    static const char *const names[] = {"http_proxy",  "HTTP_PROXY", "https_proxy",
                                        "HTTPS_PROXY", "all_proxy",  "ALL_PROXY"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (getenv(names[i]))
            return true;
    return false;
}

static bool has_line_break(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

/* An HTTP field name (RFC 9110 5.1: a token). */
static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        bool alnum =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        if (!alnum && !strchr("!#$%&'*+-.^_`|~", c))
            return false;
    }
    return true;
}

/* The second reading of the base URL, by the parser that will connect:
 * libcurl must find no user, password, login options, query or fragment,
 * and for plain http a loopback host. Returns 0 or -EINVAL. */
static int check_base_with_curl(const char *base)
{
    static const CURLUPart absent[] = {CURLUPART_USER, CURLUPART_PASSWORD,
                                       CURLUPART_OPTIONS, CURLUPART_QUERY,
                                       CURLUPART_FRAGMENT};
    CURLU *u = curl_url();
    if (!u)
        return -ENOMEM;
    int err = -EINVAL;
    char *scheme = NULL;
    char *host = NULL;
    if (curl_url_set(u, CURLUPART_URL, base, 0) != CURLUE_OK)
        goto out;
    for (size_t i = 0; i < sizeof absent / sizeof absent[0]; i++) {
        char *part = NULL;
        CURLUcode uc = curl_url_get(u, absent[i], &part, 0);
        curl_free(part);
        if (uc == CURLUE_OK)
            goto out;
    }
    if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
        goto out;
    if (strcmp(scheme, "https") == 0 ||
        (strcmp(scheme, "http") == 0 && http_url_host_is_loopback(host, strlen(host))))
        err = 0;
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return err;
}

static int copy_string(char **to, const char *from)
{
    if (from && !(*to = strdup(from)))
        return -ENOMEM;
    return 0;
}

/* Two socket contexts per slot and some slack, in one array: calloc'd
 * memory is only touched as contexts are used. */
static int sock_pool_init(struct http_engine *e)
{
    size_t n = 2 * (size_t)e->max_inflight + SOCK_POOL_SLACK;
    if (!(e->sock_pool = calloc(n, sizeof *e->sock_pool)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        e->sock_pool[i].pooled = true;
        list_push_back(&e->free_socks, &e->sock_pool[i].link);
    }
    return 0;
}

static int engine_set_options(struct http_engine *e, const struct http_engine_options *o)
{
    e->timeout_ms = positive_or(o->timeout_ms, DEFAULT_TIMEOUT_MS);
    e->connect_timeout_ms =
        positive_or(o->connect_timeout_ms, DEFAULT_CONNECT_TIMEOUT_MS);
    if (e->connect_timeout_ms > e->timeout_ms)
        e->connect_timeout_ms = e->timeout_ms;
    e->max_response_bytes =
        o->max_response_bytes ? o->max_response_bytes : DEFAULT_MAX_RESPONSE_BYTES;
    e->max_inflight = o->max_inflight ? o->max_inflight : DEFAULT_MAX_INFLIGHT;
    e->max_queue = o->max_queue ? o->max_queue : DEFAULT_MAX_QUEUE;
    e->max_retries = o->max_retries;
    e->retry_base_ms = positive_or(o->retry_base_ms, DEFAULT_RETRY_BASE_MS);
    e->retry_max_wait_ms = positive_or(o->retry_max_wait_ms, DEFAULT_RETRY_MAX_WAIT_MS);
    e->no_proxy = !proxy_in_environment();
    e->idle_cap = e->max_inflight < EASY_POOL_MAX ? e->max_inflight : EASY_POOL_MAX;
    if (sock_pool_init(e) != 0)
        return -ENOMEM;
    if (o->auth_header && o->auth_value &&
        (copy_string(&e->auth_header, o->auth_header) != 0 ||
         copy_string(&e->auth_value, o->auth_value) != 0))
        return -ENOMEM;
    if (copy_string(&e->base_url, o->base_url) != 0 ||
        copy_string(&e->user_agent, o->user_agent) != 0 ||
        copy_string(&e->ca_file, o->ca_file) != 0)
        return -ENOMEM;
    e->base_len = e->base_url ? strlen(e->base_url) : 0;
    return 0;
}

/* A multi handle driven by this engine's callbacks. Returns 0, -ENOMEM or
 * -EIO. */
static int multi_new(struct http_engine *e, CURLM **out)
{
    CURLM *m = curl_multi_init();
    if (!m)
        return -ENOMEM;
    if (curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, on_curl_socket) ||
        curl_multi_setopt(m, CURLMOPT_SOCKETDATA, e) ||
        curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, on_curl_timer) ||
        curl_multi_setopt(m, CURLMOPT_TIMERDATA, e) ||
        curl_multi_setopt(m, CURLMOPT_PIPELINING, CURLPIPE_MULTIPLEX) ||
        /* By default curl keeps four connections per transfer in the multi
         * at the moment one ends, so a quiet spell closes connections that
         * the next busy one opens again. The cap says how many can be busy
         * at once; keep that many. */
        curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)e->max_inflight)) {
        curl_multi_cleanup(m);
        return -EIO;
    }
    *out = m;
    return 0;
}

/* The multi handle, now without transfers, is replaced by a fresh one;
 * closing it closes its cached connections, and the polls of any socket
 * curl did not report. When no new handle can be made the old one stays:
 * libcurl 7.88 lets a dead handle start over once no transfer is left. */
static void multi_replace(struct http_engine *e)
{
    CURLM *fresh = NULL;
    if (multi_new(e, &fresh) == 0) {
        e->in_multi_cleanup = true;
        curl_multi_cleanup(e->multi);
        e->in_multi_cleanup = false;
        close_all_sockets(e);
        e->multi = fresh;
    }
    uv_timer_stop(&e->timer);
}

/* The words for calls failed with the multi handle, in e->multi_error. */
static void multi_error_text(struct http_engine *e, CURLMcode mc)
{
    const char *what = "the HTTP engine failed";
    if (mc == CURLM_OUT_OF_MEMORY || e->sock_error == UV_ENOMEM)
        what = "the HTTP engine ran out of memory";
    else if (e->sock_error)
        what = "the HTTP engine could not watch a socket";
    if (e->sock_error && e->sock_error != UV_ENOMEM)
        snprintf(e->multi_error, sizeof e->multi_error, "%s (%s; libcurl: %s)", what,
                 uv_strerror(e->sock_error), curl_multi_strerror(mc));
    else
        snprintf(e->multi_error, sizeof e->multi_error, "%s (libcurl: %s)", what,
                 curl_multi_strerror(mc));
    e->sock_error = 0;
}

/* The multi handle reported an error. libcurl 7.88 marks it dead when one
 * of our callbacks returns -1 (CURLM_ABORTED_BY_CALLBACK): every transfer
 * in it then fails, and with several of them the next socket_action can
 * crash. So every running call fails now, reported from the loop like any
 * failure before curl (done exactly once, never from here), and the handle
 * is replaced; the caller pumps the queue onto the new one. A result curl
 * had for a running call but not yet handed over is lost with it. */
static void multi_failed(struct http_engine *e, CURLMcode mc)
{
    multi_error_text(e, mc);
    if (e->destroying)
        return;
    while (!list_empty(&e->running)) {
        struct http_call *call = container_of(e->running.next, struct http_call, link);
        list_remove(&call->link);
        e->n_running--;
        curl_multi_remove_handle(e->multi, call->xfer->easy);
        /* A handle from a dead multi is not reused. */
        xfer_destroy(call->xfer);
        call->xfer = NULL;
        bool sent = call->request_started;
        call_fail_later(call, e->multi_error);
        call->maybe_delivered = sent;
    }
    multi_replace(e);
}

/* curl_global_init, the base URL check and the multi handle. */
static int engine_start_curl(struct http_engine *e)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return -EIO;
    int err = e->base_url ? check_base_with_curl(e->base_url) : 0;
    if (err != 0)
        goto fail_global;
    if ((err = multi_new(e, &e->multi)) != 0)
        goto fail_global;
    return 0;

fail_global:
    curl_global_cleanup();
    return err;
}

/* ---- public API ------------------------------------------------------- */

int http_engine_create(struct http_engine **out, uv_loop_t *loop,
                       const struct http_engine_options *opts)
{
    static const struct http_engine_options defaults;
    if (!out || !loop)
        return -EINVAL;
    *out = NULL;
    if (!opts)
        opts = &defaults;
    if ((opts->auth_header && !is_token(opts->auth_header)) ||
        has_line_break(opts->auth_value) || has_line_break(opts->user_agent) ||
        (opts->base_url && http_url_check_base(opts->base_url, NULL) != 0))
        return -EINVAL;

    struct http_engine *e = calloc(1, sizeof *e);
    if (!e)
        return -ENOMEM;
    e->loop = loop;
    list_init(&e->queue);
    list_init(&e->running);
    list_init(&e->waiting);
    list_init(&e->sockets);
    list_init(&e->free_socks);
    int err = engine_set_options(e, opts);
    if (err != 0)
        goto fail_free;
    if ((err = engine_start_curl(e)) != 0)
        goto fail_free;
    if ((err = uv_timer_init(loop, &e->timer)) != 0)
        goto fail_curl;
    e->timer.data = e;
    e->open_handles = 1;
    *out = e;
    return 0;

fail_curl:
    curl_multi_cleanup(e->multi);
    curl_global_cleanup();
fail_free:
    engine_free(e);
    return err;
}

/* True when url is the base URL or below it: the host it names is the one
 * checked at creation. */
static bool url_under_base(const struct http_engine *e, const char *url)
{
    if (!e->base_url)
        return true;
    if (strncmp(url, e->base_url, e->base_len) != 0)
        return false;
    char next = url[e->base_len];
    return e->base_url[e->base_len - 1] == '/' || next == '\0' || next == '/' ||
           next == '?';
}

static int submit_check(const struct http_engine *e, const struct http_request *req,
                        http_done_cb done, const char *url)
{
    if (!e || !done || !url || !req->method || !*req->method ||
        strpbrk(req->method, " \t\r\n") || has_line_break(req->content_type) ||
        has_line_break(req->auth_value) || !url_under_base(e, url))
        return -EINVAL;
    if (e->destroying)
        return -ESHUTDOWN;
    /* Bounded so that a flood of calls is refused at once instead of
     * growing memory without limit; retries going back to the queue were
     * admitted earlier and are not refused. */
    bool must_wait = e->n_running >= e->max_inflight || !list_empty(&e->queue);
    if (must_wait && e->n_queued >= e->max_queue)
        return -EBUSY;
    return 0;
}

int http_submit(struct http_engine *e, struct http_request *req, http_done_cb done,
                http_stage_cb stage, void *data, struct http_call **out)
{
    if (out)
        *out = NULL;
    if (!req)
        return -EINVAL;
    char *url = req->url;
    char *body = req->body;
    req->url = NULL;
    req->body = NULL;
    struct http_call *call = NULL;
    struct header_set *hs = NULL;
    int err = out ? submit_check(e, req, done, url) : -EINVAL;
    if (err != 0)
        goto fail;
    err = -ENOMEM;
    if (!(hs = header_set_for(e, req->content_type, req->auth_value)) ||
        !(call = calloc(1, sizeof *call)))
        goto fail;
    call->engine = e;
    call->headers = hs;
    call->method = req->method;
    call->url = url;
    call->body = body;
    call->body_len = body ? req->body_len : 0;
    call->retryable = req->retryable;
    call->done = done;
    call->stage = stage;
    call->data = data;
    call->retry_after_s = -1;
    list_init(&call->link);
    dynbuf_init(&call->resp, 1);
    if ((err = uv_timer_init(e->loop, &call->timer)) != 0)
        goto fail_call;
    call->timer.data = call;
    e->open_handles++;
    call->start_ns = uv_hrtime();

    engine_enter(e);
    if (e->n_running < e->max_inflight && list_empty(&e->queue))
        start_attempt(call);
    else
        call_enqueue(call, false);
    engine_leave(e);
    /* A stage callback that destroyed the engine took the call with it; no
     * callback will follow. */
    if (call->state == CALL_CLOSED)
        return -ECANCELED;
    *out = call;
    return 0;

fail_call:
    free(call);
fail:
    free(url);
    free(body);
    return err;
}

void http_cancel(struct http_call *call)
{
    if (!call)
        return;
    struct http_engine *e = call->engine;
    bool was_running = call->state == CALL_RUNNING;
    engine_enter(e);
    call_drop(call);
    if (was_running)
        pump(e);
    engine_leave(e);
}

unsigned http_engine_inflight(const struct http_engine *engine)
{
    return engine ? engine->n_running : 0;
}

unsigned http_engine_queued(const struct http_engine *engine)
{
    return engine ? engine->n_queued : 0;
}

void http_engine_destroy(struct http_engine *e, void (*closed)(void *data), void *data)
{
    if (!e || e->destroying)
        return;
    e->destroying = true;
    e->closed = (struct closed_cb){closed, data};
    struct list *lists[] = {&e->queue, &e->waiting, &e->running};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        while (!list_empty(lists[i]))
            call_drop(container_of(lists[i]->next, struct http_call, link));
    if (e->busy == 0)
        teardown(e);
}
