/* Logging for people: levelled lines on stderr, each passed through the
 * redaction step so the auth key never appears. A session may also attach
 * a sink that forwards log lines to the client as notifications/message. */
#ifndef MSG91_LOG_H
#define MSG91_LOG_H

#include <stdbool.h>

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARNING,
    LOG_LEVEL_ERROR,
};

/* Parses "debug", "info", "warning" (or "warn") and "error". Returns 0 or -1. */
int log_level_parse(const char *text, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_set_level(enum log_level level);
enum log_level log_get_level(void);

/* Receives every message at any level, already redacted, after it was
 * written to stderr (when its level was high enough for stderr). */
typedef void (*log_sink_fn)(void *data, enum log_level level, const char *text);
void log_set_sink(log_sink_fn sink, void *data);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
