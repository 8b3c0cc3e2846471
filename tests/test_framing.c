#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "server/framing.h"
#include "tests/alloc_hook.h"
#include "tests/testutil.h"

/* Records what the framer delivered, as "L:<line>", "TOOBIG" or "NOMEM". */
struct record {
    char *events[64];
    int count;
};

static void on_event(void *data, enum framing_event ev, const char *line, size_t len)
{
    struct record *r = data;
    ck_assert_int_lt(r->count, 64);
    if (ev == FRAMING_TOOBIG || ev == FRAMING_NOMEM) {
        r->events[r->count++] = strdup(ev == FRAMING_TOOBIG ? "TOOBIG" : "NOMEM");
        return;
    }
    ck_assert_uint_eq(strlen(line), len); /* NUL-terminated at len */
    char *e = malloc(len + 3);
    memcpy(e, "L:", 2);
    memcpy(e + 2, line, len + 1);
    r->events[r->count++] = e;
}

/* on_event with the allocation hook suspended, for a test that fails
 * every allocation of the code under test. */
static void on_event_quiet(void *data, enum framing_event ev, const char *line,
                           size_t len)
{
    alloc_hook_suspend();
    on_event(data, ev, line, len);
    alloc_hook_resume();
}

static void clear(struct record *r)
{
    for (int i = 0; i < r->count; i++)
        free(r->events[i]);
    r->count = 0;
}

START_TEST(splits_lines_across_reads)
{
    struct framing f;
    struct record r = {0};
    framing_init(&f, 1024);
    framing_feed(&f, "{\"a\":", 5, on_event, &r);
    ck_assert_int_eq(r.count, 0);
    framing_feed(&f, "1}\n{\"b\"", 7, on_event, &r);
    ck_assert_int_eq(r.count, 1);
    framing_feed(&f, ":2}\n", 4, on_event, &r);
    ck_assert_int_eq(r.count, 2);
    ck_assert_str_eq(r.events[0], "L:{\"a\":1}");
    ck_assert_str_eq(r.events[1], "L:{\"b\":2}");
    clear(&r);
    framing_finish(&f);
}
END_TEST

START_TEST(byte_at_a_time)
{
    struct framing f;
    struct record r = {0};
    framing_init(&f, 1024);
    const char *in = "ab\r\ncd\n";
    for (size_t i = 0; i < strlen(in); i++)
        framing_feed(&f, in + i, 1, on_event, &r);
    ck_assert_int_eq(r.count, 2);
    ck_assert_str_eq(r.events[0], "L:ab");
    ck_assert_str_eq(r.events[1], "L:cd");
    clear(&r);
    framing_finish(&f);
}
END_TEST

START_TEST(strips_crlf_and_skips_blank_lines)
{
    struct framing f;
    struct record r = {0};
    framing_init(&f, 1024);
    const char *in = "\n\r\n  \n{}\r\n\t\n[]\n";
    framing_feed(&f, in, strlen(in), on_event, &r);
    ck_assert_int_eq(r.count, 2);
    ck_assert_str_eq(r.events[0], "L:{}");
    ck_assert_str_eq(r.events[1], "L:[]");
    clear(&r);
    framing_finish(&f);
}
END_TEST

START_TEST(passes_invalid_utf8_through_for_the_parser)
{
    struct framing f;
    struct record r = {0};
    framing_init(&f, 1024);
    const char in[] = "{\"x\":\"\xff\xfe\"}\n";
    framing_feed(&f, in, sizeof in - 1, on_event, &r);
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(r.events[0], "L:{\"x\":\"\xff\xfe\"}");
    clear(&r);
    framing_finish(&f);
}
END_TEST

START_TEST(line_of_exactly_the_cap_is_accepted)
{
    struct framing f;
    struct record r = {0};
    framing_init(&f, 8);
    framing_feed(&f, "12345678\n", 9, on_event, &r);
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(r.events[0], "L:12345678");
    clear(&r);
    framing_finish(&f);
}
END_TEST

START_TEST(oversized_line_is_reported_once_and_skipped)
{
    struct framing f;
    struct record r = {0};
    framing_init(&f, 8);
    /* 9 bytes in one read, then more of the same line, then a good line. */
    framing_feed(&f, "123456789", 9, on_event, &r);
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(r.events[0], "TOOBIG");
    framing_feed(&f, "abcdefghijklmnop", 16, on_event, &r);
    framing_feed(&f, "qrs\nok\n", 7, on_event, &r);
    ck_assert_int_eq(r.count, 2);
    ck_assert_str_eq(r.events[1], "L:ok");
    clear(&r);
    framing_finish(&f);
}
END_TEST

START_TEST(oversized_complete_line_then_next)
{
    struct framing f;
    struct record r = {0};
    framing_init(&f, 4);
    framing_feed(&f, "toolong\nfine\n", 13, on_event, &r);
    ck_assert_int_eq(r.count, 2);
    ck_assert_str_eq(r.events[0], "TOOBIG");
    ck_assert_str_eq(r.events[1], "L:fine");
    clear(&r);
    framing_finish(&f);
}
END_TEST

START_TEST(last_line_without_newline_is_delivered_at_end)
{
    struct framing f;
    struct record r = {0};
    framing_init(&f, 64);
    framing_feed(&f, "{\"a\":1}\n{\"b\":2}", 15, on_event, &r);
    ck_assert_int_eq(r.count, 1);
    framing_end(&f, on_event, &r);
    ck_assert_int_eq(r.count, 2);
    ck_assert_str_eq(r.events[1], "L:{\"b\":2}");
    clear(&r);
    framing_finish(&f);
}
END_TEST

START_TEST(out_of_memory_is_not_too_big)
{
    /* A line that cannot be buffered is reported as such, not as a line
     * over the cap; the rest of it is skipped and the next one is read.
     * Lines up to 16 KiB use memory taken by framing_init, so this needs a
     * longer one. */
    struct framing f;
    struct record r = {0};
    ck_assert_int_eq(framing_init(&f, 100000), 0);
    char *part = malloc(40001);
    memset(part, 'x', 40000);
    part[40000] = '\0';
    alloc_hook_arm(1, false);
    framing_feed(&f, part, 40000, on_event, &r);
    alloc_hook_disarm();
    ck_assert_int_eq(r.count, 1);
    ck_assert_str_eq(r.events[0], "NOMEM");
    framing_feed(&f, "\"x\":2}\n{\"id\":2}\n", 16, on_event, &r);
    ck_assert_int_eq(r.count, 2);
    ck_assert_str_eq(r.events[1], "L:{\"id\":2}");
    /* A short line needs no allocation at all. */
    alloc_hook_arm(1, true);
    framing_feed(&f, "{\"id\":3}\n", 9, on_event_quiet, &r);
    alloc_hook_disarm();
    ck_assert_int_eq(r.count, 3);
    clear(&r);
    framing_finish(&f);
    free(part);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("framing");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, splits_lines_across_reads);
    tcase_add_test(tc, byte_at_a_time);
    tcase_add_test(tc, strips_crlf_and_skips_blank_lines);
    tcase_add_test(tc, passes_invalid_utf8_through_for_the_parser);
    tcase_add_test(tc, line_of_exactly_the_cap_is_accepted);
    tcase_add_test(tc, oversized_line_is_reported_once_and_skipped);
    tcase_add_test(tc, oversized_complete_line_then_next);
    tcase_add_test(tc, last_line_without_newline_is_delivered_at_end);
    tcase_add_test(tc, out_of_memory_is_not_too_big);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
