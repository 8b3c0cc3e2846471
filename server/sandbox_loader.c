/* The server's side of the sandbox: sandbox.h implemented by loading the
 * sandbox module (sandbox/module.c) on first use, with util/module.h. Only
 * the executable links this file; the tests link the sandbox itself. The
 * module is looked for at $MSG91_SANDBOX_MODULE when set, else next to the
 * executable (the build tree), then in the install directory. */
#include <stddef.h>
#include <stdlib.h>

#include "sandbox/module.h"
#include "util/module.h"

MODULE_TABLE_CHECK(struct sandbox_module_api);

static const struct sandbox_module_api *api;

/* What, file, variable, install directory, symbol, ABI (util/module.h). */
static const struct module_spec sandbox_module = {
    "sandbox module",         SANDBOX_MODULE_FILE,   "MSG91_SANDBOX_MODULE",
    MSG91_SANDBOX_MODULE_DIR, SANDBOX_MODULE_SYMBOL, SANDBOX_MODULE_ABI};

struct sandbox *sandbox_create(const struct sandbox_options *opts, char **error)
{
    *error = NULL;
    if (!api)
        api = module_get(&sandbox_module, error);
    return api ? api->create(opts, error) : NULL;
}

uint16_t sandbox_port(const struct sandbox *sb)
{
    return api->port(sb);
}

void sandbox_destroy(struct sandbox *sb)
{
    if (sb && api)
        api->destroy(sb);
}
