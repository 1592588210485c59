/* SPDX-License-Identifier: MIT */
/*
 * Benchmark of the master's segment allocator (master/alloc.c).
 *
 * Prints the cost of an allocation and of a free with 10k and 1M blocks
 * live, and fragmentation figures after a churn of mixed 4 KiB..64 MiB KV
 * objects at 90% occupancy of a 1 GiB segment. It only prints numbers;
 * nothing here is a pass/fail criterion.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "master/alloc.h"

#define KiB (UINT64_C(1) << 10)
#define MiB (UINT64_C(1) << 20)
#define GiB (UINT64_C(1) << 30)

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);

/* xorshift64*: fast enough not to show up in the timings. */
static uint64_t rng_next(void)
{
	uint64_t x = rng_state;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng_state = x;
	return x * UINT64_C(0x2545F4914F6CDD1D);
}

static uint64_t rng_below(uint64_t n)
{
	return rng_next() % n;
}

/* Timing workload: a tenth tiny values, the rest log-uniform 4 KiB..1 MiB,
 * so a million of them fit in a segment below 1 TiB. */
static uint64_t small_kv_size(void)
{
	if (rng_below(10) == 0)
		return 1 + rng_below(4096);
	unsigned e = 12 + (unsigned)rng_below(8);
	return (UINT64_C(1) << e) + rng_below(UINT64_C(1) << e);
}

/* Churn workload: a third the usual power-of-two block sizes, the rest
 * log-uniform over 4 KiB..64 MiB. */
static uint64_t kv_size(void)
{
	static const uint64_t common[] = {
		4 * KiB,   16 * KiB, 64 * KiB, 256 * KiB, 512 * KiB, 1 * MiB,
		2 * MiB,   4 * MiB,  8 * MiB,  16 * MiB,  32 * MiB,  64 * MiB,
	};
	if (rng_below(3) == 0)
		return common[rng_below(MCS_ARRAY_SIZE(common))];
	unsigned e = 12 + (unsigned)rng_below(14);
	return (UINT64_C(1) << e) + rng_below(UINT64_C(1) << e);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (!p) {
		fprintf(stderr, "alloc-bench: out of memory\n");
		exit(EXIT_FAILURE);
	}
	return p;
}

static void die_errno(int r, const char *what)
{
	fprintf(stderr, "alloc-bench: %s: error %d\n", what, r);
	exit(EXIT_FAILURE);
}

/*
 * Fill a segment to about 80% with `live` blocks, then replace blocks in
 * rounds: free `batch` random blocks (timed), allocate as many (timed).
 * Victims and sizes are drawn before each timed loop so only allocator
 * calls are measured.
 */
static void bench_speed(size_t live)
{
	enum { BATCH = 1000 };
	size_t rounds = MCS_MAX((size_t)2000000 / live, (size_t)20);
	if (live >= 1000000)
		rounds = 1000;
	uint64_t *lens = xcalloc(live, sizeof(*lens));
	uint64_t total = 0;
	for (size_t i = 0; i < live; i++) {
		lens[i] = small_kv_size();
		total += MCS_ALIGN_UP(lens[i], 64);
	}
	uint64_t size = MCS_ALIGN_UP(total / 8 * 10, 64);

	struct mcs_alloc *a;
	int r = mcs_alloc_new(size, 64, &a);
	if (r < 0)
		die_errno(r, "mcs_alloc_new");
	struct mcs_block **blocks = xcalloc(live, sizeof(*blocks));
	uint64_t t0 = mcs_now_ns();
	for (size_t i = 0; i < live; i++)
		blocks[i] = mcs_alloc_get(a, lens[i]);
	uint64_t fill_ns = mcs_now_ns() - t0;

	uint64_t new_lens[BATCH];
	uint64_t get_ns = 0, put_ns = 0, ops = 0, failed = 0;
	for (size_t round = 0; round < rounds; round++) {
		/* distinct random victims, moved to the first BATCH slots by a
		 * partial Fisher-Yates shuffle */
		for (size_t k = 0; k < BATCH; k++) {
			size_t j = k + (size_t)rng_below(live - k);
			struct mcs_block *t = blocks[k];
			blocks[k] = blocks[j];
			blocks[j] = t;
			new_lens[k] = small_kv_size();
		}
		t0 = mcs_now_ns();
		for (size_t k = 0; k < BATCH; k++)
			mcs_alloc_put(a, blocks[k]);
		uint64_t t1 = mcs_now_ns();
		for (size_t k = 0; k < BATCH; k++)
			blocks[k] = mcs_alloc_get(a, new_lens[k]);
		uint64_t t2 = mcs_now_ns();
		for (size_t k = 0; k < BATCH; k++)
			failed += !blocks[k];
		put_ns += t1 - t0;
		get_ns += t2 - t1;
		ops += BATCH;
	}

	char buf[32];
	printf("live %8zu blocks  segment %-10s occupancy %4.1f%%  fill %6.1f ns/alloc  "
	       "churn %6.1f ns/alloc  %6.1f ns/free  (%" PRIu64 " each, %" PRIu64 " failed)\n",
	       live, mcs_fmt_size(size, buf, sizeof(buf)),
	       100.0 * (double)mcs_alloc_used(a) / (double)size, (double)fill_ns / (double)live,
	       (double)get_ns / (double)ops, (double)put_ns / (double)ops, ops, failed);
	if (mcs_alloc_check(a) < 0)
		printf("  allocator state inconsistent!\n");
	a = mcs_alloc_free(a);
	free(blocks);
	free(lens);
}

struct churn {
	struct mcs_alloc *a;
	struct mcs_block **live;
	size_t n, cap;
};

static void churn_evict(struct churn *c)
{
	size_t i = (size_t)rng_below(c->n);
	mcs_alloc_put(c->a, c->live[i]);
	c->live[i] = c->live[--c->n];
}

static void churn_add(struct churn *c, struct mcs_block *b)
{
	if (c->n == c->cap) {
		c->cap = c->cap ? 2 * c->cap : 1024;
		c->live = realloc(c->live, c->cap * sizeof(*c->live));
		if (!c->live)
			die_errno(-ENOMEM, "realloc");
	}
	c->live[c->n++] = b;
}

/* Cache behaviour: before inserting an object, evict random objects until
 * it fits under the occupancy target, then more while the allocator cannot
 * place it. Returns the inserts that needed those extra evictions. */
static uint64_t churn_run(struct churn *c, uint64_t target, uint64_t ops, double *frag_sum,
			  double *frag_max, uint64_t *samples)
{
	uint64_t fails = 0;
	for (uint64_t op = 0; op < ops; op++) {
		uint64_t len = kv_size();
		while (c->n && mcs_alloc_used(c->a) + MCS_ALIGN_UP(len, 64) > target)
			churn_evict(c);
		struct mcs_block *b = mcs_alloc_get(c->a, len);
		if (!b) {
			fails++;
			while (!(b = mcs_alloc_get(c->a, len)))
				churn_evict(c);
		}
		churn_add(c, b);
		if (frag_sum && op % 64 == 0) {
			double f = mcs_alloc_fragmentation(c->a);
			*frag_sum += f;
			*frag_max = MCS_MAX(*frag_max, f);
			(*samples)++;
		}
	}
	return fails;
}

static void bench_fragmentation(void)
{
	const uint64_t size = 1 * GiB, big = 64 * MiB;
	const uint64_t target = size / 10 * 9;
	struct churn c = { 0 };
	int r = mcs_alloc_new(size, 64, &c.a);
	if (r < 0)
		die_errno(r, "mcs_alloc_new");

	/* warm up to steady state, then measure */
	churn_run(&c, target, 20000, NULL, NULL, NULL);
	double frag_sum = 0, frag_max = 0;
	uint64_t samples = 0, ops = 200000;
	uint64_t fails = churn_run(&c, target, ops, &frag_sum, &frag_max, &samples);

	char b1[32], b2[32];
	uint64_t used = mcs_alloc_used(c.a), free_bytes = size - used;
	uint64_t largest = mcs_alloc_largest_free(c.a);
	printf("churn: 1 GiB segment, mixed 4 KiB..64 MiB objects, occupancy kept <= 90%%, "
	       "%" PRIu64 " inserts, %.2f%% needed more evictions to find a free range\n",
	       ops, 100.0 * (double)fails / (double)ops);
	printf("  fragmentation 1 - largest_free/total_free: mean %.3f  max %.3f  now %.3f "
	       "(largest %s of %s free, %zu objects live)\n",
	       frag_sum / (double)samples, frag_max, mcs_alloc_fragmentation(c.a),
	       mcs_fmt_size(largest, b1, sizeof(b1)), mcs_fmt_size(free_bytes, b2, sizeof(b2)),
	       c.n);

	/* How many 64 MiB objects fit into what is free now, against the
	 * count a perfectly compacted segment would take. */
	size_t fit = 0;
	struct mcs_block *bigs[32];
	while (fit < MCS_ARRAY_SIZE(bigs) && (bigs[fit] = mcs_alloc_get(c.a, big)))
		fit++;
	printf("  64 MiB objects that fit now: %zu (a compacted segment: %" PRIu64 "); "
	       "segment use after adding them %.1f%%\n",
	       fit, free_bytes / big, 100.0 * (double)mcs_alloc_used(c.a) / (double)size);
	for (size_t i = 0; i < fit; i++)
		mcs_alloc_put(c.a, bigs[i]);

	/* Evicting random objects until a 64 MiB object fits: how much had
	 * to go, and how much of the segment was then in use. */
	enum { TRIALS = 200 };
	uint64_t evicted_sum = 0, ideal_sum = 0, used_sum = 0;
	for (int t = 0; t < TRIALS; t++) {
		churn_run(&c, target, 500, NULL, NULL, NULL);
		uint64_t before = mcs_alloc_used(c.a);
		struct mcs_block *b;
		while (!(b = mcs_alloc_get(c.a, big)))
			churn_evict(&c);
		/* used now = before - evicted + big */
		evicted_sum += before + big - mcs_alloc_used(c.a);
		ideal_sum += before + big > size ? before + big - size : 0;
		used_sum += mcs_alloc_used(c.a) - big;
		churn_add(&c, b);
	}
	printf("  random eviction until a 64 MiB object fits (%d trials): evicted %.1f MiB "
	       "on average, %.1f MiB if free space were one range; "
	       "segment use when room appeared %.1f%%\n",
	       TRIALS, (double)evicted_sum / TRIALS / (double)MiB,
	       (double)ideal_sum / TRIALS / (double)MiB,
	       100.0 * (double)used_sum / TRIALS / (double)size);

	if (mcs_alloc_check(c.a) < 0)
		printf("  allocator state inconsistent!\n");
	c.a = mcs_alloc_free(c.a);
	free(c.live);
}

int main(void)
{
	bench_speed(10000);
	bench_speed(1000000);
	bench_fragmentation();
	return 0;
}
