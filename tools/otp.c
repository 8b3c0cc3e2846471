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
    "A code can be verified only once: if verifying it again gives reason "
    "\"already_verified\", this check succeeded.",
};

/* Borrowed string argument, or NULL when absent. */
static const char *str_arg(json_t *args, const char *name)
{
    return json_string_value(json_object_get(args, name));
}

/* Room for a number the schema allows (at most 15 digits), and more. */
#define MOBILE_MAX 32

/* The "mobile" argument as digits only, in buf: results name the number as
 * it was sent. Digits past the buffer are dropped (the schema allows 15). */
static const char *mobile_digits(json_t *args, char buf[MOBILE_MAX])
{
    const char *mobile = str_arg(args, "mobile");
    size_t n = 0;
    for (const char *p = mobile ? mobile : ""; *p && n + 1 < MOBILE_MAX; p++)
        if (*p >= '0' && *p <= '9')
            buf[n++] = *p;
    buf[n] = '\0';
    return buf;
}

/* Puts the boolean argument name, when given, as "1" or "0", the way
 * MSG91's OTP API reads its switches. */
static void put_switch(struct request_values *v, json_t *args, const char *name)
{
    json_t *b = json_object_get(args, name);
    if (json_is_boolean(b))
        request_put_string(v, name, json_is_true(b) ? "1" : "0");
}

/* The otp_length to send: the one given, else the length of a given otp
 * (MSG91 checks a custom code against otp_length, whose default is 4), else
 * none (*length 0). A given length that differs from the code's is refused
 * rather than sent, since MSG91 would refuse the code. Returns 0, or -1
 * with *error set. */
static int otp_length(json_t *args, json_int_t *length, char **error)
{
    const char *otp = str_arg(args, "otp");
    int given = args_integer(args, "otp_length", length, error);
    if (given < 0)
        return -1;
    if (!given)
        *length = otp ? (json_int_t)strlen(otp) : 0;
    else if (otp && (json_int_t)strlen(otp) != *length)
        return request_failf(error,
                             "otp has %zu digits but otp_length is %" JSON_INTEGER_FORMAT
                             ": give otp_length the length of otp, or leave otp_length "
                             "out. Nothing was sent.",
                             strlen(otp), *length);
    return 0;
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
    json_int_t length;
    if (otp_length(args, &length, error) != 0)
        return -1;
    struct request_values v;
    request_values_init(&v);
    request_put_string(&v, "template_id", template_id);
    request_put_phone(&v, args, "mobile");
    request_put_arg(&v, args, "otp");
    if (length > 0)
        request_put_int(&v, "otp_length", length);
    if (args_put_integer(&v, args, "otp_expiry", error) != 0) {
        request_values_finish(&v);
        return -1;
    }
    put_switch(&v, args, "unicode");
    put_switch(&v, args, "invisible");
    /* MSG91 documents only the value 1 ("report errors in the answer"). */
    if (json_is_true(json_object_get(args, "realtime_response")))
        request_put_string(&v, "realtime_response", "1");
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
    char buf[MOBILE_MAX];
    answer_success(out, json_pack("{s:s, s:s}", "request_id", id, "mobile",
                                  mobile_digits(args, buf)));
}

const struct answer_reader send_otp_reader = {
    .effect = &send_effect, .success = send_success, .hints = send_hints};

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
    char buf[MOBILE_MAX];
    answer_success(out, json_pack("{s:s, s:s, s:s}", "message", message ? message : "",
                                  "mobile", mobile_digits(args, buf), "retry_type",
                                  retry_type ? retry_type : "text"));
}

const struct answer_reader resend_otp_reader = {
    .effect = &resend_effect, .success = resend_success, .hints = resend_hints};

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
 * "is this code right?", so the call succeeds with verified: false and a
 * reason a model can act on without parsing MSG91's wording. */
static const struct {
    const char *message; /* MSG91's, compared ignoring case */
    const char *reason;  /* the output schema's enum */
} not_verified[] = {
    {"OTP not match", "mismatch"},
    {"OTP expired", "expired"},
    {"Mobile no. already verified", "already_verified"},
    {"Max limit reached for this otp verification", "attempts_exceeded"},
    {"Mobile no. not found", "not_found"},
};

/* reason is NULL when verified. */
static void verify_result(struct tool_outcome *out, const char *reason,
                          const char *message, json_t *args)
{
    char buf[MOBILE_MAX];
    answer_success(out, json_pack("{s:b, s:s*, s:s, s:s}", "verified", !reason, "reason",
                                  reason, "message", message, "mobile",
                                  mobile_digits(args, buf)));
}

/* A refusal of verify_otp: a wrong, expired or used code is an answer
 * (verified: false); anything else is an error. */
static void verify_refused(const struct answer *a, json_t *args, struct tool_outcome *out)
{
    for (size_t i = 0; i < sizeof not_verified / sizeof not_verified[0]; i++) {
        if (answer_message_is(a, not_verified[i].message)) {
            verify_result(out, not_verified[i].reason, a->message, args);
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
    verify_result(out, NULL, message ? message : "OTP verified success", args);
}

const struct answer_reader verify_otp_reader = {
    .effect = &verify_effect, .success = verify_success, .refused = verify_refused};
