#include "server/transport.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TRANSPORT_READ_CHUNK 65536
#define TRANSPORT_PAUSE_ABOVE ((size_t)8 * 1024 * 1024)
#define TRANSPORT_RESUME_BELOW ((size_t)1024 * 1024)

/* Lines written during one turn of the loop are gathered and handed to
 * libuv as one write when the turn ends (the check phase), so a burst of
 * replies costs one system call instead of one per line. A batch is
 * flushed early once it reaches this size. */
#define TRANSPORT_BATCH_FLUSH ((size_t)256 * 1024)

/* The smallest chunk, and the size of the reserve: enough for an error
 * reply with a long id. */
#define TRANSPORT_CHUNK_MIN 4096

/* Output waits in chunks, each one allocation holding its libuv write
 * request and whole lines with their newlines, so handing a chunk to
 * libuv needs no further memory and a failed allocation never loses
 * lines already queued. */
struct transport_chunk {
    uv_write_t req;
    struct transport *t;
    size_t len, cap;
    bool reserve; /* t->reserve: reused, freed only by transport_finish */
    char bytes[];
};

static void maybe_close(struct transport *t);
static void start_file_read(struct transport *t);

static void on_framing(void *data, enum framing_event event, const char *line, size_t len)
{
    struct transport *t = data;
    if (event == FRAMING_LINE)
        t->cb->on_line(t, line, len);
    else if (event == FRAMING_NOMEM)
        t->cb->on_lost(t);
    else
        t->cb->on_too_big(t);
}

static struct transport_chunk *chunk_create(struct transport *t, size_t cap)
{
    struct transport_chunk *c = malloc(sizeof *c + cap);
    if (!c)
        return NULL;
    c->t = t;
    c->len = 0;
    c->cap = cap;
    c->reserve = false;
    return c;
}

static void chunk_release(struct transport *t, struct transport_chunk *c)
{
    if (!c)
        return;
    if (c->reserve)
        t->reserve_busy = false;
    else
        free(c);
}

/* Opens fd as the right kind of libuv handle, or falls back to plain file
 * I/O for regular files and devices that cannot be polled. */
static int open_side(struct transport *t, int fd, bool readable, uv_handle_t *h,
                     enum transport_io_kind *kind)
{
    int rc;
    switch (uv_guess_handle(fd)) {
    case UV_TTY:
        rc = uv_tty_init(t->loop, (uv_tty_t *)h, fd, readable);
        break;
    case UV_NAMED_PIPE:
        rc = uv_pipe_init(t->loop, (uv_pipe_t *)h, 0);
        if (rc == 0 && (rc = uv_pipe_open((uv_pipe_t *)h, fd)) != 0)
            uv_close(h, NULL);
        break;
    case UV_TCP:
        rc = uv_tcp_init(t->loop, (uv_tcp_t *)h);
        if (rc == 0 && (rc = uv_tcp_open((uv_tcp_t *)h, fd)) != 0)
            uv_close(h, NULL);
        break;
    default:
        *kind = TRANSPORT_FILE;
        return 0;
    }
    if (rc != 0)
        return rc;
    *kind = TRANSPORT_STREAM;
    h->data = t;
    t->open_handles++;
    return 0;
}

int transport_init(struct transport *t, uv_loop_t *loop, int in_fd, int out_fd,
                   size_t max_line, const struct transport_callbacks *cb, void *data)
{
    memset(t, 0, sizeof *t);
    t->loop = loop;
    t->cb = cb;
    t->data = data;
    t->in_fd = in_fd;
    t->out_fd = out_fd;
    t->pause_above = TRANSPORT_PAUSE_ABOVE;
    t->resume_below = TRANSPORT_RESUME_BELOW;
    if (framing_init(&t->framing, max_line) != 0)
        return UV_ENOMEM;
    /* Held from the start so that an error reply can be queued when
     * malloc fails later. */
    t->reserve = chunk_create(t, TRANSPORT_CHUNK_MIN);
    if (!t->reserve) {
        framing_finish(&t->framing);
        return UV_ENOMEM;
    }
    t->reserve->reserve = true;
    uv_check_init(loop, &t->flush_check);
    t->flush_check.data = t;
    t->open_handles++;
    uv_idle_init(loop, &t->flush_idle);
    t->flush_idle.data = t;
    t->open_handles++;

    int rc = open_side(t, in_fd, true, &t->in.handle, &t->in_kind);
    if (rc != 0)
        goto fail;
    t->in_open = true;
    rc = open_side(t, out_fd, false, &t->out.handle, &t->out_kind);
    if (rc != 0)
        goto fail;
    t->out_open = true;
    if (t->in_kind == TRANSPORT_FILE) {
        t->in_buf = malloc(TRANSPORT_READ_CHUNK);
        if (!t->in_buf) {
            rc = UV_ENOMEM;
            goto fail;
        }
    }
    return 0;
fail:
    /* Handles already opened are closed too; the caller runs the loop to
     * let the closes complete. */
    if (t->in_open && t->in_kind == TRANSPORT_STREAM)
        uv_close(&t->in.handle, NULL);
    if (t->out_open && t->out_kind == TRANSPORT_STREAM)
        uv_close(&t->out.handle, NULL);
    t->in_open = t->out_open = false;
    framing_finish(&t->framing);
    free(t->reserve);
    t->reserve = NULL;
    uv_close((uv_handle_t *)&t->flush_check, NULL);
    uv_close((uv_handle_t *)&t->flush_idle, NULL);
    return rc;
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    static char slab[TRANSPORT_READ_CHUNK];
    /* One read is consumed completely by framing before the next one
     * starts, so a single static slab is enough and saves a malloc per read. */
    *buf = uv_buf_init(slab, sizeof slab);
}

static void reached_eof(struct transport *t)
{
    if (t->eof)
        return;
    t->eof = true;
    transport_stop_reading(t);
    framing_end(&t->framing, on_framing, t);
    t->cb->on_eof(t);
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    struct transport *t = s->data;
    if (nread > 0) {
        framing_feed(&t->framing, buf->base, (size_t)nread, on_framing, t);
    } else if (nread < 0) {
        reached_eof(t);
    }
}

static void file_read_cb(uv_fs_t *req)
{
    struct transport *t = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    t->file_read_active = false;
    if (n > 0) {
        framing_feed(&t->framing, t->in_buf, (size_t)n, on_framing, t);
        if (t->reading && !t->paused)
            start_file_read(t);
        else
            maybe_close(t);
        return;
    }
    if (n == UV_EINTR || n == UV_EAGAIN) {
        if (t->reading && !t->paused)
            start_file_read(t);
        else
            maybe_close(t);
        return;
    }
    reached_eof(t);
    maybe_close(t);
}

static void start_file_read(struct transport *t)
{
    uv_buf_t buf = uv_buf_init(t->in_buf, TRANSPORT_READ_CHUNK);
    t->in_req.data = t;
    /* A pending fs request keeps the transport from being torn down. */
    t->file_read_active = true;
    if (uv_fs_read(t->loop, &t->in_req, t->in_fd, &buf, 1, -1, file_read_cb) != 0) {
        t->file_read_active = false;
        reached_eof(t);
    }
}

static int resume_reading(struct transport *t)
{
    if (t->in_kind == TRANSPORT_STREAM)
        return uv_read_start((uv_stream_t *)&t->in.handle, alloc_cb, read_cb);
    if (!t->file_read_active)
        start_file_read(t);
    return 0;
}

int transport_start(struct transport *t)
{
    t->reading = true;
    return resume_reading(t);
}

void transport_stop_reading(struct transport *t)
{
    if (!t->reading)
        return;
    t->reading = false;
    if (t->in_kind == TRANSPORT_STREAM && t->in_open)
        uv_read_stop((uv_stream_t *)&t->in.handle);
}

static void pause_if_needed(struct transport *t)
{
    if (!t->paused && t->out_pending_bytes > t->pause_above && t->reading) {
        t->paused = true;
        if (t->in_kind == TRANSPORT_STREAM)
            uv_read_stop((uv_stream_t *)&t->in.handle);
    }
}

static void resume_if_drained(struct transport *t)
{
    if (t->paused && t->out_pending_bytes < t->resume_below) {
        t->paused = false;
        if (t->reading)
            resume_reading(t);
    }
}

static void write_cb(uv_write_t *req, int status)
{
    struct transport_chunk *c = (struct transport_chunk *)req;
    struct transport *t = c->t;
    t->out_pending_bytes -= c->len;
    t->out_pending_writes--;
    chunk_release(t, c);
    if (status < 0 && !t->out_failed) {
        t->out_failed = true;
        t->cb->on_write_error(t, status);
    }
    resume_if_drained(t);
    maybe_close(t);
}

static int write_file(struct transport *t, const char *bytes, size_t len)
{
    /* Regular files and devices do not block for long, and writing
     * directly keeps lines whole and ordered without a queue. */
    while (len > 0) {
        ssize_t n = write(t->out_fd, bytes, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        bytes += n;
        len -= (size_t)n;
    }
    return 0;
}

/* stdout itself failed (not memory): output is over. */
static void fail_output(struct transport *t, int rc)
{
    chunk_release(t, t->out_batch);
    t->out_batch = NULL;
    if (!t->out_failed) {
        t->out_failed = true;
        t->cb->on_write_error(t, rc);
    }
}

/* Hands the gathered lines to libuv (or the file) as one write. */
static void flush_batch(struct transport *t)
{
    uv_check_stop(&t->flush_check);
    uv_idle_stop(&t->flush_idle);
    struct transport_chunk *c = t->out_batch;
    t->out_batch = NULL;
    if (!c)
        return;
    if (t->out_kind == TRANSPORT_FILE) {
        int rc = write_file(t, c->bytes, c->len);
        chunk_release(t, c);
        if (rc < 0)
            fail_output(t, rc);
        return;
    }
    uv_buf_t buf = uv_buf_init(c->bytes, (unsigned)c->len);
    t->out_pending_bytes += c->len;
    t->out_pending_writes++;
    int rc = uv_write(&c->req, (uv_stream_t *)&t->out.handle, &buf, 1, write_cb);
    if (rc != 0) {
        t->out_pending_bytes -= c->len;
        t->out_pending_writes--;
        chunk_release(t, c);
        fail_output(t, rc);
        return;
    }
    pause_if_needed(t);
}

static void flush_check_cb(uv_check_t *check)
{
    flush_batch(check->data);
}

static void flush_idle_cb(uv_idle_t *idle)
{
    (void)idle;
}

/* Makes room for need more bytes in the batch: grows it, or hands it over
 * and starts a new chunk (the reserve when malloc fails). */
static struct transport_chunk *batch_room(struct transport *t, size_t need)
{
    struct transport_chunk *c = t->out_batch;
    if (c && c->len + need > TRANSPORT_BATCH_FLUSH)
        flush_batch(t);
    else if (c && c->len + need > c->cap && !c->reserve) {
        size_t cap = c->cap * 2 > c->len + need ? c->cap * 2 : c->len + need;
        struct transport_chunk *grown = realloc(c, sizeof *c + cap);
        if (grown) {
            grown->cap = cap;
            t->out_batch = grown;
            return grown;
        }
    }
    if (t->out_batch && t->out_batch->len + need > t->out_batch->cap)
        flush_batch(t);
    if (t->out_batch)
        return t->out_batch;
    c = chunk_create(t, need > TRANSPORT_CHUNK_MIN ? need : TRANSPORT_CHUNK_MIN);
    if (!c && !t->reserve_busy && need <= t->reserve->cap) {
        c = t->reserve;
        c->len = 0;
        t->reserve_busy = true;
    }
    return t->out_batch = c;
}

int transport_write(struct transport *t, const char *line, size_t len)
{
    if (t->out_failed || !t->out_open)
        return UV_EPIPE;
    struct transport_chunk *c = batch_room(t, len + 1);
    if (!c)
        return UV_ENOMEM;
    memcpy(c->bytes + c->len, line, len);
    c->bytes[c->len + len] = '\n';
    c->len += len + 1;
    if (!uv_is_active((uv_handle_t *)&t->flush_check)) {
        uv_check_start(&t->flush_check, flush_check_cb);
        /* A line written from a timer callback comes before the poll
         * phase: an active idle handle keeps poll from blocking, so the
         * check phase hands it over in this turn, not after the next
         * event (a progress notification would otherwise wait for, and go
         * out with, its call's result). */
        uv_idle_start(&t->flush_idle, flush_idle_cb);
    }
    return 0;
}

bool transport_flushed(const struct transport *t)
{
    return t->out_pending_writes == 0 && !t->out_batch;
}

static void close_cb(uv_handle_t *h)
{
    struct transport *t = h->data;
    t->open_handles--;
    if (t->open_handles == 0 && t->cb->on_closed)
        t->cb->on_closed(t);
}

static void maybe_close(struct transport *t)
{
    if (!t->closing)
        return;
    flush_batch(t);
    if (t->out_pending_writes > 0 || t->file_read_active)
        return;
    if (!uv_is_closing((uv_handle_t *)&t->flush_check)) {
        uv_close((uv_handle_t *)&t->flush_check, close_cb);
        uv_close((uv_handle_t *)&t->flush_idle, close_cb);
    }
    if (t->in_open) {
        t->in_open = false;
        if (t->in_kind == TRANSPORT_STREAM)
            uv_close(&t->in.handle, close_cb);
    }
    if (t->out_open) {
        t->out_open = false;
        if (t->out_kind == TRANSPORT_STREAM)
            uv_close(&t->out.handle, close_cb);
    }
    if (t->open_handles == 0 && t->cb->on_closed) {
        const struct transport_callbacks *cb = t->cb;
        t->open_handles = (unsigned)-1; /* report once */
        cb->on_closed(t);
    }
}

void transport_close(struct transport *t)
{
    if (t->closing)
        return;
    t->closing = true;
    transport_stop_reading(t);
    maybe_close(t);
}

void transport_finish(struct transport *t)
{
    framing_finish(&t->framing);
    chunk_release(t, t->out_batch);
    t->out_batch = NULL;
    free(t->reserve);
    t->reserve = NULL;
    free(t->in_buf);
    t->in_buf = NULL;
}
