/* Runs the official JSON-Schema-Test-Suite for draft 2020-12, vendored in
 * tests/data/json-schema-test-suite (see its SOURCE), against the
 * validator. Every case of the required part must pass. The optional part
 * (with format assertion on) has a floor: the numbers of cases that passed
 * when the floor was set, so that a change which breaks an optional case
 * fails here too. The suite's remotes are registered under
 * http://localhost:1234/ as its README asks, since the validator never
 * fetches anything.
 *
 * The data is found below $MSG91_SOURCE_DIR (meson test sets it), or below
 * the current directory when that is unset. Output: one line per failed
 * required case ("FAIL ..."), one per optional case not met ("not met
 * (optional): ..."), then "N passed, M failed" for the required part and
 * one line of optional figures. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonschema/schema.h"
#include "tests/testutil.h"

#define REQUIRED_CASES 1299
/* Optional cases that pass today: optional/ (162 cases) and
 * optional/format/ (764 cases), both with format assertion on. Raise these
 * when the validator gets better; never lower them to make a change pass. */
#define OPTIONAL_FLOOR 147
#define OPTIONAL_FORMAT_FLOOR 603

struct tally {
    int passed;
    int failed;
};

static char suite_dir[4096];

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static json_t *load_json(const char *path)
{
    json_t *j = json_load_file(path, JSON_ALLOW_NUL, NULL);
    /* A few optional cases hold integers past 64 bits. */
    if (!j)
        j = json_load_file(path, JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
    return j;
}

static void register_remotes(struct schema_registry *reg, const char *dir,
                             const char *rel)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/%s", dir, rel);
    DIR *d = opendir(path);
    ck_assert_msg(d != NULL, "cannot open %s", path);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4096], full[8192];
        snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(full, sizeof(full), "%s/%s", dir, sub);
        if (is_dir(full)) {
            register_remotes(reg, dir, sub);
        } else if (strstr(e->d_name, ".json")) {
            json_t *doc = load_json(full);
            ck_assert_msg(doc != NULL, "cannot read %s", full);
            char uri[8300];
            char *error = NULL;
            snprintf(uri, sizeof(uri), "http://localhost:1234/%s", sub);
            ck_assert_msg(schema_registry_add(reg, uri, doc, &error) == 0, "%s: %s", uri,
                          error ? error : "?");
            json_decref(doc);
        }
    }
    closedir(d);
}

static struct schema_registry *suite_registry(void)
{
    char dir[8192];
    snprintf(dir, sizeof(dir), "%s/remotes", suite_dir);
    struct schema_registry *reg = schema_registry_create();
    ck_assert_ptr_nonnull(reg);
    register_remotes(reg, dir, "");
    return reg;
}

/* Whether one case comes out as the suite says, asked both ways: the
 * yes-or-no answer and the collected errors must agree, and an invalid
 * instance must come with at least one error. */
static bool case_passes(const struct schema *s, json_t *test)
{
    bool want = json_is_true(json_object_get(test, "valid"));
    json_t *data = json_object_get(test, "data");
    if (!s)
        return false;
    bool quick = schema_validate(s, data, NULL);
    struct schema_errors errs;
    bool full = schema_validate(s, data, &errs);
    bool good = quick == want && full == want && (want == (errs.count == 0));
    schema_errors_finish(&errs);
    return good;
}

static void run_file(struct schema_registry *reg, const char *path, const char *name,
                     bool optional, struct tally *t)
{
    json_t *groups = load_json(path);
    ck_assert_msg(groups != NULL, "cannot read %s", path);
    size_t gi;
    json_t *group;
    json_array_foreach(groups, gi, group) {
        struct schema_options opts = {.format_assertion = optional};
        char *error = NULL;
        struct schema *s =
            schema_compile(reg, json_object_get(group, "schema"), NULL, &opts, &error);
        const char *gdesc = json_string_value(json_object_get(group, "description"));
        size_t ti;
        json_t *test;
        json_array_foreach(json_object_get(group, "tests"), ti, test) {
            if (case_passes(s, test)) {
                t->passed++;
                continue;
            }
            t->failed++;
            printf("%s %s: %s: %s%s%s%s\n", optional ? "not met (optional):" : "FAIL",
                   name, gdesc, json_string_value(json_object_get(test, "description")),
                   s ? "" : " (compile: ", s ? "" : (error ? error : "?"), s ? "" : ")");
        }
        free(error);
        schema_destroy(s);
    }
    json_decref(groups);
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Runs every *.json file of tests/draft2020-12<rel>, in name order. */
static void run_dir(struct schema_registry *reg, const char *rel, bool optional,
                    struct tally *t)
{
    char dir[8192];
    snprintf(dir, sizeof(dir), "%s/tests/draft2020-12%s", suite_dir, rel);
    DIR *d = opendir(dir);
    ck_assert_msg(d != NULL, "cannot open %s", dir);
    char *names[256] = {0};
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < 256) {
        size_t len = strlen(e->d_name);
        if (len > 5 && strcmp(e->d_name + len - 5, ".json") == 0)
            names[n++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof(names[0]), cmp_names);
    for (size_t i = 0; i < n; i++) {
        char path[16384], label[512];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        snprintf(label, sizeof(label), "%s%s%s", rel[0] ? rel + 1 : "", rel[0] ? "/" : "",
                 names[i]);
        run_file(reg, path, label, optional, t);
        free(names[i]);
    }
}

START_TEST(required_part)
{
    struct schema_registry *reg = suite_registry();
    struct tally t = {0};
    run_dir(reg, "", false, &t);
    printf("%d passed, %d failed\n", t.passed, t.failed);
    fflush(stdout);
    schema_registry_destroy(reg);
    ck_assert_int_eq(t.passed + t.failed, REQUIRED_CASES);
    ck_assert_int_eq(t.failed, 0);
}
END_TEST

START_TEST(optional_part)
{
    struct schema_registry *reg = suite_registry();
    struct tally opt = {0}, fmt = {0};
    run_dir(reg, "/optional", true, &opt);
    run_dir(reg, "/optional/format", true, &fmt);
    /* Worded unlike the required line, so nothing reads it as a verdict;
     * the floors below are the verdict. */
    printf("optional cases (format asserted): %d of %d pass; optional/format: %d of %d "
           "pass\n",
           opt.passed, opt.passed + opt.failed, fmt.passed, fmt.passed + fmt.failed);
    fflush(stdout);
    schema_registry_destroy(reg);
    ck_assert_msg(opt.passed >= OPTIONAL_FLOOR,
                  "%d optional cases pass, fewer than the %d that passed before",
                  opt.passed, OPTIONAL_FLOOR);
    ck_assert_msg(fmt.passed >= OPTIONAL_FORMAT_FLOOR,
                  "%d optional/format cases pass, fewer than the %d that passed before",
                  fmt.passed, OPTIONAL_FORMAT_FLOOR);
}
END_TEST

/* Finds the vendored suite; a checkout without it is a failure, not a
 * reason to skip. */
static bool find_suite(void)
{
    const char *root = getenv("MSG91_SOURCE_DIR");
    snprintf(suite_dir, sizeof(suite_dir), "%s/tests/data/json-schema-test-suite",
             root && root[0] ? root : ".");
    static const char *const parts[] = {"tests/draft2020-12",
                                        "tests/draft2020-12/optional",
                                        "tests/draft2020-12/optional/format", "remotes"};
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        char path[8192];
        snprintf(path, sizeof(path), "%s/%s", suite_dir, parts[i]);
        if (!is_dir(path)) {
            fprintf(stderr,
                    "test_schema_suite: the JSON-Schema-Test-Suite data is missing: %s "
                    "is not a directory (it is vendored in the source tree; set "
                    "MSG91_SOURCE_DIR to the source root or run from it)\n",
                    path);
            return false;
        }
    }
    return true;
}

int main(void)
{
    if (!find_suite())
        return 1;
    Suite *s = suite_create("schema_suite");
    TCase *tc = tcase_create("draft2020-12");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, required_part);
    tcase_add_test(tc, optional_part);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
