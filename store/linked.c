/* store__module() for the tests and benchmarks, which link the SQLite and
 * Redis backends themselves (store_linked_dep): the table is at hand. */
#include <stddef.h>

#include "store/store_int.h"

extern const struct store_module_api store_module_table;

const struct store_module_api *store__module(char **error)
{
    *error = NULL;
    return &store_module_table;
}
