#include "server/dispatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema/portable.h"
#include "jsonschema/schema.h"
#include "schemas/embedded.h"
#include "server/audit.h"
#include "server/persona.h"
#include "server/safe_send.h"
#include "store/store.h"
#include "tools/request.h"
#include "tools/service.h"
#include "tools/tool.h"
#include "upstream/http.h"
#include "util/dynbuf.h"
#include "util/list.h"
#include "util/log.h"
#include "util/redact.h"
#include "util/strpack.h"

/* In --sandbox mode the sandbox accepts any key; this placeholder is not
 * a secret, so it is deliberately not registered for redaction. */
#define SANDBOX_AUTH_KEY "sandbox-placeholder-key"

/* Extra attempts for read-only calls on connection failures, 5xx and 429. */
#define READ_ONLY_RETRIES 2

struct tool_slot {
    const struct tool_def *def;
    /* Compiled at the tool's first call (slot_input), not at start-up:
     * compiling all eight was a third of the start. */
    struct schema *input;
    json_t *input_doc;
    json_t *published_input; /* what tools/list shows (portable.h) */
    json_t *output_doc;
    struct dispatch_tool shown; /* for tools/list, when allowed */
    struct tool_endpoint endpoint;
    bool allowed;
    char *exposed_name;
};

struct dispatch {
    const struct config *cfg;
    uv_loop_t *loop;
    struct http_engine *engine; /* created on the first call that needs it */
    struct tool_slot slots[CONFIG_MAX_TOOLS];
    unsigned nslots;
    const struct dispatch_tool *exposed[CONFIG_MAX_TOOLS];
    unsigned nexposed;
    struct list calls; /* pending: dispatch_call.link */
    unsigned pending;
    struct audit_log *audit; /* NULL unless MSG91_AUDIT_LOG is set */
    /* One registry for all tool schemas, so a built-in meta-schema that a
     * schema reaches is parsed once, not once per tool. */
    struct schema_registry *registry;
    struct persona_set *personas;  /* MSG91_PERSONAS, or NULL */
    const struct persona *persona; /* MSG91_PERSONA, in personas; or NULL */
    struct store *store;           /* MSG91_STORE (doc/store.md) */
    /* MSG91_ALLOWED_COUNTRY_CODES split, or NULL: all countries. */
    char **country_codes;
    size_t n_country_codes;
};

struct dispatch_call {
    struct dispatch *d;
    struct tool_slot *slot;
    json_t *args;      /* as called, for the audit line */
    json_t *tool_args; /* what the tool sees: without the idempotency key */
    struct http_call *http;
    /* A sending call: its checks, then its record (safe_send.h); NULL when
     * no rule applies or once it is settled. */
    struct safe_send *safe;
    struct http_request req; /* held while the checks run */
    struct persona_set *set; /* keeps req.auth_value alive meanwhile */
    bool sent;               /* the request went out at least once */
    json_t *result;          /* held while the outcome is recorded */
    struct dispatch_callbacks cb;
    void *data;
    uint64_t started_ns;
    struct audit_caller who; /* copies, for the audit line; in strings */
    struct list link;
    char strings[];
};

json_t *dispatch_error_result(const char *text)
{
    return json_pack("{s:[{s:s,s:s}],s:b}", "content", "type", "text", "text", text,
                     "isError", 1);
}

struct checked_dump {
    struct dynbuf buf;
    bool failed;
};

static int checked_dump_write(const char *bytes, size_t size, void *data)
{
    struct checked_dump *d = data;
    if (d->failed || dynbuf_append(&d->buf, bytes, size) != DYNBUF_OK) {
        d->failed = true;
        return -1;
    }
    return 0;
}

/* json_dumps, except that every failure is noticed: jansson 2.14 ignores a
 * failed write of an object key and reports success for text that is not
 * JSON. Here the writer itself remembers the failure. */
static char *dump_checked(json_t *value, size_t flags)
{
    struct checked_dump d = {.failed = false};
    dynbuf_init(&d.buf, (size_t)1 << 30);
    if (json_dump_callback(value, checked_dump_write, &d, flags) != 0 || d.failed) {
        dynbuf_finish(&d.buf);
        return NULL;
    }
    return dynbuf_take(&d.buf, NULL);
}

/* Takes structured. NULL when memory ran out: the caller's reply then says
 * so, instead of a text block that does not match structuredContent. */
static json_t *success_result(json_t *structured)
{
    char *text = dump_checked(structured, JSON_COMPACT);
    if (!text) {
        json_decref(structured);
        return NULL;
    }
    json_t *r = json_pack("{s:[{s:s,s:s}],s:o}", "content", "type", "text", "text", text,
                          "structuredContent", structured);
    free(text);
    return r;
}

/* Builds the embedded schema file TOOL.KIND.json from its steps, not its
 * text: parsing all sixteen was most of the start (embedded.h). */
static json_t *load_embedded(const char *tool, const char *kind, char **error)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s.json", tool, kind);
    bool missing;
    json_t *doc = embedded_value(name, &missing);
    if (missing &&
        asprintf(error, "the schema file %s is missing from the build", name) < 0)
        *error = NULL;
    return doc;
}

static int init_slot(struct dispatch *d, unsigned i, char **error)
{
    struct tool_slot *s = &d->slots[i];
    const struct config *cfg = d->cfg;
    s->def = tool_table[i];
    s->allowed = config_tool_allowed(cfg, i);
    s->endpoint = s->def->endpoint;
    if (cfg->endpoints[i].method)
        s->endpoint.method = cfg->endpoints[i].method;
    if (cfg->endpoints[i].path)
        s->endpoint.path = cfg->endpoints[i].path;
    if (cfg->endpoints[i].params)
        s->endpoint.params = cfg->endpoints[i].params;
    const char *prefix = cfg->tool_prefix ? cfg->tool_prefix : "";
    if (asprintf(&s->exposed_name, "%s%s", prefix, s->def->name) < 0)
        return -1;
    if (!(s->input_doc = load_embedded(s->def->name, "input", error)) ||
        !(s->output_doc = load_embedded(s->def->name, "output", error)))
        return -1;
    /* Clients see a copy every model provider accepts; arguments are still
     * validated against the full schema (slot_input). */
    char *why = NULL;
    if (!(s->published_input = schema_portable_copy(s->input_doc, &why))) {
        if (asprintf(error, "schemas/%s.input.json cannot be published: %s", s->def->name,
                     why ? why : "out of memory") < 0)
            *error = NULL;
        free(why);
        return -1;
    }
    s->shown = (struct dispatch_tool){
        .name = s->exposed_name,
        .title = s->def->title,
        .description = s->def->description,
        .input_schema = s->published_input,
        .output_schema = s->output_doc,
        .read_only = s->def->read_only,
        .destructive = s->def->destructive,
        .idempotent = s->def->idempotent,
        .open_world = s->def->open_world,
    };
    return 0;
}

/* The slot's input schema, compiled now if this is the tool's first call.
 * Returns NULL with *error set (malloc'd; NULL when memory ran out) when
 * it does not compile; the next call tries again. */
static const struct schema *slot_input(struct dispatch *d, struct tool_slot *s,
                                       char **error)
{
    *error = NULL;
    if (s->input)
        return s->input;
    /* The server asserts formats in its own schemas: a malformed date
     * should be caught here, not upstream. */
    struct schema_options opts = {.format_assertion = true, .max_errors = 20};
    char *why = NULL;
    s->input = schema_compile(d->registry, s->input_doc, NULL, &opts, &why);
    if (!s->input && asprintf(error, "schemas/%s.input.json does not compile: %s",
                              s->def->name, why ? why : "out of memory") < 0)
        *error = NULL;
    free(why);
    return s->input;
}

int dispatch_compile_schemas(struct dispatch *d, char **error)
{
    for (unsigned i = 0; i < d->nslots; i++)
        if (!slot_input(d, &d->slots[i], error))
            return -1;
    return 0;
}

static int init_slots(struct dispatch *d, char **error)
{
    for (unsigned i = 0; i < tool_table_len && i < CONFIG_MAX_TOOLS; i++) {
        d->nslots = i + 1;
        if (init_slot(d, i, error) != 0)
            return -1;
        if (d->slots[i].allowed)
            d->exposed[d->nexposed++] = &d->slots[i].shown;
    }
    return 0;
}

static void free_slots(struct dispatch *d)
{
    for (unsigned i = 0; i < d->nslots; i++) {
        schema_destroy(d->slots[i].input);
        json_decref(d->slots[i].input_doc);
        json_decref(d->slots[i].published_input);
        json_decref(d->slots[i].output_doc);
        free(d->slots[i].exposed_name);
    }
    d->nslots = 0;
}

/* The persona named by MSG91_PERSONA in set, or NULL with *error set. */
static const struct persona *own_persona(const struct config *cfg,
                                         const struct persona_set *set, char **error)
{
    const struct persona *p = persona_set_find(set, cfg->persona);
    if (!p && asprintf(error,
                       "MSG91_PERSONA is \"%s\", but the personas file %s defines no "
                       "persona of that name",
                       cfg->persona, cfg->personas_file) < 0)
        *error = NULL;
    return p;
}

static int load_personas(struct dispatch *d, char **error)
{
    const struct config *cfg = d->cfg;
    if (!cfg->personas_file)
        return 0;
    int rc = persona_set_load(cfg->personas_file, &d->personas, error);
    if (rc == 0 && cfg->persona && !(d->persona = own_persona(cfg, d->personas, error)))
        rc = -EINVAL;
    return rc;
}

static void free_country_codes(struct dispatch *d)
{
    for (size_t i = 0; i < d->n_country_codes; i++)
        free(d->country_codes[i]);
    free(d->country_codes);
    d->country_codes = NULL;
    d->n_country_codes = 0;
}

/* MSG91_ALLOWED_COUNTRY_CODES (checked by config.c: digits, a leading +
 * and blanks allowed) as digit strings. Returns 0 or -1 (out of memory). */
static int split_country_codes(struct dispatch *d)
{
    const char *p = d->cfg->allowed_country_codes;
    if (!p)
        return 0;
    size_t n = 1;
    for (const char *q = p; *q; q++)
        n += *q == ',';
    if (!(d->country_codes = calloc(n, sizeof *d->country_codes)))
        return -1;
    while (*p) {
        p += strspn(p, " \t+");
        size_t len = strspn(p, "0123456789");
        if (len && !(d->country_codes[d->n_country_codes++] = strndup(p, len)))
            return -1;
        p += len;
        p += strcspn(p, ",");
        p += *p == ',';
    }
    return 0;
}

/* The store's warnings and connection changes, in the server's log. */
static void store_log(void *data, enum store_log_level level, const char *msg)
{
    (void)data;
    static const enum log_level levels[] = {
        [STORE_LOG_DEBUG] = LOG_LEVEL_DEBUG,
        [STORE_LOG_INFO] = LOG_LEVEL_INFO,
        [STORE_LOG_WARNING] = LOG_LEVEL_WARNING,
        [STORE_LOG_ERROR] = LOG_LEVEL_ERROR,
    };
    log_msg(levels[level], "%s", msg);
}

struct store *dispatch_open_store(const struct config *cfg, uv_loop_t *loop, char **error)
{
    *error = NULL;
    /* The sandbox's answers are made up: kept in the default store, shared
     * with real servers on this machine, a sandbox result would replay as a
     * real send for the same key, and sandbox calls would use up the real
     * per-number and daily limits. So --sandbox keeps its state in memory
     * unless a store is named. */
    const char *spec = cfg->store ? cfg->store : cfg->sandbox ? "memory" : NULL;
    struct store_options opts = {.spec = spec, .log = store_log};
    struct store *s = NULL;
    char why[512] = "";
    int rc = store_open(loop, &opts, &s, why, sizeof why);
    if (rc != 0) {
        /* Handles made on the way close asynchronously (store.h): one turn
         * of the loop, which serves nothing yet, releases them. */
        uv_run(loop, UV_RUN_NOWAIT);
        if (asprintf(error, "cannot open the state store (MSG91_STORE): %s",
                     why[0] ? why : store_strerror(rc)) < 0)
            *error = NULL;
        return NULL;
    }
    return s;
}

struct dispatch *dispatch_create(const struct config *cfg, uv_loop_t *loop, char **error)
{
    *error = NULL;
    struct dispatch *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->cfg = cfg;
    d->loop = loop;
    list_init(&d->calls);
    /* A step that fails half-way (a personas file without the persona
     * named, codes split until memory ran out, a slot filled in part)
     * leaves what it made for its own label to release. */
    if (load_personas(d, error) != 0)
        goto error_personas;
    if (cfg->audit_log && !(d->audit = audit_open(loop, cfg->audit_log, error)))
        goto error_personas;
    if (split_country_codes(d) != 0)
        goto error_codes;
    /* Built-in meta-schemas are parsed only when a schema reaches one. */
    if (!(d->registry = schema_registry_create()))
        goto error_codes;
    if (init_slots(d, error) != 0)
        goto error_slots;
    /* The store comes last: its close is asynchronous, and a caller whose
     * dispatch_create failed closes the loop without running it. */
    if (!(d->store = dispatch_open_store(cfg, loop, error)))
        goto error_slots;
    return d;

error_slots:
    free_slots(d);
    schema_registry_destroy(d->registry);
error_codes:
    free_country_codes(d);
    audit_close(d->audit);
error_personas:
    persona_set_unref(d->personas);
    free(d);
    if (!*error)
        *error = strdup("out of memory at start-up");
    return NULL;
}

static void unlink_call(struct dispatch_call *c)
{
    list_remove(&c->link);
    c->d->pending--;
}

static void free_call(struct dispatch_call *c)
{
    json_decref(c->args);
    json_decref(c->tool_args);
    json_decref(c->result);
    free(c->req.url);
    free(c->req.body);
    persona_set_unref(c->set);
    free(c);
}

static double ms_since(uint64_t started_ns)
{
    return (double)(uv_hrtime() - started_ns) / 1e6;
}

/* The error text of a CallToolResult with isError, for the audit line. */
static const char *result_error(json_t *result)
{
    if (!json_is_true(json_object_get(result, "isError")))
        return NULL;
    return json_string_value(
        json_object_get(json_array_get(json_object_get(result, "content"), 0), "text"));
}

static void audit_call(struct dispatch *d, const char *tool, json_t *args,
                       const struct audit_caller *who, const char *outcome,
                       json_t *result, const char *request_id, long http_status,
                       uint64_t started_ns)
{
    if (!d->audit)
        return;
    struct audit_entry e = {
        .who = *who,
        .tool = tool,
        .arguments = args,
        .outcome = outcome,
        .error = result ? result_error(result) : NULL,
        .request_id = request_id,
        .http_status = http_status,
        .duration_ms = ms_since(started_ns),
    };
    audit_write(d->audit, &e);
}

void dispatch_reopen_audit(struct dispatch *d)
{
    if (d->audit)
        audit_reopen(d->audit);
}

/* dispatch_destroy waits for two asynchronous closes, the HTTP engine's
 * and the store's, before it says it is done. */
struct destroy_ctx {
    void (*closed)(void *data);
    void *data;
    int waiting;
};

static void part_closed(void *data)
{
    struct destroy_ctx *ctx = data;
    if (--ctx->waiting > 0)
        return;
    if (ctx->closed)
        ctx->closed(ctx->data);
    free(ctx);
}

void dispatch_destroy(struct dispatch *d, void (*closed)(void *data), void *data)
{
    if (!d) {
        if (closed)
            closed(data);
        return;
    }
    /* dispatch_cancel frees its call and no other. */
    struct dispatch_call *c, *next;
    list_for_each_safe(c, next, &d->calls, link)
        dispatch_cancel(c);
    struct http_engine *engine = d->engine;
    struct store *store = d->store;
    free_slots(d);
    schema_registry_destroy(d->registry);
    free_country_codes(d);
    audit_close(d->audit);
    persona_set_unref(d->personas);
    free(d);
    struct destroy_ctx *ctx = malloc(sizeof *ctx);
    if (!ctx) {
        /* Both still close; only the notice that they have is lost. */
        http_engine_destroy(engine, NULL, NULL);
        store_close(store, NULL, NULL);
        if (closed)
            closed(data);
        return;
    }
    *ctx = (struct destroy_ctx){.closed = closed, .data = data, .waiting = 1};
    if (engine) {
        ctx->waiting++;
        http_engine_destroy(engine, part_closed, ctx);
    }
    if (store) {
        ctx->waiting++;
        store_close(store, part_closed, ctx);
    }
    part_closed(ctx); /* the hold taken above */
}

struct store *dispatch_store(const struct dispatch *d)
{
    return d->store;
}

static bool slot_allowed(const struct dispatch *d, const struct tool_slot *s,
                         const struct persona *p)
{
    return p ? persona_tool_allowed(p, d->cfg, (unsigned)(s - d->slots)) : s->allowed;
}

unsigned dispatch_tool_count_as(const struct dispatch *d, const struct persona *p)
{
    if (!p)
        return d->nexposed;
    unsigned n = 0;
    for (unsigned i = 0; i < d->nslots; i++)
        n += slot_allowed(d, &d->slots[i], p);
    return n;
}

const struct dispatch_tool *dispatch_tool_at_as(const struct dispatch *d,
                                                const struct persona *p, unsigned i)
{
    if (!p)
        return i < d->nexposed ? d->exposed[i] : NULL;
    for (unsigned k = 0; k < d->nslots; k++)
        if (slot_allowed(d, &d->slots[k], p) && i-- == 0)
            return &d->slots[k].shown;
    return NULL;
}

unsigned dispatch_tool_count(const struct dispatch *d)
{
    return dispatch_tool_count_as(d, d->persona);
}

const struct dispatch_tool *dispatch_tool_at(const struct dispatch *d, unsigned i)
{
    return dispatch_tool_at_as(d, d->persona, i);
}

struct persona_set *dispatch_personas(const struct dispatch *d)
{
    return d->personas;
}

const struct persona *dispatch_persona(const struct dispatch *d)
{
    return d->persona;
}

int dispatch_reload_personas(struct dispatch *d)
{
    const struct config *cfg = d->cfg;
    if (!cfg->personas_file)
        return -ENOENT;
    struct persona_set *set = NULL;
    const struct persona *own = NULL;
    char *error = NULL;
    int rc = persona_set_load(cfg->personas_file, &set, &error);
    if (rc == 0 && cfg->persona && !(own = own_persona(cfg, set, &error)))
        rc = -EINVAL;
    if (rc != 0) {
        log_error("cannot reload the personas: %s; the %zu persona(s) loaded before "
                  "stay in force",
                  error ? error : "out of memory", persona_set_count(d->personas));
        free(error);
        persona_set_unref(set);
        return rc;
    }
    persona_set_unref(d->personas);
    d->personas = set;
    d->persona = own;
    log_info("reloaded the personas file %s: %zu persona(s)", cfg->personas_file,
             persona_set_count(set));
    return 0;
}

static struct tool_slot *find_slot(struct dispatch *d, const char *name)
{
    for (unsigned i = 0; i < d->nslots; i++)
        if (!strcmp(d->slots[i].exposed_name, name))
            return &d->slots[i];
    return NULL;
}

json_t *dispatch_input_schema(struct dispatch *d, const char *name)
{
    struct tool_slot *s = find_slot(d, name);
    if (s && d->persona && !slot_allowed(d, s, d->persona))
        return NULL;
    return s ? s->input_doc : NULL;
}

/* The names of the read-only tools as a list for a sentence ("a, b and
 * c"), malloc'd, or NULL when memory ran out. */
static char *read_only_names(void)
{
    unsigned total = 0, listed = 0;
    for (unsigned i = 0; i < tool_table_len; i++)
        total += tool_table[i]->read_only;
    struct dynbuf b;
    dynbuf_init(&b, 4096);
    for (unsigned i = 0; i < tool_table_len; i++) {
        if (!tool_table[i]->read_only)
            continue;
        const char *sep = listed == 0 ? "" : listed + 1 == total ? " and " : ", ";
        listed++;
        if (dynbuf_append_str(&b, sep) != DYNBUF_OK ||
            dynbuf_append_str(&b, tool_table[i]->name) != DYNBUF_OK)
            return NULL;
    }
    return dynbuf_take(&b, NULL);
}

static json_t *scope_refusal(const struct dispatch *d, const struct tool_slot *s)
{
    char *text = NULL;
    if (d->cfg->read_only && !s->def->read_only && d->cfg->tool_enabled[s - d->slots]) {
        char *names = read_only_names();
        if (!names ||
            asprintf(&text,
                     "The tool %s is not allowed: this server runs in read-only mode "
                     "(MSG91_READ_ONLY=1), which allows only %s.",
                     s->exposed_name, names) < 0)
            text = NULL;
        free(names);
    } else if (asprintf(
                   &text,
                   "The tool %s is not allowed: it is not in this server's MSG91_TOOLS "
                   "allowlist. Use one of the tools from tools/list.",
                   s->exposed_name) < 0) {
        text = NULL;
    }
    json_t *r = dispatch_error_result(text ? text : "This tool is not allowed here.");
    free(text);
    return r;
}

static json_t *invalid_arguments(const struct tool_slot *s, const struct schema_errors *e)
{
    char *list = schema_errors_text(e);
    char *text = NULL;
    if (asprintf(&text, "Invalid arguments for %s; fix these and call again:\n%s",
                 s->exposed_name, list ? list : "") < 0)
        text = NULL;
    json_t *r = dispatch_error_result(text ? text : "Invalid arguments.");
    free(list);
    free(text);
    return r;
}

static json_t *dry_run_result(struct dispatch *d, struct http_request *req)
{
    json_t *headers = json_pack("{s:s}", REQUEST_AUTH_HEADER, "[REDACTED]");
    if (req->content_type)
        json_object_set_new(headers, "content-type", json_string(req->content_type));
    json_t *body = json_null();
    if (req->body) {
        json_t *parsed = json_loadb(req->body, req->body_len, JSON_DECODE_ANY, NULL);
        body = parsed ? parsed : json_stringn(req->body, req->body_len);
    }
    json_t *request = json_pack("{s:s,s:s,s:o,s:o}", "method", req->method, "url",
                                req->url, "headers", headers, "body", body);
    char *text = json_dumps(request, JSON_COMPACT);
    json_decref(request);
    (void)d;
    json_t *r = json_pack(
        "{s:[{s:s,s:s},{s:s,s:s?}],s:b,s:{s:b}}", "content", "type", "text", "text",
        "Dry run (MSG91_DRY_RUN=1): the request below was validated and "
        "built but NOT sent; nothing was delivered.",
        "type", "text", "text", text, "isError", 1, "_meta", SERVICE_DRY_RUN_META, 1);
    free(text);
    return r;
}

static int ensure_engine(struct dispatch *d)
{
    if (d->engine)
        return 0;
    const struct config *cfg = d->cfg;
    struct http_engine_options opts = {
        .auth_header = REQUEST_AUTH_HEADER,
        .auth_value = cfg->sandbox ? SANDBOX_AUTH_KEY : cfg->auth_key,
        .base_url = cfg->base_url,
        .user_agent = REQUEST_USER_AGENT,
        .timeout_ms = cfg->timeout_ms,
        .max_inflight = (unsigned)cfg->max_inflight,
        .max_queue = (unsigned)cfg->max_queue,
        .ca_file = cfg->ca_file,
        .max_retries = READ_ONLY_RETRIES,
    };
    int rc = http_engine_create(&d->engine, d->loop, &opts);
    if (rc != 0) {
        log_error("cannot start the HTTP engine (error %d)", rc);
        d->engine = NULL;
    }
    return rc;
}

static void on_http_stage(void *data, enum http_stage stage)
{
    struct dispatch_call *c = data;
    if (stage == HTTP_STAGE_SENT)
        c->sent = true;
    if (!c->cb.stage)
        return;
    switch (stage) {
    case HTTP_STAGE_QUEUED:
        c->cb.stage(c->data, DISPATCH_STAGE_QUEUED);
        break;
    case HTTP_STAGE_SENT:
        c->cb.stage(c->data, DISPATCH_STAGE_SENT);
        break;
    case HTTP_STAGE_ANSWERED:
        /* Not passed on: the result follows at once, and a progress
         * notification written with its result reaches a client that has
         * already forgotten the token (the TypeScript SDK then reports an
         * error for every call). The result itself says "answered". */
        break;
    }
}

/* Hands a call's result back and ends it. Takes result. */
static void finish_call(struct dispatch_call *c, json_t *result)
{
    unlink_call(c);
    struct dispatch_callbacks cb = c->cb;
    void *cb_data = c->data;
    free_call(c);
    cb.done(cb_data, result);
}

/* The outcome of a sending call has been recorded (safe_send_finish). */
static void on_settled(void *data)
{
    struct dispatch_call *c = data;
    c->safe = NULL;
    json_t *result = c->result;
    c->result = NULL;
    finish_call(c, result);
}

/* Whether the upstream call sent, for the duplicate guard. An answer is a
 * failure (MSG91 refused: nothing sent) unless the reader says the outcome
 * is unknown (a server error, an answer it cannot read); without an
 * answer, the engine says whether the request may have left. */
static enum safe_send_sent sent_kind(const struct http_response *resp,
                                     const struct tool_outcome *out)
{
    if (out->structured)
        return SAFE_SEND_SUCCEEDED;
    if (resp->outcome == HTTP_ANSWERED)
        return out->maybe_sent ? SAFE_SEND_UNKNOWN : SAFE_SEND_FAILED;
    return resp->maybe_delivered ? SAFE_SEND_UNKNOWN : SAFE_SEND_FAILED;
}

/* The reader's outcome for an answer whose body is cleaned of the key
 * first: an upstream that echoes the key (in an error message, say) must
 * not smuggle it out. Readers cut excerpts, and a cut through the key
 * would leave a part that the final redaction cannot recognise. */
static void read_answer(struct dispatch_call *c, const struct http_response *resp,
                        struct tool_outcome *out)
{
    struct tool_read_ctx rctx = {
        .tool = c->slot->def,
        .timeout_ms = c->d->cfg->timeout_ms,
        .endpoint = &c->slot->endpoint,
    };
    struct http_response clean = *resp;
    size_t clean_len = 0;
    char *scrubbed = NULL;
    if (redact_apply(resp->body, resp->body_len, &scrubbed, &clean_len) != 0) {
        /* Fail closed: no reader may see a body that still holds the key. */
        out->maybe_sent = true;
        out->error_text =
            strdup("The server ran out of memory while reading " SERVICE_NAME
                   "'s answer; the request may or may not have been "
                   "carried out.");
        return;
    }
    if (scrubbed) {
        clean.body = scrubbed;
        clean.body_len = clean_len;
    }
    tool_read(&rctx, &clean, c->tool_args, out);
    free(scrubbed);
}

static void on_http_done(void *data, const struct http_response *resp)
{
    struct dispatch_call *c = data;
    c->http = NULL;
    struct tool_outcome out = {0};
    read_answer(c, resp, &out);
    json_t *result;
    if (out.structured) {
        result = success_result(json_incref(out.structured));
    } else {
        result = dispatch_error_result(out.error_text ? out.error_text
                                                      : SERVICE_NAME
                                           "'s answer could not be read.");
    }
    audit_call(c->d, c->slot->def->name, c->args, &c->who,
               out.structured ? "ok" : "tool_error", result, out.upstream_request_id,
               resp->outcome == HTTP_ANSWERED ? resp->status : 0, c->started_ns);
    log_debug("%s finished: HTTP %ld, outcome %d, %.1f ms, %u attempt(s)%s%s",
              c->slot->def->name, resp->status, (int)resp->outcome, resp->elapsed_ms,
              resp->attempts, out.upstream_request_id ? ", request id " : "",
              out.upstream_request_id ? out.upstream_request_id : "");
    enum safe_send_sent sent = sent_kind(resp, &out);
    char *request_id = out.upstream_request_id;
    out.upstream_request_id = NULL;
    tool_outcome_finish(&out);
    if (c->safe) {
        /* The call ends when its outcome is in the store, so that a retry
         * made after this answer finds it there. */
        c->result = result;
        safe_send_finish(c->safe, result, sent, request_id, on_settled, c);
    } else {
        finish_call(c, result);
    }
    free(request_id);
}

/* Finishes a call that never goes upstream: audits it and hands the
 * result back. Takes result. */
static enum dispatch_status done_now(struct dispatch *d, const struct tool_slot *s,
                                     json_t *args, const struct audit_caller *who,
                                     const char *outcome, json_t *result,
                                     uint64_t started_ns, json_t **out)
{
    audit_call(d, s->def->name, args, who, outcome, result, NULL, 0, started_ns);
    *out = result;
    return DISPATCH_DONE;
}

/* A new call record (not yet pending), or NULL when memory ran out. The
 * caller's strings are copied into the record's own allocation. */
static struct dispatch_call *new_call(struct dispatch *d, struct tool_slot *s,
                                      json_t *args, json_t *tool_args,
                                      const struct audit_caller *who,
                                      const struct dispatch_callbacks *cb, void *data,
                                      uint64_t started)
{
    const char *strings[] = {who->name, who->version, who->persona, who->transport,
                             who->address};
    struct dispatch_call *c = calloc(1, sizeof *c + strpack_size(strings, 5));
    if (!c)
        return NULL;
    c->d = d;
    c->slot = s;
    c->args = json_incref(args);
    c->tool_args = json_incref(tool_args);
    c->cb = *cb;
    c->data = data;
    c->started_ns = started;
    char *at = c->strings;
    c->who.name = strpack_put(&at, who->name);
    c->who.version = strpack_put(&at, who->version);
    c->who.persona = strpack_put(&at, who->persona);
    c->who.transport = strpack_put(&at, who->transport);
    c->who.address = strpack_put(&at, who->address);
    return c;
}

static void link_call(struct dispatch_call *c)
{
    struct dispatch *d = c->d;
    list_insert(&d->calls, &c->link);
    d->pending++;
}

/* Hands c->req to the HTTP engine (which takes its URL and body whatever
 * it answers). Returns 0 or a negative errno. */
static int start_http(struct dispatch_call *c)
{
    struct dispatch *d = c->d;
    if (ensure_engine(d) != 0) {
        free(c->req.url);
        free(c->req.body);
        c->req.url = c->req.body = NULL;
        return -EIO;
    }
    log_debug("%s: %s %s", c->slot->def->name, c->req.method, c->req.url);
    return http_submit(d->engine, &c->req, on_http_done, on_http_stage, c, &c->http);
}

static json_t *not_queued_result(int rc)
{
    if (rc == -EIO)
        return dispatch_error_result(
            "The HTTP engine could not start; nothing was sent.");
    return dispatch_error_result(
        rc == -EBUSY ? "The server is busy: too many calls are already "
                       "waiting for " SERVICE_NAME ", so this one was not "
                       "queued and nothing was sent. Try again in a moment."
                     : "The request could not be queued; nothing was sent.");
}

/* The verdict of the safe-send checks on a pending call. */
static void on_verdict(void *data, json_t *refusal, const char *outcome)
{
    struct dispatch_call *c = data;
    if (outcome) {
        c->safe = NULL;
        audit_call(c->d, c->slot->def->name, c->args, &c->who, outcome, refusal, NULL, 0,
                   c->started_ns);
        finish_call(c, refusal);
        return;
    }
    int rc = start_http(c);
    if (rc != 0) {
        struct safe_send *op = c->safe;
        c->safe = NULL;
        safe_send_abandon(op, false);
        json_t *r = not_queued_result(rc);
        audit_call(c->d, c->slot->def->name, c->args, &c->who, "tool_error", r, NULL, 0,
                   c->started_ns);
        finish_call(c, r);
    }
}

/* What one call runs with: the tool, its arguments and who asked. */
struct call_ctx {
    struct dispatch *d;
    struct tool_slot *s;
    json_t *args;
    const struct persona *persona; /* NULL: the server's own settings */
    struct audit_caller who;
    uint64_t started;
};

/* The call's default for the tool's defaultable argument: the persona's,
 * else the server's. */
static const char *arg_default(const struct call_ctx *x)
{
    const struct tool_def *def = x->s->def;
    if (!def->arg_default.arg)
        return NULL;
    const char *own =
        x->persona ? x->persona->tool_settings[def->arg_default.setting] : NULL;
    return own ? own : x->d->cfg->tool_settings[def->arg_default.setting];
}

static json_t *no_key_result(const struct call_ctx *x)
{
    if (x->persona)
        return dispatch_error_result(
            "No " SERVICE_NAME " auth key is configured for this persona, so nothing "
            "was sent. Give it an \"auth_key_file\" in the personas file "
            "(MSG91_PERSONAS), or set MSG91_AUTH_KEY (or MSG91_AUTH_KEY_FILE) for the "
            "whole server.");
    return dispatch_error_result(
        "No " SERVICE_NAME " auth key is configured, so nothing was sent. Set "
        "MSG91_AUTH_KEY (or "
        "MSG91_AUTH_KEY_FILE) in this server's environment, or start it with "
        "--sandbox to try the tools against the built-in sandbox.");
}

/* The call's arguments as the tool sees them: a sending tool's without the
 * idempotency key (new reference; NULL when memory ran out). */
static json_t *tool_arguments(const struct tool_slot *s, json_t *args)
{
    if (!s->def->sends || !json_object_get(args, SAFE_SEND_KEY_ARG))
        return json_incref(args);
    json_t *copy = json_copy(args);
    if (copy)
        json_object_del(copy, SAFE_SEND_KEY_ARG);
    return copy;
}

/* How long an idempotency claim holds before a retry is told the outcome
 * is unknown: longer than any call can wait in the queue (each turn of a
 * slot lasts at most the timeout, times the attempts a read-only call may
 * make) plus its own timeout, and a margin; never past the TTL. */
static uint64_t claim_lease_ms(const struct config *cfg)
{
    uint64_t turns = ((uint64_t)cfg->max_queue + (uint64_t)cfg->max_inflight - 1) /
                     (uint64_t)cfg->max_inflight;
    uint64_t lease =
        (uint64_t)cfg->timeout_ms * (2 + turns * (1 + READ_ONLY_RETRIES)) + 10000;
    uint64_t ttl = (uint64_t)cfg->idempotency_ttl_s * 1000;
    return lease < ttl ? lease : ttl;
}

/* The call's limits: its persona's where it sets them, else the server's. */
static void call_limits(const struct call_ctx *x, struct safe_send_info *in)
{
    const struct config *cfg = x->d->cfg;
    const struct persona *p = x->persona;
    long hour = p ? p->limits[SERVICE_LIMIT_CODES_PER_RECIPIENT_HOUR] : -1;
    long day = p ? p->limits[SERVICE_LIMIT_SENDS_PER_DAY] : -1;
    in->per_recipient_per_hour =
        hour >= 0 ? hour : cfg->limits[SERVICE_LIMIT_CODES_PER_RECIPIENT_HOUR];
    in->per_recipient_from = hour >= 0 ? SAFE_SEND_FROM_PERSONA : SAFE_SEND_FROM_SERVER;
    in->sends_per_day = day >= 0 ? day : cfg->limits[SERVICE_LIMIT_SENDS_PER_DAY];
    in->sends_per_day_from = day >= 0 ? SAFE_SEND_FROM_PERSONA : SAFE_SEND_FROM_SERVER;
    if (p && p->country_codes) {
        in->country_codes = (const char *const *)p->country_codes;
        in->n_country_codes = p->n_country_codes;
        in->country_codes_from = SAFE_SEND_FROM_PERSONA;
    } else {
        in->country_codes = (const char *const *)x->d->country_codes;
        in->n_country_codes = x->d->n_country_codes;
        in->country_codes_from = SAFE_SEND_FROM_SERVER;
    }
}

/* Sends c->req and keeps the call pending, or finishes it at once. */
static enum dispatch_status go(struct dispatch_call *c, json_t **result,
                               struct dispatch_call **call)
{
    int rc = start_http(c);
    if (rc != 0) {
        enum dispatch_status st = done_now(c->d, c->slot, c->args, &c->who, "tool_error",
                                           not_queued_result(rc), c->started_ns, result);
        free_call(c);
        return st;
    }
    link_call(c);
    *call = c;
    return DISPATCH_PENDING;
}

/* A sending call: the safe-send checks first (safe_send.h), then the
 * request. Takes c and its held request. */
static enum dispatch_status guarded(const struct call_ctx *x, struct dispatch_call *c,
                                    json_t **result, struct dispatch_call **call)
{
    const struct tool_def *def = x->s->def;
    json_t *numbers = json_array();
    if (!numbers || (def->recipients && def->recipients(c->tool_args, numbers) != 0)) {
        json_decref(numbers);
        free_call(c);
        return done_now(x->d, x->s, x->args, &x->who, "tool_error",
                        dispatch_error_result("The server ran out of memory; nothing was "
                                              "sent."),
                        x->started, result);
    }
    const struct config *cfg = x->d->cfg;
    struct safe_send_info in = {
        .store = x->d->store,
        .persona = x->persona ? x->persona->name : "",
        .tool = def->name,
        .args = c->tool_args,
        .key = json_string_value(json_object_get(x->args, SAFE_SEND_KEY_ARG)),
        .numbers = numbers,
        .per_recipient = def->recipient_limit,
        .ttl_ms = (uint64_t)cfg->idempotency_ttl_s * 1000,
        .window_ms = (uint64_t)cfg->duplicate_window_s * 1000,
        .lease_ms = claim_lease_ms(cfg),
    };
    call_limits(x, &in);
    json_t *refusal = NULL;
    const char *outcome = NULL;
    c->safe = safe_send_begin(&in, on_verdict, c, &refusal, &outcome);
    json_decref(numbers);
    if (c->safe) {
        link_call(c);
        *call = c;
        return DISPATCH_PENDING;
    }
    if (!outcome)
        return go(c, result, call);
    free_call(c);
    return done_now(x->d, x->s, x->args, &x->who, outcome, refusal, x->started, result);
}

/* Sends a built request (req's URL and body are taken), through the
 * safe-send checks when the tool sends messages. */
static enum dispatch_status send_built(const struct call_ctx *x, json_t *tool_args,
                                       const struct dispatch_callbacks *cb, void *data,
                                       struct http_request *req, json_t **result,
                                       struct dispatch_call **call)
{
    struct dispatch_call *c =
        new_call(x->d, x->s, x->args, tool_args, &x->who, cb, data, x->started);
    if (!c)
        return done_now(x->d, x->s, x->args, &x->who, "tool_error",
                        not_queued_result(-EIO), x->started, result);
    c->req = *req;
    req->url = req->body = NULL;
    /* The persona's key (req.auth_value) must outlive a reload while the
     * checks run. */
    if (x->persona)
        c->set = persona_set_ref(x->persona->set);
    if (x->s->def->sends)
        return guarded(x, c, result, call);
    return go(c, result, call);
}

/* Builds the request of a valid call and sends it (or only shows it). */
static enum dispatch_status build_and_send(const struct call_ctx *x, json_t *tool_args,
                                           const struct dispatch_callbacks *cb,
                                           void *data, json_t **result,
                                           struct dispatch_call **call)
{
    struct dispatch *d = x->d;
    struct tool_slot *s = x->s;
    struct tool_build_ctx bctx = {
        .tool = s->def,
        .endpoint = &s->endpoint,
        .base_url = d->cfg->base_url,
        .arg_default = arg_default(x),
    };
    struct http_request req = {0};
    char *why = NULL;
    enum dispatch_status st;
    /* A persona's key goes with its own calls only; the engine sends the
     * server's key (or the sandbox's placeholder) for the rest. */
    const char *own_key = x->persona ? x->persona->auth_key : NULL;
    if (s->def->build(&bctx, tool_args, &req, &why) != 0) {
        st =
            done_now(d, s, x->args, &x->who, "tool_error",
                     dispatch_error_result(why ? why : "The request could not be built."),
                     x->started, result);
        free(why);
    } else if (d->cfg->dry_run) {
        st = done_now(d, s, x->args, &x->who, "dry_run", dry_run_result(d, &req),
                      x->started, result);
    } else if (!own_key && !d->cfg->auth_key && !d->cfg->sandbox) {
        st = done_now(d, s, x->args, &x->who, "tool_error", no_key_result(x), x->started,
                      result);
    } else {
        req.auth_value = own_key;
        st = send_built(x, tool_args, cb, data, &req, result, call);
    }
    free(req.url);
    free(req.body);
    return st;
}

/* The answer to a call whose tool's input schema does not compile (a
 * defect of this build, or memory running out): an internal error for
 * this call only; the next call tries again. */
static json_t *uncompiled_result(const struct tool_slot *s, const char *why)
{
    log_error("%s", why ? why : "out of memory while compiling a tool schema");
    char *text = NULL;
    if (asprintf(&text,
                 "Internal error: the server cannot check the arguments of %s because "
                 "its input schema does not compile (%s); nothing was sent.",
                 s->exposed_name, why ? why : "out of memory") < 0)
        text = NULL;
    json_t *r = dispatch_error_result(
        text ? text : "Internal error: the server ran out of memory; nothing was sent.");
    free(text);
    return r;
}

/* Validates, builds and sends (or only shows) an allowed call. */
static enum dispatch_status run_call(const struct call_ctx *x,
                                     const struct dispatch_callbacks *cb, void *data,
                                     json_t **result, struct dispatch_call **call)
{
    char *why = NULL;
    const struct schema *input = slot_input(x->d, x->s, &why);
    if (!input) {
        enum dispatch_status st =
            done_now(x->d, x->s, x->args, &x->who, "tool_error",
                     uncompiled_result(x->s, why), x->started, result);
        free(why);
        return st;
    }
    struct schema_errors errors = {0};
    if (!schema_validate(input, x->args, &errors)) {
        enum dispatch_status st =
            done_now(x->d, x->s, x->args, &x->who, "invalid_arguments",
                     invalid_arguments(x->s, &errors), x->started, result);
        schema_errors_finish(&errors);
        return st;
    }
    schema_errors_finish(&errors);
    json_t *tool_args = tool_arguments(x->s, x->args);
    if (!tool_args)
        return done_now(x->d, x->s, x->args, &x->who, "tool_error",
                        dispatch_error_result("The server ran out of memory; nothing was "
                                              "sent."),
                        x->started, result);
    enum dispatch_status st = build_and_send(x, tool_args, cb, data, result, call);
    json_decref(tool_args);
    return st;
}

enum dispatch_status dispatch_call(struct dispatch *d, const char *name, json_t *args,
                                   const struct dispatch_client *client,
                                   const struct dispatch_callbacks *cb, void *data,
                                   json_t **result, struct dispatch_call **call)
{
    struct call_ctx x = {.d = d, .started = uv_hrtime()};
    *result = NULL;
    *call = NULL;
    x.persona = client && client->persona ? client->persona : d->persona;
    x.who = (struct audit_caller){
        .name = client ? client->name : NULL,
        .version = client ? client->version : NULL,
        .persona = x.persona ? x.persona->name : NULL,
        .transport = client ? client->transport : NULL,
        .address = client ? client->address : NULL,
    };
    if (!(x.s = find_slot(d, name)))
        return DISPATCH_UNKNOWN_TOOL;
    /* Only a call without arguments needs an object made for it; this is
     * the hot path, so nothing is allocated otherwise. */
    json_t *empty = args ? NULL : json_object();
    x.args = args ? args : empty;
    if (!x.args) {
        /* No result: the session answers with its internal-error reply. */
        return DISPATCH_DONE;
    }
    enum dispatch_status st;
    if (x.persona && !slot_allowed(d, x.s, x.persona)) {
        /* For a persona, the tools it may not use do not exist; only the
         * audit log records that it tried. */
        audit_call(d, x.s->def->name, x.args, &x.who, "refused", NULL, NULL, 0,
                   x.started);
        st = DISPATCH_UNKNOWN_TOOL;
    } else if (!x.s->allowed && !x.persona) {
        st = done_now(d, x.s, x.args, &x.who, "refused", scope_refusal(d, x.s), x.started,
                      result);
    } else {
        st = run_call(&x, cb, data, result, call);
    }
    json_decref(empty);
    return st;
}

void dispatch_cancel(struct dispatch_call *c)
{
    if (!c)
        return;
    /* A sending call gives back what it holds in the store, or marks it
     * unknown when the request may have gone out. */
    if (c->safe)
        safe_send_abandon(c->safe, c->sent);
    http_cancel(c->http);
    if (!c->result) /* else its answer is audited already */
        audit_call(c->d, c->slot->def->name, c->args, &c->who, "cancelled", NULL, NULL, 0,
                   c->started_ns);
    unlink_call(c);
    free_call(c);
}

unsigned dispatch_pending(const struct dispatch *d)
{
    return d->pending;
}
