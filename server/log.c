#include "server/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/redact.h"

static enum log_level threshold = LOG_LEVEL_INFO;
static log_sink_fn sink_fn;
static void *sink_data;

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

const char *log_level_name(enum log_level level)
{
    return level_names[level];
}

void log_set_level(enum log_level level)
{
    threshold = level;
}

enum log_level log_get_level(void)
{
    return threshold;
}

void log_set_sink(log_sink_fn sink, void *data)
{
    sink_fn = sink;
    sink_data = data;
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
    if (level >= threshold)
        fprintf(stderr, "msg91-mcp: %s: %s\n", level_names[level], text);
    if (sink_fn)
        sink_fn(sink_data, level, text);
    free(clean);
    free(heap);
}
