/* SPDX-License-Identifier: MIT */
/*
 * mcstore-master: the metadata service. It owns no data: nodes mount
 * their segments here, and clients (through their node's daemon) ask it
 * where to write and where to read. One io_uring loop on one thread serves
 * every connection; requests are answered in the order they arrive.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/conf.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/notify.h"
#include "common/probes.h"
#include "common/util.h"
#include "master/master.h"
#include "master/metrics.h"
#include "master/options.h"
#include "master/requests.h"
#include "master/store.h"
#include "mcstore.h"
#include "proto/proto.h"
#include "uring/loop.h"

static int on_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *userdata)
{
	struct peer *p = userdata;
	p->conn = c;
	p->last_seen_ms = mcs_now_ms();
	if (h->opcode < MASTER_N_OPS)
		p->m->requests[h->opcode]++;
	if (h->opcode == MCS_OP_HEARTBEAT) {
		uint64_t ns = mcs_now_ns();
		struct mcs_heartbeat_req q;
		if (!p->node[0] && mcs_dec_heartbeat_req(body, h->body_len, &q) == 0 && q.node.len) {
			/* "NODE@ADDR:PORT", cut to fit */
			size_t nl = MCS_MIN((size_t)q.node.len, sizeof(p->node) / 2), al = strlen(p->name);
			memcpy(p->node, q.node.p, nl);
			p->node[nl] = '@';
			al = MCS_MIN(al, sizeof(p->node) - nl - 2);
			memcpy(p->node + nl + 1, p->name, al);
			p->node[nl + 1 + al] = 0;
		}
		MCS_PROBE3(heartbeat_recv, (uintptr_t)p, p->last_heartbeat_ns ? ns - p->last_heartbeat_ns : 0,
			   p->node[0] ? p->node : p->name);
		p->last_heartbeat_ns = ns;
	}
	if (h->flags & MCS_F_RESPONSE) {
		/* a node's answer to a REPLICA_ADD a put waits for */
		bool node = p->acks && mcs_auth_passes(&p->auth, &p->m->keys);
		if (node && master_acks_answer(p->m, c, h) == 0)
			return 0;
		static struct mcs_ratelimit rl;
		char note[64];
		if (mcs_ratelimit_ok(&rl, note, sizeof(note)))
			log_warning("%s sent %s, closing the connection%s", p->name,
				    node ? "an answer to no notice it was sent" : "a response frame to the master", note);
		return -EPROTO;
	}
	if (!mcs_auth_passes(&p->auth, &p->m->keys) || h->opcode == MCS_OP_AUTH || h->opcode == MCS_OP_AUTH_PROOF)
		return master_auth(p, c, h, body);
	return master_handle(p, c, h, body);
}

static bool conn_owns_segment(struct master *m, const struct mcs_conn *c)
{
	for (struct mcs_seg *g = mcs_store_segments(m->store); g; g = g->next)
		if (g->owner == c)
			return true;
	return false;
}

static void on_close(struct mcs_conn *c, int err, void *userdata)
{
	struct peer *p = userdata;
	/* a client that closes with an answer unread (a RELEASE is not
	 * waited for) resets the connection: a normal end, not news */
	/* a timeout was said by the loop, with the reason; a peer that never
	 * authenticated was said at its refusal (rate-limited): only news */
	bool authed = mcs_auth_passes(&p->auth, &p->m->keys);
	if (err < 0 && err != -ECONNRESET && err != -EPIPE && err != -ETIMEDOUT && err != -ETIME && authed)
		log_info("connection from %s closed: %s", p->name, mcs_status_text(err));
	else
		log_debug("connection from %s closed%s%s", p->name, err ? ": " : "", err ? mcs_status_text(err) : "");
	uint64_t before = mcs_store_n_objects(p->m->store);
	bool owned = conn_owns_segment(p->m, c);
	mcs_store_drop_owner(p->m->store, c);
	master_acks_closed(p->m, c);
	uint64_t dropped = before - mcs_store_n_objects(p->m->store);
	if (owned && !p->lost)
		MCS_PROBE3(node_gone, (uintptr_t)p, dropped, p->node[0] ? p->node : p->name);
	if (owned)
		log_warning("node at %s went away without unmounting, its segments and %llu objects dropped",
			    p->name, (unsigned long long)dropped);
	p->m->n_conns--;
	mcs_list_del(&p->link);
	free(p);
}

/* A request queued behind the one being handled: its key's tables go
 * into the cache while the ones before it are handled (store.h). */
static void on_peek(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *userdata)
{
	(void)c;
	struct peer *p = userdata;
	struct mcs_str key;
	if (!(h->flags & MCS_F_RESPONSE) && mcs_peek_key(h->opcode, body, h->body_len, &key) == 0)
		mcs_store_prefetch(p->m->store, key, &p->prefetch);
}

static const struct mcs_conn_ops peer_ops = { .on_frame = on_frame, .on_close = on_close, .peek = on_peek };

static int on_accept(struct mcs_loop *l, int fd, const struct mcs_conn_ops **ret_ops, void **ret_userdata,
		     void *userdata)
{
	struct master *m = userdata;
	if (fd < 0) {
		mcs_log_accept_failed("the master port", fd);
		return fd;
	}
	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->m = m;
	p->last_seen_ms = mcs_now_ms();
	mcs_list_add(&m->peers, &p->link);
	mcs_peer_name(fd, p->name, sizeof(p->name));
	log_debug("connection from %s", p->name);
	m->n_conns++;
	*ret_ops = &peer_ops;
	*ret_userdata = p;
	return 0;
}

/* A node that mounted segments and then fell silent (hung, or cut off
 * without its TCP connection closing) is declared lost: closing its
 * connection drops its segments, and with them its replicas. */
static void on_sweep(struct mcs_timer *t, void *userdata)
{
	struct master *m = userdata;
	uint64_t now = mcs_now_ms();
	uint64_t gap = now - m->last_sweep_ms;
	m->last_sweep_ms = now;
	if (gap > 2 * m->sweep_every_ms) {
		/* the master itself did not run for a while (starved of CPU,
		 * stopped, a paused VM): the nodes' heartbeats may be sitting
		 * unread in its sockets. Judge silence at the next sweep, once
		 * they are read, rather than declare live nodes lost. */
		log_notice("the master did not run for %llu ms; node silence is judged at the next sweep",
			   (unsigned long long)gap);
		return;
	}
	struct mcs_list *n;
	mcs_list_for_each(n, &m->peers) {
		struct peer *p = mcs_list_entry(n, struct peer, link);
		if (!p->conn || mcs_conn_is_closed(p->conn) || now - p->last_seen_ms <= m->node_timeout_ms)
			continue;
		if (!conn_owns_segment(m, p->conn))
			continue;
		log_warning("node at %s sent nothing for %llu ms (timeout %llu ms), declaring it lost", p->name,
			    (unsigned long long)(now - p->last_seen_ms), (unsigned long long)m->node_timeout_ms);
		m->nodes_lost++;
		MCS_PROBE3(node_lost, (uintptr_t)p, now - p->last_seen_ms, p->node[0] ? p->node : p->name);
		p->lost = true;
		mcs_conn_close(p->conn);
	}
}

/* The background part of eviction runs, a slice per tick; versions an
 * upsert replaced are freed within a tick of their readers' end. */
static void on_evict_tick(struct mcs_timer *t, void *userdata)
{
	struct master *m = userdata;
	uint64_t now = mcs_now_ms();
	mcs_store_reap_retired(m->store, now);
	mcs_store_evict_step(m->store, 512, now);
}

static void on_put_expiry(struct mcs_timer *t, void *userdata)
{
	struct master *m = userdata;
	uint64_t n = mcs_store_expire_puts(m->store, mcs_now_ms());
	if (n)
		log_warning("%llu puts not ended within the put timeout were revoked, their space reclaimed",
			    (unsigned long long)n);
}

static uint64_t owner_last_seen(const void *owner, const void *userdata)
{
	const struct master *m = userdata;
	const struct mcs_list *n;
	mcs_list_for_each(n, &m->peers) {
		const struct peer *p = mcs_list_entry(n, const struct peer, link);
		if (p->conn == owner)
			return p->last_seen_ms;
	}
	return 0;
}

/* --metrics-port: the page and the /health line are rendered here, on
 * the loop thread, and served by the metrics thread (common/metrics.h). */
static void on_metrics(struct mcs_timer *t, void *userdata)
{
	struct master *m = userdata;
	struct master_metrics_in in = {
		.store = m->store, .requests = m->requests, .n_conns = m->n_conns, .nodes_lost = m->nodes_lost,
		.acks = &m->acks,
		.now_ms = mcs_now_ms(), .last_seen_ms = owner_last_seen, .userdata = m,
	};
	master_count_segments(m->store, &in.n_nodes, &in.n_segments);
	FILE *f = mcs_metrics_begin(m->metrics);
	if (f)
		master_metrics_render(f, &in);
	if (mcs_metrics_commit(m->metrics, f) < 0)
		log_warning("cannot render the metrics page: out of memory, ignoring");
	/* a master that runs its loop serves; an empty one too (nodes mount
	 * when they come), so this says what it has rather than judging */
	mcs_metrics_health(m->metrics, true, "ok: %llu node%s, %llu segment%s", (unsigned long long)in.n_nodes,
			   in.n_nodes == 1 ? "" : "s", (unsigned long long)in.n_segments, in.n_segments == 1 ? "" : "s");
}

/* HA: a master that no longer leads closes every connection (the nodes
 * go to the new leader, and its store empties with them); one that
 * starts to lead says so. */
static void on_ha_tick(struct mcs_timer *t, void *userdata)
{
	struct master *m = userdata;
	uint64_t term;
	bool leading = master_ha_leading(&m->ha, mcs_now_ms(), &term);
	if (leading && !m->was_leading) {
		log_notice("leading (term %llu): serving at %s", (unsigned long long)term, m->self);
		mcs_notify_status("leader (term %llu) at %s", (unsigned long long)term, m->self);
	} else if (!leading && m->was_leading) {
		log_warning("no longer the leader: closing every connection, the store empties (the nodes go to the "
			    "new leader)");
		mcs_notify_status("standby at %s", m->self);
		struct mcs_list *n;
		mcs_list_for_each(n, &m->peers) {
			struct peer *p = mcs_list_entry(n, struct peer, link);
			if (p->conn && !mcs_conn_is_closed(p->conn))
				mcs_conn_close(p->conn);
		}
	}
	m->was_leading = leading;
}

static void on_signal(struct mcs_loop *l, int signo, void *userdata)
{
	log_info("received %s, shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
	mcs_notify_stopping();
	mcs_loop_exit(l, 0);
}

static void on_watchdog(struct mcs_timer *t, void *userdata)
{
	mcs_notify_watchdog();
}

/* Everything between the options and the loop: the store, the loop, the
 * listening socket, the timers, the metrics. 0, or a negative errno after
 * logging why (main frees what was made). */
static int master_setup(struct master *m, const struct master_config *cfg)
{
	struct mcs_store_opts sopts = cfg->store;
	const struct mcs_store_opts *so = &sopts;
	const char *listen_addr = cfg->listen_addr ? cfg->listen_addr : m->keys.on ? "0.0.0.0" : "127.0.0.1";
	uint16_t port = cfg->port;
	int r;
	/* write tokens outlive a revoked put: its space must wait for them */
	sopts.fence_writes = m->keys.on;
	sopts.part_added = master_part_added;
	sopts.part_dropped = master_part_dropped;
	sopts.parts_arg = m;
	if ((r = mcs_store_new(so, &m->store)) < 0)
		return log_error_errno(r, "cannot create the object store: %m");
	struct mcs_loop_opts lo = {
		.size = sizeof(lo), .max_body = (uint32_t)cfg->max_frame, .busy_poll_us = (unsigned)cfg->busy_poll_us,
		.frame_timeout_ms = cfg->frame_timeout_ms, .idle_timeout_ms = cfg->idle_timeout_ms,
		.max_queued_bytes = cfg->max_queued, .max_queued_total_bytes = cfg->max_queued_total,
		.max_conns = (unsigned)cfg->max_conns,
		.max_conns_per_peer = (unsigned)cfg->max_conns_per_peer, .log = mcs_log,
	};
	if ((r = mcs_loop_new(&lo, &m->loop)) < 0)
		return log_error_errno(r, "cannot set up io_uring: %m");
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	if ((r = mcs_loop_add_signals(m->loop, &ss, on_signal, m)) < 0)
		return log_error_errno(r, "cannot watch signals: %m");
	/* --port 0: the kernel chooses; tests read the port from the log */
	uint16_t bound = 0;
	const char *why = NULL;
	int fd = mcs_tcp_listen(listen_addr, port, 1024, &bound, &why);
	if (fd < 0 && why)
		return log_error_errno(EINVAL, "cannot resolve listen address %s: %s", listen_addr, why);
	if (fd < 0)
		return log_error_errno(fd, "cannot listen on %s port %u: %m", listen_addr, (unsigned)port);
	if ((r = mcs_listen_protected(fd, "--listen", listen_addr, m->keys.on, cfg->protected_mode)) < 0)
		return r;
	if ((r = mcs_loop_listen_requests(m->loop, fd, on_accept, m, 0)) < 0)
		return log_error_errno(r, "cannot accept connections: %m");
	log_info("mcstore-master %s listening on %s port %u, lease %llu ms, node timeout %llu ms, %s", PACKAGE_VERSION,
		 listen_addr, (unsigned)bound, (unsigned long long)so->lease_ttl_ms,
		 (unsigned long long)m->node_timeout_ms,
		 m->keys.on ? "links authenticated with the cluster key" : "no cluster key: links not authenticated");

	uint64_t pe = MCS_MAX(MCS_MIN(so->put_timeout_ms / 4, (uint64_t)1000), (uint64_t)5);
	if ((r = mcs_loop_add_timer(m->loop, pe, pe, on_put_expiry, m, NULL)) < 0)
		return log_error_errno(r, "cannot arm the put expiry timer: %m");
	if ((r = mcs_loop_add_timer(m->loop, 10, 10, on_evict_tick, m, NULL)) < 0)
		return log_error_errno(r, "cannot arm the eviction timer: %m");
	uint64_t every = MCS_MAX(m->node_timeout_ms / 4, (uint64_t)5);
	m->sweep_every_ms = every;
	/* the first sweep too must see a stall that came before it (a master
	 * stopped right after it started), so it counts from here */
	m->last_sweep_ms = mcs_now_ms();
	if ((r = mcs_loop_add_timer(m->loop, every, every, on_sweep, m, &m->sweep)) < 0)
		return log_error_errno(r, "cannot arm the node sweep timer: %m");
	uint64_t wd = mcs_notify_watchdog_usec() / 4000; /* ms: ping every quarter interval */
	if (wd && (r = mcs_loop_add_timer(m->loop, wd, wd, on_watchdog, NULL, NULL)) < 0)
		log_warning_errno(r, "cannot arm the watchdog timer: %m, ignoring");
	if (cfg->metrics_port >= 0) {
		if ((r = mcs_metrics_start(listen_addr, (uint16_t)cfg->metrics_port, &m->metrics)) < 0)
			return log_error_errno(r, "cannot serve metrics on %s port %llu: %m", listen_addr,
					       (unsigned long long)cfg->metrics_port);
		on_metrics(NULL, m);
		if ((r = mcs_loop_add_timer(m->loop, MCS_METRICS_PUBLISH_MS, MCS_METRICS_PUBLISH_MS, on_metrics, m,
					    NULL)) < 0)
			return log_error_errno(r, "cannot arm the metrics timer: %m");
		log_info("metrics at http://%s:%u/metrics", listen_addr, mcs_metrics_port(m->metrics));
	}
	if (cfg->rpc_address)
		snprintf(m->self, sizeof(m->self), "%s", cfg->rpc_address);
	else
		mcs_fmt_hostport(listen_addr, bound, m->self, sizeof(m->self));
	mcs_notify_status("listening on %s port %u", listen_addr, (unsigned)bound);
	if (cfg->enable_ha) {
		if (!cfg->etcd_endpoints || !*cfg->etcd_endpoints)
			return log_error_errno(EINVAL, "--enable-ha needs --etcd-endpoints HOST:PORT;HOST:PORT");
		if (!cfg->rpc_address && (strcmp(listen_addr, "0.0.0.0") == 0 || strcmp(listen_addr, "::") == 0))
			return log_error_errno(EINVAL, "--enable-ha with --listen %s needs --rpc-address HOST:PORT: the "
					       "address nodes are to dial, published in etcd", listen_addr);
		m->ha_on = true;
		if ((r = master_ha_start(&m->ha, cfg->etcd_endpoints, m->self, (unsigned)cfg->etcd_lease_ttl_s)) < 0)
			return r;
		if ((r = mcs_loop_add_timer(m->loop, 50, 50, on_ha_tick, m, NULL)) < 0)
			return log_error_errno(r, "cannot arm the HA timer: %m");
		log_info("HA mode: campaigning through etcd at %s as %s, lease %llu s", cfg->etcd_endpoints, m->self,
			 (unsigned long long)cfg->etcd_lease_ttl_s);
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct master_config cfg;
	struct master m = { .peers = MCS_LIST_INIT(m.peers) };
	int r;

	mcs_log_init("mcstore-master", MCS_LOG_INFO);
	_cleanup_(mcs_conf_freep) struct mcs_conf *conf = NULL;
	r = master_options(argc, argv, &cfg, &conf);
	if (r != 0)
		return r > 0 ? 0 : 2;

	m.node_timeout_ms = cfg.node_timeout_ms;
	m.max_holds = cfg.max_holds;
	m.token_ttl_ms = cfg.token_ttl_ms;
	m.put_timeout_ms = cfg.store.put_timeout_ms;
	if (mcs_keys_setup(cfg.key_file, mcs_conf_dir(), &m.keys) < 0)
		return 1;
	mcs_buf_init(&m.out);
	mcs_buf_init(&m.note);
	r = master_setup(&m, &cfg);
	if (r == 0) {
		mcs_notify_ready(NULL);
		r = mcs_loop_run(m.loop);
		if (r < 0)
			log_error_errno(r, "event loop failed: %m");
	}
	/* one way out, whether the setup failed half-way or the loop ended;
	 * a leader resigns first, so that a standby takes over at once */
	master_ha_stop(&m.ha);
	m.metrics = mcs_metrics_stop(m.metrics);
	m.loop = mcs_loop_free(m.loop);
	m.store = mcs_store_free(m.store);
	mcs_buf_free(&m.out);
	mcs_buf_free(&m.note);
	master_acks_free(&m.acks);
	mcs_keys_wipe(&m.keys);
	if (r == 0)
		log_info("stopped");
	return r < 0 ? 1 : 0;
}
