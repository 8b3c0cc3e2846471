#include "server/config.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "server/redact.h"
#include "tools/tool.h"
#include "upstream/url.h"

#define DEFAULT_BASE_URL "https://control.msg91.com"
#define DEFAULT_MAX_LINE (4u * 1024 * 1024)

/* Every setting once: its environment variable, its flag and its key in
 * the config file share one parser, so the three sources cannot drift. */
enum setting_kind { SET_STRING, SET_BOOL, SET_LONG, SET_LEVEL, SET_TOOLS, SET_KEY_FILE };

struct setting {
    const char *env;
    const char *flag; /* without the leading "--" */
    const char *file_key;
    enum setting_kind kind;
    size_t offset; /* into struct config */
    long min, max; /* for SET_LONG */
    const char *help;
};

#define OFF(field) offsetof(struct config, field)

static const struct setting settings[] = {
    {"MSG91_AUTH_KEY_FILE", "auth-key-file", "auth_key_file", SET_KEY_FILE,
     OFF(auth_key_file), 0, 0, "read the MSG91 auth key from this file"},
    {"MSG91_BASE_URL", "base-url", "base_url", SET_STRING, OFF(base_url), 0, 0,
     "upstream base URL (https://, or http:// for loopback only)"},
    {"MSG91_OTP_TEMPLATE_ID", "otp-template-id", "otp_template_id", SET_STRING,
     OFF(otp_template_id), 0, 0, "default OTP template for send_otp"},
    {"MSG91_TIMEOUT_MS", "timeout-ms", "timeout_ms", SET_LONG, OFF(timeout_ms), 100,
     600000, "whole-request timeout per upstream call (default 15000)"},
    {"MSG91_TOOLS", "tools", "tools", SET_TOOLS, 0, 0, 0,
     "comma list of tools to expose (default: all eight)"},
    {"MSG91_READ_ONLY", "read-only", "read_only", SET_BOOL, OFF(read_only), 0, 0,
     "expose and allow only read-only tools"},
    {"MSG91_DRY_RUN", "dry-run", "dry_run", SET_BOOL, OFF(dry_run), 0, 0,
     "validate and build every request, send nothing"},
    {"MSG91_AUDIT_LOG", "audit-log", "audit_log", SET_STRING, OFF(audit_log), 0, 0,
     "append one JSON line per tool call to this file"},
    {"MSG91_LOG_LEVEL", "log-level", "log_level", SET_LEVEL, OFF(log_level), 0, 0,
     "stderr log level: debug, info, warning, error (default info)"},
    {"MSG91_MAX_INFLIGHT", "max-inflight", "max_inflight", SET_LONG, OFF(max_inflight), 1,
     10000, "most upstream calls at once (default 64)"},
    {"MSG91_MAX_QUEUE", "max-queue", "max_queue", SET_LONG, OFF(max_queue), 1, 1000000,
     "most calls waiting for a free slot; more are refused as busy (default 1024)"},
    {"MSG91_CA_FILE", "ca-file", "ca_file", SET_STRING, OFF(ca_file), 0, 0,
     "extra CA bundle for TLS verification"},
    {"MSG91_TOOL_PREFIX", "tool-prefix", "tool_prefix", SET_STRING, OFF(tool_prefix), 0,
     0, "prefix added to every tool name"},
    {"MSG91_MAX_LINE_BYTES", "max-line-bytes", "max_line_bytes", SET_LONG,
     OFF(max_line_bytes), 1024, 1L << 30, "largest accepted input line (default 4 MiB)"},
};
#define SETTINGS_LEN (sizeof settings / sizeof settings[0])

static char *fmt_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *fmt_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *out = NULL;
    if (vasprintf(&out, fmt, ap) < 0)
        out = NULL;
    va_end(ap);
    return out;
}

void config_init(struct config *c)
{
    memset(c, 0, sizeof *c);
    c->base_url = strdup(DEFAULT_BASE_URL);
    c->timeout_ms = 15000;
    c->log_level = LOG_LEVEL_INFO;
    c->max_inflight = 64;
    c->max_queue = 1024;
    c->max_line_bytes = DEFAULT_MAX_LINE;
    for (unsigned i = 0; i < CONFIG_MAX_TOOLS; i++)
        c->tool_enabled[i] = true;
}

static void wipe_free(char *s)
{
    if (s) {
        redact_wipe(s, strlen(s));
        free(s);
    }
}

void config_finish(struct config *c)
{
    wipe_free(c->auth_key);
    free(c->auth_key_file);
    free(c->base_url);
    free(c->otp_template_id);
    free(c->audit_log);
    free(c->ca_file);
    free(c->tool_prefix);
    free(c->config_path);
    for (unsigned i = 0; i < CONFIG_MAX_TOOLS; i++) {
        free(c->endpoints[i].method);
        free(c->endpoints[i].path);
    }
    memset(c, 0, sizeof *c);
}

static int parse_bool(const char *v, bool *out)
{
    if (!strcmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
        !strcasecmp(v, "on")) {
        *out = true;
        return 0;
    }
    if (!strcmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
        !strcasecmp(v, "off") || !*v) {
        *out = false;
        return 0;
    }
    return -1;
}

static int read_key_file(struct config *c, const char *path, char **error)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        *error = fmt_error("cannot read the auth key file %s: %s", path, strerror(errno));
        return -1;
    }
    char buf[1024];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    int failed = ferror(f);
    int more = fgetc(f) != EOF;
    fclose(f);
    if (failed) {
        *error = fmt_error("cannot read the auth key file %s", path);
        return -1;
    }
    if (more) {
        redact_wipe(buf, sizeof buf);
        *error = fmt_error("the auth key file %s is too large to hold a key", path);
        return -1;
    }
    buf[n] = '\0';
    /* Secret files often end with a newline; the key itself never has
     * surrounding white space. */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' ||
                     buf[n - 1] == '\t'))
        buf[--n] = '\0';
    char *start = buf;
    while (*start == ' ' || *start == '\t')
        start++;
    if (!*start) {
        *error = fmt_error("the auth key file %s is empty", path);
        return -1;
    }
    wipe_free(c->auth_key);
    c->auth_key = strdup(start);
    redact_wipe(buf, sizeof buf);
    return c->auth_key ? 0 : -1;
}

static int set_tools(struct config *c, const char *list, char **error)
{
    bool enabled[CONFIG_MAX_TOOLS] = {false};
    char *copy = strdup(list);
    if (!copy)
        return -1;
    char *save = NULL;
    for (char *name = strtok_r(copy, ", \t", &save); name;
         name = strtok_r(NULL, ", \t", &save)) {
        const struct tool_def *t = tool_find(name);
        if (!t) {
            *error =
                fmt_error("unknown tool \"%s\" in MSG91_TOOLS; the tools are send_otp, "
                          "resend_otp, verify_otp, send_sms_flow, create_user_events, "
                          "get_event_types, get_failed_events, list_campaigns",
                          name);
            free(copy);
            return -1;
        }
        for (unsigned i = 0; i < tool_table_len; i++)
            if (tool_table[i] == t)
                enabled[i] = true;
    }
    free(copy);
    memcpy(c->tool_enabled, enabled, sizeof enabled);
    c->tools_restricted = true;
    return 0;
}

/* Applies one textual value to a setting; `source` names where it came
 * from for the error message. */
static int apply(struct config *c, const struct setting *s, const char *value,
                 const char *source, char **error)
{
    char *field = (char *)c + s->offset;
    switch (s->kind) {
    case SET_STRING: {
        char **slot = (char **)field;
        free(*slot);
        *slot = strdup(value);
        return *slot ? 0 : -1;
    }
    case SET_KEY_FILE: {
        free(c->auth_key_file);
        c->auth_key_file = strdup(value);
        return read_key_file(c, value, error);
    }
    case SET_BOOL:
        if (parse_bool(value, (bool *)field) != 0) {
            *error = fmt_error("%s must be 1 or 0, not \"%s\"", source, value);
            return -1;
        }
        return 0;
    case SET_LONG: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < s->min || v > s->max) {
            *error = fmt_error("%s must be a whole number from %ld to %ld, not \"%s\"",
                               source, s->min, s->max, value);
            return -1;
        }
        *(long *)field = v;
        return 0;
    }
    case SET_LEVEL:
        if (log_level_parse(value, &c->log_level) != 0) {
            *error = fmt_error("%s must be debug, info, warning or error, not \"%s\"",
                               source, value);
            return -1;
        }
        return 0;
    case SET_TOOLS:
        return set_tools(c, value, error);
    }
    return -1;
}

static const struct setting *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < SETTINGS_LEN; i++)
        if (strlen(settings[i].flag) == len && !strncmp(settings[i].flag, name, len))
            return &settings[i];
    return NULL;
}

static int load_endpoints(struct config *c, json_t *endpoints, const char *path,
                          char **error)
{
    if (!json_is_object(endpoints)) {
        *error = fmt_error("%s: \"endpoints\" must be an object of tool names", path);
        return -1;
    }
    const char *name;
    json_t *ep;
    json_object_foreach(endpoints, name, ep)
    {
        const struct tool_def *t = tool_find(name);
        if (!t) {
            *error =
                fmt_error("%s: \"endpoints\" names an unknown tool \"%s\"", path, name);
            return -1;
        }
        unsigned idx = 0;
        while (tool_table[idx] != t)
            idx++;
        json_t *method = json_object_get(ep, "method");
        json_t *p = json_object_get(ep, "path");
        if (!json_is_object(ep) || (method && !json_is_string(method)) ||
            (p && !json_is_string(p)) || (!method && !p)) {
            *error = fmt_error("%s: endpoints.%s must be {\"method\": \"GET\"|\"POST\", "
                               "\"path\": \"/api/...\"}",
                               path, name);
            return -1;
        }
        if (method) {
            const char *m = json_string_value(method);
            if (strcmp(m, "GET") && strcmp(m, "POST") && strcmp(m, "PUT") &&
                strcmp(m, "PATCH") && strcmp(m, "DELETE")) {
                *error = fmt_error("%s: endpoints.%s.method \"%s\" is not an HTTP method",
                                   path, name, m);
                return -1;
            }
            free(c->endpoints[idx].method);
            c->endpoints[idx].method = strdup(m);
        }
        if (p) {
            const char *v = json_string_value(p);
            if (v[0] != '/' || strpbrk(v, "?# \r\n")) {
                *error = fmt_error("%s: endpoints.%s.path must start with / and hold no "
                                   "query, fragment or spaces",
                                   path, name);
                return -1;
            }
            free(c->endpoints[idx].path);
            c->endpoints[idx].path = strdup(v);
        }
    }
    return 0;
}

static int load_file(struct config *c, const char *path, char **error)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (!root) {
        *error = fmt_error("cannot load the config file %s: %s (line %d)", path,
                           jerr.text, jerr.line);
        return -1;
    }
    int rc = 0;
    if (!json_is_object(root)) {
        *error = fmt_error("the config file %s must hold a JSON object", path);
        rc = -1;
        goto out;
    }
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value)
    {
        if (!strcmp(key, "endpoints")) {
            if ((rc = load_endpoints(c, value, path, error)) != 0)
                goto out;
            continue;
        }
        if (!strcmp(key, "auth_key")) {
            *error = fmt_error("%s: put the key in a file of its own and name it with "
                               "\"auth_key_file\", or set MSG91_AUTH_KEY",
                               path);
            rc = -1;
            goto out;
        }
        const struct setting *s = NULL;
        for (size_t i = 0; i < SETTINGS_LEN; i++)
            if (!strcmp(settings[i].file_key, key))
                s = &settings[i];
        if (!s) {
            *error = fmt_error("%s: unknown setting \"%s\"", path, key);
            rc = -1;
            goto out;
        }
        char text[64];
        const char *v = NULL;
        if (json_is_string(value))
            v = json_string_value(value);
        else if (json_is_boolean(value))
            v = json_is_true(value) ? "1" : "0";
        else if (json_is_integer(value)) {
            snprintf(text, sizeof text, "%lld", (long long)json_integer_value(value));
            v = text;
        } else if (json_is_array(value) && s->kind == SET_TOOLS) {
            char *joined = NULL;
            size_t i;
            json_t *item;
            size_t len = 0;
            json_array_foreach(value, i, item)
            {
                if (!json_is_string(item))
                    break;
                len += json_string_length(item) + 1;
            }
            joined = calloc(1, len + 1);
            json_array_foreach(value, i, item)
            {
                if (json_is_string(item)) {
                    strcat(joined, json_string_value(item));
                    strcat(joined, ",");
                }
            }
            char source[128];
            snprintf(source, sizeof source, "%s: \"%s\"", path, key);
            rc = apply(c, s, joined, source, error);
            free(joined);
            if (rc)
                goto out;
            continue;
        }
        if (!v) {
            *error = fmt_error("%s: \"%s\" has the wrong type", path, key);
            rc = -1;
            goto out;
        }
        char source[128];
        snprintf(source, sizeof source, "%s: \"%s\"", path, key);
        if ((rc = apply(c, s, v, source, error)) != 0)
            goto out;
    }
out:
    json_decref(root);
    return rc;
}

static const char *env_get(char **envp, const char *name)
{
    size_t n = strlen(name);
    for (char **e = envp; e && *e; e++)
        if (!strncmp(*e, name, n) && (*e)[n] == '=')
            return *e + n + 1;
    return NULL;
}

static int check_base_url(struct config *c, char **error)
{
    char *u = c->base_url;
    size_t n = strlen(u);
    while (n > 0 && u[n - 1] == '/')
        u[--n] = '\0';
    const char *why = NULL;
    if (http_url_check_base(u, &why) != 0) {
        *error = fmt_error("MSG91_BASE_URL \"%s\" %s", u, why);
        return -1;
    }
    return 0;
}

/* MSG91 keys are long random strings. A placeholder such as "key" or
 * "type" is refused: besides failing upstream, it would make the redaction
 * step (which removes the key by value from every output) mangle ordinary
 * words of the server's own messages. */
#define MIN_KEY_LENGTH 8

static int check_key(const struct config *c, char **error)
{
    if (!c->auth_key)
        return 0;
    const char *source =
        c->auth_key_file ? "the key in MSG91_AUTH_KEY_FILE" : "MSG91_AUTH_KEY";
    if (strlen(c->auth_key) < MIN_KEY_LENGTH) {
        *error =
            fmt_error("%s is too short to be an MSG91 auth key (at least %d characters; "
                      "copy the key from the MSG91 panel)",
                      source, MIN_KEY_LENGTH);
        return -1;
    }
    for (const char *p = c->auth_key; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            *error =
                fmt_error("%s contains spaces or control characters; an MSG91 auth key "
                          "never does",
                          source);
            return -1;
        }
    }
    return 0;
}

static const char *const refused_flags[] = {"--auth-key", "--authkey", "--key", NULL};

int config_load(struct config *c, int argc, char **argv, char **envp, char ***rest,
                char **error)
{
    *error = NULL;
    char **left = calloc((size_t)argc + 1, sizeof *left);
    if (!left)
        return -1;
    size_t nleft = 0;

    /* Where the file is can come from a flag or the environment; it is
     * read first so both can override it. */
    const char *file = env_get(envp, "MSG91_CONFIG");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--config") && i + 1 < argc)
            file = argv[i + 1];
        else if (!strncmp(argv[i], "--config=", 9))
            file = argv[i] + 9;
    }
    if (file) {
        c->config_path = strdup(file);
        if (load_file(c, file, error) != 0)
            goto fail;
    }

    const char *env_key = env_get(envp, "MSG91_AUTH_KEY");
    const char *env_key_file = env_get(envp, "MSG91_AUTH_KEY_FILE");
    if (env_key && *env_key && env_key_file && *env_key_file) {
        *error = fmt_error(
            "both MSG91_AUTH_KEY and MSG91_AUTH_KEY_FILE are set; set only one");
        goto fail;
    }
    if (env_key && *env_key) {
        wipe_free(c->auth_key);
        c->auth_key = strdup(env_key);
    }
    for (size_t i = 0; i < SETTINGS_LEN; i++) {
        const char *v = env_get(envp, settings[i].env);
        if (v && (*v || settings[i].kind == SET_BOOL) &&
            apply(c, &settings[i], v, settings[i].env, error) != 0)
            goto fail;
    }

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        for (const char *const *r = refused_flags; *r; r++) {
            size_t rl = strlen(*r);
            if (!strncmp(arg, *r, rl) && (arg[rl] == '\0' || arg[rl] == '=')) {
                *error = fmt_error("the auth key is never accepted on the command line "
                                   "(other users could read it in the process list); set "
                                   "MSG91_AUTH_KEY or MSG91_AUTH_KEY_FILE instead");
                goto fail;
            }
        }
        if (!strcmp(arg, "--")) {
            while (++i < argc)
                left[nleft++] = argv[i];
            break;
        }
        if (!strcmp(arg, "--config") && i + 1 < argc) {
            i++;
            continue;
        }
        if (!strncmp(arg, "--config=", 9))
            continue;
        if (!strcmp(arg, "--sandbox")) {
            c->sandbox = true;
            continue;
        }
        if (strncmp(arg, "--", 2) != 0) {
            left[nleft++] = argv[i];
            continue;
        }
        const char *name = arg + 2;
        const char *eq = strchr(name, '=');
        size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
        const struct setting *s = find_flag(name, name_len);
        if (!s) {
            left[nleft++] = argv[i];
            continue;
        }
        const char *value;
        if (eq) {
            value = eq + 1;
        } else if (s->kind == SET_BOOL) {
            value = "1";
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            *error = fmt_error("--%s needs a value", s->flag);
            goto fail;
        }
        char source[64];
        snprintf(source, sizeof source, "--%s", s->flag);
        if (apply(c, s, value, source, error) != 0)
            goto fail;
    }
    if (check_base_url(c, error) != 0 || check_key(c, error) != 0)
        goto fail;
    /* A CA bundle that cannot be read would only show at the first call,
     * as a TLS failure on every call after it: say so now instead. */
    if (c->ca_file && access(c->ca_file, R_OK) != 0) {
        *error =
            fmt_error("MSG91_CA_FILE %s cannot be read: %s", c->ca_file, strerror(errno));
        goto fail;
    }
    if (c->tool_prefix &&
        strspn(c->tool_prefix,
               "abcdefghijklmnopqrstuvwxyz"
               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(c->tool_prefix)) {
        *error = fmt_error("MSG91_TOOL_PREFIX may hold only letters, digits, _ and -");
        goto fail;
    }
    if (c->tool_prefix && strlen(c->tool_prefix) > 40) {
        *error = fmt_error("MSG91_TOOL_PREFIX is too long (40 characters at most)");
        goto fail;
    }
    if (c->otp_template_id && !*c->otp_template_id) {
        free(c->otp_template_id);
        c->otp_template_id = NULL;
    }
    *rest = left;
    return 0;
fail:
    free(left);
    if (!*error)
        *error = strdup("out of memory while reading the configuration");
    return -1;
}

bool config_tool_allowed(const struct config *c, unsigned i)
{
    if (i >= tool_table_len || !c->tool_enabled[i])
        return false;
    return !c->read_only || tool_table[i]->read_only;
}

const char *config_flags_help(void)
{
    static char text[4096];
    if (text[0])
        return text;
    size_t o = 0;
    o += (size_t)snprintf(
        text + o, sizeof text - o,
        "  --config PATH            JSON config file (MSG91_CONFIG)\n"
        "  --sandbox                send every call to the built-in sandbox\n");
    for (size_t i = 0; i < SETTINGS_LEN && o < sizeof text; i++) {
        char flag[48];
        snprintf(flag, sizeof flag, "--%s%s", settings[i].flag,
                 settings[i].kind == SET_BOOL ? "" : " V");
        o += (size_t)snprintf(text + o, sizeof text - o, "  %-24s %s (%s)\n", flag,
                              settings[i].help, settings[i].env);
    }
    return text;
}
