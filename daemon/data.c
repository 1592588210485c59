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
 * Transfers are cut into chunks of at most CHUNK bytes spread over a pool
 * of POOL connections per remote node, so stripes of one object and chunks
 * of one stripe move in parallel. Each connection answers in order, so it
 * keeps a FIFO of its outstanding chunks. A connection that fails or stalls
 * past --data-timeout-ms fails its chunks; the client then tries another
 * replica. Nothing waits without a bound.
 *
 * Peers are trusted (a cluster network): any node may read or write any
 * byte of a segment it names; bounds are checked, identity is not.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "daemon/node.h"
#include "mcstore.h"

#define CHUNK (4ull << 20)
#define POOL 4

struct xfer;

struct chunk {
	struct xfer *x;
	uint8_t *local;            /* in the client's buffer */
	uint64_t len;
	uint64_t sent_ms;
	struct chunk *next;        /* FIFO of the peer connection */
};

struct peer_conn {
	struct peer_pool *pool;
	struct mcs_conn *conn;
	struct chunk *head, *tail;
	uint64_t inflight;         /* bytes */
	bool receiving;            /* a DATA_READ payload is being received */
};

struct peer_pool {
	char endpoint[MCS_NAME_MAX + 1];
	struct peer_conn *conns[POOL];
	struct peer_pool *next;
};

struct xfer {
	struct node *n;
	struct client *cl;
	uint64_t client_req_id;
	uint16_t opcode;
	struct cbuf *buf;
	uint32_t pending;
	int err;
	struct xfer *next, **pprev; /* in n->xfers */
};

/* ---- serving peers ------------------------------------------------------ */

struct server_conn {
	struct node *n;
	uint64_t req_id;           /* of the DATA_WRITE being received */
};

static bool seg_range_ok(struct node *n, const struct mcs_data_req *q)
{
	return mcs_str_eq(q->segment, mcs_str_c(n->o.segment_name)) && q->offset <= n->seg.size &&
	       q->len <= n->seg.size - q->offset;
}

static void on_write_landed(struct mcs_conn *c, int err, void *arg)
{
	struct server_conn *sc = arg;
	if (err < 0)
		return; /* the connection is going away; nobody to answer */
	struct mcs_hdr h = { .opcode = MCS_OP_DATA_WRITE, .flags = MCS_F_RESPONSE, .req_id = sc->req_id };
	mcs_conn_send(c, &h, NULL, 0, -1);
}

static int on_server_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *userdata)
{
	struct server_conn *sc = userdata;
	struct node *n = sc->n;
	struct mcs_data_req q;
	struct mcs_hdr rh = { .opcode = h->opcode, .flags = MCS_F_RESPONSE, .req_id = h->req_id };

	if (h->flags & MCS_F_RESPONSE)
		return -EPROTO;
	switch (h->opcode) {
	case MCS_OP_PING:
		return mcs_conn_send(c, &rh, NULL, 0, -1) == -EPIPE ? 0 : 0;
	case MCS_OP_DATA_READ: {
		int r = mcs_dec_data_req(body, h->body_len, &q);
		if (r == 0 && !seg_range_ok(n, &q))
			r = -ENODEV;
		if (r < 0) {
			rh.status = r;
			mcs_conn_send(c, &rh, NULL, 0, -1);
			return 0;
		}
		uint8_t rb[8];
		struct mcs_buf b = { .p = rb, .cap = sizeof(rb) };
		struct mcs_data_resp resp = { .len = q.len };
		mcs_enc_data_resp(&b, &resp);
		if (mcs_conn_send(c, &rh, b.p, b.len, -1) < 0)
			return 0;
		n->stats.bytes_served += q.len;
		return mcs_conn_send_ref(c, (uint8_t *)n->seg.base + q.offset, q.len, NULL, NULL) == -EPIPE ? 0 : 0;
	}
	case MCS_OP_DATA_WRITE: {
		int r = mcs_dec_data_req(body, h->body_len, &q);
		if (r == 0 && !seg_range_ok(n, &q))
			r = -ENODEV;
		if (r < 0) {
			/* the payload that follows cannot be skipped safely
			 * without its length: answer and hang up */
			log_warning("refusing a DATA_WRITE from a peer: %s", mcs_strerror(r));
			rh.status = r;
			mcs_conn_send(c, &rh, NULL, 0, -1);
			return r;
		}
		sc->req_id = h->req_id;
		n->stats.bytes_received += q.len;
		return mcs_conn_recv_into(c, (uint8_t *)n->seg.base + q.offset, q.len, on_write_landed, sc);
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
		log_debug("data connection from a peer closed: %s", mcs_strerror(err));
	free(userdata);
}

static const struct mcs_conn_ops server_ops = { .on_frame = on_server_frame, .on_close = on_server_close };

static int on_data_accept(struct mcs_loop *l, int fd, const struct mcs_conn_ops **ret_ops, void **ret_userdata,
			  void *userdata)
{
	struct node *n = userdata;
	if (fd < 0) {
		mcs_log_accept_failed("the data port", fd);
		return fd;
	}
	struct server_conn *sc = calloc(1, sizeof(*sc));
	if (!sc)
		return -ENOMEM;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	sc->n = n;
	*ret_ops = &server_ops;
	*ret_userdata = sc;
	return 0;
}

int node_data_listen(struct node *n)
{
	const char *why = NULL;
	int fd = mcs_tcp_listen(n->o.data_listen, n->o.data_port, 256, &n->data_port_bound, &why);
	if (fd < 0 && why)
		return log_error_errno(EINVAL, "invalid --data-listen address %s: %s", n->o.data_listen, why);
	if (fd < 0)
		return log_error_errno(fd, "cannot listen for peers on %s port %u: %m", n->o.data_listen,
				       n->o.data_port);
	int r = mcs_loop_listen(n->loop, fd, on_data_accept, n);
	if (r < 0)
		return log_error_errno(r, "cannot accept peers: %m");
	return 0;
}

/* ---- transfers for clients ------------------------------------------------ */

static void xfer_put(struct xfer *x)
{
	if (--x->pending > 0)
		return;
	struct node *n = x->n;
	if (x->cl)
		client_transfer_done(n, x->cl, x->client_req_id, x->opcode, x->err);
	cbuf_unref(x->buf);
	*x->pprev = x->next;
	if (x->next)
		x->next->pprev = x->pprev;
	free(x);
}

static void chunk_finish(struct chunk *ch, int err)
{
	struct xfer *x = ch->x;
	if (err < 0 && x->err == 0)
		x->err = err;
	free(ch);
	xfer_put(x);
}

static void pc_push_chunk(struct peer_conn *pc, struct chunk *ch)
{
	ch->next = NULL;
	if (pc->tail)
		pc->tail->next = ch;
	else
		pc->head = ch;
	pc->tail = ch;
	pc->inflight += ch->len;
}

static struct chunk *pc_pop_chunk(struct peer_conn *pc)
{
	struct chunk *ch = pc->head;
	if (!ch)
		return NULL;
	pc->head = ch->next;
	if (!pc->head)
		pc->tail = NULL;
	pc->inflight -= ch->len;
	return ch;
}

static void on_read_landed(struct mcs_conn *c, int err, void *arg)
{
	struct peer_conn *pc = arg;
	pc->receiving = false;
	struct chunk *ch = pc_pop_chunk(pc);
	if (ch)
		chunk_finish(ch, err < 0 ? -ETIMEDOUT : 0);
}

static int on_peer_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *userdata)
{
	struct peer_conn *pc = userdata;
	struct chunk *ch = pc->head;
	if (!(h->flags & MCS_F_RESPONSE) || !ch) {
		log_warning("peer %s sent an unexpected %s, closing", pc->pool ? pc->pool->endpoint : "?",
			    mcs_op_name(h->opcode));
		return -EPROTO;
	}
	if (h->status < 0) {
		pc_pop_chunk(pc);
		chunk_finish(ch, h->status);
		return 0;
	}
	if (h->opcode == MCS_OP_DATA_WRITE) {
		pc_pop_chunk(pc);
		chunk_finish(ch, 0);
		return 0;
	}
	struct mcs_data_resp resp;
	int r = mcs_dec_data_resp(body, h->body_len, &resp);
	if (r < 0 || resp.len != ch->len) {
		log_warning("peer %s answered a read with a wrong length, closing",
			    pc->pool ? pc->pool->endpoint : "?");
		return -EPROTO;
	}
	pc->receiving = true;
	return mcs_conn_recv_into(c, ch->local, ch->len, on_read_landed, pc);
}

static void on_peer_close(struct mcs_conn *c, int err, void *userdata)
{
	struct peer_conn *pc = userdata;
	struct chunk *ch;
	if (err < 0)
		log_info("data connection to %s closed: %s", pc->pool ? pc->pool->endpoint : "a peer",
			 mcs_strerror(err));
	while ((ch = pc_pop_chunk(pc)))
		chunk_finish(ch, err < 0 ? err : -ECONNRESET);
	if (pc->pool)
		for (int i = 0; i < POOL; i++)
			if (pc->pool->conns[i] == pc)
				pc->pool->conns[i] = NULL;
	mcs_conn_unref(pc->conn);
	free(pc);
}

static const struct mcs_conn_ops peer_ops = { .on_frame = on_peer_frame, .on_close = on_peer_close };

static struct peer_pool *pool_get(struct node *n, struct mcs_str endpoint)
{
	for (struct peer_pool *p = n->pools; p; p = p->next)
		if (mcs_str_eq(mcs_str_c(p->endpoint), endpoint))
			return p;
	if (endpoint.len == 0 || endpoint.len > MCS_NAME_MAX)
		return NULL;
	struct peer_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	memcpy(p->endpoint, endpoint.p, endpoint.len);
	p->next = n->pools;
	n->pools = p;
	return p;
}

static int peer_connect(struct node *n, struct peer_pool *p, struct peer_conn **ret)
{
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
	pc->pool = p;
	struct mcs_conn *c;
	int r = mcs_loop_connect(n->loop, res->ai_addr, res->ai_addrlen, (unsigned)n->o.data_timeout_ms, &peer_ops,
				 pc, &c);
	freeaddrinfo(res);
	if (r < 0) {
		free(pc);
		return r;
	}
	pc->conn = mcs_conn_ref(c);
	*ret = pc;
	return 0;
}

/* The pool connection with the fewest bytes in flight, opening connections
 * up to POOL as needed. */
static int pool_pick(struct node *n, struct peer_pool *p, struct peer_conn **ret)
{
	struct peer_conn *best = NULL;
	int free_slot = -1;
	for (int i = 0; i < POOL; i++) {
		struct peer_conn *pc = p->conns[i];
		if (!pc || mcs_conn_is_closed(pc->conn)) {
			if (free_slot < 0 && !pc)
				free_slot = i;
			continue;
		}
		if (!best || pc->inflight < best->inflight)
			best = pc;
	}
	if ((!best || best->inflight > 0) && free_slot >= 0) {
		struct peer_conn *pc;
		int r = peer_connect(n, p, &pc);
		if (r == 0) {
			p->conns[free_slot] = pc;
			best = pc;
		} else if (!best)
			return r;
	}
	if (!best)
		return -ECONNREFUSED;
	*ret = best;
	return 0;
}

static int send_chunk(struct node *n, struct xfer *x, const struct mcs_handle *hd, uint64_t off, uint8_t *local,
		      uint64_t len)
{
	struct peer_pool *p = pool_get(n, hd->endpoint);
	if (!p)
		return hd->endpoint.len ? -ENOMEM : -EREMOTE;
	struct peer_conn *pc;
	int r = pool_pick(n, p, &pc);
	if (r < 0)
		return r;
	struct chunk *ch = calloc(1, sizeof(*ch));
	if (!ch)
		return -ENOMEM;
	ch->x = x;
	ch->local = local;
	ch->len = len;
	ch->sent_ms = mcs_now_ms();

	struct mcs_data_req q = { .segment = hd->segment, .offset = hd->offset + off, .len = len };
	uint8_t qb[MCS_NAME_MAX + 32];
	struct mcs_buf b = { .p = qb, .cap = sizeof(qb) };
	mcs_enc_data_req(&b, &q);
	if (b.err) {
		free(ch);
		return b.err;
	}
	struct mcs_hdr h = { .opcode = x->opcode == MCS_OP_FETCH ? MCS_OP_DATA_READ : MCS_OP_DATA_WRITE };
	r = mcs_conn_send(pc->conn, &h, b.p, b.len, -1);
	if (r == 0 && x->opcode == MCS_OP_PUSH)
		r = mcs_conn_send_ref(pc->conn, local, len, NULL, NULL);
	if (r < 0) {
		free(ch);
		return r;
	}
	x->pending++;
	pc_push_chunk(pc, ch);
	return 0;
}

int node_transfer(struct node *n, struct client *cl, uint64_t req_id, uint16_t opcode,
		  const struct mcs_transfer_req *q, struct cbuf *buf)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < q->n_handles; i++) {
		if (total + q->handles[i].len < total)
			return -EINVAL;
		total += q->handles[i].len;
	}
	if (q->buf_off > buf->size || total > buf->size - q->buf_off)
		return -EINVAL;

	struct xfer *x = calloc(1, sizeof(*x));
	if (!x)
		return -ENOMEM;
	x->n = n;
	x->cl = cl;
	x->client_req_id = req_id;
	x->opcode = opcode;
	x->buf = cbuf_ref(buf);
	x->pending = 1; /* held until every chunk is queued */
	x->next = n->xfers;
	if (n->xfers)
		n->xfers->pprev = &x->next;
	x->pprev = &n->xfers;
	n->xfers = x;

	uint8_t *at = (uint8_t *)buf->base + q->buf_off;
	struct mcs_str self = mcs_str_c(n->o.segment_name);
	for (uint32_t i = 0; i < q->n_handles && x->err == 0; i++) {
		const struct mcs_handle *hd = &q->handles[i];
		if (mcs_str_eq(hd->segment, self)) {
			/* a stripe on this very node: a plain copy */
			if (hd->offset > n->seg.size || hd->len > n->seg.size - hd->offset)
				x->err = -EINVAL;
			else if (opcode == MCS_OP_FETCH)
				memcpy(at, (uint8_t *)n->seg.base + hd->offset, hd->len);
			else
				memcpy((uint8_t *)n->seg.base + hd->offset, at, hd->len);
		} else {
			for (uint64_t off = 0; off < hd->len && x->err == 0; off += CHUNK) {
				uint64_t len = MCS_MIN(CHUNK, hd->len - off);
				int r = send_chunk(n, x, hd, off, at + off, len);
				if (r < 0)
					x->err = r;
			}
		}
		at += hd->len;
	}
	if (x->err)
		log_debug("transfer for a client failed to start: %s", mcs_strerror(x->err));
	xfer_put(x);
	return 0;
}

void node_forget_client_xfers(struct node *n, struct client *cl)
{
	for (struct xfer *x = n->xfers; x; x = x->next)
		if (x->cl == cl)
			x->cl = NULL;
}

/* Close connections whose oldest chunk waits longer than the data timeout:
 * their chunks fail and the clients move on to another replica. */
void node_data_sweep(struct node *n)
{
	uint64_t now = mcs_now_ms();
	for (struct peer_pool *p = n->pools; p; p = p->next)
		for (int i = 0; i < POOL; i++) {
			struct peer_conn *pc = p->conns[i];
			if (pc && pc->head && now - pc->head->sent_ms > n->o.data_timeout_ms &&
			    !mcs_conn_is_closed(pc->conn)) {
				log_warning("peer %s did not answer within %llu ms, dropping the connection", p->endpoint,
					    (unsigned long long)n->o.data_timeout_ms);
				mcs_conn_close(pc->conn);
			}
		}
}

void node_data_free(struct node *n)
{
	while (n->pools) {
		struct peer_pool *p = n->pools;
		n->pools = p->next;
		for (int i = 0; i < POOL; i++)
			if (p->conns[i])
				p->conns[i]->pool = NULL;
		free(p);
	}
}

/* ---- client buffers ---------------------------------------------------------- */

int cbuf_new(struct node *n, uint64_t size, struct cbuf **ret)
{
	struct cbuf *b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	char name[64];
	snprintf(name, sizeof(name), "buf-%llu", (unsigned long long)++n->next_buf_id);
	bool fell_back;
	int r = mcs_segment_create(name, size, MCS_SEG_NORMAL, false, &b->seg, &fell_back);
	if (r < 0) {
		free(b);
		return r;
	}
	b->id = (uint32_t)n->next_buf_id;
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
