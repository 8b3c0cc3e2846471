/* Serving MCP over stdio: wires the transport, the session and the
 * dispatch onto one libuv loop, and owns the shutdown rules (stdin EOF,
 * SIGTERM and SIGINT let in-flight calls finish for a bounded time; a
 * closed stdout ends the process cleanly). */
#ifndef MSG91_SERVE_H
#define MSG91_SERVE_H

#include "server/config.h"

/* Runs until the session ends. Returns the process exit code. */
int serve_stdio(const struct config *cfg);

#endif
