/* http.h for the server executable: the engine and libcurl live in a
 * module (module.c) loaded when the first engine is created. libcurl pulls
 * in some thirty shared libraries (OpenSSL, Kerberos, LDAP, SSH, ...) whose
 * loading would add tens of milliseconds to every start, yet a session may
 * never call a tool. util/module.h looks for it next to the executable
 * (the build tree), then in HTTP_MODULE_DIR (the install directory). The
 * tests and benchmarks link the engine itself. */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>

#include "upstream/module.h"
#include "util/module.h"

MODULE_TABLE_CHECK(struct http_module_api);

static const struct http_module_api *api;

/* What, file, variable, install directory, symbol, ABI (util/module.h). */
static const struct module_spec engine_module = {
    "HTTP engine module", HTTP_MODULE_FILE,   NULL,
    HTTP_MODULE_DIR,      HTTP_MODULE_SYMBOL, HTTP_MODULE_ABI};

/* Loaded once and never unloaded: libcurl keeps global state (TLS) for the
 * process. A failure is logged and tried again at the next engine. */
static const struct http_module_api *load(void)
{
    if (!api)
        api = module_get(&engine_module, NULL);
    return api;
}

int http_engine_create(struct http_engine **out, uv_loop_t *loop,
                       const struct http_engine_options *opts)
{
    if (out)
        *out = NULL;
    const struct http_module_api *m = load();
    return m ? m->engine_create(out, loop, opts) : -ENOENT;
}

/* An engine exists only once the module is loaded, so from here on api is
 * set whenever there is something to do. */
int http_submit(struct http_engine *engine, struct http_request *req, http_done_cb done,
                http_stage_cb stage, void *data, struct http_call **call)
{
    if (api)
        return api->submit(engine, req, done, stage, data, call);
    if (call)
        *call = NULL;
    if (req) {
        free(req->url);
        free(req->body);
        req->url = NULL;
        req->body = NULL;
    }
    return -EINVAL;
}

void http_cancel(struct http_call *call)
{
    if (call && api)
        api->cancel(call);
}

unsigned http_engine_inflight(const struct http_engine *engine)
{
    return engine && api ? api->inflight(engine) : 0;
}

unsigned http_engine_queued(const struct http_engine *engine)
{
    return engine && api ? api->queued(engine) : 0;
}

void http_engine_destroy(struct http_engine *engine, void (*closed)(void *data),
                         void *data)
{
    if (engine && api)
        api->engine_destroy(engine, closed, data);
}
