/* The entry point of the loadable sandbox module: one table of functions
 * that server/sandbox_loader.c looks up by name after dlopen. */
#include "sandbox/module.h"

const struct sandbox_module_api msg91_sandbox_module_api = {
    .abi_version = SANDBOX_MODULE_ABI,
    .create = sandbox_create,
    .port = sandbox_port,
    .destroy = sandbox_destroy,
};
