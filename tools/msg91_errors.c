#include "tools/msg91_errors.h"

#include <string.h>
#include <strings.h>

/* Sources, as doc/msg91-api.md cites them: MSG91's help page of error codes
 * (101..418), its legacy SMS API documentation (106, 207, 418 wording), the
 * v5 answers seen in integrations ("Invalid authkey" with 201, "Auth Key
 * missing") and MSG91's help on API security (IP security is on by default
 * for a new key). The advice is ours. */
const struct msg91_error msg91_errors[] = {
    {
        .codes = {"106", "201", "207", NULL},
        .texts = {"Invalid authkey", "Auth Key missing", "Missing Authentication Key",
                  "Invalid authentication key", "Unauthorized", "Invalid auth key",
                  "Authkey missing", NULL},
        .headline = "rejected the auth key",
        .advice = "set MSG91_AUTH_KEY (or MSG91_AUTH_KEY_FILE) to a valid key.",
        .key = true,
    },
    {
        .codes = {"418", NULL},
        .headline = "refused this machine's IP address",
        .advice = "MSG91 turns API IP security on by default, so an auth key works only "
                  "from the IP addresses on its whitelist, and this one is not on it. "
                  "Nothing was sent. Add this machine's public IP address to the key's "
                  "whitelist in the MSG91 panel, or turn IP security off for the key.",
    },
    {
        .codes = {"311", NULL},
        .headline = "rejected the SMS as a duplicate",
        .advice = "the same SMS went to the same number less than 10 seconds ago, so "
                  "nothing new was sent (the earlier one stands). Do not send it again; "
                  "if a second identical message is really wanted, wait at least 10 "
                  "seconds first.",
    },
    {
        .codes = {"301", NULL},
        .headline = "refused the request for insufficient balance",
        .advice = "the MSG91 account has too little credit for this. Nothing was sent. "
                  "Recharge the account in the MSG91 panel, then try again.",
    },
    {
        .codes = {"202", NULL},
        .headline = "refused the mobile number as invalid",
        .advice = "nothing was sent to it. Check that the number has its country code "
                  "and all its digits (e.g. +919876543210).",
    },
    {
        .codes = {"203", NULL},
        .headline = "refused the sender ID",
        .advice = "the sender ID is invalid or the DLT entity ID is missing, so nothing "
                  "was sent. In India every SMS needs a sender ID and a template "
                  "registered on DLT and linked in the MSG91 panel: check them there "
                  "(and the sender argument, if one was given).",
    },
};
const size_t msg91_errors_len = sizeof msg91_errors / sizeof msg91_errors[0];

static bool row_has_code(const struct msg91_error *row, const char *code)
{
    for (size_t i = 0; i < MSG91_ERRORS_CODES_MAX && row->codes[i]; i++)
        if (strcmp(row->codes[i], code) == 0)
            return true;
    return false;
}

/* MSG91 has changed the capitalisation of its texts before. */
static bool row_has_text(const struct msg91_error *row, const char *message)
{
    for (size_t i = 0; i < MSG91_ERRORS_TEXTS_MAX && row->texts[i]; i++)
        if (strcasecmp(row->texts[i], message) == 0)
            return true;
    return false;
}

const struct msg91_error *msg91_errors_find(const char *code, const char *message)
{
    for (size_t i = 0; code && code[0] && i < msg91_errors_len; i++)
        if (row_has_code(&msg91_errors[i], code))
            return &msg91_errors[i];
    for (size_t i = 0; message && i < msg91_errors_len; i++)
        if (row_has_text(&msg91_errors[i], message))
            return &msg91_errors[i];
    return NULL;
}
