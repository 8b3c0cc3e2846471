#include "util/pct.h"

#include <string.h>

int pct_hex_value(char c)
{
    static const char digits[] = "0123456789abcdef";
    /* strchr finds the terminating NUL too: a NUL is no digit. */
    const char *at = c ? strchr(digits, c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c) : NULL;
    return at ? (int)(at - digits) : -1;
}

int pct_escape_value(const char *s, size_t left)
{
    if (left < 3 || s[0] != '%')
        return -1;
    int hi = pct_hex_value(s[1]);
    /* s[2] is read only after s[1] proved to be a digit, not a NUL. */
    int lo = hi >= 0 ? pct_hex_value(s[2]) : -1;
    return lo >= 0 ? hi * 16 + lo : -1;
}
