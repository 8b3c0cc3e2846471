/* The entry point of the loadable HTTP transport module: one table of
 * functions that server/http_transport_loader.c looks up by name after dlopen. */
#include "server/http_transport_module.h"

const struct http_transport_module_api http_transport_module_api = {
    .abi_version = HTTP_TRANSPORT_MODULE_ABI,
    .create = http_server_create,
    .port = http_server_port,
    .quiesce = http_server_quiesce,
    .inflight = http_server_inflight,
    .destroy = http_server_destroy,
};
