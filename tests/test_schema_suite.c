/* Runs the official JSON-Schema-Test-Suite for draft 2020-12 against the
 * validator: every case of the required part must pass; the optional part
 * (with format assertion on) is run and counted, not required. The
 * suite's remotes are registered under http://localhost:1234/ as its
 * README asks, since the validator never fetches anything. */
#include <check.h>
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "jsonschema/schema.h"
#include "tests/testutil.h"

/* Cases the validator is known to fail in the required part; the test
 * fails if more than this many fail. */
#define REQUIRED_FAILURES_ALLOWED 0
#define REQUIRED_CASES 1299

struct tally {
    int passed;
    int failed;
};

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
    ck_assert_ptr_nonnull(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char sub[4096], full[8192];
        snprintf(sub, sizeof(sub), "%s%s%s", rel, rel[0] ? "/" : "", e->d_name);
        snprintf(full, sizeof(full), "%s/%s", dir, sub);
        struct stat st;
        ck_assert_int_eq(stat(full, &st), 0);
        if (S_ISDIR(st.st_mode)) {
            register_remotes(reg, dir, sub);
        } else if (strstr(e->d_name, ".json")) {
            json_t *doc = load_json(full);
            ck_assert_ptr_nonnull(doc);
            char uri[8300];
            char *error = NULL;
            snprintf(uri, sizeof(uri), "http://localhost:1234/%s", sub);
            ck_assert_int_eq(schema_registry_add(reg, uri, doc, &error), 0);
            json_decref(doc);
        }
    }
    closedir(d);
}

static struct schema_registry *suite_registry(void)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/json-schema-test-suite/remotes",
             testutil_shared_dir());
    struct schema_registry *reg = schema_registry_create();
    ck_assert_ptr_nonnull(reg);
    register_remotes(reg, dir, "");
    return reg;
}

static void run_file(struct schema_registry *reg, const char *path, const char *name,
                     bool format_assertion, struct tally *t)
{
    json_t *groups = load_json(path);
    ck_assert_msg(groups != NULL, "cannot read %s", path);
    size_t gi;
    json_t *group;
    json_array_foreach(groups, gi, group)
    {
        struct schema_options opts = {.format_assertion = format_assertion};
        char *error = NULL;
        struct schema *s =
            schema_compile(reg, json_object_get(group, "schema"), NULL, &opts, &error);
        const char *gdesc = json_string_value(json_object_get(group, "description"));
        size_t ti;
        json_t *test;
        json_array_foreach(json_object_get(group, "tests"), ti, test)
        {
            const char *tdesc = json_string_value(json_object_get(test, "description"));
            bool want = json_is_true(json_object_get(test, "valid"));
            json_t *data = json_object_get(test, "data");
            bool good = false;
            if (s) {
                bool quick = schema_validate(s, data, NULL);
                struct schema_errors errs;
                bool full = schema_validate(s, data, &errs);
                /* Both ways of asking must agree, and an invalid instance
                 * must come with at least one error. */
                good = quick == want && full == want && (want == (errs.count == 0));
                schema_errors_finish(&errs);
            }
            if (good) {
                t->passed++;
            } else {
                t->failed++;
                printf("FAIL %s: %s: %s%s%s\n", name, gdesc, tdesc,
                       s ? "" : " (compile: ", s ? "" : (error ? error : "?"));
            }
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

static void run_dir(struct schema_registry *reg, const char *rel, bool format_assertion,
                    struct tally *t)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/json-schema-test-suite/tests/draft2020-12%s",
             testutil_shared_dir(), rel);
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    char *names[256];
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
        char path[8192], label[512];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        snprintf(label, sizeof(label), "%s%s%s", rel[0] ? rel + 1 : "", rel[0] ? "/" : "",
                 names[i]);
        run_file(reg, path, label, format_assertion, t);
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
    ck_assert_int_le(t.failed, REQUIRED_FAILURES_ALLOWED);
}
END_TEST

START_TEST(optional_part)
{
    struct schema_registry *reg = suite_registry();
    struct tally opt = {0}, fmt = {0};
    run_dir(reg, "/optional", true, &opt);
    run_dir(reg, "/optional/format", true, &fmt);
    /* Worded unlike the required line, so nothing reads it as a verdict. */
    printf("optional cases (format asserted): %d of %d pass; optional/format: %d of %d "
           "pass\n",
           opt.passed, opt.passed + opt.failed, fmt.passed, fmt.passed + fmt.failed);
    fflush(stdout);
    schema_registry_destroy(reg);
    /* Not required to pass; but every case must run to an answer. */
    ck_assert_int_gt(opt.passed + opt.failed, 0);
    ck_assert_int_gt(fmt.passed + fmt.failed, 0);
}
END_TEST

int main(void)
{
    if (!testutil_shared_dir())
        return 77;
    char probe[4096];
    struct stat st;
    snprintf(probe, sizeof(probe), "%s/json-schema-test-suite/tests/draft2020-12",
             testutil_shared_dir());
    if (stat(probe, &st) != 0)
        return 77;

    Suite *s = suite_create("schema_suite");
    TCase *tc = tcase_create("draft2020-12");
    tcase_set_timeout(tc, 240);
    tcase_add_test(tc, required_part);
    tcase_add_test(tc, optional_part);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
