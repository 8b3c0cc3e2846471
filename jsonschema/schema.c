/* The JSON Schema 2020-12 validator: the registry of documents that "$ref"
 * can reach, the compiler that turns a schema into a graph of keyword nodes
 * with every reference resolved, and the validator that walks that graph
 * over an instance. Regular expressions live in schema_regex.c and format
 * checks in schema_format.c; doc/jsonschema.md explains the design. */
#include "jsonschema/schema.h"

#include <float.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema/internal.h"
#include "jsonschema/meta.h"
#include "util/dynbuf.h"
#include "util/msg.h"
#include "util/pct.h"

#define DEFAULT_MAX_DEPTH 256
#define DEFAULT_MAX_ERRORS 32
#define DEFAULT_MAX_STEPS 1000000
/* Nesting of the schema document itself that the compiler will follow. */
#define MAX_COMPILE_DEPTH 1000
/* Nesting of instance values that const, enum and uniqueItems compare. */
#define MAX_EQUAL_DEPTH 512
#define MAX_URI 8192
#define MAX_MESSAGE 512
#define DEFAULT_BASE_URI "urn:msg91-mcp:schema"
#define META_URI "https://json-schema.org/draft/2020-12/schema"

/* ---- small hash maps ------------------------------------------------------ */

/* One chained hash map serves both string keys (URIs, anchors) and pointer
 * keys (schema objects); it is used only while registering and compiling,
 * never while validating. */
struct map_entry {
    struct map_entry *next;
    const void *pkey; /* pointer key, or NULL for a string key */
    char *skey;       /* owned string key */
    void *value;
};

struct map {
    struct map_entry **buckets;
    size_t nbuckets;
    size_t count;
};

static uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

static uint64_t map_hash(const void *pkey, const char *skey)
{
    if (skey)
        return hash_bytes(skey, strlen(skey));
    uintptr_t v = (uintptr_t)pkey;
    return hash_bytes(&v, sizeof(v));
}

static void map_finish(struct map *m)
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        struct map_entry *e = m->buckets[i];
        while (e) {
            struct map_entry *next = e->next;
            free(e->skey);
            free(e);
            e = next;
        }
    }
    free(m->buckets);
    memset(m, 0, sizeof(*m));
}

static struct map_entry *map_find(const struct map *m, const void *pkey, const char *skey)
{
    if (m->nbuckets == 0)
        return NULL;
    struct map_entry *e = m->buckets[map_hash(pkey, skey) % m->nbuckets];
    for (; e; e = e->next)
        if (skey ? (e->skey && strcmp(e->skey, skey) == 0)
                 : (!e->skey && e->pkey == pkey))
            return e;
    return NULL;
}

static void *map_get(const struct map *m, const void *pkey, const char *skey)
{
    struct map_entry *e = map_find(m, pkey, skey);
    return e ? e->value : NULL;
}

/* Inserts a new key (the caller checked it is absent). Returns 0 or -1. */
static int map_put(struct map *m, const void *pkey, const char *skey, void *value)
{
    if (m->count >= m->nbuckets) {
        size_t nb = m->nbuckets ? m->nbuckets * 2 : 64;
        struct map_entry **b = calloc(nb, sizeof(struct map_entry *));
        if (!b)
            return -1;
        for (size_t i = 0; i < m->nbuckets; i++) {
            struct map_entry *e = m->buckets[i];
            while (e) {
                struct map_entry *next = e->next;
                size_t h = map_hash(e->pkey, e->skey) % nb;
                e->next = b[h];
                b[h] = e;
                e = next;
            }
        }
        free(m->buckets);
        m->buckets = b;
        m->nbuckets = nb;
    }
    struct map_entry *e = calloc(1, sizeof(*e));
    if (!e)
        return -1;
    if (skey && !(e->skey = strdup(skey))) {
        free(e);
        return -1;
    }
    e->pkey = pkey;
    e->value = value;
    size_t h = map_hash(pkey, skey) % m->nbuckets;
    e->next = m->buckets[h];
    m->buckets[h] = e;
    m->count++;
    return 0;
}

/* ---- URI references (RFC 3986, section 5) --------------------------------- */

struct uri {
    const char *scheme, *auth, *path, *query, *frag;
    size_t scheme_len, auth_len, path_len, query_len, frag_len;
    bool has_scheme, has_auth, has_query, has_frag;
};

static void uri_split(const char *s, struct uri *u)
{
    memset(u, 0, sizeof(*u));
    const char *p = s;
    const char *c = s;
    while ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
           (c > s && ((*c >= '0' && *c <= '9') || *c == '+' || *c == '-' || *c == '.')))
        c++;
    if (c > s && *c == ':') {
        u->has_scheme = true;
        u->scheme = s;
        u->scheme_len = (size_t)(c - s);
        p = c + 1;
    }
    if (p[0] == '/' && p[1] == '/') {
        u->has_auth = true;
        u->auth = p + 2;
        u->auth_len = strcspn(u->auth, "/?#");
        p = u->auth + u->auth_len;
    }
    u->path = p;
    u->path_len = strcspn(p, "?#");
    p += u->path_len;
    if (*p == '?') {
        u->has_query = true;
        u->query = p + 1;
        u->query_len = strcspn(u->query, "#");
        p = u->query + u->query_len;
    }
    if (*p == '#') {
        u->has_frag = true;
        u->frag = p + 1;
        u->frag_len = strlen(u->frag);
    }
}

/* Appends path with "." and ".." segments removed (RFC 3986 5.2.4). */
static int append_clean_path(struct dynbuf *out, const char *path, size_t len)
{
    size_t base = dynbuf_len(out);
    size_t i = 0;
    int rc = 0;
    while (i < len && rc == 0) {
        const char *p = path + i;
        size_t left = len - i;
        if (left >= 3 && strncmp(p, "../", 3) == 0) {
            i += 3;
        } else if (left >= 2 && strncmp(p, "./", 2) == 0) {
            i += 2;
        } else if ((left >= 3 && strncmp(p, "/./", 3) == 0) ||
                   (left == 2 && strncmp(p, "/.", 2) == 0)) {
            if (left == 2) {
                rc = dynbuf_append(out, "/", 1);
                i += 2;
            } else {
                i += 2;
            }
        } else if ((left >= 4 && strncmp(p, "/../", 4) == 0) ||
                   (left == 3 && strncmp(p, "/..", 3) == 0)) {
            /* Drop the last segment written so far. */
            size_t n = dynbuf_len(out);
            const char *d = dynbuf_ptr(out);
            while (n > base && d[n - 1] != '/')
                n--;
            if (n > base)
                n--;
            out->len = n;
            if (out->data)
                out->data[n] = '\0';
            if (left == 3) {
                rc = dynbuf_append(out, "/", 1);
                i += 3;
            } else {
                i += 3;
            }
        } else if ((left == 1 && p[0] == '.') ||
                   (left == 2 && strncmp(p, "..", 2) == 0)) {
            i = len;
        } else {
            size_t seg = 1;
            while (seg < left && p[seg] != '/')
                seg++;
            if (p[0] != '/') {
                seg = 0;
                while (seg < left && p[seg] != '/')
                    seg++;
            }
            rc = dynbuf_append(out, p, seg);
            i += seg;
        }
    }
    return rc;
}

/* Resolves ref against base; returns a malloc'd absolute URI or NULL. */
static char *uri_resolve(const char *base, const char *ref)
{
    struct uri b, r;
    struct dynbuf out;
    int rc = 0;

    uri_split(ref, &r);
    uri_split(base ? base : "", &b);
    dynbuf_init(&out, MAX_URI);

    const struct uri *sch = r.has_scheme ? &r : &b;
    if (sch->has_scheme) {
        rc = dynbuf_append(&out, sch->scheme, sch->scheme_len);
        rc = rc ? rc : dynbuf_append(&out, ":", 1);
    }
    if (r.has_scheme || r.has_auth) {
        if (r.has_auth) {
            rc = rc ? rc : dynbuf_append(&out, "//", 2);
            rc = rc ? rc : dynbuf_append(&out, r.auth, r.auth_len);
        }
        rc = rc ? rc : append_clean_path(&out, r.path, r.path_len);
        if (r.has_query) {
            rc = rc ? rc : dynbuf_append(&out, "?", 1);
            rc = rc ? rc : dynbuf_append(&out, r.query, r.query_len);
        }
    } else {
        if (b.has_auth) {
            rc = rc ? rc : dynbuf_append(&out, "//", 2);
            rc = rc ? rc : dynbuf_append(&out, b.auth, b.auth_len);
        }
        if (r.path_len == 0) {
            rc = rc ? rc : dynbuf_append(&out, b.path, b.path_len);
            const struct uri *q = r.has_query ? &r : &b;
            if (q->has_query) {
                rc = rc ? rc : dynbuf_append(&out, "?", 1);
                rc = rc ? rc : dynbuf_append(&out, q->query, q->query_len);
            }
        } else {
            if (r.path[0] == '/') {
                rc = rc ? rc : append_clean_path(&out, r.path, r.path_len);
            } else {
                struct dynbuf merged;
                dynbuf_init(&merged, MAX_URI);
                if (b.has_auth && b.path_len == 0) {
                    rc = rc ? rc : dynbuf_append(&merged, "/", 1);
                } else {
                    size_t keep = b.path_len;
                    while (keep > 0 && b.path[keep - 1] != '/')
                        keep--;
                    rc = rc ? rc : dynbuf_append(&merged, b.path, keep);
                }
                rc = rc ? rc : dynbuf_append(&merged, r.path, r.path_len);
                rc = rc ? rc
                        : append_clean_path(&out, dynbuf_ptr(&merged),
                                            dynbuf_len(&merged));
                dynbuf_finish(&merged);
            }
            if (r.has_query) {
                rc = rc ? rc : dynbuf_append(&out, "?", 1);
                rc = rc ? rc : dynbuf_append(&out, r.query, r.query_len);
            }
        }
    }
    if (r.has_frag) {
        rc = rc ? rc : dynbuf_append(&out, "#", 1);
        rc = rc ? rc : dynbuf_append(&out, r.frag, r.frag_len);
    }
    if (rc) {
        dynbuf_finish(&out);
        return NULL;
    }
    char *s = dynbuf_take(&out, NULL);
    return s ? s : strdup("");
}

/* Splits a resolved URI at '#': *frag points into uri after the '#', or to
 * "" when there is none; the '#' itself is overwritten. */
static char *uri_cut_fragment(char *uri)
{
    char *hash = strchr(uri, '#');
    if (!hash)
        return uri + strlen(uri);
    *hash = '\0';
    return hash + 1;
}

/* Decodes %XX escapes in place (JSON Pointer fragments are URI-encoded). */
static void percent_decode(char *s)
{
    char *w = s;
    for (char *r = s; *r; r++) {
        int byte = pct_escape_value(r, SIZE_MAX);
        if (byte >= 0) {
            *w++ = (char)byte;
            r += 2;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* ---- the registry ----------------------------------------------------------- */

/* A schema resource: a document root or a subschema with "$id". */
struct reg_resource {
    char *uri;
    json_t *root;
    struct reg_dyn *dyn; /* the resource's $dynamicAnchors */
    struct reg_resource *next_all;
};

struct reg_dyn {
    char *name;
    json_t *node;
    struct reg_dyn *next;
};

struct reg_anchor {
    json_t *node;
    bool dynamic;
};

/* The registry's tables; a lookup falls back to the parent's. */
enum reg_table {
    REG_RESOURCES, /* absolute URI -> struct reg_resource */
    REG_ANCHORS,   /* "uri#name" -> struct reg_anchor */
    /* schema object (json_t *) -> the struct reg_resource that gives it
     * its base URI */
    REG_WHERE,
    REG_TABLES,
};

/* A built-in meta-schema in a registry: still text (parsed at first need),
 * parsed and registered, or broken: memory ran out while registering it
 * after its resources were partly added. A broken one is never parsed
 * again and every lookup of its URI fails as out of memory, so a
 * half-registered document is never used and a user's document never
 * takes its place. */
enum meta_state { META_TEXT, META_LOADED, META_BROKEN };

struct schema_registry {
    struct schema_registry *parent; /* consulted after this one; borrowed */
    struct map tables[REG_TABLES];
    struct reg_resource *all; /* every resource, for destroy */
    json_t *docs;             /* references that keep documents alive */
    /* For a registry made by schema_registry_create: the state of each
     * entry of schema_meta_files. A meta-schema is parsed when a lookup
     * first misses its URI (reg_find_resource) or a document is registered
     * under it (reg_new_resource), so that a start-up that never reaches
     * one does not pay for parsing all eight. NULL in a private layer. */
    enum meta_state *meta;
};

static int meta_load(struct schema_registry *reg, size_t i);
static struct schema_registry *meta_owner(struct schema_registry *reg, const char *uri,
                                          size_t *index);

/* Looks a key up in one table of reg, then of each parent in turn: a
 * string key (skey) for resources and anchors, a pointer for REG_WHERE. */
static void *reg_find(const struct schema_registry *reg, enum reg_table table,
                      const void *pkey, const char *skey)
{
    for (; reg; reg = reg->parent) {
        void *v = map_get(&reg->tables[table], pkey, skey);
        if (v)
            return v;
    }
    return NULL;
}

static struct reg_resource *reg_new_resource(struct schema_registry *reg, const char *uri,
                                             json_t *root)
{
    /* A built-in meta-schema was registered before anything else when they
     * were all parsed at creation, and the first document under a URI
     * wins; parsing it now keeps it the one that wins. */
    size_t meta;
    if (reg->meta && meta_owner(reg, uri, &meta) == reg && meta_load(reg, meta) != 0)
        return NULL;
    struct reg_resource *r = calloc(1, sizeof(*r));
    if (!r || !(r->uri = strdup(uri))) {
        free(r);
        return NULL;
    }
    r->root = root;
    r->next_all = reg->all;
    reg->all = r;
    /* The first document registered under a URI wins, as it does for
     * duplicate keys in a JSON object. */
    if (!map_get(&reg->tables[REG_RESOURCES], NULL, uri) &&
        map_put(&reg->tables[REG_RESOURCES], NULL, uri, r) != 0)
        return NULL;
    return r;
}

static int reg_add_anchor(struct schema_registry *reg, struct reg_resource *res,
                          const char *name, json_t *node, bool dynamic)
{
    char *key = msg_format("%s#%s", res->uri, name);
    if (!key)
        return -1;
    int rc = 0;
    /* The first anchor registered under a name is the one "$ref" finds;
     * a $dynamicAnchor is also listed on its resource for "$dynamicRef". */
    if (!map_get(&reg->tables[REG_ANCHORS], NULL, key)) {
        struct reg_anchor *a = calloc(1, sizeof(*a));
        if (!a || map_put(&reg->tables[REG_ANCHORS], NULL, key, a) != 0) {
            free(a);
            rc = -1;
        } else {
            a->node = node;
            a->dynamic = dynamic;
        }
    }
    if (rc == 0 && dynamic) {
        struct reg_dyn *d = calloc(1, sizeof(*d));
        if (!d || !(d->name = strdup(name))) {
            free(d);
            rc = -1;
        } else {
            d->node = node;
            d->next = res->dyn;
            res->dyn = d;
        }
    }
    free(key);
    return rc;
}

static const char *const single_keywords[] = {
    "additionalProperties",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
    "items",
    "contains",
    "not",
    "if",
    "then",
    "else",
    "contentSchema",
    NULL,
};
static const char *const map_keywords[] = {
    "$defs", "definitions", "properties", "patternProperties", "dependentSchemas", NULL,
};
static const char *const array_keywords[] = {"allOf", "anyOf", "oneOf", "prefixItems",
                                             NULL};

/* Records where every schema object in the tree sits and registers its
 * "$id", "$anchor" and "$dynamicAnchor". Only keywords known to hold
 * schemas are entered, so a "$id" inside "const" or an unknown keyword is
 * data, not an identifier. */
static int reg_walk(struct schema_registry *reg, json_t *s, struct reg_resource *res,
                    unsigned depth)
{
    if (!json_is_object(s))
        return 0;
    if (depth > MAX_COMPILE_DEPTH)
        return -1;
    if (map_get(&reg->tables[REG_WHERE], s, NULL))
        return 0;
    json_t *id = json_object_get(s, "$id");
    if (json_is_string(id)) {
        char *uri = uri_resolve(res->uri, json_string_value(id));
        if (!uri)
            return -1;
        uri_cut_fragment(uri);
        res = reg_new_resource(reg, uri, s);
        free(uri);
        if (!res)
            return -1;
    }
    if (map_put(&reg->tables[REG_WHERE], s, NULL, res) != 0)
        return -1;
    json_t *anchor = json_object_get(s, "$anchor");
    if (json_is_string(anchor) &&
        reg_add_anchor(reg, res, json_string_value(anchor), s, false))
        return -1;
    anchor = json_object_get(s, "$dynamicAnchor");
    if (json_is_string(anchor) &&
        reg_add_anchor(reg, res, json_string_value(anchor), s, true))
        return -1;

    for (const char *const *k = single_keywords; *k; k++)
        if (reg_walk(reg, json_object_get(s, *k), res, depth + 1))
            return -1;
    for (const char *const *k = map_keywords; *k; k++) {
        json_t *m = json_object_get(s, *k);
        if (!json_is_object(m))
            continue;
        const char *key;
        json_t *v;
        json_object_foreach(m, key, v) {
            if (reg_walk(reg, v, res, depth + 1))
                return -1;
        }
    }
    for (const char *const *k = array_keywords; *k; k++) {
        json_t *a = json_object_get(s, *k);
        if (!json_is_array(a))
            continue;
        size_t i;
        json_t *v;
        json_array_foreach(a, i, v) {
            if (reg_walk(reg, v, res, depth + 1))
                return -1;
        }
    }
    return 0;
}

static struct schema_registry *registry_new(struct schema_registry *parent)
{
    struct schema_registry *reg = calloc(1, sizeof(*reg));
    if (!reg)
        return NULL;
    reg->parent = parent;
    reg->docs = json_array();
    if (!reg->docs) {
        free(reg);
        return NULL;
    }
    return reg;
}

/* The URI a meta-schema file is published under, written into buf (size
 * MAX_URI): draft2020-12/meta/core.json is
 * https://json-schema.org/draft/2020-12/meta/core. meta_load checks that
 * the file's own "$id" says the same. Returns false for a name outside
 * draft2020-12/. */
static bool meta_uri(const char *name, char *buf)
{
    static const char dir[] = "draft2020-12/";
    size_t n = strlen(name);
    if (strncmp(name, dir, sizeof dir - 1) != 0 || n < sizeof dir - 1 + 5 ||
        strcmp(name + n - 5, ".json") != 0)
        return false;
    int len = snprintf(buf, MAX_URI, "https://json-schema.org/draft/2020-12/%.*s",
                       (int)(n - (sizeof dir - 1) - 5), name + sizeof dir - 1);
    return len > 0 && len < MAX_URI;
}

/* The registry among reg and its parents whose built-in meta-schema for
 * uri is not loaded (still text, or broken), with the file's index in
 * *index; NULL when none is (no such meta-schema, or it is loaded). */
static struct schema_registry *meta_owner(struct schema_registry *reg, const char *uri,
                                          size_t *index)
{
    for (; reg; reg = reg->parent) {
        if (!reg->meta)
            continue;
        for (size_t i = 0; i < schema_meta_files_len; i++) {
            char buf[MAX_URI];
            if (reg->meta[i] != META_LOADED && meta_uri(schema_meta_files[i].name, buf) &&
                strcmp(buf, uri) == 0) {
                *index = i;
                return reg;
            }
        }
    }
    return NULL;
}

/* Parses the i-th built-in meta-schema into reg. Returns 0 or -1 (out of
 * memory, a broken one, or an embedded file whose "$id" is not the URI it
 * is looked up by, which the schema tests would catch). A parse that runs
 * out of memory leaves it text, to be tried again at the next need. */
static int meta_load(struct schema_registry *reg, size_t i)
{
    const struct schema_meta_file *f = &schema_meta_files[i];
    char uri[MAX_URI];
    if (reg->meta[i] == META_BROKEN)
        return -1;
    json_t *doc = json_loadb(f->text, f->len, 0, NULL);
    json_t *id = json_object_get(doc, "$id");
    char *error = NULL;
    int rc = -1;
    if (json_is_string(id) && meta_uri(f->name, uri) &&
        strcmp(json_string_value(id), uri) == 0) {
        /* Marked first: registering it must not try to parse it again. */
        reg->meta[i] = META_LOADED;
        rc = schema_registry_add(reg, uri, doc, &error);
        if (rc != 0)
            reg->meta[i] = META_BROKEN;
    }
    free(error);
    json_decref(doc);
    return rc;
}

/* The resource registered under uri in reg or a parent, parsing the
 * built-in meta-schema of that URI on the first miss. Returns NULL when
 * there is none, with *failed set when there was one but it could not be
 * loaded (out of memory). */
static struct reg_resource *reg_find_resource(struct schema_registry *reg,
                                              const char *uri, bool *failed)
{
    *failed = false;
    size_t i;
    struct schema_registry *owner = meta_owner(reg, uri, &i);
    if (owner && owner->meta[i] == META_BROKEN) {
        *failed = true;
        return NULL;
    }
    struct reg_resource *r = reg_find(reg, REG_RESOURCES, NULL, uri);
    if (r || !owner)
        return r;
    if (meta_load(owner, i) != 0) {
        *failed = true;
        return NULL;
    }
    return reg_find(reg, REG_RESOURCES, NULL, uri);
}

struct schema_registry *schema_registry_create(void)
{
    struct schema_registry *reg = registry_new(NULL);
    if (!reg)
        return NULL;
    /* The meta-schemas stay text until something needs one. */
    reg->meta =
        malloc((schema_meta_files_len ? schema_meta_files_len : 1) * sizeof(*reg->meta));
    if (!reg->meta) {
        schema_registry_destroy(reg);
        return NULL;
    }
    for (size_t i = 0; i < schema_meta_files_len; i++)
        reg->meta[i] = META_TEXT;
    return reg;
}

void schema_registry_destroy(struct schema_registry *reg)
{
    if (!reg)
        return;
    struct map *anchors = &reg->tables[REG_ANCHORS];
    for (size_t i = 0; i < anchors->nbuckets; i++)
        for (struct map_entry *e = anchors->buckets[i]; e; e = e->next)
            free(e->value);
    while (reg->all) {
        struct reg_resource *r = reg->all;
        reg->all = r->next_all;
        while (r->dyn) {
            struct reg_dyn *d = r->dyn;
            r->dyn = d->next;
            free(d->name);
            free(d);
        }
        free(r->uri);
        free(r);
    }
    for (size_t t = 0; t < REG_TABLES; t++)
        map_finish(&reg->tables[t]);
    json_decref(reg->docs);
    free(reg->meta);
    free(reg);
}

int schema_registry_add(struct schema_registry *reg, const char *uri, json_t *doc,
                        char **error)
{
    *error = NULL;
    if (!reg || !uri || !doc) {
        *error = strdup("schema_registry_add: missing argument");
        return -1;
    }
    char *base = uri_resolve(NULL, uri);
    if (!base) {
        *error = strdup("out of memory");
        return -1;
    }
    uri_cut_fragment(base);
    if (json_array_append(reg->docs, doc) != 0)
        goto nomem;
    struct reg_resource *res = reg_new_resource(reg, base, doc);
    if (!res || reg_walk(reg, doc, res, 0) != 0)
        goto nomem;
    free(base);
    return 0;

nomem:
    *error = msg_format("cannot register %s: out of memory or nested too deeply", base);
    free(base);
    return -1;
}

/* ---- numbers and equality --------------------------------------------------- */

struct num {
    bool is_int;
    long long i;
    double d;
};

static void num_of(const json_t *j, struct num *n)
{
    n->is_int = json_is_integer(j);
    n->i = n->is_int ? json_integer_value(j) : 0;
    n->d = n->is_int ? (double)n->i : json_real_value(j);
}

/* Compares an integer and a real exactly, without rounding the integer. */
static int cmp_int_real(long long i, double d)
{
    if (d >= 9223372036854775808.0)
        return -1;
    if (d < -9223372036854775808.0)
        return 1;
    long long t = (long long)d; /* truncates toward zero */
    if (i != t)
        return i < t ? -1 : 1;
    double frac = d - (double)t;
    return frac > 0 ? -1 : frac < 0 ? 1 : 0;
}

static int num_cmp(const struct num *a, const struct num *b)
{
    if (a->is_int && b->is_int)
        return a->i < b->i ? -1 : a->i > b->i;
    if (a->is_int)
        return cmp_int_real(a->i, b->d);
    if (b->is_int)
        return -cmp_int_real(b->i, a->d);
    return a->d < b->d ? -1 : a->d > b->d;
}

static bool num_multiple(const struct num *x, const struct num *m)
{
    if (x->is_int && m->is_int)
        return m->i == 0 ? false : (m->i == -1 || x->i % m->i == 0);
    double md = fabs(m->d);
    double xd = fabs(x->d);
    /* Every integer is a multiple of 0.5 or 1e-8: say so without dividing,
     * which would overflow for 1e308. */
    double inv = 1.0 / md;
    if (xd == floor(xd) && inv >= 1 && fabs(inv - nearbyint(inv)) <= inv * 1e-12)
        return true;
    double q = xd / md;
    if (!isfinite(q))
        return false;
    if (q >= 9007199254740992.0)
        return true; /* past 2^53 every double is a whole number */
    /* Reals are binary fractions: 0.0075 / 0.0001 is 74.99999999999999,
     * so a quotient within rounding error of a whole number counts. */
    return fabs(q - nearbyint(q)) <= fmax(1e-9, q * 4 * DBL_EPSILON);
}

static void num_format(const struct num *n, char *buf, size_t size)
{
    if (n->is_int) {
        snprintf(buf, size, "%lld", n->i);
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, size, "%.*g", prec, n->d);
        if (strtod(buf, NULL) == n->d)
            return;
    }
}

/* Mathematical equality of JSON values (1 equals 1.0). *deep is set when
 * the values nest past MAX_EQUAL_DEPTH and the answer is unknown. */
static bool json_same(const json_t *a, const json_t *b, unsigned depth, bool *deep)
{
    if (depth > MAX_EQUAL_DEPTH) {
        *deep = true;
        return false;
    }
    if (json_is_number(a) && json_is_number(b)) {
        struct num x, y;
        num_of(a, &x);
        num_of(b, &y);
        return num_cmp(&x, &y) == 0;
    }
    if (json_typeof(a) != json_typeof(b))
        return false;
    switch (json_typeof(a)) {
    case JSON_STRING:
        return json_string_length(a) == json_string_length(b) &&
               memcmp(json_string_value(a), json_string_value(b),
                      json_string_length(a)) == 0;
    case JSON_ARRAY: {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!json_same(json_array_get(a, i), json_array_get(b, i), depth + 1, deep))
                return false;
        return true;
    }
    case JSON_OBJECT: {
        if (json_object_size(a) != json_object_size(b))
            return false;
        const char *key;
        size_t klen;
        json_t *v;
        json_object_keylen_foreach((json_t *)a, key, klen, v)
        {
            json_t *w = json_object_getn(b, key, klen);
            if (!w || !json_same(v, w, depth + 1, deep))
                return false;
        }
        return true;
    }
    default:
        return true; /* true, false, null: same type means same value */
    }
}

/* A hash consistent with json_same, for uniqueItems on long arrays. */
static uint64_t json_hash(const json_t *j, unsigned depth)
{
    uint64_t h = (uint64_t)json_typeof(j) * 0x9e3779b97f4a7c15ULL;
    if (depth > 8)
        return h;
    switch (json_typeof(j)) {
    case JSON_INTEGER:
    case JSON_REAL: {
        /* Adding +0.0 turns -0.0 into +0.0, which it equals, so both
         * hash alike. */
        double d = json_number_value(j) + 0.0;
        return hash_bytes(&d, sizeof(d)) ^ 0x5555;
    }
    case JSON_STRING:
        return h ^ hash_bytes(json_string_value(j), json_string_length(j));
    case JSON_ARRAY: {
        size_t i;
        json_t *v;
        json_array_foreach(j, i, v)
            h = h * 31 + json_hash(v, depth + 1);
        return h;
    }
    case JSON_OBJECT: {
        const char *key;
        size_t klen;
        json_t *v;
        /* Key order must not matter: combine with a commutative sum. */
        json_object_keylen_foreach((json_t *)j, key, klen, v) h +=
            hash_bytes(key, klen) * 7 + json_hash(v, depth + 1);
        return h;
    }
    default:
        return h;
    }
}

/* ---- compiled schemas ----------------------------------------------------------- */

enum {
    T_NULL = 1 << 0,
    T_BOOLEAN = 1 << 1,
    T_OBJECT = 1 << 2,
    T_ARRAY = 1 << 3,
    T_NUMBER = 1 << 4,
    T_STRING = 1 << 5,
    T_INTEGER = 1 << 6,
};

static const char *const type_names[] = {"null",   "boolean", "object", "array",
                                         "number", "string",  "integer"};

enum {
    V_APPLICATOR = 1 << 0,
    V_VALIDATION = 1 << 1,
    V_UNEVALUATED = 1 << 2,
    V_FORMAT = 1 << 3,
    V_ALL = 0xf,
};

/* The bounds on a number (minimum, maximum, exclusiveMinimum and
 * exclusiveMaximum), in the order of number_bounds. */
#define NUMBER_BOUNDS 4

/* A resource as the validator sees it: its $dynamicAnchors, so that
 * "$dynamicRef" can look them up along the dynamic scope. */
struct cres {
    size_t ndyn;
    struct cdyn {
        char *name;
        struct node *node;
    } * dyn;
    struct cres *next;
};

struct prop {
    const char *key;
    size_t len;
    struct node *node;
    struct schema_regex *re; /* patternProperties: key compiled */
};

struct dep_required {
    const char *key;
    size_t len;
    json_t *names; /* array of strings, borrowed from src */
};

struct node {
    json_t *src; /* the schema object; a reference held by the schema */
    const struct cres *res;
    bool is_bool, bool_value;
    uint8_t mark; /* cycle check at compile time */
    /* Whether any in-place keyword ($ref, allOf, if, const, ...) is set:
     * most nodes in tool schemas have none, and skip those checks. */
    bool inplace;
    unsigned types;
    unsigned bounds_set; /* bit i: number_bounds[i] is set */
    struct num bounds[NUMBER_BOUNDS];
    struct num multiple; /* 0 when absent: a set one is above 0 */
    bool unique;
    size_t min_len, max_len, min_items, max_items, min_props, max_props;
    size_t min_contains, max_contains;
    json_t *const_value, *enum_values; /* borrowed from src */
    struct schema_regex *pattern;
    const char *pattern_src;
    schema_format_check *format; /* NULL: none, or an annotation only */
    const char *format_name;

    struct node *ref;
    struct node *dynref;       /* where "$dynamicRef" points statically */
    const char *dynref_anchor; /* set when it may be redirected dynamically */
    struct node **all_of, **any_of, **one_of;
    size_t n_all, n_any, n_one;
    struct node *not_, *if_, *then_, *else_;

    struct prop *props;
    size_t n_props;
    struct prop *pprops;
    size_t n_pprops;
    struct node *additional, *property_names, *unevaluated_props;
    struct prop *required; /* names only (node is NULL) */
    size_t n_required;
    struct dep_required *dep_required;
    size_t n_dep_required;
    struct prop *dep_schemas;
    size_t n_dep_schemas;

    struct node **prefix;
    size_t n_prefix;
    struct node *items, *contains, *unevaluated_items;

    struct node *next_all;
};

/* A block of the memory that holds a schema's nodes and their arrays,
 * handed out in order and freed with the schema. */
struct block {
    struct block *next;
    size_t used, size;
    max_align_t data[];
};

/* The smallest block: a tool's schema fits in a few. */
#define BLOCK_SIZE 4096u

struct schema {
    struct node true_node, false_node;
    struct node *root;
    struct node *all;
    struct block *blocks; /* the one in use first */
    struct cres *resources;
    bool format_assertion;
    unsigned max_depth;
    size_t max_errors;
    size_t max_steps;
    bool dynamic_scope; /* some "$dynamicRef" reads the dynamic scope */
};

struct compiler {
    struct schema *schema;
    struct schema_registry *reg;
    struct map nodes; /* json_t * -> struct node */
    struct map cres;  /* resource root -> struct cres */
    unsigned vocab;
    char *error;
};

static struct node *compile_node(struct compiler *c, json_t *js, unsigned depth);

static __attribute__((format(printf, 2, 3))) void compile_fail(struct compiler *c,
                                                               const char *fmt, ...)
{
    if (c->error)
        return;
    va_list ap;
    va_start(ap, fmt);
    c->error = msg_vformat(fmt, ap);
    va_end(ap);
    if (!c->error)
        c->error = strdup("out of memory");
}

/* Zeroed memory for count objects of size, freed with the schema; NULL,
 * with the compilation failed, when memory ran out. */
static void *compile_alloc(struct compiler *c, size_t count, size_t size)
{
    const size_t unit = sizeof(max_align_t);
    if (size && count > (SIZE_MAX - unit) / size) {
        compile_fail(c, "out of memory");
        return NULL;
    }
    size_t n = (count * size + unit - 1) / unit * unit;
    struct block *b = c->schema->blocks;
    if (!b || b->size - b->used < n) {
        size_t room = n > BLOCK_SIZE ? n : BLOCK_SIZE;
        if (!(b = calloc(1, sizeof(*b) + room))) {
            compile_fail(c, "out of memory");
            return NULL;
        }
        b->size = room;
        /* A large array gets a block of its own, behind the one in use,
         * whose free room stays for the next small ones. */
        struct block **at = &c->schema->blocks;
        if (n > BLOCK_SIZE / 2 && *at)
            at = &(*at)->next;
        b->next = *at;
        *at = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    return p;
}

/* Undoes a JSON Pointer token's escapes (~0 is '~', ~1 is '/') in place. */
static void pointer_unescape(char *tok)
{
    char *w = tok;
    for (char *r = tok; *r; r++) {
        if (r[0] == '~' && (r[1] == '0' || r[1] == '1')) {
            *w++ = r[1] == '0' ? '~' : '/';
            r++;
        } else {
            *w++ = *r;
        }
    }
    *w = '\0';
}

/* Follows the JSON Pointer ptr (after its leading '/') from the root of
 * res; returns the target or NULL. *where gets the last known resource on
 * the way, so that a target inside an unknown keyword still has a base URI.
 * ptr is modified. */
static json_t *follow_pointer(struct compiler *c, struct reg_resource *res, char *ptr,
                              struct reg_resource **where)
{
    json_t *cur = res->root;
    char *tok = ptr;
    *where = res;
    while (cur && tok) {
        char *slash = strchr(tok, '/');
        if (slash)
            *slash = '\0';
        pointer_unescape(tok);
        if (json_is_object(cur)) {
            cur = json_object_get(cur, tok);
        } else if (json_is_array(cur)) {
            char *end;
            unsigned long idx = strtoul(tok, &end, 10);
            cur = (*tok && *end == '\0') ? json_array_get(cur, idx) : NULL;
        } else {
            cur = NULL;
        }
        struct reg_resource *known = cur ? reg_find(c->reg, REG_WHERE, cur, NULL) : NULL;
        if (known)
            *where = known;
        tok = slash ? slash + 1 : NULL;
    }
    return cur;
}

/* Resolves a reference written in a schema whose base is base_uri; sets
 * *dynamic when the fragment named a $dynamicAnchor. */
static json_t *resolve_ref(struct compiler *c, const char *base_uri, const char *ref,
                           bool *dynamic)
{
    char *uri = uri_resolve(base_uri, ref);
    json_t *target = NULL;
    *dynamic = false;
    if (!uri) {
        compile_fail(c, "out of memory");
        return NULL;
    }
    char *frag = uri_cut_fragment(uri);
    percent_decode(frag);
    bool failed;
    struct reg_resource *res = reg_find_resource(c->reg, uri, &failed);
    if (failed) {
        compile_fail(c, "out of memory");
    } else if (!res) {
        compile_fail(c, "cannot resolve reference \"%s\": %s is not a known schema", ref,
                     uri);
    } else if (frag[0] == '\0') {
        target = res->root;
    } else if (frag[0] == '/') {
        struct reg_resource *where;
        target = follow_pointer(c, res, frag + 1, &where);
        if (!target)
            compile_fail(c, "cannot resolve reference \"%s\": no such location", ref);
        /* A target no schema keyword leads to was never walked. */
        else if (json_is_object(target) && !reg_find(c->reg, REG_WHERE, target, NULL) &&
                 reg_walk(c->reg, target, where, 0) != 0)
            compile_fail(c, "out of memory");
    } else {
        char *key = msg_format("%s#%s", uri, frag);
        struct reg_anchor *a = key ? reg_find(c->reg, REG_ANCHORS, NULL, key) : NULL;
        free(key);
        if (!a)
            compile_fail(c, "cannot resolve reference \"%s\": no anchor \"%s\"", ref,
                         frag);
        target = a ? a->node : NULL;
        *dynamic = a && a->dynamic;
    }
    free(uri);
    return c->error ? NULL : target;
}

static struct cres *get_cres(struct compiler *c, struct reg_resource *rr, unsigned depth)
{
    struct cres *cr = map_get(&c->cres, rr->root, NULL);
    if (cr)
        return cr;
    cr = calloc(1, sizeof(*cr));
    if (!cr || map_put(&c->cres, rr->root, NULL, cr) != 0) {
        free(cr);
        compile_fail(c, "out of memory");
        return NULL;
    }
    cr->next = c->schema->resources;
    c->schema->resources = cr;
    size_t n = 0;
    for (struct reg_dyn *d = rr->dyn; d; d = d->next)
        n++;
    cr->dyn = calloc(n ? n : 1, sizeof(*cr->dyn));
    if (!cr->dyn) {
        compile_fail(c, "out of memory");
        return NULL;
    }
    /* Every $dynamicAnchor of a resource the validator may enter has to be
     * compiled, since a "$dynamicRef" elsewhere can land on it. */
    for (struct reg_dyn *d = rr->dyn; d; d = d->next) {
        cr->dyn[cr->ndyn].name = strdup(d->name);
        if (!cr->dyn[cr->ndyn].name) {
            compile_fail(c, "out of memory");
            return NULL;
        }
        cr->ndyn++;
        cr->dyn[cr->ndyn - 1].node = compile_node(c, d->node, depth + 1);
        if (c->error)
            return NULL;
    }
    return cr;
}

static bool get_count(struct compiler *c, json_t *js, const char *kw, size_t *out)
{
    json_t *v = json_object_get(js, kw);
    if (!v)
        return false;
    double d = json_number_value(v);
    if (!json_is_number(v) || d < 0 || d != floor(d)) {
        compile_fail(c, "\"%s\" must be a non-negative integer", kw);
        return false;
    }
    *out = d >= 1e18 ? (size_t)-1 : (size_t)d;
    return true;
}

static bool get_num(struct compiler *c, json_t *js, const char *kw, struct num *out)
{
    json_t *v = json_object_get(js, kw);
    if (!v)
        return false;
    if (!json_is_number(v)) {
        compile_fail(c, "\"%s\" must be a number", kw);
        return false;
    }
    num_of(v, out);
    return true;
}

static struct node *compile_sub(struct compiler *c, json_t *js, const char *kw,
                                unsigned depth)
{
    json_t *v = json_object_get(js, kw);
    return v ? compile_node(c, v, depth + 1) : NULL;
}

static struct node **compile_list(struct compiler *c, json_t *js, const char *kw,
                                  size_t *n, unsigned depth)
{
    json_t *a = json_object_get(js, kw);
    *n = 0;
    if (!a)
        return NULL;
    if (!json_is_array(a) || json_array_size(a) == 0) {
        compile_fail(c, "\"%s\" must be a non-empty array of schemas", kw);
        return NULL;
    }
    struct node **list = compile_alloc(c, json_array_size(a), sizeof(struct node *));
    if (!list)
        return NULL;
    for (size_t i = 0; i < json_array_size(a) && !c->error; i++)
        list[i] = compile_node(c, json_array_get(a, i), depth + 1);
    *n = json_array_size(a);
    return list;
}

static struct prop *compile_map(struct compiler *c, json_t *js, const char *kw, size_t *n,
                                unsigned depth)
{
    json_t *m = json_object_get(js, kw);
    *n = 0;
    if (!m)
        return NULL;
    if (!json_is_object(m)) {
        compile_fail(c, "\"%s\" must be an object", kw);
        return NULL;
    }
    struct prop *props = compile_alloc(c, json_object_size(m), sizeof(*props));
    if (!props)
        return NULL;
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(m, key, klen, v)
    {
        if (c->error)
            break;
        props[*n].key = key;
        props[*n].len = klen;
        props[*n].node = compile_node(c, v, depth + 1);
        (*n)++;
    }
    return props;
}

static unsigned type_bit(const char *name)
{
    for (unsigned i = 0; i < sizeof(type_names) / sizeof(type_names[0]); i++)
        if (strcmp(type_names[i], name) == 0)
            return 1u << i;
    return 0;
}

/* One function per vocabulary of 2020-12. Each reads its keywords from js
 * into n and reports a malformed one through compile_fail. The content and
 * meta-data vocabularies only annotate, so they compile to nothing. */

/* Core: "$ref" and "$dynamicRef", resolved to nodes now. */
static void compile_core(struct compiler *c, struct node *n, json_t *js, const char *base,
                         unsigned depth)
{
    json_t *v;
    bool dynamic;

    if ((v = json_object_get(js, "$ref"))) {
        if (!json_is_string(v))
            return compile_fail(c, "\"$ref\" must be a string");
        json_t *t = resolve_ref(c, base, json_string_value(v), &dynamic);
        if (t)
            n->ref = compile_node(c, t, depth + 1);
    }
    if ((v = json_object_get(js, "$dynamicRef"))) {
        if (!json_is_string(v))
            return compile_fail(c, "\"$dynamicRef\" must be a string");
        json_t *t = resolve_ref(c, base, json_string_value(v), &dynamic);
        if (t)
            n->dynref = compile_node(c, t, depth + 1);
        const char *hash = strchr(json_string_value(v), '#');
        /* Only a reference that lands on a $dynamicAnchor of that name is
         * redirected along the dynamic scope; anything else is a "$ref". */
        if (dynamic && hash && hash[1] && hash[1] != '/')
            n->dynref_anchor = hash + 1;
    }
}

static void compile_type(struct compiler *c, struct node *n, json_t *v)
{
    if (json_is_string(v)) {
        n->types = type_bit(json_string_value(v));
    } else if (json_is_array(v)) {
        size_t i;
        json_t *t;
        json_array_foreach(v, i, t) {
            unsigned bit = json_is_string(t) ? type_bit(json_string_value(t)) : 0;
            if (!bit)
                return compile_fail(c, "\"type\" names an unknown type");
            n->types |= bit;
        }
    }
    if (!n->types)
        compile_fail(c, "\"type\" must name JSON types");
}

/* Each bound on a number: which results of num_cmp(instance, bound) (-1,
 * 0 or 1) fail it, and what a failing instance is told it must be. */
static const struct {
    const char *kw;
    bool fails[3];
    const char *must_be;
} number_bounds[NUMBER_BOUNDS] = {
    {"minimum", {true, false, false}, "at least"},
    {"maximum", {false, false, true}, "at most"},
    {"exclusiveMinimum", {true, true, false}, "greater than"},
    {"exclusiveMaximum", {false, true, true}, "less than"},
};

/* The keywords that hold a count, with where each goes in struct node. */
static const struct {
    const char *kw;
    size_t offset;
} count_keywords[] = {
    {"minLength", offsetof(struct node, min_len)},
    {"maxLength", offsetof(struct node, max_len)},
    {"minItems", offsetof(struct node, min_items)},
    {"maxItems", offsetof(struct node, max_items)},
    {"minProperties", offsetof(struct node, min_props)},
    {"maxProperties", offsetof(struct node, max_props)},
    {"minContains", offsetof(struct node, min_contains)},
    {"maxContains", offsetof(struct node, max_contains)},
};

static void compile_limits(struct compiler *c, struct node *n, json_t *js)
{
    for (unsigned i = 0; i < NUMBER_BOUNDS; i++)
        if (get_num(c, js, number_bounds[i].kw, &n->bounds[i]))
            n->bounds_set |= 1u << i;
    if (get_num(c, js, "multipleOf", &n->multiple) && n->multiple.d <= 0)
        return compile_fail(c, "\"multipleOf\" must be greater than 0");
    char *base = (char *)n;
    for (size_t i = 0; i < sizeof(count_keywords) / sizeof(count_keywords[0]); i++)
        get_count(c, js, count_keywords[i].kw,
                  (size_t *)(base + count_keywords[i].offset));
}

static void compile_pattern(struct compiler *c, struct node *n, json_t *v)
{
    char *err = NULL;
    if (!json_is_string(v))
        return compile_fail(c, "\"pattern\" must be a string");
    n->pattern_src = json_string_value(v);
    n->pattern = schema_regex_create(n->pattern_src, json_string_length(v), &err);
    if (!n->pattern)
        compile_fail(c, "\"pattern\" %s %s", n->pattern_src, err ? err : "");
    free(err);
}

/* "required" and "dependentRequired": lists of property names. */
static void compile_required(struct compiler *c, struct node *n, json_t *js)
{
    json_t *v;
    if ((v = json_object_get(js, "required"))) {
        size_t i;
        json_t *s;
        if (!json_is_array(v))
            return compile_fail(c, "\"required\" must be an array of strings");
        n->required = compile_alloc(c, json_array_size(v), sizeof(*n->required));
        if (!n->required)
            return;
        json_array_foreach(v, i, s) {
            if (!json_is_string(s))
                return compile_fail(c, "\"required\" must be an array of strings");
            n->required[n->n_required++] =
                (struct prop){.key = json_string_value(s), .len = json_string_length(s)};
        }
    }
    if ((v = json_object_get(js, "dependentRequired"))) {
        const char *key;
        size_t klen;
        json_t *names;
        if (!json_is_object(v))
            return compile_fail(c, "\"dependentRequired\" must be an object");
        n->dep_required = compile_alloc(c, json_object_size(v), sizeof(*n->dep_required));
        if (!n->dep_required)
            return;
        json_object_keylen_foreach(v, key, klen, names)
        {
            if (!json_is_array(names))
                return compile_fail(c, "\"dependentRequired\" values must be arrays");
            n->dep_required[n->n_dep_required++] =
                (struct dep_required){.key = key, .len = klen, .names = names};
        }
    }
}

/* Validation: the assertions on the value itself. */
static void compile_validation(struct compiler *c, struct node *n, json_t *js)
{
    json_t *v;
    if ((v = json_object_get(js, "type")))
        compile_type(c, n, v);
    n->const_value = json_object_get(js, "const");
    if ((v = json_object_get(js, "enum"))) {
        if (!json_is_array(v))
            return compile_fail(c, "\"enum\" must be an array");
        n->enum_values = v;
    }
    compile_limits(c, n, js);
    n->unique = json_is_true(json_object_get(js, "uniqueItems"));
    if ((v = json_object_get(js, "pattern")) && !c->error)
        compile_pattern(c, n, v);
    if (!c->error)
        compile_required(c, n, js);
}

static void compile_format(struct node *n, json_t *js)
{
    json_t *v = json_object_get(js, "format");
    if (json_is_string(v)) {
        n->format_name = json_string_value(v);
        n->format = schema_format_lookup(n->format_name);
    }
}

/* "patternProperties": each name is compiled as a regular expression. */
static void compile_pattern_props(struct compiler *c, struct node *n, json_t *js,
                                  unsigned depth)
{
    size_t np;
    struct prop *pp = compile_map(c, js, "patternProperties", &np, depth);
    n->pprops = pp;
    /* Counted as they compile, so that schema_destroy frees what exists. */
    for (size_t i = 0; i < np && !c->error; i++) {
        char *err = NULL;
        pp[i].re = schema_regex_create(pp[i].key, pp[i].len, &err);
        n->n_pprops = i + 1;
        if (!pp[i].re)
            compile_fail(c, "\"patternProperties\" %s %s", pp[i].key, err ? err : "");
        free(err);
    }
}

/* Applicator: the keywords that apply subschemas. */
static void compile_applicator(struct compiler *c, struct node *n, json_t *js,
                               unsigned depth)
{
    n->all_of = compile_list(c, js, "allOf", &n->n_all, depth);
    n->any_of = compile_list(c, js, "anyOf", &n->n_any, depth);
    n->one_of = compile_list(c, js, "oneOf", &n->n_one, depth);
    n->not_ = compile_sub(c, js, "not", depth);
    n->if_ = compile_sub(c, js, "if", depth);
    n->then_ = compile_sub(c, js, "then", depth);
    n->else_ = compile_sub(c, js, "else", depth);
    n->props = compile_map(c, js, "properties", &n->n_props, depth);
    n->additional = compile_sub(c, js, "additionalProperties", depth);
    n->property_names = compile_sub(c, js, "propertyNames", depth);
    n->dep_schemas = compile_map(c, js, "dependentSchemas", &n->n_dep_schemas, depth);
    n->contains = compile_sub(c, js, "contains", depth);
    if (json_is_array(json_object_get(js, "items")))
        return compile_fail(c, "\"items\" must be a schema in 2020-12 (use prefixItems)");
    n->items = compile_sub(c, js, "items", depth);
    n->prefix = compile_list(c, js, "prefixItems", &n->n_prefix, depth);
    if (!c->error)
        compile_pattern_props(c, n, js, depth);
}

static void compile_unevaluated(struct compiler *c, struct node *n, json_t *js,
                                unsigned depth)
{
    n->unevaluated_props = compile_sub(c, js, "unevaluatedProperties", depth);
    n->unevaluated_items = compile_sub(c, js, "unevaluatedItems", depth);
}

static void compile_keywords(struct compiler *c, struct node *n, json_t *js,
                             const char *base, unsigned depth)
{
    compile_core(c, n, js, base, depth);
    if (!c->error && (c->vocab & V_VALIDATION))
        compile_validation(c, n, js);
    if (!c->error && (c->vocab & V_FORMAT))
        compile_format(n, js);
    if (!c->error && (c->vocab & V_APPLICATOR))
        compile_applicator(c, n, js, depth);
    if (!c->error && (c->vocab & V_UNEVALUATED))
        compile_unevaluated(c, n, js, depth);
    n->inplace = n->ref || n->dynref || n->const_value || n->enum_values || n->n_all ||
                 n->n_any || n->n_one || n->not_ || n->if_ || n->unevaluated_props ||
                 n->unevaluated_items;
}

static struct node *compile_node(struct compiler *c, json_t *js, unsigned depth)
{
    struct schema *s = c->schema;
    if (c->error)
        return NULL;
    if (json_is_true(js))
        return &s->true_node;
    if (json_is_false(js))
        return &s->false_node;
    if (!json_is_object(js)) {
        compile_fail(c, "a schema must be an object or a boolean");
        return NULL;
    }
    struct node *n = map_get(&c->nodes, js, NULL);
    if (n)
        return n;
    if (depth > MAX_COMPILE_DEPTH) {
        compile_fail(c, "the schema is nested more than %d levels deep",
                     MAX_COMPILE_DEPTH);
        return NULL;
    }
    n = compile_alloc(c, 1, sizeof(*n));
    if (!n)
        return NULL;
    if (map_put(&c->nodes, js, NULL, n) != 0) {
        compile_fail(c, "out of memory");
        return NULL;
    }
    n->src = json_incref(js);
    n->next_all = s->all;
    s->all = n;
    /* The counts no keyword limits; "contains" alone wants one match. */
    n->max_len = n->max_items = n->max_props = n->max_contains = SIZE_MAX;
    n->min_contains = 1;

    struct reg_resource *where = reg_find(c->reg, REG_WHERE, js, NULL);
    if (!where) {
        compile_fail(c, "internal error: a subschema was not registered");
        return NULL;
    }
    n->res = get_cres(c, where, depth);
    if (!c->error)
        compile_keywords(c, n, js, where->uri, depth);
    return n;
}

/* The i-th subschema that n applies to the same value it is applied to
 * (not to a property or an item of it); NULL past the last. Absent
 * keywords answer the true node, which has no such subschemas. A
 * "$dynamicRef" counts every anchor of its name that it may land on. */
static struct node *inplace_sub(struct schema *s, struct node *n, size_t i)
{
    struct node *single[] = {n->ref, n->dynref, n->not_, n->if_, n->then_, n->else_};
    const size_t nsingle = sizeof(single) / sizeof(single[0]);
    if (i < nsingle)
        return single[i] ? single[i] : &s->true_node;
    i -= nsingle;
    struct node **lists[] = {n->all_of, n->any_of, n->one_of};
    const size_t lens[] = {n->n_all, n->n_any, n->n_one};
    for (size_t k = 0; k < 3; k++) {
        if (i < lens[k])
            return lists[k][i];
        i -= lens[k];
    }
    if (i < n->n_dep_schemas)
        return n->dep_schemas[i].node;
    i -= n->n_dep_schemas;
    for (struct cres *r = n->dynref_anchor ? s->resources : NULL; r; r = r->next)
        for (size_t k = 0; k < r->ndyn; k++)
            if (strcmp(r->dyn[k].name, n->dynref_anchor) == 0 && i-- == 0)
                return r->dyn[k].node;
    return NULL;
}

enum { MARK_NEW, MARK_ON_PATH, MARK_DONE };

/* Whether the subschemas applied in place (see inplace_sub) form a loop
 * through start: such a loop applies the same schema to the same value
 * forever, whatever keywords it passes through, so it is rejected before
 * any validation. A depth-first search with its own stack, since a chain
 * of references can be longer than the C stack allows. Returns 1, 0 or -1
 * when out of memory. */
static int has_cycle(struct schema *s, struct node *start)
{
    struct frame {
        struct node *n;
        size_t next;
    } *stack = NULL;
    size_t depth = 0, cap = 0;
    int found = 0;
    struct node *n = start;
    while (n) {
        if (!n->is_bool && n->mark == MARK_ON_PATH) {
            found = 1;
            break;
        }
        if (!n->is_bool && n->mark == MARK_NEW) {
            if (depth == cap) {
                struct frame *grown =
                    realloc(stack, (cap ? cap * 2 : 32) * sizeof(*stack));
                if (!grown) {
                    found = -1;
                    break;
                }
                stack = grown;
                cap = cap ? cap * 2 : 32;
            }
            n->mark = MARK_ON_PATH;
            stack[depth++] = (struct frame){n, 0};
        }
        /* The next unexplored subschema of the innermost frame, popping
         * the frames that have none left. */
        n = NULL;
        while (depth && !n) {
            struct frame *f = &stack[depth - 1];
            n = inplace_sub(s, f->n, f->next++);
            if (!n) {
                f->n->mark = MARK_DONE;
                depth--;
            }
        }
    }
    free(stack);
    return found;
}

/* Reads the vocabularies the root's "$schema" declares; all of them when
 * it names the standard meta-schema or one we do not have. */
static unsigned vocabularies(struct compiler *c, json_t *doc, const char *base)
{
    json_t *ms = json_object_get(doc, "$schema");
    if (!json_is_string(ms))
        return V_ALL;
    char *uri = uri_resolve(base, json_string_value(ms));
    if (!uri)
        return V_ALL;
    uri_cut_fragment(uri);
    /* The standard meta-schema declares every vocabulary: V_ALL, without
     * parsing it. */
    bool failed = false;
    struct reg_resource *res =
        strcmp(uri, META_URI) ? reg_find_resource(c->reg, uri, &failed) : NULL;
    free(uri);
    if (failed) {
        compile_fail(c, "out of memory");
        return V_ALL;
    }
    json_t *vocab = res ? json_object_get(res->root, "$vocabulary") : NULL;
    if (!json_is_object(vocab))
        return V_ALL;
    static const struct {
        const char *uri;
        unsigned bit;
    } known[] = {
        {"https://json-schema.org/draft/2020-12/vocab/core", 0},
        {"https://json-schema.org/draft/2020-12/vocab/applicator", V_APPLICATOR},
        {"https://json-schema.org/draft/2020-12/vocab/validation", V_VALIDATION},
        {"https://json-schema.org/draft/2020-12/vocab/unevaluated", V_UNEVALUATED},
        {"https://json-schema.org/draft/2020-12/vocab/format-annotation", V_FORMAT},
        {"https://json-schema.org/draft/2020-12/vocab/format-assertion", V_FORMAT},
        {"https://json-schema.org/draft/2020-12/vocab/content", 0},
        {"https://json-schema.org/draft/2020-12/vocab/meta-data", 0},
    };
    unsigned bits = 0;
    const char *key;
    json_t *v;
    json_object_foreach(vocab, key, v) {
        size_t i;
        for (i = 0; i < sizeof(known) / sizeof(known[0]); i++)
            if (strcmp(known[i].uri, key) == 0)
                break;
        if (i < sizeof(known) / sizeof(known[0]))
            bits |= known[i].bit;
        else if (json_is_true(v))
            compile_fail(c, "the meta-schema requires an unknown vocabulary %s", key);
    }
    return bits;
}

struct schema *schema_compile(struct schema_registry *reg, json_t *doc,
                              const char *base_uri, const struct schema_options *opts,
                              char **error)
{
    struct compiler c = {0};
    struct schema_registry *meta = NULL;
    struct schema *s = calloc(1, sizeof(*s));

    *error = NULL;
    if (!s)
        goto nomem;
    s->true_node.is_bool = s->true_node.bool_value = true;
    s->false_node.is_bool = true;
    s->format_assertion = opts && opts->format_assertion;
    s->max_depth = opts && opts->max_depth ? opts->max_depth : DEFAULT_MAX_DEPTH;
    s->max_errors = opts && opts->max_errors ? opts->max_errors : DEFAULT_MAX_ERRORS;
    s->max_steps = opts && opts->max_steps ? opts->max_steps : DEFAULT_MAX_STEPS;
    if (!reg) {
        meta = schema_registry_create();
        if (!meta)
            goto nomem;
        reg = meta;
    }
    /* The document's own identifiers go into a private layer over the
     * caller's registry, so compiling never changes what others resolve
     * (it may parse a built-in meta-schema into the caller's registry,
     * which is why a registry is used by one thread at a time). */
    c.reg = registry_new(reg);
    c.schema = s;
    if (!c.reg)
        goto nomem;
    if (!json_is_object(doc) && !json_is_boolean(doc)) {
        compile_fail(&c, "a schema must be an object or a boolean");
        goto fail;
    }
    char *regerr = NULL;
    const char *base = base_uri ? base_uri : DEFAULT_BASE_URI;
    if (schema_registry_add(c.reg, base, doc, &regerr) != 0) {
        c.error = regerr;
        goto fail;
    }
    c.vocab = json_is_object(doc) ? vocabularies(&c, doc, base) : V_ALL;
    if (c.error)
        goto fail;
    s->root = compile_node(&c, doc, 0);
    if (c.error)
        goto fail;
    for (struct node *n = s->all; n; n = n->next_all) {
        s->dynamic_scope |= n->dynref_anchor != NULL;
        int cyc = has_cycle(s, n);
        if (cyc < 0)
            goto nomem;
        if (cyc) {
            compile_fail(&c, "\"$ref\" loops back to itself without consuming any of the "
                             "instance");
            goto fail;
        }
    }
    goto done;

nomem:
    compile_fail(&c, "out of memory");
fail:
    *error = c.error;
    schema_destroy(s);
    s = NULL;
done:
    map_finish(&c.nodes);
    map_finish(&c.cres);
    schema_registry_destroy(c.reg);
    schema_registry_destroy(meta);
    return s;
}

void schema_destroy(struct schema *s)
{
    if (!s)
        return;
    /* The nodes and their arrays live in the blocks; what they hold
     * elsewhere goes first. */
    for (struct node *n = s->all; n; n = n->next_all) {
        schema_regex_destroy(n->pattern);
        for (size_t i = 0; i < n->n_pprops; i++)
            schema_regex_destroy(n->pprops[i].re);
        json_decref(n->src);
    }
    while (s->blocks) {
        struct block *b = s->blocks;
        s->blocks = b->next;
        free(b);
    }
    while (s->resources) {
        struct cres *r = s->resources;
        s->resources = r->next;
        for (size_t i = 0; i < r->ndyn; i++)
            free(r->dyn[i].name);
        free(r->dyn);
        free(r);
    }
    free(s);
}

/* ---- validation -------------------------------------------------------------- */

/* The instance location, as a chain of frames on the C stack; it becomes a
 * JSON Pointer string only when an error is recorded. */
struct ipath {
    const struct ipath *up;
    const char *key; /* NULL for an array index */
    size_t len;
    size_t index;
};

/* The dynamic scope: the resources entered so far, innermost first. */
struct scope {
    const struct scope *up;
    const struct cres *res;
};

/* Why a validation stopped before its end; the instance is then invalid
 * whatever the walk found. */
enum {
    STOP_DEEP = 1 << 0,  /* max_depth, or a comparison nested too deeply */
    STOP_STEPS = 1 << 1, /* the step budget ran out */
};

struct vstate {
    const struct schema *schema;
    struct schema_errors *errors; /* NULL when only yes or no is wanted */
    size_t max_errors;
    size_t steps_left;
    unsigned stop;
};

struct vctx {
    struct vstate *st;
    bool collect; /* record errors here; false inside anyOf, not, if, ... */
};

static bool apply(const struct vctx *c, const struct node *n, json_t *inst,
                  const struct ipath *path, const struct scope *scope, unsigned depth);

static char *render_path(const struct ipath *p)
{
    size_t total = 0;
    struct dynbuf b;

    for (const struct ipath *f = p; f && f->up; f = f->up)
        total++;
    /* The chain links upward; list it so it can be written from the root. */
    const struct ipath **frames =
        malloc((total ? total : 1) * sizeof(const struct ipath *));
    if (!frames)
        return NULL;
    size_t k = total;
    for (const struct ipath *f = p; f && f->up; f = f->up)
        frames[--k] = f;
    dynbuf_init(&b, 1 << 20);
    for (size_t level = 0; level < total; level++) {
        const struct ipath *f = frames[level];
        if (f->key) {
            dynbuf_append(&b, "/", 1);
            for (size_t i = 0; i < f->len; i++) {
                if (f->key[i] == '~')
                    dynbuf_append(&b, "~0", 2);
                else if (f->key[i] == '/')
                    dynbuf_append(&b, "~1", 2);
                else
                    dynbuf_append(&b, &f->key[i], 1);
            }
        } else {
            char num[32];
            snprintf(num, sizeof(num), "/%zu", f->index);
            dynbuf_append_str(&b, num);
        }
    }
    free(frames);
    char *s = dynbuf_take(&b, NULL);
    return s ? s : strdup("");
}

/* Whether an error here would be recorded; messages are only formatted
 * then, so the yes-or-no path stays cheap. */
static bool collecting(const struct vctx *c)
{
    return c->collect && c->st->errors;
}

static bool errors_full(const struct vctx *c)
{
    return c->collect && c->st->errors && c->st->errors->truncated;
}

static void report(const struct vctx *c, const struct ipath *path, const char *keyword,
                   const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Appends one error; takes ownership of path and message (either may be
 * NULL after a failed allocation, which then marks the list truncated). */
static void push_error(const struct vctx *c, char *path, const char *keyword,
                       char *message)
{
    struct schema_errors *e = c->st->errors;
    char *kw = NULL;
    if (e->count >= c->st->max_errors)
        goto truncated;
    if (e->count % 8 == 0) {
        struct schema_error *items = realloc(e->items, (e->count + 8) * sizeof(*items));
        if (!items)
            goto truncated;
        e->items = items;
    }
    kw = strdup(keyword);
    if (!path || !message || !kw)
        goto truncated;
    e->items[e->count++] = (struct schema_error){path, kw, message};
    return;

truncated:
    e->truncated = true;
    free(kw);
    free(path);
    free(message);
}

static void report(const struct vctx *c, const struct ipath *path, const char *keyword,
                   const char *fmt, ...)
{
    /* Once the budget has run out, errors found on the way out of the walk
     * are artefacts of stopping. */
    if (!collecting(c) || (c->st->stop & STOP_STEPS))
        return;
    if (c->st->errors->count >= c->st->max_errors) {
        c->st->errors->truncated = true;
        return;
    }
    char msg[MAX_MESSAGE];
    va_list ap;
    va_start(ap, fmt);
    /* clang-tidy 14 reports ap as uninitialised here, but only when it
     * analyses this file after another in the same run. */
    // NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): va_start is right above
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    push_error(c, render_path(path), keyword, strdup(msg));
}

static inline unsigned instance_type(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return T_OBJECT;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_STRING:
        return T_STRING;
    case JSON_INTEGER:
        return T_INTEGER | T_NUMBER;
    case JSON_REAL: {
        double d = json_real_value(j);
        return isfinite(d) && d == floor(d) ? (T_INTEGER | T_NUMBER) : T_NUMBER;
    }
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOLEAN;
    default:
        return T_NULL;
    }
}

static const char *instance_type_name(const json_t *j)
{
    unsigned t = instance_type(j);
    if (t & T_INTEGER)
        return "integer";
    for (unsigned i = 0; i < 7; i++)
        if (t == 1u << i)
            return type_names[i];
    return "value";
}

static void types_text(unsigned types, char *buf, size_t size)
{
    size_t off = 0;
    buf[0] = '\0';
    for (unsigned i = 0; i < 7; i++) {
        if (!(types & (1u << i)))
            continue;
        int w = snprintf(buf + off, size - off, "%s%s", off ? " or " : "", type_names[i]);
        if (w < 0 || (size_t)w >= size - off)
            return;
        off += (size_t)w;
    }
}

/* Short JSON text of a value for a message, cut at a sensible length. */
static void value_text(const json_t *v, char *buf, size_t size)
{
    char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!s) {
        snprintf(buf, size, "(value)");
        return;
    }
    if (strlen(s) > 80)
        snprintf(buf, size, "%.77s...", s);
    else
        snprintf(buf, size, "%s", s);
    free(s);
}

static size_t utf8_length(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        n += ((unsigned char)s[i] & 0xc0) != 0x80;
    return n;
}

/* The dynamic scope as n is entered: it gains n's resource when n starts
 * another one. Only a schema with a "$dynamicRef" that can be redirected
 * ever reads the scope, so the others skip keeping it. sc is storage in
 * the caller's frame. */
static inline const struct scope *scope_enter(const struct vstate *st, struct scope *sc,
                                              const struct scope *scope,
                                              const struct node *n)
{
    if (!st->schema->dynamic_scope || (scope && scope->res == n->res))
        return scope;
    *sc = (struct scope){scope, n->res};
    return sc;
}

static const struct node *dynamic_target(const struct node *n, const struct scope *scope)
{
    if (!n->dynref_anchor)
        return n->dynref;
    /* The outermost resource in scope with a matching $dynamicAnchor. */
    const struct node *found = n->dynref;
    for (const struct scope *s = scope; s; s = s->up)
        for (size_t i = 0; i < s->res->ndyn; i++)
            if (strcmp(s->res->dyn[i].name, n->dynref_anchor) == 0)
                found = s->res->dyn[i].node;
    return found;
}

static bool equal_or_deep(const struct vctx *c, const json_t *a, const json_t *b)
{
    bool deep = false;
    bool same = json_same(a, b, 0, &deep);
    if (deep)
        c->st->stop |= STOP_DEEP;
    return same;
}

/* What minLength and maxLength, minItems and maxItems, minProperties and
 * maxProperties count, as their messages word it: "must <verb> at least
 * 2 <many><tail>". */
struct count_words {
    const char *min_kw, *max_kw;
    const char *verb, *one, *many, *tail;
};

static const struct count_words length_words = {"minLength", "maxLength",  "be",
                                                "character", "characters", " long"};
static const struct count_words item_words = {"minItems", "maxItems", "have",
                                              "item",     "items",    ""};
static const struct count_words property_words = {
    "minProperties", "maxProperties", "have", "property", "properties", ""};

/* A count (of characters, items or properties) against its bounds. */
static bool check_count(const struct vctx *c, const struct ipath *path, size_t count,
                        size_t min, size_t max, const struct count_words *w)
{
    bool ok = true;
    if (count < min) {
        ok = false;
        report(c, path, w->min_kw, "must %s at least %zu %s%s", w->verb, min,
               min == 1 ? w->one : w->many, w->tail);
    }
    if (count > max) {
        ok = false;
        report(c, path, w->max_kw, "must %s at most %zu %s%s", w->verb, max,
               max == 1 ? w->one : w->many, w->tail);
    }
    return ok;
}

/* Checks the string keywords on s; shared by string instances and by
 * property names, which have no json_t of their own. */
static bool check_string(const struct vctx *c, const struct node *n, const char *s,
                         size_t len, const struct ipath *path)
{
    bool ok = true;
    /* A string has at most as many characters as bytes, so most lengths
     * are settled without counting. */
    if (len > n->max_len || len / 4 < n->min_len)
        ok = check_count(c, path, utf8_length(s, len), n->min_len, n->max_len,
                         &length_words);
    if (n->pattern && (ok || c->collect)) {
        int m = schema_regex_match(n->pattern, s, len);
        if (m != 1) {
            ok = false;
            if (m < 0)
                report(c, path, "pattern", "is too costly to match against %s",
                       n->pattern_src);
            else
                report(c, path, "pattern", "does not match %s", n->pattern_src);
        }
    }
    if (n->format && c->st->schema->format_assertion && (ok || c->collect) &&
        !n->format(s, len)) {
        ok = false;
        report(c, path, "format", "must be a valid %s", n->format_name);
    }
    return ok;
}

/* Takes one step of the budget; false once it has run out. */
static bool spend(struct vstate *st)
{
    if (st->steps_left) {
        st->steps_left--;
        return true;
    }
    st->stop |= STOP_STEPS;
    return false;
}

static __attribute__((noinline)) bool
enter_refused(const struct vctx *c, const struct ipath *path, unsigned depth)
{
    /* Within max_depth, only the budget can refuse. */
    if (depth < c->st->schema->max_depth)
        return spend(c->st);
    if (!c->st->stop) {
        report(c, path, "$ref", "nesting exceeds %u levels", c->st->schema->max_depth);
        c->st->stop |= STOP_DEEP;
    }
    return false;
}

/* Every application of a schema node passes here: it is one step of the
 * budget and one level of max_depth. The common case stays inline. */
static inline bool enter(const struct vctx *c, const struct ipath *path, unsigned depth)
{
    struct vstate *st = c->st;
    if (depth < st->schema->max_depth && st->steps_left) {
        st->steps_left--;
        return true;
    }
    return enter_refused(c, path, depth);
}

/* Applies n to a property name, which is a string without a json_t. */
static bool apply_name(const struct vctx *c, const struct node *n, const char *s,
                       size_t len, const struct scope *scope, unsigned depth)
{
    if (n->is_bool)
        return n->bool_value;
    if (!enter(c, NULL, depth))
        return false;
    struct scope sc;
    scope = scope_enter(c->st, &sc, scope, n);
    if (n->types && !(n->types & T_STRING))
        return false;
    if (n->const_value &&
        !(json_is_string(n->const_value) && json_string_length(n->const_value) == len &&
          memcmp(json_string_value(n->const_value), s, len) == 0))
        return false;
    if (n->enum_values) {
        size_t i;
        json_t *v;
        bool any = false;
        json_array_foreach(n->enum_values, i, v)
            if (json_is_string(v) && json_string_length(v) == len &&
                memcmp(json_string_value(v), s, len) == 0) {
                any = true;
                break;
            }
        if (!any)
            return false;
    }
    if (!check_string(c, n, s, len, NULL))
        return false;
    if (n->ref && !apply_name(c, n->ref, s, len, scope, depth + 1))
        return false;
    if (n->dynref && !apply_name(c, dynamic_target(n, scope), s, len, scope, depth + 1))
        return false;
    for (size_t i = 0; i < n->n_all; i++)
        if (!apply_name(c, n->all_of[i], s, len, scope, depth + 1))
            return false;
    if (n->n_any) {
        bool any = false;
        for (size_t i = 0; i < n->n_any && !any; i++)
            any = apply_name(c, n->any_of[i], s, len, scope, depth + 1);
        if (!any)
            return false;
    }
    if (n->n_one) {
        size_t count = 0;
        for (size_t i = 0; i < n->n_one && count < 2; i++)
            count += apply_name(c, n->one_of[i], s, len, scope, depth + 1);
        if (count != 1)
            return false;
    }
    if (n->not_ && apply_name(c, n->not_, s, len, scope, depth + 1))
        return false;
    if (n->if_) {
        const struct node *branch =
            apply_name(c, n->if_, s, len, scope, depth + 1) ? n->then_ : n->else_;
        if (branch && !apply_name(c, branch, s, len, scope, depth + 1))
            return false;
    }
    return true;
}

/* Whether n itself, leaving its in-place subschemas aside, evaluates
 * member m of inst: a property (m->key set) or an item. */
static bool evaluates_itself(const struct vctx *q, const struct node *n, json_t *inst,
                             const struct ipath *m, const struct scope *scope,
                             unsigned depth, bool skip_self)
{
    if (!m->key)
        return m->index < n->n_prefix || n->items ||
               (n->unevaluated_items && !skip_self) ||
               (n->contains && apply(q, n->contains, json_array_get(inst, m->index), NULL,
                                     scope, depth + 1));
    if (n->additional || (n->unevaluated_props && !skip_self))
        return true;
    for (size_t i = 0; i < n->n_props; i++)
        if (n->props[i].len == m->len && memcmp(n->props[i].key, m->key, m->len) == 0)
            return true;
    for (size_t i = 0; i < n->n_pprops; i++)
        if (schema_regex_match(n->pprops[i].re, m->key, m->len) == 1)
            return true;
    return false;
}

/* Whether member m of inst (a property or an item) was evaluated by n or
 * its in-place subschemas, given that n holds for inst. skip_self leaves
 * out n's own unevaluatedProperties or unevaluatedItems, which is the
 * keyword asking. */
static bool evaluated(const struct vctx *q, const struct node *n, json_t *inst,
                      const struct ipath *m, const struct scope *scope, unsigned depth,
                      bool skip_self)
{
    if (n->is_bool || depth >= q->st->schema->max_depth || !spend(q->st))
        return false;
    struct scope sc;
    scope = scope_enter(q->st, &sc, scope, n);
    if (evaluates_itself(q, n, inst, m, scope, depth, skip_self))
        return true;
    if (n->ref && evaluated(q, n->ref, inst, m, scope, depth + 1, false))
        return true;
    if (n->dynref &&
        evaluated(q, dynamic_target(n, scope), inst, m, scope, depth + 1, false))
        return true;
    for (size_t i = 0; i < n->n_all; i++)
        if (evaluated(q, n->all_of[i], inst, m, scope, depth + 1, false))
            return true;
    for (size_t i = 0; i < n->n_any; i++)
        if (apply(q, n->any_of[i], inst, NULL, scope, depth + 1) &&
            evaluated(q, n->any_of[i], inst, m, scope, depth + 1, false))
            return true;
    for (size_t i = 0; i < n->n_one; i++)
        if (apply(q, n->one_of[i], inst, NULL, scope, depth + 1) &&
            evaluated(q, n->one_of[i], inst, m, scope, depth + 1, false))
            return true;
    if (n->if_) {
        if (apply(q, n->if_, inst, NULL, scope, depth + 1)) {
            if (evaluated(q, n->if_, inst, m, scope, depth + 1, false) ||
                (n->then_ && evaluated(q, n->then_, inst, m, scope, depth + 1, false)))
                return true;
        } else if (n->else_ && evaluated(q, n->else_, inst, m, scope, depth + 1, false)) {
            return true;
        }
    }
    /* dependentSchemas apply to objects only: an array has no key. */
    for (size_t i = 0; i < n->n_dep_schemas; i++)
        if (json_object_getn(inst, n->dep_schemas[i].key, n->dep_schemas[i].len) &&
            evaluated(q, n->dep_schemas[i].node, inst, m, scope, depth + 1, false))
            return true;
    return false;
}

struct hashed {
    uint64_t hash;
    size_t index;
};

static int cmp_hashed(const void *a, const void *b)
{
    const struct hashed *x = a, *y = b;
    if (x->hash != y->hash)
        return x->hash < y->hash ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* Finds two equal items; returns false and sets *i, *j when there are. */
static bool items_unique(const struct vctx *c, json_t *arr, size_t *i, size_t *j)
{
    size_t n = json_array_size(arr);
    if (n <= 64) {
        for (*i = 0; *i < n; (*i)++)
            for (*j = *i + 1; *j < n; (*j)++)
                if (equal_or_deep(c, json_array_get(arr, *i), json_array_get(arr, *j)))
                    return false;
        return true;
    }
    /* Long arrays are sorted by hash instead of compared pairwise; this is
     * the one place where validating a valid instance allocates. */
    struct hashed *h = malloc(n * sizeof(*h));
    if (!h) {
        c->st->stop |= STOP_DEEP;
        *i = *j = 0;
        return false;
    }
    for (size_t k = 0; k < n; k++)
        h[k] = (struct hashed){json_hash(json_array_get(arr, k), 0), k};
    qsort(h, n, sizeof(*h), cmp_hashed);
    bool unique = true;
    for (size_t a = 0; a < n && unique; a++)
        for (size_t b = a + 1; b < n && h[b].hash == h[a].hash && unique; b++)
            if (equal_or_deep(c, json_array_get(arr, h[a].index),
                              json_array_get(arr, h[b].index))) {
                *i = h[a].index;
                *j = h[b].index;
                unique = false;
            }
    free(h);
    return unique;
}

/* anyOf and oneOf with no match: one line rather than every branch's
 * errors. When each branch only wanted another type, the types are
 * merged; when one branch came closest with a single error, that error is
 * what the caller most likely has to fix. */
static void report_alternatives(const struct vctx *c, const char *kw, struct node **list,
                                size_t n, json_t *inst, const struct ipath *path,
                                const struct scope *scope, unsigned depth)
{
    if (!c->collect || !c->st->errors || (c->st->stop & STOP_STEPS))
        return;
    unsigned types = 0;
    bool all_type = true;
    struct schema_errors best = {0};
    bool have_best = false;
    for (size_t i = 0; i < n; i++) {
        struct schema_errors e = {0};
        struct vstate st = {c->st->schema, &e, 4, c->st->steps_left, 0};
        struct vctx sub = {&st, true};
        apply(&sub, list[i], inst, path, scope, depth + 1);
        /* Re-running the branches spends the same budget. */
        c->st->steps_left = st.steps_left;
        if (st.stop & STOP_STEPS) {
            c->st->stop |= STOP_STEPS;
            schema_errors_finish(&e);
            schema_errors_finish(&best);
            return;
        }
        bool only_type = e.count == 1 && strcmp(e.items[0].keyword, "type") == 0 &&
                         list[i]->types && !e.truncated;
        if (only_type)
            types |= list[i]->types;
        else
            all_type = false;
        if (!only_type && e.count > 0 &&
            (!have_best || e.count < best.count || (best.truncated && !e.truncated))) {
            schema_errors_finish(&best);
            best = e;
            have_best = true;
        } else {
            schema_errors_finish(&e);
        }
    }
    if (all_type && types) {
        char want[128];
        types_text(types, want, sizeof(want));
        report(c, path, kw, "must be %s, not %s", want, instance_type_name(inst));
    } else if (have_best && best.count == 1 && !best.truncated) {
        /* The closest alternative's own error, at its own path. */
        push_error(c, best.items[0].instance_path, kw, best.items[0].message);
        best.items[0].instance_path = NULL;
        best.items[0].message = NULL;
    } else {
        report(c, path, kw, "does not match any of the %zu allowed alternatives", n);
    }
    schema_errors_finish(&best);
}

/* Records in a validator function (with `ok` and `c` in scope) that a
 * keyword failed, and returns false at once when nothing more is wanted:
 * only yes or no was asked, or the error list is full. */
#define FAILED()                                                                         \
    do {                                                                                 \
        ok = false;                                                                      \
        if (!c->collect || errors_full(c))                                               \
            return false;                                                                \
    } while (0)

/* "required" and "dependentRequired". */
static bool check_required(const struct vctx *c, const struct node *n, json_t *inst,
                           const struct ipath *path)
{
    bool ok = true;
    size_t i;
    json_t *name;
    for (i = 0; i < n->n_required; i++) {
        if (json_object_getn(inst, n->required[i].key, n->required[i].len))
            continue;
        report(c, path, "required", "missing required property \"%s\"",
               n->required[i].key);
        FAILED();
    }
    for (size_t d = 0; d < n->n_dep_required; d++) {
        const struct dep_required *dr = &n->dep_required[d];
        if (!json_object_getn(inst, dr->key, dr->len))
            continue;
        json_array_foreach(dr->names, i, name) {
            if (!json_is_string(name) ||
                json_object_getn(inst, json_string_value(name), json_string_length(name)))
                continue;
            report(c, path, "dependentRequired",
                   "missing property \"%s\" (required when \"%s\" is present)",
                   json_string_value(name), dr->key);
            FAILED();
        }
    }
    return ok;
}

/* Applies u, the schema for the members of inst that no other keyword took
 * (additionalProperties, unevaluatedProperties or unevaluatedItems, the
 * keyword kw), to member v at sub; a false u makes the member unexpected. */
static bool apply_leftover(const struct vctx *c, const struct node *u, const char *kw,
                           json_t *v, const struct ipath *sub, const struct scope *scope,
                           unsigned depth)
{
    if (!u->is_bool || u->bool_value)
        return apply(c, u, v, sub, scope, depth + 1);
    if (sub->key)
        report(c, sub->up, kw, "unexpected property \"%.*s\"",
               (int)(sub->len > 100 ? 100 : sub->len), sub->key);
    else
        report(c, sub, kw, "unexpected item");
    return false;
}

/* "properties", "patternProperties", "additionalProperties" and
 * "propertyNames" on one property of an object. */
static bool apply_property(const struct vctx *c, const struct node *n, void *it,
                           const struct ipath *path, const struct scope *scope,
                           unsigned depth)
{
    const char *key = json_object_iter_key(it);
    size_t klen = json_object_iter_key_len(it);
    json_t *v = json_object_iter_value(it);
    bool ok = true, matched = false;
    struct ipath sub = {path, key, klen, 0};
    for (size_t i = 0; i < n->n_props; i++) {
        if (n->props[i].len != klen || memcmp(n->props[i].key, key, klen) != 0)
            continue;
        matched = true;
        if (!apply(c, n->props[i].node, v, &sub, scope, depth + 1))
            FAILED();
        break;
    }
    for (size_t i = 0; i < n->n_pprops; i++) {
        int m = schema_regex_match(n->pprops[i].re, key, klen);
        if (m < 0) {
            ok = false;
            report(c, &sub, "patternProperties", "property name is too costly to match");
        }
        if (m != 1)
            continue;
        matched = true;
        if (!apply(c, n->pprops[i].node, v, &sub, scope, depth + 1))
            FAILED();
    }
    if (!matched && n->additional &&
        !apply_leftover(c, n->additional, "additionalProperties", v, &sub, scope, depth))
        FAILED();
    if (n->property_names) {
        struct vctx q = {c->st, false};
        if (!apply_name(&q, n->property_names, key, klen, scope, depth + 1)) {
            report(c, path, "propertyNames", "property name \"%.*s\" is not allowed",
                   (int)(klen > 100 ? 100 : klen), key);
            FAILED();
        }
    }
    return ok;
}

static bool apply_object(const struct vctx *c, const struct node *n, json_t *inst,
                         const struct ipath *path, const struct scope *scope,
                         unsigned depth)
{
    bool ok = true;
    if (!check_count(c, path, json_object_size(inst), n->min_props, n->max_props,
                     &property_words))
        FAILED();
    if ((n->n_required || n->n_dep_required) && !check_required(c, n, inst, path))
        FAILED();
    for (size_t d = 0; d < n->n_dep_schemas; d++)
        if (json_object_getn(inst, n->dep_schemas[d].key, n->dep_schemas[d].len) &&
            !apply(c, n->dep_schemas[d].node, inst, path, scope, depth + 1))
            FAILED();
    if (!n->n_props && !n->n_pprops && !n->additional && !n->property_names)
        return ok;
    for (void *it = json_object_iter(inst); it; it = json_object_iter_next(inst, it))
        if (!apply_property(c, n, it, path, scope, depth))
            FAILED();
    return ok;
}

/* "contains" with "minContains" and "maxContains". */
static bool apply_contains(const struct vctx *c, const struct node *n, json_t *inst,
                           const struct ipath *path, const struct scope *scope,
                           unsigned depth)
{
    bool ok = true;
    struct vctx q = {c->st, false};
    size_t count = 0;
    bool need_all = n->max_contains != SIZE_MAX;
    for (size_t i = 0; i < json_array_size(inst); i++) {
        struct ipath sub = {path, NULL, 0, i};
        count += apply(&q, n->contains, json_array_get(inst, i), &sub, scope, depth + 1);
        if (!need_all && count >= n->min_contains)
            break;
    }
    if (count < n->min_contains) {
        if (n->min_contains == 1)
            report(c, path, "contains", "must contain at least one matching item");
        else
            report(c, path, "minContains", "must contain at least %zu matching items",
                   n->min_contains);
        FAILED();
    }
    if (need_all && count > n->max_contains) {
        report(c, path, "maxContains", "must contain at most %zu matching items",
               n->max_contains);
        FAILED();
    }
    return ok;
}

static bool apply_array(const struct vctx *c, const struct node *n, json_t *inst,
                        const struct ipath *path, const struct scope *scope,
                        unsigned depth)
{
    bool ok = true;
    size_t size = json_array_size(inst);
    if (!check_count(c, path, size, n->min_items, n->max_items, &item_words))
        FAILED();
    size_t i, j;
    if (n->unique && !items_unique(c, inst, &i, &j)) {
        report(c, path, "uniqueItems",
               "must not contain duplicates (items %zu and %zu are equal)", i, j);
        FAILED();
    }
    for (i = 0; i < size && (i < n->n_prefix || n->items); i++) {
        struct ipath sub = {path, NULL, 0, i};
        const struct node *s = i < n->n_prefix ? n->prefix[i] : n->items;
        if (s->is_bool && !s->bool_value) {
            report(c, path, "items", "must have at most %zu items", n->n_prefix);
            FAILED();
            break;
        }
        if (!apply(c, s, json_array_get(inst, i), &sub, scope, depth + 1))
            FAILED();
    }
    if (n->contains && !apply_contains(c, n, inst, path, scope, depth))
        FAILED();
    return ok;
}

/* Message builders, kept out of apply() so its stack frame stays small
 * on the path that finds nothing wrong. */
static __attribute__((noinline)) void report_type(const struct vctx *c,
                                                  const struct node *n,
                                                  const json_t *inst,
                                                  const struct ipath *path)
{
    if (!collecting(c))
        return;
    char want[128];
    types_text(n->types, want, sizeof(want));
    report(c, path, "type", "must be %s, not %s", want, instance_type_name(inst));
}

static __attribute__((noinline)) void
report_const(const struct vctx *c, const struct node *n, const struct ipath *path)
{
    if (!collecting(c))
        return;
    char text[100];
    value_text(n->const_value, text, sizeof(text));
    report(c, path, "const", "must be %s", text);
}

static __attribute__((noinline)) void
report_enum(const struct vctx *c, const struct node *n, const struct ipath *path)
{
    if (!collecting(c))
        return;
    char text[300] = "";
    size_t off = 0, i;
    json_t *v;
    json_array_foreach(n->enum_values, i, v) {
        char one[100];
        value_text(v, one, sizeof(one));
        int w = snprintf(text + off, sizeof(text) - off, "%s%s", i ? ", " : "", one);
        if (w < 0 || (size_t)w >= sizeof(text) - off) {
            snprintf(text + (off > sizeof(text) - 5 ? sizeof(text) - 5 : off), 5, "...");
            break;
        }
        off += (size_t)w;
    }
    report(c, path, "enum", "must be one of %s", text);
}

static __attribute__((noinline)) void report_number(const struct vctx *c,
                                                    const struct ipath *path,
                                                    const char *kw, const char *must_be,
                                                    const struct num *limit)
{
    if (!collecting(c))
        return;
    char text[40];
    num_format(limit, text, sizeof(text));
    report(c, path, kw, "must be %s %s", must_be, text);
}

static bool check_number(const struct vctx *c, const struct node *n, const json_t *inst,
                         const struct ipath *path)
{
    struct num x;
    bool ok = true;
    num_of(inst, &x);
    for (unsigned i = 0; i < NUMBER_BOUNDS; i++) {
        if ((n->bounds_set & (1u << i)) &&
            number_bounds[i].fails[num_cmp(&x, &n->bounds[i]) + 1]) {
            ok = false;
            report_number(c, path, number_bounds[i].kw, number_bounds[i].must_be,
                          &n->bounds[i]);
        }
    }
    if (n->multiple.d > 0 && !num_multiple(&x, &n->multiple)) {
        ok = false;
        report_number(c, path, "multipleOf", "a multiple of", &n->multiple);
    }
    return ok;
}

/* "$ref", "$dynamicRef", "const" and "enum": the keywords that look at
 * the whole value before its type-specific keywords. */
static bool apply_values(const struct vctx *c, const struct node *n, json_t *inst,
                         const struct ipath *path, const struct scope *scope,
                         unsigned depth)
{
    bool ok = true;
    if (n->ref && !apply(c, n->ref, inst, path, scope, depth + 1))
        FAILED();
    if (n->dynref && !apply(c, dynamic_target(n, scope), inst, path, scope, depth + 1))
        FAILED();
    if (n->const_value && !equal_or_deep(c, n->const_value, inst)) {
        report_const(c, n, path);
        FAILED();
    }
    if (n->enum_values) {
        size_t i;
        json_t *v;
        bool any = false;
        json_array_foreach(n->enum_values, i, v)
            if (equal_or_deep(c, v, inst)) {
                any = true;
                break;
            }
        if (!any) {
            report_enum(c, n, path);
            FAILED();
        }
    }

    return ok;
}

/* "anyOf" (enough 1) or "oneOf" (enough 2): list holds for inst when
 * exactly one alternative matches among the first enough that do. */
static bool apply_alternatives(const struct vctx *c, const char *kw, struct node **list,
                               size_t len, size_t enough, json_t *inst,
                               const struct ipath *path, const struct scope *scope,
                               unsigned depth)
{
    struct vctx q = {c->st, false};
    size_t count = 0, first = 0, second = 0;
    for (size_t i = 0; i < len && count < enough; i++) {
        if (apply(&q, list[i], inst, path, scope, depth + 1)) {
            if (count++ == 0)
                first = i;
            else
                second = i;
        }
    }
    if (count == 0)
        report_alternatives(c, kw, list, len, inst, path, scope, depth);
    else if (count > 1)
        report(c, path, kw, "must match exactly one alternative, but matches %zu and %zu",
               first, second);
    return count == 1;
}

/* "not", and "if" with "then" or "else". */
static bool apply_conditionals(const struct vctx *c, const struct node *n, json_t *inst,
                               const struct ipath *path, const struct scope *scope,
                               unsigned depth)
{
    bool ok = true;
    struct vctx q = {c->st, false};
    if (n->not_ && apply(&q, n->not_, inst, path, scope, depth + 1)) {
        report(c, path, "not", "must not match the schema in \"not\"");
        FAILED();
    }
    if (n->if_) {
        const struct node *branch =
            apply(&q, n->if_, inst, path, scope, depth + 1) ? n->then_ : n->else_;
        if (branch && !apply(c, branch, inst, path, scope, depth + 1))
            FAILED();
    }
    return ok;
}

static bool apply_unevaluated_props(const struct vctx *c, const struct node *n,
                                    json_t *inst, const struct ipath *path,
                                    const struct scope *scope, unsigned depth)
{
    bool ok = true;
    struct vctx q = {c->st, false};
    const char *key;
    size_t klen;
    json_t *v;
    json_object_keylen_foreach(inst, key, klen, v)
    {
        struct ipath sub = {path, key, klen, 0};
        if (!evaluated(&q, n, inst, &sub, scope, depth, true) &&
            !apply_leftover(c, n->unevaluated_props, "unevaluatedProperties", v, &sub,
                            scope, depth))
            FAILED();
    }
    return ok;
}

static bool apply_unevaluated_items(const struct vctx *c, const struct node *n,
                                    json_t *inst, const struct ipath *path,
                                    const struct scope *scope, unsigned depth)
{
    bool ok = true;
    struct vctx q = {c->st, false};
    for (size_t i = 0; i < json_array_size(inst); i++) {
        struct ipath sub = {path, NULL, 0, i};
        if (!evaluated(&q, n, inst, &sub, scope, depth, true) &&
            !apply_leftover(c, n->unevaluated_items, "unevaluatedItems",
                            json_array_get(inst, i), &sub, scope, depth))
            FAILED();
    }
    return ok;
}

/* The in-place applicators that combine subschemas over the same value,
 * and the unevaluated keywords that depend on them. */
static bool apply_inplace(const struct vctx *c, const struct node *n, json_t *inst,
                          const struct ipath *path, const struct scope *scope,
                          unsigned depth)
{
    bool ok = true;
    for (size_t i = 0; i < n->n_all; i++)
        if (!apply(c, n->all_of[i], inst, path, scope, depth + 1))
            FAILED();
    if (n->n_any &&
        !apply_alternatives(c, "anyOf", n->any_of, n->n_any, 1, inst, path, scope, depth))
        FAILED();
    if (n->n_one &&
        !apply_alternatives(c, "oneOf", n->one_of, n->n_one, 2, inst, path, scope, depth))
        FAILED();
    if ((n->not_ || n->if_) && !apply_conditionals(c, n, inst, path, scope, depth))
        FAILED();
    if (n->unevaluated_props && json_is_object(inst) &&
        !apply_unevaluated_props(c, n, inst, path, scope, depth))
        FAILED();
    if (n->unevaluated_items && json_is_array(inst) &&
        !apply_unevaluated_items(c, n, inst, path, scope, depth))
        FAILED();
    return ok;
}

static bool apply(const struct vctx *c, const struct node *n, json_t *inst,
                  const struct ipath *path, const struct scope *scope, unsigned depth)
{
    if (n->is_bool) {
        if (!n->bool_value)
            report(c, path, "false", "is not allowed here");
        return n->bool_value;
    }
    if (!enter(c, path, depth))
        return false;
    struct scope sc;
    scope = scope_enter(c->st, &sc, scope, n);
    bool ok = true;

    if (n->types) {
        unsigned t = instance_type(inst);
        if (!(n->types & t)) {
            report_type(c, n, inst, path);
            /* Everything else about a value of the wrong type is noise. */
            return false;
        }
    }
    if (n->inplace && !apply_values(c, n, inst, path, scope, depth))
        FAILED();

    switch (json_typeof(inst)) {
    case JSON_INTEGER:
    case JSON_REAL:
        if ((n->bounds_set || n->multiple.d > 0) && !check_number(c, n, inst, path))
            FAILED();
        break;
    case JSON_STRING:
        if (!check_string(c, n, json_string_value(inst), json_string_length(inst), path))
            FAILED();
        break;
    case JSON_OBJECT:
        if (!apply_object(c, n, inst, path, scope, depth))
            FAILED();
        break;
    case JSON_ARRAY:
        if (!apply_array(c, n, inst, path, scope, depth))
            FAILED();
        break;
    default:
        break;
    }

    if (n->inplace && !apply_inplace(c, n, inst, path, scope, depth))
        FAILED();
    return ok && !c->st->stop;
}

#undef FAILED

bool schema_validate(const struct schema *schema, json_t *instance,
                     struct schema_errors *errors)
{
    struct vstate st = {schema, errors, schema->max_errors, schema->max_steps, 0};
    struct vctx c = {&st, errors != NULL};
    struct ipath root = {NULL, NULL, 0, 0};

    if (errors)
        memset(errors, 0, sizeof(*errors));
    bool ok = apply(&c, schema->root, instance, &root, NULL, 0);
    if (st.stop & STOP_STEPS) {
        ok = false;
        /* report() reads st through c and records nothing while stopped. */
        st.stop = 0; // cppcheck-suppress unreadVariable
        report(&c, &root, "maxSteps",
               "validation stopped after %zu steps: the schema is too costly for this "
               "value",
               schema->max_steps);
    } else if (st.stop) {
        ok = false;
        if (errors && errors->count == 0 && !errors->truncated)
            report(&c, &root, "$ref", "nesting exceeds %u levels", schema->max_depth);
    }
    return ok;
}

void schema_errors_finish(struct schema_errors *errors)
{
    if (!errors)
        return;
    for (size_t i = 0; i < errors->count; i++) {
        free(errors->items[i].instance_path);
        free(errors->items[i].keyword);
        free(errors->items[i].message);
    }
    free(errors->items);
    memset(errors, 0, sizeof(*errors));
}

char *schema_errors_text(const struct schema_errors *errors)
{
    struct dynbuf b;
    dynbuf_init(&b, 1 << 20);
    for (size_t i = 0; errors && i < errors->count; i++) {
        const struct schema_error *e = &errors->items[i];
        if (i)
            dynbuf_append(&b, "\n", 1);
        dynbuf_append_str(&b, e->instance_path[0] ? e->instance_path : "/");
        dynbuf_append(&b, ": ", 2);
        dynbuf_append_str(&b, e->message);
    }
    if (errors && errors->truncated)
        dynbuf_append_str(&b, errors->count ? "\n... and more errors"
                                            : "... and more errors");
    char *s = dynbuf_take(&b, NULL);
    return s ? s : strdup("");
}
