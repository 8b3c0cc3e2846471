/* Configuration: defaults, then an optional JSON file, then the
 * environment, then command-line flags (later sources win). Every value is
 * checked here, once, so the rest of the server can trust it; a bad value
 * is a startup error with a sentence saying what to fix. */
#ifndef MSG91_CONFIG_H
#define MSG91_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "tools/service.h"
#include "tools/tool.h"
#include "util/log.h"

#define CONFIG_MAX_TOOLS 32

struct config_endpoint {
    char *method; /* NULL: the tool's default */
    char *path;
    /* The arguments the file moves, ended by a NULL arg (arg and name
     * malloc'd); NULL: none. */
    struct tool_param *params;
};

struct config {
    char *auth_key;      /* secret: wiped by config_finish */
    char *auth_key_file; /* where it came from, if a file */
    char *base_url;      /* no trailing slash */
    /* The settings the tools add (tools/service.h); NULL when unset. */
    char *tool_settings[SERVICE_SETTINGS_LEN];
    long timeout_ms;
    bool tool_enabled[CONFIG_MAX_TOOLS]; /* by tool_table index */
    bool read_only;
    bool dry_run;
    char *audit_log;
    enum log_level log_level;
    long max_inflight;
    long max_queue;
    char *ca_file;
    char *tool_prefix;
    long max_line_bytes;
    char *personas_file; /* MSG91_PERSONAS, or NULL */
    char *persona;       /* MSG91_PERSONA: the persona served over stdio */
    /* `http` mode (server/http_serve.h); NULL when unset. */
    char *http_listen;          /* HOST:PORT */
    char *http_allowed_origins; /* comma list */
    char *http_tls_cert;        /* PEM files */
    char *http_tls_key;
    bool sandbox; /* --sandbox: every call goes to the built-in sandbox */
    /* Safe sends (doc/store.md). store is MSG91_STORE as given, or NULL for
     * the default (SQLite in the state folder); its Redis password, if any,
     * is registered for redaction as soon as it is read. */
    char *store;
    long idempotency_ttl_s;
    long duplicate_window_s;         /* 0: the duplicate guard is off */
    char *allowed_country_codes;     /* "91,971", or NULL: all */
    long limits[SERVICE_LIMITS_LEN]; /* SERVICE_LIMIT_SETTINGS; 0: no limit */
    struct config_endpoint endpoints[CONFIG_MAX_TOOLS]; /* by tool_table index */
};

/* Fills c with defaults; config_finish releases it. */
void config_init(struct config *c);
void config_finish(struct config *c);

/* Loads the file named by --config or MSG91_CONFIG, then the environment
 * (envp, NULL-terminated), then flags from argv. Flags the configuration
 * does not know are left in place: *rest receives the remaining arguments
 * (malloc'd array, NULL-terminated, pointing into argv; argv[0] excluded)
 * for the subcommand to read. Returns 0, or a negative errno (-EINVAL for a
 * bad value, -ENOMEM) with *error set to a malloc'd sentence (NULL only
 * when memory ran out even for that). The key is read before every other
 * value, so after a failure c->auth_key holds it when a source named a
 * readable one: register it for redaction before printing *error. */
int config_load(struct config *c, int argc, char **argv, char **envp, char ***rest,
                char **error);

/* True when tool index i is exposed by this configuration (allowlist and
 * read-only mode both applied). */
bool config_tool_allowed(const struct config *c, unsigned i);

/* Reads an auth key from a file (surrounding white space removed) with
 * read(2), wiping the buffer. Returns 0 with *key malloc'd (the caller
 * wipes and frees it), or a negative errno with *error set to a sentence
 * naming path. */
int config_read_key_file(const char *path, char **key, char **error);

/* Checks that key looks like an auth key (long enough, no spaces or
 * control characters); source names it in the sentence. Returns 0, or
 * -EINVAL with *error set. */
int config_check_key(const char *key, const char *source, char **error);

/* The password of a redis:// store spec (malloc'd), or NULL when spec
 * holds none (or memory ran out: then *failed is set). */
char *config_store_password(const char *spec, bool *failed);

/* Help text for the flags, for --help. */
const char *config_flags_help(void);

#endif
