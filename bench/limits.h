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
/* One TCP stream between two processes over loopback: the parent sends
 * `total` bytes in `size` writes, the child reads them in reads of up to
 * 16 MiB. Hot (send_span 0): the parent resends one buffer of `size` and
 * the child reads into one 16 MiB buffer, both in cache. Cold: the parent
 * walks a send_span buffer and the child a recv_span one, as a server
 * sends from memory it has not touched lately and a client reads into its
 * own ring of buffers. */
double bench_tcp_gbps(size_t size, uint64_t total, size_t send_span, size_t recv_span);

#endif
