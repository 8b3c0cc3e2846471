/* The tool schemas under schemas/, compiled into the binary at build time
 * by jsonschema/embed.c (the text) and schemas/embed_tree.c (the value),
 * so the server needs no data files at run time. */
#ifndef MSG91_EMBEDDED_H
#define MSG91_EMBEDDED_H

#include <jansson.h>
#include <stdbool.h>
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

/* The same schemas as steps that build the JSON value directly
 * (schemas/embed_tree.c writes them at build time from the files): the
 * server builds every tool schema at start, and that costs a tenth of
 * parsing the text. A container's steps are its members, each an object's
 * preceded by its EMBEDDED_KEY, then EMBEDDED_END. */
enum embedded_kind {
    EMBEDDED_OBJECT,
    EMBEDDED_ARRAY,
    EMBEDDED_END,
    EMBEDDED_KEY,
    EMBEDDED_STRING,
    EMBEDDED_INTEGER,
    EMBEDDED_REAL,
    EMBEDDED_TRUE,
    EMBEDDED_FALSE,
    EMBEDDED_NULL,
};

/* Offsets rather than pointers, so that the tables need no relocation at
 * load time and stay in read-only pages. */
struct embedded_step {
    enum embedded_kind kind;
    unsigned offset; /* EMBEDDED_KEY and EMBEDDED_STRING: into the text */
    unsigned len;    /* their length in bytes */
    union {
        long long integer; /* EMBEDDED_INTEGER */
        double real;       /* EMBEDDED_REAL */
    };
};

struct embedded_tree {
    const char *name; /* as embedded_file's */
    const struct embedded_step *steps;
    const char *text; /* every key and string of the tree, one after another */
};

extern const struct embedded_tree embedded_trees[];
extern const size_t embedded_trees_len;

/* Runs a tree's steps. Returns a new reference, or NULL when memory ran
 * out. */
json_t *embedded_build(const struct embedded_tree *tree);

/* The schema file with this name as a JSON value (a new reference, equal
 * to parsing its text), or NULL when there is no such file or memory ran
 * out (*missing tells which). */
json_t *embedded_value(const char *name, bool *missing);

#endif
