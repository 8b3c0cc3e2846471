/* Safe sends: decides, before a sending call goes upstream, whether it may
 * go (idempotency key, duplicate guard, country allowlist, per-recipient
 * and per-day limits, all kept in the state store), and records its
 * outcome after. A refusal is a finished CallToolResult with isError and a
 * sentence naming the rule and when it resets. Which tools send and whom
 * they send to is declared by the tools (tool_def.sends, .recipients); this
 * module only applies the rules. Design note: doc/server.md. */
#ifndef MSG91_SAFE_SEND_H
#define MSG91_SAFE_SEND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct store;

/* The argument that carries the idempotency key; it is no part of the
 * request, nor of the fingerprint that says whether two calls are the same. */
#define SAFE_SEND_KEY_ARG "idempotency_key"

/* Audit outcomes of calls this module answers. */
#define SAFE_SEND_REPLAYED "replayed"
#define SAFE_SEND_DUPLICATE "duplicate"
#define SAFE_SEND_LIMITED "limited"

/* Where a limit's value came from, for the refusal text. */
enum safe_send_source {
    SAFE_SEND_FROM_SERVER,  /* the server's setting */
    SAFE_SEND_FROM_PERSONA, /* the persona's "limits" */
};

/* One sending call, as the dispatch describes it. Everything is borrowed
 * for the duration of safe_send_begin only. */
struct safe_send_info {
    struct store *store;
    const char *persona; /* "" without personas */
    const char *tool;
    json_t *args;                /* the validated arguments without the key */
    const char *key;             /* the idempotency key, or NULL */
    json_t *numbers;             /* recipients: digit strings with country code */
    bool per_recipient;          /* counts against the per-recipient hourly limit */
    uint64_t ttl_ms;             /* idempotency results are kept this long */
    uint64_t window_ms;          /* duplicate window; 0: off */
    uint64_t lease_ms;           /* longer than the queue wait and the timeout */
    long per_recipient_per_hour; /* 0: no limit */
    enum safe_send_source per_recipient_from;
    long sends_per_day; /* 0: no limit */
    enum safe_send_source sends_per_day_from;
    /* Allowed country calling codes (digit strings), or NULL: all. */
    const char *const *country_codes;
    size_t n_country_codes;
    enum safe_send_source country_codes_from;
};

struct safe_send;

/* The verdict. refusal NULL: the call may go now (then report with
 * safe_send_finish). Otherwise refusal is the CallToolResult to return
 * (the callee owns it; NULL when memory ran out) and outcome the audit
 * outcome; the safe_send is already freed. */
typedef void (*safe_send_verdict_cb)(void *data, json_t *refusal, const char *outcome);

/* Starts the checks for one call. Returns the pending check (the verdict
 * comes through cb, from the loop, never from within this call), or NULL
 * when the verdict is already known: then *refusal and *outcome are set as
 * for the callback, and with *refusal NULL the call may go without any
 * record (no rule applies to it). */
struct safe_send *safe_send_begin(const struct safe_send_info *info,
                                  safe_send_verdict_cb cb, void *data, json_t **refusal,
                                  const char **outcome);

/* What the upstream call did, for the duplicate guard. */
enum safe_send_sent {
    SAFE_SEND_SUCCEEDED, /* it sent */
    SAFE_SEND_FAILED,    /* the upstream answered with an error: nothing sent */
    SAFE_SEND_UNKNOWN,   /* no answer: it may or may not have sent */
};

/* Records the result of a call that was let go (result is borrowed, a
 * CallToolResult; request_id may be NULL), then frees op and calls done:
 * from the loop once the store has it, or before this returns when there
 * is nothing to record. A store that fails here is logged; done still
 * runs. The idempotency result is stored whatever sent says. */
void safe_send_finish(struct safe_send *op, json_t *result, enum safe_send_sent sent,
                      const char *request_id, void (*done)(void *data), void *data);

/* The call was cancelled: no callback runs any more. What it holds in the
 * store is given back (maybe_sent false: nothing went upstream) or marked
 * unknown (it may have gone), and op frees itself. */
void safe_send_abandon(struct safe_send *op, bool maybe_sent);

/* A replayed CallToolResult: the stored text parsed, marked replayed in
 * _meta. NULL when the text is not a JSON object. */
json_t *safe_send_replayed_result(const char *stored);

#endif
