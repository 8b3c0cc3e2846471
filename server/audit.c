#include "server/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "server/log.h"
#include "server/redact.h"

struct audit_log {
    char *path;
    int fd;
};

static int open_append(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

struct audit_log *audit_open(const char *path, char **error)
{
    int fd = open_append(path);
    if (fd < 0) {
        if (asprintf(error, "cannot open the audit log %s: %s", path, strerror(errno)) <
            0)
            *error = NULL;
        return NULL;
    }
    struct audit_log *log = calloc(1, sizeof *log);
    if (!log || !(log->path = strdup(path))) {
        free(log);
        close(fd);
        *error = strdup("out of memory");
        return NULL;
    }
    log->fd = fd;
    return log;
}

int audit_reopen(struct audit_log *log)
{
    int fd = open_append(log->path);
    if (fd < 0) {
        log_error("cannot reopen the audit log %s: %s; keeping the old file", log->path,
                  strerror(errno));
        return -1;
    }
    close(log->fd);
    log->fd = fd;
    log_info("audit log reopened");
    return 0;
}

void audit_close(struct audit_log *log)
{
    if (!log)
        return;
    close(log->fd);
    free(log->path);
    free(log);
}

/* "919876543210" -> "********3210": enough to tell calls apart, not
 * enough to contact the person. */
static json_t *mask_mobile(const char *value)
{
    size_t n = strlen(value);
    char *out = malloc(n + 1);
    if (!out)
        return json_string("****");
    for (size_t i = 0; i < n; i++)
        out[i] = (i + 4 < n && value[i] != '+') ? '*' : value[i];
    out[n] = '\0';
    json_t *s = json_string(out);
    free(out);
    return s ? s : json_string("****");
}

static bool looks_like_phone(const char *s)
{
    if (*s == '+')
        s++;
    size_t digits = 0;
    for (; *s; s++) {
        if (*s >= '0' && *s <= '9')
            digits++;
        else if (*s != ' ' && *s != '-')
            return false;
    }
    return digits >= 6;
}

static json_t *mask_value(const char *key, json_t *value)
{
    if (json_is_object(value)) {
        json_t *copy = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(value, k, v)
        {
            json_object_set_new(copy, k, mask_value(k, v));
        }
        return copy;
    }
    if (json_is_array(value)) {
        json_t *copy = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(value, i, v)
        {
            json_array_append_new(copy, mask_value(key, v));
        }
        return copy;
    }
    if (key && json_is_string(value)) {
        const char *s = json_string_value(value);
        if (!strcmp(key, "otp"))
            return json_string("****");
        if (!strcmp(key, "mobile") || !strcmp(key, "mobiles") ||
            (!strcmp(key, "identifier") && looks_like_phone(s)))
            return mask_mobile(s);
    }
    return json_deep_copy(value);
}

json_t *audit_mask_arguments(json_t *arguments)
{
    return arguments ? mask_value(NULL, arguments) : json_object();
}

static void timestamp(char *buf, size_t len)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    size_t n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, len - n, ".%03ldZ", (long)(tv.tv_usec / 1000));
}

void audit_write(struct audit_log *log, const struct audit_entry *e)
{
    if (!log)
        return;
    char when[40];
    timestamp(when, sizeof when);
    json_t *line =
        json_pack("{s:s,s:{s:s?,s:s?},s:s,s:o,s:s}", "time", when, "client", "name",
                  e->client_name, "version", e->client_version, "tool", e->tool,
                  "arguments", audit_mask_arguments(e->arguments), "outcome", e->outcome);
    if (!line)
        return;
    if (e->error)
        json_object_set_new(line, "error", json_string(e->error));
    json_object_set_new(line, "request_id",
                        e->request_id ? json_string(e->request_id) : json_null());
    json_object_set_new(line, "http_status",
                        e->http_status ? json_integer(e->http_status) : json_null());
    json_object_set_new(line, "duration_ms",
                        json_real((double)(long long)(e->duration_ms * 1000) / 1000.0));
    /* Nine significant digits print 6.865, not 6.8650000000000002. */
    char *text = json_dumps(line, JSON_COMPACT | JSON_REAL_PRECISION(9));
    json_decref(line);
    if (!text)
        return;
    size_t len = strlen(text);
    char *clean = NULL;
    if (redact_apply(text, len, &clean, &len) != 0)
        redact_mask_in_place(text, len); /* no memory for a copy: fail closed */
    char *out = clean ? clean : text;
    /* One write of line + newline: O_APPEND makes it land whole at the end. */
    out[len] = '\n';
    ssize_t w = write(log->fd, out, len + 1);
    if (w != (ssize_t)(len + 1))
        log_error("cannot write the audit log %s: %s", log->path,
                  w < 0 ? strerror(errno) : "short write");
    free(clean);
    free(text);
}
