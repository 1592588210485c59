/* SPDX-License-Identifier: MIT */
/*
 * mcstored's options (main.c's set_option() fills them from the command
 * line and the configuration file); every part reads the ones it needs.
 */
#ifndef MCS_DAEMON_OPTS_H
#define MCS_DAEMON_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "auth/auth.h"
#include "shm/shm.h"

#define NODE_MAX_ALLOW 64

struct node_opts {
	const char *master;        /* host:port */
	const char *name;          /* node name */
	const char *segment_name;  /* default "<name>-0" */
	const char *socket_path;
	const char *data_host;     /* --data-host: address to advertise, NULL: auto */
	const char *data_listen;   /* --data-listen: address to bind the data port */
	const char *client_master; /* --client-master: for clients' HELLO; NULL: master */
	uint16_t data_port;        /* --data-port, 0: any free port */
	uint64_t heartbeat_ms;     /* --heartbeat-interval-ms */
	uint64_t data_timeout_ms;  /* --data-timeout-ms */
	uint64_t max_client_buffers; /* bytes of shared buffers per client */
	uint64_t max_client_buffer_count; /* shared buffers per client */
	uint64_t max_clients;      /* --max-clients: connections on the socket */
	uint64_t max_client_inflight; /* --max-client-inflight: relayed requests unanswered */
	uint64_t frame_timeout_ms; /* --frame-timeout-ms: a frame begun and not finished; 0: none */
	uint64_t max_conns;        /* --max-connections: data port connections at once; 0: no limit */
	uint64_t max_conns_per_peer; /* --max-connections-per-peer: of them from one address */
	uint64_t max_queued;       /* --max-queued-answers: unread answer bytes before a conn is not read; 0: none */
	uint64_t idle_timeout_ms;  /* --idle-timeout-ms: connected and no request yet; 0: none */
	uint64_t segment_size;
	enum mcs_seg_mode seg_mode;
	bool populate;
	uint32_t max_frame;
	unsigned socket_mode;
	int32_t metrics_port;      /* --metrics-port, -1: none */
	uint64_t busy_poll_us;     /* --busy-poll-us: adaptive polling budget; 0: sleep at once */
	int parent_fd;             /* --parent-fd, -1: none */
	const char *key_file;      /* --key-file; NULL: CONFDIR/cluster.key if there, "": none */
	bool protected_mode;       /* --protected-mode: no key, loopback only */
	struct mcs_keys keys;      /* loaded from key_file; off without */
	uint64_t incarnation;      /* of the segment: random, made at start */
	bool segment_kept;         /* taken back from the fd store: the master may still
				    * hold the mount of the start before (a retry, not a clash) */
	/* --allow-users, --allow-groups: who may use the client socket, by
	 * SO_PEERCRED / SO_PEERGROUPS (none given: whoever the socket's mode
	 * lets in); root and the daemon's own user always may */
	uint32_t allow_uids[NODE_MAX_ALLOW], allow_gids[NODE_MAX_ALLOW];
	unsigned n_allow_uids, n_allow_gids;
	/* --read-only-users, --read-only-groups: who gets no mapping and the
	 * reader's key (gets, exists, lists; never a write) */
	uint32_t ro_uids[NODE_MAX_ALLOW], ro_gids[NODE_MAX_ALLOW];
	unsigned n_ro_uids, n_ro_gids;
};

#endif
