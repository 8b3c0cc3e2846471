/* The published copy of a schema (portable.h). A first walk checks the
 * document: each keyword is looked up in one table that says whether the
 * copy keeps it, drops it, or refuses the whole document. A keyword that is
 * not in the table is refused, so a schema written later cannot publish
 * something no one has judged portable. A second walk builds the copy, and
 * shares every subschema that loses nothing with the original (both are
 * read-only once built): the server's start-up allocates only along the
 * paths to a dropped keyword. */
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

/* A JSON Pointer into the schema, built on the stack: it only serves
 * error messages, so a pointer too long for it is cut, not refused. */
struct path {
    char text[512];
    size_t len;
};

/* Appends "/" and token (with "~" and "/" escaped); returns the old length
 * for path_pop. */
static size_t path_push(struct path *p, const char *token)
{
    size_t old = p->len, max = sizeof p->text - 1;
    if (p->len < max)
        p->text[p->len++] = '/';
    for (const char *c = token; *c && p->len + 2 <= max; c++) {
        if (*c == '~' || *c == '/') {
            p->text[p->len++] = '~';
            p->text[p->len++] = *c == '~' ? '0' : '1';
        } else {
            p->text[p->len++] = *c;
        }
    }
    p->text[p->len] = '\0';
    return old;
}

static void path_pop(struct path *p, size_t old)
{
    p->len = old;
    p->text[old] = '\0';
}

/* Sets *error to "<path>: <sentence>" (the root is "/"); always -1. */
static int refuse(char **error, const struct path *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int refuse(char **error, const struct path *path, const char *fmt, ...)
{
    char *why = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&why, fmt, ap);
    va_end(ap);
    if (n < 0 || asprintf(error, "%s: %s", path->len ? path->text : "/", why) < 0)
        *error = NULL;
    free(n < 0 ? NULL : why);
    return -1;
}

static int check_schema(json_t *s, struct path *path, char **error);

/* Checks s[key] (or, with name, s[key][name]) as a schema. */
static int check_child(json_t *sub, struct path *path, const char *key, const char *name,
                       char **error)
{
    size_t old = path_push(path, key);
    if (name)
        path_push(path, name);
    int rc = check_schema(sub, path, error);
    path_pop(path, old);
    return rc;
}

static bool is_scalar_type(json_t *type)
{
    const char *t = json_string_value(type);
    return t && (strcmp(t, "string") == 0 || strcmp(t, "number") == 0 ||
                 strcmp(t, "integer") == 0 || strcmp(t, "boolean") == 0);
}

/* Providers keep additionalProperties only as false or as the value schema
 * of a plain map; true, or a map of objects, is dropped by some. */
static int check_additional(json_t *v, struct path *path, char **error)
{
    if (json_is_false(v))
        return 0;
    if (!json_is_object(v))
        return refuse(
            error, path,
            "additionalProperties must be false or the schema of a map's values");
    if (check_child(v, path, "additionalProperties", NULL, error) != 0)
        return -1;
    if (!is_scalar_type(json_object_get(v, "type")))
        return refuse(error, path,
                      "additionalProperties must give the map's values one scalar type "
                      "(string, number, integer or boolean)");
    return 0;
}

/* Is the format keyword v kept in the copy? */
static bool format_kept(json_t *v)
{
    return json_is_string(v) && strcmp(json_string_value(v), "date-time") == 0;
}

/* Checks one keyword of s: 0 when the copy can keep or drop it. */
static int check_keyword(json_t *s, const char *key, json_t *v, struct path *path,
                         char **error)
{
    const char *name;
    json_t *sub;
    switch (keyword_action(key)) {
    case KEEP:
    case ANNOTATION:
        return 0;
    case PROPERTIES:
        if (!json_is_object(v))
            return refuse(error, path, "properties must be an object of schemas");
        json_object_foreach(v, name, sub) {
            if (check_child(sub, path, "properties", name, error) != 0)
                return -1;
        }
        return 0;
    case ITEMS:
        return check_child(v, path, "items", NULL, error);
    case ADDITIONAL:
        return check_additional(v, path, error);
    case FORMAT:
        if (format_kept(v) || json_is_string(json_object_get(s, "pattern")))
            return 0;
        return refuse(error, path,
                      "format \"%s\" is not portable and is dropped from the published "
                      "copy; add a pattern that says the same",
                      json_is_string(v) ? json_string_value(v) : "?");
    case LOOSEN:
        if (json_is_string(json_object_get(s, "description")))
            return 0;
        return refuse(error, path,
                      "%s is dropped from the published copy; give this schema a "
                      "description that states the rule",
                      key);
    case REFUSE:
        break;
    }
    return refuse(error, path,
                  "%s is outside the portable subset and cannot be dropped without "
                  "changing what the schema allows",
                  key);
}

static int check_schema(json_t *s, struct path *path, char **error)
{
    if (!json_is_object(s))
        return refuse(error, path, "a boolean schema has no portable form");
    const char *key;
    json_t *v;
    json_object_foreach(s, key, v) {
        if (check_keyword(s, key, v, path, error) != 0)
            return -1;
    }
    /* Gemini's schema has no untyped or multi-typed values. Checked after
     * the keywords, so that a $ref or an anyOf is named as the cause. */
    json_t *type = json_object_get(s, "type");
    if (!json_is_string(type))
        return refuse(error, path,
                      type ? "type must name one type, not a list"
                           : "no type: every published schema names exactly one");
    return 0;
}

/* ---- the copy (of a schema that passed the checks) ---- */

/* Does the copy keep s[key] as it is? */
static bool keeps_keyword(const char *key, json_t *v)
{
    enum action a = keyword_action(key);
    return a == KEEP || (a == FORMAT && format_kept(v));
}

/* Does the copy have s[key] at all, as it is or copied? */
static bool copy_has(const char *key, json_t *v)
{
    enum action a = keyword_action(key);
    return a == PROPERTIES || a == ITEMS || a == ADDITIONAL || keeps_keyword(key, v);
}

/* Does the copy of s differ from s anywhere below? */
static bool loses_something(json_t *s)
{
    const char *key, *name;
    json_t *v, *sub;
    json_object_foreach(s, key, v) {
        enum action a = keyword_action(key);
        if (a == PROPERTIES) {
            json_object_foreach(v, name, sub) {
                if (loses_something(sub))
                    return true;
            }
        } else if (a == ITEMS || (a == ADDITIONAL && json_is_object(v))) {
            if (loses_something(v))
                return true;
        } else if (!copy_has(key, v)) {
            return true;
        }
    }
    return false;
}

static json_t *copy_members(json_t *obj, bool keywords);

/* A new reference: s itself when nothing below it is dropped, else a new
 * object whose kept values are shared with s. NULL when memory ran out. */
static json_t *copy_schema(json_t *s)
{
    return loses_something(s) ? copy_members(s, true) : json_incref(s);
}

/* A new reference: the copy of keyword key, whose value is v. */
static json_t *copy_keyword(const char *key, json_t *v)
{
    enum action a = keyword_action(key);
    if (a == PROPERTIES)
        return copy_members(v, false);
    if (a == ITEMS || (a == ADDITIONAL && json_is_object(v)))
        return copy_schema(v);
    return json_incref(v);
}

/* A new object with a copy of each member of obj, or NULL when memory ran
 * out. The members of a schema are keywords, of which the copy has only
 * some; those of "properties" are schemas, all copied. */
static json_t *copy_members(json_t *obj, bool keywords)
{
    json_t *out = json_object();
    if (!out)
        return NULL;
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v) {
        if (keywords && !copy_has(key, v))
            continue;
        json_t *copy = keywords ? copy_keyword(key, v) : copy_schema(v);
        if (json_object_set_new(out, key, copy) != 0) {
            json_decref(out);
            return NULL;
        }
    }
    return out;
}

json_t *schema_portable_copy(json_t *doc, char **error)
{
    struct path path = {.text = "", .len = 0};
    *error = NULL;
    if (check_schema(doc, &path, error) != 0)
        return NULL;
    json_t *out = copy_schema(doc);
    if (!out)
        *error = strdup("out of memory");
    return out;
}
