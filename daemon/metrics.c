/* SPDX-License-Identifier: MIT */
/*
 * mcstored's Prometheus page (--metrics-port): the segment, the master
 * link and its heartbeats, clients and the data path; and its /health
 * line: healthy while the segment is mounted with a connected master.
 * Rendered on the loop thread every MCS_METRICS_PUBLISH_MS, served by the
 * metrics thread (common/metrics.h).
 */
#include <string.h>
#include <time.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "daemon/metrics.h"
#include "mcstore.h"

static void render(const struct node_metrics *nm, FILE *f)
{
	const struct node_opts *o = nm->o;
	const struct node_master *m = nm->master;
	fputs("# HELP mcstore_node_info The node and its segment (value 1).\n"
	      "# TYPE mcstore_node_info gauge\nmcstore_node_info{",
	      f);
	mcs_metric_label(f, "node", o->name, strlen(o->name));
	fputc(',', f);
	mcs_metric_label(f, "segment", o->segment_name, strlen(o->segment_name));
	fputc(',', f);
	mcs_metric_label(f, "endpoint", m->endpoint, strlen(m->endpoint));
	fputs("} 1\n", f);
	mcs_metric_u64(f, "mcstore_node_segment_size_bytes", "gauge", "Size of this node's segment.",
		       o->segment_size);
	mcs_metric_u64(f, "mcstore_node_master_connected", "gauge", "1 while connected to the master.",
		       m->conn != NULL);
	mcs_metric_u64(f, "mcstore_node_mounted", "gauge", "1 while the segment is mounted with the master.",
		       m->mounted);
	mcs_metric_u64(f, "mcstore_node_clients", "gauge", "Local clients connected.", nm->clients->n_clients);
	mcs_metric_u64(f, "mcstore_node_master_requests_in_flight", "gauge", "Requests sent to the master, unanswered.",
		       m->n_inflight);
	mcs_metric_u64(f, "mcstore_node_relayed_requests_total", "counter",
		       "Client requests relayed to the master (clients that cannot reach it directly).",
		       nm->clients->relayed);
	mcs_metric_u64(f, "mcstore_node_heartbeats_sent_total", "counter", "Heartbeats sent to the master.",
		       m->tel.heartbeats_sent);
	mcs_metric_u64(f, "mcstore_node_heartbeats_answered_total", "counter", "Heartbeats the master answered.",
		       m->tel.heartbeats_answered);
	mcs_metric_u64(f, "mcstore_node_heartbeats_refused_total", "counter", "Heartbeats the master refused.",
		       m->tel.heartbeats_refused);
	mcs_metric_head(f, "mcstore_node_heartbeat_rtt_seconds", "gauge",
			"Round trip of the last answered heartbeat.");
	fprintf(f, "mcstore_node_heartbeat_rtt_seconds %.6f\n", (double)m->tel.heartbeat_rtt_ns / 1e9);
	mcs_metric_u64(f, "mcstore_node_data_served_bytes_total", "counter", "Bytes sent to other nodes.",
		       nm->data->bytes_served);
	mcs_metric_u64(f, "mcstore_node_data_received_bytes_total", "counter", "Bytes received from other nodes.",
		       nm->data->bytes_received);
	mcs_metric_u64(f, "mcstore_node_data_readv_total", "counter",
		       "DATA_READV requests served (many ranges of a batch in one request).", nm->data->readv_served);
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

static void health(const struct node_metrics *nm)
{
	const struct node_master *m = nm->master;
	const char *seg = nm->o->segment_name, *master = nm->o->master;
	if (m->stopping) {
		mcs_metrics_health(nm->m, false, "stopping");
	} else if (m->conn && m->mounted) {
		mcs_metrics_health(nm->m, true, "ok: segment \"%s\" mounted with master %s", seg, master);
	} else if (m->conn) {
		mcs_metrics_health(nm->m, false, "segment \"%s\" not mounted: connected to master %s, mounting",
				   seg, master);
	} else if (!m->down_ms) {
		mcs_metrics_health(nm->m, false, "segment \"%s\" not mounted: master %s not tried yet", seg,
				   master);
	} else {
		uint64_t ago = mcs_now_ms() - m->down_ms;
		char when[32], why[320];
		if (m->why)
			snprintf(why, sizeof(why), "cannot resolve \"%s\": %s", m->host, m->why);
		else
			snprintf(why, sizeof(why), "%s", m->err ? mcs_status_text(m->err) : "the master closed the connection");
		mcs_metrics_health(nm->m, false,
				   "master %s unreachable since %s (%.0f s, last error: %s); segment \"%s\" not mounted",
				   master, utc_ago(ago, when, sizeof(when)), (double)ago / 1000.0, why, seg);
	}
}

static void on_publish(struct mcs_timer *t, void *userdata)
{
	struct node_metrics *nm = userdata;
	FILE *f = mcs_metrics_begin(nm->m);
	if (f)
		render(nm, f);
	if (mcs_metrics_commit(nm->m, f) < 0)
		log_warning("cannot render the metrics page: out of memory, ignoring");
	health(nm);
}

int node_metrics_start(struct node_metrics *nm, struct mcs_loop *loop, const struct node_opts *o,
		       const struct node_master *master, const struct node_clients *clients,
		       const struct node_data *data)
{
	*nm = (struct node_metrics){ .o = o, .master = master, .clients = clients, .data = data };
	if (o->metrics_port < 0)
		return 0;
	int r = mcs_metrics_start(o->data_listen, (uint16_t)o->metrics_port, &nm->m);
	if (r < 0)
		return log_error_errno(r, "cannot serve metrics on %s port %d: %m", o->data_listen, o->metrics_port);
	on_publish(NULL, nm);
	r = mcs_loop_add_timer(loop, MCS_METRICS_PUBLISH_MS, MCS_METRICS_PUBLISH_MS, on_publish, nm, NULL);
	if (r < 0)
		return log_error_errno(r, "cannot arm the metrics timer: %m");
	log_info("metrics at http://%s:%u/metrics", o->data_listen, mcs_metrics_port(nm->m));
	return 0;
}

void node_metrics_stop(struct node_metrics *nm)
{
	nm->m = mcs_metrics_stop(nm->m);
}
