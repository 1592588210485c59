/* SPDX-License-Identifier: MIT */
/*
 * A scripted stand-in for mcstored, for t-readahead.sh: it shows that
 * libmcstore's read-ahead never reads past a late, partial answer into an
 * answer that carries an fd (SCM_RIGHTS on its first byte), which a plain
 * recv would drop.
 *
 *   fake-daemon SOCKET split|together|body
 *
 * It listens on SOCKET and forks the client (libmcstore, a 2 s timeout:
 * the fake must answer the client's later requests within it, on a loaded
 * machine too). The fake answers HELLO as mcstored does (the segment memfd on
 * the answer, no master named, so metadata comes to it), then answers the
 * client's first request with only the first bytes of the frame, so that
 * the client times out with part of a frame buffered. Then the client asks
 * for a shared buffer (BUF_ALLOC) and the fake sends the rest of the late
 * frame and the BUF_ALLOC answer with a memfd:
 *
 *   split     the late request is EXIST, cut inside the header; the rest
 *             comes after the BUF_ALLOC request, the fd answer 50 ms later
 *   together  the same, but the rest and the fd answer are both queued on
 *             the socket before the client asks (one read could take both)
 *   body      the late request is STAT, cut inside its body; then as
 *             together
 *
 * Then the client writes into the buffer, asks EXIST (the fake checks it
 * sees the bytes through its own mapping and answers "exists") and frees
 * the buffer (BUF_FREE must name it). Each side prints one line per step,
 * "ok STEP" or "not ok STEP: why"; the exit status is 0 only if every step
 * of both sides passed. Steps: connect, timeout, alloc, after, free (the
 * client); order, shared, done (the fake).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mcstore.h"
#include "proto/proto.h"
#include "shm/shm.h"

#define TIMEOUT_MS 2000
#define BUF_SIZE (64u << 10)
#define SEG_SIZE (1u << 20)
#define WAIT_MS 20000           /* the fake's bound on any wait */

enum variant { SPLIT, TOGETHER, BODY };
static enum variant variant;
static bool failed;

static void step(bool good, const char *name, const char *fmt, ...)
{
	char why[256] = "";
	if (!good && fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(why, sizeof(why), fmt, ap);
		va_end(ap);
	}
	if (good)
		printf("ok %s\n", name);
	else
		printf("not ok %s: %s\n", name, why);
	fflush(stdout);
	if (!good)
		failed = true;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint8_t pattern(unsigned who, size_t i) { return (uint8_t)(i * 31 + who * 101 + (i >> 8)); }

/* ---- the client (child) ------------------------------------------------- */

/* One byte over a pipe: the two sides take turns. */
static bool pipe_get(int fd, char want)
{
	char ch;
	ssize_t r;
	do
		r = read(fd, &ch, 1);
	while (r < 0 && errno == EINTR);
	return r == 1 && ch == want;
}

static void pipe_put(int fd, char ch)
{
	ssize_t r;
	do
		r = write(fd, &ch, 1);
	while (r < 0 && errno == EINTR);
}

static int run_client(const char *path, int to_fake, int from_fake)
{
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = path, .timeout_ms = TIMEOUT_MS };
	struct mcs_client *c = NULL;
	int r = mcs_client_new(&o, &c);
	step(r == 0, "connect", "mcs_client_new: %s", mcs_strerror(r));
	if (r < 0)
		return 1;

	/* the fake sends only part of this answer: the call must time out */
	uint64_t t0 = now_ms();
	if (variant == BODY) {
		struct mcs_stat *st = NULL;
		r = mcs_stat(c, &st);
		mcs_stat_free(st);
	} else {
		r = mcs_exists(c, "late");
	}
	uint64_t dt = now_ms() - t0;
	step(r == -ETIMEDOUT && dt >= TIMEOUT_MS - 50 && dt < 3 * TIMEOUT_MS, "timeout", "%s: %s after %llu ms",
	     variant == BODY ? "mcs_stat" : "mcs_exists", r < 0 ? mcs_strerror(r) : "success", (unsigned long long)dt);
	pipe_put(to_fake, 'T');
	if (!pipe_get(from_fake, 'G')) {
		mcs_client_unref(c);
		return 1;
	}

	/* the late frame's rest comes first, then the answer with the fd */
	void *buf = NULL;
	r = mcs_buffer_alloc(c, BUF_SIZE, &buf);
	size_t bad = BUF_SIZE;
	if (r == 0)
		for (bad = 0; bad < BUF_SIZE && ((uint8_t *)buf)[bad] == pattern(1, bad); bad++)
			;
	step(r == 0 && bad == BUF_SIZE, "alloc", "mcs_buffer_alloc: %s%s",
	     r < 0 ? mcs_strerror(r) : "success",
	     r == 0 ? " but the buffer does not hold the fake's bytes" : "");
	if (r == 0)
		for (size_t i = 0; i < BUF_SIZE; i++)
			((uint8_t *)buf)[i] = pattern(2, i);

	/* the link is still in step: a later request gets its own answer */
	r = mcs_exists(c, "after");
	step(r == 1, "after", "mcs_exists after the buffer: %s", r < 0 ? mcs_strerror(r) : "0 (not found)");
	/* (the fake checks the BUF_FREE it gets) */
	mcs_buffer_free(c, buf);
	mcs_client_unref(c);
	return failed ? 1 : 0;
}

/* ---- the fake daemon (parent) ------------------------------------------- */

static int wait_in(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int r;
	do
		r = poll(&p, 1, WAIT_MS);
	while (r < 0 && errno == EINTR);
	return r > 0 ? 0 : r == 0 ? -ETIMEDOUT : -errno;
}

static int recv_all(int fd, void *p, size_t n)
{
	while (n) {
		int e = wait_in(fd);
		if (e < 0)
			return e;
		ssize_t r = recv(fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0)
			return -ECONNRESET;
		p = (uint8_t *)p + r;
		n -= (size_t)r;
	}
	return 0;
}

static int send_all(int fd, const void *p, size_t n)
{
	while (n) {
		ssize_t r = send(fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		p = (const uint8_t *)p + r;
		n -= (size_t)r;
	}
	return 0;
}

/* The next request: header in *h, body in body[0..h->body_len). */
static int read_req(int fd, struct mcs_hdr *h, uint8_t *body, size_t cap)
{
	uint8_t hb[MCS_HDR_SIZE];
	int r = recv_all(fd, hb, sizeof(hb));
	if (r < 0)
		return r;
	if ((r = mcs_hdr_decode(hb, (uint32_t)cap, h)) < 0)
		return r;
	return recv_all(fd, body, h->body_len);
}

static int expect_req(int fd, uint16_t op, struct mcs_hdr *h, uint8_t *body, size_t cap)
{
	int r = read_req(fd, h, body, cap);
	if (r < 0)
		return r;
	if (h->flags & MCS_F_RESPONSE || h->opcode != op) {
		fprintf(stderr, "fake-daemon: wanted %s, got %s\n", mcs_op_name(op), mcs_op_name(h->opcode));
		return -EPROTO;
	}
	return 0;
}

/* An answer frame to h in b (body appended by the caller before end). */
static void answer_begin(struct mcs_buf *b, const struct mcs_hdr *h, int status)
{
	mcs_buf_reset(b);
	mcs_frame_begin(b, h->opcode, MCS_F_RESPONSE, status, h->req_id);
}

static int answer_status(int fd, struct mcs_buf *b, const struct mcs_hdr *h, int status)
{
	answer_begin(b, h, status);
	int r = mcs_frame_end(b);
	return r < 0 ? r : send_all(fd, b->p, b->len);
}

static int send_frame_fd(int fd, struct mcs_buf *b, int pass)
{
	ssize_t r = mcs_send_with_fd(fd, b->p, b->len, pass);
	return r < 0 ? (int)r : 0;
}

static int fake(int lfd, int to_client, int from_client)
{
	struct mcs_segment seg = { .fd = -1 }, ubuf = { .fd = -1 };
	struct mcs_buf b, late;
	mcs_buf_init(&b);
	mcs_buf_init(&late);
	uint8_t body[4096];
	struct mcs_hdr h;
	const char *where = "accept";
	int r, sock = -1;
	bool fell_back;

	if ((r = wait_in(lfd)) < 0)
		goto out;
	if ((sock = accept(lfd, NULL, NULL)) < 0) {
		r = -errno;
		goto out;
	}

	/* HELLO: the segment memfd rides on the answer; no master named */
	where = "HELLO";
	if ((r = expect_req(sock, MCS_OP_HELLO, &h, body, sizeof(body))) < 0)
		goto out;
	if ((r = mcs_segment_create("fake-seg", SEG_SIZE, MCS_SEG_NORMAL, false, &seg, &fell_back)) < 0)
		goto out;
	struct mcs_hello_resp hr = {
		.node = mcs_str_c("fake"),
		.segment = mcs_str_c("fake-seg"),
		.segment_size = seg.size,
		.max_body = 1u << 20,
		.master = mcs_str_c(""),
	};
	answer_begin(&b, &h, 0);
	mcs_enc_hello_resp(&b, &hr);
	if ((r = mcs_frame_end(&b)) < 0 || (r = send_frame_fd(sock, &b, seg.fd)) < 0)
		goto out;

	/* the request that times out: answer only its first bytes */
	where = "the late request";
	size_t cut;
	if (variant == BODY) {
		if ((r = expect_req(sock, MCS_OP_STAT, &h, body, sizeof(body))) < 0)
			goto out;
		struct mcs_seg_stat ss[8];
		for (unsigned i = 0; i < 8; i++)
			ss[i] = (struct mcs_seg_stat){ .name = mcs_str_c("a-segment-name"),
						       .node = mcs_str_c("a-node"),
						       .size = 1u << 30,
						       .used = i,
						       .n_allocs = i };
		struct mcs_stat_resp sr = { .n_objects = 7, .capacity = 8ull << 30, .n_segments = 8, .segments = ss };
		answer_begin(&late, &h, 0);
		mcs_enc_stat_resp(&late, &sr);
		if ((r = mcs_frame_end(&late)) < 0)
			goto out;
		cut = MCS_HDR_SIZE + (late.len - MCS_HDR_SIZE) / 2;  /* inside the body */
	} else {
		if ((r = expect_req(sock, MCS_OP_EXIST, &h, body, sizeof(body))) < 0)
			goto out;
		answer_begin(&late, &h, 0);
		if ((r = mcs_frame_end(&late)) < 0)
			goto out;
		cut = 10;                                           /* inside the header */
	}
	uint64_t late_id = h.req_id;
	if ((r = send_all(sock, late.p, cut)) < 0)
		goto out;
	where = "the client's timeout";
	struct pollfd pf = { .fd = from_client, .events = POLLIN };
	if (poll(&pf, 1, WAIT_MS) != 1 || !pipe_get(from_client, 'T')) {
		r = -ETIMEDOUT;
		goto out;
	}

	/* BUF_ALLOC; the answer comes after the rest of the late frame */
	where = "BUF_ALLOC";
	if ((r = mcs_segment_create("fake-buf", BUF_SIZE, MCS_SEG_NORMAL, false, &ubuf, &fell_back)) < 0)
		goto out;
	for (size_t i = 0; i < BUF_SIZE; i++)
		((uint8_t *)ubuf.base)[i] = pattern(1, i);
	struct mcs_hdr ah = { .opcode = MCS_OP_BUF_ALLOC, .req_id = late_id + 1 };
	struct mcs_buf_alloc_resp ar = { .buf_id = 77, .size = ubuf.size };
	answer_begin(&b, &ah, 0);
	mcs_enc_buf_alloc_resp(&b, &ar);
	if ((r = mcs_frame_end(&b)) < 0)
		goto out;
	if (variant == SPLIT) {
		pipe_put(to_client, 'G');
		if ((r = expect_req(sock, MCS_OP_BUF_ALLOC, &h, body, sizeof(body))) < 0)
			goto out;
		if ((r = send_all(sock, late.p + cut, late.len - cut)) < 0)
			goto out;
		/* the client reads the rest alone, then waits for the answer */
		nanosleep(&(struct timespec){ .tv_nsec = 50 * 1000 * 1000 }, NULL);
		if ((r = send_frame_fd(sock, &b, ubuf.fd)) < 0)
			goto out;
	} else {
		/* both on the socket before the client asks: one greedy recv
		 * would take the rest and the answer, and drop its fd */
		if ((r = send_all(sock, late.p + cut, late.len - cut)) < 0 ||
		    (r = send_frame_fd(sock, &b, ubuf.fd)) < 0)
			goto out;
		pipe_put(to_client, 'G');
		if ((r = expect_req(sock, MCS_OP_BUF_ALLOC, &h, body, sizeof(body))) < 0)
			goto out;
	}
	struct mcs_buf_alloc_req aq = { 0 };
	int dr = mcs_dec_buf_alloc_req(body, h.body_len, &aq);
	step(h.req_id == late_id + 1 && dr == 0 && aq.size == BUF_SIZE, "order",
	     "BUF_ALLOC came with request id %llu (late one %llu), size %llu", (unsigned long long)h.req_id,
	     (unsigned long long)late_id, (unsigned long long)aq.size);

	/* the client wrote into the buffer before this EXIST */
	where = "the EXIST after the buffer";
	if ((r = expect_req(sock, MCS_OP_EXIST, &h, body, sizeof(body))) < 0)
		goto out;
	size_t i;
	for (i = 0; i < BUF_SIZE && ((uint8_t *)ubuf.base)[i] == pattern(2, i); i++)
		;
	step(i == BUF_SIZE, "shared", "byte %zu of the buffer is not what the client wrote", i);
	if ((r = answer_status(sock, &b, &h, 0)) < 0)
		goto out;

	where = "BUF_FREE";
	if ((r = expect_req(sock, MCS_OP_BUF_FREE, &h, body, sizeof(body))) < 0)
		goto out;
	struct mcs_buf_free_req fq = { 0 };
	int fr = mcs_dec_buf_free_req(body, h.body_len, &fq);
	step(fr == 0 && fq.buf_id == ar.buf_id, "free", "BUF_FREE names buffer %u, not %u", fq.buf_id, ar.buf_id);
	if ((r = answer_status(sock, &b, &h, 0)) < 0)
		goto out;
	/* then the client closes: nothing more may come */
	where = "the close";
	r = read_req(sock, &h, body, sizeof(body));
	r = r == -ECONNRESET ? 0 : r == 0 ? -EPROTO : r;
out:
	if (r < 0)
		fprintf(stderr, "fake-daemon: at %s: %s\n", where, mcs_strerror(r));
	/* (closing the pipe and the socket ends a client stuck in a wait) */
	close(to_client);
	if (sock >= 0)
		close(sock);
	mcs_segment_close(&seg);
	mcs_segment_close(&ubuf);
	mcs_buf_free(&b);
	mcs_buf_free(&late);
	return r;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[2], "split") && strcmp(argv[2], "together") && strcmp(argv[2], "body"))) {
		fprintf(stderr, "usage: fake-daemon SOCKET split|together|body\n");
		return 2;
	}
	variant = !strcmp(argv[2], "split") ? SPLIT : !strcmp(argv[2], "together") ? TOGETHER : BODY;
	const char *path = argv[1];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "fake-daemon: socket path too long\n");
		return 2;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	unlink(path);
	int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(lfd, 4) < 0) {
		perror("fake-daemon: listen");
		return 1;
	}
	int c2f[2], f2c[2];
	if (pipe(c2f) < 0 || pipe(f2c) < 0) {
		perror("fake-daemon: pipe");
		return 1;
	}
	/* neither side may hang the test */
	alarm(90);
	pid_t pid = fork();
	if (pid < 0) {
		perror("fake-daemon: fork");
		return 1;
	}
	if (pid == 0) {
		close(lfd);
		close(c2f[0]);
		close(f2c[1]);
		int st = run_client(path, c2f[1], f2c[0]);
		close(c2f[1]);
		close(f2c[0]);
		exit(st);
	}
	close(c2f[1]);
	close(f2c[0]);
	int r = fake(lfd, f2c[1], c2f[0]);
	close(c2f[0]);
	close(lfd);
	unlink(path);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	step(r == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0, "done",
	     "the fake %s, the client %s %d", r == 0 ? "finished" : "stopped early",
	     WIFEXITED(st) ? "exited" : "was killed by signal", WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
	return failed ? 1 : 0;
}
