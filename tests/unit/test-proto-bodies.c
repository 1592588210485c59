/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the wire protocol's message bodies (proto/), over every row
 * of the descriptor table mcs_msgs[].
 *
 * Every message is round-tripped through a real frame and checked against
 * its golden bytes, and every decoder is attacked with truncations,
 * trailing bytes, forged counts and lengths, random garbage and mutated
 * valid bodies. Bodies handed to decoders are copied into allocations of
 * exactly their size so that AddressSanitizer catches any read past the
 * end. A decoder that succeeds must describe its input exactly:
 * re-encoding the result must give back the same bytes.
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

/* ---- every message: round trip, truncation, trailing bytes -------------------------- */

static void check_roundtrip(const struct sample *s, uint16_t opcode)
{
	const struct mcs_msg_desc *t = &mcs_msgs[s->type];
	struct mcs_buf b;
	struct mcs_hdr h;
	size_t start;
	uint8_t *body;
	void *m;
	int rc;

	mcs_buf_init(&b);
	/* A frame already in the buffer: the header must be patched at its own
	 * start, not at offset 0. */
	mcs_frame_begin(&b, MCS_OP_PING, 0, 0, 1);
	ck_assert_int_eq(mcs_frame_end(&b), 0);
	start = b.len;
	mcs_frame_begin(&b, opcode, t->response ? MCS_F_RESPONSE : 0, 0, 0x1122334455667788ull);
	t->enc(&b, s->msg);
	ck_assert_msg(mcs_frame_end(&b) == 0, "%s: frame_end %d", t->name, b.err);

	ck_assert_int_eq(mcs_hdr_decode(b.p, MCS_DEFAULT_MAX_BODY, &h), 0);
	ck_assert_uint_eq(h.body_len, 0);
	ck_assert_int_eq(mcs_hdr_decode(b.p + start, MCS_DEFAULT_MAX_BODY, &h), 0);
	ck_assert_uint_eq(h.magic, MCS_PROTO_MAGIC);
	ck_assert_uint_eq(h.version, MCS_PROTO_VERSION);
	ck_assert_uint_eq(h.opcode, opcode);
	ck_assert_uint_eq(h.flags, t->response ? MCS_F_RESPONSE : 0);
	ck_assert_int_eq(h.status, 0);
	ck_assert_uint_eq(h.req_id, 0x1122334455667788ull);
	ck_assert_uint_eq(h.body_len, b.len - start - MCS_HDR_SIZE);

	body = dup_exact(b.p + start + MCS_HDR_SIZE, h.body_len);
	m = malloc(t->size);
	ck_assert_ptr_nonnull(m);
	memset(m, 0xa5, t->size);
	rc = t->dec(body, h.body_len, m);
	ck_assert_msg(rc == 0, "%s: decode failed: %s", t->name, mcs_status_text(rc));
	ck_assert_msg(msg_eq[s->type](s->msg, m), "%s: decoded message differs", t->name);
	t->free(m);
	free(m);
	/* dec_checked also verifies that re-encoding gives the same bytes. */
	ck_assert_int_eq(dec_checked(s->type, body, h.body_len), 0);
	free(body);
	mcs_buf_free(&b);
}

START_TEST(test_roundtrip)
{
	unsigned n = 0;

	samples_init();
	for (unsigned i = 0; i < n_samples; i++) {
		if (samples[i].type != (unsigned)_i)
			continue;
		/* In a frame of every opcode that carries the message. */
		for (unsigned j = 0; j < MCS_MSG_MAX_OPS && mcs_msgs[_i].ops[j]; j++)
			check_roundtrip(&samples[i], mcs_msgs[_i].ops[j]);
		n++;
	}
	ck_assert_msg(n >= 2, "%s: only %u samples", mcs_msgs[_i].name, n);
}
END_TEST

/* ---- golden bytes ---------------------------------------------------------------
 * The wire format must not move by one byte. One short sample of each
 * message is kept here in full, and all its samples (the big ones included)
 * as the FNV-1a hash of their lengths (8 bytes, little-endian) and bodies:
 * written by the encoders of protocol version 2 as they stood before the
 * message table, and by those of version 3 for what it changed (AUTH,
 * incarnations, tokens); every encoder must still produce them. */

static const struct {
	unsigned type;
	unsigned sample;        /* which of the message's samples is spelled out */
	const char *body;       /* its body, in hex */
	uint64_t all;           /* FNV-1a over every sample's length and body */
} golden[] = {
	{ MCS_MSG_hello_req, 0, "04000000d2040000",
	  0x3697b0a1702750cbull },
	{ MCS_MSG_hello_resp, 0, "06006e6f64652d6105007365672d30000000400000000001000000000000040e00313237"
	  "2e302e302e313a37343030efcdab90785634122000303132333435363738396162636465"
	  "6630313233343536373839616263646566",
	  0x008ad7bf5ccd7a15ull },
	{ MCS_MSG_auth_req, 0, "010000002000303132333435363738396162636465663031323334353637383961626364"
	  "6566",
	  0xc0018acd0a172530ull },
	{ MCS_MSG_auth_resp, 0, "200030313233343536373839616263646566303132333435363738396162636465662000"
	  "3031323334353637383961626364656630313233343536373839616263646566",
	  0xaa9b29f34fe408d0ull },
	{ MCS_MSG_auth_proof_req, 0, "20003031323334353637383961626364656630313233343536373839616263646566",
	  0x3cc788c936aafa35ull },
	{ MCS_MSG_mount_req, 0, "06006e6f64652d6105007365672d3000000040000000000d0031302e302e302e313a3730"
	  "30304d0000000000000000000000",
	  0x4e06a2e67dd364b9ull },
	{ MCS_MSG_unmount_req, 0, "05007365672d30",
	  0x510be1fbb3c85948ull },
	{ MCS_MSG_replica_part, 0, "05007365672d3003006f626a00100000000000002c010000000000002c01000000000000edfe"
	  "000000000000000000000000000000000000000000000000000001000000",
	  0x24fb7c3be1fc07f6ull },
	{ MCS_MSG_leader_resp, 0, "0c000000000000000f003132372e302e302e313a353030353101000000",
	  0xf03a80e30e118459ull },
	{ MCS_MSG_replica_drop, 0, "05007365672d300010000000000000",
	  0x09800d7384a572b2ull },
	{ MCS_MSG_heartbeat_req, 0, "06006e6f64652d61",
	  0xebb4f532f2292890ull },
	{ MCS_MSG_key_req, 0, "03006f626a",
	  0xc3f823a27a7c4a69ull },
	{ MCS_MSG_put_start_req, 0, "03006f626a2c010000000000000300000064000000000000006400000000000000640000"
	  "00000000000200000001000000020005007365672d3005007365672d31",
	  0x652288a2a321a08dull },
	{ MCS_MSG_put_start_resp, 0, "00000000",
	  0x684e0475a1581927ull },
	{ MCS_MSG_put_end_req, 0, "03006f626aefcdab8967452301",
	  0x9c49b07109f32a66ull },
	{ MCS_MSG_get_req, 0, "03006f626a01000000",
	  0x46ed45e98156fcdbull },
	{ MCS_MSG_get_resp, 3, "2c0100000000000034120000000000000900000000000000881300000100000003020000"
	  "0005007365672d3006006e6f64652d610d0031302e302e302e313a373030300010000000"
	  "000000e80300000000000005000000000000002900746f6b656e2d746f6b656e2d746f6b"
	  "656e2d746f6b656e2d746f6b656e2d746f6b656e2d746f6b656e05007365672d3106006e"
	  "6f64652d6200000000000000000000ffffffffffffffff00000000000000000000",
	  0x48522cea2886d50full },
	{ MCS_MSG_release_req, 0, "03006f626a0700000000000000",
	  0x291bb291e0f774a5ull },
	{ MCS_MSG_remove_req, 0, "03006f626a01000000",
	  0x46ed45e98156fcdbull },
	{ MCS_MSG_remove_all_resp, 1, "ffffffffffffffff",
	  0xda2765452f1c121dull },
	{ MCS_MSG_list_req, 0, "07007072656669782d000000000000000064000000",
	  0x0f110290fd60b573ull },
	{ MCS_MSG_list_resp, 3, "090000000000000001000000010061",
	  0x61c870f0ae68f472ull },
	{ MCS_MSG_err_detail, 1, "ffffffffffffffff",
	  0xda2765452f1c121dull },
	{ MCS_MSG_stat_resp, 3, "01000000000000000000008000000000e8030000000000000100000005007365672d3006"
	  "006e6f64652d610000004000000000e80300000000000003000000000000000200000005"
	  "000000000000000600000000000000",
	  0xc29e9906b8d28f8aull },
	{ MCS_MSG_buf_alloc_req, 0, "0000000400000000",
	  0x5e3bfb31c1731da1ull },
	{ MCS_MSG_buf_alloc_resp, 0, "010000000000000400000000",
	  0x9264bd668eee7e2cull },
	{ MCS_MSG_buf_free_req, 1, "ffffffff",
	  0xf7d5e41898a717a1ull },
	{ MCS_MSG_transfer_req, 0, "0300000000100000000000000200000005007365672d3006006e6f64652d610d0031302e"
	  "302e302e313a373030300010000000000000e80300000000000005000000000000002900"
	  "746f6b656e2d746f6b656e2d746f6b656e2d746f6b656e2d746f6b656e2d746f6b656e2d"
	  "746f6b656e05007365672d3106006e6f64652d6200000000000000000000ffffffffffff"
	  "ffff00000000000000000000",
	  0x830e364c204dc917ull },
	{ MCS_MSG_data_req, 0, "05007365672d300010000000000000010000000000000009000000000000000e00313237"
	  "2e302e302e313a373030302900746f6b656e2d746f6b656e2d746f6b656e2d746f6b656e"
	  "2d746f6b656e2d746f6b656e2d746f6b656e",
	  0xb8fe47aac58b6060ull },
	{ MCS_MSG_data_resp, 1, "0000000400000000",
	  0x8c9b6cc2d7568e19ull },
	{ MCS_MSG_data_readv_req, 0, "05007365672d3009000000000000000e003132372e302e302e313a373030300100000000"
	  "0000000000000000100000000000002900746f6b656e2d746f6b656e2d746f6b656e2d74"
	  "6f6b656e2d746f6b656e2d746f6b656e2d746f6b656e",
	  0x76fd31e0795c4434ull },
};

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ b[i]) * 0x100000001b3ull;
	return h;
}

START_TEST(test_golden)
{
	unsigned type = golden[_i].type;
	uint64_t h = 0xcbf29ce484222325ull;
	unsigned k = 0;
	bool seen = false;

	samples_init();
	for (unsigned i = 0; i < n_samples; i++) {
		struct mcs_buf b;
		uint8_t len[8];

		if (samples[i].type != type)
			continue;
		encode_body(&samples[i], &b);
		if (k++ == golden[_i].sample) {
			char *hex = malloc(2 * b.len + 1);

			ck_assert_ptr_nonnull(hex);
			for (size_t j = 0; j < b.len; j++)
				snprintf(hex + 2 * j, 3, "%02x", b.p[j]);
			hex[2 * b.len] = '\0';
			EXPECT(strcmp(hex, golden[_i].body) == 0, "%s: body %s, want %s", mcs_msgs[type].name, hex,
			       golden[_i].body);
			free(hex);
			seen = true;
		}
		for (unsigned j = 0; j < 8; j++)
			len[j] = (uint8_t)((uint64_t)b.len >> 8 * j);
		h = fnv1a(h, len, sizeof(len));
		h = fnv1a(h, b.p, b.len);
		mcs_buf_free(&b);
	}
	ck_assert_msg(seen, "%s: no sample %u", mcs_msgs[type].name, golden[_i].sample);
	ck_assert_msg(h == golden[_i].all, "%s: samples hash to 0x%016" PRIx64 ", want 0x%016" PRIx64,
		      mcs_msgs[type].name, h, golden[_i].all);
}
END_TEST

/* Every strict prefix of a valid body is rejected cleanly: the encoding is
 * self-delimiting, so no prefix may parse. */
START_TEST(test_truncation)
{
	samples_init();
	for (unsigned i = 0; i < n_samples; i++) {
		const struct sample *s = &samples[i];
		struct mcs_buf b;

		if (s->type != (unsigned)_i || s->big)
			continue;
		encode_body(s, &b);
		for (size_t len = 0; len < b.len; len++) {
			uint8_t *p = dup_exact(b.p, len);
			int rc = dec_checked(s->type, p, len);

			EXPECT(rc == -EPROTO, "%s sample %u: prefix %zu of %zu gave %d", mcs_msgs[_i].name, i,
			       len, b.len, rc);
			free(p);
		}
		/* NULL with no bytes, as for an empty frame body. */
		EXPECT(dec_checked(s->type, NULL, 0) == -EPROTO, "%s: NULL body", mcs_msgs[_i].name);
		mcs_buf_free(&b);
	}
}
END_TEST

START_TEST(test_trailing)
{
	static const uint8_t extra[] = { 0, 1, 0xff };

	samples_init();
	for (unsigned i = 0; i < n_samples; i++) {
		const struct sample *s = &samples[i];
		struct mcs_buf b;

		if (s->type != (unsigned)_i)
			continue;
		encode_body(s, &b);
		for (size_t e = 0; e < MCS_ARRAY_SIZE(extra); e++) {
			mcs_buf_put_u8(&b, extra[e]);
			uint8_t *p = dup_exact(b.p, b.len);

			ck_assert_int_eq(dec_checked(s->type, p, b.len), -EPROTO);
			free(p);
		}
		mcs_buf_free(&b);
	}
}
END_TEST

/* ---- keys ------------------------------------------------------------------------------ */

/* Replace the key at the start of a keyed sample's body by a key of key_len
 * bytes, of which only avail are actually present. */
static void splice_key(unsigned type, struct mcs_buf *out, uint16_t key_len, size_t avail, bool keep_rest)
{
	struct mcs_buf b;
	const struct sample *s = NULL;
	size_t old;

	for (unsigned i = 0; i < n_samples && !s; i++)
		if (samples[i].type == type)
			s = &samples[i];
	ck_assert_ptr_nonnull(s);
	encode_body(s, &b);
	old = (size_t)b.p[0] | (size_t)b.p[1] << 8;
	ck_assert_uint_lt(old, 16);

	mcs_buf_init(out);
	mcs_buf_put_u16(out, key_len);
	for (size_t i = 0; i < avail; i++)
		mcs_buf_put_u8(out, (uint8_t)('A' + i % 26));
	if (keep_rest)
		mcs_buf_put_bytes(out, b.p + 2 + old, b.len - 2 - old);
	mcs_buf_free(&b);
}

static const unsigned keyed_types[] = {
	MCS_MSG_key_req, MCS_MSG_put_start_req, MCS_MSG_put_end_req, MCS_MSG_get_req, MCS_MSG_release_req, MCS_MSG_remove_req,
};

START_TEST(test_keys)
{
	unsigned type = keyed_types[_i];
	struct mcs_buf b;

	samples_init();

	splice_key(type, &b, MCS_KEY_MAX, MCS_KEY_MAX, true);
	expect_dec(type, &b, 0);
	mcs_buf_free(&b);

	splice_key(type, &b, MCS_KEY_MAX + 1, MCS_KEY_MAX + 1, true);
	expect_dec(type, &b, -ENAMETOOLONG);
	mcs_buf_free(&b);

	splice_key(type, &b, UINT16_MAX, UINT16_MAX, true);
	expect_dec(type, &b, -ENAMETOOLONG);
	mcs_buf_free(&b);

	/* The key is required. */
	splice_key(type, &b, 0, 0, true);
	expect_dec(type, &b, -EPROTO);
	mcs_buf_free(&b);

	/* A key length running past the body is a framing error, however long. */
	splice_key(type, &b, MCS_KEY_MAX + 1, 10, false);
	expect_dec(type, &b, -EPROTO);
	mcs_buf_free(&b);
	splice_key(type, &b, 100, 10, false);
	expect_dec(type, &b, -EPROTO);
	mcs_buf_free(&b);
}
END_TEST

START_TEST(test_names_too_long)
{
	struct mcs_buf b;
	struct mcs_str mn = max_name_str();

	samples_init();
	/* 255 is fine, 256 is not, in every position. */
	for (unsigned pos = 0; pos < 3; pos++) {
		mcs_buf_init(&b);
		for (unsigned i = 0; i < 3; i++) {
			if (i == 2)
				mcs_buf_put_u64(&b, 1); /* size, between segment and endpoint */
			mcs_buf_put_u16(&b, i == pos ? MCS_NAME_MAX + 1 : MCS_NAME_MAX);
			mcs_buf_put_bytes(&b, mn.p, mn.len);
			if (i == pos)
				mcs_buf_put_u8(&b, 'n');
		}
		expect_dec(MCS_MSG_mount_req, &b, -EPROTO);
		mcs_buf_free(&b);
	}
	mcs_buf_init(&b);
	mcs_buf_put_u16(&b, MCS_NAME_MAX + 1);
	for (unsigned i = 0; i <= MCS_NAME_MAX; i++)
		mcs_buf_put_u8(&b, 'x');
	expect_dec(MCS_MSG_unmount_req, &b, -EPROTO);
	expect_dec(MCS_MSG_heartbeat_req, &b, -EPROTO);
	mcs_buf_free(&b);

	/* A location name in PUT_START. */
	mcs_buf_init(&b);
	mcs_buf_put_str(&b, S("k"));
	mcs_buf_put_u64(&b, 0);
	mcs_buf_put_u32(&b, 0);
	mcs_buf_put_u32(&b, 1);
	mcs_buf_put_u32(&b, 0);
	mcs_buf_put_u16(&b, 1);
	mcs_buf_put_u16(&b, MCS_NAME_MAX + 1);
	for (unsigned i = 0; i <= MCS_NAME_MAX; i++)
		mcs_buf_put_u8(&b, 'x');
	expect_dec(MCS_MSG_put_start_req, &b, -EPROTO);
	mcs_buf_free(&b);

	/* A segment name in STAT. */
	mcs_buf_init(&b);
	for (unsigned i = 0; i < 3; i++)
		mcs_buf_put_u64(&b, 0);
	mcs_buf_put_u32(&b, 1);
	mcs_buf_put_u16(&b, MCS_NAME_MAX + 1);
	for (unsigned i = 0; i <= MCS_NAME_MAX; i++)
		mcs_buf_put_u8(&b, 'x');
	mcs_buf_put_str(&b, S("n"));
	for (unsigned i = 0; i < 3; i++)
		mcs_buf_put_u64(&b, 0);
	expect_dec(MCS_MSG_stat_resp, &b, -EPROTO);
	mcs_buf_free(&b);
}
END_TEST

START_TEST(test_string_beyond_body)
{
	struct mcs_buf b;

	mcs_buf_init(&b);
	mcs_buf_put_u16(&b, 100);
	mcs_buf_put_bytes(&b, "node", 4);
	expect_dec(MCS_MSG_hello_resp, &b, -EPROTO);
	expect_dec(MCS_MSG_heartbeat_req, &b, -EPROTO);
	expect_dec(MCS_MSG_key_req, &b, -EPROTO);
	mcs_buf_free(&b);

	/* Second string overruns by one byte. */
	mcs_buf_init(&b);
	mcs_buf_put_str(&b, S("node"));
	mcs_buf_put_u16(&b, 5);
	mcs_buf_put_bytes(&b, "seg-", 4);
	expect_dec(MCS_MSG_mount_req, &b, -EPROTO);
	mcs_buf_free(&b);
}
END_TEST

/* ---- PUT_START bodies ----------------------------------------------------------------- */

/* key "k", value_len, n_slices, slices, cfg with no locations */
static void build_put_start(struct mcs_buf *b, uint64_t value_len, uint32_t n_slices, const uint64_t *sl,
			    size_t n_written)
{
	mcs_buf_init(b);
	mcs_buf_put_str(b, S("k"));
	mcs_buf_put_u64(b, value_len);
	mcs_buf_put_u32(b, n_slices);
	for (size_t i = 0; i < n_written; i++)
		mcs_buf_put_u64(b, sl[i]);
	mcs_buf_put_u32(b, 1);
	mcs_buf_put_u32(b, 0);
	mcs_buf_put_u16(b, 0);
}

START_TEST(test_slices)
{
	static const uint64_t ok[] = { 10, 0, 20 };
	static const uint64_t overflow[] = { UINT64_MAX, 2 };
	static const uint64_t overflow3[] = { 1ull << 63, 1ull << 63, 1 };
	struct mcs_buf b;

	build_put_start(&b, 30, 3, ok, 3);
	expect_dec(MCS_MSG_put_start_req, &b, 0);
	mcs_buf_free(&b);

	build_put_start(&b, 31, 3, ok, 3);
	expect_dec(MCS_MSG_put_start_req, &b, -EPROTO);
	mcs_buf_free(&b);
	build_put_start(&b, 29, 3, ok, 3);
	expect_dec(MCS_MSG_put_start_req, &b, -EPROTO);
	mcs_buf_free(&b);

	/* Empty value with no slice is fine; a value with no slice is not. */
	build_put_start(&b, 0, 0, NULL, 0);
	expect_dec(MCS_MSG_put_start_req, &b, 0);
	mcs_buf_free(&b);
	build_put_start(&b, 5, 0, NULL, 0);
	expect_dec(MCS_MSG_put_start_req, &b, -EPROTO);
	mcs_buf_free(&b);

	/* Sums that wrap to value_len must not pass. */
	build_put_start(&b, 1, 2, overflow, 2);
	expect_dec(MCS_MSG_put_start_req, &b, -EPROTO);
	mcs_buf_free(&b);
	build_put_start(&b, 1, 3, overflow3, 3);
	expect_dec(MCS_MSG_put_start_req, &b, -EPROTO);
	mcs_buf_free(&b);
}
END_TEST

START_TEST(test_replicate_cfg)
{
	struct mcs_buf b;

	/* replica_num over the limit */
	mcs_buf_init(&b);
	mcs_buf_put_str(&b, S("k"));
	mcs_buf_put_u64(&b, 0);
	mcs_buf_put_u32(&b, 0);
	mcs_buf_put_u32(&b, MCS_MAX_REPLICAS + 1);
	mcs_buf_put_u32(&b, 0);
	mcs_buf_put_u16(&b, 0);
	expect_dec(MCS_MSG_put_start_req, &b, -EMSGSIZE);
	mcs_buf_free(&b);

	/* n_locations over the limit, whatever follows */
	for (unsigned n = MCS_MAX_LOCATIONS + 1; n <= UINT16_MAX; n = n * 2 + 1) {
		mcs_buf_init(&b);
		mcs_buf_put_str(&b, S("k"));
		mcs_buf_put_u64(&b, 0);
		mcs_buf_put_u32(&b, 0);
		mcs_buf_put_u32(&b, 1);
		mcs_buf_put_u32(&b, 0);
		mcs_buf_put_u16(&b, (uint16_t)n);
		for (unsigned i = 0; i < MCS_MAX_LOCATIONS + 1; i++)
			mcs_buf_put_str(&b, S("s"));
		expect_dec(MCS_MSG_put_start_req, &b, -EMSGSIZE);
		mcs_buf_free(&b);
	}

	/* n_locations within the limit but more than the body holds */
	mcs_buf_init(&b);
	mcs_buf_put_str(&b, S("k"));
	mcs_buf_put_u64(&b, 0);
	mcs_buf_put_u32(&b, 0);
	mcs_buf_put_u32(&b, 1);
	mcs_buf_put_u32(&b, 0);
	mcs_buf_put_u16(&b, MCS_MAX_LOCATIONS);
	mcs_buf_put_str(&b, S("s"));
	expect_dec(MCS_MSG_put_start_req, &b, -EPROTO);
	mcs_buf_free(&b);
}
END_TEST

/* ---- forged counts --------------------------------------------------------------------- */

static void put_replica_prefix(struct mcs_buf *b, unsigned type)
{
	mcs_buf_init(b);
	if (type == MCS_MSG_get_resp) {
		mcs_buf_put_u64(b, 1);
		mcs_buf_put_u64(b, 2);
		mcs_buf_put_u64(b, 3);
		mcs_buf_put_u32(b, 4);
	}
}

START_TEST(test_absurd_counts)
{
	static const unsigned list_types[] = { MCS_MSG_put_start_resp, MCS_MSG_get_resp };
	struct mcs_buf b;
	size_t used;

	/* n_slices: over the limit, then within it but beyond the body. */
	build_put_start(&b, 1, UINT32_MAX, NULL, 0);
	used = expect_dec(MCS_MSG_put_start_req, &b, -EMSGSIZE);
	ck_assert_uint_eq(used, 0);
	mcs_buf_free(&b);
	build_put_start(&b, 1, MCS_MAX_SLICES + 1, NULL, 0);
	expect_dec(MCS_MSG_put_start_req, &b, -EMSGSIZE);
	mcs_buf_free(&b);
	build_put_start(&b, 1, MCS_MAX_SLICES, NULL, 0);
	used = expect_dec(MCS_MSG_put_start_req, &b, -EPROTO);
	ck_assert_uint_eq(used, 0);
	mcs_buf_free(&b);

	/* n_segments */
	for (unsigned k = 0; k < 3; k++) {
		static const uint32_t counts[] = { UINT32_MAX, MCS_MAX_SEGMENTS + 1, MCS_MAX_SEGMENTS };

		mcs_buf_init(&b);
		for (unsigned i = 0; i < 3; i++)
			mcs_buf_put_u64(&b, i);
		mcs_buf_put_u32(&b, counts[k]);
		mcs_buf_put_str(&b, S("s"));
		used = expect_dec(MCS_MSG_stat_resp, &b, k < 2 ? -EMSGSIZE : -EPROTO);
		ck_assert_uint_eq(used, 0);
		mcs_buf_free(&b);
	}

	for (size_t t = 0; t < MCS_ARRAY_SIZE(list_types); t++) {
		unsigned type = list_types[t];

		/* n_replicas */
		put_replica_prefix(&b, type);
		mcs_buf_put_u32(&b, UINT32_MAX);
		used = expect_dec(type, &b, -EMSGSIZE);
		ck_assert_uint_eq(used, 0);
		mcs_buf_free(&b);
		put_replica_prefix(&b, type);
		mcs_buf_put_u32(&b, MCS_MAX_REPLICAS + 1);
		expect_dec(type, &b, -EMSGSIZE);
		mcs_buf_free(&b);
		put_replica_prefix(&b, type);
		mcs_buf_put_u32(&b, MCS_MAX_REPLICAS);
		mcs_buf_put_u8(&b, MCS_REPLICA_COMPLETE);
		mcs_buf_put_u32(&b, 0);
		used = expect_dec(type, &b, -EPROTO);
		ck_assert_uint_eq(used, 0);
		mcs_buf_free(&b);

		/* n_handles: only the one-entry replica array may be allocated. */
		for (unsigned k = 0; k < 3; k++) {
			static const uint32_t counts[] = { UINT32_MAX, MCS_MAX_HANDLES + 1, MCS_MAX_HANDLES };

			put_replica_prefix(&b, type);
			mcs_buf_put_u32(&b, 1);
			mcs_buf_put_u8(&b, MCS_REPLICA_COMPLETE);
			mcs_buf_put_u32(&b, counts[k]);
			mcs_buf_put_str(&b, S("s"));
			used = expect_dec(type, &b, k < 2 ? -EMSGSIZE : -EPROTO);
			ck_assert_uint_le(used, sizeof(struct mcs_replica));
			mcs_buf_free(&b);
		}
	}
}
END_TEST

START_TEST(test_replica_fields)
{
	static const unsigned list_types[] = { MCS_MSG_put_start_resp, MCS_MSG_get_resp };

	for (size_t t = 0; t < MCS_ARRAY_SIZE(list_types); t++) {
		unsigned type = list_types[t];
		struct mcs_buf b;

		/* Every known status decodes; anything else is refused. */
		for (unsigned st = 0; st <= 0xff; st++) {
			put_replica_prefix(&b, type);
			mcs_buf_put_u32(&b, 2);
			mcs_buf_put_u8(&b, MCS_REPLICA_COMPLETE);
			mcs_buf_put_u32(&b, 0);
			mcs_buf_put_u8(&b, (uint8_t)st);
			mcs_buf_put_u32(&b, 0);
			expect_dec(type, &b, st <= MCS_REPLICA_FAILED ? 0 : -EPROTO);
			mcs_buf_free(&b);
		}

		/* A handle whose range wraps around. */
		for (unsigned k = 0; k < 2; k++) {
			put_replica_prefix(&b, type);
			mcs_buf_put_u32(&b, 1);
			mcs_buf_put_u8(&b, MCS_REPLICA_COMPLETE);
			mcs_buf_put_u32(&b, 1);
			mcs_buf_put_str(&b, S("seg"));
			mcs_buf_put_str(&b, S("node"));
			mcs_buf_put_str(&b, S(""));
			mcs_buf_put_u64(&b, UINT64_MAX - 9);
			mcs_buf_put_u64(&b, k ? 10 : 9);
			mcs_buf_put_u64(&b, 1);      /* incarnation */
			mcs_buf_put_str(&b, S(""));  /* no token */
			expect_dec(type, &b, k ? -EPROTO : 0);
			mcs_buf_free(&b);
		}

		/* A token is empty or exactly MCS_TOKEN_WIRE_LEN bytes. */
		static const uint32_t tok_lens[] = { 0, 1, MCS_TOKEN_WIRE_LEN - 1, MCS_TOKEN_WIRE_LEN,
						     MCS_TOKEN_WIRE_LEN + 1, 4000 };
		static char tok[4000];
		for (size_t k = 0; k < MCS_ARRAY_SIZE(tok_lens); k++) {
			put_replica_prefix(&b, type);
			mcs_buf_put_u32(&b, 1);
			mcs_buf_put_u8(&b, MCS_REPLICA_COMPLETE);
			mcs_buf_put_u32(&b, 1);
			mcs_buf_put_str(&b, S("seg"));
			mcs_buf_put_str(&b, S("node"));
			mcs_buf_put_str(&b, S(""));
			mcs_buf_put_u64(&b, 0);
			mcs_buf_put_u64(&b, 10);
			mcs_buf_put_u64(&b, 1);
			mcs_buf_put_str(&b, (struct mcs_str){ tok, tok_lens[k] });
			expect_dec(type, &b, tok_lens[k] == 0 || tok_lens[k] == MCS_TOKEN_WIRE_LEN ? 0 : -EPROTO);
			mcs_buf_free(&b);
		}
	}
}
END_TEST

/* ---- the largest request of each opcode --------------------------------------------------- */

/* Every request sample fits the bound its opcode gets on a server's port
 * (mcs_req_body_max), and the bound is no looser than the largest request
 * the encoders make: a message at every limit at once fills it exactly. */
START_TEST(test_req_body_max)
{
	samples_init();
	for (unsigned i = 0; i < n_samples; i++) {
		const struct mcs_msg_desc *t = &mcs_msgs[samples[i].type];
		if (t->response)
			continue;
		struct mcs_buf b;
		encode_body(&samples[i], &b);
		for (unsigned k = 0; k < MCS_MSG_MAX_OPS && t->ops[k]; k++)
			ck_assert_msg(b.len <= mcs_req_body_max(t->ops[k]), "%s sample of %zu bytes over %s's bound %u",
				      t->name, b.len, mcs_op_name(t->ops[k]), mcs_req_body_max(t->ops[k]));
		mcs_buf_free(&b);
	}
	static char big[MCS_KEY_MAX];
	memset(big, 'k', sizeof(big));
	struct mcs_str key = { big, MCS_KEY_MAX }, name = { big, MCS_NAME_MAX }, tok = { big, MCS_TOKEN_WIRE_LEN },
		       nonce = { big, 32 };
	static uint64_t slices[MCS_MAX_SLICES];
	static struct mcs_handle hs[MCS_MAX_HANDLES];
	for (unsigned i = 0; i < MCS_MAX_HANDLES; i++)
		hs[i] = (struct mcs_handle){ name, name, name, 0, 1, 1, tok };
	struct mcs_put_start_req ps = { .key = key, .value_len = 0, .n_slices = MCS_MAX_SLICES, .slice_lens = slices,
					.cfg = { .replica_num = MCS_MAX_REPLICAS, .n_locations = MCS_MAX_LOCATIONS } };
	for (unsigned i = 0; i < MCS_MAX_LOCATIONS; i++)
		ps.cfg.locations[i] = name;
	struct mcs_buf b;
#define AT_MAX(op, enc, ...)                                                                     \
	do {                                                                                      \
		mcs_buf_init(&b);                                                                 \
		enc(&b, __VA_ARGS__);                                                             \
		ck_assert_int_eq(b.err, 0);                                                       \
		ck_assert_msg(b.len == mcs_req_body_max(op), "%s at its limits: %zu bytes, bound %u", \
			      mcs_op_name(op), b.len, mcs_req_body_max(op));                      \
		mcs_buf_free(&b);                                                                 \
	} while (0)
	AT_MAX(MCS_OP_PUT_START, mcs_enc_put_start_req, &ps);
	AT_MAX(MCS_OP_PUSH, mcs_enc_transfer_req, &(struct mcs_transfer_req){ 1, 0, MCS_MAX_HANDLES, hs });
	AT_MAX(MCS_OP_DATA_READ, mcs_enc_data_req, &(struct mcs_data_req){ name, 0, 1, 1, name, tok });
	static struct mcs_data_range rs[MCS_MAX_READV];
	for (unsigned i = 0; i < MCS_MAX_READV; i++)
		rs[i] = (struct mcs_data_range){ i, 1, tok };
	AT_MAX(MCS_OP_DATA_READV, mcs_enc_data_readv_req,
	       &(struct mcs_data_readv_req){ name, 1, name, MCS_MAX_READV, rs });
	AT_MAX(MCS_OP_MOUNT, mcs_enc_mount_req, &(struct mcs_mount_req){ name, name, 1, name, 1, 1 });
	AT_MAX(MCS_OP_HEARTBEAT, mcs_enc_heartbeat_req, &(struct mcs_heartbeat_req){ name });
	AT_MAX(MCS_OP_REPORT_END, mcs_enc_unmount_req, &(struct mcs_unmount_req){ name });
	AT_MAX(MCS_OP_REPLICA_REPORT, mcs_enc_replica_part,
	       &(struct mcs_replica_part){ name, key, 0, 1, 1, 1, 0, 1, 0, 0, 1 });
	AT_MAX(MCS_OP_REPLICA_ADD, mcs_enc_replica_part, &(struct mcs_replica_part){ name, key, 0, 1, 1, 1, 0, 1, 0, 0, 1 });
	AT_MAX(MCS_OP_REPLICA_DROP, mcs_enc_replica_drop, &(struct mcs_replica_drop){ name, 1 });
	AT_MAX(MCS_OP_RELEASE, mcs_enc_release_req, &(struct mcs_release_req){ key, 1 });
	AT_MAX(MCS_OP_PUT_END, mcs_enc_put_end_req, &(struct mcs_put_end_req){ key, 1 });
	AT_MAX(MCS_OP_LIST, mcs_enc_list_req, &(struct mcs_list_req){ key, 1, MCS_LIST_MAX });
	AT_MAX(MCS_OP_AUTH, mcs_enc_auth_req, &(struct mcs_auth_req){ 1, nonce });
	AT_MAX(MCS_OP_AUTH_PROOF, mcs_enc_auth_proof_req, &(struct mcs_auth_proof_req){ nonce });
	AT_MAX(MCS_OP_HELLO, mcs_enc_hello_req, &(struct mcs_hello_req){ 3, 1 });
	AT_MAX(MCS_OP_BUF_ALLOC, mcs_enc_buf_alloc_req, &(struct mcs_buf_alloc_req){ 1 });
#undef AT_MAX
	/* the requests without a body, and what is no request */
	ck_assert_uint_eq(mcs_req_body_max(MCS_OP_PING), 0);
	ck_assert_uint_eq(mcs_req_body_max(MCS_OP_STAT), 0);
	ck_assert_uint_eq(mcs_req_body_max(MCS_OP_REMOVE_ALL), 0);
	ck_assert_uint_eq(mcs_req_body_max(MCS_OP_MAX_), 0);
	ck_assert_uint_eq(mcs_req_body_max(0xffff), 0);
}
END_TEST

/* ---- random input ----------------------------------------------------------------------- */

static void feed_everything(const uint8_t *p, size_t n, unsigned *ok)
{
	struct mcs_hdr h;
	struct mcs_rd r;
	struct mcs_replica_list l;

	for (unsigned t = 0; t < MCS_N_MSGS; t++)
		if (dec_checked(t, p, n) == 0)
			ok[t]++;
	if (n >= MCS_HDR_SIZE)
		(void)mcs_hdr_decode(p, (uint32_t)rng_next(), &h);
	mcs_rd_init(&r, p, n);
	if (mcs_rd_replica_list(&r, &l) == 0)
		mcs_replica_list_free(&l);
}

/* DATA_READV's rules, both ways: the encoder refuses what the decoder
 * would, and the decoder refuses forged bodies of each kind. */
static int readv_body(struct mcs_buf *b, const char *seg, uint32_t n, uint64_t off, uint64_t len, uint16_t toklen)
{
	static const char tok[64];

	mcs_buf_init(b);
	mcs_buf_put_str(b, (struct mcs_str){ seg, strlen(seg) });
	mcs_buf_put_u64(b, 1);
	mcs_buf_put_str(b, (struct mcs_str){ "h:1", 3 });
	mcs_buf_put_u32(b, n);
	for (uint32_t i = 0; i < n && i < 300; i++) {
		mcs_buf_put_u64(b, off + i * len);
		mcs_buf_put_u64(b, len);
		mcs_buf_put_str(b, (struct mcs_str){ tok, toklen });
	}
	return b->err;
}

START_TEST(test_readv_rules)
{
	struct mcs_buf b;
	struct mcs_data_readv_req m;
	const uint64_t big = MCS_MAX_DATA_CHUNK;
	static const struct {
		const char *seg;
		uint32_t n;
		uint64_t off, len;
		uint16_t toklen;
		int want;
	} cases[] = {
		{ "s", 1, 0, 1, 0, 0 },
		{ "s", 2, 0, 4096, MCS_TOKEN_WIRE_LEN, 0 },
		{ "s", MCS_MAX_READV, 0, 1, MCS_TOKEN_WIRE_LEN, 0 },
		{ "s", 2, 0, big / 2, 0, 0 },                         /* the total at its limit */
		{ "", 1, 0, 1, 0, -EPROTO },                          /* no segment */
		{ "s", 0, 0, 1, 0, -EPROTO },                         /* no range */
		{ "s", MCS_MAX_READV + 1, 0, 1, 0, -EMSGSIZE },       /* too many */
		{ "s", 1, 0, 0, 0, -EPROTO },                         /* an empty range */
		{ "s", 1, UINT64_MAX, 2, 0, -EPROTO },                /* wraps */
		{ "s", 1, 0, 1, 40, -EPROTO },                        /* a token cut short */
		{ "s", 1, 0, big + 1, 0, -EMSGSIZE },                 /* one range too long */
		{ "s", 3, 0, big / 2, 0, -EMSGSIZE },                 /* together too long */
	};
	for (unsigned i = 0; i < MCS_ARRAY_SIZE(cases); i++) {
		ck_assert_int_eq(readv_body(&b, cases[i].seg, cases[i].n, cases[i].off, cases[i].len, cases[i].toklen), 0);
		int r = mcs_dec_data_readv_req(b.p, b.len, &m);
		ck_assert_msg(r == cases[i].want, "case %u: decoded %d, want %d", i, r, cases[i].want);
		if (r == 0) {
			ck_assert_uint_eq(m.n_ranges, cases[i].n);
			ck_assert_uint_eq(m.ranges[m.n_ranges - 1].len, cases[i].len);
			/* what decodes, encodes back to the same bytes */
			struct mcs_buf e;
			mcs_buf_init(&e);
			mcs_enc_data_readv_req(&e, &m);
			ck_assert_int_eq(e.err, 0);
			ck_assert_uint_eq(e.len, b.len);
			ck_assert_int_eq(memcmp(e.p, b.p, b.len), 0);
			mcs_buf_free(&e);
		} else {
			ck_assert_ptr_null(m.ranges);
			/* and the encoder refuses the same message */
			static struct mcs_data_range rs[MCS_MAX_READV + 1];
			static const char tok[64];
			uint32_t n = cases[i].n;
			for (uint32_t k = 0; k < n; k++)
				rs[k] = (struct mcs_data_range){ cases[i].off + k * cases[i].len, cases[i].len,
								 { tok, cases[i].toklen } };
			struct mcs_data_readv_req q = { { cases[i].seg, strlen(cases[i].seg) }, 1, { "h:1", 3 }, n, rs };
			struct mcs_buf e;
			mcs_buf_init(&e);
			mcs_enc_data_readv_req(&e, &q);
			ck_assert_msg(e.err < 0, "case %u: encoded", i);
			mcs_buf_free(&e);
		}
		mcs_data_readv_req_free(&m);
		mcs_buf_free(&b);
	}
}
END_TEST

START_TEST(test_random_garbage)
{
	unsigned ok[MCS_N_MSGS] = { 0 };

	rng_state = 0x6d637374u;
	for (unsigned iter = 0; iter < 10000; iter++) {
		/* Mostly short: that is where the small messages live. */
		size_t n = iter % 4 ? rng_below(48) : rng_below(600);
		uint8_t *p = malloc(n ? n : 1);

		ck_assert_ptr_nonnull(p);
		for (size_t i = 0; i < n; i++)
			p[i] = (uint8_t)rng_next();
		/* Small length prefixes and counts make deeper paths reachable. */
		if (iter % 3 == 0)
			for (size_t i = 1; i < n; i += 2 + rng_below(6))
				p[i] = 0;
		feed_everything(p, n, ok);
		free(p);
	}
	/* Fixed-size bodies are accepted whenever the length matches. */
	ck_assert_uint_gt(ok[MCS_MSG_hello_req], 0);
	ck_assert_uint_gt(ok[MCS_MSG_remove_all_resp], 0);
}
END_TEST

/* Mutations of valid bodies get much deeper than pure noise. */
START_TEST(test_random_mutations)
{
	static const uint32_t interesting[] = { 0, 1, 2, 5, 6, 15, 16, 17, 255, 256, 4095, 4096, 4097,
						65535, 65536, 65537, 0x7fffffff, 0xffffffff };
	unsigned ok[MCS_N_MSGS] = { 0 };
	unsigned small[MAX_SAMPLES], n_small = 0;
	unsigned own_ok = 0;

	samples_init();
	for (unsigned i = 0; i < n_samples; i++)
		if (!samples[i].big)
			small[n_small++] = i;
	rng_state = 0x70726f74u;
	for (unsigned iter = 0; iter < 20000; iter++) {
		const struct sample *s = &samples[small[rng_below(n_small)]];
		struct mcs_buf b;
		unsigned nmut = 1 + (unsigned)rng_below(3);
		uint8_t *p;

		encode_body(s, &b);
		for (unsigned k = 0; k < nmut && b.len > 0; k++) {
			size_t at = rng_below(b.len);

			switch (rng_below(5)) {
			case 0:
				b.p[at] ^= (uint8_t)(1u << rng_below(8));
				break;
			case 1:
				b.p[at] = (uint8_t)rng_next();
				break;
			case 2: {
				uint32_t v = interesting[rng_below(MCS_ARRAY_SIZE(interesting))];

				for (size_t j = 0; j < 4 && at + j < b.len; j++)
					b.p[at + j] = (uint8_t)(v >> (8 * j));
				break;
			}
			case 3:
				b.len = at;
				break;
			default:
				mcs_buf_put_u8(&b, (uint8_t)rng_next());
				break;
			}
		}
		p = dup_exact(b.p, b.len);
		if (dec_checked(s->type, p, b.len) == 0)
			own_ok++;
		feed_everything(p, b.len, ok);
		free(p);
		mcs_buf_free(&b);
	}
	/* Some mutations (e.g. of a plain integer) must still decode. */
	ck_assert_uint_gt(own_ok, 100);
}
END_TEST

/* ---- runner ------------------------------------------------------------------------------ */

void proto_add_body_tcases(Suite *s)
{
	TCase *tc;

	tc = tcase_create("messages");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_roundtrip, 0, MCS_N_MSGS);
	tcase_add_loop_test(tc, test_truncation, 0, MCS_N_MSGS);
	tcase_add_loop_test(tc, test_trailing, 0, MCS_N_MSGS);
	tcase_add_loop_test(tc, test_golden, 0, (int)MCS_ARRAY_SIZE(golden));
	suite_add_tcase(s, tc);

	tc = tcase_create("malformed");
	tcase_set_timeout(tc, 60);
	tcase_add_loop_test(tc, test_keys, 0, (int)MCS_ARRAY_SIZE(keyed_types));
	tcase_add_test(tc, test_names_too_long);
	tcase_add_test(tc, test_string_beyond_body);
	tcase_add_test(tc, test_slices);
	tcase_add_test(tc, test_replicate_cfg);
	tcase_add_test(tc, test_absurd_counts);
	tcase_add_test(tc, test_replica_fields);
	tcase_add_test(tc, test_req_body_max);
	tcase_add_test(tc, test_readv_rules);
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_random_garbage);
	tcase_add_test(tc, test_random_mutations);
	suite_add_tcase(s, tc);
}
