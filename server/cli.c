#include "server/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "sandbox/sandbox.h"
#include "server/app.h"
#include "server/dispatch.h"
#include "server/mcp.h"
#include "server/persona.h"
#include "store/store.h"
#include "tools/service.h"
#include "tools/tool.h"
#include "util/log.h"
#include "util/msg.h"
#include "util/redact.h"

/* "msg91-mcp: " and the sentence, through the redaction step like every
 * other output. */
static void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = msg_vformat(fmt, ap);
    va_end(ap);
    size_t len = text ? strlen(text) : 0;
    char *clean = NULL;
    if (text && redact_apply(text, len, &clean, &len) != 0)
        redact_mask_in_place(text, len); /* no memory for a copy: fail closed */
    fprintf(stderr, "msg91-mcp: %s\n",
            clean  ? clean
            : text ? text
                   : "out of memory while reporting an error");
    free(clean);
    free(text);
}

/* The loop and the dispatch one subcommand runs on. */
struct cli_run {
    uv_loop_t loop;
    struct dispatch *d;
};

static int run_start(struct cli_run *r, const struct config *cfg)
{
    char *error = NULL;
    int err = app_open(&r->loop, cfg, &r->d, &error);
    if (err != 0)
        cli_error("%s", error ? error : "out of memory at start-up");
    free(error);
    return err;
}

/* Tears down after run_start (the loop runs until the audit log and the
 * engine are done) and returns rc, or a usage error when stdout failed. */
static int run_finish(struct cli_run *r, int rc)
{
    app_discard(&r->loop, r->d);
    uv_loop_close(&r->loop);
    return fflush(stdout) == 0 ? rc : CLI_EXIT_USAGE;
}

/* First sentence of a description, for one-line summaries. */
static void print_summary(const char *description)
{
    const char *end = strstr(description, ". ");
    int n = end ? (int)(end - description + 1) : (int)strlen(description);
    printf("%.*s\n", n, description);
}

static void print_tools(json_t *tools, bool as_json)
{
    if (as_json) {
        json_dumpf(tools, stdout, JSON_COMPACT);
        putchar('\n');
        return;
    }
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        printf("%-24s %-26s ", json_string_value(json_object_get(t, "name")),
               json_string_value(json_object_get(t, "title")));
        print_summary(json_string_value(json_object_get(t, "description")));
    }
}

int cli_list(const struct config *cfg, char **args)
{
    bool as_json = false;
    for (char **a = args; *a; a++) {
        if (strcmp(*a, "--json") != 0) {
            cli_error("list takes only --json, not \"%s\"", *a);
            return CLI_EXIT_USAGE;
        }
        as_json = true;
    }
    struct cli_run r;
    if (run_start(&r, cfg) != 0)
        return CLI_EXIT_USAGE;
    int rc = CLI_EXIT_OK;
    json_t *tools = mcp_tools_json(r.d, mcp_features_find(MCP_LATEST_VERSION));
    if (tools) {
        print_tools(tools, as_json);
    } else {
        cli_error("out of memory while listing the tools");
        rc = CLI_EXIT_USAGE;
    }
    json_decref(tools);
    return run_finish(&r, rc);
}

/* Turns `--arg k=v` into a JSON value using the type the tool's schema
 * gives the property, so "phone=919876543210" stays a string and
 * "length=6" becomes a number; other types must be written as JSON. */
static json_t *arg_value(json_t *schema, const char *key, const char *text)
{
    json_t *prop = json_object_get(json_object_get(schema, "properties"), key);
    const char *type = json_string_value(json_object_get(prop, "type"));
    if (type && !strcmp(type, "string"))
        return json_string(text);
    json_t *v = json_loads(text, JSON_DECODE_ANY, NULL);
    /* Unknown properties and untyped values: JSON if it parses, else the
     * text, and the schema check reports what is wrong. */
    return v ? v : json_string(text);
}

static void usage_call(void)
{
    fprintf(stderr, "usage: msg91-mcp call TOOL [JSON | --arg key=value ...]\n");
}

/* The arguments written as one JSON object. */
static json_t *json_arguments(char **args)
{
    json_error_t jerr;
    json_t *arguments = json_loads(args[0], 0, &jerr);
    if (json_is_object(arguments) && !args[1])
        return arguments;
    cli_error("the arguments must be one JSON object%s%s", arguments ? "" : ": ",
              arguments ? "" : jerr.text);
    json_decref(arguments);
    return NULL;
}

/* One "--arg key=value" at a[0] and a[1]. Returns 0, or -1 after saying
 * what is wrong. */
static int add_pair(json_t *arguments, json_t *schema, char **a)
{
    if (strcmp(a[0], "--arg") != 0 || !a[1]) {
        cli_error("expected --arg key=value, got \"%s\"", a[0]);
        usage_call();
        return -1;
    }
    const char *kv = a[1];
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        cli_error("--arg needs key=value, got \"%s\"", kv);
        return -1;
    }
    char *key = strndup(kv, (size_t)(eq - kv));
    int rc =
        key ? json_object_set_new(arguments, key, arg_value(schema, key, eq + 1)) : -1;
    free(key);
    if (rc != 0)
        cli_error("out of memory while reading the arguments");
    return rc;
}

/* The arguments written as --arg key=value pairs (none is {}). */
static json_t *pair_arguments(json_t *schema, char **args)
{
    json_t *arguments = json_object();
    if (!arguments) {
        cli_error("out of memory while reading the arguments");
        return NULL;
    }
    for (char **a = args; *a; a += 2) {
        if (add_pair(arguments, schema, a) != 0) {
            json_decref(arguments);
            return NULL;
        }
    }
    return arguments;
}

/* The call's arguments from the words after the tool name (a new
 * reference), or NULL after saying what is wrong. */
static json_t *call_arguments(json_t *schema, char **args)
{
    if (args[0] && strcmp(args[0], "--arg") != 0 && strncmp(args[0], "--", 2) == 0) {
        cli_error("unknown option \"%s\"", args[0]);
        usage_call();
        return NULL;
    }
    if (args[0] && strcmp(args[0], "--arg") != 0)
        return json_arguments(args);
    return pair_arguments(schema, args);
}

static void call_done(void *data, json_t *result)
{
    *(json_t **)data = result;
}

static int print_result(json_t *result)
{
    size_t flags = isatty(STDOUT_FILENO) ? JSON_INDENT(2) : JSON_COMPACT;
    char *text = json_dumps(result, flags);
    if (!text)
        return -ENOMEM;
    size_t len = strlen(text);
    char *clean = NULL;
    if (redact_apply(text, len, &clean, &len) != 0)
        redact_mask_in_place(text, len); /* no memory for a copy: fail closed */
    fwrite(clean ? clean : text, 1, len, stdout);
    putchar('\n');
    free(clean);
    free(text);
    return 0;
}

/* Runs the call to its end and prints the result; returns the exit code. */
static int run_call(struct cli_run *r, const char *tool, json_t *arguments)
{
    static const struct dispatch_callbacks cb = {call_done, NULL};
    struct dispatch_client client = {
        .name = "msg91-mcp-cli", .version = MSG91_MCP_VERSION, .transport = "cli"};
    json_t *done = NULL, *result = NULL;
    struct dispatch_call *call = NULL;
    enum dispatch_status st =
        dispatch_call(r->d, tool, arguments, &client, &cb, &done, &result, &call);
    if (st == DISPATCH_UNKNOWN_TOOL) {
        cli_error("unknown tool \"%s\"; `msg91-mcp list` shows the tools", tool);
        return CLI_EXIT_USAGE;
    }
    if (st == DISPATCH_PENDING) {
        while (!done && uv_run(&r->loop, UV_RUN_ONCE))
            ;
        result = done;
    }
    if (!result || print_result(result) != 0) {
        cli_error(result ? "out of memory while printing the result"
                         : "the call produced no result");
        json_decref(result);
        return CLI_EXIT_USAGE;
    }
    bool dry = json_is_true(
        json_object_get(json_object_get(result, "_meta"), SERVICE_DRY_RUN_META));
    int rc = json_is_true(json_object_get(result, "isError")) && !dry
                 ? CLI_EXIT_TOOL_ERROR
                 : CLI_EXIT_OK;
    json_decref(result);
    return rc;
}

int cli_call(const struct config *cfg, char **args)
{
    if (!args[0]) {
        usage_call();
        return CLI_EXIT_USAGE;
    }
    struct cli_run r;
    if (run_start(&r, cfg) != 0)
        return CLI_EXIT_USAGE;
    int rc = CLI_EXIT_USAGE;
    json_t *schema = dispatch_input_schema(r.d, args[0]);
    json_t *arguments = NULL;
    if (!schema)
        cli_error("unknown tool \"%s\"; `msg91-mcp list` shows the tools", args[0]);
    else if ((arguments = call_arguments(schema, args + 1)))
        rc = run_call(&r, args[0], arguments);
    json_decref(arguments);
    return run_finish(&r, rc);
}

unsigned cli_sandbox_routes(const struct config *cfg, struct sandbox_route *routes)
{
    unsigned n = 0;
    for (unsigned i = 0; i < tool_table_len && i < CONFIG_MAX_TOOLS; i++, n++) {
        const struct config_endpoint *o = &cfg->endpoints[i];
        routes[n].tool = tool_table[i]->name;
        routes[n].method = o->method ? o->method : tool_table[i]->endpoint.method;
        routes[n].path = o->path ? o->path : tool_table[i]->endpoint.path;
    }
    return n;
}

int cli_sandbox(const struct config *cfg, char **args)
{
    unsigned long port = 0;
    for (char **a = args; *a; a++) {
        const char *value = NULL;
        if (!strcmp(*a, "--port") && a[1])
            value = *++a;
        else if (!strncmp(*a, "--port=", 7))
            value = *a + 7;
        if (!value) {
            fprintf(stderr, "usage: msg91-mcp sandbox [--port N]\n");
            return CLI_EXIT_USAGE;
        }
        char *end;
        errno = 0;
        port = strtoul(value, &end, 10);
        if (errno || *end || end == value || port > 65535) {
            fprintf(stderr, "msg91-mcp: --port must be a number from 0 to 65535\n");
            return CLI_EXIT_USAGE;
        }
    }
    /* Block the stop signals before the sandbox starts its threads, so
     * they inherit the mask and sigwait below receives the signal. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    char *error = NULL;
    struct sandbox_route routes[CONFIG_MAX_TOOLS];
    struct sandbox_options opts = {.port = (uint16_t)port, .routes = routes};
    opts.route_count = cli_sandbox_routes(cfg, routes);
    struct sandbox *sb = sandbox_create(&opts, &error);
    if (!sb) {
        fprintf(stderr, "msg91-mcp: cannot start the sandbox: %s\n",
                error ? error : "unknown error");
        free(error);
        return CLI_EXIT_USAGE;
    }
    printf("http://127.0.0.1:%u\n", (unsigned)sandbox_port(sb));
    fflush(stdout);
    log_info("sandbox listening on http://127.0.0.1:%u (MSG91_BASE_URL for a server "
             "that should use it); Ctrl-C stops it",
             (unsigned)sandbox_port(sb));
    int sig;
    sigwait(&stop, &sig);
    sandbox_destroy(sb);
    return CLI_EXIT_OK;
}

int cli_token(char **args)
{
    bool as_json = args[0] && !strcmp(args[0], "--json") && !args[1];
    if (args[0] && !as_json) {
        cli_error("usage: msg91-mcp token [--json]");
        return CLI_EXIT_USAGE;
    }
    char *token = NULL, *digest = NULL;
    int rc = persona_token_new(&token, &digest);
    if (rc != 0) {
        cli_error("cannot make a token: %s", strerror(-rc));
        return CLI_EXIT_USAGE;
    }
    /* The one output that holds a token on purpose: it is printed here and
     * kept nowhere. */
    if (as_json)
        printf("{\"token\":\"%s\",\"token_sha256\":\"%s\"}\n", token, digest);
    else
        printf("token: %s\ntoken_sha256: %s\n", token, digest);
    fflush(stdout);
    if (!as_json)
        fprintf(stderr, "msg91-mcp: give the token to the client (Authorization: Bearer "
                        "TOKEN) and put token_sha256 in the personas file; the token "
                        "itself is stored nowhere\n");
    redact_wipe(token, strlen(token));
    free(token);
    free(digest);
    return CLI_EXIT_OK;
}

/* `state`: one store operation run to its end on a loop of its own. */
struct state_run {
    int done;
    int status;
    struct store_stats stats;
    int64_t count;
};

static void state_stats_done(void *data, int status, const struct store_stats *st)
{
    struct state_run *r = data;
    r->status = status;
    if (status == STORE_OK)
        r->stats = *st;
    r->done = 1;
}

static void state_forget_done(void *data, int status, int64_t count)
{
    struct state_run *r = data;
    r->status = status;
    r->count = count;
    r->done = 1;
}

static void state_print_stats(const struct store *s, const struct store_stats *st)
{
    printf("store: %s\n", store_describe(s));
    printf("idempotency keys: %lld pending, %lld done, %lld outcome unknown\n",
           (long long)st->idem_pending, (long long)st->idem_done,
           (long long)st->idem_unknown);
    printf("duplicate guard: %lld entries\n", (long long)st->dup_entries);
    printf("rate limits: %lld keys in use\n", (long long)st->rate_keys);
}

/* Starts the operation; 0, or a STORE_E* status. */
static int state_start(struct store *s, const char *forget, struct state_run *r)
{
    if (forget)
        return store_idem_forget(s, NULL, NULL, forget, state_forget_done, r);
    return store_stats(s, state_stats_done, r);
}

static int state_report(struct store *s, const char *forget, const struct state_run *r)
{
    if (r->status != STORE_OK) {
        cli_error("the state store %s: %s", store_describe(s), store_strerror(r->status));
        return CLI_EXIT_USAGE;
    }
    if (!forget)
        state_print_stats(s, &r->stats);
    else if (r->count == 0)
        printf("no idempotency key \"%s\" is stored in %s\n", forget, store_describe(s));
    else
        printf("forgot the idempotency key \"%s\" (%lld entr%s) in %s\n", forget,
               (long long)r->count, r->count == 1 ? "y" : "ies", store_describe(s));
    return CLI_EXIT_OK;
}

/* The words after `state`: nothing, or --forget KEY. Returns 0 with *forget
 * set (NULL: print the counters), or -1 after saying what is wrong. */
static int state_args(char **args, const char **forget)
{
    *forget = NULL;
    if (!args[0])
        return 0;
    if (!strcmp(args[0], "--forget") && args[1] && !args[2])
        *forget = args[1];
    else if (!strncmp(args[0], "--forget=", 9) && args[0][9] && !args[1])
        *forget = args[0] + 9;
    if (*forget && **forget)
        return 0;
    cli_error("usage: msg91-mcp state [--forget KEY]");
    return -1;
}

int cli_state(const struct config *cfg, char **args)
{
    const char *forget;
    if (state_args(args, &forget) != 0)
        return CLI_EXIT_USAGE;
    uv_loop_t loop;
    int err = uv_loop_init(&loop);
    if (err != 0) {
        cli_error("cannot start: %s", uv_strerror(err));
        return CLI_EXIT_USAGE;
    }
    char *error = NULL;
    struct store *s = dispatch_open_store(cfg, &loop, &error);
    int rc = CLI_EXIT_USAGE;
    if (!s) {
        cli_error("%s", error ? error : "out of memory while opening the state store");
        free(error);
    } else {
        struct state_run r = {.status = STORE_OK};
        int st = state_start(s, forget, &r);
        if (st != 0)
            r = (struct state_run){.done = 1, .status = st};
        while (!r.done && uv_run(&loop, UV_RUN_ONCE))
            ;
        rc = state_report(s, forget, &r);
        store_close(s, NULL, NULL); /* the loop below runs it to its end */
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return fflush(stdout) == 0 ? rc : CLI_EXIT_USAGE;
}
