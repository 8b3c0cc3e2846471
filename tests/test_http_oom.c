/* The HTTP engine (upstream/http.c) when watching a socket fails, with
 * several calls in flight against the sandbox. libcurl 7.88 marks its
 * multi handle dead when the socket callback returns -1; the engine must
 * then fail the running calls (done exactly once each), replace the handle
 * and go on with the queue and with later calls.
 *
 * The failures are injected at link time: this suite is linked with
 * tests/alloc_hook.c (every allocation of the engine can be made to fail)
 * and with --wrap for uv_poll_init_socket and uv_poll_start, which the
 * engine calls and the wrappers below fail on demand. */
#include "upstream/http.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "sandbox/sandbox.h"
#include "tests/alloc_hook.h"
#include "tests/testutil.h"

int __real_uv_poll_init_socket(uv_loop_t *loop, uv_poll_t *handle, uv_os_sock_t socket);
int __wrap_uv_poll_init_socket(uv_loop_t *loop, uv_poll_t *handle, uv_os_sock_t socket);
int __real_uv_poll_start(uv_poll_t *handle, int events, uv_poll_cb cb);
int __wrap_uv_poll_start(uv_poll_t *handle, int events, uv_poll_cb cb);

/* Which wrapped function fails, at which of its calls (1-based, counted
 * from the last reset; 0 never), with which error. */
enum inject_at { INJECT_INIT, INJECT_START, INJECT_COUNT };
static unsigned inject_calls[INJECT_COUNT];
static unsigned inject_fail_at[INJECT_COUNT];
static int inject_error = UV_ENOMEM;

static bool inject(enum inject_at at)
{
    return ++inject_calls[at] == inject_fail_at[at];
}

int __wrap_uv_poll_init_socket(uv_loop_t *loop, uv_poll_t *handle, uv_os_sock_t socket)
{
    if (inject(INJECT_INIT))
        return inject_error;
    return __real_uv_poll_init_socket(loop, handle, socket);
}

int __wrap_uv_poll_start(uv_poll_t *handle, int events, uv_poll_cb cb)
{
    if (inject(INJECT_START))
        return inject_error;
    return __real_uv_poll_start(handle, events, cb);
}

static void inject_reset(void)
{
    memset(inject_calls, 0, sizeof inject_calls);
    memset(inject_fail_at, 0, sizeof inject_fail_at);
    inject_error = UV_ENOMEM;
}

/* ---- fixture ------------------------------------------------------------ */

#define MAX_CALLS 8

struct capture {
    int done;
    enum http_outcome outcome;
    long status;
    char error[256];
    bool maybe_delivered;
};

static struct sandbox *sb;
static char base_url[64];
static uv_loop_t loop;
static uv_timer_t tick;
static struct http_engine *engine;
static struct capture caps[MAX_CALLS];
static struct http_call *calls[MAX_CALLS];
static int cancel_in_done = -1; /* a call the first done callback cancels */
static int done_total;
static int closed_count;
static bool destroy_in_done;

static void on_closed(void *data);

static void on_done(void *data, const struct http_response *r)
{
    alloc_hook_suspend();
    struct capture *cap = data;
    cap->done++;
    done_total++;
    cap->outcome = r->outcome;
    cap->status = r->status;
    snprintf(cap->error, sizeof cap->error, "%s", r->error);
    cap->maybe_delivered = r->maybe_delivered;
    if (cancel_in_done >= 0) {
        http_cancel(calls[cancel_in_done]);
        cancel_in_done = -1;
    }
    if (destroy_in_done) {
        http_engine_destroy(engine, on_closed, &closed_count);
        engine = NULL;
    }
    alloc_hook_resume();
}

static void on_closed(void *data)
{
    (*(int *)data)++;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static void setup(void)
{
    char *error = NULL;
    struct sandbox_options so = {.seed = 7};
    sb = sandbox_create(&so, &error);
    ck_assert_msg(sb != NULL, "sandbox: %s", error ? error : "?");
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%u", sandbox_port(sb));
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 20, 20);
    memset(caps, 0, sizeof caps);
    done_total = 0;
    closed_count = 0;
    destroy_in_done = false;
    cancel_in_done = -1;
    memset(calls, 0, sizeof calls);
    inject_reset();
    struct http_engine_options o = {
        .base_url = base_url,
        .timeout_ms = 5000,
        .max_inflight = 3,
    };
    ck_assert_int_eq(http_engine_create(&engine, &loop, &o), 0);
}

static void teardown(void)
{
    alloc_hook_disarm();
    if (engine)
        http_engine_destroy(engine, on_closed, &closed_count);
    ck_assert(testutil_run_until(&loop, &closed_count, 1, 5000));
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    sandbox_destroy(sb);
}

static void submit(int i)
{
    size_t n = strlen(base_url) + sizeof "/_sandbox/stats";
    struct http_request req = {.method = "GET", .url = malloc(n)};
    ck_assert_ptr_nonnull(req.url);
    snprintf(req.url, n, "%s/_sandbox/stats", base_url);
    ck_assert_int_eq(http_submit(engine, &req, on_done, NULL, &caps[i], &calls[i]), 0);
}

static void assert_answered(int i)
{
    ck_assert_int_eq(caps[i].done, 1);
    ck_assert_msg(caps[i].outcome == HTTP_ANSWERED, "call %d: outcome %d (%s)", i,
                  caps[i].outcome, caps[i].error);
    ck_assert_int_eq(caps[i].status, 200);
    ck_assert_str_eq(caps[i].error, "");
}

static void assert_engine_failure(int i, const char *error)
{
    ck_assert_int_eq(caps[i].done, 1);
    ck_assert_int_eq(caps[i].outcome, HTTP_FAILED);
    ck_assert_int_eq(caps[i].status, 0);
    ck_assert_str_eq(caps[i].error, error);
}

/* ---- tests -------------------------------------------------------------- */

static const char oom_error[] =
    "the HTTP engine ran out of memory (libcurl: Operation was aborted by an "
    "application callback)";

/* Three calls running and two queued; the second socket fails to be
 * watched (loop variant 0: its poll handle cannot be made, as when the
 * context cannot be allocated; 1: the poll cannot be started). The three
 * running calls fail once each, the queued ones and a later one succeed on
 * the fresh multi handle. */
START_TEST(test_socket_failure_with_calls_running)
{
    inject_fail_at[_i == 0 ? INJECT_INIT : INJECT_START] = 2;
    for (int i = 0; i < 5; i++)
        submit(i);
    ck_assert_uint_eq(http_engine_inflight(engine), 3);
    ck_assert_uint_eq(http_engine_queued(engine), 2);
    ck_assert(testutil_run_until(&loop, &done_total, 5, 10000));
    for (int i = 0; i < 3; i++) {
        assert_engine_failure(i, oom_error);
        ck_assert(!caps[i].maybe_delivered);
    }
    assert_answered(3);
    assert_answered(4);
    submit(5);
    ck_assert(testutil_run_until(&loop, &done_total, 6, 10000));
    assert_answered(5);
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(caps[i].done, 1);
}
END_TEST

/* A failure other than memory is named as such. */
START_TEST(test_socket_failure_other_error)
{
    inject_fail_at[INJECT_START] = 1;
    inject_error = UV_EBADF;
    submit(0);
    ck_assert(testutil_run_until(&loop, &done_total, 1, 10000));
    assert_engine_failure(0, "the HTTP engine could not watch a socket (bad file "
                             "descriptor; libcurl: Operation was aborted by an "
                             "application callback)");
    submit(1);
    ck_assert(testutil_run_until(&loop, &done_total, 2, 10000));
    assert_answered(1);
}
END_TEST

/* Every allocation of the engine fails once three calls are running: the
 * sockets are still watched (their contexts come from the pool made at
 * creation), so the calls end, each once, with the engine's own failure
 * to store the answer; with the allocations back, calls succeed. */
START_TEST(test_allocations_fail_with_calls_running)
{
    for (int i = 0; i < 3; i++)
        submit(i);
    alloc_hook_arm(1, true);
    bool finished = testutil_run_until(&loop, &done_total, 3, 10000);
    alloc_hook_disarm();
    ck_assert(finished);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(caps[i].done, 1);
        ck_assert_int_eq(caps[i].outcome, HTTP_FAILED);
        ck_assert_int_eq(caps[i].status, 200);
        /* No memory for the text either. */
        ck_assert_str_eq(caps[i].error, "");
    }
    submit(3);
    ck_assert(testutil_run_until(&loop, &done_total, 4, 10000));
    assert_answered(3);
}
END_TEST

/* The first failed call's done callback destroys the engine: the other
 * failed calls are dropped without a callback and the engine closes. */
START_TEST(test_destroy_from_failed_call)
{
    inject_fail_at[INJECT_START] = 1;
    destroy_in_done = true;
    for (int i = 0; i < 3; i++)
        submit(i);
    ck_assert(testutil_run_until(&loop, &closed_count, 1, 10000));
    ck_assert_int_eq(done_total, 1);
    assert_engine_failure(0, oom_error);
    ck_assert_int_eq(caps[1].done + caps[2].done, 0);
}
END_TEST

/* Not a failure: one call opens the connection, the next ones reuse it and
 * must neither make its poll handle again nor restart the one it has (in
 * libuv 1.44 a start removes the descriptor from epoll and adds it back, and
 * a new handle probes it with two more epoll_ctl calls). */
START_TEST(test_reused_connection_keeps_its_poll)
{
    submit(0);
    ck_assert(testutil_run_until(&loop, &done_total, 1, 10000));
    assert_answered(0);
    memset(inject_calls, 0, sizeof inject_calls);
    for (int i = 1; i < MAX_CALLS; i++) {
        submit(i);
        ck_assert(testutil_run_until(&loop, &done_total, i + 1, 10000));
        assert_answered(i);
    }
    ck_assert_uint_eq(inject_calls[INJECT_INIT], 0);
    ck_assert_uint_eq(inject_calls[INJECT_START], 0);
}
END_TEST

/* A failed call not yet reported can still be cancelled: the first done
 * callback cancels the second call, which is never heard of again. */
START_TEST(test_cancel_failed_call)
{
    inject_fail_at[INJECT_START] = 1;
    cancel_in_done = 1;
    for (int i = 0; i < 3; i++)
        submit(i);
    ck_assert(testutil_run_until(&loop, &done_total, 2, 10000));
    assert_engine_failure(0, oom_error);
    assert_engine_failure(2, oom_error);
    ck_assert_int_eq(caps[1].done, 0);
    ck_assert_uint_eq(http_engine_inflight(engine), 0);
    submit(3);
    ck_assert(testutil_run_until(&loop, &done_total, 3, 10000));
    assert_answered(3);
    ck_assert_int_eq(caps[1].done, 0);
}
END_TEST

static Suite *http_oom_suite(void)
{
    Suite *s = suite_create("http_oom");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_socket_failure_with_calls_running, 0, 2);
    tcase_add_test(tc, test_socket_failure_other_error);
    tcase_add_test(tc, test_allocations_fail_with_calls_running);
    tcase_add_test(tc, test_destroy_from_failed_call);
    tcase_add_test(tc, test_cancel_failed_call);
    tcase_add_test(tc, test_reused_connection_keeps_its_poll);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(http_oom_suite());
}
