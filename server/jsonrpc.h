/* JSON-RPC 2.0 envelopes: classifying one incoming message and writing
 * responses, errors and notifications as single compact lines. Request ids
 * are echoed from their raw text, so a string, 0 or an integer of any size
 * comes back exactly as the client sent it. */
#ifndef MSG91_JSONRPC_H
#define MSG91_JSONRPC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum jsonrpc_code {
    JSONRPC_PARSE_ERROR = -32700,
    JSONRPC_INVALID_REQUEST = -32600,
    JSONRPC_METHOD_NOT_FOUND = -32601,
    JSONRPC_INVALID_PARAMS = -32602,
    JSONRPC_INTERNAL_ERROR = -32603,
};

enum jsonrpc_kind {
    JSONRPC_REQUEST,      /* method + id: needs exactly one response */
    JSONRPC_NOTIFICATION, /* method, no id: never answered */
    JSONRPC_RESPONSE,     /* a response from the client (we send no requests) */
    JSONRPC_BATCH,        /* a JSON array; see jsonrpc_message.root */
    JSONRPC_INVALID,      /* answer with error_code, error_text and id_raw */
};

struct jsonrpc_message {
    enum jsonrpc_kind kind;
    json_t *root;       /* owned: the whole parsed message (NULL on parse error) */
    char *id_raw;       /* owned: exact JSON text of the id; "null" when none */
    char *id_key;       /* owned: canonical form used to find a request by id */
    const char *method; /* borrowed from root */
    json_t *params;     /* borrowed from root, NULL when absent */
    int error_code;     /* for JSONRPC_INVALID */
    const char *error_text;
    /* The message holds a string with a NUL character (\u0000). It is valid
     * JSON, so it is classified as usual to keep its id, but no C string
     * can carry it: a request must be answered with an error. */
    bool has_nul;
    /* For a batch whose line held an integer past 64 bits: the raw text of
     * each element's id (NULL where it has none), owned; element_count 0
     * otherwise. Read through jsonrpc_parse_element. */
    char **element_ids;
    size_t element_count;
};

/* Parses one line. Never fails: anything unusable becomes JSONRPC_INVALID
 * with a parse error or invalid request code. An integer literal too big
 * for 64 bits becomes a real; every other integer stays an integer. Release
 * with jsonrpc_message_finish. */
void jsonrpc_parse_line(const char *line, size_t len, struct jsonrpc_message *msg);

/* Classifies one element of a batch (value borrowed; msg takes a reference).
 * An id too big for 64 bits is refused here, as its raw text is unknown:
 * jsonrpc_parse_element keeps it. */
void jsonrpc_parse_value(json_t *value, struct jsonrpc_message *msg);

/* Classifies element index of batch (a JSONRPC_BATCH message from
 * jsonrpc_parse_line); the element keeps its own id, of any size. */
void jsonrpc_parse_element(const struct jsonrpc_message *batch, size_t index,
                           struct jsonrpc_message *msg);

void jsonrpc_message_finish(struct jsonrpc_message *msg);

/* The canonical lookup key of an id value (as in notifications/cancelled's
 * requestId); malloc'd, or NULL when the value cannot be an id. */
char *jsonrpc_id_key(json_t *id);

/* Each writer returns a malloc'd compact line without the newline, and its
 * length in *len; NULL only when memory ran out. An error line with id_raw
 * NULL has no "id" member at all (2025-11-25 forbids a null id and makes
 * it optional); pass "null" for JSON-RPC's id null. */
char *jsonrpc_result_line(const char *id_raw, json_t *result, size_t *len);
/* The same with the result given as compact JSON text, for callers that
 * already hold it serialised. */
char *jsonrpc_result_line_raw(const char *id_raw, const char *result_json,
                              size_t result_len, size_t *len);
char *jsonrpc_error_line(const char *id_raw, int code, const char *message, json_t *data,
                         size_t *len);
char *jsonrpc_notification_line(const char *method, json_t *params, size_t *len);

#endif
