/* The server's side of the HTTP transport: the libmicrohttpd part of
 * http_server.h implemented by loading the transport module
 * (server/http_transport_module.c) when `msg91-mcp http` starts. Only the executable
 * links this file; the tests link http_server.c itself. The module is
 * looked for at $MSG91_HTTP_MODULE, next to the executable (the build
 * tree), then in the install directory. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server/http_transport_module.h"

static const struct http_transport_module_api *api;

static const struct http_transport_module_api *try_open(const char *path, char **why)
{
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        free(*why);
        *why = strdup(dlerror());
        return NULL;
    }
    const struct http_transport_module_api *found =
        dlsym(handle, HTTP_TRANSPORT_MODULE_SYMBOL);
    if (!found || found->abi_version != HTTP_TRANSPORT_MODULE_ABI) {
        free(*why);
        if (asprintf(why, "%s is not a matching HTTP module", path) < 0)
            *why = NULL;
        dlclose(handle);
        return NULL;
    }
    return found;
}

/* The module beside the running executable, or NULL. */
static const struct http_transport_module_api *try_beside_executable(char **why)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return NULL;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return NULL;
    char path[PATH_MAX + 64];
    /* Bounded by sizeof path; glibc has no snprintf_s. NOLINTNEXTLINE */
    snprintf(path, sizeof path, "%.*s/%s", (int)(slash - exe), exe,
             HTTP_TRANSPORT_MODULE_FILE);
    return try_open(path, why);
}

static const struct http_transport_module_api *load(char **error)
{
    if (api)
        return api;
    char *why = NULL;
    const char *env = getenv("MSG91_HTTP_MODULE");
    if (env && *env)
        api = try_open(env, &why);
    if (!api)
        api = try_beside_executable(&why);
    if (!api)
        api = try_open(MSG91_HTTP_TRANSPORT_MODULE_DIR "/" HTTP_TRANSPORT_MODULE_FILE,
                       &why);
    if (!api && asprintf(error,
                         "cannot load the HTTP transport module (%s); is msg91-mcp "
                         "installed completely?",
                         why ? why : "not found") < 0)
        *error = NULL;
    free(why);
    return api;
}

struct http_server *http_server_create(uv_loop_t *loop,
                                       const struct http_server_options *o,
                                       const struct http_handler *handler, void *ctx,
                                       char **error)
{
    *error = NULL;
    const struct http_transport_module_api *m = load(error);
    return m ? m->create(loop, o, handler, ctx, error) : NULL;
}

uint16_t http_server_port(const struct http_server *s)
{
    return api->port(s);
}

void http_server_quiesce(struct http_server *s)
{
    api->quiesce(s);
}

unsigned http_server_inflight(const struct http_server *s)
{
    return api->inflight(s);
}

void http_server_destroy(struct http_server *s, void (*closed)(void *data), void *data)
{
    if (s && api)
        api->destroy(s, closed, data);
}
