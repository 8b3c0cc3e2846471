/* Fuzz target: the configuration (server/config.h): a config file, the
 * environment and command-line flags, then a dispatch built from what was
 * accepted, as `msg91-mcp` starts.
 *
 * Input: the config file's content up to the first NUL byte, then
 * NUL-separated entries: one starting with "--" is a command-line
 * argument, one holding "=" an environment entry (MSG91_CONFIG excepted:
 * it always names the file, and is left out when the content is empty).
 * The file lives in a memfd, so the harness writes nothing to disk.
 *
 * Checks besides the sanitizers: a refused configuration comes with a
 * message; an accepted one that uses plain http names a loopback host
 * with no user part as libcurl's own URL parser reads it (the request goes
 * where libcurl says, not where config.c thinks); and a dispatch can be
 * built from an accepted configuration and lists at least one tool. */
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>
#include <uv.h>

#include "server/config.h"
#include "server/dispatch.h"
#include "server/mcp.h"
#include "tools/tool.h"
#include "util/log.h"

#include "known.h"

#define MAX_ENTRIES 32

static int file_fd = -1;
static char file_env[64];
static uv_loop_t loop;

static void setup(void)
{
    log_set_level(LOG_LEVEL_ERROR);
    file_fd = memfd_create("msg91-fuzz-config", MFD_CLOEXEC);
    if (file_fd < 0 || uv_loop_init(&loop) != 0)
        abort();
    snprintf(file_env, sizeof file_env, "MSG91_CONFIG=/proc/self/fd/%d", file_fd);
}

static bool loopback_text(const char *host)
{
    if (!strcasecmp(host, "localhost") || !strcmp(host, "[::1]"))
        return true;
    if (strncmp(host, "127.", 4) != 0)
        return false;
    return strspn(host + 4, "0123456789.") == strlen(host + 4);
}

/* The plain-http rule, checked with libcurl's parser; FUZZ_KNOWN=base-url
 * turns it off (known.h). */
static void check_base_url(const struct config *c)
{
    if (strncasecmp(c->base_url, "http://", 7) != 0 || fuzz_known("base-url"))
        return;
    CURLU *u = curl_url();
    if (!u)
        abort();
    if (curl_url_set(u, CURLUPART_URL, c->base_url, 0) == CURLUE_OK) {
        char *host = NULL, *user = NULL, *password = NULL;
        curl_url_get(u, CURLUPART_HOST, &host, 0);
        curl_url_get(u, CURLUPART_USER, &user, 0);
        curl_url_get(u, CURLUPART_PASSWORD, &password, 0);
        if (!host || !loopback_text(host) || user || password) {
            fprintf(stderr,
                    "fuzz_config: http:// base URL %s goes to host \"%s\" (user %s)\n",
                    c->base_url, host ? host : "(none)", user ? user : "(none)");
            abort();
        }
        curl_free(host);
        curl_free(user);
        curl_free(password);
    }
    curl_url_cleanup(u);
}

static void check_dispatch(struct config *c)
{
    /* An accepted configuration must start a server. The audit log would
     * create a file wherever the input says: leave it out. */
    free(c->audit_log);
    c->audit_log = NULL;
    char *error = NULL;
    struct dispatch *d = dispatch_create(c, &loop, &error);
    if (!d) {
        fprintf(stderr, "fuzz_config: accepted, but no dispatch: %s\n",
                error ? error : "(no message)");
        abort();
    }
    json_t *tools = mcp_tools_json(d, mcp_features_find("2025-06-18"));
    bool any_enabled = false;
    for (unsigned i = 0; i < tool_table_len; i++)
        any_enabled |= c->tool_enabled[i];
    if (json_array_size(tools) == 0 && any_enabled && !c->read_only) {
        fprintf(stderr, "fuzz_config: no tools listed\n");
        abort();
    }
    json_decref(tools);
    dispatch_destroy(d, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (file_fd < 0)
        setup();
    /* Entries are NUL-terminated copies cut from one buffer. */
    char *text = malloc(size + 1);
    if (!text)
        abort();
    memcpy(text, data, size);
    text[size] = '\0';
    size_t file_len = strlen(text);
    if (ftruncate(file_fd, 0) != 0 ||
        pwrite(file_fd, text, file_len, 0) != (ssize_t)file_len)
        abort();

    char *argv[MAX_ENTRIES + 2] = {"msg91-mcp"};
    char *envp[MAX_ENTRIES + 2] = {NULL};
    int argc = 1, envc = 0;
    if (file_len > 0)
        envp[envc++] = file_env;
    for (size_t at = file_len + 1; at < size + 1 && argc + envc < MAX_ENTRIES;) {
        char *entry = text + at;
        at += strlen(entry) + 1;
        if (!strncmp(entry, "--", 2))
            argv[argc++] = entry;
        else if (strchr(entry, '=') && strncmp(entry, "MSG91_CONFIG=", 13) != 0)
            envp[envc++] = entry;
    }

    struct config c;
    config_init(&c);
    char **rest = NULL, *error = NULL;
    if (config_load(&c, argc, argv, envp, &rest, &error) != 0) {
        if (!error) {
            fprintf(stderr, "fuzz_config: refused without a message\n");
            abort();
        }
        free(error);
    } else {
        check_base_url(&c);
        check_dispatch(&c);
        free(rest);
    }
    config_finish(&c);
    free(text);
    return 0;
}
