/* SPDX-License-Identifier: MIT */
/*
 * Connections of the io_uring loop that carry mcstore frames.
 *
 * A connection is a stream socket (TCP or unix) owned by a loop (see
 * uring/ring.h). It turns the bytes it receives into whole protocol frames
 * (proto.h header + body) handed to a callback; it queues outgoing frames
 * and sends them in order, optionally with a file descriptor (SCM_RIGHTS)
 * on unix sockets. Listeners adopt accepted sockets as connections.
 *
 * Connection lifetime: a conn is alive from mcs_loop_add_conn (or accept)
 * until on_close has run. mcs_conn_close() may be called at any time, also
 * from inside callbacks; pending ops are cancelled, on_close runs exactly
 * once afterwards (from the loop, never re-entrantly), and the memory is
 * freed once no reference remains (mcs_conn_ref/unref let tables keep a
 * pointer past on_close; sends on a closed conn fail with -EPIPE).
 */
#ifndef MCS_CONN_H
#define MCS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "proto/proto.h"

struct mcs_loop;
struct mcs_conn;

struct mcs_conn_ops {
	/* A complete, header-validated frame. body is valid only during the
	 * call. Return < 0 to close the connection (the loop logs nothing;
	 * the callee says why). */
	int (*on_frame)(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *userdata);
	/* The connection is gone. err: 0 for orderly EOF or local close,
	 * a negative errno for socket errors, -EPROTO / -EPROTONOSUPPORT /
	 * -EMSGSIZE when the peer sent a bad header. */
	void (*on_close)(struct mcs_conn *c, int err, void *userdata);
	/* Optional: a complete frame buffered behind the one being handled,
	 * seen up to MCS_CONN_PEEK_AHEAD frames before its on_frame (a
	 * master prefetches the tables a pipelined request will touch). A
	 * hint: its header is decoded but its body not checked, and it may
	 * be seen twice, or be no frame at all when an earlier one turns
	 * the bytes after it into a payload. It must change nothing. */
	void (*peek)(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *userdata);
};
#define MCS_CONN_PEEK_AHEAD 8

/* Called for every accepted socket. Return 0 and set *ret_ops and *ret_userdata
 * to adopt it, or a negative value to refuse (the loop closes the fd).
 * Also called with fd < 0 (-EMFILE, -ENFILE, -ENOMEM, -ENOBUFS) when an
 * accept failed for lack of resources and accepting pauses for a moment:
 * nothing to adopt then, the return value is ignored. */
typedef int (*mcs_accept_fn)(struct mcs_loop *l, int fd, const struct mcs_conn_ops **ret_ops,
			     void **ret_userdata, void *listen_userdata);

/* Accept on a listening socket (the loop takes the fd). Peers exhausting
 * file descriptors (EMFILE/ENFILE) pause accepting for a moment instead of
 * failing (fn hears of it, see mcs_accept_fn). */
int mcs_loop_listen(struct mcs_loop *l, int listen_fd, mcs_accept_fn fn, void *userdata);
/* The same, and the connections it accepts take frames of at most max_body
 * bytes (0: the loop's mcs_loop_opts.max_body): a larger header closes the
 * connection before any of its body is buffered. */
int mcs_loop_listen_max(struct mcs_loop *l, int listen_fd, mcs_accept_fn fn, void *userdata, uint32_t max_body);
/* The same for a port that takes requests: each request's body is also at
 * most what its opcode can need (mcs_req_body_max: a header declaring
 * more closes the connection, -EMSGSIZE, before any of it is buffered). */
int mcs_loop_listen_requests(struct mcs_loop *l, int listen_fd, mcs_accept_fn fn, void *userdata,
			     uint32_t max_body);

/* Adopt a connected stream socket (the loop takes the fd, sets O_NONBLOCK
 * not needed: all I/O is through the ring). */
int mcs_loop_add_conn(struct mcs_loop *l, int fd, const struct mcs_conn_ops *ops, void *userdata,
		      struct mcs_conn **ret);

/* Queue one frame: header h (body_len is set from len) then body[0..len).
 * fd >= 0 is sent with the frame's first byte (unix sockets only; the fd is
 * borrowed: the loop dups it). Frames go out in call order. 0 or -EPIPE
 * (closed), -ENOMEM. */
int mcs_conn_send(struct mcs_conn *c, const struct mcs_hdr *h, const void *body, size_t len, int fd);
/* Queue bytes already framed (one or more whole frames), as built by
 * mcs_frame_begin/end. */
int mcs_conn_send_raw(struct mcs_conn *c, const void *data, size_t len);

/* Bulk data, for the node-to-node data path: payloads travel as raw bytes
 * right after a small frame, so they can land where they belong (a
 * segment, a client's buffer) and leave from where they are, without
 * passing through the connection's buffers. */
typedef void (*mcs_io_done_fn)(struct mcs_conn *c, int err, void *arg);

/* From inside on_frame: the next len bytes of the stream, right after the
 * frame being handled, go to dest instead of being parsed as frames. Bytes
 * already buffered are copied; the rest is received straight into dest.
 * done(c, 0, arg) runs once all len bytes are there, then frame parsing
 * resumes; if the connection fails first, done(c, err < 0, arg) runs
 * before on_close. One such receive per frame (-EBUSY otherwise); -EPIPE
 * on a closed conn. dest must stay valid until done. */
int mcs_conn_recv_into(struct mcs_conn *c, void *dest, size_t len, mcs_io_done_fn done, void *arg);
/* Queue len bytes at p without copying them, in order with every frame
 * and send queued before and after. p must stay valid until done runs:
 * done(c, 0, arg) once the kernel has the bytes (for SEND_ZC: once it no
 * longer needs them), done(c, err < 0, arg) if the conn failed first.
 * done may be NULL. 0, -EPIPE (closed) or -ENOMEM. */
int mcs_conn_send_ref(struct mcs_conn *c, const void *p, size_t len, mcs_io_done_fn done, void *arg);

/* Open a TCP (or unix) connection without blocking: the conn exists at
 * once and frames may be queued on it; they go out once connected. A
 * failed connect, or no connection within timeout_ms (0: no limit),
 * closes the conn: on_close(c, err < 0). The loop sets TCP_NODELAY, on
 * these and on the TCP connections mcs_loop_listen accepts. */
int mcs_loop_connect(struct mcs_loop *l, const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms,
		     const struct mcs_conn_ops *ops, void *userdata, struct mcs_conn **ret);

/* fn(c, userdata) once the connect of mcs_loop_connect has gone through
 * (c's local address is known from then on), before any frame. */
void mcs_conn_on_connect(struct mcs_conn *c, void (*fn)(struct mcs_conn *c, void *userdata));

void mcs_conn_close(struct mcs_conn *c);
bool mcs_conn_is_closed(const struct mcs_conn *c);
struct mcs_conn *mcs_conn_ref(struct mcs_conn *c);
struct mcs_conn *mcs_conn_unref(struct mcs_conn *c);   /* NULL ok, returns NULL */
void *mcs_conn_userdata(const struct mcs_conn *c);
void mcs_conn_set_userdata(struct mcs_conn *c, void *userdata);
int mcs_conn_fd(const struct mcs_conn *c);
struct mcs_loop *mcs_conn_loop(const struct mcs_conn *c);
/* Bytes queued but not yet sent (for back-pressure decisions). */
size_t mcs_conn_pending_bytes(const struct mcs_conn *c);

#endif
