/* SPDX-License-Identifier: MIT */
/* Service manager notifications for the daemons (the sd_notify(3)
 * protocol, without libsystemd): readiness, status lines, watchdog pings,
 * stopping. No-ops outside systemd (when $NOTIFY_SOCKET is unset). */
#ifndef MCS_NOTIFY_H
#define MCS_NOTIFY_H

#include <stdint.h>

/* READY=1, with STATUS=status when not NULL. */
void mcs_notify_ready(const char *status);
void mcs_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mcs_notify_stopping(void);
/* The unit's watchdog interval (WatchdogSec=) in microseconds, 0 if the
 * service manager expects no pings from this process. */
uint64_t mcs_notify_watchdog_usec(void);
/* Ping the watchdog if the unit set WatchdogSec=. Rate-limited to one ping
 * per half interval, so it is cheap enough to call on every loop turn; a
 * caller driving it from a timer should fire at least every quarter
 * interval. */
void mcs_notify_watchdog(void);

#endif
