/* util/jsonload.h: the tolerant loader and the names of JSON kinds. */
#include <check.h>
#include <jansson.h>
#include <string.h>

#include "tests/testutil.h"
#include "util/jsonload.h"

/* A huge integer becomes a real, that one alone. */
START_TEST(huge_integer_alone_becomes_a_real)
{
    const char *text = "{\"a\":123456789012345678901234567890,\"b\":7}";
    json_error_t err;
    json_t *v = jsonload_buffer(text, strlen(text), 0, &err, NULL);
    ck_assert_ptr_nonnull(v);
    ck_assert(json_is_real(json_object_get(v, "a")));
    ck_assert(json_is_integer(json_object_get(v, "b")));
    json_decref(v);
}
END_TEST

/* Every kind has its words, and none quotes the value. */
START_TEST(names_every_kind)
{
    const struct {
        const char *json;
        const char *kind;
    } cases[] = {
        {"{}", "an object"},
        {"[1]", "a list"},
        {"\"secret\"", "a string"},
        {"42", "a whole number"},
        {"4.5", "a number with a fraction"},
        {"true", "true or false"},
        {"false", "true or false"},
        {"null", "null"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *v = json_loads(cases[i].json, JSON_DECODE_ANY, NULL);
        ck_assert_ptr_nonnull(v);
        ck_assert_str_eq(jsonload_kind(v), cases[i].kind);
        json_decref(v);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("jsonload");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, huge_integer_alone_becomes_a_real);
    tcase_add_test(tc, names_every_kind);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
