/* SPDX-License-Identifier: MIT */
/*
 * Transfer planning (see xfer.h): chunks, ranges, the per-endpoint pools of
 * links and their FIFOs, the DATA_* request body.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "xfer/xfer.h"

bool mcs_xfer_check(const struct mcs_handle *hs, uint32_t n, struct mcs_str segment, uint64_t size,
		    uint64_t *ret_total)
{
	uint64_t total = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct mcs_handle *hd = &hs[i];
		if (total + hd->len < total)
			return false;
		if (mcs_str_eq(hd->segment, segment) && !mcs_xfer_range_ok(hd->offset, hd->len, size))
			return false;
		total += hd->len;
	}
	if (ret_total)
		*ret_total = total;
	return true;
}

bool mcs_xfer_cut_next(struct mcs_xfer_cut *cu, struct mcs_xfer_chunk *ret)
{
	while (cu->h < cu->n && cu->off >= cu->hs[cu->h].len) {
		cu->voff += cu->hs[cu->h].len;
		cu->h++;
		cu->off = 0;
	}
	if (cu->h >= cu->n)
		return false;
	const struct mcs_handle *hd = &cu->hs[cu->h];
	*ret = (struct mcs_xfer_chunk){ .hd = hd, .voff = cu->voff + cu->off, .roff = hd->offset + cu->off,
					.len = MCS_MIN(MCS_XFER_CHUNK, hd->len - cu->off) };
	cu->off += ret->len;
	return true;
}

size_t mcs_xfer_count(const struct mcs_handle *hs, uint32_t n)
{
	size_t k = 0;
	for (uint32_t i = 0; i < n; i++)
		k += (size_t)((hs[i].len + MCS_XFER_CHUNK - 1) / MCS_XFER_CHUNK);
	return k;
}

uint32_t mcs_xfer_window(const struct mcs_handle *hs, uint32_t n, uint64_t off, uint64_t len,
			 struct mcs_handle *out)
{
	uint32_t k = 0;
	uint64_t pos = 0;
	for (uint32_t h = 0; h < n && len > 0; h++) {
		const struct mcs_handle *hd = &hs[h];
		if (off < pos + hd->len) {
			uint64_t skip = off > pos ? off - pos : 0;
			uint64_t take = MCS_MIN(hd->len - skip, len);
			out[k] = *hd;
			out[k].offset += skip;
			out[k].len = take;
			k++;
			off += take;
			len -= take;
		}
		pos += hd->len;
	}
	return k;
}

void mcs_xfer_enc_req(struct mcs_buf *b, const struct mcs_xfer_chunk *ch)
{
	struct mcs_data_req q = { .segment = ch->hd->segment, .offset = ch->roff, .len = ch->len,
				  .incarnation = ch->hd->incarnation, .endpoint = ch->hd->endpoint,
				  .token = ch->hd->token };
	mcs_enc_data_req(b, &q);
}

int mcs_xfer_dec_read(const uint8_t *body, size_t len, uint64_t want)
{
	struct mcs_data_resp resp;
	if (mcs_dec_data_resp(body, len, &resp) < 0 || resp.len != want)
		return -EPROTO;
	return 0;
}

int mcs_xfer_segment_cmp(const struct mcs_xfer_chunk *a, const struct mcs_xfer_chunk *b)
{
	const struct mcs_handle *x = a->hd, *y = b->hd;
	int d = mcs_str_cmp(x->endpoint, y->endpoint);
	if (d == 0)
		d = mcs_str_cmp(x->segment, y->segment);
	if (d == 0 && x->incarnation != y->incarnation)
		d = x->incarnation < y->incarnation ? -1 : 1;
	return d;
}

bool mcs_xfer_same_segment(const struct mcs_xfer_chunk *a, const struct mcs_xfer_chunk *b)
{
	return mcs_xfer_segment_cmp(a, b) == 0;
}

void mcs_xfer_enc_readv(struct mcs_buf *b, struct mcs_xfer_chunk *const *chs, uint32_t n)
{
	struct mcs_data_range rs[MCS_MAX_READV];
	if (n == 0 || n > MCS_MAX_READV) {
		b->err = b->err ? b->err : -EINVAL;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		if (!mcs_xfer_same_segment(chs[0], chs[i])) {
			b->err = b->err ? b->err : -EINVAL;
			return;
		}
		rs[i] = (struct mcs_data_range){ .offset = chs[i]->roff, .len = chs[i]->len, .token = chs[i]->hd->token };
	}
	const struct mcs_handle *hd = chs[0]->hd;
	struct mcs_data_readv_req q = { .segment = hd->segment, .incarnation = hd->incarnation,
					.endpoint = hd->endpoint, .n_ranges = n, .ranges = rs };
	mcs_enc_data_readv_req(b, &q);
}

/* ---- links and pools ------------------------------------------------------ */

void mcs_xfer_push(struct mcs_xfer_link *l, struct mcs_xfer_chunk *ch)
{
	ch->next = NULL;
	if (l->tail)
		l->tail->next = ch;
	else
		l->head = ch;
	l->tail = ch;
	l->inflight += ch->len;
}

struct mcs_xfer_chunk *mcs_xfer_pop(struct mcs_xfer_link *l)
{
	struct mcs_xfer_chunk *ch = l->head;
	if (!ch)
		return NULL;
	l->head = ch->next;
	if (!l->head)
		l->tail = NULL;
	l->inflight -= ch->len;
	return ch;
}

void mcs_xfer_leave(struct mcs_xfer_link *l)
{
	if (l->pool)
		for (int i = 0; i < MCS_XFER_POOL; i++)
			if (l->pool->links[i] == l)
				l->pool->links[i] = NULL;
	l->pool = NULL;
}

int mcs_xfer_pool_get(struct mcs_xfer_pool **pools, struct mcs_str endpoint, struct mcs_xfer_pool **ret)
{
	if (endpoint.len == 0 || endpoint.len > MCS_NAME_MAX)
		return -EREMOTE;
	for (struct mcs_xfer_pool *p = *pools; p; p = p->next)
		if (mcs_str_eq(mcs_str_c(p->endpoint), endpoint)) {
			*ret = p;
			return 0;
		}
	struct mcs_xfer_pool *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	memcpy(p->endpoint, endpoint.p, endpoint.len);
	p->next = *pools;
	*pools = p;
	*ret = p;
	return 0;
}

int mcs_xfer_pick(struct mcs_xfer_pool *p, enum mcs_xfer_pick how, const struct mcs_xfer_pool_ops *ops, void *arg,
		  struct mcs_xfer_link **ret)
{
	struct mcs_xfer_link *best = NULL;
	int free_slot = -1;
	for (int i = 0; i < MCS_XFER_POOL; i++) {
		struct mcs_xfer_link *l = p->links[i];
		if (l && ops->usable(l, arg)) {
			if (!best || l->inflight < best->inflight)
				best = l;
		} else if (!p->links[i] && free_slot < 0) {
			free_slot = i; /* empty, or emptied by usable() */
		}
	}
	bool open = how == MCS_XFER_SPREAD ? !best || best->inflight > 0 : how == MCS_XFER_ANY && !best;
	if (open && free_slot >= 0) {
		struct mcs_xfer_link *l;
		int r = ops->open(p, arg, &l);
		if (r == 0) {
			l->pool = p;
			p->links[free_slot] = l;
			best = l;
		} else if (!best) {
			return r;
		}
	}
	if (!best)
		return -ECONNREFUSED;
	*ret = best;
	return 0;
}

void mcs_xfer_pools_free(struct mcs_xfer_pool **pools, void (*drop)(struct mcs_xfer_link *l))
{
	while (*pools) {
		struct mcs_xfer_pool *p = *pools;
		*pools = p->next;
		for (int i = 0; i < MCS_XFER_POOL; i++)
			if (p->links[i]) {
				struct mcs_xfer_link *l = p->links[i];
				mcs_xfer_leave(l);
				if (drop)
					drop(l);
			}
		free(p);
	}
}
