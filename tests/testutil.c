#include "tests/testutil.h"

#include <check.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

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
    for (size_t i = 0; env && env[i] && n < 62; i++)
        envp[n++] = env[i];
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
