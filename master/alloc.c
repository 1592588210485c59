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
#include <string.h>

#include "common/util.h"
#include "master/alloc.h"

#define SL_LOG2 5
#define SL_COUNT (1u << SL_LOG2)
#define FL_COUNT 64
/* Bigger segments would let size + granule arithmetic overflow. */
#define ALLOC_MAX_SIZE (UINT64_C(1) << 62)

enum block_state {
	BLOCK_SPARE, /* record on the recycle list */
	BLOCK_USED,
	BLOCK_FREE,
};

/* One range, 32 bytes: a master keeps one per stored buffer, tens of
 * millions of them. Records name each other by number (32 bits) rather
 * than by pointer; the state lives in the low bits of the size, which is a
 * multiple of the granule (>= 8). A used range needs its length asked
 * for, a free one its place in its class list: never both. */
struct mcs_block {
	uint64_t off;
	uint64_t size_st;             /* bytes spanned | enum block_state */
	uint32_t prev_phys, next_phys; /* physical neighbours, 0: none */
	union {
		uint64_t len;         /* BLOCK_USED: bytes asked for */
		struct {
			uint32_t prev, next;
		} link;               /* BLOCK_FREE: class list; BLOCK_SPARE: next spare */
	} u;
};
_Static_assert(sizeof(struct mcs_block) == 32, "a block record is 32 bytes");

#define STATE_MASK UINT64_C(3)

/* Records come in slabs, aligned to their size, so that steady-state
 * get/put never calls malloc and a record's number is found from its
 * address: record 0 of every slab is its head (its allocator and number),
 * and record k of slab n is number n * SLAB_RECORDS + k (never 0). */
#define SLAB_BYTES 65536u
#define SLAB_RECORDS (SLAB_BYTES / sizeof(struct mcs_block))
#define SLAB_SHIFT 11
_Static_assert(SLAB_RECORDS == 1u << SLAB_SHIFT, "slab geometry");
#define MAX_SLABS (UINT32_MAX >> SLAB_SHIFT)

struct slab_head {
	const struct mcs_alloc *a;
	uint32_t no;
};
_Static_assert(sizeof(struct slab_head) <= sizeof(struct mcs_block), "a slab's head fits its record 0");

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
	uint32_t heads[FL_COUNT][SL_COUNT];

	uint32_t first; /* range at offset 0: start of the physical chain */
	uint32_t spare;
	struct mcs_block **slabs;
	uint32_t n_slabs, cap_slabs;
};

static inline struct mcs_block *rec(const struct mcs_alloc *a, uint32_t n)
{
	return n ? a->slabs[n >> SLAB_SHIFT] + (n & (SLAB_RECORDS - 1)) : NULL;
}

static inline uint32_t rec_no(const struct mcs_block *b)
{
	uintptr_t base = (uintptr_t)b & ~(uintptr_t)(SLAB_BYTES - 1);
	const struct slab_head *h = (const struct slab_head *)base;
	return (h->no << SLAB_SHIFT) | (uint32_t)(((uintptr_t)b - base) / sizeof(*b));
}

static inline enum block_state st(const struct mcs_block *b) { return (enum block_state)(b->size_st & STATE_MASK); }
static inline uint64_t bsize(const struct mcs_block *b) { return b->size_st & ~STATE_MASK; }
static inline void set_size(struct mcs_block *b, uint64_t size) { b->size_st = size | (b->size_st & STATE_MASK); }
static inline void set_state(struct mcs_block *b, enum block_state s) { b->size_st = bsize(b) | s; }

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

/* A spare record's number, 0 when memory (or numbers) ran out. */
static uint32_t record_get(struct mcs_alloc *a)
{
	if (!a->spare) {
		if (a->n_slabs == MAX_SLABS)
			return 0;
		if (a->n_slabs == a->cap_slabs) {
			uint32_t cap = a->cap_slabs ? (a->cap_slabs >= MAX_SLABS / 2 ? MAX_SLABS : a->cap_slabs * 2) : 4;
			struct mcs_block **v = realloc(a->slabs, cap * sizeof(*v));
			if (!v)
				return 0;
			a->slabs = v;
			a->cap_slabs = cap;
		}
		void *mem;
		if (posix_memalign(&mem, SLAB_BYTES, SLAB_BYTES))
			return 0;
		struct mcs_block *slab = mem;
		uint32_t no = a->n_slabs++;
		a->slabs[no] = slab;
		memset(&slab[0], 0, sizeof(slab[0]));
		*(struct slab_head *)(void *)&slab[0] = (struct slab_head){ a, no };
		/* Thread backwards so records are handed out in address order. */
		for (uint32_t i = SLAB_RECORDS; i-- > 1;) {
			slab[i].size_st = BLOCK_SPARE;
			slab[i].prev_phys = slab[i].next_phys = 0;
			slab[i].u.link.prev = 0;
			slab[i].u.link.next = a->spare;
			a->spare = (no << SLAB_SHIFT) | i;
		}
	}
	uint32_t n = a->spare;
	a->spare = rec(a, n)->u.link.next;
	return n;
}

static void record_put(struct mcs_alloc *a, uint32_t n)
{
	struct mcs_block *b = rec(a, n);
	b->off = 0;
	b->size_st = BLOCK_SPARE;
	b->prev_phys = b->next_phys = 0;
	b->u.link.prev = 0;
	b->u.link.next = a->spare;
	a->spare = n;
}

static void free_list_insert(struct mcs_alloc *a, uint32_t n)
{
	struct mcs_block *b = rec(a, n);
	unsigned fl, sl;
	mapping(bsize(b) >> a->gshift, &fl, &sl);
	uint32_t hn = a->heads[fl][sl];
	struct mcs_block *head = rec(a, hn);

	set_state(b, BLOCK_FREE);
	a->nfree++;
	a->free_bytes += bsize(b);

	if (head && bsize(b) < bsize(head)) {
		/* Keep the bigger range in front, where the fallback and
		 * largest_free look (see the top of the file). */
		b->u.link.prev = hn;
		b->u.link.next = head->u.link.next;
		if (head->u.link.next)
			rec(a, head->u.link.next)->u.link.prev = n;
		head->u.link.next = n;
		return;
	}
	b->u.link.prev = 0;
	b->u.link.next = hn;
	if (head)
		head->u.link.prev = n;
	a->heads[fl][sl] = n;
	a->sl_bitmap[fl] |= UINT32_C(1) << sl;
	a->fl_bitmap |= UINT64_C(1) << fl;
}

static void free_list_remove(struct mcs_alloc *a, uint32_t n)
{
	struct mcs_block *b = rec(a, n);
	unsigned fl, sl;
	mapping(bsize(b) >> a->gshift, &fl, &sl);
	uint32_t prev = b->u.link.prev, next = b->u.link.next;

	if (next)
		rec(a, next)->u.link.prev = prev;
	if (prev)
		rec(a, prev)->u.link.next = next;
	else {
		a->heads[fl][sl] = next;
		if (!next) {
			a->sl_bitmap[fl] &= ~(UINT32_C(1) << sl);
			if (!a->sl_bitmap[fl])
				a->fl_bitmap &= ~(UINT64_C(1) << fl);
		}
	}
	b->u.link.prev = b->u.link.next = 0;
	a->nfree--;
	a->free_bytes -= bsize(b);
}

/* Head of the first non-empty list at class (fl, sl) or above, or 0. */
static uint32_t find_suitable(const struct mcs_alloc *a, unsigned fl, unsigned sl)
{
	uint32_t sl_map = a->sl_bitmap[fl] & (~UINT32_C(0) << sl);
	if (!sl_map) {
		if (fl + 1 >= FL_COUNT)
			return 0;
		uint64_t fl_map = a->fl_bitmap & (~UINT64_C(0) << (fl + 1));
		if (!fl_map)
			return 0;
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

	uint32_t n = record_get(a);
	if (!n) {
		mcs_alloc_free(a);
		return -ENOMEM;
	}
	struct mcs_block *b = rec(a, n);
	b->off = 0;
	b->size_st = size | BLOCK_FREE;
	b->prev_phys = b->next_phys = 0;
	a->first = n;
	free_list_insert(a, n);
	*ret = a;
	return 0;
}

struct mcs_alloc *mcs_alloc_free(struct mcs_alloc *a)
{
	if (!a)
		return NULL;
	/* Every record, allocated ones included, lives in a slab. */
	for (uint32_t i = 0; i < a->n_slabs; i++)
		free(a->slabs[i]);
	free(a->slabs);
	free(a);
	return NULL;
}

/* Record n, out of the free lists, keeps its first need bytes; rest, a
 * record from record_get, becomes the free range after them. */
static void split_tail(struct mcs_alloc *a, uint32_t n, uint64_t need, uint32_t rest)
{
	struct mcs_block *b = rec(a, n), *r = rec(a, rest);
	r->off = b->off + need;
	r->size_st = (bsize(b) - need) | BLOCK_FREE;
	r->prev_phys = n;
	r->next_phys = b->next_phys;
	if (b->next_phys)
		rec(a, b->next_phys)->prev_phys = rest;
	b->next_phys = rest;
	set_size(b, need);
	free_list_insert(a, rest);
}

/* Record n, free and out of the lists, is allocated for len bytes. */
static struct mcs_block *take(struct mcs_alloc *a, uint32_t n, uint64_t len)
{
	struct mcs_block *b = rec(a, n);
	set_state(b, BLOCK_USED);
	b->u.len = len;
	a->used += bsize(b);
	a->count++;
	return b;
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
	uint32_t n = find_suitable(a, fl, sl);
	if (!n) {
		mapping(u, &fl, &sl);
		uint32_t head = a->heads[fl][sl];
		if (head && bsize(rec(a, head)) >= need)
			n = head;
	}
	if (!n)
		return NULL;

	if (bsize(rec(a, n)) > need) {
		/* Take the record for the remainder before changing anything,
		 * so running out of memory leaves the allocator untouched. */
		uint32_t rest = record_get(a);
		if (!rest)
			return NULL;
		free_list_remove(a, n);
		split_tail(a, n, need, rest);
	} else
		free_list_remove(a, n);
	return take(a, n, len);
}

int mcs_alloc_reserve(struct mcs_alloc *a, uint64_t off, uint64_t len, const struct mcs_block *hint,
		      struct mcs_block **ret)
{
	if (!a || !ret || len == 0 || len > a->size || off > a->size - len || (off & (a->granule - 1)))
		return -EINVAL;
	uint64_t need = MCS_ALIGN_UP(len, a->granule); /* off + need <= size: size is granular */
	uint32_t n = a->first;
	if (hint && st(hint) != BLOCK_SPARE && hint->off <= off)
		n = rec_no(hint); /* a record of a, in its chain */
	struct mcs_block *b = rec(a, n);
	while (b && b->off + bsize(b) <= off) {
		n = b->next_phys;
		b = rec(a, n);
	}
	/* free ranges are never adjacent: one that ends before off + need
	 * is followed by an allocated one */
	if (!b || st(b) != BLOCK_FREE || off + need > b->off + bsize(b))
		return -EEXIST;
	uint32_t front = 0, rest = 0;
	if (off > b->off && !(front = record_get(a)))
		return -ENOMEM;
	if (off + need < b->off + bsize(b) && !(rest = record_get(a))) {
		if (front)
			record_put(a, front);
		return -ENOMEM;
	}
	b = rec(a, n); /* record_get may have grown the slab table, not moved records */
	free_list_remove(a, n);
	if (front) {
		struct mcs_block *f = rec(a, front);
		f->off = b->off;
		f->size_st = (off - b->off) | BLOCK_FREE;
		f->prev_phys = b->prev_phys;
		f->next_phys = n;
		if (b->prev_phys)
			rec(a, b->prev_phys)->next_phys = front;
		else
			a->first = front;
		b->prev_phys = front;
		b->off = off;
		set_size(b, bsize(b) - bsize(f));
		free_list_insert(a, front);
	}
	if (rest)
		split_tail(a, n, need, rest);
	*ret = take(a, n, len);
	return 0;
}

void mcs_alloc_put(struct mcs_alloc *a, struct mcs_block *b)
{
	if (!a || !b)
		return;
	/* A double put of a record not yet reused is harmless; a reused
	 * one cannot be told apart, which is the caller's bug. */
	if (st(b) != BLOCK_USED)
		return;
	uint32_t n = rec_no(b);
	a->used -= bsize(b);
	a->count--;
	b->u.len = 0;

	struct mcs_block *prev = rec(a, b->prev_phys);
	if (prev && st(prev) == BLOCK_FREE) {
		uint32_t pn = b->prev_phys;
		free_list_remove(a, pn);
		set_size(prev, bsize(prev) + bsize(b));
		prev->next_phys = b->next_phys;
		if (b->next_phys)
			rec(a, b->next_phys)->prev_phys = pn;
		record_put(a, n);
		n = pn;
		b = prev;
	}
	struct mcs_block *next = rec(a, b->next_phys);
	if (next && st(next) == BLOCK_FREE) {
		uint32_t nn = b->next_phys;
		free_list_remove(a, nn);
		set_size(b, bsize(b) + bsize(next));
		b->next_phys = next->next_phys;
		if (next->next_phys)
			rec(a, next->next_phys)->prev_phys = n;
		record_put(a, nn);
	}
	free_list_insert(a, n);
}

uint64_t mcs_block_offset(const struct mcs_block *b)
{
	return b->off;
}

uint64_t mcs_block_len(const struct mcs_block *b)
{
	return st(b) == BLOCK_USED ? b->u.len : 0;
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
	return bsize(rec(a, a->heads[fl][sl]));
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
	CHECK(a->n_slabs >= 1 && a->n_slabs <= a->cap_slabs);
	for (uint32_t i = 0; i < a->n_slabs; i++) {
		const struct slab_head *h = (const void *)a->slabs[i];
		CHECK(((uintptr_t)a->slabs[i] & (SLAB_BYTES - 1)) == 0);
		CHECK(h->a == a && h->no == i);
	}
	const struct mcs_block *first = rec(a, a->first);
	CHECK(first && first->off == 0 && !first->prev_phys);

	/* Physical chain: contiguous, aligned, no two free ranges adjacent.
	 * Every range has its own record, so it has at most size/granule
	 * links; more means a cycle. */
	uint64_t max_ranges = a->size >> a->gshift;
	uint64_t used = 0, count = 0, free_bytes = 0, nfree = 0, steps = 0;
	uint64_t end = 0;
	uint32_t prev = 0;
	for (uint32_t n = a->first; n; prev = n, n = rec(a, n)->next_phys) {
		const struct mcs_block *b = rec(a, n);
		CHECK(++steps <= max_ranges);
		CHECK(rec_no(b) == n);
		CHECK(b->prev_phys == prev);
		CHECK(b->off == end);
		CHECK(bsize(b) > 0 && (bsize(b) & (a->granule - 1)) == 0);
		CHECK(bsize(b) <= a->size - b->off);
		end = b->off + bsize(b);
		if (st(b) == BLOCK_USED) {
			CHECK(b->u.len > 0 && b->u.len <= bsize(b));
			CHECK(MCS_ALIGN_UP(b->u.len, a->granule) == bsize(b));
			used += bsize(b);
			count++;
		} else {
			CHECK(st(b) == BLOCK_FREE);
			CHECK(!prev || st(rec(a, prev)) != BLOCK_FREE);
			free_bytes += bsize(b);
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
			uint32_t head = a->heads[fl][sl];
			CHECK(!!(a->sl_bitmap[fl] & (UINT32_C(1) << sl)) == !!head);
			uint32_t p = 0;
			for (uint32_t n = head; n; p = n, n = rec(a, n)->u.link.next) {
				const struct mcs_block *b = rec(a, n);
				CHECK(++listed <= nfree);
				CHECK(st(b) == BLOCK_FREE);
				CHECK(b->u.link.prev == p);
				unsigned bfl, bsl;
				mapping(bsize(b) >> a->gshift, &bfl, &bsl);
				CHECK(bfl == fl && bsl == sl);
				listed_bytes += bsize(b);
			}
		}
	}
	CHECK(listed == nfree && listed_bytes == free_bytes);

	/* Spare records must not still point into the chain or lists, and
	 * every record is in the chain or spare. */
	steps = 0;
	for (uint32_t n = a->spare; n; n = rec(a, n)->u.link.next) {
		const struct mcs_block *b = rec(a, n);
		CHECK(st(b) == BLOCK_SPARE && !b->prev_phys && !b->next_phys);
		CHECK(++steps <= (uint64_t)a->n_slabs * SLAB_RECORDS);
	}
	CHECK(steps + count + nfree == (uint64_t)a->n_slabs * (SLAB_RECORDS - 1));
	return 0;
}
