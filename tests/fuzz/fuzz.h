/* SPDX-License-Identifier: MIT */
/*
 * What the fuzz targets share (tests/fuzz/fuzz-*.c). Each target is one
 * LLVMFuzzerTestOneInput (and an LLVMFuzzerInitialize for what it sets up
 * once), built two ways:
 *
 *   - with clang -fsanitize=fuzzer,address,undefined: a libFuzzer binary,
 *     run by run-fuzz.sh for MCS_FUZZ_SECONDS from its seed corpus,
 *     tests/fuzz/corpus/<target>/ (configure finds clang and libFuzzer);
 *   - with standalone.c, by the normal build (gcc, and its sanitizers with
 *     --enable-sanitizers): a TAP test that replays every file of the
 *     corpus (the crashes found so far are kept there) and then a bounded
 *     number of pseudo-random mutations of them.
 *
 * A broken promise is a bug like a crash: FUZZ_ASSERT aborts, so that
 * libFuzzer keeps the input and the standalone run fails.
 */
#ifndef MCS_TESTS_FUZZ_H
#define MCS_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* The target's name: its corpus is tests/fuzz/corpus/<name>/. */
extern const char fuzz_target_name[];

#define FUZZ_ASSERT(cond)                                                           \
	do {                                                                        \
		if (__builtin_expect(!(cond), 0)) {                                 \
			fprintf(stderr, "%s:%d: %s failed\n", __FILE__, __LINE__, #cond); \
			abort();                                                    \
		}                                                                   \
	} while (0)

/* A reader of the fuzzer's bytes: past the end every value is 0. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

static inline uint8_t fuzz_u8(struct fuzz_in *in)
{
	if (!in->n)
		return 0;
	in->n--;
	return *in->p++;
}

static inline uint16_t fuzz_u16(struct fuzz_in *in)
{
	uint16_t v = fuzz_u8(in);
	return (uint16_t)(v | fuzz_u8(in) << 8);
}

static inline uint64_t fuzz_u64(struct fuzz_in *in)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v |= (uint64_t)fuzz_u8(in) << (8 * i);
	return v;
}

/* Up to n bytes (fewer at the end): how many, at *ret. */
static inline size_t fuzz_bytes(struct fuzz_in *in, size_t n, const uint8_t **ret)
{
	if (n > in->n)
		n = in->n;
	*ret = in->p;
	in->p += n;
	in->n -= n;
	return n;
}

/* A seed corpus file dir/name (the targets that build their seeds in
 * code write them when MCS_FUZZ_WRITE_SEEDS names a directory). */
static inline void fuzz_seed_write(const char *dir, const char *name, const void *p, size_t n)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	FUZZ_ASSERT(f && fwrite(p, 1, n, f) == n && fclose(f) == 0);
}

#endif
