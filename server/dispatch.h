/* The tool-call pipeline shared by MCP sessions and `msg91-mcp call`:
 * find the tool, enforce the scope (allowlist, read-only), validate the
 * arguments against the input schema, build the upstream request, and
 * either return it (dry run) or send it through the HTTP engine and turn
 * the answer into a CallToolResult. It also says which tools are exposed;
 * how a protocol version shows them is the MCP session's business. */
#ifndef MSG91_DISPATCH_H
#define MSG91_DISPATCH_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "server/config.h"

struct dispatch;
struct dispatch_call;

enum dispatch_status {
    DISPATCH_UNKNOWN_TOOL, /* no such tool: a protocol error (-32602) */
    DISPATCH_DONE,         /* *result holds the CallToolResult now */
    DISPATCH_PENDING,      /* the result arrives through done() */
};

/* Progress stages of a pending call, in order. There is no stage for
 * "answered": the result itself says that, and a notification sent with
 * the result would reach the client after it has forgotten the call. */
enum dispatch_stage {
    DISPATCH_STAGE_QUEUED = 1,
    DISPATCH_STAGE_SENT = 2,
};

/* A successful CallToolResult has exactly two members: content, one text
 * block holding the compact JSON of structuredContent, and
 * structuredContent. The MCP session relies on that to serialise it once. */
struct dispatch_callbacks {
    /* Steals result (a CallToolResult object, or NULL when memory ran out
     * while building it). Called once, from the loop. */
    void (*done)(void *data, json_t *result);
    /* May be NULL. */
    void (*stage)(void *data, enum dispatch_stage stage);
};

struct persona;
struct persona_set;

/* Who asked. Borrowed, each may be NULL. name and version are for the
 * audit log. persona is the persona the call is made as: its tools, key
 * and defaults apply, and the audit line names it; NULL means the
 * dispatch's own persona (MSG91_PERSONA, see dispatch_create), if any. It
 * needs to stay valid only during dispatch_call. */
struct dispatch_client {
    const char *name;
    const char *version;
    const struct persona *persona;
    const char *transport; /* "stdio", "http", "https"; NULL: not said */
    const char *address;   /* the client's address (HTTP), or NULL */
};

/* Loads every tool schema and the personas file (MSG91_PERSONAS) when one
 * is set; with MSG91_PERSONA, calls and lists default to that persona. A
 * tool's input schema is compiled at its first call; one that does not
 * compile fails that call with an internal error. cfg and loop are borrowed and must
 * outlive the dispatch. Returns NULL with *error set (malloc'd) on failure: a personas
 * file that does not load, or a persona it does not define. */
struct dispatch *dispatch_create(const struct config *cfg, uv_loop_t *loop, char **error);

/* Compiles every tool's input schema now instead of at its first call,
 * as a test or a check at start can ask. Returns 0, or -1 with *error set
 * (malloc'd; NULL when memory ran out) for the first that does not
 * compile. */
int dispatch_compile_schemas(struct dispatch *d, char **error);

/* Cancels pending calls (without callbacks), closes the HTTP engine and
 * the state store and frees everything; `closed` runs when all is
 * released (from the loop, or at once when there was nothing to wait for). */
void dispatch_destroy(struct dispatch *d, void (*closed)(void *data), void *data);

struct store;

/* Opens the state store MSG91_STORE names (doc/store.md), logging through
 * the server's log; dispatch_create does this, `msg91-mcp state` too.
 * Returns NULL with *error set (malloc'd; NULL when memory ran out) when
 * the spec is wrong or an explicit SQLite file cannot be opened. Redis is
 * connected in the background. Close it with store_close. */
struct store *dispatch_open_store(const struct config *cfg, uv_loop_t *loop,
                                  char **error);

/* The dispatch's store (borrowed). */
struct store *dispatch_store(const struct dispatch *d);

/* One exposed tool, as a client sees it. Everything is borrowed and lives
 * as long as the dispatch. */
struct dispatch_tool {
    const char *name; /* the exposed name, prefix included */
    const char *title;
    const char *description;
    json_t *input_schema;
    json_t *output_schema;
    bool read_only;
    bool destructive;
    bool idempotent;
    bool open_world;
};

/* The number of tools this configuration exposes (allowlist and read-only
 * mode applied, and the dispatch's own persona's tools when it has one),
 * and the i-th of them (i < that number), in table order. */
unsigned dispatch_tool_count(const struct dispatch *d);
const struct dispatch_tool *dispatch_tool_at(const struct dispatch *d, unsigned i);

/* The same for persona p (borrowed); NULL means no persona: the server's
 * own allowlist and read-only mode. */
unsigned dispatch_tool_count_as(const struct dispatch *d, const struct persona *p);
const struct dispatch_tool *dispatch_tool_at_as(const struct dispatch *d,
                                                const struct persona *p, unsigned i);

/* The personas loaded from MSG91_PERSONAS (borrowed; NULL without the
 * file), for authenticating clients. A reload replaces it: take a
 * reference (persona_set_ref) to keep a persona past the current loop
 * turn. */
struct persona_set *dispatch_personas(const struct dispatch *d);

/* The persona calls default to (MSG91_PERSONA), or NULL. */
const struct persona *dispatch_persona(const struct dispatch *d);

/* Loads the personas file again (on SIGHUP): new tokens, tools and keys
 * apply to calls made from now on. A file that does not load, or that no
 * longer defines the dispatch's own persona, leaves the current set in
 * force; either way the outcome is logged. Returns 0 or a negative errno
 * (-ENOENT when no personas file is configured). */
int dispatch_reload_personas(struct dispatch *d);

/* The input schema document of the exposed tool name (borrowed), or NULL,
 * also for a tool the dispatch's own persona may not use. */
json_t *dispatch_input_schema(struct dispatch *d, const char *name);

/* Starts a call. name is the exposed name (with the prefix, if any); args
 * is borrowed and may be NULL (treated as {}). A tool the caller's persona
 * may not use is DISPATCH_UNKNOWN_TOOL, as if it did not exist (and is
 * audited as "refused"). With DISPATCH_DONE, *result
 * is NULL when memory ran out before a result could be built. */
enum dispatch_status dispatch_call(struct dispatch *d, const char *name, json_t *args,
                                   const struct dispatch_client *client,
                                   const struct dispatch_callbacks *cb, void *data,
                                   json_t **result, struct dispatch_call **call);

/* Aborts a pending call; its callbacks never run. */
void dispatch_cancel(struct dispatch_call *call);

/* Reopens the audit log (on SIGHUP, after rotation). */
void dispatch_reopen_audit(struct dispatch *d);

/* Number of calls still waiting for their result. */
unsigned dispatch_pending(const struct dispatch *d);

/* A CallToolResult with isError and one text block (new reference). */
json_t *dispatch_error_result(const char *text);

#endif
