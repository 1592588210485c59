/* SPDX-License-Identifier: MIT */
/*
 * notify-recv SOCKET: a stand-in for the service manager's notification
 * socket. Binds a unix datagram socket at SOCKET and prints every message
 * it receives as "pid PID MS" (the sender, from SCM_CREDENTIALS, and the
 * time the kernel queued the message, SO_TIMESTAMPNS, in milliseconds)
 * followed by the message's lines, flushing after each, until SIGTERM or
 * SIGINT (exit 0, socket removed). The kernel's time, not the time this
 * reads it: on a loaded machine this may read two messages at once, and
 * their spacing is what the tests look at.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop;

static void on_signal(int signo) { stop = 1; }

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: notify-recv SOCKET\n");
		return 2;
	}
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "notify-recv: socket path too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);

	/* no SA_RESTART: the signal interrupts recvmsg */
	struct sigaction act = { .sa_handler = on_signal };
	sigaction(SIGTERM, &act, NULL);
	sigaction(SIGINT, &act, NULL);

	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof(one)) < 0) {
		perror("notify-recv: socket");
		return 1;
	}
	unlink(sa.sun_path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("notify-recv: bind");
		return 1;
	}

	static char buf[65536];
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(struct timespec))];
	} cbuf;
	while (!stop) {
		struct iovec iov = { buf, sizeof(buf) - 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &cbuf, .msg_controllen = sizeof(cbuf) };
		ssize_t n = recvmsg(fd, &mh, 0);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			perror("notify-recv: recvmsg");
			break;
		}
		buf[n] = '\0';
		long pid = 0;
		struct timespec ts = { 0 };
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
				struct ucred uc;
				memcpy(&uc, CMSG_DATA(c), sizeof(uc));
				pid = uc.pid;
			} else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
				memcpy(&ts, CMSG_DATA(c), sizeof(ts));
			}
		}
		if (!ts.tv_sec)
			clock_gettime(CLOCK_REALTIME, &ts);
		printf("pid %ld %lld\n%s%s", pid, (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, buf,
		       n && buf[n - 1] == '\n' ? "" : "\n");
		fflush(stdout);
	}
	unlink(sa.sun_path);
	close(fd);
	return 0;
}
