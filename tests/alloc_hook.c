/* See alloc_hook.h. The wrappers are reached through the linker's --wrap
 * option: a call to malloc from a wrapped object becomes a call to
 * __wrap_malloc, and __real_malloc is the allocator the process really
 * uses (glibc's, or AddressSanitizer's). */
#include "tests/alloc_hook.h"

#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
int __wrap_vasprintf(char **out, const char *fmt, va_list ap);
int __wrap_asprintf(char **out, const char *fmt, ...);

json_t *__real_json_loadb(const char *buffer, size_t len, size_t flags,
                          json_error_t *error);
json_t *__real_json_loads(const char *input, size_t flags, json_error_t *error);
json_t *__real_json_load_file(const char *path, size_t flags, json_error_t *error);
json_t *__wrap_json_loadb(const char *buffer, size_t len, size_t flags,
                          json_error_t *error);
json_t *__wrap_json_loads(const char *input, size_t flags, json_error_t *error);
json_t *__wrap_json_load_file(const char *path, size_t flags, json_error_t *error);

static __thread bool counting;
/* Inside jansson's parser or suspended: neither count nor fail. */
static __thread unsigned parsing;
static unsigned long count, fail_at, trace_at;
static bool fail_after, failed;

/* Live blocks made while counting: an open-addressing set of pointers
 * with backward-shift deletion, in static memory so that tracking never
 * allocates. Sized for the peak of one session with every schema loaded. */
#define LIVE_SLOTS (1u << 19)
static uintptr_t live[LIVE_SLOTS];
static uintptr_t live_caller[LIVE_SLOTS];  /* who made each block */
static unsigned long live_seq[LIVE_SLOTS]; /* and when (the count then) */
static unsigned long live_count;
static bool live_overflow;

static size_t slot_of(uintptr_t p)
{
    return (size_t)((p >> 4) * 0x9E3779B97F4A7C15ull >> 45) & (LIVE_SLOTS - 1);
}

static void live_add(void *ptr, void *caller)
{
    if (!ptr)
        return;
    if (live_count >= LIVE_SLOTS / 2) {
        live_overflow = true;
        return;
    }
    size_t i = slot_of((uintptr_t)ptr);
    while (live[i])
        i = (i + 1) & (LIVE_SLOTS - 1);
    live[i] = (uintptr_t)ptr;
    live_caller[i] = (uintptr_t)caller;
    live_seq[i] = count;
    live_count++;
}

static void live_remove(void *ptr)
{
    if (!ptr || live_count == 0)
        return;
    size_t i = slot_of((uintptr_t)ptr);
    while (live[i] && live[i] != (uintptr_t)ptr)
        i = (i + 1) & (LIVE_SLOTS - 1);
    if (!live[i])
        return;
    live[i] = 0;
    live_count--;
    /* Shift later members of the probe run back so lookups still find them. */
    for (size_t j = (i + 1) & (LIVE_SLOTS - 1); live[j]; j = (j + 1) & (LIVE_SLOTS - 1)) {
        size_t home = slot_of(live[j]);
        bool movable = i <= j ? (home <= i || home > j) : (home <= i && home > j);
        if (movable) {
            live[i] = live[j];
            live_caller[i] = live_caller[j];
            live_seq[i] = live_seq[j];
            live[j] = 0;
            i = j;
        }
    }
}

void alloc_hook_arm(unsigned long at, bool every_after)
{
    count = 0;
    fail_at = at;
    fail_after = every_after;
    failed = false;
    counting = true;
}

static size_t fail_size;

void alloc_hook_fail_size(size_t size)
{
    fail_size = size;
}

void alloc_hook_trace(unsigned long n)
{
    trace_at = n;
}

void alloc_hook_disarm(void)
{
    counting = false;
}

void alloc_hook_suspend(void)
{
    parsing++;
}

void alloc_hook_resume(void)
{
    parsing--;
}

unsigned long alloc_hook_count(void)
{
    return count;
}

bool alloc_hook_failed(void)
{
    return failed;
}

void alloc_hook_print_live(FILE *f)
{
    for (size_t i = 0; i < LIVE_SLOTS; i++) {
        if (!live[i])
            continue;
        Dl_info info;
        if (dladdr((void *)live_caller[i], &info) && info.dli_fname)
            fprintf(f, "  live block made by allocation %lu, from %s+%#lx\n", live_seq[i],
                    info.dli_fname,
                    (unsigned long)(live_caller[i] - (uintptr_t)info.dli_fbase));
    }
}

unsigned long alloc_hook_live(void)
{
    return live_overflow ? (unsigned long)-1 : live_count;
}

/* Counts one allocation; true when it must fail. */
static bool should_fail(void)
{
    if (!counting || parsing)
        return false;
    count++;
    if (count == trace_at) {
        void *frames[32];
        backtrace_symbols_fd(frames, backtrace(frames, 32), 2);
    }
    if (fail_at && (count == fail_at || (fail_after && count > fail_at))) {
        failed = true;
        return true;
    }
    return false;
}

void *__wrap_malloc(size_t n)
{
    if (should_fail() || (counting && !parsing && fail_size && n == fail_size)) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_malloc(n);
    if (counting)
        live_add(p, __builtin_return_address(0));
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    if (should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    void *p = __real_calloc(n, size);
    if (counting)
        live_add(p, __builtin_return_address(0));
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    if (n > 0 && should_fail()) {
        errno = ENOMEM;
        return NULL;
    }
    void *q = __real_realloc(p, n);
    if (counting && (q || n == 0)) {
        live_remove(p);
        live_add(q, __builtin_return_address(0));
    }
    return q;
}

void __wrap_free(void *p)
{
    if (counting)
        live_remove(p);
    __real_free(p);
}

char *__wrap_strdup(const char *s)
{
    size_t n = strlen(s);
    char *d = __wrap_malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

char *__wrap_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = __wrap_malloc(len + 1);
    if (d) {
        memcpy(d, s, len);
        d[len] = '\0';
    }
    return d;
}

int __wrap_vasprintf(char **out, const char *fmt, va_list ap)
{
    va_list copy;
    va_copy(copy, ap);
    int n = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    *out = NULL;
    if (n < 0)
        return -1;
    char *s = __wrap_malloc((size_t)n + 1);
    if (!s)
        return -1;
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    *out = s;
    return n;
}

int __wrap_asprintf(char **out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = __wrap_vasprintf(out, fmt, ap);
    va_end(ap);
    return n;
}

/* jansson 2.14's parser corrupts its own heap after one of its allocations
 * fails (valgrind: an invalid write just past its 16-byte string buffer;
 * in the field, assertion failures and crashes), which no caller can
 * prevent. So allocations made while it parses are neither counted nor
 * failed; the rest of jansson (building values, serialising) is. */
json_t *__wrap_json_loadb(const char *buffer, size_t len, size_t flags,
                          json_error_t *error)
{
    parsing++;
    json_t *v = __real_json_loadb(buffer, len, flags, error);
    parsing--;
    return v;
}

json_t *__wrap_json_loads(const char *input, size_t flags, json_error_t *error)
{
    parsing++;
    json_t *v = __real_json_loads(input, flags, error);
    parsing--;
    return v;
}

json_t *__wrap_json_load_file(const char *path, size_t flags, json_error_t *error)
{
    parsing++;
    json_t *v = __real_json_load_file(path, flags, error);
    parsing--;
    return v;
}

void alloc_hook_route_jansson(void)
{
    json_set_alloc_funcs(__wrap_malloc, __wrap_free);
}
