/* SPDX-License-Identifier: MIT */
/*
 * The ordered send queue of a connection (internal to uring/): bytes to
 * send on a stream, strictly in the order they were queued, with the one
 * send the stream allows in flight. It knows bytes, not frames: its owner
 * (conn.c) writes frames into the room it reserves.
 *
 * Entries are copies (small ones coalesced into shared chunks), copies
 * carrying an fd to pass with their first byte, or references to the
 * caller's memory (never copied, done called once the kernel has the
 * bytes, or failed). Sends start from the turn (the stream's kick), not
 * when something is queued, and one SENDMSG takes up to MCS_SENDQ_GATHER
 * consecutive entries.
 */
#ifndef MCS_SENDQ_H
#define MCS_SENDQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "uring/stream.h"

#define MCS_SENDQ_GATHER 64         /* queued entries one SENDMSG may take */

struct mcs_conn;
/* A reference's outcome, told to the queue's owner: the same type as
 * mcs_io_done_fn (uring/conn.h). */
typedef void (*mcs_sendq_done_fn)(struct mcs_conn *c, int err, void *arg);

struct mcs_sendq {
	struct mcs_stream *s;       /* sends go out on it */
	struct mcs_conn *owner;     /* what done callbacks are given */
	uint32_t zc_threshold;      /* references this long go as SEND_ZC; 0: never */
	struct mcs_list ents;       /* queued entries, sent strictly in order */
	size_t bytes;               /* queued, not yet sent */
	unsigned nents;             /* entries the armed send covers */
	struct msghdr msg;          /* a gathered SENDMSG: must stay put until its CQE */
	struct iovec iov[MCS_SENDQ_GATHER];
};

void mcs_sendq_init(struct mcs_sendq *q, struct mcs_stream *s, struct mcs_conn *owner, uint32_t zc_threshold);
/* Room for n more bytes at the end of the queue, to be filled at once. An
 * fd >= 0 is passed with the first of them and owned by the queue from
 * then on. NULL on -ENOMEM, with the queue unchanged. */
uint8_t *mcs_sendq_reserve(struct mcs_sendq *q, size_t n, int fd);
/* Queue len bytes at p, not copied: done(owner, err, arg) once sent (0) or
 * failed (< 0); done may be NULL. 0 or -ENOMEM. */
int mcs_sendq_add_ref(struct mcs_sendq *q, const void *p, size_t len, mcs_sendq_done_fn done, void *arg);
/* Something was queued: have the stream send it before the turn submits
 * (inline: once per frame queued). */
static inline void mcs_sendq_kick(struct mcs_sendq *q)
{
	struct mcs_stream *s = q->s;
	if (!s->send_armed && !s->connecting && !mcs_list_empty(&q->ents))
		mcs_stream_kick(s);
}

/* The stream's kick: arm the next send, if any is due. 0 or -EBUSY. */
int mcs_sendq_start(struct mcs_sendq *q);
/* The stream's on_sent: n bytes from the head on are gone. */
void mcs_sendq_sent(struct mcs_sendq *q, size_t n);
/* The stream is finalized: every entry left reports err; with leak, the
 * copies stay allocated (the kernel may still read them). */
void mcs_sendq_drop(struct mcs_sendq *q, int err, bool leak);

#endif
