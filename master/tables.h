/* SPDX-License-Identifier: MIT */
/*
 * The store's tables (struct mcs_store) and what its three files need of
 * them; no one else includes this (callers use store.h):
 *
 *   store.c      the tables, segments, leases, holds and the object state
 *                machine (put start/end/revoke, upsert, get, remove, list)
 *   placement.c  where the replicas of a new object go: segment choice,
 *                striping, and the evict-and-retry loop of a put
 *   evict.c      approximate LRU by sampling, its debt and watermark, and
 *                the freeing of retired versions (replaced by an upsert)
 *
 * store.c calls placement.c, which calls evict.c; the helpers below are
 * inline so that neither calls back up into store.c (and the hot paths
 * stay as they were when the store was one file).
 */
#ifndef MCS_MASTER_TABLES_H
#define MCS_MASTER_TABLES_H

#include <stdlib.h>
#include <string.h>

#include "common/list.h"
#include "common/util.h"
#include "master/alloc.h"
#include "master/store.h"
#include "mcstore.h"

struct mcs_hold {
	uint64_t id;
	struct mcs_obj *obj;        /* NULL once the object is gone */
	void *owner;
	struct mcs_hold *obj_next;  /* in obj->holds, doubly linked: a release */
	struct mcs_hold *obj_prev;  /* is O(1) however many views an object has */
	struct mcs_hold *id_next;   /* in the store's hash by id */
	struct mcs_list link;       /* in the store's hold list */
};

struct mcs_store {
	struct mcs_store_opts opts;
	struct mcs_obj **buckets;
	uint64_t n_buckets;         /* power of two */
	uint64_t n_objects;
	struct mcs_seg *segments;
	uint64_t n_segments;
	struct mcs_list holds;      /* every hold (struct mcs_hold) */
	struct mcs_hold **hold_buckets; /* every hold by id (ids are sequential:
					 * id mod n spreads them evenly) */
	uint64_t n_hold_buckets, n_holds;
	uint64_t rng;
	/* every object, for O(1) uniform sampling by eviction */
	struct mcs_obj **vec;
	uint64_t vec_len, vec_cap;
	struct mcs_list pending;    /* pending puts (struct mcs_obj), oldest first */
	/* versions replaced by an upsert, kept for their readers (RETIRED,
	 * in no other table; linked by their `pending`) */
	struct mcs_list retired;
	uint64_t n_retired;
	uint64_t reap_at_ms;        /* none can be freed before (0: look now) */
	uint64_t soft_pinned_bytes;
	uint64_t evict_debt;        /* objects still to evict in the background */
	struct mcs_store_counters ctr;
	struct owner_debt *owner_debts[256]; /* pending put bytes by owner (owners.c) */
};

/* owners.c: the bytes of the puts each owner started and has not ended */
uint64_t store_owner_pending(struct mcs_store *s, const void *owner);
int store_owner_pending_add(struct mcs_store *s, const void *owner, uint64_t bytes);
/* o, PENDING, stops being so (ended, revoked, expired, dropped) */
void store_pending_done(struct mcs_store *s, const struct mcs_obj *o);
void store_owners_free(struct mcs_store *s);

static inline uint64_t store_rng_next(struct mcs_store *s)
{
	/* splitmix64: deterministic for a given seed */
	uint64_t z = (s->rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static inline uint64_t store_capacity(const struct mcs_store *s)
{
	uint64_t c = 0;
	for (struct mcs_seg *g = s->segments; g; g = g->next)
		c += g->size;
	return c;
}

static inline uint64_t store_used(const struct mcs_store *s)
{
	uint64_t u = 0;
	for (struct mcs_seg *g = s->segments; g; g = g->next)
		u += mcs_alloc_used(g->alloc);
	return u;
}

/* The side record of an object that needs more than the 88 bytes every
 * object has (store.h): a PENDING one (its put's owner and start, its
 * place in the pending puts), a RETIRED one (its place in the retired
 * versions), a COMPLETE one whose key is being upserted (the pending new
 * version). The others, nearly all objects, have none. */
struct mcs_obj_ext {
	struct mcs_list link;       /* in the store's pending puts while PENDING,
				     * in its retired versions while RETIRED */
	struct mcs_obj *obj;
	void *put_owner;            /* PENDING: the put's */
	uint64_t put_start_ms;
	struct mcs_obj *upsert;     /* COMPLETE: the key's pending new version,
				     * in no table but the pending puts */
};

static inline struct mcs_obj *obj_upsert(const struct mcs_obj *o) { return o->ext ? o->ext->upsert : NULL; }
static inline void *obj_put_owner(const struct mcs_obj *o) { return o->ext ? o->ext->put_owner : NULL; }
/* The object on the pending or retired list at l. */
static inline struct mcs_obj *obj_of_link(const struct mcs_list *l)
{
	return mcs_list_entry(l, struct mcs_obj_ext, link)->obj;
}

/* o's side record, made if it has none: 0 or -ENOMEM. */
static inline int obj_ext_need(struct mcs_obj *o)
{
	if (o->ext)
		return 0;
	struct mcs_obj_ext *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	mcs_list_init(&x->link);
	x->obj = o;
	o->ext = x;
	return 0;
}

/* A COMPLETE o that is on no list and has no upsert pending needs its
 * side record no more. */
static inline void obj_ext_trim(struct mcs_obj *o)
{
	if (o->ext && o->state == MCS_OBJ_COMPLETE && !o->ext->upsert && !mcs_list_linked(&o->ext->link)) {
		free(o->ext);
		o->ext = NULL;
	}
}

/* Off the pending or retired list, if on one. */
static inline void obj_list_del(struct mcs_obj *o)
{
	if (o->ext)
		mcs_list_del(&o->ext->link);
}

/* The lease of o runs until until_ms; the time it has been held moves
 * with its end (a new grant sets it: lease_probe). */
static inline void obj_lease_set(struct mcs_obj *o, uint64_t until_ms)
{
	uint64_t held = o->lease_held_ms;
	if (until_ms >= o->lease_until_ms)
		held += until_ms - o->lease_until_ms;
	else
		held -= MCS_MIN(held, o->lease_until_ms - until_ms);
	o->lease_held_ms = (uint32_t)MCS_MIN(held, UINT32_MAX);
	o->lease_until_ms = until_ms;
}

static inline uint64_t mh_offset(const struct mcs_mhandle *h) { return mcs_block_offset(h->blk); }
static inline uint64_t mh_len(const struct mcs_mhandle *h) { return mcs_block_len(h->blk); }

/* An object is one allocation: the struct, its key, then (a put's) its
 * array of replicas and one buffer record per replica (all that an
 * unstriped replica needs), room for n_inline replicas. What lies in that
 * room is never freed on its own; a striped replica's records, and a
 * rebuilt object's arrays, are allocated apart. */
static inline size_t obj_room_offset(size_t keylen)
{
	return MCS_ALIGN_UP(sizeof(struct mcs_obj) + keylen + 1, sizeof(void *));
}

static inline size_t obj_room_size(size_t n)
{
	return n * (sizeof(struct mcs_mreplica) + sizeof(struct mcs_mhandle));
}

static inline struct mcs_mreplica *obj_room(struct mcs_obj *o)
{
	return (struct mcs_mreplica *)((char *)o + obj_room_offset(o->keylen));
}

static inline bool obj_inline(const struct mcs_obj *o, const void *p)
{
	const char *room = (const char *)o + obj_room_offset(o->keylen);
	return (const char *)p >= room && (const char *)p < room + obj_room_size(o->n_inline);
}

static inline void obj_release_space(struct mcs_obj *o)
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

/* Back to no replica at all, with want empty records in the object's own
 * room (want <= n_inline), for placement to start over. */
static inline void obj_unplace(struct mcs_obj *o, uint32_t want)
{
	obj_release_space(o);
	o->replicas = obj_room(o);
	memset(o->replicas, 0, want * sizeof(*o->replicas));
}

static inline void obj_free(struct mcs_obj *o)
{
	if (!o)
		return;
	obj_release_space(o);
	for (struct mcs_hold *h = o->holds; h; h = h->obj_next)
		h->obj = NULL;
	free(o->ext);
	free(o); /* the key lives in the same allocation */
}

static inline uint64_t obj_bytes(const struct mcs_obj *o)
{
	uint64_t b = 0;
	for (uint32_t r = 0; r < o->n_replicas; r++)
		for (uint32_t h = 0; h < o->replicas[r].n_handles; h++)
			b += mh_len(&o->replicas[r].handles[h]);
	return b;
}

static inline struct mcs_obj **obj_slot(struct mcs_store *s, struct mcs_str key, uint64_t hash)
{
	struct mcs_obj **pp = &s->buckets[hash & (s->n_buckets - 1)];
	for (; *pp; pp = &(*pp)->hnext)
		if ((*pp)->hash == hash && (*pp)->keylen == key.len && memcmp((*pp)->key, key.p, key.len) == 0)
			break;
	return pp;
}

/* The pending new version nw of the object in slot pp takes its place
 * under the key and in the sampling vector: the one step of an upsert.
 * The old one keeps its side record (it is retired next). */
static inline void obj_replace(struct mcs_store *s, struct mcs_obj **pp, struct mcs_obj *nw)
{
	struct mcs_obj *old = *pp;
	nw->hnext = old->hnext;
	*pp = nw;
	nw->vidx = old->vidx;
	s->vec[nw->vidx] = nw;
	old->ext->upsert = NULL;
}

/* A retired version may go once no view holds it and no lease is left. */
static inline bool obj_reclaimable(const struct mcs_obj *o, uint64_t now_ms)
{
	return !o->holds && now_ms >= o->lease_until_ms;
}

/* Out of the key's table and the sampling vector (not RETIRED). A COMPLETE
 * object's pending new version (an upsert) takes its place under the key,
 * as a plain pending put; a pending new version that goes leaves its old
 * one as it was. */
static inline void obj_unlink(struct mcs_store *s, struct mcs_obj *o)
{
	struct mcs_obj **pp = obj_slot(s, (struct mcs_str){ o->key, o->keylen }, o->hash);
	if (*pp == o && obj_upsert(o)) {
		obj_replace(s, pp, o->ext->upsert);
	} else if (*pp == o) {
		*pp = o->hnext;
		s->n_objects--;
		/* swap-remove from the sampling vector */
		struct mcs_obj *last = s->vec[--s->vec_len];
		s->vec[o->vidx] = last;
		last->vidx = o->vidx;
	} else if (*pp && obj_upsert(*pp) == o) {
		(*pp)->ext->upsert = NULL;
		obj_ext_trim(*pp);
	}
}

/* The nodes hold o's parts in their tables (daemon/replicas.c): it is no
 * put that has not ended. */
static inline bool obj_parts_known(const struct mcs_obj *o)
{
	return o->state != MCS_OBJ_PENDING || o->rebuilding;
}

/* The space of a part the node of h holds in its table goes back. */
static inline void part_dropped(struct mcs_store *s, const struct mcs_mhandle *h)
{
	if (s->opts.part_dropped && h->seg)
		s->opts.part_dropped(s->opts.parts_arg, h->seg, mh_offset(h));
}

/* Out of every table, and freed. */
static inline void obj_delete(struct mcs_store *s, struct mcs_obj *o)
{
	if (s->opts.part_dropped && obj_parts_known(o))
		for (uint32_t r = 0; r < o->n_replicas; r++)
			for (uint32_t h = 0; h < o->replicas[r].n_handles; h++)
				part_dropped(s, &o->replicas[r].handles[h]);
	if (o->state == MCS_OBJ_RETIRED)
		s->n_retired--;
	else
		obj_unlink(s, o);
	if (o->state == MCS_OBJ_PENDING)
		store_pending_done(s, o);
	obj_list_del(o);
	if (o->flags & MCS_REPL_SOFT_PIN)
		s->soft_pinned_bytes -= MCS_MIN(s->soft_pinned_bytes, o->size);
	obj_free(o);
}

#endif
