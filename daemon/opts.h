/* SPDX-License-Identifier: MIT */
/*
 * mcstored's options (main.c's set_option() fills them from the command
 * line and the configuration file); every part reads the ones it needs.
 */
#ifndef MCS_DAEMON_OPTS_H
#define MCS_DAEMON_OPTS_H

#include <stdbool.h>
#include <stdint.h>

#include "shm/shm.h"

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
	int parent_fd;             /* --parent-fd, -1: none */
};

#endif
