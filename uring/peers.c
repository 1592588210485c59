/* SPDX-License-Identifier: MIT */
/*
 * Connections per peer address and in all (see peers.h): a chained hash
 * of the addresses that have connections, each with its count; an address
 * leaves it with its last connection. Refusals are logged at most once a
 * second, with how many were refused in between, so that a peer opening
 * connections in a loop cannot flood the log either.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "common/log.h"
#include "common/util.h"
#include "uring/loop-internal.h"
#include "uring/peers.h"

#define REFUSE_LOG_NS 1000000000ull

struct mcs_peer_slot {
	struct mcs_peer_slot *next;     /* in its bucket */
	uint8_t addr[16];               /* IPv6, or IPv4 mapped into it */
	unsigned n;
};

static unsigned bucket_of(const uint8_t addr[16])
{
	uint64_t h = 1469598103934665603ull;    /* FNV-1a */
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 1099511628211ull;
	return (unsigned)(h % MCS_PEER_BUCKETS);
}

/* The peer's address as 16 bytes; false if fd is not a TCP socket. */
static bool peer_addr(int fd, uint8_t out[16], char *name, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
		memset(out, 0, 10);
		out[10] = out[11] = 0xff;
		memcpy(out + 12, &in->sin_addr, 4);
		inet_ntop(AF_INET, &in->sin_addr, name, (socklen_t)len);
		return true;
	}
	if (ss.ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
		memcpy(out, &in6->sin6_addr, 16);
		inet_ntop(AF_INET6, &in6->sin6_addr, name, (socklen_t)len);
		return true;
	}
	return false;
}

static void say_refused(struct mcs_loop *l, const char *who, const char *why, unsigned limit)
{
	uint64_t now = mcs_now_ns();
	if (l->refuse_log_ns && now - l->refuse_log_ns < REFUSE_LOG_NS) {
		l->refused_quiet++;
		return;
	}
	if (l->log)
		l->log(MCS_LOG_WARNING, "connection from %s refused: %s %u (%u more refused since the last such line)",
		       who, why, limit, l->refused_quiet);
	l->refuse_log_ns = now;
	l->refused_quiet = 0;
}

int mcs_peers_admit(struct mcs_loop *l, int fd, struct mcs_peer_slot **ret)
{
	uint8_t addr[16];
	char who[INET6_ADDRSTRLEN] = "?";
	*ret = NULL;
	if (!peer_addr(fd, addr, who, sizeof(who)))
		return 0;
	struct mcs_peer_slot **head = &l->peer_buckets[bucket_of(addr)], *p = *head;
	while (p && memcmp(p->addr, addr, 16) != 0)
		p = p->next;
	if (l->max_conns && l->n_peer_conns >= l->max_conns) {
		say_refused(l, who, "connections in all at the limit, max-connections", l->max_conns);
		return -EUSERS;
	}
	if (l->max_conns_per_peer && p && p->n >= l->max_conns_per_peer) {
		say_refused(l, who, "connections from that address at the limit, max-connections-per-peer",
			    l->max_conns_per_peer);
		return -EUSERS;
	}
	if (!p) {
		if (!(p = calloc(1, sizeof(*p))))
			return -ENOMEM;
		memcpy(p->addr, addr, 16);
		p->next = *head;
		*head = p;
	}
	p->n++;
	l->n_peer_conns++;
	*ret = p;
	return 0;
}

void mcs_peers_leave(struct mcs_loop *l, struct mcs_peer_slot *slot)
{
	if (!slot)
		return;
	l->n_peer_conns--;
	if (--slot->n > 0)
		return;
	struct mcs_peer_slot **pp = &l->peer_buckets[bucket_of(slot->addr)];
	while (*pp != slot)
		pp = &(*pp)->next;
	*pp = slot->next;
	free(slot);
}
