/* placeholder until the tools are written: every call fails loudly */
#include "tools/impl.h"
#include <string.h>
#include <stdlib.h>

int send_otp_build(const struct tool_build_ctx *ctx, json_t *args, struct http_request *req, char **error)
{
    (void)ctx; (void)args; (void)req;
    *error = strdup("not implemented yet");
    return -1;
}

void send_otp_read(const struct tool_read_ctx *ctx, const struct http_response *resp, json_t *args, struct tool_outcome *out)
{
    (void)ctx; (void)resp; (void)args;
    out->error_text = strdup("not implemented yet");
}

int resend_otp_build(const struct tool_build_ctx *ctx, json_t *args, struct http_request *req, char **error)
{
    (void)ctx; (void)args; (void)req;
    *error = strdup("not implemented yet");
    return -1;
}

void resend_otp_read(const struct tool_read_ctx *ctx, const struct http_response *resp, json_t *args, struct tool_outcome *out)
{
    (void)ctx; (void)resp; (void)args;
    out->error_text = strdup("not implemented yet");
}

int verify_otp_build(const struct tool_build_ctx *ctx, json_t *args, struct http_request *req, char **error)
{
    (void)ctx; (void)args; (void)req;
    *error = strdup("not implemented yet");
    return -1;
}

void verify_otp_read(const struct tool_read_ctx *ctx, const struct http_response *resp, json_t *args, struct tool_outcome *out)
{
    (void)ctx; (void)resp; (void)args;
    out->error_text = strdup("not implemented yet");
}
