/* The published copy of a JSON Schema: what a tool's clients get to see,
 * kept inside the keyword subset that every model provider accepts and that
 * the common client libraries convert without loss. The validator keeps
 * compiling the full schema; this copy only describes it. Knows nothing of
 * MCP or MSG91. Design note: doc/jsonschema.md, "The published copy". */
#ifndef MSG91_SCHEMA_PORTABLE_H
#define MSG91_SCHEMA_PORTABLE_H

#include <jansson.h>

/* Returns a new reference: a copy of doc (borrowed) with every keyword
 * outside the portable subset dropped. Parts that lose nothing are shared
 * with doc (doc itself when nothing is dropped), so neither may be changed
 * afterwards. Only keywords whose loss leaves the
 * copy looser but still truthful are dropped: annotations ($schema,
 * $comment, examples, ...), loosening rules (maxProperties, uniqueItems,
 * ...) when the same schema has a description to state them, and a format
 * other than date-time when a pattern beside it says the same. Anything
 * else that would change what the copy means (a $ref, oneOf/anyOf/allOf,
 * const, a type array, a schema without a type, an unknown keyword) is
 * refused: NULL with *error set to a malloc'd sentence that starts with
 * the JSON Pointer of the offending schema. */
json_t *schema_portable_copy(json_t *doc, char **error);

#endif
