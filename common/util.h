/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every part of mcstore: scope cleanup, time, sizes. */
#ifndef MCS_UTIL_H
#define MCS_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MCS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MCS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define MCS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define MCS_ALIGN_UP(x, a) (((x) + ((a)-1)) & ~((__typeof__(x))(a)-1))
#define MCS_UNUSED __attribute__((unused))
#define mcs_likely(x) __builtin_expect(!!(x), 1)
#define mcs_unlikely(x) __builtin_expect(!!(x), 0)

#define _cleanup_(f) __attribute__((cleanup(f)))

/* mcstore's words for a status (0 or a negated errno): "no such key" for
 * -ENOENT, the system's strerror for errnos mcstore gives no meaning of its
 * own.  libmcstore exports it to applications as mcs_strerror(). */
const char *mcs_status_text(int status);

static inline void mcs_freep(void *p) { free(*(void **)p); }
static inline void mcs_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_free_ _cleanup_(mcs_freep)
#define _cleanup_close_ _cleanup_(mcs_closep)

/* Hand ownership out of a _cleanup_ scope. */
#define TAKE_PTR(p) ({ __typeof__(p) _t = (p); (p) = NULL; _t; })
#define TAKE_FD(fd) ({ int _t = (fd); (fd) = -1; _t; })

static inline uint64_t mcs_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}
static inline uint64_t mcs_now_ms(void) { return mcs_now_ns() / 1000000ull; }

/* Adaptive busy polling (the loops' busy_poll_us, libmcstore's): est is
 * an estimate of how long a wait for the next request or answer lasts.
 * Polling instead of sleeping pays only while waits are shorter than the
 * budget (about what a sleep and a wake-up cost): mcs_busy_should_spin.
 * After each wait, mcs_busy_idle moves the estimate half the way down to
 * a shorter wait and an eighth of the way up to a longer one, a wait
 * counting as at most 4 budgets: a burst is polled from its fourth
 * request on, and three long waits in a row (an idle spell) stop the
 * polling, so an idle process sleeps. */
static inline uint64_t mcs_busy_idle(uint64_t est, uint64_t waited_ns, uint64_t budget_ns)
{
	uint64_t g = waited_ns < 4 * budget_ns ? waited_ns : 4 * budget_ns;
	return g < est ? est - (est - g) / 2 : est + (g - est) / 8;
}

static inline bool mcs_busy_should_spin(uint64_t est, uint64_t budget_ns)
{
	return budget_ns && est < budget_ns;
}

/* Parse "123", "4K", "16M", "1G", "2T" (powers of 1024). 0 or -EINVAL/-ERANGE. */
int mcs_parse_size(const char *s, uint64_t *ret);
/* The same, with the reason of a failure in *ret_why (if not NULL): not a
 * number, not a whole number, an unknown suffix, too large. */
int mcs_parse_size_why(const char *s, uint64_t *ret, const char **ret_why);
/* Parse a non-negative decimal integer no larger than max. */
int mcs_parse_u64(const char *s, uint64_t max, uint64_t *ret);
/* Split "host:port" (or "[v6]:port"); host is written NUL-terminated. */
int mcs_parse_hostport(const char *s, char *host, size_t hostlen, uint16_t *ret_port);
/* The other way: "host:port", or "[host]:port" for an IPv6 address, into
 * buf (cut to len). */
void mcs_fmt_hostport(const char *host, uint16_t port, char *buf, size_t len);
/* Wait until fd has one of events (poll(2)), at most timeout_ms (< 0:
 * forever); EINTR restarts the wait. 0 when ready, -ETIMEDOUT, or a
 * negative errno. */
int mcs_poll_fd(int fd, short events, int timeout_ms);
/* Connect a TCP socket to host:port (numeric port), trying every address
 * getaddrinfo() gives, each bounded by timeout_ms. Returns a non-blocking,
 * close-on-exec fd with TCP_NODELAY, or a negative errno: -EHOSTUNREACH
 * when the name does not resolve, with getaddrinfo()'s reason in *ret_why
 * (if not NULL). */
int mcs_tcp_connect(const char *host, uint16_t port, int timeout_ms, const char **ret_why);
/* Bind a TCP socket to addr:port (the first address getaddrinfo() gives
 * that binds; SO_REUSEADDR, close-on-exec) and listen with backlog. Returns
 * the fd, and in *ret_port (if not NULL) the port bound, which the kernel
 * picks for port 0; or a negative errno: -EINVAL when addr does not
 * resolve, with getaddrinfo()'s reason in *ret_why (if not NULL). */
int mcs_tcp_listen(const char *addr, uint16_t port, int backlog, uint16_t *ret_port, const char **ret_why);
/* The socket is bound to a loopback address only (127.0.0.0/8, ::1, or
 * 127/8 mapped in IPv6), not to a wildcard or another interface. */
bool mcs_fd_is_loopback(int fd);
/* "ADDR:PORT" of the peer of a connected socket, for logs ("?:?" if unknown). */
void mcs_peer_name(int fd, char *buf, size_t len);
struct mcs_client_opts;
/* The environment of mcstore's client programs onto their handle's
 * options (libmcstore itself reads only MCSTORE_SOCKET): MCSTORE_PREFAULT=1,
 * MCSTORE_BUSY_POLL_US=US, MCSTORE_DIRECT_MASTER=0 and MCSTORE_DIRECT_DATA=0
 * (see libmcstore(3)). */
void mcs_client_opts_env(struct mcs_client_opts *o);
/* Format a byte count as "1.5 GiB" into buf. */
const char *mcs_fmt_size(uint64_t v, char *buf, size_t len);

#endif
