/* SPDX-License-Identifier: MIT */
/* Unit tests of the master's eviction: approximate LRU past capacity, what
 * it must never take (leased, held, pending, pinned objects), soft pins,
 * abandoned puts, the high watermark. The fixtures are store-fixture.h's. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "master/alloc.h"
#include "tests/unit/store-fixture.h"

static struct mcs_store *mk_evict(uint64_t seg_mib)
{
	struct mcs_store *s;
	struct mcs_store_opts o = { .lease_ttl_ms = 200, .seed = 7, .put_timeout_ms = 1000 };
	ck_assert_int_eq(mcs_store_new(&o, &s), 0);
	ck_assert_int_eq(mcs_store_mount(s, S("n1"), S("n1-0"), seg_mib * MiB, S(""), A), 0);
	return s;
}

static int put_at(struct mcs_store *s, const char *key, uint64_t len, uint32_t flags, uint64_t now)
{
	int r = put_start_at(s, key, len, 1, flags, A, now, NULL);
	return r < 0 ? r : mcs_store_put_end(s, S(key), 1, A, now);
}

static bool present(struct mcs_store *s, const char *key)
{
	struct mcs_obj *o;
	/* a look: no lease, no use, so the check changes nothing */
	return mcs_store_get(s, S(key), MCS_GET_NOLEASE, B, 0, &o, NULL) == 0;
}

START_TEST(evict_fills_past_capacity)
{
	struct mcs_store *s = mk_evict(16);
	char k[32];
	for (int i = 0; i < 200; i++) {
		snprintf(k, sizeof(k), "k%d", i);
		ck_assert_int_eq(put_at(s, k, MiB, 0, 1000 + (uint64_t)i), 0);
		ck_assert_uint_le(mcs_store_used(s), 16 * MiB);
	}
	const struct mcs_store_counters *c = mcs_store_counters(s);
	ck_assert_uint_ge(c->evictions, 184);
	ck_assert_uint_eq(c->put_no_space, 0);
	ck_assert_uint_le(mcs_store_n_objects(s), 16);
	ck_assert(present(s, "k199"));
	mcs_store_free(s);
}
END_TEST

START_TEST(evict_lru_keeps_hot)
{
	struct mcs_store *s = mk_evict(64);
	char k[32];
	for (int i = 0; i < 64; i++) {
		snprintf(k, sizeof(k), "cold%d", i);
		ck_assert_int_eq(put_at(s, k, MiB, 0, 1000), 0);
	}
	/* the first 8 are read later: recently used */
	struct mcs_obj *o;
	for (int i = 0; i < 8; i++) {
		snprintf(k, sizeof(k), "cold%d", i);
		ck_assert_int_eq(mcs_store_get(s, S(k), 0, A, 2000 + (uint64_t)i, &o, NULL), 0);
	}
	for (int i = 0; i < 32; i++) {
		snprintf(k, sizeof(k), "new%d", i);
		ck_assert_int_eq(put_at(s, k, MiB, 0, 5000 + (uint64_t)i), 0);
	}
	for (int i = 0; i < 8; i++) {
		snprintf(k, sizeof(k), "cold%d", i);
		ck_assert_msg(present(s, k), "recently used %s was evicted", k);
	}
	int cold_left = 0;
	for (int i = 8; i < 64; i++) {
		snprintf(k, sizeof(k), "cold%d", i);
		cold_left += present(s, k);
	}
	ck_assert_int_le(cold_left, 56 - 32);
	mcs_store_free(s);
}
END_TEST

START_TEST(evict_respects_leases_holds_pending_pins)
{
	struct mcs_store *s = mk_evict(16);
	struct mcs_obj *o;
	uint64_t hold;
	ck_assert_int_eq(put_at(s, "held", MiB, 0, 1000), 0);
	ck_assert_int_eq(mcs_store_get(s, S("held"), MCS_GET_HOLD, A, 1000, &o, &hold), 0);
	ck_assert_int_eq(put_at(s, "hard", MiB, MCS_REPL_HARD_PIN, 1000), 0);
	ck_assert_int_eq(put_start(s, "pending", MiB, 1, 0, A, NULL), 0);
	ck_assert_int_eq(put_at(s, "leased", MiB, 0, 1000), 0);
	char k[32];
	for (int i = 0; i < 12; i++) {
		snprintf(k, sizeof(k), "soft%d", i);
		ck_assert_int_eq(put_at(s, k, 256 * 1024, MCS_REPL_SOFT_PIN, 1000), 0);
	}
	/* churn at a time when only "leased" is under its lease */
	for (int i = 0; i < 60; i++) {
		ck_assert_int_eq(mcs_store_exist(s, S("leased"), 50000 + (uint64_t)i), 0);
		snprintf(k, sizeof(k), "churn%d", i);
		ck_assert_int_eq(put_at(s, k, MiB, 0, 50000 + (uint64_t)i), 0);
	}
	ck_assert(present(s, "held"));
	ck_assert(present(s, "hard"));
	ck_assert(present(s, "leased"));
	ck_assert_int_eq(mcs_store_put_end(s, S("pending"), 1, A, 50100), 0);
	for (int i = 0; i < 12; i++) {
		snprintf(k, sizeof(k), "soft%d", i);
		ck_assert_msg(present(s, k), "soft-pinned %s evicted while unpinned objects existed", k);
	}
	/* once only soft pins and protected objects are left, pins go */
	ck_assert_int_eq(mcs_store_release(s, S("held"), hold, A), 0);
	for (int i = 0; i < 60; i++) {
		snprintf(k, sizeof(k), "churn%d", i);
		mcs_store_remove(s, S(k), true, 60000);
	}
	ck_assert_int_eq(put_at(s, "big", 14 * MiB, 0, 70000), 0);
	ck_assert(present(s, "hard"));
	ck_assert(!present(s, "soft0") || !present(s, "soft11"));
	mcs_store_free(s);
}
END_TEST

START_TEST(evict_no_space_when_nothing_evictable)
{
	struct mcs_store *s = mk_evict(16);
	char k[32];
	for (int i = 0; i < 16; i++) {
		snprintf(k, sizeof(k), "h%d", i);
		ck_assert_int_eq(put_at(s, k, MiB, MCS_REPL_HARD_PIN, 1000), 0);
	}
	ck_assert_int_eq(put_at(s, "one-more", MiB, 0, 2000), -ENOSPC);
	ck_assert_uint_eq(mcs_store_counters(s)->put_no_space, 1);
	ck_assert_uint_eq(mcs_store_n_objects(s), 16);
	/* the store stays consistent and serves */
	ck_assert_int_eq(mcs_store_remove(s, S("h3"), false, 5000), 0);
	ck_assert_int_eq(put_at(s, "one-more", MiB, 0, 5000), 0);
	mcs_store_free(s);
}
END_TEST

START_TEST(soft_pin_bound)
{
	struct mcs_store *s = mk_evict(16); /* bound: half, 8 MiB */
	char k[32];
	for (int i = 0; i < 12; i++) {
		snprintf(k, sizeof(k), "p%d", i);
		ck_assert_int_eq(put_at(s, k, MiB, MCS_REPL_SOFT_PIN, 1000), 0);
	}
	ck_assert_uint_eq(mcs_store_counters(s)->soft_pins_refused, 4);
	mcs_store_free(s);
}
END_TEST

START_TEST(put_timeout)
{
	struct mcs_store *s = mk_evict(16);
	ck_assert_int_eq(put_start(s, "hung", 8 * MiB, 1, 0, A, NULL), 0); /* at t=1000 */
	ck_assert_uint_eq(mcs_store_expire_puts(s, 1500), 0);
	ck_assert_uint_ge(mcs_store_used(s), 8 * MiB);
	ck_assert_uint_eq(mcs_store_expire_puts(s, 2000), 1);
	ck_assert_uint_eq(mcs_store_used(s), 0);
	ck_assert_int_eq(mcs_store_put_end(s, S("hung"), 1, A, 2001), -ENOENT);
	ck_assert_int_eq(put_at(s, "hung", MiB, 0, 2002), 0);
	ck_assert_uint_eq(mcs_store_counters(s)->puts_timed_out, 1);
	mcs_store_free(s);
}
END_TEST

START_TEST(watermark)
{
	struct mcs_store *s;
	struct mcs_store_opts o = { .seed = 3, .high_watermark = 0.8, .eviction_ratio = 0.2 };
	ck_assert_int_eq(mcs_store_new(&o, &s), 0);
	ck_assert_int_eq(mcs_store_mount(s, S("n1"), S("n1-0"), 100 * MiB, S(""), A), 0);
	char k[32];
	for (int i = 0; i < 85; i++) {
		snprintf(k, sizeof(k), "w%d", i);
		ck_assert_int_eq(put_at(s, k, MiB, 0, 1000 + (uint64_t)i), 0);
	}
	ck_assert_uint_gt(mcs_store_evict_if_needed(s, 100000), 0);
	/* down to the low watermark, 60% */
	ck_assert_uint_le(mcs_store_used(s), 61 * MiB);
	ck_assert_uint_eq(mcs_store_evict_if_needed(s, 100000), 0);
	mcs_store_free(s);
}
END_TEST

static Suite *suite(void)
{
	Suite *s = suite_create("store-evict");
	TCase *t = tcase_create("evict");
	tcase_set_timeout(t, 60);
	tcase_add_test(t, evict_fills_past_capacity);
	tcase_add_test(t, evict_lru_keeps_hot);
	tcase_add_test(t, evict_respects_leases_holds_pending_pins);
	tcase_add_test(t, evict_no_space_when_nothing_evictable);
	tcase_add_test(t, soft_pin_bound);
	tcase_add_test(t, put_timeout);
	tcase_add_test(t, watermark);
	suite_add_tcase(s, t);
	return s;
}

int main(void)
{
	return store_suite_run(suite());
}
