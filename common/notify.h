/* SPDX-License-Identifier: MIT */
/* Service manager notifications (sd_notify) for the daemons: readiness,
 * status lines, watchdog pings, stopping. No-ops outside systemd. */
#ifndef MCS_NOTIFY_H
#define MCS_NOTIFY_H

void mcs_notify_ready(const char *status);
void mcs_notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void mcs_notify_stopping(void);
/* Ping the watchdog if the unit set WatchdogSec=; cheap enough per loop turn. */
void mcs_notify_watchdog(void);

#endif
