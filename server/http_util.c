/* The parts of the HTTP transport that need no libmicrohttpd: defaults,
 * the loopback test and MCP header decoding. They live in the server
 * core, so `msg91-mcp http` can check its settings before it loads the
 * transport module (server/http_transport_module.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "server/http_server.h"

void http_server_options_init(struct http_server_options *o)
{
    memset(o, 0, sizeof *o);
    o->host = "127.0.0.1";
    o->port = 8080;
    o->max_body = (size_t)4 * 1024 * 1024;
    o->max_conns = 1024;
    o->max_per_ip = 256;
    o->idle_timeout = 30;
}

bool http_server_is_loopback_host(const char *host, size_t len)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return false;
    memcpy(buf, host, len);
    buf[len] = '\0';
    if (!strcasecmp(buf, "localhost"))
        return true;
    if (buf[0] == '[' && buf[len - 1] == ']') {
        buf[len - 1] = '\0';
        struct in6_addr a6;
        return inet_pton(AF_INET6, buf + 1, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
    }
    struct in_addr a4;
    return inet_pton(AF_INET, buf, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

/* ---- MCP header values ---- */

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

static char *b64_decode(const char *p, size_t len)
{
    char *out = malloc(len / 4 * 3 + 4);
    if (!out)
        return NULL;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    size_t i = 0;
    for (; i < len && p[i] != '='; i++) {
        int v = b64_value((unsigned char)p[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    for (; i < len; i++)
        if (p[i] != '=') {
            free(out);
            return NULL;
        }
    out[o] = '\0';
    if (memchr(out, '\0', o)) {
        free(out);
        return NULL;
    }
    return out;
}

char *http_server_header_value(const char *raw)
{
    static const char head[] = "=?base64?";
    while (*raw == ' ' || *raw == '\t')
        raw++;
    size_t len = strlen(raw);
    while (len && (raw[len - 1] == ' ' || raw[len - 1] == '\t'))
        len--;
    if (len >= sizeof head + 1 && !strncasecmp(raw, head, sizeof head - 1) &&
        !strncmp(raw + len - 2, "?=", 2))
        return b64_decode(raw + sizeof head - 1, len - (sizeof head - 1) - 2);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)raw[i] < 0x20 || raw[i] == 0x7f)
            return NULL;
    return strndup(raw, len);
}
