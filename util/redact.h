/* Removal of secrets by value. Every byte the server writes (stdout lines,
 * stderr logs, audit lines, tool results) passes through redact_apply, so
 * the auth key cannot leak through a message built anywhere, even inside an
 * error string from a library. */
#ifndef MSG91_REDACT_H
#define MSG91_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#define REDACT_MARK "[REDACTED]"

/* Sets the secret to remove (copied; NULL or "" clears it), in place of
 * every secret set or added before. Previous copies are wiped before they
 * are freed. Returns 0, or -1 when memory ran out:
 * the server must then not start, since it could not recognise the key.
 * Not thread-safe: call at startup. */
int redact_set_secret(const char *secret);

/* Adds one more secret to remove (copied), keeping those already set:
 * persona keys and token digests. Adding one twice keeps one copy; NULL or
 * "" adds nothing. Returns 0, or -1 when memory ran out (then nothing of
 * it was added, and the caller must not use that secret). */
int redact_add_secret(const char *secret);

/* Wipes and frees every stored secret (called at exit). */
void redact_clear(void);

/* True when text[0..len) contains the secret. */
bool redact_needed(const char *text, size_t len);

/* Removes the secret from text[0..len). Returns 0 with *out set to NULL
 * when there is nothing to remove (text may be used as it is), 0 with *out
 * a malloc'd, NUL-terminated copy in which every occurrence is replaced by
 * REDACT_MARK (its length in *out_len, which may be NULL), or -1 when the
 * copy could not be allocated: then nothing of text may be written, unless
 * the caller owns it and masks it with redact_mask_in_place. */
int redact_apply(const char *text, size_t len, char **out, size_t *out_len);

/* Overwrites every occurrence of the secret in text[0..len) with '*',
 * keeping the length. It allocates nothing, so it is the fallback when
 * redact_apply runs out of memory; '*' keeps JSON text valid JSON. Returns
 * the number of occurrences masked. */
size_t redact_mask_in_place(char *text, size_t len);

/* The offset of the first whole occurrence of the secret (in any stored
 * form) in text[0..len), with its length in *match_len; len when there is
 * none. */
size_t redact_find(const char *text, size_t len, size_t *match_len);

/* The length of the longest tail of text[0..len), at least min bytes
 * long, that is the start of the secret (in any stored form), or 0: what a
 * cut through the secret would leave behind, which no later redaction can
 * recognise. */
size_t redact_partial_tail(const char *text, size_t len, size_t min);

/* Wipes len bytes so the compiler cannot drop the stores. */
void redact_wipe(void *p, size_t len);

#endif
