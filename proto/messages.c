/* SPDX-License-Identifier: MIT */
/*
 * The flat messages, generated from messages.def: for each one an encoder,
 * a decoder and a free function, and for every message (the hand-written
 * ones of arrays.c too) an entry of the descriptor table mcs_msgs[].
 *
 * A generated decoder reads the fields in order from a sticky reader,
 * keeps the first failure (so a long key says -ENAMETOOLONG, not the
 * -EPROTO of what follows), rejects trailing bytes, then applies the
 * message's own check if it is CHECKED. On failure it frees what it
 * allocated and zeroes *ret. A generated encoder applies the check first
 * and writes nothing when it fails; put_key and put_name refuse what the
 * decoder would refuse.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "common/util.h"
#include "mcstore.h"
#include "proto/proto.h"
#include "proto/wire.h"

/* ---- the rules of CHECKED messages -----------------------------------------------
 * check_<name>(m, enc) says what is wrong with m for the encoder (enc) or
 * for the decoder, which answer with statuses of their own. */

/* LIST: a prefix no longer than a key, a page of 1..MCS_LIST_MAX keys. */
static int check_list_req(const struct mcs_list_req *m, bool enc)
{
	if (m->prefix.len > MCS_KEY_MAX)
		return -ENAMETOOLONG;
	if (m->limit == 0 || m->limit > MCS_LIST_MAX)
		return enc ? -EINVAL : -EPROTO;
	return 0;
}

/* DATA_*: 1..MCS_MAX_DATA_CHUNK bytes of a named segment, in a range that
 * does not wrap around (it could pass a naive "end <= size" check). */
int mcs_check_data_req(const struct mcs_data_req *m, bool enc)
{
	uint64_t end;

	if (m->segment.len == 0 || m->len == 0 || __builtin_add_overflow(m->offset, m->len, &end) ||
	    (m->token.len != 0 && m->token.len != MCS_TOKEN_WIRE_LEN))
		return enc ? -EINVAL : -EPROTO;
	if (m->len > MCS_MAX_DATA_CHUNK)
		return enc ? -EINVAL : -EMSGSIZE;
	return 0;
}

/* A replica part: a non-empty range that does not wrap, inside its value,
 * at a valid place of a valid replica. */
static int check_data_req(const struct mcs_data_req *m, bool enc)
{
	return mcs_check_data_req(m, enc);
}

static int check_replica_part(const struct mcs_replica_part *m, bool enc)
{
	uint64_t end;

	if (m->segment.len == 0 || m->len == 0 || __builtin_add_overflow(m->offset, m->len, &end) ||
	    m->value_off > m->size || m->len > m->size - m->value_off || m->replica >= MCS_MAX_REPLICAS ||
	    m->n_handles == 0 || m->n_handles > MCS_MAX_HANDLES || m->handle >= m->n_handles)
		return enc ? -EINVAL : -EPROTO;
	return 0;
}

static int check_data_resp(const struct mcs_data_resp *m, bool enc)
{
	if (m->len > MCS_MAX_DATA_CHUNK)
		return enc ? -EINVAL : -EMSGSIZE;
	return 0;
}

/* ---- field kinds: how each is written, read (m is the message, r the reader,
 * s the first failure) and freed ------------------------------------------------ */

#define ENC_U32(f) buf_u32(b, m->f);
#define ENC_U64(f) buf_u64(b, m->f);
#define ENC_STR(f) buf_str(b, m->f);
#define ENC_NAME(f) put_name(b, m->f);
#define ENC_KEY(f) put_key(b, m->f);
#define ENC_REPLICAS(f) mcs_enc_replica_list(b, &m->f);

#define DEC_U32(f) m.f = rd_u32(&r);
#define DEC_U64(f) m.f = rd_u64(&r);
#define DEC_STR(f) m.f = rd_str(&r, UINT16_MAX);
#define DEC_NAME(f) if (s == 0) s = rd_name(&r, &m.f);
#define DEC_KEY(f) if (s == 0) s = rd_key(&r, &m.f);
#define DEC_REPLICAS(f) if (s == 0) s = mcs_rd_replica_list(&r, &m.f);

#define FREE_U32(f)
#define FREE_U64(f)
#define FREE_STR(f)
#define FREE_NAME(f)
#define FREE_KEY(f)
#define FREE_REPLICAS(f) mcs_replica_list_free(&m->f);

/* What the "how" column adds: the checks of CHECKED messages; BY_HAND
 * messages are not generated at all. GEN_<how>(gen, ...) makes gen's code
 * for the message or nothing. */
#define CHECK_PLAIN(name, m, enc) 0
#define CHECK_CHECKED(name, m, enc) check_##name(m, enc)
#define GEN_PLAIN(gen, name, fields) gen(name, PLAIN, fields)
#define GEN_CHECKED(gen, name, fields) gen(name, CHECKED, fields)
#define GEN_BY_HAND(gen, name, fields)

/* ---- free functions (the decoders' failure path and the descriptors) ------------ */

#define FREE_FN(name, how, fields)                  \
	static void desc_free_##name(void *p)       \
	{                                           \
		struct mcs_##name *m = p;           \
		fields                              \
		memset(m, 0, sizeof(*m));           \
	}
#define F(kind, f) FREE_##kind(f)
#define MCS_MSG(name, dir, ops, how, fields) GEN_##how(FREE_FN, name, fields)
#include "proto/messages.def"
#undef MCS_MSG
#undef F

/* ---- encoders -------------------------------------------------------------------- */

#define ENC_FN(name, how, fields)                                               \
	void mcs_enc_##name(struct mcs_buf *b, const struct mcs_##name *m)      \
	{                                                                       \
		int s = CHECK_##how(name, m, true);                             \
                                                                                \
		if (s < 0) {                                                    \
			buf_fail(b, s);                                         \
			return;                                                 \
		}                                                               \
		fields                                                          \
	}
#define F(kind, f) ENC_##kind(f)
#define MCS_MSG(name, dir, ops, how, fields) GEN_##how(ENC_FN, name, fields)
#include "proto/messages.def"
#undef MCS_MSG
#undef F

/* ---- decoders -------------------------------------------------------------------- */

#define DEC_FN(name, how, fields)                                                       \
	int mcs_dec_##name(const void *body, size_t n, struct mcs_##name *ret)          \
	{                                                                               \
		struct mcs_##name m = { 0 };                                            \
		struct mcs_rd r;                                                        \
		int s = 0;                                                              \
                                                                                        \
		rd_begin(&r, body, n);                                                  \
		fields                                                                  \
		if (s == 0)                                                             \
			s = rd_finish(&r);                                          \
		if (s == 0)                                                             \
			s = CHECK_##how(name, &m, false);                               \
		if (s < 0) {                                                            \
			desc_free_##name(&m);                                           \
			memset(ret, 0, sizeof(*ret));                                   \
			return s;                                                       \
		}                                                                       \
		*ret = m;                                                               \
		return 0;                                                               \
	}
#define F(kind, f) DEC_##kind(f)
#define MCS_MSG(name, dir, ops, how, fields) GEN_##how(DEC_FN, name, fields)
#include "proto/messages.def"
#undef MCS_MSG
#undef F

/* ---- descriptors ------------------------------------------------------------------ */

/* Typed wrappers, for every message: calling a function through a pointer
 * of another type is undefined behaviour. The hand-written messages bring
 * their own mcs_<name>_free. */
#define DESC_FREE_PLAIN(name)
#define DESC_FREE_CHECKED(name)
#define DESC_FREE_BY_HAND(name)                   \
	static void desc_free_##name(void *m)     \
	{                                         \
		mcs_##name##_free(m);             \
	}
#define MCS_MSG(name, dir, ops, how, fields)                               \
	static void desc_enc_##name(struct mcs_buf *b, const void *m)      \
	{                                                                  \
		mcs_enc_##name(b, m);                                      \
	}                                                                  \
	static int desc_dec_##name(const void *body, size_t n, void *ret) \
	{                                                                  \
		return mcs_dec_##name(body, n, ret);                       \
	}                                                                  \
	DESC_FREE_##how(name)
#include "proto/messages.def"
#undef MCS_MSG

#define DIR_REQ false
#define DIR_RESP true
#define MCS_UNPAREN(...) __VA_ARGS__

const struct mcs_msg_desc mcs_msgs[MCS_N_MSGS] = {
#define MCS_MSG(name, dir, ops, how, fields)                                                     \
	[MCS_MSG_##name] = { #name, { MCS_UNPAREN ops }, DIR_##dir, sizeof(struct mcs_##name), \
			     desc_enc_##name, desc_dec_##name, desc_free_##name },
#include "proto/messages.def"
#undef MCS_MSG
};

const struct mcs_msg_desc *mcs_msg_for(uint16_t opcode, bool response)
{
	for (size_t i = 0; i < MCS_N_MSGS; i++)
		for (size_t j = 0; j < MCS_MSG_MAX_OPS && mcs_msgs[i].ops[j]; j++)
			if (mcs_msgs[i].ops[j] == opcode && mcs_msgs[i].response == response)
				return &mcs_msgs[i];
	return NULL;
}

int mcs_peek_key(uint16_t opcode, const void *body, size_t n, struct mcs_str *ret)
{
	switch (opcode) {
	case MCS_OP_PUT_START:
	case MCS_OP_PUT_END:
	case MCS_OP_PUT_REVOKE:
	case MCS_OP_GET_REPLICAS:
	case MCS_OP_EXIST:
	case MCS_OP_RELEASE:
	case MCS_OP_REMOVE: {
		struct mcs_rd r;
		rd_begin(&r, body, n);
		return rd_key(&r, ret);
	}
	default:
		return -ENOENT;
	}
}
