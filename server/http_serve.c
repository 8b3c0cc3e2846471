#include "server/http_serve.h"

#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "server/app.h"
#include "server/dispatch.h"
#include "server/http_server.h"
#include "server/mcp.h"
#include "server/persona.h"
#include "tools/service.h"
#include "util/list.h"
#include "util/log.h"

/* How long in-flight calls may keep the server up after SIGTERM, beyond
 * their own upstream timeout, and how long replies then get to be sent. */
#define DRAIN_GRACE_MS 1000
#define DRAIN_TICK_MS 10

struct http_app;

/* One POST being answered by its own session. */
struct http_call {
    struct http_app *app;
    struct mcp_session *session;
    http_reply_fn reply;
    void *call_ctx;
    bool in_handle; /* the core is reading the message: the status is not known */
    char *early;    /* a reply written then, held until it is */
    size_t early_len;
    unsigned status; /* from the outcome, once the core has read the message */
    bool replied;
    bool done;                    /* replied and idle: free at the end of the loop turn */
    struct persona_set *personas; /* referenced while the call may use its persona */
    struct list link;             /* http_app.calls */
};

struct http_app {
    uv_loop_t loop;
    const struct config *cfg;
    struct dispatch *dispatch;
    struct http_server *srv;
    struct app_signals signals;
    uv_timer_t drain_timer;
    uv_check_t reaper;
    uint64_t drain_deadline;
    bool draining, abandoned, tearing_down;
    struct list calls;
    unsigned call_count;
    int exit_code;
};

static void teardown(struct http_app *app);

/* ---- one call ---- */

static void call_unlink(struct http_call *c)
{
    list_remove(&c->link);
    c->app->call_count--;
}

static void call_free(struct http_call *c)
{
    call_unlink(c);
    mcp_session_destroy(c->session);
    persona_set_unref(c->personas);
    free(c->early);
    free(c);
}

/* Sessions are freed after their own code has returned. */
static void on_reaper(uv_check_t *h)
{
    struct http_app *app = h->data;
    struct http_call *c, *next;
    list_for_each_safe(c, next, &app->calls, link) {
        if (c->done)
            call_free(c);
    }
}

static void finish_call(struct http_call *c, unsigned status, const char *body,
                        size_t len)
{
    c->replied = true;
    c->reply(c->call_ctx, status, body, len);
}

static int collect_line(void *data, const char *line, size_t len)
{
    struct http_call *c = data;
    /* The session writes no notifications here (mcp_session_drop_notifications):
     * every line is a reply. */
    if (c->replied || c->early)
        return 0;
    if (c->in_handle) {
        /* The status comes with the outcome, when the core returns. */
        c->early = malloc(len + 1);
        if (!c->early)
            return -ENOMEM;
        memcpy(c->early, line, len);
        c->early[len] = '\0';
        c->early_len = len;
        return 0;
    }
    finish_call(c, c->status, line, len);
    if (mcp_session_pending(c->session) == 0)
        c->done = true;
    return 0;
}

static struct http_call *call_create(struct http_app *app,
                                     const struct http_request_info *info,
                                     http_reply_fn reply, void *call_ctx)
{
    struct http_call *c = calloc(1, sizeof *c);
    if (c)
        c->session =
            mcp_session_create(&app->loop, app->dispatch, app->cfg, collect_line, c);
    if (!c || !c->session) {
        free(c);
        return NULL;
    }
    c->app = app;
    c->reply = reply;
    c->call_ctx = call_ctx;
    list_insert(&app->calls, &c->link);
    app->call_count++;
    /* A SIGHUP may replace the set while this call runs: hold the one its
     * persona belongs to. */
    const struct persona *persona = info->persona;
    if (persona)
        c->personas = persona_set_ref(persona->set);
    mcp_session_set_peer(c->session, info->transport, info->client, persona);
    mcp_session_drop_notifications(c->session);
    /* With personas, what tools/list shows depends on the token. */
    if (app->cfg->personas_file)
        mcp_session_set_caller_scoped(c->session, true);
    return c;
}

static const char oom_reply[] = "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":"
                                "-32603,\"message\":\"Internal error: out of memory\"}}";

/* One POST: a session of its own reads it (stateless in both eras: the
 * core serves a legacy request at the header's version without a
 * handshake and checks a 2026-07-28 one against its headers) and says
 * what the HTTP status is. */
static void handle(void *ctx, const char *body, size_t len,
                   const struct http_request_info *info, http_reply_fn reply,
                   void *call_ctx)
{
    struct http_app *app = ctx;
    struct http_call *c = call_create(app, info, reply, call_ctx);
    if (!c) {
        reply(call_ctx, 500, oom_reply, sizeof oom_reply - 1);
        return;
    }
    struct mcp_http_request http = {.protocol_version = info->protocol_version,
                                    .method = info->mcp_method,
                                    .name = info->mcp_name};
    struct mcp_outcome out;
    c->in_handle = true;
    mcp_session_handle_message(c->session, body, len, &http, &out);
    c->in_handle = false;
    c->status = (unsigned)mcp_outcome_http_status(&out);
    if (!out.request) {
        /* Notifications and responses: nothing refers to them later. */
        finish_call(c, 202, NULL, 0);
    } else if (c->early) {
        finish_call(c, c->status, c->early, c->early_len);
        free(c->early);
        c->early = NULL;
    } else if (!c->replied && mcp_session_pending(c->session) == 0) {
        /* Even the session's internal-error line could not be held. */
        finish_call(c, 500, oom_reply, sizeof oom_reply - 1);
    }
    if (c->replied && mcp_session_pending(c->session) == 0)
        c->done = true;
}

/* The persona whose token the Authorization header carries, or NULL. Its
 * set is held until release: a SIGHUP may replace the set before the body
 * arrives. */
static const void *authenticate(void *ctx, const char *authorization)
{
    struct http_app *app = ctx;
    const struct persona *p =
        persona_set_authenticate(dispatch_personas(app->dispatch), authorization);
    if (p)
        persona_set_ref(p->set);
    return p;
}

static void release(void *ctx, const void *persona)
{
    (void)ctx;
    persona_set_unref(((const struct persona *)persona)->set);
}

static const struct http_handler handler = {
    .handle = handle, .authenticate = authenticate, .release = release};

/* ---- shutdown ---- */

static void drain_tick(uv_timer_t *t)
{
    struct http_app *app = t->data;
    bool idle = app->call_count == 0 && http_server_inflight(app->srv) == 0;
    uint64_t now = uv_now(&app->loop);
    if (idle || (app->abandoned && now >= app->drain_deadline)) {
        teardown(app);
        return;
    }
    if (!app->abandoned && now >= app->drain_deadline) {
        /* Every call still waiting gets its reply: the outcome is unknown. */
        log_warning("giving up on %u call(s) still waiting for " SERVICE_NAME
                    " at shutdown",
                    app->call_count);
        app->abandoned = true;
        app->drain_deadline = now + DRAIN_GRACE_MS;
        struct http_call *c;
        list_for_each(c, &app->calls, link)
            if (!c->done)
                mcp_session_abandon_pending(c->session);
    }
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct http_app *app = sig->data;
    if (app->draining) {
        if (signum == SIGINT)
            teardown(app); /* a second Ctrl-C means now */
        return;
    }
    log_info("received %s; finishing in-flight calls",
             signum == SIGTERM ? "SIGTERM" : "SIGINT");
    app->draining = true;
    http_server_quiesce(app->srv);
    app->drain_deadline =
        uv_now(&app->loop) + (uint64_t)app->cfg->timeout_ms + DRAIN_GRACE_MS;
    uv_timer_start(&app->drain_timer, drain_tick, 0, DRAIN_TICK_MS);
}

static void on_sighup(uv_signal_t *sig, int signum)
{
    (void)signum;
    struct http_app *app = sig->data;
    if (app->dispatch) {
        dispatch_reopen_audit(app->dispatch);
        dispatch_reload_personas(app->dispatch);
    }
}

static void on_closed_handle(uv_handle_t *h)
{
    (void)h;
}

static void on_dispatch_closed(void *data)
{
    struct http_app *app = data;
    app->dispatch = NULL;
    app_signals_close(&app->signals);
    uv_close((uv_handle_t *)&app->drain_timer, on_closed_handle);
    uv_close((uv_handle_t *)&app->reaper, on_closed_handle);
}

static void on_server_closed(void *data)
{
    struct http_app *app = data;
    app->srv = NULL;
    /* Sessions whose reply could no longer be sent; call_free frees its
     * own call and no other. */
    struct http_call *c, *next;
    list_for_each_safe(c, next, &app->calls, link)
        call_free(c);
    /* Freed at once, though its parts close later: a SIGHUP meanwhile must
     * not reach it. */
    struct dispatch *d = app->dispatch;
    app->dispatch = NULL;
    dispatch_destroy(d, on_dispatch_closed, app);
}

static void teardown(struct http_app *app)
{
    if (app->tearing_down)
        return;
    app->tearing_down = true;
    uv_timer_stop(&app->drain_timer);
    struct http_call *c;
    list_for_each(c, &app->calls, link)
        if (!c->done)
            mcp_session_abandon_pending(c->session);
    http_server_destroy(app->srv, on_server_closed, app);
}

/* ---- start ---- */

/* "HOST:PORT", "[V6]:PORT" or "localhost:PORT" into o. Returns 0 or -1. */
static int parse_listen(const char *text, char *host, size_t size,
                        struct http_server_options *o)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text)
        return -1;
    const char *h = text;
    size_t hl = (size_t)(colon - text);
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']')
            return -1;
        h++;
        hl -= 2;
    }
    if (hl >= size)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    if (!strcmp(host, "localhost"))
        snprintf(host, size, "127.0.0.1");
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || *end || end == colon + 1 || port > 65535)
        return -1;
    o->host = host;
    o->port = (uint16_t)port;
    return 0;
}

/* Secure by default: without personas nobody is authenticated, so the
 * server may only be reachable from this machine. */
static int check_exposure(const struct config *cfg, const char *listen,
                          const struct http_server_options *o)
{
    bool v6 = strchr(o->host, ':') != NULL;
    char bracketed[72];
    snprintf(bracketed, sizeof bracketed, "%s%s%s", v6 ? "[" : "", o->host,
             v6 ? "]" : "");
    bool loopback = http_server_is_loopback_host(bracketed, strlen(bracketed));
    if (cfg->personas_file)
        return 0; /* every request is authenticated */
    if (!loopback) {
        log_error("refusing to listen on %s: without personas (MSG91_PERSONAS) every "
                  "request is unauthenticated, so only loopback addresses are allowed",
                  listen);
        return -1;
    }
    return 0;
}

static int app_start(struct http_app *app, const struct http_server_options *o)
{
    char *error = NULL;
    app->srv = http_server_create(&app->loop, o, &handler, app, &error);
    if (!app->srv) {
        log_error("%s", error ? error : "cannot start the HTTP server");
        free(error);
        app_discard(&app->loop, app->dispatch);
        app->dispatch = NULL;
        return -1;
    }
    uv_timer_init(&app->loop, &app->drain_timer);
    uv_check_init(&app->loop, &app->reaper);
    app->drain_timer.data = app->reaper.data = app;
    app_signals_start(&app->signals, &app->loop, on_signal, on_sighup, app, false);
    uv_check_start(&app->reaper, on_reaper);
    uv_unref((uv_handle_t *)&app->reaper);
    return 0;
}

static void announce(const struct http_server *srv, const struct http_server_options *o)
{
    bool v6 = strchr(o->host, ':') != NULL;
    const char *scheme = o->tls_cert_file ? "https" : "http";
    /* The URL on stdout, for scripts and tests that asked for port 0. */
    printf("%s://%s%s%s:%u/mcp\n", scheme, v6 ? "[" : "", o->host, v6 ? "]" : "",
           (unsigned)http_server_port(srv));
    fflush(stdout);
    log_info("serving MCP on %s://%s%s%s:%u/mcp", scheme, v6 ? "[" : "", o->host,
             v6 ? "]" : "", (unsigned)http_server_port(srv));
}

int serve_http(const struct config *cfg)
{
    struct http_server_options o;
    http_server_options_init(&o);
    char host[64];
    const char *listen = cfg->http_listen ? cfg->http_listen : "127.0.0.1:8080";
    if (parse_listen(listen, host, sizeof host, &o) != 0) {
        log_error("MSG91_HTTP_LISTEN \"%s\" is not HOST:PORT (e.g. 127.0.0.1:8080)",
                  listen);
        return 1;
    }
    if (check_exposure(cfg, listen, &o) != 0)
        return 1;
    o.allowed_origins = cfg->http_allowed_origins;
    o.tls_cert_file = cfg->http_tls_cert;
    o.tls_key_file = cfg->http_tls_key;
    o.max_body = (size_t)cfg->max_line_bytes;
    o.require_auth = cfg->personas_file != NULL;
    /* Lives as long as this call: everything on the loop ends before it
     * returns. */
    struct http_app app = {.cfg = cfg};
    list_init(&app.calls);
    char *error = NULL;
    if (app_open(&app.loop, cfg, &app.dispatch, &error) != 0) {
        log_error("%s", error ? error : "out of memory at start-up");
        free(error);
        return 1;
    }
    int rc = 1;
    if (app_start(&app, &o) == 0) {
        announce(app.srv, &o);
        uv_run(&app.loop, UV_RUN_DEFAULT);
        rc = app.exit_code;
    }
    uv_loop_close(&app.loop);
    return rc;
}
