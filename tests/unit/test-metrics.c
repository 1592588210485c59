/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for the metrics endpoint (common/metrics.c), over a real
 * loopback socket: the page at /metrics and /, the health line at /health
 * (200 when ok, 503 otherwise, "starting" before the first one, and 503
 * once the publisher stops publishing), HEAD, queries, unknown paths and
 * methods.
 */
#include <check.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/metrics.h"

static struct mcs_metrics *m;

static void setup(void)
{
	ck_assert_int_eq(mcs_metrics_start("127.0.0.1", 0, &m), 0);
	ck_assert_uint_ne(mcs_metrics_port(m), 0);
}

static void teardown(void)
{
	m = mcs_metrics_stop(m);
}

/* Send req, read the whole answer (the server closes) into buf. */
static const char *ask(const char *req, char *buf, size_t len)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(fd, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(mcs_metrics_port(m)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	size_t have = 0;
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ck_assert_int_eq(poll(&p, 1, 10000), 1);
		ssize_t r = recv(fd, buf + have, len - 1 - have, 0);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		have += (size_t)r;
		ck_assert_uint_lt(have, len - 1);
	}
	buf[have] = 0;
	close(fd);
	return buf;
}

static const char *body_of(const char *answer)
{
	const char *b = strstr(answer, "\r\n\r\n");
	ck_assert_ptr_nonnull(b);
	return b + 4;
}

static void publish(const char *page)
{
	FILE *f = mcs_metrics_begin(m);
	ck_assert_ptr_nonnull(f);
	fputs(page, f);
	ck_assert_int_eq(mcs_metrics_commit(m, f), 0);
}

#define HTTP_GET(path) "GET " path " HTTP/1.0\r\nHost: x\r\n\r\n"

START_TEST(test_page)
{
	char buf[4096];
	publish("mcstore_x 1\n");
	const char *a = ask(HTTP_GET("/metrics"), buf, sizeof(buf));
	ck_assert_msg(strncmp(a, "HTTP/1.0 200 OK\r\n", 17) == 0, "%s", a);
	ck_assert_ptr_nonnull(strstr(a, "Content-Type: text/plain; version=0.0.4"));
	ck_assert_ptr_nonnull(strstr(a, "Content-Length: 12\r\n"));
	ck_assert_str_eq(body_of(a), "mcstore_x 1\n");
	ck_assert_str_eq(body_of(ask(HTTP_GET("/"), buf, sizeof(buf))), "mcstore_x 1\n");
	ck_assert_str_eq(body_of(ask(HTTP_GET("/metrics?x=1"), buf, sizeof(buf))), "mcstore_x 1\n");
	/* a bare request line (no version), as some probes send */
	ck_assert_str_eq(body_of(ask("GET /metrics\r\n\r\n", buf, sizeof(buf))), "mcstore_x 1\n");
	a = ask("HEAD /metrics HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	ck_assert_msg(strncmp(a, "HTTP/1.0 200 OK\r\n", 17) == 0, "%s", a);
	ck_assert_ptr_nonnull(strstr(a, "Content-Length: 12\r\n"));
	ck_assert_str_eq(body_of(a), "");
	publish("mcstore_x 2\n");
	ck_assert_str_eq(body_of(ask(HTTP_GET("/metrics"), buf, sizeof(buf))), "mcstore_x 2\n");
}
END_TEST

START_TEST(test_health)
{
	char buf[4096];
	const char *a = ask(HTTP_GET("/health"), buf, sizeof(buf));
	ck_assert_msg(strncmp(a, "HTTP/1.0 503 Service Unavailable\r\n", 34) == 0, "%s", a);
	ck_assert_str_eq(body_of(a), "starting\n");

	mcs_metrics_health(m, true, "ok: %d things", 3);
	a = ask(HTTP_GET("/health"), buf, sizeof(buf));
	ck_assert_msg(strncmp(a, "HTTP/1.0 200 OK\r\n", 17) == 0, "%s", a);
	ck_assert_ptr_nonnull(strstr(a, "Content-Type: text/plain; charset=utf-8\r\n"));
	ck_assert_ptr_nonnull(strstr(a, "Content-Length: 13\r\n"));
	ck_assert_str_eq(body_of(a), "ok: 3 things\n");
	ck_assert_str_eq(body_of(ask(HTTP_GET("/health?verbose"), buf, sizeof(buf))), "ok: 3 things\n");
	a = ask("HEAD /health HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	ck_assert_msg(strncmp(a, "HTTP/1.0 200 OK\r\n", 17) == 0, "%s", a);
	ck_assert_ptr_nonnull(strstr(a, "Content-Length: 13\r\n"));
	ck_assert_str_eq(body_of(a), "");

	/* one line, whatever the text holds */
	mcs_metrics_health(m, false, "master %s unreachable\nsecond line", "h:1");
	a = ask(HTTP_GET("/health"), buf, sizeof(buf));
	ck_assert_msg(strncmp(a, "HTTP/1.0 503 Service Unavailable\r\n", 34) == 0, "%s", a);
	ck_assert_str_eq(body_of(a), "master h:1 unreachable\n");
	a = ask("HEAD /health HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	ck_assert_msg(strncmp(a, "HTTP/1.0 503 ", 13) == 0, "%s", a);
	ck_assert_str_eq(body_of(a), "");

	/* the page and the health line are independent */
	publish("mcstore_y 1\n");
	ck_assert_str_eq(body_of(ask(HTTP_GET("/health"), buf, sizeof(buf))), "master h:1 unreachable\n");
}
END_TEST

START_TEST(test_health_long)
{
	char buf[4096], big[2000];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = 0;
	mcs_metrics_health(m, true, "ok: %s", big);
	const char *b = body_of(ask(HTTP_GET("/health"), buf, sizeof(buf)));
	ck_assert_uint_eq(strlen(b), MCS_METRICS_HEALTH_MAX); /* MAX - 1 characters and the newline */
	ck_assert_int_eq(b[strlen(b) - 1], '\n');
}
END_TEST

/* A publisher that stops (a stuck loop) no longer looks healthy. */
START_TEST(test_health_stale)
{
	char buf[4096];
	mcs_metrics_set_stale_ms(m, 200);
	mcs_metrics_health(m, true, "ok: fine");
	/* wait for the bound to pass, however loaded the machine: ask until
	 * the answer changes (it must, within the test's timeout) */
	const char *a;
	for (;;) {
		a = ask(HTTP_GET("/health"), buf, sizeof(buf));
		if (strncmp(a, "HTTP/1.0 200 ", 13) != 0)
			break;
		ck_assert_str_eq(body_of(a), "ok: fine\n");
		poll(NULL, 0, 20);
	}
	ck_assert_msg(strncmp(a, "HTTP/1.0 503 Service Unavailable\r\n", 34) == 0, "%s", a);
	const char *b = body_of(a);
	ck_assert_msg(strncmp(b, "event loop stalled: nothing published for ", 42) == 0, "%s", b);
	ck_assert_ptr_nonnull(strstr(b, " s (last: ok: fine)\n"));
	/* publishing again heals it */
	mcs_metrics_health(m, true, "ok: again");
	a = ask(HTTP_GET("/health"), buf, sizeof(buf));
	ck_assert_msg(strncmp(a, "HTTP/1.0 200 OK\r\n", 17) == 0, "%s", a);
	ck_assert_str_eq(body_of(a), "ok: again\n");
}
END_TEST

START_TEST(test_other)
{
	char buf[4096];
	mcs_metrics_health(m, true, "ok");
	static const char *const unknown[] = { "/nope", "/healthz", "/metricsx", "/health/x", "//" };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		char req[128];
		snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", unknown[i]);
		const char *a = ask(req, buf, sizeof(buf));
		ck_assert_msg(strncmp(a, "HTTP/1.0 404 Not Found\r\n", 24) == 0, "%s: %s", unknown[i], a);
		ck_assert_str_eq(body_of(a), "not found: try /metrics or /health\n");
	}
	const char *a = ask("HEAD /nope HTTP/1.0\r\n\r\n", buf, sizeof(buf));
	ck_assert_msg(strncmp(a, "HTTP/1.0 404 ", 13) == 0, "%s", a);
	ck_assert_str_eq(body_of(a), "");
	a = ask("POST /health HTTP/1.0\r\nContent-Length: 0\r\n\r\n", buf, sizeof(buf));
	ck_assert_msg(strncmp(a, "HTTP/1.0 405 Method Not Allowed\r\n", 33) == 0, "%s", a);
	a = ask("\r\n\r\n", buf, sizeof(buf));
	ck_assert_msg(strncmp(a, "HTTP/1.0 405 ", 13) == 0, "%s", a);
}
END_TEST


/* A scraper that reads nothing for now does not hold the publisher up:
 * with a page far larger than the socket buffers, the next commit and
 * health line go through while the first scraper's send is stuck, a
 * second scraper is served meanwhile, and the first one then reads its
 * whole page, unchanged. (Sending under the lock made the commit wait
 * for the send to time out, which cut the first page short.) */
START_TEST(test_slow_scraper)
{
	enum { BIG = 16 << 20 };
	char *page = malloc(BIG + 1);
	ck_assert_ptr_nonnull(page);
	for (size_t i = 0; i < BIG; i++)
		page[i] = (char)('a' + i % 23);
	page[BIG - 1] = '\n';
	page[BIG] = 0;
	publish(page);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(mcs_metrics_port(m)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	const char *req = HTTP_GET("/metrics");
	ck_assert_int_eq(send(fd, req, strlen(req), MSG_NOSIGNAL), (ssize_t)strlen(req));
	/* the first bytes arrive: the server is sending, and soon stuck */
	struct pollfd p = { .fd = fd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 10000), 1);
	publish("mcstore_next 2\n");
	mcs_metrics_health(m, true, "ok: meanwhile");
	char buf[4096];
	ck_assert_str_eq(body_of(ask(HTTP_GET("/metrics"), buf, sizeof(buf))), "mcstore_next 2\n");
	ck_assert_str_eq(body_of(ask(HTTP_GET("/health"), buf, sizeof(buf))), "ok: meanwhile\n");
	/* now read the first answer to its end: all of the first page */
	size_t cap = BIG + 4096, have = 0;
	char *got = malloc(cap);
	ck_assert_ptr_nonnull(got);
	for (;;) {
		ck_assert_int_eq(poll(&p, 1, 10000), 1);
		ssize_t r = recv(fd, got + have, cap - have, 0);
		ck_assert_int_ge(r, 0);
		if (r == 0)
			break;
		have += (size_t)r;
		ck_assert_uint_lt(have, cap);
	}
	close(fd);
	got[have] = 0;
	const char *body = strstr(got, "\r\n\r\n");
	ck_assert_ptr_nonnull(body);
	ck_assert_uint_eq(have - (size_t)(body + 4 - got), BIG);
	ck_assert(memcmp(body + 4, page, BIG) == 0);
	free(got);
	free(page);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("http");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_page);
	tcase_add_test(tc, test_health);
	tcase_add_test(tc, test_health_long);
	tcase_add_test(tc, test_health_stale);
	tcase_add_test(tc, test_other);
	tcase_add_test(tc, test_slow_scraper);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
