/* The OTP tools: send_otp, resend_otp and verify_otp. By default all three
 * send their parameters in the query string (MSG91's OTP API reads them
 * there; tools/table.c places them) and get
 * family 1 answers ({"type":"success"|"error",...}). */
#include "tools/impl.h"

#include <stdlib.h>
#include <string.h>

#include "tools/answer.h"
#include "tools/args.h"
#include "tools/request.h"

static const struct answer_effect send_effect = {
    "the OTP may or may not have been sent",
    "Ask the person whether a code arrived before calling send_otp again, since that "
    "mints a new code; if none arrived, resend_otp delivers the pending one.",
};

static const struct answer_effect resend_effect = {
    "the OTP may or may not have been resent",
    "Ask the person whether a code arrived before calling resend_otp again; MSG91 "
    "allows only two retries per code.",
};

static const struct answer_effect verify_effect = {
    "MSG91 may or may not have checked the code",
    "A code can be verified only once: if verifying again answers \"Mobile no. already "
    "verified\", this check succeeded.",
};

/* Borrowed string argument, or NULL when absent. */
static const char *str_arg(json_t *args, const char *name)
{
    return json_string_value(json_object_get(args, name));
}

/* The "mobile" argument as digits only (malloc'd), or NULL when out of
 * memory; results name the number as it was sent. */
static char *mobile_digits(json_t *args)
{
    const char *mobile = str_arg(args, "mobile");
    return request_mobile(mobile ? mobile : "");
}

int send_otp_build(const struct tool_build_ctx *ctx, json_t *args,
                   struct http_request *req, char **error)
{
    const char *template_id = str_arg(args, "template_id");
    if (!template_id || !template_id[0])
        template_id = ctx->arg_default;
    if (!template_id || !template_id[0])
        return request_fail(error, "template_id is required: pass template_id or "
                                   "configure MSG91_OTP_TEMPLATE_ID.");
    struct request_values v;
    request_values_init(&v);
    request_put_string(&v, "template_id", template_id);
    request_put_phone(&v, args, "mobile");
    request_put_arg(&v, args, "otp");
    if (args_put_integer(&v, args, "otp_length", error) != 0 ||
        args_put_integer(&v, args, "otp_expiry", error) != 0) {
        request_values_finish(&v);
        return -1;
    }
    /* MSG91 reads template variables from the body, which is {} when there
     * are none. */
    request_put_arg(&v, args, "variables");
    return request_build(ctx, &v, req, error);
}

static const struct answer_hint send_hints[] = {
    {"The provided flow ID or template ID is invalid.",
     "Check template_id (or the configured MSG91_OTP_TEMPLATE_ID) against the OTP "
     "templates in the MSG91 panel."},
    {NULL, NULL},
};

static void send_success(const struct answer *a, const struct http_response *resp,
                         json_t *args, struct tool_outcome *out)
{
    const char *id = json_string_value(json_object_get(a->root, "request_id"));
    if (!id || !id[0]) {
        answer_wrong_shape(resp, &send_effect, "\"request_id\" is missing", out);
        return;
    }
    char *mobile = mobile_digits(args);
    answer_success(
        out, mobile ? json_pack("{s:s, s:s}", "request_id", id, "mobile", mobile) : NULL);
    free(mobile);
}

void send_otp_read(const struct tool_read_ctx *ctx, const struct http_response *resp,
                   json_t *args, struct tool_outcome *out)
{
    static const struct answer_reader reader = {&send_effect, send_success, NULL,
                                                send_hints};
    answer_run(&reader, ctx, resp, args, out);
}

int resend_otp_build(const struct tool_build_ctx *ctx, json_t *args,
                     struct http_request *req, char **error)
{
    /* Left out, MSG91 retries by voice call; the contract's default is text,
     * so the choice is always spelled out. */
    const char *retry_type = str_arg(args, "retry_type");
    struct request_values v;
    request_values_init(&v);
    request_put_string(&v, "retry_type", retry_type ? retry_type : "text");
    request_put_phone(&v, args, "mobile");
    return request_build(ctx, &v, req, error);
}

static const struct answer_hint resend_hints[] = {
    {"OTP retry count maxed out",
     "No more retries for this code: call send_otp to send a new one."},
    {"No OTP request found to retryotp",
     "There is no pending OTP for this number: call send_otp first."},
    {NULL, NULL},
};

static void resend_success(const struct answer *a, const struct http_response *resp,
                           json_t *args, struct tool_outcome *out)
{
    (void)resp;
    const char *message = json_string_value(json_object_get(a->root, "message"));
    const char *retry_type = str_arg(args, "retry_type");
    char *mobile = mobile_digits(args);
    answer_success(out, mobile ? json_pack("{s:s, s:s, s:s}", "message",
                                           message ? message : "", "mobile", mobile,
                                           "retry_type", retry_type ? retry_type : "text")
                               : NULL);
    free(mobile);
}

void resend_otp_read(const struct tool_read_ctx *ctx, const struct http_response *resp,
                     json_t *args, struct tool_outcome *out)
{
    static const struct answer_reader reader = {&resend_effect, resend_success, NULL,
                                                resend_hints};
    answer_run(&reader, ctx, resp, args, out);
}

int verify_otp_build(const struct tool_build_ctx *ctx, json_t *args,
                     struct http_request *req, char **error)
{
    if (!str_arg(args, "otp"))
        return request_fail(error, "otp is required.");
    struct request_values v;
    request_values_init(&v);
    request_put_arg(&v, args, "otp");
    request_put_phone(&v, args, "mobile");
    return request_build(ctx, &v, req, error);
}

/* MSG91 reports these with "type":"error", but each is a real answer to
 * "is this code right?", so the call succeeds with verified: false. */
static const char *const not_verified[] = {
    "OTP not match",
    "OTP expired",
    "Mobile no. already verified",
    "Mobile no. not found",
    "Max limit reached for this otp verification",
    NULL,
};

static void verify_result(struct tool_outcome *out, bool verified, const char *message,
                          json_t *args)
{
    char *mobile = mobile_digits(args);
    answer_success(out, mobile ? json_pack("{s:b, s:s, s:s}", "verified", verified,
                                           "message", message, "mobile", mobile)
                               : NULL);
    free(mobile);
}

/* A refusal of verify_otp: a wrong, expired or used code is an answer
 * (verified: false); anything else is an error. */
static void verify_refused(const struct answer *a, json_t *args, struct tool_outcome *out)
{
    for (size_t i = 0; not_verified[i]; i++) {
        if (answer_message_is(a, not_verified[i])) {
            verify_result(out, false, a->message, args);
            return;
        }
    }
    answer_refused(a, NULL, out);
}

static void verify_success(const struct answer *a, const struct http_response *resp,
                           json_t *args, struct tool_outcome *out)
{
    (void)resp;
    const char *message = json_string_value(json_object_get(a->root, "message"));
    verify_result(out, true, message ? message : "OTP verified success", args);
}

void verify_otp_read(const struct tool_read_ctx *ctx, const struct http_response *resp,
                     json_t *args, struct tool_outcome *out)
{
    static const struct answer_reader reader = {&verify_effect, verify_success,
                                                verify_refused, NULL};
    answer_run(&reader, ctx, resp, args, out);
}
