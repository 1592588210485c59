/* SPDX-License-Identifier: MIT */
/*
 * mcstored's state, shared by its parts:
 *   main.c        options, start-up, shutdown
 *   master_link.c the connection to the master: mount, relay, reconnect
 *   clients.c     local clients on the unix socket: hello + memfd, relay
 */
#ifndef MCS_DAEMON_NODE_H
#define MCS_DAEMON_NODE_H

#include <stdbool.h>
#include <stdint.h>

#include "proto/proto.h"
#include "shm/shm.h"
#include "uring/loop.h"

struct mcs_metrics;

struct client;
struct peer_pool;
struct xfer;

/* A buffer shared with one client (a memfd the daemon made and mapped):
 * where remote data lands for FETCH and leaves from for PUSH. Referenced
 * by the client and by every transfer using it, so a client that leaves
 * mid-transfer cannot pull the memory from under the ring. */
struct cbuf {
	uint32_t id;
	void *base;
	uint64_t size;
	unsigned refs;
	struct mcs_segment seg;
	struct cbuf *next;         /* in the client's list */
};

/* A request sent to the master, waiting for its answer. */
struct pending {
	bool in_use;
	uint32_t gen;
	uint16_t opcode;
	struct client *cl;     /* NULL: the daemon's own request, or client gone */
	uint64_t client_req_id;
	char *key;             /* for PUT_START/PUT_END/PUT_REVOKE/GET(hold) bookkeeping */
	uint32_t get_flags;
	uint32_t next_free;
	uint64_t sent_ns;      /* for the request probe */
};

struct node_opts {
	const char *master;        /* host:port */
	const char *name;          /* node name */
	const char *segment_name;  /* default "<name>-0" */
	const char *socket_path;
	const char *endpoint;      /* advertised data endpoint (host:port), set at start */
	const char *data_host;     /* --data-host: address to advertise, NULL: auto */
	const char *data_listen;   /* --data-listen: address to bind the data port */
	const char *client_master; /* --client-master: for clients' HELLO; NULL: master */
	uint16_t data_port;        /* --data-port, 0: any free port */
	uint64_t heartbeat_ms;     /* --heartbeat-interval-ms */
	uint64_t data_timeout_ms;  /* --data-timeout-ms */
	uint64_t max_client_buffers; /* bytes of shared buffers per client */
	uint64_t segment_size;
	enum mcs_seg_mode seg_mode;
	bool populate;
	uint32_t max_frame;
	unsigned socket_mode;
	int32_t metrics_port;      /* --metrics-port, -1: none */
};

struct node {
	struct node_opts o;
	struct mcs_loop *loop;
	struct mcs_segment seg;
	char master_host[256];
	uint16_t master_port;

	struct mcs_conn *master;   /* NULL while disconnected */
	bool mounted;
	bool ever_mounted;
	bool stopping;
	struct mcs_timer *reconnect;
	struct mcs_timer *stop_timer;
	unsigned connect_failures;      /* in a row, since connect_failing_since_ms */
	uint64_t connect_failing_since_ms;
	bool connect_warned;            /* the wait has lasted: warned once */
	unsigned connect_warned_at;
	/* for /health: since when the link is down (monotonic ms, 0: not
	 * tried yet) and why (the last connect error, refused mount or close
	 * status; 0: the master closed the link) */
	uint64_t master_down_ms;
	int master_err;
	const char *master_why;         /* the resolver's reason, when the name did not resolve */

	bool listening;
	struct client *clients;
	uint64_t n_clients;

	struct pending *pend;      /* indexed by (req_id & 0xffffffff) */
	uint32_t n_pend, cap_pend, free_pend;
	uint64_t n_inflight;

	struct mcs_buf scratch;

	/* data path (data.c) */
	uint16_t data_port_bound;
	char endpoint[MCS_NAME_MAX + 1];
	struct peer_pool *pools;
	struct xfer *xfers;
	uint64_t next_buf_id;
	struct mcs_timer *tick;
	struct {
		uint64_t bytes_served, bytes_received;
		uint64_t relayed;  /* client requests relayed to the master */
	} stats;
	/* for the metrics page (metrics.c) */
	struct {
		uint64_t heartbeats_sent, heartbeats_answered, heartbeats_refused;
		uint64_t heartbeat_sent_ns, heartbeat_rtt_ns; /* the last one */
	} tel;
	struct mcs_metrics *metrics;
};

/* master_link.c */
int node_master_start(struct node *n);
/* Send a request to the master on behalf of cl (or the daemon if NULL).
 * key/get_flags are remembered for bookkeeping. -EHOSTDOWN when not
 * mounted (own requests: when not connected). */
int node_master_send(struct node *n, struct client *cl, uint64_t client_req_id, uint16_t opcode,
		     const void *body, size_t len, struct mcs_str key, uint32_t get_flags);
void node_master_stop(struct node *n);
/* Forget cl in every pending request (it is going away). */
void node_forget_client(struct node *n, struct client *cl);

/* data.c */
int node_data_listen(struct node *n);
/* Start a FETCH or PUSH for cl; the answer goes out through
 * client_transfer_done. < 0 only when nothing was started. */
int node_transfer(struct node *n, struct client *cl, uint64_t req_id, uint16_t opcode,
		  const struct mcs_transfer_req *q, struct cbuf *buf);
void node_forget_client_xfers(struct node *n, struct client *cl);
void node_data_sweep(struct node *n);
void node_data_free(struct node *n);
int cbuf_new(struct node *n, uint64_t size, struct cbuf **ret);
struct cbuf *cbuf_ref(struct cbuf *b);
struct cbuf *cbuf_unref(struct cbuf *b);

/* metrics.c: --metrics-port */
int node_metrics_start(struct node *n);
void node_metrics_stop(struct node *n);

/* clients.c */
void client_transfer_done(struct node *n, struct client *cl, uint64_t req_id, uint16_t opcode, int err);
int node_clients_listen(struct node *n);
/* The master answered a request of cl. */
void client_master_reply(struct node *n, struct client *cl, const struct pending *p, const struct mcs_hdr *h,
			 const uint8_t *body);
/* The master connection is gone: everything it held for clients is gone too. */
void node_clients_master_lost(struct node *n);
void node_clients_close_all(struct node *n);

#endif
