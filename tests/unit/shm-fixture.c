/* SPDX-License-Identifier: MIT */
/*
 * The shared part of the shm/ unit suite (see shm-fixture.h): patterns,
 * fd and segment checks, /proc readers and writers, and the huge page pool
 * that the hugepage cases change and that is always put back.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "tests/unit/shm-fixture.h"

/* ---- helpers ---------------------------------------------------------- */

uint64_t base_page(void)
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

/* A /proc/meminfo field ("HugePages_Free"), or -1. */
long meminfo(const char *key)
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

static uint8_t pattern_byte(size_t i, unsigned int seed)
{
	return (uint8_t)((i * 131u + seed) ^ (i >> 9));
}

void fill_pattern(void *p, size_t n, unsigned int seed)
{
	uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		b[i] = pattern_byte(i, seed);
}

/* Index of the first byte that differs, or SIZE_MAX. */
size_t check_pattern(const void *p, size_t n, unsigned int seed)
{
	const uint8_t *b = p;
	size_t i;

	for (i = 0; i < n; i++)
		if (b[i] != pattern_byte(i, seed))
			return i;
	return SIZE_MAX;
}

/* Failure must leave *ret alone: fill it with a sentinel and compare. */
void seg_poison(struct mcs_segment *s)
{
	memset(s, 0xa5, sizeof(*s));
}

bool seg_is_poisoned(const struct mcs_segment *s)
{
	struct mcs_segment p;

	seg_poison(&p);
	return memcmp(s, &p, sizeof(p)) == 0;
}

bool fd_is_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

bool fd_is_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);

	return fl >= 0 && (fl & FD_CLOEXEC);
}

bool fd_on_hugetlbfs(int fd)
{
	struct statfs sfs;

	return fstatfs(fd, &sfs) == 0 &&
	       (unsigned long)sfs.f_type == (unsigned long)HUGETLBFS_MAGIC;
}

/* ---- huge page pool: save, change, always restore --------------------- */

struct hp_pool pool;

int pool_save(void)
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
int pool_restore(void)
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

void pool_restore_at_exit(void)
{
	if (pool.dirty && pool_restore() < 0)
		pool_restore_raw();
}

void pool_restore_on_abort(int sig)
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
void pool_raise(unsigned long want)
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
void pool_starve(void)
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
