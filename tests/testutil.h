/* Helpers shared by the Check suites: where the shared data and the built
 * binary are, reading whole files, and a child process speaking to the
 * real msg91-mcp binary over pipes. */
#ifndef MSG91_TESTUTIL_H
#define MSG91_TESTUTIL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Path of the built binary (MSG91_MCP_BIN). */
const char *testutil_binary(void);
/* Seconds on the monotonic clock, for measuring how long something took. */
double testutil_now_s(void);
/* printf into one of eight rotating static buffers, for building lines
 * and environment entries inline. Tests are single-threaded. */
const char *testutil_fmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Reads a whole file into a malloc'd NUL-terminated buffer, or NULL. */
char *testutil_read_file(const char *path, size_t *len);

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
/* Closes stdin and waits up to timeout_ms for exit; returns the exit
 * status (0..255), 128+signal, or -1 on timeout (the child is then killed). */
int testutil_finish(struct testutil_child *c, int timeout_ms);
/* Everything the child wrote to stderr so far (after it exited). */
char *testutil_read_stderr(struct testutil_child *c);

#endif
