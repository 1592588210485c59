/* SPDX-License-Identifier: MIT */
/* The master's tables under test: see store-fixture.h. */
#include "tests/unit/store-fixture.h"

#include <check.h>

int store_owner_a, store_owner_b;

struct mcs_store *mk(uint64_t lease)
{
	struct mcs_store *s;
	struct mcs_store_opts o = { .lease_ttl_ms = lease };
	ck_assert_int_eq(mcs_store_new(&o, &s), 0);
	return s;
}

int put_start_at(struct mcs_store *s, const char *key, uint64_t len, uint32_t replicas, uint32_t flags,
		 void *owner, uint64_t now, struct mcs_obj **ret)
{
	uint64_t sl = len;
	struct mcs_put_start_req q = { .key = S(key), .value_len = len, .n_slices = 1, .slice_lens = &sl };
	q.cfg.replica_num = replicas;
	q.cfg.flags = flags;
	struct mcs_obj *o;
	int r = mcs_store_put_start(s, &q, owner, now, &o);
	if (r == 0 && ret)
		*ret = o;
	return r;
}

int put_start(struct mcs_store *s, const char *key, uint64_t len, uint32_t replicas, uint32_t flags,
	      void *owner, struct mcs_obj **ret)
{
	return put_start_at(s, key, len, replicas, flags, owner, 1000, ret);
}

int put(struct mcs_store *s, const char *key, uint64_t len, void *owner)
{
	int r = put_start(s, key, len, 1, 0, owner, NULL);
	return r < 0 ? r : mcs_store_put_end(s, S(key), 42, owner, 1000);
}

int store_suite_run(Suite *suite)
{
	SRunner *sr = srunner_create(suite);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
