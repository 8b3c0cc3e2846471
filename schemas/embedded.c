/* Looking up a tool schema by name in the tables that jsonschema/embed.c
 * (text) and schemas/embed_tree.c (steps) generate at build time, and
 * building its value from the steps. */
#include "schemas/embedded.h"

#include <string.h>

const struct embedded_file *embedded_find(const char *name)
{
    for (size_t i = 0; i < embedded_files_len; i++)
        if (strcmp(embedded_files[i].name, name) == 0)
            return &embedded_files[i];
    return NULL;
}

/* Deepest nesting embedded_value builds; schemas/embed_tree.c refuses more. */
#define EMBEDDED_MAX_DEPTH 64

/* Adds v (stolen) to container, the innermost open one (NULL: none),
 * under key (an object's member) or at its end (an array's). Returns 0,
 * or -1 when memory ran out or the steps are not well formed. */
static int add_value(json_t *container, const char *key, size_t key_len, json_t *v)
{
    if (json_is_array(container))
        return json_array_append_new(container, v);
    if (!json_is_object(container) || !key) {
        json_decref(v);
        return -1;
    }
    /* The keys were checked as UTF-8 when the build parsed the file. */
    return json_object_setn_new_nocheck(container, key, key_len, v);
}

/* A step's new value (a new reference; NULL when memory ran out): an
 * empty container, or a scalar. */
static json_t *new_value(const struct embedded_step *s, const char *text)
{
    switch (s->kind) {
    case EMBEDDED_OBJECT:
        return json_object();
    case EMBEDDED_ARRAY:
        return json_array();
    case EMBEDDED_STRING:
        /* Checked as UTF-8 when the build parsed the file. */
        return json_stringn_nocheck(text + s->offset, s->len);
    case EMBEDDED_INTEGER:
        return json_integer(s->integer);
    case EMBEDDED_REAL:
        return json_real(s->real);
    case EMBEDDED_TRUE:
        return json_true();
    case EMBEDDED_FALSE:
        return json_false();
    default:
        return json_null();
    }
}

json_t *embedded_build(const struct embedded_tree *tree)
{
    const struct embedded_step *s = tree->steps;
    /* The containers being filled, innermost last; borrowed, each is held
     * by its parent and the outermost by root. */
    json_t *open[EMBEDDED_MAX_DEPTH];
    size_t depth = 0;
    json_t *root = NULL;
    const struct embedded_step *key = NULL;
    for (;; s++) {
        if (s->kind == EMBEDDED_KEY) {
            key = s;
            continue;
        }
        if (s->kind == EMBEDDED_END) {
            if (depth == 0)
                goto fail;
            if (--depth == 0)
                return root;
            continue;
        }
        json_t *v = new_value(s, tree->text);
        if (!v)
            goto fail;
        if (!root)
            root = v;
        else if (add_value(depth ? open[depth - 1] : NULL,
                           key ? tree->text + key->offset : NULL, key ? key->len : 0,
                           v) != 0)
            goto fail;
        if (s->kind != EMBEDDED_OBJECT && s->kind != EMBEDDED_ARRAY) {
            if (depth == 0)
                return root; /* a scalar at the root */
            continue;
        }
        if (depth == EMBEDDED_MAX_DEPTH)
            goto fail;
        open[depth++] = v;
    }

fail:
    json_decref(root);
    return NULL;
}

json_t *embedded_value(const char *name, bool *missing)
{
    *missing = false;
    for (size_t i = 0; i < embedded_trees_len; i++)
        if (strcmp(embedded_trees[i].name, name) == 0)
            return embedded_build(&embedded_trees[i]);
    *missing = true;
    return NULL;
}
