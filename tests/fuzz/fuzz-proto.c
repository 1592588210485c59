/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target for the wire protocol decoders (proto/).
 *
 * The first input byte selects a message of the descriptor table mcs_msgs[]
 * (proto/messages.def) and the rest is its body; a selector past the
 * messages treats the rest as a stream of frames, as a connection reads them. Beyond "no crash, no leak" the target checks what
 * the decoders promise: a failure is a protocol status and leaves *ret
 * zeroed, and a success re-encodes to exactly the accepted bytes.
 *
 * Build with clang -fsanitize=fuzzer,address,undefined for libFuzzer, or with
 * -DMCS_FUZZ_STANDALONE for a driver that runs N pseudo-random inputs
 * (mutations of valid messages and plain noise) and reports in TAP, so that
 * it runs as an ordinary test without clang. `--write-seeds DIR` writes those
 * seeds, which are the corpus of the libFuzzer build (tests/fuzz/corpus/proto).
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "mcstore.h"
#include "proto/proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SEL_REPLICA_LIST MCS_N_MSGS
#define SEL_STREAM (MCS_N_MSGS + 1)

/* A broken promise is a bug like a crash: make the fuzzer see it. */
#define FUZZ_ASSERT(cond)                                                           \
	do {                                                                        \
		if (mcs_unlikely(!(cond))) {                                        \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #cond); \
			abort();                                                    \
		}                                                                   \
	} while (0)

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void run_decoder(const struct mcs_msg_desc *d, const uint8_t *body, size_t n)
{
	void *m = malloc(d->size);
	int rc;

	FUZZ_ASSERT(m != NULL);
	memset(m, 0xa5, d->size);
	rc = d->dec(body, n, m);
	if (rc < 0) {
		FUZZ_ASSERT(rc == -EPROTO || rc == -EMSGSIZE || rc == -ENAMETOOLONG);
		FUZZ_ASSERT(all_zero(m, d->size));
	} else {
		struct mcs_buf b;

		FUZZ_ASSERT(rc == 0);
		mcs_buf_init(&b);
		d->enc(&b, m);
		FUZZ_ASSERT(b.err == 0);
		FUZZ_ASSERT(b.len == n && (n == 0 || memcmp(b.p, body, n) == 0));
		mcs_buf_free(&b);
		d->free(m);
		FUZZ_ASSERT(all_zero(m, d->size));
	}
	free(m);
}

/* Frames back to back, dispatched on the header like a connection would. */
static void run_stream(const uint8_t *p, size_t n)
{
	while (n >= MCS_HDR_SIZE) {
		struct mcs_hdr h;
		const struct mcs_msg_desc *d;

		if (mcs_hdr_decode(p, MCS_DEFAULT_MAX_BODY, &h) < 0)
			return; /* the connection would be closed */
		p += MCS_HDR_SIZE;
		n -= MCS_HDR_SIZE;
		if (h.body_len > n)
			return; /* a short read: wait for more */
		d = mcs_msg_for(h.opcode, h.flags & MCS_F_RESPONSE);
		if (d)
			run_decoder(d, p, h.body_len);
		p += h.body_len;
		n -= h.body_len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mcs_hdr h;
	size_t sel;

	if (size >= MCS_HDR_SIZE) {
		(void)mcs_hdr_decode(data, MCS_DEFAULT_MAX_BODY, &h);
		(void)mcs_hdr_decode(data, UINT32_MAX, &h);
	}
	if (size == 0)
		return 0;
	sel = data[0] % (MCS_N_MSGS + 2);
	data++;
	size--;
	if (sel < MCS_N_MSGS) {
		run_decoder(&mcs_msgs[sel], data, size);
	} else if (sel == SEL_REPLICA_LIST) {
		struct mcs_rd r;
		struct mcs_replica_list l;

		mcs_rd_init(&r, data, size);
		if (mcs_rd_replica_list(&r, &l) == 0)
			mcs_replica_list_free(&l);
		else
			FUZZ_ASSERT(all_zero(&l, sizeof(l)) && r.err == -EPROTO);
	} else {
		run_stream(data, size);
	}
	return 0;
}

#ifdef MCS_FUZZ_STANDALONE
/* ---- standalone driver ------------------------------------------------------ */

static uint64_t rng_state = 0x66757a7au;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t rng_below(size_t n)
{
	return n ? (size_t)(rng_next() % n) : 0;
}

#define MAX_SEEDS 64
static struct mcs_buf seeds[MAX_SEEDS];
static size_t n_seeds;
static bool seeded[MCS_N_MSGS];

/* One seed: the selector byte of message id, then the encoded message. */
static void add_seed(enum mcs_msg_id id, const void *m)
{
	struct mcs_buf *b = &seeds[n_seeds++];

	mcs_buf_init(b);
	mcs_buf_put_u8(b, (uint8_t)id);
	mcs_msgs[id].enc(b, m);
	FUZZ_ASSERT(b->err == 0);
	seeded[id] = true;
}

static void build_seeds(void)
{
	static uint64_t slices[] = { 10, 0, 20 };
	static struct mcs_handle handles[2];
	static struct mcs_replica replicas[3];
	static struct mcs_seg_stat segs[2];
	struct mcs_replica_list list;
	struct mcs_buf *stream;

	handles[0] = (struct mcs_handle){ mcs_str_c("seg-0"), mcs_str_c("node-a"), mcs_str_c("h:1"), 4096, 100, 7,
					   { "tokentokentokentokentokentokentokentokent", MCS_TOKEN_WIRE_LEN } };
	handles[1] = (struct mcs_handle){ mcs_str_c("seg-1"), mcs_str_c("node-b"), mcs_str_c(""), 0, 30, 7, { "", 0 } };
	replicas[0] = (struct mcs_replica){ MCS_REPLICA_COMPLETE, 2, handles };
	replicas[1] = (struct mcs_replica){ MCS_REPLICA_PROCESSING, 1, &handles[1] };
	replicas[2] = (struct mcs_replica){ MCS_REPLICA_FAILED, 0, NULL };
	list = (struct mcs_replica_list){ 3, replicas };
	segs[0] = (struct mcs_seg_stat){ mcs_str_c("seg-0"), mcs_str_c("node-a"), 1 << 30, 4096, 2 };
	segs[1] = (struct mcs_seg_stat){ mcs_str_c("seg-1"), mcs_str_c(""), 1 << 20, 0, 0 };

	add_seed(MCS_MSG_hello_req, &(struct mcs_hello_req){ MCS_PROTO_VERSION, 42 });
	add_seed(MCS_MSG_hello_resp, &(struct mcs_hello_resp){ mcs_str_c("node-a"), mcs_str_c("seg-0"),
								       1 << 30, MCS_HELLO_HUGEPAGES, 1 << 26, { "127.0.0.1:7000", 14 },
								       7, { "0123456789abcdef0123456789abcdef", 32 } });
	add_seed(MCS_MSG_auth_req, &(struct mcs_auth_req){ 1, { "0123456789abcdef0123456789abcdef", 32 } });
	add_seed(MCS_MSG_auth_resp, &(struct mcs_auth_resp){ { "0123456789abcdef0123456789abcdef", 32 },
							     { "0123456789abcdef0123456789abcdef", 32 } });
	add_seed(MCS_MSG_auth_proof_req, &(struct mcs_auth_proof_req){ { "0123456789abcdef0123456789abcdef", 32 } });
	add_seed(MCS_MSG_mount_req, &(struct mcs_mount_req){ mcs_str_c("node-a"), mcs_str_c("seg-0"),
								       1 << 30, mcs_str_c("10.0.0.1:7000"), 7,
								       MCS_MOUNT_REPORTS });
	add_seed(MCS_MSG_unmount_req, &(struct mcs_unmount_req){ mcs_str_c("seg-0") });
	add_seed(MCS_MSG_replica_part, &(struct mcs_replica_part){ mcs_str_c("seg-0"), mcs_str_c("obj"), 4096, 20,
								     30, 0x1234, 10, MCS_REPL_SOFT_PIN, 1, 1, 2 });
	add_seed(MCS_MSG_leader_resp, &(struct mcs_leader_resp){ 7, mcs_str_c("127.0.0.1:50051"), MCS_LEADER_SELF });
	add_seed(MCS_MSG_replica_drop, &(struct mcs_replica_drop){ mcs_str_c("seg-0"), 4096 });
	add_seed(MCS_MSG_heartbeat_req, &(struct mcs_heartbeat_req){ mcs_str_c("node-a") });
	add_seed(MCS_MSG_key_req, &(struct mcs_key_req){ mcs_str_c("some/key") });
	add_seed(MCS_MSG_put_start_req,
		 &(struct mcs_put_start_req){ .key = mcs_str_c("obj"), .value_len = 30, .n_slices = 3,
					      .slice_lens = slices,
					      .cfg = { 2, MCS_REPL_SOFT_PIN, 2,
						       { mcs_str_c("seg-0"), mcs_str_c("seg-1") } } });
	add_seed(MCS_MSG_put_start_resp, &(struct mcs_put_start_resp){ list });
	add_seed(MCS_MSG_put_end_req, &(struct mcs_put_end_req){ mcs_str_c("obj"), 0x1234 });
	add_seed(MCS_MSG_get_req, &(struct mcs_get_req){ mcs_str_c("obj"), MCS_GET_HOLD });
	add_seed(MCS_MSG_get_resp, &(struct mcs_get_resp){ 30, 0x1234, 9, 5000, list });
	add_seed(MCS_MSG_release_req, &(struct mcs_release_req){ mcs_str_c("obj"), 9 });
	add_seed(MCS_MSG_remove_req, &(struct mcs_remove_req){ mcs_str_c("obj"), MCS_REMOVE_FORCE });
	add_seed(MCS_MSG_remove_all_resp, &(struct mcs_remove_all_resp){ 7 });
	static struct mcs_str keys[] = { { "a", 1 }, { "prefix/b", 8 } };
	add_seed(MCS_MSG_list_req, &(struct mcs_list_req){ mcs_str_c("prefix/"), 5, 100 });
	add_seed(MCS_MSG_list_resp, &(struct mcs_list_resp){ 9, 2, keys });
	add_seed(MCS_MSG_err_detail, &(struct mcs_err_detail){ 150 });
	add_seed(MCS_MSG_stat_resp, &(struct mcs_stat_resp){ 2, 1 << 30, 4096, 2, segs, 2, { 5, 6 } });
	add_seed(MCS_MSG_buf_alloc_req, &(struct mcs_buf_alloc_req){ 1 << 20 });
	add_seed(MCS_MSG_buf_alloc_resp, &(struct mcs_buf_alloc_resp){ 3, 1 << 20 });
	add_seed(MCS_MSG_buf_free_req, &(struct mcs_buf_free_req){ 3 });
	add_seed(MCS_MSG_transfer_req, &(struct mcs_transfer_req){ 3, 4096, 2, handles });
	add_seed(MCS_MSG_data_req, &(struct mcs_data_req){ mcs_str_c("seg-0"), 4096, 100, 7, mcs_str_c("h:1"),
							      { "", 0 } });
	add_seed(MCS_MSG_data_resp, &(struct mcs_data_resp){ 100 });
	static struct mcs_data_range ranges[] = { { 0, 4096, { "", 0 } }, { 1 << 20, 100, { "", 0 } } };
	add_seed(MCS_MSG_data_readv_req,
		 &(struct mcs_data_readv_req){ mcs_str_c("seg-0"), 7, mcs_str_c("h:1"), 2, ranges });
	/* A message of the table without a seed would only ever see noise. */
	for (size_t i = 0; i < MCS_N_MSGS; i++)
		if (!seeded[i]) {
			printf("Bail out! no seed for %s\n", mcs_msgs[i].name);
			exit(1);
		}

	/* The bare replica list, and a stream of three frames. */
	stream = &seeds[n_seeds++];
	mcs_buf_init(stream);
	mcs_buf_put_u8(stream, (uint8_t)SEL_REPLICA_LIST);
	mcs_enc_replica_list(stream, &list);

	stream = &seeds[n_seeds++];
	mcs_buf_init(stream);
	mcs_buf_put_u8(stream, (uint8_t)SEL_STREAM);
	mcs_frame_begin(stream, MCS_OP_GET_REPLICAS, 0, 0, 1);
	mcs_enc_get_req(stream, &(struct mcs_get_req){ mcs_str_c("obj"), 0 });
	mcs_frame_end(stream);
	mcs_frame_begin(stream, MCS_OP_PING, 0, 0, 2);
	mcs_frame_end(stream);
	mcs_frame_begin(stream, MCS_OP_GET_REPLICAS, MCS_F_RESPONSE, 0, 1);
	mcs_enc_get_resp(stream, &(struct mcs_get_resp){ 30, 0x1234, 0, 0, list });
	FUZZ_ASSERT(mcs_frame_end(stream) == 0);
	FUZZ_ASSERT(n_seeds <= MAX_SEEDS);
}

/* Values that sit on the limits the decoders check. */
static const uint32_t interesting[] = { 0, 1, 2, 5, 6, 15, 16, 17, 255, 256, 4095, 4096, 4097,
					65535, 65536, 65537, 0x7fffffff, 0xffffffff };

static void mutate(struct mcs_buf *b)
{
	unsigned nmut = 1 + (unsigned)rng_below(4);

	for (unsigned k = 0; k < nmut && b->len > 1; k++) {
		/* Leave the selector byte alone most of the time. */
		size_t at = rng_below(8) ? 1 + rng_below(b->len - 1) : 0;

		switch (rng_below(6)) {
		case 0:
			b->p[at] ^= (uint8_t)(1u << rng_below(8));
			break;
		case 1:
			b->p[at] = (uint8_t)rng_next();
			break;
		case 2: {
			uint32_t v = interesting[rng_below(MCS_ARRAY_SIZE(interesting))];
			size_t w = (size_t)1 << rng_below(3);

			for (size_t j = 0; j < w && at + j < b->len; j++)
				b->p[at + j] = (uint8_t)(v >> (8 * (j % 4)));
			break;
		}
		case 3:
			b->len = at;
			break;
		case 4:
			if (mcs_buf_reserve(b, 1) == 0) {
				memmove(b->p + at + 1, b->p + at, b->len - at);
				b->p[at] = (uint8_t)rng_next();
				b->len++;
			}
			break;
		default:
			memmove(b->p + at, b->p + at + 1, b->len - at - 1);
			b->len--;
			break;
		}
	}
}

int main(int argc, char **argv)
{
	uint64_t n = 200000;
	struct mcs_buf b;

	if (argc > 2 && strcmp(argv[1], "--write-seeds") == 0) {
		/* the seed corpus of the libFuzzer build, tests/fuzz/corpus/proto */
		build_seeds();
		for (size_t i = 0; i < n_seeds; i++) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/seed-%02zu", argv[2], i);
			FILE *f = fopen(path, "wb");
			FUZZ_ASSERT(f && fwrite(seeds[i].p, 1, seeds[i].len, f) == seeds[i].len && fclose(f) == 0);
		}
		return 0;
	}
	if (argc > 1 && mcs_parse_u64(argv[1], UINT32_MAX, &n) < 0) {
		printf("Bail out! usage: %s [COUNT]\n", argv[0]);
		return 2;
	}
	/* The plan goes out first: a crash then shows as a missing result. */
	printf("1..1\n");
	fflush(stdout);

	build_seeds();
	mcs_buf_init(&b);
	for (uint64_t i = 0; i < n; i++) {
		uint8_t *p;

		mcs_buf_reset(&b);
		if (i % 4 == 0) {
			size_t len = rng_below(i % 8 ? 64 : 1024);

			for (size_t j = 0; j < len; j++)
				mcs_buf_put_u8(&b, (uint8_t)rng_next());
		} else {
			const struct mcs_buf *s = &seeds[rng_below(n_seeds)];

			mcs_buf_put_bytes(&b, s->p, s->len);
			mutate(&b);
		}
		FUZZ_ASSERT(b.err == 0);
		/* An exact-size copy, as libFuzzer gives, so overreads are caught. */
		p = malloc(b.len ? b.len : 1);
		FUZZ_ASSERT(p != NULL);
		if (b.len)
			memcpy(p, b.p, b.len);
		LLVMFuzzerTestOneInput(p, b.len);
		free(p);
	}
	mcs_buf_free(&b);
	for (size_t i = 0; i < n_seeds; i++)
		mcs_buf_free(&seeds[i]);
	printf("ok 1 - fuzz-proto: %" PRIu64 " inputs\n", n);
	return 0;
}
#endif
