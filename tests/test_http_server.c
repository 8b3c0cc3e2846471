/* End-to-end tests of `msg91-mcp http`: the real binary on a free loopback
 * port (port 0, read back from its first stdout line), with a sandbox in
 * the test process as upstream, spoken to over raw sockets so every byte
 * of a request, and every hostile way of sending it, is under the test's
 * control. Each status code of the transport, the Origin and Host rules,
 * the limits (body size, slow headers, a thousand idle connections, each
 * while a real call goes through), the audit line and SIGTERM finishing a
 * slow call. */
#include <arpa/inet.h>
#include <check.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sandbox/sandbox.h"
#include "server/http_server.h"
#include "server/persona.h"
#include "tests/testutil.h"

/* NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */

#define F testutil_fmt
#define TEST_KEY "http-test-key-5c2e91ab"
#define REPLY_MS 15000
#define ACCEPT_BOTH "Accept: application/json, text/event-stream\r\n"
#define JSON_TYPE "Content-Type: application/json\r\n"
#define V1125 "MCP-Protocol-Version: 2025-11-25\r\n"
#define CALL_CAMPAIGNS                                                                   \
    "{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{\"name\":"      \
    "\"list_campaigns\",\"arguments\":{\"limit\":1}}}"

static struct sandbox *SB;
static unsigned SB_PORT;

static void tcase_setup(void)
{
    struct sandbox_options opts = {.port = 0, .auth_key = TEST_KEY, .seed = 42};
    char *error = NULL;
    SB = sandbox_create(&opts, &error);
    ck_assert_msg(SB != NULL, "sandbox: %s", error ? error : "?");
    SB_PORT = sandbox_port(SB);
}

static void tcase_teardown(void)
{
    sandbox_destroy(SB);
    SB = NULL;
}

/* ---- the server under test ---- */

struct server {
    struct testutil_child child;
    unsigned port;
    char audit[64];
    struct testutil_text err; /* stderr read so far */
};

/* Starts `msg91-mcp http --listen LISTEN` with extra environment entries
 * (NULL-terminated, may be NULL) and reads back its port. */
static void server_start_at(struct server *s, const char *listen,
                            const char *const *extra)
{
    memset(s, 0, sizeof *s);
    snprintf(s->audit, sizeof s->audit, "/tmp/msg91-http-audit-%d.jsonl", (int)getpid());
    unlink(s->audit);
    /* Identical sends repeat here on purpose: safe sends are off
     * (tests/test_safe_send.c tests them). */
    const char *env[18] = {F("MSG91_BASE_URL=http://127.0.0.1:%u", SB_PORT),
                           "MSG91_AUTH_KEY=" TEST_KEY, F("MSG91_AUDIT_LOG=%s", s->audit),
                           "MSG91_DUPLICATE_WINDOW_S=0",
                           "MSG91_OTP_PER_RECIPIENT_PER_HOUR=0"};
    size_t n = 5;
    for (size_t i = 0; extra && extra[i] && n < 17; i++)
        env[n++] = extra[i];
    env[n] = NULL;
    const char *argv[] = {"msg91-mcp", "http", "--listen", listen, NULL};
    ck_assert_int_eq(testutil_spawn(&s->child, argv, env), 0);
    char *line = testutil_read_line(&s->child, REPLY_MS);
    ck_assert_msg(line != NULL, "the server printed no URL");
    const char *colon = strrchr(line, ':');
    ck_assert_msg(!strncmp(line, "http", 4) && colon &&
                      sscanf(colon, ":%u/mcp", &s->port) == 1,
                  "unexpected first line: %s", line);
    free(line);
}

/* Starts `msg91-mcp http` on 127.0.0.1:0. */
static void server_start(struct server *s, const char *const *extra)
{
    server_start_at(s, "127.0.0.1:0", extra);
}

/* Sends SIGTERM and returns the exit status. */
static int server_stop(struct server *s)
{
    kill(s->child.pid, SIGTERM);
    int rc = testutil_finish(&s->child, REPLY_MS);
    unlink(s->audit);
    return rc;
}

/* ---- a raw HTTP/1.1 client ---- */

/* A connected socket to the server, from source address src (NULL: the
 * kernel's choice, 127.0.0.1). */
static int connect_from(const char *src, unsigned port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    if (src) {
        struct sockaddr_in a = {.sin_family = AF_INET};
        inet_pton(AF_INET, src, &a.sin_addr);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    ck_assert_msg(connect(fd, (struct sockaddr *)&to, sizeof to) == 0, "connect: %s",
                  strerror(errno));
    return fd;
}

static void send_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
        ck_assert_msg(n > 0, "send: %s", strerror(errno));
        p += n;
        len -= (size_t)n;
    }
}

struct reply {
    int status;
    char *head; /* status line and headers */
    char *body;
};

static void reply_finish(struct reply *r)
{
    free(r->head);
    free(r->body);
}

/* Reads one response (Content-Length framed) from fd. The end of the head
 * is kept as an offset: growing the buffer moves it. */
static void read_reply(int fd, struct reply *r)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    ck_assert_ptr_nonnull(buf);
    size_t head = 0; /* offset of the blank line; 0 until it arrived */
    size_t want = 0;
    for (;;) {
        if (head && len >= head + 4 + want)
            break;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        ck_assert_msg(poll(&p, 1, REPLY_MS) == 1, "no reply within %d ms", REPLY_MS);
        if (len + 1024 > cap) {
            char *grown = realloc(buf, cap *= 2);
            ck_assert_ptr_nonnull(grown);
            buf = grown;
        }
        ssize_t n = recv(fd, buf + len, cap - len - 1, 0);
        ck_assert_msg(n > 0, "the connection closed before a full reply");
        len += (size_t)n;
        buf[len] = '\0';
        const char *end = head ? NULL : strstr(buf, "\r\n\r\n");
        if (end) {
            head = (size_t)(end - buf);
            const char *cl = strcasestr(buf, "\r\nContent-Length:");
            want = cl && cl < end ? strtoul(cl + 17, NULL, 10) : 0;
        }
    }
    r->status = atoi(buf + 9);
    r->head = strndup(buf, head + 2);
    r->body = strndup(buf + head + 4, want);
    free(buf);
}

/* One POST /mcp on its own connection: headers is the block of extra
 * header lines (each ending with CRLF). */
static void post_raw(unsigned port, const char *method, const char *path,
                     const char *headers, const char *body, struct reply *r)
{
    int fd = connect_from(NULL, port);
    size_t blen = body ? strlen(body) : 0;
    const char *req =
        F("%s %s HTTP/1.1\r\nHost: 127.0.0.1:%u\r\n%sContent-Length: %zu\r\n"
          "Connection: close\r\n\r\n",
          method, path, port, headers, blen);
    send_all(fd, req, strlen(req));
    if (blen)
        send_all(fd, body, blen);
    read_reply(fd, r);
    close(fd);
}

static void post(unsigned port, const char *headers, const char *body, struct reply *r)
{
    post_raw(port, "POST", "/mcp", headers, body, r);
}

static json_t *body_json(const struct reply *r)
{
    json_error_t err;
    json_t *v = json_loads(r->body, 0, &err);
    ck_assert_msg(v != NULL, "not JSON (%s): %s", err.text, r->body);
    return v;
}

static long error_code(const struct reply *r)
{
    json_t *v = body_json(r);
    long code =
        (long)json_integer_value(json_object_get(json_object_get(v, "error"), "code"));
    json_decref(v);
    return code;
}

/* A real tool call that must succeed, with the sandbox's first campaign. */
static void expect_call_works(unsigned port)
{
    struct reply r;
    post(port, ACCEPT_BOTH JSON_TYPE V1125, CALL_CAMPAIGNS, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *v = body_json(&r);
    json_t *sc = json_object_get(json_object_get(v, "result"), "structuredContent");
    ck_assert_int_eq(json_integer_value(json_object_get(v, "id")), 7);
    ck_assert_int_eq(json_integer_value(json_object_get(sc, "total")), 32);
    json_decref(v);
    reply_finish(&r);
}

/* ---- the pure helpers ---- */

START_TEST(loopback_hosts)
{
    const char *yes[] = {"localhost", "LOCALHOST", "127.0.0.1", "127.8.9.10", "[::1]"};
    const char *no[] = {"evil.example.com",   "10.0.0.1", "[::2]",
                        "localhost.evil.com", "",         "0.0.0.0"};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        ck_assert_msg(http_server_is_loopback_host(yes[i], strlen(yes[i])), "%s", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        ck_assert_msg(!http_server_is_loopback_host(no[i], strlen(no[i])), "%s", no[i]);
}
END_TEST

START_TEST(header_values)
{
    char *v = http_server_header_value("  tools/call \t");
    ck_assert_str_eq(v, "tools/call");
    free(v);
    /* "héllo wörld" in the base64 form clients use for non-ASCII values. */
    v = http_server_header_value("=?base64?aMOpbGxvIHfDtnJsZA==?=");
    ck_assert_str_eq(v, "h\xc3\xa9llo w\xc3\xb6rld");
    free(v);
    v = http_server_header_value("=?base64?IGxlYWRpbmc=?=");
    ck_assert_str_eq(v, " leading");
    free(v);
    ck_assert_ptr_null(http_server_header_value("=?base64?not*base64?="));
    ck_assert_ptr_null(http_server_header_value("bad\x01value"));
}
END_TEST

/* ---- status codes ---- */

START_TEST(healthz_and_call)
{
    struct server s;
    server_start(&s, NULL);
    struct reply r;
    post_raw(s.port, "GET", "/healthz", "", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"status\":\"ok\"}");
    reply_finish(&r);
    post(s.port, ACCEPT_BOTH JSON_TYPE,
         "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{"
         "\"protocolVersion\":\"2025-11-25\",\"capabilities\":{},\"clientInfo\":{"
         "\"name\":\"t\",\"version\":\"1\"}}}",
         &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strcasestr(r.head, "\r\nContent-Type: application/json"));
    ck_assert_ptr_null(strcasestr(r.head, "Mcp-Session-Id"));
    ck_assert_ptr_nonnull(strstr(r.body, "\"protocolVersion\":\"2025-11-25\""));
    reply_finish(&r);
    /* No initialize on this connection: the server is stateless. */
    expect_call_works(s.port);
    post(s.port, ACCEPT_BOTH JSON_TYPE V1125,
         "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}", &r);
    ck_assert_int_eq(r.status, 202);
    ck_assert_str_eq(r.body, "");
    reply_finish(&r);
    ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

START_TEST(refusals)
{
    struct server s;
    server_start(&s, (const char *const[]){"MSG91_MAX_LINE_BYTES=2048", NULL});
    struct reply r;
    post_raw(s.port, "GET", "/mcp", ACCEPT_BOTH, NULL, &r);
    ck_assert_int_eq(r.status, 405);
    ck_assert_ptr_nonnull(strcasestr(r.head, "\r\nAllow: POST"));
    reply_finish(&r);
    post_raw(s.port, "DELETE", "/mcp", ACCEPT_BOTH, NULL, &r);
    ck_assert_int_eq(r.status, 405);
    reply_finish(&r);
    post_raw(s.port, "POST", "/other", ACCEPT_BOTH JSON_TYPE, "{}", &r);
    ck_assert_int_eq(r.status, 404);
    reply_finish(&r);
    post(s.port, "Accept: application/json\r\n" JSON_TYPE V1125, CALL_CAMPAIGNS, &r);
    ck_assert_int_eq(r.status, 406);
    reply_finish(&r);
    post(s.port, ACCEPT_BOTH "Content-Type: text/plain\r\n" V1125, CALL_CAMPAIGNS, &r);
    ck_assert_int_eq(r.status, 415);
    reply_finish(&r);
    char big[4096];
    memset(big, ' ', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    post(s.port, ACCEPT_BOTH JSON_TYPE V1125, big, &r);
    ck_assert_int_eq(r.status, 413);
    reply_finish(&r);
    post(s.port, ACCEPT_BOTH JSON_TYPE V1125, "{not json", &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_int_eq(error_code(&r), -32700);
    reply_finish(&r);
    post(s.port, ACCEPT_BOTH JSON_TYPE "MCP-Protocol-Version: 2024-01-01\r\n",
         CALL_CAMPAIGNS, &r);
    ck_assert_int_eq(r.status, 400);
    reply_finish(&r);
    /* The server still serves after all of that. */
    expect_call_works(s.port);
    ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

/* A chunked body (no Content-Length to refuse up front) that passes the
 * limit and keeps coming: the server closes that connection and goes on
 * serving. */
START_TEST(endless_chunked_body)
{
    struct server s;
    server_start(&s, (const char *const[]){"MSG91_MAX_LINE_BYTES=2048", NULL});
    int fd = connect_from(NULL, s.port);
    static const char head[] =
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" ACCEPT_BOTH JSON_TYPE V1125
        "Transfer-Encoding: chunked\r\n\r\n";
    send_all(fd, head, sizeof head - 1);
    char chunk[1024 + 16];
    int n = snprintf(chunk, sizeof chunk, "%x\r\n", 1024);
    memset(chunk + n, ' ', 1024);
    memcpy(chunk + n + 1024, "\r\n", 2);
    bool closed = false;
    for (int i = 0; i < 64 && !closed; i++) {
        if (send(fd, chunk, (size_t)n + 1026, MSG_NOSIGNAL) < 0) {
            closed = true;
            break;
        }
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char buf[64];
        closed = poll(&p, 1, 0) == 1 && recv(fd, buf, sizeof buf, 0) <= 0;
    }
    if (!closed) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        char buf[64];
        closed = poll(&p, 1, REPLY_MS) == 1 && recv(fd, buf, sizeof buf, 0) <= 0;
    }
    ck_assert_msg(closed, "the connection stayed open");
    close(fd);
    expect_call_works(s.port);
    ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

/* A request of the 2026-07-28 era naming a version the server does not
 * speak gets -32022 with the list it does speak. */
START_TEST(unsupported_modern_version)
{
    struct server s;
    server_start(&s, NULL);
    struct reply r;
    post(s.port,
         ACCEPT_BOTH JSON_TYPE
         "MCP-Protocol-Version: v999.0.0\r\nMcp-Method: tools/list\r\n",
         "{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"tools/list\",\"params\":{\"_meta\":{"
         "\"io.modelcontextprotocol/protocolVersion\":\"v999.0.0\","
         "\"io.modelcontextprotocol/clientCapabilities\":{}}}}",
         &r);
    ck_assert_int_eq(r.status, 400);
    json_t *v = body_json(&r);
    json_t *err = json_object_get(v, "error");
    ck_assert_int_eq(json_integer_value(json_object_get(v, "id")), 3);
    ck_assert_int_eq(json_integer_value(json_object_get(err, "code")), -32022);
    json_t *data = json_object_get(err, "data");
    ck_assert_str_eq(json_string_value(json_object_get(data, "requested")), "v999.0.0");
    json_t *supported = json_object_get(data, "supported");
    ck_assert(json_array_size(supported) >= 3);
    bool has_1125 = false;
    size_t i;
    json_t *it;
    json_array_foreach(supported, i, it)
        has_1125 |= !strcmp(json_string_value(it), "2025-11-25");
    ck_assert(has_1125);
    json_decref(v);
    reply_finish(&r);
    ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

/* The MCP headers reach the core decoded: a 2026-07-28 tools/call whose
 * Mcp-Name is in base64 is served, one whose Mcp-Name names another tool
 * is refused with -32020, and a protocol version that does not decode is
 * refused by the transport. */
START_TEST(modern_headers)
{
    struct server s;
    server_start(&s, NULL);
    static const char call[] =
        "{\"jsonrpc\":\"2.0\",\"id\":9,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"list_campaigns\",\"arguments\":{\"limit\":1},\"_meta\":{"
        "\"io.modelcontextprotocol/protocolVersion\":\"2026-07-28\","
        "\"io.modelcontextprotocol/clientCapabilities\":{}}}}";
#define MODERN ACCEPT_BOTH JSON_TYPE "MCP-Protocol-Version: 2026-07-28\r\n"
    struct reply r;
    /* "list_campaigns" in base64 */
    post(s.port,
         MODERN "Mcp-Method: tools/call\r\nMcp-Name: =?base64?bGlzdF9jYW1wYWlnbnM=?=\r\n",
         call, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *v = body_json(&r);
    ck_assert_ptr_nonnull(json_object_get(v, "result"));
    json_decref(v);
    reply_finish(&r);
    post(s.port, MODERN "Mcp-Method: tools/call\r\nMcp-Name: send_otp\r\n", call, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_int_eq(error_code(&r), -32020);
    reply_finish(&r);
    post(s.port, MODERN "Mcp-Method: tools/call\r\n", call, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_int_eq(error_code(&r), -32020);
    reply_finish(&r);
#undef MODERN
    post(s.port,
         ACCEPT_BOTH JSON_TYPE "MCP-Protocol-Version: =?base64?!!?=\r\n"
                               "Mcp-Method: tools/call\r\nMcp-Name: list_campaigns\r\n",
         call, &r);
    ck_assert_int_eq(r.status, 400);
    ck_assert_int_eq(error_code(&r), -32020);
    reply_finish(&r);
    ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

/* DNS rebinding: a foreign Origin or Host is refused; loopback ones and
 * listed origins are served. */
START_TEST(origin_and_host)
{
    struct server s;
    server_start(&s, (const char *const[]){
                         "MSG91_HTTP_ALLOWED_ORIGINS=https://app.example.com", NULL});
    struct reply r;
    const char *bad[] = {
        "Origin: http://evil.example.com\r\n",
        "Origin: http://localhost.evil.example.com\r\n",
        "Origin: null\r\n",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        post(s.port, F("%s" ACCEPT_BOTH JSON_TYPE V1125, bad[i]), CALL_CAMPAIGNS, &r);
        ck_assert_msg(r.status == 403, "%s: %d", bad[i], r.status);
        reply_finish(&r);
    }
    /* A foreign Host, with its own connection to set it. */
    int fd = connect_from(NULL, s.port);
    const char *req =
        F("POST /mcp HTTP/1.1\r\nHost: evil.example.com\r\n" ACCEPT_BOTH JSON_TYPE V1125
          "Content-Length: %zu\r\n\r\n%s",
          strlen(CALL_CAMPAIGNS), CALL_CAMPAIGNS);
    send_all(fd, req, strlen(req));
    read_reply(fd, &r);
    ck_assert_int_eq(r.status, 403);
    reply_finish(&r);
    close(fd);
    const char *good[] = {
        "Origin: http://localhost:3000\r\n",
        "Origin: http://127.0.0.1\r\n",
        "Origin: https://app.example.com\r\n",
    };
    for (size_t i = 0; i < sizeof good / sizeof *good; i++) {
        post(s.port, F("%s" ACCEPT_BOTH JSON_TYPE V1125, good[i]), CALL_CAMPAIGNS, &r);
        ck_assert_msg(r.status == 200, "%s: %d", good[i], r.status);
        reply_finish(&r);
    }
    ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

/* ---- limits ---- */

/* Connections that send part of their headers and then nothing, from
 * another loopback address, leave the server serving everybody else. */
START_TEST(slow_headers)
{
    struct server s;
    server_start(&s, NULL);
    enum { SLOW = 200 };
    int fds[SLOW];
    for (int i = 0; i < SLOW; i++) {
        fds[i] = connect_from("127.0.0.2", s.port);
        static const char part[] = "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a";
        send_all(fds[i], part, sizeof part - 1);
    }
    expect_call_works(s.port);
    /* One more byte each, as a slow-loris client sends them, and again. */
    for (int i = 0; i < SLOW; i++)
        send_all(fds[i], "b", 1);
    expect_call_works(s.port);
    for (int i = 0; i < SLOW; i++)
        close(fds[i]);
    ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

/* A thousand connections that send nothing, from four loopback addresses
 * (each under the per-address limit), and more than the per-address limit
 * from a fifth: a real call still goes through while they all hang. */
START_TEST(idle_connections)
{
    struct server s;
    server_start(&s, NULL);
    enum { IDLE = 1000, FLOOD = 300 };
    static int fds[IDLE + FLOOD];
    for (int i = 0; i < IDLE; i++)
        fds[i] = connect_from(F("127.0.0.%d", 2 + i % 4), s.port);
    for (int i = 0; i < FLOOD; i++)
        fds[IDLE + i] = connect_from("127.0.0.9", s.port);
    expect_call_works(s.port);
    expect_call_works(s.port);
    for (int i = 0; i < IDLE + FLOOD; i++)
        close(fds[i]);
    ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

/* ---- the sandbox's control routes ---- */

static void sandbox_control(const char *method, const char *path, const char *body)
{
    struct reply r;
    post_raw(SB_PORT, method, path, body ? JSON_TYPE : "", body, &r);
    ck_assert_msg(r.status == 200, "%s %s: %d %s", method, path, r.status, r.body);
    reply_finish(&r);
}

static long sandbox_inflight(void)
{
    struct reply r;
    post_raw(SB_PORT, "GET", "/_sandbox/stats", "", NULL, &r);
    json_t *v = body_json(&r);
    long n = (long)json_integer_value(json_object_get(v, "inflight"));
    json_decref(v);
    reply_finish(&r);
    return n;
}

/* SIGTERM while a call waits for a slow upstream: the listening socket
 * closes, a new request on an open connection gets 503, the call finishes
 * with its real result, then the server exits 0. */
START_TEST(sigterm_finishes_inflight)
{
    sandbox_control("POST", "/_sandbox/reset", NULL);
    sandbox_control("POST", "/_sandbox/misbehave",
                    "{\"tool\":\"list_campaigns\",\"delay_ms\":1500}");
    struct server s;
    server_start(&s, NULL);
    int fd = connect_from(NULL, s.port);
    const char *req =
        F("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" ACCEPT_BOTH JSON_TYPE V1125
          "Content-Length: %zu\r\n\r\n%s",
          strlen(CALL_CAMPAIGNS), CALL_CAMPAIGNS);
    send_all(fd, req, strlen(req));
    int idle = connect_from(NULL, s.port); /* open before the signal */
    while (sandbox_inflight() == 0)
        usleep(10000);
    kill(s.child.pid, SIGTERM);
    /* The listening socket closes first: wait until a connect is refused. */
    for (;;) {
        int probe = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in to = {.sin_family = AF_INET,
                                 .sin_port = htons((uint16_t)s.port)};
        inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
        int rc = connect(probe, (struct sockaddr *)&to, sizeof to);
        close(probe);
        if (rc != 0)
            break;
        usleep(10000);
    }
    /* A new request on a connection opened before is refused, while the
     * call in flight goes on. */
    struct reply r;
    const char *late =
        F("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" ACCEPT_BOTH JSON_TYPE V1125
          "Content-Length: %zu\r\n\r\n%s",
          strlen(CALL_CAMPAIGNS), CALL_CAMPAIGNS);
    send_all(idle, late, strlen(late));
    read_reply(idle, &r);
    close(idle);
    ck_assert_int_eq(r.status, 503);
    reply_finish(&r);
    read_reply(fd, &r);
    close(fd);
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"total\":32"));
    reply_finish(&r);
    ck_assert_int_eq(testutil_finish(&s.child, REPLY_MS), 0);
    char *err = testutil_read_stderr(&s.child);
    ck_assert_ptr_nonnull(strstr(err, "received SIGTERM; finishing in-flight calls"));
    free(err);
    unlink(s.audit);
    sandbox_control("POST", "/_sandbox/reset", NULL);
}
END_TEST

/* The audit line names the transport and the client's address. */
START_TEST(audit_line)
{
    struct server s;
    server_start(&s, NULL);
    expect_call_works(s.port);
    char *text = NULL;
    for (int i = 0; i < REPLY_MS / 10; i++) {
        size_t len = 0;
        text = testutil_read_file(s.audit, &len);
        if (text && strchr(text, '\n'))
            break;
        free(text);
        text = NULL;
        usleep(10000);
    }
    ck_assert_msg(text != NULL, "no audit line");
    json_t *line = json_loads(text, JSON_DISABLE_EOF_CHECK, NULL);
    ck_assert_ptr_nonnull(line);
    ck_assert_str_eq(json_string_value(json_object_get(line, "transport")), "http");
    const char *addr = json_string_value(json_object_get(line, "address"));
    ck_assert_msg(addr && !strncmp(addr, "127.0.0.1:", 10), "address %s",
                  addr ? addr : "(none)");
    json_decref(line);
    free(text);
    ck_assert_int_eq(server_stop(&s), 0);
}
END_TEST

/* Without personas only loopback addresses may be listened on; a personas
 * file that does not load stops the start too. */
START_TEST(refuses_exposure)
{
    const char *argv[] = {"msg91-mcp", "http", "--listen", "0.0.0.0:0", NULL};
    const char *env[] = {"MSG91_AUTH_KEY=" TEST_KEY, NULL};
    struct testutil_child c;
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    ck_assert_int_eq(testutil_finish(&c, REPLY_MS), 1);
    char *err = testutil_read_stderr(&c);
    ck_assert_msg(strstr(err, "refusing to listen on 0.0.0.0:0"), "%s", err);
    free(err);
    const char *argv2[] = {"msg91-mcp", "http", "--listen", "127.0.0.1:0", NULL};
    const char *env2[] = {"MSG91_AUTH_KEY=" TEST_KEY, "MSG91_PERSONAS=/nonexistent.json",
                          NULL};
    ck_assert_int_eq(testutil_spawn(&c, argv2, env2), 0);
    ck_assert_int_eq(testutil_finish(&c, REPLY_MS), 1);
    err = testutil_read_stderr(&c);
    ck_assert_msg(strstr(err, "cannot load the personas file /nonexistent.json"), "%s",
                  err);
    free(err);
}
END_TEST

/* ---- TLS ---- */

static size_t collect(char *data, size_t size, size_t n, void *userp)
{
    char **buf = userp;
    size_t old = *buf ? strlen(*buf) : 0;
    char *grown = realloc(*buf, old + size * n + 1);
    if (!grown)
        return 0;
    memcpy(grown + old, data, size * n);
    grown[old + size * n] = '\0';
    *buf = grown;
    return size * n;
}

/* HTTPS from a certificate and key file: a client that trusts only that
 * certificate makes a real call. */
START_TEST(https)
{
    char dir[] = "/tmp/msg91-http-tls-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    const char *cert = F("%s/cert.pem", dir);
    const char *key = F("%s/key.pem", dir);
    const char *cmd =
        F("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
          "-keyout %s -out %s -days 2 -subj /CN=localhost "
          "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >%s/openssl.log 2>&1",
          key, cert, dir);
    ck_assert_msg(system(cmd) == 0, "openssl failed: %s", cmd);
    struct server s;
    server_start(&s, (const char *const[]){F("MSG91_HTTP_TLS_CERT=%s", cert),
                                           F("MSG91_HTTP_TLS_KEY=%s", key), NULL});
    CURL *c = curl_easy_init();
    ck_assert_ptr_nonnull(c);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    h = curl_slist_append(h, "Accept: application/json, text/event-stream");
    h = curl_slist_append(h, "MCP-Protocol-Version: 2025-11-25");
    char *body = NULL;
    curl_easy_setopt(c, CURLOPT_URL, F("https://127.0.0.1:%u/mcp", s.port));
    curl_easy_setopt(c, CURLOPT_CAINFO, cert);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, CALL_CAMPAIGNS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)REPLY_MS);
    CURLcode rc = curl_easy_perform(c);
    ck_assert_msg(rc == CURLE_OK, "%s", curl_easy_strerror(rc));
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    ck_assert_int_eq(status, 200);
    ck_assert_msg(body && strstr(body, "\"total\":32"), "%s", body ? body : "(none)");
    free(body);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    ck_assert_int_eq(server_stop(&s), 0);
    unlink(cert);
    unlink(key);
    unlink(F("%s/openssl.log", dir));
    rmdir(dir);
}
END_TEST

/* ---- personas ---- */

/* Two personas: A may list campaigns, B may send and verify OTPs; each has
 * its own key file. The sandbox of this test case accepts any key and
 * records which one each request carried. */
#define TOKEN_A "http-alice-token-0123456789abcdefghijklmnopqrs"
#define TOKEN_B "http-bob-token-zyxwvutsrqponmlkjihgfedcba98765"
#define KEY_A "http-alice-key-5f1e2d3c4b5a6978"
#define KEY_B "http-bob-key-8a7b6c5d4e3f2a1b0c"
#define AUTH_A "Authorization: Bearer " TOKEN_A "\r\n"
#define AUTH_B "Authorization: Bearer " TOKEN_B "\r\n"
#define LIST_TOOLS "{\"jsonrpc\":\"2.0\",\"id\":5,\"method\":\"tools/list\"}"
#define CALL_SEND_OTP                                                                    \
    "{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"tools/call\",\"params\":{\"name\":"      \
    "\"send_otp\",\"arguments\":{\"mobile\":\"+919876543210\"}}}"

static char pdir[64];
static char digest_a[PERSONA_DIGEST_HEX_LEN + 1];
static char digest_b[PERSONA_DIGEST_HEX_LEN + 1];

static const char *pdir_path(const char *name)
{
    return F("%s/%s", pdir, name);
}

/* Writes text to name through a rename, so a reload never reads half a
 * file. Returns the path. */
static const char *write_file(const char *name, const char *text)
{
    char tmp[128];
    snprintf(tmp, sizeof tmp, "%s.tmp", pdir_path(name));
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(text, f), 0);
    ck_assert_int_eq(fclose(f), 0);
    const char *path = pdir_path(name);
    ck_assert_int_eq(rename(tmp, path), 0);
    return path;
}

static const char *persona_a(void)
{
    return F("{\"name\": \"alice\", \"token_sha256\": \"%s\", "
             "\"tools\": [\"list_campaigns\"], \"auth_key_file\": \"%s\"}",
             digest_a, pdir_path("key-a"));
}

/* Both personas, or A alone; returns the path of personas.json. */
static const char *write_personas(bool with_b)
{
    char a[512];
    snprintf(a, sizeof a, "%s", persona_a());
    if (!with_b)
        return write_file("personas.json", F("{\"personas\": [%s]}", a));
    return write_file(
        "personas.json",
        F("{\"personas\": [%s, {\"name\": \"bob\", \"token_sha256\": \"%s\", "
          "\"tools\": [\"send_otp\", \"verify_otp\"], \"otp_template_id\": \"TPL_BOB\", "
          "\"auth_key_file\": \"%s\"}]}",
          a, digest_b, pdir_path("key-b")));
}

static void personas_setup(void)
{
    struct sandbox_options opts = {.port = 0, .seed = 42}; /* any key is accepted */
    char *error = NULL;
    SB = sandbox_create(&opts, &error);
    ck_assert_msg(SB != NULL, "sandbox: %s", error ? error : "?");
    SB_PORT = sandbox_port(SB);
    snprintf(pdir, sizeof pdir, "/tmp/msg91-http-personas-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(pdir));
    persona_sha256_hex(TOKEN_A, strlen(TOKEN_A), digest_a);
    persona_sha256_hex(TOKEN_B, strlen(TOKEN_B), digest_b);
    write_file("key-a", KEY_A "\n");
    write_file("key-b", KEY_B "\n");
}

static void personas_teardown(void)
{
    unlink(pdir_path("key-a"));
    unlink(pdir_path("key-b"));
    unlink(pdir_path("personas.json"));
    rmdir(pdir);
    tcase_teardown();
}

/* Starts the server with the personas file at path. */
static void server_start_personas(struct server *s, const char *listen, const char *path)
{
    server_start_at(s, listen, (const char *const[]){F("MSG91_PERSONAS=%s", path), NULL});
}

/* Appends what the server's stderr holds now, waiting up to timeout_ms for
 * the first bytes (-1: until it closes). */
static void drain_stderr(struct server *s, int timeout_ms)
{
    testutil_drain(s->child.err_fd, &s->err, timeout_ms);
}

/* Waits until stderr, from offset from on, holds needle; returns the
 * offset just past it. */
static size_t wait_stderr(struct server *s, size_t from, const char *needle)
{
    return testutil_wait_for(s->child.err_fd, &s->err, from, needle, REPLY_MS);
}

/* Stops the server (it must exit 0) and checks that no token, digest or
 * key is in anything it wrote: stdout, stderr and the audit log. */
static void server_stop_clean(struct server *s)
{
    kill(s->child.pid, SIGTERM);
    size_t out_len = 0;
    char *out = calloc(1, 1);
    char *line;
    while ((line = testutil_read_line(&s->child, REPLY_MS))) {
        char *grown = realloc(out, out_len + strlen(line) + 2);
        ck_assert_ptr_nonnull(grown);
        out = grown;
        out_len += (size_t)sprintf(out + out_len, "%s\n", line);
        free(line);
    }
    ck_assert_int_eq(testutil_finish(&s->child, REPLY_MS), 0);
    drain_stderr(s, -1);
    close(s->child.err_fd);
    size_t audit_len = 0;
    char *audit = testutil_read_file(s->audit, &audit_len);
    ck_assert_msg(audit && strstr(audit, "\"persona\":\"alice\""),
                  "the audit log names no persona");
    const char *secrets[] = {TOKEN_A,  TOKEN_B,  KEY_A,   KEY_B,
                             TEST_KEY, digest_a, digest_b};
    for (size_t i = 0; i < sizeof secrets / sizeof *secrets; i++) {
        ck_assert_msg(!strstr(out, secrets[i]), "stdout holds a secret: %s", out);
        ck_assert_msg(!s->err.p || !strstr(s->err.p, secrets[i]),
                      "stderr holds a secret: %s", s->err.p);
        ck_assert_msg(!strstr(audit, secrets[i]), "the audit log holds a secret: %s",
                      audit);
    }
    free(out);
    free(audit);
    free(s->err.p);
    s->err = (struct testutil_text){NULL, 0};
    unlink(s->audit);
}

/* POSTs body with the given Authorization lines (may be ""). */
static void post_as(unsigned port, const char *auth, const char *body, struct reply *r)
{
    post(port, F("%s" ACCEPT_BOTH JSON_TYPE V1125, auth), body, r);
}

static void expect_401(unsigned port, const char *auth)
{
    struct reply r;
    post_as(port, auth, CALL_CAMPAIGNS, &r);
    ck_assert_msg(r.status == 401, "%s: %d", auth, r.status);
    ck_assert_msg(strstr(r.head, "\r\nWWW-Authenticate: Bearer realm=\"msg91-mcp\"\r\n"),
                  "%s", r.head);
    /* No OAuth metadata anywhere: clients that see it ignore a static
     * header and start an OAuth flow this server does not offer. */
    ck_assert_ptr_null(strcasestr(r.head, "resource_metadata"));
    ck_assert_ptr_null(strcasestr(r.head, "error="));
    ck_assert_ptr_null(strcasestr(r.body, "oauth"));
    ck_assert_ptr_null(strcasestr(r.body, "well-known"));
    reply_finish(&r);
}

static void expect_200(unsigned port, const char *auth)
{
    struct reply r;
    post_as(port, auth, CALL_CAMPAIGNS, &r);
    ck_assert_msg(r.status == 200, "%s: %d %s", auth, r.status, r.body);
    ck_assert_msg(strstr(r.body, "\"total\":32"), "%s", r.body);
    reply_finish(&r);
}

/* The tool names tools/list shows to auth, comma-joined. */
static const char *tool_names(unsigned port, const char *auth)
{
    struct reply r;
    post_as(port, auth, LIST_TOOLS, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *v = body_json(&r);
    json_t *tools = json_object_get(json_object_get(v, "result"), "tools");
    ck_assert(json_is_array(tools));
    char names[512] = "";
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                 i ? "," : "", json_string_value(json_object_get(t, "name")));
    }
    json_decref(v);
    reply_finish(&r);
    return F("%s", names);
}

/* The authkey header of every request the sandbox recorded, in order,
 * comma-joined; the records are cleared. */
static const char *keys_seen(void)
{
    struct reply r;
    post_raw(SB_PORT, "GET", "/_sandbox/requests", "", NULL, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *v = body_json(&r);
    char keys[1024] = "";
    size_t i;
    json_t *req;
    json_array_foreach(json_object_get(v, "requests"), i, req) {
        const char *k = json_string_value(
            json_object_get(json_object_get(req, "headers"), "authkey"));
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%s", i ? "," : "",
                 k ? k : "(none)");
    }
    json_decref(v);
    reply_finish(&r);
    sandbox_control("DELETE", "/_sandbox/requests", NULL);
    return F("%s", keys);
}

/* A missing, wrong or malformed token gets 401 with the Bearer challenge
 * and nothing about OAuth; the right one is served. */
START_TEST(personas_authenticate)
{
    struct server s;
    server_start_personas(&s, "127.0.0.1:0", write_personas(true));
    char digest_auth[128]; /* the digest is not the token */
    snprintf(digest_auth, sizeof digest_auth, "Authorization: Bearer %s\r\n", digest_a);
    const char *refused[] = {
        "",
        "Authorization: Bearer wrong-token-0123456789\r\n",
        "Authorization: Bearer " TOKEN_A "x\r\n",
        "Authorization: Bearer http-ALICE-token-0123456789abcdefghijklmnopqrs\r\n",
        digest_auth,
        "Authorization: Bearer\r\n",
        "Authorization: Bearer \r\n",
        "Authorization: Basic " TOKEN_A "\r\n",
        "Authorization: " TOKEN_A "\r\n",
        "Authorization: Bearer" TOKEN_A "\r\n",
        "Authorization: Bearer " TOKEN_A " " TOKEN_B "\r\n",
        "Authorization: Bearer " TOKEN_A ",Bearer " TOKEN_B "\r\n",
        "Authorization: \r\n",
    };
    for (size_t i = 0; i < sizeof refused / sizeof *refused; i++)
        expect_401(s.port, refused[i]);
    /* The scheme is case-insensitive (RFC 7235), the token is not. */
    expect_200(s.port, AUTH_A);
    expect_200(s.port, "Authorization: bearer " TOKEN_A "\r\n");
    /* No OAuth metadata is served either. */
    struct reply r;
    post_raw(s.port, "GET", "/.well-known/oauth-protected-resource", "", NULL, &r);
    ck_assert_int_eq(r.status, 404);
    reply_finish(&r);
    post_raw(s.port, "GET", "/.well-known/oauth-authorization-server", "", NULL, &r);
    ck_assert_int_eq(r.status, 404);
    reply_finish(&r);
    server_stop_clean(&s);
}
END_TEST

/* Each persona sees its own tools; the other's tool is an unknown tool;
 * each call reaches the sandbox with its own persona's key only. */
START_TEST(personas_tools_and_keys)
{
    struct server s;
    server_start_personas(&s, "127.0.0.1:0", write_personas(true));
    ck_assert_str_eq(tool_names(s.port, AUTH_A), "list_campaigns");
    ck_assert_str_eq(tool_names(s.port, AUTH_B), "send_otp,verify_otp");
    keys_seen();
    expect_200(s.port, AUTH_A);
    ck_assert_str_eq(keys_seen(), KEY_A);
    struct reply r;
    post_as(s.port, AUTH_B, CALL_SEND_OTP, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"result\"") && !strstr(r.body, "\"isError\":true"),
                  "%s", r.body);
    reply_finish(&r);
    ck_assert_str_eq(keys_seen(), KEY_B);
    /* B's tool with A's token, and A's with B's: unknown, and nothing
     * reaches the sandbox. */
    post_as(s.port, AUTH_A, CALL_SEND_OTP, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_int_eq(error_code(&r), -32602);
    ck_assert_msg(strstr(r.body, "Unknown tool: send_otp"), "%s", r.body);
    reply_finish(&r);
    post_as(s.port, AUTH_B, CALL_CAMPAIGNS, &r);
    ck_assert_int_eq(error_code(&r), -32602);
    ck_assert_msg(strstr(r.body, "Unknown tool: list_campaigns"), "%s", r.body);
    reply_finish(&r);
    ck_assert_str_eq(keys_seen(), "");
    /* Interleaved on one connection each, the keys still follow the token. */
    for (int i = 0; i < 3; i++) {
        expect_200(s.port, AUTH_A);
        post_as(s.port, AUTH_B, CALL_SEND_OTP, &r);
        ck_assert_int_eq(r.status, 200);
        reply_finish(&r);
    }
    ck_assert_str_eq(keys_seen(),
                     KEY_A "," KEY_B "," KEY_A "," KEY_B "," KEY_A "," KEY_B);
    server_stop_clean(&s);
}
END_TEST

/* SIGHUP: a broken file keeps the set in force and says why; a file
 * without B (renamed into place) shuts B out while A goes on. */
START_TEST(personas_sighup)
{
    struct server s;
    char path[128];
    snprintf(path, sizeof path, "%s", write_personas(true));
    server_start_personas(&s, "127.0.0.1:0", path);
    expect_200(s.port, AUTH_A);
    ck_assert_str_eq(tool_names(s.port, AUTH_B), "send_otp,verify_otp");

    write_file("personas.json", "{\"personas\": [");
    ck_assert_int_eq(kill(s.child.pid, SIGHUP), 0);
    size_t at = wait_stderr(&s, 0,
                            F("cannot reload the personas: cannot load the personas file "
                              "%s: line 1, column 14: ']' expected near end of file; the "
                              "2 persona(s) loaded before stay in force",
                              path));
    expect_200(s.port, AUTH_A);
    ck_assert_str_eq(tool_names(s.port, AUTH_B), "send_otp,verify_otp");

    write_personas(false);
    ck_assert_int_eq(kill(s.child.pid, SIGHUP), 0);
    wait_stderr(&s, at, F("reloaded the personas file %s: 1 persona(s)", path));
    expect_401(s.port, AUTH_B);
    expect_200(s.port, AUTH_A);
    ck_assert_str_eq(tool_names(s.port, AUTH_A), "list_campaigns");
    server_stop_clean(&s);
}
END_TEST

/* A request authenticated from its headers whose body arrives after a
 * reload replaced the set: it runs as the persona it authenticated as,
 * with that persona's key. */
START_TEST(personas_reload_between_headers_and_body)
{
    struct server s;
    char path[128];
    snprintf(path, sizeof path, "%s", write_personas(true));
    server_start_personas(&s, "127.0.0.1:0", path);
    keys_seen();
    int fd = connect_from(NULL, s.port);
    const char *head =
        F("POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\n" AUTH_B ACCEPT_BOTH JSON_TYPE V1125
          "Content-Length: %zu\r\n\r\n",
          strlen(CALL_SEND_OTP));
    send_all(fd, head, strlen(head));
    /* The server has read the headers once it answers a later request. */
    expect_200(s.port, AUTH_A);
    keys_seen();
    write_personas(false);
    ck_assert_int_eq(kill(s.child.pid, SIGHUP), 0);
    wait_stderr(&s, 0, F("reloaded the personas file %s: 1 persona(s)", path));
    expect_401(s.port, AUTH_B);
    send_all(fd, CALL_SEND_OTP, strlen(CALL_SEND_OTP));
    struct reply r;
    read_reply(fd, &r);
    close(fd);
    ck_assert_int_eq(r.status, 200);
    ck_assert_msg(strstr(r.body, "\"result\"") && !strstr(r.body, "\"isError\":true"),
                  "%s", r.body);
    reply_finish(&r);
    ck_assert_str_eq(keys_seen(), KEY_B);
    server_stop_clean(&s);
}
END_TEST

/* With personas every request is authenticated, so a non-loopback
 * address is accepted; the server answers on 127.0.0.1 with a token. */
START_TEST(personas_allow_exposure)
{
    struct server s;
    server_start_personas(&s, "0.0.0.0:0", write_personas(true));
    expect_401(s.port, "");
    expect_200(s.port, AUTH_A);
    server_stop_clean(&s);
}
END_TEST

/* ---- tools/list as the authenticated persona ----
 * (one block, appended for issue 12: the SDK v2 client over HTTP.) */

#define LISTER_TOKEN "tools-list-token-0123456789abcdefghijklmnopq"
#define LISTER_SHA256 "72016d10c0d2bf4ede0b599a769d72a1d00c3eb0b46a235f28ba2d0d8c4c471f"

/* A persona limited to one tool must see only that tool in tools/list over
 * HTTP, as its calls already are: the list followed the server's
 * allowlist, not the token's persona. */
START_TEST(tools_list_as_persona)
{
    const char *path = F("/tmp/msg91-http-personas-%d.json", (int)getpid());
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("{\"personas\":[{\"name\":\"lister\",\"token_sha256\":\"" LISTER_SHA256
          "\",\"tools\":[\"list_campaigns\"]}]}",
          f);
    ck_assert_int_eq(fclose(f), 0);
    struct server s;
    const char *extra[] = {F("MSG91_PERSONAS=%s", path), NULL};
    server_start(&s, extra);
    struct reply r;
    post(s.port, ACCEPT_BOTH JSON_TYPE V1125 "Authorization: Bearer " LISTER_TOKEN "\r\n",
         LIST_TOOLS, &r);
    ck_assert_int_eq(r.status, 200);
    json_t *v = body_json(&r);
    json_t *tools = json_object_get(json_object_get(v, "result"), "tools");
    ck_assert_uint_eq(json_array_size(tools), 1);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(tools, 0), "name")),
                     "list_campaigns");
    json_decref(v);
    reply_finish(&r);
    ck_assert_int_eq(server_stop(&s), 0);
    unlink(path);
}
END_TEST

static void add_persona_list_tcase(Suite *s)
{
    TCase *tc = tcase_create("persona_list");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, tcase_setup, tcase_teardown);
    tcase_add_test(tc, tools_list_as_persona);
    suite_add_tcase(s, tc);
}

/* ---- end of the tools/list block ---- */

int main(void)
{
    Suite *s = suite_create("http_server");
    TCase *unit = tcase_create("helpers");
    tcase_add_test(unit, loopback_hosts);
    tcase_add_test(unit, header_values);
    suite_add_tcase(s, unit);
    TCase *tc = tcase_create("server");
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, tcase_setup, tcase_teardown);
    tcase_add_test(tc, healthz_and_call);
    tcase_add_test(tc, refusals);
    tcase_add_test(tc, unsupported_modern_version);
    tcase_add_test(tc, modern_headers);
    tcase_add_test(tc, endless_chunked_body);
    tcase_add_test(tc, origin_and_host);
    tcase_add_test(tc, slow_headers);
    tcase_add_test(tc, idle_connections);
    tcase_add_test(tc, sigterm_finishes_inflight);
    tcase_add_test(tc, audit_line);
    tcase_add_test(tc, refuses_exposure);
    tcase_add_test(tc, https);
    suite_add_tcase(s, tc);
    TCase *pc = tcase_create("personas");
    tcase_set_timeout(pc, 120);
    tcase_add_checked_fixture(pc, personas_setup, personas_teardown);
    tcase_add_test(pc, personas_authenticate);
    tcase_add_test(pc, personas_tools_and_keys);
    tcase_add_test(pc, personas_sighup);
    tcase_add_test(pc, personas_reload_between_headers_and_body);
    tcase_add_test(pc, personas_allow_exposure);
    suite_add_tcase(s, pc);

    add_persona_list_tcase(s);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */
