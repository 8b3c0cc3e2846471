/* digest_api() for the server executable: msg91-mcp-digest.so loaded with
 * util/module.h at the first bearer token or `msg91-mcp token`. The module
 * is looked for at $MSG91_DIGEST_MODULE when set, else next to the
 * executable (the build tree), then in the install directory. */
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

#include "server/digest.h"
#include "util/log.h"
#include "util/module.h"

MODULE_TABLE_CHECK(struct digest_api);

/* What, file, variable, install directory, symbol, ABI (util/module.h). */
static const struct module_spec digest_module = {
    "digest module",         DIGEST_MODULE_FILE,   "MSG91_DIGEST_MODULE",
    MSG91_DIGEST_MODULE_DIR, DIGEST_MODULE_SYMBOL, DIGEST_MODULE_ABI};

/* The loop thread only (the HTTP transport and the CLI call it there). */
const struct digest_api *digest_api(void)
{
    /* A failed load is remembered too: every bearer token and every send
     * asks, and a missing module must not mean one error line (and one
     * dlopen) per request, which unauthenticated traffic could drive. */
    static const struct digest_api *api;
    static bool tried;
    if (!tried) {
        tried = true;
        api = module_get(&digest_module, NULL);
    }
    return api;
}
