/* SPDX-License-Identifier: MIT */
/*
 * mcstored's data path (data.c): the TCP data port serving this node's
 * segment to peers, the FETCH / PUSH transfers made for local clients, and
 * the shared buffers those transfers move bytes into and out of.
 */
#ifndef MCS_DAEMON_DATA_H
#define MCS_DAEMON_DATA_H

#include <stdint.h>

#include "common/list.h"
#include "daemon/opts.h"
#include "proto/proto.h"
#include "shm/shm.h"
#include "uring/loop.h"

struct mcs_xfer_pool;
struct transfer;

/* A buffer shared with one client (a memfd the daemon made and mapped):
 * where remote data lands for FETCH and leaves from for PUSH. Referenced
 * by the client and by every transfer using it, so a client that leaves
 * mid-transfer cannot pull the memory from under the ring. */
struct cbuf {
	uint32_t id;
	void *base;
	uint64_t size;
	unsigned refs;
	struct mcs_segment seg;
	struct cbuf *next;         /* in the client's list */
};

struct node_data {
	struct mcs_loop *loop;
	const struct node_opts *o;
	const struct mcs_segment *seg;
	uint16_t port;                 /* the data port, once bound */
	struct mcs_xfer_pool *pools;   /* connections to peers, per endpoint */
	struct mcs_list transfers;     /* in flight (struct transfer) */
	uint64_t next_buf_id;
	struct mcs_timer *sweep;
	uint64_t bytes_served, bytes_received;
	uint64_t refused;              /* DATA_* requests refused (range, incarnation, token) */
	uint64_t readv_served;         /* DATA_READV requests answered with their bytes */
};

/* Bind the data port, serve peers on it, and sweep stalled connections. */
int node_data_start(struct node_data *d, struct mcs_loop *loop, const struct node_opts *o,
		    const struct mcs_segment *seg);
void node_data_free(struct node_data *d);

/* A transfer ended: err 0 or why it failed. */
typedef void (*node_data_done_fn)(void *owner, uint64_t req_id, uint16_t opcode, int err);

/* Start the FETCH or PUSH q (opcode) into or out of buf; done(owner, ...)
 * says when it ended, unless owner is forgotten first. < 0 only when
 * nothing was started (done is then not called). */
/* For a client that maps nothing (a reader): its FETCH's handles on this
 * node's own segment need their read tokens too (others map it, and read
 * it without asking). 0, -EACCES or -EKEYEXPIRED. */
int node_data_check_own(const struct node_data *d, const struct mcs_transfer_req *q);
int node_data_transfer(struct node_data *d, uint16_t opcode, uint64_t req_id, const struct mcs_transfer_req *q,
		       struct cbuf *buf, node_data_done_fn done, void *owner);
/* owner is going away: its transfers go on, and end unheard. */
void node_data_forget(struct node_data *d, void *owner);

int cbuf_new(struct node_data *d, uint64_t size, struct cbuf **ret);
struct cbuf *cbuf_ref(struct cbuf *b);
struct cbuf *cbuf_unref(struct cbuf *b);

#endif
