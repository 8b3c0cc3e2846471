#include "server/persona.h"

#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include "server/digest.h"
#include "tools/tool.h"
#include "util/jsonload.h"
#include "util/pct.h"
#include "util/redact.h"

/* A per-persona default is an identifier, never a document. */
#define SETTING_MAX 256
/* Sends per day and per hour: beyond a billion a limit means nothing. */
#define LIMIT_MAX 1000000000L

struct persona_set {
    unsigned refs;
    char *path;
    struct persona *items;
    size_t count;
};

/* Where a value sits, for the sentence that says what is wrong with it. */
struct load_ctx {
    const char *path;
    size_t index;     /* 1-based position in "personas" */
    const char *name; /* NULL until the persona's name was read */
    char **error;
};

static int fail(struct load_ctx *ctx, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(struct load_ctx *ctx, const char *field, const char *fmt, ...)
{
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char who[PERSONA_NAME_MAX + 64];
    if (ctx->name)
        snprintf(who, sizeof who, "persona \"%s\"", ctx->name);
    else
        snprintf(who, sizeof who, "persona %zu (counting from 1)", ctx->index);
    int n;
    if (field)
        n = asprintf(ctx->error, "the personas file %s: %s: \"%s\" %s", ctx->path, who,
                     field, what);
    else
        n = asprintf(ctx->error, "the personas file %s: %s: %s", ctx->path, who, what);
    if (n < 0)
        *ctx->error = NULL;
    return -EINVAL;
}

static void persona_free(struct persona *p)
{
    free(p->name);
    free(p->auth_key_file);
    if (p->auth_key) {
        redact_wipe(p->auth_key, strlen(p->auth_key));
        free(p->auth_key);
    }
    for (unsigned i = 0; i < SERVICE_SETTINGS_LEN; i++)
        free(p->tool_settings[i]);
    for (size_t i = 0; i < p->n_country_codes; i++)
        free(p->country_codes[i]);
    free(p->country_codes);
}

static void set_free(struct persona_set *set)
{
    for (size_t i = 0; i < set->count; i++)
        persona_free(&set->items[i]);
    free(set->items);
    free(set->path);
    free(set);
}

struct persona_set *persona_set_ref(struct persona_set *set)
{
    if (set)
        set->refs++;
    return set;
}

void persona_set_unref(struct persona_set *set)
{
    if (set && --set->refs == 0)
        set_free(set);
}

static bool valid_name(const char *s)
{
    size_t n = strlen(s);
    return n >= 1 && n <= PERSONA_NAME_MAX &&
           strspn(s,
                  "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") ==
               n;
}

static int load_name(struct load_ctx *ctx, struct persona *p, json_t *obj)
{
    json_t *v = json_object_get(obj, "name");
    if (!v)
        return fail(ctx, NULL, "has no \"name\"; every persona needs one");
    if (!json_is_string(v))
        return fail(ctx, "name", "must be a string, not %s", jsonload_kind(v));
    if (!valid_name(json_string_value(v)))
        return fail(ctx, "name",
                    "must be 1 to %d letters, digits, '.', '_' or '-' (it is what the "
                    "audit log and MSG91_PERSONA name)",
                    PERSONA_NAME_MAX);
    if (!(p->name = strdup(json_string_value(v))))
        return -ENOMEM;
    ctx->name = p->name;
    return 0;
}

/* The digest is not the token, but it is kept out of every output all the
 * same: it identifies the persona's token and is all an attacker would
 * need to try guesses offline. */
static int register_digest(const char *text)
{
    char lower[PERSONA_DIGEST_HEX_LEN + 1];
    for (size_t i = 0; i <= PERSONA_DIGEST_HEX_LEN; i++)
        lower[i] =
            (char)((text[i] >= 'A' && text[i] <= 'F') ? text[i] - 'A' + 'a' : text[i]);
    return redact_add_secret(text) == 0 && redact_add_secret(lower) == 0 ? 0 : -ENOMEM;
}

static int load_digest(struct load_ctx *ctx, struct persona *p, json_t *obj)
{
    json_t *v = json_object_get(obj, "token_sha256");
    if (!v)
        return fail(ctx, NULL,
                    "has no \"token_sha256\"; make a token and its digest with "
                    "`msg91-mcp token`");
    if (!json_is_string(v))
        return fail(ctx, "token_sha256", "must be a string, not %s", jsonload_kind(v));
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    bool ok = n == PERSONA_DIGEST_HEX_LEN;
    for (size_t i = 0; ok && i < n; i++)
        ok = pct_hex_value(s[i]) >= 0;
    if (!ok)
        return fail(ctx, "token_sha256",
                    "must be 64 hexadecimal digits, the SHA-256 of the token (not the "
                    "token itself), as `msg91-mcp token` prints it; it has %zu "
                    "characters",
                    n);
    for (size_t i = 0; i < PERSONA_DIGEST_LEN; i++)
        p->token_sha256[i] =
            (unsigned char)(pct_hex_value(s[2 * i]) << 4 | pct_hex_value(s[2 * i + 1]));
    return register_digest(s);
}

static int load_tools(struct load_ctx *ctx, struct persona *p, json_t *v)
{
    if (!json_is_array(v))
        return fail(ctx, "tools", "must be a list of tool names, not %s",
                    jsonload_kind(v));
    p->has_tools = true;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        if (!json_is_string(item))
            return fail(ctx, "tools", "item %zu must be a tool name, not %s", i + 1,
                        jsonload_kind(item));
        const char *name = json_string_value(item);
        unsigned t = 0;
        while (t < tool_table_len && t < CONFIG_MAX_TOOLS &&
               strcmp(tool_table[t]->name, name) != 0)
            t++;
        if (t == tool_table_len || t == CONFIG_MAX_TOOLS)
            return fail(ctx, "tools",
                        "item %zu names no tool of this server (`msg91-mcp list` "
                        "prints them): \"%.64s\"",
                        i + 1, name);
        p->tools[t] = true;
    }
    return 0;
}

/* The key is read now, so a missing file shows at load and not at the
 * first call, and it is registered for redaction before anything else
 * happens to it. */
static int load_key_file(struct load_ctx *ctx, struct persona *p, json_t *v)
{
    if (!json_is_string(v) || !*json_string_value(v))
        return fail(ctx, "auth_key_file", "must be the path of a file, not %s",
                    json_is_string(v) ? "an empty string" : jsonload_kind(v));
    if (!(p->auth_key_file = strdup(json_string_value(v))))
        return -ENOMEM;
    char *why = NULL;
    int rc = config_read_key_file(p->auth_key_file, &p->auth_key, &why);
    if (rc == 0 && redact_add_secret(p->auth_key) != 0)
        rc = -ENOMEM;
    if (rc == 0)
        rc = config_check_key(p->auth_key, "the key it names", &why);
    if (rc == -EINVAL)
        rc = fail(ctx, "auth_key_file", "is unusable: %s", why ? why : "unknown error");
    free(why);
    return rc;
}

static int load_read_only(struct load_ctx *ctx, struct persona *p, json_t *v)
{
    if (!json_is_boolean(v))
        return fail(ctx, "read_only", "must be true or false, not %s", jsonload_kind(v));
    p->read_only = json_is_true(v);
    return 0;
}

static int load_country_codes(struct load_ctx *ctx, struct persona *p, json_t *v)
{
    const char *field = "limits.allowed_country_codes";
    if (!json_is_array(v))
        return fail(ctx, field,
                    "must be a list of country calling codes such as \"91\", "
                    "not %s",
                    jsonload_kind(v));
    p->country_codes = calloc(json_array_size(v) + 1, sizeof *p->country_codes);
    if (!p->country_codes)
        return -ENOMEM;
    size_t i;
    json_t *item;
    json_array_foreach(v, i, item) {
        const char *s = json_string_value(item);
        size_t n = s ? strlen(s) : 0;
        if (!s || n < 1 || n > 3 || strspn(s, "0123456789") != n || s[0] == '0')
            return fail(ctx, field,
                        "item %zu must be a country calling code of 1 to 3 digits as a "
                        "string, such as \"91\"",
                        i + 1);
        if (!(p->country_codes[i] = strdup(s)))
            return -ENOMEM;
        p->n_country_codes = i + 1;
    }
    return 0;
}

static const char *const limit_keys[] = {
#define LIMIT_KEY(id, key, help) key,
    SERVICE_LIMITS(LIMIT_KEY)
#undef LIMIT_KEY
};

static int load_limit(struct load_ctx *ctx, struct persona *p, const char *key, json_t *v)
{
    if (!strcmp(key, "allowed_country_codes"))
        return load_country_codes(ctx, p, v);
    for (unsigned i = 0; i < SERVICE_LIMITS_LEN; i++) {
        if (strcmp(limit_keys[i], key) != 0)
            continue;
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > LIMIT_MAX)
            return fail(ctx, "limits",
                        "member \"%s\" must be a whole number from 0 (no "
                        "limit) to %ld, not %s",
                        key, LIMIT_MAX,
                        json_is_integer(v) ? "one out of that range" : jsonload_kind(v));
        p->limits[i] = (long)json_integer_value(v);
        return 0;
    }
    char known[256] = "";
    for (unsigned i = 0; i < SERVICE_LIMITS_LEN; i++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s, ",
                 limit_keys[i]);
    return fail(ctx, "limits",
                "has an unknown member \"%.64s\"; it takes %sand allowed_country_codes",
                key, known);
}

static int load_limits(struct load_ctx *ctx, struct persona *p, json_t *v)
{
    if (!json_is_object(v))
        return fail(ctx, "limits", "must be an object, not %s", jsonload_kind(v));
    const char *key;
    json_t *value;
    json_object_foreach(v, key, value) {
        int rc = load_limit(ctx, p, key, value);
        if (rc != 0)
            return rc;
    }
    return 0;
}

static const char *const setting_keys[] = {
#define SETTING_KEY(id, env, flag, key, help) key,
    SERVICE_SETTINGS(SETTING_KEY)
#undef SETTING_KEY
};

/* A default the tools take from the configuration, set for this persona;
 * returns 1 when key is none of them. */
static int load_setting(struct load_ctx *ctx, struct persona *p, const char *key,
                        json_t *v)
{
    for (unsigned i = 0; i < SERVICE_SETTINGS_LEN; i++) {
        if (strcmp(setting_keys[i], key) != 0)
            continue;
        const char *s = json_string_value(v);
        if (!s)
            return fail(ctx, key, "must be a string, not %s", jsonload_kind(v));
        if (!*s || strlen(s) > SETTING_MAX)
            return fail(ctx, key, "must hold 1 to %d bytes", SETTING_MAX);
        return (p->tool_settings[i] = strdup(s)) ? 0 : -ENOMEM;
    }
    return 1;
}

static int load_member(struct load_ctx *ctx, struct persona *p, const char *key,
                       json_t *v)
{
    if (!strcmp(key, "name") || !strcmp(key, "token_sha256"))
        return 0;
    if (!strcmp(key, "tools"))
        return load_tools(ctx, p, v);
    if (!strcmp(key, "read_only"))
        return load_read_only(ctx, p, v);
    if (!strcmp(key, "auth_key_file"))
        return load_key_file(ctx, p, v);
    if (!strcmp(key, "limits"))
        return load_limits(ctx, p, v);
    if (!strcmp(key, "token") || !strcmp(key, "auth_key"))
        return fail(ctx, key,
                    "must not be in the file: it holds %s, and secrets stay out of it "
                    "(use %s)",
                    !strcmp(key, "token") ? "the token's SHA-256, never the token"
                                          : "a key file's path, never the key",
                    !strcmp(key, "token") ? "\"token_sha256\"" : "\"auth_key_file\"");
    int rc = load_setting(ctx, p, key, v);
    if (rc <= 0)
        return rc;
    return fail(ctx, NULL, "has an unknown member \"%.64s\"", key);
}

static int load_persona(struct load_ctx *ctx, struct persona *p, json_t *obj)
{
    p->read_only = -1;
    for (unsigned i = 0; i < SERVICE_LIMITS_LEN; i++)
        p->limits[i] = -1;
    if (!json_is_object(obj))
        return fail(ctx, NULL, "must be an object, not %s", jsonload_kind(obj));
    int rc = load_name(ctx, p, obj);
    if (rc == 0)
        rc = load_digest(ctx, p, obj);
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value) {
        if (rc == 0)
            rc = load_member(ctx, p, key, value);
    }
    return rc;
}

/* Names identify personas in logs and MSG91_PERSONA, and a token must
 * select exactly one persona. */
static int check_unique(struct load_ctx *ctx, struct persona_set *set)
{
    for (size_t i = 0; i < set->count; i++) {
        for (size_t j = 0; j < i; j++) {
            ctx->index = i + 1;
            ctx->name = set->items[i].name;
            /* Every persona loaded has its name: load_name ran first. */
            // NOLINTNEXTLINE(clang-analyzer-core.NonNullParamChecker): see above
            if (!strcmp(set->items[i].name, set->items[j].name))
                return fail(ctx, NULL, "appears twice; names must be unique");
            if (!memcmp(set->items[i].token_sha256, set->items[j].token_sha256,
                        PERSONA_DIGEST_LEN))
                return fail(ctx, "token_sha256",
                            "is the same as persona \"%s\"'s; give each persona its own "
                            "token",
                            set->items[j].name);
        }
    }
    return 0;
}

static int load_root(struct load_ctx *ctx, struct persona_set *set, json_t *root)
{
    json_t *list = json_object_get(root, "personas");
    const char *key;
    json_t *value;
    json_object_foreach(root, key, value) {
        if (strcmp(key, "personas") == 0)
            continue;
        if (asprintf(ctx->error,
                     "the personas file %s has an unknown member \"%.64s\"; it holds "
                     "{\"personas\": [...]}",
                     ctx->path, key) < 0)
            *ctx->error = NULL;
        return -EINVAL;
    }
    if (!json_is_array(list)) {
        if (asprintf(ctx->error,
                     "the personas file %s must hold {\"personas\": [...]}, a list of "
                     "personas",
                     ctx->path) < 0)
            *ctx->error = NULL;
        return -EINVAL;
    }
    size_t n = json_array_size(list);
    if (n && !(set->items = calloc(n, sizeof *set->items)))
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        *ctx = (struct load_ctx){ctx->path, i + 1, NULL, ctx->error};
        set->items[i].set = set;
        set->count = i + 1;
        int rc = load_persona(ctx, &set->items[i], json_array_get(list, i));
        if (rc != 0)
            return rc;
    }
    return check_unique(ctx, set);
}

int persona_set_load(const char *path, struct persona_set **out, char **error)
{
    *out = NULL;
    *error = NULL;
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        /* jansson's text quotes no value, only what it expected. */
        int n = jerr.line > 0 ? asprintf(error,
                                         "cannot load the personas file %s: line %d, "
                                         "column %d: %s",
                                         path, jerr.line, jerr.column, jerr.text)
                              : asprintf(error, "cannot load the personas file %s: %s",
                                         path, jerr.text);
        if (n < 0)
            *error = NULL;
        return -EINVAL;
    }
    struct persona_set *set = calloc(1, sizeof *set);
    int rc = -ENOMEM;
    if (set && (set->path = strdup(path))) {
        set->refs = 1;
        struct load_ctx ctx = {path, 0, NULL, error};
        rc = load_root(&ctx, set, root);
    }
    json_decref(root);
    if (rc != 0) {
        if (set)
            set_free(set);
        if (!*error &&
            asprintf(error, "out of memory while loading the personas file %s", path) < 0)
            *error = NULL;
        return rc;
    }
    *out = set;
    return 0;
}

const char *persona_set_path(const struct persona_set *set)
{
    return set->path;
}

size_t persona_set_count(const struct persona_set *set)
{
    return set ? set->count : 0;
}

const struct persona *persona_set_at(const struct persona_set *set, size_t i)
{
    return set && i < set->count ? &set->items[i] : NULL;
}

const struct persona *persona_set_find(const struct persona_set *set, const char *name)
{
    for (size_t i = 0; set && name && i < set->count; i++)
        if (!strcmp(set->items[i].name, name))
            return &set->items[i];
    return NULL;
}

_Static_assert(PERSONA_DIGEST_LEN == DIGEST_SHA256_LEN, "persona digests are SHA-256");

/* The token of "Bearer TOKEN" (RFC 6750: the scheme in any case, then one
 * or more spaces, then a token68), with its length; NULL when malformed. */
static const char *bearer_token(const char *value, size_t *len)
{
    static const char scheme[] = "Bearer";
    while (*value == ' ' || *value == '\t')
        value++;
    if (strncasecmp(value, scheme, sizeof scheme - 1) != 0 ||
        (value[sizeof scheme - 1] != ' ' && value[sizeof scheme - 1] != '\t'))
        return NULL;
    const char *t = value + sizeof scheme - 1;
    while (*t == ' ' || *t == '\t')
        t++;
    size_t n = strcspn(t, " \t");
    const char *rest = t + n;
    while (*rest == ' ' || *rest == '\t')
        rest++;
    if (n == 0 || *rest)
        return NULL;
    *len = n;
    return t;
}

const struct persona *persona_set_authenticate(const struct persona_set *set,
                                               const char *authorization_header_value)
{
    size_t len = 0;
    const char *token = authorization_header_value
                            ? bearer_token(authorization_header_value, &len)
                            : NULL;
    /* Without the digest module no token can be checked: refused. */
    const struct digest_api *d = digest_api();
    if (!set || !token || !d)
        return NULL;
    unsigned char digest[PERSONA_DIGEST_LEN];
    d->sha256(token, len, digest);
    const struct persona *found = NULL;
    for (size_t i = 0; i < set->count; i++) {
        int same = d->equal(digest, set->items[i].token_sha256, PERSONA_DIGEST_LEN);
        if (same && !found)
            found = &set->items[i];
    }
    redact_wipe(digest, sizeof digest);
    return found;
}

bool persona_tool_allowed(const struct persona *p, const struct config *cfg, unsigned i)
{
    if (i >= tool_table_len || i >= CONFIG_MAX_TOOLS)
        return false;
    bool enabled = p->has_tools ? p->tools[i] : cfg->tool_enabled[i];
    bool read_only = p->read_only >= 0 ? p->read_only == 1 : cfg->read_only;
    return enabled && (!read_only || tool_table[i]->read_only);
}

static void to_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[bytes[i] >> 4];
        out[2 * i + 1] = digits[bytes[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

int persona_sha256_hex(const void *data, size_t len, char out[PERSONA_DIGEST_HEX_LEN + 1])
{
    const struct digest_api *d = digest_api();
    if (!d)
        return -ENOENT;
    unsigned char digest[PERSONA_DIGEST_LEN];
    d->sha256(data, len, digest);
    to_hex(digest, sizeof digest, out);
    return 0;
}

static int random_bytes(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -errno;
        got += (size_t)r;
    }
    return 0;
}

int persona_token_new(char **token, char **digest_hex)
{
    *token = *digest_hex = NULL;
    unsigned char raw[PERSONA_TOKEN_BYTES];
    int rc = random_bytes(raw, sizeof raw);
    if (rc != 0)
        return rc;
    const struct digest_api *d = digest_api();
    if (!d)
        return -ENOENT;
    char text[DIGEST_BASE64_SIZE(PERSONA_TOKEN_BYTES)];
    size_t n = d->base64url(raw, sizeof raw, text);
    redact_wipe(raw, sizeof raw);
    *token = strdup(text);
    *digest_hex = malloc(PERSONA_DIGEST_HEX_LEN + 1);
    if (*digest_hex)
        persona_sha256_hex(text, n, *digest_hex);
    redact_wipe(text, sizeof text);
    if (!*token || !*digest_hex) {
        free(*token);
        free(*digest_hex);
        *token = *digest_hex = NULL;
        return -ENOMEM;
    }
    return 0;
}
