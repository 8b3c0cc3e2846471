/* The server's side of the HTTP transport: the libmicrohttpd part of
 * http_server.h implemented by loading the transport module
 * (server/http_transport_module.c) when `msg91-mcp http` starts, with
 * util/module.h. Only the executable links this file; the tests link
 * http_server.c itself. The module is looked for at $MSG91_HTTP_MODULE
 * when set, else next to the executable (the build tree), then in the
 * install directory. */
#include <stddef.h>
#include <stdlib.h>

#include "server/http_transport_module.h"
#include "util/module.h"

MODULE_TABLE_CHECK(struct http_transport_module_api);

static const struct http_transport_module_api *api;

/* What, file, variable, install directory, symbol, ABI (util/module.h). */
static const struct module_spec http_transport_module = {
    "HTTP transport module",      HTTP_TRANSPORT_MODULE_FILE,
    "MSG91_HTTP_MODULE",          MSG91_HTTP_TRANSPORT_MODULE_DIR,
    HTTP_TRANSPORT_MODULE_SYMBOL, HTTP_TRANSPORT_MODULE_ABI};

struct http_server *http_server_create(uv_loop_t *loop,
                                       const struct http_server_options *o,
                                       const struct http_handler *handler, void *ctx,
                                       char **error)
{
    *error = NULL;
    if (!api)
        api = module_get(&http_transport_module, error);
    return api ? api->create(loop, o, handler, ctx, error) : NULL;
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
