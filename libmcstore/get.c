/* SPDX-License-Identifier: MIT */
/*
 * Get: GET_REPLICAS (which leases the object), then the local replica
 * (memcpy, hashing what landed), else a remote one straight from its node
 * into the caller's memory (or through the daemon); on a failed transfer or
 * a checksum mismatch the next replica, then -EBADMSG. Batches pipeline
 * every GET_REPLICAS, copy the local replicas, then bring every remote one
 * in one pipelined read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "libmcstore/internal.h"
#include "libmcstore/peer.h"

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

/* One local replica into the caller's iovecs; 0 if the hash matches. */
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

/* A remote replica through the daemon: straight into the caller's memory
 * when it is a registered buffer, else a window at a time through the
 * staging buffer (one copy, hashed as it lands in the caller's memory). */
static int read_relayed(struct mcs_client *c, const struct mcs_replica *rep, uint64_t size, const struct iovec *iov,
			int iovcnt, uint64_t checksum)
{
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

/* A remote replica straight from the node holding it (peer.c), else
 * through the daemon. */
static int read_remote(struct mcs_client *c, const struct mcs_replica *rep, uint64_t size, const struct iovec *iov,
		       int iovcnt, uint64_t checksum)
{
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
	return read_relayed(c, rep, size, iov, iovcnt, checksum);
}

/* The copy part of a get, once the replica list is known. Skips replica
 * skip; with defer, stops after the local replicas and sets *defer when a
 * remote one is left for get_batch_remote(). */
static ssize_t get_from(struct mcs_client *c, const struct mcs_get_resp *g, const struct iovec *iov, int iovcnt,
			const struct mcs_replica *skip, bool *defer)
{
	uint64_t cap;
	if (iov_total(iov, iovcnt, &cap) < 0)
		return -EINVAL;
	if (g->size > cap)
		return -ERANGE;
	int r = -ENOENT;
	bool any_corrupt = false;
	for (int pass = 0; pass < 2 && r < 0; pass++) {
		for (uint32_t i = 0; i < g->list.n_replicas && r < 0; i++) {
			const struct mcs_replica *rep = &g->list.replicas[i];
			if (replica_bytes(rep) != g->size || is_local(c, rep) != (pass == 0) || rep == skip)
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
			if (c->daemon.broken)
				break;
		}
	}
	if (r < 0 && any_corrupt)
		r = -EBADMSG;
	return r < 0 ? r : (ssize_t)g->size;
}

MCS_EXPORT ssize_t mcs_getv(struct mcs_client *c, const char *key, const struct iovec *iov, int iovcnt)
{
	struct mcs_str k;
	uint64_t cap;
	int r = key_check(key, &k);
	if (r == 0)
		r = iov_total(iov, iovcnt, &cap);
	if (r < 0 || (r = client_lock(c)) < 0)
		return r;
	struct mcs_get_resp g;
	_cleanup_free_ uint8_t *body = NULL;
	ssize_t n = get_replicas(c, k, 0, &g, &body);
	if (n == 0) {
		/* local replicas first (a memcpy), then remote ones; on a
		 * failed transfer or a checksum mismatch, the next replica */
		n = g.size > cap ? -ERANGE : get_from(c, &g, iov, iovcnt, NULL, NULL);
		mcs_replica_list_free(&g.list);
	}
	client_unlock(c);
	return n;
}

MCS_EXPORT ssize_t mcs_get(struct mcs_client *c, const char *key, void *buf, size_t cap)
{
	if (cap && !buf)
		return -EINVAL;
	struct iovec iov = { buf, cap };
	return mcs_getv(c, key, &iov, 1);
}

MCS_EXPORT int mcs_get_alloc(struct mcs_client *c, const char *key, void **ret_buf, size_t *ret_len)
{
	if (!ret_buf || !ret_len)
		return -EINVAL;
	/* the size first (no lease), then the bytes; a key removed and put
	 * again with another size in between makes the get say -ERANGE:
	 * look again, a few times */
	for (int attempt = 0; attempt < 4; attempt++) {
		uint64_t size;
		int r = mcs_get_size(c, key, &size);
		if (r < 0)
			return r;
		if (size > SIZE_MAX - 1)
			return -ENOMEM;
		void *buf = malloc(size ? size : 1);
		if (!buf)
			return -ENOMEM;
		ssize_t n = mcs_get(c, key, buf, size);
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

/* ---- batches -------------------------------------------------------------- */

/* GET_REPLICAS (or EXIST) for every key at once. */
static int batch_query(struct mcs_client *c, uint16_t op, uint32_t flags, size_t n, const struct mcs_str *k,
		       struct answer **ret)
{
	struct answer *ans = calloc(n ? n : 1, sizeof(*ans));
	if (!ans)
		return -ENOMEM;
	c->hold_op = flags & MCS_GET_HOLD;
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
		r = meta_pipeline(c, first, n, ans);
	if (r < 0) {
		answers_free(ans, n);
		return r;
	}
	*ret = ans;
	return 0;
}

int get_batch_query(struct mcs_client *c, uint32_t flags, size_t n, const struct mcs_str *k, struct answer **ret)
{
	return batch_query(c, MCS_OP_GET_REPLICAS, flags, n, k, ret);
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
			if (replica_bytes(rep) == g->size && !is_local(c, rep))
				items[j] = (struct peer_get){ .rep = rep, .iov = &bufs[idx[j]], .iovcnt = 1,
							      .size = g->size, .checksum = g->checksum };
		}
	}
	if (r == 0)
		r = peer_read(c->peers, &self, items, n, c->xxh);
	for (size_t j = 0; j < n && !c->daemon.broken; j++) {
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

static int do_get_batch(struct mcs_client *c, size_t n, const struct mcs_str *k, const struct iovec *bufs,
			ssize_t *results)
{
	struct answer *ans = NULL;
	int r = batch_query(c, MCS_OP_GET_REPLICAS, 0, n, k, &ans);
	if (r < 0)
		return r;
	/* local replicas now; remote ones all at once afterwards */
	struct mcs_get_resp *gs = calloc(n ? n : 1, sizeof(*gs));
	size_t *idx = calloc(n ? n : 1, sizeof(*idx)), m = 0;
	if (!gs || !idx)
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
		if (c->daemon.broken)
			r = -ENOTCONN;
	}
	if (r == 0 && m)
		get_batch_remote(c, m, gs, idx, bufs, results);
	if (r == 0 && c->daemon.broken)
		r = -ENOTCONN;
	int done = 0;
	for (size_t i = 0; gs && i < n; i++) {
		done += r == 0 && results[i] >= 0;
		mcs_replica_list_free(&gs[i].list);
	}
	free(gs);
	free(idx);
	answers_free(ans, n);
	return r < 0 ? r : done;
}

MCS_EXPORT int mcs_get_batch(struct mcs_client *c, size_t n, const char *const *keys, const struct iovec *bufs,
			     ssize_t *results)
{
	struct mcs_str *k;
	if (n && (!bufs || !results))
		return -EINVAL;
	int r = batch_keys(n, keys, &k);
	if (r < 0)
		return r;
	if ((r = client_lock(c)) == 0) {
		r = do_get_batch(c, n, k, bufs, results);
		client_unlock(c);
	}
	free(k);
	return r;
}

MCS_EXPORT int mcs_exists_batch(struct mcs_client *c, size_t n, const char *const *keys, int *results)
{
	struct mcs_str *k;
	if (n && !results)
		return -EINVAL;
	int r = batch_keys(n, keys, &k);
	if (r < 0)
		return r;
	struct answer *ans = NULL;
	if ((r = client_lock(c)) == 0) {
		r = batch_query(c, MCS_OP_EXIST, 0, n, k, &ans);
		client_unlock(c);
	}
	int present = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		/* not stored, or its put not ended: not there (yet) */
		int st = ans[i].status;
		results[i] = st == -ENOENT || st == -EAGAIN ? 0 : st < 0 ? st : 1;
		present += results[i] == 1;
	}
	answers_free(ans, n);
	free(k);
	return r < 0 ? r : present;
}
