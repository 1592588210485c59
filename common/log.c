/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "mcstore.h"

static const char *log_ident = "mcstore";
static int log_max = MCS_LOG_INFO;
static int log_journal = -1;

static const char *const level_names[] = {
	[MCS_LOG_ERR] = "error", [MCS_LOG_WARNING] = "warning", [MCS_LOG_NOTICE] = "notice",
	[MCS_LOG_INFO] = "info", [MCS_LOG_DEBUG] = "debug",
};

/* Under systemd, stderr is the journal's stream and $JOURNAL_STREAM names
 * its dev:inode: then "<N>" prefixes carry the level. */
static int stderr_is_journal(void)
{
	const char *e = getenv("JOURNAL_STREAM");
	struct stat st;
	unsigned long long dev, ino;
	if (!e || sscanf(e, "%llu:%llu", &dev, &ino) != 2 || fstat(STDERR_FILENO, &st) < 0)
		return 0;
	return (unsigned long long)st.st_dev == dev && (unsigned long long)st.st_ino == ino;
}

void mcs_log_init(const char *ident, int max_level)
{
	log_ident = ident;
	log_max = max_level;
	log_journal = stderr_is_journal();
}

void mcs_log_set_level(int max_level) { log_max = max_level; }
int mcs_log_level(void) { return log_max; }

int mcs_log_parse_level(const char *s)
{
	for (size_t i = 0; i < MCS_ARRAY_SIZE(level_names); i++)
		if (level_names[i] && strcmp(s, level_names[i]) == 0)
			return (int)i;
	return -EINVAL;
}

static void vlog(int level, int err, const char *fmt, va_list ap)
{
	char msg[2048], expanded[2048];
	const char *in = fmt;
	size_t o = 0;

	if (level > log_max)
		return;
	/* expand %m ourselves: err may be an mcstore status, not an errno */
	while (*in && o + 1 < sizeof(expanded)) {
		if (in[0] == '%' && in[1] == 'm') {
			const char *s = mcs_status_text(err ? -abs(err) : -errno);
			for (; *s && o + 1 < sizeof(expanded); s++) {
				if (*s == '%' && o + 2 < sizeof(expanded))
					expanded[o++] = '%';
				expanded[o++] = *s;
			}
			in += 2;
		} else if (in[0] == '%' && in[1] == '%') {
			expanded[o++] = *in++;
			if (o + 1 < sizeof(expanded))
				expanded[o++] = *in++;
		} else {
			expanded[o++] = *in++;
		}
	}
	expanded[o] = '\0';
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	vsnprintf(msg, sizeof(msg), expanded, ap);
#pragma GCC diagnostic pop
	if (log_journal < 0)
		log_journal = stderr_is_journal();
	if (log_journal)
		fprintf(stderr, "<%d>%s\n", level, msg);
	else
		fprintf(stderr, "%s[%d]: %s: %s\n", log_ident, (int)getpid(), level_names[level], msg);
}

void mcs_log(int level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, 0, fmt, ap);
	va_end(ap);
}

int mcs_log_errno(int level, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vlog(level, err, fmt, ap);
	va_end(ap);
	return -abs(err);
}

void mcs_log_accept_failed(const char *what, int err)
{
	static uint64_t next_ms, suppressed;
	uint64_t now = mcs_now_ms();
	if (now < next_ms) {
		suppressed++;
		return;
	}
	next_ms = now + 60000;
	char more[64] = "";
	if (suppressed)
		snprintf(more, sizeof(more), " (%llu more since the last warning)", (unsigned long long)suppressed);
	suppressed = 0;
	struct rlimit rl;
	if ((err == -EMFILE) && getrlimit(RLIMIT_NOFILE, &rl) == 0)
		log_warning("cannot accept on %s: %s: this process has reached its limit of %llu open files "
			    "(RLIMIT_NOFILE; LimitNOFILE= in its unit); pausing new connections%s",
			    what, strerror(-err), (unsigned long long)rl.rlim_cur, more);
	else
		log_warning("cannot accept on %s: %s; pausing new connections%s", what, strerror(-err), more);
}

bool mcs_ratelimit_ok(struct mcs_ratelimit *rl, char *note, size_t len)
{
	uint64_t now = mcs_now_ms();
	note[0] = '\0';
	if (now - rl->window_ms >= 60000) {
		rl->window_ms = now;
		rl->n = 0;
	}
	if (rl->n >= MCS_RATELIMIT_BURST) {
		rl->skipped++;
		return false;
	}
	rl->n++;
	if (rl->skipped)
		snprintf(note, len, " (and %llu more like it not logged)", (unsigned long long)rl->skipped);
	rl->skipped = 0;
	return true;
}

int mcs_listen_protected(int fd, const char *what, const char *addr, bool have_key, bool protected_mode)
{
	if (have_key || !protected_mode || mcs_fd_is_loopback(fd))
		return 0;
	close(fd);
	log_error("refusing to listen on %s (%s) without a cluster key: anyone who reaches it could read "
		  "and replace every object. Set key-file (make one with mcstorectl keygen), listen on "
		  "127.0.0.1, or set protected-mode = no on a network you trust",
		  addr, what);
	return -EPERM;
}
