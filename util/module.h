/* Loadable modules: a shared object that exports exactly one symbol, a
 * table of functions whose first member is an int, the ABI number. The
 * program looks the module up, opens it, finds the table by name and
 * refuses it when the number is not the one it was built for. Used for the
 * HTTP engine (upstream/loader.c), the HTTP transport
 * (server/http_transport_loader.c), the sandbox (server/sandbox_loader.c),
 * the state store's SQLite and Redis backends (store/loader.c) and the
 * token digests (server/digest_loader.c); the table types live with each
 * module. */
#ifndef UTIL_MODULE_H
#define UTIL_MODULE_H

#include <stddef.h>

/* For a loader: the table type must open with its ABI number, the int
 * module_open checks. */
#define MODULE_TABLE_CHECK(type)                                                         \
    _Static_assert(offsetof(type, abi_version) == 0,                                     \
                   "the ABI number opens the module table")

/* A module's table from one list of X(member, function) pairs, written
 * once in the module's header: MODULE_MEMBER declares each member of the
 * table type as a pointer of its function's own type, so the table cannot
 * drift from the prototypes, and MODULE_TABLE sets each member to its
 * function. */
#define MODULE_MEMBER(member, function) __typeof__(function) *member;
#define MODULE_ENTRY(member, function) .member = function,
#define MODULE_TABLE(abi, FUNCTIONS)                                                     \
    {                                                                                    \
        .abi_version = (abi), FUNCTIONS(MODULE_ENTRY)                                    \
    }

/* What to load and how to name it in sentences (positional initialisers
 * list the members in this order). */
struct module_spec {
    const char *what;        /* "HTTP engine module": says what failed */
    const char *file;        /* file name, e.g. "upstream-http.so" */
    const char *env;         /* variable naming the file's path, or NULL */
    const char *install_dir; /* where `meson install` puts it, or NULL */
    const char *symbol;      /* the one exported table */
    int abi;                 /* the table's first member must equal this */
};

/* Finds and opens spec's module. When spec->env names a non-empty
 * variable, its value is the only place looked at; otherwise the first of
 * these that exists: beside the running executable (the build tree), then
 * spec->install_dir.
 * Returns 0 and sets *table; a module once loaded is never unloaded (its
 * libraries may keep process-wide state). Otherwise *table is NULL, *error
 * a malloc'd sentence naming the module, the path and the cause (NULL when
 * out of memory), and the result:
 *   -ENOENT   no file found, or the file could not be opened;
 *   -ENOEXEC  the file does not export spec->symbol, or its ABI differs;
 *   -ENOMEM   out of memory. */
int module_load(const struct module_spec *spec, const void **table, char **error);

/* module_load for a loader that keeps the table in a static pointer and
 * calls this while it is NULL: the table, or NULL with the sentence in
 * *error (malloc'd) when error is not NULL, else in the log (util/log.h). */
const void *module_get(const struct module_spec *spec, char **error);

/* The same for one path, with no search. */
int module_open(const struct module_spec *spec, const char *path, const void **table,
                char **error);

#endif
