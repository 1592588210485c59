/* SPDX-License-Identifier: MIT */
/*
 * mcstore-master: the metadata service. It owns no data: nodes mount
 * their segments here, and clients (through their node's daemon) ask it
 * where to write and where to read. One io_uring loop on one thread serves
 * every connection; requests are answered in the order they arrive.
 */
#include "config.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
#include "master/metrics.h"
#include "master/store.h"
#include "mcstore.h"
#include "proto/proto.h"
#include "uring/loop.h"

/* buckets one LIST request may walk (a few ms at most) */
#define LIST_MAX_BUCKETS 65536

struct master {
	struct mcs_loop *loop;
	struct mcs_store *store;
	struct mcs_buf out;
	uint64_t n_conns;
	uint64_t node_timeout_ms;
	struct peer *peers;
	struct mcs_timer *sweep;
	uint64_t sweep_every_ms, last_sweep_ms;
	uint64_t nodes_lost;
	uint64_t requests[MASTER_N_OPS]; /* by opcode, for the metrics page */
	uint64_t metrics_port;           /* --metrics-port; UINT64_MAX: none */
	struct mcs_metrics *metrics;
};

struct peer {
	struct master *m;
	struct mcs_conn *conn;     /* known from the first frame on */
	char name[64];
	uint64_t last_seen_ms;
	uint64_t last_heartbeat_ns; /* for the heartbeat_recv probe */
	bool lost;                  /* declared lost by the sweep (node_lost, not node_gone) */
	char node[64];              /* the name its heartbeats give, for the probes */
	struct peer *next, **pprev;
};

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(buf, len, "%s:%s", host, port);
}

static int reply(struct mcs_conn *c, struct master *m, const struct mcs_hdr *req, int status)
{
	struct mcs_hdr h = { .opcode = req->opcode, .flags = MCS_F_RESPONSE, .status = status, .req_id = req->req_id };
	const void *body = NULL;
	size_t len = 0;
	/* an answer's body, or a refusal's detail */
	if (m->out.len) {
		if (m->out.err)
			h.status = status == 0 ? m->out.err : status;
		else {
			body = m->out.p;
			len = m->out.len;
		}
	}
	int r = mcs_conn_send(c, &h, body, len, -1);
	mcs_buf_reset(&m->out);
	return r == -EPIPE ? 0 : r;
}

static int encode_replicas(struct master *m, const struct mcs_obj *o, uint8_t only,
			   void (*enc)(struct master *, const struct mcs_replica_list *, const void *),
			   const void *extra)
{
	struct mcs_replica_list l;
	int r = mcs_store_replica_list(o, only, &l);
	if (r < 0)
		return r;
	enc(m, &l, extra);
	mcs_replica_list_free(&l);
	return m->out.err;
}

static void enc_put_start(struct master *m, const struct mcs_replica_list *l, const void *extra)
{
	struct mcs_put_start_resp resp = { .list = *l };
	mcs_enc_put_start_resp(&m->out, &resp);
}

struct get_extra {
	const struct mcs_obj *o;
	uint64_t hold_id;
	uint32_t lease_ms;
};

static void enc_get(struct master *m, const struct mcs_replica_list *l, const void *extra)
{
	const struct get_extra *x = extra;
	struct mcs_get_resp resp = {
		.size = x->o->size,
		.checksum = x->o->checksum,
		.hold_id = x->hold_id,
		.lease_ms = x->lease_ms,
		.list = *l,
	};
	mcs_enc_get_resp(&m->out, &resp);
}

static int handle(struct mcs_conn *c, struct peer *p, const struct mcs_hdr *h, const uint8_t *body)
{
	struct master *m = p->m;
	struct mcs_store *s = m->store;
	uint64_t now = mcs_now_ms();
	bool has_detail = false;
	struct mcs_err_detail detail = { 0 };
	int r;

	switch (h->opcode) {
	case MCS_OP_PING:
		return reply(c, m, h, 0);
	case MCS_OP_MOUNT: {
		struct mcs_mount_req q;
		if ((r = mcs_dec_mount_req(body, h->body_len, &q)) < 0)
			break;
		r = mcs_store_mount(s, q.node, q.segment, q.size, q.endpoint, c);
		if (r < 0)
			log_warning_errno(r, "mount of segment \"%.*s\" of node \"%.*s\" from %s refused: %m",
					  (int)q.segment.len, q.segment.p, (int)q.node.len, q.node.p, p->name);
		else {
			char sz[32];
			log_info("segment \"%.*s\" of node \"%.*s\" mounted from %s: %s%s%.*s",
				 (int)q.segment.len, q.segment.p, (int)q.node.len, q.node.p, p->name,
				 mcs_fmt_size(q.size, sz, sizeof(sz)), q.endpoint.len ? ", data at " : "",
				 (int)q.endpoint.len, q.endpoint.p);
		}
		break;
	}
	case MCS_OP_UNMOUNT: {
		struct mcs_unmount_req q;
		if ((r = mcs_dec_unmount_req(body, h->body_len, &q)) < 0)
			break;
		r = mcs_store_unmount(s, q.segment, c);
		if (r >= 0) {
			log_info("segment \"%.*s\" unmounted by %s, %d objects dropped", (int)q.segment.len,
				 q.segment.p, p->name, r);
			r = 0;
		}
		break;
	}
	case MCS_OP_HEARTBEAT: {
		struct mcs_heartbeat_req q;
		r = mcs_dec_heartbeat_req(body, h->body_len, &q);
		break;
	}
	case MCS_OP_PUT_START: {
		struct mcs_put_start_req q;
		struct mcs_obj *o;
		if ((r = mcs_dec_put_start_req(body, h->body_len, &q)) < 0)
			break;
		r = mcs_store_put_start(s, &q, c, now, &o);
		if (r == -EXFULL) {
			has_detail = true;
			detail.value = mcs_store_nodes_able(s, q.value_len);
		}
		mcs_put_start_req_free(&q);
		if (r == 0 && (r = encode_replicas(m, o, 0, enc_put_start, NULL)) < 0)
			mcs_store_put_revoke(s, (struct mcs_str){ o->key, o->keylen }, c);
		break;
	}
	case MCS_OP_PUT_END: {
		struct mcs_put_end_req q;
		if ((r = mcs_dec_put_end_req(body, h->body_len, &q)) < 0)
			break;
		r = mcs_store_put_end(s, q.key, q.checksum, c, now);
		if (r == 0)
			mcs_store_evict_if_needed(s, now);
		break;
	}
	case MCS_OP_PUT_REVOKE: {
		struct mcs_key_req q;
		if ((r = mcs_dec_key_req(body, h->body_len, &q)) < 0)
			break;
		r = mcs_store_put_revoke(s, q.key, c);
		break;
	}
	case MCS_OP_GET_REPLICAS: {
		struct mcs_get_req q;
		struct mcs_obj *o;
		struct get_extra x = { .lease_ms = (uint32_t)mcs_store_lease_ttl_ms(s) };
		if ((r = mcs_dec_get_req(body, h->body_len, &q)) < 0)
			break;
		r = mcs_store_get(s, q.key, q.flags & MCS_GET_HOLD, c, now, &o, &x.hold_id);
		if (r == 0) {
			x.o = o;
			r = encode_replicas(m, o, MCS_REPLICA_COMPLETE, enc_get, &x);
			if (r < 0 && x.hold_id)
				mcs_store_release(s, q.key, x.hold_id, c);
		}
		break;
	}
	case MCS_OP_RELEASE: {
		struct mcs_release_req q;
		if ((r = mcs_dec_release_req(body, h->body_len, &q)) < 0)
			break;
		r = mcs_store_release(s, q.key, q.hold_id, c);
		break;
	}
	case MCS_OP_EXIST: {
		struct mcs_key_req q;
		if ((r = mcs_dec_key_req(body, h->body_len, &q)) < 0)
			break;
		r = mcs_store_exist(s, q.key, now);
		break;
	}
	case MCS_OP_REMOVE: {
		struct mcs_remove_req q;
		if ((r = mcs_dec_remove_req(body, h->body_len, &q)) < 0)
			break;
		r = mcs_store_remove(s, q.key, q.flags & MCS_REMOVE_FORCE, now);
		if (r == -EBUSY) {
			/* how long to wait: 0 for a hold, which has no end */
			has_detail = true;
			detail.value = mcs_store_lease_left_ms(s, q.key, now);
		}
		break;
	}
	case MCS_OP_LIST: {
		struct mcs_list_req q;
		struct mcs_str keys[MCS_LIST_MAX];
		if ((r = mcs_dec_list_req(body, h->body_len, &q)) < 0)
			break;
		struct mcs_list_resp resp = { .keys = keys };
		/* a bounded walk per request: a sparse table or a prefix that
		 * matches little costs several pages, never one long stall */
		resp.next_cursor = mcs_store_list(s, q.prefix, q.cursor, q.limit, LIST_MAX_BUCKETS, keys,
						  MCS_LIST_MAX, &resp.n_keys);
		mcs_enc_list_resp(&m->out, &resp);
		r = 0;
		break;
	}
	case MCS_OP_REMOVE_ALL: {
		if (h->body_len) {
			r = -EPROTO;
			break;
		}
		struct mcs_remove_all_resp resp = { .count = mcs_store_remove_all(s, now) };
		mcs_enc_remove_all_resp(&m->out, &resp);
		r = 0;
		break;
	}
	case MCS_OP_STAT: {
		struct mcs_stat_resp resp;
		if (h->body_len) {
			r = -EPROTO;
			break;
		}
		if ((r = mcs_store_stat(s, &resp)) < 0)
			break;
		const struct mcs_store_counters *k = mcs_store_counters(s);
		resp.n_counters = MCS_STAT_N_;
		resp.counters[MCS_STAT_EVICT_RUNS] = k->evict_runs;
		resp.counters[MCS_STAT_EVICTIONS] = k->evictions;
		resp.counters[MCS_STAT_EVICTED_BYTES] = k->evicted_bytes;
		resp.counters[MCS_STAT_PUT_NO_SPACE] = k->put_no_space;
		resp.counters[MCS_STAT_LEASES_GRANTED] = k->leases_granted;
		resp.counters[MCS_STAT_REMOVE_REFUSED] = k->remove_refused;
		resp.counters[MCS_STAT_PUTS_TIMED_OUT] = k->puts_timed_out;
		resp.counters[MCS_STAT_SOFT_PINS_REFUSED] = k->soft_pins_refused;
		resp.counters[MCS_STAT_NODES_LOST] = m->nodes_lost;
		mcs_enc_stat_resp(&m->out, &resp);
		mcs_stat_resp_free(&resp);
		break;
	}
	default:
		log_debug("%s sent unknown opcode %u, answering with an error", p->name, h->opcode);
		r = -EPROTO;
		break;
	}
	if (r == -EPROTO || r == -ENAMETOOLONG || r == -EMSGSIZE)
		log_debug("malformed %s from %s: %s", mcs_op_name(h->opcode), p->name, mcs_strerror(r));
	if (r < 0) {
		mcs_buf_reset(&m->out);
		if (has_detail)
			mcs_enc_err_detail(&m->out, &detail);
	}
	return reply(c, m, h, r < 0 ? r : 0);
}

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
		log_warning("%s sent a response frame to the master, closing the connection", p->name);
		return -EPROTO;
	}
	return handle(c, p, h, body);
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
	if (err < 0 && err != -ECONNRESET && err != -EPIPE)
		log_info("connection from %s closed: %s", p->name, mcs_strerror(err));
	else
		log_debug("connection from %s closed%s%s", p->name, err ? ": " : "", err ? mcs_strerror(err) : "");
	uint64_t before = mcs_store_n_objects(p->m->store);
	bool owned = conn_owns_segment(p->m, c);
	mcs_store_drop_owner(p->m->store, c);
	uint64_t dropped = before - mcs_store_n_objects(p->m->store);
	if (owned && !p->lost)
		MCS_PROBE3(node_gone, (uintptr_t)p, dropped, p->node[0] ? p->node : p->name);
	if (owned)
		log_warning("node at %s went away without unmounting, its segments and %llu objects dropped",
			    p->name, (unsigned long long)dropped);
	p->m->n_conns--;
	*p->pprev = p->next;
	if (p->next)
		p->next->pprev = p->pprev;
	free(p);
}

static const struct mcs_conn_ops peer_ops = { .on_frame = on_frame, .on_close = on_close };

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
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	p->m = m;
	p->last_seen_ms = mcs_now_ms();
	p->next = m->peers;
	if (m->peers)
		m->peers->pprev = &p->next;
	p->pprev = &m->peers;
	m->peers = p;
	peer_name(fd, p->name, sizeof(p->name));
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
	for (struct peer *p = m->peers; p; p = p->next) {
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

/* The background part of eviction runs, a slice per tick. */
static void on_evict_tick(struct mcs_timer *t, void *userdata)
{
	struct master *m = userdata;
	mcs_store_evict_step(m->store, 512, mcs_now_ms());
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
	for (const struct peer *p = m->peers; p; p = p->next)
		if (p->conn == owner)
			return p->last_seen_ms;
	return 0;
}

/* --metrics-port: the page and the /health line are rendered here, on
 * the loop thread, and served by the metrics thread (common/metrics.h). */
static void on_metrics(struct mcs_timer *t, void *userdata)
{
	struct master *m = userdata;
	struct master_metrics_in in = {
		.store = m->store, .requests = m->requests, .n_conns = m->n_conns, .nodes_lost = m->nodes_lost,
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


static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mcstore-master [OPTION]...\n"
		"The metadata service of mcstore: segments, objects, replicas, leases.\n\n"
		"  -l, --listen ADDR         address to listen on (default 0.0.0.0)\n"
		"  -p, --port PORT           TCP port (default 50051; 0 picks a free one)\n"
		"      --lease-ttl-ms MS     read lease length (default 200)\n"
		"      --default-kv-lease-ttl MS  the same as --lease-ttl-ms\n"
		"      --node-timeout-ms MS  drop a node silent for this long (default 5000)\n"
		"      --eviction-high-watermark-ratio R  evict when use passes R of the\n"
		"                            capacity (default 1.0: only when full)\n"
		"      --eviction-ratio R    share of objects one eviction run removes, and\n"
		"                            the gap down to the low watermark (default 0.1)\n"
		"      --max-soft-pin-ratio R  share of capacity soft pins may hold (default 0.5)\n"
		"      --put-timeout-ms MS   revoke puts not ended within MS (default 30000)\n"
		"      --max-buffer SIZE     largest buffer of one replica before striping\n"
		"                            (default: no limit; suffixes K, M, G)\n"
		"      --strategy NAME       segment choice: load (default) or random\n"
		"      --seed N              seed of the random strategy (default 1)\n"
		"      --max-frame SIZE      largest request body accepted (default 64M)\n"
		"      --log-level LEVEL     error, warning, notice, info (default),\n"
		"                            debug\n"
		"      --metrics-port PORT   serve Prometheus metrics over HTTP on PORT of\n"
		"                            the --listen address (default: none; 0 picks one)\n"
		"      --busy-poll-us US     poll for requests US microseconds before sleeping\n"
		"                            (a core spins while requests flow; default 0)\n"
		"  -h, --help                show this help and exit\n"
		"  -V, --version             show the version and exit\n");
	fprintf(f,
		"\nConfiguration file: a line NAME = VALUE sets option --NAME (see\n"
		"mcstore.conf(5)); options on the command line win.\n"
		"      --config FILE         read FILE instead of %s/master.conf\n"
		"      --no-config           read no configuration file\n",
		mcs_conf_dir());
}

enum { OPT_LEASE = 256, OPT_NODETIMEOUT, OPT_HIGHWM, OPT_EVRATIO, OPT_PINRATIO, OPT_PUTTIMEOUT, OPT_MAXBUF, OPT_STRATEGY, OPT_SEED, OPT_MAXFRAME, OPT_LOGLEVEL,
       OPT_CONFIG, OPT_METRICSPORT, OPT_NOCONFIG, OPT_BUSYPOLL };

/* Where the options land: main()'s variables. */
struct master_opts {
	const char **listen_addr;
	uint64_t *port, *max_frame, *busy_poll_us;
	struct mcs_store_opts *so;
	struct master *m;
};

/* One option, from the command line or the configuration file. */
static int set_option(const struct mcs_opt_ctx *ctx, int c, const char *arg, void *userdata)
{
	struct master_opts *o = userdata;
	int r;

	switch (c) {
	case 'l':
		*o->listen_addr = arg;
		break;
	case 'p':
		if (mcs_parse_u64(arg, 65535, o->port) < 0)
			return mcs_opt_invalid(ctx, "0..65535");
		break;
	case OPT_LEASE:
		if (mcs_parse_u64(arg, 3600 * 1000, &o->so->lease_ttl_ms) < 0 || o->so->lease_ttl_ms == 0)
			return mcs_opt_invalid(ctx, "1..3600000");
		break;
	case OPT_HIGHWM:
	case OPT_EVRATIO:
	case OPT_PINRATIO: {
		char *end;
		double v = strtod(arg, &end);
		if (*end || end == arg || !(v > 0.0 && v <= 1.0))
			return mcs_opt_invalid(ctx, "a ratio, 0 < R <= 1");
		if (c == OPT_HIGHWM)
			o->so->high_watermark = v;
		else if (c == OPT_EVRATIO)
			o->so->eviction_ratio = v;
		else
			o->so->max_soft_pin_ratio = v;
		break;
	}
	case OPT_PUTTIMEOUT:
		if (mcs_parse_u64(arg, 24ull * 3600 * 1000, &o->so->put_timeout_ms) < 0 || o->so->put_timeout_ms < 10)
			return mcs_opt_invalid(ctx, "10..86400000");
		break;
	case OPT_NODETIMEOUT:
		if (mcs_parse_u64(arg, 3600 * 1000, &o->m->node_timeout_ms) < 0 || o->m->node_timeout_ms < 20)
			return mcs_opt_invalid(ctx, "20..3600000");
		break;
	case OPT_MAXBUF:
		return mcs_opt_size(ctx, arg, 4096, UINT64_MAX, &o->so->max_buffer);
	case OPT_STRATEGY:
		if (strcmp(arg, "load") == 0)
			o->so->strategy = MCS_STRATEGY_LOAD;
		else if (strcmp(arg, "random") == 0)
			o->so->strategy = MCS_STRATEGY_RANDOM;
		else
			return mcs_opt_invalid(ctx, "load or random");
		break;
	case OPT_SEED:
		if (mcs_parse_u64(arg, UINT64_MAX, &o->so->seed) < 0)
			return mcs_opt_invalid(ctx, NULL);
		break;
	case OPT_MAXFRAME:
		return mcs_opt_size(ctx, arg, 4096, 1u << 30, o->max_frame);
	case OPT_LOGLEVEL:
		if ((r = mcs_log_parse_level(arg)) < 0)
			return mcs_opt_invalid(ctx, "error, warning, notice, info or debug");
		mcs_log_set_level(r);
		break;
	case OPT_METRICSPORT:
		if (mcs_parse_u64(arg, 65535, &o->m->metrics_port) < 0)
			return mcs_opt_invalid(ctx, "0..65535");
		break;
	case OPT_BUSYPOLL:
		if (mcs_parse_u64(arg, 1000000, o->busy_poll_us) < 0)
			return mcs_opt_invalid(ctx, "0..1000000");
		break;
	case 'h':
		usage(stdout);
		return 1;
	case 'V':
		printf("mcstore-master %s\n", PACKAGE_VERSION);
		return 1;
	default:
		return mcs_opt_invalid(ctx, NULL);
	}
	return 0;
}

/* Everything between the options and the loop: the store, the loop, the
 * listening socket, the timers, the metrics. 0, or a negative errno after
 * logging why (main frees what was made). */
static int master_setup(struct master *mp, struct mcs_store_opts *so, const char *listen_addr, uint16_t port,
			uint32_t max_frame, unsigned busy_poll_us)
{
	struct master *m = mp;
	int r;
	if ((r = mcs_store_new(so, &m->store)) < 0)
		return log_error_errno(r, "cannot create the object store: %m");
	struct mcs_loop_opts lo = { .size = sizeof(lo), .max_body = max_frame, .busy_poll_us = busy_poll_us };
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
	if ((r = mcs_loop_listen(m->loop, fd, on_accept, m)) < 0)
		return log_error_errno(r, "cannot accept connections: %m");
	log_info("mcstore-master %s listening on %s port %u, lease %llu ms, node timeout %llu ms", PACKAGE_VERSION,
		 listen_addr, (unsigned)bound, (unsigned long long)so->lease_ttl_ms,
		 (unsigned long long)m->node_timeout_ms);

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
	if (m->metrics_port != UINT64_MAX) {
		if ((r = mcs_metrics_start(listen_addr, (uint16_t)m->metrics_port, &m->metrics)) < 0)
			return log_error_errno(r, "cannot serve metrics on %s port %llu: %m", listen_addr,
					       (unsigned long long)m->metrics_port);
		on_metrics(NULL, m);
		if ((r = mcs_loop_add_timer(m->loop, MCS_METRICS_PUBLISH_MS, MCS_METRICS_PUBLISH_MS, on_metrics, m,
					    NULL)) < 0)
			return log_error_errno(r, "cannot arm the metrics timer: %m");
		log_info("metrics at http://%s:%u/metrics", listen_addr, mcs_metrics_port(m->metrics));
	}
	mcs_notify_status("listening on %s port %u", listen_addr, (unsigned)bound);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "lease-ttl-ms", required_argument, NULL, OPT_LEASE },
		{ "default-kv-lease-ttl", required_argument, NULL, OPT_LEASE },
		{ "node-timeout-ms", required_argument, NULL, OPT_NODETIMEOUT },
		{ "eviction-high-watermark-ratio", required_argument, NULL, OPT_HIGHWM },
		{ "eviction-ratio", required_argument, NULL, OPT_EVRATIO },
		{ "max-soft-pin-ratio", required_argument, NULL, OPT_PINRATIO },
		{ "put-timeout-ms", required_argument, NULL, OPT_PUTTIMEOUT },
		{ "max-buffer", required_argument, NULL, OPT_MAXBUF },
		{ "strategy", required_argument, NULL, OPT_STRATEGY },
		{ "seed", required_argument, NULL, OPT_SEED },
		{ "max-frame", required_argument, NULL, OPT_MAXFRAME },
		{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
		{ "busy-poll-us", required_argument, NULL, OPT_BUSYPOLL },
		{ "metrics-port", required_argument, NULL, OPT_METRICSPORT },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "no-config", no_argument, NULL, OPT_NOCONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	const char *listen_addr = "0.0.0.0";
	uint64_t port = 50051, max_frame = MCS_DEFAULT_MAX_BODY, busy_poll_us = 0;
	struct mcs_store_opts so = { .lease_ttl_ms = 200, .strategy = MCS_STRATEGY_LOAD, .seed = 1,
				     .high_watermark = 1.0, .eviction_ratio = 0.1, .max_soft_pin_ratio = 0.5,
				     .put_timeout_ms = 30000 };
	int r;

	struct master m = { .node_timeout_ms = 5000, .metrics_port = UINT64_MAX };

	mcs_log_init("mcstore-master", MCS_LOG_INFO);
	/* options: the command line, over the configuration file */
	struct master_opts mo = { &listen_addr, &port, &max_frame, &busy_poll_us, &so, &m };
	static const int early[] = { 'h', 'V', 0 };
	const struct mcs_opt_spec spec = {
		.prog = "mcstore-master",
		.shortopts = "l:p:hV",
		.longopts = longopts,
		.default_config = "master.conf",
		.opt_config = OPT_CONFIG,
		.opt_no_config = OPT_NOCONFIG,
		.early = early,
		.set = set_option,
		.usage = usage,
		.userdata = &mo,
	};
	_cleanup_(mcs_conf_freep) struct mcs_conf *conf = NULL;
	r = mcs_opt_parse(&spec, argc, argv, &conf);
	if (r != 0)
		return r > 0 ? 0 : 2;

	mcs_buf_init(&m.out);
	r = master_setup(&m, &so, listen_addr, (uint16_t)port, (uint32_t)max_frame, (unsigned)busy_poll_us);
	if (r == 0) {
		mcs_notify_ready(NULL);
		r = mcs_loop_run(m.loop);
		if (r < 0)
			log_error_errno(r, "event loop failed: %m");
	}
	/* one way out, whether the setup failed half-way or the loop ended */
	m.metrics = mcs_metrics_stop(m.metrics);
	m.loop = mcs_loop_free(m.loop);
	m.store = mcs_store_free(m.store);
	mcs_buf_free(&m.out);
	if (r == 0)
		log_info("stopped");
	return r < 0 ? 1 : 0;
}
