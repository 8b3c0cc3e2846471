/* Checks a harness makes beyond the sanitizers can be switched off by name
 * while the defect they find waits for its fix, so that fuzzing can go on
 * past it: FUZZ_KNOWN=name[,name...]. The names are listed where each
 * check is made (key-prefix in fuzz_session.c, base-url in fuzz_config.c).
 * Unset, every check is on, as in `meson test`. */
#ifndef MSG91_FUZZ_KNOWN_H
#define MSG91_FUZZ_KNOWN_H

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

static inline bool fuzz_known(const char *name)
{
    const char *list = getenv("FUZZ_KNOWN");
    size_t n = strlen(name);
    for (const char *p = list; p && *p; p += strcspn(p, ",")) {
        p += *p == ',';
        if (!strncmp(p, name, n) && (p[n] == ',' || p[n] == '\0'))
            return true;
    }
    return false;
}

#endif
