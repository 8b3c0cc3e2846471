/* The server's side of the sandbox: sandbox.h implemented by loading the
 * sandbox module (sandbox/module.c) on first use. Only the executable links
 * this file; the tests link the sandbox itself. The module is looked for
 * at $MSG91_SANDBOX_MODULE, next to the executable (the build tree), then
 * in the install directory. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sandbox/module.h"

static const struct sandbox_module_api *api;

static const struct sandbox_module_api *try_open(const char *path, char **why)
{
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        free(*why);
        *why = strdup(dlerror());
        return NULL;
    }
    const struct sandbox_module_api *found = dlsym(handle, SANDBOX_MODULE_SYMBOL);
    if (!found || found->abi_version != SANDBOX_MODULE_ABI) {
        free(*why);
        if (asprintf(why, "%s is not a matching sandbox module", path) < 0)
            *why = NULL;
        dlclose(handle);
        return NULL;
    }
    return found;
}

static const struct sandbox_module_api *load(char **error)
{
    if (api)
        return api;
    char *why = NULL;
    const char *env = getenv("MSG91_SANDBOX_MODULE");
    if (env && *env)
        api = try_open(env, &why);
    if (!api) {
        char exe[PATH_MAX];
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n > 0) {
            exe[n] = '\0';
            char *slash = strrchr(exe, '/');
            if (slash) {
                char path[PATH_MAX + 64];
                /* Bounded by sizeof path; glibc has no snprintf_s. NOLINTNEXTLINE */
                snprintf(path, sizeof path, "%.*s/%s", (int)(slash - exe), exe,
                         SANDBOX_MODULE_FILE);
                api = try_open(path, &why);
            }
        }
    }
    if (!api)
        api = try_open(MSG91_SANDBOX_MODULE_DIR "/" SANDBOX_MODULE_FILE, &why);
    if (!api) {
        if (asprintf(error,
                     "cannot load the sandbox module (%s); is msg91-mcp installed "
                     "completely?",
                     why ? why : "not found") < 0)
            *error = NULL;
    }
    free(why);
    return api;
}

struct sandbox *sandbox_create(const struct sandbox_options *opts, char **error)
{
    *error = NULL;
    const struct sandbox_module_api *m = load(error);
    return m ? m->create(opts, error) : NULL;
}

uint16_t sandbox_port(const struct sandbox *sb)
{
    return api->port(sb);
}

void sandbox_destroy(struct sandbox *sb)
{
    if (sb && api)
        api->destroy(sb);
}
