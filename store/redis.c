/* The Redis backend: many machines share one Redis. hiredis's asynchronous
 * API on the loop, through our own libuv shim (the one Debian 12's hiredis
 * 0.14 ships ignores poll errors, so a refused connect hangs); every rule
 * is one Lua script, so each operation is atomic on the server and uses
 * the server's clock. hiredis 0.14 has no timeouts and no reconnect: one
 * timer gives the connect deadline, the oldest command's deadline and the
 * reconnect backoff. While the connection is down, operations fail at
 * once with STORE_EUNAVAIL (fail closed); while it is being made, they
 * wait for it. */
#include <arpa/inet.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "store/store_int.h"

#define RD_PREFIX "msg91:"
#define RD_BACKOFF_MIN_MS 50
#define RD_BACKOFF_MAX_MS 2000

enum rd_script { RD_CLAIM, RD_SETTLE, RD_RATE, RD_FORGET, RD_STATS, RD_SCRIPTS };

/* KEYS[1] the entry; ARGV fingerprint ("" for none), token, lease, ttl,
 * window (duplicate guard, kept for the settle; 0 for none). */
static const char rd_claim_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local r = redis.call('HMGET', KEYS[1], 's', 'fp', 'c', 'l', 'v', 'e')\n"
    "if not r[1] then\n"
    "  local e = now + tonumber(ARGV[4])\n"
    "  redis.call('HSET', KEYS[1], 's', 'p', 'fp', ARGV[1], 'tok', ARGV[2], 'c', now,\n"
    "             'l', now + tonumber(ARGV[3]), 'e', e, 'w', ARGV[5])\n"
    "  redis.call('PEXPIRE', KEYS[1], ARGV[4])\n"
    "  return {'claimed', now, e}\n"
    "end\n"
    "local c = tonumber(r[3])\n"
    "local exp = tonumber(r[6])\n"
    "if ARGV[1] ~= '' and r[2] ~= ARGV[1] then return {'mismatch', c, exp} end\n"
    "if r[1] == 'p' then\n"
    "  if now < tonumber(r[4]) then return {'progress', c, exp} end\n"
    "  redis.call('HSET', KEYS[1], 's', 'u')\n"
    "  return {'unknown', c, exp}\n"
    "end\n"
    "if r[1] == 'd' then return {'replay', c, exp, r[5]} end\n"
    "return {'unknown', c, exp, r[5]}\n";

/* The entry's end is kept in field e as well as in its TTL: PTTL answers
 * would drift by a millisecond from what the claim reported. */
/* KEYS[1]; ARGV token, action (d, u, x), value ("" none), ttl (-1 keep,
 * or the kept window when the entry has one). */
static const char rd_settle_lua[] =
    "local r = redis.call('HMGET', KEYS[1], 'tok', 'w')\n"
    "if r[1] ~= ARGV[1] then return 0 end\n"
    "if ARGV[2] == 'x' then redis.call('DEL', KEYS[1]) return 1 end\n"
    "redis.call('HSET', KEYS[1], 's', ARGV[2])\n"
    "if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'v', ARGV[3]) end\n"
    "local ttl = tonumber(ARGV[4])\n"
    "if ttl < 0 and tonumber(r[2] or 0) > 0 then ttl = tonumber(r[2]) end\n"
    "if ttl >= 0 then\n"
    "  local t = redis.call('TIME')\n"
    "  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "  redis.call('HSET', KEYS[1], 'e', now + ttl)\n"
    "  redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "end\n"
    "return 1\n";

/* GCRA in microseconds, as store__rule_rate. KEYS[1]; ARGV limit, period. */
static const char rd_rate_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
    "local period = tonumber(ARGV[2]) * 1000\n"
    "local interval = math.floor(period / tonumber(ARGV[1]))\n"
    "if interval < 1 then interval = 1 end\n"
    "local tat = tonumber(redis.call('GET', KEYS[1]) or 0)\n"
    "if tat < now then tat = now end\n"
    "local nxt = tat + interval\n"
    "local allow_at = nxt - period\n"
    "if now < allow_at then\n"
    "  return {0, 0, math.ceil((allow_at - now) / 1000), math.ceil((tat - now) / 1000)}\n"
    "end\n"
    "redis.call('SET', KEYS[1], string.format('%d', nxt), 'PX',\n"
    "           math.ceil((nxt - now) / 1000))\n"
    "return {1, math.floor((period - (nxt - now)) / interval), 0,\n"
    "        math.ceil((nxt - now) / 1000)}\n";

/* Forget with a wildcard. ARGV prefix, persona, tool, key, any persona
 * ('1'), any tool ('1'). Persona and tool hold no ':', the key may. */
static const char rd_forget_lua[] =
    "local n = 0\n"
    "local cursor = '0'\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', ARGV[1] .. '*', 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    local rest = string.sub(k, #ARGV[1] + 1)\n"
    "    local a = string.find(rest, ':', 1, true)\n"
    "    local b = a and string.find(rest, ':', a + 1, true)\n"
    "    if b and string.sub(rest, b + 1) == ARGV[4]\n"
    "       and (ARGV[5] == '1' or string.sub(rest, 1, a - 1) == ARGV[2])\n"
    "       and (ARGV[6] == '1' or string.sub(rest, a + 1, b - 1) == ARGV[3]) then\n"
    "      n = n + redis.call('DEL', k)\n"
    "    end\n"
    "  end\n"
    "until cursor == '0'\n"
    "return n\n";

static const char rd_stats_lua[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local s = {0, 0, 0, 0, 0}\n"
    "local cursor = '0'\n"
    "repeat\n"
    "  local r = redis.call('SCAN', cursor, 'MATCH', 'msg91:*', 'COUNT', 1000)\n"
    "  cursor = r[1]\n"
    "  for _, k in ipairs(r[2]) do\n"
    "    local ns = string.sub(k, 7, 8)\n"
    "    if ns == 'r:' then s[5] = s[5] + 1\n"
    "    elseif ns == 'd:' then s[4] = s[4] + 1\n"
    "    elseif ns == 'i:' then\n"
    "      local e = redis.call('HMGET', k, 's', 'l')\n"
    "      if e[1] == 'd' then s[2] = s[2] + 1\n"
    "      elseif e[1] == 'p' and now < tonumber(e[2]) then s[1] = s[1] + 1\n"
    "      elseif e[1] then s[3] = s[3] + 1 end\n"
    "    end\n"
    "  end\n"
    "until cursor == '0'\n"
    "return s\n";

static const char *const rd_scripts[RD_SCRIPTS] = {
    rd_claim_lua, rd_settle_lua, rd_rate_lua, rd_forget_lua, rd_stats_lua,
};

enum rd_state { RD_DOWN, RD_RESOLVING, RD_CONNECTING, RD_READY };

struct rd_store {
    struct store *store;
    uv_loop_t *loop;
    struct store_redis_spec spec; /* host, port, db, user, password */
    char port_str[8];
    enum rd_state state;
    redisAsyncContext *ac;
    uv_timer_t timer;
    uv_getaddrinfo_t gai;
    bool gai_active;
    unsigned attempt; /* tells a stale resolver answer from the current one */
    uint32_t backoff_ms;
    bool down_logged; /* the outage was reported; attempts stay quiet */
    int handshake_left;
    char sha[RD_SCRIPTS][41];
    struct store_op *wait_head, *wait_tail; /* submitted while connecting */
    struct list fly;                        /* sent, oldest first: store_op.link */
    int handles;                            /* timer and poll handles not yet closed */
    bool closing;
    bool timer_closing;
};

/* ---- the libuv shim: hiredis's event hooks on one uv_poll_t ---- */

struct rd_events {
    redisAsyncContext *ac;
    struct rd_store *rd;
    uv_poll_t poll;
    int events;
};

static void rd_maybe_finish(struct rd_store *rd);

static void ev_on_poll(uv_poll_t *h, int status, int events)
{
    struct rd_events *e = h->data;
    /* On a poll error (a refused connect is one) let hiredis read the
     * socket's error itself, for whatever it waits on. */
    int ev = status < 0 ? e->events : events;
    if (e->ac && (ev & UV_READABLE))
        redisAsyncHandleRead(e->ac);
    if (e->ac && (ev & UV_WRITABLE))
        redisAsyncHandleWrite(e->ac);
}

static void ev_update(struct rd_events *e)
{
    if (e->events)
        uv_poll_start(&e->poll, e->events, ev_on_poll);
    else
        uv_poll_stop(&e->poll);
}

/* hiredis asks for one direction at a time; the poll watches both. */
static void ev_set(void *p, int event, bool on)
{
    struct rd_events *e = p;
    e->events = on ? e->events | event : e->events & ~event;
    ev_update(e);
}

static void ev_add_read(void *p)
{
    ev_set(p, UV_READABLE, true);
}

static void ev_del_read(void *p)
{
    ev_set(p, UV_READABLE, false);
}

static void ev_add_write(void *p)
{
    ev_set(p, UV_WRITABLE, true);
}

static void ev_del_write(void *p)
{
    ev_set(p, UV_WRITABLE, false);
}

static void ev_on_closed(uv_handle_t *h)
{
    struct rd_events *e = h->data;
    struct rd_store *rd = e->rd;
    free(e);
    rd->handles--;
    rd_maybe_finish(rd);
}

static void ev_cleanup(void *p)
{
    struct rd_events *e = p;
    e->ac = NULL; /* hiredis frees the context right after */
    uv_close((uv_handle_t *)&e->poll, ev_on_closed);
}

static int ev_attach(struct rd_store *rd, redisAsyncContext *ac)
{
    struct rd_events *e = calloc(1, sizeof *e);
    if (!e)
        return -1;
    if (uv_poll_init(rd->loop, &e->poll, ac->c.fd) != 0) {
        free(e);
        return -1;
    }
    e->ac = ac;
    e->rd = rd;
    e->poll.data = e;
    rd->handles++;
    ac->ev.data = e;
    ac->ev.addRead = ev_add_read;
    ac->ev.delRead = ev_del_read;
    ac->ev.addWrite = ev_add_write;
    ac->ev.delWrite = ev_del_write;
    ac->ev.cleanup = ev_cleanup;
    return 0;
}

/* ---- the connection ---- */

static void rd_start_attempt(struct rd_store *rd);
static void rd_send(struct rd_store *rd, struct store_op *op);

static void rd_timer_in(struct rd_store *rd, uint64_t ms);
static struct store_op *oldest(const struct rd_store *rd);

static void fail_op(struct rd_store *rd, struct store_op *op, int status)
{
    op->status = status;
    store__complete(rd->store, op);
}

static void fail_waiting(struct rd_store *rd, int status)
{
    struct store_op *op = rd->wait_head;
    rd->wait_head = rd->wait_tail = NULL;
    while (op) {
        struct store_op *next = op->next;
        fail_op(rd, op, status);
        op = next;
    }
}

/* The connection is gone or never came: everything waiting fails, the
 * commands in flight fail as hiredis hands them back, and a new attempt
 * is made after the backoff. free_ctx: we end the context; otherwise
 * hiredis is ending it already. */
static void rd_drop(struct rd_store *rd, bool free_ctx, const char *why)
{
    redisAsyncContext *ac = rd->ac;
    enum rd_state was = rd->state;
    rd->ac = NULL;
    rd->state = RD_DOWN;
    rd->handshake_left = 0;
    if (ac) {
        ac->data = NULL;
        if (free_ctx)
            redisAsyncFree(ac);
    }
    fail_waiting(rd, rd->closing ? STORE_ECLOSING : STORE_EUNAVAIL);
    if (rd->closing) {
        rd_maybe_finish(rd);
        return;
    }
    const char *desc = store__common(rd->store)->describe;
    if (was == RD_READY)
        store__log(rd->store, STORE_LOG_WARNING,
                   "state store %s: connection lost (%s); sends are refused until it is "
                   "back",
                   desc, why);
    else if (!rd->down_logged)
        store__log(rd->store, STORE_LOG_WARNING,
                   "state store %s cannot be reached (%s); sends are refused until it "
                   "is, retrying",
                   desc, why);
    else
        store__log(rd->store, STORE_LOG_DEBUG, "state store %s: still unreachable (%s)",
                   desc, why);
    rd->down_logged = true;
    rd_timer_in(rd, rd->backoff_ms);
    /* Jitter keeps many instances from reconnecting in step. */
    uint32_t next = rd->backoff_ms * 2 + (uint32_t)(uv_hrtime() % RD_BACKOFF_MIN_MS);
    rd->backoff_ms = next > RD_BACKOFF_MAX_MS ? RD_BACKOFF_MAX_MS : next;
}

static void rd_ready(struct rd_store *rd)
{
    rd->state = RD_READY;
    rd->backoff_ms = RD_BACKOFF_MIN_MS;
    if (rd->down_logged)
        store__log(rd->store, STORE_LOG_INFO, "state store %s: connected",
                   store__common(rd->store)->describe);
    rd->down_logged = false;
    uv_timer_stop(&rd->timer);
    struct store_op *op = rd->wait_head;
    rd->wait_head = rd->wait_tail = NULL;
    while (op) {
        struct store_op *next = op->next;
        rd_send(rd, op);
        op = next;
    }
    /* Closing while connecting: what waited has gone out; now finish. */
    if (rd->closing)
        redisAsyncDisconnect(rd->ac);
}

/* The signature is hiredis's redisCallbackFn. */
// cppcheck-suppress constParameter
static void on_handshake(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct rd_store *rd = privdata;
    const redisReply *r = reply;
    if (!r || ac != rd->ac)
        return; /* the connection went; rd_drop has run or will */
    if (r->type == REDIS_REPLY_ERROR) {
        /* AUTH and SELECT errors name no secret ("WRONGPASS ..."). */
        char why[160];
        snprintf(why, sizeof why, "%.*s", (int)(r->len < 120 ? r->len : 120), r->str);
        rd_drop(rd, true, why);
        return;
    }
    /* The SCRIPT LOAD replies come last, in script order. */
    int script = RD_SCRIPTS - rd->handshake_left;
    if (script >= 0 && r->type == REDIS_REPLY_STRING && r->len == 40)
        memcpy(rd->sha[script], r->str, 41);
    if (--rd->handshake_left == 0)
        rd_ready(rd);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct rd_store *rd = ac->data;
    if (rd && status != REDIS_OK)
        rd_drop(rd, false, ac->errstr[0] ? ac->errstr : "connect failed");
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    struct rd_store *rd = ac->data;
    if (rd)
        rd_drop(rd, false, ac->errstr[0] ? ac->errstr : "closed by the server");
}

static int rd_handshake(struct rd_store *rd)
{
    redisAsyncContext *ac = rd->ac;
    int rc = REDIS_OK;
    /* Commands are buffered until the socket connects. */
    rd->handshake_left = RD_SCRIPTS;
    if (rd->spec.password) {
        rd->handshake_left++;
        rc = rd->spec.user
                 ? redisAsyncCommand(ac, on_handshake, rd, "AUTH %s %s", rd->spec.user,
                                     rd->spec.password)
                 : redisAsyncCommand(ac, on_handshake, rd, "AUTH %s", rd->spec.password);
    }
    if (rc == REDIS_OK && rd->spec.db != 0) {
        rd->handshake_left++;
        rc = redisAsyncCommand(ac, on_handshake, rd, "SELECT %d", rd->spec.db);
    }
    for (int i = 0; rc == REDIS_OK && i < RD_SCRIPTS; i++)
        rc = redisAsyncCommand(ac, on_handshake, rd, "SCRIPT LOAD %s", rd_scripts[i]);
    return rc == REDIS_OK ? 0 : -1;
}

static void rd_connect_ip(struct rd_store *rd, const char *ip)
{
    redisAsyncContext *ac = redisAsyncConnect(ip, rd->spec.port);
    if (!ac) {
        rd_drop(rd, false, "out of memory");
        return;
    }
    if (ac->err) {
        char why[128];
        snprintf(why, sizeof why, "%s", ac->errstr);
        redisAsyncFree(ac); /* no hooks yet: nothing of ours is touched */
        rd_drop(rd, false, why);
        return;
    }
    if (ev_attach(rd, ac) != 0) {
        redisAsyncFree(ac);
        rd_drop(rd, false, "cannot watch the socket");
        return;
    }
    rd->ac = ac;
    rd->state = RD_CONNECTING;
    ac->data = rd;
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    if (rd_handshake(rd) != 0)
        rd_drop(rd, true, "cannot queue the handshake");
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    struct rd_store *rd = req->data;
    rd->gai_active = false;
    unsigned attempt = (unsigned)(uintptr_t)req->reserved[0];
    char ip[64] = "";
    if (status == 0 && res) {
        if (res->ai_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)res->ai_addr, ip, sizeof ip);
        else
            uv_ip4_name((struct sockaddr_in *)res->ai_addr, ip, sizeof ip);
    }
    uv_freeaddrinfo(res);
    if (rd->closing) {
        rd_maybe_finish(rd);
        return;
    }
    if (attempt != rd->attempt || rd->state != RD_RESOLVING)
        return; /* that attempt timed out already */
    if (!ip[0]) {
        char why[128];
        snprintf(why, sizeof why, "cannot resolve the host: %s",
                 uv_strerror(status ? status : UV_EAI_NONAME));
        rd_drop(rd, false, why);
        return;
    }
    rd_connect_ip(rd, ip);
}

static void rd_start_attempt(struct rd_store *rd)
{
    rd->attempt++;
    rd_timer_in(rd, store__common(rd->store)->opts.connect_timeout_ms);
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, rd->spec.host, buf) == 1 ||
        inet_pton(AF_INET6, rd->spec.host, buf) == 1) {
        rd_connect_ip(rd, rd->spec.host);
        return;
    }
    /* "localhost" is loopback by definition (RFC 6761), as libcurl treats
     * it; a minimal system without /etc/hosts cannot resolve it otherwise. */
    if (strcasecmp(rd->spec.host, "localhost") == 0) {
        rd_connect_ip(rd, "127.0.0.1");
        return;
    }
    if (rd->gai_active) {
        rd_drop(rd, false, "the previous name lookup is still running");
        return;
    }
    /* hiredis would resolve the name itself, blocking the loop. */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    rd->gai.data = rd;
    rd->gai.reserved[0] = (void *)(uintptr_t)rd->attempt;
    rd->state = RD_RESOLVING;
    int rc = uv_getaddrinfo(rd->loop, &rd->gai, on_resolved, rd->spec.host, rd->port_str,
                            &hints);
    if (rc != 0) {
        char why[128];
        snprintf(why, sizeof why, "cannot resolve the host: %s", uv_strerror(rc));
        rd_drop(rd, false, why);
        return;
    }
    rd->gai_active = true;
}

static void on_timer(uv_timer_t *t)
{
    struct rd_store *rd = t->data;
    switch (rd->state) {
    case RD_DOWN:
        rd_start_attempt(rd);
        break;
    case RD_RESOLVING:
        uv_cancel((uv_req_t *)&rd->gai);
        rd_drop(rd, false, "timed out resolving the host");
        break;
    case RD_CONNECTING:
        rd_drop(rd, true, "timed out connecting");
        break;
    case RD_READY:
        if (oldest(rd) && uv_now(rd->loop) >= oldest(rd)->deadline)
            rd_drop(rd, true, "a command timed out");
        else if (oldest(rd))
            rd_timer_in(rd, oldest(rd)->deadline - uv_now(rd->loop));
        break;
    }
}

static void rd_timer_in(struct rd_store *rd, uint64_t ms)
{
    uv_timer_start(&rd->timer, on_timer, ms, 0);
}

/* ---- operations ---- */

/* The command sent first, whose deadline comes first; NULL when none. */
static struct store_op *oldest(const struct rd_store *rd)
{
    return list_empty(&rd->fly) ? NULL
                                : container_of(rd->fly.next, struct store_op, link);
}

static long long int_at(const redisReply *r, size_t i)
{
    if (r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return 0;
    const redisReply *e = r->element[i];
    if (e->type == REDIS_REPLY_INTEGER)
        return e->integer;
    if (e->type == REDIS_REPLY_STRING)
        return strtoll(e->str, NULL, 10);
    return 0;
}

static int read_claim(struct store_op *op, const redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return STORE_EUNAVAIL;
    static const struct {
        const char *word;
        enum store_claim_outcome outcome;
    } words[] = {{"claimed", STORE_CLAIMED},
                 {"progress", STORE_IN_PROGRESS},
                 {"replay", STORE_REPLAY},
                 {"mismatch", STORE_MISMATCH},
                 {"unknown", STORE_UNKNOWN}};
    const char *word = r->element[0]->str;
    size_t i = 0;
    while (i < sizeof words / sizeof words[0] && strcmp(words[i].word, word) != 0)
        i++;
    if (i == sizeof words / sizeof words[0])
        return STORE_EUNAVAIL;
    op->claim.outcome = words[i].outcome;
    op->claim.created_ms = int_at(r, 1);
    op->claim.expires_ms = int_at(r, 2);
    if (op->claim.outcome == STORE_CLAIMED)
        memcpy(op->claim.token, op->token, STORE_TOKEN_SIZE);
    if (r->elements > 3 && r->element[3]->type == REDIS_REPLY_STRING &&
        r->element[3]->len > 0) {
        op->result = strndup(r->element[3]->str, r->element[3]->len);
        if (!op->result)
            return STORE_ENOMEM;
        op->claim.result = op->result;
    }
    return 0;
}

static int read_reply(struct store_op *op, const redisReply *r)
{
    switch (op->kind) {
    case STORE_OP_CLAIM:
        return read_claim(op, r);
    case STORE_OP_SETTLE:
        if (r->type != REDIS_REPLY_INTEGER)
            return STORE_EUNAVAIL;
        return r->integer == 1 ? 0 : STORE_ENOTOWNER;
    case STORE_OP_FORGET:
        if (r->type != REDIS_REPLY_INTEGER)
            return STORE_EUNAVAIL;
        op->count = r->integer;
        return 0;
    case STORE_OP_RATE:
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 4)
            return STORE_EUNAVAIL;
        op->rate.allowed = int_at(r, 0) == 1;
        op->rate.remaining = int_at(r, 1);
        op->rate.retry_after_ms = int_at(r, 2);
        op->rate.reset_after_ms = int_at(r, 3);
        return 0;
    case STORE_OP_STATS:
        if (r->type != REDIS_REPLY_ARRAY || r->elements != 5)
            return STORE_EUNAVAIL;
        op->stats.idem_pending = int_at(r, 0);
        op->stats.idem_done = int_at(r, 1);
        op->stats.idem_unknown = int_at(r, 2);
        op->stats.dup_entries = int_at(r, 3);
        op->stats.rate_keys = int_at(r, 4);
        return 0;
    }
    return STORE_EUNAVAIL;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    struct store_op *op = privdata;
    struct rd_store *rd = store__common(op->store)->impl;
    const redisReply *r = reply;
    list_remove(&op->link);
    if (!r) {
        /* The connection ended with this command unanswered. */
        fail_op(rd, op, rd->closing ? STORE_ECLOSING : STORE_EUNAVAIL);
        return;
    }
    /* A Redis restarted or flushed since our SCRIPT LOAD: send the script
     * itself, once. */
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 &&
        !op->retried) {
        op->retried = 1;
        rd_send(rd, op);
        return;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        store__log(rd->store, STORE_LOG_ERROR, "state store %s: %.*s",
                   store__common(rd->store)->describe, (int)(r->len < 200 ? r->len : 200),
                   r->str);
        fail_op(rd, op, STORE_EUNAVAIL);
    } else {
        op->status = read_reply(op, r);
        store__complete(rd->store, op);
    }
    const struct store_op *next = oldest(rd);
    if (rd->state == RD_READY && next)
        rd_timer_in(rd, next->deadline > uv_now(rd->loop)
                            ? next->deadline - uv_now(rd->loop)
                            : 0);
}

/* Redis keys: msg91:<ns>:<persona>:<tool>:<key>, msg91:r:<key>. */
static char *entry_name(const struct store_op *op)
{
    char *name = NULL;
    int n = op->kind == STORE_OP_RATE ? asprintf(&name, RD_PREFIX "r:%s", op->key)
                                      : asprintf(&name, RD_PREFIX "%c:%s:%s:%s", op->ns,
                                                 op->persona, op->tool, op->key);
    return n < 0 ? NULL : name;
}

/* Builds the command's arguments: EVALSHA sha (or EVAL script) and the
 * script's KEYS and ARGV. Returns argc, or -1. */
static int build_args(struct rd_store *rd, struct store_op *op, const char **argv,
                      char nums[][24], char **name)
{
    int script;
    int argc = 3;
    *name = NULL;
    if (op->kind == STORE_OP_STATS) {
        script = RD_STATS;
        argv[2] = "0";
    } else if (op->kind == STORE_OP_FORGET) {
        script = RD_FORGET;
        argv[2] = "0";
        argv[argc++] = RD_PREFIX "i:";
        argv[argc++] = op->persona ? op->persona : "";
        argv[argc++] = op->tool ? op->tool : "";
        argv[argc++] = op->key;
        argv[argc++] = op->persona ? "0" : "1";
        argv[argc++] = op->tool ? "0" : "1";
    } else {
        if (!(*name = entry_name(op)))
            return -1;
        argv[2] = "1";
        argv[argc++] = *name;
        if (op->kind == STORE_OP_CLAIM) {
            script = RD_CLAIM;
            /* As store__rule_claim: a duplicate-guard entry lives while
             * its call may run, and keeps its window for the settle. */
            bool dup = op->ns == STORE_NS_DUP;
            int64_t life = dup && op->lease_ms > op->ttl_ms ? op->lease_ms : op->ttl_ms;
            snprintf(nums[0], 24, "%lld", (long long)op->lease_ms);
            snprintf(nums[1], 24, "%lld", (long long)life);
            snprintf(nums[2], 24, "%lld", dup ? (long long)op->ttl_ms : 0LL);
            argv[argc++] = op->fp ? op->fp : "";
            argv[argc++] = op->token;
            argv[argc++] = nums[0];
            argv[argc++] = nums[1];
            argv[argc++] = nums[2];
        } else if (op->kind == STORE_OP_SETTLE) {
            script = RD_SETTLE;
            snprintf(nums[0], 24, "%c", op->action);
            snprintf(nums[1], 24, "%lld", (long long)op->ttl_ms);
            argv[argc++] = op->token;
            argv[argc++] = nums[0];
            argv[argc++] = op->value ? op->value : "";
            argv[argc++] = nums[1];
        } else {
            script = RD_RATE;
            snprintf(nums[0], 24, "%lld", (long long)op->limit);
            snprintf(nums[1], 24, "%lld", (long long)op->period_ms);
            argv[argc++] = nums[0];
            argv[argc++] = nums[1];
        }
    }
    bool by_sha = !op->retried && rd->sha[script][0];
    argv[0] = by_sha ? "EVALSHA" : "EVAL";
    argv[1] = by_sha ? rd->sha[script] : rd_scripts[script];
    return argc;
}

static void rd_send(struct rd_store *rd, struct store_op *op)
{
    const char *argv[12];
    char nums[3][24];
    char *name;
    int argc = build_args(rd, op, argv, nums, &name);
    if (argc < 0) {
        fail_op(rd, op, STORE_ENOMEM);
        return;
    }
    /* hiredis copies the arguments into its output buffer. */
    int rc = redisAsyncCommandArgv(rd->ac, on_reply, op, argc, argv, NULL);
    free(name);
    if (rc != REDIS_OK) {
        fail_op(rd, op, STORE_EUNAVAIL);
        return;
    }
    op->deadline = uv_now(rd->loop) + store__common(rd->store)->opts.command_timeout_ms;
    bool first = list_empty(&rd->fly);
    list_insert(rd->fly.prev, &op->link);
    if (first)
        rd_timer_in(rd, store__common(rd->store)->opts.command_timeout_ms);
}

static void rd_submit(struct store *s, struct store_op *op)
{
    struct rd_store *rd = store__common(s)->impl;
    switch (rd->state) {
    case RD_READY:
        rd_send(rd, op);
        break;
    case RD_RESOLVING:
    case RD_CONNECTING:
        store__queue_push(&rd->wait_head, &rd->wait_tail, op);
        break;
    case RD_DOWN:
        fail_op(rd, op, STORE_EUNAVAIL);
        break;
    }
}

/* ---- closing ---- */

static void on_timer_closed(uv_handle_t *h)
{
    struct rd_store *rd = h->data;
    rd->handles--;
    rd_maybe_finish(rd);
}

static void rd_free(struct rd_store *rd)
{
    store__redis_spec_free(&rd->spec);
    free(rd);
}

static void rd_maybe_finish(struct rd_store *rd)
{
    if (!rd->closing || rd->gai_active || rd->ac)
        return;
    /* The timer bounded the last commands: it goes last. */
    if (!rd->timer_closing) {
        rd->timer_closing = true;
        uv_close((uv_handle_t *)&rd->timer, on_timer_closed);
        return;
    }
    if (rd->handles > 0)
        return;
    struct store *s = rd->store;
    rd_free(rd);
    store__backend_closed(s);
}

/* Settles queued just before the close (a dispatch's cancels mark keys
 * unknown or release them) must reach Redis, or a key stays "in
 * progress" for its lease and "unknown" for a day though nothing was
 * sent. So: take nothing new (store.c refuses it), let hiredis send what
 * it holds and wait for the replies, bounded by the command deadline
 * (the connect deadline while connecting), then end the connection. */
static void rd_close(struct store *s)
{
    struct rd_store *rd = store__common(s)->impl;
    rd->closing = true;
    if (rd->gai_active)
        uv_cancel((uv_req_t *)&rd->gai);
    switch (rd->state) {
    case RD_READY:
        /* Flushes the output buffer and ends once every reply is in. */
        redisAsyncDisconnect(rd->ac);
        break;
    case RD_CONNECTING:
        break; /* rd_ready sends what waits, then disconnects */
    case RD_RESOLVING:
    case RD_DOWN:
        fail_waiting(rd, STORE_ECLOSING);
        rd_maybe_finish(rd);
        break;
    }
}

static const struct store_backend store__redis_backend = {
    .name = "redis",
    .submit = rd_submit,
    .close = rd_close,
};

/* Takes the spec's strings; connects in the background. */
int store__redis_start(struct store *s, struct store_redis_spec *spec, char *err,
                       size_t err_size)
{
    struct store_common *c = store__common(s);
    struct rd_store *rd = calloc(1, sizeof *rd);
    if (!rd) {
        snprintf(err, err_size, "out of memory");
        return STORE_ENOMEM;
    }
    rd->store = s;
    rd->loop = c->loop;
    rd->backoff_ms = RD_BACKOFF_MIN_MS;
    list_init(&rd->fly);
    rd->spec = *spec;
    memset(spec, 0, sizeof *spec);
    snprintf(rd->port_str, sizeof rd->port_str, "%d", rd->spec.port);
    uv_timer_init(c->loop, &rd->timer);
    rd->timer.data = rd;
    rd->handles = 1;
    c->impl = rd;
    c->backend = &store__redis_backend;
    rd_start_attempt(rd);
    return 0;
}
