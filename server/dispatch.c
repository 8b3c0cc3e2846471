#include "server/dispatch.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "jsonschema/portable.h"
#include "jsonschema/schema.h"
#include "schemas/embedded.h"
#include "server/audit.h"
#include "server/persona.h"
#include "store/store.h"
#include "tools/request.h"
#include "tools/service.h"
#include "tools/tool.h"
#include "upstream/http.h"
#include "util/dynbuf.h"
#include "util/log.h"
#include "util/redact.h"

/* In --sandbox mode the sandbox accepts any key; this placeholder is not
 * a secret, so it is deliberately not registered for redaction. */
#define SANDBOX_AUTH_KEY "sandbox-placeholder-key"

/* Extra attempts for read-only calls on connection failures, 5xx and 429. */
#define READ_ONLY_RETRIES 2

struct tool_slot {
    const struct tool_def *def;
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
    struct dispatch_call *calls; /* pending, doubly linked */
    unsigned pending;
    struct audit_log *audit; /* NULL unless MSG91_AUDIT_LOG is set */
    /* One registry for all tool schemas, so the built-in meta-schemas are
     * parsed once at startup rather than once per tool. */
    struct schema_registry *registry;
    struct persona_set *personas;  /* MSG91_PERSONAS, or NULL */
    const struct persona *persona; /* MSG91_PERSONA, in personas; or NULL */
    struct store *store;           /* MSG91_STORE (doc/store.md) */
};

struct dispatch_call {
    struct dispatch *d;
    struct tool_slot *slot;
    json_t *args;
    struct http_call *http;
    struct dispatch_callbacks cb;
    void *data;
    uint64_t started_ns;
    char *client_name; /* copies, for the audit line */
    char *client_version;
    char *persona;
    char *client_transport;
    char *client_address;
    struct dispatch_call *prev, *next;
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

static json_t *load_embedded(const char *tool, const char *kind, char **error)
{
    char name[128];
    snprintf(name, sizeof name, "%s.%s.json", tool, kind);
    const struct embedded_file *f = embedded_find(name);
    if (!f) {
        if (asprintf(error, "the schema file %s is missing from the build", name) < 0)
            *error = NULL;
        return NULL;
    }
    json_error_t jerr;
    json_t *doc = json_loadb(f->text, f->len, 0, &jerr);
    if (!doc && asprintf(error, "schemas/%s: %s", name, jerr.text) < 0)
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
    /* The server asserts formats in its own schemas: a malformed date
     * should be caught here, not upstream. */
    struct schema_options opts = {.format_assertion = true, .max_errors = 20};
    char *why = NULL;
    s->input = schema_compile(d->registry, s->input_doc, NULL, &opts, &why);
    if (!s->input) {
        if (asprintf(error, "schemas/%s.input.json does not compile: %s", s->def->name,
                     why ? why : "unknown error") < 0)
            *error = NULL;
        free(why);
        return -1;
    }
    /* Clients see a copy every model provider accepts; arguments are still
     * validated against the full schema above. */
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

static void free_slots(struct dispatch *d)
{
    for (unsigned i = 0; i < d->nslots; i++) {
        schema_destroy(d->slots[i].input);
        json_decref(d->slots[i].input_doc);
        json_decref(d->slots[i].published_input);
        json_decref(d->slots[i].output_doc);
        free(d->slots[i].exposed_name);
    }
    schema_registry_destroy(d->registry);
    d->registry = NULL;
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
    struct store_options opts = {.spec = cfg->store, .log = store_log};
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
    if (load_personas(d, error) != 0 ||
        (cfg->audit_log && !(d->audit = audit_open(loop, cfg->audit_log, error)))) {
        persona_set_unref(d->personas);
        free(d);
        if (!*error)
            *error = strdup("out of memory at start-up");
        return NULL;
    }
    d->registry = schema_registry_create();
    if (!d->registry) {
        audit_close(d->audit);
        persona_set_unref(d->personas);
        free(d);
        *error = strdup("cannot load the built-in JSON Schema meta-schemas");
        return NULL;
    }
    for (unsigned i = 0; i < tool_table_len && i < CONFIG_MAX_TOOLS; i++) {
        d->nslots = i + 1;
        if (init_slot(d, i, error) != 0) {
            free_slots(d);
            audit_close(d->audit);
            persona_set_unref(d->personas);
            free(d);
            if (!*error)
                *error = strdup("out of memory while loading the tool schemas");
            return NULL;
        }
        if (d->slots[i].allowed)
            d->exposed[d->nexposed++] = &d->slots[i].shown;
    }
    /* The store comes last: its close is asynchronous, and a caller whose
     * dispatch_create failed closes the loop without running it. */
    if (!(d->store = dispatch_open_store(cfg, loop, error))) {
        free_slots(d);
        audit_close(d->audit);
        persona_set_unref(d->personas);
        free(d);
        return NULL;
    }
    return d;
}

static void unlink_call(struct dispatch_call *c)
{
    struct dispatch *d = c->d;
    if (c->prev)
        c->prev->next = c->next;
    else
        d->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    d->pending--;
}

static void free_call(struct dispatch_call *c)
{
    json_decref(c->args);
    free(c->client_name);
    free(c->client_version);
    free(c->persona);
    free(c->client_transport);
    free(c->client_address);
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

/* Who made a call, as the audit line names them. */
struct caller {
    const char *name;
    const char *version;
    const char *persona;
    const char *transport;
    const char *address;
};

static void audit_call(struct dispatch *d, const char *tool, json_t *args,
                       const struct caller *who, const char *outcome, json_t *result,
                       const char *request_id, long http_status, uint64_t started_ns)
{
    if (!d->audit)
        return;
    struct audit_entry e = {
        .client_name = who->name,
        .client_version = who->version,
        .persona = who->persona,
        .transport = who->transport,
        .address = who->address,
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
    /* dispatch_cancel unlinks the call, so d->calls moves on; the analyzer
     * does not follow the unlink and takes it for the call just freed. */
    while (d->calls)
        dispatch_cancel(d->calls); // NOLINT(clang-analyzer-unix.Malloc): see above
    struct http_engine *engine = d->engine;
    struct store *store = d->store;
    free_slots(d);
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

static void on_http_done(void *data, const struct http_response *resp)
{
    struct dispatch_call *c = data;
    struct tool_read_ctx rctx = {
        .tool = c->slot->def,
        .timeout_ms = c->d->cfg->timeout_ms,
        .endpoint = &c->slot->endpoint,
    };
    struct tool_outcome out = {0};
    /* An upstream that echoes the key (in an error message, say) must not
     * smuggle it out: readers cut excerpts, and a cut through the key would
     * leave a part that the final redaction cannot recognise. So the body
     * is cleaned before any reader sees it. */
    struct http_response clean = *resp;
    size_t clean_len = 0;
    char *scrubbed = NULL;
    if (redact_apply(resp->body, resp->body_len, &scrubbed, &clean_len) != 0) {
        /* Fail closed: no reader may see a body that still holds the key. */
        out.error_text = strdup("The server ran out of memory while reading " SERVICE_NAME
                                "'s answer; the request may or may not have been carried "
                                "out.");
    } else {
        if (scrubbed) {
            clean.body = scrubbed;
            clean.body_len = clean_len;
        }
        c->slot->def->read(&rctx, &clean, c->args, &out);
        free(scrubbed);
    }
    json_t *result;
    if (out.structured) {
        result = success_result(json_incref(out.structured));
    } else {
        result = dispatch_error_result(out.error_text ? out.error_text
                                                      : SERVICE_NAME
                                           "'s answer could not be read.");
    }
    struct caller who = {c->client_name, c->client_version, c->persona,
                         c->client_transport, c->client_address};
    audit_call(c->d, c->slot->def->name, c->args, &who,
               out.structured ? "ok" : "tool_error", result, out.upstream_request_id,
               resp->outcome == HTTP_ANSWERED ? resp->status : 0, c->started_ns);
    log_debug("%s finished: HTTP %ld, outcome %d, %.1f ms, %u attempt(s)%s%s",
              c->slot->def->name, resp->status, (int)resp->outcome, resp->elapsed_ms,
              resp->attempts, out.upstream_request_id ? ", request id " : "",
              out.upstream_request_id ? out.upstream_request_id : "");
    tool_outcome_finish(&out);
    unlink_call(c);
    struct dispatch_callbacks cb = c->cb;
    void *cb_data = c->data;
    free_call(c);
    cb.done(cb_data, result);
}

/* Finishes a call that never goes upstream: audits it and hands the
 * result back. Takes result. */
static enum dispatch_status done_now(struct dispatch *d, const struct tool_slot *s,
                                     json_t *args, const struct caller *who,
                                     const char *outcome, json_t *result,
                                     uint64_t started_ns, json_t **out)
{
    audit_call(d, s->def->name, args, who, outcome, result, NULL, 0, started_ns);
    *out = result;
    return DISPATCH_DONE;
}

static char *copy_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

/* Hands a built request to the HTTP engine and keeps the call pending.
 * The engine takes req's URL and body, whether or not it accepts it. */
static enum dispatch_status submit(struct dispatch *d, struct tool_slot *s, json_t *args,
                                   const struct caller *who,
                                   const struct dispatch_callbacks *cb, void *data,
                                   struct http_request *req, uint64_t started,
                                   json_t **result, struct dispatch_call **call)
{
    struct dispatch_call *c = NULL;
    if (ensure_engine(d) != 0 || !(c = calloc(1, sizeof *c))) {
        return done_now(
            d, s, args, who, "tool_error",
            dispatch_error_result("The HTTP engine could not start; nothing was sent."),
            started, result);
    }
    c->d = d;
    c->slot = s;
    c->args = json_incref(args);
    c->cb = *cb;
    c->data = data;
    c->started_ns = started;
    c->client_name = copy_or_null(who->name);
    c->client_version = copy_or_null(who->version);
    c->persona = copy_or_null(who->persona);
    c->client_transport = copy_or_null(who->transport);
    c->client_address = copy_or_null(who->address);
    log_debug("%s: %s %s", s->def->name, req->method, req->url);
    /* The engine takes the URL and body, whether or not it accepts the call. */
    int rc = http_submit(d->engine, req, on_http_done, on_http_stage, c, &c->http);
    if (rc != 0) {
        free_call(c);
        return done_now(d, s, args, who, "tool_error",
                        dispatch_error_result(
                            rc == -EBUSY ? "The server is busy: too many calls are "
                                           "already waiting for " SERVICE_NAME
                                           ", so this one was "
                                           "not queued and nothing was sent. Try again "
                                           "in a moment."
                                         : "The request could not be queued; nothing "
                                           "was sent."),
                        started, result);
    }
    c->next = d->calls;
    if (d->calls)
        d->calls->prev = c;
    d->calls = c;
    d->pending++;
    *call = c;
    return DISPATCH_PENDING;
}

/* What one call runs with: the tool, its arguments and who asked. */
struct call_ctx {
    struct dispatch *d;
    struct tool_slot *s;
    json_t *args;
    const struct persona *persona; /* NULL: the server's own settings */
    struct caller who;
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

/* Validates, builds and sends (or only shows) an allowed call. */
static enum dispatch_status run_call(const struct call_ctx *x,
                                     const struct dispatch_callbacks *cb, void *data,
                                     json_t **result, struct dispatch_call **call)
{
    struct dispatch *d = x->d;
    struct tool_slot *s = x->s;
    struct schema_errors errors = {0};
    if (!schema_validate(s->input, x->args, &errors)) {
        enum dispatch_status st =
            done_now(d, s, x->args, &x->who, "invalid_arguments",
                     invalid_arguments(s, &errors), x->started, result);
        schema_errors_finish(&errors);
        return st;
    }
    schema_errors_finish(&errors);

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
    if (s->def->build(&bctx, x->args, &req, &why) != 0) {
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
        st = submit(d, s, x->args, &x->who, cb, data, &req, x->started, result, call);
    }
    free(req.url);
    free(req.body);
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
    x.who = (struct caller){
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
    http_cancel(c->http);
    struct caller who = {c->client_name, c->client_version, c->persona,
                         c->client_transport, c->client_address};
    audit_call(c->d, c->slot->def->name, c->args, &who, "cancelled", NULL, NULL, 0,
               c->started_ns);
    unlink_call(c);
    free_call(c);
}

unsigned dispatch_pending(const struct dispatch *d)
{
    return d->pending;
}
