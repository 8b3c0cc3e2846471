/* MSG91's documented error codes and texts (tools/msg91_errors.h): every
 * code and every text of the table, in both envelope families and through
 * every tool's reader, turns into its sentence with MSG91's own code and
 * message kept; a few sentences are spelled out whole; unknown codes keep
 * their code in the generic refusal. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "tests/testutil.h"
#include "tests/toolutil.h"
#include "tools/msg91_errors.h"
#include "tools/tool.h"
#include "util/msg.h"

/* Valid arguments for each tool; readers look at a few of them. */
static const char *const tool_args[][2] = {
    {"send_otp", "{\"mobile\":\"+919876543210\",\"template_id\":\"t\"}"},
    {"resend_otp", "{\"mobile\":\"+919876543210\"}"},
    {"verify_otp", "{\"mobile\":\"+919876543210\",\"otp\":\"1234\"}"},
    {"send_sms_flow",
     "{\"template_id\":\"f\",\"recipients\":[{\"mobiles\":\"919876543210\"}]}"},
    {"create_user_events", "{\"identifier\":\"c1\",\"events\":[{\"name\":\"login\"}]}"},
    {"get_event_types", "{}"},
    {"get_failed_events", "{\"campaign_id\":\"42\"}"},
    {"list_campaigns", "{}"},
};
#define N_TOOLS (sizeof tool_args / sizeof tool_args[0])

/* The error text tool i gives for the answer status + body; NULL when the
 * call succeeded. malloc'd. */
static char *error_of(size_t i, long status, const char *body)
{
    struct http_response r = toolutil_answered(status, body, "application/json");
    struct tool_outcome out;
    toolutil_read(tool_args[i][0], NULL, tool_args[i][1], &r, &out);
    char *text = out.error_text;
    out.error_text = NULL;
    tool_outcome_finish(&out);
    return text;
}

/* Every tool says text for this answer. */
static void expect_all(long status, const char *body, const char *text)
{
    for (size_t i = 0; i < N_TOOLS; i++) {
        char *got = error_of(i, status, body);
        ck_assert_msg(got != NULL, "%s: no error for %s", tool_args[i][0], body);
        ck_assert_msg(strcmp(got, text) == 0, "%s, HTTP %ld %s:\n got  %s\n want %s",
                      tool_args[i][0], status, body, got, text);
        free(got);
    }
}

/* The sentence of row with MSG91's words said ("" or " (...)"). */
static char *sentence(const struct msg91_error *row, const char *said)
{
    return msg_format("MSG91 %s%s: %s", row->headline, said, row->advice);
}

static void expect_row(const struct msg91_error *row, long status, const char *body,
                       const char *said)
{
    char *text = sentence(row, said);
    expect_all(status, body, text);
    free(text);
}

START_TEST(every_code_in_family_1)
{
    for (size_t r = 0; r < msg91_errors_len; r++) {
        const struct msg91_error *row = &msg91_errors[r];
        for (size_t c = 0; row->codes[c]; c++) {
            const char *code = row->codes[c];
            char *body = msg_format(
                "{\"message\":\"Words of MSG91\",\"type\":\"error\",\"code\":\"%s\"}",
                code);
            char *said = msg_format(" (code %s: Words of MSG91)", code);
            expect_row(row, 200, body, said);
            free(body);
            /* A number rather than a string, and no message at all. */
            body = msg_format("{\"type\":\"error\",\"code\":%s}", code);
            free(said);
            said = msg_format(" (code %s)", code);
            expect_row(row, 200, body, said);
            free(body);
            /* The older family 1 spelling, msg and msg_type. */
            body = msg_format("{\"msg\":\"Words of MSG91\",\"msg_type\":\"error\","
                              "\"code\":\"%s\"}",
                              code);
            free(said);
            said = msg_format(" (code %s: Words of MSG91)", code);
            expect_row(row, 200, body, said);
            free(body);
            free(said);
        }
    }
}
END_TEST

START_TEST(every_code_in_family_2)
{
    for (size_t r = 0; r < msg91_errors_len; r++) {
        const struct msg91_error *row = &msg91_errors[r];
        for (size_t c = 0; row->codes[c]; c++) {
            const char *code = row->codes[c];
            char *body =
                msg_format("{\"status\":\"fail\",\"hasError\":true,\"errors\":"
                           "\"Words of MSG91\",\"code\":\"400\",\"apiError\":\"%s\"}",
                           code);
            char *said = msg_format(" (HTTP 400, code %s: Words of MSG91)", code);
            expect_row(row, 400, body, said);
            free(said);
            /* The way MSG91 answers a key problem in family 2: HTTP 401. A
             * key row's 401 is itself; any other code says which it is. */
            said = msg_format(" (HTTP 401, code %s: Words of MSG91)", code);
            expect_row(row, 401, body, said);
            free(said);
            free(body);
            /* Inside a 200 with hasError. */
            body = msg_format("{\"status\":\"fail\",\"hasError\":true,\"errors\":"
                              "[\"Words of MSG91\"],\"apiError\":%s}",
                              code);
            said = msg_format(" (code %s: Words of MSG91)", code);
            expect_row(row, 200, body, said);
            free(said);
            free(body);
        }
    }
}
END_TEST

START_TEST(every_text_in_both_families)
{
    size_t texts = 0;
    for (size_t r = 0; r < msg91_errors_len; r++) {
        const struct msg91_error *row = &msg91_errors[r];
        for (size_t k = 0; row->texts[k]; k++, texts++) {
            const char *t = row->texts[k];
            char *said = msg_format(" (%s)", t);
            char *body = msg_format("{\"type\":\"error\",\"message\":\"%s\"}", t);
            expect_row(row, 200, body, said);
            free(body);
            body = msg_format("{\"msg_type\":\"error\",\"msg\":\"%s\"}", t);
            expect_row(row, 200, body, said);
            free(body);
            free(said);
            said = msg_format(" (HTTP 422: %s)", t);
            body = msg_format("{\"status\":\"fail\",\"hasError\":true,\"errors\":\"%s\"}",
                              t);
            expect_row(row, 422, body, said);
            free(body);
            free(said);
            /* MSG91 has changed capitalisation before. */
            char *upper = strdup(t);
            for (char *p = upper; *p; p++)
                if (*p >= 'a' && *p <= 'z')
                    *p = (char)(*p - 'a' + 'A');
            body = msg_format("{\"type\":\"error\",\"message\":\"%s\"}", upper);
            said = msg_format(" (%s)", upper);
            expect_row(row, 200, body, said);
            free(body);
            free(said);
            free(upper);
        }
    }
    /* The four texts the issue names, and the three older ones. */
    ck_assert_uint_eq(texts, 7);
}
END_TEST

/* The table holds exactly the codes and texts MSG91 documents for these
 * refusals, each in the row that explains it. */
START_TEST(table_rows)
{
    static const char *const codes[][2] = {
        {"106", "rejected the auth key"},
        {"201", "rejected the auth key"},
        {"207", "rejected the auth key"},
        {"418", "refused this machine's IP address"},
        {"311", "rejected the SMS as a duplicate"},
        {"301", "refused the request for insufficient balance"},
        {"202", "refused the mobile number as invalid"},
        {"203", "refused the sender ID"},
    };
    size_t n = 0;
    for (size_t r = 0; r < msg91_errors_len; r++)
        for (size_t c = 0; msg91_errors[r].codes[c]; c++)
            n++;
    ck_assert_uint_eq(n, sizeof codes / sizeof codes[0]);
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        const struct msg91_error *row = msg91_errors_find(codes[i][0], NULL);
        ck_assert_ptr_nonnull(row);
        ck_assert_str_eq(row->headline, codes[i][1]);
    }
    static const char *const key_texts[] = {"Invalid authkey", "Auth Key missing",
                                            "Missing Authentication Key",
                                            "Invalid authentication key"};
    for (size_t i = 0; i < 4; i++) {
        const struct msg91_error *row = msg91_errors_find(NULL, key_texts[i]);
        ck_assert_ptr_nonnull(row);
        ck_assert(row->key);
    }
    /* The code decides over the text; an unknown code leaves the text. */
    ck_assert_str_eq(msg91_errors_find("418", "Invalid authkey")->headline,
                     "refused this machine's IP address");
    ck_assert(msg91_errors_find("999", "Invalid authkey")->key);
    ck_assert_ptr_null(msg91_errors_find("999", "Something odd"));
    ck_assert_ptr_null(msg91_errors_find(NULL, NULL));
    ck_assert_ptr_null(msg91_errors_find("", ""));
}
END_TEST

/* The sentences as a model reads them, once each in full. */
START_TEST(sentences_in_full)
{
    expect_all(
        200,
        "{\"message\":\"IP is not whitelisted\",\"type\":\"error\",\"code\":\"418\"}",
        "MSG91 refused this machine's IP address (code 418: IP is not "
        "whitelisted): MSG91 turns API IP security on by default, so an auth key "
        "works only from the IP addresses on its whitelist, and this one is not on "
        "it. Nothing was sent. Add this machine's public IP address to the key's "
        "whitelist in the MSG91 panel, or turn IP security off for the key.");
    expect_all(
        401,
        "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"IP is not "
        "whitelisted\",\"code\":\"401\",\"apiError\":\"418\"}",
        "MSG91 refused this machine's IP address (HTTP 401, code 418: IP is not "
        "whitelisted): MSG91 turns API IP security on by default, so an auth key "
        "works only from the IP addresses on its whitelist, and this one is not on "
        "it. Nothing was sent. Add this machine's public IP address to the key's "
        "whitelist in the MSG91 panel, or turn IP security off for the key.");
    /* HTTP 418 alone, with a body that is not JSON. */
    expect_all(418, "I'm a teapot",
               "MSG91 refused this machine's IP address: MSG91 turns API IP security on "
               "by default, so an auth key works only from the IP addresses on its "
               "whitelist, and this one is not on it. Nothing was sent. Add this "
               "machine's public IP address to the key's whitelist in the MSG91 panel, "
               "or turn IP security off for the key.");
    expect_all(
        200,
        "{\"message\":\"Request discarded because same request was generated "
        "twice within 10 seconds\",\"type\":\"error\",\"code\":\"311\"}",
        "MSG91 rejected the SMS as a duplicate (code 311: Request discarded "
        "because same request was generated twice within 10 seconds): the same SMS "
        "went to the same number less than 10 seconds ago, so nothing new was sent "
        "(the earlier one stands). Do not send it again; if a second identical "
        "message is really wanted, wait at least 10 seconds first.");
    expect_all(200,
               "{\"type\":\"error\",\"message\":\"Insufficient balance\",\"code\":301}",
               "MSG91 refused the request for insufficient balance (code 301: "
               "Insufficient balance): the MSG91 account has too little credit for this. "
               "Nothing was sent. Recharge the account in the MSG91 panel, then try "
               "again.");
    expect_all(
        200,
        "{\"type\":\"error\",\"message\":\"Invalid mobile number\",\"code\":\"202\"}",
        "MSG91 refused the mobile number as invalid (code 202: Invalid mobile "
        "number): nothing was sent to it. Check that the number has its country "
        "code and all its digits (e.g. +919876543210).");
    expect_all(
        200, "{\"type\":\"error\",\"message\":\"Invalid sender ID\",\"code\":\"203\"}",
        "MSG91 refused the sender ID (code 203: Invalid sender ID): the sender ID "
        "is invalid or the DLT entity ID is missing, so nothing was sent. In India "
        "every SMS needs a sender ID and a template registered on DLT and linked "
        "in the MSG91 panel: check them there (and the sender argument, if one was "
        "given).");
    expect_all(200,
               "{\"type\":\"error\",\"message\":\"Missing Authentication Key\","
               "\"code\":\"106\"}",
               "MSG91 rejected the auth key (code 106: Missing Authentication Key): set "
               "MSG91_AUTH_KEY (or MSG91_AUTH_KEY_FILE) to a valid key.");
    expect_all(403, "{\"type\":\"error\",\"message\":\"Invalid authentication key\"}",
               "MSG91 rejected the auth key (HTTP 403: Invalid authentication key): set "
               "MSG91_AUTH_KEY (or MSG91_AUTH_KEY_FILE) to a valid key. A 403 can also "
               "mean the key may not be used from this machine's IP address: check the "
               "key's settings in the MSG91 panel.");
}
END_TEST

/* A code the table does not know stays in the generic refusal; a code that
 * is not digits, or only repeats the HTTP status, is left out. */
START_TEST(unknown_codes_are_kept)
{
    expect_all(200, "{\"type\":\"error\",\"message\":\"Something odd\",\"code\":\"999\"}",
               "MSG91 returned an error (code 999): Something odd.");
    expect_all(200, "{\"type\":\"error\",\"message\":\"Something odd\",\"code\":7}",
               "MSG91 returned an error (code 7): Something odd.");
    expect_all(
        400,
        "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Bad\",\"code\":\"400\","
        "\"apiError\":\"555\"}",
        "MSG91 returned an error (HTTP 400, code 555): Bad.");
    expect_all(200, "{\"type\":\"error\",\"message\":\"Something odd\",\"code\":\"E1\"}",
               "MSG91 returned an error: Something odd.");
    expect_all(200, "{\"type\":\"error\",\"message\":\"Something odd\",\"code\":-3}",
               "MSG91 returned an error: Something odd.");
    /* Family 2's "code" that only repeats the HTTP status is not shown. */
    expect_all(
        422,
        "{\"status\":\"fail\",\"hasError\":true,\"errors\":\"Bad\",\"code\":\"422\"}",
        "MSG91 returned an error (HTTP 422): Bad.");
    expect_all(200, "{\"msg_type\":\"error\",\"msg\":\"Older shape\"}",
               "MSG91 returned an error: Older shape.");
    /* A body with neither family's markers is explained when its code is
     * known, and of an unexpected shape otherwise. */
    expect_row(msg91_errors_find("301", NULL), 200,
               "{\"code\":\"301\",\"message\":\"Low balance\"}",
               " (code 301: Low balance)");
}
END_TEST

/* MSG91's words are quoted cleaned and without the key, like every quote. */
START_TEST(said_words_are_cleaned)
{
    expect_row(
        msg91_errors_find("418", NULL), 200,
        "{\"type\":\"error\",\"code\":\"418\",\"message\":\"IP\\r\\n  blocked\\u0007\"}",
        " (code 418: IP blocked)");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("msg91_errors");
    TCase *tc = tcase_create("codes");
    tcase_add_test(tc, every_code_in_family_1);
    tcase_add_test(tc, every_code_in_family_2);
    tcase_add_test(tc, every_text_in_both_families);
    tcase_add_test(tc, table_rows);
    tcase_add_test(tc, sentences_in_full);
    tcase_add_test(tc, unknown_codes_are_kept);
    tcase_add_test(tc, said_words_are_cleaned);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
