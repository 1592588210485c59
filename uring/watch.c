/* SPDX-License-Identifier: MIT */
/*
 * A watch on a file descriptor's end (see ring.h): one ring poll for
 * readability or hang-up, which on the read end of a pipe fires when the
 * last writer is gone; the callback runs once. The source owns the fd.
 */
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"
#include "uring/loop-internal.h"
#include "uring/ring.h"

struct watch {
	struct mcs_loop *loop;
	struct mcs_source src;      /* on loop->sources until released */
	int fd;
	mcs_watch_fn fn;
	void *userdata;
	unsigned inflight;
	bool closed, fired;
	struct mcs_op poll_op, cancel_op;
};

static void watch_release(struct watch *w)
{
	mcs_list_del(&w->src.link);
	close(w->fd);
	free(w);
}

static void watch_op_done(struct watch *w)
{
	w->inflight--;
	if (w->closed && w->inflight == 0)
		watch_release(w);
}

static void watch_on_poll(struct mcs_op *op, int res, uint32_t flags)
{
	struct watch *w = op->owner;
	w->fired = true;
	bool run = !w->closed && !w->loop->freeing && res != -ECANCELED;
	if (run)
		w->fn(w->loop, w->userdata);
	watch_op_done(w);
}

static void watch_on_cancel(struct mcs_op *op, int res, uint32_t flags)
{
	watch_op_done(op->owner);
}

static void watch_close(struct mcs_source *src)
{
	struct watch *w = MCS_CONTAINER_OF(src, struct watch, src);
	if (w->closed)
		return;
	w->closed = true;
	if (!w->fired) {
		struct io_uring_sqe *sqe = mcs_loop_sqe(w->loop);
		if (sqe) {
			io_uring_prep_poll_remove(sqe, (uint64_t)(uintptr_t)&w->poll_op);
			mcs_loop_own(w->loop, sqe, &w->cancel_op, &w->inflight);
		}
	}
	if (w->inflight == 0)
		watch_release(w);
}

int mcs_loop_watch_end(struct mcs_loop *l, int fd, mcs_watch_fn fn, void *userdata)
{
	if (!l || fd < 0 || !fn)
		return -EINVAL;
	struct watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	struct io_uring_sqe *sqe = mcs_loop_sqe(l);
	if (!sqe) {
		free(w);
		return -EBUSY;
	}
	w->loop = l;
	w->fd = fd;
	w->fn = fn;
	w->userdata = userdata;
	w->src.close = watch_close;
	w->poll_op = (struct mcs_op){ watch_on_poll, w };
	w->cancel_op = (struct mcs_op){ watch_on_cancel, w };
	io_uring_prep_poll_add(sqe, fd, POLLIN | POLLRDHUP);
	mcs_loop_own(l, sqe, &w->poll_op, &w->inflight);
	mcs_list_add_tail(&l->sources, &w->src.link);
	return 0;
}
