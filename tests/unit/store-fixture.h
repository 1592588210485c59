/* SPDX-License-Identifier: MIT */
/*
 * What the unit tests of the master's tables share (test-store.c,
 * test-store-evict.c; the code is in store-fixture.c): two opaque owners,
 * a store, and puts of one slice.
 */
#ifndef MCS_TEST_STORE_FIXTURE_H
#define MCS_TEST_STORE_FIXTURE_H

#include <check.h>
#include <stdint.h>

#include "master/alloc.h"
#include "master/store.h"
#include "mcstore.h"

#define MiB (1ull << 20)

/* addresses used as opaque owners (a client or a node of the master) */
extern int store_owner_a, store_owner_b;
#define A ((void *)&store_owner_a)
#define B ((void *)&store_owner_b)

static inline struct mcs_str S(const char *s) { return mcs_str_c(s); }

/* A store with this lease length; the test fails if it cannot be made. */
struct mcs_store *mk(uint64_t lease);
/* PUT_START of a one-slice object at time `now`; *ret (if given) is set on
 * success only. */
int put_start_at(struct mcs_store *s, const char *key, uint64_t len, uint32_t replicas, uint32_t flags,
		 void *owner, uint64_t now, struct mcs_obj **ret);
/* ... at time 1000 */
int put_start(struct mcs_store *s, const char *key, uint64_t len, uint32_t replicas, uint32_t flags,
	      void *owner, struct mcs_obj **ret);
/* A whole put of one replica at time 1000 (checksum 42). */
int put(struct mcs_store *s, const char *key, uint64_t len, void *owner);

/* Run the suite (CK_ENV): 0 when every test passed, else 1; main's. */
int store_suite_run(Suite *suite);

#endif
