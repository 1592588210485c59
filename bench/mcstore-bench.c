/* SPDX-License-Identifier: MIT */
/*
 * mcstore-bench: drives a running node through libmcstore and prints
 * numbers beside the machine's own limit, measured in the same run:
 * single-thread memcpy bandwidth with cold buffers (larger than any cache).
 *
 *   mcstore-bench [--socket PATH] [--size SIZE] [--count N] [--rounds R]
 *
 * Workloads: put (distinct keys), get into a caller buffer (copy + hash
 * check), get as a zero-copy view (hash check in place), and the same view
 * with MCS_VIEW_NOVERIFY (no hash: one round trip whatever the size), each
 * timed per operation for p50/p99. It judges nothing.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/limits.h"
#include "common/util.h"
#include "mcstore.h"

static void report(const char *name, uint64_t *lat, size_t n, size_t size, uint64_t total_ns, double limit)
{
	qsort(lat, n, sizeof(*lat), bench_cmp_u64);
	double gbps = (double)(n * size) / (double)total_ns;
	printf("%-11s %9zu %10.0f %8.2f %9.1f %9.1f %9.1f %7.0f%%\n", name, size, (double)n * 1e9 / (double)total_ns,
	       gbps, (double)lat[n / 2] / 1000.0, (double)lat[n * 99 / 100] / 1000.0,
	       (double)lat[n * 999 / 1000] / 1000.0, limit > 0 ? 100.0 * gbps / limit : 0.0);
	printf("BENCH op=%s size=%zu ops=%zu ops_per_s=%.0f gbps=%.3f p50_us=%.1f p99_us=%.1f p999_us=%.1f "
	       "limit_gbps=%.3f\n",
	       name, size, n, (double)n * 1e9 / (double)total_ns, gbps, (double)lat[n / 2] / 1000.0,
	       (double)lat[n * 99 / 100] / 1000.0, (double)lat[n * 999 / 1000] / 1000.0, limit);
}

/* Time a view and its release of each object of the round; 0, or -1 on
 * an error (a remote object, which has no view, ends the phase quietly). */
static int view_phase(struct mcs_client *cl, const char *name, unsigned flags, uint64_t round, uint64_t count,
		      uint64_t size, uint64_t *lat, double limit)
{
	char key[64];
	uint64_t t0 = mcs_now_ns();
	for (uint64_t i = 0; i < count; i++) {
		snprintf(key, sizeof(key), "bench-%llu-%llu", (unsigned long long)round, (unsigned long long)i);
		struct mcs_view *v;
		uint64_t s = mcs_now_ns();
		int r = mcs_get_view_flags(cl, key, flags, &v);
		if (r == 0)
			mcs_view_release(cl, v);
		lat[i] = mcs_now_ns() - s;
		if (r == MCS_E_NOT_LOCAL)
			return 0;
		if (r < 0) {
			fprintf(stderr, "mcstore-bench: %s %s: %s\n", name, key, mcs_strerror(r));
			return -1;
		}
	}
	report(name, lat, (size_t)count, (size_t)size, mcs_now_ns() - t0, limit);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option o[] = {
		{ "socket", required_argument, NULL, 'S' }, { "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },  { "rounds", required_argument, NULL, 'r' },
		{ "location", required_argument, NULL, 'L' }, { "shared-buffers", no_argument, NULL, 'B' },
		{ "tcp", no_argument, NULL, 'T' },
		{ "help", no_argument, NULL, 'h' },         { 0 },
	};
	const char *location = NULL;
	bool shared = false, tcp = false;
	const char *sock = NULL;
	uint64_t size = 1 << 20, count = 200, rounds = 3;
	int c;
	while ((c = getopt_long(argc, argv, "S:s:n:r:h", o, NULL)) != -1) {
		switch (c) {
		case 'S': sock = optarg; break;
		case 's':
			if (mcs_parse_size(optarg, &size) < 0 || size == 0) {
				fprintf(stderr, "mcstore-bench: invalid --size\n");
				return 2;
			}
			break;
		case 'n':
			if (mcs_parse_u64(optarg, 1000000, &count) < 0 || count == 0) {
				fprintf(stderr, "mcstore-bench: invalid --count\n");
				return 2;
			}
			break;
		case 'r':
			if (mcs_parse_u64(optarg, 1000, &rounds) < 0 || rounds == 0) {
				fprintf(stderr, "mcstore-bench: invalid --rounds\n");
				return 2;
			}
			break;
		case 'L': location = optarg; break;
		case 'B': shared = true; break;
		case 'T': tcp = true; break;
		case 'h':
			printf("Usage: mcstore-bench [--socket PATH] [--size SIZE] [--count N] [--rounds R]\n"
			       "                     [--location NODE] [--shared-buffers] [--tcp]\n"
			       "Put, get and zero-copy get (verified, then MCS_VIEW_NOVERIFY) COUNT objects\n"
			       "of SIZE bytes through the local node, R rounds, beside the cold memcpy\n"
			       "bandwidth of this machine.\n"
			       "  --location NODE   place the objects on NODE (remote puts and gets)\n"
			       "  --shared-buffers  put from and get into mcs_buffer_alloc() memory\n"
			       "  --tcp             also measure one loopback TCP stream between two processes\n");
			return 0;
		default: return 2;
		}
	}
	struct mcs_client_opts co = { .size = sizeof(co), .socket_path = sock };
	struct mcs_client *cl;
	int r = mcs_client_new(&co, &cl);
	if (r < 0) {
		fprintf(stderr, "mcstore-bench: cannot connect: %s\n", mcs_strerror(r));
		return 1;
	}
	double limit = bench_memcpy_gbps((size_t)size, 512u << 20, 4);
	printf("memcpy (cold, %llu B pieces, 1 thread): %.2f GB/s\n", (unsigned long long)size, limit);
	if (tcp) {
		double t = bench_tcp_gbps((size_t)size, 2ull << 30);
		printf("tcp (loopback, 1 stream, 2 processes, %llu B writes): %.2f GB/s\n", (unsigned long long)size, t);
		printf("BENCH op=tcp-stream size=%llu gbps=%.3f\n", (unsigned long long)size, t);
		if (location)
			limit = t; /* remote figures are judged against the network */
	}
	struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = 1 };
	if (location) {
		cfg.locations = &location;
		cfg.n_locations = 1;
	}
	printf("%-11s %9s %10s %8s %9s %9s %9s %8s\n", "op", "size", "ops/s", "GB/s", "p50 us", "p99 us", "p999 us",
	       location ? "limit" : "memcpy");

	/* sources spread over more than the cache so puts read cold memory */
	size_t nsrc = MCS_MAX((size_t)1, (size_t)((256u << 20) / size));
	uint8_t *src, *dst;
	if (shared) {
		void *a, *b;
		if ((r = mcs_buffer_alloc(cl, nsrc * size, &a)) < 0 || (r = mcs_buffer_alloc(cl, nsrc * size, &b)) < 0) {
			fprintf(stderr, "mcstore-bench: cannot allocate shared buffers: %s\n", mcs_strerror(r));
			return 1;
		}
		src = a;
		dst = b;
	} else {
		src = bench_alloc(nsrc * size);
		dst = bench_alloc(nsrc * size);
	}
	uint64_t *lat = calloc(count, sizeof(*lat));
	if (!src || !dst || !lat)
		return 1;
	for (size_t i = 0; i < nsrc * size; i++)
		src[i] = (uint8_t)(i * 131 + 7);
	char key[64];
	for (uint64_t round = 0; round < rounds; round++) {
		uint64_t t0 = mcs_now_ns();
		for (uint64_t i = 0; i < count; i++) {
			snprintf(key, sizeof(key), "bench-%llu-%llu", (unsigned long long)round, (unsigned long long)i);
			uint64_t s = mcs_now_ns();
			r = mcs_put(cl, key, src + (i % nsrc) * size, (size_t)size, &cfg);
			lat[i] = mcs_now_ns() - s;
			if (r < 0) {
				fprintf(stderr, "mcstore-bench: put %s: %s\n", key, mcs_strerror(r));
				return 1;
			}
		}
		report("put", lat, (size_t)count, (size_t)size, mcs_now_ns() - t0, limit);

		t0 = mcs_now_ns();
		for (uint64_t i = 0; i < count; i++) {
			snprintf(key, sizeof(key), "bench-%llu-%llu", (unsigned long long)round, (unsigned long long)i);
			uint64_t s = mcs_now_ns();
			ssize_t n = mcs_get(cl, key, dst + (i % nsrc) * size, (size_t)size, NULL);
			lat[i] = mcs_now_ns() - s;
			if (n != (ssize_t)size) {
				fprintf(stderr, "mcstore-bench: get %s: %s\n", key, mcs_strerror((int)n));
				return 1;
			}
		}
		report("get", lat, (size_t)count, (size_t)size, mcs_now_ns() - t0, limit);

		/* views exist only for local objects */
		if (view_phase(cl, "get-view", 0, round, count, size, lat, limit) < 0 ||
		    view_phase(cl, "get-view-nv", MCS_VIEW_NOVERIFY, round, count, size, lat, limit) < 0)
			return 1;

		for (uint64_t i = 0; i < count; i++) {
			snprintf(key, sizeof(key), "bench-%llu-%llu", (unsigned long long)round, (unsigned long long)i);
			mcs_remove(cl, key, MCS_REMOVE_FORCE);
		}
	}
	free(lat);
	mcs_client_free(cl);
	return 0;
}
