/* The audit log: one JSON line per tool call (time, client, persona, tool, masked
 * arguments, outcome, upstream request id, HTTP status, duration), appended
 * with one write per batch of whole lines so concurrent writers and log
 * shippers never see half a line. The file is reopened on SIGHUP so it
 * survives rotation; the line passes the redaction step, so the key can
 * never be written. Writes run off the event loop (uv_fs_write) behind a
 * bounded queue: storage that does not keep up costs lines, counted and
 * logged, never the server's responsiveness. */
#ifndef MSG91_AUDIT_H
#define MSG91_AUDIT_H

#include <jansson.h>
#include <stddef.h>
#include <uv.h>

/* A string in a line keeps at most this many bytes of its value, then a
 * marker with the full length: "xxxx...[3000000 bytes]". */
#define AUDIT_STRING_MAX 256
/* No line is longer; past it the arguments are left out, with a marker. */
#define AUDIT_LINE_MAX 16384
/* Bytes of whole lines that may wait behind the write in flight. */
#define AUDIT_QUEUE_MAX ((size_t)1024 * 1024)

struct audit_log;

/* Who made a call; each member may be NULL. */
struct audit_caller {
    const char *name;      /* the client's, from initialize */
    const char *version;   /* the client's, from initialize */
    const char *persona;   /* the persona the call was made as */
    const char *transport; /* "stdio", "http", "https" */
    const char *address;   /* the client's address (HTTP) */
};

struct audit_entry {
    struct audit_caller who;
    const char *tool;
    json_t *arguments;      /* borrowed; masked in the line, not in place */
    const char *outcome;    /* "ok", "tool_error", "invalid_arguments",
                               "refused", "dry_run", "cancelled", and for
                               sending calls (safe_send.h) "replayed",
                               "duplicate", "limited" */
    const char *error;      /* what went wrong, or NULL */
    const char *request_id; /* upstream's request id, or NULL */
    long http_status;       /* 0 when nothing was answered */
    double duration_ms;
};

/* Opens path for appending, creating it with mode 0600 and setting an
 * existing file to 0600. Only a regular file is accepted: never a symbolic
 * link, a FIFO or a device (the open cannot block). Writes run on loop.
 * Returns NULL with *error set to a malloc'd sentence (NULL when even that
 * could not be allocated). */
struct audit_log *audit_open(uv_loop_t *loop, const char *path, char **error);

/* Reopens the same path with the same checks: after logrotate moved the
 * file away, new lines go to a fresh file. When the path cannot be used,
 * keeps the old file, logs why and returns a negative error. */
int audit_reopen(struct audit_log *log);

/* Queues one line; never blocks. A line that does not fit in the queue is
 * dropped and counted, and the count is logged once the file catches up. */
void audit_write(struct audit_log *log, const struct audit_entry *entry);

/* Accepts NULL. Lines already queued are still written: the log is freed
 * once the last write ends, so the loop must run after this call. */
void audit_close(struct audit_log *log);

#endif
