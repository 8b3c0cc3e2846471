/* End-to-end tests of safe sends (server/safe_send.c): the real msg91-mcp
 * binary over pipes, its upstream a sandbox inside this test process, its
 * state store each of memory, SQLite (a temporary file) and Redis (a real
 * redis-server on a free loopback port). Every rule is shown by what the
 * caller gets and by what reached the sandbox (its "received" counter):
 * replays, key mismatches and calls in progress send nothing; a claim whose
 * holder vanished reports an unknown outcome and sends nothing; identical
 * sends within the window are refused unless the earlier one failed; the
 * country allowlist, the per-recipient and per-day limits refuse with the
 * limit named, also when a persona sets its own; the audit log names the
 * outcome; with the store unreachable, sends are refused and reads answer. */
#include <check.h>
#include <jansson.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "server/persona.h"
#include "store/store.h"
#include "tests/testredis.h"
#include "tests/testutil.h"

/* NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */

#define F testutil_fmt
#define TEST_KEY "safe-send-test-key-4b8e1f02"
#define REPLY_MS 15000
#define MOBILE "919876543210"
#define OTP_ARGS(mobile) "{\"mobile\":\"" mobile "\",\"template_id\":\"T1\"}"
#define FLOW_ARGS(template, mobile)                                                      \
    "{\"template_id\":\"" template "\",\"recipients\":[{\"mobiles\":\"" mobile "\"}]}"

enum backend { MEMORY, SQLITE, REDIS };

/* ---- the store each test case runs against ---- */

static enum backend backend;
static char store_spec[300];
static char sqlite_path[256];

static struct testutil_redis redis;

/* Unchecked fixtures: they run in Check's parent before and after the
 * tests of the case, with no thread running, so forking there is safe. */
static void redis_start(void)
{
    testutil_redis_start(&redis, NULL);
}

static void redis_stop(void)
{
    testutil_redis_finish(&redis);
}

static void use_memory(void)
{
    backend = MEMORY;
    snprintf(store_spec, sizeof store_spec, "memory");
}

static void use_sqlite(void)
{
    backend = SQLITE;
    snprintf(sqlite_path, sizeof sqlite_path, "/tmp/safe-send-%d.db", (int)getpid());
    snprintf(store_spec, sizeof store_spec, "sqlite:%s", sqlite_path);
}

static void drop_sqlite(void)
{
    unlink(sqlite_path);
    unlink(F("%s-wal", sqlite_path));
    unlink(F("%s-shm", sqlite_path));
}

static void use_redis(void)
{
    backend = REDIS;
    snprintf(store_spec, sizeof store_spec, "redis://127.0.0.1:%u/0", redis.port);
    testutil_redis_flush(&redis);
}

/* ---- the sandbox (checked fixture: started in each test's process) ---- */

static struct sandbox *SB;
static char BASE[64];

static void sandbox_up(void)
{
    SB = testutil_sandbox_start(TEST_KEY, 7, BASE);
}

static void sandbox_down(void)
{
    sandbox_destroy(SB);
    SB = NULL;
}

static json_int_t received(void)
{
    return testutil_sandbox_stat(BASE, "received");
}

/* ---- the server over pipes ---- */

struct srv {
    struct testutil_child c;
    long next_id;
    json_t *stash; /* responses read while waiting for another id */
};

/* Starts the binary on the sandbox and the case's store, with extra
 * "K=V" entries (NULL-terminated, may be NULL). */
static void srv_start(struct srv *v, const char *const *extra)
{
    const char *env[] = {F("MSG91_BASE_URL=%s", BASE), "MSG91_AUTH_KEY=" TEST_KEY,
                         F("MSG91_STORE=%s", store_spec), NULL};
    memset(v, 0, sizeof *v);
    v->next_id = 1;
    v->stash = json_array();
    testutil_start_session(&v->c, env, extra, "safe-send", REPLY_MS);
}

static void srv_stop(struct srv *v)
{
    testutil_stop_session(&v->c, TEST_KEY, 10000);
    json_decref(v->stash);
}

static long srv_send(struct srv *v, const char *tool, const char *args)
{
    long id = v->next_id++;
    const char *line = F("{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\","
                         "\"params\":{\"name\":\"%s\",\"arguments\":%s}}",
                         id, tool, args);
    ck_assert_int_eq(testutil_send_line(&v->c, line), 0);
    return id;
}

/* The result of call id (new reference), other responses kept for later. */
static json_t *srv_wait(struct srv *v, long id)
{
    size_t i;
    json_t *m;
    json_array_foreach(v->stash, i, m) {
        if (json_integer_value(json_object_get(m, "id")) == id) {
            json_t *r = json_incref(json_object_get(m, "result"));
            json_array_remove(v->stash, i);
            return r;
        }
    }
    for (;;) {
        m = testutil_read_json(&v->c, REPLY_MS);
        ck_assert_msg(m != NULL, "no reply to call %ld", id);
        json_t *mid = json_object_get(m, "id");
        if (json_is_integer(mid) && json_integer_value(mid) == id) {
            json_t *r = json_incref(json_object_get(m, "result"));
            json_decref(m);
            ck_assert_msg(r != NULL, "call %ld: no result", id);
            return r;
        }
        if (mid)
            json_array_append(v->stash, m);
        json_decref(m);
    }
}

static json_t *srv_call(struct srv *v, const char *tool, const char *args)
{
    return srv_wait(v, srv_send(v, tool, args));
}

static const char *text_of(json_t *result)
{
    return json_string_value(
        json_object_get(json_array_get(json_object_get(result, "content"), 0), "text"));
}

/* A successful result; returns it (new reference: the caller's r). */
static json_t *expect_ok(json_t *r)
{
    ck_assert_msg(!json_is_true(json_object_get(r, "isError")), "tool error: %s",
                  text_of(r));
    ck_assert_ptr_nonnull(json_object_get(r, "structuredContent"));
    return r;
}

/* A tool error whose text holds every one of the needles (a NULL-terminated
 * list). Takes r. */
static void expect_error_in(json_t *r, const char *const *needles)
{
    ck_assert_msg(json_is_true(json_object_get(r, "isError")), "not an error: %s",
                  json_dumps(r, JSON_COMPACT));
    const char *text = text_of(r);
    ck_assert_ptr_nonnull(text);
    for (size_t i = 0; needles[i]; i++)
        ck_assert_msg(strstr(text, needles[i]), "\"%s\" not in: %s", needles[i], text);
    json_decref(r);
}
#define expect_error(r, ...) expect_error_in(r, (const char *const[]){__VA_ARGS__, NULL})

static bool replayed(json_t *r)
{
    return json_is_true(json_object_get(json_object_get(r, "_meta"), "msg91/replayed"));
}

/* ---- idempotency keys ---- */

#define KEYED_OTP(mobile, key)                                                           \
    "{\"mobile\":\"" mobile "\",\"template_id\":\"T1\",\"idempotency_key\":\"" key "\"}"

START_TEST(same_key_replays_the_first_result)
{
    struct srv v;
    srv_start(&v, NULL);
    json_t *first = expect_ok(srv_call(&v, "send_otp", KEYED_OTP(MOBILE, "order-1")));
    ck_assert(!replayed(first));
    ck_assert_int_eq(received(), 1);
    for (int i = 0; i < 2; i++) {
        json_t *again = expect_ok(srv_call(&v, "send_otp", KEYED_OTP(MOBILE, "order-1")));
        ck_assert(replayed(again));
        ck_assert(json_equal(json_object_get(again, "structuredContent"),
                             json_object_get(first, "structuredContent")));
        json_decref(again);
    }
    ck_assert_int_eq(received(), 1);
    /* Keys are scoped to the tool: the same key on resend_otp is its own. */
    json_t *resend = expect_ok(srv_call(
        &v, "resend_otp", "{\"mobile\":\"" MOBILE "\",\"idempotency_key\":\"order-1\"}"));
    ck_assert(!replayed(resend));
    ck_assert_int_eq(received(), 2);
    json_decref(resend);
    json_decref(first);
    srv_stop(&v);
}
END_TEST

START_TEST(same_key_other_arguments_is_refused)
{
    struct srv v;
    srv_start(&v, NULL);
    json_decref(expect_ok(srv_call(&v, "send_otp", KEYED_OTP(MOBILE, "k-2"))));
    expect_error(srv_call(&v, "send_otp", KEYED_OTP("919876543299", "k-2")),
                 "idempotency key \"k-2\" was already used for send_otp with different "
                 "arguments",
                 "nothing was sent");
    ck_assert_int_eq(received(), 1);
    srv_stop(&v);
}
END_TEST

START_TEST(same_key_while_running_is_in_progress)
{
    json_decref(testutil_sandbox_ctl(
        BASE, "POST", "/_sandbox/misbehave",
        "{\"tool\":\"send_sms_flow\",\"count\":1,\"delay_ms\":5000}"));
    struct srv v;
    srv_start(&v, NULL);
    const char *args = "{\"template_id\":\"F1\",\"recipients\":[{\"mobiles\":\"" MOBILE
                       "\"}],\"idempotency_key\":\"slow-1\"}";
    long first = srv_send(&v, "send_sms_flow", args);
    testutil_sandbox_wait_stat(BASE, "inflight", 1, REPLY_MS);
    expect_error(srv_call(&v, "send_sms_flow", args),
                 "with idempotency key \"slow-1\" is still in progress");
    json_t *r = expect_ok(srv_wait(&v, first));
    json_t *again = expect_ok(srv_call(&v, "send_sms_flow", args));
    ck_assert(replayed(again));
    ck_assert_int_eq(received(), 1);
    json_decref(again);
    json_decref(r);
    srv_stop(&v);
}
END_TEST

struct claim_wait {
    int done;
    int status;
    enum store_claim_outcome outcome;
};

static void on_test_claim(void *data, int status, const struct store_claim *c)
{
    struct claim_wait *w = data;
    w->status = status;
    w->outcome = status == STORE_OK ? c->outcome : STORE_UNKNOWN;
    w->done++;
}

static void on_test_closed(void *data)
{
    ++*(int *)data;
}

/* Another store client claims key for args with a 1 ms lease and never
 * settles it: the process that sent died before it could say what happened. */
static void vanished_claim(const char *tool, const char *key, const char *args)
{
    json_t *a = json_loads(args, 0, NULL);
    char *canonical = json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS);
    char fp[PERSONA_DIGEST_HEX_LEN + 1];
    ck_assert_int_eq(persona_sha256_hex(canonical, strlen(canonical), fp), 0);
    free(canonical);
    json_decref(a);
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct store_options opts = {.spec = store_spec};
    struct store *s = NULL;
    char err[256] = "";
    ck_assert_msg(store_open(&loop, &opts, &s, err, sizeof err) == 0, "%s", err);
    struct claim_wait w = {0};
    struct store_key k = {"", tool, key};
    ck_assert_int_eq(store_idem_claim(s, &k, fp, 1, 3600000, on_test_claim, &w), 0);
    ck_assert(testutil_run_until(&loop, &w.done, 1, REPLY_MS));
    ck_assert_int_eq(w.status, STORE_OK);
    ck_assert_int_eq(w.outcome, STORE_CLAIMED);
    int closed = 0;
    store_close(s, on_test_closed, &closed);
    ck_assert(testutil_run_until(&loop, &closed, 1, REPLY_MS));
    uv_run(&loop, UV_RUN_NOWAIT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    /* The lease is over once a millisecond has passed. */
    nanosleep(&(struct timespec){0, 2000000}, NULL);
}

START_TEST(vanished_holder_means_unknown_never_resent)
{
    /* Only a shared store outlives a process. */
    if (backend == MEMORY)
        return;
    const char *args = "{\"mobile\":\"" MOBILE "\",\"template_id\":\"T1\"}";
    vanished_claim("send_otp", "lost-1", args);
    struct srv v;
    srv_start(&v, NULL);
    for (int i = 0; i < 2; i++)
        expect_error(srv_call(&v, "send_otp", KEYED_OTP(MOBILE, "lost-1")),
                     "with idempotency key \"lost-1\"", "is unknown",
                     "never sent again on its own", "msg91-mcp state --forget 'lost-1'");
    ck_assert_int_eq(received(), 0);
    srv_stop(&v);
}
END_TEST

/* The command that releases a key quotes it for the shell: a key may hold
 * spaces, quotes, ';' or backquotes. */
START_TEST(forget_command_quotes_the_key)
{
    if (backend == MEMORY)
        return;
    const char *args = "{\"mobile\":\"" MOBILE "\",\"template_id\":\"T1\"}";
    vanished_claim("send_otp", "it's; `id` $(id)", args);
    struct srv v;
    srv_start(&v, NULL);
    expect_error(srv_call(&v, "send_otp",
                          "{\"mobile\":\"" MOBILE "\",\"template_id\":\"T1\","
                          "\"idempotency_key\":\"it's; `id` $(id)\"}"),
                 "is unknown", "msg91-mcp state --forget 'it'\\''s; `id` $(id)'`");
    ck_assert_int_eq(received(), 0);
    srv_stop(&v);
}
END_TEST

/* Without the digest module there is no fingerprint: the send is refused
 * with that reason, not blamed on memory, and no path of the machine is
 * shown. */
START_TEST(missing_digest_module_refuses_sends)
{
    struct srv v;
    srv_start(&v,
              (const char *const[]){"MSG91_DIGEST_MODULE=/nonexistent/digest.so", NULL});
    json_t *r = srv_call(&v, "send_otp", OTP_ARGS(MOBILE));
    ck_assert_ptr_nonnull(text_of(r));
    ck_assert_msg(!strstr(text_of(r), "/nonexistent"), "a path in: %s", text_of(r));
    expect_error(r, "SHA-256 module (msg91-mcp-digest.so) could not be loaded",
                 "nothing was sent");
    expect_error(srv_call(&v, "send_otp", KEYED_OTP(MOBILE, "no-digest-1")),
                 "SHA-256 module (msg91-mcp-digest.so) could not be loaded",
                 "nothing was sent");
    ck_assert_int_eq(received(), 0);
    srv_stop(&v);
}
END_TEST

/* A call cancelled after its request went out may have sent: a retry with
 * its key says the outcome is unknown and sends nothing. */
START_TEST(cancelled_after_sending_is_unknown)
{
    json_decref(
        testutil_sandbox_ctl(BASE, "POST", "/_sandbox/misbehave",
                             "{\"tool\":\"send_otp\",\"count\":1,\"delay_ms\":600000}"));
    struct srv v;
    srv_start(&v, NULL);
    long id = srv_send(&v, "send_otp", KEYED_OTP(MOBILE, "cancel-1"));
    testutil_sandbox_wait_stat(BASE, "inflight", 1, REPLY_MS);
    ck_assert_int_eq(
        testutil_send_line(&v.c, F("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/"
                                   "cancelled\",\"params\":{\"requestId\":%ld}}",
                                   id)),
        0);
    /* The cancellation settles the key in the background: until then the
     * retry finds the call in progress. Neither sends. */
    double deadline = testutil_now_s() + REPLY_MS / 1000.0;
    for (;;) {
        json_t *r = srv_call(&v, "send_otp", KEYED_OTP(MOBILE, "cancel-1"));
        const char *text = text_of(r);
        ck_assert_ptr_nonnull(text);
        if (!strstr(text, "still in progress")) {
            expect_error(r, "with idempotency key \"cancel-1\"", "is unknown",
                         "msg91-mcp state --forget 'cancel-1'");
            break;
        }
        json_decref(r);
        ck_assert_msg(testutil_now_s() < deadline, "the key stayed in progress");
    }
    ck_assert_int_eq(received(), 1);
    /* Lets the delayed request go before the sandbox stops. */
    json_decref(testutil_sandbox_ctl(BASE, "POST", "/_sandbox/reset", NULL));
    srv_stop(&v);
}
END_TEST

/* Two processes on one shared store: a key used by one replays in the
 * other; another persona's key of the same name is its own. */
START_TEST(processes_share_keys_personas_do_not)
{
    if (backend == MEMORY)
        return;
    char *personas = testutil_temp_file(
        "{\"personas\":["
        "{\"name\":\"a\",\"token_sha256\":\"" //
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"},"
        "{\"name\":\"b\",\"token_sha256\":\"" //
        "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]}");
    char file[300];
    snprintf(file, sizeof file, "MSG91_PERSONAS=%s", personas);
    struct srv a1, a2, b;
    srv_start(&a1, (const char *const[]){file, "MSG91_PERSONA=a", NULL});
    srv_start(&a2, (const char *const[]){file, "MSG91_PERSONA=a", NULL});
    srv_start(&b, (const char *const[]){file, "MSG91_PERSONA=b", NULL});
    json_t *first = expect_ok(srv_call(&a1, "send_otp", KEYED_OTP(MOBILE, "shared-1")));
    json_t *other = expect_ok(srv_call(&a2, "send_otp", KEYED_OTP(MOBILE, "shared-1")));
    ck_assert(replayed(other));
    ck_assert(json_equal(json_object_get(first, "structuredContent"),
                         json_object_get(other, "structuredContent")));
    ck_assert_int_eq(received(), 1);
    json_t *own = expect_ok(srv_call(&b, "send_otp", KEYED_OTP(MOBILE, "shared-1")));
    ck_assert(!replayed(own));
    ck_assert_int_eq(received(), 2);
    json_decref(first);
    json_decref(other);
    json_decref(own);
    /* Last started first: a child holds the pipes of those before it. */
    srv_stop(&b);
    srv_stop(&a2);
    srv_stop(&a1);
    unlink(personas);
    free(personas);
}
END_TEST

/* ---- the duplicate guard ---- */

START_TEST(identical_send_within_the_window_is_refused)
{
    struct srv v;
    srv_start(&v, NULL);
    json_t *first = expect_ok(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE)));
    const char *rid = json_string_value(
        json_object_get(json_object_get(first, "structuredContent"), "request_id"));
    ck_assert_ptr_nonnull(rid);
    expect_error(
        srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE)),
        "Refused as a duplicate: an identical call of send_sms_flow succeeded at ",
        F("(MSG91 request id %s)", rid),
        "refused for 60 seconds (MSG91_DUPLICATE_WINDOW_S), until ", "nothing was sent");
    ck_assert_int_eq(received(), 1);
    /* Not identical: another template goes. */
    json_decref(expect_ok(srv_call(&v, "send_sms_flow", FLOW_ARGS("F2", MOBILE))));
    ck_assert_int_eq(received(), 2);
    json_decref(first);
    srv_stop(&v);
}
END_TEST

/* MSG91 refused the send (a coded error, nothing sent): an identical call
 * may go. */
START_TEST(a_failed_twin_lets_the_call_through)
{
    json_decref(testutil_sandbox_ctl(
        BASE, "POST", "/_sandbox/misbehave",
        "{\"tool\":\"send_sms_flow\",\"count\":1,\"code\":\"301\"}"));
    struct srv v;
    srv_start(&v, NULL);
    expect_error(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE)),
                 "Insufficient balance");
    json_decref(expect_ok(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE))));
    ck_assert_int_eq(received(), 2);
    srv_stop(&v);
}
END_TEST

/* An answer that leaves the outcome unknown (a server error, a success
 * status with a body that is not JSON) keeps its twins out like a success:
 * the readers say it may have been sent. */
static void unknown_twin_is_refused(const char *rule)
{
    json_decref(testutil_sandbox_ctl(BASE, "POST", "/_sandbox/misbehave", rule));
    struct srv v;
    srv_start(&v, NULL);
    expect_error(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE)),
                 "may or may not have been sent");
    expect_error(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE)),
                 "Refused as a duplicate: an identical call of send_sms_flow at ",
                 "may or may not have been sent (its outcome is unknown)",
                 "nothing was sent");
    ck_assert_int_eq(received(), 1);
    srv_stop(&v);
}

START_TEST(a_twin_of_a_server_error_is_refused)
{
    unknown_twin_is_refused("{\"tool\":\"send_sms_flow\",\"count\":1,\"status\":502}");
}
END_TEST

START_TEST(a_twin_of_a_non_json_success_is_refused)
{
    unknown_twin_is_refused("{\"tool\":\"send_sms_flow\",\"count\":1,\"body\":"
                            "\"<html>ok</html>\",\"content_type\":\"text/html\"}");
}
END_TEST

/* A keyed call answered 502 stores its (error) result: the retry with the
 * key gets it back and sends nothing. */
START_TEST(a_keyed_server_error_is_never_resent)
{
    json_decref(
        testutil_sandbox_ctl(BASE, "POST", "/_sandbox/misbehave",
                             "{\"tool\":\"send_sms_flow\",\"count\":1,\"status\":502}"));
    struct srv v;
    srv_start(&v, NULL);
    const char *args = "{\"template_id\":\"F1\",\"recipients\":[{\"mobiles\":\"" MOBILE
                       "\"}],\"idempotency_key\":\"bad-gw-1\"}";
    expect_error(srv_call(&v, "send_sms_flow", args), "HTTP 502",
                 "may or may not have been sent");
    json_t *again = srv_call(&v, "send_sms_flow", args);
    ck_assert(replayed(again));
    expect_error(again, "HTTP 502", "may or may not have been sent");
    ck_assert_int_eq(received(), 1);
    srv_stop(&v);
}
END_TEST

/* A keyed send is seen by the duplicate guard: the identical call without
 * a key is refused; with the key, it replays. */
START_TEST(a_keyed_send_guards_its_unkeyed_twin)
{
    struct srv v;
    srv_start(&v, NULL);
    const char *keyed = "{\"template_id\":\"F1\",\"recipients\":[{\"mobiles\":\"" MOBILE
                        "\"}],\"idempotency_key\":\"twin-1\"}";
    json_decref(expect_ok(srv_call(&v, "send_sms_flow", keyed)));
    expect_error(
        srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE)),
        "Refused as a duplicate: an identical call of send_sms_flow succeeded at ",
        "nothing was sent");
    json_t *again = expect_ok(srv_call(&v, "send_sms_flow", keyed));
    ck_assert(replayed(again));
    json_decref(again);
    ck_assert_int_eq(received(), 1);
    srv_stop(&v);
}
END_TEST

/* ---- abuse limits ---- */

START_TEST(country_allowlist)
{
    struct srv v;
    srv_start(&v, (const char *const[]){"MSG91_ALLOWED_COUNTRY_CODES=91, +971", NULL});
    expect_error(srv_call(&v, "send_otp", OTP_ARGS("+447911123456")),
                 "Refused by the country allowlist: +447911123456 is not in an allowed "
                 "country (MSG91_ALLOWED_COUNTRY_CODES: 91,971); nothing was sent",
                 "does not reset");
    /* One number outside refuses the whole flow. */
    expect_error(srv_call(&v, "send_sms_flow",
                          "{\"template_id\":\"F1\",\"recipients\":[{\"mobiles\":\"" MOBILE
                          "\"},{\"mobiles\":\"15551234567\"}]}"),
                 "+15551234567 is not in an allowed country");
    ck_assert_int_eq(received(), 0);
    json_decref(expect_ok(srv_call(&v, "send_otp", OTP_ARGS("+971501234567"))));
    json_decref(expect_ok(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE))));
    ck_assert_int_eq(received(), 2);
    srv_stop(&v);
}
END_TEST

/* create_user_events limits its identifier as a phone number exactly when
 * the request sends it as one (digits, '+' optional): a contact id with
 * dashes or spaces is sent unchanged, so no country applies to it. */
START_TEST(events_identifier_is_limited_as_it_is_sent)
{
    struct srv v;
    srv_start(&v, (const char *const[]){"MSG91_ALLOWED_COUNTRY_CODES=91", NULL});
    json_decref(expect_ok(srv_call(
        &v, "create_user_events",
        "{\"identifier\":\"44-7911-123456\",\"events\":[{\"name\":\"login\"}]}")));
    json_decref(expect_ok(srv_call(
        &v, "create_user_events",
        "{\"identifier\":\"4479 1112 3456\",\"events\":[{\"name\":\"login\"}]}")));
    ck_assert_int_eq(received(), 2);
    expect_error(
        srv_call(&v, "create_user_events",
                 "{\"identifier\":\"+447911123456\",\"events\":[{\"name\":\"login\"}]}"),
        "Refused by the country allowlist: +447911123456");
    ck_assert_int_eq(received(), 2);
    srv_stop(&v);
}
END_TEST

START_TEST(codes_per_recipient_per_hour)
{
    struct srv v;
    srv_start(&v, (const char *const[]){"MSG91_OTP_PER_RECIPIENT_PER_HOUR=2",
                                        "MSG91_DUPLICATE_WINDOW_S=0", NULL});
    json_decref(expect_ok(srv_call(&v, "send_otp", OTP_ARGS(MOBILE))));
    json_decref(expect_ok(srv_call(&v, "resend_otp", "{\"mobile\":\"" MOBILE "\"}")));
    expect_error(srv_call(&v, "send_otp", OTP_ARGS(MOBILE)),
                 "Refused by the limit of 2 codes sent to one number per hour "
                 "(MSG91_OTP_PER_RECIPIENT_PER_HOUR): +" MOBILE " has had that many; "
                 "nothing was sent. The next one to this number is allowed in ");
    expect_error(srv_call(&v, "resend_otp", "{\"mobile\":\"" MOBILE "\"}"),
                 "codes sent to one number per hour");
    ck_assert_int_eq(received(), 2);
    /* Another number has its own count; flows are not codes. */
    json_decref(expect_ok(srv_call(&v, "send_otp", OTP_ARGS("919876543211"))));
    json_decref(expect_ok(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE))));
    ck_assert_int_eq(received(), 4);
    srv_stop(&v);
}
END_TEST

START_TEST(sends_per_day)
{
    struct srv v;
    srv_start(&v, (const char *const[]){"MSG91_SENDS_PER_DAY=2", NULL});
    json_decref(expect_ok(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE))));
    json_decref(expect_ok(srv_call(&v, "send_otp", OTP_ARGS(MOBILE))));
    expect_error(srv_call(&v, "send_sms_flow", FLOW_ARGS("F3", MOBILE)),
                 "Refused by the limit of 2 sending calls per day (MSG91_SENDS_PER_DAY): "
                 "nothing was sent. The next send is allowed in ");
    ck_assert_int_eq(received(), 2);
    /* Reads are not sends. */
    json_decref(expect_ok(srv_call(&v, "list_campaigns", "{}")));
    ck_assert_int_eq(received(), 3);
    srv_stop(&v);
}
END_TEST

START_TEST(persona_limits_override_the_server)
{
    char *personas = testutil_temp_file(
        "{\"personas\":[{\"name\":\"bot\",\"token_sha256\":\"" //
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\","
        "\"limits\":{\"otp_per_recipient_per_hour\":1,\"sends_per_day\":0,"
        "\"allowed_country_codes\":[\"44\"]}}]}");
    struct srv v;
    srv_start(&v, (const char *const[]){F("MSG91_PERSONAS=%s", personas),
                                        "MSG91_PERSONA=bot", "MSG91_SENDS_PER_DAY=1",
                                        "MSG91_ALLOWED_COUNTRY_CODES=91", NULL});
    expect_error(srv_call(&v, "send_otp", OTP_ARGS(MOBILE)),
                 "+" MOBILE " is not in an allowed country (limits.allowed_country_codes "
                 "of persona bot: 44)");
    json_decref(expect_ok(srv_call(&v, "send_otp", OTP_ARGS("447911123456"))));
    expect_error(
        srv_call(&v, "resend_otp", "{\"mobile\":\"447911123456\"}"),
        "Refused by the limit of 1 codes sent to one number per hour "
        "(limits.otp_per_recipient_per_hour of persona bot in the personas file)");
    /* The persona lifts the server's daily limit of 1. */
    json_decref(
        expect_ok(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", "447911123456"))));
    ck_assert_int_eq(received(), 2);
    srv_stop(&v);
    unlink(personas);
    free(personas);
}
END_TEST

/* The per-number count protects the person, so two personas on one store
 * share it: the second persona's code to the same number is refused. */
START_TEST(personas_share_the_per_number_count)
{
    if (backend == MEMORY)
        return;
    char *personas = testutil_temp_file(
        "{\"personas\":["
        "{\"name\":\"a\",\"token_sha256\":\"" //
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"},"
        "{\"name\":\"b\",\"token_sha256\":\"" //
        "1123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\"}]}");
    char file[300];
    snprintf(file, sizeof file, "MSG91_PERSONAS=%s", personas);
    const char *const limit = "MSG91_OTP_PER_RECIPIENT_PER_HOUR=1";
    struct srv a, b;
    srv_start(&a, (const char *const[]){file, "MSG91_PERSONA=a", limit, NULL});
    srv_start(&b, (const char *const[]){file, "MSG91_PERSONA=b", limit, NULL});
    json_decref(expect_ok(srv_call(&a, "send_otp", OTP_ARGS(MOBILE))));
    expect_error(srv_call(&b, "send_otp", OTP_ARGS(MOBILE)),
                 "codes sent to one number per hour");
    ck_assert_int_eq(received(), 1);
    srv_stop(&b);
    srv_stop(&a);
    unlink(personas);
    free(personas);
}
END_TEST

/* ---- the audit log ---- */

START_TEST(audit_names_the_outcome)
{
    char *audit = testutil_temp_file("");
    struct srv v;
    srv_start(&v, (const char *const[]){F("MSG91_AUDIT_LOG=%s", audit),
                                        "MSG91_ALLOWED_COUNTRY_CODES=91", NULL});
    json_decref(expect_ok(srv_call(&v, "send_otp", KEYED_OTP(MOBILE, "a-1"))));
    json_decref(expect_ok(srv_call(&v, "send_otp", KEYED_OTP(MOBILE, "a-1"))));
    json_decref(expect_ok(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE))));
    expect_error(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE)), "");
    expect_error(srv_call(&v, "send_otp", OTP_ARGS("447911123456")), "");
    srv_stop(&v);
    size_t len = 0;
    char *text = testutil_read_file(audit, &len);
    ck_assert_ptr_nonnull(text);
    const char *want[] = {"ok", "replayed", "ok", "duplicate", "limited"};
    char *line = text;
    for (size_t i = 0; i < sizeof want / sizeof *want; i++) {
        char *end = strchr(line, '\n');
        ck_assert_msg(end != NULL, "audit line %zu missing: %s", i, text);
        *end = '\0';
        json_t *e = json_loads(line, 0, NULL);
        ck_assert_msg(e != NULL, "not JSON: %s", line);
        ck_assert_str_eq(json_string_value(json_object_get(e, "outcome")), want[i]);
        json_decref(e);
        line = end + 1;
    }
    free(text);
    unlink(audit);
    free(audit);
}
END_TEST

/* ---- fail closed ---- */

START_TEST(unreachable_store_refuses_sends_and_serves_reads)
{
    snprintf(store_spec, sizeof store_spec, "redis://127.0.0.1:%u/0",
             testutil_closed_port());
    struct srv v;
    srv_start(&v, NULL);
    expect_error(
        srv_call(&v, "send_otp", KEYED_OTP(MOBILE, "x-1")),
        "cannot be reached, so this sending call was refused and nothing was sent",
        "read-only tools keep working");
    expect_error(srv_call(&v, "send_sms_flow", FLOW_ARGS("F1", MOBILE)),
                 "cannot be reached");
    json_decref(expect_ok(srv_call(&v, "list_campaigns", "{}")));
    ck_assert_int_eq(received(), 1);
    srv_stop(&v);
}
END_TEST

static TCase *store_case(const char *name, void (*use)(void), void (*drop)(void))
{
    TCase *tc = tcase_create(name);
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, use, drop);
    tcase_add_checked_fixture(tc, sandbox_up, sandbox_down);
    tcase_add_test(tc, same_key_replays_the_first_result);
    tcase_add_test(tc, same_key_other_arguments_is_refused);
    tcase_add_test(tc, same_key_while_running_is_in_progress);
    tcase_add_test(tc, vanished_holder_means_unknown_never_resent);
    tcase_add_test(tc, cancelled_after_sending_is_unknown);
    tcase_add_test(tc, forget_command_quotes_the_key);
    tcase_add_test(tc, missing_digest_module_refuses_sends);
    tcase_add_test(tc, processes_share_keys_personas_do_not);
    tcase_add_test(tc, identical_send_within_the_window_is_refused);
    tcase_add_test(tc, a_failed_twin_lets_the_call_through);
    tcase_add_test(tc, a_twin_of_a_server_error_is_refused);
    tcase_add_test(tc, a_twin_of_a_non_json_success_is_refused);
    tcase_add_test(tc, a_keyed_server_error_is_never_resent);
    tcase_add_test(tc, a_keyed_send_guards_its_unkeyed_twin);
    tcase_add_test(tc, country_allowlist);
    tcase_add_test(tc, events_identifier_is_limited_as_it_is_sent);
    tcase_add_test(tc, codes_per_recipient_per_hour);
    tcase_add_test(tc, sends_per_day);
    tcase_add_test(tc, persona_limits_override_the_server);
    tcase_add_test(tc, personas_share_the_per_number_count);
    tcase_add_test(tc, audit_names_the_outcome);
    return tc;
}

int main(void)
{
    Suite *s = suite_create("safe_send");
    suite_add_tcase(s, store_case("memory", use_memory, NULL));
    suite_add_tcase(s, store_case("sqlite", use_sqlite, drop_sqlite));
    TCase *tc = store_case("redis", use_redis, NULL);
    tcase_add_unchecked_fixture(tc, redis_start, redis_stop);
    tcase_add_test(tc, unreachable_store_refuses_sends_and_serves_reads);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}

/* NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */
