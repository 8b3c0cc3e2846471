/* The tolerant JSON loader: jansson's json_loadb, except that an integer
 * too big for 64 bits does not make the whole text unreadable. Client
 * lines and upstream answers are both read with it, so a huge id or
 * counter is never the reason a message is "not JSON". */
#ifndef MSG91_JSONLOAD_H
#define MSG91_JSONLOAD_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

/* json_loadb, except that an integer literal too big for 64 bits is read
 * as a real, that literal alone: every other integer stays an integer (a
 * whole-text JSON_DECODE_INT_AS_REAL would turn them all into reals).
 * Returns a new reference, or NULL. Sets *nomem (when not NULL) to whether
 * memory ran out; error may be NULL. */
json_t *jsonload_buffer(const char *text, size_t len, size_t flags, json_error_t *error,
                        bool *nomem);

/* What a JSON value is, for "must be ..., not X": "an object", "a list",
 * "a string", "a whole number", "a number with a fraction", "true or false"
 * or "null". Never the value itself, which may be a secret. */
const char *jsonload_kind(const json_t *v);

#endif
