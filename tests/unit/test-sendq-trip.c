/* SPDX-License-Identifier: MIT */
/*
 * Unit test of the loop's send queue (uring/sendq.c) at volume: a
 * node-to-node round trip of 256 MiB each way over TCP, references sent
 * from and landed straight into big buffers, with and without SEND_ZC.
 * The fixtures are loop-fixture.h's.
 */
#include <check.h>
#include <string.h>

#include "tests/unit/loop-fixture.h"

/*
 * Node A connects to node B. A sends DATA_WRITE {off, len} frames, each
 * followed by len bytes (send_ref); B lands them (recv_into) in its big
 * buffer and acknowledges each once it is complete. Then A sends DATA_READ
 * {off, len}; B answers each with a frame {off, len} followed by the bytes
 * (send_ref straight from its buffer), which A lands (recv_into). All
 * requests of a phase are pipelined on the one conn. _i 1: with SEND_ZC.
 */
#define RT_TOTAL (256u * MiB)

struct rt_req {
	size_t off, len;
};

struct node {
	struct mcs_conn *c;
	uint8_t *buf;
	const struct rt_req *reqs;
	int n_reqs;
	int write_acks, read_frames, read_dones, ref_dones;
	int errors, closes;
	bool in_frame;
};

static void rt_ref_done(struct mcs_conn *c, int err, void *arg)
{
	struct node *n = arg;
	n->ref_dones++;
	if (err)
		n->errors++;
}

/* B: a write payload is in; acknowledge it (req_id rides in arg). */
static void rt_write_landed(struct mcs_conn *c, int err, void *arg)
{
	const struct rt_req *rq = arg;
	struct node *b = mcs_conn_userdata(c);
	if (err) {
		b->errors++;
		return;
	}
	struct mcs_hdr h = { .opcode = MCS_OP_DATA_WRITE, .flags = MCS_F_RESPONSE,
			     .req_id = (uint64_t)(rq - b->reqs) };
	uint8_t st[8] = { 0 };
	ck_assert_int_eq(mcs_conn_send(c, &h, st, sizeof(st), -1), 0);
}

static int node_b_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *ud)
{
	struct node *b = ud;
	if (h->body_len != 16 || h->req_id >= (uint64_t)b->n_reqs) {
		b->errors++;
		return -EPROTO;
	}
	const struct rt_req *rq = &b->reqs[h->req_id];
	if (get_le(body, 8) != rq->off || get_le(body + 8, 8) != rq->len)
		b->errors++;
	if (h->opcode == MCS_OP_DATA_WRITE) {
		ck_assert_int_eq(mcs_conn_recv_into(c, b->buf + rq->off, rq->len, rt_write_landed, (void *)rq), 0);
	} else if (h->opcode == MCS_OP_DATA_READ) {
		struct mcs_hdr r = *h;
		r.flags |= MCS_F_RESPONSE;
		ck_assert_int_eq(mcs_conn_send(c, &r, body, 16, -1), 0);
		ck_assert_int_eq(mcs_conn_send_ref(c, b->buf + rq->off, rq->len, rt_ref_done, b), 0);
	} else {
		b->errors++;
	}
	return 0;
}

static void rt_read_landed(struct mcs_conn *c, int err, void *arg)
{
	struct node *a = arg;
	a->read_dones++;
	if (err)
		a->errors++;
}

static int node_a_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *ud)
{
	struct node *a = ud;
	if (!(h->flags & MCS_F_RESPONSE) || h->req_id >= (uint64_t)a->n_reqs) {
		a->errors++;
		return -EPROTO;
	}
	const struct rt_req *rq = &a->reqs[h->req_id];
	if (h->opcode == MCS_OP_DATA_WRITE) {
		/* acks come in request order */
		if (h->req_id != (uint64_t)a->write_acks || get_le(body, 8) != 0)
			a->errors++;
		a->write_acks++;
	} else if (h->opcode == MCS_OP_DATA_READ) {
		if (h->req_id != (uint64_t)a->read_frames || get_le(body, 8) != rq->off ||
		    get_le(body + 8, 8) != rq->len)
			a->errors++;
		a->read_frames++;
		ck_assert_int_eq(mcs_conn_recv_into(c, a->buf + rq->off, rq->len, rt_read_landed, a), 0);
	} else {
		a->errors++;
	}
	return 0;
}

static void node_close(struct mcs_conn *c, int err, void *ud)
{
	struct node *n = ud;
	n->closes++;
	if (err)
		n->errors++;
}

static const struct mcs_conn_ops node_a_ops = { .on_frame = node_a_frame, .on_close = node_close };
static const struct mcs_conn_ops node_b_ops = { .on_frame = node_b_frame, .on_close = node_close };

static int node_b_accept(struct mcs_loop *l, int fd, const struct mcs_conn_ops **ret_ops, void **ret_userdata,
			 void *ud)
{
	struct node *b = ud;
	ck_assert_int_eq(b->closes, 0);
	*ret_ops = &node_b_ops;
	*ret_userdata = b;
	return 0;
}

struct rt_goal {
	const struct node *a, *b;
	int acks, read_dones;
};
/* ref_dones too: with SEND_ZC the sender's done may come after the
 * receiver has the bytes (it waits for the notification) */
static bool rt_reached(void *arg)
{
	const struct rt_goal *g = arg;
	return g->a->write_acks >= g->acks && g->a->ref_dones >= g->acks && g->a->read_dones >= g->read_dones &&
	       g->b->ref_dones >= g->read_dones;
}

static void rt_send_req(struct node *a, uint16_t opcode, int i)
{
	uint8_t body[16];
	put_le(body, a->reqs[i].off, 8);
	put_le(body + 8, a->reqs[i].len, 8);
	struct mcs_hdr h = { .opcode = opcode, .req_id = (uint64_t)i };
	ck_assert_int_eq(mcs_conn_send(a->c, &h, body, sizeof(body), -1), 0);
}

START_TEST(test_node_round_trip)
{
	static const size_t sizes[] = {
		64 * MiB, 1, 100 * KiB, 32 * MiB, 7 * KiB + 3, 16 * MiB, 0, 8 * MiB + 5, 3 * MiB, 4 * KiB, 20 * MiB,
		1 * MiB - 1, 512, 2 * MiB, 0 /* the rest */
	};
	enum { N = MCS_ARRAY_SIZE(sizes) };
	struct rt_req reqs[N];
	size_t off = 0;
	for (int i = 0; i < N; i++) {
		reqs[i].off = off;
		reqs[i].len = i == N - 1 ? RT_TOTAL - off : sizes[i];
		off += reqs[i].len;
	}
	ck_assert_uint_eq(off, RT_TOTAL);

	struct mcs_loop *l = new_loop_zc(_i ? 1 * MiB : 0);
	int ls;
	struct sockaddr_in addr;
	tcp_listener(&ls, &addr);
	struct node a = { .reqs = reqs, .n_reqs = N }, b = { .reqs = reqs, .n_reqs = N };
	ck_assert_int_eq(mcs_loop_listen(l, ls, node_b_accept, &b), 0);
	uint8_t *src = map_buf(RT_TOTAL);
	fill_fast(src, RT_TOTAL, 2024);
	a.buf = map_buf(RT_TOTAL);
	b.buf = map_buf(RT_TOTAL);

	ck_assert_int_eq(mcs_loop_connect(l, (struct sockaddr *)&addr, sizeof(addr), 5000, &node_a_ops, &a, &a.c), 0);
	/* queued before the connection is even up */
	for (int i = 0; i < N; i++) {
		rt_send_req(&a, MCS_OP_DATA_WRITE, i);
		ck_assert_int_eq(mcs_conn_send_ref(a.c, src + reqs[i].off, reqs[i].len, rt_ref_done, &a), 0);
	}
	struct rt_goal g = { &a, &b, N, 0 };
	run_until(l, rt_reached, &g);
	ck_assert_int_eq(a.ref_dones, N);
	ck_assert_int_eq(a.errors + b.errors, 0);
	ck_assert(memcmp(b.buf, src, RT_TOTAL) == 0);

	for (int i = 0; i < N; i++)
		rt_send_req(&a, MCS_OP_DATA_READ, i);
	g.read_dones = N;
	run_until(l, rt_reached, &g);
	ck_assert_int_eq(a.read_frames, N);
	ck_assert_int_eq(b.ref_dones, N);
	ck_assert_int_eq(a.errors + b.errors, 0);
	ck_assert(memcmp(a.buf, src, RT_TOTAL) == 0);
	ck_assert_int_eq(a.closes + b.closes, 0);
	mcs_loop_free(l);
	ck_assert_int_eq(a.closes, 1);
	ck_assert_int_eq(b.closes, 1);
	ck_assert_int_eq(a.errors + b.errors, 0);
	unmap_buf(src, RT_TOTAL);
	unmap_buf(a.buf, RT_TOTAL);
	unmap_buf(b.buf, RT_TOTAL);
}
END_TEST

static Suite *trip_suite(void)
{
	Suite *s = suite_create("sendq-trip");
	TCase *tc = tcase_create("round-trip");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_node_round_trip, 0, 2);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return loop_test_main(trip_suite());
}
