#include "server/jsonrpc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/dynbuf.h"
#include "util/jsonload.h"

/* Outgoing lines may be large (a tools/list or a big result) but never
 * unbounded: the TypeScript SDK drops any line over 10 MiB. */
#define JSONRPC_MAX_LINE ((size_t)64 * 1024 * 1024)

static void set_invalid(struct jsonrpc_message *msg, int code, const char *text)
{
    msg->kind = JSONRPC_INVALID;
    msg->error_code = code;
    msg->error_text = text;
}

/* Skips one JSON value starting at p (already known to be valid JSON,
 * because jansson parsed the whole text) and returns the end. */
static const char *skip_value(const char *p, const char *end)
{
    int depth = 0;
    bool in_string = false;
    for (; p < end; p++) {
        char c = *p;
        if (in_string) {
            if (c == '\\')
                p++;
            else if (c == '"') {
                in_string = false;
                if (depth == 0)
                    return p + 1;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = true;
            break;
        case '{':
        case '[':
            depth++;
            break;
        case '}':
        case ']':
            if (depth == 0)
                return p;
            if (--depth == 0)
                return p + 1;
            break;
        case ',':
        case ' ':
        case '\t':
        case '\r':
        case '\n':
            if (depth == 0)
                return p;
            break;
        default:
            break;
        }
    }
    return p;
}

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n'))
        p++;
    return p;
}

/* Finds the raw text of the top-level member "id" of a JSON object text.
 * The last occurrence wins, as it does in jansson. Keys written with
 * escapes are decoded through jansson so "\u0069d" is found too. */
static bool find_raw_id(const char *text, size_t len, const char **start, size_t *n)
{
    const char *p = text, *end = text + len;
    bool found = false;
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return false;
    p++;
    for (;;) {
        p = skip_ws(p, end);
        if (p >= end || *p != '"')
            return found;
        const char *key = p;
        p = skip_value(p, end);
        size_t key_len = (size_t)(p - key);
        bool is_id = key_len == 4 && memcmp(key, "\"id\"", 4) == 0;
        if (!is_id && memchr(key, '\\', key_len)) {
            json_t *k = json_loadb(key, key_len, JSON_DECODE_ANY, NULL);
            is_id = k && json_is_string(k) && strcmp(json_string_value(k), "id") == 0;
            json_decref(k);
        }
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return found;
        p = skip_ws(p + 1, end);
        const char *value = p;
        p = skip_value(p, end);
        if (is_id) {
            *start = value;
            *n = (size_t)(p - value);
            found = true;
        }
        p = skip_ws(p, end);
        if (p >= end || *p != ',')
            return found;
        p++;
    }
}

char *jsonrpc_id_key(json_t *id)
{
    if (json_is_string(id)) {
        /* Strings and numbers must never collide: "1" and 1 are different ids. */
        size_t n = json_string_length(id);
        char *key = malloc(n + 2);
        if (!key)
            return NULL;
        key[0] = 's';
        memcpy(key + 1, json_string_value(id), n + 1);
        return key;
    }
    if (json_is_integer(id) || json_is_real(id)) {
        char *num = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
        if (!num)
            return NULL;
        size_t n = strlen(num);
        char *key = malloc(n + 2);
        if (key) {
            key[0] = 'n';
            memcpy(key + 1, num, n + 1);
        }
        free(num);
        return key;
    }
    return NULL;
}

/* An id is a string or an integer. A real is one only when its raw text
 * is all digits: an integer literal too big for 64 bits, which the parser
 * reads as a real (see util/jsonload.h). */
static bool valid_id(json_t *id, const char *raw, size_t raw_len)
{
    if (json_is_string(id) || json_is_integer(id))
        return true;
    if (!json_is_real(id) || !raw)
        return false;
    for (size_t i = 0; i < raw_len; i++)
        if (!(raw[i] >= '0' && raw[i] <= '9') && !(i == 0 && raw[i] == '-'))
            return false;
    return true;
}

static void classify(struct jsonrpc_message *msg, const char *raw_id, size_t raw_len)
{
    json_t *root = msg->root;
    if (!json_is_object(root)) {
        set_invalid(msg, JSONRPC_INVALID_REQUEST,
                    "Invalid Request: a message must be a JSON object");
        return;
    }
    json_t *id = json_object_get(root, "id");
    json_t *method = json_object_get(root, "method");
    json_t *version = json_object_get(root, "jsonrpc");
    bool has_id = id != NULL;

    if (has_id && !json_is_null(id)) {
        if (!valid_id(id, raw_id, raw_len)) {
            set_invalid(msg, JSONRPC_INVALID_REQUEST,
                        "Invalid Request: id must be a string or an integer");
            return;
        }
        msg->id_key = jsonrpc_id_key(id);
        if (raw_id) {
            msg->id_raw = strndup(raw_id, raw_len);
        } else {
            msg->id_raw = json_dumps(id, JSON_ENCODE_ANY | JSON_COMPACT);
        }
        if (!msg->id_raw || !msg->id_key) {
            set_invalid(msg, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory");
            return;
        }
    }
    if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0) {
        set_invalid(msg, JSONRPC_INVALID_REQUEST,
                    "Invalid Request: \"jsonrpc\" must be \"2.0\"");
        return;
    }
    if (!method) {
        if (has_id &&
            (json_object_get(root, "result") || json_object_get(root, "error"))) {
            msg->kind = JSONRPC_RESPONSE;
            return;
        }
        set_invalid(msg, JSONRPC_INVALID_REQUEST,
                    "Invalid Request: \"method\" is missing");
        return;
    }
    if (!json_is_string(method)) {
        set_invalid(msg, JSONRPC_INVALID_REQUEST,
                    "Invalid Request: \"method\" must be a string");
        return;
    }
    if (has_id && json_is_null(id)) {
        /* MCP forbids null ids; answering would be ambiguous. */
        set_invalid(msg, JSONRPC_INVALID_REQUEST, "Invalid Request: id must not be null");
        return;
    }
    json_t *params = json_object_get(root, "params");
    if (params && !json_is_object(params) && !json_is_array(params)) {
        if (has_id) {
            set_invalid(msg, JSONRPC_INVALID_REQUEST,
                        "Invalid Request: \"params\" must be an object or an array");
            return;
        }
        params = NULL;
    }
    msg->method = json_string_value(method);
    msg->params = params;
    msg->kind = has_id ? JSONRPC_REQUEST : JSONRPC_NOTIFICATION;
}

static void message_init(struct jsonrpc_message *msg)
{
    memset(msg, 0, sizeof *msg);
}

/* The raw id text of each element of a batch, so that an element's
 * integer id past 64 bits (a real once parsed) is echoed exactly, as for
 * a single message. Returns 0, or -1 when out of memory. */
static int find_element_ids(struct jsonrpc_message *msg, const char *line, size_t len)
{
    size_t count = json_array_size(msg->root);
    if (count == 0)
        return 0;
    msg->element_ids = calloc(count, sizeof *msg->element_ids);
    if (!msg->element_ids)
        return -1;
    msg->element_count = count;
    const char *end = line + len;
    const char *p = skip_ws(line, end) + 1;
    for (size_t i = 0; i < count && p < end; i++) {
        p = skip_ws(p, end);
        const char *element = p;
        p = skip_value(p, end);
        const char *raw;
        size_t n;
        if (find_raw_id(element, (size_t)(p - element), &raw, &n)) {
            msg->element_ids[i] = strndup(raw, n);
            if (!msg->element_ids[i])
                return -1;
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p++;
    }
    return 0;
}

/* Whether an element of a batch has an id that is a real: an integer too
 * big for 64 bits, whose raw text the element then needs. */
static bool has_real_id(json_t *batch)
{
    size_t i;
    json_t *item;
    json_array_foreach(batch, i, item) {
        if (json_is_real(json_object_get(item, "id")))
            return true;
    }
    return false;
}

void jsonrpc_parse_line(const char *line, size_t len, struct jsonrpc_message *msg)
{
    message_init(msg);
    json_error_t err;
    bool nomem = false;
    msg->root = jsonload_buffer(line, len, JSON_DECODE_ANY, &err, &nomem);
    if (!msg->root && !nomem && json_error_code(&err) == json_error_null_character) {
        /* Valid JSON with "\u0000" in a string: parse it anyway so the
         * request keeps its id and gets a precise error, not a parse error
         * that could not name the request it answers. */
        msg->has_nul = true;
        msg->root =
            jsonload_buffer(line, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &err, &nomem);
    }
    if (!msg->root && json_error_code(&err) == json_error_out_of_memory) {
        /* Valid or not, the line could not be read: answer its id, found in
         * the raw text, with an internal error rather than a parse error. */
        const char *raw;
        size_t raw_len;
        if (find_raw_id(line, len, &raw, &raw_len))
            msg->id_raw = strndup(raw, raw_len);
        set_invalid(msg, JSONRPC_INTERNAL_ERROR,
                    "Internal error: the server ran out of memory while reading this "
                    "message; send it again");
        return;
    }
    if (!msg->root) {
        if (nomem)
            set_invalid(msg, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory");
        else
            set_invalid(msg, JSONRPC_PARSE_ERROR,
                        "Parse error: the line is not valid JSON");
        return;
    }
    if (json_is_array(msg->root)) {
        msg->kind = JSONRPC_BATCH;
        if (has_real_id(msg->root) && find_element_ids(msg, line, len) != 0)
            set_invalid(msg, JSONRPC_INTERNAL_ERROR, "Internal error: out of memory");
        return;
    }
    const char *raw = NULL;
    size_t raw_len = 0;
    if (json_is_object(msg->root) && !find_raw_id(line, len, &raw, &raw_len))
        raw = NULL;
    classify(msg, raw, raw_len);
}

void jsonrpc_parse_value(json_t *value, struct jsonrpc_message *msg)
{
    message_init(msg);
    msg->root = json_incref(value);
    classify(msg, NULL, 0);
}

void jsonrpc_parse_element(const struct jsonrpc_message *batch, size_t index,
                           struct jsonrpc_message *msg)
{
    message_init(msg);
    msg->root = json_incref(json_array_get(batch->root, index));
    const char *raw = index < batch->element_count ? batch->element_ids[index] : NULL;
    classify(msg, raw, raw ? strlen(raw) : 0);
}

void jsonrpc_message_finish(struct jsonrpc_message *msg)
{
    for (size_t i = 0; i < msg->element_count; i++)
        free(msg->element_ids[i]);
    free(msg->element_ids);
    json_decref(msg->root);
    free(msg->id_raw);
    free(msg->id_key);
    message_init(msg);
}

static int append_dump(struct dynbuf *b, json_t *value)
{
    char *text = json_dumps(value, JSON_ENCODE_ANY | JSON_COMPACT);
    if (!text)
        return -1;
    int rc = dynbuf_append_str(b, text);
    free(text);
    return rc;
}

static char *finish_line(struct dynbuf *b, int rc, size_t *len)
{
    if (rc != DYNBUF_OK) {
        dynbuf_finish(b);
        return NULL;
    }
    return dynbuf_take(b, len);
}

/* Starts a result line in b: everything before the result's value. */
static int result_start(struct dynbuf *b, const char *id_raw)
{
    dynbuf_init(b, JSONRPC_MAX_LINE);
    int rc = dynbuf_append_str(b, "{\"jsonrpc\":\"2.0\",\"id\":");
    rc = rc ? rc : dynbuf_append_str(b, id_raw ? id_raw : "null");
    return rc ? rc : dynbuf_append_str(b, ",\"result\":");
}

char *jsonrpc_result_line(const char *id_raw, json_t *result, size_t *len)
{
    struct dynbuf b;
    int rc = result_start(&b, id_raw);
    rc = rc ? rc : append_dump(&b, result);
    rc = rc ? rc : dynbuf_append_str(&b, "}");
    return finish_line(&b, rc, len);
}

char *jsonrpc_result_line_raw(const char *id_raw, const char *result_json,
                              size_t result_len, size_t *len)
{
    struct dynbuf b;
    int rc = result_start(&b, id_raw);
    rc = rc ? rc : dynbuf_append(&b, result_json, result_len);
    rc = rc ? rc : dynbuf_append_str(&b, "}");
    return finish_line(&b, rc, len);
}

/* obj (a new reference, or NULL) with member key set to value when value
 * is not NULL (borrowed); an object without it is still sent. */
static json_t *with_member(json_t *obj, const char *key, json_t *value)
{
    if (obj && value)
        json_object_set(obj, key, value);
    return obj;
}

char *jsonrpc_error_line(const char *id_raw, int code, const char *message, json_t *data,
                         size_t *len)
{
    json_t *error = with_member(json_pack("{s:i,s:s}", "code", code, "message", message),
                                "data", data);
    if (!error)
        return NULL;
    struct dynbuf b;
    dynbuf_init(&b, JSONRPC_MAX_LINE);
    int rc = dynbuf_append_str(&b, "{\"jsonrpc\":\"2.0\",");
    if (id_raw) {
        rc = rc ? rc : dynbuf_append_str(&b, "\"id\":");
        rc = rc ? rc : dynbuf_append_str(&b, id_raw);
        rc = rc ? rc : dynbuf_append_str(&b, ",");
    }
    rc = rc ? rc : dynbuf_append_str(&b, "\"error\":");
    rc = rc ? rc : append_dump(&b, error);
    rc = rc ? rc : dynbuf_append_str(&b, "}");
    json_decref(error);
    return finish_line(&b, rc, len);
}

char *jsonrpc_notification_line(const char *method, json_t *params, size_t *len)
{
    json_t *msg = with_member(json_pack("{s:s,s:s}", "jsonrpc", "2.0", "method", method),
                              "params", params);
    if (!msg)
        return NULL;
    struct dynbuf b;
    dynbuf_init(&b, JSONRPC_MAX_LINE);
    int rc = append_dump(&b, msg);
    json_decref(msg);
    return finish_line(&b, rc, len);
}
