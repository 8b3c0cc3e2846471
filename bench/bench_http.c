/* The HTTP benchmark: tools/call list_campaigns over Streamable HTTP with
 * keep-alive, against servers given as shell commands (msg91-mcp http, the
 * TypeScript SDK peer of bench/peer/), each pointed at the sandbox, which
 * this program starts on a free loopback port as bench_client does. Per
 * server process only:
 *
 *   - calls/s, from the first request to the last answer, with -c requests
 *     in flight on -c keep-alive connections (libcurl multi);
 *   - CPU per 1,000 calls: utime + stime of /proc/PID/stat (all threads)
 *     around the measured calls.
 *
 * Every request is POST /mcp with the legacy 2025-06-18 header set
 * (Content-Type, Accept with both types, MCP-Protocol-Version) and no
 * session; every answer must be 200 with a successful list_campaigns
 * result, or the benchmark stops. The load generator's CPU (this program's
 * main thread: libcurl) and the sandbox's (its threads, in this process)
 * are printed too, so one can see the generator is not the limit.
 *
 * Usage: bench_http [options] NAME COMMAND [NAME COMMAND ...]
 *   COMMAND is run with `sh -c "exec COMMAND"` and MSG91_BASE_URL (the
 *   sandbox), MSG91_AUTH_KEY=bench-key and MSG91_LOG_LEVEL=error in its
 *   environment (no other MSG91_ variable); its first line on stdout must
 *   be the URL of its /mcp endpoint. SIGTERM stops it.
 *   -n CALLS    measured calls per run (default 10000)
 *   -c CONC     requests in flight, one connection each (default 32)
 *   -W CALLS    warm-up calls before measuring, same connections (1000)
 *   -l LIMIT    list_campaigns "limit" (default 1)
 *   -r RUNS     runs per server, each a fresh process (default 3)
 * The runs alternate between the servers. The last lines are the medians,
 * the ratios of the first server against each other, and one
 * "figures: ..." line per server for bench/chart. */
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sandbox/sandbox.h"

extern char **environ;

#define STALL_MS 30000
#define START_MS 60000 /* Node on a loaded machine starts slowly */
#define MAX_SERVERS 4
#define MAX_RUNS 15

struct options {
    unsigned calls, conc, warmup, limit, runs;
};

struct conn {
    CURL *easy;
    char *buf;
    size_t len, cap;
    char body[256];
};

struct figures {
    double calls_per_s, cpu_ms_per_1000, user_ms, sys_ms, self_ms_per_1000,
        client_ms_per_1000, loadavg;
    long new_connections;
};

static pid_t live_pid;
static uint16_t sb_port;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_http: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (live_pid > 0) {
        kill(live_pid, SIGKILL);
        waitpid(live_pid, NULL, 0);
    }
    exit(1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static double loadavg1(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

/* utime + stime of the whole process (every thread), in milliseconds. */
static void proc_cpu_ms(pid_t pid, double *user_ms, double *sys_ms)
{
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot read %s: %s", path, strerror(errno));
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *p = strrchr(text, ')');
    unsigned long long ut = 0, st = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                     &st) != 2)
        die("cannot parse %s", path);
    double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
    *user_ms = (double)ut * tick_ms;
    *sys_ms = (double)st * tick_ms;
}

/* The calling thread's CPU (the load generator alone), ms. */
static double thread_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* This process's CPU (the client and the sandbox's threads), ms. */
static double self_cpu_ms(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
}

/* ---- the server process ---------------------------------------------------- */

/* Spawns `sh -c "exec COMMAND"`; returns its pid and reads the URL line. */
static pid_t server_start(const char *command, char *url, size_t url_cap)
{
    char base[64], *script;
    snprintf(base, sizeof base, "MSG91_BASE_URL=http://127.0.0.1:%u", sb_port);
    if (asprintf(&script, "exec %s", command) < 0)
        die("out of memory");
    size_t n = 0, j = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 4, sizeof *env);
    if (!env)
        die("out of memory");
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "MSG91_", 6) != 0)
            env[j++] = environ[i];
    env[j++] = base;
    env[j++] = "MSG91_AUTH_KEY=bench-key";
    env[j++] = "MSG91_LOG_LEVEL=error";
    int out[2];
    if (pipe2(out, O_CLOEXEC))
        die("pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    char *argv[] = {"sh", "-c", script, NULL};
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/sh", &fa, NULL, argv, env);
    posix_spawn_file_actions_destroy(&fa);
    free(env);
    free(script);
    close(out[1]);
    if (rc != 0)
        die("cannot start %s: %s", command, strerror(rc));
    live_pid = pid;
    /* Byte by byte up to the newline: the rest of stdout is not ours. */
    size_t len = 0;
    double deadline = now_ms() + START_MS;
    while (len + 1 < url_cap) {
        struct pollfd pf = {.fd = out[0], .events = POLLIN};
        if (poll(&pf, 1, 1000) == 0) {
            if (now_ms() > deadline)
                die("%s printed no URL within %d ms", command, START_MS);
            continue;
        }
        ssize_t r = read(out[0], url + len, 1);
        if (r <= 0)
            die("%s exited before printing its URL", command);
        if (url[len] == '\n')
            break;
        len++;
    }
    url[len] = '\0';
    /* Keep the pipe open but unread would block a chatty server: close it
     * (a server writing more to stdout gets EPIPE, which neither does). */
    close(out[0]);
    return pid;
}

static void server_stop(pid_t pid)
{
    kill(pid, SIGTERM);
    double deadline = now_ms() + 10000;
    while (waitpid(pid, NULL, WNOHANG) != pid) {
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            break;
        }
        usleep(5000);
    }
    live_pid = 0;
}

/* ---- requests -------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    struct conn *c = userp;
    size_t add = size * n;
    if (c->len + add + 1 > c->cap) {
        size_t cap = (c->len + add + 1) * 2;
        char *nb = realloc(c->buf, cap);
        if (!nb)
            return 0;
        c->buf = nb;
        c->cap = cap;
    }
    memcpy(c->buf + c->len, data, add);
    c->len += add;
    c->buf[c->len] = '\0';
    return add;
}

static void conn_setup(struct conn *c, const char *url, struct curl_slist *headers)
{
    if (!(c->easy = curl_easy_init()))
        die("curl_easy_init failed");
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
    curl_easy_setopt(c->easy, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
}

static void conn_send(CURLM *multi, struct conn *c, unsigned id, unsigned limit)
{
    snprintf(
        c->body, sizeof c->body,
        "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"list_campaigns\",\"arguments\":{\"page\":1,\"limit\":%u}}}",
        id, limit);
    c->len = 0;
    curl_easy_setopt(c->easy, CURLOPT_POSTFIELDS, c->body);
    if (curl_multi_add_handle(multi, c->easy) != CURLM_OK)
        die("curl_multi_add_handle failed");
}

static void check_answer(struct conn *c, CURLcode result)
{
    long status = 0;
    curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &status);
    if (result != CURLE_OK)
        die("a request failed: %s", curl_easy_strerror(result));
    if (status != 200 || !c->buf || strstr(c->buf, "\"isError\"") ||
        !strstr(c->buf, "\"structuredContent\":{\"campaigns\":[{\"id\":"))
        die("a call did not succeed (HTTP %ld): %.300s", status, c->buf ? c->buf : "");
}

/* Runs `count` calls with every connection busy; returns ms taken and adds
 * the connections libcurl opened to *opened. */
static double run_calls(CURLM *multi, struct conn *conns, const struct options *o,
                        unsigned count, unsigned *next_id, long *opened)
{
    unsigned sent = 0, done = 0;
    double t0 = now_ms(), progress = t0;
    for (unsigned i = 0; i < o->conc && sent < count; i++, sent++)
        conn_send(multi, &conns[i], (*next_id)++, o->limit);
    while (done < count) {
        int running;
        curl_multi_perform(multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            struct conn *c;
            CURL *easy = m->easy_handle;
            CURLcode result = m->data.result;
            curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&c);
            long n = 0;
            curl_easy_getinfo(easy, CURLINFO_NUM_CONNECTS, &n);
            *opened += n;
            check_answer(c, result);
            curl_multi_remove_handle(multi, easy);
            done++;
            progress = now_ms();
            if (sent < count) {
                conn_send(multi, c, (*next_id)++, o->limit);
                sent++;
            }
        }
        if (done < count)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
        if (now_ms() - progress > STALL_MS)
            die("no answer for %d ms", STALL_MS);
    }
    return now_ms() - t0;
}

static struct figures measure(const char *command, const struct options *o)
{
    char url[512];
    pid_t pid = server_start(command, url, sizeof url);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    h = curl_slist_append(h, "MCP-Protocol-Version: 2025-06-18");
    h = curl_slist_append(h, "Expect:");
    CURLM *multi = curl_multi_init();
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)o->conc);
    curl_multi_setopt(multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)o->conc);
    struct conn *conns = calloc(o->conc, sizeof *conns);
    if (!conns || !h || !multi)
        die("out of memory");
    for (unsigned i = 0; i < o->conc; i++)
        conn_setup(&conns[i], url, h);
    unsigned id = 1;
    long opened = 0;
    if (o->warmup)
        run_calls(multi, conns, o, o->warmup, &id, &opened);
    opened = 0;
    struct figures f = {.loadavg = loadavg1()};
    double u0, s0, u1, s1, self0 = self_cpu_ms(), client0 = thread_cpu_ms();
    proc_cpu_ms(pid, &u0, &s0);
    double ms = run_calls(multi, conns, o, o->calls, &id, &opened);
    proc_cpu_ms(pid, &u1, &s1);
    double k = 1000.0 / o->calls;
    f.self_ms_per_1000 = (self_cpu_ms() - self0) * k;
    f.client_ms_per_1000 = (thread_cpu_ms() - client0) * k;
    f.calls_per_s = o->calls / (ms / 1e3);
    f.user_ms = (u1 - u0) * k;
    f.sys_ms = (s1 - s0) * k;
    f.cpu_ms_per_1000 = f.user_ms + f.sys_ms;
    f.new_connections = opened;
    for (unsigned i = 0; i < o->conc; i++) {
        curl_easy_cleanup(conns[i].easy);
        free(conns[i].buf);
    }
    free(conns);
    curl_multi_cleanup(multi);
    curl_slist_free_all(h);
    server_stop(pid);
    return f;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of one field over the runs. */
static double median(const struct figures *runs, unsigned n, size_t offset)
{
    double v[MAX_RUNS] = {0};
    for (unsigned i = 0; i < n; i++)
        memcpy(&v[i], (const char *)&runs[i] + offset, sizeof v[i]);
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void parse_options(int argc, char **argv, struct options *o)
{
    int opt;
    while ((opt = getopt(argc, argv, "n:c:W:l:r:")) != -1) {
        unsigned long v = strtoul(optarg, NULL, 10);
        switch (opt) {
        case 'n':
            o->calls = (unsigned)v;
            break;
        case 'c':
            o->conc = (unsigned)v;
            break;
        case 'W':
            o->warmup = (unsigned)v;
            break;
        case 'l':
            o->limit = (unsigned)v;
            break;
        case 'r':
            o->runs = (unsigned)v;
            break;
        default:
            exit(2);
        }
    }
    int names = argc - optind;
    if (names < 2 || names % 2 || names / 2 > MAX_SERVERS || !o->calls || !o->conc ||
        !o->runs || o->runs > MAX_RUNS) {
        fprintf(stderr,
                "usage: bench_http [-n CALLS] [-c CONC] [-W WARMUP] [-l LIMIT] "
                "[-r RUNS<=%d] NAME COMMAND [NAME COMMAND ...]\n",
                MAX_RUNS);
        exit(2);
    }
}

#define MEDIAN(runs, n, field) median(runs, n, offsetof(struct figures, field))

int main(int argc, char **argv)
{
    struct options o = {
        .calls = 10000, .conc = 32, .warmup = 1000, .limit = 1, .runs = 3};
    parse_options(argc, argv, &o);
    unsigned servers = (unsigned)(argc - optind) / 2;
    signal(SIGPIPE, SIG_IGN);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
        die("curl_global_init failed");
    char *error = NULL;
    struct sandbox_options so = {.seed = 1};
    struct sandbox *sb = sandbox_create(&so, &error);
    if (!sb)
        die("cannot start the sandbox: %s", error ? error : "?");
    sb_port = sandbox_port(sb);
    printf("%u calls per run, %u in flight on keep-alive connections, %u warm-up calls, "
           "limit %u, %u runs per server\n",
           o.calls, o.conc, o.warmup, o.limit, o.runs);
    static struct figures runs[MAX_SERVERS][MAX_RUNS];
    for (unsigned r = 0; r < o.runs; r++)
        for (unsigned s = 0; s < servers; s++) {
            struct figures *f = &runs[s][r];
            *f = measure(argv[optind + 2 * s + 1], &o);
            printf("%s run %u: %.0f calls/s, CPU %.1f ms per 1,000 calls (user %.1f, sys "
                   "%.1f), new connections %ld, load %.2f; load generator %.1f, sandbox "
                   "%.1f ms per 1,000\n",
                   argv[optind + 2 * s], r + 1, f->calls_per_s, f->cpu_ms_per_1000,
                   f->user_ms, f->sys_ms, f->new_connections, f->loadavg,
                   f->client_ms_per_1000, f->self_ms_per_1000 - f->client_ms_per_1000);
            fflush(stdout);
        }
    double cps[MAX_SERVERS], cpu[MAX_SERVERS];
    for (unsigned s = 0; s < servers; s++) {
        cps[s] = MEDIAN(runs[s], o.runs, calls_per_s);
        cpu[s] = MEDIAN(runs[s], o.runs, cpu_ms_per_1000);
        printf(
            "%s median: %.0f calls/s, CPU %.1f ms per 1,000 calls (user %.1f, sys %.1f), "
            "load %.2f\n",
            argv[optind + 2 * s], cps[s], cpu[s], MEDIAN(runs[s], o.runs, user_ms),
            MEDIAN(runs[s], o.runs, sys_ms), MEDIAN(runs[s], o.runs, loadavg));
    }
    for (unsigned s = 1; s < servers; s++)
        printf("ratio %s/%s: %.1fx the calls/s, %.1fx less CPU per call (target: 10x and "
               "10x)\n",
               argv[optind], argv[optind + 2 * s], cps[0] / cps[s], cpu[s] / cpu[0]);
    for (unsigned s = 0; s < servers; s++)
        printf("figures: server=%s http_calls_per_s=%.0f http_cpu_ms_per_1000=%.2f\n",
               argv[optind + 2 * s], cps[s], cpu[s]);
    sandbox_destroy(sb);
    curl_global_cleanup();
    return 0;
}
