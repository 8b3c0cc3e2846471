/* Fuzz target: the whole stdin path of the server. Bytes go through the
 * line framing, the JSON-RPC parser and the MCP session into the tool
 * dispatch, which calls a real sandbox (sandbox/sandbox.h) over loopback
 * HTTP with the real engine, as `msg91-mcp` does against MSG91.
 *
 * Input: byte 0 picks the set-up, the rest is what the client writes.
 *   bits 0-1  configuration: 0 sandbox + key + audit, 1 dry run,
 *             2 sandbox without a key, 3 sandbox + read-only + tool prefix +
 *             allowlist + a 300-byte line cap
 *   bits 2-4  a misbehaviour rule for the sandbox (0: none)
 *   bits 5-7  how the stream is cut into reads: 0 whole, else 2^(n-1) bytes
 *
 * One sandbox serves the whole process and is reset before every input; a
 * dispatch per configuration is created once (compiling the tool schemas
 * per input would dominate). Each input gets a fresh session, and the loop
 * runs until every call it started has finished.
 *
 * Checks besides the sanitizers: every output line is one JSON object or
 * array without a newline, and no line holds the auth key or its first
 * half. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "sandbox/sandbox.h"
#include "server/config.h"
#include "server/dispatch.h"
#include "server/framing.h"
#include "server/mcp.h"
#include "tools/tool.h"
#include "util/log.h"
#include "util/redact.h"

#include "known.h"

#define FUZZ_KEY "fuzz-key-3b9f07c2d1e8a4"
#define VARIANTS 4

static uv_loop_t loop;
static struct sandbox *sandbox;
static char audit_path[] = "/tmp/msg91-fuzz-audit-XXXXXX";
static int audit_fd = -1;
static struct config configs[VARIANTS];
static struct dispatch *dispatches[VARIANTS];
static bool echo; /* FUZZ_ECHO=1 prints the output lines, to read a finding */
static bool allow_prefix;
/* True when this input itself may spell part of the key: libFuzzer learns
 * the key's bytes from the comparisons in the redaction code and puts them
 * into arguments, which the server then echoes (in a schema error, say).
 * Echoing what the client sent is no leak, so the prefix check is off for
 * such inputs; the whole-key check stays on for every input. */
static bool input_spells_key;

/* Rules for POST /_sandbox/misbehave (doc/sandbox.md), made by
 * make_rules(). None delays or answers 5xx/429 to a read-only tool: those
 * are retried after a backoff, which would cost 200 ms per input for
 * nothing new. Two echo the key where the readers cut excerpts: in the
 * Content-Type (cut at 60 bytes) and, JSON-escaped, in an error message
 * (cut at 300 bytes after decoding). */
static char *rules[8];

static char *rule_json(json_t *rule)
{
    char *text = json_dumps(rule, JSON_COMPACT);
    json_decref(rule);
    if (!text)
        abort();
    return text;
}

static void make_rules(void)
{
    char pad[300];
    memset(pad, 'x', sizeof pad);
    char content_type[128], body[512];
    snprintf(content_type, sizeof content_type, "text/html; p=%.32s%s", pad, FUZZ_KEY);
    /* "\u0066" is the key's first letter: the raw body does not hold the
     * key, its decoded message does. */
    snprintf(body, sizeof body, "{\"type\":\"error\",\"message\":\"%.285s\\u0066%s\"}",
             pad, &FUZZ_KEY[1]);
    rules[1] = rule_json(json_pack("{s:s,s:i}", "tool", "send_otp", "status", 500));
    rules[2] = rule_json(json_pack("{s:s,s:b}", "tool", "send_sms_flow", "reset", 1));
    rules[3] = rule_json(json_pack("{s:i}", "huge_bytes", 20000));
    rules[4] = rule_json(json_pack("{s:s}", "content_type", content_type));
    rules[5] = rule_json(json_pack("{s:s}", "body", body));
    rules[6] = rule_json(json_pack("{s:i,s:s}", "status", 404, "body",
                                   "{\"type\":\"error\",\"msg\":\"Route Missing\"}"));
    rules[7] =
        rule_json(json_pack("{s:s,s:i}", "body", "<html>not json</html>", "count", 1));
}

/* One blocking HTTP/1.0 request to the sandbox's control API. The harness
 * talks to it directly rather than through the engine under test. */
static void control_blocked(const char *method, const char *what, const char *body);

/* libFuzzer's -timeout alarm (SIGALRM, no SA_RESTART) would interrupt the
 * blocking calls below with EINTR; it is held back until they are done. */
static void control(const char *method, const char *what, const char *body)
{
    sigset_t alarm, old;
    sigemptyset(&alarm);
    sigaddset(&alarm, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &alarm, &old);
    control_blocked(method, what, body);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void control_blocked(const char *method, const char *what, const char *body)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in addr = {.sin_family = AF_INET,
                               .sin_port = htons(sandbox_port(sandbox)),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        perror("fuzz_session: sandbox control");
        abort();
    }
    char req[1024];
    int n = snprintf(req, sizeof req,
                     "%s /_sandbox/%s HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                     "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                     method, what, body ? strlen(body) : 0, body ? body : "");
    if (write(fd, req, (size_t)n) != n)
        abort();
    char buf[4096];
    while (read(fd, buf, sizeof buf) > 0)
        ;
    close(fd);
}

static void configure(unsigned v, struct config *c)
{
    config_init(c);
    c->timeout_ms = 5000;
    c->max_inflight = 2;
    c->log_level = LOG_LEVEL_ERROR;
    free(c->base_url);
    if (asprintf(&c->base_url, "http://127.0.0.1:%u", (unsigned)sandbox_port(sandbox)) <
        0)
        abort();
    if (v != 2)
        c->auth_key = strdup(FUZZ_KEY);
    if (v == 0)
        c->audit_log = strdup(audit_path);
    if (v == 1)
        c->dry_run = true;
    if (v == 3) {
        c->read_only = true;
        c->tool_prefix = strdup("msg91_");
        c->max_line_bytes = 300;
        for (unsigned i = 0; i < tool_table_len; i++)
            c->tool_enabled[i] = i % 3 != 1; /* a mix of read-only and not */
    }
}

static void setup(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    redact_set_secret(FUZZ_KEY);
    echo = getenv("FUZZ_ECHO") != NULL;
    allow_prefix = fuzz_known("key-prefix");
    make_rules();
    if (uv_loop_init(&loop) != 0)
        abort();
    audit_fd = mkstemp(audit_path);
    if (audit_fd < 0)
        abort();
    char *error = NULL;
    struct sandbox_options opts = {.seed = 1};
    sandbox = sandbox_create(&opts, &error);
    if (!sandbox) {
        fprintf(stderr, "fuzz_session: sandbox: %s\n", error);
        abort();
    }
    for (unsigned v = 0; v < VARIANTS; v++) {
        configure(v, &configs[v]);
        dispatches[v] = dispatch_create(&configs[v], &loop, &error);
        if (!dispatches[v]) {
            fprintf(stderr, "fuzz_session: dispatch %u: %s\n", v, error);
            abort();
        }
    }
    /* The audit log holds its descriptor now: the name can go, so that
     * nothing is left behind however the process ends. */
    unlink(audit_path);
}

struct run {
    struct mcp_session *session;
    size_t max_line;
};

static int check_line(void *data, const char *line, size_t len)
{
    (void)data;
    if (echo)
        fprintf(stderr, "> %s\n", line);
    if (strlen(line) != len || memchr(line, '\n', len)) {
        fprintf(stderr, "fuzz_session: output line with a newline or NUL\n");
        abort();
    }
    /* The whole key, or enough of it to matter (12 of its 23 characters)
     * unless FUZZ_KNOWN holds "key-prefix" (known.h). */
    if (strstr(line, FUZZ_KEY) ||
        (!allow_prefix && !input_spells_key && memmem(line, len, FUZZ_KEY, 12))) {
        fprintf(stderr, "fuzz_session: the key leaked: %s\n", line);
        abort();
    }
    json_error_t err;
    /* JSON_ALLOW_NUL: a request id may hold \u0000, and the server echoes
     * it back escaped, which is valid JSON. */
    json_t *v = json_loadb(
        line, len, JSON_DECODE_ANY | JSON_DECODE_INT_AS_REAL | JSON_ALLOW_NUL, &err);
    if (!json_is_object(v) && !json_is_array(v)) {
        fprintf(stderr, "fuzz_session: output is not a JSON message: %s\n", line);
        abort();
    }
    json_decref(v);
    return 0;
}

static void on_frame(void *data, enum framing_event event, const char *line, size_t len)
{
    struct run *r = data;
    if (event == FRAMING_LINE)
        mcp_session_handle_line(r->session, line, len);
    else if (event == FRAMING_NOMEM)
        mcp_session_line_lost(r->session);
    else
        mcp_session_line_too_big(r->session, r->max_line);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!sandbox)
        setup();
    if (size == 0)
        return 0;
    /* A random part of the key, plain or behind a JSON escape. */
    input_spells_key =
        memmem(data, size, &FUZZ_KEY[9], 3) || memmem(data, size, "\\u", 2);
    unsigned v = data[0] & 3, rule = (data[0] >> 2) & 7, cut = data[0] >> 5;
    size_t step = cut ? (size_t)1 << (cut - 1) : size;
    control("POST", "reset", NULL);
    if (rules[rule])
        control("POST", "misbehave", rules[rule]);
    if (ftruncate(audit_fd, 0) != 0)
        abort();

    struct run r = {.max_line = (size_t)configs[v].max_line_bytes};
    r.session = mcp_session_create(&loop, dispatches[v], &configs[v], check_line, &r);
    if (!r.session)
        abort();
    struct framing f;
    if (framing_init(&f, r.max_line) != 0)
        abort();
    const char *bytes = (const char *)data + 1;
    size_t left = size - 1;
    while (left > 0) {
        size_t n = left < step ? left : step;
        framing_feed(&f, bytes, n, on_frame, &r);
        bytes += n;
        left -= n;
    }
    framing_end(&f, on_frame, &r);
    framing_finish(&f);
    /* Every call reaches an end: an answer, a failure or the timeout. */
    while (mcp_session_pending(r.session) > 0)
        uv_run(&loop, UV_RUN_ONCE);
    mcp_session_destroy(r.session);
    uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}
