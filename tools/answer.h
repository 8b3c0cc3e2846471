/* Reading MSG91 answers, shared by every tool: transport failures, HTTP
 * statuses, the two envelope families, key errors and MSG91's request id,
 * each turned into one sentence a model can act on. A tool's reader calls
 * answer_read and then only looks at its own success shape.
 * Design note: doc/tools.md. */
#ifndef MSG91_TOOLS_ANSWER_H
#define MSG91_TOOLS_ANSWER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "tools/tool.h"
#include "upstream/http.h"

/* What a tool that changes something upstream tells the model when the
 * call's fate is unknown (timeout, dropped connection, server error).
 * Read-only tools pass NULL: they change nothing and may simply be asked
 * again. */
struct answer_effect {
    /* A clause, e.g. "the OTP may or may not have been sent". */
    const char *unknown;
    /* A sentence saying how to check before trying again; never "retry". */
    const char *advice;
};

enum answer_verdict {
    ANSWER_SUCCESS, /* the envelope says success: read a->root / a->data */
    ANSWER_REFUSED, /* MSG91 answered with an error of its own: a->message */
    ANSWER_FAILED,  /* out->error_text is set; the reader is done */
};

struct answer {
    json_t *root;  /* the parsed body (owned), NULL unless it was JSON */
    json_t *data;  /* borrowed: family 2's "data" member, else root; may be NULL */
    long status;   /* the HTTP status */
    char *message; /* ANSWER_REFUSED: MSG91's error text, sanitised (malloc'd) */
    /* ANSWER_REFUSED: MSG91's own error code (family 1 "code", family 2
     * "apiError"), digits only; "" when it gave none. */
    char code[16];
};

/* Classifies resp. Handles every outcome other than a normal answer, the
 * statuses 401/403/404 Route Missing/413/418/429/5xx, bodies that are not a
 * JSON object, and the refusals tools/msg91_errors.h documents (key, IP,
 * duplicate, balance, number, sender) in either envelope family, by setting
 * out->error_text and returning ANSWER_FAILED. Sets out->upstream_request_id
 * when the body carries "request_id". The caller releases a with
 * answer_finish whatever the verdict. */
enum answer_verdict answer_read(const struct tool_read_ctx *ctx,
                                const struct http_response *resp,
                                const struct answer_effect *effect, struct answer *a,
                                struct tool_outcome *out);

void answer_finish(struct answer *a);

/* Sets out->error_text for a refusal: MSG91's message, then hint (a
 * sentence, may be NULL). */
void answer_refused(const struct answer *a, const char *hint, struct tool_outcome *out);

/* Sets out->error_text for a JSON answer of the wrong shape; what says
 * what was wrong (e.g. "\"request_id\" is missing"). */
void answer_wrong_shape(const struct http_response *resp,
                        const struct answer_effect *effect, const char *what,
                        struct tool_outcome *out);

/* Sets out->structured, stealing result; when result is NULL (out of
 * memory while building it) sets an error text instead. */
void answer_success(struct tool_outcome *out, json_t *result);

/* A known refusal of MSG91 and the sentence that tells the model what to
 * do about it. */
struct answer_hint {
    const char *message; /* MSG91's text, compared ignoring case */
    const char *hint;
};

/* What else a reader takes as a success when the status is 2xx, for
 * endpoints whose answers no source shows. */
enum {
    /* Any JSON that is not one of the two envelopes: a->root and a->data
     * are the whole answer (a bare list, a plain object). */
    ANSWER_ACCEPT_ANY = 1,
    /* A body that is not JSON at all (e.g. "Event Created"): a->root and
     * a->data are NULL; the text is resp's body. */
    ANSWER_ACCEPT_TEXT = 2,
};

/* How one tool reads its answer: the one part that differs between tools,
 * named by its tool_def.reader; tool_read (tools/tool.h) does the rest. */
struct answer_reader {
    const struct answer_effect *effect; /* NULL for a read-only tool */
    /* A success: a->root and a->data hold the answer (a is borrowed). */
    void (*success)(const struct answer *a, const struct http_response *resp,
                    json_t *args, struct tool_outcome *out);
    /* A refusal; NULL: answer_refused with the hint of the first of hints
     * whose message MSG91's is, or with none. */
    void (*refused)(const struct answer *a, json_t *args, struct tool_outcome *out);
    const struct answer_hint *hints; /* ended by a NULL message; may be NULL */
    unsigned accept;                 /* ANSWER_ACCEPT_*: what else is a success */
};

/* Whether the refusal's message is text, ignoring case, since MSG91 has
 * changed capitalisation before. */
bool answer_message_is(const struct answer *a, const char *text);

/* Makes one element of a result from item, the index-th of a list in an
 * answer: a new reference; or NULL, with a sentence in what (what_size
 * bytes) saying what is wrong with the item, or what left empty when
 * memory ran out. */
typedef json_t *(*answer_item_fn)(json_t *item, size_t index, char *what,
                                  size_t what_size);

/* Sets *result to a new array with each(item) for every item of list and
 * returns 0; *result is NULL when memory ran out (answer_success then says
 * so). Returns -1 when an item was of the wrong shape, with out's error
 * text saying which (answer_wrong_shape). */
int answer_list(const struct http_response *resp, const struct answer_effect *effect,
                json_t *list, answer_item_fn each, json_t **result,
                struct tool_outcome *out);

/* Replaces out->upstream_request_id with a copy of id. */
void answer_set_request_id(struct tool_outcome *out, const char *id);

/* A printable excerpt of untrusted text for a message: valid UTF-8 only,
 * control characters removed (runs of whitespace, line breaks included,
 * become one space), trimmed, cut at max bytes with "..." appended. Returns a malloc'd
 * string, or NULL when out of memory. */
char *answer_excerpt(const char *s, size_t len, size_t max);

#endif
