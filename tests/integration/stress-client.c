/* SPDX-License-Identifier: MIT */
/*
 * A test client for the integration tests: puts COUNT objects named
 * PREFIX-<i> whose size and bytes derive from the key alone, reads them
 * back byte for byte (copy, scatter and zero-copy view in turn), then reads
 * the objects of another writer (VPREFIX) once they appear. Any process can
 * thus verify any other's objects without sharing state.
 *
 *   stress-client SOCKET PREFIX COUNT [VPREFIX VCOUNT]
 *
 * Prints one summary line; exits 0 only if every byte matched.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "mcstore.h"
#include "tests/integration/keyed.h"

#define MAX_SIZE (8u << 20)


/* Sizes 0..8 MiB: the edges, then log-uniform so small and large both
 * appear without making the run gigabytes long. */
static size_t key_size(const char *k, unsigned i)
{
	uint64_t s = key_seed(k);
	switch (i % 50) {
	case 0: return 0;
	case 1: return 1;
	case 2: return MAX_SIZE;
	case 3: return 4096;
	default: break;
	}
	unsigned bits = (unsigned)(s % 23) + 1; /* 2^1 .. 2^23 */
	uint64_t v = mix(s + 1) & ((1ull << bits) - 1);
	return (size_t)(v > MAX_SIZE ? MAX_SIZE : v);
}

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(p + i, &x, 8);
	}
	for (; i < n; i++)
		p[i] = (uint8_t)(x >> (8 * (i & 7)));
}

static int verify(struct mcs_client *c, const char *key, unsigned i, uint8_t *expect, uint8_t *got)
{
	size_t n = key_size(key, i);
	fill(expect, n, key_seed(key));
	int r;
	switch (i % 3) {
	case 0: {
		memset(got, 0xaa, n);
		ssize_t g = mcs_get(c, key, got, MAX_SIZE);
		if (g < 0)
			return (int)g;
		r = (size_t)g == n && memcmp(got, expect, n) == 0 ? 0 : 1;
		break;
	}
	case 1: {
		/* scatter over three uneven pieces */
		size_t a = n / 3, b = n / 2;
		struct iovec iov[3] = { { got, a }, { got + a, b }, { got + a + b, MAX_SIZE - a - b } };
		ssize_t g = mcs_getv(c, key, iov, 3);
		if (g < 0)
			return (int)g;
		r = (size_t)g == n && memcmp(got, expect, n) == 0 ? 0 : 1;
		break;
	}
	default: {
		struct mcs_view *v;
		r = mcs_get_view(c, key, 0, &v);
		if (r < 0)
			return r;
		size_t off = 0;
		r = v->size == n ? 0 : 1;
		for (size_t j = 0; r == 0 && j < v->n_iov; j++) {
			if (off + v->iov[j].iov_len > n || memcmp(v->iov[j].iov_base, expect + off, v->iov[j].iov_len))
				r = 1;
			off += v->iov[j].iov_len;
		}
		if (off != n)
			r = 1;
		mcs_view_release(v);
		break;
	}
	}
	if (r)
		fprintf(stderr, "stress-client: %s: WRONG BYTES (size %zu)\n", key, n);
	return r;
}

/* Chaos mode, for runs during which nodes die:
 *   stress-client chaos SOCKET PREFIX SECONDS PEER_PREFIX...
 * writes PREFIX-<i> with 2 replicas and reads random keys of every prefix
 * for SECONDS. A read must give the right bytes or a clean "not found";
 * anything else read is counted as wrong. Puts may fail (a target died).
 * Small sizes keep the loop fast. */
static int chaos(int argc, char **argv)
{
	const char *prefix = argv[3];
	int seconds = atoi(argv[4]);
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = argv[2], .timeout_ms = 20000 };
	mcs_client_opts_env(&o);
	struct mcs_client *c;
	int r = mcs_client_new(&o, &c);
	if (r < 0) {
		fprintf(stderr, "stress-client: cannot connect: %s\n", mcs_strerror(r));
		return 1;
	}
	uint8_t *buf = malloc(MAX_SIZE), *got = malloc(MAX_SIZE), *expect = malloc(MAX_SIZE);
	if (!buf || !got || !expect)
		return 1;
	unsigned puts = 0, put_fail = 0, good = 0, notfound = 0, wrong = 0, errors = 0, next = 0;
	uint64_t rng = key_seed(prefix);
	struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = 2 };
	time_t end = time(NULL) + seconds;
	char key[128];
	while (time(NULL) < end) {
		snprintf(key, sizeof(key), "%s-%u", prefix, next);
		size_t n = key_size(key, next) & ((1u << 20) - 1);
		fill(buf, n, key_seed(key));
		r = mcs_put(c, key, buf, n, &cfg, NULL);
		if (r < 0)
			put_fail++;
		else
			puts++;
		next++;
		for (int k = 0; k < 4; k++) {
			rng = mix(rng + 1);
			const char *p = argv[5 + (int)(rng % (uint64_t)(argc - 5))];
			unsigned i = (unsigned)(mix(rng) % (next + 10));
			snprintf(key, sizeof(key), "%s-%u", p, i);
			size_t want = key_size(key, i) & ((1u << 20) - 1);
			fill(expect, want, key_seed(key));
			ssize_t g = mcs_get(c, key, got, MAX_SIZE);
			if (g == -ENOENT || g == -EAGAIN) /* not put, or its put not ended */
				notfound++;
			else if (g < 0) {
				fprintf(stderr, "stress-client: get %s: %s\n", key, mcs_strerror((int)g));
				errors++;
			} else if ((size_t)g != want || memcmp(got, expect, want)) {
				fprintf(stderr, "stress-client: get %s: WRONG BYTES\n", key);
				wrong++;
			} else
				good++;
		}
	}
	printf("stress-client chaos %s: %u puts (%u failed), reads: %u right, %u not found, %u wrong, %u errors\n",
	       prefix, puts, put_fail, good, notfound, wrong, errors);
	free(buf);
	free(got);
	free(expect);
	mcs_client_unref(c);
	return wrong || errors || good == 0 ? 1 : 0;
}

/* Fill mode, for eviction:
 *   stress-client fill SOCKET COUNT SIZE PINNED
 * puts PINNED soft-pinned objects pin-<i>, one object "hot", then COUNT
 * objects fill-<i> of SIZE bytes, reading "hot" after every put (so it
 * stays recently used). No put may fail; afterwards every object still
 * present must read back exactly. Prints what survived. */
static int fill_mode(int argc, char **argv)
{
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = argv[2] };
	mcs_client_opts_env(&o);
	struct mcs_client *c;
	unsigned count = (unsigned)atoi(argv[3]), size = (unsigned)atoi(argv[4]), pinned = (unsigned)atoi(argv[5]);
	int r = mcs_client_new(&o, &c);
	if (r < 0 || size > MAX_SIZE) {
		fprintf(stderr, "stress-client: cannot connect: %s\n", mcs_strerror(r));
		return 1;
	}
	uint8_t *buf = malloc(MAX_SIZE), *got = malloc(MAX_SIZE);
	if (!buf || !got)
		return 1;
	char key[64];
	unsigned failed = 0, wrong = 0, present = 0, pins_left = 0;
	struct mcs_replicate_config pin = { .size = sizeof(pin), .replica_num = 1, .flags = MCS_REPL_SOFT_PIN };
	for (unsigned i = 0; i < pinned; i++) {
		snprintf(key, sizeof(key), "pin-%u", i);
		fill(buf, size, key_seed(key));
		failed += mcs_put(c, key, buf, size, &pin, NULL) < 0;
	}
	fill(buf, size, key_seed("hot"));
	failed += mcs_put(c, "hot", buf, size, NULL, NULL) < 0;
	for (unsigned i = 0; i < count; i++) {
		snprintf(key, sizeof(key), "fill-%u", i);
		fill(buf, size, key_seed(key));
		r = mcs_put(c, key, buf, size, NULL, NULL);
		if (r < 0) {
			fprintf(stderr, "stress-client: put %s: %s\n", key, mcs_strerror(r));
			failed++;
		}
		ssize_t g = mcs_get(c, "hot", got, MAX_SIZE);
		if (g != (ssize_t)size) {
			fprintf(stderr, "stress-client: hot object lost at put %u: %s\n", i, mcs_strerror((int)g));
			failed++;
		}
	}
	for (unsigned i = 0; i < count + pinned + 1; i++) {
		if (i < count)
			snprintf(key, sizeof(key), "fill-%u", i);
		else if (i < count + pinned)
			snprintf(key, sizeof(key), "pin-%u", i - count);
		else
			snprintf(key, sizeof(key), "hot");
		ssize_t g = mcs_get(c, key, got, MAX_SIZE);
		if (g == -ENOENT)
			continue;
		fill(buf, size, key_seed(key));
		if (g != (ssize_t)size || memcmp(got, buf, size)) {
			fprintf(stderr, "stress-client: %s: WRONG BYTES or error %zd\n", key, g);
			wrong++;
			continue;
		}
		present++;
		pins_left += i >= count && i < count + pinned;
	}
	bool first_gone = mcs_exists(c, "fill-0") == 0, hot = mcs_exists(c, "hot") == 1;
	printf("fill: %u puts of %u bytes, %u failed, %u present and exact, %u wrong, pins kept %u/%u, "
	       "hot %s, first %s\n",
	       count, size, failed, present, wrong, pins_left, pinned, hot ? "kept" : "EVICTED",
	       first_gone ? "evicted" : "kept");
	free(buf);
	free(got);
	mcs_client_unref(c);
	return failed || wrong || !hot || !first_gone || pins_left != pinned ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 6 && strcmp(argv[1], "fill") == 0)
		return fill_mode(argc, argv);
	if (argc >= 6 && strcmp(argv[1], "chaos") == 0)
		return chaos(argc, argv);
	if (argc != 4 && argc != 6) {
		fprintf(stderr, "usage: stress-client SOCKET PREFIX COUNT [VPREFIX VCOUNT]\n");
		return 2;
	}
	const char *prefix = argv[2], *vprefix = argc == 6 ? argv[4] : NULL;
	unsigned count = (unsigned)atoi(argv[3]), vcount = argc == 6 ? (unsigned)atoi(argv[5]) : 0;
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = argv[1] };
	mcs_client_opts_env(&o);
	struct mcs_client *c;
	int r = mcs_client_new(&o, &c);
	if (r < 0) {
		fprintf(stderr, "stress-client: cannot connect: %s\n", mcs_strerror(r));
		return 1;
	}
	uint8_t *buf = malloc(MAX_SIZE), *got = malloc(MAX_SIZE);
	if (!buf || !got)
		return 1;
	unsigned puts = 0, reads = 0, wrong = 0, errors = 0;
	uint64_t bytes = 0;
	char key[128];

	for (unsigned i = 0; i < count; i++) {
		snprintf(key, sizeof(key), "%s-%u", prefix, i);
		size_t n = key_size(key, i);
		fill(buf, n, key_seed(key));
		r = mcs_put(c, key, buf, n, NULL, NULL);
		if (r < 0) {
			fprintf(stderr, "stress-client: put %s (%zu bytes): %s\n", key, n, mcs_strerror(r));
			errors++;
			continue;
		}
		puts++;
		bytes += n;
	}
	for (unsigned i = 0; i < count; i++) {
		snprintf(key, sizeof(key), "%s-%u", prefix, i);
		r = verify(c, key, i, buf, got);
		if (r < 0) {
			fprintf(stderr, "stress-client: get %s: %s\n", key, mcs_strerror(r));
			errors++;
		} else {
			wrong += (unsigned)r;
			reads++;
		}
	}
	/* the other writer's objects: wait (bounded) for each to appear */
	for (unsigned i = 0; i < vcount; i++) {
		snprintf(key, sizeof(key), "%s-%u", vprefix, i);
		time_t end = time(NULL) + 120;
		while (((r = verify(c, key, i, buf, got)) == -ENOENT || r == -EAGAIN) && time(NULL) < end) {
			struct timespec ts = { 0, 5 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
		if (r < 0) {
			fprintf(stderr, "stress-client: get %s: %s\n", key, mcs_strerror(r));
			errors++;
		} else {
			wrong += (unsigned)r;
			reads++;
		}
	}
	printf("stress-client %s: %u puts (%llu bytes), %u verified reads, %u wrong, %u errors\n", prefix, puts,
	       (unsigned long long)bytes, reads, wrong, errors);
	free(buf);
	free(got);
	mcs_client_unref(c);
	return wrong || errors ? 1 : 0;
}
