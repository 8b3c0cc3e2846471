/* The upstream service as a whole, as the server presents it: its name in
 * sentences, what a model is told at initialize, how requests authenticate,
 * which argument names hold personal values, and the settings the tools add
 * to the configuration. server/ reads these declarations and names no tool
 * or field of the service itself. Design note: doc/tools.md. */
#ifndef MSG91_TOOLS_SERVICE_H
#define MSG91_TOOLS_SERVICE_H

#include <stddef.h>

#include "util/log.h"

/* The service's name where a sentence needs it ("waiting for MSG91"). A
 * macro, so that fixed texts are still built at compile time. */
#define SERVICE_NAME "MSG91"

/* The request header that carries the auth key. */
#define SERVICE_AUTH_HEADER "authkey"

/* The _meta member that marks a dry-run result (a tool error by shape, but
 * not a failure: the CLI exits 0 for it). */
#define SERVICE_DRY_RUN_META "msg91/dryRun"

/* The _meta member (true) of a result replayed for an idempotency key:
 * the stored result of the first call; nothing was sent again. */
#define SERVICE_REPLAYED_META "msg91/replayed"

/* Settings the tools add to the configuration, read like every other
 * setting (environment variable, flag, config-file key). Each is a string
 * that fills in an argument a call leaves out; a tool says which one in
 * its tool_def.arg_default. X(id, variable, flag, file key, help). */
#define SERVICE_SETTINGS(X)                                                              \
    X(SERVICE_SETTING_OTP_TEMPLATE, "MSG91_OTP_TEMPLATE_ID", "otp-template-id",          \
      "otp_template_id", "default OTP template for send_otp")

#define SERVICE_SETTING_ID(id, env, flag, key, help) id,
enum service_setting { SERVICE_SETTINGS(SERVICE_SETTING_ID) SERVICE_SETTINGS_LEN };
#undef SERVICE_SETTING_ID

/* The send limits a persona may set in the personas file (its "limits"
 * object), each a whole number, 0 meaning no limit. Kept per persona for
 * the checks on sending calls. X(id, file key, help). */
#define SERVICE_LIMITS(X)                                                                \
    X(SERVICE_LIMIT_SENDS_PER_DAY, "sends_per_day", "sending calls per day")             \
    X(SERVICE_LIMIT_CODES_PER_RECIPIENT_HOUR, "otp_per_recipient_per_hour",              \
      "codes sent to one number per hour")

#define SERVICE_LIMIT_ID(id, key, help) id,
enum service_limit { SERVICE_LIMITS(SERVICE_LIMIT_ID) SERVICE_LIMITS_LEN };
#undef SERVICE_LIMIT_ID

/* The server-wide value of each limit, a setting like any other (a
 * persona's "limits" override it). X(id, variable, flag, file key,
 * default, help). */
#define SERVICE_LIMIT_SETTINGS(X)                                                        \
    X(SERVICE_LIMIT_SENDS_PER_DAY, "MSG91_SENDS_PER_DAY", "sends-per-day",               \
      "sends_per_day", 0, "sending calls per persona per day (0: no limit)")             \
    X(SERVICE_LIMIT_CODES_PER_RECIPIENT_HOUR, "MSG91_OTP_PER_RECIPIENT_PER_HOUR",        \
      "otp-per-recipient-per-hour", "otp_per_recipient_per_hour", 5,                     \
      "codes sent to one number per hour (5; 0: no limit)")

struct service_def {
    const char *title;        /* serverInfo.title */
    const char *description;  /* serverInfo.description */
    const char *summary;      /* the first line of --help, after the version */
    const char *instructions; /* sent at initialize; clients may show it to the model */
    const char *default_base_url;
    /* The progress message of a call that went out upstream. */
    const char *progress_sent;
    /* Names whose values are masked wherever the server writes for people
     * (logs, audit lines); ends with a NULL name. */
    const struct log_personal_name *personal;
};

extern const struct service_def service;

#endif
