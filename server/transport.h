/* The stdio transport on libuv: reads stdin without blocking the loop and
 * splits it into lines (framing.h), and owns the one serialized writer to
 * stdout, which writes every message whole and in order. It works whether
 * stdin and stdout are pipes, sockets, files or a terminal. When the
 * client reads slowly, output queues in memory and reading stdin pauses
 * past a threshold, so nothing is lost and memory stays bounded. */
#ifndef MSG91_TRANSPORT_H
#define MSG91_TRANSPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "server/framing.h"

struct transport;
struct transport_chunk;

struct transport_callbacks {
    /* A complete line (NUL-terminated, CR/LF stripped, never blank). */
    void (*on_line)(struct transport *t, const char *line, size_t len);
    /* A line passed the size cap and was discarded. */
    void (*on_too_big)(struct transport *t);
    /* Memory ran out while a line was being read; it was discarded. */
    void (*on_lost)(struct transport *t);
    /* stdin reached end of file or failed; no more lines will come. */
    void (*on_eof)(struct transport *t);
    /* stdout is gone (EPIPE or another write error); output is dropped.
     * Running out of memory is not reported here: transport_write returns
     * UV_ENOMEM for that line and the transport stays usable. */
    void (*on_write_error)(struct transport *t, int status);
    /* All handles are closed (after transport_close). */
    void (*on_closed)(struct transport *t);
};

enum transport_io_kind {
    TRANSPORT_STREAM, /* pipe, socket or tty: libuv stream */
    TRANSPORT_FILE,   /* regular file or device: fs requests / direct writes */
};

struct transport {
    uv_loop_t *loop;
    const struct transport_callbacks *cb;
    void *data; /* for the owner */

    int in_fd;
    enum transport_io_kind in_kind;
    union {
        uv_pipe_t pipe;
        uv_tty_t tty;
        uv_tcp_t tcp;
        uv_handle_t handle;
    } in;
    uv_fs_t in_req;
    char *in_buf; /* for TRANSPORT_FILE reads */
    bool in_open;
    bool file_read_active;
    bool reading;
    bool paused; /* by back-pressure */
    bool eof;

    int out_fd;
    enum transport_io_kind out_kind;
    union {
        uv_pipe_t pipe;
        uv_tty_t tty;
        uv_tcp_t tcp;
        uv_handle_t handle;
    } out;
    bool out_open;
    bool out_failed;
    size_t out_pending_bytes; /* queued in libuv, not yet written */
    unsigned out_pending_writes;
    struct transport_chunk *out_batch; /* lines of this loop turn, not handed over */
    struct transport_chunk *reserve;   /* for short lines when malloc fails */
    bool reserve_busy;
    uv_check_t flush_check; /* hands out_batch over at the end of the turn */
    /* Active while lines wait in out_batch, so that the turn does not block
     * in poll before the check phase when they were written from a timer. */
    uv_idle_t flush_idle;

    struct framing framing;
    size_t pause_above; /* stop reading stdin when this much output waits */
    size_t resume_below;

    bool closing;
    unsigned open_handles;
};

/* Sets up the transport on the given descriptors. Returns 0 or a negative
 * libuv error code. */
int transport_init(struct transport *t, uv_loop_t *loop, int in_fd, int out_fd,
                   size_t max_line, const struct transport_callbacks *cb, void *data);

/* Starts reading stdin. */
int transport_start(struct transport *t);

/* Stops reading stdin for good (EOF or shutdown). */
void transport_stop_reading(struct transport *t);

/* Queues line + "\n" for stdout, copying it. Returns 0; UV_ENOMEM when
 * there was no memory for the copy (the line is dropped, lines queued
 * before it are kept, and the transport stays usable: a short line, such
 * as an error reply, can still go through a reserve allocated at init);
 * or UV_EPIPE when stdout has failed. */
int transport_write(struct transport *t, const char *line, size_t len);

/* True when no output is waiting to be written. */
bool transport_flushed(const struct transport *t);

/* Closes both sides once queued output is written (or has failed);
 * on_closed is called when everything is released. */
void transport_close(struct transport *t);

void transport_finish(struct transport *t);

#endif
