/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the wire protocol (proto/): the frame header, the opcode
 * names, the descriptor table, the output buffer and the reader; the
 * message bodies are test-proto-bodies.c's, the samples proto-samples.c's.
 */
#include <check.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "mcstore.h"
#include "proto/proto.h"
#include "tests/unit/proto-samples.h"

/* ---- header ------------------------------------------------------------------ */

START_TEST(test_hdr_layout)
{
	static const uint8_t want[MCS_HDR_SIZE] = {
		'M', 'C', 'S', '1', 4, 1, 0x34, 0x12, 0xb9, 0xff, 0xff, 0xff, /* version 4, -EPROTO */
		8, 7, 6, 5, 4, 3, 2, 1, 0xd0, 0xc0, 0xb0, 0xa0,
	};
	struct mcs_hdr h = {
		.magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .flags = MCS_F_RESPONSE,
		.opcode = 0x1234, .status = -EPROTO, .req_id = 0x0102030405060708ull,
		.body_len = 0xa0b0c0d0u,
	};
	uint8_t out[MCS_HDR_SIZE + 1];
	struct mcs_hdr d;

	mcs_hdr_encode(&h, out);
	ck_assert_mem_eq(out, want, MCS_HDR_SIZE);

	/* Decoding from an odd address: a struct cast would trip UBSan here. */
	memmove(out + 1, out, MCS_HDR_SIZE);
	ck_assert_int_eq(mcs_hdr_decode(out + 1, UINT32_MAX, &d), 0);
	ck_assert_uint_eq(d.magic, h.magic);
	ck_assert_uint_eq(d.version, h.version);
	ck_assert_uint_eq(d.flags, h.flags);
	ck_assert_uint_eq(d.opcode, h.opcode);
	ck_assert_int_eq(d.status, h.status);
	ck_assert_uint_eq(d.req_id, h.req_id);
	ck_assert_uint_eq(d.body_len, h.body_len);
}
END_TEST

START_TEST(test_hdr_status_extremes)
{
	static const int32_t statuses[] = { 0, -1, -EXFULL, -ENOMEM, -4095, INT32_MIN, INT32_MAX };
	uint8_t out[MCS_HDR_SIZE];

	for (size_t i = 0; i < MCS_ARRAY_SIZE(statuses); i++) {
		struct mcs_hdr h = { MCS_PROTO_MAGIC, MCS_PROTO_VERSION, 0, MCS_OP_PING, statuses[i], UINT64_MAX, 0 };
		struct mcs_hdr d;

		mcs_hdr_encode(&h, out);
		ck_assert_int_eq(mcs_hdr_decode(out, 0, &d), 0);
		ck_assert_int_eq(d.status, statuses[i]);
		ck_assert_uint_eq(d.req_id, UINT64_MAX);
	}
}
END_TEST

START_TEST(test_hdr_bad_magic)
{
	struct mcs_hdr h = { MCS_PROTO_MAGIC, MCS_PROTO_VERSION, 0, MCS_OP_PING, 0, 1, 0 };
	uint8_t out[MCS_HDR_SIZE];
	struct mcs_hdr d;

	for (unsigned i = 0; i < 4; i++) {
		for (unsigned bit = 0; bit < 8; bit++) {
			mcs_hdr_encode(&h, out);
			out[i] ^= (uint8_t)(1u << bit);
			ck_assert_int_eq(mcs_hdr_decode(out, MCS_DEFAULT_MAX_BODY, &d), -EPROTO);
		}
	}
	/* Magic is checked first: garbage is not reported as a version skew. */
	h.magic = 0x4d435332;
	h.version = 7;
	mcs_hdr_encode(&h, out);
	ck_assert_int_eq(mcs_hdr_decode(out, MCS_DEFAULT_MAX_BODY, &d), -EPROTO);
	memset(out, 0, sizeof(out));
	ck_assert_int_eq(mcs_hdr_decode(out, MCS_DEFAULT_MAX_BODY, &d), -EPROTO);
}
END_TEST

START_TEST(test_hdr_bad_version)
{
	static const uint8_t versions[] = { 0, MCS_PROTO_VERSION + 1, 0x80, 0xff };
	struct mcs_hdr h = { MCS_PROTO_MAGIC, 0, 0, MCS_OP_PING, 0, 1, 0 };
	uint8_t out[MCS_HDR_SIZE];
	struct mcs_hdr d;

	for (size_t i = 0; i < MCS_ARRAY_SIZE(versions); i++) {
		h.version = versions[i];
		mcs_hdr_encode(&h, out);
		ck_assert_int_eq(mcs_hdr_decode(out, MCS_DEFAULT_MAX_BODY, &d), -EPROTONOSUPPORT);
	}
}
END_TEST

START_TEST(test_hdr_body_len)
{
	struct mcs_hdr h = { MCS_PROTO_MAGIC, MCS_PROTO_VERSION, 0, MCS_OP_STAT, 0, 1, 0 };
	uint8_t out[MCS_HDR_SIZE];
	struct mcs_hdr d;

	h.body_len = MCS_DEFAULT_MAX_BODY;
	mcs_hdr_encode(&h, out);
	ck_assert_int_eq(mcs_hdr_decode(out, MCS_DEFAULT_MAX_BODY, &d), 0);
	ck_assert_uint_eq(d.body_len, MCS_DEFAULT_MAX_BODY);

	h.body_len = MCS_DEFAULT_MAX_BODY + 1;
	mcs_hdr_encode(&h, out);
	ck_assert_int_eq(mcs_hdr_decode(out, MCS_DEFAULT_MAX_BODY, &d), -EMSGSIZE);

	h.body_len = UINT32_MAX;
	mcs_hdr_encode(&h, out);
	ck_assert_int_eq(mcs_hdr_decode(out, MCS_DEFAULT_MAX_BODY, &d), -EMSGSIZE);
	ck_assert_int_eq(mcs_hdr_decode(out, UINT32_MAX, &d), 0);

	h.body_len = 1;
	mcs_hdr_encode(&h, out);
	ck_assert_int_eq(mcs_hdr_decode(out, 0, &d), -EMSGSIZE);
}
END_TEST

START_TEST(test_op_names)
{
	static const struct {
		uint16_t op;
		const char *name;
	} ops[] = {
		{ MCS_OP_HELLO, "HELLO" }, { MCS_OP_PING, "PING" }, { MCS_OP_LEADER, "LEADER" }, { MCS_OP_MOUNT, "MOUNT" },
		{ MCS_OP_UNMOUNT, "UNMOUNT" }, { MCS_OP_HEARTBEAT, "HEARTBEAT" }, { MCS_OP_REPLICA_ADD, "REPLICA_ADD" },
		{ MCS_OP_REPLICA_DROP, "REPLICA_DROP" }, { MCS_OP_REPLICA_REPORT, "REPLICA_REPORT" },
		{ MCS_OP_REPORT_END, "REPORT_END" },
		{ MCS_OP_PUT_START, "PUT_START" }, { MCS_OP_PUT_END, "PUT_END" },
		{ MCS_OP_PUT_REVOKE, "PUT_REVOKE" }, { MCS_OP_GET_REPLICAS, "GET_REPLICAS" },
		{ MCS_OP_RELEASE, "RELEASE" }, { MCS_OP_EXIST, "EXIST" }, { MCS_OP_REMOVE, "REMOVE" },
		{ MCS_OP_REMOVE_ALL, "REMOVE_ALL" }, { MCS_OP_LIST, "LIST" }, { MCS_OP_STAT, "STAT" },
		{ MCS_OP_BUF_ALLOC, "BUF_ALLOC" }, { MCS_OP_BUF_FREE, "BUF_FREE" }, { MCS_OP_FETCH, "FETCH" },
		{ MCS_OP_PUSH, "PUSH" }, { MCS_OP_DATA_READ, "DATA_READ" }, { MCS_OP_DATA_WRITE, "DATA_WRITE" },
	};
	static const uint16_t unknown[] = { 0, 8, 9, 17, 19, 29, 42, 49, MCS_OP_MAX_, 0xffff };

	for (size_t i = 0; i < MCS_ARRAY_SIZE(ops); i++)
		ck_assert_str_eq(mcs_op_name(ops[i].op), ops[i].name);
	for (size_t i = 0; i < MCS_ARRAY_SIZE(unknown); i++)
		ck_assert_str_eq(mcs_op_name(unknown[i]), "UNKNOWN");
}
END_TEST

/* The descriptor table itself: every row names a message that opcodes carry,
 * and mcs_msg_for() finds the row of each (opcode, direction). */
START_TEST(test_descriptors)
{
	static const struct {
		uint16_t op;
		bool response;
		int id; /* -1: no body */
	} frames[] = {
		{ MCS_OP_PING, false, -1 }, { MCS_OP_PING, true, -1 }, { MCS_OP_EXIST, false, MCS_MSG_key_req },
		{ MCS_OP_PUT_REVOKE, false, MCS_MSG_key_req }, { MCS_OP_EXIST, true, -1 },
		{ MCS_OP_PUT_START, true, MCS_MSG_put_start_resp }, { MCS_OP_REMOVE, true, MCS_MSG_err_detail },
		{ MCS_OP_PUSH, false, MCS_MSG_transfer_req }, { MCS_OP_DATA_WRITE, false, MCS_MSG_data_req },
		{ MCS_OP_DATA_WRITE, true, -1 }, { MCS_OP_STAT, false, -1 },
		{ MCS_OP_REPLICA_ADD, false, MCS_MSG_replica_part }, { MCS_OP_REPLICA_REPORT, false, MCS_MSG_replica_part },
		{ MCS_OP_REPLICA_REPORT, true, -1 }, { MCS_OP_REPLICA_DROP, false, MCS_MSG_replica_drop },
		{ MCS_OP_REPORT_END, false, MCS_MSG_unmount_req }, { MCS_OP_LEADER, false, -1 },
		{ MCS_OP_LEADER, true, MCS_MSG_leader_resp }, { 0, false, -1 }, { 0xffff, true, -1 },
	};

	for (unsigned i = 0; i < MCS_N_MSGS; i++) {
		const struct mcs_msg_desc *d = &mcs_msgs[i];

		ck_assert_ptr_nonnull(d->name);
		ck_assert(d->enc && d->dec && d->free);
		ck_assert_uint_ge(d->size, sizeof(uint32_t));
		ck_assert_msg(d->ops[0] != 0, "%s: carried by no opcode", d->name);
		for (unsigned j = 0; j < MCS_MSG_MAX_OPS && d->ops[j]; j++) {
			const struct mcs_msg_desc *f = mcs_msg_for(d->ops[j], d->response);

			ck_assert_str_ne(mcs_op_name(d->ops[j]), "UNKNOWN");
			ck_assert_ptr_nonnull(f);
			/* err_detail shares PUT_START's answers with put_start_resp,
			 * which comes first. */
			if (f != d)
				ck_assert_msg(i == MCS_MSG_err_detail && f == &mcs_msgs[MCS_MSG_put_start_resp],
					      "%s: opcode %u finds %s", d->name, d->ops[j], f->name);
		}
		for (unsigned j = 0; j < i; j++)
			ck_assert_str_ne(mcs_msgs[j].name, d->name);
	}
	ck_assert_str_eq(mcs_msgs[MCS_MSG_put_start_req].name, "put_start_req");
	ck_assert_uint_eq(mcs_msgs[MCS_MSG_put_start_req].size, sizeof(struct mcs_put_start_req));
	ck_assert_uint_eq(mcs_msgs[MCS_MSG_hello_resp].size, sizeof(struct mcs_hello_resp));
	for (size_t i = 0; i < MCS_ARRAY_SIZE(frames); i++) {
		const struct mcs_msg_desc *f = mcs_msg_for(frames[i].op, frames[i].response);

		if (frames[i].id < 0)
			ck_assert_ptr_null(f);
		else
			ck_assert_ptr_eq(f, &mcs_msgs[frames[i].id]);
	}
}
END_TEST

/* ---- buffer and frames ---------------------------------------------------------- */

START_TEST(test_buf_le)
{
	static const uint8_t want[] = { 0xab, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12,
					0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01, 'x', 'y',
					3, 0, 'a', 'b', 'c', 0, 0 };
	struct mcs_buf b;

	mcs_buf_init(&b);
	mcs_buf_put_u8(&b, 0xab);
	mcs_buf_put_u16(&b, 0x1234);
	mcs_buf_put_u32(&b, 0x12345678);
	mcs_buf_put_u64(&b, 0x0123456789abcdefull);
	mcs_buf_put_bytes(&b, "xy", 2);
	mcs_buf_put_bytes(&b, NULL, 0);
	mcs_buf_put_str(&b, S("abc"));
	mcs_buf_put_str(&b, S(""));
	ck_assert_int_eq(b.err, 0);
	ck_assert_uint_eq(b.len, sizeof(want));
	ck_assert_mem_eq(b.p, want, sizeof(want));
	mcs_buf_free(&b);
	ck_assert_ptr_null(b.p);
	ck_assert_uint_eq(b.len, 0);
	mcs_buf_free(&b);
}
END_TEST

/* mcs_peek_key reads the key of every one-key request as its decoder
 * would, and nothing else. */
START_TEST(test_peek_key)
{
	struct mcs_buf b;
	struct mcs_str k;
	uint64_t one = 4096;
	mcs_buf_init(&b);
	struct mcs_put_start_req ps = { .key = mcs_str_c("key-ps"), .value_len = 4096, .n_slices = 1,
					.slice_lens = &one };
	mcs_enc_put_start_req(&b, &ps);
	ck_assert_int_eq(mcs_peek_key(MCS_OP_PUT_START, b.p, b.len, &k), 0);
	ck_assert(k.len == 6 && memcmp(k.p, "key-ps", 6) == 0);
	mcs_buf_reset(&b);
	struct mcs_get_req g = { .key = mcs_str_c("key-get"), .flags = MCS_GET_HOLD };
	mcs_enc_get_req(&b, &g);
	ck_assert_int_eq(mcs_peek_key(MCS_OP_GET_REPLICAS, b.p, b.len, &k), 0);
	ck_assert(k.len == 7 && memcmp(k.p, "key-get", 7) == 0);
	/* a body cut inside its key has none; other opcodes are not read */
	ck_assert_int_eq(mcs_peek_key(MCS_OP_GET_REPLICAS, b.p, 5, &k), -EPROTO);
	ck_assert_int_eq(mcs_peek_key(MCS_OP_GET_REPLICAS, b.p, 0, &k), -EPROTO);
	ck_assert_int_eq(mcs_peek_key(MCS_OP_HEARTBEAT, b.p, b.len, &k), -ENOENT);
	ck_assert_int_eq(mcs_peek_key(MCS_OP_DATA_READ, b.p, b.len, &k), -ENOENT);
	mcs_buf_reset(&b);
	struct mcs_key_req e = { .key = mcs_str_c("x") };
	mcs_enc_key_req(&b, &e);
	ck_assert_int_eq(mcs_peek_key(MCS_OP_EXIST, b.p, b.len, &k), 0);
	ck_assert(k.len == 1 && k.p[0] == 'x');
	/* an empty key is no key */
	static const uint8_t empty[2] = { 0, 0 };
	ck_assert_int_eq(mcs_peek_key(MCS_OP_REMOVE, empty, sizeof(empty), &k), -EPROTO);
	mcs_buf_free(&b);
}
END_TEST

START_TEST(test_buf_grow)
{
	struct mcs_buf b;

	mcs_buf_init(&b);
	for (uint32_t i = 0; i < 100000; i++)
		mcs_buf_put_u32(&b, i * 2654435761u);
	ck_assert_int_eq(b.err, 0);
	ck_assert_uint_eq(b.len, 400000);
	ck_assert_uint_ge(b.cap, b.len);
	for (uint32_t i = 0; i < 100000; i++) {
		const uint8_t *q = b.p + 4 * (size_t)i;
		uint32_t v = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 | (uint32_t)q[3] << 24;

		EXPECT(v == i * 2654435761u, "word %u", i);
	}
	ck_assert_int_eq(mcs_buf_reserve(&b, 1 << 20), 0);
	ck_assert_uint_ge(b.cap - b.len, 1 << 20);
	mcs_buf_reset(&b);
	ck_assert_uint_eq(b.len, 0);
	ck_assert_ptr_nonnull(b.p);
	mcs_buf_free(&b);
}
END_TEST

START_TEST(test_buf_str_too_large)
{
	struct mcs_buf b;
	char *big = malloc(65536);
	size_t len;

	ck_assert_ptr_nonnull(big);
	memset(big, 'x', 65536);
	mcs_buf_init(&b);
	mcs_buf_put_str(&b, (struct mcs_str){ big, 65535 });
	ck_assert_int_eq(b.err, 0);
	ck_assert_uint_eq(b.len, 2 + 65535);
	ck_assert_uint_eq(b.p[0], 0xff);
	ck_assert_uint_eq(b.p[1], 0xff);

	len = b.len;
	mcs_buf_put_str(&b, (struct mcs_str){ big, 65536 });
	ck_assert_int_eq(b.err, -EMSGSIZE);
	ck_assert_uint_eq(b.len, len);
	/* Sticky: later writes are dropped and the first error is kept. */
	mcs_buf_put_u64(&b, 1);
	mcs_buf_put_str(&b, S("a"));
	ck_assert_uint_eq(b.len, len);
	ck_assert_int_eq(mcs_buf_reserve(&b, 1), -EMSGSIZE);
	ck_assert_int_eq(mcs_frame_end(&b), -EMSGSIZE);

	mcs_buf_reset(&b);
	ck_assert_int_eq(b.err, 0);
	ck_assert_uint_eq(b.len, 0);
	mcs_buf_put_u8(&b, 1);
	ck_assert_uint_eq(b.len, 1);
	mcs_buf_free(&b);
	free(big);
}
END_TEST

START_TEST(test_buf_enomem)
{
	struct mcs_buf b;

	mcs_buf_init(&b);
	mcs_buf_put_u8(&b, 1);
	/* len + extra overflows size_t: must fail without calling the allocator. */
	ck_assert_int_eq(mcs_buf_reserve(&b, SIZE_MAX), -ENOMEM);
	ck_assert_int_eq(b.err, -ENOMEM);
	mcs_buf_put_u8(&b, 2);
	ck_assert_uint_eq(b.len, 1);
	mcs_frame_begin(&b, MCS_OP_PING, 0, 0, 1);
	ck_assert_int_eq(mcs_frame_end(&b), -ENOMEM);
	mcs_buf_free(&b);
}
END_TEST

START_TEST(test_frame_multi)
{
	struct mcs_buf b;
	struct mcs_hdr h;
	size_t off = 0;
	unsigned nframes = 0;

	mcs_buf_init(&b);
	/* Several frames appended to one buffer, as a writer batches them. */
	for (uint32_t i = 0; i < 5; i++) {
		mcs_frame_begin(&b, (uint16_t)(MCS_OP_PUT_START + i), i % 2 ? MCS_F_RESPONSE : 0,
				i % 2 ? -ENOENT : 0, 1000 + i);
		for (uint32_t j = 0; j < i * 3; j++)
			mcs_buf_put_u8(&b, (uint8_t)j);
		ck_assert_int_eq(mcs_frame_end(&b), 0);
	}
	while (off < b.len) {
		ck_assert_uint_ge(b.len - off, MCS_HDR_SIZE);
		ck_assert_int_eq(mcs_hdr_decode(b.p + off, MCS_DEFAULT_MAX_BODY, &h), 0);
		ck_assert_uint_eq(h.opcode, MCS_OP_PUT_START + nframes);
		ck_assert_uint_eq(h.flags, nframes % 2 ? MCS_F_RESPONSE : 0);
		ck_assert_int_eq(h.status, nframes % 2 ? -ENOENT : 0);
		ck_assert_uint_eq(h.req_id, 1000 + nframes);
		ck_assert_uint_eq(h.body_len, nframes * 3);
		off += MCS_HDR_SIZE + h.body_len;
		nframes++;
	}
	ck_assert_uint_eq(off, b.len);
	ck_assert_uint_eq(nframes, 5);
	mcs_buf_free(&b);
}
END_TEST

START_TEST(test_frame_end_without_begin)
{
	struct mcs_buf b;

	mcs_buf_init(&b);
	ck_assert_int_eq(mcs_frame_end(&b), -EINVAL);
	mcs_buf_reset(&b);
	for (unsigned i = 0; i < 40; i++)
		mcs_buf_put_u8(&b, 0);
	ck_assert_int_eq(mcs_frame_end(&b), -EINVAL);
	mcs_buf_free(&b);
}
END_TEST

/* Encoders refuse what the decoders would refuse. */
START_TEST(test_enc_limits)
{
	struct mcs_buf b;
	char *big = calloc(1, MCS_KEY_MAX + 1);
	struct mcs_str too_long_key = { big, MCS_KEY_MAX + 1 };
	struct mcs_str too_long_name = { big, MCS_NAME_MAX + 1 };
	uint64_t sl[2] = { UINT64_MAX, 2 };
	struct mcs_replica rep = { MCS_REPLICA_FAILED + 1, 0, NULL };
	struct mcs_handle h = { S("s"), S("n"), S(""), UINT64_MAX, 1, 0, S("") };
	struct mcs_handle h_tok = { S("s"), S("n"), S(""), 0, 1, 0, S("short-token") };
	struct mcs_replica rep_tok = { MCS_REPLICA_COMPLETE, 1, &h_tok };
	struct mcs_replica rep_h = { MCS_REPLICA_COMPLETE, 1, &h };

	ck_assert_ptr_nonnull(big);
	mcs_buf_init(&b);
#define ENC_FAILS(want, call)                                            \
	do {                                                             \
		mcs_buf_reset(&b);                                       \
		mcs_frame_begin(&b, MCS_OP_PING, 0, 0, 1);               \
		call;                                                    \
		ck_assert_int_eq(mcs_frame_end(&b), want);               \
	} while (0)

	ENC_FAILS(-ENAMETOOLONG, mcs_enc_key_req(&b, &(struct mcs_key_req){ too_long_key }));
	ENC_FAILS(-EINVAL, mcs_enc_key_req(&b, &(struct mcs_key_req){ S("") }));
	ENC_FAILS(-ENAMETOOLONG, mcs_enc_get_req(&b, &(struct mcs_get_req){ too_long_key, 0 }));
	ENC_FAILS(-EMSGSIZE, mcs_enc_unmount_req(&b, &(struct mcs_unmount_req){ too_long_name }));
	ENC_FAILS(-EMSGSIZE,
		  mcs_enc_put_start_req(&b, &(struct mcs_put_start_req){
						    .key = S("k"), .cfg = { .n_locations = MCS_MAX_LOCATIONS + 1 } }));
	ENC_FAILS(-EMSGSIZE,
		  mcs_enc_put_start_req(&b, &(struct mcs_put_start_req){
						    .key = S("k"), .cfg = { .replica_num = MCS_MAX_REPLICAS + 1 } }));
	ENC_FAILS(-EMSGSIZE, mcs_enc_put_start_req(&b, &(struct mcs_put_start_req){
								     .key = S("k"), .n_slices = MCS_MAX_SLICES + 1 }));
	ENC_FAILS(-EINVAL, mcs_enc_put_start_req(&b, &(struct mcs_put_start_req){
								   .key = S("k"), .value_len = 5 }));
	ENC_FAILS(-EINVAL, mcs_enc_put_start_req(&b, &(struct mcs_put_start_req){
								   .key = S("k"), .value_len = 1, .n_slices = 2,
								   .slice_lens = sl }));
	ENC_FAILS(-EINVAL, mcs_enc_replica_list(&b, &(struct mcs_replica_list){ 1, &rep }));
	ENC_FAILS(-EINVAL, mcs_enc_replica_list(&b, &(struct mcs_replica_list){ 1, &rep_h }));
	rep.status = MCS_REPLICA_COMPLETE;
	rep.n_handles = MCS_MAX_HANDLES + 1;
	ENC_FAILS(-EMSGSIZE, mcs_enc_replica_list(&b, &(struct mcs_replica_list){ 1, &rep }));
	ENC_FAILS(-EMSGSIZE,
		  mcs_enc_replica_list(&b, &(struct mcs_replica_list){ MCS_MAX_REPLICAS + 1, &rep }));
	ENC_FAILS(-EMSGSIZE,
		  mcs_enc_stat_resp(&b, &(struct mcs_stat_resp){ .n_segments = MCS_MAX_SEGMENTS + 1 }));
	ENC_FAILS(-EINVAL, mcs_enc_data_req(&b, &(struct mcs_data_req){ S(""), 0, 1, 0, S(""), S("") }));
	ENC_FAILS(-EINVAL, mcs_enc_data_req(&b, &(struct mcs_data_req){ S("s"), 0, 0, 0, S(""), S("") }));
	ENC_FAILS(-EINVAL,
		  mcs_enc_data_req(&b, &(struct mcs_data_req){ S("s"), 0, MCS_MAX_DATA_CHUNK + 1, 0, S(""), S("") }));
	ENC_FAILS(-EINVAL, mcs_enc_data_req(&b, &(struct mcs_data_req){ S("s"), UINT64_MAX, 1, 0, S(""), S("") }));
	/* a token is empty or exactly MCS_TOKEN_WIRE_LEN bytes */
	ENC_FAILS(-EINVAL, mcs_enc_data_req(&b, &(struct mcs_data_req){ S("s"), 0, 1, 0, S(""), S("short") }));
	ENC_FAILS(-EINVAL, mcs_enc_replica_list(&b, &(struct mcs_replica_list){ 1, &rep_tok }));
	/* a replica part: a range that is empty, wraps or leaves its value;
	 * a replica or buffer number out of range */
#define PART(...) mcs_enc_replica_part(&b, &(struct mcs_replica_part){ __VA_ARGS__ })
	ENC_FAILS(0, PART(S("s"), S("k"), 0, 10, 10, 0, 0, 0, 0, 0, 1));
	ENC_FAILS(-EINVAL, PART(S(""), S("k"), 0, 10, 10, 0, 0, 0, 0, 0, 1));
	ENC_FAILS(-EINVAL, PART(S("s"), S("k"), 0, 0, 10, 0, 0, 0, 0, 0, 1));
	ENC_FAILS(-EINVAL, PART(S("s"), S("k"), UINT64_MAX, 2, 10, 0, 0, 0, 0, 0, 1));
	ENC_FAILS(-EINVAL, PART(S("s"), S("k"), 0, 10, 10, 0, 1, 0, 0, 0, 1));
	ENC_FAILS(-EINVAL, PART(S("s"), S("k"), 0, 10, 10, 0, 11, 0, 0, 0, 1));
	ENC_FAILS(-EINVAL, PART(S("s"), S("k"), 0, 10, 10, 0, 0, 0, MCS_MAX_REPLICAS, 0, 1));
	ENC_FAILS(-EINVAL, PART(S("s"), S("k"), 0, 10, 10, 0, 0, 0, 0, 1, 1));
	ENC_FAILS(-EINVAL, PART(S("s"), S("k"), 0, 10, 10, 0, 0, 0, 0, 0, 0));
	ENC_FAILS(-EINVAL, PART(S("s"), S("k"), 0, 10, 10, 0, 0, 0, 0, 0, MCS_MAX_HANDLES + 1));
	ENC_FAILS(-EINVAL, PART(S("s"), S(""), 0, 10, 10, 0, 0, 0, 0, 0, 1));
#undef PART
	ENC_FAILS(-EINVAL, mcs_enc_data_resp(&b, &(struct mcs_data_resp){ MCS_MAX_DATA_CHUNK + 1 }));
	ENC_FAILS(-ENAMETOOLONG, mcs_enc_list_req(&b, &(struct mcs_list_req){ too_long_key, 0, 1 }));
	ENC_FAILS(-EINVAL, mcs_enc_list_req(&b, &(struct mcs_list_req){ S(""), 0, 0 }));
	ENC_FAILS(-EINVAL, mcs_enc_list_req(&b, &(struct mcs_list_req){ S(""), 0, MCS_LIST_MAX + 1 }));
#undef ENC_FAILS
	mcs_buf_free(&b);
	free(big);
}
END_TEST

/* ---- reader ------------------------------------------------------------------------ */

START_TEST(test_rd_ints)
{
	static const uint8_t in[] = { 0xab, 0x34, 0x12, 0x78, 0x56, 0x34, 0x12,
				      0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01 };
	uint8_t *p = dup_exact(in, sizeof(in));
	struct mcs_rd r;

	mcs_rd_init(&r, p, sizeof(in));
	ck_assert_uint_eq(mcs_rd_u8(&r), 0xab);
	ck_assert_uint_eq(mcs_rd_u16(&r), 0x1234);
	ck_assert_uint_eq(mcs_rd_u32(&r), 0x12345678);
	ck_assert_uint_eq(mcs_rd_u64(&r), 0x0123456789abcdefull);
	ck_assert_int_eq(mcs_rd_finish(&r), 0);

	/* Unaligned reads at every offset (UBSan checks alignment). */
	for (size_t off = 0; off + 8 <= sizeof(in); off++) {
		mcs_rd_init(&r, p + off, sizeof(in) - off);
		(void)mcs_rd_u64(&r);
		ck_assert_int_eq(r.err, 0);
	}
	free(p);
}
END_TEST

START_TEST(test_rd_overrun)
{
	static const uint8_t in[] = { 1, 2, 3 };
	uint8_t *p = dup_exact(in, sizeof(in));
	struct mcs_rd r;

	mcs_rd_init(&r, p, sizeof(in));
	ck_assert_uint_eq(mcs_rd_u32(&r), 0);
	ck_assert_int_eq(r.err, -EPROTO);
	/* Sticky: the bytes that remain are not handed out any more. */
	ck_assert_uint_eq(mcs_rd_u8(&r), 0);
	ck_assert_uint_eq(mcs_rd_u16(&r), 0);
	ck_assert_int_eq(mcs_rd_finish(&r), -EPROTO);

	mcs_rd_init(&r, p, sizeof(in));
	ck_assert_uint_eq(mcs_rd_u16(&r), 0x0201);
	ck_assert_uint_eq(mcs_rd_u64(&r), 0);
	ck_assert_int_eq(r.err, -EPROTO);

	mcs_rd_init(&r, p, sizeof(in));
	ck_assert_uint_eq(mcs_rd_u8(&r), 1);
	ck_assert_int_eq(mcs_rd_finish(&r), -EPROTO); /* trailing bytes */

	mcs_rd_init(&r, p, 0);
	ck_assert_int_eq(mcs_rd_finish(&r), 0);
	ck_assert_uint_eq(mcs_rd_u8(&r), 0);
	ck_assert_int_eq(mcs_rd_finish(&r), -EPROTO);
	free(p);
}
END_TEST

START_TEST(test_rd_str)
{
	static const uint8_t in[] = { 3, 0, 'a', 'b', 'c', 0, 0, 5, 0, 'x' };
	uint8_t *p = dup_exact(in, sizeof(in));
	struct mcs_rd r;
	struct mcs_str s;

	mcs_rd_init(&r, p, sizeof(in));
	s = mcs_rd_str(&r, 3);
	ck_assert_int_eq(r.err, 0);
	ck_assert(mcs_str_eq(s, S("abc")));
	ck_assert_ptr_eq(s.p, (const char *)p + 2); /* no copy */
	s = mcs_rd_str(&r, 0);
	ck_assert_int_eq(r.err, 0);
	ck_assert_uint_eq(s.len, 0);
	/* Length beyond the body. */
	s = mcs_rd_str(&r, 100);
	ck_assert_int_eq(r.err, -EPROTO);
	ck_assert_uint_eq(s.len, 0);
	ck_assert_int_eq(mcs_rd_finish(&r), -EPROTO);

	/* Longer than max_len. */
	mcs_rd_init(&r, p, sizeof(in));
	s = mcs_rd_str(&r, 2);
	ck_assert_int_eq(r.err, -EPROTO);
	ck_assert_uint_eq(s.len, 0);

	/* Truncated length prefix. */
	mcs_rd_init(&r, p, 1);
	(void)mcs_rd_str(&r, 100);
	ck_assert_int_eq(r.err, -EPROTO);
	free(p);
}
END_TEST

/* The replica list reader is a sub-parser: it stops after the list. */
START_TEST(test_rd_replica_list_embedded)
{
	struct mcs_buf b;
	struct mcs_rd r;
	struct mcs_replica_list l;
	uint8_t *p;

	mcs_buf_init(&b);
	mcs_enc_replica_list(&b, &s_put_start_resp[1].list);
	mcs_buf_put_u32(&b, 0xdeadbeef);
	ck_assert_int_eq(b.err, 0);
	p = dup_exact(b.p, b.len);
	mcs_rd_init(&r, p, b.len);
	ck_assert_int_eq(mcs_rd_replica_list(&r, &l), 0);
	ck_assert(replica_list_eq(&l, &s_put_start_resp[1].list));
	ck_assert_uint_eq(mcs_rd_u32(&r), 0xdeadbeef);
	ck_assert_int_eq(mcs_rd_finish(&r), 0);
	mcs_replica_list_free(&l);
	ck_assert_ptr_null(l.replicas);
	ck_assert_uint_eq(l.n_replicas, 0);
	mcs_replica_list_free(&l);
	mcs_replica_list_free(NULL);

	/* A failing list poisons the reader. */
	mcs_rd_init(&r, p, 6);
	memset(&l, 0xa5, sizeof(l));
	ck_assert_int_eq(mcs_rd_replica_list(&r, &l), -EPROTO);
	ck_assert(all_zero(&l, sizeof(l)));
	ck_assert_int_eq(r.err, -EPROTO);
	free(p);
	mcs_buf_free(&b);
}
END_TEST

/* ---- runner ------------------------------------------------------------------------------ */

static Suite *proto_suite(void)
{
	Suite *s = suite_create("proto");
	TCase *tc;

	tc = tcase_create("header");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_hdr_layout);
	tcase_add_test(tc, test_hdr_status_extremes);
	tcase_add_test(tc, test_hdr_bad_magic);
	tcase_add_test(tc, test_hdr_bad_version);
	tcase_add_test(tc, test_hdr_body_len);
	tcase_add_test(tc, test_op_names);
	tcase_add_test(tc, test_descriptors);
	suite_add_tcase(s, tc);

	tc = tcase_create("buffer");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_buf_le);
	tcase_add_test(tc, test_buf_grow);
	tcase_add_test(tc, test_buf_str_too_large);
	tcase_add_test(tc, test_buf_enomem);
	tcase_add_test(tc, test_frame_multi);
	tcase_add_test(tc, test_frame_end_without_begin);
	tcase_add_test(tc, test_enc_limits);
	suite_add_tcase(s, tc);

	tc = tcase_create("reader");
	tcase_set_timeout(tc, 30);
	tcase_add_checked_fixture(tc, samples_init, NULL);
	tcase_add_test(tc, test_rd_ints);
	tcase_add_test(tc, test_rd_overrun);
	tcase_add_test(tc, test_rd_str);
	tcase_add_test(tc, test_peek_key);
	tcase_add_test(tc, test_rd_replica_list_embedded);
	suite_add_tcase(s, tc);

	proto_add_body_tcases(s);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(proto_suite());
	int failed;

	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
