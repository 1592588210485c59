/* SPDX-License-Identifier: MIT */
/* Unit tests of upserts in the master's tables (MCS_PUT_UPSERT): the new
 * version beside the old one until its PutEnd, the old one retired and
 * kept for its leases and holds, then freed; eviction, owners that go,
 * put timeouts, lost nodes and removes around them. The fixtures are
 * store-fixture.h's. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/store-fixture.h"

/* PUT_START with MCS_PUT_UPSERT at time now, one replica, placed on loc
 * when given. */
static int upsert_start(struct mcs_store *s, const char *key, uint64_t len, void *owner, uint64_t now,
			const char *loc, struct mcs_obj **ret)
{
	uint64_t sl = len;
	struct mcs_put_start_req q = { .key = S(key), .value_len = len, .n_slices = 1, .slice_lens = &sl };
	q.cfg.replica_num = 1;
	q.cfg.flags = MCS_PUT_UPSERT;
	if (loc) {
		q.cfg.n_locations = 1;
		q.cfg.locations[0] = S(loc);
	}
	struct mcs_obj *o;
	int r = mcs_store_put_start(s, &q, owner, now, &o);
	if (r == 0 && ret)
		*ret = o;
	return r;
}

static int upsert(struct mcs_store *s, const char *key, uint64_t len, uint64_t checksum, void *owner, uint64_t now)
{
	int r = upsert_start(s, key, len, owner, now, NULL, NULL);
	return r < 0 ? r : mcs_store_put_end(s, S(key), checksum, owner, now);
}

/* What a get of key sees now (a look: no lease), or -errno. */
static int64_t checksum_of(struct mcs_store *s, const char *key)
{
	struct mcs_obj *o;
	int r = mcs_store_get(s, S(key), MCS_GET_NOLEASE, A, 0, &o, NULL);
	return r < 0 ? r : (int64_t)o->checksum;
}

static struct mcs_store *mk_one(uint64_t seg_mib)
{
	struct mcs_store *s = mk(200);
	ck_assert_int_eq(mcs_store_mount(s, S("n1"), S("n1-0"), seg_mib * MiB, S(""), A), 0);
	return s;
}

START_TEST(upsert_state_machine)
{
	struct mcs_store *s = mk_one(64);
	struct mcs_obj *o, *nw;
	ck_assert_int_eq(put(s, "k", MiB, A), 0); /* checksum 42 */
	/* without the flag nothing changes */
	ck_assert_int_eq(put_start(s, "k", 2 * MiB, 1, 0, B, NULL), -EEXIST);
	ck_assert_int_eq(upsert_start(s, "k", 2 * MiB, B, 2000, NULL, &nw), 0);
	ck_assert_int_eq(nw->state, MCS_OBJ_PENDING);
	ck_assert_uint_eq(nw->flags & MCS_PUT_UPSERT, 0);
	ck_assert_uint_eq(mcs_store_used(s), 3 * MiB);
	/* the old version is what gets, exists and lists see */
	ck_assert_int_eq(mcs_store_get(s, S("k"), 0, A, 2000, &o, NULL), 0);
	ck_assert_ptr_ne(o, nw);
	ck_assert_uint_eq(o->checksum, 42);
	ck_assert_uint_eq(o->size, MiB);
	ck_assert_int_eq(mcs_store_exist(s, S("k"), 2000), 0);
	struct mcs_str keys[4];
	uint32_t n;
	ck_assert_uint_eq(mcs_store_list(s, S(""), 0, 4, 1 << 20, keys, 4, &n), 0);
	ck_assert_uint_eq(n, 1);
	ck_assert_uint_eq(mcs_store_n_objects(s), 1);
	/* one pending put per key, an upsert or not */
	ck_assert_int_eq(upsert_start(s, "k", MiB, A, 2000, NULL, NULL), -EAGAIN);
	ck_assert_int_eq(upsert_start(s, "k", MiB, B, 2000, NULL, NULL), -EAGAIN);
	ck_assert_int_eq(put_start(s, "k", MiB, 1, 0, A, NULL), -EEXIST);
	/* only its writer ends it */
	ck_assert_int_eq(mcs_store_put_end(s, S("k"), 7, A, 2100), -ENOENT);
	ck_assert_int_eq(mcs_store_put_revoke(s, S("k"), A), -ENOENT);
	ck_assert_int_eq(checksum_of(s, "k"), 42);
	ck_assert_int_eq(mcs_store_put_end(s, S("k"), 7, B, 2100), 0);
	/* in one step: the new version is what gets see */
	ck_assert_int_eq(mcs_store_get(s, S("k"), MCS_GET_NOLEASE, A, 2100, &o, NULL), 0);
	ck_assert_ptr_eq(o, nw);
	ck_assert_int_eq(o->state, MCS_OBJ_COMPLETE);
	ck_assert_uint_eq(o->size, 2 * MiB);
	ck_assert_uint_eq(o->checksum, 7);
	ck_assert_int_eq(o->replicas[0].status, MCS_REPLICA_COMPLETE);
	ck_assert_uint_eq(mcs_store_n_objects(s), 1);
	ck_assert_uint_eq(mcs_store_counters(s)->upserts, 1);
	ck_assert_int_eq(mcs_store_put_end(s, S("k"), 7, B, 2100), -ENOENT);
	/* the old one is leased until 2200 by the get at 2000 */
	ck_assert_uint_eq(mcs_store_n_retired(s), 1);
	ck_assert_uint_eq(mcs_store_retired_bytes(s), MiB);
	ck_assert_uint_eq(mcs_store_used(s), 3 * MiB);
	ck_assert_uint_eq(mcs_store_reap_retired(s, 2199), 0);
	ck_assert_uint_eq(mcs_store_reap_retired(s, 2200), MiB);
	ck_assert_uint_eq(mcs_store_n_retired(s), 0);
	ck_assert_uint_eq(mcs_store_used(s), 2 * MiB);
	ck_assert_uint_eq(mcs_store_counters(s)->retired_freed, 1);
	/* again, with no reader: the old space is freed at the PutEnd */
	ck_assert_int_eq(upsert(s, "k", MiB, 8, A, 5000), 0);
	ck_assert_int_eq(checksum_of(s, "k"), 8);
	ck_assert_uint_eq(mcs_store_n_retired(s), 0);
	ck_assert_uint_eq(mcs_store_used(s), MiB);
	ck_assert_uint_eq(mcs_store_counters(s)->upserts, 2);
	ck_assert_uint_eq(mcs_store_counters(s)->retired_freed, 2);
	mcs_store_free(s);
}
END_TEST

START_TEST(upsert_absent_or_pending)
{
	struct mcs_store *s = mk_one(64);
	struct mcs_obj *o;
	/* an absent key: a plain put */
	ck_assert_int_eq(upsert_start(s, "new", MiB, A, 1000, NULL, &o), 0);
	ck_assert_int_eq(checksum_of(s, "new"), -EAGAIN);
	ck_assert_uint_eq(mcs_store_n_objects(s), 1);
	ck_assert_int_eq(mcs_store_put_end(s, S("new"), 5, A, 1000), 0);
	ck_assert_int_eq(checksum_of(s, "new"), 5);
	ck_assert_uint_eq(mcs_store_counters(s)->upserts, 0);
	/* a key whose plain put is pending */
	ck_assert_int_eq(put_start(s, "p", MiB, 1, 0, A, NULL), 0);
	ck_assert_int_eq(upsert_start(s, "p", MiB, A, 1000, NULL, NULL), -EAGAIN);
	ck_assert_int_eq(upsert_start(s, "p", MiB, B, 1000, NULL, NULL), -EAGAIN);
	ck_assert_int_eq(mcs_store_put_end(s, S("p"), 1, A, 1000), 0);
	ck_assert_int_eq(checksum_of(s, "p"), 1);
	/* a key whose upsert of an absent key is pending */
	ck_assert_int_eq(upsert_start(s, "q", MiB, A, 1000, NULL, NULL), 0);
	ck_assert_int_eq(upsert_start(s, "q", MiB, B, 1000, NULL, NULL), -EAGAIN);
	ck_assert_int_eq(put_start(s, "q", MiB, 1, 0, B, NULL), -EAGAIN);
	mcs_store_free(s);
}
END_TEST

START_TEST(upsert_holds_keep_old)
{
	struct mcs_store *s = mk_one(64);
	struct mcs_obj *o;
	uint64_t h1, h2;
	ck_assert_int_eq(put(s, "k", 4 * MiB, A), 0);
	ck_assert_int_eq(mcs_store_get(s, S("k"), MCS_GET_HOLD, A, 1000, &o, &h1), 0);
	ck_assert_int_eq(mcs_store_get(s, S("k"), MCS_GET_HOLD | MCS_GET_NOLEASE, B, 1000, &o, &h2), 0);
	struct mcs_obj *old = o;
	uint64_t off = mcs_block_offset(old->replicas[0].handles[0].blk);
	ck_assert_int_eq(upsert(s, "k", 4 * MiB, 9, A, 1500), 0);
	ck_assert_int_eq(checksum_of(s, "k"), 9);
	/* held far past its lease: nothing reuses its bytes */
	ck_assert_uint_eq(mcs_store_n_retired(s), 1);
	ck_assert_uint_eq(mcs_store_reap_retired(s, 100000), 0);
	ck_assert_uint_eq(mcs_store_used(s), 8 * MiB);
	/* eviction takes the new version, never the held old one */
	ck_assert_uint_eq(mcs_store_evict(s, 0, 8 * MiB, 100000), 4 * MiB);
	ck_assert_int_eq(checksum_of(s, "k"), -ENOENT);
	ck_assert_uint_eq(mcs_store_n_retired(s), 1);
	ck_assert_uint_eq(mcs_block_offset(old->replicas[0].handles[0].blk), off);
	ck_assert_int_eq(upsert(s, "k", 4 * MiB, 9, A, 100000), 0);
	/* a held retired version is released by its key, by its holder */
	ck_assert_int_eq(mcs_store_release(s, S("k"), h1, B), -ESRCH);
	ck_assert_int_eq(mcs_store_release(s, S("other"), h1, A), -ESRCH);
	ck_assert_int_eq(mcs_store_release(s, S("k"), h1, A), 0);
	ck_assert_uint_eq(mcs_store_reap_retired(s, 100000), 0); /* B's hold is left */
	ck_assert_uint_eq(mcs_store_n_retired(s), 1);
	/* B going away releases it as RELEASE would */
	mcs_store_drop_owner(s, B);
	ck_assert_uint_eq(mcs_store_reap_retired(s, 100000), 4 * MiB);
	ck_assert_uint_eq(mcs_store_n_retired(s), 0);
	ck_assert_uint_eq(mcs_store_used(s), 4 * MiB);
	ck_assert_int_eq(mcs_store_release(s, S("k"), h2, B), -ESRCH);
	/* holds of the new version are its own */
	ck_assert_int_eq(mcs_store_get(s, S("k"), MCS_GET_HOLD | MCS_GET_NOLEASE, A, 200000, &o, &h1), 0);
	ck_assert_uint_eq(o->checksum, 9);
	ck_assert_int_eq(mcs_store_remove(s, S("k"), false, 200000), -EBUSY);
	ck_assert_int_eq(mcs_store_release(s, S("k"), h1, A), 0);
	ck_assert_int_eq(mcs_store_remove(s, S("k"), false, 200000), 0);
	ck_assert_uint_eq(mcs_store_used(s), 0);
	mcs_store_free(s);
}
END_TEST

/* Freed on their own without being looked at: a store freed with retired
 * and pending versions in it leaks nothing (the sanitizers' build). */
START_TEST(upsert_store_free)
{
	struct mcs_store *s = mk_one(64);
	struct mcs_obj *o;
	uint64_t h;
	ck_assert_int_eq(put(s, "k", MiB, A), 0);
	ck_assert_int_eq(mcs_store_get(s, S("k"), MCS_GET_HOLD, A, 1000, &o, &h), 0);
	ck_assert_int_eq(upsert(s, "k", MiB, 2, A, 1000), 0);
	ck_assert_int_eq(upsert_start(s, "k", MiB, B, 1000, NULL, NULL), 0);
	ck_assert_uint_eq(mcs_store_n_retired(s), 1);
	ck_assert_uint_eq(mcs_store_used(s), 3 * MiB);
	mcs_store_free(s);
}
END_TEST

/* A 16 MiB store with 2 MiB free: k's old version (6 MiB) retired and
 * leased until 1200, its new one (6 MiB, checksum 3), x (2 MiB). */
static struct mcs_store *mk_retired_leased(void)
{
	struct mcs_store *s = mk_one(16);
	struct mcs_obj *o;
	ck_assert_int_eq(put(s, "k", 6 * MiB, A), 0);
	ck_assert_int_eq(mcs_store_get(s, S("k"), 0, A, 1000, &o, NULL), 0);
	ck_assert_int_eq(upsert(s, "k", 6 * MiB, 3, A, 1100), 0);
	ck_assert_int_eq(put_start_at(s, "x", 2 * MiB, 1, 0, A, 1100, NULL), 0);
	ck_assert_int_eq(mcs_store_put_end(s, S("x"), 1, A, 1100), 0);
	ck_assert_uint_eq(mcs_store_used(s), 14 * MiB);
	ck_assert_uint_eq(mcs_store_n_retired(s), 1);
	return s;
}

START_TEST(upsert_eviction_sees_retired)
{
	struct mcs_store *s = mk_retired_leased();
	/* still leased: eviction leaves it, and takes the least recently
	 * used object instead */
	ck_assert_int_eq(put_start_at(s, "y", 4 * MiB, 1, 0, A, 1150, NULL), 0);
	ck_assert_int_eq(mcs_store_put_end(s, S("y"), 1, A, 1150), 0);
	ck_assert_uint_eq(mcs_store_n_retired(s), 1);
	ck_assert_uint_eq(mcs_store_counters(s)->evictions, 1);
	ck_assert_int_eq(checksum_of(s, "y"), 1);
	/* one of k (its new version) and x went; the retired one is there */
	bool k_left = checksum_of(s, "k") == 3, x_left = checksum_of(s, "x") == 1;
	ck_assert(k_left != x_left);
	ck_assert_uint_eq(mcs_store_used(s), 10 * MiB + (k_left ? 6 : 2) * MiB);
	ck_assert_uint_eq(mcs_store_retired_bytes(s), 6 * MiB);
	mcs_store_free(s);
}
END_TEST

/* After its lease, a retired version goes before anything else, though
 * no reap ran since. */
START_TEST(upsert_retired_freed_before_eviction)
{
	struct mcs_store *s = mk_retired_leased();
	struct mcs_obj *o;
	ck_assert_int_eq(put_start_at(s, "y", 4 * MiB, 1, 0, A, 5000, NULL), 0);
	ck_assert_int_eq(mcs_store_put_end(s, S("y"), 1, A, 5000), 0);
	ck_assert_uint_eq(mcs_store_n_retired(s), 0);
	ck_assert_uint_eq(mcs_store_counters(s)->evictions, 0);
	ck_assert_uint_eq(mcs_store_counters(s)->retired_freed, 1);
	ck_assert_int_eq(checksum_of(s, "k"), 3);
	ck_assert_int_eq(checksum_of(s, "x"), 1);
	ck_assert_uint_eq(mcs_store_used(s), 12 * MiB);
	/* and an eviction run counts it as freed */
	ck_assert_int_eq(mcs_store_get(s, S("k"), 0, A, 6000, &o, NULL), 0);
	ck_assert_int_eq(upsert(s, "k", MiB, 4, A, 6000), 0);
	ck_assert_uint_eq(mcs_store_n_retired(s), 1);
	ck_assert_uint_eq(mcs_store_evict(s, 0, MiB, 7000), 6 * MiB);
	ck_assert_uint_eq(mcs_store_counters(s)->evictions, 0);
	ck_assert_uint_eq(mcs_store_n_retired(s), 0);
	mcs_store_free(s);
}
END_TEST

/* The upsert's own placement may evict the old version: the new one is
 * then a plain pending put of the key. */
START_TEST(upsert_evicts_its_old_version)
{
	struct mcs_store *s = mk_one(16);
	ck_assert_int_eq(put(s, "k", 10 * MiB, A), 0);
	ck_assert_int_eq(upsert_start(s, "k", 10 * MiB, A, 5000, NULL, NULL), 0);
	ck_assert_uint_eq(mcs_store_counters(s)->evictions, 1);
	ck_assert_int_eq(checksum_of(s, "k"), -EAGAIN);
	ck_assert_uint_eq(mcs_store_n_objects(s), 1);
	ck_assert_int_eq(mcs_store_put_end(s, S("k"), 5, A, 5000), 0);
	ck_assert_int_eq(checksum_of(s, "k"), 5);
	ck_assert_uint_eq(mcs_store_n_retired(s), 0);
	ck_assert_uint_eq(mcs_store_used(s), 10 * MiB);
	mcs_store_free(s);
}
END_TEST

/* A writer that goes, revokes or hangs: the old version stays as it was. */
START_TEST(upsert_revoked)
{
	struct mcs_store_opts opts = { .lease_ttl_ms = 200, .put_timeout_ms = 1000 };
	struct mcs_store *s;
	ck_assert_int_eq(mcs_store_new(&opts, &s), 0);
	ck_assert_int_eq(mcs_store_mount(s, S("n1"), S("n1-0"), 64 * MiB, S(""), A), 0);
	ck_assert_int_eq(put(s, "k", MiB, A), 0);
	/* the writer's connection closes */
	ck_assert_int_eq(upsert_start(s, "k", 2 * MiB, B, 1000, NULL, NULL), 0);
	mcs_store_drop_owner(s, B);
	ck_assert_int_eq(checksum_of(s, "k"), 42);
	ck_assert_uint_eq(mcs_store_used(s), MiB);
	ck_assert_int_eq(mcs_store_put_end(s, S("k"), 1, B, 1000), -ENOENT);
	ck_assert_int_eq(checksum_of(s, "k"), 42);
	/* PUT_REVOKE */
	ck_assert_int_eq(upsert_start(s, "k", 2 * MiB, A, 1000, NULL, NULL), 0);
	ck_assert_int_eq(mcs_store_put_revoke(s, S("k"), A), 0);
	ck_assert_int_eq(mcs_store_put_revoke(s, S("k"), A), -ENOENT);
	ck_assert_int_eq(checksum_of(s, "k"), 42);
	ck_assert_uint_eq(mcs_store_used(s), MiB);
	/* --put-timeout-ms */
	ck_assert_int_eq(upsert_start(s, "k", 2 * MiB, A, 2000, NULL, NULL), 0);
	ck_assert_uint_eq(mcs_store_expire_puts(s, 2999), 0);
	ck_assert_uint_eq(mcs_store_expire_puts(s, 3000), 1);
	ck_assert_int_eq(checksum_of(s, "k"), 42);
	ck_assert_uint_eq(mcs_store_used(s), MiB);
	ck_assert_int_eq(mcs_store_put_end(s, S("k"), 1, A, 3000), -ENOENT);
	/* and a new upsert may start after each */
	ck_assert_int_eq(upsert(s, "k", 2 * MiB, 6, B, 3000), 0);
	ck_assert_int_eq(checksum_of(s, "k"), 6);
	ck_assert_uint_eq(mcs_store_counters(s)->upserts, 1);
	mcs_store_free(s);
}
END_TEST

/* Removes: a forced one takes the current version and leaves a retired
 * one to its holds; a remove during an upsert leaves the key to it. */
START_TEST(upsert_remove)
{
	struct mcs_store *s = mk_one(64);
	struct mcs_obj *o;
	uint64_t h;
	ck_assert_int_eq(put(s, "k", MiB, A), 0);
	ck_assert_int_eq(mcs_store_get(s, S("k"), MCS_GET_HOLD | MCS_GET_NOLEASE, B, 1000, &o, &h), 0);
	ck_assert_int_eq(upsert(s, "k", 2 * MiB, 2, A, 1000), 0);
	ck_assert_int_eq(mcs_store_remove(s, S("k"), true, 1000), 0);
	ck_assert_int_eq(checksum_of(s, "k"), -ENOENT);
	ck_assert_uint_eq(mcs_store_n_retired(s), 1);
	ck_assert_uint_eq(mcs_store_used(s), MiB);
	ck_assert_uint_eq(mcs_store_remove_all(s, 1000), 0);
	ck_assert_uint_eq(mcs_store_n_retired(s), 1);
	ck_assert_int_eq(mcs_store_release(s, S("k"), h, B), 0);
	ck_assert_uint_eq(mcs_store_reap_retired(s, 1000), MiB);
	ck_assert_uint_eq(mcs_store_used(s), 0);

	ck_assert_int_eq(put(s, "k", MiB, A), 0);
	ck_assert_int_eq(upsert_start(s, "k", 2 * MiB, B, 2000, NULL, NULL), 0);
	ck_assert_int_eq(mcs_store_remove(s, S("k"), false, 2000), 0);
	ck_assert_int_eq(checksum_of(s, "k"), -EAGAIN);
	ck_assert_uint_eq(mcs_store_n_objects(s), 1);
	ck_assert_uint_eq(mcs_store_used(s), 2 * MiB);
	ck_assert_int_eq(mcs_store_put_end(s, S("k"), 3, B, 2000), 0);
	ck_assert_int_eq(checksum_of(s, "k"), 3);
	ck_assert_uint_eq(mcs_store_counters(s)->upserts, 1);
	mcs_store_free(s);
}
END_TEST

/* Lost nodes drop every version on them, each on its own. */
START_TEST(upsert_node_loss)
{
	static int N1, N2;
	struct mcs_store *s = mk(200);
	struct mcs_obj *o;
	uint64_t h;
	ck_assert_int_eq(mcs_store_mount(s, S("n1"), S("n1-0"), 64 * MiB, S(""), &N1), 0);
	ck_assert_int_eq(mcs_store_mount(s, S("n2"), S("n2-0"), 64 * MiB, S(""), &N2), 0);
	/* a retired version on n1, the new one on n2 */
	ck_assert_int_eq(upsert_start(s, "r", MiB, A, 1000, "n1", NULL), 0);
	ck_assert_int_eq(mcs_store_put_end(s, S("r"), 1, A, 1000), 0);
	ck_assert_int_eq(mcs_store_get(s, S("r"), MCS_GET_HOLD, B, 1000, &o, &h), 0);
	ck_assert_int_eq(upsert_start(s, "r", MiB, A, 1000, "n2", NULL), 0);
	ck_assert_int_eq(mcs_store_put_end(s, S("r"), 2, A, 1000), 0);
	ck_assert_uint_eq(mcs_store_n_retired(s), 1);
	/* a pending new version on n1 of an object on n2 */
	ck_assert_int_eq(upsert_start(s, "p", MiB, A, 1000, "n2", NULL), 0);
	ck_assert_int_eq(mcs_store_put_end(s, S("p"), 1, A, 1000), 0);
	ck_assert_int_eq(upsert_start(s, "p", MiB, A, 1000, "n1", NULL), 0);
	/* a pending new version on n2 of an object on n1 */
	ck_assert_int_eq(upsert_start(s, "q", MiB, A, 1000, "n1", NULL), 0);
	ck_assert_int_eq(mcs_store_put_end(s, S("q"), 1, A, 1000), 0);
	ck_assert_int_eq(upsert_start(s, "q", MiB, A, 1000, "n2", NULL), 0);
	ck_assert_uint_eq(mcs_store_used(s), 6 * MiB);

	mcs_store_drop_owner(s, &N1);
	ck_assert_uint_eq(mcs_store_n_retired(s), 0);
	ck_assert_int_eq(checksum_of(s, "r"), 2);
	ck_assert_int_eq(mcs_store_release(s, S("r"), h, B), 0);
	/* p: the old version stays, its upsert is gone */
	ck_assert_int_eq(checksum_of(s, "p"), 1);
	ck_assert_int_eq(mcs_store_put_end(s, S("p"), 5, A, 1000), -ENOENT);
	ck_assert_int_eq(checksum_of(s, "p"), 1);
	/* q: the old version is gone, its upsert is the key's put now */
	ck_assert_int_eq(checksum_of(s, "q"), -EAGAIN);
	ck_assert_int_eq(mcs_store_put_end(s, S("q"), 5, A, 1000), 0);
	ck_assert_int_eq(checksum_of(s, "q"), 5);
	ck_assert_uint_eq(mcs_store_n_objects(s), 3);
	ck_assert_uint_eq(mcs_store_used(s), 3 * MiB);
	mcs_store_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("store-upsert");
	TCase *t = tcase_create("upsert");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, upsert_state_machine);
	tcase_add_test(t, upsert_absent_or_pending);
	tcase_add_test(t, upsert_holds_keep_old);
	tcase_add_test(t, upsert_store_free);
	tcase_add_test(t, upsert_eviction_sees_retired);
	tcase_add_test(t, upsert_retired_freed_before_eviction);
	tcase_add_test(t, upsert_evicts_its_old_version);
	tcase_add_test(t, upsert_revoked);
	tcase_add_test(t, upsert_remove);
	tcase_add_test(t, upsert_node_loss);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return store_suite_run(suite());
}
