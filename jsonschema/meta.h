/* The JSON Schema 2020-12 meta-schemas (jsonschema/meta/), compiled into
 * the library at build time by jsonschema/embed.c so that every registry
 * starts with them and nothing is read from disk. Private to jsonschema/. */
#ifndef MSG91_SCHEMA_META_H
#define MSG91_SCHEMA_META_H

#include <stddef.h>

struct schema_meta_file {
    const char *name; /* path below jsonschema/meta/, e.g. "draft2020-12/schema.json" */
    const char *text; /* NUL-terminated */
    size_t len;
};

extern const struct schema_meta_file schema_meta_files[];
extern const size_t schema_meta_files_len;

#endif
