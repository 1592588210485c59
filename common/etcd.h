/* SPDX-License-Identifier: MIT */
/*
 * A small etcd v3 client over its JSON gateway (etcd 3.4's /v3/... over
 * HTTP, through libcurl and json-c): what an election of masters needs.
 * Leases (grant, keep alive, revoke), a key created only if absent (a
 * transaction on its create revision), a key read, a key deleted if it is
 * still the one created at a revision. Keys and values are text.
 *
 * Every call blocks for at most the timeout given at creation per member
 * tried: a thread's work, never an event loop's. A member that cannot be
 * reached is left for the next one of the list; a call fails only when
 * every member failed (-ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH) or one
 * answered something that is not etcd's (-EPROTO). One handle per thread.
 */
#ifndef MCS_COMMON_ETCD_H
#define MCS_COMMON_ETCD_H

#include <stdbool.h>
#include <stdint.h>

#include "common/endpoints.h"

/* The key the masters' election creates (master/ha.h), with the leader's
 * HOST:PORT as its value, which the nodes read (daemon/discover.h). */
#define MCS_ETCD_LEADER_KEY "mcstore/master/leader"
#define MCS_ETCD_VALUE_MAX 256

struct mcs_etcd;

/* endpoints: "HOST:PORT" members separated by ';' or ',' (an
 * "etcd://" prefix and "http://" before each are allowed; the grammar is
 * mcs_etcd_members'). 0, -EINVAL (none, or one that does not parse),
 * -ENOMEM. */
int mcs_etcd_new(const char *endpoints, unsigned timeout_ms, struct mcs_etcd **ret);
/* Whether endpoints parse as mcs_etcd_new takes them (no handle made). */
bool mcs_etcd_endpoints_valid(const char *endpoints);
void mcs_etcd_free(struct mcs_etcd *e);
/* The member the last call reached, "HOST:PORT", for logs. */
const char *mcs_etcd_member(const struct mcs_etcd *e);

/* A lease of ttl_s seconds; *ret_ttl is what etcd granted (it rounds
 * up to its minimum). */
int mcs_etcd_lease_grant(struct mcs_etcd *e, unsigned ttl_s, int64_t *ret_id, unsigned *ret_ttl);
/* Renew: 0 with the TTL granted again, or -ENOENT (the lease is gone). */
int mcs_etcd_lease_keepalive(struct mcs_etcd *e, int64_t id, unsigned *ret_ttl);
int mcs_etcd_lease_revoke(struct mcs_etcd *e, int64_t id);

struct mcs_etcd_kv {
	bool found;
	char value[MCS_ETCD_VALUE_MAX];
	int64_t create_rev;        /* the revision that created the key */
	int64_t lease;             /* 0: none */
};
/* Create key = value under lease unless the key exists. *ret_won: we made
 * it; *ret_kv: the key as it is now (ours, or the one that was there). */
int mcs_etcd_create(struct mcs_etcd *e, const char *key, const char *value, int64_t lease, bool *ret_won,
		    struct mcs_etcd_kv *ret_kv);
int mcs_etcd_get(struct mcs_etcd *e, const char *key, struct mcs_etcd_kv *ret_kv);
/* Delete key if it is still the one created at create_rev (a leader that
 * resigns); 0 whether or not it was. */
int mcs_etcd_delete_if(struct mcs_etcd *e, const char *key, int64_t create_rev);

#endif
