/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the node's table of the replica parts it holds
 * (daemon/replicas.c): what is added is found and walked in offset order,
 * what is dropped is gone, the memfd taken over by a new table (the next
 * start of the daemon, through the fd store) holds the same parts, a
 * record cut by a crash before it was committed is lost alone, and a
 * corrupted table or one of another incarnation is refused. A random
 * workload against a plain array, through compactions and reopenings.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon/replicas.h"
#include "mcstore.h"

#define INC UINT64_C(0x1234abcd5678ef01)

static struct mcs_replica_part part(const char *key, uint64_t offset, uint64_t len)
{
	return (struct mcs_replica_part){ .key = mcs_str_c(key), .offset = offset, .len = len, .size = len * 2,
					  .checksum = offset ^ 0x5555, .value_off = len / 2, .replica = 1, .handle = 0,
					  .n_handles = 2 };
}

static void assert_part_eq(const struct mcs_replica_part *a, const struct mcs_replica_part *b)
{
	ck_assert_uint_eq(a->key.len, b->key.len);
	ck_assert_mem_eq(a->key.p, b->key.p, a->key.len);
	ck_assert_uint_eq(a->offset, b->offset);
	ck_assert_uint_eq(a->len, b->len);
	ck_assert_uint_eq(a->size, b->size);
	ck_assert_uint_eq(a->checksum, b->checksum);
	ck_assert_uint_eq(a->value_off, b->value_off);
	ck_assert_uint_eq(a->flags, b->flags);
	ck_assert_uint_eq(a->replica, b->replica);
	ck_assert_uint_eq(a->handle, b->handle);
	ck_assert_uint_eq(a->n_handles, b->n_handles);
}

/* The daemon going away with its table in the fd store: the fd survives,
 * the process's table does not. */
static struct mcs_rtab *restart(struct mcs_rtab *t, uint64_t inc, int expect)
{
	int fd = dup(mcs_rtab_fd(t));
	ck_assert_int_ge(fd, 0);
	mcs_rtab_free(t);
	struct mcs_rtab *n = NULL;
	ck_assert_int_eq(mcs_rtab_open(fd, inc, &n), expect);
	return n;
}

START_TEST(test_add_get_drop)
{
	struct mcs_rtab *t;
	ck_assert_int_eq(mcs_rtab_new(INC, &t), 0);
	struct mcs_replica_part a = part("alpha", 4096, 1000), b = part("beta", 0, 64), c = part("gamma", 8192, 1);
	c.flags = MCS_REPL_HARD_PIN;
	c.replica = 15;
	c.handle = 3;
	c.n_handles = 4;
	ck_assert_int_eq(mcs_rtab_add(t, &a), 0);
	ck_assert_int_eq(mcs_rtab_add(t, &b), 0);
	ck_assert_int_eq(mcs_rtab_add(t, &c), 0);
	ck_assert_uint_eq(mcs_rtab_count(t), 3);
	struct mcs_replica_part g;
	ck_assert_int_eq(mcs_rtab_get(t, 4096, &g), 0);
	assert_part_eq(&g, &a);
	ck_assert_int_eq(mcs_rtab_get(t, 8192, &g), 0);
	assert_part_eq(&g, &c);
	ck_assert_int_eq(mcs_rtab_get(t, 4097, &g), -ENOENT);
	/* the same offset again replaces (the master reused the space) */
	struct mcs_replica_part a2 = part("alpha-2", 4096, 512);
	ck_assert_int_eq(mcs_rtab_add(t, &a2), 0);
	ck_assert_uint_eq(mcs_rtab_count(t), 3);
	ck_assert_int_eq(mcs_rtab_get(t, 4096, &g), 0);
	assert_part_eq(&g, &a2);
	ck_assert_uint_gt(mcs_rtab_dead_bytes(t), 0);
	ck_assert_int_eq(mcs_rtab_drop(t, 0), 0);
	ck_assert_int_eq(mcs_rtab_drop(t, 0), -ENOENT);
	ck_assert_int_eq(mcs_rtab_get(t, 0, &g), -ENOENT);
	ck_assert_uint_eq(mcs_rtab_count(t), 2);
	ck_assert_int_eq(mcs_rtab_clear(t), 0);
	ck_assert_uint_eq(mcs_rtab_count(t), 0);
	ck_assert_int_eq(mcs_rtab_get(t, 4096, &g), -ENOENT);
	ck_assert_int_eq(mcs_rtab_add(t, &b), 0);
	ck_assert_int_eq(mcs_rtab_get(t, 0, &g), 0);
	t = mcs_rtab_free(t);
	/* an empty table drops nothing */
	ck_assert_int_eq(mcs_rtab_new(INC, &t), 0);
	ck_assert_int_eq(mcs_rtab_drop(t, 0), -ENOENT);
	ck_assert_int_eq(mcs_rtab_get(t, 0, &g), -ENOENT);
	t = mcs_rtab_free(t);
}
END_TEST

START_TEST(test_invalid)
{
	struct mcs_rtab *t;
	ck_assert_int_eq(mcs_rtab_new(INC, &t), 0);
	static char big[MCS_KEY_MAX + 1];
	memset(big, 'k', sizeof(big));
	struct mcs_replica_part p = part("k", 0, 100);
	p.key.len = 0;
	ck_assert_int_eq(mcs_rtab_add(t, &p), -EINVAL);
	p = part("k", 0, 100);
	p.key.p = big;
	p.key.len = MCS_KEY_MAX + 1;
	ck_assert_int_eq(mcs_rtab_add(t, &p), -EINVAL);
	p.key.len = MCS_KEY_MAX; /* the longest key is fine */
	ck_assert_int_eq(mcs_rtab_add(t, &p), 0);
	p = part("k", 64, 0);
	ck_assert_int_eq(mcs_rtab_add(t, &p), -EINVAL);
	p = part("k", UINT64_MAX - 10, 100);
	ck_assert_int_eq(mcs_rtab_add(t, &p), -EINVAL);
	p = part("k", 64, 100);
	p.value_off = p.size - 99; /* value_off + len passes the size */
	ck_assert_int_eq(mcs_rtab_add(t, &p), -EINVAL);
	p = part("k", 64, 100);
	p.handle = p.n_handles;
	ck_assert_int_eq(mcs_rtab_add(t, &p), -EINVAL);
	p = part("k", 64, 100);
	p.replica = MCS_MAX_REPLICAS;
	ck_assert_int_eq(mcs_rtab_add(t, &p), -EINVAL);
	ck_assert_uint_eq(mcs_rtab_count(t), 1);
	t = restart(t, INC, 0);
	struct mcs_replica_part g;
	ck_assert_int_eq(mcs_rtab_get(t, 0, &g), 0);
	ck_assert_uint_eq(g.key.len, MCS_KEY_MAX);
	t = mcs_rtab_free(t);
}
END_TEST

static int collect(const struct mcs_replica_part *p, void *arg)
{
	uint64_t *v = arg;
	if (v[0] && p->offset <= v[v[0]])
		return -EDOM; /* not ascending */
	v[++v[0]] = p->offset;
	return v[0] == 1000 ? 77 : 0;
}

START_TEST(test_walk_and_reopen)
{
	struct mcs_rtab *t;
	ck_assert_int_eq(mcs_rtab_new(INC, &t), 0);
	char key[32];
	/* 2000 parts in a scattered order */
	for (uint64_t i = 0; i < 2000; i++) {
		uint64_t k = (i * 7919) % 2000;
		snprintf(key, sizeof(key), "key-%llu", (unsigned long long)k);
		struct mcs_replica_part p = part(key, k * 4096, 100 + k);
		ck_assert_int_eq(mcs_rtab_add(t, &p), 0);
	}
	for (uint64_t k = 0; k < 2000; k += 2)
		ck_assert_int_eq(mcs_rtab_drop(t, k * 4096), 0);
	uint64_t *v = calloc(2001, sizeof(*v));
	ck_assert_int_eq(mcs_rtab_walk(t, collect, v), 77); /* stops where fn says */
	ck_assert_uint_eq(v[0], 1000);
	/* reopened by the next start: the same parts, the same order */
	t = restart(t, INC, 0);
	ck_assert_uint_eq(mcs_rtab_count(t), 1000);
	memset(v, 0, 2001 * sizeof(*v));
	ck_assert_int_eq(mcs_rtab_walk(t, collect, v), 77);
	for (uint64_t i = 1; i <= 1000; i++)
		ck_assert_uint_eq(v[i], (2 * i - 1) * 4096);
	for (uint64_t k = 1; k < 2000; k += 2) {
		struct mcs_replica_part g;
		snprintf(key, sizeof(key), "key-%llu", (unsigned long long)k);
		struct mcs_replica_part p = part(key, k * 4096, 100 + k);
		ck_assert_int_eq(mcs_rtab_get(t, k * 4096, &g), 0);
		assert_part_eq(&g, &p);
	}
	/* it goes on working: adds and drops after the reopening */
	struct mcs_replica_part p = part("later", 1, 1);
	ck_assert_int_eq(mcs_rtab_add(t, &p), 0);
	ck_assert_int_eq(mcs_rtab_drop(t, 4096), 0);
	ck_assert_uint_eq(mcs_rtab_count(t), 1000);
	/* a table of another incarnation is not this segment's */
	t = restart(t, INC + 1, -EBADMSG);
	ck_assert_ptr_null(t);
	free(v);
}
END_TEST

START_TEST(test_crash_and_corruption)
{
	struct mcs_rtab *t;
	ck_assert_int_eq(mcs_rtab_new(INC, &t), 0);
	struct mcs_replica_part a = part("a", 0, 64), b = part("b", 64, 64);
	ck_assert_int_eq(mcs_rtab_add(t, &a), 0);
	ck_assert_int_eq(mcs_rtab_add(t, &b), 0);
	uint64_t end = mcs_rtab_log_bytes(t);
	/* a daemon killed while appending: bytes past the committed end
	 * (half a record) are not a record */
	int fd = mcs_rtab_fd(t);
	struct stat st;
	ck_assert_int_eq(fstat(fd, &st), 0);
	uint8_t *m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ck_assert_ptr_ne(m, MAP_FAILED);
	memset(m + end, 0xa5, 40);
	t = restart(t, INC, 0);
	ck_assert_uint_eq(mcs_rtab_count(t), 2);
	ck_assert_uint_eq(mcs_rtab_log_bytes(t), end);
	/* a committed record's byte changed: the table is refused */
	fd = dup(mcs_rtab_fd(t));
	mcs_rtab_free(t);
	m[64 + 20] ^= 1; /* inside the first record's len */
	int fd2 = dup(fd);
	ck_assert_int_eq(mcs_rtab_open(fd, INC, &t), -EBADMSG);
	m[64 + 20] ^= 1;
	/* a bad header too */
	m[0] ^= 1;
	int fd3 = dup(fd2);
	ck_assert_int_eq(mcs_rtab_open(fd2, INC, &t), -EBADMSG);
	m[0] ^= 1;
	ck_assert_int_eq(mcs_rtab_open(fd3, INC, &t), 0);
	ck_assert_uint_eq(mcs_rtab_count(t), 2);
	t = mcs_rtab_free(t);
	munmap(m, (size_t)st.st_size);
	/* not a table at all: too short, or empty */
	int e = memfd_create("x", 0);
	ck_assert_int_ge(e, 0);
	ck_assert_int_eq(mcs_rtab_open(e, INC, &t), -EBADMSG);
	e = memfd_create("x", 0);
	ck_assert_int_eq(ftruncate(e, 1 << 20), 0);
	ck_assert_int_eq(mcs_rtab_open(e, INC, &t), -EBADMSG);
}
END_TEST

/* xorshift64* */
static uint64_t rnd(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * UINT64_C(0x2545F4914F6CDD1D);
}

START_TEST(test_random_model)
{
	/* 300k adds and drops over 5000 places against an array: the log
	 * is compacted many times (a new memfd each time), and every 50k
	 * operations the table is reopened from its memfd */
	enum { PLACES = 5000 };
	uint64_t seed = 0x9e3779b97f4a7c15ull, gens = 0;
	struct mcs_rtab *t;
	ck_assert_int_eq(mcs_rtab_new(INC, &t), 0);
	uint64_t *model = calloc(PLACES, sizeof(*model)); /* 0: none, else the len */
	uint64_t n = 0;
	char key[64];
	for (int op = 1; op <= 300000; op++) {
		uint64_t k = rnd(&seed) % PLACES;
		if (rnd(&seed) % 3) {
			uint64_t len = 1 + rnd(&seed) % 1000;
			snprintf(key, sizeof(key), "k%llu-%llu", (unsigned long long)k, (unsigned long long)len);
			struct mcs_replica_part p = part(key, k * 8192, len);
			ck_assert_int_eq(mcs_rtab_add(t, &p), 0);
			n += !model[k];
			model[k] = len;
		} else {
			ck_assert_int_eq(mcs_rtab_drop(t, k * 8192), model[k] ? 0 : -ENOENT);
			n -= !!model[k];
			model[k] = 0;
		}
		if (op % 50000 == 0) {
			gens += mcs_rtab_generation(t);
			t = restart(t, INC, 0);
			ck_assert_uint_eq(mcs_rtab_count(t), n);
			for (uint64_t i = 0; i < PLACES; i++) {
				struct mcs_replica_part g;
				int r = mcs_rtab_get(t, i * 8192, &g);
				ck_assert_int_eq(r, model[i] ? 0 : -ENOENT);
				if (!r) {
					snprintf(key, sizeof(key), "k%llu-%llu", (unsigned long long)i,
						 (unsigned long long)model[i]);
					struct mcs_replica_part p = part(key, i * 8192, model[i]);
					assert_part_eq(&g, &p);
				}
			}
			/* compaction keeps the log within twice the live bytes, and a megabyte */
			ck_assert_uint_le(mcs_rtab_dead_bytes(t), mcs_rtab_log_bytes(t) / 2 + (1 << 20));
		}
	}
	ck_assert_uint_gt(gens, 0); /* it did compact */
	t = mcs_rtab_free(t);
	free(model);
}
END_TEST

/* An upsert's old value whose DROP never came: the key's later part
 * wins, through compactions (which keep the order of the adds) and a
 * reopening; other keys stay. */
/* mcs_rtab_on_move: told of every new memfd, and it is the table's */
struct moves {
	struct mcs_rtab *t;
	int n, last_fd;
	uint64_t last_gen;
};

static void on_move(void *arg)
{
	struct moves *mv = arg;
	mv->n++;
	mv->last_fd = mcs_rtab_fd(mv->t);
	mv->last_gen = mcs_rtab_generation(mv->t);
}

START_TEST(test_on_move)
{
	struct moves mv = { .last_fd = -1 };
	ck_assert_int_eq(mcs_rtab_new(INC, &mv.t), 0);
	mcs_rtab_on_move(mv.t, on_move, &mv);
	struct mcs_replica_part a = part("a", 0, 64);
	ck_assert_int_eq(mcs_rtab_add(mv.t, &a), 0);
	ck_assert_int_eq(mv.n, 0); /* an add in place moves nothing */
	char key[32];
	for (int i = 0; i < 40000; i++) {
		snprintf(key, sizeof(key), "churn-%d", i % 7);
		struct mcs_replica_part c = part(key, (uint64_t)(2 + i % 7) << 21, 50);
		ck_assert_int_eq(mcs_rtab_add(mv.t, &c), 0);
		ck_assert_int_eq(mcs_rtab_drop(mv.t, c.offset), 0);
	}
	/* compactions: each told, the last with the fd the table has now */
	ck_assert_int_gt(mv.n, 0);
	ck_assert_uint_eq((uint64_t)mv.n, mcs_rtab_generation(mv.t));
	ck_assert_int_eq(mv.last_fd, mcs_rtab_fd(mv.t));
	int before = mv.n;
	ck_assert_int_eq(mcs_rtab_clear(mv.t), 0);
	ck_assert_int_eq(mv.n, before + 1);
	ck_assert_int_eq(mv.last_fd, mcs_rtab_fd(mv.t));
	ck_assert_uint_eq(mv.last_gen, mcs_rtab_generation(mv.t));
	/* unset: no more calls */
	mcs_rtab_on_move(mv.t, NULL, NULL);
	ck_assert_int_eq(mcs_rtab_clear(mv.t), 0);
	ck_assert_int_eq(mv.n, before + 1);
	mv.t = mcs_rtab_free(mv.t);
}
END_TEST

START_TEST(test_superseded)
{
	struct mcs_rtab *t;
	ck_assert_int_eq(mcs_rtab_new(INC, &t), 0);
	/* the newer value at a lower offset than the older: the order of
	 * the adds decides, not the offsets */
	struct mcs_replica_part old = part("key", 1 << 20, 100), nw = part("key", 4096, 100), other = part("other", 0, 10);
	nw.checksum = 42;
	ck_assert_int_eq(mcs_rtab_add(t, &old), 0);
	ck_assert_int_eq(mcs_rtab_add(t, &other), 0);
	ck_assert_int_eq(mcs_rtab_add(t, &nw), 0);
	/* enough churn elsewhere to compact the log a few times */
	char key[32];
	for (int i = 0; i < 40000; i++) {
		snprintf(key, sizeof(key), "churn-%d", i % 7);
		struct mcs_replica_part c = part(key, (uint64_t)(2 + i % 7) << 21, 50);
		ck_assert_int_eq(mcs_rtab_add(t, &c), 0);
		ck_assert_int_eq(mcs_rtab_drop(t, c.offset), 0);
	}
	ck_assert_uint_gt(mcs_rtab_generation(t), 0);
	t = restart(t, INC, 0);
	ck_assert_int_eq(mcs_rtab_drop_superseded(t), 1);
	struct mcs_replica_part g;
	ck_assert_int_eq(mcs_rtab_get(t, 1 << 20, &g), -ENOENT);
	ck_assert_int_eq(mcs_rtab_get(t, 4096, &g), 0);
	assert_part_eq(&g, &nw);
	ck_assert_int_eq(mcs_rtab_get(t, 0, &g), 0);
	ck_assert_uint_eq(mcs_rtab_count(t), 2);
	ck_assert_int_eq(mcs_rtab_drop_superseded(t), 0);
	/* many keys, each added three times at three places: one each stays,
	 * the last */
	ck_assert_int_eq(mcs_rtab_clear(t), 0);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 3000; i++) {
			snprintf(key, sizeof(key), "k%d", i);
			struct mcs_replica_part c = part(key, ((uint64_t)round * 3000 + (uint64_t)i) * 4096, 1 + (uint64_t)round);
			ck_assert_int_eq(mcs_rtab_add(t, &c), 0);
		}
	ck_assert_int_eq(mcs_rtab_drop_superseded(t), 6000);
	ck_assert_uint_eq(mcs_rtab_count(t), 3000);
	for (int i = 0; i < 3000; i++) {
		ck_assert_int_eq(mcs_rtab_get(t, (6000 + (uint64_t)i) * 4096, &g), 0);
		ck_assert_uint_eq(g.len, 3);
	}
	t = mcs_rtab_free(t);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("replicas");
	TCase *tc = tcase_create("rtab");
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_add_get_drop);
	tcase_add_test(tc, test_invalid);
	tcase_add_test(tc, test_walk_and_reopen);
	tcase_add_test(tc, test_crash_and_corruption);
	tcase_add_test(tc, test_random_model);
	tcase_add_test(tc, test_superseded);
	tcase_add_test(tc, test_on_move);
	suite_add_tcase(s, tc);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
