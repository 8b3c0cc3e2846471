/* The client-style benchmark: drives the real binary the way MCP clients
 * do (the official SDKs write one JSON-RPC message per write() and keep a
 * few dozen calls in flight) against the sandbox, started in this process
 * on a free loopback port, and measures on the server process only:
 *
 *   - CPU per 1,000 calls (utime + stime from /proc/PID/stat) and calls/s;
 *   - upstream connections opened (the sandbox's accepts, counted here);
 *   - read and write system calls per call (/proc/PID/io syscr + syscw), and
 *     with -S every system call, from `strace -c -f` attached to the server
 *     for the measured calls only (that run's CPU figures are not used);
 *   - with -M, memory: VmHWM and anonymous RSS with -c calls in flight
 *     against an upstream that holds every answer, per call in flight.
 *
 * Every reply is checked: a call that did not succeed stops the benchmark.
 *
 * Usage: bench_client [options] BINARY
 *   -n CALLS    calls per run (default 10000)
 *   -w WINDOW   calls in flight, one message per write (default 64)
 *   -l LIMIT    list_campaigns "limit" argument, i.e. campaigns in each
 *               answer (default 1: a small answer, like bench_engine's)
 *   -r RUNS     runs, each with a fresh server process (default 3); the
 *               summary is the median of each figure
 *   -S          also run the server once under strace -c -f (needs strace)
 *   -M          the memory mode instead: -c calls held in flight
 *   -c CALLS    calls in flight in the memory mode (default 1000)
 *   -H MS       how long the sandbox holds each answer in the memory mode
 *               (default 3000; longer for a server under valgrind)
 *   -s          the safe-send mode instead: latency of send_sms_flow, one
 *               call at a time, -n calls x -r runs with each state store
 *               (memory, SQLite in a mktemp directory, Redis with -R) and
 *               without any safe-send work, the baseline
 *   -R URL      the Redis store of -s (redis://127.0.0.1:PORT/0), a
 *               redis-server the caller runs (bench/run --store starts one)
 * The last line is "figures: key=value ...", which bench/chart reads. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

extern char **environ;

/* A reply that has not come after this long means the server is stuck. */
#define STALL_MS 30000

/* The targets of the issue this benchmark was written for. */
#define TARGET_CPU_MS_PER_1000 40.0
#define TARGET_SYSCALLS_PER_CALL 6.0
#define TARGET_ANON_KIB_PER_CALL 12.0

struct server {
    pid_t pid;
    int in_fd;  /* we write the server's stdin */
    int out_fd; /* we read the server's stdout */
    char *buf;  /* bytes read but not yet split into lines */
    size_t len, cap;
};

struct options {
    const char *binary;
    unsigned calls;
    unsigned window;
    unsigned limit;
    unsigned runs;
    bool strace;
    bool memory;
    unsigned held;
    unsigned hold_ms;
    bool sends;        /* -s: the safe-send mode */
    const char *redis; /* -R: its Redis store, or NULL */
};

struct run {
    double calls_per_s;
    double cpu_ms_per_1000;
    double user_ms, sys_ms;
    double connections;
    double rw_syscalls_per_call;
};

/* The safe-send mode (-s) gives its servers these settings too. */
#define SEND_ENV_MAX 4
static char *send_env[SEND_ENV_MAX + 1];

static struct server *live_server; /* killed if the benchmark aborts */
static struct sandbox *sb;
static uint16_t sb_port;

/* Connections the sandbox accepted. libmicrohttpd calls accept4 through
 * the dynamic linker, which finds this definition in the executable first;
 * the sandbox has no counter of its own. The control requests this program
 * makes are counted in `control` and subtracted. */
static atomic_uint accepted;
static unsigned control;

int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    long rc = syscall(SYS_accept4, fd, addr, len, flags);
    if (rc >= 0)
        atomic_fetch_add(&accepted, 1);
    return (int)rc;
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_client: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (live_server && live_server->pid > 0) {
        kill(live_server->pid, SIGKILL);
        waitpid(live_server->pid, NULL, 0);
    }
    exit(1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the sandbox's control routes ---------------------------------------- */

/* One HTTP/1.0 request to the sandbox; returns the malloc'd answer body. */
static char *control_request(const char *method, const char *path, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(sb_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("cannot reach the sandbox: %s", strerror(errno));
    control++;
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "%s %s HTTP/1.0\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\n\r\n%s",
                     method, path, body ? strlen(body) : 0, body ? body : "");
    if (write(fd, req, (size_t)n) != n)
        die("writing to the sandbox: %s", strerror(errno));
    size_t len = 0, cap = 4096;
    char *ans = malloc(cap);
    ssize_t r;
    while (ans && (r = read(fd, ans + len, cap - len - 1)) > 0) {
        len += (size_t)r;
        if (cap - len < 1024) {
            char *bigger = realloc(ans, cap *= 2);
            if (!bigger)
                die("out of memory");
            ans = bigger;
        }
    }
    close(fd);
    if (!ans)
        die("out of memory");
    ans[len] = '\0';
    char *b = strstr(ans, "\r\n\r\n");
    if (!b)
        die("no answer from the sandbox to %s %s", method, path);
    memmove(ans, b + 4, strlen(b + 4) + 1);
    return ans;
}

static long sandbox_stat(const char *name)
{
    char *ans = control_request("GET", "/_sandbox/stats", NULL);
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(ans, key);
    long v = p ? strtol(p + strlen(key), NULL, 10) : -1;
    free(ans);
    if (v < 0)
        die("no %s in the sandbox's statistics", name);
    return v;
}

static unsigned connections_now(void)
{
    return atomic_load(&accepted) - control;
}

/* ---- the server process --------------------------------------------------- */

/* The environment minus every MSG91_ variable, plus ours. */
static char **make_env(char *const extra[])
{
    size_t n = 0, k = 0;
    while (environ[n])
        n++;
    while (extra[k])
        k++;
    char **env = calloc(n + k + 1, sizeof *env);
    if (!env)
        die("out of memory");
    size_t j = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "MSG91_", 6) != 0)
            env[j++] = environ[i];
    for (size_t i = 0; i < k; i++)
        env[j++] = extra[i];
    env[j] = NULL;
    return env;
}

static void server_spawn(struct server *s, const char *binary, unsigned max_inflight)
{
    char base[64], inflight[64];
    snprintf(base, sizeof base, "MSG91_BASE_URL=http://127.0.0.1:%u", sb_port);
    snprintf(inflight, sizeof inflight, "MSG91_MAX_INFLIGHT=%u", max_inflight);
    char *extra[4 + SEND_ENV_MAX] = {base, "MSG91_AUTH_KEY=bench-key",
                                     "MSG91_LOG_LEVEL=error"};
    size_t n_extra = 3;
    if (max_inflight)
        extra[n_extra++] = inflight;
    for (size_t i = 0; send_env[i]; i++)
        extra[n_extra++] = send_env[i];
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
        die("pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    char *argv[] = {(char *)binary, NULL};
    char **env = make_env(extra);
    int rc = posix_spawn(&s->pid, binary, &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    if (rc != 0)
        die("cannot start %s: %s", binary, strerror(rc));
    close(in[0]);
    close(out[1]);
    s->in_fd = in[1];
    s->out_fd = out[0];
    fcntl(s->in_fd, F_SETFL, fcntl(s->in_fd, F_GETFL) | O_NONBLOCK);
    fcntl(s->out_fd, F_SETFL, fcntl(s->out_fd, F_GETFL) | O_NONBLOCK);
    s->len = 0;
    s->cap = 1 << 20;
    if (!(s->buf = malloc(s->cap)))
        die("out of memory");
    live_server = s;
}

/* Closes stdin, which makes the server finish and exit, and reaps it. */
static void server_stop(struct server *s)
{
    close(s->in_fd);
    double deadline = now_ms() + STALL_MS;
    int status;
    while (waitpid(s->pid, &status, WNOHANG) != s->pid) {
        if (now_ms() > deadline)
            die("the server did not exit within %d ms of stdin closing", STALL_MS);
        usleep(2000);
    }
    close(s->out_fd);
    free(s->buf);
    live_server = NULL;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("the server exited abnormally (status 0x%x)", status);
}

static size_t read_proc(pid_t pid, const char *what, char *text, size_t cap)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, what);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot read %s: %s", path, strerror(errno));
    size_t n = fread(text, 1, cap - 1, f);
    fclose(f);
    text[n] = '\0';
    return n;
}

/* utime + stime of the whole process, in milliseconds. */
static void server_cpu_ms(pid_t pid, double *user_ms, double *sys_ms)
{
    char text[4096];
    read_proc(pid, "stat", text, sizeof text);
    /* The command name may hold spaces; fields count from after it. */
    const char *p = strrchr(text, ')');
    unsigned long long ut = 0, st = 0;
    /* Field 3 is the state; utime and stime are fields 14 and 15. */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                     &st) != 2)
        die("cannot parse /proc/%d/stat", (int)pid);
    double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
    *user_ms = (double)ut * tick_ms;
    *sys_ms = (double)st * tick_ms;
}

/* One "Name: value" figure of /proc/PID/status or /proc/PID/io. */
static long proc_field(pid_t pid, const char *file, const char *name)
{
    /* A newline in front, so that the first line matches like the rest. */
    char text[8192], key[64];
    text[0] = '\n';
    read_proc(pid, file, text + 1, sizeof text - 1);
    snprintf(key, sizeof key, "\n%s:", name);
    const char *p = strstr(text, key);
    if (!p)
        die("no %s in /proc/%d/%s", name, (int)pid, file);
    return strtol(p + strlen(key), NULL, 10);
}

static long server_rw_syscalls(pid_t pid)
{
    return proc_field(pid, "io", "syscr") + proc_field(pid, "io", "syscw");
}

/* ---- requests and replies -------------------------------------------------- */

static const char init_lines[] =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
    "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{"
    "\"name\":\"bench_client\",\"version\":\"1\"}}}\n"
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

static int format_call(char *out, size_t cap, unsigned id, unsigned limit)
{
    return snprintf(out, cap,
                    "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"tools/call\",\"params\":"
                    "{\"name\":\"list_campaigns\",\"arguments\":{\"page\":1,"
                    "\"limit\":%u}}}\n",
                    id, limit);
}

/* The id of a successful list_campaigns reply, or -1 for a line that is
 * not a reply (a notification); anything else stops the benchmark. */
static long check_reply(const char *line, size_t len, unsigned first, unsigned count)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
    if (len < sizeof head || memcmp(line, head, sizeof head - 1) != 0) {
        if (memmem(line, len, "\"id\":", 5))
            die("an unexpected line: %.*s", (int)len, line);
        return -1;
    }
    char *end;
    unsigned long id = strtoul(line + sizeof head - 1, &end, 10);
    if (id < first || id >= (unsigned long)first + count)
        die("a reply with an id that was not asked for: %.*s", (int)len, line);
    if (strncmp(end, ",\"result\":{", 11) != 0 || memmem(line, len, "\"isError\"", 9) ||
        !memmem(line, len, "\"structuredContent\":{\"campaigns\":[{\"id\":", 40))
        die("call %lu did not succeed: %.*s", id, (int)len, line);
    return (long)id;
}

/* Reads what is there and checks each complete line; returns replies. */
static unsigned read_replies(struct server *s, unsigned first, unsigned count,
                             unsigned char *seen)
{
    for (;;) {
        if (s->cap - s->len < 65536) {
            char *nb = realloc(s->buf, s->cap *= 2);
            if (!nb)
                die("out of memory");
            s->buf = nb;
        }
        ssize_t n = read(s->out_fd, s->buf + s->len, s->cap - s->len);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
        if (n <= 0)
            die("the server closed its output (%s)",
                n < 0 ? strerror(errno) : "end of file");
        s->len += (size_t)n;
    }
    unsigned replies = 0;
    size_t start = 0;
    const char *nl;
    while ((nl = memchr(s->buf + start, '\n', s->len - start))) {
        size_t llen = (size_t)(nl - (s->buf + start));
        long id = check_reply(s->buf + start, llen, first, count);
        if (id >= 0) {
            if (seen[id - first])
                die("two replies for call %ld", id);
            seen[id - first] = 1;
            replies++;
        }
        start += llen + 1;
    }
    memmove(s->buf, s->buf + start, s->len - start);
    s->len -= start;
    return replies;
}

/* Sends one message with one write(), as the SDKs do; a full pipe (the
 * server is not reading) is waited out. */
static void send_message(struct server *s, const char *msg, size_t len)
{
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(s->in_fd, msg + off, len - off);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && errno == EAGAIN) {
            struct pollfd pf = {.fd = s->in_fd, .events = POLLOUT};
            if (poll(&pf, 1, STALL_MS) == 0)
                die("the server stopped reading its input");
        } else if (n < 0 && errno != EINTR) {
            die("writing to the server: %s", strerror(errno));
        }
    }
}

/* Runs `count` calls, ids first.., keeping `window` in flight: a call is
 * written as soon as a reply makes room. `on_full` (may be NULL) runs once,
 * when the window is first full. Returns ms from first write to last reply. */
static double run_calls(struct server *s, unsigned first, unsigned count, unsigned window,
                        unsigned limit, void (*on_full)(struct server *s))
{
    unsigned char *seen = calloc(count, 1);
    if (!seen)
        die("out of memory");
    unsigned sent = 0, received = 0;
    double t0 = now_ms(), last_progress = t0;
    while (received < count) {
        while (sent < count && sent - received < window) {
            char line[256];
            int n = format_call(line, sizeof line, first + sent, limit);
            send_message(s, line, (size_t)n);
            sent++;
            if (sent - received == window && on_full) {
                on_full(s);
                on_full = NULL;
            }
        }
        struct pollfd pf = {.fd = s->out_fd, .events = POLLIN};
        if (poll(&pf, 1, 1000) < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        unsigned got = pf.revents ? read_replies(s, first, count, seen) : 0;
        if (got)
            last_progress = now_ms();
        received += got;
        if (now_ms() - last_progress > STALL_MS)
            die("no reply for %d ms with %u of %u calls answered", STALL_MS, received,
                count);
    }
    free(seen);
    return now_ms() - t0;
}

static void initialize(struct server *s)
{
    send_message(s, init_lines, sizeof init_lines - 1);
    double deadline = now_ms() + STALL_MS;
    for (;;) {
        struct pollfd pf = {.fd = s->out_fd, .events = POLLIN};
        poll(&pf, 1, 100);
        ssize_t n = read(s->out_fd, s->buf + s->len, s->cap - s->len - 1);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            die("the server closed its output before answering initialize");
        if (n > 0)
            s->len += (size_t)n;
        const char *nl = memchr(s->buf, '\n', s->len);
        if (nl) {
            size_t llen = (size_t)(nl - s->buf);
            if (!memmem(s->buf, llen, "\"protocolVersion\"", 17))
                die("initialize failed: %.*s", (int)llen, s->buf);
            memmove(s->buf, nl + 1, s->len - llen - 1);
            s->len -= llen + 1;
            return;
        }
        if (now_ms() > deadline)
            die("no answer to initialize");
    }
}

/* A fresh server, initialized, with one call made: the engine module is
 * loaded and the measured calls find the server as a session would. */
static void server_ready(struct server *s, const struct options *o, unsigned inflight)
{
    server_spawn(s, o->binary, inflight);
    initialize(s);
    run_calls(s, 1000000000u, 1, 1, o->limit, NULL);
}

/* ---- the measurements ---------------------------------------------------- */

static void throughput_run(const struct options *o, struct run *r, unsigned run_no)
{
    struct server s;
    server_ready(&s, o, 0);
    double u0, s0, u1, s1;
    unsigned c0 = connections_now();
    long io0 = server_rw_syscalls(s.pid);
    server_cpu_ms(s.pid, &u0, &s0);
    double took = run_calls(&s, 1, o->calls, o->window, o->limit, NULL);
    server_cpu_ms(s.pid, &u1, &s1);
    long io1 = server_rw_syscalls(s.pid);
    r->connections = connections_now() - c0;
    server_stop(&s);

    r->calls_per_s = (double)o->calls / (took / 1e3);
    r->user_ms = (u1 - u0) * 1000.0 / o->calls;
    r->sys_ms = (s1 - s0) * 1000.0 / o->calls;
    r->cpu_ms_per_1000 = r->user_ms + r->sys_ms;
    r->rw_syscalls_per_call = (double)(io1 - io0) / o->calls;
    printf("run %u: %.0f calls/s, server CPU %.1f ms per 1,000 calls (user %.1f, system "
           "%.1f), %.0f new upstream connections, %.2f read/write system calls per call "
           "(%u calls, %u in flight, %.1f ms)\n",
           run_no, r->calls_per_s, r->cpu_ms_per_1000, r->user_ms, r->sys_ms,
           r->connections, r->rw_syscalls_per_call, o->calls, o->window, took);
    fflush(stdout);
}

/* Waits until the process has a tracer (strace has attached). */
static void wait_traced(pid_t pid)
{
    double deadline = now_ms() + STALL_MS;
    while (proc_field(pid, "status", "TracerPid") == 0) {
        if (now_ms() > deadline)
            die("strace did not attach");
        usleep(1000);
    }
}

/* The calls and the total of an `strace -c` summary. */
static double strace_total(const char *path, bool print)
{
    FILE *f = fopen(path, "r");
    if (!f)
        die("no strace output in %s", path);
    char line[256];
    double total = -1;
    while (fgets(line, sizeof line, f)) {
        if (print)
            printf("strace: %s", line);
        double pct, secs, usecs, calls;
        char name[64];
        if (strstr(line, " total") && sscanf(line, "%lf %lf %lf %lf %*s %63s", &pct,
                                             &secs, &usecs, &calls, name) >= 4)
            total = calls;
    }
    fclose(f);
    if (total < 0)
        die("no total line in the strace summary %s", path);
    return total;
}

/* One run with strace -c -f attached for the measured calls only. Returns
 * system calls per call. */
static double strace_run(const struct options *o)
{
    char out[] = "/tmp/bench_client.strace.XXXXXX";
    int fd = mkstemp(out);
    if (fd < 0)
        die("mkstemp: %s", strerror(errno));
    close(fd);
    struct server s;
    server_ready(&s, o, 0);
    char pid[32];
    snprintf(pid, sizeof pid, "%d", (int)s.pid);
    char *argv[] = {"strace", "-q", "-c", "-f", "-o", out, "-p", pid, NULL};
    pid_t tracer;
    int rc = posix_spawnp(&tracer, "strace", NULL, NULL, argv, environ);
    if (rc != 0)
        die("cannot start strace: %s", strerror(rc));
    wait_traced(s.pid);
    run_calls(&s, 1, o->calls, o->window, o->limit, NULL);
    /* strace writes its summary when interrupted, and detaches. */
    kill(tracer, SIGINT);
    waitpid(tracer, NULL, 0);
    server_stop(&s);
    printf("strace -c -f over %u calls, %u in flight:\n", o->calls, o->window);
    double per_call = strace_total(out, true) / o->calls;
    unlink(out);
    printf("system calls per call (strace): %.2f\n", per_call);
    return per_call;
}

struct held {
    unsigned calls;
    unsigned hold_ms;
    long anon_kib, hwm_kib;
};

static struct held held_now;

/* Called once every call is written: waits until the sandbox holds them
 * all, then reads the server's memory. */
static void on_all_held(struct server *s)
{
    double deadline = now_ms() + STALL_MS;
    while (sandbox_stat("inflight") < (long)held_now.calls) {
        if (now_ms() > deadline + held_now.hold_ms)
            die("the sandbox never held %u calls", held_now.calls);
        usleep(5000);
    }
    held_now.anon_kib = proc_field(s->pid, "status", "RssAnon");
    held_now.hwm_kib = proc_field(s->pid, "status", "VmHWM");
    free(control_request("DELETE", "/_sandbox/misbehave", NULL));
}

static void memory_run(const struct options *o, double *per_call_kib, double *hwm_mib)
{
    struct server s;
    server_ready(&s, o, o->held);
    long idle = proc_field(s.pid, "status", "RssAnon");
    char rule[128];
    snprintf(rule, sizeof rule, "{\"tool\":\"list_campaigns\",\"delay_ms\":%u}",
             o->hold_ms);
    free(control_request("POST", "/_sandbox/misbehave", rule));
    held_now = (struct held){.calls = o->held, .hold_ms = o->hold_ms};
    run_calls(&s, 1, o->held, o->held, o->limit, on_all_held);
    server_stop(&s);
    *per_call_kib = (double)(held_now.anon_kib - idle) / o->held;
    *hwm_mib = (double)held_now.hwm_kib / 1024.0;
    printf("%u calls in flight, answers held %u ms: VmHWM %.1f MiB, anonymous %.1f MiB "
           "(%.1f MiB before the calls), %.1f KiB anonymous per call in flight\n",
           o->held, o->hold_ms, *hwm_mib, (double)held_now.anon_kib / 1024.0,
           (double)idle / 1024.0, *per_call_kib);
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of one field over the runs. */
static double median(const struct run *rs, unsigned n, size_t offset)
{
    double *v = malloc(n * sizeof *v);
    if (!v)
        die("out of memory");
    for (unsigned i = 0; i < n; i++)
        memcpy(&v[i], (const char *)&rs[i] + offset, sizeof v[i]);
    qsort(v, n, sizeof v[0], cmp_double);
    double m = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
    free(v);
    return m;
}

static void client_runs(const struct options *o)
{
    struct run *rs = calloc(o->runs, sizeof *rs);
    if (!rs)
        die("out of memory");
    for (unsigned i = 0; i < o->runs; i++)
        throughput_run(o, &rs[i], i + 1);
    unsigned n = o->runs;
    double cps = median(rs, n, offsetof(struct run, calls_per_s));
    double cpu = median(rs, n, offsetof(struct run, cpu_ms_per_1000));
    double conns = median(rs, n, offsetof(struct run, connections));
    double rw = median(rs, n, offsetof(struct run, rw_syscalls_per_call));
    double sys = o->strace ? strace_run(o) : -1;
    printf("median of %u runs: %.0f calls/s, %.1f ms CPU per 1,000 calls, %.0f upstream "
           "connections (%u in flight), %.2f read/write system calls per call\n",
           n, cps, cpu, conns, o->window, rw);
    bool ok = cpu <= TARGET_CPU_MS_PER_1000 && conns <= o->window &&
              (sys < 0 || sys <= TARGET_SYSCALLS_PER_CALL);
    printf("summary: %.1f ms CPU per 1,000 calls (target <= %.0f), %.0f connections "
           "(target <= %u), system calls per call %s%.2f (target <= %.0f): %s\n",
           cpu, TARGET_CPU_MS_PER_1000, conns, o->window, sys < 0 ? "(no -S) " : "",
           sys < 0 ? 0.0 : sys, TARGET_SYSCALLS_PER_CALL,
           ok ? "all targets met" : "TARGETS MISSED");
    printf("figures: calls_per_s=%.0f cpu_ms_per_1000=%.1f connections=%.0f "
           "rw_syscalls_per_call=%.2f syscalls_per_call=%.2f\n",
           cps, cpu, conns, rw, sys);
    free(rs);
}

/* ---- the safe-send mode (-s) ----------------------------------------------- */

/* What a send costs with each state store: send_sms_flow calls one at a
 * time (the latency of one call, write to reply), each to a number of its
 * own so that no rule of the sandbox or of the duplicate guard refuses it,
 * against the sandbox, which answers at once. The baseline does no
 * safe-send work at all (no key, duplicate guard off); "key" gives every
 * call a fresh idempotency key (claim, then store the result); "no key"
 * leaves the key out under the default 60 s duplicate guard (look for a
 * twin and record the call, then settle it). */
struct send_config {
    const char *label;
    const char *figure; /* its name in the figures line */
    const char *store;  /* MSG91_STORE=... */
    bool keyed;
    bool guard; /* the default duplicate window, else 0 */
    double *us; /* every measured call of every run */
    unsigned n;
    double cpu_ms; /* server CPU over the measured calls, summed */
};

#define SEND_WARMUP 200u

static unsigned send_seq; /* makes every number and key unique */

/* Waits for the next line from the server that is a reply (notifications
 * are dropped); it starts s->buf, *len bytes long without its newline, and
 * stays there until send_consume. */
static const char *send_reply_line(struct server *s, size_t *len)
{
    double deadline = now_ms() + STALL_MS;
    for (;;) {
        const char *nl = memchr(s->buf, '\n', s->len);
        if (nl) {
            *len = (size_t)(nl - s->buf);
            if (memmem(s->buf, *len, "\"id\":", 5))
                return s->buf;
            memmove(s->buf, nl + 1, s->len - *len - 1);
            s->len -= *len + 1;
            continue;
        }
        if (s->cap - s->len < 65536) {
            char *nb = realloc(s->buf, s->cap *= 2);
            if (!nb)
                die("out of memory");
            s->buf = nb;
        }
        struct pollfd pf = {.fd = s->out_fd, .events = POLLIN};
        if (poll(&pf, 1, 1000) < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        ssize_t n = read(s->out_fd, s->buf + s->len, s->cap - s->len);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            die("the server closed its output");
        if (n > 0)
            s->len += (size_t)n;
        if (now_ms() > deadline)
            die("no reply for %d ms", STALL_MS);
    }
}

static void send_consume(struct server *s, size_t len)
{
    memmove(s->buf, s->buf + len + 1, s->len - len - 1);
    s->len -= len + 1;
}

/* One send; returns its latency in microseconds. */
static double send_one(struct server *s, const struct send_config *c, unsigned id)
{
    unsigned seq = send_seq++;
    char key[64] = "";
    if (c->keyed)
        snprintf(key, sizeof key, ",\"idempotency_key\":\"bench-%d-%u\"", (int)getpid(),
                 seq);
    char line[512];
    int n =
        snprintf(line, sizeof line,
                 "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"tools/call\",\"params\":"
                 "{\"name\":\"send_sms_flow\",\"arguments\":{\"template_id\":"
                 "\"bench_flow\",\"recipients\":[{\"mobiles\":\"917%09u\","
                 "\"name\":\"Asha\"}]%s}}}\n",
                 id, seq, key);
    double t0 = now_ms();
    send_message(s, line, (size_t)n);
    size_t len;
    const char *reply = send_reply_line(s, &len);
    double us = (now_ms() - t0) * 1e3;
    char want[48];
    int wn = snprintf(want, sizeof want, "\"id\":%u,\"result\":{", id);
    if (!memmem(reply, len, want, (size_t)wn) ||
        memmem(reply, len, "\"isError\":true", 14) ||
        !memmem(reply, len, "\"request_id\":\"", 14) ||
        memmem(reply, len, "msg91/replayed", 14))
        die("send %u (%s) did not succeed as a new send: %.*s", id, c->label, (int)len,
            reply);
    send_consume(s, len);
    return us;
}

static void send_run(const struct options *o, struct send_config *c)
{
    char store[600];
    snprintf(store, sizeof store, "MSG91_STORE=%s", c->store);
    size_t k = 0;
    send_env[k++] = store;
    if (!c->guard)
        send_env[k++] = "MSG91_DUPLICATE_WINDOW_S=0";
    send_env[k] = NULL;
    struct server s;
    server_ready(&s, o, 0);
    for (unsigned i = 0; i < SEND_WARMUP; i++)
        send_one(&s, c, 2000000000u + i);
    double u0, s0, u1, s1;
    server_cpu_ms(s.pid, &u0, &s0);
    for (unsigned i = 0; i < o->calls; i++)
        c->us[c->n++] = send_one(&s, c, 1 + i);
    server_cpu_ms(s.pid, &u1, &s1);
    server_stop(&s);
    send_env[0] = NULL;
    c->cpu_ms += (u1 - u0) + (s1 - s0);
}

static double percentile(double *v, unsigned n, double p)
{
    qsort(v, n, sizeof v[0], cmp_double);
    size_t i = (size_t)(p * (n - 1) + 0.5);
    return v[i];
}

static void send_runs(const struct options *o)
{
    char dir[] = "/tmp/bench_client.sends.XXXXXX";
    if (!mkdtemp(dir))
        die("mkdtemp: %s", strerror(errno));
    char sqlite[128];
    snprintf(sqlite, sizeof sqlite, "sqlite:%s/state.db", dir);
    struct send_config cs[] = {
        {"baseline: no key, no guard", "baseline", "memory", false, false, NULL, 0, 0},
        {"memory, key", "memory_key", "memory", true, true, NULL, 0, 0},
        {"memory, no key (guard)", "memory_guard", "memory", false, true, NULL, 0, 0},
        {"sqlite, key", "sqlite_key", sqlite, true, true, NULL, 0, 0},
        {"sqlite, no key (guard)", "sqlite_guard", sqlite, false, true, NULL, 0, 0},
        {"redis, key", "redis_key", o->redis, true, true, NULL, 0, 0},
        {"redis, no key (guard)", "redis_guard", o->redis, false, true, NULL, 0, 0},
    };
    unsigned nc = o->redis ? 7 : 5;
    for (unsigned i = 0; i < nc; i++)
        if (!(cs[i].us = calloc((size_t)o->calls * o->runs, sizeof(double))))
            die("out of memory");
    /* The configurations take turns, so a change of machine load over the
     * minutes this takes falls on all of them alike. */
    for (unsigned r = 0; r < o->runs; r++)
        for (unsigned i = 0; i < nc; i++)
            send_run(o, &cs[i]);
    printf("send_sms_flow, one call at a time, %u calls x %u runs per configuration "
           "(each run a fresh server, %u calls of warm-up), sandbox upstream%s\n",
           o->calls, o->runs, SEND_WARMUP, o->redis ? "" : "; no -R: Redis not measured");
    printf("%-28s %10s %10s %12s %12s %14s\n", "configuration", "median us", "p99 us",
           "+median us", "+p99 us", "CPU us/call");
    double base_med = 0, base_p99 = 0;
    char figures[2048];
    size_t fl = 0;
    for (unsigned i = 0; i < nc; i++) {
        double med = percentile(cs[i].us, cs[i].n, 0.5);
        double p99 = percentile(cs[i].us, cs[i].n, 0.99);
        double cpu = cs[i].cpu_ms * 1e3 / cs[i].n;
        if (i == 0) {
            base_med = med;
            base_p99 = p99;
        }
        printf("%-28s %10.1f %10.1f %12.1f %12.1f %14.1f\n", cs[i].label, med, p99,
               med - base_med, p99 - base_p99, cpu);
        fl += (size_t)snprintf(figures + fl, sizeof figures - fl,
                               " %s_median_us=%.1f %s_p99_us=%.1f", cs[i].figure, med,
                               cs[i].figure, p99);
        free(cs[i].us);
    }
    printf("figures:%s\n", figures);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "bench_client: could not remove %s\n", dir);
}

static unsigned parse_count(const char *s, const char *what)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (*end || v == 0 || v > 10000000)
        die("%s must be a positive number, not \"%s\"", what, s);
    return (unsigned)v;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_client [-n CALLS] [-w IN_FLIGHT] [-l LIMIT] [-r RUNS] "
                    "[-S] [-M [-c IN_FLIGHT] [-H HOLD_MS]] [-s [-R REDIS_URL]] BINARY\n");
    exit(2);
}

static void parse_options(int argc, char **argv, struct options *o)
{
    int opt;
    while ((opt = getopt(argc, argv, "n:w:l:r:SMc:H:sR:")) != -1) {
        switch (opt) {
        case 'n':
            o->calls = parse_count(optarg, "-n");
            break;
        case 'w':
            o->window = parse_count(optarg, "-w");
            break;
        case 'l':
            o->limit = parse_count(optarg, "-l");
            break;
        case 'r':
            o->runs = parse_count(optarg, "-r");
            break;
        case 'S':
            o->strace = true;
            break;
        case 'M':
            o->memory = true;
            break;
        case 'c':
            o->held = parse_count(optarg, "-c");
            break;
        case 'H':
            o->hold_ms = parse_count(optarg, "-H");
            break;
        case 's':
            o->sends = true;
            break;
        case 'R':
            o->redis = optarg;
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 1)
        usage();
    o->binary = argv[optind];
    if (o->held > 10000)
        die("-c is at most 10000 (the server's in-flight cap)");
}

int main(int argc, char **argv)
{
    struct options o = {.calls = 10000,
                        .window = 64,
                        .limit = 1,
                        .runs = 3,
                        .held = 1000,
                        .hold_ms = 3000};
    parse_options(argc, argv, &o);
    signal(SIGPIPE, SIG_IGN);
    char *error = NULL;
    struct sandbox_options so = {.seed = 1};
    if (!(sb = sandbox_create(&so, &error)))
        die("%s", error ? error : "the sandbox did not start");
    sb_port = sandbox_port(sb);
    printf("== machine: %ld CPUs, load average ", sysconf(_SC_NPROCESSORS_ONLN));
    char load[128];
    FILE *f = fopen("/proc/loadavg", "r");
    if (f && fgets(load, sizeof load, f))
        printf("%.14s", load);
    if (f)
        fclose(f);
    printf("; sandbox upstream on 127.0.0.1:%u\n", sb_port);
    if (o.sends) {
        send_runs(&o);
    } else if (o.memory) {
        double per_call, hwm;
        memory_run(&o, &per_call, &hwm);
        printf("summary: %.1f KiB anonymous per call in flight (target <= %.0f): %s\n",
               per_call, TARGET_ANON_KIB_PER_CALL,
               per_call <= TARGET_ANON_KIB_PER_CALL ? "target met" : "TARGET MISSED");
        printf("figures: held=%u vmhwm_mib=%.1f anon_kib_per_call=%.1f\n", o.held, hwm,
               per_call);
    } else {
        client_runs(&o);
    }
    sandbox_destroy(sb);
    return 0;
}
