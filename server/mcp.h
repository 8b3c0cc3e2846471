/* One MCP session over a line transport: the initialize handshake and
 * version negotiation, the methods the server implements (ping,
 * tools/list, tools/call, logging/setLevel), cancellation and progress,
 * and JSON-RPC batches where the negotiated version allows them. It reads
 * lines and writes lines; it knows nothing about stdio, so tests drive it
 * directly. */
#ifndef MSG91_MCP_H
#define MSG91_MCP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "server/config.h"
#include "server/dispatch.h"

#define MCP_SERVER_NAME "msg91-mcp"
#define MCP_LATEST_VERSION "2025-11-25"

struct mcp_session;

/* What the negotiated protocol version allows, chosen once at initialize:
 * every later difference between versions is a question to this struct,
 * never a comparison of dates. */
struct mcp_features {
    const char *version;     /* the negotiated version, as sent */
    bool titles;             /* Tool.title and serverInfo.title */
    bool output_schema;      /* Tool.outputSchema */
    bool structured_content; /* CallToolResult.structuredContent */
    bool annotations;        /* Tool.annotations */
    bool progress_message;   /* notifications/progress carries a message */
    bool server_description; /* serverInfo.description */
    bool batches;            /* JSON-RPC batches are accepted */
    bool no_null_id;         /* an unknown id is left out, never null */
};

/* The features of a version the server speaks (static, borrowed), or NULL. */
const struct mcp_features *mcp_features_find(const char *version);

/* The Tool objects dispatch exposes, shaped for the features f (borrowed).
 * Returns a new reference to an array, NULL when memory ran out. */
json_t *mcp_tools_json(struct dispatch *dispatch, const struct mcp_features *f);

/* Receives each outgoing message as one compact line without the newline,
 * already redacted and checked to be JSON. Returns 0, or a negative errno
 * code when the line could not be queued (-ENOMEM, or -EPIPE when stdout
 * is gone; libuv's codes are these): the session then answers a request
 * with its internal-error line. */
typedef int (*mcp_write_fn)(void *data, const char *line, size_t len);

/* loop, dispatch and cfg are borrowed and must outlive the session. The
 * session keeps one timer on loop (for progress notifications, which are
 * held back until a call has been in a stage for a while); it never keeps
 * the loop running once no call is pending. Returns NULL when memory ran
 * out. */
struct mcp_session *mcp_session_create(uv_loop_t *loop, struct dispatch *dispatch,
                                       const struct config *cfg, mcp_write_fn write,
                                       void *data);

/* Cancels pending calls without replies and frees the session. Its timer
 * is closed, and released by the loop's next turn: run the loop once more
 * before closing it. Accepts NULL. */
void mcp_session_destroy(struct mcp_session *s);

/* Handles one input line (NUL-terminated, without the newline). */
void mcp_session_handle_line(struct mcp_session *s, const char *line, size_t len);

/* Answers a line that was discarded for passing the size cap. */
void mcp_session_line_too_big(struct mcp_session *s, size_t max_line);

/* Answers a line that was discarded because memory ran out while it was
 * being read (its id is unknown, so the reply has none). */
void mcp_session_line_lost(struct mcp_session *s);

/* Answers every tool call still waiting for upstream with a tool error saying
 * the outcome is unknown, and stops waiting: at shutdown, when the grace
 * period is over, so that no request goes unanswered. */
void mcp_session_abandon_pending(struct mcp_session *s);

/* Tool calls still waiting for upstream. */
unsigned mcp_session_pending(const struct mcp_session *s);

/* The negotiated version, or NULL before initialize. */
const char *mcp_session_version(const struct mcp_session *s);

/* True when the version is one the server speaks. */
int mcp_version_supported(const char *version);

#endif
