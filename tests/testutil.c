#include "tests/testutil.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

const char *testutil_binary(void)
{
    const char *bin = getenv("MSG91_MCP_BIN");
    return bin ? bin : "./msg91-mcp";
}

double testutil_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

const char *testutil_fmt(const char *fmt, ...)
{
    static char bufs[8][4096];
    static unsigned next;
    char *b = bufs[next++ % 8];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b, sizeof bufs[0], fmt, ap);
    va_end(ap);
    return b;
}

char *testutil_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *grown = realloc(buf, cap * 2);
            if (!grown) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = grown;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf)
        return NULL;
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

char *testutil_temp_file(const char *text)
{
    char *path = strdup("/tmp/msg91-test-XXXXXX");
    ck_assert_ptr_nonnull(path);
    int fd = mkstemp(path);
    ck_assert_msg(fd >= 0, "mkstemp: %s", strerror(errno));
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
    return path;
}

int testutil_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_ENV); /* CK_VERBOSITY, normal by default */
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

unsigned testutil_closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

int testutil_listener(const char *ip, int backlog, unsigned *port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    ck_assert_int_eq(inet_pton(AF_INET, ip, &addr.sin_addr), 1);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof addr), 0);
    ck_assert_int_eq(listen(fd, backlog), 0);
    socklen_t len = sizeof addr;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&addr, &len), 0);
    *port = ntohs(addr.sin_port);
    return fd;
}

bool testutil_run_until(uv_loop_t *loop, const int *counter, int target, int timeout_ms)
{
    uint64_t deadline = uv_hrtime() / 1000000 + (uint64_t)timeout_ms;
    while (*counter < target) {
        if (uv_hrtime() / 1000000 >= deadline)
            return false;
        uv_run(loop, UV_RUN_ONCE);
    }
    return true;
}

extern char **environ;

int testutil_spawn(struct testutil_child *c, const char *const *argv,
                   const char *const *env)
{
    int in[2], out[2], err[2];
    memset(c, 0, sizeof *c);
    if (pipe(in) || pipe(out) || pipe(err))
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addclose(&fa, err[0]);

    const char *envp[64];
    size_t n = 0;
    static char path_env[4096];
    snprintf(path_env, sizeof path_env, "PATH=%s",
             getenv("PATH") ? getenv("PATH") : "/usr/bin:/bin");
    envp[n++] = path_env;
    /* Sanitizer settings must reach the child so a leak there fails too. */
    static char asan_env[512], ubsan_env[512];
    if (getenv("ASAN_OPTIONS")) {
        snprintf(asan_env, sizeof asan_env, "ASAN_OPTIONS=%s", getenv("ASAN_OPTIONS"));
        envp[n++] = asan_env;
    }
    if (getenv("UBSAN_OPTIONS")) {
        snprintf(ubsan_env, sizeof ubsan_env, "UBSAN_OPTIONS=%s",
                 getenv("UBSAN_OPTIONS"));
        envp[n++] = ubsan_env;
    }
    /* Each server keeps its safe-send state to itself unless the test names
     * a store ("MSG91_STORE=" asks for the default): no HOME here, and
     * tests must not share duplicate-guard entries by accident. */
    bool names_store = false;
    for (size_t i = 0; env && env[i] && n < 61; i++) {
        names_store |= !strncmp(env[i], "MSG91_STORE=", 12);
        envp[n++] = env[i];
    }
    if (!names_store)
        envp[n++] = "MSG91_STORE=memory";
    envp[n] = NULL;

    const char *args[64];
    args[0] = testutil_binary();
    size_t a = 1;
    for (size_t i = 1; argv && argv[i] && a < 63; i++)
        args[a++] = argv[i];
    args[a] = NULL;

    int rc = posix_spawn(&c->pid, args[0], &fa, NULL, (char *const *)args,
                         (char *const *)envp);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    if (rc != 0) {
        close(in[1]);
        close(out[0]);
        close(err[0]);
        return -1;
    }
    c->in_fd = in[1];
    c->out_fd = out[0];
    c->err_fd = err[0];
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

int testutil_send(struct testutil_child *c, const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(c->in_fd, data, len);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        data += w;
        len -= (size_t)w;
    }
    return 0;
}

int testutil_send_line(struct testutil_child *c, const char *line)
{
    if (testutil_send(c, line, strlen(line)) != 0)
        return -1;
    return testutil_send(c, "\n", 1);
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

char *testutil_read_line(struct testutil_child *c, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        char *nl = c->pending ? memchr(c->pending, '\n', c->pending_len) : NULL;
        if (nl) {
            size_t line_len = (size_t)(nl - c->pending);
            char *line = malloc(line_len + 1);
            memcpy(line, c->pending, line_len);
            line[line_len] = '\0';
            size_t rest = c->pending_len - line_len - 1;
            memmove(c->pending, nl + 1, rest);
            c->pending_len = rest;
            return line;
        }
        long left = deadline - now_ms();
        if (left <= 0)
            return NULL;
        struct pollfd p = {.fd = c->out_fd, .events = POLLIN};
        int r = poll(&p, 1, (int)left);
        if (r <= 0)
            continue;
        char buf[65536];
        ssize_t got = read(c->out_fd, buf, sizeof buf);
        if (got <= 0)
            return NULL;
        c->pending = realloc(c->pending, c->pending_len + (size_t)got);
        memcpy(c->pending + c->pending_len, buf, (size_t)got);
        c->pending_len += (size_t)got;
    }
}

json_t *testutil_read_json(struct testutil_child *c, int timeout_ms)
{
    char *line = testutil_read_line(c, timeout_ms);
    if (!line)
        return NULL;
    json_t *v = json_loads(line, JSON_DECODE_ANY, NULL);
    free(line);
    return v;
}

int testutil_finish(struct testutil_child *c, int timeout_ms)
{
    if (c->in_fd >= 0)
        close(c->in_fd);
    c->in_fd = -1;
    long deadline = now_ms() + timeout_ms;
    int status = 0;
    for (;;) {
        pid_t r = waitpid(c->pid, &status, WNOHANG);
        if (r == c->pid)
            break;
        if (now_ms() > deadline) {
            kill(c->pid, SIGKILL);
            waitpid(c->pid, &status, 0);
            return -1;
        }
        usleep(2000);
    }
    close(c->out_fd);
    free(c->pending);
    c->pending = NULL;
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

char *testutil_read_stderr(struct testutil_child *c)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    ssize_t got;
    while ((got = read(c->err_fd, buf + n, cap - n - 1)) > 0) {
        n += (size_t)got;
        if (cap - n - 1 == 0) {
            char *bigger = realloc(buf, cap * 2);
            ck_assert_msg(bigger != NULL, "out of memory reading stderr");
            buf = bigger;
            cap *= 2;
        }
    }
    buf[n] = '\0';
    close(c->err_fd);
    return buf;
}

void testutil_initialize(struct testutil_child *c, const char *client_name,
                         int timeout_ms)
{
    char line[512];
    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":"
             "{\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":"
             "{\"name\":\"%s\",\"version\":\"1\"}}}",
             client_name);
    ck_assert_int_eq(testutil_send_line(c, line), 0);
    json_t *r = testutil_read_json(c, timeout_ms);
    ck_assert_msg(r != NULL, "no answer to initialize");
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(r, "result"),
                                                       "protocolVersion")),
                     "2025-11-25");
    json_decref(r);
    ck_assert_int_eq(
        testutil_send_line(
            c, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}"),
        0);
}

void testutil_start_session(struct testutil_child *c, const char *const *env,
                            const char *const *extra, const char *client_name,
                            int timeout_ms)
{
    const char *all[65];
    size_t n = 0;
    for (size_t i = 0; env[i]; i++) {
        ck_assert_uint_lt(n, 64);
        all[n++] = env[i];
    }
    for (size_t i = 0; extra && extra[i]; i++) {
        ck_assert_uint_lt(n, 64);
        all[n++] = extra[i];
    }
    all[n] = NULL;
    const char *argv[] = {"msg91-mcp", NULL};
    ck_assert_int_eq(testutil_spawn(c, argv, all), 0);
    testutil_initialize(c, client_name, timeout_ms);
}

void testutil_stop_session(struct testutil_child *c, const char *secret, int timeout_ms)
{
    ck_assert_int_eq(testutil_finish(c, timeout_ms), 0);
    char *err = testutil_read_stderr(c);
    ck_assert_msg(!strstr(err, secret), "key on stderr: %s", err);
    free(err);
}

struct sandbox *testutil_sandbox_start(const char *auth_key, unsigned seed, char base[64])
{
    struct sandbox_options opts = {.port = 0, .auth_key = auth_key, .seed = seed};
    char *error = NULL;
    struct sandbox *sb = sandbox_create(&opts, &error);
    ck_assert_msg(sb != NULL, "sandbox: %s", error ? error : "?");
    ck_assert_uint_gt(sandbox_port(sb), 0);
    snprintf(base, 64, "http://127.0.0.1:%u", (unsigned)sandbox_port(sb));
    return sb;
}

/* A response body as it arrives. */
struct body {
    char *p;
    size_t len;
};

static size_t collect(char *data, size_t size, size_t n, void *userp)
{
    struct body *b = userp;
    char *grown = realloc(b->p, b->len + size * n + 1);
    if (!grown)
        return 0;
    memcpy(grown + b->len, data, size * n);
    b->p = grown;
    b->len += size * n;
    b->p[b->len] = '\0';
    return size * n;
}

json_t *testutil_http(const char *base, const char *method, const char *path,
                      const char *body, const char *authkey, long *status)
{
    struct body b = {NULL, 0};
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Connection: close");
    if (authkey) {
        char key[256]; /* curl_slist_append copies it */
        snprintf(key, sizeof key, "authkey: %s", authkey);
        h = curl_slist_append(h, key);
    }
    curl_easy_setopt(c, CURLOPT_URL, testutil_fmt("%s%s", base, path));
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    CURLcode rc = curl_easy_perform(c);
    ck_assert_msg(rc == CURLE_OK, "%s %s: %s", method, path, curl_easy_strerror(rc));
    *status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    json_t *v = b.p ? json_loads(b.p, JSON_DECODE_ANY, NULL) : NULL;
    free(b.p);
    return v;
}

json_t *testutil_sandbox_ctl(const char *base, const char *method, const char *path,
                             const char *body)
{
    long status = 0;
    json_t *v = testutil_http(base, method, path, body, NULL, &status);
    ck_assert_msg(status == 200, "%s %s: HTTP %ld", method, path, status);
    ck_assert_ptr_nonnull(v);
    return v;
}

json_int_t testutil_sandbox_stat(const char *base, const char *name)
{
    json_t *v = testutil_sandbox_ctl(base, "GET", "/_sandbox/stats", NULL);
    json_int_t n = json_integer_value(json_object_get(v, name));
    json_decref(v);
    return n;
}

void testutil_sandbox_wait_stat(const char *base, const char *name, json_int_t want,
                                int timeout_ms)
{
    double deadline = testutil_now_s() + timeout_ms / 1000.0;
    json_int_t n;
    while ((n = testutil_sandbox_stat(base, name)) != want) {
        ck_assert_msg(testutil_now_s() < deadline, "sandbox %s stays %lld, want %lld",
                      name, (long long)n, (long long)want);
        usleep(2000);
    }
}

void testutil_drain(int fd, struct testutil_text *t, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    while (poll(&p, 1, timeout_ms) > 0) {
        char buf[4096];
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return;
        char *grown = realloc(t->p, t->len + (size_t)n + 1);
        ck_assert_ptr_nonnull(grown);
        t->p = grown;
        memcpy(t->p + t->len, buf, (size_t)n);
        t->len += (size_t)n;
        t->p[t->len] = '\0';
        if (timeout_ms >= 0)
            timeout_ms = 0;
    }
}

size_t testutil_wait_for(int fd, struct testutil_text *t, size_t from, const char *needle,
                         int timeout_ms)
{
    double deadline = testutil_now_s() + timeout_ms / 1000.0;
    for (;;) {
        const char *hit = t->p && t->len > from ? strstr(t->p + from, needle) : NULL;
        if (hit)
            return (size_t)(hit - t->p) + strlen(needle);
        ck_assert_msg(testutil_now_s() < deadline, "never saw \"%s\"; so far:\n%s",
                      needle, t->p ? t->p : "");
        testutil_drain(fd, t, 50);
    }
}
