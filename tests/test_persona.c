/* Personas: the personas file (every field, every malformed value and the
 * sentence that names it), token authentication, per-persona tool
 * visibility and refusal in the dispatch, redaction of keys and digests,
 * the token maker; then end to end, the real binary over stdio as one
 * persona against a sandbox that records the key of every request, with
 * SIGHUP reloads of a good and a bad file. */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "sandbox/sandbox.h"
#include "server/config.h"
#include "server/dispatch.h"
#include "server/persona.h"
#include "tests/alloc_hook.h"
#include "tests/testutil.h"
#include "tools/tool.h"
#include "util/redact.h"

/* NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */

#define F testutil_fmt
#define REPLY_MS 15000

/* Two tokens and their SHA-256 (sha256sum of the token without newline). */
#define TOKEN_A "alice-token-0123456789abcdefghijklmnopqrstuv"
#define TOKEN_B "bob-token-zyxwvutsrqponmlkjihgfedcba9876543210"
#define KEY_A "alice-key-5f1e2d3c4b5a6978"
#define KEY_B "bob-key-8a7b6c5d4e3f2a1b0c"
#define KEY_SERVER "server-key-1a2b3c4d5e6f7081"

static char dir[64];
static char digest_a[PERSONA_DIGEST_HEX_LEN + 1];
static char digest_b[PERSONA_DIGEST_HEX_LEN + 1];

static const char *path_in(const char *name)
{
    return F("%s/%s", dir, name);
}

/* Writes text to name in the test directory through a rename, so a server
 * reloading it never reads half a file. Returns the path. */
static const char *write_file(const char *name, const char *text)
{
    char *path = strdup(path_in(name));
    char *tmp = strdup(path_in(F("%s.tmp", name)));
    FILE *f = fopen(tmp, "w");
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fputs(text, f) >= 0, 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(rename(tmp, path), 0);
    const char *out = F("%s", path);
    free(path);
    free(tmp);
    return out;
}

static void setup_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/test-persona-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    persona_sha256_hex(TOKEN_A, strlen(TOKEN_A), digest_a);
    persona_sha256_hex(TOKEN_B, strlen(TOKEN_B), digest_b);
    write_file("key-a", KEY_A "\n");
    write_file("key-b", KEY_B "\n");
    write_file("key-empty", "\n");
    write_file("key-short", "abc\n");
    write_file("key-space", "has a space in it\n");
}

static void teardown_dir(void)
{
    const char *names[] = {"key-a",         "key-b",     "key-empty", "key-short",
                           "key-space",     "p.json",    "audit.log", "bad.json",
                           "personas.json", "good.json", NULL};
    for (const char *const *n = names; *n; n++)
        unlink(path_in(*n));
    rmdir(dir);
    redact_clear();
}

/* A personas file with alice (two OTP tools, her key and template) and
 * bob (one read-only tool, his key). */
static const char *two_personas(void)
{
    return F("{\"personas\": ["
             "{\"name\": \"alice\", \"token_sha256\": \"%s\", "
             "\"tools\": [\"send_otp\", \"verify_otp\"], \"auth_key_file\": \"%s\", "
             "\"otp_template_id\": \"TPL_ALICE\", \"limits\": {\"sends_per_day\": 500, "
             "\"otp_per_recipient_per_hour\": 3, \"allowed_country_codes\": [\"91\", "
             "\"971\"]}},"
             "{\"name\": \"bob\", \"token_sha256\": \"%s\", "
             "\"tools\": [\"list_campaigns\"], \"read_only\": true, "
             "\"auth_key_file\": \"%s\"}]}",
             digest_a, path_in("key-a"), digest_b, path_in("key-b"));
}

static struct persona_set *load_ok(const char *text)
{
    const char *path = write_file("p.json", text);
    struct persona_set *set = NULL;
    char *error = NULL;
    int rc = persona_set_load(path, &set, &error);
    ck_assert_msg(rc == 0, "load failed: %s", error ? error : "(no message)");
    ck_assert_ptr_null(error);
    return set;
}

static int tool_index(const char *name)
{
    for (unsigned i = 0; i < tool_table_len; i++)
        if (!strcmp(tool_table[i]->name, name))
            return (int)i;
    ck_abort_msg("no tool %s", name);
    return -1;
}

/* ---- the file ---- */

START_TEST(loads_every_field)
{
    struct persona_set *set = load_ok(two_personas());
    ck_assert_uint_eq(persona_set_count(set), 2);
    const struct persona *a = persona_set_find(set, "alice");
    const struct persona *b = persona_set_at(set, 1);
    ck_assert_ptr_eq(a, persona_set_at(set, 0));
    ck_assert_ptr_eq(b, persona_set_find(set, "bob"));
    ck_assert_ptr_null(persona_set_find(set, "carol"));
    ck_assert_ptr_null(persona_set_at(set, 2));
    ck_assert_str_eq(persona_set_path(set), path_in("p.json"));

    ck_assert_str_eq(a->name, "alice");
    ck_assert(a->has_tools);
    for (unsigned i = 0; i < tool_table_len; i++)
        ck_assert_int_eq(a->tools[i], !strcmp(tool_table[i]->name, "send_otp") ||
                                          !strcmp(tool_table[i]->name, "verify_otp"));
    ck_assert_int_eq(a->read_only, -1);
    ck_assert_str_eq(a->auth_key, KEY_A);
    ck_assert_str_eq(a->auth_key_file, path_in("key-a"));
    ck_assert_str_eq(a->tool_settings[SERVICE_SETTING_OTP_TEMPLATE], "TPL_ALICE");
    ck_assert_int_eq(a->limits[SERVICE_LIMIT_SENDS_PER_DAY], 500);
    ck_assert_int_eq(a->limits[SERVICE_LIMIT_CODES_PER_RECIPIENT_HOUR], 3);
    ck_assert_uint_eq(a->n_country_codes, 2);
    ck_assert_str_eq(a->country_codes[0], "91");
    ck_assert_str_eq(a->country_codes[1], "971");
    ck_assert_ptr_eq(a->set, set);

    ck_assert_int_eq(b->read_only, 1);
    ck_assert_str_eq(b->auth_key, KEY_B);
    ck_assert_ptr_null(b->tool_settings[SERVICE_SETTING_OTP_TEMPLATE]);
    ck_assert_int_eq(b->limits[SERVICE_LIMIT_SENDS_PER_DAY], -1);
    ck_assert_ptr_null(b->country_codes);
    persona_set_unref(set);
}
END_TEST

START_TEST(only_name_and_digest_are_required)
{
    /* Upper-case hex is the same digest. */
    char upper[PERSONA_DIGEST_HEX_LEN + 1];
    for (size_t i = 0; i <= PERSONA_DIGEST_HEX_LEN; i++)
        upper[i] = (char)(digest_a[i] >= 'a' ? digest_a[i] - 'a' + 'A' : digest_a[i]);
    struct persona_set *set = load_ok(
        F("{\"personas\": [{\"name\": \"a.b_c-1\", \"token_sha256\": \"%s\"}]}", upper));
    const struct persona *p = persona_set_at(set, 0);
    ck_assert_str_eq(p->name, "a.b_c-1");
    ck_assert(!p->has_tools);
    ck_assert_int_eq(p->read_only, -1);
    ck_assert_ptr_null(p->auth_key);
    ck_assert_ptr_eq(persona_set_authenticate(set, "Bearer " TOKEN_A), p);
    persona_set_unref(set);

    set = load_ok("{\"personas\": []}");
    ck_assert_uint_eq(persona_set_count(set), 0);
    ck_assert_ptr_null(persona_set_authenticate(set, "Bearer " TOKEN_A));
    persona_set_unref(set);
}
END_TEST

/* One malformed file and the exact sentence it must produce. "@P" in want
 * stands for the file's path, "@D" for alice's digest, "@K" for the key
 * directory. */
struct bad_case {
    const char *text;
    const char *want;
};

static char *expand(const char *s)
{
    char *out = malloc(4096);
    size_t o = 0;
    for (; *s && o < 3000; s++) {
        const char *with = NULL;
        if (s[0] == '@' && s[1] == 'P')
            with = path_in("p.json");
        else if (s[0] == '@' && s[1] == 'D')
            with = digest_a;
        else if (s[0] == '@' && s[1] == 'K')
            with = dir;
        if (with) {
            o += (size_t)snprintf(out + o, 4096 - o, "%s", with);
            s++;
        } else {
            out[o++] = *s;
        }
    }
    out[o] = '\0';
    return out;
}

#define PF "the personas file @P: "
#define ALICE "{\"name\": \"alice\", \"token_sha256\": \"@D\", "
#define ALICE_IS PF "persona \"alice\": "

static const struct bad_case bad_cases[] = {
    {"{\"personas\": [", "cannot load the personas file @P: line 1, column 14: "
                         "']' expected near end of file"},
    {"[]", "the personas file @P must hold {\"personas\": [...]}, a list of personas"},
    {"{\"persona\": []}",
     "the personas file @P has an unknown member \"persona\"; it holds "
     "{\"personas\": [...]}"},
    {"{\"personas\": {}}",
     "the personas file @P must hold {\"personas\": [...]}, a list of personas"},
    {"{\"personas\": [\"alice\"]}",
     PF "persona 1 (counting from 1): must be an object, not a string"},
    {"{\"personas\": [{\"token_sha256\": \"@D\"}]}",
     PF "persona 1 (counting from 1): has no \"name\"; every persona needs one"},
    {"{\"personas\": [{\"name\": 7}]}",
     PF "persona 1 (counting from 1): \"name\" must be a string, not a whole number"},
    {"{\"personas\": [{\"name\": \"al ice\"}]}",
     PF "persona 1 (counting from 1): \"name\" must be 1 to 64 letters, digits, '.', '_' "
        "or '-' (it is what the audit log and MSG91_PERSONA name)"},
    {"{\"personas\": [{\"name\": \"\"}]}",
     PF "persona 1 (counting from 1): \"name\" must be 1 to 64 letters, digits, '.', '_' "
        "or '-' (it is what the audit log and MSG91_PERSONA name)"},
    {"{\"personas\": [{\"name\": \"alice\"}]}",
     ALICE_IS "has no \"token_sha256\"; make a token and its digest with "
              "`msg91-mcp token`"},
    {"{\"personas\": [{\"name\": \"alice\", \"token_sha256\": null}]}",
     ALICE_IS "\"token_sha256\" must be a string, not null"},
    {"{\"personas\": [{\"name\": \"alice\", \"token_sha256\": \"abc\"}]}",
     ALICE_IS "\"token_sha256\" must be 64 hexadecimal digits, the SHA-256 of the token "
              "(not the token itself), as `msg91-mcp token` prints it; it has 3 "
              "characters"},
    {"{\"personas\": [{\"name\": \"alice\", \"token_sha256\": "
     "\"g000000000000000000000000000000000000000000000000000000000000000\"}]}",
     ALICE_IS "\"token_sha256\" must be 64 hexadecimal digits, the SHA-256 of the token "
              "(not the token itself), as `msg91-mcp token` prints it; it has 64 "
              "characters"},
    {"{\"personas\": [" ALICE "\"tools\": \"send_otp\"}]}",
     ALICE_IS "\"tools\" must be a list of tool names, not a string"},
    {"{\"personas\": [" ALICE "\"tools\": [\"send_otp\", 3]}]}",
     ALICE_IS "\"tools\" item 2 must be a tool name, not a whole number"},
    {"{\"personas\": [" ALICE "\"tools\": [\"send_mail\"]}]}",
     ALICE_IS "\"tools\" item 1 names no tool of this server (`msg91-mcp list` prints "
              "them): \"send_mail\""},
    {"{\"personas\": [" ALICE "\"read_only\": 1}]}",
     ALICE_IS "\"read_only\" must be true or false, not a whole number"},
    {"{\"personas\": [" ALICE "\"auth_key_file\": 1}]}",
     ALICE_IS "\"auth_key_file\" must be the path of a file, not a whole number"},
    {"{\"personas\": [" ALICE "\"auth_key_file\": \"\"}]}",
     ALICE_IS "\"auth_key_file\" must be the path of a file, not an empty string"},
    {"{\"personas\": [" ALICE "\"auth_key_file\": \"@K/missing\"}]}",
     ALICE_IS "\"auth_key_file\" is unusable: cannot read the auth key file @K/missing: "
              "No such file or directory"},
    {"{\"personas\": [" ALICE "\"auth_key_file\": \"@K/key-empty\"}]}",
     ALICE_IS "\"auth_key_file\" is unusable: the auth key file @K/key-empty is empty"},
    {"{\"personas\": [" ALICE "\"auth_key_file\": \"@K/key-short\"}]}", ALICE_IS
     "\"auth_key_file\" is unusable: the key it names is too short to be an "
     "MSG91 auth key (at least 8 characters; copy the key from the MSG91 panel)"},
    {"{\"personas\": [" ALICE "\"auth_key_file\": \"@K/key-space\"}]}", ALICE_IS
     "\"auth_key_file\" is unusable: the key it names contains spaces or control "
     "characters; an MSG91 auth key never does"},
    {"{\"personas\": [" ALICE "\"otp_template_id\": 5}]}",
     ALICE_IS "\"otp_template_id\" must be a string, not a whole number"},
    {"{\"personas\": [" ALICE "\"otp_template_id\": \"\"}]}",
     ALICE_IS "\"otp_template_id\" must hold 1 to 256 bytes"},
    {"{\"personas\": [" ALICE "\"limits\": []}]}",
     ALICE_IS "\"limits\" must be an object, not a list"},
    {"{\"personas\": [" ALICE "\"limits\": {\"sends_per_hour\": 1}}]}",
     ALICE_IS "\"limits\" has an unknown member \"sends_per_hour\"; it takes "
              "sends_per_day, otp_per_recipient_per_hour, and allowed_country_codes"},
    {"{\"personas\": [" ALICE "\"limits\": {\"sends_per_day\": -1}}]}",
     ALICE_IS "\"limits\" member \"sends_per_day\" must be a whole number from 0 (no "
              "limit) to 1000000000, not one out of that range"},
    {"{\"personas\": [" ALICE "\"limits\": {\"sends_per_day\": 1.5}}]}",
     ALICE_IS "\"limits\" member \"sends_per_day\" must be a whole number from 0 (no "
              "limit) to 1000000000, not a number with a fraction"},
    {"{\"personas\": [" ALICE "\"limits\": {\"otp_per_recipient_per_hour\": \"3\"}}]}",
     ALICE_IS "\"limits\" member \"otp_per_recipient_per_hour\" must be a whole number "
              "from 0 (no limit) to 1000000000, not a string"},
    {"{\"personas\": [" ALICE "\"limits\": {\"allowed_country_codes\": \"91\"}}]}",
     ALICE_IS "\"limits.allowed_country_codes\" must be a list of country calling codes "
              "such as \"91\", not a string"},
    {"{\"personas\": [" ALICE "\"limits\": {\"allowed_country_codes\": [\"91\", 971]}}]}",
     ALICE_IS "\"limits.allowed_country_codes\" item 2 must be a country calling code of "
              "1 to 3 digits as a string, such as \"91\""},
    {"{\"personas\": [" ALICE "\"limits\": {\"allowed_country_codes\": [\"+91\"]}}]}",
     ALICE_IS "\"limits.allowed_country_codes\" item 1 must be a country calling code of "
              "1 to 3 digits as a string, such as \"91\""},
    {"{\"personas\": [" ALICE "\"limits\": {\"allowed_country_codes\": [\"0\"]}}]}",
     ALICE_IS "\"limits.allowed_country_codes\" item 1 must be a country calling code of "
              "1 to 3 digits as a string, such as \"91\""},
    {"{\"personas\": [" ALICE "\"token\": \"x\"}]}", ALICE_IS
     "\"token\" must not be in the file: it holds the token's SHA-256, never the "
     "token, and secrets stay out of it (use \"token_sha256\")"},
    {"{\"personas\": [" ALICE "\"auth_key\": \"x\"}]}",
     ALICE_IS "\"auth_key\" must not be in the file: it holds a key file's path, never "
              "the key, and secrets stay out of it (use \"auth_key_file\")"},
    {"{\"personas\": [" ALICE "\"colour\": \"blue\"}]}",
     ALICE_IS "has an unknown member \"colour\""},
    {"{\"personas\": [" ALICE "\"name\": \"bob\"}]}",
     "cannot load the personas file @P: line 1, column 122: duplicate object key near "
     "'\"name\"'"},
    {"{\"personas\": [" ALICE "\"read_only\": true}, {\"name\": \"alice\", "
     "\"token_sha256\": \"" /* another digest, same name */
     "0000000000000000000000000000000000000000000000000000000000000000\"}]}",
     ALICE_IS "appears twice; names must be unique"},
    {"{\"personas\": [" ALICE "\"read_only\": true}, {\"name\": \"bob\", "
     "\"token_sha256\": \"@D\"}]}",
     PF "persona \"bob\": \"token_sha256\" is the same as persona \"alice\"'s; give each "
        "persona its own token"},
};

START_TEST(every_malformed_value_is_named)
{
    const struct bad_case *c = &bad_cases[_i];
    char *text = expand(c->text);
    char *want = expand(c->want);
    const char *path = write_file("p.json", text);
    struct persona_set *set = (struct persona_set *)&set;
    char *error = NULL;
    int rc = persona_set_load(path, &set, &error);
    ck_assert_msg(rc == -EINVAL, "case %d loaded: %s", _i, text);
    ck_assert_ptr_null(set);
    ck_assert_msg(error && !strcmp(error, want), "case %d\ngot  %s\nwant %s", _i,
                  error ? error : "(null)", want);
    free(error);
    free(text);
    free(want);
}
END_TEST

START_TEST(missing_file_is_named)
{
    struct persona_set *set = NULL;
    char *error = NULL;
    ck_assert_int_eq(persona_set_load(path_in("none.json"), &set, &error), -EINVAL);
    ck_assert_str_eq(error, F("cannot load the personas file %s: unable to open %s: No "
                              "such file or directory",
                              path_in("none.json"), path_in("none.json")));
    free(error);
}
END_TEST

/* A token pasted where its digest belongs must not be echoed back. */
START_TEST(errors_never_quote_secrets)
{
    const char *text =
        F("{\"personas\": [{\"name\": \"alice\", \"token_sha256\": \"%s\"}]}", TOKEN_A);
    struct persona_set *set = NULL;
    char *error = NULL;
    ck_assert_int_eq(persona_set_load(write_file("p.json", text), &set, &error), -EINVAL);
    ck_assert_ptr_null(strstr(error, TOKEN_A));
    ck_assert_ptr_nonnull(strstr(error, "it has 44 characters"));
    free(error);
}
END_TEST

/* Every allocation of a load may fail: the load then fails cleanly, with
 * nothing left allocated but the secrets it registered for redaction. */
START_TEST(load_survives_every_failed_allocation)
{
    alloc_hook_route_jansson();
    const char *path = strdup(write_file("personas.json", two_personas()));
    unsigned long n;
    for (n = 1;; n++) {
        redact_clear();
        unsigned long live = alloc_hook_live();
        struct persona_set *set = NULL;
        char *error = NULL;
        alloc_hook_arm(n, false);
        int rc = persona_set_load(path, &set, &error);
        bool failed = alloc_hook_failed();
        /* Freed while counting, so the hook sees the blocks go. */
        persona_set_unref(set);
        free(error);
        redact_clear();
        alloc_hook_disarm();
        if (alloc_hook_live() != live)
            alloc_hook_print_live(stderr);
        ck_assert_msg(alloc_hook_live() == live, "allocation %lu leaks", n);
        if (!failed) {
            ck_assert_int_eq(rc, 0);
            break;
        }
        ck_assert_msg(rc == -ENOMEM || rc == -EINVAL, "allocation %lu: %d", n, rc);
        ck_assert_ptr_null(set);
    }
    ck_assert_uint_gt(n, 20);
    free((char *)path);
}
END_TEST

/* ---- authentication ---- */

START_TEST(authenticates_by_token)
{
    struct persona_set *set = load_ok(two_personas());
    const struct persona *a = persona_set_find(set, "alice");
    const struct persona *b = persona_set_find(set, "bob");
    ck_assert_ptr_eq(persona_set_authenticate(set, "Bearer " TOKEN_A), a);
    ck_assert_ptr_eq(persona_set_authenticate(set, "Bearer " TOKEN_B), b);
    ck_assert_ptr_eq(persona_set_authenticate(set, "bearer " TOKEN_A), a);
    ck_assert_ptr_eq(persona_set_authenticate(set, "  BEARER \t" TOKEN_B "  "), b);
    /* Wrong, missing or malformed. */
    ck_assert_ptr_null(persona_set_authenticate(set, "Bearer " TOKEN_A "x"));
    ck_assert_ptr_null(persona_set_authenticate(set, "Bearer x" TOKEN_A));
    ck_assert_ptr_null(persona_set_authenticate(set, "Bearer " TOKEN_A " " TOKEN_A));
    ck_assert_ptr_null(persona_set_authenticate(set, "Bearer"));
    ck_assert_ptr_null(persona_set_authenticate(set, "Bearer "));
    ck_assert_ptr_null(persona_set_authenticate(set, "Bearer" TOKEN_A));
    ck_assert_ptr_null(persona_set_authenticate(set, TOKEN_A));
    ck_assert_ptr_null(persona_set_authenticate(set, "Basic " TOKEN_A));
    ck_assert_ptr_null(persona_set_authenticate(set, ""));
    ck_assert_ptr_null(persona_set_authenticate(set, NULL));
    /* The digest is not the token. */
    ck_assert_ptr_null(persona_set_authenticate(set, F("Bearer %s", digest_a)));
    ck_assert_ptr_null(persona_set_authenticate(NULL, "Bearer " TOKEN_A));
    persona_set_unref(set);
}
END_TEST

START_TEST(deleted_persona_fails_after_reload)
{
    struct persona_set *old = load_ok(two_personas());
    const struct persona *b = persona_set_authenticate(old, "Bearer " TOKEN_B);
    ck_assert_ptr_nonnull(b);
    /* A holder of bob keeps him alive across the reload. */
    persona_set_ref(b->set);
    persona_set_unref(old);
    struct persona_set *now = load_ok(
        F("{\"personas\": [{\"name\": \"alice\", \"token_sha256\": \"%s\"}]}", digest_a));
    ck_assert_ptr_null(persona_set_authenticate(now, "Bearer " TOKEN_B));
    ck_assert_ptr_nonnull(persona_set_authenticate(now, "Bearer " TOKEN_A));
    ck_assert_str_eq(b->name, "bob");
    ck_assert_str_eq(b->auth_key, KEY_B);
    persona_set_unref(b->set);
    persona_set_unref(now);
}
END_TEST

/* ---- tools ---- */

START_TEST(tool_allowed_defaults_to_the_server)
{
    struct config cfg;
    config_init(&cfg);
    struct persona_set *set =
        load_ok(F("{\"personas\": [{\"name\": \"plain\", \"token_sha256\": \"%s\"},"
                  "{\"name\": \"ro\", \"token_sha256\": \"%s\", \"read_only\": true},"
                  "{\"name\": \"rw\", \"token_sha256\": \"%064d\", \"read_only\": false, "
                  "\"tools\": [\"send_otp\", \"list_campaigns\"]}]}",
                  digest_a, digest_b, 0));
    const struct persona *plain = persona_set_at(set, 0);
    const struct persona *ro = persona_set_at(set, 1);
    const struct persona *rw = persona_set_at(set, 2);
    unsigned send_otp_index = (unsigned)tool_index("send_otp");
    unsigned list = (unsigned)tool_index("list_campaigns");
    unsigned verify = (unsigned)tool_index("verify_otp");
    ck_assert(persona_tool_allowed(plain, &cfg, send_otp_index));
    ck_assert(!persona_tool_allowed(ro, &cfg, send_otp_index));
    ck_assert(persona_tool_allowed(ro, &cfg, list));
    ck_assert(persona_tool_allowed(rw, &cfg, send_otp_index));
    ck_assert(!persona_tool_allowed(rw, &cfg, verify));
    /* The server's read-only mode and allowlist are the defaults only. */
    cfg.read_only = true;
    cfg.tool_enabled[list] = false;
    ck_assert(!persona_tool_allowed(plain, &cfg, send_otp_index));
    ck_assert(!persona_tool_allowed(plain, &cfg, list));
    ck_assert(persona_tool_allowed(rw, &cfg, send_otp_index));
    ck_assert(persona_tool_allowed(rw, &cfg, list));
    ck_assert(!persona_tool_allowed(rw, &cfg, tool_table_len));
    persona_set_unref(set);
    config_finish(&cfg);
}
END_TEST

static void on_done(void *data, json_t *result)
{
    (void)data;
    json_decref(result);
}

static void closed_cb(void *data)
{
    *(bool *)data = true;
}

START_TEST(dispatch_shows_each_persona_its_tools)
{
    const char *path = write_file("personas.json", two_personas());
    struct config cfg;
    config_init(&cfg);
    cfg.personas_file = strdup(path);
    cfg.persona = strdup("alice");
    cfg.dry_run = true;
    uv_loop_t loop;
    uv_loop_init(&loop);
    char *error = NULL;
    struct dispatch *d = dispatch_create(&cfg, &loop, &error);
    ck_assert_msg(d != NULL, "%s", error ? error : "?");
    const struct persona *alice = dispatch_persona(d);
    const struct persona *bob = persona_set_find(dispatch_personas(d), "bob");
    ck_assert_str_eq(alice->name, "alice");
    /* Alice by default, bob when asked for, everyone without a persona. */
    ck_assert_uint_eq(dispatch_tool_count(d), 2);
    ck_assert_str_eq(dispatch_tool_at(d, 0)->name, "send_otp");
    ck_assert_str_eq(dispatch_tool_at(d, 1)->name, "verify_otp");
    ck_assert_ptr_null(dispatch_tool_at(d, 2));
    ck_assert_uint_eq(dispatch_tool_count_as(d, bob), 1);
    ck_assert_str_eq(dispatch_tool_at_as(d, bob, 0)->name, "list_campaigns");
    ck_assert_uint_eq(dispatch_tool_count_as(d, NULL), tool_table_len);

    static const struct dispatch_callbacks cb = {on_done, NULL};
    json_t *result = NULL;
    struct dispatch_call *call = NULL;
    json_t *args = json_pack("{s:i}", "limit", 1);
    struct dispatch_client as_alice = {.name = "t", .version = "1"},
                           as_bob = {.name = "t", .version = "1", .persona = bob};
    ck_assert_int_eq(
        dispatch_call(d, "list_campaigns", args, &as_alice, &cb, NULL, &result, &call),
        DISPATCH_UNKNOWN_TOOL);
    ck_assert_ptr_null(result);
    ck_assert_int_eq(
        dispatch_call(d, "list_campaigns", args, &as_bob, &cb, NULL, &result, &call),
        DISPATCH_DONE); /* a dry run */
    ck_assert(
        json_is_true(json_object_get(json_object_get(result, "_meta"), "msg91/dryRun")));
    json_decref(result);
    ck_assert_int_eq(
        dispatch_call(d, "send_otp", args, &as_bob, &cb, NULL, &result, &call),
        DISPATCH_UNKNOWN_TOOL);
    json_decref(args);
    bool closed = false;
    dispatch_destroy(d, closed_cb, &closed);
    uv_run(&loop, UV_RUN_DEFAULT);
    ck_assert(closed);
    uv_loop_close(&loop);
    config_finish(&cfg);
}
END_TEST

/* A persona with no key of its own, on a server without one, is told
 * where its key goes. */
START_TEST(dispatch_says_where_a_personas_key_goes)
{
    const char *path = write_file(
        "personas.json",
        F("{\"personas\": [{\"name\": \"plain\", \"token_sha256\": \"%s\"}]}", digest_a));
    struct config cfg;
    config_init(&cfg);
    cfg.personas_file = strdup(path);
    cfg.persona = strdup("plain");
    uv_loop_t loop;
    uv_loop_init(&loop);
    char *error = NULL;
    struct dispatch *d = dispatch_create(&cfg, &loop, &error);
    ck_assert_msg(d != NULL, "%s", error ? error : "?");
    static const struct dispatch_callbacks cb = {on_done, NULL};
    json_t *result = NULL;
    struct dispatch_call *call = NULL;
    ck_assert_int_eq(
        dispatch_call(d, "get_event_types", NULL, NULL, &cb, NULL, &result, &call),
        DISPATCH_DONE);
    ck_assert(json_is_true(json_object_get(result, "isError")));
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(result, "content"), 0), "text")),
                     "No MSG91 auth key is configured for this persona, so nothing was "
                     "sent. Give it an "
                     "\"auth_key_file\" in the personas file (MSG91_PERSONAS), or set "
                     "MSG91_AUTH_KEY (or "
                     "MSG91_AUTH_KEY_FILE) for the whole server.");
    json_decref(result);
    dispatch_destroy(d, NULL, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    config_finish(&cfg);
}
END_TEST

START_TEST(dispatch_refuses_unknown_persona)
{
    const char *path = write_file("personas.json", two_personas());
    struct config cfg;
    config_init(&cfg);
    cfg.personas_file = strdup(path);
    cfg.persona = strdup("carol");
    uv_loop_t loop;
    uv_loop_init(&loop);
    char *error = NULL;
    ck_assert_ptr_null(dispatch_create(&cfg, &loop, &error));
    ck_assert_str_eq(error, F("MSG91_PERSONA is \"carol\", but the personas file %s "
                              "defines no persona of that name",
                              path));
    free(error);
    uv_loop_close(&loop);
    config_finish(&cfg);
}
END_TEST

/* ---- redaction and tokens ---- */

static char *redacted(const char *text)
{
    char *out = NULL;
    ck_assert_int_eq(redact_apply(text, strlen(text), &out, NULL), 0);
    return out ? out : strdup(text);
}

START_TEST(keys_and_digests_are_redacted)
{
    redact_set_secret(KEY_SERVER);
    struct persona_set *set = load_ok(two_personas());
    char upper[PERSONA_DIGEST_HEX_LEN + 1];
    for (size_t i = 0; i <= PERSONA_DIGEST_HEX_LEN; i++)
        upper[i] = (char)(digest_b[i] >= 'a' ? digest_b[i] - 'a' + 'A' : digest_b[i]);
    char *out = redacted(F("k=%s a=%s b=%s s=%s d=%s D=%s", KEY_SERVER, KEY_A, KEY_B,
                           "plain", digest_a, upper));
    /* The digest in the form the file has, and in lower case. */
    ck_assert_str_eq(out, F("k=[REDACTED] a=[REDACTED] b=[REDACTED] s=plain d=[REDACTED] "
                            "D=%s",
                            upper));
    free(out);
    persona_set_unref(set);
    /* Keys of a set that is gone stay registered: a late answer may echo
     * them. */
    out = redacted("x" KEY_A "x");
    ck_assert_str_eq(out, "x[REDACTED]x");
    free(out);
}
END_TEST

START_TEST(token_and_digest)
{
    char hex[PERSONA_DIGEST_HEX_LEN + 1];
    persona_sha256_hex("abc", 3, hex);
    ck_assert_str_eq(hex,
                     "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    persona_sha256_hex("", 0, hex);
    ck_assert_str_eq(hex,
                     "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    char *t1 = NULL, *d1 = NULL, *t2 = NULL, *d2 = NULL;
    ck_assert_int_eq(persona_token_new(&t1, &d1), 0);
    ck_assert_int_eq(persona_token_new(&t2, &d2), 0);
    ck_assert_uint_eq(strlen(t1), 43); /* 32 bytes, base64url, no padding */
    ck_assert_uint_eq(strspn(t1, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789-_"),
                      43);
    ck_assert_str_ne(t1, t2);
    persona_sha256_hex(t1, strlen(t1), hex);
    ck_assert_str_eq(d1, hex);
    /* The pair works as the file and the header use it. */
    struct persona_set *set =
        load_ok(F("{\"personas\": [{\"name\": \"n\", \"token_sha256\": \"%s\"}]}", d1));
    ck_assert_ptr_nonnull(persona_set_authenticate(set, F("Bearer %s", t1)));
    ck_assert_ptr_null(persona_set_authenticate(set, F("Bearer %s", t2)));
    persona_set_unref(set);
    free(t1);
    free(d1);
    free(t2);
    free(d2);
}
END_TEST

/* NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */

/* ---- end to end: the real binary over stdio ---- */

struct e2e {
    struct sandbox *sb;
    char base[64];
    struct testutil_child child;
    struct testutil_text err; /* stderr so far */
    int next_id;
};

static void e2e_start(struct e2e *e, const char *persona, const char *personas_path)
{
    memset(e, 0, sizeof *e);
    struct sandbox_options opts = {.seed = 7}; /* any non-empty key is accepted */
    char *error = NULL;
    e->sb = sandbox_create(&opts, &error);
    ck_assert_msg(e->sb != NULL, "sandbox: %s", error ? error : "?");
    snprintf(e->base, sizeof e->base, "http://127.0.0.1:%u", sandbox_port(e->sb));
    char *env[8] = {
        strdup(F("MSG91_PERSONAS=%s", personas_path)),
        strdup(F("MSG91_PERSONA=%s", persona)),
        strdup(F("MSG91_BASE_URL=%s", e->base)),
        strdup("MSG91_AUTH_KEY=" KEY_SERVER),
        strdup(F("MSG91_AUDIT_LOG=%s", path_in("audit.log"))),
        NULL,
    };
    const char *argv[] = {"msg91-mcp", NULL};
    ck_assert_int_eq(testutil_spawn(&e->child, argv, (const char *const *)env), 0);
    for (char **p = env; *p; p++)
        free(*p);
    e->next_id = 1;
    testutil_initialize(&e->child, "persona-test", REPLY_MS);
}

/* Reads what stderr has now, waiting up to timeout_ms for the first bytes. */
static void e2e_drain_stderr(struct e2e *e, int timeout_ms)
{
    testutil_drain(e->child.err_fd, &e->err, timeout_ms);
}

/* Waits until stderr, from offset from on, holds needle; returns the
 * offset just past it. */
static size_t e2e_wait_stderr(struct e2e *e, size_t from, const char *needle)
{
    return testutil_wait_for(e->child.err_fd, &e->err, from, needle, REPLY_MS);
}

/* Sends a request and returns its response (new reference). */
static json_t *e2e_request(struct e2e *e, const char *method, const char *params)
{
    int id = e->next_id++;
    ck_assert_int_eq(testutil_send_line(
                         &e->child, F("{\"jsonrpc\":\"2.0\",\"id\":%d,\"method\":\"%s\","
                                      "\"params\":%s}",
                                      id, method, params)),
                     0);
    json_t *r = testutil_read_json(&e->child, REPLY_MS);
    ck_assert_msg(r != NULL, "no answer to %s", method);
    ck_assert_int_eq(json_integer_value(json_object_get(r, "id")), id);
    return r;
}

/* The names tools/list shows, comma-joined. */
static const char *e2e_tool_names(struct e2e *e)
{
    json_t *r = e2e_request(e, "tools/list", "{}");
    json_t *tools = json_object_get(json_object_get(r, "result"), "tools");
    ck_assert(json_is_array(tools));
    char names[512] = "";
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t) {
        snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s",
                 i ? "," : "", json_string_value(json_object_get(t, "name")));
    }
    json_decref(r);
    return F("%s", names);
}

/* Calls a tool that must succeed, returns nothing. */
static void e2e_call_ok(struct e2e *e, const char *tool, const char *args)
{
    json_t *r =
        e2e_request(e, "tools/call", F("{\"name\":\"%s\",\"arguments\":%s}", tool, args));
    json_t *result = json_object_get(r, "result");
    char *text = json_dumps(r, JSON_COMPACT);
    ck_assert_msg(result && !json_is_true(json_object_get(result, "isError")),
                  "%s failed: %s", tool, text);
    free(text);
    json_decref(r);
}

static void e2e_call_unknown(struct e2e *e, const char *tool)
{
    json_t *r =
        e2e_request(e, "tools/call", F("{\"name\":\"%s\",\"arguments\":{}}", tool));
    json_t *err = json_object_get(r, "error");
    ck_assert_int_eq(json_integer_value(json_object_get(err, "code")), -32602);
    ck_assert_str_eq(json_string_value(json_object_get(err, "message")),
                     F("Unknown tool: %s", tool));
    ck_assert_ptr_null(json_object_get(r, "result"));
    json_decref(r);
}

/* The authkey header of every request the sandbox recorded, in order,
 * comma-joined; the records are cleared. */
static const char *e2e_keys_seen(struct e2e *e, const char *want_query_part)
{
    json_t *v = testutil_sandbox_ctl(e->base, "GET", "/_sandbox/requests", NULL);
    json_t *list = json_object_get(v, "requests");
    char keys[1024] = "";
    size_t i;
    json_t *req;
    json_array_foreach(list, i, req) {
        const char *k = json_string_value(
            json_object_get(json_object_get(req, "headers"), "authkey"));
        snprintf(keys + strlen(keys), sizeof keys - strlen(keys), "%s%s", i ? "," : "",
                 k ? k : "(none)");
        if (want_query_part) {
            const char *q = json_string_value(json_object_get(req, "query"));
            ck_assert_msg(q && strstr(q, want_query_part), "query %s lacks %s",
                          q ? q : "(none)", want_query_part);
        }
    }
    json_decref(v);
    json_decref(testutil_sandbox_ctl(e->base, "DELETE", "/_sandbox/requests", NULL));
    return F("%s", keys);
}

/* Ends the server (stdin closed) and checks that nothing it wrote holds a
 * key or a digest. */
static void e2e_finish(struct e2e *e)
{
    ck_assert_int_eq(testutil_finish(&e->child, REPLY_MS), 0);
    e2e_drain_stderr(e, 0);
    const char *secrets[] = {KEY_A,    KEY_B,   KEY_SERVER, digest_a,
                             digest_b, TOKEN_A, TOKEN_B};
    size_t audit_len = 0;
    char *audit = testutil_read_file(path_in("audit.log"), &audit_len);
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++) {
        ck_assert_msg(!e->err.p || !strstr(e->err.p, secrets[i]),
                      "stderr holds a secret: %s", e->err.p);
        ck_assert_msg(!audit || !strstr(audit, secrets[i]),
                      "the audit log holds a secret");
    }
    free(audit);
    free(e->err.p);
    sandbox_destroy(e->sb);
}

START_TEST(e2e_calls_go_with_the_personas_key)
{
    const char *path = write_file("personas.json", two_personas());
    struct e2e e;
    e2e_start(&e, "alice", path);
    ck_assert_str_eq(e2e_tool_names(&e), "send_otp,verify_otp");
    /* Her template fills in the one the call leaves out. */
    e2e_call_ok(&e, "send_otp", "{\"mobile\":\"+919876543210\"}");
    ck_assert_str_eq(e2e_keys_seen(&e, "template_id=TPL_ALICE"), KEY_A);
    e2e_call_ok(&e, "verify_otp", "{\"mobile\":\"919876543210\",\"otp\":\"0000\"}");
    /* Bob's tool does not exist for her, and nothing reaches the sandbox. */
    e2e_call_unknown(&e, "list_campaigns");
    e2e_call_unknown(&e, "no_such_tool");
    ck_assert_str_eq(e2e_keys_seen(&e, NULL), KEY_A);
    e2e_finish(&e);

    /* The audit log names her on every line, the refusal included. */
    size_t len = 0;
    char *audit = testutil_read_file(path_in("audit.log"), &len);
    ck_assert_ptr_nonnull(audit);
    int lines = 0;
    for (char *line = strtok(audit, "\n"); line; line = strtok(NULL, "\n"), lines++) {
        json_t *v = json_loads(line, 0, NULL);
        ck_assert_ptr_nonnull(v);
        ck_assert_str_eq(json_string_value(json_object_get(v, "persona")), "alice");
        const char *tool = json_string_value(json_object_get(v, "tool"));
        const char *outcome = json_string_value(json_object_get(v, "outcome"));
        if (!strcmp(tool, "list_campaigns"))
            ck_assert_str_eq(outcome, "refused");
        else
            ck_assert_str_eq(outcome, "ok");
        json_decref(v);
    }
    ck_assert_int_eq(lines, 3);
    free(audit);
}
END_TEST

START_TEST(e2e_sighup_reloads_a_good_file_and_keeps_a_bad_one)
{
    const char *path = strdup(write_file("personas.json", two_personas()));
    struct e2e e;
    e2e_start(&e, "alice", path);
    ck_assert_str_eq(e2e_tool_names(&e), "send_otp,verify_otp");

    /* A new token, other tools and another key for alice: the next calls
     * use them, with no restart. */
    write_file("personas.json",
               F("{\"personas\": [{\"name\": \"alice\", \"token_sha256\": \"%s\", "
                 "\"tools\": [\"list_campaigns\"], \"auth_key_file\": \"%s\"}]}",
                 digest_b, path_in("key-b")));
    ck_assert_int_eq(kill(e.child.pid, SIGHUP), 0);
    size_t at =
        e2e_wait_stderr(&e, 0, F("reloaded the personas file %s: 1 persona(s)", path));
    ck_assert_str_eq(e2e_tool_names(&e), "list_campaigns");
    e2e_call_ok(&e, "list_campaigns", "{\"limit\":1}");
    ck_assert_str_eq(e2e_keys_seen(&e, NULL), KEY_B);
    e2e_call_unknown(&e, "send_otp");

    /* A file that does not parse, then one without her: both leave the
     * set in force and say why. */
    write_file("personas.json", "{\"personas\": [");
    ck_assert_int_eq(kill(e.child.pid, SIGHUP), 0);
    at =
        e2e_wait_stderr(&e, at,
                        F("cannot reload the personas: cannot load the personas file %s: "
                          "line 1, column 14: ']' expected near end of file; the 1 "
                          "persona(s) loaded before stay in force",
                          path));
    write_file(
        "personas.json",
        F("{\"personas\": [{\"name\": \"bob\", \"token_sha256\": \"%s\"}]}", digest_a));
    ck_assert_int_eq(kill(e.child.pid, SIGHUP), 0);
    e2e_wait_stderr(
        &e, at,
        F("cannot reload the personas: MSG91_PERSONA is \"alice\", but the "
          "personas file %s defines no persona of that name; the 1 persona(s) "
          "loaded before stay in force",
          path));
    ck_assert_str_eq(e2e_tool_names(&e), "list_campaigns");
    e2e_call_ok(&e, "list_campaigns", "{\"limit\":1}");
    ck_assert_str_eq(e2e_keys_seen(&e, NULL), KEY_B);
    e2e_finish(&e);
    free((char *)path);
}
END_TEST

/* Runs the binary to completion; returns its exit status, with its
 * stdout and stderr (malloc'd). */
static int run_binary(const char *const *argv, const char *const *env, char **out,
                      char **err)
{
    struct testutil_child c;
    ck_assert_int_eq(testutil_spawn(&c, argv, env), 0);
    char *line;
    size_t len = 0;
    *out = calloc(1, 1);
    while ((line = testutil_read_line(&c, REPLY_MS))) {
        *out = realloc(*out, len + strlen(line) + 2);
        len += (size_t)sprintf(*out + len, "%s\n", line);
        free(line);
    }
    int status = testutil_finish(&c, REPLY_MS);
    *err = testutil_read_stderr(&c);
    return status;
}

START_TEST(e2e_startup_errors)
{
    const char *path = strdup(write_file("personas.json", two_personas()));
    const char *argv[] = {"msg91-mcp", NULL};
    char *out, *err;
    const char *env1[] = {F("MSG91_PERSONAS=%s", path), "MSG91_PERSONA=carol", NULL};
    ck_assert_int_eq(run_binary(argv, env1, &out, &err), 1);
    ck_assert_str_eq(out, "");
    ck_assert_msg(strstr(err, F("MSG91_PERSONA is \"carol\", but the personas file %s "
                                "defines no persona of that name",
                                path)),
                  "%s", err);
    free(out);
    free(err);

    const char *bad =
        strdup(write_file("bad.json", "{\"personas\": [{\"name\": \"x\"}]}"));
    const char *env2[] = {F("MSG91_PERSONAS=%s", bad), NULL};
    ck_assert_int_eq(run_binary(argv, env2, &out, &err), 1);
    ck_assert_msg(strstr(err, F("the personas file %s: persona \"x\": has no "
                                "\"token_sha256\"",
                                bad)),
                  "%s", err);
    free(out);
    free(err);

    const char *env3[] = {"MSG91_PERSONA=alice", NULL};
    ck_assert_int_eq(run_binary(argv, env3, &out, &err), 1);
    ck_assert_str_eq(err,
                     "msg91-mcp: configuration error: MSG91_PERSONA names a persona, "
                     "but no personas file is set: set MSG91_PERSONAS to the file that "
                     "defines \"alice\"\n");
    free(out);
    free(err);

    /* `list` shows the persona's tools. */
    const char *list[] = {"msg91-mcp", "list", NULL};
    const char *env4[] = {F("MSG91_PERSONAS=%s", path), "MSG91_PERSONA=bob", NULL};
    ck_assert_int_eq(run_binary(list, env4, &out, &err), 0);
    ck_assert_msg(strstr(out, "list_campaigns") && !strstr(out, "send_otp"), "%s", out);
    free(out);
    free(err);

    /* `call` refuses a tool outside the persona's list as unknown. */
    const char *call[] = {"msg91-mcp",           "call", "send_otp", "--arg",
                          "mobile=919876543210", NULL};
    ck_assert_int_eq(run_binary(call, env4, &out, &err), 1);
    ck_assert_str_eq(out, "");
    ck_assert_str_eq(err, "msg91-mcp: unknown tool \"send_otp\"; `msg91-mcp list` shows "
                          "the tools\n");
    free(out);
    free(err);
    free((char *)path);
    free((char *)bad);
}
END_TEST

START_TEST(e2e_token_command)
{
    const char *argv[] = {"msg91-mcp", "token", NULL};
    char *out, *err;
    ck_assert_int_eq(run_binary(argv, NULL, &out, &err), 0);
    char token[64], digest[80];
    ck_assert_int_eq(sscanf(out, "token: %63s\ntoken_sha256: %79s\n", token, digest), 2);
    ck_assert_uint_eq(strlen(token), 43);
    char want[PERSONA_DIGEST_HEX_LEN + 1];
    persona_sha256_hex(token, strlen(token), want);
    ck_assert_str_eq(digest, want);
    ck_assert_str_eq(out, F("token: %s\ntoken_sha256: %s\n", token, digest));
    free(out);
    free(err);

    const char *json_argv[] = {"msg91-mcp", "token", "--json", NULL};
    ck_assert_int_eq(run_binary(json_argv, NULL, &out, &err), 0);
    json_t *v = json_loads(out, 0, NULL);
    ck_assert_ptr_nonnull(v);
    const char *t = json_string_value(json_object_get(v, "token"));
    persona_sha256_hex(t, strlen(t), want);
    ck_assert_str_eq(json_string_value(json_object_get(v, "token_sha256")), want);
    ck_assert_str_eq(err, "");
    json_decref(v);
    free(out);
    free(err);

    const char *bad_argv[] = {"msg91-mcp", "token", "--hex", NULL};
    ck_assert_int_eq(run_binary(bad_argv, NULL, &out, &err), 1);
    ck_assert_str_eq(err, "msg91-mcp: usage: msg91-mcp token [--json]\n");
    free(out);
    free(err);
}
END_TEST

static TCase *e2e_tcase(void)
{
    TCase *tc = tcase_create("e2e");
    tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, e2e_calls_go_with_the_personas_key);
    tcase_add_test(tc, e2e_sighup_reloads_a_good_file_and_keeps_a_bad_one);
    tcase_add_test(tc, e2e_startup_errors);
    tcase_add_test(tc, e2e_token_command);
    return tc;
}

int main(void)
{
    Suite *s = suite_create("persona");
    TCase *tc = tcase_create("file");
    tcase_add_checked_fixture(tc, setup_dir, teardown_dir);
    tcase_add_test(tc, loads_every_field);
    tcase_add_test(tc, only_name_and_digest_are_required);
    tcase_add_loop_test(tc, every_malformed_value_is_named, 0,
                        (int)(sizeof bad_cases / sizeof bad_cases[0]));
    tcase_add_test(tc, missing_file_is_named);
    tcase_add_test(tc, errors_never_quote_secrets);
    tcase_add_test(tc, load_survives_every_failed_allocation);
    tcase_add_test(tc, authenticates_by_token);
    tcase_add_test(tc, deleted_persona_fails_after_reload);
    tcase_add_test(tc, tool_allowed_defaults_to_the_server);
    tcase_add_test(tc, dispatch_shows_each_persona_its_tools);
    tcase_add_test(tc, dispatch_refuses_unknown_persona);
    tcase_add_test(tc, dispatch_says_where_a_personas_key_goes);
    tcase_add_test(tc, keys_and_digests_are_redacted);
    tcase_add_test(tc, token_and_digest);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, e2e_tcase());
    return testutil_run(s);
}
