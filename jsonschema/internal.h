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

/* The formats asserted under format_assertion. */
enum schema_format {
    SCHEMA_FORMAT_UNKNOWN = 0, /* any other name: an annotation only */
    SCHEMA_FORMAT_DATE,
    SCHEMA_FORMAT_DATE_TIME,
    SCHEMA_FORMAT_TIME,
    SCHEMA_FORMAT_EMAIL,
    SCHEMA_FORMAT_URI,
    SCHEMA_FORMAT_UUID,
    SCHEMA_FORMAT_IPV4,
    SCHEMA_FORMAT_IPV6,
    SCHEMA_FORMAT_HOSTNAME,
    SCHEMA_FORMAT_REGEX,
};

enum schema_format schema_format_lookup(const char *name);
/* Whether s (len bytes) is valid for format; SCHEMA_FORMAT_UNKNOWN always
 * is. */
bool schema_format_valid(enum schema_format format, const char *s, size_t len);

#endif
