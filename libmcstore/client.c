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
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <xxhash.h>

#include "common/util.h"
#include "mcstore.h"
#include "proto/proto.h"
#include "shm/shm.h"

#define CHUNK (256u << 10)

struct view_priv {
	struct mcs_view pub;
	char *key;
	uint64_t hold_id;
	struct view_priv *next, **pprev;
	struct iovec iov[];
};

struct mcs_client {
	pthread_mutex_t lock;
	int fd;
	unsigned timeout_ms;
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
};

MCS_EXPORT const char *mcs_version(void) { return PACKAGE_VERSION; }

/* ---- framing over a blocking socket ------------------------------------ */

static int wait_fd(struct mcs_client *c, short events)
{
	struct pollfd p = { .fd = c->fd, .events = events };
	for (;;) {
		int r = poll(&p, 1, (int)c->timeout_ms);
		if (r > 0)
			return 0;
		if (r == 0)
			return MCS_E_TIMEOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int write_all(struct mcs_client *c, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int r = wait_fd(c, POLLOUT);
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

/* Read exactly n bytes; the first read may carry an fd (HELLO). */
static int read_all(struct mcs_client *c, uint8_t *p, size_t n, int *ret_fd)
{
	while (n) {
		ssize_t r;
		if (ret_fd && *ret_fd < 0) {
			/* the fd rides on the first byte of the frame */
			int fd = -1, e = wait_fd(c, POLLIN);
			if (e < 0)
				return e;
			r = mcs_recv_with_fd(c->fd, p, n, &fd);
			if (r < 0)
				return (int)r;
			if (fd >= 0)
				*ret_fd = fd;
		} else {
			r = recv(c->fd, p, n, MSG_DONTWAIT);
		}
		if (r == 0)
			return -ECONNRESET;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				int e = wait_fd(c, POLLIN);
				if (e < 0)
					return e;
				continue;
			}
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Send the frame in c->out and wait for its answer (body in c->in).
 * Returns the response status. ret_fd receives a passed fd (HELLO). */
static int roundtrip(struct mcs_client *c, int *ret_fd)
{
	if (c->broken)
		return -ENOTCONN;
	if (c->out.err)
		return c->out.err;
	int r = write_all(c, c->out.p, c->out.len);
	if (r < 0)
		goto broken;
	uint64_t want = c->next_req - 1;
	for (;;) {
		uint8_t hb[MCS_HDR_SIZE];
		if ((r = read_all(c, hb, sizeof(hb), ret_fd)) < 0)
			goto broken;
		if ((r = mcs_hdr_decode(hb, c->max_body, &c->in_hdr)) < 0)
			goto broken;
		size_t n = c->in_hdr.body_len;
		if (n > c->in_cap) {
			uint8_t *p = realloc(c->in, n);
			if (!p) {
				r = -ENOMEM;
				goto broken;
			}
			c->in = p;
			c->in_cap = n;
		}
		if ((r = read_all(c, c->in, n, NULL)) < 0)
			goto broken;
		if (!(c->in_hdr.flags & MCS_F_RESPONSE)) {
			r = MCS_E_PROTO;
			goto broken;
		}
		if (c->in_hdr.req_id == want)
			return c->in_hdr.status;
		/* an answer to an earlier request that timed out: skip it */
		if (c->in_hdr.req_id > want) {
			r = MCS_E_PROTO;
			goto broken;
		}
	}
broken:
	/* a timeout leaves the answer in flight; later frames resynchronise
	 * by request id, anything else leaves the stream unusable */
	if (r != MCS_E_TIMEOUT)
		c->broken = true;
	return r;
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
		return MCS_E_INVALID;
	size_t n = strnlen(key, MCS_KEY_MAX + 1);
	if (n == 0)
		return MCS_E_INVALID;
	if (n > MCS_KEY_MAX)
		return MCS_E_KEY_TOO_LONG;
	*ret = (struct mcs_str){ key, (uint32_t)n };
	return 0;
}

MCS_EXPORT int mcs_client_new(const struct mcs_client_opts *opts, struct mcs_client **ret)
{
	if (!ret)
		return MCS_E_INVALID;
	const char *path = NULL;
	unsigned timeout = 0;
	if (opts) {
		if (opts->size < offsetof(struct mcs_client_opts, timeout_ms) + sizeof(opts->timeout_ms))
			return MCS_E_INVALID;
		path = opts->socket_path;
		timeout = opts->timeout_ms;
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
	c->seg.fd = -1;
	c->timeout_ms = timeout ? timeout : 30000;
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
		r = MCS_E_PROTO;
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		goto fail;
	}
	memcpy(c->node, hr.node.p, hr.node.len);
	memcpy(c->segment, hr.segment.p, hr.segment.len);
	if (hr.max_body)
		c->max_body = MCS_MAX(hr.max_body, MCS_DEFAULT_MAX_BODY);
	r = mcs_segment_attach(fd, hr.segment_size, &c->seg);
	if (r < 0) {
		close(fd);
		goto fail;
	}
	c->seg.hugepages = hr.flags & MCS_HELLO_HUGEPAGES;
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
	/* closing the socket makes the daemon release our holds */
	if (c->fd >= 0)
		close(c->fd);
	mcs_segment_close(&c->seg);
	mcs_buf_free(&c->out);
	free(c->in);
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
	uint64_t total = 0;
	for (uint32_t h = 0; h < rep->n_handles; h++) {
		const struct mcs_handle *hd = &rep->handles[h];
		if (hd->offset > c->seg.size || hd->len > c->seg.size - hd->offset)
			return MCS_E_PROTO;
		total += hd->len;
	}
	return total == size ? 0 : MCS_E_PROTO;
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
	return r < 0 ? r : roundtrip(c, NULL);
}

/* Copy the source stream into every local replica at once, hashing each
 * chunk just before it is copied. */
static uint64_t write_replicas(struct mcs_client *c, const struct iovec *iov, int iovcnt,
			       const struct mcs_replica_list *l)
{
	uint32_t hidx[MCS_MAX_REPLICAS] = { 0 };
	uint64_t hoff[MCS_MAX_REPLICAS] = { 0 };
	struct cursor cu = { iov, iovcnt, 0, 0 };
	uint8_t *src;
	size_t n;

	XXH3_64bits_reset(c->xxh);
	while ((n = cursor_take(&cu, CHUNK, &src)) > 0) {
		XXH3_64bits_update(c->xxh, src, n);
		for (uint32_t r = 0; r < l->n_replicas; r++) {
			const struct mcs_replica *rep = &l->replicas[r];
			size_t done = 0;
			while (done < n) {
				const struct mcs_handle *hd = &rep->handles[hidx[r]];
				size_t k = MCS_MIN(n - done, hd->len - hoff[r]);
				memcpy((uint8_t *)c->seg.base + hd->offset + hoff[r], src + done, k);
				done += k;
				hoff[r] += k;
				if (hoff[r] == hd->len) {
					hidx[r]++;
					hoff[r] = 0;
				}
			}
		}
	}
	return XXH3_64bits_digest(c->xxh);
}

static int do_putv(struct mcs_client *c, struct mcs_str key, const struct iovec *iov, int iovcnt,
		   const struct mcs_replicate_config *cfg)
{
	bool bad;
	uint64_t total = iov_total(iov, iovcnt, &bad);
	if (bad || iovcnt < 0 || (iovcnt > 0 && !iov))
		return MCS_E_INVALID;

	struct mcs_put_start_req q = { .key = key, .value_len = total, .n_slices = 1 };
	uint64_t one = total;
	q.slice_lens = &one;
	q.cfg.replica_num = 1;
	if (cfg) {
		if (cfg->size < offsetof(struct mcs_replicate_config, n_locations) + sizeof(cfg->n_locations))
			return MCS_E_INVALID;
		if (cfg->replica_num > MCS_MAX_REPLICAS || cfg->n_locations > MCS_MAX_LOCATIONS ||
		    (cfg->n_locations && !cfg->locations))
			return MCS_E_INVALID;
		q.cfg.replica_num = cfg->replica_num ? cfg->replica_num : 1;
		q.cfg.flags = cfg->flags;
		q.cfg.n_locations = (uint32_t)cfg->n_locations;
		for (size_t i = 0; i < cfg->n_locations; i++) {
			if (!cfg->locations[i] || !*cfg->locations[i] || strlen(cfg->locations[i]) > MCS_NAME_MAX)
				return MCS_E_INVALID;
			q.cfg.locations[i] = mcs_str_c(cfg->locations[i]);
		}
	}
	begin(c, MCS_OP_PUT_START);
	mcs_enc_put_start_req(&c->out, &q);
	int r = finish(c);
	if (r < 0)
		return r;
	r = roundtrip(c, NULL);
	if (r < 0)
		return r;
	struct mcs_put_start_resp resp;
	r = mcs_dec_put_start_resp(c->in, c->in_hdr.body_len, &resp);
	if (r < 0) {
		put_revoke(c, key);
		return r;
	}
	r = resp.list.n_replicas ? 0 : MCS_E_PROTO;
	for (uint32_t i = 0; r == 0 && i < resp.list.n_replicas; i++) {
		r = replica_check(c, &resp.list.replicas[i], total);
		if (r == 0 && !is_local(c, &resp.list.replicas[i]))
			r = MCS_E_NOT_LOCAL;
	}
	if (r < 0) {
		mcs_replica_list_free(&resp.list);
		put_revoke(c, key);
		return r;
	}
	uint64_t sum = write_replicas(c, iov, iovcnt, &resp.list);
	int n_rep = (int)resp.list.n_replicas;
	mcs_replica_list_free(&resp.list);

	begin(c, MCS_OP_PUT_END);
	struct mcs_put_end_req e = { .key = key, .checksum = sum };
	mcs_enc_put_end_req(&c->out, &e);
	if ((r = finish(c)) < 0 || (r = roundtrip(c, NULL)) < 0) {
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
		return MCS_E_INVALID;
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
		return MCS_E_INVALID;
	struct iovec iov = { (void *)buf, len };
	return mcs_putv(c, key, &iov, 1, cfg);
}

/* GET_REPLICAS; on success the decoded answer is in *ret (free the list). */
static int get_replicas(struct mcs_client *c, struct mcs_str key, uint32_t flags, struct mcs_get_resp *ret)
{
	begin(c, MCS_OP_GET_REPLICAS);
	struct mcs_get_req q = { .key = key, .flags = flags };
	mcs_enc_get_req(&c->out, &q);
	int r = finish(c);
	if (r < 0 || (r = roundtrip(c, NULL)) < 0)
		return r;
	return mcs_dec_get_resp(c->in, c->in_hdr.body_len, ret);
}

/* Fire and forget: nothing the caller could do about a failed release
 * (the daemon releases whatever is left when we disconnect), so do not
 * wait a round trip for it; roundtrip() skips the late answer. */
static int release_hold(struct mcs_client *c, struct mcs_str key, uint64_t hold_id)
{
	if (c->broken)
		return -ENOTCONN;
	begin(c, MCS_OP_RELEASE);
	struct mcs_release_req q = { .key = key, .hold_id = hold_id };
	mcs_enc_release_req(&c->out, &q);
	int r = finish(c);
	if (r == 0 && (r = write_all(c, c->out.p, c->out.len)) < 0)
		c->broken = true;
	return r;
}

/* Copy one replica into the caller's iovecs, hashing each chunk right
 * after it lands; 0 if the hash matches. */
static int read_replica(struct mcs_client *c, const struct mcs_replica *rep, const struct iovec *iov, int iovcnt,
			uint64_t checksum)
{
	struct cursor cu = { iov, iovcnt, 0, 0 };
	XXH3_64bits_reset(c->xxh);
	for (uint32_t h = 0; h < rep->n_handles; h++) {
		const uint8_t *src = (const uint8_t *)c->seg.base + rep->handles[h].offset;
		uint64_t left = rep->handles[h].len;
		while (left) {
			uint8_t *dst;
			size_t n = cursor_take(&cu, MCS_MIN(left, CHUNK), &dst);
			if (!n)
				return MCS_E_BUF_TOO_SMALL;
			memcpy(dst, src, n);
			XXH3_64bits_update(c->xxh, dst, n);
			src += n;
			left -= n;
		}
	}
	return XXH3_64bits_digest(c->xxh) == checksum ? 0 : MCS_E_CORRUPT;
}

static ssize_t do_getv(struct mcs_client *c, struct mcs_str key, const struct iovec *iov, int iovcnt, size_t *ret_size)
{
	bool bad;
	uint64_t cap = iov_total(iov, iovcnt, &bad);
	if (bad || iovcnt < 0 || (iovcnt > 0 && !iov))
		return MCS_E_INVALID;
	struct mcs_get_resp g;
	int r = get_replicas(c, key, 0, &g);
	if (r < 0)
		return r;
	if (g.size > cap) {
		if (ret_size)
			*ret_size = g.size;
		mcs_replica_list_free(&g.list);
		return MCS_E_BUF_TOO_SMALL;
	}
	r = MCS_E_NOT_LOCAL;
	bool any_corrupt = false;
	for (uint32_t i = 0; i < g.list.n_replicas; i++) {
		const struct mcs_replica *rep = &g.list.replicas[i];
		if (!is_local(c, rep))
			continue;
		if ((r = replica_check(c, rep, g.size)) < 0)
			break;
		r = read_replica(c, rep, iov, iovcnt, g.checksum);
		if (r == 0)
			break;
		any_corrupt |= r == MCS_E_CORRUPT;
	}
	if (r < 0 && any_corrupt)
		r = MCS_E_CORRUPT;
	uint64_t size = g.size;
	mcs_replica_list_free(&g.list);
	if (r < 0)
		return r;
	if (ret_size)
		*ret_size = size;
	return (ssize_t)size;
}

MCS_EXPORT ssize_t mcs_getv(struct mcs_client *c, const char *key, const struct iovec *iov, int iovcnt)
{
	struct mcs_str k;
	if (!c)
		return MCS_E_INVALID;
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
		return MCS_E_INVALID;
	int r = key_check(key, &k);
	if (r < 0)
		return r;
	struct iovec iov = { buf, cap };
	size_t size = 0;
	pthread_mutex_lock(&c->lock);
	ssize_t n = do_getv(c, k, &iov, 1, &size);
	pthread_mutex_unlock(&c->lock);
	if (n == MCS_E_BUF_TOO_SMALL && ret_size)
		*ret_size = size;
	return n;
}

MCS_EXPORT int mcs_get_alloc(struct mcs_client *c, const char *key, void **ret_buf, size_t *ret_len)
{
	if (!ret_buf || !ret_len)
		return MCS_E_INVALID;
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
		if (n != MCS_E_BUF_TOO_SMALL)
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
		if (n != MCS_E_BUF_TOO_SMALL)
			return (int)n;
	}
	return MCS_E_BUSY;
}

MCS_EXPORT int mcs_get_view(struct mcs_client *c, const char *key, struct mcs_view **ret)
{
	struct mcs_str k;
	if (!c || !ret)
		return MCS_E_INVALID;
	int r = key_check(key, &k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
	struct mcs_get_resp g;
	r = get_replicas(c, k, MCS_GET_HOLD, &g);
	if (r < 0)
		goto out;
	const struct mcs_replica *rep = NULL;
	for (uint32_t i = 0; i < g.list.n_replicas && !rep; i++)
		if (is_local(c, &g.list.replicas[i]) && replica_check(c, &g.list.replicas[i], g.size) == 0)
			rep = &g.list.replicas[i];
	r = MCS_E_NOT_LOCAL;
	struct view_priv *v = NULL;
	if (rep) {
		v = calloc(1, sizeof(*v) + rep->n_handles * sizeof(struct iovec));
		if (v)
			v->key = strndup(k.p, k.len);
		r = v && v->key ? 0 : -ENOMEM;
	}
	if (r == 0) {
		XXH3_64bits_reset(c->xxh);
		for (uint32_t h = 0; h < rep->n_handles; h++) {
			v->iov[h].iov_base = (uint8_t *)c->seg.base + rep->handles[h].offset;
			v->iov[h].iov_len = rep->handles[h].len;
			XXH3_64bits_update(c->xxh, v->iov[h].iov_base, v->iov[h].iov_len);
		}
		if (XXH3_64bits_digest(c->xxh) != g.checksum)
			r = MCS_E_CORRUPT;
	}
	if (r < 0) {
		if (v)
			free(v->key);
		free(v);
		if (g.hold_id)
			release_hold(c, k, g.hold_id);
		mcs_replica_list_free(&g.list);
		goto out;
	}
	v->pub.size = g.size;
	v->pub.n_iov = rep->n_handles;
	v->pub.iov = v->iov;
	v->hold_id = g.hold_id;
	v->next = c->views;
	if (c->views)
		c->views->pprev = &v->next;
	v->pprev = &c->views;
	c->views = v;
	mcs_replica_list_free(&g.list);
	*ret = &v->pub;
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

MCS_EXPORT void mcs_view_release(struct mcs_client *c, struct mcs_view *pub)
{
	if (!c || !pub)
		return;
	struct view_priv *v = (struct view_priv *)((char *)pub - offsetof(struct view_priv, pub));
	pthread_mutex_lock(&c->lock);
	release_hold(c, mcs_str_c(v->key), v->hold_id);
	*v->pprev = v->next;
	if (v->next)
		v->next->pprev = v->pprev;
	free(v->key);
	free(v);
	pthread_mutex_unlock(&c->lock);
}

static int simple(struct mcs_client *c, uint16_t op, const char *key, uint32_t flags)
{
	struct mcs_str k;
	if (!c)
		return MCS_E_INVALID;
	int r = key_check(key, &k);
	if (r < 0)
		return r;
	pthread_mutex_lock(&c->lock);
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
		r = roundtrip(c, NULL);
	pthread_mutex_unlock(&c->lock);
	return r;
}

MCS_EXPORT int mcs_exists(struct mcs_client *c, const char *key)
{
	int r = simple(c, MCS_OP_EXIST, key, 0);
	if (r == MCS_E_NOT_FOUND)
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
		return MCS_E_INVALID;
	pthread_mutex_lock(&c->lock);
	begin(c, MCS_OP_REMOVE_ALL);
	int r = finish(c);
	if (r == 0)
		r = roundtrip(c, NULL);
	if (r == 0) {
		struct mcs_remove_all_resp resp;
		r = mcs_dec_remove_all_resp(c->in, c->in_hdr.body_len, &resp);
		if (r == 0 && ret_count)
			*ret_count = resp.count;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
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
		return MCS_E_INVALID;
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
