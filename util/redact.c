#include "util/redact.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

/* Each secret as it is, and as it looks inside a JSON string when it
 * holds characters JSON escapes (" \ and control characters); output is
 * mostly JSON, so both forms must go. The first secret is the server's key
 * (redact_set_secret); the others are added as personas are loaded. */
struct form {
    char *text;
    size_t len;
};

static struct form *forms;
static size_t nforms, forms_cap;

void redact_wipe(void *p, size_t len)
{
    /* A volatile pointer keeps the stores from being optimised away as
     * dead, which memset before free would be. */
    volatile unsigned char *v = p;
    while (len--)
        *v++ = 0;
}

void redact_clear(void)
{
    for (size_t i = 0; i < nforms; i++) {
        redact_wipe(forms[i].text, forms[i].len);
        free(forms[i].text);
    }
    free(forms);
    forms = NULL;
    nforms = forms_cap = 0;
}

static bool has_form(const char *text, size_t len)
{
    for (size_t i = 0; i < nforms; i++)
        if (forms[i].len == len && memcmp(forms[i].text, text, len) == 0)
            return true;
    return false;
}

static int add_form(const char *text, size_t len)
{
    if (has_form(text, len))
        return 0;
    if (nforms == forms_cap) {
        size_t cap = forms_cap ? forms_cap * 2 : 4;
        struct form *grown = realloc(forms, cap * sizeof *grown);
        if (!grown)
            return -1;
        forms = grown;
        forms_cap = cap;
    }
    struct form *f = &forms[nforms];
    f->text = malloc(len + 1);
    if (!f->text)
        return -1;
    memcpy(f->text, text, len);
    f->text[len] = '\0';
    f->len = len;
    nforms++;
    return 0;
}

/* Removes the forms added from index n on (a secret half added). */
static void drop_forms_from(size_t n)
{
    while (nforms > n) {
        nforms--;
        redact_wipe(forms[nforms].text, forms[nforms].len);
        free(forms[nforms].text);
    }
}

int redact_add_secret(const char *s)
{
    if (!s || !*s)
        return 0;
    size_t before = nforms;
    if (add_form(s, strlen(s)) != 0)
        return -1;
    /* Missing the escaped form would let a secret with a quote or
     * backslash through inside JSON strings, so failing to build it fails
     * the add. */
    json_t *str = json_string(s);
    char *quoted = str ? json_dumps(str, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
    json_decref(str);
    if (!quoted) {
        drop_forms_from(before);
        return -1;
    }
    int rc = 0;
    size_t n = strlen(quoted);
    /* Without its quotes; only kept when escaping changed something. */
    if (n >= 2 && (n - 2 != strlen(s) || memcmp(quoted + 1, s, n - 2) != 0))
        rc = add_form(quoted + 1, n - 2);
    redact_wipe(quoted, n);
    free(quoted);
    if (rc != 0)
        drop_forms_from(before);
    return rc;
}

int redact_set_secret(const char *s)
{
    redact_clear();
    if (redact_add_secret(s) != 0) {
        redact_clear();
        return -1;
    }
    return 0;
}

/* The earliest occurrence of any form in text[0..len), or NULL. */
static const char *find_any(const char *text, size_t len, size_t *match_len)
{
    const char *best = NULL;
    for (size_t i = 0; i < nforms; i++) {
        const char *hit = memmem(text, len, forms[i].text, forms[i].len);
        /* At one offset the longest match wins: one secret may begin
         * with another. */
        if (hit && (!best || hit < best || (hit == best && forms[i].len > *match_len))) {
            best = hit;
            *match_len = forms[i].len;
        }
    }
    return best;
}

bool redact_needed(const char *text, size_t len)
{
    size_t n = 0;
    return find_any(text, len, &n) != NULL;
}

size_t redact_mask_in_place(char *text, size_t len)
{
    size_t count = 0, match_len = 0;
    char *end = text + len;
    for (char *hit = (char *)find_any(text, len, &match_len); hit;
         hit = (char *)find_any(hit, (size_t)(end - hit), &match_len)) {
        memset(hit, '*', match_len);
        hit += match_len;
        count++;
    }
    return count;
}

int redact_apply(const char *text, size_t len, char **result, size_t *out_len)
{
    *result = NULL;
    size_t match_len = 0;
    const char *hit = find_any(text, len, &match_len);
    if (!hit)
        return 0;
    size_t mark_len = strlen(REDACT_MARK);
    const char *end = text + len;
    size_t count = 0;
    for (const char *q = hit; q; q = find_any(q, (size_t)(end - q), &match_len)) {
        count++;
        q += match_len;
        if (q >= end)
            break;
    }
    /* A mark may be longer than the secret, so size for every match. */
    char *out = malloc(len + count * mark_len + 1);
    if (!out)
        return -1;
    size_t o = 0;
    const char *p = text;
    hit = find_any(text, len, &match_len);
    while (hit) {
        memcpy(out + o, p, (size_t)(hit - p));
        o += (size_t)(hit - p);
        memcpy(out + o, REDACT_MARK, mark_len);
        o += mark_len;
        p = hit + match_len;
        hit = find_any(p, (size_t)(end - p), &match_len);
    }
    memcpy(out + o, p, (size_t)(end - p));
    o += (size_t)(end - p);
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    *result = out;
    return 0;
}

size_t redact_find(const char *text, size_t len, size_t *match_len)
{
    const char *hit = find_any(text, len, match_len);
    return hit ? (size_t)(hit - text) : len;
}

size_t redact_partial_tail(const char *text, size_t len, size_t min)
{
    size_t best = 0;
    for (size_t i = 0; i < nforms; i++) {
        for (size_t n = forms[i].len < len ? forms[i].len : len; n >= min && n > best;
             n--) {
            if (memcmp(text + len - n, forms[i].text, n) == 0) {
                best = n;
                break;
            }
        }
    }
    return best;
}
