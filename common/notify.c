/* SPDX-License-Identifier: MIT */
/*
 * Service manager notifications for the daemons: the protocol sd_notify(3)
 * documents, spoken here directly rather than through libsystemd. Each
 * message is one datagram of "KEY=VALUE" lines sent to the AF_UNIX socket
 * $NOTIFY_SOCKET names: a path, or with a leading '@' a name in the
 * abstract namespace. The service manager learns the sender from the
 * kernel (SCM_CREDENTIALS), so nothing else goes with it.
 *
 * Nothing here fails the daemon: a service manager that cannot be told is
 * logged at debug level and ignored, and without $NOTIFY_SOCKET every call
 * is a no-op.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/log.h"
#include "common/notify.h"
#include "common/util.h"

/* The watchdog interval, read once: the environment is too much to parse
 * on every loop turn. */
static bool wd_known;
static uint64_t wd_usec;
static uint64_t wd_last_ns;

/* One datagram to $NOTIFY_SOCKET: 1 when sent, 0 without a socket to send
 * to, or a negative errno. A socket of its own each time, as sd_notify()
 * has: a message is rare (but the watchdog's, at most one per half
 * interval), and no descriptor stays open in the daemon. */
static int notify_send(const char *msg)
{
	const char *e = getenv("NOTIFY_SOCKET");
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t len, n = strlen(msg);

	if (!e || !*e)
		return 0;
	if (e[0] != '/' && e[0] != '@')
		return -EAFNOSUPPORT; /* neither a path nor an abstract name */
	len = strlen(e);
	/* a path needs no room for a NUL: the address length bounds it */
	if (len > sizeof(sa.sun_path) || len < 2)
		return -EINVAL;
	memcpy(sa.sun_path, e, len);
	if (sa.sun_path[0] == '@')
		sa.sun_path[0] = '\0';

	_cleanup_close_ int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	ssize_t w = sendto(fd, msg, n, MSG_NOSIGNAL, (const struct sockaddr *)&sa,
			   (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len));
	if (w < 0)
		return -errno;
	return (size_t)w == n ? 1 : -EMSGSIZE;
}

static void notify(const char *msg)
{
	int r = notify_send(msg);
	/* the system's words: -ENOENT is no socket there, not "no such key" */
	if (r < 0)
		log_debug("cannot notify the service manager (%s): %s, ignoring", msg, strerrordesc_np(-r));
}

void mcs_notify_ready(const char *status)
{
	if (!status) {
		notify("READY=1");
		return;
	}
	char buf[512];
	snprintf(buf, sizeof(buf), "READY=1\nSTATUS=%s", status);
	notify(buf);
}

void mcs_notify_status(const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	int n = snprintf(buf, sizeof(buf), "STATUS=");
	va_start(ap, fmt);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	vsnprintf(buf + n, sizeof(buf) - (size_t)n, fmt, ap);
#pragma GCC diagnostic pop
	va_end(ap);
	notify(buf);
}

void mcs_notify_stopping(void)
{
	notify("STOPPING=1");
}

/* $WATCHDOG_USEC, when the pings are this process's to send: when
 * $WATCHDOG_PID is unset or names this process. 0 otherwise, and for a
 * value that does not parse, 0 or one too large to be an interval (the
 * service manager's "infinity" included). */
static uint64_t watchdog_from_env(void)
{
	const char *u = getenv("WATCHDOG_USEC"), *p = getenv("WATCHDOG_PID");
	uint64_t usec, pid;

	if (!u || mcs_parse_u64(u, UINT64_MAX / 1000 - 1, &usec) < 0 || usec == 0)
		return 0;
	if (p && (mcs_parse_u64(p, INT_MAX, &pid) < 0 || (pid_t)pid != getpid()))
		return 0;
	return usec;
}

uint64_t mcs_notify_watchdog_usec(void)
{
	if (!wd_known) {
		wd_usec = watchdog_from_env();
		wd_known = true;
	}
	return wd_usec;
}

void mcs_notify_watchdog(void)
{
	uint64_t usec = mcs_notify_watchdog_usec();
	if (!usec)
		return;
	uint64_t now = mcs_now_ns();
	if (wd_last_ns && now - wd_last_ns < usec * 1000ull / 2)
		return;
	wd_last_ns = now;
	notify("WATCHDOG=1");
}
