/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for transfer planning (xfer/xfer.c): chunk cutting, range
 * checks, the DATA_* request body and the read answer check, the FIFO of a
 * link and the choice of a link in a pool (with fake connections).
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xfer/xfer.h"

#define MiB (UINT64_C(1) << 20)

static struct mcs_handle handle(const char *seg, const char *ep, uint64_t off, uint64_t len)
{
	return (struct mcs_handle){ .segment = mcs_str_c(seg), .endpoint = mcs_str_c(ep), .offset = off, .len = len };
}

START_TEST(test_cut)
{
	/* 9 MiB + 1 (three chunks), nothing, exactly one chunk */
	struct mcs_handle hs[] = { handle("a", "h:1", 100, 9 * MiB + 1), handle("b", "h:2", 0, 0),
				   handle("c", "h:3", 7, MCS_XFER_CHUNK) };
	ck_assert_uint_eq(mcs_xfer_count(hs, 3), 4);
	ck_assert_uint_eq(mcs_xfer_count(hs, 0), 0);
	struct mcs_xfer_cut cu = mcs_xfer_cut_start(hs, 3);
	struct mcs_xfer_chunk c;
	const struct { int h; uint64_t voff, roff, len; } want[] = {
		{ 0, 0, 100, MCS_XFER_CHUNK },
		{ 0, MCS_XFER_CHUNK, 100 + MCS_XFER_CHUNK, MCS_XFER_CHUNK },
		{ 0, 2 * MCS_XFER_CHUNK, 100 + 2 * MCS_XFER_CHUNK, MiB + 1 },
		{ 2, 9 * MiB + 1, 7, MCS_XFER_CHUNK },
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ck_assert(mcs_xfer_cut_next(&cu, &c));
		ck_assert_ptr_eq(c.hd, &hs[want[i].h]);
		ck_assert_uint_eq(c.voff, want[i].voff);
		ck_assert_uint_eq(c.roff, want[i].roff);
		ck_assert_uint_eq(c.len, want[i].len);
		ck_assert_ptr_null(c.next);
	}
	ck_assert(!mcs_xfer_cut_next(&cu, &c));
	ck_assert(!mcs_xfer_cut_next(&cu, &c));
	cu = mcs_xfer_cut_start(hs + 1, 1);
	ck_assert(!mcs_xfer_cut_next(&cu, &c));
}
END_TEST

START_TEST(test_window)
{
	struct mcs_handle hs[] = { handle("a", "h:1", 1000, 100), handle("b", "h:2", 0, 0),
				   handle("c", "h:3", 50, 200) };
	struct mcs_handle out[3];
	/* inside one handle */
	ck_assert_uint_eq(mcs_xfer_window(hs, 3, 10, 20, out), 1);
	ck_assert_ptr_eq(out[0].segment.p, hs[0].segment.p);
	ck_assert_uint_eq(out[0].offset, 1010);
	ck_assert_uint_eq(out[0].len, 20);
	/* across the boundary (the empty handle gives no piece) */
	ck_assert_uint_eq(mcs_xfer_window(hs, 3, 90, 30, out), 2);
	ck_assert_uint_eq(out[0].offset, 1090);
	ck_assert_uint_eq(out[0].len, 10);
	ck_assert(mcs_str_eq(out[1].segment, mcs_str_c("c")));
	ck_assert_uint_eq(out[1].offset, 50);
	ck_assert_uint_eq(out[1].len, 20);
	/* the whole value, the tail, nothing */
	ck_assert_uint_eq(mcs_xfer_window(hs, 3, 0, 300, out), 2);
	ck_assert_uint_eq(out[1].len, 200);
	ck_assert_uint_eq(mcs_xfer_window(hs, 3, 250, 50, out), 1);
	ck_assert_uint_eq(out[0].offset, 200);
	ck_assert_uint_eq(out[0].len, 50);
	ck_assert_uint_eq(mcs_xfer_window(hs, 3, 100, 0, out), 0);
}
END_TEST

START_TEST(test_check)
{
	struct mcs_str self = mcs_str_c("me");
	uint64_t total = 0;
	struct mcs_handle ok[] = { handle("me", "", 0, 10), handle("other", "h:1", 1000, 50), handle("me", "", 90, 10) };
	ck_assert(mcs_xfer_check(ok, 3, self, 100, &total));
	ck_assert_uint_eq(total, 70);
	ck_assert(mcs_xfer_check(ok, 3, self, 100, NULL));
	/* our own handle past the end (by one byte), or starting beyond it */
	ck_assert(!mcs_xfer_check(ok, 3, self, 99, NULL));
	struct mcs_handle far[] = { handle("me", "", UINT64_MAX, 2) };
	ck_assert(!mcs_xfer_check(far, 1, self, 100, NULL));
	/* another segment's range is not ours to judge, only its length */
	struct mcs_handle big[] = { handle("other", "h:1", UINT64_MAX - 1, 1), handle("other", "h:1", 0, UINT64_MAX) };
	ck_assert(mcs_xfer_check(big, 1, self, 100, NULL));
	ck_assert(!mcs_xfer_check(big, 2, self, 100, NULL)); /* the sum overflows */
	ck_assert(mcs_xfer_range_ok(100, 0, 100));
	ck_assert(!mcs_xfer_range_ok(101, 0, 100));
	ck_assert(!mcs_xfer_range_ok(1, UINT64_MAX, 100));

	struct mcs_data_req q = { .segment = self, .offset = 40, .len = 60 };
	ck_assert(mcs_xfer_req_ok(&q, self, 100));
	ck_assert(!mcs_xfer_req_ok(&q, self, 99));
	ck_assert(!mcs_xfer_req_ok(&q, mcs_str_c("m"), 100));
}
END_TEST

START_TEST(test_encoding)
{
	struct mcs_handle hd = handle("seg-1", "h:1", 4096, 3 * MiB);
	struct mcs_xfer_chunk c = { .hd = &hd, .voff = 5, .roff = 8192, .len = 1234 };
	uint8_t qb[MCS_XFER_REQ_MAX];
	struct mcs_buf b = { .p = qb, .cap = sizeof(qb) };
	mcs_xfer_enc_req(&b, &c);
	ck_assert_int_eq(b.err, 0);
	struct mcs_data_req q;
	ck_assert_int_eq(mcs_dec_data_req(b.p, b.len, &q), 0);
	ck_assert(mcs_str_eq(q.segment, hd.segment));
	ck_assert_uint_eq(q.offset, 8192);
	ck_assert_uint_eq(q.len, 1234);

	/* a frame for the longest segment name fits MCS_XFER_REQ_MAX */
	char name[MCS_NAME_MAX + 1];
	memset(name, 'x', MCS_NAME_MAX);
	name[MCS_NAME_MAX] = '\0';
	hd.segment = mcs_str_c(name);
	b = (struct mcs_buf){ .p = qb, .cap = sizeof(qb) };
	mcs_frame_begin(&b, MCS_OP_DATA_WRITE, 0, 0, 1);
	mcs_xfer_enc_req(&b, &c);
	ck_assert_int_eq(mcs_frame_end(&b), 0);

	uint8_t rb[16];
	struct mcs_buf r = { .p = rb, .cap = sizeof(rb) };
	mcs_enc_data_resp(&r, &(struct mcs_data_resp){ .len = 1234 });
	ck_assert_int_eq(mcs_xfer_dec_read(r.p, r.len, c.len), 0);
	c.len = 1235;
	ck_assert_int_eq(mcs_xfer_dec_read(r.p, r.len, c.len), -EPROTO);
	ck_assert_int_eq(mcs_xfer_dec_read(r.p, 2, c.len), -EPROTO);
}
END_TEST

/* Chunks of one segment make one DATA_READV, in their order; chunks of
 * another segment, incarnation or endpoint do not join it. */
START_TEST(test_readv)
{
	struct mcs_handle hd[4] = {
		{ .segment = mcs_str_c("n2-0"), .endpoint = mcs_str_c("127.0.0.1:7000"), .offset = 0, .len = 8192,
		  .incarnation = 5 },
		{ .segment = mcs_str_c("n2-0"), .endpoint = mcs_str_c("127.0.0.1:7000"), .offset = 1 << 20, .len = 10,
		  .incarnation = 5 },
		{ .segment = mcs_str_c("n2-0"), .endpoint = mcs_str_c("127.0.0.1:7000"), .len = 1, .incarnation = 6 },
		{ .segment = mcs_str_c("n2-1"), .endpoint = mcs_str_c("127.0.0.1:7000"), .len = 1, .incarnation = 5 },
	};
	struct mcs_xfer_chunk c[4];
	for (int i = 0; i < 4; i++)
		c[i] = (struct mcs_xfer_chunk){ .hd = &hd[i], .roff = hd[i].offset, .len = hd[i].len };
	ck_assert(mcs_xfer_same_segment(&c[0], &c[1]));
	ck_assert(!mcs_xfer_same_segment(&c[0], &c[2]));
	ck_assert(!mcs_xfer_same_segment(&c[0], &c[3]));
	/* the order that puts them together: antisymmetric, 0 only for one segment */
	ck_assert_int_eq(mcs_xfer_segment_cmp(&c[0], &c[1]), 0);
	for (int i = 2; i < 4; i++) {
		int d = mcs_xfer_segment_cmp(&c[0], &c[i]);
		ck_assert_int_ne(d, 0);
		ck_assert_int_eq(mcs_xfer_segment_cmp(&c[i], &c[0]), -d);
	}
	struct mcs_xfer_chunk *two[2] = { &c[1], &c[0] };
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_xfer_enc_readv(&b, two, 2);
	ck_assert_int_eq(b.err, 0);
	struct mcs_data_readv_req v;
	ck_assert_int_eq(mcs_dec_data_readv_req(b.p, b.len, &v), 0);
	ck_assert(mcs_str_eq(v.segment, hd[0].segment));
	ck_assert_uint_eq(v.incarnation, 5);
	ck_assert_uint_eq(v.n_ranges, 2);
	ck_assert_uint_eq(v.ranges[0].offset, 1 << 20);
	ck_assert_uint_eq(v.ranges[0].len, 10);
	ck_assert_uint_eq(v.ranges[1].offset, 0);
	ck_assert_uint_eq(v.ranges[1].len, 8192);
	mcs_data_readv_req_free(&v);
	/* the planner never mixes segments: the encoder refuses it */
	struct mcs_xfer_chunk *mixed[2] = { &c[0], &c[3] };
	mcs_buf_reset(&b);
	mcs_xfer_enc_readv(&b, mixed, 2);
	ck_assert_int_eq(b.err, -EINVAL);
	mcs_buf_reset(&b);
	mcs_xfer_enc_readv(&b, mixed, 0);
	ck_assert_int_eq(b.err, -EINVAL);
	mcs_buf_free(&b);
	/* a DATA_READV's answer announces the sum */
	uint8_t rb[16];
	struct mcs_buf r = { .p = rb, .cap = sizeof(rb) };
	mcs_enc_data_resp(&r, &(struct mcs_data_resp){ .len = 8202 });
	ck_assert_int_eq(mcs_xfer_dec_read(r.p, r.len, 8202), 0);
	ck_assert_int_eq(mcs_xfer_dec_read(r.p, r.len, 8192), -EPROTO);
}
END_TEST

START_TEST(test_fifo)
{
	struct mcs_xfer_link l = { 0 };
	struct mcs_xfer_chunk a = { .len = 10 }, b = { .len = 20 }, c = { .len = 30 };
	ck_assert_ptr_null(mcs_xfer_pop(&l));
	mcs_xfer_push(&l, &a);
	mcs_xfer_push(&l, &b);
	ck_assert_uint_eq(l.inflight, 30);
	ck_assert_ptr_eq(mcs_xfer_pop(&l), &a);
	mcs_xfer_push(&l, &c);
	ck_assert_uint_eq(l.inflight, 50);
	ck_assert_ptr_eq(mcs_xfer_pop(&l), &b);
	ck_assert_ptr_eq(mcs_xfer_pop(&l), &c);
	ck_assert_ptr_null(mcs_xfer_pop(&l));
	ck_assert_ptr_null(l.head);
	ck_assert_ptr_null(l.tail);
	ck_assert_uint_eq(l.inflight, 0);
}
END_TEST

/* Fake connections: a link is usable unless marked dead (then usable()
 * closes it, as libmcstore does) or stale (then it stays, as the ring's
 * connections do until their close callback). */
struct fake {
	struct mcs_xfer_link link;
	bool dead, stale;
};

struct side {
	int opened, closed;
	int open_err;
	struct fake conns[16];
};

static bool fake_usable(struct mcs_xfer_link *l, void *arg)
{
	struct side *s = arg;
	struct fake *f = (struct fake *)l;
	if (f->dead) {
		mcs_xfer_leave(l);
		s->closed++;
		return false;
	}
	return !f->stale;
}

static int fake_open(struct mcs_xfer_pool *p, void *arg, struct mcs_xfer_link **ret)
{
	struct side *s = arg;
	if (s->open_err)
		return s->open_err;
	ck_assert_int_lt(s->opened, 16);
	*ret = &s->conns[s->opened++].link;
	return 0;
}

static const struct mcs_xfer_pool_ops fake_ops = { .usable = fake_usable, .open = fake_open };

static void drop(struct mcs_xfer_link *l)
{
	ck_assert_ptr_null(l->pool);
	((struct fake *)l)->dead = true;
}

START_TEST(test_pool)
{
	struct mcs_xfer_pool *pools = NULL, *p, *q;
	struct side s = { 0 };
	struct mcs_xfer_link *l;
	struct mcs_xfer_chunk ch[8] = { { .len = 100 }, { .len = 100 }, { .len = 100 }, { .len = 100 },
					{ .len = 100 }, { .len = 1 } };

	ck_assert_int_eq(mcs_xfer_pool_get(&pools, mcs_str_c(""), &p), -EREMOTE);
	ck_assert_int_eq(mcs_xfer_pool_get(&pools, mcs_str_c("h:1"), &p), 0);
	ck_assert_int_eq(mcs_xfer_pool_get(&pools, mcs_str_c("h:2"), &q), 0);
	ck_assert_ptr_ne(p, q);
	ck_assert_int_eq(mcs_xfer_pool_get(&pools, mcs_str_c("h:1"), &q), 0);
	ck_assert_ptr_eq(p, q);
	ck_assert_str_eq(p->endpoint, "h:1");

	/* nothing yet: EXISTING opens nothing, ANY opens one */
	ck_assert_int_eq(mcs_xfer_pick(p, MCS_XFER_EXISTING, &fake_ops, &s, &l), -ECONNREFUSED);
	ck_assert_int_eq(mcs_xfer_pick(p, MCS_XFER_ANY, &fake_ops, &s, &l), 0);
	ck_assert_int_eq(s.opened, 1);
	ck_assert_ptr_eq(l->pool, p);
	ck_assert_ptr_eq(p->links[0], l);
	/* an idle link is reused by all three */
	for (int how = MCS_XFER_EXISTING; how <= MCS_XFER_SPREAD; how++) {
		struct mcs_xfer_link *m;
		ck_assert_int_eq(mcs_xfer_pick(p, how, &fake_ops, &s, &m), 0);
		ck_assert_ptr_eq(m, l);
	}
	ck_assert_int_eq(s.opened, 1);
	/* SPREAD: a new link rather than a busy one, up to the pool's size */
	for (int i = 0; i < MCS_XFER_POOL + 1; i++) {
		ck_assert_int_eq(mcs_xfer_pick(p, MCS_XFER_SPREAD, &fake_ops, &s, &l), 0);
		mcs_xfer_push(l, &ch[i]);
	}
	ck_assert_int_eq(s.opened, MCS_XFER_POOL);
	ck_assert_uint_eq(s.conns[0].link.inflight, 200); /* the fifth went to the least loaded */
	/* then the one with the fewest bytes in flight */
	mcs_xfer_pop(&s.conns[2].link);
	ck_assert_int_eq(mcs_xfer_pick(p, MCS_XFER_SPREAD, &fake_ops, &s, &l), 0);
	ck_assert_ptr_eq(l, &s.conns[2].link);
	ck_assert_int_eq(mcs_xfer_pick(p, MCS_XFER_EXISTING, &fake_ops, &s, &l), 0);
	ck_assert_ptr_eq(l, &s.conns[2].link);

	/* a stale link keeps its slot; a dead one is closed and replaced */
	s.conns[2].stale = true;
	s.conns[1].dead = true;
	ck_assert_int_eq(mcs_xfer_pick(p, MCS_XFER_SPREAD, &fake_ops, &s, &l), 0);
	ck_assert_int_eq(s.closed, 1);
	ck_assert_int_eq(s.opened, MCS_XFER_POOL + 1);
	ck_assert_ptr_eq(p->links[1], l);
	ck_assert_ptr_eq(p->links[2], &s.conns[2].link);
	/* an open that fails: the best of the rest, or its error when none */
	mcs_xfer_push(l, &ch[5]);
	s.open_err = -EHOSTUNREACH;
	s.conns[0].dead = true;
	ck_assert_int_eq(mcs_xfer_pick(p, MCS_XFER_SPREAD, &fake_ops, &s, &l), 0);
	ck_assert_ptr_eq(l, p->links[1]);
	struct mcs_xfer_pool *r;
	ck_assert_int_eq(mcs_xfer_pool_get(&pools, mcs_str_c("h:3"), &r), 0);
	ck_assert_int_eq(mcs_xfer_pick(r, MCS_XFER_ANY, &fake_ops, &s, &l), -EHOSTUNREACH);

	/* leaving frees the slot; freeing the pools drops what is left */
	mcs_xfer_leave(&s.conns[3].link);
	ck_assert_ptr_null(p->links[3]);
	ck_assert_ptr_null(s.conns[3].link.pool);
	mcs_xfer_pools_free(&pools, drop);
	ck_assert_ptr_null(pools);
	ck_assert(s.conns[2].dead);
	ck_assert(!s.conns[3].dead);
}
END_TEST

static Suite *xfer_suite(void)
{
	Suite *s = suite_create("xfer");
	TCase *tc = tcase_create("plan");
	tcase_add_test(tc, test_cut);
	tcase_add_test(tc, test_window);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_encoding);
	suite_add_tcase(s, tc);
	tc = tcase_create("links");
	tcase_add_test(tc, test_readv);
	tcase_add_test(tc, test_fifo);
	tcase_add_test(tc, test_pool);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(xfer_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
