/* A JSON Schema 2020-12 validator on jansson values. A schema is compiled
 * once into a tree of keyword nodes with resolved references; validating an
 * instance walks that tree and allocates nothing unless it has errors to
 * report. Remote references resolve only against documents registered in
 * advance; the 2020-12 meta-schemas are built in. Design note: doc/jsonschema.md. */
#ifndef MSG91_SCHEMA_H
#define MSG91_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct schema_registry;
struct schema;

struct schema_options {
    /* Assert `format` for date, date-time, time, email, uri, uuid, ipv4,
     * ipv6, hostname and regex instead of treating it as an annotation. */
    bool format_assertion;
    /* Deepest nesting of schema applications before validation stops with
     * an error (guards against $ref loops and deep instances); 0 picks 256. */
    unsigned max_depth;
    /* Most errors collected in one validation; 0 picks 32. */
    size_t max_errors;
    /* Most steps (one subschema applied to one value) in one validation
     * before it stops with the error "validation stopped after N steps";
     * bounds the time a schema whose cost grows exponentially with the
     * instance can take. 0 picks 1,000,000. */
    size_t max_steps;
};

struct schema_error {
    char *instance_path; /* JSON Pointer into the instance, "" for the root */
    char *keyword;       /* "type", "required", "pattern", ... */
    char *message;       /* short sentence for a person or a model */
};

struct schema_errors {
    struct schema_error *items;
    size_t count;
    bool truncated; /* more violations existed than max_errors */
};

/* A registry holds documents by their absolute URI so that "$ref" can
 * resolve them; it starts with the 2020-12 meta-schemas built in. Each is
 * parsed only when a reference first reaches it, so compiling against a
 * registry may add to it: a registry is used by one thread at a time. */
struct schema_registry *schema_registry_create(void);
void schema_registry_destroy(struct schema_registry *reg);

/* Registers doc under uri (and under every "$id" inside it). Takes a new
 * reference to doc; does not steal. Returns 0 or -1 with *error set to a
 * malloc'd message. */
int schema_registry_add(struct schema_registry *reg, const char *uri, json_t *doc,
                        char **error);

/* Compiles doc (borrowed) into a schema. reg may be NULL (a private registry
 * with only the meta-schemas is used). base_uri may be NULL. Returns NULL
 * with *error set to a malloc'd message when the schema is malformed or a
 * reference cannot be resolved. */
struct schema *schema_compile(struct schema_registry *reg, json_t *doc,
                              const char *base_uri, const struct schema_options *opts,
                              char **error);
void schema_destroy(struct schema *schema);

/* Validates instance (borrowed). With errors == NULL it only answers yes or
 * no and never allocates (one exception: "uniqueItems" on an array of more
 * than 64 items sorts hashes in a scratch array). Otherwise every violation
 * up to max_errors is collected into *errors, which the caller releases
 * with schema_errors_finish (also when the instance is valid); memory is
 * then allocated only to record errors. A compiled schema keeps match
 * state in its patterns, so it is used by one thread at a time. */
bool schema_validate(const struct schema *schema, json_t *instance,
                     struct schema_errors *errors);
void schema_errors_finish(struct schema_errors *errors);

/* One line per error, "path: message", where the root path is "/". Adds
 * a final line when the list was truncated. Returns a malloc'd string. */
char *schema_errors_text(const struct schema_errors *errors);

#endif
