/* The allocation-failure sweep. One scripted MCP session (initialize,
 * tools/list, logging/setLevel, tool calls with valid and invalid
 * arguments, one without arguments, an unknown tool, a request whose id is
 * the auth key, a cancellation for an unknown id, ping), with the audit log
 * and debug logging on, is served by the real server core (serve_stdio over
 * pipes, as the binary does) once per failing allocation N, in a forked
 * child, with exactly the Nth allocation failing (see alloc_hook.h for what
 * is counted and why). MSG91 is the sandbox, in a process of its own; one
 * upstream call runs at a time so that every run allocates in the same
 * order. Leaks are found by LeakSanitizer under ASan, and otherwise by the
 * hook's table of live blocks.
 *
 * Every run must end in one of: every request answered (normally, or with
 * an error reply), or an exit with a status and an error message on
 * stderr. Never: a crash or sanitizer report, a leak, an unanswered or
 * twice-answered request, a stdout line that is not JSON, a progress
 * notification after its result, or the auth key anywhere in stdout,
 * stderr or the audit log.
 *
 * Every N from 1 to the session's allocation count (about 1,900) is tried,
 * in MSG91_ALLOC_JOBS processes (2 by default). Under AddressSanitizer,
 * where a run costs several times more, the default is every third N plus
 * the first and last 64 (a dense sample); MSG91_ALLOC_STRIDE=k sets the
 * step (1: all). MSG91_ALLOC_ONLY=N runs one N and prints its output, to
 * investigate a failure. */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "server/config.h"
#include "server/serve.h"
#include "tests/alloc_hook.h"
#include "tools/service.h"
#include "util/log.h"
#include "util/redact.h"

#include <curl/curl.h>

#define KEY "alloc-sweep-secret-key-9f3b2"

#if defined(__SANITIZE_ADDRESS__)
#define DEFAULT_STRIDE 3
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define DEFAULT_STRIDE 3
#endif
#endif
#ifndef DEFAULT_STRIDE
#define DEFAULT_STRIDE 1
#endif

/* Requests carry ids 1..N_REQUESTS, except the one whose id is the key and
 * is answered with the redacted id. */
static const char *const session[] = {
    "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
    "\"protocolVersion\":\"2025-06-18\",\"capabilities\":{},\"clientInfo\":{\"name\":"
    "\"sweep\",\"version\":\"1\"}}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/list\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"logging/setLevel\",\"params\":{\"level\":"
    "\"debug\"}}",
    "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"send_otp\",\"arguments\":{\"mobile\":\"+919876543210\",\"template_id\":\"" KEY
    "\"},\"_meta\":{\"progressToken\":\"p4\"}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"list_campaigns\",\"arguments\":{\"limit\":2}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":6,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"verify_otp\",\"arguments\":{\"mobile\":\"x\",\"otp\":\"1\"}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"get_event_types\"}}",
    "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/cancelled\",\"params\":{"
    "\"requestId\":99}}",
    "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{\"name\":"
    "\"no_such_tool\",\"arguments\":{}}}",
    "{\"jsonrpc\":\"2.0\",\"id\":\"" KEY "\",\"method\":\"resources/list\"}",
    "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"ping\"}",
};
/* The ids as they must come back (the key's one redacted). */
static const char *const expected_ids[] = {
    "1", "2", "3", "4", "5", "6", "7", "8", "\"[REDACTED]\"", "9",
};
#define N_EXPECTED (sizeof expected_ids / sizeof *expected_ids)

/* A crash inside libcurl's curl_multi_socket_action: the HTTP engine once
 * returned -1 from its socket callback when its own calloc failed and then
 * ignored the CURLM error, and libcurl 7.88 crashed on the next call. The
 * engine now takes socket contexts from a pool and replaces a multi handle
 * that reported an error, so such a crash fails the sweep like any other;
 * it is still counted on its own row to say where it happened. */
#define TOLERATE_CURL_CRASH 0

enum outcome {
    OUT_CLEAN,       /* every reply of the same kind as without a failure */
    OUT_INTERNAL,    /* every request answered, at least one with -32603 */
    OUT_OTHER_ERROR, /* every request answered, some with another error */
    OUT_EXIT_ERROR,  /* exited non-zero with an error message */
    OUT_CRASH,
    OUT_CURL_CRASH,  /* a crash in libcurl (see TOLERATE_CURL_CRASH) */
    OUT_EXIT_SILENT, /* exited non-zero without saying why */
    OUT_COUNT
};
static const char *const outcome_names[] = {
    "clean replies",          "a -32603 reply", "another error reply",
    "exit with an error",     "crash",          "crash inside libcurl",
    "exit without a message",
};

struct run {
    unsigned long allocations, live;
    bool failed; /* the armed failure happened */
    enum outcome outcome;
    unsigned unanswered, duplicates, invalid_lines, key_leaks, late_progress, leaks;
    char *out, *err;
    char kinds[N_EXPECTED]; /* 'r' result, 't' tool error, 'e' error, 0 none */
};

static char audit_path[256];
static char base_url[64];
static pid_t sandbox_pid;

/* The sandbox runs in its own process, forked before this one creates any
 * thread, so every child below forks a single-threaded parent. */
static int start_sandbox(void)
{
    int port_pipe[2], stop_pipe[2];
    if (pipe(port_pipe) != 0 || pipe(stop_pipe) != 0)
        return -1;
    sandbox_pid = fork();
    if (sandbox_pid < 0)
        return -1;
    if (sandbox_pid == 0) {
        close(port_pipe[0]);
        close(stop_pipe[1]);
        char *error = NULL;
        struct sandbox_options opts = {.seed = 42};
        struct sandbox *sb = sandbox_create(&opts, &error);
        unsigned port = sb ? sandbox_port(sb) : 0;
        if (write(port_pipe[1], &port, sizeof port) != sizeof port)
            _exit(1);
        char c;
        while (read(stop_pipe[0], &c, 1) < 0 && errno == EINTR)
            ;
        sandbox_destroy(sb);
        _exit(0);
    }
    close(port_pipe[1]);
    close(stop_pipe[0]);
    unsigned port = 0;
    if (read(port_pipe[0], &port, sizeof port) != sizeof port || port == 0)
        return -1;
    close(port_pipe[0]);
    /* stop_pipe[1] stays open until this process exits, which stops it. */
    snprintf(base_url, sizeof base_url, "http://127.0.0.1:%u", port);
    return 0;
}

/* A crash prints where it happened. Under AddressSanitizer its own report
 * does that, and its handlers stay. */
#if DEFAULT_STRIDE == 1
static void on_crash(int sig)
{
    void *frames[64];
    int n = backtrace(frames, 64);
    static const char head[] = "crash; backtrace:\n";
    if (write(STDERR_FILENO, head, sizeof head - 1) < 0)
        _exit(128 + sig);
    backtrace_symbols_fd(frames, n, STDERR_FILENO);
    signal(sig, SIG_DFL);
    raise(sig);
}

static void catch_crashes(void)
{
    void *frames[4];
    backtrace(frames, 4); /* loads the unwinder now, not in the handler */
    signal(SIGSEGV, on_crash);
    signal(SIGBUS, on_crash);
    signal(SIGFPE, on_crash);
    signal(SIGABRT, on_crash);
}
#else
static void catch_crashes(void)
{
}
#endif

/* The child: the server core on pipes, with the Nth allocation failing. */
static void child(unsigned long n, int in_fd, int out_fd, int err_fd, int report_fd)
{
    dup2(in_fd, STDIN_FILENO);
    dup2(out_fd, STDOUT_FILENO);
    dup2(err_fd, STDERR_FILENO);
    close(in_fd);
    close(out_fd);
    close(err_fd);
    catch_crashes();
    struct config cfg;
    config_init(&cfg);
    free(cfg.base_url);
    cfg.base_url = strdup(base_url);
    cfg.auth_key = strdup(KEY);
    cfg.audit_log = strdup(audit_path);
    cfg.timeout_ms = 3000;
    /* One upstream call at a time: the calls then finish in the order they
     * were sent, so the Nth allocation is the same one in every run. */
    cfg.max_inflight = 1;
    cfg.log_level = LOG_LEVEL_DEBUG;
    /* In memory: every run starts from an empty store, and no run waits on
     * a SQLite file another job holds. */
    cfg.store = strdup("memory");
    log_set_level(LOG_LEVEL_DEBUG);
    log_set_personal(service.personal);
    alloc_hook_arm(n, false);
    if (getenv("MSG91_ALLOC_TRACE"))
        alloc_hook_trace(strtoul(getenv("MSG91_ALLOC_TRACE"), NULL, 10));
    int rc = 1;
    if (redact_set_secret(KEY) != 0)
        fprintf(stderr, "msg91-mcp: error: out of memory\n");
    else
        rc = serve_stdio(&cfg);
    redact_clear();
    unsigned long report[3] = {alloc_hook_count(), alloc_hook_live(),
                               alloc_hook_failed()};
    if (report[1])
        alloc_hook_print_live(stderr);
    alloc_hook_disarm();
    if (write(report_fd, report, sizeof report) != sizeof report)
        rc = 99;
    config_finish(&cfg);
    /* exit, not _exit: LeakSanitizer checks at exit. */
    exit(rc);
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    char *grown = realloc(*buf, *len + n + 1);
    if (!grown)
        abort();
    memcpy(grown + *len, data, n);
    *len += n;
    grown[*len] = '\0';
    *buf = grown;
}

/* Collects the child's stdout, stderr and report until all three close. */
static void collect(struct run *r, int out_fd, int err_fd, int report_fd)
{
    size_t out_len = 0, err_len = 0;
    r->out = strdup("");
    r->err = strdup("");
    struct pollfd fds[3] = {
        {out_fd, POLLIN, 0}, {err_fd, POLLIN, 0}, {report_fd, POLLIN, 0}};
    unsigned long report[3] = {0};
    size_t report_len = 0;
    int open_fds = 3;
    while (open_fds > 0) {
        if (poll(fds, 3, -1) < 0 && errno != EINTR)
            abort();
        for (int i = 0; i < 3; i++) {
            if (fds[i].fd < 0 || !fds[i].revents)
                continue;
            char buf[65536];
            ssize_t got = read(fds[i].fd, buf, sizeof buf);
            if (got <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else if (i == 0) {
                append(&r->out, &out_len, buf, (size_t)got);
            } else if (i == 1) {
                append(&r->err, &err_len, buf, (size_t)got);
            } else if (report_len + (size_t)got <= sizeof report) {
                memcpy((char *)report + report_len, buf, (size_t)got);
                report_len += (size_t)got;
            }
        }
    }
    r->allocations = report[0];
    r->live = report[1];
    r->failed = report[2] != 0;
}

static int spawn_run(unsigned long n, struct run *r, int *status)
{
    int in[2], out[2], err[2], rep[2];
    if (pipe(in) || pipe(out) || pipe(err) || pipe(rep))
        return -1;
    for (size_t i = 0; i < sizeof session / sizeof *session; i++) {
        /* The whole session fits in the pipe, so this never blocks. */
        if (write(in[1], session[i], strlen(session[i])) < 0 ||
            write(in[1], "\n", 1) != 1)
            return -1;
    }
    close(in[1]);
    unlink(audit_path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        close(out[0]);
        close(err[0]);
        close(rep[0]);
        child(n, in[0], out[1], err[1], rep[1]);
    }
    close(in[0]);
    close(out[1]);
    close(err[1]);
    close(rep[1]);
    collect(r, out[0], err[0], rep[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR)
        ;
    return 0;
}

static int expected_index(const char *id)
{
    for (size_t i = 0; i < N_EXPECTED; i++)
        if (!strcmp(id, expected_ids[i]))
            return (int)i;
    /* Without memory for a redacted copy, the key is masked in place. */
    char masked[sizeof KEY + 2];
    memset(masked, '*', sizeof masked - 1);
    masked[0] = masked[sizeof masked - 2] = '"';
    masked[sizeof masked - 1] = '\0';
    return strcmp(id, masked) ? -1 : (int)N_EXPECTED - 2;
}

static char kind_of(json_t *reply)
{
    json_t *result = json_object_get(reply, "result");
    if (result)
        return json_is_true(json_object_get(result, "isError")) ? 't' : 'r';
    return 'e';
}

/* One reply: checks its id and records its kind. */
static void check_reply(struct run *r, json_t *reply, bool *internal)
{
    char *id = json_dumps(json_object_get(reply, "id"), JSON_ENCODE_ANY | JSON_COMPACT);
    int i = id ? expected_index(id) : -1;
    free(id);
    if (i < 0 || r->kinds[i]) {
        r->duplicates++;
        return;
    }
    r->kinds[i] = kind_of(reply);
    json_t *code = json_object_get(json_object_get(reply, "error"), "code");
    if (json_integer_value(code) == -32603)
        *internal = true;
}

/* Walks stdout line by line; true when some reply was a -32603. */
static bool check_output(struct run *r)
{
    bool internal = false, answered_p4 = false;
    for (char *line = r->out; *line;) {
        char *nl = strchr(line, '\n');
        size_t len = nl ? (size_t)(nl - line) : strlen(line);
        json_t *v = json_loadb(line, len, 0, NULL);
        if (!v || !nl) {
            r->invalid_lines++;
        } else if (json_object_get(v, "method")) {
            json_t *params = json_object_get(v, "params");
            const char *token =
                json_string_value(json_object_get(params, "progressToken"));
            if (token && !strcmp(token, "p4") && answered_p4)
                r->late_progress++;
        } else {
            check_reply(r, v, &internal);
            answered_p4 = answered_p4 || r->kinds[3];
        }
        json_decref(v);
        line += len + (nl ? 1 : 0);
    }
    return internal;
}

/* True when the innermost frame of the crash is in libcurl: the third
 * line of our backtrace (after the handler and the signal frame), or
 * frame #0 of a sanitizer report. */
static bool crashed_in_curl(const char *err)
{
    const char *p = strstr(err, "crash; backtrace:\n");
    if (p) {
        for (int i = 0; i < 3 && p; i++)
            p = strchr(p + 1, '\n');
    } else if ((p = strstr(err, "    #0 "))) {
        p--;
    }
    if (!p)
        return false;
    const char *end = strchr(p + 1, '\n');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    return memmem(p, n, "libcurl.so", 10) != NULL;
}

static void classify(struct run *r, int status, const struct run *baseline)
{
    char *audit = NULL;
    FILE *f = fopen(audit_path, "r");
    if (f) {
        size_t len = 0;
        char buf[65536];
        size_t got;
        audit = strdup("");
        while ((got = fread(buf, 1, sizeof buf, f)) > 0)
            append(&audit, &len, buf, got);
        fclose(f);
    }
    r->key_leaks = (strstr(r->out, KEY) != NULL) + (strstr(r->err, KEY) != NULL) +
                   (audit && strstr(audit, KEY) != NULL);
    free(audit);
    bool sanitizer = strstr(r->err, "Sanitizer") != NULL;
    r->leaks = strstr(r->err, "LeakSanitizer") != NULL ||
               (r->live != 0 && r->live != (unsigned long)-1 && WIFEXITED(status));
    bool internal = check_output(r);
    if (WIFSIGNALED(status) || (sanitizer && !strstr(r->err, "LeakSanitizer"))) {
        r->outcome = crashed_in_curl(r->err) ? OUT_CURL_CRASH : OUT_CRASH;
        return;
    }
    if (WEXITSTATUS(status) != 0) {
        r->outcome = strstr(r->err, ": error: ") ? OUT_EXIT_ERROR : OUT_EXIT_SILENT;
        return;
    }
    bool same = true;
    for (size_t i = 0; i < N_EXPECTED; i++) {
        if (!r->kinds[i])
            r->unanswered++;
        else if (baseline && r->kinds[i] != baseline->kinds[i])
            same = false;
    }
    r->outcome = internal ? OUT_INTERNAL : same ? OUT_CLEAN : OUT_OTHER_ERROR;
}

static bool bad(const struct run *r)
{
    return r->outcome == OUT_CRASH || r->outcome == OUT_EXIT_SILENT ||
           (r->outcome == OUT_CURL_CRASH && !TOLERATE_CURL_CRASH) || r->unanswered ||
           r->duplicates || r->invalid_lines || r->key_leaks || r->late_progress ||
           r->leaks;
}

static void show(unsigned long n, const struct run *r)
{
    fprintf(stderr,
            "N=%lu: %s; unanswered %u, duplicates %u, invalid lines %u, key leaks %u, "
            "late progress %u, leaks %u (live %lu)\n--- stdout\n%s--- stderr\n%s---\n",
            n, outcome_names[r->outcome], r->unanswered, r->duplicates, r->invalid_lines,
            r->key_leaks, r->late_progress, r->leaks, r->live, r->out, r->err);
}

static void one(unsigned long n, struct run *r, const struct run *baseline)
{
    memset(r, 0, sizeof *r);
    int status = 0;
    if (spawn_run(n, r, &status) != 0) {
        perror("spawn");
        exit(2);
    }
    classify(r, status, baseline);
}

struct tally {
    unsigned long outcomes[OUT_COUNT], runs, unanswered, duplicates, invalid, key_leaks,
        late, leaks, bad, never_failed;
};

static void add_run(struct tally *t, unsigned long n, const struct run *r)
{
    t->runs++;
    t->outcomes[r->outcome]++;
    t->unanswered += r->unanswered > 0;
    t->duplicates += r->duplicates > 0;
    t->invalid += r->invalid_lines > 0;
    t->key_leaks += r->key_leaks > 0;
    t->late += r->late_progress > 0;
    t->leaks += r->leaks > 0;
    t->never_failed += !r->failed;
    if (!bad(r))
        return;
    /* The first few in full, the rest in one line each. */
    if (t->bad++ < 3)
        show(n, r);
    else
        fprintf(stderr, "N=%lu: %s, unanswered %u, leaks %u\n", n,
                outcome_names[r->outcome], r->unanswered, r->leaks);
}

/* Worker `w` of `jobs` runs every jobs-th N of the sweep, in its own
 * process with its own audit file, and sends back its tally. */
static void worker(unsigned w, unsigned jobs, unsigned long total, unsigned long stride,
                   const struct run *base, int fd)
{
    snprintf(audit_path, sizeof audit_path, "/tmp/msg91-alloc-sweep-%ld.audit",
             (long)getpid());
    struct tally t;
    memset(&t, 0, sizeof t);
    unsigned long index = 0;
    for (unsigned long n = 1; n <= total + 8; n++) {
        if (stride > 1 && n > 64 && n + 64 < total && n % stride != 0)
            continue;
        if (index++ % jobs != w)
            continue;
        struct run r;
        one(n, &r, base);
        add_run(&t, n, &r);
        free(r.out);
        free(r.err);
    }
    unlink(audit_path);
    ssize_t wrote = write(fd, &t, sizeof t);
    _exit(wrote == (ssize_t)sizeof t ? 0 : 1);
}

static unsigned long env_number(const char *name, unsigned long fallback)
{
    const char *v = getenv(name);
    unsigned long n = v ? strtoul(v, NULL, 10) : 0;
    return n ? n : fallback;
}

static void print_tally(const struct tally *t, unsigned long total, unsigned long stride,
                        unsigned jobs)
{
    printf("allocation-failure sweep: %lu allocations in a clean session; %lu runs "
           "(stride %lu, %u processes)\n",
           total, t->runs, stride, jobs);
    for (int i = 0; i < OUT_COUNT; i++)
        printf("  %-30s %6lu\n", outcome_names[i], t->outcomes[i]);
    const struct {
        const char *name;
        unsigned long value;
    } rows[] = {
        {"runs with unanswered requests", t->unanswered},
        {"runs with duplicate replies", t->duplicates},
        {"runs with invalid JSON lines", t->invalid},
        {"runs with the key in output", t->key_leaks},
        {"runs with progress after result", t->late},
        {"runs with leaks", t->leaks},
        {"runs past the last allocation", t->never_failed},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++)
        printf("  %-30s %6lu\n", rows[i].name, rows[i].value);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(audit_path, sizeof audit_path, "/tmp/msg91-alloc-sweep-%ld.audit",
             (long)getpid());
    if (start_sandbox() != 0) {
        fprintf(stderr, "cannot start the sandbox\n");
        return 2;
    }
    /* libcurl's global set-up (TLS libraries) once here, not in every child:
     * the engine's own curl_global_init then only counts a reference. */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    alloc_hook_route_jansson();

    struct run base;
    one(0, &base, NULL);
    if (bad(&base) || base.outcome != OUT_CLEAN) {
        fprintf(stderr, "the session fails without any allocation failure\n");
        show(0, &base);
        return 1;
    }
    const char *only = getenv("MSG91_ALLOC_ONLY");
    if (only) {
        struct run r;
        one(strtoul(only, NULL, 10), &r, &base);
        show(strtoul(only, NULL, 10), &r);
        return bad(&r);
    }
    unsigned long total = base.allocations;
    unsigned long stride = env_number("MSG91_ALLOC_STRIDE", DEFAULT_STRIDE);
    unsigned jobs = (unsigned)env_number("MSG91_ALLOC_JOBS", 2);
    int fds[64];
    pid_t pids[64];
    if (jobs > 64)
        jobs = 64;
    fflush(NULL);
    for (unsigned w = 0; w < jobs; w++) {
        int p[2];
        if (pipe(p) != 0)
            return 2;
        pid_t pid = fork();
        if (pid < 0)
            return 2;
        if (pid == 0) {
            close(p[0]);
            worker(w, jobs, total, stride, &base, p[1]);
        }
        close(p[1]);
        fds[w] = p[0];
        pids[w] = pid;
    }
    struct tally sum;
    memset(&sum, 0, sizeof sum);
    int rc = 0;
    for (unsigned w = 0; w < jobs; w++) {
        struct tally t;
        if (read(fds[w], &t, sizeof t) != (ssize_t)sizeof t) {
            fprintf(stderr, "sweep process %u died\n", w);
            rc = 1;
            continue;
        }
        for (int i = 0; i < OUT_COUNT; i++)
            sum.outcomes[i] += t.outcomes[i];
        sum.runs += t.runs;
        sum.unanswered += t.unanswered;
        sum.duplicates += t.duplicates;
        sum.invalid += t.invalid;
        sum.key_leaks += t.key_leaks;
        sum.late += t.late;
        sum.leaks += t.leaks;
        sum.bad += t.bad;
        sum.never_failed += t.never_failed;
    }
    for (unsigned w = 0; w < jobs; w++)
        while (waitpid(pids[w], NULL, 0) < 0 && errno == EINTR)
            ;
    print_tally(&sum, total, stride, jobs);
    free(base.out);
    free(base.err);
    unlink(audit_path);
    return rc || sum.bad ? 1 : 0;
}
