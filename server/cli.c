#include "server/cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "sandbox/sandbox.h"
#include "server/dispatch.h"
#include "server/log.h"
#include "server/mcp.h"
#include "server/redact.h"
#include "tools/tool.h"

static struct dispatch *make_dispatch(const struct config *cfg, uv_loop_t *loop)
{
    char *error = NULL;
    struct dispatch *d = dispatch_create(cfg, loop, &error);
    if (!d) {
        fprintf(stderr, "msg91-mcp: %s\n", error ? error : "cannot load the tools");
        free(error);
    }
    return d;
}

/* First sentence of a description, for one-line summaries. */
static void print_summary(const char *description)
{
    const char *end = strstr(description, ". ");
    int n = end ? (int)(end - description + 1) : (int)strlen(description);
    printf("%.*s\n", n, description);
}

int cli_list(const struct config *cfg, char **args)
{
    bool as_json = false;
    for (char **a = args; *a; a++) {
        if (!strcmp(*a, "--json")) {
            as_json = true;
        } else {
            fprintf(stderr, "msg91-mcp: list takes only --json, not \"%s\"\n", *a);
            return CLI_EXIT_USAGE;
        }
    }
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dispatch *d = make_dispatch(cfg, &loop);
    if (!d) {
        uv_loop_close(&loop);
        return CLI_EXIT_USAGE;
    }
    json_t *tools = dispatch_list_tools(d, MCP_LATEST_VERSION);
    if (as_json) {
        json_dumpf(tools, stdout, JSON_COMPACT);
        putchar('\n');
    } else {
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t)
        {
            printf("%-24s %-26s ", json_string_value(json_object_get(t, "name")),
                   json_string_value(json_object_get(t, "title")));
            print_summary(json_string_value(json_object_get(t, "description")));
        }
    }
    json_decref(tools);
    dispatch_destroy(d, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return fflush(stdout) == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
}

/* Turns `--arg k=v` into a JSON value using the type the tool's schema
 * gives the property, so "mobile=919876543210" stays a string and
 * "otp_length=6" becomes a number; other types must be written as JSON. */
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

struct call_state {
    json_t *result;
    struct dispatch *dispatch;
};

static void call_done(void *data, json_t *result)
{
    struct call_state *st = data;
    st->result = result;
}

static void print_result(json_t *result)
{
    size_t flags = isatty(STDOUT_FILENO) ? JSON_INDENT(2) : JSON_COMPACT;
    char *text = json_dumps(result, flags);
    if (!text)
        return;
    size_t len = strlen(text);
    char *clean = NULL;
    if (redact_apply(text, len, &clean, &len) != 0)
        redact_mask_in_place(text, len); /* no memory for a copy: fail closed */
    fwrite(clean ? clean : text, 1, len, stdout);
    putchar('\n');
    free(clean);
    free(text);
}

static void usage_call(void)
{
    fprintf(stderr, "usage: msg91-mcp call TOOL [JSON | --arg key=value ...]\n");
}

int cli_call(const struct config *cfg, char **args)
{
    if (!args[0]) {
        usage_call();
        return CLI_EXIT_USAGE;
    }
    const char *tool = args[0];
    uv_loop_t loop;
    uv_loop_init(&loop);
    struct dispatch *d = make_dispatch(cfg, &loop);
    if (!d) {
        uv_loop_close(&loop);
        return CLI_EXIT_USAGE;
    }
    int rc = CLI_EXIT_USAGE;
    json_t *schema = dispatch_input_schema(d, tool);
    json_t *arguments = NULL;
    if (!schema) {
        fprintf(stderr,
                "msg91-mcp: unknown tool \"%s\"; `msg91-mcp list` shows the tools\n",
                tool);
        goto out;
    }
    if (args[1] && strcmp(args[1], "--arg") && !strncmp(args[1], "--", 2)) {
        fprintf(stderr, "msg91-mcp: unknown option \"%s\"\n", args[1]);
        usage_call();
        goto out;
    }
    if (args[1] && strcmp(args[1], "--arg") != 0) {
        json_error_t jerr;
        arguments = json_loads(args[1], 0, &jerr);
        if (!json_is_object(arguments) || args[2]) {
            fprintf(stderr, "msg91-mcp: the arguments must be one JSON object%s%s\n",
                    arguments ? "" : ": ", arguments ? "" : jerr.text);
            goto out;
        }
    } else {
        arguments = json_object();
        for (char **a = args + 1; *a; a++) {
            const char *kv = NULL;
            if (!strcmp(*a, "--arg") && a[1]) {
                kv = *++a;
            } else {
                fprintf(stderr, "msg91-mcp: expected --arg key=value, got \"%s\"\n", *a);
                usage_call();
                goto out;
            }
            const char *eq = strchr(kv, '=');
            if (!eq || eq == kv) {
                fprintf(stderr, "msg91-mcp: --arg needs key=value, got \"%s\"\n", kv);
                goto out;
            }
            char *key = strndup(kv, (size_t)(eq - kv));
            json_object_set_new(arguments, key, arg_value(schema, key, eq + 1));
            free(key);
        }
    }

    struct call_state st = {.dispatch = d};
    static const struct dispatch_callbacks cb = {call_done, NULL};
    struct dispatch_call *call = NULL;
    json_t *result = NULL;
    enum dispatch_status status = dispatch_call(
        d, tool, arguments, &(struct dispatch_client){"msg91-mcp-cli", MSG91_MCP_VERSION},
        &cb, &st, &result, &call);
    if (status == DISPATCH_PENDING) {
        while (!st.result && uv_run(&loop, UV_RUN_ONCE))
            ;
        result = st.result;
    }
    if (!result) {
        fprintf(stderr, "msg91-mcp: the call produced no result\n");
        goto out;
    }
    print_result(result);
    bool dry =
        json_is_true(json_object_get(json_object_get(result, "_meta"), "msg91/dryRun"));
    rc = json_is_true(json_object_get(result, "isError")) && !dry ? CLI_EXIT_TOOL_ERROR
                                                                  : CLI_EXIT_OK;
    json_decref(result);
out:
    json_decref(arguments);
    dispatch_destroy(d, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    if (fflush(stdout) != 0)
        rc = CLI_EXIT_USAGE;
    return rc;
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
