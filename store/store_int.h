/* Inside the store: one operation record that every backend receives, the
 * backend table, and the rules that the memory and SQLite backends share
 * (Redis runs the same rules as Lua scripts). Not for users of store.h. */
#ifndef MSG91_STORE_INT_H
#define MSG91_STORE_INT_H

#include <stdbool.h>

#include "store/store.h"
#include "util/list.h"
#include "util/module.h"

enum store_op_kind {
    STORE_OP_CLAIM,  /* idem claim and dup begin */
    STORE_OP_SETTLE, /* complete, mark unknown, release, dup end */
    STORE_OP_FORGET,
    STORE_OP_RATE,
    STORE_OP_STATS,
};

/* Entry states, one letter: the same letters are stored in SQLite and
 * Redis. */
#define STORE_STATE_PENDING 'p'
#define STORE_STATE_DONE 'd'
#define STORE_STATE_UNKNOWN 'u'
#define STORE_STATE_DELETE 'x' /* settle action only */

/* Namespaces: idempotency keys and duplicate-guard entries. */
#define STORE_NS_IDEM 'i'
#define STORE_NS_DUP 'd'

struct store_op {
    struct store_op *next; /* singly linked queues (store__queue_push) */
    struct list link;      /* backends' in-flight lists */
    struct store *store;
    enum store_op_kind kind;
    char ns;
    /* Inputs, all in one allocation with the op (NULL when absent). For
     * forget, a NULL persona or tool is a wildcard. */
    char *persona, *tool, *key;
    char *fp;    /* claim: fingerprint, NULL for the duplicate guard */
    char *token; /* claim: the new token; settle: the owner's */
    char *value; /* settle: result or request id */
    char action; /* settle: STORE_STATE_DONE, _UNKNOWN or _DELETE */
    int64_t lease_ms;
    int64_t ttl_ms; /* claim: entry life; settle: from now, or -1: keep */
    int64_t limit, period_ms;
    /* Outputs. */
    int status;
    struct store_claim claim;
    char *result; /* owned copy behind claim.result */
    struct store_rate rate;
    struct store_stats stats;
    int64_t count;
    /* Backend scratch. */
    uint64_t deadline;
    int retried;
    union {
        store_claim_cb claim;
        store_done_cb done;
        store_count_cb count;
        store_rate_cb rate;
        store_stats_cb stats;
    } cb;
    void *data;
};

struct store_backend {
    const char *name;
    /* Takes the op: the backend calls store__complete() once, later. */
    void (*submit)(struct store *s, struct store_op *op);
    /* Begins shutting down; calls store__backend_closed() when done. */
    void (*close)(struct store *s);
};

struct store_common {
    uv_loop_t *loop;
    const struct store_backend *backend;
    void *impl;
    char describe[512];
    struct store_options opts;
};

/* From any thread: hands a finished op to the loop thread, which runs its
 * callback and frees it. */
void store__complete(struct store *s, struct store_op *op);
/* Appends op to the singly linked queue head..tail (the caller holds the
 * queue's lock). */
void store__queue_push(struct store_op **head, struct store_op **tail,
                       struct store_op *op);
void store__backend_closed(struct store *s);
struct store_common *store__common(struct store *s);
void store__log(struct store *s, enum store_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Unix time in milliseconds (wall clock: processes share it). */
int64_t store__now_ms(void);

/* One entry as the memory and SQLite backends keep it. */
struct store_record {
    char state;
    char *fp;
    char *token;
    char *value;
    int64_t created_ms;
    int64_t lease_until_ms;
    int64_t expires_ms;
    /* Duplicate guard: the window, kept so that settling can run it from
     * the answer (0: an idempotency key, or an entry from before). */
    int64_t window_ms;
};

/* What a claim does to the entry that exists (exists false: none, or
 * expired). Sets op->claim and op->result; returns true when the record
 * must be written back (created, or a lapsed lease turned unknown). */
bool store__rule_claim(struct store_op *op, bool exists, struct store_record *r,
                       int64_t now);
/* What a settle does: 0 and the new record (r->state STORE_STATE_DELETE:
 * remove it), or STORE_ENOTOWNER. */
int store__rule_settle(const struct store_op *op, bool exists, struct store_record *r,
                       int64_t now);
/* GCRA in microseconds: *tat is the stored theoretical arrival time (0:
 * none); on success the new one is in *tat and true is returned when it
 * must be stored (until *tat). */
bool store__rule_rate(struct store_op *op, int64_t *tat_us, int64_t now_us);
/* Does the entry (persona, tool, key) match a forget op? */
bool store__rule_forget_matches(const struct store_op *op, const char *persona,
                                const char *tool, const char *key);

extern const struct store_backend store__memory_backend;
int store__memory_init(struct store *s);

/* A redis:// spec, parsed (spec.c). */
struct store_redis_spec {
    char host[256];
    int port;
    int db;
    char *user;     /* NULL: AUTH with the password alone */
    char *password; /* NULL: no AUTH; never printed */
};
/* 0, or STORE_EINVAL with a sentence that names no secret. */
int store__redis_parse(struct store_redis_spec *rs, const char *spec, char *err,
                       size_t err_size);
/* Wipes the password and frees the strings. */
void store__redis_spec_free(struct store_redis_spec *rs);
/* "redis://host:port/db", the password hidden. */
void store__redis_describe(const struct store_redis_spec *rs, char *out, size_t size);

/* The SQLite and Redis backends live in a loadable module, so that neither
 * libsqlite3 nor libhiredis is mapped before a store operation needs them
 * (doc/store.md). The module exports one table. */
#define STORE_MODULE_ABI 1
#define STORE_MODULE_SYMBOL "store_module_table"
#define STORE_MODULE_FILE "msg91-mcp-store.so"

/* Any thread: opens and prepares the SQLite file; *conn goes to
 * store__sqlite_start or store__sqlite_disconnect. 0, or a sentence in err
 * and STORE_EINVAL (the file can never be used) or another status (a cause
 * that may pass: the open is tried again later). */
int store__sqlite_connect(const char *path, uint32_t busy_ms, void **conn, char *err,
                          size_t err_size);
void store__sqlite_disconnect(void *conn);
/* The loop thread: s uses conn from now on (conn is freed on failure). */
int store__sqlite_start(struct store *s, void *conn, char *err, size_t err_size);
/* The loop thread: s connects to Redis in the background; takes the
 * spec's strings. */
int store__redis_start(struct store *s, struct store_redis_spec *spec, char *err,
                       size_t err_size);

/* The table's members and the function each one is. */
#define STORE_MODULE_FUNCTIONS(X)                                                        \
    X(sqlite_connect, store__sqlite_connect)                                             \
    X(sqlite_disconnect, store__sqlite_disconnect)                                       \
    X(sqlite_start, store__sqlite_start)                                                 \
    X(redis_start, store__redis_start)

struct store_module_api {
    int abi_version;
    STORE_MODULE_FUNCTIONS(MODULE_MEMBER)
};

/* The module's table, from any thread: loaded once (loader.c, the
 * executable) or linked in (linked.c, the tests). NULL, and a malloc'd
 * sentence in *error (NULL when out of memory), when it cannot be had. */
const struct store_module_api *store__module(char **error);

#endif
