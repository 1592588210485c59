/* SPDX-License-Identifier: MIT */
/*
 * Transfer planning for the data path, shared by its two speakers: mcstored
 * (daemon/data.c, I/O on the ring) and libmcstore (libmcstore/peer.c, I/O on
 * non-blocking sockets and poll). Everything here is the part that does not
 * depend on how bytes move:
 *
 *   - cutting a list of remote buffers (handles) into DATA_READ / DATA_WRITE
 *     chunks of at most MCS_XFER_CHUNK bytes, in value order, or into the
 *     pieces that hold one window of the value;
 *   - checking ranges: a handle or a request against a segment or mapping;
 *   - the pool of up to MCS_XFER_POOL connections ("links") per remote data
 *     endpoint, and the choice of the link a chunk goes on;
 *   - the FIFO of chunks whose answers a link awaits (a peer answers in
 *     order), with the bytes in flight that the choice weighs;
 *   - the DATA_* request bodies (DATA_READV: the chunks of a batch that lie
 *     in one segment, in one request) and the check of a read's answer.
 *
 * A side embeds struct mcs_xfer_link as the first member of its connection
 * and struct mcs_xfer_chunk as the first member of its chunk, so that what
 * the pool and the FIFO hand back converts to its own type with a cast.
 * Nothing here allocates but the pools, does I/O or logs.
 */
#ifndef MCS_XFER_H
#define MCS_XFER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

#define MCS_XFER_CHUNK (4ull << 20) /* bytes per DATA_READ / DATA_WRITE */
#define MCS_XFER_POOL 4             /* links per remote endpoint */
/* a whole DATA_* request frame (header and body), at most */
#define MCS_XFER_REQ_MAX (MCS_HDR_SIZE + 2 * MCS_NAME_MAX + 40 + 2 + 64)

/* ---- ranges ------------------------------------------------------------ */

/* [off, off+len) lies within [0, size), without overflow. */
static inline bool mcs_xfer_range_ok(uint64_t off, uint64_t len, uint64_t size)
{
	return off <= size && len <= size - off;
}

/* Every handle of hs[0..n) that names segment (whose bytes are mapped here,
 * size of them) lies within it, and the lengths of all of them add up
 * without overflow, to *ret_total (may be NULL). false otherwise; the
 * caller says with which status. */
bool mcs_xfer_check(const struct mcs_handle *hs, uint32_t n, struct mcs_str segment, uint64_t size,
		    uint64_t *ret_total);

/* A peer's DATA_READ / DATA_WRITE names segment and lies within it. */
static inline bool mcs_xfer_req_ok(const struct mcs_data_req *q, struct mcs_str segment, uint64_t size)
{
	return mcs_str_eq(q->segment, segment) && mcs_xfer_range_ok(q->offset, q->len, size);
}

/* ---- chunks ------------------------------------------------------------- */

/* One chunk: value bytes [voff, voff+len) are bytes [roff, roff+len) of the
 * segment of hd (which points into the handles it was cut from: valid as
 * long as they are). */
struct mcs_xfer_chunk {
	const struct mcs_handle *hd;
	uint64_t voff, roff, len;
	struct mcs_xfer_chunk *next; /* in the FIFO of the link it waits on */
};

/* Cuts hs[0..n) into chunks in value order (handles of no bytes give none). */
struct mcs_xfer_cut {
	const struct mcs_handle *hs;
	uint32_t n, h;
	uint64_t off, voff; /* in hs[h]; of hs[h]'s first byte */
};

static inline struct mcs_xfer_cut mcs_xfer_cut_start(const struct mcs_handle *hs, uint32_t n)
{
	return (struct mcs_xfer_cut){ .hs = hs, .n = n };
}

/* The next chunk into *ret (next: NULL); false when there is none left. */
bool mcs_xfer_cut_next(struct mcs_xfer_cut *cu, struct mcs_xfer_chunk *ret);

/* How many chunks hs[0..n) is cut into. */
size_t mcs_xfer_count(const struct mcs_handle *hs, uint32_t n);

/* The pieces of hs[0..n) holding value bytes [off, off+len), as handles
 * into out[] (n of them at most): how many. A window of a transfer that
 * goes through a buffer smaller than the value. */
uint32_t mcs_xfer_window(const struct mcs_handle *hs, uint32_t n, uint64_t off, uint64_t len,
			 struct mcs_handle *out);

/* ---- DATA_* requests and answers ---------------------------------------- */

/* The body of the DATA_READ or DATA_WRITE of ch (b->err says if it failed). */
void mcs_xfer_enc_req(struct mcs_buf *b, const struct mcs_xfer_chunk *ch);

/* 0 when a DATA_READ or DATA_READV answer's body announces want bytes of
 * payload (a chunk's length, or the sum of a vector's), else -EPROTO. */
int mcs_xfer_dec_read(const uint8_t *body, size_t len, uint64_t want);

/* Whether a and b lie in the same segment (name, incarnation, endpoint):
 * one DATA_READV may read both. */
bool mcs_xfer_same_segment(const struct mcs_xfer_chunk *a, const struct mcs_xfer_chunk *b);
/* An order of chunks by segment (endpoint, name, incarnation) that puts
 * the chunks of one segment together: 0 when mcs_xfer_same_segment. */
int mcs_xfer_segment_cmp(const struct mcs_xfer_chunk *a, const struct mcs_xfer_chunk *b);

/* The body of the DATA_READV of chs[0..n) (1..MCS_MAX_READV chunks of the
 * same segment, their lengths together at most MCS_MAX_DATA_CHUNK): b->err
 * says if it failed. */
void mcs_xfer_enc_readv(struct mcs_buf *b, struct mcs_xfer_chunk *const *chs, uint32_t n);

/* ---- links and their pools ---------------------------------------------- */

struct mcs_xfer_pool;

/* One connection to a remote endpoint, as the pool and the FIFO see it. */
struct mcs_xfer_link {
	struct mcs_xfer_pool *pool;         /* NULL once out of it */
	struct mcs_xfer_chunk *head, *tail; /* sent, answers awaited in this order */
	uint64_t inflight;                  /* bytes of them */
};

/* ch is sent on l: its answer comes after those of the chunks before it. */
void mcs_xfer_push(struct mcs_xfer_link *l, struct mcs_xfer_chunk *ch);
/* The oldest chunk of l, out of its FIFO; NULL when none waits. */
struct mcs_xfer_chunk *mcs_xfer_pop(struct mcs_xfer_link *l);
/* l leaves its pool (it is closing): its slot is free again. */
void mcs_xfer_leave(struct mcs_xfer_link *l);

/* The links to one endpoint; pools are a list, one per endpoint. */
struct mcs_xfer_pool {
	char endpoint[MCS_NAME_MAX + 1];
	struct mcs_xfer_link *links[MCS_XFER_POOL];
	struct mcs_xfer_pool *next;
};

/* The pool of endpoint in *pools, made on first use. -EREMOTE when the
 * endpoint is empty (the node serves no data port) or too long, -ENOMEM. */
int mcs_xfer_pool_get(struct mcs_xfer_pool **pools, struct mcs_str endpoint, struct mcs_xfer_pool **ret);

/* What a side does with its own connections. */
struct mcs_xfer_pool_ops {
	/* Whether l may take a chunk now. It may close l instead (then out of
	 * its slot, which is free again). */
	bool (*usable)(struct mcs_xfer_link *l, void *arg);
	/* A new connection to p->endpoint; the pool puts it in a slot. */
	int (*open)(struct mcs_xfer_pool *p, void *arg, struct mcs_xfer_link **ret);
};

enum mcs_xfer_pick {
	MCS_XFER_EXISTING, /* the usable link with the fewest bytes in flight */
	MCS_XFER_ANY,      /* the same, or a new link when there is none */
	MCS_XFER_SPREAD,   /* the same, or a new link rather than a busy one */
};

/* A link of p for the next chunk, opening one in a free slot as how says.
 * 0, or the open's error when there is no link, or -ECONNREFUSED when no
 * slot is free for one. */
int mcs_xfer_pick(struct mcs_xfer_pool *p, enum mcs_xfer_pick how, const struct mcs_xfer_pool_ops *ops, void *arg,
		  struct mcs_xfer_link **ret);

/* Free every pool of *pools; each link still in one leaves it, then
 * drop(l) if not NULL. */
void mcs_xfer_pools_free(struct mcs_xfer_pool **pools, void (*drop)(struct mcs_xfer_link *l));

#endif
