/* send_sms_flow: one templated SMS to many recipients through MSG91's Flow
 * API. The request is a JSON body; the answer is family 1, with the request
 * id in "message". */
#include "tools/impl.h"

#include <stdlib.h>
#include <string.h>

#include "tools/answer.h"
#include "tools/args.h"
#include "tools/request.h"

static const struct answer_effect flow_effect = {
    "the message may or may not have been sent",
    "Do not send it again until the recipients or MSG91's delivery reports show it did "
    "not arrive.",
};

/* One recipient as MSG91 wants it: "mobiles" first, as digits, then the
 * template variables in the order the caller gave them. Returns a new
 * reference, or NULL when out of memory or "mobiles" is missing. */
static json_t *recipient_fields(json_t *recipient)
{
    const char *mobiles = json_string_value(json_object_get(recipient, "mobiles"));
    if (!mobiles)
        return NULL;
    char *digits = request_mobile(mobiles);
    json_t *obj = json_object();
    if (!digits || !obj || json_object_set_new(obj, "mobiles", json_string(digits)) != 0)
        goto fail;
    const char *key;
    json_t *value;
    json_object_foreach(recipient, key, value) {
        if (strcmp(key, "mobiles") != 0 && json_object_set(obj, key, value) != 0)
            goto fail;
    }
    free(digits);
    return obj;

fail:
    free(digits);
    json_decref(obj);
    return NULL;
}

/* A request_item_fn: recipient i. */
static json_t *recipient_body(json_t *recipient, size_t i, const void *data, char **error)
{
    (void)data;
    json_t *r = recipient_fields(recipient);
    if (!r)
        request_failf(error, "recipients/%zu needs mobiles.", i);
    return r;
}

/* Sets the string "1" or "0" as name when the boolean argument arg is
 * given (MSG91 reads Flow's switches as these strings). Returns 0, or -1
 * when out of memory. */
static int set_switch(json_t *body, json_t *args, const char *arg, const char *name)
{
    json_t *v = json_object_get(args, arg);
    if (!json_is_boolean(v))
        return 0;
    return json_object_set_new(body, name, json_string(json_is_true(v) ? "1" : "0"));
}

/* A new body holding everything but the recipients, in MSG91's names; NULL
 * when out of memory. */
static json_t *flow_body(json_t *args, const char *template_id, int has_expiry,
                         json_int_t expiry)
{
    json_t *body = json_object();
    const char *sender = json_string_value(json_object_get(args, "sender"));
    int failed = !body ||
                 json_object_set_new(body, "template_id", json_string(template_id)) ||
                 set_switch(body, args, "short_url", "short_url") ||
                 (has_expiry &&
                  json_object_set_new(body, "short_url_expiry", json_integer(expiry))) ||
                 /* MSG91 documents only "1" ("report errors in the answer"). */
                 (json_is_true(json_object_get(args, "realtime_response")) &&
                  json_object_set_new(body, "realTimeResponse", json_string("1"))) ||
                 (sender && json_object_set_new(body, "sender", json_string(sender))) ||
                 set_switch(body, args, "unicode", "unicode");
    if (failed) {
        json_decref(body);
        return NULL;
    }
    return body;
}

int send_sms_flow_build(const struct tool_build_ctx *ctx, json_t *args,
                        struct http_request *req, char **error)
{
    const char *template_id = json_string_value(json_object_get(args, "template_id"));
    json_t *recipients = json_object_get(args, "recipients");
    if (!template_id || !json_is_array(recipients))
        return request_fail(error, "template_id and recipients are required.");
    json_int_t expiry = 0;
    int has_expiry = args_integer(args, "short_url_expiry", &expiry, error);
    if (has_expiry < 0)
        return -1;
    json_t *list = request_list(recipients, recipient_body, NULL, error);
    if (!list)
        return -1;
    /* Given a NULL body, json_object_set_new releases list and fails. */
    json_t *body = flow_body(args, template_id, has_expiry, expiry);
    if (json_object_set_new(body, "recipients", list)) {
        json_decref(body);
        return request_fail(error,
                            "The server ran out of memory while building the request.");
    }

    struct request_url u;
    if (request_url_init(&u, ctx, args, error) != 0) {
        json_decref(body);
        return -1;
    }
    return request_complete(ctx, &u, body, req, error);
}

static void flow_success(const struct answer *a, const struct http_response *resp,
                         json_t *args, struct tool_outcome *out)
{
    /* Flow puts its request id in "message"; "request_id" is taken too in
     * case MSG91 aligns Flow with the OTP API. */
    const char *id = json_string_value(json_object_get(a->root, "request_id"));
    if (!id || !id[0])
        id = json_string_value(json_object_get(a->root, "message"));
    if (!id || !id[0]) {
        answer_wrong_shape(resp, &flow_effect, "the request id (\"message\") is missing",
                           out);
        return;
    }
    answer_set_request_id(out, id);
    size_t n = json_array_size(json_object_get(args, "recipients"));
    answer_success(
        out, json_pack("{s:s, s:I}", "request_id", id, "recipients", (json_int_t)n));
}

static const struct answer_hint flow_hints[] = {
    {"The provided flow ID or template ID is invalid.",
     "Check template_id against the Flow templates in the MSG91 panel; nothing was "
     "sent."},
    {NULL, NULL},
};

static const struct answer_reader flow_reader = {&flow_effect, flow_success, NULL,
                                                 flow_hints};

void send_sms_flow_read(const struct tool_read_ctx *ctx, const struct http_response *resp,
                        json_t *args, struct tool_outcome *out)
{
    answer_run(&flow_reader, ctx, resp, args, out);
}
