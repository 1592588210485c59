/* SPDX-License-Identifier: MIT */
/*
 * Shared-memory segments (see shm.h).
 *
 * A segment is a memfd that is sized once with ftruncate and then sealed
 * against shrinking and growing, so a client that maps it can rely on the
 * size it was told: nobody can truncate the file under its mapping and make
 * it take SIGBUS. Huge pages come from an MFD_HUGETLB memfd. hugetlb
 * reserves the pages of a shared mapping at mmap time, so a shortage shows
 * up as ENOMEM from mmap rather than as SIGBUS on first touch; that is the
 * point where MCS_SEG_HUGE_OR_NORMAL gives up on huge pages and retries with
 * a normal memfd.
 *
 * Error codes beyond what the system calls report:
 *   create  -EINVAL   bad argument; or a huge-page mode with a size that is
 *                     not a multiple of the huge page size. This holds in
 *                     HUGE_OR_NORMAL too: quietly using normal pages would
 *                     hide a configuration mistake the operator can fix.
 *           -ENAMETOOLONG  "mcstore:<name>" does not fit a memfd name.
 *           -ENOMEM   HUGE_ONLY and the system has no huge pages at all
 *                     (otherwise whatever the huge attempt failed with,
 *                     normally -ENOMEM from the reservation).
 *   attach  -EBADF    fd < 0, or not a memfd (not a regular file, or a file
 *                     that cannot carry seals).
 *           -EPERM    a memfd without F_SEAL_SHRINK and F_SEAL_GROW: its
 *                     owner could still shrink it under our mapping.
 *           -EINVAL   size 0, or the file is smaller than size.
 *   send    -EINVAL   an fd with an empty payload (a stream socket carries
 *                     ancillary data only along with at least one byte).
 *   recv    -EPROTO   control data truncated, or more than one fd arrived;
 *                     every fd that did arrive is closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/magic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/uio.h>

#include "common/util.h"
#include "shm/shm.h"

#define MEMFD_PREFIX "mcstore:"
/* memfd_create() rejects names longer than NAME_MAX minus its own "memfd:". */
#define MEMFD_NAME_MAX (255 - 6)

#define REQUIRED_SEALS (F_SEAL_SHRINK | F_SEAL_GROW)

uint64_t mcs_hugepage_size(void)
{
	char line[256];
	uint64_t ret = 0;
	FILE *f;

	f = fopen("/proc/meminfo", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long kb;

		if (sscanf(line, "Hugepagesize: %llu kB", &kb) == 1) {
			if (kb <= UINT64_MAX / 1024)
				ret = (uint64_t)kb * 1024;
			break;
		}
	}
	fclose(f);
	return ret;
}

/* "Key:   123 kB" lines of /proc/meminfo, in bytes (counts for huge pages). */
static void meminfo_field(const char *line, const char *key, bool kb, uint64_t *ret)
{
	size_t n = strlen(key);
	unsigned long long v;
	if (strncmp(line, key, n) != 0 || line[n] != ':' || sscanf(line + n + 1, "%llu", &v) != 1)
		return;
	*ret = kb ? (v <= UINT64_MAX / 1024 ? (uint64_t)v * 1024 : UINT64_MAX) : (uint64_t)v;
}

/* memory.max of the cgroup (v2) this process is in: 0 for none ("max")
 * or when it cannot be read. */
static uint64_t cgroup_memory_max(void)
{
	char line[4096], path[4200], val[64];
	uint64_t ret = 0;
	FILE *f = fopen("/proc/self/cgroup", "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "0::", 3) != 0)
			continue;
		line[strcspn(line, "\n")] = '\0';
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/memory.max", line + 3);
		FILE *m = fopen(path, "re");
		if (m) {
			unsigned long long v;
			if (fgets(val, sizeof(val), m) && sscanf(val, "%llu", &v) == 1)
				ret = v;
			fclose(m);
		}
		break;
	}
	fclose(f);
	return ret;
}

int mcs_mem_info(struct mcs_mem_info *ret)
{
	char line[256];
	struct mcs_mem_info mi = { 0 };
	FILE *f = fopen("/proc/meminfo", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		meminfo_field(line, "MemTotal", true, &mi.total);
		meminfo_field(line, "MemAvailable", true, &mi.available);
		meminfo_field(line, "HugePages_Free", false, &mi.hugepages_free);
		meminfo_field(line, "Hugepagesize", true, &mi.hugepage_size);
	}
	fclose(f);
	mi.cgroup_max = cgroup_memory_max();
	*ret = mi;
	return 0;
}

static uint64_t base_page_size(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (uint64_t)ps : 4096;
}

/* Length to hand to munmap: a hugetlb mapping can only be unmapped in whole
 * huge pages (a shorter length fails with EINVAL and leaks the mapping). */
static size_t map_length(uint64_t size, uint64_t page_size)
{
	if (page_size == 0)
		return (size_t)size;
	return (size_t)MCS_ALIGN_UP(size, page_size);
}

/* One attempt at a mapped, sealed memfd of one page kind. */
static int segment_make(const char *memfd_name, uint64_t size, bool huge, uint64_t page_size,
			bool populate, struct mcs_segment *ret)
{
	unsigned int mfd_flags = MFD_CLOEXEC | MFD_ALLOW_SEALING | (huge ? MFD_HUGETLB : 0);
	_cleanup_close_ int fd = -1;
	void *base;
	int r;

	fd = memfd_create(memfd_name, mfd_flags);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0)
		return -errno;

	/* For hugetlb this is where the pages get reserved (or ENOMEM). */
	base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
		    MAP_SHARED | (populate ? MAP_POPULATE : 0), fd, 0);
	if (base == MAP_FAILED)
		return -errno;

	/* F_SEAL_SEAL too, so nobody can add F_SEAL_WRITE and break writers. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		r = -errno;
		munmap(base, map_length(size, page_size));
		return r;
	}

	*ret = (struct mcs_segment){
		.fd = TAKE_FD(fd),
		.base = base,
		.size = size,
		.hugepages = huge,
		.page_size = page_size,
	};
	return 0;
}

int mcs_segment_create(const char *name, uint64_t size, enum mcs_seg_mode mode, bool populate,
		       struct mcs_segment *ret, bool *ret_fell_back)
{
	char memfd_name[MEMFD_NAME_MAX + 1];
	struct mcs_segment seg;
	uint64_t hp = 0;
	int r;

	if (!name || !ret || size == 0)
		return -EINVAL;
	/* Must fit both the mapping length and ftruncate's off_t. */
	if ((uint64_t)(size_t)size != size || size > (uint64_t)INT64_MAX)
		return -EINVAL;
	if (mode != MCS_SEG_HUGE_OR_NORMAL && mode != MCS_SEG_HUGE_ONLY && mode != MCS_SEG_NORMAL)
		return -EINVAL;
	if (strlen(MEMFD_PREFIX) + strlen(name) > MEMFD_NAME_MAX)
		return -ENAMETOOLONG;
	snprintf(memfd_name, sizeof(memfd_name), "%s%s", MEMFD_PREFIX, name);

	if (mode != MCS_SEG_NORMAL) {
		hp = mcs_hugepage_size();
		if (hp == 0) {
			/* No hugetlb support: nothing to align to, nothing to try. */
			if (mode == MCS_SEG_HUGE_ONLY)
				return -ENOMEM;
		} else if (size % hp != 0) {
			return -EINVAL;
		}
	}

	if (hp != 0) {
		r = segment_make(memfd_name, size, true, hp, populate, &seg);
		if (r == 0) {
			*ret = seg;
			if (ret_fell_back)
				*ret_fell_back = false;
			return 0;
		}
		if (mode == MCS_SEG_HUGE_ONLY)
			return r;
		/* Any failure of the huge attempt (usually the reservation)
		 * is worth a retry with normal pages; a failure that is not
		 * about huge pages will simply repeat and be reported. */
	}

	r = segment_make(memfd_name, size, false, base_page_size(), populate, &seg);
	if (r < 0)
		return r;
	*ret = seg;
	if (ret_fell_back)
		*ret_fell_back = mode == MCS_SEG_HUGE_OR_NORMAL;
	return 0;
}

int mcs_segment_attach(int fd, uint64_t size, struct mcs_segment *ret)
{
	struct stat st;
	struct statfs sfs;
	uint64_t page_size;
	bool huge;
	void *base;
	int seals;

	if (fd < 0)
		return -EBADF;
	if (!ret || size == 0 || (uint64_t)(size_t)size != size)
		return -EINVAL;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EBADF;
	/* Only shmem and hugetlbfs files carry seals; anything else is not
	 * a memfd (EINVAL here). */
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0)
		return errno == EINVAL ? -EBADF : -errno;
	if ((seals & REQUIRED_SEALS) != REQUIRED_SEALS)
		return -EPERM;
	/* mmap does not check the file size: pages past EOF would SIGBUS on
	 * shmem, and a writable hugetlb mapping would even grow the file. */
	if (st.st_size < 0 || (uint64_t)st.st_size < size)
		return -EINVAL;

	if (fstatfs(fd, &sfs) < 0)
		return -errno;
	huge = (unsigned long)sfs.f_type == (unsigned long)HUGETLBFS_MAGIC;
	/* hugetlbfs reports its page size as the block size. */
	page_size = huge && st.st_blksize > 0 ? (uint64_t)st.st_blksize : base_page_size();

	base = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED)
		return -errno;

	*ret = (struct mcs_segment){
		.fd = fd,
		.base = base,
		.size = size,
		.hugepages = huge,
		.page_size = page_size,
	};
	return 0;
}

void mcs_segment_close(struct mcs_segment *s)
{
	int saved_errno = errno;

	if (!s)
		return;
	/* A zeroed struct has fd 0 but owns nothing; a live segment always has
	 * a size, so only then is the fd ours to close. */
	if (s->size > 0 || s->base) {
		if (s->base)
			munmap(s->base, map_length(s->size, s->page_size));
		if (s->fd >= 0)
			close(s->fd);
	}
	*s = (struct mcs_segment){ .fd = -1 };
	errno = saved_errno;
}

ssize_t mcs_send_with_fd(int sock, const void *buf, size_t len, int fd)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctrl;
	size_t done = 0;

	if ((!buf && len > 0) || len > SSIZE_MAX)
		return -EINVAL;
	if (fd >= 0 && len == 0)
		return -EINVAL;

	/* Loop over short sends so a stream peer sees the whole message; the
	 * fd goes with the first chunk only. After an error the stream is out
	 * of step and the caller should drop the connection. */
	do {
		struct iovec iov = {
			.iov_base = (char *)buf + done,
			.iov_len = len - done,
		};
		struct msghdr msg = {
			.msg_iov = &iov,
			.msg_iovlen = 1,
		};
		ssize_t n;

		if (fd >= 0 && done == 0) {
			struct cmsghdr *c;

			memset(&ctrl, 0, sizeof(ctrl));
			msg.msg_control = ctrl.buf;
			msg.msg_controllen = sizeof(ctrl.buf);
			c = CMSG_FIRSTHDR(&msg);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(c), &fd, sizeof(int));
		}

		n = sendmsg(sock, &msg, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		done += (size_t)n;
	} while (done < len);

	return (ssize_t)done;
}

ssize_t mcs_recv_with_fd(int sock, void *buf, size_t len, int *ret_fd)
{
	/* Room for one fd. On 64-bit the padding of CMSG_SPACE lets a second
	 * one through without MSG_CTRUNC, hence the count below. */
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int))];
	} ctrl;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg;
	struct cmsghdr *c;
	bool extra = false;
	int fd = -1;
	ssize_t n;

	if (!ret_fd || (!buf && len > 0))
		return -EINVAL;
	*ret_fd = -1;

	do {
		memset(&ctrl, 0, sizeof(ctrl));
		msg = (struct msghdr){
			.msg_iov = &iov,
			.msg_iovlen = 1,
			.msg_control = ctrl.buf,
			.msg_controllen = sizeof(ctrl.buf),
		};
		n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
	} while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;

	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		size_t nfds, i;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (i = 0; i < nfds; i++) {
			int f;

			memcpy(&f, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (f < 0)
				continue;
			if (fd < 0) {
				fd = f;
			} else {
				close(f);
				extra = true;
			}
		}
	}

	/* The peer broke the one-fd rule: nobody will want what did arrive,
	 * and handing out an fd along with an error invites a leak. */
	if ((msg.msg_flags & MSG_CTRUNC) || extra) {
		if (fd >= 0)
			close(fd);
		return -EPROTO;
	}

	*ret_fd = fd;
	return n;
}
