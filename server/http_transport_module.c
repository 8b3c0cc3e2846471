/* The entry point of the loadable HTTP transport module: one table of
 * functions that server/http_transport_loader.c looks up by name after dlopen. */
#include "server/http_transport_module.h"

const struct http_transport_module_api http_transport_module_api =
    MODULE_TABLE(HTTP_TRANSPORT_MODULE_ABI, HTTP_TRANSPORT_MODULE_FUNCTIONS);
