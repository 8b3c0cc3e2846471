/* digest_api() for the server executable: msg91-mcp-digest.so loaded with
 * util/module.h at the first bearer token or `msg91-mcp token`. The module
 * is looked for at $MSG91_DIGEST_MODULE when set, else next to the
 * executable (the build tree), then in the install directory. */
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
    static const struct digest_api *api;
    if (!api)
        api = module_get(&digest_module, NULL);
    return api;
}
