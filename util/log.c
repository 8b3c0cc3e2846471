#include "util/log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/pct.h"
#include "util/redact.h"

static enum log_level threshold = LOG_LEVEL_INFO;
static log_sink_fn sink_fn;
static void *sink_data;
static const struct log_personal_name *personal;

static const char *const level_names[] = {"debug", "info", "warning", "error"};

int log_level_parse(const char *text, enum log_level *out)
{
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(text, level_names[i]) == 0) {
            *out = (enum log_level)i;
            return 0;
        }
    }
    if (strcasecmp(text, "warn") == 0) {
        *out = LOG_LEVEL_WARNING;
        return 0;
    }
    return -1;
}

void log_set_level(enum log_level level)
{
    threshold = level;
}

void log_set_sink(log_sink_fn sink, void *data)
{
    sink_fn = sink;
    sink_data = data;
}

void log_set_personal(const struct log_personal_name *names)
{
    personal = names;
}

/* The character at value[*i], a "%XX" escape read as the byte it stands
 * for; moves *i past it. */
static char next_char(const char *value, size_t len, size_t *i)
{
    int byte = pct_escape_value(value + *i, len - *i);
    if (byte < 0)
        return value[(*i)++];
    *i += 3;
    return (char)byte;
}

/* Digits with spaces or dashes, at least six, after an optional '+'. */
static bool looks_like_phone(const char *value, size_t len)
{
    size_t i = 0, digits = 0;
    if (len > 0) {
        char first = next_char(value, len, &i);
        if (first != '+')
            i = 0;
    }
    while (i < len) {
        char c = next_char(value, len, &i);
        if (c >= '0' && c <= '9')
            digits++;
        else if (c != ' ' && c != '-')
            return false;
    }
    return digits >= 6;
}

enum log_personal log_personal_kind(const char *key, size_t key_len, const char *value,
                                    size_t len)
{
    const struct log_personal_name *p = personal;
    while (p && p->name &&
           (strlen(p->name) != key_len || memcmp(p->name, key, key_len) != 0))
        p++;
    if (!p || !p->name)
        return LOG_PERSONAL_NONE;
    switch (p->rule) {
    case LOG_PERSONAL_IS_CODE:
        return LOG_PERSONAL_CODE;
    case LOG_PERSONAL_IS_PHONE:
        return LOG_PERSONAL_PHONE;
    case LOG_PERSONAL_IS_PHONE_LIKE:
        return looks_like_phone(value, len) ? LOG_PERSONAL_PHONE : LOG_PERSONAL_NONE;
    }
    return LOG_PERSONAL_NONE;
}

void log_mask_phone(char *value, size_t len)
{
    for (size_t i = 0; i + 4 < len; i++)
        if (value[i] != '+')
            value[i] = '*';
}

/* One "name=value" after '?' or '&', as offsets into the text. */
struct query_param {
    size_t name, name_len, value, value_len;
};

#define QUERY_VALUE_END "&#; \t\"'<>"

/* Finds the next query parameter at or after *pos and moves *pos past it. */
static bool next_param(const char *text, size_t *pos, struct query_param *p)
{
    for (size_t i = *pos; text[i]; i++) {
        if (text[i] != '?' && text[i] != '&')
            continue;
        size_t name = i + 1;
        size_t name_len = strcspn(text + name, "=?" QUERY_VALUE_END);
        if (name_len == 0 || text[name + name_len] != '=')
            continue;
        p->name = name;
        p->name_len = name_len;
        p->value = name + name_len + 1;
        p->value_len = strcspn(text + p->value, QUERY_VALUE_END);
        *pos = p->value + p->value_len;
        return true;
    }
    return false;
}

static enum log_personal param_kind(const char *text, const struct query_param *p)
{
    return log_personal_kind(text + p->name, p->name_len, text + p->value, p->value_len);
}

/* Copies text with the personal values of URL query parameters masked.
 * Returns 0 with *out NULL when nothing needed masking, 0 with *out
 * malloc'd, or -ENOMEM. */
static int mask_query(const char *text, char **out)
{
    *out = NULL;
    struct query_param p;
    size_t pos = 0, count = 0;
    while (next_param(text, &pos, &p))
        count += param_kind(text, &p) != LOG_PERSONAL_NONE;
    if (count == 0)
        return 0;
    size_t n = strlen(text), from = 0, len = 0;
    /* A code becomes "****", which may be longer than the code. */
    char *o = malloc(n + 4 * count + 1);
    if (!o)
        return -ENOMEM;
    pos = 0;
    while (next_param(text, &pos, &p)) {
        enum log_personal kind = param_kind(text, &p);
        if (kind == LOG_PERSONAL_NONE)
            continue;
        memcpy(o + len, text + from, p.value - from);
        len += p.value - from;
        if (kind == LOG_PERSONAL_CODE) {
            memset(o + len, '*', 4);
            len += 4;
        } else {
            memcpy(o + len, text + p.value, p.value_len);
            log_mask_phone(o + len, p.value_len);
            len += p.value_len;
        }
        from = p.value + p.value_len;
    }
    memcpy(o + len, text + from, n - from + 1);
    *out = o;
    return 0;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level < threshold && !sink_fn)
        return;
    char stack[1024];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(stack, sizeof stack, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    char *text = stack;
    char *heap = NULL;
    if ((size_t)n >= sizeof stack) {
        heap = malloc((size_t)n + 1);
        if (!heap)
            return;
        va_start(ap, fmt);
        vsnprintf(heap, (size_t)n + 1, fmt, ap);
        va_end(ap);
        text = heap;
    }
    /* One redaction step for everything logged, whatever built the text. */
    char *clean = NULL;
    if (redact_apply(text, (size_t)n, &clean, NULL) != 0)
        redact_mask_in_place(text, (size_t)n); /* no memory for a copy: fail closed */
    else if (clean)
        text = clean;
    /* Newlines inside a message would split one event across log lines. */
    for (char *p = text; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    char *masked = NULL;
    const char *out = text;
    if (mask_query(text, &masked) != 0)
        out = "a log line was withheld: out of memory while masking it";
    else if (masked)
        out = masked;
    if (level >= threshold)
        fprintf(stderr, "msg91-mcp: %s: %s\n", level_names[level], out);
    if (sink_fn)
        sink_fn(sink_data, level, out);
    free(masked);
    free(clean);
    free(heap);
}
