/* SPDX-License-Identifier: MIT */
/*
 * What the BPF programs (mcstore.bpf.c) keep and mcstorectl top reads:
 * counters and log2 histograms in the program's .bss, and one entry per
 * node (master side) in a hash map. Shared by both sides, so plain
 * fixed-size types only.
 */
#ifndef MCS_EBPF_TOP_H
#define MCS_EBPF_TOP_H

#define MCS_HIST_SLOTS 40  /* slot i: values in [2^(i-1), 2^i), slot 0: 0 */
#define MCS_TOP_MAX_NODES 256
#define MCS_TOP_NAME 48

struct mcs_hist {
	unsigned long long count, sum;
	unsigned long long slot[MCS_HIST_SLOTS];
};

/* Indexes of the request latency histograms (mcstored's request probe). */
enum { MCS_TOP_REQ_PUT_START, MCS_TOP_REQ_PUT_END, MCS_TOP_REQ_GET, MCS_TOP_REQ_OTHER, MCS_TOP_REQ_N };

struct mcs_top_stats {
	/* mcstore-master */
	unsigned long long lease_grants;   /* every grant, extensions included */
	unsigned long long lease_extends, lease_expires;
	unsigned long long gets, puts_started, puts_refused, puts_ended, puts_revoked;
	unsigned long long evict_runs, evicted_objects, evicted_bytes;
	unsigned long long heartbeats_recv, nodes_lost, nodes_gone;
	struct mcs_hist lease_held_ms;     /* first grant to end */
	struct mcs_hist put_ms;            /* PutStart to PutEnd */
	struct mcs_hist evict_ns;          /* one eviction run */
	struct mcs_hist loss_silent_ms;    /* last frame to loss detection */
	/* mcstored */
	unsigned long long heartbeats_sent, heartbeats_acked, heartbeats_missed;
	unsigned long long requests;
	struct mcs_hist heartbeat_rtt_ns;
	struct mcs_hist request_ns[MCS_TOP_REQ_N];
};

/* Per node, as the master sees it (key: an id of its connection). */
struct mcs_top_node {
	char name[MCS_TOP_NAME];
	unsigned long long heartbeats;
	unsigned long long last_gap_ns, last_ns;
	struct mcs_hist gap_ns;            /* heartbeat interval */
	struct mcs_hist jitter_ns;         /* |interval - previous interval| */
	unsigned long long lost;
};

#endif
