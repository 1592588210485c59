/* SPDX-License-Identifier: MIT */
/*
 * The leading master, as etcd says (discover.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/etcd.h"
#include "common/log.h"
#include "daemon/discover.h"

#define LOOK_MS 250

static void *discover_thread(void *arg)
{
	struct node_discover *d = arg;
	struct mcs_etcd *e;
	if (mcs_etcd_new(d->endpoints, 1000, &e) < 0)
		return NULL;
	int last_err = 0;
	char last[256] = "";
	do {
		struct mcs_etcd_kv kv;
		int r = mcs_etcd_get(e, MCS_ETCD_LEADER_KEY, &kv);
		if (r < 0 && r != last_err)
			log_warning_errno(r, "etcd at %s: cannot read who leads: %m; retrying", d->endpoints);
		last_err = r;
		if (r < 0)
			continue;
		pthread_mutex_lock(&d->w.lock);
		snprintf(d->leader, sizeof(d->leader), "%s", kv.found ? kv.value : "");
		d->term = kv.found ? (uint64_t)kv.create_rev : 0;
		pthread_mutex_unlock(&d->w.lock);
		if (strcmp(last, kv.found ? kv.value : "") != 0) {
			if (kv.found)
				log_info("etcd says the master at %s leads (term %lld)", kv.value, (long long)kv.create_rev);
			else
				log_info("etcd says no master leads now");
			snprintf(last, sizeof(last), "%s", kv.found ? kv.value : "");
		}
	} while (mcs_worker_nap(&d->w, LOOK_MS));
	mcs_etcd_free(e);
	return NULL;
}

int node_discover_start(struct node_discover *d, const char *endpoints)
{
	snprintf(d->endpoints, sizeof(d->endpoints), "%s", endpoints);
	if (!mcs_etcd_endpoints_valid(endpoints))
		return log_error_errno(EINVAL, "invalid --master \"%s\": expected etcd://HOST:PORT;HOST:PORT", endpoints);
	int r = mcs_worker_start(&d->w, discover_thread, d);
	if (r < 0)
		return log_error_errno(r, "cannot start the etcd discovery thread: %m");
	return 0;
}

bool node_discover_leader(struct node_discover *d, char *out, size_t cap, uint64_t *ret_term)
{
	pthread_mutex_lock(&d->w.lock);
	snprintf(out, cap, "%s", d->leader);
	*ret_term = d->term;
	pthread_mutex_unlock(&d->w.lock);
	return out[0] != 0;
}

void node_discover_stop(struct node_discover *d)
{
	mcs_worker_stop(&d->w);
}
