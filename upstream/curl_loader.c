/* libcurl, loaded on first use. libcurl pulls in some thirty shared
 * libraries (OpenSSL, Kerberos, LDAP, SSH, RTMP, ...) whose loading and
 * relocation would dominate the server's start-up, yet an MCP session may
 * never make a tool call at all. So the executable does not link libcurl:
 * this file defines the few libcurl functions the HTTP engine calls, and
 * each one loads libcurl with dlopen the first time it is needed and
 * forwards to the real function. If libcurl cannot be loaded, the calls
 * fail the way libcurl itself reports failure (NULL, CURLE_FAILED_INIT),
 * and the engine turns that into a clear error.
 *
 * Variadic setters take exactly one argument whose C type follows from the
 * option number's range (CURLOPTTYPE_*), which is how libcurl reads them
 * too; the forwarders read that one argument with its proper type. */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

#include "server/log.h"

#define LIBCURL_SONAME "libcurl.so.4"

static struct {
    CURLcode (*global_init)(long);
    void (*global_cleanup)(void);
    CURL *(*easy_init)(void);
    void (*easy_cleanup)(CURL *);
    void (*easy_reset)(CURL *);
    CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
    CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
    const char *(*easy_strerror)(CURLcode);
    time_t (*getdate)(const char *, const time_t *);
    CURLM *(*multi_init)(void);
    CURLMcode (*multi_cleanup)(CURLM *);
    CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
    CURLMcode (*multi_add_handle)(CURLM *, CURL *);
    CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
    CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
    CURLMsg *(*multi_info_read)(CURLM *, int *);
    CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
    const char *(*multi_strerror)(CURLMcode);
    struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
    void (*slist_free_all)(struct curl_slist *);
} api;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;
static int loaded; /* 1 when every symbol was found */

#define RESOLVE(field, name)                                                             \
    do {                                                                                 \
        *(void **)&api.field = dlsym(handle, name);                                      \
        if (!api.field)                                                                  \
            goto missing;                                                                \
    } while (0)

static void load(void)
{
    void *handle = dlopen(LIBCURL_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!handle) {
        log_error("cannot load %s: %s", LIBCURL_SONAME, dlerror());
        return;
    }
    RESOLVE(global_init, "curl_global_init");
    RESOLVE(global_cleanup, "curl_global_cleanup");
    RESOLVE(easy_init, "curl_easy_init");
    RESOLVE(easy_cleanup, "curl_easy_cleanup");
    RESOLVE(easy_reset, "curl_easy_reset");
    RESOLVE(easy_setopt, "curl_easy_setopt");
    RESOLVE(easy_getinfo, "curl_easy_getinfo");
    RESOLVE(easy_strerror, "curl_easy_strerror");
    RESOLVE(getdate, "curl_getdate");
    RESOLVE(multi_init, "curl_multi_init");
    RESOLVE(multi_cleanup, "curl_multi_cleanup");
    RESOLVE(multi_setopt, "curl_multi_setopt");
    RESOLVE(multi_add_handle, "curl_multi_add_handle");
    RESOLVE(multi_remove_handle, "curl_multi_remove_handle");
    RESOLVE(multi_socket_action, "curl_multi_socket_action");
    RESOLVE(multi_info_read, "curl_multi_info_read");
    RESOLVE(multi_assign, "curl_multi_assign");
    RESOLVE(multi_strerror, "curl_multi_strerror");
    RESOLVE(slist_append, "curl_slist_append");
    RESOLVE(slist_free_all, "curl_slist_free_all");
    /* The library stays loaded for the life of the process: libcurl keeps
     * global state (TLS) that must not be unmapped under it. */
    loaded = 1;
    return;
missing:
    log_error("%s lacks a function the server needs: %s", LIBCURL_SONAME, dlerror());
}

static int ready(void)
{
    pthread_once(&load_once, load);
    return loaded;
}

CURLcode curl_global_init(long flags)
{
    return ready() ? api.global_init(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void)
{
    if (ready())
        api.global_cleanup();
}

CURL *curl_easy_init(void)
{
    return ready() ? api.easy_init() : NULL;
}

void curl_easy_cleanup(CURL *curl)
{
    if (ready())
        api.easy_cleanup(curl);
}

void curl_easy_reset(CURL *curl)
{
    if (ready())
        api.easy_reset(curl);
}

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
    if (!ready())
        return CURLE_FAILED_INIT;
    va_list ap;
    va_start(ap, option);
    CURLcode rc;
    if (option < CURLOPTTYPE_OBJECTPOINT)
        rc = api.easy_setopt(curl, option, va_arg(ap, long));
    else if (option < CURLOPTTYPE_OFF_T)
        rc = api.easy_setopt(curl, option, va_arg(ap, void *)); /* data and functions */
    else if (option < CURLOPTTYPE_BLOB)
        rc = api.easy_setopt(curl, option, va_arg(ap, curl_off_t));
    else
        rc = api.easy_setopt(curl, option, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
    if (!ready())
        return CURLE_FAILED_INIT;
    /* Every CURLINFO takes one pointer to where the answer goes. */
    va_list ap;
    va_start(ap, info);
    CURLcode rc = api.easy_getinfo(curl, info, va_arg(ap, void *));
    va_end(ap);
    return rc;
}

const char *curl_easy_strerror(CURLcode code)
{
    return ready() ? api.easy_strerror(code) : "libcurl could not be loaded";
}

time_t curl_getdate(const char *text, const time_t *unused)
{
    return ready() ? api.getdate(text, unused) : -1;
}

CURLM *curl_multi_init(void)
{
    return ready() ? api.multi_init() : NULL;
}

CURLMcode curl_multi_cleanup(CURLM *multi)
{
    return ready() ? api.multi_cleanup(multi) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_setopt(CURLM *multi, CURLMoption option, ...)
{
    if (!ready())
        return CURLM_INTERNAL_ERROR;
    va_list ap;
    va_start(ap, option);
    CURLMcode rc;
    if (option < CURLOPTTYPE_OBJECTPOINT)
        rc = api.multi_setopt(multi, option, va_arg(ap, long));
    else if (option < CURLOPTTYPE_OFF_T)
        rc = api.multi_setopt(multi, option, va_arg(ap, void *));
    else
        rc = api.multi_setopt(multi, option, va_arg(ap, curl_off_t));
    va_end(ap);
    return rc;
}

CURLMcode curl_multi_add_handle(CURLM *multi, CURL *easy)
{
    return ready() ? api.multi_add_handle(multi, easy) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_remove_handle(CURLM *multi, CURL *easy)
{
    return ready() ? api.multi_remove_handle(multi, easy) : CURLM_INTERNAL_ERROR;
}

CURLMcode curl_multi_socket_action(CURLM *multi, curl_socket_t s, int ev_bitmask,
                                   int *running_handles)
{
    return ready() ? api.multi_socket_action(multi, s, ev_bitmask, running_handles)
                   : CURLM_INTERNAL_ERROR;
}

CURLMsg *curl_multi_info_read(CURLM *multi, int *msgs_in_queue)
{
    return ready() ? api.multi_info_read(multi, msgs_in_queue) : NULL;
}

CURLMcode curl_multi_assign(CURLM *multi, curl_socket_t s, void *data)
{
    return ready() ? api.multi_assign(multi, s, data) : CURLM_INTERNAL_ERROR;
}

const char *curl_multi_strerror(CURLMcode code)
{
    return ready() ? api.multi_strerror(code) : "libcurl could not be loaded";
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *text)
{
    return ready() ? api.slist_append(list, text) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
    if (ready())
        api.slist_free_all(list);
}
