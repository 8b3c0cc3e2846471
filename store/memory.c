/* The memory backend: one process, a chained hash table, expired entries
 * swept as the table is used. Operations run at once on the loop thread
 * (they are a hash lookup); their callbacks still come later, from the
 * completion queue, like every backend's. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"

struct mem_entry {
    struct mem_entry *next;
    char ns;                    /* STORE_NS_IDEM, STORE_NS_DUP, or 'r' for a rate key */
    char *persona, *tool, *key; /* point into name */
    struct store_record rec;    /* claims; strings owned */
    int64_t tat_us;             /* rate keys */
    int64_t expires_ms;
    size_t name_len;
    char name[];
};

struct mem_store {
    struct mem_entry **buckets;
    size_t nbuckets;
    size_t count;
    size_t ops_since_sweep;
};

static uint64_t hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void entry_free(struct mem_entry *e)
{
    free(e->rec.fp);
    free(e->rec.token);
    free(e->rec.value);
    free(e);
}

/* The name is "ns\0persona\0tool\0key" (or "r\0key"): a NUL separates the
 * parts, so no part can run into the next. */
static size_t make_name(char *buf, char ns, const char *persona, const char *tool,
                        const char *key)
{
    size_t n = 0;
    buf[n++] = ns;
    buf[n++] = '\0';
    const char *parts[] = {persona, tool, key};
    for (size_t i = 0; i < 3; i++) {
        if (!parts[i])
            continue;
        size_t len = strlen(parts[i]);
        memcpy(buf + n, parts[i], len + 1);
        n += len + 1;
    }
    return n;
}

static struct mem_entry **find(struct mem_store *m, const char *name, size_t n)
{
    struct mem_entry **at = &m->buckets[hash(name, n) % m->nbuckets];
    for (; *at; at = &(*at)->next) {
        const struct mem_entry *e = *at;
        if (e->name_len == n && memcmp(e->name, name, n) == 0)
            return at;
    }
    return at;
}

static void unlink_free(struct mem_store *m, struct mem_entry **at)
{
    struct mem_entry *e = *at;
    *at = e->next;
    entry_free(e);
    m->count--;
}

static void sweep(struct mem_store *m, int64_t now)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct mem_entry **at = &m->buckets[i];
        while (*at) {
            if ((*at)->expires_ms <= now)
                unlink_free(m, at);
            else
                at = &(*at)->next;
        }
    }
    m->ops_since_sweep = 0;
}

static void grow(struct mem_store *m)
{
    size_t n = m->nbuckets * 2;
    if (n == 0)
        return;
    struct mem_entry **b = calloc(n, sizeof(struct mem_entry *));
    if (!b)
        return; /* a longer chain is fine */
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct mem_entry *e = m->buckets[i];
        while (e) {
            struct mem_entry *next = e->next;
            struct mem_entry **at = &b[hash(e->name, e->name_len) % n];
            e->next = *at;
            *at = e;
            e = next;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = n;
}

static struct mem_entry *entry_new(const char *name, size_t n)
{
    struct mem_entry *e = calloc(1, sizeof *e + n);
    if (!e)
        return NULL;
    memcpy(e->name, name, n);
    e->name_len = n;
    e->ns = name[0];
    char *p = e->name + 2;
    if (e->ns != 'r') {
        e->persona = p;
        p += strlen(p) + 1;
        e->tool = p;
        p += strlen(p) + 1;
    }
    e->key = p;
    return e;
}

static int keep_record(struct mem_entry *e, const struct store_record *r)
{
    /* Copy first, then swap: on failure the entry is unchanged. */
    char *fp = r->fp ? strdup(r->fp) : NULL;
    char *token = r->token ? strdup(r->token) : NULL;
    char *value = r->value ? strdup(r->value) : NULL;
    if ((r->fp && !fp) || (r->token && !token) || (r->value && !value)) {
        free(fp);
        free(token);
        free(value);
        return STORE_ENOMEM;
    }
    free(e->rec.fp);
    free(e->rec.token);
    free(e->rec.value);
    e->rec = *r;
    e->rec.fp = fp;
    e->rec.token = token;
    e->rec.value = value;
    e->expires_ms = r->expires_ms;
    return 0;
}

/* Fills the empty slot at with a new entry for name; -1 (op failed with
 * STORE_ENOMEM) when memory runs out. */
static int make_entry(struct mem_store *m, struct store_op *op, struct mem_entry **at,
                      const char *name, size_t n)
{
    *at = entry_new(name, n);
    if (!*at) {
        op->status = STORE_ENOMEM;
        return -1;
    }
    m->count++;
    return 0;
}

static void do_claim(struct mem_store *m, struct store_op *op, const char *name, size_t n,
                     int64_t now)
{
    struct mem_entry **at = find(m, name, n);
    bool exists = *at && (*at)->expires_ms > now;
    struct store_record r = exists ? (*at)->rec : (struct store_record){0};
    if (!store__rule_claim(op, exists, &r, now))
        return;
    if (!*at && make_entry(m, op, at, name, n) != 0)
        return;
    int rc = keep_record(*at, &r);
    if (rc != 0)
        op->status = rc;
}

static void do_settle(struct mem_store *m, struct store_op *op, const char *name,
                      size_t n, int64_t now)
{
    struct mem_entry **at = find(m, name, n);
    if (!*at || (*at)->expires_ms <= now) {
        op->status = STORE_ENOTOWNER;
        return;
    }
    struct store_record r = (*at)->rec;
    op->status = store__rule_settle(op, true, &r, now);
    if (op->status != 0)
        return;
    if (r.state == STORE_STATE_DELETE)
        unlink_free(m, at);
    else
        op->status = keep_record(*at, &r);
}

static void do_rate(struct mem_store *m, struct store_op *op, const char *name, size_t n,
                    int64_t now)
{
    int64_t now_us = now * 1000;
    struct mem_entry **at = find(m, name, n);
    int64_t tat = *at ? (*at)->tat_us : 0;
    if (!store__rule_rate(op, &tat, now_us))
        return;
    if (!*at && make_entry(m, op, at, name, n) != 0)
        return;
    (*at)->tat_us = tat;
    (*at)->expires_ms = (tat + 999) / 1000;
}

static void do_scan(struct mem_store *m, struct store_op *op, int64_t now)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct mem_entry **at = &m->buckets[i];
        while (*at) {
            struct mem_entry *e = *at;
            if (e->expires_ms <= now) {
                unlink_free(m, at);
                continue;
            }
            if (op->kind == STORE_OP_FORGET) {
                if (e->ns == STORE_NS_IDEM &&
                    store__rule_forget_matches(op, e->persona, e->tool, e->key)) {
                    unlink_free(m, at);
                    op->count++;
                    continue;
                }
            } else if (e->ns == 'r') {
                op->stats.rate_keys++;
            } else if (e->ns == STORE_NS_DUP) {
                op->stats.dup_entries++;
            } else if (e->rec.state == STORE_STATE_DONE) {
                op->stats.idem_done++;
            } else if (e->rec.state == STORE_STATE_PENDING &&
                       now < e->rec.lease_until_ms) {
                op->stats.idem_pending++;
            } else {
                op->stats.idem_unknown++;
            }
            at = &e->next;
        }
    }
}

static void mem_submit(struct store *s, struct store_op *op)
{
    struct mem_store *m = store__common(s)->impl;
    int64_t now = store__now_ms();
    char stack[4096];
    size_t need = 8 + (op->persona ? strlen(op->persona) : 0) +
                  (op->tool ? strlen(op->tool) : 0) + (op->key ? strlen(op->key) : 0);
    char *name = need > sizeof stack ? malloc(need) : stack;
    if (!name) {
        op->status = STORE_ENOMEM;
        store__complete(s, op);
        return;
    }
    if (++m->ops_since_sweep > m->count + 64)
        sweep(m, now);
    if (m->count > 2 * m->nbuckets)
        grow(m);
    size_t n;
    switch (op->kind) {
    case STORE_OP_CLAIM:
        n = make_name(name, op->ns, op->persona, op->tool, op->key);
        do_claim(m, op, name, n, now);
        break;
    case STORE_OP_SETTLE:
        n = make_name(name, op->ns, op->persona, op->tool, op->key);
        do_settle(m, op, name, n, now);
        break;
    case STORE_OP_RATE:
        n = make_name(name, 'r', NULL, NULL, op->key);
        do_rate(m, op, name, n, now);
        break;
    case STORE_OP_FORGET:
    case STORE_OP_STATS:
        do_scan(m, op, now);
        break;
    }
    if (name != stack)
        free(name);
    store__complete(s, op);
}

static void mem_close(struct store *s)
{
    struct mem_store *m = store__common(s)->impl;
    for (size_t i = 0; i < m->nbuckets; i++) {
        while (m->buckets[i])
            unlink_free(m, &m->buckets[i]);
    }
    free(m->buckets);
    free(m);
    store__backend_closed(s);
}

const struct store_backend store__memory_backend = {
    .name = "memory",
    .submit = mem_submit,
    .close = mem_close,
};

int store__memory_init(struct store *s)
{
    struct store_common *c = store__common(s);
    struct mem_store *m = calloc(1, sizeof *m);
    if (!m)
        return STORE_ENOMEM;
    m->nbuckets = 64;
    m->buckets = calloc(m->nbuckets, sizeof(struct mem_entry *));
    if (!m->buckets) {
        free(m);
        return STORE_ENOMEM;
    }
    c->impl = m;
    c->backend = &store__memory_backend;
    snprintf(c->describe, sizeof c->describe, "memory");
    return 0;
}
