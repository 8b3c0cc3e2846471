#include "util/pct.h"

int pct_hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
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
