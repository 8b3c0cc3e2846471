/* End-to-end tests of the upstream side of the real binary.
 *
 * The bounded call queue: against an upstream that accepts connections and
 * never answers, flooded with more tools/call lines than it may hold. The
 * first MSG91_MAX_INFLIGHT calls go on the wire, the next MSG91_MAX_QUEUE
 * wait, and every call beyond that is answered at once as busy, while ping
 * keeps working and memory stays small because a waiting call holds only
 * its request.
 *
 * Back-pressure: a client that writes and never reads makes the server
 * stop reading too, with its memory bounded, and loses no reply.
 *
 * The base URL: one whose user part looks like a loopback host but whose
 * real host is another is a start-up error, and nothing connects there. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/testutil.h"

/* AddressSanitizer's shadow memory and quarantine make resident memory
 * meaningless; the binary under test is built like this test. */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

enum {
    CALLS = 20000,
    INFLIGHT = 64,
    QUEUE = 1024, /* the default of MSG91_MAX_QUEUE */
    BUSY_EXPECTED = CALLS - INFLIGHT - QUEUE,
};

/* Resident memory of pid in KiB, as /proc/PID/status reports field. */
static long status_kib(pid_t pid, const char *field)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long v = -1;
    size_t n = strlen(field);
    while (fgets(line, sizeof line, f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            v = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return v;
}

/* The writer runs beside the reader: the server answers busy calls while
 * it is still reading, and both pipes must keep moving. */
struct writer {
    struct testutil_child *child;
    double *written_at; /* per call id, when its batch had been written */
    int result;
};

static void *write_calls(void *arg)
{
    struct writer *w = arg;
    enum { BATCH = 100 };
    static char buf[BATCH * 160];
    for (int first = 1; first <= CALLS; first += BATCH) {
        size_t n = 0;
        for (int id = first; id < first + BATCH && id <= CALLS; id++)
            n += (size_t)snprintf(buf + n, sizeof buf - n,
                                  "{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"tools/"
                                  "call\",\"params\":{\"name\":\"list_campaigns\","
                                  "\"arguments\":{}}}\n",
                                  id);
        if (testutil_send(w->child, buf, n) != 0) {
            w->result = -1;
            return NULL;
        }
        double now = testutil_now_s();
        for (int id = first; id < first + BATCH && id <= CALLS; id++)
            w->written_at[id] = now;
    }
    w->result = 0;
    return NULL;
}

static bool is_busy_answer(json_t *reply)
{
    json_t *result = json_object_get(reply, "result");
    json_t *content = json_array_get(json_object_get(result, "content"), 0);
    const char *text = json_string_value(json_object_get(content, "text"));
    return json_is_true(json_object_get(result, "isError")) && text &&
           strstr(text, "The server is busy") != NULL;
}

START_TEST(test_flood_is_refused_as_busy)
{
    unsigned port;
    int listener = testutil_listener("127.0.0.1", 256, &port);
    struct testutil_child c;
    const char *env[] = {
        "MSG91_AUTH_KEY=queue-test-key-123456",
        testutil_fmt("MSG91_BASE_URL=http://127.0.0.1:%u", port),
        testutil_fmt("MSG91_MAX_INFLIGHT=%d", INFLIGHT),
        "MSG91_TIMEOUT_MS=120000",
        "MSG91_LOG_LEVEL=error",
        NULL,
    };
    const char *argv[] = {"msg91-mcp", NULL};
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    testutil_initialize(&c, "queue-test", 5000);

    static double written_at[CALLS + 1];
    memset(written_at, 0, sizeof written_at);
    struct writer w = {.child = &c, .written_at = written_at, .result = -1};
    pthread_t thread;
    ck_assert_int_eq(pthread_create(&thread, NULL, write_calls, &w), 0);

    /* Every answer that can come is a busy answer: the upstream never
     * answers, so a call that was queued or sent has no reply yet. */
    int busy = 0, lowest_busy_id = CALLS + 1;
    double worst_s = 0;
    while (busy < BUSY_EXPECTED) {
        json_t *reply = testutil_read_json(&c, 10000);
        ck_assert_msg(reply != NULL, "only %d busy answers of %d arrived", busy,
                      BUSY_EXPECTED);
        ck_assert_msg(is_busy_answer(reply), "not a busy answer: %s",
                      json_dumps(reply, JSON_COMPACT));
        int id = (int)json_integer_value(json_object_get(reply, "id"));
        ck_assert_int_gt(id, INFLIGHT + QUEUE);
        ck_assert_int_le(id, CALLS);
        if (id < lowest_busy_id)
            lowest_busy_id = id;
        /* An answer can beat the end of its batch's write; it is not late. */
        if (written_at[id] > 0 && testutil_now_s() - written_at[id] > worst_s)
            worst_s = testutil_now_s() - written_at[id];
        busy++;
        json_decref(reply);
    }
    pthread_join(thread, NULL);
    ck_assert_int_eq(w.result, 0);
    ck_assert_int_eq(lowest_busy_id, INFLIGHT + QUEUE + 1);

    /* The server still answers what needs no upstream. */
    ck_assert_int_eq(testutil_send_line(
                         &c, "{\"jsonrpc\":\"2.0\",\"id\":\"ping\",\"method\":\"ping\"}"),
                     0);
    json_t *pong = testutil_read_json(&c, 10000);
    ck_assert_ptr_nonnull(pong);
    ck_assert_str_eq(json_string_value(json_object_get(pong, "id")), "ping");
    ck_assert_ptr_nonnull(json_object_get(pong, "result"));
    json_decref(pong);

    long hwm = status_kib(c.pid, "VmHWM");
    long rss = status_kib(c.pid, "VmRSS");
    fprintf(stderr,
            "queue test: %d busy answers, slowest %.0f ms after its write; VmHWM %ld "
            "KiB, VmRSS %ld KiB\n",
            busy, worst_s * 1000, hwm, rss);
    ck_assert_int_gt(hwm, 0);
    if (!UNDER_ASAN)
        ck_assert_msg(hwm < 64 * 1024, "peak resident memory %ld KiB", hwm);

    /* The calls on the wire and in the queue are still waiting: SIGKILL,
     * since an orderly stop would wait for them. */
    kill(c.pid, SIGKILL);
    testutil_finish(&c, 5000);
    close(c.err_fd);
    close(listener);
}
END_TEST

START_TEST(test_userinfo_in_base_url_is_refused)
{
    /* 127.0.0.2 is loopback too, so the test stays on this machine; the
     * point is that it is not the host the base URL seems to name. */
    unsigned port;
    int listener = testutil_listener("127.0.0.2", 256, &port);
    struct testutil_child c;
    const char *env[] = {
        "MSG91_AUTH_KEY=userinfo-test-key-123456",
        testutil_fmt("MSG91_BASE_URL=http://127.0.0.1:1@127.0.0.2:%u", port),
        "MSG91_TIMEOUT_MS=1000",
        NULL,
    };
    const char *argv[] = {"msg91-mcp", NULL};
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    /* Had it started, this call would go to 127.0.0.2 with the key. The
     * writes may fail once the server has exited; that is the point. */
    testutil_send_line(&c, "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\","
                           "\"params\":{\"protocolVersion\":\"2025-11-25\","
                           "\"capabilities\":{},\"clientInfo\":{\"name\":\"t\","
                           "\"version\":\"1\"}}}");
    testutil_send_line(&c, "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\","
                           "\"params\":{\"name\":\"list_campaigns\",\"arguments\":{}}}");
    int status = testutil_finish(&c, 5000);
    char *err = testutil_read_stderr(&c);
    struct pollfd p = {.fd = listener, .events = POLLIN};
    ck_assert_msg(poll(&p, 1, 0) == 0, "the server connected to the host after '@'");
    ck_assert_msg(status == 1, "exit status %d, stderr: %s", status, err);
    ck_assert_msg(strstr(err, "MSG91_BASE_URL") && strstr(err, "user name or password"),
                  "stderr: %s", err);
    free(err);
    close(listener);
}
END_TEST

/* How long a full stdin pipe must stay full before the server is taken to
 * have stopped reading. Only a stop is concluded from it: a slow server
 * merely makes the test write more before it checks memory. */
#define STALL_MS 2000
/* More than the server may hold (8 MiB of replies queued, then it stops
 * reading) by far: a server that kept reading would get this much. */
#define UNBOUNDED_BYTES ((size_t)256 * 1024 * 1024)

START_TEST(test_client_that_stops_reading)
{
    struct testutil_child c;
    const char *env[] = {"MSG91_LOG_LEVEL=error", NULL};
    const char *argv[] = {"msg91-mcp", NULL};
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    testutil_initialize(&c, "backpressure-test", 5000);
    ck_assert_int_eq(fcntl(c.in_fd, F_SETFL, fcntl(c.in_fd, F_GETFL) | O_NONBLOCK), 0);

    /* One ping per write, as clients write, and never a read. */
    size_t written = 0;
    long pings = 0;
    bool stalled = false;
    while (!stalled && written < UNBOUNDED_BYTES) {
        char line[96];
        int n =
            snprintf(line, sizeof line,
                     "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"ping\"}\n", pings + 1);
        ssize_t w = write(c.in_fd, line, (size_t)n);
        if (w == n) {
            written += (size_t)n;
            pings++;
            continue;
        }
        /* A line is at most 50 bytes and the pipe takes whole writes of
         * up to 4 KiB at once, or nothing. */
        ck_assert_int_eq(w, -1);
        ck_assert_int_eq(errno, EAGAIN);
        struct pollfd p = {.fd = c.in_fd, .events = POLLOUT};
        stalled = poll(&p, 1, STALL_MS) == 0;
    }
    long rss = status_kib(c.pid, "VmRSS");
    fprintf(stderr,
            "back-pressure test: the server stopped reading after %ld pings (%zu "
            "bytes); VmRSS %ld KiB\n",
            pings, written, rss);
    ck_assert_msg(stalled, "the server read %zu bytes without its replies being read",
                  written);
    if (!UNDER_ASAN)
        ck_assert_msg(rss < 64 * 1024, "resident memory %ld KiB", rss);

    /* Reading again lets everything through: one reply per ping. */
    fcntl(c.in_fd, F_SETFL, fcntl(c.in_fd, F_GETFL) & ~O_NONBLOCK);
    long replies = 0;
    static char buf[65536];
    for (size_t i = 0; i < c.pending_len; i++)
        replies += c.pending[i] == '\n';
    while (replies < pings) {
        struct pollfd p = {.fd = c.out_fd, .events = POLLIN};
        ck_assert_msg(poll(&p, 1, 30000) == 1, "%ld of %ld replies", replies, pings);
        ssize_t n = read(c.out_fd, buf, sizeof buf);
        ck_assert_int_gt(n, 0);
        for (ssize_t i = 0; i < n; i++)
            replies += buf[i] == '\n';
    }
    ck_assert_int_eq(replies, pings);
    ck_assert_int_eq(testutil_finish(&c, 10000), 0);
    free(testutil_read_stderr(&c));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("e2e_queue");
    TCase *tc = tcase_create("flood");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_flood_is_refused_as_busy);
    tcase_add_test(tc, test_userinfo_in_base_url_is_refused);
    tcase_add_test(tc, test_client_that_stops_reading);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
