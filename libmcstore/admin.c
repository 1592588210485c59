/* SPDX-License-Identifier: MIT */
/*
 * The requests that move no value: exists, remove, remove-all, the size of
 * an object, where it is (locate), the keys (LIST pages), and the cluster's
 * statistics (STAT, which the daemon answers with the master's help). What
 * they return is allocated in one piece and read through accessors, so the
 * structs can grow.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "libmcstore/internal.h"

/* EXIST or REMOVE of one key on the metadata link. */
static int key_request(struct mcs_client *c, uint16_t op, const char *key, uint32_t flags)
{
	struct mcs_str k;
	int r = key_check(key, &k);
	if (r < 0 || (r = client_lock(c)) < 0)
		return r;
	meta_pick(c);
	frame_begin(c, op);
	if (op == MCS_OP_REMOVE) {
		struct mcs_remove_req q = { .key = k, .flags = flags };
		mcs_enc_remove_req(&c->out, &q);
	} else {
		struct mcs_key_req q = { .key = k };
		mcs_enc_key_req(&c->out, &q);
	}
	r = frame_finish(c);
	if (r == 0)
		r = meta_roundtrip(c);
	client_unlock(c);
	return r;
}

MCS_EXPORT int mcs_exists(struct mcs_client *c, const char *key)
{
	int r = key_request(c, MCS_OP_EXIST, key, 0);
	if (r == -ENOENT || r == -EAGAIN) /* not stored, or not complete yet */
		return 0;
	return r < 0 ? r : 1;
}

MCS_EXPORT int mcs_remove(struct mcs_client *c, const char *key, unsigned flags)
{
	return key_request(c, MCS_OP_REMOVE, key, flags);
}

MCS_EXPORT int mcs_remove_all(struct mcs_client *c, uint64_t *ret_count)
{
	int r = client_lock(c);
	if (r < 0)
		return r;
	meta_pick(c);
	frame_begin(c, MCS_OP_REMOVE_ALL);
	r = frame_finish(c);
	if (r == 0)
		r = meta_roundtrip(c);
	if (r == 0) {
		struct mcs_remove_all_resp resp;
		r = mcs_dec_remove_all_resp(c->in, c->in_hdr.body_len, &resp);
		if (r == 0 && ret_count)
			*ret_count = resp.count;
	}
	client_unlock(c);
	return r;
}

/* ---- locate, size --------------------------------------------------------- */

/* One allocation: the info, its replicas, their buffers, then the names. */
struct object_info_priv {
	struct mcs_object_info pub;
	struct mcs_replica_info *replicas;
	struct mcs_buffer_location **buffers; /* per replica */
};

/* A GET_REPLICAS that takes no lease and leaves the object as it was. */
static int look(struct mcs_client *c, const char *key, struct mcs_get_resp *g, uint8_t **body)
{
	struct mcs_str k;
	int r = key_check(key, &k);
	if (r < 0 || (r = client_lock(c)) < 0)
		return r;
	r = get_replicas(c, k, MCS_GET_NOLEASE, g, body);
	client_unlock(c);
	return r;
}

MCS_EXPORT int mcs_get_size(struct mcs_client *c, const char *key, uint64_t *ret_size)
{
	if (!ret_size)
		return -EINVAL;
	struct mcs_get_resp g;
	_cleanup_free_ uint8_t *body = NULL;
	int r = look(c, key, &g, &body);
	if (r < 0)
		return r;
	*ret_size = g.size;
	mcs_replica_list_free(&g.list);
	return 0;
}

static char *put_name(char **p, struct mcs_str s)
{
	char *n = *p;
	memcpy(n, s.p, s.len);
	n[s.len] = '\0';
	*p += s.len + 1;
	return n;
}

static struct object_info_priv *object_info_of(const struct mcs_get_resp *g)
{
	const struct mcs_replica_list *l = &g->list;
	size_t nb = 0, names = 0;
	for (uint32_t i = 0; i < l->n_replicas; i++)
		for (uint32_t h = 0; h < l->replicas[i].n_handles; h++) {
			const struct mcs_handle *hd = &l->replicas[i].handles[h];
			nb++;
			names += hd->node.len + hd->segment.len + hd->endpoint.len + 3;
		}
	size_t bytes = sizeof(struct object_info_priv) + l->n_replicas * sizeof(struct mcs_replica_info) +
		       l->n_replicas * sizeof(struct mcs_buffer_location *) + nb * sizeof(struct mcs_buffer_location) +
		       names;
	struct object_info_priv *info = calloc(1, bytes);
	if (!info)
		return NULL;
	info->pub = (struct mcs_object_info){ .size = g->size, .checksum = g->checksum, .n_replicas = l->n_replicas };
	info->replicas = (struct mcs_replica_info *)(info + 1);
	info->buffers = (struct mcs_buffer_location **)(info->replicas + l->n_replicas);
	struct mcs_buffer_location *b = (struct mcs_buffer_location *)(info->buffers + l->n_replicas);
	char *p = (char *)(b + nb);
	for (uint32_t i = 0; i < l->n_replicas; i++) {
		const struct mcs_replica *rep = &l->replicas[i];
		info->replicas[i] = (struct mcs_replica_info){ .status = (enum mcs_replica_status)rep->status,
							       .n_buffers = rep->n_handles };
		info->buffers[i] = b;
		for (uint32_t h = 0; h < rep->n_handles; h++, b++) {
			const struct mcs_handle *hd = &rep->handles[h];
			b->node = put_name(&p, hd->node);
			b->segment = put_name(&p, hd->segment);
			b->endpoint = put_name(&p, hd->endpoint);
			b->offset = hd->offset;
			b->len = hd->len;
		}
	}
	return info;
}

MCS_EXPORT int mcs_locate(struct mcs_client *c, const char *key, struct mcs_object_info **ret)
{
	if (!ret)
		return -EINVAL;
	struct mcs_get_resp g;
	_cleanup_free_ uint8_t *body = NULL;
	int r = look(c, key, &g, &body);
	if (r < 0)
		return r;
	struct object_info_priv *info = object_info_of(&g);
	mcs_replica_list_free(&g.list);
	if (!info)
		return -ENOMEM;
	*ret = &info->pub;
	return 0;
}

static const struct object_info_priv *info_priv_of(const struct mcs_object_info *pub)
{
	return (const struct object_info_priv *)((const char *)pub - offsetof(struct object_info_priv, pub));
}

MCS_EXPORT const struct mcs_replica_info *mcs_object_replica(const struct mcs_object_info *info, size_t r)
{
	return info && r < info->n_replicas ? &info_priv_of(info)->replicas[r] : NULL;
}

MCS_EXPORT const struct mcs_buffer_location *mcs_object_buffer(const struct mcs_object_info *info, size_t r,
							       size_t b)
{
	const struct mcs_replica_info *rep = mcs_object_replica(info, r);
	return rep && b < rep->n_buffers ? &info_priv_of(info)->buffers[r][b] : NULL;
}

MCS_EXPORT struct mcs_object_info *mcs_object_info_free(struct mcs_object_info *info)
{
	if (info)
		free((void *)info_priv_of(info));
	return NULL;
}

/* ---- keys ----------------------------------------------------------------- */

MCS_EXPORT int mcs_list_keys(struct mcs_client *c, const char *prefix, uint64_t cursor, size_t max,
			     struct mcs_key_page **ret)
{
	if (!ret || max == 0)
		return -EINVAL;
	struct mcs_list_req q = { .prefix = mcs_str_c(prefix), .cursor = cursor,
				  .limit = (uint32_t)MCS_MIN(max, (size_t)MCS_LIST_MAX) };
	if (q.prefix.len > MCS_KEY_MAX)
		return -ENAMETOOLONG;
	int r = client_lock(c);
	if (r < 0)
		return r;
	meta_pick(c);
	frame_begin(c, MCS_OP_LIST);
	mcs_enc_list_req(&c->out, &q);
	r = frame_finish(c);
	if (r == 0)
		r = meta_roundtrip(c);
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
			for (uint32_t i = 0; i < resp.n_keys; i++)
				kp[i] = put_name(&p, resp.keys[i]);
			*ret = pg;
		}
		mcs_list_resp_free(&resp);
	}
	client_unlock(c);
	return r;
}

MCS_EXPORT struct mcs_key_page *mcs_key_page_free(struct mcs_key_page *page)
{
	free(page);
	return NULL;
}

/* ---- statistics ----------------------------------------------------------- */

struct stat_priv {
	struct mcs_stat pub;
	struct mcs_segment_info *segments;
};

static struct stat_priv *stat_of(const struct mcs_client *c, const struct mcs_stat_resp *resp)
{
	size_t names = strlen(c->node) + strlen(c->segment) + 2;
	for (uint32_t i = 0; i < resp->n_segments; i++)
		names += resp->segments[i].name.len + resp->segments[i].node.len + 2;
	struct stat_priv *s = calloc(1, sizeof(*s) + resp->n_segments * sizeof(struct mcs_segment_info) + names);
	if (!s)
		return NULL;
	s->segments = (struct mcs_segment_info *)(s + 1);
	char *p = (char *)(s->segments + resp->n_segments);
	struct mcs_stat *st = &s->pub;
	st->n_objects = resp->n_objects;
	st->capacity = resp->capacity;
	st->used = resp->used;
	st->n_segments = resp->n_segments;
	for (uint32_t i = 0; i < resp->n_segments; i++) {
		const struct mcs_seg_stat *g = &resp->segments[i];
		s->segments[i] = (struct mcs_segment_info){ .size = g->size, .used = g->used, .n_allocs = g->n_allocs };
		s->segments[i].name = put_name(&p, g->name);
		s->segments[i].node = put_name(&p, g->node);
	}
	st->local_node = put_name(&p, mcs_str_c(c->node));
	st->local_segment = put_name(&p, mcs_str_c(c->segment));
	st->local_hugepages = c->seg.hugepages;
	uint64_t k[MCS_STAT_N_] = { 0 };
	for (uint32_t i = 0; i < resp->n_counters && i < MCS_STAT_N_; i++)
		k[i] = resp->counters[i];
	st->evict_runs = k[MCS_STAT_EVICT_RUNS];
	st->evictions = k[MCS_STAT_EVICTIONS];
	st->evicted_bytes = k[MCS_STAT_EVICTED_BYTES];
	st->put_no_space = k[MCS_STAT_PUT_NO_SPACE];
	st->leases_granted = k[MCS_STAT_LEASES_GRANTED];
	st->remove_refused = k[MCS_STAT_REMOVE_REFUSED];
	st->puts_timed_out = k[MCS_STAT_PUTS_TIMED_OUT];
	st->soft_pins_refused = k[MCS_STAT_SOFT_PINS_REFUSED];
	st->nodes_lost = k[MCS_STAT_NODES_LOST];
	return s;
}

MCS_EXPORT int mcs_stat(struct mcs_client *c, struct mcs_stat **ret)
{
	if (!ret)
		return -EINVAL;
	int r = client_lock(c);
	if (r < 0)
		return r;
	frame_begin(c, MCS_OP_STAT);
	r = frame_finish(c);
	if (r == 0)
		r = link_roundtrip(c, &c->daemon, NULL);
	struct mcs_stat_resp resp;
	if (r == 0)
		r = mcs_dec_stat_resp(c->in, c->in_hdr.body_len, &resp);
	if (r == 0) {
		struct stat_priv *s = stat_of(c, &resp);
		mcs_stat_resp_free(&resp);
		if (s)
			*ret = &s->pub;
		else
			r = -ENOMEM;
	}
	client_unlock(c);
	return r;
}

static const struct stat_priv *stat_priv_of(const struct mcs_stat *pub)
{
	return (const struct stat_priv *)((const char *)pub - offsetof(struct stat_priv, pub));
}

MCS_EXPORT const struct mcs_segment_info *mcs_stat_segment(const struct mcs_stat *s, size_t i)
{
	return s && i < s->n_segments ? &stat_priv_of(s)->segments[i] : NULL;
}

MCS_EXPORT struct mcs_stat *mcs_stat_free(struct mcs_stat *s)
{
	if (s)
		free((void *)stat_priv_of(s));
	return NULL;
}
