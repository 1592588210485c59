/* SPDX-License-Identifier: MIT */
/*
 * --master etcd://HOST:PORT;HOST:PORT: the node finds the leading master
 * in etcd (the key the masters' election writes, master/ha.h), from a
 * thread of its own that looks every 250 ms, so that the event loop never
 * waits for etcd. The master link reads the latest address it saw.
 */
#ifndef MCS_DAEMON_DISCOVER_H
#define MCS_DAEMON_DISCOVER_H

#include <stdbool.h>
#include <stdint.h>

#include "common/worker.h"

struct node_discover {
	char endpoints[1024];
	struct mcs_worker w;       /* the thread that looks */
	char leader[256];          /* under w.lock: HOST:PORT, "" while none */
	uint64_t term;             /* under w.lock */
};

/* Start looking. 0, or -EINVAL (endpoints that do not parse: logged). */
int node_discover_start(struct node_discover *d, const char *endpoints);
/* The leader's address as last seen: true and out set, or false. */
bool node_discover_leader(struct node_discover *d, char *out, size_t cap, uint64_t *ret_term);
void node_discover_stop(struct node_discover *d);

#endif
