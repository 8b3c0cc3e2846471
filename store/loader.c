/* store__module() for the server executable: the SQLite and Redis backends
 * are in msg91-mcp-store.so (module.c), loaded with util/module.h when the
 * first SQLite or Redis operation comes, on the store's opening thread.
 * The module is looked for at $MSG91_STORE_MODULE when set, else next to
 * the executable (the build tree), then in the install directory. */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "store/store_int.h"
#include "util/module.h"

/* util/module.h checks the ABI number as the table's first int. */
_Static_assert(offsetof(struct store_module_api, abi_version) == 0,
               "the ABI number opens the module table");

static const struct module_spec store_module = {
    .what = "state store module",
    .file = STORE_MODULE_FILE,
    .env = "MSG91_STORE_MODULE",
    .install_dir = MSG91_STORE_MODULE_DIR,
    .symbol = STORE_MODULE_SYMBOL,
    .abi = STORE_MODULE_ABI,
};

/* Each store opens on its own thread: one load for all of them. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static const struct store_module_api *api;

const struct store_module_api *store__module(char **error)
{
    *error = NULL;
    pthread_mutex_lock(&lock);
    if (!api)
        api = module_get(&store_module, error);
    const struct store_module_api *found = api;
    pthread_mutex_unlock(&lock);
    return found;
}
