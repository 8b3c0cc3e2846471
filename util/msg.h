/* The one formatted-message helper: printf into memory of exactly the
 * right size. Every sentence the program builds for people (configuration
 * errors, tool errors, schema errors) goes through it, so a failure to
 * allocate means the same thing everywhere: NULL. */
#ifndef MSG91_MSG_H
#define MSG91_MSG_H

#include <stdarg.h>

/* Returns the formatted text, malloc'd (the caller frees it), or NULL when
 * memory ran out or the format could not be applied. */
char *msg_format(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The same with a va_list, which it consumes (as vprintf does). */
char *msg_vformat(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

#endif
