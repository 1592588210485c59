/* SPDX-License-Identifier: MIT */
/*
 * Listening sockets on the ring (internal to uring/): every accepted
 * socket goes to a callback, which takes the fd. What becomes of it is
 * the caller's business (conn.c adopts it as a framed connection).
 */
#ifndef MCS_LISTENER_H
#define MCS_LISTENER_H

struct mcs_loop;

/* fd: an accepted socket, now the callback's (CLOEXEC, blocking); or < 0
 * (-EMFILE, -ENFILE, -ENOMEM, -ENOBUFS) when an accept failed for lack of
 * resources and accepting pauses for a moment. Not called while the loop
 * is being freed. */
typedef void (*mcs_listener_fn)(struct mcs_loop *l, int fd, void *userdata);

/* Accept on listen_fd (the loop takes it) until the loop is freed, then
 * destroy(userdata) if destroy is set. On failure (-EINVAL, -ENOMEM,
 * -EBUSY) the fd is closed and destroy called all the same. */
int mcs_listener_add(struct mcs_loop *l, int listen_fd, mcs_listener_fn fn, void *userdata,
		     void (*destroy)(void *userdata));

#endif
