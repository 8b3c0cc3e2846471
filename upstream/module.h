/* The contract between the server and the loadable engine module: the
 * module exports one symbol, HTTP_MODULE_SYMBOL, a table of the http.h
 * functions. The ABI number changes whenever http.h does. */
#ifndef UPSTREAM_MODULE_H
#define UPSTREAM_MODULE_H

#include "upstream/http.h"

#define HTTP_MODULE_ABI 1
#define HTTP_MODULE_SYMBOL "http_module_api"
#define HTTP_MODULE_FILE "upstream-http.so"

struct http_module_api {
    int abi_version;
    int (*engine_create)(struct http_engine **out, uv_loop_t *loop,
                         const struct http_engine_options *opts);
    int (*submit)(struct http_engine *engine, struct http_request *req, http_done_cb done,
                  http_stage_cb stage, void *data, struct http_call **call);
    void (*cancel)(struct http_call *call);
    unsigned (*inflight)(const struct http_engine *engine);
    unsigned (*queued)(const struct http_engine *engine);
    void (*engine_destroy)(struct http_engine *engine, void (*closed)(void *data),
                           void *data);
};

extern const struct http_module_api http_module_api;

#endif
