/* SPDX-License-Identifier: MIT */
/*
 * The messages with arrays, written by hand (BY_HAND in messages.def):
 * PUT_START's request (slices, preferred locations), the replica lists of
 * PUT_START's and GET_REPLICAS' answers, FETCH/PUSH's handles, DATA_READV's
 * ranges, LIST's keys and STAT's segments and counters.
 *
 * Decoders treat their input as hostile: every count is checked against
 * its protocol limit and against the bytes actually present before
 * anything is allocated for it. A decoder fills *ret as it goes: *ret
 * starts zeroed, and a failure frees it with the message's free function,
 * which zeroes it again. Encoders enforce the same limits, so a frame that
 * mcs_frame_end() accepts is one that the peer's decoder accepts.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mcstore.h"
#include "proto/proto.h"
#include "proto/wire.h"

/* Smallest wire size of the repeated elements, used to bound counts by the
 * bytes remaining before allocating arrays for them. */
#define SLICE_WIRE_MIN 8u               /* u64 */
#define LOCATION_WIRE_MIN 2u            /* empty string */
#define REPLICA_WIRE_MIN (1u + 4u)      /* status, n_handles */
#define HANDLE_WIRE_MIN (4u * 2u + 24u) /* four empty strings, offset, len, incarnation */
#define KEY_WIRE_MIN 3u                 /* a 1-byte key */
#define SEG_STAT_WIRE_MIN (2u * 2u + 24u)
#define COUNTER_WIRE_MIN 8u             /* u64 */
#define RANGE_WIRE_MIN (2u * 8u + 2u)   /* offset, len, empty token */

/* The array of a count n just read (NULL for none), once rd_count()
 * allowed it; *s is its status. */
static void *rd_array(struct mcs_rd *r, uint32_t n, uint32_t limit, size_t min_wire, size_t elem, int *s)
{
	void *a;

	*s = rd_count(r, n, limit, min_wire);
	if (*s < 0 || n == 0)
		return NULL;
	a = calloc(n, elem);
	if (!a)
		*s = rd_fail(r, -ENOMEM);
	return a;
}

/* Whether a count is within its limit; if not, the encoder fails. */
static bool count_ok(struct mcs_buf *b, uint32_t n, uint32_t limit)
{
	if (n <= limit)
		return true;
	buf_fail(b, -EMSGSIZE);
	return false;
}

/* The last step of a decoder that has gone well so far: no byte left over. */
static int rd_end(struct mcs_rd *r, int s)
{
	return s == 0 ? rd_finish(r) : s;
}

/* mcs_put_start_req_free, mcs_transfer_req_free, mcs_list_resp_free and
 * mcs_stat_resp_free: each message holds one allocation, its array. */
#define FREE_ARRAY_MSG(name, array)                     \
	void mcs_##name##_free(struct mcs_##name *m)    \
	{                                               \
		if (!m)                                 \
			return;                         \
		free(m->array);                         \
		memset(m, 0, sizeof(*m));               \
	}
FREE_ARRAY_MSG(put_start_req, slice_lens)
FREE_ARRAY_MSG(transfer_req, handles)
FREE_ARRAY_MSG(data_readv_req, ranges)
FREE_ARRAY_MSG(list_resp, keys)
FREE_ARRAY_MSG(stat_resp, segments)

/* ---- PUT_START -------------------------------------------------------------- */

static void enc_replicate_cfg(struct mcs_buf *b, const struct mcs_replicate_cfg *c)
{
	if (!count_ok(b, c->replica_num, MCS_MAX_REPLICAS) || !count_ok(b, c->n_locations, MCS_MAX_LOCATIONS))
		return;
	buf_u32(b, c->replica_num);
	buf_u32(b, c->flags);
	buf_u16(b, (uint16_t)c->n_locations);
	for (uint32_t i = 0; i < c->n_locations; i++)
		put_name(b, c->locations[i]);
}

static int rd_replicate_cfg(struct mcs_rd *r, struct mcs_replicate_cfg *c)
{
	int s;

	c->replica_num = rd_u32(r);
	c->flags = rd_u32(r);
	c->n_locations = rd_u16(r);
	if (!r->err && c->replica_num > MCS_MAX_REPLICAS)
		return rd_fail(r, -EMSGSIZE);
	s = rd_count(r, c->n_locations, MCS_MAX_LOCATIONS, LOCATION_WIRE_MIN);
	if (s < 0)
		return s;
	for (uint32_t i = 0; i < c->n_locations; i++)
		rd_name(r, &c->locations[i]);
	return r->err;
}

void mcs_enc_put_start_req(struct mcs_buf *b, const struct mcs_put_start_req *m)
{
	uint64_t sum = 0;

	put_key(b, m->key);
	if (!count_ok(b, m->n_slices, MCS_MAX_SLICES))
		return;
	for (uint32_t i = 0; i < m->n_slices; i++)
		if (__builtin_add_overflow(sum, m->slice_lens[i], &sum)) {
			buf_fail(b, -EINVAL);
			return;
		}
	if (sum != m->value_len) {
		buf_fail(b, -EINVAL);
		return;
	}
	buf_u64(b, m->value_len);
	buf_u32(b, m->n_slices);
	if (buf_reserve(b, (size_t)m->n_slices * 8) < 0)
		return;
	for (uint32_t i = 0; i < m->n_slices; i++)
		buf_u64(b, m->slice_lens[i]);
	enc_replicate_cfg(b, &m->cfg);
}

int mcs_dec_put_start_req(const void *body, size_t n, struct mcs_put_start_req *ret)
{
	struct mcs_put_start_req *m = ret;
	struct mcs_rd r;
	uint64_t sum = 0;
	int s;

	*m = (struct mcs_put_start_req){ 0 };
	rd_begin(&r, body, n);
	s = rd_key(&r, &m->key);
	if (s < 0)
		return s; /* *m is still all zeroes */
	m->value_len = rd_u64(&r);
	m->n_slices = rd_u32(&r);
	m->slice_lens = rd_array(&r, m->n_slices, MCS_MAX_SLICES, SLICE_WIRE_MIN, sizeof(*m->slice_lens), &s);
	for (uint32_t i = 0; s == 0 && i < m->n_slices; i++) {
		m->slice_lens[i] = rd_u64(&r);
		/* A wrapped sum could otherwise match value_len by accident. */
		if (__builtin_add_overflow(sum, m->slice_lens[i], &sum))
			s = rd_fail(&r, -EPROTO);
	}
	if (s == 0 && !r.err && sum != m->value_len)
		s = rd_fail(&r, -EPROTO);
	if (s == 0)
		s = rd_replicate_cfg(&r, &m->cfg);
	s = rd_end(&r, s);
	if (s < 0)
		mcs_put_start_req_free(m);
	return s;
}

/* ---- handles: replica lists and FETCH/PUSH ---------------------------------- */

static void enc_handles(struct mcs_buf *b, uint32_t n, const struct mcs_handle *h)
{
	for (uint32_t j = 0; j < n; j++) {
		uint64_t end;

		if (__builtin_add_overflow(h[j].offset, h[j].len, &end) ||
		    (h[j].token.len != 0 && h[j].token.len != MCS_TOKEN_WIRE_LEN)) {
			buf_fail(b, -EINVAL);
			return;
		}
		put_name(b, h[j].segment);
		put_name(b, h[j].node);
		put_name(b, h[j].endpoint);
		buf_u64(b, h[j].offset);
		buf_u64(b, h[j].len);
		buf_u64(b, h[j].incarnation);
		buf_str(b, h[j].token);
	}
}

static int rd_handle(struct mcs_rd *r, struct mcs_handle *h)
{
	uint64_t end;

	rd_name(r, &h->segment);
	rd_name(r, &h->node);
	rd_name(r, &h->endpoint);
	h->offset = rd_u64(r);
	h->len = rd_u64(r);
	h->incarnation = rd_u64(r);
	h->token = rd_str(r, UINT16_MAX);
	if (r->err)
		return r->err;
	/* A range that wraps around could pass a naive "end <= size" check. */
	if (__builtin_add_overflow(h->offset, h->len, &end) ||
	    (h->token.len != 0 && h->token.len != MCS_TOKEN_WIRE_LEN))
		return rd_fail(r, -EPROTO);
	return 0;
}

/* The n handles that follow their count (NULL for none) in *ret, which the
 * caller frees even on failure. */
static int rd_handles(struct mcs_rd *r, uint32_t n, struct mcs_handle **ret)
{
	int s;

	*ret = rd_array(r, n, MCS_MAX_HANDLES, HANDLE_WIRE_MIN, sizeof(**ret), &s);
	for (uint32_t j = 0; s == 0 && j < n; j++)
		s = rd_handle(r, &(*ret)[j]);
	return s;
}

void mcs_enc_replica_list(struct mcs_buf *b, const struct mcs_replica_list *l)
{
	if (!count_ok(b, l->n_replicas, MCS_MAX_REPLICAS))
		return;
	buf_u32(b, l->n_replicas);
	for (uint32_t i = 0; i < l->n_replicas; i++) {
		const struct mcs_replica *rep = &l->replicas[i];

		if (rep->status > MCS_REPLICA_FAILED) {
			buf_fail(b, -EINVAL);
			return;
		}
		if (!count_ok(b, rep->n_handles, MCS_MAX_HANDLES))
			return;
		buf_u8(b, rep->status);
		buf_u32(b, rep->n_handles);
		enc_handles(b, rep->n_handles, rep->handles);
	}
}

int mcs_rd_replica_list(struct mcs_rd *r, struct mcs_replica_list *ret)
{
	struct mcs_replica_list *l = ret;
	uint32_t n;
	int s;

	*l = (struct mcs_replica_list){ 0 };
	n = rd_u32(r);
	l->replicas = rd_array(r, n, MCS_MAX_REPLICAS, REPLICA_WIRE_MIN, sizeof(*l->replicas), &s);
	if (s == 0)
		l->n_replicas = n;
	for (uint32_t i = 0; s == 0 && i < n; i++) {
		struct mcs_replica *rep = &l->replicas[i];
		uint32_t nh;

		rep->status = rd_u8(r);
		if (!r->err && rep->status > MCS_REPLICA_FAILED) {
			s = rd_fail(r, -EPROTO);
			break;
		}
		nh = rd_u32(r);
		s = rd_handles(r, nh, &rep->handles);
		rep->n_handles = nh;
	}
	if (s < 0)
		mcs_replica_list_free(l);
	return s;
}

void mcs_replica_list_free(struct mcs_replica_list *l)
{
	if (!l)
		return;
	if (l->replicas)
		for (uint32_t i = 0; i < l->n_replicas; i++)
			free(l->replicas[i].handles);
	free(l->replicas);
	memset(l, 0, sizeof(*l));
}

void mcs_enc_transfer_req(struct mcs_buf *b, const struct mcs_transfer_req *m)
{
	if (!count_ok(b, m->n_handles, MCS_MAX_HANDLES))
		return;
	buf_u32(b, m->buf_id);
	buf_u64(b, m->buf_off);
	buf_u32(b, m->n_handles);
	enc_handles(b, m->n_handles, m->handles);
}

int mcs_dec_transfer_req(const void *body, size_t n, struct mcs_transfer_req *ret)
{
	struct mcs_transfer_req *m = ret;
	struct mcs_rd r;
	int s;

	*m = (struct mcs_transfer_req){ 0 };
	rd_begin(&r, body, n);
	m->buf_id = rd_u32(&r);
	m->buf_off = rd_u64(&r);
	m->n_handles = rd_u32(&r);
	s = rd_handles(&r, m->n_handles, &m->handles);
	s = rd_end(&r, s);
	if (s < 0)
		mcs_transfer_req_free(m);
	return s;
}

/* ---- DATA_READV ---------------------------------------------------------------- */

/* Each range a DATA_READ of its own would be (mcs_check_data_req), their
 * lengths together at most MCS_MAX_DATA_CHUNK too; 1 to MCS_MAX_READV of
 * them. enc: the encoder's refusal, else the decoder's. */
static int check_readv(const struct mcs_data_readv_req *m, bool enc)
{
	uint64_t total = 0;

	if (m->segment.len == 0 || m->n_ranges == 0)
		return enc ? -EINVAL : -EPROTO;
	if (m->n_ranges > MCS_MAX_READV)
		return -EMSGSIZE;
	for (uint32_t i = 0; i < m->n_ranges; i++) {
		const struct mcs_data_range *g = &m->ranges[i];
		struct mcs_data_req q = { .segment = m->segment, .offset = g->offset, .len = g->len,
					  .incarnation = m->incarnation, .endpoint = m->endpoint, .token = g->token };
		int s = mcs_check_data_req(&q, enc);

		if (s < 0)
			return s;
		total += g->len; /* no overflow: each is at most the limit */
		if (total > MCS_MAX_DATA_CHUNK)
			return enc ? -EINVAL : -EMSGSIZE;
	}
	return 0;
}

void mcs_enc_data_readv_req(struct mcs_buf *b, const struct mcs_data_readv_req *m)
{
	int s = check_readv(m, true);

	if (s < 0) {
		buf_fail(b, s);
		return;
	}
	put_name(b, m->segment);
	buf_u64(b, m->incarnation);
	put_name(b, m->endpoint);
	buf_u32(b, m->n_ranges);
	for (uint32_t i = 0; i < m->n_ranges; i++) {
		buf_u64(b, m->ranges[i].offset);
		buf_u64(b, m->ranges[i].len);
		buf_str(b, m->ranges[i].token);
	}
}

int mcs_dec_data_readv_req(const void *body, size_t n, struct mcs_data_readv_req *ret)
{
	struct mcs_data_readv_req *m = ret;
	struct mcs_rd r;
	int s;

	*m = (struct mcs_data_readv_req){ 0 };
	rd_begin(&r, body, n);
	rd_name(&r, &m->segment);
	m->incarnation = rd_u64(&r);
	rd_name(&r, &m->endpoint);
	m->n_ranges = rd_u32(&r);
	m->ranges = rd_array(&r, m->n_ranges, MCS_MAX_READV, RANGE_WIRE_MIN, sizeof(*m->ranges), &s);
	for (uint32_t i = 0; s == 0 && i < m->n_ranges; i++) {
		m->ranges[i].offset = rd_u64(&r);
		m->ranges[i].len = rd_u64(&r);
		m->ranges[i].token = rd_str(&r, MCS_TOKEN_WIRE_LEN);
		s = r.err;
	}
	s = rd_end(&r, s);
	if (s == 0)
		s = check_readv(m, false);
	if (s < 0)
		mcs_data_readv_req_free(m);
	return s;
}

/* ---- LIST -------------------------------------------------------------------- */

void mcs_enc_list_resp(struct mcs_buf *b, const struct mcs_list_resp *m)
{
	if (!count_ok(b, m->n_keys, MCS_LIST_MAX))
		return;
	buf_u64(b, m->next_cursor);
	buf_u32(b, m->n_keys);
	for (uint32_t i = 0; i < m->n_keys; i++)
		put_key(b, m->keys[i]);
}

int mcs_dec_list_resp(const void *body, size_t n, struct mcs_list_resp *ret)
{
	struct mcs_list_resp *m = ret;
	struct mcs_rd r;
	int s;

	*m = (struct mcs_list_resp){ 0 };
	rd_begin(&r, body, n);
	m->next_cursor = rd_u64(&r);
	m->n_keys = rd_u32(&r);
	m->keys = rd_array(&r, m->n_keys, MCS_LIST_MAX, KEY_WIRE_MIN, sizeof(*m->keys), &s);
	for (uint32_t i = 0; s == 0 && i < m->n_keys; i++)
		s = rd_key(&r, &m->keys[i]);
	s = rd_end(&r, s);
	if (s < 0)
		mcs_list_resp_free(m);
	return s;
}

/* ---- STAT -------------------------------------------------------------------- */

void mcs_enc_stat_resp(struct mcs_buf *b, const struct mcs_stat_resp *m)
{
	if (!count_ok(b, m->n_segments, MCS_MAX_SEGMENTS))
		return;
	buf_u64(b, m->n_objects);
	buf_u64(b, m->capacity);
	buf_u64(b, m->used);
	buf_u32(b, m->n_segments);
	for (uint32_t i = 0; i < m->n_segments; i++) {
		const struct mcs_seg_stat *g = &m->segments[i];

		put_name(b, g->name);
		put_name(b, g->node);
		buf_u64(b, g->size);
		buf_u64(b, g->used);
		buf_u64(b, g->n_allocs);
	}
	if (!count_ok(b, m->n_counters, MCS_STAT_MAX_COUNTERS))
		return;
	buf_u32(b, m->n_counters);
	for (uint32_t i = 0; i < m->n_counters; i++)
		buf_u64(b, m->counters[i]);
}

int mcs_dec_stat_resp(const void *body, size_t n, struct mcs_stat_resp *ret)
{
	struct mcs_stat_resp *m = ret;
	struct mcs_rd r;
	int s;

	*m = (struct mcs_stat_resp){ 0 };
	rd_begin(&r, body, n);
	m->n_objects = rd_u64(&r);
	m->capacity = rd_u64(&r);
	m->used = rd_u64(&r);
	m->n_segments = rd_u32(&r);
	m->segments = rd_array(&r, m->n_segments, MCS_MAX_SEGMENTS, SEG_STAT_WIRE_MIN, sizeof(*m->segments), &s);
	for (uint32_t i = 0; s == 0 && i < m->n_segments && !r.err; i++) {
		struct mcs_seg_stat *g = &m->segments[i];

		rd_name(&r, &g->name);
		rd_name(&r, &g->node);
		g->size = rd_u64(&r);
		g->used = rd_u64(&r);
		g->n_allocs = rd_u64(&r);
	}
	/* The counters fit in the struct: only their count is checked. */
	if (s == 0) {
		m->n_counters = rd_u32(&r);
		s = rd_count(&r, m->n_counters, MCS_STAT_MAX_COUNTERS, COUNTER_WIRE_MIN);
	}
	for (uint32_t i = 0; s == 0 && i < m->n_counters; i++)
		m->counters[i] = rd_u64(&r);
	s = rd_end(&r, s);
	if (s < 0)
		mcs_stat_resp_free(m);
	return s;
}
