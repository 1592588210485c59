/* SPDX-License-Identifier: MIT */
/*
 * The addresses of masters and of etcd members (endpoints.h).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "common/endpoints.h"
#include "common/util.h"

const char *mcs_hostport_why(const char *s)
{
	char host[256];
	uint16_t port;
	if (s && mcs_parse_hostport(s, host, sizeof(host), &port) == 0)
		return NULL;
	if (!s || !*s)
		return "empty: HOST:PORT, e.g. 10.0.0.1:50051";
	if (!strchr(s, ':') || (s[0] == '[' && !strstr(s, "]:")))
		return "no port: HOST:PORT, e.g. 10.0.0.1:50051 or [::1]:50051";
	if (s[0] == ':' || strncmp(s, "[]:", 3) == 0)
		return "no host: HOST:PORT, e.g. 10.0.0.1:50051";
	return "HOST:PORT with a port 1..65535 and a host of at most 255 bytes";
}

/* -EINVAL, with "etcd member 'PART': reason" (the part cut at 300 bytes)
 * in why; part NULL: the reason alone. */
static int bad(char *why, size_t whylen, const char *part, size_t partlen, const char *reason)
{
	if (why && whylen && part)
		snprintf(why, whylen, "etcd member '%.*s': %s", (int)MCS_MIN(partlen, (size_t)300), part, reason);
	else if (why && whylen)
		snprintf(why, whylen, "%s", reason);
	return -EINVAL;
}

int mcs_etcd_members(const char *list, char (*member)[MCS_MEMBER_MAX], unsigned *ret_n, char *why, size_t whylen)
{
	unsigned n = 0;
	if (mcs_master_addr_is_etcd(list))
		list += 7;
	if (!list || !*list)
		return bad(why, whylen, NULL, 0, "no etcd member: etcd://HOST:PORT;HOST:PORT");
	for (const char *p = list;;) {
		size_t l = strcspn(p, ";,");
		const char *m = p;
		size_t ml = l;
		if (ml > 7 && strncmp(m, "http://", 7) == 0) {
			m += 7;
			ml -= 7;
		}
		char one[MCS_MEMBER_MAX];
		if (n == MCS_ETCD_MAX_ENDPOINTS)
			return bad(why, whylen, p, l, "more than 16 members");
		if (ml == 0)
			return bad(why, whylen, p, l, "empty (members are separated by one ';' or ',')");
		if (ml >= sizeof(one))
			return bad(why, whylen, m, 40, "longer than 271 bytes");
		memcpy(one, m, ml);
		one[ml] = '\0';
		const char *r = mcs_hostport_why(one);
		if (r)
			return bad(why, whylen, p, l, r);
		if (member)
			memcpy(member[n], one, ml + 1);
		n++;
		p += l;
		if (!*p || !*++p)
			break; /* a separator may end the list */
	}
	if (ret_n)
		*ret_n = n;
	return 0;
}

bool mcs_master_addr_is_etcd(const char *s) { return s && strncmp(s, "etcd://", 7) == 0; }

bool mcs_master_addr_valid(const char *s, char *why, size_t whylen)
{
	if (mcs_master_addr_is_etcd(s))
		return mcs_etcd_members(s, NULL, NULL, why, whylen) == 0;
	/* "http://h:1" would split as host "http://h", port 1 */
	const char *scheme = s ? strstr(s, "://") : NULL;
	const char *r = scheme ? "" : mcs_hostport_why(s);
	if (r && why && whylen) {
		if (scheme)
			snprintf(why, whylen, "scheme '%.*s' unknown: HOST:PORT, or etcd://HOST:PORT;HOST:PORT",
				 (int)MCS_MIN((size_t)(scheme - s), (size_t)40), s);
		else
			snprintf(why, whylen, "%s", r);
	}
	return r == NULL;
}
