/* How fast tool arguments are validated: for each tool's input schema, a
 * valid and an invalid call, checked with and without collecting errors,
 * reported as nanoseconds of CPU time per validation (CPU time, so that a
 * busy machine does not inflate it) and validations per second. The
 * headline is a valid send_sms_flow call with ten recipients (target:
 * under 2 microseconds). Usage: bench_schema [seconds per case]. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jsonschema/schema.h"
#include "schemas/embedded.h"

struct bench_case {
    const char *tool;
    const char *label;
    const char *args;
    bool valid;
};

static const struct bench_case cases[] = {
    {"send_sms_flow", "valid, 10 recipients", NULL, true},
    {"send_sms_flow", "invalid, 10 recipients", NULL, false},
    {"send_otp", "valid",
     "{\"mobile\":\"+919876543210\",\"template_id\":\"otp_tpl_1\","
     "\"otp_length\":6,\"otp_expiry\":10,\"variables\":{\"name\":\"Asha\"}}",
     true},
    {"send_otp", "invalid", "{\"mobile\":\"98765\",\"otp_length\":12,\"surprise\":true}",
     false},
    {"resend_otp", "valid", "{\"mobile\":\"919876543210\",\"retry_type\":\"voice\"}",
     true},
    {"resend_otp", "invalid", "{\"mobile\":\"919876543210\",\"retry_type\":\"fax\"}",
     false},
    {"verify_otp", "valid", "{\"mobile\":\"919876543210\",\"otp\":\"482913\"}", true},
    {"verify_otp", "invalid", "{\"mobile\":\"919876543210\",\"otp\":\"48\"}", false},
    {"create_user_events", "valid",
     "{\"identifier\":\"user-42\",\"events\":[{\"name\":\"login\",\"properties\":{"
     "\"plan\":"
     "\"pro\"},\"timestamp\":\"2024-05-01T10:00:00Z\"},{\"name\":\"purchase\"}]}",
     true},
    {"create_user_events", "invalid",
     "{\"identifier\":\"\",\"events\":[{\"nam\":\"login\"}]}", false},
    {"get_event_types", "valid", "{}", true},
    {"get_event_types", "invalid", "{\"page\":1}", false},
    {"get_failed_events", "valid",
     "{\"campaign_id\":\"cmp_1\",\"page\":2,\"limit\":50,\"start_date\":\"2024-05-01\"}",
     true},
    {"get_failed_events", "invalid", "{\"page\":\"2\",\"limit\":500}", false},
    {"list_campaigns", "valid", "{\"page\":1,\"limit\":25}", true},
    {"list_campaigns", "invalid", "{\"page\":0}", false},
};

static json_t *sms_flow_args(bool valid)
{
    json_t *recipients = json_array();
    for (int i = 0; i < 10; i++) {
        char mobile[32], name[32];
        snprintf(mobile, sizeof(mobile), "%s91987654%04d", i % 2 ? "+" : "", 3210 + i);
        snprintf(name, sizeof(name), "Customer %d", i);
        json_array_append_new(recipients,
                              json_pack("{s:s, s:s, s:s}", "mobiles",
                                        valid || i != 7 ? mobile : "12", "name", name,
                                        "order_id", "ORD-1029384"));
    }
    return json_pack("{s:s, s:o, s:b, s:i}", "template_id", "flow_order_shipped",
                     "recipients", recipients, "short_url", 1, "short_url_expiry",
                     valid ? 86400 : 0);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Runs validations for about `seconds` and returns nanoseconds each. */
static double measure(const struct schema *s, json_t *args, bool collect, double seconds)
{
    long iterations = 0;
    long batch = 1000;
    double start = now(), elapsed;
    do {
        for (long i = 0; i < batch; i++) {
            struct schema_errors errs;
            schema_validate(s, args, collect ? &errs : NULL);
            if (collect)
                schema_errors_finish(&errs);
        }
        iterations += batch;
        elapsed = now() - start;
    } while (elapsed < seconds);
    return elapsed * 1e9 / (double)iterations;
}

int main(int argc, char **argv)
{
    double seconds = argc > 1 ? atof(argv[1]) : 0.3;
    int rc = 0;

    printf("%-20s %-24s %12s %14s %14s\n", "tool", "arguments", "ns/validate",
           "validations/s", "ns/with errors");
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct bench_case *c = &cases[i];
        char name[128];
        snprintf(name, sizeof(name), "%s.input.json", c->tool);
        const struct embedded_file *f = embedded_find(name);
        json_t *doc = f ? json_loadb(f->text, f->len, 0, NULL) : NULL;
        char *error = NULL;
        struct schema *s = doc ? schema_compile(NULL, doc, NULL, NULL, &error) : NULL;
        json_t *args = c->args ? json_loads(c->args, 0, NULL) : sms_flow_args(c->valid);
        if (!s || !args) {
            fprintf(stderr, "%s: cannot set up: %s\n", c->tool,
                    error ? error : "missing");
            free(error);
            rc = 1;
        } else if (schema_validate(s, args, NULL) != c->valid) {
            fprintf(stderr, "%s %s: unexpected validation result\n", c->tool, c->label);
            rc = 1;
        } else {
            double quiet = measure(s, args, false, seconds);
            double collect = measure(s, args, true, seconds);
            printf("%-20s %-24s %12.0f %14.0f %14.0f\n", c->tool, c->label, quiet,
                   1e9 / quiet, collect);
        }
        json_decref(args);
        json_decref(doc);
        schema_destroy(s);
    }
    return rc;
}
