/* Allocation-failure injection for tests. A test executable linked with
 * alloc_hook.c and the linker flags in alloc_hook_link_args (meson) gets
 * every malloc, calloc, realloc, strdup, strndup, asprintf and vasprintf
 * made by the project's code (the static libraries, which the linker
 * rewrites to call the __wrap_ functions here) and by jansson (through
 * json_set_alloc_funcs) counted, and the Nth of them can be made to fail.
 *
 * Why link-time wrapping and not an LD_PRELOAD malloc: it also works under
 * AddressSanitizer, whose own malloc must stay the process's malloc; the
 * wrappers call the real (ASan's) allocator, so ASan still sees every
 * block, checks every access and reports leaks. What is not counted:
 * libuv's own allocations (it aborts on a failed allocation in
 * uv__io_start by design, so failing them would only measure that
 * policy), libcurl's internal ones (libcurl 7.88 itself crashes after some
 * of its own allocations fail), those of jansson's parser (it corrupts
 * its heap after a failed one; see alloc_hook.c), libc's internal ones,
 * and any allocation made on a thread other than the one that armed the
 * hook (the resolver's thread), which keeps the count deterministic. */
#ifndef MSG91_ALLOC_HOOK_H
#define MSG91_ALLOC_HOOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

/* Starts counting on the calling thread, from zero. fail_at == 0 counts
 * without failing; otherwise the fail_at-th allocation (1-based) fails,
 * and with `every_after` so does each one after it. */
void alloc_hook_arm(unsigned long fail_at, bool every_after);

/* While armed, also fails every malloc of exactly `size` bytes (0: none):
 * a way to hit one allocation whose size the test knows. */
void alloc_hook_fail_size(size_t size);

/* Prints a backtrace on stderr when allocation n is made (0: never). */
void alloc_hook_trace(unsigned long n);

/* Stops counting and failing. */
void alloc_hook_disarm(void);

/* While suspended (calls nest), allocations are neither counted nor
 * failed: for a test's own callbacks, and Check's bookkeeping in them. */
void alloc_hook_suspend(void);
void alloc_hook_resume(void);

/* Allocations counted since alloc_hook_arm. */
unsigned long alloc_hook_count(void);

/* True once the armed failure has happened. */
bool alloc_hook_failed(void);

/* Allocations made through the hook and not freed yet (when tracking is
 * on): a leak check that works without ASan. */
unsigned long alloc_hook_live(void);

/* Prints where each live block was allocated (module and offset). */
void alloc_hook_print_live(FILE *f);

/* Routes jansson's allocator through the hook. Call once at startup. */
void alloc_hook_route_jansson(void);

#endif
