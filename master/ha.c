/* SPDX-License-Identifier: MIT */
/*
 * The election of the masters through etcd (ha.h): one thread per master.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/etcd.h"
#include "common/log.h"
#include "common/util.h"
#include "master/ha.h"

#define ETCD_TIMEOUT_MS 1000

static uint64_t load(const uint64_t *p) { return __atomic_load_n(p, __ATOMIC_ACQUIRE); }
static void store(uint64_t *p, uint64_t v) { __atomic_store_n(p, v, __ATOMIC_RELEASE); }

bool master_ha_leading(struct master_ha *h, uint64_t now_ms, uint64_t *ret_term)
{
	uint64_t until = load(&h->valid_until_ms);
	if (ret_term)
		*ret_term = load(&h->term);
	return until && now_ms < until;
}

void master_ha_leader(struct master_ha *h, char *out, size_t cap, uint64_t *ret_term)
{
	pthread_mutex_lock(&h->w.lock);
	snprintf(out, cap, "%s", h->leader);
	*ret_term = h->leader_term;
	pthread_mutex_unlock(&h->w.lock);
}

static void set_leader(struct master_ha *h, const char *addr, uint64_t term)
{
	pthread_mutex_lock(&h->w.lock);
	snprintf(h->leader, sizeof(h->leader), "%s", addr);
	h->leader_term = term;
	pthread_mutex_unlock(&h->w.lock);
}

/* Whether nothing listens at addr (the connection refused): the process
 * that led is gone. A timeout or any other failure says nothing. */
static bool refuses(const char *addr)
{
	char host[MCS_NAME_MAX + 1];
	uint16_t port;
	if (mcs_parse_hostport(addr, host, sizeof(host), &port) < 0)
		return false;
	int fd = mcs_tcp_connect(host, port, 300, NULL);
	if (fd >= 0) {
		close(fd);
		return false;
	}
	return fd == -ECONNREFUSED;
}

struct campaign {
	struct mcs_etcd *e;
	int64_t lease;
	unsigned ttl;              /* granted */
	uint64_t lease_valid_ms;   /* our lease lives at least until then */
	int64_t refused_rev;       /* the leader key whose address refused us */
	unsigned refused;          /* how many times in a row */
	int last_err;              /* the last etcd failure said (0: none) */
};

static void etcd_failed(struct master_ha *h, struct campaign *c, int r, const char *what)
{
	if (r != c->last_err)
		log_warning_errno(r, "etcd at %s: cannot %s: %m; retrying", h->endpoints, what);
	c->last_err = r;
}

/* Our lease renewed (or a new one): its validity from t0, when the request
 * went. false when etcd could not be reached. */
static bool renew(struct master_ha *h, struct campaign *c)
{
	uint64_t t0 = mcs_now_ms();
	int r = -ENOENT;
	if (c->lease)
		r = mcs_etcd_lease_keepalive(c->e, c->lease, &c->ttl);
	if (r == -ENOENT) {
		c->lease = 0;
		r = mcs_etcd_lease_grant(c->e, h->ttl_s, &c->lease, &c->ttl);
	}
	if (r < 0) {
		etcd_failed(h, c, r, "keep the lease alive");
		return false;
	}
	c->lease_valid_ms = t0 + (uint64_t)c->ttl * 1000;
	if (c->last_err)
		log_info("etcd at %s answers again", mcs_etcd_member(c->e));
	c->last_err = 0;
	return true;
}

/* Lead for as long as the lease lives: renew it every third of its TTL,
 * and check the key is still ours. Returns when we no longer lead. */
static void lead(struct master_ha *h, struct campaign *c, int64_t rev)
{
	store(&h->term, (uint64_t)rev);
	store(&h->valid_until_ms, c->lease_valid_ms);
	__atomic_add_fetch(&h->elections_won, 1, __ATOMIC_RELEASE);
	set_leader(h, h->self, (uint64_t)rev);
	log_notice("elected leader through etcd at %s: term %lld, lease of %u s", mcs_etcd_member(c->e),
		   (long long)rev, c->ttl);
	while (mcs_worker_nap(&h->w, MCS_MAX((uint64_t)c->ttl * 1000 / 3, (uint64_t)100))) {
		uint64_t now = mcs_now_ms();
		if (now >= c->lease_valid_ms)
			break; /* we could not renew in time: the lease may be gone */
		if (!renew(h, c))
			continue; /* try again soon; we lead until lease_valid_ms */
		struct mcs_etcd_kv kv;
		if (mcs_etcd_get(c->e, MCS_ETCD_LEADER_KEY, &kv) == 0 && (!kv.found || kv.lease != c->lease)) {
			log_warning("the leader key in etcd is no longer ours: stepping down");
			break;
		}
		store(&h->valid_until_ms, c->lease_valid_ms);
	}
	store(&h->valid_until_ms, 0);
	if (mcs_now_ms() >= c->lease_valid_ms)
		log_warning("the etcd lease could not be renewed in time: stepping down (term %lld)", (long long)rev);
}

static void *campaign_thread(void *arg)
{
	struct master_ha *h = arg;
	struct campaign c = { 0 };
	int r = mcs_etcd_new(h->endpoints, ETCD_TIMEOUT_MS, &c.e);
	if (r < 0) {
		log_error_errno(r, "cannot set up the etcd client: %m; this master stays a standby");
		return NULL;
	}
	int64_t seen_rev = -1;
	do {
		if (!renew(h, &c))
			continue;
		bool won = false;
		struct mcs_etcd_kv kv;
		if ((r = mcs_etcd_create(c.e, MCS_ETCD_LEADER_KEY, h->self, c.lease, &won, &kv)) < 0) {
			etcd_failed(h, &c, r, "campaign");
			continue;
		}
		if (won || (kv.found && kv.lease == c.lease)) {
			lead(h, &c, kv.create_rev);
			seen_rev = -1;
			continue;
		}
		if (!kv.found)
			continue; /* gone meanwhile: campaign again */
		if (kv.create_rev != seen_rev) {
			log_info("standby: the leader is %s (term %lld)", kv.value, (long long)kv.create_rev);
			seen_rev = kv.create_rev;
			c.refused = 0;
		}
		set_leader(h, kv.value, (uint64_t)kv.create_rev);
		/* a leader whose port refuses connections is gone: end its
		 * lease rather than wait out its TTL */
		if (strcmp(kv.value, h->self) != 0 && refuses(kv.value)) {
			if (c.refused_rev != kv.create_rev)
				c.refused = 0;
			c.refused_rev = kv.create_rev;
			if (++c.refused >= 2 && kv.lease) {
				log_notice("the leader at %s (term %lld) refuses connections: its process is gone, "
					   "revoking its lease", kv.value, (long long)kv.create_rev);
				mcs_etcd_lease_revoke(c.e, kv.lease);
				continue;
			}
		} else {
			c.refused = 0;
		}
	} while (mcs_worker_nap(&h->w, h->poll_ms));
	/* resign: a standby takes over without waiting for the lease */
	if (load(&h->valid_until_ms))
		store(&h->valid_until_ms, 0);
	if (c.lease) {
		struct mcs_etcd_kv kv;
		if (mcs_etcd_get(c.e, MCS_ETCD_LEADER_KEY, &kv) == 0 && kv.found && kv.lease == c.lease)
			mcs_etcd_delete_if(c.e, MCS_ETCD_LEADER_KEY, kv.create_rev);
		mcs_etcd_lease_revoke(c.e, c.lease);
	}
	mcs_etcd_free(c.e);
	return NULL;
}

int master_ha_start(struct master_ha *h, const char *endpoints, const char *self, unsigned ttl_s)
{
	snprintf(h->endpoints, sizeof(h->endpoints), "%s", endpoints);
	snprintf(h->self, sizeof(h->self), "%s", self);
	h->ttl_s = ttl_s ? ttl_s : 2;
	h->poll_ms = 200;
	int r;
	char why[512];
	if (mcs_etcd_members(endpoints, NULL, NULL, why, sizeof(why)) < 0)
		return log_error_errno(EINVAL, "invalid --etcd-endpoints \"%s\": %s (HOST:PORT;HOST:PORT...)", endpoints,
				       why);
	if ((r = mcs_worker_start(&h->w, campaign_thread, h)) < 0)
		return log_error_errno(r, "cannot start the election thread: %m");
	return 0;
}

void master_ha_stop(struct master_ha *h)
{
	mcs_worker_stop(&h->w);
}
