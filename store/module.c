/* The SQLite and Redis backends' table: the one symbol the store module
 * exports (store/module.map), and what the linked build hands out. */
#include "store/store_int.h"

extern __attribute__((visibility("default")))
const struct store_module_api store_module_table;
const struct store_module_api store_module_table =
    MODULE_TABLE(STORE_MODULE_ABI, STORE_MODULE_FUNCTIONS);
