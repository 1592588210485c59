/* SPDX-License-Identifier: MIT */
/*
 * bench/ha-bench's client: fill a node with many small objects, then time
 * how soon they are served again.
 *
 *   ha-fill fill SOCKET PREFIX COUNT SIZE
 *       put PREFIX-<i> for i < COUNT, SIZE bytes each (derived from the
 *       key), in batches of 64; prints the rate
 *   ha-fill check SOCKET PREFIX COUNT SAMPLE
 *       get SAMPLE keys spread over 0..COUNT, checked byte for byte;
 *       prints "right R missing M wrong W"; exit 0 if all are right
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "common/util.h"
#include "mcstore.h"

#define BATCH 64

static void fill(uint8_t *p, size_t n, const char *key)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *k = key; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ull;
	for (size_t i = 0; i < n; i++) {
		h = h * 6364136223846793005ull + 1442695040888963407ull;
		p[i] = (uint8_t)(h >> 56);
	}
}

int main(int argc, char **argv)
{
	if (argc != 6 || (strcmp(argv[1], "fill") && strcmp(argv[1], "check"))) {
		fprintf(stderr, "usage: ha-fill fill SOCKET PREFIX COUNT SIZE\n"
				"       ha-fill check SOCKET PREFIX COUNT SAMPLE\n");
		return 2;
	}
	const char *prefix = argv[3];
	uint64_t count = strtoull(argv[4], NULL, 10), arg = strtoull(argv[5], NULL, 10);
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = argv[2], .timeout_ms = 30000 };
	struct mcs_client *c;
	int r = mcs_client_new(&o, &c);
	if (r < 0) {
		fprintf(stderr, "ha-fill: %s: %s\n", argv[2], mcs_strerror(r));
		return 1;
	}
	static char keys[BATCH][64];
	const char *kp[BATCH];
	for (int i = 0; i < BATCH; i++)
		kp[i] = keys[i];
	if (strcmp(argv[1], "fill") == 0) {
		size_t size = (size_t)arg;
		uint8_t *vals = malloc(BATCH * (size ? size : 1));
		if (!vals)
			return 2;
		struct iovec iov[BATCH];
		int res[BATCH];
		uint64_t t0 = mcs_now_ns(), failed = 0;
		for (uint64_t i = 0; i < count; i += BATCH) {
			size_t n = (size_t)MCS_MIN((uint64_t)BATCH, count - i);
			for (size_t k = 0; k < n; k++) {
				snprintf(keys[k], sizeof(keys[k]), "%s-%llu", prefix, (unsigned long long)(i + k));
				fill(vals + k * size, size, keys[k]);
				iov[k] = (struct iovec){ vals + k * size, size };
			}
			r = mcs_put_batch(c, n, kp, iov, NULL, res, NULL);
			if (r < 0) {
				fprintf(stderr, "ha-fill: put batch: %s\n", mcs_strerror(r));
				return 1;
			}
			failed += n - (size_t)r;
		}
		double s = (double)(mcs_now_ns() - t0) / 1e9;
		printf("filled %llu objects of %zu bytes in %.1f s (%.0f/s), %llu failed\n", (unsigned long long)count,
		       size, s, (double)count / s, (unsigned long long)failed);
		free(vals);
		mcs_client_unref(c);
		return failed ? 1 : 0;
	}
	uint64_t sample = arg, right = 0, missing = 0, wrong = 0;
	uint8_t got[4096], want[4096];
	for (uint64_t s = 0; s < sample; s++) {
		uint64_t i = count * s / (sample ? sample : 1);
		snprintf(keys[0], sizeof(keys[0]), "%s-%llu", prefix, (unsigned long long)i);
		ssize_t g = mcs_get(c, keys[0], got, sizeof(got));
		if (g < 0) {
			missing++;
			continue;
		}
		fill(want, (size_t)g, keys[0]);
		if (memcmp(got, want, (size_t)g) == 0)
			right++;
		else
			wrong++;
	}
	printf("right %llu missing %llu wrong %llu\n", (unsigned long long)right, (unsigned long long)missing,
	       (unsigned long long)wrong);
	mcs_client_unref(c);
	return right == sample ? 0 : 1;
}
