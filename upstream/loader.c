/* http.h for the server executable: the engine and libcurl live in a
 * module (module.c) loaded when the first engine is created. libcurl pulls
 * in some thirty shared libraries (OpenSSL, Kerberos, LDAP, SSH, ...) whose
 * loading would add tens of milliseconds to every start, yet a session may
 * never call a tool. The module is looked for next to the executable (the
 * build tree), then in HTTP_MODULE_DIR (the install directory). The tests
 * and benchmarks link the engine itself. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "upstream/module.h"
#include "util/log.h"

static const struct http_module_api *api;
static char load_error[512];

static const struct http_module_api *try_open(const char *path)
{
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        snprintf(load_error, sizeof load_error, "%s", dlerror());
        return NULL;
    }
    const struct http_module_api *found = dlsym(handle, HTTP_MODULE_SYMBOL);
    if (!found || found->abi_version != HTTP_MODULE_ABI) {
        snprintf(load_error, sizeof load_error, "%.400s is not a matching engine module",
                 path);
        dlclose(handle);
        return NULL;
    }
    /* Never unloaded: libcurl keeps global state (TLS) for the process. */
    return found;
}

static const struct http_module_api *load(void)
{
    if (api)
        return api;
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash) {
            char path[PATH_MAX + 64];
            snprintf(path, sizeof path, "%.*s/%s", (int)(slash - exe), exe,
                     HTTP_MODULE_FILE);
            if (access(path, F_OK) == 0)
                api = try_open(path);
        }
    }
    if (!api)
        api = try_open(HTTP_MODULE_DIR "/" HTTP_MODULE_FILE);
    if (!api)
        log_error("cannot load the HTTP engine module (%s); is the program "
                  "installed completely?",
                  load_error);
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
