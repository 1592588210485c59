/* SPDX-License-Identifier: MIT */
/*
 * Prometheus text metrics over HTTP for the daemons (--metrics-port).
 *
 * The page is served by a thread of its own, never by the io_uring loop:
 * the loop only parses mcstore frames, and scrapers are slow, rare peers
 * that must not hold a loop turn. The loop thread renders the whole page
 * from its own tables (which no other thread may read) on a timer and
 * publishes it with mcs_metrics_commit(); the metrics thread serves the
 * latest page, which it holds by a reference while it sends (the loop only
 * swaps a pointer under a mutex, and never waits for a scraper). A scrape
 * thus sees numbers at most one publishing interval old. Each scraper gets
 * a thread of its own, up to eight at once (a ninth is answered 503 at
 * once), doing blocking I/O with a 1 s socket timeout and 30 s in all:
 * GET /metrics (or /) answers 200 with
 * the page; GET /health answers 200 or 503 with the one line of health
 * the loop thread publishes beside the page (mcs_metrics_health()), and
 * 503 by itself when that line is older than MCS_METRICS_STALE_MS (a
 * stuck loop must not look healthy); HEAD the same without the body;
 * another path 404, another method 405.
 */
#ifndef MCS_METRICS_H
#define MCS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct mcs_metrics;

/* How often the daemons publish a new page. */
#define MCS_METRICS_PUBLISH_MS 100
/* /health says the loop is stuck when it has not published for this long
 * (a hundred publishing intervals: a loaded machine delays a timer, it
 * does not skip a hundred). */
#define MCS_METRICS_STALE_MS 10000

/* Listen on addr:port (port 0: a free one) and start the serving thread.
 * 0 or a negative errno (logged by the caller). */
int mcs_metrics_start(const char *addr, uint16_t port, struct mcs_metrics **ret);
/* Tests only: another bound than MCS_METRICS_STALE_MS. */
void mcs_metrics_set_stale_ms(struct mcs_metrics *m, uint64_t ms);
/* The port actually bound. */
uint16_t mcs_metrics_port(const struct mcs_metrics *m);
/* Stop the thread, close the socket, free (NULL ok). Returns NULL. */
struct mcs_metrics *mcs_metrics_stop(struct mcs_metrics *m);

/* Render a page: mcs_metrics_begin() gives a stream to write the page
 * into (with the helpers below), mcs_metrics_commit() publishes it. */
FILE *mcs_metrics_begin(struct mcs_metrics *m);
int mcs_metrics_commit(struct mcs_metrics *m, FILE *f);
/* Publish the health line (GET /health): ok answers 200, !ok 503; the
 * text (truncated to MCS_METRICS_HEALTH_MAX, a newline added) says why,
 * as "ok: ..." or the reason. Until the first call /health answers 503
 * "starting". Loop thread, with each page. */
#define MCS_METRICS_HEALTH_MAX 512
void mcs_metrics_health(struct mcs_metrics *m, bool ok, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* "# HELP name help\n# TYPE name type\n" */
void mcs_metric_head(FILE *f, const char *name, const char *type, const char *help);
/* A sample without labels, with its HELP and TYPE lines. */
void mcs_metric_u64(FILE *f, const char *name, const char *type, const char *help, uint64_t v);
/* A value for a label: label="value" with \, " and newline escaped. */
void mcs_metric_label(FILE *f, const char *label, const char *value, size_t len);

#endif
