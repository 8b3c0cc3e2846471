#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/jsonrpc.h"
#include "tests/testutil.h"

static struct jsonrpc_message parse(const char *line)
{
    struct jsonrpc_message m;
    jsonrpc_parse_line(line, strlen(line), &m);
    return m;
}

START_TEST(request_with_integer_id)
{
    struct jsonrpc_message m =
        parse("{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"ping\"}");
    ck_assert_int_eq(m.kind, JSONRPC_REQUEST);
    ck_assert_str_eq(m.method, "ping");
    ck_assert_str_eq(m.id_raw, "7");
    ck_assert_ptr_null(m.params);
    jsonrpc_message_finish(&m);
}
END_TEST

START_TEST(ids_echo_exactly)
{
    static const struct {
        const char *line;
        const char *raw;
    } cases[] = {
        {"{\"jsonrpc\":\"2.0\",\"id\":0,\"method\":\"ping\"}", "0"},
        {"{\"jsonrpc\":\"2.0\",\"id\":-5,\"method\":\"ping\"}", "-5"},
        {"{\"jsonrpc\":\"2.0\",\"id\":\"abc\",\"method\":\"ping\"}", "\"abc\""},
        {"{\"jsonrpc\":\"2.0\",\"id\":\"\",\"method\":\"ping\"}", "\"\""},
        {"{\"id\" : \"a\\\"b\\u00e9\" , \"jsonrpc\":\"2.0\",\"method\":\"ping\"}",
         "\"a\\\"b\\u00e9\""},
        {"{\"jsonrpc\":\"2.0\",\"id\":9223372036854775807,\"method\":\"ping\"}",
         "9223372036854775807"},
        {"{\"jsonrpc\":\"2.0\",\"id\":123456789012345678901234567890,\"method\":"
         "\"ping\"}",
         "123456789012345678901234567890"},
        {"{\"params\":{\"id\":1},\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\"}", "2"},
        {"{\"jsonrpc\":\"2.0\",\"\\u0069d\":3,\"method\":\"ping\"}", "3"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct jsonrpc_message m = parse(cases[i].line);
        ck_assert_msg(m.kind == JSONRPC_REQUEST, "case %zu kind %d", i, m.kind);
        ck_assert_str_eq(m.id_raw, cases[i].raw);
        size_t len;
        json_t *empty = json_object();
        char *out = jsonrpc_result_line(m.id_raw, empty, &len);
        json_decref(empty);
        char expect[256];
        snprintf(expect, sizeof expect, "{\"jsonrpc\":\"2.0\",\"id\":%s,\"result\":{}}",
                 cases[i].raw);
        ck_assert_str_eq(out, expect);
        ck_assert_uint_eq(len, strlen(expect));
        free(out);
        jsonrpc_message_finish(&m);
    }
}
END_TEST

START_TEST(string_and_number_ids_do_not_collide)
{
    struct jsonrpc_message a = parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"x\"}");
    struct jsonrpc_message b =
        parse("{\"jsonrpc\":\"2.0\",\"id\":\"1\",\"method\":\"x\"}");
    ck_assert_str_ne(a.id_key, b.id_key);
    json_t *one = json_integer(1);
    char *key = jsonrpc_id_key(one);
    ck_assert_str_eq(key, a.id_key);
    free(key);
    json_decref(one);
    jsonrpc_message_finish(&a);
    jsonrpc_message_finish(&b);
}
END_TEST

START_TEST(notification_and_response)
{
    struct jsonrpc_message m =
        parse("{\"jsonrpc\":\"2.0\",\"method\":\"notifications/initialized\"}");
    ck_assert_int_eq(m.kind, JSONRPC_NOTIFICATION);
    ck_assert_ptr_null(m.id_raw);
    jsonrpc_message_finish(&m);
    m = parse("{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":{}}");
    ck_assert_int_eq(m.kind, JSONRPC_RESPONSE);
    jsonrpc_message_finish(&m);
}
END_TEST

START_TEST(parse_errors)
{
    static const char *const lines[] = {
        "not json", "{\"jsonrpc\":\"2.0\",", "{\"a\":\"\xff\"}", "{}{}", "",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        struct jsonrpc_message m = parse(lines[i]);
        ck_assert_int_eq(m.kind, JSONRPC_INVALID);
        ck_assert_int_eq(m.error_code, JSONRPC_PARSE_ERROR);
        ck_assert_ptr_null(m.id_raw);
        jsonrpc_message_finish(&m);
    }
}
END_TEST

START_TEST(invalid_requests)
{
    static const struct {
        const char *line;
        const char *id_raw; /* NULL: the id could not be used */
    } cases[] = {
        {"42", NULL},
        {"\"hello\"", NULL},
        {"{\"id\":1,\"method\":\"ping\"}", "1"},
        {"{\"jsonrpc\":\"1.0\",\"id\":1,\"method\":\"ping\"}", "1"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1}", "1"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":5}", "1"},
        {"{\"jsonrpc\":\"2.0\",\"id\":1.5,\"method\":\"ping\"}", NULL},
        {"{\"jsonrpc\":\"2.0\",\"id\":true,\"method\":\"ping\"}", NULL},
        {"{\"jsonrpc\":\"2.0\",\"id\":{},\"method\":\"ping\"}", NULL},
        {"{\"jsonrpc\":\"2.0\",\"id\":null,\"method\":\"ping\"}", NULL},
        {"{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"ping\",\"params\":3}", "2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct jsonrpc_message m = parse(cases[i].line);
        ck_assert_msg(m.kind == JSONRPC_INVALID, "case %zu", i);
        ck_assert_int_eq(m.error_code, JSONRPC_INVALID_REQUEST);
        if (cases[i].id_raw)
            ck_assert_str_eq(m.id_raw, cases[i].id_raw);
        else
            ck_assert_ptr_null(m.id_raw);
        jsonrpc_message_finish(&m);
    }
}
END_TEST

START_TEST(batch_is_recognised)
{
    struct jsonrpc_message m =
        parse("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}]");
    ck_assert_int_eq(m.kind, JSONRPC_BATCH);
    ck_assert(json_is_array(m.root));
    struct jsonrpc_message e;
    jsonrpc_parse_value(json_array_get(m.root, 0), &e);
    ck_assert_int_eq(e.kind, JSONRPC_REQUEST);
    ck_assert_str_eq(e.id_raw, "1");
    jsonrpc_message_finish(&e);
    jsonrpc_message_finish(&m);
}
END_TEST

START_TEST(error_lines_for_every_code)
{
    static const int codes[] = {JSONRPC_PARSE_ERROR, JSONRPC_INVALID_REQUEST,
                                JSONRPC_METHOD_NOT_FOUND, JSONRPC_INVALID_PARAMS,
                                JSONRPC_INTERNAL_ERROR};
    for (size_t i = 0; i < 5; i++) {
        size_t len;
        char *line = jsonrpc_error_line("null", codes[i], "msg", NULL, &len);
        char expect[128];
        snprintf(expect, sizeof expect,
                 "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":%d,\"message\":"
                 "\"msg\"}}",
                 codes[i]);
        ck_assert_str_eq(line, expect);
        free(line);
    }
}
END_TEST

START_TEST(lines_are_compact_without_newlines)
{
    json_t *params = json_pack("{s:s}", "data", "two\nlines");
    size_t len;
    char *line = jsonrpc_notification_line("notifications/message", params, &len);
    json_decref(params);
    ck_assert_str_eq(line, "{\"jsonrpc\":\"2.0\",\"method\":\"notifications/message\","
                           "\"params\":{\"data\":\"two\\nlines\"}}");
    ck_assert_ptr_null(strchr(line, '\n'));
    free(line);
}
END_TEST

START_TEST(nul_in_a_string_keeps_the_id)
{
    struct jsonrpc_message m = parse(
        "{\"jsonrpc\":\"2.0\",\"id\":901,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"x\",\"arguments\":{\"a\":\"1\\u0000/../otp\"}}}");
    ck_assert_int_eq(m.kind, JSONRPC_REQUEST);
    ck_assert(m.has_nul);
    ck_assert_str_eq(m.id_raw, "901");
    jsonrpc_message_finish(&m);
    m = parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\"}");
    ck_assert(!m.has_nul);
    jsonrpc_message_finish(&m);
}
END_TEST

/* A 30-digit literal: past 64 bits, so jansson cannot hold it as an integer. */
#define HUGE_INT "123456789012345678901234567890"

/* One huge integer anywhere in a message must not turn the message's other
 * integers into reals: the tool builders read integers, and a real would
 * make them fall back to defaults. */
START_TEST(huge_integer_elsewhere_keeps_integers)
{
    static const char *const lines[] = {
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"list_campaigns\",\"arguments\":{\"page\":3,\"limit\":5},\"_meta\":{"
        "\"x\":" HUGE_INT "}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"list_campaigns\",\"_meta\":{\"progressToken\":-" HUGE_INT
        "},\"arguments\":{\"page\":3,\"limit\":5}}}",
        "{\"jsonrpc\":\"2.0\",\"id\":2,\"method\":\"tools/call\",\"params\":{\"name\":"
        "\"list_campaigns\",\"arguments\":{\"page\":3,\"limit\":5,\"x\":[1," HUGE_INT
        ",\"" HUGE_INT "\",1.5e3,9223372036854775808]}}}",
    };
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        struct jsonrpc_message m = parse(lines[i]);
        ck_assert_msg(m.kind == JSONRPC_REQUEST, "case %zu kind %d", i, m.kind);
        ck_assert_str_eq(m.id_raw, "2");
        ck_assert_str_eq(m.id_key, "n2");
        json_t *args = json_object_get(m.params, "arguments");
        ck_assert(json_is_integer(json_object_get(args, "page")));
        ck_assert_int_eq(json_integer_value(json_object_get(args, "page")), 3);
        ck_assert(json_is_integer(json_object_get(args, "limit")));
        ck_assert_int_eq(json_integer_value(json_object_get(args, "limit")), 5);
        jsonrpc_message_finish(&m);
    }
    /* The huge value itself is kept as a number, as close as a double gets;
     * strings that look like numbers are left alone. */
    struct jsonrpc_message m = parse(lines[2]);
    json_t *x = json_object_get(json_object_get(m.params, "arguments"), "x");
    ck_assert_int_eq(json_integer_value(json_array_get(x, 0)), 1);
    ck_assert(json_is_real(json_array_get(x, 1)));
    ck_assert(json_real_value(json_array_get(x, 1)) > 1.2e29);
    ck_assert_str_eq(json_string_value(json_array_get(x, 2)), HUGE_INT);
    ck_assert(json_is_real(json_array_get(x, 3)));
    ck_assert(json_real_value(json_array_get(x, 3)) == 1500.0);
    ck_assert(json_is_real(json_array_get(x, 4)));
    jsonrpc_message_finish(&m);
}
END_TEST

/* The boundaries of 64 bits stay integers; one past them does not. */
START_TEST(integer_boundaries)
{
    struct jsonrpc_message m =
        parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"a\":"
              "9223372036854775807,\"b\":-9223372036854775808,\"c\":-9223372036854775809,"
              "\"d\":0,\"e\":\"\\\"9223372036854775808\"}}");
    ck_assert_int_eq(m.kind, JSONRPC_REQUEST);
    ck_assert(json_is_integer(json_object_get(m.params, "a")));
    ck_assert(json_is_integer(json_object_get(m.params, "b")));
    ck_assert(json_is_real(json_object_get(m.params, "c")));
    ck_assert(json_is_integer(json_object_get(m.params, "d")));
    ck_assert_str_eq(json_string_value(json_object_get(m.params, "e")),
                     "\"9223372036854775808");
    jsonrpc_message_finish(&m);
    /* A real too big for a double is still not JSON we can read. */
    m = parse("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"ping\",\"params\":{\"a\":1e999,"
              "\"b\":" HUGE_INT "}}");
    ck_assert_int_eq(m.kind, JSONRPC_INVALID);
    ck_assert_int_eq(m.error_code, JSONRPC_PARSE_ERROR);
    jsonrpc_message_finish(&m);
}
END_TEST

/* A huge integer id still comes back exactly, also with a NUL in a string. */
START_TEST(huge_id_with_nul_and_overflow)
{
    struct jsonrpc_message m =
        parse("{\"jsonrpc\":\"2.0\",\"id\":" HUGE_INT ",\"method\":\"tools/call\","
              "\"params\":{\"arguments\":{\"a\":\"x\\u0000\",\"n\":7}}}");
    ck_assert_int_eq(m.kind, JSONRPC_REQUEST);
    ck_assert(m.has_nul);
    ck_assert_str_eq(m.id_raw, HUGE_INT);
    json_t *n = json_object_get(json_object_get(m.params, "arguments"), "n");
    ck_assert(json_is_integer(n));
    jsonrpc_message_finish(&m);
}
END_TEST

/* In a batch, a huge integer in one element changes nothing for the
 * others, and every element keeps its own id, a huge one included. */
START_TEST(batch_with_huge_integers_keeps_ids)
{
    struct jsonrpc_message m = parse(
        "[{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"ping\"},"
        "{\"jsonrpc\":\"2.0\",\"id\":4,\"method\":\"ping\",\"params\":{\"x\":" HUGE_INT
        ",\"n\":5}},"
        " {\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"id\":" HUGE_INT "} ,"
        "{\"jsonrpc\":\"2.0\",\"id\":\"s\",\"method\":\"ping\"}]");
    ck_assert_int_eq(m.kind, JSONRPC_BATCH);
    static const char *const ids[] = {"3", "4", HUGE_INT, "\"s\""};
    for (size_t i = 0; i < 4; i++) {
        struct jsonrpc_message e;
        jsonrpc_parse_element(&m, i, &e);
        ck_assert_msg(e.kind == JSONRPC_REQUEST, "element %zu kind %d", i, e.kind);
        ck_assert_str_eq(e.id_raw, ids[i]);
        if (i == 1)
            ck_assert(json_is_integer(json_object_get(e.params, "n")));
        jsonrpc_message_finish(&e);
    }
    jsonrpc_message_finish(&m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonrpc");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, request_with_integer_id);
    tcase_add_test(tc, ids_echo_exactly);
    tcase_add_test(tc, string_and_number_ids_do_not_collide);
    tcase_add_test(tc, notification_and_response);
    tcase_add_test(tc, parse_errors);
    tcase_add_test(tc, invalid_requests);
    tcase_add_test(tc, batch_is_recognised);
    tcase_add_test(tc, error_lines_for_every_code);
    tcase_add_test(tc, lines_are_compact_without_newlines);
    tcase_add_test(tc, nul_in_a_string_keeps_the_id);
    tcase_add_test(tc, huge_integer_elsewhere_keeps_integers);
    tcase_add_test(tc, integer_boundaries);
    tcase_add_test(tc, huge_id_with_nul_and_overflow);
    tcase_add_test(tc, batch_with_huge_integers_keeps_ids);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
