/* SPDX-License-Identifier: MIT */
/*
 * A test client for t-direct-data.sh: puts and gets with a chosen request
 * timeout, reporting how long each call took.
 *
 *   data-client SOCKET TIMEOUT_MS put KEY FILE [LOCATION...]
 *       store FILE under KEY, one replica per LOCATION (segment name)
 *   data-client SOCKET TIMEOUT_MS get KEY OUT [PIECES]
 *       get KEY into PIECES (at most 4096) uneven iovecs (default 1) that
 *       add up to a byte more than its size, write it to OUT
 *   data-client SOCKET TIMEOUT_MS loop SECONDS KEY FILE [KEY FILE...]
 *       get every KEY over and over on one handle, comparing with its
 *       FILE, until SIGUSR1 (the get under way ends first) or for SECONDS
 *       at most; prints one line per get ("KEY ok" or "KEY error
 *       STATUS"), and "KEY WRONG" for bytes that differ from FILE
 *
 * Every call prints "ms=N" (its duration) on stderr. Exit status: 0 ok,
 * 3 an mcstore error, 4 wrong bytes, 2 usage or local trouble.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>

#include "common/util.h"
#include "mcstore.h"

static volatile sig_atomic_t stop_loop;

static void on_usr1(int signo) { stop_loop = 1; }

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint8_t *slurp(const char *path, size_t *ret_len)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	size_t cap = 1 << 20, n = 0;
	uint8_t *p = malloc(cap);
	for (;;) {
		if (!p)
			break;
		n += fread(p + n, 1, cap - n, f);
		if (n < cap)
			break;
		uint8_t *q = realloc(p, cap * 2);
		if (!q) {
			free(p);
			p = NULL;
			break;
		}
		p = q;
		cap *= 2;
	}
	fclose(f);
	*ret_len = n;
	return p;
}

static int usage(void)
{
	fprintf(stderr, "usage: data-client SOCKET TIMEOUT_MS put KEY FILE [LOCATION...]\n"
			"       data-client SOCKET TIMEOUT_MS get KEY OUT [PIECES]\n"
			"       data-client SOCKET TIMEOUT_MS loop SECONDS KEY FILE [KEY FILE...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	if (argc < 5)
		return usage();
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = argv[1],
				     .timeout_ms = (unsigned)strtoul(argv[2], NULL, 10) };
	mcs_client_opts_env(&o);
	struct mcs_client *c;
	int r = mcs_client_new(&o, &c);
	if (r < 0) {
		fprintf(stderr, "data-client: connect: %s\n", mcs_strerror(r));
		return 3;
	}
	const char *cmd = argv[3];
	int st = 0;
	if (!strcmp(cmd, "put") && argc >= 6) {
		size_t len;
		uint8_t *v = slurp(argv[5], &len);
		if (!v)
			return 2;
		struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = argc > 6 ? (uint32_t)(argc - 6) : 1,
						    .locations = (const char *const *)argv + 6,
						    .n_locations = argc > 6 ? (size_t)(argc - 6) : 0 };
		uint64_t t0 = now_ms();
		r = mcs_put(c, argv[4], v, len, &cfg, NULL);
		fprintf(stderr, "ms=%llu\n", (unsigned long long)(now_ms() - t0));
		if (r < 0) {
			fprintf(stderr, "data-client: put %s: %s\n", argv[4], mcs_strerror(r));
			st = 3;
		}
		free(v);
	} else if (!strcmp(cmd, "get") && argc >= 6) {
		int pieces = argc > 6 ? atoi(argv[6]) : 1;
		if (pieces < 1 || pieces > 4096)
			return usage();
		/* the object's size, then as many uneven pieces over it (the
		 * last one a byte larger than needed) */
		uint64_t size = 0;
		int n0 = mcs_get_size(c, argv[4], &size);
		if (n0 < 0) {
			fprintf(stderr, "data-client: get %s: %s\n", argv[4], mcs_strerror(n0));
			return 3;
		}
		size_t cap = size + 1;
		uint8_t *buf = malloc(cap);
		struct iovec *iov = calloc((size_t)pieces, sizeof(*iov));
		if (!buf || !iov)
			return 2;
		size_t off = 0;
		for (int i = 0; i < pieces; i++) {
			size_t len = (cap / (size_t)pieces / 2) * (size_t)(i % 3 + 1) / 2 + 1;
			if (i == pieces - 1 || len > cap - off)
				len = cap - off;
			iov[i] = (struct iovec){ buf + off, len };
			off += len;
		}
		uint64_t t0 = now_ms();
		ssize_t n = mcs_getv(c, argv[4], iov, pieces);
		fprintf(stderr, "ms=%llu\n", (unsigned long long)(now_ms() - t0));
		if (n < 0) {
			fprintf(stderr, "data-client: get %s: %s\n", argv[4], mcs_strerror((int)n));
			st = 3;
		} else {
			FILE *f = fopen(argv[5], "wb");
			if (!f || fwrite(buf, 1, (size_t)n, f) != (size_t)n || fclose(f) != 0)
				st = 2;
		}
		free(buf);
		free(iov);
	} else if (!strcmp(cmd, "loop") && argc >= 7 && (argc - 5) % 2 == 0) {
		int nk = (argc - 5) / 2;
		uint8_t *want[16];
		size_t wlen[16];
		if (nk > 16)
			return usage();
		for (int i = 0; i < nk; i++)
			if (!(want[i] = slurp(argv[6 + 2 * i], &wlen[i])))
				return 2;
		size_t cap = 0;
		for (int i = 0; i < nk; i++)
			cap = wlen[i] > cap ? wlen[i] : cap;
		uint8_t *buf = malloc(cap + 1);
		if (!buf)
			return 2;
		/* SA_RESTART: a get under way is not cut short by the signal */
		struct sigaction act = { .sa_handler = on_usr1, .sa_flags = SA_RESTART };
		sigaction(SIGUSR1, &act, NULL);
		uint64_t end = now_ms() + strtoull(argv[4], NULL, 10) * 1000, worst = 0;
		while (now_ms() < end && !stop_loop) {
			for (int i = 0; i < nk; i++) {
				const char *key = argv[5 + 2 * i];
				memset(buf, 0xa5, wlen[i] < 4096 ? wlen[i] : 4096);
				uint64_t t0 = now_ms();
				ssize_t n = mcs_get(c, key, buf, cap + 1);
				uint64_t ms = now_ms() - t0;
				worst = ms > worst ? ms : worst;
				if (n < 0) {
					printf("%s error %s\n", key, mcs_strerror((int)n));
					if (st == 0)
						st = 3;
				} else if ((size_t)n != wlen[i] || memcmp(buf, want[i], wlen[i])) {
					printf("%s WRONG\n", key);
					st = 4;
				} else {
					printf("%s ok\n", key);
				}
				fflush(stdout);
			}
		}
		fprintf(stderr, "ms=%llu\n", (unsigned long long)worst);
		free(buf);
		for (int i = 0; i < nk; i++)
			free(want[i]);
	} else {
		mcs_client_unref(c);
		return usage();
	}
	mcs_client_unref(c);
	return st;
}
