/* The engine benchmark: spawns the real binary against a local upstream
 * (bench/run starts nginx with bench/nginx.conf.in) and measures, on the
 * server process only, calls per second and CPU time per 1,000 calls
 * against an upstream that answers at once, peak memory, and how long
 * 1,000 calls written at once take against an upstream that answers after
 * 200 ms. Every reply is checked: a call that did not succeed stops the
 * benchmark, so errors are never counted as calls.
 *
 * Usage: bench_engine [options] BINARY BASE_URL
 *   -n CALLS    calls in the throughput run (default 20000)
 *   -w WINDOW   most requests outstanding at once in that run (default 256)
 *   -i N        MSG91_MAX_INFLIGHT for that run (default: the server's own)
 *   -c CALLS    calls written at once in the concurrency run (default 1000)
 *   -s PATH     slow path for list_campaigns (default /slow/campaigns)
 *   -m          alternate list_campaigns and verify_otp in the throughput run
 *   -r RUNS     rounds, each with fresh server processes (default 3); the
 *               summary is the median of each figure over the rounds */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

/* A reply that has not come after this long means the server is stuck. */
#define STALL_MS 30000

/* Targets from the issue, for the summary line. */
#define TARGET_CALLS_PER_S 20000.0
#define TARGET_CPU_MS_PER_1000 30.0
#define TARGET_PEAK_MIB 16.0
#define TARGET_BURST_MS 300.0

enum call_kind { KIND_CAMPAIGNS, KIND_VERIFY };

struct server {
    pid_t pid;
    int in_fd;  /* we write the server's stdin */
    int out_fd; /* we read the server's stdout */
    char *buf;  /* bytes read but not yet split into lines */
    size_t len, cap;
};

struct options {
    const char *binary;
    const char *base_url;
    unsigned calls;
    unsigned window;
    unsigned max_inflight; /* 0: leave the server's default */
    unsigned burst;
    const char *slow_path;
    bool mix;
    unsigned runs;
};

struct round {
    double calls_per_s;
    double cpu_ms_per_1000;
    double cpu_user_ms, cpu_sys_ms;
    double hwm_throughput_mib;
    double burst_ms;
    double burst_again_ms;
    double hwm_burst_mib;
};

static struct server *live_server; /* killed if the benchmark aborts */
static char *config_path;          /* removed if the benchmark aborts */

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("bench_engine: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (live_server && live_server->pid > 0) {
        kill(live_server->pid, SIGKILL);
        waitpid(live_server->pid, NULL, 0);
    }
    if (config_path)
        unlink(config_path);
    exit(1);
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* ---- the server process ------------------------------------------------- */

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

static void server_spawn(struct server *s, const char *binary, char *const extra_env[])
{
    int in[2], out[2];
    if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC))
        die("pipe: %s", strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    char *argv[] = {(char *)binary, NULL};
    char **env = make_env(extra_env);
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
    s->buf = malloc(s->cap);
    if (!s->buf)
        die("out of memory");
    live_server = s;
}

/* Closes stdin, which makes the server finish and exit, and reaps it. */
static void server_stop(struct server *s)
{
    close(s->in_fd);
    double deadline = now_ms() + STALL_MS;
    int status;
    for (;;) {
        pid_t r = waitpid(s->pid, &status, WNOHANG);
        if (r == s->pid)
            break;
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

/* utime and stime of the whole process, in milliseconds. */
static void server_cpu_ms(pid_t pid, double *user_ms, double *sys_ms)
{
    char path[64], text[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot read %s: %s", path, strerror(errno));
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    /* The command name may hold spaces; fields count from after it. */
    char *p = strrchr(text, ')');
    if (!p)
        die("cannot parse %s", path);
    unsigned long long utime = 0, stime = 0;
    /* Field 3 is the state; utime and stime are fields 14 and 15. */
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
               &stime) != 2)
        die("cannot parse %s", path);
    double tick_ms = 1000.0 / (double)sysconf(_SC_CLK_TCK);
    *user_ms = (double)utime * tick_ms;
    *sys_ms = (double)stime * tick_ms;
}

/* Peak resident set (VmHWM), and what is resident now split into anonymous
 * memory (the server's own heap and stacks) and file pages (mostly shared
 * libraries, which VmHWM also counts), all in MiB. */
struct mem {
    double hwm, anon, file;
};

static struct mem server_mem(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot read %s: %s", path, strerror(errno));
    long hwm = -1, anon = -1, file = -1, v;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "VmHWM: %ld kB", &v) == 1)
            hwm = v;
        else if (sscanf(line, "RssAnon: %ld kB", &v) == 1)
            anon = v;
        else if (sscanf(line, "RssFile: %ld kB", &v) == 1)
            file = v;
    }
    fclose(f);
    if (hwm < 0 || anon < 0 || file < 0)
        die("no VmHWM, RssAnon or RssFile in %s", path);
    return (struct mem){hwm / 1024.0, anon / 1024.0, file / 1024.0};
}

/* ---- requests and replies ---------------------------------------------- */

static const char init_lines[] =
    "{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"initialize\",\"params\":{"
    "\"protocolVersion\":"
    "\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{\"name\":\"bench_engine\","
    "\"version\":\"1\"}}}\n"
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}\n";

static int append_call(char *out, size_t cap, unsigned id, enum call_kind kind)
{
    if (kind == KIND_VERIFY)
        return snprintf(
            out, cap,
            "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"tools/call\",\"params\":"
            "{\"name\":\"verify_otp\",\"arguments\":{\"mobile\":\"+919876543210\","
            "\"otp\":\"%04u\"}}}\n",
            id, 1000 + id % 9000);
    return snprintf(
        out, cap,
        "{\"jsonrpc\":\"2.0\",\"id\":%u,\"method\":\"tools/call\",\"params\":"
        "{\"name\":\"list_campaigns\",\"arguments\":{\"page\":1,\"limit\":25}}}\n",
        id);
}

/* Checks a reply with a parser, for lines the fast path did not recognise.
 * Returns the id, or -1 for a line that is not a reply (a notification). */
static long check_reply_slow(const char *line, size_t len, unsigned first, unsigned count,
                             const enum call_kind *kinds)
{
    json_error_t err;
    json_t *msg = json_loadb(line, len, 0, &err);
    if (!msg)
        die("the server wrote a line that is not JSON (%s): %.*s", err.text, (int)len,
            line);
    json_t *idv = json_object_get(msg, "id");
    if (!idv) {
        json_decref(msg);
        return -1;
    }
    if (!json_is_integer(idv) || json_integer_value(idv) < first ||
        json_integer_value(idv) >= (json_int_t)first + count)
        die("a reply with an id that was not asked for: %.*s", (int)len, line);
    long id = (long)json_integer_value(idv);
    json_t *result = json_object_get(msg, "result");
    json_t *sc = json_object_get(result, "structuredContent");
    bool ok = json_is_object(result) && !json_is_true(json_object_get(result, "isError"));
    if (ok && kinds[id - first] == KIND_VERIFY)
        ok = json_is_true(json_object_get(sc, "verified"));
    else if (ok)
        ok = json_integer_value(json_object_get(
                 json_array_get(json_object_get(sc, "campaigns"), 0), "id")) == 123;
    if (!ok)
        die("call %ld did not succeed: %.*s", id, (int)len, line);
    json_decref(msg);
    return id;
}

/* The server writes `{"jsonrpc":"2.0","id":N,"result":{...` with the
 * structured content first in a fixed key order; recognising that with a
 * few comparisons keeps the client's own CPU use small, which matters on a
 * machine where client, server and nginx share the cores. Anything else
 * goes through the parser. */
static long check_reply(const char *line, size_t len, unsigned first, unsigned count,
                        const enum call_kind *kinds)
{
    static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":";
    static const char campaigns[] = "\"structuredContent\":{\"campaigns\":[{\"id\":123,";
    static const char verified[] = "\"structuredContent\":{\"verified\":true,";
    if (len < sizeof head || memcmp(line, head, sizeof head - 1) != 0)
        return check_reply_slow(line, len, first, count, kinds);
    char *end;
    unsigned long id = strtoul(line + sizeof head - 1, &end, 10);
    if (id < first || id >= (unsigned long)first + count ||
        strncmp(end, ",\"result\":{", 11) != 0 || memmem(line, len, "\"isError\"", 9))
        return check_reply_slow(line, len, first, count, kinds);
    const char *want = kinds[id - first] == KIND_VERIFY ? verified : campaigns;
    if (!memmem(line, len, want, strlen(want)))
        return check_reply_slow(line, len, first, count, kinds);
    return (long)id;
}

/* Reads what is there and checks each complete line. Returns replies seen. */
static unsigned read_replies(struct server *s, unsigned first, unsigned count,
                             const enum call_kind *kinds, unsigned char *seen)
{
    unsigned replies = 0;
    for (;;) {
        if (s->cap - s->len < 65536) {
            s->cap *= 2;
            char *nb = realloc(s->buf, s->cap);
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
        if ((size_t)n < 65536)
            break;
    }
    size_t start = 0;
    char *nl;
    while ((nl = memchr(s->buf + start, '\n', s->len - start))) {
        size_t llen = (size_t)(nl - (s->buf + start));
        long id = check_reply(s->buf + start, llen, first, count, kinds);
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

/* Writes `count` calls with ids first.. and at most `window` outstanding,
 * reading replies as they come. Returns milliseconds from the first write
 * to the last reply. */
static double run_calls(struct server *s, unsigned first, unsigned count, unsigned window,
                        const enum call_kind *kinds)
{
    /* Every request is built before the clock starts. */
    size_t cap = (size_t)count * 200 + 1;
    char *out = malloc(cap);
    size_t *line_end = malloc((size_t)count * sizeof *line_end);
    unsigned char *seen = calloc(count, 1);
    if (!out || !line_end || !seen)
        die("out of memory");
    size_t total = 0;
    for (unsigned i = 0; i < count; i++) {
        total += (size_t)append_call(out + total, cap - total, first + i, kinds[i]);
        line_end[i] = total;
    }

    size_t written = 0;
    unsigned received = 0;
    double t0 = now_ms(), last_progress = t0;
    while (received < count) {
        /* Lines up to received + window may be on their way. */
        unsigned may = received + window < count ? received + window : count;
        size_t allowed = may ? line_end[may - 1] : 0;
        struct pollfd pf[2] = {
            {.fd = s->out_fd, .events = POLLIN},
            {.fd = s->in_fd, .events = written < allowed ? POLLOUT : 0}};
        int pr = poll(pf, 2, 1000);
        if (pr < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        if (pf[1].revents & (POLLOUT | POLLERR)) {
            ssize_t n = write(s->in_fd, out + written, allowed - written);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                die("writing to the server: %s", strerror(errno));
            if (n > 0)
                written += (size_t)n;
        }
        if (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            unsigned got = read_replies(s, first, count, kinds, seen);
            if (got)
                last_progress = now_ms();
            received += got;
        }
        if (now_ms() - last_progress > STALL_MS)
            die("no reply for %d ms with %u of %u calls answered", STALL_MS, received,
                count);
    }
    double took = now_ms() - t0;
    free(out);
    free(line_end);
    free(seen);
    return took;
}

static void initialize(struct server *s)
{
    double deadline = now_ms() + STALL_MS;
    size_t off = 0;
    while (off < sizeof init_lines - 1) {
        ssize_t n = write(s->in_fd, init_lines + off, sizeof init_lines - 1 - off);
        if (n > 0)
            off += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            die("writing initialize: %s", strerror(errno));
    }
    for (;;) {
        struct pollfd pf = {.fd = s->out_fd, .events = POLLIN};
        poll(&pf, 1, 100);
        ssize_t n = read(s->out_fd, s->buf + s->len, s->cap - s->len - 1);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
            die("the server closed its output before answering initialize; is the "
                "upstream configuration accepted?");
        if (n > 0)
            s->len += (size_t)n;
        char *nl = memchr(s->buf, '\n', s->len);
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

/* ---- the measurements ---------------------------------------------------- */

static void throughput_run(const struct options *o, struct round *r, unsigned round_no)
{
    char base[1024], inflight[64];
    snprintf(base, sizeof base, "MSG91_BASE_URL=%s", o->base_url);
    snprintf(inflight, sizeof inflight, "MSG91_MAX_INFLIGHT=%u", o->max_inflight);
    char *env[] = {base, "MSG91_AUTH_KEY=bench-key", "MSG91_LOG_LEVEL=error",
                   o->max_inflight ? inflight : NULL, NULL};
    struct server s;
    server_spawn(&s, o->binary, env);
    initialize(&s);

    enum call_kind *kinds = malloc(o->calls * sizeof *kinds);
    if (!kinds)
        die("out of memory");
    for (unsigned i = 0; i < o->calls; i++)
        kinds[i] = o->mix && i % 2 ? KIND_VERIFY : KIND_CAMPAIGNS;

    double u0, s0, u1, s1;
    server_cpu_ms(s.pid, &u0, &s0);
    double took = run_calls(&s, 1, o->calls, o->window, kinds);
    server_cpu_ms(s.pid, &u1, &s1);
    struct mem m = server_mem(s.pid);
    r->hwm_throughput_mib = m.hwm;
    server_stop(&s);
    free(kinds);

    r->calls_per_s = (double)o->calls / (took / 1e3);
    r->cpu_user_ms = (u1 - u0) * 1000.0 / o->calls;
    r->cpu_sys_ms = (s1 - s0) * 1000.0 / o->calls;
    r->cpu_ms_per_1000 = r->cpu_user_ms + r->cpu_sys_ms;

    const char *what = o->mix ? "list_campaigns and verify_otp" : "list_campaigns";
    char inflight_text[32];
    if (o->max_inflight)
        snprintf(inflight_text, sizeof inflight_text, "%u", o->max_inflight);
    else
        snprintf(inflight_text, sizeof inflight_text, "default");
    printf("run %u: throughput, instant upstream: %.0f calls/s (%u %s calls, window %u, "
           "max in flight %s, %.1f ms)\n",
           round_no, r->calls_per_s, o->calls, what, o->window, inflight_text, took);
    printf("run %u: server CPU per 1,000 calls, instant upstream: %.1f ms (user %.1f, "
           "system %.1f)\n",
           round_no, r->cpu_ms_per_1000, r->cpu_user_ms, r->cpu_sys_ms);
    printf(
        "run %u: server peak memory (VmHWM) after the throughput run: %.1f MiB (resident "
        "at the end: %.1f MiB anonymous, %.1f MiB file-backed)\n",
        round_no, m.hwm, m.anon, m.file);
    fflush(stdout);
}

static void burst_run(const struct options *o, struct round *r, unsigned round_no)
{
    char tmpl[] = "/tmp/bench_engine.XXXXXX";
    int fd = mkstemp(tmpl);
    if (fd < 0)
        die("mkstemp: %s", strerror(errno));
    config_path = tmpl;
    FILE *f = fdopen(fd, "w");
    fprintf(f,
            "{\"endpoints\":{\"list_campaigns\":{\"method\":\"GET\",\"path\":\"%s\"}}}\n",
            o->slow_path);
    fclose(f);

    char base[1024], cfg[64], inflight[64];
    snprintf(base, sizeof base, "MSG91_BASE_URL=%s", o->base_url);
    snprintf(cfg, sizeof cfg, "MSG91_CONFIG=%s", tmpl);
    snprintf(inflight, sizeof inflight, "MSG91_MAX_INFLIGHT=%u", o->burst);
    char *env[] = {
        base, cfg, inflight, "MSG91_AUTH_KEY=bench-key", "MSG91_LOG_LEVEL=error", NULL};
    struct server s;
    server_spawn(&s, o->binary, env);
    initialize(&s);

    enum call_kind *kinds = calloc(o->burst, sizeof *kinds);
    if (!kinds)
        die("out of memory");
    /* The first burst opens its connections; the second finds them open. */
    r->burst_ms = run_calls(&s, 1, o->burst, o->burst, kinds);
    r->burst_again_ms = run_calls(&s, 1 + o->burst, o->burst, o->burst, kinds);
    struct mem m = server_mem(s.pid);
    r->hwm_burst_mib = m.hwm;
    server_stop(&s);
    free(kinds);
    unlink(tmpl);
    config_path = NULL;

    printf("run %u: %u concurrent calls, 200 ms upstream: %.1f ms (first burst, new "
           "connections)\n",
           round_no, o->burst, r->burst_ms);
    printf("run %u: %u concurrent calls, 200 ms upstream: %.1f ms (second burst, "
           "connections reused)\n",
           round_no, o->burst, r->burst_again_ms);
    printf("run %u: server peak memory (VmHWM) after the concurrency run: %.1f MiB "
           "(resident at the end: %.1f MiB anonymous, %.1f MiB file-backed)\n",
           round_no, m.hwm, m.anon, m.file);
    fflush(stdout);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The median of one field over the rounds. */
static double median(const struct round *rs, unsigned n, size_t offset)
{
    double v[n];
    for (unsigned i = 0; i < n; i++)
        memcpy(&v[i], (const char *)&rs[i] + offset, sizeof v[i]);
    /* Every element was filled above; cppcheck does not follow the VLA. */
    qsort(v, n, sizeof v[0], cmp_double); // cppcheck-suppress uninitvar
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
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
    fprintf(stderr, "usage: bench_engine [-n CALLS] [-w WINDOW] [-i MAX_INFLIGHT] "
                    "[-c CONCURRENT] [-s SLOW_PATH] [-m] [-r RUNS] BINARY BASE_URL\n");
    exit(2);
}

int main(int argc, char **argv)
{
    struct options o = {
        .calls = 20000,
        .window = 256,
        .burst = 1000,
        .slow_path = "/slow/campaigns",
        .runs = 3,
    };
    int opt;
    while ((opt = getopt(argc, argv, "n:w:i:c:s:mr:")) != -1) {
        switch (opt) {
        case 'n':
            o.calls = parse_count(optarg, "-n");
            break;
        case 'w':
            o.window = parse_count(optarg, "-w");
            break;
        case 'i':
            o.max_inflight = parse_count(optarg, "-i");
            break;
        case 'c':
            o.burst = parse_count(optarg, "-c");
            break;
        case 's':
            o.slow_path = optarg;
            break;
        case 'm':
            o.mix = true;
            break;
        case 'r':
            o.runs = parse_count(optarg, "-r");
            break;
        default:
            usage();
        }
    }
    if (argc - optind != 2)
        usage();
    o.binary = argv[optind];
    o.base_url = argv[optind + 1];
    if (o.burst > 10000)
        die("-c is at most 10000 (the server's in-flight cap)");
    signal(SIGPIPE, SIG_IGN);

    struct round *rs = calloc(o.runs, sizeof *rs);
    if (!rs)
        die("out of memory");
    for (unsigned i = 0; i < o.runs; i++) {
        throughput_run(&o, &rs[i], i + 1);
        burst_run(&o, &rs[i], i + 1);
    }

    unsigned n = o.runs;
    double cps = median(rs, n, offsetof(struct round, calls_per_s));
    double cpu = median(rs, n, offsetof(struct round, cpu_ms_per_1000));
    double hwm1 = median(rs, n, offsetof(struct round, hwm_throughput_mib));
    double hwm2 = median(rs, n, offsetof(struct round, hwm_burst_mib));
    double burst = median(rs, n, offsetof(struct round, burst_ms));
    double again = median(rs, n, offsetof(struct round, burst_again_ms));
    double peak = hwm1 > hwm2 ? hwm1 : hwm2;
    printf("median of %u runs: throughput, instant upstream: %.0f calls/s\n", n, cps);
    printf("median of %u runs: server CPU per 1,000 calls, instant upstream: %.1f ms\n",
           n, cpu);
    printf("median of %u runs: server peak memory: %.1f MiB (throughput run %.1f, "
           "concurrency run %.1f)\n",
           n, peak, hwm1, hwm2);
    printf("median of %u runs: %u concurrent calls, 200 ms upstream: %.1f ms (first "
           "burst), %.1f ms (second burst)\n",
           n, o.burst, burst, again);
    bool ok = cps >= TARGET_CALLS_PER_S && cpu <= TARGET_CPU_MS_PER_1000 &&
              peak < TARGET_PEAK_MIB && burst < TARGET_BURST_MS;
    printf("summary: %.0f calls/s (target >= %.0f), %.1f ms CPU per 1,000 calls (target "
           "<= %.0f), peak %.1f MiB (target < %.0f), %u concurrent calls in %.1f ms "
           "(target < %.0f): %s\n",
           cps, TARGET_CALLS_PER_S, cpu, TARGET_CPU_MS_PER_1000, peak, TARGET_PEAK_MIB,
           o.burst, burst, TARGET_BURST_MS, ok ? "all targets met" : "TARGETS MISSED");
    free(rs);
    return 0;
}
