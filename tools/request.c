#include "tools/request.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/endpoint.h"
#include "util/dynbuf.h"
#include "util/msg.h"

/* A URL under construction: url_init expands the path template;
 * parameters are then appended in call order. */
struct request_url {
    struct dynbuf buf;
    bool has_query; /* the next parameter starts with '&', not '?' */
    bool failed;    /* an append failed; url_take returns NULL */
};

static const char nomem_text[] =
    "The server ran out of memory while building the request.";

static bool is_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

/* Appends the encoded form of s to b without an intermediate copy. */
static int append_encoded(struct dynbuf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        int rc;
        if (is_unreserved(c)) {
            rc = dynbuf_append(b, &s[i], 1);
        } else {
            char esc[3] = {'%', hex[c >> 4], hex[c & 0x0f]};
            rc = dynbuf_append(b, esc, sizeof esc);
        }
        if (rc != DYNBUF_OK)
            return rc;
    }
    return DYNBUF_OK;
}

char *request_encode(const char *s, size_t len)
{
    struct dynbuf b;
    /* Each byte grows to at most three, plus the terminating NUL. */
    dynbuf_init(&b, len * 3 + 2);
    if (append_encoded(&b, s, len) != DYNBUF_OK)
        return NULL;
    char *out = dynbuf_take(&b, NULL);
    return out ? out : strdup("");
}

char *request_mobile(const char *mobile)
{
    size_t n = strlen(mobile);
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (mobile[i] >= '0' && mobile[i] <= '9')
            out[k++] = mobile[i];
    out[k] = '\0';
    return out;
}

int request_fail(char **error, const char *text)
{
    *error = strdup(text);
    return -1;
}

int request_failf(char **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    *error = msg_vformat(fmt, ap);
    va_end(ap);
    return -1;
}

/* True when the value, placed alone in a path segment, would be a dot
 * segment: "." and ".." consist of unreserved characters only, so encoding
 * leaves them as they are, and URL normalisation (curl's included) would
 * then remove or climb a path level. */
static bool is_dot_segment(const char *s, size_t len)
{
    return (len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.');
}

/* Characters the operator may write literally in a path template: RFC
 * 3986 pchar, '/', '?' and '%' for escapes they wrote themselves. '#' is
 * not among them: it would move our query parameters into a fragment that
 * is never sent. */
static bool is_path_literal(unsigned char c)
{
    return is_unreserved(c) || (c != '\0' && strchr("!$&'()*+,;=:@/?%", c) != NULL);
}

/* The text of a scalar value in a URL: a string as it is, a number in
 * decimal, a boolean as 1 or 0 (how MSG91 reads flags; PHP reads the word
 * "false" as true). Returns it (s's own text, or buf) with *len set, or
 * NULL for an object, array or null, which have no place in a URL. */
static const char *scalar_text(json_t *v, char buf[32], size_t *len)
{
    if (json_is_string(v)) {
        *len = json_string_length(v);
        return json_string_value(v);
    }
    if (json_is_integer(v))
        snprintf(buf, 32, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    else if (json_is_real(v))
        snprintf(buf, 32, "%.17g", json_real_value(v));
    else if (json_is_boolean(v))
        snprintf(buf, 32, "%d", json_is_true(v) ? 1 : 0);
    else
        return NULL;
    *len = strlen(buf);
    return buf;
}

/* Appends the argument named name (len bytes) as one encoded path segment. */
static int append_placeholder(struct request_url *u, json_t *args, const char *name,
                              size_t len, char **error)
{
    char key[128];
    if (len == 0 || len >= sizeof key)
        return request_fail(error, "The endpoint path has an empty or overlong {...} "
                                   "placeholder: fix \"path\" under \"endpoints\" in the "
                                   "config file.");
    memcpy(key, name, len);
    key[len] = '\0';

    char buf[32];
    size_t slen;
    const char *s = scalar_text(json_object_get(args, key), buf, &slen);
    if (!s)
        return request_failf(
            error,
            "The endpoint path needs {%s}, but the call has no %s argument "
            "that is a string: check \"endpoints\" in the config file.",
            key, key);
    if (slen == 0)
        return request_failf(error, "%s must not be empty.", key);
    if (is_dot_segment(s, slen))
        return request_failf(error, "%s must not be \".\" or \"..\".", key);
    if (append_encoded(&u->buf, s, slen) != DYNBUF_OK)
        u->failed = true;
    return 0;
}

static int url_init(struct request_url *u, const struct tool_build_ctx *ctx, json_t *args,
                    char **error)
{
    dynbuf_init(&u->buf, REQUEST_URL_MAX);
    u->has_query = false;
    u->failed = false;

    const char *path = ctx->endpoint->path;
    if (path[0] != '/')
        return request_failf(
            error,
            "The endpoint path \"%s\" does not start with '/': fix \"path\" "
            "under \"endpoints\" in the config file.",
            path);
    if (dynbuf_append_str(&u->buf, ctx->base_url) != DYNBUF_OK)
        u->failed = true;

    /* The template's literal text is the operator's (built in or from the
     * config file) and is copied as written; only arguments are encoded. */
    const char *p = path;
    while (*p) {
        const char *open = strchr(p, '{');
        size_t lit = open ? (size_t)(open - p) : strlen(p);
        if (memchr(p, '}', lit))
            goto unbalanced;
        for (size_t i = 0; i < lit; i++) {
            if (!is_path_literal((unsigned char)p[i])) {
                dynbuf_finish(&u->buf);
                return request_failf(error,
                                     "The endpoint path \"%s\" holds a character that "
                                     "cannot appear in a URL path: fix \"path\" under "
                                     "\"endpoints\" in the config file.",
                                     path);
            }
        }
        if (memchr(p, '?', lit))
            u->has_query = true;
        if (lit && dynbuf_append(&u->buf, p, lit) != DYNBUF_OK)
            u->failed = true;
        if (!open)
            break;
        const char *close = strchr(open + 1, '}');
        if (!close || memchr(open + 1, '{', (size_t)(close - open - 1)))
            goto unbalanced;
        if (append_placeholder(u, args, open + 1, (size_t)(close - open - 1), error) !=
            0) {
            dynbuf_finish(&u->buf);
            return -1;
        }
        p = close + 1;
    }
    return 0;

unbalanced:
    dynbuf_finish(&u->buf);
    return request_failf(
        error,
        "The endpoint path \"%s\" has an unbalanced '{' or '}': fix \"path\" "
        "under \"endpoints\" in the config file.",
        path);
}

/* Appends "name=value" (both percent-encoded) as the next query parameter. */
static void url_add(struct request_url *u, const char *name, const char *value,
                    size_t value_len)
{
    if (u->failed)
        return;
    const char *sep = u->has_query ? "&" : "?";
    u->has_query = true;
    if (dynbuf_append_str(&u->buf, sep) != DYNBUF_OK ||
        append_encoded(&u->buf, name, strlen(name)) != DYNBUF_OK ||
        dynbuf_append_str(&u->buf, "=") != DYNBUF_OK ||
        append_encoded(&u->buf, value, value_len) != DYNBUF_OK)
        u->failed = true;
}

static char *url_take(struct request_url *u)
{
    if (u->failed) {
        dynbuf_finish(&u->buf);
        return NULL;
    }
    return dynbuf_take(&u->buf, NULL);
}

static void url_finish(struct request_url *u)
{
    dynbuf_finish(&u->buf);
}

int request_set_json_body(struct http_request *req, json_t *body)
{
    /* Objects keep their insertion order in jansson, so the bytes sent are
     * exactly the order the build function chose. */
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text)
        return -1;
    req->body = text;
    req->body_len = strlen(text);
    req->content_type = "application/json";
    return 0;
}

static int complete(const struct tool_build_ctx *ctx, struct request_url *u, json_t *body,
                    struct http_request *req, char **error)
{
    req->method = ctx->endpoint->method;
    req->retryable = ctx->tool && ctx->tool->read_only;
    req->url = url_take(u);
    req->body = NULL;
    req->body_len = 0;
    req->content_type = NULL;
    if (!req->url) {
        json_decref(body);
        return request_fail(error, "The request URL could not be built: it would be "
                                   "longer than 64 KiB or the server is out of memory.");
    }
    if (body && request_set_json_body(req, body) != 0) {
        request_clear(req);
        return request_fail(error, nomem_text);
    }
    return 0;
}

void request_clear(struct http_request *req)
{
    free(req->url);
    free(req->body);
    req->url = NULL;
    req->body = NULL;
    req->body_len = 0;
}

json_t *request_list(json_t *args, const char *name, request_item_fn each,
                     const void *data, char **error)
{
    json_t *items = json_object_get(args, name);
    if (!json_is_array(items)) {
        request_failf(error, "%s is required.", name);
        return NULL;
    }
    json_t *list = json_array();
    if (!list) {
        request_fail(error, nomem_text);
        return NULL;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item) {
        json_t *e = each(item, i, data, error);
        if (!e) {
            json_decref(list);
            return NULL;
        }
        if (json_array_append_new(list, e)) {
            json_decref(list);
            request_fail(error, nomem_text);
            return NULL;
        }
    }
    return list;
}

void request_values_init(struct request_values *v)
{
    v->obj = json_object();
    v->failed = v->obj == NULL;
}

void request_values_finish(struct request_values *v)
{
    json_decref(v->obj);
    v->obj = NULL;
}

void request_put(struct request_values *v, const char *arg, json_t *value)
{
    /* json_object_set_new releases value when it fails, so every path
     * here owns it exactly once. */
    if (value && v->failed) {
        json_decref(value);
        return;
    }
    if (!value || json_object_set_new(v->obj, arg, value) != 0)
        v->failed = true;
}

void request_put_string(struct request_values *v, const char *arg, const char *s)
{
    if (s)
        request_put(v, arg, json_string(s));
}

void request_put_int(struct request_values *v, const char *arg, json_int_t n)
{
    request_put(v, arg, json_integer(n));
}

void request_put_arg(struct request_values *v, json_t *args, const char *arg)
{
    json_t *value = json_object_get(args, arg);
    if (value)
        request_put(v, arg, json_incref(value));
}

bool request_is_phone(const char *s)
{
    size_t n = 0;
    if (*s == '+')
        s++;
    for (; *s; s++, n++)
        if (*s < '0' || *s > '9')
            return false;
    return n >= 8 && n <= 15;
}

void request_put_phone(struct request_values *v, json_t *args, const char *arg)
{
    const char *s = json_string_value(json_object_get(args, arg));
    if (!s)
        return;
    char *digits = request_is_phone(s) ? request_mobile(s) : strdup(s);
    request_put(v, arg, digits ? json_string(digits) : NULL);
    free(digits);
}

/* Places one value as plan says: query, body, merged into the body, or
 * nowhere (the path took it already, or it is omitted). Returns 0, or -1
 * with *error set. */
static int place_value(const struct endpoint_plan *plan, const char *arg, json_t *value,
                       struct request_url *u, json_t *body, char **error)
{
    const struct endpoint_place *p = endpoint_find(plan, arg);
    if (!p)
        return request_failf(error, "The server has no place for the argument %s.", arg);
    char buf[32];
    size_t len;
    const char *text;
    switch (p->place) {
    case TOOL_PLACE_QUERY:
        if (!(text = scalar_text(value, buf, &len)))
            return request_failf(error, "%s cannot travel in the query.", arg);
        url_add(u, p->name, text, len);
        return 0;
    case TOOL_PLACE_BODY:
        return body && json_object_set(body, p->name, value) == 0
                   ? 0
                   : request_fail(error, nomem_text);
    case TOOL_PLACE_MERGE:
        return body && json_is_object(value) && json_object_update(body, value) == 0
                   ? 0
                   : request_fail(error, nomem_text);
    case TOOL_PLACE_DEFAULT:
    case TOOL_PLACE_PATH:
    case TOOL_PLACE_OMIT:
        break;
    }
    return 0;
}

int request_build(const struct tool_build_ctx *ctx, struct request_values *v,
                  struct http_request *req, char **error)
{
    struct endpoint_plan plan;
    struct request_url u;
    json_t *body = NULL;
    if (v->failed) {
        request_fail(error, nomem_text);
        goto fail;
    }
    if (endpoint_plan(ctx->tool, ctx->endpoint, &plan, error) != 0 ||
        url_init(&u, ctx, v->obj, error) != 0)
        goto fail;
    if (plan.has_body && !(body = json_object())) {
        request_fail(error, nomem_text);
        goto fail_url;
    }
    const char *arg;
    json_t *value;
    json_object_foreach(v->obj, arg, value) {
        if (place_value(&plan, arg, value, &u, body, error) != 0)
            goto fail_url;
    }
    request_values_finish(v);
    return complete(ctx, &u, body, req, error);

fail_url:
    json_decref(body);
    url_finish(&u);
fail:
    request_values_finish(v);
    return -1;
}
