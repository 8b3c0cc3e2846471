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

MODULE_TABLE_CHECK(struct store_module_api);

/* What, file, variable, install directory, symbol, ABI (util/module.h). */
static const struct module_spec store_module = {
    "state store module",   STORE_MODULE_FILE,   "MSG91_STORE_MODULE",
    MSG91_STORE_MODULE_DIR, STORE_MODULE_SYMBOL, STORE_MODULE_ABI};

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
