/* msg91-mcp: an MCP server for MSG91. This file only routes the command
 * line to the right part: serving MCP over stdio (server/serve.c) or one
 * of the subcommands (server/cli.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sandbox/sandbox.h"
#include "server/cli.h"
#include "server/config.h"
#include "server/http_serve.h"
#include "server/serve.h"
#include "tools/service.h"
#include "util/log.h"
#include "util/redact.h"

extern char **environ;

static void print_help(void)
{
    printf(
        "msg91-mcp %s: %s\n\n"
        "usage:\n"
        "  msg91-mcp [options]                 serve MCP over stdio\n"
        "  msg91-mcp --sandbox [options]       the same, against the built-in sandbox\n"
        "  msg91-mcp http [--listen HOST:PORT] [--sandbox]\n"
        "                                      serve MCP over Streamable HTTP at /mcp\n"
        "  msg91-mcp sandbox [--port N]        run the sandbox alone on 127.0.0.1\n"
        "  msg91-mcp list [--json]             print the tools this configuration "
        "exposes\n"
        "  msg91-mcp call TOOL [JSON | --arg key=value ...]\n"
        "                                      one tool call; exit 0 ok, 2 tool error,\n"
        "                                      1 usage or configuration error\n"
        "  msg91-mcp token                     print a new bearer token and its SHA-256\n"
        "                                      for the personas file\n"
        "  msg91-mcp state [--forget KEY]      print the state store and its counters,\n"
        "                                      or release a stuck idempotency key\n"
        "  msg91-mcp --help | --version\n\n"
        "options (each also read from the environment variable shown):\n%s\n"
        "The auth key comes from MSG91_AUTH_KEY or MSG91_AUTH_KEY_FILE, never from\n"
        "the command line. See msg91-mcp(1) and README.md.\n",
        MSG91_MCP_VERSION, service.summary, config_flags_help());
}

/* Once read, the key has no business staying in the environment: wiping
 * the value in place keeps it out of /proc/PID/environ, core dumps and any
 * child process. */
static void scrub_key_from_environment(void)
{
    static const char name[] = "MSG91_AUTH_KEY=";
    for (char **e = environ; e && *e; e++)
        if (!strncmp(*e, name, sizeof name - 1))
            redact_wipe(*e + sizeof name - 1, strlen(*e + sizeof name - 1));
}

/* Starts the in-process sandbox and points the configuration at it. */
static struct sandbox *start_sandbox(struct config *cfg)
{
    char *error = NULL;
    struct sandbox_route routes[CONFIG_MAX_TOOLS];
    struct sandbox_options opts = {.routes = routes};
    opts.route_count = cli_sandbox_routes(cfg, routes);
    struct sandbox *sb = sandbox_create(&opts, &error);
    if (!sb) {
        log_error("cannot start the sandbox: %s", error ? error : "unknown error");
        free(error);
        return NULL;
    }
    char *url = NULL;
    if (asprintf(&url, "http://127.0.0.1:%u", (unsigned)sandbox_port(sb)) < 0) {
        log_error("cannot start the sandbox: out of memory");
        sandbox_destroy(sb);
        return NULL;
    }
    free(cfg->base_url);
    cfg->base_url = url;
    return sb;
}

/* A configuration error goes through the redaction step like every other
 * output: the key (read before any other value, when a source named one)
 * is registered first, since the sentence may quote any value. */
static int config_failed(struct config *cfg, char *error)
{
    /* If the key cannot be registered, redact_needed below cannot see it
     * either: the message is withheld only when it visibly holds the key. */
    (void)redact_add_secret(cfg->auth_key);
    const char *text = error ? error : "out of memory while reading the configuration";
    size_t len = strlen(text);
    char *clean = NULL;
    if (redact_apply(text, len, &clean, &len) != 0 ||
        (!clean && cfg->auth_key && redact_needed(text, len)))
        text = "a value holds the auth key (the message is withheld)";
    else if (clean)
        text = clean;
    fprintf(stderr, "msg91-mcp: configuration error: %s\n", text);
    free(clean);
    free(error);
    config_finish(cfg);
    redact_clear();
    return 1;
}

/* Every byte written from here on must pass redaction, so a key that could
 * not be registered stops the start. */
static int register_key(const struct config *cfg)
{
    if (redact_add_secret(cfg->auth_key) != 0 ||
        (cfg->auth_key && !redact_needed(cfg->auth_key, strlen(cfg->auth_key)))) {
        fprintf(stderr, "msg91-mcp: out of memory while registering the auth key for "
                        "redaction\n");
        return -1;
    }
    return 0;
}

static int run(struct config *cfg, char **rest)
{
    const char *sub = rest[0];
    if (sub && strcmp(sub, "list") != 0 && strcmp(sub, "call") != 0 &&
        strcmp(sub, "sandbox") != 0 && strcmp(sub, "token") != 0 &&
        strcmp(sub, "http") != 0 && strcmp(sub, "state") != 0) {
        fprintf(stderr, "msg91-mcp: unknown command or option \"%s\" (see --help)\n",
                sub);
        return 1;
    }
    if (sub && !strcmp(sub, "sandbox"))
        return cli_sandbox(cfg, rest + 1);
    if (sub && !strcmp(sub, "token"))
        return cli_token(rest + 1);
    if (sub && !strcmp(sub, "state"))
        return cli_state(cfg, rest + 1);
    struct sandbox *sb = NULL;
    if (cfg->sandbox && !(sb = start_sandbox(cfg)))
        return 1;
    int rc;
    if (sub && !strcmp(sub, "list")) {
        rc = cli_list(cfg, rest + 1);
    } else {
        if (sb)
            log_info("running against the built-in sandbox at %s: nothing is delivered",
                     cfg->base_url);
        else if (!cfg->auth_key && !cfg->dry_run && !cfg->personas_file)
            log_warning(
                "no " SERVICE_NAME " auth key is set: tool calls will answer with an "
                "error until "
                "MSG91_AUTH_KEY (or MSG91_AUTH_KEY_FILE) is set; use --sandbox to try "
                "the tools");
        if (sub && !strcmp(sub, "http") && rest[1]) {
            fprintf(stderr, "msg91-mcp: http takes no argument \"%s\" (see --help)\n",
                    rest[1]);
            rc = 1;
        } else if (sub && !strcmp(sub, "http")) {
            rc = serve_http(cfg);
        } else {
            rc = sub ? cli_call(cfg, rest + 1) : serve_stdio(cfg);
        }
    }
    sandbox_destroy(sb);
    return rc;
}

int main(int argc, char **argv)
{
    /* A reader that goes away must not kill us mid-write; the write error
     * is handled where it happens. */
    signal(SIGPIPE, SIG_IGN);
    /* Which values are personal is the service's knowledge; the log must
     * know it before its first line. */
    log_set_personal(service.personal);

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_help();
            return 0;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("msg91-mcp %s\n", MSG91_MCP_VERSION);
            return 0;
        }
    }

    struct config cfg;
    config_init(&cfg);
    char **rest = NULL;
    char *error = NULL;
    if (config_load(&cfg, argc, argv, environ, &rest, &error) != 0)
        return config_failed(&cfg, error);
    log_set_level(cfg.log_level);
    int rc = 1;
    if (register_key(&cfg) == 0) {
        scrub_key_from_environment();
        rc = run(&cfg, rest);
    }
    free(rest);
    config_finish(&cfg);
    redact_clear();
    return rc;
}
