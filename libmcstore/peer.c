/* SPDX-License-Identifier: MIT */
/*
 * libmcstore's data path to other nodes (see peer.h): a small pool of TCP
 * connections per remote data endpoint, kept per client handle, over which
 * the client sends DATA_READ and DATA_WRITE frames itself.
 *
 * Reads: the value is cut into chunks spread over a pool of connections
 * per peer (xfer/xfer.h plans both, for the daemon too); the chunks of one
 * segment (the small objects of a batch) go many to a DATA_READV, whose
 * answer brings their bytes back to back; every request of the call is
 * sent before any answer is read, and each answer's payloads are received
 * (one recvmsg over many iovecs) right into the caller's memory. XXH3 must see the
 * value in order, so each item keeps a hash frontier: bytes landing at the
 * frontier are hashed at once (still in cache), bytes landing beyond it
 * when the frontier reaches them.
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
#include "auth/auth.h"
#include "libmcstore/peer.h"
#include "mcstore.h"
#include "xfer/xfer.h"

#define PIECE (2048u << 10) /* hashed, then sent, at a time: fewer, longer sendmsg calls */
#define RECV_MAX (1u << 20) /* received at a time, then hashed */
#define ST_SIZE 2048        /* read ahead: the next answer's header (and a run of DATA_WRITE answers: one recv for a batch's) */
#define RECV_IOV 64         /* iovecs of one recvmsg: the payloads of a DATA_READV land in one call */

struct pconn;

struct chunk {
	struct mcs_xfer_chunk c;    /* first: what the FIFO hands back */
	size_t item;
	uint64_t landed;            /* payload bytes received (reads) */
	uint64_t req_id;
	struct pconn *conn;         /* NULL: a stripe on our own segment */
	uint16_t op;                /* of its request; 0 for the chunks after a DATA_READV's first */
	uint64_t answer_len;        /* the payload its request's answer announces */
};

struct pconn {
	struct mcs_xfer_link link;  /* first: what the pool hands back */
	int fd;
	uint64_t checked;           /* call generation in which it was found alive */
	struct mcs_buf out;         /* request frames not sent yet (reads) */
	size_t out_off;
	uint8_t st[ST_SIZE];        /* bytes read ahead of the current answer */
	size_t st_len;
	bool in_payload;            /* head's header was read; its payload follows */
};

struct mcs_peers {
	unsigned timeout_ms;
	unsigned busy_poll_us;      /* poll without sleeping this long first */
	uint64_t busy_est_ns;       /* while waits last less (mcs_busy_should_spin) */
	const struct mcs_keys *keys;
	uint64_t next_req;
	uint64_t gen;
	struct mcs_xfer_pool *pools;
};

static struct chunk *chunk_of(struct mcs_xfer_chunk *c)
{
	return (struct chunk *)c;
}

/* The chunk whose answer pc reads next, if any. */
static struct chunk *head_of(struct pconn *pc)
{
	return chunk_of(pc->link.head);
}

/* Per item of a read: its chunks in value order and its hash frontier. */
struct ritem {
	struct peer_get *g;
	XXH3_state_t *xxh;
	struct chunk *chunks;
	size_t n_chunks, fj;
	uint64_t hashed;
	int *status;
};

int peers_new(unsigned timeout_ms, unsigned busy_poll_us, const struct mcs_keys *keys, struct mcs_peers **ret)
{
	struct mcs_peers *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->timeout_ms = timeout_ms;
	p->busy_poll_us = busy_poll_us;
	p->keys = keys;
	p->next_req = 1;
	*ret = p;
	return 0;
}

static void conn_close(struct pconn *pc)
{
	mcs_xfer_leave(&pc->link);
	if (pc->fd >= 0)
		close(pc->fd);
	mcs_buf_free(&pc->out);
	free(pc);
}

static void link_close(struct mcs_xfer_link *l)
{
	conn_close((struct pconn *)l);
}

void peers_free(struct mcs_peers *p)
{
	if (!p)
		return;
	mcs_xfer_pools_free(&p->pools, link_close);
	free(p);
}

/* ---- connections ----------------------------------------------------------- */

static int conn_open(struct mcs_xfer_pool *pl, void *arg, struct mcs_xfer_link **ret)
{
	struct mcs_peers *p = arg;
	char host[MCS_NAME_MAX + 1];
	uint16_t port;
	if (mcs_parse_hostport(pl->endpoint, host, sizeof(host), &port) < 0)
		return -EINVAL;
	/* non-blocking, TCP_NODELAY, bounded by the handle's timeout */
	int fd = mcs_tcp_connect(host, port, (int)p->timeout_ms, NULL);
	if (fd < 0)
		return fd;
	int r = mcs_auth_connect(p->keys, p->keys ? p->keys->role : 0, fd, p->timeout_ms);
	if (r < 0) {
		close(fd);
		return r;
	}
	struct pconn *pc = calloc(1, sizeof(*pc));
	if (!pc) {
		close(fd);
		return -ENOMEM;
	}
	pc->fd = fd;
	pc->checked = p->gen;
	mcs_buf_init(&pc->out);
	*ret = &pc->link;
	return 0;
}

/* An idle connection the peer closed (or wrote to out of turn) since the
 * last call is readable: drop it rather than fail a transfer on it. */
static bool conn_alive(struct mcs_xfer_link *l, void *arg)
{
	struct mcs_peers *p = arg;
	struct pconn *pc = (struct pconn *)l;
	if (pc->checked == p->gen || pc->link.head)
		return true;
	struct pollfd pf = { .fd = pc->fd, .events = POLLIN };
	if (poll(&pf, 1, 0) != 0 || pc->st_len) {
		conn_close(pc);
		return false;
	}
	pc->checked = p->gen;
	return true;
}

static const struct mcs_xfer_pool_ops pool_ops = { .usable = conn_alive, .open = conn_open };

/* A connection to endpoint chosen as how says, or NULL. */
static struct pconn *pick(struct mcs_peers *p, struct mcs_str endpoint, enum mcs_xfer_pick how)
{
	struct mcs_xfer_pool *pl;
	struct mcs_xfer_link *l;
	if (mcs_xfer_pool_get(&p->pools, endpoint, &pl) < 0 || mcs_xfer_pick(pl, how, &pool_ops, p, &l) < 0)
		return NULL;
	return (struct pconn *)l;
}

static void fifo_push(struct pconn *pc, struct chunk *ch)
{
	ch->conn = pc;
	mcs_xfer_push(&pc->link, &ch->c);
}

/* The oldest chunk of pc, out of its FIFO. The bytes of the chunks after
 * a DATA_READV's first follow the previous chunk's: no header between. */
static struct chunk *fifo_pop(struct pconn *pc)
{
	struct chunk *ch = chunk_of(mcs_xfer_pop(&pc->link));
	if (ch)
		pc->in_payload = head_of(pc) && head_of(pc)->op == 0;
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
		uint64_t end = ch->c.voff + ch->landed;
		if (it->hashed < end) {
			hash_range(it->xxh, it->g->iov, it->g->iovcnt, it->hashed, end - it->hashed);
			it->hashed = end;
		}
		if (ch->landed < ch->c.len)
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
static int rx_header(struct pconn *pc, int *ret_status)
{
	uint16_t op = head_of(pc)->op;
	int r = st_fill(pc, MCS_HDR_SIZE);
	if (r <= 0)
		return r;
	struct mcs_hdr h;
	if ((r = mcs_hdr_decode(pc->st, ST_SIZE - MCS_HDR_SIZE, &h)) < 0)
		return -EPROTO;
	if (!(h.flags & MCS_F_RESPONSE) || h.opcode != op || h.req_id != head_of(pc)->req_id)
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
	if (mcs_xfer_dec_read(pc->st + MCS_HDR_SIZE, h.body_len, head_of(pc)->answer_len) < 0)
		return -EPROTO;
	st_consume(pc, MCS_HDR_SIZE + h.body_len);
	pc->in_payload = true;
	return 1;
}

/* One recvmsg for the rest of ch's payload and, when ch begins a run of a
 * DATA_READV's chunks, for theirs too (their bytes follow each other with
 * nothing between): up to RECV_IOV iovecs into the callers' memory, at
 * most RECV_MAX bytes. When the iovecs hold the whole rest of the answer,
 * st reads ahead into the next one's header (a recv saved per answer when
 * they are small). Every chunk that got bytes has its item's frontier moved.
 * 1 when bytes came, 0 when the socket is empty, or an error. */
static int rx_payloads(struct pconn *pc, struct ritem *items, struct chunk *ch)
{
	struct iovec v[RECV_IOV + 1];
	struct chunk *got_by[RECV_IOV];
	struct msghdr m = { .msg_iov = v };
	int n = 0;
	size_t nk = 0;
	uint64_t span = 0;
	bool whole = true;
	for (struct chunk *k = ch; k && n < RECV_IOV && span < RECV_MAX;) {
		const struct peer_get *g = items[k->item].g;
		uint64_t left = k->c.len - k->landed, here = 0;
		int add = iov_slice(g->iov, g->iovcnt, k->c.voff + k->landed, MCS_MIN(left, (uint64_t)RECV_MAX - span),
				    v + n, RECV_IOV - n);
		for (int i = 0; i < add; i++)
			here += v[n + i].iov_len;
		n += add;
		span += here;
		got_by[nk++] = k;
		struct chunk *next = chunk_of(k->c.next);
		if (here < left || !next || next->op != 0) {
			whole = here == left;
			break;
		}
		k = next;
	}
	if (whole && got_by[nk - 1]->c.next) {
		v[n].iov_base = pc->st;
		v[n].iov_len = sizeof(pc->st);
		n++;
	}
	m.msg_iovlen = (size_t)n;
	ssize_t r;
	do
		r = recvmsg(pc->fd, &m, 0);
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return -ECONNRESET;
	if (r < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
	uint64_t rest = (uint64_t)r;
	for (size_t j = 0; j < nk && rest; j++) {
		struct chunk *k = got_by[j];
		uint64_t take = MCS_MIN(rest, k->c.len - k->landed);
		k->landed += take;
		rest -= take;
		if (k != ch)
			frontier(&items[k->item]);
	}
	pc->st_len = (size_t)rest;
	return 1;
}

/* Receive what is there on pc (reads). 0 when the socket is drained, or an
 * error that ends the connection. */
static int rx_read(struct pconn *pc, struct ritem *items)
{
	for (;;) {
		struct chunk *ch = head_of(pc);
		if (!ch)
			return pc->st_len ? -EPROTO : 0;
		struct ritem *it = &items[ch->item];
		if (!pc->in_payload) {
			if (ch->op == 0)
				return -EPROTO; /* cannot be: its vector's header came */
			int status = 0, r = rx_header(pc, &status);
			if (r <= 0)
				return r;
			if (status < 0) {
				/* a refused DATA_READV fails all its chunks */
				do {
					item_fail(&items[ch->item], status);
					fifo_pop(pc);
				} while ((ch = head_of(pc)) && ch->op == 0);
				pc->in_payload = false;
				continue;
			}
		}
		const struct peer_get *g = it->g;
		uint64_t left = ch->c.len - ch->landed;
		if (pc->st_len) {
			size_t k = (size_t)MCS_MIN((uint64_t)pc->st_len, left);
			copy_to_iov(g->iov, g->iovcnt, ch->c.voff + ch->landed, pc->st, k);
			st_consume(pc, k);
			ch->landed += k;
			left -= k;
		}
		if (left) {
			int r = rx_payloads(pc, items, ch);
			if (r <= 0)
				return r;
		}
		if (it->fj < it->n_chunks && &it->chunks[it->fj] == ch)
			frontier(it);
		if (ch->landed == ch->c.len) {
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
	for (struct mcs_xfer_pool *pl = p->pools; pl; pl = pl->next)
		cap += MCS_XFER_POOL;
	struct pollfd *pf = calloc(cap ? cap : 1, sizeof(*pf));
	struct pconn **pcs = calloc(cap ? cap : 1, sizeof(*pcs));
	for (;;) {
		size_t n = 0;
		for (struct mcs_xfer_pool *pl = p->pools; pl; pl = pl->next)
			for (int i = 0; i < MCS_XFER_POOL; i++) {
				struct pconn *pc = (struct pconn *)pl->links[i];
				if (!pc || (!pc->link.head && pc->out_off >= pc->out.len))
					continue;
				if (!pf || !pcs) {
					conn_fail(pc, items, puts, -ENOMEM);
					continue;
				}
				pcs[n] = pc;
				pf[n] = (struct pollfd){ .fd = pc->fd, .events = (short)((pc->link.head ? POLLIN : 0) |
										  (pc->out_off < pc->out.len ? POLLOUT : 0)) };
				n++;
			}
		if (n == 0)
			break;
		int r = 0;
		uint64_t budget = (uint64_t)p->busy_poll_us * 1000, t0 = budget ? mcs_now_ns() : 0;
		if (mcs_busy_should_spin(p->busy_est_ns, budget)) /* opt-in, as for the metadata links */
			while ((r = poll(pf, n, 0)) == 0 && mcs_now_ns() < t0 + budget)
				;
		if (r == 0)
			r = poll(pf, n, (int)p->timeout_ms);
		if (budget && r > 0)
			p->busy_est_ns = mcs_busy_idle(p->busy_est_ns, mcs_now_ns() - t0, budget);
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
					while (pc->link.head && (e = rx_header(pc, &status)) > 0) {
						struct chunk *ch = fifo_pop(pc);
						if (status < 0) {
							if (puts[ch->item].status == 0)
								puts[ch->item].status = status;
							/* the peer hangs up after a refused write */
							e = status;
							break;
						}
					}
					if (e == 0 && !pc->link.head && pc->st_len)
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

/* Cut the handles of rep into chunks of item (NULL: just count them). */
static size_t make_chunks(const struct mcs_replica *rep, size_t item, struct chunk *out)
{
	if (!out)
		return mcs_xfer_count(rep->handles, rep->n_handles);
	struct mcs_xfer_cut cu = mcs_xfer_cut_start(rep->handles, rep->n_handles);
	struct mcs_xfer_chunk c;
	size_t n = 0;
	while (mcs_xfer_cut_next(&cu, &c))
		out[n++] = (struct chunk){ .c = c, .item = item };
	return n;
}

/* 0 when every endpoint rep needs answers (or is our own segment). */
static int rep_reachable(struct mcs_peers *p, const struct peer_self *self, const struct mcs_replica *rep)
{
	for (uint32_t h = 0; h < rep->n_handles; h++) {
		const struct mcs_handle *hd = &rep->handles[h];
		if (!(mcs_str_eq(hd->segment, self->segment) && hd->incarnation == self->incarnation) &&
		    !pick(p, hd->endpoint, MCS_XFER_ANY))
			return PEER_UNREACHABLE;
	}
	return 0;
}

static bool on_self(const struct peer_self *self, const struct chunk *ch)
{
	return mcs_str_eq(ch->c.hd->segment, self->segment) && ch->c.hd->incarnation == self->incarnation;
}

static void encode_req(struct mcs_buf *b, uint16_t op, uint64_t req_id, const struct chunk *ch)
{
	mcs_frame_begin(b, op, 0, 0, req_id);
	mcs_xfer_enc_req(b, &ch->c);
	mcs_frame_end(b);
}

/* Order of the remote chunks of a read: by segment, then as they were
 * (the chunks array is in item and value order). */
static int by_segment(const void *pa, const void *pb)
{
	const struct chunk *a = *(struct chunk *const *)pa, *b = *(struct chunk *const *)pb;
	int d = mcs_xfer_segment_cmp(&a->c, &b->c);
	if (d == 0)
		d = a < b ? -1 : a > b;
	return d;
}

/* Queue chs[0..n), which lie in one segment, on one connection: one
 * DATA_READ for one chunk, else one DATA_READV whose answer brings them
 * all back to back. */
static void queue_vector(struct mcs_peers *p, struct ritem *its, struct chunk **chs, size_t n, uint64_t bytes)
{
	struct pconn *pc = pick(p, chs[0]->c.hd->endpoint, MCS_XFER_SPREAD);
	int err = pc ? 0 : -ECONNRESET;
	if (pc) {
		size_t mark = pc->out.len;
		uint64_t id = p->next_req++;
		mcs_frame_begin(&pc->out, n == 1 ? MCS_OP_DATA_READ : MCS_OP_DATA_READV, 0, 0, id);
		if (n == 1)
			mcs_xfer_enc_req(&pc->out, &chs[0]->c);
		else
			mcs_xfer_enc_readv(&pc->out, (struct mcs_xfer_chunk *const *)chs, (uint32_t)n);
		err = mcs_frame_end(&pc->out);
		if (err < 0) {
			/* the frames queued before it stay */
			pc->out.len = mark;
			pc->out.err = 0;
		} else {
			for (size_t j = 0; j < n; j++) {
				chs[j]->req_id = id;
				chs[j]->op = j ? 0 : n == 1 ? MCS_OP_DATA_READ : MCS_OP_DATA_READV;
				chs[j]->answer_len = j ? 0 : bytes;
				fifo_push(pc, chs[j]);
			}
			return;
		}
	}
	for (size_t j = 0; j < n; j++)
		item_fail(&its[chs[j]->item], err);
}

/* Every remote chunk of a read, grouped by segment, in vectors of at most
 * MCS_MAX_READV chunks and MCS_XFER_CHUNK bytes (a chunk is at most that:
 * large values still go a chunk per request, spread over the pool). */
static void queue_reads(struct mcs_peers *p, struct ritem *its, struct chunk **rc, size_t n)
{
	qsort(rc, n, sizeof(*rc), by_segment);
	for (size_t a = 0, b; a < n; a = b) {
		uint64_t bytes = rc[a]->c.len;
		for (b = a + 1; b < n && b - a < MCS_MAX_READV && mcs_xfer_same_segment(&rc[a]->c, &rc[b]->c) &&
				bytes + rc[b]->c.len <= MCS_XFER_CHUNK;
		     b++)
			bytes += rc[b]->c.len;
		queue_vector(p, its, rc + a, b - a, bytes);
	}
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
	/* copy stripes of our own segment; the other chunks, in groups of one
	 * segment, are queued as DATA_READVs (or DATA_READs, one each) */
	struct chunk **rc = r == 0 ? calloc(total ? total : 1, sizeof(*rc)) : NULL;
	size_t n_rc = 0;
	if (r == 0 && !rc)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		struct ritem *it = &its[i];
		for (size_t k = 0; k < it->n_chunks && items[i].status == 0; k++) {
			struct chunk *ch = &it->chunks[k];
			if (!on_self(self, ch)) {
				rc[n_rc++] = ch;
				continue;
			}
			if (!mcs_xfer_range_ok(ch->c.roff, ch->c.len, self->size)) {
				item_fail(it, -EPROTO);
				break;
			}
			copy_to_iov(items[i].iov, items[i].iovcnt, ch->c.voff, self->base + ch->c.roff, ch->c.len);
			ch->landed = ch->c.len;
		}
	}
	if (r == 0)
		queue_reads(p, its, rc, n_rc);
	free(rc);
	if (r == 0) {
		/* send what fits now; the rest goes as the sockets drain */
		for (struct mcs_xfer_pool *pl = p->pools; pl; pl = pl->next)
			for (int i = 0; i < MCS_XFER_POOL; i++) {
				struct pconn *pc = (struct pconn *)pl->links[i];
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
	uint8_t hb[MCS_XFER_REQ_MAX];
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
		size_t take = (size_t)MCS_MIN((uint64_t)n, ch->c.voff + ch->c.len - voff);
		if (on_self(self, ch)) {
			if (!mcs_xfer_range_ok(ch->c.roff, ch->c.len, self->size))
				return -EPROTO;
			memcpy(self->base + ch->c.roff + (voff - ch->c.voff), src, take);
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
				ch->op = MCS_OP_DATA_WRITE;
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
		if (t->sent == ch->c.len) {
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
				if (on_self(self, ch))
					continue;
				/* chosen now, queued when its frame starts */
				ch->conn = pick(p, ch->c.hd->endpoint, MCS_XFER_EXISTING);
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
