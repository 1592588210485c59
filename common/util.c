/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <netdb.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "mcstore.h"

int mcs_parse_u64(const char *s, uint64_t max, uint64_t *ret)
{
	if (!s || !isdigit((unsigned char)*s))
		return -EINVAL;
	uint64_t v = 0;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s))
			return -EINVAL;
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -ERANGE;
		v = v * 10 + d;
	}
	if (v > max)
		return -ERANGE;
	*ret = v;
	return 0;
}

int mcs_parse_size_why(const char *s, uint64_t *ret, const char **ret_why)
{
	const char *why = NULL;
	int r = 0;
	uint64_t v = 0;
	unsigned shift = 0;

	if (!s || !isdigit((unsigned char)*s)) {
		why = "not a number";
		r = -EINVAL;
		goto out;
	}
	for (; isdigit((unsigned char)*s); s++) {
		unsigned d = (unsigned)(*s - '0');
		if (v > (UINT64_MAX - d) / 10) {
			why = "too large";
			r = -ERANGE;
			goto out;
		}
		v = v * 10 + d;
	}
	if (*s == '.' || *s == ',') {
		why = "not a whole number: use a smaller unit (1536M, not 1.5G)";
		r = -EINVAL;
		goto out;
	}
	switch (*s) {
	case '\0': break;
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	case 't': case 'T': shift = 40; break;
	default:
		why = "unknown suffix: K, M, G or T (powers of 1024)";
		r = -EINVAL;
		goto out;
	}
	if (*s) {
		s++;
		/* accept "16M", "16MB", "16MiB" */
		if (*s == 'i' || *s == 'I')
			s++;
		if (*s == 'b' || *s == 'B')
			s++;
		if (*s) {
			why = "unknown suffix: K, M, G or T (powers of 1024)";
			r = -EINVAL;
			goto out;
		}
	}
	if (shift && v > (UINT64_MAX >> shift)) {
		why = "too large";
		r = -ERANGE;
		goto out;
	}
	*ret = v << shift;
out:
	if (r < 0 && ret_why)
		*ret_why = why;
	return r;
}

int mcs_parse_size(const char *s, uint64_t *ret) { return mcs_parse_size_why(s, ret, NULL); }

void mcs_fmt_hostport(const char *host, uint16_t port, char *buf, size_t len)
{
	if (strchr(host, ':'))
		snprintf(buf, len, "[%s]:%u", host, (unsigned)port);
	else
		snprintf(buf, len, "%s:%u", host, (unsigned)port);
}

int mcs_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *ret_port)
{
	if (!s || !*s)
		return -EINVAL;
	const char *colon, *h = s;
	size_t hl;
	if (*s == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -EINVAL;
		h = s + 1;
		hl = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -EINVAL;
		hl = (size_t)(colon - s);
	}
	if (hl == 0 || hl >= hostlen)
		return -EINVAL;
	uint64_t port;
	int r = mcs_parse_u64(colon + 1, 65535, &port);
	if (r < 0 || port == 0)
		return -EINVAL;
	memcpy(host, h, hl);
	host[hl] = '\0';
	*ret_port = (uint16_t)port;
	return 0;
}

const char *mcs_fmt_size(uint64_t v, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	double d = (double)v;
	size_t u = 0;
	/* 1023.95 and up print as the next unit's 1.0, not as "1024.0" */
	while (d >= 1023.95 && u + 1 < MCS_ARRAY_SIZE(units)) {
		d /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)v);
	else
		snprintf(buf, len, "%.1f %s", d, units[u]);
	return buf;
}

int mcs_poll_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = events };
	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

int mcs_tcp_connect(const char *host, uint16_t port, int timeout_ms, const char **ret_why)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	int r = getaddrinfo(host, ps, &hints, &res);
	if (r) {
		if (r == EAI_SYSTEM)
			return -errno;
		if (ret_why)
			*ret_why = gai_strerror(r);
		return -EHOSTUNREACH;
	}
	int fd = -1;
	r = -ECONNREFUSED;
	for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			r = -errno;
			continue;
		}
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0 && errno != EINPROGRESS) {
			r = -errno;
			close(fd);
			fd = -1;
			continue;
		}
		int err = 0, pr = mcs_poll_fd(fd, POLLOUT, timeout_ms);
		socklen_t el = sizeof(err);
		if (pr < 0)
			err = pr == -ETIMEDOUT ? ETIMEDOUT : -pr;
		else if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) < 0)
			err = errno;
		if (err) {
			r = -err;
			close(fd);
			fd = -1;
		}
	}
	freeaddrinfo(res);
	if (fd < 0)
		return r;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

int mcs_tcp_listen(const char *addr, uint16_t port, int backlog, uint16_t *ret_port, const char **ret_why)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res;
	char ps[8];
	snprintf(ps, sizeof(ps), "%u", port);
	int r = getaddrinfo(addr, ps, &hints, &res);
	if (r) {
		if (ret_why)
			*ret_why = gai_strerror(r);
		return -EINVAL;
	}
	int fd = -1, err = EADDRNOTAVAIL;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, backlog) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0)
		return -err;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (ret_port && getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		*ret_port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
							 : ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

void mcs_peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?", port[8] = "?";
	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == 0)
		getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), port, sizeof(port),
			    NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(buf, len, "%s:%s", host, port);
}

bool mcs_fd_is_loopback(int fd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0)
		return false;
	if (ss.ss_family == AF_INET)
		return (ntohl(((struct sockaddr_in *)&ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
		return IN6_IS_ADDR_LOOPBACK(a) || (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return ss.ss_family == AF_UNIX;
}

static bool env_is(const char *name, const char *value)
{
	const char *e = getenv(name);
	return e && strcmp(e, value) == 0;
}

void mcs_client_opts_env(struct mcs_client_opts *o)
{
	uint64_t us;
	if (env_is("MCSTORE_PREFAULT", "1"))
		o->flags |= MCS_CLIENT_PREFAULT;
	if (env_is("MCSTORE_DIRECT_MASTER", "0"))
		o->flags |= MCS_CLIENT_VIA_DAEMON_META;
	if (env_is("MCSTORE_DIRECT_DATA", "0"))
		o->flags |= MCS_CLIENT_VIA_DAEMON_DATA;
	const char *e = getenv("MCSTORE_BUSY_POLL_US");
	if (e && mcs_parse_u64(e, 1000000, &us) == 0)
		o->busy_poll_us = (unsigned)us;
}
