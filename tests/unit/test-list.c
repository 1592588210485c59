/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the intrusive list (common/list.h): order, unlinking from
 * anywhere without the head, unlinking twice, moving between lists, and
 * unlinking while walking.
 */
#include <check.h>
#include <stdlib.h>

#include "common/list.h"

struct item {
	int v;
	struct mcs_list link;
};

/* The values of the list, first to last, into out[]; returns how many, and
 * checks that the prev links walk the same elements backwards. */
static int values(struct mcs_list *head, int *out, int max)
{
	int n = 0;
	struct mcs_list *pos;
	mcs_list_for_each(pos, head) {
		ck_assert_int_lt(n, max);
		out[n++] = mcs_list_entry(pos, struct item, link)->v;
	}
	int k = n;
	for (pos = head->prev; pos != head; pos = pos->prev)
		ck_assert_int_eq(mcs_list_entry(pos, struct item, link)->v, out[--k]);
	ck_assert_int_eq(k, 0);
	return n;
}

#define CHECK_VALUES(head, ...)                                                                    \
	do {                                                                                       \
		static const int want_[] = { __VA_ARGS__ };                                        \
		int got_[16];                                                                      \
		int n_ = values((head), got_, 16);                                                 \
		ck_assert_int_eq(n_, (int)(sizeof(want_) / sizeof(want_[0])));                     \
		for (int i_ = 0; i_ < n_; i_++)                                                    \
			ck_assert_int_eq(got_[i_], want_[i_]);                                     \
	} while (0)

START_TEST(test_order)
{
	struct mcs_list head = MCS_LIST_INIT(head);
	struct item it[4];
	ck_assert(mcs_list_empty(&head));
	ck_assert_ptr_null(mcs_list_first(&head, struct item, link));
	for (int i = 0; i < 4; i++) {
		it[i].v = i;
		mcs_list_init(&it[i].link);
		ck_assert(!mcs_list_linked(&it[i].link));
	}
	mcs_list_add_tail(&head, &it[1].link);
	mcs_list_add_tail(&head, &it[2].link);
	mcs_list_add(&head, &it[0].link);
	mcs_list_add_tail(&head, &it[3].link);
	ck_assert(!mcs_list_empty(&head));
	ck_assert(mcs_list_linked(&it[2].link));
	CHECK_VALUES(&head, 0, 1, 2, 3);
	ck_assert_ptr_eq(mcs_list_first(&head, struct item, link), &it[0]);
}
END_TEST

START_TEST(test_del_and_move)
{
	struct mcs_list a, b;
	mcs_list_init(&a);
	mcs_list_init(&b);
	struct item it[5];
	for (int i = 0; i < 5; i++) {
		it[i].v = i;
		mcs_list_add_tail(&a, &it[i].link);
	}
	/* from the middle, the head and the tail, without knowing the list */
	mcs_list_del(&it[2].link);
	mcs_list_del(&it[0].link);
	mcs_list_del(&it[4].link);
	ck_assert(!mcs_list_linked(&it[2].link));
	CHECK_VALUES(&a, 1, 3);
	/* twice: nothing happens */
	mcs_list_del(&it[2].link);
	CHECK_VALUES(&a, 1, 3);
	/* moved, from a list or from none */
	mcs_list_move_tail(&b, &it[3].link);
	mcs_list_move_tail(&b, &it[2].link);
	mcs_list_move_tail(&b, &it[3].link);
	CHECK_VALUES(&a, 1);
	CHECK_VALUES(&b, 2, 3);
	mcs_list_del(&it[1].link);
	ck_assert(mcs_list_empty(&a));
}
END_TEST

START_TEST(test_del_while_walking)
{
	struct mcs_list head;
	mcs_list_init(&head);
	for (int i = 0; i < 10; i++) {
		struct item *it = malloc(sizeof(*it));
		ck_assert_ptr_nonnull(it);
		it->v = i;
		mcs_list_add_tail(&head, &it->link);
	}
	struct mcs_list *pos, *tmp;
	mcs_list_for_each_safe(pos, tmp, &head) {
		struct item *it = mcs_list_entry(pos, struct item, link);
		if (it->v % 3 == 0) {
			mcs_list_del(pos);
			free(it);
		}
	}
	CHECK_VALUES(&head, 1, 2, 4, 5, 7, 8);
	struct item *it;
	while ((it = mcs_list_first(&head, struct item, link))) {
		mcs_list_del(&it->link);
		free(it);
	}
	ck_assert(mcs_list_empty(&head));
}
END_TEST

int main(void)
{
	Suite *s = suite_create("list");
	TCase *tc = tcase_create("list");
	tcase_add_test(tc, test_order);
	tcase_add_test(tc, test_del_and_move);
	tcase_add_test(tc, test_del_while_walking);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
