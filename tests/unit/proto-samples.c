/* SPDX-License-Identifier: MIT */
/*
 * What the proto tests (test-proto.c, test-proto-bodies.c) share: the
 * samples of every message, the equality of each, the decoder wrapper that
 * checks what every decoder owes its caller, allocation accounting and a
 * deterministic PRNG.
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

/* ---- allocation accounting ---------------------------------------------
 * "A forged count must not cause a big allocation" is only observable by
 * watching the allocator. The sanitizer runtime offers hooks for that;
 * without it the tests still check the statuses but cannot see the
 * allocations. */
#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ALLOC_HOOKS 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ALLOC_HOOKS 1
#endif
#endif

size_t alloc_bytes;

#ifdef HAVE_ALLOC_HOOKS
int __sanitizer_install_malloc_and_free_hooks(void (*malloc_hook)(const volatile void *, size_t),
					      void (*free_hook)(const volatile void *));

static void on_malloc(const volatile void *p, size_t n)
{
	alloc_bytes += n;
}

static void on_free(const volatile void *p)
{
}

void alloc_hooks_install(void)
{
	static bool installed;

	if (!installed)
		installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
}
#else
void alloc_hooks_install(void)
{
}
#endif

/* ---- deterministic PRNG (splitmix64) ------------------------------------ */

uint64_t rng_state;

uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

size_t rng_below(size_t n)
{
	return n ? (size_t)(rng_next() % n) : 0;
}

/* ---- helpers ---------------------------------------------------------------- */

/* A heap copy of exactly n bytes: one byte more read is an ASan report. */
uint8_t *dup_exact(const void *p, size_t n)
{
	uint8_t *d = malloc(n);

	ck_assert(d != NULL || n == 0);
	if (n)
		memcpy(d, p, n);
	return d;
}

bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

struct mcs_str S(const char *s)
{
	return mcs_str_c(s);
}

/* ---- the messages ------------------------------------------------------------
 * The tests walk proto's descriptor table mcs_msgs[] (proto/messages.def);
 * what they add is an equality per message, to see that a decoded message is
 * the one encoded: a message of the table without eq_<name> does not compile. */

static bool handle_eq(const struct mcs_handle *a, const struct mcs_handle *b)
{
	return mcs_str_eq(a->segment, b->segment) && mcs_str_eq(a->node, b->node) &&
	       mcs_str_eq(a->endpoint, b->endpoint) && a->offset == b->offset && a->len == b->len &&
	       a->incarnation == b->incarnation && mcs_str_eq(a->token, b->token);
}

bool replica_list_eq(const struct mcs_replica_list *a, const struct mcs_replica_list *b)
{
	if (a->n_replicas != b->n_replicas)
		return false;
	for (uint32_t i = 0; i < a->n_replicas; i++) {
		const struct mcs_replica *x = &a->replicas[i], *y = &b->replicas[i];

		if (x->status != y->status || x->n_handles != y->n_handles)
			return false;
		for (uint32_t j = 0; j < x->n_handles; j++)
			if (!handle_eq(&x->handles[j], &y->handles[j]))
				return false;
	}
	return true;
}

static bool cfg_eq(const struct mcs_replicate_cfg *a, const struct mcs_replicate_cfg *b)
{
	if (a->replica_num != b->replica_num || a->flags != b->flags || a->n_locations != b->n_locations)
		return false;
	for (uint32_t i = 0; i < a->n_locations; i++)
		if (!mcs_str_eq(a->locations[i], b->locations[i]))
			return false;
	return true;
}

static bool eq_hello_req(const void *pa, const void *pb)
{
	const struct mcs_hello_req *a = pa, *b = pb;

	return a->client_version == b->client_version && a->pid == b->pid;
}

static bool eq_hello_resp(const void *pa, const void *pb)
{
	const struct mcs_hello_resp *a = pa, *b = pb;

	return mcs_str_eq(a->node, b->node) && mcs_str_eq(a->segment, b->segment) &&
	       a->segment_size == b->segment_size && a->flags == b->flags && a->max_body == b->max_body &&
	       mcs_str_eq(a->master, b->master) && a->incarnation == b->incarnation &&
	       mcs_str_eq(a->client_key, b->client_key);
}

static bool eq_auth_req(const void *pa, const void *pb)
{
	const struct mcs_auth_req *a = pa, *b = pb;

	return a->role == b->role && mcs_str_eq(a->nonce, b->nonce);
}

static bool eq_auth_resp(const void *pa, const void *pb)
{
	const struct mcs_auth_resp *a = pa, *b = pb;

	return mcs_str_eq(a->nonce, b->nonce) && mcs_str_eq(a->mac, b->mac);
}

static bool eq_auth_proof_req(const void *pa, const void *pb)
{
	const struct mcs_auth_proof_req *a = pa, *b = pb;

	return mcs_str_eq(a->mac, b->mac);
}

static bool eq_mount_req(const void *pa, const void *pb)
{
	const struct mcs_mount_req *a = pa, *b = pb;

	return mcs_str_eq(a->node, b->node) && mcs_str_eq(a->segment, b->segment) &&
	       a->size == b->size && mcs_str_eq(a->endpoint, b->endpoint) && a->incarnation == b->incarnation &&
	       a->flags == b->flags;
}

static bool eq_leader_resp(const void *pa, const void *pb)
{
	const struct mcs_leader_resp *a = pa, *b = pb;

	return a->term == b->term && mcs_str_eq(a->leader, b->leader) && a->flags == b->flags;
}

static bool eq_replica_part(const void *pa, const void *pb)
{
	const struct mcs_replica_part *a = pa, *b = pb;

	return mcs_str_eq(a->segment, b->segment) && mcs_str_eq(a->key, b->key) && a->offset == b->offset &&
	       a->len == b->len && a->size == b->size && a->checksum == b->checksum && a->value_off == b->value_off &&
	       a->flags == b->flags && a->replica == b->replica && a->handle == b->handle &&
	       a->n_handles == b->n_handles;
}

static bool eq_replica_drop(const void *pa, const void *pb)
{
	const struct mcs_replica_drop *a = pa, *b = pb;

	return mcs_str_eq(a->segment, b->segment) && a->offset == b->offset;
}

static bool eq_unmount_req(const void *pa, const void *pb)
{
	const struct mcs_unmount_req *a = pa, *b = pb;

	return mcs_str_eq(a->segment, b->segment);
}

static bool eq_heartbeat_req(const void *pa, const void *pb)
{
	const struct mcs_heartbeat_req *a = pa, *b = pb;

	return mcs_str_eq(a->node, b->node);
}

static bool eq_key_req(const void *pa, const void *pb)
{
	const struct mcs_key_req *a = pa, *b = pb;

	return mcs_str_eq(a->key, b->key);
}

static bool eq_put_start_req(const void *pa, const void *pb)
{
	const struct mcs_put_start_req *a = pa, *b = pb;

	if (!mcs_str_eq(a->key, b->key) || a->value_len != b->value_len || a->n_slices != b->n_slices)
		return false;
	for (uint32_t i = 0; i < a->n_slices; i++)
		if (a->slice_lens[i] != b->slice_lens[i])
			return false;
	return cfg_eq(&a->cfg, &b->cfg);
}

static bool eq_put_start_resp(const void *pa, const void *pb)
{
	const struct mcs_put_start_resp *a = pa, *b = pb;

	return replica_list_eq(&a->list, &b->list);
}

static bool eq_put_end_req(const void *pa, const void *pb)
{
	const struct mcs_put_end_req *a = pa, *b = pb;

	return mcs_str_eq(a->key, b->key) && a->checksum == b->checksum;
}

static bool eq_get_req(const void *pa, const void *pb)
{
	const struct mcs_get_req *a = pa, *b = pb;

	return mcs_str_eq(a->key, b->key) && a->flags == b->flags;
}

static bool eq_get_resp(const void *pa, const void *pb)
{
	const struct mcs_get_resp *a = pa, *b = pb;

	return a->size == b->size && a->checksum == b->checksum && a->hold_id == b->hold_id &&
	       a->lease_ms == b->lease_ms && replica_list_eq(&a->list, &b->list);
}

static bool eq_release_req(const void *pa, const void *pb)
{
	const struct mcs_release_req *a = pa, *b = pb;

	return mcs_str_eq(a->key, b->key) && a->hold_id == b->hold_id;
}

static bool eq_remove_req(const void *pa, const void *pb)
{
	const struct mcs_remove_req *a = pa, *b = pb;

	return mcs_str_eq(a->key, b->key) && a->flags == b->flags;
}

static bool eq_remove_all_resp(const void *pa, const void *pb)
{
	const struct mcs_remove_all_resp *a = pa, *b = pb;

	return a->count == b->count;
}

static bool eq_list_req(const void *pa, const void *pb)
{
	const struct mcs_list_req *a = pa, *b = pb;

	return mcs_str_eq(a->prefix, b->prefix) && a->cursor == b->cursor && a->limit == b->limit;
}

static bool eq_list_resp(const void *pa, const void *pb)
{
	const struct mcs_list_resp *a = pa, *b = pb;

	if (a->next_cursor != b->next_cursor || a->n_keys != b->n_keys)
		return false;
	for (uint32_t i = 0; i < a->n_keys; i++)
		if (!mcs_str_eq(a->keys[i], b->keys[i]))
			return false;
	return true;
}

static bool eq_err_detail(const void *pa, const void *pb)
{
	const struct mcs_err_detail *a = pa, *b = pb;

	return a->value == b->value;
}

static bool eq_stat_resp(const void *pa, const void *pb)
{
	const struct mcs_stat_resp *a = pa, *b = pb;

	if (a->n_objects != b->n_objects || a->capacity != b->capacity || a->used != b->used ||
	    a->n_segments != b->n_segments || a->n_counters != b->n_counters)
		return false;
	for (uint32_t i = 0; i < a->n_counters; i++)
		if (a->counters[i] != b->counters[i])
			return false;
	for (uint32_t i = 0; i < a->n_segments; i++) {
		const struct mcs_seg_stat *x = &a->segments[i], *y = &b->segments[i];

		if (!mcs_str_eq(x->name, y->name) || !mcs_str_eq(x->node, y->node) || x->size != y->size ||
		    x->used != y->used || x->n_allocs != y->n_allocs)
			return false;
	}
	return true;
}

static bool eq_buf_alloc_req(const void *pa, const void *pb)
{
	const struct mcs_buf_alloc_req *a = pa, *b = pb;

	return a->size == b->size;
}

static bool eq_buf_alloc_resp(const void *pa, const void *pb)
{
	const struct mcs_buf_alloc_resp *a = pa, *b = pb;

	return a->buf_id == b->buf_id && a->size == b->size;
}

static bool eq_buf_free_req(const void *pa, const void *pb)
{
	const struct mcs_buf_free_req *a = pa, *b = pb;

	return a->buf_id == b->buf_id;
}

static bool eq_transfer_req(const void *pa, const void *pb)
{
	const struct mcs_transfer_req *a = pa, *b = pb;

	if (a->buf_id != b->buf_id || a->buf_off != b->buf_off || a->n_handles != b->n_handles)
		return false;
	for (uint32_t i = 0; i < a->n_handles; i++)
		if (!handle_eq(&a->handles[i], &b->handles[i]))
			return false;
	return true;
}

static bool eq_data_readv_req(const void *pa, const void *pb)
{
	const struct mcs_data_readv_req *a = pa, *b = pb;

	if (!mcs_str_eq(a->segment, b->segment) || a->incarnation != b->incarnation ||
	    !mcs_str_eq(a->endpoint, b->endpoint) || a->n_ranges != b->n_ranges)
		return false;
	for (uint32_t i = 0; i < a->n_ranges; i++)
		if (a->ranges[i].offset != b->ranges[i].offset || a->ranges[i].len != b->ranges[i].len ||
		    !mcs_str_eq(a->ranges[i].token, b->ranges[i].token))
			return false;
	return true;
}

static bool eq_data_req(const void *pa, const void *pb)
{
	const struct mcs_data_req *a = pa, *b = pb;

	return mcs_str_eq(a->segment, b->segment) && a->offset == b->offset && a->len == b->len &&
	       a->incarnation == b->incarnation && mcs_str_eq(a->endpoint, b->endpoint) &&
	       mcs_str_eq(a->token, b->token);
}

static bool eq_data_resp(const void *pa, const void *pb)
{
	const struct mcs_data_resp *a = pa, *b = pb;

	return a->len == b->len;
}

msg_eq_fn *const msg_eq[MCS_N_MSGS] = {
#define MCS_MSG(name, ...) [MCS_MSG_##name] = eq_##name,
#include "proto/messages.def"
#undef MCS_MSG
};

/* ---- samples --------------------------------------------------------------------
 * Several values of every message: ordinary, empty strings and zero counts,
 * and the limits (max-length key and names, max counts). "big" samples are
 * too large for the quadratic truncation and mutation loops. */

struct sample samples[MAX_SAMPLES];
unsigned n_samples;

static char max_key[MCS_KEY_MAX];
static char max_name[MCS_NAME_MAX];
static uint64_t many_slices[MCS_MAX_SLICES];
static struct mcs_handle many_handles[MCS_MAX_HANDLES];
static struct mcs_seg_stat many_segments[MCS_MAX_SEGMENTS];

static struct mcs_hello_req s_hello_req[2];
static struct mcs_hello_resp s_hello_resp[3];
static struct mcs_auth_req s_auth_req[2];
static struct mcs_auth_resp s_auth_resp[2];
static struct mcs_auth_proof_req s_auth_proof_req[2];
/* 32 bytes (keys, nonces, MACs) and a token's 41 */
static const char b32[32] = "0123456789abcdef0123456789abcdef";
static const char tok41[MCS_TOKEN_WIRE_LEN] = "token-token-token-token-token-token-token";
#define B32 ((struct mcs_str){ b32, 32 })
#define TOK ((struct mcs_str){ tok41, MCS_TOKEN_WIRE_LEN })
static struct mcs_mount_req s_mount_req[3];
static struct mcs_unmount_req s_unmount_req[3];
static struct mcs_replica_part s_replica_part[3];
static struct mcs_leader_resp s_leader_resp[3];
static struct mcs_replica_drop s_replica_drop[2];
static struct mcs_heartbeat_req s_heartbeat_req[3];
static struct mcs_key_req s_key_req[3];
static struct mcs_put_start_req s_put_start_req[4];
struct mcs_put_start_resp s_put_start_resp[4];
static struct mcs_put_end_req s_put_end_req[2];
static struct mcs_get_req s_get_req[2];
static struct mcs_get_resp s_get_resp[4];
static struct mcs_release_req s_release_req[2];
static struct mcs_remove_req s_remove_req[2];
static struct mcs_remove_all_resp s_remove_all_resp[2];
static struct mcs_stat_resp s_stat_resp[4];
static struct mcs_list_req s_list_req[3];
static struct mcs_list_resp s_list_resp[4];
static struct mcs_str many_keys[MCS_LIST_MAX];
static struct mcs_str keys2[2];
static struct mcs_err_detail s_err_detail[2];
static struct mcs_buf_alloc_req s_buf_alloc_req[2];
static struct mcs_buf_alloc_resp s_buf_alloc_resp[2];
static struct mcs_buf_free_req s_buf_free_req[2];
static struct mcs_transfer_req s_transfer_req[3];
static struct mcs_data_req s_data_req[2];
static struct mcs_data_resp s_data_resp[2];
static struct mcs_data_readv_req s_data_readv_req[3];
static struct mcs_data_range ranges3[3], many_ranges[MCS_MAX_READV];

static uint64_t slices3[] = { 100, 100, 100 };
static uint64_t slices_edge[] = { UINT64_MAX - 10, 0, 10 };
static struct mcs_handle handles2[2];
static struct mcs_handle handle1[1];
static struct mcs_replica replicas2[2];
static struct mcs_replica replicas16[MCS_MAX_REPLICAS];
static struct mcs_handle handles16[MCS_MAX_REPLICAS];
static struct mcs_replica replica_many[1];
static struct mcs_seg_stat segs2[2];

static void add_sample(unsigned type, const void *msg, bool big)
{
	ck_assert_uint_lt(n_samples, MAX_SAMPLES);
	samples[n_samples++] = (struct sample){ type, msg, big };
}

struct mcs_str max_name_str(void)
{
	return (struct mcs_str){ max_name, sizeof(max_name) };
}

void samples_init(void)
{
	struct mcs_str mk = { max_key, sizeof(max_key) }, mn = max_name_str();

	n_samples = 0;
	for (size_t i = 0; i < sizeof(max_key); i++)
		max_key[i] = (char)('a' + i % 26);
	memset(max_name, 'n', sizeof(max_name));

	s_hello_req[0] = (struct mcs_hello_req){ MCS_PROTO_VERSION, 1234 };
	s_hello_req[1] = (struct mcs_hello_req){ UINT32_MAX, 0 };
	for (unsigned i = 0; i < 2; i++)
		add_sample(MCS_MSG_hello_req, &s_hello_req[i], false);

	s_hello_resp[0] = (struct mcs_hello_resp){ S("node-a"), S("seg-0"), 1ull << 30, MCS_HELLO_HUGEPAGES,
						   MCS_DEFAULT_MAX_BODY, S("127.0.0.1:7400"), 0x1234567890abcdefull, B32 };
	s_hello_resp[1] = (struct mcs_hello_resp){ S(""), S(""), 0, 0, 0, S(""), 0, S("") };
	s_hello_resp[2] = (struct mcs_hello_resp){ mn, mn, UINT64_MAX, UINT32_MAX, UINT32_MAX, mn, UINT64_MAX, mn };
	for (unsigned i = 0; i < 3; i++)
		add_sample(MCS_MSG_hello_resp, &s_hello_resp[i], false);

	s_auth_req[0] = (struct mcs_auth_req){ 1, B32 };
	s_auth_req[1] = (struct mcs_auth_req){ UINT32_MAX, S("") };
	s_auth_resp[0] = (struct mcs_auth_resp){ B32, B32 };
	s_auth_resp[1] = (struct mcs_auth_resp){ S(""), mn };
	s_auth_proof_req[0].mac = B32;
	s_auth_proof_req[1].mac = S("");
	for (unsigned i = 0; i < 2; i++) {
		add_sample(MCS_MSG_auth_req, &s_auth_req[i], false);
		add_sample(MCS_MSG_auth_resp, &s_auth_resp[i], false);
		add_sample(MCS_MSG_auth_proof_req, &s_auth_proof_req[i], false);
	}

	s_mount_req[0] = (struct mcs_mount_req){ S("node-a"), S("seg-0"), 1ull << 30, S("10.0.0.1:7000"), 77, 0 };
	s_mount_req[1] = (struct mcs_mount_req){ S(""), S(""), 0, S(""), 0, MCS_MOUNT_REPORTS };
	s_mount_req[2] = (struct mcs_mount_req){ mn, mn, UINT64_MAX, mn, UINT64_MAX, UINT32_MAX };
	for (unsigned i = 0; i < 3; i++)
		add_sample(MCS_MSG_mount_req, &s_mount_req[i], false);

	s_leader_resp[0] = (struct mcs_leader_resp){ 12, S("127.0.0.1:50051"), MCS_LEADER_SELF };
	s_leader_resp[1] = (struct mcs_leader_resp){ 0, S(""), 0 };
	s_leader_resp[2] = (struct mcs_leader_resp){ UINT64_MAX, mn, UINT32_MAX };
	for (unsigned i = 0; i < 3; i++)
		add_sample(MCS_MSG_leader_resp, &s_leader_resp[i], false);

	/* a part of a plain replica; the last of a stripe at the limits; a
	 * middle one of a long key (keyed samples' keys are spliced: short) */
	s_replica_part[0] = (struct mcs_replica_part){ S("seg-0"), S("obj"), 4096, 300, 300, 0xfeedull, 0, 0, 0, 0, 1 };
	s_replica_part[1] = (struct mcs_replica_part){ mn, S("k"), UINT64_MAX - 1, 1, UINT64_MAX, UINT64_MAX,
						       UINT64_MAX - 1, UINT32_MAX, MCS_MAX_REPLICAS - 1,
						       MCS_MAX_HANDLES - 1, MCS_MAX_HANDLES };
	s_replica_part[2] = (struct mcs_replica_part){ S("s"), mk, 0, 10, 30, 1, 10, MCS_REPL_SOFT_PIN, 2, 1, 3 };
	for (unsigned i = 0; i < 3; i++)
		add_sample(MCS_MSG_replica_part, &s_replica_part[i], false);
	s_replica_drop[0] = (struct mcs_replica_drop){ S("seg-0"), 4096 };
	s_replica_drop[1] = (struct mcs_replica_drop){ mn, UINT64_MAX };
	for (unsigned i = 0; i < 2; i++)
		add_sample(MCS_MSG_replica_drop, &s_replica_drop[i], false);

	s_unmount_req[0].segment = S("seg-0");
	s_unmount_req[1].segment = S("");
	s_unmount_req[2].segment = mn;
	for (unsigned i = 0; i < 3; i++)
		add_sample(MCS_MSG_unmount_req, &s_unmount_req[i], false);

	s_heartbeat_req[0].node = S("node-a");
	s_heartbeat_req[1].node = S("");
	s_heartbeat_req[2].node = mn;
	for (unsigned i = 0; i < 3; i++)
		add_sample(MCS_MSG_heartbeat_req, &s_heartbeat_req[i], false);

	/* Keyed samples come first with a short key: the key splicing tests
	 * rely on it. */
	s_key_req[0].key = S("obj");
	s_key_req[1].key = S("k");
	s_key_req[2].key = mk;
	for (unsigned i = 0; i < 3; i++)
		add_sample(MCS_MSG_key_req, &s_key_req[i], false);

	s_put_start_req[0] = (struct mcs_put_start_req){
		.key = S("obj"), .value_len = 300, .n_slices = 3, .slice_lens = slices3,
		.cfg = { .replica_num = 2, .flags = MCS_REPL_ALL_OR_NOTHING, .n_locations = 2,
			 .locations = { S("seg-0"), S("seg-1") } },
	};
	s_put_start_req[1] = (struct mcs_put_start_req){ .key = S("z") };
	s_put_start_req[2] = (struct mcs_put_start_req){
		.key = mk, .value_len = UINT64_MAX, .n_slices = 3, .slice_lens = slices_edge,
		.cfg = { .replica_num = MCS_MAX_REPLICAS, .flags = UINT32_MAX, .n_locations = MCS_MAX_LOCATIONS },
	};
	for (unsigned i = 0; i < MCS_MAX_LOCATIONS; i++)
		s_put_start_req[2].cfg.locations[i] = i % 2 ? mn : S("");
	for (unsigned i = 0; i < MCS_MAX_SLICES; i++)
		many_slices[i] = i;
	s_put_start_req[3] = (struct mcs_put_start_req){
		.key = S("many"), .value_len = (uint64_t)MCS_MAX_SLICES * (MCS_MAX_SLICES - 1) / 2,
		.n_slices = MCS_MAX_SLICES, .slice_lens = many_slices,
		.cfg = { .replica_num = 1, .n_locations = 1, .locations = { S("seg-0") } },
	};
	for (unsigned i = 0; i < 4; i++)
		add_sample(MCS_MSG_put_start_req, &s_put_start_req[i], i == 3);

	handles2[0] = (struct mcs_handle){ S("seg-0"), S("node-a"), S("10.0.0.1:7000"), 4096, 1000, 5, TOK };
	handles2[1] = (struct mcs_handle){ S("seg-1"), S("node-b"), S(""), 0, UINT64_MAX, 0, S("") };
	handle1[0] = (struct mcs_handle){ mn, mn, mn, UINT64_MAX, 0, UINT64_MAX, TOK };
	replicas2[0] = (struct mcs_replica){ MCS_REPLICA_COMPLETE, 2, handles2 };
	replicas2[1] = (struct mcs_replica){ MCS_REPLICA_PROCESSING, 1, handle1 };
	for (unsigned i = 0; i < MCS_MAX_REPLICAS; i++) {
		handles16[i] = (struct mcs_handle){ S("s"), S("n"), S(""), i, i, i, S("") };
		/* Cycle through every status, and give some replicas no handle. */
		replicas16[i] = (struct mcs_replica){ (uint8_t)(i % (MCS_REPLICA_FAILED + 1)), i % 3 ? 1 : 0,
						      i % 3 ? &handles16[i] : NULL };
	}
	for (unsigned i = 0; i < MCS_MAX_HANDLES; i++)
		many_handles[i] = (struct mcs_handle){ S("seg"), S("node"), S(""), (uint64_t)i << 20, 1 << 20, 1,
						       i % 2 ? TOK : S("") };
	replica_many[0] = (struct mcs_replica){ MCS_REPLICA_COMPLETE, MCS_MAX_HANDLES, many_handles };
	s_put_start_resp[0].list = (struct mcs_replica_list){ 0, NULL };
	s_put_start_resp[1].list = (struct mcs_replica_list){ 2, replicas2 };
	s_put_start_resp[2].list = (struct mcs_replica_list){ MCS_MAX_REPLICAS, replicas16 };
	s_put_start_resp[3].list = (struct mcs_replica_list){ 1, replica_many };
	for (unsigned i = 0; i < 4; i++)
		add_sample(MCS_MSG_put_start_resp, &s_put_start_resp[i], i == 3);

	s_put_end_req[0] = (struct mcs_put_end_req){ S("obj"), 0x0123456789abcdefull };
	s_put_end_req[1] = (struct mcs_put_end_req){ mk, UINT64_MAX };
	for (unsigned i = 0; i < 2; i++)
		add_sample(MCS_MSG_put_end_req, &s_put_end_req[i], false);

	s_get_req[0] = (struct mcs_get_req){ S("obj"), MCS_GET_HOLD };
	s_get_req[1] = (struct mcs_get_req){ mk, 0 };
	for (unsigned i = 0; i < 2; i++)
		add_sample(MCS_MSG_get_req, &s_get_req[i], false);

	s_get_resp[0] = (struct mcs_get_resp){ 1100, 0xfeedfacecafebeefull, 7, 5000, { 2, replicas2 } };
	s_get_resp[1] = (struct mcs_get_resp){ 0, 0, 0, 0, { 0, NULL } };
	s_get_resp[2] = (struct mcs_get_resp){ UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT32_MAX,
					       { MCS_MAX_REPLICAS, replicas16 } };
	s_get_resp[3] = (struct mcs_get_resp){ 300, 0x1234, 9, 5000, { 1, replicas2 } };
	for (unsigned i = 0; i < 4; i++)
		add_sample(MCS_MSG_get_resp, &s_get_resp[i], false);

	s_release_req[0] = (struct mcs_release_req){ S("obj"), 7 };
	s_release_req[1] = (struct mcs_release_req){ mk, UINT64_MAX };
	for (unsigned i = 0; i < 2; i++)
		add_sample(MCS_MSG_release_req, &s_release_req[i], false);

	s_remove_req[0] = (struct mcs_remove_req){ S("obj"), MCS_REMOVE_FORCE };
	s_remove_req[1] = (struct mcs_remove_req){ mk, 0 };
	for (unsigned i = 0; i < 2; i++)
		add_sample(MCS_MSG_remove_req, &s_remove_req[i], false);

	s_remove_all_resp[0].count = 0;
	s_remove_all_resp[1].count = UINT64_MAX;
	for (unsigned i = 0; i < 2; i++)
		add_sample(MCS_MSG_remove_all_resp, &s_remove_all_resp[i], false);

	s_list_req[0] = (struct mcs_list_req){ S("prefix-"), 0, 100 };
	s_list_req[1] = (struct mcs_list_req){ S(""), UINT64_MAX, 1 };
	s_list_req[2] = (struct mcs_list_req){ mk, 12345, MCS_LIST_MAX };
	keys2[0] = S("a");
	keys2[1] = mk;
	for (unsigned i = 0; i < MCS_LIST_MAX; i++)
		many_keys[i] = S("key");
	s_list_resp[0] = (struct mcs_list_resp){ 77, 2, keys2 };
	s_list_resp[1] = (struct mcs_list_resp){ 0, 0, NULL };
	s_list_resp[2] = (struct mcs_list_resp){ UINT64_MAX, MCS_LIST_MAX, many_keys };
	for (unsigned i = 0; i < 3; i++) {
		add_sample(MCS_MSG_list_req, &s_list_req[i], false);
		add_sample(MCS_MSG_list_resp, &s_list_resp[i], i == 2);
	}
	s_list_resp[3] = (struct mcs_list_resp){ 9, 1, keys2 };
	add_sample(MCS_MSG_list_resp, &s_list_resp[3], false);
	s_err_detail[0].value = 0;
	s_err_detail[1].value = UINT64_MAX;
	for (unsigned i = 0; i < 2; i++)
		add_sample(MCS_MSG_err_detail, &s_err_detail[i], false);

	segs2[0] = (struct mcs_seg_stat){ S("seg-0"), S("node-a"), 1ull << 30, 1000, 3 };
	segs2[1] = (struct mcs_seg_stat){ mn, S(""), UINT64_MAX, UINT64_MAX, UINT64_MAX };
	for (unsigned i = 0; i < MCS_MAX_SEGMENTS; i++)
		many_segments[i] = (struct mcs_seg_stat){ S("s"), S("n"), i, i / 2, i / 4 };
	s_stat_resp[0] = (struct mcs_stat_resp){ 3, 1ull << 31, 1000, 2, segs2, 0, { 0 } };
	s_stat_resp[1] = (struct mcs_stat_resp){ 0, 0, 0, 0, NULL, 0, { 0 } };
	s_stat_resp[2] = (struct mcs_stat_resp){ 1, 2, 3, MCS_MAX_SEGMENTS, many_segments, 0, { 0 } };
	s_stat_resp[0].n_counters = MCS_STAT_N_;
	for (unsigned i = 0; i < MCS_STAT_N_; i++)
		s_stat_resp[0].counters[i] = 1000 + i;
	s_stat_resp[2].n_counters = MCS_STAT_MAX_COUNTERS;
	for (unsigned i = 0; i < MCS_STAT_MAX_COUNTERS; i++)
		s_stat_resp[2].counters[i] = UINT64_MAX - i;
	s_stat_resp[3] = (struct mcs_stat_resp){ 1, 1ull << 31, 1000, 1, segs2, 2, { 5, 6 } };
	for (unsigned i = 0; i < 4; i++)
		add_sample(MCS_MSG_stat_resp, &s_stat_resp[i], i == 2);

	s_buf_alloc_req[0].size = 64ull << 20;
	s_buf_alloc_req[1].size = UINT64_MAX;
	s_buf_alloc_resp[0] = (struct mcs_buf_alloc_resp){ 1, 64ull << 20 };
	s_buf_alloc_resp[1] = (struct mcs_buf_alloc_resp){ UINT32_MAX, UINT64_MAX };
	s_buf_free_req[0].buf_id = 0;
	s_buf_free_req[1].buf_id = UINT32_MAX;
	for (unsigned i = 0; i < 2; i++) {
		add_sample(MCS_MSG_buf_alloc_req, &s_buf_alloc_req[i], false);
		add_sample(MCS_MSG_buf_alloc_resp, &s_buf_alloc_resp[i], false);
		add_sample(MCS_MSG_buf_free_req, &s_buf_free_req[i], false);
	}
	s_transfer_req[0] = (struct mcs_transfer_req){ 3, 4096, 2, replicas2[0].handles };
	s_transfer_req[1] = (struct mcs_transfer_req){ 0, 0, 0, NULL };
	s_transfer_req[2] = (struct mcs_transfer_req){ UINT32_MAX, UINT64_MAX, MCS_MAX_HANDLES, many_handles };
	for (unsigned i = 0; i < 3; i++)
		add_sample(MCS_MSG_transfer_req, &s_transfer_req[i], i == 2);
	s_data_req[0] = (struct mcs_data_req){ S("seg-0"), 4096, 1, 9, S("127.0.0.1:7000"), TOK };
	s_data_req[1] = (struct mcs_data_req){ mn, UINT64_MAX - MCS_MAX_DATA_CHUNK, MCS_MAX_DATA_CHUNK, UINT64_MAX,
					       mn, S("") };
	s_data_resp[0].len = 0;
	s_data_resp[1].len = MCS_MAX_DATA_CHUNK;
	for (unsigned i = 0; i < 2; i++) {
		add_sample(MCS_MSG_data_req, &s_data_req[i], false);
		add_sample(MCS_MSG_data_resp, &s_data_resp[i], false);
	}
	ranges3[0] = (struct mcs_data_range){ 0, 4096, TOK };
	ranges3[1] = (struct mcs_data_range){ 1ull << 30, 1, S("") };
	ranges3[2] = (struct mcs_data_range){ UINT64_MAX - (MCS_MAX_DATA_CHUNK - 4097), MCS_MAX_DATA_CHUNK - 4097, TOK };
	for (unsigned i = 0; i < MCS_MAX_READV; i++)
		many_ranges[i] = (struct mcs_data_range){ UINT64_MAX - 1 - i, 1, TOK };
	s_data_readv_req[0] = (struct mcs_data_readv_req){ S("seg-0"), 9, S("127.0.0.1:7000"), 1, ranges3 };
	s_data_readv_req[1] = (struct mcs_data_readv_req){ S("n2-0"), 0, S(""), 3, ranges3 };
	s_data_readv_req[2] = (struct mcs_data_readv_req){ mn, UINT64_MAX, mn, MCS_MAX_READV, many_ranges };
	for (unsigned i = 0; i < 3; i++)
		add_sample(MCS_MSG_data_readv_req, &s_data_readv_req[i], i == 2);
}

/* Encode a sample's body alone. */
void encode_body(const struct sample *s, struct mcs_buf *b)
{
	mcs_buf_init(b);
	mcs_msgs[s->type].enc(b, s->msg);
	ck_assert_msg(b->err == 0, "%s: encoder failed: %s", mcs_msgs[s->type].name, mcs_status_text(b->err));
}

/* Decode with every check a decoder owes its caller: on failure *ret is
 * zeroed and the status is a protocol one, on success the message re-encodes
 * to exactly the input. Returns the decoder's status. */
int dec_checked(unsigned type, const void *p, size_t n)
{
	const struct mcs_msg_desc *t = &mcs_msgs[type];
	void *m = malloc(t->size);
	int rc;

	/* Only EXPECT here: Check's assertions allocate, which would be
	 * charged to the decoder by expect_dec(). */
	EXPECT(m != NULL, "out of memory");
	memset(m, 0xa5, t->size);
	rc = t->dec(p, n, m);
	if (rc < 0) {
		EXPECT(rc == -EPROTO || rc == -EMSGSIZE || rc == -ENAMETOOLONG,
		       "%s: unexpected status %d", t->name, rc);
		EXPECT(all_zero(m, t->size), "%s: *ret not zeroed after failure", t->name);
	} else {
		struct mcs_buf b;

		EXPECT(rc == 0, "%s: positive status %d", t->name, rc);
		mcs_buf_init(&b);
		t->enc(&b, m);
		EXPECT(b.err == 0, "%s: decoded message does not re-encode (%d)", t->name, b.err);
		EXPECT(b.len == n && (n == 0 || memcmp(b.p, p, n) == 0),
		       "%s: re-encoding differs from the accepted body", t->name);
		mcs_buf_free(&b);
		t->free(m);
		EXPECT(all_zero(m, t->size), "%s: free did not reset the message", t->name);
	}
	free(m);
	return rc;
}

/* Decode a hand-built body, expecting a status; returns the bytes allocated
 * by the decoder (always 0 without sanitizer hooks). */
size_t expect_dec(unsigned type, const struct mcs_buf *b, int want)
{
	uint8_t *p;
	size_t before, used;
	int rc;

	ck_assert_int_eq(b->err, 0);
	p = dup_exact(b->p, b->len);
	alloc_hooks_install();
	before = alloc_bytes;
	rc = dec_checked(type, p, b->len);
	/* dec_checked's own allocations: the result struct and, on success, the
	 * re-encoding. Failure cases only allocate the struct. */
	used = alloc_bytes - before;
	free(p);
	ck_assert_msg(rc == want, "%s: got %d (%s), want %d (%s)", mcs_msgs[type].name, rc, mcs_status_text(rc),
		      want, mcs_status_text(want));
	return used >= mcs_msgs[type].size ? used - mcs_msgs[type].size : used;
}
