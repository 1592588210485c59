/* SPDX-License-Identifier: MIT */
/*
 * An intrusive doubly linked list: each element embeds a struct mcs_list,
 * and a list is one more struct mcs_list, its head. Nothing is allocated.
 *
 * The list is circular: the head's next is the first element and its prev
 * the last; an empty head points at itself, and so does an element on no
 * list (after mcs_list_init or mcs_list_del). So an element leaves its
 * list in O(1) without knowing which list that is, mcs_list_del on an
 * unlinked element does nothing, and mcs_list_linked says whether it is
 * on one.
 *
 *	struct item { int v; struct mcs_list link; };
 *	struct mcs_list items;                  // mcs_list_init(&items)
 *	mcs_list_add_tail(&items, &it->link);   // append
 *	struct item *first = mcs_list_first(&items, struct item, link);
 *	struct mcs_list *n, *next;
 *	mcs_list_for_each_safe(n, next, &items) // n may be unlinked, freed
 *		free(mcs_list_entry(n, struct item, link));
 */
#ifndef MCS_LIST_H
#define MCS_LIST_H

#include <stdbool.h>
#include <stddef.h>

struct mcs_list {
	struct mcs_list *next, *prev;
};

/* Static initializer of an empty head: struct mcs_list h = MCS_LIST_INIT(h); */
#define MCS_LIST_INIT(name) { &(name), &(name) }

/* An empty head, or an element on no list. */
static inline void mcs_list_init(struct mcs_list *n)
{
	n->next = n->prev = n;
}

/* For a head: no element. */
static inline bool mcs_list_empty(const struct mcs_list *head)
{
	return head->next == head;
}

/* For an element: on a list. */
static inline bool mcs_list_linked(const struct mcs_list *n)
{
	return n->next != n;
}

static inline void mcs_list_insert_between(struct mcs_list *n, struct mcs_list *prev, struct mcs_list *next)
{
	n->prev = prev;
	n->next = next;
	prev->next = n;
	next->prev = n;
}

/* n (on no list) becomes the first element. */
static inline void mcs_list_add(struct mcs_list *head, struct mcs_list *n)
{
	mcs_list_insert_between(n, head, head->next);
}

/* n (on no list) becomes the last element. */
static inline void mcs_list_add_tail(struct mcs_list *head, struct mcs_list *n)
{
	mcs_list_insert_between(n, head->prev, head);
}

/* Take n off its list, if any; it is then on none. */
static inline void mcs_list_del(struct mcs_list *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	mcs_list_init(n);
}

/* n, on a list or not, becomes the last element of head. */
static inline void mcs_list_move_tail(struct mcs_list *head, struct mcs_list *n)
{
	mcs_list_del(n);
	mcs_list_add_tail(head, n);
}

/* The element of the given type whose member p is. */
#define mcs_list_entry(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

/* The first element, or NULL when the list is empty. */
#define mcs_list_first(head, type, member)                                                         \
	(mcs_list_empty(head) ? NULL : mcs_list_entry((head)->next, type, member))

/* Every node of the list, first to last; the body must not unlink pos. */
#define mcs_list_for_each(pos, head) for ((pos) = (head)->next; (pos) != (head); (pos) = (pos)->next)

/* The same, the body may unlink (and free) pos, but no other node. */
#define mcs_list_for_each_safe(pos, tmp, head)                                                     \
	for ((pos) = (head)->next, (tmp) = (pos)->next; (pos) != (head); (pos) = (tmp), (tmp) = (pos)->next)

#endif
