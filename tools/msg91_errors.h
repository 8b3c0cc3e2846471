/* MSG91's own error codes and texts, and what each means to the person or
 * model who has to act on it: one table, read by answer.c for every tool's
 * error path. Where each fact comes from is said beside its row.
 * Design note: doc/tools.md. */
#ifndef MSG91_TOOLS_MSG91_ERRORS_H
#define MSG91_TOOLS_MSG91_ERRORS_H

#include <stdbool.h>
#include <stddef.h>

/* Most codes a row answers to, and most texts. */
#define MSG91_ERRORS_CODES_MAX 4
#define MSG91_ERRORS_TEXTS_MAX 8

/* One documented refusal of MSG91. An answer matches the row when its code
 * is one of codes, or (whatever its code) its message is one of texts,
 * compared ignoring case. */
struct msg91_error {
    const char *codes[MSG91_ERRORS_CODES_MAX]; /* NULL-ended; may be empty */
    const char *texts[MSG91_ERRORS_TEXTS_MAX]; /* NULL-ended; may be empty */
    /* Completes "MSG91 ...", e.g. "rejected the auth key". */
    const char *headline;
    /* One or more sentences: what happened and what to do. */
    const char *advice;
    /* The row is about the auth key itself (a 403 then also hints at IP
     * rules, which MSG91 may enforce without saying so). */
    bool key;
};

/* The table, in the order it is searched. */
extern const struct msg91_error msg91_errors[];
extern const size_t msg91_errors_len;

/* The row for an answer with this code (digits as MSG91 sends them; NULL
 * or "" when there was none) and this message (NULL when none): the row of
 * the code when the code is known, else the row whose text the message is,
 * else NULL. Borrowed from the table. */
const struct msg91_error *msg91_errors_find(const char *code, const char *message);

#endif
