/* A growable byte buffer with a hard maximum, after curl's dynbuf: every
 * buffer is created with the size it must never exceed, and an append past
 * that fails cleanly instead of growing without bound. The contents are
 * always NUL-terminated. */
#ifndef MSG91_DYNBUF_H
#define MSG91_DYNBUF_H

#include <stddef.h>

enum dynbuf_result {
    DYNBUF_OK = 0,
    DYNBUF_TOOBIG = -1, /* the append would pass the maximum; buffer freed */
    DYNBUF_NOMEM = -2,  /* allocation failed; buffer freed */
};

struct dynbuf {
    char *data;
    size_t len;
    size_t cap;
    size_t toobig; /* the length may never reach this */
};

void dynbuf_init(struct dynbuf *b, size_t toobig);

/* Appends n bytes. On failure the buffer is freed (and left empty but
 * usable), as curl's dynbuf does, so callers need no cleanup path. */
int dynbuf_append(struct dynbuf *b, const void *p, size_t n);
int dynbuf_append_str(struct dynbuf *b, const char *s);

/* Empties the buffer but keeps its memory for reuse. */
void dynbuf_reset(struct dynbuf *b);

/* Releases the memory; the buffer can be used again afterwards. */
void dynbuf_finish(struct dynbuf *b);

/* Hands the NUL-terminated contents to the caller (malloc'd, may be NULL
 * when empty and never grown) and leaves the buffer empty. */
char *dynbuf_take(struct dynbuf *b, size_t *len);

static inline const char *dynbuf_ptr(const struct dynbuf *b)
{
    return b->data ? b->data : "";
}

static inline size_t dynbuf_len(const struct dynbuf *b)
{
    return b->len;
}

#endif
