/* The contract between the server and the loadable engine module: the
 * module exports one symbol, HTTP_MODULE_SYMBOL, a table of the http.h
 * functions. The ABI number changes whenever http.h does. */
#ifndef UPSTREAM_MODULE_H
#define UPSTREAM_MODULE_H

#include "upstream/http.h"
#include "util/module.h"

#define HTTP_MODULE_ABI 1
#define HTTP_MODULE_SYMBOL "http_module_api"
#define HTTP_MODULE_FILE "upstream-http.so"

/* The table's members and the http.h function each one is. */
#define HTTP_MODULE_FUNCTIONS(X)                                                         \
    X(engine_create, http_engine_create)                                                 \
    X(submit, http_submit)                                                               \
    X(cancel, http_cancel)                                                               \
    X(inflight, http_engine_inflight)                                                    \
    X(queued, http_engine_queued)                                                        \
    X(engine_destroy, http_engine_destroy)

struct http_module_api {
    int abi_version;
    HTTP_MODULE_FUNCTIONS(MODULE_MEMBER)
};

extern const struct http_module_api http_module_api;

#endif
