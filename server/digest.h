/* SHA-256, constant-time comparison and base64url for persona tokens, from
 * libnettle. Only the HTTP transport (bearer tokens) and `msg91-mcp token`
 * need them, so the executable loads them from a module of their own
 * (msg91-mcp-digest.so, server/digest_loader.c) on first use instead of
 * mapping libnettle at every start; the tests link them
 * (server/digest_linked.c). */
#ifndef MSG91_DIGEST_H
#define MSG91_DIGEST_H

#include <stddef.h>

#define DIGEST_SHA256_LEN 32

#define DIGEST_MODULE_ABI 1
#define DIGEST_MODULE_SYMBOL "digest_module_table"
#define DIGEST_MODULE_FILE "msg91-mcp-digest.so"

struct digest_api {
    int abi_version;
    void (*sha256)(const void *data, size_t len, unsigned char out[DIGEST_SHA256_LEN]);
    /* Nonzero when the n bytes of a and b are equal, in time that does
     * not depend on where they differ. */
    int (*equal)(const void *a, const void *b, size_t n);
    /* base64url of n bytes, without padding, NUL-terminated in out, which
     * holds DIGEST_BASE64_SIZE(n) bytes; returns the length. */
    size_t (*base64url)(const void *in, size_t n, char *out);
};

#define DIGEST_BASE64_SIZE(n) (((n) + 2) / 3 * 4 + 1)

/* The table, loaded once; NULL (and the reason in the server's log) when
 * the module cannot be loaded. */
const struct digest_api *digest_api(void);

#endif
