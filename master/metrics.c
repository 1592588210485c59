/* SPDX-License-Identifier: MIT */
/*
 * What the master tells Prometheus: the store's size, its counters, the
 * requests it served, and one line per mounted segment (the per-node
 * state: size, use, and how long since its node was last heard). main.c
 * publishes the /health line beside it.
 */
#include <string.h>

#include "common/metrics.h"
#include "master/alloc.h"
#include "master/metrics.h"
#include "proto/proto.h"

void master_count_segments(const struct mcs_store *s, uint64_t *ret_nodes, uint64_t *ret_segments)
{
	uint64_t nodes = 0, segs = 0;
	const struct mcs_seg *first = mcs_store_segments(s);
	for (const struct mcs_seg *g = first; g; g = g->next) {
		segs++;
		/* a node usually mounts one segment: the quadratic walk over
		 * the earlier ones costs about what the per-segment lines do */
		const struct mcs_seg *e = first;
		while (e != g && e->owner != g->owner)
			e = e->next;
		nodes += e == g;
	}
	*ret_nodes = nodes;
	*ret_segments = segs;
}

void master_metrics_render(FILE *f, const struct master_metrics_in *in)
{
	const struct mcs_store *s = in->store;
	const struct mcs_store_counters *k = mcs_store_counters(s);

	mcs_metric_u64(f, "mcstore_master_objects", "gauge", "Objects stored (complete and pending).",
		       mcs_store_n_objects(s));
	mcs_metric_u64(f, "mcstore_master_capacity_bytes", "gauge", "Bytes of all mounted segments.",
		       mcs_store_capacity(s));
	mcs_metric_u64(f, "mcstore_master_used_bytes", "gauge", "Bytes allocated to replicas.", mcs_store_used(s));
	mcs_metric_u64(f, "mcstore_master_nodes", "gauge", "Nodes with a mounted segment.", in->n_nodes);
	mcs_metric_u64(f, "mcstore_master_segments", "gauge", "Segments mounted.", in->n_segments);
	mcs_metric_u64(f, "mcstore_master_connections", "gauge",
		       "Open connections (nodes, and clients with a direct metadata link).", in->n_conns);
	mcs_metric_u64(f, "mcstore_master_leases_granted_total", "counter",
		       "Read leases granted (GetReplicaList and ExistKey).", k->leases_granted);
	mcs_metric_head(f, "mcstore_master_lease_ttl_seconds", "gauge", "Length of a read lease.");
	fprintf(f, "mcstore_master_lease_ttl_seconds %.3f\n", (double)mcs_store_lease_ttl_ms(s) / 1000.0);
	mcs_metric_u64(f, "mcstore_master_eviction_runs_total", "counter", "Eviction runs.", k->evict_runs);
	mcs_metric_u64(f, "mcstore_master_evictions_total", "counter", "Objects evicted.", k->evictions);
	mcs_metric_u64(f, "mcstore_master_evicted_bytes_total", "counter", "Bytes of evicted objects.",
		       k->evicted_bytes);
	mcs_metric_u64(f, "mcstore_master_eviction_debt", "gauge", "Objects the background eviction still owes.",
		       mcs_store_evict_debt(s));
	mcs_metric_u64(f, "mcstore_master_puts_no_space_total", "counter", "Puts refused for space.",
		       k->put_no_space);
	mcs_metric_u64(f, "mcstore_master_puts_timed_out_total", "counter", "Puts revoked by --put-timeout-ms.",
		       k->puts_timed_out);
	mcs_metric_u64(f, "mcstore_master_removes_refused_total", "counter", "Removes refused because of a lease.",
		       k->remove_refused);
	mcs_metric_u64(f, "mcstore_master_soft_pins_refused_total", "counter", "Soft pins dropped at the bound.",
		       k->soft_pins_refused);
	mcs_metric_u64(f, "mcstore_master_upserts_total", "counter", "Values replaced by an upsert.", k->upserts);
	mcs_metric_u64(f, "mcstore_master_retired_objects", "gauge",
		       "Values replaced by an upsert or force-removed, kept for the readers that still hold them.",
		       mcs_store_n_retired(s));
	mcs_metric_u64(f, "mcstore_master_retired_bytes", "gauge", "Bytes of the retired objects.",
		       mcs_store_retired_bytes(s));
	mcs_metric_u64(f, "mcstore_master_retired_freed_total", "counter",
		       "Replaced or removed values freed once no reader held them.", k->retired_freed);
	mcs_metric_u64(f, "mcstore_master_nodes_lost_total", "counter",
		       "Nodes declared lost after --node-timeout-ms of silence.", in->nodes_lost);
	mcs_metric_u64(f, "mcstore_master_heartbeats_received_total", "counter", "Heartbeats received from nodes.",
		       in->requests[MCS_OP_HEARTBEAT]);
	if (in->acks) {
		const struct master_acks *a = in->acks;
		mcs_metric_u64(f, "mcstore_master_puts_waited_total", "counter",
			       "Puts answered once their nodes had recorded the parts.", a->puts_waited);
		mcs_metric_u64(f, "mcstore_master_puts_waiting", "gauge",
			       "Puts waiting for their nodes to record the parts.", master_acks_waiting(a));
		mcs_metric_u64(f, "mcstore_master_part_records_total", "counter",
			       "Nodes' answers to REPLICA_ADD notices.", a->answers);
		mcs_metric_u64(f, "mcstore_master_part_records_failed_total", "counter",
			       "Of them, parts a node could not record.", a->answers_failed);
		mcs_metric_u64(f, "mcstore_master_part_records_lost_total", "counter",
			       "REPLICA_ADD notices whose node went away unanswered.", a->nodes_gone);
		mcs_metric_u64(f, "mcstore_master_puts_unrecorded_total", "counter",
			       "Puts refused (ENOLINK): no replica recorded by a node still there.",
			       a->puts_unrecorded);
	}

	mcs_metric_head(f, "mcstore_master_requests_total", "counter", "Requests received, by operation.");
	for (unsigned op = 0; op < MASTER_N_OPS; op++) {
		if (!in->requests[op])
			continue;
		const char *name = mcs_op_name((uint16_t)op);
		fputs("mcstore_master_requests_total{", f);
		mcs_metric_label(f, "op", name, strlen(name));
		fprintf(f, "} %llu\n", (unsigned long long)in->requests[op]);
	}

	static const struct {
		const char *name, *help;
	} seg_metrics[] = {
		{ "mcstore_segment_size_bytes", "Size of a mounted segment." },
		{ "mcstore_segment_used_bytes", "Bytes of a segment allocated to replicas." },
		{ "mcstore_node_last_seen_seconds", "Seconds since the segment's node was last heard." },
	};
	for (unsigned i = 0; i < 3; i++) {
		mcs_metric_head(f, seg_metrics[i].name, "gauge", seg_metrics[i].help);
		for (const struct mcs_seg *g = mcs_store_segments(s); g; g = g->next) {
			fprintf(f, "%s{", seg_metrics[i].name);
			mcs_metric_label(f, "node", g->node, strlen(g->node));
			fputc(',', f);
			mcs_metric_label(f, "segment", g->name, strlen(g->name));
			if (i == 0)
				fprintf(f, "} %llu\n", (unsigned long long)g->size);
			else if (i == 1)
				fprintf(f, "} %llu\n", (unsigned long long)mcs_alloc_used(g->alloc));
			else {
				uint64_t seen = in->last_seen_ms(g->owner, in->userdata);
				uint64_t age = in->now_ms > seen ? in->now_ms - seen : 0;
				fprintf(f, "} %.3f\n", (double)age / 1000.0);
			}
		}
	}
}
