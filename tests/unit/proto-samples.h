/* SPDX-License-Identifier: MIT */
/*
 * Inside the proto tests only: proto-samples.c, shared by test-proto.c
 * (header, buffer, reader, descriptors) and test-proto-bodies.c (every
 * message body: round trips, golden bytes, malformed and random input).
 */
#ifndef MCS_TESTS_PROTO_SAMPLES_H
#define MCS_TESTS_PROTO_SAMPLES_H

#include <check.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "proto/proto.h"

/* Cheap assertion for hot loops: Check's own macros write a mark point to a
 * pipe on every success, which would dominate the run time. */
#define EXPECT(cond, fmt, ...)                                        \
	do {                                                          \
		if (mcs_unlikely(!(cond)))                            \
			ck_abort_msg("(%s) " fmt, #cond, ##__VA_ARGS__); \
	} while (0)

/* Bytes allocated since the start (0 without the sanitizer's hooks). */
extern size_t alloc_bytes;
void alloc_hooks_install(void);

/* splitmix64 */
extern uint64_t rng_state;
uint64_t rng_next(void);
size_t rng_below(size_t n);

/* A heap copy of exactly n bytes: one byte more read is an ASan report. */
uint8_t *dup_exact(const void *p, size_t n);
bool all_zero(const void *p, size_t n);
struct mcs_str S(const char *s);

/* Whether a decoded message is the one encoded, per message id. */
typedef bool msg_eq_fn(const void *a, const void *b);
extern msg_eq_fn *const msg_eq[MCS_N_MSGS];
bool replica_list_eq(const struct mcs_replica_list *a, const struct mcs_replica_list *b);

/* Several values of every message (type: its enum mcs_msg_id), set by
 * samples_init(). */
struct sample {
	unsigned type;
	const void *msg;
	bool big;
};

#define MAX_SAMPLES 96
extern struct sample samples[MAX_SAMPLES];
extern unsigned n_samples;
extern struct mcs_put_start_resp s_put_start_resp[4];
void samples_init(void);
struct mcs_str max_name_str(void);   /* MCS_NAME_MAX bytes */

/* Encode a sample's body alone. */
void encode_body(const struct sample *s, struct mcs_buf *b);
/* Decode with every check a decoder owes its caller; the decoder's status. */
int dec_checked(unsigned type, const void *p, size_t n);
/* Decode a hand-built body expecting a status; the bytes the decoder
 * allocated (0 without the sanitizer's hooks). */
size_t expect_dec(unsigned type, const struct mcs_buf *b, int want);

/* test-proto-bodies.c's test cases. */
void proto_add_body_tcases(Suite *s);

#endif
