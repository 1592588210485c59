/* SPDX-License-Identifier: MIT */
/*
 * HA mode (--enable-ha): masters elect a leader through etcd (ha.c). A
 * thread of its own campaigns: it holds an etcd lease and creates the
 * leader key (MCS_ETCD_LEADER_KEY) under it if absent; the master that
 * made it leads, with the key's create revision as its term, for as long
 * as it keeps the lease alive. It leads only until the lease may have
 * ended by its own clock (the time it sent the last keepalive that etcd
 * answered, plus the TTL): a master stopped or cut off past that answers
 * nothing as the leader, even before its thread runs again, so no two
 * masters ever serve at once. The others are standbys: they answer only
 * "who leads" (LEADER) and watch the key; one whose leader refuses
 * connections (its process is gone) twice in a row revokes its lease
 * rather than wait for it to run out.
 *
 * The loop thread reads what the election thread publishes (atomics and
 * a lock for the leader's address) and is never blocked by etcd.
 */
#ifndef MCS_MASTER_HA_H
#define MCS_MASTER_HA_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "common/etcd.h"
#include "common/worker.h"
#include "proto/proto.h"

struct master_ha {
	char endpoints[1024];
	char self[MCS_NAME_MAX + 1];   /* --rpc-address: what nodes dial */
	unsigned ttl_s;                /* the lease asked for (etcd may round up) */
	unsigned poll_ms;              /* a standby's look at the key */
	struct mcs_worker w;           /* the election thread */
	char leader[MCS_NAME_MAX + 1]; /* under w.lock: the leader's address, "" unknown */
	uint64_t leader_term;          /* under w.lock */
	/* published for the loop thread */
	uint64_t term;                 /* atomic: ours while we lead */
	uint64_t valid_until_ms;       /* atomic, monotonic: we lead until then (0: we do not) */
	uint64_t elections_won;        /* atomic */
};

/* Start campaigning. 0, or a negative errno (logged). */
int master_ha_start(struct master_ha *h, const char *endpoints, const char *self, unsigned ttl_s);
/* Whether this master may answer as the leader now (monotonic ms). */
bool master_ha_leading(struct master_ha *h, uint64_t now_ms, uint64_t *ret_term);
/* Who leads, as the election thread last saw it. */
void master_ha_leader(struct master_ha *h, char *out, size_t cap, uint64_t *ret_term);
/* Stop campaigning, and resign if leading (the key deleted, the lease
 * revoked: a standby takes over at once). */
void master_ha_stop(struct master_ha *h);

#endif
