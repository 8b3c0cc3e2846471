/* The contract between the server and the loadable HTTP transport module
 * (msg91-mcp-http.so: server/http_server.c with libmicrohttpd and GnuTLS),
 * which only `msg91-mcp http` loads, so the other modes start without
 * those libraries. The module exports one symbol, HTTP_TRANSPORT_MODULE_SYMBOL, a
 * table of the http_server.h functions; the ABI number changes whenever
 * http_server.h does. server/http_transport_loader.c implements http_server.h by
 * loading it; the tests link http_server.c directly. */
#ifndef MSG91_HTTP_TRANSPORT_MODULE_H
#define MSG91_HTTP_TRANSPORT_MODULE_H

#include "server/http_server.h"

#define HTTP_TRANSPORT_MODULE_ABI 2
#define HTTP_TRANSPORT_MODULE_SYMBOL "http_transport_module_api"
#define HTTP_TRANSPORT_MODULE_FILE "msg91-mcp-http.so"

struct http_transport_module_api {
    int abi_version;
    struct http_server *(*create)(uv_loop_t *loop, const struct http_server_options *o,
                                  const struct http_handler *handler, void *ctx,
                                  char **error);
    uint16_t (*port)(const struct http_server *s);
    void (*quiesce)(struct http_server *s);
    unsigned (*inflight)(const struct http_server *s);
    void (*destroy)(struct http_server *s, void (*closed)(void *data), void *data);
};

/* Default visibility overrides -fvisibility=hidden for this one symbol. */
extern __attribute__((visibility("default")))
const struct http_transport_module_api http_transport_module_api;

#endif
