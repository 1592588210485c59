/* SPDX-License-Identifier: MIT */
/*
 * sd_notify for the daemons. Nothing here fails the daemon: a service
 * manager that cannot be told is logged at debug level and ignored, and
 * without $NOTIFY_SOCKET every call is a no-op.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "common/notify.h"
#include "common/util.h"

/* The watchdog interval, read once: sd_watchdog_enabled() parses the
 * environment, which is too much for every loop turn. */
static bool wd_known;
static uint64_t wd_usec;
static uint64_t wd_last_ns;

static void notify(const char *msg)
{
	int r = sd_notify(0, msg);
	if (r < 0)
		mcs_log_errno(MCS_LOG_DEBUG, r, "cannot notify the service manager (%s): %m, ignoring", msg);
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

uint64_t mcs_notify_watchdog_usec(void)
{
	if (!wd_known) {
		uint64_t usec = 0;
		/* > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID (if set)
		 * is this process */
		if (sd_watchdog_enabled(0, &usec) > 0)
			wd_usec = usec;
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
