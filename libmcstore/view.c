/* SPDX-License-Identifier: MIT */
/*
 * Zero-copy views: a get with a hold instead of a lease, on a replica in
 * the local segment; the object cannot be removed until the view is
 * released (or the client dies). Its bytes are hashed in place before it is
 * returned, unless the caller asks for MCS_VIEW_NOVERIFY (one round trip
 * whatever the size); the view keeps the checksum so mcs_view_verify() can
 * hash it later, without the handle's lock. A view holds a reference on
 * its handle, and remembers the link its hold was taken on.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "libmcstore/internal.h"

struct view_priv {
	struct mcs_view pub;
	struct mcs_client *c;     /* a reference */
	char *key;
	uint64_t hold_id;
	uint64_t checksum;        /* recorded at PutEnd, for mcs_view_verify */
	struct mcs_link *link;    /* the link holding it, and its generation then */
	uint64_t gen;
	const void *map;          /* the mapping it points into (the handle's, then) */
	struct iovec iov[];
};

static struct view_priv *view_priv_of(const struct mcs_view *pub)
{
	return (struct view_priv *)((char *)pub - offsetof(struct view_priv, pub));
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

int make_view(struct mcs_client *c, struct mcs_str k, struct mcs_get_resp *g, unsigned flags, struct mcs_view **ret)
{
	const struct mcs_replica *rep = NULL;
	/* -EREMOTE when no replica is here; a local one that does not pass
	 * the check is the master's error, not the lack of a replica */
	int r = -EREMOTE;
	for (uint32_t i = 0; i < g->list.n_replicas && !rep; i++)
		if (is_local(c, &g->list.replicas[i])) {
			if (replica_check(c, &g->list.replicas[i], g->size) == 0)
				rep = &g->list.replicas[i];
			else
				r = -EPROTO;
		}
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
			release_hold(c, c->meta, c->meta->gen, k, g->hold_id);
		mcs_replica_list_free(&g->list);
		return r;
	}
	v->pub.size = g->size;
	v->pub.n_iov = rep->n_handles;
	v->pub.iov = v->iov;
	v->c = mcs_client_ref(c);
	v->hold_id = g->hold_id;
	v->checksum = g->checksum;
	v->link = c->meta;
	v->gen = c->meta->gen;
	v->map = c->seg.base;
	c->seg_views++;
	mcs_replica_list_free(&g->list);
	*ret = &v->pub;
	return 0;
}

MCS_EXPORT int mcs_get_view(struct mcs_client *c, const char *key, unsigned flags, struct mcs_view **ret)
{
	struct mcs_str k;
	if (!ret || (flags & ~(unsigned)MCS_VIEW_NOVERIFY))
		return -EINVAL;
	int r = key_check(key, &k);
	if (r < 0 || (r = client_lock(c)) < 0)
		return r;
	struct mcs_get_resp g;
	_cleanup_free_ uint8_t *body = NULL;
	/* a read-only handle maps no segment: nothing is local to it */
	r = c->seg.base ? get_replicas(c, k, MCS_GET_HOLD, &g, &body) : -EREMOTE;
	if (r == 0)
		r = make_view(c, k, &g, flags, ret);
	client_unlock(c);
	return r;
}

/* Without the handle's lock: it reads only the view, which the caller
 * keeps until mcs_view_release, and hashes with its own state. */
MCS_EXPORT int mcs_view_verify(const struct mcs_view *pub)
{
	if (!pub)
		return -EINVAL;
	const struct view_priv *v = view_priv_of(pub);
	uint64_t sum;
	int r = view_sum(v->iov, v->pub.n_iov, &sum);
	if (r < 0)
		return r;
	return sum == v->checksum ? 0 : -EBADMSG;
}

MCS_EXPORT struct mcs_view *mcs_view_release(struct mcs_view *pub)
{
	if (!pub)
		return NULL;
	struct view_priv *v = view_priv_of(pub);
	struct mcs_client *c = v->c;
	/* in a child after fork the hold is the parent's to release */
	if (client_lock(c) == 0) {
		release_hold(c, v->link, v->gen, mcs_str_c(v->key), v->hold_id);
		view_unmapped(c, v->map);
		client_unlock(c);
	}
	free(v->key);
	free(v);
	mcs_client_unref(c);
	return NULL;
}

MCS_EXPORT int mcs_get_view_batch(struct mcs_client *c, size_t n, const char *const *keys, unsigned flags,
				  struct mcs_view **views, int *results)
{
	struct mcs_str *k;
	if ((flags & ~(unsigned)MCS_VIEW_NOVERIFY) || (n && (!views || !results)))
		return -EINVAL;
	int r = batch_keys(n, keys, &k);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		views[i] = NULL;
	if ((r = client_lock(c)) < 0) {
		free(k);
		return r;
	}
	struct answer *ans = NULL;
	if (!c->seg.base) { /* a read-only handle: nothing is local */
		for (size_t i = 0; i < n; i++)
			results[i] = -EREMOTE;
		client_unlock(c);
		free(k);
		return 0;
	}
	r = get_batch_query(c, MCS_GET_HOLD, n, k, &ans);
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
	client_unlock(c);
	answers_free(ans, n);
	free(k);
	return r < 0 ? r : done;
}
