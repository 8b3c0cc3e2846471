/* The state store behind safe sends: idempotency claims, the duplicate
 * guard and rate limits, kept in memory (one process), in SQLite (every
 * process on one machine) or in Redis (many machines). Every operation is
 * asynchronous on a libuv loop and reports through its callback, on the
 * loop thread, exactly once; none blocks the loop. See doc/store.md. */
#ifndef MSG91_STORE_H
#define MSG91_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

/* Status codes: 0 or one of these. A function that returns an error never
 * calls the callback it was given. */
enum store_status {
    STORE_OK = 0,
    STORE_EINVAL = -1,    /* a malformed spec, key or argument */
    STORE_ENOMEM = -2,    /* out of memory */
    STORE_EUNAVAIL = -3,  /* the store cannot be reached: refuse sends, keep reads */
    STORE_ENOTOWNER = -4, /* the claim is no longer the caller's (forgotten) */
    STORE_ECLOSING = -5,  /* store_close() was called */
};

/* A sentence for a status; never names a secret. */
const char *store_strerror(int status);

enum store_log_level {
    STORE_LOG_DEBUG,
    STORE_LOG_INFO,
    STORE_LOG_WARNING,
    STORE_LOG_ERROR,
};

struct store_options {
    /* MSG91_STORE: "memory", "sqlite:PATH", "redis://[:password@]host:port[/db]".
     * NULL, "" or "sqlite:" mean SQLite at the default path, which falls back
     * to memory (with one warning) when it cannot be used. */
    const char *spec;
    uint32_t connect_timeout_ms; /* Redis: connect and handshake; 0: 2000 */
    uint32_t command_timeout_ms; /* Redis: per command; 0: 2000 */
    uint32_t busy_timeout_ms;    /* SQLite: wait for another writer; 0: 5000 */
    /* Where warnings and connection changes go (may be NULL). Messages are
     * whole sentences and never contain the Redis password. */
    void (*log)(void *data, enum store_log_level level, const char *msg);
    void *log_data;
};

struct store;

/* Opens the store the spec names. A SQLite file is opened (and its schema
 * created) here, before the loop serves anything; Redis is connected in
 * the background, and operations submitted meanwhile wait for it. On
 * success *out is the new store; errors are STORE_EINVAL (bad spec, or a
 * SQLite path given explicitly that cannot be opened) and STORE_ENOMEM,
 * with a sentence in err (no secret) when err is not NULL. After a
 * failure, run the loop once before closing it: handles made on the way
 * are closed asynchronously. */
int store_open(uv_loop_t *loop, const struct store_options *opts, struct store **out,
               char *err, size_t err_size);

/* Stops taking operations; those already submitted complete (Redis sends
 * what it holds and waits for the replies, up to the command timeout;
 * what times out, or waited for a connection that never came, gets
 * STORE_ECLOSING); then cb runs and the store is freed. */
void store_close(struct store *s, void (*cb)(void *data), void *data);

/* "memory", "sqlite" or "redis". */
const char *store_backend(const struct store *s);
/* What the store is, for people: "sqlite:/path", "memory",
 * "redis://host:port/db" (a password shows as "redis://:(hidden)@host:port/db"). */
const char *store_describe(const struct store *s);

/* Idempotency keys and duplicate-guard entries are scoped to a persona
 * ("" without personas) and a tool; neither may contain ':'. */
struct store_key {
    const char *persona;
    const char *tool;
    const char *key; /* 1 to 1024 bytes, no NUL */
};

#define STORE_TOKEN_SIZE 33 /* 32 hex digits and the NUL */

enum store_claim_outcome {
    STORE_CLAIMED,     /* the caller owns the key: do the work, then settle */
    STORE_IN_PROGRESS, /* another call holds it and its lease runs */
    STORE_REPLAY,      /* done earlier: result is the stored result */
    STORE_MISMATCH,    /* held for different arguments (idempotency only) */
    STORE_UNKNOWN,     /* its holder vanished or said so: outcome unknown */
};

struct store_claim {
    enum store_claim_outcome outcome;
    char token[STORE_TOKEN_SIZE]; /* STORE_CLAIMED: the proof of ownership */
    /* STORE_REPLAY and STORE_UNKNOWN: the stored value (result, request
     * id) or NULL; borrowed for the duration of the callback. */
    const char *result;
    int64_t created_ms; /* unix ms when the first call claimed it */
    int64_t expires_ms; /* unix ms when the entry ends */
};

typedef void (*store_claim_cb)(void *data, int status, const struct store_claim *c);
typedef void (*store_done_cb)(void *data, int status);
typedef void (*store_count_cb)(void *data, int status, int64_t count);

/* Claims an idempotency key with the fingerprint of the call's arguments
 * (any string; the caller hashes canonical arguments). A new claim holds
 * a lease of lease_ms: a claim still pending after it reports
 * STORE_UNKNOWN (the holder died between sending and storing), never
 * STORE_CLAIMED again. The entry lives ttl_ms from the claim. */
int store_idem_claim(struct store *s, const struct store_key *k, const char *fingerprint,
                     uint64_t lease_ms, uint64_t ttl_ms, store_claim_cb cb, void *data);
/* Stores the result of a claimed call (success or error) for ttl_ms from
 * now. STORE_ENOTOWNER when the entry is gone or another token holds it. */
int store_idem_complete(struct store *s, const struct store_key *k, const char *token,
                        const char *result, uint64_t ttl_ms, store_done_cb cb,
                        void *data);
/* The call may or may not have sent (a timeout after handing the request
 * over): later claims get STORE_UNKNOWN until the entry expires. */
int store_idem_mark_unknown(struct store *s, const struct store_key *k, const char *token,
                            store_done_cb cb, void *data);
/* Gives a claim back because nothing was sent (the call was refused
 * before the upstream request): the next claim starts afresh. */
int store_idem_release(struct store *s, const struct store_key *k, const char *token,
                       store_done_cb cb, void *data);
/* Forgets a key whatever its state (msg91-mcp state --forget). A NULL
 * persona or tool matches any; the count is how many entries went. */
int store_idem_forget(struct store *s, const char *persona, const char *tool,
                      const char *key, store_count_cb cb, void *data);

/* The duplicate guard: k->key is the fingerprint of the canonical
 * arguments. Atomically looks for a twin within the window and, if none,
 * records this call as in flight (STORE_CLAIMED, with a token). A twin is
 * reported as STORE_IN_PROGRESS (still running), STORE_REPLAY (succeeded;
 * result is its request id, or NULL) or STORE_UNKNOWN; its created_ms is
 * the earlier call's time and expires_ms the end of its entry (while
 * it runs: the longer of window and lease from its start; settled: the
 * window from its answer). */
int store_dup_begin(struct store *s, const struct store_key *k, uint64_t window_ms,
                    uint64_t lease_ms, store_claim_cb cb, void *data);

enum store_dup_outcome {
    STORE_DUP_SUCCEEDED, /* twins are refused until the window ends */
    STORE_DUP_FAILED,    /* the entry goes: an identical call may run */
    STORE_DUP_UNKNOWN,   /* refused like a success */
};

/* Settles what store_dup_begin recorded; request_id may be NULL. */
int store_dup_end(struct store *s, const struct store_key *k, const char *token,
                  enum store_dup_outcome outcome, const char *request_id,
                  store_done_cb cb, void *data);

/* Rate limits with GCRA (a sliding window, no double burst at a bucket
 * boundary): at most limit calls per period_ms for one key, spread out. */
struct store_rate {
    int allowed;            /* 1: the token was taken */
    int64_t remaining;      /* tokens left right now */
    int64_t retry_after_ms; /* refused: when one token is back */
    int64_t reset_after_ms; /* when the full limit is back */
};
typedef void (*store_rate_cb)(void *data, int status, const struct store_rate *r);
/* Takes one token for key (any string of 1 to 1024 bytes); limit >= 1. */
int store_rate_take(struct store *s, const char *key, uint64_t limit, uint64_t period_ms,
                    store_rate_cb cb, void *data);

/* What msg91-mcp state prints: live entries by kind. */
struct store_stats {
    int64_t idem_pending; /* claimed, lease running */
    int64_t idem_done;    /* result stored */
    int64_t idem_unknown; /* outcome unknown (or lease ran out) */
    int64_t dup_entries;  /* duplicate-guard entries in their window */
    int64_t rate_keys;    /* rate-limit keys not yet back to full */
};
typedef void (*store_stats_cb)(void *data, int status, const struct store_stats *st);
int store_stats(struct store *s, store_stats_cb cb, void *data);

#endif
