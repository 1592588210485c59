/* SPDX-License-Identifier: MIT */
/*
 * libmcstore: the client side of mcstore (see include/mcstore.h).
 *
 * A handle is one blocking unix-socket connection to the node daemon plus
 * a read/write mapping of the node's segment. Requests on a handle are
 * serialised by a mutex; metadata goes through the daemon to the master,
 * data is copied straight between the caller's memory and the segment.
 *
 * Data integrity: put hashes the source (XXH3-64) as it copies and hands
 * the hash to the master at PutEnd; get hashes what it copied into the
 * caller's buffer and compares, so a torn, stale or overwritten replica is
 * never returned as data. Copies go in chunks that fit in L2 so the hash
 * reads hot bytes.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef HAVE_XXH_DISPATCH
/* XXH3_64bits and XXH3_64bits_update become their dispatching versions:
 * the widest vector unit this CPU has (the hash pass over a 1 MiB value in
 * cache runs about 4x faster with AVX-512 than with SSE2) */
#include <xxh_x86dispatch.h>
#endif

#include "common/util.h"
#include "libmcstore/peer.h"
#include "mcstore.h"
#include "proto/proto.h"
#include "shm/shm.h"
#include "xfer/xfer.h"

#define CHUNK (256u << 10)

struct view_priv {
	struct mcs_view pub;
	char *key;
	uint64_t hold_id;
	uint64_t checksum;        /* recorded at PutEnd, for mcs_view_verify */
	uint64_t gen;             /* c->mgen of the direct link holding it, 0: daemon */
	struct view_priv *next, **pprev;
	struct iovec iov[];
};

/* Read-ahead of one link: frames are taken from here, so that an answer
 * (header and body, or a batch of answers) costs one recv, not two each. A
 * frame of up to RA_SIZE bytes is consumed only once whole: a timeout in
 * the middle of one leaves it for the next call, which resynchronises by
 * request id. A larger body lands in place; a timeout inside it breaks the
 * link. */
#define RA_SIZE (64u << 10)
struct rahead {
	uint8_t *buf;             /* RA_SIZE bytes, made on first use */
	size_t off, len;          /* unread bytes: [off, len) */
};

struct mcs_client {
	pthread_mutex_t lock;
	int fd;
	unsigned timeout_ms;
	unsigned busy_poll_us;    /* $MCSTORE_BUSY_POLL_US: spin before sleeping */
	uint64_t next_req;
	bool broken;              /* stream out of sync: every call fails */
	struct mcs_segment seg;
	char node[MCS_NAME_MAX + 1];
	char segment[MCS_NAME_MAX + 1];
	uint32_t max_body;
	struct mcs_buf out;
	uint8_t *in;              /* last response body */
	size_t in_cap;
	struct mcs_hdr in_hdr;
	XXH3_state_t *xxh;
	struct view_priv *views;
	uint64_t staging_size;
	struct ubuf *staging;     /* for remote transfers, made on first use */
	struct ubuf *bufs;        /* mcs_buffer_alloc()ed */
	/* metadata straight to the master (the daemon's HELLO names it): one
	 * hop less than through the daemon; else c->fd relays them */
	int mfd;                  /* TCP to the master, -1: none */
	bool mbroken;             /* mfd out of sync: reconnect on the next call */
	bool direct;              /* the current exchange goes on mfd */
	uint64_t mgen;            /* bumped on every connect; holds die with mfd */
	uint64_t mretry_ms;       /* no connect attempt before this time */
	char master[MCS_NAME_MAX + 1]; /* host:port, "" for none */
	int data_direct;          /* remote data: 0 unknown, 1 straight to peers, -1 via the daemon */
	struct mcs_peers *peers;  /* data connections to other nodes (peer.c) */
	/* what one recv brought beyond the frame asked for, per link */
	struct rahead ra_d, ra_m; /* daemon link, master link */
};

/* A buffer shared with the daemon (BUF_ALLOC): the daemon made the memfd. */
struct ubuf {
	uint32_t id;
	struct mcs_segment seg;
	struct ubuf *next;
};

MCS_EXPORT const char *mcs_version(void) { return PACKAGE_VERSION; }

/* ---- framing over a blocking socket ------------------------------------ */

static int wait_on(struct mcs_client *c, int fd, short events) { return mcs_poll_fd(fd, events, (int)c->timeout_ms); }


static int write_on(struct mcs_client *c, int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int r = wait_on(c, fd, POLLOUT);
				if (r < 0)
					return r;
				continue;
			}
			return -errno;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static inline int write_all(struct mcs_client *c, const uint8_t *p, size_t n) { return write_on(c, c->fd, p, n); }

/* Metadata links are blocking sockets with the handle's timeout as
 * SO_RCVTIMEO: a recv sleeps for the answer itself, one system call where
 * poll() then recv() took two. */
static int link_setup(const struct mcs_client *c, int fd)
{
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0)
		return -errno;
	struct timeval tv = { .tv_sec = c->timeout_ms / 1000, .tv_usec = (c->timeout_ms % 1000) * 1000 };
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) < 0)
		return -errno;
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
		 * microseconds on a busy machine) */
		if (c->busy_poll_us) {
			uint64_t end = mcs_now_ns() + (uint64_t)c->busy_poll_us * 1000;
			do
				r = recv(sock, p, cap, MSG_DONTWAIT);
			while (r < 0 && errno == EAGAIN && mcs_now_ns() < end);
		}
		if (r < 0 && (!c->busy_poll_us || errno == EAGAIN))
			r = recv(sock, p, cap, 0);      /* sleeps, up to SO_RCVTIMEO */
		if (r > 0)
			return r;
		if (r == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? -ETIMEDOUT : -errno;
	}
}

/* Read exactly n bytes; the first read may carry an fd (HELLO). */
static int read_on(struct mcs_client *c, int sock, uint8_t *p, size_t n, int *ret_fd)
{
	while (n) {
		ssize_t r;
		if (ret_fd && *ret_fd < 0) {
			/* the fd rides on the first byte of the frame */
			int fd = -1, e = wait_on(c, sock, POLLIN);
			if (e < 0)
				return e;
			r = mcs_recv_with_fd(sock, p, n, &fd);
			if (r < 0)
				return (int)r;
			if (r == 0)
				return -ECONNRESET;
			if (fd >= 0)
				*ret_fd = fd;
		} else if ((r = recv_some(c, sock, p, n)) < 0) {
			return (int)r;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Make ra hold at least n unread bytes (n <= RA_SIZE). With exact, read
 * no byte beyond them (what follows may be an answer whose fd a plain recv
 * would drop). */
static int ra_fill(struct mcs_client *c, int sock, struct rahead *ra, size_t n, bool exact)
{
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
		ssize_t r = recv_some(c, sock, ra->buf + ra->len, cap);
		if (r < 0)
			return (int)r;
		ra->len += (size_t)r;
	}
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

/* Read one whole frame: header into c->in_hdr, body into c->in (grown as
 * needed). A timeout inside a frame of up to RA_SIZE bytes leaves the link
 * usable (see struct rahead); any other failure leaves it unusable: the
 * caller marks it. */
static int read_frame_on(struct mcs_client *c, int sock, int *ret_fd)
{
	int r;
	struct rahead *ra = c->mfd >= 0 && sock == c->mfd ? &c->ra_m : &c->ra_d;
	bool fd_due = ret_fd && *ret_fd < 0;
	if (fd_due && ra->len == ra->off) {
		/* an answer carrying an fd on its first byte (HELLO,
		 * BUF_ALLOC): straight from the socket, no read-ahead */
		uint8_t hb[MCS_HDR_SIZE];
		if ((r = read_on(c, sock, hb, sizeof(hb), ret_fd)) < 0 ||
		    (r = mcs_hdr_decode(hb, c->max_body, &c->in_hdr)) < 0)
			return r;
		if ((r = in_reserve(c, c->in_hdr.body_len)) < 0)
			return r;
		return read_on(c, sock, c->in, c->in_hdr.body_len, NULL);
	}
	/* (with an fd due, what is buffered is a late answer to an earlier
	 * request: complete it without reading past it) */
	if ((r = ra_fill(c, sock, ra, MCS_HDR_SIZE, fd_due)) < 0 ||
	    (r = mcs_hdr_decode(ra->buf + ra->off, c->max_body, &c->in_hdr)) < 0)
		return r;
	size_t n = c->in_hdr.body_len;
	if ((r = in_reserve(c, n)) < 0)
		return r;
	if (MCS_HDR_SIZE + n <= RA_SIZE) {
		if ((r = ra_fill(c, sock, ra, MCS_HDR_SIZE + n, fd_due)) < 0)
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
	r = read_on(c, sock, c->in + k, n - k, NULL);
	if (r == -ETIMEDOUT) {
		/* out of step: unlike a late answer, this one cannot be skipped */
		if (c->mfd >= 0 && sock == c->mfd)
			c->mbroken = true;
		else
			c->broken = true;
	}
	return r;
}

static inline int read_frame(struct mcs_client *c, int *ret_fd) { return read_frame_on(c, c->fd, ret_fd); }

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

/* Send the frame in c->out on sock and wait for its answer (body in c->in).
 * Returns the response status. ret_fd receives a passed fd (HELLO). */
static int roundtrip_on(struct mcs_client *c, int sock, bool *broken, int *ret_fd)
{
	if (*broken)
		return -ENOTCONN;
	if (c->out.err)
		return c->out.err;
	int r = write_on(c, sock, c->out.p, c->out.len);
	if (r < 0)
		goto broken;
	uint64_t want = c->next_req - 1;
	for (;;) {
		if ((r = read_frame_on(c, sock, ret_fd)) < 0)
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
		*broken = true;
	return r;
}

/* A request to the daemon (buffers, transfers, STAT). */
static int roundtrip(struct mcs_client *c, int *ret_fd) { return roundtrip_on(c, c->fd, &c->broken, ret_fd); }

/* Open the direct connection to the master. Failing is not an error: the
 * daemon relays instead, and another attempt waits a second. */
static void master_connect(struct mcs_client *c)
{
	char host[MCS_NAME_MAX + 1];
	uint16_t port;
	if (mcs_parse_hostport(c->master, host, sizeof(host), &port) < 0) {
		c->master[0] = '\0';
		return;
	}
	int fd = mcs_tcp_connect(host, port, (int)MCS_MIN(c->timeout_ms, 2000u), NULL);
	if (fd >= 0 && link_setup(c, fd) < 0) {
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		c->mretry_ms = mcs_now_ms() + 1000;
		return;
	}
	c->mfd = fd;
	c->mbroken = false;
	c->mgen++;
	c->ra_m.off = c->ra_m.len = 0; /* nothing of the old link is read */
}

/* Pick the link of the metadata exchanges of the operation that starts
 * (never in the middle of one: a put is owned by the link that started
 * it): the master itself when it can be reached, else the daemon. A broken
 * direct link (the master restarted, say) is closed here: whatever it held
 * (pending puts, holds) the master has dropped with it. */
static void meta_pick(struct mcs_client *c)
{
	if (c->mfd >= 0 && c->mbroken) {
		close(c->mfd);
		c->mfd = -1;
	}
	if (c->mfd < 0 && c->master[0] && mcs_now_ms() >= c->mretry_ms)
		master_connect(c);
	c->direct = c->mfd >= 0;
}

/* The link meta_pick() chose for the current operation: its socket and
 * broken flag, and its generation for holds taken on it (0: the daemon). */
static int meta_sock(struct mcs_client *c, bool **ret_broken)
{
	*ret_broken = c->direct ? &c->mbroken : &c->broken;
	return c->direct ? c->mfd : c->fd;
}
static uint64_t meta_gen(const struct mcs_client *c) { return c->direct ? c->mgen : 0; }

/* A metadata request (put, get, exists, remove, release) on that link. */
static int mroundtrip(struct mcs_client *c)
{
	bool *broken;
	int sock = meta_sock(c, &broken);
	return roundtrip_on(c, sock, broken, NULL);
}

/* Detach the last response body: decoded strings point into it, and the
 * next round trip would overwrite it. The caller frees it. */
static uint8_t *take_in(struct mcs_client *c)
{
	uint8_t *p = c->in;
	c->in = NULL;
	c->in_cap = 0;
	return p;
}

static void begin(struct mcs_client *c, uint16_t op)
{
	mcs_buf_reset(&c->out);
	mcs_frame_begin(&c->out, op, 0, 0, c->next_req++);
}

static int finish(struct mcs_client *c)
{
	int r = mcs_frame_end(&c->out);
	return r < 0 ? r : 0;
}

/* ---- handle ------------------------------------------------------------ */

static int key_check(const char *key, struct mcs_str *ret)
{
	if (!key)
		return -EINVAL;
	size_t n = strnlen(key, MCS_KEY_MAX + 1);
	if (n == 0)
		return -EINVAL;
	if (n > MCS_KEY_MAX)
		return -ENAMETOOLONG;
	*ret = (struct mcs_str){ key, (uint32_t)n };
	return 0;
}

MCS_EXPORT int mcs_client_new(const struct mcs_client_opts *opts, struct mcs_client **ret)
{
	if (!ret)
		return -EINVAL;
	const char *path = NULL;
	unsigned timeout = 0;
	uint64_t staging = 0;
	if (opts) {
		if (opts->size < offsetof(struct mcs_client_opts, timeout_ms) + sizeof(opts->timeout_ms))
			return -EINVAL;
		path = opts->socket_path;
		timeout = opts->timeout_ms;
		if (opts->size >= offsetof(struct mcs_client_opts, staging_size) + sizeof(opts->staging_size))
			staging = opts->staging_size;
	}
	if (!path || !*path)
		path = getenv("MCSTORE_SOCKET");
	if (!path || !*path)
		path = MCS_DEFAULT_SOCKET;
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);

	struct mcs_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->fd = -1;
	c->seg.fd = -1;
	c->mfd = -1;
	c->timeout_ms = timeout ? timeout : 30000;
	c->staging_size = staging ? MCS_ALIGN_UP(staging, (uint64_t)4096) : (64ull << 20);
	c->next_req = 1;
	c->max_body = MCS_DEFAULT_MAX_BODY;
	mcs_buf_init(&c->out);
	int r = -ENOMEM;
	c->xxh = XXH3_createState();
	if (!c->xxh)
		goto fail;
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0) {
		r = -errno;
		goto fail;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		r = -errno;
		goto fail;
	}
	if ((r = link_setup(c, c->fd)) < 0)
		goto fail;

	begin(c, MCS_OP_HELLO);
	struct mcs_hello_req hq = { .client_version = MCS_PROTO_VERSION, .pid = (uint32_t)getpid() };
	mcs_enc_hello_req(&c->out, &hq);
	if ((r = finish(c)) < 0)
		goto fail;
	int fd = -1;
	r = roundtrip(c, &fd);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	struct mcs_hello_resp hr;
	r = mcs_dec_hello_resp(c->in, c->in_hdr.body_len, &hr);
	if (r == 0 && fd < 0)
		r = -EPROTO;
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	memcpy(c->node, hr.node.p, hr.node.len);
	memcpy(c->segment, hr.segment.p, hr.segment.len);
	if (hr.max_body)
		c->max_body = MCS_MAX(hr.max_body, MCS_DEFAULT_MAX_BODY);
	memcpy(c->master, hr.master.p, hr.master.len);
	c->master[hr.master.len] = '\0';
	r = mcs_segment_attach(fd, hr.segment_size, &c->seg);
	if (r < 0) {
		close(fd);
		goto fail;
	}
	c->seg.hugepages = hr.flags & MCS_HELLO_HUGEPAGES;
	/* opt-in: map every page of the segment now rather than fault them
	 * in 4 KiB at a time under the first copies (which halves the speed
	 * of a put into untouched memory); this commits the whole segment */
	const char *env = getenv("MCSTORE_PREFAULT");
	if (env && !strcmp(env, "1"))
		(void)madvise(c->seg.base, c->seg.size, MADV_POPULATE_WRITE);
	env = getenv("MCSTORE_BUSY_POLL_US");
	uint64_t us;
	if (env && mcs_parse_u64(env, 1000000, &us) == 0)
		c->busy_poll_us = (unsigned)us;
	/* metadata straight to the master unless told not to; if it cannot
	 * be reached, through the daemon (see meta_pick) */
	env = getenv("MCSTORE_DIRECT_MASTER");
	if (env && !strcmp(env, "0"))
		c->master[0] = '\0';
	if (c->master[0])
		master_connect(c);
	*ret = c;
	return 0;
fail:
	mcs_client_free(c);
	return r;
}

MCS_EXPORT struct mcs_client *mcs_client_free(struct mcs_client *c)
{
	if (!c)
		return NULL;
	while (c->views) {
		struct view_priv *v = c->views;
		c->views = v->next;
		free(v->key);
		free(v);
	}
	while (c->bufs) {
		struct ubuf *b = c->bufs;
		c->bufs = b->next;
		mcs_segment_close(&b->seg);
		free(b);
	}
	if (c->staging) {
		mcs_segment_close(&c->staging->seg);
		free(c->staging);
	}
	peers_free(c->peers);
	/* closing the socket makes the daemon release our holds and buffers */
	if (c->fd >= 0)
		close(c->fd);
	if (c->mfd >= 0)
		close(c->mfd); /* and the master releases the holds taken on it */
	mcs_segment_close(&c->seg);
	mcs_buf_free(&c->out);
	free(c->in);
	free(c->ra_d.buf);
	free(c->ra_m.buf);
	if (c->xxh)
		XXH3_freeState(c->xxh);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}

/* ---- replicas ------------------------------------------------------------ */

static bool is_local(const struct mcs_client *c, const struct mcs_replica *rep)
{
	for (uint32_t h = 0; h < rep->n_handles; h++) {
		const struct mcs_handle *hd = &rep->handles[h];
		if (hd->segment.len != strlen(c->segment) || memcmp(hd->segment.p, c->segment, hd->segment.len))
			return false;
	}
	return true;
}

/* Every buffer inside our mapping and the buffers adding up to size: a
 * master that answered otherwise would make us touch memory we must not. */
static int replica_check(const struct mcs_client *c, const struct mcs_replica *rep, uint64_t size)
{
	uint64_t total;
	bool ok = mcs_xfer_check(rep->handles, rep->n_handles, mcs_str_c(c->segment), c->seg.size, &total);
	return ok && total == size ? 0 : -EPROTO;
}

/* Walks the value as a byte stream over a list of iovecs. */
struct cursor {
	const struct iovec *iov;
	int n, i;
	size_t off;
};

static size_t cursor_take(struct cursor *cu, size_t max, uint8_t **ret)
{
	while (cu->i < cu->n && cu->off == cu->iov[cu->i].iov_len) {
		cu->i++;
		cu->off = 0;
	}
	if (cu->i >= cu->n)
		return 0;
	size_t n = MCS_MIN(max, cu->iov[cu->i].iov_len - cu->off);
	*ret = (uint8_t *)cu->iov[cu->i].iov_base + cu->off;
	cu->off += n;
	return n;
}

static uint64_t iov_total(const struct iovec *iov, int n, bool *overflow)
{
	uint64_t t = 0;
	*overflow = false;
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len && !iov[i].iov_base)
			*overflow = true;
		if (t + iov[i].iov_len < t)
			*overflow = true;
		t += iov[i].iov_len;
	}
	return t;
}

static int put_revoke(struct mcs_client *c, struct mcs_str key)
{
	begin(c, MCS_OP_PUT_REVOKE);
	struct mcs_key_req q = { .key = key };
	mcs_enc_key_req(&c->out, &q);
	int r = finish(c);
	return r < 0 ? r : mroundtrip(c);
}

/* ---- shared buffers and remote transfers --------------------------------- */

static int buf_alloc(struct mcs_client *c, uint64_t size, struct ubuf **ret)
{
	begin(c, MCS_OP_BUF_ALLOC);
	struct mcs_buf_alloc_req q = { .size = size };
	mcs_enc_buf_alloc_req(&c->out, &q);
	int fd = -1, r = finish(c);
	if (r == 0)
		r = roundtrip(c, &fd);
	struct mcs_buf_alloc_resp resp;
	if (r == 0)
		r = mcs_dec_buf_alloc_resp(c->in, c->in_hdr.body_len, &resp);
	if (r == 0 && (fd < 0 || resp.size < size))
		r = -EPROTO;
	struct ubuf *b = NULL;
	if (r == 0 && !(b = calloc(1, sizeof(*b))))
		r = -ENOMEM;
	if (r == 0)
		r = mcs_segment_attach(fd, resp.size, &b->seg);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		free(b);
		return r;
	}
	b->id = resp.buf_id;
	*ret = b;
	return 0;
}

static void buf_release(struct mcs_client *c, struct ubuf *b)
{
	if (!c->broken) {
		begin(c, MCS_OP_BUF_FREE);
		struct mcs_buf_free_req q = { .buf_id = b->id };
		mcs_enc_buf_free_req(&c->out, &q);
		if (finish(c) == 0)
			roundtrip(c, NULL);
	}
	mcs_segment_close(&b->seg);
	free(b);
}

static int staging(struct mcs_client *c, struct ubuf **ret)
{
	if (!c->staging) {
		int r = buf_alloc(c, c->staging_size, &c->staging);
		if (r < 0)
			return r;
	}
	*ret = c->staging;
	return 0;
}

/* The data connections to other nodes, unless $MCSTORE_DIRECT_DATA=0 sends
 * remote bytes through the daemon (FETCH / PUSH and the staging buffer). */
static struct mcs_peers *direct_peers(struct mcs_client *c)
{
	if (c->data_direct == 0) {
		const char *env = getenv("MCSTORE_DIRECT_DATA");
		c->data_direct = env && !strcmp(env, "0") ? -1 : 1;
		if (c->data_direct > 0 && peers_new(c->timeout_ms, &c->peers) < 0)
			c->data_direct = -1;
	}
	return c->data_direct > 0 ? c->peers : NULL;
}

static struct peer_self self_of(const struct mcs_client *c)
{
	return (struct peer_self){ mcs_str_c(c->segment), c->seg.base, c->seg.size };
}

/* The registered buffer wholly containing [p, p+len), if any. */
static struct ubuf *buf_containing(struct mcs_client *c, const void *p, uint64_t len)
{
	for (struct ubuf *b = c->bufs; b; b = b->next) {
		uintptr_t base = (uintptr_t)b->seg.base, at = (uintptr_t)p;
		if (at >= base && at - base <= b->seg.size && len <= b->seg.size - (at - base))
			return b;
	}
	return NULL;
}

/* Queue one FETCH/PUSH frame per replica in reps[] for value bytes
 * [off, off+len) to/from buffer b at buf_off, then wait for every answer.
 * One round trip whatever the number of replicas. */
static int transfer(struct mcs_client *c, uint16_t op, const struct mcs_replica *const *reps, unsigned n_reps,
		    const struct ubuf *b, uint64_t buf_off, uint64_t off, uint64_t len)
{
	if (c->broken)
		return -ENOTCONN;
	mcs_buf_reset(&c->out);
	uint64_t first = c->next_req;
	for (unsigned i = 0; i < n_reps; i++) {
		struct mcs_handle *hs = calloc(reps[i]->n_handles ? reps[i]->n_handles : 1, sizeof(*hs));
		if (!hs)
			return -ENOMEM;
		struct mcs_transfer_req q = { .buf_id = b->id, .buf_off = buf_off };
		q.handles = hs;
		q.n_handles = mcs_xfer_window(reps[i]->handles, reps[i]->n_handles, off, len, hs);
		mcs_frame_begin(&c->out, op, 0, 0, c->next_req++);
		mcs_enc_transfer_req(&c->out, &q);
		int r = mcs_frame_end(&c->out);
		free(hs);
		if (r < 0)
			return r;
	}
	int r = write_all(c, c->out.p, c->out.len);
	if (r < 0) {
		c->broken = true;
		return r;
	}
	/* answers come in any order; read until all are in */
	int status = 0;
	for (unsigned got = 0; got < n_reps;) {
		if ((r = read_frame(c, NULL)) < 0)
			goto broken;
		if (c->in_hdr.req_id < first)
			continue; /* late answer to an earlier request */
		if (c->in_hdr.req_id >= c->next_req || !(c->in_hdr.flags & MCS_F_RESPONSE)) {
			r = -EPROTO;
			goto broken;
		}
		if (c->in_hdr.status < 0 && status == 0)
			status = c->in_hdr.status;
		got++;
	}
	return status;
broken:
	if (r != -ETIMEDOUT)
		c->broken = true;
	return r;
}

/* Walks a replica's buffers in value order for local copies. */
struct hcursor {
	uint32_t idx;
	uint64_t off;
};

static void hcursor_copy(struct mcs_client *c, const struct mcs_replica *rep, struct hcursor *hc, const uint8_t *src,
			 size_t n)
{
	while (n) {
		const struct mcs_handle *hd = &rep->handles[hc->idx];
		size_t k = MCS_MIN(n, hd->len - hc->off);
		memcpy((uint8_t *)c->seg.base + hd->offset + hc->off, src, k);
		src += k;
		n -= k;
		hc->off += k;
		if (hc->off == hd->len) {
			hc->idx++;
			hc->off = 0;
		}
	}
}

/* The replicas of one put, split by where they are. */
struct put_reps {
	struct mcs_client *c;
	const struct mcs_replica *local[MCS_MAX_REPLICAS], *remote[MCS_MAX_REPLICAS];
	struct hcursor hc[MCS_MAX_REPLICAS];
	unsigned n_local, n_remote;
};

static void put_reps_init(struct mcs_client *c, const struct mcs_replica_list *l, struct put_reps *pr)
{
	pr->c = c;
	pr->n_local = pr->n_remote = 0;
	for (uint32_t r = 0; r < l->n_replicas && r < MCS_MAX_REPLICAS; r++) {
		pr->hc[r] = (struct hcursor){ 0, 0 };
		if (is_local(c, &l->replicas[r]))
			pr->local[pr->n_local++] = &l->replicas[r];
		else
			pr->remote[pr->n_remote++] = &l->replicas[r];
	}
}

/* peer_write's copy function: the local replicas of items arg[item]. */
static void copy_local(void *arg, size_t item, uint64_t voff, const uint8_t *p, size_t n)
{
	struct put_reps *pr = (struct put_reps *)arg + item;
	(void)voff;
	for (unsigned r = 0; r < pr->n_local; r++)
		hcursor_copy(pr->c, pr->local[r], &pr->hc[r], p, n);
}

/* Write the value into every replica: local ones by memcpy into the mapped
 * segment, remote ones straight from the caller's memory to their nodes
 * (peer.c), or, with $MCSTORE_DIRECT_DATA=0 or a node we cannot reach,
 * through the daemon from a shared buffer, a window at a time. Each chunk
 * is hashed once, just before it is copied. */
static int write_replicas(struct mcs_client *c, const struct iovec *iov, int iovcnt, uint64_t total,
			  const struct mcs_replica_list *l, uint64_t *ret_sum)
{
	struct put_reps pr;
	put_reps_init(c, l, &pr);
	const struct mcs_replica **local = pr.local, **remote = pr.remote;
	struct hcursor *hc = pr.hc;
	unsigned n_local = pr.n_local, n_remote = pr.n_remote;
	struct mcs_peers *peers = n_remote ? direct_peers(c) : NULL;
	if (peers) {
		struct peer_self self = self_of(c);
		struct peer_put it = { .reps = remote, .n_reps = n_remote, .iov = iov, .iovcnt = iovcnt, .size = total };
		int r = peer_write(peers, &self, &it, 1, c->xxh, n_local ? copy_local : NULL, &pr);
		if (r < 0)
			return r;
		if (it.status != PEER_UNREACHABLE) {
			*ret_sum = it.sum;
			return it.status;
		}
	}
	/* a value already in a registered buffer leaves from there */
	struct ubuf *direct = iovcnt == 1 && n_remote ? buf_containing(c, iov[0].iov_base, total) : NULL;
	struct ubuf *st = NULL;
	if (n_remote && !direct) {
		int r = staging(c, &st);
		if (r < 0)
			return r;
	}
	struct cursor cu = { iov, iovcnt, 0, 0 };
	uint64_t voff = 0, win = 0;
	uint8_t *src;
	size_t n;

	XXH3_64bits_reset(c->xxh);
	while ((n = cursor_take(&cu, MCS_MIN((uint64_t)CHUNK, st ? st->seg.size - (voff - win) : (uint64_t)CHUNK),
				&src)) > 0) {
		XXH3_64bits_update(c->xxh, src, n);
		for (unsigned r = 0; r < n_local; r++)
			hcursor_copy(c, local[r], &hc[r], src, n);
		if (st)
			memcpy((uint8_t *)st->seg.base + (voff - win), src, n);
		voff += n;
		if (st && (voff - win == st->seg.size || voff == total)) {
			int r = transfer(c, MCS_OP_PUSH, remote, n_remote, st, 0, win, voff - win);
			if (r < 0)
				return r;
			win = voff;
		}
	}
	if (direct) {
		uint64_t off = (uint64_t)((uintptr_t)iov[0].iov_base - (uintptr_t)direct->seg.base);
		int r = transfer(c, MCS_OP_PUSH, remote, n_remote, direct, off, 0, total);
		if (r < 0)
			return r;
	}
	*ret_sum = XXH3_64bits_digest(c->xxh);
	return 0;
}

static int do_putv(struct mcs_client *c, struct mcs_str key, const struct iovec *iov, int iovcnt,
		   const struct mcs_replicate_config *cfg)
{
	bool bad;
	uint64_t total = iov_total(iov, iovcnt, &bad);
	if (bad || iovcnt < 0 || (iovcnt > 0 && !iov))
		return -EINVAL;

	struct mcs_put_start_req q = { .key = key, .value_len = total, .n_slices = 1 };
	uint64_t one = total;
	q.slice_lens = &one;
	q.cfg.replica_num = 1;
	if (cfg) {
		if (cfg->size < offsetof(struct mcs_replicate_config, n_locations) + sizeof(cfg->n_locations))
			return -EINVAL;
		if (cfg->replica_num > MCS_MAX_REPLICAS || cfg->n_locations > MCS_MAX_LOCATIONS ||
		    (cfg->n_locations && !cfg->locations))
			return -EINVAL;
		q.cfg.replica_num = cfg->replica_num ? cfg->replica_num : 1;
		q.cfg.flags = cfg->flags;
		q.cfg.n_locations = (uint32_t)cfg->n_locations;
		for (size_t i = 0; i < cfg->n_locations; i++) {
			if (!cfg->locations[i] || !*cfg->locations[i] || strlen(cfg->locations[i]) > MCS_NAME_MAX)
				return -EINVAL;
			q.cfg.locations[i] = mcs_str_c(cfg->locations[i]);
		}
	}
	meta_pick(c);
	begin(c, MCS_OP_PUT_START);
	mcs_enc_put_start_req(&c->out, &q);
	int r = finish(c);
	if (r < 0)
		return r;
	r = mroundtrip(c);
	if (r < 0)
		return r;
	struct mcs_put_start_resp resp;
	r = mcs_dec_put_start_resp(c->in, c->in_hdr.body_len, &resp);
	if (r < 0) {
		put_revoke(c, key);
		return r;
	}
	_cleanup_free_ uint8_t *body = take_in(c);
	r = resp.list.n_replicas ? 0 : -EPROTO;
	for (uint32_t i = 0; r == 0 && i < resp.list.n_replicas; i++) {
		const struct mcs_replica *rep = &resp.list.replicas[i];
		uint64_t sum = 0;
		for (uint32_t h = 0; h < rep->n_handles; h++)
			sum += rep->handles[h].len;
		if (sum != total)
			r = -EPROTO;
		else if (is_local(c, rep))
			r = replica_check(c, rep, total);
	}
	uint64_t checksum = 0;
	if (r == 0)
		r = write_replicas(c, iov, iovcnt, total, &resp.list, &checksum);
	int n_rep = (int)resp.list.n_replicas;
	mcs_replica_list_free(&resp.list);
	if (r < 0) {
		if (!c->broken)
			put_revoke(c, key);
		return r;
	}

	begin(c, MCS_OP_PUT_END);
	struct mcs_put_end_req e = { .key = key, .checksum = checksum };
	mcs_enc_put_end_req(&c->out, &e);
	if ((r = finish(c)) < 0 || (r = mroundtrip(c)) < 0) {
		if (!c->broken)
			put_revoke(c, key);
		return r;
	}
	return n_rep;
}

MCS_EXPORT int mcs_putv(struct mcs_client *c, const char *key, const struct iovec *iov, int iovcnt,
			const struct mcs_replicate_config *cfg)
{
	struct mcs_str k;
	if (!c)
		return -EINVAL;
	int r = key_check(key, &k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	r = do_putv(c, k, iov, iovcnt, cfg);
	pthread_mutex_unlock(&c->lock);
	return r;
}

MCS_EXPORT int mcs_put(struct mcs_client *c, const char *key, const void *buf, size_t len,
		       const struct mcs_replicate_config *cfg)
{
	if (len && !buf)
		return -EINVAL;
	struct iovec iov = { (void *)buf, len };
	return mcs_putv(c, key, &iov, 1, cfg);
}

/* GET_REPLICAS; on success the decoded answer is in *ret and the body its
 * strings point into in *ret_body (free both). */
static int get_replicas(struct mcs_client *c, struct mcs_str key, uint32_t flags, struct mcs_get_resp *ret,
			uint8_t **ret_body)
{
	meta_pick(c);
	begin(c, MCS_OP_GET_REPLICAS);
	struct mcs_get_req q = { .key = key, .flags = flags };
	mcs_enc_get_req(&c->out, &q);
	int r = finish(c);
	if (r < 0 || (r = mroundtrip(c)) < 0)
		return r;
	r = mcs_dec_get_resp(c->in, c->in_hdr.body_len, ret);
	if (r == 0)
		*ret_body = take_in(c);
	return r;
}

/* Fire and forget, on the link that took the hold: nothing the caller
 * could do about a failed release (whoever holds the other end of the link,
 * daemon or master, releases whatever is left when we disconnect), so do
 * not wait a round trip for it; roundtrip() skips the late answer. gen is
 * the direct link's generation when the hold was taken (0: the daemon's):
 * a hold taken on a direct link since closed is gone already. */
static int release_hold(struct mcs_client *c, struct mcs_str key, uint64_t hold_id, uint64_t gen)
{
	bool direct = gen != 0;
	if (direct && (gen != c->mgen || c->mfd < 0 || c->mbroken))
		return 0;
	bool *broken = direct ? &c->mbroken : &c->broken;
	if (*broken)
		return -ENOTCONN;
	begin(c, MCS_OP_RELEASE);
	struct mcs_release_req q = { .key = key, .hold_id = hold_id };
	mcs_enc_release_req(&c->out, &q);
	int r = finish(c);
	if (r == 0 && (r = write_on(c, direct ? c->mfd : c->fd, c->out.p, c->out.len)) < 0)
		*broken = true;
	return r;
}

/* Copy one local replica into the caller's iovecs, hashing each chunk
 * right after it lands; 0 if the hash matches. */
/* Copy len bytes from src into the caller's iovecs at cu, CHUNK at a time,
 * hashing each chunk right after it lands (still in cache). */
static int copy_out_hashed(struct mcs_client *c, struct cursor *cu, const uint8_t *src, uint64_t len)
{
	while (len) {
		uint8_t *dst;
		size_t n = cursor_take(cu, MCS_MIN(len, (uint64_t)CHUNK), &dst);
		if (!n)
			return -ERANGE;
		memcpy(dst, src, n);
		XXH3_64bits_update(c->xxh, dst, n);
		src += n;
		len -= n;
	}
	return 0;
}

static int read_local(struct mcs_client *c, const struct mcs_replica *rep, const struct iovec *iov, int iovcnt,
		      uint64_t checksum)
{
	struct cursor cu = { iov, iovcnt, 0, 0 };
	XXH3_64bits_reset(c->xxh);
	for (uint32_t h = 0; h < rep->n_handles; h++) {
		int r = copy_out_hashed(c, &cu, (const uint8_t *)c->seg.base + rep->handles[h].offset,
					rep->handles[h].len);
		if (r < 0)
			return r;
	}
	return XXH3_64bits_digest(c->xxh) == checksum ? 0 : -EBADMSG;
}

/* Bring a remote replica: straight from its node into the caller's memory
 * (peer.c). With $MCSTORE_DIRECT_DATA=0 or a node we cannot reach, through
 * the daemon: straight into the caller's memory when it is a registered
 * buffer, else a window at a time through the staging buffer (one copy,
 * hashed as it lands in the caller's memory). */
static int read_remote(struct mcs_client *c, const struct mcs_replica *rep, uint64_t size, const struct iovec *iov,
		       int iovcnt, uint64_t checksum)
{
	/* straight from the node holding it into the caller's memory */
	struct mcs_peers *peers = direct_peers(c);
	if (peers) {
		struct peer_self self = self_of(c);
		struct peer_get g = { .rep = rep, .iov = iov, .iovcnt = iovcnt, .size = size, .checksum = checksum };
		int r = peer_read(peers, &self, &g, 1, c->xxh);
		if (r < 0)
			return r;
		if (g.status != PEER_UNREACHABLE)
			return g.status;
	}
	struct ubuf *direct = iovcnt >= 1 ? buf_containing(c, iov[0].iov_base, size) : NULL;
	if (direct && iov[0].iov_len >= size) {
		uint64_t off = (uint64_t)((uintptr_t)iov[0].iov_base - (uintptr_t)direct->seg.base);
		int r = transfer(c, MCS_OP_FETCH, &rep, 1, direct, off, 0, size);
		if (r < 0)
			return r;
		return XXH3_64bits(iov[0].iov_base, size) == checksum ? 0 : -EBADMSG;
	}
	struct ubuf *st;
	int r = staging(c, &st);
	if (r < 0)
		return r;
	struct cursor cu = { iov, iovcnt, 0, 0 };
	XXH3_64bits_reset(c->xxh);
	for (uint64_t win = 0; win < size; win += st->seg.size) {
		uint64_t len = MCS_MIN(st->seg.size, size - win);
		if ((r = transfer(c, MCS_OP_FETCH, &rep, 1, st, 0, win, len)) < 0 ||
		    (r = copy_out_hashed(c, &cu, st->seg.base, len)) < 0)
			return r;
	}
	return XXH3_64bits_digest(c->xxh) == checksum ? 0 : -EBADMSG;
}

static ssize_t get_from(struct mcs_client *c, const struct mcs_get_resp *g, const struct iovec *iov, int iovcnt,
			const struct mcs_replica *skip, bool *defer);

static ssize_t do_getv(struct mcs_client *c, struct mcs_str key, const struct iovec *iov, int iovcnt, size_t *ret_size)
{
	bool bad;
	uint64_t cap = iov_total(iov, iovcnt, &bad);
	if (bad || iovcnt < 0 || (iovcnt > 0 && !iov))
		return -EINVAL;
	struct mcs_get_resp g;
	_cleanup_free_ uint8_t *body = NULL;
	int r = get_replicas(c, key, 0, &g, &body);
	if (r < 0)
		return r;
	if (g.size > cap) {
		if (ret_size)
			*ret_size = g.size;
		mcs_replica_list_free(&g.list);
		return -ERANGE;
	}
	/* local replicas first (a memcpy), then remote ones; on a failed
	 * transfer or a checksum mismatch, the next replica */
	ssize_t n = get_from(c, &g, iov, iovcnt, NULL, NULL);
	mcs_replica_list_free(&g.list);
	if (n >= 0 && ret_size)
		*ret_size = (size_t)n;
	return n;
}

MCS_EXPORT ssize_t mcs_getv(struct mcs_client *c, const char *key, const struct iovec *iov, int iovcnt)
{
	struct mcs_str k;
	if (!c)
		return -EINVAL;
	int r = key_check(key, &k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	ssize_t n = do_getv(c, k, iov, iovcnt, NULL);
	pthread_mutex_unlock(&c->lock);
	return n;
}

MCS_EXPORT ssize_t mcs_get(struct mcs_client *c, const char *key, void *buf, size_t cap, size_t *ret_size)
{
	struct mcs_str k;
	if (!c || (cap && !buf))
		return -EINVAL;
	int r = key_check(key, &k);
	if (r < 0)
		return r;
	struct iovec iov = { buf, cap };
	size_t size = 0;
	pthread_mutex_lock(&c->lock);
	ssize_t n = do_getv(c, k, &iov, 1, &size);
	pthread_mutex_unlock(&c->lock);
	if (n == -ERANGE && ret_size)
		*ret_size = size;
	return n;
}

MCS_EXPORT int mcs_get_alloc(struct mcs_client *c, const char *key, void **ret_buf, size_t *ret_len)
{
	if (!ret_buf || !ret_len)
		return -EINVAL;
	size_t need = 0;
	/* size first (the lease makes a second look cheap), then retry if the
	 * object changed identity in between */
	for (int attempt = 0; attempt < 4; attempt++) {
		ssize_t n = mcs_get(c, key, NULL, 0, &need);
		if (n >= 0) {
			*ret_buf = malloc(1);
			if (!*ret_buf)
				return -ENOMEM;
			*ret_len = 0;
			return 0;
		}
		if (n != -ERANGE)
			return (int)n;
		void *buf = malloc(need);
		if (!buf)
			return -ENOMEM;
		n = mcs_get(c, key, buf, need, &need);
		if (n >= 0) {
			*ret_buf = buf;
			*ret_len = (size_t)n;
			return 0;
		}
		free(buf);
		if (n != -ERANGE)
			return (int)n;
	}
	return -EAGAIN;
}

/* The XXH3-64 of the bytes a view covers, as put computed it. Uses no
 * state of the handle, so a view can be verified without its lock. */
static int view_sum(const struct iovec *iov, size_t n, uint64_t *ret)
{
	if (n <= 1) {
		*ret = n ? XXH3_64bits(iov[0].iov_base, iov[0].iov_len) : XXH3_64bits(NULL, 0);
		return 0;
	}
	XXH3_state_t *st = XXH3_createState();
	if (!st)
		return -ENOMEM;
	XXH3_64bits_reset(st);
	for (size_t i = 0; i < n; i++)
		XXH3_64bits_update(st, iov[i].iov_base, iov[i].iov_len);
	*ret = XXH3_64bits_digest(st);
	XXH3_freeState(st);
	return 0;
}

/* Turn a GET_REPLICAS answer with a hold into a view of a local replica,
 * checked against the checksum unless MCS_VIEW_NOVERIFY; releases the
 * hold on failure. Frees the replica list either way. */
static int make_view(struct mcs_client *c, struct mcs_str k, struct mcs_get_resp *g, unsigned flags,
		     struct mcs_view **ret)
{
	const struct mcs_replica *rep = NULL;
	for (uint32_t i = 0; i < g->list.n_replicas && !rep; i++)
		if (is_local(c, &g->list.replicas[i]) && replica_check(c, &g->list.replicas[i], g->size) == 0)
			rep = &g->list.replicas[i];
	int r = -EREMOTE;
	struct view_priv *v = NULL;
	if (rep) {
		v = calloc(1, sizeof(*v) + rep->n_handles * sizeof(struct iovec));
		if (v)
			v->key = strndup(k.p, k.len);
		r = v && v->key ? 0 : -ENOMEM;
	}
	if (r == 0) {
		for (uint32_t h = 0; h < rep->n_handles; h++) {
			v->iov[h].iov_base = (uint8_t *)c->seg.base + rep->handles[h].offset;
			v->iov[h].iov_len = rep->handles[h].len;
		}
		uint64_t sum;
		if (!(flags & MCS_VIEW_NOVERIFY) && (r = view_sum(v->iov, rep->n_handles, &sum)) == 0 &&
		    sum != g->checksum)
			r = -EBADMSG;
	}
	if (r < 0) {
		if (v)
			free(v->key);
		free(v);
		if (g->hold_id)
			release_hold(c, k, g->hold_id, meta_gen(c));
		mcs_replica_list_free(&g->list);
		return r;
	}
	v->pub.size = g->size;
	v->pub.n_iov = rep->n_handles;
	v->pub.iov = v->iov;
	v->hold_id = g->hold_id;
	v->checksum = g->checksum;
	v->gen = meta_gen(c);
	v->next = c->views;
	if (c->views)
		c->views->pprev = &v->next;
	v->pprev = &c->views;
	c->views = v;
	mcs_replica_list_free(&g->list);
	*ret = &v->pub;
	return 0;
}

MCS_EXPORT int mcs_get_view_flags(struct mcs_client *c, const char *key, unsigned flags, struct mcs_view **ret)
{
	struct mcs_str k;
	if (!c || !ret || (flags & ~(unsigned)MCS_VIEW_NOVERIFY))
		return -EINVAL;
	int r = key_check(key, &k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	struct mcs_get_resp g;
	_cleanup_free_ uint8_t *body = NULL;
	r = get_replicas(c, k, MCS_GET_HOLD, &g, &body);
	if (r == 0)
		r = make_view(c, k, &g, flags, ret);
	pthread_mutex_unlock(&c->lock);
	return r;
}

MCS_EXPORT int mcs_get_view(struct mcs_client *c, const char *key, struct mcs_view **ret)
{
	return mcs_get_view_flags(c, key, 0, ret);
}

static struct view_priv *view_priv_of(const struct mcs_view *pub)
{
	return (struct view_priv *)((char *)pub - offsetof(struct view_priv, pub));
}

/* Without the handle's lock: it reads only the view, which the caller
 * keeps until mcs_view_release, and hashes with its own state. */
MCS_EXPORT int mcs_view_verify(struct mcs_client *c, const struct mcs_view *pub)
{
	if (!c || !pub)
		return -EINVAL;
	const struct view_priv *v = view_priv_of(pub);
	uint64_t sum;
	int r = view_sum(v->iov, v->pub.n_iov, &sum);
	if (r < 0)
		return r;
	return sum == v->checksum ? 0 : -EBADMSG;
}

MCS_EXPORT void mcs_view_release(struct mcs_client *c, struct mcs_view *pub)
{
	if (!c || !pub)
		return;
	struct view_priv *v = view_priv_of(pub);
	pthread_mutex_lock(&c->lock);
	release_hold(c, mcs_str_c(v->key), v->hold_id, v->gen);
	*v->pprev = v->next;
	if (v->next)
		v->next->pprev = v->pprev;
	free(v->key);
	free(v);
	pthread_mutex_unlock(&c->lock);
}

/* ---- batches: many requests in one write, all answers in one read --------
 *
 * A batch encodes one frame per key back to back, writes them at once and
 * collects the answers, matched by request id (the daemon relays them to
 * the master pipelined as well). N keys thus cost one round trip instead
 * of N, with no new opcode: the protocol already allows pipelining. */

struct answer {
	int status;
	bool got;
	uint32_t len;
	uint8_t *body;
};

static void answers_free(struct answer *a, size_t n)
{
	if (!a)
		return;
	for (size_t i = 0; i < n; i++)
		free(a[i].body);
	free(a);
}

/* c->out holds frames with request ids first .. first+n-1; send them and
 * fill ans[i] with the answer to first+i. Any failure leaves the stream
 * unusable (some answers would still be in flight). */
static int pipeline(struct mcs_client *c, uint64_t first, size_t n, struct answer *ans)
{
	bool *broken;
	int sock = meta_sock(c, &broken);
	if (*broken)
		return -ENOTCONN;
	if (c->out.err)
		return c->out.err;
	int r = write_on(c, sock, c->out.p, c->out.len);
	if (r < 0)
		goto broken;
	for (size_t got = 0; got < n;) {
		if ((r = read_frame_on(c, sock, NULL)) < 0)
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
		struct answer *a = &ans[h.req_id - first];
		*a = (struct answer){ .status = h.status, .got = true, .len = h.body_len, .body = body };
		got++;
	}
	return 0;
broken:
	*broken = true;
	return r;
}

static int batch_args(struct mcs_client *c, size_t n, const char *const *keys, const void *a, const void *b,
		      struct mcs_str **ret_keys)
{
	if (!c || (n && (!keys || !a || !b)) || n > MCS_BATCH_MAX)
		return -EINVAL;
	struct mcs_str *k = calloc(n ? n : 1, sizeof(*k));
	if (!k)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		int r = key_check(keys[i], &k[i]);
		if (r < 0) {
			free(k);
			return r;
		}
	}
	*ret_keys = k;
	return 0;
}

static int put_start_req(const struct mcs_replicate_config *cfg, struct mcs_put_start_req *q)
{
	q->cfg.replica_num = 1;
	if (!cfg)
		return 0;
	if (cfg->size < offsetof(struct mcs_replicate_config, n_locations) + sizeof(cfg->n_locations))
		return -EINVAL;
	if (cfg->replica_num > MCS_MAX_REPLICAS || cfg->n_locations > MCS_MAX_LOCATIONS ||
	    (cfg->n_locations && !cfg->locations))
		return -EINVAL;
	q->cfg.replica_num = cfg->replica_num ? cfg->replica_num : 1;
	q->cfg.flags = cfg->flags;
	q->cfg.n_locations = (uint32_t)cfg->n_locations;
	for (size_t i = 0; i < cfg->n_locations; i++) {
		if (!cfg->locations[i] || !*cfg->locations[i] || strlen(cfg->locations[i]) > MCS_NAME_MAX)
			return -EINVAL;
		q->cfg.locations[i] = mcs_str_c(cfg->locations[i]);
	}
	return 0;
}

/* The copies of a batch put, once every PUT_START is answered: with direct
 * data, every value that starts right goes to all its replicas in one
 * peer_write() (the DATA_WRITEs of all keys pipelined, one wait for their
 * answers); values it could not send go through write_replicas(). */
static int put_batch_write(struct mcs_client *c, size_t n, const struct iovec *values, const struct answer *ans,
			   int *results, uint64_t *checksums)
{
	struct mcs_put_start_resp *resps = calloc(n ? n : 1, sizeof(*resps));
	struct put_reps *prs = calloc(n ? n : 1, sizeof(*prs));
	struct peer_put *items = calloc(n ? n : 1, sizeof(*items));
	size_t *idx = calloc(n ? n : 1, sizeof(*idx)), m = 0;
	int r = resps && prs && items && idx ? 0 : -ENOMEM;
	struct mcs_peers *peers = r == 0 ? direct_peers(c) : NULL;
	for (size_t i = 0; r == 0 && i < n; i++) {
		results[i] = ans[i].status;
		if (ans[i].status < 0)
			continue;
		int e = mcs_dec_put_start_resp(ans[i].body, ans[i].len, &resps[i]);
		uint64_t total = values[i].iov_len;
		if (e == 0)
			e = resps[i].list.n_replicas ? 0 : -EPROTO;
		for (uint32_t j = 0; e == 0 && j < resps[i].list.n_replicas; j++) {
			const struct mcs_replica *rep = &resps[i].list.replicas[j];
			uint64_t sum = 0;
			for (uint32_t h = 0; h < rep->n_handles; h++)
				sum += rep->handles[h].len;
			if (sum != total)
				e = -EPROTO;
			else if (is_local(c, rep))
				e = replica_check(c, rep, total);
		}
		results[i] = e;
		if (e < 0)
			continue;
		if (peers) {
			put_reps_init(c, &resps[i].list, &prs[m]);
			items[m] = (struct peer_put){ .reps = prs[m].remote, .n_reps = prs[m].n_remote,
						      .iov = &values[i], .iovcnt = 1, .size = total };
			idx[m++] = i;
		} else {
			results[i] = write_replicas(c, &values[i], 1, total, &resps[i].list, &checksums[i]);
		}
		if (c->broken)
			r = -ENOTCONN;
	}
	if (r == 0 && m) {
		struct peer_self self = self_of(c);
		r = peer_write(peers, &self, items, m, c->xxh, copy_local, prs);
		for (size_t j = 0; r == 0 && j < m && !c->broken; j++) {
			size_t i = idx[j];
			results[i] = items[j].status;
			if (items[j].status == 0)
				checksums[i] = items[j].sum;
			else if (items[j].status == PEER_UNREACHABLE)
				results[i] = write_replicas(c, &values[i], 1, values[i].iov_len, &resps[i].list,
							    &checksums[i]);
		}
	}
	for (size_t i = 0; r == 0 && i < n; i++)
		if (ans[i].status >= 0 && results[i] >= 0)
			results[i] = (int)resps[i].list.n_replicas;
	if (r == 0 && c->broken)
		r = -ENOTCONN;
	for (size_t i = 0; resps && i < n; i++)
		mcs_replica_list_free(&resps[i].list);
	free(resps);
	free(prs);
	free(items);
	free(idx);
	return r;
}

static int do_put_batch(struct mcs_client *c, size_t n, const struct mcs_str *k, const struct iovec *values,
			const struct mcs_replicate_config *cfg, int *results)
{
	struct mcs_put_start_req q = { .n_slices = 1 };
	int r = put_start_req(cfg, &q);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (values[i].iov_len && !values[i].iov_base)
			return -EINVAL;
	struct answer *ans = calloc(n ? n : 1, sizeof(*ans));
	uint64_t *checksums = calloc(n ? n : 1, sizeof(*checksums));
	if (!ans || !checksums) {
		free(ans);
		free(checksums);
		return -ENOMEM;
	}
	/* 1: every PUT_START at once */
	meta_pick(c);
	mcs_buf_reset(&c->out);
	uint64_t first = c->next_req;
	for (size_t i = 0; i < n; i++) {
		uint64_t one = values[i].iov_len;
		q.key = k[i];
		q.value_len = one;
		q.slice_lens = &one;
		mcs_frame_begin(&c->out, MCS_OP_PUT_START, 0, 0, c->next_req++);
		mcs_enc_put_start_req(&c->out, &q);
		if ((r = mcs_frame_end(&c->out)) < 0)
			goto out;
	}
	if ((r = pipeline(c, first, n, ans)) < 0)
		goto out;
	/* 2: the copies, as mcs_put does them; remote ones all in one go */
	if ((r = put_batch_write(c, n, values, ans, results, checksums)) < 0)
		goto out;
	/* 3: PUT_END for what was written, PUT_REVOKE for what was started
	 * and not written (never for a refused start: the key may be another
	 * client's put in progress on this node) */
	mcs_buf_reset(&c->out);
	first = c->next_req;
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		bool started = ans[i].status >= 0;
		free(ans[i].body);
		ans[i] = (struct answer){ 0 };
		if (!started)
			continue;
		if (results[i] >= 0) {
			struct mcs_put_end_req e = { .key = k[i], .checksum = checksums[i] };
			mcs_frame_begin(&c->out, MCS_OP_PUT_END, 0, 0, c->next_req++);
			mcs_enc_put_end_req(&c->out, &e);
		} else {
			struct mcs_key_req e = { .key = k[i] };
			mcs_frame_begin(&c->out, MCS_OP_PUT_REVOKE, 0, 0, c->next_req++);
			mcs_enc_key_req(&c->out, &e);
		}
		if ((r = mcs_frame_end(&c->out)) < 0)
			goto out;
		checksums[m++] = i; /* reused: frame m is about key i */
	}
	if (m && (r = pipeline(c, first, m, ans)) < 0)
		goto out;
	for (size_t j = 0; j < m; j++) {
		size_t i = (size_t)checksums[j];
		if (results[i] >= 0 && ans[j].status < 0)
			results[i] = ans[j].status;
	}
	int stored = 0;
	for (size_t i = 0; i < n; i++)
		stored += results[i] >= 0;
	r = stored;
out:
	answers_free(ans, n);
	free(checksums);
	return r;
}

MCS_EXPORT int mcs_put_batch(struct mcs_client *c, size_t n, const char *const *keys, const struct iovec *values,
			     const struct mcs_replicate_config *cfg, int *results)
{
	struct mcs_str *k;
	int r = batch_args(c, n, keys, values, results, &k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	r = do_put_batch(c, n, k, values, cfg, results);
	pthread_mutex_unlock(&c->lock);
	free(k);
	return r;
}

/* GET_REPLICAS (or EXIST) for every key at once. */
static int batch_query(struct mcs_client *c, uint16_t op, uint32_t flags, size_t n, const struct mcs_str *k,
		       struct answer **ret)
{
	struct answer *ans = calloc(n ? n : 1, sizeof(*ans));
	if (!ans)
		return -ENOMEM;
	meta_pick(c);
	mcs_buf_reset(&c->out);
	uint64_t first = c->next_req;
	int r = 0;
	for (size_t i = 0; i < n && r == 0; i++) {
		mcs_frame_begin(&c->out, op, 0, 0, c->next_req++);
		if (op == MCS_OP_GET_REPLICAS) {
			struct mcs_get_req q = { .key = k[i], .flags = flags };
			mcs_enc_get_req(&c->out, &q);
		} else {
			struct mcs_key_req q = { .key = k[i] };
			mcs_enc_key_req(&c->out, &q);
		}
		r = mcs_frame_end(&c->out);
	}
	if (r >= 0)
		r = pipeline(c, first, n, ans);
	if (r < 0) {
		answers_free(ans, n);
		return r;
	}
	*ret = ans;
	return 0;
}

/* The copy part of a get, once the replica list is known. Skips replica
 * skip; with defer, stops after the local replicas and sets *defer when a
 * remote one is left for get_batch_remote(). */
static ssize_t get_from(struct mcs_client *c, const struct mcs_get_resp *g, const struct iovec *iov, int iovcnt,
			const struct mcs_replica *skip, bool *defer)
{
	bool bad;
	uint64_t cap = iov_total(iov, iovcnt, &bad);
	if (bad)
		return -EINVAL;
	if (g->size > cap)
		return -ERANGE;
	int r = -ENOENT;
	bool any_corrupt = false;
	for (int pass = 0; pass < 2 && r < 0; pass++) {
		for (uint32_t i = 0; i < g->list.n_replicas && r < 0; i++) {
			const struct mcs_replica *rep = &g->list.replicas[i];
			uint64_t sum = 0;
			for (uint32_t h = 0; h < rep->n_handles; h++)
				sum += rep->handles[h].len;
			if (sum != g->size || is_local(c, rep) != (pass == 0) || rep == skip)
				continue;
			if (pass == 1 && defer) {
				*defer = true;
				return -ENOENT;
			}
			if (pass == 0)
				r = replica_check(c, rep, g->size) < 0 ? -EPROTO
								       : read_local(c, rep, iov, iovcnt, g->checksum);
			else
				r = read_remote(c, rep, g->size, iov, iovcnt, g->checksum);
			any_corrupt |= r == -EBADMSG;
			if (c->broken)
				break;
		}
	}
	if (r < 0 && any_corrupt)
		r = -EBADMSG;
	return r < 0 ? r : (ssize_t)g->size;
}

/* The remote part of a batch get: the first remote replica of every key
 * left by get_from() in one pipelined peer_read(); keys it could not bring
 * go through get_from() again, one by one, with their other replicas. */
static void get_batch_remote(struct mcs_client *c, size_t n, const struct mcs_get_resp *gs, const size_t *idx,
			     const struct iovec *bufs, ssize_t *results)
{
	struct peer_get *items = calloc(n ? n : 1, sizeof(*items));
	struct peer_self self = self_of(c);
	int r = items ? 0 : -ENOMEM;
	for (size_t j = 0; r == 0 && j < n; j++) {
		const struct mcs_get_resp *g = &gs[idx[j]];
		for (uint32_t i = 0; i < g->list.n_replicas && !items[j].rep; i++) {
			const struct mcs_replica *rep = &g->list.replicas[i];
			uint64_t sum = 0;
			for (uint32_t h = 0; h < rep->n_handles; h++)
				sum += rep->handles[h].len;
			if (sum == g->size && !is_local(c, rep))
				items[j] = (struct peer_get){ .rep = rep, .iov = &bufs[idx[j]], .iovcnt = 1,
							      .size = g->size, .checksum = g->checksum };
		}
	}
	if (r == 0)
		r = peer_read(c->peers, &self, items, n, c->xxh);
	for (size_t j = 0; j < n && !c->broken; j++) {
		size_t i = idx[j];
		int st = r < 0 ? r : items[j].status;
		if (st == 0) {
			results[i] = (ssize_t)gs[i].size;
			continue;
		}
		/* unreachable: the same replica through the daemon */
		results[i] = get_from(c, &gs[i], &bufs[i], 1, st == PEER_UNREACHABLE ? NULL : items[j].rep, NULL);
		if (results[i] < 0 && st == -EBADMSG)
			results[i] = -EBADMSG;
	}
	free(items);
}

MCS_EXPORT int mcs_get_batch(struct mcs_client *c, size_t n, const char *const *keys, const struct iovec *bufs,
			     ssize_t *results)
{
	struct mcs_str *k;
	int r = batch_args(c, n, keys, bufs, results, &k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	struct answer *ans = NULL;
	r = batch_query(c, MCS_OP_GET_REPLICAS, 0, n, k, &ans);
	int done = 0;
	/* local replicas now; remote ones all at once afterwards */
	struct mcs_get_resp *gs = r == 0 ? calloc(n ? n : 1, sizeof(*gs)) : NULL;
	size_t *idx = r == 0 ? calloc(n ? n : 1, sizeof(*idx)) : NULL, m = 0;
	if (r == 0 && (!gs || !idx))
		r = -ENOMEM;
	bool direct = r == 0 && direct_peers(c);
	for (size_t i = 0; r == 0 && i < n; i++) {
		results[i] = ans[i].status;
		if (ans[i].status < 0)
			continue;
		int e = mcs_dec_get_resp(ans[i].body, ans[i].len, &gs[i]);
		if (e < 0) {
			results[i] = e;
			continue;
		}
		bool defer = false;
		results[i] = get_from(c, &gs[i], &bufs[i], 1, NULL, direct ? &defer : NULL);
		if (defer)
			idx[m++] = i;
		if (c->broken)
			r = -ENOTCONN;
	}
	if (r == 0 && m)
		get_batch_remote(c, m, gs, idx, bufs, results);
	if (r == 0 && c->broken)
		r = -ENOTCONN;
	for (size_t i = 0; gs && i < n; i++) {
		done += r == 0 && results[i] >= 0;
		mcs_replica_list_free(&gs[i].list);
	}
	free(gs);
	free(idx);
	pthread_mutex_unlock(&c->lock);
	answers_free(ans, n);
	free(k);
	return r < 0 ? r : done;
}

MCS_EXPORT int mcs_exists_batch(struct mcs_client *c, size_t n, const char *const *keys, int *results)
{
	struct mcs_str *k;
	int r = batch_args(c, n, keys, results, results, &k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	struct answer *ans = NULL;
	r = batch_query(c, MCS_OP_EXIST, 0, n, k, &ans);
	pthread_mutex_unlock(&c->lock);
	int present = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		results[i] = ans[i].status == -ENOENT || ans[i].status == -EAGAIN ? 0 : ans[i].status < 0 ? ans[i].status : 1;
		present += results[i] == 1;
	}
	answers_free(ans, n);
	free(k);
	return r < 0 ? r : present;
}

MCS_EXPORT int mcs_get_view_batch_flags(struct mcs_client *c, size_t n, const char *const *keys, unsigned flags,
					struct mcs_view **views, int *results)
{
	struct mcs_str *k;
	if (flags & ~(unsigned)MCS_VIEW_NOVERIFY)
		return -EINVAL;
	int r = batch_args(c, n, keys, views, results, &k);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		views[i] = NULL;
	pthread_mutex_lock(&c->lock);
	struct answer *ans = NULL;
	r = batch_query(c, MCS_OP_GET_REPLICAS, MCS_GET_HOLD, n, k, &ans);
	int done = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		results[i] = ans[i].status;
		if (ans[i].status < 0)
			continue;
		struct mcs_get_resp g;
		results[i] = mcs_dec_get_resp(ans[i].body, ans[i].len, &g);
		if (results[i] == 0)
			results[i] = make_view(c, k[i], &g, flags, &views[i]);
		done += results[i] == 0;
	}
	pthread_mutex_unlock(&c->lock);
	answers_free(ans, n);
	free(k);
	return r < 0 ? r : done;
}

MCS_EXPORT int mcs_get_view_batch(struct mcs_client *c, size_t n, const char *const *keys, struct mcs_view **views,
				  int *results)
{
	return mcs_get_view_batch_flags(c, n, keys, 0, views, results);
}

static int simple(struct mcs_client *c, uint16_t op, const char *key, uint32_t flags)
{
	struct mcs_str k;
	if (!c)
		return -EINVAL;
	int r = key_check(key, &k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	meta_pick(c);
	begin(c, op);
	if (op == MCS_OP_REMOVE) {
		struct mcs_remove_req q = { .key = k, .flags = flags };
		mcs_enc_remove_req(&c->out, &q);
	} else {
		struct mcs_key_req q = { .key = k };
		mcs_enc_key_req(&c->out, &q);
	}
	r = finish(c);
	if (r == 0)
		r = mroundtrip(c);
	pthread_mutex_unlock(&c->lock);
	return r;
}

MCS_EXPORT int mcs_exists(struct mcs_client *c, const char *key)
{
	int r = simple(c, MCS_OP_EXIST, key, 0);
	if (r == -ENOENT || r == -EAGAIN) /* not stored, or not complete yet */
		return 0;
	return r < 0 ? r : 1;
}

MCS_EXPORT int mcs_remove(struct mcs_client *c, const char *key, unsigned flags)
{
	return simple(c, MCS_OP_REMOVE, key, flags);
}

MCS_EXPORT int mcs_remove_all(struct mcs_client *c, uint64_t *ret_count)
{
	if (!c)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	meta_pick(c);
	begin(c, MCS_OP_REMOVE_ALL);
	int r = finish(c);
	if (r == 0)
		r = mroundtrip(c);
	if (r == 0) {
		struct mcs_remove_all_resp resp;
		r = mcs_dec_remove_all_resp(c->in, c->in_hdr.body_len, &resp);
		if (r == 0 && ret_count)
			*ret_count = resp.count;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

MCS_EXPORT int mcs_list_keys(struct mcs_client *c, const char *prefix, uint64_t cursor, size_t max,
			     struct mcs_key_page **ret)
{
	if (!c || !ret || max == 0)
		return -EINVAL;
	struct mcs_list_req q = { .prefix = mcs_str_c(prefix), .cursor = cursor,
				  .limit = (uint32_t)MCS_MIN(max, (size_t)MCS_LIST_MAX) };
	if (q.prefix.len > MCS_KEY_MAX)
		return -ENAMETOOLONG;
	pthread_mutex_lock(&c->lock);
	meta_pick(c);
	begin(c, MCS_OP_LIST);
	mcs_enc_list_req(&c->out, &q);
	int r = finish(c);
	if (r == 0)
		r = mroundtrip(c);
	struct mcs_list_resp resp;
	if (r == 0)
		r = mcs_dec_list_resp(c->in, c->in_hdr.body_len, &resp);
	if (r == 0) {
		/* one allocation: the page, its key pointers, then the keys */
		size_t bytes = sizeof(struct mcs_key_page) + resp.n_keys * sizeof(char *);
		for (uint32_t i = 0; i < resp.n_keys; i++)
			bytes += resp.keys[i].len + 1u;
		struct mcs_key_page *pg = malloc(bytes);
		if (!pg)
			r = -ENOMEM;
		else {
			char **kp = (char **)(pg + 1);
			char *p = (char *)(kp + resp.n_keys);
			pg->next_cursor = resp.next_cursor;
			pg->n_keys = resp.n_keys;
			pg->keys = (const char *const *)kp;
			for (uint32_t i = 0; i < resp.n_keys; i++) {
				kp[i] = p;
				memcpy(p, resp.keys[i].p, resp.keys[i].len);
				p[resp.keys[i].len] = '\0';
				p += resp.keys[i].len + 1u;
			}
			*ret = pg;
		}
		mcs_list_resp_free(&resp);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

MCS_EXPORT struct mcs_key_page *mcs_key_page_free(struct mcs_key_page *page)
{
	free(page);
	return NULL;
}

static void copy_name(char dst[256], struct mcs_str s)
{
	size_t n = MCS_MIN((size_t)s.len, (size_t)255);
	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

MCS_EXPORT int mcs_stat(struct mcs_client *c, struct mcs_stat **ret)
{
	if (!c || !ret)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	begin(c, MCS_OP_STAT);
	int r = finish(c);
	if (r == 0)
		r = roundtrip(c, NULL);
	struct mcs_stat_resp resp;
	if (r == 0)
		r = mcs_dec_stat_resp(c->in, c->in_hdr.body_len, &resp);
	if (r == 0) {
		struct mcs_stat *s = calloc(1, sizeof(*s));
		struct mcs_segment_info *segs = resp.n_segments ? calloc(resp.n_segments, sizeof(*segs)) : NULL;
		if (!s || (resp.n_segments && !segs)) {
			free(s);
			free(segs);
			r = -ENOMEM;
		} else {
			s->n_objects = resp.n_objects;
			s->capacity = resp.capacity;
			s->used = resp.used;
			s->n_segments = resp.n_segments;
			s->segments = segs;
			for (uint32_t i = 0; i < resp.n_segments; i++) {
				copy_name(segs[i].name, resp.segments[i].name);
				copy_name(segs[i].node, resp.segments[i].node);
				segs[i].size = resp.segments[i].size;
				segs[i].used = resp.segments[i].used;
				segs[i].n_allocs = resp.segments[i].n_allocs;
			}
			memcpy(s->local_node, c->node, sizeof(c->node) < 256 ? sizeof(c->node) : 256);
			memcpy(s->local_segment, c->segment, sizeof(c->segment) < 256 ? sizeof(c->segment) : 256);
			s->local_node[255] = s->local_segment[255] = '\0';
			s->local_hugepages = c->seg.hugepages;
			uint64_t k[MCS_STAT_N_] = { 0 };
			for (uint32_t i = 0; i < resp.n_counters && i < MCS_STAT_N_; i++)
				k[i] = resp.counters[i];
			s->evict_runs = k[MCS_STAT_EVICT_RUNS];
			s->evictions = k[MCS_STAT_EVICTIONS];
			s->evicted_bytes = k[MCS_STAT_EVICTED_BYTES];
			s->put_no_space = k[MCS_STAT_PUT_NO_SPACE];
			s->leases_granted = k[MCS_STAT_LEASES_GRANTED];
			s->remove_refused = k[MCS_STAT_REMOVE_REFUSED];
			s->puts_timed_out = k[MCS_STAT_PUTS_TIMED_OUT];
			s->soft_pins_refused = k[MCS_STAT_SOFT_PINS_REFUSED];
			s->nodes_lost = k[MCS_STAT_NODES_LOST];
			*ret = s;
		}
		mcs_stat_resp_free(&resp);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

MCS_EXPORT void mcs_stat_free(struct mcs_stat *s)
{
	if (!s)
		return;
	free(s->segments);
	free(s);
}

MCS_EXPORT int mcs_buffer_alloc(struct mcs_client *c, size_t size, void **ret)
{
	if (!c || !ret || size == 0)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	struct ubuf *b;
	int r = buf_alloc(c, size, &b);
	if (r == 0) {
		b->next = c->bufs;
		c->bufs = b;
		*ret = b->seg.base;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

MCS_EXPORT int mcs_buffer_free(struct mcs_client *c, void *p)
{
	if (!c || !p)
		return -EINVAL;
	pthread_mutex_lock(&c->lock);
	int r = -EINVAL;
	for (struct ubuf **pp = &c->bufs; *pp; pp = &(*pp)->next)
		if ((*pp)->seg.base == p) {
			struct ubuf *b = *pp;
			*pp = b->next;
			buf_release(c, b);
			r = 0;
			break;
		}
	pthread_mutex_unlock(&c->lock);
	return r;
}

MCS_EXPORT int mcs_locate(struct mcs_client *c, const char *key, struct mcs_object_info **ret)
{
	struct mcs_str k;
	if (!c || !ret)
		return -EINVAL;
	int r = key_check(key, &k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	struct mcs_get_resp g;
	_cleanup_free_ uint8_t *body = NULL;
	r = get_replicas(c, k, 0, &g, &body);
	pthread_mutex_unlock(&c->lock);
	if (r < 0)
		return r;
	struct mcs_object_info *info = calloc(1, sizeof(*info));
	if (!info) {
		mcs_replica_list_free(&g.list);
		return -ENOMEM;
	}
	info->size = g.size;
	info->checksum = g.checksum;
	info->replicas = g.list.n_replicas ? calloc(g.list.n_replicas, sizeof(*info->replicas)) : NULL;
	r = g.list.n_replicas && !info->replicas ? -ENOMEM : 0;
	for (uint32_t i = 0; r == 0 && i < g.list.n_replicas; i++) {
		const struct mcs_replica *rep = &g.list.replicas[i];
		struct mcs_replica_location *rl = &info->replicas[info->n_replicas++];
		rl->status = rep->status;
		rl->buffers = rep->n_handles ? calloc(rep->n_handles, sizeof(*rl->buffers)) : NULL;
		if (rep->n_handles && !rl->buffers) {
			r = -ENOMEM;
			break;
		}
		rl->n_buffers = rep->n_handles;
		for (uint32_t h = 0; h < rep->n_handles; h++) {
			copy_name(rl->buffers[h].node, rep->handles[h].node);
			copy_name(rl->buffers[h].segment, rep->handles[h].segment);
			copy_name(rl->buffers[h].endpoint, rep->handles[h].endpoint);
			rl->buffers[h].offset = rep->handles[h].offset;
			rl->buffers[h].len = rep->handles[h].len;
		}
	}
	mcs_replica_list_free(&g.list);
	if (r < 0) {
		mcs_object_info_free(info);
		return r;
	}
	*ret = info;
	return 0;
}

MCS_EXPORT void mcs_object_info_free(struct mcs_object_info *info)
{
	if (!info)
		return;
	for (size_t i = 0; i < info->n_replicas; i++)
		free(info->replicas[i].buffers);
	free(info->replicas);
	free(info);
}
