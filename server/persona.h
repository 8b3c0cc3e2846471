/* Personas: the clients one server serves, each with its bearer token
 * (kept only as its SHA-256), its tools, its auth key and its defaults,
 * loaded from the personas file (MSG91_PERSONAS). A loaded set is
 * immutable and reference-counted, so a reload (SIGHUP) swaps in a new set
 * while calls that started under the old one still hold it.
 * Design note: doc/personas.md. */
#ifndef MSG91_PERSONA_H
#define MSG91_PERSONA_H

#include <stdbool.h>
#include <stddef.h>

#include "server/config.h"
#include "tools/service.h"

#define PERSONA_NAME_MAX 64
#define PERSONA_DIGEST_LEN 32     /* SHA-256 */
#define PERSONA_DIGEST_HEX_LEN 64 /* two digits a byte */
/* Random bytes in a token made by persona_token_new. */
#define PERSONA_TOKEN_BYTES 32

struct persona_set;

/* Everything is owned by the set. A setting the file leaves out is
 * "unset" and the server's own applies. */
struct persona {
    char *name;
    unsigned char token_sha256[PERSONA_DIGEST_LEN];
    bool has_tools;                            /* "tools" given */
    bool tools[CONFIG_MAX_TOOLS];              /* by tool_table index, when has_tools */
    int read_only;                             /* -1 unset, else 0 or 1 */
    char *auth_key_file;                       /* NULL: the server's key */
    char *auth_key;                            /* secret; registered for redaction */
    char *tool_settings[SERVICE_SETTINGS_LEN]; /* NULL: the server's */
    long limits[SERVICE_LIMITS_LEN];           /* -1 unset, 0 no limit */
    char **country_codes;                      /* NULL unset; else digit strings */
    size_t n_country_codes;
    struct persona_set *set; /* the set that owns it */
};

/* Loads and checks the personas file at path. Every key named by a
 * persona is read at once and registered for redaction, and so is every
 * token digest. Returns 0 with *out holding one reference, or a negative
 * errno with *error set to a malloc'd sentence naming the file, the
 * persona and the field (NULL only when even that could not be
 * allocated); nothing is kept then, but secrets already registered stay
 * registered, which only means more is redacted. */
int persona_set_load(const char *path, struct persona_set **out, char **error);

/* Reference counting; the set is freed (keys wiped) with the last
 * reference. Both accept NULL. Not thread-safe: the loop thread only. */
struct persona_set *persona_set_ref(struct persona_set *set);
void persona_set_unref(struct persona_set *set);

/* The file the set was loaded from (borrowed). */
const char *persona_set_path(const struct persona_set *set);
size_t persona_set_count(const struct persona_set *set);
/* The i-th persona in file order (borrowed), or NULL past the end. */
const struct persona *persona_set_at(const struct persona_set *set, size_t i);
/* The persona called name (borrowed), or NULL. */
const struct persona *persona_set_find(const struct persona_set *set, const char *name);

/* The persona whose token the value of an Authorization header carries
 * ("Bearer TOKEN", the scheme in any case), or NULL when the value is NULL,
 * malformed or matches none. The token's SHA-256 is compared with every
 * persona's digest in constant time, and all are compared whatever
 * matched, so timing tells nothing about the digests. Borrowed: hold a
 * reference to the set (persona_set_ref(p->set)) to keep it past the
 * current loop turn. set may be NULL. */
const struct persona *persona_set_authenticate(const struct persona_set *set,
                                               const char *authorization_header_value);

/* True when persona p may see and call tool index i: its own "tools" and
 * "read_only" when given, else the server's (cfg). */
bool persona_tool_allowed(const struct persona *p, const struct config *cfg, unsigned i);

/* The SHA-256 of len bytes of data as 64 lowercase hex digits and a NUL:
 * 0, or -ENOENT when the digest module (server/digest.h) cannot be loaded. */
int persona_sha256_hex(const void *data, size_t len,
                       char out[PERSONA_DIGEST_HEX_LEN + 1]);

/* A new random token (PERSONA_TOKEN_BYTES from getrandom, base64url
 * without padding) and its SHA-256 in hex, both malloc'd. Returns 0, or a
 * negative errno (no random source, out of memory, -ENOENT: no digest
 * module). */
int persona_token_new(char **token, char **digest_hex);

#endif
