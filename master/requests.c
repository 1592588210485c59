/* SPDX-License-Identifier: MIT */
/*
 * The master's answers: one handler per opcode. A handler
 * decodes its request, calls the store and encodes the answer's body into
 * m->out; it returns 0 or a status, and may give a refusal a detail.
 * master_handle() sends the answer, in the order requests arrive.
 */
#include "common/log.h"
#include "common/util.h"
#include "master/alloc.h"
#include "master/requests.h"
#include "mcstore.h"
#include <stdlib.h>

/* a handler's return: the answer is sent later (acks.h) */
#define ANSWER_WAITS 1

/* buckets one LIST request may walk (a few ms at most) */
#define LIST_MAX_BUCKETS 65536

/* One request being answered. */
struct req {
	struct master *m;
	struct mcs_store *s;
	struct mcs_conn *c;         /* owns what the request leaves behind */
	struct peer *p;
	const struct mcs_hdr *h;
	const uint8_t *body;
	uint32_t len;
	uint64_t now;
	bool has_detail;            /* the refusal carries detail */
	struct mcs_err_detail detail;
};

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

/* With a cluster key, every buffer of l gets a token: rights on its range
 * until expiry. The tokens live in *ret_toks (free it). */
static int mint_tokens(const struct master *m, struct mcs_replica_list *l, uint8_t rights, uint8_t **ret_toks)
{
	size_t n = 0, k = 0;
	*ret_toks = NULL;
	if (!m->keys.on)
		return 0;
	for (uint32_t i = 0; i < l->n_replicas; i++)
		n += l->replicas[i].n_handles;
	uint8_t *toks = malloc(n ? n * MCS_TOKEN_LEN : 1);
	if (!toks)
		return -ENOMEM;
	uint64_t expiry = mcs_realtime_ms() + (rights & MCS_TOK_WRITE ? m->put_timeout_ms : m->token_ttl_ms);
	for (uint32_t i = 0; i < l->n_replicas; i++)
		for (uint32_t j = 0; j < l->replicas[i].n_handles; j++, k++) {
			struct mcs_handle *hd = &l->replicas[i].handles[j];
			struct mcs_grant g = { .rights = rights, .off = hd->offset, .len = hd->len, .expiry_ms = expiry };
			uint8_t *t = toks + k * MCS_TOKEN_LEN;
			mcs_token_mint(&m->keys, hd->segment, hd->incarnation, hd->endpoint, &g, t);
			hd->token = (struct mcs_str){ (const char *)t, MCS_TOKEN_LEN };
		}
	*ret_toks = toks;
	return 0;
}

static int encode_replicas(struct master *m, const struct mcs_obj *o, uint8_t only, uint8_t rights,
			   void (*enc)(struct master *, const struct mcs_replica_list *, const void *),
			   const void *extra)
{
	/* the common object's list fits on the stack; a bigger one is
	 * allocated */
	struct mcs_replica reps[4];
	struct mcs_handle hds[16];
	struct mcs_replica_list l = { 0 };
	uint8_t *toks;
	bool own = false;
	int r = mcs_store_replica_list_in(o, only, reps, MCS_ARRAY_SIZE(reps), hds, MCS_ARRAY_SIZE(hds), &l);
	if (r == -ENOSPC) {
		own = true;
		r = mcs_store_replica_list(o, only, &l);
	}
	if (r == 0 && (r = mint_tokens(m, &l, rights, &toks)) == 0) {
		enc(m, &l, extra);
		free(toks);
		r = m->out.err;
	}
	if (own)
		mcs_replica_list_free(&l);
	return r;
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

static int on_ping(struct req *q) { return 0; }

/* Who leads: this master (its term; 0 without HA), or as far as it knows. */
static int on_leader(struct req *q)
{
	if (q->len)
		return -EPROTO;
	struct master *m = q->m;
	struct mcs_leader_resp resp = { .leader = mcs_str_c(m->self), .flags = MCS_LEADER_SELF };
	char leader[MCS_NAME_MAX + 1];
	if (m->ha_on && !master_ha_leading(&m->ha, q->now, &resp.term)) {
		master_ha_leader(&m->ha, leader, sizeof(leader), &resp.term);
		resp.leader = mcs_str_c(leader);
		resp.flags = 0;
	}
	mcs_enc_leader_resp(&m->out, &resp);
	return 0;
}

/* A notice to the node that owns segment g, its body in m->note: a
 * request with req_id 0, not answered, or (a REPLICA_ADD of a PUT_END, to
 * a node that answers them) one the put's answer waits for (acks.h). A
 * node gone or going drops it: its segment goes too. */
static void send_notice(struct master *m, const struct mcs_seg *g, uint16_t opcode, uint32_t replica)
{
	struct mcs_conn *c = g->owner;
	struct mcs_hdr h = { .opcode = opcode };
	int r = m->note.err;
	if (!r && !mcs_conn_is_closed(c)) {
		const struct peer *p = mcs_conn_userdata(c);
		if (opcode == MCS_OP_REPLICA_ADD && p->acks)
			h.req_id = master_acks_want(&m->acks, c, replica);
		else if (opcode == MCS_OP_REPLICA_ADD)
			master_acks_unasked(&m->acks);
		r = mcs_conn_send(c, &h, m->note.p, m->note.len, -1);
	}
	if (r < 0 && r != -EPIPE && m->notices_failed++ == 0)
		log_warning_errno(r, "cannot send %s to the node of segment \"%s\": %m; its table misses the part "
				  "(it is lost to a restart of the master)", mcs_op_name(opcode), g->name);
	mcs_buf_reset(&m->note);
}

void master_part_added(void *arg, const struct mcs_obj *o, uint32_t r, uint32_t h)
{
	struct master *m = arg;
	const struct mcs_mreplica *rep = &o->replicas[r];
	const struct mcs_mhandle *hd = &rep->handles[h];
	uint64_t value_off = 0;
	for (uint32_t i = 0; i < h; i++)
		value_off += mcs_block_len(rep->handles[i].blk);
	struct mcs_replica_part n = {
		.segment = mcs_str_c(hd->seg->name), .key = { o->key, o->keylen }, .offset = mcs_block_offset(hd->blk),
		.len = mcs_block_len(hd->blk), .size = o->size, .checksum = o->checksum, .value_off = value_off,
		.flags = o->flags & (MCS_REPL_SOFT_PIN | MCS_REPL_HARD_PIN), .replica = r, .handle = h,
		.n_handles = rep->n_handles,
	};
	mcs_enc_replica_part(&m->note, &n);
	send_notice(m, hd->seg, MCS_OP_REPLICA_ADD, r);
}

void master_part_dropped(void *arg, const struct mcs_seg *g, uint64_t offset)
{
	struct master *m = arg;
	struct mcs_replica_drop n = { .segment = mcs_str_c(g->name), .offset = offset };
	mcs_enc_replica_drop(&m->note, &n);
	send_notice(m, g, MCS_OP_REPLICA_DROP, 0);
}

static int on_mount(struct req *q)
{
	struct mcs_mount_req a;
	int r = mcs_dec_mount_req(q->body, q->len, &a);
	if (r < 0)
		return r;
	r = mcs_store_mount_inc(q->s, a.node, a.segment, a.size, a.endpoint, a.incarnation, q->c);
	if (r == 0)
		q->p->acks = a.flags & MCS_MOUNT_ACKS;
	if (r == 0 && (a.flags & MCS_MOUNT_REPORTS))
		r = mcs_store_set_reporting(q->s, a.segment, q->c, true);
	if (r < 0) {
		log_warning_errno(r, "mount of segment \"%.*s\" of node \"%.*s\" from %s refused: %m",
				  (int)a.segment.len, a.segment.p, (int)a.node.len, a.node.p, q->p->name);
		return r;
	}
	char sz[32];
	log_info("segment \"%.*s\" of node \"%.*s\" mounted from %s: %s%s%.*s%s", (int)a.segment.len, a.segment.p,
		 (int)a.node.len, a.node.p, q->p->name, mcs_fmt_size(a.size, sz, sizeof(sz)),
		 a.endpoint.len ? ", data at " : "", (int)a.endpoint.len, a.endpoint.p,
		 a.flags & MCS_MOUNT_REPORTS ? "; it reports the objects it holds" : "");
	return 0;
}

/* A part the node holds: taken back into the store, or refused (the
 * answer's status tells the node to forget it: -ESTALE, -EINVAL). */
static int on_replica_report(struct req *q)
{
	struct mcs_replica_part a;
	int r = mcs_dec_replica_part(q->body, q->len, &a);
	if (r < 0)
		return r;
	r = mcs_store_rebuild_part(q->s, &a, q->c, q->now);
	if (r == 0)
		q->m->parts_rebuilt++;
	else if (r == -ESTALE || r == -EINVAL)
		q->m->parts_refused++;
	return r;
}

static int on_report_end(struct req *q)
{
	struct mcs_unmount_req a;
	int r = mcs_dec_unmount_req(q->body, q->len, &a);
	if (r < 0 || (r = mcs_store_set_reporting(q->s, a.segment, q->c, false)) < 0)
		return r;
	log_info("node of segment \"%.*s\" (%s) reported its objects; %llu parts taken back, %llu refused so far, "
		 "%llu objects stored", (int)a.segment.len, a.segment.p, q->p->name,
		 (unsigned long long)q->m->parts_rebuilt, (unsigned long long)q->m->parts_refused,
		 (unsigned long long)mcs_store_n_objects(q->s));
	return 0;
}

static int on_unmount(struct req *q)
{
	struct mcs_unmount_req a;
	int r = mcs_dec_unmount_req(q->body, q->len, &a);
	if (r < 0 || (r = mcs_store_unmount(q->s, a.segment, q->c)) < 0)
		return r;
	log_info("segment \"%.*s\" unmounted by %s, %d objects dropped", (int)a.segment.len, a.segment.p,
		 q->p->name, r);
	return 0;
}

/* main.c has taken what a heartbeat says; the answer only says it came */
static int on_heartbeat(struct req *q)
{
	struct mcs_heartbeat_req a;
	return mcs_dec_heartbeat_req(q->body, q->len, &a);
}

static int on_put_start(struct req *q)
{
	struct mcs_put_start_req a;
	struct mcs_obj *o;
	int r = mcs_dec_put_start_req(q->body, q->len, &a);
	if (r < 0)
		return r;
	r = mcs_store_put_start(q->s, &a, q->c, q->now, &o);
	if (r == -EXFULL) {
		q->has_detail = true;
		q->detail.value = mcs_store_nodes_able(q->s, a.value_len);
	}
	mcs_put_start_req_free(&a);
	if (r == 0 && (r = encode_replicas(q->m, o, 0, MCS_TOK_WRITE, enc_put_start, NULL)) < 0)
		mcs_store_put_revoke(q->s, (struct mcs_str){ o->key, o->keylen }, q->c);
	return r;
}

/* The answer waits for the nodes to have the parts in their tables (acks.h) */
static int on_put_end(struct req *q)
{
	struct mcs_put_end_req a;
	int r = mcs_dec_put_end_req(q->body, q->len, &a);
	if (r < 0)
		return r;
	master_acks_begin(&q->m->acks, q->c, q->h);
	r = mcs_store_put_end(q->s, a.key, a.checksum, q->c, q->now);
	bool waits = master_acks_end(&q->m->acks);
	if (r < 0)
		return r;
	mcs_store_evict_if_needed(q->s, q->now);
	return waits ? ANSWER_WAITS : 0;
}

static int on_put_revoke(struct req *q)
{
	struct mcs_key_req a;
	int r = mcs_dec_key_req(q->body, q->len, &a);
	return r < 0 ? r : mcs_store_put_revoke(q->s, a.key, q->c);
}

static int on_get_replicas(struct req *q)
{
	struct mcs_get_req a;
	struct mcs_obj *o;
	struct get_extra x = { 0 };
	int r = mcs_dec_get_req(q->body, q->len, &a);
	if (r == 0 && (a.flags & MCS_GET_HOLD) && q->m->keys.on && q->p->auth.role == MCS_ROLE_READER)
		r = -EPERM; /* a hold is for a view of a mapping a reader has not */
	if (r == 0 && (a.flags & MCS_GET_HOLD) && q->p->holds >= q->m->max_holds)
		r = -EDQUOT; /* every hold is memory the master keeps for this connection */
	if (r < 0 || (r = mcs_store_get(q->s, a.key, a.flags, q->c, q->now, &o, &x.hold_id)) < 0)
		return r;
	x.o = o;
	x.lease_ms = a.flags & MCS_GET_NOLEASE ? 0 : (uint32_t)mcs_store_lease_ttl_ms(q->s);
	r = encode_replicas(q->m, o, MCS_REPLICA_COMPLETE, MCS_TOK_READ, enc_get, &x);
	if (r < 0 && x.hold_id)
		mcs_store_release(q->s, a.key, x.hold_id, q->c);
	else if (x.hold_id)
		q->p->holds++;
	return r;
}

static int on_release(struct req *q)
{
	struct mcs_release_req a;
	int r = mcs_dec_release_req(q->body, q->len, &a);
	if (r == 0 && (r = mcs_store_release(q->s, a.key, a.hold_id, q->c)) == 0 && q->p->holds)
		q->p->holds--;
	return r;
}

static int on_exist(struct req *q)
{
	struct mcs_key_req a;
	int r = mcs_dec_key_req(q->body, q->len, &a);
	return r < 0 ? r : mcs_store_exist(q->s, a.key, q->now);
}

static int on_remove(struct req *q)
{
	struct mcs_remove_req a;
	int r = mcs_dec_remove_req(q->body, q->len, &a);
	if (r < 0)
		return r;
	r = mcs_store_remove(q->s, a.key, a.flags & MCS_REMOVE_FORCE, q->now);
	if (r == -EBUSY) {
		/* how long to wait: 0 for a hold, which has no end */
		q->has_detail = true;
		q->detail.value = mcs_store_lease_left_ms(q->s, a.key, q->now);
	}
	return r;
}

static int on_list(struct req *q)
{
	struct mcs_list_req a;
	struct mcs_str keys[MCS_LIST_MAX];
	int r = mcs_dec_list_req(q->body, q->len, &a);
	if (r < 0)
		return r;
	struct mcs_list_resp resp = { .keys = keys };
	/* a bounded walk per request: a sparse table or a prefix that
	 * matches little costs several pages, never one long stall */
	resp.next_cursor = mcs_store_list(q->s, a.prefix, a.cursor, a.limit, LIST_MAX_BUCKETS, keys, MCS_LIST_MAX,
					  &resp.n_keys);
	mcs_enc_list_resp(&q->m->out, &resp);
	return 0;
}

static int on_remove_all(struct req *q)
{
	if (q->len)
		return -EPROTO;
	struct mcs_remove_all_resp resp = { .count = mcs_store_remove_all(q->s, q->now) };
	mcs_enc_remove_all_resp(&q->m->out, &resp);
	return 0;
}

static int on_stat(struct req *q)
{
	struct mcs_stat_resp resp;
	int r;
	if (q->len)
		return -EPROTO;
	if ((r = mcs_store_stat(q->s, &resp)) < 0)
		return r;
	const struct mcs_store_counters *k = mcs_store_counters(q->s);
	resp.n_counters = MCS_STAT_N_;
	resp.counters[MCS_STAT_EVICT_RUNS] = k->evict_runs;
	resp.counters[MCS_STAT_EVICTIONS] = k->evictions;
	resp.counters[MCS_STAT_EVICTED_BYTES] = k->evicted_bytes;
	resp.counters[MCS_STAT_PUT_NO_SPACE] = k->put_no_space;
	resp.counters[MCS_STAT_LEASES_GRANTED] = k->leases_granted;
	resp.counters[MCS_STAT_REMOVE_REFUSED] = k->remove_refused;
	resp.counters[MCS_STAT_PUTS_TIMED_OUT] = k->puts_timed_out;
	resp.counters[MCS_STAT_SOFT_PINS_REFUSED] = k->soft_pins_refused;
	resp.counters[MCS_STAT_NODES_LOST] = q->m->nodes_lost;
	mcs_enc_stat_resp(&q->m->out, &resp);
	mcs_stat_resp_free(&resp);
	return 0;
}

/* What the master answers; any other opcode is refused with -EPROTO.
 * A switch rather than a table of pointers: each handler has one caller,
 * so the compiler folds it in here, as when they were one function. */
static int dispatch(struct req *q, uint16_t opcode)
{
	/* a node's own requests: a client that could MOUNT would be sent
	 * other clients' puts */
	if ((opcode == MCS_OP_MOUNT || opcode == MCS_OP_UNMOUNT || opcode == MCS_OP_HEARTBEAT ||
	     opcode == MCS_OP_REPLICA_REPORT || opcode == MCS_OP_REPORT_END) &&
	    q->m->keys.on && q->p->auth.role != MCS_ROLE_NODE) {
		static struct mcs_ratelimit rl;
		char note[64];
		if (mcs_ratelimit_ok(&rl, note, sizeof(note)))
			log_notice("refused %s from %s: only nodes may%s", mcs_op_name(opcode), q->p->name, note);
		return -EPERM;
	}
	/* a standby answers who leads, and nothing else; a leader whose
	 * lease may have run out (it was stopped, or cut off from etcd) is
	 * one: a new leader may be serving */
	if (q->m->ha_on && opcode != MCS_OP_PING && opcode != MCS_OP_LEADER && !master_ha_leading(&q->m->ha, q->now, NULL))
		return -EREMCHG;
	/* a reader (a read-only user of a node) reads, looks and lists */
	if (q->m->keys.on && q->p->auth.role == MCS_ROLE_READER && opcode != MCS_OP_PING && opcode != MCS_OP_LEADER &&
	    opcode != MCS_OP_GET_REPLICAS && opcode != MCS_OP_EXIST && opcode != MCS_OP_LIST &&
	    opcode != MCS_OP_STAT) {
		log_debug("refused %s from %s: a reader", mcs_op_name(opcode), q->p->name);
		return -EPERM;
	}
	switch (opcode) {
	case MCS_OP_PING: return on_ping(q);
	case MCS_OP_LEADER: return on_leader(q);
	case MCS_OP_MOUNT: return on_mount(q);
	case MCS_OP_UNMOUNT: return on_unmount(q);
	case MCS_OP_HEARTBEAT: return on_heartbeat(q);
	case MCS_OP_REPLICA_REPORT: return on_replica_report(q);
	case MCS_OP_REPORT_END: return on_report_end(q);
	case MCS_OP_PUT_START: return on_put_start(q);
	case MCS_OP_PUT_END: return on_put_end(q);
	case MCS_OP_PUT_REVOKE: return on_put_revoke(q);
	case MCS_OP_GET_REPLICAS: return on_get_replicas(q);
	case MCS_OP_RELEASE: return on_release(q);
	case MCS_OP_EXIST: return on_exist(q);
	case MCS_OP_REMOVE: return on_remove(q);
	case MCS_OP_LIST: return on_list(q);
	case MCS_OP_REMOVE_ALL: return on_remove_all(q);
	case MCS_OP_STAT: return on_stat(q);
	default:
		log_debug("%s sent unknown opcode %u, answering with an error", q->p->name, opcode);
		return -EPROTO;
	}
}

int master_auth(struct peer *p, struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body)
{
	struct master *m = p->m;
	const char *why;
	int r = mcs_auth_serve(&p->auth, &m->keys, h, body, &m->out, &why);
	if (r == MCS_AUTH_PASS)
		return master_handle(p, c, h, body);
	if (r == MCS_AUTH_ANSWER) {
		if (p->auth.state == MCS_AUTH_DONE)
			log_debug("%s authenticated as a %s", p->name,
				  p->auth.role == MCS_ROLE_NODE ? "node" : p->auth.role == MCS_ROLE_READER ? "reader" : "client");
		return reply(c, m, h, 0);
	}
	mcs_buf_reset(&m->out);
	static struct mcs_ratelimit rl;
	char note[64];
	if (mcs_ratelimit_ok(&rl, note, sizeof(note)))
		log_notice("refused %s from %s: %s%s", mcs_op_name(h->opcode), p->name, why, note);
	reply(c, m, h, r);
	return r;
}

int master_handle(struct peer *p, struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body)
{
	struct master *m = p->m;
	struct req q = {
		/* on_frame read the clock for this frame (one read per request) */
		.m = m, .s = m->store, .c = c, .p = p, .h = h, .body = body, .len = h->body_len, .now = p->last_seen_ms,
	};
	int r = dispatch(&q, h->opcode);
	if (r == ANSWER_WAITS) {
		mcs_buf_reset(&m->out);
		return 0;
	}
	if (r == -EPROTO || r == -ENAMETOOLONG || r == -EMSGSIZE)
		log_debug("malformed %s from %s: %s", mcs_op_name(h->opcode), p->name, mcs_status_text(r));
	if (r < 0) {
		mcs_buf_reset(&m->out);
		if (q.has_detail)
			mcs_enc_err_detail(&m->out, &q.detail);
	}
	return reply(c, m, h, r < 0 ? r : 0);
}
