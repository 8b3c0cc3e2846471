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
#include "util/module.h"

#define HTTP_TRANSPORT_MODULE_ABI 2
#define HTTP_TRANSPORT_MODULE_SYMBOL "http_transport_module_api"
#define HTTP_TRANSPORT_MODULE_FILE "msg91-mcp-http.so"

/* The table's members and the http_server.h function each one is. */
#define HTTP_TRANSPORT_MODULE_FUNCTIONS(X)                                               \
    X(create, http_server_create)                                                        \
    X(port, http_server_port)                                                            \
    X(quiesce, http_server_quiesce)                                                      \
    X(inflight, http_server_inflight)                                                    \
    X(destroy, http_server_destroy)

struct http_transport_module_api {
    int abi_version;
    HTTP_TRANSPORT_MODULE_FUNCTIONS(MODULE_MEMBER)
};

/* Default visibility overrides -fvisibility=hidden for this one symbol. */
extern __attribute__((visibility("default")))
const struct http_transport_module_api http_transport_module_api;

#endif
