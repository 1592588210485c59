/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for shm/: segment creation and sealing and the checks attach
 * makes before mapping a foreign fd (here), fd passing over unix sockets
 * including the malformed-control-data paths (test-shm-fdpass.c), and, as
 * root, hugetlb reservation and the fallback to normal pages
 * (test-shm-huge.c); what they share is in shm-fixture.h. main() below
 * builds the one suite from all three.
 *
 * The runner uses CK_NOFORK. The hugepage cases change
 * /proc/sys/vm/nr_hugepages, a machine-wide setting, and Check runs a
 * checked fixture's teardown after a failed assertion only in no-fork mode
 * (in fork mode the child exits at the failure), so no-fork is what makes
 * "always restore" hold. As a last resort the saved value is also written
 * back at exit and on SIGABRT (what ASan raises with abort_on_error=1).
 * Without a forked child per test there is no Check timeout either, so every
 * socket a test reads from gets a receive timeout.
 *
 * Cases that cannot run here (not root, pool not writable, no hugetlb) are
 * left out of the suite and reported as skipped (tests/unit/ck-skip.h).
 */
#include <check.h>
#include <sys/file.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/unit/ck-skip.h"
#include "tests/unit/shm-fixture.h"

/* ---- segments --------------------------------------------------------- */

START_TEST(test_hugepage_size)
{
	long kb = meminfo("Hugepagesize");
	uint64_t hp = mcs_hugepage_size();

	if (kb < 0) {
		ck_assert_uint_eq(hp, 0);
	} else {
		ck_assert_uint_eq(hp, (uint64_t)kb * 1024);
		ck_assert_uint_ge(hp, base_page());
		ck_assert_uint_eq(hp & (hp - 1), 0);
	}
}
END_TEST

START_TEST(test_create_normal)
{
	/* Not page aligned: only huge pages need an aligned size. */
	const uint64_t size = 1024 * 1024 + 123;
	struct mcs_segment seg, other;
	char link[PATH_MAX], path[64];
	bool fell_back = true;
	ssize_t n;
	int fd2;

	ck_assert_int_eq(mcs_segment_create("unit-normal", size, MCS_SEG_NORMAL, true, &seg,
					    &fell_back), 0);
	ck_assert_int_ge(seg.fd, 0);
	ck_assert_ptr_nonnull(seg.base);
	ck_assert_uint_eq(seg.size, size);
	ck_assert(!seg.hugepages);
	ck_assert_uint_eq(seg.page_size, base_page());
	ck_assert(!fell_back);
	ck_assert(fd_is_cloexec(seg.fd));
	ck_assert(!fd_on_hugetlbfs(seg.fd));

	/* The name shows in /proc/PID/fd, which is the point of passing it. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", seg.fd);
	n = readlink(path, link, sizeof(link) - 1);
	ck_assert_int_gt(n, 0);
	link[n] = '\0';
	ck_assert_msg(strstr(link, "memfd:mcstore:unit-normal"), "fd link is %s", link);

	fill_pattern(seg.base, size, 1);

	/* A second mapping from another fd sees the same bytes, both ways. */
	fd2 = dup(seg.fd);
	ck_assert_int_ge(fd2, 0);
	ck_assert_int_eq(mcs_segment_attach(fd2, size, &other), 0);
	ck_assert_int_eq(other.fd, fd2);
	ck_assert_ptr_ne(other.base, seg.base);
	ck_assert_uint_eq(other.size, size);
	ck_assert(!other.hugepages);
	ck_assert_uint_eq(other.page_size, base_page());
	ck_assert_uint_eq(check_pattern(other.base, size, 1), SIZE_MAX);
	fill_pattern(other.base, size, 2);
	ck_assert_uint_eq(check_pattern(seg.base, size, 2), SIZE_MAX);

	mcs_segment_close(&other);
	ck_assert_int_eq(other.fd, -1);
	ck_assert_ptr_null(other.base);
	ck_assert(!fd_is_open(fd2));

	mcs_segment_close(&seg);
	ck_assert_int_eq(seg.fd, -1);
	ck_assert_ptr_null(seg.base);
	ck_assert_uint_eq(seg.size, 0);
	mcs_segment_close(&seg);  /* twice is harmless */
}
END_TEST

START_TEST(test_create_seals)
{
	const uint64_t size = 64 * 4096;
	struct mcs_segment seg;
	int seals;

	ck_assert_int_eq(mcs_segment_create("unit-seals", size, MCS_SEG_NORMAL, false, &seg, NULL),
			 0);
	seals = fcntl(seg.fd, F_GET_SEALS);
	ck_assert_int_ge(seals, 0);
	ck_assert(seals & F_SEAL_SHRINK);
	ck_assert(seals & F_SEAL_GROW);
	ck_assert(seals & F_SEAL_SEAL);
	ck_assert(!(seals & F_SEAL_WRITE));

	errno = 0;
	ck_assert_int_eq(ftruncate(seg.fd, (off_t)size - 4096), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(ftruncate(seg.fd, (off_t)size + 4096), -1);
	ck_assert_int_eq(errno, EPERM);
	errno = 0;
	ck_assert_int_eq(fallocate(seg.fd, 0, (off_t)size, 4096), -1);
	ck_assert_int_eq(errno, EPERM);
	/* F_SEAL_SEAL: nobody can add F_SEAL_WRITE and break writers later. */
	errno = 0;
	ck_assert_int_eq(fcntl(seg.fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	ck_assert_int_eq(errno, EPERM);

	/* The mapping is still fully usable. */
	fill_pattern(seg.base, size, 3);
	ck_assert_uint_eq(check_pattern(seg.base, size, 3), SIZE_MAX);
	mcs_segment_close(&seg);
}
END_TEST

/* Pages of the mapping that are in memory, out of how many. */
static size_t resident_pages(const void *base, size_t len, size_t *ret_total)
{
	size_t ps = (size_t)base_page(), n = (len + ps - 1) / ps, i, resident = 0;
	unsigned char *vec = calloc(n, 1);

	ck_assert_ptr_nonnull(vec);
	ck_assert_int_eq(mincore((void *)base, len, vec), 0);
	for (i = 0; i < n; i++)
		resident += vec[i] & 1;
	free(vec);
	*ret_total = n;
	return resident;
}

START_TEST(test_create_populate)
{
	const uint64_t size = 64 * 4096;
	struct mcs_segment seg;
	size_t total;

	ck_assert_int_eq(mcs_segment_create("unit-populate", size, MCS_SEG_NORMAL, true, &seg,
					    NULL), 0);
	ck_assert_uint_eq(resident_pages(seg.base, size, &total), total);
	mcs_segment_close(&seg);

	/* Lazy by default: a fresh memfd has no pages yet. */
	ck_assert_int_eq(mcs_segment_create("unit-lazy", size, MCS_SEG_NORMAL, false, &seg, NULL),
			 0);
	ck_assert_uint_eq(resident_pages(seg.base, size, &total), 0);
	((volatile uint8_t *)seg.base)[0] = 1;
	ck_assert_uint_eq(resident_pages(seg.base, size, &total), 1);
	mcs_segment_close(&seg);
}
END_TEST

START_TEST(test_create_invalid)
{
	char longname[300];
	struct mcs_segment seg;
	bool fell_back = true;

	seg_poison(&seg);
	ck_assert_int_eq(mcs_segment_create("x", 0, MCS_SEG_NORMAL, false, &seg, &fell_back),
			 -EINVAL);
	ck_assert_int_eq(mcs_segment_create(NULL, 4096, MCS_SEG_NORMAL, false, &seg, &fell_back),
			 -EINVAL);
	ck_assert_int_eq(mcs_segment_create("x", 4096, MCS_SEG_NORMAL, false, NULL, &fell_back),
			 -EINVAL);
	ck_assert_int_eq(mcs_segment_create("x", 4096, (enum mcs_seg_mode)7, false, &seg,
					    &fell_back), -EINVAL);
	ck_assert_int_eq(mcs_segment_create("x", UINT64_MAX, MCS_SEG_NORMAL, false, &seg,
					    &fell_back), -EINVAL);

	/* memfd names are capped at 249 bytes, "mcstore:" included. */
	memset(longname, 'n', sizeof(longname));
	longname[249 - 8] = '\0';
	ck_assert_int_eq(mcs_segment_create(longname, 4096, MCS_SEG_NORMAL, false, &seg, NULL), 0);
	mcs_segment_close(&seg);
	seg_poison(&seg);
	longname[249 - 8] = 'n';
	longname[250 - 8] = '\0';
	ck_assert_int_eq(mcs_segment_create(longname, 4096, MCS_SEG_NORMAL, false, &seg,
					    &fell_back), -ENAMETOOLONG);

	ck_assert(seg_is_poisoned(&seg));
	ck_assert(fell_back);
}
END_TEST

START_TEST(test_create_huge_unaligned)
{
	/* Rejected before anything is allocated, so this needs no pool. */
	uint64_t hp = mcs_hugepage_size();
	struct mcs_segment seg;
	bool fell_back = true;

	seg_poison(&seg);
	ck_assert_int_eq(mcs_segment_create("unit-unaligned", hp + base_page(), MCS_SEG_HUGE_ONLY,
					    false, &seg, &fell_back), -EINVAL);
	ck_assert_int_eq(mcs_segment_create("unit-unaligned", hp + base_page(),
					    MCS_SEG_HUGE_OR_NORMAL, false, &seg, &fell_back),
			 -EINVAL);
	ck_assert_int_eq(mcs_segment_create("unit-unaligned", hp / 2, MCS_SEG_HUGE_OR_NORMAL, true,
					    &seg, &fell_back), -EINVAL);
	ck_assert(seg_is_poisoned(&seg));
	ck_assert(fell_back);

	/* The same size is fine when huge pages are not wanted. */
	ck_assert_int_eq(mcs_segment_create("unit-unaligned", hp + base_page(), MCS_SEG_NORMAL,
					    false, &seg, &fell_back), 0);
	ck_assert(!fell_back);
	mcs_segment_close(&seg);
}
END_TEST

START_TEST(test_close_zeroed)
{
	/* A zeroed struct has fd 0, which is not ours to close. */
	struct mcs_segment seg;
	bool stdin_open = fd_is_open(0);

	memset(&seg, 0, sizeof(seg));
	mcs_segment_close(&seg);
	ck_assert_int_eq(fd_is_open(0), stdin_open);
	ck_assert_int_eq(seg.fd, -1);
	ck_assert_ptr_null(seg.base);
	mcs_segment_close(&seg);
	ck_assert_int_eq(fd_is_open(0), stdin_open);
	mcs_segment_close(NULL);
}
END_TEST

/* ---- attach ----------------------------------------------------------- */

START_TEST(test_attach_rejects_unsealed)
{
	struct mcs_segment seg;
	int fd;

	seg_poison(&seg);

	/* Without MFD_ALLOW_SEALING a memfd is born with only F_SEAL_SEAL. */
	fd = memfd_create("unit-unsealable", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 65536), 0);
	ck_assert_int_eq(mcs_segment_attach(fd, 65536, &seg), -EPERM);
	ck_assert(fd_is_open(fd));  /* not taken on failure */
	close(fd);

	/* Sealable but not sealed: its owner could still shrink it. */
	fd = memfd_create("unit-unsealed", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 65536), 0);
	ck_assert_int_eq(mcs_segment_attach(fd, 65536, &seg), -EPERM);
	ck_assert(fd_is_open(fd));

	/* Half sealed is not enough either. */
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	ck_assert_int_eq(mcs_segment_attach(fd, 65536, &seg), -EPERM);
	ck_assert(fd_is_open(fd));

	/* With both it goes through. */
	ck_assert_int_eq(fcntl(fd, F_ADD_SEALS, F_SEAL_GROW), 0);
	ck_assert(seg_is_poisoned(&seg));
	ck_assert_int_eq(mcs_segment_attach(fd, 65536, &seg), 0);
	ck_assert_int_eq(seg.fd, fd);
	mcs_segment_close(&seg);
	ck_assert(!fd_is_open(fd));
}
END_TEST

START_TEST(test_attach_rejects_small)
{
	const uint64_t size = 16 * 4096;
	struct mcs_segment seg, other;
	int fd2;

	ck_assert_int_eq(mcs_segment_create("unit-small", size, MCS_SEG_NORMAL, false, &seg, NULL),
			 0);
	fd2 = dup(seg.fd);
	ck_assert_int_ge(fd2, 0);
	seg_poison(&other);
	ck_assert_int_eq(mcs_segment_attach(fd2, size + 1, &other), -EINVAL);
	ck_assert_int_eq(mcs_segment_attach(fd2, size * 2, &other), -EINVAL);
	ck_assert_int_eq(mcs_segment_attach(fd2, 0, &other), -EINVAL);
	ck_assert_int_eq(mcs_segment_attach(fd2, size, NULL), -EINVAL);
	ck_assert(seg_is_poisoned(&other));
	ck_assert(fd_is_open(fd2));

	ck_assert_int_eq(mcs_segment_attach(fd2, size, &other), 0);
	mcs_segment_close(&other);
	mcs_segment_close(&seg);
}
END_TEST

START_TEST(test_attach_rejects_non_memfd)
{
	struct mcs_segment seg;
	int p[2], fd;

	seg_poison(&seg);
	ck_assert_int_eq(mcs_segment_attach(-1, 4096, &seg), -EBADF);

	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(mcs_segment_attach(p[0], 4096, &seg), -EBADF);
	ck_assert(fd_is_open(p[0]));
	close(p[0]);
	close(p[1]);

	/* A regular file cannot carry seals. */
	fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0)
		fd = open(".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, 4096), 0);
	ck_assert_int_eq(mcs_segment_attach(fd, 4096, &seg), -EBADF);
	ck_assert(fd_is_open(fd));
	close(fd);

	ck_assert(seg_is_poisoned(&seg));
}
END_TEST

/* ---- suite ------------------------------------------------------------ */

static Suite *shm_suite(void)
{
	uint64_t hp = mcs_hugepage_size();
	Suite *s;
	TCase *tc;

	s = suite_create("shm");

	tc = tcase_create("segment");
	tcase_add_test(tc, test_hugepage_size);
	tcase_add_test(tc, test_create_normal);
	tcase_add_test(tc, test_create_seals);
	tcase_add_test(tc, test_create_populate);
	tcase_add_test(tc, test_create_invalid);
	tcase_add_test(tc, test_close_zeroed);
	if (hp > 0)
		tcase_add_test(tc, test_create_huge_unaligned);
	else
		ck_skip(__FILE__, "segment", "test_create_huge_unaligned", "no hugetlb support");
	suite_add_tcase(s, tc);

	tc = tcase_create("attach");
	tcase_add_test(tc, test_attach_rejects_unsealed);
	tcase_add_test(tc, test_attach_rejects_small);
	tcase_add_test(tc, test_attach_rejects_non_memfd);
	suite_add_tcase(s, tc);

	shm_add_fdpass_cases(s);
	shm_add_huge_cases(s, hp);
	return s;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = pool_restore_on_abort };
	int failed;

	/* The pool is machine-wide and other tests (t-hugepages.sh) change it
	 * too, possibly at the same time under make -j: take turns. */
	int lock = open(HUGEPAGE_LOCK, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock >= 0)
		flock(lock, LOCK_EX);

	atexit(pool_restore_at_exit);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGABRT, &sa, NULL);

	/* See the top comment: the hugepage teardown relies on no-fork. */
	failed = ck_run(shm_suite(), CK_NOFORK);

	if (pool.dirty) {
		fprintf(stderr, "test-shm: huge page pool was left changed, restoring\n");
		failed++;
		pool_restore_at_exit();
	}
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
