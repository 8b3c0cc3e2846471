#include "tools/args.h"

#include <stdlib.h>

#include "tools/request.h"

int args_integer(json_t *args, const char *name, json_int_t *value, char **error)
{
    json_t *v = json_object_get(args, name);
    if (json_is_integer(v)) {
        *value = json_integer_value(v);
        return 1;
    }
    if (!json_is_real(v))
        return 0;
    /* 2^63 is exact as a double, and inside these bounds the conversion
     * is defined, so the round trip tells a whole number from the rest. */
    double d = json_real_value(v);
    if (d >= -9223372036854775808.0 && d < 9223372036854775808.0 &&
        (double)(json_int_t)d == d) {
        *value = (json_int_t)d;
        return 1;
    }
    return request_failf(error,
                         "Invalid arguments: %s must be a whole number between "
                         "-9223372036854775808 and 9223372036854775807; fix it and call "
                         "again.",
                         name);
}

json_int_t args_integer_or(json_t *args, const char *name, json_int_t fallback)
{
    char *error = NULL;
    json_int_t value = fallback;
    if (args_integer(args, name, &value, &error) < 0)
        value = fallback;
    free(error);
    return value;
}

int args_page(json_t *args, json_int_t default_limit, json_int_t *page, json_int_t *limit,
              char **error)
{
    *page = 1;
    *limit = default_limit;
    if (args_integer(args, "page", page, error) < 0 ||
        args_integer(args, "limit", limit, error) < 0)
        return -1;
    return 0;
}

int args_put_integer(struct request_values *v, json_t *args, const char *name,
                     char **error)
{
    json_int_t value = 0;
    int rc = args_integer(args, name, &value, error);
    if (rc > 0)
        request_put_int(v, name, value);
    return rc < 0 ? -1 : 0;
}

int args_put_page(struct request_values *v, json_t *args, json_int_t default_limit,
                  char **error)
{
    json_int_t page, limit;
    if (args_page(args, default_limit, &page, &limit, error) != 0)
        return -1;
    request_put_int(v, "page", page);
    request_put_int(v, "limit", limit);
    return 0;
}
