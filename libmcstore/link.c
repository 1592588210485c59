/* SPDX-License-Identifier: MIT */
/*
 * One blocking link of a handle (to its daemon, or straight to the master):
 * writing frames, reading them through a per-link read-ahead, round trips
 * and pipelines matched by request id. See internal.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "libmcstore/internal.h"

void link_init(struct mcs_link *l) { *l = (struct mcs_link){ .fd = -1 }; }

int link_open(struct mcs_client *c, struct mcs_link *l, int fd)
{
	/* a recv sleeps for the answer itself, SO_RCVTIMEO bounding it: one
	 * system call where poll() then recv() took two */
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	struct timeval tv = { .tv_sec = c->timeout_ms / 1000, .tv_usec = (c->timeout_ms % 1000) * 1000 };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
	l->fd = fd;
	l->broken = false;
	l->gen++;
	l->ra.off = l->ra.len = 0; /* nothing of an old link is read */
	return 0;
}

void link_close(struct mcs_link *l)
{
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	free(l->ra.buf);
	l->ra = (struct rahead){ 0 };
}

static int wait_on(struct mcs_client *c, int fd, short events) { return mcs_poll_fd(fd, events, (int)c->timeout_ms); }

int link_write(struct mcs_client *c, struct mcs_link *l, const uint8_t *p, size_t n)
{
	if (l->broken || l->fd < 0)
		return -ENOTCONN;
	while (n) {
		ssize_t w = send(l->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			int r = errno == EAGAIN ? wait_on(c, l->fd, POLLOUT) : -errno;
			if (r < 0) {
				l->broken = true; /* a frame half sent */
				return r;
			}
			continue;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Receive what is there, at most cap bytes (at least one: waits, within
 * the handle's timeout). */
static ssize_t recv_some(struct mcs_client *c, int sock, uint8_t *p, size_t cap)
{
	for (;;) {
		ssize_t r = -1;
		/* opt-in: spin on the socket for a while before sleeping,
		 * trading a core for the wake-up of this process (tens of
		 * microseconds on a busy machine), while answers come sooner
		 * than the budget (common/util.h: mcs_busy_should_spin) */
		uint64_t budget = (uint64_t)c->busy_poll_us * 1000, t0 = budget ? mcs_now_ns() : 0;
		bool spun = mcs_busy_should_spin(c->busy_est_ns, budget);
		if (spun) {
			do
				r = recv(sock, p, cap, MSG_DONTWAIT);
			while (r < 0 && errno == EAGAIN && mcs_now_ns() < t0 + budget);
		}
		if (r < 0 && (!spun || errno == EAGAIN))
			r = recv(sock, p, cap, 0);      /* sleeps, up to SO_RCVTIMEO */
		if (budget && r > 0)
			c->busy_est_ns = mcs_busy_idle(c->busy_est_ns, mcs_now_ns() - t0, budget);
		if (r > 0)
			return r;
		if (r == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	}
}

/* Read exactly n bytes. */
static int read_exact(struct mcs_client *c, int sock, uint8_t *p, size_t n)
{
	while (n) {
		ssize_t r = recv_some(c, sock, p, n);
		if (r < 0)
			return (int)r;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Make ra hold at least n unread bytes (n <= RA_SIZE). With exact, read
 * no byte beyond them (what follows may be an answer whose fd a plain recv
 * would drop). */
static int ra_fill(struct mcs_client *c, struct mcs_link *l, size_t n, bool exact)
{
	struct rahead *ra = &l->ra;
	if (!ra->buf && !(ra->buf = malloc(RA_SIZE)))
		return -ENOMEM;
	if (ra->len - ra->off >= n)
		return 0;
	if (ra->off + n > RA_SIZE) {
		memmove(ra->buf, ra->buf + ra->off, ra->len - ra->off);
		ra->len -= ra->off;
		ra->off = 0;
	}
	while (ra->len - ra->off < n) {
		size_t cap = exact ? n - (ra->len - ra->off) : RA_SIZE - ra->len;
		ssize_t r = recv_some(c, l->fd, ra->buf + ra->len, cap);
		if (r < 0)
			return (int)r;
		ra->len += (size_t)r;
	}
	return 0;
}

/* The first bytes of a frame that may carry an fd on its first byte
 * (HELLO, BUF_ALLOC), into the empty read-ahead with a recvmsg that takes
 * the fd: at most a header, so that nothing of what follows is read with
 * them. Kept there like any other bytes, they leave the link in step when
 * the rest of the frame is late. */
static int ra_fill_fd(struct mcs_client *c, struct mcs_link *l, int *ret_fd)
{
	struct rahead *ra = &l->ra;
	if (!ra->buf && !(ra->buf = malloc(RA_SIZE)))
		return -ENOMEM;
	int fd = -1, r = wait_on(c, l->fd, POLLIN);
	if (r < 0)
		return r;
	ssize_t n = mcs_recv_with_fd(l->fd, ra->buf, MCS_HDR_SIZE, &fd);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return -ECONNRESET;
	ra->off = 0;
	ra->len = (size_t)n;
	if (fd >= 0)
		*ret_fd = fd;
	return 0;
}

static void ra_consume(struct rahead *ra, size_t n)
{
	ra->off += n;
	if (ra->off == ra->len)
		ra->off = ra->len = 0;
}

static int in_reserve(struct mcs_client *c, size_t n)
{
	if (n <= c->in_cap)
		return 0;
	uint8_t *p = realloc(c->in, n);
	if (!p)
		return -ENOMEM;
	c->in = p;
	c->in_cap = n;
	return 0;
}

/* A timeout inside a frame of up to RA_SIZE bytes leaves the link usable
 * (see struct rahead); any other failure leaves it unusable: the caller
 * marks it. */
int link_read_frame(struct mcs_client *c, struct mcs_link *l, int *ret_fd)
{
	int r;
	struct rahead *ra = &l->ra;
	bool fd_due = ret_fd && *ret_fd < 0;
	/* with an fd due, a frame starts with a read that can take it, and
	 * no read goes past the frame (what is buffered may be a late answer
	 * to an earlier request, with the one carrying the fd behind it) */
	if (fd_due && ra->len == ra->off && (r = ra_fill_fd(c, l, ret_fd)) < 0)
		return r;
	if ((r = ra_fill(c, l, MCS_HDR_SIZE, fd_due)) < 0 ||
	    (r = mcs_hdr_decode(ra->buf + ra->off, c->max_body, &c->in_hdr)) < 0)
		return r;
	size_t n = c->in_hdr.body_len;
	if ((r = in_reserve(c, n)) < 0)
		return r;
	if (MCS_HDR_SIZE + n <= RA_SIZE) {
		if ((r = ra_fill(c, l, MCS_HDR_SIZE + n, fd_due)) < 0)
			return r;
		if (n)
			memcpy(c->in, ra->buf + ra->off + MCS_HDR_SIZE, n);
		ra_consume(ra, MCS_HDR_SIZE + n);
		return 0;
	}
	/* a large body: what is buffered, then the rest straight in place;
	 * the header is gone, so a timeout now must break the link */
	ra_consume(ra, MCS_HDR_SIZE);
	size_t k = MCS_MIN(n, ra->len - ra->off);
	memcpy(c->in, ra->buf + ra->off, k);
	ra_consume(ra, k);
	r = read_exact(c, l->fd, c->in + k, n - k);
	if (r == -ETIMEDOUT)
		l->broken = true; /* out of step: unlike a late answer, it cannot be skipped */
	return r;
}

/* The detail of the calling thread's last refusal (mcs_error_detail). */
static __thread uint64_t last_detail;

static void note_detail(int status, const uint8_t *body, uint32_t len)
{
	struct mcs_err_detail d = { 0 };
	if (status < 0) {
		if (len && mcs_dec_err_detail(body, len, &d) < 0)
			d.value = 0;
		last_detail = d.value;
	}
}

MCS_EXPORT uint64_t mcs_error_detail(void) { return last_detail; }

int link_roundtrip(struct mcs_client *c, struct mcs_link *l, int *ret_fd)
{
	if (c->out.err)
		return c->out.err;
	int r = link_write(c, l, c->out.p, c->out.len);
	if (r < 0)
		return r;
	uint64_t want = c->next_req - 1;
	for (;;) {
		if ((r = link_read_frame(c, l, ret_fd)) < 0)
			goto broken;
		if (!(c->in_hdr.flags & MCS_F_RESPONSE)) {
			r = -EPROTO;
			goto broken;
		}
		if (c->in_hdr.req_id == want) {
			note_detail(c->in_hdr.status, c->in, c->in_hdr.body_len);
			return c->in_hdr.status;
		}
		/* an answer to an earlier request that timed out: skip it */
		if (c->in_hdr.req_id > want) {
			r = -EPROTO;
			goto broken;
		}
	}
broken:
	/* a timeout leaves the answer in flight; later frames resynchronise
	 * by request id, anything else leaves the stream unusable */
	if (r != -ETIMEDOUT)
		l->broken = true;
	return r;
}

void answers_free(struct answer *a, size_t n)
{
	if (!a)
		return;
	for (size_t i = 0; i < n; i++)
		free(a[i].body);
	free(a);
}

int link_pipeline(struct mcs_client *c, struct mcs_link *l, uint64_t first, size_t n, struct answer *ans,
		  bool keep_on_timeout)
{
	if (c->out.err)
		return c->out.err;
	int r = link_write(c, l, c->out.p, c->out.len);
	if (r < 0)
		return r;
	for (size_t got = 0; got < n;) {
		if ((r = link_read_frame(c, l, NULL)) < 0)
			goto broken;
		struct mcs_hdr h = c->in_hdr;
		/* each answer keeps its own body: take the receive buffer */
		uint8_t *body = h.body_len ? take_in(c) : NULL;
		if (h.req_id < first) {
			free(body); /* late answer to an earlier request */
			continue;
		}
		if (h.req_id - first >= n || ans[h.req_id - first].got || !(h.flags & MCS_F_RESPONSE)) {
			free(body);
			r = -EPROTO;
			goto broken;
		}
		ans[h.req_id - first] = (struct answer){ .status = h.status, .got = true, .len = h.body_len,
							 .body = body };
		got++;
	}
	return 0;
broken:
	/* some answers may still be in flight: skipped by request id when
	 * they come, if the caller can live with what they did meanwhile */
	if (r != -ETIMEDOUT || !keep_on_timeout)
		l->broken = true;
	return r;
}

void frame_begin(struct mcs_client *c, uint16_t op)
{
	mcs_buf_reset(&c->out);
	mcs_frame_begin(&c->out, op, 0, 0, c->next_req++);
}

int frame_finish(struct mcs_client *c)
{
	int r = mcs_frame_end(&c->out);
	return r < 0 ? r : 0;
}

uint8_t *take_in(struct mcs_client *c)
{
	uint8_t *p = c->in;
	c->in = NULL;
	c->in_cap = 0;
	return p;
}
