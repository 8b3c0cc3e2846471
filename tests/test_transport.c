/* The stdio transport on real pipes and files, driven by a libuv loop:
 * what it delivers, the exact bytes it writes, and how it reports an
 * oversized line, a line lost to a failed allocation, end of input, a
 * vanished reader and a failed allocation while writing. */
#include <check.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "server/transport.h"
#include "tests/alloc_hook.h"
#include "tests/testutil.h"

struct harness {
    uv_loop_t loop;
    struct transport t;
    int in[2];  /* we write in[1]; the transport reads in[0] */
    int out[2]; /* the transport writes out[1]; we read out[0] */
    char *lines[64];
    int count, too_big, lost, eof, write_errors, last_error, closed;
};

static void on_line(struct transport *t, const char *line, size_t len)
{
    struct harness *h = t->data;
    alloc_hook_suspend(); /* the test's own bookkeeping never fails */
    ck_assert_int_lt(h->count, 64);
    ck_assert_uint_eq(strlen(line), len);
    h->lines[h->count++] = strndup(line, len);
    alloc_hook_resume();
}

static void on_too_big(struct transport *t)
{
    ((struct harness *)t->data)->too_big++;
}

static void on_lost(struct transport *t)
{
    ((struct harness *)t->data)->lost++;
}

static void on_eof(struct transport *t)
{
    ((struct harness *)t->data)->eof++;
}

static void on_write_error(struct transport *t, int status)
{
    struct harness *h = t->data;
    h->write_errors++;
    h->last_error = status;
}

static void on_closed(struct transport *t)
{
    ((struct harness *)t->data)->closed++;
}

static const struct transport_callbacks callbacks = {
    .on_line = on_line,
    .on_too_big = on_too_big,
    .on_lost = on_lost,
    .on_eof = on_eof,
    .on_write_error = on_write_error,
    .on_closed = on_closed,
};

/* out_fd -1: a pipe we read; otherwise the given descriptor. */
static void setup(struct harness *h, size_t max_line, int out_fd)
{
    memset(h, 0, sizeof *h);
    signal(SIGPIPE, SIG_IGN);
    ck_assert_int_eq(uv_loop_init(&h->loop), 0);
    ck_assert_int_eq(pipe(h->in), 0);
    h->out[0] = h->out[1] = -1;
    if (out_fd < 0)
        ck_assert_int_eq(pipe(h->out), 0);
    else
        h->out[1] = out_fd;
    ck_assert_int_eq(
        transport_init(&h->t, &h->loop, h->in[0], h->out[1], max_line, &callbacks, h), 0);
    ck_assert_int_eq(transport_start(&h->t), 0);
}

static void teardown(struct harness *h)
{
    transport_close(&h->t);
    uv_run(&h->loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(h->closed, 1);
    transport_finish(&h->t);
    ck_assert_int_eq(uv_loop_close(&h->loop), 0);
    for (int i = 0; i < h->count; i++)
        free(h->lines[i]);
    if (h->in[1] >= 0)
        close(h->in[1]);
    if (h->out[0] >= 0)
        close(h->out[0]);
}

/* Writes bytes to the transport's stdin, running the loop while the pipe
 * is full so that a line larger than the pipe can go through. */
static void feed(struct harness *h, const char *bytes)
{
    size_t len = strlen(bytes);
    fcntl(h->in[1], F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 100000 && len > 0; i++) {
        ssize_t n = write(h->in[1], bytes, len);
        if (n > 0) {
            bytes += n;
            len -= (size_t)n;
        } else {
            uv_run(&h->loop, UV_RUN_NOWAIT);
        }
    }
    ck_assert_uint_eq(len, 0);
}

/* Runs the loop until *counter reaches want. Everything the transport
 * waits for is already there (bytes in a pipe, a closed reader), so turns
 * that do not block are enough. */
static void run_until(struct harness *h, const int *counter, int want)
{
    for (int i = 0; i < 100000 && *counter < want; i++)
        uv_run(&h->loop, UV_RUN_NOWAIT);
    alloc_hook_suspend();
    ck_assert_int_ge(*counter, want);
    alloc_hook_resume();
}

/* Runs the loop while reading the pipe until strlen(expect) bytes came,
 * compares them, and checks that nothing is left queued. */
static void expect_output(struct harness *h, const char *expect)
{
    size_t want = strlen(expect), got = 0;
    char *buf = malloc(want + 1);
    fcntl(h->out[0], F_SETFL, O_NONBLOCK);
    for (int i = 0; i < 100000 && got < want; i++) {
        uv_run(&h->loop, UV_RUN_NOWAIT);
        ssize_t n = read(h->out[0], buf + got, want - got);
        if (n > 0)
            got += (size_t)n;
    }
    buf[got] = '\0';
    ck_assert_str_eq(buf, expect);
    free(buf);
    /* The write callbacks run on a later turn than the write itself. */
    for (int i = 0; i < 100000 && !transport_flushed(&h->t); i++)
        uv_run(&h->loop, UV_RUN_NOWAIT);
    ck_assert(transport_flushed(&h->t));
}

START_TEST(reads_lines_then_end_of_input)
{
    struct harness h;
    setup(&h, 1024, -1);
    feed(&h, "{\"a\":1}\r\n\n   \n{\"b\":");
    run_until(&h, &h.count, 1);
    feed(&h, "2}");
    close(h.in[1]);
    h.in[1] = -1;
    run_until(&h, &h.eof, 1);
    ck_assert_int_eq(h.count, 2);
    ck_assert_str_eq(h.lines[0], "{\"a\":1}");
    ck_assert_str_eq(h.lines[1], "{\"b\":2}");
    ck_assert_int_eq(h.too_big + h.lost + h.write_errors, 0);
    teardown(&h);
}
END_TEST

START_TEST(writes_whole_lines_in_order_at_the_end_of_the_turn)
{
    struct harness h;
    setup(&h, 1024, -1);
    ck_assert_int_eq(transport_write(&h.t, "{\"id\":1}", 8), 0);
    ck_assert_int_eq(transport_write(&h.t, "{\"id\":2}", 8), 0);
    /* Gathered, not written yet: one write per turn of the loop. */
    ck_assert(!transport_flushed(&h.t));
    ck_assert_int_eq(transport_write(&h.t, "{\"id\":3}", 8), 0);
    expect_output(&h, "{\"id\":1}\n{\"id\":2}\n{\"id\":3}\n");
    /* A line larger than a batch goes out whole too. */
    size_t big = 300 * 1024;
    char *line = malloc(big + 2);
    memset(line, 'x', big);
    line[big] = '\n';
    line[big + 1] = '\0';
    ck_assert_int_eq(transport_write(&h.t, "[1]", 3), 0);
    ck_assert_int_eq(transport_write(&h.t, line, big), 0);
    char *expect = malloc(big + 6);
    memcpy(expect, "[1]\n", 4);
    memcpy(expect + 4, line, big + 2);
    expect_output(&h, expect);
    free(expect);
    free(line);
    ck_assert_int_eq(h.write_errors, 0);
    teardown(&h);
}
END_TEST

START_TEST(out_of_memory_while_writing_is_not_a_closed_stdout)
{
    /* A failed allocation used to be reported as "stdout closed": the
     * server then exited 0 and dropped every pending call, and the lines
     * already gathered were lost with the buffer. */
    struct harness h;
    setup(&h, 1024, -1);
    ck_assert_int_eq(transport_write(&h.t, "{\"id\":1}", 8), 0);
    size_t big = 8000; /* more than the first block: it must grow */
    char *line = malloc(big);
    memset(line, 'y', big);
    alloc_hook_arm(1, true);
    int rc = transport_write(&h.t, line, big);
    /* A short line still fits the reserve taken at start-up. */
    int rc_short = transport_write(&h.t, "{\"id\":3}", 8);
    alloc_hook_disarm();
    free(line);
    ck_assert_int_eq(rc, UV_ENOMEM);
    ck_assert_int_eq(rc_short, 0);
    ck_assert_int_eq(h.write_errors, 0);
    expect_output(&h, "{\"id\":1}\n{\"id\":3}\n");
    /* The reserve is free again once written, and the transport works. */
    alloc_hook_arm(1, true);
    rc_short = transport_write(&h.t, "{\"id\":4}", 8);
    alloc_hook_disarm();
    ck_assert_int_eq(rc_short, 0);
    ck_assert_int_eq(transport_write(&h.t, "{\"id\":5}", 8), 0);
    expect_output(&h, "{\"id\":4}\n{\"id\":5}\n");
    ck_assert_int_eq(h.write_errors, 0);
    teardown(&h);
}
END_TEST

START_TEST(a_vanished_reader_is_a_write_error)
{
    struct harness h;
    setup(&h, 1024, -1);
    close(h.out[0]);
    h.out[0] = -1;
    ck_assert_int_eq(transport_write(&h.t, "{\"id\":1}", 8), 0);
    run_until(&h, &h.write_errors, 1);
    ck_assert_int_eq(h.last_error, UV_EPIPE);
    ck_assert_int_eq(transport_write(&h.t, "{\"id\":2}", 8), UV_EPIPE);
    ck_assert_int_eq(h.write_errors, 1);
    teardown(&h);
}
END_TEST

START_TEST(oversized_and_lost_lines_are_told_apart)
{
    struct harness h;
    setup(&h, 100000, -1);
    char *line = malloc(120001);
    memset(line, 'z', 120000);
    /* Under the cap but past the block held from the start (16 KiB,
     * rounded up to 32 KiB by the buffer), with no memory to grow: lost,
     * which is not "too big"; reading goes on. */
    line[40000] = '\0';
    feed(&h, line);
    feed(&h, "\n");
    alloc_hook_arm(1, false);
    run_until(&h, &h.lost, 1);
    alloc_hook_disarm();
    feed(&h, "{\"next\":1}\n");
    run_until(&h, &h.count, 1);
    ck_assert_int_eq(h.too_big, 0);
    ck_assert_str_eq(h.lines[0], "{\"next\":1}");
    /* Lines up to that block never allocate: they survive. */
    feed(&h, "{\"small\":2}\n");
    alloc_hook_arm(1, true);
    run_until(&h, &h.count, 2);
    alloc_hook_disarm();
    ck_assert_str_eq(h.lines[1], "{\"small\":2}");
    /* Over the cap: reported as too big, and reading goes on. */
    line[40000] = 'z';
    line[120000] = '\0';
    feed(&h, line);
    feed(&h, "\n{\"after\":3}\n");
    run_until(&h, &h.count, 3);
    ck_assert_int_eq(h.too_big, 1);
    ck_assert_int_eq(h.lost, 1);
    ck_assert_str_eq(h.lines[2], "{\"after\":3}");
    free(line);
    teardown(&h);
}
END_TEST

START_TEST(a_regular_file_as_stdout)
{
    char path[] = "/tmp/msg91-transport-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    struct harness h;
    setup(&h, 1024, fd);
    ck_assert_int_eq(transport_write(&h.t, "{\"id\":1}", 8), 0);
    ck_assert_int_eq(transport_write(&h.t, "{\"id\":2}", 8), 0);
    teardown(&h);
    char buf[64] = {0};
    ck_assert_int_eq(pread(fd, buf, sizeof buf - 1, 0), 18);
    ck_assert_str_eq(buf, "{\"id\":1}\n{\"id\":2}\n");
    close(fd);
    unlink(path);
}
END_TEST

static int timer_wrote;

static void write_from_timer(uv_timer_t *timer)
{
    struct harness *h = timer->data;
    ck_assert_int_eq(transport_write(&h->t, "{\"late\":1}", 10), 0);
    timer_wrote = 1;
}

static void keep_alive(uv_timer_t *timer)
{
    (void)timer;
    ck_abort_msg("the turn blocked until the next event instead of writing");
}

START_TEST(a_line_written_from_a_timer_goes_out_in_that_turn)
{
    /* Timers run before the poll phase: a line written there must not wait
     * in the batch until the next event (here a timer 2 s away) wakes the
     * loop, as a progress notification did until its call's result came. */
    struct harness h;
    setup(&h, 1024, -1);
    uv_timer_t writer, later;
    uv_timer_init(&h.loop, &writer);
    uv_timer_init(&h.loop, &later);
    writer.data = &h;
    uv_timer_start(&writer, write_from_timer, 1, 0);
    uv_timer_start(&later, keep_alive, 2000, 0);
    while (!timer_wrote)
        uv_run(&h.loop, UV_RUN_ONCE);
    if (!transport_flushed(&h.t))
        uv_run(&h.loop, UV_RUN_ONCE);
    char buf[32] = {0};
    fcntl(h.out[0], F_SETFL, O_NONBLOCK);
    ck_assert_int_eq(read(h.out[0], buf, sizeof buf - 1), 11);
    ck_assert_str_eq(buf, "{\"late\":1}\n");
    uv_close((uv_handle_t *)&writer, NULL);
    uv_close((uv_handle_t *)&later, NULL);
    teardown(&h);
}
END_TEST

START_TEST(close_writes_what_is_queued_first)
{
    struct harness h;
    setup(&h, 1024, -1);
    ck_assert_int_eq(transport_write(&h.t, "{\"last\":true}", 13), 0);
    transport_close(&h.t);
    uv_run(&h.loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(h.closed, 1);
    char buf[32] = {0};
    fcntl(h.out[0], F_SETFL, 0);
    ck_assert_int_eq(read(h.out[0], buf, sizeof buf - 1), 14);
    ck_assert_str_eq(buf, "{\"last\":true}\n");
    transport_finish(&h.t);
    ck_assert_int_eq(uv_loop_close(&h.loop), 0);
    close(h.in[1]);
    close(h.out[0]);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("transport");
    TCase *tc = tcase_create("stdio");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, reads_lines_then_end_of_input);
    tcase_add_test(tc, writes_whole_lines_in_order_at_the_end_of_the_turn);
    tcase_add_test(tc, out_of_memory_while_writing_is_not_a_closed_stdout);
    tcase_add_test(tc, a_vanished_reader_is_a_write_error);
    tcase_add_test(tc, oversized_and_lost_lines_are_told_apart);
    tcase_add_test(tc, a_regular_file_as_stdout);
    tcase_add_test(tc, close_writes_what_is_queued_first);
    tcase_add_test(tc, a_line_written_from_a_timer_goes_out_in_that_turn);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
