/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the wire protocol (proto/).
 *
 * Every message is round-tripped through a real frame, and every decoder is
 * attacked with truncations, trailing bytes, forged counts and lengths,
 * random garbage and mutated valid bodies. Bodies handed to decoders are
 * copied into allocations of exactly their size so that AddressSanitizer
 * catches any read past the end. A decoder that succeeds must describe its
 * input exactly: re-encoding the result must give back the same bytes.
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

/* Cheap assertion for hot loops: Check's own macros write a mark point to a
 * pipe on every success, which would dominate the run time. */
#define EXPECT(cond, fmt, ...)                                        \
	do {                                                          \
		if (mcs_unlikely(!(cond)))                            \
			ck_abort_msg("(%s) " fmt, #cond, ##__VA_ARGS__); \
	} while (0)

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

static size_t alloc_bytes;

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

static void alloc_hooks_install(void)
{
	static bool installed;

	if (!installed)
		installed = __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free) != 0;
}
#else
static void alloc_hooks_install(void)
{
}
#endif

/* ---- deterministic PRNG (splitmix64) ------------------------------------ */

static uint64_t rng_state;

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

/* ---- helpers ---------------------------------------------------------------- */

/* A heap copy of exactly n bytes: one byte more read is an ASan report. */
static uint8_t *dup_exact(const void *p, size_t n)
{
	uint8_t *d = malloc(n);

	ck_assert(d != NULL || n == 0);
	if (n)
		memcpy(d, p, n);
	return d;
}

static bool all_zero(const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static struct mcs_str S(const char *s)
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
	       mcs_str_eq(a->endpoint, b->endpoint) && a->offset == b->offset && a->len == b->len;
}

static bool replica_list_eq(const struct mcs_replica_list *a, const struct mcs_replica_list *b)
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
	       mcs_str_eq(a->master, b->master);
}

static bool eq_mount_req(const void *pa, const void *pb)
{
	const struct mcs_mount_req *a = pa, *b = pb;

	return mcs_str_eq(a->node, b->node) && mcs_str_eq(a->segment, b->segment) &&
	       a->size == b->size && mcs_str_eq(a->endpoint, b->endpoint);
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

static bool eq_data_req(const void *pa, const void *pb)
{
	const struct mcs_data_req *a = pa, *b = pb;

	return mcs_str_eq(a->segment, b->segment) && a->offset == b->offset && a->len == b->len;
}

static bool eq_data_resp(const void *pa, const void *pb)
{
	const struct mcs_data_resp *a = pa, *b = pb;

	return a->len == b->len;
}

typedef bool msg_eq_fn(const void *a, const void *b);

static msg_eq_fn *const msg_eq[MCS_N_MSGS] = {
#define MCS_MSG(name, ...) [MCS_MSG_##name] = eq_##name,
#include "proto/messages.def"
#undef MCS_MSG
};

/* ---- samples --------------------------------------------------------------------
 * Several values of every message: ordinary, empty strings and zero counts,
 * and the limits (max-length key and names, max counts). "big" samples are
 * too large for the quadratic truncation and mutation loops. */

struct sample {
	unsigned type;
	const void *msg;
	bool big;
};

#define MAX_SAMPLES 80
static struct sample samples[MAX_SAMPLES];
static unsigned n_samples;

static char max_key[MCS_KEY_MAX];
static char max_name[MCS_NAME_MAX];
static uint64_t many_slices[MCS_MAX_SLICES];
static struct mcs_handle many_handles[MCS_MAX_HANDLES];
static struct mcs_seg_stat many_segments[MCS_MAX_SEGMENTS];

static struct mcs_hello_req s_hello_req[2];
static struct mcs_hello_resp s_hello_resp[3];
static struct mcs_mount_req s_mount_req[3];
static struct mcs_unmount_req s_unmount_req[3];
static struct mcs_heartbeat_req s_heartbeat_req[3];
static struct mcs_key_req s_key_req[3];
static struct mcs_put_start_req s_put_start_req[4];
static struct mcs_put_start_resp s_put_start_resp[4];
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

static struct mcs_str max_name_str(void)
{
	return (struct mcs_str){ max_name, sizeof(max_name) };
}

static void samples_init(void)
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
						   MCS_DEFAULT_MAX_BODY, S("127.0.0.1:7400") };
	s_hello_resp[1] = (struct mcs_hello_resp){ S(""), S(""), 0, 0, 0, S("") };
	s_hello_resp[2] = (struct mcs_hello_resp){ mn, mn, UINT64_MAX, UINT32_MAX, UINT32_MAX, mn };
	for (unsigned i = 0; i < 3; i++)
		add_sample(MCS_MSG_hello_resp, &s_hello_resp[i], false);

	s_mount_req[0] = (struct mcs_mount_req){ S("node-a"), S("seg-0"), 1ull << 30, S("10.0.0.1:7000") };
	s_mount_req[1] = (struct mcs_mount_req){ S(""), S(""), 0, S("") };
	s_mount_req[2] = (struct mcs_mount_req){ mn, mn, UINT64_MAX, mn };
	for (unsigned i = 0; i < 3; i++)
		add_sample(MCS_MSG_mount_req, &s_mount_req[i], false);

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

	handles2[0] = (struct mcs_handle){ S("seg-0"), S("node-a"), S("10.0.0.1:7000"), 4096, 1000 };
	handles2[1] = (struct mcs_handle){ S("seg-1"), S("node-b"), S(""), 0, UINT64_MAX };
	handle1[0] = (struct mcs_handle){ mn, mn, mn, UINT64_MAX, 0 };
	replicas2[0] = (struct mcs_replica){ MCS_REPLICA_COMPLETE, 2, handles2 };
	replicas2[1] = (struct mcs_replica){ MCS_REPLICA_PROCESSING, 1, handle1 };
	for (unsigned i = 0; i < MCS_MAX_REPLICAS; i++) {
		handles16[i] = (struct mcs_handle){ S("s"), S("n"), S(""), i, i };
		/* Cycle through every status, and give some replicas no handle. */
		replicas16[i] = (struct mcs_replica){ (uint8_t)(i % (MCS_REPLICA_FAILED + 1)), i % 3 ? 1 : 0,
						      i % 3 ? &handles16[i] : NULL };
	}
	for (unsigned i = 0; i < MCS_MAX_HANDLES; i++)
		many_handles[i] = (struct mcs_handle){ S("seg"), S("node"), S(""), (uint64_t)i << 20, 1 << 20 };
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
	s_data_req[0] = (struct mcs_data_req){ S("seg-0"), 4096, 1 };
	s_data_req[1] = (struct mcs_data_req){ mn, UINT64_MAX - MCS_MAX_DATA_CHUNK, MCS_MAX_DATA_CHUNK };
	s_data_resp[0].len = 0;
	s_data_resp[1].len = MCS_MAX_DATA_CHUNK;
	for (unsigned i = 0; i < 2; i++) {
		add_sample(MCS_MSG_data_req, &s_data_req[i], false);
		add_sample(MCS_MSG_data_resp, &s_data_resp[i], false);
	}
}

/* Encode a sample's body alone. */
static void encode_body(const struct sample *s, struct mcs_buf *b)
{
	mcs_buf_init(b);
	mcs_msgs[s->type].enc(b, s->msg);
	ck_assert_msg(b->err == 0, "%s: encoder failed: %s", mcs_msgs[s->type].name, mcs_strerror(b->err));
}

/* Decode with every check a decoder owes its caller: on failure *ret is
 * zeroed and the status is a protocol one, on success the message re-encodes
 * to exactly the input. Returns the decoder's status. */
static int dec_checked(unsigned type, const void *p, size_t n)
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
static size_t expect_dec(unsigned type, const struct mcs_buf *b, int want)
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
	ck_assert_msg(rc == want, "%s: got %d (%s), want %d (%s)", mcs_msgs[type].name, rc, mcs_strerror(rc),
		      want, mcs_strerror(want));
	return used >= mcs_msgs[type].size ? used - mcs_msgs[type].size : used;
}

/* ---- header ------------------------------------------------------------------ */

START_TEST(test_hdr_layout)
{
	static const uint8_t want[MCS_HDR_SIZE] = {
		'M', 'C', 'S', '1', 2, 1, 0x34, 0x12, 0xb9, 0xff, 0xff, 0xff, /* version 2, -EPROTO */
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
		{ MCS_OP_HELLO, "HELLO" }, { MCS_OP_PING, "PING" }, { MCS_OP_MOUNT, "MOUNT" },
		{ MCS_OP_UNMOUNT, "UNMOUNT" }, { MCS_OP_HEARTBEAT, "HEARTBEAT" },
		{ MCS_OP_PUT_START, "PUT_START" }, { MCS_OP_PUT_END, "PUT_END" },
		{ MCS_OP_PUT_REVOKE, "PUT_REVOKE" }, { MCS_OP_GET_REPLICAS, "GET_REPLICAS" },
		{ MCS_OP_RELEASE, "RELEASE" }, { MCS_OP_EXIST, "EXIST" }, { MCS_OP_REMOVE, "REMOVE" },
		{ MCS_OP_REMOVE_ALL, "REMOVE_ALL" }, { MCS_OP_LIST, "LIST" }, { MCS_OP_STAT, "STAT" },
		{ MCS_OP_BUF_ALLOC, "BUF_ALLOC" }, { MCS_OP_BUF_FREE, "BUF_FREE" }, { MCS_OP_FETCH, "FETCH" },
		{ MCS_OP_PUSH, "PUSH" }, { MCS_OP_DATA_READ, "DATA_READ" }, { MCS_OP_DATA_WRITE, "DATA_WRITE" },
	};
	static const uint16_t unknown[] = { 0, 5, 9, 13, 19, 29, 42, 49, MCS_OP_MAX_, 0xffff };

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
		{ MCS_OP_DATA_WRITE, true, -1 }, { MCS_OP_STAT, false, -1 }, { 0, false, -1 }, { 0xffff, true, -1 },
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
	struct mcs_handle h = { S("s"), S("n"), S(""), UINT64_MAX, 1 };
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
	ENC_FAILS(-EINVAL, mcs_enc_data_req(&b, &(struct mcs_data_req){ S(""), 0, 1 }));
	ENC_FAILS(-EINVAL, mcs_enc_data_req(&b, &(struct mcs_data_req){ S("s"), 0, 0 }));
	ENC_FAILS(-EINVAL, mcs_enc_data_req(&b, &(struct mcs_data_req){ S("s"), 0, MCS_MAX_DATA_CHUNK + 1 }));
	ENC_FAILS(-EINVAL, mcs_enc_data_req(&b, &(struct mcs_data_req){ S("s"), UINT64_MAX, 1 }));
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
	ck_assert_msg(rc == 0, "%s: decode failed: %s", t->name, mcs_strerror(rc));
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
 * both were written by the encoders of protocol version 2 as they stood
 * before the message table, and every encoder must still produce them. */

static const struct {
	unsigned type;
	unsigned sample;        /* which of the message's samples is spelled out */
	const char *body;       /* its body, in hex */
	uint64_t all;           /* FNV-1a over every sample's length and body */
} golden[] = {
	{ MCS_MSG_hello_req, 0, "02000000d2040000",
	  0x2b0cc6aba4f83ff5ull },
	{ MCS_MSG_hello_resp, 0, "06006e6f64652d6105007365672d30000000400000000001000000000000040e00313237"
	  "2e302e302e313a37343030",
	  0xf4c245d1e4447151ull },
	{ MCS_MSG_mount_req, 0, "06006e6f64652d6105007365672d3000000040000000000d0031302e302e302e313a3730"
	  "3030",
	  0x7f02705ce09bc195ull },
	{ MCS_MSG_unmount_req, 0, "05007365672d30",
	  0x510be1fbb3c85948ull },
	{ MCS_MSG_heartbeat_req, 0, "06006e6f64652d61",
	  0xebb4f532f2292890ull },
	{ MCS_MSG_key_req, 0, "03006f626a",
	  0xc3f823a27a7c4a69ull },
	{ MCS_MSG_put_start_req, 0, "03006f626a2c010000000000000300000064000000000000006400000000000000640000"
	  "00000000000200000001000000020005007365672d3005007365672d31",
	  0x652288a2a321a08dull },
	{ MCS_MSG_put_start_resp, 0, "00000000",
	  0x7a8fcd207b2cebafull },
	{ MCS_MSG_put_end_req, 0, "03006f626aefcdab8967452301",
	  0x9c49b07109f32a66ull },
	{ MCS_MSG_get_req, 0, "03006f626a01000000",
	  0x46ed45e98156fcdbull },
	{ MCS_MSG_get_resp, 3, "2c0100000000000034120000000000000900000000000000881300000100000003020000"
	  "0005007365672d3006006e6f64652d610d0031302e302e302e313a373030300010000000"
	  "000000e80300000000000005007365672d3106006e6f64652d6200000000000000000000"
	  "ffffffffffffffff",
	  0x7a4f129c3d7009a1ull },
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
	  "302e302e313a373030300010000000000000e80300000000000005007365672d3106006e"
	  "6f64652d6200000000000000000000ffffffffffffffff",
	  0x71f12abc98f4a8a3ull },
	{ MCS_MSG_data_req, 0, "05007365672d3000100000000000000100000000000000",
	  0xa56fae516ba5da6dull },
	{ MCS_MSG_data_resp, 1, "0000000400000000",
	  0x8c9b6cc2d7568e19ull },
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
			expect_dec(type, &b, k ? -EPROTO : 0);
			mcs_buf_free(&b);
		}
	}
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
	tcase_add_test(tc, test_rd_replica_list_embedded);
	suite_add_tcase(s, tc);

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
	suite_add_tcase(s, tc);

	tc = tcase_create("random");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_random_garbage);
	tcase_add_test(tc, test_random_mutations);
	suite_add_tcase(s, tc);
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
