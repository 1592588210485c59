/* SPDX-License-Identifier: MIT */
/*
 * The mcstore wire protocol: frame header, growable output buffer,
 * bounds-checked reader, and the encoder/decoder of every message body.
 *
 * Everything on the wire is little-endian and is read and written one byte
 * at a time with shifts, so the code is independent of host byte order and
 * never performs an unaligned load. Decoders treat their input as hostile:
 * every length and count is checked against the protocol limits and the
 * bytes actually present before anything is allocated or dereferenced.
 * Encoders enforce the same limits, so a frame that mcs_frame_end() accepts
 * is one that the peer's decoder accepts.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "mcstore.h"
#include "proto/proto.h"

/* Smallest wire size of the repeated elements, used to bound counts by the
 * bytes remaining before allocating arrays for them. */
#define SLICE_WIRE_MIN 8u               /* u64 */
#define LOCATION_WIRE_MIN 2u            /* empty string */
#define REPLICA_WIRE_MIN (1u + 4u)      /* status, n_handles */
#define HANDLE_WIRE_MIN (3u * 2u + 16u) /* three empty strings, offset, len */
#define SEG_STAT_WIRE_MIN (2u * 2u + 24u)

_Static_assert(MCS_ARRAY_SIZE(((struct mcs_replicate_cfg *)0)->locations) == MCS_MAX_LOCATIONS,
	       "mcs_replicate_cfg.locations must hold MCS_MAX_LOCATIONS names");
_Static_assert(MCS_KEY_MAX <= UINT16_MAX, "keys travel with a u16 length");

/* ---- little-endian helpers -------------------------------------------- */

static inline void put_le16(uint8_t *o, uint16_t v)
{
	o[0] = (uint8_t)v;
	o[1] = (uint8_t)(v >> 8);
}

static inline void put_le32(uint8_t *o, uint32_t v)
{
	o[0] = (uint8_t)v;
	o[1] = (uint8_t)(v >> 8);
	o[2] = (uint8_t)(v >> 16);
	o[3] = (uint8_t)(v >> 24);
}

static inline void put_le64(uint8_t *o, uint64_t v)
{
	put_le32(o, (uint32_t)v);
	put_le32(o + 4, (uint32_t)(v >> 32));
}

static inline uint16_t get_le16(const uint8_t *i)
{
	return (uint16_t)(i[0] | (uint16_t)i[1] << 8);
}

static inline uint32_t get_le32(const uint8_t *i)
{
	return (uint32_t)i[0] | (uint32_t)i[1] << 8 | (uint32_t)i[2] << 16 | (uint32_t)i[3] << 24;
}

static inline uint64_t get_le64(const uint8_t *i)
{
	return (uint64_t)get_le32(i) | (uint64_t)get_le32(i + 4) << 32;
}

/* ---- header ------------------------------------------------------------ */

void mcs_hdr_encode(const struct mcs_hdr *h, uint8_t out[MCS_HDR_SIZE])
{
	put_le32(out + 0, h->magic);
	out[4] = h->version;
	out[5] = h->flags;
	put_le16(out + 6, h->opcode);
	/* Two's complement is what goes on the wire whatever the host does. */
	put_le32(out + 8, (uint32_t)h->status);
	put_le64(out + 12, h->req_id);
	put_le32(out + 20, h->body_len);
}

int mcs_hdr_decode(const uint8_t in[MCS_HDR_SIZE], uint32_t max_body, struct mcs_hdr *ret)
{
	struct mcs_hdr h;
	uint32_t st;

	h.magic = get_le32(in + 0);
	h.version = in[4];
	h.flags = in[5];
	h.opcode = get_le16(in + 6);
	st = get_le32(in + 8);
	/* Convert without relying on implementation-defined narrowing. */
	h.status = st <= INT32_MAX ? (int32_t)st : -(int32_t)(~st) - 1;
	h.req_id = get_le64(in + 12);
	h.body_len = get_le32(in + 20);

	if (h.magic != MCS_PROTO_MAGIC)
		return -EPROTO;
	if (h.version != MCS_PROTO_VERSION)
		return -EPROTONOSUPPORT;
	if (h.body_len > max_body)
		return -EMSGSIZE;
	*ret = h;
	return 0;
}

const char *mcs_op_name(uint16_t opcode)
{
	switch (opcode) {
	case MCS_OP_HELLO:
		return "HELLO";
	case MCS_OP_PING:
		return "PING";
	case MCS_OP_MOUNT:
		return "MOUNT";
	case MCS_OP_UNMOUNT:
		return "UNMOUNT";
	case MCS_OP_HEARTBEAT:
		return "HEARTBEAT";
	case MCS_OP_PUT_START:
		return "PUT_START";
	case MCS_OP_PUT_END:
		return "PUT_END";
	case MCS_OP_PUT_REVOKE:
		return "PUT_REVOKE";
	case MCS_OP_GET_REPLICAS:
		return "GET_REPLICAS";
	case MCS_OP_RELEASE:
		return "RELEASE";
	case MCS_OP_EXIST:
		return "EXIST";
	case MCS_OP_REMOVE:
		return "REMOVE";
	case MCS_OP_REMOVE_ALL:
		return "REMOVE_ALL";
	case MCS_OP_LIST:
		return "LIST";
	case MCS_OP_STAT:
		return "STAT";
	case MCS_OP_BUF_ALLOC:
		return "BUF_ALLOC";
	case MCS_OP_BUF_FREE:
		return "BUF_FREE";
	case MCS_OP_FETCH:
		return "FETCH";
	case MCS_OP_PUSH:
		return "PUSH";
	case MCS_OP_DATA_READ:
		return "DATA_READ";
	case MCS_OP_DATA_WRITE:
		return "DATA_WRITE";
	default:
		return "UNKNOWN";
	}
}

/* ---- output buffer ----------------------------------------------------- */

/* Only the first failure is kept: it is the one that explains the others. */
static int buf_fail(struct mcs_buf *b, int status)
{
	if (!b->err)
		b->err = status;
	return b->err;
}

void mcs_buf_init(struct mcs_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void mcs_buf_free(struct mcs_buf *b)
{
	free(b->p);
	mcs_buf_init(b);
}

void mcs_buf_reset(struct mcs_buf *b)
{
	b->len = 0;
	b->frame_start = 0;
	b->err = 0;
}

int mcs_buf_reserve(struct mcs_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (b->err)
		return b->err;
	if (extra <= b->cap - b->len)
		return 0;
	if (__builtin_add_overflow(b->len, extra, &need))
		return buf_fail(b, -ENOMEM);
	/* Doubling keeps appends amortised O(1) for bodies built field by field. */
	cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p)
		return buf_fail(b, -ENOMEM);
	b->p = p;
	b->cap = cap;
	return 0;
}

void mcs_buf_put_u8(struct mcs_buf *b, uint8_t v)
{
	if (mcs_buf_reserve(b, 1) < 0)
		return;
	b->p[b->len++] = v;
}

void mcs_buf_put_u16(struct mcs_buf *b, uint16_t v)
{
	if (mcs_buf_reserve(b, 2) < 0)
		return;
	put_le16(b->p + b->len, v);
	b->len += 2;
}

void mcs_buf_put_u32(struct mcs_buf *b, uint32_t v)
{
	if (mcs_buf_reserve(b, 4) < 0)
		return;
	put_le32(b->p + b->len, v);
	b->len += 4;
}

void mcs_buf_put_u64(struct mcs_buf *b, uint64_t v)
{
	if (mcs_buf_reserve(b, 8) < 0)
		return;
	put_le64(b->p + b->len, v);
	b->len += 8;
}

void mcs_buf_put_bytes(struct mcs_buf *b, const void *p, size_t n)
{
	if (mcs_buf_reserve(b, n) < 0 || n == 0)
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void mcs_buf_put_str(struct mcs_buf *b, struct mcs_str s)
{
	if (s.len > UINT16_MAX) {
		buf_fail(b, -EMSGSIZE);
		return;
	}
	/* One reservation so that a failure never leaves a dangling prefix. */
	if (mcs_buf_reserve(b, 2 + (size_t)s.len) < 0)
		return;
	mcs_buf_put_u16(b, (uint16_t)s.len);
	mcs_buf_put_bytes(b, s.p, s.len);
}

void mcs_frame_begin(struct mcs_buf *b, uint16_t opcode, uint8_t flags, int32_t status, uint64_t req_id)
{
	struct mcs_hdr h = {
		.magic = MCS_PROTO_MAGIC,
		.version = MCS_PROTO_VERSION,
		.flags = flags,
		.opcode = opcode,
		.status = status,
		.req_id = req_id,
		.body_len = 0,
	};

	b->frame_start = b->len;
	if (mcs_buf_reserve(b, MCS_HDR_SIZE) < 0)
		return;
	mcs_hdr_encode(&h, b->p + b->len);
	b->len += MCS_HDR_SIZE;
}

int mcs_frame_end(struct mcs_buf *b)
{
	size_t body;

	if (b->err)
		return b->err;
	/* A missing mcs_frame_begin() would otherwise patch random bytes. */
	if (b->len < b->frame_start || b->len - b->frame_start < MCS_HDR_SIZE ||
	    get_le32(b->p + b->frame_start) != MCS_PROTO_MAGIC)
		return buf_fail(b, -EINVAL);
	body = b->len - b->frame_start - MCS_HDR_SIZE;
	if (body > UINT32_MAX)
		return buf_fail(b, -EMSGSIZE);
	put_le32(b->p + b->frame_start + 20, (uint32_t)body);
	return 0;
}

/* ---- reader -------------------------------------------------------------- */

static inline size_t rd_left(const struct mcs_rd *r)
{
	return (size_t)(r->end - r->p);
}

/* Returns true when n more bytes can be consumed; poisons the reader if not. */
static inline bool rd_need(struct mcs_rd *r, size_t n)
{
	if (r->err)
		return false;
	if (n > rd_left(r)) {
		r->err = -EPROTO;
		return false;
	}
	return true;
}

/* The reader stays poisoned with -EPROTO; the caller returns the more
 * precise status. */
static int rd_fail(struct mcs_rd *r, int status)
{
	r->err = -EPROTO;
	return status;
}

uint8_t mcs_rd_u8(struct mcs_rd *r)
{
	if (!rd_need(r, 1))
		return 0;
	return *r->p++;
}

uint16_t mcs_rd_u16(struct mcs_rd *r)
{
	uint16_t v;

	if (!rd_need(r, 2))
		return 0;
	v = get_le16(r->p);
	r->p += 2;
	return v;
}

uint32_t mcs_rd_u32(struct mcs_rd *r)
{
	uint32_t v;

	if (!rd_need(r, 4))
		return 0;
	v = get_le32(r->p);
	r->p += 4;
	return v;
}

uint64_t mcs_rd_u64(struct mcs_rd *r)
{
	uint64_t v;

	if (!rd_need(r, 8))
		return 0;
	v = get_le64(r->p);
	r->p += 8;
	return v;
}

struct mcs_str mcs_rd_str(struct mcs_rd *r, uint32_t max_len)
{
	struct mcs_str s = { NULL, 0 };
	uint16_t len = mcs_rd_u16(r);

	if (r->err)
		return s;
	if (len > max_len || !rd_need(r, len)) {
		r->err = -EPROTO;
		return s;
	}
	s.p = (const char *)r->p;
	s.len = len;
	r->p += len;
	return s;
}

int mcs_rd_finish(struct mcs_rd *r)
{
	if (r->err)
		return r->err;
	if (r->p != r->end)
		return rd_fail(r, -EPROTO);
	return 0;
}

/* Decoders may be handed (NULL, 0) for an empty body; pointer arithmetic on
 * NULL is undefined, so read from an empty static array instead. */
static void rd_begin(struct mcs_rd *r, const void *body, size_t n)
{
	static const uint8_t empty[1];

	mcs_rd_init(r, body ? body : empty, body ? n : 0);
}

/* A key is 1..MCS_KEY_MAX bytes. */
static int rd_key(struct mcs_rd *r, struct mcs_str *ret)
{
	struct mcs_str s = mcs_rd_str(r, UINT16_MAX);

	if (r->err)
		return r->err;
	if (s.len == 0)
		return rd_fail(r, -EPROTO);
	if (s.len > MCS_KEY_MAX)
		return rd_fail(r, -ENAMETOOLONG);
	*ret = s;
	return 0;
}

static int rd_name(struct mcs_rd *r, struct mcs_str *ret)
{
	*ret = mcs_rd_str(r, MCS_NAME_MAX);
	return r->err;
}

/* A count must respect its protocol limit, and the remaining bytes must be
 * able to hold that many elements: checked before allocating, so a forged
 * count costs neither memory nor time. */
static int rd_count(struct mcs_rd *r, uint32_t n, uint32_t limit, size_t min_wire)
{
	if (r->err)
		return r->err;
	if (n > limit)
		return rd_fail(r, -EMSGSIZE);
	if ((uint64_t)n * min_wire > rd_left(r))
		return rd_fail(r, -EPROTO);
	return 0;
}

/* ---- encoder helpers ----------------------------------------------------- */

static void put_key(struct mcs_buf *b, struct mcs_str key)
{
	if (key.len == 0)
		buf_fail(b, -EINVAL);
	else if (key.len > MCS_KEY_MAX)
		buf_fail(b, -ENAMETOOLONG);
	else
		mcs_buf_put_str(b, key);
}

static void put_name(struct mcs_buf *b, struct mcs_str name)
{
	if (name.len > MCS_NAME_MAX)
		buf_fail(b, -EMSGSIZE);
	else
		mcs_buf_put_str(b, name);
}

/* ---- HELLO ----------------------------------------------------------------- */

void mcs_enc_hello_req(struct mcs_buf *b, const struct mcs_hello_req *m)
{
	mcs_buf_put_u32(b, m->client_version);
	mcs_buf_put_u32(b, m->pid);
}

int mcs_dec_hello_req(const void *body, size_t n, struct mcs_hello_req *ret)
{
	struct mcs_hello_req m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	m.client_version = mcs_rd_u32(&r);
	m.pid = mcs_rd_u32(&r);
	s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

void mcs_enc_hello_resp(struct mcs_buf *b, const struct mcs_hello_resp *m)
{
	put_name(b, m->node);
	put_name(b, m->segment);
	mcs_buf_put_u64(b, m->segment_size);
	mcs_buf_put_u32(b, m->flags);
	mcs_buf_put_u32(b, m->max_body);
	put_name(b, m->master);
}

int mcs_dec_hello_resp(const void *body, size_t n, struct mcs_hello_resp *ret)
{
	struct mcs_hello_resp m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	rd_name(&r, &m.node);
	rd_name(&r, &m.segment);
	m.segment_size = mcs_rd_u64(&r);
	m.flags = mcs_rd_u32(&r);
	m.max_body = mcs_rd_u32(&r);
	rd_name(&r, &m.master);
	s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

/* ---- MOUNT, UNMOUNT, HEARTBEAT ------------------------------------------ */

void mcs_enc_mount_req(struct mcs_buf *b, const struct mcs_mount_req *m)
{
	put_name(b, m->node);
	put_name(b, m->segment);
	mcs_buf_put_u64(b, m->size);
	put_name(b, m->endpoint);
}

int mcs_dec_mount_req(const void *body, size_t n, struct mcs_mount_req *ret)
{
	struct mcs_mount_req m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	rd_name(&r, &m.node);
	rd_name(&r, &m.segment);
	m.size = mcs_rd_u64(&r);
	rd_name(&r, &m.endpoint);
	s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

void mcs_enc_unmount_req(struct mcs_buf *b, const struct mcs_unmount_req *m)
{
	put_name(b, m->segment);
}

int mcs_dec_unmount_req(const void *body, size_t n, struct mcs_unmount_req *ret)
{
	struct mcs_unmount_req m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	rd_name(&r, &m.segment);
	s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

void mcs_enc_heartbeat_req(struct mcs_buf *b, const struct mcs_heartbeat_req *m)
{
	put_name(b, m->node);
}

int mcs_dec_heartbeat_req(const void *body, size_t n, struct mcs_heartbeat_req *ret)
{
	struct mcs_heartbeat_req m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	rd_name(&r, &m.node);
	s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

/* ---- keys only: PUT_REVOKE, EXIST --------------------------------------- */

void mcs_enc_key_req(struct mcs_buf *b, const struct mcs_key_req *m)
{
	put_key(b, m->key);
}

int mcs_dec_key_req(const void *body, size_t n, struct mcs_key_req *ret)
{
	struct mcs_key_req m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	s = rd_key(&r, &m.key);
	if (s == 0)
		s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

/* ---- PUT_START -------------------------------------------------------------- */

static void enc_replicate_cfg(struct mcs_buf *b, const struct mcs_replicate_cfg *c)
{
	if (c->replica_num > MCS_MAX_REPLICAS || c->n_locations > MCS_MAX_LOCATIONS) {
		buf_fail(b, -EMSGSIZE);
		return;
	}
	mcs_buf_put_u32(b, c->replica_num);
	mcs_buf_put_u32(b, c->flags);
	mcs_buf_put_u16(b, (uint16_t)c->n_locations);
	for (uint32_t i = 0; i < c->n_locations; i++)
		put_name(b, c->locations[i]);
}

static int rd_replicate_cfg(struct mcs_rd *r, struct mcs_replicate_cfg *c)
{
	int s;

	c->replica_num = mcs_rd_u32(r);
	c->flags = mcs_rd_u32(r);
	c->n_locations = mcs_rd_u16(r);
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
	if (m->n_slices > MCS_MAX_SLICES) {
		buf_fail(b, -EMSGSIZE);
		return;
	}
	for (uint32_t i = 0; i < m->n_slices; i++)
		if (__builtin_add_overflow(sum, m->slice_lens[i], &sum)) {
			buf_fail(b, -EINVAL);
			return;
		}
	if (sum != m->value_len) {
		buf_fail(b, -EINVAL);
		return;
	}
	mcs_buf_put_u64(b, m->value_len);
	mcs_buf_put_u32(b, m->n_slices);
	if (mcs_buf_reserve(b, (size_t)m->n_slices * 8) < 0)
		return;
	for (uint32_t i = 0; i < m->n_slices; i++)
		mcs_buf_put_u64(b, m->slice_lens[i]);
	enc_replicate_cfg(b, &m->cfg);
}

int mcs_dec_put_start_req(const void *body, size_t n, struct mcs_put_start_req *ret)
{
	struct mcs_put_start_req m = { 0 };
	struct mcs_rd r;
	uint64_t sum = 0;
	int s;

	rd_begin(&r, body, n);
	s = rd_key(&r, &m.key);
	if (s < 0)
		goto fail;
	m.value_len = mcs_rd_u64(&r);
	m.n_slices = mcs_rd_u32(&r);
	s = rd_count(&r, m.n_slices, MCS_MAX_SLICES, SLICE_WIRE_MIN);
	if (s < 0)
		goto fail;
	if (m.n_slices > 0) {
		m.slice_lens = calloc(m.n_slices, sizeof(*m.slice_lens));
		if (!m.slice_lens) {
			s = rd_fail(&r, -ENOMEM);
			goto fail;
		}
	}
	for (uint32_t i = 0; i < m.n_slices; i++) {
		m.slice_lens[i] = mcs_rd_u64(&r);
		/* A wrapped sum could otherwise match value_len by accident. */
		if (__builtin_add_overflow(sum, m.slice_lens[i], &sum)) {
			s = rd_fail(&r, -EPROTO);
			goto fail;
		}
	}
	if (!r.err && sum != m.value_len) {
		s = rd_fail(&r, -EPROTO);
		goto fail;
	}
	s = rd_replicate_cfg(&r, &m.cfg);
	if (s == 0)
		s = mcs_rd_finish(&r);
	if (s < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	mcs_put_start_req_free(&m);
	memset(ret, 0, sizeof(*ret));
	return s;
}

void mcs_put_start_req_free(struct mcs_put_start_req *m)
{
	if (!m)
		return;
	free(m->slice_lens);
	memset(m, 0, sizeof(*m));
}

/* ---- replica lists ------------------------------------------------------------ */

void mcs_enc_replica_list(struct mcs_buf *b, const struct mcs_replica_list *l)
{
	if (l->n_replicas > MCS_MAX_REPLICAS) {
		buf_fail(b, -EMSGSIZE);
		return;
	}
	mcs_buf_put_u32(b, l->n_replicas);
	for (uint32_t i = 0; i < l->n_replicas; i++) {
		const struct mcs_replica *rep = &l->replicas[i];

		if (rep->status > MCS_REPLICA_FAILED) {
			buf_fail(b, -EINVAL);
			return;
		}
		if (rep->n_handles > MCS_MAX_HANDLES) {
			buf_fail(b, -EMSGSIZE);
			return;
		}
		mcs_buf_put_u8(b, rep->status);
		mcs_buf_put_u32(b, rep->n_handles);
		for (uint32_t j = 0; j < rep->n_handles; j++) {
			const struct mcs_handle *h = &rep->handles[j];
			uint64_t end;

			if (__builtin_add_overflow(h->offset, h->len, &end)) {
				buf_fail(b, -EINVAL);
				return;
			}
			put_name(b, h->segment);
			put_name(b, h->node);
			put_name(b, h->endpoint);
			mcs_buf_put_u64(b, h->offset);
			mcs_buf_put_u64(b, h->len);
		}
	}
}

static int rd_handle(struct mcs_rd *r, struct mcs_handle *h)
{
	uint64_t end;

	rd_name(r, &h->segment);
	rd_name(r, &h->node);
	rd_name(r, &h->endpoint);
	h->offset = mcs_rd_u64(r);
	h->len = mcs_rd_u64(r);
	if (r->err)
		return r->err;
	/* A range that wraps around could pass a naive "end <= size" check. */
	if (__builtin_add_overflow(h->offset, h->len, &end))
		return rd_fail(r, -EPROTO);
	return 0;
}

int mcs_rd_replica_list(struct mcs_rd *r, struct mcs_replica_list *ret)
{
	struct mcs_replica_list l = { 0 };
	uint32_t n;
	int s;

	n = mcs_rd_u32(r);
	s = rd_count(r, n, MCS_MAX_REPLICAS, REPLICA_WIRE_MIN);
	if (s < 0)
		goto fail;
	if (n > 0) {
		l.replicas = calloc(n, sizeof(*l.replicas));
		if (!l.replicas) {
			s = rd_fail(r, -ENOMEM);
			goto fail;
		}
		l.n_replicas = n;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct mcs_replica *rep = &l.replicas[i];
		uint32_t nh;

		rep->status = mcs_rd_u8(r);
		if (!r->err && rep->status > MCS_REPLICA_FAILED) {
			s = rd_fail(r, -EPROTO);
			goto fail;
		}
		nh = mcs_rd_u32(r);
		s = rd_count(r, nh, MCS_MAX_HANDLES, HANDLE_WIRE_MIN);
		if (s < 0)
			goto fail;
		if (nh > 0) {
			rep->handles = calloc(nh, sizeof(*rep->handles));
			if (!rep->handles) {
				s = rd_fail(r, -ENOMEM);
				goto fail;
			}
			rep->n_handles = nh;
		}
		for (uint32_t j = 0; j < nh; j++) {
			s = rd_handle(r, &rep->handles[j]);
			if (s < 0)
				goto fail;
		}
	}
	*ret = l;
	return 0;
fail:
	mcs_replica_list_free(&l);
	memset(ret, 0, sizeof(*ret));
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

void mcs_enc_put_start_resp(struct mcs_buf *b, const struct mcs_put_start_resp *m)
{
	mcs_enc_replica_list(b, &m->list);
}

int mcs_dec_put_start_resp(const void *body, size_t n, struct mcs_put_start_resp *ret)
{
	struct mcs_put_start_resp m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	s = mcs_rd_replica_list(&r, &m.list);
	if (s == 0)
		s = mcs_rd_finish(&r);
	if (s < 0) {
		mcs_replica_list_free(&m.list);
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

/* ---- PUT_END ------------------------------------------------------------------ */

void mcs_enc_put_end_req(struct mcs_buf *b, const struct mcs_put_end_req *m)
{
	put_key(b, m->key);
	mcs_buf_put_u64(b, m->checksum);
}

int mcs_dec_put_end_req(const void *body, size_t n, struct mcs_put_end_req *ret)
{
	struct mcs_put_end_req m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	s = rd_key(&r, &m.key);
	m.checksum = mcs_rd_u64(&r);
	if (s == 0)
		s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

/* ---- GET_REPLICAS --------------------------------------------------------------- */

void mcs_enc_get_req(struct mcs_buf *b, const struct mcs_get_req *m)
{
	put_key(b, m->key);
	mcs_buf_put_u32(b, m->flags);
}

int mcs_dec_get_req(const void *body, size_t n, struct mcs_get_req *ret)
{
	struct mcs_get_req m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	s = rd_key(&r, &m.key);
	m.flags = mcs_rd_u32(&r);
	if (s == 0)
		s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

void mcs_enc_get_resp(struct mcs_buf *b, const struct mcs_get_resp *m)
{
	mcs_buf_put_u64(b, m->size);
	mcs_buf_put_u64(b, m->checksum);
	mcs_buf_put_u64(b, m->hold_id);
	mcs_buf_put_u32(b, m->lease_ms);
	mcs_enc_replica_list(b, &m->list);
}

int mcs_dec_get_resp(const void *body, size_t n, struct mcs_get_resp *ret)
{
	struct mcs_get_resp m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	m.size = mcs_rd_u64(&r);
	m.checksum = mcs_rd_u64(&r);
	m.hold_id = mcs_rd_u64(&r);
	m.lease_ms = mcs_rd_u32(&r);
	s = mcs_rd_replica_list(&r, &m.list);
	if (s == 0)
		s = mcs_rd_finish(&r);
	if (s < 0) {
		mcs_replica_list_free(&m.list);
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

/* ---- RELEASE, REMOVE, REMOVE_ALL ------------------------------------------------- */

void mcs_enc_release_req(struct mcs_buf *b, const struct mcs_release_req *m)
{
	put_key(b, m->key);
	mcs_buf_put_u64(b, m->hold_id);
}

int mcs_dec_release_req(const void *body, size_t n, struct mcs_release_req *ret)
{
	struct mcs_release_req m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	s = rd_key(&r, &m.key);
	m.hold_id = mcs_rd_u64(&r);
	if (s == 0)
		s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

void mcs_enc_remove_req(struct mcs_buf *b, const struct mcs_remove_req *m)
{
	put_key(b, m->key);
	mcs_buf_put_u32(b, m->flags);
}

int mcs_dec_remove_req(const void *body, size_t n, struct mcs_remove_req *ret)
{
	struct mcs_remove_req m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	s = rd_key(&r, &m.key);
	m.flags = mcs_rd_u32(&r);
	if (s == 0)
		s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

void mcs_enc_remove_all_resp(struct mcs_buf *b, const struct mcs_remove_all_resp *m)
{
	mcs_buf_put_u64(b, m->count);
}

int mcs_dec_remove_all_resp(const void *body, size_t n, struct mcs_remove_all_resp *ret)
{
	struct mcs_remove_all_resp m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	m.count = mcs_rd_u64(&r);
	s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

/* ---- LIST ---------------------------------------------------------------------- */

void mcs_enc_list_req(struct mcs_buf *b, const struct mcs_list_req *m)
{
	if (m->prefix.len > MCS_KEY_MAX)
		buf_fail(b, -ENAMETOOLONG);
	else if (m->limit == 0 || m->limit > MCS_LIST_MAX)
		buf_fail(b, -EINVAL);
	mcs_buf_put_str(b, m->prefix);
	mcs_buf_put_u64(b, m->cursor);
	mcs_buf_put_u32(b, m->limit);
}

int mcs_dec_list_req(const void *body, size_t n, struct mcs_list_req *ret)
{
	struct mcs_list_req m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	m.prefix = mcs_rd_str(&r, UINT16_MAX);
	m.cursor = mcs_rd_u64(&r);
	m.limit = mcs_rd_u32(&r);
	s = mcs_rd_finish(&r);
	if (s == 0 && m.prefix.len > MCS_KEY_MAX)
		s = -ENAMETOOLONG;
	if (s == 0 && (m.limit == 0 || m.limit > MCS_LIST_MAX))
		s = -EPROTO;
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

void mcs_enc_list_resp(struct mcs_buf *b, const struct mcs_list_resp *m)
{
	if (m->n_keys > MCS_LIST_MAX) {
		buf_fail(b, -EMSGSIZE);
		return;
	}
	mcs_buf_put_u64(b, m->next_cursor);
	mcs_buf_put_u32(b, m->n_keys);
	for (uint32_t i = 0; i < m->n_keys; i++)
		put_key(b, m->keys[i]);
}

int mcs_dec_list_resp(const void *body, size_t n, struct mcs_list_resp *ret)
{
	struct mcs_list_resp m = { 0 };
	struct mcs_rd r;
	uint32_t nk;
	int s;

	rd_begin(&r, body, n);
	m.next_cursor = mcs_rd_u64(&r);
	nk = mcs_rd_u32(&r);
	s = rd_count(&r, nk, MCS_LIST_MAX, 3u /* a 1-byte key */);
	if (s < 0)
		goto fail;
	if (nk > 0) {
		m.keys = calloc(nk, sizeof(*m.keys));
		if (!m.keys) {
			s = rd_fail(&r, -ENOMEM);
			goto fail;
		}
		m.n_keys = nk;
	}
	for (uint32_t i = 0; i < nk && s == 0; i++)
		s = rd_key(&r, &m.keys[i]);
	if (s == 0)
		s = mcs_rd_finish(&r);
	if (s < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	mcs_list_resp_free(&m);
	memset(ret, 0, sizeof(*ret));
	return s;
}

void mcs_list_resp_free(struct mcs_list_resp *m)
{
	if (!m)
		return;
	free(m->keys);
	memset(m, 0, sizeof(*m));
}

void mcs_enc_err_detail(struct mcs_buf *b, const struct mcs_err_detail *m)
{
	mcs_buf_put_u64(b, m->value);
}

int mcs_dec_err_detail(const void *body, size_t n, struct mcs_err_detail *ret)
{
	struct mcs_err_detail m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	m.value = mcs_rd_u64(&r);
	s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

/* ---- STAT ---------------------------------------------------------------------- */

void mcs_enc_stat_resp(struct mcs_buf *b, const struct mcs_stat_resp *m)
{
	if (m->n_segments > MCS_MAX_SEGMENTS) {
		buf_fail(b, -EMSGSIZE);
		return;
	}
	mcs_buf_put_u64(b, m->n_objects);
	mcs_buf_put_u64(b, m->capacity);
	mcs_buf_put_u64(b, m->used);
	mcs_buf_put_u32(b, m->n_segments);
	for (uint32_t i = 0; i < m->n_segments; i++) {
		const struct mcs_seg_stat *g = &m->segments[i];

		put_name(b, g->name);
		put_name(b, g->node);
		mcs_buf_put_u64(b, g->size);
		mcs_buf_put_u64(b, g->used);
		mcs_buf_put_u64(b, g->n_allocs);
	}
	if (m->n_counters > MCS_STAT_MAX_COUNTERS) {
		buf_fail(b, -EMSGSIZE);
		return;
	}
	mcs_buf_put_u32(b, m->n_counters);
	for (uint32_t i = 0; i < m->n_counters; i++)
		mcs_buf_put_u64(b, m->counters[i]);
}

int mcs_dec_stat_resp(const void *body, size_t n, struct mcs_stat_resp *ret)
{
	struct mcs_stat_resp m = { 0 };
	struct mcs_rd r;
	uint32_t ns;
	int s;

	rd_begin(&r, body, n);
	m.n_objects = mcs_rd_u64(&r);
	m.capacity = mcs_rd_u64(&r);
	m.used = mcs_rd_u64(&r);
	ns = mcs_rd_u32(&r);
	s = rd_count(&r, ns, MCS_MAX_SEGMENTS, SEG_STAT_WIRE_MIN);
	if (s < 0)
		goto fail;
	if (ns > 0) {
		m.segments = calloc(ns, sizeof(*m.segments));
		if (!m.segments) {
			s = rd_fail(&r, -ENOMEM);
			goto fail;
		}
		m.n_segments = ns;
	}
	for (uint32_t i = 0; i < ns; i++) {
		struct mcs_seg_stat *g = &m.segments[i];

		rd_name(&r, &g->name);
		rd_name(&r, &g->node);
		g->size = mcs_rd_u64(&r);
		g->used = mcs_rd_u64(&r);
		g->n_allocs = mcs_rd_u64(&r);
		if (r.err)
			break;
	}
	m.n_counters = mcs_rd_u32(&r);
	s = rd_count(&r, m.n_counters, MCS_STAT_MAX_COUNTERS, 8);
	if (s < 0)
		goto fail;
	for (uint32_t i = 0; i < m.n_counters; i++)
		m.counters[i] = mcs_rd_u64(&r);
	s = mcs_rd_finish(&r);
	if (s < 0)
		goto fail;
	*ret = m;
	return 0;
fail:
	mcs_stat_resp_free(&m);
	memset(ret, 0, sizeof(*ret));
	return s;
}

void mcs_stat_resp_free(struct mcs_stat_resp *m)
{
	if (!m)
		return;
	free(m->segments);
	memset(m, 0, sizeof(*m));
}

/* ---- BUF_ALLOC, BUF_FREE -------------------------------------------------------- */

void mcs_enc_buf_alloc_req(struct mcs_buf *b, const struct mcs_buf_alloc_req *m)
{
	mcs_buf_put_u64(b, m->size);
}

int mcs_dec_buf_alloc_req(const void *body, size_t n, struct mcs_buf_alloc_req *ret)
{
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	uint64_t size = mcs_rd_u64(&r);
	s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	ret->size = size;
	return 0;
}

void mcs_enc_buf_alloc_resp(struct mcs_buf *b, const struct mcs_buf_alloc_resp *m)
{
	mcs_buf_put_u32(b, m->buf_id);
	mcs_buf_put_u64(b, m->size);
}

int mcs_dec_buf_alloc_resp(const void *body, size_t n, struct mcs_buf_alloc_resp *ret)
{
	struct mcs_buf_alloc_resp m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	m.buf_id = mcs_rd_u32(&r);
	m.size = mcs_rd_u64(&r);
	s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

void mcs_enc_buf_free_req(struct mcs_buf *b, const struct mcs_buf_free_req *m)
{
	mcs_buf_put_u32(b, m->buf_id);
}

int mcs_dec_buf_free_req(const void *body, size_t n, struct mcs_buf_free_req *ret)
{
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	uint32_t id = mcs_rd_u32(&r);
	s = mcs_rd_finish(&r);
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	ret->buf_id = id;
	return 0;
}

/* ---- FETCH, PUSH ------------------------------------------------------------------ */


void mcs_enc_transfer_req(struct mcs_buf *b, const struct mcs_transfer_req *m)
{
	if (m->n_handles > MCS_MAX_HANDLES) {
		buf_fail(b, -EMSGSIZE);
		return;
	}
	mcs_buf_put_u32(b, m->buf_id);
	mcs_buf_put_u64(b, m->buf_off);
	mcs_buf_put_u32(b, m->n_handles);
	for (uint32_t j = 0; j < m->n_handles; j++) {
		const struct mcs_handle *h = &m->handles[j];
		uint64_t end;

		if (__builtin_add_overflow(h->offset, h->len, &end)) {
			buf_fail(b, -EINVAL);
			return;
		}
		put_name(b, h->segment);
		put_name(b, h->node);
		put_name(b, h->endpoint);
		mcs_buf_put_u64(b, h->offset);
		mcs_buf_put_u64(b, h->len);
	}
}

int mcs_dec_transfer_req(const void *body, size_t n, struct mcs_transfer_req *ret)
{
	struct mcs_transfer_req m = { 0 };
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	m.buf_id = mcs_rd_u32(&r);
	m.buf_off = mcs_rd_u64(&r);
	m.n_handles = mcs_rd_u32(&r);
	s = rd_count(&r, m.n_handles, MCS_MAX_HANDLES, HANDLE_WIRE_MIN);
	if (s == 0 && m.n_handles) {
		m.handles = calloc(m.n_handles, sizeof(*m.handles));
		if (!m.handles)
			s = rd_fail(&r, -ENOMEM);
	}
	for (uint32_t j = 0; s == 0 && j < m.n_handles; j++)
		s = rd_handle(&r, &m.handles[j]);
	if (s == 0)
		s = mcs_rd_finish(&r);
	if (s < 0) {
		free(m.handles);
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

void mcs_transfer_req_free(struct mcs_transfer_req *m)
{
	if (!m)
		return;
	free(m->handles);
	memset(m, 0, sizeof(*m));
}

/* ---- DATA_READ, DATA_WRITE -------------------------------------------------------- */

void mcs_enc_data_req(struct mcs_buf *b, const struct mcs_data_req *m)
{
	uint64_t end;

	if (m->len == 0 || m->len > MCS_MAX_DATA_CHUNK || __builtin_add_overflow(m->offset, m->len, &end)) {
		buf_fail(b, -EINVAL);
		return;
	}
	put_name(b, m->segment);
	mcs_buf_put_u64(b, m->offset);
	mcs_buf_put_u64(b, m->len);
}

int mcs_dec_data_req(const void *body, size_t n, struct mcs_data_req *ret)
{
	struct mcs_data_req m = { 0 };
	struct mcs_rd r;
	uint64_t end;
	int s;

	rd_begin(&r, body, n);
	s = rd_name(&r, &m.segment);
	m.offset = mcs_rd_u64(&r);
	m.len = mcs_rd_u64(&r);
	if (s == 0)
		s = mcs_rd_finish(&r);
	if (s == 0 && (m.segment.len == 0 || m.len == 0 || __builtin_add_overflow(m.offset, m.len, &end)))
		s = -EPROTO;
	if (s == 0 && m.len > MCS_MAX_DATA_CHUNK)
		s = -EMSGSIZE;
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	*ret = m;
	return 0;
}

void mcs_enc_data_resp(struct mcs_buf *b, const struct mcs_data_resp *m)
{
	mcs_buf_put_u64(b, m->len);
}

int mcs_dec_data_resp(const void *body, size_t n, struct mcs_data_resp *ret)
{
	struct mcs_rd r;
	int s;

	rd_begin(&r, body, n);
	uint64_t len = mcs_rd_u64(&r);
	s = mcs_rd_finish(&r);
	if (s == 0 && len > MCS_MAX_DATA_CHUNK)
		s = -EMSGSIZE;
	if (s < 0) {
		memset(ret, 0, sizeof(*ret));
		return s;
	}
	ret->len = len;
	return 0;
}
