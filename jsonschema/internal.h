/* The validator's building blocks, shared by its own files and not part of
 * the library's API: ECMA-262 regular expressions on PCRE2
 * (schema_regex.c) and the format checks (schema_format.c). */
#ifndef MSG91_SCHEMA_INTERNAL_H
#define MSG91_SCHEMA_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

/* An ECMA-262 regular expression compiled with PCRE2. */
struct schema_regex;

/* Compiles pattern (len bytes, UTF-8). Returns NULL with *error set to a
 * malloc'd message when ECMA-262 would reject it. */
struct schema_regex *schema_regex_create(const char *pattern, size_t len, char **error);
void schema_regex_destroy(struct schema_regex *re);
/* Searches s (not anchored, as ECMA's RegExp.test does). Returns 1 on a
 * match, 0 on none and -1 when the match or heap limit ran out. Never
 * allocates; a regex is used by one thread at a time. */
int schema_regex_match(const struct schema_regex *re, const char *s, size_t len);

/* A format check asserted under format_assertion: whether s (len bytes)
 * is a valid value of its format. */
typedef bool schema_format_check(const char *s, size_t len);

/* The check of the format called name, or NULL for a name that has none
 * (an annotation only). */
schema_format_check *schema_format_lookup(const char *name);

#endif
