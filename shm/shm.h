/* SPDX-License-Identifier: MIT */
/*
 * Shared-memory segments: memfds backed by huge pages when they can be had,
 * sealed so no process can shrink or grow them, passed to local clients over
 * a unix socket (SCM_RIGHTS) and mapped there.
 */
#ifndef MCS_SHM_H
#define MCS_SHM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mcs_segment {
	int fd;              /* memfd, CLOEXEC, sealed (F_SEAL_SHRINK|GROW|SEAL) */
	void *base;          /* MAP_SHARED read/write mapping, or NULL */
	uint64_t size;
	bool hugepages;      /* backed by hugetlb pages */
	uint64_t page_size;  /* huge page size if hugepages, else the base page size */
};

enum mcs_seg_mode {
	MCS_SEG_HUGE_OR_NORMAL = 0,  /* try huge pages, fall back to normal pages */
	MCS_SEG_HUGE_ONLY = 1,       /* fail with -ENOMEM when huge pages cannot be had */
	MCS_SEG_NORMAL = 2,          /* never try huge pages */
};

/* Size of the default huge page (from /proc/meminfo), or 0. */
uint64_t mcs_hugepage_size(void);

/* What the machine has, for refusing a segment that cannot fit (bytes;
 * 0 when unknown). */
struct mcs_mem_info {
	uint64_t total;          /* MemTotal */
	uint64_t available;      /* MemAvailable */
	uint64_t hugepages_free; /* a count */
	uint64_t hugepage_size;
	uint64_t cgroup_max;     /* memory.max of our cgroup; 0: no limit */
};
int mcs_mem_info(struct mcs_mem_info *ret);

/* Create a segment of `size` bytes named "mcstore:<name>" (the name shows in
 * /proc/PID/fd). With huge pages the size must be a multiple of the huge page
 * size (else -EINVAL). The segment is mapped and its pages are reserved
 * (hugetlb reservation happens at mmap: a shortage is -ENOMEM there, and
 * MCS_SEG_HUGE_OR_NORMAL then falls back). *ret_fell_back tells the caller
 * to log a warning. Memory is populated lazily unless populate is true. */
int mcs_segment_create(const char *name, uint64_t size, enum mcs_seg_mode mode, bool populate,
		       struct mcs_segment *ret, bool *ret_fell_back);
/* Map a received segment fd (taken on success). Checks the fd is a sealed
 * memfd of at least `size` bytes (fstat + F_GET_SEALS) before mapping it
 * read/write. */
int mcs_segment_attach(int fd, uint64_t size, struct mcs_segment *ret);
/* Unmap and close; resets *s. Safe on a zeroed or already-closed segment. */
void mcs_segment_close(struct mcs_segment *s);

/* Send buf[0..len) with fd as SCM_RIGHTS on a blocking unix socket. */
ssize_t mcs_send_with_fd(int sock, const void *buf, size_t len, int fd);
/* Receive up to len bytes and at most one fd (MSG_CMSG_CLOEXEC). *ret_fd is
 * -1 if none came. Truncated control data closes every received fd and
 * fails with -EPROTO. */
ssize_t mcs_recv_with_fd(int sock, void *buf, size_t len, int *ret_fd);

#endif
