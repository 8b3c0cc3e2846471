/* The tool table: what each MSG91 tool is (name, text for the model,
 * annotations, schemas, endpoint), the function that turns valid arguments
 * into the upstream request and the reader that turns the upstream answer
 * into a result (tools/answer.h). Adding a tool means a schema pair under
 * schemas/, one entry in tool_table (tools/table.c), its build function and
 * its reader. Design note: doc/tools.md. */
#ifndef MSG91_TOOL_H
#define MSG91_TOOL_H

#include <jansson.h>
#include <stdbool.h>

#include "tools/service.h"
#include "upstream/http.h"

/* Where an argument travels in the upstream request. */
enum tool_place {
    TOOL_PLACE_DEFAULT, /* in an override: keep the tool's default place */
    TOOL_PLACE_PATH,    /* at {arg} in the path template, as one segment */
    TOOL_PLACE_QUERY,   /* a query parameter */
    TOOL_PLACE_BODY,    /* a member of the JSON body */
    TOOL_PLACE_MERGE,   /* an object whose members become the body's */
    TOOL_PLACE_OMIT,    /* not sent */
};

/* One argument's place and upstream name. A tool lists one for each of
 * its arguments (tool_def.params); an endpoint override lists only those
 * it moves. Lists end with a NULL arg. */
struct tool_param {
    const char *arg;
    enum tool_place place;
    /* The name upstream (query or body); NULL: the default's, else the
     * argument's own. A path placeholder is always {arg}. */
    const char *name;
    /* An object or array: it can travel only in the body, or not at all. */
    bool structured;
};

/* Method, path template and argument placement. "{name}" in the path is
 * replaced by the argument of that name, percent-encoded as one path
 * segment; params moves arguments away from their default place
 * (NULL: none moved). tools/endpoint.h resolves the three together. */
struct tool_endpoint {
    const char *method;
    const char *path;
    const struct tool_param *params;
};

struct tool_def;
struct answer_reader;

/* What the request builder may use besides the arguments. */
struct tool_build_ctx {
    const struct tool_def *tool;
    const struct tool_endpoint *endpoint; /* effective: default or overridden */
    const char *base_url;                 /* no trailing slash */
    /* The configured value of the setting tool->arg_default names, which
     * stands for that argument when a call leaves it out or empty; NULL
     * when the tool has none or it is not configured. */
    const char *arg_default;
};

/* What the answer reader may use besides the answer. */
struct tool_read_ctx {
    const struct tool_def *tool;
    long timeout_ms; /* the configured per-request timeout, for messages */
    /* The endpoint the request went to (default or overridden), named in
     * "route missing" errors; NULL names only the tool. */
    const struct tool_endpoint *endpoint;
};

/* The reader's verdict. Exactly one of structured (success, a new
 * reference conforming to the output schema) or error_text (malloc'd, a
 * sentence saying what happened and what to do) is set. upstream_request_id
 * is MSG91's request id when the answer had one (malloc'd or NULL).
 * maybe_sent is set with an error whose text says the outcome is unknown
 * (a server error, an answer that cannot be read): the duplicate guard then
 * keeps identical calls out as if it had been sent. */
struct tool_outcome {
    json_t *structured;
    char *error_text;
    char *upstream_request_id;
    bool maybe_sent;
};

/* Fills req (method, url, body, content_type, retryable) from args, which
 * have already passed the input schema. Returns 0, or -1 with *error set to a
 * malloc'd sentence (e.g. no template id configured). */
typedef int tool_build_fn(const struct tool_build_ctx *ctx, json_t *args,
                          struct http_request *req, char **error);

/* A sending tool's recipients: appends to out (a JSON array) each number
 * the call sends to, as digits with the country code, for the country
 * allowlist and the per-recipient limit. args have passed the input
 * schema. Returns 0, or -1 when memory ran out. */
typedef int tool_recipients_fn(json_t *args, json_t *out);

/* An argument whose default comes from a setting the tools add to the
 * configuration (SERVICE_SETTINGS in tools/service.h). */
struct tool_arg_default {
    const char *arg; /* NULL: the tool has no such argument */
    enum service_setting setting;
};

struct tool_def {
    const char *name;        /* snake_case, fixed by the contract */
    const char *title;       /* display name */
    const char *description; /* written for a model: when to use, what next */
    bool read_only;
    bool destructive;
    bool idempotent;
    bool open_world;
    struct tool_endpoint endpoint; /* default; the config file may override */
    /* Every argument with its default place; what the build function
     * computes for an argument travels there (tools/endpoint.h). */
    const struct tool_param *params;
    struct tool_arg_default arg_default;
    tool_build_fn *build;
    /* How the answer becomes an outcome (tools/answer.h): tool_read. */
    const struct answer_reader *reader;
    /* Safe sends (doc/server.md): the tool sends messages, so it takes an
     * idempotency_key and the duplicate guard and the send limits apply. */
    bool sends;
    /* Counts against the per-recipient hourly limit
     * (SERVICE_LIMIT_CODES_PER_RECIPIENT_HOUR). */
    bool recipient_limit;
    tool_recipients_fn *recipients; /* NULL: none to check */
};

extern const struct tool_def *const tool_table[];
extern const unsigned tool_table_len;

/* Borrowed pointer to the tool with this exact name, or NULL. */
const struct tool_def *tool_find(const char *name);

/* Turns the upstream answer to a call of ctx->tool into an outcome, as its
 * reader says. args are the call's arguments. */
void tool_read(const struct tool_read_ctx *ctx, const struct http_response *resp,
               json_t *args, struct tool_outcome *out);

/* Releases what an outcome holds and zeroes it. */
void tool_outcome_finish(struct tool_outcome *out);

#endif
