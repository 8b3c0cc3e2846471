/* The digest functions with libnettle: the whole of msg91-mcp-digest.so,
 * and what the tests link. */
#include "server/digest.h"

#include <nettle/base64.h>
#include <nettle/memops.h>
#include <nettle/sha2.h>

#include "util/redact.h"

static void sha256(const void *data, size_t len, unsigned char out[DIGEST_SHA256_LEN])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, data);
    sha256_digest(&ctx, DIGEST_SHA256_LEN, out);
    redact_wipe(&ctx, sizeof ctx);
}

static int equal(const void *a, const void *b, size_t n)
{
    return memeql_sec(a, b, n);
}

static size_t base64url(const void *in, size_t n, char *out)
{
    struct base64_encode_ctx b64;
    base64url_encode_init(&b64);
    size_t len = base64_encode_update(&b64, out, n, in);
    len += base64_encode_final(&b64, out + len);
    /* Padding is not needed to decode it and is awkward in headers. */
    while (len > 0 && out[len - 1] == '=')
        len--;
    out[len] = '\0';
    return len;
}

extern __attribute__((visibility("default"))) const struct digest_api digest_module_table;
const struct digest_api digest_module_table = {
    .abi_version = DIGEST_MODULE_ABI,
    .sha256 = sha256,
    .equal = equal,
    .base64url = base64url,
};
