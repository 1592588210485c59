/* SPDX-License-Identifier: MIT */
/*
 * mcs_leader(): which master leads, asked without a daemon (mcstorectl
 * leader, the Python layer's Client.leader()). With etcd://, the election
 * key (MCS_ETCD_LEADER_KEY) names the leader and its term, and the leader
 * is asked LEADER to confirm it: a key whose master died stays until its
 * lease runs out, and a stopped leader's key may be gone while it still
 * thinks it leads. With HOST:PORT, the master is asked LEADER: it answers
 * for itself, or, a standby, names the leader, who is asked in turn.
 * Each master is reached as a client (the cluster key's holder may speak
 * for any role), through the link handshake when a key is given.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/auth.h"
#include "common/endpoints.h"
#include "common/etcd.h"
#include "common/util.h"
#include "libmcstore/internal.h"
#include "proto/proto.h"

struct ask {
	const struct mcs_keys *keys;
	unsigned timeout_ms;
};

/* LEADER of the master at addr: 0 with its answer (the leader it names
 * into leader), or an error: of the connection, of the handshake
 * (-EACCES, -EOPNOTSUPP), -EPROTO. */
static int ask_master(const struct ask *a, const char *addr, struct mcs_leader_resp *ret, char *leader, size_t cap)
{
	char host[MCS_NAME_MAX + 1];
	uint16_t port;
	if (mcs_parse_hostport(addr, host, sizeof(host), &port) < 0)
		return -EINVAL;
	int fd = mcs_tcp_connect(host, port, (int)a->timeout_ms, NULL);
	if (fd < 0)
		return fd;
	int r = mcs_auth_connect(a->keys, MCS_ROLE_CLIENT, fd, a->timeout_ms);
	uint8_t body[512], none[1];
	size_t len = 0;
	struct mcs_buf b = { .p = none, .cap = sizeof(none) }; /* LEADER has no body */
	if (r == 0)
		r = mcs_call_blocking(fd, MCS_OP_LEADER, &b, body, sizeof(body), &len, mcs_now_ms() + a->timeout_ms);
	close(fd);
	/* a master with a key closes on a frame before the handshake: its
	 * -EACCES, or the reset that follows it */
	if (r < 0)
		return r;
	if (mcs_dec_leader_resp(body, len, ret) < 0 || ret->leader.len >= cap)
		return -EPROTO;
	memcpy(leader, ret->leader.p, ret->leader.len);
	leader[ret->leader.len] = '\0';
	ret->leader = mcs_str_c(leader);
	return 0;
}

/* Whether an error means the key (or its absence) was refused: then no
 * other master would take it either, and the caller is told. */
static bool key_refused(int r) { return r == -EACCES || r == -EOPNOTSUPP; }

/* HOST:PORT: the master, then the leaders named, a few hops at most. */
static int by_master(const struct ask *a, const char *addr, struct mcs_leader_info *info)
{
	char at[MCS_ADDR_MAX], named[MCS_ADDR_MAX];
	snprintf(at, sizeof(at), "%s", addr);
	for (int hop = 0; hop < 4; hop++) {
		struct mcs_leader_resp ans;
		int r = ask_master(a, at, &ans, named, sizeof(named));
		if (r < 0 && (hop == 0 || key_refused(r)))
			return r;
		if (r < 0)
			return 0; /* the leader a standby named does not answer */
		/* named by the first master asked, or by the standby that named
		 * the one who confirms */
		if (hop == 0 || !(ans.flags & MCS_LEADER_SELF))
			snprintf(info->named_by, sizeof(info->named_by), "master %s", at);
		snprintf(info->leader, sizeof(info->leader), "%s", (ans.flags & MCS_LEADER_SELF) ? at : named);
		info->term = ans.term;
		if (ans.flags & MCS_LEADER_SELF) {
			info->confirmed = 1;
			return 0;
		}
		if (!named[0] || strcmp(named, at) == 0)
			return 0; /* a standby that knows no leader */
		snprintf(at, sizeof(at), "%s", named);
	}
	return 0;
}

/* etcd://: the election key, then its master's own word. */
static int by_etcd(const struct ask *a, const char *endpoints, struct mcs_leader_info *info)
{
	struct mcs_etcd *e;
	int r = mcs_etcd_new(endpoints, a->timeout_ms, &e);
	if (r < 0)
		return r;
	struct mcs_etcd_kv kv;
	r = mcs_etcd_get(e, MCS_ETCD_LEADER_KEY, &kv);
	if (r == 0)
		snprintf(info->named_by, sizeof(info->named_by), "etcd %s", mcs_etcd_member(e));
	mcs_etcd_free(e);
	if (r < 0 || !kv.found)
		return r;
	snprintf(info->leader, sizeof(info->leader), "%s", kv.value);
	info->term = (uint64_t)kv.create_rev;
	struct mcs_leader_resp ans;
	char named[MCS_ADDR_MAX];
	r = ask_master(a, info->leader, &ans, named, sizeof(named));
	if (key_refused(r))
		return r;
	/* it leads in etcd's term; else it is gone, or stopped and not yet
	 * told (a failover under way): no leader now */
	info->confirmed = r == 0 && (ans.flags & MCS_LEADER_SELF) && ans.term == info->term;
	return 0;
}

MCS_EXPORT int mcs_leader(const char *master, const struct mcs_leader_opts *opts, struct mcs_leader_info **ret)
{
	struct mcs_leader_opts o = { .size = sizeof(o) };
	if (opts)
		memcpy(&o, opts, MCS_MIN(opts->size, sizeof(o)));
	if (!ret || !mcs_master_addr_valid(master, NULL, 0))
		return -EINVAL;
	struct mcs_keys keys = { 0 };
	if (o.key_file && *o.key_file) {
		const char *why;
		int r = mcs_keys_load(o.key_file, &keys, &why);
		if (r < 0)
			return r == -EINVAL ? -EBADMSG : r; /* -EINVAL is a bad address's */
	}
	struct ask a = { .keys = &keys, .timeout_ms = o.timeout_ms ? o.timeout_ms : 2000 };
	struct mcs_leader_info *info = calloc(1, sizeof(*info));
	int r = info ? 0 : -ENOMEM;
	if (r == 0)
		r = mcs_master_addr_is_etcd(master) ? by_etcd(&a, master, info) : by_master(&a, master, info);
	mcs_keys_wipe(&keys);
	if (r < 0) {
		free(info);
		return r;
	}
	*ret = info;
	return 0;
}

MCS_EXPORT struct mcs_leader_info *mcs_leader_info_free(struct mcs_leader_info *info)
{
	free(info);
	return NULL;
}
