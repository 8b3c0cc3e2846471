/* The build and read functions of each tool, defined one MSG91 area per
 * file (otp.c, flow.c, segmento.c, campaign.c) and gathered into the table
 * by table.c. */
#ifndef MSG91_TOOLS_IMPL_H
#define MSG91_TOOLS_IMPL_H

#include "tools/tool.h"

int send_otp_build(const struct tool_build_ctx *ctx, json_t *args,
                   struct http_request *req, char **error);
void send_otp_read(const struct tool_read_ctx *ctx, const struct http_response *resp,
                   json_t *args, struct tool_outcome *out);
int resend_otp_build(const struct tool_build_ctx *ctx, json_t *args,
                     struct http_request *req, char **error);
void resend_otp_read(const struct tool_read_ctx *ctx, const struct http_response *resp,
                     json_t *args, struct tool_outcome *out);
int verify_otp_build(const struct tool_build_ctx *ctx, json_t *args,
                     struct http_request *req, char **error);
void verify_otp_read(const struct tool_read_ctx *ctx, const struct http_response *resp,
                     json_t *args, struct tool_outcome *out);

int send_sms_flow_build(const struct tool_build_ctx *ctx, json_t *args,
                        struct http_request *req, char **error);
void send_sms_flow_read(const struct tool_read_ctx *ctx, const struct http_response *resp,
                        json_t *args, struct tool_outcome *out);

int create_user_events_build(const struct tool_build_ctx *ctx, json_t *args,
                             struct http_request *req, char **error);
void create_user_events_read(const struct tool_read_ctx *ctx,
                             const struct http_response *resp, json_t *args,
                             struct tool_outcome *out);
int get_event_types_build(const struct tool_build_ctx *ctx, json_t *args,
                          struct http_request *req, char **error);
void get_event_types_read(const struct tool_read_ctx *ctx,
                          const struct http_response *resp, json_t *args,
                          struct tool_outcome *out);
int get_failed_events_build(const struct tool_build_ctx *ctx, json_t *args,
                            struct http_request *req, char **error);
void get_failed_events_read(const struct tool_read_ctx *ctx,
                            const struct http_response *resp, json_t *args,
                            struct tool_outcome *out);
int list_campaigns_build(const struct tool_build_ctx *ctx, json_t *args,
                         struct http_request *req, char **error);
void list_campaigns_read(const struct tool_read_ctx *ctx,
                         const struct http_response *resp, json_t *args,
                         struct tool_outcome *out);

#endif
