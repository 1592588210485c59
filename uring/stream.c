/* SPDX-License-Identifier: MIT */
/*
 * Stream sockets on the ring (see stream.h): the SQEs of connect, recv and
 * send, what their completions mean, and the way out.
 *
 * Closing cancels what is in flight and moves the stream to the loop's
 * closing list; the last CQE moves it to the ready list, which the turn
 * finalizes (ring.c calls mcs_streams_finalize), so the owner's end never
 * runs from inside mcs_stream_close or one of its own callbacks.
 *
 * A connect creates the stream in a "connecting" state: no I/O is armed
 * until an IORING_OP_CONNECT (linked to an IORING_OP_LINK_TIMEOUT when
 * there is a time limit) completes it.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uring/stream.h"

static void stream_ready(struct mcs_stream *s)
{
	s->state = MCS_STREAM_READY;
	mcs_list_move_tail(&s->loop->ready, &s->link);
}

static void stream_op_done(struct mcs_stream *s)
{
	s->inflight--;
	if (s->state == MCS_STREAM_CLOSING && s->inflight == 0)
		stream_ready(s);
}

static bool transient(int res)
{
	return res == -EINTR || res == -EAGAIN || res == -ENOBUFS;
}

static void stream_on_recv(struct mcs_op *op, int res, uint32_t flags)
{
	struct mcs_stream *s = op->owner;
	s->recv_armed = false;
	stream_op_done(s);
	if (!mcs_stream_live(s))
		return;
	if (transient(res)) {
		res = 0;        /* nothing moved: arm again */
	} else if (res <= 0) {
		mcs_stream_close(s, res);       /* an error, or 0: EOF */
		return;
	}
	s->ops->on_recv(s, (size_t)res);
}

static void stream_on_send(struct mcs_op *op, int res, uint32_t flags)
{
	struct mcs_stream *s = op->owner;
	if (flags & IORING_CQE_F_MORE) {
		/* SEND_ZC result: the memory stays the kernel's, and the send
		 * slot busy, until the notification. */
		s->zc_res = res;
		s->zc_more = true;
		return;
	}
	if (s->zc_more)
		res = s->zc_res;        /* this is the notification */
	bool zc = s->send_zc;
	s->send_armed = false;
	s->send_zc = false;
	s->zc_more = false;
	stream_op_done(s);
	if (!mcs_stream_live(s))
		return;
	if (zc && (res == -EOPNOTSUPP || res == -EINVAL)) {
		s->no_zc = true;        /* no zero-copy on this socket: the same bytes, plain */
		res = 0;
	} else if (transient(res)) {
		res = 0;                /* resubmit the same bytes */
	} else if (res <= 0) {
		/* Sends are never empty: no progress means a dead socket. */
		mcs_stream_close(s, res < 0 ? res : -EIO);
		return;
	}
	s->ops->on_sent(s, (size_t)res);
}

static void stream_on_connect(struct mcs_op *op, int res, uint32_t flags)
{
	struct mcs_stream *s = op->owner;
	s->connect_armed = false;
	stream_op_done(s);
	if (!mcs_stream_live(s))
		return;
	if (res < 0) {
		/* Live, so not cancelled by us: by the linked timeout. */
		mcs_stream_close(s, res == -ECANCELED ? -ETIMEDOUT : res);
		return;
	}
	s->connecting = false;
	s->ops->on_connect(s);
}

/* -ETIME: the timeout fired and the connect fails with -ECANCELED;
 * -ECANCELED: the connect finished first. Nothing to do. */
static void stream_on_connect_timeout(struct mcs_op *op, int res, uint32_t flags)
{
	stream_op_done(op->owner);
}

static void stream_on_cancel(struct mcs_op *op, int res, uint32_t flags)
{
	struct mcs_stream *s = op->owner;
	/* -EALREADY: the op is executing and cannot be stopped; shutting the
	 * socket down makes it complete. */
	if (res == -EALREADY && s->fd >= 0)
		shutdown(s->fd, SHUT_RDWR);
	stream_op_done(s);
}

void mcs_stream_init(struct mcs_stream *s, struct mcs_loop *l, int fd, const struct mcs_stream_ops *ops)
{
	memset(s, 0, sizeof(*s));
	s->loop = l;
	s->ops = ops;
	s->fd = fd;
	s->state = MCS_STREAM_LIVE;
	s->recv_op = (struct mcs_op){ stream_on_recv, s };
	s->send_op = (struct mcs_op){ stream_on_send, s };
	s->cancel_op = (struct mcs_op){ stream_on_cancel, s };
	s->connect_op = (struct mcs_op){ stream_on_connect, s };
	s->ctimeout_op = (struct mcs_op){ stream_on_connect_timeout, s };
	mcs_list_init(&s->link);
	mcs_list_init(&s->kick);
}

void mcs_stream_start(struct mcs_stream *s)
{
	mcs_list_add_tail(&s->loop->streams, &s->link);
}

int mcs_stream_nodelay(int fd)
{
	int domain = 0, one = 1;
	socklen_t len = sizeof(domain);
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0)
		return -errno;
	if (domain != AF_INET && domain != AF_INET6)
		return 0;
	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) < 0 ? -errno : 0;
}

int mcs_stream_socket(int family)
{
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = mcs_stream_nodelay(fd);
	if (r < 0) {
		close(fd);
		return r;
	}
	return fd;
}

int mcs_stream_connect(struct mcs_stream *s, const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms)
{
	struct mcs_loop *l = s->loop;
	memcpy(&s->addr, sa, salen);
	s->addrlen = salen;

	/* A linked pair must reach the kernel together: make room for both
	 * first, so mcs_loop_sqe cannot submit the first one alone. */
	unsigned need = timeout_ms > 0 ? 2 : 1;
	if (io_uring_sq_space_left(&l->ring) < need)
		(void)io_uring_submit(&l->ring);
	struct io_uring_sqe *sqe = io_uring_sq_space_left(&l->ring) >= need ? mcs_loop_sqe(l) : NULL;
	if (!sqe)
		return -EBUSY;
	io_uring_prep_connect(sqe, s->fd, (struct sockaddr *)&s->addr, s->addrlen);
	mcs_loop_own(l, sqe, &s->connect_op, &s->inflight);
	if (timeout_ms > 0) {
		sqe->flags |= IOSQE_IO_LINK;
		s->connect_ts.tv_sec = timeout_ms / 1000;
		s->connect_ts.tv_nsec = (long long)(timeout_ms % 1000) * 1000000;
		struct io_uring_sqe *tsqe = mcs_loop_sqe(l);     /* cannot fail: room was made */
		io_uring_prep_link_timeout(tsqe, &s->connect_ts, 0);
		mcs_loop_own(l, tsqe, &s->ctimeout_op, &s->inflight);
	}
	s->connecting = true;
	s->connect_armed = true;
	mcs_stream_start(s);
	return 0;
}

int mcs_stream_recv(struct mcs_stream *s, void *buf, size_t len, int flags)
{
	struct io_uring_sqe *sqe = mcs_loop_sqe(s->loop);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_recv(sqe, s->fd, buf, len, flags);
	mcs_loop_own(s->loop, sqe, &s->recv_op, &s->inflight);
	s->recv_armed = true;
	return 0;
}

static void stream_sending(struct mcs_stream *s, struct io_uring_sqe *sqe, bool zc)
{
	mcs_loop_own(s->loop, sqe, &s->send_op, &s->inflight);
	s->send_armed = true;
	s->send_zc = zc;
}

int mcs_stream_send(struct mcs_stream *s, const void *buf, size_t len, int flags)
{
	struct io_uring_sqe *sqe = mcs_loop_sqe(s->loop);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_send(sqe, s->fd, buf, len, flags | MSG_NOSIGNAL);
	stream_sending(s, sqe, false);
	return 0;
}

int mcs_stream_sendmsg(struct mcs_stream *s, const struct msghdr *msg, int flags)
{
	struct io_uring_sqe *sqe = mcs_loop_sqe(s->loop);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_sendmsg(sqe, s->fd, msg, (unsigned)(flags | MSG_NOSIGNAL));
	stream_sending(s, sqe, false);
	return 0;
}

/* One SQE for the whole range: the kernel loops over short sends itself
 * (with MSG_WAITALL). */
int mcs_stream_send_zc(struct mcs_stream *s, const void *buf, size_t len, int flags)
{
	struct io_uring_sqe *sqe = mcs_loop_sqe(s->loop);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_send_zc(sqe, s->fd, buf, len, flags | MSG_NOSIGNAL, 0);
	stream_sending(s, sqe, true);
	return 0;
}

static void stream_cancel(struct mcs_stream *s, struct mcs_op *target)
{
	struct io_uring_sqe *sqe = mcs_loop_sqe(s->loop);
	if (!sqe) {
		/* No SQE: shutting the socket down completes the op as well. */
		shutdown(s->fd, SHUT_RDWR);
		return;
	}
	io_uring_prep_cancel(sqe, target, 0);
	mcs_loop_own(s->loop, sqe, &s->cancel_op, &s->inflight);
}

void mcs_stream_close(struct mcs_stream *s, int err)
{
	if (!mcs_stream_live(s))
		return;
	if (mcs_list_linked(&s->kick)) {
		/* What was due before the close goes out before it (an error
		 * answer before a hang-up), as if sent at once. */
		mcs_list_del(&s->kick);
		(void)s->ops->kick(s);
		/* a done callback run by the kick may have queued more (and
		 * made the kick due again) or closed the stream already */
		mcs_list_del(&s->kick);
		if (!mcs_stream_live(s)) {
			if (err < 0 && s->close_err == 0)
				s->close_err = err;
			return;
		}
	}
	s->state = MCS_STREAM_CLOSING;
	s->close_err = err;
	mcs_list_move_tail(&s->loop->closing, &s->link);
	if (s->recv_armed)
		stream_cancel(s, &s->recv_op);
	if (s->send_armed) {
		if (!s->zc_more)
			stream_cancel(s, &s->send_op);
		if (s->send_zc) {
			/* A SEND_ZC's notification waits until the kernel frees
			 * the data it queued, which a peer that does not read
			 * can put off forever: drop the queued data (TCP
			 * disconnect, the peer gets a reset). */
			struct sockaddr unspec = { .sa_family = AF_UNSPEC };
			(void)connect(s->fd, &unspec, sizeof(unspec));
		}
	}
	if (s->connect_armed)
		stream_cancel(s, &s->connect_op);
	if (s->inflight == 0)
		stream_ready(s);
}

static void stream_finalize(struct mcs_stream *s, bool leak)
{
	mcs_list_del(&s->link);
	mcs_list_del(&s->kick);
	s->state = MCS_STREAM_DONE;
	if (s->fd >= 0)
		close(s->fd);
	s->fd = -1;
	s->ops->finalize(s, leak);
}

void mcs_streams_kick(struct mcs_loop *l)
{
	/* take from the head: a kick may close other streams (unlinking them) */
	while (!mcs_list_empty(&l->kicks)) {
		struct mcs_stream *s = mcs_list_entry(l->kicks.next, struct mcs_stream, kick);
		mcs_list_del(&s->kick);
		int r = s->ops->kick(s);
		if (r < 0)
			mcs_stream_close(s, r);
	}
}

/* Owners' ends may close more streams: take one at a time from the head. */
void mcs_streams_finalize(struct mcs_loop *l)
{
	while (!mcs_list_empty(&l->ready))
		stream_finalize(mcs_list_entry(l->ready.next, struct mcs_stream, link), false);
}

void mcs_streams_close(struct mcs_loop *l)
{
	while (!mcs_list_empty(&l->streams))
		mcs_stream_close(mcs_list_entry(l->streams.next, struct mcs_stream, link), 0);
}

bool mcs_streams_exist(const struct mcs_loop *l)
{
	return !(mcs_list_empty(&l->streams) && mcs_list_empty(&l->closing) && mcs_list_empty(&l->ready));
}

bool mcs_streams_closing(const struct mcs_loop *l)
{
	return !mcs_list_empty(&l->closing);
}

void mcs_streams_abandon(struct mcs_loop *l)
{
	/* The kernel may still own buffers of unfinished ops: run the promised
	 * ends, leak what might be referenced. */
	mcs_streams_close(l);
	mcs_streams_finalize(l);
	while (!mcs_list_empty(&l->closing))
		stream_finalize(mcs_list_entry(l->closing.next, struct mcs_stream, link), true);
}
