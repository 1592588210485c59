/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: frame reassembly in the io_uring loop (conn_parse() of
 * uring/conn.c). The input's bytes go through a socketpair into a loop
 * connection, sent by another connection of the same loop in chunks whose
 * sizes the input's first byte seeds (one byte at a time up to whole
 * buffers), then the write side is shut. A reference parser walks the same
 * bytes; the connection must deliver exactly the frames it finds (header
 * fields and body bytes, in order), and close with the status of the
 * first bad header (-EPROTO, -EPROTONOSUPPORT, -EMSGSIZE past the loop's
 * max_body of MAX_BODY), or 0 at the end of the stream (a partial frame
 * there is dropped).
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/util.h"
#include "proto/proto.h"
#include "tests/fuzz/fuzz.h"
#include "uring/loop.h"

const char fuzz_target_name[] = "conn";

#define MAX_BODY 4096
#define MAX_SMALL_CHUNKS 512  /* then the rest in larger ones (loop turns are not free) */

static struct mcs_loop *loop;

/* ---- the seeds (MCS_FUZZ_WRITE_SEEDS=DIR writes them) ------------------------- */

static void frame(struct mcs_buf *b, uint32_t magic, uint8_t version, uint16_t op, uint32_t body_len,
		  size_t real_len)
{
	struct mcs_hdr h = { .magic = magic, .version = version, .opcode = op, .req_id = op * 7u,
			     .body_len = body_len, .flags = op & 1 ? MCS_F_RESPONSE : 0 };
	uint8_t hb[MCS_HDR_SIZE];
	mcs_hdr_encode(&h, hb);
	mcs_buf_put_bytes(b, hb, sizeof(hb));
	for (size_t i = 0; i < real_len; i++)
		mcs_buf_put_u8(b, (uint8_t)(i * 13 + op));
}

static void seed(const char *dir, const char *name, uint8_t chunking, int kind)
{
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_buf_put_u8(&b, chunking);
	frame(&b, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 0, 0);
	frame(&b, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_GET_REPLICAS, 40, 40);
	frame(&b, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_STAT, MAX_BODY, MAX_BODY);
	switch (kind) {
	case 1: /* a partial frame at the end */
		frame(&b, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PUT_START, 100, 60);
		break;
	case 2:
		frame(&b, MCS_PROTO_MAGIC ^ 1, MCS_PROTO_VERSION, MCS_OP_PING, 0, 0);
		break;
	case 3:
		frame(&b, MCS_PROTO_MAGIC, MCS_PROTO_VERSION + 1, MCS_OP_PING, 0, 0);
		break;
	case 4:
		frame(&b, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PUT_END, MAX_BODY + 1, 10);
		break;
	case 5: /* half a header */
		frame(&b, MCS_PROTO_MAGIC, MCS_PROTO_VERSION, MCS_OP_PING, 0, 0);
		b.len -= MCS_HDR_SIZE / 2;
		break;
	default:
		break;
	}
	FUZZ_ASSERT(b.err == 0);
	fuzz_seed_write(dir, name, b.p, b.len);
	mcs_buf_free(&b);
}

static void write_seeds(const char *dir)
{
	seed(dir, "frames", 0, 0);
	seed(dir, "frames-small-chunks", 3, 0);
	seed(dir, "partial", 1, 1);
	seed(dir, "bad-magic", 2, 2);
	seed(dir, "bad-version", 5, 3);
	seed(dir, "too-big", 4, 4);
	seed(dir, "half-header", 7, 5);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("MCS_FUZZ_WRITE_SEEDS");
	if (seeds && *seeds) {
		write_seeds(seeds);
		exit(0);
	}
	struct mcs_loop_opts o = { .size = sizeof(o), .max_body = MAX_BODY };
	int r = mcs_loop_new(&o, &loop);
	if (r < 0) {
		/* no io_uring here (ENOSYS, or EPERM from seccomp): nothing to fuzz */
		fprintf(stderr, "fuzz-conn: io_uring unavailable (%s): every input is skipped\n", strerror(-r));
		loop = NULL;
	}
	return 0;
}

struct run {
	const uint8_t *p;
	size_t n, sent;
	uint64_t rng;
	unsigned chunks;
	struct mcs_conn *reader, *writer;
	/* what the reference parser found */
	size_t ref_pos;        /* where the next frame starts */
	int ref_err;           /* how the stream ends */
	unsigned frames;
	int closes;
	int close_err;
	bool reader_closed;
};

static uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int on_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *ud)
{
	struct run *r = ud;
	struct mcs_hdr want;
	/* the next frame of the reference: a whole, valid one */
	FUZZ_ASSERT(r->n - r->ref_pos >= MCS_HDR_SIZE);
	FUZZ_ASSERT(mcs_hdr_decode(r->p + r->ref_pos, MAX_BODY, &want) == 0);
	FUZZ_ASSERT(r->n - r->ref_pos - MCS_HDR_SIZE >= want.body_len);
	FUZZ_ASSERT(h->magic == want.magic && h->version == want.version && h->flags == want.flags &&
		    h->opcode == want.opcode && h->status == want.status && h->req_id == want.req_id &&
		    h->body_len == want.body_len);
	FUZZ_ASSERT(!h->body_len || memcmp(body, r->p + r->ref_pos + MCS_HDR_SIZE, h->body_len) == 0);
	r->ref_pos += MCS_HDR_SIZE + want.body_len;
	r->frames++;
	return 0;
}

static void on_close(struct mcs_conn *c, int err, void *ud)
{
	struct run *r = ud;
	if (c == r->reader) {
		r->close_err = err;
		r->reader_closed = true;
		mcs_conn_close(r->writer);
	}
	if (++r->closes == 2)
		mcs_loop_exit(loop, 0);
}

static const struct mcs_conn_ops ops = { .on_frame = on_frame, .on_close = on_close };

static void send_next(struct mcs_conn *c, int err, void *ud)
{
	struct run *r = ud;
	if (err < 0 || mcs_conn_is_closed(c))
		return;
	if (r->sent == r->n) {
		shutdown(mcs_conn_fd(c), SHUT_WR);
		return;
	}
	size_t left = r->n - r->sent, k;
	uint64_t x = rng_next(&r->rng);
	if (r->chunks++ < MAX_SMALL_CHUNKS && (r->rng & 1))
		k = 1 + x % 32;
	else
		k = 1 + x % 8192;
	k = MCS_MIN(k, left);
	const uint8_t *p = r->p + r->sent;
	r->sent += k;
	FUZZ_ASSERT(mcs_conn_send_ref(c, p, k, send_next, r) == 0);
}

/* How the reference parser ends: the first bad header's status, else 0. */
static int reference_end(const uint8_t *p, size_t n)
{
	size_t pos = 0;
	while (n - pos >= MCS_HDR_SIZE) {
		struct mcs_hdr h;
		int e = mcs_hdr_decode(p + pos, MAX_BODY, &h);
		if (e < 0)
			return e;
		if (n - pos - MCS_HDR_SIZE < h.body_len)
			return 0;
		pos += MCS_HDR_SIZE + h.body_len;
	}
	return 0;
}

/* What is left after the frames delivered: 0 when no whole frame (a
 * partial one, or nothing), the status of a bad header, 1 for a whole
 * frame that was not delivered. */
static int rest_of(const struct run *r)
{
	struct mcs_hdr h;
	size_t left = r->n - r->ref_pos;
	if (left < MCS_HDR_SIZE)
		return 0;
	int e = mcs_hdr_decode(r->p + r->ref_pos, MAX_BODY, &h);
	if (e < 0)
		return e;
	return left - MCS_HDR_SIZE < h.body_len ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!loop || size == 0)
		return 0;
	static struct run r;
	r = (struct run){ .p = data + 1, .n = size - 1, .rng = data[0] };
	r.ref_err = reference_end(r.p, r.n);
	int sv[2];
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	FUZZ_ASSERT(mcs_loop_add_conn(loop, sv[0], &ops, &r, &r.reader) == 0);
	FUZZ_ASSERT(mcs_loop_add_conn(loop, sv[1], &ops, &r, &r.writer) == 0);
	send_next(r.writer, 0, &r);
	FUZZ_ASSERT(mcs_loop_run(loop) == 0);
	FUZZ_ASSERT(r.reader_closed && r.closes == 2);
	FUZZ_ASSERT(r.close_err == r.ref_err);
	/* every whole frame before the end was delivered, none after it */
	FUZZ_ASSERT(rest_of(&r) == r.ref_err);
	return 0;
}
