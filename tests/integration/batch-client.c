/* SPDX-License-Identifier: MIT */
/*
 * A test client for the batch calls (mcs_put_batch, mcs_get_batch,
 * mcs_get_view_batch, mcs_exists_batch). Values derive from their key, so
 * a process can verify what another stored.
 *
 *   batch-client SOCKET put PREFIX N [LOCATION]   store PREFIX-0 .. PREFIX-(N-1)
 *   batch-client SOCKET get PREFIX N              read them back byte for byte
 *   batch-client SOCKET view PREFIX N [notlocal]  views, or -EREMOTE for each
 *   batch-client SOCKET exists PREFIX N           N present, N absent
 *   batch-client SOCKET errors PREFIX             per-key failures beside successes
 *
 * With BATCH_VALUE_SIZE=N in the environment, every value has N bytes (many
 * small objects) instead of sizes from 0 to 2 MiB.
 *
 * Prints what failed; exits 0 only if everything matched.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "mcstore.h"

static int failures;

#define expect(cond, ...)                                                    \
	do {                                                                 \
		if (!(cond)) {                                               \
			failures++;                                          \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
		}                                                            \
	} while (0)

static size_t size_of(unsigned i)
{
	static const size_t sizes[] = { 0, 1, 4096, 65537, 1u << 20, 4095, 300000, 2u << 20 };
	const char *fixed = getenv("BATCH_VALUE_SIZE");
	if (fixed && *fixed)
		return (size_t)strtoul(fixed, NULL, 10);
	return sizes[i % (sizeof(sizes) / sizeof(sizes[0]))];
}

static void fill(uint8_t *p, size_t n, const char *key)
{
	uint64_t x = 1469598103934665603ull;
	for (const char *k = key; *k; k++)
		x = (x ^ (unsigned char)*k) * 1099511628211ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
}

static char **make_keys(const char *prefix, unsigned n, unsigned from)
{
	char **k = calloc(n, sizeof(*k));
	for (unsigned i = 0; k && i < n; i++)
		if (asprintf(&k[i], "%s-%u", prefix, from + i) < 0)
			exit(2);
	return k;
}

static uint8_t *value(const char *key, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		exit(2);
	fill(p, n, key);
	return p;
}

static void do_put(struct mcs_client *c, const char *prefix, unsigned n, const char *loc)
{
	char **keys = make_keys(prefix, n, 0);
	struct iovec *v = calloc(n, sizeof(*v));
	int *res = calloc(n, sizeof(*res));
	for (unsigned i = 0; i < n; i++)
		v[i] = (struct iovec){ value(keys[i], size_of(i)), size_of(i) };
	struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = 1 };
	const char *locs[1] = { loc };
	if (loc) {
		cfg.locations = locs;
		cfg.n_locations = 1;
	}
	unsigned *reps = calloc(n ? n : 1, sizeof(*reps));
	int r = mcs_put_batch(c, n, (const char *const *)keys, v, &cfg, res, reps);
	expect(r == (int)n, "put batch returned %d (%s), wanted %u", r, r < 0 ? mcs_strerror(r) : "", n);
	for (unsigned i = 0; i < n; i++) {
		expect(res[i] == 0 && reps[i] == 1, "put %s: %d (%s), %u replicas", keys[i], res[i],
		       mcs_strerror(res[i]), reps[i]);
		free(v[i].iov_base);
		free(keys[i]);
	}
	free(keys);
	free(v);
	free(res);
	free(reps);
}

static void do_get(struct mcs_client *c, const char *prefix, unsigned n)
{
	char **keys = make_keys(prefix, n, 0);
	struct iovec *b = calloc(n, sizeof(*b));
	ssize_t *res = calloc(n, sizeof(*res));
	for (unsigned i = 0; i < n; i++)
		b[i] = (struct iovec){ malloc(size_of(i) + 7), size_of(i) + 7 };
	int r = mcs_get_batch(c, n, (const char *const *)keys, b, res);
	expect(r == (int)n, "get batch returned %d, wanted %u", r, n);
	for (unsigned i = 0; i < n; i++) {
		expect(res[i] == (ssize_t)size_of(i), "get %s: %zd, wanted %zu", keys[i], res[i], size_of(i));
		uint8_t *want = value(keys[i], size_of(i));
		expect(res[i] < 0 || memcmp(want, b[i].iov_base, size_of(i)) == 0, "get %s: bytes differ", keys[i]);
		free(want);
		free(b[i].iov_base);
		free(keys[i]);
	}
	free(keys);
	free(b);
	free(res);
}

static void do_view(struct mcs_client *c, const char *prefix, unsigned n, bool notlocal)
{
	char **keys = make_keys(prefix, n, 0);
	struct mcs_view **v = calloc(n, sizeof(*v));
	int *res = calloc(n, sizeof(*res));
	int r = mcs_get_view_batch(c, n, (const char *const *)keys, 0, v, res);
	/* an empty object has no bytes anywhere: its view works on any node */
	unsigned empty = (n + 7) / 8;
	expect(r == (int)(notlocal ? empty : n), "view batch returned %d", r);
	for (unsigned i = 0; i < n; i++) {
		if (notlocal && size_of(i) > 0) {
			expect(res[i] == -EREMOTE && !v[i], "view %s: %d, wanted -EREMOTE", keys[i],
			       res[i]);
			free(keys[i]);
			continue;
		}
		expect(res[i] == 0 && v[i] && v[i]->size == size_of(i), "view %s: %d", keys[i], res[i]);
		if (res[i] == 0 && v[i]) {
			uint8_t *want = value(keys[i], size_of(i)), *p = want;
			for (size_t j = 0; j < v[i]->n_iov; j++) {
				expect(memcmp(p, v[i]->iov[j].iov_base, v[i]->iov[j].iov_len) == 0, "view %s: bytes differ",
				       keys[i]);
				p += v[i]->iov[j].iov_len;
			}
			free(want);
		}
		mcs_view_release(v[i]);
		free(keys[i]);
	}
	free(keys);
	free(v);
	free(res);
}

static void do_exists(struct mcs_client *c, const char *prefix, unsigned n)
{
	/* keys 0..n-1 are stored, n..2n-1 are not; interleaved */
	char **keys = calloc(2 * n, sizeof(*keys));
	for (unsigned i = 0; i < 2 * n; i++)
		if (asprintf(&keys[i], "%s-%u", prefix, i % 2 ? n + i / 2 : i / 2) < 0)
			exit(2);
	int *res = calloc(2 * n, sizeof(*res));
	int r = mcs_exists_batch(c, 2 * n, (const char *const *)keys, res);
	expect(r == (int)n, "exists batch returned %d, wanted %u", r, n);
	for (unsigned i = 0; i < 2 * n; i++) {
		expect(res[i] == (i % 2 ? 0 : 1), "exists %s: %d", keys[i], res[i]);
		free(keys[i]);
	}
	free(keys);
	free(res);
}

static void do_errors(struct mcs_client *c, const char *prefix)
{
	/* stored, new, the same new key again (its put is then in progress or done) */
	char *k0, *k1;
	if (asprintf(&k0, "%s-0", prefix) < 0 || asprintf(&k1, "%s-new", prefix) < 0)
		exit(2);
	const char *keys[3] = { k0, k1, k1 };
	uint8_t *v0 = value(k0, 10), *v1 = value(k1, 5000);
	struct iovec v[3] = { { v0, 10 }, { v1, 5000 }, { v0, 10 } };
	int res[3];
	unsigned reps[3] = { 7, 7, 7 };
	int r = mcs_put_batch(c, 3, keys, v, NULL, res, reps);
	expect(r == 1, "mixed put batch returned %d, wanted 1", r);
	expect(res[0] == -EEXIST && reps[0] == 0, "put of a stored key: %d, %u replicas", res[0], reps[0]);
	expect(res[1] == 0 && reps[1] == 1, "put of a new key: %d, %u replicas", res[1], reps[1]);
	expect(res[2] == -EAGAIN || res[2] == -EEXIST, "second put of the new key: %d (%s)", res[2],
	       mcs_strerror(res[2]));

	/* the new key holds the first value, not the duplicate's */
	uint8_t buf[5000];
	ssize_t n = mcs_get(c, k1, buf, sizeof(buf));
	expect(n == 5000 && memcmp(buf, v1, 5000) == 0, "the new key reads back as its first value (%zd)", n);

	/* a small buffer, a missing key, a good one */
	const char *gk[3] = { k1, "no-such-key-at-all", k1 };
	uint8_t small[100], big[5000];
	struct iovec b[3] = { { small, sizeof(small) }, { big, sizeof(big) }, { big, sizeof(big) } };
	ssize_t gr[3];
	r = mcs_get_batch(c, 3, gk, b, gr);
	expect(r == 1, "mixed get batch returned %d, wanted 1", r);
	expect(gr[0] == -ERANGE, "get into 100 bytes: %zd", gr[0]);
	expect(gr[1] == -ENOENT, "get of a missing key: %zd", gr[1]);
	expect(gr[2] == 5000 && memcmp(big, v1, 5000) == 0, "get beside them: %zd", gr[2]);

	/* whole-batch refusals leave the handle usable */
	expect(mcs_exists_batch(c, MCS_BATCH_MAX + 1, keys, res) == -EINVAL, "more than MCS_BATCH_MAX keys");
	const char *nullkey[2] = { k0, NULL };
	expect(mcs_exists_batch(c, 2, nullkey, res) == -EINVAL, "a NULL key");
	expect(mcs_exists_batch(c, 0, keys, res) == 0, "an empty batch");
	expect(mcs_exists(c, k1) == 1, "the handle still serves");
	free(v0);
	free(v1);
	free(k0);
	free(k1);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: batch-client SOCKET put|get|view|exists|errors PREFIX [N] [LOCATION]\n");
		return 2;
	}
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = argv[1] };
	mcs_client_opts_env(&o);
	struct mcs_client *c;
	int r = mcs_client_new(&o, &c);
	if (r < 0) {
		fprintf(stderr, "connect: %s\n", mcs_strerror(r));
		return 1;
	}
	const char *cmd = argv[2], *prefix = argv[3];
	unsigned n = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 10) : 0;
	if (!strcmp(cmd, "put"))
		do_put(c, prefix, n, argc > 5 ? argv[5] : NULL);
	else if (!strcmp(cmd, "get"))
		do_get(c, prefix, n);
	else if (!strcmp(cmd, "view"))
		do_view(c, prefix, n, argc > 5 && !strcmp(argv[5], "notlocal"));
	else if (!strcmp(cmd, "exists"))
		do_exists(c, prefix, n);
	else if (!strcmp(cmd, "errors"))
		do_errors(c, prefix);
	else
		return 2;
	mcs_client_unref(c);
	return failures ? 1 : 0;
}
