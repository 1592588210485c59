/* SPDX-License-Identifier: MIT */
/*
 * The chaos harness's client (tests/chaos/chaos.sh).
 *
 *   chaos-client run SOCKET PREFIX SECONDS MAX_PUTS JOURNAL
 *       for SECONDS: put PREFIX-<i> (1 byte to 32 KiB, two replicas; at
 *       most MAX_PUTS of them, spread over the run), and get random keys of the journal back,
 *       checked byte for byte. Every acknowledged put is appended to
 *       JOURNAL ("KEY TIME" per line, TIME the wall clock's seconds
 *       when it was acknowledged) before the next operation. A failed call
 *       is counted by its status; a handle whose daemon went away is made
 *       again (an application would).
 *   chaos-client verify SOCKET SECONDS JOURNAL...
 *       every key of the journals must read back byte for byte; keys not
 *       found are tried again until SECONDS have passed (the cluster may
 *       still be taking them back), then counted lost.
 *
 * Bytes derive from the key alone, so any process checks any other's.
 * Each mode prints one "chaos: ..." line of counts; "wrong" counts reads
 * that returned bytes other than the key's, and must be 0.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "mcstore.h"
#include "tests/integration/keyed.h"

#define MAX_SIZE (32u << 10)
#define MAX_KINDS 32


static size_t key_size(const char *k) { return 1 + (size_t)(key_seed(k) % MAX_SIZE); }

static void fill(uint8_t *p, size_t n, uint64_t seed)
{
	uint64_t x = seed | 1;
	for (size_t i = 0; i < n; i++) {
		if ((i & 7) == 0) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		p[i] = (uint8_t)(x >> (8 * (i & 7)));
	}
}

/* failures by status */
static struct {
	int status;
	unsigned long n;
} kinds[MAX_KINDS];

static void count_error(int status)
{
	for (int i = 0; i < MAX_KINDS; i++) {
		if (kinds[i].n == 0 || kinds[i].status == status) {
			kinds[i].status = status;
			kinds[i].n++;
			return;
		}
	}
}

static void print_errors(void)
{
	printf(" errors:");
	bool any = false;
	for (int i = 0; i < MAX_KINDS && kinds[i].n; i++) {
		printf("%s %lu %s", any ? ";" : "", kinds[i].n, mcs_strerror(kinds[i].status));
		any = true;
	}
	printf("%s\n", any ? "" : " none");
}

/* The statuses of a handle whose daemon is gone: make a new one. */
static bool link_gone(int r)
{
	return r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN || r == -ECONNREFUSED || r == -EBADF ||
	       r == -ESHUTDOWN || r == -ECONNABORTED;
}

static struct mcs_client *connect_to(const char *sock, int *ret)
{
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = sock, .timeout_ms = 10000 };
	struct mcs_client *c = NULL;
	*ret = mcs_client_new(&o, &c);
	return *ret < 0 ? NULL : c;
}

struct keys {
	char **v;
	size_t n, cap;
};

static void keys_add(struct keys *k, const char *key)
{
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 1024;
		k->v = realloc(k->v, k->cap * sizeof(*k->v));
		if (!k->v)
			abort();
	}
	k->v[k->n++] = strdup(key);
}

static void keys_free(struct keys *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i]);
	free(k->v);
	*k = (struct keys){ 0 };
}

static void keys_load(struct keys *k, const char *path)
{
	FILE *f = fopen(path, "r");
	char line[256];
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, " \n")] = 0; /* the key; after it, when it was acknowledged */
		if (*line)
			keys_add(k, line);
	}
	fclose(f);
}

/* 1: right bytes, 0: not found (or not ended), -1: wrong bytes, else
 * the status of the failure. */
static int check(struct mcs_client *c, const char *key, uint8_t *expect, uint8_t *got)
{
	size_t want = key_size(key);
	ssize_t g = mcs_get(c, key, got, MAX_SIZE);
	if (g == -ENOENT || g == -EAGAIN)
		return 0;
	if (g < 0)
		return (int)g;
	fill(expect, want, key_seed(key));
	if ((size_t)g != want || memcmp(got, expect, want) != 0) {
		fprintf(stderr, "chaos-client: get %s: WRONG BYTES (%zd bytes, want %zu)\n", key, g, want);
		return -1;
	}
	return 1;
}

static int run(const char *sock, const char *prefix, int seconds, unsigned max_puts, const char *journal)
{
	FILE *j = fopen(journal, "a");
	uint8_t *buf = malloc(MAX_SIZE), *got = malloc(MAX_SIZE), *expect = malloc(MAX_SIZE);
	if (!j || !buf || !got || !expect)
		return 2;
	struct keys done = { 0 };
	unsigned long puts = 0, put_fail = 0, gets = 0, right = 0, missing = 0, wrong = 0, get_fail = 0, reconnects = 0;
	unsigned next = 0;
	uint64_t rng = key_seed(prefix);
	struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = 2 };
	uint64_t start = mcs_now_ms(), span = (uint64_t)(seconds > 0 ? seconds : 1) * 1000;
	int r;
	struct mcs_client *c = NULL;
	char key[128];
	while (mcs_now_ms() - start < span) {
		if (!c && !(c = connect_to(sock, &r))) {
			count_error(r);
			usleep(100000);
			continue;
		}
		/* the puts spread over the whole run, through every fault */
		if (next < max_puts && next <= (uint64_t)max_puts * (mcs_now_ms() - start) / span) {
			snprintf(key, sizeof(key), "%s-%u", prefix, next++);
			size_t n = key_size(key);
			fill(buf, n, key_seed(key));
			r = mcs_put(c, key, buf, n, &cfg, NULL);
			if (r == 0) {
				puts++;
				struct timespec now;
				clock_gettime(CLOCK_REALTIME, &now);
				fprintf(j, "%s %lld.%03ld\n", key, (long long)now.tv_sec, now.tv_nsec / 1000000);
				fflush(j);
				keys_add(&done, key);
			} else {
				put_fail++;
				count_error(r);
			}
		}
		for (int k = 0; k < 4 && done.n && r >= 0; k++) {
			rng = mix(rng + 1);
			const char *kk = done.v[rng % done.n];
			gets++;
			r = check(c, kk, expect, got);
			if (r == 1)
				right++;
			else if (r == 0)
				missing++; /* acknowledged, not found now: being taken back */
			else if (r == -1)
				wrong++;
			else {
				get_fail++;
				count_error(r);
			}
		}
		if (r < 0 && link_gone(r)) {
			mcs_client_unref(c);
			c = NULL;
			reconnects++;
		} else if (r < 0 && r != -1) {
			usleep(20000); /* a failover under way: do not spin */
		}
	}
	printf("chaos: %s: %lu puts acknowledged, %lu failed; %lu gets: %lu right, %lu not found for now, %lu wrong, "
	       "%lu failed; %lu new handles;",
	       prefix, puts, put_fail, gets, right, missing, wrong, get_fail, reconnects);
	print_errors();
	if (c)
		mcs_client_unref(c);
	fclose(j);
	keys_free(&done);
	free(buf);
	free(got);
	free(expect);
	return wrong ? 1 : 0;
}

static int verify(const char *sock, int seconds, int n_journals, char **journals)
{
	struct keys all = { 0 };
	for (int i = 0; i < n_journals; i++)
		keys_load(&all, journals[i]);
	uint8_t *got = malloc(MAX_SIZE), *expect = malloc(MAX_SIZE);
	bool *ok = calloc(all.n ? all.n : 1, sizeof(bool));
	if (!got || !expect || !ok)
		return 2;
	unsigned long right = 0, wrong = 0, left = all.n;
	time_t end = time(NULL) + seconds;
	struct mcs_client *c = NULL;
	int r;
	do {
		for (size_t i = 0; i < all.n; i++) {
			if (ok[i])
				continue;
			if (!c && !(c = connect_to(sock, &r))) {
				count_error(r);
				break;
			}
			r = check(c, all.v[i], expect, got);
			if (r == 1 || r == -1) {
				ok[i] = true; /* settled: right, or wrong for good */
				left--;
				if (r == 1)
					right++;
				else
					wrong++;
			} else if (r < 0) {
				count_error(r);
				if (link_gone(r)) {
					mcs_client_unref(c);
					c = NULL;
				}
			}
		}
		if (left)
			usleep(200000);
	} while (left && time(NULL) < end);
	for (size_t i = 0; i < all.n && left; i++)
		if (!ok[i])
			fprintf(stderr, "chaos-client: %s lost\n", all.v[i]);
	printf("chaos: verify: %zu acknowledged objects: %lu read back right, %lu lost, %lu wrong;", all.n, right, left,
	       wrong);
	print_errors();
	if (c)
		mcs_client_unref(c);
	keys_free(&all);
	free(got);
	free(expect);
	free(ok);
	return wrong || left ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc == 7 && strcmp(argv[1], "run") == 0)
		return run(argv[2], argv[3], atoi(argv[4]), (unsigned)atoi(argv[5]), argv[6]);
	if (argc >= 5 && strcmp(argv[1], "verify") == 0)
		return verify(argv[2], atoi(argv[3]), argc - 4, argv + 4);
	fprintf(stderr, "usage: chaos-client run SOCKET PREFIX SECONDS MAX_PUTS JOURNAL\n"
			"       chaos-client verify SOCKET SECONDS JOURNAL...\n");
	return 2;
}
