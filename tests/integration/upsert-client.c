/* SPDX-License-Identifier: MIT */
/*
 * A test client for t-upsert.sh: a reader that holds a zero-copy view of a
 * value while others replace it, and a reader that reads a key over and
 * over while it is replaced.
 *
 *   upsert-client SOCKET hold KEY FILE
 *       take a (verified) view of KEY and compare it with FILE: prints
 *       "held same" (or "held differs", "held error STATUS"); then, for
 *       each line read from stdin: "verify" hashes the view again and
 *       compares it with FILE ("verify STATUS same|differs"), "release"
 *       releases it ("released"). Ends at the end of stdin.
 *   upsert-client SOCKET read-loop KEY FILE...
 *       get KEY over and over until SIGUSR1 (120 s at most); prints
 *       "value I" whenever the value got is FILE number I (from 0) and
 *       the previous get's was not, "error STATUS" for a failed get and
 *       "WRONG" for bytes that are none of the FILEs, then "gets N".
 *
 * Exit status: 0 ok, 3 an mcstore error, 4 wrong bytes, 2 usage or local
 * trouble. Output lines are flushed as they are written.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "mcstore.h"

struct file {
	char *p;
	size_t len;
};

static int load(const char *path, struct file *f)
{
	struct stat st;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return -errno;
	}
	f->len = (size_t)st.st_size;
	f->p = malloc(f->len ? f->len : 1);
	ssize_t n = f->p ? read(fd, f->p, f->len) : -1;
	close(fd);
	return n == (ssize_t)f->len ? 0 : -EIO;
}

/* Whether the view's bytes, in order, are f's. */
static bool view_is(const struct mcs_view *v, const struct file *f)
{
	if (v->size != f->len)
		return false;
	size_t off = 0;
	for (size_t i = 0; i < v->n_iov; i++) {
		if (memcmp(v->iov[i].iov_base, f->p + off, v->iov[i].iov_len) != 0)
			return false;
		off += v->iov[i].iov_len;
	}
	return off == f->len;
}

static int hold(struct mcs_client *c, const char *key, const struct file *f)
{
	struct mcs_view *v;
	int r = mcs_get_view(c, key, 0, &v);
	if (r < 0) {
		printf("held error %d\n", r);
		return 3;
	}
	printf("held %s\n", view_is(v, f) ? "same" : "differs");
	char line[64];
	while (fgets(line, sizeof(line), stdin)) {
		if (!strcmp(line, "verify\n")) {
			r = mcs_view_verify(v);
			printf("verify %d %s\n", r, view_is(v, f) ? "same" : "differs");
		} else if (!strcmp(line, "release\n") && v) {
			v = mcs_view_release(v);
			printf("released\n");
		}
	}
	mcs_view_release(v);
	return 0;
}

static volatile sig_atomic_t stop;

static void on_usr1(int signo) { stop = 1; }

static int read_loop(struct mcs_client *c, const char *key, const struct file *files, int n_files)
{
	size_t cap = 0;
	for (int i = 0; i < n_files; i++)
		cap = MCS_MAX(cap, files[i].len);
	char *buf = malloc(cap + 1);
	if (!buf)
		return 2;
	int st = 0, last = -1;
	unsigned long gets = 0;
	time_t end = time(NULL) + 120;
	while (!stop && time(NULL) < end) {
		ssize_t n = mcs_get(c, key, buf, cap + 1);
		gets++;
		if (n < 0) {
			printf("error %d\n", (int)n);
			st = 3;
			last = -1;
			continue;
		}
		int which = -1;
		for (int i = 0; i < n_files && which < 0; i++)
			if ((size_t)n == files[i].len && memcmp(buf, files[i].p, files[i].len) == 0)
				which = i;
		if (which < 0) {
			printf("WRONG\n");
			st = 4;
		} else if (which != last) {
			printf("value %d\n", which);
		}
		last = which;
	}
	printf("gets %lu\n", gets);
	free(buf);
	return st;
}

int main(int argc, char **argv)
{
	if (argc < 5 || (strcmp(argv[2], "hold") && strcmp(argv[2], "read-loop")) || argc > 4 + 8) {
		fprintf(stderr, "usage: upsert-client SOCKET hold KEY FILE\n"
				"       upsert-client SOCKET read-loop KEY FILE...\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct file files[8] = { { 0 } };
	int n_files = argc - 4;
	for (int i = 0; i < n_files; i++)
		if (load(argv[4 + i], &files[i]) < 0) {
			fprintf(stderr, "upsert-client: cannot read %s\n", argv[4 + i]);
			return 2;
		}
	struct sigaction sa = { .sa_handler = on_usr1 };
	sigaction(SIGUSR1, &sa, NULL);
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = argv[1], .timeout_ms = 10000 };
	mcs_client_opts_env(&o);
	struct mcs_client *c;
	int r = mcs_client_new(&o, &c);
	if (r < 0) {
		fprintf(stderr, "upsert-client: connect: %s\n", mcs_strerror(r));
		return 3;
	}
	int st = argv[2][0] == 'h' ? hold(c, argv[3], &files[0]) : read_loop(c, argv[3], files, n_files);
	mcs_client_unref(c);
	for (int i = 0; i < n_files; i++)
		free(files[i].p);
	return st;
}
