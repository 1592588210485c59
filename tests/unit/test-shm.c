/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for shm/: segment creation and sealing, the checks attach makes
 * before mapping a foreign fd, fd passing over unix sockets (including the
 * malformed-control-data paths), and, as root, hugetlb reservation and the
 * fallback to normal pages.
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
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/ck-skip.h"

#include "common/util.h"
#include "shm/shm.h"

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
#define HUGEPAGE_LOCK "/tmp/mcstore-test-hugepages.lock"
#define NR_OVERCOMMIT "/proc/sys/vm/nr_overcommit_hugepages"

/* ---- helpers ---------------------------------------------------------- */

static uint64_t base_page(void)
{
	return (uint64_t)sysconf(_SC_PAGESIZE);
}

static int read_ulong(const char *path, unsigned long *ret)
{
	unsigned long v;
	FILE *f;
	int r;

	f = fopen(path, "re");
	if (!f)
		return -errno;
	r = fscanf(f, "%lu", &v);
	fclose(f);
	if (r != 1)
		return -EIO;
	*ret = v;
	return 0;
}

static int write_str(const char *path, const char *s, size_t len)
{
	ssize_t n;
	int fd, r = 0;

	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, s, len);
	if (n < 0)
		r = -errno;
	else if ((size_t)n != len)
		r = -EIO;
	close(fd);
	return r;
}

static int write_ulong(const char *path, unsigned long v)
{
	char buf[32];
	int len;

	len = snprintf(buf, sizeof(buf), "%lu\n", v);
	return write_str(path, buf, (size_t)len);
}

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

/* A /proc/meminfo field ("HugePages_Free"), or -1. */
static long meminfo(const char *key)
{
	char line[256];
	size_t klen = strlen(key);
	long ret = -1;
	FILE *f;

	f = fopen("/proc/meminfo", "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			ret = strtol(line + klen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return ret;
}

static int count_fds(void)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static uint8_t pattern_byte(size_t i, unsigned int seed)
{
	return (uint8_t)((i * 131u + seed) ^ (i >> 9));
}

static void fill_pattern(void *p, size_t n, unsigned int seed)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = pattern_byte(i, seed);
}

/* Index of the first byte that differs, or SIZE_MAX. */
static size_t check_pattern(const void *p, size_t n, unsigned int seed)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != pattern_byte(i, seed))
			return i;
	return SIZE_MAX;
}

/* Failure must leave *ret alone: fill it with a sentinel and compare. */
static void seg_poison(struct mcs_segment *s)
{
	memset(s, 0xa5, sizeof(*s));
}

static bool seg_is_poisoned(const struct mcs_segment *s)
{
	struct mcs_segment p;

	seg_poison(&p);
	return memcmp(s, &p, sizeof(p)) == 0;
}

static bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static bool fd_is_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

static bool fd_on_hugetlbfs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 &&
	       (unsigned long)sfs.f_type == (unsigned long)HUGETLBFS_MAGIC;
}

/* No Check timeout in no-fork mode: a broken peer must not hang the run. */
static void socketpair_with_timeouts(int sv[2])
{
	struct timeval tv = { .tv_sec = 10 };
	int i;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(setsockopt(sv[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
		ck_assert_int_eq(setsockopt(sv[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	}
}

/* Hand-built SCM_RIGHTS message with several fds, which mcs_send_with_fd
 * cannot produce. */
#define RAW_MAX_FDS 8
static ssize_t send_fds_raw(int sock, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * RAW_MAX_FDS)];
	} ctrl;
	char byte = 'x';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctrl.buf,
		.msg_controllen = CMSG_SPACE(sizeof(int) * nfds),
	};
	struct cmsghdr *c;

	ck_assert_uint_le(nfds, RAW_MAX_FDS);
	memset(&ctrl, 0, sizeof(ctrl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

/* ---- huge page pool: save, change, always restore --------------------- */

static struct {
	bool saved;
	volatile sig_atomic_t dirty;  /* changed and not yet restored */
	unsigned long nr, overcommit;
	/* Preformatted so the SIGABRT handler only needs open/write/close. */
	char nr_str[32], oc_str[32];
	size_t nr_len, oc_len;
} pool;

static int pool_save(void)
{
	int r, len;

	if (pool.dirty)
		return 0;  /* keep the original, not our own change */
	pool.saved = false;
	r = read_ulong(NR_HUGEPAGES, &pool.nr);
	if (r < 0)
		return r;
	r = read_ulong(NR_OVERCOMMIT, &pool.overcommit);
	if (r < 0)
		return r;
	len = snprintf(pool.nr_str, sizeof(pool.nr_str), "%lu\n", pool.nr);
	pool.nr_len = (size_t)len;
	len = snprintf(pool.oc_str, sizeof(pool.oc_str), "%lu\n", pool.overcommit);
	pool.oc_len = (size_t)len;
	pool.saved = true;
	return 0;
}

static int pool_set(const char *path, unsigned long v)
{
	ck_assert_msg(pool.saved, "pool state was not saved before changing %s", path);
	pool.dirty = 1;
	return write_ulong(path, v);
}

/* Write the saved values back and check they took. */
static int pool_restore(void)
{
	unsigned long nr, oc;
	int r;

	if (!pool.dirty)
		return 0;
	r = write_str(NR_OVERCOMMIT, pool.oc_str, pool.oc_len);
	if (r < 0)
		return r;
	r = write_str(NR_HUGEPAGES, pool.nr_str, pool.nr_len);
	if (r < 0)
		return r;
	if (read_ulong(NR_HUGEPAGES, &nr) < 0 || read_ulong(NR_OVERCOMMIT, &oc) < 0)
		return -EIO;
	if (nr != pool.nr || oc != pool.overcommit)
		return -EAGAIN;
	pool.dirty = 0;
	return 0;
}

/* Async-signal-safe last resort. */
static void pool_restore_raw(void)
{
	int fd;

	if (!pool.dirty)
		return;
	fd = open(NR_OVERCOMMIT, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = write(fd, pool.oc_str, pool.oc_len);

		(void)n;
		close(fd);
	}
	fd = open(NR_HUGEPAGES, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = write(fd, pool.nr_str, pool.nr_len);

		(void)n;
		close(fd);
	}
	pool.dirty = 0;
}

static void pool_restore_at_exit(void)
{
	if (pool.dirty && pool_restore() < 0)
		pool_restore_raw();
}

static void pool_restore_on_abort(int sig)
{
	pool_restore_raw();
	signal(sig, SIG_DFL);
	raise(sig);
}

static long hp_avail(void)
{
	return meminfo("HugePages_Free") - meminfo("HugePages_Rsvd");
}

/* Add `want` pages to the pool and check the kernel could allocate them. */
static void pool_raise(unsigned long want)
{
	int r;

	r = pool_set(NR_HUGEPAGES, pool.nr + want);
	ck_assert_msg(r == 0, "raising %s: %s", NR_HUGEPAGES, strerror(-r));
	ck_assert_msg(hp_avail() >= (long)want,
		      "kernel could not allocate %lu huge pages (free %ld, reserved %ld)",
		      want, meminfo("HugePages_Free"), meminfo("HugePages_Rsvd"));
}

/* Leave exactly one unreserved huge page (if the kernel can): fewer than
 * any 2-page segment needs, yet the pool is not empty, so the failure comes
 * from the reservation at mmap, not from a missing pool. */
static void pool_starve(void)
{
	long avail = hp_avail();
	unsigned long target;
	int r;

	ck_assert_int_ge(avail, 0);
	if (pool.overcommit > 0) {
		/* Surplus pages would satisfy the reservation. */
		r = pool_set(NR_OVERCOMMIT, 0);
		ck_assert_msg(r == 0, "clearing %s: %s", NR_OVERCOMMIT, strerror(-r));
	}
	target = pool.nr > (unsigned long)avail ? pool.nr - (unsigned long)avail + 1 : 1;
	r = pool_set(NR_HUGEPAGES, target);
	ck_assert_msg(r == 0, "setting %s to %lu: %s", NR_HUGEPAGES, target, strerror(-r));
	ck_assert_msg(hp_avail() < 2, "still %ld unreserved huge pages after shrinking the pool",
		      hp_avail());
}

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

/* ---- fd passing ------------------------------------------------------- */

#define FDPASS_MARK 0x5a

/* Runs in the forked child: must never return into Check (which would go
 * on running the suite there) and never use ck_assert; exit codes tell the
 * parent what went wrong. */
static int fdpass_child(int sock)
{
	struct mcs_segment seg;
	uint64_t size = 0;
	ssize_t n;
	int fd = -1;

	n = mcs_recv_with_fd(sock, &size, sizeof(size), &fd);
	if (n != (ssize_t)sizeof(size))
		return 10;
	if (fd < 0)
		return 11;
	if (!fd_is_cloexec(fd))
		return 12;
	if (mcs_segment_attach(fd, size, &seg) < 0)
		return 13;
	if (seg.hugepages || ((uint8_t *)seg.base)[0] != FDPASS_MARK)
		return 14;
	fill_pattern((uint8_t *)seg.base + 1, size - 1, 7);
	mcs_segment_close(&seg);
	if (mcs_send_with_fd(sock, "done", 4, -1) != 4)
		return 15;
	return 0;
}

START_TEST(test_fdpass_fork)
{
	uint64_t size = 256 * 1024;
	struct mcs_segment seg;
	int sv[2], status = 0, fd = -1;
	char ack[8] = { 0 };
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(mcs_segment_create("unit-fdpass", size, MCS_SEG_NORMAL, false, &seg, NULL),
			 0);
	memset(seg.base, 0, size);
	((uint8_t *)seg.base)[0] = FDPASS_MARK;
	socketpair_with_timeouts(sv);

	fflush(NULL);  /* the child must not flush our buffered TAP output again */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		_exit(fdpass_child(sv[1]));
	}
	close(sv[1]);

	n = mcs_send_with_fd(sv[0], &size, sizeof(size), seg.fd);
	ck_assert_int_eq(n, (ssize_t)sizeof(size));
	n = mcs_recv_with_fd(sv[0], ack, sizeof(ack), &fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(fd, -1);
	ck_assert_mem_eq(ack, "done", 4);

	/* What the child wrote through its own mapping is here. */
	ck_assert_int_eq(((uint8_t *)seg.base)[0], FDPASS_MARK);
	ck_assert_uint_eq(check_pattern((uint8_t *)seg.base + 1, size - 1, 7), SIZE_MAX);

	close(sv[0]);
	mcs_segment_close(&seg);
}
END_TEST

START_TEST(test_send_recv_one_fd)
{
	int sv[2], p[2], fd = -1;
	char buf[16], c = 0;
	ssize_t n;

	socketpair_with_timeouts(sv);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);

	/* The receiver gets its own fd for the same pipe, close-on-exec. */
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "pipe", 4, p[1]), 4);
	n = mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd);
	ck_assert_int_eq(n, 4);
	ck_assert_mem_eq(buf, "pipe", 4);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ne(fd, p[1]);
	ck_assert(fd_is_cloexec(fd));
	ck_assert_int_eq(write(fd, "!", 1), 1);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(c, '!');

	close(fd);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_recv_without_fd)
{
	int sv[2], fd = 1234;
	char buf[16];
	ssize_t n;

	socketpair_with_timeouts(sv);

	/* A plain send ... */
	ck_assert_int_eq(send(sv[0], "abc", 3, MSG_NOSIGNAL), 3);
	n = mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd);
	ck_assert_int_eq(n, 3);
	ck_assert_mem_eq(buf, "abc", 3);
	ck_assert_int_eq(fd, -1);

	/* ... and mcs_send_with_fd with no fd look the same. */
	fd = 1234;
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "defg", 4, -1), 4);
	n = mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd);
	ck_assert_int_eq(n, 4);
	ck_assert_mem_eq(buf, "defg", 4);
	ck_assert_int_eq(fd, -1);

	/* End of stream: 0 bytes, no fd. */
	close(sv[0]);
	fd = 1234;
	ck_assert_int_eq(mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd), 0);
	ck_assert_int_eq(fd, -1);
	close(sv[1]);
}
END_TEST

START_TEST(test_send_errors)
{
	int sv[2], fd = 1234;
	char buf[4];

	socketpair_with_timeouts(sv);
	/* An fd needs at least one byte to ride on over a stream socket. */
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "", 0, sv[0]), -EINVAL);
	ck_assert_int_eq(mcs_recv_with_fd(sv[1], buf, sizeof(buf), NULL), -EINVAL);
	ck_assert_int_eq(mcs_send_with_fd(-1, "x", 1, -1), -EBADF);
	ck_assert_int_eq(mcs_recv_with_fd(-1, buf, sizeof(buf), &fd), -EBADF);
	ck_assert_int_eq(fd, -1);

	/* A vanished peer is -EPIPE, not a SIGPIPE that kills us. */
	close(sv[1]);
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "x", 1, sv[0]), -EPIPE);
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "x", 1, -1), -EPIPE);
	close(sv[0]);
}
END_TEST

/* Send nfds pipe write ends in one SCM_RIGHTS message and check that the
 * receiver rejects it with -EPROTO without leaking any of them: neither in
 * our fd table (count /proc/self/fd) nor anywhere else (once our own write
 * ends are closed, the pipes must read EOF). */
static void check_multi_fd_rejected(size_t nfds)
{
	int sv[2], rd[RAW_MAX_FDS], wr[RAW_MAX_FDS], fd = 1234, before, after;
	char buf[8], c;
	size_t i;

	ck_assert_uint_le(nfds, RAW_MAX_FDS);
	socketpair_with_timeouts(sv);
	for (i = 0; i < nfds; i++) {
		int p[2];

		ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
		rd[i] = p[0];
		wr[i] = p[1];
	}

	before = count_fds();
	ck_assert_int_gt(before, 0);
	ck_assert_int_eq(send_fds_raw(sv[0], wr, nfds), 1);
	ck_assert_int_eq(mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd), -EPROTO);
	ck_assert_int_eq(fd, -1);
	after = count_fds();
	ck_assert_int_eq(after, before);

	for (i = 0; i < nfds; i++)
		close(wr[i]);
	for (i = 0; i < nfds; i++) {
		ck_assert_msg(read(rd[i], &c, 1) == 0, "pipe %zu still has a writer", i);
		close(rd[i]);
	}

	/* The connection itself still works for a well-formed message. */
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "ok", 2, sv[0]), 2);
	ck_assert_int_eq(mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd), 2);
	ck_assert_int_ge(fd, 0);
	close(fd);

	close(sv[0]);
	close(sv[1]);
}

START_TEST(test_recv_two_fds)
{
	/* On 64-bit a one-fd CMSG_SPACE has room for a second fd (padding),
	 * so both arrive without MSG_CTRUNC: the count must catch it. */
	check_multi_fd_rejected(2);
}
END_TEST

START_TEST(test_recv_ctrunc_fd_dropped)
{
	/* With SO_PASSCRED the kernel puts SCM_CREDENTIALS first; it does not
	 * fit the one-fd buffer, so the fd is dropped entirely and only
	 * MSG_CTRUNC says one was sent. That must not read as "no fd". */
	int sv[2], p[2], on = 1, fd = 1234, before;
	char buf[8], c;

	socketpair_with_timeouts(sv);
	ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);

	before = count_fds();
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "x", 1, p[1]), 1);
	ck_assert_int_eq(mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd), -EPROTO);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(count_fds(), before);
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 0);

	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_recv_ctrunc)
{
	/* Too many to fit even with padding: MSG_CTRUNC, some fds installed
	 * and the rest dropped by the kernel. */
	check_multi_fd_rejected(4);
	check_multi_fd_rejected(RAW_MAX_FDS);
}
END_TEST

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

/* ---- suite ------------------------------------------------------------ */

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

static Suite *shm_suite(void)
{
	uint64_t hp = mcs_hugepage_size();
	const char *skip;
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

	tc = tcase_create("fdpass");
	tcase_add_test(tc, test_fdpass_fork);
	tcase_add_test(tc, test_send_recv_one_fd);
	tcase_add_test(tc, test_recv_without_fd);
	tcase_add_test(tc, test_send_errors);
	tcase_add_test(tc, test_recv_two_fds);
	tcase_add_test(tc, test_recv_ctrunc);
	tcase_add_test(tc, test_recv_ctrunc_fd_dropped);
	suite_add_tcase(s, tc);

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
