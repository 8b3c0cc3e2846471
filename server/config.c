#include "server/config.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "tools/endpoint.h"
#include "tools/tool.h"
#include "upstream/url.h"
#include "util/dynbuf.h"
#include "util/jsonload.h"
#include "util/msg.h"
#include "util/redact.h"

#define DEFAULT_MAX_LINE (4L * 1024 * 1024)

/* Every setting once: its environment variable, its flag and its key in
 * the config file share one parser, so the three sources cannot drift. */
enum setting_kind {
    SET_STRING,
    SET_BOOL,
    SET_LONG,
    SET_LEVEL,
    SET_TOOLS,
    SET_KEY_FILE,
    SET_STORE,
};

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
     OFF(auth_key_file), 0, 0, "read the " SERVICE_NAME " auth key from this file"},
    {"MSG91_BASE_URL", "base-url", "base_url", SET_STRING, OFF(base_url), 0, 0,
     "upstream base URL (https://, or http:// for loopback only)"},
/* The settings the tools add (tools/service.h). */
/* clang-format off */
#define TOOL_SETTING(id, env, flag, key, help) \
    {env, flag, key, SET_STRING, OFF(tool_settings[id]), 0, 0, help},
    SERVICE_SETTINGS(TOOL_SETTING)
#undef TOOL_SETTING
    /* clang-format on */
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
    {"MSG91_PERSONAS", "personas", "personas", SET_STRING, OFF(personas_file), 0, 0,
     "the personas file: tokens, tools and keys per client"},
    {"MSG91_PERSONA", "persona", "persona", SET_STRING, OFF(persona), 0, 0,
     "serve as this persona of the personas file"},
    {"MSG91_MAX_LINE_BYTES", "max-line-bytes", "max_line_bytes", SET_LONG,
     OFF(max_line_bytes), 1024, 1L << 30, "largest accepted input line (default 4 MiB)"},
    {"MSG91_HTTP_LISTEN", "listen", "http_listen", SET_STRING, OFF(http_listen), 0, 0,
     "http mode: address and port (default 127.0.0.1:8080)"},
    {"MSG91_HTTP_ALLOWED_ORIGINS", "http-allowed-origins", "http_allowed_origins",
     SET_STRING, OFF(http_allowed_origins), 0, 0,
     "http mode: comma list of allowed Origin values besides loopback ones"},
    {"MSG91_HTTP_TLS_CERT", "http-tls-cert", "http_tls_cert", SET_STRING,
     OFF(http_tls_cert), 0, 0, "http mode: serve HTTPS with this certificate (PEM)"},
    {"MSG91_HTTP_TLS_KEY", "http-tls-key", "http_tls_key", SET_STRING, OFF(http_tls_key),
     0, 0, "http mode: the private key for MSG91_HTTP_TLS_CERT (PEM)"},
    {"MSG91_STORE", "store", "store", SET_STORE, OFF(store), 0, 0,
     "state store: sqlite:PATH, memory or redis://[:password@]host:port[/db]"},
    {"MSG91_IDEMPOTENCY_TTL_S", "idempotency-ttl-s", "idempotency_ttl_s", SET_LONG,
     OFF(idempotency_ttl_s), 1, 30L * 86400, "keep a send's result for its key (86400)"},
    {"MSG91_DUPLICATE_WINDOW_S", "duplicate-window-s", "duplicate_window_s", SET_LONG,
     OFF(duplicate_window_s), 0, 86400, "refuse an identical send this long (60; 0 off)"},
    {"MSG91_ALLOWED_COUNTRY_CODES", "allowed-country-codes", "allowed_country_codes",
     SET_STRING, OFF(allowed_country_codes), 0, 0, "calling codes sends may go to"},
/* The limits the tools declare (tools/service.h). */
/* clang-format off */
#define LIMIT_SETTING(id, env, flag, key, def, help) \
    {env, flag, key, SET_LONG, OFF(limits[id]), 0, 100000000, help},
    SERVICE_LIMIT_SETTINGS(LIMIT_SETTING)
#undef LIMIT_SETTING
    /* clang-format on */
};
#define SETTINGS_LEN (sizeof settings / sizeof settings[0])

void config_init(struct config *c)
{
    memset(c, 0, sizeof *c);
    c->base_url = strdup(service.default_base_url);
    c->timeout_ms = 15000;
    c->log_level = LOG_LEVEL_INFO;
    c->max_inflight = 64;
    c->max_queue = 1024;
    c->max_line_bytes = DEFAULT_MAX_LINE;
    c->idempotency_ttl_s = 86400;
    c->duplicate_window_s = 60;
#define LIMIT_DEFAULT(id, env, flag, key, def, help) c->limits[id] = def;
    SERVICE_LIMIT_SETTINGS(LIMIT_DEFAULT)
#undef LIMIT_DEFAULT
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

static void free_params(struct tool_param *params)
{
    for (size_t i = 0; params && params[i].arg; i++) {
        free((char *)params[i].arg);
        free((char *)params[i].name);
    }
    free(params);
}

void config_finish(struct config *c)
{
    wipe_free(c->auth_key);
    free(c->auth_key_file);
    free(c->base_url);
    for (unsigned i = 0; i < SERVICE_SETTINGS_LEN; i++)
        free(c->tool_settings[i]);
    free(c->audit_log);
    free(c->ca_file);
    free(c->tool_prefix);
    free(c->personas_file);
    free(c->persona);
    free(c->http_listen);
    free(c->http_allowed_origins);
    free(c->http_tls_cert);
    free(c->http_tls_key);
    wipe_free(c->store); /* may hold a Redis password */
    free(c->allowed_country_codes);
    for (unsigned i = 0; i < CONFIG_MAX_TOOLS; i++) {
        free(c->endpoints[i].method);
        free(c->endpoints[i].path);
        free_params(c->endpoints[i].params);
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

/* Replaces the key with a copy of text. A copy that fails is an error,
 * never a silent start without the key. */
static int set_key(struct config *c, const char *text, char **error)
{
    char *copy = strdup(text);
    if (!copy) {
        *error = msg_format("out of memory while copying the auth key");
        return -ENOMEM;
    }
    wipe_free(c->auth_key);
    c->auth_key = copy;
    return 0;
}

#define KEY_FILE_MAX 1024

/* buf holds the n bytes read from the key file (room for one more). */
static int key_from_buffer(const char *path, char *buf, size_t n, char **key,
                           char **error)
{
    if (n >= KEY_FILE_MAX) {
        *error = msg_format("the auth key file %s is too large to hold a key", path);
        return -EINVAL;
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
        *error = msg_format("the auth key file %s is empty", path);
        return -EINVAL;
    }
    *key = strdup(start);
    if (!*key) {
        *error = msg_format("out of memory while copying the auth key");
        return -ENOMEM;
    }
    return 0;
}

/* read(2), not stdio: a stdio buffer would leave a copy of the key in freed
 * memory, where this buffer is wiped. */
int config_read_key_file(const char *path, char **key, char **error)
{
    *key = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        *error =
            msg_format("cannot read the auth key file %s: %s", path, strerror(errno));
        return -EINVAL;
    }
    char buf[KEY_FILE_MAX + 1];
    size_t n = 0;
    int err = 0;
    while (n < KEY_FILE_MAX) {
        ssize_t r = read(fd, buf + n, KEY_FILE_MAX - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            err = r < 0 ? errno : 0;
            break;
        }
        n += (size_t)r;
    }
    close(fd);
    int rc;
    if (err) {
        *error = msg_format("cannot read the auth key file %s: %s", path, strerror(err));
        rc = -EINVAL;
    } else {
        rc = key_from_buffer(path, buf, n, key, error);
    }
    redact_wipe(buf, sizeof buf);
    return rc;
}

static int read_key_file(struct config *c, const char *path, char **error)
{
    char *key = NULL;
    int rc = config_read_key_file(path, &key, error);
    if (rc == 0) {
        wipe_free(c->auth_key);
        c->auth_key = key;
    }
    return rc;
}

static int set_key_file(struct config *c, const char *path, char **error)
{
    free(c->auth_key_file);
    c->auth_key_file = strdup(path);
    if (!c->auth_key_file)
        return -ENOMEM;
    return read_key_file(c, path, error);
}

/* The index of the tool with this name in tool_table, or -1. */
static int tool_index(const char *name)
{
    for (unsigned i = 0; i < tool_table_len && i < CONFIG_MAX_TOOLS; i++)
        if (!strcmp(tool_table[i]->name, name))
            return (int)i;
    return -1;
}

/* "send_otp, resend_otp, ...", from the table (malloc'd, NULL when memory
 * ran out). */
static char *tool_names(void)
{
    struct dynbuf b;
    dynbuf_init(&b, 4096);
    for (unsigned i = 0; i < tool_table_len; i++)
        if ((i > 0 && dynbuf_append_str(&b, ", ") != DYNBUF_OK) ||
            dynbuf_append_str(&b, tool_table[i]->name) != DYNBUF_OK)
            return NULL;
    return dynbuf_take(&b, NULL);
}

static int set_tools(struct config *c, const char *list, const char *source, char **error)
{
    bool enabled[CONFIG_MAX_TOOLS] = {false};
    char *copy = strdup(list);
    if (!copy)
        return -ENOMEM;
    int rc = 0;
    char *save = NULL;
    for (char *name = strtok_r(copy, ", \t", &save); name && rc == 0;
         name = strtok_r(NULL, ", \t", &save)) {
        int i = tool_index(name);
        if (i >= 0) {
            enabled[i] = true;
            continue;
        }
        char *names = tool_names();
        *error = names ? msg_format("unknown tool \"%s\" in %s; the tools are %s", name,
                                    source, names)
                       : NULL;
        free(names);
        rc = -EINVAL;
    }
    free(copy);
    if (rc == 0)
        memcpy(c->tool_enabled, enabled, sizeof enabled);
    return rc;
}

#define REDIS_SCHEME "redis://"

char *config_store_password(const char *spec, bool *failed)
{
    *failed = false;
    if (!spec || strncmp(spec, REDIS_SCHEME, strlen(REDIS_SCHEME)) != 0)
        return NULL;
    /* The user information ends at the last '@': a password may hold one. */
    const char *auth = spec + strlen(REDIS_SCHEME);
    const char *at = strrchr(auth, '@');
    if (!at)
        return NULL;
    if (*auth == ':')
        auth++;
    if (at == auth)
        return NULL;
    char *password = strndup(auth, (size_t)(at - auth));
    *failed = !password;
    return password;
}

/* MSG91_STORE. A Redis password is registered for redaction before
 * anything else happens, so no later message can show it; the sentences
 * here never quote the value for the same reason. store_open checks the
 * rest of the spec when the server starts. */
static int register_store_password(const char *spec)
{
    bool failed;
    char *password = config_store_password(spec, &failed);
    int rc = failed || (password && redact_add_secret(password) != 0) ? -ENOMEM : 0;
    if (password)
        wipe_free(password);
    return rc;
}

static int set_store(struct config *c, const char *value, const char *source,
                     char **error)
{
    int rc = register_store_password(value);
    if (rc != 0)
        return rc;
    if (strcmp(value, "memory") != 0 && strncmp(value, "sqlite:", 7) != 0 &&
        strncmp(value, REDIS_SCHEME, strlen(REDIS_SCHEME)) != 0) {
        *error = msg_format("%s must be memory, sqlite:PATH or "
                            "redis://[:password@]host:port[/db]",
                            source);
        return -EINVAL;
    }
    wipe_free(c->store);
    c->store = strdup(value);
    return c->store ? 0 : -ENOMEM;
}

/* Applies one textual value to a setting; `source` names where it came
 * from for the error message. Returns 0, -EINVAL with *error set, or
 * -ENOMEM. */
static int apply(struct config *c, const struct setting *s, const char *value,
                 const char *source, char **error)
{
    char *field = (char *)c + s->offset;
    switch (s->kind) {
    case SET_STRING: {
        char **slot = (char **)field;
        free(*slot);
        *slot = strdup(value);
        return *slot ? 0 : -ENOMEM;
    }
    case SET_KEY_FILE:
        return set_key_file(c, value, error);
    case SET_STORE:
        return set_store(c, value, source, error);
    case SET_BOOL:
        if (parse_bool(value, (bool *)field) != 0) {
            *error = msg_format("%s must be 1 or 0, not \"%s\"", source, value);
            return -EINVAL;
        }
        return 0;
    case SET_LONG: {
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v < s->min || v > s->max) {
            *error = msg_format("%s must be a whole number from %ld to %ld, not \"%s\"",
                                source, s->min, s->max, value);
            return -EINVAL;
        }
        *(long *)field = v;
        return 0;
    }
    case SET_LEVEL:
        if (log_level_parse(value, &c->log_level) != 0) {
            *error = msg_format("%s must be debug, info, warning or error, not \"%s\"",
                                source, value);
            return -EINVAL;
        }
        return 0;
    case SET_TOOLS:
        return set_tools(c, value, source, error);
    }
    return -EINVAL;
}

static const struct setting *find_flag(const char *name, size_t len)
{
    for (size_t i = 0; i < SETTINGS_LEN; i++)
        if (strlen(settings[i].flag) == len && !strncmp(settings[i].flag, name, len))
            return &settings[i];
    return NULL;
}

static int set_endpoint_method(struct config *c, int idx, const char *name,
                               json_t *method, const char *path, char **error)
{
    const char *m = json_string_value(method);
    if (strcmp(m, "GET") != 0 && strcmp(m, "POST") != 0 && strcmp(m, "PUT") != 0 &&
        strcmp(m, "PATCH") != 0 && strcmp(m, "DELETE") != 0) {
        *error = msg_format("%s: endpoints.%s.method \"%s\" is not an HTTP method", path,
                            name, m);
        return -EINVAL;
    }
    free(c->endpoints[idx].method);
    c->endpoints[idx].method = strdup(m);
    return c->endpoints[idx].method ? 0 : -ENOMEM;
}

static int set_endpoint_path(struct config *c, int idx, const char *name, json_t *p,
                             const char *path, char **error)
{
    const char *v = json_string_value(p);
    if (v[0] != '/' || strpbrk(v, "?# \r\n")) {
        *error = msg_format("%s: endpoints.%s.path must start with / and hold no "
                            "query, fragment or spaces",
                            path, name);
        return -EINVAL;
    }
    free(c->endpoints[idx].path);
    c->endpoints[idx].path = strdup(v);
    return c->endpoints[idx].path ? 0 : -ENOMEM;
}

/* "params" of one endpoint: {"arg": "query:name", ...}. The strings are
 * read here; whether the arguments exist is endpoint_plan's to say. */
static int set_endpoint_params(struct config *c, int idx, const char *name,
                               json_t *params, const char *path, char **error)
{
    size_t n = json_object_size(params);
    struct tool_param *list = calloc(n + 1, sizeof *list);
    if (!list)
        return -ENOMEM;
    size_t i = 0;
    const char *arg;
    json_t *spec;
    int rc = 0;
    json_object_foreach(params, arg, spec) {
        const char *text = json_string_value(spec);
        const char *upstream = NULL;
        enum tool_place place;
        if (!text || endpoint_parse_place(text, &place, &upstream) != 0) {
            *error = msg_format("%s: endpoints.%s.params.%s must be \"path\", \"query\", "
                                "\"body\" or \"omit\", optionally followed by "
                                "\":upstreamName\"",
                                path, name, arg);
            rc = -EINVAL;
            break;
        }
        char *a = strdup(arg);
        char *u = upstream ? strdup(upstream) : NULL;
        if (!a || (upstream && !u)) {
            free(a);
            free(u);
            rc = -ENOMEM;
            break;
        }
        list[i++] = (struct tool_param){.arg = a, .place = place, .name = u};
    }
    if (rc != 0) {
        free_params(list);
        return rc;
    }
    free_params(c->endpoints[idx].params);
    c->endpoints[idx].params = list;
    return 0;
}

/* The endpoint as it will be used (the file's parts over the tool's
 * defaults) resolved once, so a mapping that cannot work stops the start. */
static int check_endpoint(const struct config *c, int idx, const char *name,
                          const char *path, char **error)
{
    const struct tool_def *t = tool_table[idx];
    const struct config_endpoint *o = &c->endpoints[idx];
    struct tool_endpoint ep = {
        .method = o->method ? o->method : t->endpoint.method,
        .path = o->path ? o->path : t->endpoint.path,
        .params = o->params,
    };
    struct endpoint_plan plan;
    char *why = NULL;
    if (endpoint_plan(t, &ep, &plan, &why) == 0)
        return 0;
    *error = why ? msg_format("%s: endpoints.%s: %s", path, name, why) : NULL;
    free(why);
    return *error ? -EINVAL : -ENOMEM;
}

/* One member of "endpoints": {"method": ..., "path": ..., "params": ...},
 * any of them. */
static int load_endpoint(struct config *c, const char *name, json_t *ep, const char *path,
                         char **error)
{
    int idx = tool_index(name);
    if (idx < 0) {
        *error = msg_format("%s: \"endpoints\" names an unknown tool \"%s\"", path, name);
        return -EINVAL;
    }
    const char *key;
    json_t *value;
    json_object_foreach(ep, key, value) {
        if (strcmp(key, "method") != 0 && strcmp(key, "path") != 0 &&
            strcmp(key, "params") != 0) {
            *error = msg_format("%s: endpoints.%s has an unknown key \"%s\"; it takes "
                                "\"method\", \"path\" and \"params\"",
                                path, name, key);
            return -EINVAL;
        }
    }
    json_t *method = json_object_get(ep, "method");
    json_t *p = json_object_get(ep, "path");
    json_t *params = json_object_get(ep, "params");
    if (!json_is_object(ep) || (method && !json_is_string(method)) ||
        (p && !json_is_string(p)) || (params && !json_is_object(params)) ||
        (!method && !p && !params)) {
        *error = msg_format("%s: endpoints.%s must be {\"method\": \"GET\"|\"POST\", "
                            "\"path\": \"/api/...\", \"params\": {\"argument\": "
                            "\"query:name\"}}, any of the three",
                            path, name);
        return -EINVAL;
    }
    int rc = method ? set_endpoint_method(c, idx, name, method, path, error) : 0;
    if (rc == 0 && p)
        rc = set_endpoint_path(c, idx, name, p, path, error);
    if (rc == 0 && params)
        rc = set_endpoint_params(c, idx, name, params, path, error);
    return rc == 0 ? check_endpoint(c, idx, name, path, error) : rc;
}

static int load_endpoints(struct config *c, json_t *endpoints, const char *path,
                          char **error)
{
    if (!json_is_object(endpoints)) {
        *error = msg_format("%s: \"endpoints\" must be an object of tool names", path);
        return -EINVAL;
    }
    const char *name;
    json_t *ep;
    json_object_foreach(endpoints, name, ep) {
        int rc = load_endpoint(c, name, ep, path, error);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* What a JSON value is, for "must be ..., not X": numbers as written, other
 * values by their type. */
static const char *describe(json_t *v, char *buf, size_t len)
{
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return buf;
    case JSON_REAL:
        snprintf(buf, len, "%g", json_real_value(v));
        return buf;
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return jsonload_kind(v);
    }
}

static int dup_text(const char *text, char **out)
{
    *out = strdup(text);
    return *out ? 0 : -ENOMEM;
}

/* A "tools" list, joined with commas as MSG91_TOOLS writes it. */
static int join_tools(json_t *list, const char *source, char **out, char **error)
{
    struct dynbuf b;
    dynbuf_init(&b, (size_t)64 * 1024);
    size_t i;
    json_t *item;
    json_array_foreach(list, i, item) {
        if (!json_is_string(item)) {
            char what[64];
            dynbuf_finish(&b);
            *error = msg_format("%s item %zu must be a tool name, not %s", source, i + 1,
                                describe(item, what, sizeof what));
            return -EINVAL;
        }
        if (dynbuf_append_str(&b, json_string_value(item)) != DYNBUF_OK ||
            dynbuf_append(&b, ",", 1) != DYNBUF_OK)
            return -ENOMEM;
    }
    *out = dynbuf_take(&b, NULL);
    return *out ? 0 : dup_text("", out);
}

/* The text a file value stands for, when it has the JSON type its setting
 * takes: strings for text, true/false for switches, integers in range. */
static int file_text(const struct setting *s, json_t *v, const char *source, char **out,
                     char **error)
{
    char what[64];
    switch (s->kind) {
    case SET_STRING:
    case SET_LEVEL:
    case SET_KEY_FILE:
    case SET_STORE:
        if (json_is_string(v))
            return dup_text(json_string_value(v), out);
        *error = msg_format("%s must be a string, not %s", source,
                            describe(v, what, sizeof what));
        return -EINVAL;
    case SET_BOOL:
        if (json_is_boolean(v))
            return dup_text(json_is_true(v) ? "1" : "0", out);
        *error = msg_format("%s must be true or false, not %s", source,
                            describe(v, what, sizeof what));
        return -EINVAL;
    case SET_LONG:
        if (json_is_integer(v) && json_integer_value(v) >= s->min &&
            json_integer_value(v) <= s->max)
            return dup_text(describe(v, what, sizeof what), out);
        *error = msg_format("%s must be a whole number from %ld to %ld, not %s", source,
                            s->min, s->max, describe(v, what, sizeof what));
        return -EINVAL;
    case SET_TOOLS:
        if (json_is_string(v))
            return dup_text(json_string_value(v), out);
        if (json_is_array(v))
            return join_tools(v, source, out, error);
        *error = msg_format("%s must be a list of tool names, not %s", source,
                            describe(v, what, sizeof what));
        return -EINVAL;
    }
    return -EINVAL;
}

static const struct setting *find_file_key(const char *key)
{
    for (size_t i = 0; i < SETTINGS_LEN; i++)
        if (!strcmp(settings[i].file_key, key))
            return &settings[i];
    return NULL;
}

/* Applies one member of the file; "auth_key_file" was read before. */
static int apply_file_value(struct config *c, const char *key, json_t *value,
                            const char *path, char **error)
{
    if (!strcmp(key, "endpoints"))
        return load_endpoints(c, value, path, error);
    if (!strcmp(key, "auth_key")) {
        *error = msg_format("%s: put the key in a file of its own and name it with "
                            "\"auth_key_file\", or set MSG91_AUTH_KEY",
                            path);
        return -EINVAL;
    }
    const struct setting *s = find_file_key(key);
    if (!s) {
        *error = msg_format("%s: unknown setting \"%s\"", path, key);
        return -EINVAL;
    }
    if (s->kind == SET_KEY_FILE)
        return 0;
    char source[512];
    snprintf(source, sizeof source, "%s: \"%s\"", path, key);
    char *text = NULL;
    int rc = file_text(s, value, source, &text, error);
    if (rc == 0)
        rc = apply(c, s, text, source, error);
    free(text);
    return rc;
}

/* The file's "auth_key_file", read before its other values (see
 * load_key), unless the environment or a flag named the key. */
static int load_file_key(struct config *c, json_t *root, const char *path, char **error)
{
    json_t *value = json_object_get(root, "auth_key_file");
    if (!value)
        return 0;
    char source[512];
    snprintf(source, sizeof source, "%s: \"auth_key_file\"", path);
    char *text = NULL;
    int rc = file_text(find_file_key("auth_key_file"), value, source, &text, error);
    if (rc == 0 && !c->auth_key && *text)
        rc = set_key_file(c, text, error);
    free(text);
    return rc;
}

static int load_file(struct config *c, const char *path, char **error)
{
    if (!path)
        return 0;
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        if (jerr.line > 0)
            *error = msg_format("cannot load the config file %s: line %d, column %d: %s",
                                path, jerr.line, jerr.column, jerr.text);
        else
            *error = msg_format("cannot load the config file %s: %s", path, jerr.text);
        return -EINVAL;
    }
    int rc = 0;
    if (!json_is_object(root)) {
        char what[64];
        *error = msg_format("the config file %s must hold a JSON object, not %s", path,
                            describe(root, what, sizeof what));
        rc = -EINVAL;
    }
    if (rc == 0)
        rc = load_file_key(c, root, path, error);
    if (rc == 0) /* before any value of the file, as the key */
        rc = register_store_password(json_string_value(json_object_get(root, "store")));
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (rc == 0)
            rc = apply_file_value(c, key, value, path, error);
    }
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
        *error = msg_format("MSG91_BASE_URL \"%s\" %s", u, why);
        return -1;
    }
    return 0;
}

/* MSG91 keys are long random strings. A placeholder such as "key" or
 * "type" is refused: besides failing upstream, it would make the redaction
 * step (which removes the key by value from every output) mangle ordinary
 * words of the server's own messages. */
#define MIN_KEY_LENGTH 8

int config_check_key(const char *key, const char *source, char **error)
{
    if (strlen(key) < MIN_KEY_LENGTH) {
        *error =
            msg_format("%s is too short to be an " SERVICE_NAME " auth key (at least %d "
                       "characters; copy the key from the " SERVICE_NAME " panel)",
                       source, MIN_KEY_LENGTH);
        return -EINVAL;
    }
    for (const char *p = key; *p; p++) {
        if ((unsigned char)*p <= ' ' || *p == 0x7f) {
            *error =
                msg_format("%s contains spaces or control characters; an " SERVICE_NAME
                           " auth key never does",
                           source);
            return -EINVAL;
        }
    }
    return 0;
}

static int check_key(const struct config *c, char **error)
{
    if (!c->auth_key)
        return 0;
    return config_check_key(
        c->auth_key,
        c->auth_key_file ? "the key in MSG91_AUTH_KEY_FILE" : "MSG91_AUTH_KEY", error);
}

static const char *const refused_flags[] = {"--auth-key", "--" SERVICE_AUTH_HEADER,
                                            "--key", NULL};

/* What the command line holds, from one pass over argv before any value is
 * applied. Pointers are into argv. */
struct cmdline {
    const char *config_file; /* --config */
    const char *key_file;    /* --auth-key-file */
    bool sandbox;
    struct flag_value {
        const struct setting *setting;
        const char *value;
    } * flags; /* every other setting flag, in order */
    size_t nflags;
    char **left; /* the rest, for the subcommand; NULL-terminated */
    size_t nleft;
};

static int refuse_key_flag(const char *arg, char **error)
{
    for (const char *const *r = refused_flags; *r; r++) {
        size_t rl = strlen(*r);
        if (!strncmp(arg, *r, rl) && (arg[rl] == '\0' || arg[rl] == '=')) {
            *error = msg_format("the auth key is never accepted on the command line "
                                "(other users could read it in the process list); set "
                                "MSG91_AUTH_KEY or MSG91_AUTH_KEY_FILE instead");
            return -EINVAL;
        }
    }
    return 0;
}

/* The "--name[=value]" flag at argv[*i], and its value word when it takes
 * one. A flag the configuration does not know is left for the subcommand. */
static int scan_flag(struct cmdline *cl, int argc, char **argv, int *i, char **error)
{
    const char *name = argv[*i] + 2;
    const char *eq = strchr(name, '=');
    size_t name_len = eq ? (size_t)(eq - name) : strlen(name);
    bool is_config = name_len == 6 && !strncmp(name, "config", 6);
    const struct setting *s = is_config ? NULL : find_flag(name, name_len);
    if (!s && !is_config) {
        cl->left[cl->nleft++] = argv[*i];
        return 0;
    }
    const char *value;
    if (eq) {
        value = eq + 1;
    } else if (s && s->kind == SET_BOOL) {
        value = "1";
    } else if (*i + 1 < argc) {
        value = argv[++*i];
    } else {
        *error = msg_format("--%s needs a value", name);
        return -EINVAL;
    }
    if (is_config)
        cl->config_file = value;
    else if (s->kind == SET_KEY_FILE)
        cl->key_file = value;
    else
        cl->flags[cl->nflags++] = (struct flag_value){s, value};
    return 0;
}

static int scan_argv(struct cmdline *cl, int argc, char **argv, char **error)
{
    memset(cl, 0, sizeof *cl);
    cl->flags = calloc((size_t)argc + 1, sizeof *cl->flags);
    cl->left = calloc((size_t)argc + 1, sizeof *cl->left);
    if (!cl->flags || !cl->left)
        return -ENOMEM;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        int rc = refuse_key_flag(arg, error);
        if (rc != 0)
            return rc;
        if (!strcmp(arg, "--")) {
            while (++i < argc)
                cl->left[cl->nleft++] = argv[i];
            break;
        }
        if (!strcmp(arg, "--sandbox"))
            cl->sandbox = true;
        else if (strncmp(arg, "--", 2) != 0)
            cl->left[cl->nleft++] = argv[i];
        else if ((rc = scan_flag(cl, argc, argv, &i, error)) != 0)
            return rc;
    }
    return 0;
}

/* A non-empty environment value, or NULL. */
static const char *env_value(char **envp, const char *name)
{
    const char *v = env_get(envp, name);
    return v && *v ? v : NULL;
}

/* The key is read before any other value is applied: main registers it for
 * redaction before it prints a configuration error, and such an error may
 * quote a value. Precedence as for every setting: --auth-key-file, then
 * MSG91_AUTH_KEY or MSG91_AUTH_KEY_FILE (never both), then the config
 * file's "auth_key_file" (load_file_key). */
static int load_key(struct config *c, const struct cmdline *cl, char **envp, char **error)
{
    const char *env_key = env_value(envp, "MSG91_AUTH_KEY");
    const char *env_file = env_value(envp, "MSG91_AUTH_KEY_FILE");
    if (env_key && env_file) {
        *error = msg_format(
            "both MSG91_AUTH_KEY and MSG91_AUTH_KEY_FILE are set; set only one");
        return -EINVAL;
    }
    if (cl->key_file)
        return set_key_file(c, cl->key_file, error);
    if (env_file)
        return set_key_file(c, env_file, error);
    if (env_key)
        return set_key(c, env_key, error);
    return 0;
}

/* A Redis password in MSG91_STORE or --store is registered for redaction
 * before any value is applied, as the key is (load_key): an error about an
 * earlier setting may quote any value. The file's is in load_file. */
static int register_store_passwords(const struct cmdline *cl, char **envp)
{
    int rc = register_store_password(env_get(envp, "MSG91_STORE"));
    for (size_t i = 0; i < cl->nflags && rc == 0; i++)
        if (cl->flags[i].setting->kind == SET_STORE)
            rc = register_store_password(cl->flags[i].value);
    return rc;
}

static int apply_env(struct config *c, char **envp, char **error)
{
    for (size_t i = 0; i < SETTINGS_LEN; i++) {
        const struct setting *s = &settings[i];
        const char *v = env_get(envp, s->env);
        /* An empty value means unset, except for a switch, where it is 0. */
        if (s->kind == SET_KEY_FILE || !v || (!*v && s->kind != SET_BOOL))
            continue;
        int rc = apply(c, s, v, s->env, error);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static int apply_flags(struct config *c, const struct cmdline *cl, char **error)
{
    for (size_t i = 0; i < cl->nflags; i++) {
        const struct setting *s = cl->flags[i].setting;
        char source[64];
        snprintf(source, sizeof source, "--%s", s->flag);
        int rc = apply(c, s, cl->flags[i].value, source, error);
        if (rc != 0)
            return rc;
    }
    if (cl->sandbox)
        c->sandbox = true;
    return 0;
}

/* MSG91_ALLOWED_COUNTRY_CODES: a comma list of calling codes, 1 to 4
 * digits each (NANP area codes such as 1268 included), a leading + allowed. */
static int check_country_codes(const char *list, char **error)
{
    const char *p = list;
    bool any = false;
    while (*p) {
        p += strspn(p, " \t");
        if (*p == '+')
            p++;
        size_t n = strspn(p, "0123456789");
        const char *after = p + n + strspn(p + n, " \t");
        if (n < 1 || n > 4 || *p == '0' || (*after && *after != ',')) {
            *error = msg_format("MSG91_ALLOWED_COUNTRY_CODES must be a comma list of "
                                "country calling codes such as 91,971, not \"%s\"",
                                list);
            return -EINVAL;
        }
        any = true;
        p = *after ? after + 1 : after;
    }
    if (!any) {
        *error = msg_format("MSG91_ALLOWED_COUNTRY_CODES names no country code");
        return -EINVAL;
    }
    return 0;
}

/* Checks that need every source applied first. */
static int check_values(struct config *c, char **error)
{
    if (!c->base_url) /* config_init's copy failed */
        return -ENOMEM;
    if (check_base_url(c, error) != 0 || check_key(c, error) != 0)
        return -EINVAL;
    /* A CA bundle that cannot be read would only show at the first call,
     * as a TLS failure on every call after it: say so now instead. */
    if (c->ca_file && access(c->ca_file, R_OK) != 0) {
        *error = msg_format("MSG91_CA_FILE %s cannot be read: %s", c->ca_file,
                            strerror(errno));
        return -EINVAL;
    }
    if (c->tool_prefix &&
        strspn(c->tool_prefix,
               "abcdefghijklmnopqrstuvwxyz"
               "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") != strlen(c->tool_prefix)) {
        *error = msg_format("MSG91_TOOL_PREFIX may hold only letters, digits, _ and -");
        return -EINVAL;
    }
    if (c->tool_prefix && strlen(c->tool_prefix) > 40) {
        *error = msg_format("MSG91_TOOL_PREFIX is too long (40 characters at most)");
        return -EINVAL;
    }
    if (c->persona && !c->personas_file) {
        *error = msg_format("MSG91_PERSONA names a persona, but no personas file is set: "
                            "set MSG91_PERSONAS to the file that defines \"%s\"",
                            c->persona);
        return -EINVAL;
    }
    if (c->allowed_country_codes && !*c->allowed_country_codes) {
        free(c->allowed_country_codes); /* "" from the file: all, as unset */
        c->allowed_country_codes = NULL;
    }
    if (c->allowed_country_codes && check_country_codes(c->allowed_country_codes, error))
        return -EINVAL;
    for (unsigned i = 0; i < SERVICE_SETTINGS_LEN; i++) {
        if (c->tool_settings[i] && !*c->tool_settings[i]) {
            free(c->tool_settings[i]);
            c->tool_settings[i] = NULL;
        }
    }
    return 0;
}

int config_load(struct config *c, int argc, char **argv, char **envp, char ***rest,
                char **error)
{
    *error = NULL;
    *rest = NULL;
    struct cmdline cl;
    int rc = scan_argv(&cl, argc, argv, error);
    if (rc == 0)
        rc = load_key(c, &cl, envp, error);
    if (rc == 0)
        rc = register_store_passwords(&cl, envp);
    if (rc == 0)
        rc = load_file(
            c, cl.config_file ? cl.config_file : env_value(envp, "MSG91_CONFIG"), error);
    if (rc == 0)
        rc = apply_env(c, envp, error);
    if (rc == 0)
        rc = apply_flags(c, &cl, error);
    if (rc == 0)
        rc = check_values(c, error);
    free(cl.flags);
    if (rc != 0) {
        free(cl.left);
        if (!*error)
            *error = strdup("out of memory while reading the configuration");
        return rc;
    }
    *rest = cl.left;
    return 0;
}

bool config_tool_allowed(const struct config *c, unsigned i)
{
    if (i >= tool_table_len || !c->tool_enabled[i])
        return false;
    return !c->read_only || tool_table[i]->read_only;
}

const char *config_flags_help(void)
{
    static char text[8192];
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
