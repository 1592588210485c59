/* SPDX-License-Identifier: MIT */
/*
 * A put is answered once its parts are in their nodes' tables (acks.c).
 *
 * The REPLICA_ADD notices a PUT_END makes ask the nodes that said they
 * answer them (MCS_MOUNT_ACKS) for an answer, and the PUT_END's own answer
 * waits for those. Without that, a master killed right after answering a
 * put could take with it a notice still in its send queue (or in a socket
 * its death resets): the client was told the object is stored, yet no
 * node's table has it, and the next master's rebuild from the nodes
 * would not know it. The answer goes as soon as one replica is whole in
 * the tables, and at once when one is all on the segment of the node that
 * relays the PUT_END: its notices go on that link before the answer, so
 * the node records them before it can tell its client (the usual put, to
 * the client's own node, waits for nothing). A node that goes away
 * meanwhile counts as having answered, but not as having the part: the
 * put is answered -ENOLINK when no replica of it is whole in the tables
 * of nodes still there (its bytes may be, but no rebuild would find them).
 */
#ifndef MCS_MASTER_ACKS_H
#define MCS_MASTER_ACKS_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/proto.h"

struct master;
struct mcs_conn;

struct master_wait;

struct master_acks {
	struct master_wait *w;     /* slots */
	uint32_t n, cap;           /* slots made, allocated */
	uint32_t *free;            /* free slots, a stack */
	uint32_t n_free;
	uint32_t gen;              /* the last slot's generation (never 0) */
	/* the PUT_END being handled */
	bool collecting;
	struct mcs_conn *client;
	struct mcs_hdr req;
	int32_t cur;               /* its slot, -1 while it waits for none */
	bool unasked;              /* a notice went to a node that does not answer */
	/* counters, for the metrics page */
	uint64_t puts_waited;      /* PUT_END answers that waited for other nodes */
	uint64_t answers;          /* node answers to notices */
	uint64_t answers_failed;   /* of them, a node that could not record the part */
	uint64_t nodes_gone;       /* notices whose node went away unanswered */
	uint64_t puts_unrecorded;  /* puts answered -ENOLINK: no replica recorded */
};

/* Around the store's work for the PUT_END h from client: the notices
 * sent in between (master_acks_want) are waited for. end() says whether
 * the answer now waits (true: master_handle sends none). */
void master_acks_begin(struct master_acks *a, struct mcs_conn *client, const struct mcs_hdr *h);
bool master_acks_end(struct master_acks *a);
/* The req_id for a REPLICA_ADD of replica number `replica` to node: 0 (no
 * answer wanted) outside a PUT_END or when allocating fails (the notice
 * is then trusted, as one to a node that does not answer), else an id
 * the answer names. */
uint64_t master_acks_want(struct master_acks *a, struct mcs_conn *node, uint32_t replica);
/* A notice of the PUT_END went to a node that does not answer: the
 * put's parts are trusted to be in its table, as before answers. */
void master_acks_unasked(struct master_acks *a);
/* A node's answer h to a notice: -EPROTO for an answer to no notice of
 * node's (the link closes). */
int master_acks_answer(struct master *m, struct mcs_conn *node, const struct mcs_hdr *h);
/* c closed: the notices it was sent count as answered. */
void master_acks_closed(struct master *m, struct mcs_conn *c);
void master_acks_free(struct master_acks *a);
/* PUT_END answers not sent yet */
uint32_t master_acks_waiting(const struct master_acks *a);

#endif
