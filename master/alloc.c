/* SPDX-License-Identifier: MIT */
/*
 * Segment space allocator: two-level segregated fit over offsets.
 *
 * The master hands out ranges of a node's shared-memory segment without ever
 * mapping it, so every range (allocated or free) is described by a small
 * record allocated here, never by a header inside the managed space.
 *
 * Sizes are handled in granules (u = bytes >> gshift). A free range of u
 * granules lives in the list of class (fl, sl):
 *   u < 32:  fl = 0, sl = u                        (one exact size per list)
 *   u >= 32: fl = log2(u) - 4, sl = next 5 bits of u below the top bit
 * so a class spans [lo, lo + 2^(log2(u)-5)) granules, i.e. 1/32 of its
 * power of two. One bit per non-empty first level and one per non-empty
 * list in that level let a search find the next non-empty class with two
 * find-first-set instructions: allocation and free are O(1).
 *
 * Search policy (good fit): the request is rounded up to the next class
 * boundary, so the head of any list found from there fits without looking
 * at it. If nothing is found, the head of the request's own class is tried,
 * which matters for requests near the top of the largest class present.
 * Guarantee: a request of u granules succeeds whenever some free range has
 * at least round_to_class(u) granules, which is at most u + u/32.
 *
 * Free ranges are merged with their physical neighbours immediately, so
 * two free ranges are never adjacent.
 *
 * mcs_alloc_largest_free() is exact and O(1): it returns the size of the
 * head of the highest non-empty list. By the policy above that is exactly
 * the largest request that would succeed now (anything larger needs either
 * a higher non-empty class, of which there is none, or a larger head). It
 * can be smaller than the largest free range when that range sits behind
 * the head of the same list; insertion keeps the larger of the new range
 * and the old head at the head to make that rare.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "master/alloc.h"

#define SL_LOG2 5
#define SL_COUNT (1u << SL_LOG2)
#define FL_COUNT 64
/* Bigger segments would let size + granule arithmetic overflow. */
#define ALLOC_MAX_SIZE (UINT64_C(1) << 62)
#define SLAB_RECORDS 1024

enum block_state {
	BLOCK_SPARE, /* record on the recycle list */
	BLOCK_USED,
	BLOCK_FREE,
};

struct mcs_block {
	uint64_t off;
	uint64_t size; /* bytes spanned, a multiple of the granule */
	uint64_t len;  /* bytes asked for; 0 while free */
	struct mcs_block *prev_phys, *next_phys;
	/* Class list while free; next_free also links the spare records. */
	struct mcs_block *prev_free, *next_free;
	enum block_state state;
};

/* Records come in slabs so that steady-state get/put never calls malloc. */
struct slab {
	struct slab *next;
	struct mcs_block rec[SLAB_RECORDS];
};

struct mcs_alloc {
	uint64_t size; /* managed bytes, a multiple of the granule */
	uint64_t granule;
	unsigned gshift;

	uint64_t used;       /* rounded bytes in allocated ranges */
	uint64_t count;      /* allocated ranges */
	uint64_t free_bytes; /* bytes in free ranges */
	uint64_t nfree;      /* free ranges */

	uint64_t fl_bitmap;
	uint32_t sl_bitmap[FL_COUNT];
	struct mcs_block *heads[FL_COUNT][SL_COUNT];

	struct mcs_block *first; /* range at offset 0: start of the physical chain */
	struct mcs_block *spare;
	struct slab *slabs;
};

static inline unsigned ilog2_u64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

static inline unsigned ilog2_u32(uint32_t v)
{
	return 31u - (unsigned)__builtin_clz(v);
}

/* The class holding a range of u granules (u >= 1). */
static inline void mapping(uint64_t u, unsigned *fl, unsigned *sl)
{
	if (u < SL_COUNT) {
		*fl = 0;
		*sl = (unsigned)u;
		return;
	}
	unsigned f = ilog2_u64(u);
	*fl = f - SL_LOG2 + 1;
	*sl = (unsigned)(u >> (f - SL_LOG2)) - SL_COUNT;
}

/* Smallest class boundary >= u: every range in that class or above holds u. */
static inline uint64_t round_to_class(uint64_t u)
{
	if (u < SL_COUNT)
		return u;
	uint64_t w = UINT64_C(1) << (ilog2_u64(u) - SL_LOG2);
	return (u + w - 1) & ~(w - 1);
}

static struct mcs_block *record_get(struct mcs_alloc *a)
{
	if (!a->spare) {
		struct slab *s = malloc(sizeof(*s));
		if (!s)
			return NULL;
		s->next = a->slabs;
		a->slabs = s;
		/* Thread backwards so records are handed out in address order. */
		for (size_t i = SLAB_RECORDS; i-- > 0;) {
			s->rec[i].state = BLOCK_SPARE;
			s->rec[i].next_free = a->spare;
			a->spare = &s->rec[i];
		}
	}
	struct mcs_block *b = a->spare;
	a->spare = b->next_free;
	return b;
}

static void record_put(struct mcs_alloc *a, struct mcs_block *b)
{
	b->state = BLOCK_SPARE;
	b->prev_phys = b->next_phys = b->prev_free = NULL;
	b->next_free = a->spare;
	a->spare = b;
}

static void free_list_insert(struct mcs_alloc *a, struct mcs_block *b)
{
	unsigned fl, sl;
	mapping(b->size >> a->gshift, &fl, &sl);
	struct mcs_block *head = a->heads[fl][sl];

	b->state = BLOCK_FREE;
	b->len = 0;
	a->nfree++;
	a->free_bytes += b->size;

	if (head && b->size < head->size) {
		/* Keep the bigger range in front, where the fallback and
		 * largest_free look (see the top of the file). */
		b->prev_free = head;
		b->next_free = head->next_free;
		if (head->next_free)
			head->next_free->prev_free = b;
		head->next_free = b;
		return;
	}
	b->prev_free = NULL;
	b->next_free = head;
	if (head)
		head->prev_free = b;
	a->heads[fl][sl] = b;
	a->sl_bitmap[fl] |= UINT32_C(1) << sl;
	a->fl_bitmap |= UINT64_C(1) << fl;
}

static void free_list_remove(struct mcs_alloc *a, struct mcs_block *b)
{
	unsigned fl, sl;
	mapping(b->size >> a->gshift, &fl, &sl);

	if (b->next_free)
		b->next_free->prev_free = b->prev_free;
	if (b->prev_free)
		b->prev_free->next_free = b->next_free;
	else {
		a->heads[fl][sl] = b->next_free;
		if (!b->next_free) {
			a->sl_bitmap[fl] &= ~(UINT32_C(1) << sl);
			if (!a->sl_bitmap[fl])
				a->fl_bitmap &= ~(UINT64_C(1) << fl);
		}
	}
	b->prev_free = b->next_free = NULL;
	a->nfree--;
	a->free_bytes -= b->size;
}

/* Head of the first non-empty list at class (fl, sl) or above, or NULL. */
static struct mcs_block *find_suitable(const struct mcs_alloc *a, unsigned fl, unsigned sl)
{
	uint32_t sl_map = a->sl_bitmap[fl] & (~UINT32_C(0) << sl);
	if (!sl_map) {
		if (fl + 1 >= FL_COUNT)
			return NULL;
		uint64_t fl_map = a->fl_bitmap & (~UINT64_C(0) << (fl + 1));
		if (!fl_map)
			return NULL;
		fl = (unsigned)__builtin_ctzll(fl_map);
		sl_map = a->sl_bitmap[fl];
	}
	return a->heads[fl][__builtin_ctz(sl_map)];
}

int mcs_alloc_new(uint64_t size, uint64_t granule, struct mcs_alloc **ret)
{
	if (!ret)
		return -EINVAL;
	if (granule == 0)
		granule = 64;
	if (granule < 8 || (granule & (granule - 1)) || size > ALLOC_MAX_SIZE)
		return -EINVAL;
	/* A tail shorter than a granule could never be handed out. */
	size &= ~(granule - 1);
	if (size == 0)
		return -EINVAL;

	struct mcs_alloc *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->size = size;
	a->granule = granule;
	a->gshift = ilog2_u64(granule);

	struct mcs_block *b = record_get(a);
	if (!b) {
		free(a);
		return -ENOMEM;
	}
	b->off = 0;
	b->size = size;
	b->prev_phys = b->next_phys = NULL;
	a->first = b;
	free_list_insert(a, b);
	*ret = a;
	return 0;
}

struct mcs_alloc *mcs_alloc_free(struct mcs_alloc *a)
{
	if (!a)
		return NULL;
	/* Every record, allocated ones included, lives in a slab. */
	struct slab *s = a->slabs;
	while (s) {
		struct slab *next = s->next;
		free(s);
		s = next;
	}
	free(a);
	return NULL;
}

/* b, out of the free lists, keeps its first need bytes; rest, a record
 * from record_get, becomes the free range after them. */
static void split_tail(struct mcs_alloc *a, struct mcs_block *b, uint64_t need, struct mcs_block *rest)
{
	rest->off = b->off + need;
	rest->size = b->size - need;
	rest->prev_phys = b;
	rest->next_phys = b->next_phys;
	if (b->next_phys)
		b->next_phys->prev_phys = rest;
	b->next_phys = rest;
	b->size = need;
	free_list_insert(a, rest);
}

struct mcs_block *mcs_alloc_get(struct mcs_alloc *a, uint64_t len)
{
	if (!a || len == 0 || len > a->size)
		return NULL;
	/* No overflow: len <= size <= 2^62 and granule <= size. */
	uint64_t need = MCS_ALIGN_UP(len, a->granule);
	uint64_t u = need >> a->gshift;
	unsigned fl, sl;

	mapping(round_to_class(u), &fl, &sl);
	struct mcs_block *b = find_suitable(a, fl, sl);
	if (!b) {
		mapping(u, &fl, &sl);
		struct mcs_block *head = a->heads[fl][sl];
		if (head && head->size >= need)
			b = head;
	}
	if (!b)
		return NULL;

	if (b->size > need) {
		/* Take the record for the remainder before changing anything,
		 * so running out of memory leaves the allocator untouched. */
		struct mcs_block *rest = record_get(a);
		if (!rest)
			return NULL;
		free_list_remove(a, b);
		split_tail(a, b, need, rest);
	} else
		free_list_remove(a, b);

	b->state = BLOCK_USED;
	b->len = len;
	a->used += b->size;
	a->count++;
	return b;
}

int mcs_alloc_reserve(struct mcs_alloc *a, uint64_t off, uint64_t len, const struct mcs_block *hint,
		      struct mcs_block **ret)
{
	if (!a || !ret || len == 0 || len > a->size || off > a->size - len || (off & (a->granule - 1)))
		return -EINVAL;
	uint64_t need = MCS_ALIGN_UP(len, a->granule); /* off + need <= size: size is granular */
	struct mcs_block *b = a->first;
	if (hint && hint->state != BLOCK_SPARE && hint->off <= off)
		b = (struct mcs_block *)hint; /* a record of a, in its chain */
	while (b && b->off + b->size <= off)
		b = b->next_phys;
	/* free ranges are never adjacent: one that ends before off + need
	 * is followed by an allocated one */
	if (!b || b->state != BLOCK_FREE || off + need > b->off + b->size)
		return -EEXIST;
	struct mcs_block *front = NULL, *rest = NULL;
	if (off > b->off && !(front = record_get(a)))
		return -ENOMEM;
	if (off + need < b->off + b->size && !(rest = record_get(a))) {
		if (front)
			record_put(a, front);
		return -ENOMEM;
	}
	free_list_remove(a, b);
	if (front) {
		front->off = b->off;
		front->size = off - b->off;
		front->prev_phys = b->prev_phys;
		front->next_phys = b;
		if (b->prev_phys)
			b->prev_phys->next_phys = front;
		else
			a->first = front;
		b->prev_phys = front;
		b->off = off;
		b->size -= front->size;
		free_list_insert(a, front);
	}
	if (rest)
		split_tail(a, b, need, rest);
	b->state = BLOCK_USED;
	b->len = len;
	a->used += b->size;
	a->count++;
	*ret = b;
	return 0;
}

void mcs_alloc_put(struct mcs_alloc *a, struct mcs_block *b)
{
	if (!a || !b)
		return;
	/* A double put of a record not yet reused is harmless; a reused
	 * one cannot be told apart, which is the caller's bug. */
	if (b->state != BLOCK_USED)
		return;
	a->used -= b->size;
	a->count--;

	struct mcs_block *prev = b->prev_phys;
	if (prev && prev->state == BLOCK_FREE) {
		free_list_remove(a, prev);
		prev->size += b->size;
		prev->next_phys = b->next_phys;
		if (b->next_phys)
			b->next_phys->prev_phys = prev;
		record_put(a, b);
		b = prev;
	}
	struct mcs_block *next = b->next_phys;
	if (next && next->state == BLOCK_FREE) {
		free_list_remove(a, next);
		b->size += next->size;
		b->next_phys = next->next_phys;
		if (next->next_phys)
			next->next_phys->prev_phys = b;
		record_put(a, next);
	}
	free_list_insert(a, b);
}

uint64_t mcs_block_offset(const struct mcs_block *b)
{
	return b->off;
}

uint64_t mcs_block_len(const struct mcs_block *b)
{
	return b->len;
}

uint64_t mcs_alloc_size(const struct mcs_alloc *a)
{
	return a->size;
}

uint64_t mcs_alloc_used(const struct mcs_alloc *a)
{
	return a->used;
}

uint64_t mcs_alloc_count(const struct mcs_alloc *a)
{
	return a->count;
}

uint64_t mcs_alloc_largest_free(const struct mcs_alloc *a)
{
	if (!a->fl_bitmap)
		return 0;
	unsigned fl = ilog2_u64(a->fl_bitmap);
	unsigned sl = ilog2_u32(a->sl_bitmap[fl]);
	return a->heads[fl][sl]->size;
}

double mcs_alloc_fragmentation(const struct mcs_alloc *a)
{
	if (a->free_bytes == 0)
		return 0.0;
	return 1.0 - (double)mcs_alloc_largest_free(a) / (double)a->free_bytes;
}

/* Report the first broken invariant: this only runs in tests, where knowing
 * which one failed saves a debugging session. */
#define CHECK(cond)                                                                      \
	do {                                                                             \
		if (mcs_unlikely(!(cond))) {                                             \
			fprintf(stderr, "mcs_alloc_check: %s:%d: %s\n", __FILE__, __LINE__, \
				#cond);                                                  \
			return -EUCLEAN;                                                 \
		}                                                                        \
	} while (0)

int mcs_alloc_check(const struct mcs_alloc *a)
{
	CHECK(a);
	CHECK(a->granule >= 8 && (a->granule & (a->granule - 1)) == 0);
	CHECK(a->granule == UINT64_C(1) << a->gshift);
	CHECK(a->first && a->first->off == 0 && !a->first->prev_phys);

	/* Physical chain: contiguous, aligned, no two free ranges adjacent.
	 * Every range has its own record, so it has at most size/granule
	 * links; more means a cycle. */
	uint64_t max_ranges = a->size >> a->gshift;
	uint64_t used = 0, count = 0, free_bytes = 0, nfree = 0, steps = 0;
	uint64_t end = 0;
	const struct mcs_block *prev = NULL;
	for (const struct mcs_block *b = a->first; b; prev = b, b = b->next_phys) {
		CHECK(++steps <= max_ranges);
		CHECK(b->prev_phys == prev);
		CHECK(b->off == end);
		CHECK(b->size > 0 && (b->size & (a->granule - 1)) == 0);
		CHECK(b->size <= a->size - b->off);
		end = b->off + b->size;
		if (b->state == BLOCK_USED) {
			CHECK(b->len > 0 && b->len <= b->size);
			CHECK(MCS_ALIGN_UP(b->len, a->granule) == b->size);
			used += b->size;
			count++;
		} else {
			CHECK(b->state == BLOCK_FREE);
			CHECK(!prev || prev->state != BLOCK_FREE);
			CHECK(b->len == 0);
			free_bytes += b->size;
			nfree++;
		}
	}
	CHECK(end == a->size);
	CHECK(used == a->used && count == a->count);
	CHECK(free_bytes == a->free_bytes && nfree == a->nfree);
	CHECK(used + free_bytes == a->size);

	/* Lists and bitmaps: a bit is set exactly for the non-empty lists,
	 * each listed range is free and in its own class, and together the
	 * lists hold every free range of the chain. */
	uint64_t listed = 0, listed_bytes = 0;
	for (unsigned fl = 0; fl < FL_COUNT; fl++) {
		CHECK(!!(a->fl_bitmap & (UINT64_C(1) << fl)) == !!a->sl_bitmap[fl]);
		for (unsigned sl = 0; sl < SL_COUNT; sl++) {
			const struct mcs_block *head = a->heads[fl][sl];
			CHECK(!!(a->sl_bitmap[fl] & (UINT32_C(1) << sl)) == !!head);
			const struct mcs_block *p = NULL;
			for (const struct mcs_block *b = head; b; p = b, b = b->next_free) {
				CHECK(++listed <= nfree);
				CHECK(b->state == BLOCK_FREE);
				CHECK(b->prev_free == p);
				unsigned bfl, bsl;
				mapping(b->size >> a->gshift, &bfl, &bsl);
				CHECK(bfl == fl && bsl == sl);
				listed_bytes += b->size;
			}
		}
	}
	CHECK(listed == nfree && listed_bytes == free_bytes);

	/* Spare records must not still point into the chain or lists. */
	steps = 0;
	for (const struct mcs_block *b = a->spare; b; b = b->next_free) {
		CHECK(b->state == BLOCK_SPARE);
		CHECK(++steps <= max_ranges + SLAB_RECORDS);
	}
	return 0;
}
