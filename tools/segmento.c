/* placeholder until the tools are written: every call fails loudly */
#include "tools/impl.h"
#include <string.h>
#include <stdlib.h>

int create_user_events_build(const struct tool_build_ctx *ctx, json_t *args, struct http_request *req, char **error)
{
    (void)ctx; (void)args; (void)req;
    *error = strdup("not implemented yet");
    return -1;
}

void create_user_events_read(const struct tool_read_ctx *ctx, const struct http_response *resp, json_t *args, struct tool_outcome *out)
{
    (void)ctx; (void)resp; (void)args;
    out->error_text = strdup("not implemented yet");
}

int get_event_types_build(const struct tool_build_ctx *ctx, json_t *args, struct http_request *req, char **error)
{
    (void)ctx; (void)args; (void)req;
    *error = strdup("not implemented yet");
    return -1;
}

void get_event_types_read(const struct tool_read_ctx *ctx, const struct http_response *resp, json_t *args, struct tool_outcome *out)
{
    (void)ctx; (void)resp; (void)args;
    out->error_text = strdup("not implemented yet");
}

int get_failed_events_build(const struct tool_build_ctx *ctx, json_t *args, struct http_request *req, char **error)
{
    (void)ctx; (void)args; (void)req;
    *error = strdup("not implemented yet");
    return -1;
}

void get_failed_events_read(const struct tool_read_ctx *ctx, const struct http_response *resp, json_t *args, struct tool_outcome *out)
{
    (void)ctx; (void)resp; (void)args;
    out->error_text = strdup("not implemented yet");
}

int list_campaigns_build(const struct tool_build_ctx *ctx, json_t *args, struct http_request *req, char **error)
{
    (void)ctx; (void)args; (void)req;
    *error = strdup("not implemented yet");
    return -1;
}

void list_campaigns_read(const struct tool_read_ctx *ctx, const struct http_response *resp, json_t *args, struct tool_outcome *out)
{
    (void)ctx; (void)resp; (void)args;
    out->error_text = strdup("not implemented yet");
}
