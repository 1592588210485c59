/* SPDX-License-Identifier: MIT */
/*
 * mcstored's link to the master (master_link.c): connect, mount the
 * segment, heartbeat, carry requests for the other parts and hand each
 * answer back to whoever sent it, reconnect and remount when the master
 * goes away, unmount on shutdown. It calls nobody above it: what it has to
 * tell, it tells through the callbacks it was given.
 */
#ifndef MCS_DAEMON_MASTER_LINK_H
#define MCS_DAEMON_MASTER_LINK_H

#include <stdbool.h>
#include <stdint.h>

#include "daemon/discover.h"
#include "daemon/opts.h"
#include "proto/proto.h"
#include "shm/shm.h"
#include "uring/loop.h"

/* What a request remembers for its answer, as its sender gave it. */
struct node_master_req {
	uint16_t opcode;
	void *owner;               /* NULL once forgotten (or never given) */
	uint64_t req_id;           /* the sender's own id for it */
	char *key;                 /* a copy of the key when asked to keep one */
	uint32_t get_flags;
};

/* The answer h (body: h->body_len bytes) to request q, or a made-up
 * -EHOSTDOWN answer without a body when the link went down first (then
 * only for requests whose owner is still there). */
typedef void (*node_master_reply_fn)(void *ctx, const struct node_master_req *q, const struct mcs_hdr *h,
				     const uint8_t *body);

/* How a request is sent on someone's behalf. */
struct node_master_call {
	node_master_reply_fn reply; /* NULL: nobody wants the answer */
	void *ctx;
	void *owner;               /* not NULL: needs the segment mounted */
	uint64_t req_id;
	struct mcs_str key;        /* kept for the answer when not empty */
	uint32_t get_flags;
};

/* What the link tells the daemon about itself. */
struct node_master_events {
	void (*mounted)(void *arg); /* the segment is mounted (again) */
	void (*lost)(void *arg);    /* the link is gone, and all it held at the master */
	void (*table_moved)(void *arg); /* the table of parts is in a new memfd (mcs_rtab_fd) */
	void (*reported)(void *arg); /* after a mount, the master has our objects (the report ended) */
	void *arg;
};

struct pending;
struct mcs_rtab;

struct node_master {
	struct mcs_loop *loop;
	const struct node_opts *o;
	const struct mcs_segment *seg;
	struct node_master_events ev;
	uint16_t data_port;
	char endpoint[MCS_NAME_MAX + 1]; /* our data endpoint, as mounted */
	char host[256];
	uint16_t port;

	bool etcd;                 /* --master etcd://: the leader from discovery */
	struct node_discover discover;
	char hint[256];            /* a standby named the leader: dial it next */
	uint64_t max_term;         /* the newest leader's term seen (a lower one is refused) */
	struct mcs_conn *conn;     /* NULL while disconnected */
	struct mcs_auth_client auth; /* the link's handshake (with a key) */
	bool connecting;           /* conn is a connect not yet answered */
	bool soon;                 /* the next reconnect in 100 ms, not a second */
	bool mounted;
	bool ever_mounted;
	bool stopping;
	struct mcs_timer *reconnect;
	struct mcs_timer *heartbeat;
	struct mcs_timer *stop_timer;
	unsigned connect_failures;      /* in a row, since connect_failing_since_ms */
	uint64_t connect_failing_since_ms;
	bool connect_warned;            /* the wait has lasted: warned once */
	unsigned connect_warned_at;
	/* for /health: since when the link is down (monotonic ms, 0: not
	 * tried yet) and why (the last connect error, refused mount or close
	 * status; 0: the master closed the link) */
	uint64_t down_ms;
	int err;
	const char *why;                /* the resolver's reason, when the name did not resolve */

	struct pending *pend;      /* indexed by (req_id & 0xffffffff) */
	uint32_t n_pend, cap_pend, free_pend;
	uint64_t n_inflight;
	struct mcs_buf scratch;

	/* The table of the parts this node holds (daemon/replicas.h), kept
	 * by the master's REPLICA_ADD and REPLICA_DROP notices, and reported
	 * part by part after every mount so that a master that lost its
	 * tables (a restart) takes the objects back. */
	struct mcs_rtab *rtab;
	struct {
		uint64_t *offsets;      /* the parts to report, ascending */
		uint64_t n, next;       /* how many, and the next to send */
		uint64_t inflight;
		bool ended;             /* REPORT_END sent */
		uint64_t taken, refused, kept; /* answers: taken back, forgotten, kept */
		uint64_t started_ms;
	} report;

	struct {
		uint64_t heartbeats_sent, heartbeats_answered, heartbeats_refused;
		uint64_t heartbeat_sent_ns, heartbeat_rtt_ns; /* the last one */
	} tel;
};

/* Connect (or keep trying) and mount seg, advertising data_port as the
 * data endpoint, and report the parts of rtab; heartbeat from then on. */
int node_master_start(struct node_master *m, struct mcs_loop *loop, const struct node_opts *o,
		      const struct mcs_segment *seg, struct mcs_rtab *rtab, uint16_t data_port,
		      const struct node_master_events *ev);
/* Send a request to the master (call NULL: the answer is not wanted).
 * -EHOSTDOWN when not connected, or not mounted for an owner's request. */
int node_master_send(struct node_master *m, uint16_t opcode, const void *body, size_t len,
		     const struct node_master_call *call);
/* owner is going away: its requests are answered with owner NULL. */
void node_master_forget(struct node_master *m, void *owner);
/* Unmount and leave the loop once the master confirmed (or did not in time). */
void node_master_stop(struct node_master *m);
/* The loop is about to close everything: no reconnect, no unmount. */
void node_master_detach(struct node_master *m);
/* After the loop is gone. */
void node_master_free(struct node_master *m);

#endif
