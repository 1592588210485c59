/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the master's segment allocator (master/alloc.c).
 *
 * Besides fixed scenarios, random workloads are replayed against a
 * reference model: a sorted array of the allocated ranges. The model says
 * what is really free, so it can check that ranges never overlap, that the
 * counters are right, and that a request fails only when TLSF is allowed to
 * fail it:
 *
 *   A request of len bytes is u = ceil(len / granule) granules. Let R(u) be
 *   u rounded up to its class boundary: u itself below 32 granules,
 *   otherwise u rounded up to a multiple of 2^(floor(log2 u) - 5). The
 *   allocator guarantees success when some free gap has >= R(u) granules
 *   (R(u) <= u + u/32), and of course fails when no gap has u.
 *   largest_free lies between the lower bound of the largest gap's class
 *   and the largest gap, and it is exactly the largest request that works.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "master/alloc.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)
#define TiB (UINT64_C(1) << 40)

/* A passing ck_assert reports its line to the runner through a file, a
 * system call each; hot loops use these, which call Check only to fail. */
#define REQUIRE(expr)                                                                    \
	do {                                                                             \
		if (mcs_unlikely(!(expr)))                                               \
			ck_abort_msg("Assertion '%s' failed", #expr);                    \
	} while (0)
#define REQUIRE_U64(x, op, y)                                                            \
	do {                                                                             \
		uint64_t _x = (x), _y = (y);                                             \
		if (mcs_unlikely(!(_x op _y)))                                           \
			ck_abort_msg("Assertion '%s %s %s' failed: %" PRIu64 " vs %" PRIu64, \
				     #x, #op, #y, _x, _y);                               \
	} while (0)

/* xorshift64*: deterministic per seed, good enough for workloads. */
static uint64_t rng_next(uint64_t *s)
{
	uint64_t x = *s;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

static uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return rng_next(s) % n;
}

static uint64_t rng_seed(uint64_t seed)
{
	return seed * UINT64_C(0x9E3779B97F4A7C15) + 1;
}

/* Value sizes seen by a KV cache: a tenth tiny values, a third the usual
 * power-of-two block sizes, the rest spread log-uniformly over 4 KiB..64 MiB. */
static uint64_t kv_size(uint64_t *s, uint64_t max)
{
	static const uint64_t common[] = {
		4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, 512 * KiB, 1 * MiB,
		2 * MiB, 4 * MiB,  8 * MiB,  16 * MiB,  32 * MiB,  64 * MiB,
	};
	uint64_t v, p = rng_below(s, 100);
	if (p < 10)
		v = 1 + rng_below(s, 4096);
	else if (p < 40)
		v = common[rng_below(s, MCS_ARRAY_SIZE(common))];
	else {
		unsigned e = 12 + (unsigned)rng_below(s, 14);
		v = (UINT64_C(1) << e) + rng_below(s, UINT64_C(1) << e);
	}
	/* Keep the distribution's shape in smaller segments. */
	if (v > max)
		v = 1 + v % max;
	return v;
}

/* R(u) of the header comment, in granules. */
static uint64_t class_round(uint64_t u)
{
	if (u < 32)
		return u;
	uint64_t w = UINT64_C(1) << (63 - __builtin_clzll(u) - 5);
	return (u + w - 1) & ~(w - 1);
}

/* Lower bound of the class holding u granules. */
static uint64_t class_floor(uint64_t u)
{
	if (u < 32)
		return u;
	uint64_t w = UINT64_C(1) << (63 - __builtin_clzll(u) - 5);
	return u & ~(w - 1);
}

/* --- reference model --------------------------------------------------- */

struct range {
	uint64_t off, end; /* end = off + len rounded to the granule */
	struct mcs_block *b;
};

struct model {
	struct mcs_alloc *a;
	uint64_t size, granule;
	uint64_t used;
	size_t n, cap;
	struct range *r;
};

static void model_init(struct model *m, uint64_t size, uint64_t granule)
{
	memset(m, 0, sizeof(*m));
	ck_assert_int_eq(mcs_alloc_new(size, granule, &m->a), 0);
	m->size = mcs_alloc_size(m->a);
	m->granule = granule;
}

static void model_done(struct model *m)
{
	m->a = mcs_alloc_free(m->a);
	free(m->r);
	m->r = NULL;
}

/* First index whose range starts at or after off. */
static size_t model_find(const struct model *m, uint64_t off)
{
	size_t lo = 0, hi = m->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (m->r[mid].off < off)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Record a fresh block, checking it against everything the model knows. */
static void model_add(struct model *m, struct mcs_block *b, uint64_t len)
{
	uint64_t off = mcs_block_offset(b);
	uint64_t end = off + MCS_ALIGN_UP(len, m->granule);
	REQUIRE_U64(mcs_block_len(b), ==, len);
	REQUIRE_U64(off % m->granule, ==, 0);
	REQUIRE_U64(end, <=, m->size);
	REQUIRE_U64(end, >, off);

	/* no overlap with the neighbours in address order */
	size_t i = model_find(m, off);
	if (i > 0)
		REQUIRE_U64(m->r[i - 1].end, <=, off);
	if (i < m->n)
		REQUIRE_U64(end, <=, m->r[i].off);

	if (m->n == m->cap) {
		m->cap = m->cap ? m->cap * 2 : 256;
		m->r = realloc(m->r, m->cap * sizeof(*m->r));
		REQUIRE(m->r);
	}
	memmove(&m->r[i + 1], &m->r[i], (m->n - i) * sizeof(*m->r));
	m->r[i] = (struct range){ off, end, b };
	m->n++;
	m->used += end - off;
}

static void model_del(struct model *m, size_t i)
{
	mcs_alloc_put(m->a, m->r[i].b);
	m->used -= m->r[i].end - m->r[i].off;
	memmove(&m->r[i], &m->r[i + 1], (m->n - i - 1) * sizeof(*m->r));
	m->n--;
}

static uint64_t model_max_gap(const struct model *m)
{
	uint64_t max = 0, pos = 0;
	for (size_t i = 0; i < m->n; i++) {
		max = MCS_MAX(max, m->r[i].off - pos);
		pos = m->r[i].end;
	}
	return MCS_MAX(max, m->size - pos);
}

static void model_check_counters(const struct model *m)
{
	REQUIRE_U64(mcs_alloc_used(m->a), ==, m->used);
	REQUIRE_U64(mcs_alloc_count(m->a), ==, m->n);
}

/* Try len against the model's view: must work when a gap of R(u) exists,
 * must fail when no gap of u exists. Returns the block or NULL. */
static struct mcs_block *model_try(struct model *m, uint64_t len)
{
	struct mcs_block *b = mcs_alloc_get(m->a, len);
	if (b) {
		/* fitting in a gap is what model_add checks */
		model_add(m, b, len);
		return b;
	}
	uint64_t u = MCS_ALIGN_UP(len, m->granule) / m->granule;
	uint64_t gap = model_max_gap(m) / m->granule;
	if (gap >= class_round(u))
		ck_abort_msg("alloc of %" PRIu64 " granules failed with a free gap of %" PRIu64, u,
			     gap);
	return NULL;
}

/* The whole-state checks: consistency, largest_free bounds and exactness. */
static void model_check_all(struct model *m)
{
	ck_assert_int_eq(mcs_alloc_check(m->a), 0);
	model_check_counters(m);

	uint64_t gap = model_max_gap(m);
	uint64_t lf = mcs_alloc_largest_free(m->a);
	ck_assert_uint_le(lf, gap);
	ck_assert_uint_ge(lf, class_floor(gap / m->granule) * m->granule);
	ck_assert_uint_eq(lf % m->granule, 0);

	uint64_t free_bytes = m->size - m->used;
	double frag = mcs_alloc_fragmentation(m->a);
	ck_assert(frag >= 0.0 && frag <= 1.0);
	if (free_bytes)
		ck_assert(frag == 1.0 - (double)lf / (double)free_bytes);
	else
		ck_assert(frag == 0.0);

	/* largest_free is exact: one byte more fails, it works. The failing
	 * probe goes first because giving the other back may reorder a list
	 * and so change largest_free (never the model's view). */
	ck_assert_ptr_null(mcs_alloc_get(m->a, lf + 1));
	if (lf) {
		struct mcs_block *b = mcs_alloc_get(m->a, lf);
		ck_assert_ptr_nonnull(b);
		ck_assert_uint_le(mcs_block_offset(b) + lf, m->size);
		mcs_alloc_put(m->a, b);
	}
	model_check_counters(m);
}

/* One random step hovering around target bytes in use. */
static void model_step(struct model *m, uint64_t *rs, uint64_t target, uint64_t max_len)
{
	bool alloc;
	if (m->n == 0)
		alloc = true;
	else if (m->used < target)
		alloc = rng_below(rs, 100) < 75;
	else
		alloc = rng_below(rs, 100) < 25;

	if (alloc)
		model_try(m, kv_size(rs, max_len));
	else
		model_del(m, rng_below(rs, m->n));
	model_check_counters(m);
}

/* --- fixed scenarios ---------------------------------------------------- */

START_TEST(test_new_args)
{
	struct mcs_alloc *a = NULL;
	ck_assert_int_eq(mcs_alloc_new(16 * MiB, 3, &a), -EINVAL);
	ck_assert_int_eq(mcs_alloc_new(16 * MiB, 4, &a), -EINVAL);
	ck_assert_int_eq(mcs_alloc_new(16 * MiB, 96, &a), -EINVAL);
	ck_assert_int_eq(mcs_alloc_new(0, 0, &a), -EINVAL);
	ck_assert_int_eq(mcs_alloc_new(63, 64, &a), -EINVAL);
	ck_assert_int_eq(mcs_alloc_new(UINT64_MAX, 64, &a), -EINVAL);
	ck_assert_ptr_null(a);

	/* granule 0 means 64; a tail below one granule is not managed */
	ck_assert_int_eq(mcs_alloc_new(16 * MiB + 100, 0, &a), 0);
	ck_assert_uint_eq(mcs_alloc_size(a), 16 * MiB + 64);
	ck_assert_uint_eq(mcs_alloc_largest_free(a), 16 * MiB + 64);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	a = mcs_alloc_free(a);
	ck_assert_ptr_null(a);
	ck_assert_ptr_null(mcs_alloc_free(NULL));

	/* both ends of the advertised range */
	ck_assert_int_eq(mcs_alloc_new(1 * TiB, 4096, &a), 0);
	ck_assert_uint_eq(mcs_alloc_largest_free(a), 1 * TiB);
	struct mcs_block *b = mcs_alloc_get(a, 1 * TiB);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(mcs_block_offset(b), 0);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	mcs_alloc_put(a, b);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	a = mcs_alloc_free(a);
}
END_TEST

START_TEST(test_basic)
{
	struct mcs_alloc *a;
	ck_assert_int_eq(mcs_alloc_new(16 * MiB, 64, &a), 0);
	ck_assert_uint_eq(mcs_alloc_size(a), 16 * MiB);
	ck_assert_uint_eq(mcs_alloc_used(a), 0);
	ck_assert_uint_eq(mcs_alloc_count(a), 0);
	ck_assert_uint_eq(mcs_alloc_largest_free(a), 16 * MiB);
	ck_assert(mcs_alloc_fragmentation(a) == 0.0);

	ck_assert_ptr_null(mcs_alloc_get(a, 0));
	ck_assert_ptr_null(mcs_alloc_get(a, 16 * MiB + 1));
	ck_assert_ptr_null(mcs_alloc_get(a, UINT64_MAX));
	ck_assert_ptr_null(mcs_alloc_get(a, UINT64_MAX - 10));
	ck_assert_ptr_null(mcs_alloc_get(NULL, 1));
	mcs_alloc_put(a, NULL);
	mcs_alloc_put(NULL, NULL);

	struct mcs_block *b1 = mcs_alloc_get(a, 1);
	ck_assert_ptr_nonnull(b1);
	ck_assert_uint_eq(mcs_block_len(b1), 1);
	ck_assert_uint_eq(mcs_alloc_used(a), 64);
	ck_assert_uint_eq(mcs_alloc_count(a), 1);

	struct mcs_block *b2 = mcs_alloc_get(a, 4 * KiB);
	ck_assert_ptr_nonnull(b2);
	ck_assert_uint_eq(mcs_block_len(b2), 4 * KiB);
	ck_assert_uint_eq(mcs_alloc_used(a), 64 + 4 * KiB);
	ck_assert_uint_eq(mcs_alloc_count(a), 2);
	ck_assert(mcs_block_offset(b1) + 64 <= mcs_block_offset(b2) ||
		  mcs_block_offset(b2) + 4 * KiB <= mcs_block_offset(b1));
	ck_assert_uint_eq(mcs_alloc_largest_free(a), 16 * MiB - 64 - 4 * KiB);
	ck_assert_int_eq(mcs_alloc_check(a), 0);

	mcs_alloc_put(a, b1);
	ck_assert_uint_eq(mcs_alloc_used(a), 4 * KiB);
	ck_assert_uint_eq(mcs_alloc_count(a), 1);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	/* a second put of the same, not yet reused, block changes nothing */
	mcs_alloc_put(a, b1);
	ck_assert_uint_eq(mcs_alloc_count(a), 1);
	ck_assert_int_eq(mcs_alloc_check(a), 0);

	mcs_alloc_put(a, b2);
	ck_assert_uint_eq(mcs_alloc_used(a), 0);
	ck_assert_uint_eq(mcs_alloc_count(a), 0);
	ck_assert_uint_eq(mcs_alloc_largest_free(a), 16 * MiB);
	ck_assert_int_eq(mcs_alloc_check(a), 0);

	/* a whole-segment block, then nothing fits */
	struct mcs_block *all = mcs_alloc_get(a, 16 * MiB);
	ck_assert_ptr_nonnull(all);
	ck_assert_uint_eq(mcs_block_offset(all), 0);
	ck_assert_ptr_null(mcs_alloc_get(a, 1));
	ck_assert_uint_eq(mcs_alloc_largest_free(a), 0);
	ck_assert(mcs_alloc_fragmentation(a) == 0.0);
	ck_assert_int_eq(mcs_alloc_check(a), 0);

	/* freeing all bookkeeping with blocks still out is fine */
	a = mcs_alloc_free(a);
}
END_TEST

static const uint64_t granules[] = { 8, 64, 512, 4096, 2 * MiB };

START_TEST(test_alignment)
{
	uint64_t g = granules[_i];
	uint64_t rs = rng_seed(100 + (uint64_t)_i);
	struct model m;
	model_init(&m, 4 * GiB, g);
	for (int i = 0; i < 20000; i++) {
		model_step(&m, &rs, m.size / 2, 64 * MiB);
		if (m.n)
			REQUIRE_U64(m.r[rng_below(&rs, m.n)].off % g, ==, 0);
	}
	for (size_t i = 0; i < m.n; i++) {
		ck_assert_uint_eq(mcs_block_offset(m.r[i].b) % g, 0);
		ck_assert_uint_eq(m.r[i].off, mcs_block_offset(m.r[i].b));
	}
	model_check_all(&m);
	model_done(&m);
}
END_TEST

START_TEST(test_exact_fill)
{
	struct model m;
	model_init(&m, 16 * MiB, 64);

	/* 4096 blocks of 4 KiB fill 16 MiB exactly */
	for (int i = 0; i < 4096; i++)
		ck_assert_ptr_nonnull(model_try(&m, 4 * KiB));
	ck_assert_uint_eq(mcs_alloc_used(m.a), 16 * MiB);
	ck_assert_uint_eq(mcs_alloc_count(m.a), 4096);
	ck_assert_ptr_null(mcs_alloc_get(m.a, 1));
	ck_assert_uint_eq(mcs_alloc_largest_free(m.a), 0);
	ck_assert(mcs_alloc_fragmentation(m.a) == 0.0);
	model_check_all(&m);

	/* a hole in the middle is found again, and only it */
	uint64_t off = m.r[1234].off;
	model_del(&m, 1234);
	ck_assert_uint_eq(mcs_alloc_largest_free(m.a), 4 * KiB);
	ck_assert_ptr_null(mcs_alloc_get(m.a, 4 * KiB + 1));
	struct mcs_block *b = model_try(&m, 4 * KiB - 60);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(mcs_block_offset(b), off);
	ck_assert_ptr_null(mcs_alloc_get(m.a, 1));
	model_check_all(&m);
	model_done(&m);

	/* mixed sizes until the first failure, then largest_free until
	 * nothing is left: the segment must end up exactly full */
	uint64_t rs = rng_seed(7);
	model_init(&m, 256 * MiB + 4 * KiB, 64);
	while (model_try(&m, kv_size(&rs, 64 * MiB)))
		;
	model_check_all(&m);
	uint64_t lf;
	while ((lf = mcs_alloc_largest_free(m.a)) > 0)
		ck_assert_ptr_nonnull(model_try(&m, lf));
	ck_assert_uint_eq(mcs_alloc_used(m.a), m.size);
	ck_assert_uint_eq(m.used, m.size);
	ck_assert_ptr_null(mcs_alloc_get(m.a, 1));
	model_check_all(&m);
	model_done(&m);
}
END_TEST

/* Allocate a fixed pattern, free it in the order given, end whole again. */
static void free_in_order(const uint64_t *lens, size_t n, const size_t *order, uint64_t size)
{
	struct model m;
	struct mcs_block *blocks[16];
	ck_assert_uint_le(n, MCS_ARRAY_SIZE(blocks));
	model_init(&m, size, 64);
	for (size_t i = 0; i < n; i++) {
		blocks[i] = model_try(&m, lens[i]);
		ck_assert_ptr_nonnull(blocks[i]);
	}
	ck_assert_int_eq(mcs_alloc_check(m.a), 0);
	for (size_t i = 0; i < n; i++) {
		size_t k = model_find(&m, mcs_block_offset(blocks[order[i]]));
		ck_assert_ptr_eq(m.r[k].b, blocks[order[i]]);
		model_del(&m, k);
		ck_assert_int_eq(mcs_alloc_check(m.a), 0);
		model_check_counters(&m);
	}
	ck_assert_uint_eq(mcs_alloc_used(m.a), 0);
	ck_assert_uint_eq(mcs_alloc_count(m.a), 0);
	ck_assert_uint_eq(mcs_alloc_largest_free(m.a), m.size);
	ck_assert(mcs_alloc_fragmentation(m.a) == 0.0);
	/* one free range spanning everything */
	struct mcs_block *all = mcs_alloc_get(m.a, m.size);
	ck_assert_ptr_nonnull(all);
	ck_assert_uint_eq(mcs_block_offset(all), 0);
	mcs_alloc_put(m.a, all);
	model_done(&m);
}

/* Next lexicographic permutation; false after the last one. */
static bool next_perm(size_t *p, size_t n)
{
	size_t i = n - 1;
	while (i > 0 && p[i - 1] >= p[i])
		i--;
	if (i == 0)
		return false;
	size_t j = n - 1;
	while (p[j] <= p[i - 1])
		j--;
	size_t t = p[i - 1];
	p[i - 1] = p[j];
	p[j] = t;
	for (size_t l = i, r = n - 1; l < r; l++, r--) {
		t = p[l];
		p[l] = p[r];
		p[r] = t;
	}
	return true;
}

START_TEST(test_coalesce_all_orders)
{
	/* Six blocks: every one of the 720 free orders, once filling the
	 * segment exactly and once with a free tail after them. */
	static const uint64_t lens[] = { 4 * KiB, 1, 64 * KiB, 100, 1 * MiB, 4 * KiB + 1 };
	size_t n = MCS_ARRAY_SIZE(lens);
	uint64_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += MCS_ALIGN_UP(lens[i], 64);

	size_t order[MCS_ARRAY_SIZE(lens)];
	for (size_t i = 0; i < n; i++)
		order[i] = i;
	int perms = 0;
	do {
		free_in_order(lens, n, order, total);
		free_in_order(lens, n, order, total + 3 * MiB);
		perms++;
	} while (next_perm(order, n));
	ck_assert_int_eq(perms, 720);
}
END_TEST

START_TEST(test_coalesce_many)
{
	/* 2000 blocks freed ascending, descending, odd-then-even, random */
	enum { N = 2000 };
	uint64_t rs = rng_seed(42 + (uint64_t)_i);
	struct model m;
	model_init(&m, 2 * GiB, 64);
	struct mcs_block *blocks[N];
	for (int i = 0; i < N; i++) {
		blocks[i] = model_try(&m, 1 + rng_below(&rs, 1 * MiB));
		ck_assert_ptr_nonnull(blocks[i]);
	}
	size_t order[N];
	for (size_t i = 0; i < N; i++) {
		switch (_i) {
		case 0: order[i] = i; break;
		case 1: order[i] = N - 1 - i; break;
		case 2: order[i] = i < N / 2 ? 2 * i + 1 : 2 * (i - N / 2); break;
		default: order[i] = i; break;
		}
	}
	if (_i == 3)
		for (size_t i = N - 1; i > 0; i--) {
			size_t j = rng_below(&rs, i + 1), t = order[i];
			order[i] = order[j];
			order[j] = t;
		}
	for (size_t i = 0; i < N; i++) {
		size_t k = model_find(&m, mcs_block_offset(blocks[order[i]]));
		ck_assert_ptr_eq(m.r[k].b, blocks[order[i]]);
		model_del(&m, k);
		if (i % 97 == 0)
			model_check_all(&m);
	}
	ck_assert_int_eq(mcs_alloc_check(m.a), 0);
	ck_assert_uint_eq(mcs_alloc_used(m.a), 0);
	ck_assert_uint_eq(mcs_alloc_largest_free(m.a), m.size);
	ck_assert(mcs_alloc_fragmentation(m.a) == 0.0);
	model_done(&m);
}
END_TEST

/* Random workloads: segment size, granule and largest value per seed. */
static const struct {
	uint64_t size, granule, max_len;
} random_cfg[] = {
	{ 1 * GiB, 64, 64 * MiB },
	{ 4 * GiB, 4096, 64 * MiB },
	{ 256 * MiB, 8, 64 * MiB },
	{ 64 * MiB, 64, 256 * KiB }, /* many small live blocks */
	{ 16 * MiB + 512 * 3, 512, 4 * MiB },
	{ 1 * TiB, 64, 64 * MiB }, /* never full: exercises the high classes */
};

START_TEST(test_random)
{
	uint64_t rs = rng_seed(1000 + (uint64_t)_i);
	struct model m;
	model_init(&m, random_cfg[_i].size, random_cfg[_i].granule);
	uint64_t target = m.size / 10 * 8;
	/* the 1 TiB case would need ~100k live blocks to reach 80% */
	if (m.size >= 1 * TiB)
		target = 8 * GiB;
	for (int op = 1; op <= 100000; op++) {
		model_step(&m, &rs, target, random_cfg[_i].max_len);
		if (op % 1000 == 0)
			model_check_all(&m);
	}
	while (m.n)
		model_del(&m, rng_below(&rs, m.n));
	model_check_all(&m);
	ck_assert_uint_eq(mcs_alloc_largest_free(m.a), m.size);
	model_done(&m);
}
END_TEST

START_TEST(test_fragmentation_guarantee)
{
	/* A long churn at ~80% occupancy, then probe sizes from one granule to
	 * the whole segment: each must succeed when the model has a gap of
	 * R(u) and fail when it has no gap of u. */
	uint64_t rs = rng_seed(2000 + (uint64_t)_i);
	struct model m;
	model_init(&m, 2 * GiB, 64);
	uint64_t target = m.size / 10 * 8;
	int probes = 0, hits = 0;
	for (int op = 1; op <= 200000; op++) {
		model_step(&m, &rs, target, 64 * MiB);
		if (op % 10000 != 0)
			continue;
		model_check_all(&m);
		uint64_t gap = model_max_gap(&m);
		for (int k = 0; k < 200; k++) {
			uint64_t len;
			if (k < 64)
				/* around the largest gap, where rounding matters */
				len = gap > 64 * MiB ? gap - rng_below(&rs, 64 * MiB) : 1 + rng_below(&rs, gap + 1);
			else
				len = 1 + rng_below(&rs, 64 * MiB);
			uint64_t u = MCS_ALIGN_UP(len, m.granule) / m.granule;
			struct mcs_block *b = mcs_alloc_get(m.a, len);
			if (gap / m.granule >= class_round(u) && !b)
				ck_abort_msg("len %" PRIu64 " failed, gap %" PRIu64, len, gap);
			if (u * m.granule > gap)
				REQUIRE(!b);
			probes++;
			if (b) {
				hits++;
				mcs_alloc_put(m.a, b);
			}
		}
		ck_assert_int_eq(mcs_alloc_check(m.a), 0);
	}
	ck_assert_int_gt(probes, 0);
	ck_assert_int_gt(hits, 0);
	model_done(&m);
}
END_TEST

START_TEST(test_million)
{
	/* 1,000,000 allocations and as many frees, 4096 blocks live */
	enum { LIVE = 4096 };
	uint64_t rs = rng_seed(3);
	struct mcs_alloc *a;
	ck_assert_int_eq(mcs_alloc_new(8 * GiB, 64, &a), 0);
	struct mcs_block **live = calloc(LIVE, sizeof(*live));
	ck_assert_ptr_nonnull(live);
	for (int op = 0; op < 1000000; op++) {
		size_t k = (size_t)rng_below(&rs, LIVE);
		mcs_alloc_put(a, live[k]);
		uint64_t len = rng_below(&rs, 8) ? 1 + rng_below(&rs, 256 * KiB) : 1 + rng_below(&rs, 1 * MiB);
		live[k] = mcs_alloc_get(a, len);
		REQUIRE(live[k]);
	}
	ck_assert_uint_eq(mcs_alloc_count(a), LIVE);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	for (size_t k = 0; k < LIVE; k++)
		mcs_alloc_put(a, live[k]);
	ck_assert_uint_eq(mcs_alloc_used(a), 0);
	ck_assert_uint_eq(mcs_alloc_largest_free(a), 8 * GiB);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	free(live);
	a = mcs_alloc_free(a);
}
END_TEST

START_TEST(test_reserve)
{
	struct mcs_alloc *a;
	struct mcs_block *b, *c, *d;
	ck_assert_int_eq(mcs_alloc_new(1 * MiB, 64, &a), 0);
	/* refusals leave it as it was */
	ck_assert_int_eq(mcs_alloc_reserve(a, 100, 64, NULL, &b), -EINVAL);       /* not a granule */
	ck_assert_int_eq(mcs_alloc_reserve(a, 1 * MiB - 64, 65, NULL, &b), -EINVAL); /* passes the end */
	ck_assert_int_eq(mcs_alloc_reserve(a, 0, 0, NULL, &b), -EINVAL);
	ck_assert_int_eq(mcs_alloc_reserve(a, UINT64_MAX - 63, 64, NULL, &b), -EINVAL);
	ck_assert_uint_eq(mcs_alloc_used(a), 0);
	/* in the middle: free ranges before and after */
	ck_assert_int_eq(mcs_alloc_reserve(a, 4096, 1000, NULL, &b), 0);
	ck_assert_uint_eq(mcs_block_offset(b), 4096);
	ck_assert_uint_eq(mcs_block_len(b), 1000);
	ck_assert_uint_eq(mcs_alloc_used(a), 1024);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	/* overlapping it, from either side or inside, is refused */
	ck_assert_int_eq(mcs_alloc_reserve(a, 4096, 64, NULL, &c), -EEXIST);
	ck_assert_int_eq(mcs_alloc_reserve(a, 4096 - 64, 128, NULL, &c), -EEXIST);
	ck_assert_int_eq(mcs_alloc_reserve(a, 4096 + 960, 64, b, &c), -EEXIST);
	ck_assert_int_eq(mcs_alloc_reserve(a, 0, 8192, NULL, &c), -EEXIST);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	/* at offset 0 (a new first range), right after b (no front), at the end */
	ck_assert_int_eq(mcs_alloc_reserve(a, 0, 64, b, &c), 0); /* hint after off: from the start */
	ck_assert_int_eq(mcs_alloc_reserve(a, 4096 + 1024, 64, b, &d), 0);
	struct mcs_block *e;
	ck_assert_int_eq(mcs_alloc_reserve(a, 1 * MiB - 128, 128, d, &e), 0);
	ck_assert_uint_eq(mcs_alloc_count(a), 4);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	/* what is left is still handed out by get, and everything merges back */
	struct mcs_block *f = mcs_alloc_get(a, 1 * MiB - 4096 - 1024 - 64 - 128);
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(mcs_block_offset(f), 4096 + 1024 + 64);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	mcs_alloc_put(a, b);
	mcs_alloc_put(a, e);
	/* a hint that was freed (merged away) is ignored */
	ck_assert_int_eq(mcs_alloc_reserve(a, 4096 + 512, 64, b, &b), 0);
	mcs_alloc_put(a, b);
	mcs_alloc_put(a, c);
	mcs_alloc_put(a, d);
	mcs_alloc_put(a, f);
	ck_assert_uint_eq(mcs_alloc_used(a), 0);
	ck_assert_uint_eq(mcs_alloc_largest_free(a), 1 * MiB);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	a = mcs_alloc_free(a);
}
END_TEST

static int cmp_block_off(const void *x, const void *y)
{
	uint64_t a = mcs_block_offset(*(struct mcs_block *const *)x), b = mcs_block_offset(*(struct mcs_block *const *)y);
	return a < b ? -1 : a > b;
}

START_TEST(test_reserve_rebuild)
{
	/* A master rebuilding a segment: an allocator after a long churn,
	 * then a new one given the same ranges by reserve, in ascending
	 * order with the last one as the hint (_i 0) or in any order without
	 * (_i 1), ends with the same used bytes and blocks and behaves the
	 * same for the next requests. */
	uint64_t rs = rng_seed(4000 + (uint64_t)_i);
	struct model m;
	model_init(&m, 256 * MiB, 64);
	for (int op = 1; op <= 20000; op++)
		model_step(&m, &rs, m.size / 10 * 7, 1 * MiB);
	model_check_all(&m);
	struct mcs_block **v = calloc(m.n ? m.n : 1, sizeof(*v));
	ck_assert_ptr_nonnull(v);
	for (size_t i = 0; i < m.n; i++)
		v[i] = m.r[i].b;
	if (_i == 0)
		qsort(v, m.n, sizeof(*v), cmp_block_off);
	else
		for (size_t i = m.n; i > 1; i--) {
			size_t j = (size_t)rng_below(&rs, i);
			struct mcs_block *t = v[i - 1];
			v[i - 1] = v[j];
			v[j] = t;
		}
	struct mcs_alloc *a;
	ck_assert_int_eq(mcs_alloc_new(m.size, 64, &a), 0);
	struct mcs_block *hint = NULL, **w = calloc(m.n ? m.n : 1, sizeof(*w));
	ck_assert_ptr_nonnull(w);
	for (size_t i = 0; i < m.n; i++) {
		REQUIRE(mcs_alloc_reserve(a, mcs_block_offset(v[i]), mcs_block_len(v[i]), _i == 0 ? hint : NULL,
					  &w[i]) == 0);
		/* the same range twice is refused */
		struct mcs_block *x;
		REQUIRE(mcs_alloc_reserve(a, mcs_block_offset(v[i]), mcs_block_len(v[i]), w[i], &x) == -EEXIST);
		hint = w[i];
	}
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	ck_assert_uint_eq(mcs_alloc_used(a), mcs_alloc_used(m.a));
	ck_assert_uint_eq(mcs_alloc_count(a), mcs_alloc_count(m.a));
	/* the same free gaps: TLSF's guarantee holds against the model's */
	uint64_t gap = model_max_gap(&m);
	ck_assert_uint_eq(mcs_alloc_largest_free(a) <= gap, 1);
	for (int k = 0; k < 100; k++) {
		uint64_t len = 1 + rng_below(&rs, 2 * MiB);
		uint64_t u = MCS_ALIGN_UP(len, m.granule) / m.granule;
		struct mcs_block *p = mcs_alloc_get(a, len);
		if (gap / m.granule >= class_round(u))
			REQUIRE(p);
		if (u * m.granule > gap)
			REQUIRE(!p);
		mcs_alloc_put(a, p);
	}
	for (size_t i = 0; i < m.n; i++)
		mcs_alloc_put(a, w[i]);
	ck_assert_uint_eq(mcs_alloc_used(a), 0);
	ck_assert_uint_eq(mcs_alloc_largest_free(a), m.size);
	ck_assert_int_eq(mcs_alloc_check(a), 0);
	a = mcs_alloc_free(a);
	free(v);
	free(w);
	model_done(&m);
}
END_TEST

static Suite *alloc_suite(void)
{
	Suite *s = suite_create("alloc");
	TCase *tc = tcase_create("core");
	/* the random tests take a few seconds under sanitizers */
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_new_args);
	tcase_add_test(tc, test_basic);
	tcase_add_loop_test(tc, test_alignment, 0, (int)MCS_ARRAY_SIZE(granules));
	tcase_add_test(tc, test_exact_fill);
	tcase_add_test(tc, test_coalesce_all_orders);
	tcase_add_loop_test(tc, test_coalesce_many, 0, 4);
	tcase_add_loop_test(tc, test_random, 0, (int)MCS_ARRAY_SIZE(random_cfg));
	tcase_add_loop_test(tc, test_fragmentation_guarantee, 0, 3);
	tcase_add_test(tc, test_million);
	tcase_add_test(tc, test_reserve);
	tcase_add_loop_test(tc, test_reserve_rebuild, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(alloc_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
