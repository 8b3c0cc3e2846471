/* Helpers for the suites that read MSG91 answers with the tools' readers
 * (test_tools, test_readers, test_msg91_errors): an answered HTTP response,
 * one tool_read call, and the check that a result conforms to the tool's
 * output schema. */
#ifndef MSG91_TOOLUTIL_H
#define MSG91_TOOLUTIL_H

#include <jansson.h>

#include "tools/tool.h"

/* A response MSG91 answered with status and body (type: its Content-Type,
 * may be NULL). body must outlive the response. */
struct http_response toolutil_answered(long status, const char *body, const char *type);
/* Reads resp as tool name's answer to the arguments args_text (JSON text)
 * into out (cleared first), with the given endpoint (NULL: none given). */
void toolutil_read(const char *name, const struct tool_endpoint *endpoint,
                   const char *args_text, const struct http_response *resp,
                   struct tool_outcome *out);
/* Fails the test unless result conforms to the tool's output schema, as
 * the server promises its clients. */
void toolutil_expect_conforms(const char *name, json_t *result);

#endif
