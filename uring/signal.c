/* SPDX-License-Identifier: MIT */
/*
 * Signals of the loop (see ring.h): the set is blocked in the calling
 * thread and read from a signalfd by a ring read, re-armed after each
 * signal (with a poll first on kernels that answer a non-blocking read
 * with -EAGAIN instead of waiting).
 */
#include <pthread.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/util.h"
#include "uring/loop-internal.h"
#include "uring/ring.h"

struct sigsrc {
	struct mcs_loop *loop;
	struct mcs_source src;      /* on loop->sources until released */
	int fd;
	mcs_signal_fn fn;
	void *userdata;
	unsigned inflight;
	bool closed;
	struct mcs_op *armed;       /* read_op or poll_op while one is in flight */
	struct mcs_op read_op, poll_op, cancel_op;
	struct signalfd_siginfo si;
};

static void sigsrc_release(struct sigsrc *s)
{
	mcs_list_del(&s->src.link);
	close(s->fd);
	free(s);
}

/* true if s was released */
static bool sigsrc_op_done(struct sigsrc *s)
{
	s->inflight--;
	if (s->closed && s->inflight == 0) {
		sigsrc_release(s);
		return true;
	}
	return false;
}

static int sigsrc_arm(struct sigsrc *s, struct mcs_op *op)
{
	struct io_uring_sqe *sqe = mcs_loop_sqe(s->loop);
	if (!sqe)
		return -EBUSY;
	if (op == &s->read_op)
		io_uring_prep_read(sqe, s->fd, &s->si, sizeof(s->si), 0);
	else
		io_uring_prep_poll_add(sqe, s->fd, POLLIN);
	mcs_loop_own(s->loop, sqe, op, &s->inflight);
	s->armed = op;
	return 0;
}

static void sigsrc_on_read(struct mcs_op *op, int res, uint32_t flags)
{
	struct sigsrc *s = op->owner;
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

static void sigsrc_on_poll(struct mcs_op *op, int res, uint32_t flags)
{
	struct sigsrc *s = op->owner;
	s->armed = NULL;
	if (sigsrc_op_done(s) || s->closed)
		return;
	if (res >= 0 || res == -EINTR)
		(void)sigsrc_arm(s, &s->read_op);
}

static void sigsrc_on_cancel(struct mcs_op *op, int res, uint32_t flags)
{
	(void)sigsrc_op_done(op->owner);
}

static void sigsrc_close(struct mcs_source *src)
{
	struct sigsrc *s = MCS_CONTAINER_OF(src, struct sigsrc, src);
	if (s->closed)
		return;
	s->closed = true;
	if (s->armed) {
		struct io_uring_sqe *sqe = mcs_loop_sqe(s->loop);
		if (sqe) {
			io_uring_prep_cancel(sqe, s->armed, 0);
			mcs_loop_own(s->loop, sqe, &s->cancel_op, &s->inflight);
		}
	}
	if (s->inflight == 0)
		sigsrc_release(s);
}

int mcs_loop_add_signals(struct mcs_loop *l, const sigset_t *set, mcs_signal_fn fn, void *userdata)
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
	s->src.close = sigsrc_close;
	s->read_op = (struct mcs_op){ sigsrc_on_read, s };
	s->poll_op = (struct mcs_op){ sigsrc_on_poll, s };
	s->cancel_op = (struct mcs_op){ sigsrc_on_cancel, s };
	r = sigsrc_arm(s, &s->read_op);
	if (r < 0) {
		close(s->fd);
		free(s);
		return r;
	}
	mcs_list_add_tail(&l->sources, &s->src.link);
	return 0;
}
