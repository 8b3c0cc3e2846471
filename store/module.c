/* The SQLite and Redis backends' table: the one symbol the store module
 * exports (store/module.map), and what the linked build hands out. */
#include "store/store_int.h"

extern __attribute__((visibility("default")))
const struct store_module_api store_module_table;
const struct store_module_api store_module_table = {
    .abi_version = STORE_MODULE_ABI,
    .sqlite_connect = store__sqlite_connect,
    .sqlite_disconnect = store__sqlite_disconnect,
    .sqlite_start = store__sqlite_start,
    .redis_start = store__redis_start,
};
