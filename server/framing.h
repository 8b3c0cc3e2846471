/* Newline-delimited framing of the input stream: splits bytes into lines,
 * strips a trailing CR, skips blank lines, and enforces the line cap. An
 * oversized line is reported once and then discarded up to its newline, so
 * the stream stays in step and the server keeps serving. A line that cannot
 * be buffered for lack of memory is reported and skipped the same way, as
 * its own event: it was not too large. */
#ifndef MSG91_FRAMING_H
#define MSG91_FRAMING_H

#include <stdbool.h>
#include <stddef.h>

#include "util/dynbuf.h"

enum framing_event {
    FRAMING_LINE,   /* a complete line (NUL-terminated, without CR/LF) */
    FRAMING_TOOBIG, /* a line passed the cap; the rest of it is skipped */
    FRAMING_NOMEM,  /* no memory to buffer a line; the rest of it is skipped */
};

typedef void (*framing_cb)(void *data, enum framing_event event, const char *line,
                           size_t len);

struct framing {
    struct dynbuf line;
    size_t max_line;
    bool discarding; /* inside an oversized line, waiting for its newline */
};

/* Returns 0, or -1 when the line buffer's first block cannot be allocated. */
int framing_init(struct framing *f, size_t max_line);
void framing_finish(struct framing *f);

/* Feeds bytes; calls cb for each complete line or oversize event. */
void framing_feed(struct framing *f, const char *bytes, size_t len, framing_cb cb,
                  void *data);

/* At end of input: a last line without a newline is still delivered. */
void framing_end(struct framing *f, framing_cb cb, void *data);

#endif
