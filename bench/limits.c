/* SPDX-License-Identifier: MIT */
/* The limits the benchmarks compare against (see limits.h). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/limits.h"
#include "common/util.h"

void *bench_alloc(size_t n)
{
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

int bench_cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

double bench_memcpy_gbps(size_t size, size_t span, int rounds)
{
	size = MCS_MIN(size, span);
	uint8_t *a = bench_alloc(span), *b = bench_alloc(span);
	if (!a || !b || size == 0)
		return 0;
	memset(a, 1, span);
	memset(b, 2, span);
	size_t pieces = span / size;
	uint64_t t0 = mcs_now_ns(), bytes = 0;
	for (int round = 0; round < rounds; round++)
		for (size_t i = 0; i < pieces; i++) {
			memcpy(b + i * size, a + i * size, size);
			bytes += size;
		}
	uint64_t dt = mcs_now_ns() - t0;
	munmap(a, span);
	munmap(b, span);
	return (double)bytes / (double)dt;
}

double bench_tcp_gbps(size_t size, uint64_t total, size_t send_span, size_t recv_span)
{
	const size_t rd = 16u << 20;
	if (send_span < size)
		send_span = size;
	if (recv_span < rd)
		recv_span = rd;
	int ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
		return 0;
	pid_t pid = fork();
	if (pid == 0) {
		int c = accept(ls, NULL, NULL);
		uint8_t *b = bench_alloc(recv_span);
		uint64_t got = 0;
		size_t off = 0;
		while (c >= 0 && b && got < total) {
			ssize_t n = read(c, b + off, MCS_MIN(rd, recv_span - off));
			if (n <= 0)
				break;
			got += (uint64_t)n;
			off = off + (size_t)n < recv_span ? off + (size_t)n : 0;
		}
		_exit(got == total ? 0 : 1);
	}
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return 0;
	uint8_t *b = bench_alloc(send_span);
	if (!b)
		return 0;
	memset(b, 3, send_span);
	uint64_t t0 = mcs_now_ns(), sent = 0;
	size_t off = 0;
	while (sent < total) {
		ssize_t n = write(s, b + off, MCS_MIN((uint64_t)size, total - sent));
		if (n <= 0)
			break;
		sent += (uint64_t)n;
		off += (size_t)n;
		if (off + size > send_span)
			off = 0;
	}
	close(s);
	int st = 0;
	waitpid(pid, &st, 0);
	uint64_t dt = mcs_now_ns() - t0;
	close(ls);
	munmap(b, send_span);
	return (double)sent / (double)dt;
}
