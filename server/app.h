/* What every way of running the server starts with: the event loop, the
 * dispatch on it, and the signals that stop it (SIGTERM, SIGINT) or make
 * it reopen its files (SIGHUP). Serving over stdio (serve.c), over HTTP
 * (http_serve.c) and the one-shot subcommands (cli.c) share it. */
#ifndef MSG91_APP_H
#define MSG91_APP_H

#include <stdbool.h>
#include <uv.h>

#include "server/config.h"
#include "server/dispatch.h"

/* Initialises loop and creates the dispatch on it, in *d. Returns 0, or a
 * negative error code with nothing left open and, in *error (may be left
 * NULL when memory runs out), a malloc'd sentence for the user. */
int app_open(uv_loop_t *loop, const struct config *cfg, struct dispatch **d,
             char **error);

/* Destroys d at once (its calls are cut short) and runs loop until d's
 * handles are closed. The loop stays open for the caller to close. */
void app_discard(uv_loop_t *loop, struct dispatch *d);

/* The three signal handles. */
struct app_signals {
    uv_signal_t term;
    uv_signal_t intr;
    uv_signal_t hup;
};

/* Starts on_stop for SIGTERM and SIGINT and on_hup for SIGHUP, each handle
 * with data. weak: the handles do not keep the loop alive on their own. */
void app_signals_start(struct app_signals *s, uv_loop_t *loop, uv_signal_cb on_stop,
                       uv_signal_cb on_hup, void *data, bool weak);

/* Closes the three handles (nothing to free: they live in s). */
void app_signals_close(struct app_signals *s);

#endif
