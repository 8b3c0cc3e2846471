#include "tools/impl.h"

#include <stdlib.h>
#include <string.h>

#include "tools/request.h"

/* The sentence every sending tool's description ends with: models that
 * are told keys are "unique per request" mint a new one per retry, which
 * is exactly the double send the key exists to stop. */
#define RETRY_WITH_SAME_KEY                                                              \
    " Pass an idempotency_key (e.g. a UUID) and, when you retry this same send after "   \
    "a timeout or an error, reuse the SAME key: the first result comes back and "        \
    "nothing is sent twice."

/* Appends a number argument, as digits, to out. */
static int add_number(json_t *out, const char *number)
{
    char *digits = request_mobile(number);
    int rc = digits ? json_array_append_new(out, json_string(digits)) : -1;
    free(digits);
    return rc;
}

/* send_otp and resend_otp: the "mobile" argument. */
static int mobile_recipient(json_t *args, json_t *out)
{
    const char *mobile = json_string_value(json_object_get(args, "mobile"));
    return mobile ? add_number(out, mobile) : 0;
}

/* send_sms_flow: every recipient's "mobiles". */
static int flow_recipients(json_t *args, json_t *out)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(args, "recipients"), i, r) {
        const char *mobiles = json_string_value(json_object_get(r, "mobiles"));
        if (mobiles && add_number(out, mobiles) != 0)
            return -1;
    }
    return 0;
}

/* create_user_events: the identifier, when the request sends it as a
 * phone number (request_put_phone) rather than unchanged as a contact id
 * or an e-mail address: what is limited is what is sent as a phone. */
static int events_recipient(json_t *args, json_t *out)
{
    const char *id = json_string_value(json_object_get(args, "identifier"));
    return id && request_is_phone(id) ? add_number(out, id) : 0;
}

/* Where each argument travels by default (tools/endpoint.h): an override
 * in the config file moves some of them. A name is MSG91's where it
 * differs from the argument's. */
static const struct tool_param send_otp_params[] = {
    {"template_id", TOOL_PLACE_QUERY, NULL, false},
    {"mobile", TOOL_PLACE_QUERY, NULL, false},
    {"otp", TOOL_PLACE_QUERY, NULL, false},
    {"otp_length", TOOL_PLACE_QUERY, NULL, false},
    {"otp_expiry", TOOL_PLACE_QUERY, NULL, false},
    {"realtime_response", TOOL_PLACE_QUERY, "realTimeResponse", false},
    {"unicode", TOOL_PLACE_QUERY, NULL, false},
    {"invisible", TOOL_PLACE_QUERY, NULL, false},
    /* The template's variables are the body itself. */
    {"variables", TOOL_PLACE_MERGE, NULL, true},
    {NULL, TOOL_PLACE_DEFAULT, NULL, false},
};

static const struct tool_param resend_otp_params[] = {
    {"mobile", TOOL_PLACE_QUERY, NULL, false},
    {"retry_type", TOOL_PLACE_QUERY, "retrytype", false},
    {NULL, TOOL_PLACE_DEFAULT, NULL, false},
};

static const struct tool_param verify_otp_params[] = {
    {"mobile", TOOL_PLACE_QUERY, NULL, false},
    {"otp", TOOL_PLACE_QUERY, NULL, false},
    {NULL, TOOL_PLACE_DEFAULT, NULL, false},
};

static const struct tool_param send_sms_flow_params[] = {
    {"template_id", TOOL_PLACE_BODY, NULL, false},
    {"recipients", TOOL_PLACE_BODY, NULL, true},
    {"short_url", TOOL_PLACE_BODY, NULL, false},
    {"short_url_expiry", TOOL_PLACE_BODY, NULL, false},
    {"realtime_response", TOOL_PLACE_BODY, "realTimeResponse", false},
    {"sender", TOOL_PLACE_BODY, NULL, false},
    {"unicode", TOOL_PLACE_BODY, NULL, false},
    {NULL, TOOL_PLACE_DEFAULT, NULL, false},
};

static const struct tool_param create_user_events_params[] = {
    /* Sent inside each event as visitor_id; placing it moves a copy. */
    {"identifier", TOOL_PLACE_OMIT, NULL, false},
    {"events", TOOL_PLACE_BODY, "data", true},
    {NULL, TOOL_PLACE_DEFAULT, NULL, false},
};

static const struct tool_param get_event_types_params[] = {
    {NULL, TOOL_PLACE_DEFAULT, NULL, false},
};

static const struct tool_param get_failed_events_params[] = {
    {"campaign_id", TOOL_PLACE_PATH, NULL, false},
    {"page", TOOL_PLACE_BODY, NULL, false},
    {"limit", TOOL_PLACE_BODY, NULL, false},
    {"start_date", TOOL_PLACE_BODY, NULL, false},
    {"end_date", TOOL_PLACE_BODY, NULL, false},
    {NULL, TOOL_PLACE_DEFAULT, NULL, false},
};

static const struct tool_param list_campaigns_params[] = {
    {"page", TOOL_PLACE_QUERY, "pageNo", false},
    {"limit", TOOL_PLACE_QUERY, "itemsPerPage", false},
    {"name", TOOL_PLACE_QUERY, NULL, false},
    {"is_active", TOOL_PLACE_QUERY, NULL, false},
    {NULL, TOOL_PLACE_DEFAULT, NULL, false},
};

/* The MCP annotations of the two kinds of tool here: those that send,
 * record or use up something at MSG91, so that a second call is not the
 * same as one, and those that only read. All reach MSG91, an open world;
 * none deletes anything. */
#define WRITES_HINTS                                                                     \
    .read_only = false, .destructive = false, .idempotent = false, .open_world = true
#define READS_HINTS                                                                      \
    .read_only = true, .destructive = false, .idempotent = true, .open_world = true

/* Descriptions are read by models: each says when to use the tool and what
 * to do next, and stays well under the ~2 KB some hosts keep. */

static const struct tool_def send_otp = {
    .name = "send_otp",
    .title = "Send OTP",
    .description =
        "Send a one-time password (OTP) by SMS to a mobile number using an MSG91 OTP "
        "template. MSG91 generates the code unless you pass `otp`. Next step: ask the "
        "person for the code they received and call verify_otp with it. Calling send_otp "
        "again mints a new code and invalidates the previous one; if the code did not "
        "arrive or expired, prefer resend_otp. Mobile numbers need the country code "
        "(e.g. +919876543210). With your own `otp`, leave otp_length out (it follows the "
        "code) or give the code's length." RETRY_WITH_SAME_KEY,
    WRITES_HINTS,
    .endpoint = {"POST", "/api/v5/otp", NULL},
    .params = send_otp_params,
    .arg_default = {"template_id", SERVICE_SETTING_OTP_TEMPLATE},
    .build = send_otp_build,
    .reader = &send_otp_reader,
    .sends = true,
    .recipient_limit = true,
    .recipients = mobile_recipient,
};

static const struct tool_def resend_otp = {
    .name = "resend_otp",
    .title = "Resend OTP",
    .description =
        "Deliver the same pending OTP again, by text (SMS) or voice call. Use only after "
        "send_otp, when the person says the code did not arrive or it expired; MSG91 "
        "allows two retries per code. Then ask for the code and call "
        "verify_otp." RETRY_WITH_SAME_KEY,
    WRITES_HINTS,
    .endpoint = {"GET", "/api/v5/otp/retry", NULL},
    .params = resend_otp_params,
    .build = resend_otp_build,
    .reader = &resend_otp_reader,
    .sends = true,
    .recipient_limit = true,
    .recipients = mobile_recipient,
};

static const struct tool_def verify_otp = {
    .name = "verify_otp",
    .title = "Verify OTP",
    .description =
        "Check the code a person typed against the OTP sent to their number with "
        "send_otp. Returns verified: true, or verified: false with a reason beside "
        "MSG91's message: mismatch (ask the person to re-enter the code), expired (call "
        "resend_otp or send_otp), attempts_exceeded (call send_otp for a new code), "
        "not_found (no OTP pending: call send_otp first), or already_verified, which "
        "means the number IS verified (an earlier check of this code succeeded), not "
        "that the code was wrong: treat it as done and do not ask for the code again.",
    WRITES_HINTS,
    .endpoint = {"GET", "/api/v5/otp/verify", NULL},
    .params = verify_otp_params,
    .build = verify_otp_build,
    .reader = &verify_otp_reader,
};

static const struct tool_def send_sms_flow = {
    .name = "send_sms_flow",
    .title = "Send SMS via Flow (V5)",
    .description =
        "Send a templated SMS to up to 1000 recipients through an MSG91 Flow. Each "
        "recipient gives `mobiles` (with country code) and a string value for every "
        "##name## variable of the template; variable names are case-sensitive. Indian "
        "numbers need a DLT-approved template. This sends real messages and is never "
        "retried automatically: do not call it twice for the same message. MSG91 "
        "rejects the same SMS to the same number within 10 seconds as a duplicate "
        "(error 311)." RETRY_WITH_SAME_KEY,
    WRITES_HINTS,
    .endpoint = {"POST", "/api/v5/flow", NULL},
    .params = send_sms_flow_params,
    .build = send_sms_flow_build,
    .reader = &send_sms_flow_reader,
    .sends = true,
    .recipients = flow_recipients,
};

static const struct tool_def create_user_events = {
    .name = "create_user_events",
    .title = "Create User Events",
    .description =
        "Record events (login, purchase, page view, custom) for one Segmento contact, "
        "for segmentation and campaigns. identifier is the contact's id in the Segmento "
        "phonebook (MSG91's visitor_id); a phone number or e-mail works only when that "
        "is the contact's id there, and a phone number is sent as digits. MSG91 accepts "
        "events first and marks them failed later when the id is not in the phonebook "
        "or the data is invalid; check with get_failed_events. Use get_event_types to "
        "see which event names exist." RETRY_WITH_SAME_KEY,
    WRITES_HINTS,
    .endpoint = {"POST", "/api/v5/segmento/api/v1/events", NULL},
    .params = create_user_events_params,
    .build = create_user_events_build,
    .reader = &create_user_events_reader,
    .sends = true,
    .recipients = events_recipient,
};

static const struct tool_def get_event_types = {
    .name = "get_event_types",
    .title = "Get Event Types",
    .description =
        "List the event types defined in the MSG91 Segmento account (name, id, "
        "description, and every field MSG91 sent under upstream). Read-only. Use before "
        "create_user_events to pick event names.",
    READS_HINTS,
    .endpoint = {"GET", "/api/v5/segmento/api/v1/event-types", NULL},
    .params = get_event_types_params,
    .build = get_event_types_build,
    .reader = &get_event_types_reader,
};

static const struct tool_def get_failed_events = {
    .name = "get_failed_events",
    .title = "Get Failed Events",
    .description =
        "Fetch user events MSG91 accepted and then marked failed (a visitor_id not in "
        "the phonebook, invalid data), with the reason, a page at a time, optionally "
        "between two dates (YYYY-MM-DD). Read-only. Get campaign ids from "
        "list_campaigns and pass them as strings (\"1032\"). Ask for the next page while "
        "page * limit < total.",
    READS_HINTS,
    .endpoint = {"POST", "/api/v5/segmento/api/v1/campaigns/{campaign_id}/failed-events",
                 NULL},
    .params = get_failed_events_params,
    .build = get_failed_events_build,
    .reader = &get_failed_events_reader,
};

static const struct tool_def list_campaigns = {
    .name = "list_campaigns",
    .title = "List Campaigns",
    .description =
        "List the MSG91 campaigns of the account, a page at a time (id, name, slug, "
        "whether active, channels), with the page count and total. Read-only. Ask for "
        "the next page while page < total_pages.",
    READS_HINTS,
    .endpoint = {"GET", "/api/v5/campaign/api/campaigns", NULL},
    .params = list_campaigns_params,
    .build = list_campaigns_build,
    .reader = &list_campaigns_reader,
};

const struct tool_def *const tool_table[] = {
    &send_otp,           &resend_otp,      &verify_otp,        &send_sms_flow,
    &create_user_events, &get_event_types, &get_failed_events, &list_campaigns,
};
const unsigned tool_table_len = sizeof tool_table / sizeof tool_table[0];

const struct tool_def *tool_find(const char *name)
{
    for (unsigned i = 0; i < tool_table_len; i++)
        if (strcmp(tool_table[i]->name, name) == 0)
            return tool_table[i];
    return NULL;
}

void tool_outcome_finish(struct tool_outcome *out)
{
    json_decref(out->structured);
    free(out->error_text);
    free(out->upstream_request_id);
    out->structured = NULL;
    out->error_text = NULL;
    out->upstream_request_id = NULL;
    out->maybe_sent = false;
}
