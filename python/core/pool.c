/* SPDX-License-Identifier: MIT */
/*
 * The pool of libmcstore handles of a mcstore._core.Client (see core.h):
 * a call takes an idle handle, or opens one more up to max_handles, or
 * waits for one; the pool is guarded by the GIL, the wait by a mutex.
 */
#include "python/core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the pool ------------------------------------------------------------ */

/* Handles inherited over fork() belong to the parent: forget them (unref
 * in the child frees only its memory). */
static void pool_after_fork(CoreClient *c)
{
	if (c->pid == getpid())
		return;
	for (size_t i = 0; i < c->n_idle; i++)
		mcs_client_unref(c->idle[i]);
	c->n_idle = 0;
	c->n_open = 0;
	c->pid = getpid();
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->returned, NULL);
}

/* A handle for one call: 0 and *ret, or a negative status. */
int core_pool_take(CoreClient *c, struct mcs_client **ret)
{
	pool_after_fork(c);
	for (;;) {
		if (c->closed)
			return -ESHUTDOWN;
		if (c->n_idle) {
			*ret = c->idle[--c->n_idle];
			return 0;
		}
		if (c->n_open < c->max_handles) {
			struct mcs_client *h = NULL;
			int r;
			c->n_open++;
			Py_BEGIN_ALLOW_THREADS
			r = mcs_client_new(&c->opts, &h);
			Py_END_ALLOW_THREADS
			if (r < 0) {
				c->n_open--;
				return r;
			}
			*ret = h;
			return 0;
		}
		/* every handle is busy in another thread: wait for one */
		pthread_mutex_lock(&c->lock);
		unsigned long seen = c->returns;
		Py_BEGIN_ALLOW_THREADS
		while (c->returns == seen)
			pthread_cond_wait(&c->returned, &c->lock);
		pthread_mutex_unlock(&c->lock);
		Py_END_ALLOW_THREADS
	}
}

/* Give h back after a call that answered status. A handle whose link to
 * the daemon is out of step answers -ENOTCONN from then on: closed here,
 * the next call opens a fresh one. */
void core_pool_give(CoreClient *c, struct mcs_client *h, long status)
{
	if (c->closed || status == -ENOTCONN || status == -ECHILD || status == -EPIPE || status == -ECONNRESET) {
		c->n_open--;
		Py_BEGIN_ALLOW_THREADS
		mcs_client_unref(h);
		Py_END_ALLOW_THREADS
	} else {
		c->idle[c->n_idle++] = h;
	}
	pthread_mutex_lock(&c->lock);
	c->returns++;
	pthread_cond_broadcast(&c->returned);
	pthread_mutex_unlock(&c->lock);
}

void core_pool_close(CoreClient *c)
{
	c->closed = true;
	while (c->n_idle) {
		struct mcs_client *h = c->idle[--c->n_idle];
		c->n_open--;
		Py_BEGIN_ALLOW_THREADS
		mcs_client_unref(h);
		Py_END_ALLOW_THREADS
	}
	/* handles in use are closed when their calls give them back */
	pthread_mutex_lock(&c->lock);
	c->returns++;
	pthread_cond_broadcast(&c->returned);
	pthread_mutex_unlock(&c->lock);
}


/* ---- batches ------------------------------------------------------------ */

/* Run a batch call over n keys in slices of MCS_BATCH_MAX: fn(h, base, len,
 * arg) fills res[base..base+len) and returns a negative status when the
 * slice could not be carried out at all (then every key of it gets it). */
void core_run_slices(CoreClient *c, size_t n, slice_fn fn, void *arg, long *res)
{
	for (size_t base = 0; base < n; base += MCS_BATCH_MAX) {
		size_t len = n - base < MCS_BATCH_MAX ? n - base : MCS_BATCH_MAX;
		long r;
		CALL(c, r, r = fn(h, base, len, arg));
		if (r < 0)
			for (size_t i = 0; i < len; i++)
				res[base + i] = r;
	}
}
