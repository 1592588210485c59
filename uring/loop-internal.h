/* SPDX-License-Identifier: MIT */
/*
 * The inside of the loop, for the files of uring/ only: the loop's state,
 * the operation record every SQE points at, and getting an SQE.
 *
 * Every SQE carries in user_data a pointer to a struct mcs_op embedded in
 * its owner (a stream, listener, timer, signal source). An owner counts its
 * ops still waiting for their final CQE and is never freed before that
 * count is back to zero, so a CQE never points at freed memory, and a
 * cancel/remove keyed by an op's address can never hit a recycled one.
 * The ring (ring.c) hands each CQE to op->complete and knows nothing else
 * of the owners.
 */
#ifndef MCS_LOOP_INTERNAL_H
#define MCS_LOOP_INTERNAL_H

#include <errno.h>
#include <liburing.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/list.h"

#define MCS_CQE_BATCH 128
#define MCS_SQE_RETRIES 8
#define MCS_PEER_BUCKETS 256

/* The struct of the given type that p, its member, is part of. */
#define MCS_CONTAINER_OF(p, type, member) ((type *)(void *)((char *)(p)-offsetof(type, member)))

struct mcs_op {
	/* A CQE of this op; for multishot ops every one, the last without
	 * IORING_CQE_F_MORE. */
	void (*complete)(struct mcs_op *op, int res, uint32_t flags);
	void *owner;
};

/* What the loop owns besides streams (a listener, a timer, a signal
 * source): mcs_loop_free calls close, which starts the end (cancels what
 * is in flight); the owner leaves l->sources when it is released. */
struct mcs_source {
	struct mcs_list link;       /* on loop->sources */
	void (*close)(struct mcs_source *src);
};

struct mcs_cqe_copy {
	uint64_t user_data;
	int32_t res;
	uint32_t flags;
};

struct mcs_loop {
	struct io_uring ring;
	uint64_t busy_poll_ns;      /* 0: sleep for completions at once */
	uint64_t idle_ewma_ns;      /* how long recent waits lasted (mcs_busy_idle) */
	unsigned inflight;          /* SQEs prepared whose final CQE is not reaped */
	bool exit_requested;
	int exit_code;
	bool freeing;               /* in mcs_loop_free: only on_close runs */
	bool broken;                /* the ring failed: give up waiting */
	struct mcs_list sources;    /* listeners, timers not yet freed, signal sources */
	/* streams (stream.c), on one list by state */
	struct mcs_list kicks;      /* due work before the next submit (any that
	                               stopped being live are skipped) */
	struct mcs_list streams;    /* live */
	struct mcs_list closing;    /* closed, ops still in flight */
	struct mcs_list ready;      /* closed, nothing in flight: finalize due */
	/* Settings of the framed connections above (conn.c), kept here since
	 * mcs_loop_opts carries them; the ring never reads them. */
	uint32_t max_body;          /* 0: the protocol's default */
	uint32_t zc_threshold;      /* 0: never SEND_ZC */
	uint64_t frame_timeout_ns;  /* 0: none (mcs_loop_opts.frame_timeout_ms) */
	uint64_t idle_timeout_ns;   /* 0: none */
	uint64_t max_queued;        /* 0: none (mcs_loop_opts.max_queued_bytes) */
	uint64_t max_queued_total;  /* 0: none (mcs_loop_opts.max_queued_total_bytes) */
	/* accepted TCP connections, in all and by address (peers.c) */
	unsigned max_conns, max_conns_per_peer;     /* 0: no limit */
	unsigned n_peer_conns;
	struct mcs_peer_slot *peer_buckets[MCS_PEER_BUCKETS];
	uint64_t refuse_log_ns;     /* the last refusal said */
	unsigned refused_quiet;     /* refusals since, not said */
	struct mcs_timer *conn_sweep; /* checks the two above, made with the first conn */
	void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	struct mcs_cqe_copy batch[MCS_CQE_BATCH];
};

/* An SQE; a full SQ is flushed to the kernel first. NULL only if the ring
 * refuses submissions repeatedly. */
static inline struct io_uring_sqe *mcs_loop_sqe(struct mcs_loop *l)
{
	for (int i = 0; i < MCS_SQE_RETRIES; i++) {
		struct io_uring_sqe *sqe = io_uring_get_sqe(&l->ring);
		if (sqe)
			return sqe;
		int r = io_uring_submit(&l->ring);
		if (r < 0 && r != -EINTR && r != -EAGAIN && r != -EBUSY)
			return NULL;
	}
	return NULL;
}

/* The prepared sqe is op's: its CQEs go to op->complete; the owner counts
 * it in *owner_inflight until its final CQE. */
static inline void mcs_loop_own(struct mcs_loop *l, struct io_uring_sqe *sqe, struct mcs_op *op,
				unsigned *owner_inflight)
{
	io_uring_sqe_set_data(sqe, op);
	(*owner_inflight)++;
	l->inflight++;
}

#endif
