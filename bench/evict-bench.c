/* SPDX-License-Identifier: MIT */
/*
 * evict-bench: what eviction costs and how well it chooses, measured on
 * the master's own tables (master/store.c), with no network in the way.
 *
 * 1. Cost per run: a store filled with N objects (10 thousand, 1 million),
 *    then full-store puts that each trigger a run evicting eviction_ratio
 *    (10%) of the objects. Prints ns per run, per evicted object and per
 *    sampled object: it should track what is evicted, not N.
 * 2. Hit ratio on a Zipf trace: a cache of C objects serving a trace of
 *    gets (miss = put), approximate LRU (the store's sampling eviction)
 *    against an exact LRU list, same trace, same capacity.
 *
 *   evict-bench [--objects N] [--zipf S] [--trace LEN]
 * It prints numbers and judges nothing.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "master/store.h"
#include "mcstore.h"

static int owner;

static int put(struct mcs_store *s, const char *key, uint64_t len, uint64_t now)
{
	uint64_t sl = len;
	struct mcs_put_start_req q = { .key = mcs_str_c(key), .value_len = len, .n_slices = 1, .slice_lens = &sl };
	q.cfg.replica_num = 1;
	struct mcs_obj *o;
	int r = mcs_store_put_start(s, &q, &owner, now, &o);
	return r < 0 ? r : mcs_store_put_end(s, mcs_str_c(key), 1, &owner, now);
}

static uint64_t rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	unsigned long long size = 0, rss = 0;
	if (f) {
		if (fscanf(f, "%llu %llu", &size, &rss) != 2)
			rss = 0;
		fclose(f);
	}
	return rss * (uint64_t)sysconf(_SC_PAGESIZE);
}

static void cost(uint64_t n)
{
	uint64_t rss0 = rss_bytes();
	const uint64_t obj = 4096;
	struct mcs_store *s;
	struct mcs_store_opts o = { .seed = 1, .granule = 4096 };
	if (mcs_store_new(&o, &s) < 0 || mcs_store_mount(s, mcs_str_c("n"), mcs_str_c("n-0"), n * obj,
							   mcs_str_c(""), &owner) < 0) {
		fprintf(stderr, "evict-bench: setup failed\n");
		exit(1);
	}
	char key[64];
	uint64_t now = 1000, i = 0;
	uint64_t t0 = mcs_now_ns();
	for (; i < n; i++) {
		snprintf(key, sizeof(key), "k%llu", (unsigned long long)i);
		put(s, key, obj, now + i);
	}
	uint64_t fill_ns = mcs_now_ns() - t0;
	printf("%8llu objects: master memory %.0f bytes per object (RSS, keys of ~8 bytes, one 4 KiB replica)\n",
	       (unsigned long long)n, (double)(rss_bytes() - rss0) / (double)n);
	/* each of these puts finds the store full and runs one eviction */
	const struct mcs_store_counters *c = mcs_store_counters(s);
	uint64_t runs0 = c->evict_runs, ev0 = c->evictions, sm0 = c->evict_samples, ns = 0, puts = 0;
	for (int k = 0; k < 20; k++) {
		snprintf(key, sizeof(key), "k%llu", (unsigned long long)i++);
		uint64_t a = mcs_now_ns();
		put(s, key, obj, now + i);
		ns += mcs_now_ns() - a;
		puts++;
		/* refill so the next put triggers a full run again */
		while (mcs_store_n_objects(s) < n) {
			snprintf(key, sizeof(key), "k%llu", (unsigned long long)i++);
			put(s, key, obj, now + i);
		}
	}
	uint64_t runs = c->evict_runs - runs0, ev = c->evictions - ev0, sm = c->evict_samples - sm0;
	printf("%8llu objects: fill %.0f ns/put; a put into the full store: %.1f us (evicts %.1f objects "
	       "in the foreground, %.0f ns per sampled object)\n",
	       (unsigned long long)n, (double)fill_ns / (double)n, (double)ns / (double)puts / 1e3,
	       (double)ev / (double)runs, (double)ns / (double)(sm ? sm : 1));
	printf("BENCH op=evict-foreground objects=%llu us_per_put=%.2f\n", (unsigned long long)n,
	       (double)ns / (double)puts / 1e3);
	/* the background debt: eviction_ratio of the objects, in slices */
	uint64_t ev1 = c->evictions, steps = 0, t1 = mcs_now_ns(), worst = 0;
	while (mcs_store_evict_debt(s) > 0) {
		uint64_t a = mcs_now_ns();
		if (!mcs_store_evict_step(s, 512, now + i))
			break;
		worst = MCS_MAX(worst, mcs_now_ns() - a);
		steps++;
	}
	uint64_t bg_ns = mcs_now_ns() - t1, bg = c->evictions - ev1;
	printf("%8llu objects: background run of %llu evictions (10%%): %.2f ms in %llu slices of <= 512, "
	       "worst slice %.2f ms, %.0f ns per evicted object\n",
	       (unsigned long long)n, (unsigned long long)bg, (double)bg_ns / 1e6, (unsigned long long)steps,
	       (double)worst / 1e6, (double)bg_ns / (double)(bg ? bg : 1));
	printf("BENCH op=evict-run objects=%llu evicted=%llu ms_per_run=%.3f worst_slice_ms=%.3f ns_per_evicted=%.1f\n",
	       (unsigned long long)n, (unsigned long long)bg, (double)bg_ns / 1e6, (double)worst / 1e6,
	       (double)bg_ns / (double)(bg ? bg : 1));
	mcs_store_free(s);
}

/* ---- Zipf trace: approximate vs exact LRU -------------------------------- */

static uint64_t rng = 88172645463325252ull;
static double urand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (double)(rng >> 11) / 9007199254740992.0;
}

/* Inverse-CDF sampling over a precomputed table of n items. */
static uint32_t zipf_draw(const double *cdf, uint32_t n)
{
	double u = urand();
	uint32_t lo = 0, hi = n - 1;
	while (lo < hi) {
		uint32_t mid = (lo + hi) / 2;
		if (cdf[mid] < u)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct lru_node {
	int32_t prev, next;
	bool in;
};

static void hit_ratio(uint32_t universe, uint32_t cap, double sk, uint64_t len)
{
	double *cdf = malloc(universe * sizeof(*cdf));
	uint32_t *trace = malloc(len * sizeof(*trace));
	if (!cdf || !trace)
		exit(1);
	double sum = 0;
	for (uint32_t i = 0; i < universe; i++)
		sum += 1.0 / pow((double)(i + 1), sk);
	double acc = 0;
	for (uint32_t i = 0; i < universe; i++) {
		acc += 1.0 / pow((double)(i + 1), sk) / sum;
		cdf[i] = acc;
	}
	/* scatter ranks over ids so hot keys are not the first inserted */
	for (uint64_t t = 0; t < len; t++)
		trace[t] = (uint32_t)(((uint64_t)zipf_draw(cdf, universe) * 2654435761u) % universe);

	/* exact LRU: a doubly linked list over ids */
	struct lru_node *nd = calloc(universe, sizeof(*nd));
	int32_t head = -1, tail = -1;
	uint32_t size = 0;
	uint64_t hits_exact = 0;
	for (uint64_t t = 0; t < len; t++) {
		uint32_t id = trace[t];
		if (nd[id].in) {
			hits_exact++;
			if (head == (int32_t)id)
				continue;
			/* unlink, move to front */
			if (nd[id].prev >= 0)
				nd[nd[id].prev].next = nd[id].next;
			if (nd[id].next >= 0)
				nd[nd[id].next].prev = nd[id].prev;
			if (tail == (int32_t)id)
				tail = nd[id].prev;
		} else {
			if (size == cap) {
				int32_t v = tail;
				tail = nd[v].prev;
				if (tail >= 0)
					nd[tail].next = -1;
				nd[v].in = false;
				size--;
			}
			nd[id].in = true;
			size++;
		}
		nd[id].prev = -1;
		nd[id].next = head;
		if (head >= 0)
			nd[head].prev = (int32_t)id;
		head = (int32_t)id;
		if (tail < 0)
			tail = (int32_t)id;
	}

	/* approximate LRU: the master's store, one 4 KiB object per key; the
	 * clock advances 1 s per access so leases never protect anything */
	struct mcs_store *s;
	struct mcs_store_opts o = { .seed = 5, .granule = 4096, .lease_ttl_ms = 1 };
	if (mcs_store_new(&o, &s) < 0 ||
	    mcs_store_mount(s, mcs_str_c("n"), mcs_str_c("n-0"), (uint64_t)cap * 4096, mcs_str_c(""), &owner) < 0)
		exit(1);
	uint64_t hits_approx = 0;
	char key[32];
	for (uint64_t t = 0; t < len; t++) {
		uint64_t now = 1000 + t * 1000;
		struct mcs_obj *ob;
		snprintf(key, sizeof(key), "%u", trace[t]);
		if (mcs_store_get(s, mcs_str_c(key), 0, &owner, now, &ob, NULL) == 0)
			hits_approx++;
		else
			put(s, key, 4096, now);
		/* the master's timer pays the eviction debt between requests */
		mcs_store_evict_step(s, 512, now);
	}
	printf("zipf s=%.2f, %u keys, cache of %u (%.0f%%), %llu gets: hit ratio exact LRU %.4f, "
	       "approximate LRU (16 samples, pool of 16, 10%% per run) %.4f\n",
	       sk, universe, cap, 100.0 * cap / universe, (unsigned long long)len, (double)hits_exact / (double)len,
	       (double)hits_approx / (double)len);
	printf("BENCH op=zipf s=%.2f cache_ratio=%.3f exact=%.4f approx=%.4f\n", sk, (double)cap / universe,
	       (double)hits_exact / (double)len, (double)hits_approx / (double)len);
	mcs_store_free(s);
	free(nd);
	free(cdf);
	free(trace);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "objects", required_argument, NULL, 'n' },
		{ "zipf", required_argument, NULL, 'z' },
		{ "trace", required_argument, NULL, 't' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	uint64_t big = 1000000, len = 2000000;
	double sk = 0.99;
	int c;
	while ((c = getopt_long(argc, argv, "n:z:t:h", opts, NULL)) != -1) {
		switch (c) {
		case 'n':
			if (mcs_parse_u64(optarg, 100000000, &big) < 0 || big < 100)
				return 2;
			break;
		case 'z':
			sk = atof(optarg);
			break;
		case 't':
			if (mcs_parse_u64(optarg, 1000000000, &len) < 0 || len == 0)
				return 2;
			break;
		case 'h':
			printf("Usage: evict-bench [--objects N] [--zipf S] [--trace LEN]\n"
			       "Eviction cost per run at 10 thousand and N (default 1 million) objects, and\n"
			       "hit ratios of approximate vs exact LRU on a Zipf(S) trace of LEN gets.\n");
			return 0;
		default:
			return 2;
		}
	}
	cost(10000);
	cost(big);
	for (double frac = 0.05; frac < 0.3; frac *= 2)
		hit_ratio(100000, (uint32_t)(100000 * frac), sk, len);
	return 0;
}
