/* Logging for people: levelled lines on stderr, each passed through the
 * redaction step so the auth key never appears. A session may also attach
 * a sink that forwards log lines to the client as notifications/message. */
#ifndef MSG91_LOG_H
#define MSG91_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level {
    LOG_LEVEL_DEBUG = 0,
    LOG_LEVEL_INFO,
    LOG_LEVEL_WARNING,
    LOG_LEVEL_ERROR,
};

/* Parses "debug", "info", "warning" (or "warn") and "error". Returns 0 or -1. */
int log_level_parse(const char *text, enum log_level *out);

void log_set_level(enum log_level level);

/* Receives every message at any level, already redacted, after it was
 * written to stderr (when its level was high enough for stderr). */
typedef void (*log_sink_fn)(void *data, enum log_level level, const char *text);
void log_set_sink(log_sink_fn sink, void *data);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Personal values are masked wherever the server writes for people: a
 * secret code becomes "****" and a phone number keeps only its last four
 * characters. log_msg applies this to URL query parameters in every line
 * (the debug log names each upstream URL); the audit log to arguments.
 * Which names hold such values is the caller's knowledge, given once with
 * log_set_personal. */
enum log_personal {
    LOG_PERSONAL_NONE = 0,
    LOG_PERSONAL_CODE,  /* a secret code: becomes "****" */
    LOG_PERSONAL_PHONE, /* a phone number: keeps its last four */
};

/* What a name says of its values. */
enum log_personal_rule {
    LOG_PERSONAL_IS_CODE = 1,   /* always a secret code */
    LOG_PERSONAL_IS_PHONE,      /* always a phone number */
    LOG_PERSONAL_IS_PHONE_LIKE, /* a phone number when the value looks like one */
};

/* A name (of an argument or a URL query parameter) whose values are
 * personal. */
struct log_personal_name {
    const char *name;
    enum log_personal_rule rule;
};

/* Sets the names whose values are masked: a table ended by a NULL name,
 * borrowed (it must outlive every later log call), or NULL for none. Call
 * it at startup, before anything is logged. */
void log_set_personal(const struct log_personal_name *names);

/* What the value named key (key_len bytes) is: NONE, CODE or PHONE. value
 * (len bytes) may hold URL percent-escapes, read as the characters they
 * stand for. */
enum log_personal log_personal_kind(const char *key, size_t key_len, const char *value,
                                    size_t len);

/* Masks a phone number in place: every character but '+' and the last four
 * becomes '*' ("919876543210" -> "********3210"). */
void log_mask_phone(char *value, size_t len);

#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)

#endif
