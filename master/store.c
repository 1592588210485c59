/* SPDX-License-Identifier: MIT */
/*
 * The master's object and segment tables (see store.h), and the state
 * machine on them; where replicas go is placement.c, what is evicted
 * evict.c (tables.h says how the three share the tables).
 *
 * Objects live in a chained hash table keyed by XXH3 of the key, resized
 * by doubling so lookups stay O(1). Segments are a short list: a cluster
 * has a handful to a few thousand of them, and only allocation and
 * unmount walk it.
 */
#include <sodium.h>
#include <xxhash.h>

#include "common/probes.h"
#include "master/placement.h"
#include "master/tables.h"

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
	/* hold ids are random (hold_new_id) */
	if (!s->buckets || sodium_init() < 0) {
		int r = s->buckets ? -ENOSYS : -ENOMEM;
		free(s->buckets);
		free(s);
		return r;
	}
	if (s->opts.high_watermark <= 0 || s->opts.high_watermark > 1)
		s->opts.high_watermark = 1.0;
	if (s->opts.eviction_ratio <= 0 || s->opts.eviction_ratio > 1)
		s->opts.eviction_ratio = 0.1;
	if (s->opts.max_soft_pin_ratio <= 0 || s->opts.max_soft_pin_ratio > 1)
		s->opts.max_soft_pin_ratio = 0.5;
	if (s->opts.max_pending_put_ratio <= 0 || s->opts.max_pending_put_ratio > 1)
		s->opts.max_pending_put_ratio = 1.0;
	if (!s->opts.evict_samples)
		s->opts.evict_samples = 16;
	if (!s->opts.put_timeout_ms)
		s->opts.put_timeout_ms = 30000;
	mcs_list_init(&s->holds);
	mcs_list_init(&s->pending);
	mcs_list_init(&s->retired);
	s->rng = s->opts.seed ? s->opts.seed : 0x9e3779b97f4a7c15ull;
	*ret = s;
	return 0;
}

/* The hold of that id, or NULL. */
static struct mcs_hold **hold_slot(struct mcs_store *s, uint64_t id)
{
	if (!s->n_hold_buckets)
		return NULL;
	struct mcs_hold **pp = &s->hold_buckets[id & (s->n_hold_buckets - 1)];
	while (*pp && (*pp)->id != id)
		pp = &(*pp)->id_next;
	return pp;
}

/* A hold id nobody can guess (64 random bits, libsodium), unique among the
 * holds: through a node's relay the master sees one owner for all the
 * node's clients, and the daemon keeps them apart by id; 0 is no hold. */
static uint64_t hold_new_id(struct mcs_store *s)
{
	uint64_t id;
	do
		randombytes_buf(&id, sizeof(id));
	while (id == 0 || (s->n_hold_buckets && *hold_slot(s, id)));
	return id;
}

/* Twice the buckets once there are as many holds as buckets; without the
 * memory the chains just grow longer. */
static void holds_grow(struct mcs_store *s)
{
	uint64_t n = s->n_hold_buckets ? s->n_hold_buckets * 2 : 1024;
	struct mcs_hold **b = calloc(n, sizeof(*b));
	if (!b)
		return;
	for (uint64_t i = 0; i < s->n_hold_buckets; i++)
		for (struct mcs_hold *h = s->hold_buckets[i], *next; h; h = next) {
			next = h->id_next;
			h->id_next = b[h->id & (n - 1)];
			b[h->id & (n - 1)] = h;
		}
	free(s->hold_buckets);
	s->hold_buckets = b;
	s->n_hold_buckets = n;
}

/* h, new, into the hash, onto its object and the store's list; -ENOMEM
 * if the hash cannot be made at all. */
static int hold_link(struct mcs_store *s, struct mcs_hold *h, struct mcs_obj *o)
{
	if (s->n_holds >= s->n_hold_buckets)
		holds_grow(s);
	if (!s->n_hold_buckets)
		return -ENOMEM;
	struct mcs_hold **b = &s->hold_buckets[h->id & (s->n_hold_buckets - 1)];
	h->id_next = *b;
	*b = h;
	s->n_holds++;
	h->obj = o;
	h->obj_prev = NULL;
	h->obj_next = o->holds;
	if (o->holds)
		o->holds->obj_prev = h;
	o->holds = h;
	mcs_list_add(&s->holds, &h->link);
	return 0;
}

static void hold_unlink_free(struct mcs_store *s, struct mcs_hold *h)
{
	mcs_list_del(&h->link);
	struct mcs_hold **pp = hold_slot(s, h->id);
	if (pp && *pp == h) {
		*pp = h->id_next;
		s->n_holds--;
	}
	if (h->obj) {
		if (h->obj_prev)
			h->obj_prev->obj_next = h->obj_next;
		else
			h->obj->holds = h->obj_next;
		if (h->obj_next)
			h->obj_next->obj_prev = h->obj_prev;
		/* a retired version may now be free to go: the next reap looks */
		if (h->obj->state == MCS_OBJ_RETIRED)
			s->reap_at_ms = 0;
	}
	free(h);
}

struct mcs_store *mcs_store_free(struct mcs_store *s)
{
	if (!s)
		return NULL;
	while (!mcs_list_empty(&s->holds))
		hold_unlink_free(s, mcs_list_first(&s->holds, struct mcs_hold, link));
	for (uint64_t i = 0; i < s->n_buckets; i++) {
		struct mcs_obj *o = s->buckets[i];
		while (o) {
			struct mcs_obj *n = o->hnext;
			obj_free(obj_upsert(o));
			obj_free(o);
			o = n;
		}
	}
	struct mcs_list *n, *next;
	mcs_list_for_each_safe(n, next, &s->retired)
		obj_free(obj_of_link(n));
	store_owners_free(s);
	free(s->hold_buckets);
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
	return mcs_store_mount_inc(s, node, segment, size, endpoint, 0, owner);
}

int mcs_store_mount_inc(struct mcs_store *s, struct mcs_str node, struct mcs_str segment, uint64_t size,
			struct mcs_str endpoint, uint64_t incarnation, void *owner)
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
	g->incarnation = incarnation;
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

int mcs_store_set_reporting(struct mcs_store *s, struct mcs_str segment, void *owner, bool on)
{
	struct mcs_seg *g = seg_find(s, segment);
	if (!g)
		return -ENODEV;
	if (g->owner != owner)
		return -EPERM;
	g->reporting = on;
	return 0;
}

/* Drop o's replicas that have a buffer on g; an object left bare is
 * forgotten (true). */
static bool obj_evacuate(struct mcs_store *s, struct mcs_obj *o, const struct mcs_seg *g)
{
	uint32_t keep = 0;
	for (uint32_t r = 0; r < o->n_replicas; r++) {
		struct mcs_mreplica *rep = &o->replicas[r];
		bool on_g = false;
		for (uint32_t h = 0; h < rep->n_handles; h++)
			on_g |= rep->handles[h].seg == g;
		if (on_g) {
			for (uint32_t h = 0; h < rep->n_handles; h++) {
				if (!rep->handles[h].seg) /* a rebuilt replica may lack parts */
					continue;
				if (rep->handles[h].seg != g && obj_parts_known(o))
					part_dropped(s, &rep->handles[h]);
				mcs_alloc_put(rep->handles[h].seg->alloc, rep->handles[h].blk);
			}
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
		return true;
	}
	return false;
}

/* Drop every replica that has a buffer on g, of every version: stored,
 * pending as an upsert, retired. */
static void seg_evacuate(struct mcs_store *s, struct mcs_seg *g)
{
	for (uint64_t i = 0; i < s->n_buckets; i++) {
		struct mcs_obj *o = s->buckets[i];
		while (o) {
			/* a bare o gives its place to its new version, which
			 * must be evacuated first */
			struct mcs_obj *next = o->hnext;
			if (obj_upsert(o))
				obj_evacuate(s, obj_upsert(o), g);
			obj_evacuate(s, o, g);
			o = next;
		}
	}
	struct mcs_list *n, *next;
	mcs_list_for_each_safe(n, next, &s->retired)
		obj_evacuate(s, obj_of_link(n), g);
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

static void obj_retire(struct mcs_store *s, struct mcs_obj *old, uint64_t now_ms);

/* A token's expiry is minted a little after put_start_ms, on another clock */
#define FENCE_SLACK_MS 1000

/* A pending put that goes before its PUT_END (revoked, its writer's
 * connection closed, timed out). With fence_writes its writers may still
 * hold write tokens for its buffers (the node checks them without asking
 * the master, and cannot be told the put went): the space is retired,
 * given to no other put, until those tokens have expired. */
static void obj_drop_pending(struct mcs_store *s, struct mcs_obj *o, uint64_t now_ms)
{
	uint64_t until = o->ext->put_start_ms + s->opts.put_timeout_ms + FENCE_SLACK_MS;
	if (!s->opts.fence_writes || now_ms >= until) {
		obj_delete(s, o);
		return;
	}
	/* the owner's share of pending bytes ends with the put, though its
	 * space waits for the tokens (retired, it is no pending put) */
	store_pending_done(s, o);
	obj_unlink(s, o);
	obj_list_del(o);
	obj_lease_set(o, until);
	obj_retire(s, o, now_ms);
}

void mcs_store_drop_owner(struct mcs_store *s, void *owner)
{
	struct mcs_list *n, *next;
	mcs_list_for_each_safe(n, next, &s->holds) {
		struct mcs_hold *h = mcs_list_entry(n, struct mcs_hold, link);
		if (h->owner == owner)
			hold_unlink_free(s, h);
	}
	/* every pending put is on the pending list: no walk over the whole
	 * table (clients that talk to the master directly come and go) */
	mcs_list_for_each_safe(n, next, &s->pending) {
		struct mcs_obj *o = obj_of_link(n);
		if (o->ext->put_owner == owner)
			obj_drop_pending(s, o, mcs_now_ms());
	}
	for (struct mcs_seg *g = s->segments, *gn; g; g = gn) {
		gn = g->next;
		if (g->owner == owner)
			seg_destroy(s, g);
	}
}

/* Room in the sampling vector for one more object. */
static int vec_reserve(struct mcs_store *s)
{
	if (s->vec_len < s->vec_cap)
		return 0;
	/* doubling while small; then an eighth at a time, so that a master
	 * of 10M objects keeps no 6M empty slots (realloc moves big arrays
	 * by remapping their pages, not by copying) */
	uint64_t cap = !s->vec_cap ? 1024 : s->vec_cap < (UINT64_C(1) << 20) ? s->vec_cap * 2 : s->vec_cap + s->vec_cap / 8;
	struct mcs_obj **v = realloc(s->vec, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	s->vec = v;
	s->vec_cap = cap;
	return 0;
}

/* A new object asking for a soft pin past the bound is stored, but as
 * evictable. */
static void soft_pin_bound(struct mcs_store *s, struct mcs_obj *o)
{
	if ((o->flags & MCS_REPL_SOFT_PIN) &&
	    (double)(s->soft_pinned_bytes + o->size) > s->opts.max_soft_pin_ratio * (double)mcs_store_capacity(s)) {
		o->flags &= ~(uint32_t)MCS_REPL_SOFT_PIN;
		s->ctr.soft_pins_refused++;
	}
}

/* A new PENDING object o is its owner's pending put. */
static int obj_add_pending(struct mcs_store *s, struct mcs_obj *o)
{
	if (store_owner_pending_add(s, o->ext->put_owner, o->size) < 0)
		return -ENOMEM;
	mcs_list_add_tail(&s->pending, &o->ext->link);
	if (o->flags & MCS_REPL_SOFT_PIN)
		s->soft_pinned_bytes += o->size;
	return 0;
}

/* A new object o (vec_reserve done) into the empty slot and the sampling
 * vector. */
static void obj_link_new(struct mcs_store *s, struct mcs_obj **slot, struct mcs_obj *o)
{
	*slot = o;
	s->n_objects++;
	o->vidx = s->vec_len;
	s->vec[s->vec_len++] = o;
	if (s->n_objects > s->n_buckets)
		table_grow(s);
}

/* The fields every new PENDING object starts with, and its side record
 * (0 or -ENOMEM); key is copied to o->key. */
static int obj_init_pending(struct mcs_obj *o, struct mcs_str key, uint64_t hash, uint64_t size, uint32_t flags,
			    void *owner, uint64_t now_ms)
{
	if (obj_ext_need(o) < 0)
		return -ENOMEM;
	memcpy(o->key, key.p, key.len);
	o->keylen = (uint16_t)key.len;
	o->hash = hash;
	o->size = size;
	o->flags = (uint16_t)flags;
	o->state = MCS_OBJ_PENDING;
	o->ext->put_owner = owner;
	o->ext->put_start_ms = now_ms;
	o->last_access_ms = now_ms;
	return 0;
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
	bool upsert = req->cfg.flags & MCS_PUT_UPSERT;
	if (*slot && (*slot)->state == MCS_OBJ_COMPLETE && !upsert)
		return -EEXIST;
	/* one pending put per key, an upsert or not */
	if (*slot && ((*slot)->state != MCS_OBJ_COMPLETE || obj_upsert(*slot)))
		return -EAGAIN;
	if (!s->segments || req->value_len > mcs_store_capacity(s)) {
		s->ctr.put_no_space++;
		return -ENOSPC;
	}
	/* puts started and not ended hold space until their timeout: one
	 * owner may not take more than its share with them */
	if (s->opts.max_pending_put_ratio < 1.0 &&
	    (double)(store_owner_pending(s, owner) + req->value_len) >
		    s->opts.max_pending_put_ratio * (double)mcs_store_capacity(s))
		return -EDQUOT;

	/* one allocation (see obj_inline): fewer mallocs, less memory, and
	 * a get reads what it needs from neighbouring cache lines */
	struct mcs_obj *o = calloc(1, obj_room_offset(key.len) + obj_room_size(want));
	if (!o)
		return -ENOMEM;
	o->keylen = (uint16_t)key.len;
	o->n_inline = (uint8_t)want;
	o->replicas = obj_room(o);
	struct mcs_mhandle *spare = (struct mcs_mhandle *)(o->replicas + want);
	if (obj_init_pending(o, key, hash, req->value_len, req->cfg.flags & ~(uint32_t)MCS_PUT_UPSERT, owner,
			     now_ms) < 0 ||
	    vec_reserve(s) < 0) {
		obj_free(o);
		return -ENOMEM;
	}
	soft_pin_bound(s, o);

	int st = mcs_place_replicas(s, req, o, spare, now_ms);
	if (st < 0) {
		obj_free(o);
		if (st == -ENOSPC)
			s->ctr.put_no_space++;
		MCS_PROBE3(put_start, hash, req->value_len, st);
		return st;
	}
	/* eviction may have rehashed nothing, but it removed entries: find
	 * the slot again. The old version of an upsert, if eviction left it,
	 * stays what gets see until the new one's PutEnd. */
	slot = obj_slot(s, key, hash);
	/* the key is being upserted: its old version needs a side record
	 * to name the new one */
	if (*slot && obj_ext_need(*slot) < 0) {
		obj_free(o);
		return -ENOMEM;
	}
	if (obj_add_pending(s, o) < 0) {
		if (*slot)
			obj_ext_trim(*slot);
		obj_free(o);
		return -ENOMEM;
	}
	if (*slot)
		(*slot)->ext->upsert = o;
	else
		obj_link_new(s, slot, o);
	*ret_obj = o;
	MCS_PROBE3(put_start, hash, o->size, 0);
	return 0;
}

uint64_t mcs_store_expire_puts(struct mcs_store *s, uint64_t now_ms)
{
	uint64_t n = 0;
	struct mcs_obj *o;
	while (!mcs_list_empty(&s->pending) && (o = obj_of_link(s->pending.next)) &&
	       now_ms - o->ext->put_start_ms >= s->opts.put_timeout_ms) {
		obj_drop_pending(s, o, now_ms);
		n++;
	}
	s->ctr.puts_timed_out += n;
	return n;
}

const struct mcs_store_counters *mcs_store_counters(const struct mcs_store *s) { return &s->ctr; }

/* A version no key names any more (the old one of an upsert, a held one
 * force-removed), out of the tables: freed now, or kept for its readers
 * until mcs_store_reap_retired finds it free. */
static void obj_retire(struct mcs_store *s, struct mcs_obj *old, uint64_t now_ms)
{
	old->state = MCS_OBJ_RETIRED;
	/* a pin is for the key's value, which this is no longer */
	if (old->flags & MCS_REPL_SOFT_PIN)
		s->soft_pinned_bytes -= MCS_MIN(s->soft_pinned_bytes, old->size);
	old->flags &= ~(uint32_t)(MCS_REPL_SOFT_PIN | MCS_REPL_HARD_PIN);
	mcs_list_add_tail(&s->retired, &old->ext->link);
	s->n_retired++;
	if (obj_reclaimable(old, now_ms)) {
		obj_delete(s, old);
		s->ctr.retired_freed++;
	} else if (!old->holds) {
		s->reap_at_ms = MCS_MIN(s->reap_at_ms, old->lease_until_ms);
	}
}

/* A PENDING object becomes COMPLETE: no put of it is pending any more. */
static void obj_complete(struct mcs_store *s, struct mcs_obj *o, uint64_t now_ms)
{
	store_pending_done(s, o);
	obj_list_del(o);
	o->state = MCS_OBJ_COMPLETE;
	o->ext->put_owner = NULL;
	o->last_access_ms = now_ms;
	obj_ext_trim(o);
}

int mcs_store_put_end(struct mcs_store *s, struct mcs_str key, uint64_t checksum, void *owner, uint64_t now_ms)
{
	struct mcs_obj **pp = obj_slot(s, key, key_hash(key.p, key.len));
	struct mcs_obj *o = *pp;
	if (o && obj_upsert(o) && obj_put_owner(obj_upsert(o)) == owner) {
		/* the upsert's one step: gets find the new version from now */
		struct mcs_obj *old = o;
		o = obj_upsert(old);
		obj_replace(s, pp, o);
		obj_retire(s, old, now_ms);
		s->ctr.upserts++;
	}
	/* a rebuilt object is its reporter's, as a put is, but no put: its
	 * PUT_END (a put of the key that began before the restart, relayed
	 * by the same node) would make it whole with parts missing */
	if (!o || obj_put_owner(o) != owner || o->rebuilding)
		return -ENOENT;
	if (o->state != MCS_OBJ_PENDING)
		return -EEXIST;
	uint64_t started = o->ext->put_start_ms;
	obj_complete(s, o, now_ms);
	o->checksum = checksum;
	for (uint32_t r = 0; r < o->n_replicas; r++) {
		o->replicas[r].status = MCS_REPLICA_COMPLETE;
		o->replicas[r].tag = (uint16_t)r; /* the number its nodes know it by */
		for (uint32_t h = 0; s->opts.part_added && h < o->replicas[r].n_handles; h++)
			s->opts.part_added(s->opts.parts_arg, o, r, h);
	}
	MCS_PROBE3(put_end, o->hash, o->size, now_ms - started);
	return 0;
}

int mcs_store_put_revoke(struct mcs_store *s, struct mcs_str key, void *owner)
{
	struct mcs_obj *o = obj_find(s, key);
	if (o && obj_upsert(o) && obj_put_owner(obj_upsert(o)) == owner)
		o = obj_upsert(o); /* the old version stays as it was */
	if (!o || o->state != MCS_OBJ_PENDING || obj_put_owner(o) != owner || o->rebuilding)
		return -ENOENT;
	MCS_PROBE1(put_revoke, o->hash);
	obj_drop_pending(s, o, mcs_now_ms());
	return 0;
}

/* ---- the rebuild from the nodes' reports --------------------------------- */

static bool part_valid(const struct mcs_seg *g, const struct mcs_replica_part *p)
{
	return p->key.len >= 1 && p->key.len <= MCS_KEY_MAX && p->len > 0 && p->len <= g->size &&
	       p->offset <= g->size - p->len && p->value_off <= p->size && p->len <= p->size - p->value_off &&
	       p->replica < MCS_MAX_REPLICAS && p->n_handles >= 1 && p->n_handles <= MCS_MAX_HANDLES &&
	       p->handle < p->n_handles && (p->handle > 0 || p->value_off == 0) &&
	       (p->handle + 1u < p->n_handles || p->value_off + p->len == p->size);
}

/* The object a reported part belongs to: the key's, when it is this
 * value and being rebuilt or stored; a new pending one when the key is
 * free; NULL with *ret_err otherwise. */
static struct mcs_obj *rebuild_obj(struct mcs_store *s, const struct mcs_replica_part *p, void *owner, uint64_t now_ms,
				   int *ret_err)
{
	uint64_t hash = key_hash(p->key.p, p->key.len);
	struct mcs_obj **slot = obj_slot(s, p->key, hash), *o = *slot;
	if (o) {
		bool same = o->size == p->size && o->checksum == p->checksum;
		if (!same || (o->state == MCS_OBJ_PENDING && !o->rebuilding)) {
			*ret_err = -ESTALE;
			return NULL;
		}
		return o;
	}
	if (vec_reserve(s) < 0 || !(o = calloc(1, obj_room_offset(p->key.len))) ||
	    obj_init_pending(o, p->key, hash, p->size, p->flags & (MCS_REPL_SOFT_PIN | MCS_REPL_HARD_PIN), owner,
			     now_ms) < 0) {
		free(o);
		*ret_err = -ENOMEM;
		return NULL;
	}
	o->checksum = p->checksum;
	o->rebuilding = true;
	soft_pin_bound(s, o);
	if (obj_add_pending(s, o) < 0) {
		obj_free(o);
		*ret_err = -ENOMEM;
		return NULL;
	}
	obj_link_new(s, slot, o);
	return o;
}

/* The replica of o its nodes number tag, made (with n_handles empty
 * parts) if it is not there yet. */
static struct mcs_mreplica *rebuild_replica(struct mcs_obj *o, uint16_t tag, uint16_t n_handles, bool *ret_made,
					     int *ret_err)
{
	for (uint32_t r = 0; r < o->n_replicas; r++)
		if (o->replicas[r].tag == tag && o->replicas[r].status != MCS_REPLICA_COMPLETE) {
			if (o->replicas[r].n_handles != n_handles) {
				*ret_err = -EINVAL;
				return NULL;
			}
			return &o->replicas[r];
		}
	if (o->n_replicas >= MCS_MAX_REPLICAS) {
		*ret_err = -EEXIST;
		return NULL;
	}
	/* the arrays added here are never in the object's own allocation
	 * (a stored object's first ones are: see obj_inline) */
	struct mcs_mreplica *v;
	if (obj_inline(o, o->replicas)) {
		v = malloc((o->n_replicas + 1) * sizeof(*v));
		if (v)
			memcpy(v, o->replicas, o->n_replicas * sizeof(*v));
	} else {
		v = realloc(o->replicas, (o->n_replicas + 1) * sizeof(*v));
	}
	struct mcs_mhandle *h = v ? calloc(n_handles, sizeof(*h)) : NULL;
	if (v)
		o->replicas = v;
	if (!h) {
		*ret_err = -ENOMEM;
		return NULL;
	}
	struct mcs_mreplica *rep = &o->replicas[o->n_replicas++];
	*rep = (struct mcs_mreplica){ MCS_REPLICA_INITIALIZED, tag, n_handles, h };
	*ret_made = true;
	return rep;
}

int mcs_store_rebuild_part(struct mcs_store *s, const struct mcs_replica_part *p, void *owner, uint64_t now_ms)
{
	struct mcs_seg *g = seg_find(s, p->segment);
	if (!g)
		return -ENODEV;
	if (g->owner != owner)
		return -EPERM;
	if (!part_valid(g, p))
		return -EINVAL;
	int err = 0;
	struct mcs_obj *o = rebuild_obj(s, p, owner, now_ms, &err);
	if (!o)
		return err;
	/* reported again (by a node that reports twice): it is taken, and
	 * the node must keep it */
	for (uint32_t r = 0; r < o->n_replicas; r++)
		for (uint32_t h = 0; h < o->replicas[r].n_handles; h++)
			if (o->replicas[r].handles[h].seg == g && mh_offset(&o->replicas[r].handles[h]) == p->offset)
				return -EEXIST;
	bool made = false;
	struct mcs_mreplica *rep = rebuild_replica(o, (uint16_t)p->replica, (uint16_t)p->n_handles, &made, &err);
	struct mcs_block *blk = NULL;
	if (rep && rep->handles[p->handle].seg)
		err = -EEXIST;
	else if (rep && (err = mcs_alloc_reserve(g->alloc, p->offset, p->len, g->rebuild_hint, &blk)) == -EEXIST)
		err = -ESTALE; /* its space is someone else's now */
	if (err) {
		/* leave nothing behind that was made for this part alone */
		if (made) {
			free(rep->handles);
			*rep = o->replicas[--o->n_replicas];
		}
		if (o->rebuilding && o->n_replicas == 0)
			obj_delete(s, o);
		return err;
	}
	g->rebuild_hint = blk;
	rep->handles[p->handle] = (struct mcs_mhandle){ g, blk };
	uint64_t sum = 0;
	for (uint32_t h = 0; h < rep->n_handles; h++) {
		if (!rep->handles[h].seg)
			return 0; /* more parts to come */
		sum += mh_len(&rep->handles[h]);
	}
	if (sum != o->size) {
		/* whole but not this value's length: not a replica of it (the
		 * refusal tells this part's node; the others are told here) */
		for (uint32_t h = 0; h < rep->n_handles; h++) {
			if (h != p->handle)
				part_dropped(s, &rep->handles[h]);
			mcs_alloc_put(rep->handles[h].seg->alloc, rep->handles[h].blk);
		}
		free(rep->handles);
		*rep = o->replicas[--o->n_replicas];
		if (o->rebuilding && o->n_replicas == 0)
			obj_delete(s, o);
		return -EINVAL;
	}
	rep->status = MCS_REPLICA_COMPLETE;
	if (o->rebuilding) {
		obj_complete(s, o, now_ms);
		o->rebuilding = false;
	}
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
		MCS_PROBE3(lease_expire, o->hash, o->lease_held_ms, now_ms - o->lease_until_ms);
	/* the new lease starts now: it is held for what lies beyond */
	o->lease_held_ms = 0;
	o->lease_until_ms = MCS_MAX(o->lease_until_ms, now_ms);
	MCS_PROBE3(lease_grant, o->hash, ttl_ms, kind);
}

/* The object of hash, if at the head of its chain or next (a peek: the
 * bucket was fetched MCS_PREFETCH_STEP keys ago). */
static const struct mcs_obj *prefetch_obj(const struct mcs_store *s, uint64_t hash)
{
	const struct mcs_obj *o = s->buckets[hash & (s->n_buckets - 1)];
	if (o && o->hash != hash)
		o = o->hnext;
	return o && o->hash == hash ? o : NULL;
}

void mcs_store_prefetch(struct mcs_store *s, struct mcs_str key, struct mcs_store_prefetch *pf)
{
	const size_t ring = MCS_ARRAY_SIZE(pf->hash);
	uint64_t h = key_hash(key.p, key.len);
	__builtin_prefetch(&s->buckets[h & (s->n_buckets - 1)]);
	if (pf->n >= MCS_PREFETCH_STEP) {
		/* its bucket was fetched a step ago: the objects of its chain */
		const struct mcs_obj *o = s->buckets[pf->hash[(pf->n - MCS_PREFETCH_STEP) % ring] & (s->n_buckets - 1)];
		if (o) { /* (not o->hnext: reading it would wait for o) */
			__builtin_prefetch(o);
			__builtin_prefetch((const char *)o + 64);
		}
	}
	if (pf->n >= 2 * MCS_PREFETCH_STEP) {
		/* its object was fetched a step ago: its buffer record */
		const struct mcs_obj *o = prefetch_obj(s, pf->hash[(pf->n - 2 * MCS_PREFETCH_STEP) % ring]);
		if (o && o->n_replicas && o->replicas[0].n_handles)
			__builtin_prefetch(o->replicas[0].handles[0].blk);
		if (o && o->ext)
			__builtin_prefetch(o->ext);
	}
	pf->hash[pf->n++ % ring] = h;
}

int mcs_store_get(struct mcs_store *s, struct mcs_str key, uint32_t flags, void *owner, uint64_t now_ms,
		  struct mcs_obj **ret_obj, uint64_t *ret_hold_id)
{
	bool hold = flags & MCS_GET_HOLD;
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
		h->id = hold_id = hold_new_id(s);
		h->owner = owner;
		if (hold_link(s, h, o) < 0) {
			free(h);
			return -ENOMEM;
		}
	}
	bool lease = !(flags & MCS_GET_NOLEASE);
	if (lease)
		lease_probe(o, now_ms, s->opts.lease_ttl_ms, 0);
	MCS_PROBE3(get, o->hash, o->size, hold);
	if (lease) {
		obj_lease_set(o, MCS_MAX(o->lease_until_ms, now_ms + s->opts.lease_ttl_ms));
		o->last_access_ms = now_ms;
		s->ctr.leases_granted++;
	}
	*ret_obj = o;
	if (ret_hold_id)
		*ret_hold_id = hold_id;
	return 0;
}

int mcs_store_release(struct mcs_store *s, struct mcs_str key, uint64_t hold_id, void *owner)
{
	struct mcs_hold **pp = hold_slot(s, hold_id), *h = pp ? *pp : NULL;
	if (!h || h->owner != owner)
		return -ESRCH;
	/* a hold whose object was lost with its segment has obj == NULL (a
	 * force-removed one is retired, still there) */
	if (h->obj && !(h->obj->keylen == key.len && memcmp(h->obj->key, key.p, key.len) == 0))
		return -ESRCH;
	hold_unlink_free(s, h);
	return 0;
}

int mcs_store_exist(struct mcs_store *s, struct mcs_str key, uint64_t now_ms)
{
	struct mcs_obj *o = obj_find(s, key);
	if (!o)
		return -ENOENT;
	if (o->state != MCS_OBJ_COMPLETE)
		return -EAGAIN;
	lease_probe(o, now_ms, s->opts.lease_ttl_ms, 1);
	obj_lease_set(o, MCS_MAX(o->lease_until_ms, now_ms + s->opts.lease_ttl_ms));
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
	if (!o->holds) {
		obj_delete(s, o); /* forced: read leases are ignored */
		return 0;
	}
	/* Forced, and held: the key goes now (and may be put again), but a
	 * view's memory must not be reused under it. The object is retired
	 * like an upsert's old version, its leases ignored: its space is
	 * freed once its last hold is released. */
	if (obj_ext_need(o) < 0) /* its place among the retired versions */
		return -ENOMEM;
	obj_lease_set(o, MCS_MIN(o->lease_until_ms, now_ms));
	obj_unlink(s, o);
	obj_retire(s, o, now_ms);
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

uint64_t mcs_store_capacity(const struct mcs_store *s) { return store_capacity(s); }
uint64_t mcs_store_used(const struct mcs_store *s) { return store_used(s); }

static struct mcs_str cstr(const char *p) { return (struct mcs_str){ p, (uint32_t)strlen(p) }; }

static bool replica_whole(const struct mcs_mreplica *mr)
{
	for (uint32_t h = 0; h < mr->n_handles; h++)
		if (!mr->handles[h].seg)
			return false;
	return true;
}

/* Whether replica mr goes in a list of the replicas in state only. */
static bool replica_listed(const struct mcs_mreplica *mr, uint8_t only)
{
	if (only)
		return mr->status == only;
	return mr->status == MCS_REPLICA_COMPLETE || replica_whole(mr); /* rebuilt, parts missing: nothing to name */
}

static void fill_replica(const struct mcs_mreplica *mr, struct mcs_replica *wr, struct mcs_handle *handles)
{
	wr->status = mr->status;
	wr->n_handles = mr->n_handles;
	wr->handles = mr->n_handles ? handles : NULL;
	for (uint32_t h = 0; h < mr->n_handles; h++) {
		const struct mcs_mhandle *mh = &mr->handles[h];
		handles[h] = (struct mcs_handle){
			.segment = cstr(mh->seg->name),
			.node = cstr(mh->seg->node),
			.endpoint = cstr(mh->seg->endpoint),
			.offset = mh_offset(mh),
			.len = mh_len(mh),
			.incarnation = mh->seg->incarnation,
		};
	}
}

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
		if (!replica_listed(mr, only))
			continue;
		struct mcs_handle *hds = mr->n_handles ? calloc(mr->n_handles, sizeof(*hds)) : NULL;
		if (mr->n_handles && !hds) {
			mcs_replica_list_free(&l);
			return -ENOMEM;
		}
		fill_replica(mr, &l.replicas[l.n_replicas++], hds);
	}
	*ret = l;
	return 0;
}

int mcs_store_replica_list_in(const struct mcs_obj *o, uint8_t only, struct mcs_replica *reps, uint32_t cap_reps,
			      struct mcs_handle *hds, uint32_t cap_hds, struct mcs_replica_list *ret)
{
	struct mcs_replica_list l = { .replicas = reps };
	uint32_t used = 0;
	for (uint32_t r = 0; r < o->n_replicas; r++) {
		const struct mcs_mreplica *mr = &o->replicas[r];
		if (!replica_listed(mr, only))
			continue;
		if (l.n_replicas == cap_reps || mr->n_handles > cap_hds - used)
			return -ENOSPC;
		fill_replica(mr, &reps[l.n_replicas++], hds + used);
		used += mr->n_handles;
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

/* ---- invariants (tests and fuzzers) ---------------------------------- */

/* Space and holds of o against what the segments and the hold list say;
 * false on the first thing that does not add up. */
static bool obj_check(const struct mcs_store *s, const struct mcs_obj *o, uint64_t *used, uint64_t *blocks,
		      uint64_t *held)
{
	uint64_t gran = s->opts.granule ? s->opts.granule : 64;
	for (uint32_t r = 0; r < o->n_replicas; r++)
		for (uint32_t h = 0; h < o->replicas[r].n_handles; h++) {
			const struct mcs_mhandle *hd = &o->replicas[r].handles[h];
			if (!hd->seg && !hd->blk && o->replicas[r].status != MCS_REPLICA_COMPLETE)
				continue; /* a part of a rebuilt replica not reported yet */
			size_t i = 0;
			const struct mcs_seg *g = s->segments;
			for (; g && g != hd->seg; g = g->next)
				i++;
			if (!hd->seg || !g || !hd->blk)
				return false;
			used[i] += MCS_ALIGN_UP(mcs_block_len(hd->blk), gran);
			blocks[i]++;
		}
	for (const struct mcs_hold *h = o->holds; h; h = h->obj_next, (*held)++)
		if (h->obj != o)
			return false;
	return true;
}

int mcs_store_check(const struct mcs_store *s)
{
	uint64_t n_segs = 0, n = 0, n_retired = 0, held = 0, holds = 0;
	for (const struct mcs_seg *g = s->segments; g; g = g->next)
		n_segs++;
	uint64_t *used = calloc(2 * n_segs + 1, sizeof(*used)), *blocks = used + n_segs;
	bool ok = used && n_segs == s->n_segments;
	for (uint64_t b = 0; ok && b < s->n_buckets; b++)
		for (const struct mcs_obj *o = s->buckets[b]; ok && o; o = o->hnext, n++) {
			ok = o->state != MCS_OBJ_RETIRED && o->vidx < s->vec_len && s->vec[o->vidx] == o &&
			     (o->hash & (s->n_buckets - 1)) == b && obj_check(s, o, used, blocks, &held);
			if (ok && obj_upsert(o))
				ok = obj_upsert(o)->state == MCS_OBJ_PENDING &&
				     obj_check(s, obj_upsert(o), used, blocks, &held);
			/* a side record only where one is needed */
			ok = ok && (!o->ext || o->state == MCS_OBJ_PENDING || obj_upsert(o)) &&
			     (o->state != MCS_OBJ_PENDING || o->ext);
		}
	ok = ok && n == s->n_objects && n == s->vec_len;
	struct mcs_list *l;
	mcs_list_for_each(l, &s->retired) {
		const struct mcs_obj *o = obj_of_link(l);
		ok = ok && o->state == MCS_OBJ_RETIRED && obj_check(s, o, used, blocks, &held);
		n_retired++;
	}
	mcs_list_for_each(l, &s->pending)
		ok = ok && obj_of_link(l)->state == MCS_OBJ_PENDING;
	mcs_list_for_each(l, &s->holds)
		holds += mcs_list_entry(l, struct mcs_hold, link)->obj != NULL;
	ok = ok && n_retired == s->n_retired && holds == held;
	size_t i = 0;
	for (const struct mcs_seg *g = s->segments; ok && g; g = g->next, i++)
		ok = mcs_alloc_used(g->alloc) == used[i] && mcs_alloc_count(g->alloc) == blocks[i] &&
		     mcs_alloc_check(g->alloc) == 0;
	free(used);
	return ok ? 0 : -EUCLEAN;
}

uint64_t mcs_store_holds_of(const struct mcs_store *s, const void *owner)
{
	uint64_t n = 0;
	struct mcs_list *l;
	mcs_list_for_each(l, &s->holds)
		n += mcs_list_entry(l, struct mcs_hold, link)->owner == owner;
	return n;
}
