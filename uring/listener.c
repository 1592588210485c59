/* SPDX-License-Identifier: MIT */
/*
 * Listening sockets on the ring (see listener.h): one multishot accept
 * (a plain accept re-armed after each one on kernels before 5.19). An
 * accept that fails for lack of descriptors or memory pauses the listener
 * for ACCEPT_PAUSE_NS, a ring timeout, and tells the callback, instead of
 * failing or spinning on the error.
 */
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "uring/listener.h"
#include "uring/loop-internal.h"

#define ACCEPT_PAUSE_NS (100ull * 1000 * 1000)

struct listener {
	struct mcs_loop *loop;
	struct mcs_source src;      /* on loop->sources until released */
	int fd;
	mcs_listener_fn fn;
	void *userdata;
	void (*destroy)(void *userdata);
	unsigned inflight;
	bool accept_armed, paused, closed;
	bool multishot;             /* cleared if the kernel refuses it */
	struct mcs_op accept_op, pause_op, cancel_op;
	struct __kernel_timespec pause_ts;
};

static void listener_release(struct listener *ls)
{
	mcs_list_del(&ls->src.link);
	close(ls->fd);
	if (ls->destroy)
		ls->destroy(ls->userdata);
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
	struct io_uring_sqe *sqe = mcs_loop_sqe(ls->loop);
	if (!sqe)
		return -EBUSY;
	if (ls->multishot)
		io_uring_prep_multishot_accept(sqe, ls->fd, NULL, NULL, SOCK_CLOEXEC);
	else
		io_uring_prep_accept(sqe, ls->fd, NULL, NULL, SOCK_CLOEXEC);
	mcs_loop_own(ls->loop, sqe, &ls->accept_op, &ls->inflight);
	ls->accept_armed = true;
	return 0;
}

static int listener_pause(struct listener *ls)
{
	struct io_uring_sqe *sqe = mcs_loop_sqe(ls->loop);
	if (!sqe)
		return -EBUSY;
	ls->pause_ts.tv_sec = 0;
	ls->pause_ts.tv_nsec = (long long)ACCEPT_PAUSE_NS;
	io_uring_prep_timeout(sqe, &ls->pause_ts, 0, 0);
	mcs_loop_own(ls->loop, sqe, &ls->pause_op, &ls->inflight);
	ls->paused = true;
	return 0;
}

static void listener_on_accept(struct mcs_op *op, int res, uint32_t flags)
{
	struct listener *ls = op->owner;
	bool more = flags & IORING_CQE_F_MORE;

	if (res >= 0) {
		if (ls->closed || ls->loop->freeing)
			close(res);
		else
			ls->fn(ls->loop, res, ls->userdata);
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
		if (!ls->loop->freeing)
			ls->fn(ls->loop, res, ls->userdata);
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

static void listener_on_pause(struct mcs_op *op, int res, uint32_t flags)
{
	struct listener *ls = op->owner;
	ls->paused = false;
	if (listener_op_done(ls) || ls->closed)
		return;
	(void)listener_arm(ls);
}

static void listener_on_cancel(struct mcs_op *op, int res, uint32_t flags)
{
	(void)listener_op_done(op->owner);
}

static void listener_close(struct mcs_source *src)
{
	struct listener *ls = MCS_CONTAINER_OF(src, struct listener, src);
	struct mcs_loop *l = ls->loop;
	if (ls->closed)
		return;
	ls->closed = true;
	if (ls->accept_armed) {
		struct io_uring_sqe *sqe = mcs_loop_sqe(l);
		if (sqe) {
			io_uring_prep_cancel(sqe, &ls->accept_op, 0);
			mcs_loop_own(l, sqe, &ls->cancel_op, &ls->inflight);
		} else {
			shutdown(ls->fd, SHUT_RDWR);    /* wakes the accept with an error */
		}
	}
	if (ls->paused) {
		struct io_uring_sqe *sqe = mcs_loop_sqe(l);
		if (sqe) {
			io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&ls->pause_op, 0);
			mcs_loop_own(l, sqe, &ls->cancel_op, &ls->inflight);
		}       /* else the pause simply runs out */
	}
	if (ls->inflight == 0)
		listener_release(ls);
}

static struct listener *listener_init(struct listener *ls, struct mcs_loop *l, int fd, mcs_listener_fn fn,
				      void *userdata, void (*destroy)(void *userdata))
{
	ls->loop = l;
	ls->fd = fd;
	ls->fn = fn;
	ls->userdata = userdata;
	ls->destroy = destroy;
	ls->multishot = true;
	ls->src.close = listener_close;
	ls->accept_op = (struct mcs_op){ listener_on_accept, ls };
	ls->pause_op = (struct mcs_op){ listener_on_pause, ls };
	ls->cancel_op = (struct mcs_op){ listener_on_cancel, ls };
	return ls;
}

int mcs_listener_add(struct mcs_loop *l, int listen_fd, mcs_listener_fn fn, void *userdata,
		     void (*destroy)(void *userdata))
{
	struct listener *ls = NULL;
	int r;
	if (!l || listen_fd < 0 || !fn)
		r = -EINVAL;
	else if (!(ls = calloc(1, sizeof(*ls))))
		r = -ENOMEM;
	else
		r = listener_arm(listener_init(ls, l, listen_fd, fn, userdata, destroy));
	if (r == 0) {
		mcs_list_add_tail(&l->sources, &ls->src.link);
		return 0;
	}
	free(ls);
	if (listen_fd >= 0)
		close(listen_fd);
	if (destroy)
		destroy(userdata);
	return r;
}
