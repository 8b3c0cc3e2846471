/* Tests for the upstream HTTP engine (upstream/http.c) against a small
 * libmicrohttpd server that lives in this file: it echoes requests as JSON,
 * delays, answers chosen statuses with Retry-After, sends huge bodies,
 * drops connections, and counts concurrent requests. Each test runs a
 * private libuv loop and asserts on counters set by the callbacks. */
#include "upstream/http.h"

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/config.h"
#include "tests/testutil.h"
#include "upstream/url.h"

/* ---- the test server -------------------------------------------------- */

/* A test CA and a certificate for 127.0.0.1 it signed (EC P-256, valid
 * 2000-2100), generated once with openssl for these tests only. */
static const char test_ca_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBazCCARGgAwIBAgIBATAKBggqhkjOPQQDAjAcMRowGAYDVQQDDBFtc2c5MS1t\n"
    "Y3AgdGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowHDEa\n"
    "MBgGA1UEAwwRbXNnOTEtbWNwIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMB\n"
    "BwNCAAQIDVUcHN93d5VXhm6/yUSqZnqPx3aH7JEoDZ/7ADp3bFFnbAlQm9eNuEIP\n"
    "kTzO5/fdyUFExqmgcXg4MnQR8Ylho0IwQDAPBgNVHRMBAf8EBTADAQH/MA4GA1Ud\n"
    "DwEB/wQEAwIBBjAdBgNVHQ4EFgQUlRH4Rz6Y4msMQXFEhro4wPjyirIwCgYIKoZI\n"
    "zj0EAwIDSAAwRQIhAKXnL/EwOynnMjs+Xj+6l0/kb0nV0Cy3FTht21DTbVzyAiB6\n"
    "0by6/ZXTprg5NBzAOYfgqy85tYWmS1xDojRQ+4Dr9Q==\n"
    "-----END CERTIFICATE-----\n";

static const char test_cert_pem[] =
    "-----BEGIN CERTIFICATE-----\n"
    "MIIBnzCCAUWgAwIBAgIBAjAKBggqhkjOPQQDAjAcMRowGAYDVQQDDBFtc2c5MS1t\n"
    "Y3AgdGVzdCBDQTAgFw0wMDAxMDEwMDAwMDBaGA8yMTAwMDEwMTAwMDAwMFowFDES\n"
    "MBAGA1UEAwwJMTI3LjAuMC4xMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEplJf\n"
    "YjB22Al37Rqm8oGSOzu8LdflP6YZMPS8y0cxrbv8hvUjTUASma4/4A31QgXpMrZK\n"
    "jhkLfhvpHGPGkjYsCqN+MHwwCQYDVR0TBAIwADAaBgNVHREEEzARhwR/AAABggls\n"
    "b2NhbGhvc3QwEwYDVR0lBAwwCgYIKwYBBQUHAwEwHwYDVR0jBBgwFoAUlRH4Rz6Y\n"
    "4msMQXFEhro4wPjyirIwHQYDVR0OBBYEFG7mJF6n1VG4AKs9JFpAz+kf03T/MAoG\n"
    "CCqGSM49BAMCA0gAMEUCIQDJZzDXt2QLUMo2FbD+8WkaixggPe2V4QQ2aRWdAIQK\n"
    "ogIgSjPTXuB4sL+WuQR76DIzQ/q/rI1/PywIzz/lkGu4h6U=\n"
    "-----END CERTIFICATE-----\n";

static const char test_key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgZkco0kKb+GdcK3uE\n"
    "S2RaeqKRPL5yStFWxW5NL37PavWhRANCAASmUl9iMHbYCXftGqbygZI7O7wt1+U/\n"
    "phkw9LzLRzGtu/yG9SNNQBKZrj/gDfVCBekytkqOGQt+G+kcY8aSNiwK\n"
    "-----END PRIVATE KEY-----\n";

struct tserver {
    struct MHD_Daemon *daemon;
    unsigned port;
    pthread_mutex_t mu;
    int current;        /* requests inside the handler now */
    int max_concurrent; /* the most seen at once */
    int hits;           /* requests that reached the handler */
    int flaky_hits;     /* requests to /flaky */
    int aborted;        /* /delay requests whose client went away */
    int connections;    /* connections accepted */
    volatile int stopping;
};

struct upload {
    char *data;
    size_t len;
};

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    ck_assert_ptr_nonnull(p);
    return p;
}

static long query_long(struct MHD_Connection *c, const char *key, long fallback)
{
    const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
    return v ? strtol(v, NULL, 10) : fallback;
}

static enum MHD_Result respond(struct MHD_Connection *c, unsigned code, const char *body,
                               long retry_after)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
                                                             MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "application/json");
    if (retry_after >= 0) {
        char v[32];
        snprintf(v, sizeof v, "%ld", retry_after);
        MHD_add_response_header(r, "Retry-After", v);
    }
    enum MHD_Result ret = MHD_queue_response(c, code, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      const char *value)
{
    (void)kind;
    char name[128];
    size_t i;
    for (i = 0; i < sizeof name - 1 && key[i]; i++)
        name[i] = (char)(key[i] >= 'A' && key[i] <= 'Z' ? key[i] + 32 : key[i]);
    name[i] = '\0';
    json_object_set_new(cls, name, json_string(value ? value : ""));
    return MHD_YES;
}

/* Counts request headers named "authkey": the JSON object above keeps only
 * the last of several. */
static enum MHD_Result count_authkey(void *cls, enum MHD_ValueKind kind, const char *key,
                                     const char *value)
{
    (void)kind;
    (void)value;
    if (strcasecmp(key, "authkey") == 0)
        (*(int *)cls)++;
    return MHD_YES;
}

static bool client_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci)
        return false;
    struct pollfd p = {.fd = ci->connect_fd, .events = POLLIN | POLLRDHUP};
    if (poll(&p, 1, 0) <= 0)
        return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR))
        return true;
    char b;
    return recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

struct huge_state {
    size_t total;
    size_t sent;
};

static ssize_t huge_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    struct huge_state *h = cls;
    if (h->sent >= h->total)
        return MHD_CONTENT_READER_END_OF_STREAM;
    size_t n = h->total - h->sent < max ? h->total - h->sent : max;
    memset(buf, 'x', n);
    h->sent += n;
    return (ssize_t)n;
}

static enum MHD_Result handle(struct tserver *s, struct MHD_Connection *c,
                              const char *url, const char *method, struct upload *u)
{
    if (strcmp(url, "/echo") == 0) {
        json_t *o = json_object();
        json_t *headers = json_object();
        MHD_get_connection_values(c, MHD_HEADER_KIND, collect_header, headers);
        int authkeys = 0;
        MHD_get_connection_values(c, MHD_HEADER_KIND, count_authkey, &authkeys);
        json_object_set_new(o, "authkey_lines", json_integer(authkeys));
        json_object_set_new(o, "method", json_string(method));
        json_object_set_new(o, "path", json_string(url));
        json_object_set_new(o, "headers", headers);
        json_object_set_new(o, "body", json_stringn(u->data ? u->data : "", u->len));
        json_object_set_new(o, "body_len", json_integer((json_int_t)u->len));
        char *text = json_dumps(o, JSON_COMPACT);
        json_decref(o);
        enum MHD_Result r = respond(c, 200, text, -1);
        free(text);
        return r;
    }
    /* A request in absolute form: we are being used as a proxy. */
    if (strncmp(url, "http://", 7) == 0) {
        char body[512];
        snprintf(body, sizeof body, "{\"proxied\":\"%s %s\"}", method, url);
        return respond(c, 200, body, -1);
    }
    if (strcmp(url, "/delay") == 0) {
        long ms = query_long(c, "ms", 100);
        struct timespec start;
        clock_gettime(CLOCK_MONOTONIC, &start);
        for (;;) {
            struct timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            long waited = (now.tv_sec - start.tv_sec) * 1000 +
                          (now.tv_nsec - start.tv_nsec) / 1000000;
            if (waited >= ms || s->stopping)
                break;
            if (client_gone(c)) {
                pthread_mutex_lock(&s->mu);
                s->aborted++;
                pthread_mutex_unlock(&s->mu);
                return MHD_NO;
            }
            usleep(2000);
        }
        return respond(c, 200, "{\"ok\":true}", -1);
    }
    if (strcmp(url, "/status") == 0)
        return respond(c, (unsigned)query_long(c, "code", 200), "{\"status\":\"set\"}",
                       query_long(c, "retry_after", -1));
    if (strcmp(url, "/flaky") == 0) {
        pthread_mutex_lock(&s->mu);
        int n = ++s->flaky_hits;
        pthread_mutex_unlock(&s->mu);
        if (n <= query_long(c, "fail", 0))
            return respond(c, (unsigned)query_long(c, "code", 503),
                           "{\"status\":\"fail\"}", query_long(c, "retry_after", -1));
        return respond(c, 200, "{\"status\":\"ok\"}", -1);
    }
    if (strcmp(url, "/huge") == 0) {
        size_t bytes = (size_t)query_long(c, "bytes", 1 << 20);
        struct MHD_Response *r;
        if (query_long(c, "chunked", 0)) {
            struct huge_state *h = calloc(1, sizeof *h);
            h->total = bytes;
            r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, huge_reader, h,
                                                  free);
        } else {
            char *body = malloc(bytes + 1);
            memset(body, 'x', bytes);
            r = MHD_create_response_from_buffer(bytes, body, MHD_RESPMEM_MUST_FREE);
        }
        enum MHD_Result ret = MHD_queue_response(c, 200, r);
        MHD_destroy_response(r);
        return ret;
    }
    /* /close and anything else: drop the connection without an answer. */
    return MHD_NO;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_size,
                                  void **con_cls)
{
    (void)version;
    struct tserver *s = cls;
    struct upload *u = *con_cls;
    if (!u) {
        *con_cls = calloc(1, sizeof *u);
        return *con_cls ? MHD_YES : MHD_NO;
    }
    if (*upload_size) {
        u->data = realloc(u->data, u->len + *upload_size + 1);
        memcpy(u->data + u->len, upload_data, *upload_size);
        u->len += *upload_size;
        *upload_size = 0;
        return MHD_YES;
    }
    pthread_mutex_lock(&s->mu);
    s->hits++;
    if (++s->current > s->max_concurrent)
        s->max_concurrent = s->current;
    pthread_mutex_unlock(&s->mu);
    enum MHD_Result r = handle(s, c, url, method, u);
    pthread_mutex_lock(&s->mu);
    s->current--;
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    struct upload *u = *con_cls;
    if (u) {
        free(u->data);
        free(u);
    }
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    (void)c;
    (void)socket_context;
    struct tserver *s = cls;
    if (toe != MHD_CONNECTION_NOTIFY_STARTED)
        return;
    pthread_mutex_lock(&s->mu);
    s->connections++;
    pthread_mutex_unlock(&s->mu);
}

static void tserver_start(struct tserver *s, bool tls)
{
    memset(s, 0, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL_INTERNAL_THREAD;
    struct MHD_OptionItem tls_opts[] = {
        {MHD_OPTION_HTTPS_MEM_KEY, 0, (void *)test_key_pem},
        {MHD_OPTION_HTTPS_MEM_CERT, 0, (void *)test_cert_pem},
        {MHD_OPTION_END, 0, NULL},
    };
    if (tls)
        flags |= MHD_USE_TLS;
    s->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&addr, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, s, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)2, MHD_OPTION_LISTEN_BACKLOG_SIZE, (unsigned)1024, MHD_OPTION_ARRAY,
        tls ? tls_opts : tls_opts + 2, MHD_OPTION_END);
    ck_assert_ptr_nonnull(s->daemon);
    s->port = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    ck_assert_uint_gt(s->port, 0);
}

static void tserver_stop(struct tserver *s)
{
    s->stopping = 1;
    MHD_stop_daemon(s->daemon);
    pthread_mutex_destroy(&s->mu);
}

static int tserver_get(struct tserver *s, const int *field)
{
    pthread_mutex_lock(&s->mu);
    int v = *field;
    pthread_mutex_unlock(&s->mu);
    return v;
}

/* ---- the client side --------------------------------------------------- */

static struct tserver srv;
static uv_loop_t loop;
static uv_timer_t tick;
static struct http_engine *engine;
static int closed_count;
static bool in_submit;
static int violations; /* callbacks at forbidden times */
static int done_total;
static int last_submit_rc;
static int sent_order[256];
static int n_sent;

struct capture {
    int index;
    int done;
    int queued, sent, answered;
    enum http_outcome outcome;
    long status;
    char *body;
    size_t body_len;
    long retry_after_s;
    char *content_type;
    char *error;
    unsigned attempts;
    double elapsed_ms;
    bool maybe_delivered;
    /* Optional follow-up run inside the done callback. */
    void (*then)(struct capture *cap);
};

static void capture_free(struct capture *cap)
{
    free(cap->body);
    free(cap->content_type);
    free(cap->error);
    cap->body = cap->content_type = cap->error = NULL;
}

static void on_stage(void *data, enum http_stage stage)
{
    struct capture *cap = data;
    if (cap->done)
        violations++;
    switch (stage) {
    case HTTP_STAGE_QUEUED:
        cap->queued++;
        break;
    case HTTP_STAGE_SENT:
        cap->sent++;
        if (n_sent < (int)(sizeof sent_order / sizeof sent_order[0]))
            sent_order[n_sent++] = cap->index;
        break;
    case HTTP_STAGE_ANSWERED:
        cap->answered++;
        break;
    }
}

static void on_done(void *data, const struct http_response *r)
{
    struct capture *cap = data;
    if (in_submit || cap->done || cap->answered != 1)
        violations++;
    ck_assert_ptr_nonnull(r->body);
    ck_assert_ptr_nonnull(r->error);
    ck_assert_int_eq(r->body[r->body_len], '\0');
    cap->done++;
    done_total++;
    cap->outcome = r->outcome;
    cap->status = r->status;
    cap->body = xmalloc(r->body_len + 1);
    memcpy(cap->body, r->body, r->body_len + 1);
    cap->body_len = r->body_len;
    cap->retry_after_s = r->retry_after_s;
    cap->content_type = r->content_type ? strdup(r->content_type) : NULL;
    cap->error = strdup(r->error);
    cap->attempts = r->attempts;
    cap->elapsed_ms = r->elapsed_ms;
    cap->maybe_delivered = r->maybe_delivered;
    if (cap->then)
        cap->then(cap);
}

static void on_closed(void *data)
{
    (*(int *)data)++;
}

static void on_tick(uv_timer_t *t)
{
    (void)t;
}

static uint64_t now_ms(void)
{
    return uv_hrtime() / 1000000;
}

/* Runs n loop iterations, so that anything already due (a 0 ms timer, a
 * ready socket) has run; the tick timer keeps each one short. Used to show
 * that something does NOT happen, never to wait for something that should. */
static void run_turns(int n)
{
    while (n-- > 0)
        uv_run(&loop, UV_RUN_ONCE);
}

/* Runs until the server has seen `target` in the given field. */
static bool run_until_server(const int *field, int target, int timeout_ms)
{
    uint64_t deadline = now_ms() + (uint64_t)timeout_ms;
    while (tserver_get(&srv, field) < target) {
        if (now_ms() >= deadline)
            return false;
        uv_run(&loop, UV_RUN_ONCE);
    }
    return true;
}

static void make_engine(struct http_engine_options opts)
{
    ck_assert_int_eq(http_engine_create(&engine, &loop, &opts), 0);
    ck_assert_ptr_nonnull(engine);
}

static char *url_for(const char *path)
{
    char *url = xmalloc(strlen(path) + 64);
    if (strncmp(path, "http", 4) == 0)
        strcpy(url, path);
    else
        sprintf(url, "http://127.0.0.1:%u%s", srv.port, path);
    return url;
}

static struct http_call *submit(const char *method, const char *path, const char *body,
                                const char *content_type, bool retryable,
                                struct capture *cap)
{
    struct http_request req = {
        .method = method,
        .url = url_for(path),
        .body = body ? strdup(body) : NULL,
        .body_len = body ? strlen(body) : 0,
        .content_type = content_type,
        .retryable = retryable,
    };
    in_submit = true;
    struct http_call *call = NULL;
    last_submit_rc = http_submit(engine, &req, on_done, on_stage, cap, &call);
    in_submit = false;
    ck_assert_int_eq(last_submit_rc == 0, call != NULL);
    ck_assert_ptr_null(req.url);
    ck_assert_ptr_null(req.body);
    return call;
}

static void setup(void)
{
    tserver_start(&srv, false);
    ck_assert_int_eq(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &tick);
    uv_timer_start(&tick, on_tick, 10, 10);
    engine = NULL;
    closed_count = 0;
    violations = 0;
    done_total = 0;
    n_sent = 0;
}

static void finish_engine(void)
{
    if (!engine)
        return;
    http_engine_destroy(engine, on_closed, &closed_count);
    engine = NULL;
    ck_assert(testutil_run_until(&loop, &closed_count, 1, 5000));
    ck_assert_int_eq(closed_count, 1);
}

static void teardown(void)
{
    finish_engine();
    uv_close((uv_handle_t *)&tick, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    /* Every handle the engine opened is closed again. */
    ck_assert_int_eq(uv_loop_close(&loop), 0);
    tserver_stop(&srv);
    ck_assert_int_eq(violations, 0);
}

static json_t *parse_body(const struct capture *cap)
{
    json_error_t err;
    json_t *v = json_loadb(cap->body, cap->body_len, 0, &err);
    ck_assert_msg(v != NULL, "bad JSON body: %s", err.text);
    return v;
}

static const char *header(json_t *echo, const char *name)
{
    return json_string_value(json_object_get(json_object_get(echo, "headers"), name));
}

/* ---- requests and headers ----------------------------------------------- */

START_TEST(test_post_echo)
{
    make_engine((struct http_engine_options){.auth_header = "authkey",
                                             .auth_value = "k-123456",
                                             .user_agent = "engine-test/1"});
    struct capture cap = {0};
    ck_assert_ptr_nonnull(
        submit("POST", "/echo", "{\"a\":1}", "application/json", false, &cap));
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));

    ck_assert_int_eq(cap.outcome, HTTP_ANSWERED);
    ck_assert_int_eq(cap.status, 200);
    ck_assert_str_eq(cap.error, "");
    ck_assert_str_eq(cap.content_type, "application/json");
    ck_assert_uint_eq(cap.attempts, 1);
    ck_assert_int_eq(cap.retry_after_s, -1);
    ck_assert(cap.maybe_delivered);
    ck_assert_int_eq(cap.queued, 0);
    ck_assert_int_eq(cap.sent, 1);
    ck_assert_int_eq(cap.answered, 1);

    json_t *echo = parse_body(&cap);
    ck_assert_str_eq(json_string_value(json_object_get(echo, "method")), "POST");
    ck_assert_str_eq(json_string_value(json_object_get(echo, "path")), "/echo");
    ck_assert_str_eq(json_string_value(json_object_get(echo, "body")), "{\"a\":1}");
    ck_assert_int_eq(json_integer_value(json_object_get(echo, "body_len")), 7);
    ck_assert_str_eq(header(echo, "authkey"), "k-123456");
    ck_assert_str_eq(header(echo, "content-type"), "application/json");
    ck_assert_str_eq(header(echo, "accept"), "application/json");
    ck_assert_str_eq(header(echo, "user-agent"), "engine-test/1");
    ck_assert_str_eq(header(echo, "content-length"), "7");
    ck_assert_ptr_null(header(echo, "expect"));
    json_decref(echo);
    capture_free(&cap);
}
END_TEST

/* A request may carry its own credential (one tenant's key); the others
 * keep the engine's, and each request carries exactly one. */
static struct http_call *submit_as(const char *method, const char *content_type,
                                   const char *auth_value, struct capture *cap)
{
    struct http_request req = {
        .method = method,
        .url = url_for("/echo"),
        .content_type = content_type,
        .auth_value = auth_value,
    };
    struct http_call *call = NULL;
    last_submit_rc = http_submit(engine, &req, on_done, on_stage, cap, &call);
    return call;
}

START_TEST(test_per_request_key)
{
    make_engine(
        (struct http_engine_options){.auth_header = "authkey", .auth_value = "k-engine"});
    struct capture c[5];
    memset(c, 0, sizeof c);
    static const char *const keys[] = {"k-alice", "k-bob", NULL, "k-alice", "k-bob"};
    static const char *const types[] = {"application/json", "application/json",
                                        "application/json", NULL, "text/plain"};
    for (int i = 0; i < 5; i++)
        ck_assert_ptr_nonnull(submit_as("POST", types[i], keys[i], &c[i]));
    for (int i = 0; i < 5; i++) {
        ck_assert(testutil_run_until(&loop, &c[i].done, 1, 5000));
        json_t *echo = parse_body(&c[i]);
        ck_assert_str_eq(header(echo, "authkey"), keys[i] ? keys[i] : "k-engine");
        ck_assert_int_eq(json_integer_value(json_object_get(echo, "authkey_lines")), 1);
        json_decref(echo);
        capture_free(&c[i]);
    }
    /* A line break could smuggle a header in. */
    struct capture bad = {0};
    ck_assert_ptr_null(submit_as("POST", NULL, "k\r\nX-Evil: 1", &bad));
    ck_assert_int_eq(last_submit_rc, -EINVAL);
}
END_TEST

START_TEST(test_get_without_key)
{
    make_engine((struct http_engine_options){0});
    struct capture cap = {0};
    ck_assert_ptr_nonnull(submit("GET", "/echo", NULL, NULL, true, &cap));
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    ck_assert_int_eq(cap.outcome, HTTP_ANSWERED);
    json_t *echo = parse_body(&cap);
    ck_assert_str_eq(json_string_value(json_object_get(echo, "method")), "GET");
    ck_assert_str_eq(json_string_value(json_object_get(echo, "body")), "");
    ck_assert_ptr_null(header(echo, "authkey"));
    ck_assert_ptr_null(header(echo, "content-type"));
    ck_assert_ptr_null(header(echo, "user-agent"));
    ck_assert_str_eq(header(echo, "accept"), "application/json");
    json_decref(echo);
    capture_free(&cap);
}
END_TEST

START_TEST(test_other_methods)
{
    make_engine(
        (struct http_engine_options){.auth_header = "authkey", .auth_value = "key"});
    struct capture put = {0}, del = {0}, empty_post = {0};
    submit("PUT", "/echo", "x=1&y=2", "application/x-www-form-urlencoded", false, &put);
    submit("DELETE", "/echo", NULL, NULL, false, &del);
    submit("POST", "/echo", NULL, NULL, false, &empty_post);
    ck_assert(testutil_run_until(&loop, &done_total, 3, 5000));

    json_t *echo = parse_body(&put);
    ck_assert_str_eq(json_string_value(json_object_get(echo, "method")), "PUT");
    ck_assert_str_eq(json_string_value(json_object_get(echo, "body")), "x=1&y=2");
    ck_assert_str_eq(header(echo, "content-type"), "application/x-www-form-urlencoded");
    json_decref(echo);

    echo = parse_body(&del);
    ck_assert_str_eq(json_string_value(json_object_get(echo, "method")), "DELETE");
    ck_assert_str_eq(json_string_value(json_object_get(echo, "body")), "");
    json_decref(echo);

    /* A POST without a body or type: no invented form Content-Type. */
    echo = parse_body(&empty_post);
    ck_assert_str_eq(json_string_value(json_object_get(echo, "method")), "POST");
    ck_assert_str_eq(header(echo, "content-length"), "0");
    ck_assert_ptr_null(header(echo, "content-type"));
    json_decref(echo);
    capture_free(&put);
    capture_free(&del);
    capture_free(&empty_post);
}
END_TEST

START_TEST(test_long_content_type)
{
    /* Header lines are built to size: nothing is cut off. */
    static char ct[700];
    strcpy(ct, "application/json; profile=");
    memset(ct + strlen(ct), 'p', 600);
    make_engine(
        (struct http_engine_options){.auth_header = "authkey", .auth_value = "k"});
    struct capture cap = {0};
    submit("POST", "/echo", "{}", ct, false, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    json_t *echo = parse_body(&cap);
    ck_assert_str_eq(header(echo, "content-type"), ct);
    ck_assert_str_eq(header(echo, "authkey"), "k");
    json_decref(echo);
    capture_free(&cap);
}
END_TEST

START_TEST(test_submit_rejects)
{
    make_engine((struct http_engine_options){0});
    struct http_request req = {.method = "GET", .url = url_for("/echo")};
    struct http_call *call = (struct http_call *)&req;
    /* No done callback: refused, and the URL is still taken (ASan checks). */
    ck_assert_int_eq(http_submit(engine, &req, NULL, NULL, NULL, &call), -EINVAL);
    ck_assert_ptr_null(call);
    ck_assert_ptr_null(req.url);
    struct capture cap = {0};
    req = (struct http_request){.method = "GET",
                                .url = url_for("/echo"),
                                .content_type = "text/plain\r\nX-Injected: 1"};
    ck_assert_int_eq(http_submit(engine, &req, on_done, on_stage, &cap, &call), -EINVAL);
    ck_assert_int_eq(http_submit(engine, NULL, on_done, on_stage, &cap, &call), -EINVAL);
    req = (struct http_request){.method = "GET", .url = url_for("/echo")};
    ck_assert_int_eq(http_submit(engine, &req, on_done, on_stage, &cap, NULL), -EINVAL);
    ck_assert_ptr_null(req.url);
    run_turns(3);
    ck_assert_int_eq(cap.done, 0);
    ck_assert_int_eq(cap.sent + cap.queued, 0);
    http_engine_destroy(NULL, NULL, NULL);
    http_cancel(NULL);

    struct http_engine *bad = NULL;
    struct http_engine_options opts = {.auth_header = "authkey", .auth_value = "a\r\nb"};
    ck_assert_int_eq(http_engine_create(&bad, &loop, &opts), -EINVAL);
    ck_assert_ptr_null(bad);
    /* A header name must be an HTTP token. */
    static const char *const names[] = {"", "auth key", "authkey:", "a\r\nb", "k\x7f"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        opts = (struct http_engine_options){.auth_header = names[i], .auth_value = "v"};
        ck_assert_int_eq(http_engine_create(&bad, &loop, &opts), -EINVAL);
        ck_assert_ptr_null(bad);
    }
    opts = (struct http_engine_options){.user_agent = "a\nb"};
    ck_assert_int_eq(http_engine_create(&bad, &loop, &opts), -EINVAL);
}
END_TEST

/* ---- failures ----------------------------------------------------------- */

START_TEST(test_timeout)
{
    make_engine((struct http_engine_options){.timeout_ms = 300});
    struct capture cap = {0};
    submit("GET", "/delay?ms=3000", NULL, NULL, false, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    ck_assert_int_eq(cap.outcome, HTTP_TIMEOUT);
    ck_assert(cap.maybe_delivered);
    ck_assert_str_ne(cap.error, "");
    ck_assert_str_eq(cap.body, "");
    ck_assert_uint_eq(cap.body_len, 0);
    ck_assert_double_ge(cap.elapsed_ms, 290);
    /* The engine gave up, not the server: it sees the client go away. */
    ck_assert(run_until_server(&srv.aborted, 1, 5000));
    capture_free(&cap);
}
END_TEST

START_TEST(test_timeout_before_sending)
{
    make_engine((struct http_engine_options){.timeout_ms = 300});
    unsigned port;
    int fd = testutil_listener("127.0.0.1", 16, &port);
    char tls_url[64], plain_url[64];
    snprintf(tls_url, sizeof tls_url, "https://127.0.0.1:%u/echo", port);
    snprintf(plain_url, sizeof plain_url, "http://127.0.0.1:%u/echo", port);
    struct capture handshake = {0}, sent = {0};
    /* One after the other: loading the CA store for the TLS call can take
     * longer than the timeout on a slow (sanitizer) build, and it would
     * stall the plain call's send within the same curl callback. */
    submit("POST", plain_url, "{}", "application/json", false, &sent);
    ck_assert(testutil_run_until(&loop, &done_total, 1, 5000));
    submit("POST", tls_url, "{}", "application/json", false, &handshake);
    ck_assert(testutil_run_until(&loop, &done_total, 2, 5000));
    close(fd);
    /* Stuck in the TLS handshake: the request never left. */
    ck_assert_int_eq(handshake.outcome, HTTP_TIMEOUT);
    ck_assert(!handshake.maybe_delivered);
    /* Written into an open connection: it may have been acted on. */
    ck_assert_int_eq(sent.outcome, HTTP_TIMEOUT);
    ck_assert(sent.maybe_delivered);
    capture_free(&handshake);
    capture_free(&sent);
}
END_TEST

START_TEST(test_connect_refused)
{
    make_engine((struct http_engine_options){0});
    char path[64];
    snprintf(path, sizeof path, "http://127.0.0.1:%u/echo", testutil_closed_port());
    struct capture cap = {0};
    submit("POST", path, "{}", "application/json", false, &cap);
    /* Even a failure this fast is reported from the loop, never from
     * inside http_submit (on_done counts that as a violation). */
    ck_assert_int_eq(cap.done, 0);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    ck_assert_int_eq(cap.outcome, HTTP_CONNECT_FAILED);
    ck_assert(!cap.maybe_delivered);
    ck_assert_str_ne(cap.error, "");
    ck_assert_uint_eq(cap.attempts, 1);
    capture_free(&cap);
}
END_TEST

START_TEST(test_dns_failure)
{
    /* .invalid never resolves (RFC 6761); the timeout bounds a slow resolver. */
    make_engine((struct http_engine_options){.timeout_ms = 4000});
    struct capture cap = {0};
    submit("GET", "http://no-such-host.invalid/echo", NULL, NULL, false, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 8000));
    /* A resolver that neither answers nor fails within the bound shows up
     * as curl's "Resolving timed out"; anything else must be a DNS failure. */
    if (cap.outcome == HTTP_TIMEOUT)
        ck_assert_ptr_nonnull(strstr(cap.error, "Resolving timed out"));
    else
        ck_assert_int_eq(cap.outcome, HTTP_DNS_FAILED);
    ck_assert(!cap.maybe_delivered);
    ck_assert_str_ne(cap.error, "");
    capture_free(&cap);
}
END_TEST

START_TEST(test_tls_failure)
{
    make_engine((struct http_engine_options){.timeout_ms = 5000});
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/echo", srv.port);
    struct capture cap = {0};
    submit("GET", url, NULL, NULL, false, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 8000));
    ck_assert_int_eq(cap.outcome, HTTP_TLS_FAILED);
    ck_assert(!cap.maybe_delivered);
    ck_assert_str_ne(cap.error, "");
    capture_free(&cap);
}
END_TEST

START_TEST(test_tls_with_ca_file)
{
    struct tserver tls;
    tserver_start(&tls, true);
    /* A file holding the test CA, for ca_file. */
    char *ca_path = testutil_temp_file(test_ca_pem);
    make_engine((struct http_engine_options){
        .auth_header = "authkey", .auth_value = "tls-key", .ca_file = ca_path});
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/echo", tls.port);
    struct capture echo_cap = {0}, a = {0}, b = {0};
    submit("POST", url, "{\"x\":true}", "application/json", false, &echo_cap);
    /* Waiting for a connection that might multiplex ends at the handshake
     * for this HTTP/1.1-only server, so two calls still overlap. */
    snprintf(url, sizeof url, "https://127.0.0.1:%u/delay?ms=500", tls.port);
    submit("GET", url, NULL, NULL, false, &a);
    submit("GET", url, NULL, NULL, false, &b);
    ck_assert(testutil_run_until(&loop, &done_total, 3, 8000));
    unlink(ca_path);
    free(ca_path);

    ck_assert_int_eq(echo_cap.outcome, HTTP_ANSWERED);
    ck_assert_int_eq(echo_cap.status, 200);
    json_t *echo = parse_body(&echo_cap);
    ck_assert_str_eq(header(echo, "authkey"), "tls-key");
    ck_assert_str_eq(json_string_value(json_object_get(echo, "body")), "{\"x\":true}");
    json_decref(echo);
    ck_assert_int_eq(a.status, 200);
    ck_assert_int_eq(b.status, 200);
    ck_assert_int_eq(tserver_get(&tls, &tls.max_concurrent), 2);
    finish_engine();
    tserver_stop(&tls);
    capture_free(&echo_cap);
    capture_free(&a);
    capture_free(&b);
}
END_TEST

START_TEST(test_tls_untrusted)
{
    /* The system CAs do not know the test CA: verification fails. */
    struct tserver tls;
    tserver_start(&tls, true);
    make_engine((struct http_engine_options){0});
    char url[64];
    snprintf(url, sizeof url, "https://127.0.0.1:%u/echo", tls.port);
    struct capture cap = {0};
    submit("POST", url, "{}", "application/json", false, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 8000));
    ck_assert_int_eq(cap.outcome, HTTP_TLS_FAILED);
    ck_assert(!cap.maybe_delivered);
    ck_assert_int_eq(tserver_get(&tls, &tls.hits), 0);
    finish_engine();
    tserver_stop(&tls);
    capture_free(&cap);
}
END_TEST

START_TEST(test_reset)
{
    make_engine((struct http_engine_options){0});
    struct capture cap = {0};
    submit("POST", "/close", "{}", "application/json", false, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    ck_assert_int_eq(cap.outcome, HTTP_RESET);
    ck_assert(cap.maybe_delivered);
    ck_assert_int_eq(cap.status, 0);
    ck_assert_str_ne(cap.error, "");
    ck_assert_int_eq(tserver_get(&srv, &srv.hits), 1);
    capture_free(&cap);
}
END_TEST

START_TEST(test_reset_on_reused_connection)
{
    /* curl resends on its own when a reused connection dies before any
     * answer; that must not happen to a call that is not retryable. */
    make_engine((struct http_engine_options){.max_inflight = 1});
    struct capture warm = {0}, post = {0}, get = {0};
    submit("GET", "/echo", NULL, NULL, false, &warm);
    ck_assert(testutil_run_until(&loop, &warm.done, 1, 5000));
    submit("POST", "/close", "{}", "application/json", false, &post);
    ck_assert(testutil_run_until(&loop, &post.done, 1, 5000));
    ck_assert_int_eq(post.outcome, HTTP_RESET);
    ck_assert(post.maybe_delivered);
    ck_assert_uint_eq(post.attempts, 1);
    ck_assert_int_eq(tserver_get(&srv, &srv.hits), 2);

    submit("GET", "/echo", NULL, NULL, false, &get);
    ck_assert(testutil_run_until(&loop, &get.done, 1, 5000));
    ck_assert_int_eq(get.status, 200);
    capture_free(&warm);
    capture_free(&post);
    capture_free(&get);
}
END_TEST

START_TEST(test_too_large)
{
    make_engine((struct http_engine_options){.max_response_bytes = 1000});
    struct capture exact = {0}, announced = {0}, chunked = {0};
    submit("GET", "/huge?bytes=1000", NULL, NULL, false, &exact);
    /* With Content-Length curl refuses early; chunked hits the write cap. */
    submit("GET", "/huge?bytes=5000", NULL, NULL, false, &announced);
    submit("GET", "/huge?bytes=100000&chunked=1", NULL, NULL, false, &chunked);
    ck_assert(testutil_run_until(&loop, &done_total, 3, 5000));

    ck_assert_int_eq(exact.outcome, HTTP_ANSWERED);
    ck_assert_uint_eq(exact.body_len, 1000);
    ck_assert_int_eq(exact.body[999], 'x');

    ck_assert_int_eq(announced.outcome, HTTP_TOO_LARGE);
    ck_assert_int_eq(chunked.outcome, HTTP_TOO_LARGE);
    ck_assert_str_eq(chunked.error, "response body exceeds 1000 bytes");
    ck_assert_uint_eq(chunked.body_len, 0);
    ck_assert_str_eq(chunked.body, "");
    capture_free(&exact);
    capture_free(&announced);
    capture_free(&chunked);
}
END_TEST

/* ---- reused easy handles and the receive buffer -------------------------- */

/* Submits one call and runs the loop until it is done. */
static void call_one(const char *method, const char *path, const char *body,
                     const char *content_type, struct capture *cap)
{
    int before = done_total;
    ck_assert_ptr_nonnull(submit(method, path, body, content_type, false, cap));
    ck_assert(testutil_run_until(&loop, &done_total, before + 1, 5000));
}

static void assert_echo(const struct capture *cap, const char *method, const char *body,
                        const char *content_type)
{
    ck_assert_int_eq(cap->outcome, HTTP_ANSWERED);
    ck_assert_int_eq(cap->status, 200);
    ck_assert_str_eq(cap->error, "");
    ck_assert_int_eq(cap->retry_after_s, -1);
    ck_assert_str_eq(cap->content_type, "application/json");
    json_t *echo = parse_body(cap);
    ck_assert_str_eq(json_string_value(json_object_get(echo, "method")), method);
    ck_assert_str_eq(json_string_value(json_object_get(echo, "body")), body);
    ck_assert_int_eq(json_integer_value(json_object_get(echo, "authkey_lines")), 1);
    ck_assert_str_eq(header(echo, "authkey"), "k-reuse");
    ck_assert_str_eq(header(echo, "accept"), "application/json");
    ck_assert_str_eq(header(echo, "user-agent"), "engine-test/1");
    ck_assert_ptr_null(header(echo, "expect"));
    if (content_type)
        ck_assert_str_eq(header(echo, "content-type"), content_type);
    else
        ck_assert_ptr_null(header(echo, "content-type"));
    if (strcmp(method, "GET") == 0)
        ck_assert_ptr_null(header(echo, "content-length"));
    json_decref(echo);
}

START_TEST(test_reused_handle_is_clean)
{
    /* One slot, one call at a time: every call after the first runs on the
     * easy handle the previous call gave back. Nothing of the previous call
     * (method, body, headers, status, Retry-After, error) may show. */
    make_engine((struct http_engine_options){.auth_header = "authkey",
                                             .auth_value = "k-reuse",
                                             .user_agent = "engine-test/1",
                                             .max_inflight = 1});
    struct capture c[10];
    memset(c, 0, sizeof c);

    call_one("POST", "/echo", "{\"a\":1}", "application/json", &c[0]);
    assert_echo(&c[0], "POST", "{\"a\":1}", "application/json");

    /* A GET after a POST sends no body, no Content-Type, no Content-Length. */
    call_one("GET", "/echo", NULL, NULL, &c[1]);
    assert_echo(&c[1], "GET", "", NULL);

    call_one("PUT", "/echo", "x=1&y=2", "application/x-www-form-urlencoded", &c[2]);
    assert_echo(&c[2], "PUT", "x=1&y=2", "application/x-www-form-urlencoded");

    /* After a custom method the next POST is a POST. */
    call_one("POST", "/echo", NULL, NULL, &c[3]);
    assert_echo(&c[3], "POST", "", NULL);

    /* HEAD sets NOBODY; the GET after it must read its body again. */
    call_one("HEAD", "/echo", NULL, NULL, &c[4]);
    ck_assert_int_eq(c[4].status, 200);
    ck_assert_uint_eq(c[4].body_len, 0);
    call_one("GET", "/echo", NULL, NULL, &c[5]);
    assert_echo(&c[5], "GET", "", NULL);

    /* A status with Retry-After, then a failure with curl's error text:
     * neither carries over. */
    call_one("GET", "/status?code=429&retry_after=7", NULL, NULL, &c[6]);
    ck_assert_int_eq(c[6].status, 429);
    ck_assert_int_eq(c[6].retry_after_s, 7);
    call_one("DELETE", "/close", NULL, NULL, &c[7]);
    ck_assert_int_eq(c[7].outcome, HTTP_RESET);
    ck_assert_str_ne(c[7].error, "");
    call_one("DELETE", "/echo", NULL, NULL, &c[8]);
    assert_echo(&c[8], "DELETE", "", NULL);

    /* A cancelled running call gives its handle back too. */
    struct capture cancelled = {0};
    struct http_call *call =
        submit("POST", "/delay?ms=2000", "{}", "application/json", false, &cancelled);
    ck_assert(run_until_server(&srv.current, 1, 5000));
    http_cancel(call);
    call_one("GET", "/echo", NULL, NULL, &c[9]);
    assert_echo(&c[9], "GET", "", NULL);
    ck_assert_int_eq(cancelled.done, 0);

    for (size_t i = 0; i < sizeof c / sizeof c[0]; i++)
        capture_free(&c[i]);
}
END_TEST

static bool all_x(const struct capture *cap)
{
    for (size_t i = 0; i < cap->body_len; i++)
        if (cap->body[i] != 'x')
            return false;
    return true;
}

START_TEST(test_large_body_small_buffer)
{
    /* curl reads through a 1 KiB buffer: bodies far larger still arrive
     * whole, and a cap above the buffer size is still enforced. */
    make_engine((struct http_engine_options){.max_response_bytes = 300000});
    struct capture whole = {0}, whole_chunked = {0}, over = {0}, over_chunked = {0};
    submit("GET", "/huge?bytes=300000", NULL, NULL, false, &whole);
    submit("GET", "/huge?bytes=300000&chunked=1", NULL, NULL, false, &whole_chunked);
    submit("GET", "/huge?bytes=300001", NULL, NULL, false, &over);
    submit("GET", "/huge?bytes=300001&chunked=1", NULL, NULL, false, &over_chunked);
    ck_assert(testutil_run_until(&loop, &done_total, 4, 10000));

    ck_assert_int_eq(whole.outcome, HTTP_ANSWERED);
    ck_assert_uint_eq(whole.body_len, 300000);
    ck_assert(all_x(&whole));
    ck_assert_int_eq(whole_chunked.outcome, HTTP_ANSWERED);
    ck_assert_uint_eq(whole_chunked.body_len, 300000);
    ck_assert(all_x(&whole_chunked));

    ck_assert_int_eq(over.outcome, HTTP_TOO_LARGE);
    ck_assert_uint_eq(over.body_len, 0);
    ck_assert_int_eq(over_chunked.outcome, HTTP_TOO_LARGE);
    ck_assert_str_eq(over_chunked.error, "response body exceeds 300000 bytes");
    ck_assert_uint_eq(over_chunked.body_len, 0);
    capture_free(&whole);
    capture_free(&whole_chunked);
    capture_free(&over);
    capture_free(&over_chunked);
}
END_TEST

/* Saves, sets (NULL unsets) and later restores one environment variable. */
struct saved_env {
    const char *name;
    char *value;
};

static void env_set(struct saved_env *save, const char *name, const char *value)
{
    const char *old = getenv(name);
    save->name = name;
    save->value = old ? strdup(old) : NULL;
    if (value)
        setenv(name, value, 1);
    else
        unsetenv(name);
}

static void env_restore(struct saved_env *save)
{
    if (save->value)
        setenv(save->name, save->value, 1);
    else
        unsetenv(save->name);
    free(save->value);
}

START_TEST(test_proxy_from_environment)
{
    /* The engine skips libcurl's per-request proxy lookup only when no proxy
     * variable is set; one set at creation is still honoured. The test
     * server plays the proxy, so the unresolvable host is never looked up. */
    static const char *const others[] = {"HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
                                         "all_proxy",  "ALL_PROXY",   "no_proxy",
                                         "NO_PROXY"};
    struct saved_env saved[8];
    char proxy[64];
    snprintf(proxy, sizeof proxy, "http://127.0.0.1:%u", srv.port);
    env_set(&saved[0], "http_proxy", proxy);
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++)
        env_set(&saved[i + 1], others[i], NULL);

    make_engine(
        (struct http_engine_options){.auth_header = "authkey", .auth_value = "k"});
    struct capture via_proxy = {0};
    submit("GET", "http://proxied.invalid/echo", NULL, NULL, false, &via_proxy);
    ck_assert(testutil_run_until(&loop, &via_proxy.done, 1, 5000));
    ck_assert_int_eq(via_proxy.outcome, HTTP_ANSWERED);
    ck_assert_int_eq(via_proxy.status, 200);
    ck_assert_str_eq(via_proxy.body, "{\"proxied\":\"GET http://proxied.invalid/echo\"}");
    finish_engine();

    /* Without the variable at creation: no proxy, so the name must resolve
     * (a resolver that neither answers nor fails shows up as a timeout, as
     * in test_dns_failure), and nothing reaches the test server. */
    unsetenv("http_proxy");
    make_engine((struct http_engine_options){.timeout_ms = 4000});
    struct capture direct = {0};
    submit("GET", "http://proxied.invalid/echo", NULL, NULL, false, &direct);
    ck_assert(testutil_run_until(&loop, &direct.done, 1, 8000));
    if (direct.outcome == HTTP_TIMEOUT)
        ck_assert_ptr_nonnull(strstr(direct.error, "Resolving timed out"));
    else
        ck_assert_int_eq(direct.outcome, HTTP_DNS_FAILED);
    ck_assert_int_eq(tserver_get(&srv, &srv.hits), 1);

    for (size_t i = 0; i < sizeof saved / sizeof saved[0]; i++)
        env_restore(&saved[i]);
    capture_free(&via_proxy);
    capture_free(&direct);
}
END_TEST

/* ---- retries ------------------------------------------------------------ */

START_TEST(test_retry_then_success)
{
    make_engine((struct http_engine_options){.max_retries = 3, .retry_base_ms = 20});
    struct capture cap = {0};
    submit("GET", "/flaky?fail=2&code=503", NULL, NULL, true, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    ck_assert_int_eq(cap.outcome, HTTP_ANSWERED);
    ck_assert_int_eq(cap.status, 200);
    ck_assert_uint_eq(cap.attempts, 3);
    ck_assert_int_eq(cap.sent, 3);
    ck_assert_int_eq(cap.answered, 1);
    ck_assert_str_eq(cap.body, "{\"status\":\"ok\"}");
    ck_assert_int_eq(tserver_get(&srv, &srv.flaky_hits), 3);
    /* Backoff 20 ms then 40 ms. */
    ck_assert_double_ge(cap.elapsed_ms, 55);
    capture_free(&cap);
}
END_TEST

START_TEST(test_retries_exhausted)
{
    make_engine((struct http_engine_options){.max_retries = 2, .retry_base_ms = 10});
    struct capture cap = {0};
    submit("GET", "/flaky?fail=10&code=500", NULL, NULL, true, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    ck_assert_int_eq(cap.status, 500);
    ck_assert_uint_eq(cap.attempts, 3);
    ck_assert_int_eq(tserver_get(&srv, &srv.flaky_hits), 3);
    capture_free(&cap);
}
END_TEST

START_TEST(test_no_retry_for_non_retryable)
{
    make_engine((struct http_engine_options){.max_retries = 3, .retry_base_ms = 10});
    struct capture cap = {0};
    submit("POST", "/flaky?fail=2&code=503", "{}", "application/json", false, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    ck_assert_int_eq(cap.outcome, HTTP_ANSWERED);
    ck_assert_int_eq(cap.status, 503);
    ck_assert_uint_eq(cap.attempts, 1);
    /* done was the last word on the call: no retry can follow it. */
    ck_assert_int_eq(tserver_get(&srv, &srv.flaky_hits), 1);
    capture_free(&cap);
}
END_TEST

START_TEST(test_no_retry_for_4xx)
{
    make_engine((struct http_engine_options){.max_retries = 3, .retry_base_ms = 10});
    struct capture cap = {0};
    submit("GET", "/flaky?fail=1&code=404", NULL, NULL, true, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    ck_assert_int_eq(cap.status, 404);
    ck_assert_uint_eq(cap.attempts, 1);
    capture_free(&cap);
}
END_TEST

START_TEST(test_retry_after_honoured)
{
    make_engine((struct http_engine_options){
        .max_retries = 2, .retry_base_ms = 10, .retry_max_wait_ms = 5000});
    struct capture cap = {0};
    submit("GET", "/flaky?fail=1&code=429&retry_after=1", NULL, NULL, true, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    ck_assert_int_eq(cap.status, 200);
    ck_assert_uint_eq(cap.attempts, 2);
    ck_assert_int_eq(cap.retry_after_s, -1); /* the final answer had none */
    ck_assert_double_ge(cap.elapsed_ms, 950);
    ck_assert_int_eq(tserver_get(&srv, &srv.flaky_hits), 2);
    capture_free(&cap);
}
END_TEST

START_TEST(test_retry_after_above_bound)
{
    make_engine((struct http_engine_options){
        .max_retries = 2, .retry_base_ms = 10, .retry_max_wait_ms = 2000});
    struct capture cap = {0};
    submit("GET", "/flaky?fail=1&code=429&retry_after=30", NULL, NULL, true, &cap);
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    ck_assert_int_eq(cap.outcome, HTTP_ANSWERED);
    ck_assert_int_eq(cap.status, 429);
    ck_assert_int_eq(cap.retry_after_s, 30);
    ck_assert_uint_eq(cap.attempts, 1);
    ck_assert_int_eq(cap.sent, 1);
    ck_assert_int_eq(tserver_get(&srv, &srv.flaky_hits), 1);
    capture_free(&cap);
}
END_TEST

START_TEST(test_retry_connect_failure)
{
    make_engine((struct http_engine_options){.max_retries = 2, .retry_base_ms = 10});
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/echo", testutil_closed_port());
    struct capture get = {0}, post = {0};
    submit("GET", url, NULL, NULL, true, &get);
    submit("POST", url, "{}", "application/json", false, &post);
    ck_assert(testutil_run_until(&loop, &done_total, 2, 5000));
    ck_assert_int_eq(get.outcome, HTTP_CONNECT_FAILED);
    ck_assert_uint_eq(get.attempts, 3);
    ck_assert_int_eq(get.sent, 3);
    ck_assert_int_eq(post.outcome, HTTP_CONNECT_FAILED);
    ck_assert_uint_eq(post.attempts, 1);
    capture_free(&get);
    capture_free(&post);
}
END_TEST

/* ---- the in-flight cap and concurrency ----------------------------------- */

START_TEST(test_max_inflight_fifo)
{
    enum { N = 20 };
    make_engine((struct http_engine_options){.max_inflight = 3});
    static struct capture caps[N];
    memset(caps, 0, sizeof caps);
    for (int i = 0; i < N; i++) {
        caps[i].index = i;
        ck_assert_ptr_nonnull(submit("GET", "/delay?ms=60", NULL, NULL, false, &caps[i]));
    }
    ck_assert_uint_eq(http_engine_inflight(engine), 3);
    ck_assert_uint_eq(http_engine_queued(engine), N - 3);
    ck_assert(testutil_run_until(&loop, &done_total, N, 10000));

    ck_assert_int_eq(tserver_get(&srv, &srv.max_concurrent), 3);
    ck_assert_int_eq(tserver_get(&srv, &srv.hits), N);
    ck_assert_int_eq(n_sent, N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(sent_order[i], i);
        ck_assert_int_eq(caps[i].outcome, HTTP_ANSWERED);
        ck_assert_int_eq(caps[i].status, 200);
        /* QUEUED only for those that had to wait for a slot. */
        ck_assert_int_eq(caps[i].queued, i < 3 ? 0 : 1);
        capture_free(&caps[i]);
    }
    ck_assert_uint_eq(http_engine_inflight(engine), 0);
    ck_assert_uint_eq(http_engine_queued(engine), 0);
}
END_TEST

START_TEST(test_queue_bound)
{
    make_engine((struct http_engine_options){.max_inflight = 1, .max_queue = 2});
    struct capture a = {0}, b = {0}, c = {0}, refused = {0}, d = {0};
    ck_assert_ptr_nonnull(submit("GET", "/delay?ms=300", NULL, NULL, false, &a));
    ck_assert_ptr_nonnull(submit("GET", "/echo", NULL, NULL, false, &b));
    struct http_call *call_c = submit("GET", "/echo", NULL, NULL, false, &c);
    ck_assert_ptr_nonnull(call_c);
    /* One running, two waiting: the next is refused at once, with no
     * callback, and nothing reaches the server for it. */
    ck_assert_ptr_null(submit("GET", "/echo?refused", NULL, NULL, false, &refused));
    ck_assert_int_eq(last_submit_rc, -EBUSY);
    ck_assert_uint_eq(http_engine_queued(engine), 2);
    /* A cancelled waiting call frees its place in the queue. */
    http_cancel(call_c);
    ck_assert_ptr_nonnull(submit("GET", "/echo", NULL, NULL, false, &d));
    ck_assert(testutil_run_until(&loop, &done_total, 3, 5000));
    ck_assert_int_eq(refused.queued + refused.sent + refused.done, 0);
    ck_assert_int_eq(a.status + b.status + d.status, 600);
    ck_assert_int_eq(tserver_get(&srv, &srv.hits), 3);
    /* With the queue empty again, calls are accepted. */
    ck_assert_ptr_nonnull(submit("GET", "/echo", NULL, NULL, false, &refused));
    ck_assert(testutil_run_until(&loop, &refused.done, 1, 5000));
    capture_free(&a);
    capture_free(&b);
    capture_free(&d);
    capture_free(&refused);
}
END_TEST

START_TEST(test_parallel_from_the_start)
{
    /* Plain-http transfers must not wait for the first answer to learn that
     * the connection cannot multiplex. */
    make_engine((struct http_engine_options){0});
    struct capture a = {0}, b = {0};
    submit("POST", "/delay?ms=500", "{}", "application/json", false, &a);
    submit("POST", "/delay?ms=500", "{}", "application/json", false, &b);
    ck_assert(testutil_run_until(&loop, &done_total, 2, 5000));
    /* Both were on the server at once: b did not wait for a's answer. */
    ck_assert_int_eq(tserver_get(&srv, &srv.max_concurrent), 2);
    capture_free(&a);
    capture_free(&b);
}
END_TEST

START_TEST(test_concurrency)
{
    enum { N = 200 };
    make_engine((struct http_engine_options){.max_inflight = 256});
    static struct capture caps[N];
    memset(caps, 0, sizeof caps);
    for (int i = 0; i < N; i++)
        submit("GET", "/delay?ms=300", NULL, NULL, false, &caps[i]);
    ck_assert_uint_eq(http_engine_inflight(engine), N);
    ck_assert(testutil_run_until(&loop, &done_total, N, 10000));
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(caps[i].status, 200);
        capture_free(&caps[i]);
    }
    ck_assert_int_gt(tserver_get(&srv, &srv.max_concurrent), 100);
}
END_TEST

/* Runs n calls at once to /delay and waits for all of them. */
static void wave(int n, struct capture *caps)
{
    done_total = 0;
    memset(caps, 0, (size_t)n * sizeof *caps);
    for (int i = 0; i < n; i++)
        ck_assert_ptr_nonnull(submit("GET", "/delay?ms=50", NULL, NULL, false, &caps[i]));
    ck_assert(testutil_run_until(&loop, &done_total, n, 10000));
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(caps[i].status, 200);
        capture_free(&caps[i]);
    }
}

START_TEST(test_connections_kept_for_the_cap)
{
    /* curl's connection cache holds, by default, four connections per
     * transfer in the multi at the moment one ends: after a quiet spell with
     * one call at a time it closes the others, and the next busy spell opens
     * them again. Sized to the in-flight cap, it keeps every connection the
     * cap can use. */
    enum { CAP = 8 };
    make_engine((struct http_engine_options){.max_inflight = CAP});
    static struct capture caps[CAP];
    wave(CAP, caps);
    ck_assert_int_eq(tserver_get(&srv, &srv.connections), CAP);
    for (int i = 0; i < 2 * CAP; i++)
        wave(1, caps);
    wave(CAP, caps);
    ck_assert_int_eq(tserver_get(&srv, &srv.max_concurrent), CAP);
    ck_assert_int_eq(tserver_get(&srv, &srv.connections), CAP);
}
END_TEST

/* ---- cancellation and teardown ------------------------------------------ */

START_TEST(test_cancel_queued)
{
    make_engine((struct http_engine_options){.max_inflight = 1});
    struct capture a = {0}, b = {0}, c = {0};
    submit("GET", "/delay?ms=200", NULL, NULL, false, &a);
    struct http_call *call_b = submit("GET", "/echo", NULL, NULL, false, &b);
    ck_assert_int_eq(b.queued, 1);
    ck_assert_uint_eq(http_engine_queued(engine), 1);
    http_cancel(call_b);
    ck_assert_uint_eq(http_engine_queued(engine), 0);
    ck_assert(testutil_run_until(&loop, &a.done, 1, 5000));
    /* a's slot would have gone to b at once, inside a's completion. */
    ck_assert_int_eq(b.done + b.sent + b.answered, 0);
    ck_assert_int_eq(tserver_get(&srv, &srv.hits), 1);

    submit("GET", "/echo", NULL, NULL, false, &c);
    ck_assert(testutil_run_until(&loop, &c.done, 1, 5000));
    ck_assert_int_eq(c.status, 200);
    ck_assert_int_eq(tserver_get(&srv, &srv.hits), 2);
    capture_free(&a);
    capture_free(&c);
}
END_TEST

START_TEST(test_cancel_running)
{
    make_engine((struct http_engine_options){.max_inflight = 1});
    struct capture a = {0}, b = {0}, c = {0};
    struct http_call *call_a = submit("GET", "/delay?ms=3000", NULL, NULL, false, &a);
    submit("GET", "/echo", NULL, NULL, false, &b);
    ck_assert(run_until_server(&srv.current, 1, 5000));
    http_cancel(call_a);
    /* The freed slot goes to the queued call straight away. */
    ck_assert_int_eq(b.sent, 1);
    ck_assert(testutil_run_until(&loop, &b.done, 1, 5000));
    /* The server sees the connection go away long before its 3 s. */
    ck_assert(run_until_server(&srv.aborted, 1, 2000));
    ck_assert_int_eq(a.done + a.answered, 0);
    ck_assert_int_eq(a.sent, 1);

    submit("GET", "/echo", NULL, NULL, false, &c);
    ck_assert(testutil_run_until(&loop, &c.done, 1, 5000));
    ck_assert_int_eq(c.status, 200);
    ck_assert_int_eq(a.done, 0);
    capture_free(&b);
    capture_free(&c);
}
END_TEST

static struct http_call *backoff_call;

START_TEST(test_cancel_during_backoff)
{
    make_engine((struct http_engine_options){.max_retries = 3, .retry_base_ms = 300});
    struct capture cap = {0};
    backoff_call = submit("GET", "/flaky?fail=5&code=503", NULL, NULL, true, &cap);
    /* Answered once and not running: waiting for its retry. */
    ck_assert(run_until_server(&srv.flaky_hits, 1, 5000));
    while (http_engine_inflight(engine) > 0)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(cap.sent, 1);
    http_cancel(backoff_call);
    ck_assert_uint_eq(http_engine_inflight(engine) + http_engine_queued(engine), 0);
    /* The engine closes only once every call timer is closed, the
     * cancelled call's included: no retry can be pending after that. */
    finish_engine();
    ck_assert_int_eq(cap.done + cap.answered, 0);
    ck_assert_int_eq(cap.sent, 1);
    ck_assert_int_eq(tserver_get(&srv, &srv.flaky_hits), 1);
}
END_TEST

START_TEST(test_destroy_with_calls_in_flight)
{
    make_engine((struct http_engine_options){
        .max_inflight = 2, .auth_header = "authkey", .auth_value = "secret"});
    static struct capture caps[5];
    memset(caps, 0, sizeof caps);
    for (int i = 0; i < 5; i++)
        submit("POST", "/delay?ms=2000", "{}", "application/json", false, &caps[i]);
    ck_assert(run_until_server(&srv.current, 2, 5000));
    http_engine_destroy(engine, on_closed, &closed_count);
    engine = NULL;
    ck_assert_int_eq(closed_count, 0); /* only from the loop */
    ck_assert(testutil_run_until(&loop, &closed_count, 1, 5000));
    run_turns(3);
    ck_assert_int_eq(closed_count, 1);
    ck_assert_int_eq(done_total, 0);
    for (int i = 0; i < 5; i++)
        ck_assert_int_eq(caps[i].answered, 0);
    ck_assert(run_until_server(&srv.aborted, 2, 2000));
}
END_TEST

/* Callbacks may use the engine: submit more, cancel others, or destroy it. */
static struct capture chained;
static struct http_call *victim;

static void submit_another(struct capture *cap)
{
    (void)cap;
    submit("GET", "/echo", NULL, NULL, false, &chained);
    http_cancel(victim);
}

static void destroy_engine(struct capture *cap)
{
    (void)cap;
    http_engine_destroy(engine, on_closed, &closed_count);
    engine = NULL;
}

START_TEST(test_reentrant_callbacks)
{
    make_engine((struct http_engine_options){.max_inflight = 1});
    struct capture first = {.then = submit_another}, second = {0}, last = {0};
    memset(&chained, 0, sizeof chained);
    submit("GET", "/echo", NULL, NULL, false, &first);
    victim = submit("GET", "/echo", NULL, NULL, false, &second);
    ck_assert(testutil_run_until(&loop, &chained.done, 1, 5000));
    ck_assert_int_eq(chained.status, 200);
    ck_assert_int_eq(second.done + second.sent, 0);

    struct capture others[3] = {{0}};
    last.then = destroy_engine;
    submit("GET", "/echo", NULL, NULL, false, &last);
    for (int i = 0; i < 3; i++)
        submit("GET", "/delay?ms=500", NULL, NULL, false, &others[i]);
    ck_assert(testutil_run_until(&loop, &closed_count, 1, 5000));
    ck_assert_int_eq(last.done, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(others[i].done, 0);
    capture_free(&first);
    capture_free(&chained);
    capture_free(&last);
}
END_TEST

/* ---- answers libmicrohttpd will not send ---------------------------------- */

/* A one-connection server on loopback that answers the first request with
 * head, then `filler` bytes of 'a', then tail, and closes. */
struct raw_server {
    int fd;
    unsigned port;
    pthread_t thread;
    const char *head;
    size_t filler;
    const char *tail;
};

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return; /* the client gave up on the answer */
        p += w;
        n -= (size_t)w;
    }
}

static void *raw_serve(void *arg)
{
    struct raw_server *r = arg;
    int conn = accept(r->fd, NULL, NULL);
    if (conn < 0)
        return NULL;
    char req[4096];
    size_t got = 0;
    while (got < sizeof req - 1) {
        ssize_t n = recv(conn, req + got, sizeof req - 1 - got, 0);
        if (n <= 0)
            break;
        got += (size_t)n;
        req[got] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    send_all(conn, r->head, strlen(r->head));
    static char chunk[65536];
    memset(chunk, 'a', sizeof chunk);
    for (size_t left = r->filler; left > 0;) {
        size_t n = left < sizeof chunk ? left : sizeof chunk;
        send_all(conn, chunk, n);
        left -= n;
    }
    send_all(conn, r->tail, strlen(r->tail));
    close(conn);
    return NULL;
}

static void raw_server_start(struct raw_server *r, const char *head, size_t filler,
                             const char *tail)
{
    r->head = head;
    r->filler = filler;
    r->tail = tail;
    r->fd = testutil_listener("127.0.0.1", 16, &r->port);
    ck_assert_int_eq(pthread_create(&r->thread, NULL, raw_serve, r), 0);
}

static void raw_server_stop(struct raw_server *r)
{
    pthread_join(r->thread, NULL);
    close(r->fd);
}

/* Runs one GET against a raw server answering head + filler + tail. */
static void raw_call(struct capture *cap, const char *head, size_t filler,
                     const char *tail)
{
    struct raw_server r;
    raw_server_start(&r, head, filler, tail);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/x", r.port);
    int before = done_total;
    ck_assert_ptr_nonnull(submit("GET", url, NULL, NULL, false, cap));
    ck_assert(testutil_run_until(&loop, &done_total, before + 1, 5000));
    raw_server_stop(&r);
}

static void count_active_polls(uv_handle_t *h, void *arg)
{
    if (h->type == UV_POLL && uv_is_active(h))
        (*(int *)arg)++;
}

static int active_polls(void)
{
    int n = 0;
    uv_walk(&loop, count_active_polls, &n);
    return n;
}

START_TEST(test_cached_connection_closed_by_the_server)
{
    /* The answer keeps the connection alive, then the server closes it: the
     * end of stream reaches a connection waiting in curl's cache, whose poll
     * the engine keeps open between requests. That poll must stop rather
     * than report the readable socket on every loop turn; the connection is
     * closed when curl next looks at it (here, at destroy), with its poll. */
    make_engine((struct http_engine_options){0});
    struct capture cap = {0}, later = {0};
    raw_call(&cap, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n", 0, "{}");
    ck_assert_int_eq(cap.status, 200);
    uint64_t deadline = now_ms() + 5000;
    while (active_polls() > 0 && now_ms() < deadline)
        uv_run(&loop, UV_RUN_ONCE);
    ck_assert_int_eq(active_polls(), 0);
    /* Calls elsewhere go on. */
    submit("GET", "/echo", NULL, NULL, false, &later);
    ck_assert(testutil_run_until(&loop, &later.done, 1, 5000));
    ck_assert_int_eq(later.status, 200);
    capture_free(&cap);
    capture_free(&later);
}
END_TEST

START_TEST(test_retry_after_is_capped)
{
    make_engine((struct http_engine_options){0});
    static const char *const values[] = {
        "99999999999999999999",
        "86401",
        "Fri, 31 Dec 9999 23:59:59 GMT",
    };
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        char head[256];
        snprintf(head, sizeof head,
                 "HTTP/1.1 429 Too Many Requests\r\nRetry-After: %s\r\n"
                 "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
                 values[i]);
        struct capture cap = {0};
        raw_call(&cap, head, 0, "");
        ck_assert_int_eq(cap.outcome, HTTP_ANSWERED);
        ck_assert_int_eq(cap.status, 429);
        ck_assert_msg(cap.retry_after_s == HTTP_RETRY_AFTER_MAX_S, "%s gave %ld",
                      values[i], cap.retry_after_s);
        capture_free(&cap);
    }
    struct capture exact = {0};
    raw_call(&exact,
             "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 86400\r\n"
             "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
             0, "");
    ck_assert_int_eq(exact.retry_after_s, 86400);
    capture_free(&exact);
}
END_TEST

START_TEST(test_huge_header_is_too_large)
{
    /* One 2 MiB header line: libcurl stops reading it; the caller must
     * learn that the answer was too large, not that memory ran out. */
    make_engine((struct http_engine_options){0});
    struct capture cap = {0};
    raw_call(&cap, "HTTP/1.1 200 OK\r\nX-Big: ", (size_t)2 << 20,
             "\r\nContent-Length: 2\r\n\r\n{}");
    ck_assert_int_eq(cap.outcome, HTTP_TOO_LARGE);
    ck_assert_str_eq(cap.error, "a response header exceeds libcurl's size limit");
    ck_assert(cap.maybe_delivered);
    ck_assert_uint_eq(cap.body_len, 0);
    capture_free(&cap);
}
END_TEST

/* ---- the base URL ------------------------------------------------------- */

/* URLs whose host a reader could take for loopback while libcurl connects
 * elsewhere, or that carry parts a base URL must not have. */
static const char *const refused_bases[] = {
    "http://127.0.0.1:1@evil.example.com",
    "http://localhost:x@evil.example.com",
    "http://[::1]@evil.example.com",
    "http://127.0.0.1@evil.example.com/",
    "https://user:secret@api.example.com",
    "http://127.0.0.1:1\\@evil.example.com",
    "http://127.0.0.1%40evil.example.com",
    "http://127.0.0.1.evil.example.com",
    "http://127.1",
    "http://0177.0.0.1",
    "http://127.0.0.01",
    "http://2130706433",
    "http://example.com",
    "https://api.example.com/?x=1",
    "https://api.example.com/#top",
    "https://api.example.com:0",
    "https://api.example.com:99999",
    "https://api.example.com:8x",
    "https://",
    "https:///path",
    "https://-bad.example.com",
    "https://a..b.example.com",
    "https://api.example.com/a b",
    "ftp://127.0.0.1",
    "127.0.0.1:8080",
};

static const char *const accepted_bases[] = {
    "http://127.0.0.1:8080",
    "http://127.255.0.9",
    "http://localhost:1/",
    "http://LOCALHOST",
    "http://[::1]:9",
    "https://api.msg91.com/",
    "https://control.msg91.com/api/v5",
    "https://10.0.0.1:8443",
};

START_TEST(test_base_url_check)
{
    for (size_t i = 0; i < sizeof refused_bases / sizeof refused_bases[0]; i++) {
        const char *why = NULL;
        ck_assert_msg(http_url_check_base(refused_bases[i], &why) == -EINVAL,
                      "%s was accepted", refused_bases[i]);
        ck_assert_ptr_nonnull(why);
    }
    for (size_t i = 0; i < sizeof accepted_bases / sizeof accepted_bases[0]; i++) {
        const char *why = NULL;
        ck_assert_msg(http_url_check_base(accepted_bases[i], &why) == 0, "%s: %s",
                      accepted_bases[i], why);
    }
    const char *why = NULL;
    http_url_check_base("http://127.0.0.1:1@evil.example.com", &why);
    ck_assert_str_eq(why, "holds a user name or password (an '@' before the host)");
    http_url_check_base("http://example.com", &why);
    ck_assert_ptr_nonnull(strstr(why, "not loopback"));
}
END_TEST

/* The start-up check is the configuration's: a refused base URL is an
 * error with a sentence, never a server that sends the key elsewhere. */
START_TEST(test_base_url_is_a_startup_error)
{
    for (size_t i = 0; i < sizeof refused_bases / sizeof refused_bases[0]; i++) {
        struct config cfg;
        config_init(&cfg);
        char *argv[] = {"msg91-mcp", NULL};
        char env[256];
        snprintf(env, sizeof env, "MSG91_BASE_URL=%s", refused_bases[i]);
        char *envp[] = {env, NULL};
        char **rest = NULL;
        char *error = NULL;
        int rc = config_load(&cfg, 1, argv, envp, &rest, &error);
        ck_assert_msg(rc != 0, "%s was accepted", refused_bases[i]);
        ck_assert_msg(error && strncmp(error, "MSG91_BASE_URL \"", 16) == 0, "%s: %s",
                      refused_bases[i], error);
        free(error);
        free(rest);
        config_finish(&cfg);
    }
}
END_TEST

/* MSG91_MAX_QUEUE / --max-queue / "max_queue": the engine's max_queue. */
START_TEST(test_max_queue_setting)
{
    struct config cfg;
    char **rest = NULL;
    char *error = NULL;
    config_init(&cfg);
    char *argv0[] = {"msg91-mcp", NULL};
    char *none[] = {NULL};
    ck_assert_int_eq(config_load(&cfg, 1, argv0, none, &rest, &error), 0);
    ck_assert_int_eq(cfg.max_queue, 1024);
    free(rest);
    config_finish(&cfg);

    config_init(&cfg);
    char *env[] = {"MSG91_MAX_QUEUE=7", NULL};
    ck_assert_int_eq(config_load(&cfg, 1, argv0, env, &rest, &error), 0);
    ck_assert_int_eq(cfg.max_queue, 7);
    free(rest);
    config_finish(&cfg);

    config_init(&cfg);
    char *argv[] = {"msg91-mcp", "--max-queue", "0", NULL};
    ck_assert_int_ne(config_load(&cfg, 3, argv, none, &rest, &error), 0);
    ck_assert_ptr_nonnull(
        strstr(error, "--max-queue must be a whole number from 1 to 1000000"));
    free(error);
    config_finish(&cfg);
}
END_TEST

/* The engine reads the base URL again with libcurl's parser, which is the
 * one that connects, and keeps every request below it. */
START_TEST(test_engine_base_url)
{
    struct http_engine *e = NULL;
    for (size_t i = 0; i < sizeof refused_bases / sizeof refused_bases[0]; i++) {
        struct http_engine_options opts = {.base_url = refused_bases[i]};
        ck_assert_msg(http_engine_create(&e, &loop, &opts) == -EINVAL, "%s was accepted",
                      refused_bases[i]);
        ck_assert_ptr_null(e);
    }
    for (size_t i = 0; i < sizeof accepted_bases / sizeof accepted_bases[0]; i++) {
        struct http_engine_options opts = {.base_url = accepted_bases[i]};
        ck_assert_msg(http_engine_create(&e, &loop, &opts) == 0, "%s refused",
                      accepted_bases[i]);
        http_engine_destroy(e, NULL, NULL);
        e = NULL;
    }

    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%u", srv.port);
    make_engine((struct http_engine_options){.base_url = base});
    struct capture cap = {0};
    static const char *const outside[] = {
        "http://127.0.0.1:1/echo",
        "http://127.0.0.2/echo",
        "https://127.0.0.1/echo",
    };
    for (size_t i = 0; i < sizeof outside / sizeof outside[0]; i++) {
        ck_assert_ptr_null(submit("GET", outside[i], NULL, NULL, false, &cap));
        ck_assert_int_eq(last_submit_rc, -EINVAL);
    }
    /* The same port with more digits is another port. */
    char longer[80];
    snprintf(longer, sizeof longer, "%s0/echo", base);
    ck_assert_ptr_null(submit("GET", longer, NULL, NULL, false, &cap));
    ck_assert_ptr_nonnull(submit("GET", "/echo", NULL, NULL, false, &cap));
    ck_assert(testutil_run_until(&loop, &cap.done, 1, 5000));
    ck_assert_int_eq(cap.status, 200);
    ck_assert_int_eq(tserver_get(&srv, &srv.hits), 1);
    capture_free(&cap);
}
END_TEST

static Suite *http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *tc = tcase_create("engine");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_post_echo);
    tcase_add_test(tc, test_per_request_key);
    tcase_add_test(tc, test_get_without_key);
    tcase_add_test(tc, test_other_methods);
    tcase_add_test(tc, test_long_content_type);
    tcase_add_test(tc, test_submit_rejects);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_timeout_before_sending);
    tcase_add_test(tc, test_connect_refused);
    tcase_add_test(tc, test_dns_failure);
    tcase_add_test(tc, test_tls_failure);
    tcase_add_test(tc, test_tls_with_ca_file);
    tcase_add_test(tc, test_tls_untrusted);
    tcase_add_test(tc, test_reset);
    tcase_add_test(tc, test_reset_on_reused_connection);
    tcase_add_test(tc, test_too_large);
    tcase_add_test(tc, test_reused_handle_is_clean);
    tcase_add_test(tc, test_large_body_small_buffer);
    tcase_add_test(tc, test_proxy_from_environment);
    tcase_add_test(tc, test_retry_then_success);
    tcase_add_test(tc, test_retries_exhausted);
    tcase_add_test(tc, test_no_retry_for_non_retryable);
    tcase_add_test(tc, test_no_retry_for_4xx);
    tcase_add_test(tc, test_retry_after_honoured);
    tcase_add_test(tc, test_retry_after_above_bound);
    tcase_add_test(tc, test_retry_connect_failure);
    tcase_add_test(tc, test_max_inflight_fifo);
    tcase_add_test(tc, test_queue_bound);
    tcase_add_test(tc, test_parallel_from_the_start);
    tcase_add_test(tc, test_concurrency);
    tcase_add_test(tc, test_connections_kept_for_the_cap);
    tcase_add_test(tc, test_cancel_queued);
    tcase_add_test(tc, test_cancel_running);
    tcase_add_test(tc, test_cancel_during_backoff);
    tcase_add_test(tc, test_destroy_with_calls_in_flight);
    tcase_add_test(tc, test_reentrant_callbacks);
    tcase_add_test(tc, test_retry_after_is_capped);
    tcase_add_test(tc, test_cached_connection_closed_by_the_server);
    tcase_add_test(tc, test_huge_header_is_too_large);
    tcase_add_test(tc, test_base_url_check);
    tcase_add_test(tc, test_base_url_is_a_startup_error);
    tcase_add_test(tc, test_engine_base_url);
    tcase_add_test(tc, test_max_queue_setting);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return testutil_run(http_suite());
}
