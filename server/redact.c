#include "server/redact.h"

#include <stdlib.h>
#include <string.h>

static char *secret;
static size_t secret_len;

void redact_wipe(void *p, size_t len)
{
    /* A volatile pointer keeps the stores from being optimised away as
     * dead, which memset before free would be. */
    volatile unsigned char *v = p;
    while (len--)
        *v++ = 0;
}

void redact_clear(void)
{
    if (secret) {
        redact_wipe(secret, secret_len);
        free(secret);
    }
    secret = NULL;
    secret_len = 0;
}

void redact_set_secret(const char *s)
{
    redact_clear();
    if (!s || !*s)
        return;
    secret_len = strlen(s);
    secret = malloc(secret_len + 1);
    if (!secret) {
        secret_len = 0;
        return;
    }
    memcpy(secret, s, secret_len + 1);
}

bool redact_needed(const char *text, size_t len)
{
    return secret && memmem(text, len, secret, secret_len) != NULL;
}

char *redact_apply(const char *text, size_t len, size_t *out_len)
{
    if (!redact_needed(text, len))
        return NULL;
    size_t mark_len = strlen(REDACT_MARK);
    size_t count = 0;
    for (const char *p = text, *end = text + len;
         (p = memmem(p, (size_t)(end - p), secret, secret_len)); p += secret_len)
        count++;
    /* A mark may be longer than the secret, so size for the worst case. */
    size_t cap = len + count * mark_len + 1;
    char *out = malloc(cap);
    if (!out)
        return NULL;
    size_t o = 0;
    const char *p = text, *end = text + len;
    const char *hit;
    while ((hit = memmem(p, (size_t)(end - p), secret, secret_len))) {
        memcpy(out + o, p, (size_t)(hit - p));
        o += (size_t)(hit - p);
        memcpy(out + o, REDACT_MARK, mark_len);
        o += mark_len;
        p = hit + secret_len;
    }
    memcpy(out + o, p, (size_t)(end - p));
    o += (size_t)(end - p);
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}
