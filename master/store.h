/* SPDX-License-Identifier: MIT */
/*
 * The master's tables: mounted segments and stored objects, with the
 * object and replica state machine of Mooncake Store.
 *
 *   PutStart  -> object PENDING, replicas INITIALIZED, space allocated
 *   PutEnd    -> object COMPLETE, replicas COMPLETE, checksum recorded
 *   PutRevoke -> PENDING object dropped, space returned
 *   Remove    -> COMPLETE object dropped unless leased or held; forced,
 *                leases are ignored and a held object is RETIRED (below)
 *
 * and an upsert (PutStart with MCS_PUT_UPSERT on a COMPLETE key): the new
 * version is PENDING beside the old one, which gets still see; its PutEnd
 * puts it in the old one's place in one step and retires the old one
 * (RETIRED: found by no key, its space kept until its lease has run out
 * and its holds are released, then freed).
 *
 * This file knows nothing of sockets: "owners" are opaque pointers (the
 * connection a request came on) so that everything an owner left behind
 * (mounted segments, pending puts, holds) is dropped when it goes away.
 * Time is passed in (ms, monotonic) so tests control it.
 */
#ifndef MCS_MASTER_STORE_H
#define MCS_MASTER_STORE_H

#include <stdbool.h>
#include <stdint.h>

#include "common/list.h"
#include "proto/proto.h"

struct mcs_store;
struct mcs_alloc;
struct mcs_block;
struct mcs_seg;
struct mcs_obj;

enum mcs_alloc_strategy {
	MCS_STRATEGY_LOAD = 0,    /* prefer segments with the most free space */
	MCS_STRATEGY_RANDOM = 1,  /* seeded, deterministic random choice */
};

struct mcs_store_opts {
	uint64_t lease_ttl_ms;      /* 0: 200 */
	uint64_t granule;           /* allocator granule; 0: 64 */
	uint64_t max_buffer;        /* largest single buffer of a replica; 0: no limit */
	enum mcs_alloc_strategy strategy;
	uint64_t seed;              /* for MCS_STRATEGY_RANDOM */
	/* eviction (approximate LRU by sampling, as Redis does) */
	double high_watermark;      /* evict when used/capacity passes this; 0: 1.0 */
	double eviction_ratio;      /* share of objects per run, and the distance
				     * from the high to the low watermark; 0: 0.1 */
	double max_soft_pin_ratio;  /* share of capacity soft pins may hold; 0: 0.5 */
	unsigned evict_samples;     /* objects sampled per pick; 0: 16 */
	uint64_t put_timeout_ms;    /* revoke puts not ended by then; 0: 30000 */
	double max_pending_put_ratio; /* share of the capacity one owner may have in
				       * puts started and not ended (more:
				       * -EDQUOT); 0: 1.0 */
	/* The nodes' tables of the parts they hold (daemon/replicas.h), kept
	 * by the master's notices. part_added: buffer h of replica r of o,
	 * which a put just made COMPLETE, is one for the table of its
	 * segment's node (REPLICA_ADD); rebuilt parts are not told (their
	 * nodes have them). part_dropped: a part whose node holds it in its
	 * table (the parts of stored, retired and rebuilt objects: all but a
	 * put's that did not end) has its space back in the allocator, save
	 * the parts on a segment that is going: the node is to forget it
	 * (REPLICA_DROP). Both are told before the store changes further. */
	void (*part_added)(void *arg, const struct mcs_obj *o, uint32_t r, uint32_t h);
	void (*part_dropped)(void *arg, const struct mcs_seg *g, uint64_t offset);
	void *parts_arg;
	bool fence_writes;          /* the writers of a put that went before its end
				     * hold tokens until put_timeout_ms after its
				     * start: its space waits for them, retired */
};

struct mcs_store_counters {
	uint64_t evict_runs;
	uint64_t evictions;
	uint64_t evicted_bytes;
	uint64_t evict_samples;     /* objects looked at by eviction */
	uint64_t put_no_space;      /* puts refused for space, even after eviction */
	uint64_t leases_granted;
	uint64_t remove_refused;    /* removes refused because of a lease */
	uint64_t puts_timed_out;
	uint64_t soft_pins_refused; /* soft pins dropped: bound reached */
	uint64_t upserts;           /* values replaced (upserts ended) */
	uint64_t retired_freed;     /* retired versions freed after their readers */
};

struct mcs_seg {
	char *name;
	char *node;
	char *endpoint;
	uint64_t size;
	uint64_t incarnation;       /* the node's, made when it created the segment */
	struct mcs_alloc *alloc;
	struct mcs_block *rebuild_hint; /* the last part its node reported (mcs_alloc_reserve) */
	bool reporting;             /* its node reports its parts: no new object goes here */
	void *owner;
	struct mcs_seg *next;       /* in the store's segment list */
};

/* One buffer of a replica: a block of a segment's allocator, which knows
 * its offset and length (mcs_block_offset, mcs_block_len). A part of a
 * rebuilt replica not reported yet has neither. */
struct mcs_mhandle {
	struct mcs_seg *seg;
	struct mcs_block *blk;
};

struct mcs_mreplica {
	uint8_t status;             /* enum mcs_replica_status */
	uint16_t tag;               /* rebuilt: the replica's number as its nodes report it */
	uint32_t n_handles;
	struct mcs_mhandle *handles;
};

enum mcs_obj_state { MCS_OBJ_PENDING = 0, MCS_OBJ_COMPLETE = 1, MCS_OBJ_RETIRED = 2 };

struct mcs_hold;
struct mcs_obj_ext;

/* A stored object: what every object needs, 88 bytes, then its key and
 * (a put's) the room of its first replicas, in one allocation. What only
 * a put under way, a retired version or a key being upserted needs is in
 * a side record (ext, tables.h), which most objects do not have: a master
 * holds tens of millions of these (ARCHITECTURE.md, "The master's
 * memory"). */
struct mcs_obj {
	struct mcs_obj *hnext;      /* hash chain */
	uint64_t hash;
	uint64_t size;
	uint64_t checksum;
	uint64_t lease_until_ms;
	uint64_t last_access_ms;
	struct mcs_mreplica *replicas;
	struct mcs_hold *holds;     /* zero-copy views pinning the object */
	struct mcs_obj_ext *ext;    /* while PENDING or RETIRED, or with an upsert pending */
	uint32_t vidx;              /* index in the store's sampling vector */
	uint32_t lease_held_ms;     /* lease_until_ms - the first grant of the
				     * current lease (probes), saturated */
	uint16_t flags;             /* MCS_REPL_* */
	uint16_t keylen;            /* <= MCS_KEY_MAX */
	uint8_t state;
	uint8_t n_replicas;         /* <= MCS_MAX_REPLICAS */
	uint8_t n_inline;           /* replicas with room in this allocation */
	bool rebuilding;            /* PENDING until a reported replica is whole */
	char key[];                 /* keylen bytes and a NUL */
};

/* When the current lease was first granted (probes, tests). */
static inline uint64_t mcs_obj_lease_since(const struct mcs_obj *o)
{
	return o->lease_until_ms - o->lease_held_ms;
}

int mcs_store_new(const struct mcs_store_opts *opts, struct mcs_store **ret);
struct mcs_store *mcs_store_free(struct mcs_store *s);

int mcs_store_mount(struct mcs_store *s, struct mcs_str node, struct mcs_str segment, uint64_t size,
		    struct mcs_str endpoint, void *owner);
/* The same, for a segment of that incarnation (carried by its handles:
 * a node that comes back with a new segment of the same name is told
 * apart from the one that went). */
int mcs_store_mount_inc(struct mcs_store *s, struct mcs_str node, struct mcs_str segment, uint64_t size,
			struct mcs_str endpoint, uint64_t incarnation, void *owner);
/* A segment that mounted with MCS_MOUNT_REPORTS takes no new object until
 * its node has reported the parts it holds (a put could be given their
 * space): on true while it does, false at its REPORT_END. 0, -ENODEV or
 * -EPERM (not owner's). */
int mcs_store_set_reporting(struct mcs_store *s, struct mcs_str segment, void *owner, bool on);
/* Unmount: every replica with a buffer on the segment is dropped, and
 * objects left without a replica are forgotten. Returns objects lost. */
int mcs_store_unmount(struct mcs_store *s, struct mcs_str segment, void *owner);
/* Take back a part p a node reports holding on p->segment, which owner
 * mounted (the wire's REPLICA_REPORT, proto.h; daemon/replicas.h is the
 * node's side), so that a master that lost its tables (a restart) learns
 * them back; flags other than the pins are ignored. Its space is
 * allocated where it lies (ascending offsets cost O(1) each), and its
 * object comes back COMPLETE with its checksum as soon as one of its
 * replicas has all its parts; until then it is pending like a put (gets
 * say -EAGAIN, puts of the key -EAGAIN) and goes with owner or after the
 * put timeout, as a put would. Further replicas join the object as their
 * parts come. Returns 0, or
 *   -ESTALE  the key has another value now (size or checksum), a put of
 *            it is under way, or the part's space is taken: the node
 *            should forget the part;
 *   -EEXIST  that part was reported already (the node keeps it);
 *   -EINVAL  the part does not fit the segment, or disagrees with what
 *            was reported of its replica (the part count, the value's
 *            first or last bytes, the sum of the lengths);
 *   -ENODEV, -EPERM  no such segment, or not owner's; -ENOMEM. */
int mcs_store_rebuild_part(struct mcs_store *s, const struct mcs_replica_part *p, void *owner, uint64_t now_ms);
/* Drop everything an owner left: segments, pending puts, holds. */
void mcs_store_drop_owner(struct mcs_store *s, void *owner);

/* On success *ret_obj is the new PENDING object (replicas to write).
 * With MCS_PUT_UPSERT in req->cfg.flags a COMPLETE key gets a new version
 * (-EAGAIN while any put of the key is pending); without, -EEXIST. */
int mcs_store_put_start(struct mcs_store *s, const struct mcs_put_start_req *req, void *owner,
			uint64_t now_ms, struct mcs_obj **ret_obj);
/* The end of an upsert retires the old version (freed at once when no
 * lease or hold keeps it). */
int mcs_store_put_end(struct mcs_store *s, struct mcs_str key, uint64_t checksum, void *owner,
		      uint64_t now_ms);
int mcs_store_put_revoke(struct mcs_store *s, struct mcs_str key, void *owner);
/* A COMPLETE object, leased for lease_ttl and marked used now. flags are
 * GET_REPLICAS's: with MCS_GET_HOLD, *ret_hold_id names a hold that keeps
 * it until mcs_store_release; with MCS_GET_NOLEASE the object is only
 * looked at: no lease is granted or extended and its last access stays as
 * it was, so it is as removable and evictable as before. */
/* Prefetching for pipelined requests: the keys of the requests queued
 * behind the one being handled go through mcs_store_prefetch, in order.
 * Each key's bucket is fetched into the cache at once, the object it holds
 * three keys later and the object's first buffer record three keys after
 * that, so that by the time its request is handled the misses of its
 * lookup have been waited for while others were handled. A hint: nothing
 * changes, and a stale or wrong key costs a wasted fetch. */
#define MCS_PREFETCH_STEP 3
struct mcs_store_prefetch {
	uint64_t hash[4 * MCS_PREFETCH_STEP];
	uint64_t n;
};
void mcs_store_prefetch(struct mcs_store *s, struct mcs_str key, struct mcs_store_prefetch *pf);

int mcs_store_get(struct mcs_store *s, struct mcs_str key, uint32_t flags, void *owner, uint64_t now_ms,
		  struct mcs_obj **ret_obj, uint64_t *ret_hold_id);
int mcs_store_release(struct mcs_store *s, struct mcs_str key, uint64_t hold_id, void *owner);
int mcs_store_exist(struct mcs_store *s, struct mcs_str key, uint64_t now_ms);
int mcs_store_remove(struct mcs_store *s, struct mcs_str key, bool force, uint64_t now_ms);
/* Milliseconds left on key's read lease (0: none), for the detail of an
 * -EBUSY refusal. */
uint64_t mcs_store_lease_left_ms(struct mcs_store *s, struct mcs_str key, uint64_t now_ms);
/* How many replicas of size bytes the mounted nodes could hold at most,
 * each on nodes of its own, were they empty: a put asking for more gets
 * that many (-EXFULL with all-or-nothing), and evicts nothing
 * for the rest. */
uint32_t mcs_store_nodes_able(const struct mcs_store *s, uint64_t size);
/* A page of COMPLETE keys starting with prefix: walks buckets from cursor
 * (0: the first) until limit keys are found, max_buckets were visited, or
 * the table ends. A bucket is taken whole, or left to the next page when
 * it would pass cap keys in all (cap >= limit; only a chain longer than
 * cap on its own is cut). The
 * keys point into the store (valid until it changes). Returns the cursor
 * to go on from, 0 when the walk is over. A key present during the whole
 * walk is returned at least once, even if the table grows in between. */
uint64_t mcs_store_list(struct mcs_store *s, struct mcs_str prefix, uint64_t cursor, uint32_t limit,
			uint64_t max_buckets, struct mcs_str *keys, uint32_t cap, uint32_t *ret_n);
uint64_t mcs_store_remove_all(struct mcs_store *s, uint64_t now_ms);

/* Revoke puts started more than put_timeout_ms ago and never ended: a
 * writer that hung must not pin space forever. Returns how many. */
uint64_t mcs_store_expire_puts(struct mcs_store *s, uint64_t now_ms);
/* One eviction run: at least min_objects objects and need_bytes bytes
 * (rounded allocation sizes), least recently used first among samples;
 * never leased, held, pending or hard-pinned objects, soft-pinned ones only
 * when nothing else is left. Retired versions that no lease or hold keeps
 * go first (their bytes count, not as evictions). Returns bytes freed. */
uint64_t mcs_store_evict(struct mcs_store *s, uint64_t min_objects, uint64_t need_bytes, uint64_t now_ms);
/* Evict down to the low watermark if usage passed the high one. */
uint64_t mcs_store_evict_if_needed(struct mcs_store *s, uint64_t now_ms);
/* A put that found the store full evicts only what it needs at once and
 * leaves the rest of the run (eviction_ratio of the objects) as a debt,
 * paid here in slices of at most max_objects from a timer, so no request
 * waits behind a long sweep. Returns objects evicted. */
uint64_t mcs_store_evict_step(struct mcs_store *s, uint64_t max_objects, uint64_t now_ms);
uint64_t mcs_store_evict_debt(const struct mcs_store *s);
/* Free the retired versions that no lease or hold keeps any more (cheap
 * when none can have become free since the last call: a timer's work).
 * Eviction calls it first. Returns bytes freed. */
uint64_t mcs_store_reap_retired(struct mcs_store *s, uint64_t now_ms);
/* Retired versions still kept for their readers, and their bytes. */
uint64_t mcs_store_n_retired(const struct mcs_store *s);
uint64_t mcs_store_retired_bytes(const struct mcs_store *s);
const struct mcs_store_counters *mcs_store_counters(const struct mcs_store *s);

uint64_t mcs_store_lease_ttl_ms(const struct mcs_store *s);
uint64_t mcs_store_n_objects(const struct mcs_store *s);
uint64_t mcs_store_capacity(const struct mcs_store *s);
uint64_t mcs_store_used(const struct mcs_store *s);
struct mcs_seg *mcs_store_segments(const struct mcs_store *s);

/* Tests and fuzzers: walk every table and check that they agree (each
 * segment's allocated bytes and blocks are those of the objects' buffers,
 * COMPLETE, PENDING and RETIRED objects are where their state says, every
 * hold on an object is in the store's list and the other way round). 0 or
 * -EUCLEAN. O(everything). */
int mcs_store_check(const struct mcs_store *s);
/* Holds owner has (tests and fuzzers; O(holds)). */
uint64_t mcs_store_holds_of(const struct mcs_store *s, const void *owner);

/* Build a wire replica list that points into the store (valid until the
 * object changes); only replicas in state `only` (0: all). Free with
 * mcs_replica_list_free. */
int mcs_store_replica_list(const struct mcs_obj *o, uint8_t only, struct mcs_replica_list *ret);
/* The same into the caller's arrays (nothing to free: how the master
 * answers a get without a malloc); -ENOSPC when the replicas or their
 * buffers are more than cap_reps or cap_hds. */
int mcs_store_replica_list_in(const struct mcs_obj *o, uint8_t only, struct mcs_replica *reps, uint32_t cap_reps,
			      struct mcs_handle *hds, uint32_t cap_hds, struct mcs_replica_list *ret);
/* Build a stat response (free with mcs_stat_resp_free). */
int mcs_store_stat(const struct mcs_store *s, struct mcs_stat_resp *ret);

#endif
