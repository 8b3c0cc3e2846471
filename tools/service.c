#include "tools/service.h"

/* What a model is told about the server as a whole; clients may put it in
 * the system prompt, so it stays short and says how the OTP tools chain. */
static const char instructions[] =
    "MSG91 tools for OTP, SMS and Segmento. OTP flow: call send_otp with the person's "
    "mobile number (country code first, e.g. +919876543210), ask the person for the code "
    "they received, then call verify_otp with it; verified=false means a wrong, expired "
    "or already-used code (ask again, or resend). Use resend_otp only when the code did "
    "not arrive or expired (at most two retries); calling send_otp again creates a new "
    "code. send_sms_flow sends real messages: never repeat a call that failed with a "
    "timeout without checking first. get_event_types, get_failed_events and "
    "list_campaigns only read.";

/* The OTP code, and the phone numbers of the OTP and Flow tools; Segmento's
 * "identifier" may be a contact id or an e-mail address as well. */
static const struct log_personal_name personal[] = {
    {"otp", LOG_PERSONAL_IS_CODE},
    {"mobile", LOG_PERSONAL_IS_PHONE},
    {"mobiles", LOG_PERSONAL_IS_PHONE},
    {"identifier", LOG_PERSONAL_IS_PHONE_LIKE},
    {NULL, 0},
};

const struct service_def service = {
    .title = SERVICE_NAME,
    .description = "MSG91 OTP, SMS and Segmento tools over MCP",
    .summary = "MSG91 (OTP, SMS, Segmento) as MCP tools over stdio",
    .instructions = instructions,
    .default_base_url = "https://control.msg91.com",
    .progress_sent = "sent to " SERVICE_NAME,
    .personal = personal,
};
