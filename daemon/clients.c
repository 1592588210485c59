/* SPDX-License-Identifier: MIT */
/*
 * mcstored's local clients: processes on this node that connect to the
 * unix socket. HELLO hands them the segment memfd; metadata requests are
 * checked (decoded) here and relayed to the master.
 *
 * The master sees one owner per node, so the daemon keeps per client what
 * the master would otherwise lose track of: puts started and not yet
 * ended, and holds (zero-copy views). When a client goes away, its puts
 * are revoked and its holds released, so a crashed process leaks nothing.
 *
 * Below it are the master link and the data path, which it calls; they
 * answer through the callbacks it hands them (master_reply, transfer_done).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/clients.h"
#include "mcstore.h"

struct tracked {
	char *key;
	uint64_t hold_id;          /* 0 for a pending put; a hold's id as its client knows it */
	uint64_t master_hold;      /* the hold's id at the master now: hold_id, or the one
				    * taken again after the master lost it (0: none there) */
};

struct client {
	struct node_clients *cs;
	struct mcs_conn *conn;
	struct mcs_list link;      /* in cs->clients */
	bool hello;
	int refused;               /* -EACCES: not among --allow-users / --allow-groups;
				    * -EMFILE: over --max-clients */
	unsigned inflight;         /* requests relayed, not answered yet */
	bool read_only;            /* among --read-only-users / --read-only-groups */
	uint32_t pid;
	struct tracked *t;
	size_t n_t, cap_t;
	struct cbuf *bufs;
	uint64_t buf_bytes;
	unsigned n_bufs;
};

static int track_add(struct client *cl, const char *key, uint64_t hold_id)
{
	if (cl->n_t == cl->cap_t) {
		size_t cap = cl->cap_t ? cl->cap_t * 2 : 8;
		struct tracked *t = realloc(cl->t, cap * sizeof(*t));
		if (!t)
			return -ENOMEM;
		cl->t = t;
		cl->cap_t = cap;
	}
	char *k = strdup(key);
	if (!k)
		return -ENOMEM;
	cl->t[cl->n_t++] = (struct tracked){ k, hold_id, hold_id };
	return 0;
}

static void track_del(struct client *cl, const char *key, uint64_t hold_id)
{
	for (size_t i = 0; i < cl->n_t; i++)
		if (cl->t[i].hold_id == hold_id && strcmp(cl->t[i].key, key) == 0) {
			free(cl->t[i].key);
			cl->t[i] = cl->t[--cl->n_t];
			return;
		}
}

/* cl's hold hold_id on key (0: its pending put of key), or NULL. */
static struct tracked *track_find(struct client *cl, struct mcs_str key, uint64_t hold_id)
{
	for (size_t i = 0; i < cl->n_t; i++)
		if (cl->t[i].hold_id == hold_id && strlen(cl->t[i].key) == key.len &&
		    memcmp(cl->t[i].key, key.p, key.len) == 0)
			return &cl->t[i];
	return NULL;
}

static bool track_has(struct client *cl, struct mcs_str key, uint64_t hold_id)
{
	return track_find(cl, key, hold_id) != NULL;
}

static void track_clear(struct client *cl)
{
	for (size_t i = 0; i < cl->n_t; i++)
		free(cl->t[i].key);
	cl->n_t = 0;
}

static int reply_status(struct client *cl, const struct mcs_hdr *req, int status)
{
	struct mcs_hdr h = { .opcode = req->opcode, .flags = MCS_F_RESPONSE, .status = status, .req_id = req->req_id };
	int r = mcs_conn_send(cl->conn, &h, NULL, 0, -1);
	return r == -EPIPE ? 0 : r;
}

/* Undo, at the master, what a departed client left: used both when the
 * client closes and when an answer arrives for a client already gone.
 * The answer is of no use to anyone. */
static void undo_put(struct node_clients *cs, const char *key)
{
	struct mcs_key_req q = { .key = mcs_str_c(key) };
	mcs_buf_reset(&cs->scratch);
	mcs_enc_key_req(&cs->scratch, &q);
	if (!cs->scratch.err)
		node_master_send(cs->master, MCS_OP_PUT_REVOKE, cs->scratch.p, cs->scratch.len, NULL);
}

static void undo_hold(struct node_clients *cs, const char *key, uint64_t hold_id)
{
	struct mcs_release_req q = { .key = mcs_str_c(key), .hold_id = hold_id };
	mcs_buf_reset(&cs->scratch);
	mcs_enc_release_req(&cs->scratch, &q);
	if (!cs->scratch.err)
		node_master_send(cs->master, MCS_OP_RELEASE, cs->scratch.p, cs->scratch.len, NULL);
}

/* The master answered a request relayed for p->owner (NULL: it left). */
static void master_reply(void *ctx, const struct node_master_req *p, const struct mcs_hdr *h, const uint8_t *body)
{
	struct node_clients *cs = ctx;
	struct client *cl = p->owner;
	uint64_t hold_id = 0;
	if (h->status == 0 && p->opcode == MCS_OP_GET_REPLICAS && (p->get_flags & MCS_GET_HOLD)) {
		struct mcs_get_resp resp;
		if (mcs_dec_get_resp(body, h->body_len, &resp) == 0) {
			hold_id = resp.hold_id;
			mcs_replica_list_free(&resp.list);
		}
	}
	if (!cl) {
		/* the client left while its request was in flight */
		if (h->status == 0 && p->opcode == MCS_OP_PUT_START && p->key)
			undo_put(cs, p->key);
		if (hold_id && p->key)
			undo_hold(cs, p->key, hold_id);
		return;
	}
	if (cl->inflight)
		cl->inflight--;
	if (h->status == 0 && p->key) {
		if (p->opcode == MCS_OP_PUT_START) {
			/* the master holds one pending put per key for this node:
			 * now cl's. Another client's stale claim on the key (its
			 * put timed out at the master) must not revoke cl's put
			 * when that client leaves. */
			struct mcs_list *n;
			mcs_list_for_each(n, &cs->clients) {
				struct client *o = mcs_list_entry(n, struct client, link);
				if (o != cl)
					track_del(o, p->key, 0);
			}
			track_add(cl, p->key, 0);
		}
		else if (hold_id)
			track_add(cl, p->key, hold_id);
	}
	if (p->key && (p->opcode == MCS_OP_PUT_END || p->opcode == MCS_OP_PUT_REVOKE))
		track_del(cl, p->key, 0);

	struct mcs_hdr out = *h;
	out.req_id = p->req_id;
	/* a refusal's body is its detail, if any (struct mcs_err_detail) */
	mcs_conn_send(cl->conn, &out, body, h->status == 0 || h->body_len <= 8 ? h->body_len : 0, -1);
}

void node_clients_master_lost(struct node_clients *cs)
{
	/* the master dropped our owner: every put and hold is void there.
	 * The puts are gone for good (their ends will be refused); the holds
	 * are taken again once the master has our objects back (the clients'
	 * views still read them) */
	struct mcs_list *n;
	mcs_list_for_each(n, &cs->clients) {
		struct client *cl = mcs_list_entry(n, struct client, link);
		size_t k = 0;
		for (size_t i = 0; i < cl->n_t; i++) {
			if (cl->t[i].hold_id) {
				cl->t[i].master_hold = 0;
				cl->t[k++] = cl->t[i];
			} else {
				free(cl->t[i].key);
			}
		}
		cl->n_t = k;
	}
}

/* The answer to a hold taken again for p->owner's view (its id there in
 * p->req_id). */
static void retake_reply(void *ctx, const struct node_master_req *p, const struct mcs_hdr *h, const uint8_t *body)
{
	struct node_clients *cs = ctx;
	struct client *cl = p->owner;
	struct mcs_get_resp resp;
	uint64_t id = 0;
	if (h->status == 0 && mcs_dec_get_resp(body, h->body_len, &resp) == 0) {
		id = resp.hold_id;
		mcs_replica_list_free(&resp.list);
	}
	struct tracked *t = cl && p->key ? track_find(cl, mcs_str_c(p->key), p->req_id) : NULL;
	if (t && id)
		t->master_hold = id;
	else if (id && p->key)
		undo_hold(cs, p->key, id); /* released (or gone) meanwhile */
	else if (t)
		log_info("client pid %u: its view of \"%s\" could not be held again (%s): the object may go while "
			 "the view reads it (its checks tell)", cl->pid, p->key, mcs_status_text(h->status));
}

void node_clients_retake_holds(struct node_clients *cs)
{
	struct mcs_list *n;
	unsigned k = 0;
	mcs_list_for_each(n, &cs->clients) {
		struct client *cl = mcs_list_entry(n, struct client, link);
		for (size_t i = 0; i < cl->n_t; i++) {
			if (!cl->t[i].hold_id || cl->t[i].master_hold)
				continue;
			struct mcs_get_req q = { .key = mcs_str_c(cl->t[i].key), .flags = MCS_GET_HOLD | MCS_GET_NOLEASE };
			mcs_buf_reset(&cs->scratch);
			mcs_enc_get_req(&cs->scratch, &q);
			struct node_master_call call = { .reply = retake_reply, .ctx = cs, .owner = cl,
							 .req_id = cl->t[i].hold_id, .key = q.key,
							 .get_flags = q.flags };
			if (!cs->scratch.err &&
			    node_master_send(cs->master, MCS_OP_GET_REPLICAS, cs->scratch.p, cs->scratch.len, &call) == 0)
				k++;
		}
	}
	if (k)
		log_info("taking the clients' %u zero-copy views' holds again at the master", k);
}

/* The master clients send their metadata to themselves (one hop less;
 * the master then cleans up after them as it does for us), "" for none:
 * --client-master, else --master; with HA masters, the leader the daemon
 * is mounted with now (a client's direct link asks LEADER first, and goes
 * through the daemon while the master it dials does not lead). */
static struct mcs_str client_master(const struct node_clients *cs, char *buf, size_t len)
{
	const struct node_opts *o = cs->o;
	const char *cm = o->client_master ? o->client_master : o->master;
	if (!o->client_master && strncmp(cm, "etcd://", 7) == 0) {
		const struct node_master *m = cs->master;
		buf[0] = '\0';
		if (m->mounted)
			mcs_fmt_hostport(m->host, m->port, buf, len);
		cm = buf;
	}
	if (!*cm || strcmp(cm, "none") == 0 || strlen(cm) > MCS_NAME_MAX)
		return (struct mcs_str){ 0 };
	return mcs_str_c(cm);
}

/* LEADER from a client: the master it should use now (the one HELLO
 * would name), and the newest term this node has seen. A client whose
 * direct link lost its master asks, rather than dial the dead one. */
static int on_leader(struct client *cl, const struct mcs_hdr *h)
{
	struct node_clients *cs = cl->cs;
	if (h->body_len)
		return reply_status(cl, h, -EPROTO);
	char cm[MCS_NAME_MAX + 8];
	struct mcs_leader_resp resp = { .term = cs->master->max_term, .leader = client_master(cs, cm, sizeof(cm)) };
	mcs_buf_reset(&cs->scratch);
	mcs_enc_leader_resp(&cs->scratch, &resp);
	if (cs->scratch.err)
		return reply_status(cl, h, cs->scratch.err);
	struct mcs_hdr out = { .opcode = h->opcode, .flags = MCS_F_RESPONSE, .req_id = h->req_id };
	int r = mcs_conn_send(cl->conn, &out, cs->scratch.p, cs->scratch.len, -1);
	return r == -EPIPE ? 0 : r;
}

static int on_hello(struct client *cl, const struct mcs_hdr *h, const uint8_t *body)
{
	struct node_clients *cs = cl->cs;
	const struct node_opts *o = cs->o;
	struct mcs_hello_req q;
	int r = mcs_dec_hello_req(body, h->body_len, &q);
	if (r < 0)
		return reply_status(cl, h, r);
	if (q.client_version != MCS_PROTO_VERSION)
		return reply_status(cl, h, -EPROTONOSUPPORT);
	cl->pid = q.pid;
	cl->hello = true;
	struct mcs_hello_resp resp = {
		.node = mcs_str_c(o->name),
		.segment = mcs_str_c(o->segment_name),
		.segment_size = cs->seg->size,
		.flags = cs->seg->hugepages ? MCS_HELLO_HUGEPAGES : 0,
		.max_body = o->max_frame,
		.incarnation = o->incarnation,
	};
	/* the key that lets this client reach the master and other nodes
	 * (it can neither pass for a node nor mint a token): whoever may open
	 * this socket belongs to the cluster. A reader gets a reader's key,
	 * and no mapping: it reads even this node's replicas over the data
	 * port, where nothing is written without a write token */
	if (cl->read_only)
		resp.flags |= MCS_HELLO_READ_ONLY;
	if (o->keys.on)
		resp.client_key = (struct mcs_str){
			(const char *)mcs_keys_for(&o->keys, cl->read_only ? MCS_ROLE_READER : MCS_ROLE_CLIENT), MCS_KEY_LEN
		};
	char cm[MCS_NAME_MAX + 8];
	resp.master = client_master(cs, cm, sizeof(cm));
	mcs_buf_reset(&cs->scratch);
	mcs_enc_hello_resp(&cs->scratch, &resp);
	if (cs->scratch.err)
		return reply_status(cl, h, cs->scratch.err);
	struct mcs_hdr out = { .opcode = h->opcode, .flags = MCS_F_RESPONSE, .req_id = h->req_id };
	r = mcs_conn_send(cl->conn, &out, cs->scratch.p, cs->scratch.len, cl->read_only ? -1 : cs->seg->fd);
	log_debug("client pid %u connected", cl->pid);
	return r == -EPIPE ? 0 : r;
}

static int on_buf_alloc(struct client *cl, const struct mcs_hdr *h, const uint8_t *body)
{
	struct node_clients *cs = cl->cs;
	struct mcs_buf_alloc_req q;
	int r = mcs_dec_buf_alloc_req(body, h->body_len, &q);
	/* counted as handed out, in whole pages: the check is on the rounded
	 * size, and used never passes max (max - used cannot wrap) */
	uint64_t max = cs->o->max_client_buffers, size = 0;
	if (r == 0 && q.size == 0)
		r = -EINVAL;
	else if (r == 0 && cl->n_bufs >= cs->o->max_client_buffer_count)
		r = -EMFILE; /* each buffer is a descriptor and a mapping of the daemon's */
	else if (r == 0 && (q.size > UINT64_MAX - 4095 || (size = MCS_ALIGN_UP(q.size, (uint64_t)4096)) > max ||
			    cl->buf_bytes > max - size))
		r = -EMSGSIZE;
	struct cbuf *b = NULL;
	if (r == 0)
		r = cbuf_new(cs->data, size, &b);
	if (r < 0)
		return reply_status(cl, h, r);
	b->next = cl->bufs;
	cl->bufs = b;
	cl->buf_bytes += b->size;
	cl->n_bufs++;
	struct mcs_buf_alloc_resp resp = { .buf_id = b->id, .size = b->size };
	mcs_buf_reset(&cs->scratch);
	mcs_enc_buf_alloc_resp(&cs->scratch, &resp);
	struct mcs_hdr out = { .opcode = h->opcode, .flags = MCS_F_RESPONSE, .req_id = h->req_id };
	r = mcs_conn_send(cl->conn, &out, cs->scratch.p, cs->scratch.len, b->seg.fd);
	return r == -EPIPE ? 0 : r;
}

static struct cbuf *client_buf(struct client *cl, uint32_t id, struct cbuf ***ret_pp)
{
	for (struct cbuf **pp = &cl->bufs; *pp; pp = &(*pp)->next)
		if ((*pp)->id == id) {
			if (ret_pp)
				*ret_pp = pp;
			return *pp;
		}
	return NULL;
}

static int on_buf_free(struct client *cl, const struct mcs_hdr *h, const uint8_t *body)
{
	struct mcs_buf_free_req q;
	struct cbuf **pp;
	int r = mcs_dec_buf_free_req(body, h->body_len, &q);
	if (r == 0) {
		struct cbuf *b = client_buf(cl, q.buf_id, &pp);
		if (!b)
			r = -EINVAL;
		else {
			*pp = b->next;
			cl->buf_bytes -= b->size;
			cl->n_bufs--;
			cbuf_unref(b);
		}
	}
	return reply_status(cl, h, r);
}

static void transfer_done(void *owner, uint64_t req_id, uint16_t opcode, int err)
{
	struct client *cl = owner;
	struct mcs_hdr h = { .opcode = opcode, .flags = MCS_F_RESPONSE, .status = err, .req_id = req_id };
	if (cl->conn)
		mcs_conn_send(cl->conn, &h, NULL, 0, -1);
}

static int on_transfer(struct client *cl, const struct mcs_hdr *h, const uint8_t *body)
{
	struct mcs_transfer_req q;
	int r = mcs_dec_transfer_req(body, h->body_len, &q);
	if (r < 0)
		return reply_status(cl, h, r);
	struct cbuf *b = client_buf(cl, q.buf_id, NULL);
	/* a reader maps nothing: what it may read of this segment is only
	 * what the master granted it (found in review) */
	if (cl->read_only)
		r = node_data_check_own(cl->cs->data, &q);
	if (r == 0)
		r = b ? node_data_transfer(cl->cs->data, h->opcode, h->req_id, &q, b, transfer_done, cl) : -EINVAL;
	mcs_transfer_req_free(&q);
	return r < 0 ? reply_status(cl, h, r) : 0;
}

/* Decode to validate (and to learn the key for bookkeeping) before the
 * request goes to the master: a local client cannot get a malformed
 * frame past its own daemon. */
static int relay(struct client *cl, const struct mcs_hdr *h, const uint8_t *body)
{
	uint32_t hlen = h->body_len; /* of body: a RELEASE's may be rewritten */
	struct mcs_str key = { 0 };
	uint32_t get_flags = 0;
	int r = 0;
	switch (h->opcode) {
	case MCS_OP_PUT_START: {
		struct mcs_put_start_req q;
		if ((r = mcs_dec_put_start_req(body, h->body_len, &q)) == 0) {
			key = q.key;
			mcs_put_start_req_free(&q);
		}
		break;
	}
	/* The master sees this node as the owner of every relayed hold and
	 * put: only the client that has one may end, revoke or release it (a
	 * put of another client answers as the master would: no such put). */
	case MCS_OP_PUT_END: {
		struct mcs_put_end_req q;
		if ((r = mcs_dec_put_end_req(body, h->body_len, &q)) == 0 && !track_has(cl, q.key, 0))
			r = -ENOENT;
		key = q.key;
		break;
	}
	case MCS_OP_PUT_REVOKE:
	case MCS_OP_EXIST: {
		struct mcs_key_req q;
		if ((r = mcs_dec_key_req(body, h->body_len, &q)) == 0 && h->opcode == MCS_OP_PUT_REVOKE &&
		    !track_has(cl, q.key, 0))
			r = -ENOENT;
		key = q.key;
		break;
	}
	case MCS_OP_GET_REPLICAS: {
		struct mcs_get_req q;
		if ((r = mcs_dec_get_req(body, h->body_len, &q)) == 0) {
			key = q.key;
			get_flags = q.flags;
		}
		break;
	}
	case MCS_OP_RELEASE: {
		struct mcs_release_req q;
		struct tracked *t = NULL;
		if ((r = mcs_dec_release_req(body, h->body_len, &q)) == 0 && !(t = track_find(cl, q.key, q.hold_id)))
			r = -ESRCH;
		if (r == 0) {
			uint64_t at_master = t->master_hold;
			char *k = strndup(q.key.p, q.key.len);
			if (k) {
				track_del(cl, k, q.hold_id);
				free(k);
			}
			/* a hold the master lost and we could not take again:
			 * nothing to release there */
			if (!at_master)
				return reply_status(cl, h, 0);
			if (at_master != q.hold_id) {
				/* taken again after a restart of the master: its new id */
				q.hold_id = at_master;
				mcs_buf_reset(&cl->cs->scratch);
				mcs_enc_release_req(&cl->cs->scratch, &q);
				if (cl->cs->scratch.err)
					return reply_status(cl, h, cl->cs->scratch.err);
				body = cl->cs->scratch.p;
				hlen = (uint32_t)cl->cs->scratch.len;
			}
		}
		break;
	}
	case MCS_OP_REMOVE: {
		struct mcs_remove_req q;
		r = mcs_dec_remove_req(body, h->body_len, &q);
		break;
	}
	case MCS_OP_LIST: {
		struct mcs_list_req q;
		r = mcs_dec_list_req(body, h->body_len, &q);
		break;
	}
	case MCS_OP_REMOVE_ALL:
	case MCS_OP_STAT:
		r = h->body_len ? -EPROTO : 0;
		break;
	default:
		r = -EPROTO;
		break;
	}
	/* every relayed request waits in the master link's table: a client
	 * that pipelines without end is told to wait instead */
	if (r == 0 && cl->inflight >= cl->cs->o->max_client_inflight)
		r = -EBUSY;
	if (r < 0)
		return reply_status(cl, h, r);
	/* only requests whose answer changes our bookkeeping carry the key */
	bool track = h->opcode == MCS_OP_PUT_START || h->opcode == MCS_OP_PUT_END ||
		     h->opcode == MCS_OP_PUT_REVOKE || (h->opcode == MCS_OP_GET_REPLICAS && (get_flags & MCS_GET_HOLD));
	struct node_master_call call = { .reply = master_reply, .ctx = cl->cs, .owner = cl, .req_id = h->req_id,
					 .key = track ? key : (struct mcs_str){ 0 }, .get_flags = get_flags };
	r = node_master_send(cl->cs->master, h->opcode, body, hlen, &call);
	if (r < 0)
		return reply_status(cl, h, r);
	cl->inflight++;
	cl->cs->relayed++;
	return 0;
}

/* What a read-only client may ask: to read, look, list and count, and
 * the buffers reads land in; nothing that writes or removes, and no hold
 * (a zero-copy view needs the mapping it does not have). */
static bool reader_may(uint16_t opcode, const uint8_t *body, uint32_t len)
{
	struct mcs_get_req g;
	switch (opcode) {
	case MCS_OP_GET_REPLICAS:
		return mcs_dec_get_req(body, len, &g) == 0 && !(g.flags & MCS_GET_HOLD);
	case MCS_OP_EXIST:
	case MCS_OP_LIST:
	case MCS_OP_STAT:
	case MCS_OP_LEADER:
	case MCS_OP_BUF_ALLOC:
	case MCS_OP_BUF_FREE:
	case MCS_OP_FETCH:
		return true;
	default:
		return false;
	}
}

static int on_client_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *userdata)
{
	struct client *cl = userdata;
	/* the accept callback does not see the conn; the first frame does */
	cl->conn = c;
	if (h->flags & MCS_F_RESPONSE) {
		log_debug("client pid %u sent a response frame, closing", cl->pid);
		return -EPROTO;
	}
	if (cl->refused) {
		reply_status(cl, h, cl->refused);
		return cl->refused;
	}
	if (h->opcode == MCS_OP_HELLO)
		return on_hello(cl, h, body);
	if (h->opcode == MCS_OP_PING)
		return reply_status(cl, h, 0);
	if (!cl->hello)
		return reply_status(cl, h, -EPROTO);
	if (cl->read_only && !reader_may(h->opcode, body, h->body_len))
		return reply_status(cl, h, -EPERM);
	switch (h->opcode) {
	case MCS_OP_LEADER:
		return on_leader(cl, h);
	case MCS_OP_BUF_ALLOC:
		return on_buf_alloc(cl, h, body);
	case MCS_OP_BUF_FREE:
		return on_buf_free(cl, h, body);
	case MCS_OP_FETCH:
	case MCS_OP_PUSH:
		return on_transfer(cl, h, body);
	default:
		return relay(cl, h, body);
	}
}

static void on_client_close(struct mcs_conn *c, int err, void *userdata)
{
	struct client *cl = userdata;
	struct node_clients *cs = cl->cs;
	if (err < 0)
		log_debug("client pid %u: connection closed: %s", cl->pid, mcs_status_text(err));
	node_master_forget(cs->master, cl);
	node_data_forget(cs->data, cl);
	while (cl->bufs) {
		struct cbuf *b = cl->bufs;
		cl->bufs = b->next;
		cbuf_unref(b);
	}
	for (size_t i = 0; i < cl->n_t; i++) {
		if (cl->t[i].hold_id && cl->t[i].master_hold)
			undo_hold(cs, cl->t[i].key, cl->t[i].master_hold);
		else if (!cl->t[i].hold_id)
			undo_put(cs, cl->t[i].key);
	}
	if (cl->n_t)
		log_info("client pid %u left %zu unfinished puts/views, released", cl->pid, cl->n_t);
	track_clear(cl);
	free(cl->t);
	mcs_list_del(&cl->link);
	cs->n_clients--;
	free(cl);
}

static const struct mcs_conn_ops client_ops = { .on_frame = on_client_frame, .on_close = on_client_close };

static bool id_in(uint32_t id, const uint32_t *ids, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

/* The peer's uid, or its group or one of its supplementary groups
 * (SO_PEERGROUPS), is listed. */
static bool peer_in(int fd, const struct ucred *uc, const uint32_t *uids, unsigned nu, const uint32_t *gids,
		    unsigned ng)
{
	if (id_in(uc->uid, uids, nu) || id_in(uc->gid, gids, ng))
		return true;
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	if (ng && getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) == 0)
		for (size_t i = 0; i < len / sizeof(groups[0]); i++)
			if (id_in(groups[i], gids, ng))
				return true;
	return false;
}

enum access { ACCESS_NONE, ACCESS_READ, ACCESS_FULL };

/* What the lists give the peer, by its credentials as the kernel took
 * them at connect (SO_PEERCRED), never by what it says of itself: root
 * and this daemon's user everything; the read-only lists reading; the
 * allow lists (when set) everything; anyone else nothing. */
static enum access peer_access(const struct node_opts *o, int fd, struct ucred *uc)
{
	socklen_t len = sizeof(*uc);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, uc, &len) < 0)
		return ACCESS_NONE;
	if (uc->uid == 0 || uc->uid == geteuid())
		return ACCESS_FULL;
	if (peer_in(fd, uc, o->ro_uids, o->n_ro_uids, o->ro_gids, o->n_ro_gids))
		return ACCESS_READ;
	if (!o->n_allow_uids && !o->n_allow_gids)
		return ACCESS_FULL;
	return peer_in(fd, uc, o->allow_uids, o->n_allow_uids, o->allow_gids, o->n_allow_gids) ? ACCESS_FULL
												 : ACCESS_NONE;
}

static int on_accept(struct mcs_loop *l, int fd, const struct mcs_conn_ops **ret_ops, void **ret_userdata,
		     void *userdata)
{
	struct node_clients *cs = userdata;
	if (fd < 0) {
		mcs_log_accept_failed(cs->o->socket_path, fd);
		return fd;
	}
	if (cs->closing)
		return -ESHUTDOWN;
	struct ucred uc = { 0 };
	enum access access = peer_access(cs->o, fd, &uc);
	int refused = access == ACCESS_NONE ? -EACCES : cs->n_clients >= cs->o->max_clients ? -EMFILE : 0;
	if (refused == -EMFILE) {
		static uint64_t said_ms;
		if (mcs_now_ms() - said_ms > 60000) {
			said_ms = mcs_now_ms();
			log_warning("refused a client (pid %d, uid %u): %llu clients already (--max-clients)", (int)uc.pid,
				    (unsigned)uc.uid, (unsigned long long)cs->n_clients);
		}
		cs->refused++;
	} else if (refused) {
		/* at most ten lines a minute: refusals cost the refused nothing */
		static struct mcs_ratelimit rl;
		char note[64];
		if (mcs_ratelimit_ok(&rl, note, sizeof(note)))
			log_notice("refused a client: pid %d, uid %u, gid %u is not among --allow-users / --allow-groups%s",
				   (int)uc.pid, (unsigned)uc.uid, (unsigned)uc.gid, note);
		cs->refused++;
	}
	struct client *cl = calloc(1, sizeof(*cl));
	if (!cl)
		return -ENOMEM;
	cl->cs = cs;
	/* answered -EACCES at its first request, then closed: the client
	 * learns why, where a closed socket would say nothing */
	cl->refused = refused;
	cl->read_only = access == ACCESS_READ;
	mcs_list_add(&cs->clients, &cl->link);
	cs->n_clients++;
	*ret_ops = &client_ops;
	*ret_userdata = cl;
	return 0;
}

static int mkdir_parents(const char *path)
{
	char buf[sizeof(((struct sockaddr_un *)0)->sun_path)];
	size_t len = strlen(path);
	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	return 0;
}

void node_clients_init(struct node_clients *cs, struct mcs_loop *loop, const struct node_opts *o,
		       const struct mcs_segment *seg, struct node_data *data, struct node_master *master)
{
	*cs = (struct node_clients){ .loop = loop, .o = o, .seg = seg, .data = data, .master = master };
	mcs_list_init(&cs->clients);
	mcs_buf_init(&cs->scratch);
}

int node_clients_listen(struct node_clients *cs)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = cs->o->socket_path;
	if (strlen(path) >= sizeof(sa.sun_path))
		return log_error_errno(ENAMETOOLONG, "socket path %s is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int r = mkdir_parents(path);
	if (r < 0)
		return log_error_errno(r, "cannot create the directory of %s: %m", path);

	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(errno, "cannot create a unix socket: %m");
	/* a live daemon on the path is an error; a stale socket file is not */
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		close(fd);
		return log_error_errno(EADDRINUSE, "another mcstored is serving %s", path);
	}
	close(fd);
	unlink(path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return log_error_errno(errno, "cannot create a unix socket: %m");
	mode_t old = umask(0777 & ~cs->o->socket_mode);
	r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (r < 0 || listen(fd, 256) < 0) {
		r = -errno;
		close(fd);
		return log_error_errno(r, "cannot listen on %s: %m", path);
	}
	r = mcs_loop_listen_requests(cs->loop, fd, on_accept, cs, 0);
	if (r < 0)
		return log_error_errno(r, "cannot accept on %s: %m", path);
	cs->listening = true;
	return 0;
}

void node_clients_stop(struct node_clients *cs)
{
	if (cs->listening)
		unlink(cs->o->socket_path);
	cs->listening = false;
	cs->closing = true;
	struct mcs_list *n, *next;
	mcs_list_for_each_safe(n, next, &cs->clients) {
		struct client *cl = mcs_list_entry(n, struct client, link);
		if (cl->conn)
			mcs_conn_close(cl->conn);
	}
}

void node_clients_free(struct node_clients *cs)
{
	/* the loop ended by itself (no signal): the socket is still there */
	if (cs->listening)
		unlink(cs->o->socket_path);
	cs->listening = false;
	mcs_buf_free(&cs->scratch);
}
