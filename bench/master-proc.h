/* SPDX-License-Identifier: MIT */
/* The mcstore-master process master-bench measures: started on a free
 * loopback port and stopped by PID, or one already running; its CPU time
 * and resident memory read from /proc. */
#ifndef MCS_BENCH_MASTER_PROC_H
#define MCS_BENCH_MASTER_PROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mb_master {
	pid_t child;   /* started by us, stopped by PID at the end; 0: none */
	long pid;      /* whose /proc we read; 0: unknown */
	uint16_t port; /* where a started master listens on 127.0.0.1 */
};

/* The mcstore-master of the build tree this program belongs to, in buf;
 * NULL if there is none. */
const char *mb_default_master(char *buf, size_t len);
/* Start path (with --no-config, a free loopback port and the extra
 * arguments) and wait until it accepts a connection. 0, or -1 with why in
 * err. */
int mb_master_start(struct mb_master *m, const char *path, const char **extra, int n_extra, char *err,
		    size_t errlen);
/* SIGTERM, then SIGKILL after 5 s; nothing if we did not start it. */
void mb_master_stop(struct mb_master *m);
/* utime + stime in seconds, or -1. */
double mb_proc_cpu_s(long pid);
/* VmRSS in KiB, or -1. */
long mb_proc_rss_kb(long pid);

#endif
