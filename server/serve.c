#include "server/serve.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include "server/app.h"
#include "server/dispatch.h"
#include "server/mcp.h"
#include "server/transport.h"
#include "tools/service.h"
#include "util/log.h"

/* How long in-flight calls may keep the process alive after stdin closed
 * or a signal arrived, beyond their own upstream timeout. */
#define DRAIN_GRACE_MS 1000

struct server {
    uv_loop_t loop;
    const struct config *cfg;
    struct transport transport;
    struct dispatch *dispatch;
    struct mcp_session *session;
    struct app_signals signals;
    uv_timer_t drain_timer;
    uint64_t drain_deadline;
    bool draining;
    bool output_failed;
    bool tearing_down;
    int exit_code;
};

static void teardown(struct server *srv);

static int write_line(void *data, const char *line, size_t len)
{
    struct server *srv = data;
    return transport_write(&srv->transport, line, len);
}

static void on_line(struct transport *t, const char *line, size_t len)
{
    struct server *srv = t->data;
    mcp_session_handle_line(srv->session, line, len);
}

static void on_too_big(struct transport *t)
{
    struct server *srv = t->data;
    log_warning("discarded an input line longer than %zu bytes",
                (size_t)srv->cfg->max_line_bytes);
    mcp_session_line_too_big(srv->session, (size_t)srv->cfg->max_line_bytes);
}

static void on_lost(struct transport *t)
{
    struct server *srv = t->data;
    log_error("out of memory while reading an input line; it was discarded");
    mcp_session_line_lost(srv->session);
}

static void drain_tick(uv_timer_t *timer)
{
    struct server *srv = timer->data;
    if (mcp_session_pending(srv->session) == 0) {
        teardown(srv);
        return;
    }
    if (uv_now(&srv->loop) >= srv->drain_deadline) {
        log_warning("giving up on %u call(s) still waiting for " SERVICE_NAME
                    " at shutdown",
                    mcp_session_pending(srv->session));
        teardown(srv);
    }
}

/* Stop reading and let in-flight calls finish, for a bounded time. */
static void start_drain(struct server *srv)
{
    if (srv->draining)
        return;
    srv->draining = true;
    transport_stop_reading(&srv->transport);
    srv->drain_deadline =
        uv_now(&srv->loop) + (uint64_t)srv->cfg->timeout_ms + DRAIN_GRACE_MS;
    uv_timer_start(&srv->drain_timer, drain_tick, 0, 5);
}

static void on_eof(struct transport *t)
{
    start_drain(t->data);
}

static void on_write_error(struct transport *t, int status)
{
    struct server *srv = t->data;
    /* Nobody is listening any more: finishing calls would only produce
     * output that cannot be delivered. The teardown runs from the loop,
     * because this may be called from deep inside the session's own code. */
    if (status == UV_EPIPE || status == UV_ECONNRESET) {
        log_info("stdout closed (%s); exiting", uv_strerror(status));
    } else {
        /* Replies were lost with the reader still there: say so, and do not
         * exit 0 as if the session had ended normally. */
        log_error("cannot write to stdout (%s); exiting", uv_strerror(status));
        srv->exit_code = 1;
    }
    transport_stop_reading(&srv->transport);
    srv->output_failed = true;
    srv->draining = true;
    srv->drain_deadline = 0;
    uv_timer_start(&srv->drain_timer, drain_tick, 0, 5);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    struct server *srv = sig->data;
    log_info("received %s; finishing in-flight calls",
             signum == SIGTERM ? "SIGTERM" : "SIGINT");
    if (srv->draining && signum == SIGINT) {
        /* A second Ctrl-C means now. */
        teardown(srv);
        return;
    }
    start_drain(srv);
}

/* logrotate moves the audit log away and sends SIGHUP: start a new file.
 * The same signal reloads the personas file (a rotated token or key). */
static void on_sighup(uv_signal_t *sig, int signum)
{
    (void)signum;
    struct server *srv = sig->data;
    if (srv->dispatch) {
        dispatch_reopen_audit(srv->dispatch);
        if (srv->cfg->personas_file)
            dispatch_reload_personas(srv->dispatch);
    }
}

static void on_closed_handle(uv_handle_t *h)
{
    (void)h;
}

static void on_transport_closed(struct transport *t)
{
    struct server *srv = t->data;
    app_signals_close(&srv->signals);
    uv_close((uv_handle_t *)&srv->drain_timer, on_closed_handle);
}

static void on_dispatch_closed(void *data)
{
    struct server *srv = data;
    srv->dispatch = NULL;
    transport_close(&srv->transport);
}

static void teardown(struct server *srv)
{
    if (srv->tearing_down)
        return;
    srv->tearing_down = true;
    uv_timer_stop(&srv->drain_timer);
    transport_stop_reading(&srv->transport);
    /* Calls still pending are stopped; each still gets its one reply (a
     * tool error: the outcome is unknown), unless stdout itself is gone. */
    if (srv->session && !srv->output_failed)
        mcp_session_abandon_pending(srv->session);
    mcp_session_destroy(srv->session);
    srv->session = NULL;
    /* Freed at once, though its parts close later: a SIGHUP meanwhile must
     * not reach it. */
    struct dispatch *d = srv->dispatch;
    srv->dispatch = NULL;
    dispatch_destroy(d, on_dispatch_closed, srv);
}

static const struct transport_callbacks transport_cb = {
    .on_line = on_line,
    .on_too_big = on_too_big,
    .on_lost = on_lost,
    .on_eof = on_eof,
    .on_write_error = on_write_error,
    .on_closed = on_transport_closed,
};

int serve_stdio(const struct config *cfg)
{
    struct server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        log_error("out of memory at start-up");
        return 1;
    }
    srv->cfg = cfg;
    int rc = 1;
    char *error = NULL;
    int err = app_open(&srv->loop, cfg, &srv->dispatch, &error);
    if (err != 0) {
        log_error("%s", error ? error : "out of memory at start-up");
        free(error);
        goto out_free;
    }
    srv->session = mcp_session_create(&srv->loop, srv->dispatch, cfg, write_line, srv);
    /* A persona's tool list is its own: no shared cache may keep it. */
    if (srv->session && cfg->persona)
        mcp_session_set_caller_scoped(srv->session, true);
    err = srv->session
              ? transport_init(&srv->transport, &srv->loop, STDIN_FILENO, STDOUT_FILENO,
                               (size_t)cfg->max_line_bytes, &transport_cb, srv)
              : 0;
    if (!srv->session || err != 0) {
        log_error("cannot set up stdio: %s", err ? uv_strerror(err) : "out of memory");
        mcp_session_destroy(srv->session);
        app_discard(&srv->loop, srv->dispatch);
        goto out_loop;
    }
    uv_timer_init(&srv->loop, &srv->drain_timer);
    srv->drain_timer.data = srv;
    /* Signal handles must not keep the loop alive on their own. */
    app_signals_start(&srv->signals, &srv->loop, on_signal, on_sighup, srv, true);

    err = transport_start(&srv->transport);
    if (err != 0) {
        log_error("cannot read stdin: %s", uv_strerror(err));
        teardown(srv);
    }
    uv_run(&srv->loop, UV_RUN_DEFAULT);
    transport_finish(&srv->transport);
    rc = srv->exit_code;
out_loop:
    uv_loop_close(&srv->loop);
out_free:
    free(srv);
    return rc;
}
