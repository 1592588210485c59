/* SPDX-License-Identifier: MIT */
/*
 * The master's object and segment tables (see store.h).
 *
 * Objects live in a chained hash table keyed by XXH3 of the key, resized
 * by doubling so lookups stay O(1). Segments are a short list: a cluster
 * has a handful to a few thousand of them, and only allocation and
 * unmount walk it.
 */
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/util.h"
#include "master/alloc.h"
#include "common/probes.h"
#include "master/store.h"
#include "mcstore.h"

struct mcs_hold {
	uint64_t id;
	struct mcs_obj *obj;        /* NULL once the object is gone */
	void *owner;
	struct mcs_hold *obj_next;  /* in obj->holds */
	struct mcs_hold *next;      /* in the store's hold list */
	struct mcs_hold **pprev;
};

struct mcs_store {
	struct mcs_store_opts opts;
	struct mcs_obj **buckets;
	uint64_t n_buckets;         /* power of two */
	uint64_t n_objects;
	struct mcs_seg *segments;
	uint64_t n_segments;
	struct mcs_hold *holds;
	uint64_t next_hold_id;
	uint64_t rng;
	/* every object, for O(1) uniform sampling by eviction */
	struct mcs_obj **vec;
	uint64_t vec_len, vec_cap;
	struct mcs_obj *pending_head, *pending_tail;
	uint64_t soft_pinned_bytes;
	uint64_t evict_debt;        /* objects still to evict in the background */
	struct mcs_store_counters ctr;
};

static uint64_t key_hash(const char *p, uint32_t len) { return XXH3_64bits(p, len); }

int mcs_store_new(const struct mcs_store_opts *opts, struct mcs_store **ret)
{
	struct mcs_store *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	if (opts)
		s->opts = *opts;
	if (!s->opts.lease_ttl_ms)
		s->opts.lease_ttl_ms = 200;
	if (!s->opts.granule)
		s->opts.granule = 64;
	s->n_buckets = 1024;
	s->buckets = calloc(s->n_buckets, sizeof(*s->buckets));
	if (!s->buckets) {
		free(s);
		return -ENOMEM;
	}
	if (s->opts.high_watermark <= 0 || s->opts.high_watermark > 1)
		s->opts.high_watermark = 1.0;
	if (s->opts.eviction_ratio <= 0 || s->opts.eviction_ratio > 1)
		s->opts.eviction_ratio = 0.1;
	if (s->opts.max_soft_pin_ratio <= 0 || s->opts.max_soft_pin_ratio > 1)
		s->opts.max_soft_pin_ratio = 0.5;
	if (!s->opts.evict_samples)
		s->opts.evict_samples = 16;
	if (!s->opts.put_timeout_ms)
		s->opts.put_timeout_ms = 30000;
	s->next_hold_id = 1;
	s->rng = s->opts.seed ? s->opts.seed : 0x9e3779b97f4a7c15ull;
	*ret = s;
	return 0;
}

/* An object is one allocation: the struct, its array of replicas and one
 * buffer record per replica (all that an unstriped replica needs), then
 * its key. What lies between the struct and the key is never freed on its
 * own; a striped replica's records are allocated apart. */
static bool obj_inline(const struct mcs_obj *o, const void *p)
{
	return (const char *)p > (const char *)o && (const char *)p < o->key;
}

static void obj_release_space(struct mcs_obj *o)
{
	for (uint32_t r = 0; r < o->n_replicas; r++) {
		struct mcs_mreplica *rep = &o->replicas[r];
		for (uint32_t h = 0; h < rep->n_handles; h++)
			if (rep->handles[h].seg)
				mcs_alloc_put(rep->handles[h].seg->alloc, rep->handles[h].blk);
		if (!obj_inline(o, rep->handles))
			free(rep->handles);
	}
	if (!obj_inline(o, o->replicas))
		free(o->replicas);
	o->replicas = NULL;
	o->n_replicas = 0;
}

static void obj_free(struct mcs_obj *o)
{
	if (!o)
		return;
	obj_release_space(o);
	for (struct mcs_hold *h = o->holds; h; h = h->obj_next)
		h->obj = NULL;
	free(o); /* the key lives in the same allocation */
}

static void hold_unlink_free(struct mcs_hold *h)
{
	*h->pprev = h->next;
	if (h->next)
		h->next->pprev = h->pprev;
	if (h->obj) {
		struct mcs_hold **pp = &h->obj->holds;
		while (*pp && *pp != h)
			pp = &(*pp)->obj_next;
		if (*pp)
			*pp = h->obj_next;
	}
	free(h);
}

struct mcs_store *mcs_store_free(struct mcs_store *s)
{
	if (!s)
		return NULL;
	while (s->holds)
		hold_unlink_free(s->holds);
	for (uint64_t i = 0; i < s->n_buckets; i++) {
		struct mcs_obj *o = s->buckets[i];
		while (o) {
			struct mcs_obj *n = o->hnext;
			obj_free(o);
			o = n;
		}
	}
	free(s->buckets);
	free(s->vec);
	while (s->segments) {
		struct mcs_seg *g = s->segments;
		s->segments = g->next;
		mcs_alloc_free(g->alloc);
		free(g->name);
		free(g->node);
		free(g->endpoint);
		free(g);
	}
	free(s);
	return NULL;
}

/* ---- hash table ------------------------------------------------------ */

static struct mcs_obj **obj_slot(struct mcs_store *s, struct mcs_str key, uint64_t hash)
{
	struct mcs_obj **pp = &s->buckets[hash & (s->n_buckets - 1)];
	for (; *pp; pp = &(*pp)->hnext)
		if ((*pp)->hash == hash && (*pp)->keylen == key.len && memcmp((*pp)->key, key.p, key.len) == 0)
			break;
	return pp;
}

static struct mcs_obj *obj_find(struct mcs_store *s, struct mcs_str key)
{
	return *obj_slot(s, key, key_hash(key.p, key.len));
}

static void table_grow(struct mcs_store *s)
{
	uint64_t n = s->n_buckets * 2;
	struct mcs_obj **b = calloc(n, sizeof(*b));
	if (!b)
		return; /* keep chaining longer; correctness is unaffected */
	for (uint64_t i = 0; i < s->n_buckets; i++) {
		struct mcs_obj *o = s->buckets[i];
		while (o) {
			struct mcs_obj *next = o->hnext;
			o->hnext = b[o->hash & (n - 1)];
			b[o->hash & (n - 1)] = o;
			o = next;
		}
	}
	free(s->buckets);
	s->buckets = b;
	s->n_buckets = n;
}

static uint64_t obj_bytes(const struct mcs_obj *o)
{
	uint64_t b = 0;
	for (uint32_t r = 0; r < o->n_replicas; r++)
		for (uint32_t h = 0; h < o->replicas[r].n_handles; h++)
			b += o->replicas[r].handles[h].len;
	return b;
}

static void pending_unlink(struct mcs_store *s, struct mcs_obj *o)
{
	if (o->pprev)
		o->pprev->pnext = o->pnext;
	else if (s->pending_head == o)
		s->pending_head = o->pnext;
	if (o->pnext)
		o->pnext->pprev = o->pprev;
	else if (s->pending_tail == o)
		s->pending_tail = o->pprev;
	o->pnext = o->pprev = NULL;
}

static void obj_delete(struct mcs_store *s, struct mcs_obj *o)
{
	struct mcs_obj **pp = obj_slot(s, (struct mcs_str){ o->key, o->keylen }, o->hash);
	if (*pp == o) {
		*pp = o->hnext;
		s->n_objects--;
		/* swap-remove from the sampling vector */
		struct mcs_obj *last = s->vec[--s->vec_len];
		s->vec[o->vidx] = last;
		last->vidx = o->vidx;
	}
	if (o->state == MCS_OBJ_PENDING)
		pending_unlink(s, o);
	if (o->flags & MCS_REPL_SOFT_PIN)
		s->soft_pinned_bytes -= MCS_MIN(s->soft_pinned_bytes, o->size);
	obj_free(o);
}

/* ---- segments -------------------------------------------------------- */

static struct mcs_seg *seg_find(struct mcs_store *s, struct mcs_str name)
{
	for (struct mcs_seg *g = s->segments; g; g = g->next)
		if (strlen(g->name) == name.len && memcmp(g->name, name.p, name.len) == 0)
			return g;
	return NULL;
}

static char *str_dup(struct mcs_str s)
{
	char *p = malloc(s.len + 1);
	if (p) {
		if (s.len)
			memcpy(p, s.p, s.len);
		p[s.len] = '\0';
	}
	return p;
}

static bool str_valid_name(struct mcs_str s)
{
	if (s.len == 0 || s.len > MCS_NAME_MAX)
		return false;
	for (uint32_t i = 0; i < s.len; i++)
		if ((unsigned char)s.p[i] < 0x21 || (unsigned char)s.p[i] > 0x7e)
			return false;
	return true;
}

int mcs_store_mount(struct mcs_store *s, struct mcs_str node, struct mcs_str segment, uint64_t size,
		    struct mcs_str endpoint, void *owner)
{
	if (!str_valid_name(node) || !str_valid_name(segment) || size == 0)
		return -EINVAL;
	if (seg_find(s, segment))
		return -EEXIST;
	struct mcs_seg *g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->name = str_dup(segment);
	g->node = str_dup(node);
	g->endpoint = str_dup(endpoint);
	g->size = size;
	g->owner = owner;
	int r = -ENOMEM;
	if (!g->name || !g->node || !g->endpoint || (r = mcs_alloc_new(size, s->opts.granule, &g->alloc)) < 0) {
		free(g->name);
		free(g->node);
		free(g->endpoint);
		free(g);
		return r;
	}
	g->next = s->segments;
	s->segments = g;
	s->n_segments++;
	return 0;
}

/* Drop every replica that has a buffer on g; forget objects left bare. */
static int seg_evacuate(struct mcs_store *s, struct mcs_seg *g)
{
	int lost = 0;
	for (uint64_t i = 0; i < s->n_buckets; i++) {
		struct mcs_obj *o = s->buckets[i];
		while (o) {
			struct mcs_obj *next = o->hnext;
			uint32_t keep = 0;
			for (uint32_t r = 0; r < o->n_replicas; r++) {
				struct mcs_mreplica *rep = &o->replicas[r];
				bool on_g = false;
				for (uint32_t h = 0; h < rep->n_handles; h++)
					on_g |= rep->handles[h].seg == g;
				if (on_g) {
					for (uint32_t h = 0; h < rep->n_handles; h++)
						mcs_alloc_put(rep->handles[h].seg->alloc, rep->handles[h].blk);
					if (!obj_inline(o, rep->handles))
						free(rep->handles);
				} else {
					o->replicas[keep++] = *rep;
				}
			}
			bool had = o->n_replicas > 0;
			o->n_replicas = keep;
			if (had && keep == 0) {
				obj_delete(s, o);
				lost++;
			}
			o = next;
		}
	}
	return lost;
}

static void seg_destroy(struct mcs_store *s, struct mcs_seg *g)
{
	seg_evacuate(s, g);
	for (struct mcs_seg **pp = &s->segments; *pp; pp = &(*pp)->next)
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	s->n_segments--;
	mcs_alloc_free(g->alloc);
	free(g->name);
	free(g->node);
	free(g->endpoint);
	free(g);
}

int mcs_store_unmount(struct mcs_store *s, struct mcs_str segment, void *owner)
{
	struct mcs_seg *g = seg_find(s, segment);
	if (!g)
		return -ENODEV;
	if (g->owner != owner)
		return -EPERM;
	uint64_t before = s->n_objects;
	seg_destroy(s, g);
	return (int)MCS_MIN(before - s->n_objects, (uint64_t)INT32_MAX);
}

void mcs_store_drop_owner(struct mcs_store *s, void *owner)
{
	for (struct mcs_hold *h = s->holds, *n; h; h = n) {
		n = h->next;
		if (h->owner == owner)
			hold_unlink_free(h);
	}
	/* every pending put is on the pending list: no walk over the whole
	 * table (clients that talk to the master directly come and go) */
	for (struct mcs_obj *o = s->pending_head, *next; o; o = next) {
		next = o->pnext;
		if (o->put_owner == owner)
			obj_delete(s, o);
	}
	for (struct mcs_seg *g = s->segments, *n; g; g = n) {
		n = g->next;
		if (g->owner == owner)
			seg_destroy(s, g);
	}
}

/* ---- allocation ------------------------------------------------------ */

static uint64_t rng_next(struct mcs_store *s)
{
	/* splitmix64: deterministic for a given seed */
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t seg_free(const struct mcs_seg *g) { return mcs_alloc_size(g->alloc) - mcs_alloc_used(g->alloc); }

static bool node_used(struct mcs_seg *const *used_nodes, uint32_t n, const struct mcs_seg *g)
{
	for (uint32_t i = 0; i < n; i++)
		if (strcmp(used_nodes[i]->node, g->node) == 0)
			return true;
	return false;
}

static bool seg_preferred(const struct mcs_replicate_cfg *cfg, const struct mcs_seg *g)
{
	for (uint32_t i = 0; i < cfg->n_locations; i++) {
		struct mcs_str l = cfg->locations[i];
		if ((strlen(g->name) == l.len && memcmp(g->name, l.p, l.len) == 0) ||
		    (strlen(g->node) == l.len && memcmp(g->node, l.p, l.len) == 0))
			return true;
	}
	return false;
}

/* Choose the segment for the next buffer of a replica: preferred
 * locations first, then by strategy, among segments whose node holds no
 * other replica of this object and that can take at least `want` bytes
 * (or, when striping, any bytes at all). */
static struct mcs_seg *pick_segment(struct mcs_store *s, const struct mcs_replicate_cfg *cfg,
				    struct mcs_seg *const *other_nodes, uint32_t n_other, uint64_t want,
				    bool whole)
{
	struct mcs_seg *best = NULL;
	bool best_pref = false;
	uint64_t n_ok = 0;
	for (struct mcs_seg *g = s->segments; g; g = g->next) {
		if (node_used(other_nodes, n_other, g))
			continue;
		uint64_t lf = mcs_alloc_largest_free(g->alloc);
		if (whole ? lf < want : lf == 0)
			continue;
		bool pref = seg_preferred(cfg, g);
		if (best && best_pref && !pref)
			continue;
		if (best && pref && !best_pref) {
			best = g;
			best_pref = true;
			n_ok = 1;
			continue;
		}
		n_ok++;
		if (!best) {
			best = g;
			best_pref = pref;
		} else if (s->opts.strategy == MCS_STRATEGY_RANDOM) {
			/* reservoir sampling: uniform among the candidates */
			if (rng_next(s) % n_ok == 0)
				best = g;
		} else if (seg_free(g) > seg_free(best)) {
			best = g;
		}
	}
	return best;
}

uint32_t mcs_store_nodes_able(const struct mcs_store *s, uint64_t size)
{
	/* Each replica needs nodes of its own. A node whose segments add up
	 * to size can hold one alone; smaller nodes only together, so at most
	 * (their capacity / size) replicas come from them. An upper bound,
	 * counted from capacities: what is used can be evicted. */
	struct node_cap {
		const char *node;
		uint64_t cap;
	} *nc = calloc(s->n_segments ? s->n_segments : 1, sizeof(*nc));
	if (!nc)
		return UINT32_MAX; /* no bound known: never refuse for it */
	size_t n = 0;
	for (const struct mcs_seg *g = s->segments; g; g = g->next) {
		size_t i = 0;
		while (i < n && strcmp(nc[i].node, g->node) != 0)
			i++;
		if (i == n)
			nc[n++] = (struct node_cap){ g->node, 0 };
		nc[i].cap += g->size;
	}
	uint64_t able = 0, small = 0;
	for (size_t i = 0; i < n; i++) {
		if (size == 0 || nc[i].cap >= size)
			able++;
		else
			small += nc[i].cap;
	}
	free(nc);
	if (size)
		able += small / size;
	return (uint32_t)MCS_MIN(able, (uint64_t)UINT32_MAX - 1);
}

/* Allocate one replica of `size` bytes on nodes not in other_nodes.
 * Prefers one buffer; stripes over several segments of distinct nodes not
 * used by other replicas when no single extent fits or when size exceeds
 * max_buffer. Adds the nodes it used to other_nodes. The first buffer
 * record goes to *spare (the object's own room for it) when there is one. */
static int alloc_replica(struct mcs_store *s, const struct mcs_replicate_cfg *cfg, uint64_t size,
			 struct mcs_seg **other_nodes, uint32_t *n_other, uint32_t cap_other,
			 struct mcs_mreplica *ret, struct mcs_mhandle *spare)
{
	memset(ret, 0, sizeof(*ret));
	ret->status = MCS_REPLICA_INITIALIZED;
	if (size == 0)
		return 0;
	uint64_t maxbuf = s->opts.max_buffer ? s->opts.max_buffer : size;
	uint32_t n_before = *n_other;
	uint64_t left = size;
	uint32_t cap = 0;

	while (left > 0) {
		uint64_t want = MCS_MIN(left, maxbuf);
		/* stripes of one replica may share a node with each other but
		 * not with other replicas: search excluding only n_before */
		struct mcs_seg *g = pick_segment(s, cfg, other_nodes, n_before, want, true);
		uint64_t piece = want;
		if (!g) {
			g = pick_segment(s, cfg, other_nodes, n_before, want, false);
			if (!g)
				goto fail;
			piece = MCS_MIN(want, mcs_alloc_largest_free(g->alloc));
		}
		struct mcs_block *b = mcs_alloc_get(g->alloc, piece);
		if (!b)
			goto fail;
		if (ret->n_handles == MCS_MAX_HANDLES) {
			mcs_alloc_put(g->alloc, b);
			goto fail;
		}
		if (ret->n_handles == cap) {
			uint32_t ncap = cap ? cap * 2 : 1;
			struct mcs_mhandle *nh;
			if (!cap && spare)
				nh = spare;
			else if (spare && ret->handles == spare) {
				/* striped: out of the object's room */
				if ((nh = malloc(ncap * sizeof(*nh))))
					memcpy(nh, spare, cap * sizeof(*nh));
			} else
				nh = realloc(ret->handles, ncap * sizeof(*nh));
			if (!nh) {
				mcs_alloc_put(g->alloc, b);
				goto fail;
			}
			ret->handles = nh;
			cap = ncap;
		}
		ret->handles[ret->n_handles++] = (struct mcs_mhandle){ g, b, mcs_block_offset(b), piece };
		left -= piece;
		if (!node_used(other_nodes, *n_other, g) && *n_other < cap_other)
			other_nodes[(*n_other)++] = g;
	}
	return 0;
fail:
	for (uint32_t h = 0; h < ret->n_handles; h++)
		mcs_alloc_put(ret->handles[h].seg->alloc, ret->handles[h].blk);
	if (ret->handles != spare)
		free(ret->handles);
	memset(ret, 0, sizeof(*ret));
	*n_other = n_before;
	return -ENOSPC;
}

int mcs_store_put_start(struct mcs_store *s, const struct mcs_put_start_req *req, void *owner,
			uint64_t now_ms, struct mcs_obj **ret_obj)
{
	struct mcs_str key = req->key;
	if (key.len == 0)
		return -EINVAL;
	if (key.len > MCS_KEY_MAX)
		return -ENAMETOOLONG;
	uint32_t want = req->cfg.replica_num ? req->cfg.replica_num : 1;
	if (want > MCS_MAX_REPLICAS)
		return -EINVAL;
	uint64_t hash = key_hash(key.p, key.len);
	struct mcs_obj **slot = obj_slot(s, key, hash);
	if (*slot)
		return (*slot)->state == MCS_OBJ_COMPLETE ? -EEXIST : -EAGAIN;
	if (!s->segments || req->value_len > mcs_store_capacity(s)) {
		s->ctr.put_no_space++;
		return -ENOSPC;
	}

	/* one allocation (see obj_inline): fewer mallocs, less memory, and
	 * a get reads what it needs from neighbouring cache lines */
	size_t reps = want * sizeof(struct mcs_mreplica), hdls = want * sizeof(struct mcs_mhandle);
	struct mcs_obj *o = calloc(1, sizeof(*o) + reps + hdls + key.len + 1);
	if (!o)
		return -ENOMEM;
	o->replicas = (struct mcs_mreplica *)(o + 1);
	struct mcs_mhandle *spare = (struct mcs_mhandle *)((char *)(o + 1) + reps);
	o->key = (char *)(o + 1) + reps + hdls;
	memcpy(o->key, key.p, key.len);
	o->keylen = key.len;
	o->hash = hash;
	o->size = req->value_len;
	o->flags = req->cfg.flags;
	o->state = MCS_OBJ_PENDING;
	o->put_owner = owner;
	o->put_start_ms = now_ms;
	o->last_access_ms = now_ms;

	if (s->vec_len == s->vec_cap) {
		uint64_t cap = s->vec_cap ? s->vec_cap * 2 : 1024;
		struct mcs_obj **v = realloc(s->vec, cap * sizeof(*v));
		if (!v) {
			obj_free(o);
			return -ENOMEM;
		}
		s->vec = v;
		s->vec_cap = cap;
	}
	if ((o->flags & MCS_REPL_SOFT_PIN) &&
	    (double)(s->soft_pinned_bytes + o->size) > s->opts.max_soft_pin_ratio * (double)mcs_store_capacity(s)) {
		/* the pin bound is reached: store it, but as evictable */
		o->flags &= ~(uint32_t)MCS_REPL_SOFT_PIN;
		s->ctr.soft_pins_refused++;
	}

	/* When the space is not there, evict (least recently used first)
	 * and try again; give up only when eviction frees nothing more. Fewer
	 * nodes than replicas is not a lack of space: once every node that
	 * can take a replica has one, nothing is evicted. */
	bool all = req->cfg.flags & MCS_REPL_ALL_OR_NOTHING;
	uint32_t able = UINT32_MAX; /* counted only when placement falls short */
	for (int attempt = 0;; attempt++) {
		struct mcs_seg *nodes[MCS_MAX_REPLICAS * 8];
		uint32_t n_nodes = 0;
		for (uint32_t r = o->n_replicas; r < want; r++) {
			if (alloc_replica(s, &req->cfg, req->value_len, nodes, &n_nodes, MCS_ARRAY_SIZE(nodes),
					  &o->replicas[o->n_replicas], &spare[o->n_replicas]) < 0)
				break;
			o->n_replicas++;
		}
		if (o->n_replicas == want || (o->n_replicas > 0 && !all && attempt > 0))
			break;
		if (able == UINT32_MAX)
			able = mcs_store_nodes_able(s, req->value_len);
		if (all ? able < want : o->n_replicas >= MCS_MIN(want, able))
			break;
		/* free what this put needs, plus the usual run */
		uint64_t need = req->value_len * (want - o->n_replicas);
		/* only what this put needs is evicted now; the rest of the
		 * run (eviction_ratio of the objects) goes to the background,
		 * so a put never waits for a 100k-object sweep */
		uint64_t min_obj = 0;
		if (attempt == 0 && s->evict_debt == 0)
			s->evict_debt = (uint64_t)((double)s->n_objects * s->opts.eviction_ratio);
		/* nodes already holding replicas of this object cannot take
		 * another: retry placement from scratch after evicting */
		obj_release_space(o);
		o->replicas = (struct mcs_mreplica *)(o + 1);
		memset(o->replicas, 0, reps);
		if (attempt > 8 || mcs_store_evict(s, min_obj, need, now_ms) == 0) {
			/* last try with what is free now */
			n_nodes = 0;
			for (uint32_t r = 0; r < want; r++) {
				if (alloc_replica(s, &req->cfg, req->value_len, nodes, &n_nodes,
						  MCS_ARRAY_SIZE(nodes), &o->replicas[o->n_replicas],
						  &spare[o->n_replicas]) < 0)
					break;
				o->n_replicas++;
			}
			break;
		}
	}
	if (o->n_replicas == 0 || (all && o->n_replicas < want)) {
		int st = all && able < want ? -EXFULL : -ENOSPC;
		obj_free(o);
		if (st == -ENOSPC)
			s->ctr.put_no_space++;
		MCS_PROBE3(put_start, hash, req->value_len, st);
		return st;
	}
	/* eviction may have rehashed nothing, but it removed entries: find
	 * the slot again */
	slot = obj_slot(s, key, hash);
	*slot = o;
	s->n_objects++;
	o->vidx = s->vec_len;
	s->vec[s->vec_len++] = o;
	o->pprev = s->pending_tail;
	if (s->pending_tail)
		s->pending_tail->pnext = o;
	else
		s->pending_head = o;
	s->pending_tail = o;
	if (o->flags & MCS_REPL_SOFT_PIN)
		s->soft_pinned_bytes += o->size;
	if (s->n_objects > s->n_buckets)
		table_grow(s);
	*ret_obj = o;
	MCS_PROBE3(put_start, hash, o->size, 0);
	return 0;
}

/* ---- eviction -------------------------------------------------------- */

static bool evictable(const struct mcs_obj *o, uint64_t now_ms, bool soft_too)
{
	if (o->state != MCS_OBJ_COMPLETE || o->holds || now_ms < o->lease_until_ms)
		return false;
	if (o->flags & MCS_REPL_HARD_PIN)
		return false;
	return soft_too || !(o->flags & MCS_REPL_SOFT_PIN);
}

#define EVICT_POOL 16

uint64_t mcs_store_evict(struct mcs_store *s, uint64_t min_objects, uint64_t need_bytes, uint64_t now_ms)
{
	struct mcs_obj *pool[EVICT_POOL];
	unsigned n_pool = 0;
	uint64_t freed = 0, evicted = 0, samples = 0, t0 = mcs_now_ns();
	bool soft_too = false;
	/* a bound on the work of one run, proportional to what it may
	 * evict, so a store full of leased objects cannot stall the master */
	uint64_t budget = (min_objects + 64) * s->opts.evict_samples * 8 +
			  (need_bytes / 4096 + 1) * s->opts.evict_samples;

	s->ctr.evict_runs++;
	while ((evicted < min_objects || freed < need_bytes) && s->vec_len > 0 && samples < budget) {
		/* top the pool up with a fresh sample */
		for (unsigned k = 0; k < s->opts.evict_samples && samples < budget; k++) {
			struct mcs_obj *o = s->vec[rng_next(s) % s->vec_len];
			samples++;
			if (!evictable(o, now_ms, soft_too))
				continue;
			bool dup = false;
			for (unsigned i = 0; i < n_pool && !dup; i++)
				dup = pool[i] == o;
			if (dup)
				continue;
			/* insertion into the pool, oldest first */
			if (n_pool == EVICT_POOL) {
				if (o->last_access_ms >= pool[n_pool - 1]->last_access_ms)
					continue;
				n_pool--;
			}
			unsigned at = n_pool;
			while (at > 0 && pool[at - 1]->last_access_ms > o->last_access_ms) {
				pool[at] = pool[at - 1];
				at--;
			}
			pool[at] = o;
			n_pool++;
		}
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

uint64_t mcs_store_evict_if_needed(struct mcs_store *s, uint64_t now_ms)
{
	uint64_t cap = mcs_store_capacity(s), used = mcs_store_used(s);
	if (!cap || (double)used < s->opts.high_watermark * (double)cap || s->opts.high_watermark >= 1.0)
		return 0;
	double low = s->opts.high_watermark - s->opts.eviction_ratio;
	uint64_t target = (uint64_t)((low > 0 ? low : 0) * (double)cap);
	if (s->evict_debt == 0)
		s->evict_debt = (uint64_t)((double)s->n_objects * s->opts.eviction_ratio);
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

uint64_t mcs_store_expire_puts(struct mcs_store *s, uint64_t now_ms)
{
	uint64_t n = 0;
	while (s->pending_head && now_ms - s->pending_head->put_start_ms >= s->opts.put_timeout_ms) {
		obj_delete(s, s->pending_head);
		n++;
	}
	s->ctr.puts_timed_out += n;
	return n;
}

const struct mcs_store_counters *mcs_store_counters(const struct mcs_store *s) { return &s->ctr; }

int mcs_store_put_end(struct mcs_store *s, struct mcs_str key, uint64_t checksum, void *owner, uint64_t now_ms)
{
	struct mcs_obj *o = obj_find(s, key);
	if (!o || o->put_owner != owner)
		return -ENOENT;
	if (o->state != MCS_OBJ_PENDING)
		return -EEXIST;
	pending_unlink(s, o);
	o->state = MCS_OBJ_COMPLETE;
	o->checksum = checksum;
	o->put_owner = NULL;
	o->last_access_ms = now_ms;
	for (uint32_t r = 0; r < o->n_replicas; r++)
		o->replicas[r].status = MCS_REPLICA_COMPLETE;
	MCS_PROBE3(put_end, o->hash, o->size, now_ms - o->put_start_ms);
	return 0;
}

int mcs_store_put_revoke(struct mcs_store *s, struct mcs_str key, void *owner)
{
	struct mcs_obj *o = obj_find(s, key);
	if (!o || o->state != MCS_OBJ_PENDING || o->put_owner != owner)
		return -ENOENT;
	MCS_PROBE1(put_revoke, o->hash);
	obj_delete(s, o);
	return 0;
}

static bool obj_leased(const struct mcs_obj *o, uint64_t now_ms) { return o->holds || now_ms < o->lease_until_ms; }

/* The lease probes (common/probes.h), before a grant moves lease_until_ms.
 * Leases end without a timer: one that ran out is seen at the next grant. */
static void lease_probe(struct mcs_obj *o, uint64_t now_ms, uint64_t ttl_ms, int kind)
{
	if (now_ms < o->lease_until_ms) {
		MCS_PROBE3(lease_extend, o->hash, ttl_ms, kind);
		return;
	}
	if (o->lease_until_ms)
		MCS_PROBE3(lease_expire, o->hash, o->lease_until_ms - o->lease_since_ms, now_ms - o->lease_until_ms);
	o->lease_since_ms = now_ms;
	MCS_PROBE3(lease_grant, o->hash, ttl_ms, kind);
}

int mcs_store_get(struct mcs_store *s, struct mcs_str key, bool hold, void *owner, uint64_t now_ms,
		  struct mcs_obj **ret_obj, uint64_t *ret_hold_id)
{
	struct mcs_obj *o = obj_find(s, key);
	if (!o)
		return -ENOENT;
	if (o->state != MCS_OBJ_COMPLETE)
		return -EAGAIN; /* its put has not ended: "replica not ready" */
	uint64_t hold_id = 0;
	if (hold) {
		struct mcs_hold *h = calloc(1, sizeof(*h));
		if (!h)
			return -ENOMEM;
		h->id = hold_id = s->next_hold_id++;
		h->obj = o;
		h->owner = owner;
		h->obj_next = o->holds;
		o->holds = h;
		h->next = s->holds;
		if (s->holds)
			s->holds->pprev = &h->next;
		h->pprev = &s->holds;
		s->holds = h;
	}
	lease_probe(o, now_ms, s->opts.lease_ttl_ms, 0);
	MCS_PROBE3(get, o->hash, o->size, hold);
	o->lease_until_ms = MCS_MAX(o->lease_until_ms, now_ms + s->opts.lease_ttl_ms);
	o->last_access_ms = now_ms;
	s->ctr.leases_granted++;
	*ret_obj = o;
	if (ret_hold_id)
		*ret_hold_id = hold_id;
	return 0;
}

int mcs_store_release(struct mcs_store *s, struct mcs_str key, uint64_t hold_id, void *owner)
{
	for (struct mcs_hold *h = s->holds; h; h = h->next) {
		if (h->id != hold_id || h->owner != owner)
			continue;
		/* a hold whose object was force-removed has obj == NULL */
		if (h->obj && !(h->obj->keylen == key.len && memcmp(h->obj->key, key.p, key.len) == 0))
			return -ESRCH;
		hold_unlink_free(h);
		return 0;
	}
	return -ESRCH;
}

int mcs_store_exist(struct mcs_store *s, struct mcs_str key, uint64_t now_ms)
{
	struct mcs_obj *o = obj_find(s, key);
	if (!o)
		return -ENOENT;
	if (o->state != MCS_OBJ_COMPLETE)
		return -EAGAIN;
	lease_probe(o, now_ms, s->opts.lease_ttl_ms, 1);
	o->lease_until_ms = MCS_MAX(o->lease_until_ms, now_ms + s->opts.lease_ttl_ms);
	o->last_access_ms = now_ms;
	s->ctr.leases_granted++;
	return 0;
}

int mcs_store_remove(struct mcs_store *s, struct mcs_str key, bool force, uint64_t now_ms)
{
	struct mcs_obj *o = obj_find(s, key);
	if (!o)
		return -ENOENT;
	if (o->state != MCS_OBJ_COMPLETE)
		return -EAGAIN;
	if (!force && obj_leased(o, now_ms)) {
		s->ctr.remove_refused++;
		return -EBUSY;
	}
	obj_delete(s, o);
	return 0;
}

uint64_t mcs_store_lease_left_ms(struct mcs_store *s, struct mcs_str key, uint64_t now_ms)
{
	const struct mcs_obj *o = obj_find(s, key);
	return o && o->lease_until_ms > now_ms ? o->lease_until_ms - now_ms : 0;
}

/* The cursor's next bucket in reverse-binary order: the high bits of the
 * index count up first, so that after the table doubles, the buckets an
 * entry can have moved to (i and i + old size) both lie ahead of a cursor
 * that had not reached i, and both behind one that had. */
static uint64_t bitrev64(uint64_t v)
{
	v = ((v >> 1) & 0x5555555555555555ull) | ((v & 0x5555555555555555ull) << 1);
	v = ((v >> 2) & 0x3333333333333333ull) | ((v & 0x3333333333333333ull) << 2);
	v = ((v >> 4) & 0x0f0f0f0f0f0f0f0full) | ((v & 0x0f0f0f0f0f0f0f0full) << 4);
	return __builtin_bswap64(v);
}

static uint64_t cursor_next(uint64_t v, uint64_t mask)
{
	v |= ~mask;
	return bitrev64(bitrev64(v) + 1);
}

static bool list_match(const struct mcs_obj *o, struct mcs_str prefix)
{
	return o->state == MCS_OBJ_COMPLETE && o->keylen >= prefix.len && memcmp(o->key, prefix.p, prefix.len) == 0;
}

uint64_t mcs_store_list(struct mcs_store *s, struct mcs_str prefix, uint64_t cursor, uint32_t limit,
			uint64_t max_buckets, struct mcs_str *keys, uint32_t cap, uint32_t *ret_n)
{
	uint64_t mask = s->n_buckets - 1, v = cursor;
	uint32_t n = 0;
	for (uint64_t visited = 0; visited < max_buckets && n < limit; visited++) {
		const struct mcs_obj *head = s->buckets[v & mask];
		uint32_t m = 0;
		for (const struct mcs_obj *o = head; o; o = o->hnext)
			m += list_match(o, prefix);
		/* a bucket is taken whole: one that does not fit starts the
		 * next page (only a chain longer than cap is ever cut) */
		if (n > 0 && m > cap - n)
			break;
		for (const struct mcs_obj *o = head; o && n < cap; o = o->hnext)
			if (list_match(o, prefix))
				keys[n++] = (struct mcs_str){ o->key, o->keylen };
		v = cursor_next(v, mask);
		if (v == 0)
			break;
	}
	*ret_n = n;
	return v;
}

uint64_t mcs_store_remove_all(struct mcs_store *s, uint64_t now_ms)
{
	uint64_t n = 0;
	for (uint64_t i = 0; i < s->n_buckets; i++) {
		struct mcs_obj *o = s->buckets[i];
		while (o) {
			struct mcs_obj *next = o->hnext;
			if (o->state == MCS_OBJ_COMPLETE && !obj_leased(o, now_ms)) {
				obj_delete(s, o);
				n++;
			}
			o = next;
		}
	}
	return n;
}

uint64_t mcs_store_lease_ttl_ms(const struct mcs_store *s) { return s->opts.lease_ttl_ms; }
uint64_t mcs_store_n_objects(const struct mcs_store *s) { return s->n_objects; }
struct mcs_seg *mcs_store_segments(const struct mcs_store *s) { return s->segments; }

uint64_t mcs_store_capacity(const struct mcs_store *s)
{
	uint64_t c = 0;
	for (struct mcs_seg *g = s->segments; g; g = g->next)
		c += g->size;
	return c;
}

uint64_t mcs_store_used(const struct mcs_store *s)
{
	uint64_t u = 0;
	for (struct mcs_seg *g = s->segments; g; g = g->next)
		u += mcs_alloc_used(g->alloc);
	return u;
}

static struct mcs_str cstr(const char *p) { return (struct mcs_str){ p, (uint32_t)strlen(p) }; }

int mcs_store_replica_list(const struct mcs_obj *o, uint8_t only, struct mcs_replica_list *ret)
{
	struct mcs_replica_list l = { 0 };
	if (o->n_replicas) {
		l.replicas = calloc(o->n_replicas, sizeof(*l.replicas));
		if (!l.replicas)
			return -ENOMEM;
	}
	for (uint32_t r = 0; r < o->n_replicas; r++) {
		const struct mcs_mreplica *mr = &o->replicas[r];
		if (only && mr->status != only)
			continue;
		struct mcs_replica *wr = &l.replicas[l.n_replicas++];
		wr->status = mr->status;
		wr->n_handles = mr->n_handles;
		if (mr->n_handles) {
			wr->handles = calloc(mr->n_handles, sizeof(*wr->handles));
			if (!wr->handles) {
				mcs_replica_list_free(&l);
				return -ENOMEM;
			}
		}
		for (uint32_t h = 0; h < mr->n_handles; h++) {
			const struct mcs_mhandle *mh = &mr->handles[h];
			wr->handles[h] = (struct mcs_handle){
				.segment = cstr(mh->seg->name),
				.node = cstr(mh->seg->node),
				.endpoint = cstr(mh->seg->endpoint),
				.offset = mh->offset,
				.len = mh->len,
			};
		}
	}
	*ret = l;
	return 0;
}

int mcs_store_stat(const struct mcs_store *s, struct mcs_stat_resp *ret)
{
	struct mcs_stat_resp m = { 0 };
	m.n_objects = s->n_objects;
	m.capacity = mcs_store_capacity(s);
	m.used = mcs_store_used(s);
	uint32_t n = (uint32_t)MCS_MIN(s->n_segments, (uint64_t)MCS_MAX_SEGMENTS);
	if (n) {
		m.segments = calloc(n, sizeof(*m.segments));
		if (!m.segments)
			return -ENOMEM;
	}
	for (struct mcs_seg *g = s->segments; g && m.n_segments < n; g = g->next)
		m.segments[m.n_segments++] = (struct mcs_seg_stat){
			.name = cstr(g->name),
			.node = cstr(g->node),
			.size = g->size,
			.used = mcs_alloc_used(g->alloc),
			.n_allocs = mcs_alloc_count(g->alloc),
		};
	*ret = m;
	return 0;
}
