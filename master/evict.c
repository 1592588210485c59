/* SPDX-License-Identifier: MIT */
/*
 * Eviction (see tables.h): approximate LRU as Redis does it. Each
 * pick samples evict_samples objects uniformly from the store's dense
 * vector and keeps a pool of the least recently used candidates; leased,
 * held, pending and hard-pinned objects are never taken, soft-pinned ones
 * only when nothing else is left. A put that finds no space evicts only
 * what it needs at once; the rest of the run is a debt that a timer pays
 * in slices (mcs_store_evict_step). Eviction moves no data: it drops the
 * object and returns its space.
 *
 * Versions an upsert replaced (retired) are not in the sampling vector:
 * they are freed here as soon as no lease or hold keeps them, by a timer
 * and before any eviction, since they are no key's value any more.
 */
#include "common/probes.h"
#include "master/evict.h"
#include "master/tables.h"

static bool evictable(const struct mcs_obj *o, uint64_t now_ms, bool soft_too)
{
	if (o->state != MCS_OBJ_COMPLETE || o->holds || now_ms < o->lease_until_ms)
		return false;
	if (o->flags & MCS_REPL_HARD_PIN)
		return false;
	return soft_too || !(o->flags & MCS_REPL_SOFT_PIN);
}

uint64_t mcs_store_reap_retired(struct mcs_store *s, uint64_t now_ms)
{
	if (!s->n_retired || now_ms < s->reap_at_ms)
		return 0;
	uint64_t freed = 0, next = UINT64_MAX;
	struct mcs_list *n, *nn;
	mcs_list_for_each_safe(n, nn, &s->retired) {
		struct mcs_obj *o = obj_of_link(n);
		if (obj_reclaimable(o, now_ms)) {
			freed += obj_bytes(o);
			obj_delete(s, o);
			s->ctr.retired_freed++;
		} else if (!o->holds) {
			/* a lease cannot grow: the key finds the new version */
			next = MCS_MIN(next, o->lease_until_ms);
		}
		/* a held one: its last release sets reap_at_ms to 0 */
	}
	s->reap_at_ms = next;
	return freed;
}

uint64_t mcs_store_n_retired(const struct mcs_store *s) { return s->n_retired; }

uint64_t mcs_store_retired_bytes(const struct mcs_store *s)
{
	uint64_t b = 0;
	const struct mcs_list *n;
	mcs_list_for_each(n, &s->retired)
		b += obj_bytes(obj_of_link(n));
	return b;
}

#define EVICT_POOL 16
#define SAMPLE_BATCH 64

/* o, sampled, joins the pool of candidates (oldest first) if it may go and
 * is older than one of them. */
static void pool_offer(struct mcs_obj **pool, unsigned *n_pool, struct mcs_obj *o, uint64_t now_ms, bool soft_too)
{
	if (!evictable(o, now_ms, soft_too))
		return;
	for (unsigned i = 0; i < *n_pool; i++)
		if (pool[i] == o)
			return;
	if (*n_pool == EVICT_POOL) {
		if (o->last_access_ms >= pool[EVICT_POOL - 1]->last_access_ms)
			return;
		--*n_pool;
	}
	unsigned at = *n_pool;
	while (at > 0 && pool[at - 1]->last_access_ms > o->last_access_ms) {
		pool[at] = pool[at - 1];
		at--;
	}
	pool[at] = o;
	++*n_pool;
}

/* What deleting o touches besides o: its bucket, its slot in the vector,
 * its first buffer's record (a hint, read nowhere). */
static void prefetch_delete(const struct mcs_store *s, const struct mcs_obj *o)
{
	__builtin_prefetch(&s->buckets[o->hash & (s->n_buckets - 1)]);
	__builtin_prefetch(&s->vec[o->vidx]);
	if (o->n_replicas && o->replicas[0].n_handles)
		__builtin_prefetch(o->replicas[0].handles[0].blk);
}

/* n objects sampled uniformly, offered to the pool. They are fetched into
 * the cache all at once (the vector's slots, then their objects), in
 * batches: in a table of millions each is a miss, and waited for one after
 * the other they made eviction's cost per object grow with the table. */
static void sample(struct mcs_store *s, struct mcs_obj **pool, unsigned *n_pool, uint64_t n, uint64_t now_ms,
		   bool soft_too)
{
	while (n > 0) {
		struct mcs_obj *batch[SAMPLE_BATCH];
		uint64_t slot[SAMPLE_BATCH];
		unsigned m = (unsigned)MCS_MIN(n, (uint64_t)SAMPLE_BATCH);
		for (unsigned k = 0; k < m; k++) {
			slot[k] = store_rng_next(s) % s->vec_len;
			__builtin_prefetch(&s->vec[slot[k]]);
		}
		for (unsigned k = 0; k < m; k++) {
			batch[k] = s->vec[slot[k]];
			__builtin_prefetch(batch[k]);
			__builtin_prefetch((const char *)batch[k] + 64);
		}
		for (unsigned k = 0; k < m; k++)
			pool_offer(pool, n_pool, batch[k], now_ms, soft_too);
		n -= m;
	}
}

uint64_t mcs_store_evict(struct mcs_store *s, uint64_t min_objects, uint64_t need_bytes, uint64_t now_ms)
{
	struct mcs_obj *pool[EVICT_POOL];
	unsigned n_pool = 0;
	uint64_t t0 = mcs_now_ns(), evicted = 0, samples = 0;
	/* what no reader needs any more goes before any object */
	uint64_t freed = mcs_store_reap_retired(s, now_ms);
	bool soft_too = false;
	/* a bound on the work of one run, proportional to what it may
	 * evict, so a store full of leased objects cannot stall the master */
	uint64_t budget = (min_objects + 64) * s->opts.evict_samples * 8 +
			  (need_bytes / 4096 + 1) * s->opts.evict_samples;

	s->ctr.evict_runs++;
	while ((evicted < min_objects || freed < need_bytes) && s->vec_len > 0 && samples < budget) {
		/* top the pool up with a fresh sample */
		uint64_t n = MCS_MIN((uint64_t)s->opts.evict_samples, budget - samples);
		sample(s, pool, &n_pool, n, now_ms, soft_too);
		samples += n;
		if (n_pool == 0) {
			if (!soft_too) {
				soft_too = true; /* soft pins go only when nothing else is left */
				continue;
			}
			if (samples >= s->vec_len * 4)
				break; /* nothing evictable, by a wide sample */
			continue;
		}
		struct mcs_obj *victim = pool[0];
		memmove(pool, pool + 1, (--n_pool) * sizeof(*pool));
		/* the next victim, most likely: what its delete will touch */
		if (n_pool)
			prefetch_delete(s, pool[0]);
		uint64_t b = obj_bytes(victim);
		freed += b;
		evicted++;
		s->ctr.evictions++;
		s->ctr.evicted_bytes += b;
		obj_delete(s, victim);
	}
	s->ctr.evict_samples += samples;
	MCS_PROBE4(evict_run, evicted, freed, samples, mcs_now_ns() - t0);
	return freed + (evicted && !freed ? 1 : 0);
}

void mcs_evict_owe_run(struct mcs_store *s)
{
	if (s->evict_debt == 0)
		s->evict_debt = (uint64_t)((double)s->n_objects * s->opts.eviction_ratio);
}

uint64_t mcs_store_evict_if_needed(struct mcs_store *s, uint64_t now_ms)
{
	uint64_t cap = store_capacity(s), used = store_used(s);
	if (!cap || (double)used < s->opts.high_watermark * (double)cap || s->opts.high_watermark >= 1.0)
		return 0;
	double low = s->opts.high_watermark - s->opts.eviction_ratio;
	uint64_t target = (uint64_t)((low > 0 ? low : 0) * (double)cap);
	mcs_evict_owe_run(s);
	return mcs_store_evict(s, 0, used > target ? used - target : 0, now_ms);
}

uint64_t mcs_store_evict_step(struct mcs_store *s, uint64_t max_objects, uint64_t now_ms)
{
	uint64_t n = MCS_MIN(s->evict_debt, max_objects);
	if (n == 0)
		return 0;
	uint64_t before = s->ctr.evictions;
	mcs_store_evict(s, n, 0, now_ms);
	uint64_t done = s->ctr.evictions - before;
	/* nothing evictable: drop the debt rather than spin on it */
	s->evict_debt = done ? s->evict_debt - MCS_MIN(done, s->evict_debt) : 0;
	return done;
}

uint64_t mcs_store_evict_debt(const struct mcs_store *s) { return s->evict_debt; }
