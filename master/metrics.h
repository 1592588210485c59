/* SPDX-License-Identifier: MIT */
/* The master's Prometheus page (see common/metrics.h), rendered on the loop
 * thread from the store and main.c's counters. */
#ifndef MCS_MASTER_METRICS_H
#define MCS_MASTER_METRICS_H

#include <stdint.h>
#include <stdio.h>

#include "master/acks.h"
#include "master/store.h"

/* Requests are counted per opcode below this bound. */
#define MASTER_N_OPS 64

struct master_metrics_in {
	const struct mcs_store *store;
	uint64_t n_nodes, n_segments; /* from master_count_segments() */
	const uint64_t *requests;  /* [MASTER_N_OPS], by opcode */
	uint64_t n_conns;
	uint64_t nodes_lost;
	const struct master_acks *acks; /* PUT_END answers waiting for the nodes' */
	uint64_t now_ms;
	/* when the owner of a segment (its node's connection) was last heard */
	uint64_t (*last_seen_ms)(const void *owner, const void *userdata);
	const void *userdata;
};

/* Segments mounted, and the nodes (connections) that mounted them. */
void master_count_segments(const struct mcs_store *s, uint64_t *ret_nodes, uint64_t *ret_segments);

void master_metrics_render(FILE *f, const struct master_metrics_in *in);

#endif
