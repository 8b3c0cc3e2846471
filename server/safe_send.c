#include "server/safe_send.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/digest.h"
#include "server/dispatch.h"
#include "server/persona.h"
#include "store/store.h"
#include "tools/service.h"
#include "util/log.h"
#include "util/strpack.h"

#define HOUR_MS (3600 * (uint64_t)1000)
#define DAY_MS (24 * HOUR_MS)

/* Each limit's setting and its key in a persona's "limits", for texts. */
static const char *const limit_settings[SERVICE_LIMITS_LEN] = {
#define LIMIT_VAR(id, env, flag, key, def, help) [id] = (env),
    SERVICE_LIMIT_SETTINGS(LIMIT_VAR)
#undef LIMIT_VAR
};
static const char *const limit_keys[SERVICE_LIMITS_LEN] = {
#define LIMIT_KEY(id, key, help) [id] = (key),
    SERVICE_LIMITS(LIMIT_KEY)
#undef LIMIT_KEY
};
static const char *const limit_help[SERVICE_LIMITS_LEN] = {
#define LIMIT_HELP(id, key, help) [id] = (help),
    SERVICE_LIMITS(LIMIT_HELP)
#undef LIMIT_HELP
};

enum stage {
    STAGE_CLAIM,   /* waiting for the idempotency or duplicate claim */
    STAGE_RATE,    /* waiting for a rate-limit token */
    STAGE_GO,      /* let go: waiting for safe_send_finish */
    STAGE_SETTLE,  /* waiting for the store to take the outcome */
    STAGE_RELEASE, /* giving the claim back before a refusal */
};

struct safe_send {
    struct store *store;
    const char *persona; /* in strings, as tool and key */
    const char *tool;
    const char *key; /* NULL: the duplicate guard holds the claim */
    char fingerprint[PERSONA_DIGEST_HEX_LEN + 1];
    bool guarded; /* a claim is held (token) */
    char token[STORE_TOKEN_SIZE];
    json_t *numbers;
    size_t next_number; /* the per-recipient tokens asked for so far */
    bool day_asked;     /* the day's token is (being) taken */
    bool per_recipient;
    long per_hour;
    enum safe_send_source per_hour_from;
    long per_day;
    enum safe_send_source per_day_from;
    uint64_t ttl_ms, window_ms, lease_ms;
    enum stage stage;
    bool abandoned;
    json_t *refusal; /* delivered once the claim is given back */
    const char *outcome;
    /* A keyed call that sent (or may have) also leaves a duplicate-guard
     * entry for its fingerprint, settled as sent says. */
    enum safe_send_sent sent;
    char *request_id;
    safe_send_verdict_cb cb;
    void *data;
    void (*done)(void *data);
    void *done_data;
    char strings[];
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "2026-11-30 13:45:12 UTC" */
static const char *utc(int64_t ms, char buf[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    if (!gmtime_r(&t, &tm) || !strftime(buf, 32, "%Y-%m-%d %H:%M:%S UTC", &tm))
        snprintf(buf, 32, "(unknown time)");
    return buf;
}

/* "42 seconds", "17 minutes", "3 hours 5 minutes", rounded up. */
static const char *wait_text(int64_t ms, char buf[48])
{
    int64_t s = ms <= 0 ? 1 : (ms + 999) / 1000;
    if (s < 120)
        snprintf(buf, 48, "%" PRId64 " second%s", s, s == 1 ? "" : "s");
    else if (s < 7200)
        snprintf(buf, 48, "%" PRId64 " minutes", (s + 59) / 60);
    else
        snprintf(buf, 48, "%" PRId64 " hours %" PRId64 " minutes", s / 3600,
                 (s % 3600 + 59) / 60);
    return buf;
}

/* A refusal result from a printf format. */
__attribute__((format(printf, 1, 2))) static json_t *refusal(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = NULL;
    if (vasprintf(&text, fmt, ap) < 0)
        text = NULL;
    va_end(ap);
    json_t *r = dispatch_error_result(text ? text : "This send was refused.");
    free(text);
    return r;
}

static json_t *store_failure(struct store *s, int status)
{
    if (status == STORE_EUNAVAIL)
        return refusal("The state store (%s) cannot be reached, so this sending call was "
                       "refused and nothing was sent: sends fail closed while the store "
                       "is down, and read-only tools keep working. Try again when it is "
                       "back.",
                       store_describe(s));
    return refusal("The state store (%s) failed: %s. Nothing was sent.",
                   store_describe(s), store_strerror(status));
}

/* Where a limit was set, for people: the setting or the persona's key. */
static const char *limit_source(const struct safe_send *op, enum safe_send_source from,
                                unsigned id, char buf[160])
{
    if (from == SAFE_SEND_FROM_PERSONA)
        snprintf(buf, 160, "limits.%s of persona %s in the personas file", limit_keys[id],
                 op->persona);
    else
        snprintf(buf, 160, "%s", limit_settings[id]);
    return buf;
}

static void safe_send_free(struct safe_send *op)
{
    free(op->request_id);
    json_decref(op->numbers);
    json_decref(op->refusal);
    free(op);
}

static struct store_key store_key_of(const struct safe_send *op)
{
    return (struct store_key){op->persona, op->tool, op->key ? op->key : op->fingerprint};
}

/* Delivers a verdict and, for a refusal, ends the check. */
static void deliver(struct safe_send *op, json_t *result, const char *outcome)
{
    safe_send_verdict_cb cb = op->cb;
    void *data = op->data;
    if (outcome) {
        safe_send_free(op);
    } else {
        op->stage = STAGE_GO;
        outcome = NULL;
    }
    cb(data, result, outcome);
}

static void on_given_back(void *data, int status)
{
    struct safe_send *op = data;
    if (status != STORE_OK)
        log_warning("safe sends: a claim could not be given back: %s",
                    store_strerror(status));
    if (op->abandoned || op->stage != STAGE_RELEASE) {
        safe_send_free(op);
        return;
    }
    json_t *r = op->refusal;
    op->refusal = NULL;
    deliver(op, r, op->outcome);
}

/* Gives back the claim of a call that sends nothing, then on_given_back
 * runs (or, when nothing is held or the store refuses at once, it runs
 * now). */
static void give_back(struct safe_send *op)
{
    op->stage = STAGE_RELEASE;
    struct store_key k = store_key_of(op);
    int rc = STORE_OK + 1;
    if (op->guarded && op->key)
        rc = store_idem_release(op->store, &k, op->token, on_given_back, op);
    else if (op->guarded)
        rc = store_dup_end(op->store, &k, op->token, STORE_DUP_FAILED, NULL,
                           on_given_back, op);
    op->guarded = false;
    if (rc != STORE_OK)
        on_given_back(op, rc > 0 ? STORE_OK : rc);
}

/* Refuses the call (takes result), giving its claim back first. */
static void refuse(struct safe_send *op, json_t *result, const char *outcome)
{
    json_decref(op->refusal);
    op->refusal = result;
    op->outcome = outcome;
    give_back(op);
}

static int next_check(struct safe_send *op);

static void on_rate(void *data, int status, const struct store_rate *r)
{
    struct safe_send *op = data;
    if (op->abandoned) {
        give_back(op);
        return;
    }
    if (status != STORE_OK) {
        refuse(op, store_failure(op->store, status), "tool_error");
        return;
    }
    if (r->allowed) {
        int rc = next_check(op);
        if (rc != STORE_OK)
            refuse(op, store_failure(op->store, rc), "tool_error");
        return;
    }
    char when[32], wait[48], src[160];
    int64_t at = now_ms() + r->retry_after_ms;
    if (op->day_asked) {
        refuse(
            op,
            refusal("Refused by the limit of %ld %s (%s): nothing was sent. The next "
                    "send is allowed in %s, at %s.",
                    op->per_day, limit_help[SERVICE_LIMIT_SENDS_PER_DAY],
                    limit_source(op, op->per_day_from, SERVICE_LIMIT_SENDS_PER_DAY, src),
                    wait_text(r->retry_after_ms, wait), utc(at, when)),
            SAFE_SEND_LIMITED);
        return;
    }
    const char *number =
        json_string_value(json_array_get(op->numbers, op->next_number - 1));
    refuse(op,
           refusal("Refused by the limit of %ld %s (%s): +%s has had that many; nothing "
                   "was sent. The next one to this number is allowed in %s, at %s.",
                   op->per_hour, limit_help[SERVICE_LIMIT_CODES_PER_RECIPIENT_HOUR],
                   limit_source(op, op->per_hour_from,
                                SERVICE_LIMIT_CODES_PER_RECIPIENT_HOUR, src),
                   number ? number : "?", wait_text(r->retry_after_ms, wait),
                   utc(at, when)),
           SAFE_SEND_LIMITED);
}

/* Asks for the next rate-limit token (per recipient, then the day's), or
 * lets the call go when all are taken. Returns 0, or the status of a store
 * that refused the operation at once (then nothing was asked). */
static int next_check(struct safe_send *op)
{
    op->stage = STAGE_RATE;
    char key[1100];
    size_t n = json_array_size(op->numbers);
    if (op->per_recipient && op->per_hour > 0 && op->next_number < n) {
        const char *number =
            json_string_value(json_array_get(op->numbers, op->next_number));
        op->next_number++;
        /* One counter per number, whichever persona sends: it protects the
         * person (and the account) from an OTP storm, which several personas
         * together must not multiply. A persona's own limit only makes its
         * share stricter or looser against that shared count. */
        snprintf(key, sizeof key, "recipient-hour:%s", number ? number : "");
        return store_rate_take(op->store, key, (uint64_t)op->per_hour, HOUR_MS, on_rate,
                               op);
    }
    if (op->per_day > 0 && !op->day_asked) {
        op->day_asked = true;
        snprintf(key, sizeof key, "sends-day:%s", op->persona);
        return store_rate_take(op->store, key, (uint64_t)op->per_day, DAY_MS, on_rate,
                               op);
    }
    deliver(op, NULL, NULL);
    return STORE_OK;
}

static json_t *duplicate_refusal(const struct safe_send *op, const struct store_claim *c)
{
    char at[32], until[32], twin[320];
    utc(c->created_ms, at);
    if (c->outcome == STORE_IN_PROGRESS)
        snprintf(twin, sizeof twin,
                 "an identical call of %s is still running (started %s)", op->tool, at);
    else if (c->outcome == STORE_REPLAY)
        snprintf(twin, sizeof twin,
                 "an identical call of %s succeeded at %s (" SERVICE_NAME
                 " request id %s)",
                 op->tool, at, c->result ? c->result : "not given");
    else
        snprintf(
            twin, sizeof twin,
            "an identical call of %s at %s may or may not have been sent (its outcome "
            "is unknown)",
            op->tool, at);
    return refusal("Refused as a duplicate: %s. Identical sends are refused for %" PRIu64
                   " seconds (MSG91_DUPLICATE_WINDOW_S), until %s; nothing was sent. If "
                   "this is really a new send, wait until then or pass a new "
                   "idempotency_key.",
                   twin, op->window_ms / 1000, utc(c->expires_ms, until));
}

/* s in single quotes for a POSIX shell, each ' written '\'': a key may
 * hold spaces, ';', quotes or backquotes, and the text suggests a command
 * to paste. Cut (never unbalanced) when buf is too small. */
static const char *shell_quote(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    buf[n++] = '\'';
    for (; *s && n + 6 < size; s++) {
        if (*s == '\'') {
            memcpy(buf + n, "'\\''", 4);
            n += 4;
        } else {
            buf[n++] = *s;
        }
    }
    buf[n++] = '\'';
    buf[n] = '\0';
    return buf;
}

static json_t *idempotency_refusal(const struct safe_send *op,
                                   const struct store_claim *c, const char **outcome)
{
    char at[32], until[32], quoted[4 * 256 + 8];
    utc(c->created_ms, at);
    *outcome = SAFE_SEND_DUPLICATE;
    switch (c->outcome) {
    case STORE_IN_PROGRESS:
        return refusal("A call of %s with idempotency key \"%s\" is still in progress "
                       "(started %s); nothing was sent. Call again with the same key and "
                       "arguments in a moment to get its result.",
                       op->tool, op->key, at);
    case STORE_MISMATCH:
        *outcome = "tool_error";
        return refusal(
            "The idempotency key \"%s\" was already used for %s with different "
            "arguments (at %s); nothing was sent. A retry must repeat the first "
            "call's arguments exactly; a different send needs a new key.",
            op->key, op->tool, at);
    default:
        return refusal(
            "The outcome of the earlier call of %s with idempotency key \"%s\" "
            "(started %s) is unknown: it may or may not have been sent, and it "
            "is never sent again on its own. Check whether it arrived (ask the "
            "recipient, or see " SERVICE_NAME "'s delivery reports). To release "
            "the key, run `msg91-mcp state --forget %s`; otherwise it expires "
            "at %s.",
            op->tool, op->key, at, shell_quote(op->key, quoted, sizeof quoted),
            utc(c->expires_ms, until));
    }
}

static void on_claim(void *data, int status, const struct store_claim *c)
{
    struct safe_send *op = data;
    if (status == STORE_OK && c->outcome == STORE_CLAIMED) {
        op->guarded = true;
        memcpy(op->token, c->token, sizeof op->token);
    }
    if (op->abandoned) {
        give_back(op);
    } else if (status != STORE_OK) {
        deliver(op, store_failure(op->store, status), "tool_error");
    } else if (c->outcome == STORE_CLAIMED) {
        int rc = next_check(op);
        if (rc != STORE_OK)
            refuse(op, store_failure(op->store, rc), "tool_error");
    } else if (!op->key) {
        deliver(op, duplicate_refusal(op, c), SAFE_SEND_DUPLICATE);
    } else if (c->outcome == STORE_REPLAY) {
        json_t *r = safe_send_replayed_result(c->result ? c->result : "");
        deliver(op,
                r ? r
                  : refusal("The stored result of idempotency key \"%s\" cannot "
                            "be read; nothing was sent.",
                            op->key),
                SAFE_SEND_REPLAYED);
    } else {
        const char *outcome;
        json_t *r = idempotency_refusal(op, c, &outcome);
        deliver(op, r, outcome);
    }
}

json_t *safe_send_replayed_result(const char *stored)
{
    json_t *r = json_loads(stored, 0, NULL);
    if (!json_is_object(r)) {
        json_decref(r);
        return NULL;
    }
    json_t *meta = json_object_get(r, "_meta");
    if (!json_is_object(meta)) {
        meta = json_object();
        json_object_set_new(r, "_meta", meta);
    }
    json_object_set_new(meta, SERVICE_REPLAYED_META, json_true());
    return r;
}

/* The first number outside the allowlist, or NULL. */
static const char *outside_allowlist(const struct safe_send_info *in)
{
    size_t i;
    json_t *v;
    json_array_foreach(in->numbers, i, v) {
        const char *number = json_string_value(v);
        bool ok = false;
        for (size_t j = 0; number && j < in->n_country_codes && !ok; j++)
            ok = strncmp(number, in->country_codes[j], strlen(in->country_codes[j])) == 0;
        if (!ok)
            return number ? number : "";
    }
    return NULL;
}

static json_t *country_refusal(const struct safe_send_info *in, const char *number)
{
    char codes[256] = "";
    size_t used = 0;
    for (size_t j = 0; j < in->n_country_codes && used < sizeof codes; j++)
        used += (size_t)snprintf(codes + used, sizeof codes - used, "%s%s", j ? "," : "",
                                 in->country_codes[j]);
    char src[200];
    if (in->country_codes_from == SAFE_SEND_FROM_PERSONA)
        snprintf(src, sizeof src, "limits.allowed_country_codes of persona %s",
                 in->persona);
    else
        snprintf(src, sizeof src, "MSG91_ALLOWED_COUNTRY_CODES");
    return refusal("Refused by the country allowlist: +%s is not in an allowed country "
                   "(%s: %s); nothing was sent. This limit does not reset: use a number "
                   "in an allowed country, or ask the operator to allow this one.",
                   number, src, codes);
}

/* The SHA-256 of the canonical arguments (sorted keys, compact). Returns
 * 0, -ENOMEM, or -ENOENT when the digest module cannot be loaded. */
static int fingerprint(json_t *args, char out[PERSONA_DIGEST_HEX_LEN + 1])
{
    char *text = json_dumps(args, JSON_COMPACT | JSON_SORT_KEYS);
    if (!text)
        return -ENOMEM;
    /* The digest lives in a module (server/digest.h): without it there is
     * no fingerprint, and the caller refuses the send. */
    int rc = persona_sha256_hex(text, strlen(text), out);
    free(text);
    return rc == 0 ? 0 : -ENOENT;
}

/* Why op_create failed, for the caller: nothing was sent either way. */
static json_t *create_failure(int rc)
{
    if (rc == -ENOENT)
        return dispatch_error_result(
            "The SHA-256 module (" DIGEST_MODULE_FILE ") could not be loaded, so this "
            "send has no fingerprint for its idempotency key or the duplicate guard: "
            "nothing was sent. The server's log says why: reinstall msg91-mcp, or set "
            "MSG91_DIGEST_MODULE to the module's file.");
    return dispatch_error_result("The server ran out of memory; nothing was sent.");
}

/* Sets *out to a new op. Returns 0, -ENOMEM or -ENOENT (fingerprint). */
static int op_create(const struct safe_send_info *in, safe_send_verdict_cb cb, void *data,
                     struct safe_send **out)
{
    *out = NULL;
    const char *strings[] = {in->persona, in->tool, in->key};
    struct safe_send *op = calloc(1, sizeof *op + strpack_size(strings, 3));
    if (!op)
        return -ENOMEM;
    *op = (struct safe_send){
        .store = in->store,
        .numbers = json_incref(in->numbers),
        .per_recipient = in->per_recipient,
        .per_hour = in->per_recipient_per_hour,
        .per_hour_from = in->per_recipient_from,
        .per_day = in->sends_per_day,
        .per_day_from = in->sends_per_day_from,
        .ttl_ms = in->ttl_ms,
        .window_ms = in->window_ms,
        .lease_ms = in->lease_ms,
        .cb = cb,
        .data = data,
    };
    /* After the assignment above, which may write the padding that
     * strings starts in. */
    char *at = op->strings;
    op->persona = strpack_put(&at, in->persona);
    op->tool = strpack_put(&at, in->tool);
    op->key = strpack_put(&at, in->key);
    int rc = fingerprint(in->args, op->fingerprint);
    if (rc != 0) {
        safe_send_free(op);
        return rc;
    }
    *out = op;
    return 0;
}

struct safe_send *safe_send_begin(const struct safe_send_info *in,
                                  safe_send_verdict_cb cb, void *data, json_t **result,
                                  const char **outcome)
{
    *result = NULL;
    *outcome = NULL;
    const char *outside = in->country_codes ? outside_allowlist(in) : NULL;
    if (outside) {
        *result = country_refusal(in, outside);
        *outcome = SAFE_SEND_LIMITED;
        return NULL;
    }
    bool rates = (in->per_recipient && in->per_recipient_per_hour > 0 &&
                  json_array_size(in->numbers) > 0) ||
                 in->sends_per_day > 0;
    if (!in->key && !in->window_ms && !rates)
        return NULL; /* no rule applies: the store is not needed */
    struct safe_send *op;
    int created = op_create(in, cb, data, &op);
    if (created != 0) {
        *result = create_failure(created);
        *outcome = "tool_error";
        return NULL;
    }
    struct store_key k = store_key_of(op);
    int rc;
    op->stage = STAGE_CLAIM;
    if (op->key)
        rc = store_idem_claim(op->store, &k, op->fingerprint, op->lease_ms, op->ttl_ms,
                              on_claim, op);
    else if (op->window_ms)
        rc = store_dup_begin(op->store, &k, op->window_ms, op->lease_ms, on_claim, op);
    else
        rc = next_check(op); /* rates is true: a token is asked for */
    if (rc != STORE_OK) {
        *result = store_failure(op->store, rc);
        *outcome = "tool_error";
        safe_send_free(op);
        return NULL;
    }
    return op;
}

/* The end of safe_send_finish: frees op, then tells the caller. */
static void settled(struct safe_send *op)
{
    void (*done)(void *) = op->abandoned ? NULL : op->done;
    void *done_data = op->done_data;
    safe_send_free(op);
    if (done)
        done(done_data);
}

static void on_twin_settled(void *data, int status)
{
    struct safe_send *op = data;
    if (status != STORE_OK)
        log_warning("safe sends: the duplicate-guard entry of a %s call could not be "
                    "settled: %s",
                    op->tool, store_strerror(status));
    settled(op);
}

static void on_twin_begun(void *data, int status, const struct store_claim *c)
{
    struct safe_send *op = data;
    if (status != STORE_OK || c->outcome != STORE_CLAIMED) {
        /* An identical call already holds the entry (or the store failed:
         * the key still guards the call itself). */
        if (status != STORE_OK)
            log_warning("safe sends: no duplicate-guard entry for a %s call: %s",
                        op->tool, store_strerror(status));
        settled(op);
        return;
    }
    struct store_key k = {op->persona, op->tool, op->fingerprint};
    int rc = store_dup_end(op->store, &k, c->token,
                           op->sent == SAFE_SEND_SUCCEEDED ? STORE_DUP_SUCCEEDED
                                                           : STORE_DUP_UNKNOWN,
                           op->request_id, on_twin_settled, op);
    if (rc != STORE_OK)
        on_twin_settled(op, rc);
}

static void on_settled(void *data, int status)
{
    struct safe_send *op = data;
    if (status != STORE_OK)
        log_warning("safe sends: the outcome of a %s call could not be recorded: %s",
                    op->tool, store_strerror(status));
    /* A keyed call is invisible to the duplicate guard while it runs (its
     * key guards it); once it sent, or may have, an identical call without
     * a key must meet it there. */
    if (op->key && op->window_ms && op->sent != SAFE_SEND_FAILED) {
        struct store_key k = {op->persona, op->tool, op->fingerprint};
        int rc = store_dup_begin(op->store, &k, op->window_ms, op->lease_ms,
                                 on_twin_begun, op);
        if (rc == STORE_OK)
            return;
        log_warning("safe sends: no duplicate-guard entry for a %s call: %s", op->tool,
                    store_strerror(rc));
    }
    settled(op);
}

void safe_send_finish(struct safe_send *op, json_t *result, enum safe_send_sent sent,
                      const char *request_id, void (*done)(void *data), void *data)
{
    op->stage = STAGE_SETTLE;
    op->done = done;
    op->done_data = data;
    op->sent = sent;
    /* Only the duplicate-guard entry of a keyed call needs it later; memory
     * running out loses the id in its refusals, not the entry. */
    op->request_id = request_id ? strdup(request_id) : NULL;
    struct store_key k = store_key_of(op);
    int rc = STORE_OK + 1;
    if (op->guarded && op->key) {
        char *text = result ? json_dumps(result, JSON_COMPACT) : NULL;
        rc = text ? store_idem_complete(op->store, &k, op->token, text, op->ttl_ms,
                                        on_settled, op)
                  : store_idem_mark_unknown(op->store, &k, op->token, on_settled, op);
        free(text);
    } else if (op->guarded) {
        static const enum store_dup_outcome dup[] = {
            [SAFE_SEND_SUCCEEDED] = STORE_DUP_SUCCEEDED,
            [SAFE_SEND_FAILED] = STORE_DUP_FAILED,
            [SAFE_SEND_UNKNOWN] = STORE_DUP_UNKNOWN,
        };
        rc = store_dup_end(op->store, &k, op->token, dup[sent], request_id, on_settled,
                           op);
    }
    op->guarded = false;
    if (rc != STORE_OK)
        on_settled(op, rc > 0 ? STORE_OK : rc);
}

void safe_send_abandon(struct safe_send *op, bool maybe_sent)
{
    if (op->stage != STAGE_GO) {
        op->abandoned = true; /* the pending store callback cleans up */
        return;
    }
    op->abandoned = true;
    if (!maybe_sent) {
        give_back(op);
        return;
    }
    op->done = NULL;
    safe_send_finish(op, NULL, SAFE_SEND_UNKNOWN, NULL, NULL, NULL);
}
