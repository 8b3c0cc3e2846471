#include "util/dynbuf.h"

#include <stdlib.h>
#include <string.h>

#define DYNBUF_MIN_CAP 64

void dynbuf_init(struct dynbuf *b, size_t toobig)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->toobig = toobig;
}

void dynbuf_finish(struct dynbuf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void dynbuf_reset(struct dynbuf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

int dynbuf_append(struct dynbuf *b, const void *p, size_t n)
{
    /* The terminating NUL needs room too, so len + n must stay below toobig. */
    if (n >= b->toobig - b->len) {
        dynbuf_finish(b);
        return DYNBUF_TOOBIG;
    }
    size_t need = b->len + n + 1;
    if (need > b->cap) {
        size_t cap = b->cap ? b->cap : DYNBUF_MIN_CAP;
        while (cap < need)
            cap *= 2;
        if (cap > b->toobig)
            cap = b->toobig;
        char *grown = realloc(b->data, cap);
        if (!grown) {
            dynbuf_finish(b);
            return DYNBUF_NOMEM;
        }
        b->data = grown;
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return DYNBUF_OK;
}

int dynbuf_append_str(struct dynbuf *b, const char *s)
{
    return dynbuf_append(b, s, strlen(s));
}

char *dynbuf_take(struct dynbuf *b, size_t *len)
{
    char *data = b->data;
    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    return data;
}
