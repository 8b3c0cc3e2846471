#include "util/msg.h"

#include <stdio.h>

char *msg_vformat(const char *fmt, va_list ap)
{
    char *text = NULL;
    /* On failure glibc leaves text undefined, so it is not returned. */
    if (vasprintf(&text, fmt, ap) < 0)
        return NULL;
    return text;
}

char *msg_format(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *text = msg_vformat(fmt, ap);
    va_end(ap);
    return text;
}
