/* SPDX-License-Identifier: MIT */
/* Logging for the programs (never used by libmcstore, which only returns codes).
 * Lines go to stderr with a level prefix systemd's journal understands
 * ("<3>" ...) when stderr is the journal, plain "level: " otherwise. */
#ifndef MCS_LOG_H
#define MCS_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { MCS_LOG_ERR = 3, MCS_LOG_WARNING = 4, MCS_LOG_NOTICE = 5, MCS_LOG_INFO = 6, MCS_LOG_DEBUG = 7 };

void mcs_log_init(const char *ident, int max_level);
void mcs_log_set_level(int max_level);
int mcs_log_level(void);
/* Parse "err|warning|notice|info|debug"; -EINVAL otherwise. */
int mcs_log_parse_level(const char *s);
/* Logs and returns -abs(err) so callers can write return log_error_errno(r, ...).
 * "%m" in fmt is replaced by strerror(err) / mcs_status_text(err). */
int mcs_log_errno(int level, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void mcs_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* An accept on the listener named what failed for lack of resources
 * (err: -EMFILE, -ENFILE, -ENOMEM, -ENOBUFS) and accepting pauses: one
 * warning a minute at most, naming the descriptor limit. */
void mcs_log_accept_failed(const char *what, int err);

/* Lines a peer can cause (refusals): at most MCS_RATELIMIT_BURST a minute
 * for each limiter. mcs_ratelimit_ok says whether this one may be logged;
 * after a stretch left out, *note (at least 64 bytes) says how many, else
 * it is empty. */
#define MCS_RATELIMIT_BURST 10
struct mcs_ratelimit {
	uint64_t window_ms;
	unsigned n;
	uint64_t skipped;
};
bool mcs_ratelimit_ok(struct mcs_ratelimit *rl, char *note, size_t len);
/* Protected mode for a daemon's listening socket fd (bound to addr, set by
 * option what): without a cluster key, a socket bound beyond loopback is
 * closed and -EPERM returned after logging what to configure; 0 when it
 * may serve. */
int mcs_listen_protected(int fd, const char *what, const char *addr, bool have_key, bool protected_mode);

#define log_error(...) mcs_log(MCS_LOG_ERR, __VA_ARGS__)
#define log_warning(...) mcs_log(MCS_LOG_WARNING, __VA_ARGS__)
#define log_notice(...) mcs_log(MCS_LOG_NOTICE, __VA_ARGS__)
#define log_info(...) mcs_log(MCS_LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                                                   \
	do {                                                                             \
		if (mcs_log_level() >= MCS_LOG_DEBUG)                                    \
			mcs_log(MCS_LOG_DEBUG, __VA_ARGS__);                             \
	} while (0)
#define log_error_errno(e, ...) mcs_log_errno(MCS_LOG_ERR, (e), __VA_ARGS__)
#define log_warning_errno(e, ...) mcs_log_errno(MCS_LOG_WARNING, (e), __VA_ARGS__)

#endif
