/* The rules of claims, settles and GCRA, on one entry, for the backends
 * that run them in C (memory, SQLite). store/redis.c holds the same rules
 * as Lua scripts; the shared Check suite holds all three to one behaviour. */
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

static void report(struct store_op *op, enum store_claim_outcome outcome,
                   const struct store_record *r, bool with_value)
{
    op->claim.outcome = outcome;
    op->claim.created_ms = r->created_ms;
    op->claim.expires_ms = r->expires_ms;
    if (with_value && r->value) {
        op->result = strdup(r->value);
        if (!op->result)
            op->status = STORE_ENOMEM;
        op->claim.result = op->result;
    }
}

bool store__rule_claim(struct store_op *op, bool exists, struct store_record *r,
                       int64_t now)
{
    if (!exists) {
        /* The record borrows the op's strings until the backend stores it. */
        r->state = STORE_STATE_PENDING;
        r->fp = op->fp;
        r->token = op->token;
        r->value = NULL;
        r->created_ms = now;
        r->lease_until_ms = now + op->lease_ms;
        r->expires_ms = now + op->ttl_ms;
        r->window_ms = 0;
        if (op->ns == STORE_NS_DUP) {
            /* A running call keeps its twins out for as long as it may
             * run, even past the window; settling starts the window. */
            r->window_ms = op->ttl_ms;
            if (op->lease_ms > op->ttl_ms)
                r->expires_ms = now + op->lease_ms;
        }
        report(op, STORE_CLAIMED, r, false);
        memcpy(op->claim.token, op->token, STORE_TOKEN_SIZE);
        return true;
    }
    if (op->fp && (!r->fp || strcmp(op->fp, r->fp) != 0)) {
        report(op, STORE_MISMATCH, r, false);
        return false;
    }
    switch (r->state) {
    case STORE_STATE_PENDING:
        if (now < r->lease_until_ms) {
            report(op, STORE_IN_PROGRESS, r, false);
            return false;
        }
        /* The holder did not settle in time: it may have sent. From now on
         * the entry says so, for good. */
        r->state = STORE_STATE_UNKNOWN;
        report(op, STORE_UNKNOWN, r, true);
        return true;
    case STORE_STATE_DONE:
        report(op, STORE_REPLAY, r, true);
        return false;
    default:
        report(op, STORE_UNKNOWN, r, true);
        return false;
    }
}

int store__rule_settle(const struct store_op *op, bool exists, struct store_record *r,
                       int64_t now)
{
    /* A token taken over by a lapsed lease still settles: the true outcome
     * beats "unknown". A forgotten or re-claimed entry does not. */
    if (!exists || !r->token || strcmp(r->token, op->token) != 0)
        return STORE_ENOTOWNER;
    r->state = op->action;
    if (op->action == STORE_STATE_DELETE)
        return 0;
    /* Marking unknown keeps a request id recorded earlier. */
    if (op->value)
        r->value = op->value;
    if (op->ttl_ms >= 0)
        r->expires_ms = now + op->ttl_ms;
    else if (op->ns == STORE_NS_DUP && r->window_ms > 0)
        r->expires_ms = now + r->window_ms;
    return 0;
}

bool store__rule_rate(struct store_op *op, int64_t *tat_us, int64_t now_us)
{
    int64_t period = op->period_ms * 1000;
    int64_t interval = period / op->limit;
    if (interval < 1)
        interval = 1;
    int64_t tat = *tat_us > now_us ? *tat_us : now_us;
    int64_t next = tat + interval;
    int64_t allow_at = next - period;
    if (now_us < allow_at) {
        op->rate.allowed = 0;
        op->rate.remaining = 0;
        op->rate.retry_after_ms = (allow_at - now_us + 999) / 1000;
        op->rate.reset_after_ms = (tat - now_us + 999) / 1000;
        return false;
    }
    op->rate.allowed = 1;
    op->rate.remaining = (period - (next - now_us)) / interval;
    op->rate.retry_after_ms = 0;
    op->rate.reset_after_ms = (next - now_us + 999) / 1000;
    *tat_us = next;
    return true;
}

bool store__rule_forget_matches(const struct store_op *op, const char *persona,
                                const char *tool, const char *key)
{
    return strcmp(op->key, key) == 0 &&
           (!op->persona || strcmp(op->persona, persona) == 0) &&
           (!op->tool || strcmp(op->tool, tool) == 0);
}
