/* How a request reaches a sandbox behaviour: route templates matched on
 * method and path, query strings decoded the way MSG91's PHP backends
 * decode them, and the two families' answers to a missing or wrong key. */
#include "sandbox/internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "tools/tool.h"
#include "util/msg.h"
#include "util/pct.h"

/* For clang-tidy: the Annex K (*_s) functions it suggests are not in glibc,
 * and every copy here is bounded by its size; parameter lists of the same
 * type are fixed by the libraries' callbacks or read as HTTP names them.
 * NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling)
 * NOLINTBEGIN(bugprone-easily-swappable-parameters) */

/* Indexed by enum sandbox_tool; the names are the tool table's. */
static const char *const tool_names[SANDBOX_TOOL_COUNT] = {
    [SANDBOX_SEND_OTP] = "send_otp",
    [SANDBOX_RESEND_OTP] = "resend_otp",
    [SANDBOX_VERIFY_OTP] = "verify_otp",
    [SANDBOX_SEND_SMS_FLOW] = "send_sms_flow",
    [SANDBOX_CREATE_USER_EVENTS] = "create_user_events",
    [SANDBOX_GET_EVENT_TYPES] = "get_event_types",
    [SANDBOX_GET_FAILED_EVENTS] = "get_failed_events",
    [SANDBOX_LIST_CAMPAIGNS] = "list_campaigns",
};

const char *sandbox_tool_name(enum sandbox_tool tool)
{
    if ((unsigned)tool >= SANDBOX_TOOL_COUNT)
        return NULL;
    return tool_names[tool];
}

int sandbox_tool_from_name(const char *name, enum sandbox_tool *tool)
{
    for (unsigned i = 0; name && i < SANDBOX_TOOL_COUNT; i++) {
        if (strcmp(tool_names[i], name) == 0) {
            *tool = (enum sandbox_tool)i;
            return 0;
        }
    }
    return -1;
}

bool sandbox_tool_is_otp_family(enum sandbox_tool tool)
{
    return tool == SANDBOX_SEND_OTP || tool == SANDBOX_RESEND_OTP ||
           tool == SANDBOX_VERIFY_OTP || tool == SANDBOX_SEND_SMS_FLOW;
}

/* ---- parameters ---- */

/* Percent-decodes len bytes of s into a new NUL-terminated string; with
 * plus_is_space, "+" becomes " ". Returns NULL on allocation failure. */
static char *percent_decode(const char *s, size_t len, bool plus_is_space)
{
    char *out = malloc(len + 1);
    if (!out)
        return NULL;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        /* A malformed escape stays as it is, as PHP leaves it. */
        int byte = pct_escape_value(s + i, len - i);
        if (byte >= 0) {
            out[n++] = (char)byte;
            i += 2;
        } else if (s[i] == '+' && plus_is_space) {
            out[n++] = ' ';
        } else {
            out[n++] = s[i];
        }
    }
    out[n] = '\0';
    return out;
}

/* Appends a copy of name and value; returns 0 or -1. */
static int params_add(struct sandbox_params *p, const char *name, const char *value)
{
    struct sandbox_param *grown = realloc(p->items, (p->len + 1) * sizeof *grown);
    if (!grown)
        return -1;
    p->items = grown;
    char *n = strdup(name), *v = strdup(value);
    if (!n || !v) {
        free(n);
        free(v);
        return -1;
    }
    p->items[p->len].name = n;
    p->items[p->len].value = v;
    p->len++;
    return 0;
}

int sandbox_params_parse(struct sandbox_params *p, const char *query)
{
    p->items = NULL;
    p->len = 0;
    const char *s = query;
    while (s && *s) {
        size_t pair_len = strcspn(s, "&");
        const char *eq = memchr(s, '=', pair_len);
        size_t name_len = eq ? (size_t)(eq - s) : pair_len;
        if (pair_len > 0) {
            char *name = percent_decode(s, name_len, true);
            char *value =
                eq ? percent_decode(eq + 1, pair_len - name_len - 1, true) : strdup("");
            int rc = name && value ? params_add(p, name, value) : -1;
            free(name);
            free(value);
            if (rc != 0) {
                sandbox_params_finish(p);
                return -1;
            }
        }
        s += pair_len;
        if (*s == '&')
            s++;
    }
    return 0;
}

const char *sandbox_params_get(const struct sandbox_params *p, const char *name)
{
    for (size_t i = 0; i < p->len; i++)
        if (strcmp(p->items[i].name, name) == 0)
            return p->items[i].value;
    return NULL;
}

void sandbox_params_finish(struct sandbox_params *p)
{
    for (size_t i = 0; i < p->len; i++) {
        free(p->items[i].name);
        free(p->items[i].value);
    }
    free(p->items);
    p->items = NULL;
    p->len = 0;
}

void sandbox_reply_json(struct sandbox_reply *out, unsigned status, json_t *v)
{
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    json_decref(v);
    /* Out of memory is the only way here; an empty 500 says so honestly. */
    out->status = text ? status : 500;
    out->body = text ? text : strdup("");
}

/* ---- routes ---- */

struct route {
    enum sandbox_tool tool;
    char *method;
    char **segments; /* "{x}" marks a capture */
    size_t segment_count;
};

struct sandbox_router {
    struct route *routes;
    size_t len;
};

/* Splits a path on "/" ignoring the leading one and one trailing one, so
 * "/api/v5/flow/" and "/api/v5/flow" are the same route, as MSG91 treats them. */
static int split_path(const char *path, char ***out, size_t *count)
{
    *out = NULL;
    *count = 0;
    if (*path != '/')
        return -1;
    path++;
    size_t len = strlen(path);
    if (len > 0 && path[len - 1] == '/')
        len--;
    if (len == 0)
        return 0;
    size_t n = 1;
    for (size_t i = 0; i < len; i++)
        n += path[i] == '/';
    char **segs = calloc(n, sizeof *segs);
    if (!segs)
        return -1;
    const char *s = path;
    for (size_t i = 0; i < n; i++) {
        const char *end = memchr(s, '/', (size_t)(path + len - s));
        size_t seg_len = end ? (size_t)(end - s) : (size_t)(path + len - s);
        segs[i] = strndup(s, seg_len);
        if (!segs[i]) {
            for (size_t j = 0; j < i; j++)
                free(segs[j]);
            free(segs);
            return -1;
        }
        s += seg_len + 1;
    }
    *out = segs;
    *count = n;
    return 0;
}

static void free_segments(char **segs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(segs[i]);
    free(segs);
}

static bool is_capture(const char *seg)
{
    size_t n = strlen(seg);
    return n >= 3 && seg[0] == '{' && seg[n - 1] == '}';
}

void sandbox_router_destroy(struct sandbox_router *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->len; i++) {
        free(r->routes[i].method);
        free_segments(r->routes[i].segments, r->routes[i].segment_count);
    }
    free(r->routes);
    free(r);
}

/* A name for a message: a route given by a test may lack one. */
static const char *or_null(const char *s)
{
    return s ? s : "(null)";
}

struct sandbox_router *sandbox_router_create(const struct sandbox_route *routes,
                                             unsigned count, char **error)
{
    *error = NULL;
    unsigned n = routes ? count : tool_table_len;
    struct sandbox_router *r = calloc(1, sizeof *r);
    if (!r || !(r->routes = calloc(n ? n : 1, sizeof *r->routes)))
        goto oom;
    for (unsigned i = 0; i < n; i++) {
        const char *tool = routes ? routes[i].tool : tool_table[i]->name;
        const char *method = routes ? routes[i].method : tool_table[i]->endpoint.method;
        const char *path = routes ? routes[i].path : tool_table[i]->endpoint.path;
        struct route *rt = &r->routes[r->len];
        if (sandbox_tool_from_name(tool, &rt->tool) != 0) {
            *error = msg_format("sandbox: route %s %s names no known tool",
                                or_null(method), or_null(tool));
            goto fail;
        }
        if (!method || !path ||
            split_path(path, &rt->segments, &rt->segment_count) != 0) {
            *error = msg_format("sandbox: route for %s has a bad path %s", or_null(tool),
                                or_null(path));
            goto fail;
        }
        if (!(rt->method = strdup(method))) {
            free_segments(rt->segments, rt->segment_count);
            goto oom;
        }
        r->len++;
    }
    return r;

oom:
    *error = strdup("sandbox: out of memory");
fail:
    sandbox_router_destroy(r);
    return NULL;
}

static bool method_matches(const struct route *rt, const char *method)
{
    if (strcasecmp(rt->method, method) == 0)
        return true;
    return (rt->tool == SANDBOX_RESEND_OTP || rt->tool == SANDBOX_VERIFY_OTP) &&
           (strcmp(method, "GET") == 0 || strcmp(method, "POST") == 0);
}

int sandbox_router_match(const struct sandbox_router *r, const char *method,
                         const char *path, enum sandbox_tool *tool,
                         struct sandbox_params *captures)
{
    char **segs;
    size_t n;
    if (split_path(path, &segs, &n) != 0)
        return -1;
    int found = -1;
    for (size_t i = 0; i < r->len && found < 0; i++) {
        const struct route *rt = &r->routes[i];
        if (rt->segment_count != n || !method_matches(rt, method))
            continue;
        bool ok = true;
        for (size_t s = 0; s < n && ok; s++) {
            char *dec = percent_decode(segs[s], strlen(segs[s]), false);
            if (!dec)
                ok = false;
            else if (is_capture(rt->segments[s]))
                ok = dec[0] != '\0';
            else
                ok = strcmp(dec, rt->segments[s]) == 0;
            free(dec);
        }
        if (!ok)
            continue;
        for (size_t s = 0; s < n; s++) {
            if (!is_capture(rt->segments[s]))
                continue;
            const char *tmpl = rt->segments[s];
            char *name = strndup(tmpl + 1, strlen(tmpl) - 2);
            char *dec = percent_decode(segs[s], strlen(segs[s]), false);
            if (name && dec)
                params_add(captures, name, dec);
            free(name);
            free(dec);
        }
        *tool = rt->tool;
        found = 0;
    }
    free_segments(segs, n);
    return found;
}

/* ---- authentication ---- */

bool sandbox_auth_check(enum sandbox_tool tool, const char *expected,
                        const char *header_key, const struct sandbox_params *query,
                        struct sandbox_reply *out)
{
    const char *key = header_key;
    /* MSG91 documents the key in the query for the OTP calls only. */
    bool query_allowed = tool == SANDBOX_SEND_OTP || tool == SANDBOX_RESEND_OTP ||
                         tool == SANDBOX_VERIFY_OTP;
    if ((!key || !*key) && query_allowed)
        key = sandbox_params_get(query, "authkey");
    bool missing = !key || !*key;
    bool wrong = !missing && expected && strcmp(key, expected) != 0;
    if (!missing && !wrong)
        return true;

    if (!sandbox_tool_is_otp_family(tool)) {
        sandbox_reply_json(out, 401,
                           json_pack("{s:s,s:b,s:s,s:s,s:s}", "status", "fail",
                                     "hasError", 1, "errors", "Unauthorized", "code",
                                     "401", "apiError", "201"));
    } else if (missing) {
        sandbox_reply_json(
            out, 200,
            json_pack("{s:s,s:s}", "type", "error", "message", "Auth Key missing"));
    } else {
        sandbox_reply_json(out, 200,
                           json_pack("{s:s,s:s,s:s}", "message", "Invalid authkey",
                                     "type", "error", "code", "201"));
    }
    return false;
}

/* NOLINTEND(bugprone-easily-swappable-parameters)
 * NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */
