/* The sandbox: a stateful imitation of MSG91 served over HTTP on
 * 127.0.0.1 (libmicrohttpd, its own threads). It answers the endpoints of
 * the tool table with MSG91's real envelopes and error strings, keeps OTP,
 * flow, campaign and event state, can be told to misbehave, and records
 * every request it receives. Control routes live under /_sandbox/.
 * Design note: doc/sandbox.md. */
#ifndef MSG91_SANDBOX_H
#define MSG91_SANDBOX_H

#include <stdint.h>

struct sandbox;

/* One route the sandbox serves, taken from the (possibly overridden) tool
 * endpoint table: which tool's behaviour answers method + path template. */
struct sandbox_route {
    const char *tool;   /* tool name, e.g. "send_otp" */
    const char *method; /* "GET", "POST" */
    const char *path;   /* template; "{name}" matches one path segment */
};

struct sandbox_options {
    uint16_t port;        /* 0 picks a free port */
    const char *auth_key; /* key the sandbox accepts; NULL accepts any non-empty key */
    const struct sandbox_route *routes; /* NULL: the built-in default table */
    unsigned route_count;
    /* Seed for codes and ids, so tests can be repeatable; 0 seeds from time. */
    uint64_t seed;
};

/* Starts listening on 127.0.0.1 only. Returns NULL with *error set to a
 * malloc'd message on failure. */
struct sandbox *sandbox_create(const struct sandbox_options *opts, char **error);

/* The port actually bound. */
uint16_t sandbox_port(const struct sandbox *sb);

/* Stops serving, waits for its threads, frees everything. Accepts NULL. */
void sandbox_destroy(struct sandbox *sb);

#endif
