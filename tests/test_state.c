/* The state store as the server uses it: the safe-send settings
 * (server/config.c), the store a dispatch opens and closes
 * (server/dispatch.c), and `msg91-mcp state [--forget KEY]` run as the
 * real binary against a SQLite file and an unreachable Redis. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "server/config.h"
#include "server/dispatch.h"
#include "store/store.h"
#include "tests/testutil.h"
#include "tools/service.h"
#include "util/redact.h"

struct loaded {
    struct config cfg;
    char **rest;
    char *error;
    int rc;
};

static void load(struct loaded *l, char **envp)
{
    char *argv[] = {"msg91-mcp", NULL};
    config_init(&l->cfg);
    l->rest = NULL;
    l->error = NULL;
    l->rc = config_load(&l->cfg, 1, argv, envp, &l->rest, &l->error);
}

static void unload(struct loaded *l)
{
    config_finish(&l->cfg);
    free(l->rest);
    free(l->error);
}

START_TEST(test_defaults)
{
    char *envp[] = {NULL};
    struct loaded l;
    load(&l, envp);
    ck_assert_int_eq(l.rc, 0);
    ck_assert_ptr_null(l.cfg.store);
    ck_assert_int_eq(l.cfg.idempotency_ttl_s, 86400);
    ck_assert_int_eq(l.cfg.duplicate_window_s, 60);
    ck_assert_ptr_null(l.cfg.allowed_country_codes);
    ck_assert_int_eq(l.cfg.limits[SERVICE_LIMIT_CODES_PER_RECIPIENT_HOUR], 5);
    ck_assert_int_eq(l.cfg.limits[SERVICE_LIMIT_SENDS_PER_DAY], 0);
    unload(&l);
}
END_TEST

START_TEST(test_values)
{
    char *envp[] = {"MSG91_STORE=memory",
                    "MSG91_IDEMPOTENCY_TTL_S=600",
                    "MSG91_DUPLICATE_WINDOW_S=0",
                    "MSG91_ALLOWED_COUNTRY_CODES=91, +971,1268",
                    "MSG91_OTP_PER_RECIPIENT_PER_HOUR=0",
                    "MSG91_SENDS_PER_DAY=500",
                    NULL};
    struct loaded l;
    load(&l, envp);
    ck_assert_msg(l.rc == 0, "%s", l.error);
    ck_assert_str_eq(l.cfg.store, "memory");
    ck_assert_int_eq(l.cfg.idempotency_ttl_s, 600);
    ck_assert_int_eq(l.cfg.duplicate_window_s, 0);
    ck_assert_str_eq(l.cfg.allowed_country_codes, "91, +971,1268");
    ck_assert_int_eq(l.cfg.limits[SERVICE_LIMIT_CODES_PER_RECIPIENT_HOUR], 0);
    ck_assert_int_eq(l.cfg.limits[SERVICE_LIMIT_SENDS_PER_DAY], 500);
    unload(&l);
}
END_TEST

/* Each bad value is refused with a sentence naming the setting. */
struct bad_value {
    const char *env;
    const char *says;
};
static const struct bad_value bad_values[] = {
    {"MSG91_STORE=postgres://db", "MSG91_STORE must be memory, sqlite:PATH or redis://"},
    {"MSG91_IDEMPOTENCY_TTL_S=0", "MSG91_IDEMPOTENCY_TTL_S must be a whole number"},
    {"MSG91_DUPLICATE_WINDOW_S=-1", "MSG91_DUPLICATE_WINDOW_S must be a whole number"},
    {"MSG91_OTP_PER_RECIPIENT_PER_HOUR=five", "MSG91_OTP_PER_RECIPIENT_PER_HOUR must"},
    {"MSG91_SENDS_PER_DAY=1e3", "MSG91_SENDS_PER_DAY must be a whole number"},
    {"MSG91_ALLOWED_COUNTRY_CODES=91;971", "MSG91_ALLOWED_COUNTRY_CODES must be a comma"},
    {"MSG91_ALLOWED_COUNTRY_CODES=091", "MSG91_ALLOWED_COUNTRY_CODES must be a comma"},
    {"MSG91_ALLOWED_COUNTRY_CODES=91,,971",
     "MSG91_ALLOWED_COUNTRY_CODES must be a comma"},
    {"MSG91_ALLOWED_COUNTRY_CODES=12345", "MSG91_ALLOWED_COUNTRY_CODES must be a comma"},
    {"MSG91_ALLOWED_COUNTRY_CODES= , ", "MSG91_ALLOWED_COUNTRY_CODES must be a comma"},
};

START_TEST(test_bad_values)
{
    const struct bad_value *b = &bad_values[_i];
    char *envp[] = {(char *)b->env, NULL};
    struct loaded l;
    load(&l, envp);
    ck_assert_int_ne(l.rc, 0);
    ck_assert_ptr_nonnull(l.error);
    ck_assert_msg(strstr(l.error, b->says), "%s: %s", b->env, l.error);
    unload(&l);
}
END_TEST

START_TEST(test_store_password)
{
    bool failed;
    char *p = config_store_password("redis://:pa@ss/w@127.0.0.1:6379/2", &failed);
    ck_assert_str_eq(p, "pa@ss/w");
    free(p);
    ck_assert_ptr_null(config_store_password("redis://127.0.0.1:6379", &failed));
    ck_assert_ptr_null(config_store_password("redis://:@127.0.0.1:6379", &failed));
    ck_assert_ptr_null(config_store_password("sqlite:/tmp/a@b", &failed));
    ck_assert_ptr_null(config_store_password(NULL, &failed));
    ck_assert(!failed);
}
END_TEST

/* The password is registered as soon as MSG91_STORE is read, so even the
 * error about a later value cannot show it. */
START_TEST(test_password_redacted_at_once)
{
    char *envp[] = {"MSG91_STORE=redis://:Zq8vHunter2Pw@127.0.0.1:6379/0",
                    "MSG91_TIMEOUT_MS=Zq8vHunter2Pw", NULL};
    struct loaded l;
    load(&l, envp);
    ck_assert_int_ne(l.rc, 0);
    ck_assert(redact_needed(l.error, strlen(l.error)));
    char *clean = NULL;
    ck_assert_int_eq(redact_apply(l.error, strlen(l.error), &clean, NULL), 0);
    ck_assert_ptr_nonnull(clean);
    ck_assert_ptr_null(strstr(clean, "Zq8vHunter2Pw"));
    free(clean);
    unload(&l);
    redact_clear();
}
END_TEST

static void on_closed(void *data)
{
    ++*(int *)data;
}

/* Destroys d, waits until its store has closed, and finishes the loop and
 * the configuration it was made with. */
static void close_dispatch(struct dispatch *d, uv_loop_t *loop, struct config *cfg)
{
    int closed = 0;
    dispatch_destroy(d, on_closed, &closed);
    ck_assert(testutil_run_until(loop, &closed, 1, 10000));
    uv_run(loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(loop), 0);
    config_finish(cfg);
}

START_TEST(test_dispatch_opens_and_closes_the_store)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct config cfg;
    config_init(&cfg);
    char *path = testutil_temp_file("");
    unlink(path); /* SQLite makes it */
    char spec[4200];
    snprintf(spec, sizeof spec, "sqlite:%s", path);
    cfg.store = strdup(spec);
    char *error = NULL;
    struct dispatch *d = dispatch_create(&cfg, &loop, &error);
    ck_assert_msg(d != NULL, "%s", error);
    ck_assert_str_eq(store_backend(dispatch_store(d)), "sqlite");
    ck_assert_str_eq(store_describe(dispatch_store(d)), spec);
    ck_assert_int_eq(access(path, F_OK), 0);
    close_dispatch(d, &loop, &cfg);
    unlink(path);
    free(path);
}
END_TEST

/* --sandbox keeps its made-up results out of the default store, which real
 * servers on the machine share: memory unless a store is named. */
START_TEST(test_sandbox_keeps_state_in_memory)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct config cfg;
    config_init(&cfg);
    cfg.sandbox = true;
    char *error = NULL;
    struct dispatch *d = dispatch_create(&cfg, &loop, &error);
    ck_assert_msg(d != NULL, "%s", error);
    ck_assert_str_eq(store_backend(dispatch_store(d)), "memory");
    close_dispatch(d, &loop, &cfg);
}
END_TEST

/* An explicit SQLite file that cannot be opened stops the start. */
START_TEST(test_dispatch_refuses_a_bad_store)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct config cfg;
    config_init(&cfg);
    cfg.store = strdup("sqlite:/nonexistent-folder-for-msg91/state.db");
    char *error = NULL;
    ck_assert_ptr_null(dispatch_create(&cfg, &loop, &error));
    ck_assert_ptr_nonnull(error);
    ck_assert_msg(strstr(error, "MSG91_STORE"), "%s", error);
    free(error);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    config_finish(&cfg);
}
END_TEST

/* One run of the binary: exit status, stdout and stderr. */
struct ran {
    int status;
    char out[8192];
    char *err;
};

static void run_binary(struct ran *r, const char *store, const char *const *args)
{
    const char *argv[8] = {"msg91-mcp", "state"};
    for (int i = 0; i < 5 && args[i]; i++)
        argv[i + 2] = args[i];
    const char *env[] = {testutil_fmt("MSG91_STORE=%s", store), NULL};
    struct testutil_child c;
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    r->out[0] = '\0';
    char *line;
    while ((line = testutil_read_line(&c, 30000))) {
        strncat(r->out, line, sizeof r->out - strlen(r->out) - 2);
        strcat(r->out, "\n");
        free(line);
    }
    r->status = testutil_finish(&c, 30000);
    r->err = testutil_read_stderr(&c);
}

static void claim_done(void *data, int status, const struct store_claim *claim)
{
    ck_assert_int_eq(status, 0);
    ck_assert_int_eq(claim->outcome, STORE_CLAIMED);
    ++*(int *)data;
}

/* Leaves a pending claim of key in the SQLite file, as a process that
 * died between claiming and settling would. */
static void leave_claim(const char *spec, const char *key)
{
    uv_loop_t loop;
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    struct store_options o = {.spec = spec};
    struct store *s = NULL;
    char err[256];
    ck_assert_msg(store_open(&loop, &o, &s, err, sizeof err) == 0, "%s", err);
    struct store_key k = {.persona = "", .tool = "send_otp", .key = key};
    int done = 0;
    ck_assert_int_eq(
        store_idem_claim(s, &k, "fingerprint", 600000, 86400000, claim_done, &done), 0);
    ck_assert(testutil_run_until(&loop, &done, 1, 10000));
    int closed = 0;
    store_close(s, on_closed, &closed);
    ck_assert(testutil_run_until(&loop, &closed, 1, 10000));
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert_int_eq(uv_loop_close(&loop), 0);
}

START_TEST(test_e2e_state_and_forget)
{
    char *path = testutil_temp_file("");
    unlink(path);
    const char *spec = testutil_fmt("sqlite:%s", path);
    char spec_copy[4200];
    snprintf(spec_copy, sizeof spec_copy, "%s", spec);
    const char *none[] = {NULL};
    struct ran r;

    run_binary(&r, spec_copy, none);
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_msg(strstr(r.out, testutil_fmt("store: %s\n", spec_copy)), "%s", r.out);
    ck_assert_msg(strstr(r.out, "idempotency keys: 0 pending, 0 done, 0 outcome unknown"),
                  "%s", r.out);
    free(r.err);

    leave_claim(spec_copy, "order-17");
    run_binary(&r, spec_copy, none);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strstr(r.out, "idempotency keys: 1 pending"), "%s", r.out);
    free(r.err);

    const char *forget[] = {"--forget", "order-17", NULL};
    run_binary(&r, spec_copy, forget);
    ck_assert_msg(r.status == 0, "%s", r.err);
    ck_assert_msg(strstr(r.out, "forgot the idempotency key \"order-17\" (1 entry)"),
                  "%s", r.out);
    free(r.err);

    run_binary(&r, spec_copy, none);
    ck_assert_msg(strstr(r.out, "idempotency keys: 0 pending"), "%s", r.out);
    free(r.err);

    run_binary(&r, spec_copy, forget);
    ck_assert_int_eq(r.status, 0);
    ck_assert_msg(strstr(r.out, "no idempotency key \"order-17\" is stored"), "%s",
                  r.out);
    free(r.err);

    unlink(path);
    free(path);
}
END_TEST

START_TEST(test_e2e_state_usage)
{
    const char *bad[] = {"--forget", NULL};
    struct ran r;
    run_binary(&r, "memory", bad);
    ck_assert_int_eq(r.status, 1);
    ck_assert_msg(strstr(r.err, "usage: msg91-mcp state [--forget KEY]"), "%s", r.err);
    free(r.err);
}
END_TEST

/* A Redis nobody answers: state says so, names the store and never its
 * password. */
START_TEST(test_e2e_state_redis_unreachable)
{
    const char *none[] = {NULL};
    const char *spec =
        testutil_fmt("redis://:Zq8vHunter2Pw@127.0.0.1:%u/0", testutil_closed_port());
    char spec_copy[256];
    snprintf(spec_copy, sizeof spec_copy, "%s", spec);
    struct ran r;
    run_binary(&r, spec_copy, none);
    ck_assert_int_eq(r.status, 1);
    ck_assert_str_eq(r.out, "");
    ck_assert_msg(strstr(r.err, "redis://:(hidden)@127.0.0.1:"), "%s", r.err);
    ck_assert_ptr_null(strstr(r.err, "Zq8vHunter2Pw"));
    free(r.err);
}
END_TEST

static Suite *state_suite(void)
{
    Suite *s = suite_create("state");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_values);
    tcase_add_loop_test(tc, test_bad_values, 0, sizeof bad_values / sizeof bad_values[0]);
    tcase_add_test(tc, test_store_password);
    tcase_add_test(tc, test_password_redacted_at_once);
    suite_add_tcase(s, tc);
    tc = tcase_create("dispatch");
    tcase_add_test(tc, test_dispatch_opens_and_closes_the_store);
    tcase_add_test(tc, test_sandbox_keeps_state_in_memory);
    tcase_add_test(tc, test_dispatch_refuses_a_bad_store);
    suite_add_tcase(s, tc);
    tc = tcase_create("e2e");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_e2e_state_and_forget);
    tcase_add_test(tc, test_e2e_state_usage);
    tcase_add_test(tc, test_e2e_state_redis_unreachable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(state_suite());
}
