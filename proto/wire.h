/* SPDX-License-Identifier: MIT */
/*
 * Inside proto/ only: the little-endian primitives, the buffer's writers
 * and the reader's readers, and the checked writers and readers of keys,
 * names and counts that frame.c, messages.c and arrays.c share. Everything
 * is static inline: the message code inlines the writers and readers as it
 * did when it sat in one file with them (frame.c's mcs_buf_put_* and
 * mcs_rd_* are these, for the other callers), and the library exports no
 * more than proto.h declares.
 *
 * Everything on the wire is little-endian and is read and written one byte
 * at a time with shifts, so the code is independent of host byte order and
 * never performs an unaligned load.
 */
#ifndef MCS_PROTO_WIRE_H
#define MCS_PROTO_WIRE_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/util.h"
#include "mcstore.h"
#include "proto/proto.h"

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

/* ---- writing ------------------------------------------------------------- */

/* Only the first failure is kept: it is the one that explains the others.
 * Every later write is dropped, so an encoder may stop or go on after it. */
static inline int buf_fail(struct mcs_buf *b, int status)
{
	if (!b->err)
		b->err = status;
	return b->err;
}

/* The growth of the buffer stays out of line: it is rare. */
static inline int buf_reserve(struct mcs_buf *b, size_t extra)
{
	if (mcs_likely(!b->err && extra <= b->cap - b->len))
		return 0;
	return mcs_buf_reserve(b, extra);
}

/* The n (> 0) bytes appended at the end, or NULL once the buffer failed. */
static inline uint8_t *buf_append(struct mcs_buf *b, size_t n)
{
	uint8_t *p;

	if (buf_reserve(b, n) < 0)
		return NULL;
	p = b->p + b->len;
	b->len += n;
	return p;
}

static inline void buf_u8(struct mcs_buf *b, uint8_t v)
{
	uint8_t *p = buf_append(b, 1);

	if (p)
		*p = v;
}

static inline void buf_u16(struct mcs_buf *b, uint16_t v)
{
	uint8_t *p = buf_append(b, 2);

	if (p)
		put_le16(p, v);
}

static inline void buf_u32(struct mcs_buf *b, uint32_t v)
{
	uint8_t *p = buf_append(b, 4);

	if (p)
		put_le32(p, v);
}

static inline void buf_u64(struct mcs_buf *b, uint64_t v)
{
	uint8_t *p = buf_append(b, 8);

	if (p)
		put_le64(p, v);
}

static inline void buf_bytes(struct mcs_buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0 || n == 0)
		return;
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

static inline void buf_str(struct mcs_buf *b, struct mcs_str s)
{
	if (s.len > UINT16_MAX) {
		buf_fail(b, -EMSGSIZE);
		return;
	}
	/* One reservation so that a failure never leaves a dangling prefix. */
	if (buf_reserve(b, 2 + (size_t)s.len) < 0)
		return;
	buf_u16(b, (uint16_t)s.len);
	buf_bytes(b, s.p, s.len);
}

/* A key is 1..MCS_KEY_MAX bytes. */
static inline void put_key(struct mcs_buf *b, struct mcs_str key)
{
	if (key.len == 0)
		buf_fail(b, -EINVAL);
	else if (key.len > MCS_KEY_MAX)
		buf_fail(b, -ENAMETOOLONG);
	else
		buf_str(b, key);
}

static inline void put_name(struct mcs_buf *b, struct mcs_str name)
{
	if (name.len > MCS_NAME_MAX)
		buf_fail(b, -EMSGSIZE);
	else
		buf_str(b, name);
}

/* ---- reading ------------------------------------------------------------- */

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

/* The next n (> 0) bytes, consumed, or NULL (and the reader poisoned). */
static inline const uint8_t *rd_take(struct mcs_rd *r, size_t n)
{
	const uint8_t *p = r->p;

	if (!rd_need(r, n))
		return NULL;
	r->p += n;
	return p;
}

static inline uint8_t rd_u8(struct mcs_rd *r)
{
	const uint8_t *p = rd_take(r, 1);

	return p ? *p : 0;
}

static inline uint16_t rd_u16(struct mcs_rd *r)
{
	const uint8_t *p = rd_take(r, 2);

	return p ? get_le16(p) : 0;
}

static inline uint32_t rd_u32(struct mcs_rd *r)
{
	const uint8_t *p = rd_take(r, 4);

	return p ? get_le32(p) : 0;
}

static inline uint64_t rd_u64(struct mcs_rd *r)
{
	const uint8_t *p = rd_take(r, 8);

	return p ? get_le64(p) : 0;
}

static inline struct mcs_str rd_str(struct mcs_rd *r, uint32_t max_len)
{
	struct mcs_str s = { NULL, 0 };
	uint16_t len = rd_u16(r);

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

/* The reader stays poisoned with -EPROTO; the caller returns the more
 * precise status. */
static inline int rd_fail(struct mcs_rd *r, int status)
{
	r->err = -EPROTO;
	return status;
}

/* Decoders may be handed (NULL, 0) for an empty body; pointer arithmetic on
 * NULL is undefined, so read from an empty static array instead. */
static inline void rd_begin(struct mcs_rd *r, const void *body, size_t n)
{
	static const uint8_t empty[1];

	mcs_rd_init(r, body ? body : empty, body ? n : 0);
}

/* 0 if no error and every byte was consumed, else -EPROTO. */
static inline int rd_finish(struct mcs_rd *r)
{
	if (r->err)
		return r->err;
	if (r->p != r->end)
		return rd_fail(r, -EPROTO);
	return 0;
}

static inline int rd_key(struct mcs_rd *r, struct mcs_str *ret)
{
	struct mcs_str s = rd_str(r, UINT16_MAX);

	if (r->err)
		return r->err;
	if (s.len == 0)
		return rd_fail(r, -EPROTO);
	if (s.len > MCS_KEY_MAX)
		return rd_fail(r, -ENAMETOOLONG);
	*ret = s;
	return 0;
}

static inline int rd_name(struct mcs_rd *r, struct mcs_str *ret)
{
	*ret = rd_str(r, MCS_NAME_MAX);
	return r->err;
}

/* The rules of a DATA_READ / DATA_WRITE (messages.c), which every range
 * of a DATA_READV obeys too (arrays.c): 0, or the encoder's refusal (enc)
 * or the decoder's. */
int mcs_check_data_req(const struct mcs_data_req *m, bool enc);

/* A count must respect its protocol limit, and the remaining bytes must be
 * able to hold that many elements: checked before allocating, so a forged
 * count costs neither memory nor time. */
static inline int rd_count(struct mcs_rd *r, uint32_t n, uint32_t limit, size_t min_wire)
{
	if (r->err)
		return r->err;
	if (n > limit)
		return rd_fail(r, -EMSGSIZE);
	if ((uint64_t)n * min_wire > rd_left(r))
		return rd_fail(r, -EPROTO);
	return 0;
}

#endif
