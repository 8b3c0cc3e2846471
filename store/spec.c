/* The redis:// spec, read where the store is opened: a malformed one is
 * an error at start, before the Redis backend's module is loaded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/store_int.h"
#include "util/pct.h"

/* A URL part with %XX escapes decoded; NULL on a bad escape or no memory. */
static char *url_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; out && i < n; i++) {
        if (s[i] != '%') {
            out[j++] = s[i];
            continue;
        }
        int v = pct_escape_value(s + i, n - i);
        if (v <= 0) { /* a bad escape, or %00 */
            free(out);
            return NULL;
        }
        out[j++] = (char)v;
        i += 2;
    }
    if (out)
        out[j] = '\0';
    return out;
}

static int parse_number(const char *s, size_t n, long max, long *out)
{
    if (n == 0 || n > 9)
        return -1;
    long v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* redis://[[user]:password@]host[:port][/db]; the password is the only
 * part that must never be echoed, so errors name the part, not its
 * value. */
static int parse_auth(struct store_redis_spec *rd, const char *s, size_t n, char *err,
                      size_t err_size)
{
    const char *colon = memchr(s, ':', n);
    if (!colon) {
        snprintf(err, err_size, "MSG91_STORE: the Redis password must follow a ':'");
        return STORE_EINVAL;
    }
    if (colon > s && !(rd->user = url_decode(s, (size_t)(colon - s))))
        goto bad;
    rd->password = url_decode(colon + 1, n - (size_t)(colon - s) - 1);
    if (!rd->password || !rd->password[0])
        goto bad;
    return 0;
bad:
    snprintf(err, err_size,
             "MSG91_STORE: the Redis user or password is empty or has a "
             "bad %%-escape");
    return STORE_EINVAL;
}

static int parse_host_port(struct store_redis_spec *rd, const char *s, size_t n,
                           char *err, size_t err_size)
{
    const char *host = s;
    size_t host_len;
    const char *rest;
    if (n > 0 && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (!close)
            goto bad;
        host = s + 1;
        host_len = (size_t)(close - host);
        rest = close + 1;
    } else {
        const char *colon = memchr(s, ':', n);
        host_len = colon ? (size_t)(colon - s) : n;
        rest = s + host_len;
    }
    if (host_len == 0 || host_len >= sizeof rd->host)
        goto bad;
    memcpy(rd->host, host, host_len);
    rd->host[host_len] = '\0';
    size_t rest_len = n - (size_t)(rest - s);
    long port = 6379;
    if (rest_len > 0 &&
        (rest[0] != ':' || parse_number(rest + 1, rest_len - 1, 65535, &port) != 0 ||
         port == 0))
        goto bad;
    rd->port = (int)port;
    return 0;
bad:
    snprintf(
        err, err_size,
        "MSG91_STORE: expected redis://[:password@]host:port[/db] with a port from 1 "
        "to 65535");
    return STORE_EINVAL;
}

static int parse_redis(struct store_redis_spec *rd, const char *spec, char *err,
                       size_t err_size)
{
    const char *s = spec + strlen("redis://");
    const char *end = s + strlen(s);
    const char *slash = strchr(s, '/');
    const char *authority_end = slash ? slash : end;
    /* The last '@' ends the password, which may itself hold an '@'. */
    const char *at = NULL;
    for (const char *p = s; p < authority_end; p++)
        if (*p == '@')
            at = p;
    if (at) {
        int rc = parse_auth(rd, s, (size_t)(at - s), err, err_size);
        if (rc != 0)
            return rc;
        s = at + 1;
    }
    int rc = parse_host_port(rd, s, (size_t)(authority_end - s), err, err_size);
    if (rc != 0)
        return rc;
    long db = 0;
    if (slash && slash + 1 < end &&
        parse_number(slash + 1, (size_t)(end - slash - 1), 1 << 20, &db) != 0) {
        snprintf(err, err_size, "MSG91_STORE: the Redis database must be a number");
        return STORE_EINVAL;
    }
    rd->db = (int)db;
    return 0;
}

void store__redis_spec_free(struct store_redis_spec *rd)
{
    if (rd->password) {
        /* Not left behind in freed memory either. */
        volatile char *p = rd->password;
        while (*p)
            *p++ = '\0';
    }
    free(rd->password);
    free(rd->user);
    rd->password = rd->user = NULL;
}

int store__redis_parse(struct store_redis_spec *rd, const char *spec, char *err,
                       size_t err_size)
{
    memset(rd, 0, sizeof *rd);
    int rc = parse_redis(rd, spec, err, err_size);
    if (rc != 0) {
        store__redis_spec_free(rd);
        return rc;
    }
    return 0;
}

void store__redis_describe(const struct store_redis_spec *rd, char *out, size_t size)
{
    bool v6 = strchr(rd->host, ':') != NULL;
    snprintf(out, size, "redis://%s%s%s%s:%d/%d", rd->password ? ":(hidden)@" : "",
             v6 ? "[" : "", rd->host, v6 ? "]" : "", rd->port, rd->db);
}
