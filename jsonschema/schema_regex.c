/* ECMA-262 regular expressions for "pattern", "patternProperties" and the
 * "regex" format, on top of PCRE2. A pattern is rewritten where the two
 * dialects differ (\s, \v, \a), compiled once and JIT-compiled when the
 * platform allows, and every match runs under a match and heap limit so a
 * catastrophic pattern fails fast instead of hanging the server. */
#include "jsonschema/internal.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/dynbuf.h"

/* Enough for any sensible pattern over a tool argument; ^(a+)+$ against a
 * few dozen characters blows through it in well under a millisecond. */
#define REGEX_MATCH_LIMIT 200000
#define REGEX_DEPTH_LIMIT 5000
#define REGEX_HEAP_LIMIT_KIB 4096
#define REGEX_MAX_PATTERN 65536

struct schema_regex {
    pcre2_code *code;
    /* Created once with the pattern so that matching never allocates; this
     * is why a compiled schema is used by one thread at a time. */
    pcre2_match_data *match;
    pcre2_match_context *mctx;
    /* The JIT compile waits for the first match: it costs tens of
     * microseconds a pattern, a server compiles dozens of them at start,
     * and a session may never match most. Like the match data, this is
     * state of the one thread that uses the schema. */
    enum { JIT_UNTRIED, JIT_ON, JIT_OFF } jit;
};

/* ECMA's \s is the Unicode white space set plus the line terminators and
 * U+FEFF, while PCRE2 without UCP knows only ASCII white space. The
 * escapes are written for PCRE2_ALT_BSUX, where \xhh and \uhhhh are the
 * ECMA forms. */
static const char ecma_space[] =
    "\\t\\n\\x0b\\f\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f"
    "\\u205f\\u3000\\ufeff";

/* ECMA names general categories by their long Unicode names, PCRE2 by
 * the short ones; returns the short name or "" to keep the name as is. */
static const char *property_name(const char *name, size_t len)
{
    static const char *const names[][2] = {
        {"Letter", "L"},
        {"Lowercase_Letter", "Ll"},
        {"Uppercase_Letter", "Lu"},
        {"Titlecase_Letter", "Lt"},
        {"Modifier_Letter", "Lm"},
        {"Other_Letter", "Lo"},
        {"Mark", "M"},
        {"Number", "N"},
        {"Decimal_Number", "Nd"},
        {"digit", "Nd"},
        {"Letter_Number", "Nl"},
        {"Other_Number", "No"},
        {"Punctuation", "P"},
        {"punct", "P"},
        {"Symbol", "S"},
        {"Separator", "Z"},
        {"Space_Separator", "Zs"},
        {"Other", "C"},
        {"Control", "Cc"},
        {"cntrl", "Cc"},
        {"Format", "Cf"},
        {"Math_Symbol", "Sm"},
        {"Currency_Symbol", "Sc"},
    };
    const char *eq = memchr(name, '=', len);
    if (eq) {
        /* General_Category=Letter or gc=Letter */
        len -= (size_t)(eq + 1 - name);
        name = eq + 1;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strlen(names[i][0]) == len && memcmp(names[i][0], name, len) == 0)
            return names[i][1];
    return "";
}

/* Whether p[i] opens PCRE2 group syntax that ECMA lacks: Python's
 * (?P...), comments (?#...) and flag groups such as (?i) that cover the
 * rest of the pattern. */
static bool pcre2_only_group(const char *p, size_t len, size_t i)
{
    if (p[i] != '(' || i + 2 >= len || p[i + 1] != '?')
        return false;
    char g = p[i + 2];
    if (g == 'P' || g == '#')
        return true;
    size_t k = i + 2;
    while (k < len && strchr("imsxnU-", p[k]) && p[k])
        k++;
    return k > i + 2 && k < len && p[k] == ')';
}

/* \s and \S: ECMA's white space set, inside or outside a class. */
static int translate_space(bool negated, bool in_class, struct dynbuf *out)
{
    if (in_class)
        return dynbuf_append_str(out, negated ? "\\P{Xsp}" : ecma_space);
    int rc = dynbuf_append_str(out, negated ? "[^" : "[");
    rc = rc ? rc : dynbuf_append_str(out, ecma_space);
    return rc ? rc : dynbuf_append_str(out, "]");
}

/* \p{Name} and \P{Name} at p[*i] (the letter), with the long category
 * names made short; moves *i to the closing brace. */
static int translate_property(const char *p, size_t len, size_t *i, struct dynbuf *out)
{
    char e = p[*i];
    if (*i + 1 >= len || p[*i + 1] != '{')
        return -1;
    const char *close = memchr(p + *i + 2, '}', len - *i - 2);
    if (!close)
        return -1;
    const char *name = p + *i + 2;
    size_t nlen = (size_t)(close - name);
    const char *short_name = property_name(name, nlen);
    char esc[3] = {'\\', e, '{'};
    int rc = dynbuf_append(out, esc, 3);
    if (rc == 0)
        rc = short_name[0] ? dynbuf_append_str(out, short_name)
                           : dynbuf_append(out, name, nlen);
    rc = rc ? rc : dynbuf_append(out, "}", 1);
    *i = (size_t)(close - p);
    return rc;
}

/* The escape whose letter is p[*i]; may move *i past what it consumed. */
static int translate_escape(const char *p, size_t len, size_t *i, bool in_class,
                            struct dynbuf *out)
{
    char e = p[*i];
    if (e == 's' || e == 'S')
        return translate_space(e == 'S', in_class, out);
    if (e == 'v')
        return dynbuf_append_str(out, "\\x0b");
    if (e == 'p' || e == 'P')
        return translate_property(p, len, i, out);
    /* Not escapes in ECMA; in PCRE2 they mean something else. */
    if (strchr("aeghHijlmoqyzACEFGIJKLMNOQRTUVXYZ", e) && e)
        return -1;
    char esc[2] = {'\\', e};
    return dynbuf_append(out, esc, 2);
}

/* Rewrites the ECMA pattern into the PCRE2 dialect. Returns 0, or -1 when
 * the pattern uses an escape that ECMA (in unicode mode) rejects. */
static int translate(const char *p, size_t len, struct dynbuf *out)
{
    bool in_class = false;
    int rc = 0;

    for (size_t i = 0; i < len && rc == 0; i++) {
        char ch = p[i];
        if (!in_class && pcre2_only_group(p, len, i))
            return -1;
        if (ch == '\\' && i + 1 < len) {
            i++;
            rc = translate_escape(p, len, &i, in_class, out);
            continue;
        }
        if (ch == '[' && !in_class)
            in_class = true;
        else if (ch == ']' && in_class)
            in_class = false;
        rc = dynbuf_append(out, &ch, 1);
        /* A ']' right after '[' or '[^' closes the class in ECMA (empty
         * class), which PCRE2_ALLOW_EMPTY_CLASS gives us. */
        if (in_class && ch == '[' && i + 1 < len && p[i + 1] == '^') {
            rc = rc ? rc : dynbuf_append(out, "^", 1);
            i++;
        }
    }
    return rc == 0 ? 0 : -1;
}

struct schema_regex *schema_regex_create(const char *pattern, size_t len, char **error)
{
    struct dynbuf buf;
    struct schema_regex *re = NULL;
    pcre2_compile_context *cctx = NULL;
    char msg[256];

    *error = NULL;
    dynbuf_init(&buf, REGEX_MAX_PATTERN);
    if (translate(pattern, len, &buf) != 0) {
        *error = strdup("uses syntax that ECMA-262 does not allow");
        goto fail;
    }
    re = calloc(1, sizeof(*re));
    cctx = pcre2_compile_context_create(NULL);
    if (!re || !cctx)
        goto nomem;
    pcre2_set_compile_extra_options(cctx, PCRE2_EXTRA_ALT_BSUX);
    int errcode;
    PCRE2_SIZE erroff;
    re->code = pcre2_compile((PCRE2_SPTR)dynbuf_ptr(&buf), dynbuf_len(&buf),
                             PCRE2_UTF | PCRE2_DOLLAR_ENDONLY | PCRE2_ALT_BSUX |
                                 PCRE2_ALLOW_EMPTY_CLASS,
                             &errcode, &erroff, cctx);
    if (!re->code) {
        PCRE2_UCHAR text[200];
        pcre2_get_error_message(errcode, text, sizeof(text));
        snprintf(msg, sizeof(msg), "is not a valid regular expression: %s", (char *)text);
        *error = strdup(msg);
        goto fail;
    }
    re->match = pcre2_match_data_create(1, NULL);
    re->mctx = pcre2_match_context_create(NULL);
    if (!re->match || !re->mctx)
        goto nomem;
    pcre2_set_match_limit(re->mctx, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(re->mctx, REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(re->mctx, REGEX_HEAP_LIMIT_KIB);
    pcre2_compile_context_free(cctx);
    dynbuf_finish(&buf);
    return re;

nomem:
    *error = strdup("out of memory");
fail:
    pcre2_compile_context_free(cctx);
    schema_regex_destroy(re);
    dynbuf_finish(&buf);
    return NULL;
}

void schema_regex_destroy(struct schema_regex *re)
{
    if (!re)
        return;
    pcre2_match_context_free(re->mctx);
    pcre2_match_data_free(re->match);
    pcre2_code_free(re->code);
    free(re);
}

int schema_regex_match(const struct schema_regex *re, const char *s, size_t len)
{
    if (re->jit == JIT_UNTRIED) {
        /* The JIT is only a speed-up; the interpreter gives the same
         * answers. See struct schema_regex for why the const goes. */
        struct schema_regex *m = (struct schema_regex *)re;
        m->jit = pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE) == 0 ? JIT_ON : JIT_OFF;
    }
    /* jansson only holds valid UTF-8, so the check can be skipped. */
    int rc = re->jit == JIT_ON ? pcre2_jit_match(re->code, (PCRE2_SPTR)s, len, 0, 0,
                                                 re->match, re->mctx)
                               : pcre2_match(re->code, (PCRE2_SPTR)s, len, 0,
                                             PCRE2_NO_UTF_CHECK, re->match, re->mctx);
    if (rc >= 0)
        return 1;
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    return -1;
}
