/* SPDX-License-Identifier: MIT */
/*
 * The fd passing cases of the shm/ unit suite (TCase "fdpass"): a segment
 * passed to a forked child and written there, one fd over a socketpair,
 * messages without one, the errors of mcs_send_with_fd/mcs_recv_with_fd,
 * and malformed control data (several fds in one message, MSG_CTRUNC),
 * which must be rejected with -EPROTO without leaking an fd.
 *
 * The suite runs without a forked child per test, so without a Check
 * timeout: every socket a test reads from gets a receive timeout.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/unit/shm-fixture.h"

/* ---- helpers ---------------------------------------------------------- */

static int count_fds(void)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

/* No Check timeout in no-fork mode: a broken peer must not hang the run. */
static void socketpair_with_timeouts(int sv[2])
{
	struct timeval tv = { .tv_sec = 10 };
	int i;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(setsockopt(sv[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
		ck_assert_int_eq(setsockopt(sv[i], SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)), 0);
	}
}

/* Hand-built SCM_RIGHTS message with several fds, which mcs_send_with_fd
 * cannot produce. */
#define RAW_MAX_FDS 8
static ssize_t send_fds_raw(int sock, const int *fds, size_t nfds)
{
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(sizeof(int) * RAW_MAX_FDS)];
	} ctrl;
	char byte = 'x';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctrl.buf,
		.msg_controllen = CMSG_SPACE(sizeof(int) * nfds),
	};
	struct cmsghdr *c;

	ck_assert_uint_le(nfds, RAW_MAX_FDS);
	memset(&ctrl, 0, sizeof(ctrl));
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	return sendmsg(sock, &msg, MSG_NOSIGNAL);
}

/* ---- fd passing ------------------------------------------------------- */

#define FDPASS_MARK 0x5a

/* Runs in the forked child: must never return into Check (which would go
 * on running the suite there) and never use ck_assert; exit codes tell the
 * parent what went wrong. */
static int fdpass_child(int sock)
{
	struct mcs_segment seg;
	uint64_t size = 0;
	ssize_t n;
	int fd = -1;

	n = mcs_recv_with_fd(sock, &size, sizeof(size), &fd);
	if (n != (ssize_t)sizeof(size))
		return 10;
	if (fd < 0)
		return 11;
	if (!fd_is_cloexec(fd))
		return 12;
	if (mcs_segment_attach(fd, size, &seg) < 0)
		return 13;
	if (seg.hugepages || ((uint8_t *)seg.base)[0] != FDPASS_MARK)
		return 14;
	fill_pattern((uint8_t *)seg.base + 1, size - 1, 7);
	mcs_segment_close(&seg);
	if (mcs_send_with_fd(sock, "done", 4, -1) != 4)
		return 15;
	return 0;
}

START_TEST(test_fdpass_fork)
{
	uint64_t size = 256 * 1024;
	struct mcs_segment seg;
	int sv[2], status = 0, fd = -1;
	char ack[8] = { 0 };
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(mcs_segment_create("unit-fdpass", size, MCS_SEG_NORMAL, false, &seg, NULL),
			 0);
	memset(seg.base, 0, size);
	((uint8_t *)seg.base)[0] = FDPASS_MARK;
	socketpair_with_timeouts(sv);

	fflush(NULL);  /* the child must not flush our buffered TAP output again */
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(sv[0]);
		_exit(fdpass_child(sv[1]));
	}
	close(sv[1]);

	n = mcs_send_with_fd(sv[0], &size, sizeof(size), seg.fd);
	ck_assert_int_eq(n, (ssize_t)sizeof(size));
	n = mcs_recv_with_fd(sv[0], ack, sizeof(ack), &fd);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status 0x%x", status);
	ck_assert_int_eq(n, 4);
	ck_assert_int_eq(fd, -1);
	ck_assert_mem_eq(ack, "done", 4);

	/* What the child wrote through its own mapping is here. */
	ck_assert_int_eq(((uint8_t *)seg.base)[0], FDPASS_MARK);
	ck_assert_uint_eq(check_pattern((uint8_t *)seg.base + 1, size - 1, 7), SIZE_MAX);

	close(sv[0]);
	mcs_segment_close(&seg);
}
END_TEST

START_TEST(test_send_recv_one_fd)
{
	int sv[2], p[2], fd = -1;
	char buf[16], c = 0;
	ssize_t n;

	socketpair_with_timeouts(sv);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);

	/* The receiver gets its own fd for the same pipe, close-on-exec. */
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "pipe", 4, p[1]), 4);
	n = mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd);
	ck_assert_int_eq(n, 4);
	ck_assert_mem_eq(buf, "pipe", 4);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_ne(fd, p[1]);
	ck_assert(fd_is_cloexec(fd));
	ck_assert_int_eq(write(fd, "!", 1), 1);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	ck_assert_int_eq(c, '!');

	close(fd);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_recv_without_fd)
{
	int sv[2], fd = 1234;
	char buf[16];
	ssize_t n;

	socketpair_with_timeouts(sv);

	/* A plain send ... */
	ck_assert_int_eq(send(sv[0], "abc", 3, MSG_NOSIGNAL), 3);
	n = mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd);
	ck_assert_int_eq(n, 3);
	ck_assert_mem_eq(buf, "abc", 3);
	ck_assert_int_eq(fd, -1);

	/* ... and mcs_send_with_fd with no fd look the same. */
	fd = 1234;
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "defg", 4, -1), 4);
	n = mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd);
	ck_assert_int_eq(n, 4);
	ck_assert_mem_eq(buf, "defg", 4);
	ck_assert_int_eq(fd, -1);

	/* End of stream: 0 bytes, no fd. */
	close(sv[0]);
	fd = 1234;
	ck_assert_int_eq(mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd), 0);
	ck_assert_int_eq(fd, -1);
	close(sv[1]);
}
END_TEST

START_TEST(test_send_errors)
{
	int sv[2], fd = 1234;
	char buf[4];

	socketpair_with_timeouts(sv);
	/* An fd needs at least one byte to ride on over a stream socket. */
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "", 0, sv[0]), -EINVAL);
	ck_assert_int_eq(mcs_recv_with_fd(sv[1], buf, sizeof(buf), NULL), -EINVAL);
	ck_assert_int_eq(mcs_send_with_fd(-1, "x", 1, -1), -EBADF);
	ck_assert_int_eq(mcs_recv_with_fd(-1, buf, sizeof(buf), &fd), -EBADF);
	ck_assert_int_eq(fd, -1);

	/* A vanished peer is -EPIPE, not a SIGPIPE that kills us. */
	close(sv[1]);
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "x", 1, sv[0]), -EPIPE);
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "x", 1, -1), -EPIPE);
	close(sv[0]);
}
END_TEST

/* Send nfds pipe write ends in one SCM_RIGHTS message and check that the
 * receiver rejects it with -EPROTO without leaking any of them: neither in
 * our fd table (count /proc/self/fd) nor anywhere else (once our own write
 * ends are closed, the pipes must read EOF). */
static void check_multi_fd_rejected(size_t nfds)
{
	int sv[2], rd[RAW_MAX_FDS], wr[RAW_MAX_FDS], fd = 1234, before, after;
	char buf[8], c;
	size_t i;

	ck_assert_uint_le(nfds, RAW_MAX_FDS);
	socketpair_with_timeouts(sv);
	for (i = 0; i < nfds; i++) {
		int p[2];

		ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
		rd[i] = p[0];
		wr[i] = p[1];
	}

	before = count_fds();
	ck_assert_int_gt(before, 0);
	ck_assert_int_eq(send_fds_raw(sv[0], wr, nfds), 1);
	ck_assert_int_eq(mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd), -EPROTO);
	ck_assert_int_eq(fd, -1);
	after = count_fds();
	ck_assert_int_eq(after, before);

	for (i = 0; i < nfds; i++)
		close(wr[i]);
	for (i = 0; i < nfds; i++) {
		ck_assert_msg(read(rd[i], &c, 1) == 0, "pipe %zu still has a writer", i);
		close(rd[i]);
	}

	/* The connection itself still works for a well-formed message. */
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "ok", 2, sv[0]), 2);
	ck_assert_int_eq(mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd), 2);
	ck_assert_int_ge(fd, 0);
	close(fd);

	close(sv[0]);
	close(sv[1]);
}

START_TEST(test_recv_two_fds)
{
	/* On 64-bit a one-fd CMSG_SPACE has room for a second fd (padding),
	 * so both arrive without MSG_CTRUNC: the count must catch it. */
	check_multi_fd_rejected(2);
}
END_TEST

START_TEST(test_recv_ctrunc_fd_dropped)
{
	/* With SO_PASSCRED the kernel puts SCM_CREDENTIALS first; it does not
	 * fit the one-fd buffer, so the fd is dropped entirely and only
	 * MSG_CTRUNC says one was sent. That must not read as "no fd". */
	int sv[2], p[2], on = 1, fd = 1234, before;
	char buf[8], c;

	socketpair_with_timeouts(sv);
	ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)), 0);
	ck_assert_int_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);

	before = count_fds();
	ck_assert_int_eq(mcs_send_with_fd(sv[0], "x", 1, p[1]), 1);
	ck_assert_int_eq(mcs_recv_with_fd(sv[1], buf, sizeof(buf), &fd), -EPROTO);
	ck_assert_int_eq(fd, -1);
	ck_assert_int_eq(count_fds(), before);
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 0);

	close(p[0]);
	close(sv[0]);
	close(sv[1]);
}
END_TEST

START_TEST(test_recv_ctrunc)
{
	/* Too many to fit even with padding: MSG_CTRUNC, some fds installed
	 * and the rest dropped by the kernel. */
	check_multi_fd_rejected(4);
	check_multi_fd_rejected(RAW_MAX_FDS);
}
END_TEST

/* ---- the TCase -------------------------------------------------------- */

void shm_add_fdpass_cases(Suite *s)
{
	TCase *tc = tcase_create("fdpass");

	tcase_add_test(tc, test_fdpass_fork);
	tcase_add_test(tc, test_send_recv_one_fd);
	tcase_add_test(tc, test_recv_without_fd);
	tcase_add_test(tc, test_send_errors);
	tcase_add_test(tc, test_recv_two_fds);
	tcase_add_test(tc, test_recv_ctrunc);
	tcase_add_test(tc, test_recv_ctrunc_fd_dropped);
	suite_add_tcase(s, tc);
}
