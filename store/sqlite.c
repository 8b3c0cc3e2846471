#include "store/store_int.h"
#include <stdio.h>
int store__sqlite_init(struct store *s, const char *path, char *err, size_t err_size)
{
    (void)s;
    (void)path;
    snprintf(err, err_size, "not yet");
    return STORE_EINVAL;
}
