/* SPDX-License-Identifier: MIT */
/*
 * The standalone driver of the fuzz targets (see fuzz.h), for builds
 * without libFuzzer: replays every file of the target's corpus
 * (tests/fuzz/corpus/<target>/ under $MCS_SRCDIR, or the directory given),
 * then runs COUNT pseudo-random mutations of them, and says so in TAP.
 *
 *   fuzz-X-standalone [COUNT [CORPUS-DIR]]
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/fuzz/fuzz.h"

struct seed {
	uint8_t *p;
	size_t n;
};

static uint64_t rng_state = 0x66757a7au;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static size_t rng_below(size_t n) { return n ? (size_t)(rng_next() % n) : 0; }

static int load(const char *path, struct seed *s)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return -errno;
	size_t cap = 4096;
	s->p = malloc(cap);
	s->n = 0;
	size_t r;
	while (s->p && (r = fread(s->p + s->n, 1, cap - s->n, f)) > 0) {
		s->n += r;
		if (s->n == cap)
			s->p = realloc(s->p, cap *= 2);
	}
	fclose(f);
	return s->p ? 0 : -ENOMEM;
}

static int cmp_names(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Every regular file of dir, in name order (runs are reproducible). */
static size_t load_corpus(const char *dir, struct seed **ret)
{
	DIR *d = opendir(dir);
	if (!d) {
		printf("Bail out! no corpus at %s: %s\n", dir, strerror(errno));
		exit(1);
	}
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.') {
			names = realloc(names, (n + 1) * sizeof(*names));
			FUZZ_ASSERT(names && (names[n] = strdup(e->d_name)));
			n++;
		}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_names);
	struct seed *seeds = calloc(n ? n : 1, sizeof(*seeds));
	FUZZ_ASSERT(seeds);
	for (size_t i = 0; i < n; i++) {
		char path[4096 + 512];
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (load(path, &seeds[i]) < 0) {
			printf("Bail out! cannot read %s\n", path);
			exit(1);
		}
		free(names[i]);
	}
	free(names);
	*ret = seeds;
	return n;
}

/* An exact-size copy, as libFuzzer gives, so that overreads are caught. */
static void run_one(const uint8_t *p, size_t n)
{
	uint8_t *c = malloc(n ? n : 1);
	FUZZ_ASSERT(c);
	if (n)
		memcpy(c, p, n);
	LLVMFuzzerTestOneInput(c, n);
	free(c);
}

static const uint64_t interesting[] = { 0, 1, 2, 16, 255, 256, 4095, 4096, 65535, 65536, 0x7fffffff,
					0xffffffff, 0x8000000000000000ull, 0xffffffffffffffffull,
					0xfffffffffffff000ull };

/* A mutation of seed s (or of two spliced) into buf of cap bytes. */
static size_t mutate(const struct seed *seeds, size_t n_seeds, uint8_t *buf, size_t cap)
{
	const struct seed *s = &seeds[rng_below(n_seeds)];
	size_t n = s->n < cap ? s->n : cap;
	memcpy(buf, s->p, n);
	unsigned k = 1 + (unsigned)rng_below(4);
	while (k--) {
		size_t at = rng_below(n + 1);
		switch (rng_below(7)) {
		case 0:
			if (at < n)
				buf[at] ^= (uint8_t)(1u << rng_below(8));
			break;
		case 1:
			if (at < n)
				buf[at] = (uint8_t)rng_next();
			break;
		case 2: {
			uint64_t v = interesting[rng_below(sizeof(interesting) / sizeof(interesting[0]))];
			size_t w = (size_t)1 << rng_below(4);
			for (size_t j = 0; j < w && at + j < n; j++)
				buf[at + j] = (uint8_t)(v >> (8 * j));
			break;
		}
		case 3:
			n = at;
			break;
		case 4:
			if (n < cap) {
				memmove(buf + at + 1, buf + at, n - at);
				buf[at] = (uint8_t)rng_next();
				n++;
			}
			break;
		case 5:
			if (at < n) {
				memmove(buf + at, buf + at + 1, n - at - 1);
				n--;
			}
			break;
		default: {
			/* the tail of another seed from here on */
			const struct seed *o = &seeds[rng_below(n_seeds)];
			size_t from = rng_below(o->n + 1), take = o->n - from;
			if (take > cap - at)
				take = cap - at;
			memcpy(buf + at, o->p + from, take);
			n = at + take;
			break;
		}
		}
	}
	return n;
}

int main(int argc, char **argv)
{
	uint64_t count = 20000;
	char dir[4096];
	const char *src = getenv("MCS_SRCDIR");
	if (argc > 1)
		count = strtoull(argv[1], NULL, 10);
	if (argc > 2)
		snprintf(dir, sizeof(dir), "%s", argv[2]);
	else
		snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", src ? src : ".", fuzz_target_name);
	/* the plan first: a crash then shows as a missing result */
	printf("1..2\n");
	fflush(stdout);
	LLVMFuzzerInitialize(&argc, &argv);
	struct seed *seeds;
	size_t n_seeds = load_corpus(dir, &seeds);
	for (size_t i = 0; i < n_seeds; i++)
		run_one(seeds[i].p, seeds[i].n);
	printf("ok 1 - %s: the %zu inputs of its corpus\n", fuzz_target_name, n_seeds);
	fflush(stdout);
	static uint8_t buf[1 << 16];
	for (uint64_t i = 0; i < count && n_seeds; i++)
		run_one(buf, mutate(seeds, n_seeds, buf, sizeof(buf)));
	printf("ok 2 - %s: %" PRIu64 " mutations of it\n", fuzz_target_name, n_seeds ? count : 0);
	for (size_t i = 0; i < n_seeds; i++)
		free(seeds[i].p);
	free(seeds);
	return 0;
}
