#include "store/store_int.h"
#include <stdio.h>
int store__redis_init(struct store *s, const char *spec, char *err, size_t err_size)
{
    (void)s;
    (void)spec;
    snprintf(err, err_size, "not yet");
    return STORE_EINVAL;
}
