/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the io_uring event loop (uring/loop.c).
 *
 * Both ends of a stream are usually loop connections (socketpair or TCP on
 * 127.0.0.1), so the loop drives both sides; a "raw" end is a plain socket
 * the test writes to or reads from itself. Waiting is never by sleeping:
 * run_until() runs the loop until a predicate holds (checked every
 * millisecond by a timer), with a generous deadline that fails the test.
 *
 * The suite is skipped when io_uring is unavailable (disabled by sysctl or
 * seccomp): exit 77, or a TAP "1..0 # SKIP" plan and exit 0 when Check
 * prints TAP to stdout, since the TAP driver counts any non-zero exit as
 * an error.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "mcstore.h"
#include "uring/loop.h"

#define KiB (1u << 10)
#define MiB (1u << 20)
#define DEADLINE_MS 20000

/* ---- helpers -------------------------------------------------------------- */

static struct mcs_loop *new_loop(uint32_t max_body)
{
	struct mcs_loop_opts o = { .size = sizeof(o), .max_body = max_body };
	struct mcs_loop *l = NULL;
	int r = mcs_loop_new(&o, &l);
	ck_assert_msg(r == 0, "mcs_loop_new: %s", strerror(-r));
	return l;
}

typedef bool (*pred_fn)(void *arg);

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

/* Run the loop until pred(arg) holds; fail the test after DEADLINE_MS. */
static void run_until(struct mcs_loop *l, pred_fn pred, void *arg)
{
	struct waiter w = { l, pred, arg };
	struct mcs_timer *tick = NULL, *deadline = NULL;

	ck_assert_int_eq(mcs_loop_add_timer(l, 1, 1, wait_tick, &w, &tick), 0);
	ck_assert_int_eq(mcs_loop_add_timer(l, DEADLINE_MS, 0, wait_deadline, l, &deadline), 0);
	int r = mcs_loop_run(l);
	mcs_timer_free(tick);
	mcs_timer_free(deadline);
	ck_assert_msg(r == 0, "run_until: %s", mcs_strerror(r));
	ck_assert(pred(arg));
}

static bool flag_set(void *arg) { return *(bool *)arg; }
static void set_flag(struct mcs_timer *t, void *ud) { *(bool *)ud = true; }

/* Let the loop run for ms milliseconds (only to give a wrong extra
 * callback the chance to show up, never to wait for a result). */
static void run_for(struct mcs_loop *l, uint64_t ms)
{
	bool done = false;
	ck_assert_int_eq(mcs_loop_add_timer(l, ms, 0, set_flag, &done, NULL), 0);
	run_until(l, flag_set, &done);
}

static void tcp_listener(int *ret_fd, struct sockaddr_in *ret_addr)
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

static int tcp_connect(const struct sockaddr_in *a)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	/* Loopback connects complete from the backlog, nobody has to accept. */
	ck_assert_int_eq(connect(fd, (const struct sockaddr *)a, sizeof(*a)), 0);
	return fd;
}

enum { T_UNIX, T_TCP, T_COUNT };

/* A connected stream pair of the given transport. */
static void make_pair(int transport, int sv[2])
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

static uint8_t pattern(uint64_t seed, size_t i)
{
	return (uint8_t)(seed * 131 + i * 7 + (i >> 9));
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = pattern(seed, i);
}

static bool check_fill(const uint8_t *p, size_t n, uint64_t seed)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != pattern(seed, i))
			return false;
	return true;
}

static void put_le(uint8_t *p, uint64_t v, int n)
{
	for (int i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Hand-made header, so bad ones can be written too. */
static void raw_hdr(uint8_t out[MCS_HDR_SIZE], uint32_t magic, uint8_t version, uint16_t opcode, uint64_t req_id,
		    uint32_t body_len)
{
	memset(out, 0, MCS_HDR_SIZE);
	put_le(out, magic, 4);
	out[4] = version;
	put_le(out + 6, opcode, 2);
	put_le(out + 12, req_id, 8);
	put_le(out + 20, body_len, 4);
}

static void write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t k = write(fd, b, n);
		ck_assert_msg(k > 0, "write: %s", strerror(errno));
		b += k;
		n -= (size_t)k;
	}
}

/* ---- a generic peer: counts, checks order and content, may echo ---------- */

struct peer {
	struct mcs_conn *c;
	int frames;
	int closes;
	int close_err;
	uint64_t next_id;         /* req_id expected next */
	int order_errors;
	int content_errors;
	bool echo;                /* send each frame back as a response */
	bool in_frame;
	int close_after;          /* mcs_conn_close(self) after this many frames */
	int fail_with;            /* return this from on_frame (after close_after logic) */
	size_t *lens;             /* expected body lengths, indexed by req_id */
	size_t n_lens;
	int send_after_close;     /* result of a send tried after closing self */
};

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

static const struct mcs_conn_ops peer_ops = { peer_frame, peer_close };

static struct mcs_conn *add_peer(struct mcs_loop *l, int fd, struct peer *p)
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

static int send_frame(struct mcs_conn *c, uint16_t opcode, uint64_t req_id, size_t len, int fd)
{
	uint8_t *body = len ? malloc(len) : NULL;
	ck_assert(len == 0 || body);
	fill(body, len, req_id);
	struct mcs_hdr h = { .opcode = opcode, .req_id = req_id };
	int r = mcs_conn_send(c, &h, body, len, fd);
	free(body);
	return r;
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
static void run_until_count(struct mcs_loop *l, const int *counter, int goal)
{
	struct count_goal g = { counter, goal };
	run_until(l, count_reached, &g);
}

/* ---- frames --------------------------------------------------------------- */

static const size_t echo_sizes[] = {
	0, 1, 2, 23, 24, 25, 100, 64 * KiB - 24, 64 * KiB, 64 * KiB + 1, 1 * MiB + 3, 8 * MiB, 0, 1,
};

START_TEST(test_echo_sizes)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(_i, sv);
	size_t lens[MCS_ARRAY_SIZE(echo_sizes)];
	memcpy(lens, echo_sizes, sizeof(lens));
	struct peer cl = { .lens = lens, .n_lens = MCS_ARRAY_SIZE(lens) };
	struct peer sv_p = { .echo = true, .lens = lens, .n_lens = MCS_ARRAY_SIZE(lens) };
	struct mcs_conn *c = add_peer(l, sv[0], &cl);
	add_peer(l, sv[1], &sv_p);

	/* All queued before the loop runs: pipelined, mixed with coalescing. */
	size_t total = 0;
	for (size_t i = 0; i < MCS_ARRAY_SIZE(echo_sizes); i++) {
		ck_assert_int_eq(send_frame(c, MCS_OP_PING, i, echo_sizes[i], -1), 0);
		total += MCS_HDR_SIZE + echo_sizes[i];
	}
	ck_assert_uint_eq(mcs_conn_pending_bytes(c), total);

	run_until_count(l, &cl.frames, (int)MCS_ARRAY_SIZE(echo_sizes));
	ck_assert_int_eq(sv_p.frames, (int)MCS_ARRAY_SIZE(echo_sizes));
	ck_assert_int_eq(cl.order_errors + sv_p.order_errors, 0);
	ck_assert_int_eq(cl.content_errors + sv_p.content_errors, 0);
	ck_assert_uint_eq(mcs_conn_pending_bytes(c), 0);
	ck_assert_int_eq(cl.closes + sv_p.closes, 0);
	mcs_loop_free(l);
	ck_assert_int_eq(cl.closes, 1);
	ck_assert_int_eq(sv_p.closes, 1);
}
END_TEST

START_TEST(test_pipelined_10k)
{
	enum { N = 10000 };
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(_i, sv);
	struct peer cl = { 0 }, srv = { .echo = true };
	struct mcs_conn *c = add_peer(l, sv[0], &cl);
	add_peer(l, sv[1], &srv);

	for (uint64_t i = 0; i < N; i++)
		ck_assert_int_eq(send_frame(c, MCS_OP_PING, i, (size_t)(i * 37 % 300), -1), 0);
	run_until_count(l, &cl.frames, N);
	ck_assert_int_eq(srv.frames, N);
	ck_assert_int_eq(srv.order_errors, 0);
	ck_assert_int_eq(cl.order_errors, 0);
	ck_assert_int_eq(srv.content_errors + cl.content_errors, 0);
	ck_assert_uint_eq(mcs_conn_pending_bytes(c), 0);
	mcs_loop_free(l);
}
END_TEST

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

/* The peer writes two frames one byte per loop tick. */
struct dribble {
	int fd;
	uint8_t data[2 * MCS_HDR_SIZE + 40];
	size_t pos;
	const struct peer *p;
	int ahead;                /* frames delivered before their last byte was written */
	bool done;
};

static void dribble_tick(struct mcs_timer *t, void *ud)
{
	struct dribble *d = ud;
	/* Frames complete after byte 24 (empty body) and after the last one. */
	int complete = (d->pos >= MCS_HDR_SIZE) + (d->pos >= sizeof(d->data));
	if (d->p->frames > complete)
		d->ahead++;
	if (d->pos == sizeof(d->data)) {
		d->done = true;
		mcs_timer_free(t);     /* free from inside its own callback */
		return;
	}
	ck_assert_int_eq(write(d->fd, d->data + d->pos, 1), 1);
	d->pos++;
}

START_TEST(test_byte_by_byte)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(_i, sv);
	struct peer p = { 0 };
	add_peer(l, sv[0], &p);

	struct dribble d = { .fd = sv[1], .p = &p };
	raw_hdr(d.data, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 0, 0);
	raw_hdr(d.data + MCS_HDR_SIZE, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 1, 40);
	fill(d.data + 2 * MCS_HDR_SIZE, 40, 1);
	ck_assert_int_eq(mcs_loop_add_timer(l, 1, 1, dribble_tick, &d, NULL), 0);

	run_until_count(l, &p.frames, 2);
	ck_assert_int_eq(d.ahead, 0);
	ck_assert_int_eq(p.order_errors + p.content_errors, 0);
	ck_assert_uint_eq(d.pos, sizeof(d.data));
	mcs_loop_free(l);
	close(sv[1]);
}
END_TEST

/* _i: 0 bad magic, 1 bad version, 2 body_len > max_body */
START_TEST(test_bad_header)
{
	static const int expect[] = { -EPROTO, -EPROTONOSUPPORT, -EMSGSIZE };
	struct mcs_loop *l = new_loop(1024);
	int sv[2];
	make_pair(T_UNIX, sv);
	struct peer p = { 0 };
	add_peer(l, sv[0], &p);

	/* a valid frame at the limit first, then the bad header */
	uint8_t buf[2 * MCS_HDR_SIZE + 1024];
	raw_hdr(buf, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 0, 1024);
	fill(buf + MCS_HDR_SIZE, 1024, 0);
	uint8_t *bad = buf + MCS_HDR_SIZE + 1024;
	raw_hdr(bad, _i == 0 ? 0x3153434eu : MCS_PROTO_MAGIC, _i == 1 ? MCS_PROTO_VERSION + 1 : MCS_PROTO_VERSION,
		MCS_OP_PING, 1, _i == 2 ? 1025 : 0);
	write_all(sv[1], buf, sizeof(buf));

	run_until_count(l, &p.closes, 1);
	ck_assert_int_eq(p.frames, 1);
	ck_assert_int_eq(p.close_err, expect[_i]);
	/* the loop closed its end: the peer reads EOF */
	char c;
	ck_assert_int_eq(read(sv[1], &c, 1), 0);
	run_for(l, 5);
	ck_assert_int_eq(p.closes, 1);
	mcs_loop_free(l);
	ck_assert_int_eq(p.closes, 1);
	close(sv[1]);
}
END_TEST

START_TEST(test_peer_eof)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(_i, sv);
	struct peer p = { 0 };
	add_peer(l, sv[0], &p);

	/* a last frame then EOF: the frame is delivered, then on_close(0) */
	uint8_t buf[MCS_HDR_SIZE + 5];
	raw_hdr(buf, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 0, 5);
	fill(buf + MCS_HDR_SIZE, 5, 0);
	write_all(sv[1], buf, sizeof(buf));
	close(sv[1]);

	run_until_count(l, &p.closes, 1);
	ck_assert_int_eq(p.frames, 1);
	ck_assert_int_eq(p.close_err, 0);
	run_for(l, 5);
	ck_assert_int_eq(p.closes, 1);
	mcs_loop_free(l);
	ck_assert_int_eq(p.closes, 1);
}
END_TEST

START_TEST(test_close_in_on_frame)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(T_UNIX, sv);
	struct peer p = { .close_after = 1, .send_after_close = 1 };
	add_peer(l, sv[0], &p);

	/* three frames in one write: only the first is delivered */
	uint8_t buf[3 * MCS_HDR_SIZE];
	for (int i = 0; i < 3; i++)
		raw_hdr(buf + i * MCS_HDR_SIZE, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, (uint64_t)i, 0);
	write_all(sv[1], buf, sizeof(buf));

	run_until_count(l, &p.closes, 1);
	ck_assert_int_eq(p.frames, 1);
	ck_assert_int_eq(p.close_err, 0);
	ck_assert_int_eq(p.send_after_close, -EPIPE);
	run_for(l, 5);
	ck_assert_int_eq(p.closes, 1);
	mcs_loop_free(l);
	ck_assert_int_eq(p.closes, 1);
	close(sv[1]);
}
END_TEST

START_TEST(test_on_frame_error)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(T_UNIX, sv);
	struct peer p = { .fail_with = -EPROTO };
	add_peer(l, sv[0], &p);

	uint8_t buf[2 * MCS_HDR_SIZE];
	raw_hdr(buf, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 0, 0);
	raw_hdr(buf + MCS_HDR_SIZE, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 1, 0);
	write_all(sv[1], buf, sizeof(buf));

	run_until_count(l, &p.closes, 1);
	ck_assert_int_eq(p.frames, 1);
	ck_assert_int_eq(p.close_err, -EPROTO);
	mcs_loop_free(l);
	close(sv[1]);
}
END_TEST

/* on_frame of one conn closes another and creates a new pair. */
struct juggler {
	struct mcs_loop *l;
	struct mcs_conn *victim;
	struct peer new_client, new_server;
	int frames;
};

static int juggle_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *ud)
{
	struct juggler *j = ud;
	j->frames++;
	mcs_conn_close(j->victim);
	int sv[2];
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	j->new_server.echo = true;
	struct mcs_conn *nc = add_peer(j->l, sv[0], &j->new_client);
	add_peer(j->l, sv[1], &j->new_server);
	ck_assert_int_eq(send_frame(nc, MCS_OP_PING, 0, 77, -1), 0);
	return 0;
}

static void juggle_close(struct mcs_conn *c, int err, void *ud) {}

static const struct mcs_conn_ops juggle_ops = { juggle_frame, juggle_close };

START_TEST(test_callbacks_touch_other_conns)
{
	struct mcs_loop *l = new_loop(0);
	int a[2], b[2];
	make_pair(T_UNIX, a);
	make_pair(T_UNIX, b);
	struct juggler j = { .l = l };
	struct peer victim = { 0 };
	ck_assert_int_eq(mcs_loop_add_conn(l, a[0], &juggle_ops, &j, NULL), 0);
	j.victim = add_peer(l, b[0], &victim);

	uint8_t hdr[MCS_HDR_SIZE];
	raw_hdr(hdr, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 0, 0);
	write_all(a[1], hdr, sizeof(hdr));

	run_until_count(l, &j.new_client.frames, 1);
	ck_assert_int_eq(j.frames, 1);
	ck_assert_int_eq(victim.closes, 1);
	ck_assert_int_eq(victim.close_err, 0);
	ck_assert_int_eq(j.new_client.content_errors, 0);
	mcs_loop_free(l);
	ck_assert_int_eq(j.new_client.closes, 1);
	ck_assert_int_eq(j.new_server.closes, 1);
	close(a[1]);
	close(b[1]);
}
END_TEST

START_TEST(test_send_closed_epipe)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(T_UNIX, sv);
	struct peer p = { 0 };
	struct mcs_conn *c = mcs_conn_ref(add_peer(l, sv[0], &p));

	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 0, 10, -1), 0);
	mcs_conn_close(c);
	mcs_conn_close(c);     /* idempotent */
	ck_assert(mcs_conn_is_closed(c));
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 1, 10, -1), -EPIPE);
	ck_assert_int_eq(mcs_conn_send_raw(c, "x", 1), -EPIPE);
	ck_assert_int_eq(p.closes, 0);    /* deferred, never from mcs_conn_close */

	run_until_count(l, &p.closes, 1);
	ck_assert_int_eq(p.close_err, 0);
	/* still a valid object thanks to our reference */
	ck_assert(mcs_conn_is_closed(c));
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 2, 10, -1), -EPIPE);
	ck_assert_int_eq(mcs_conn_fd(c), -1);
	ck_assert_ptr_null(mcs_conn_unref(c));
	mcs_loop_free(l);
	ck_assert_int_eq(p.closes, 1);
	close(sv[1]);
}
END_TEST

/* A big send stuck on a peer that does not read is cancelled by close. */
START_TEST(test_close_with_send_in_flight)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(_i, sv);
	struct peer p = { 0 };
	struct mcs_conn *c = add_peer(l, sv[0], &p);
	size_t total = MCS_HDR_SIZE + 8 * MiB;
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 0, 8 * MiB, -1), 0);
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 1, 10, -1), 0);
	ck_assert_uint_eq(mcs_conn_pending_bytes(c), total + MCS_HDR_SIZE + 10);

	run_for(l, 2);     /* the send is submitted and stuck */
	mcs_conn_close(c);
	run_until_count(l, &p.closes, 1);
	ck_assert_int_eq(p.close_err, 0);
	mcs_loop_free(l);
	close(sv[1]);
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

/* ---- timers --------------------------------------------------------------- */

struct tcount {
	int n;
	int free_at;              /* mcs_timer_free(self) at this count */
	struct mcs_timer *victim; /* freed from this callback */
};

static void tcount_cb(struct mcs_timer *t, void *ud)
{
	struct tcount *c = ud;
	c->n++;
	if (c->free_at && c->n == c->free_at)
		mcs_timer_free(t);
	if (c->victim) {
		mcs_timer_free(c->victim);
		c->victim = NULL;
	}
}

START_TEST(test_timer_oneshot)
{
	struct mcs_loop *l = new_loop(0);
	struct tcount a = { 0 }, b = { 0 }, z = { 0 };
	struct mcs_timer *tb = NULL;
	ck_assert_int_eq(mcs_loop_add_timer(l, 1, 0, tcount_cb, &a, NULL), 0);   /* auto-freed */
	ck_assert_int_eq(mcs_loop_add_timer(l, 2, 0, tcount_cb, &b, &tb), 0);
	ck_assert_int_eq(mcs_loop_add_timer(l, 0, 0, tcount_cb, &z, NULL), 0);   /* asap */
	run_until_count(l, &b.n, 1);
	run_for(l, 20);
	ck_assert_int_eq(a.n, 1);
	ck_assert_int_eq(b.n, 1);
	ck_assert_int_eq(z.n, 1);
	mcs_timer_free(tb);
	mcs_timer_free(NULL);
	mcs_loop_free(l);
}
END_TEST

/* --busy-poll: frames still flow (no completion is lost between the
 * polling and the sleeping wait), and a timer 50 ms away, far past the
 * polling time, still fires (the loop goes to sleep and wakes up). */
START_TEST(test_busy_poll)
{
	enum { N = 2000 };
	struct mcs_loop_opts o = { .size = sizeof(o), .busy_poll_us = 200 };
	struct mcs_loop *l = NULL;
	ck_assert_int_eq(mcs_loop_new(&o, &l), 0);
	int sv[2];
	make_pair(T_TCP, sv);
	struct peer cl = { 0 }, srv = { .echo = true };
	struct mcs_conn *c = add_peer(l, sv[0], &cl);
	add_peer(l, sv[1], &srv);
	for (uint64_t i = 0; i < N; i++)
		ck_assert_int_eq(send_frame(c, MCS_OP_PING, i, (size_t)(i * 53 % 5000), -1), 0);
	run_until_count(l, &cl.frames, N);
	ck_assert_int_eq(srv.frames, N);
	ck_assert_int_eq(srv.order_errors + cl.order_errors, 0);
	ck_assert_int_eq(srv.content_errors + cl.content_errors, 0);
	struct tcount t = { 0 };
	uint64_t t0 = mcs_now_ns();
	ck_assert_int_eq(mcs_loop_add_timer(l, 50, 0, tcount_cb, &t, NULL), 0);
	run_until_count(l, &t.n, 1);
	ck_assert_uint_ge(mcs_now_ns() - t0, 50ull * 1000000);
	/* one frame after the loop slept: served all the same */
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, N, 100, -1), 0);
	run_until_count(l, &cl.frames, N + 1);
	mcs_loop_free(l);
}
END_TEST

START_TEST(test_timer_repeat)
{
	struct mcs_loop *l = new_loop(0);
	struct tcount a = { .free_at = 5 };
	uint64_t t0 = mcs_now_ms();
	ck_assert_int_eq(mcs_loop_add_timer(l, 1, 2, tcount_cb, &a, NULL), 0);
	run_until_count(l, &a.n, 5);
	/* 1 + 4 * 2 ms at least: repeats are not early */
	ck_assert_uint_ge(mcs_now_ms() - t0, 9);
	run_for(l, 20);
	ck_assert_int_eq(a.n, 5);
	mcs_loop_free(l);
}
END_TEST

START_TEST(test_timer_free_armed)
{
	struct mcs_loop *l = new_loop(0);
	struct tcount never1 = { 0 }, never2 = { 0 }, never3 = { 0 }, killer = { 0 };
	struct mcs_timer *t1, *t2, *t3;

	/* freed before it was ever submitted */
	ck_assert_int_eq(mcs_loop_add_timer(l, 5, 0, tcount_cb, &never1, &t1), 0);
	mcs_timer_free(t1);
	/* armed in the kernel, then freed */
	ck_assert_int_eq(mcs_loop_add_timer(l, 10000, 0, tcount_cb, &never2, &t2), 0);
	/* a repeating timer freed by another timer's callback (10 s away: the
	 * killer, 2 ms away, runs well before on a loaded machine too) */
	ck_assert_int_eq(mcs_loop_add_timer(l, 10000, 10000, tcount_cb, &never3, &t3), 0);
	killer.victim = t3;
	ck_assert_int_eq(mcs_loop_add_timer(l, 2, 0, tcount_cb, &killer, NULL), 0);
	run_until_count(l, &killer.n, 1);
	mcs_timer_free(t2);
	run_for(l, 50);
	ck_assert_int_eq(never1.n + never2.n + never3.n, 0);

	/* still armed when the loop goes away */
	ck_assert_int_eq(mcs_loop_add_timer(l, 10000, 0, tcount_cb, &never1, NULL), 0);
	ck_assert_int_eq(mcs_loop_add_timer(l, 10000, 10, tcount_cb, &never1, &t1), 0);
	uint64_t t0 = mcs_now_ms();
	mcs_loop_free(l);
	/* removed, not waited for (the bound is far from any real timing) */
	ck_assert_uint_lt(mcs_now_ms() - t0, 5000);
	ck_assert_int_eq(never1.n, 0);
}
END_TEST

static void exit_cb(struct mcs_timer *t, void *ud)
{
	mcs_loop_exit(ud, 42);
}

START_TEST(test_run_exit_code)
{
	struct mcs_loop *l = new_loop(0);
	ck_assert_int_eq(mcs_loop_add_timer(l, 1, 0, exit_cb, l, NULL), 0);
	ck_assert_int_eq(mcs_loop_run(l), 42);
	/* nothing left that could ever complete */
	ck_assert_int_eq(mcs_loop_run(l), -EDEADLK);
	mcs_loop_exit(l, 7);
	ck_assert_int_eq(mcs_loop_run(l), 7);
	mcs_loop_free(l);
	ck_assert_ptr_null(mcs_loop_free(NULL));
}
END_TEST

/* ---- signals -------------------------------------------------------------- */

struct sigcount {
	int n;
	int last;
};

static void sig_cb(struct mcs_loop *l, int signo, void *ud)
{
	struct sigcount *s = ud;
	s->n++;
	s->last = signo;
}

START_TEST(test_signals)
{
	struct mcs_loop *l = new_loop(0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	struct sigcount s = { 0 };
	ck_assert_int_eq(mcs_loop_add_signals(l, &set, sig_cb, &s), 0);

	ck_assert_int_eq(raise(SIGUSR1), 0);
	run_until_count(l, &s.n, 1);
	ck_assert_int_eq(s.last, SIGUSR1);
	ck_assert_int_eq(raise(SIGUSR2), 0);
	run_until_count(l, &s.n, 2);
	ck_assert_int_eq(s.last, SIGUSR2);
	ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);     /* process-directed too */
	run_until_count(l, &s.n, 3);
	ck_assert_int_eq(s.last, SIGUSR1);
	mcs_loop_free(l);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
END_TEST

/* ---- listening ------------------------------------------------------------ */

struct acceptor {
	int accepted;
	int refuse_first;          /* refuse this many */
	int refused;
	struct peer servers[16];
	const bool *must_be_set;   /* if set, *must_be_set must hold at accept time */
	int early;
	int errors;                /* accepts that failed for lack of resources */
	int last_error;
};

static int acceptor_fn(struct mcs_loop *l, int fd, const struct mcs_conn_ops **ret_ops, void **ret_userdata,
		       void *ud)
{
	struct acceptor *a = ud;
	if (fd < 0) {
		/* the loop says it pauses: nothing to adopt */
		a->last_error = fd;
		a->errors++;
		return fd;
	}
	if (a->must_be_set && !*a->must_be_set)
		a->early++;
	if (a->refused < a->refuse_first) {
		a->refused++;
		return -EPERM;
	}
	ck_assert_int_lt(a->accepted, 16);
	struct peer *p = &a->servers[a->accepted++];
	p->echo = true;
	*ret_ops = &peer_ops;
	*ret_userdata = p;
	return 0;
}

struct peers_goal {
	const struct peer *p;
	int n;
	int frames;
};
static bool peers_done(void *arg)
{
	const struct peers_goal *g = arg;
	int sum = 0;
	for (int i = 0; i < g->n; i++)
		sum += g->p[i].frames;
	return sum >= g->frames;
}

START_TEST(test_listen_tcp)
{
	enum { N = 8, FRAMES = 3 };
	struct mcs_loop *l = new_loop(0);
	int ls;
	struct sockaddr_in addr;
	tcp_listener(&ls, &addr);
	struct acceptor a = { 0 };
	ck_assert_int_eq(mcs_loop_listen(l, ls, acceptor_fn, &a), 0);

	struct peer clients[N];
	memset(clients, 0, sizeof(clients));
	for (int i = 0; i < N; i++) {
		struct mcs_conn *c = add_peer(l, tcp_connect(&addr), &clients[i]);
		for (int k = 0; k < FRAMES; k++)
			ck_assert_int_eq(send_frame(c, MCS_OP_PING, (uint64_t)k, (size_t)(i * 100 + k), -1), 0);
	}
	struct peers_goal g = { clients, N, N * FRAMES };
	run_until(l, peers_done, &g);
	ck_assert_int_eq(a.accepted, N);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(clients[i].order_errors + clients[i].content_errors, 0);
		ck_assert_int_eq(a.servers[i].frames, FRAMES);
	}
	mcs_loop_free(l);
	for (int i = 0; i < N; i++) {
		ck_assert_int_eq(clients[i].closes, 1);
		ck_assert_int_eq(a.servers[i].closes, 1);
	}
}
END_TEST

START_TEST(test_listen_refuse)
{
	struct mcs_loop *l = new_loop(0);
	int ls;
	struct sockaddr_in addr;
	tcp_listener(&ls, &addr);
	struct acceptor a = { .refuse_first = 1 };
	ck_assert_int_eq(mcs_loop_listen(l, ls, acceptor_fn, &a), 0);

	struct peer refused = { 0 }, ok = { 0 };
	add_peer(l, tcp_connect(&addr), &refused);
	run_until_count(l, &refused.closes, 1);
	ck_assert_msg(refused.close_err == 0 || refused.close_err == -ECONNRESET, "err %d", refused.close_err);
	struct mcs_conn *c = add_peer(l, tcp_connect(&addr), &ok);
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 0, 3, -1), 0);
	run_until_count(l, &ok.frames, 1);
	ck_assert_int_eq(a.accepted, 1);
	mcs_loop_free(l);
}
END_TEST

struct fd_filler {
	int fds[512];
	int n;
	struct rlimit old;
	bool released;
};

static void release_fds(struct mcs_timer *t, void *ud)
{
	struct fd_filler *f = ud;
	for (int i = 0; i < f->n; i++)
		close(f->fds[i]);
	f->n = 0;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &f->old), 0);
	f->released = true;
}

/* Out of descriptors: accepting pauses, then resumes on its own. */
START_TEST(test_listen_emfile)
{
	struct mcs_loop *l = new_loop(0);
	int ls;
	struct sockaddr_in addr;
	tcp_listener(&ls, &addr);
	struct fd_filler f = { .n = 0 };
	struct acceptor a = { .must_be_set = &f.released };
	ck_assert_int_eq(mcs_loop_listen(l, ls, acceptor_fn, &a), 0);
	int cl = tcp_connect(&addr);

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &f.old), 0);
	struct rlimit lim = f.old;
	if (lim.rlim_cur > 256)
		lim.rlim_cur = 256;
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &lim), 0);
	for (;;) {
		int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			ck_assert_int_eq(errno, EMFILE);
			break;
		}
		ck_assert_int_lt(f.n, (int)MCS_ARRAY_SIZE(f.fds));
		f.fds[f.n++] = fd;
	}
	/* No descriptor can be accepted before this timer frees some. */
	ck_assert_int_eq(mcs_loop_add_timer(l, 30, 0, release_fds, &f, NULL), 0);
	run_until_count(l, &a.accepted, 1);
	ck_assert(f.released);
	ck_assert_int_eq(a.early, 0);
	/* and the owner heard why accepting paused */
	ck_assert_int_ge(a.errors, 1);
	ck_assert_int_eq(a.last_error, -EMFILE);
	mcs_loop_free(l);
	close(cl);
}
END_TEST

/* ---- teardown ------------------------------------------------------------- */

START_TEST(test_free_with_live_conns)
{
	struct mcs_loop *l = new_loop(0);
	struct peer p[8];
	memset(p, 0, sizeof(p));
	int raw[2];
	for (int i = 0; i < 3; i++) {
		int sv[2];
		make_pair(i == 1 ? T_TCP : T_UNIX, sv);
		add_peer(l, sv[0], &p[2 * i]);
		add_peer(l, sv[1], &p[2 * i + 1]);
	}
	/* one conn with a send stuck on a peer that does not read */
	make_pair(T_UNIX, raw);
	struct mcs_conn *stuck = mcs_conn_ref(add_peer(l, raw[0], &p[6]));
	ck_assert_int_eq(send_frame(stuck, MCS_OP_PING, 0, 4 * MiB, -1), 0);
	/* and everything else the loop owns */
	int ls;
	struct sockaddr_in addr;
	tcp_listener(&ls, &addr);
	struct acceptor a = { 0 };
	ck_assert_int_eq(mcs_loop_listen(l, ls, acceptor_fn, &a), 0);
	struct tcount never = { 0 };
	ck_assert_int_eq(mcs_loop_add_timer(l, 10000, 10000, tcount_cb, &never, NULL), 0);
	sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	struct sigcount s = { 0 };
	ck_assert_int_eq(mcs_loop_add_signals(l, &set, sig_cb, &s), 0);
	run_for(l, 5);
	ck_assert_uint_gt(mcs_conn_pending_bytes(stuck), 0);

	uint64_t t0 = mcs_now_ms();
	mcs_loop_free(l);
	ck_assert_uint_lt(mcs_now_ms() - t0, 5000);
	for (int i = 0; i < 7; i++) {
		ck_assert_int_eq(p[i].closes, 1);
		ck_assert_int_eq(p[i].close_err, 0);
	}
	ck_assert_int_eq(never.n, 0);
	ck_assert(mcs_conn_is_closed(stuck));
	ck_assert_int_eq(send_frame(stuck, MCS_OP_PING, 1, 1, -1), -EPIPE);
	mcs_conn_unref(stuck);
	mcs_conn_unref(NULL);
	close(raw[1]);
	pthread_sigmask(SIG_UNBLOCK, &set, NULL);
}
END_TEST

START_TEST(test_bad_args)
{
	struct mcs_loop *l = new_loop(0);
	static const struct mcs_conn_ops no_frame = { NULL, NULL };
	ck_assert_int_eq(mcs_loop_add_conn(l, -1, &peer_ops, NULL, NULL), -EINVAL);
	int sv[2];
	make_pair(T_UNIX, sv);
	ck_assert_int_eq(mcs_loop_add_conn(l, sv[0], &no_frame, NULL, NULL), -EINVAL);
	/* the fd was taken (closed) even though adoption failed */
	ck_assert_int_eq(fcntl(sv[0], F_GETFD), -1);
	ck_assert_int_eq(mcs_loop_add_timer(l, 1, 0, NULL, NULL, NULL), -EINVAL);
	ck_assert_int_eq(mcs_loop_listen(l, -1, acceptor_fn, NULL), -EINVAL);
	mcs_loop_free(l);
	close(sv[1]);
}
END_TEST

/* ---- bulk data: helpers --------------------------------------------------- */

/* Shared anonymous memory, like the segments payloads really land in. */
static uint8_t *map_buf(size_t n)
{
	void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ck_assert(p != MAP_FAILED);
	return p;
}

static void unmap_buf(uint8_t *p, size_t n)
{
	ck_assert_int_eq(munmap(p, n ? n : 1), 0);
}

/* A position-dependent pattern, a word at a time (fill() is too slow for
 * hundreds of MiB under the sanitizers). */
static void fill_fast(uint8_t *p, size_t n, uint64_t seed)
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

static uint64_t get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;
	for (int i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

static void set_nodelay(int fd)
{
	int one = 1;
	ck_assert_int_eq(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
}

/* Writes data to a raw socket from a thread; the ranges in slow[] one byte
 * per write() (so the loop sees them trickle in), the rest in big writes. */
struct feeder {
	int fd;
	const uint8_t *data;
	size_t len;
	size_t slow[2][2];
	int n_slow;
	int err;
	atomic_bool done;
};

static void *feeder_main(void *arg)
{
	struct feeder *f = arg;
	size_t pos = 0;
	while (pos < f->len && !f->err) {
		size_t end = f->len;
		bool slow = false;
		for (int i = 0; i < f->n_slow; i++) {
			if (pos >= f->slow[i][0] && pos < f->slow[i][1])
				slow = true;
			else if (f->slow[i][0] > pos && f->slow[i][0] < end)
				end = f->slow[i][0];
		}
		if (slow)
			end = pos + 1;
		ssize_t k = write(f->fd, f->data + pos, end - pos);
		if (k <= 0)
			f->err = k < 0 ? errno : EPIPE;
		else
			pos += (size_t)k;
	}
	atomic_store(&f->done, true);
	return NULL;
}

/* A conn that lands every DATA_WRITE payload (length: the frame's 8-byte
 * body) in dest, one after the other, and checks the PING frames. */
struct sink {
	struct mcs_conn *c;
	uint8_t *dest;
	size_t dest_off;
	int frames, pings, dones, done_errs, closes;
	int last_done_err, close_err;
	int frames_at_done;        /* frames seen when done last ran */
	bool pending;              /* recv_into called, done not yet */
	bool try_second;           /* call recv_into twice in one on_frame */
	int second_call;
	bool close_in_frame;       /* close, then try recv_into */
	int after_close_call;
	int closed_while_pending;  /* on_close ran before done */
	int content_errors;
	bool in_frame;
};

static void sink_done(struct mcs_conn *c, int err, void *arg)
{
	struct sink *s = arg;
	ck_assert(!s->in_frame);
	ck_assert(s->pending);
	s->pending = false;
	s->dones++;
	s->frames_at_done = s->frames;
	s->last_done_err = err;
	if (err < 0)
		s->done_errs++;
}

static int sink_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *ud)
{
	struct sink *s = ud;
	ck_assert(!s->pending);    /* no frame is parsed while a payload is due */
	s->in_frame = true;
	s->frames++;
	if (h->opcode == MCS_OP_DATA_WRITE) {
		ck_assert_uint_eq(h->body_len, 8);
		size_t len = (size_t)get_le(body, 8);
		if (s->close_in_frame) {
			mcs_conn_close(c);
			s->after_close_call = mcs_conn_recv_into(c, s->dest, len, sink_done, s);
		} else {
			ck_assert_int_eq(mcs_conn_recv_into(c, s->dest + s->dest_off, len, sink_done, s), 0);
			s->pending = true;
			s->dest_off += len;
			if (s->try_second)
				s->second_call = mcs_conn_recv_into(c, s->dest, 1, sink_done, s);
		}
	} else {
		s->pings++;
		if (!check_fill(body, h->body_len, h->req_id))
			s->content_errors++;
	}
	s->in_frame = false;
	return 0;
}

static void sink_close(struct mcs_conn *c, int err, void *ud)
{
	struct sink *s = ud;
	ck_assert(!s->in_frame);
	s->closes++;
	s->close_err = err;
	if (s->pending)
		s->closed_while_pending++;
}

static const struct mcs_conn_ops sink_ops = { sink_frame, sink_close };

/* DATA_WRITE header announcing len payload bytes; returns its size. */
static size_t put_write_hdr(uint8_t *p, uint64_t req_id, uint64_t len)
{
	raw_hdr(p, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_DATA_WRITE, req_id, 8);
	put_le(p + MCS_HDR_SIZE, len, 8);
	return MCS_HDR_SIZE + 8;
}

struct sink_goal {
	const struct sink *s;
	int pings, dones;
};
static bool sink_reached(void *arg)
{
	const struct sink_goal *g = arg;
	return g->s->pings >= g->pings && g->s->dones >= g->dones;
}

/* ---- bulk data: recv_into ------------------------------------------------- */

static const size_t ri_sizes[] = { 1, 100 * KiB, 16 * MiB, 64 * MiB, 0 };
#define RI_CASES ((int)MCS_ARRAY_SIZE(ri_sizes) * T_COUNT * 2)

/* _i: size x transport x (one write | trickled). The peer sends a
 * DATA_WRITE header, the payload and a PING frame; the payload must land
 * in dest, byte-exact and nothing past it, and the PING must follow. */
START_TEST(test_recv_into)
{
	size_t len = ri_sizes[_i % (int)MCS_ARRAY_SIZE(ri_sizes)];
	int transport = (_i / (int)MCS_ARRAY_SIZE(ri_sizes)) % T_COUNT;
	bool trickle = _i / ((int)MCS_ARRAY_SIZE(ri_sizes) * T_COUNT);

	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(transport, sv);
	if (transport == T_TCP)
		set_nodelay(sv[1]);
	enum { GUARD = 4096, PING_LEN = 40 };
	struct sink s = { .dest = map_buf(len + GUARD) };
	memset(s.dest, 0xa5, len + GUARD);
	ck_assert_int_eq(mcs_loop_add_conn(l, sv[0], &sink_ops, &s, &s.c), 0);

	size_t total = MCS_HDR_SIZE + 8 + len + MCS_HDR_SIZE + PING_LEN;
	uint8_t *wire = map_buf(total);
	size_t h = put_write_hdr(wire, 0, len);
	fill_fast(wire + h, len, len);
	raw_hdr(wire + h + len, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 1, PING_LEN);
	fill(wire + h + len + MCS_HDR_SIZE, PING_LEN, 1);

	struct feeder f = { .fd = sv[1], .data = wire, .len = total };
	if (trickle) {
		/* header and the payload's first bytes, then its last bytes
		 * and the PING, one byte at a time */
		size_t a = h + MCS_MIN(len, (size_t)2000);
		size_t b = MCS_MAX(a, h + len - MCS_MIN(len, (size_t)100));
		f.slow[0][0] = 0;
		f.slow[0][1] = a;
		f.slow[1][0] = b;
		f.slow[1][1] = total;
		f.n_slow = 2;
	}
	pthread_t th;
	ck_assert_int_eq(pthread_create(&th, NULL, feeder_main, &f), 0);
	struct sink_goal g = { &s, 1, 1 };
	run_until(l, sink_reached, &g);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(f.err, 0);

	ck_assert_int_eq(s.dones, 1);
	ck_assert_int_eq(s.last_done_err, 0);
	ck_assert_int_eq(s.frames_at_done, 1);       /* before the PING was parsed */
	ck_assert_int_eq(s.frames, 2);
	ck_assert_int_eq(s.content_errors, 0);
	ck_assert(memcmp(s.dest, wire + h, len) == 0);
	for (size_t i = 0; i < GUARD; i++)
		ck_assert_uint_eq(s.dest[len + i], 0xa5);
	run_for(l, 2);
	ck_assert_int_eq(s.dones, 1);
	ck_assert_int_eq(s.closes, 0);
	mcs_loop_free(l);
	ck_assert_int_eq(s.closes, 1);
	ck_assert_int_eq(s.dones, 1);
	close(sv[1]);
	unmap_buf(wire, total);
	unmap_buf(s.dest, len + GUARD);
}
END_TEST

static bool sink_pending(void *arg) { return ((const struct sink *)arg)->pending; }
static bool sink_closed(void *arg) { return ((const struct sink *)arg)->closes > 0; }

/* A payload cut short: _i 0/1: the peer closes (unix/TCP), 2: the TCP peer
 * resets, 3: closed locally while the payload is being received. done(err
 * < 0) runs once, before on_close. */
START_TEST(test_recv_into_fail)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(_i == 0 ? T_UNIX : T_TCP, sv);
	size_t len = 128 * KiB;    /* half of it fits in a unix socket buffer */
	struct sink s = { .dest = map_buf(len) };
	ck_assert_int_eq(mcs_loop_add_conn(l, sv[0], &sink_ops, &s, &s.c), 0);

	uint8_t *wire = malloc(MCS_HDR_SIZE + 8 + len);
	ck_assert_ptr_nonnull(wire);
	size_t h = put_write_hdr(wire, 0, len);
	fill_fast(wire + h, len, 3);
	write_all(sv[1], wire, h + len / 2);
	run_until(l, sink_pending, &s);

	if (_i == 3) {
		mcs_conn_close(s.c);
	} else if (_i == 2) {
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)), 0);
		close(sv[1]);
	} else {
		close(sv[1]);
	}
	run_until(l, sink_closed, &s);
	ck_assert_int_eq(s.dones, 1);
	ck_assert_int_eq(s.done_errs, 1);
	ck_assert_int_lt(s.last_done_err, 0);
	ck_assert_int_eq(s.closed_while_pending, 0);
	/* A reset may read as EOF: the error can be consumed by the kernel
	 * attempt that io_uring reports as the partial MSG_WAITALL count. */
	if (_i == 2)
		ck_assert_msg(s.close_err == 0 || s.close_err == -ECONNRESET, "err %d", s.close_err);
	else
		ck_assert_int_eq(s.close_err, 0);
	/* whatever arrived before the end did land */
	ck_assert(memcmp(s.dest, wire + h, len / 2) == 0);
	mcs_loop_free(l);
	ck_assert_int_eq(s.dones, 1);
	ck_assert_int_eq(s.closes, 1);
	if (_i == 3)
		close(sv[1]);
	free(wire);
	unmap_buf(s.dest, len);
}
END_TEST

START_TEST(test_recv_into_busy)
{
	struct mcs_loop *l = new_loop(0);
	int sv[2];
	make_pair(T_UNIX, sv);
	uint8_t dest[16];
	struct sink s = { .dest = dest, .try_second = true, .second_call = 1 };
	ck_assert_int_eq(mcs_loop_add_conn(l, sv[0], &sink_ops, &s, &s.c), 0);
	/* only from inside on_frame */
	ck_assert_int_eq(mcs_conn_recv_into(s.c, dest, 1, sink_done, &s), -EINVAL);

	uint8_t wire[MCS_HDR_SIZE + 8 + 10 + MCS_HDR_SIZE + 3];
	size_t h = put_write_hdr(wire, 0, 10);
	fill(wire + h, 10, 0);
	raw_hdr(wire + h + 10, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 1, 3);
	fill(wire + h + 10 + MCS_HDR_SIZE, 3, 1);
	write_all(sv[1], wire, sizeof(wire));
	struct sink_goal g = { &s, 1, 1 };
	run_until(l, sink_reached, &g);
	ck_assert_int_eq(s.second_call, -EBUSY);
	ck_assert_int_eq(s.dones, 1);
	ck_assert_int_eq(s.last_done_err, 0);
	ck_assert(check_fill(dest, 10, 0));

	/* on a conn closed inside on_frame: -EPIPE, no done */
	s.close_in_frame = true;
	s.after_close_call = 1;
	write_all(sv[1], wire, h);
	run_until(l, sink_closed, &s);
	ck_assert_int_eq(s.after_close_call, -EPIPE);
	ck_assert_int_eq(s.dones, 1);
	mcs_loop_free(l);
	close(sv[1]);
}
END_TEST

/* ---- bulk data: send_ref -------------------------------------------------- */

struct ref_track {
	int calls;
	int err;
	int seq;                  /* order of completion */
	int closes_at_done;       /* on_close calls seen when done ran */
	int *counter;
	const struct peer *p;
};

static void ref_done(struct mcs_conn *c, int err, void *arg)
{
	struct ref_track *t = arg;
	t->calls++;
	t->err = err;
	t->seq = (*t->counter)++;
	t->closes_at_done = t->p ? t->p->closes : 0;
}

/* Whether the kernel takes SEND_ZC on a connected TCP socket (a 1-byte
 * probe on a pair of its own). */
static int probe_send_zc(void)
{
	int sv[2];
	make_pair(T_TCP, sv);
	struct io_uring ring;
	ck_assert_int_eq(io_uring_queue_init(4, &ring, 0), 0);
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);
	io_uring_prep_send_zc(sqe, sv[0], "z", 1, MSG_NOSIGNAL, 0);
	ck_assert_int_eq(io_uring_submit(&ring), 1);
	int res = 0;
	for (bool more = true; more;) {
		struct io_uring_cqe *cqe;
		ck_assert_int_eq(io_uring_wait_cqe(&ring, &cqe), 0);
		if (!(cqe->flags & IORING_CQE_F_NOTIF))
			res = cqe->res;
		more = (cqe->flags & IORING_CQE_F_MORE) != 0;
		io_uring_cqe_seen(&ring, cqe);
	}
	io_uring_queue_exit(&ring);
	close(sv[0]);
	close(sv[1]);
	return res;
}

static struct mcs_loop *new_loop_zc(uint32_t zc_threshold)
{
	struct mcs_loop_opts o = { .size = sizeof(o), .zc_threshold = zc_threshold };
	struct mcs_loop *l = NULL;
	int r = mcs_loop_new(&o, &l);
	ck_assert_msg(r == 0, "mcs_loop_new: %s", strerror(-r));
	return l;
}

/* _i: transport x (plain | zc_threshold 64 KiB). Frames and references,
 * interleaved and all queued at once, reach a raw reader byte-exact and in
 * call order; every done runs once, with 0, in queue order. On unix
 * sockets the kernel refuses SEND_ZC: the conn falls back to SEND. */
START_TEST(test_send_ref_order)
{
	int transport = _i % T_COUNT;
	bool zc = _i / T_COUNT;
	if (zc && transport == T_TCP) {
		int r = probe_send_zc();
		if (r < 0) {
			printf("# SKIP send_ref SEND_ZC over TCP: the kernel refuses SEND_ZC (%s)\n", strerror(-r));
			return;
		}
	}
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
	if (zc) {
		int r = probe_send_zc();
		if (r < 0) {
			printf("# SKIP send_ref SEND_ZC close: the kernel refuses SEND_ZC (%s)\n", strerror(-r));
			return;
		}
	}
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

/* ---- bulk data: a node-to-node round trip ---------------------------------- */

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

static const struct mcs_conn_ops node_a_ops = { node_a_frame, node_close };
static const struct mcs_conn_ops node_b_ops = { node_b_frame, node_close };

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

/* ---- connect -------------------------------------------------------------- */

/* A listening unix socket on a fresh abstract address. */
static int unix_listener(struct sockaddr_un *ret_addr, socklen_t *ret_len, int backlog)
{
	static int seq;
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int n = snprintf(a.sun_path + 1, sizeof(a.sun_path) - 1, "mcs-test-loop-%d-%d", (int)getpid(), seq++);
	*ret_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	*ret_addr = a;
	if (backlog < 0)
		return -1;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, *ret_len), 0);
	ck_assert_int_eq(listen(fd, backlog), 0);
	return fd;
}

/* Frames and a reference queued before the connection is up go out once it
 * is, in order; replies come back (echo). */
START_TEST(test_connect)
{
	struct mcs_loop *l = new_loop(0);
	struct sockaddr_storage ss;
	socklen_t len;
	int ls;
	if (_i == T_TCP) {
		struct sockaddr_in a;
		tcp_listener(&ls, &a);
		memcpy(&ss, &a, sizeof(a));
		len = sizeof(a);
	} else {
		struct sockaddr_un a;
		ls = unix_listener(&a, &len, 16);
		memcpy(&ss, &a, len);
	}
	struct acceptor acc = { 0 };
	ck_assert_int_eq(mcs_loop_listen(l, ls, acceptor_fn, &acc), 0);

	struct peer p = { 0 };
	struct mcs_conn *c = NULL;
	ck_assert_int_eq(mcs_loop_connect(l, (struct sockaddr *)&ss, len, 5000, &peer_ops, &p, &c), 0);
	ck_assert_ptr_nonnull(c);
	ck_assert(!mcs_conn_is_closed(c));
	ck_assert_ptr_eq(mcs_conn_userdata(c), &p);
	if (_i == T_TCP) {
		int v = 0;
		socklen_t vl = sizeof(v);
		ck_assert_int_eq(getsockopt(mcs_conn_fd(c), IPPROTO_TCP, TCP_NODELAY, &v, &vl), 0);
		ck_assert_int_ne(v, 0);
	}
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 0, 0, -1), 0);
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 1, 100, -1), 0);
	/* a whole frame sent by reference */
	uint8_t ref[MCS_HDR_SIZE + 300];
	raw_hdr(ref, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 2, 300);
	fill(ref + MCS_HDR_SIZE, 300, 2);
	int seq = 0;
	struct ref_track t = { .counter = &seq };
	ck_assert_int_eq(mcs_conn_send_ref(c, ref, sizeof(ref), ref_done, &t), 0);
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 3, 1 * MiB, -1), 0);
	ck_assert_int_eq(t.calls, 0);

	run_until_count(l, &p.frames, 4);
	ck_assert_int_eq(p.order_errors + p.content_errors, 0);
	ck_assert_int_eq(acc.accepted, 1);
	ck_assert_int_eq(acc.servers[0].frames, 4);
	ck_assert_int_eq(t.calls, 1);
	ck_assert_int_eq(t.err, 0);
	ck_assert_int_eq(p.closes, 0);
	/* the timeout is gone with the connect: nothing fires later */
	mcs_loop_free(l);
	ck_assert_int_eq(p.closes, 1);
	ck_assert_int_eq(p.close_err, 0);
}
END_TEST

/* Nobody listens: on_close(-ECONNREFUSED); what was queued reports the
 * error first. */
START_TEST(test_connect_refused)
{
	struct mcs_loop *l = new_loop(0);
	struct sockaddr_storage ss;
	socklen_t len;
	int hold = -1;
	if (_i == T_TCP) {
		/* a port that is ours but not listening */
		hold = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		ck_assert_int_eq(bind(hold, (struct sockaddr *)&a, sizeof(a)), 0);
		len = sizeof(a);
		ck_assert_int_eq(getsockname(hold, (struct sockaddr *)&a, &len), 0);
		memcpy(&ss, &a, sizeof(a));
	} else {
		struct sockaddr_un a;
		unix_listener(&a, &len, -1);
		memcpy(&ss, &a, len);
	}
	struct peer p = { 0 };
	struct mcs_conn *c = NULL;
	ck_assert_int_eq(mcs_loop_connect(l, (struct sockaddr *)&ss, len, 5000, &peer_ops, &p, &c), 0);
	int seq = 0;
	struct ref_track t = { .counter = &seq, .p = &p };
	ck_assert_int_eq(send_frame(c, MCS_OP_PING, 0, 10, -1), 0);
	ck_assert_int_eq(mcs_conn_send_ref(c, "abc", 3, ref_done, &t), 0);
	run_until_count(l, &p.closes, 1);
	ck_assert_int_eq(p.close_err, -ECONNREFUSED);
	ck_assert_int_eq(t.calls, 1);
	ck_assert_int_eq(t.err, -ECONNREFUSED);
	ck_assert_int_eq(t.closes_at_done, 0);
	ck_assert_int_eq(p.frames, 0);
	ck_assert_int_eq(mcs_loop_connect(l, NULL, 0, 0, &peer_ops, &p, NULL), -EINVAL);
	mcs_loop_free(l);
	ck_assert_int_eq(p.closes, 1);
	if (hold >= 0)
		close(hold);
}
END_TEST

static bool acceptq_full(int ls)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	ck_assert_int_eq(getsockopt(ls, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
	/* for a listener: unacked = accept queue length, sacked = backlog */
	return ti.tcpi_unacked > ti.tcpi_sacked;
}

/*
 * A TCP listener with backlog 0 that never accepts, its accept queue
 * filled by one connection: Linux drops further SYNs (retried only after
 * 1 s), so a connect with a 50 ms limit times out: on_close(-ETIMEDOUT).
 * Also: a connect without limit closed locally (on_close(0)), and one
 * still pending when the loop is freed.
 */
START_TEST(test_connect_timeout)
{
	struct mcs_loop *l = new_loop(0);
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(ls, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(bind(ls, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(ls, 0), 0);
	socklen_t alen = sizeof(a);
	ck_assert_int_eq(getsockname(ls, (struct sockaddr *)&a, &alen), 0);
	int filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(filler, 0);
	int r = connect(filler, (struct sockaddr *)&a, sizeof(a));
	ck_assert(r == 0 || errno == EINPROGRESS);
	/* the handshake completes in softirq context: wait for it (bounded) */
	uint64_t t0 = mcs_now_ms();
	while (!acceptq_full(ls)) {
		ck_assert_uint_lt(mcs_now_ms() - t0, DEADLINE_MS);
		sched_yield();
	}

	struct peer p = { 0 }, q = { 0 }, z = { 0 };
	struct mcs_conn *c = NULL, *cq = NULL;
	ck_assert_int_eq(mcs_loop_connect(l, (struct sockaddr *)&a, sizeof(a), 50, &peer_ops, &p, &c), 0);
	ck_assert_int_eq(mcs_loop_connect(l, (struct sockaddr *)&a, sizeof(a), 0, &peer_ops, &q, &cq), 0);
	ck_assert_int_eq(mcs_loop_connect(l, (struct sockaddr *)&a, sizeof(a), 60000, &peer_ops, &z, NULL), 0);
	int seq = 0;
	struct ref_track t = { .counter = &seq, .p = &p };
	ck_assert_int_eq(mcs_conn_send_ref(c, "abc", 3, ref_done, &t), 0);
	uint64_t start = mcs_now_ms();
	run_until_count(l, &p.closes, 1);
	ck_assert_int_eq(p.close_err, -ETIMEDOUT);
	ck_assert_uint_ge(mcs_now_ms() - start, 40);
	ck_assert_int_eq(t.calls, 1);
	ck_assert_int_eq(t.err, -ETIMEDOUT);
	ck_assert_int_eq(t.closes_at_done, 0);

	/* no limit: still connecting; closing it cancels the connect */
	ck_assert(!mcs_conn_is_closed(cq));
	ck_assert_int_eq(q.closes, 0);
	mcs_conn_close(cq);
	run_until_count(l, &q.closes, 1);
	ck_assert_int_eq(q.close_err, 0);
	ck_assert_int_eq(z.closes, 0);
	mcs_loop_free(l);
	ck_assert_int_eq(z.closes, 1);
	ck_assert_int_eq(z.close_err, 0);
	ck_assert_int_eq(p.closes + q.closes, 2);
	close(filler);
	close(ls);
}
END_TEST

static Suite *loop_suite(void)
{
	Suite *s = suite_create("loop");
	TCase *tc = tcase_create("frames");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_echo_sizes, 0, T_COUNT);
	tcase_add_loop_test(tc, test_pipelined_10k, 0, T_COUNT);
	tcase_add_test(tc, test_busy_poll);
	tcase_add_test(tc, test_send_raw);
	tcase_add_loop_test(tc, test_byte_by_byte, 0, T_COUNT);
	tcase_add_loop_test(tc, test_bad_header, 0, 3);
	tcase_add_loop_test(tc, test_peer_eof, 0, T_COUNT);
	tcase_add_test(tc, test_close_in_on_frame);
	tcase_add_test(tc, test_on_frame_error);
	tcase_add_test(tc, test_callbacks_touch_other_conns);
	tcase_add_test(tc, test_send_closed_epipe);
	tcase_add_loop_test(tc, test_close_with_send_in_flight, 0, T_COUNT);
	tcase_add_test(tc, test_fd_passing);
	suite_add_tcase(s, tc);

	tc = tcase_create("timers-signals");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_timer_oneshot);
	tcase_add_test(tc, test_timer_repeat);
	tcase_add_test(tc, test_timer_free_armed);
	tcase_add_test(tc, test_run_exit_code);
	tcase_add_test(tc, test_signals);
	suite_add_tcase(s, tc);

	tc = tcase_create("listen-teardown");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_listen_tcp);
	tcase_add_test(tc, test_listen_refuse);
	tcase_add_test(tc, test_listen_emfile);
	tcase_add_test(tc, test_free_with_live_conns);
	tcase_add_test(tc, test_bad_args);
	suite_add_tcase(s, tc);

	tc = tcase_create("bulk");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_recv_into, 0, RI_CASES);
	tcase_add_loop_test(tc, test_recv_into_fail, 0, 4);
	tcase_add_test(tc, test_recv_into_busy);
	tcase_add_loop_test(tc, test_send_ref_order, 0, 4);
	tcase_add_loop_test(tc, test_send_gather, 0, T_COUNT);
	tcase_add_loop_test(tc, test_send_done_queues, 0, 2 * T_COUNT);
	tcase_add_loop_test(tc, test_send_ref_close, 0, 4);
	tcase_add_loop_test(tc, test_node_round_trip, 0, 2);
	suite_add_tcase(s, tc);

	tc = tcase_create("connect");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_connect, 0, T_COUNT);
	tcase_add_loop_test(tc, test_connect_refused, 0, T_COUNT);
	tcase_add_test(tc, test_connect_timeout);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	struct io_uring ring;
	int r = io_uring_queue_init(4, &ring, 0);
	if (r == -ENOSYS || r == -EPERM) {
		printf("1..0 # SKIP io_uring unavailable: %s\n", strerror(-r));
		const char *tap = getenv("CK_TAP_LOG_FILE_NAME");
		return tap && strcmp(tap, "-") == 0 ? 0 : 77;
	}
	if (r == 0)
		io_uring_queue_exit(&ring);

	SRunner *sr = srunner_create(loop_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
