/* SPDX-License-Identifier: MIT */
/*
 * A stream socket on the ring, knowing bytes only (internal to uring/):
 * an optional connect first, then at most one recv and one send in flight,
 * and the way out. Its owner (a framed connection) embeds it, chooses what
 * to receive and send, and hears of results through mcs_stream_ops.
 *
 * Lifetime: live from mcs_stream_init; mcs_stream_start puts it on the
 * loop. mcs_stream_close cancels whatever is in flight (closing); once
 * every op is back the turn finalizes it (the fd is closed, then
 * ops->finalize runs), so never from inside mcs_stream_close or a
 * callback. The owner frees the memory.
 *
 * Failures close the stream: a recv or send that fails, EOF, a send that
 * moves nothing, a connect that fails or times out. The owner learns why
 * in finalize (s->close_err); on_recv and on_sent only count bytes, 0 for
 * a transient failure (the owner arms again).
 */
#ifndef MCS_STREAM_H
#define MCS_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "uring/loop-internal.h"

/* sqe->len is 32 bits: one op moves at most this much (well below). */
#define MCS_STREAM_IO_MAX (1u << 30)

enum mcs_stream_state {
	MCS_STREAM_LIVE,
	MCS_STREAM_CLOSING,   /* closed, ops in flight */
	MCS_STREAM_READY,     /* closed, nothing in flight: finalize due */
	MCS_STREAM_DONE,      /* finalized */
};

struct mcs_stream;

struct mcs_stream_ops {
	/* The armed recv completed with n bytes (0: none, arm again). */
	void (*on_recv)(struct mcs_stream *s, size_t n);
	/* The armed send completed with n bytes sent (0: none, arm again);
	 * a SEND_ZC only once the kernel has let go of the memory. */
	void (*on_sent)(struct mcs_stream *s, size_t n);
	/* mcs_stream_connect succeeded: I/O may start. */
	void (*on_connect)(struct mcs_stream *s);
	/* The work mcs_stream_kick made due, run right before the turn
	 * submits, or at once when the stream is closed first; < 0 closes
	 * it (there). */
	int (*kick)(struct mcs_stream *s);
	/* The end: closed, nothing in flight, fd closed. leak: the ring
	 * failed and the kernel may still use the owner's buffers. */
	void (*finalize)(struct mcs_stream *s, bool leak);
};

struct mcs_stream {
	struct mcs_loop *loop;      /* dangling once the loop is freed: only used while not DONE */
	const struct mcs_stream_ops *ops;
	struct mcs_list link;       /* on loop->streams, ->closing or ->ready by state */
	struct mcs_list kick;       /* on loop->kicks while ops->kick is due */
	enum mcs_stream_state state;
	int fd;
	int close_err;
	unsigned inflight;
	bool recv_armed, send_armed;
	bool send_zc;               /* the armed send is a SEND_ZC ... */
	bool zc_more;               /* ... whose result is in, its notification not */
	int zc_res;                 /* that result */
	bool no_zc;                 /* the kernel refused SEND_ZC on this socket */
	bool connecting;            /* mcs_stream_connect not completed: no I/O yet */
	bool connect_armed;
	struct mcs_op recv_op, send_op, cancel_op, connect_op, ctimeout_op;
	/* connect arguments, read by the kernel when the SQE is submitted */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	struct __kernel_timespec connect_ts;
};

/* Live on fd, not yet on the loop: until it is started, its creator may
 * still drop it (free the memory, close fd) if nothing was armed. */
void mcs_stream_init(struct mcs_stream *s, struct mcs_loop *l, int fd, const struct mcs_stream_ops *ops);
/* On the loop's list of live streams: the loop closes it when freed. */
void mcs_stream_start(struct mcs_stream *s);
/* TCP_NODELAY on fd if it is a TCP socket (nothing for others); 0 or -errno. */
int mcs_stream_nodelay(int fd);
/* A new stream socket for family, CLOEXEC, TCP_NODELAY for TCP; or -errno. */
int mcs_stream_socket(int family);
/* Connect (within timeout_ms, 0: no limit), then start: sa is copied.
 * 0, or -EBUSY (no SQE) with nothing changed. */
int mcs_stream_connect(struct mcs_stream *s, const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms);

/* Arm the one recv or the one send (MSG_NOSIGNAL is added): 0, or -EBUSY
 * without an SQE. buf, msg and what msg points to stay put until the
 * completion. */
int mcs_stream_recv(struct mcs_stream *s, void *buf, size_t len, int flags);
int mcs_stream_send(struct mcs_stream *s, const void *buf, size_t len, int flags);
int mcs_stream_sendmsg(struct mcs_stream *s, const struct msghdr *msg, int flags);
int mcs_stream_send_zc(struct mcs_stream *s, const void *buf, size_t len, int flags);

/* Close with err (0: orderly); a no-op unless live. */
void mcs_stream_close(struct mcs_stream *s, int err);

static inline bool mcs_stream_live(const struct mcs_stream *s)
{
	return s->state == MCS_STREAM_LIVE;
}

/* Have ops->kick run before the next submit (once, however often asked). */
static inline void mcs_stream_kick(struct mcs_stream *s)
{
	if (mcs_stream_live(s) && !mcs_list_linked(&s->kick))
		mcs_list_add_tail(&s->loop->kicks, &s->kick);
}

/* For the turn and the end of the loop (ring.c). */
void mcs_streams_kick(struct mcs_loop *l);      /* every due kick */
void mcs_streams_finalize(struct mcs_loop *l);  /* every stream ready for it */
void mcs_streams_close(struct mcs_loop *l);     /* every live stream */
bool mcs_streams_exist(const struct mcs_loop *l);
bool mcs_streams_closing(const struct mcs_loop *l);
/* The ring failed: finalize every stream now, leaking the buffers of those
 * with ops still in flight. */
void mcs_streams_abandon(struct mcs_loop *l);

#endif
