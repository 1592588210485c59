/* SPDX-License-Identifier: MIT */
/*
 * libmcstore's own data path (internal): the client speaks the nodes' TCP
 * data port itself (DATA_READ / DATA_WRITE, see mcstore-protocol(7)), so a
 * remote replica's bytes move straight between the caller's memory and the
 * remote node, with no hop through the local daemon and no staging copy.
 */
#ifndef MCS_PEER_H
#define MCS_PEER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>
#include <xxhash.h>

#include "proto/proto.h"

/* Not an error: the item was not tried because a peer it needs could not
 * be reached (bad endpoint, connect refused or timed out); the caller goes
 * through its daemon instead. */
#define PEER_UNREACHABLE 1

/* The pool of data connections of one client handle. */
struct mcs_peers;

/* The client's own segment: stripes on it are copied, not sent. */
struct peer_self {
	struct mcs_str segment;
	uint8_t *base;
	uint64_t size;
	uint64_t incarnation;      /* a handle of another one is not ours (a restart came between) */
};

/* One object to read: the bytes of rep (size in all) into iov. */
struct peer_get {
	const struct mcs_replica *rep;
	const struct iovec *iov;
	int iovcnt;
	uint64_t size;
	uint64_t checksum;         /* XXH3-64 the bytes must hash to */
	int status;                /* out: 0, PEER_UNREACHABLE or an error */
};

/* One object to write into every replica of reps (local replicas are the
 * caller's, through local_copy). */
struct peer_put {
	const struct mcs_replica *const *reps;
	unsigned n_reps;
	const struct iovec *iov;
	int iovcnt;
	uint64_t size;
	uint64_t sum;              /* out: XXH3-64 of the value */
	int status;                /* out: 0, PEER_UNREACHABLE or an error */
};

/* Called with every piece of item `item`'s value, in value order, after
 * it was hashed and before it is sent (so the bytes are in cache). */
typedef void (*peer_copy_fn)(void *arg, size_t item, uint64_t voff, const uint8_t *p, size_t n);

struct mcs_keys;

/* keys: the handle's (the handshake of every connection), valid as long as p. */
int peers_new(unsigned timeout_ms, unsigned busy_poll_us, const struct mcs_keys *keys, struct mcs_peers **ret);
void peers_free(struct mcs_peers *p);

/* Read items[0..n) at once: every chunk of every item is requested before
 * any answer is read, answers land straight in the items' memory and are
 * hashed as they land. Returns 0 (each item has its status) or a negative
 * error for the whole call (nothing could be tried). */
int peer_read(struct mcs_peers *p, const struct peer_self *self, struct peer_get *items, size_t n,
	      XXH3_state_t *xxh);

/* Write items[0..n) in order, hashing each piece and handing it to copy
 * (may be NULL) before sending it to every replica; waits for every
 * DATA_WRITE answer at the end. Same return convention. */
int peer_write(struct mcs_peers *p, const struct peer_self *self, struct peer_put *items, size_t n,
	       XXH3_state_t *xxh, peer_copy_fn copy, void *arg);

#endif
