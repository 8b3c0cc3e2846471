/* The SQLite backend: one file shared by every process on the machine, in
 * WAL mode, each operation one IMMEDIATE transaction (so two processes
 * never both see a key free). All statements run on one worker thread
 * that owns the connection: the loop only queues and collects. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

enum sq_stmt {
    SQ_BEGIN,
    SQ_COMMIT,
    SQ_ROLLBACK,
    SQ_GET,
    SQ_PUT,
    SQ_DEL,
    SQ_RATE_GET,
    SQ_RATE_PUT,
    SQ_FORGET,
    SQ_STATS,
    SQ_PURGE_CLAIMS,
    SQ_PURGE_RATES,
    SQ_COUNT
};

static const char *const sq_sql[SQ_COUNT] = {
    [SQ_BEGIN] = "BEGIN IMMEDIATE",
    [SQ_COMMIT] = "COMMIT",
    [SQ_ROLLBACK] = "ROLLBACK",
    [SQ_GET] =
        "SELECT state, fp, token, value, created_ms, lease_ms, expires_ms, "
        "window_ms FROM claims WHERE ns = ?1 AND persona = ?2 AND tool = ?3 AND key = ?4",
    [SQ_PUT] =
        "INSERT OR REPLACE INTO claims (ns, persona, tool, key, state, fp, token, "
        "value, created_ms, lease_ms, expires_ms, window_ms) VALUES (?1, ?2, ?3, ?4, "
        "?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
    [SQ_DEL] =
        "DELETE FROM claims WHERE ns = ?1 AND persona = ?2 AND tool = ?3 AND key = ?4",
    [SQ_RATE_GET] = "SELECT tat_us FROM rates WHERE key = ?1",
    [SQ_RATE_PUT] =
        "INSERT OR REPLACE INTO rates (key, tat_us, expires_ms) VALUES (?1, ?2, ?3)",
    [SQ_FORGET] = "DELETE FROM claims WHERE ns = 'i' AND key = ?1 AND (?2 IS NULL OR "
                  "persona = ?2) AND (?3 IS NULL OR tool = ?3) AND expires_ms > ?4",
    [SQ_STATS] = "SELECT "
                 "(SELECT count(*) FROM claims WHERE ns = 'i' AND state = 'p' AND "
                 " lease_ms > ?1 AND expires_ms > ?1), "
                 "(SELECT count(*) FROM claims WHERE ns = 'i' AND state = 'd' AND "
                 " expires_ms > ?1), "
                 "(SELECT count(*) FROM claims WHERE ns = 'i' AND (state = 'u' OR "
                 " (state = 'p' AND lease_ms <= ?1)) AND expires_ms > ?1), "
                 "(SELECT count(*) FROM claims WHERE ns = 'd' AND expires_ms > ?1), "
                 "(SELECT count(*) FROM rates WHERE expires_ms > ?1)",
    [SQ_PURGE_CLAIMS] = "DELETE FROM claims WHERE expires_ms <= ?1",
    [SQ_PURGE_RATES] = "DELETE FROM rates WHERE expires_ms <= ?1",
};

static const char sq_schema[] =
    "CREATE TABLE IF NOT EXISTS claims ("
    " ns TEXT NOT NULL, persona TEXT NOT NULL, tool TEXT NOT NULL, key TEXT NOT NULL,"
    " state TEXT NOT NULL, fp TEXT, token TEXT, value TEXT,"
    " created_ms INTEGER NOT NULL, lease_ms INTEGER NOT NULL, expires_ms INTEGER NOT "
    "NULL, window_ms INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY (ns, persona, tool, key)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS claims_expiry ON claims (expires_ms);"
    "CREATE TABLE IF NOT EXISTS rates ("
    " key TEXT PRIMARY KEY NOT NULL, tat_us INTEGER NOT NULL, expires_ms INTEGER NOT NULL"
    ") WITHOUT ROWID;";

/* Expired rows are removed every this many operations. */
#define SQ_PURGE_EVERY 256

struct sq_store {
    struct store *store;
    sqlite3 *db;
    sqlite3_stmt *stmt[SQ_COUNT];
    uv_thread_t thread;
    uv_mutex_t mu;
    uv_cond_t cond;
    struct store_op *head, *tail; /* guarded by mu */
    bool stopping;                /* guarded by mu */
    uv_async_t exited;
    unsigned ops;
};

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    if (s)
        sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

static int step_done(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : STORE_EUNAVAIL;
}

static void bind_scope(sqlite3_stmt *st, const struct store_op *op)
{
    char ns[2] = {op->ns, '\0'};
    sqlite3_bind_text(st, 1, ns, 1, SQLITE_TRANSIENT);
    bind_text(st, 2, op->persona);
    bind_text(st, 3, op->tool);
    bind_text(st, 4, op->key);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

/* Reads the entry into r (strings borrowed from the statement, which the
 * caller resets after use); returns whether a live entry exists, or
 * STORE_EUNAVAIL through *err. */
static bool get_record(struct sq_store *q, const struct store_op *op,
                       struct store_record *r, int64_t now, int *err)
{
    sqlite3_stmt *st = q->stmt[SQ_GET];
    bind_scope(st, op);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE)
        return false;
    if (rc != SQLITE_ROW) {
        *err = STORE_EUNAVAIL;
        return false;
    }
    const char *state = col_text(st, 0);
    r->state = (char)(state ? state[0] : STORE_STATE_UNKNOWN);
    r->fp = (char *)col_text(st, 1);
    r->token = (char *)col_text(st, 2);
    r->value = (char *)col_text(st, 3);
    r->created_ms = sqlite3_column_int64(st, 4);
    r->lease_until_ms = sqlite3_column_int64(st, 5);
    r->expires_ms = sqlite3_column_int64(st, 6);
    r->window_ms = sqlite3_column_int64(st, 7);
    return r->expires_ms > now;
}

static int put_record(struct sq_store *q, const struct store_op *op,
                      const struct store_record *r)
{
    sqlite3_stmt *st = q->stmt[SQ_PUT];
    bind_scope(st, op);
    char state[2] = {r->state, '\0'};
    sqlite3_bind_text(st, 5, state, 1, SQLITE_TRANSIENT);
    /* The strings may live in SQ_GET's row: copy them now. */
    sqlite3_bind_text(st, 6, r->fp, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 7, r->token, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 8, r->value, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 9, r->created_ms);
    sqlite3_bind_int64(st, 10, r->lease_until_ms);
    sqlite3_bind_int64(st, 11, r->expires_ms);
    sqlite3_bind_int64(st, 12, r->window_ms);
    return step_done(st);
}

static int run_claim(struct sq_store *q, struct store_op *op, int64_t now)
{
    struct store_record r = {0};
    int err = 0;
    bool exists = get_record(q, op, &r, now, &err);
    if (err == 0 && store__rule_claim(op, exists, &r, now))
        err = put_record(q, op, &r);
    sqlite3_reset(q->stmt[SQ_GET]);
    return err;
}

static int run_settle(struct sq_store *q, struct store_op *op, int64_t now)
{
    struct store_record r = {0};
    int err = 0;
    bool exists = get_record(q, op, &r, now, &err);
    if (err == 0) {
        op->status = store__rule_settle(op, exists, &r, now);
        if (op->status == 0 && r.state == STORE_STATE_DELETE) {
            bind_scope(q->stmt[SQ_DEL], op);
            err = step_done(q->stmt[SQ_DEL]);
        } else if (op->status == 0) {
            err = put_record(q, op, &r);
        }
    }
    sqlite3_reset(q->stmt[SQ_GET]);
    return err;
}

static int run_rate(struct sq_store *q, struct store_op *op, int64_t now)
{
    sqlite3_stmt *get = q->stmt[SQ_RATE_GET];
    bind_text(get, 1, op->key);
    int rc = sqlite3_step(get);
    int64_t tat = rc == SQLITE_ROW ? sqlite3_column_int64(get, 0) : 0;
    sqlite3_reset(get);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return STORE_EUNAVAIL;
    if (!store__rule_rate(op, &tat, now * 1000))
        return 0;
    sqlite3_stmt *put = q->stmt[SQ_RATE_PUT];
    bind_text(put, 1, op->key);
    sqlite3_bind_int64(put, 2, tat);
    sqlite3_bind_int64(put, 3, (tat + 999) / 1000);
    return step_done(put);
}

static int run_forget(struct sq_store *q, struct store_op *op, int64_t now)
{
    sqlite3_stmt *st = q->stmt[SQ_FORGET];
    bind_text(st, 1, op->key);
    bind_text(st, 2, op->persona);
    bind_text(st, 3, op->tool);
    sqlite3_bind_int64(st, 4, now);
    int err = step_done(st);
    op->count = sqlite3_changes(q->db);
    return err;
}

static int run_stats(struct sq_store *q, struct store_op *op, int64_t now)
{
    sqlite3_stmt *st = q->stmt[SQ_STATS];
    sqlite3_bind_int64(st, 1, now);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        op->stats.idem_pending = sqlite3_column_int64(st, 0);
        op->stats.idem_done = sqlite3_column_int64(st, 1);
        op->stats.idem_unknown = sqlite3_column_int64(st, 2);
        op->stats.dup_entries = sqlite3_column_int64(st, 3);
        op->stats.rate_keys = sqlite3_column_int64(st, 4);
    }
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : STORE_EUNAVAIL;
}

static int run_purge(struct sq_store *q, int64_t now)
{
    sqlite3_bind_int64(q->stmt[SQ_PURGE_CLAIMS], 1, now);
    sqlite3_bind_int64(q->stmt[SQ_PURGE_RATES], 1, now);
    int err = step_done(q->stmt[SQ_PURGE_CLAIMS]);
    return err ? err : step_done(q->stmt[SQ_PURGE_RATES]);
}

typedef int run_fn(struct sq_store *q, struct store_op *op, int64_t now);

/* One operation, one transaction. Any SQLite failure (the busy timeout
 * passed, the disk is full, the file went bad) is STORE_EUNAVAIL: the
 * caller refuses the send rather than guess. */
static void run_op(struct sq_store *q, struct store_op *op)
{
    if (step_done(q->stmt[SQ_BEGIN]) != 0) {
        op->status = STORE_EUNAVAIL;
        return;
    }
    static run_fn *const run[] = {
        [STORE_OP_CLAIM] = run_claim, [STORE_OP_SETTLE] = run_settle,
        [STORE_OP_RATE] = run_rate,   [STORE_OP_FORGET] = run_forget,
        [STORE_OP_STATS] = run_stats,
    };
    int64_t now = store__now_ms();
    int err = run[op->kind](q, op, now);
    if (err == 0 && ++q->ops % SQ_PURGE_EVERY == 0)
        err = run_purge(q, now);
    if (err == 0 && step_done(q->stmt[SQ_COMMIT]) == 0)
        return;
    step_done(q->stmt[SQ_ROLLBACK]);
    op->status = STORE_EUNAVAIL;
}

static void worker(void *arg)
{
    struct sq_store *q = arg;
    for (;;) {
        uv_mutex_lock(&q->mu);
        while (!q->head && !q->stopping)
            uv_cond_wait(&q->cond, &q->mu);
        struct store_op *op = q->head;
        if (op) {
            q->head = op->next;
            if (!q->head)
                q->tail = NULL;
        }
        uv_mutex_unlock(&q->mu);
        if (!op)
            break; /* stopping, and the queue is empty */
        run_op(q, op);
        store__complete(q->store, op);
    }
    uv_async_send(&q->exited);
}

static void sq_submit(struct store *s, struct store_op *op)
{
    struct sq_store *q = store__common(s)->impl;
    uv_mutex_lock(&q->mu);
    store__queue_push(&q->head, &q->tail, op);
    uv_cond_signal(&q->cond);
    uv_mutex_unlock(&q->mu);
}

static void sq_free(struct sq_store *q)
{
    for (int i = 0; i < SQ_COUNT; i++)
        sqlite3_finalize(q->stmt[i]);
    sqlite3_close(q->db);
    uv_cond_destroy(&q->cond);
    uv_mutex_destroy(&q->mu);
    free(q);
}

static void on_exited_closed(uv_handle_t *h)
{
    struct sq_store *q = h->data;
    struct store *s = q->store;
    sq_free(q);
    store__backend_closed(s);
}

static void on_init_failed_closed(uv_handle_t *h)
{
    sq_free(h->data);
}

static void on_exited(uv_async_t *a)
{
    struct sq_store *q = a->data;
    /* The worker has sent its last completion and is returning. */
    uv_thread_join(&q->thread);
    uv_close((uv_handle_t *)&q->exited, on_exited_closed);
}

static void sq_close(struct store *s)
{
    struct sq_store *q = store__common(s)->impl;
    uv_mutex_lock(&q->mu);
    q->stopping = true;
    uv_cond_signal(&q->cond);
    uv_mutex_unlock(&q->mu);
}

static const struct store_backend store__sqlite_backend = {
    .name = "sqlite",
    .submit = sq_submit,
    .close = sq_close,
};

/* A file made before the duplicate guard kept its window gets the column
 * (older binaries name their columns, so the default serves them). Two
 * processes may race here: the loser finds the column made. */
static int sq_add_window(struct sq_store *q)
{
    sqlite3_stmt *st = NULL;
    int rc =
        sqlite3_prepare_v2(q->db, "SELECT window_ms FROM claims LIMIT 0", -1, &st, NULL);
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        return rc;
    rc = sqlite3_exec(
        q->db, "ALTER TABLE claims ADD COLUMN window_ms INTEGER NOT NULL DEFAULT 0", NULL,
        NULL, NULL);
    if (rc == SQLITE_ERROR &&
        sqlite3_prepare_v2(q->db, "SELECT window_ms FROM claims LIMIT 0", -1, &st,
                           NULL) == SQLITE_OK)
        rc = SQLITE_OK;
    sqlite3_finalize(st);
    return rc;
}

/* Switches the file to WAL and makes the schema: an SQLite code. */
static int sq_prepare_file(struct sq_store *q)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(q->db, "PRAGMA journal_mode=WAL", -1, &st, NULL);
    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *mode = (const char *)sqlite3_column_text(st, 0);
        rc = mode && strcmp(mode, "wal") == 0 ? SQLITE_OK : SQLITE_CANTOPEN;
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_OK)
        return rc;
    /* WAL with synchronous=NORMAL survives a crash of the process, which
     * is what claims must; a power cut may lose the last commits. */
    rc = sqlite3_exec(q->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(q->db, sq_schema, NULL, NULL, NULL);
    return rc == SQLITE_OK ? sq_add_window(q) : rc;
}

/* Opens the file, switches it to WAL and makes the schema; 0 or a
 * sentence in err. */
static int sq_open_db(struct sq_store *q, const char *path, uint32_t busy_ms, char *err,
                      size_t err_size)
{
    /* store_open made the file, for its owner only: the -wal and -shm
     * files SQLite makes take its mode. */
    int rc = sqlite3_open_v2(
        path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
        NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(q->db, (int)busy_ms);
    /* Processes that start together all switch a new file to WAL and make
     * its schema at once; the switch takes an exclusive lock, for which
     * SQLite may answer SQLITE_BUSY without waiting. That is not a failure
     * of the store: try again until the busy timeout has passed (this runs
     * on the opener thread, never on the loop). */
    uint64_t deadline = uv_hrtime() + (uint64_t)busy_ms * 1000000u;
    while ((rc = sq_prepare_file(q)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
        if (uv_hrtime() >= deadline)
            break;
        uv_sleep(10);
    }
    for (int i = 0; rc == SQLITE_OK && i < SQ_COUNT; i++)
        rc = sqlite3_prepare_v3(q->db, sq_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
                                &q->stmt[i], NULL);
    if (rc == SQLITE_OK)
        return 0;
fail:
    snprintf(err, err_size, "cannot open the SQLite state store %s: %s", path,
             q->db ? sqlite3_errmsg(q->db) : sqlite3_errstr(rc));
    /* STORE_EINVAL: the file can never be used as it is (not a database,
     * damaged, not ours to write, no WAL there); anything else (busy
     * beyond the timeout, a full disk, an I/O error) may pass. */
    switch (rc & 0xff) {
    case SQLITE_NOTADB:
    case SQLITE_CORRUPT:
    case SQLITE_CANTOPEN:
    case SQLITE_PERM:
    case SQLITE_READONLY:
    case SQLITE_AUTH:
        return STORE_EINVAL;
    default:
        return STORE_EUNAVAIL;
    }
}

int store__sqlite_connect(const char *path, uint32_t busy_ms, void **conn, char *err,
                          size_t err_size)
{
    *conn = NULL;
    struct sq_store *q = calloc(1, sizeof *q);
    if (!q) {
        snprintf(err, err_size, "out of memory");
        return STORE_ENOMEM;
    }
    int rc = STORE_ENOMEM;
    if (uv_mutex_init(&q->mu) != 0)
        goto fail_free;
    if (uv_cond_init(&q->cond) != 0)
        goto fail_mutex;
    rc = sq_open_db(q, path, busy_ms, err, err_size);
    if (rc != 0) {
        sq_free(q);
        return rc;
    }
    *conn = q;
    return 0;

fail_mutex:
    uv_mutex_destroy(&q->mu);
fail_free:
    free(q);
    snprintf(err, err_size, "out of memory");
    return rc;
}

void store__sqlite_disconnect(void *conn)
{
    if (conn)
        sq_free(conn);
}

int store__sqlite_start(struct store *s, void *conn, char *err, size_t err_size)
{
    struct store_common *c = store__common(s);
    struct sq_store *q = conn;
    q->store = s;
    if (uv_async_init(c->loop, &q->exited, on_exited) != 0) {
        sq_free(q);
        snprintf(err, err_size, "out of memory");
        return STORE_ENOMEM;
    }
    q->exited.data = q;
    if (uv_thread_create(&q->thread, worker, q) != 0) {
        /* The loop holds the handle until it is closed: q goes then. */
        uv_close((uv_handle_t *)&q->exited, on_init_failed_closed);
        snprintf(err, err_size, "cannot start the SQLite store's worker thread");
        return STORE_ENOMEM;
    }
    c->impl = q;
    c->backend = &store__sqlite_backend;
    return 0;
}
