/* SPDX-License-Identifier: MIT */
/*
 * fd-store SOCKET LOG COMMAND [ARG]...: a stand-in for the service
 * manager's file-descriptor store (FileDescriptorStoreMax= of a unit),
 * since the test machines have no systemd as PID 1. It binds a unix
 * datagram socket at SOCKET, runs COMMAND with NOTIFY_SOCKET=SOCKET (its
 * output appended to LOG) and restarts it whenever it ends, as Restart=
 * would, handing it the fds it stored as systemd does: fds 3.. with
 * LISTEN_FDS, LISTEN_PID and LISTEN_FDNAMES.
 *
 * A message with FDSTORE=1 keeps the fds that came with it under its
 * FDNAME ("stored" when none); FDSTOREREMOVE=1 closes those of FDNAME.
 * Every message is printed as notify-recv prints them ("pid PID MS", then
 * its lines), and so are the tool's own events: "started PID", "exited
 * PID STATUS" (the exit status, or 128 + the signal). On SIGTERM or
 * SIGINT it passes the signal on, waits for COMMAND, and exits 0 if
 * COMMAND did. A command that exits 2 (bad options: a restart cannot
 * help) is not restarted, nor one restarted 100 times already.
 *
 * The test reaches the stored fds as /proc/PID/fd/N of this process (to
 * spoil one, say).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 16
#define MAX_STARTS 100

static struct {
	int fd;
	char name[256];
} stored[MAX_FDS];
static int n_stored;

static void say_started(pid_t pid)
{
	printf("started %ld\n", (long)pid);
	fflush(stdout);
}

static void forget(const char *name)
{
	int k = 0;
	for (int i = 0; i < n_stored; i++) {
		if (strcmp(stored[i].name, name) == 0)
			close(stored[i].fd);
		else
			stored[k++] = stored[i];
	}
	n_stored = k;
}

/* The value of KEY= in a message of lines, or NULL. */
static const char *field(const char *msg, const char *key, char *out, size_t cap)
{
	size_t kl = strlen(key);
	for (const char *p = msg; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
		if (strncmp(p, key, kl) == 0 && p[kl] == '=') {
			const char *v = p + kl + 1, *e = strchr(v, '\n');
			size_t n = e ? (size_t)(e - v) : strlen(v);
			if (n >= cap)
				n = cap - 1;
			memcpy(out, v, n);
			out[n] = 0;
			return out;
		}
	}
	return NULL;
}

static void on_message(int sock)
{
	static char buf[65536];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(struct timespec)) +
		       CMSG_SPACE(MAX_FDS * sizeof(int))];
	} ctl;
	struct iovec iov = { buf, sizeof(buf) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &ctl, .msg_controllen = sizeof(ctl) };
	ssize_t n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	if (n < 0)
		return;
	buf[n] = 0;
	pid_t pid = 0;
	long ms = 0;
	int fds[MAX_FDS], nfds = 0;
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
		if (c->cmsg_level != SOL_SOCKET)
			continue;
		if (c->cmsg_type == SCM_CREDENTIALS) {
			struct ucred u;
			memcpy(&u, CMSG_DATA(c), sizeof(u));
			pid = u.pid;
		} else if (c->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			ms = (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
		} else if (c->cmsg_type == SCM_RIGHTS) {
			int k = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			for (int i = 0; i < k && nfds < MAX_FDS; i++)
				memcpy(&fds[nfds++], CMSG_DATA(c) + i * sizeof(int), sizeof(int));
		}
	}
	printf("pid %ld %ld\n%s\n", (long)pid, ms, buf);
	char name[256], flag[8];
	if (!field(buf, "FDNAME", name, sizeof(name)))
		strcpy(name, "stored");
	if (field(buf, "FDSTOREREMOVE", flag, sizeof(flag)) && strcmp(flag, "1") == 0)
		forget(name);
	bool keep = field(buf, "FDSTORE", flag, sizeof(flag)) && strcmp(flag, "1") == 0;
	for (int i = 0; i < nfds; i++) {
		if (keep && n_stored < MAX_FDS) {
			stored[n_stored].fd = fds[i];
			snprintf(stored[n_stored].name, sizeof(stored[n_stored].name), "%s", name);
			n_stored++;
			printf("kept fd %d as %s\n", fds[i], name);
		} else {
			close(fds[i]);
		}
	}
	fflush(stdout);
}

static pid_t start(char **argv, const char *sock, const char *log)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	int lf = open(log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
	if (lf < 0 || dup2(lf, 1) < 0 || dup2(lf, 2) < 0)
		_exit(127);
	/* out of the way first, then in place from 3 on, without CLOEXEC */
	int high[MAX_FDS];
	for (int i = 0; i < n_stored; i++)
		high[i] = fcntl(stored[i].fd, F_DUPFD_CLOEXEC, 100);
	char names[MAX_FDS * 257] = "", num[32];
	for (int i = 0; i < n_stored; i++) {
		if (high[i] < 0 || dup2(high[i], 3 + i) < 0)
			_exit(127);
		if (i)
			strcat(names, ":");
		strcat(names, stored[i].name);
	}
	snprintf(num, sizeof(num), "%d", n_stored);
	setenv("NOTIFY_SOCKET", sock, 1);
	if (n_stored) {
		setenv("LISTEN_FDS", num, 1);
		snprintf(num, sizeof(num), "%ld", (long)getpid());
		setenv("LISTEN_PID", num, 1);
		setenv("LISTEN_FDNAMES", names, 1);
	} else {
		unsetenv("LISTEN_FDS");
		unsetenv("LISTEN_PID");
		unsetenv("LISTEN_FDNAMES");
	}
	execvp(argv[0], argv);
	_exit(127);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: fd-store SOCKET LOG COMMAND [ARG]...\n");
		return 2;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "fd-store: socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	int sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int one = 1;
	unlink(sa.sun_path);
	if (sock < 0 || setsockopt(sock, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    setsockopt(sock, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0 ||
	    bind(sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("fd-store: socket");
		return 1;
	}
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGCHLD);
	sigaddset(&ss, SIGTERM);
	sigaddset(&ss, SIGINT);
	sigprocmask(SIG_BLOCK, &ss, NULL);
	int sfd = signalfd(-1, &ss, SFD_CLOEXEC);
	if (sfd < 0) {
		perror("fd-store: signalfd");
		return 1;
	}
	int starts = 1;
	pid_t child = start(argv + 3, argv[1], argv[2]);
	say_started(child);
	bool stopping = false;
	int last = 0;
	while (child > 0) {
		struct pollfd p[2] = { { sock, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents & POLLIN) {
			on_message(sock);
			continue; /* messages first: a READY=1 before an exit */
		}
		if (!(p[1].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		if (read(sfd, &si, sizeof(si)) != sizeof(si))
			continue;
		if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT) {
			stopping = true;
			kill(child, (int)si.ssi_signo);
			continue;
		}
		int st;
		pid_t w = waitpid(child, &st, WNOHANG);
		if (w != child)
			continue;
		struct pollfd q = { sock, POLLIN, 0 };
		while (poll(&q, 1, 0) == 1)
			on_message(sock);
		last = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
		printf("exited %ld %d\n", (long)child, last);
		fflush(stdout);
		child = 0;
		if (!stopping && last != 2 && starts < MAX_STARTS) {
			starts++;
			child = start(argv + 3, argv[1], argv[2]);
			say_started(child);
		}
	}
	unlink(sa.sun_path);
	return stopping && last == 0 ? 0 : 1;
}
