/* The "format" checks the validator asserts when format_assertion is on:
 * date, date-time, time, email, uri, uuid, ipv4, ipv6, hostname and regex,
 * after RFC 3339, RFC 5321, RFC 3986, RFC 4122 and RFC 1123. Each check
 * reads the string once and allocates nothing, except regex, which has to
 * compile the pattern to know. */
#include "jsonschema/internal.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Reads exactly n ASCII digits at s into *out. */
static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

static bool check_date(const char *s, size_t len)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int y, m, d;

    if (len != 10 || s[4] != '-' || s[7] != '-')
        return false;
    if (!digits(s, 4, &y) || !digits(s + 5, 2, &m) || !digits(s + 8, 2, &d))
        return false;
    if (m < 1 || m > 12 || d < 1 || d > mdays[m - 1])
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return !(m == 2 && d == 29 && !leap);
}

static bool check_time(const char *s, size_t len)
{
    int h, m, sec, oh = 0, om = 0, sign = 0;
    size_t i = 8;

    if (len < 9 || s[2] != ':' || s[5] != ':')
        return false;
    if (!digits(s, 2, &h) || !digits(s + 3, 2, &m) || !digits(s + 6, 2, &sec))
        return false;
    if (h > 23 || m > 59 || sec > 60)
        return false;
    if (s[i] == '.') {
        size_t start = ++i;
        while (i < len && is_digit(s[i]))
            i++;
        if (i == start)
            return false;
    }
    if (i == len)
        return false;
    if (s[i] == 'Z' || s[i] == 'z') {
        i++;
    } else if (s[i] == '+' || s[i] == '-') {
        sign = s[i] == '+' ? 1 : -1;
        if (len - i != 6 || s[i + 3] != ':' || !digits(s + i + 1, 2, &oh) ||
            !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return false;
        i += 6;
    } else {
        return false;
    }
    if (i != len)
        return false;
    if (sec == 60) {
        /* A leap second exists only at 23:59:60 UTC. */
        int utc = h * 60 + m - sign * (oh * 60 + om);
        utc = ((utc % 1440) + 1440) % 1440;
        return utc == 23 * 60 + 59;
    }
    return true;
}

static bool check_date_time(const char *s, size_t len)
{
    if (len < 11 || (s[10] != 'T' && s[10] != 't'))
        return false;
    return check_date(s, 10) && check_time(s + 11, len - 11);
}

static bool check_uuid(const char *s, size_t len)
{
    if (len != 36)
        return false;
    for (size_t i = 0; i < len; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !is_hex(s[i]))
            return false;
    }
    return true;
}

static bool check_ipv4(const char *s, size_t len)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        size_t start = i;
        int v = 0;
        while (i < len && is_digit(s[i]) && i - start < 3)
            v = v * 10 + (s[i++] - '0');
        size_t n = i - start;
        if (n == 0 || v > 255 || (n > 1 && s[start] == '0'))
            return false;
        if (part < 3) {
            if (i >= len || s[i] != '.')
                return false;
            i++;
        }
    }
    return i == len;
}

static bool check_ipv6(const char *s, size_t len)
{
    char buf[64];
    unsigned char addr[16];

    if (!s || len == 0 || len >= sizeof(buf))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_hex(s[i]) && s[i] != ':' && s[i] != '.')
            return false;
    /* inet_pton accepts an embedded IPv4 address with leading zeros. */
    const char *colon = memrchr(s, ':', len);
    if (colon && memchr(colon, '.', len - (size_t)(colon - s)) &&
        !check_ipv4(colon + 1, len - (size_t)(colon + 1 - s)))
        return false;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return inet_pton(AF_INET6, buf, addr) == 1;
}

static bool check_hostname(const char *s, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!is_alpha(c) && !is_digit(c) && c != '-')
            return false;
        if (c == '-' && label == 0)
            return false;
        if (++label > 63)
            return false;
    }
    if (label == 0 || s[len - 1] == '-')
        return false;
    /* "xn--" labels are A-labels; "--" in positions 3 and 4 is reserved
     * for them (RFC 5891 4.2.3.1). */
    const char *p = s;
    while (p < s + len) {
        const char *end = memchr(p, '.', (size_t)(s + len - p));
        size_t n = end ? (size_t)(end - p) : (size_t)(s + len - p);
        if (n >= 4 && p[2] == '-' && p[3] == '-' && strncasecmp(p, "xn", 2) != 0)
            return false;
        p += n + 1;
    }
    return true;
}

static bool is_atext(char c)
{
    return is_alpha(c) || is_digit(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c)) ||
           (unsigned char)c >= 0x80;
}

static bool check_email(const char *s, size_t len)
{
    const char *at = memrchr(s, '@', len);
    if (!at || at == s || at == s + len - 1)
        return false;
    size_t llen = (size_t)(at - s);
    const char *dom = at + 1;
    size_t dlen = len - llen - 1;

    if (s[0] == '"') {
        if (llen < 2 || s[llen - 1] != '"')
            return false;
        for (size_t i = 1; i + 1 < llen; i++) {
            if (s[i] == '\\') {
                i++;
                continue;
            }
            if (s[i] == '"' || (unsigned char)s[i] < 0x20)
                return false;
        }
    } else {
        if (s[0] == '.' || s[llen - 1] == '.')
            return false;
        for (size_t i = 0; i < llen; i++) {
            if (s[i] == '.') {
                if (s[i + 1] == '.')
                    return false;
            } else if (!is_atext(s[i])) {
                return false;
            }
        }
    }
    if (dom[0] == '[') {
        if (dom[dlen - 1] != ']')
            return false;
        if (dlen > 7 && strncasecmp(dom + 1, "IPv6:", 5) == 0)
            return check_ipv6(dom + 6, dlen - 7);
        return check_ipv4(dom + 1, dlen - 2);
    }
    return check_hostname(dom, dlen);
}

static bool is_unreserved(char c)
{
    return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

static bool is_subdelim(char c)
{
    return c && strchr("!$&'()*+,;=", c) != NULL;
}

/* Checks the characters of a URI component: unreserved, sub-delims,
 * percent-encodings and the extra characters the component allows. */
static bool uri_chars(const char *s, size_t len, const char *extra)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= len)
                return false;
            if (!is_hex(s[i + 1]) || !is_hex(s[i + 2]))
                return false;
            i += 2;
        } else if (!is_unreserved(c) && !is_subdelim(c) && !strchr(extra, c)) {
            return false;
        }
    }
    return true;
}

static bool check_uri(const char *s, size_t len)
{
    size_t i = 0;
    if (len == 0 || !is_alpha(s[0]))
        return false;
    while (i < len && (is_alpha(s[i]) || is_digit(s[i]) || s[i] == '+' || s[i] == '-' ||
                       s[i] == '.'))
        i++;
    if (i == len || s[i] != ':')
        return false;
    i++;
    const char *rest = s + i;
    size_t rlen = len - i;
    const char *frag = memchr(rest, '#', rlen);
    size_t before = frag ? (size_t)(frag - rest) : rlen;
    if (frag && !uri_chars(frag + 1, rlen - before - 1, ":@/?"))
        return false;
    const char *query = memchr(rest, '?', before);
    size_t hier = query ? (size_t)(query - rest) : before;
    if (query && !uri_chars(query + 1, before - hier - 1, ":@/?"))
        return false;
    const char *path = rest;
    size_t plen = hier;
    if (hier >= 2 && rest[0] == '/' && rest[1] == '/') {
        const char *auth = rest + 2;
        const char *slash = memchr(auth, '/', hier - 2);
        size_t alen = slash ? (size_t)(slash - auth) : hier - 2;
        path = auth + alen;
        plen = hier - 2 - alen;
        const char *at = memrchr(auth, '@', alen);
        const char *host = auth;
        size_t hlen = alen;
        if (at) {
            if (!uri_chars(auth, (size_t)(at - auth), ":"))
                return false;
            host = at + 1;
            hlen = alen - (size_t)(host - auth);
        }
        if (hlen > 0 && host[0] == '[') {
            const char *close = memchr(host, ']', hlen);
            if (!close || !check_ipv6(host + 1, (size_t)(close - host - 1)))
                return false;
            size_t after = hlen - (size_t)(close + 1 - host);
            host = close + 1;
            hlen = after;
            if (hlen > 0 && host[0] != ':')
                return false;
        }
        const char *colon = memchr(host, ':', hlen);
        size_t namelen = colon ? (size_t)(colon - host) : hlen;
        if (!uri_chars(host, namelen, ""))
            return false;
        if (colon)
            for (const char *p = colon + 1; p < host + hlen; p++)
                if (!is_digit(*p))
                    return false;
    }
    return uri_chars(path, plen, ":@/");
}

static bool check_regex(const char *s, size_t len)
{
    char *error = NULL;
    struct schema_regex *re = schema_regex_create(s, len, &error);
    free(error);
    schema_regex_destroy(re);
    return re != NULL;
}

schema_format_check *schema_format_lookup(const char *name)
{
    static const struct {
        const char *name;
        schema_format_check *check;
    } formats[] = {
        {"date", check_date},         {"date-time", check_date_time},
        {"time", check_time},         {"email", check_email},
        {"uri", check_uri},           {"uuid", check_uuid},
        {"ipv4", check_ipv4},         {"ipv6", check_ipv6},
        {"hostname", check_hostname}, {"regex", check_regex},
    };
    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++)
        if (strcmp(formats[i].name, name) == 0)
            return formats[i].check;
    return NULL;
}
