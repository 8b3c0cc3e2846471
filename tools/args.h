/* Reading tool arguments that have passed the input schema. The schema
 * says what a value may be; these readers make sure a builder sees that
 * value, or refuses the call by name, and never falls back to a default
 * for a value the caller did give. */
#ifndef MSG91_TOOLS_ARGS_H
#define MSG91_TOOLS_ARGS_H

#include <jansson.h>

#include "tools/request.h"

/* Reads the integer argument name of args. JSON Schema counts 3.0 as an
 * integer, and the JSON-RPC parser reads a literal too big for 64 bits as
 * a real, so a real is taken when it is a whole number that fits a
 * json_int_t. Returns 1 with *value set, 0 when the argument is absent or
 * not a number (the schema has refused that already; *value untouched), or
 * -1 with *error set to a malloc'd sentence naming the argument. */
int args_integer(json_t *args, const char *name, json_int_t *value, char **error);

/* The same for a reader, whose arguments the builder has already accepted:
 * the value, or fallback when the argument is absent. */
json_int_t args_integer_or(json_t *args, const char *name, json_int_t fallback);

/* The page of a paged list tool: "page" (1 when absent) and "limit"
 * (default_limit when absent). Returns 0, or -1 with *error set as
 * args_integer does. */
int args_page(json_t *args, json_int_t default_limit, json_int_t *page, json_int_t *limit,
              char **error);

/* Puts the integer argument name of args into v when it was given.
 * Returns 0, or -1 with *error set as args_integer does. */
int args_put_integer(struct request_values *v, json_t *args, const char *name,
                     char **error);

/* Puts "page" and "limit" of a paged list tool into v, with their
 * defaults (1 and default_limit) when absent, so the page size does not
 * depend on what MSG91 picks today. Returns 0, or -1 with *error set as
 * args_integer does. */
int args_put_page(struct request_values *v, json_t *args, json_int_t default_limit,
                  char **error);

#endif
