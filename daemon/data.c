/* SPDX-License-Identifier: MIT */
/*
 * mcstored's data path: the TCP service other nodes read from and write
 * into this node's segment, and the transfers this node makes on behalf of
 * its clients (FETCH: remote buffers -> client buffer; PUSH: client buffer
 * -> remote buffers). The master is never on this path.
 *
 * Bytes never pass through connection buffers: a DATA_READ answer is sent
 * straight from the segment (mcs_conn_send_ref) and received straight into
 * the client's shared buffer (mcs_conn_recv_into); a DATA_WRITE goes from
 * the client's buffer into the remote segment the same way.
 *
 * Transfers are planned as libmcstore plans its own (xfer/xfer.h): cut into
 * chunks spread over a small pool of connections per remote node, so
 * stripes of one object and chunks of one stripe move in parallel; each
 * connection answers in order, so it keeps a FIFO of its outstanding
 * chunks. A PUSH chunk ends when its answer has come and its payload has
 * left (see struct chunk): the client hears of the transfer, and may free
 * or reuse its buffer, only once the ring no longer reads it. A connection
 * that fails, or stalls past --data-timeout-ms for an answer or for a
 * payload to leave (a sweep timer looks), fails its chunks; the client
 * then tries another replica. Nothing waits without a bound.
 *
 * With a cluster key (--key-file), every link starts with the handshake
 * of auth/auth.h, both ways, and every DATA_READ / DATA_WRITE must carry
 * the capability token the master minted for the buffer it touches: a
 * peer reads and writes only what the master granted it, for as long as
 * it granted it. Without a key the data port listens on loopback only
 * (protected mode) and bounds are checked, identity is not. Either way a
 * request that names another incarnation of the segment (a handle from
 * before this daemon's restart) is refused.
 */
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/data.h"
#include "mcstore.h"
#include "xfer/xfer.h"

/* A chunk ends when both its answer has come (it is out of the FIFO) and,
 * for a DATA_WRITE, its payload's send_ref is done: a peer may answer
 * before it has read the payload, and the ring reads the client's buffer
 * until the send is done, so neither the transfer nor the buffer it holds
 * may end before. */
struct chunk {
	struct mcs_xfer_chunk c;   /* first: what the FIFO hands back */
	struct transfer *t;
	uint8_t *local;            /* in the client's buffer */
	uint64_t sent_ms;
	int err;                   /* the first failure of either half */
	bool answered;             /* out of the FIFO */
	bool sending;              /* its payload's send_ref is not done yet */
	struct mcs_list unsent;    /* in its peer_conn's, while sending */
	struct mcs_list held;      /* in its peer_conn's, until the link is authenticated */
	uint16_t req_len;
	uint8_t req[MCS_XFER_REQ_MAX]; /* its DATA_* request's body */
};

struct peer_conn {
	struct mcs_xfer_link link; /* first: what the pool hands back */
	struct mcs_conn *conn;
	struct node_data *d;
	struct mcs_list unsent;    /* chunks whose payload is still queued (in order) */
	struct mcs_auth_client auth;
	bool authing;              /* AUTH sent, its answer awaited: chunks wait in held */
	bool proof_due;            /* AUTH_PROOF sent, its answer comes before the chunks' */
	struct mcs_list held;      /* chunks to send once authenticated (in order) */
};

struct transfer {
	node_data_done_fn done;
	void *owner;               /* NULL: forgotten */
	uint64_t req_id;
	uint16_t opcode;
	struct cbuf *buf;
	uint32_t pending;
	int err;
	struct mcs_list link; /* in d->transfers */
};

static const char *endpoint_of(const struct peer_conn *pc)
{
	return pc->link.pool ? pc->link.pool->endpoint : NULL;
}

/* ---- serving peers ------------------------------------------------------ */

struct server_conn {
	struct node_data *d;
	uint64_t req_id;           /* of the DATA_WRITE being received */
	struct mcs_auth_peer auth;
	char name[64];             /* the peer's address, for the log */
};

/* Whether q may touch our segment: the range is in it, the incarnation
 * is ours, and with a key, its token grants want on the range now. */
static int data_req_check(const struct node_data *d, const struct mcs_data_req *q, uint8_t want)
{
	if (!mcs_xfer_req_ok(q, mcs_str_c(d->o->segment_name), d->seg->size))
		return -ENODEV;
	if (q->incarnation != d->o->incarnation)
		return -ESTALE;
	if (!d->o->keys.on)
		return 0;
	return mcs_token_check(&d->o->keys, q->segment, q->incarnation, q->endpoint, q->token, want, q->offset, q->len,
			       mcs_realtime_ms());
}

/* A frame on a link not yet authenticated (or an AUTH without a key). */
static int server_auth(struct server_conn *sc, struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body)
{
	uint8_t ab[128];
	struct mcs_buf b = { .p = ab, .cap = sizeof(ab) };
	const char *why;
	struct mcs_hdr rh = { .opcode = h->opcode, .flags = MCS_F_RESPONSE, .req_id = h->req_id };
	int r = mcs_auth_serve(&sc->auth, &sc->d->o->keys, h, body, &b, &why);
	if (r == MCS_AUTH_ANSWER) {
		mcs_conn_send(c, &rh, b.p, b.len, -1);
		return 0;
	}
	static struct mcs_ratelimit rl;
	char note[64];
	if (mcs_ratelimit_ok(&rl, note, sizeof(note)))
		log_notice("data port: refused %s from %s: %s%s", mcs_op_name(h->opcode), sc->name, why, note);
	rh.status = r;
	mcs_conn_send(c, &rh, NULL, 0, -1);
	return r;
}

static void on_write_landed(struct mcs_conn *c, int err, void *arg)
{
	struct server_conn *sc = arg;
	if (err < 0)
		return; /* the connection is going away; nobody to answer */
	struct mcs_hdr h = { .opcode = MCS_OP_DATA_WRITE, .flags = MCS_F_RESPONSE, .req_id = sc->req_id };
	mcs_conn_send(c, &h, NULL, 0, -1);
}

/* A read refused (rh names it): counted, the refusals a client may cause
 * by a stale or forged handle logged, the status answered; the
 * connection stays. */
static void refuse_read(struct server_conn *sc, struct mcs_conn *c, struct mcs_hdr *rh, int r)
{
	sc->d->refused++;
	if (r == -EACCES || r == -EKEYEXPIRED || r == -ESTALE)
		log_debug("data port: refused a %s from %s: %s", mcs_op_name(rh->opcode), sc->name, mcs_status_text(r));
	rh->status = r;
	mcs_conn_send(c, rh, NULL, 0, -1);
}

/* The answer of a read whose len bytes follow it: 0, or mcs_conn_send's error. */
static int answer_read(struct mcs_conn *c, const struct mcs_hdr *rh, uint64_t len)
{
	uint8_t rb[8];
	struct mcs_buf b = { .p = rb, .cap = sizeof(rb) };
	mcs_enc_data_resp(&b, &(struct mcs_data_resp){ .len = len });
	return mcs_conn_send(c, rh, b.p, b.len, -1);
}

/* A DATA_READV: every range checked as its own DATA_READ would be, then one
 * answer (the total) and the ranges' bytes sent from the segment back to
 * back; the send queue gathers them into few SENDMSGs. One range refused
 * refuses the request (the client reads its keys another way). */
static int serve_readv(struct server_conn *sc, struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body)
{
	struct node_data *d = sc->d;
	struct mcs_hdr rh = { .opcode = h->opcode, .flags = MCS_F_RESPONSE, .req_id = h->req_id };
	struct mcs_data_readv_req v;
	uint64_t total = 0;
	int r = mcs_dec_data_readv_req(body, h->body_len, &v);
	for (uint32_t i = 0; r == 0 && i < v.n_ranges; i++) {
		const struct mcs_data_range *g = &v.ranges[i];
		struct mcs_data_req q = { .segment = v.segment, .offset = g->offset, .len = g->len,
					  .incarnation = v.incarnation, .endpoint = v.endpoint, .token = g->token };
		r = data_req_check(d, &q, MCS_TOK_READ);
		total += g->len;
	}
	if (r < 0) {
		mcs_data_readv_req_free(&v);
		refuse_read(sc, c, &rh, r);
		return 0;
	}
	r = answer_read(c, &rh, total);
	for (uint32_t i = 0; r == 0 && i < v.n_ranges; i++)
		r = mcs_conn_send_ref(c, d->seg->base + v.ranges[i].offset, v.ranges[i].len, NULL, NULL);
	if (r == 0) {
		d->bytes_served += total;
		d->readv_served++;
	}
	mcs_data_readv_req_free(&v);
	/* out of memory after the answer began: the stream is out of step */
	return r == -ENOMEM ? r : 0;
}

static int on_server_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *userdata)
{
	struct server_conn *sc = userdata;
	struct node_data *d = sc->d;
	uint8_t *base = d->seg->base;
	struct mcs_data_req q;
	struct mcs_hdr rh = { .opcode = h->opcode, .flags = MCS_F_RESPONSE, .req_id = h->req_id };

	if (h->flags & MCS_F_RESPONSE)
		return -EPROTO;
	if (!mcs_auth_passes(&sc->auth, &d->o->keys) || h->opcode == MCS_OP_AUTH || h->opcode == MCS_OP_AUTH_PROOF)
		return server_auth(sc, c, h, body);
	switch (h->opcode) {
	case MCS_OP_PING:
		return mcs_conn_send(c, &rh, NULL, 0, -1) == -EPIPE ? 0 : 0;
	case MCS_OP_DATA_READ: {
		int r = mcs_dec_data_req(body, h->body_len, &q);
		if (r == 0)
			r = data_req_check(d, &q, MCS_TOK_READ);
		if (r < 0) {
			refuse_read(sc, c, &rh, r);
			return 0;
		}
		if (answer_read(c, &rh, q.len) < 0)
			return 0;
		d->bytes_served += q.len;
		return mcs_conn_send_ref(c, base + q.offset, q.len, NULL, NULL) == -EPIPE ? 0 : 0;
	}
	case MCS_OP_DATA_READV:
		return serve_readv(sc, c, h, body);
	case MCS_OP_DATA_WRITE: {
		int r = mcs_dec_data_req(body, h->body_len, &q);
		if (r == 0)
			r = sc->auth.role == MCS_ROLE_READER ? -EPERM : data_req_check(d, &q, MCS_TOK_WRITE);
		if (r < 0) {
			/* the payload that follows is not taken (it would be
			 * written nowhere): answer and hang up */
			d->refused++;
			static struct mcs_ratelimit rl;
			char note[64];
			if (mcs_ratelimit_ok(&rl, note, sizeof(note)))
				log_warning("refusing a DATA_WRITE from %s: %s%s", sc->name, mcs_status_text(r), note);
			rh.status = r;
			mcs_conn_send(c, &rh, NULL, 0, -1);
			return r;
		}
		sc->req_id = h->req_id;
		d->bytes_received += q.len;
		return mcs_conn_recv_into(c, base + q.offset, q.len, on_write_landed, sc);
	}
	default:
		rh.status = -EPROTO;
		mcs_conn_send(c, &rh, NULL, 0, -1);
		return 0;
	}
}

static void on_server_close(struct mcs_conn *c, int err, void *userdata)
{
	if (err < 0)
		log_debug("data connection from a peer closed: %s", mcs_status_text(err));
	free(userdata);
}

static const struct mcs_conn_ops server_ops = { .on_frame = on_server_frame, .on_close = on_server_close };

static int on_data_accept(struct mcs_loop *l, int fd, const struct mcs_conn_ops **ret_ops, void **ret_userdata,
			  void *userdata)
{
	struct node_data *d = userdata;
	if (fd < 0) {
		mcs_log_accept_failed("the data port", fd);
		return fd;
	}
	struct server_conn *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	sc->d = d;
	mcs_peer_name(fd, sc->name, sizeof(sc->name));
	*ret_ops = &server_ops;
	*ret_userdata = sc;
	return 0;
}

static int data_listen(struct node_data *d)
{
	const char *why = NULL;
	const struct node_opts *o = d->o;
	int fd = mcs_tcp_listen(o->data_listen, o->data_port, 256, &d->port, &why);
	if (fd < 0 && why)
		return log_error_errno(EINVAL, "invalid --data-listen address %s: %s", o->data_listen, why);
	if (fd < 0)
		return log_error_errno(fd, "cannot listen for peers on %s port %u: %m", o->data_listen, o->data_port);
	int r = mcs_listen_protected(fd, "--data-listen", o->data_listen, o->keys.on, o->protected_mode);
	if (r < 0)
		return r;
	/* the data port's requests are a few hundred bytes (a segment name and
	 * a range; payloads follow frames, they are no bodies): a header that
	 * declares more closes its connection before anything is buffered */
	r = mcs_loop_listen_requests(d->loop, fd, on_data_accept, d, MCS_DATA_PORT_MAX_BODY);
	if (r < 0)
		return log_error_errno(r, "cannot accept peers: %m");
	return 0;
}

/* ---- transfers for clients ------------------------------------------------ */

static void transfer_put(struct transfer *t)
{
	if (--t->pending > 0)
		return;
	if (t->owner)
		t->done(t->owner, t->req_id, t->opcode, t->err);
	cbuf_unref(t->buf);
	mcs_list_del(&t->link);
	free(t);
}

static void chunk_end(struct chunk *ch)
{
	struct transfer *t = ch->t;
	if (ch->err < 0 && t->err == 0)
		t->err = ch->err;
	free(ch);
	transfer_put(t);
}

/* The answer to ch came (err: its status), or never will: ch is out of
 * its FIFO. */
static void chunk_finish(struct chunk *ch, int err)
{
	if (err < 0 && ch->err == 0)
		ch->err = err;
	ch->answered = true;
	if (!ch->sending)
		chunk_end(ch);
}

/* The send_ref of ch's payload is done: the ring no longer reads it. */
static void on_payload_sent(struct mcs_conn *c, int err, void *arg)
{
	struct chunk *ch = arg;
	if (err < 0 && ch->err == 0)
		ch->err = err;
	ch->sending = false;
	mcs_list_del(&ch->unsent);
	if (ch->answered)
		chunk_end(ch);
}

static struct chunk *pop_chunk(struct peer_conn *pc)
{
	return (struct chunk *)mcs_xfer_pop(&pc->link);
}

static void on_read_landed(struct mcs_conn *c, int err, void *arg)
{
	struct chunk *ch = pop_chunk(arg);
	if (ch)
		chunk_finish(ch, err < 0 ? -ETIMEDOUT : 0);
}

/* Queue ch's request, and its payload for a DATA_WRITE, on pc. */
static int chunk_send(struct peer_conn *pc, struct chunk *ch)
{
	struct mcs_hdr h = { .opcode = ch->t->opcode == MCS_OP_FETCH ? MCS_OP_DATA_READ : MCS_OP_DATA_WRITE };
	int r = mcs_conn_send(pc->conn, &h, ch->req, ch->req_len, -1);
	if (r < 0 || ch->t->opcode != MCS_OP_PUSH)
		return r;
	/* once queued, on_payload_sent runs, also if the conn fails */
	ch->sending = true;
	mcs_list_add_tail(&pc->unsent, &ch->unsent);
	r = mcs_conn_send_ref(pc->conn, ch->local, ch->c.len, on_payload_sent, ch);
	if (r < 0) {
		ch->sending = false;
		mcs_list_del(&ch->unsent);
	}
	return r;
}

/* The answers of our handshake on pc: the server's proof, then its
 * acceptance of ours, after which the chunks that waited go out. */
static int peer_auth_answer(struct peer_conn *pc, const struct mcs_hdr *h, const uint8_t *body)
{
	const char *ep = endpoint_of(pc) ? endpoint_of(pc) : "a peer";
	if (pc->authing && h->opcode == MCS_OP_AUTH) {
		uint8_t pb[64];
		struct mcs_buf b = { .p = pb, .cap = sizeof(pb) };
		int r = mcs_auth_client_answer(&pc->auth, &pc->d->o->keys, h->status, body, h->body_len, &b);
		if (r < 0) {
			log_warning("peer %s failed authentication: %s", ep,
				    r == -EOPNOTSUPP ? "it has no cluster key" : mcs_status_text(r));
			return r;
		}
		struct mcs_hdr ph = { .opcode = MCS_OP_AUTH_PROOF };
		if ((r = mcs_conn_send(pc->conn, &ph, b.p, b.len, -1)) < 0)
			return r;
		pc->authing = false;
		pc->proof_due = true;
		while (!mcs_list_empty(&pc->held)) {
			struct chunk *ch = mcs_list_first(&pc->held, struct chunk, held);
			mcs_list_del(&ch->held);
			if ((r = chunk_send(pc, ch)) < 0)
				return r;
		}
		return 0;
	}
	if (pc->proof_due && h->opcode == MCS_OP_AUTH_PROOF) {
		pc->proof_due = false;
		if (h->status < 0)
			log_warning("peer %s refused our proof: %s (another cluster key?)", ep, mcs_status_text(h->status));
		return h->status < 0 ? h->status : 0;
	}
	log_warning("peer %s answered %s during the handshake, closing", ep, mcs_op_name(h->opcode));
	return -EPROTO;
}

static int on_peer_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *userdata)
{
	struct peer_conn *pc = userdata;
	struct chunk *ch = (struct chunk *)pc->link.head;
	const char *ep = endpoint_of(pc);
	if ((h->flags & MCS_F_RESPONSE) && (pc->authing || pc->proof_due))
		return peer_auth_answer(pc, h, body);
	if (!(h->flags & MCS_F_RESPONSE) || !ch) {
		log_warning("peer %s sent an unexpected %s, closing", ep ? ep : "?", mcs_op_name(h->opcode));
		return -EPROTO;
	}
	if (h->status < 0 || h->opcode == MCS_OP_DATA_WRITE) {
		pop_chunk(pc);
		chunk_finish(ch, h->status < 0 ? h->status : 0);
		return 0;
	}
	if (mcs_xfer_dec_read(body, h->body_len, ch->c.len) < 0) {
		log_warning("peer %s answered a read with a wrong length, closing", ep ? ep : "?");
		return -EPROTO;
	}
	return mcs_conn_recv_into(c, ch->local, ch->c.len, on_read_landed, pc);
}

static void on_peer_close(struct mcs_conn *c, int err, void *userdata)
{
	struct peer_conn *pc = userdata;
	struct chunk *ch;
	if (err < 0)
		log_info("data connection to %s closed: %s", endpoint_of(pc) ? endpoint_of(pc) : "a peer",
			 mcs_status_text(err));
	mcs_list_init(&pc->held); /* its chunks are in the FIFO too */
	while ((ch = pop_chunk(pc)))
		chunk_finish(ch, err < 0 ? err : -ECONNRESET);
	mcs_xfer_leave(&pc->link);
	mcs_conn_unref(pc->conn);
	free(pc);
}

static const struct mcs_conn_ops peer_ops = { .on_frame = on_peer_frame, .on_close = on_peer_close };

static int peer_open(struct mcs_xfer_pool *p, void *arg, struct mcs_xfer_link **ret)
{
	struct node_data *d = arg;
	char host[MCS_NAME_MAX + 1];
	uint16_t port;
	if (mcs_parse_hostport(p->endpoint, host, sizeof(host), &port) < 0)
		return -EINVAL;
	/* numeric only: a name lookup would block the loop */
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV };
	struct addrinfo *res;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	if (getaddrinfo(host, ps, &hints, &res))
		return -EINVAL;
	struct peer_conn *pc = calloc(1, sizeof(*pc));
	if (!pc) {
		freeaddrinfo(res);
		return -ENOMEM;
	}
	struct mcs_conn *c;
	int r = mcs_loop_connect(d->loop, res->ai_addr, res->ai_addrlen, (unsigned)d->o->data_timeout_ms, &peer_ops,
				 pc, &c);
	freeaddrinfo(res);
	if (r < 0) {
		free(pc);
		return r;
	}
	pc->conn = mcs_conn_ref(c);
	pc->d = d;
	mcs_list_init(&pc->unsent);
	mcs_list_init(&pc->held);
	if (d->o->keys.on) {
		/* the first frame; chunks wait in held for the answer */
		uint8_t ab[64];
		struct mcs_buf b = { .p = ab, .cap = sizeof(ab) };
		mcs_auth_client_start(&pc->auth, MCS_ROLE_NODE, &b);
		struct mcs_hdr h = { .opcode = MCS_OP_AUTH };
		if ((r = b.err ? b.err : mcs_conn_send(c, &h, b.p, b.len, -1)) < 0) {
			mcs_conn_close(c);
			return r;
		}
		pc->authing = true;
	}
	*ret = &pc->link;
	return 0;
}

/* A connection the loop closed stays in its slot until its close callback
 * runs: not usable, not free. */
static bool peer_usable(struct mcs_xfer_link *l, void *arg)
{
	return !mcs_conn_is_closed(((struct peer_conn *)l)->conn);
}

static const struct mcs_xfer_pool_ops pool_ops = { .usable = peer_usable, .open = peer_open };

static int send_chunk(struct node_data *d, struct transfer *t, const struct mcs_xfer_chunk *c, uint8_t *local)
{
	struct mcs_xfer_pool *p;
	struct mcs_xfer_link *l;
	int r = mcs_xfer_pool_get(&d->pools, c->hd->endpoint, &p);
	if (r == 0)
		r = mcs_xfer_pick(p, MCS_XFER_SPREAD, &pool_ops, d, &l);
	if (r < 0)
		return r;
	struct peer_conn *pc = (struct peer_conn *)l;
	struct chunk *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	*ch = (struct chunk){ .c = *c, .t = t, .local = local, .sent_ms = mcs_now_ms() };
	ch->c.hd = NULL; /* it points into the request, gone once we return */
	struct mcs_buf b = { .p = ch->req, .cap = sizeof(ch->req) };
	mcs_xfer_enc_req(&b, c);
	if (b.err) {
		free(ch);
		return b.err;
	}
	ch->req_len = (uint16_t)b.len;
	if (pc->authing) {
		mcs_list_add_tail(&pc->held, &ch->held);
	} else if ((r = chunk_send(pc, ch)) < 0) {
		/* a header without its payload: the stream is lost */
		if (t->opcode == MCS_OP_PUSH)
			mcs_conn_close(pc->conn);
		free(ch);
		return r;
	}
	t->pending++;
	mcs_xfer_push(&pc->link, &ch->c);
	return 0;
}

/* Send every chunk of q, copying the stripes on our own segment. */
static int transfer_start(struct node_data *d, struct transfer *t, const struct mcs_transfer_req *q, uint8_t *at)
{
	struct mcs_str self = mcs_str_c(d->o->segment_name);
	uint8_t *base = d->seg->base;
	struct mcs_xfer_cut cu = mcs_xfer_cut_start(q->handles, q->n_handles);
	struct mcs_xfer_chunk c;
	while (mcs_xfer_cut_next(&cu, &c)) {
		if (!mcs_str_eq(c.hd->segment, self)) {
			int r = send_chunk(d, t, &c, at + c.voff);
			if (r < 0)
				return r;
		} else if (t->opcode == MCS_OP_FETCH) {
			memcpy(at + c.voff, base + c.roff, c.len);
		} else {
			memcpy(base + c.roff, at + c.voff, c.len);
		}
	}
	return 0;
}

/* Whether the daemon may be aimed at hd's endpoint for a client: with a
 * key, only with the master's token for it (which names the endpoint);
 * without one, in protected mode, only at loopback (every port of such a
 * cluster is there). Nobody makes this daemon connect elsewhere. */
static int handle_allowed(const struct node_data *d, const struct mcs_handle *hd, uint8_t want)
{
	if (d->o->keys.on)
		return mcs_token_check(&d->o->keys, hd->segment, hd->incarnation, hd->endpoint, hd->token, want,
				       hd->offset, hd->len, mcs_realtime_ms());
	if (!d->o->protected_mode)
		return 0;
	char host[MCS_NAME_MAX + 1];
	uint16_t port;
	struct in6_addr a6;
	struct in_addr a4;
	char ep[MCS_NAME_MAX + 1];
	memcpy(ep, hd->endpoint.p, hd->endpoint.len);
	ep[hd->endpoint.len] = '\0';
	if (mcs_parse_hostport(ep, host, sizeof(host), &port) < 0)
		return -EINVAL;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127 ? 0 : -EACCES;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6) ? 0 : -EACCES;
	return -EACCES;
}

/* Every handle of a client's FETCH/PUSH: ours of this incarnation, or one
 * the daemon may go to. */
static int transfer_allowed(const struct node_data *d, uint16_t opcode, const struct mcs_transfer_req *q)
{
	struct mcs_str self = mcs_str_c(d->o->segment_name);
	uint8_t want = opcode == MCS_OP_FETCH ? MCS_TOK_READ : MCS_TOK_WRITE;
	for (uint32_t i = 0; i < q->n_handles; i++) {
		const struct mcs_handle *hd = &q->handles[i];
		int r = mcs_str_eq(hd->segment, self) ? (hd->incarnation == d->o->incarnation ? 0 : -ESTALE)
						      : handle_allowed(d, hd, want);
		if (r < 0)
			return r;
	}
	return 0;
}

int node_data_check_own(const struct node_data *d, const struct mcs_transfer_req *q)
{
	struct mcs_str self = mcs_str_c(d->o->segment_name);
	for (uint32_t i = 0; i < q->n_handles; i++) {
		const struct mcs_handle *hd = &q->handles[i];
		if (!mcs_str_eq(hd->segment, self))
			continue;
		int r = mcs_token_check(&d->o->keys, hd->segment, hd->incarnation, hd->endpoint, hd->token, MCS_TOK_READ,
					hd->offset, hd->len, mcs_realtime_ms());
		if (r < 0)
			return r;
	}
	return 0;
}

int node_data_transfer(struct node_data *d, uint16_t opcode, uint64_t req_id, const struct mcs_transfer_req *q,
		       struct cbuf *buf, node_data_done_fn done, void *owner)
{
	uint64_t total;
	if (!mcs_xfer_check(q->handles, q->n_handles, mcs_str_c(d->o->segment_name), d->seg->size, &total) ||
	    !mcs_xfer_range_ok(q->buf_off, total, buf->size))
		return -EINVAL;
	int r = transfer_allowed(d, opcode, q);
	if (r < 0) {
		d->refused++;
		static struct mcs_ratelimit rl;
		char note[64];
		if (mcs_ratelimit_ok(&rl, note, sizeof(note)))
			log_notice("refused a client's %s: %s%s", mcs_op_name(opcode), mcs_status_text(r), note);
		return r;
	}

	struct transfer *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	*t = (struct transfer){ .done = done, .owner = owner, .req_id = req_id, .opcode = opcode,
				.buf = cbuf_ref(buf), .pending = 1 /* held until every chunk is sent */ };
	mcs_list_add(&d->transfers, &t->link);

	t->err = transfer_start(d, t, q, (uint8_t *)buf->base + q->buf_off);
	if (t->err)
		log_debug("transfer for a client failed to start: %s", mcs_status_text(t->err));
	transfer_put(t);
	return 0;
}

void node_data_forget(struct node_data *d, void *owner)
{
	struct mcs_list *n;
	mcs_list_for_each(n, &d->transfers) {
		struct transfer *t = mcs_list_entry(n, struct transfer, link);
		if (t->owner == owner)
			t->owner = NULL;
	}
}

/* Close connections whose oldest chunk waits longer than the data timeout:
 * their chunks fail and the clients move on to another replica. */
static void on_sweep(struct mcs_timer *tm, void *userdata)
{
	struct node_data *d = userdata;
	uint64_t now = mcs_now_ms();
	for (struct mcs_xfer_pool *p = d->pools; p; p = p->next)
		for (int i = 0; i < MCS_XFER_POOL; i++) {
			struct peer_conn *pc = (struct peer_conn *)p->links[i];
			if (!pc || mcs_conn_is_closed(pc->conn))
				continue;
			/* the oldest of an answer awaited and a payload not yet
			 * taken (a peer that answered but does not read) */
			struct chunk *head = (struct chunk *)pc->link.head;
			if (!mcs_list_empty(&pc->unsent)) {
				struct chunk *u = mcs_list_first(&pc->unsent, struct chunk, unsent);
				if (!head || u->sent_ms < head->sent_ms)
					head = u;
			}
			if (head && now - head->sent_ms > d->o->data_timeout_ms) {
				log_warning("peer %s did not answer within %llu ms, dropping the connection", p->endpoint,
					    (unsigned long long)d->o->data_timeout_ms);
				mcs_conn_close(pc->conn);
			}
		}
}

int node_data_start(struct node_data *d, struct mcs_loop *loop, const struct node_opts *o,
		    const struct mcs_segment *seg)
{
	*d = (struct node_data){ .loop = loop, .o = o, .seg = seg };
	mcs_list_init(&d->transfers);
	int r = data_listen(d);
	if (r < 0)
		return r;
	/* a tenth of the timeout: a stall is seen at most 10% late */
	uint64_t every = MCS_MIN(MCS_MAX(o->data_timeout_ms / 10, 10), 1000);
	r = mcs_loop_add_timer(loop, every, every, on_sweep, d, &d->sweep);
	if (r < 0)
		return log_error_errno(r, "cannot arm the data sweep timer: %m");
	return 0;
}

/* The loop is gone, and with it every connection: only the pools are left. */
void node_data_free(struct node_data *d)
{
	mcs_xfer_pools_free(&d->pools, NULL);
}

/* ---- client buffers ---------------------------------------------------------- */

int cbuf_new(struct node_data *d, uint64_t size, struct cbuf **ret)
{
	struct cbuf *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	char name[64];
	snprintf(name, sizeof(name), "buf-%llu", (unsigned long long)++d->next_buf_id);
	bool fell_back;
	int r = mcs_segment_create(name, size, MCS_SEG_NORMAL, false, &b->seg, &fell_back);
	if (r < 0) {
		free(b);
		return r;
	}
	b->id = (uint32_t)d->next_buf_id;
	b->base = b->seg.base;
	b->size = size;
	b->refs = 1;
	*ret = b;
	return 0;
}

struct cbuf *cbuf_ref(struct cbuf *b)
{
	b->refs++;
	return b;
}

struct cbuf *cbuf_unref(struct cbuf *b)
{
	if (b && --b->refs == 0) {
		mcs_segment_close(&b->seg);
		free(b);
	}
	return NULL;
}
