/* Strings packed behind a record in the record's own allocation, so that a
 * record and the copies of the strings it keeps come and go together: one
 * malloc and one free instead of one of each per string. The dispatcher's
 * calls and the safe sends keep their callers' strings this way. */
#ifndef MSG91_STRPACK_H
#define MSG91_STRPACK_H

#include <stddef.h>

/* The bytes copies of the n strings of s take, terminators included; a
 * NULL string takes none. */
size_t strpack_size(const char *const *s, size_t n);

/* Copies s, terminator included, to *at and moves *at past the copy.
 * Returns the copy, or NULL (and copies nothing) when s is NULL. The
 * caller has made room for it: strpack_size. */
char *strpack_put(char **at, const char *s);

#endif
