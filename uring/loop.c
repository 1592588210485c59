/* SPDX-License-Identifier: MIT */
/*
 * The io_uring event loop (see loop.h for the contract).
 *
 * Every SQE carries in user_data a pointer to a struct op embedded in its
 * owner (connection, listener, timer, signal source). An owner counts its
 * ops still waiting for their final CQE and is never freed before that
 * count is back to zero, so a CQE never points at freed memory, and a
 * cancel/remove keyed by an op's address can never hit a recycled one.
 *
 * A turn: finish closed connections whose ops are all back (on_close),
 * submit everything prepared and wait for one CQE, copy the ready CQEs out
 * of the ring in batches, advance the CQ once per batch, then dispatch.
 * Copying first frees the CQ before any callback runs, so callbacks that
 * submit (a full SQ is flushed by submitting) never contend with a full CQ.
 *
 * Connections keep one recv in flight into a private buffer and one send
 * in flight from an ordered queue; small frames are coalesced into shared
 * chunks, frames carrying an fd get their own entry sent with SENDMSG.
 * Sends start when the turn is about to submit, not when a frame is
 * queued, and one SENDMSG takes up to SEND_GATHER consecutive entries: an
 * answer's header and the payload queued behind it, or all the answers to
 * a pipelined batch, leave in one send (one CQE, one wake-up of the peer).
 * Closing cancels what is in flight; on_close runs from the turn, after
 * the last CQE, so never from inside mcs_conn_close or on_frame.
 *
 * Bulk data (mcs_conn_recv_into / mcs_conn_send_ref):
 *
 * - recv_into only records the destination; the parse loop does the rest.
 *   After on_frame returns, the loop sees the pending payload before it
 *   looks for another header: it copies what the receive buffer holds past
 *   the frame, and if that completes the payload it runs done and goes on
 *   parsing the frames buffered behind it. Otherwise the buffer is empty,
 *   and the next recv goes straight into the destination (MSG_WAITALL, for
 *   the whole remainder up to IO_CHUNK_MAX) unless the remainder is small
 *   (< RIN_DIRECT_MIN), when receiving into the buffer, with whatever
 *   follows, costs fewer CQEs; the parse loop copies it out again. No
 *   frame is parsed while a payload is pending.
 *
 * - send_ref appends an entry pointing at the caller's memory to the same
 *   ordered queue (never copied, never coalesced into), so it goes out
 *   after everything queued before it and before everything queued after.
 *   It is sent with the entries around it in one SENDMSG (MSG_WAITALL), or
 *   alone with SEND_ZC at or above zc_threshold. A SEND_ZC keeps the conn's single
 *   send slot busy until its notification CQE, so the memory is never
 *   reported done (nor the next bytes sent) before the kernel lets go of
 *   it; a refusal (-EOPNOTSUPP/-EINVAL) switches the conn to plain sends.
 *
 * - Callbacks of bulk I/O that never finished (done(err < 0)) run when the
 *   conn is finalized, once every op is back, right before on_close.
 *
 * mcs_loop_connect creates the conn in a "connecting" state: sends are
 * queued but not started, no recv is armed; an IORING_OP_CONNECT (linked
 * to an IORING_OP_LINK_TIMEOUT when there is a time limit) completes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include "common/util.h"
#include "mcstore.h"
#include "uring/loop.h"

#define RBUF_INIT (64u << 10)             /* receive buffer when idle */
#define OUT_COALESCE (64u << 10)          /* small frames share chunks up to this */
#define OUT_MIN_CAP 4096u
#define IO_CHUNK_MAX (1u << 30)           /* sqe->len is 32 bits: stay well below */
#define RIN_DIRECT_MIN (16u << 10)        /* smaller payload rests go via the buffer */
#define ACCEPT_PAUSE_NS (100ull * 1000 * 1000)
#define CQE_BATCH 128
#define SQE_RETRIES 8
#define SEND_GATHER 16                    /* queued entries one SENDMSG may take */

enum op_kind {
	OP_RECV,
	OP_SEND,                /* SEND or SENDMSG: one in flight per conn */
	OP_CONN_CANCEL,
	OP_CONNECT,
	OP_CONNECT_TIMEOUT,
	OP_ACCEPT,
	OP_ACCEPT_PAUSE,
	OP_LISTEN_CANCEL,
	OP_TIMER,
	OP_TIMER_REMOVE,
	OP_SIGNAL_READ,
	OP_SIGNAL_POLL,
	OP_SIGNAL_CANCEL,
};

struct op {
	uint8_t kind;
	void *owner;
};

/* Intrusive doubly-linked list; an unlinked node points at itself. */
struct link {
	struct link *prev, *next;
};
#define link_entry(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

static void link_init(struct link *n) { n->prev = n->next = n; }
static bool link_empty(const struct link *h) { return h->next == h; }
static bool link_linked(const struct link *n) { return n->next != n; }
static void link_del(struct link *n)
{
	n->prev->next = n->next;
	n->next->prev = n->prev;
	link_init(n);
}
static void link_add_tail(struct link *h, struct link *n)
{
	n->prev = h->prev;
	n->next = h;
	h->prev->next = n;
	h->prev = n;
}
static void link_move_tail(struct link *h, struct link *n)
{
	link_del(n);
	link_add_tail(h, n);
}

struct cqe_copy {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

struct mcs_loop {
	struct io_uring ring;
	uint32_t max_body;
	uint32_t zc_threshold;      /* 0: never SEND_ZC */
	uint64_t busy_poll_ns;      /* 0: sleep for completions at once */
	unsigned inflight;          /* SQEs prepared whose final CQE is not reaped */
	bool exit_requested;
	int exit_code;
	bool freeing;               /* in mcs_loop_free: only on_close runs */
	bool broken;                /* the ring failed: give up waiting */
	struct link kicks;          /* conns with bytes queued, send not armed (any
	                               that stopped being live are skipped) */
	struct link conns;          /* live */
	struct link closing;        /* closed, ops still in flight */
	struct link ready;          /* closed, nothing in flight: on_close due */
	struct link listeners;
	struct link timers;         /* not yet freed by the user */
	struct link signals;
	struct cqe_copy batch[CQE_BATCH];
};

/* One run of outgoing bytes. Entries are sent strictly in order. */
struct out_ent {
	struct out_ent *next;
	uint8_t *data;              /* ours, or the caller's if ref */
	size_t len, cap, off;       /* off: bytes already sent */
	int fd;                     /* dup to pass with the first byte, or -1 */
	bool ref;                   /* mcs_conn_send_ref: not copied, not ours to free */
	bool busy;                  /* in the armed send: append nothing, move nothing */
	mcs_io_done_fn done;        /* ref only; NULL ok */
	void *done_arg;
	/* SENDMSG arguments: must stay put until its CQE */
	struct msghdr msg;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cmsg;
};

enum conn_state { CONN_LIVE, CONN_CLOSING, CONN_READY, CONN_DONE };

struct mcs_conn {
	struct mcs_loop *loop;      /* dangling once the loop is freed: only used while not DONE */
	struct link link;           /* on loop->conns, ->closing or ->ready by state */
	enum conn_state state;
	unsigned refs;
	int fd;
	const struct mcs_conn_ops *ops;
	void *userdata;
	int close_err;
	unsigned inflight;
	bool recv_armed, send_armed;
	unsigned send_nents;        /* queue entries the armed send covers */
	struct link kick;           /* on loop->kicks while a send is due */
	struct msghdr smsg;         /* a gathered SENDMSG: must stay put until its CQE */
	struct iovec siov[SEND_GATHER];
	bool recv_direct;           /* the armed recv lands in rin.dest */
	bool send_zc;               /* the armed send is a SEND_ZC ... */
	bool zc_more;               /* ... whose result is in, its notification not */
	int zc_res;                 /* that result */
	bool no_zc;                 /* the kernel refused SEND_ZC on this socket */
	bool connecting;            /* mcs_loop_connect not completed: no I/O yet */
	bool connect_armed;
	bool in_frame;              /* inside on_frame: recv_into allowed */
	struct op recv_op, send_op, cancel_op, connect_op, ctimeout_op;
	uint8_t *rbuf;
	size_t rlen, rcap;
	struct out_ent *out_head, *out_tail;
	size_t out_bytes;
	struct {                    /* mcs_conn_recv_into */
		bool active;
		uint8_t *dest;
		size_t len, got;
		mcs_io_done_fn done;
		void *arg;
	} rin;
	/* connect arguments, read by the kernel when the SQE is submitted */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct __kernel_timespec connect_ts;
};

struct listener {
	struct mcs_loop *loop;
	struct link link;
	int fd;
	mcs_accept_fn fn;
	void *userdata;
	unsigned inflight;
	bool accept_armed, paused, closed;
	bool multishot;             /* cleared if the kernel refuses it */
	struct op accept_op, pause_op, cancel_op;
	struct __kernel_timespec pause_ts;
};

struct mcs_timer {
	struct mcs_loop *loop;
	struct link link;           /* loop->timers until freed */
	mcs_timer_fn fn;
	void *userdata;
	uint64_t deadline_ns, interval_ns;
	unsigned inflight;
	bool armed, freed, in_cb, auto_free;
	struct op op, remove_op;
	struct __kernel_timespec ts;
};

struct sigsrc {
	struct mcs_loop *loop;
	struct link link;
	int fd;
	mcs_signal_fn fn;
	void *userdata;
	unsigned inflight;
	bool closed;
	struct op *armed;           /* read_op or poll_op while one is in flight */
	struct op read_op, poll_op, cancel_op;
	struct signalfd_siginfo si;
};

/* ---- submission --------------------------------------------------------- */

/* An SQE; a full SQ is flushed to the kernel first. NULL only if the ring
 * refuses submissions repeatedly. */
static struct io_uring_sqe *get_sqe(struct mcs_loop *l)
{
	for (int i = 0; i < SQE_RETRIES; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
		if (sqe)
			return sqe;
		int r = io_uring_submit(&l->ring);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return NULL;
	}
	return NULL;
}

static void sqe_own(struct mcs_loop *l, struct io_uring_sqe *sqe, struct op *op, unsigned *owner_inflight)
{
	io_uring_sqe_set_data(sqe, op);
	(*owner_inflight)++;
	l->inflight++;
}

/* ---- connections: lifetime ------------------------------------------------ */

/* Unlink the head entry of the out queue. */
static struct out_ent *out_pop(struct mcs_conn *c)
{
	struct out_ent *e = c->out_head;
	c->out_head = e->next;
	if (!c->out_head)
		c->out_tail = NULL;
	e->next = NULL;
	return e;
}

static void out_append(struct mcs_conn *c, struct out_ent *e)
{
	if (c->out_tail)
		c->out_tail->next = e;
	else
		c->out_head = e;
	c->out_tail = e;
}

/* Release an unlinked entry; a reference reports err to its owner. With
 * leak, our own buffer stays allocated (the kernel may still read it). */
static void out_release(struct mcs_conn *c, struct out_ent *e, int err, bool leak)
{
	mcs_io_done_fn done = e->ref ? e->done : NULL;
	void *arg = e->done_arg;
	if (e->fd >= 0)
		close(e->fd);
	if (!e->ref && !leak)
		free(e->data);
	if (!leak)
		free(e);
	if (done)
		done(c, err, arg);
}

/* A finished conn: report every unfinished bulk transfer (err < 0). */
static void conn_drop_io(struct mcs_conn *c, bool leak)
{
	int err = c->close_err < 0 ? c->close_err : -EPIPE;
	if (c->rin.active) {
		c->rin.active = false;
		if (c->rin.done)
			c->rin.done(c, err, c->rin.arg);
	}
	while (c->out_head)
		out_release(c, out_pop(c), err, leak);
	c->out_bytes = 0;
}

static void conn_op_done(struct mcs_conn *c)
{
	c->inflight--;
	if (c->state == CONN_CLOSING && c->inflight == 0) {
		c->state = CONN_READY;
		link_move_tail(&c->loop->ready, &c->link);
	}
}

static void conn_cancel(struct mcs_conn *c, struct op *target)
{
	struct io_uring_sqe *sqe = get_sqe(c->loop);
	if (!sqe) {
		/* No SQE: shutting the socket down completes the op as well. */
		shutdown(c->fd, SHUT_RDWR);
		return;
	}
	io_uring_prep_cancel(sqe, target, 0);
	sqe_own(c->loop, sqe, &c->cancel_op, &c->inflight);
}

static int conn_kick_send(struct mcs_conn *c);

/* Stop all I/O; on_close(err) follows from the loop once every op is back. */

static void conn_fail(struct mcs_conn *c, int err)
{
	if (c->state != CONN_LIVE)
		return;
	if (link_linked(&c->kick)) {
		/* What was queued before the close goes out before it (an
		 * error answer before a hang-up), as if sent at once. */
		link_del(&c->kick);
		(void)conn_kick_send(c);
		/* a done callback run by the kick may have queued more (and
		 * linked the conn again) or closed it already */
		if (link_linked(&c->kick))
			link_del(&c->kick);
		if (c->state != CONN_LIVE) {
			if (err < 0 && c->close_err == 0)
				c->close_err = err;
			return;
		}
	}
	c->state = CONN_CLOSING;
	c->close_err = err;
	link_move_tail(&c->loop->closing, &c->link);
	if (c->recv_armed)
		conn_cancel(c, &c->recv_op);
	if (c->send_armed) {
		if (!c->zc_more)
			conn_cancel(c, &c->send_op);
		if (c->send_zc) {
			/* A SEND_ZC's notification waits until the kernel frees
			 * the data it queued, which a peer that does not read
			 * can put off forever: drop the queued data (TCP
			 * disconnect, the peer gets a reset). */
			struct sockaddr unspec = { .sa_family = AF_UNSPEC };
			(void)connect(c->fd, &unspec, sizeof(unspec));
		}
	}
	if (c->connect_armed)
		conn_cancel(c, &c->connect_op);
	if (c->inflight == 0) {
		c->state = CONN_READY;
		link_move_tail(&c->loop->ready, &c->link);
	}
}

static void conn_finalize(struct mcs_conn *c, bool leak_buffers)
{
	link_del(&c->link);
	if (link_linked(&c->kick))
		link_del(&c->kick);
	c->state = CONN_DONE;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	/* A broken ring may still hold ops on these buffers: leak rather than
	 * risk the kernel writing into freed memory. */
	if (!leak_buffers)
		free(c->rbuf);
	c->rbuf = NULL;
	c->rlen = c->rcap = 0;
	/* done(err) of unfinished bulk I/O comes before on_close. */
	conn_drop_io(c, leak_buffers);
	if (c->ops->on_close)
		c->ops->on_close(c, c->close_err, c->userdata);
	mcs_conn_unref(c);
}

/* Run on_close for closed conns with nothing in flight. Callbacks may close
 * more conns, so take one at a time from the head. */
static void run_ready(struct mcs_loop *l)
{
	while (!link_empty(&l->ready))
		conn_finalize(link_entry(l->ready.next, struct mcs_conn, link), false);
}

/* ---- connections: receive ------------------------------------------------- */

static int conn_arm_recv(struct mcs_conn *c)
{
	struct io_uring_sqe *sqe = get_sqe(c->loop);
	if (!sqe)
		return -EBUSY;
	size_t rest = c->rin.active ? c->rin.len - c->rin.got : 0;
	if (rest >= RIN_DIRECT_MIN) {
		/* The parse loop emptied the buffer into rin.dest: the rest of
		 * the payload goes straight where it belongs. */
		io_uring_prep_recv(sqe, c->fd, c->rin.dest + c->rin.got, MCS_MIN(rest, (size_t)IO_CHUNK_MAX),
				   MSG_WAITALL);
		c->recv_direct = true;
	} else {
		size_t room = MCS_MIN(c->rcap - c->rlen, (size_t)IO_CHUNK_MAX);
		io_uring_prep_recv(sqe, c->fd, c->rbuf + c->rlen, room, 0);
	}
	sqe_own(c->loop, sqe, &c->recv_op, &c->inflight);
	c->recv_armed = true;
	return 0;
}

/* The payload of recv_into is complete. */
static void conn_rin_done(struct mcs_conn *c)
{
	c->rin.active = false;
	if (c->rin.done)
		c->rin.done(c, 0, c->rin.arg);
}

static int conn_resize_rbuf(struct mcs_conn *c, size_t cap)
{
	uint8_t *p = realloc(c->rbuf, cap);
	if (!p)
		return -ENOMEM;
	c->rbuf = p;
	c->rcap = cap;
	return 0;
}

/* Hand every whole buffered frame to on_frame, then keep the remainder at
 * the start of a buffer big enough for the frame it begins. */
static void conn_parse(struct mcs_conn *c)
{
	struct mcs_loop *l = c->loop;
	size_t pos = 0, want = RBUF_INIT;

	while (c->state == CONN_LIVE) {
		if (c->rin.active) {
			/* A payload follows the last frame: take what is
			 * buffered; parse on only once it is complete. */
			size_t n = MCS_MIN(c->rlen - pos, c->rin.len - c->rin.got);
			if (n > 0)
				memcpy(c->rin.dest + c->rin.got, c->rbuf + pos, n);
			pos += n;
			c->rin.got += n;
			if (c->rin.got < c->rin.len)
				break;          /* buffer empty: the rest is on its way */
			conn_rin_done(c);
			continue;
		}
		if (c->rlen - pos < MCS_HDR_SIZE)
			break;
		struct mcs_hdr h;
		int r = mcs_hdr_decode(c->rbuf + pos, l->max_body, &h);
		if (r < 0) {
			conn_fail(c, r);
			return;
		}
		size_t need = MCS_HDR_SIZE + (size_t)h.body_len;
		if (c->rlen - pos < need) {
			want = MCS_MAX(want, need);
			break;
		}
		c->in_frame = true;
		r = c->ops->on_frame(c, &h, c->rbuf + pos + MCS_HDR_SIZE, c->userdata);
		c->in_frame = false;
		pos += need;
		if (r < 0) {
			conn_fail(c, r);
			return;
		}
	}
	if (c->state != CONN_LIVE)
		return;

	if (pos > 0) {
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
	}
	/* Grow for a big frame; give the memory back once it is consumed. */
	if (want > c->rcap || (c->rcap > want && c->rlen <= want)) {
		int r = conn_resize_rbuf(c, want);
		if (r < 0 && want > c->rcap)
			conn_fail(c, r);
	}
}

static void conn_on_recv(struct mcs_conn *c, int res)
{
	bool direct = c->recv_direct;
	c->recv_armed = false;
	c->recv_direct = false;
	conn_op_done(c);
	if (c->state != CONN_LIVE)
		return;
	if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
		/* transient: try again */
	} else if (res < 0) {
		conn_fail(c, res);
		return;
	} else if (res == 0) {
		conn_fail(c, 0);
		return;
	} else if (direct) {
		/* Short completions (a signal, MSG_WAITALL cut short) just
		 * leave a smaller rest for the next recv. */
		c->rin.got += (size_t)res;
		if (c->rin.got == c->rin.len) {
			conn_rin_done(c);
			if (c->state != CONN_LIVE)
				return;
			conn_parse(c);      /* nothing buffered now, but cheap and general */
			if (c->state != CONN_LIVE)
				return;
		}
	} else {
		c->rlen += (size_t)res;
		conn_parse(c);
		if (c->state != CONN_LIVE)
			return;
	}
	int r = conn_arm_recv(c);
	if (r < 0)
		conn_fail(c, r);
}

/* ---- connections: send ---------------------------------------------------- */

/* Sends start from the turn, right before it submits (flush_kicks), not
 * from mcs_conn_send: what callbacks queue in a row (an answer's header and
 * its payload, the answers to a pipelined batch) then leaves in one SEND or
 * SENDMSG. */
static void conn_want_send(struct mcs_conn *c)
{
	if (c->send_armed || c->connecting || c->state != CONN_LIVE || link_linked(&c->kick) || !c->out_head)
		return;
	link_add_tail(&c->loop->kicks, &c->kick);
}

static void flush_kicks(struct mcs_loop *l)
{
	/* take from the head: a kick may close other conns (unlinking them) */
	while (!link_empty(&l->kicks)) {
		struct mcs_conn *c = link_entry(l->kicks.next, struct mcs_conn, kick);
		link_del(&c->kick);
		int r = conn_kick_send(c);
		if (r < 0)
			conn_fail(c, r);
	}
}

static bool wants_zc(const struct mcs_conn *c, const struct out_ent *e)
{
	uint32_t zt = c->loop->zc_threshold;
	return e->ref && zt > 0 && e->len >= zt && !c->no_zc;
}

/* The head entry and those after it that can leave in one SENDMSG (none
 * with an fd to pass, none empty, none bound for SEND_ZC) into c->siov;
 * returns how many. */
static unsigned gather(struct mcs_conn *c)
{
	unsigned k = 0;
	size_t sum = 0;
	for (struct out_ent *e = c->out_head; e && k < SEND_GATHER; e = e->next) {
		size_t n = e->len - e->off;
		if (n == 0 || (e->fd >= 0 && e->off == 0) || wants_zc(c, e) || n > IO_CHUNK_MAX - sum)
			break;
		c->siov[k].iov_base = e->data + e->off;
		c->siov[k].iov_len = n;
		sum += n;
		k++;
	}
	return k;
}

static int conn_kick_send(struct mcs_conn *c)
{
	if (c->send_armed || c->connecting || c->state != CONN_LIVE)
		return 0;
	/* Empty references are done once everything before them is (done
	 * may queue more, even arm the send itself, or close the conn). */
	while (c->out_head && c->out_head->len == 0) {
		out_release(c, out_pop(c), 0, false);
		if (c->send_armed || c->state != CONN_LIVE)
			return 0;
	}
	struct out_ent *e = c->out_head;
	if (!e)
		return 0;
	struct io_uring_sqe *sqe = get_sqe(c->loop);
	if (!sqe)
		return -EBUSY;
	size_t n = MCS_MIN(e->len - e->off, (size_t)IO_CHUNK_MAX);
	unsigned k = 1;
	if (wants_zc(c, e)) {
		/* One SQE for the whole range: the kernel loops over short
		 * sends itself (MSG_WAITALL). */
		io_uring_prep_send_zc(sqe, c->fd, e->data + e->off, n, MSG_NOSIGNAL | MSG_WAITALL, 0);
		c->send_zc = true;
	} else if (!(e->fd >= 0 && e->off == 0) && (k = gather(c)) > 1) {
		/* several entries (a header and the payload behind it, many
		 * small answers and a reference...): one SENDMSG */
		memset(&c->smsg, 0, sizeof(c->smsg));
		c->smsg.msg_iov = c->siov;
		c->smsg.msg_iovlen = k;
		io_uring_prep_sendmsg(sqe, c->fd, &c->smsg, MSG_NOSIGNAL | MSG_WAITALL);
	} else if (e->ref) {
		k = 1;
		io_uring_prep_send(sqe, c->fd, e->data + e->off, n, MSG_NOSIGNAL | MSG_WAITALL);
	} else if (e->fd >= 0 && e->off == 0) {
		/* The fd rides on the first byte; a remainder after a partial
		 * send goes out as a plain SEND. */
		memset(&e->msg, 0, sizeof(e->msg));
		memset(&e->cmsg, 0, sizeof(e->cmsg));
		e->iov.iov_base = e->data;
		e->iov.iov_len = n;
		e->msg.msg_iov = &e->iov;
		e->msg.msg_iovlen = 1;
		e->msg.msg_control = e->cmsg.buf;
		e->msg.msg_controllen = sizeof(e->cmsg.buf);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&e->msg);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(cm), &e->fd, sizeof(int));
		io_uring_prep_sendmsg(sqe, c->fd, &e->msg, MSG_NOSIGNAL);
	} else {
		k = 1;
		io_uring_prep_send(sqe, c->fd, e->data + e->off, n, MSG_NOSIGNAL);
	}
	sqe_own(c->loop, sqe, &c->send_op, &c->inflight);
	c->send_armed = true;
	c->send_nents = k;
	for (struct out_ent *x = e; k-- > 0; x = x->next)
		x->busy = true;
	return 0;
}

static void conn_on_send(struct mcs_conn *c, int res, uint32_t flags)
{
	if (flags & IORING_CQE_F_MORE) {
		/* SEND_ZC result: the memory stays the kernel's, and the send
		 * slot busy, until the notification. */
		c->zc_res = res;
		c->zc_more = true;
		return;
	}
	if (c->zc_more)
		res = c->zc_res;        /* this is the notification */
	bool zc = c->send_zc;
	c->send_armed = false;
	c->send_zc = false;
	c->zc_more = false;
	/* the entries it covered may be appended to (and move) again */
	struct out_ent *x = c->out_head;
	for (unsigned i = 0; i < c->send_nents && x; i++, x = x->next)
		x->busy = false;
	c->send_nents = 0;
	conn_op_done(c);
	if (c->state != CONN_LIVE)
		return;
	if (zc && (res == -EOPNOTSUPP || res == -EINVAL)) {
		/* No zero-copy on this socket: the same bytes, plain. */
		c->no_zc = true;
	} else if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
		/* transient: resubmit the same bytes */
	} else if (res < 0) {
		conn_fail(c, res);
		return;
	} else if (res == 0) {
		/* Entries are never empty: no progress means a dead socket. */
		conn_fail(c, -EIO);
		return;
	} else {
		/* res bytes from the head on, over one or more entries: credit
		 * and unlink every finished entry first, then release them, as
		 * a done callback may queue (coalescing into the entry after
		 * them) and even close, which sends what is queued at once */
		size_t left = (size_t)res;
		struct out_ent *fin = NULL, **fin_tail = &fin;
		while (left > 0 && c->out_head) {
			struct out_ent *e = c->out_head;
			size_t k = MCS_MIN(left, e->len - e->off);
			e->off += k;
			left -= k;
			c->out_bytes -= k;
			if (e->off < e->len)
				break;
			*fin_tail = out_pop(c);
			fin_tail = &(*fin_tail)->next;
		}
		while (fin) {
			struct out_ent *e = fin;
			fin = e->next;
			e->next = NULL;
			/* sent: done(0), even if an earlier done closed the conn */
			out_release(c, e, 0, false);
		}
		if (c->state != CONN_LIVE)
			return;
	}
	conn_want_send(c);
}

/* Room for n more bytes at the end of the queue. Frames without an fd are
 * appended to the last chunk while it is not being sent and stays small;
 * an fd frame always gets an entry of its own (fd >= 0 is then owned by
 * the entry). NULL on -ENOMEM, with the queue unchanged. */
static uint8_t *out_reserve(struct mcs_conn *c, size_t n, int fd)
{
	struct out_ent *t = c->out_tail;
	bool tail_busy = t && t->busy;

	if (fd < 0 && t && t->fd < 0 && !t->ref && !tail_busy && t->len + n <= OUT_COALESCE) {
		if (t->len + n > t->cap) {
			size_t cap = MCS_MIN(MCS_MAX(t->cap * 2, t->len + n), (size_t)OUT_COALESCE);
			uint8_t *p = realloc(t->data, cap);
			if (!p)
				return NULL;
			t->data = p;
			t->cap = cap;
		}
		uint8_t *p = t->data + t->len;
		t->len += n;
		return p;
	}

	struct out_ent *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cap = n >= OUT_COALESCE || fd >= 0 ? n : MCS_MAX(n, (size_t)OUT_MIN_CAP);
	e->data = malloc(e->cap);
	if (!e->data) {
		free(e);
		return NULL;
	}
	e->len = n;
	e->fd = fd;
	out_append(c, e);
	return e->data;
}

MCS_EXPORT int mcs_conn_send(struct mcs_conn *c, const struct mcs_hdr *h, const void *body, size_t len, int fd)
{
	if (!c || c->state != CONN_LIVE)
		return -EPIPE;
	if (!h || (len > 0 && !body))
		return -EINVAL;
	if (len > UINT32_MAX)
		return -EMSGSIZE;

	int dfd = -1;
	if (fd >= 0) {
		/* The caller keeps its fd; ours lives until the send is done. */
		dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (dfd < 0)
			return -errno;
	}
	uint8_t *p = out_reserve(c, MCS_HDR_SIZE + len, dfd);
	if (!p) {
		if (dfd >= 0)
			close(dfd);
		return -ENOMEM;
	}
	struct mcs_hdr hh = *h;
	hh.magic = MCS_PROTO_MAGIC;
	hh.version = MCS_PROTO_VERSION;
	hh.body_len = (uint32_t)len;
	mcs_hdr_encode(&hh, p);
	if (len > 0)
		memcpy(p + MCS_HDR_SIZE, body, len);
	c->out_bytes += MCS_HDR_SIZE + len;
	conn_want_send(c);
	return 0;
}

MCS_EXPORT int mcs_conn_send_raw(struct mcs_conn *c, const void *data, size_t len)
{
	if (!c || c->state != CONN_LIVE)
		return -EPIPE;
	if (len == 0)
		return 0;
	if (!data)
		return -EINVAL;
	uint8_t *p = out_reserve(c, len, -1);
	if (!p)
		return -ENOMEM;
	memcpy(p, data, len);
	c->out_bytes += len;
	conn_want_send(c);
	return 0;
}

MCS_EXPORT int mcs_conn_send_ref(struct mcs_conn *c, const void *p, size_t len, mcs_io_done_fn done, void *arg)
{
	if (!c || c->state != CONN_LIVE)
		return -EPIPE;
	if (len > 0 && !p)
		return -EINVAL;
	struct out_ent *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->data = (uint8_t *)(uintptr_t)p;
	e->len = e->cap = len;
	e->fd = -1;
	e->ref = true;
	e->done = done;
	e->done_arg = arg;
	out_append(c, e);
	c->out_bytes += len;
	/* Once queued, done reports the outcome: a conn that cannot send
	 * fails, and done(err) follows; the call itself succeeded. */
	conn_want_send(c);
	return 0;
}

/* ---- connections: receive into caller memory ------------------------------ */

MCS_EXPORT int mcs_conn_recv_into(struct mcs_conn *c, void *dest, size_t len, mcs_io_done_fn done, void *arg)
{
	if (!c || c->state != CONN_LIVE)
		return -EPIPE;
	/* Only on_frame knows where "right after the frame" is. */
	if (!c->in_frame || (len > 0 && !dest))
		return -EINVAL;
	if (c->rin.active)
		return -EBUSY;
	/* The parse loop takes it from here once on_frame returns (len 0:
	 * done runs right then). */
	c->rin.active = true;
	c->rin.dest = dest;
	c->rin.len = len;
	c->rin.got = 0;
	c->rin.done = done;
	c->rin.arg = arg;
	return 0;
}

/* ---- connections: API ----------------------------------------------------- */

/* A conn not yet live, or NULL (-ENOMEM). The fd stays the caller's. */
static struct mcs_conn *conn_new(struct mcs_loop *l, int fd, const struct mcs_conn_ops *ops, void *userdata)
{
	struct mcs_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->loop = l;
	c->refs = 1;           /* the loop's, dropped after on_close */
	c->fd = fd;
	c->ops = ops;
	c->userdata = userdata;
	c->recv_op = (struct op){ OP_RECV, c };
	c->send_op = (struct op){ OP_SEND, c };
	c->cancel_op = (struct op){ OP_CONN_CANCEL, c };
	c->connect_op = (struct op){ OP_CONNECT, c };
	c->ctimeout_op = (struct op){ OP_CONNECT_TIMEOUT, c };
	link_init(&c->link);
	link_init(&c->kick);
	c->rbuf = malloc(RBUF_INIT);
	if (!c->rbuf) {
		free(c);
		return NULL;
	}
	c->rcap = RBUF_INIT;
	return c;
}

MCS_EXPORT int mcs_loop_add_conn(struct mcs_loop *l, int fd, const struct mcs_conn_ops *ops, void *userdata,
				 struct mcs_conn **ret)
{
	if (!l || fd < 0 || !ops || !ops->on_frame) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	struct mcs_conn *c = conn_new(l, fd, ops, userdata);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	int r = conn_arm_recv(c);
	if (r < 0) {
		free(c->rbuf);
		free(c);
		close(fd);
		return r;
	}
	c->state = CONN_LIVE;
	link_add_tail(&l->conns, &c->link);
	if (ret)
		*ret = c;
	return 0;
}

static void conn_on_connect(struct mcs_conn *c, int res)
{
	c->connect_armed = false;
	conn_op_done(c);
	if (c->state != CONN_LIVE)
		return;
	if (res < 0) {
		/* Live, so not cancelled by us: by the linked timeout. */
		conn_fail(c, res == -ECANCELED ? -ETIMEDOUT : res);
		return;
	}
	c->connecting = false;
	int r = conn_arm_recv(c);
	if (r < 0)
		conn_fail(c, r);
	else
		conn_want_send(c);
}

MCS_EXPORT int mcs_loop_connect(struct mcs_loop *l, const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms,
				const struct mcs_conn_ops *ops, void *userdata, struct mcs_conn **ret)
{
	if (!l || !sa || salen < sizeof(sa_family_t) || salen > sizeof(struct sockaddr_storage) || !ops ||
	    !ops->on_frame)
		return -EINVAL;
	int fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (sa->sa_family == AF_INET || sa->sa_family == AF_INET6) {
		int one = 1;
		if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0) {
			int r = -errno;
			close(fd);
			return r;
		}
	}
	struct mcs_conn *c = conn_new(l, fd, ops, userdata);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	memcpy(&c->addr, sa, salen);
	c->addrlen = salen;

	/* A linked pair must reach the kernel together: make room for both
	 * first, so get_sqe cannot submit the first one alone. */
	unsigned need = timeout_ms > 0 ? 2 : 1;
	if (io_uring_sq_space_left(&l->ring) < need)
		(void)io_uring_submit(&l->ring);
	struct io_uring_sqe *sqe = io_uring_sq_space_left(&l->ring) >= need ? get_sqe(l) : NULL;
	if (!sqe) {
		free(c->rbuf);
		free(c);
		close(fd);
		return -EBUSY;
	}
	io_uring_prep_connect(sqe, fd, (struct sockaddr *)&c->addr, c->addrlen);
	sqe_own(l, sqe, &c->connect_op, &c->inflight);
	if (timeout_ms > 0) {
		sqe->flags |= IOSQE_IO_LINK;
		c->connect_ts.tv_sec = timeout_ms / 1000;
		c->connect_ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
		struct io_uring_sqe *tsqe = get_sqe(l);     /* cannot fail: room was made */
		io_uring_prep_link_timeout(tsqe, &c->connect_ts, 0);
		sqe_own(l, tsqe, &c->ctimeout_op, &c->inflight);
	}
	c->connecting = true;
	c->connect_armed = true;
	c->state = CONN_LIVE;
	link_add_tail(&l->conns, &c->link);
	if (ret)
		*ret = c;
	return 0;
}

MCS_EXPORT void mcs_conn_close(struct mcs_conn *c)
{
	if (c)
		conn_fail(c, 0);
}

MCS_EXPORT bool mcs_conn_is_closed(const struct mcs_conn *c)
{
	return !c || c->state != CONN_LIVE;
}

MCS_EXPORT struct mcs_conn *mcs_conn_ref(struct mcs_conn *c)
{
	if (c)
		c->refs++;
	return c;
}

MCS_EXPORT struct mcs_conn *mcs_conn_unref(struct mcs_conn *c)
{
	if (!c || --c->refs > 0)
		return NULL;
	/* The loop's reference is only dropped once the conn is DONE, so
	 * nothing is in flight and the buffers are already released. */
	free(c);
	return NULL;
}

MCS_EXPORT void *mcs_conn_userdata(const struct mcs_conn *c) { return c->userdata; }
MCS_EXPORT void mcs_conn_set_userdata(struct mcs_conn *c, void *userdata) { c->userdata = userdata; }
MCS_EXPORT int mcs_conn_fd(const struct mcs_conn *c) { return c->fd; }
MCS_EXPORT struct mcs_loop *mcs_conn_loop(const struct mcs_conn *c) { return c->loop; }
MCS_EXPORT size_t mcs_conn_pending_bytes(const struct mcs_conn *c) { return c->out_bytes; }

/* ---- listeners ------------------------------------------------------------ */

static void listener_release(struct listener *ls)
{
	link_del(&ls->link);
	close(ls->fd);
	free(ls);
}

/* true if ls was released */
static bool listener_op_done(struct listener *ls)
{
	ls->inflight--;
	if (ls->closed && ls->inflight == 0) {
		listener_release(ls);
		return true;
	}
	return false;
}

static int listener_arm(struct listener *ls)
{
	struct io_uring_sqe *sqe = get_sqe(ls->loop);
	if (!sqe)
		return -EBUSY;
	if (ls->multishot)
		io_uring_prep_multishot_accept(sqe, ls->fd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, ls->fd, NULL, NULL, SOCK_CLOEXEC);
	sqe_own(ls->loop, sqe, &ls->accept_op, &ls->inflight);
	ls->accept_armed = true;
	return 0;
}

static int listener_pause(struct listener *ls)
{
	struct io_uring_sqe *sqe = get_sqe(ls->loop);
	if (!sqe)
		return -EBUSY;
	ls->pause_ts.tv_sec = 0;
	ls->pause_ts.tv_nsec = (long long)ACCEPT_PAUSE_NS;
	io_uring_prep_timeout(sqe, &ls->pause_ts, 0, 0);
	sqe_own(ls->loop, sqe, &ls->pause_op, &ls->inflight);
	ls->paused = true;
	return 0;
}

static void listener_adopt(struct listener *ls, int fd)
{
	struct mcs_loop *l = ls->loop;
	const struct mcs_conn_ops *ops = NULL;
	void *ud = NULL;

	if (l->freeing || ls->fn(l, fd, &ops, &ud, ls->userdata) < 0 || !ops) {
		close(fd);
		return;
	}
	(void)mcs_loop_add_conn(l, fd, ops, ud, NULL);  /* closes fd on failure */
}

static void listener_on_accept(struct listener *ls, int res, uint32_t flags)
{
	bool more = flags & IORING_CQE_F_MORE;

	if (res >= 0) {
		if (ls->closed)
			close(res);
		else
			listener_adopt(ls, res);
	}
	if (more)
		return;        /* the multishot accept is still armed */
	ls->accept_armed = false;
	if (listener_op_done(ls) || ls->closed)
		return;

	int r;
	if (res == -EMFILE || res == -ENFILE || res == -ENOMEM || res == -ENOBUFS) {
		/* Out of descriptors or memory: accepting again right away
		 * would spin; give the process a moment to free some, and
		 * tell the owner, which may say so (the loop does not log). */
		const struct mcs_conn_ops *ops = NULL;
		void *ud = NULL;
		if (!ls->loop->freeing)
			(void)ls->fn(ls->loop, res, &ops, &ud, ls->userdata);
		r = listener_pause(ls);
	} else if (res == -EINVAL && ls->multishot) {
		ls->multishot = false;          /* kernel older than 5.19 */
		r = listener_arm(ls);
	} else if (res < 0 && res != -EINTR && res != -EAGAIN && res != -ECONNABORTED && res != -EPROTO &&
		   res != -EPERM && res != -ECANCELED) {
		r = listener_pause(ls);         /* unknown trouble: retry slowly */
	} else {
		r = listener_arm(ls);
	}
	(void)r;  /* without an SQE the listener stays idle; nothing better to do */
}

static void listener_on_pause(struct listener *ls)
{
	ls->paused = false;
	if (listener_op_done(ls) || ls->closed)
		return;
	(void)listener_arm(ls);
}

static void listener_close(struct listener *ls)
{
	struct mcs_loop *l = ls->loop;
	if (ls->closed)
		return;
	ls->closed = true;
	if (ls->accept_armed) {
		struct io_uring_sqe *sqe = get_sqe(l);
		if (sqe) {
			io_uring_prep_cancel(sqe, &ls->accept_op, 0);
			sqe_own(l, sqe, &ls->cancel_op, &ls->inflight);
		} else {
			shutdown(ls->fd, SHUT_RDWR);    /* wakes the accept with an error */
		}
	}
	if (ls->paused) {
		struct io_uring_sqe *sqe = get_sqe(l);
		if (sqe) {
			io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&ls->pause_op, 0);
			sqe_own(l, sqe, &ls->cancel_op, &ls->inflight);
		}       /* else the 100 ms pause simply runs out */
	}
	if (ls->inflight == 0)
		listener_release(ls);
}

MCS_EXPORT int mcs_loop_listen(struct mcs_loop *l, int listen_fd, mcs_accept_fn fn, void *userdata)
{
	if (!l || listen_fd < 0 || !fn) {
		if (listen_fd >= 0)
			close(listen_fd);
		return -EINVAL;
	}
	struct listener *ls = calloc(1, sizeof(*ls));
	if (!ls) {
		close(listen_fd);
		return -ENOMEM;
	}
	ls->loop = l;
	ls->fd = listen_fd;
	ls->fn = fn;
	ls->userdata = userdata;
	ls->multishot = true;
	ls->accept_op = (struct op){ OP_ACCEPT, ls };
	ls->pause_op = (struct op){ OP_ACCEPT_PAUSE, ls };
	ls->cancel_op = (struct op){ OP_LISTEN_CANCEL, ls };
	int r = listener_arm(ls);
	if (r < 0) {
		free(ls);
		close(listen_fd);
		return r;
	}
	link_add_tail(&l->listeners, &ls->link);
	return 0;
}

/* ---- timers --------------------------------------------------------------- */

static void timer_maybe_release(struct mcs_timer *t)
{
	if (t->freed && !t->in_cb && t->inflight == 0)
		free(t);
}

static int timer_arm(struct mcs_timer *t)
{
	struct io_uring_sqe *sqe = get_sqe(t->loop);
	if (!sqe)
		return -EBUSY;
	/* Absolute CLOCK_MONOTONIC deadlines keep repeating timers from
	 * drifting by the time spent running callbacks. */
	t->ts.tv_sec = (long long)(t->deadline_ns / 1000000000ull);
	t->ts.tv_nsec = (long long)(t->deadline_ns % 1000000000ull);
	io_uring_prep_timeout(sqe, &t->ts, 0, IORING_TIMEOUT_ABS);
	sqe_own(t->loop, sqe, &t->op, &t->inflight);
	t->armed = true;
	return 0;
}

static void timer_on_fire(struct mcs_timer *t, int res)
{
	t->armed = false;
	t->inflight--;
	if (t->freed || t->loop->freeing || res == -ECANCELED) {
		timer_maybe_release(t);
		return;
	}
	t->in_cb = true;
	t->fn(t, t->userdata);
	t->in_cb = false;
	if (t->freed) {
		timer_maybe_release(t);
		return;
	}
	if (t->interval_ns == 0) {
		/* Nobody holds a one-shot timer created without ret. */
		if (t->auto_free)
			mcs_timer_free(t);
		return;
	}
	/* Skip ticks missed while the loop was busy instead of bursting. */
	uint64_t now = mcs_now_ns();
	t->deadline_ns += t->interval_ns;
	if (t->deadline_ns <= now)
		t->deadline_ns = now + t->interval_ns;
	(void)timer_arm(t);   /* without an SQE the timer stops; rare enough */
}

MCS_EXPORT int mcs_loop_add_timer(struct mcs_loop *l, uint64_t first_ms, uint64_t interval_ms, mcs_timer_fn fn,
				  void *userdata, struct mcs_timer **ret)
{
	if (!l || !fn)
		return -EINVAL;
	if (first_ms > UINT64_MAX / 4000000ull || interval_ms > UINT64_MAX / 4000000ull)
		return -ERANGE;
	struct mcs_timer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->loop = l;
	t->fn = fn;
	t->userdata = userdata;
	t->interval_ns = interval_ms * 1000000ull;
	t->deadline_ns = mcs_now_ns() + first_ms * 1000000ull;
	t->auto_free = !ret;
	t->op = (struct op){ OP_TIMER, t };
	t->remove_op = (struct op){ OP_TIMER_REMOVE, t };
	int r = timer_arm(t);
	if (r < 0) {
		free(t);
		return r;
	}
	link_add_tail(&l->timers, &t->link);
	if (ret)
		*ret = t;
	return 0;
}

MCS_EXPORT void mcs_timer_free(struct mcs_timer *t)
{
	if (!t || t->freed)
		return;
	t->freed = true;
	link_del(&t->link);
	if (t->armed) {
		struct io_uring_sqe *sqe = get_sqe(t->loop);
		if (sqe) {
			io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&t->op, 0);
			sqe_own(t->loop, sqe, &t->remove_op, &t->inflight);
		}       /* else the memory goes when the timeout fires */
	}
	timer_maybe_release(t);
}

/* ---- signals -------------------------------------------------------------- */

static void sigsrc_release(struct sigsrc *s)
{
	link_del(&s->link);
	close(s->fd);
	free(s);
}

static bool sigsrc_op_done(struct sigsrc *s)
{
	s->inflight--;
	if (s->closed && s->inflight == 0) {
		sigsrc_release(s);
		return true;
	}
	return false;
}

static int sigsrc_arm(struct sigsrc *s, struct op *op)
{
	struct io_uring_sqe *sqe = get_sqe(s->loop);
	if (!sqe)
		return -EBUSY;
	if (op == &s->read_op)
		io_uring_prep_read(sqe, s->fd, &s->si, sizeof(s->si), 0);
	else
		io_uring_prep_poll_add(sqe, s->fd, POLLIN);
	sqe_own(s->loop, sqe, op, &s->inflight);
	s->armed = op;
	return 0;
}

static void sigsrc_on_read(struct sigsrc *s, int res)
{
	s->armed = NULL;
	if (sigsrc_op_done(s) || s->closed)
		return;
	if (res == (int)sizeof(s->si)) {
		if (!s->loop->freeing)
			s->fn(s->loop, (int)s->si.ssi_signo, s->userdata);
		if (s->closed)
			return;
		(void)sigsrc_arm(s, &s->read_op);
	} else if (res == -EAGAIN) {
		/* Kernels that do not retry non-blocking files internally:
		 * wait for readability, then read again. */
		(void)sigsrc_arm(s, &s->poll_op);
	} else if (res == -EINTR) {
		(void)sigsrc_arm(s, &s->read_op);
	}
	/* other errors: the source goes quiet rather than spin */
}

static void sigsrc_on_poll(struct sigsrc *s, int res)
{
	s->armed = NULL;
	if (sigsrc_op_done(s) || s->closed)
		return;
	if (res >= 0 || res == -EINTR)
		(void)sigsrc_arm(s, &s->read_op);
}

static void sigsrc_close(struct sigsrc *s)
{
	if (s->closed)
		return;
	s->closed = true;
	if (s->armed) {
		struct io_uring_sqe *sqe = get_sqe(s->loop);
		if (sqe) {
			io_uring_prep_cancel(sqe, s->armed, 0);
			sqe_own(s->loop, sqe, &s->cancel_op, &s->inflight);
		}
	}
	if (s->inflight == 0)
		sigsrc_release(s);
}

MCS_EXPORT int mcs_loop_add_signals(struct mcs_loop *l, const sigset_t *set, mcs_signal_fn fn, void *userdata)
{
	if (!l || !set || !fn)
		return -EINVAL;
	/* Blocked first, so nothing is delivered the default way meanwhile. */
	int r = pthread_sigmask(SIG_BLOCK, set, NULL);
	if (r != 0)
		return -r;
	struct sigsrc *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->fd = signalfd(-1, set, SFD_CLOEXEC | SFD_NONBLOCK);
	if (s->fd < 0) {
		r = -errno;
		free(s);
		return r;
	}
	s->loop = l;
	s->fn = fn;
	s->userdata = userdata;
	s->read_op = (struct op){ OP_SIGNAL_READ, s };
	s->poll_op = (struct op){ OP_SIGNAL_POLL, s };
	s->cancel_op = (struct op){ OP_SIGNAL_CANCEL, s };
	r = sigsrc_arm(s, &s->read_op);
	if (r < 0) {
		close(s->fd);
		free(s);
		return r;
	}
	link_add_tail(&l->signals, &s->link);
	return 0;
}

/* ---- the loop ------------------------------------------------------------- */

static void dispatch(struct mcs_loop *l, const struct cqe_copy *cq)
{
	struct op *op = (struct op *)(uintptr_t)cq->user_data;

	/* Only the last CQE of a multishot op lacks F_MORE. */
	if (!(cq->flags & IORING_CQE_F_MORE))
		l->inflight--;
	if (!op)
		return;

	switch ((enum op_kind)op->kind) {
	case OP_RECV:
		conn_on_recv(op->owner, cq->res);
		break;
	case OP_SEND:
		conn_on_send(op->owner, cq->res, cq->flags);
		break;
	case OP_CONNECT:
		conn_on_connect(op->owner, cq->res);
		break;
	case OP_CONNECT_TIMEOUT:
		/* -ETIME: it fired and the connect fails with -ECANCELED;
		 * -ECANCELED: the connect finished first. Nothing to do. */
		conn_op_done(op->owner);
		break;
	case OP_CONN_CANCEL: {
		struct mcs_conn *c = op->owner;
		/* -EALREADY: the op is executing and cannot be stopped;
		 * shutting the socket down makes it complete. */
		if (cq->res == -EALREADY && c->fd >= 0)
			shutdown(c->fd, SHUT_RDWR);
		conn_op_done(c);
		break;
	}
	case OP_ACCEPT:
		listener_on_accept(op->owner, cq->res, cq->flags);
		break;
	case OP_ACCEPT_PAUSE:
		listener_on_pause(op->owner);
		break;
	case OP_LISTEN_CANCEL:
		(void)listener_op_done(op->owner);
		break;
	case OP_TIMER:
		timer_on_fire(op->owner, cq->res);
		break;
	case OP_TIMER_REMOVE: {
		struct mcs_timer *t = op->owner;
		t->inflight--;
		timer_maybe_release(t);
		break;
	}
	case OP_SIGNAL_READ:
		sigsrc_on_read(op->owner, cq->res);
		break;
	case OP_SIGNAL_POLL:
		sigsrc_on_poll(op->owner, cq->res);
		break;
	case OP_SIGNAL_CANCEL:
		(void)sigsrc_op_done(op->owner);
		break;
	}
}

static void reap(struct mcs_loop *l)
{
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_for_each_cqe(&l->ring, head, cqe) {
			l->batch[n++] = (struct cqe_copy){ cqe->user_data, cqe->res, cqe->flags };
			if (n == CQE_BATCH)
				break;
		}
		if (n == 0)
			return;
		io_uring_cq_advance(&l->ring, n);
		for (unsigned i = 0; i < n; i++)
			dispatch(l, &l->batch[i]);
	}
}

/* Submit, wait for at least one CQE, dispatch all. With busy polling,
 * first enter the kernel without sleeping (which also runs the task work
 * that COOP_TASKRUN defers to the next entry) until a CQE shows up or the
 * time is over. */
static int wait_and_reap(struct mcs_loop *l)
{
	flush_kicks(l);
	if (l->busy_poll_ns) {
		uint64_t end = mcs_now_ns() + l->busy_poll_ns;
		do {
			int r = io_uring_submit_and_get_events(&l->ring);
			if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
				return r;
			if (io_uring_cq_ready(&l->ring)) {
				reap(l);
				return 0;
			}
		} while (mcs_now_ns() < end);
	}
	int r = io_uring_submit_and_wait(&l->ring, 1);
	if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME)
		return r;
	reap(l);
	return 0;
}

MCS_EXPORT int mcs_loop_new(const struct mcs_loop_opts *opts, struct mcs_loop **ret)
{
	if (!ret)
		return -EINVAL;
#define OPT(f, dflt)                                                                               \
	(opts && opts->size >= offsetof(struct mcs_loop_opts, f) + sizeof(opts->f) && opts->f ? opts->f : (dflt))
	unsigned entries = OPT(entries, 256u);
	uint32_t max_body = OPT(max_body, (uint32_t)MCS_DEFAULT_MAX_BODY);
	uint32_t zc_threshold = OPT(zc_threshold, 0u);
	unsigned busy_poll_us = OPT(busy_poll_us, 0u);
#undef OPT

	struct mcs_loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->max_body = max_body;
	l->zc_threshold = zc_threshold;
	l->busy_poll_ns = (uint64_t)MCS_MIN(busy_poll_us, 1000000u) * 1000;
	link_init(&l->kicks);
	link_init(&l->conns);
	link_init(&l->closing);
	link_init(&l->ready);
	link_init(&l->listeners);
	link_init(&l->timers);
	link_init(&l->signals);

	/* Newer setup flags first (SUBMIT_ALL: one bad SQE does not hold back
	 * the rest; COOP_TASKRUN: no IPIs, we always enter the kernel to
	 * wait), then fall back for older kernels. A larger CQ absorbs bursts
	 * of completions from many connections. */
	static const unsigned flag_sets[] = {
		IORING_SETUP_SUBMIT_ALL | IORING_SETUP_COOP_TASKRUN,
		0,
	};
	int r = -EINVAL;
	for (size_t i = 0; i < MCS_ARRAY_SIZE(flag_sets); i++) {
		struct io_uring_params p;
		memset(&p, 0, sizeof(p));
		p.flags = flag_sets[i] | IORING_SETUP_CQSIZE | IORING_SETUP_CLAMP;
		p.cq_entries = entries * 4;
		r = io_uring_queue_init_params(entries, &l->ring, &p);
		if (r != -EINVAL)
			break;
	}
	if (r < 0) {
		free(l);
		return r;
	}
	*ret = l;
	return 0;
}

MCS_EXPORT int mcs_loop_run(struct mcs_loop *l)
{
	int r = 0;

	while (!l->exit_requested) {
		run_ready(l);
		if (l->exit_requested)
			break;
		if (l->inflight == 0) {
			/* Nothing can ever complete: waiting would hang. */
			r = -EDEADLK;
			break;
		}
		r = wait_and_reap(l);
		if (r < 0)
			break;
		run_ready(l);
	}
	/* Hand queued work (e.g. a last reply) to the kernel before returning. */
	flush_kicks(l);
	io_uring_submit(&l->ring);
	l->exit_requested = false;
	return r < 0 ? r : l->exit_code;
}

MCS_EXPORT void mcs_loop_exit(struct mcs_loop *l, int code)
{
	l->exit_requested = true;
	l->exit_code = code;
}

MCS_EXPORT struct mcs_loop *mcs_loop_free(struct mcs_loop *l)
{
	if (!l)
		return NULL;
	l->freeing = true;

	/* 1: connections, while timers etc. still exist, since on_close may
	 * touch them (and may even add connections, closed in turn). */
	while (!l->broken && !(link_empty(&l->conns) && link_empty(&l->closing) && link_empty(&l->ready))) {
		while (!link_empty(&l->conns))
			conn_fail(link_entry(l->conns.next, struct mcs_conn, link), 0);
		run_ready(l);
		if (!link_empty(&l->closing) && wait_and_reap(l) < 0)
			l->broken = true;
	}

	/* 2: everything else, then drain the ring. */
	while (!link_empty(&l->timers))
		mcs_timer_free(link_entry(l->timers.next, struct mcs_timer, link));
	for (struct link *n = l->listeners.next, *next; n != &l->listeners; n = next) {
		next = n->next;
		listener_close(link_entry(n, struct listener, link));
	}
	for (struct link *n = l->signals.next, *next; n != &l->signals; n = next) {
		next = n->next;
		sigsrc_close(link_entry(n, struct sigsrc, link));
	}
	while (!l->broken && l->inflight > 0) {
		if (wait_and_reap(l) < 0)
			l->broken = true;
		run_ready(l);
	}

	if (l->broken) {
		/* The kernel may still own buffers of unfinished ops: run the
		 * promised on_close calls, leak what might be referenced. */
		while (!link_empty(&l->conns))
			conn_fail(link_entry(l->conns.next, struct mcs_conn, link), 0);
		while (!link_empty(&l->ready))
			conn_finalize(link_entry(l->ready.next, struct mcs_conn, link), false);
		while (!link_empty(&l->closing))
			conn_finalize(link_entry(l->closing.next, struct mcs_conn, link), true);
	}
	io_uring_queue_exit(&l->ring);
	free(l);
	return NULL;
}
