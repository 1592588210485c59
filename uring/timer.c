/* SPDX-License-Identifier: MIT */
/*
 * Timers of the loop (see ring.h): each an IORING_OP_TIMEOUT at an
 * absolute CLOCK_MONOTONIC deadline, re-armed after its callback when it
 * repeats. A timer freed while armed is removed from the ring (its memory
 * goes once the timeout's CQE is back); freeing from inside its own
 * callback is allowed.
 */
#include <stdlib.h>

#include "common/util.h"
#include "uring/loop-internal.h"
#include "uring/ring.h"

struct mcs_timer {
	struct mcs_loop *loop;
	struct mcs_source src;      /* on loop->sources until freed */
	mcs_timer_fn fn;
	void *userdata;
	uint64_t deadline_ns, interval_ns;
	unsigned inflight;
	bool armed, freed, in_cb, auto_free;
	struct mcs_op op, remove_op;
	struct __kernel_timespec ts;
};

static void timer_maybe_release(struct mcs_timer *t)
{
	if (t->freed && !t->in_cb && t->inflight == 0)
		free(t);
}

static int timer_arm(struct mcs_timer *t)
{
	struct io_uring_sqe *sqe = mcs_loop_sqe(t->loop);
	if (!sqe)
		return -EBUSY;
	/* Absolute CLOCK_MONOTONIC deadlines keep repeating timers from
	 * drifting by the time spent running callbacks. */
	t->ts.tv_sec = (long long)(t->deadline_ns / 1000000000ull);
	t->ts.tv_nsec = (long long)(t->deadline_ns % 1000000000ull);
	io_uring_prep_timeout(sqe, &t->ts, 0, IORING_TIMEOUT_ABS);
	mcs_loop_own(t->loop, sqe, &t->op, &t->inflight);
	t->armed = true;
	return 0;
}

static void timer_on_fire(struct mcs_op *op, int res, uint32_t flags)
{
	struct mcs_timer *t = op->owner;
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

static void timer_on_remove(struct mcs_op *op, int res, uint32_t flags)
{
	struct mcs_timer *t = op->owner;
	t->inflight--;
	timer_maybe_release(t);
}

static void timer_close(struct mcs_source *src)
{
	mcs_timer_free(MCS_CONTAINER_OF(src, struct mcs_timer, src));
}

int mcs_loop_add_timer(struct mcs_loop *l, uint64_t first_ms, uint64_t interval_ms, mcs_timer_fn fn,
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
	t->src.close = timer_close;
	t->op = (struct mcs_op){ timer_on_fire, t };
	t->remove_op = (struct mcs_op){ timer_on_remove, t };
	int r = timer_arm(t);
	if (r < 0) {
		free(t);
		return r;
	}
	mcs_list_add_tail(&l->sources, &t->src.link);
	if (ret)
		*ret = t;
	return 0;
}

void mcs_timer_free(struct mcs_timer *t)
{
	if (!t || t->freed)
		return;
	t->freed = true;
	mcs_list_del(&t->src.link);
	if (t->armed) {
		struct io_uring_sqe *sqe = mcs_loop_sqe(t->loop);
		if (sqe) {
			io_uring_prep_timeout_remove(sqe, (uint64_t)(uintptr_t)&t->op, 0);
			mcs_loop_own(t->loop, sqe, &t->remove_op, &t->inflight);
		}       /* else the memory goes when the timeout fires */
	}
	timer_maybe_release(t);
}
