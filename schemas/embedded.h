/* The tool schemas under schemas/, compiled into the binary at build time
 * by jsonschema/embed.c, so the server needs no data files at run time. */
#ifndef MSG91_EMBEDDED_H
#define MSG91_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *name; /* path below schemas/, e.g. "send_otp.input.json" */
    const char *text; /* NUL-terminated */
    size_t len;
};

extern const struct embedded_file embedded_files[];
extern const size_t embedded_files_len;

/* Borrowed pointer to the file with this name, or NULL. */
const struct embedded_file *embedded_find(const char *name);

#endif
