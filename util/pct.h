/* Percent-encoding (RFC 3986, section 2.1) as the URL readers need it:
 * the value of one "%XX" escape. The log reads query values with it, the
 * sandbox decodes request parameters and the schema validator decodes
 * JSON Pointer fragments. */
#ifndef MSG91_PCT_H
#define MSG91_PCT_H

#include <stddef.h>

/* The value (0 to 15) of one hex digit, either case, or -1. */
int pct_hex_value(char c);

/* The byte (0 to 255) that the escape at the start of s stands for, or -1
 * when s does not start with '%' and two hex digits. left is the number of
 * bytes s holds; as no byte past a NUL is read, a NUL-terminated string may
 * pass SIZE_MAX. */
int pct_escape_value(const char *s, size_t left);

#endif
