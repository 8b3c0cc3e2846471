/* An intrusive doubly linked list, as wlroots' wl_list and libuv's queue:
 * a struct list is both the head of a list and the link an element
 * embeds; the element is found back with container_of. A head is empty
 * when it points at itself. Everything here is inline: nothing to link.
 *
 *     struct call { struct list link; ... };
 *     struct list calls;               list_init(&calls);
 *     list_insert(&calls, &c->link);   newest first
 *     list_remove(&c->link);
 *     list_for_each(c, &calls, link) { ... }
 */
#ifndef UTIL_LIST_H
#define UTIL_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct list {
    struct list *prev, *next;
};

#define container_of(ptr, type, member)                                                  \
    ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

static inline void list_init(struct list *head)
{
    head->prev = head->next = head;
}

/* Puts elm right after at: at the front when at is the head. */
static inline void list_insert(struct list *at, struct list *elm)
{
    elm->prev = at;
    elm->next = at->next;
    at->next->prev = elm;
    at->next = elm;
}

/* Unlinks elm, which then is an empty list of its own: removing it again
 * does nothing. */
static inline void list_remove(struct list *elm)
{
    elm->prev->next = elm->next;
    elm->next->prev = elm->prev;
    list_init(elm);
}

static inline bool list_empty(const struct list *head)
{
    return head->next == head;
}

/* The element type of pos, from the head's first link onwards. */
#define list_for_each(pos, head, member)                                                 \
    for (pos = container_of((head)->next, __typeof__(*pos), member);                     \
         &pos->member != (head);                                                         \
         pos = container_of(pos->member.next, __typeof__(*pos), member))

/* The same, where the body may remove (and free) pos. */
#define list_for_each_safe(pos, tmp, head, member)                                       \
    for (pos = container_of((head)->next, __typeof__(*pos), member),                     \
        tmp = container_of(pos->member.next, __typeof__(*pos), member);                  \
         &pos->member != (head);                                                         \
         pos = tmp, tmp = container_of(pos->member.next, __typeof__(*pos), member))

#endif
