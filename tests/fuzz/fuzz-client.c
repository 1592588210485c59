/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: libmcstore's decoding of what a hostile or broken daemon
 * or master answers (libmcstore/). A fake daemon (a thread of this
 * program, on a unix socket, with a real sealed segment it passes at HELLO)
 * answers HELLO itself, then answers every later request, on its socket
 * and on the data connections the library opens to the nodes that handles
 * name, with the next answer taken from the input; out of answers, or idle
 * for a moment (the library waits for bytes that are not coming), it hangs
 * up. Every connection to a node goes to the fake's TCP listener on
 * 127.0.0.1, whatever the handle says (mcs_tcp_connect is wrapped): no
 * input makes this program talk to anyone else.
 *
 * The input: one byte choosing the call (get, get into a buffer the
 * library allocates, put, batches, a view, exists, stat, list, remove),
 * one byte for the value's size, then answers, each
 *
 *   u8 ctl, u16 len, len bytes
 *
 * ctl bit 0: the bytes are sent as they are (a whole frame, or garbage);
 * otherwise a response header to the request is made (its opcode and
 * req_id; ctl bit 1: status -(ctl >> 2), else 0) with the bytes as body,
 * or with bit 6 the first byte is the body's length, and what follows the
 * body is sent raw after it (a DATA_READ answer's payload); bit 7: the
 * segment's memfd goes with it (a BUF_ALLOC answer). The seeds
 * (tests/fuzz/corpus/client) are written by this program when
 * MCS_FUZZ_WRITE_SEEDS names a directory.
 *
 * Beyond "no crash, no leak, no hang" (the library's own timeout is short;
 * libFuzzer's -timeout catches a loop): every call returns a status or a
 * size the caller's buffer holds.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <xxhash.h>

#include "common/util.h"
#include "mcstore.h"
#include "proto/proto.h"
#include "shm/shm.h"
#include "tests/fuzz/fuzz.h"

const char fuzz_target_name[] = "client";

#define SEG_SIZE (1u << 20)
#define IDLE_MS 20          /* the fake hangs up when no request came for this long */
#define MAX_CONNS 16
#define MAX_VALUE (1u << 16)

static struct mcs_segment seg;
/* MCS_FUZZ_DEBUG=1: what each call returned, to see how far seeds get */
static bool debug;
static char sock_dir[64], path[128];
static int lfd = -1, tfd = -1;
static uint16_t tport;

/* mcs_get_alloc() allocates the size the daemon says the object has, as
 * it should: a hostile one may name any size, and malloc's refusal is an
 * answer (-ENOMEM) rather than a sanitizer's error. Allocations above
 * 1 GiB are refused: under ASan even an untouched one costs its shadow
 * (an eighth of it, written when it is freed), so a 16 GiB one passed
 * libFuzzer's 2 GiB RSS limit (seed get-alloc-16gib). */
const char *__asan_default_options(void);
__attribute__((visibility("default"))) const char *__asan_default_options(void)
{
	return "allocator_may_return_null=1:max_allocation_size_mb=1024";
}

/* every connection to a node goes to the fake */
int __real_mcs_tcp_connect(const char *host, uint16_t port, int timeout_ms, const char **ret_why);
int __wrap_mcs_tcp_connect(const char *host, uint16_t port, int timeout_ms, const char **ret_why);
int __wrap_mcs_tcp_connect(const char *host, uint16_t port, int timeout_ms, const char **ret_why)
{
	return __real_mcs_tcp_connect("127.0.0.1", tport, timeout_ms, ret_why);
}

static void cleanup(void)
{
	unlink(path);
	rmdir(sock_dir);
}

/* ---- the seeds ------------------------------------------------------------------ */

static void seed_answer(struct mcs_buf *b, uint8_t ctl, const void *p, size_t n)
{
	mcs_buf_put_u8(b, ctl);
	mcs_buf_put_u16(b, (uint16_t)n);
	mcs_buf_put_bytes(b, p, n);
}

/* An answer whose body is what enc made of m. */
#define SEED_MSG(b, ctl, enc, ...)                                 \
	do {                                                       \
		struct mcs_buf m_;                                 \
		mcs_buf_init(&m_);                                 \
		enc(&m_, &(__VA_ARGS__));                          \
		FUZZ_ASSERT(m_.err == 0);                          \
		seed_answer(b, ctl, m_.p, m_.len);                 \
		mcs_buf_free(&m_);                                 \
	} while (0)

static void seed_write(const char *dir, const char *name, struct mcs_buf *b)
{
	FUZZ_ASSERT(b->err == 0);
	fuzz_seed_write(dir, name, b->p, b->len);
	mcs_buf_reset(b);
}

/* A DATA_READ or DATA_READV answer of n zero bytes: its body (data_resp)
 * then the payload. */
static void seed_data_read(struct mcs_buf *b, uint64_t n)
{
	struct mcs_buf m;
	mcs_buf_init(&m);
	mcs_enc_data_resp(&m, &(struct mcs_data_resp){ n });
	mcs_buf_put_u8(b, 0x40);
	mcs_buf_put_u16(b, (uint16_t)(1 + m.len + n));
	mcs_buf_put_u8(b, (uint8_t)m.len);
	mcs_buf_put_bytes(b, m.p, m.len);
	for (uint64_t i = 0; i < n; i++)
		mcs_buf_put_u8(b, 0);
	mcs_buf_free(&m);
}

static void write_seeds(const char *dir)
{
	static uint8_t zeros[1024];
	uint64_t sum = XXH3_64bits(zeros, sizeof(zeros));
	/* incarnation 0 is the fake's (its HELLO): the local replica is ours */
	struct mcs_handle local = { mcs_str_c("fuzz-seg"), mcs_str_c("fuzz-node"), mcs_str_c(""), 4096, 1024, 0,
				    mcs_str_c("") };
	struct mcs_handle remote[2] = { { mcs_str_c("far-seg"), mcs_str_c("far"), mcs_str_c("127.0.0.1:7000"), 0, 512,
					  7, mcs_str_c("") },
					{ mcs_str_c("far-seg"), mcs_str_c("far"), mcs_str_c("127.0.0.1:7000"), 8192, 512,
					  7, mcs_str_c("") } };
	struct mcs_replica rl = { MCS_REPLICA_COMPLETE, 1, &local }, rr = { MCS_REPLICA_COMPLETE, 2, remote };
	struct mcs_replica both[2] = { rl, rr };
	struct mcs_replica_list ll = { 1, &rl }, lr = { 1, &rr }, l2 = { 2, both };
	struct mcs_buf b;
	mcs_buf_init(&b);

	/* get (op 0) of 1024 bytes: a local replica, a remote one (direct) */
	mcs_buf_put_u8(&b, 0);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 1024, sum, 0, 5000, ll });
	seed_write(dir, "get-local", &b);
	mcs_buf_put_u8(&b, 0);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 1024, sum, 0, 5000, lr });
	/* its two buffers lie in one segment: one DATA_READV, one answer */
	seed_data_read(&b, 1024);
	seed_write(dir, "get-direct", &b);
	/* the same through the daemon (op 0x20): BUF_ALLOC, then FETCH */
	mcs_buf_put_u8(&b, 0x20);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 1024, sum, 0, 5000, lr });
	SEED_MSG(&b, 0x80, mcs_enc_buf_alloc_resp, (struct mcs_buf_alloc_resp){ 3, 1u << 16 });
	seed_answer(&b, 0, NULL, 0);
	seed_write(dir, "get-relayed", &b);
	/* get_alloc (op 1), two replicas */
	mcs_buf_put_u8(&b, 1);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 1024, sum, 0, 0, l2 });
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 1024, sum, 0, 5000, l2 });
	seed_write(dir, "get-alloc", &b);
	/* get_alloc of a size a hostile master made up (16 GiB): the malloc
	 * is refused (max_allocation_size_mb, see __asan_default_options) or
	 * made and freed untouched; the get then finds no key */
	struct mcs_replica_list none = { 0, NULL };
	mcs_buf_put_u8(&b, 1);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 16ull << 30, sum, 0, 0, none });
	seed_answer(&b, 2 | (ENOENT << 2), NULL, 0);
	seed_write(dir, "get-alloc-16gib", &b);
	/* issue 14's suspected hang: handle lengths that wrap to the size
	 * (2^64 - 3072 + 4096 = 1024), which cut into chunks would be 2^42 of
	 * them; the sum is checked without overflow, so the replica is refused */
	struct mcs_handle wrap[2] = { remote[0], remote[1] };
	wrap[0].len = UINT64_MAX - 3071;
	wrap[1].len = 4096;
	struct mcs_replica rw = { MCS_REPLICA_COMPLETE, 2, wrap };
	struct mcs_replica_list lw = { 1, &rw };
	mcs_buf_put_u8(&b, 0);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 1024, sum, 0, 5000, lw });
	seed_data_read(&b, 512);
	seed_write(dir, "get-wrapping-handles", &b);
	mcs_buf_put_u8(&b, 2);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_put_start_resp, (struct mcs_put_start_resp){ lw });
	seed_answer(&b, 0, NULL, 0);
	seed_write(dir, "put-wrapping-handles", &b);
	/* a refusal */
	mcs_buf_put_u8(&b, 0);
	mcs_buf_put_u8(&b, 4);
	seed_answer(&b, 2 | (ENOENT << 2), NULL, 0);
	seed_write(dir, "get-enoent", &b);
	/* put (op 2) of 1024 bytes: local, direct, relayed; then PUT_END */
	mcs_buf_put_u8(&b, 2);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_put_start_resp, (struct mcs_put_start_resp){ ll });
	seed_answer(&b, 0, NULL, 0);
	seed_write(dir, "put-local", &b);
	mcs_buf_put_u8(&b, 2 | 0x10);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_put_start_resp, (struct mcs_put_start_resp){ l2 });
	seed_answer(&b, 0, NULL, 0);
	seed_answer(&b, 0, NULL, 0);
	seed_answer(&b, 0, NULL, 0);
	seed_write(dir, "put-direct", &b);
	mcs_buf_put_u8(&b, 2 | 0x20);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_put_start_resp, (struct mcs_put_start_resp){ lr });
	SEED_MSG(&b, 0x80, mcs_enc_buf_alloc_resp, (struct mcs_buf_alloc_resp){ 3, 1u << 16 });
	seed_answer(&b, 0, NULL, 0);
	seed_answer(&b, 0, NULL, 0);
	seed_write(dir, "put-relayed", &b);
	/* batches (ops 3, 4) of two keys of 512 bytes */
	struct mcs_handle half = local;
	half.len = 512;
	struct mcs_replica rh = { MCS_REPLICA_COMPLETE, 1, &half };
	struct mcs_replica_list lh = { 1, &rh };
	mcs_buf_put_u8(&b, 3);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_put_start_resp, (struct mcs_put_start_resp){ lh });
	SEED_MSG(&b, 0, mcs_enc_put_start_resp, (struct mcs_put_start_resp){ lh });
	seed_answer(&b, 0, NULL, 0);
	seed_answer(&b, 0, NULL, 0);
	seed_write(dir, "put-batch", &b);
	mcs_buf_put_u8(&b, 4);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 512, XXH3_64bits(zeros, 512), 0, 5000, lh });
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 512, XXH3_64bits(zeros, 512), 0, 5000, lr });
	seed_data_read(&b, 512);
	seed_data_read(&b, 512);
	seed_write(dir, "get-batch", &b);
	/* a view (op 5): a hold, then RELEASE */
	mcs_buf_put_u8(&b, 5);
	mcs_buf_put_u8(&b, 4);
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 1024, sum, 9, 5000, ll });
	seed_answer(&b, 0, NULL, 0);
	seed_write(dir, "view", &b);
	/* exists and size (op 6), stat (7), locate (8), removes (9) */
	mcs_buf_put_u8(&b, 6);
	mcs_buf_put_u8(&b, 0);
	seed_answer(&b, 0, NULL, 0);
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 1024, sum, 0, 0, ll });
	seed_write(dir, "exists", &b);
	struct mcs_seg_stat segs[1] = { { mcs_str_c("fuzz-seg"), mcs_str_c("fuzz-node"), SEG_SIZE, 4096, 1 } };
	mcs_buf_put_u8(&b, 7);
	mcs_buf_put_u8(&b, 0);
	SEED_MSG(&b, 0, mcs_enc_stat_resp, (struct mcs_stat_resp){ 1, SEG_SIZE, 4096, 1, segs, 2, { 5, 6 } });
	seed_write(dir, "stat", &b);
	mcs_buf_put_u8(&b, 8);
	mcs_buf_put_u8(&b, 0);
	SEED_MSG(&b, 0, mcs_enc_get_resp, (struct mcs_get_resp){ 1024, sum, 0, 0, l2 });
	seed_write(dir, "locate", &b);
	mcs_buf_put_u8(&b, 9);
	mcs_buf_put_u8(&b, 0);
	seed_answer(&b, 0, NULL, 0);
	SEED_MSG(&b, 0, mcs_enc_remove_all_resp, (struct mcs_remove_all_resp){ 7 });
	seed_write(dir, "remove", &b);
	mcs_buf_free(&b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(sock_dir, sizeof(sock_dir), "%s/mcs-fz-XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	FUZZ_ASSERT(mkdtemp(sock_dir));
	snprintf(path, sizeof(path), "%s/mcstored.sock", sock_dir);
	atexit(cleanup);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, path, strlen(path) + 1);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	FUZZ_ASSERT(lfd >= 0 && bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 4) == 0);
	tfd = mcs_tcp_listen("127.0.0.1", 0, 16, &tport, NULL);
	FUZZ_ASSERT(tfd >= 0);
	bool fb;
	FUZZ_ASSERT(mcs_segment_create("fuzz-seg", SEG_SIZE, MCS_SEG_NORMAL, false, &seg, &fb) == 0);
	debug = getenv("MCS_FUZZ_DEBUG") != NULL;
	const char *seeds = getenv("MCS_FUZZ_WRITE_SEEDS");
	if (seeds && *seeds) {
		write_seeds(seeds);
		exit(0);
	}
	return 0;
}

/* ---- the fake ---------------------------------------------------------------- */

struct fake {
	struct fuzz_in in;
	int fds[MAX_CONNS];   /* [0]: the daemon link */
	unsigned n;
};

static bool recv_all(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = recv(fd, p, n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		p = (uint8_t *)p + r;
		n -= (size_t)r;
	}
	return true;
}

static bool send_all(int fd, const void *p, size_t n, int pass_fd)
{
	if (pass_fd >= 0)
		return mcs_send_with_fd(fd, p, n, pass_fd) == (ssize_t)n;
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p = (const uint8_t *)p + w;
		n -= (size_t)w;
	}
	return true;
}

/* One request from fd: false when the connection ended or sent garbage. */
static bool read_request(int fd, struct mcs_hdr *h)
{
	static __thread uint8_t body[1 << 16];
	uint8_t hb[MCS_HDR_SIZE];
	if (!recv_all(fd, hb, sizeof(hb)) || mcs_hdr_decode(hb, sizeof(body), h) < 0 ||
	    !recv_all(fd, body, h->body_len))
		return false;
	if (h->opcode == MCS_OP_DATA_WRITE) {
		struct mcs_data_req q;
		if (mcs_dec_data_req(body, h->body_len, &q) < 0 || q.len > MAX_VALUE)
			return false;
		while (q.len) {
			size_t k = MCS_MIN(q.len, sizeof(body));
			if (!recv_all(fd, body, k))
				return false;
			q.len -= k;
		}
	}
	return true;
}

static void hello(struct fake *f)
{
	struct mcs_hdr h;
	if (!read_request(f->fds[0], &h) || h.opcode != MCS_OP_HELLO)
		return;
	struct mcs_hello_resp hr = { .node = mcs_str_c("fuzz-node"), .segment = mcs_str_c("fuzz-seg"),
				     .segment_size = SEG_SIZE, .max_body = 1u << 20, .master = mcs_str_c("") };
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_frame_begin(&b, MCS_OP_HELLO, MCS_F_RESPONSE, 0, h.req_id);
	mcs_enc_hello_resp(&b, &hr);
	FUZZ_ASSERT(mcs_frame_end(&b) == 0);
	send_all(f->fds[0], b.p, b.len, seg.fd);
	mcs_buf_free(&b);
}

/* Answer h on fd with the next answer of the input; false when none is left. */
static bool answer(struct fake *f, int fd, const struct mcs_hdr *h)
{
	if (debug)
		fprintf(stderr, "fuzz-client: request %s, %zu bytes of answers left\n", mcs_op_name(h->opcode), f->in.n);
	if (!f->in.n)
		return false;
	uint8_t ctl = fuzz_u8(&f->in);
	const uint8_t *p;
	size_t n = fuzz_bytes(&f->in, fuzz_u16(&f->in), &p);
	int pass = ctl & 0x80 ? seg.fd : -1;
	if (ctl & 1)
		return send_all(fd, p, n, pass);
	size_t body = n;
	if (ctl & 0x40 && n) {
		body = MCS_MIN((size_t)p[0], n - 1);
		p++;
		n--;
	}
	struct mcs_hdr rh = { .magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .opcode = h->opcode, .flags = MCS_F_RESPONSE, .req_id = h->req_id,
			      .status = ctl & 2 ? -(int32_t)(ctl >> 2 & 0xf) : 0, .body_len = (uint32_t)body };
	uint8_t hb[MCS_HDR_SIZE];
	mcs_hdr_encode(&rh, hb);
	return send_all(fd, hb, sizeof(hb), pass) && send_all(fd, p, n, -1);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	struct pollfd pf[MAX_CONNS + 1] = { { .fd = lfd, .events = POLLIN } };
	/* the library connects first thing (generous bound: a loaded machine) */
	int r;
	while ((r = poll(pf, 1, 20000)) < 0 && errno == EINTR)
		;
	while (r == 1 && (f->fds[0] = accept4(lfd, NULL, NULL, SOCK_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (r != 1 || f->fds[0] < 0)
		return NULL;
	hello(f);
	for (;;) {
		pf[0] = (struct pollfd){ .fd = tfd, .events = POLLIN };
		for (unsigned i = 0; i < f->n; i++)
			pf[i + 1] = (struct pollfd){ .fd = f->fds[i], .events = POLLIN };
		r = poll(pf, f->n + 1, IDLE_MS);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if ((pf[0].revents & POLLIN) && f->n < MAX_CONNS) {
			int fd = accept4(tfd, NULL, NULL, SOCK_CLOEXEC);
			if (fd >= 0)
				f->fds[f->n++] = fd;
		}
		bool done = false;
		for (unsigned i = 0; i < f->n && !done; i++) {
			struct mcs_hdr h;
			if (!(pf[i + 1].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!read_request(f->fds[i], &h) || !answer(f, f->fds[i], &h))
				done = true;
		}
		if (done)
			break;
	}
	/* hang up: the library sees the end of every connection */
	for (unsigned i = 0; i < f->n; i++)
		shutdown(f->fds[i], SHUT_RDWR);
	return NULL;
}

/* ---- the client's side --------------------------------------------------------- */

static void check_status(long r)
{
	if (debug)
		fprintf(stderr, "fuzz-client: %ld (%s)\n", r, r < 0 ? mcs_strerror((int)r) : "ok");
	FUZZ_ASSERT(r <= 0 && r > -4096);
}

static void run_call(struct mcs_client *c, unsigned op, size_t size)
{
	static uint8_t buf[MAX_VALUE], val[MAX_VALUE];
	const char *keys[] = { "k0", "k1" };
	memset(val, 0x5a, size);
	switch ((op & 0xf) % 10) {
	case 0: {
		ssize_t n = mcs_get(c, "k", buf, size);
		FUZZ_ASSERT(n <= (ssize_t)size);
		check_status(n < 0 ? n : 0);
		break;
	}
	case 1: {
		void *p = NULL;
		size_t len = 0;
		int r = mcs_get_alloc(c, "k", &p, &len);
		check_status(r);
		free(p);
		break;
	}
	case 2: {
		unsigned reps = 0;
		struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = 2 };
		int r = mcs_put(c, "k", val, size, op & 0x10 ? &cfg : NULL, &reps);
		check_status(r);
		break;
	}
	case 3: {
		struct iovec v[2] = { { val, size / 2 }, { val + size / 2, size - size / 2 } };
		int res[2];
		int r = mcs_put_batch(c, 2, keys, v, NULL, res, NULL);
		check_status(r > 0 ? 0 : r);
		FUZZ_ASSERT(r <= 2);
		for (int i = 0; r >= 0 && i < 2; i++)
			check_status(res[i]);
		break;
	}
	case 4: {
		struct iovec v[2] = { { buf, size / 2 }, { buf + size / 2, size - size / 2 } };
		ssize_t res[2];
		int r = mcs_get_batch(c, 2, keys, v, res);
		check_status(r > 0 ? 0 : r);
		FUZZ_ASSERT(r <= 2);
		for (int i = 0; r >= 0 && i < 2; i++) {
			FUZZ_ASSERT(res[i] <= (ssize_t)v[i].iov_len);
			check_status(res[i] < 0 ? res[i] : 0);
		}
		break;
	}
	case 5: {
		struct mcs_view *v = NULL;
		int r = mcs_get_view(c, "k", 0, &v);
		check_status(r);
		if (r == 0) {
			(void)mcs_view_verify(v);
			mcs_view_release(v);
		}
		break;
	}
	case 6: {
		int r = mcs_exists(c, "k");
		FUZZ_ASSERT(r == 0 || r == 1 || (r < 0 && r > -4096));
		uint64_t sz;
		check_status(mcs_get_size(c, "k", &sz));
		break;
	}
	case 7: {
		struct mcs_stat *st = NULL;
		int r = mcs_stat(c, &st);
		check_status(r);
		mcs_stat_free(st);
		break;
	}
	case 8: {
		struct mcs_object_info *info = NULL;
		check_status(mcs_locate(c, "k", &info));
		mcs_object_info_free(info);
		break;
	}
	default: {
		uint64_t n;
		check_status(mcs_remove(c, "k", 0));
		check_status(mcs_remove_all(c, &n));
		break;
	}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fake f = { .in = { data, size }, .n = 1 };
	unsigned op = fuzz_u8(&f.in);
	size_t vsize = (size_t)fuzz_u8(&f.in) * 256 % MAX_VALUE;
	pthread_t thr;
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = path, .timeout_ms = 2000,
				     .staging_size = 1u << 16, .flags = op & 0x20 ? MCS_CLIENT_VIA_DAEMON_DATA : 0,
				     /* answers that say "no master" are tried again, briefly */
				     .failover_ms = op & 0x80 ? 20 : -1 };
	struct mcs_client *c = NULL;
	f.fds[0] = -1;
	FUZZ_ASSERT(pthread_create(&thr, NULL, fake_main, &f) == 0);
	int r = mcs_client_new(&o, &c);
	if (debug)
		fprintf(stderr, "fuzz-client: op %u size %zu, client: %d\n", (op & 0xf) % 10, vsize, r);
	if (r == 0) {
		run_call(c, op, vsize);
		mcs_client_unref(c);
	} else {
		check_status(r);
	}
	FUZZ_ASSERT(pthread_join(thr, NULL) == 0);
	for (unsigned i = 0; i < f.n; i++)
		if (f.fds[i] >= 0)
			close(f.fds[i]);
	return 0;
}
