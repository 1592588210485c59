/* SPDX-License-Identifier: MIT */
/*
 * A raw peer for the bounds tests (issue 14): it speaks frames by hand to
 * the master's port, a node's data port or a node's unix socket (HOST
 * "unix", PORT the socket's path), and does what a broken or hostile peer
 * would, reporting what the server did about it.
 *
 *   peer-client half HOST PORT SECONDS    half a header, then wait for the close
 *   peer-client silent HOST PORT SECONDS  nothing at all, then wait for the close
 *   peer-client auth-silent HOST PORT SECONDS  AUTH (a keyed server answers
 *                                        it), then nothing, then wait
 *   peer-client ping HOST PORT            one PING answered: exit 0
 *   peer-client flood HOST PORT N         N STATs written without reading; once a
 *                                         line comes on stdin, read all N answers
 *   peer-client pings HOST PORT N GAP_MS  N PINGs, GAP_MS apart; prints the
 *                                         slowest answer's time
 *   peer-client blackhole PORT            listen on 127.0.0.1:PORT with a full
 *                                         backlog: connects there hang (SYNs
 *                                         dropped) until killed
 *   peer-client conns HOST PORT N SECONDS N connections, each PINGs; prints
 *                                         "served S closed C", holds them until
 *                                         killed
 *   peer-client leader HOST PORT         LEADER, then EXIST of a key: prints "leader
 *                                         ADDR term T self|standby" and "exist STATUS";
 *                                         "unix SOCK": HELLO first, and the node's
 *                                         daemon answers (never "self")
 *   peer-client put-hold unix SOCK KEY LEN  a put left half-way: HELLO, PUT_START
 *                                         of KEY (LEN bytes), prints "started"; once
 *                                         a line comes on stdin, PUT_END; prints
 *                                         "end STATUS", exit 0 if it was refused
 *
 *   peer-client put-acks HOST PORT       a node (MOUNT asking to answer notices) and a
 *                                         client with a direct link: a PUT_END is answered
 *                                         after the node answers its REPLICA_ADD (a PING
 *                                         sent after it is answered first); a forged
 *                                         answer closes the node's link, and a put whose
 *                                         one node went away unanswered is refused
 *                                         (ENOLINK); prints each step
 *
 * PEER_BIND=ADDR: TCP connections come from that address (another of
 * 127.0.0.0/8, to be another peer).
 *
 * Exit 0 when the server did what the mode expects, 1 otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "proto/proto.h"

static const char *host, *port;

static int dial(void)
{
	int fd;
	if (strcmp(host, "unix") == 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", port);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			close(fd);
			fd = -1;
		}
		return fd;
	}
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	inet_pton(AF_INET, host, &sa.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	const char *from = getenv("PEER_BIND");
	if (fd >= 0 && from) {
		struct sockaddr_in b = { .sin_family = AF_INET };
		inet_pton(AF_INET, from, &b.sin_addr);
		if (bind(fd, (struct sockaddr *)&b, sizeof(b)) < 0) {
			perror("bind");
			close(fd);
			return -1;
		}
	}
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void frame(uint8_t out[MCS_HDR_SIZE], uint16_t opcode, uint64_t req_id)
{
	struct mcs_hdr h = { .magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .opcode = opcode,
			     .req_id = req_id };
	mcs_hdr_encode(&h, out);
}

static bool write_all(int fd, const void *p, size_t len)
{
	const uint8_t *b = p;
	while (len > 0) {
		ssize_t n = send(fd, b, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		b += n;
		len -= (size_t)n;
	}
	return true;
}

static bool read_all(int fd, void *p, size_t len)
{
	uint8_t *b = p;
	while (len > 0) {
		ssize_t n = recv(fd, b, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		b += n;
		len -= (size_t)n;
	}
	return true;
}

/* One answer: its header, its body skipped. */
static bool read_answer(int fd, struct mcs_hdr *h)
{
	uint8_t hb[MCS_HDR_SIZE], skip[4096];
	if (!read_all(fd, hb, sizeof(hb)) || mcs_hdr_decode(hb, 1u << 30, h) < 0)
		return false;
	for (size_t left = h->body_len; left > 0;) {
		size_t k = left < sizeof(skip) ? left : sizeof(skip);
		if (!read_all(fd, skip, k))
			return false;
		left -= k;
	}
	return true;
}

/* Wait up to ms for the server to close fd: true if it did. */
static bool closed_within(int fd, uint64_t ms)
{
	uint64_t end = now_ms() + ms;
	for (;;) {
		uint64_t t = now_ms();
		if (t >= end)
			return false;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int r = poll(&p, 1, (int)(end - t));
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		uint8_t b[256];
		ssize_t n = recv(fd, b, sizeof(b), 0);
		if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN))
			return true;
	}
}

/* half: half a header; auth: the first step of the handshake (AUTH with
 * a nonce), its answer read, and nothing more; else nothing at all. */
static int wait_close(bool half, bool auth, unsigned seconds)
{
	int fd = dial();
	if (fd < 0) {
		perror("connect");
		return 1;
	}
	uint64_t t0 = now_ms();
	if (auth) {
		uint8_t f[MCS_HDR_SIZE + 38] = { 0 };
		struct mcs_hdr h = { .magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .opcode = MCS_OP_AUTH,
				     .req_id = 1, .body_len = 38 };
		mcs_hdr_encode(&h, f);
		f[MCS_HDR_SIZE] = 1;          /* u32 role 1: a client */
		f[MCS_HDR_SIZE + 4] = 32;     /* u16 length of the nonce, then 32 bytes */
		struct mcs_hdr a;
		if (!write_all(fd, f, sizeof(f)) || !read_answer(fd, &a) || a.status != 0) {
			fprintf(stderr, "peer-client: AUTH was not answered\n");
			return 1;
		}
	}
	if (half) {
		uint8_t hb[MCS_HDR_SIZE];
		frame(hb, MCS_OP_PING, 1);
		if (!write_all(fd, hb, MCS_HDR_SIZE / 2))
			return 1;
	}
	bool closed = closed_within(fd, (uint64_t)seconds * 1000);
	if (closed)
		printf("closed after %llu ms\n", (unsigned long long)(now_ms() - t0));
	else
		printf("still open after %u s\n", seconds);
	close(fd);
	return closed ? 0 : 1;
}

static int ping(void)
{
	int fd = dial();
	if (fd < 0) {
		perror("connect");
		return 1;
	}
	uint8_t hb[MCS_HDR_SIZE];
	frame(hb, MCS_OP_PING, 7);
	struct mcs_hdr h;
	bool ok = write_all(fd, hb, sizeof(hb)) && read_answer(fd, &h) && h.req_id == 7 && h.status == 0;
	close(fd);
	printf("%s\n", ok ? "pong" : "no answer");
	return ok ? 0 : 1;
}

static int pings(unsigned n, unsigned gap_ms)
{
	uint64_t worst = 0;
	for (unsigned i = 0; i < n; i++) {
		int fd = dial();
		if (fd < 0) {
			perror("connect");
			return 1;
		}
		uint64_t t0 = now_ms();
		uint8_t hb[MCS_HDR_SIZE];
		frame(hb, MCS_OP_PING, i + 1);
		struct mcs_hdr h;
		bool ok = write_all(fd, hb, sizeof(hb)) && read_answer(fd, &h) && h.status == 0;
		uint64_t t = now_ms() - t0;
		close(fd);
		if (!ok) {
			printf("ping %u not answered\n", i);
			return 1;
		}
		worst = t > worst ? t : worst;
		usleep(gap_ms * 1000);  /* pacing: the pings span the server's retries */
	}
	printf("slowest of %u pings: %llu ms\n", n, (unsigned long long)worst);
	return 0;
}

static int blackhole(uint16_t p)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(p) };
	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 0) < 0) {
		perror("listen");
		return 1;
	}
	/* never accepted: once these fill the queue, SYNs are dropped */
	for (int i = 0; i < 2; i++) {
		int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (c < 0 || (connect(c, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS)) {
			perror("connect");
			return 1;
		}
	}
	printf("ready\n");
	fflush(stdout);
	for (;;)
		pause();
	return 0;
}

struct flood {
	int fd;
	uint64_t n;
	bool ok;
};

static void *flood_write(void *arg)
{
	struct flood *f = arg;
	enum { BATCH = 2048 };
	static uint8_t buf[BATCH * MCS_HDR_SIZE];
	f->ok = true;
	for (uint64_t i = 0; i < f->n && f->ok;) {
		size_t k = 0;
		for (; k < BATCH && i < f->n; k++, i++)
			frame(buf + k * MCS_HDR_SIZE, MCS_OP_STAT, i + 1);
		f->ok = write_all(f->fd, buf, k * MCS_HDR_SIZE);
	}
	if (f->ok)
		printf("wrote %llu\n", (unsigned long long)f->n);
	fflush(stdout);
	return NULL;
}

static int flood(uint64_t n)
{
	struct flood f = { .fd = dial(), .n = n };
	if (f.fd < 0) {
		perror("connect");
		return 1;
	}
	pthread_t t;
	if (pthread_create(&t, NULL, flood_write, &f) != 0)
		return 1;
	printf("flooding\n");
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	uint64_t got = 0;
	struct mcs_hdr h;
	while (got < n && read_answer(f.fd, &h) && h.req_id == got + 1 && h.status == 0 &&
	       (h.flags & MCS_F_RESPONSE))
		got++;
	pthread_join(t, NULL);
	printf("read %llu of %llu in order\n", (unsigned long long)got, (unsigned long long)n);
	fflush(stdout);
	close(f.fd);
	return got == n && f.ok ? 0 : 1;
}

static int conns(unsigned n, unsigned seconds)
{
	int *fd = calloc(n, sizeof(int));
	unsigned served = 0, closed = 0;
	uint8_t hb[MCS_HDR_SIZE];
	frame(hb, MCS_OP_PING, 1);
	for (unsigned i = 0; i < n; i++) {
		fd[i] = dial();
		if (fd[i] >= 0 && !write_all(fd[i], hb, sizeof(hb))) {
			close(fd[i]);
			fd[i] = -1;
		}
		if (fd[i] < 0)
			closed++;
	}
	uint64_t end = now_ms() + (uint64_t)seconds * 1000;
	for (unsigned i = 0; i < n; i++) {
		if (fd[i] < 0)
			continue;
		struct pollfd p = { .fd = fd[i], .events = POLLIN };
		uint64_t t = now_ms();
		struct mcs_hdr h;
		if (t < end && poll(&p, 1, (int)(end - t)) == 1 && read_answer(fd[i], &h) && h.status == 0) {
			served++;
		} else {
			closed++;
			close(fd[i]);
			fd[i] = -1;
		}
	}
	printf("served %u closed %u\n", served, closed);
	fflush(stdout);
	for (;;)
		pause();        /* the test kills it: its connections end with it */
	return 0;
}

/* Send one request (body in b) and read its answer's header, and its
 * body into body[0..cap) when body is not NULL (else skipped). */
static bool call_body(int fd, uint16_t opcode, uint64_t req_id, const struct mcs_buf *b, struct mcs_hdr *ans,
		      uint8_t *body, size_t cap)
{
	uint8_t hb[MCS_HDR_SIZE];
	struct mcs_hdr h = { .magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .opcode = opcode,
			     .req_id = req_id, .body_len = (uint32_t)b->len };
	mcs_hdr_encode(&h, hb);
	if (!write_all(fd, hb, sizeof(hb)) || !write_all(fd, b->p, b->len))
		return false;
	if (!body)
		return read_answer(fd, ans) && ans->req_id == req_id;
	return read_all(fd, hb, sizeof(hb)) && mcs_hdr_decode(hb, (uint32_t)cap, ans) == 0 &&
	       read_all(fd, body, ans->body_len) && ans->req_id == req_id;
}

static bool call(int fd, uint16_t opcode, uint64_t req_id, const struct mcs_buf *b, struct mcs_hdr *ans)
{
	return call_body(fd, opcode, req_id, b, ans, NULL, 0);
}

/* What a master says of who leads, and how it answers a request. */
static int leader(void)
{
	int fd = dial();
	struct mcs_buf b;
	struct mcs_hdr h;
	if (fd < 0) {
		perror("connect");
		return 1;
	}
	mcs_buf_init(&b);
	uint8_t body[4096];
	/* a node's socket: LEADER after HELLO (the memfd it passes is dropped) */
	if (strcmp(host, "unix") == 0) {
		mcs_enc_hello_req(&b, &(struct mcs_hello_req){ MCS_PROTO_VERSION, (uint32_t)getpid() });
		if (!call_body(fd, MCS_OP_HELLO, 9, &b, &h, body, sizeof(body)) || h.status != 0) {
			fprintf(stderr, "peer-client: HELLO refused\n");
			return 1;
		}
		mcs_buf_reset(&b);
	}
	struct mcs_leader_resp a;
	if (!call_body(fd, MCS_OP_LEADER, 1, &b, &h, body, sizeof(body)) || h.status != 0 ||
	    mcs_dec_leader_resp(body, h.body_len, &a) < 0) {
		fprintf(stderr, "peer-client: LEADER refused or not understood\n");
		return 1;
	}
	printf("leader %.*s term %llu %s\n", (int)a.leader.len, a.leader.p, (unsigned long long)a.term,
	       a.flags & MCS_LEADER_SELF ? "self" : "standby");
	mcs_enc_key_req(&b, &(struct mcs_key_req){ mcs_str_c("any-key") });
	if (!call(fd, MCS_OP_EXIST, 3, &b, &h)) {
		printf("exist closed\n");
		return 1;
	}
	printf("exist %s\n", h.status ? mcs_status_text(h.status) : "ok");
	fflush(stdout);
	mcs_buf_free(&b);
	close(fd);
	return 0;
}

static int put_hold(const char *key, uint64_t len)
{
	int fd = dial();
	struct mcs_buf b;
	struct mcs_hdr h;
	if (fd < 0) {
		perror("connect");
		return 1;
	}
	mcs_buf_init(&b);
	mcs_enc_hello_req(&b, &(struct mcs_hello_req){ MCS_PROTO_VERSION, (uint32_t)getpid() });
	if (!call(fd, MCS_OP_HELLO, 1, &b, &h) || h.status != 0) {
		fprintf(stderr, "peer-client: HELLO refused\n");
		return 1;
	}
	mcs_buf_reset(&b);
	struct mcs_put_start_req q = { .key = mcs_str_c(key), .value_len = len, .n_slices = 1, .slice_lens = &len,
				       .cfg = { .replica_num = 1 } };
	mcs_enc_put_start_req(&b, &q);
	if (!call(fd, MCS_OP_PUT_START, 2, &b, &h) || h.status != 0) {
		fprintf(stderr, "peer-client: PUT_START %s: %s\n", key, mcs_status_text(h.status));
		return 1;
	}
	printf("started\n");
	fflush(stdout);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	mcs_buf_reset(&b);
	mcs_enc_put_end_req(&b, &(struct mcs_put_end_req){ mcs_str_c(key), 0 });
	if (!call(fd, MCS_OP_PUT_END, 3, &b, &h)) {
		printf("end closed\n");
		return 1;
	}
	printf("end %s\n", h.status ? mcs_status_text(h.status) : "ok");
	fflush(stdout);
	mcs_buf_free(&b);
	close(fd);
	return h.status != 0 ? 0 : 1;
}

/* Send one request without reading its answer. */
static bool send_req(int fd, uint16_t opcode, uint64_t req_id, const struct mcs_buf *b)
{
	uint8_t hb[MCS_HDR_SIZE];
	struct mcs_hdr h = { .magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .opcode = opcode,
			     .req_id = req_id, .body_len = (uint32_t)b->len };
	mcs_hdr_encode(&h, hb);
	return write_all(fd, hb, sizeof(hb)) && write_all(fd, b->p, b->len);
}

/* The node's side: MOUNT of segment seg asking to answer notices. */
static int ack_node(const char *seg, struct mcs_buf *b)
{
	struct mcs_hdr h;
	int fd = dial();
	if (fd < 0) {
		perror("connect");
		return -1;
	}
	mcs_buf_reset(b);
	struct mcs_mount_req q = { .node = mcs_str_c(seg), .segment = mcs_str_c(seg), .size = 64u << 20,
				   .endpoint = mcs_str_c("127.0.0.1:9"), .incarnation = 7, .flags = MCS_MOUNT_ACKS };
	mcs_enc_mount_req(b, &q);
	if (!call(fd, MCS_OP_MOUNT, 1, b, &h) || h.status != 0) {
		fprintf(stderr, "peer-client: MOUNT of %s refused: %s\n", seg, mcs_status_text(h.status));
		close(fd);
		return -1;
	}
	return fd;
}

/* The client's side: PUT_START of key; then PUT_END and a PING sent
 * together, and the PING's answer read: the PUT_END's must wait. */
static bool put_end_waits(int cfd, const char *key, uint64_t id, struct mcs_buf *b)
{
	struct mcs_hdr h;
	uint64_t len = 4096;
	mcs_buf_reset(b);
	struct mcs_put_start_req q = { .key = mcs_str_c(key), .value_len = len, .n_slices = 1, .slice_lens = &len,
				       .cfg = { .replica_num = 1 } };
	mcs_enc_put_start_req(b, &q);
	if (!call(cfd, MCS_OP_PUT_START, id, b, &h) || h.status != 0) {
		fprintf(stderr, "peer-client: PUT_START %s: %s\n", key, mcs_status_text(h.status));
		return false;
	}
	mcs_buf_reset(b);
	mcs_enc_put_end_req(b, &(struct mcs_put_end_req){ mcs_str_c(key), 0 });
	struct mcs_buf none;
	mcs_buf_init(&none);
	if (!send_req(cfd, MCS_OP_PUT_END, id + 1, b) || !send_req(cfd, MCS_OP_PING, id + 2, &none) ||
	    !read_answer(cfd, &h)) {
		fprintf(stderr, "peer-client: the client's link closed\n");
		return false;
	}
	if (h.req_id != id + 2) {
		printf("%s: PUT_END answered before its node did (%s)\n", key, mcs_status_text(h.status));
		return false;
	}
	printf("%s: PING answered, PUT_END waits\n", key);
	return true;
}

/* The notice the node is sent: a REPLICA_ADD asking for an answer. */
static bool read_notice(int nfd, struct mcs_hdr *h)
{
	if (!read_answer(nfd, h) || h->opcode != MCS_OP_REPLICA_ADD || (h->flags & MCS_F_RESPONSE) || !h->req_id) {
		fprintf(stderr, "peer-client: the node was sent no REPLICA_ADD asking for an answer\n");
		return false;
	}
	return true;
}

static bool answer_notice(int nfd, const struct mcs_hdr *n, uint64_t req_id)
{
	uint8_t hb[MCS_HDR_SIZE];
	struct mcs_hdr h = { .magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .opcode = n->opcode,
			     .flags = MCS_F_RESPONSE, .req_id = req_id };
	mcs_hdr_encode(&h, hb);
	return write_all(nfd, hb, sizeof(hb));
}

static int put_acks(void)
{
	struct mcs_buf b;
	struct mcs_hdr h, n;
	mcs_buf_init(&b);
	int nfd = ack_node("acks-a", &b), cfd = dial();
	if (nfd < 0 || cfd < 0)
		return 1;
	/* 1: answered once the node answers */
	if (!put_end_waits(cfd, "acks-1", 10, &b) || !read_notice(nfd, &n) || !answer_notice(nfd, &n, n.req_id) ||
	    !read_answer(cfd, &h) || h.req_id != 11 || h.status != 0) {
		fprintf(stderr, "peer-client: acks-1's PUT_END not answered 0 after the node's answer\n");
		return 1;
	}
	printf("acks-1: PUT_END answered after the node: %s\n", mcs_status_text(h.status));
	/* 2: an answer to no notice of the node's closes its link; the put
	 * whose one node that was is refused */
	if (!put_end_waits(cfd, "acks-2", 20, &b) || !read_notice(nfd, &n) ||
	    !answer_notice(nfd, &n, n.req_id ^ (1ull << 40)))
		return 1;
	if (!closed_within(nfd, 600000)) {
		fprintf(stderr, "peer-client: a forged answer did not close the node's link\n");
		return 1;
	}
	printf("forged answer: the node's link closed\n");
	close(nfd);
	if (!read_answer(cfd, &h) || h.req_id != 21 || h.status != -ENOLINK) {
		fprintf(stderr, "peer-client: acks-2's PUT_END: %s, not ENOLINK\n", mcs_status_text(h.status));
		return 1;
	}
	printf("acks-2: PUT_END after its node went away: %s\n", mcs_status_text(h.status));
	/* the master serves on: another node, another put */
	if ((nfd = ack_node("acks-b", &b)) < 0 || !put_end_waits(cfd, "acks-3", 30, &b) || !read_notice(nfd, &n) ||
	    !answer_notice(nfd, &n, n.req_id) || !read_answer(cfd, &h) || h.req_id != 31 || h.status != 0) {
		fprintf(stderr, "peer-client: acks-3 not stored after the forged answer\n");
		return 1;
	}
	printf("acks-3: stored on another node: %s\n", mcs_status_text(h.status));
	mcs_buf_free(&b);
	close(nfd);
	close(cfd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "blackhole") == 0)
		return blackhole((uint16_t)atoi(argv[2]));
	if (argc < 4) {
		fprintf(stderr, "usage: peer-client half|silent|ping|pings|flood|conns HOST PORT [N] [SECONDS|GAP_MS]\n"
				"       peer-client blackhole PORT\n");
		return 2;
	}
	const char *mode = argv[1];
	host = argv[2];
	port = argv[3];
	if (strcmp(mode, "half") == 0 && argc == 5)
		return wait_close(true, false, (unsigned)atoi(argv[4]));
	if (strcmp(mode, "silent") == 0 && argc == 5)
		return wait_close(false, false, (unsigned)atoi(argv[4]));
	if (strcmp(mode, "auth-silent") == 0 && argc == 5)
		return wait_close(false, true, (unsigned)atoi(argv[4]));
	if (strcmp(mode, "pings") == 0 && argc == 6)
		return pings((unsigned)atoi(argv[4]), (unsigned)atoi(argv[5]));
	if (strcmp(mode, "ping") == 0)
		return ping();
	if (strcmp(mode, "flood") == 0 && argc == 5)
		return flood(strtoull(argv[4], NULL, 10));
	if (strcmp(mode, "leader") == 0)
		return leader();
	if (strcmp(mode, "put-acks") == 0)
		return put_acks();
	if (strcmp(mode, "put-hold") == 0 && argc == 6)
		return put_hold(argv[4], strtoull(argv[5], NULL, 10));
	if (strcmp(mode, "conns") == 0 && argc == 6)
		return conns((unsigned)atoi(argv[4]), (unsigned)atoi(argv[5]));
	fprintf(stderr, "peer-client: bad arguments\n");
	return 2;
}
