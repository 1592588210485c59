/* SPDX-License-Identifier: MIT */
/*
 * The metrics endpoint: a listening socket, a thread that accepts
 * scrapers and gives each a thread of its own (up to MAX_SCRAPERS at once),
 * and the latest page rendered by the loop thread. The page is reference
 * counted: a scraper takes a reference under the lock and sends without
 * it, so the loop's commit, which swaps the pointer under the same lock,
 * never waits for a slow scraper. See metrics.h for why this is a thread
 * and not part of the loop.
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"

/* A scraper sends for at most this long, whatever it reads meanwhile. */
#define SCRAPE_DEADLINE_MS 30000
#define MAX_SCRAPERS 8

struct page {
	unsigned refs;             /* under the lock */
	size_t len;
	char *data;
};

struct mcs_metrics {
	int listen_fd;
	int stop_fd;               /* eventfd: written once to stop the thread */
	uint16_t port;
	pthread_t thread;
	bool started;
	pthread_mutex_t lock;      /* guards page, health*, scrapers */
	pthread_cond_t idle;       /* scrapers went to 0 */
	struct page *page;
	int scraper_fds[MAX_SCRAPERS]; /* -1: free */
	unsigned scrapers;
	char health[MCS_METRICS_HEALTH_MAX]; /* "": not published yet */
	bool health_ok;
	uint64_t health_ms;        /* when it was published (monotonic) */
	uint64_t stale_ms;
	/* the stream being rendered (loop thread only) */
	char *draft;
	size_t draft_len;
};

/* Send all of p, until the connection's deadline (send waits at most a
 * second at a time, so the deadline is checked). */
static void write_all(int fd, const char *p, size_t n, uint64_t deadline_ms)
{
	while (n && mcs_now_ms() < deadline_ms) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void page_unref(struct mcs_metrics *m, struct page *pg)
{
	if (!pg)
		return;
	pthread_mutex_lock(&m->lock);
	bool last = --pg->refs == 0;
	pthread_mutex_unlock(&m->lock);
	if (last) {
		free(pg->data);
		free(pg);
	}
}

/* "HTTP/1.0 STATUS" with the headers; the body follows unless HEAD. */
static void answer_head(int fd, const char *status, const char *type, size_t len, uint64_t deadline_ms)
{
	char hdr[256];
	int n = snprintf(hdr, sizeof(hdr),
			 "HTTP/1.0 %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, type, len);
	write_all(fd, hdr, (size_t)n, deadline_ms);
}

/* Whether the request's path is want: the path ends at a space (then the
 * version), a query, or the end of a bare "GET /path" line. */
static bool path_is(const char *path, const char *want)
{
	size_t n = strlen(want);
	return strncmp(path, want, n) == 0 && strchr(" ?\r\n", path[n]);
}

static void serve_health(struct mcs_metrics *m, int fd, bool body, uint64_t dl)
{
	char text[MCS_METRICS_HEALTH_MAX + 128];
	bool ok;
	pthread_mutex_lock(&m->lock);
	uint64_t age = mcs_now_ms() - m->health_ms;
	if (!m->health[0]) {
		ok = false;
		snprintf(text, sizeof(text), "starting\n");
	} else if (age > m->stale_ms) {
		/* the loop that should republish every MCS_METRICS_PUBLISH_MS
		 * has not: whatever it said last is no longer true */
		ok = false;
		snprintf(text, sizeof(text), "event loop stalled: nothing published for %.1f s (last: %s)\n",
			 (double)age / 1000.0, m->health);
	} else {
		ok = m->health_ok;
		snprintf(text, sizeof(text), "%s\n", m->health);
	}
	pthread_mutex_unlock(&m->lock);
	size_t len = strlen(text);
	answer_head(fd, ok ? "200 OK" : "503 Service Unavailable", "text/plain; charset=utf-8", len, dl);
	if (body)
		write_all(fd, text, len, dl);
}

/* One scraper: read the request head (bounded, with a timeout), answer,
 * close. HTTP/1.0 semantics: the body ends when the connection does. */
static void serve_one(struct mcs_metrics *m, int fd)
{
	uint64_t dl = mcs_now_ms() + SCRAPE_DEADLINE_MS;
	struct timeval tv = { .tv_sec = 1 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	char req[2048];
	size_t have = 0;
	while (have < sizeof(req) - 1) {
		ssize_t r = recv(fd, req + have, sizeof(req) - 1 - have, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		have += (size_t)r;
		req[have] = 0;
		if (strstr(req, "\r\n\r\n") || strstr(req, "\n\n"))
			break;
	}
	req[have] = 0;
	bool get = strncmp(req, "GET ", 4) == 0, head = strncmp(req, "HEAD ", 5) == 0;
	const char *path = req + (get ? 4 : 5);
	if (!get && !head) {
		static const char na[] = "method not allowed: GET or HEAD\n";
		answer_head(fd, "405 Method Not Allowed", "text/plain", sizeof(na) - 1, dl);
		write_all(fd, na, sizeof(na) - 1, dl);
		return;
	}
	if (path_is(path, "/health")) {
		serve_health(m, fd, get, dl);
		return;
	}
	if (!path_is(path, "/metrics") && !path_is(path, "/")) {
		static const char nf[] = "not found: try /metrics or /health\n";
		answer_head(fd, "404 Not Found", "text/plain", sizeof(nf) - 1, dl);
		if (get)
			write_all(fd, nf, sizeof(nf) - 1, dl);
		return;
	}
	pthread_mutex_lock(&m->lock);
	struct page *pg = m->page;
	if (pg)
		pg->refs++;
	pthread_mutex_unlock(&m->lock);
	/* sent without the lock: a commit meanwhile publishes the next page
	 * and this one goes when its last scraper is done */
	answer_head(fd, "200 OK", "text/plain; version=0.0.4; charset=utf-8", pg ? pg->len : 0, dl);
	if (get && pg)
		write_all(fd, pg->data, pg->len, dl);
	page_unref(m, pg);
}

struct scrape {
	struct mcs_metrics *m;
	int fd;
	int slot;
};

static void *scrape_main(void *arg)
{
	struct scrape *sc = arg;
	struct mcs_metrics *m = sc->m;
	serve_one(m, sc->fd);
	shutdown(sc->fd, SHUT_WR);
	pthread_mutex_lock(&m->lock);
	m->scraper_fds[sc->slot] = -1;
	if (--m->scrapers == 0)
		pthread_cond_broadcast(&m->idle);
	pthread_mutex_unlock(&m->lock);
	close(sc->fd);
	free(sc);
	return NULL;
}

/* A thread for the scraper on fd, or, with MAX_SCRAPERS busy already (or
 * no thread to be had), a 503 at once: one scraper never waits for
 * another. */
static void scrape_start(struct mcs_metrics *m, int fd)
{
	struct scrape *sc = malloc(sizeof(*sc));
	pthread_mutex_lock(&m->lock);
	int slot = -1;
	for (int i = 0; sc && i < MAX_SCRAPERS && slot < 0; i++)
		if (m->scraper_fds[i] < 0)
			slot = i;
	if (slot >= 0) {
		m->scraper_fds[slot] = fd;
		m->scrapers++;
	}
	pthread_mutex_unlock(&m->lock);
	pthread_t t;
	pthread_attr_t a;
	if (slot >= 0) {
		*sc = (struct scrape){ m, fd, slot };
		pthread_attr_init(&a);
		pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
		int r = pthread_create(&t, &a, scrape_main, sc);
		pthread_attr_destroy(&a);
		if (r == 0)
			return;
		pthread_mutex_lock(&m->lock);
		m->scraper_fds[slot] = -1;
		if (--m->scrapers == 0)
			pthread_cond_broadcast(&m->idle);
		pthread_mutex_unlock(&m->lock);
	}
	free(sc);
	static const char busy[] = "HTTP/1.0 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
	(void)!send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
	shutdown(fd, SHUT_WR);
	close(fd);
}

static void *serve(void *arg)
{
	struct mcs_metrics *m = arg;
	for (;;) {
		struct pollfd p[2] = { { .fd = m->listen_fd, .events = POLLIN }, { .fd = m->stop_fd, .events = POLLIN } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[1].revents)
			break;
		if (!(p[0].revents & POLLIN))
			continue;
		int fd = accept4(m->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE)
				poll(NULL, 0, 100); /* pause instead of spinning */
			continue;
		}
		scrape_start(m, fd);
	}
	/* stopping: cut the scrapers short and wait for their threads */
	pthread_mutex_lock(&m->lock);
	for (int i = 0; i < MAX_SCRAPERS; i++)
		if (m->scraper_fds[i] >= 0)
			shutdown(m->scraper_fds[i], SHUT_RDWR);
	while (m->scrapers)
		pthread_cond_wait(&m->idle, &m->lock);
	pthread_mutex_unlock(&m->lock);
	return NULL;
}

int mcs_metrics_start(const char *addr, uint16_t port, struct mcs_metrics **ret)
{
	struct mcs_metrics *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->listen_fd = -1;
	m->stop_fd = -1;
	m->stale_ms = MCS_METRICS_STALE_MS;
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->idle, NULL);
	for (int i = 0; i < MAX_SCRAPERS; i++)
		m->scraper_fds[i] = -1;
	int r = mcs_tcp_listen(addr, port, 16, &m->port, NULL);
	if (r < 0) {
		mcs_metrics_stop(m);
		return r;
	}
	m->listen_fd = r;
	m->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (m->stop_fd < 0) {
		r = -errno;
		mcs_metrics_stop(m);
		return r;
	}
	/* The loop thread blocks signals it takes through signalfd; the
	 * metrics thread must not take them either. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	r = -pthread_create(&m->thread, NULL, serve, m);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r < 0) {
		mcs_metrics_stop(m);
		return r;
	}
	m->started = true;
	*ret = m;
	return 0;
}

uint16_t mcs_metrics_port(const struct mcs_metrics *m) { return m->port; }

void mcs_metrics_set_stale_ms(struct mcs_metrics *m, uint64_t ms)
{
	pthread_mutex_lock(&m->lock);
	m->stale_ms = ms;
	pthread_mutex_unlock(&m->lock);
}

struct mcs_metrics *mcs_metrics_stop(struct mcs_metrics *m)
{
	if (!m)
		return NULL;
	if (m->started) {
		uint64_t one = 1;
		if (write(m->stop_fd, &one, sizeof(one)) == sizeof(one))
			pthread_join(m->thread, NULL);
		else
			pthread_cancel(m->thread);
	}
	if (m->listen_fd >= 0)
		close(m->listen_fd);
	if (m->stop_fd >= 0)
		close(m->stop_fd);
	if (m->page) {
		free(m->page->data);
		free(m->page);
	}
	pthread_cond_destroy(&m->idle);
	pthread_mutex_destroy(&m->lock);
	free(m);
	return NULL;
}

FILE *mcs_metrics_begin(struct mcs_metrics *m)
{
	m->draft = NULL;
	m->draft_len = 0;
	return open_memstream(&m->draft, &m->draft_len);
}

int mcs_metrics_commit(struct mcs_metrics *m, FILE *f)
{
	if (!f)
		return -ENOMEM;
	bool bad = ferror(f);
	if (fclose(f) != 0 || bad) {
		free(m->draft);
		m->draft = NULL;
		return -ENOMEM;
	}
	struct page *pg = malloc(sizeof(*pg));
	if (!pg) {
		free(m->draft);
		m->draft = NULL;
		return -ENOMEM;
	}
	*pg = (struct page){ .refs = 1, .len = m->draft_len, .data = TAKE_PTR(m->draft) };
	pthread_mutex_lock(&m->lock);
	struct page *old = m->page;
	m->page = pg;
	pthread_mutex_unlock(&m->lock);
	page_unref(m, old);
	return 0;
}

void mcs_metrics_health(struct mcs_metrics *m, bool ok, const char *fmt, ...)
{
	char text[MCS_METRICS_HEALTH_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	/* one line: the answer is "text\n" */
	text[strcspn(text, "\r\n")] = 0;
	pthread_mutex_lock(&m->lock);
	memcpy(m->health, text, sizeof(text));
	m->health_ok = ok;
	m->health_ms = mcs_now_ms();
	pthread_mutex_unlock(&m->lock);
}

void mcs_metric_head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void mcs_metric_u64(FILE *f, const char *name, const char *type, const char *help, uint64_t v)
{
	mcs_metric_head(f, name, type, help);
	fprintf(f, "%s %llu\n", name, (unsigned long long)v);
}

void mcs_metric_label(FILE *f, const char *label, const char *value, size_t len)
{
	fprintf(f, "%s=\"", label);
	for (size_t i = 0; i < len; i++) {
		char c = value[i];
		if (c == '\\' || c == '"')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else
			fputc(c, f);
	}
	fputc('"', f);
}
