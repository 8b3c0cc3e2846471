#include "server/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "util/dynbuf.h"
#include "util/log.h"
#include "util/redact.h"

/* Lines go to the file one batch at a time through uv_fs_write, which runs
 * on libuv's thread pool: the batch in flight, and behind it a queue of
 * whole lines bounded by AUDIT_QUEUE_MAX. */
struct audit_log {
    uv_loop_t *loop;
    char *path;
    int fd;
    struct dynbuf queue;
    size_t queued_lines;
    uv_fs_t req;
    char *batch; /* the lines being written (malloc'd), or NULL */
    size_t batch_len, batch_done, batch_lines;
    int batch_fd;          /* the descriptor the batch goes to */
    unsigned long dropped; /* lines dropped since the last report */
    bool closing;
};

/* Not errno values: what open_private found at the path. */
#define NOT_REGULAR (-4096)
#define NOT_PRIVATE (-4097)

/* O_NOFOLLOW refuses a symbolic link planted at the path (in a shared
 * directory it could point anywhere the server may write). O_NONBLOCK keeps
 * the open of a FIFO from waiting for a reader for ever, on the loop
 * thread. The type is checked on the descriptor, not the path, which could
 * be swapped between a check and the open. */
static int open_private(const char *path)
{
    int fd = open(path,
                  O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK |
                      O_NOCTTY,
                  0600);
    if (fd < 0)
        return -errno;
    struct stat st;
    int rc = 0;
    if (fstat(fd, &st) != 0)
        rc = -errno;
    else if (!S_ISREG(st.st_mode))
        rc = NOT_REGULAR;
    else if ((st.st_mode & 07777) != 0600 && fchmod(fd, 0600) != 0)
        rc = NOT_PRIVATE;
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return fd;
}

static const char *open_failure(int err)
{
    switch (err) {
    case NOT_REGULAR:
    case -ENXIO: /* a FIFO or socket with nobody at the other end */
        return "it is not a regular file (a FIFO, socket or device); the audit log "
               "must be a plain file";
    case NOT_PRIVATE:
        return "its mode cannot be set to 0600 (is it owned by another user?)";
    case -ELOOP:
        return "it is a symbolic link, and the audit log is never opened through one";
    default:
        return strerror(-err);
    }
}

struct audit_log *audit_open(uv_loop_t *loop, const char *path, char **error)
{
    *error = NULL;
    int fd = open_private(path);
    if (fd < 0) {
        if (asprintf(error, "cannot open the audit log %s: %s", path, open_failure(fd)) <
            0)
            *error = NULL;
        return NULL;
    }
    struct audit_log *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        close(fd);
        *error = strdup("out of memory while opening the audit log");
        return NULL;
    }
    log->loop = loop;
    log->fd = fd;
    log->req.data = log;
    /* enqueue checks the bound first; this one only catches a mistake. */
    dynbuf_init(&log->queue, AUDIT_QUEUE_MAX + 1);
    return log;
}

int audit_reopen(struct audit_log *log)
{
    int fd = open_private(log->path);
    if (fd < 0) {
        log_error("cannot reopen the audit log %s: %s; keeping the old file", log->path,
                  open_failure(fd));
        return fd;
    }
    int old = log->fd;
    log->fd = fd;
    /* The write in flight still uses the old descriptor: it is closed when
     * that write ends. */
    if (!log->batch || log->batch_fd != old)
        close(old);
    log_info("audit log reopened");
    return 0;
}

static void destroy(struct audit_log *log)
{
    close(log->fd);
    dynbuf_finish(&log->queue);
    free(log->path);
    free(log);
}

/* Frees the batch, and the descriptor it went to when the file was
 * reopened meanwhile. */
static void release_batch(struct audit_log *log)
{
    free(log->batch);
    log->batch = NULL;
    if (log->batch_fd != log->fd)
        close(log->batch_fd);
}

static void drop_batch(struct audit_log *log, const char *why)
{
    log_error("cannot write the audit log %s: %s; %zu line(s) lost", log->path, why,
              log->batch_lines);
    release_batch(log);
}

static void on_written(uv_fs_t *req);

/* Writes what is left of the batch. Returns 0 or a libuv error. */
static int submit(struct audit_log *log)
{
    uv_buf_t buf = uv_buf_init(log->batch + log->batch_done,
                               (unsigned)(log->batch_len - log->batch_done));
    int rc = uv_fs_write(log->loop, &log->req, log->batch_fd, &buf, 1, -1, on_written);
    if (rc < 0)
        uv_fs_req_cleanup(&log->req);
    return rc;
}

/* Starts the next batch when none is in flight, and frees a closed log
 * once it has nothing left to write. */
static void settle(struct audit_log *log)
{
    while (!log->batch && dynbuf_len(&log->queue) > 0) {
        log->batch = dynbuf_take(&log->queue, &log->batch_len);
        log->batch_lines = log->queued_lines;
        log->queued_lines = 0;
        log->batch_done = 0;
        log->batch_fd = log->fd;
        int rc = submit(log);
        if (rc < 0)
            drop_batch(log, uv_strerror(rc));
    }
    if (log->closing && !log->batch)
        destroy(log);
}

static void on_written(uv_fs_t *req)
{
    struct audit_log *log = req->data;
    ssize_t n = req->result;
    uv_fs_req_cleanup(req);
    if (n <= 0) {
        drop_batch(log, n < 0 ? uv_strerror((int)n) : "nothing was written");
    } else if ((size_t)n < log->batch_len - log->batch_done) {
        /* A short write (the disk filled up, say): finish the torn line
         * rather than leave half of it. */
        log->batch_done += (size_t)n;
        int rc = submit(log);
        if (rc == 0)
            return;
        drop_batch(log, uv_strerror(rc));
    } else {
        release_batch(log);
    }
    if (log->dropped) {
        log_warning("%lu audit line(s) were dropped because %s did not keep up",
                    log->dropped, log->path);
        log->dropped = 0;
    }
    settle(log);
}

static void enqueue(struct audit_log *log, const char *line, size_t len)
{
    unsigned long lost = 0;
    if (dynbuf_len(&log->queue) + len > AUDIT_QUEUE_MAX) {
        lost = 1;
    } else if (dynbuf_append(&log->queue, line, len) != DYNBUF_OK) {
        /* A failed append frees the queue, and the lines in it. */
        lost = log->queued_lines + 1;
        log->queued_lines = 0;
    } else {
        log->queued_lines++;
    }
    if (lost) {
        if (log->dropped == 0)
            log_warning(
                "the audit log %s is not keeping up; dropping lines until it does",
                log->path);
        log->dropped += lost;
        return;
    }
    settle(log);
}

void audit_close(struct audit_log *log)
{
    if (!log)
        return;
    log->closing = true;
    settle(log);
}

/* A JSON string of at most max bytes of s, then a marker with the full
 * length. The cut never splits a UTF-8 sequence. */
static json_t *capped_string(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return json_stringn(s, len);
    size_t n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
        n--;
    char *buf = malloc(n + 32);
    if (!buf)
        return NULL;
    memcpy(buf, s, n);
    int m = snprintf(buf + n, 32, "...[%zu bytes]", len);
    json_t *out = json_stringn(buf, n + (size_t)m);
    free(buf);
    return out;
}

/* A string argument named key: masked when personal, then capped. */
static json_t *masked_string(const char *key, json_t *value)
{
    const char *s = json_string_value(value);
    size_t len = json_string_length(value);
    enum log_personal kind =
        key ? log_personal_kind(key, strlen(key), s, len) : LOG_PERSONAL_NONE;
    if (kind == LOG_PERSONAL_CODE)
        return json_string("****");
    if (kind == LOG_PERSONAL_NONE)
        return capped_string(s, len, AUDIT_STRING_MAX);
    char *copy = malloc(len + 1);
    if (!copy)
        return json_string("****");
    memcpy(copy, s, len + 1);
    log_mask_phone(copy, len);
    json_t *out = capped_string(copy, len, AUDIT_STRING_MAX);
    free(copy);
    return out;
}

/* A number where a personal value belongs ({"mobile": 919876543210}, a
 * call the schema refuses, is audited too) is masked as its text would be. */
static json_t *masked_number(const char *key, json_t *value)
{
    char text[64];
    if (json_is_integer(value))
        snprintf(text, sizeof text, "%" JSON_INTEGER_FORMAT, json_integer_value(value));
    else
        snprintf(text, sizeof text, "%.17g", json_real_value(value));
    size_t len = strlen(text);
    switch (key ? log_personal_kind(key, strlen(key), text, len) : LOG_PERSONAL_NONE) {
    case LOG_PERSONAL_CODE:
        return json_string("****");
    case LOG_PERSONAL_PHONE:
        log_mask_phone(text, len);
        return json_string(text);
    case LOG_PERSONAL_NONE:
        break;
    }
    return json_copy(value);
}

/* Bytes a string takes in the line, escapes included. */
static size_t text_cost(const char *s, size_t len)
{
    size_t cost = len + 3;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20)
            cost += 5;
        else if (s[i] == '"' || s[i] == '\\')
            cost += 1;
    return cost;
}

#define ARGUMENTS_BUDGET (AUDIT_LINE_MAX / 2)
#define DEPTH_MAX 8
#define KEY_MAX 64

static json_t *capped_value(const char *key, json_t *value, unsigned depth,
                            size_t *budget);

/* Members are copied while the budget lasts; the rest are counted. */
static json_t *capped_object(json_t *value, unsigned depth, size_t *budget)
{
    json_t *copy = json_object();
    const char *k;
    json_t *v;
    size_t left_out = 0;
    json_object_foreach(value, k, v) {
        size_t klen = strlen(k);
        if (!copy || *budget < text_cost(k, klen > KEY_MAX ? KEY_MAX : klen) + 8) {
            left_out++;
            continue;
        }
        json_t *ck = capped_string(k, klen, KEY_MAX);
        *budget -= text_cost(k, klen > KEY_MAX ? KEY_MAX : klen);
        if (!ck || json_object_set_new(copy, json_string_value(ck),
                                       capped_value(k, v, depth + 1, budget)) != 0)
            left_out++;
        json_decref(ck);
    }
    if (left_out && copy) {
        char note[64];
        snprintf(note, sizeof note, "[%zu more members]", left_out);
        json_object_set_new(copy, "...", json_string(note));
    }
    return copy;
}

static json_t *capped_array(const char *key, json_t *value, unsigned depth,
                            size_t *budget)
{
    json_t *copy = json_array();
    size_t i, left_out = 0;
    json_t *v;
    json_array_foreach(value, i, v) {
        if (!copy || *budget < 8 ||
            json_array_append_new(copy, capped_value(key, v, depth + 1, budget)) != 0)
            left_out++;
    }
    if (left_out && copy) {
        char note[64];
        snprintf(note, sizeof note, "...[%zu more items]", left_out);
        json_array_append_new(copy, json_string(note));
    }
    return copy;
}

/* The copy of an argument that goes into the line: personal values masked
 * (keys name them, and an array inherits its key), strings capped, and no
 * more members, items or depth than the line has room for. */
static json_t *capped_value(const char *key, json_t *value, unsigned depth,
                            size_t *budget)
{
    if (depth > DEPTH_MAX && (json_is_object(value) || json_is_array(value)))
        return json_string("[nested too deep]");
    if (json_is_object(value))
        return capped_object(value, depth, budget);
    if (json_is_array(value))
        return capped_array(key, value, depth, budget);
    json_t *copy = json_is_string(value)   ? masked_string(key, value)
                   : json_is_number(value) ? masked_number(key, value)
                                           : json_copy(value);
    size_t cost = json_is_string(copy)
                      ? text_cost(json_string_value(copy), json_string_length(copy))
                      : 24;
    *budget -= cost < *budget ? cost : *budget;
    return copy;
}

static json_t *masked_arguments(json_t *arguments)
{
    size_t budget = ARGUMENTS_BUDGET;
    return arguments ? capped_value(NULL, arguments, 0, &budget) : json_object();
}

static json_t *capped(const char *s, size_t max)
{
    return s ? capped_string(s, strlen(s), max) : NULL;
}

static void timestamp(char *buf, size_t len)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

static json_t *line_object(const struct audit_entry *e)
{
    char when[40];
    timestamp(when, sizeof when);
    json_t *line =
        json_pack("{s:s,s:{s:o?,s:o?},s:o?,s:s,s:o,s:s}", "time", when, "client", "name",
                  capped(e->who.name, AUDIT_STRING_MAX), "version",
                  capped(e->who.version, AUDIT_STRING_MAX), "persona",
                  capped(e->who.persona, AUDIT_STRING_MAX), "tool", e->tool, "arguments",
                  masked_arguments(e->arguments), "outcome", e->outcome);
    if (!line)
        return NULL;
    if (e->who.transport)
        json_object_set_new(line, "transport", json_string(e->who.transport));
    if (e->who.address)
        json_object_set_new(line, "address", capped(e->who.address, AUDIT_STRING_MAX));
    if (e->error)
        json_object_set_new(line, "error",
                            capped(e->error, (size_t)4 * AUDIT_STRING_MAX));
    json_object_set_new(line, "request_id",
                        e->request_id ? capped(e->request_id, AUDIT_STRING_MAX)
                                      : json_null());
    json_object_set_new(line, "http_status",
                        e->http_status ? json_integer(e->http_status) : json_null());
    json_object_set_new(line, "duration_ms",
                        json_real((double)(long long)(e->duration_ms * 1000) / 1000.0));
    return line;
}

/* The line as text, redacted, with room for the newline; NULL when memory
 * ran out. */
static char *line_text(json_t *line, size_t *len)
{
    /* Nine significant digits print 6.865, not 6.8650000000000002. */
    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(9));
    if (!text)
        return NULL;
    *len = strlen(text);
    char *clean = NULL;
    if (redact_apply(text, *len, &clean, len) != 0)
        redact_mask_in_place(text, *len); /* no memory for a copy: fail closed */
    if (clean) {
        free(text);
        text = clean;
    }
    char *grown = realloc(text, *len + 2);
    if (!grown) {
        free(text);
        return NULL;
    }
    grown[(*len)++] = '\n';
    grown[*len] = '\0';
    return grown;
}

void audit_write(struct audit_log *log, const struct audit_entry *e)
{
    if (!log)
        return;
    json_t *line = line_object(e);
    size_t len = 0;
    char *text = line ? line_text(line, &len) : NULL;
    if (text && len > AUDIT_LINE_MAX) {
        /* Escapes or many small values can still add up. */
        char note[80];
        snprintf(note, sizeof note, "[left out: the line would have taken %zu bytes]",
                 len);
        free(text);
        json_object_set_new(line, "arguments", json_pack("{s:s}", "...", note));
        text = line_text(line, &len);
    }
    json_decref(line);
    if (!text) {
        log_error("cannot write the audit log %s: out of memory; 1 line lost", log->path);
        return;
    }
    enqueue(log, text, len);
    free(text);
}
