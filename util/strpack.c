#include "util/strpack.h"

#include <string.h>

size_t strpack_size(const char *const *s, size_t n)
{
    size_t size = 0;
    for (size_t i = 0; i < n; i++)
        size += s[i] ? strlen(s[i]) + 1 : 0;
    return size;
}

char *strpack_put(char **at, const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s) + 1;
    char *copy = memcpy(*at, s, len);
    *at += len;
    return copy;
}
