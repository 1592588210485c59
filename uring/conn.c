/* SPDX-License-Identifier: MIT */
/*
 * Connections that carry mcstore frames (see conn.h): a stream (stream.c)
 * with frame reassembly on the receiving side and a send queue (sendq.c)
 * on the sending side. This is the only file of the loop that knows the
 * protocol: it decodes headers (proto.h) and frames what mcs_conn_send
 * queues.
 *
 * A connection keeps one recv in flight into a private buffer; every whole
 * frame in it goes to on_frame, and the remainder moves to the front of a
 * buffer big enough for the frame it begins. Closing is the stream's:
 * on_close runs from the turn, after the last CQE, so never from inside
 * mcs_conn_close or on_frame.
 *
 * recv_into only records the destination; the parse loop does the rest.
 * After on_frame returns, the loop sees the pending payload before it looks
 * for another header: it copies what the receive buffer holds past the
 * frame, and if that completes the payload it runs done and goes on parsing
 * the frames buffered behind it. Otherwise the buffer is empty, and the
 * next recv goes straight into the destination (MSG_WAITALL, for the whole
 * remainder up to MCS_STREAM_IO_MAX) unless the remainder is small
 * (< RIN_DIRECT_MIN), when receiving into the buffer, with whatever
 * follows, costs fewer CQEs; the parse loop copies it out again. No frame
 * is parsed while a payload is pending.
 *
 * Callbacks of bulk I/O that never finished (done(err < 0)) run when the
 * conn is finalized, once every op is back, right before on_close.
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "uring/conn.h"
#include "uring/listener.h"
#include "uring/peers.h"
#include "uring/loop-internal.h"
#include "uring/ring.h"
#include "uring/sendq.h"
#include "uring/stream.h"

#define RBUF_INIT (64u << 10)             /* receive buffer when idle */
#define RIN_DIRECT_MIN (16u << 10)        /* smaller payload rests go via the buffer */

struct mcs_conn {
	struct mcs_stream s;
	struct mcs_sendq q;
	unsigned refs;
	const struct mcs_conn_ops *ops;
	void *userdata;
	bool recv_direct;           /* the armed recv lands in rin.dest */
	bool in_frame;              /* inside on_frame: recv_into allowed */
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint32_t max_body;          /* 0: the loop's */
	bool accepted;              /* by a listener: the idle timeout applies */
	bool requests;              /* mcs_loop_listen_requests: bodies bounded by opcode */
	bool heard;                 /* a whole frame came */
	bool paused;                /* too many answers unread: no recv armed */
	bool pause_said;            /* logged once */
	uint64_t last_recv_ns;      /* the last bytes came (or the conn began) */
	struct mcs_peer_slot *peer; /* counted there (accepted TCP) */
	void (*on_connect)(struct mcs_conn *c, void *userdata);
	struct {                    /* mcs_conn_recv_into */
		bool active;
		uint8_t *dest;
		size_t len, got;
		mcs_io_done_fn done;
		void *arg;
	} rin;
};

static struct mcs_conn *conn_of(struct mcs_stream *s)
{
	return MCS_CONTAINER_OF(s, struct mcs_conn, s);
}

static bool conn_live(const struct mcs_conn *c)
{
	return mcs_stream_live(&c->s);
}

/* ---- receive ---------------------------------------------------------------- */

static int conn_arm_recv(struct mcs_conn *c)
{
	size_t rest = c->rin.active ? c->rin.len - c->rin.got : 0;
	if (rest >= RIN_DIRECT_MIN) {
		/* The parse loop emptied the buffer into rin.dest: the rest of
		 * the payload goes straight where it belongs. */
		int r = mcs_stream_recv(&c->s, c->rin.dest + c->rin.got, MCS_MIN(rest, (size_t)MCS_STREAM_IO_MAX),
					MSG_WAITALL);
		c->recv_direct = r == 0;
		return r;
	}
	size_t room = MCS_MIN(c->rcap - c->rlen, (size_t)MCS_STREAM_IO_MAX);
	return mcs_stream_recv(&c->s, c->rbuf + c->rlen, room, 0);
}

/* The payload of recv_into is complete. */
static void conn_rin_done(struct mcs_conn *c)
{
	c->rin.active = false;
	if (c->rin.done)
		c->rin.done(c, 0, c->rin.arg);
}

static int conn_resize_rbuf(struct mcs_conn *c, size_t cap)
{
	uint8_t *p = realloc(c->rbuf, cap);
	if (!p)
		return -ENOMEM;
	c->rbuf = p;
	c->rcap = cap;
	return 0;
}

static void conn_say_paused(struct mcs_conn *c);

/* A peer that does not read its answers is not read from: the requests
 * wait in its socket, not as answers in our memory. Only accepted conns:
 * they queue answers, their peers requests, and the side that asks always
 * reads, so the two ends never both wait. */
/* How many answer bytes c may have unread before it is not read from: the
 * loop's bound per connection, and its share of the bound for them all
 * (found in review: 4096 connections at 64 MiB each) */
static uint64_t conn_queue_limit(const struct mcs_conn *c)
{
	const struct mcs_loop *l = c->s.loop;
	uint64_t max = l->max_queued ? l->max_queued : UINT64_MAX;
	if (l->max_queued_total && l->n_peer_conns)
		max = MCS_MIN(max, MCS_MAX(l->max_queued_total / l->n_peer_conns, (uint64_t)64 << 10));
	return max;
}

static bool conn_over_queue(struct mcs_conn *c)
{
	uint64_t max = conn_queue_limit(c);
	if (!c->accepted || max == UINT64_MAX || c->q.bytes < max)
		return false;
	c->paused = true;
	conn_say_paused(c);
	return true;
}

/* Hand every whole buffered frame to on_frame, then keep the remainder at
 * the start of a buffer big enough for the frame it begins; stop early
 * while the answers queued are over the bound. */
/* Show peek the complete frames after the one ending at next, up to
 * MCS_CONN_PEEK_AHEAD of them beyond it; *ahead and *n_ahead carry what was
 * shown already from one frame to the next. */
static void conn_peek(struct mcs_conn *c, uint32_t max_body, size_t next, size_t *ahead, unsigned *n_ahead)
{
	if (*ahead < next) { /* the frame about to be handled was not shown */
		*ahead = next;
		*n_ahead = 0;
	} else if (*n_ahead > 0) {
		--*n_ahead;
	}
	while (*n_ahead < MCS_CONN_PEEK_AHEAD && c->rlen - *ahead >= MCS_HDR_SIZE) {
		struct mcs_hdr h;
		if (mcs_hdr_decode(c->rbuf + *ahead, max_body, &h) < 0 ||
		    c->rlen - *ahead - MCS_HDR_SIZE < h.body_len)
			return;
		c->ops->peek(c, &h, c->rbuf + *ahead + MCS_HDR_SIZE, c->userdata);
		*ahead += MCS_HDR_SIZE + (size_t)h.body_len;
		++*n_ahead;
	}
}

static void conn_parse(struct mcs_conn *c)
{
	uint32_t max_body = c->max_body         ? c->max_body
			    : c->s.loop->max_body ? c->s.loop->max_body
						  : MCS_DEFAULT_MAX_BODY;
	size_t pos = 0, want = RBUF_INIT;
	/* the frames seen by peek end at ahead; n_ahead of them are after pos */
	size_t ahead = 0;
	unsigned n_ahead = 0;

	while (conn_live(c)) {
		if (c->rin.active) {
			/* A payload follows the last frame: take what is
			 * buffered; parse on only once it is complete. */
			size_t n = MCS_MIN(c->rlen - pos, c->rin.len - c->rin.got);
			if (n > 0)
				memcpy(c->rin.dest + c->rin.got, c->rbuf + pos, n);
			pos += n;
			c->rin.got += n;
			if (c->rin.got < c->rin.len)
				break;          /* buffer empty: the rest is on its way */
			conn_rin_done(c);
			continue;
		}
		if (c->rlen - pos < MCS_HDR_SIZE || conn_over_queue(c))
			break;
		struct mcs_hdr h;
		int r = mcs_hdr_decode(c->rbuf + pos, max_body, &h);
		/* a request no larger than its opcode can need (a response
		 * frame is the owner's to refuse) */
		if (r == 0 && c->requests && !(h.flags & MCS_F_RESPONSE) && h.body_len > mcs_req_body_max(h.opcode))
			r = -EMSGSIZE;
		if (r < 0) {
			mcs_stream_close(&c->s, r);
			return;
		}
		size_t need = MCS_HDR_SIZE + (size_t)h.body_len;
		if (c->rlen - pos < need) {
			want = MCS_MAX(want, need);
			break;
		}
		if (c->ops->peek)
			conn_peek(c, max_body, pos + need, &ahead, &n_ahead);
		c->in_frame = true;
		/* the first step of the handshake is no request: a peer that
		 * sends AUTH and nothing more is still idle (found in review:
		 * one AUTH kept a connection out of the idle timeout) */
		if (h.opcode != MCS_OP_AUTH)
			c->heard = true;
		r = c->ops->on_frame(c, &h, c->rbuf + pos + MCS_HDR_SIZE, c->userdata);
		c->in_frame = false;
		pos += need;
		if (r < 0) {
			mcs_stream_close(&c->s, r);
			return;
		}
	}
	if (!conn_live(c))
		return;

	if (pos > 0) {
		memmove(c->rbuf, c->rbuf + pos, c->rlen - pos);
		c->rlen -= pos;
	}
	/* Grow for a big frame; give the memory back once it is consumed. */
	if (want > c->rcap || (c->rcap > want && c->rlen <= want)) {
		int r = conn_resize_rbuf(c, want);
		if (r < 0 && want > c->rcap)
			mcs_stream_close(&c->s, r);
	}
}

static void conn_on_recv(struct mcs_stream *s, size_t n)
{
	struct mcs_conn *c = conn_of(s);
	bool direct = c->recv_direct;
	c->recv_direct = false;
	if (n > 0)
		c->last_recv_ns = mcs_now_ns();
	if (n > 0 && direct) {
		/* Short completions (a signal, MSG_WAITALL cut short) just
		 * leave a smaller rest for the next recv. */
		c->rin.got += n;
		if (c->rin.got == c->rin.len) {
			conn_rin_done(c);
			if (!conn_live(c))
				return;
			conn_parse(c);      /* nothing buffered now, but cheap and general */
			if (!conn_live(c))
				return;
		}
	} else if (n > 0) {
		c->rlen += n;
		conn_parse(c);
		if (!conn_live(c))
			return;
	}
	if (c->paused)
		return;         /* conn_on_sent arms it again */
	int r = conn_arm_recv(c);
	if (r < 0)
		mcs_stream_close(s, r);
}

int mcs_conn_recv_into(struct mcs_conn *c, void *dest, size_t len, mcs_io_done_fn done, void *arg)
{
	if (!c || !conn_live(c))
		return -EPIPE;
	/* Only on_frame knows where "right after the frame" is. */
	if (!c->in_frame || (len > 0 && !dest))
		return -EINVAL;
	if (c->rin.active)
		return -EBUSY;
	/* The parse loop takes it from here once on_frame returns (len 0:
	 * done runs right then). */
	c->rin.active = true;
	c->rin.dest = dest;
	c->rin.len = len;
	c->rin.got = 0;
	c->rin.done = done;
	c->rin.arg = arg;
	return 0;
}

/* ---- send ------------------------------------------------------------------- */

int mcs_conn_send(struct mcs_conn *c, const struct mcs_hdr *h, const void *body, size_t len, int fd)
{
	if (!c || !conn_live(c))
		return -EPIPE;
	if (!h || (len > 0 && !body))
		return -EINVAL;
	if (len > UINT32_MAX)
		return -EMSGSIZE;

	int dfd = -1;
	if (fd >= 0) {
		/* The caller keeps its fd; ours lives until the send is done. */
		dfd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
		if (dfd < 0)
			return -errno;
	}
	uint8_t *p = mcs_sendq_reserve(&c->q, MCS_HDR_SIZE + len, dfd);
	if (!p) {
		if (dfd >= 0)
			close(dfd);
		return -ENOMEM;
	}
	struct mcs_hdr hh = *h;
	hh.magic = MCS_PROTO_MAGIC;
	hh.version = MCS_PROTO_VERSION;
	hh.body_len = (uint32_t)len;
	mcs_hdr_encode(&hh, p);
	if (len > 0)
		memcpy(p + MCS_HDR_SIZE, body, len);
	mcs_sendq_kick(&c->q);
	return 0;
}

int mcs_conn_send_raw(struct mcs_conn *c, const void *data, size_t len)
{
	if (!c || !conn_live(c))
		return -EPIPE;
	if (len == 0)
		return 0;
	if (!data)
		return -EINVAL;
	uint8_t *p = mcs_sendq_reserve(&c->q, len, -1);
	if (!p)
		return -ENOMEM;
	memcpy(p, data, len);
	mcs_sendq_kick(&c->q);
	return 0;
}

int mcs_conn_send_ref(struct mcs_conn *c, const void *p, size_t len, mcs_io_done_fn done, void *arg)
{
	if (!c || !conn_live(c))
		return -EPIPE;
	if (len > 0 && !p)
		return -EINVAL;
	int r = mcs_sendq_add_ref(&c->q, p, len, done, arg);
	if (r < 0)
		return r;
	/* Once queued, done reports the outcome: a conn that cannot send
	 * fails, and done(err) follows; the call itself succeeded. */
	mcs_sendq_kick(&c->q);
	return 0;
}

/* ---- the stream's events ---------------------------------------------------- */

static void conn_on_sent(struct mcs_stream *s, size_t n)
{
	struct mcs_conn *c = conn_of(s);
	mcs_sendq_sent(&c->q, n);
	/* Paused for answers unread: go on once they are down to half (not
	 * at once below the bound, which would pause again a frame later). */
	if (!c->paused || !conn_live(c) || c->q.bytes > conn_queue_limit(c) / 2)
		return;
	c->paused = false;
	conn_parse(c);
	if (!conn_live(c) || c->paused)
		return;
	int r = conn_arm_recv(c);
	if (r < 0)
		mcs_stream_close(s, r);
}

static int conn_kick(struct mcs_stream *s)
{
	return mcs_sendq_start(&conn_of(s)->q);
}

static void conn_on_connect(struct mcs_stream *s)
{
	struct mcs_conn *c = conn_of(s);
	int r = conn_arm_recv(c);
	if (r < 0) {
		mcs_stream_close(s, r);
		return;
	}
	if (c->on_connect)
		c->on_connect(c, c->userdata);
	if (conn_live(c))
		mcs_sendq_kick(&c->q);
}

static void conn_finalize(struct mcs_stream *s, bool leak_buffers)
{
	struct mcs_conn *c = conn_of(s);
	/* A broken ring may still hold ops on these buffers: leak rather than
	 * risk the kernel writing into freed memory. */
	if (!leak_buffers)
		free(c->rbuf);
	c->rbuf = NULL;
	c->rlen = c->rcap = 0;
	/* done(err) of unfinished bulk I/O comes before on_close. */
	int err = s->close_err < 0 ? s->close_err : -EPIPE;
	if (c->rin.active) {
		c->rin.active = false;
		if (c->rin.done)
			c->rin.done(c, err, c->rin.arg);
	}
	mcs_sendq_drop(&c->q, err, leak_buffers);
	mcs_peers_leave(s->loop, c->peer);
	c->peer = NULL;
	if (c->ops->on_close)
		c->ops->on_close(c, s->close_err, c->userdata);
	mcs_conn_unref(c);
}

static const struct mcs_stream_ops conn_stream_ops = {
	.on_recv = conn_on_recv,
	.on_sent = conn_on_sent,
	.on_connect = conn_on_connect,
	.kick = conn_kick,
	.finalize = conn_finalize,
};

/* ---- bounds on what a peer holds ------------------------------------------- */

/* Who is at the other end, for the loop's log lines. */
static void conn_peer_name(const struct mcs_conn *c, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	if (getpeername(c->s.fd, (struct sockaddr *)&ss, &sl) < 0) {
		snprintf(buf, len, "a peer");
	} else if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(buf, len, "%s:%u", host, (unsigned)ntohs(in->sin_port));
	} else if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(buf, len, "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
	} else {
		struct ucred uc;
		socklen_t ul = sizeof(uc);
		if (getsockopt(c->s.fd, SOL_SOCKET, SO_PEERCRED, &uc, &ul) == 0)
			snprintf(buf, len, "local pid %u", (unsigned)uc.pid);
		else
			snprintf(buf, len, "a local peer");
	}
}

/* Close c for a limit it passed, saying so if the loop may. */
static void conn_close_over(struct mcs_conn *c, int err, const char *why, unsigned long long ms)
{
	struct mcs_loop *l = c->s.loop;
	static struct mcs_ratelimit rl; /* peers can make as many as they like */
	char note[64];
	if (l->log && mcs_ratelimit_ok(&rl, note, sizeof(note))) {
		char who[96];
		conn_peer_name(c, who, sizeof(who));
		l->log(MCS_LOG_NOTICE, "connection from %s closed: %s %llu ms%s", who, why, ms, note);
	}
	mcs_stream_close(&c->s, err);
}

static void conn_say_paused(struct mcs_conn *c)
{
	struct mcs_loop *l = c->s.loop;
	if (c->pause_said || !l->log)
		return;
	c->pause_said = true;
	char who[96];
	conn_peer_name(c, who, sizeof(who));
	l->log(MCS_LOG_INFO, "connection from %s: %llu bytes of answers unread, its requests wait until it reads them",
	       who, (unsigned long long)c->q.bytes);
}

/* Every tick: a peer that began a frame and stopped, or that connected
 * and never sent one, no longer keeps its buffer and descriptor. */
static void conn_sweep(struct mcs_timer *t, void *userdata)
{
	struct mcs_loop *l = userdata;
	uint64_t now = mcs_now_ns();
	struct mcs_list *n, *next;
	mcs_list_for_each_safe(n, next, &l->streams) {
		struct mcs_conn *c = conn_of(mcs_list_entry(n, struct mcs_stream, link));
		if (!conn_live(c) || c->s.connecting)
			continue;
		uint64_t quiet = now > c->last_recv_ns ? now - c->last_recv_ns : 0;
		/* a paused conn is waiting for us, not we for it */
		bool partial = (c->rlen > 0 || c->rin.active) && !c->paused;
		if (partial && l->frame_timeout_ns && quiet > l->frame_timeout_ns)
			conn_close_over(c, -ETIMEDOUT, "frame timeout: a frame begun and nothing more sent for",
					(unsigned long long)(quiet / 1000000));
		else if (!c->heard && c->accepted && l->idle_timeout_ns && quiet > l->idle_timeout_ns)
			conn_close_over(c, -ETIME, "idle timeout: no request since it connected",
					(unsigned long long)(quiet / 1000000));
	}
}

/* The sweep runs a few times per timeout, between 10 ms and 1 s apart. */
static void conn_arm_sweep(struct mcs_loop *l)
{
	if (l->conn_sweep || l->freeing || (!l->frame_timeout_ns && !l->idle_timeout_ns))
		return;
	uint64_t least = !l->frame_timeout_ns ? l->idle_timeout_ns
			 : !l->idle_timeout_ns ? l->frame_timeout_ns
					       : MCS_MIN(l->frame_timeout_ns, l->idle_timeout_ns);
	uint64_t every = MCS_MIN(MCS_MAX(least / 4000000, (uint64_t)10), (uint64_t)1000);
	(void)mcs_loop_add_timer(l, every, every, conn_sweep, l, &l->conn_sweep);  /* else no timeouts: rare */
}

/* ---- lifetime --------------------------------------------------------------- */

/* A conn not yet started, or NULL (-ENOMEM). The fd stays the caller's
 * until then. */
static struct mcs_conn *conn_new(struct mcs_loop *l, int fd, const struct mcs_conn_ops *ops, void *userdata)
{
	struct mcs_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	mcs_stream_init(&c->s, l, fd, &conn_stream_ops);
	mcs_sendq_init(&c->q, &c->s, c, l->zc_threshold);
	c->refs = 1;           /* the loop's, dropped after on_close */
	c->ops = ops;
	c->userdata = userdata;
	c->rbuf = malloc(RBUF_INIT);
	if (!c->rbuf) {
		free(c);
		return NULL;
	}
	c->rcap = RBUF_INIT;
	c->last_recv_ns = mcs_now_ns();
	conn_arm_sweep(l);
	return c;
}

/* A conn that never started, and its fd. */
static void conn_discard(struct mcs_conn *c)
{
	close(c->s.fd);
	free(c->rbuf);
	free(c);
}

int mcs_loop_add_conn(struct mcs_loop *l, int fd, const struct mcs_conn_ops *ops, void *userdata,
				 struct mcs_conn **ret)
{
	if (!l || fd < 0 || !ops || !ops->on_frame) {
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	struct mcs_conn *c = conn_new(l, fd, ops, userdata);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	int r = conn_arm_recv(c);
	if (r < 0) {
		conn_discard(c);
		return r;
	}
	mcs_stream_start(&c->s);
	if (ret)
		*ret = c;
	return 0;
}

int mcs_loop_connect(struct mcs_loop *l, const struct sockaddr *sa, socklen_t salen, unsigned timeout_ms,
				const struct mcs_conn_ops *ops, void *userdata, struct mcs_conn **ret)
{
	if (!l || !sa || salen < sizeof(sa_family_t) || salen > sizeof(struct sockaddr_storage) || !ops ||
	    !ops->on_frame)
		return -EINVAL;
	int fd = mcs_stream_socket(sa->sa_family);
	if (fd < 0)
		return fd;
	struct mcs_conn *c = conn_new(l, fd, ops, userdata);
	if (!c) {
		close(fd);
		return -ENOMEM;
	}
	/* Sends queue up meanwhile; no recv is armed until it is connected. */
	int r = mcs_stream_connect(&c->s, sa, salen, timeout_ms);
	if (r < 0) {
		conn_discard(c);
		return r;
	}
	if (ret)
		*ret = c;
	return 0;
}

struct acceptor {
	mcs_accept_fn fn;
	void *userdata;
	uint32_t max_body;
	bool requests;              /* bodies bounded by opcode too */
};

/* An accepted socket: adopted if the owner says how, else closed. */
static void conn_accepted(struct mcs_loop *l, int fd, void *arg)
{
	const struct acceptor *a = arg;
	const struct mcs_conn_ops *ops = NULL;
	void *ud = NULL;
	struct mcs_peer_slot *slot = NULL;
	if (fd >= 0 && mcs_peers_admit(l, fd, &slot) < 0) {
		close(fd);      /* over a limit: said, and the owner never hears of it */
		return;
	}
	if (fd >= 0)
		(void)mcs_stream_nodelay(fd);   /* latency over coalescing, as for connects */
	int r = a->fn(l, fd, &ops, &ud, a->userdata);
	if (fd < 0)
		return;         /* accepting pauses: the owner was told */
	if (r < 0 || !ops) {
		mcs_peers_leave(l, slot);
		close(fd);
		return;
	}
	struct mcs_conn *c;
	if (mcs_loop_add_conn(l, fd, ops, ud, &c) == 0) {  /* closes fd on failure */
		c->max_body = a->max_body;
		c->requests = a->requests;
		c->accepted = true;
		c->peer = slot;
	} else {
		mcs_peers_leave(l, slot);
	}
}

int mcs_loop_listen(struct mcs_loop *l, int listen_fd, mcs_accept_fn fn, void *userdata)
{
	return mcs_loop_listen_max(l, listen_fd, fn, userdata, 0);
}

static int listen_with(struct mcs_loop *l, int listen_fd, mcs_accept_fn fn, void *userdata, uint32_t max_body,
		       bool requests)
{
	if (!l || listen_fd < 0 || !fn) {
		if (listen_fd >= 0)
			close(listen_fd);
		return -EINVAL;
	}
	struct acceptor *a = malloc(sizeof(*a));
	if (!a) {
		close(listen_fd);
		return -ENOMEM;
	}
	*a = (struct acceptor){ fn, userdata, max_body, requests };
	return mcs_listener_add(l, listen_fd, conn_accepted, a, free);  /* takes listen_fd and a */
}

int mcs_loop_listen_max(struct mcs_loop *l, int listen_fd, mcs_accept_fn fn, void *userdata, uint32_t max_body)
{
	return listen_with(l, listen_fd, fn, userdata, max_body, false);
}

int mcs_loop_listen_requests(struct mcs_loop *l, int listen_fd, mcs_accept_fn fn, void *userdata,
			     uint32_t max_body)
{
	return listen_with(l, listen_fd, fn, userdata, max_body, true);
}

void mcs_conn_on_connect(struct mcs_conn *c, void (*fn)(struct mcs_conn *c, void *userdata))
{
	c->on_connect = fn;
}

void mcs_conn_close(struct mcs_conn *c)
{
	if (c)
		mcs_stream_close(&c->s, 0);
}

bool mcs_conn_is_closed(const struct mcs_conn *c)
{
	return !c || !conn_live(c);
}

struct mcs_conn *mcs_conn_ref(struct mcs_conn *c)
{
	if (c)
		c->refs++;
	return c;
}

struct mcs_conn *mcs_conn_unref(struct mcs_conn *c)
{
	if (!c || --c->refs > 0)
		return NULL;
	/* The loop's reference is only dropped once the conn is finalized, so
	 * nothing is in flight and the buffers are already released. */
	free(c);
	return NULL;
}

void *mcs_conn_userdata(const struct mcs_conn *c) { return c->userdata; }
void mcs_conn_set_userdata(struct mcs_conn *c, void *userdata) { c->userdata = userdata; }
int mcs_conn_fd(const struct mcs_conn *c) { return c->s.fd; }
struct mcs_loop *mcs_conn_loop(const struct mcs_conn *c) { return c->s.loop; }
size_t mcs_conn_pending_bytes(const struct mcs_conn *c) { return c->q.bytes; }
