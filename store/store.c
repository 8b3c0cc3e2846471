/* The store's front: reads the spec, picks the backend, builds operation
 * records and delivers their completions on the loop thread. SQLite and
 * Redis are opened when the first operation comes, on a thread of their
 * own, so that nothing of them is on the way to a server's first reply. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/store_int.h"

#define STORE_KEY_MAX 1024

/* SQLite and Redis until the first operation has opened them. */
enum open_state {
    OPEN_IDLE,    /* the next operation (after retry_at) starts the opener */
    OPEN_RUNNING, /* the opener thread loads the module and opens the file */
};

/* A failed open is tried again after this, doubling up to the maximum:
 * its cause may pass (the file busy, the disk full, the module replaced
 * by an upgrade). */
#define OPEN_BACKOFF_MIN_MS 1000
#define OPEN_BACKOFF_MAX_MS 30000

struct deferred {
    enum open_state state;
    bool fallback;       /* the default location: memory when SQLite never can be */
    bool failing;        /* the last open failed (and was logged) */
    uint64_t retry_at;   /* uv_now: until then operations fail at once */
    uint32_t backoff_ms; /* the wait after the next failure; 0: the minimum */
    char *path;          /* SQLite; NULL for Redis; kept for a retry */
    struct store_redis_spec redis;
    struct store_op *head, *tail; /* waiting for the open; loop thread only */
    uv_thread_t thread;
    /* The opener's result, set before it wakes the loop (guarded by mu). */
    bool finished;
    const struct store_module_api *api;
    void *conn;
    int rc;
    char err[400];
};

struct store {
    struct store_common c;
    struct deferred d;
    uv_async_t async;
    uv_mutex_t mu;
    struct store_op *done_head, *done_tail; /* guarded by mu */
    bool closing;
    void (*close_cb)(void *data);
    void *close_data;
};

const char *store_strerror(int status)
{
    switch (status) {
    case STORE_OK:
        return "success";
    case STORE_EINVAL:
        return "invalid argument";
    case STORE_ENOMEM:
        return "out of memory";
    case STORE_EUNAVAIL:
        return "the state store cannot be reached";
    case STORE_ENOTOWNER:
        return "the claim is no longer held by this call";
    case STORE_ECLOSING:
        return "the state store is closing";
    default:
        return "unknown store error";
    }
}

struct store_common *store__common(struct store *s)
{
    return &s->c;
}

int64_t store__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void store__log(struct store *s, enum store_log_level level, const char *fmt, ...)
{
    if (!s->c.opts.log)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    s->c.opts.log(s->c.opts.log_data, level, msg);
}

static void run_callback(struct store_op *op)
{
    const struct store_claim *c = op->status == STORE_OK ? &op->claim : NULL;
    switch (op->kind) {
    case STORE_OP_CLAIM:
        op->cb.claim(op->data, op->status, c);
        break;
    case STORE_OP_SETTLE:
        op->cb.done(op->data, op->status);
        break;
    case STORE_OP_FORGET:
        op->cb.count(op->data, op->status, op->status == STORE_OK ? op->count : 0);
        break;
    case STORE_OP_RATE:
        op->cb.rate(op->data, op->status, op->status == STORE_OK ? &op->rate : NULL);
        break;
    case STORE_OP_STATS:
        op->cb.stats(op->data, op->status, op->status == STORE_OK ? &op->stats : NULL);
        break;
    }
}

static void drain(struct store *s)
{
    for (;;) {
        uv_mutex_lock(&s->mu);
        struct store_op *op = s->done_head;
        s->done_head = s->done_tail = NULL;
        uv_mutex_unlock(&s->mu);
        if (!op)
            return;
        while (op) {
            struct store_op *next = op->next;
            run_callback(op);
            free(op->result);
            free(op);
            op = next;
        }
    }
}

static void deferred_opened(struct store *s);

static void on_async(uv_async_t *a)
{
    struct store *s = a->data;
    uv_mutex_lock(&s->mu);
    bool opened = s->d.finished;
    s->d.finished = false;
    uv_mutex_unlock(&s->mu);
    if (opened)
        deferred_opened(s);
    drain(s);
}

void store__queue_push(struct store_op **head, struct store_op **tail,
                       struct store_op *op)
{
    op->next = NULL;
    if (*tail)
        (*tail)->next = op;
    else
        *head = op;
    *tail = op;
}

void store__complete(struct store *s, struct store_op *op)
{
    uv_mutex_lock(&s->mu);
    store__queue_push(&s->done_head, &s->done_tail, op);
    uv_mutex_unlock(&s->mu);
    uv_async_send(&s->async);
}

static void on_async_closed(uv_handle_t *h)
{
    struct store *s = h->data;
    /* A completion posted after the last wake-up still gets its callback. */
    drain(s);
    uv_mutex_destroy(&s->mu);
    void (*cb)(void *) = s->close_cb;
    void *data = s->close_data;
    free(s);
    if (cb)
        cb(data);
}

void store__backend_closed(struct store *s)
{
    uv_close((uv_handle_t *)&s->async, on_async_closed);
}

void store_close(struct store *s, void (*cb)(void *data), void *data)
{
    if (!s || s->closing)
        return;
    s->closing = true;
    s->close_cb = cb;
    s->close_data = data;
    s->c.backend->close(s);
}

const char *store_backend(const struct store *s)
{
    return s->c.backend->name;
}

const char *store_describe(const struct store *s)
{
    return s->c.describe;
}

/* $XDG_STATE_HOME/msg91-mcp/state.db, or ~/.local/state/...; the folders
 * are made if missing. 0, or -1 when there is no usable place. */
static int default_path(char *buf, size_t size)
{
    const char *xdg = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    char base[4096];
    int n;
    /* The XDG spec ignores relative values. */
    if (xdg && xdg[0] == '/')
        n = snprintf(base, sizeof base, "%s", xdg);
    else if (home && home[0] == '/')
        n = snprintf(base, sizeof base, "%s/.local/state", home);
    else
        return -1;
    if (n < 0 || (size_t)n >= sizeof base)
        return -1;
    n = snprintf(buf, size, "%s/msg91-mcp", base);
    if (n < 0 || (size_t)n >= size)
        return -1;
    /* mkdir -p, component by component; existing folders are fine. */
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        int rc = mkdir(buf, 0700);
        *p = '/';
        if (rc != 0 && errno != EEXIST)
            return -1;
    }
    if (mkdir(buf, 0700) != 0 && errno != EEXIST)
        return -1;
    if (access(buf, W_OK | X_OK) != 0)
        return -1;
    size_t len = strlen(buf);
    if (len + sizeof "/state.db" > size)
        return -1;
    memcpy(buf + len, "/state.db", sizeof "/state.db");
    return 0;
}

static void fall_back_to_memory(struct store *s, const char *why)
{
    store__log(s, STORE_LOG_WARNING,
               "state store: the default SQLite store cannot be used (%s); keeping "
               "idempotency keys, duplicates and limits in memory, for this process only",
               why);
}

/* ---- the deferred open ---- */

static void deferred_free(struct deferred *d)
{
    free(d->path);
    d->path = NULL;
    store__redis_spec_free(&d->redis);
}

/* The opener thread: loads the module and, for SQLite, opens the file
 * (a few milliseconds of mapping libraries and reading the schema). */
static void opener(void *arg)
{
    struct store *s = arg;
    struct deferred *d = &s->d;
    char *error = NULL;
    char err[sizeof d->err] = "";
    void *conn = NULL;
    int rc = 0;
    const struct store_module_api *api = store__module(&error);
    if (!api) {
        snprintf(err, sizeof err, "%s", error ? error : "out of memory");
        rc = STORE_EUNAVAIL;
    } else if (d->path) {
        rc = api->sqlite_connect(d->path, s->c.opts.busy_timeout_ms, &conn, err,
                                 sizeof err);
    }
    free(error);
    uv_mutex_lock(&s->mu);
    d->api = api;
    d->conn = conn;
    d->rc = rc;
    memcpy(d->err, err, sizeof err);
    d->finished = true;
    uv_mutex_unlock(&s->mu);
    uv_async_send(&s->async);
}

/* The open failed: operations fail at once until the retry time, then
 * the next one tries again. Logged as an error once, until it opens. */
static void open_failed(struct store *s, const char *err)
{
    struct deferred *d = &s->d;
    uint32_t wait = d->backoff_ms ? d->backoff_ms : OPEN_BACKOFF_MIN_MS;
    d->retry_at = uv_now(s->c.loop) + wait;
    d->backoff_ms = wait * 2 > OPEN_BACKOFF_MAX_MS ? OPEN_BACKOFF_MAX_MS : wait * 2;
    store__log(s, d->failing ? STORE_LOG_DEBUG : STORE_LOG_ERROR,
               "state store %s cannot be opened (%s); sends that need it are refused, "
               "trying again in %u s",
               s->c.describe, err, (unsigned)(wait / 1000));
    d->failing = true;
}

/* Back on the loop: the real backend takes over, or memory (the default
 * location, when its file can never be used: STORE_EINVAL), or the open
 * is tried again later. */
static void deferred_opened(struct store *s)
{
    struct deferred *d = &s->d;
    uv_thread_join(&d->thread);
    d->state = OPEN_IDLE;
    char err[sizeof d->err];
    memcpy(err, d->err, sizeof err);
    int rc = d->rc;
    if (rc == 0)
        rc = d->path ? d->api->sqlite_start(s, d->conn, err, sizeof err)
                     : d->api->redis_start(s, &d->redis, err, sizeof err);
    d->conn = NULL;
    if (rc == STORE_EINVAL && d->fallback && store__memory_init(s) == 0) {
        fall_back_to_memory(s, err);
        rc = 0;
    }
    if (rc == 0 && d->failing)
        store__log(s, STORE_LOG_INFO, "state store %s: opened", s->c.describe);
    if (rc == 0 || s->closing)
        deferred_free(d);
    else
        open_failed(s, err);
    struct store_op *op = d->head;
    d->head = d->tail = NULL;
    while (op) {
        struct store_op *next = op->next;
        if (rc == 0) {
            s->c.backend->submit(s, op);
        } else {
            op->status = STORE_EUNAVAIL;
            store__complete(s, op);
        }
        op = next;
    }
    if (s->closing && rc == 0)
        s->c.backend->close(s);
    else if (s->closing)
        store__backend_closed(s);
}

static void deferred_submit(struct store *s, struct store_op *op)
{
    struct deferred *d = &s->d;
    if (d->state == OPEN_IDLE && d->failing && uv_now(s->c.loop) < d->retry_at) {
        op->status = STORE_EUNAVAIL;
        store__complete(s, op);
        return;
    }
    store__queue_push(&d->head, &d->tail, op);
    if (d->state != OPEN_IDLE)
        return;
    if (uv_thread_create(&d->thread, opener, s) != 0) {
        /* Nothing started: this operation fails, the next one tries again. */
        d->head = d->tail = NULL;
        op->status = STORE_EUNAVAIL;
        store__complete(s, op);
        return;
    }
    d->state = OPEN_RUNNING;
}

static void deferred_close(struct store *s)
{
    if (s->d.state == OPEN_RUNNING)
        return; /* deferred_opened closes what it opened */
    deferred_free(&s->d);
    store__backend_closed(s);
}

static const struct store_backend deferred_sqlite = {
    .name = "sqlite",
    .submit = deferred_submit,
    .close = deferred_close,
};

static const struct store_backend deferred_redis = {
    .name = "redis",
    .submit = deferred_submit,
    .close = deferred_close,
};

static int defer_sqlite(struct store *s, const char *path, bool fallback, char *err,
                        size_t err_size)
{
    /* Stored results name recipients: the file (and the -wal and -shm
     * files SQLite makes with its mode) is for its owner only. Making it
     * here also tells at start, for a few microseconds, when the path
     * cannot be used at all. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        snprintf(err, err_size, "cannot open the SQLite state store %s: %s", path,
                 strerror(errno));
        return STORE_EINVAL;
    }
    close(fd);
    s->d.path = strdup(path);
    if (!s->d.path) {
        snprintf(err, err_size, "out of memory");
        return STORE_ENOMEM;
    }
    s->d.fallback = fallback;
    s->c.backend = &deferred_sqlite;
    snprintf(s->c.describe, sizeof s->c.describe, "sqlite:%s", path);
    return 0;
}

static int defer_redis(struct store *s, const char *spec, char *err, size_t err_size)
{
    int rc = store__redis_parse(&s->d.redis, spec, err, err_size);
    if (rc != 0)
        return rc;
    s->c.backend = &deferred_redis;
    store__redis_describe(&s->d.redis, s->c.describe, sizeof s->c.describe);
    return 0;
}

static int open_backend(struct store *s, const char *spec, char *err, size_t err_size)
{
    if (strcmp(spec, "memory") == 0)
        return store__memory_init(s);
    if (strncmp(spec, "redis://", 8) == 0)
        return defer_redis(s, spec, err, err_size);
    if (strncmp(spec, "sqlite:", 7) == 0 && spec[7] != '\0')
        return defer_sqlite(s, spec + 7, false, err, err_size);
    if (spec[0] != '\0' && strcmp(spec, "sqlite:") != 0) {
        snprintf(err, err_size,
                 "MSG91_STORE must be sqlite:PATH, memory or "
                 "redis://[:password@]host:port[/db]");
        return STORE_EINVAL;
    }
    /* The default: SQLite where the state belongs, else memory. */
    char path[4096];
    char why[256] = "no state folder ($XDG_STATE_HOME or $HOME) is usable";
    if (default_path(path, sizeof path) == 0 &&
        defer_sqlite(s, path, true, why, sizeof why) == 0)
        return 0;
    int rc = store__memory_init(s);
    if (rc == 0)
        fall_back_to_memory(s, why);
    return rc;
}

int store_open(uv_loop_t *loop, const struct store_options *opts, struct store **out,
               char *err, size_t err_size)
{
    char scratch[8];
    if (!err) {
        err = scratch;
        err_size = sizeof scratch;
    }
    err[0] = '\0';
    struct store *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, err_size, "out of memory");
        return STORE_ENOMEM;
    }
    s->c.loop = loop;
    s->c.opts = *opts;
    if (!s->c.opts.connect_timeout_ms)
        s->c.opts.connect_timeout_ms = 2000;
    if (!s->c.opts.command_timeout_ms)
        s->c.opts.command_timeout_ms = 2000;
    if (!s->c.opts.busy_timeout_ms)
        s->c.opts.busy_timeout_ms = 5000;
    s->c.opts.spec = NULL; /* not ours to keep */
    int rc = uv_mutex_init(&s->mu);
    if (rc != 0)
        goto fail_free;
    rc = uv_async_init(loop, &s->async, on_async);
    if (rc != 0)
        goto fail_mutex;
    s->async.data = s;
    rc = open_backend(s, opts->spec ? opts->spec : "", err, err_size);
    if (rc != 0)
        goto fail_async;
    *out = s;
    return 0;

fail_async:
    /* The handle is closed on the next loop turn; the memory goes then. */
    deferred_free(&s->d);
    s->close_cb = NULL;
    uv_close((uv_handle_t *)&s->async, on_async_closed);
    return rc;
fail_mutex:
    uv_mutex_destroy(&s->mu);
fail_free:
    free(s);
    snprintf(err, err_size, "cannot set up the state store: %s", uv_strerror(rc));
    return STORE_ENOMEM;
}

/* Strings an op carries, copied behind it in one allocation. */
struct op_strings {
    const char *persona, *tool, *key, *fp, *token, *value;
};

static char *put(char **at, const char *src)
{
    if (!src)
        return NULL;
    size_t n = strlen(src) + 1;
    char *dst = *at;
    memcpy(dst, src, n);
    *at += n;
    return dst;
}

static int new_token(char token[STORE_TOKEN_SIZE])
{
    unsigned char raw[16];
    if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
        return -1;
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof raw; i++) {
        token[2 * i] = hex[raw[i] >> 4];
        token[2 * i + 1] = hex[raw[i] & 15];
    }
    token[32] = '\0';
    return 0;
}

/* Hands the backend a new op made of req (its kind, numbers, callback and
 * data) and copies of in's strings: 0, STORE_ECLOSING once the store is
 * closing, or STORE_ENOMEM. */
static int start(struct store *s, const struct store_op *req, const struct op_strings *in)
{
    if (s->closing)
        return STORE_ECLOSING;
    const char *all[] = {in->persona, in->tool, in->key, in->fp, in->token, in->value};
    size_t extra = 0;
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        extra += all[i] ? strlen(all[i]) + 1 : 0;
    struct store_op *op = malloc(sizeof *op + extra);
    if (!op)
        return STORE_ENOMEM;
    *op = *req;
    op->store = s;
    char *at = (char *)(op + 1);
    op->persona = put(&at, in->persona);
    op->tool = put(&at, in->tool);
    op->key = put(&at, in->key);
    op->fp = put(&at, in->fp);
    op->token = put(&at, in->token);
    op->value = put(&at, in->value);
    s->c.backend->submit(s, op);
    return 0;
}

static bool valid_scope_part(const char *p)
{
    return p && !strchr(p, ':') && strlen(p) <= STORE_KEY_MAX;
}

static bool valid_key(const char *k)
{
    size_t n = k ? strlen(k) : 0;
    return n >= 1 && n <= STORE_KEY_MAX;
}

static bool valid_store_key(const struct store_key *k)
{
    return k && valid_scope_part(k->persona) && valid_scope_part(k->tool) &&
           valid_key(k->key);
}

static int claim(struct store *s, char ns, const struct store_key *k, const char *fp,
                 uint64_t lease_ms, uint64_t ttl_ms, store_claim_cb cb, void *data)
{
    if (!s || !cb || !valid_store_key(k) || ttl_ms == 0 || ttl_ms > INT64_MAX / 2 ||
        lease_ms > INT64_MAX / 2)
        return STORE_EINVAL;
    char token[STORE_TOKEN_SIZE];
    if (new_token(token) != 0)
        return STORE_ENOMEM;
    struct op_strings in = {k->persona, k->tool, k->key, fp, token, NULL};
    struct store_op req = {.kind = STORE_OP_CLAIM,
                           .ns = ns,
                           .lease_ms = (int64_t)lease_ms,
                           .ttl_ms = (int64_t)ttl_ms,
                           .cb.claim = cb,
                           .data = data};
    return start(s, &req, &in);
}

int store_idem_claim(struct store *s, const struct store_key *k, const char *fingerprint,
                     uint64_t lease_ms, uint64_t ttl_ms, store_claim_cb cb, void *data)
{
    if (!fingerprint)
        return STORE_EINVAL;
    return claim(s, STORE_NS_IDEM, k, fingerprint, lease_ms, ttl_ms, cb, data);
}

int store_dup_begin(struct store *s, const struct store_key *k, uint64_t window_ms,
                    uint64_t lease_ms, store_claim_cb cb, void *data)
{
    return claim(s, STORE_NS_DUP, k, NULL, lease_ms, window_ms, cb, data);
}

static int settle(struct store *s, char ns, const struct store_key *k, const char *token,
                  char action, const char *value, int64_t ttl_ms, store_done_cb cb,
                  void *data)
{
    if (!s || !cb || !valid_store_key(k) || !token || ttl_ms > INT64_MAX / 2)
        return STORE_EINVAL;
    struct op_strings in = {k->persona, k->tool, k->key, NULL, token, value};
    struct store_op req = {.kind = STORE_OP_SETTLE,
                           .ns = ns,
                           .action = action,
                           .ttl_ms = ttl_ms,
                           .cb.done = cb,
                           .data = data};
    return start(s, &req, &in);
}

int store_idem_complete(struct store *s, const struct store_key *k, const char *token,
                        const char *result, uint64_t ttl_ms, store_done_cb cb, void *data)
{
    if (!result || ttl_ms == 0 || ttl_ms > INT64_MAX / 2)
        return STORE_EINVAL;
    return settle(s, STORE_NS_IDEM, k, token, STORE_STATE_DONE, result, (int64_t)ttl_ms,
                  cb, data);
}

int store_idem_mark_unknown(struct store *s, const struct store_key *k, const char *token,
                            store_done_cb cb, void *data)
{
    return settle(s, STORE_NS_IDEM, k, token, STORE_STATE_UNKNOWN, NULL, -1, cb, data);
}

int store_idem_release(struct store *s, const struct store_key *k, const char *token,
                       store_done_cb cb, void *data)
{
    return settle(s, STORE_NS_IDEM, k, token, STORE_STATE_DELETE, NULL, -1, cb, data);
}

int store_dup_end(struct store *s, const struct store_key *k, const char *token,
                  enum store_dup_outcome outcome, const char *request_id,
                  store_done_cb cb, void *data)
{
    char action;
    switch (outcome) {
    case STORE_DUP_SUCCEEDED:
        action = STORE_STATE_DONE;
        break;
    case STORE_DUP_UNKNOWN:
        action = STORE_STATE_UNKNOWN;
        break;
    case STORE_DUP_FAILED:
        action = STORE_STATE_DELETE;
        break;
    default:
        return STORE_EINVAL;
    }
    /* A success or unknown keeps twins out for the window from now (the
     * entry knows its window); a failure removes the entry. */
    return settle(s, STORE_NS_DUP, k, token, action, request_id, -1, cb, data);
}

int store_idem_forget(struct store *s, const char *persona, const char *tool,
                      const char *key, store_count_cb cb, void *data)
{
    if (!s || !cb || !valid_key(key) || (persona && !valid_scope_part(persona)) ||
        (tool && !valid_scope_part(tool)))
        return STORE_EINVAL;
    struct op_strings in = {persona, tool, key, NULL, NULL, NULL};
    struct store_op req = {
        .kind = STORE_OP_FORGET, .ns = STORE_NS_IDEM, .cb.count = cb, .data = data};
    return start(s, &req, &in);
}

int store_rate_take(struct store *s, const char *key, uint64_t limit, uint64_t period_ms,
                    store_rate_cb cb, void *data)
{
    /* Periods are kept in microseconds: up to about a century. */
    if (!s || !cb || !valid_key(key) || limit == 0 || period_ms == 0 ||
        limit > INT32_MAX || period_ms > (uint64_t)INT64_MAX / 1000000)
        return STORE_EINVAL;
    struct op_strings in = {NULL, NULL, key, NULL, NULL, NULL};
    struct store_op req = {.kind = STORE_OP_RATE,
                           .limit = (int64_t)limit,
                           .period_ms = (int64_t)period_ms,
                           .cb.rate = cb,
                           .data = data};
    return start(s, &req, &in);
}

int store_stats(struct store *s, store_stats_cb cb, void *data)
{
    if (!s || !cb)
        return STORE_EINVAL;
    struct op_strings in = {0};
    struct store_op req = {.kind = STORE_OP_STATS, .cb.stats = cb, .data = data};
    return start(s, &req, &in);
}
