/* SPDX-License-Identifier: MIT */
/*
 * mcstored's Prometheus page and /health line (metrics.c, --metrics-port):
 * it reads the other parts' state, and nothing calls back into it.
 */
#ifndef MCS_DAEMON_METRICS_H
#define MCS_DAEMON_METRICS_H

#include "daemon/clients.h"
#include "daemon/data.h"
#include "daemon/master_link.h"
#include "daemon/opts.h"
#include "uring/loop.h"

struct mcs_metrics;

struct node_metrics {
	const struct node_opts *o;
	const struct node_master *master;
	const struct node_clients *clients;
	const struct node_data *data;
	struct mcs_metrics *m;     /* NULL: no --metrics-port */
};

/* Serve the page of those parts, if --metrics-port asks for it. */
int node_metrics_start(struct node_metrics *nm, struct mcs_loop *loop, const struct node_opts *o,
		       const struct node_master *master, const struct node_clients *clients,
		       const struct node_data *data);
void node_metrics_stop(struct node_metrics *nm);

#endif
