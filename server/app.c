#include "server/app.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "util/msg.h"

int app_open(uv_loop_t *loop, const struct config *cfg, struct dispatch **d, char **error)
{
    *error = NULL;
    int err = uv_loop_init(loop);
    if (err != 0) {
        *error = msg_format("cannot start the event loop: %s", uv_strerror(err));
        return err;
    }
    *d = dispatch_create(cfg, loop, error);
    if (!*d) {
        if (!*error)
            *error = strdup("cannot load the tools");
        uv_loop_close(loop);
        return UV_EINVAL;
    }
    return 0;
}

void app_discard(uv_loop_t *loop, struct dispatch *d)
{
    dispatch_destroy(d, NULL, NULL);
    uv_run(loop, UV_RUN_DEFAULT);
}

void app_signals_start(struct app_signals *s, uv_loop_t *loop, uv_signal_cb on_stop,
                       uv_signal_cb on_hup, void *data, bool weak)
{
    uv_signal_t *all[] = {&s->term, &s->intr, &s->hup};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        uv_signal_init(loop, all[i]);
        all[i]->data = data;
        if (weak)
            uv_unref((uv_handle_t *)all[i]);
    }
    uv_signal_start(&s->term, on_stop, SIGTERM);
    uv_signal_start(&s->intr, on_stop, SIGINT);
    uv_signal_start(&s->hup, on_hup, SIGHUP);
}

static void on_closed(uv_handle_t *h)
{
    (void)h;
}

void app_signals_close(struct app_signals *s)
{
    uv_close((uv_handle_t *)&s->term, on_closed);
    uv_close((uv_handle_t *)&s->intr, on_closed);
    uv_close((uv_handle_t *)&s->hup, on_closed);
}
