/* Base URL checks shared by the start-up configuration and the HTTP
 * engine. They need no libcurl, so a bad base URL is refused at start-up
 * without loading it; the engine checks the same URL again with libcurl's
 * own parser when it is created (see http_engine_options.base_url). */
#ifndef UPSTREAM_URL_H
#define UPSTREAM_URL_H

#include <stdbool.h>
#include <stddef.h>

/* Checks that url is usable as a base URL: "https://" or "http://", a host
 * (a name of letters, digits, '-' and '.', four decimal IPv4 numbers, or
 * "[::1]"), an optional port, and an optional path. There must be no user
 * name or password, no query, no fragment, no white space or control
 * characters and no backslash, so that every URL parser reads the same host
 * from it. Plain http is accepted only when the host is loopback
 * (127.0.0.0/8, localhost or [::1]): the requests carry a credential.
 * Returns 0, or -EINVAL with *why (if why is not NULL) pointing to a static
 * phrase that says what is wrong, fit to follow "the base URL ...". */
int http_url_check_base(const char *url, const char **why);

/* True when host (len bytes, IPv6 in brackets) names the loopback
 * interface: "localhost", four decimal numbers starting with 127, "[::1]". */
bool http_url_host_is_loopback(const char *host, size_t len);

#endif
