/* SPDX-License-Identifier: MIT */
/*
 * The master's tables rebuilt from what the nodes report
 * (mcs_store_rebuild_part): an object comes back COMPLETE, with its
 * checksum and where its bytes are, once one replica has all its parts;
 * until then it is pending and goes as a put would; a report that
 * disagrees with the tables (another value, space taken, a part twice, a
 * part that does not fit) changes nothing; and the tables stay consistent
 * (mcs_store_check) through puts, unmounts and owners going after it.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/store.h"
#include "mcstore.h"
#include "tests/unit/store-fixture.h"

#define SEG (64 * MiB)

static struct mcs_store *mk2(void)
{
	struct mcs_store *s = mk(100);
	ck_assert_int_eq(mcs_store_mount(s, S("n1"), S("s1"), SEG, S("127.0.0.1:1"), A), 0);
	ck_assert_int_eq(mcs_store_mount(s, S("n2"), S("s2"), SEG, S("127.0.0.1:2"), B), 0);
	return s;
}

static struct mcs_replica_part P(const char *key, uint64_t off, uint64_t len)
{
	return (struct mcs_replica_part){ .key = S(key), .offset = off, .len = len, .size = len, .checksum = 0xc0ffee,
					  .n_handles = 1 };
}

/* the store's rebuild of part p, reported on segment seg */
static int rb(struct mcs_store *s, const char *seg, struct mcs_replica_part *p, void *owner, uint64_t now_ms)
{
	p->segment = S(seg);
	return mcs_store_rebuild_part(s, p, owner, now_ms);
}

/* the two parts of a replica of key striped over two segments: 3000
 * bytes at off0, then 1000 at off1 */
static void stripe(const char *key, uint64_t off0, uint64_t off1, struct mcs_replica_part *x, struct mcs_replica_part *y)
{
	*x = P(key, off0, 3000);
	*y = P(key, off1, 1000);
	x->size = y->size = 4000;
	x->n_handles = y->n_handles = 2;
	y->handle = 1;
	y->value_off = 3000;
}

static int rebuild(struct mcs_store *s, const char *seg, struct mcs_replica_part p, void *owner)
{
	return rb(s, seg, &p, owner, 5000);
}

/* the replica list a get answers: COMPLETE replicas */
static struct mcs_replica_list got(struct mcs_store *s, const char *key, int expect)
{
	struct mcs_obj *o;
	struct mcs_replica_list l = { 0 };
	ck_assert_int_eq(mcs_store_get(s, S(key), MCS_GET_NOLEASE, A, 6000, &o, NULL), expect);
	if (expect == 0) {
		ck_assert_uint_eq(o->checksum, 0xc0ffee);
		ck_assert_int_eq(mcs_store_replica_list(o, MCS_REPLICA_COMPLETE, &l), 0);
	}
	return l;
}

START_TEST(rebuild_one_part)
{
	struct mcs_store *s = mk2();
	ck_assert_int_eq(rebuild(s, "s1", P("k", 4096, 1000), A), 0);
	ck_assert_uint_eq(mcs_store_n_objects(s), 1);
	ck_assert_uint_eq(mcs_store_used(s), 1024);
	struct mcs_replica_list l = got(s, "k", 0);
	ck_assert_uint_eq(l.n_replicas, 1);
	ck_assert_uint_eq(l.replicas[0].n_handles, 1);
	ck_assert_uint_eq(l.replicas[0].handles[0].offset, 4096);
	ck_assert_uint_eq(l.replicas[0].handles[0].len, 1000);
	ck_assert_int_eq(mcs_str_eq(l.replicas[0].handles[0].segment, S("s1")), 1);
	mcs_replica_list_free(&l);
	ck_assert_int_eq(mcs_store_exist(s, S("k"), 6000), 0);
	/* reported again: taken already (not stale: the node keeps it) */
	ck_assert_int_eq(rebuild(s, "s1", P("k", 4096, 1000), A), -EEXIST);
	ck_assert_uint_eq(mcs_store_used(s), 1024);
	ck_assert_int_eq(mcs_store_check(s), 0);
	/* the key is stored: a put of it is refused, others go around it */
	ck_assert_int_eq(put(s, "k", 10, A), -EEXIST);
	for (int i = 0; i < 100; i++) {
		char key[16];
		snprintf(key, sizeof(key), "p%d", i);
		ck_assert_int_eq(put(s, key, 100000, A), 0);
	}
	ck_assert_int_eq(mcs_store_check(s), 0);
	/* it is removed and evicted like any object */
	ck_assert_int_eq(mcs_store_remove(s, S("k"), false, 100000), 0);
	ck_assert_int_eq(mcs_store_check(s), 0);
	mcs_store_free(s);
}
END_TEST

START_TEST(rebuild_striped_over_nodes)
{
	struct mcs_store *s = mk2();
	struct mcs_replica_part a, b;
	stripe("k", 0, 8192, &a, &b);
	/* the first half: pending, seen by nobody */
	ck_assert_int_eq(rebuild(s, "s1", a, A), 0);
	got(s, "k", -EAGAIN);
	ck_assert_int_eq(mcs_store_exist(s, S("k"), 6000), -EAGAIN);
	ck_assert_int_eq(put(s, "k", 4000, A), -EAGAIN);
	ck_assert_int_eq(mcs_store_check(s), 0);
	/* the same part again */
	ck_assert_int_eq(rebuild(s, "s1", a, A), -EEXIST);
	/* the other node's half: whole, in value order */
	ck_assert_int_eq(rebuild(s, "s2", b, B), 0);
	struct mcs_replica_list l = got(s, "k", 0);
	ck_assert_uint_eq(l.n_replicas, 1);
	ck_assert_uint_eq(l.replicas[0].n_handles, 2);
	ck_assert_int_eq(mcs_str_eq(l.replicas[0].handles[0].segment, S("s1")), 1);
	ck_assert_int_eq(mcs_str_eq(l.replicas[0].handles[1].segment, S("s2")), 1);
	ck_assert_uint_eq(l.replicas[0].handles[1].offset, 8192);
	mcs_replica_list_free(&l);
	ck_assert_int_eq(mcs_store_check(s), 0);
	/* a second replica, on one node, joins the stored object */
	struct mcs_replica_part c = P("k", 1 * MiB, 4000);
	c.replica = 1;
	ck_assert_int_eq(rebuild(s, "s2", c, B), 0);
	l = got(s, "k", 0);
	ck_assert_uint_eq(l.n_replicas, 2);
	mcs_replica_list_free(&l);
	ck_assert_int_eq(mcs_store_check(s), 0);
	/* the node of the first half goes: the replica striped over it goes,
	 * the object stays with the other one */
	ck_assert_int_eq(mcs_store_unmount(s, S("s1"), A), 0);
	l = got(s, "k", 0);
	ck_assert_uint_eq(l.n_replicas, 1);
	ck_assert_uint_eq(l.replicas[0].handles[0].offset, 1 * MiB);
	mcs_replica_list_free(&l);
	ck_assert_int_eq(mcs_store_check(s), 0);
	mcs_store_free(s);
}
END_TEST

START_TEST(rebuild_partial_goes_like_a_put)
{
	struct mcs_store *s = mk2();
	struct mcs_replica_part a = P("half", 0, 1000), b = P("other", 4096, 1000);
	a.size = b.size = 2000;
	a.n_handles = b.n_handles = 2;
	/* the other parts never come: the put timeout takes it */
	ck_assert_int_eq(rebuild(s, "s1", a, A), 0);
	ck_assert_uint_eq(mcs_store_used(s), 1024);
	ck_assert_uint_eq(mcs_store_expire_puts(s, 5000 + 29999), 0);
	ck_assert_uint_eq(mcs_store_expire_puts(s, 5000 + 30000), 1);
	got(s, "half", -ENOENT);
	ck_assert_uint_eq(mcs_store_used(s), 0);
	ck_assert_int_eq(mcs_store_check(s), 0);
	/* its node's connection goes: so does it */
	ck_assert_int_eq(rebuild(s, "s2", b, B), 0);
	mcs_store_drop_owner(s, B);
	got(s, "other", -ENOENT);
	ck_assert_uint_eq(mcs_store_n_objects(s), 0);
	ck_assert_int_eq(mcs_store_check(s), 0);
	mcs_store_free(s);
}
END_TEST

START_TEST(rebuild_refusals)
{
	struct mcs_store *s = mk2();
	ck_assert_int_eq(put(s, "stored", 1000, A), 0); /* checksum 42, at offset 0 of some segment */
	uint64_t used = mcs_store_used(s);
	/* the key has another value now */
	ck_assert_int_eq(rebuild(s, "s1", P("stored", 32 * MiB, 1000), A), -ESTALE);
	/* a put of the key is under way */
	ck_assert_int_eq(put_start(s, "writing", 100, 1, 0, A, NULL), 0);
	struct mcs_replica_part w = P("writing", 40 * MiB, 100);
	ck_assert_int_eq(rebuild(s, "s1", w, A), -ESTALE);
	used = mcs_store_used(s);
	/* its space is taken (inside "stored", wherever it went) */
	struct mcs_obj *o;
	ck_assert_int_eq(mcs_store_get(s, S("stored"), MCS_GET_NOLEASE, A, 6000, &o, NULL), 0);
	const char *where = o->replicas[0].handles[0].seg->name;
	void *owner = o->replicas[0].handles[0].seg->owner;
	ck_assert_int_eq(rebuild(s, where, P("new", mcs_block_offset(o->replicas[0].handles[0].blk) + 512, 100), owner), -ESTALE);
	got(s, "new", -ENOENT);
	/* what does not fit */
	struct mcs_replica_part p = P("bad", SEG - 64, 128);
	ck_assert_int_eq(rebuild(s, "s1", p, A), -EINVAL);  /* past the segment */
	p = P("bad", 64, 128);
	p.value_off = 1;
	ck_assert_int_eq(rebuild(s, "s1", p, A), -EINVAL);  /* the value's first part starts at 0 */
	p = P("bad", 64, 128);
	p.size = 200;
	ck_assert_int_eq(rebuild(s, "s1", p, A), -EINVAL);  /* the last part ends at the size */
	p = P("bad", 100, 128);
	ck_assert_int_eq(rebuild(s, "s1", p, A), -EINVAL);  /* not on a granule: mcs_alloc_reserve */
	p = P("bad", 64, 0);
	ck_assert_int_eq(rebuild(s, "s1", p, A), -EINVAL);
	p = P("bad", 64, 128);
	p.handle = 1;
	ck_assert_int_eq(rebuild(s, "s1", p, A), -EINVAL);
	/* two parts, whose lengths do not add up to the size */
	struct mcs_replica_part a = P("sum", 10 * MiB, 100), b = P("sum", 11 * MiB, 100);
	a.size = b.size = 300;
	a.n_handles = b.n_handles = 2;
	b.handle = 1;
	b.value_off = 200;
	ck_assert_int_eq(rebuild(s, "s1", a, A), 0);
	ck_assert_int_eq(rebuild(s, "s1", b, A), -EINVAL);
	got(s, "sum", -ENOENT);
	/* a part count unlike the replica's first part's */
	a = P("count", 12 * MiB, 100);
	a.size = 300;
	a.n_handles = 3;
	b = a;
	b.handle = 1;
	b.value_off = 100;
	b.n_handles = 2;
	ck_assert_int_eq(rebuild(s, "s1", a, A), 0);
	ck_assert_int_eq(rebuild(s, "s1", b, A), -EINVAL);
	/* not the reporter's segment, no such segment */
	ck_assert_int_eq(rebuild(s, "s2", P("x", 0, 64), A), -EPERM);
	ck_assert_int_eq(rebuild(s, "s9", P("x", 0, 64), A), -ENODEV);
	ck_assert_int_eq(mcs_store_check(s), 0);
	/* nothing was taken by the refusals but the first part of "count" */
	ck_assert_uint_eq(mcs_store_used(s), used + 128);
	mcs_store_free(s);
}
END_TEST

START_TEST(rebuild_many_in_order)
{
	/* a node reporting 100k objects in ascending offsets, then puts and
	 * eviction over the rebuilt segment */
	enum { N = 100000 };
	struct mcs_store *s = mk(100);
	ck_assert_int_eq(mcs_store_mount(s, S("n1"), S("s1"), 1ull << 30, S("127.0.0.1:1"), A), 0);
	char key[32];
	for (uint64_t i = 0; i < N; i++) {
		snprintf(key, sizeof(key), "obj-%llu", (unsigned long long)i);
		struct mcs_replica_part p = P(key, i * 8192, 4000 + i % 4000);
		if (rb(s, "s1", &p, A, 500) != 0) /* older than the puts below */
			ck_abort_msg("part %llu refused", (unsigned long long)i);
	}
	ck_assert_uint_eq(mcs_store_n_objects(s), N);
	ck_assert_int_eq(mcs_store_check(s), 0);
	struct mcs_replica_list l = got(s, "obj-77777", 0);
	ck_assert_uint_eq(l.replicas[0].handles[0].offset, 77777 * 8192);
	mcs_replica_list_free(&l);
	/* a full store evicts rebuilt objects to make room */
	for (int i = 0; i < 2000; i++) {
		snprintf(key, sizeof(key), "new-%d", i);
		ck_assert_int_eq(put(s, key, 1 * MiB, A), 0);
	}
	ck_assert_uint_lt(mcs_store_n_objects(s), N + 2000);
	ck_assert_int_eq(mcs_store_check(s), 0);
	mcs_store_free(s);
}
END_TEST

/* what part_dropped was told, in order */
static struct {
	char seg[8];
	uint64_t offset;
} told[64];
static unsigned n_told;

static void on_dropped(void *arg, const struct mcs_seg *g, uint64_t offset)
{
	ck_assert_ptr_eq(arg, &n_told);
	ck_assert_uint_lt(n_told, 64);
	snprintf(told[n_told].seg, sizeof(told[n_told].seg), "%s", g->name);
	told[n_told++].offset = offset;
}

static void expect_told(unsigned n, const char *seg, uint64_t offset)
{
	ck_assert_uint_eq(n_told, n);
	if (n) {
		ck_assert_str_eq(told[n - 1].seg, seg);
		ck_assert_uint_eq(told[n - 1].offset, offset);
	}
}

START_TEST(rebuild_nodes_told_of_drops)
{
	/* the nodes keep tables of their parts: they are told of every part
	 * that goes, but not of a put's that never ended, nor of those on a
	 * segment that goes */
	struct mcs_store_opts opts = { .lease_ttl_ms = 100, .part_dropped = on_dropped, .parts_arg = &n_told };
	struct mcs_store *s;
	ck_assert_int_eq(mcs_store_new(&opts, &s), 0);
	ck_assert_int_eq(mcs_store_mount(s, S("n1"), S("s1"), SEG, S("127.0.0.1:1"), A), 0);
	ck_assert_int_eq(mcs_store_mount(s, S("n2"), S("s2"), SEG, S("127.0.0.1:2"), B), 0);
	n_told = 0;
	/* a stored object removed */
	ck_assert_int_eq(put(s, "a", 1000, A), 0);
	struct mcs_obj *o;
	ck_assert_int_eq(mcs_store_get(s, S("a"), MCS_GET_NOLEASE, A, 1000, &o, NULL), 0);
	char seg[8];
	snprintf(seg, sizeof(seg), "%s", o->replicas[0].handles[0].seg->name);
	uint64_t off = mcs_block_offset(o->replicas[0].handles[0].blk);
	ck_assert_int_eq(mcs_store_remove(s, S("a"), false, 1000), 0);
	expect_told(1, seg, off);
	/* a put revoked, a put timed out: never in a node's table */
	ck_assert_int_eq(put_start(s, "b", 1000, 2, 0, A, NULL), 0);
	ck_assert_int_eq(mcs_store_put_revoke(s, S("b"), A), 0);
	ck_assert_int_eq(put_start(s, "c", 1000, 1, 0, A, NULL), 0);
	ck_assert_uint_eq(mcs_store_expire_puts(s, 1000 + 30000), 1);
	expect_told(1, seg, off);
	/* a rebuilt part that never found its other half */
	struct mcs_replica_part a = P("half", 20 * MiB, 1000);
	a.size = 2000;
	a.n_handles = 2;
	ck_assert_int_eq(rb(s, "s1", &a, A, 100000), 0);
	ck_assert_uint_eq(mcs_store_expire_puts(s, 100000 + 30000), 1);
	expect_told(2, "s1", 20 * MiB);
	/* a replica striped over s1 and s2, whose s1 goes: s2 is told */
	struct mcs_replica_part x, y;
	stripe("k", 0, 8192, &x, &y);
	ck_assert_int_eq(rb(s, "s1", &x, A, 200000), 0);
	ck_assert_int_eq(rb(s, "s2", &y, B, 200000), 0);
	ck_assert_int_eq(mcs_store_unmount(s, S("s1"), A), 1); /* k was lost with it */
	expect_told(3, "s2", 8192);
	/* two parts whose lengths are not the size: the first one's node is told */
	ck_assert_int_eq(mcs_store_mount(s, S("n1"), S("s1"), SEG, S("127.0.0.1:1"), A), 0);
	x = P("sum", 4096, 100);
	y = P("sum", 16384, 100);
	x.size = y.size = 300;
	x.n_handles = y.n_handles = 2;
	y.handle = 1;
	y.value_off = 200;
	ck_assert_int_eq(rb(s, "s1", &x, A, 300000), 0);
	ck_assert_int_eq(rb(s, "s2", &y, B, 300000), -EINVAL);
	expect_told(4, "s1", 4096);
	ck_assert_int_eq(mcs_store_check(s), 0);
	mcs_store_free(s);
	expect_told(4, "s1", 4096); /* the master's end drops nothing on the nodes */
}
END_TEST

/* what part_added was told: key, segment, offset, value offset, replica */
static char added[256];

static void on_added(void *arg, const struct mcs_obj *o, uint32_t r, uint32_t h)
{
	ck_assert_ptr_eq(arg, &n_told);
	const struct mcs_mhandle *hd = &o->replicas[r].handles[h];
	size_t n = strlen(added);
	snprintf(added + n, sizeof(added) - n, "%.*s@%s:%llu/%u.%u;", (int)o->keylen, o->key, hd->seg->name,
		 (unsigned long long)mcs_block_offset(hd->blk), r, h);
}

/* A put's end tells the nodes of every part of every replica; a rebuilt
 * object tells nobody (its nodes have it). While a segment's node
 * reports, no new object goes there. A put of the key, begun before the
 * restart and relayed by the node that reports it, cannot end or revoke
 * the rebuilt object (found by fuzz-master: its PUT_END made a replica
 * with a part missing COMPLETE). */
START_TEST(rebuild_nodes_told_of_adds_and_reporting)
{
	struct mcs_store_opts opts = { .lease_ttl_ms = 100, .max_buffer = 600, .part_added = on_added,
				       .parts_arg = &n_told };
	struct mcs_store *s;
	ck_assert_int_eq(mcs_store_new(&opts, &s), 0);
	ck_assert_int_eq(mcs_store_mount(s, S("n1"), S("s1"), SEG, S("127.0.0.1:1"), A), 0);
	ck_assert_int_eq(mcs_store_mount(s, S("n2"), S("s2"), SEG, S("127.0.0.1:2"), B), 0);
	added[0] = 0;
	/* a replica of 1000 bytes striped in two (max_buffer 600) over the
	 * two nodes, then two replicas of 500 */
	ck_assert_int_eq(put_start(s, "k", 1000, 1, 0, A, NULL), 0);
	ck_assert_str_eq(added, "");
	ck_assert_int_eq(mcs_store_put_end(s, S("k"), 42, A, 1000), 0);
	ck_assert_uint_eq(strlen(added), strlen("k@s1:0/0.0;k@s2:0/0.1;"));
	ck_assert_ptr_nonnull(strstr(added, "/0.0;"));
	ck_assert_ptr_nonnull(strstr(added, "/0.1;"));
	added[0] = 0;
	ck_assert_int_eq(put_start(s, "j", 500, 2, 0, A, NULL), 0);
	ck_assert_int_eq(mcs_store_put_end(s, S("j"), 42, A, 1000), 0);
	ck_assert_ptr_nonnull(strstr(added, "/0.0;"));
	ck_assert_ptr_nonnull(strstr(added, "/1.0;"));
	ck_assert_ptr_nonnull(strstr(added, "@s1:"));
	ck_assert_ptr_nonnull(strstr(added, "@s2:"));
	/* a rebuilt part: nobody is told */
	added[0] = 0;
	struct mcs_replica_part r = P("r", 32 * MiB, 100);
	ck_assert_int_eq(rb(s, "s1", &r, A, 2000), 0);
	ck_assert_str_eq(added, "");
	/* s1 reports: puts go to s2 alone, then nowhere for a second replica */
	ck_assert_int_eq(mcs_store_set_reporting(s, S("s1"), B, true), -EPERM);
	ck_assert_int_eq(mcs_store_set_reporting(s, S("nope"), A, true), -ENODEV);
	ck_assert_int_eq(mcs_store_set_reporting(s, S("s1"), A, true), 0);
	for (int i = 0; i < 20; i++) {
		char key[16];
		snprintf(key, sizeof(key), "p%d", i);
		added[0] = 0;
		ck_assert_int_eq(put(s, key, 500, A), 0);
		ck_assert_ptr_null(strstr(added, "@s1:"));
		ck_assert_ptr_nonnull(strstr(added, "@s2:"));
	}
	ck_assert_int_eq(put_start(s, "two", 500, 2, MCS_REPL_ALL_OR_NOTHING, A, NULL), -EXFULL);
	ck_assert_int_eq(mcs_store_set_reporting(s, S("s1"), A, false), 0);
	ck_assert_int_eq(put(s, "two", 500, A), 0);
	/* half of a stripe rebuilt by A: A's PUT_END or PUT_REVOKE of the key
	 * touches it not */
	struct mcs_replica_part x, y;
	stripe("st", 40 * MiB, 40 * MiB, &x, &y);
	ck_assert_int_eq(rb(s, "s1", &x, A, 3000), 0);
	ck_assert_int_eq(mcs_store_put_end(s, S("st"), 0xc0ffee, A, 3000), -ENOENT);
	ck_assert_int_eq(mcs_store_put_revoke(s, S("st"), A), -ENOENT);
	ck_assert_int_eq(mcs_store_exist(s, S("st"), 3000), -EAGAIN);
	ck_assert_int_eq(rb(s, "s2", &y, B, 3000), 0);
	ck_assert_int_eq(mcs_store_exist(s, S("st"), 3000), 0);
	ck_assert_int_eq(mcs_store_check(s), 0);
	mcs_store_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("store-rebuild");
	TCase *t = tcase_create("rebuild");
	tcase_set_timeout(t, 120);
	tcase_add_test(t, rebuild_one_part);
	tcase_add_test(t, rebuild_striped_over_nodes);
	tcase_add_test(t, rebuild_partial_goes_like_a_put);
	tcase_add_test(t, rebuild_refusals);
	tcase_add_test(t, rebuild_many_in_order);
	tcase_add_test(t, rebuild_nodes_told_of_drops);
	tcase_add_test(t, rebuild_nodes_told_of_adds_and_reporting);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return store_suite_run(suite());
}
