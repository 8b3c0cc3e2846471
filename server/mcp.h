/* One MCP session over a line transport, in both eras of the protocol.
 * Legacy (2024-11-05 to 2025-11-25): the initialize handshake and version
 * negotiation, ping, tools/list, tools/call, logging/setLevel, batches
 * where the version allows them. Modern (2026-07-28): no handshake; each
 * request names its version and the client's capabilities in _meta and is
 * served on its own (server/discover, tools/list, tools/call). Both:
 * cancellation and progress. It reads messages and writes lines; it knows
 * nothing about stdio or HTTP, so tests drive it directly. */
#ifndef MSG91_MCP_H
#define MSG91_MCP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <uv.h>

#include "server/config.h"
#include "server/dispatch.h"

#define MCP_SERVER_NAME "msg91-mcp"
/* The newest version initialize negotiates (the legacy era). */
#define MCP_LATEST_VERSION "2025-11-25"
/* The stateless era's version, served without initialize. */
#define MCP_MODERN_VERSION "2026-07-28"

/* The JSON-RPC error codes 2026-07-28 adds. */
enum mcp_error_code {
    MCP_HEADER_MISMATCH = -32020,              /* HTTP headers disagree with the body */
    MCP_MISSING_CLIENT_CAPABILITY = -32021,    /* data.requiredCapabilities */
    MCP_UNSUPPORTED_PROTOCOL_VERSION = -32022, /* data.supported, data.requested */
};

struct mcp_session;

/* What a protocol version allows: chosen once at initialize for a legacy
 * session, per request in the modern era. Every difference between
 * versions is a question to this struct, never a comparison of dates. */
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
    /* No initialize: each request carries its version and the client's
     * capabilities in params._meta; server/discover answers; ping and
     * logging/setLevel are gone. */
    bool stateless;
    bool result_type;      /* every result carries resultType */
    bool cache_hints;      /* server/discover and tools/list carry ttlMs, cacheScope */
    bool server_info_meta; /* every result names the server in its _meta */
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

/* For a transport that answers each request with its reply alone (HTTP
 * with JSON responses): the session writes no notifications, and a call
 * with a progress token is served as one without. */
void mcp_session_drop_notifications(struct mcp_session *s);

/* Names the transport ("stdio", "http") and the client's address (NULL:
 * none) for the audit lines of this session's calls (copied), and the
 * persona its calls are made as (NULL: the server's default; borrowed: the
 * caller keeps its set referenced while the session lives). */
void mcp_session_set_peer(struct mcp_session *s, const char *transport,
                          const char *address, const struct persona *persona);

/* Cancels pending calls without replies and frees the session. Its timer
 * is closed, and released by the loop's next turn: run the loop once more
 * before closing it. Accepts NULL. */
void mcp_session_destroy(struct mcp_session *s);

/* Handles one input line (NUL-terminated, without the newline). */
void mcp_session_handle_line(struct mcp_session *s, const char *line, size_t len);

/* For an HTTP transport: what one POST carried besides its body. Strings
 * are borrowed, NULL when the header was absent, already decoded (a
 * "=?base64?...?=" value) and without surrounding white space. */
struct mcp_http_request {
    const char *protocol_version; /* MCP-Protocol-Version */
    const char *method;           /* Mcp-Method */
    const char *name;             /* Mcp-Name */
};

/* What became of one message, for the status of an HTTP answer. */
struct mcp_outcome {
    bool request; /* exactly one reply line is written, now or when the call
                     finishes; false: nothing is written (HTTP 202) */
    bool modern;  /* served as the 2026-07-28 era */
    /* Refused for its protocol envelope (version, _meta, headers, client
     * capabilities), as not a JSON-RPC message, or as a batch the version
     * does not allow: HTTP 400. */
    bool bad_envelope;
    int error; /* the JSON-RPC code of an error reply written at once, or 0 */
};

/* Handles one message (a JSON-RPC request, notification or, for
 * 2025-03-26, a batch; NUL-terminated). This is the entry for a transport
 * that serves one message per exchange, such as HTTP: create a session
 * for the exchange, call this once, collect the lines its write function
 * receives (notifications for the request, then its one reply: the line
 * with a "result" or "error" member), destroy it when mcp_session_pending
 * is 0. Nothing is kept from one session to the next, which is all the
 * 2026-07-28 era needs.
 *
 * http is NULL on stdio. With it, the era is chosen by the header: a
 * legacy version is served as that version without initialize (stateless
 * legacy HTTP), an absent header as 2025-03-26 unless the body carries a
 * 2026-07-28 _meta, and anything else as 2026-07-28, where the header must
 * be present and match the body (else -32020) and an unknown version gets
 * -32022. out (may be NULL) receives what happened. */
void mcp_session_handle_message(struct mcp_session *s, const char *text, size_t len,
                                const struct mcp_http_request *http,
                                struct mcp_outcome *out);

/* The HTTP status for an outcome: 202 without a request, 400 for a bad
 * envelope or a parse error, 404 for a 2026-07-28 method the server does
 * not have, 200 otherwise (tool errors are results). */
int mcp_outcome_http_status(const struct mcp_outcome *o);

/* Says that the tools this session shows depend on who asks (a persona):
 * 2026-07-28 tools/list answers then say cacheScope "private", so no
 * cache shares them between callers. Off by default ("public"). */
void mcp_session_set_caller_scoped(struct mcp_session *s, bool scoped);

/* The capabilities in required (a ClientCapabilities object, borrowed)
 * that declared (borrowed, may be NULL) lacks, as the
 * data.requiredCapabilities of a -32021 error: a new reference, or NULL
 * when nothing is missing. A capability is missing when its key is absent
 * or, for a non-empty object, when one of its own members is missing. */
json_t *mcp_missing_capabilities(json_t *required, json_t *declared);

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

/* The version negotiated by initialize, or NULL before it (2026-07-28
 * requests never change it). */
const char *mcp_session_version(const struct mcp_session *s);

/* True when the version is one the server speaks, in either era. */
int mcp_version_supported(const char *version);

#endif
