/* SPDX-License-Identifier: MIT */
/*
 * Segment space allocator for the master: hands out [offset, offset+len)
 * ranges of a segment it never touches (the memory lives on the node), so
 * all bookkeeping is external to the managed space.
 *
 * Two-level segregated fit (TLSF): free ranges are kept in lists indexed by
 * (power-of-two class, 1/32 sub-class) with bitmaps, so allocation and free
 * are O(1); physical neighbours are merged on free, which keeps
 * fragmentation low for the 4 KiB .. 64 MiB values of a KV cache.
 * Sizes are rounded up to the allocator's granule (a power of two, default
 * 64 bytes) and every returned offset is a multiple of it.
 */
#ifndef MCS_ALLOC_H
#define MCS_ALLOC_H

#include <stdbool.h>
#include <stdint.h>

struct mcs_alloc;
struct mcs_block;   /* opaque: one allocated range */

/* Manage [0, size). granule: power of two >= 8, 0 for 64. */
int mcs_alloc_new(uint64_t size, uint64_t granule, struct mcs_alloc **ret);
/* Frees all bookkeeping, allocated blocks included. NULL ok, returns NULL. */
struct mcs_alloc *mcs_alloc_free(struct mcs_alloc *a);

/* Allocate len bytes (len > 0). NULL when no free range is large enough. */
struct mcs_block *mcs_alloc_get(struct mcs_alloc *a, uint64_t len);
/* Allocate exactly [off, off + len) (len rounded up to the granule), all
 * of which must be free: how a master that rebuilds its tables from what
 * the nodes report takes back the space of the objects they hold. The walk
 * to off starts at hint when it is a block of a at or before off (the one
 * reserved last, when ranges come in ascending order: O(1) each), else at
 * offset 0. 0 and *ret; -EINVAL when off is not a multiple of the granule
 * or the range passes the end, -EEXIST when some of it is allocated,
 * -ENOMEM (the allocator is then as it was). */
int mcs_alloc_reserve(struct mcs_alloc *a, uint64_t off, uint64_t len, const struct mcs_block *hint,
		      struct mcs_block **ret);
/* Return a block to the allocator. NULL ok. */
void mcs_alloc_put(struct mcs_alloc *a, struct mcs_block *b);

uint64_t mcs_block_offset(const struct mcs_block *b);
uint64_t mcs_block_len(const struct mcs_block *b);   /* len as asked */

uint64_t mcs_alloc_size(const struct mcs_alloc *a);
uint64_t mcs_alloc_used(const struct mcs_alloc *a);        /* rounded bytes allocated */
uint64_t mcs_alloc_count(const struct mcs_alloc *a);       /* blocks allocated */
/* Largest single allocation that would succeed right now (O(1)). */
uint64_t mcs_alloc_largest_free(const struct mcs_alloc *a);
/* 1 - largest_free / total_free, in [0,1]; 0 when nothing is free. */
double mcs_alloc_fragmentation(const struct mcs_alloc *a);
/* Walk every range, check invariants (no overlap, neighbours of a free range
 * are allocated, lists and bitmaps agree). 0 or -EUCLEAN. For tests. */
int mcs_alloc_check(const struct mcs_alloc *a);

#endif
