/* Private to sandbox/: what its three files share. sandbox.c owns the HTTP
 * side (libmicrohttpd, control routes, misbehaviour, recording), routes.c
 * owns how a request reaches a behaviour (route matching, query parsing,
 * authentication) and state.c owns what MSG91 remembers (OTPs, flows,
 * campaigns, events) and the answers it gives. */
#ifndef MSG91_SANDBOX_INTERNAL_H
#define MSG91_SANDBOX_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sandbox/sandbox.h"

/* The behaviours the sandbox knows, one per tool of the tool table. */
enum sandbox_tool {
    SANDBOX_SEND_OTP,
    SANDBOX_RESEND_OTP,
    SANDBOX_VERIFY_OTP,
    SANDBOX_SEND_SMS_FLOW,
    SANDBOX_CREATE_USER_EVENTS,
    SANDBOX_GET_EVENT_TYPES,
    SANDBOX_GET_FAILED_EVENTS,
    SANDBOX_LIST_CAMPAIGNS,
    SANDBOX_TOOL_COUNT,
};

/* The tool's name ("send_otp"), or NULL for an out-of-range value. */
const char *sandbox_tool_name(enum sandbox_tool tool);
/* Looks a tool up by name; returns 0 and sets *tool, or -1 when unknown. */
int sandbox_tool_from_name(const char *name, enum sandbox_tool *tool);
/* True for the OTP and Flow endpoints, whose envelope is
 * {"type":...,"message":...} and whose failures are HTTP 200. */
bool sandbox_tool_is_otp_family(enum sandbox_tool tool);

/* Decoded name/value pairs, in the order they came: a query string or the
 * {name} captures of a path template. */
struct sandbox_param {
    char *name;
    char *value;
};
struct sandbox_params {
    struct sandbox_param *items;
    size_t len;
};

/* Parses a raw query string ("a=1&b=%2B2"): percent escapes are decoded and
 * "+" is a space, as PHP-style backends read it. NULL or "" gives no pairs.
 * Returns 0 or -1 on allocation failure (p is then empty). */
int sandbox_params_parse(struct sandbox_params *p, const char *query);
/* Borrowed value of the first pair with this name, or NULL. */
const char *sandbox_params_get(const struct sandbox_params *p, const char *name);
void sandbox_params_finish(struct sandbox_params *p);

/* An answer: status and a malloc'd body (JSON text, never NULL once set). */
struct sandbox_reply {
    unsigned status;
    char *body;
};

/* Sets the reply to status and the compact text of v; steals v. */
void sandbox_reply_json(struct sandbox_reply *out, unsigned status, json_t *v);

/* ---- routes.c ---- */

struct sandbox_router;

/* Builds the router from routes (copied), or from the tool table when
 * routes is NULL. Returns NULL with *error set to a malloc'd sentence when a
 * route names an unknown tool or has a malformed template. */
struct sandbox_router *sandbox_router_create(const struct sandbox_route *routes,
                                             unsigned count, char **error);
void sandbox_router_destroy(struct sandbox_router *r);

/* Finds the route for method and raw (still percent-encoded) path. Returns
 * 0 with *tool set and the decoded {name} captures appended to captures, or
 * -1 when no route matches. resend_otp and verify_otp also answer POST,
 * because MSG91's own SDK posts to them. */
int sandbox_router_match(const struct sandbox_router *r, const char *method,
                         const char *path, enum sandbox_tool *tool,
                         struct sandbox_params *captures);

/* Checks the key for a call of tool. header_key is the authkey header
 * (NULL when absent); the OTP routes also read authkey from the query.
 * expected NULL accepts any non-empty key. Returns true when the call may
 * go on, else false with out set to MSG91's answer for that family. */
bool sandbox_auth_check(enum sandbox_tool tool, const char *expected,
                        const char *header_key, const struct sandbox_params *query,
                        struct sandbox_reply *out);

/* ---- state.c ---- */

struct sandbox_state;

/* What a behaviour gets of a request that passed routing and auth. */
struct sandbox_call {
    enum sandbox_tool tool;
    const struct sandbox_params *query;
    const struct sandbox_params *captures;
    const char *body; /* NUL-terminated copy of the upload; may be "" */
    size_t body_len;
};

/* seed 0 seeds from the time. Returns NULL on allocation failure. */
struct sandbox_state *sandbox_state_create(uint64_t seed);
/* Accepts NULL. */
void sandbox_state_destroy(struct sandbox_state *st);
/* Forgets OTPs, flows and events, rewinds the clock and reseeds the
 * generator with the seed it started with. */
void sandbox_state_reset(struct sandbox_state *st);

/* Runs the behaviour of call->tool and fills out. Thread-safe. */
void sandbox_state_answer(struct sandbox_state *st, const struct sandbox_call *call,
                          struct sandbox_reply *out);

/* MSG91's wording for one of its error codes ("418" -> "IP is not
 * whitelisted"); "Request failed" for a code the sandbox has no wording for. */
const char *sandbox_error_text(const char *code);

/* Sets out to MSG91's coded refusal in the family's envelope: family 1
 * {"message","type":"error","code"} (status 0: 200), family 2
 * {"status":"fail","hasError":true,"errors","code":"<status>","apiError"}
 * (status 0: 401 for the key and IP codes, else 400). message NULL: the
 * code's wording. */
void sandbox_reply_coded(struct sandbox_reply *out, bool otp_family, unsigned status,
                         const char *code, const char *message);

/* How long an SMS accepted by send_sms_flow blocks the same SMS (number,
 * template and variables) with MSG91's error 311; 0 turns the rule off.
 * Forgets what was sent. A reset brings back the default, 10 s. */
void sandbox_state_set_repeat_window(struct sandbox_state *st, int64_t seconds);

/* Moves the sandbox clock forward by seconds (>= 0). */
void sandbox_state_advance(struct sandbox_state *st, int64_t seconds);
/* Stops the sandbox clock at its current reading: from then on only
 * sandbox_state_advance moves it, so a test's expiry checks cannot depend
 * on how long the test took. A reset lets it follow real time again. */
void sandbox_state_freeze(struct sandbox_state *st);

/* A new reference describing the OTP pending for mobile
 * ({"mobile","otp","retries","attempts","verified","expires_in_s"}), or NULL
 * when the sandbox holds none. */
json_t *sandbox_state_otp(struct sandbox_state *st, const char *mobile);
/* New references: {"flows":[...]} and {"events":[...]}, for tests. */
json_t *sandbox_state_flows(struct sandbox_state *st);
json_t *sandbox_state_events(struct sandbox_state *st);

#endif
