/* The state store (store/store.h): every operation against each backend
 * (one test body, run over memory, SQLite and a real redis-server), then
 * what only one backend has: SQLite shared between instances and
 * processes, Redis stopped, frozen and restarted, secrets kept out. */
#include <check.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "store/store.h"
#include "tests/testredis.h"
#include "tests/testutil.h"

enum { B_MEMORY, B_SQLITE, B_REDIS, B_COUNT };
static const char *const backend_names[] = {"memory", "sqlite", "redis"};

static uv_loop_t loop;
static char tmpdir[256];

/* ---- a real redis-server, shared by the tests of one run ---- */

static struct testutil_redis redis;

static void redis_setup(void)
{
    testutil_redis_start(&redis, NULL);
}

static void redis_teardown(void)
{
    testutil_redis_finish(&redis);
}

/* ---- per-test state ---- */

static char logged[8192];
static int warnings;

static void on_log(void *data, enum store_log_level level, const char *msg)
{
    (void)data;
    if (level >= STORE_LOG_WARNING)
        warnings++;
    size_t n = strlen(logged);
    snprintf(logged + n, sizeof logged - n, "%s\n", msg);
}

static void setup(void)
{
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    snprintf(tmpdir, sizeof tmpdir, "/tmp/store-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    logged[0] = '\0';
    warnings = 0;
}

static void teardown(void)
{
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    ck_assert_int_eq(system(cmd), 0);
}

static const char *spec_for(int backend)
{
    static char buf[512];
    switch (backend) {
    case B_MEMORY:
        return "memory";
    case B_SQLITE:
        snprintf(buf, sizeof buf, "sqlite:%s/state.db", tmpdir);
        return buf;
    default:
        if (redis.password)
            snprintf(buf, sizeof buf, "redis://:%s@127.0.0.1:%u/0", redis.password,
                     redis.port);
        else
            snprintf(buf, sizeof buf, "redis://127.0.0.1:%u/0", redis.port);
        return buf;
    }
}

static struct store *open_spec(const char *spec, uint32_t command_timeout_ms)
{
    struct store_options o = {
        .spec = spec, .log = on_log, .command_timeout_ms = command_timeout_ms};
    struct store *s = NULL;
    char err[256];
    int rc = store_open(&loop, &o, &s, err, sizeof err);
    ck_assert_msg(rc == 0, "store_open(%s): %s", spec ? spec : "(the default)", err);
    return s;
}

static struct store *open_backend(int backend)
{
    if (backend == B_REDIS)
        testutil_redis_flush(&redis);
    struct store *s = open_spec(spec_for(backend), 0);
    ck_assert_str_eq(store_backend(s), backend_names[backend]);
    return s;
}

static void on_closed(void *data)
{
    *(int *)data = 1;
}

static void close_store(struct store *s)
{
    int closed = 0;
    store_close(s, on_closed, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
}

/* ---- synchronous wrappers: run the loop until the callback ---- */

struct result {
    int done;
    int status;
    struct store_claim claim;
    char value[256];
    bool has_value;
    int64_t count;
    struct store_rate rate;
    struct store_stats stats;
};

static void wait_for(const struct result *r)
{
    while (!r->done)
        uv_run(&loop, UV_RUN_ONCE);
}

static void on_claim(void *data, int status, const struct store_claim *c)
{
    struct result *r = data;
    r->done++;
    r->status = status;
    if (c) {
        r->claim = *c;
        r->has_value = c->result != NULL;
        snprintf(r->value, sizeof r->value, "%s", c->result ? c->result : "");
        r->claim.result = NULL;
    }
}

static void on_done(void *data, int status)
{
    struct result *r = data;
    r->done++;
    r->status = status;
}

static void on_count(void *data, int status, int64_t count)
{
    struct result *r = data;
    r->done++;
    r->status = status;
    r->count = count;
}

static void on_rate(void *data, int status, const struct store_rate *rate)
{
    struct result *r = data;
    r->done++;
    r->status = status;
    if (rate)
        r->rate = *rate;
}

static void on_stats(void *data, int status, const struct store_stats *st)
{
    struct result *r = data;
    r->done++;
    r->status = status;
    if (st)
        r->stats = *st;
}

static const struct store_key *K(const char *persona, const char *tool, const char *key)
{
    static struct store_key ks[8];
    static unsigned next;
    struct store_key *k = &ks[next++ % 8];
    *k = (struct store_key){persona, tool, key};
    return k;
}

static struct result claim(struct store *s, const struct store_key *k, const char *fp,
                           uint64_t lease_ms, uint64_t ttl_ms)
{
    struct result r = {0};
    ck_assert_int_eq(store_idem_claim(s, k, fp, lease_ms, ttl_ms, on_claim, &r), 0);
    wait_for(&r);
    ck_assert_int_eq(r.done, 1);
    return r;
}

static int complete(struct store *s, const struct store_key *k, const char *token,
                    const char *result, uint64_t ttl_ms)
{
    struct result r = {0};
    ck_assert_int_eq(store_idem_complete(s, k, token, result, ttl_ms, on_done, &r), 0);
    wait_for(&r);
    return r.status;
}

static int mark_unknown(struct store *s, const struct store_key *k, const char *token)
{
    struct result r = {0};
    ck_assert_int_eq(store_idem_mark_unknown(s, k, token, on_done, &r), 0);
    wait_for(&r);
    return r.status;
}

static int release(struct store *s, const struct store_key *k, const char *token)
{
    struct result r = {0};
    ck_assert_int_eq(store_idem_release(s, k, token, on_done, &r), 0);
    wait_for(&r);
    return r.status;
}

static int64_t forget(struct store *s, const char *persona, const char *tool,
                      const char *key)
{
    struct result r = {0};
    ck_assert_int_eq(store_idem_forget(s, persona, tool, key, on_count, &r), 0);
    wait_for(&r);
    ck_assert_int_eq(r.status, 0);
    return r.count;
}

static struct result dup_begin(struct store *s, const struct store_key *k,
                               uint64_t window_ms, uint64_t lease_ms)
{
    struct result r = {0};
    ck_assert_int_eq(store_dup_begin(s, k, window_ms, lease_ms, on_claim, &r), 0);
    wait_for(&r);
    return r;
}

static int dup_end(struct store *s, const struct store_key *k, const char *token,
                   enum store_dup_outcome outcome, const char *request_id)
{
    struct result r = {0};
    ck_assert_int_eq(store_dup_end(s, k, token, outcome, request_id, on_done, &r), 0);
    wait_for(&r);
    return r.status;
}

static struct result rate_take(struct store *s, const char *key, uint64_t limit,
                               uint64_t period_ms)
{
    struct result r = {0};
    ck_assert_int_eq(store_rate_take(s, key, limit, period_ms, on_rate, &r), 0);
    wait_for(&r);
    return r;
}

static struct store_stats stats(struct store *s)
{
    struct result r = {0};
    ck_assert_int_eq(store_stats(s, on_stats, &r), 0);
    wait_for(&r);
    ck_assert_int_eq(r.status, 0);
    return r.stats;
}

/* Lets the loop run for ms: for waiting until a TTL or lease the test set
 * has passed, which is state the store exposes, not a guess. */
static void on_timer(uv_timer_t *t)
{
    *(int *)t->data = 1;
}

static void let_time_pass(uint64_t ms)
{
    uv_timer_t t;
    int fired = 0;
    uv_timer_init(&loop, &t);
    t.data = &fired;
    uv_timer_start(&t, on_timer, ms, 0);
    while (!fired)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define HOUR 3600000

/* ---- one body per operation, run over every backend ---- */

START_TEST(idem_claim_replay_mismatch)
{
    struct store *s = open_backend(_i);
    const struct store_key *k = K("alice", "send_otp", "key-1");
    int64_t before = now_ms();
    /* Callbacks never run inside the call, whatever the backend. */
    struct result early = {0};
    ck_assert_int_eq(
        store_idem_claim(s, K("early", "t", "k"), "fp", 10, HOUR, on_claim, &early), 0);
    ck_assert_int_eq(early.done, 0);
    wait_for(&early);
    struct result a = claim(s, k, "fp-A", 10000, HOUR);
    ck_assert_int_eq(a.status, 0);
    ck_assert_int_eq(a.claim.outcome, STORE_CLAIMED);
    ck_assert_uint_eq(strlen(a.claim.token), 32);
    /* Redis keeps its own clock: allow a little skew either side. */
    ck_assert_int_ge(a.claim.created_ms, before - 1000);
    ck_assert_int_le(a.claim.created_ms, now_ms() + 1000);
    ck_assert_int_eq(a.claim.expires_ms, a.claim.created_ms + HOUR);

    struct result b = claim(s, k, "fp-A", 10000, HOUR);
    ck_assert_int_eq(b.status, 0);
    ck_assert_int_eq(b.claim.outcome, STORE_IN_PROGRESS);
    ck_assert_int_eq(b.claim.created_ms, a.claim.created_ms);
    ck_assert_int_eq(claim(s, k, "fp-B", 10000, HOUR).claim.outcome, STORE_MISMATCH);

    /* Same key, other persona or other tool: a different key. */
    ck_assert_int_eq(
        claim(s, K("bob", "send_otp", "key-1"), "fp-B", 10000, HOUR).claim.outcome,
        STORE_CLAIMED);
    ck_assert_int_eq(
        claim(s, K("alice", "resend_otp", "key-1"), "fp-B", 10000, HOUR).claim.outcome,
        STORE_CLAIMED);

    ck_assert_int_eq(complete(s, k, "0123456789abcdef0123456789abcdef", "x", HOUR),
                     STORE_ENOTOWNER);
    ck_assert_int_eq(complete(s, k, a.claim.token, "{\"ok\":true}", 2 * HOUR), 0);
    struct result c = claim(s, k, "fp-A", 10000, HOUR);
    ck_assert_int_eq(c.claim.outcome, STORE_REPLAY);
    ck_assert(c.has_value);
    ck_assert_str_eq(c.value, "{\"ok\":true}");
    ck_assert_int_eq(c.claim.created_ms, a.claim.created_ms);
    ck_assert_int_ge(c.claim.expires_ms, a.claim.created_ms + 2 * HOUR - 1000);
    ck_assert_int_eq(claim(s, k, "fp-B", 10000, HOUR).claim.outcome, STORE_MISMATCH);
    /* A settled claim settles no more. */
    ck_assert_int_eq(
        complete(s, K("nobody", "send_otp", "key-1"), a.claim.token, "x", 10),
        STORE_ENOTOWNER);
    close_store(s);
}
END_TEST

START_TEST(idem_lapsed_lease_is_unknown_for_good)
{
    struct store *s = open_backend(_i);
    const struct store_key *k = K("", "send_sms_flow", "retry-me");
    struct result a = claim(s, k, "fp", 30, HOUR);
    ck_assert_int_eq(a.claim.outcome, STORE_CLAIMED);
    let_time_pass(40);
    /* The holder vanished: never claimed again, never sent again. */
    struct result b = claim(s, k, "fp", 30, HOUR);
    ck_assert_int_eq(b.claim.outcome, STORE_UNKNOWN);
    ck_assert(!b.has_value);
    ck_assert_int_eq(claim(s, k, "fp", 30, HOUR).claim.outcome, STORE_UNKNOWN);
    ck_assert_int_eq(claim(s, k, "other", 30, HOUR).claim.outcome, STORE_MISMATCH);
    /* A late holder still records the true outcome. */
    ck_assert_int_eq(complete(s, k, a.claim.token, "late", HOUR), 0);
    struct result c = claim(s, k, "fp", 30, HOUR);
    ck_assert_int_eq(c.claim.outcome, STORE_REPLAY);
    ck_assert_str_eq(c.value, "late");
    close_store(s);
}
END_TEST

START_TEST(idem_mark_unknown_release_and_expiry)
{
    struct store *s = open_backend(_i);
    const struct store_key *k = K("p", "send_otp", "u");
    struct result a = claim(s, k, "fp", 10000, HOUR);
    ck_assert_int_eq(mark_unknown(s, k, a.claim.token), 0);
    ck_assert_int_eq(claim(s, k, "fp", 10000, HOUR).claim.outcome, STORE_UNKNOWN);

    /* Released: nothing was sent, the next call starts afresh. */
    const struct store_key *r = K("p", "send_otp", "r");
    struct result b = claim(s, r, "fp", 10000, HOUR);
    ck_assert_int_eq(release(s, r, b.claim.token), 0);
    struct result c = claim(s, r, "fp2", 10000, HOUR);
    ck_assert_int_eq(c.claim.outcome, STORE_CLAIMED);
    ck_assert_str_ne(c.claim.token, b.claim.token);
    ck_assert_int_eq(complete(s, r, b.claim.token, "stale", HOUR), STORE_ENOTOWNER);
    ck_assert_int_eq(release(s, r, b.claim.token), STORE_ENOTOWNER);

    /* A stored result lasts its TTL, then the key is new again. */
    const struct store_key *e = K("p", "send_otp", "e");
    struct result d = claim(s, e, "fp", 10000, HOUR);
    ck_assert_int_eq(complete(s, e, d.claim.token, "res", 500), 0);
    ck_assert_int_eq(claim(s, e, "fp", 10000, HOUR).claim.outcome, STORE_REPLAY);
    let_time_pass(520);
    ck_assert_int_eq(claim(s, e, "fp", 10000, HOUR).claim.outcome, STORE_CLAIMED);
    close_store(s);
}
END_TEST

START_TEST(idem_forget)
{
    struct store *s = open_backend(_i);
    claim(s, K("a", "t1", "k"), "fp", 10000, HOUR);
    claim(s, K("a", "t2", "k"), "fp", 10000, HOUR);
    claim(s, K("b", "t1", "k"), "fp", 10000, HOUR);
    claim(s, K("", "t1", "k"), "fp", 10000, HOUR);
    /* Keys may hold ':'; these must not match "k". */
    claim(s, K("a", "t1", "x:k"), "fp", 10000, HOUR);
    claim(s, K("a", "t1", "k:"), "fp", 10000, HOUR);
    ck_assert_int_eq(forget(s, "a", "t1", "k"), 1);
    ck_assert_int_eq(claim(s, K("a", "t1", "k"), "fp", 10000, HOUR).claim.outcome,
                     STORE_CLAIMED);
    ck_assert_int_eq(forget(s, NULL, "t1", "k"), 3);
    ck_assert_int_eq(forget(s, NULL, NULL, "k"), 1);
    ck_assert_int_eq(forget(s, NULL, NULL, "k"), 0);
    ck_assert_int_eq(claim(s, K("a", "t1", "x:k"), "fp", 10000, HOUR).claim.outcome,
                     STORE_IN_PROGRESS);
    ck_assert_int_eq(claim(s, K("a", "t1", "k:"), "fp", 10000, HOUR).claim.outcome,
                     STORE_IN_PROGRESS);
    close_store(s);
}
END_TEST

START_TEST(dup_guard)
{
    struct store *s = open_backend(_i);
    const struct store_key *k = K("p", "send_sms_flow", "canonical-args-hash");
    int64_t before = now_ms();
    struct result a = dup_begin(s, k, 60000, 10000);
    ck_assert_int_eq(a.status, 0);
    ck_assert_int_eq(a.claim.outcome, STORE_CLAIMED);
    ck_assert_int_eq(dup_begin(s, k, 60000, 10000).claim.outcome, STORE_IN_PROGRESS);
    ck_assert_int_eq(dup_end(s, k, a.claim.token, STORE_DUP_SUCCEEDED, "req-42"), 0);
    struct result b = dup_begin(s, k, 60000, 10000);
    ck_assert_int_eq(b.claim.outcome, STORE_REPLAY);
    ck_assert_str_eq(b.value, "req-42");
    ck_assert_int_ge(b.claim.created_ms, before - 1000);
    /* The window runs from the answer: at least as long from the call. */
    ck_assert_int_ge(b.claim.expires_ms, b.claim.created_ms + 60000);

    /* A twin that failed does not block. */
    const struct store_key *f = K("p", "send_sms_flow", "failed");
    struct result c = dup_begin(s, f, 60000, 10000);
    ck_assert_int_eq(dup_end(s, f, c.claim.token, STORE_DUP_FAILED, NULL), 0);
    ck_assert_int_eq(dup_begin(s, f, 60000, 10000).claim.outcome, STORE_CLAIMED);

    /* Unknown blocks like a success; so does a lapsed lease. */
    const struct store_key *u = K("p", "send_sms_flow", "unknown");
    struct result d = dup_begin(s, u, 60000, 10000);
    ck_assert_int_eq(dup_end(s, u, d.claim.token, STORE_DUP_UNKNOWN, NULL), 0);
    ck_assert_int_eq(dup_begin(s, u, 60000, 10000).claim.outcome, STORE_UNKNOWN);
    const struct store_key *l = K("p", "send_sms_flow", "lapsed");
    dup_begin(s, l, 60000, 20);
    let_time_pass(30);
    ck_assert_int_eq(dup_begin(s, l, 60000, 20).claim.outcome, STORE_UNKNOWN);

    /* After the window an identical call is new. */
    const struct store_key *w = K("p", "send_sms_flow", "short-window");
    struct result e = dup_begin(s, w, 500, 10000);
    ck_assert_int_eq(dup_end(s, w, e.claim.token, STORE_DUP_SUCCEEDED, "r"), 0);
    ck_assert_int_eq(dup_begin(s, w, 500, 10000).claim.outcome, STORE_REPLAY);
    let_time_pass(520);
    ck_assert_int_eq(dup_begin(s, w, 500, 10000).claim.outcome, STORE_CLAIMED);
    /* Idempotency keys and duplicate entries do not see each other. */
    ck_assert_int_eq(claim(s, k, "fp", 10000, HOUR).claim.outcome, STORE_CLAIMED);
    close_store(s);
}
END_TEST

/* A call that runs longer than the window keeps its twins out while it
 * runs (up to its lease), and its success keeps them out for a whole
 * window from the answer, not from the start. */
START_TEST(dup_window_counts_from_the_answer)
{
    struct store *s = open_backend(_i);
    const struct store_key *k = K("p", "send_sms", "slow-call");
    struct result a = dup_begin(s, k, 300, 5000);
    ck_assert_int_eq(a.claim.outcome, STORE_CLAIMED);
    let_time_pass(400);
    /* Past the window, still running: a twin must wait. */
    ck_assert_int_eq(dup_begin(s, k, 300, 5000).claim.outcome, STORE_IN_PROGRESS);
    int64_t answered = now_ms();
    ck_assert_int_eq(dup_end(s, k, a.claim.token, STORE_DUP_SUCCEEDED, "req-1"), 0);
    struct result b = dup_begin(s, k, 300, 5000);
    ck_assert_int_eq(b.claim.outcome, STORE_REPLAY);
    ck_assert_int_ge(b.claim.expires_ms, answered + 300);
    let_time_pass(b.claim.expires_ms - now_ms() + 20 > 0
                      ? (uint64_t)(b.claim.expires_ms - now_ms() + 20)
                      : 1);
    ck_assert_int_eq(dup_begin(s, k, 300, 5000).claim.outcome, STORE_CLAIMED);

    /* Unknown, settled late, is refused for a window from then too. */
    const struct store_key *u = K("p", "send_sms", "slow-unknown");
    struct result c = dup_begin(s, u, 300, 5000);
    let_time_pass(400);
    answered = now_ms();
    ck_assert_int_eq(dup_end(s, u, c.claim.token, STORE_DUP_UNKNOWN, NULL), 0);
    struct result d = dup_begin(s, u, 300, 5000);
    ck_assert_int_eq(d.claim.outcome, STORE_UNKNOWN);
    ck_assert_int_ge(d.claim.expires_ms, answered + 300);
    close_store(s);
}
END_TEST

START_TEST(rate_gcra)
{
    struct store *s = open_backend(_i);
    /* 3 per minute: a burst of 3, then one every 20 s. */
    for (int i = 0; i < 3; i++) {
        struct result r = rate_take(s, "otp:+919999999999", 3, 60000);
        ck_assert_int_eq(r.status, 0);
        ck_assert_int_eq(r.rate.allowed, 1);
        ck_assert_int_eq(r.rate.remaining, 2 - i);
    }
    struct result no = rate_take(s, "otp:+919999999999", 3, 60000);
    ck_assert_int_eq(no.rate.allowed, 0);
    ck_assert_int_eq(no.rate.remaining, 0);
    /* Less by however long the three calls took. */
    ck_assert_int_gt(no.rate.retry_after_ms, 15000);
    ck_assert_int_le(no.rate.retry_after_ms, 20000);
    ck_assert_int_gt(no.rate.reset_after_ms, 55000);
    ck_assert_int_le(no.rate.reset_after_ms, 60000);
    /* Another key has its own budget. */
    ck_assert_int_eq(rate_take(s, "otp:+971500000000", 3, 60000).rate.allowed, 1);

    /* After retry_after, exactly one more (2 per 2 s: one every second,
     * so a loaded machine cannot refill a token between two calls). */
    struct result a = rate_take(s, "fast", 2, 2000);
    ck_assert_int_eq(a.rate.allowed, 1);
    ck_assert_int_eq(rate_take(s, "fast", 2, 2000).rate.allowed, 1);
    struct result b = rate_take(s, "fast", 2, 2000);
    ck_assert_int_eq(b.rate.allowed, 0);
    let_time_pass((uint64_t)b.rate.retry_after_ms + 2);
    ck_assert_int_eq(rate_take(s, "fast", 2, 2000).rate.allowed, 1);
    ck_assert_int_eq(rate_take(s, "fast", 2, 2000).rate.allowed, 0);
    close_store(s);
}
END_TEST

START_TEST(stats_count_live_entries)
{
    struct store *s = open_backend(_i);
    struct store_stats st = stats(s);
    ck_assert_int_eq(st.idem_pending + st.idem_done + st.idem_unknown + st.dup_entries +
                         st.rate_keys,
                     0);
    claim(s, K("p", "t", "pending"), "fp", 100000, HOUR);
    struct result d = claim(s, K("p", "t", "done"), "fp", 100000, HOUR);
    complete(s, K("p", "t", "done"), d.claim.token, "r", HOUR);
    struct result u = claim(s, K("p", "t", "unknown"), "fp", 100000, HOUR);
    mark_unknown(s, K("p", "t", "unknown"), u.claim.token);
    claim(s, K("p", "t", "lapsed"), "fp", 1, HOUR);
    dup_begin(s, K("p", "t", "dup1"), 60000, 1000);
    dup_begin(s, K("p", "t", "dup2"), 60000, 1000);
    rate_take(s, "r1", 5, 60000);
    let_time_pass(5);
    st = stats(s);
    ck_assert_int_eq(st.idem_pending, 1);
    ck_assert_int_eq(st.idem_done, 1);
    ck_assert_int_eq(st.idem_unknown, 2);
    ck_assert_int_eq(st.dup_entries, 2);
    ck_assert_int_eq(st.rate_keys, 1);
    close_store(s);
}
END_TEST

/* Two clients claim the same keys at the same moment: exactly one wins
 * each. Memory is one process, so its two clients share one store. */
START_TEST(concurrent_claims_have_one_winner)
{
    struct store *s1 = open_backend(_i);
    struct store *s2 = _i == B_MEMORY ? s1 : open_spec(spec_for(_i), 0);
    enum { N = 50 };
    static struct result r1[N], r2[N];
    char keys[N][16];
    memset(r1, 0, sizeof r1);
    memset(r2, 0, sizeof r2);
    for (int i = 0; i < N; i++) {
        snprintf(keys[i], sizeof keys[i], "race-%d", i);
        const struct store_key k = {"p", "send_otp", keys[i]};
        ck_assert_int_eq(store_idem_claim(s1, &k, "fp", 10000, HOUR, on_claim, &r1[i]),
                         0);
        ck_assert_int_eq(store_idem_claim(s2, &k, "fp", 10000, HOUR, on_claim, &r2[i]),
                         0);
    }
    int wins[2] = {0, 0};
    for (int i = 0; i < N; i++) {
        wait_for(&r1[i]);
        wait_for(&r2[i]);
        ck_assert_int_eq(r1[i].status, 0);
        ck_assert_int_eq(r2[i].status, 0);
        int w = (r1[i].claim.outcome == STORE_CLAIMED) +
                (r2[i].claim.outcome == STORE_CLAIMED);
        ck_assert_msg(w == 1, "key %d: %d winners", i, w);
        wins[r1[i].claim.outcome == STORE_CLAIMED ? 0 : 1]++;
        const struct result *loser =
            r1[i].claim.outcome == STORE_CLAIMED ? &r2[i] : &r1[i];
        ck_assert_int_eq(loser->claim.outcome, STORE_IN_PROGRESS);
    }
    ck_assert_int_eq(wins[0] + wins[1], N);
    if (s2 != s1)
        close_store(s2);
    close_store(s1);
}
END_TEST

START_TEST(bad_arguments_are_refused_without_callback)
{
    struct store *s = open_backend(_i);
    struct result r = {0};
    ck_assert_int_eq(store_idem_claim(s, K("a:b", "t", "k"), "fp", 1, 1, on_claim, &r),
                     STORE_EINVAL);
    ck_assert_int_eq(store_idem_claim(s, K("a", "t:x", "k"), "fp", 1, 1, on_claim, &r),
                     STORE_EINVAL);
    ck_assert_int_eq(store_idem_claim(s, K("a", "t", ""), "fp", 1, 1, on_claim, &r),
                     STORE_EINVAL);
    ck_assert_int_eq(store_idem_claim(s, K("a", "t", "k"), NULL, 1, 1, on_claim, &r),
                     STORE_EINVAL);
    ck_assert_int_eq(store_idem_claim(s, K("a", "t", "k"), "fp", 1, 0, on_claim, &r),
                     STORE_EINVAL);
    ck_assert_int_eq(store_rate_take(s, "k", 0, 1000, on_rate, &r), STORE_EINVAL);
    ck_assert_int_eq(store_rate_take(s, "", 1, 1000, on_rate, &r), STORE_EINVAL);
    ck_assert_int_eq(store_dup_end(s, K("a", "t", "k"), "tok", 7, NULL, on_done, &r),
                     STORE_EINVAL);
    ck_assert_int_eq(store_idem_forget(s, NULL, NULL, "", on_count, &r), STORE_EINVAL);
    uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(r.done, 0);
    close_store(s);
}
END_TEST

/* Close with operations in flight: each still gets its one callback, then
 * the close callback runs; later calls are refused. */
START_TEST(close_completes_pending_operations)
{
    struct store *s = open_backend(_i);
    struct result r[4] = {{0}};
    ck_assert_int_eq(
        store_idem_claim(s, K("p", "t", "a"), "fp", 1000, HOUR, on_claim, &r[0]), 0);
    ck_assert_int_eq(store_rate_take(s, "k", 1, 1000, on_rate, &r[1]), 0);
    ck_assert_int_eq(store_stats(s, on_stats, &r[2]), 0);
    ck_assert_int_eq(store_idem_forget(s, NULL, NULL, "a", on_count, &r[3]), 0);
    int closed = 0;
    store_close(s, on_closed, &closed);
    while (!closed)
        uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(r[i].done, 1);
        ck_assert(r[i].status == 0 || r[i].status == STORE_ECLOSING);
    }
}
END_TEST

/* Settles queued just before the close are delivered, not dropped: the
 * next process sees the key unknown, released, the twin free. */
START_TEST(close_delivers_settles_queued_just_before)
{
    struct store *s = open_backend(_i);
    struct result a = claim(s, K("p", "t", "unk"), "fp", 10000, HOUR);
    struct result b = claim(s, K("p", "t", "rel"), "fp", 10000, HOUR);
    struct result d = dup_begin(s, K("p", "t", "dup"), 60000, 10000);
    ck_assert_int_eq(a.claim.outcome, STORE_CLAIMED);
    ck_assert_int_eq(b.claim.outcome, STORE_CLAIMED);
    ck_assert_int_eq(d.claim.outcome, STORE_CLAIMED);
    struct result r[3] = {{0}};
    ck_assert_int_eq(
        store_idem_mark_unknown(s, K("p", "t", "unk"), a.claim.token, on_done, &r[0]), 0);
    ck_assert_int_eq(
        store_idem_release(s, K("p", "t", "rel"), b.claim.token, on_done, &r[1]), 0);
    ck_assert_int_eq(store_dup_end(s, K("p", "t", "dup"), d.claim.token, STORE_DUP_FAILED,
                                   NULL, on_done, &r[2]),
                     0);
    close_store(s);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(r[i].done, 1);
        ck_assert_int_eq(r[i].status, 0);
    }
    if (_i == B_MEMORY)
        return; /* its state ends with the process */
    s = open_spec(spec_for(_i), 0);
    ck_assert_int_eq(claim(s, K("p", "t", "unk"), "fp", 10000, HOUR).claim.outcome,
                     STORE_UNKNOWN);
    ck_assert_int_eq(claim(s, K("p", "t", "rel"), "fp", 10000, HOUR).claim.outcome,
                     STORE_CLAIMED);
    ck_assert_int_eq(dup_begin(s, K("p", "t", "dup"), 60000, 10000).claim.outcome,
                     STORE_CLAIMED);
    close_store(s);
}
END_TEST

/* ---- the spec string and the default location ---- */

START_TEST(spec_errors_are_sentences)
{
    const char *bad[] = {"mysql://x",
                         "redis://",
                         "redis://:pw@",
                         "redis://host:notaport",
                         "redis://host:6379/x",
                         "redis://host:70000",
                         "sqlite"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct store_options o = {.spec = bad[i], .log = on_log};
        struct store *s = NULL;
        char err[256] = "";
        ck_assert_msg(store_open(&loop, &o, &s, err, sizeof err) == STORE_EINVAL, "%s",
                      bad[i]);
        ck_assert_msg(strlen(err) > 10, "%s: no sentence", bad[i]);
    }
    /* An explicit SQLite path that cannot be used is an error, not memory. */
    struct store_options o = {.spec = "sqlite:/nonexistent-dir/x/state.db",
                              .log = on_log};
    struct store *s = NULL;
    char err[256] = "";
    ck_assert_int_eq(store_open(&loop, &o, &s, err, sizeof err), STORE_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "/nonexistent-dir/x/state.db"));
    ck_assert_int_eq(warnings, 0);
}
END_TEST

START_TEST(default_is_sqlite_under_xdg_state_home)
{
    setenv("XDG_STATE_HOME", tmpdir, 1);
    struct store *s = open_spec(NULL, 0);
    ck_assert_str_eq(store_backend(s), "sqlite");
    char path[512];
    snprintf(path, sizeof path, "sqlite:%s/msg91-mcp/state.db", tmpdir);
    ck_assert_str_eq(store_describe(s), path);
    struct stat st;
    ck_assert_int_eq(stat(path + 7, &st), 0);
    ck_assert_int_eq(warnings, 0);
    close_store(s);

    /* Relative XDG_STATE_HOME is ignored: HOME's .local/state is used. */
    setenv("XDG_STATE_HOME", "relative", 1);
    setenv("HOME", tmpdir, 1);
    s = open_spec("sqlite:", 0);
    snprintf(path, sizeof path, "sqlite:%s/.local/state/msg91-mcp/state.db", tmpdir);
    ck_assert_str_eq(store_describe(s), path);
    close_store(s);
}
END_TEST

START_TEST(default_falls_back_to_memory_with_one_warning)
{
    /* A file where the folder should be. */
    char file[300];
    snprintf(file, sizeof file, "%s/file", tmpdir);
    FILE *f = fopen(file, "w");
    ck_assert_ptr_nonnull(f);
    fclose(f);
    setenv("XDG_STATE_HOME", file, 1);
    struct store *s = open_spec(NULL, 0);
    ck_assert_str_eq(store_backend(s), "memory");
    ck_assert_int_eq(warnings, 1);
    ck_assert_ptr_nonnull(strstr(logged, "memory"));
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 100, HOUR).claim.outcome,
                     STORE_CLAIMED);
    close_store(s);
    unsetenv("XDG_STATE_HOME");
    unsetenv("HOME");
    s = open_spec(NULL, 0);
    ck_assert_str_eq(store_backend(s), "memory");
    ck_assert_int_eq(warnings, 2);
    close_store(s);
}
END_TEST

/* Writes text to path, replacing what was there. */
static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
}

static off_t file_size(const char *path)
{
    struct stat st;
    ck_assert_int_eq(stat(path, &st), 0);
    return st.st_size;
}

/* store_open makes the file but does not open the database: the first
 * operation does, off the loop. A file SQLite refuses then fails every
 * operation (sends are refused), with one error in the log. */
START_TEST(sqlite_opens_at_the_first_operation_and_fails_closed)
{
    char path[300];
    snprintf(path, sizeof path, "%s/state.db", tmpdir);
    struct store *s = open_spec(spec_for(B_SQLITE), 0);
    ck_assert_int_eq(file_size(path), 0);
    stats(s);
    ck_assert_int_gt(file_size(path), 0);
    close_store(s);

    write_file(path, "this is not an SQLite database, and it is long enough to tell\n");
    s = open_spec(spec_for(B_SQLITE), 0);
    ck_assert_str_eq(store_backend(s), "sqlite");
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 100, HOUR).status, STORE_EUNAVAIL);
    ck_assert_int_eq(rate_take(s, "r", 1, 1000).status, STORE_EUNAVAIL);
    ck_assert_int_eq(warnings, 1);
    ck_assert_ptr_nonnull(strstr(logged, path));
    ck_assert_ptr_nonnull(strstr(logged, "refused"));
    close_store(s);
}
END_TEST

/* The default file exists but SQLite refuses it: memory, found at the
 * first operation, with the one warning. */
START_TEST(default_bad_file_falls_back_to_memory_at_the_first_operation)
{
    setenv("XDG_STATE_HOME", tmpdir, 1);
    char path[300];
    snprintf(path, sizeof path, "%s/msg91-mcp", tmpdir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    strcat(path, "/state.db");
    write_file(path, "this is not an SQLite database, and it is long enough to tell\n");
    struct store *s = open_spec(NULL, 0);
    ck_assert_str_eq(store_backend(s), "sqlite");
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 100, HOUR).claim.outcome,
                     STORE_CLAIMED);
    ck_assert_str_eq(store_backend(s), "memory");
    ck_assert_str_eq(store_describe(s), "memory");
    ck_assert_int_eq(warnings, 1);
    ck_assert_ptr_nonnull(strstr(logged, "in memory"));
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 100, HOUR).claim.outcome,
                     STORE_IN_PROGRESS);
    close_store(s);
    unsetenv("XDG_STATE_HOME");
}
END_TEST

/* ---- SQLite: one file, several processes ---- */

START_TEST(sqlite_file_is_wal)
{
    struct store *s = open_backend(B_SQLITE);
    stats(s); /* the first operation opens the file */
    close_store(s);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(testutil_fmt("%s/state.db", tmpdir), &db), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* For its owner only: stored results name recipients. */
    struct stat sb;
    ck_assert_int_eq(stat(testutil_fmt("%s/state.db", tmpdir), &sb), 0);
    ck_assert_int_eq(sb.st_mode & 0077, 0);
}
END_TEST

enum { RACE_N = 40 };

/* The child: its own loop and store on the same file. It claims the race
 * keys when told, reports which it won, hands over a result under
 * "handoff", and dies holding "crash". */
static void child_main(int ready_fd, int go_fd, int out_fd)
{
    uv_loop_t child_loop;
    if (uv_loop_init(&child_loop) != 0)
        _exit(10);
    struct store_options o = {.spec = spec_for(B_SQLITE)};
    struct store *s = NULL;
    if (store_open(&child_loop, &o, &s, NULL, 0) != 0)
        _exit(11);
    static struct result r[RACE_N];
    char keys[RACE_N][16];
    char c = 'r';
    if (write(ready_fd, &c, 1) != 1 || read(go_fd, &c, 1) != 1)
        _exit(12);
    for (int i = 0; i < RACE_N; i++) {
        snprintf(keys[i], sizeof keys[i], "race-%d", i);
        const struct store_key k = {"p", "send_otp", keys[i]};
        if (store_idem_claim(s, &k, "fp", 10000, HOUR, on_claim, &r[i]) != 0)
            _exit(13);
    }
    char won[RACE_N];
    for (int i = 0; i < RACE_N; i++) {
        while (!r[i].done)
            uv_run(&child_loop, UV_RUN_ONCE);
        won[i] = r[i].status != 0 ? 'e' : r[i].claim.outcome == STORE_CLAIMED ? 'w' : 'l';
    }
    struct result h = {0};
    const struct store_key hk = {"p", "send_otp", "handoff"};
    store_idem_claim(s, &hk, "fp", 10000, HOUR, on_claim, &h);
    while (!h.done)
        uv_run(&child_loop, UV_RUN_ONCE);
    struct result hc = {0};
    store_idem_complete(s, &hk, h.claim.token, "from the child", HOUR, on_done, &hc);
    while (!hc.done)
        uv_run(&child_loop, UV_RUN_ONCE);
    struct result x = {0};
    const struct store_key xk = {"p", "send_otp", "crash"};
    store_idem_claim(s, &xk, "fp", 30, HOUR, on_claim, &x);
    while (!x.done)
        uv_run(&child_loop, UV_RUN_ONCE);
    if (write(out_fd, won, sizeof won) != (ssize_t)sizeof won)
        _exit(14);
    /* Dies without settling "crash" or closing anything. */
    _exit(h.claim.outcome == STORE_CLAIMED && hc.status == 0 ? 0 : 15);
}

START_TEST(sqlite_shared_with_a_forked_process)
{
    int ready[2], go[2], out[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(go), 0);
    ck_assert_int_eq(pipe(out), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        child_main(ready[1], go[0], out[1]);
    char c;
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    struct store *s = open_backend(B_SQLITE);
    static struct result r[RACE_N];
    char keys[RACE_N][16];
    memset(r, 0, sizeof r);
    ck_assert_int_eq(write(go[1], "g", 1), 1);
    for (int i = 0; i < RACE_N; i++) {
        snprintf(keys[i], sizeof keys[i], "race-%d", i);
        const struct store_key k = {"p", "send_otp", keys[i]};
        ck_assert_int_eq(store_idem_claim(s, &k, "fp", 10000, HOUR, on_claim, &r[i]), 0);
    }
    for (int i = 0; i < RACE_N; i++)
        wait_for(&r[i]);
    char won[RACE_N];
    size_t got = 0;
    while (got < sizeof won) {
        ssize_t n = read(out[0], won + got, sizeof won - got);
        ck_assert_int_gt(n, 0);
        got += (size_t)n;
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status));
    ck_assert_int_eq(WEXITSTATUS(status), 0);
    for (int i = 0; i < RACE_N; i++) {
        ck_assert_int_eq(r[i].status, 0);
        ck_assert_int_ne(won[i], 'e');
        int winners = (r[i].claim.outcome == STORE_CLAIMED) + (won[i] == 'w');
        ck_assert_msg(winners == 1, "key %d: %d winners", i, winners);
    }
    struct result h = claim(s, K("p", "send_otp", "handoff"), "fp", 10000, HOUR);
    ck_assert_int_eq(h.claim.outcome, STORE_REPLAY);
    ck_assert_str_eq(h.value, "from the child");
    /* The child died holding "crash": once its lease ran out, unknown. */
    let_time_pass(40);
    ck_assert_int_eq(claim(s, K("p", "send_otp", "crash"), "fp", 30, HOUR).claim.outcome,
                     STORE_UNKNOWN);
    close_store(s);
    close(ready[0]);
    close(ready[1]);
    close(go[0]);
    close(go[1]);
    close(out[0]);
    close(out[1]);
}
END_TEST

/* Another process holds the write lock past the busy timeout: the
 * operation fails closed, and works again once the lock is gone. */
/* A file made before entries kept their window gets the column at open;
 * its rows stay readable. */
START_TEST(sqlite_old_file_gets_the_window_column)
{
    const char *spec = spec_for(B_SQLITE);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(spec + 7, &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(db,
                     "CREATE TABLE claims (ns TEXT NOT NULL, persona TEXT NOT NULL, tool "
                     "TEXT NOT NULL, key TEXT NOT NULL, state TEXT NOT NULL, fp TEXT, "
                     "token TEXT, value TEXT, created_ms INTEGER NOT NULL, lease_ms "
                     "INTEGER NOT NULL, expires_ms INTEGER NOT NULL, PRIMARY KEY (ns, "
                     "persona, tool, key)) WITHOUT ROWID;"
                     "INSERT INTO claims VALUES ('d', 'p', 't', 'old', 'd', NULL, 'tok', "
                     "'req-0', 0, 0, 9000000000000)",
                     NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    struct store *s = open_spec(spec, 0);
    struct result old = dup_begin(s, K("p", "t", "old"), 300, 5000);
    ck_assert_int_eq(old.claim.outcome, STORE_REPLAY);
    ck_assert_str_eq(old.value, "req-0");
    struct result a = dup_begin(s, K("p", "t", "new"), 300, 5000);
    ck_assert_int_eq(a.claim.outcome, STORE_CLAIMED);
    ck_assert_int_eq(
        dup_end(s, K("p", "t", "new"), a.claim.token, STORE_DUP_SUCCEEDED, "req-1"), 0);
    ck_assert_int_eq(dup_begin(s, K("p", "t", "new"), 300, 5000).claim.outcome,
                     STORE_REPLAY);
    close_store(s);
}
END_TEST

/* Holds an exclusive lock on the SQLite file at path: no other connection
 * can read it, so opening the store answers busy. */
static sqlite3 *lock_exclusively(const char *path)
{
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(db, "CREATE TABLE IF NOT EXISTS other (x)", NULL, NULL, NULL),
        SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    return db;
}

static void unlock(sqlite3 *db)
{
    ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* Claims until the store answers, a retry period at a time (the store
 * retries a failed open after 1 s, then 2 s, ...). */
static struct result claim_when_open(struct store *s, const char *key)
{
    for (int i = 0; i < 40; i++) {
        struct result r = claim(s, K("p", "t", key), "fp", 10000, HOUR);
        if (r.status != STORE_EUNAVAIL)
            return r;
        let_time_pass(100);
    }
    ck_abort_msg("the store never opened");
    return (struct result){0};
}

/* An open that fails for a passing cause (the file busy beyond the
 * timeout) is tried again later; in between, operations fail at once,
 * and the failure is logged once. */
START_TEST(sqlite_failed_open_is_retried)
{
    const char *spec = spec_for(B_SQLITE);
    struct store_options o = {.spec = spec, .log = on_log, .busy_timeout_ms = 50};
    struct store *s = NULL;
    ck_assert_int_eq(store_open(&loop, &o, &s, NULL, 0), 0);
    sqlite3 *db = lock_exclusively(spec + 7);
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 10000, HOUR).status,
                     STORE_EUNAVAIL);
    ck_assert_int_eq(rate_take(s, "r", 1, 1000).status, STORE_EUNAVAIL);
    ck_assert_int_eq(warnings, 1);
    unlock(db);
    ck_assert_int_eq(claim_when_open(s, "k").claim.outcome, STORE_CLAIMED);
    ck_assert_str_eq(store_backend(s), "sqlite");
    ck_assert_int_eq(warnings, 1);
    close_store(s);
}
END_TEST

/* The default location stays SQLite when the file is only busy: memory
 * is for a file that can never be used. */
START_TEST(default_busy_file_is_not_memory)
{
    setenv("XDG_STATE_HOME", tmpdir, 1);
    char path[300];
    snprintf(path, sizeof path, "%s/msg91-mcp", tmpdir);
    ck_assert_int_eq(mkdir(path, 0700), 0);
    strcat(path, "/state.db");
    sqlite3 *db = lock_exclusively(path);
    struct store_options o = {.spec = NULL, .log = on_log, .busy_timeout_ms = 50};
    struct store *s = NULL;
    ck_assert_int_eq(store_open(&loop, &o, &s, NULL, 0), 0);
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 10000, HOUR).status,
                     STORE_EUNAVAIL);
    ck_assert_str_eq(store_backend(s), "sqlite");
    unlock(db);
    ck_assert_int_eq(claim_when_open(s, "k").claim.outcome, STORE_CLAIMED);
    ck_assert_str_eq(store_backend(s), "sqlite");
    close_store(s);
    unsetenv("XDG_STATE_HOME");
}
END_TEST

START_TEST(sqlite_locked_fails_closed)
{
    const char *spec = spec_for(B_SQLITE);
    struct store_options o = {.spec = spec, .log = on_log, .busy_timeout_ms = 50};
    struct store *s = NULL;
    ck_assert_int_eq(store_open(&loop, &o, &s, NULL, 0), 0);
    sqlite3 *db = NULL;
    ck_assert_int_eq(sqlite3_open(spec + 7, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 10000, HOUR).status,
                     STORE_EUNAVAIL);
    ck_assert_int_eq(rate_take(s, "r", 1, 1000).status, STORE_EUNAVAIL);
    ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 10000, HOUR).claim.outcome,
                     STORE_CLAIMED);
    close_store(s);
}
END_TEST

/* ---- Redis: stopped, frozen, restarted; its password kept out ---- */

static void redis_own_setup(void)
{
    setup();
    testutil_redis_start(&redis, NULL);
}

static void redis_own_teardown(void)
{
    redis_teardown();
    teardown();
}

/* Claims until the store answers, as a caller retrying would. */
static struct result claim_until_ok(struct store *s, const char *key)
{
    for (;;) {
        struct result r = claim(s, K("p", "send_otp", key), "fp", 10000, HOUR);
        if (r.status == 0)
            return r;
        ck_assert_int_eq(r.status, STORE_EUNAVAIL);
        let_time_pass(20);
    }
}

START_TEST(redis_stopped_fails_closed_then_reconnects)
{
    struct store *s = open_spec(spec_for(B_REDIS), 0);
    ck_assert_int_eq(claim(s, K("p", "send_otp", "before"), "fp", 10000, HOUR).status, 0);
    testutil_redis_stop(&redis);
    struct result down = claim(s, K("p", "send_otp", "during"), "fp", 10000, HOUR);
    ck_assert_int_eq(down.status, STORE_EUNAVAIL);
    ck_assert_int_eq(down.done, 1);
    /* Every kind of operation fails closed, none hangs. */
    ck_assert_int_eq(rate_take(s, "k", 1, 1000).status, STORE_EUNAVAIL);
    struct result st = {0};
    ck_assert_int_eq(store_stats(s, on_stats, &st), 0);
    wait_for(&st);
    ck_assert_int_eq(st.status, STORE_EUNAVAIL);
    ck_assert_ptr_nonnull(strstr(logged, "connection lost"));

    testutil_redis_start(&redis, NULL);
    struct result back = claim_until_ok(s, "after");
    ck_assert_int_eq(back.claim.outcome, STORE_CLAIMED);
    ck_assert_ptr_nonnull(strstr(logged, "connected"));
    ck_assert_int_eq(
        complete(s, K("p", "send_otp", "after"), back.claim.token, "r", HOUR), 0);
    close_store(s);
}
END_TEST

START_TEST(redis_frozen_times_out_then_recovers)
{
    struct store *s = open_spec(spec_for(B_REDIS), 500);
    ck_assert_int_eq(claim(s, K("p", "t", "before"), "fp", 10000, HOUR).status, 0);
    ck_assert_int_eq(kill(redis.pid, SIGSTOP), 0);
    struct result r = claim(s, K("p", "t", "frozen"), "fp", 10000, HOUR);
    ck_assert_int_eq(r.status, STORE_EUNAVAIL);
    ck_assert_ptr_nonnull(strstr(logged, "timed out"));
    ck_assert_int_eq(kill(redis.pid, SIGCONT), 0);
    /* The frozen claim may have landed after all: a new key proves the
     * connection is back. */
    ck_assert_int_eq(claim_until_ok(s, "thawed").claim.outcome, STORE_CLAIMED);
    close_store(s);
}
END_TEST

START_TEST(redis_never_reachable_fails_closed)
{
    unsigned port = testutil_closed_port(); /* nobody listens there */
    struct store *s = open_spec(testutil_fmt("redis://127.0.0.1:%u", port), 0);
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 10000, HOUR).status,
                     STORE_EUNAVAIL);
    ck_assert_int_eq(warnings, 1);
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 10000, HOUR).status,
                     STORE_EUNAVAIL);
    ck_assert_ptr_nonnull(strstr(logged, "cannot be reached"));
    close_store(s);
}
END_TEST

START_TEST(redis_by_host_name)
{
    struct store *s = open_spec(testutil_fmt("redis://localhost:%u/3", redis.port), 0);
    ck_assert_str_eq(store_describe(s),
                     testutil_fmt("redis://localhost:%u/3", redis.port));
    struct result r = claim(s, K("p", "t", "named"), "fp", 10000, HOUR);
    ck_assert_int_eq(r.status, 0);
    ck_assert_int_eq(r.claim.outcome, STORE_CLAIMED);
    /* Database 3, not 0. */
    redisContext *c = testutil_redis_client(&redis);
    redisReply *rep = redisCommand(c, "SELECT 3");
    freeReplyObject(rep);
    rep = redisCommand(c, "EXISTS msg91:i:p:t:named");
    ck_assert_int_eq(rep->integer, 1);
    freeReplyObject(rep);
    redisFree(c);
    close_store(s);
}
END_TEST

START_TEST(redis_password_never_shown)
{
    testutil_redis_stop(&redis);
    testutil_redis_start(&redis, "s3cret-Pass");
    struct store *s = open_spec(spec_for(B_REDIS), 0);
    ck_assert_str_eq(store_describe(s),
                     testutil_fmt("redis://:(hidden)@127.0.0.1:%u/0", redis.port));
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 10000, HOUR).claim.outcome,
                     STORE_CLAIMED);
    close_store(s);

    /* A wrong password: refused, and neither password is printed. */
    s = open_spec(testutil_fmt("redis://:wr%%40ng-Pass@127.0.0.1:%u/0", redis.port), 0);
    ck_assert_int_eq(claim(s, K("p", "t", "k"), "fp", 10000, HOUR).status,
                     STORE_EUNAVAIL);
    ck_assert_ptr_nonnull(strstr(logged, "WRONGPASS"));
    ck_assert_ptr_null(strstr(store_describe(s), "ng-Pass"));
    close_store(s);

    struct store_options o = {.spec = "redis://:hunter2-x@host:notaport", .log = on_log};
    char err[256] = "";
    struct store *bad = NULL;
    ck_assert_int_eq(store_open(&loop, &o, &bad, err, sizeof err), STORE_EINVAL);
    ck_assert_ptr_null(strstr(err, "hunter2"));

    ck_assert_ptr_null(strstr(logged, "s3cret"));
    ck_assert_ptr_null(strstr(logged, "ng-Pass"));
    ck_assert_ptr_null(strstr(logged, "hunter2"));
    testutil_redis_stop(&redis);
    redis.password = NULL;
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *all = tcase_create("every_backend");
    tcase_add_unchecked_fixture(all, redis_setup, redis_teardown);
    tcase_add_checked_fixture(all, setup, teardown);
    tcase_set_timeout(all, 60);
    tcase_add_loop_test(all, idem_claim_replay_mismatch, 0, B_COUNT);
    tcase_add_loop_test(all, idem_lapsed_lease_is_unknown_for_good, 0, B_COUNT);
    tcase_add_loop_test(all, idem_mark_unknown_release_and_expiry, 0, B_COUNT);
    tcase_add_loop_test(all, idem_forget, 0, B_COUNT);
    tcase_add_loop_test(all, dup_guard, 0, B_COUNT);
    tcase_add_loop_test(all, dup_window_counts_from_the_answer, 0, B_COUNT);
    tcase_add_loop_test(all, rate_gcra, 0, B_COUNT);
    tcase_add_loop_test(all, stats_count_live_entries, 0, B_COUNT);
    tcase_add_loop_test(all, concurrent_claims_have_one_winner, 0, B_COUNT);
    tcase_add_loop_test(all, bad_arguments_are_refused_without_callback, 0, B_COUNT);
    tcase_add_loop_test(all, close_completes_pending_operations, 0, B_COUNT);
    tcase_add_loop_test(all, close_delivers_settles_queued_just_before, 0, B_COUNT);
    suite_add_tcase(s, all);

    TCase *spec = tcase_create("spec");
    tcase_add_checked_fixture(spec, setup, teardown);
    tcase_add_test(spec, spec_errors_are_sentences);
    tcase_add_test(spec, default_is_sqlite_under_xdg_state_home);
    tcase_add_test(spec, default_falls_back_to_memory_with_one_warning);
    tcase_add_test(spec, default_bad_file_falls_back_to_memory_at_the_first_operation);
    suite_add_tcase(s, spec);

    TCase *sq = tcase_create("sqlite");
    tcase_add_checked_fixture(sq, setup, teardown);
    tcase_set_timeout(sq, 60);
    tcase_add_test(sq, sqlite_file_is_wal);
    tcase_add_test(sq, sqlite_opens_at_the_first_operation_and_fails_closed);
    tcase_add_test(sq, sqlite_shared_with_a_forked_process);
    tcase_add_test(sq, sqlite_locked_fails_closed);
    tcase_add_test(sq, sqlite_old_file_gets_the_window_column);
    tcase_add_test(sq, sqlite_failed_open_is_retried);
    tcase_add_test(sq, default_busy_file_is_not_memory);
    suite_add_tcase(s, sq);

    TCase *rd = tcase_create("redis");
    tcase_add_checked_fixture(rd, redis_own_setup, redis_own_teardown);
    tcase_set_timeout(rd, 60);
    tcase_add_test(rd, redis_stopped_fails_closed_then_reconnects);
    tcase_add_test(rd, redis_frozen_times_out_then_recovers);
    tcase_add_test(rd, redis_never_reachable_fails_closed);
    tcase_add_test(rd, redis_by_host_name);
    tcase_add_test(rd, redis_password_never_shown);
    suite_add_tcase(s, rd);
    return s;
}

int main(void)
{
    return testutil_run(store_suite());
}
