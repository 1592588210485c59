/* SPDX-License-Identifier: MIT */
/*
 * Where the replicas of a new object go (see tables.h).
 *
 * Each replica lives on nodes of its own: preferred locations first, then
 * by strategy (the segment with the most free space, or a seeded random
 * one). A replica that fits no single free extent, or is larger than
 * max_buffer, is striped over several buffers and segments. When the
 * space is not there, the put evicts what it needs and tries again.
 */
#include "master/evict.h"
#include "master/placement.h"
#include "master/tables.h"

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
		if (g->reporting || node_used(other_nodes, n_other, g))
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
			if (store_rng_next(s) % n_ok == 0)
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
		if (g->reporting)
			continue; /* nothing goes there before its report ends */
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
		ret->handles[ret->n_handles++] = (struct mcs_mhandle){ g, b };
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

/* Replicas from o->n_replicas up to want, each on nodes no other one has,
 * as far as they fit. */
static void alloc_replicas(struct mcs_store *s, const struct mcs_put_start_req *req, struct mcs_obj *o,
			   struct mcs_mhandle *spare, uint32_t want)
{
	struct mcs_seg *nodes[MCS_MAX_REPLICAS * 8];
	uint32_t n_nodes = 0;
	for (uint32_t r = o->n_replicas; r < want; r++) {
		if (alloc_replica(s, &req->cfg, req->value_len, nodes, &n_nodes, MCS_ARRAY_SIZE(nodes),
				  &o->replicas[o->n_replicas], &spare[o->n_replicas]) < 0)
			break;
		o->n_replicas++;
	}
}

int mcs_place_replicas(struct mcs_store *s, const struct mcs_put_start_req *req, struct mcs_obj *o,
		       struct mcs_mhandle *spare, uint64_t now_ms)
{
	uint32_t want = req->cfg.replica_num ? req->cfg.replica_num : 1;
	/* When the space is not there, evict (least recently used first)
	 * and try again; give up only when eviction frees nothing more. Fewer
	 * nodes than replicas is not a lack of space: once every node that
	 * can take a replica has one, nothing is evicted. */
	bool all = req->cfg.flags & MCS_REPL_ALL_OR_NOTHING;
	uint32_t able = UINT32_MAX; /* counted only when placement falls short */
	for (int attempt = 0;; attempt++) {
		alloc_replicas(s, req, o, spare, want);
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
		if (attempt == 0)
			mcs_evict_owe_run(s);
		/* nodes already holding replicas of this object cannot take
		 * another: retry placement from scratch after evicting */
		obj_unplace(o, want);
		if (attempt > 8 || mcs_store_evict(s, min_obj, need, now_ms) == 0) {
			/* last try with what is free now */
			alloc_replicas(s, req, o, spare, want);
			break;
		}
	}
	if (o->n_replicas == 0 || (all && o->n_replicas < want))
		return all && able < want ? -EXFULL : -ENOSPC;
	return 0;
}
