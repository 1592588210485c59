/* SPDX-License-Identifier: MIT */
/*
 * What the unit tests of the io_uring loop share (see loop-fixture.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <liburing.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/unit/ck-skip.h"
#include "tests/unit/loop-fixture.h"

int loop_test_main(Suite *s)
{
	struct io_uring ring;
	int r = io_uring_queue_init(4, &ring, 0);
	if (r == -ENOSYS || r == -EPERM) {
		/* the TAP driver counts any non-zero exit as an error: when
		 * Check prints TAP to stdout, a skip plan and exit 0 */
		printf("1..0 # SKIP io_uring unavailable: %s\n", strerror(-r));
		const char *tap = getenv("CK_TAP_LOG_FILE_NAME");
		return tap && strcmp(tap, "-") == 0 ? 0 : 77;
	}
	if (r == 0)
		io_uring_queue_exit(&ring);

	return ck_run(s, CK_FORK) ? 1 : 0;
}

/* ---- the loop --------------------------------------------------------------- */

static struct mcs_loop *loop_with(const struct mcs_loop_opts *o)
{
	struct mcs_loop *l = NULL;
	int r = mcs_loop_new(o, &l);
	ck_assert_msg(r == 0, "mcs_loop_new: %s", strerror(-r));
	return l;
}

struct mcs_loop *new_loop(uint32_t max_body)
{
	return loop_with(&(struct mcs_loop_opts){ .size = sizeof(struct mcs_loop_opts), .max_body = max_body });
}

struct mcs_loop *new_loop_zc(uint32_t zc_threshold)
{
	return loop_with(&(struct mcs_loop_opts){ .size = sizeof(struct mcs_loop_opts), .zc_threshold = zc_threshold });
}

struct waiter {
	struct mcs_loop *l;
	pred_fn pred;
	void *arg;
};

static void wait_tick(struct mcs_timer *t, void *ud)
{
	struct waiter *w = ud;
	if (w->pred(w->arg))
		mcs_loop_exit(w->l, 0);
}

static void wait_deadline(struct mcs_timer *t, void *ud)
{
	mcs_loop_exit(ud, -ETIMEDOUT);
}

void run_until(struct mcs_loop *l, pred_fn pred, void *arg)
{
	struct waiter w = { l, pred, arg };
	struct mcs_timer *tick = NULL, *deadline = NULL;

	ck_assert_int_eq(mcs_loop_add_timer(l, 1, 1, wait_tick, &w, &tick), 0);
	ck_assert_int_eq(mcs_loop_add_timer(l, DEADLINE_MS, 0, wait_deadline, l, &deadline), 0);
	int r = mcs_loop_run(l);
	mcs_timer_free(tick);
	mcs_timer_free(deadline);
	ck_assert_msg(r == 0, "run_until: %s", mcs_status_text(r));
	ck_assert(pred(arg));
}

static bool flag_set(void *arg) { return *(bool *)arg; }
static void set_flag(struct mcs_timer *t, void *ud) { *(bool *)ud = true; }

void run_for(struct mcs_loop *l, uint64_t ms)
{
	bool done = false;
	ck_assert_int_eq(mcs_loop_add_timer(l, ms, 0, set_flag, &done, NULL), 0);
	run_until(l, flag_set, &done);
}

struct count_goal {
	const int *counter;
	int goal;
};
static bool count_reached(void *arg)
{
	const struct count_goal *g = arg;
	return *g->counter >= g->goal;
}

void run_until_count(struct mcs_loop *l, const int *counter, int goal)
{
	struct count_goal g = { counter, goal };
	run_until(l, count_reached, &g);
}

/* ---- sockets ---------------------------------------------------------------- */

void tcp_listener(int *ret_fd, struct sockaddr_in *ret_addr)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(fd, 64), 0);
	socklen_t len = sizeof(a);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*ret_fd = fd;
	*ret_addr = a;
}

int tcp_connect(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	/* Loopback connects complete from the backlog, nobody has to accept. */
	ck_assert_int_eq(connect(fd, (const struct sockaddr *)a, sizeof(*a)), 0);
	return fd;
}

void make_pair(int transport, int sv[2])
{
	if (transport == T_UNIX) {
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
		return;
	}
	int ls;
	struct sockaddr_in a;
	tcp_listener(&ls, &a);
	sv[0] = tcp_connect(&a);
	sv[1] = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_int_ge(sv[1], 0);
	close(ls);
}

void write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t k = write(fd, b, n);
		ck_assert_msg(k > 0, "write: %s", strerror(errno));
		b += k;
		n -= (size_t)k;
	}
}

/* Whether the kernel takes SEND_ZC on a connected TCP socket: 0, or why
 * not (a negative errno). A 1-byte probe on a pair of its own, before the
 * suite runs (outside any case: no Check assertion here). */
int probe_send_zc(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), cs = -1, as = -1, res = -errno;
	struct io_uring ring;
	bool ring_up = false;
	if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 1) < 0 ||
	    getsockname(ls, (struct sockaddr *)&a, &al) < 0 ||
	    (cs = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0 ||
	    connect(cs, (struct sockaddr *)&a, sizeof(a)) < 0 || (as = accept(ls, NULL, NULL)) < 0) {
		res = -errno;
		goto out;
	}
	if ((res = io_uring_queue_init(4, &ring, 0)) < 0)
		goto out;
	ring_up = true;
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send_zc(sqe, cs, "z", 1, MSG_NOSIGNAL, 0);
	if ((res = io_uring_submit(&ring)) != 1) {
		res = res < 0 ? res : -EIO;
		goto out;
	}
	res = 0;
	for (bool more = true; more;) {
		struct io_uring_cqe *cqe;
		int w = io_uring_wait_cqe(&ring, &cqe);
		if (w < 0) {
			res = w;
			break;
		}
		if (!(cqe->flags & IORING_CQE_F_NOTIF))
			res = cqe->res < 0 ? cqe->res : 0;
		more = (cqe->flags & IORING_CQE_F_MORE) != 0;
		io_uring_cqe_seen(&ring, cqe);
	}
out:
	if (ring_up)
		io_uring_queue_exit(&ring);
	if (as >= 0)
		close(as);
	if (cs >= 0)
		close(cs);
	if (ls >= 0)
		close(ls);
	return res;
}

/* ---- bytes and frames ------------------------------------------------------- */

static uint8_t pattern(uint64_t seed, size_t i)
{
	return (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(seed, i);
}

bool check_fill(const uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern(seed, i))
			return false;
	return true;
}

void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

void raw_hdr(uint8_t out[MCS_HDR_SIZE], uint32_t magic, uint8_t version, uint16_t opcode, uint64_t req_id,
	     uint32_t body_len)
{
	memset(out, 0, MCS_HDR_SIZE);
	put_le(out, magic, 4);
	out[4] = version;
	put_le(out + 6, opcode, 2);
	put_le(out + 12, req_id, 8);
	put_le(out + 20, body_len, 4);
}

uint8_t *map_buf(size_t n)
{
	void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(p != MAP_FAILED);
	return p;
}

void unmap_buf(uint8_t *p, size_t n)
{
	ck_assert_int_eq(munmap(p, n ? n : 1), 0);
}

void fill_fast(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = (seed + 1) * 0x9E3779B97F4A7C15ull;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v = x ^ (i * 0xff51afd7ed558ccdull);
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] = (uint8_t)(x ^ i);
}

uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* ---- a generic peer --------------------------------------------------------- */

static int peer_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *ud)
{
	struct peer *p = ud;

	ck_assert(!p->in_frame);
	p->in_frame = true;
	if (h->req_id != p->next_id)
		p->order_errors++;
	p->next_id = h->req_id + 1;
	if (p->lens && (h->req_id >= p->n_lens || p->lens[h->req_id] != h->body_len))
		p->content_errors++;
	if (!check_fill(body, h->body_len, h->req_id))
		p->content_errors++;
	p->frames++;
	if (p->echo) {
		struct mcs_hdr r = *h;
		r.flags |= MCS_F_RESPONSE;
		ck_assert_int_eq(mcs_conn_send(c, &r, body, h->body_len, -1), 0);
	}
	if (p->close_after && p->frames == p->close_after) {
		mcs_conn_close(c);
		ck_assert(mcs_conn_is_closed(c));
		struct mcs_hdr r = *h;
		p->send_after_close = mcs_conn_send(c, &r, NULL, 0, -1);
	}
	p->in_frame = false;
	return p->fail_with;
}

static void peer_close(struct mcs_conn *c, int err, void *ud)
{
	struct peer *p = ud;
	/* never re-entrantly from on_frame */
	ck_assert(!p->in_frame);
	p->closes++;
	p->close_err = err;
}

const struct mcs_conn_ops peer_ops = { .on_frame = peer_frame, .on_close = peer_close };

struct mcs_conn *add_peer(struct mcs_loop *l, int fd, struct peer *p)
{
	struct mcs_conn *c = NULL;
	ck_assert_int_eq(mcs_loop_add_conn(l, fd, &peer_ops, p, &c), 0);
	ck_assert_ptr_nonnull(c);
	ck_assert(!mcs_conn_is_closed(c));
	ck_assert_ptr_eq(mcs_conn_userdata(c), p);
	ck_assert_ptr_eq(mcs_conn_loop(c), l);
	ck_assert_int_eq(mcs_conn_fd(c), fd);
	p->c = c;
	return c;
}

int send_frame(struct mcs_conn *c, uint16_t opcode, uint64_t req_id, size_t len, int fd)
{
	uint8_t *body = len ? malloc(len) : NULL;
	ck_assert(len == 0 || body);
	fill(body, len, req_id);
	struct mcs_hdr h = { .opcode = opcode, .req_id = req_id };
	int r = mcs_conn_send(c, &h, body, len, fd);
	free(body);
	return r;
}

/* ---- send_ref outcomes ------------------------------------------------------ */

void ref_done(struct mcs_conn *c, int err, void *arg)
{
	struct ref_track *t = arg;
	t->calls++;
	t->err = err;
	t->seq = (*t->counter)++;
	t->closes_at_done = t->p ? t->p->closes : 0;
}
