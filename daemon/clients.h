/* SPDX-License-Identifier: MIT */
/*
 * mcstored's local clients (clients.c): processes on this node that connect
 * to the unix socket. It uses the data path for their transfers and
 * buffers and the master link for their metadata requests; both answer it
 * through the callbacks it gives them.
 */
#ifndef MCS_DAEMON_CLIENTS_H
#define MCS_DAEMON_CLIENTS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/list.h"
#include "daemon/data.h"
#include "daemon/master_link.h"
#include "daemon/opts.h"
#include "proto/proto.h"
#include "shm/shm.h"
#include "uring/loop.h"

struct client;

struct node_clients {
	struct mcs_loop *loop;
	const struct node_opts *o;
	const struct mcs_segment *seg;
	struct node_data *data;
	struct node_master *master;
	bool listening;
	bool closing;              /* no client is accepted any more */
	struct mcs_list clients;   /* connected (struct client) */
	uint64_t n_clients;
	uint64_t relayed;          /* client requests relayed to the master */
	uint64_t refused;          /* connections refused by --allow-users / --allow-groups */
	struct mcs_buf scratch;
};

void node_clients_init(struct node_clients *cs, struct mcs_loop *loop, const struct node_opts *o,
		       const struct mcs_segment *seg, struct node_data *data, struct node_master *master);
/* Listen on --socket: from now on a connection means a node that serves. */
int node_clients_listen(struct node_clients *cs);
/* The master connection is gone: everything it held for clients is gone too. */
void node_clients_master_lost(struct node_clients *cs);
/* The master has our objects again (the report of a new mount ended):
 * the holds of the clients' zero-copy views, lost with the old link,
 * are taken again (RELEASE then carries the new id). */
void node_clients_retake_holds(struct node_clients *cs);
/* Shutting down: remove the socket, close every client, accept none. */
void node_clients_stop(struct node_clients *cs);
/* After the loop is gone (and every client with it). */
void node_clients_free(struct node_clients *cs);

#endif
