/* SPDX-License-Identifier: MIT */
/*
 * libmcstore's data path to other nodes (see peer.h): a small pool of TCP
 * connections per remote data endpoint, kept per client handle, over which
 * the client sends DATA_READ and DATA_WRITE frames itself.
 *
 * Reads: the value is cut into chunks of at most CHUNK bytes spread over up
 * to POOL connections per peer; every request of the call is sent before
 * any answer is read, and each answer's payload is received (recvmsg) right
 * into the caller's memory. XXH3 must see the value in order, so each item
 * keeps a hash frontier: bytes landing at the frontier are hashed at once
 * (still in cache), bytes landing beyond it when the frontier reaches them.
 *
 * Writes: the value is walked in order PIECE bytes at a time; each piece is
 * hashed, handed to the caller's copy function (local replicas), then sent
 * from the caller's memory to every remote replica with sendmsg (frame
 * header and payload in one iovec array, no copy in user space). Items
 * follow each other without waiting; the answers are collected at the end.
 *
 * Sockets are non-blocking and every wait is a poll() bounded by the
 * handle's timeout. A connection that fails, answers out of turn or stalls
 * is closed and its chunks fail their items; the caller then tries another
 * replica. An idle pooled connection that the peer closed meanwhile is
 * noticed before use and replaced.
 */
#include "config.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef HAVE_XXH_DISPATCH
#include <xxh_x86dispatch.h>
#endif

#include "common/util.h"
#include "libmcstore/peer.h"
#include "mcstore.h"

#define CHUNK (4ull << 20)  /* bytes per DATA_READ / DATA_WRITE */
#define POOL 4              /* connections per peer */
#define PIECE (2048u << 10) /* hashed, then sent, at a time: fewer, longer sendmsg calls */
#define RECV_MAX (1u << 20) /* received at a time, then hashed */
#define ST_SIZE 64          /* read-ahead after a payload: the next answer's header */

struct pconn;

struct chunk {
	size_t item;
	uint64_t voff, len, landed; /* landed: payload bytes received (reads) */
	uint64_t req_id;
	uint64_t roff;              /* offset in the remote segment */
	struct mcs_str segment, endpoint;
	struct pconn *conn;         /* NULL: a stripe on our own segment */
	struct chunk *next;         /* FIFO of answers awaited on conn */
};

struct pconn {
	int fd;
	struct pool *pool;
	struct chunk *head, *tail;
	uint64_t inflight;          /* bytes asked or sent, not answered */
	uint64_t checked;           /* call generation in which it was found alive */
	struct mcs_buf out;         /* request frames not sent yet (reads) */
	size_t out_off;
	uint8_t st[ST_SIZE];        /* bytes read ahead of the current answer */
	size_t st_len;
	bool in_payload;            /* head's header was read; its payload follows */
};

struct pool {
	char endpoint[MCS_NAME_MAX + 1];
	struct pconn *conns[POOL];
	struct pool *next;
};

struct mcs_peers {
	unsigned timeout_ms;
	uint64_t next_req;
	uint64_t gen;
	struct pool *pools;
};

/* Per item of a read: its chunks in value order and its hash frontier. */
struct ritem {
	struct peer_get *g;
	XXH3_state_t *xxh;
	struct chunk *chunks;
	size_t n_chunks, fj;
	uint64_t hashed;
	int *status;
};

int peers_new(unsigned timeout_ms, struct mcs_peers **ret)
{
	struct mcs_peers *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->timeout_ms = timeout_ms;
	p->next_req = 1;
	*ret = p;
	return 0;
}

static void conn_close(struct pconn *pc)
{
	if (pc->pool)
		for (int i = 0; i < POOL; i++)
			if (pc->pool->conns[i] == pc)
				pc->pool->conns[i] = NULL;
	if (pc->fd >= 0)
		close(pc->fd);
	mcs_buf_free(&pc->out);
	free(pc);
}

void peers_free(struct mcs_peers *p)
{
	if (!p)
		return;
	while (p->pools) {
		struct pool *pl = p->pools;
		p->pools = pl->next;
		for (int i = 0; i < POOL; i++)
			if (pl->conns[i])
				conn_close(pl->conns[i]);
		free(pl);
	}
	free(p);
}

/* ---- connections ----------------------------------------------------------- */

static struct pool *pool_get(struct mcs_peers *p, struct mcs_str endpoint)
{
	if (endpoint.len == 0 || endpoint.len > MCS_NAME_MAX)
		return NULL;
	for (struct pool *pl = p->pools; pl; pl = pl->next)
		if (mcs_str_eq(mcs_str_c(pl->endpoint), endpoint))
			return pl;
	struct pool *pl = calloc(1, sizeof(*pl));
	if (!pl)
		return NULL;
	memcpy(pl->endpoint, endpoint.p, endpoint.len);
	pl->next = p->pools;
	p->pools = pl;
	return pl;
}

static int conn_open(struct mcs_peers *p, struct pool *pl, int slot)
{
	char host[MCS_NAME_MAX + 1];
	uint16_t port;
	if (mcs_parse_hostport(pl->endpoint, host, sizeof(host), &port) < 0)
		return -EINVAL;
	/* non-blocking, TCP_NODELAY, bounded by the handle's timeout */
	int fd = mcs_tcp_connect(host, port, (int)p->timeout_ms, NULL);
	if (fd < 0)
		return fd;
	struct pconn *pc = calloc(1, sizeof(*pc));
	if (!pc) {
		close(fd);
		return -ENOMEM;
	}
	pc->fd = fd;
	pc->pool = pl;
	pc->checked = p->gen;
	mcs_buf_init(&pc->out);
	pl->conns[slot] = pc;
	return 0;
}

/* An idle connection the peer closed (or wrote to out of turn) since the
 * last call is readable: drop it rather than fail a transfer on it. */
static bool conn_alive(struct mcs_peers *p, struct pconn *pc)
{
	if (pc->checked == p->gen || pc->head)
		return true;
	struct pollfd pf = { .fd = pc->fd, .events = POLLIN };
	if (poll(&pf, 1, 0) != 0 || pc->st_len) {
		conn_close(pc);
		return false;
	}
	pc->checked = p->gen;
	return true;
}

/* At least one live connection to pl: 0, or why not. */
static int pool_ready(struct mcs_peers *p, struct pool *pl)
{
	int free_slot = -1;
	for (int i = 0; i < POOL; i++) {
		if (pl->conns[i] && conn_alive(p, pl->conns[i]))
			return 0;
		if (!pl->conns[i] && free_slot < 0)
			free_slot = i;
	}
	return conn_open(p, pl, free_slot < 0 ? 0 : free_slot);
}

/* The live connection with the fewest bytes in flight; with spread, a new
 * one (up to POOL) rather than queue behind a busy one. */
static struct pconn *pool_pick(struct mcs_peers *p, struct pool *pl, bool spread)
{
	struct pconn *best = NULL;
	int free_slot = -1;
	for (int i = 0; i < POOL; i++) {
		struct pconn *pc = pl->conns[i];
		if (pc && !conn_alive(p, pc))
			pc = NULL;
		if (!pc) {
			if (free_slot < 0)
				free_slot = i;
			continue;
		}
		if (!best || pc->inflight < best->inflight)
			best = pc;
	}
	if (spread && free_slot >= 0 && (!best || best->inflight > 0) && conn_open(p, pl, free_slot) == 0)
		best = pl->conns[free_slot];
	return best;
}

static void fifo_push(struct pconn *pc, struct chunk *ch)
{
	ch->conn = pc;
	ch->next = NULL;
	if (pc->tail)
		pc->tail->next = ch;
	else
		pc->head = ch;
	pc->tail = ch;
	pc->inflight += ch->len;
}

static struct chunk *fifo_pop(struct pconn *pc)
{
	struct chunk *ch = pc->head;
	if (ch) {
		pc->head = ch->next;
		if (!pc->head)
			pc->tail = NULL;
		pc->inflight -= ch->len;
		pc->in_payload = false;
	}
	return ch;
}

/* ---- value ranges over iovecs --------------------------------------------- */

/* The iovecs covering value bytes [off, off+len), at most max of them. */
static int iov_slice(const struct iovec *iov, int iovcnt, uint64_t off, uint64_t len, struct iovec *out, int max)
{
	int n = 0;
	for (int i = 0; i < iovcnt && len && n < max; i++) {
		if (off >= iov[i].iov_len) {
			off -= iov[i].iov_len;
			continue;
		}
		size_t k = (size_t)MCS_MIN((uint64_t)iov[i].iov_len - off, len);
		out[n].iov_base = (uint8_t *)iov[i].iov_base + off;
		out[n].iov_len = k;
		n++;
		len -= k;
		off = 0;
	}
	return n;
}

static void hash_range(XXH3_state_t *xxh, const struct iovec *iov, int iovcnt, uint64_t off, uint64_t len)
{
	struct iovec v[16];
	while (len) {
		int n = iov_slice(iov, iovcnt, off, len, v, 16);
		if (n == 0)
			return;
		for (int i = 0; i < n; i++) {
			XXH3_64bits_update(xxh, v[i].iov_base, v[i].iov_len);
			off += v[i].iov_len;
			len -= v[i].iov_len;
		}
	}
}

static void copy_to_iov(const struct iovec *iov, int iovcnt, uint64_t off, const uint8_t *src, uint64_t len)
{
	struct iovec v[16];
	while (len) {
		int n = iov_slice(iov, iovcnt, off, len, v, 16);
		if (n == 0)
			return;
		for (int i = 0; i < n; i++) {
			memcpy(v[i].iov_base, src, v[i].iov_len);
			src += v[i].iov_len;
			off += v[i].iov_len;
			len -= v[i].iov_len;
		}
	}
}

/* ---- reads ------------------------------------------------------------------ */

static void item_fail(struct ritem *it, int err)
{
	if (*it->status == 0)
		*it->status = err;
}

/* Hash what became contiguous from the frontier on. */
static void frontier(struct ritem *it)
{
	if (*it->status)
		return;
	while (it->fj < it->n_chunks) {
		struct chunk *ch = &it->chunks[it->fj];
		uint64_t end = ch->voff + ch->landed;
		if (it->hashed < end) {
			hash_range(it->xxh, it->g->iov, it->g->iovcnt, it->hashed, end - it->hashed);
			it->hashed = end;
		}
		if (ch->landed < ch->len)
			break;
		it->fj++;
	}
}

/* Close pc and fail every chunk still expected on it. */
static void conn_fail(struct pconn *pc, struct ritem *items, struct peer_put *puts, int err)
{
	struct chunk *ch;
	while ((ch = fifo_pop(pc))) {
		if (items)
			item_fail(&items[ch->item], err);
		else if (puts[ch->item].status == 0)
			puts[ch->item].status = err;
	}
	conn_close(pc);
}

/* Make st hold at least want bytes; 1 when it does, 0 when the socket is
 * empty, or an error. */
static int st_fill(struct pconn *pc, size_t want)
{
	while (pc->st_len < want) {
		ssize_t r = recv(pc->fd, pc->st + pc->st_len, sizeof(pc->st) - pc->st_len, 0);
		if (r > 0) {
			pc->st_len += (size_t)r;
			continue;
		}
		if (r == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	}
	return 1;
}

static void st_consume(struct pconn *pc, size_t n)
{
	memmove(pc->st, pc->st + n, pc->st_len - n);
	pc->st_len -= n;
}

/* Read the answer header of pc's oldest chunk (and its small body). 1 when
 * the chunk is settled or its payload may follow, 0 when more bytes are
 * needed, or an error that ends the connection. */
static int rx_header(struct pconn *pc, uint16_t op, int *ret_status)
{
	int r = st_fill(pc, MCS_HDR_SIZE);
	if (r <= 0)
		return r;
	struct mcs_hdr h;
	if ((r = mcs_hdr_decode(pc->st, ST_SIZE - MCS_HDR_SIZE, &h)) < 0)
		return -EPROTO;
	if (!(h.flags & MCS_F_RESPONSE) || h.opcode != op || h.req_id != pc->head->req_id)
		return -EPROTO;
	if ((r = st_fill(pc, MCS_HDR_SIZE + h.body_len)) <= 0)
		return r;
	*ret_status = h.status;
	if (h.status < 0 || op == MCS_OP_DATA_WRITE) {
		if (h.status == 0 && h.body_len)
			return -EPROTO;
		st_consume(pc, MCS_HDR_SIZE + h.body_len);
		return 1;
	}
	struct mcs_data_resp resp;
	r = mcs_dec_data_resp(pc->st + MCS_HDR_SIZE, h.body_len, &resp);
	if (r < 0 || resp.len != pc->head->len)
		return -EPROTO;
	st_consume(pc, MCS_HDR_SIZE + h.body_len);
	pc->in_payload = true;
	return 1;
}

/* Receive what is there on pc (reads). 0 when the socket is drained, or an
 * error that ends the connection. */
static int rx_read(struct pconn *pc, struct ritem *items)
{
	for (;;) {
		struct chunk *ch = pc->head;
		if (!ch)
			return pc->st_len ? -EPROTO : 0;
		struct ritem *it = &items[ch->item];
		if (!pc->in_payload) {
			int status = 0, r = rx_header(pc, MCS_OP_DATA_READ, &status);
			if (r <= 0)
				return r;
			if (status < 0) {
				item_fail(it, status);
				fifo_pop(pc);
				continue;
			}
		}
		const struct peer_get *g = it->g;
		uint64_t left = ch->len - ch->landed;
		if (pc->st_len) {
			size_t k = (size_t)MCS_MIN((uint64_t)pc->st_len, left);
			copy_to_iov(g->iov, g->iovcnt, ch->voff + ch->landed, pc->st, k);
			st_consume(pc, k);
			ch->landed += k;
			left -= k;
		}
		if (left) {
			struct iovec v[17];
			struct msghdr m = { .msg_iov = v };
			int n = iov_slice(g->iov, g->iovcnt, ch->voff + ch->landed, MCS_MIN(left, (uint64_t)RECV_MAX),
					  v, 16);
			uint64_t span = 0;
			for (int i = 0; i < n; i++)
				span += v[i].iov_len;
			/* read ahead into the next answer's header, saving
			 * a recv per chunk when chunks are small (only when
			 * the iovecs hold the whole rest of this payload) */
			if (ch->next && span == left) {
				v[n].iov_base = pc->st;
				v[n].iov_len = sizeof(pc->st);
				n++;
			}
			m.msg_iovlen = (size_t)n;
			ssize_t r = recvmsg(pc->fd, &m, 0);
			if (r == 0)
				return -ECONNRESET;
			if (r < 0) {
				if (errno == EINTR)
					continue;
				return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
			}
			uint64_t got = MCS_MIN((uint64_t)r, left);
			ch->landed += got;
			pc->st_len = (size_t)((uint64_t)r - got);
		}
		if (it->fj < it->n_chunks && &it->chunks[it->fj] == ch)
			frontier(it);
		if (ch->landed == ch->len) {
			fifo_pop(pc);
			frontier(it);
		}
	}
}

static int flush_out(struct pconn *pc)
{
	while (pc->out_off < pc->out.len) {
		ssize_t w = send(pc->fd, pc->out.p + pc->out_off, pc->out.len - pc->out_off, MSG_NOSIGNAL);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
		}
		pc->out_off += (size_t)w;
	}
	mcs_buf_reset(&pc->out);
	pc->out_off = 0;
	return 0;
}

/* Every connection with answers due: poll them until none is left. Stalls
 * past the timeout fail the connections still waited on. */
static void wait_answers(struct mcs_peers *p, struct ritem *items, struct peer_put *puts)
{
	size_t cap = 0;
	for (struct pool *pl = p->pools; pl; pl = pl->next)
		cap += POOL;
	struct pollfd *pf = calloc(cap ? cap : 1, sizeof(*pf));
	struct pconn **pcs = calloc(cap ? cap : 1, sizeof(*pcs));
	for (;;) {
		size_t n = 0;
		for (struct pool *pl = p->pools; pl; pl = pl->next)
			for (int i = 0; i < POOL; i++) {
				struct pconn *pc = pl->conns[i];
				if (!pc || (!pc->head && pc->out_off >= pc->out.len))
					continue;
				if (!pf || !pcs) {
					conn_fail(pc, items, puts, -ENOMEM);
					continue;
				}
				pcs[n] = pc;
				pf[n] = (struct pollfd){ .fd = pc->fd, .events = (short)((pc->head ? POLLIN : 0) |
										  (pc->out_off < pc->out.len ? POLLOUT : 0)) };
				n++;
			}
		if (n == 0)
			break;
		int r = poll(pf, n, (int)p->timeout_ms);
		if (r < 0 && errno == EINTR)
			continue;
		for (size_t i = 0; i < n; i++) {
			struct pconn *pc = pcs[i];
			int e = r < 0 ? -errno : r == 0 ? -ETIMEDOUT : 0;
			if (e == 0 && (pf[i].revents & POLLOUT))
				e = flush_out(pc);
			if (e == 0 && (pf[i].revents & (POLLIN | POLLERR | POLLHUP))) {
				if (items) {
					e = rx_read(pc, items);
				} else {
					int status = 0;
					while (pc->head && (e = rx_header(pc, MCS_OP_DATA_WRITE, &status)) > 0) {
						struct chunk *ch = fifo_pop(pc);
						if (status < 0) {
							if (puts[ch->item].status == 0)
								puts[ch->item].status = status;
							/* the peer hangs up after a refused write */
							e = status;
							break;
						}
					}
					if (e == 0 && !pc->head && pc->st_len)
						e = -EPROTO;
				}
			}
			if (e < 0)
				conn_fail(pc, items, puts, e);
		}
	}
	free(pf);
	free(pcs);
}

/* Split the handles of rep for value bytes into chunks (NULL: just count). */
static size_t make_chunks(const struct mcs_replica *rep, size_t item, struct chunk *out)
{
	size_t n = 0;
	uint64_t voff = 0;
	for (uint32_t h = 0; h < rep->n_handles; h++) {
		const struct mcs_handle *hd = &rep->handles[h];
		for (uint64_t off = 0; off < hd->len; off += CHUNK) {
			if (out)
				out[n] = (struct chunk){ .item = item, .voff = voff + off,
							 .len = MCS_MIN(CHUNK, hd->len - off), .roff = hd->offset + off,
							 .segment = hd->segment, .endpoint = hd->endpoint };
			n++;
		}
		voff += hd->len;
	}
	return n;
}

/* 0 when every endpoint rep needs answers (or is our own segment). */
static int rep_reachable(struct mcs_peers *p, const struct peer_self *self, const struct mcs_replica *rep)
{
	for (uint32_t h = 0; h < rep->n_handles; h++) {
		const struct mcs_handle *hd = &rep->handles[h];
		if (mcs_str_eq(hd->segment, self->segment))
			continue;
		struct pool *pl = pool_get(p, hd->endpoint);
		if (!pl || pool_ready(p, pl) < 0)
			return PEER_UNREACHABLE;
	}
	return 0;
}

static bool self_range_ok(const struct peer_self *self, const struct chunk *ch)
{
	return ch->roff <= self->size && ch->len <= self->size - ch->roff;
}

static void encode_req(struct mcs_buf *b, uint16_t op, uint64_t req_id, const struct chunk *ch)
{
	struct mcs_data_req q = { .segment = ch->segment, .offset = ch->roff, .len = ch->len };
	mcs_frame_begin(b, op, 0, 0, req_id);
	mcs_enc_data_req(b, &q);
	mcs_frame_end(b);
}

int peer_read(struct mcs_peers *p, const struct peer_self *self, struct peer_get *items, size_t n,
	      XXH3_state_t *xxh)
{
	p->gen++;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += make_chunks(items[i].rep, i, NULL);
	struct ritem *its = calloc(n ? n : 1, sizeof(*its));
	struct chunk *chunks = calloc(total ? total : 1, sizeof(*chunks));
	int r = its && chunks ? 0 : -ENOMEM;
	size_t at = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct ritem *it = &its[i];
		it->g = &items[i];
		it->status = &items[i].status;
		items[i].status = 0;
		it->chunks = chunks + at;
		it->n_chunks = make_chunks(items[i].rep, i, it->chunks);
		at += it->n_chunks;
		it->xxh = i == 0 ? xxh : XXH3_createState();
		if (!it->xxh)
			r = -ENOMEM;
		else
			XXH3_64bits_reset(it->xxh);
	}
	/* first make sure every peer is there: an item that needs one that
	 * is not is left to the daemon, before any byte moves */
	for (size_t i = 0; r == 0 && i < n; i++)
		items[i].status = rep_reachable(p, self, items[i].rep);
	/* queue every request, copy stripes of our own segment */
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct ritem *it = &its[i];
		for (size_t k = 0; k < it->n_chunks && items[i].status == 0; k++) {
			struct chunk *ch = &it->chunks[k];
			if (mcs_str_eq(ch->segment, self->segment)) {
				if (!self_range_ok(self, ch)) {
					item_fail(it, -EPROTO);
					break;
				}
				copy_to_iov(items[i].iov, items[i].iovcnt, ch->voff, self->base + ch->roff, ch->len);
				ch->landed = ch->len;
				continue;
			}
			struct pool *pl = pool_get(p, ch->endpoint);
			struct pconn *pc = pl ? pool_pick(p, pl, true) : NULL;
			if (!pc) {
				item_fail(it, -ECONNRESET);
				break;
			}
			ch->req_id = p->next_req++;
			encode_req(&pc->out, MCS_OP_DATA_READ, ch->req_id, ch);
			if (pc->out.err) {
				item_fail(it, pc->out.err);
				mcs_buf_reset(&pc->out);
				pc->out_off = 0;
				break;
			}
			fifo_push(pc, ch);
		}
	}
	if (r == 0) {
		/* send what fits now; the rest goes as the sockets drain */
		for (struct pool *pl = p->pools; pl; pl = pl->next)
			for (int i = 0; i < POOL; i++) {
				struct pconn *pc = pl->conns[i];
				int e = pc && pc->out.len ? flush_out(pc) : 0;
				if (e < 0)
					conn_fail(pc, its, NULL, e);
			}
		wait_answers(p, its, NULL);
		for (size_t i = 0; i < n; i++) {
			struct ritem *it = &its[i];
			frontier(it);
			if (items[i].status == 0 && it->hashed != items[i].size)
				items[i].status = -EPROTO;
			if (items[i].status == 0 && XXH3_64bits_digest(it->xxh) != items[i].checksum)
				items[i].status = -EBADMSG;
		}
	}
	for (size_t i = 1; its && i < n; i++)
		if (its[i].xxh)
			XXH3_freeState(its[i].xxh);
	free(its);
	free(chunks);
	return r;
}

/* ---- writes ----------------------------------------------------------------- */

/* The state of sending one item to one replica. */
struct target {
	struct chunk *chunks;
	size_t n_chunks, k;         /* k: the chunk being sent */
	uint8_t hb[MCS_HDR_SIZE + MCS_NAME_MAX + 32];
	size_t hb_len, hb_off;      /* its frame, and how much of it left */
	uint64_t sent;              /* payload bytes of chunk k sent */
	bool started;
};

/* Send value bytes [voff, voff+n) (at src) to t; 0 or an error. */
static int target_send(struct mcs_peers *p, const struct peer_self *self, struct target *t, size_t item,
		       uint64_t voff, const uint8_t *src, size_t n)
{
	while (n) {
		struct chunk *ch = &t->chunks[t->k];
		size_t take = (size_t)MCS_MIN((uint64_t)n, ch->voff + ch->len - voff);
		if (mcs_str_eq(ch->segment, self->segment)) {
			if (!self_range_ok(self, ch))
				return -EPROTO;
			memcpy(self->base + ch->roff + (voff - ch->voff), src, take);
			t->sent += take;
		} else if (!ch->conn) {
			return -ECONNRESET;
		} else {
			if (!t->started) {
				struct mcs_buf b = { .p = t->hb, .cap = sizeof(t->hb) };
				ch->req_id = p->next_req++;
				encode_req(&b, MCS_OP_DATA_WRITE, ch->req_id, ch);
				if (b.err)
					return b.err;
				t->hb_len = b.len;
				t->hb_off = 0;
				t->started = true;
				fifo_push(ch->conn, ch);
			}
			size_t done = 0;
			while (done < take) {
				struct iovec v[2];
				int nv = 0;
				if (t->hb_off < t->hb_len)
					v[nv++] = (struct iovec){ t->hb + t->hb_off, t->hb_len - t->hb_off };
				v[nv++] = (struct iovec){ (void *)(src + done), take - done };
				struct msghdr m = { .msg_iov = v, .msg_iovlen = (size_t)nv };
				ssize_t w = sendmsg(ch->conn->fd, &m, MSG_NOSIGNAL);
				if (w < 0) {
					if (errno == EINTR)
						continue;
					if (errno != EAGAIN && errno != EWOULDBLOCK)
						return -errno;
					int r = mcs_poll_fd(ch->conn->fd, POLLOUT, (int)p->timeout_ms);
					if (r < 0)
						return r;
					continue;
				}
				size_t hk = MCS_MIN((size_t)w, t->hb_len - t->hb_off);
				t->hb_off += hk;
				done += (size_t)w - hk;
			}
			t->sent += take;
		}
		(void)item;
		voff += take;
		src += take;
		n -= take;
		if (t->sent == ch->len) {
			t->k++;
			t->sent = 0;
			t->started = false;
		}
	}
	return 0;
}

int peer_write(struct mcs_peers *p, const struct peer_self *self, struct peer_put *items, size_t n,
	       XXH3_state_t *xxh, peer_copy_fn copy, void *arg)
{
	p->gen++;
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		for (unsigned j = 0; j < items[i].n_reps; j++)
			total += make_chunks(items[i].reps[j], i, NULL);
	struct chunk *chunks = calloc(total ? total : 1, sizeof(*chunks));
	struct target *ts = calloc(MCS_MAX_REPLICAS, sizeof(*ts));
	if (!chunks || !ts) {
		free(chunks);
		free(ts);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		items[i].status = 0;
		for (unsigned j = 0; j < items[i].n_reps && items[i].status == 0; j++)
			items[i].status = rep_reachable(p, self, items[i].reps[j]);
	}
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		struct peer_put *it = &items[i];
		unsigned nt = MCS_MIN(it->n_reps, (unsigned)MCS_MAX_REPLICAS);
		for (unsigned j = 0; j < nt; j++) {
			struct target *t = &ts[j];
			*t = (struct target){ .chunks = chunks + at };
			t->n_chunks = make_chunks(it->reps[j], i, t->chunks);
			at += t->n_chunks;
			if (it->status)
				continue;
			/* one connection per peer and item: the bytes go in
			 * value order anyway, and answers stay in order */
			for (size_t k = 0; k < t->n_chunks && it->status == 0; k++) {
				struct chunk *ch = &t->chunks[k];
				if (mcs_str_eq(ch->segment, self->segment))
					continue;
				/* chosen now, queued when its frame starts */
				struct pool *pl = pool_get(p, ch->endpoint);
				ch->conn = pl ? pool_pick(p, pl, false) : NULL;
				if (!ch->conn)
					it->status = -ECONNRESET;
			}
		}
		if (it->status)
			continue;
		XXH3_64bits_reset(xxh);
		uint64_t voff = 0;
		for (int v = 0; v < it->iovcnt && it->status == 0; v++) {
			const uint8_t *src = it->iov[v].iov_base;
			size_t left = it->iov[v].iov_len;
			while (left && it->status == 0) {
				size_t k = MCS_MIN(left, (size_t)PIECE);
				XXH3_64bits_update(xxh, src, k);
				if (copy)
					copy(arg, i, voff, src, k);
				for (unsigned j = 0; j < nt && it->status == 0; j++) {
					int e = target_send(p, self, &ts[j], i, voff, src, k);
					if (e < 0) {
						it->status = e;
						/* a half-sent frame leaves its
						 * connection out of step */
						for (unsigned q = 0; q < nt; q++) {
							struct target *t = &ts[q];
							struct pconn *pc = t->k < t->n_chunks && t->started
										   ? t->chunks[t->k].conn : NULL;
							if (!pc)
								continue;
							/* forget it in every chunk of this item first */
							for (unsigned u = 0; u < nt; u++)
								for (size_t c = ts[u].k; c < ts[u].n_chunks; c++)
									if (ts[u].chunks[c].conn == pc)
										ts[u].chunks[c].conn = NULL;
							conn_fail(pc, NULL, items, e);
						}
					}
				}
				voff += k;
				src += k;
				left -= k;
			}
		}
		it->sum = XXH3_64bits_digest(xxh);
	}
	wait_answers(p, NULL, items);
	free(chunks);
	free(ts);
	return 0;
}
