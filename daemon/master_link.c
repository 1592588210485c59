/* SPDX-License-Identifier: MIT */
/*
 * mcstored's link to the master: connect, mount the segment, relay client
 * requests and route the answers back, reconnect and remount when the
 * master goes away, unmount on shutdown.
 *
 * Requests to the master get a fresh request id whose low 32 bits index
 * the pending table and whose high bits are a generation, so a late or
 * forged answer can never be matched to the wrong request.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/notify.h"
#include "common/probes.h"
#include "common/util.h"
#include "daemon/node.h"
#include "mcstore.h"

#define RECONNECT_MS 1000
#define CONNECT_TIMEOUT_MS 1000

static uint32_t pend_alloc(struct node *n)
{
	if (n->free_pend != UINT32_MAX) {
		uint32_t i = n->free_pend;
		n->free_pend = n->pend[i].next_free;
		return i;
	}
	if (n->n_pend == n->cap_pend) {
		uint32_t cap = n->cap_pend ? n->cap_pend * 2 : 64;
		struct pending *p = realloc(n->pend, cap * sizeof(*p));
		if (!p)
			return UINT32_MAX;
		memset(p + n->cap_pend, 0, (cap - n->cap_pend) * sizeof(*p));
		n->pend = p;
		n->cap_pend = cap;
	}
	return n->n_pend++;
}

static void pend_release(struct node *n, uint32_t i)
{
	struct pending *p = &n->pend[i];
	free(p->key);
	p->key = NULL;
	p->in_use = false;
	p->cl = NULL;
	p->gen++;
	p->next_free = n->free_pend;
	n->free_pend = i;
	n->n_inflight--;
}

int node_master_send(struct node *n, struct client *cl, uint64_t client_req_id, uint16_t opcode,
		     const void *body, size_t len, struct mcs_str key, uint32_t get_flags)
{
	if (!n->master || (cl && !n->mounted))
		return -EHOSTDOWN;
	uint32_t i = pend_alloc(n);
	if (i == UINT32_MAX)
		return -ENOMEM;
	struct pending *p = &n->pend[i];
	p->in_use = true;
	p->opcode = opcode;
	p->sent_ns = mcs_now_ns();
	p->cl = cl;
	p->client_req_id = client_req_id;
	p->get_flags = get_flags;
	p->key = NULL;
	n->n_inflight++;
	if (key.len) {
		p->key = malloc(key.len + 1);
		if (!p->key) {
			pend_release(n, i);
			return -ENOMEM;
		}
		memcpy(p->key, key.p, key.len);
		p->key[key.len] = '\0';
	}
	struct mcs_hdr h = { .opcode = opcode, .req_id = ((uint64_t)p->gen << 32) | i };
	int r = mcs_conn_send(n->master, &h, body, len, -1);
	if (r < 0) {
		pend_release(n, i);
		return r == -EPIPE ? -EHOSTDOWN : r;
	}
	return 0;
}

void node_forget_client(struct node *n, struct client *cl)
{
	for (uint32_t i = 0; i < n->n_pend; i++)
		if (n->pend[i].in_use && n->pend[i].cl == cl)
			n->pend[i].cl = NULL;
}

/* What other nodes dial to reach our data port: --data-host, or else the
 * address this host uses to reach the master (the master's network is the
 * cluster's network). */
static void set_endpoint(struct node *n)
{
	char host[INET6_ADDRSTRLEN] = "127.0.0.1";
	if (n->o.data_host && *n->o.data_host) {
		snprintf(host, sizeof(host), "%s", n->o.data_host);
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getsockname(mcs_conn_fd(n->master), (struct sockaddr *)&ss, &sl) == 0)
			getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	}
	if (strchr(host, ':'))
		snprintf(n->endpoint, sizeof(n->endpoint), "[%s]:%u", host, n->data_port_bound);
	else
		snprintf(n->endpoint, sizeof(n->endpoint), "%s:%u", host, n->data_port_bound);
	n->o.endpoint = n->endpoint;
}

static void send_mount(struct node *n)
{
	set_endpoint(n);
	struct mcs_mount_req q = {
		.node = mcs_str_c(n->o.name),
		.segment = mcs_str_c(n->o.segment_name),
		.size = n->seg.size,
		.endpoint = mcs_str_c(n->o.endpoint),
	};
	mcs_buf_reset(&n->scratch);
	mcs_enc_mount_req(&n->scratch, &q);
	int r = n->scratch.err;
	if (r == 0)
		r = node_master_send(n, NULL, 0, MCS_OP_MOUNT, n->scratch.p, n->scratch.len, (struct mcs_str){ 0 }, 0);
	if (r < 0) {
		log_error_errno(r, "cannot send the mount request for segment \"%s\": %m", n->o.segment_name);
		mcs_conn_close(n->master);
	}
}

static void on_mount_reply(struct node *n, const struct mcs_hdr *h)
{
	if (h->status < 0) {
		log_error_errno(h->status, "mount of segment \"%s\" refused by master %s:%u: %m", n->o.segment_name,
				n->master_host, n->master_port);
		if (h->status == -EEXIST && !n->ever_mounted) {
			log_error("another node already mounted a segment named \"%s\"; use --name", n->o.segment_name);
			mcs_loop_exit(n->loop, 1);
			return;
		}
		/* the master may still hold our old segment after a reconnect
		 * race: drop the link and try again later */
		n->master_err = h->status;
		mcs_conn_close(n->master);
		return;
	}
	char sz[32];
	n->mounted = true;
	log_info("segment \"%s\" (%s, %s pages) mounted with master %s:%u", n->o.segment_name,
		 mcs_fmt_size(n->seg.size, sz, sizeof(sz)), n->seg.hugepages ? "huge" : "normal", n->master_host,
		 n->master_port);
	if (!n->listening) {
		int r = node_clients_listen(n);
		if (r < 0) {
			mcs_loop_exit(n->loop, 1);
			return;
		}
		n->listening = true;
		log_info("serving clients on %s", n->o.socket_path);
		mcs_notify_ready(NULL);
	}
	mcs_notify_status("segment %s mounted with master %s:%u, serving %s", n->o.segment_name, n->master_host,
			  n->master_port, n->o.socket_path);
	n->ever_mounted = true;
}

static int on_master_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *userdata)
{
	struct node *n = userdata;
	if (!(h->flags & MCS_F_RESPONSE)) {
		log_warning("master sent a request (%s); this daemon serves none, closing", mcs_op_name(h->opcode));
		return -EPROTO;
	}
	uint32_t i = (uint32_t)h->req_id;
	if (i >= n->n_pend || !n->pend[i].in_use || n->pend[i].gen != (uint32_t)(h->req_id >> 32) ||
	    n->pend[i].opcode != h->opcode) {
		log_warning("master answered unknown request %llu (%s), closing", (unsigned long long)h->req_id,
			    mcs_op_name(h->opcode));
		return -EPROTO;
	}
	struct pending *p = &n->pend[i];
	if (p->opcode == MCS_OP_MOUNT && !p->cl)
		on_mount_reply(n, h);
	else if (p->opcode == MCS_OP_UNMOUNT && !p->cl) {
		if (h->status < 0)
			log_warning_errno(h->status, "unmount of segment \"%s\" failed: %m", n->o.segment_name);
		else
			log_info("segment \"%s\" unmounted", n->o.segment_name);
		n->mounted = false;
		if (n->stopping)
			mcs_loop_exit(n->loop, 0);
	} else if (p->opcode == MCS_OP_HEARTBEAT && !p->cl) {
		n->tel.heartbeats_answered++;
		n->tel.heartbeat_rtt_ns = mcs_now_ns() - n->tel.heartbeat_sent_ns;
		MCS_PROBE3(heartbeat_ack, n->tel.heartbeats_answered, n->tel.heartbeat_rtt_ns, h->status);
		if (h->status < 0) {
			n->tel.heartbeats_refused++;
			log_warning_errno(h->status, "master refused a heartbeat: %m");
		}
	} else {
		MCS_PROBE3(request, p->opcode, h->status, mcs_now_ns() - p->sent_ns);
		client_master_reply(n, p->cl, p, h, body);
	}
	pend_release(n, i);
	return 0;
}

static void schedule_reconnect(struct node *n);

static void on_master_close(struct mcs_conn *c, int err, void *userdata)
{
	struct node *n = userdata;
	bool was_mounted = n->mounted;
	if (n->master == c) {
		n->master = mcs_conn_unref(n->master);
		n->mounted = false;
		n->master_down_ms = mcs_now_ms();
		if (err)  /* else keep a refused mount's status (0: the master closed) */
			n->master_err = err;
	}
	/* every request in flight is lost; answer the clients */
	for (uint32_t i = 0; i < n->n_pend; i++) {
		struct pending *p = &n->pend[i];
		if (!p->in_use)
			continue;
		if (p->cl) {
			struct mcs_hdr h = { .opcode = p->opcode, .flags = MCS_F_RESPONSE, .status = -EHOSTDOWN };
			client_master_reply(n, p->cl, p, &h, NULL);
		}
		pend_release(n, i);
	}
	node_clients_master_lost(n);
	if (n->stopping) {
		mcs_loop_exit(n->loop, 0);
		return;
	}
	mcs_notify_status("master %s:%u lost, reconnecting", n->master_host, n->master_port);
	if (was_mounted)
		log_warning("lost the master %s:%u (%s); segment unmounted there, reconnecting", n->master_host,
			    n->master_port, err ? mcs_strerror(err) : "closed");
	schedule_reconnect(n);
}

static const struct mcs_conn_ops master_ops = { .on_frame = on_master_frame, .on_close = on_master_close };

/* A non-blocking connect bounded by CONNECT_TIMEOUT_MS: the only wait the
 * daemon makes outside the ring, and only while it has no master. */
static int connect_master(struct node *n, const char **ret_why)
{
	return mcs_tcp_connect(n->master_host, n->master_port, CONNECT_TIMEOUT_MS, ret_why);
}

/* A node started with (or just before) its master, or one whose master
 * restarts, waits a few seconds as a matter of course: that is news, not
 * a warning, until it lasts. */
#define CONNECT_PATIENCE_MS 10000

static void log_connect_failure(struct node *n, int err, const char *why)
{
	uint64_t now = mcs_now_ms();
	unsigned k = n->connect_failures++;
	if (k == 0)
		n->connect_failing_since_ms = now;
	uint64_t waited = now - n->connect_failing_since_ms;
	char reason[512];
	if (why)
		snprintf(reason, sizeof(reason), "cannot resolve \"%s\": %s", n->master_host, why);
	else
		snprintf(reason, sizeof(reason), "%s", mcs_strerror(err));
	if (k == 0)
		log_info("waiting for master %s:%u (%s); retrying every %d ms", n->master_host, n->master_port,
			 reason, RECONNECT_MS);
	else if (waited >= CONNECT_PATIENCE_MS && !n->connect_warned) {
		n->connect_warned = true;
		n->connect_warned_at = k;
		log_warning("cannot reach master %s:%u for %llu s now (%s); retrying every %d ms", n->master_host,
			    n->master_port, (unsigned long long)(waited / 1000), reason, RECONNECT_MS);
	} else if (n->connect_warned && (k - n->connect_warned_at) % 60 == 0)
		log_warning("still cannot reach master %s:%u after %llu s (%s)", n->master_host, n->master_port,
			    (unsigned long long)(waited / 1000), reason);
	else
		log_debug("cannot reach master %s:%u: %s", n->master_host, n->master_port, reason);
}

static int try_connect(struct node *n)
{
	const char *why = NULL;
	int fd = connect_master(n, &why);
	if (fd < 0) {
		n->master_err = fd;
		n->master_why = why;
		log_connect_failure(n, fd, why);
		return fd;
	}
	struct mcs_conn *c;
	int r = mcs_loop_add_conn(n->loop, fd, &master_ops, n, &c);
	if (r < 0)
		return log_error_errno(r, "cannot watch the master connection: %m");
	n->master = mcs_conn_ref(c);
	if (n->connect_warned)
		log_notice("connected to master %s:%u after %llu s", n->master_host, n->master_port,
			   (unsigned long long)((mcs_now_ms() - n->connect_failing_since_ms) / 1000));
	else
		log_info("connected to master %s:%u", n->master_host, n->master_port);
	n->connect_failures = 0;
	n->connect_warned = false;
	n->master_err = 0;
	n->master_why = NULL;
	send_mount(n);
	return 0;
}

static void on_reconnect(struct mcs_timer *t, void *userdata)
{
	struct node *n = userdata;
	if (n->master || n->stopping) {
		mcs_timer_free(t);
		n->reconnect = NULL;
		return;
	}
	if (try_connect(n) == 0) {
		mcs_timer_free(t);
		n->reconnect = NULL;
	}
}

static void schedule_reconnect(struct node *n)
{
	if (n->reconnect)
		return;
	int r = mcs_loop_add_timer(n->loop, RECONNECT_MS, RECONNECT_MS, on_reconnect, n, &n->reconnect);
	if (r < 0) {
		log_error_errno(r, "cannot arm the reconnect timer: %m");
		mcs_loop_exit(n->loop, 1);
	}
}

/* Every heartbeat interval: tell the master we are alive, and drop data
 * connections that stopped answering. */
static void on_tick(struct mcs_timer *t, void *userdata)
{
	struct node *n = userdata;
	if (n->mounted && !n->stopping) {
		if (n->tel.heartbeats_sent > n->tel.heartbeats_answered)
			MCS_PROBE2(heartbeat_missed, n->tel.heartbeats_sent,
				   n->tel.heartbeats_sent - n->tel.heartbeats_answered);
		struct mcs_heartbeat_req q = { .node = mcs_str_c(n->o.name) };
		mcs_buf_reset(&n->scratch);
		mcs_enc_heartbeat_req(&n->scratch, &q);
		if (!n->scratch.err && node_master_send(n, NULL, 0, MCS_OP_HEARTBEAT, n->scratch.p, n->scratch.len,
							(struct mcs_str){ 0 }, 0) == 0) {
			n->tel.heartbeats_sent++;
			n->tel.heartbeat_sent_ns = mcs_now_ns();
			MCS_PROBE1(heartbeat_send, n->tel.heartbeats_sent);
		}
	}
	node_data_sweep(n);
}

int node_master_start(struct node *n)
{
	int tr = mcs_loop_add_timer(n->loop, n->o.heartbeat_ms, n->o.heartbeat_ms, on_tick, n, &n->tick);
	if (tr < 0)
		return log_error_errno(tr, "cannot arm the heartbeat timer: %m");
	n->free_pend = UINT32_MAX;
	int r = mcs_parse_hostport(n->o.master, n->master_host, sizeof(n->master_host), &n->master_port);
	if (r < 0)
		return log_error_errno(EINVAL, "invalid --master '%s': expected HOST:PORT", n->o.master);
	n->master_down_ms = mcs_now_ms();
	if (try_connect(n) < 0)
		schedule_reconnect(n);
	return 0;
}

static void on_stop_timeout(struct mcs_timer *t, void *userdata)
{
	struct node *n = userdata;
	log_warning("master did not confirm the unmount in time, exiting anyway");
	mcs_loop_exit(n->loop, 0);
}

void node_master_stop(struct node *n)
{
	n->stopping = true;
	if (n->reconnect) {
		mcs_timer_free(n->reconnect);
		n->reconnect = NULL;
	}
	if (!n->master || !n->mounted) {
		mcs_loop_exit(n->loop, 0);
		return;
	}
	struct mcs_unmount_req q = { .segment = mcs_str_c(n->o.segment_name) };
	mcs_buf_reset(&n->scratch);
	mcs_enc_unmount_req(&n->scratch, &q);
	if (n->scratch.err ||
	    node_master_send(n, NULL, 0, MCS_OP_UNMOUNT, n->scratch.p, n->scratch.len, (struct mcs_str){ 0 }, 0) < 0) {
		mcs_loop_exit(n->loop, 0);
		return;
	}
	if (mcs_loop_add_timer(n->loop, 2000, 0, on_stop_timeout, n, &n->stop_timer) < 0)
		mcs_loop_exit(n->loop, 0);
}
