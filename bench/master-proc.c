/* SPDX-License-Identifier: MIT */
/* The master's process for master-bench: see master-proc.h. */
#include "bench/master-proc.h"

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

#define MB_MAX_ARGS 48

static int free_port(uint16_t *ret)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r = fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
			getsockname(fd, (struct sockaddr *)&sa, &sl) == 0
		? 0
		: -errno;
	if (fd >= 0)
		close(fd);
	*ret = ntohs(sa.sin_port);
	return r;
}

int mb_master_start(struct mb_master *m, const char *path, const char **extra, int n_extra, char *err,
		    size_t errlen)
{
	struct stat st;
	if (stat(path, &st) < 0 || !S_ISREG(st.st_mode) || access(path, X_OK) < 0) {
		snprintf(err, errlen,
			 "master program %s not found or not executable (give --master PATH or --connect HOST:PORT)",
			 path);
		return -1;
	}
	int r = free_port(&m->port);
	if (r < 0) {
		snprintf(err, errlen, "cannot find a free loopback port: %s", strerror(-r));
		return -1;
	}
	char port[8];
	snprintf(port, sizeof(port), "%u", m->port);
	const char *argv[MB_MAX_ARGS] = { path, "--no-config", "--listen", "127.0.0.1", "--port", port,
					  "--node-timeout-ms", "3600000", "--log-level", "warning" };
	int argc = 10;
	if (n_extra > MB_MAX_ARGS - argc - 1) {
		snprintf(err, errlen, "too many master arguments (%d)", n_extra);
		return -1;
	}
	for (int i = 0; i < n_extra; i++)
		argv[argc++] = extra[i];
	argv[argc] = NULL;
	pid_t p = fork();
	if (p < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		return -1;
	}
	if (p == 0) {
		execv(path, (char *const *)argv);
		fprintf(stderr, "master-bench: cannot run %s: %s\n", path, strerror(errno));
		_exit(127);
	}
	m->child = p;
	m->pid = p;
	/* it listens when a connection succeeds */
	for (int i = 0; i < 500; i++) {
		int st2;
		if (waitpid(p, &st2, WNOHANG) == p) {
			m->child = 0;
			snprintf(err, errlen, "%s exited at start (status %d)", path,
				 WIFEXITED(st2) ? WEXITSTATUS(st2) : -1);
			return -1;
		}
		int fd = mcs_tcp_connect("127.0.0.1", m->port, 5000, NULL);
		if (fd >= 0) {
			close(fd);
			return 0;
		}
		usleep(10000);
	}
	snprintf(err, errlen, "%s did not listen on 127.0.0.1 port %u within 5 s", path, m->port);
	return -1;
}

void mb_master_stop(struct mb_master *m)
{
	if (m->child <= 0)
		return;
	pid_t p = m->child;
	m->child = 0;
	kill(p, SIGTERM);
	for (int i = 0; i < 500; i++) {
		int st;
		if (waitpid(p, &st, WNOHANG) == p)
			return;
		usleep(10000);
	}
	kill(p, SIGKILL);
	waitpid(p, NULL, 0);
}

const char *mb_default_master(char *buf, size_t len)
{
	char self[2048];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n <= 0)
		return NULL;
	self[n] = 0;
	char *slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	/* bench/master-bench or bench/.libs/lt-master-bench */
	const char *cand[] = { "/../master/mcstore-master", "/../../master/mcstore-master" };
	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]); i++) {
		if ((size_t)snprintf(buf, len, "%s%s", self, cand[i]) >= len)
			return NULL;
		if (access(buf, X_OK) == 0)
			return buf;
	}
	return NULL;
}

double mb_proc_cpu_s(long pid)
{
	char path[64], buf[1024];
	if (!pid)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *p = strrchr(buf, ')'); /* the command name may hold spaces */
	unsigned long long ut, st;
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

long mb_proc_rss_kb(long pid)
{
	char path[64], line[256];
	long kb = -1;
	if (!pid)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", pid);
	FILE *f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}
