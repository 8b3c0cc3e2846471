/* Base URL checks without libcurl; see url.h. The rules are deliberately
 * narrower than RFC 3986: a base URL is written once by an operator, so
 * anything unusual is refused rather than interpreted. */
#include "upstream/url.h"

#include <errno.h>
#include <string.h>
#include <strings.h>

static bool is_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Four decimal numbers 0-255 without leading zeros: the only IPv4 form
 * every resolver reads alike ("127.1" or "0177.0.0.1" are not accepted).
 * Sets *first to the first number. */
static bool is_dotted_quad(const char *h, size_t len, int *first)
{
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0 && (i >= len || h[i++] != '.'))
            return false;
        size_t start = i;
        int value = 0;
        while (i < len && is_digit(h[i]) && i - start < 3)
            value = value * 10 + (h[i++] - '0');
        if (i == start || value > 255 || (h[start] == '0' && i - start > 1))
            return false;
        if (part == 0)
            *first = value;
    }
    return i == len;
}

/* A DNS name: labels of 1-63 letters, digits and '-', separated by dots,
 * none starting with '-'. A trailing dot is not accepted. */
static bool is_host_name(const char *h, size_t len)
{
    if (len == 0 || len > 253)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < len; i++) {
        if (h[i] == '.') {
            if (label == 0)
                return false;
            label = 0;
        } else if (is_alnum(h[i]) || (h[i] == '-' && label > 0)) {
            if (++label > 63)
                return false;
        } else {
            return false;
        }
    }
    return label > 0;
}

bool http_url_host_is_loopback(const char *host, size_t len)
{
    int first = -1;
    if (len == 9 && strncasecmp(host, "localhost", 9) == 0)
        return true;
    if (len == 5 && strncmp(host, "[::1]", 5) == 0)
        return true;
    return is_dotted_quad(host, len, &first) && first == 127;
}

static bool is_valid_host(const char *h, size_t len)
{
    int first;
    if (len == 5 && strncmp(h, "[::1]", 5) == 0)
        return true;
    if (is_dotted_quad(h, len, &first))
        return true;
    /* All digits and dots but not a dotted quad ("127.1", "2130706433"):
     * some parsers read it as an address, others as a name. */
    if (strspn(h, "0123456789.") >= len)
        return false;
    return is_host_name(h, len);
}

/* ":" followed by 1-5 digits, 1..65535. */
static bool is_valid_port(const char *p, size_t len)
{
    if (len < 2 || len > 6 || p[0] != ':')
        return false;
    long v = 0;
    for (size_t i = 1; i < len; i++) {
        if (!is_digit(p[i]))
            return false;
        v = v * 10 + (p[i] - '0');
    }
    return v >= 1 && v <= 65535;
}

static const char *check_authority(const char *a, size_t len, bool plain_http)
{
    if (memchr(a, '@', len))
        return "holds a user name or password (an '@' before the host)";
    size_t host_len = len;
    if (a[0] == '[') {
        const char *close = memchr(a, ']', len);
        host_len = close ? (size_t)(close - a) + 1 : len;
    } else {
        const char *colon = memchr(a, ':', len);
        if (colon)
            host_len = (size_t)(colon - a);
    }
    if (!is_valid_host(a, host_len))
        return "has no usable host (a name, four decimal IPv4 numbers, or [::1])";
    if (host_len < len && !is_valid_port(a + host_len, len - host_len))
        return "has a port that is not a number from 1 to 65535";
    if (plain_http && !http_url_host_is_loopback(a, host_len))
        return "uses http:// for a host that is not loopback; use https:// (plain "
               "http is only allowed for 127.0.0.1, localhost and [::1])";
    return NULL;
}

int http_url_check_base(const char *url, const char **why)
{
    const char *reason = NULL;
    const char *rest;
    bool plain_http = false;
    if (!url) {
        reason = "is missing";
        goto refused;
    }
    if (strncasecmp(url, "https://", 8) == 0) {
        rest = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        rest = url + 7;
        plain_http = true;
    } else {
        reason = "must start with https:// (or http:// for a loopback host)";
        goto refused;
    }
    for (const char *p = url; *p; p++) {
        unsigned char c = (unsigned char)*p;
        if (c <= ' ' || c >= 0x7f || c == '\\') {
            reason = "holds white space, a control character, a backslash or a "
                     "non-ASCII byte";
            goto refused;
        }
    }
    if (strpbrk(url, "?#")) {
        reason = "holds a query or a fragment ('?' or '#'); a base URL has neither";
        goto refused;
    }
    reason = check_authority(rest, strcspn(rest, "/"), plain_http);
    if (!reason)
        return 0;
refused:
    if (why)
        *why = reason;
    return -EINVAL;
}
