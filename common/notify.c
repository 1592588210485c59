/* SPDX-License-Identifier: MIT */
/* Placeholder until libsystemd integration lands (issue 5): no-ops. */
#include "common/notify.h"

void mcs_notify_ready(const char *status) { (void)status; }
void mcs_notify_status(const char *fmt, ...) { (void)fmt; }
void mcs_notify_stopping(void) {}
void mcs_notify_watchdog(void) {}
