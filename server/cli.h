/* The subcommands for people and scripts: `list`, `call`, `sandbox`,
 * `token` and `state`.
 * `call` goes through the same dispatch (validation, scope, engine) as an
 * MCP tools/call, so a script sees exactly what a model would. */
#ifndef MSG91_CLI_H
#define MSG91_CLI_H

#include "server/config.h"

/* Exit codes of `call`, fixed by the contract. */
enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_USAGE = 1,     /* usage or configuration error */
    CLI_EXIT_TOOL_ERROR = 2 /* the tool reported an error (isError) */
};

struct sandbox_route;

/* Fills routes (room for CONFIG_MAX_TOOLS) with the endpoint table as this
 * configuration has it, overrides included, so the sandbox serves exactly
 * the paths the tools will call. Returns how many were filled. */
unsigned cli_sandbox_routes(const struct config *cfg, struct sandbox_route *routes);

/* args: the words after the subcommand, NULL-terminated. */
int cli_list(const struct config *cfg, char **args);
int cli_call(const struct config *cfg, char **args);
int cli_sandbox(const struct config *cfg, char **args);
/* `token [--json]`: a new bearer token and its SHA-256 for the personas
 * file. */
int cli_token(char **args);
/* `state [--forget KEY]`: the state store in use (never its password) and
 * its counters, or releases a stuck idempotency key under every persona
 * and tool. Exit 0, or 1 when the store cannot be opened or reached. */
int cli_state(const struct config *cfg, char **args);

#endif
