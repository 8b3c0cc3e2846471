/* Where each argument of a tool travels: its default place (tool_def.params)
 * changed by an endpoint's path template and its params overrides. The
 * configuration resolves every override once at start-up, so a mapping
 * that cannot work is refused there with a sentence; the request builder
 * resolves again for each call and follows the result for every tool.
 * Design note: doc/tools.md, "Endpoint mapping". */
#ifndef MSG91_TOOLS_ENDPOINT_H
#define MSG91_TOOLS_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "tools/tool.h"

/* Most arguments a tool may have. */
#define ENDPOINT_MAX_PARAMS 32

/* The resolved place of one argument. */
struct endpoint_place {
    const char *arg;
    enum tool_place place; /* never TOOL_PLACE_DEFAULT */
    const char *name;      /* the upstream name (query and body) */
};

struct endpoint_plan {
    struct endpoint_place params[ENDPOINT_MAX_PARAMS];
    size_t len;
    /* A JSON body is sent ({} when no value goes there): some argument
     * travels in it, which a GET request never has. */
    bool has_body;
};

/* Resolves the placement of t's arguments for ep (method, path, params).
 * Returns 0, or -1 with *error set to a malloc'd sentence naming the tool
 * and what is wrong: an override of an argument the tool does not have, a
 * placeholder that names no argument, an argument placed in the path with
 * no placeholder for it, an object or list outside the body, a body
 * argument placed in a GET request, two arguments with one upstream name,
 * or a malformed template. An argument whose default place is the body
 * travels in the query of a GET request (which has no body). */
int endpoint_plan(const struct tool_def *t, const struct tool_endpoint *ep,
                  struct endpoint_plan *plan, char **error);

/* The resolved place of arg, or NULL when plan has none. */
const struct endpoint_place *endpoint_find(const struct endpoint_plan *plan,
                                           const char *arg);

/* Reads a placement as the config file writes it: "path", "query",
 * "body" or "omit", optionally followed by ":name". Returns 0 with *place
 * set and *name pointing at the name inside spec (NULL when there is
 * none), or -1 when spec is none of these. */
int endpoint_parse_place(const char *spec, enum tool_place *place, const char **name);

#endif
