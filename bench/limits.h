/* SPDX-License-Identifier: MIT */
/* What the benchmarks print beside their figures: the machine's own limits,
 * measured in the same run, and the small helpers they share. */
#ifndef MCS_BENCH_LIMITS_H
#define MCS_BENCH_LIMITS_H

#include <stddef.h>
#include <stdint.h>

/* Anonymous memory, populated at once (so page faults stay out of timings). */
void *bench_alloc(size_t n);
/* qsort comparison of uint64_t, for percentiles. */
int bench_cmp_u64(const void *a, const void *b);
/* Single-thread memcpy with cold buffers: 2 x span bytes walked in `size`
 * pieces, `rounds` times, so no piece is in cache when it is copied. */
double bench_memcpy_gbps(size_t size, size_t span, int rounds);
/* One TCP stream between two processes over loopback: the child reads into
 * a 16 MiB buffer, the parent sends `total` bytes in `size` writes. */
double bench_tcp_gbps(size_t size, uint64_t total);

#endif
