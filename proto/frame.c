/* SPDX-License-Identifier: MIT */
/*
 * The frame and its tools: the 24-byte header, the names of the opcodes,
 * the start and end of a frame in the output buffer, and the buffer's
 * writers and the bounds-checked reader for the callers outside proto/
 * (the message code uses their inline forms, in wire.h).
 *
 * The reader and the buffer are sticky: the first overrun or failure is
 * kept and every later read returns 0, every later write is dropped, so a
 * decoder or encoder checks once, at the end.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"
#include "proto/wire.h"

_Static_assert(MCS_KEY_MAX <= UINT16_MAX, "keys travel with a u16 length");

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

/* the wire sizes of the fields, at their limits */
#define W_KEY (2u + MCS_KEY_MAX)
#define W_NAME (2u + MCS_NAME_MAX)
#define W_TOKEN (2u + MCS_TOKEN_WIRE_LEN)
#define W_NONCE (2u + 32u)
#define W_HANDLE (3u * W_NAME + 3u * 8u + W_TOKEN)
#define W_CFG (4u + 4u + 2u + MCS_MAX_LOCATIONS * W_NAME)

uint32_t mcs_req_body_max(uint16_t opcode)
{
	switch (opcode) {
	case MCS_OP_HELLO: return 8;
	case MCS_OP_AUTH: return 4 + W_NONCE;
	case MCS_OP_AUTH_PROOF: return W_NONCE;
	case MCS_OP_BUF_ALLOC: return 8;
	case MCS_OP_BUF_FREE: return 4;
	case MCS_OP_MOUNT: return 3 * W_NAME + 20;
	case MCS_OP_REPLICA_ADD:
	case MCS_OP_REPLICA_REPORT: return W_NAME + W_KEY + 5 * 8 + 4 * 4;
	case MCS_OP_REPLICA_DROP: return W_NAME + 8;
	case MCS_OP_REPORT_END:
	case MCS_OP_UNMOUNT:
	case MCS_OP_HEARTBEAT: return W_NAME;
	case MCS_OP_PUT_START: return W_KEY + 8 + 4 + MCS_MAX_SLICES * 8u + W_CFG;
	case MCS_OP_PUT_END:
	case MCS_OP_GET_REPLICAS:
	case MCS_OP_RELEASE:
	case MCS_OP_REMOVE:
	case MCS_OP_PUT_REVOKE:
	case MCS_OP_EXIST: return W_KEY + 8;
	case MCS_OP_LIST: return W_KEY + 8 + 4;
	case MCS_OP_FETCH:
	case MCS_OP_PUSH: return 4 + 8 + 4 + MCS_MAX_HANDLES * W_HANDLE;
	case MCS_OP_DATA_READ:
	case MCS_OP_DATA_WRITE: return 2 * W_NAME + 3 * 8 + W_TOKEN;
	case MCS_OP_DATA_READV: return 2 * W_NAME + 8 + 4 + MCS_MAX_READV * (2 * 8 + W_TOKEN);
	default: return 0; /* PING, STAT, REMOVE_ALL; unknown */
	}
}

const char *mcs_op_name(uint16_t opcode)
{
#define OP(name) [MCS_OP_##name] = #name
	static const char *const names[MCS_OP_MAX_] = {
		OP(HELLO), OP(PING), OP(LEADER), OP(AUTH), OP(AUTH_PROOF), OP(BUF_ALLOC), OP(BUF_FREE), OP(MOUNT), OP(UNMOUNT),
		OP(HEARTBEAT), OP(REPLICA_ADD), OP(REPLICA_DROP), OP(REPLICA_REPORT),
		OP(REPORT_END), OP(PUT_START), OP(PUT_END), OP(PUT_REVOKE), OP(GET_REPLICAS),
		OP(RELEASE), OP(EXIST), OP(REMOVE), OP(REMOVE_ALL), OP(LIST), OP(STAT),
		OP(FETCH), OP(PUSH), OP(DATA_READ), OP(DATA_WRITE), OP(DATA_READV),
	};
#undef OP

	return opcode < MCS_OP_MAX_ && names[opcode] ? names[opcode] : "UNKNOWN";
}

/* ---- output buffer: the writers of wire.h, for the callers outside proto/ ---- */

void mcs_buf_put_u8(struct mcs_buf *b, uint8_t v)
{
	buf_u8(b, v);
}

void mcs_buf_put_u16(struct mcs_buf *b, uint16_t v)
{
	buf_u16(b, v);
}

void mcs_buf_put_u32(struct mcs_buf *b, uint32_t v)
{
	buf_u32(b, v);
}

void mcs_buf_put_u64(struct mcs_buf *b, uint64_t v)
{
	buf_u64(b, v);
}

void mcs_buf_put_bytes(struct mcs_buf *b, const void *p, size_t n)
{
	buf_bytes(b, p, n);
}

void mcs_buf_put_str(struct mcs_buf *b, struct mcs_str s)
{
	buf_str(b, s);
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

uint8_t mcs_rd_u8(struct mcs_rd *r)
{
	return rd_u8(r);
}

uint16_t mcs_rd_u16(struct mcs_rd *r)
{
	return rd_u16(r);
}

uint32_t mcs_rd_u32(struct mcs_rd *r)
{
	return rd_u32(r);
}

uint64_t mcs_rd_u64(struct mcs_rd *r)
{
	return rd_u64(r);
}

struct mcs_str mcs_rd_str(struct mcs_rd *r, uint32_t max_len)
{
	return rd_str(r, max_len);
}

int mcs_rd_finish(struct mcs_rd *r)
{
	return rd_finish(r);
}
