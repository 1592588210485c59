/* SPDX-License-Identifier: MIT */
/*
 * The io_uring event loop used by mcstore-master and mcstored: the loop,
 * its timers and signals. It knows no protocol: connections that carry
 * mcstore frames are uring/conn.h's, and uring/loop.h offers both.
 *
 * One loop per thread. Everything it waits for is a ring operation (timers
 * are ring timeouts, signals arrive through a signalfd), so no blocking
 * call is made on the loop thread. Each turn prepares SQEs, submits once,
 * and reaps every ready CQE.
 */
#ifndef MCS_RING_H
#define MCS_RING_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

struct mcs_loop;
struct mcs_timer;

typedef void (*mcs_timer_fn)(struct mcs_timer *t, void *userdata);
typedef void (*mcs_signal_fn)(struct mcs_loop *l, int signo, void *userdata);
typedef void (*mcs_watch_fn)(struct mcs_loop *l, void *userdata);

struct mcs_loop_opts {
	size_t size;           /* sizeof(struct mcs_loop_opts) */
	unsigned entries;      /* SQ ring size; 0: 256 */
	uint32_t max_body;     /* largest body accepted from peers; 0: MCS_DEFAULT_MAX_BODY */
	uint32_t zc_threshold; /* mcs_conn_send_ref of at least this many bytes uses
				* IORING_OP_SEND_ZC; 0: never (on loopback the kernel
				* copies anyway and zero-copy send is slower) */
	unsigned busy_poll_us; /* before sleeping for completions, poll for them this
				* long (a core spins; the wake-up of this thread is
				* saved); 0: sleep at once */
	/* Bounds on what a peer holds (issue 14); 0: none. */
	uint64_t frame_timeout_ms; /* a connection that began a frame (or the
				    * payload of mcs_conn_recv_into) and sent
				    * nothing more for this long is closed:
				    * on_close(c, -ETIMEDOUT) */
	uint64_t idle_timeout_ms;  /* an accepted connection that sent no whole
				    * frame within this long is closed:
				    * on_close(c, -ETIME) */
	uint64_t max_queued_bytes; /* an accepted connection with more answer
				    * bytes queued than this (unsent:
				    * mcs_conn_pending_bytes) is not read from
				    * until they are down to half; it is not
				    * closed: a slow reader is no attacker */
	unsigned max_conns;          /* accepted TCP connections at once, from
				      * every listener of the loop; one more
				      * is closed at once, its owner never
				      * hears of it */
	unsigned max_conns_per_peer; /* the same, from one peer address */
	/* Where the loop says why it closed or refused a peer (a timeout, a
	 * limit): mcs_log of common/log.h fits; NULL: it says nothing. */
	void (*log)(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
	uint64_t max_queued_total_bytes; /* the same bound for all the accepted TCP
				      * connections together: each gets its share
				      * (at least 64 KiB); 0: none */
};

int mcs_loop_new(const struct mcs_loop_opts *opts, struct mcs_loop **ret);
/* Closes every connection (running on_close), listener and timer. NULL ok. */
struct mcs_loop *mcs_loop_free(struct mcs_loop *l);
/* Run until mcs_loop_exit(); returns the code given to it, or a negative
 * errno if the ring failed. */
int mcs_loop_run(struct mcs_loop *l);
void mcs_loop_exit(struct mcs_loop *l, int code);

/* A timer firing after first_ms, then every interval_ms (0: once). */
int mcs_loop_add_timer(struct mcs_loop *l, uint64_t first_ms, uint64_t interval_ms, mcs_timer_fn fn,
		       void *userdata, struct mcs_timer **ret);
/* Cancel and free (NULL ok). Safe from inside the timer's own callback. */
void mcs_timer_free(struct mcs_timer *t);

/* Block the given signals in the calling thread and deliver them through
 * the ring. */
int mcs_loop_add_signals(struct mcs_loop *l, const sigset_t *set, mcs_signal_fn fn, void *userdata);

/* Call fn once when fd becomes readable or its peer hangs up: on the read
 * end of a pipe, when the last process holding the write end has closed
 * it or died. The loop owns fd from then on (closed when the loop is
 * freed); on failure the caller keeps it. */
int mcs_loop_watch_end(struct mcs_loop *l, int fd, mcs_watch_fn fn, void *userdata);

#endif
