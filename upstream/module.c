/* The entry point of the loadable engine module: one table of functions
 * that upstream/loader.c looks up by name after dlopen. The module links
 * libcurl; everything else in it is hidden, so that its own calls can
 * never bind to the loader's functions of the same names. */
#include "upstream/module.h"

__attribute__((visibility("default"))) const struct http_module_api http_module_api =
    MODULE_TABLE(HTTP_MODULE_ABI, HTTP_MODULE_FUNCTIONS);
