/* `msg91-mcp http`: the tools over Streamable HTTP (server/http_server.h)
 * on one libuv loop with the dispatch. Until a stateless entry point
 * exists in the MCP core, each POST is served by its own short-lived
 * mcp_session whose output callback collects the one reply. */
#ifndef MSG91_HTTP_SERVE_H
#define MSG91_HTTP_SERVE_H

#include "server/config.h"

/* Runs until SIGTERM or SIGINT (in-flight calls finish first). Returns the
 * process exit code. */
int serve_http(const struct config *cfg);

#endif
