/* SPDX-License-Identifier: MIT */
/*
 * mcstored's link to the master: connect, mount the segment, relay client
 * requests and route the answers back, reconnect and remount when the
 * master goes away, unmount on shutdown.
 *
 * Requests to the master get a fresh request id whose low 32 bits index
 * the pending table and whose high bits are a generation, so a late or
 * forged answer can never be matched to the wrong request. Each pending
 * request carries the callback its sender gave for the answer.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/notify.h"
#include "common/probes.h"
#include "common/util.h"
#include "daemon/master_link.h"
#include "daemon/replicas.h"
#include "mcstore.h"

#define RECONNECT_MS 1000
#define CONNECT_TIMEOUT_MS 1000

/* A request sent to the master, waiting for its answer. */
struct pending {
	bool in_use;
	bool own;              /* the link's own MOUNT, UNMOUNT or HEARTBEAT */
	uint32_t gen;
	uint32_t next_free;
	uint64_t sent_ns;      /* for the request probe */
	node_master_reply_fn reply;
	void *ctx;
	struct node_master_req q;
};

static uint32_t pend_alloc(struct node_master *m)
{
	if (m->free_pend != UINT32_MAX) {
		uint32_t i = m->free_pend;
		m->free_pend = m->pend[i].next_free;
		return i;
	}
	if (m->n_pend == m->cap_pend) {
		uint32_t cap = m->cap_pend ? m->cap_pend * 2 : 64;
		struct pending *p = realloc(m->pend, cap * sizeof(*p));
		if (!p)
			return UINT32_MAX;
		memset(p + m->cap_pend, 0, (cap - m->cap_pend) * sizeof(*p));
		m->pend = p;
		m->cap_pend = cap;
	}
	return m->n_pend++;
}

static void pend_release(struct node_master *m, uint32_t i)
{
	struct pending *p = &m->pend[i];
	free(p->q.key);
	p->q = (struct node_master_req){ 0 };
	p->in_use = false;
	p->gen++;
	p->next_free = m->free_pend;
	m->free_pend = i;
	m->n_inflight--;
}

static int send_request(struct node_master *m, uint16_t opcode, const void *body, size_t len,
			const struct node_master_call *call, bool own, uint64_t tag)
{
	if (!m->conn || (call && call->owner && !m->mounted))
		return -EHOSTDOWN;
	uint32_t i = pend_alloc(m);
	if (i == UINT32_MAX)
		return -ENOMEM;
	struct pending *p = &m->pend[i];
	p->in_use = true;
	p->own = own;
	p->sent_ns = mcs_now_ns();
	p->reply = call ? call->reply : NULL;
	p->ctx = call ? call->ctx : NULL;
	p->q = (struct node_master_req){ .opcode = opcode, .req_id = tag };
	m->n_inflight++;
	if (call) {
		p->q.owner = call->owner;
		p->q.req_id = call->req_id;
		p->q.get_flags = call->get_flags;
		if (call->key.len && !(p->q.key = strndup(call->key.p, call->key.len))) {
			pend_release(m, i);
			return -ENOMEM;
		}
	}
	struct mcs_hdr h = { .opcode = opcode, .req_id = ((uint64_t)p->gen << 32) | i };
	int r = mcs_conn_send(m->conn, &h, body, len, -1);
	if (r < 0) {
		pend_release(m, i);
		return r == -EPIPE ? -EHOSTDOWN : r;
	}
	return 0;
}

int node_master_send(struct node_master *m, uint16_t opcode, const void *body, size_t len,
		     const struct node_master_call *call)
{
	return send_request(m, opcode, body, len, call, false, 0);
}

/* The link's own requests: the body is in m->scratch; tag comes back
 * with the answer (in its q.req_id). */
static int send_own_tagged(struct node_master *m, uint16_t opcode, uint64_t tag)
{
	int r = m->scratch.err;
	return r ? r : send_request(m, opcode, m->scratch.p, m->scratch.len, NULL, true, tag);
}

static int send_own(struct node_master *m, uint16_t opcode)
{
	return send_own_tagged(m, opcode, 0);
}

void node_master_forget(struct node_master *m, void *owner)
{
	for (uint32_t i = 0; i < m->n_pend; i++)
		if (m->pend[i].in_use && m->pend[i].q.owner == owner)
			m->pend[i].q.owner = NULL;
}

/* What other nodes dial to reach our data port: --data-host, or else the
 * address this host uses to reach the master (the master's network is the
 * cluster's network). */
static void set_endpoint(struct node_master *m)
{
	char host[INET6_ADDRSTRLEN] = "127.0.0.1";
	if (m->o->data_host && *m->o->data_host) {
		snprintf(host, sizeof(host), "%s", m->o->data_host);
	} else {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		if (getsockname(mcs_conn_fd(m->conn), (struct sockaddr *)&ss, &sl) == 0)
			getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), NULL, 0, NI_NUMERICHOST);
	}
	mcs_fmt_hostport(host, m->data_port, m->endpoint, sizeof(m->endpoint));
}

/* ---- the table of parts, and its report ------------------------------------ */

/* Reports in flight at once: enough to keep the master busy, few enough
 * that neither side queues much. */
#define REPORT_WINDOW 256

/* A compaction or a clear moved the table to a new memfd: say so (the
 * fd store must keep the new one). */
static void table_moved(void *arg)
{
	struct node_master *m = arg;
	if (m->ev.table_moved)
		m->ev.table_moved(m->ev.arg);
}

static void report_reset(struct node_master *m)
{
	free(m->report.offsets);
	m->report = (typeof(m->report)){ 0 };
}

static int collect_offset(const struct mcs_replica_part *p, void *arg)
{
	struct node_master *m = arg;
	m->report.offsets[m->report.n++] = p->offset;
	return 0;
}

/* Before a MOUNT: what is to be reported, in ascending offsets (the
 * master takes their space in that order, each in O(1)). */
static void report_prepare(struct node_master *m)
{
	report_reset(m);
	int64_t old = mcs_rtab_drop_superseded(m->rtab);
	if (old > 0)
		log_info("%lld parts of values replaced since are forgotten", (long long)old);
	uint64_t n = mcs_rtab_count(m->rtab);
	if (n == 0)
		return;
	if (!(m->report.offsets = malloc(n * sizeof(uint64_t))) || mcs_rtab_walk(m->rtab, collect_offset, m) < 0) {
		/* nothing reported: the master will not know these objects */
		log_error("out of memory: the %llu objects this node holds are not reported to the master, and "
			  "forgotten", (unsigned long long)n);
		report_reset(m);
		mcs_rtab_clear(m->rtab);
	}
}

/* Send reports up to the window, and the end after the last one. */
static void report_pump(struct node_master *m)
{
	while (m->mounted && m->report.offsets && m->report.inflight < REPORT_WINDOW &&
	       m->report.next < m->report.n) {
		uint64_t off = m->report.offsets[m->report.next++];
		struct mcs_replica_part q;
		if (mcs_rtab_get(m->rtab, off, &q) < 0)
			continue; /* dropped by the master meanwhile */
		q.segment = mcs_str_c(m->o->segment_name);
		mcs_buf_reset(&m->scratch);
		mcs_enc_replica_part(&m->scratch, &q);
		int r = send_own_tagged(m, MCS_OP_REPLICA_REPORT, off);
		if (r < 0) {
			log_error_errno(r, "cannot send a report to the master: %m");
			mcs_conn_close(m->conn);
			return;
		}
		m->report.inflight++;
	}
	if (m->mounted && m->report.offsets && !m->report.ended && m->report.next == m->report.n) {
		struct mcs_unmount_req q = { .segment = mcs_str_c(m->o->segment_name) };
		mcs_buf_reset(&m->scratch);
		mcs_enc_unmount_req(&m->scratch, &q);
		if (send_own(m, MCS_OP_REPORT_END) < 0)
			mcs_conn_close(m->conn);
		m->report.ended = true;
	}
}

static void on_report_reply(struct node_master *m, const struct pending *p, const struct mcs_hdr *h)
{
	m->report.inflight--;
	if (h->status == 0) {
		m->report.taken++;
	} else if (h->status == -ESTALE || h->status == -EINVAL) {
		/* the key has another value, or the space is someone else's */
		mcs_rtab_drop(m->rtab, p->q.req_id);
		m->report.refused++;
	} else {
		m->report.kept++; /* reported already (-EEXIST), or the master could not (next time) */
	}
	report_pump(m);
}

static void on_report_end_reply(struct node_master *m, const struct mcs_hdr *h)
{
	if (h->status < 0)
		log_warning_errno(h->status, "the master refused the end of the report: %m");
	log_info("reported %llu objects' parts to master %s:%u in %llu ms: %llu taken back, %llu forgotten (the "
		 "master has other values or uses their space), %llu kept", (unsigned long long)m->report.n,
		 m->host, m->port, (unsigned long long)(mcs_now_ms() - m->report.started_ms),
		 (unsigned long long)m->report.taken, (unsigned long long)m->report.refused,
		 (unsigned long long)m->report.kept);
	free(m->report.offsets);
	m->report.offsets = NULL;
	if (m->ev.reported)
		m->ev.reported(m->ev.arg);
}

/* A notice from the master: a part to keep or to forget. Anything else
 * the master sends as a request is refused: the link closes. */
static int on_master_notice(struct node_master *m, const struct mcs_hdr *h, const uint8_t *body)
{
	int r = -EPROTO;
	struct mcs_str seg = mcs_str_c(m->o->segment_name);
	if (h->opcode == MCS_OP_REPLICA_ADD) {
		struct mcs_replica_part a;
		if ((r = mcs_dec_replica_part(body, h->body_len, &a)) == 0 && mcs_str_eq(a.segment, seg)) {
			if (a.offset > m->seg->size || a.len > m->seg->size - a.offset)
				r = -EINVAL;
			else if ((r = mcs_rtab_add(m->rtab, &a)) < 0 && r != -EINVAL)
				log_warning_errno(r, "cannot record a part in the table: %m; it is lost to a restart "
						  "of the master");
			if (r == -EINVAL)
				return -EPROTO;
			/* a put's answer waits for this one: the part is in the
			 * table now (or could not be, and the master hears why) */
			if (h->req_id) {
				struct mcs_hdr ans = { .opcode = h->opcode, .flags = MCS_F_RESPONSE, .status = r,
						       .req_id = h->req_id };
				mcs_conn_send(m->conn, &ans, NULL, 0, -1);
			}
			return 0;
		}
	} else if (h->opcode == MCS_OP_REPLICA_DROP) {
		struct mcs_replica_drop a;
		if ((r = mcs_dec_replica_drop(body, h->body_len, &a)) == 0 && mcs_str_eq(a.segment, seg)) {
			mcs_rtab_drop(m->rtab, a.offset); /* -ENOENT: an upsert's old value, forgotten already */
			return 0;
		}
	}
	log_warning("master sent %s that this node cannot take (%s), closing", mcs_op_name(h->opcode),
		    r < 0 ? mcs_status_text(r) : "another segment's");
	return -EPROTO;
}

static void send_mount(struct node_master *m)
{
	set_endpoint(m);
	report_prepare(m);
	struct mcs_mount_req q = {
		.node = mcs_str_c(m->o->name),
		.segment = mcs_str_c(m->o->segment_name),
		.size = m->seg->size,
		.endpoint = mcs_str_c(m->endpoint),
		.incarnation = m->o->incarnation,
		.flags = (m->report.offsets ? MCS_MOUNT_REPORTS : 0) | MCS_MOUNT_ACKS,
	};
	mcs_buf_reset(&m->scratch);
	mcs_enc_mount_req(&m->scratch, &q);
	int r = send_own(m, MCS_OP_MOUNT);
	if (r < 0) {
		log_error_errno(r, "cannot send the mount request for segment \"%s\": %m", m->o->segment_name);
		mcs_conn_close(m->conn);
	}
}

static void on_mount_reply(struct node_master *m, const struct mcs_hdr *h)
{
	if (h->status < 0) {
		log_error_errno(h->status, "mount of segment \"%s\" refused by master %s:%u: %m", m->o->segment_name,
				m->host, m->port);
		if (h->status == -EEXIST && !m->ever_mounted && !m->o->segment_kept) {
			log_error("another node already mounted a segment named \"%s\"; use --name", m->o->segment_name);
			mcs_loop_exit(m->loop, 1);
			return;
		}
		/* the master may still hold our old segment after a reconnect
		 * race: drop the link and try again later */
		m->err = h->status;
		mcs_conn_close(m->conn);
		return;
	}
	char sz[32];
	m->mounted = true;
	log_info("segment \"%s\" (%s, %s pages) mounted with master %s:%u", m->o->segment_name,
		 mcs_fmt_size(m->seg->size, sz, sizeof(sz)), m->seg->hugepages ? "huge" : "normal", m->host, m->port);
	m->ev.mounted(m->ev.arg);
	m->ever_mounted = true;
	if (m->report.offsets) {
		log_info("reporting the %llu objects' parts this node holds", (unsigned long long)m->report.n);
		m->report.started_ms = mcs_now_ms();
		report_pump(m);
	} else if (m->ev.reported) {
		m->ev.reported(m->ev.arg); /* nothing to report */
	}
}

/* Who leads? The first request on a link (after its handshake): a
 * standby, or a leader of a term older than one seen, is left. */
static void send_leader(struct node_master *m)
{
	mcs_buf_reset(&m->scratch);
	int r = send_own(m, MCS_OP_LEADER);
	if (r < 0) {
		log_error_errno(r, "cannot send the leader request: %m");
		mcs_conn_close(m->conn);
	}
}

static void on_leader_reply(struct node_master *m, const struct mcs_hdr *h, const uint8_t *body)
{
	struct mcs_leader_resp a;
	int r = h->status ? h->status : mcs_dec_leader_resp(body, h->body_len, &a);
	if (r < 0) {
		log_error_errno(r, "master %s:%u does not say who leads: %m", m->host, m->port);
		m->err = r;
		mcs_conn_close(m->conn);
		return;
	}
	if (!(a.flags & MCS_LEADER_SELF)) {
		if (a.leader.len && a.leader.len < sizeof(m->hint)) {
			memcpy(m->hint, a.leader.p, a.leader.len);
			m->hint[a.leader.len] = 0;
		}
		log_info("master %s:%u is a standby; the leader is %s", m->host, m->port,
			 a.leader.len ? m->hint : "not known yet");
		m->err = -EREMCHG;
		mcs_conn_close(m->conn);
		return;
	}
	if (a.term < m->max_term) {
		log_warning("master %s:%u leads with term %llu, older than term %llu seen: a stale leader, refused",
			    m->host, m->port, (unsigned long long)a.term, (unsigned long long)m->max_term);
		m->err = -EREMCHG;
		mcs_conn_close(m->conn);
		return;
	}
	if (a.term > m->max_term && m->max_term)
		log_notice("master %s:%u leads with term %llu (was %llu)", m->host, m->port, (unsigned long long)a.term,
			   (unsigned long long)m->max_term);
	m->max_term = a.term;
	send_mount(m);
}

/* With a key, the link starts with the handshake; the mount follows it. */
static void send_auth(struct node_master *m)
{
	mcs_buf_reset(&m->scratch);
	mcs_auth_client_start(&m->auth, MCS_ROLE_NODE, &m->scratch);
	int r = send_own(m, MCS_OP_AUTH);
	if (r < 0) {
		log_error_errno(r, "cannot send the authentication request: %m");
		mcs_conn_close(m->conn);
	}
}

static void on_auth_reply(struct node_master *m, const struct mcs_hdr *h, const uint8_t *body)
{
	mcs_buf_reset(&m->scratch);
	int r = mcs_auth_client_answer(&m->auth, &m->o->keys, h->status, body, h->body_len, &m->scratch);
	if (r == 0)
		r = send_own(m, MCS_OP_AUTH_PROOF);
	if (r < 0) {
		m->err = r;
		log_error("master %s:%u: authentication failed: %s", m->host, m->port,
			  r == -EOPNOTSUPP ? "the master has no cluster key (set key-file there too)"
			  : r == -EACCES  ? "its proof is wrong: another cluster key?"
					  : mcs_status_text(r));
		mcs_conn_close(m->conn);
		return;
	}
	send_leader(m);
}

static void on_own_reply(struct node_master *m, const struct pending *p, const struct mcs_hdr *h, const uint8_t *body)
{
	switch (p->q.opcode) {
	case MCS_OP_AUTH:
		on_auth_reply(m, h, body);
		break;
	case MCS_OP_AUTH_PROOF:
		if (h->status < 0) {
			m->err = h->status;
			log_error("master %s:%u refused this node's key: %s (another cluster key?)", m->host, m->port,
				  mcs_status_text(h->status));
		}
		break;
	case MCS_OP_LEADER:
		on_leader_reply(m, h, body);
		break;
	case MCS_OP_MOUNT:
		on_mount_reply(m, h);
		break;
	case MCS_OP_UNMOUNT:
		if (h->status < 0)
			log_warning_errno(h->status, "unmount of segment \"%s\" failed: %m", m->o->segment_name);
		else
			log_info("segment \"%s\" unmounted", m->o->segment_name);
		m->mounted = false;
		if (m->stopping)
			mcs_loop_exit(m->loop, 0);
		break;
	case MCS_OP_REPLICA_REPORT:
		on_report_reply(m, p, h);
		break;
	case MCS_OP_REPORT_END:
		on_report_end_reply(m, h);
		break;
	case MCS_OP_HEARTBEAT:
		m->tel.heartbeats_answered++;
		m->tel.heartbeat_rtt_ns = mcs_now_ns() - m->tel.heartbeat_sent_ns;
		MCS_PROBE3(heartbeat_ack, m->tel.heartbeats_answered, m->tel.heartbeat_rtt_ns, h->status);
		if (h->status < 0) {
			m->tel.heartbeats_refused++;
			log_warning_errno(h->status, "master refused a heartbeat: %m");
		}
		break;
	}
}

static int on_master_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *userdata)
{
	struct node_master *m = userdata;
	if (!(h->flags & MCS_F_RESPONSE))
		return on_master_notice(m, h, body);
	uint32_t i = (uint32_t)h->req_id;
	if (i >= m->n_pend || !m->pend[i].in_use || m->pend[i].gen != (uint32_t)(h->req_id >> 32) ||
	    m->pend[i].q.opcode != h->opcode) {
		log_warning("master answered unknown request %llu (%s), closing", (unsigned long long)h->req_id,
			    mcs_op_name(h->opcode));
		return -EPROTO;
	}
	struct pending *p = &m->pend[i];
	if (p->own) {
		on_own_reply(m, p, h, body);
	} else {
		MCS_PROBE3(request, p->q.opcode, h->status, mcs_now_ns() - p->sent_ns);
		/* a copy: the reply may send requests, which may move the table */
		struct node_master_req q = p->q;
		if (p->reply)
			p->reply(p->ctx, &q, h, body);
	}
	pend_release(m, i);
	return 0;
}

static void schedule_reconnect(struct node_master *m);
static void log_connect_failure(struct node_master *m, int err, const char *why);

static void on_master_close(struct mcs_conn *c, int err, void *userdata)
{
	struct node_master *m = userdata;
	bool was_mounted = m->mounted;
	/* a connect that never got through: nothing was lost, try again */
	bool failed_connect = m->conn == c && m->connecting;
	if (failed_connect) {
		m->connecting = false;
		m->conn = mcs_conn_unref(m->conn);
		m->err = err ? err : -ECONNRESET;
		m->why = NULL;
		log_connect_failure(m, m->err, NULL);
		if (m->stopping)
			mcs_loop_exit(m->loop, 0);
		else
			schedule_reconnect(m);
		return;
	}
	if (m->conn == c) {
		m->conn = mcs_conn_unref(m->conn);
		m->mounted = false;
		m->down_ms = mcs_now_ms();
		if (err)  /* else keep a refused mount's status (0: the master closed) */
			m->err = err;
	}
	/* every request in flight is lost; answer their owners */
	for (uint32_t i = 0; i < m->n_pend; i++) {
		struct pending *p = &m->pend[i];
		if (!p->in_use)
			continue;
		if (p->q.owner && p->reply) {
			struct mcs_hdr h = { .opcode = p->q.opcode, .flags = MCS_F_RESPONSE, .status = -EHOSTDOWN };
			struct node_master_req q = p->q;
			p->reply(p->ctx, &q, &h, NULL);
		}
		pend_release(m, i);
	}
	report_reset(m);
	m->ev.lost(m->ev.arg);
	if (m->stopping) {
		mcs_loop_exit(m->loop, 0);
		return;
	}
	mcs_notify_status("master %s:%u lost, reconnecting", m->host, m->port);
	if (was_mounted)
		log_warning("lost the master %s:%u (%s); segment unmounted there, reconnecting", m->host, m->port,
			    err ? mcs_status_text(err) : "closed");
	m->soon = was_mounted || m->err == -EREMCHG;
	schedule_reconnect(m);
}

static const struct mcs_conn_ops master_ops = { .on_frame = on_master_frame, .on_close = on_master_close };

/* A node started with (or just before) its master, or one whose master
 * restarts, waits a few seconds as a matter of course: that is news, not
 * a warning, until it lasts. */
#define CONNECT_PATIENCE_MS 10000

static void log_connect_failure(struct node_master *m, int err, const char *why)
{
	uint64_t now = mcs_now_ms();
	unsigned k = m->connect_failures++;
	if (k == 0)
		m->connect_failing_since_ms = now;
	uint64_t waited = now - m->connect_failing_since_ms;
	char reason[512];
	if (why && err == -EHOSTDOWN)
		snprintf(reason, sizeof(reason), "%s", why);
	else if (why)
		snprintf(reason, sizeof(reason), "cannot resolve \"%s\": %s", m->host, why);
	else
		snprintf(reason, sizeof(reason), "%s", mcs_status_text(err));
	if (k == 0)
		log_info("waiting for master %s:%u (%s); retrying every %d ms", m->host, m->port, reason,
			 RECONNECT_MS);
	else if (waited >= CONNECT_PATIENCE_MS && !m->connect_warned) {
		m->connect_warned = true;
		m->connect_warned_at = k;
		log_warning("cannot reach master %s:%u for %llu s now (%s); retrying every %d ms", m->host, m->port,
			    (unsigned long long)(waited / 1000), reason, RECONNECT_MS);
	} else if (m->connect_warned && (k - m->connect_warned_at) % 60 == 0)
		log_warning("still cannot reach master %s:%u after %llu s (%s)", m->host, m->port,
			    (unsigned long long)(waited / 1000), reason);
	else
		log_debug("cannot reach master %s:%u: %s", m->host, m->port, reason);
}

/* The connect went through: say so, and mount (the MOUNT names our
 * address on this link, known from now on). */
static void on_master_connect(struct mcs_conn *c, void *userdata)
{
	struct node_master *m = userdata;
	if (c != m->conn)
		return;
	m->connecting = false;
	if (m->connect_warned)
		log_notice("connected to master %s:%u after %llu s", m->host, m->port,
			   (unsigned long long)((mcs_now_ms() - m->connect_failing_since_ms) / 1000));
	else
		log_info("connected to master %s:%u", m->host, m->port);
	m->connect_failures = 0;
	m->connect_warned = false;
	m->err = 0;
	m->why = NULL;
	if (m->o->keys.on)
		send_auth(m);
	else
		send_leader(m);
}

/* Start a connect on the ring (bounded by CONNECT_TIMEOUT_MS), with the
 * MOUNT queued behind it: the loop goes on serving meanwhile. A master
 * that does not answer SYNs used to stop the whole daemon for the
 * timeout, once a second. Only resolving the name may wait (numeric
 * addresses and /etc/hosts do not). A failed connect closes the conn:
 * on_master_close sees m->connecting and retries. */
/* Where to connect: the leader a standby named, else the one etcd says
 * leads (--master etcd://), else --master. */
static int pick_master(struct node_master *m)
{
	char addr[256];
	uint64_t term;
	const char *a = m->o->master;
	if (m->hint[0]) {
		snprintf(addr, sizeof(addr), "%s", m->hint);
		m->hint[0] = 0;
		a = addr;
	} else if (m->etcd) {
		if (!node_discover_leader(&m->discover, addr, sizeof(addr), &term)) {
			snprintf(m->host, sizeof(m->host), "%s", m->o->master);
			m->port = 0;
			m->err = -EHOSTDOWN;
			m->why = "etcd names no leader yet";
			return m->err;
		}
		a = addr;
	}
	if (mcs_parse_hostport(a, m->host, sizeof(m->host), &m->port) < 0) {
		snprintf(m->host, sizeof(m->host), "%s", a);
		m->err = -EINVAL;
		m->why = NULL;
		return m->err;
	}
	return 0;
}

static int try_connect(struct node_master *m)
{
	if (pick_master(m) < 0) {
		log_connect_failure(m, m->err, m->why);
		return m->err;
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", m->port);
	int r = getaddrinfo(m->host, ps, &hints, &res);
	if (r) {
		m->err = r == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
		m->why = r == EAI_SYSTEM ? NULL : gai_strerror(r);
		log_connect_failure(m, m->err, m->why);
		return m->err;
	}
	struct mcs_conn *c;
	r = mcs_loop_connect(m->loop, res->ai_addr, res->ai_addrlen, CONNECT_TIMEOUT_MS, &master_ops, m, &c);
	freeaddrinfo(res);
	if (r < 0) {
		m->err = r;
		m->why = NULL;
		log_connect_failure(m, r, NULL);
		return r;
	}
	mcs_conn_on_connect(c, on_master_connect);
	m->conn = mcs_conn_ref(c);
	m->connecting = true;
	return 0;
}

static void on_reconnect(struct mcs_timer *t, void *userdata)
{
	struct node_master *m = userdata;
	if (m->conn || m->stopping || try_connect(m) == 0) {
		mcs_timer_free(t);
		m->reconnect = NULL;
	}
}

/* Try again in a second; soon (100 ms) when a link that served went or
 * a standby named the leader: a failover waits for no second. */
static void schedule_reconnect(struct node_master *m)
{
	if (m->reconnect)
		return;
	uint64_t first = m->soon ? 100 : RECONNECT_MS;
	m->soon = false;
	int r = mcs_loop_add_timer(m->loop, first, RECONNECT_MS, on_reconnect, m, &m->reconnect);
	if (r < 0) {
		log_error_errno(r, "cannot arm the reconnect timer: %m");
		mcs_loop_exit(m->loop, 1);
	}
}

/* HA, every 100 ms: etcd names a leader of a newer term than ours (ours
 * was stopped or cut off past its lease, and may hold the link open
 * without answering): go to it. */
static void on_etcd_watch(struct mcs_timer *t, void *userdata)
{
	struct node_master *m = userdata;
	char addr[256], host[256];
	uint16_t port;
	uint64_t term;
	if (m->stopping || !node_discover_leader(&m->discover, addr, sizeof(addr), &term))
		return;
	/* waiting to reconnect, and etcd names a leader other than the one
	 * last tried: try it now */
	if (!m->conn && m->reconnect && mcs_parse_hostport(addr, host, sizeof(host), &port) == 0 &&
	    (port != m->port || strcmp(host, m->host) != 0)) {
		if (try_connect(m) == 0) {
			mcs_timer_free(m->reconnect);
			m->reconnect = NULL;
		}
		return;
	}
	if (!m->conn || m->connecting || !m->max_term)
		return;
	if (term > m->max_term) {
		log_warning("etcd names the master at %s leader with term %llu, newer than %s:%u's %llu: leaving it",
			    addr, (unsigned long long)term, m->host, m->port, (unsigned long long)m->max_term);
		m->err = -EREMCHG;
		mcs_conn_close(m->conn);
	}
}

/* Every heartbeat interval: tell the master we are alive. */
static void on_heartbeat(struct mcs_timer *t, void *userdata)
{
	struct node_master *m = userdata;
	if (!m->mounted || m->stopping)
		return;
	if (m->tel.heartbeats_sent > m->tel.heartbeats_answered)
		MCS_PROBE2(heartbeat_missed, m->tel.heartbeats_sent, m->tel.heartbeats_sent - m->tel.heartbeats_answered);
	struct mcs_heartbeat_req q = { .node = mcs_str_c(m->o->name) };
	mcs_buf_reset(&m->scratch);
	mcs_enc_heartbeat_req(&m->scratch, &q);
	if (send_own(m, MCS_OP_HEARTBEAT) == 0) {
		m->tel.heartbeats_sent++;
		m->tel.heartbeat_sent_ns = mcs_now_ns();
		MCS_PROBE1(heartbeat_send, m->tel.heartbeats_sent);
	}
}

int node_master_start(struct node_master *m, struct mcs_loop *loop, const struct node_opts *o,
		      const struct mcs_segment *seg, struct mcs_rtab *rtab, uint16_t data_port,
		      const struct node_master_events *ev)
{
	*m = (struct node_master){ .loop = loop, .o = o, .seg = seg, .rtab = rtab,
				   .ev = *ev, .data_port = data_port, .free_pend = UINT32_MAX };
	mcs_buf_init(&m->scratch);
	mcs_rtab_on_move(rtab, table_moved, m);
	int r = mcs_loop_add_timer(loop, o->heartbeat_ms, o->heartbeat_ms, on_heartbeat, m, &m->heartbeat);
	if (r < 0)
		return log_error_errno(r, "cannot arm the heartbeat timer: %m");
	if (strncmp(o->master, "etcd://", 7) == 0) {
		m->etcd = true;
		snprintf(m->host, sizeof(m->host), "%s", o->master);
		if ((r = node_discover_start(&m->discover, o->master)) < 0)
			return r;
		if ((r = mcs_loop_add_timer(loop, 100, 100, on_etcd_watch, m, NULL)) < 0)
			return log_error_errno(r, "cannot arm the etcd watch timer: %m");
	} else if (mcs_parse_hostport(o->master, m->host, sizeof(m->host), &m->port) < 0) {
		return log_error_errno(EINVAL, "invalid --master '%s': expected HOST:PORT or etcd://HOST:PORT;...",
				       o->master);
	}
	m->down_ms = mcs_now_ms();
	if (try_connect(m) < 0)
		schedule_reconnect(m);
	return 0;
}

static void on_stop_timeout(struct mcs_timer *t, void *userdata)
{
	struct node_master *m = userdata;
	log_warning("master did not confirm the unmount in time, exiting anyway");
	mcs_loop_exit(m->loop, 0);
}

void node_master_stop(struct node_master *m)
{
	m->stopping = true;
	if (m->reconnect) {
		mcs_timer_free(m->reconnect);
		m->reconnect = NULL;
	}
	if (!m->conn || !m->mounted) {
		mcs_loop_exit(m->loop, 0);
		return;
	}
	struct mcs_unmount_req q = { .segment = mcs_str_c(m->o->segment_name) };
	mcs_buf_reset(&m->scratch);
	mcs_enc_unmount_req(&m->scratch, &q);
	if (send_own(m, MCS_OP_UNMOUNT) < 0) {
		mcs_loop_exit(m->loop, 0);
		return;
	}
	if (mcs_loop_add_timer(m->loop, 2000, 0, on_stop_timeout, m, &m->stop_timer) < 0)
		mcs_loop_exit(m->loop, 0);
}

void node_master_detach(struct node_master *m)
{
	m->stopping = true;
}

void node_master_free(struct node_master *m)
{
	node_discover_stop(&m->discover);
	for (uint32_t i = 0; i < m->n_pend; i++)
		free(m->pend[i].q.key);
	free(m->pend);
	m->pend = NULL;
	report_reset(m);
	mcs_buf_free(&m->scratch);
	if (m->rtab)
		mcs_rtab_on_move(m->rtab, NULL, NULL);
}
