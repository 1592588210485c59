/* SPDX-License-Identifier: MIT */
/*
 * Hostile peer for the integration tests: connects to the master's TCP
 * port or a node's unix socket and sends what a broken or malicious peer
 * would: random bytes, truncated frames, absurd lengths, well-framed
 * garbage bodies for every opcode, response frames, many half-open
 * connections. For each case it checks that the server either answers with
 * an error status or closes the connection, within a bounded time.
 *
 *   garbage tcp HOST PORT | garbage unix PATH
 *   garbage halfput PATH KEY [SIZE] | halfview PATH KEY | forge PATH KEY
 *
 * With GARBAGE_KEY=FILE (a cluster key), every TCP connection first
 * authenticates as a client: the garbage then comes from an insider.
 *
 * Exit 0 when every case behaved; the caller then checks the server is
 * still alive and serving.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth/auth.h"
#include "mcstore.h"
#include "proto/proto.h"

static const char *mode, *arg1, *arg2;
static struct mcs_keys keys; /* GARBAGE_KEY */
static bool data_port; /* a node's data port: no metadata service behind it */
static unsigned failures;
static uint64_t rng = 0x1234567;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static int dial(void)
{
	int fd;
	if (strcmp(mode, "tcp") == 0) {
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(arg2)) };
		inet_pton(AF_INET, arg1, &sa.sin_addr);
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			fd = -1;
		}
	} else {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", arg1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		fprintf(stderr, "garbage: cannot connect: %s\n", strerror(errno));
		exit(1);
	}
	if (keys.on && strcmp(mode, "unix") != 0) {
		int r = mcs_auth_connect(&keys, MCS_ROLE_CLIENT, fd, 30000);
		if (r < 0) {
			fprintf(stderr, "garbage: cannot authenticate: %s\n", strerror(-r));
			exit(1);
		}
	}
	return fd;
}

static void send_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return; /* the server may close mid-way: that is allowed */
		c += w;
		n -= (size_t)w;
	}
}

/* Wait for the server's reaction: 1 = closed, 2 = error response,
 * 3 = success response, 0 = nothing within the timeout. */
static int reaction(int fd, int timeout_ms, int32_t *ret_status)
{
	uint8_t hb[MCS_HDR_SIZE];
	size_t got = 0;
	while (got < sizeof(hb)) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, timeout_ms) <= 0)
			return 0;
		ssize_t r = recv(fd, hb + got, sizeof(hb) - got, 0);
		if (r <= 0)
			return 1;
		got += (size_t)r;
	}
	struct mcs_hdr h;
	if (mcs_hdr_decode(hb, 1u << 30, &h) < 0)
		return 0;
	/* drain the body */
	char sink[4096];
	size_t left = h.body_len;
	while (left) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, timeout_ms) <= 0)
			break;
		ssize_t r = recv(fd, sink, left < sizeof(sink) ? left : sizeof(sink), 0);
		if (r <= 0)
			break;
		left -= (size_t)r;
	}
	*ret_status = h.status;
	return h.status < 0 ? 2 : 3;
}

static void expect(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "garbage: FAILED: %s\n", what);
		failures++;
	}
}

static size_t mkhdr(uint8_t *out, uint16_t op, uint8_t flags, uint64_t id, uint32_t len)
{
	struct mcs_hdr h = { .magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .flags = flags,
			     .opcode = op, .req_id = id, .body_len = len };
	mcs_hdr_encode(&h, out);
	return MCS_HDR_SIZE;
}

/* On the unix socket, requests before HELLO are refused; say hello so
 * that the garbage bodies reach the decoders behind it. */
static void hello(int fd)
{
	if (strcmp(mode, "unix") != 0)
		return;
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_frame_begin(&b, MCS_OP_HELLO, 0, 0, 1);
	struct mcs_hello_req q = { .client_version = MCS_PROTO_VERSION, .pid = (uint32_t)getpid() };
	mcs_enc_hello_req(&b, &q);
	mcs_frame_end(&b);
	send_all(fd, b.p, b.len);
	mcs_buf_free(&b);
	/* the answer carries an fd: receiving without a cmsg buffer drops it */
	int32_t st = 0;
	expect(reaction(fd, 5000, &st) == 3, "hello is answered");
}

/* A client that dies half-way: `garbage halfput PATH KEY SIZE` starts a
 * put and exits without ending it; `garbage halfview PATH KEY` takes a
 * zero-copy hold and exits without releasing it. Exit 0 once the daemon
 * confirmed the first step. */
static int half_way(const char *what, const char *path, const char *key, uint64_t size)
{
	mode = "unix";
	arg1 = path;
	int fd = dial();
	hello(fd);
	struct mcs_buf b;
	mcs_buf_init(&b);
	if (strcmp(what, "halfput") == 0) {
		mcs_frame_begin(&b, MCS_OP_PUT_START, 0, 0, 2);
		struct mcs_put_start_req q = { .key = mcs_str_c(key), .value_len = size, .n_slices = 1,
					       .slice_lens = &size };
		q.cfg.replica_num = 1;
		mcs_enc_put_start_req(&b, &q);
	} else {
		mcs_frame_begin(&b, MCS_OP_GET_REPLICAS, 0, 0, 2);
		struct mcs_get_req q = { .key = mcs_str_c(key), .flags = MCS_GET_HOLD };
		mcs_enc_get_req(&b, &q);
	}
	mcs_frame_end(&b);
	send_all(fd, b.p, b.len);
	mcs_buf_free(&b);
	int32_t st = 0;
	int r = reaction(fd, 5000, &st);
	if (r != 3) {
		fprintf(stderr, "garbage: %s %s: no success answer (reaction %d, status %d)\n", what, key, r, st);
		return 1;
	}
	/* exit without PUT_END / RELEASE: the daemon must clean up; with
	 * HANG_SECONDS set, first hang with the connection open (a stuck
	 * writer: only the master's put timeout can help) */
	const char *hang = getenv("HANG_SECONDS");
	if (hang) {
		printf("started, hanging\n");
		fflush(stdout);
		sleep((unsigned)atoi(hang));
	}
	return failures ? 1 : 0;
}

/* Another client's hold or pending put, through the daemon's relay (where
 * the master sees one owner, the node): `garbage forge PATH KEY` sends a
 * RELEASE of KEY for every hold id from 1 to 4096 (they used to be
 * sequential), then PUT_END and PUT_REVOKE of KEY; every one must be
 * refused, since this client holds and puts nothing. Exit 0 if all were. */
static int forge(const char *path, const char *key)
{
	mode = "unix";
	arg1 = path;
	int fd = dial();
	hello(fd);
	unsigned taken = 0;
	for (uint64_t id = 1; id <= 4096; id++) {
		struct mcs_buf b;
		mcs_buf_init(&b);
		mcs_frame_begin(&b, MCS_OP_RELEASE, 0, id, 2);
		struct mcs_release_req q = { .key = mcs_str_c(key), .hold_id = id };
		mcs_enc_release_req(&b, &q);
		mcs_frame_end(&b);
		send_all(fd, b.p, b.len);
		mcs_buf_free(&b);
		int32_t st = 0;
		int r = reaction(fd, 30000, &st);
		if (r != 2) {
			fprintf(stderr, "garbage: RELEASE %s id %llu: reaction %d, status %d\n", key,
				(unsigned long long)id, r, (int)st);
			taken++;
		}
	}
	expect(taken == 0, "no RELEASE of another client's hold is taken");
	for (int op = 0; op < 2; op++) {
		struct mcs_buf b;
		mcs_buf_init(&b);
		mcs_frame_begin(&b, op ? MCS_OP_PUT_REVOKE : MCS_OP_PUT_END, 0, 9000 + (uint64_t)op, 2);
		if (op) {
			struct mcs_key_req q = { .key = mcs_str_c(key) };
			mcs_enc_key_req(&b, &q);
		} else {
			struct mcs_put_end_req q = { .key = mcs_str_c(key), .checksum = 42 };
			mcs_enc_put_end_req(&b, &q);
		}
		mcs_frame_end(&b);
		send_all(fd, b.p, b.len);
		mcs_buf_free(&b);
		int32_t st = 0;
		int r = reaction(fd, 30000, &st);
		printf("%s %d\n", op ? "PUT_REVOKE" : "PUT_END", r == 2 ? (int)st : 0);
		expect(r == 2, op ? "another client's PUT_REVOKE is refused" : "another client's PUT_END is refused");
	}
	printf("releases taken %u\n", taken);
	fflush(stdout);
	close(fd);
	return failures ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "forge") == 0)
		return forge(argv[2], argv[3]);
	if (argc >= 4 && strcmp(argv[1], "halfput") == 0)
		return half_way(argv[1], argv[2], argv[3], argc > 4 ? strtoull(argv[4], NULL, 0) : 4096);
	if (argc >= 4 && strcmp(argv[1], "halfview") == 0)
		return half_way(argv[1], argv[2], argv[3], 0);
	const char *kf = getenv("GARBAGE_KEY"), *why = NULL;
	if (kf && *kf && mcs_keys_load(kf, &keys, &why) < 0) {
		fprintf(stderr, "garbage: %s: %s\n", kf, why ? why : "cannot read it");
		return 2;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: garbage tcp|data HOST PORT | garbage unix PATH\n"
				"       garbage halfput PATH KEY [SIZE] | garbage halfview PATH KEY\n"
				"       garbage forge PATH KEY\n");
		return 2;
	}
	mode = argv[1];
	if (strcmp(mode, "data") == 0) {
		mode = "tcp";
		data_port = true;
	}
	arg1 = argv[2];
	arg2 = argc > 3 ? argv[3] : "";
	uint8_t buf[70000];
	int32_t st;
	int fd, r;
	unsigned cases = 0;

	/* 1. random bytes: bad magic closes */
	for (int i = 0; i < 20; i++, cases++) {
		fd = dial();
		size_t n = 24 + rnd() % 2000;
		for (size_t j = 0; j < n; j++)
			buf[j] = (uint8_t)rnd();
		send_all(fd, buf, n);
		r = reaction(fd, 5000, &st);
		expect(r == 1 || r == 2, "random bytes close or error");
		close(fd);
	}
	/* 2. truncated header, then hang up */
	for (int cut = 1; cut < MCS_HDR_SIZE; cut += 5, cases++) {
		fd = dial();
		mkhdr(buf, MCS_OP_PING, 0, 7, 0);
		send_all(fd, buf, (size_t)cut);
		close(fd);
	}
	/* 3. absurd body length: closes */
	fd = dial();
	mkhdr(buf, MCS_OP_PUT_START, 0, 1, 0xffffffffu);
	send_all(fd, buf, MCS_HDR_SIZE);
	expect(reaction(fd, 5000, &st) == 1, "absurd body length closes");
	close(fd);
	cases++;
	/* 3b. on the data port, whose requests are a few hundred bytes, a
	 * header declaring a 1 MiB body closes at once, before any body is
	 * buffered (issue 14, finding 8: it used to wait for the body) */
	if (data_port) {
		fd = dial();
		mkhdr(buf, MCS_OP_DATA_READ, 0, 1, 1u << 20);
		send_all(fd, buf, MCS_HDR_SIZE);
		expect(reaction(fd, 30000, &st) == 1, "a 1 MiB body on the data port closes at once");
		close(fd);
		cases++;
	}
	/* 3c. on every port, a request whose header declares more than its
	 * opcode can need (a GET_REPLICAS of 64 KiB: a key is 4 KiB at most)
	 * closes at once too, though --max-frame is far above (issue 14:
	 * frame sizes per opcode) */
	fd = dial();
	mkhdr(buf, MCS_OP_GET_REPLICAS, 0, 1, 64u << 10);
	send_all(fd, buf, MCS_HDR_SIZE);
	expect(reaction(fd, 30000, &st) == 1, "a 64 KiB GET_REPLICAS closes at once");
	close(fd);
	cases++;
	/* 4. bad version: closes */
	fd = dial();
	mkhdr(buf, MCS_OP_PING, 0, 1, 0);
	buf[4] = 99;
	send_all(fd, buf, MCS_HDR_SIZE);
	expect(reaction(fd, 5000, &st) == 1, "bad version closes");
	close(fd);
	cases++;
	/* 5. declared body, half sent, hang up */
	fd = dial();
	mkhdr(buf, MCS_OP_PUT_START, 0, 1, 100);
	memset(buf + MCS_HDR_SIZE, 0x41, 50);
	send_all(fd, buf, MCS_HDR_SIZE + 50);
	close(fd);
	cases++;
	/* 6. every opcode with random bodies of random lengths: an error
	 * answer and the connection stays usable */
	fd = dial();
	hello(fd);
	for (unsigned op = 0; op < 40; op++) {
		for (int k = 0; k < 30; k++, cases++) {
			uint32_t len = (uint32_t)(rnd() % 300);
			if (op == MCS_OP_PING || op == MCS_OP_HELLO)
				len = len ? len : 1;
			mkhdr(buf, (uint16_t)op, 0, 1000 + op * 100 + (unsigned)k, len);
			for (uint32_t j = 0; j < len; j++)
				buf[MCS_HDR_SIZE + j] = (uint8_t)rnd();
			send_all(fd, buf, MCS_HDR_SIZE + len);
			r = reaction(fd, 5000, &st);
			if (r == 1) {
				/* allowed (e.g. a request the role never serves), reconnect */
				close(fd);
				fd = dial();
				hello(fd);
				continue;
			}
			if (op == MCS_OP_PING)
				expect(r == 2 || r == 3, "ping with a body is answered");
			else if (op == MCS_OP_REMOVE_ALL || op == MCS_OP_STAT)
				expect(r == 2, "bodiless request with a body is an error");
			else
				expect(r == 2, "garbage body gets an error status");
		}
	}
	close(fd);
	/* 7. a response frame sent as a request: closed or refused */
	fd = dial();
	mkhdr(buf, MCS_OP_PUT_END, MCS_F_RESPONSE, 5, 0);
	send_all(fd, buf, MCS_HDR_SIZE);
	r = reaction(fd, 5000, &st);
	expect(r == 1 || r == 2, "response frame refused");
	close(fd);
	cases++;
	/* 8. an absurd but well-formed put: value_len near 2^63 */
	fd = dial();
	hello(fd);
	{
		struct mcs_buf b;
		mcs_buf_init(&b);
		mcs_frame_begin(&b, MCS_OP_PUT_START, 0, 0, 9);
		uint64_t sl = 1ull << 62;
		struct mcs_put_start_req q = { .key = mcs_str_c("absurd"), .value_len = sl, .n_slices = 1, .slice_lens = &sl };
		q.cfg.replica_num = 1;
		mcs_enc_put_start_req(&b, &q);
		mcs_frame_end(&b);
		send_all(fd, b.p, b.len);
		mcs_buf_free(&b);
		r = reaction(fd, 5000, &st);
		if (data_port)
			expect(r == 1 || r == 2, "a put on the data port is refused");
		else
			expect(r == 2 && st == -ENOSPC, "a 4 EiB put gets 'no space'");
		cases++;
	}
	close(fd);
	/* 9. many half-open connections at once, then all dropped */
	int fds[200];
	for (int i = 0; i < 200; i++) {
		fds[i] = dial();
		mkhdr(buf, MCS_OP_STAT, 0, 1, 10);
		send_all(fds[i], buf, MCS_HDR_SIZE + (size_t)(i % 5));
	}
	for (int i = 0; i < 200; i++)
		close(fds[i]);
	cases++;
	/* 10. a frame split into single bytes still works */
	fd = dial();
	hello(fd);
	mkhdr(buf, MCS_OP_PING, 0, 77, 0);
	for (int i = 0; i < MCS_HDR_SIZE; i++)
		send_all(fd, buf + i, 1);
	r = reaction(fd, 5000, &st);
	expect(r == 3, "ping sent byte by byte is answered");
	close(fd);
	cases++;

	printf("garbage %s: %u cases, %u failed\n", mode, cases, failures);
	return failures ? 1 : 0;
}
