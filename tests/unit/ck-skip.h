/* SPDX-License-Identifier: MIT */
/*
 * Skips for Check suites. Check knows no skip: a case that cannot run here
 * (no huge pages, a kernel without SEND_ZC) is left out of its suite and
 * named with ck_skip(); ck_run() runs the suite with Check's TAP (when
 * CK_TAP_LOG_FILE_NAME asks for TAP) written to a file of its own, then
 * passes it on without its plan, adds one "ok N - NAME # SKIP WHY" per case
 * left out, and the plan counting both. Without TAP, the skips are listed.
 */
#ifndef MCS_TESTS_CK_SKIP_H
#define MCS_TESTS_CK_SKIP_H

#include <check.h>

/* Name the case tcase:name of file as skipped, for why (kept: a literal or
 * a string that outlives ck_run). */
void ck_skip(const char *file, const char *tcase, const char *name, const char *why);
/* Run every case of s with fork_status (CK_FORK, CK_NOFORK); the number of
 * cases that failed, plus one when the TAP could not be passed on. */
int ck_run(Suite *s, enum fork_status fork_status);

#endif
