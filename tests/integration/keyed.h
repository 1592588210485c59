/* SPDX-License-Identifier: MIT */
/*
 * For the test clients that check each other's objects without sharing
 * state (stress-client, chaos-client): a value's bytes and size derive
 * from its key alone, through these mixers.
 */
#ifndef MCS_TESTS_KEYED_H
#define MCS_TESTS_KEYED_H

#include <stdint.h>

/* splitmix64's finaliser */
static inline uint64_t mix(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* FNV-1a of the key, mixed */
static inline uint64_t key_seed(const char *k)
{
	uint64_t h = 1469598103934665603ull;
	for (; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ull;
	return mix(h);
}

#endif
