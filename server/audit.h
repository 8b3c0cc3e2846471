/* The audit log: one JSON line per tool call (time, client, tool, masked
 * arguments, outcome, MSG91 request id, HTTP status, duration), appended
 * with one write per line so concurrent writers and log shippers never see
 * half a line. The file is reopened on SIGHUP so it survives rotation; the
 * line passes the redaction step, so the key can never be written. */
#ifndef MSG91_AUDIT_H
#define MSG91_AUDIT_H

#include <jansson.h>

struct audit_log;

struct audit_entry {
    const char *client_name;    /* from initialize; may be NULL */
    const char *client_version; /* may be NULL */
    const char *tool;
    json_t *arguments;      /* borrowed; masked in the line, not in place */
    const char *outcome;    /* "ok", "tool_error", "invalid_arguments",
                               "refused", "dry_run", "cancelled" */
    const char *error;      /* what went wrong, or NULL */
    const char *request_id; /* MSG91's request id, or NULL */
    long http_status;       /* 0 when nothing was answered */
    double duration_ms;
};

/* Opens (creating with mode 0600) path for appending. Returns NULL with
 * *error set (malloc'd) when it cannot. */
struct audit_log *audit_open(const char *path, char **error);

/* Reopens the same path: after logrotate moved the file away, new lines
 * go to a fresh file. Keeps the old descriptor if the reopen fails. */
int audit_reopen(struct audit_log *log);

void audit_write(struct audit_log *log, const struct audit_entry *entry);

/* Accepts NULL. */
void audit_close(struct audit_log *log);

/* The masked copy of arguments used in the line (new reference): OTP codes
 * become "****", mobile numbers keep only their last four digits. */
json_t *audit_mask_arguments(json_t *arguments);

#endif
