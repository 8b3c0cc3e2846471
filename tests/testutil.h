/* Helpers shared by the Check suites: where the shared data and the built
 * binary are, running a suite, temporary files, loopback ports, a libuv
 * loop run until a counter moves, a child process speaking to the real
 * msg91-mcp binary over pipes, and an in-process sandbox with its control
 * routes. A helper that a second suite would copy belongs here. */
#ifndef MSG91_TESTUTIL_H
#define MSG91_TESTUTIL_H

#include <check.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

/* Path of the built binary (MSG91_MCP_BIN). */
const char *testutil_binary(void);
/* Seconds on the monotonic clock, for measuring how long something took. */
double testutil_now_s(void);
/* printf into one of eight rotating static buffers, for building lines
 * and environment entries inline. Tests are single-threaded. */
const char *testutil_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reads a whole file into a malloc'd NUL-terminated buffer, or NULL. */
char *testutil_read_file(const char *path, size_t *len);
/* Writes text to a fresh file under /tmp; returns its malloc'd path. The
 * caller unlinks it. Aborts the test on failure. */
char *testutil_temp_file(const char *text);

/* Runs every test of s the Check way; the exit status for main. */
int testutil_run(Suite *s);

/* A loopback port nothing listens on (bound once, then closed). */
unsigned testutil_closed_port(void);
/* A listening TCP socket on ip (port chosen by the kernel, in *port) that
 * never accepts: connections queue up to backlog and wait. */
int testutil_listener(const char *ip, int backlog, unsigned *port);

/* Runs loop one turn at a time until *counter reaches target; false when
 * timeout_ms passes first (the limit only turns a hang into a failure). */
bool testutil_run_until(uv_loop_t *loop, const int *counter, int target, int timeout_ms);

/* A running msg91-mcp with its stdin, stdout and stderr piped. */
struct testutil_child {
    pid_t pid;
    int in_fd;     /* we write the server's stdin here */
    int out_fd;    /* the server's stdout */
    int err_fd;    /* the server's stderr */
    char *pending; /* bytes read from stdout past the last full line */
    size_t pending_len;
};

/* Spawns the binary with argv (NULL-terminated, argv[0] ignored) and the
 * given extra environment entries ("K=V", NULL-terminated, may be NULL),
 * on top of a clean environment with PATH only. Returns 0 or -1. */
int testutil_spawn(struct testutil_child *c, const char *const *argv,
                   const char *const *env);
/* Writes all bytes to the child's stdin. */
int testutil_send(struct testutil_child *c, const char *data, size_t len);
/* Writes line + "\n". */
int testutil_send_line(struct testutil_child *c, const char *line);
/* Reads one stdout line (without "\n") within timeout_ms; malloc'd or NULL. */
char *testutil_read_line(struct testutil_child *c, int timeout_ms);
/* Reads one line and parses it; NULL on timeout or bad JSON. */
json_t *testutil_read_json(struct testutil_child *c, int timeout_ms);
/* The MCP handshake as a client does it: initialize with protocol
 * 2025-11-25 (asserting that version comes back), then
 * notifications/initialized. Aborts the test on failure. */
void testutil_initialize(struct testutil_child *c, const char *client_name,
                         int timeout_ms);
/* Spawns the binary (no arguments) with the environment entries env and
 * then extra (each NULL-terminated, extra may be NULL; 64 entries at most)
 * and does the handshake above. Aborts the test on failure. */
void testutil_start_session(struct testutil_child *c, const char *const *env,
                            const char *const *extra, const char *client_name,
                            int timeout_ms);
/* Closes stdin and waits up to timeout_ms for exit; returns the exit
 * status (0..255), 128+signal, or -1 on timeout (the child is then killed). */
int testutil_finish(struct testutil_child *c, int timeout_ms);
/* Ends a session: stdin closed, exit status 0 within timeout_ms, and
 * secret nowhere on stderr. Aborts the test otherwise. */
void testutil_stop_session(struct testutil_child *c, const char *secret, int timeout_ms);
/* Text a child wrote to a pipe, gathered as it comes (p is NULL or
 * NUL-terminated; free p when done). */
struct testutil_text {
    char *p;
    size_t len;
};
/* Appends what fd holds now to t, waiting up to timeout_ms for the first
 * bytes (0: none, -1: until the pipe closes). */
void testutil_drain(int fd, struct testutil_text *t, int timeout_ms);
/* Reads fd into t until t, from offset from on, holds needle, and returns
 * the offset just past it; fails the test after timeout_ms. */
size_t testutil_wait_for(int fd, struct testutil_text *t, size_t from, const char *needle,
                         int timeout_ms);
/* Everything the child wrote to stderr so far (after it exited). */
char *testutil_read_stderr(struct testutil_child *c);

/* An in-process sandbox on a free loopback port (seed as given), its base
 * URL "http://127.0.0.1:PORT" written to base. Aborts the test on failure. */
struct sandbox *testutil_sandbox_start(const char *auth_key, unsigned seed,
                                       char base[64]);
/* One HTTP request to base + path, on its own connection (closed after),
 * body sent as JSON when not NULL, authkey sent when not NULL. Returns the
 * answer parsed (new reference, NULL when not JSON) and its status. */
json_t *testutil_http(const char *base, const char *method, const char *path,
                      const char *body, const char *authkey, long *status);
/* A sandbox control route that must answer 200 with JSON (new reference). */
json_t *testutil_sandbox_ctl(const char *base, const char *method, const char *path,
                             const char *body);
/* One counter of /_sandbox/stats. */
json_int_t testutil_sandbox_stat(const char *base, const char *name);
/* Waits until that counter equals want, or fails the test after
 * timeout_ms. Ends as soon as the state is there. */
void testutil_sandbox_wait_stat(const char *base, const char *name, json_int_t want,
                                int timeout_ms);

#endif
