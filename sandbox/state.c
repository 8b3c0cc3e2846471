/* What the sandbox remembers between calls and how it answers each tool:
 * the OTP pending per mobile number, accepted flow sends, Segmento events
 * (accepted, some later marked failed), and the fixtures (campaigns, event
 * types, a small phonebook). One mutex guards it all; no behaviour sleeps. */
#include "sandbox/internal.h"

#include <ctype.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* For clang-tidy: the Annex K (*_s) functions it suggests are not in glibc,
 * and every copy here is bounded by its size; parameter lists of the same
 * type are fixed by the libraries' callbacks or read as HTTP names them.
 * NOLINTBEGIN(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling)
 * NOLINTBEGIN(bugprone-easily-swappable-parameters) */

/* Every growable store has a maximum; past it the oldest entries go, so a
 * long benchmark cannot exhaust memory and recent history stays exact. */
#define MAX_OTPS 100000
#define MAX_FLOWS 10000
#define MAX_EVENTS 100000

/* MSG91 allows two resends per code (docs); the verification cap is not
 * published, five wrong codes is our choice. */
#define MAX_RETRIES 2
#define MAX_ATTEMPTS 5
#define DEFAULT_OTP_LENGTH 4
#define DEFAULT_OTP_EXPIRY_MIN 15

/* MSG91 refuses the same SMS to the same number within 10 seconds with
 * error 311 (help page "error codes"; the legacy API documentation words
 * it as below). Whether the real /flow answer carries it synchronously is
 * not documented; the sandbox answers it there so the server can be tested
 * against it. */
#define REPEAT_WINDOW_S 10
#define REPEAT_MESSAGE                                                                   \
    "Request discarded because same request was generated twice within 10 seconds"
#define MAX_RECENT_SMS 100000

struct otp_entry {
    char mobile[16];
    char code[10];
    int64_t expires_at;
    int64_t expiry_s; /* validity window, restarted by a resend */
    unsigned retries;
    unsigned attempts;
    bool verified;
};

struct sandbox_state {
    pthread_mutex_t lock;
    uint64_t seed;
    uint64_t prng;
    int64_t clock_offset_s;
    bool frozen;         /* the clock no longer follows real time */
    int64_t frozen_at_s; /* real time when it was frozen */
    struct otp_entry *otps;
    size_t otp_len, otp_cap;
    json_t *flows;  /* array of {"request_id","template_id","recipients"} */
    json_t *events; /* array of stored events, oldest first */
    /* "<number> <template> <variables>" -> when that SMS was accepted, for
     * the repeat rule; entries older than the window are pruned. */
    json_t *recent_sms;
    int64_t repeat_window_s; /* 0: the rule is off */
    int64_t pruned_at;
};

/* ---- fixtures ---- */

/* The campaign list: enough entries for two pages at the default size. */
static const char *const campaign_names[] = {
    "Welcome Series",
    "Cart Recovery",
    "Order Confirmation",
    "Shipping Update",
    "Delivery Feedback",
    "Birthday Wishes",
    "Win Back",
    "Loyalty Points",
    "Festive Sale",
    "Flash Deal",
    "Price Drop",
    "Back In Stock",
    "Subscription Renewal",
    "Payment Reminder",
    "Invoice Ready",
    "Password Reset",
    "Account Verification",
    "Login Alert",
    "Referral Reward",
    "Survey Invite",
    "Webinar Reminder",
    "Event Ticket",
    "Appointment Reminder",
    "Policy Update",
    "Monthly Newsletter",
    "Product Launch",
    "Onboarding Day 3",
    "Onboarding Day 7",
    "Trial Ending",
    "Upgrade Offer",
    "Re-engagement",
    "Service Outage",
};
#define CAMPAIGN_COUNT (sizeof campaign_names / sizeof campaign_names[0])
#define CAMPAIGN_FIRST_ID 1001

static const struct {
    const char *id;
    const char *name;
    const char *description;
} event_types[] = {
    {"1", "login", "A contact signed in."},
    {"2", "logout", "A contact signed out."},
    {"3", "signup", "A contact created an account."},
    {"4", "page-view", "A contact viewed a page."},
    {"5", "product-clicked", "A contact clicked a product."},
    {"6", "add-to-cart", "A contact added a product to the cart."},
    {"7", "purchase", "A contact completed a purchase."},
};

/* Contacts the fixture phonebook knows, by contact id, e-mail or phone
 * (phones are compared without a leading "+"). */
static const char *const phonebook[] = {
    "contact-1001", "contact-1002", "asha@example.com", "ravi@example.com",
    "919876543210", "919812345678", "14155550123",
};

static int64_t campaign_id_at(size_t i)
{
    /* The backend lists newest first, i.e. by id descending. */
    return CAMPAIGN_FIRST_ID + (int64_t)(CAMPAIGN_COUNT - 1 - i);
}

static const char *campaign_name(int64_t id)
{
    return campaign_names[id - CAMPAIGN_FIRST_ID];
}

static void campaign_slug(int64_t id, char *out, size_t size)
{
    const char *name = campaign_name(id);
    size_t n = 0;
    for (const char *p = name; *p && n + 1 < size; p++)
        out[n++] = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '-';
    snprintf(out + n, size - n, "-%03x", (unsigned)(id * 2654435761u) & 0xfff);
}

static bool campaign_active(int64_t id)
{
    return id % 5 != 0;
}

static json_t *campaign_json(int64_t id)
{
    char slug[64];
    campaign_slug(id, slug, sizeof slug);
    json_t *channels = json_array();
    json_array_append_new(channels,
                          json_pack("{s:I,s:i,s:I}", "campaign_id", (json_int_t)id,
                                    "channel_id", 1, "count", (json_int_t)(1 + id % 3)));
    if (id % 2 == 0)
        json_array_append_new(channels,
                              json_pack("{s:I,s:i,s:i}", "campaign_id", (json_int_t)id,
                                        "channel_id", 2, "count", 1));
    return json_pack("{s:I,s:s,s:b,s:s,s:o}", "id", (json_int_t)id, "name",
                     campaign_name(id), "is_active", campaign_active(id), "slug", slug,
                     "channels", channels);
}

/* Finds a campaign by numeric id or by slug; returns its id or 0. */
static int64_t campaign_lookup(const char *key)
{
    for (size_t i = 0; key && i < CAMPAIGN_COUNT; i++) {
        int64_t id = campaign_id_at(i);
        char buf[64];
        snprintf(buf, sizeof buf, "%lld", (long long)id);
        if (strcmp(buf, key) == 0)
            return id;
        campaign_slug(id, buf, sizeof buf);
        if (strcmp(buf, key) == 0)
            return id;
    }
    return 0;
}

static bool in_phonebook(const char *visitor)
{
    if (visitor[0] == '+')
        visitor++;
    for (size_t i = 0; i < sizeof phonebook / sizeof phonebook[0]; i++)
        if (strcasecmp(phonebook[i], visitor) == 0)
            return true;
    return false;
}

/* ---- generator and clock ---- */

/* splitmix64: small, seedable, good enough for codes and ids of a fake. */
static uint64_t next_random(struct sandbox_state *st)
{
    uint64_t z = (st->prng += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* 24 lower-case hex characters, the shape of MSG91's request ids. */
static void new_request_id(struct sandbox_state *st, char out[25])
{
    static const char hex[] = "0123456789abcdef";
    uint64_t a = next_random(st), b = next_random(st);
    for (int i = 0; i < 16; i++)
        out[i] = hex[(a >> (i * 4)) & 15];
    for (int i = 0; i < 8; i++)
        out[16 + i] = hex[(b >> (i * 4)) & 15];
    out[24] = '\0';
}

static int64_t now_s(const struct sandbox_state *st)
{
    return (st->frozen ? st->frozen_at_s : (int64_t)time(NULL)) + st->clock_offset_s;
}

static void format_time(int64_t t, char out[20])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 20, "%Y-%m-%d %H:%M:%S", &tm);
}

/* ---- lifecycle ---- */

static uint64_t pick_seed(uint64_t seed)
{
    if (seed)
        return seed;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return ((uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec) | 1;
}

/* Releases the stores and st itself, whatever of them exists: shared by a
 * create that failed half-way and by destroy. */
static void state_free(struct sandbox_state *st)
{
    json_t *stores[] = {st->flows, st->events, st->recent_sms};
    for (size_t i = 0; i < sizeof stores / sizeof stores[0]; i++)
        json_decref(stores[i]);
    free(st->otps);
    free(st);
}

struct sandbox_state *sandbox_state_create(uint64_t seed)
{
    struct sandbox_state *st = calloc(1, sizeof *st);
    if (!st)
        return NULL;
    st->flows = json_array();
    st->events = json_array();
    st->recent_sms = json_object();
    if (!st->flows || !st->events || !st->recent_sms ||
        pthread_mutex_init(&st->lock, NULL) != 0) {
        state_free(st);
        return NULL;
    }
    st->seed = pick_seed(seed);
    st->prng = st->seed;
    st->repeat_window_s = REPEAT_WINDOW_S;
    return st;
}

void sandbox_state_destroy(struct sandbox_state *st)
{
    if (!st)
        return;
    pthread_mutex_destroy(&st->lock);
    state_free(st);
}

void sandbox_state_reset(struct sandbox_state *st)
{
    pthread_mutex_lock(&st->lock);
    st->prng = st->seed;
    st->clock_offset_s = 0;
    st->frozen = false;
    st->otp_len = 0;
    json_array_clear(st->flows);
    json_array_clear(st->events);
    json_object_clear(st->recent_sms);
    st->repeat_window_s = REPEAT_WINDOW_S;
    st->pruned_at = 0;
    pthread_mutex_unlock(&st->lock);
}

void sandbox_state_set_repeat_window(struct sandbox_state *st, int64_t seconds)
{
    pthread_mutex_lock(&st->lock);
    st->repeat_window_s = seconds;
    json_object_clear(st->recent_sms);
    pthread_mutex_unlock(&st->lock);
}

void sandbox_state_advance(struct sandbox_state *st, int64_t seconds)
{
    pthread_mutex_lock(&st->lock);
    st->clock_offset_s += seconds;
    pthread_mutex_unlock(&st->lock);
}

void sandbox_state_freeze(struct sandbox_state *st)
{
    pthread_mutex_lock(&st->lock);
    if (!st->frozen) {
        st->frozen_at_s = (int64_t)time(NULL);
        st->frozen = true;
    }
    pthread_mutex_unlock(&st->lock);
}

/* ---- envelopes ---- */

static void otp_error(struct sandbox_reply *out, const char *message)
{
    sandbox_reply_json(out, 200,
                       json_pack("{s:s,s:s}", "type", "error", "message", message));
}

/* MSG91's wording of the error codes tests can ask for (legacy SMS API
 * documentation, and the v5 "Invalid authkey" of code 201). */
static const char *const coded_texts[][2] = {
    {"106", "Missing Authentication Key"},
    {"201", "Invalid authkey"},
    {"202", "Invalid mobile number"},
    {"203", "Invalid sender ID"},
    {"207", "Invalid authentication key"},
    {"301", "Insufficient balance to send SMS"},
    {"311", REPEAT_MESSAGE},
    {"418", "IP is not whitelisted"},
};

const char *sandbox_error_text(const char *code)
{
    for (size_t i = 0; i < sizeof coded_texts / sizeof coded_texts[0]; i++)
        if (strcmp(coded_texts[i][0], code) == 0)
            return coded_texts[i][1];
    return "Request failed";
}

void sandbox_reply_coded(struct sandbox_reply *out, bool otp_family, unsigned status,
                         const char *code, const char *message)
{
    if (!message)
        message = sandbox_error_text(code);
    if (otp_family) {
        sandbox_reply_json(out, status ? status : 200,
                           json_pack("{s:s,s:s,s:s}", "message", message, "type", "error",
                                     "code", code));
        return;
    }
    /* Family 2 answers a key refusal with 401 and names it in apiError;
     * other refusals are a 400 here (MSG91's status for them is unknown). */
    bool key = strcmp(code, "106") == 0 || strcmp(code, "201") == 0 ||
               strcmp(code, "207") == 0 || strcmp(code, "418") == 0;
    if (!status)
        status = key ? 401 : 400;
    char http[16];
    snprintf(http, sizeof http, "%u", status);
    sandbox_reply_json(out, status,
                       json_pack("{s:s,s:b,s:s,s:s,s:s}", "status", "fail", "hasError", 1,
                                 "errors", message, "code", http, "apiError", code));
}

static void otp_success(struct sandbox_reply *out, const char *key, const char *value)
{
    sandbox_reply_json(out, 200, json_pack("{s:s,s:s}", "type", "success", key, value));
}

/* Steals data. */
static void campaign_success(struct sandbox_reply *out, json_t *data)
{
    sandbox_reply_json(out, 200,
                       json_pack("{s:o,s:s,s:b,s:[]}", "data", data, "status", "success",
                                 "hasError", 0, "errors"));
}

/* Steals errors (a string or an array). */
static void campaign_fail(struct sandbox_reply *out, unsigned status, json_t *errors)
{
    sandbox_reply_json(
        out, status,
        json_pack("{s:s,s:b,s:o}", "status", "fail", "hasError", 1, "errors", errors));
}

/* ---- validation ---- */

static bool all_digits(const char *s, size_t min, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    if (n < min || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)s[i]))
            return false;
    return true;
}

/* Mobile numbers arrive as digits only: a "+" means the server forgot to
 * strip it, and the sandbox rejects it to make that bug visible. */
static bool valid_mobile(const char *s)
{
    return all_digits(s, 8, 15);
}

/* Any id of [A-Za-z0-9_-] is a template the account owns, except ids
 * starting with "invalid", which let tests reach the error. */
static bool valid_template(const char *s)
{
    if (!s || !*s || strncmp(s, "invalid", 7) == 0)
        return false;
    for (const char *p = s; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '_' && *p != '-')
            return false;
    return true;
}

/* Parses a decimal integer within [min, max]; NULL or "" gives def. */
static bool parse_int(const char *s, long def, long min, long max, long *out)
{
    if (!s || !*s) {
        *out = def;
        return true;
    }
    if (!all_digits(s, 1, 9))
        return false;
    long v = strtol(s, NULL, 10);
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool valid_date(const char *s)
{
    int y, m, d;
    char tail;
    return s && strlen(s) == 10 && s[4] == '-' && s[7] == '-' &&
           sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 && m <= 12 &&
           d >= 1 && d <= 31;
}

static bool valid_timestamp(const char *s)
{
    int y, mo, d, h, mi, se;
    char tail;
    return strlen(s) == 19 &&
           sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &se, &tail) == 6;
}

/* ---- OTP ---- */

static struct otp_entry *otp_find(struct sandbox_state *st, const char *mobile)
{
    for (size_t i = 0; i < st->otp_len; i++)
        if (strcmp(st->otps[i].mobile, mobile) == 0)
            return &st->otps[i];
    return NULL;
}

static struct otp_entry *otp_slot(struct sandbox_state *st, const char *mobile)
{
    struct otp_entry *e = otp_find(st, mobile);
    if (e)
        return e;
    if (st->otp_len == MAX_OTPS) {
        memmove(st->otps, st->otps + 1, (st->otp_len - 1) * sizeof *st->otps);
        st->otp_len--;
    }
    if (st->otp_len == st->otp_cap) {
        size_t cap = st->otp_cap ? st->otp_cap * 2 : 64;
        struct otp_entry *grown = realloc(st->otps, cap * sizeof *grown);
        if (!grown)
            return NULL;
        st->otps = grown;
        st->otp_cap = cap;
    }
    struct otp_entry fresh = {0};
    size_t n = strlen(mobile);
    if (n >= sizeof fresh.mobile)
        return NULL;
    memcpy(fresh.mobile, mobile, n + 1);
    st->otps[st->otp_len] = fresh;
    return &st->otps[st->otp_len++];
}

/* A switch of MSG91's is "0" or "1" (realTimeResponse only "1"). */
static bool valid_switch(const char *v, bool zero)
{
    return !v || strcmp(v, "1") == 0 || (zero && strcmp(v, "0") == 0);
}

/* What is wrong with send_otp's switches, or NULL. The messages are ours:
 * MSG91's wording is unknown. */
static const char *otp_switch_problem(const struct sandbox_params *q)
{
    if (!valid_switch(sandbox_params_get(q, "unicode"), true))
        return "Invalid unicode";
    if (!valid_switch(sandbox_params_get(q, "invisible"), true))
        return "Invalid invisible";
    if (!valid_switch(sandbox_params_get(q, "realTimeResponse"), false))
        return "Invalid realTimeResponse";
    return NULL;
}

static void send_otp(struct sandbox_state *st, const struct sandbox_call *call,
                     struct sandbox_reply *out)
{
    const char *mobile = sandbox_params_get(call->query, "mobile");
    const char *code = sandbox_params_get(call->query, "otp");
    long length, expiry;
    if (!valid_template(sandbox_params_get(call->query, "template_id"))) {
        otp_error(out, "The provided flow ID or template ID is invalid.");
        return;
    }
    if (!valid_mobile(mobile)) {
        otp_error(out, "Mobile no. empty or not numeric");
        return;
    }
    /* The four messages below are ours: MSG91's v5 wording is unknown. */
    if (code && !all_digits(code, 4, 9)) {
        otp_error(out, "Invalid otp");
        return;
    }
    if (!parse_int(sandbox_params_get(call->query, "otp_length"), DEFAULT_OTP_LENGTH, 4,
                   9, &length)) {
        otp_error(out, "Invalid otp_length");
        return;
    }
    if (!parse_int(sandbox_params_get(call->query, "otp_expiry"), DEFAULT_OTP_EXPIRY_MIN,
                   1, 10080, &expiry)) {
        otp_error(out, "Invalid otp_expiry");
        return;
    }
    const char *bad_switch = otp_switch_problem(call->query);
    if (bad_switch) {
        otp_error(out, bad_switch);
        return;
    }
    if (call->body_len > 0) {
        json_t *vars = json_loadb(call->body, call->body_len, 0, NULL);
        bool ok = json_is_object(vars);
        json_decref(vars);
        if (!ok) {
            otp_error(out, "Invalid JSON body");
            return;
        }
    }

    struct otp_entry *e = otp_slot(st, mobile);
    if (!e) {
        otp_error(out, "Internal error");
        return;
    }
    /* A new send replaces whatever was pending, as MSG91 does. */
    if (code) {
        snprintf(e->code, sizeof e->code, "%s", code);
    } else {
        for (long i = 0; i < length; i++)
            e->code[i] = (char)('0' + next_random(st) % 10);
        e->code[length] = '\0';
    }
    e->expiry_s = expiry * 60;
    e->expires_at = now_s(st) + e->expiry_s;
    e->retries = 0;
    e->attempts = 0;
    e->verified = false;
    char id[25];
    new_request_id(st, id);
    otp_success(out, "request_id", id);
}

/* The entry a resend or a verify acts on: the one of the call's "mobile"
 * (still unverified when pending), or NULL once out holds MSG91's error for
 * a malformed number or for none on record (the message none). */
static struct otp_entry *otp_of_call(struct sandbox_state *st,
                                     const struct sandbox_call *call, bool pending,
                                     const char *none, struct sandbox_reply *out)
{
    const char *mobile = sandbox_params_get(call->query, "mobile");
    if (!valid_mobile(mobile)) {
        otp_error(out, "Mobile no. empty or not numeric");
        return NULL;
    }
    struct otp_entry *e = otp_find(st, mobile);
    if (e && !(pending && e->verified))
        return e;
    otp_error(out, none);
    return NULL;
}

static void resend_otp(struct sandbox_state *st, const struct sandbox_call *call,
                       struct sandbox_reply *out)
{
    struct otp_entry *e =
        otp_of_call(st, call, true, "No OTP request found to retryotp", out);
    if (!e)
        return;
    if (e->retries >= MAX_RETRIES) {
        otp_error(out, "OTP retry count maxed out");
        return;
    }
    e->retries++;
    /* A resend delivers the same code with a fresh validity window, which is
     * why the tools suggest it when a code expired. */
    e->expires_at = now_s(st) + e->expiry_s;
    otp_success(out, "message", "retry send successfully");
}

static void verify_otp(struct sandbox_state *st, const struct sandbox_call *call,
                       struct sandbox_reply *out)
{
    const char *code = sandbox_params_get(call->query, "otp");
    struct otp_entry *e = otp_of_call(st, call, false, "Mobile no. not found", out);
    if (!e)
        return;
    if (e->verified) {
        otp_error(out, "Mobile no. already verified");
        return;
    }
    if (e->attempts >= MAX_ATTEMPTS) {
        otp_error(out, "Max limit reached for this otp verification");
        return;
    }
    if (now_s(st) >= e->expires_at) {
        otp_error(out, "OTP expired");
        return;
    }
    if (!code || strcmp(code, e->code) != 0) {
        e->attempts++;
        otp_error(out, "OTP not match");
        return;
    }
    e->verified = true;
    otp_success(out, "message", "OTP verified success");
}

json_t *sandbox_state_otp(struct sandbox_state *st, const char *mobile)
{
    json_t *v = NULL;
    pthread_mutex_lock(&st->lock);
    const struct otp_entry *e = mobile ? otp_find(st, mobile) : NULL;
    if (e)
        v = json_pack("{s:s,s:s,s:i,s:i,s:b}", "mobile", e->mobile, "otp", e->code,
                      "retries", (int)e->retries, "attempts", (int)e->attempts,
                      "verified", e->verified);
    pthread_mutex_unlock(&st->lock);
    return v;
}

/* ---- flow ---- */

/* "mobiles" may hold several numbers separated by commas. */
static bool valid_mobiles(const char *s)
{
    if (!s || !*s)
        return false;
    while (*s) {
        size_t n = strcspn(s, ",");
        char one[32];
        if (n == 0 || n >= sizeof one)
            return false;
        memcpy(one, s, n);
        one[n] = '\0';
        if (!valid_mobile(one))
            return false;
        s += n;
        if (*s == ',')
            s++;
    }
    return true;
}

/* Calls visit(number, data) for each number of a "mobiles" list (valid). */
static bool each_number(const char *mobiles,
                        bool (*visit)(const char *number, void *data), void *data)
{
    while (*mobiles) {
        size_t n = strcspn(mobiles, ",");
        char one[32];
        memcpy(one, mobiles, n);
        one[n] = '\0';
        if (visit(one, data))
            return true;
        mobiles += n + (mobiles[n] == ',');
    }
    return false;
}

struct repeat_scan {
    struct sandbox_state *st;
    const char *content; /* "<template> <variables>" */
    bool record;         /* false: look up, true: remember */
};

static bool repeat_visit(const char *number, void *data)
{
    struct repeat_scan *scan = data;
    char *key = NULL;
    if (asprintf(&key, "%s %s", number, scan->content) < 0)
        return false;
    json_t *recent = scan->st->recent_sms;
    json_t *when = json_object_get(recent, key);
    bool seen =
        when && json_integer_value(when) > now_s(scan->st) - scan->st->repeat_window_s;
    if (scan->record && json_object_size(recent) < MAX_RECENT_SMS)
        json_object_set_new(recent, key, json_integer(now_s(scan->st)));
    free(key);
    return seen && !scan->record;
}

static void prune_recent(struct sandbox_state *st, int64_t now)
{
    /* At most once a second, so a burst of sends stays linear. */
    if (now == st->pruned_at)
        return;
    st->pruned_at = now;
    const char *key;
    void *tmp;
    json_t *v;
    json_object_foreach_safe(st->recent_sms, tmp, key, v) {
        if (json_integer_value(v) <= now - st->repeat_window_s)
            json_object_del(st->recent_sms, key);
    }
}

/* True when a recipient repeats an SMS accepted within the window: same
 * number, template and variables. Otherwise remembers these SMS. */
static bool repeats_recent_sms(struct sandbox_state *st, const char *tmpl,
                               json_t *recipients)
{
    if (st->repeat_window_s <= 0)
        return false;
    prune_recent(st, now_s(st));
    for (int pass = 0; pass < 2; pass++) {
        size_t i;
        json_t *r;
        json_array_foreach(recipients, i, r) {
            json_t *vars = json_deep_copy(r);
            json_object_del(vars, "mobiles");
            char *text = json_dumps(vars, JSON_COMPACT | JSON_SORT_KEYS);
            char *content = NULL;
            if (!text || asprintf(&content, "%s %s", tmpl, text) < 0)
                content = NULL;
            struct repeat_scan scan = {.st = st, .content = content, .record = pass == 1};
            const char *mobiles = json_string_value(json_object_get(r, "mobiles"));
            bool seen = content && each_number(mobiles, repeat_visit, &scan);
            free(content);
            free(text);
            json_decref(vars);
            if (seen)
                return true;
        }
    }
    return false;
}

/* A sender ID of letters and digits, up to 15; one starting with
 * "invalid" (any case) stands for one the account has not registered, so
 * tests can reach MSG91's error 203. */
static bool valid_sender(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n == 0 || n > 15 || strncasecmp(s, "invalid", 7) == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]))
            return false;
    return true;
}

static void send_sms_flow(struct sandbox_state *st, const struct sandbox_call *call,
                          struct sandbox_reply *out)
{
    json_t *body = json_loadb(call->body, call->body_len, 0, NULL);
    if (!json_is_object(body)) {
        json_decref(body);
        otp_error(out, "Invalid JSON body");
        return;
    }
    const char *tmpl = json_string_value(json_object_get(body, "template_id"));
    if (!tmpl) /* the older field name, still sent by MSG91's SDK */
        tmpl = json_string_value(json_object_get(body, "flow_id"));
    json_t *recipients = json_object_get(body, "recipients");
    const char *problem = NULL;
    if (!valid_template(tmpl))
        problem = "The provided flow ID or template ID is invalid.";
    else if (!json_is_array(recipients) || json_array_size(recipients) == 0)
        problem = "Please enter atleast one number to send sms.";
    for (size_t i = 0; !problem && i < json_array_size(recipients); i++) {
        json_t *r = json_array_get(recipients, i);
        if (!valid_mobiles(json_string_value(json_object_get(r, "mobiles"))))
            problem = "Mobile no. empty or not numeric";
    }
    json_t *unicode = json_object_get(body, "unicode");
    if (!problem && unicode &&
        !(json_is_string(unicode) && valid_switch(json_string_value(unicode), true)))
        problem = "Invalid unicode";
    if (problem) {
        json_decref(body);
        otp_error(out, problem);
        return;
    }
    json_t *sender = json_object_get(body, "sender");
    if (sender && !valid_sender(json_string_value(sender))) {
        json_decref(body);
        sandbox_reply_coded(out, true, 200, "203", NULL);
        return;
    }
    if (repeats_recent_sms(st, tmpl, recipients)) {
        json_decref(body);
        sandbox_reply_coded(out, true, 200, "311", NULL);
        return;
    }
    char id[25];
    new_request_id(st, id);
    if (json_array_size(st->flows) >= MAX_FLOWS)
        json_array_remove(st->flows, 0);
    json_array_append_new(st->flows,
                          json_pack("{s:s,s:s,s:O}", "request_id", id, "template_id",
                                    tmpl, "recipients", recipients));
    json_decref(body);
    otp_success(out, "message", id);
}

json_t *sandbox_state_flows(struct sandbox_state *st)
{
    pthread_mutex_lock(&st->lock);
    json_t *v = json_pack("{s:o}", "flows", json_deep_copy(st->flows));
    pthread_mutex_unlock(&st->lock);
    return v;
}

/* ---- campaigns ---- */

static void list_campaigns(struct sandbox_state *st, const struct sandbox_call *call,
                           struct sandbox_reply *out)
{
    (void)st;
    long page, per_page;
    if (!parse_int(sandbox_params_get(call->query, "pageNo"), 1, 1, 1000000, &page)) {
        campaign_fail(out, 422, json_string("pageNo must be a positive integer"));
        return;
    }
    if (!parse_int(sandbox_params_get(call->query, "itemsPerPage"), 25, 1, 1000,
                   &per_page)) {
        campaign_fail(out, 422,
                      json_string("itemsPerPage must be an integer from 1 to 1000"));
        return;
    }
    /* The backend's two filters, so a client using them sees them work. */
    const char *name = sandbox_params_get(call->query, "name");
    const char *active = sandbox_params_get(call->query, "is_active");

    json_t *items = json_array();
    size_t total = 0;
    for (size_t i = 0; i < CAMPAIGN_COUNT; i++) {
        int64_t id = campaign_id_at(i);
        if (name && *name && !strcasestr(campaign_name(id), name))
            continue;
        if (active && *active &&
            campaign_active(id) !=
                (strcmp(active, "1") == 0 || strcmp(active, "true") == 0))
            continue;
        if (total >= (size_t)((page - 1) * per_page) && total < (size_t)(page * per_page))
            json_array_append_new(items, campaign_json(id));
        total++;
    }
    size_t pages = (total + (size_t)per_page - 1) / (size_t)per_page;
    campaign_success(out, json_pack("{s:o,s:i,s:i,s:i,s:i,s:i}", "data", items,
                                    "itemsPerPage", (int)per_page, "pageNo", (int)page,
                                    "pageNumber", (int)page, "totalEntityCount",
                                    (int)total, "totalPageCount", (int)pages));
}

static void get_event_types(struct sandbox_state *st, const struct sandbox_call *call,
                            struct sandbox_reply *out)
{
    (void)st;
    (void)call;
    json_t *list = json_array();
    for (size_t i = 0; i < sizeof event_types / sizeof event_types[0]; i++)
        json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "id", event_types[i].id,
                                              "name", event_types[i].name, "description",
                                              event_types[i].description));
    campaign_success(out, list);
}

/* ---- events ---- */

/* Why an event will be marked failed, or NULL when it is fine. MSG91
 * accepts events first and fails them afterwards; we decide at once. */
static const char *event_problem(json_t *ev)
{
    const char *name = json_string_value(json_object_get(ev, "event_name"));
    const char *visitor = json_string_value(json_object_get(ev, "visitor_id"));
    json_t *ts = json_object_get(ev, "event_timestamp");
    if (!json_is_object(ev))
        return "event must be an object";
    if (!name || !*name)
        return "event_name is required";
    if (!visitor || !*visitor)
        return "visitor_id is required";
    if (!json_is_object(json_object_get(ev, "event_properties")))
        return "event_properties must be an object";
    if (ts && !(json_is_string(ts) && valid_timestamp(json_string_value(ts))))
        return "event_timestamp must be YYYY-MM-DD HH:MM:SS";
    if (!in_phonebook(visitor))
        return "visitor_id not found in phonebook";
    return NULL;
}

static void create_user_events(struct sandbox_state *st, const struct sandbox_call *call,
                               struct sandbox_reply *out)
{
    json_t *body = json_loadb(call->body, call->body_len, 0, NULL);
    if (!body) {
        campaign_fail(out, 400, json_string("Invalid JSON body"));
        return;
    }
    json_t *data = json_object_get(body, "data");
    if (!json_is_array(data) || json_array_size(data) == 0) {
        json_decref(body);
        campaign_fail(out, 422, json_pack("[s]", "The data field is required."));
        return;
    }
    char received[20];
    format_time(now_s(st), received);
    size_t i;
    json_t *ev;
    json_array_foreach(data, i, ev) {
        char id[25];
        new_request_id(st, id);
        const char *problem = event_problem(ev);
        const char *visitor = json_string_value(json_object_get(ev, "visitor_id"));
        json_t *stored =
            json_pack("{s:s,s:s,s:s?,s:s?,s:O*,s:s}", "eventId", id, "status",
                      problem ? "failed" : "accepted", "event_name",
                      json_string_value(json_object_get(ev, "event_name")), "visitor_id",
                      visitor, "event_properties",
                      json_object_get(ev, "event_properties"), "received_at", received);
        if (!stored)
            continue;
        if (problem)
            json_object_set_new(stored, "reason", json_string(problem));
        if (json_array_size(st->events) >= MAX_EVENTS)
            json_array_remove(st->events, 0);
        json_array_append_new(st->events, stored);
    }
    size_t accepted = json_array_size(data);
    json_decref(body);
    campaign_success(out, json_pack("{s:I}", "accepted", (json_int_t)accepted));
}

/* A GET override of get_failed_events sends its fields in the query
 * (doc/msg91-api.md); they are read into the shape the body would have. */
static json_t *fields_from_query(const struct sandbox_params *query)
{
    static const char *const names[] = {"page", "limit", "start_date", "end_date"};
    json_t *v = json_object();
    for (size_t i = 0; v && i < sizeof names / sizeof names[0]; i++) {
        const char *text = sandbox_params_get(query, names[i]);
        long n;
        if (!text)
            continue;
        if (i < 2 && parse_int(text, 0, 1, 1000000000, &n))
            json_object_set_new(v, names[i], json_integer(n));
        else
            json_object_set_new(v, names[i], json_string(text));
    }
    return v;
}

static void get_failed_events(struct sandbox_state *st, const struct sandbox_call *call,
                              struct sandbox_reply *out)
{
    const char *campaign = sandbox_params_get(call->captures, "campaign_id");
    if (!campaign && call->captures->len > 0)
        campaign = call->captures->items[0].value;
    if (!campaign_lookup(campaign)) {
        campaign_fail(out, 404, json_string("Campaign not found"));
        return;
    }

    json_t *body = NULL;
    if (call->body_len > 0) {
        body = json_loadb(call->body, call->body_len, 0, NULL);
        if (!json_is_object(body)) {
            json_decref(body);
            campaign_fail(out, 400, json_string("Invalid JSON body"));
            return;
        }
    } else {
        body = fields_from_query(call->query);
    }
    json_t *jpage = json_object_get(body, "page"),
           *jlimit = json_object_get(body, "limit");
    const char *start = json_string_value(json_object_get(body, "start_date"));
    const char *end = json_string_value(json_object_get(body, "end_date"));
    const char *problem = NULL;
    if (jpage && !(json_is_integer(jpage) && json_integer_value(jpage) >= 1))
        problem = "page must be a positive integer";
    else if (jlimit && !(json_is_integer(jlimit) && json_integer_value(jlimit) >= 1 &&
                         json_integer_value(jlimit) <= 1000))
        problem = "limit must be an integer from 1 to 1000";
    else if (json_object_get(body, "start_date") && !valid_date(start))
        problem = "start_date must be YYYY-MM-DD";
    else if (json_object_get(body, "end_date") && !valid_date(end))
        problem = "end_date must be YYYY-MM-DD";
    if (problem) {
        json_decref(body);
        campaign_fail(out, 422, json_string(problem));
        return;
    }
    json_int_t page = jpage ? json_integer_value(jpage) : 1;
    json_int_t limit = jlimit ? json_integer_value(jlimit) : 10;

    /* Every campaign of the fixture shows the same failed events: the
     * sandbox does not model which campaign an event would have fed. */
    json_t *items = json_array();
    json_int_t total = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(st->events, i, ev) {
        const char *reason = json_string_value(json_object_get(ev, "reason"));
        const char *at = json_string_value(json_object_get(ev, "received_at"));
        if (!reason)
            continue;
        if ((start && strncmp(at, start, 10) < 0) || (end && strncmp(at, end, 10) > 0))
            continue;
        if (total >= (page - 1) * limit && total < page * limit) {
            const char *visitor = json_string_value(json_object_get(ev, "visitor_id"));
            json_array_append_new(
                items, json_pack("{s:O,s:s,s:s,s:s}", "eventId",
                                 json_object_get(ev, "eventId"), "reason", reason,
                                 "recipient", visitor ? visitor : "", "timestamp", at));
        }
        total++;
    }
    json_decref(body);
    campaign_success(out, json_pack("{s:o,s:I,s:I,s:I}", "failedEvents", items, "page",
                                    page, "limit", limit, "total", total));
}

json_t *sandbox_state_events(struct sandbox_state *st)
{
    pthread_mutex_lock(&st->lock);
    json_t *v = json_pack("{s:o}", "events", json_deep_copy(st->events));
    pthread_mutex_unlock(&st->lock);
    return v;
}

/* ---- dispatch ---- */

/* One behaviour per tool, all of one shape. */
typedef void (*behaviour_fn)(struct sandbox_state *st, const struct sandbox_call *call,
                             struct sandbox_reply *out);

static const behaviour_fn behaviours[SANDBOX_TOOL_COUNT] = {
    [SANDBOX_SEND_OTP] = send_otp,
    [SANDBOX_RESEND_OTP] = resend_otp,
    [SANDBOX_VERIFY_OTP] = verify_otp,
    [SANDBOX_SEND_SMS_FLOW] = send_sms_flow,
    [SANDBOX_CREATE_USER_EVENTS] = create_user_events,
    [SANDBOX_GET_EVENT_TYPES] = get_event_types,
    [SANDBOX_GET_FAILED_EVENTS] = get_failed_events,
    [SANDBOX_LIST_CAMPAIGNS] = list_campaigns,
};

void sandbox_state_answer(struct sandbox_state *st, const struct sandbox_call *call,
                          struct sandbox_reply *out)
{
    pthread_mutex_lock(&st->lock);
    if ((unsigned)call->tool < SANDBOX_TOOL_COUNT && behaviours[call->tool])
        behaviours[call->tool](st, call, out);
    else
        sandbox_reply_json(
            out, 404, json_pack("{s:s,s:s}", "type", "error", "msg", "Route Missing"));
    pthread_mutex_unlock(&st->lock);
}

/* NOLINTEND(bugprone-easily-swappable-parameters)
 * NOLINTEND(clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling) */
