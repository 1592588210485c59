/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: the HTTP request parser of the metrics endpoint
 * (common/metrics.c). A real endpoint listens on 127.0.0.1 (a free port);
 * each input is sent as one scraper's request, then the write side is
 * shut. Beyond "no crash": every request gets one well-formed HTTP/1.0
 * answer of the statuses the endpoint knows, whose Content-Length is what
 * follows the head (nothing after a HEAD), and a request that is neither
 * GET nor HEAD gets 405.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/metrics.h"
#include "tests/fuzz/fuzz.h"

const char fuzz_target_name[] = "metrics";

static struct mcs_metrics *metrics;
static uint16_t port;

/* what the endpoint reads of a request at most */
#define REQ_MAX 2047

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	FUZZ_ASSERT(mcs_metrics_start("127.0.0.1", 0, &metrics) == 0);
	port = mcs_metrics_port(metrics);
	FILE *f = mcs_metrics_begin(metrics);
	FUZZ_ASSERT(f);
	mcs_metric_u64(f, "fuzz_total", "counter", "a sample", 42);
	FUZZ_ASSERT(mcs_metrics_commit(metrics, f) == 0);
	mcs_metrics_health(metrics, true, "ok: fuzzing");
	return 0;
}

static void send_all(int fd, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		FUZZ_ASSERT(w > 0);
		p += w;
		n -= (size_t)w;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > REQ_MAX)
		size = REQ_MAX;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_ASSERT(fd >= 0);
	struct timeval tv = { .tv_sec = 20 };
	FUZZ_ASSERT(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0);
	/* each scrape from another address of 127.0.0.0/8: the write side is
	 * shut first, so every connection leaves a TIME_WAIT here, and a
	 * million of them from one address would use up its ports */
	static uint32_t n_conn;
	struct sockaddr_in src = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(0x7f000000u | (2 + n_conn++ % 0xfffff0u)) };
	FUZZ_ASSERT(bind(fd, (struct sockaddr *)&src, sizeof(src)) == 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int c = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	/* a signal (libFuzzer's timer) cuts a blocking connect short: it goes
	 * on by itself, until it is writable */
	while (c < 0 && (errno == EINTR || errno == EALREADY)) {
		struct pollfd pf = { .fd = fd, .events = POLLOUT };
		(void)poll(&pf, 1, 20000);
		c = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
		if (c < 0 && errno == EISCONN)
			c = 0;
	}
	if (c < 0)
		fprintf(stderr, "fuzz-metrics: connect: %s\n", strerror(errno));
	FUZZ_ASSERT(c == 0);
	send_all(fd, data, size);
	FUZZ_ASSERT(shutdown(fd, SHUT_WR) == 0);
	static char ans[1 << 16];
	size_t have = 0;
	for (;;) {
		ssize_t r = recv(fd, ans + have, sizeof(ans) - 1 - have, 0);
		if (r < 0 && errno == EINTR)
			continue;
		FUZZ_ASSERT(r >= 0); /* a timeout is a hang */
		if (r == 0)
			break;
		have += (size_t)r;
		FUZZ_ASSERT(have < sizeof(ans) - 1);
	}
	close(fd);
	ans[have] = 0;
	const char *st = NULL;
	static const char *const known[] = { "200 OK", "404 Not Found", "405 Method Not Allowed",
					     "503 Service Unavailable" };
	FUZZ_ASSERT(strncmp(ans, "HTTP/1.0 ", 9) == 0);
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strncmp(ans + 9, known[i], strlen(known[i])) == 0)
			st = known[i];
	FUZZ_ASSERT(st);
	bool get = size >= 4 && memcmp(data, "GET ", 4) == 0, head = size >= 5 && memcmp(data, "HEAD ", 5) == 0;
	if (!get && !head)
		FUZZ_ASSERT(st == known[2]);
	const char *cl = strstr(ans, "\r\nContent-Length: "), *end = strstr(ans, "\r\n\r\n");
	FUZZ_ASSERT(cl && end && cl < end);
	unsigned long len = strtoul(cl + 18, NULL, 10);
	size_t body = have - (size_t)(end + 4 - ans);
	/* 405 has its body for HEAD too */
	FUZZ_ASSERT(body == (head && st != known[2] ? 0 : len));
	return 0;
}
