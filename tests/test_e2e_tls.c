/* End-to-end tests of the HTTP engine against a real TLS server: the real
 * msg91-mcp binary calls an nginx on loopback that speaks HTTP/2 over TLS
 * with a certificate from a CA made at test time. Proves from nginx's own
 * access log that fifty concurrent calls are multiplexed as HTTP/2 streams
 * over one reused connection, and that verification is always on: no CA file, a
 * certificate for another name, and a CA file that does not exist all fail
 * before any request reaches nginx. */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/testutil.h"

#define F testutil_fmt

#define TEST_KEY "e2e-tls-key-4b1d8e27"
#define ECHO_MODULE "/usr/lib/nginx/modules/ngx_http_echo_module.so"
#define CAMPAIGNS_PATH "/api/v5/campaign/api/campaigns"
/* The list_campaigns success body of doc/msg91-api.md. */
#define CAMPAIGNS_BODY                                                                   \
    "{\"data\":{\"data\":[{\"id\":123,\"name\":\"Welcome\",\"is_active\":true,\"slug\":" \
    "\"welcome-abc\",\"channels\":[{\"campaign_id\":123,\"channel_id\":1,\"count\":2}]}" \
    "],\"itemsPerPage\":25,\"pageNo\":1,\"pageNumber\":1,\"totalEntityCount\":1,"        \
    "\"totalPageCount\":1},\"status\":\"success\",\"hasError\":false,\"errors\":[]}"
/* What list_campaigns makes of that body. */
#define CAMPAIGNS_RESULT                                                                 \
    "{\"campaigns\":[{\"id\":123,\"name\":\"Welcome\",\"slug\":\"welcome-abc\","         \
    "\"is_active\":true,\"channels\":[1]}],\"page\":1,\"total_pages\":1,\"total\":1}"
/* nginx holds every answer this long, so that the calls overlap. */
#define DELAY_S "0.2"
#define CALLS 50
#define REPLY_MS 10000
#define TLS_ADVICE                                                                       \
    ". Nothing was sent. Check MSG91_BASE_URL; if a proxy or private CA signs the "      \
    "certificate, set MSG91_CA_FILE to its CA bundle."

/* The full path of an executable found on PATH or in the sbin directories
 * (nginx lives in /usr/sbin, which a normal user's PATH may lack), or
 * NULL. Returns a static buffer. */
static const char *find_program(const char *name)
{
    static char found[4096];
    const char *path = getenv("PATH");
    char dirs[4096];
    snprintf(dirs, sizeof dirs, "%s:/usr/sbin:/sbin", path ? path : "/usr/bin:/bin");
    char *save = NULL;
    for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
        snprintf(found, sizeof found, "%s/%s", d, name);
        if (access(found, X_OK) == 0)
            return found;
    }
    return NULL;
}

/* ---- the fixture: a temporary directory, certificates and nginx ---- */

struct tls_fixture {
    char dir[256];
    char nginx[4096]; /* path of the nginx binary */
    char openssl[4096];
    unsigned port;       /* certificate for localhost and 127.0.0.1 */
    unsigned port_other; /* certificate for other.invalid only */
    pid_t nginx_pid;
    pid_t owner; /* the process that made all this */
};

static struct tls_fixture T;

static const char *in_dir(const char *name)
{
    return F("%s/%s", T.dir, name);
}

/* Runs argv (argv[0] a full path) with stdin from /dev/null and stdout and
 * stderr appended to log; returns its exit status or -1. */
static int run_program(const char *const *argv, const char *log)
{
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int in = open("/dev/null", O_RDONLY);
        int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in < 0 || out < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s: %s", path, strerror(errno));
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Runs the openssl command with these arguments (ended by (char *)NULL) and
 * fails the test with its output unless it exits 0. */
static void openssl_run(const char *first, ...)
{
    const char *argv[32] = {T.openssl, first};
    size_t n = 2;
    va_list ap;
    va_start(ap, first);
    const char *arg;
    while ((arg = va_arg(ap, const char *)) != NULL && n < 31)
        argv[n++] = arg;
    va_end(ap);
    argv[n] = NULL;
    const char *log = in_dir("openssl.log");
    int rc = run_program(argv, log);
    char *text = testutil_read_file(log, NULL);
    ck_assert_msg(rc == 0, "openssl %s exited with %d:\n%s", first, rc, text ? text : "");
    free(text);
}

/* A throwaway CA, and two server certificates it signs: "localhost" for
 * localhost and 127.0.0.1, and "other" for other.invalid only. The
 * extensions are spelled out in our own config file, so the machine's
 * openssl.cnf changes nothing. */
static void make_certificates(void)
{
    char cnf[512], ca_key[512], ca_pem[512];
    snprintf(cnf, sizeof cnf, "%s/openssl.cnf", T.dir);
    snprintf(ca_key, sizeof ca_key, "%s/ca.key", T.dir);
    snprintf(ca_pem, sizeof ca_pem, "%s/ca.pem", T.dir);
    write_file(cnf, "[req]\n"
                    "distinguished_name = dn\n"
                    "prompt = no\n"
                    "[dn]\n"
                    "CN = unused\n"
                    "[ca_ext]\n"
                    "basicConstraints = critical,CA:TRUE\n"
                    "keyUsage = critical,keyCertSign,cRLSign\n"
                    "subjectKeyIdentifier = hash\n"
                    "[localhost_ext]\n"
                    "basicConstraints = critical,CA:FALSE\n"
                    "keyUsage = critical,digitalSignature\n"
                    "extendedKeyUsage = serverAuth\n"
                    "subjectAltName = DNS:localhost,IP:127.0.0.1\n"
                    "authorityKeyIdentifier = keyid\n"
                    "[other_ext]\n"
                    "basicConstraints = critical,CA:FALSE\n"
                    "keyUsage = critical,digitalSignature\n"
                    "extendedKeyUsage = serverAuth\n"
                    "subjectAltName = DNS:other.invalid\n"
                    "authorityKeyIdentifier = keyid\n");
    openssl_run("req", "-x509", "-config", cnf, "-extensions", "ca_ext", "-newkey", "ec",
                "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key,
                "-out", ca_pem, "-days", "2", "-subj", "/CN=msg91-mcp e2e test CA",
                (char *)NULL);
    const char *names[] = {"localhost", "other"};
    for (size_t i = 0; i < 2; i++) {
        char key[512], csr[512], pem[512], ext[64], subj[64], serial[16];
        snprintf(key, sizeof key, "%s/%s.key", T.dir, names[i]);
        snprintf(csr, sizeof csr, "%s/%s.csr", T.dir, names[i]);
        snprintf(pem, sizeof pem, "%s/%s.pem", T.dir, names[i]);
        snprintf(ext, sizeof ext, "%s_ext", names[i]);
        snprintf(subj, sizeof subj, "/CN=%s", i == 0 ? "localhost" : "other.invalid");
        snprintf(serial, sizeof serial, "%zu", i + 2);
        openssl_run("req", "-new", "-config", cnf, "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
                    "-subj", subj, (char *)NULL);
        openssl_run("x509", "-req", "-in", csr, "-CA", ca_pem, "-CAkey", ca_key,
                    "-set_serial", serial, "-days", "2", "-extfile", cnf, "-extensions",
                    ext, "-out", pem, (char *)NULL);
    }
}

/* A loopback port that was free a moment ago (the kernel's pick). */
static unsigned free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t len = sizeof a;
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void write_nginx_conf(void)
{
    const char *d = T.dir;
    char conf[8192];
    int len = snprintf(
        conf, sizeof conf,
        "load_module " ECHO_MODULE ";\n"
        "%s\n"
        "daemon off;\n"
        "master_process on;\n"
        "worker_processes 1;\n"
        "pid %s/nginx.pid;\n"
        "error_log %s/error.log info;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        "    log_format tls '$server_port $server_protocol $connection "
        "$connection_requests $ssl_protocol $status $request_method $request_uri "
        "$msec $request_time';\n"
        "    access_log %s/access.log tls;\n"
        "    client_body_temp_path %s/client_body;\n"
        "    proxy_temp_path %s/proxy;\n"
        "    fastcgi_temp_path %s/fastcgi;\n"
        "    uwsgi_temp_path %s/uwsgi;\n"
        "    scgi_temp_path %s/scgi;\n"
        "    server_tokens off;\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        "    server {\n"
        "        listen 127.0.0.1:%u ssl http2;\n"
        "        ssl_certificate %s/localhost.pem;\n"
        "        ssl_certificate_key %s/localhost.key;\n"
        "        location = " CAMPAIGNS_PATH " {\n"
        "            default_type application/json;\n"
        "            echo_sleep " DELAY_S ";\n"
        "            echo '" CAMPAIGNS_BODY "';\n"
        "        }\n"
        "        location / { return 404; }\n"
        "    }\n"
        "    server {\n"
        "        listen 127.0.0.1:%u ssl http2;\n"
        "        ssl_certificate %s/other.pem;\n"
        "        ssl_certificate_key %s/other.key;\n"
        "        location = " CAMPAIGNS_PATH " {\n"
        "            default_type application/json;\n"
        "            return 200 '" CAMPAIGNS_BODY "';\n"
        "        }\n"
        "        location / { return 404; }\n"
        "    }\n"
        "}\n",
        getuid() == 0 ? "user root;" : "", d, d, d, d, d, d, d, d, T.port, d, d,
        T.port_other, d, d);
    ck_assert(len > 0 && (size_t)len < sizeof conf);
    write_file(in_dir("nginx.conf"), conf);
}

/* Starts nginx in the foreground as our child. It is told to die with us
 * (PR_SET_PDEATHSIG), so a test run that is killed (a meson timeout)
 * cannot leave it running. Returns true once its pid file exists, which nginx writes
 * after binding its ports; false if it exited first (a port was taken). */
static bool start_nginx(void)
{
    char prefix[512], conf[512], err[512];
    snprintf(prefix, sizeof prefix, "%s/", T.dir);
    snprintf(conf, sizeof conf, "%s/nginx.conf", T.dir);
    snprintf(err, sizeof err, "%s/error.log", T.dir);
    unlink(in_dir("nginx.pid"));
    pid_t parent = getpid();
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (getppid() != parent)
            _exit(1);
        int in = open("/dev/null", O_RDONLY);
        int out = open(in_dir("nginx.out"), O_WRONLY | O_CREAT | O_APPEND, 0600);
        if (in < 0 || out < 0)
            _exit(126);
        dup2(in, 0);
        dup2(out, 1);
        dup2(out, 2);
        const char *argv[] = {T.nginx, "-p", prefix, "-c", conf, "-e", err, NULL};
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    T.nginx_pid = pid;
    double deadline = testutil_now_s() + 5.0;
    while (testutil_now_s() < deadline) {
        int status;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            T.nginx_pid = 0;
            return false;
        }
        struct stat st;
        if (stat(in_dir("nginx.pid"), &st) == 0 && st.st_size > 0)
            return true;
        usleep(10000);
    }
    return false;
}

static void stop_nginx(void)
{
    if (T.nginx_pid <= 0)
        return;
    kill(T.nginx_pid, SIGTERM);
    double deadline = testutil_now_s() + 5.0;
    int status;
    while (waitpid(T.nginx_pid, &status, WNOHANG) == 0) {
        if (testutil_now_s() > deadline) {
            kill(T.nginx_pid, SIGKILL);
            waitpid(T.nginx_pid, &status, 0);
            break;
        }
        usleep(5000);
    }
    T.nginx_pid = 0;
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* Idempotent: the fixture's teardown calls it, and so does exit() in case
 * the setup failed half-way (Check then skips the teardown). Only the
 * process that made the fixture acts: the forked tests inherit the atexit
 * handler too. */
static void cleanup(void)
{
    if (T.owner != getpid())
        return;
    stop_nginx();
    if (T.dir[0])
        nftw(T.dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    T.dir[0] = '\0';
}

/* Once per run, in Check's own process (an unchecked fixture), so that its
 * teardown runs even when a test fails: a failing forked test ends with
 * _exit() and would skip a checked teardown. */
static void fixture_setup(void)
{
    static bool registered;
    memset(&T, 0, sizeof T);
    T.owner = getpid();
    if (!registered && atexit(cleanup) == 0)
        registered = true;
    snprintf(T.nginx, sizeof T.nginx, "%s", find_program("nginx"));
    snprintf(T.openssl, sizeof T.openssl, "%s", find_program("openssl"));
    const char *tmp = getenv("TMPDIR");
    snprintf(T.dir, sizeof T.dir, "%s/msg91-e2e-tls.XXXXXX",
             tmp && tmp[0] ? tmp : "/tmp");
    ck_assert_msg(mkdtemp(T.dir) != NULL, "mkdtemp: %s", strerror(errno));
    make_certificates();
    /* Another process may take a port between our probe and nginx's bind;
     * then nginx exits and we try two fresh ones. */
    for (int attempt = 0; attempt < 5; attempt++) {
        T.port = free_port();
        do
            T.port_other = free_port();
        while (T.port_other == T.port);
        write_nginx_conf();
        if (start_nginx())
            return;
        stop_nginx();
    }
    char *log = testutil_read_file(in_dir("error.log"), NULL);
    ck_abort_msg("nginx did not start:\n%s", log ? log : "(no error log)");
}

static void fixture_teardown(void)
{
    cleanup();
}

/* Before each test: an empty access log. nginx appends (O_APPEND), so its
 * next line lands at the start of the truncated file. */
static void test_setup(void)
{
    ck_assert_int_eq(truncate(in_dir("access.log"), 0), 0);
}

/* ---- the server under test ---- */

struct srv {
    struct testutil_child c;
};

/* Spawns msg91-mcp with this base URL and, when ca_file is not NULL, this
 * CA bundle, and completes the MCP handshake. */
static void srv_start(struct srv *v, const char *base_url, const char *ca_file)
{
    char base_env[512], ca_env[1024];
    snprintf(base_env, sizeof base_env, "MSG91_BASE_URL=%s", base_url);
    snprintf(ca_env, sizeof ca_env, "MSG91_CA_FILE=%s", ca_file ? ca_file : "");
    const char *env[] = {base_env, "MSG91_AUTH_KEY=" TEST_KEY, "MSG91_LOG_LEVEL=error",
                         ca_file ? ca_env : NULL, NULL};
    const char *argv[] = {"msg91-mcp", NULL};
    ck_assert_int_eq(testutil_spawn(&v->c, argv, env), 0);
    testutil_initialize(&v->c, "e2e-tls", REPLY_MS);
}

/* Ends the server: stdin closed, exit 0, nothing on stderr but what is
 * allowed, and never the key. Returns stderr (malloc'd). */
static char *srv_stop(struct srv *v)
{
    ck_assert_int_eq(testutil_finish(&v->c, 10000), 0);
    char *err = testutil_read_stderr(&v->c);
    ck_assert_msg(!strstr(err, TEST_KEY), "key on stderr: %s", err);
    return err;
}

static void send_call(struct srv *v, long id)
{
    char line[256];
    snprintf(line, sizeof line,
             "{\"jsonrpc\":\"2.0\",\"id\":%ld,\"method\":\"tools/call\",\"params\":"
             "{\"name\":\"list_campaigns\",\"arguments\":{}}}",
             id);
    ck_assert_int_eq(testutil_send_line(&v->c, line), 0);
}

/* The result of a tools/call (borrowed from resp), after checking that resp
 * answers this id. */
static json_t *result_of(json_t *resp, long id)
{
    char *dump = json_dumps(resp, JSON_COMPACT);
    ck_assert_msg(json_integer_value(json_object_get(resp, "id")) == id,
                  "expected id %ld: %s", id, dump);
    json_t *res = json_object_get(resp, "result");
    ck_assert_msg(json_is_object(res), "not a result: %s", dump);
    free(dump);
    return res;
}

/* A successful list_campaigns result for the body nginx sends. */
static void expect_campaigns(json_t *res)
{
    char *dump = json_dumps(res, JSON_COMPACT);
    ck_assert_msg(!json_is_true(json_object_get(res, "isError")), "tool error: %s", dump);
    json_t *want = json_loads(CAMPAIGNS_RESULT, 0, NULL);
    ck_assert_msg(json_equal(json_object_get(res, "structuredContent"), want),
                  "got %s\nwant structuredContent %s", dump, CAMPAIGNS_RESULT);
    json_decref(want);
    free(dump);
}

/* A tool error with exactly this text. */
static void expect_error_text(json_t *res, const char *text)
{
    char *dump = json_dumps(res, JSON_COMPACT);
    ck_assert_msg(json_is_true(json_object_get(res, "isError")), "not a tool error: %s",
                  dump);
    free(dump);
    ck_assert_ptr_null(json_object_get(res, "structuredContent"));
    json_t *content = json_object_get(res, "content");
    ck_assert_uint_eq(json_array_size(content), 1);
    ck_assert_str_eq(
        json_string_value(json_object_get(json_array_get(content, 0), "text")), text);
}

/* One call, answered within REPLY_MS; returns the response (new reference). */
static json_t *call_once(struct srv *v)
{
    send_call(v, 1);
    json_t *r = testutil_read_json(&v->c, REPLY_MS);
    ck_assert_msg(r != NULL, "no answer to tools/call");
    return r;
}

/* ---- nginx's access log ---- */

struct log_line {
    unsigned port;
    char protocol[16];
    unsigned long connection;
    unsigned long requests;
    char tls[16];
    int status;
    char method[8];
    char uri[256];
    double end_s;  /* when nginx finished the request ($msec) */
    double took_s; /* how long it had it ($request_time) */
};

/* Parses the access log into lines (malloc'd; *n set); waits up to 2 s for
 * at least `want` lines, since nginx logs a request as it closes the
 * stream, which may be a moment after the client has the answer. */
static struct log_line *read_access_log(size_t want, size_t *n)
{
    double deadline = testutil_now_s() + 2.0;
    for (;;) {
        char *text = testutil_read_file(in_dir("access.log"), NULL);
        size_t cap = 0, count = 0;
        struct log_line *lines = NULL;
        char *save = NULL;
        for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l;
             l = strtok_r(NULL, "\n", &save)) {
            if (count == cap) {
                cap = cap ? cap * 2 : 64;
                struct log_line *grown = realloc(lines, cap * sizeof *lines);
                ck_assert_ptr_nonnull(grown);
                lines = grown;
            }
            struct log_line *x = &lines[count++];
            ck_assert_msg(sscanf(l, "%u %15s %lu %lu %15s %d %7s %255s %lf %lf", &x->port,
                                 x->protocol, &x->connection, &x->requests, x->tls,
                                 &x->status, x->method, x->uri, &x->end_s,
                                 &x->took_s) == 10,
                          "unexpected access log line: %s", l);
        }
        free(text);
        if (count >= want || testutil_now_s() > deadline) {
            *n = count;
            return lines;
        }
        free(lines);
        usleep(10000);
    }
}

/* The most requests nginx had in hand at one moment, from the intervals
 * [end - request_time, end] of its log: 1 if they ran one after another. */
static size_t most_at_once(const struct log_line *lines, size_t n)
{
    size_t most = 0;
    for (size_t i = 0; i < n; i++) {
        double at = lines[i].end_s - lines[i].took_s;
        size_t open = 0;
        for (size_t j = 0; j < n; j++)
            open += lines[j].end_s - lines[j].took_s <= at && lines[j].end_s > at;
        if (open > most)
            most = open;
    }
    return most;
}

/* ---- the tests ---- */

START_TEST(fifty_calls_share_one_http2_connection)
{
    struct srv v;
    srv_start(&v, F("https://localhost:%u", T.port), in_dir("ca.pem"));
    /* All at once: each answer takes DELAY_S, so they overlap at nginx. */
    for (long id = 1; id <= CALLS; id++)
        send_call(&v, id);
    bool seen[CALLS + 1] = {false};
    for (int i = 0; i < CALLS; i++) {
        json_t *r = testutil_read_json(&v.c, REPLY_MS);
        ck_assert_msg(r != NULL, "answer %d of %d missing", i + 1, CALLS);
        long id = (long)json_integer_value(json_object_get(r, "id"));
        ck_assert_msg(id >= 1 && id <= CALLS && !seen[id], "unexpected id %ld", id);
        seen[id] = true;
        expect_campaigns(result_of(r, id));
        json_decref(r);
    }
    char *err = srv_stop(&v);
    ck_assert_str_eq(err, "");
    free(err);

    size_t n;
    struct log_line *lines = read_access_log(CALLS, &n);
    ck_assert_uint_eq(n, CALLS);
    /* They overlapped at nginx (one after the other, this would be 1). */
    size_t at_once = most_at_once(lines, n);
    ck_assert_msg(at_once >= 10, "at most %zu of %d calls at once at nginx", at_once,
                  CALLS);
    unsigned long conns[CALLS];
    unsigned long per_conn[CALLS] = {0}; /* requests seen on conns[i] */
    unsigned long max_requests[CALLS] = {0};
    size_t nconns = 0;
    unsigned long top = 0;
    for (size_t i = 0; i < n; i++) {
        const struct log_line *x = &lines[i];
        ck_assert_uint_eq(x->port, T.port);
        ck_assert_str_eq(x->protocol, "HTTP/2.0");
        ck_assert_str_eq(x->tls, "TLSv1.3");
        ck_assert_int_eq(x->status, 200);
        ck_assert_str_eq(x->method, "GET");
        ck_assert_str_eq(x->uri, CAMPAIGNS_PATH "?pageNo=1&itemsPerPage=25");
        size_t c = 0;
        while (c < nconns && conns[c] != x->connection)
            c++;
        if (c == nconns)
            conns[nconns++] = x->connection;
        per_conn[c]++;
        if (x->requests > max_requests[c])
            max_requests[c] = x->requests;
        if (x->requests > top)
            top = x->requests;
    }
    /* Multiplexing and reuse: the calls share very few connections, and on
     * each one nginx numbered the requests 1..k without a gap. */
    ck_assert_msg(nconns == 1, "%zu connections for %d calls", nconns, CALLS);
    ck_assert_uint_ge(top, CALLS / 2);
    for (size_t c = 0; c < nconns; c++) {
        ck_assert_uint_eq(max_requests[c], per_conn[c]);
        for (unsigned long k = 1; k <= per_conn[c]; k++) {
            size_t hits = 0;
            for (size_t i = 0; i < n; i++)
                hits += lines[i].connection == conns[c] && lines[i].requests == k;
            ck_assert_msg(hits == 1, "request %lu of connection %lu seen %zu times", k,
                          conns[c], hits);
        }
    }
    free(lines);
}
END_TEST

START_TEST(without_the_ca_file_the_certificate_is_refused)
{
    struct srv v;
    srv_start(&v, F("https://localhost:%u", T.port), NULL);
    json_t *r = call_once(&v);
    expect_error_text(result_of(r, 1),
                      "The TLS connection to MSG91 failed (SSL certificate problem: "
                      "unable to get local issuer certificate)" TLS_ADVICE);
    json_decref(r);
    char *err = srv_stop(&v);
    ck_assert_str_eq(err, "");
    free(err);
    size_t n;
    free(read_access_log(0, &n));
    ck_assert_uint_eq(n, 0);
}
END_TEST

START_TEST(a_certificate_for_another_name_is_refused)
{
    /* The CA is trusted, but this certificate names other.invalid only. */
    struct srv v;
    srv_start(&v, F("https://127.0.0.1:%u", T.port_other), in_dir("ca.pem"));
    json_t *r = call_once(&v);
    expect_error_text(
        result_of(r, 1),
        "The TLS connection to MSG91 failed (SSL: no alternative certificate "
        "subject name matches target host name '127.0.0.1')" TLS_ADVICE);
    json_decref(r);
    char *err = srv_stop(&v);
    ck_assert_str_eq(err, "");
    free(err);
    /* The same CA and address with the certificate that does name
     * 127.0.0.1: the name was the only reason. */
    srv_start(&v, F("https://127.0.0.1:%u", T.port), in_dir("ca.pem"));
    r = call_once(&v);
    expect_campaigns(result_of(r, 1));
    json_decref(r);
    err = srv_stop(&v);
    ck_assert_str_eq(err, "");
    free(err);
    size_t n;
    struct log_line *lines = read_access_log(1, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(lines[0].port, T.port);
    ck_assert_str_eq(lines[0].protocol, "HTTP/2.0");
    ck_assert_str_eq(lines[0].tls, "TLSv1.3");
    free(lines);
}
END_TEST

/* A CA bundle that cannot be read is a configuration error at start-up,
 * with the path and the reason, rather than a TLS failure on every call. */
START_TEST(a_missing_ca_file_is_a_startup_error)
{
    const char *missing = in_dir("no-such-ca.pem");
    char base_env[512], ca_env[1024];
    snprintf(base_env, sizeof base_env, "MSG91_BASE_URL=https://localhost:%u", T.port);
    snprintf(ca_env, sizeof ca_env, "MSG91_CA_FILE=%s", missing);
    const char *env[] = {base_env, "MSG91_AUTH_KEY=" TEST_KEY, ca_env, NULL};
    const char *argv[] = {"msg91-mcp", NULL};
    struct testutil_child c;
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    ck_assert_int_eq(testutil_finish(&c, 10000), 1);
    char *err = testutil_read_stderr(&c);
    char expect[1200];
    snprintf(
        expect, sizeof expect,
        "msg91-mcp: configuration error: MSG91_CA_FILE %s cannot be read: No such file "
        "or directory\n",
        missing);
    ck_assert_str_eq(err, expect);
    free(err);
    size_t n;
    free(read_access_log(0, &n));
    ck_assert_uint_eq(n, 0);
}
END_TEST

int main(void)
{
    /* Exit code 77 tells meson the suite was skipped. */
    const char *missing = NULL;
    if (!find_program("nginx"))
        missing = "nginx is not installed (Debian: nginx-light)";
    else if (access(ECHO_MODULE, R_OK) != 0)
        missing = ECHO_MODULE " is missing (Debian: libnginx-mod-http-echo)";
    else if (!find_program("openssl"))
        missing = "the openssl command is not installed (Debian: openssl)";
    if (missing) {
        fprintf(stderr, "e2e_tls skipped: %s; scripts/deps --test installs it\n",
                missing);
        return 77;
    }
    Suite *s = suite_create("e2e_tls");
    TCase *tc = tcase_create("tls");
    tcase_set_timeout(tc, 30);
    tcase_add_unchecked_fixture(tc, fixture_setup, fixture_teardown);
    tcase_add_checked_fixture(tc, test_setup, NULL);
    tcase_add_test(tc, fifty_calls_share_one_http2_connection);
    tcase_add_test(tc, without_the_ca_file_the_certificate_is_refused);
    tcase_add_test(tc, a_certificate_for_another_name_is_refused);
    tcase_add_test(tc, a_missing_ca_file_is_a_startup_error);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
