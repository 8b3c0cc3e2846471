/* util/list.h: the intrusive doubly linked list. */
#include <check.h>
#include <stdlib.h>

#include "testutil.h"
#include "util/list.h"

struct item {
    int value;
    struct list link;
};

/* The values from the front, into out; returns how many. */
static int values(const struct list *head, int *out, int max)
{
    int n = 0;
    const struct item *it;
    list_for_each(it, head, link) {
        if (n < max)
            out[n] = it->value;
        n++;
    }
    return n;
}

START_TEST(insert_at_front_and_back_remove_anywhere)
{
    struct list head;
    list_init(&head);
    ck_assert(list_empty(&head));
    struct item a = {.value = 1}, b = {.value = 2}, c = {.value = 3};
    list_insert(&head, &a.link);     /* 1 */
    list_insert(head.prev, &b.link); /* 1 2: at the back */
    list_insert(&head, &c.link);     /* 3 1 2: at the front */
    ck_assert(!list_empty(&head));
    int v[4];
    ck_assert_int_eq(values(&head, v, 4), 3);
    ck_assert_int_eq(v[0], 3);
    ck_assert_int_eq(v[1], 1);
    ck_assert_int_eq(v[2], 2);
    ck_assert_ptr_eq(container_of(head.next, struct item, link), &c);
    ck_assert_ptr_eq(container_of(head.prev, struct item, link), &b);

    list_remove(&a.link); /* the middle */
    ck_assert_int_eq(values(&head, v, 4), 2);
    ck_assert_int_eq(v[0], 3);
    ck_assert_int_eq(v[1], 2);
    /* A removed link is a list of its own: removing it again is harmless. */
    ck_assert(list_empty(&a.link));
    list_remove(&a.link);
    ck_assert_int_eq(values(&head, v, 4), 2);

    list_remove(&c.link); /* the front */
    list_remove(&b.link); /* the last */
    ck_assert(list_empty(&head));
    ck_assert_int_eq(values(&head, v, 4), 0);
}
END_TEST

START_TEST(for_each_safe_may_free_the_current_element)
{
    struct list head;
    list_init(&head);
    for (int i = 0; i < 5; i++) {
        struct item *it = calloc(1, sizeof *it);
        ck_assert_ptr_nonnull(it);
        it->value = i;
        list_insert(head.prev, &it->link);
    }
    struct item *it, *tmp;
    list_for_each_safe(it, tmp, &head, link) {
        if (it->value % 2 == 0) {
            list_remove(&it->link);
            free(it);
        }
    }
    int v[5];
    ck_assert_int_eq(values(&head, v, 5), 2);
    ck_assert_int_eq(v[0], 1);
    ck_assert_int_eq(v[1], 3);
    list_for_each_safe(it, tmp, &head, link) {
        list_remove(&it->link);
        free(it);
    }
    ck_assert(list_empty(&head));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("list");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, insert_at_front_and_back_remove_anywhere);
    tcase_add_test(tc, for_each_safe_may_free_the_current_element);
    suite_add_tcase(s, tc);
    return testutil_run(s);
}
