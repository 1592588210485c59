/* SPDX-License-Identifier: MIT */
/*
 * mcstored's Prometheus page (--metrics-port): the segment, the master
 * link and its heartbeats, clients and the data path; and its /health
 * line: healthy while the segment is mounted with a connected master.
 * Rendered on the loop thread every MCS_METRICS_PUBLISH_MS, served by the
 * metrics thread (common/metrics.h).
 */
#include "config.h"

#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "daemon/node.h"
#include "mcstore.h"

static void render(struct node *n, FILE *f)
{
	fputs("# HELP mcstore_node_info The node and its segment (value 1).\n"
	      "# TYPE mcstore_node_info gauge\nmcstore_node_info{",
	      f);
	mcs_metric_label(f, "node", n->o.name, strlen(n->o.name));
	fputc(',', f);
	mcs_metric_label(f, "segment", n->o.segment_name, strlen(n->o.segment_name));
	fputc(',', f);
	mcs_metric_label(f, "endpoint", n->endpoint, strlen(n->endpoint));
	fputs("} 1\n", f);
	mcs_metric_u64(f, "mcstore_node_segment_size_bytes", "gauge", "Size of this node's segment.",
		       n->o.segment_size);
	mcs_metric_u64(f, "mcstore_node_master_connected", "gauge", "1 while connected to the master.",
		       n->master != NULL);
	mcs_metric_u64(f, "mcstore_node_mounted", "gauge", "1 while the segment is mounted with the master.",
		       n->mounted);
	mcs_metric_u64(f, "mcstore_node_clients", "gauge", "Local clients connected.", n->n_clients);
	mcs_metric_u64(f, "mcstore_node_master_requests_in_flight", "gauge", "Requests sent to the master, unanswered.",
		       n->n_inflight);
	mcs_metric_u64(f, "mcstore_node_relayed_requests_total", "counter",
		       "Client requests relayed to the master (clients that cannot reach it directly).",
		       n->stats.relayed);
	mcs_metric_u64(f, "mcstore_node_heartbeats_sent_total", "counter", "Heartbeats sent to the master.",
		       n->tel.heartbeats_sent);
	mcs_metric_u64(f, "mcstore_node_heartbeats_answered_total", "counter", "Heartbeats the master answered.",
		       n->tel.heartbeats_answered);
	mcs_metric_u64(f, "mcstore_node_heartbeats_refused_total", "counter", "Heartbeats the master refused.",
		       n->tel.heartbeats_refused);
	mcs_metric_head(f, "mcstore_node_heartbeat_rtt_seconds", "gauge",
			"Round trip of the last answered heartbeat.");
	fprintf(f, "mcstore_node_heartbeat_rtt_seconds %.6f\n", (double)n->tel.heartbeat_rtt_ns / 1e9);
	mcs_metric_u64(f, "mcstore_node_data_served_bytes_total", "counter", "Bytes sent to other nodes.",
		       n->stats.bytes_served);
	mcs_metric_u64(f, "mcstore_node_data_received_bytes_total", "counter", "Bytes received from other nodes.",
		       n->stats.bytes_received);
}

/* The wall-clock time ms_ago milliseconds ago, as 2026-01-02T03:04:05Z. */
static const char *utc_ago(uint64_t ms_ago, char *buf, size_t len)
{
	time_t t = time(NULL) - (time_t)(ms_ago / 1000);
	struct tm tm;
	if (!gmtime_r(&t, &tm) || !strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(buf, len, "?");
	return buf;
}

static void health(struct node *n)
{
	const char *seg = n->o.segment_name, *master = n->o.master;
	if (n->stopping) {
		mcs_metrics_health(n->metrics, false, "stopping");
	} else if (n->master && n->mounted) {
		mcs_metrics_health(n->metrics, true, "ok: segment \"%s\" mounted with master %s", seg, master);
	} else if (n->master) {
		mcs_metrics_health(n->metrics, false, "segment \"%s\" not mounted: connected to master %s, mounting",
				   seg, master);
	} else if (!n->master_down_ms) {
		mcs_metrics_health(n->metrics, false, "segment \"%s\" not mounted: master %s not tried yet", seg,
				   master);
	} else {
		uint64_t ago = mcs_now_ms() - n->master_down_ms;
		char when[32], why[320];
		if (n->master_why)
			snprintf(why, sizeof(why), "cannot resolve \"%s\": %s", n->master_host, n->master_why);
		else
			snprintf(why, sizeof(why), "%s",
				 n->master_err ? mcs_strerror(n->master_err) : "the master closed the connection");
		mcs_metrics_health(n->metrics, false,
				   "master %s unreachable since %s (%.0f s, last error: %s); segment \"%s\" not mounted",
				   master, utc_ago(ago, when, sizeof(when)), (double)ago / 1000.0, why, seg);
	}
}

static void on_publish(struct mcs_timer *t, void *userdata)
{
	struct node *n = userdata;
	FILE *f = mcs_metrics_begin(n->metrics);
	if (f)
		render(n, f);
	if (mcs_metrics_commit(n->metrics, f) < 0)
		log_warning("cannot render the metrics page: out of memory, ignoring");
	health(n);
}

int node_metrics_start(struct node *n)
{
	if (n->o.metrics_port < 0)
		return 0;
	int r = mcs_metrics_start(n->o.data_listen, (uint16_t)n->o.metrics_port, &n->metrics);
	if (r < 0)
		return log_error_errno(r, "cannot serve metrics on %s port %d: %m", n->o.data_listen,
				       n->o.metrics_port);
	on_publish(NULL, n);
	r = mcs_loop_add_timer(n->loop, MCS_METRICS_PUBLISH_MS, MCS_METRICS_PUBLISH_MS, on_publish, n, NULL);
	if (r < 0)
		return log_error_errno(r, "cannot arm the metrics timer: %m");
	log_info("metrics at http://%s:%u/metrics", n->o.data_listen, mcs_metrics_port(n->metrics));
	return 0;
}

void node_metrics_stop(struct node *n)
{
	n->metrics = mcs_metrics_stop(n->metrics);
}
