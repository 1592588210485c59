/* SPDX-License-Identifier: MIT */
/* A stoppable thread beside an event loop (worker.h). */
#include <errno.h>
#include <time.h>

#include "common/worker.h"

int mcs_worker_start(struct mcs_worker *w, void *(*fn)(void *), void *arg)
{
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&w->wake, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&w->lock, NULL);
	w->stop = false;
	int r = pthread_create(&w->thread, NULL, fn, arg);
	if (r)
		return -r;
	w->running = true;
	return 0;
}

bool mcs_worker_nap(struct mcs_worker *w, uint64_t ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += (time_t)(ms / 1000);
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&w->lock);
	while (!w->stop && pthread_cond_timedwait(&w->wake, &w->lock, &ts) == 0)
		;
	bool go_on = !w->stop;
	pthread_mutex_unlock(&w->lock);
	return go_on;
}

void mcs_worker_stop(struct mcs_worker *w)
{
	if (!w->running)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->wake);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	w->running = false;
}
