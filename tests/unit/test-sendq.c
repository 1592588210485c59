/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the loop's send queue (uring/sendq.c), through the
 * connections that own it: bytes already framed, fd passing, references
 * to caller memory (in order with frames, gathered into one SENDMSG, with
 * SEND_ZC, failed by a close). The node-to-node round trip is
 * test-sendq-trip.c's; the fixtures are loop-fixture.h's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/ck-skip.h"
#include "tests/unit/loop-fixture.h"

/* ---- frames already framed ------------------------------------------------ */

/* Everything queued on a connection went out, and (when counter is set)
 * that many done callbacks ran: what a test waits for after its reader got
 * every byte, rather than a few milliseconds of loop. */
struct sent_goal {
	struct mcs_conn *c;
	const int *counter;
	int goal;
};
static bool all_sent(void *arg)
{
	const struct sent_goal *g = arg;
	return mcs_conn_pending_bytes(g->c) == 0 && (!g->counter || *g->counter >= g->goal);
}

START_TEST(test_send_raw)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(T_UNIX, sv);
	struct peer a = { 0 }, b = { 0 };
	struct mcs_conn *c = add_peer(l, sv[0], &a);
	add_peer(l, sv[1], &b);

	/* two whole frames in one call, then a large one */
	uint8_t buf[2 * MCS_HDR_SIZE + 10];
	raw_hdr(buf, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 0, 0);
	raw_hdr(buf + MCS_HDR_SIZE, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 1, 10);
	fill(buf + 2 * MCS_HDR_SIZE, 10, 1);
	ck_assert_int_eq(mcs_conn_send_raw(c, buf, sizeof(buf)), 0);
	size_t big = 300 * KiB;
	uint8_t *p = malloc(MCS_HDR_SIZE + big);
	ck_assert_ptr_nonnull(p);
	raw_hdr(p, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 2, (uint32_t)big);
	fill(p + MCS_HDR_SIZE, big, 2);
	ck_assert_int_eq(mcs_conn_send_raw(c, p, MCS_HDR_SIZE + big), 0);
	free(p);
	ck_assert_int_eq(mcs_conn_send_raw(c, NULL, 0), 0);

	run_until_count(l, &b.frames, 3);
	ck_assert_int_eq(b.order_errors + b.content_errors, 0);
	mcs_loop_free(l);
}
END_TEST


/* ---- fd passing ----------------------------------------------------------- */

struct fd_reader {
	int sock;
	size_t expect;             /* bytes to read */
	uint8_t *data;
	int fds[4];
	size_t fd_read_start[4];   /* [start, end) of the read that carried fds[i] */
	size_t fd_read_end[4];
	int n_fds;
	int err;
	atomic_bool done;
};

static void *fd_reader_main(void *arg)
{
	struct fd_reader *r = arg;
	size_t got = 0;

	while (got < r->expect) {
		union {
			char buf[CMSG_SPACE(4 * sizeof(int))];
			struct cmsghdr align;
		} cbuf;
		struct iovec iov = { r->data + got, r->expect - got };
		struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf.buf,
				      .msg_controllen = sizeof(cbuf.buf) };
		ssize_t k = recvmsg(r->sock, &msg, MSG_CMSG_CLOEXEC);
		if (k <= 0) {
			r->err = k < 0 ? -errno : -EPIPE;
			break;
		}
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
				continue;
			size_t n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
			for (size_t i = 0; i < n && r->n_fds < 4; i++) {
				memcpy(&r->fds[r->n_fds], CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
				r->fd_read_start[r->n_fds] = got;
				r->fd_read_end[r->n_fds] = got + (size_t)k;
				r->n_fds++;
			}
		}
		got += (size_t)k;
	}
	atomic_store(&r->done, true);
	return NULL;
}

static bool reader_done(void *arg)
{
	struct fd_reader *r = arg;
	return atomic_load(&r->done);
}

/* Run the loop while a thread reads r->expect bytes from r->sock into
 * r->data (allocated here; the caller frees it): all must arrive. */
static void read_while_running(struct mcs_loop *l, struct fd_reader *r)
{
	r->data = malloc(r->expect ? r->expect : 1);
	ck_assert_ptr_nonnull(r->data);
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, fd_reader_main, r), 0);
	run_until(l, reader_done, r);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(r->err, 0);
}

static int make_memfd(const char *text)
{
	int fd = memfd_create("test-loop", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	write_all(fd, text, strlen(text));
	return fd;
}

static void check_memfd(int fd, const char *text)
{
	char buf[64] = { 0 };
	ck_assert_int_eq(pread(fd, buf, sizeof(buf) - 1, 0), (ssize_t)strlen(text));
	ck_assert_str_eq(buf, text);
}

START_TEST(test_fd_passing)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(T_UNIX, sv);
	struct peer p = { 0 };
	struct mcs_conn *c = add_peer(l, sv[0], &p);

	/* small, fd + 1 MiB (partial SENDMSG, the rest as SEND), small, fd + small */
	static const size_t lens[] = { 10, 1 * MiB, 3, 5 };
	size_t start[4], total = 0;
	for (int i = 0; i < 4; i++) {
		start[i] = total;
		total += MCS_HDR_SIZE + lens[i];
	}
	int m1 = make_memfd("first memfd"), m2 = make_memfd("second memfd");
	ck_assert_int_eq(send_frame(c, MCS_OP_HELLO, 0, lens[0], -1), 0);
	ck_assert_int_eq(send_frame(c, MCS_OP_HELLO, 1, lens[1], m1), 0);
	ck_assert_int_eq(send_frame(c, MCS_OP_HELLO, 2, lens[2], -1), 0);
	ck_assert_int_eq(send_frame(c, MCS_OP_HELLO, 3, lens[3], m2), 0);
	/* the fd is borrowed: ours can go right away */
	close(m1);
	close(m2);
	ck_assert_int_eq(send_frame(c, MCS_OP_HELLO, 9, 0, 12345), -EBADF);

	struct fd_reader r = { .sock = sv[1], .expect = total };
	read_while_running(l, &r);
	ck_assert_uint_eq(mcs_conn_pending_bytes(c), 0);
	ck_assert_int_eq(r.n_fds, 2);
	/* each fd came with the read holding its frame's first byte */
	ck_assert_uint_le(r.fd_read_start[0], start[1]);
	ck_assert_uint_gt(r.fd_read_end[0], start[1]);
	ck_assert_uint_le(r.fd_read_start[1], start[3]);
	ck_assert_uint_gt(r.fd_read_end[1], start[3]);
	check_memfd(r.fds[0], "first memfd");
	check_memfd(r.fds[1], "second memfd");
	close(r.fds[0]);
	close(r.fds[1]);
	/* the bytes are the four frames, in order */
	for (int i = 0; i < 4; i++) {
		const uint8_t *h = r.data + start[i];
		ck_assert_uint_eq(h[12], (unsigned)i);
		ck_assert_uint_eq((uint32_t)h[20] | (uint32_t)h[21] << 8 | (uint32_t)h[22] << 16, lens[i]);
		ck_assert(check_fill(h + MCS_HDR_SIZE, lens[i], (uint64_t)i));
	}
	free(r.data);
	mcs_loop_free(l);
	close(sv[1]);
}
END_TEST

/* ---- bulk data: send_ref -------------------------------------------------- */

/* _i: transport x (plain | zc_threshold 64 KiB). Frames and references,
 * interleaved and all queued at once, reach a raw reader byte-exact and in
 * call order; every done runs once, with 0, in queue order. On unix
 * sockets the kernel refuses SEND_ZC: the conn falls back to SEND. */
START_TEST(test_send_ref_order)
{
	int transport = _i % T_COUNT;
	bool zc = _i / T_COUNT;
	struct mcs_loop *l = new_loop_zc(zc ? 64 * KiB : 0);
	int sv[2];
	make_pair(transport, sv);
	struct peer p = { 0 };
	struct mcs_conn *c = add_peer(l, sv[0], &p);

	/* F: frame (len: body), R: reference */
	static const struct {
		char kind;
		size_t len;
	} items[] = {
		{ 'F', 8 * MiB }, { 'F', 10 }, { 'R', 100 * KiB }, { 'F', 5 }, { 'R', 0 },
		{ 'R', 1 },       { 'F', 0 },  { 'R', 16 * MiB },  { 'F', 3 }, { 'R', 64 * MiB },
		{ 'F', 7 },       { 'R', 3 },
	};
	enum { N = MCS_ARRAY_SIZE(items) };
	size_t src_len = 0, total = 0;
	for (int i = 0; i < N; i++) {
		if (items[i].kind == 'R')
			src_len += items[i].len;
		total += items[i].kind == 'R' ? items[i].len : MCS_HDR_SIZE + items[i].len;
	}
	uint8_t *src = map_buf(src_len);
	fill_fast(src, src_len, 77);
	struct ref_track t[N];
	memset(t, 0, sizeof(t));
	int seq = 0;
	size_t off = 0;
	for (int i = 0; i < N; i++) {
		t[i].counter = &seq;
		if (items[i].kind == 'F') {
			ck_assert_int_eq(send_frame(c, MCS_OP_PING, (uint64_t)i, items[i].len, -1), 0);
		} else {
			ck_assert_int_eq(mcs_conn_send_ref(c, src + off, items[i].len, ref_done, &t[i]), 0);
			off += items[i].len;
		}
	}
	ck_assert_uint_eq(mcs_conn_pending_bytes(c), total);
	/* done may be NULL */
	uint8_t tail[MCS_HDR_SIZE];
	raw_hdr(tail, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 99, 0);
	ck_assert_int_eq(mcs_conn_send_ref(c, tail, sizeof(tail), NULL, NULL), 0);
	total += sizeof(tail);

	struct fd_reader r = { .sock = sv[1], .expect = total };
	read_while_running(l, &r);

	/* the stream is the items, in order */
	const uint8_t *q = r.data;
	off = 0;
	for (int i = 0; i < N; i++) {
		if (items[i].kind == 'F') {
			ck_assert_uint_eq(get_le(q + 12, 8), (uint64_t)i);
			ck_assert_uint_eq(get_le(q + 20, 4), items[i].len);
			ck_assert(check_fill(q + MCS_HDR_SIZE, items[i].len, (uint64_t)i));
			q += MCS_HDR_SIZE + items[i].len;
		} else {
			ck_assert_msg(memcmp(q, src + off, items[i].len) == 0, "reference %d differs", i);
			q += items[i].len;
			off += items[i].len;
		}
	}
	ck_assert(memcmp(q, tail, sizeof(tail)) == 0);
	/* each reference done once, with 0, in order (once the kernel had
	 * the bytes: for SEND_ZC after the notification, which may come late) */
	int refs = 0;
	for (int i = 0; i < N; i++)
		refs += items[i].kind == 'R';
	struct sent_goal sg = { c, &seq, refs };
	run_until(l, all_sent, &sg);
	run_for(l, 2);
	int last = -1;
	for (int i = 0; i < N; i++) {
		if (items[i].kind != 'R')
			continue;
		ck_assert_int_eq(t[i].calls, 1);
		ck_assert_int_eq(t[i].err, 0);
		ck_assert_int_gt(t[i].seq, last);
		last = t[i].seq;
	}
	ck_assert_uint_eq(mcs_conn_pending_bytes(c), 0);
	ck_assert_int_eq(p.closes, 0);
	free(r.data);
	mcs_loop_free(l);
	ck_assert_int_eq(p.closes, 1);
	for (int i = 0; i < N; i++)
		ck_assert_int_eq(t[i].calls, items[i].kind == 'R');
	close(sv[1]);
	unmap_buf(src, src_len);
}
END_TEST

/* _i: transport. Sends start from the turn, and what was queued in a row
 * leaves in one SENDMSG: here small frames (coalesced into shared chunks)
 * and references alternate (an empty reference first: the gather stops
 * before it), the peer does not read at first (a small send buffer: the
 * gathered send stalls part way), and more frames are queued while it is
 * in flight, which must go to new entries, never into the last chunk the
 * kernel is still reading. The reader then gets every byte, in order. */
START_TEST(test_send_gather)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(_i, sv);
	int small = 4096;
	ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	struct peer p = { 0 };
	struct mcs_conn *c = add_peer(l, sv[0], &p);

	enum { ROUNDS = 6, FRAMES = 40, LATE = 300 };
	size_t ref_len[ROUNDS] = { 0, 256 * KiB, 1, 3 * MiB, 17, 512 * KiB };
	size_t src_len = 0;
	for (int i = 0; i < ROUNDS; i++)
		src_len += ref_len[i];
	uint8_t *src = map_buf(src_len);
	fill_fast(src, src_len, 5);
	size_t total = 0, off = 0;
	uint64_t id = 0;
	for (int i = 0; i < ROUNDS; i++) {
		for (int f = 0; f < FRAMES; f++, id++) {
			ck_assert_int_eq(send_frame(c, MCS_OP_PING, id, id % 50, -1), 0);
			total += MCS_HDR_SIZE + id % 50;
		}
		ck_assert_int_eq(mcs_conn_send_ref(c, src + off, ref_len[i], NULL, NULL), 0);
		off += ref_len[i];
		total += ref_len[i];
	}
	/* ends in a chunk of frames that the stalled send covers */
	for (int f = 0; f < FRAMES; f++, id++) {
		ck_assert_int_eq(send_frame(c, MCS_OP_PING, id, id % 50, -1), 0);
		total += MCS_HDR_SIZE + id % 50;
	}
	/* the gathered send goes out and stalls on the full socket */
	run_for(l, 20);
	ck_assert_uint_gt(mcs_conn_pending_bytes(c), 0);
	for (int f = 0; f < LATE; f++, id++) {
		ck_assert_int_eq(send_frame(c, MCS_OP_PING, id, id % 300, -1), 0);
		total += MCS_HDR_SIZE + id % 300;
	}

	struct fd_reader r = { .sock = sv[1], .expect = total };
	read_while_running(l, &r);

	const uint8_t *q = r.data;
	off = 0;
	id = 0;
	for (int i = 0; i < ROUNDS; i++) {
		for (int f = 0; f < FRAMES; f++, id++) {
			ck_assert_uint_eq(get_le(q + 12, 8), id);
			ck_assert_uint_eq(get_le(q + 20, 4), id % 50);
			ck_assert(check_fill(q + MCS_HDR_SIZE, id % 50, id));
			q += MCS_HDR_SIZE + id % 50;
		}
		ck_assert_msg(memcmp(q, src + off, ref_len[i]) == 0, "reference %d differs", i);
		q += ref_len[i];
		off += ref_len[i];
	}
	for (int f = 0; f < FRAMES; f++, id++) {
		ck_assert_uint_eq(get_le(q + 12, 8), id);
		ck_assert(check_fill(q + MCS_HDR_SIZE, id % 50, id));
		q += MCS_HDR_SIZE + id % 50;
	}
	for (int f = 0; f < LATE; f++, id++) {
		ck_assert_uint_eq(get_le(q + 12, 8), id);
		ck_assert_msg(check_fill(q + MCS_HDR_SIZE, id % 300, id), "late frame %d differs", f);
		q += MCS_HDR_SIZE + id % 300;
	}
	ck_assert_uint_eq((size_t)(q - r.data), total);
	struct sent_goal sg = { c, NULL, 0 };
	run_until(l, all_sent, &sg);
	ck_assert_int_eq(p.closes, 0);
	free(r.data);
	mcs_loop_free(l);
	close(sv[1]);
	unmap_buf(src, src_len);
}
END_TEST

/* _i: transport x (done only queues | done queues and closes). A reference
 * and a frame leave in one gathered send; the reference's done, run when
 * that send completes, queues another frame (and closes the conn): the peer
 * gets each byte once, in order (reference, frame 1, frame 2), frame 2
 * included when the close follows it at once. */
struct gdone {
	int calls, err;
	bool close;
};

static void gdone_fn(struct mcs_conn *c, int err, void *arg)
{
	struct gdone *g = arg;
	g->calls++;
	g->err = err;
	if (err == 0) {
		ck_assert_int_eq(send_frame(c, MCS_OP_PING, 2, 5, -1), 0);
		if (g->close)
			mcs_conn_close(c);
	}
}

START_TEST(test_send_done_queues)
{
	int transport = _i % T_COUNT;
	bool close_it = _i / T_COUNT;
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(transport, sv);
	struct peer p = { 0 };
	struct mcs_conn *c = add_peer(l, sv[0], &p);
	static uint8_t A[100];
	memset(A, 'A', sizeof(A));
	struct gdone g = { .close = close_it };
	ck_assert_int_eq(mcs_conn_send_ref(c, A, sizeof(A), gdone_fn, &g), 0);
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 1, 10, -1), 0);
	size_t want = sizeof(A) + MCS_HDR_SIZE + 10 + MCS_HDR_SIZE + 5;
	if (close_it) {
		run_until_count(l, &p.closes, 1);
	} else {
		struct sent_goal sg = { c, &g.calls, 1 };
		run_until(l, all_sent, &sg);
		run_for(l, 5);
		ck_assert_int_eq(p.closes, 0);
		ck_assert_uint_eq(mcs_conn_pending_bytes(c), 0);
	}
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.err, 0);
	uint8_t buf[4096];
	size_t got = 0;
	for (;;) {
		ssize_t k = recv(sv[1], buf + got, sizeof(buf) - got, MSG_DONTWAIT);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	ck_assert_uint_eq(got, want);
	ck_assert(memcmp(buf, A, sizeof(A)) == 0);
	const uint8_t *q = buf + sizeof(A);
	ck_assert_uint_eq(get_le(q + 12, 8), 1);
	ck_assert(check_fill(q + MCS_HDR_SIZE, 10, 1));
	q += MCS_HDR_SIZE + 10;
	ck_assert_uint_eq(get_le(q + 12, 8), 2);
	ck_assert(check_fill(q + MCS_HDR_SIZE, 5, 2));
	mcs_loop_free(l);
	close(sv[1]);
}
END_TEST

/* References stuck behind a peer that does not read, then the conn goes:
 * _i 0: unix, closed locally; 1: TCP, closed locally; 2: TCP with SEND_ZC,
 * closed locally; 3: TCP with SEND_ZC, the peer resets. Every done runs
 * once with err < 0, before on_close. */
START_TEST(test_send_ref_close)
{
	bool zc = _i >= 2;
	struct mcs_loop *l = new_loop_zc(zc ? 64 * KiB : 0);
	int sv[2];
	make_pair(_i == 0 ? T_UNIX : T_TCP, sv);
	struct peer p = { 0 };
	struct mcs_conn *c = mcs_conn_ref(add_peer(l, sv[0], &p));
	size_t big = 64 * MiB, small = 1 * MiB;
	uint8_t *src = map_buf(big + small);
	fill_fast(src, big + small, 5);
	int seq = 0;
	struct ref_track t1 = { .counter = &seq, .p = &p }, t2 = { .counter = &seq, .p = &p };
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 0, 10, -1), 0);
	ck_assert_int_eq(mcs_conn_send_ref(c, src, big, ref_done, &t1), 0);
	ck_assert_int_eq(mcs_conn_send_ref(c, src + big, small, ref_done, &t2), 0);
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 1, 10, -1), 0);

	run_for(l, 5);    /* the big send is submitted and stuck */
	ck_assert_int_eq(t1.calls + t2.calls, 0);
	ck_assert_uint_gt(mcs_conn_pending_bytes(c), small);
	if (_i == 3) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
		close(sv[1]);
	} else {
		mcs_conn_close(c);
	}
	run_until_count(l, &p.closes, 1);
	ck_assert_int_eq(t1.calls, 1);
	ck_assert_int_eq(t2.calls, 1);
	ck_assert_int_lt(t1.err, 0);
	ck_assert_int_lt(t2.err, 0);
	ck_assert_int_eq(t1.closes_at_done + t2.closes_at_done, 0);
	ck_assert_int_lt(t1.seq, t2.seq);
	if (_i == 3)
		ck_assert_msg(p.close_err == 0 || p.close_err == -ECONNRESET, "err %d", p.close_err);
	/* closed: refused at once, done never runs */
	struct ref_track t3 = { .counter = &seq };
	ck_assert_int_eq(mcs_conn_send_ref(c, src, 1, ref_done, &t3), -EPIPE);
	mcs_conn_unref(c);
	mcs_loop_free(l);
	ck_assert_int_eq(t1.calls + t2.calls + t3.calls, 2);
	if (_i != 3)
		close(sv[1]);
	unmap_buf(src, big + small);
}
END_TEST

static Suite *sendq_suite(void)
{
	Suite *s = suite_create("sendq");
	TCase *tc = tcase_create("frames");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_send_raw);
	tcase_add_test(tc, test_fd_passing);
	suite_add_tcase(s, tc);

	tc = tcase_create("send-ref");
	tcase_set_timeout(tc, 60);
	/* the iterations that send over TCP with SEND_ZC need a kernel that
	 * takes it; elsewhere they are skipped, and said to be */
	static char why[96];
	int zc = probe_send_zc();
	snprintf(why, sizeof(why), "the kernel refuses SEND_ZC on TCP (%s)", strerror(-zc));
	tcase_add_loop_test(tc, test_send_ref_order, 0, zc == 0 ? 4 : 3);
	if (zc < 0)
		ck_skip(__FILE__, "send-ref", "test_send_ref_order (SEND_ZC over TCP)", why);
	tcase_add_loop_test(tc, test_send_gather, 0, T_COUNT);
	tcase_add_loop_test(tc, test_send_done_queues, 0, 2 * T_COUNT);
	tcase_add_loop_test(tc, test_send_ref_close, 0, zc == 0 ? 4 : 2);
	if (zc < 0) {
		ck_skip(__FILE__, "send-ref", "test_send_ref_close (SEND_ZC, closed locally)", why);
		ck_skip(__FILE__, "send-ref", "test_send_ref_close (SEND_ZC, the peer resets)", why);
	}
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return loop_test_main(sendq_suite());
}
