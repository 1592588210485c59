/* SPDX-License-Identifier: MIT */
/*
 * The hugepage cases of the shm/ unit suite (TCase "hugepages"): hugetlb
 * segments populated or reserved lazily, attach of a hugetlbfs fd,
 * HUGE_OR_NORMAL getting huge pages, and its fallback to normal pages when
 * the pool is starved. They change the machine-wide pool, so they need root
 * and a writable pool; elsewhere they are named as skipped. Each case
 * raises or starves the pool from a saved state (shm-fixture.h) and the
 * checked teardown puts it back, after a failed assertion too.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/ck-skip.h"
#include "tests/unit/shm-fixture.h"

/* ---- the pool around each case ---------------------------------------- */

/* Segments a hugepage test leaves behind when an assertion fails; the
 * teardown unmaps them before shrinking the pool back. */
static struct mcs_segment huge_seg[2];

static void huge_setup(void)
{
	huge_seg[0] = huge_seg[1] = (struct mcs_segment){ .fd = -1 };
	/* No assertion here: a failed checked setup skips the teardown. The
	 * tests check pool.saved before touching anything. */
	pool_save();
}

static void huge_teardown(void)
{
	int r;

	mcs_segment_close(&huge_seg[0]);
	mcs_segment_close(&huge_seg[1]);
	r = pool_restore();
	ck_assert_msg(r == 0, "could not restore %s=%lu %s=%lu: %s", NR_HUGEPAGES, pool.nr,
		      NR_OVERCOMMIT, pool.overcommit, strerror(-r));
}

/* ---- huge pages (root, writable pool) --------------------------------- */

START_TEST(test_huge_only_populate)
{
	uint64_t hp = mcs_hugepage_size(), size = 2 * hp;
	long free0, rsvd0, free1, rsvd1;
	bool fell_back = true;
	int fd2, seals;

	ck_assert(pool.saved);
	pool_raise(2);
	free0 = meminfo("HugePages_Free");
	rsvd0 = meminfo("HugePages_Rsvd");

	ck_assert_int_eq(mcs_segment_create("unit-huge", size, MCS_SEG_HUGE_ONLY, true, &huge_seg[0],
					    &fell_back), 0);
	ck_assert(huge_seg[0].hugepages);
	ck_assert_uint_eq(huge_seg[0].page_size, hp);
	ck_assert_uint_eq(huge_seg[0].size, size);
	ck_assert(!fell_back);
	ck_assert(fd_on_hugetlbfs(huge_seg[0].fd));
	ck_assert(fd_is_cloexec(huge_seg[0].fd));

	/* Populated: the pages came out of the pool. A mere reservation (Rsvd
	 * up, Free unchanged) is what test_huge_lazy_reservation expects, so
	 * insist on Free here, or MAP_POPULATE could go missing unnoticed. */
	free1 = meminfo("HugePages_Free");
	rsvd1 = meminfo("HugePages_Rsvd");
	ck_assert_msg(free0 - free1 >= 2 && rsvd1 == rsvd0,
		      "not populated: free %ld -> %ld, reserved %ld -> %ld", free0, free1, rsvd0,
		      rsvd1);

	seals = fcntl(huge_seg[0].fd, F_GET_SEALS);
	ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	errno = 0;
	ck_assert_int_eq(ftruncate(huge_seg[0].fd, (off_t)hp), -1);
	ck_assert_int_eq(errno, EPERM);

	fill_pattern(huge_seg[0].base, size, 11);

	/* attach recognises hugetlbfs and records the huge page size, which
	 * close needs: hugetlb mappings only unmap in whole huge pages. */
	fd2 = dup(huge_seg[0].fd);
	ck_assert_int_ge(fd2, 0);
	ck_assert_int_eq(mcs_segment_attach(fd2, size, &huge_seg[1]), 0);
	ck_assert(huge_seg[1].hugepages);
	ck_assert_uint_eq(huge_seg[1].page_size, hp);
	ck_assert_uint_eq(check_pattern(huge_seg[1].base, size, 11), SIZE_MAX);
	fill_pattern(huge_seg[1].base, size, 12);
	ck_assert_uint_eq(check_pattern(huge_seg[0].base, size, 12), SIZE_MAX);

	/* A view shorter than the segment, not a multiple of the huge page
	 * size, must still unmap cleanly. */
	mcs_segment_close(&huge_seg[1]);
	fd2 = dup(huge_seg[0].fd);
	ck_assert_int_ge(fd2, 0);
	ck_assert_int_eq(mcs_segment_attach(fd2, hp + 4096, &huge_seg[1]), 0);
	ck_assert_uint_eq(check_pattern(huge_seg[1].base, hp + 4096, 12), SIZE_MAX);
	mcs_segment_close(&huge_seg[1]);

	mcs_segment_close(&huge_seg[0]);
	ck_assert_int_eq(meminfo("HugePages_Free"), free0);
	ck_assert_int_eq(meminfo("HugePages_Rsvd"), rsvd0);
}
END_TEST

START_TEST(test_huge_lazy_reservation)
{
	uint64_t hp = mcs_hugepage_size(), size = 2 * hp;
	long free0, rsvd0;

	ck_assert(pool.saved);
	pool_raise(2);
	free0 = meminfo("HugePages_Free");
	rsvd0 = meminfo("HugePages_Rsvd");

	/* Without populate the pages are reserved at mmap but not yet used. */
	ck_assert_int_eq(mcs_segment_create("unit-huge-lazy", size, MCS_SEG_HUGE_ONLY, false,
					    &huge_seg[0], NULL), 0);
	ck_assert(huge_seg[0].hugepages);
	ck_assert_int_eq(meminfo("HugePages_Rsvd"), rsvd0 + 2);
	ck_assert_int_eq(meminfo("HugePages_Free"), free0);

	/* Touching one page turns one reservation into a used page. */
	((volatile uint8_t *)huge_seg[0].base)[0] = 1;
	ck_assert_int_eq(meminfo("HugePages_Rsvd"), rsvd0 + 1);
	ck_assert_int_eq(meminfo("HugePages_Free"), free0 - 1);

	mcs_segment_close(&huge_seg[0]);
	ck_assert_int_eq(meminfo("HugePages_Rsvd"), rsvd0);
	ck_assert_int_eq(meminfo("HugePages_Free"), free0);
}
END_TEST

START_TEST(test_huge_or_normal_gets_huge)
{
	uint64_t hp = mcs_hugepage_size();
	bool fell_back = true;

	ck_assert(pool.saved);
	pool_raise(2);
	ck_assert_int_eq(mcs_segment_create("unit-huge-or-normal", 2 * hp, MCS_SEG_HUGE_OR_NORMAL,
					    true, &huge_seg[0], &fell_back), 0);
	ck_assert(huge_seg[0].hugepages);
	ck_assert_uint_eq(huge_seg[0].page_size, hp);
	ck_assert(!fell_back);
	ck_assert(fd_on_hugetlbfs(huge_seg[0].fd));
	mcs_segment_close(&huge_seg[0]);
}
END_TEST

START_TEST(test_huge_or_normal_fallback)
{
	uint64_t hp = mcs_hugepage_size(), size = 2 * hp;
	struct mcs_segment seg;
	long free0, rsvd0;
	bool fell_back = false;
	int seals;

	ck_assert(pool.saved);
	pool_starve();
	free0 = meminfo("HugePages_Free");
	rsvd0 = meminfo("HugePages_Rsvd");

	/* The reservation fails at mmap ... */
	seg_poison(&seg);
	ck_assert_int_eq(mcs_segment_create("unit-starved", size, MCS_SEG_HUGE_ONLY, true, &seg,
					    &fell_back), -ENOMEM);
	ck_assert(seg_is_poisoned(&seg));
	ck_assert(!fell_back);
	/* ... and leaves nothing behind. */
	ck_assert_int_eq(meminfo("HugePages_Free"), free0);
	ck_assert_int_eq(meminfo("HugePages_Rsvd"), rsvd0);

	/* HUGE_OR_NORMAL takes normal pages instead and says so. */
	ck_assert_int_eq(mcs_segment_create("unit-starved", size, MCS_SEG_HUGE_OR_NORMAL, true,
					    &huge_seg[0], &fell_back), 0);
	ck_assert(fell_back);
	ck_assert(!huge_seg[0].hugepages);
	ck_assert_uint_eq(huge_seg[0].page_size, base_page());
	ck_assert_uint_eq(huge_seg[0].size, size);
	ck_assert(!fd_on_hugetlbfs(huge_seg[0].fd));
	seals = fcntl(huge_seg[0].fd, F_GET_SEALS);
	ck_assert_int_eq(seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL),
			 F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
	fill_pattern(huge_seg[0].base, size, 21);
	ck_assert_uint_eq(check_pattern(huge_seg[0].base, size, 21), SIZE_MAX);
	ck_assert_int_eq(meminfo("HugePages_Free"), free0);
	ck_assert_int_eq(meminfo("HugePages_Rsvd"), rsvd0);
	mcs_segment_close(&huge_seg[0]);
}
END_TEST

/* ---- whether they can run here, the TCase ----------------------------- */

static bool path_writable(const char *path)
{
	/* Open for writing without writing: catches both permissions and a
	 * read-only /proc/sys (containers), which access() as root misses. */
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* Why the hugepage cases cannot run here, or NULL if they can. */
static const char *hugepage_skip_reason(uint64_t hp)
{
	if (hp == 0)
		return "no hugetlb support (no Hugepagesize in /proc/meminfo)";
	if (geteuid() != 0)
		return "need root to change " NR_HUGEPAGES;
	if (!path_writable(NR_HUGEPAGES))
		return NR_HUGEPAGES " is not writable";
	if (!path_writable(NR_OVERCOMMIT))
		return NR_OVERCOMMIT " is not writable";
	return NULL;
}

void shm_add_huge_cases(Suite *s, uint64_t hp)
{
	const char *skip;
	TCase *tc;

	skip = hugepage_skip_reason(hp);
	if (skip) {
		ck_skip(__FILE__, "hugepages", "test_huge_only_populate", skip);
		ck_skip(__FILE__, "hugepages", "test_huge_lazy_reservation", skip);
		ck_skip(__FILE__, "hugepages", "test_huge_or_normal_gets_huge", skip);
		ck_skip(__FILE__, "hugepages", "test_huge_or_normal_fallback", skip);
	} else {
		tc = tcase_create("hugepages");
		tcase_add_checked_fixture(tc, huge_setup, huge_teardown);
		tcase_add_test(tc, test_huge_only_populate);
		tcase_add_test(tc, test_huge_lazy_reservation);
		tcase_add_test(tc, test_huge_or_normal_gets_huge);
		tcase_add_test(tc, test_huge_or_normal_fallback);
		suite_add_tcase(s, tc);
	}
}
