/* The published copy of a schema (portable.h). One walk over the document:
 * each keyword is looked up in one table that says whether the copy keeps
 * it, drops it, or refuses the whole document. A keyword that is not in the
 * table is refused, so a schema written later cannot publish something no
 * one has judged portable. */
#include "jsonschema/portable.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum action {
    KEEP,       /* copied as it is */
    PROPERTIES, /* an object of schemas, each copied in turn */
    ITEMS,      /* one schema, copied in turn */
    ADDITIONAL, /* false, or a schema of one scalar type (a string map) */
    FORMAT,     /* date-time kept; any other dropped if a pattern says the same */
    ANNOTATION, /* dropped: says nothing about which values are valid */
    LOOSEN,     /* dropped: the copy allows more, the validator still refuses */
    REFUSE,     /* no portable form: dropping it would change the meaning */
};

/* The subset every provider accepts (OpenAI non-strict, Anthropic, Gemini's
 * OpenAPI fields) and the common converters keep. Everything else of 2020-12
 * is listed too, so that each refusal is a decision, not an omission. */
static const struct {
    const char *name;
    enum action action;
} keywords[] = {
    {"type", KEEP},
    {"properties", PROPERTIES},
    {"required", KEEP},
    {"items", ITEMS},
    {"enum", KEEP},
    {"description", KEEP},
    {"title", KEEP},
    {"default", KEEP},
    {"minimum", KEEP},
    {"maximum", KEEP},
    {"minLength", KEEP},
    {"maxLength", KEEP},
    {"minItems", KEEP},
    {"maxItems", KEEP},
    {"pattern", KEEP},
    {"additionalProperties", ADDITIONAL},
    {"format", FORMAT},
    {"$schema", ANNOTATION},
    {"$id", ANNOTATION},
    {"$comment", ANNOTATION},
    {"examples", ANNOTATION},
    {"deprecated", ANNOTATION},
    {"readOnly", ANNOTATION},
    {"writeOnly", ANNOTATION},
    {"contentEncoding", ANNOTATION},
    {"contentMediaType", ANNOTATION},
    {"maxProperties", LOOSEN},
    {"minProperties", LOOSEN},
    {"uniqueItems", LOOSEN},
    {"multipleOf", LOOSEN},
    {"exclusiveMinimum", LOOSEN},
    {"exclusiveMaximum", LOOSEN},
    {"dependentRequired", LOOSEN},
    {"propertyNames", LOOSEN},
    /* Listed for the reader; unknown keywords are refused the same way. */
    {"$ref", REFUSE},
    {"$defs", REFUSE},
    {"oneOf", REFUSE},
    {"anyOf", REFUSE},
    {"allOf", REFUSE},
    {"not", REFUSE},
    {"const", REFUSE},
};

static enum action keyword_action(const char *name)
{
    for (size_t i = 0; i < sizeof keywords / sizeof keywords[0]; i++)
        if (strcmp(keywords[i].name, name) == 0)
            return keywords[i].action;
    return REFUSE;
}

/* Sets *error to "<path>: <sentence>" (the root is "/"); always -1. */
static int refuse(char **error, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(char **error, const char *path, const char *fmt, ...)
{
    char *why = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&why, fmt, ap);
    va_end(ap);
    if (n < 0 || asprintf(error, "%s: %s", *path ? path : "/", why) < 0)
        *error = NULL;
    free(n < 0 ? NULL : why);
    return -1;
}

static int out_of_memory(char **error)
{
    *error = strdup("out of memory");
    return -1;
}

/* path + "/" + token, with "~" and "/" escaped as JSON Pointer says. */
static char *child_path(const char *path, const char *token)
{
    size_t n = strlen(path), extra = 0;
    for (const char *p = token; *p; p++)
        extra += *p == '~' || *p == '/';
    char *out = malloc(n + 1 + strlen(token) + extra + 1);
    if (!out)
        return NULL;
    char *w = out + n;
    memcpy(out, path, n + 1); /* the NUL is overwritten below */
    *w++ = '/';
    for (const char *p = token; *p; p++) {
        if (*p == '~' || *p == '/') {
            *w++ = '~';
            *w++ = *p == '~' ? '0' : '1';
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    return out;
}

static int copy_schema(json_t *s, const char *path, json_t **out, char **error);

/* Copies the schema s[key] (or, with name, s[key][name]) into *out. */
static int copy_child(json_t *sub, const char *path, const char *key, const char *name,
                      json_t **out, char **error)
{
    char *p = child_path(path, key);
    char *q = p && name ? child_path(p, name) : NULL;
    if (!p || (name && !q)) {
        free(p);
        return out_of_memory(error);
    }
    int rc = copy_schema(sub, name ? q : p, out, error);
    free(p);
    free(q);
    return rc;
}

static int copy_properties(json_t *props, const char *path, json_t **out, char **error)
{
    if (!json_is_object(props))
        return refuse(error, path, "properties must be an object of schemas");
    if (!(*out = json_object()))
        return out_of_memory(error);
    const char *name;
    json_t *sub;
    json_object_foreach(props, name, sub) {
        json_t *copy = NULL;
        if (copy_child(sub, path, "properties", name, &copy, error) != 0)
            return -1;
        if (json_object_set_new(*out, name, copy) != 0)
            return out_of_memory(error);
    }
    return 0;
}

static bool is_scalar_type(const char *type)
{
    return type && (strcmp(type, "string") == 0 || strcmp(type, "number") == 0 ||
                    strcmp(type, "integer") == 0 || strcmp(type, "boolean") == 0);
}

/* Providers keep additionalProperties only as false or as the value schema
 * of a plain map; true, or a map of objects, is dropped by some. */
static int copy_additional(json_t *v, const char *path, json_t **out, char **error)
{
    if (json_is_false(v))
        return (*out = json_false()) ? 0 : out_of_memory(error);
    if (!json_is_object(v))
        return refuse(
            error, path,
            "additionalProperties must be false or the schema of a map's values");
    if (copy_child(v, path, "additionalProperties", NULL, out, error) != 0)
        return -1;
    if (!is_scalar_type(json_string_value(json_object_get(*out, "type"))))
        return refuse(error, path,
                      "additionalProperties must give the map's values one scalar type "
                      "(string, number, integer or boolean)");
    return 0;
}

/* Decides one keyword of s; a kept one is added to out. */
static int copy_keyword(json_t *s, const char *key, json_t *v, const char *path,
                        json_t *out, char **error)
{
    json_t *copy = NULL;
    int rc = 0;
    switch (keyword_action(key)) {
    case KEEP:
        if (!(copy = json_deep_copy(v)))
            return out_of_memory(error);
        break;
    case PROPERTIES:
        rc = copy_properties(v, path, &copy, error);
        break;
    case ITEMS:
        rc = copy_child(v, path, "items", NULL, &copy, error);
        break;
    case ADDITIONAL:
        rc = copy_additional(v, path, &copy, error);
        break;
    case FORMAT:
        if (json_is_string(v) && strcmp(json_string_value(v), "date-time") == 0) {
            if (!(copy = json_deep_copy(v)))
                return out_of_memory(error);
        } else if (!json_is_string(json_object_get(s, "pattern"))) {
            return refuse(
                error, path,
                "format \"%s\" is not portable and is dropped from the published "
                "copy; add a pattern that says the same",
                json_is_string(v) ? json_string_value(v) : "?");
        }
        break;
    case ANNOTATION:
        break;
    case LOOSEN:
        if (!json_is_string(json_object_get(s, "description")))
            return refuse(error, path,
                          "%s is dropped from the published copy; give this schema a "
                          "description that states the rule",
                          key);
        break;
    case REFUSE:
        return refuse(error, path,
                      "%s is outside the portable subset and cannot be dropped without "
                      "changing what the schema allows",
                      key);
    }
    if (rc != 0) {
        json_decref(copy);
        return -1;
    }
    if (copy && json_object_set_new(out, key, copy) != 0)
        return out_of_memory(error);
    return 0;
}

static int copy_schema(json_t *s, const char *path, json_t **out, char **error)
{
    *out = NULL;
    if (!json_is_object(s))
        return refuse(error, path, "a boolean schema has no portable form");
    json_t *copy = json_object();
    if (!copy)
        return out_of_memory(error);
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v) {
        if (copy_keyword(s, key, v, path, copy, error) != 0) {
            json_decref(copy);
            return -1;
        }
    }
    /* Gemini's schema has no untyped or multi-typed values. Checked after
     * the keywords, so that a $ref or an anyOf is named as the cause. */
    json_t *type = json_object_get(s, "type");
    if (!json_is_string(type)) {
        json_decref(copy);
        return refuse(error, path,
                      type ? "type must name one type, not a list"
                           : "no type: every published schema names exactly one");
    }
    *out = copy;
    return 0;
}

json_t *schema_portable_copy(json_t *doc, char **error)
{
    json_t *out = NULL;
    *error = NULL;
    if (copy_schema(doc, "", &out, error) != 0)
        return NULL;
    return out;
}
