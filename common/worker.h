/* SPDX-License-Identifier: MIT */
/*
 * A thread that does blocking work beside an event loop (HA mode's etcd
 * calls: the election of masters, the nodes' look at who leads) and that
 * can be told to stop at any time, even in the middle of its naps.
 */
#ifndef MCS_COMMON_WORKER_H
#define MCS_COMMON_WORKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct mcs_worker {
	pthread_t thread;
	pthread_mutex_t lock;      /* also the owner's, for what it shares with the thread */
	pthread_cond_t wake;
	bool stop;                 /* under lock */
	bool running;
};

/* Run fn(arg) on a thread of its own. 0, or a negative errno. */
int mcs_worker_start(struct mcs_worker *w, void *(*fn)(void *), void *arg);
/* Sleep ms (monotonic), or less when told to stop: false once told. */
bool mcs_worker_nap(struct mcs_worker *w, uint64_t ms);
/* Tell the thread to stop and wait for it; nothing if it never started. */
void mcs_worker_stop(struct mcs_worker *w);

#endif
