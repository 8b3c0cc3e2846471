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

/* Puts the boolean argument name, when given, as the string "1" or "0"
 * (MSG91 reads Flow's switches as these strings). */
static void put_switch(struct request_values *v, json_t *args, const char *name)
{
    json_t *b = json_object_get(args, name);
    if (json_is_boolean(b))
        request_put_string(v, name, json_is_true(b) ? "1" : "0");
}

int send_sms_flow_build(const struct tool_build_ctx *ctx, json_t *args,
                        struct http_request *req, char **error)
{
    json_t *list = request_list(args, "recipients", recipient_body, NULL, error);
    if (!list)
        return -1;
    struct request_values v;
    request_values_init(&v);
    request_put_arg(&v, args, "template_id");
    put_switch(&v, args, "short_url");
    if (args_put_integer(&v, args, "short_url_expiry", error) != 0) {
        json_decref(list);
        request_values_finish(&v);
        return -1;
    }
    /* MSG91 documents only "1" ("report errors in the answer"). */
    if (json_is_true(json_object_get(args, "realtime_response")))
        request_put_string(&v, "realtime_response", "1");
    request_put_arg(&v, args, "sender");
    put_switch(&v, args, "unicode");
    request_put(&v, "recipients", list);
    return request_build(ctx, &v, req, error);
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

const struct answer_reader send_sms_flow_reader = {
    .effect = &flow_effect, .success = flow_success, .hints = flow_hints};
