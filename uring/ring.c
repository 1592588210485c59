/* SPDX-License-Identifier: MIT */
/*
 * The ring and the turn of the loop (see ring.h): setting the ring up,
 * running, and tearing down.
 *
 * A turn: finalize closed streams whose ops are all back, start the sends
 * that became due (stream kicks), submit everything prepared and wait for
 * one CQE, copy the ready CQEs out of the ring in batches, advance the CQ
 * once per batch, then hand each to its operation (op->complete). Copying
 * first frees the CQ before any callback runs, so callbacks that submit (a
 * full SQ is flushed by submitting) never contend with a full CQ.
 */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "uring/loop-internal.h"
#include "uring/ring.h"
#include "uring/stream.h"

static void dispatch(struct mcs_loop *l, const struct mcs_cqe_copy *cq)
{
	struct mcs_op *op = (struct mcs_op *)(uintptr_t)cq->user_data;

	/* Only the last CQE of a multishot op lacks F_MORE. */
	if (!(cq->flags & IORING_CQE_F_MORE))
		l->inflight--;
	if (op)
		op->complete(op, cq->res, cq->flags);
}

static void reap(struct mcs_loop *l)
{
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned head, n = 0;

		io_uring_for_each_cqe(&l->ring, head, cqe) {
			l->batch[n++] = (struct mcs_cqe_copy){ cqe->user_data, cqe->res, cqe->flags };
			if (n == MCS_CQE_BATCH)
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
 * and only while recent waits were shorter than its budget (requests
 * arriving closer together than a wake-up costs: mcs_busy_should_spin),
 * first enter the kernel without sleeping (which also runs the task work
 * that COOP_TASKRUN defers to the next entry) until a CQE shows up or the
 * budget is spent; an idle loop sleeps at once. */
static int wait_and_reap(struct mcs_loop *l)
{
	mcs_streams_kick(l);
	uint64_t t0 = l->busy_poll_ns ? mcs_now_ns() : 0;
	if (mcs_busy_should_spin(l->idle_ewma_ns, l->busy_poll_ns)) {
		uint64_t end = t0 + l->busy_poll_ns;
		do {
			int r = io_uring_submit_and_get_events(&l->ring);
			if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
				return r;
			if (io_uring_cq_ready(&l->ring)) {
				l->idle_ewma_ns = mcs_busy_idle(l->idle_ewma_ns, mcs_now_ns() - t0, l->busy_poll_ns);
				reap(l);
				return 0;
			}
		} while (mcs_now_ns() < end);
	}
	int r = io_uring_submit_and_wait(&l->ring, 1);
	if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY && r != -ETIME)
		return r;
	if (l->busy_poll_ns)
		l->idle_ewma_ns = mcs_busy_idle(l->idle_ewma_ns, mcs_now_ns() - t0, l->busy_poll_ns);
	reap(l);
	return 0;
}

int mcs_loop_new(const struct mcs_loop_opts *opts, struct mcs_loop **ret)
{
	if (!ret)
		return -EINVAL;
#define OPT(f, dflt)                                                                               \
	(opts && opts->size >= offsetof(struct mcs_loop_opts, f) + sizeof(opts->f) && opts->f ? opts->f : (dflt))
	unsigned entries = OPT(entries, 256u);
	uint32_t max_body = OPT(max_body, 0u);
	uint32_t zc_threshold = OPT(zc_threshold, 0u);
	unsigned busy_poll_us = OPT(busy_poll_us, 0u);
	uint64_t frame_timeout_ms = OPT(frame_timeout_ms, 0u);
	uint64_t idle_timeout_ms = OPT(idle_timeout_ms, 0u);
	uint64_t max_queued = OPT(max_queued_bytes, 0u);
	uint64_t max_queued_total = OPT(max_queued_total_bytes, 0u);
	unsigned max_conns = OPT(max_conns, 0u);
	unsigned max_conns_per_peer = OPT(max_conns_per_peer, 0u);
	void (*log)(int, const char *, ...) = OPT(log, NULL);
#undef OPT

	struct mcs_loop *l = calloc(1, sizeof(*l));
	if (!l)
		return -ENOMEM;
	l->max_body = max_body;
	l->zc_threshold = zc_threshold;
	l->busy_poll_ns = (uint64_t)MCS_MIN(busy_poll_us, 1000000u) * 1000;
	l->frame_timeout_ns = MCS_MIN(frame_timeout_ms, (uint64_t)UINT32_MAX) * 1000000ull;
	l->idle_timeout_ns = MCS_MIN(idle_timeout_ms, (uint64_t)UINT32_MAX) * 1000000ull;
	l->max_queued = max_queued;
	l->max_queued_total = max_queued_total;
	l->max_conns = max_conns;
	l->max_conns_per_peer = max_conns_per_peer;
	l->log = log;
	mcs_list_init(&l->sources);
	mcs_list_init(&l->kicks);
	mcs_list_init(&l->streams);
	mcs_list_init(&l->closing);
	mcs_list_init(&l->ready);

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

int mcs_loop_run(struct mcs_loop *l)
{
	int r = 0;

	while (!l->exit_requested) {
		mcs_streams_finalize(l);
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
		mcs_streams_finalize(l);
	}
	/* Hand queued work (e.g. a last reply) to the kernel before returning. */
	mcs_streams_kick(l);
	io_uring_submit(&l->ring);
	l->exit_requested = false;
	return r < 0 ? r : l->exit_code;
}

void mcs_loop_exit(struct mcs_loop *l, int code)
{
	l->exit_requested = true;
	l->exit_code = code;
}

struct mcs_loop *mcs_loop_free(struct mcs_loop *l)
{
	if (!l)
		return NULL;
	l->freeing = true;

	/* 1: streams (connections), while timers etc. still exist, since
	 * on_close may touch them (and may even add connections, closed in
	 * turn). */
	while (!l->broken && mcs_streams_exist(l)) {
		mcs_streams_close(l);
		mcs_streams_finalize(l);
		if (mcs_streams_closing(l) && wait_and_reap(l) < 0)
			l->broken = true;
	}

	/* 2: everything else (which only cancels: no callback runs), then
	 * drain the ring. */
	struct mcs_list *n, *next;
	mcs_list_for_each_safe(n, next, &l->sources) {
		struct mcs_source *src = mcs_list_entry(n, struct mcs_source, link);
		src->close(src);
	}
	while (!l->broken && l->inflight > 0) {
		if (wait_and_reap(l) < 0)
			l->broken = true;
		mcs_streams_finalize(l);
	}

	if (l->broken)
		mcs_streams_abandon(l);
	io_uring_queue_exit(&l->ring);
	free(l);
	return NULL;
}
