/* SPDX-License-Identifier: MIT */
/*
 * mcstored's PUSH against a hostile peer (daemon/data.c; issue 14, finding
 * 3): the peer answers DATA_WRITE at once without reading the payload. The
 * transfer, and with it the client's buffer, must not end before the
 * payload's send is done: the client reuses (or frees) its buffer as soon
 * as the PUSH is answered, and the peer must still receive the original
 * bytes, never what the buffer holds afterwards. A peer that answers and
 * hangs up must make the PUSH fail, not succeed; one that answers and
 * never reads is dropped after --data-timeout-ms like one that does not
 * answer, and the PUSH fails.
 *
 * The peer is a plain socket the test reads itself, with a small receive
 * buffer, so the payload (one 4 MiB chunk) cannot all be in the kernel
 * when the answer arrives. The daemon's side is data.c itself, built into
 * this test, on a loop of its own.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon/data.h"
#include "tests/unit/loop-fixture.h"
#include "xfer/xfer.h"

#define PAYLOAD MCS_XFER_CHUNK /* one chunk, one connection */

enum { REUSE, FREE, HANG_UP, STALL, N_MODES };

struct fx {
	struct mcs_loop *l;
	struct node_opts o;
	struct mcs_segment seg;
	struct node_data d;
	struct cbuf *buf;
	int mode;
	int lfd, pfd;              /* the hostile peer: listener, accepted */
	uint8_t req[MCS_XFER_REQ_MAX];
	size_t req_len;
	struct mcs_hdr req_h;
	uint8_t *got;              /* payload bytes the peer received */
	size_t got_len;
	bool eof;
	int done_calls, done_err;
};

/* The client is told: it reuses its buffer at once, or frees it. */
static void on_done(void *owner, uint64_t req_id, uint16_t opcode, int err)
{
	struct fx *f = owner;
	f->done_calls++;
	f->done_err = err;
	ck_assert_uint_eq(req_id, 7);
	ck_assert_uint_eq(opcode, MCS_OP_PUSH);
	memset(f->buf->base, 0x5a, f->buf->size); /* another client's secret */
	if (f->mode == FREE)
		f->buf = cbuf_unref(f->buf);
}

/* The peer accepted the connection and read the whole DATA_WRITE frame. */
static bool peer_has_request(void *arg)
{
	struct fx *f = arg;
	if (f->pfd < 0) {
		f->pfd = accept4(f->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (f->pfd < 0)
			return false;
	}
	size_t want = MCS_HDR_SIZE;
	if (f->req_len >= MCS_HDR_SIZE) {
		ck_assert_int_eq(mcs_hdr_decode(f->req, MCS_XFER_REQ_MAX, &f->req_h), 0);
		want += f->req_h.body_len;
	}
	if (f->req_len < want) {
		ssize_t n = recv(f->pfd, f->req + f->req_len, want - f->req_len, 0);
		if (n > 0)
			f->req_len += (size_t)n;
		return false;
	}
	return f->req_len >= MCS_HDR_SIZE + f->req_h.body_len && f->req_len > MCS_HDR_SIZE;
}

/* The daemon took the answer (the chunk left its FIFO), or told the client. */
static bool answer_taken(void *arg)
{
	struct fx *f = arg;
	struct mcs_xfer_link *lk = f->d.pools ? f->d.pools->links[0] : NULL;
	return f->done_calls > 0 || (lk && !lk->head);
}

/* The peer reads the payload at last: until all of it, or the end. */
static bool peer_drained(void *arg)
{
	struct fx *f = arg;
	while (f->got_len < PAYLOAD && !f->eof) {
		ssize_t n = recv(f->pfd, f->got + f->got_len, PAYLOAD - f->got_len, 0);
		if (n > 0)
			f->got_len += (size_t)n;
		else if (n == 0 || errno != EAGAIN)
			f->eof = true;
		else
			return false;
	}
	return true;
}

static bool told(void *arg)
{
	return ((struct fx *)arg)->done_calls > 0;
}

START_TEST(test_push_answered_early)
{
	struct fx f = { .mode = _i, .pfd = -1 };
	f.l = new_loop(1 << 20);
	bool fb;
	ck_assert_int_eq(mcs_segment_create("self", 1 << 20, MCS_SEG_NORMAL, false, &f.seg, &fb), 0);
	f.o.segment_name = "self-0";
	f.o.data_timeout_ms = f.mode == STALL ? 200 : 60000;
	f.o.data_listen = "127.0.0.1";
	ck_assert_int_eq(node_data_start(&f.d, f.l, &f.o, &f.seg), 0);
	ck_assert_int_eq(cbuf_new(&f.d, PAYLOAD, &f.buf), 0);
	fill_fast(f.buf->base, PAYLOAD, 1);
	f.got = malloc(PAYLOAD);
	ck_assert_ptr_nonnull(f.got);

	/* the peer reads little at a time: a small window */
	struct sockaddr_in a;
	tcp_listener(&f.lfd, &a);
	int small = 4096;
	ck_assert_int_eq(setsockopt(f.lfd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	ck_assert_int_eq(fcntl(f.lfd, F_SETFL, O_NONBLOCK), 0);
	char ep[64];
	snprintf(ep, sizeof(ep), "127.0.0.1:%u", ntohs(a.sin_port));
	struct mcs_handle hd = { .segment = mcs_str_c("peer-0"), .node = mcs_str_c("peer"),
				 .endpoint = mcs_str_c(ep), .offset = 0, .len = PAYLOAD };
	struct mcs_transfer_req q = { .buf_id = f.buf->id, .n_handles = 1, .handles = &hd };
	ck_assert_int_eq(node_data_transfer(&f.d, MCS_OP_PUSH, 7, &q, f.buf, on_done, &f), 0);

	/* it answers OK at once, without reading the payload */
	run_until(f.l, peer_has_request, &f);
	ck_assert_uint_eq(f.req_h.opcode, MCS_OP_DATA_WRITE);
	struct mcs_hdr rh = { .magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .opcode = MCS_OP_DATA_WRITE,
			      .flags = MCS_F_RESPONSE, .req_id = f.req_h.req_id };
	uint8_t rb[MCS_HDR_SIZE];
	mcs_hdr_encode(&rh, rb);
	ck_assert_int_eq(write(f.pfd, rb, sizeof(rb)), (ssize_t)sizeof(rb));
	run_until(f.l, answer_taken, &f);

	if (f.mode == HANG_UP || f.mode == STALL) {
		/* and hangs up, unread bytes and all (a reset), or just
		 * never reads */
		if (f.mode == HANG_UP) {
			close(f.pfd);
			f.pfd = -1;
		}
		run_until(f.l, told, &f);
		ck_assert_int_eq(f.done_calls, 1);
		ck_assert_msg(f.done_err < 0, "a PUSH whose payload never left succeeded");
	} else {
		run_until(f.l, peer_drained, &f);
		run_until(f.l, told, &f);
		ck_assert_int_eq(f.done_calls, 1);
		ck_assert_int_eq(f.done_err, 0);
		ck_assert_uint_eq(f.got_len, PAYLOAD);
		uint8_t *want = malloc(PAYLOAD);
		ck_assert_ptr_nonnull(want);
		fill_fast(want, PAYLOAD, 1);
		ck_assert_msg(memcmp(f.got, want, PAYLOAD) == 0,
			      "the peer received bytes written into the buffer after the PUSH ended");
		free(want);
	}
	/* the transfer is gone: it held its buffer no longer than its sends */
	ck_assert(mcs_list_empty(&f.d.transfers));

	if (f.pfd >= 0)
		close(f.pfd);
	close(f.lfd);
	cbuf_unref(f.buf);
	free(f.got);
	mcs_loop_free(f.l);
	node_data_free(&f.d);
	mcs_segment_close(&f.seg);
}
END_TEST

static Suite *data_push_suite(void)
{
	Suite *s = suite_create("data-push");
	TCase *tc = tcase_create("hostile-peer");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_push_answered_early, 0, N_MODES);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return loop_test_main(data_push_suite());
}
