#include "util/jsonload.h"

#include <stdlib.h>
#include <string.h>

/* Whether the integer literal p[0..n) (an optional '-' and digits) lies
 * outside json_int_t, which jansson refuses as a numeric overflow. */
static bool integer_overflows(const char *p, size_t n)
{
    static const char max[] = "9223372036854775807";
    static const char min[] = "9223372036854775808";
    bool negative = n > 0 && *p == '-';
    if (negative) {
        p++;
        n--;
    }
    while (n > 1 && *p == '0') {
        p++;
        n--;
    }
    if (n != sizeof max - 1)
        return n > sizeof max - 1;
    return memcmp(p, negative ? min : max, n) > 0;
}

/* Length of the number token at p, and whether it is an integer literal. */
static size_t number_length(const char *p, size_t left, bool *integer)
{
    size_t n = 0;
    *integer = true;
    while (n < left && strchr("0123456789+-.eE", p[n]) && p[n] != '\0') {
        if (!(p[n] >= '0' && p[n] <= '9') && !(n == 0 && p[n] == '-'))
            *integer = false;
        n++;
    }
    return n;
}

/* Copies text to out (when out is not NULL) with ".0" after every integer
 * literal outside strings that does not fit in 64 bits, so jansson reads
 * that one as a real and every other integer stays an integer: tool
 * arguments must keep their types whatever else a message holds. Returns
 * the length of the result. */
static size_t widen_huge_integers(const char *text, size_t len, char *out)
{
    size_t o = 0, i = 0;
    bool in_string = false;
    while (i < len) {
        char c = text[i];
        size_t n = 1;
        bool integer = false;
        if (in_string) {
            if (c == '\\' && i + 1 < len)
                n = 2;
            else if (c == '"')
                in_string = false;
        } else if (c == '"') {
            in_string = true;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            n = number_length(text + i, len - i, &integer);
        }
        bool widen = integer && integer_overflows(text + i, n);
        if (out)
            memcpy(out + o, text + i, n);
        o += n;
        i += n;
        if (widen) {
            if (out) {
                // NOLINTNEXTLINE(bugprone-not-null-terminated-result): read by length
                memcpy(out + o, ".0", 2);
            }
            o += 2;
        }
    }
    return o;
}

json_t *jsonload_buffer(const char *text, size_t len, size_t flags, json_error_t *error,
                        bool *nomem)
{
    json_error_t local;
    if (!error)
        error = &local;
    if (nomem)
        *nomem = false;
    json_t *root = json_loadb(text, len, flags, error);
    if (root || json_error_code(error) != json_error_numeric_overflow)
        return root;
    size_t wide_len = widen_huge_integers(text, len, NULL);
    char *wide = malloc(wide_len + 1);
    if (!wide) {
        if (nomem)
            *nomem = true;
        return NULL;
    }
    widen_huge_integers(text, len, wide);
    root = json_loadb(wide, wide_len, flags, error);
    free(wide);
    return root;
}

const char *jsonload_kind(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "a list";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "a whole number";
    case JSON_REAL:
        return "a number with a fraction";
    case JSON_TRUE:
    case JSON_FALSE:
        return "true or false";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}
