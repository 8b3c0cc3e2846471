#include "util/module.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

/* Sets *error to the formatted sentence (NULL when out of memory) and
 * returns rc, so that each failure is one line. */
__attribute__((format(printf, 3, 4))) static int fail(char **error, int rc,
                                                      const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(error, fmt, ap) < 0)
        *error = NULL;
    va_end(ap);
    return rc;
}

int module_open(const struct module_spec *spec, const char *path, const void **table,
                char **error)
{
    *table = NULL;
    *error = NULL;
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        /* dlerror names the file in most cases, not in all. */
        const char *why = dlerror();
        if (!why)
            why = "unknown error";
        if (strstr(why, path))
            return fail(error, -ENOENT, "cannot load the %s: %s", spec->what, why);
        return fail(error, -ENOENT, "cannot load the %s %s: %s", spec->what, path, why);
    }
    const int *found = dlsym(handle, spec->symbol);
    if (!found) {
        dlclose(handle);
        return fail(error, -ENOEXEC, "%s is not a %s: it does not export %s", path,
                    spec->what, spec->symbol);
    }
    if (*found != spec->abi) {
        int abi = *found;
        dlclose(handle);
        return fail(error, -ENOEXEC,
                    "%s is a %s of ABI %d, this program needs ABI %d: the two come "
                    "from different versions; install them together",
                    path, spec->what, abi, spec->abi);
    }
    *table = found;
    return 0;
}

/* The directory of the running executable, without the final slash, into
 * dir; false when /proc does not say. */
static int executable_dir(char *dir, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", dir, size - 1);
    if (n <= 0)
        return 0;
    dir[n] = '\0';
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    *slash = '\0';
    return 1;
}

int module_load(const struct module_spec *spec, const void **table, char **error)
{
    *table = NULL;
    *error = NULL;
    const char *env = spec->env ? getenv(spec->env) : NULL;
    if (env && *env)
        return module_open(spec, env, table, error);

    char dir[PATH_MAX];
    char path[PATH_MAX + NAME_MAX + 2];
    int have_dir = executable_dir(dir, sizeof dir);
    if (have_dir) {
        /* Bounded by sizeof path; glibc has no snprintf_s. NOLINTNEXTLINE */
        snprintf(path, sizeof path, "%s/%s", dir, spec->file);
        if (access(path, F_OK) == 0)
            return module_open(spec, path, table, error);
    }
    if (spec->install_dir) {
        /* Bounded by sizeof path; glibc has no snprintf_s. NOLINTNEXTLINE */
        snprintf(path, sizeof path, "%.*s/%s", PATH_MAX, spec->install_dir, spec->file);
        if (access(path, F_OK) == 0)
            return module_open(spec, path, table, error);
    }
    return fail(error, -ENOENT,
                "cannot find the %s: no %s beside the program (%s) nor in %s; is "
                "the program installed completely?",
                spec->what, spec->file, have_dir ? dir : "unknown directory",
                spec->install_dir ? spec->install_dir : "an install directory");
}

const void *module_get(const struct module_spec *spec, char **error)
{
    const void *table;
    char *why = NULL;
    int rc = module_load(spec, &table, &why);
    if (error) {
        *error = why;
        return rc == 0 ? table : NULL;
    }
    if (rc != 0)
        log_error("%s", why ? why : "cannot load a module: out of memory");
    free(why);
    return rc == 0 ? table : NULL;
}
