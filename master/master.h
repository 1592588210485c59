/* SPDX-License-Identifier: MIT */
/*
 * The master program's state, shared by its files: main.c (start-up, the
 * connections, the timers), requests.c (one handler per opcode) and
 * options.c (the command line and master.conf). The store it serves is
 * master/store.h; the metrics page, metrics.c.
 */
#ifndef MCS_MASTER_MASTER_H
#define MCS_MASTER_MASTER_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "master/acks.h"
#include "master/ha.h"
#include "master/metrics.h"
#include "common/list.h"
#include "master/store.h"
#include "proto/proto.h"
#include "uring/loop.h"

struct master {
	struct mcs_loop *loop;
	struct mcs_store *store;
	struct mcs_buf out;              /* the answer being built */
	struct mcs_buf note;             /* a notice to a node (REPLICA_ADD, REPLICA_DROP) */
	uint64_t notices_failed;         /* not queued (out of memory) */
	struct master_acks acks;         /* PUT_END answers waiting for the nodes' */
	uint64_t parts_rebuilt;          /* parts the nodes reported and the store took */
	uint64_t parts_refused;          /* reported, and refused: the node forgets them */
	uint64_t n_conns;
	uint64_t node_timeout_ms;
	uint64_t max_holds;              /* --max-holds-per-connection */
	struct mcs_list peers;           /* connections (struct peer) */
	struct mcs_timer *sweep;
	uint64_t sweep_every_ms, last_sweep_ms;
	uint64_t nodes_lost;
	uint64_t requests[MASTER_N_OPS]; /* by opcode, for the metrics page */
	struct mcs_metrics *metrics;
	struct mcs_keys keys;            /* --key-file; off: no authentication */
	uint64_t token_ttl_ms;           /* a read token's life */
	uint64_t put_timeout_ms;         /* a write token's life */
	char self[MCS_NAME_MAX + 1];     /* the address nodes dial (--rpc-address) */
	bool ha_on;                      /* --enable-ha */
	bool was_leading;                /* as the last HA tick saw it */
	struct master_ha ha;
};

/* One connection: a node, or a client with a direct metadata link. */
struct peer {
	struct master *m;
	struct mcs_conn *conn;     /* known from the first frame on */
	char name[64];
	uint64_t last_seen_ms;
	uint64_t last_heartbeat_ns; /* for the heartbeat_recv probe */
	bool lost;                  /* declared lost by the sweep (node_lost, not node_gone) */
	bool acks;                  /* it mounted with MCS_MOUNT_ACKS: it answers REPLICA_ADD */
	char node[64];              /* the name its heartbeats give, for the probes */
	struct mcs_list link;       /* in m->peers */
	uint64_t holds;             /* zero-copy holds it has (released by RELEASE or its close) */
	struct mcs_auth_peer auth;  /* its handshake, and the role it proved */
	struct mcs_store_prefetch prefetch; /* the keys of its pipelined requests */
};

#endif
