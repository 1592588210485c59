/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the loop's ring core (uring/ring.c, timer.c, signal.c,
 * listener.c, stream.c): timers, busy polling, signals, listeners (also
 * out of descriptors), tearing a loaded loop down, and connecting (with a
 * time limit, refused). The fixtures are loop-fixture.h's.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/unit/loop-fixture.h"

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

/* The end of a pipe: the watch fires once when the last write end is
 * closed, never before; a watch that never fired is cancelled by the
 * loop's free, which closes its fd. */
static void end_cb(struct mcs_loop *l, void *arg)
{
	(*(int *)arg)++;
}

START_TEST(test_watch_end)
{
	struct mcs_loop *l = new_loop(0);
	int p[2], q[2], fired = 0, never = 0;
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(q, O_CLOEXEC), 0);
	ck_assert_int_eq(mcs_loop_watch_end(l, p[0], end_cb, &fired), 0);
	ck_assert_int_eq(mcs_loop_watch_end(l, q[0], end_cb, &never), 0);
	ck_assert_int_eq(mcs_loop_watch_end(l, -1, end_cb, &never), -EINVAL);
	run_for(l, 20);
	ck_assert_int_eq(fired, 0);
	close(p[1]);
	run_until_count(l, &fired, 1);
	run_for(l, 20);
	ck_assert_int_eq(fired, 1);
	mcs_loop_free(l);
	ck_assert_int_eq(never, 0);
	/* the loop closed both read ends: q's writer now has no reader */
	ck_assert_int_eq(fcntl(p[0], F_GETFD), -1);
	ck_assert_int_eq(fcntl(q[0], F_GETFD), -1);
	close(q[1]);
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
	int nodelay;               /* TCP_NODELAY of the last TCP socket accepted */
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
	int v = 0;
	socklen_t vl = sizeof(v);
	if (getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &v, &vl) == 0)
		a->nodelay = v;
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
	static const struct mcs_conn_ops no_frame = { .on_frame = NULL, .on_close = NULL };
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
	if (_i == T_TCP)
		ck_assert_int_ne(acc.nodelay, 0); /* accepted TCP sockets too */
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

static Suite *ring_suite(void)
{
	Suite *s = suite_create("ring");
	TCase *tc = tcase_create("timers-signals");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_timer_oneshot);
	tcase_add_test(tc, test_timer_repeat);
	tcase_add_test(tc, test_timer_free_armed);
	tcase_add_test(tc, test_run_exit_code);
	tcase_add_test(tc, test_busy_poll);
	tcase_add_test(tc, test_signals);
	tcase_add_test(tc, test_watch_end);
	suite_add_tcase(s, tc);

	tc = tcase_create("listen-teardown");
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_listen_tcp);
	tcase_add_test(tc, test_listen_refuse);
	tcase_add_test(tc, test_listen_emfile);
	tcase_add_test(tc, test_free_with_live_conns);
	tcase_add_test(tc, test_bad_args);
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
	return loop_test_main(ring_suite());
}
