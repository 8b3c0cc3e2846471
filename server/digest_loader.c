/* digest_api() for the server executable: msg91-mcp-digest.so loaded with
 * util/module.h at the first bearer token or `msg91-mcp token`. The module
 * is looked for at $MSG91_DIGEST_MODULE when set, else next to the
 * executable (the build tree), then in the install directory. */
#include <stddef.h>
#include <stdlib.h>

#include "server/digest.h"
#include "util/log.h"
#include "util/module.h"

/* util/module.h checks the ABI number as the table's first int. */
_Static_assert(offsetof(struct digest_api, abi_version) == 0,
               "the ABI number opens the module table");

static const struct module_spec digest_module = {
    .what = "digest module",
    .file = DIGEST_MODULE_FILE,
    .env = "MSG91_DIGEST_MODULE",
    .install_dir = MSG91_DIGEST_MODULE_DIR,
    .symbol = DIGEST_MODULE_SYMBOL,
    .abi = DIGEST_MODULE_ABI,
};

/* The loop thread only (the HTTP transport and the CLI call it there). */
const struct digest_api *digest_api(void)
{
    static const struct digest_api *api;
    if (!api)
        api = module_get(&digest_module, NULL);
    return api;
}
