/* SPDX-License-Identifier: MIT */
/*
 * mcstored, composed: each part keeps its state in its own header, and
 * main.c wires them together. From the bottom up:
 *   data.c        the data port and the transfers for clients (data.h)
 *   replicas.c    the table of the parts the segment holds (replicas.h)
 *   master_link.c the connection to the master: mount, heartbeat, requests,
 *                 reconnect, the table's notices and its report (master_link.h)
 *   clients.c     local clients on the unix socket: hello + memfd, buffers,
 *                 transfers, relayed requests (clients.h); it calls the two
 *                 above, which answer through its callbacks
 *   metrics.c     the metrics page and /health, reading all three (metrics.h)
 *   main.c        options, start-up (it listens for clients once the segment
 *                 is mounted), signals, shutdown
 */
#ifndef MCS_DAEMON_NODE_H
#define MCS_DAEMON_NODE_H

#include "daemon/clients.h"
#include "daemon/data.h"
#include "daemon/master_link.h"
#include "daemon/metrics.h"
#include "daemon/opts.h"
#include "daemon/replicas.h"
#include "shm/shm.h"
#include "uring/loop.h"

struct node {
	struct node_opts o;
	struct mcs_loop *loop;
	struct mcs_segment seg;
	struct node_data data;
	struct node_master master;
	struct mcs_rtab *rtab;          /* the parts the segment holds (replicas.h) */
	struct node_clients clients;
	struct node_metrics metrics;
};

#endif
