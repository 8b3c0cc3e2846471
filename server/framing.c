#include "server/framing.h"

#include <string.h>

/* Lines up to this size are buffered in memory taken at start-up, so
 * reading an ordinary request never allocates and cannot lose it (and its
 * id) to a failed malloc. */
#define FRAMING_PREALLOC 16384

int framing_init(struct framing *f, size_t max_line)
{
    /* The buffer's own limit leaves room for a line of exactly max_line
     * bytes plus its NUL; framing_feed checks the cap before appending. */
    dynbuf_init(&f->line, max_line + 2);
    f->max_line = max_line;
    f->discarding = false;
    /* Growing the empty buffer once and emptying it keeps the block. */
    static const char block[FRAMING_PREALLOC];
    size_t n = max_line < sizeof block ? max_line : sizeof block;
    if (dynbuf_append(&f->line, block, n) != DYNBUF_OK)
        return -1;
    dynbuf_reset(&f->line);
    return 0;
}

void framing_finish(struct framing *f)
{
    dynbuf_finish(&f->line);
}

static bool is_blank(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return false;
    return true;
}

static void deliver(struct framing *f, framing_cb cb, void *data)
{
    size_t len = dynbuf_len(&f->line);
    const char *p = dynbuf_ptr(&f->line);
    if (len > 0 && p[len - 1] == '\r')
        len--;
    if (!is_blank(p, len)) {
        /* The callback sees a NUL-terminated line; trimming the CR in place
         * is safe because the buffer is reset right after. */
        f->line.data[len] = '\0';
        cb(data, FRAMING_LINE, p, len);
    }
    dynbuf_reset(&f->line);
}

void framing_feed(struct framing *f, const char *bytes, size_t len, framing_cb cb,
                  void *data)
{
    while (len > 0) {
        const char *nl = memchr(bytes, '\n', len);
        size_t chunk = nl ? (size_t)(nl - bytes) : len;
        if (f->discarding) {
            if (nl)
                f->discarding = false;
        } else if (dynbuf_len(&f->line) + chunk > f->max_line) {
            /* The cap counts every byte before the newline, CR included. */
            dynbuf_reset(&f->line);
            cb(data, FRAMING_TOOBIG, NULL, 0);
            f->discarding = nl == NULL;
        } else if (dynbuf_append(&f->line, bytes, chunk) != DYNBUF_OK) {
            /* The buffer has its own limit above the cap, so only memory
             * can fail here; the buffer is already freed. */
            cb(data, FRAMING_NOMEM, NULL, 0);
            f->discarding = nl == NULL;
        } else if (nl) {
            deliver(f, cb, data);
        }
        if (!nl)
            return;
        bytes = nl + 1;
        len -= chunk + 1;
    }
}

void framing_end(struct framing *f, framing_cb cb, void *data)
{
    if (!f->discarding && dynbuf_len(&f->line) > 0)
        deliver(f, cb, data);
    f->discarding = false;
    dynbuf_reset(&f->line);
}
