/* Reading lists out of answers whose exact shape no source shows, without
 * losing anything: the list wherever a plausible envelope puts it, the
 * first of several spellings of a field, and each item's own fields kept
 * as they came. Shared by the Segmento and campaign readers. */
#ifndef MSG91_TOOLS_LISTING_H
#define MSG91_TOOLS_LISTING_H

#include <jansson.h>

/* The list in an answer (borrowed), looked for in this order: the answer
 * itself, "data", "data.data", "data.<name>", "<name>" for each of names
 * (NULL-terminated), then the one array member of "data" or of the answer
 * when there is exactly one. *holder is set to the object that holds it
 * (where its page and total are), or to root. NULL when there is none. */
json_t *listing_find(json_t *root, const char *const *names, json_t **holder);

/* The first member among names (NULL-terminated) of obj that is an integer
 * of at least min, or fallback. */
json_int_t listing_int(json_t *obj, const char *const *names, json_int_t min,
                       json_int_t fallback);

/* Copies the first member among names of src that is a string or an
 * integer into dst as the string `to` (ids are strings in our results
 * whatever MSG91 sends). Nothing when none is. Returns 0, -1 on no memory. */
int listing_copy_string(json_t *dst, const char *to, json_t *src,
                        const char *const *names);

/* Sets dst's "upstream" to the answer item as it came (MSG91's own
 * fields, unchanged), so that a field no one predicted still reaches the
 * model. Returns 0, -1 on no memory. */
int listing_keep(json_t *dst, json_t *item);

#endif
