/* The contract between the server and the loadable sandbox module: the
 * module exports one symbol, SANDBOX_MODULE_SYMBOL, a table of the
 * sandbox.h functions. The ABI number changes whenever sandbox.h does.
 * The module is compiled with hidden visibility and linked with
 * sandbox/module.map, so the table is the only symbol it exports. */
#ifndef MSG91_SANDBOX_MODULE_H
#define MSG91_SANDBOX_MODULE_H

#include "sandbox/sandbox.h"

#define SANDBOX_MODULE_ABI 1
#define SANDBOX_MODULE_SYMBOL "msg91_sandbox_module_api"
#define SANDBOX_MODULE_FILE "msg91-mcp-sandbox.so"

struct sandbox_module_api {
    int abi_version;
    struct sandbox *(*create)(const struct sandbox_options *opts, char **error);
    uint16_t (*port)(const struct sandbox *sb);
    void (*destroy)(struct sandbox *sb);
};

/* Default visibility overrides -fvisibility=hidden for this one symbol. */
extern __attribute__((visibility("default")))
const struct sandbox_module_api msg91_sandbox_module_api;

#endif
