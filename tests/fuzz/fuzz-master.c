/* SPDX-License-Identifier: MIT */
/*
 * Fuzz target: request sequences against the master's handler and store
 * (master/requests.c, master/store.c and what they call), statefully. The
 * input is a sequence of steps, each on one of NCONN connections (loop
 * connections over socketpairs, as the master's are; their answers are
 * queued and dropped): a raw request (opcode and body from the input), a
 * well-formed request built from a few bytes (MOUNT, UNMOUNT, PUT_START
 * and PUT_END of a few keys, REPLICA_REPORT and REPORT_END, GET_REPLICAS with and without a hold,
 * RELEASE, REMOVE, forced or not, REMOVE_ALL, EXIST, LIST, STAT), the
 * connection's close (what the master does then: the store drops
 * everything it owned), a node's answer to a REPLICA_ADD a put waits for
 * (a real id or a forged one), or time passing (the clock is the fuzzer's: the
 * handler is built in here with mcs_now_ms() redefined) followed by the
 * master's periodic work. After
 * every step the store's tables must agree (mcs_store_check()) and each
 * connection's count of holds must be the store's.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "master/master.h"
#include "master/requests.h"
#include "master/store.h"
#include "proto/proto.h"
#include "tests/fuzz/fuzz.h"
#include "uring/loop.h"

const char fuzz_target_name[] = "master";

#define NCONN 4
#define MAX_STEPS 256

static struct mcs_loop *loop;

/* The handler, on the fuzzer's clock: it takes a request's time from its
 * peer's last_seen_ms (which the master's on_frame sets from the clock,
 * and the fuzzer before each request), and everything below it is given
 * that time; the minting of tokens reads mcs_realtime_ms itself. */
static uint64_t fake_now = 1000000;
#include "master/requests.c"

static void write_seeds(const char *dir);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seeds = getenv("MCS_FUZZ_WRITE_SEEDS");
	if (seeds && *seeds) {
		write_seeds(seeds);
		exit(0);
	}
	/* the master logs every mount: not millions of lines (MCS_FUZZ_DEBUG: all) */
	mcs_log_set_level(getenv("MCS_FUZZ_DEBUG") ? MCS_LOG_DEBUG : MCS_LOG_ERR);
	struct mcs_loop_opts o = { .size = sizeof(o) };
	int r = mcs_loop_new(&o, &loop);
	if (r < 0) {
		fprintf(stderr, "fuzz-master: io_uring unavailable (%s): every input is skipped\n", strerror(-r));
		loop = NULL;
	}
	return 0;
}

struct slot {
	struct peer p;
	struct mcs_conn *c;   /* NULL: not open */
	int other;            /* the socketpair's other end */
};

static struct master m;
static struct slot slots[NCONN];
static int opened, closed;

static void on_close(struct mcs_conn *c, int err, void *ud)
{
	if (++closed == opened)
		mcs_loop_exit(loop, 0);
}

static int on_frame(struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body, void *ud) { return 0; }

static const struct mcs_conn_ops ops = { .on_frame = on_frame, .on_close = on_close };

static struct slot *slot_open(unsigned i)
{
	struct slot *s = &slots[i % NCONN];
	if (s->c)
		return s;
	int sv[2];
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	s->p = (struct peer){ .m = &m };
	snprintf(s->p.name, sizeof(s->p.name), "fuzz-%u", i % NCONN);
	FUZZ_ASSERT(mcs_loop_add_conn(loop, sv[0], &ops, &s->p, &s->c) == 0);
	s->p.conn = s->c;
	s->other = sv[1];
	opened++;
	return s;
}

/* What the master does when a connection goes (main.c's on_close). */
static void slot_close(struct slot *s)
{
	if (!s->c)
		return;
	mcs_store_drop_owner(m.store, s->c);
	master_acks_closed(&m, s->c);
	mcs_conn_close(s->c);
	close(s->other);
	s->c = NULL;
}

static void handle(struct slot *s, uint16_t op, const void *body, size_t len, uint64_t id)
{
	struct mcs_hdr h = { .magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .opcode = op,
			     .req_id = id, .body_len = (uint32_t)len };
	s->p.last_seen_ms = fake_now;
	if (master_handle(&s->p, s->c, &h, body) < 0)
		slot_close(s);
}

static const uint16_t opcodes[] = { MCS_OP_PING, MCS_OP_MOUNT, MCS_OP_UNMOUNT, MCS_OP_HEARTBEAT,
				    MCS_OP_PUT_START, MCS_OP_PUT_END, MCS_OP_PUT_REVOKE, MCS_OP_GET_REPLICAS,
				    MCS_OP_RELEASE, MCS_OP_EXIST, MCS_OP_REMOVE, MCS_OP_REMOVE_ALL,
				    MCS_OP_LIST, MCS_OP_STAT, MCS_OP_BUF_ALLOC, MCS_OP_DATA_READ,
				    MCS_OP_REPLICA_REPORT, MCS_OP_REPORT_END, MCS_OP_REPLICA_ADD };

/* A well-formed request from a few of the input's bytes. */
static void structured(struct slot *s, struct fuzz_in *in, uint64_t id)
{
	static const char *const keys[] = { "a", "b", "c", "k/1", "k/2", "k/3", "long/key/with/a/prefix", "z" };
	static const char *const segs[] = { "seg-0", "seg-1", "seg-2" };
	uint8_t what = fuzz_u8(in), x = fuzz_u8(in), y = fuzz_u8(in);
	struct mcs_str key = mcs_str_c(keys[x % MCS_ARRAY_SIZE(keys)]);
	struct mcs_buf b;
	uint16_t op;
	mcs_buf_init(&b);
	switch (what % 15) {
	case 0: {
		char node[16];
		snprintf(node, sizeof(node), "node-%u", x % 3);
		struct mcs_mount_req q = { mcs_str_c(node), mcs_str_c(segs[x % 3]), ((uint64_t)y + 1) << 16,
					   mcs_str_c("127.0.0.1:7000"), y,
					   (x & 0x80 ? MCS_MOUNT_REPORTS : 0) | (x & 0x40 ? MCS_MOUNT_ACKS : 0) };
		mcs_enc_mount_req(&b, &q);
		op = MCS_OP_MOUNT;
		break;
	}
	case 1:
		mcs_enc_unmount_req(&b, &(struct mcs_unmount_req){ mcs_str_c(segs[x % 3]) });
		op = MCS_OP_UNMOUNT;
		break;
	case 2:
	case 3: {
		/* one or two slices, up to 3 replicas, the flags the input says */
		uint64_t len = ((uint64_t)fuzz_u16(in) << 4) + 1, sl[2] = { len / 2, len - len / 2 };
		struct mcs_put_start_req q = { .key = key, .value_len = len, .n_slices = y & 1 ? 2 : 1,
					       .slice_lens = y & 1 ? sl : &len };
		q.cfg.replica_num = (y >> 1) % 4;
		q.cfg.flags = (y >> 3) & (MCS_REPL_ALL_OR_NOTHING | MCS_REPL_SOFT_PIN | MCS_REPL_HARD_PIN | MCS_PUT_UPSERT);
		if (y & 0x80) {
			q.cfg.n_locations = 1;
			q.cfg.locations[0] = mcs_str_c(segs[y % 3]);
		}
		mcs_enc_put_start_req(&b, &q);
		op = MCS_OP_PUT_START;
		break;
	}
	case 4:
	case 5:
		mcs_enc_put_end_req(&b, &(struct mcs_put_end_req){ key, y });
		op = MCS_OP_PUT_END;
		break;
	case 6:
		mcs_enc_key_req(&b, &(struct mcs_key_req){ key });
		op = y & 1 ? MCS_OP_PUT_REVOKE : MCS_OP_EXIST;
		break;
	case 7:
	case 8:
		mcs_enc_get_req(&b, &(struct mcs_get_req){ key, y & (MCS_GET_HOLD | MCS_GET_NOLEASE) });
		op = MCS_OP_GET_REPLICAS;
		break;
	case 9:
		/* hold ids are small numbers: guess one, someone else's or gone */
		mcs_enc_release_req(&b, &(struct mcs_release_req){ key, y % 24 });
		op = MCS_OP_RELEASE;
		break;
	case 10:
		mcs_enc_remove_req(&b, &(struct mcs_remove_req){ key, y & MCS_REMOVE_FORCE });
		op = MCS_OP_REMOVE;
		break;
	case 11:
		op = y & 1 ? MCS_OP_REMOVE_ALL : MCS_OP_STAT;
		break;
	case 13: {
		/* a part a node reports: one of a plain replica, or either
		 * half of a two-part stripe, at a few places */
		uint64_t len = (uint64_t)fuzz_u16(in) + 1;
		uint32_t half = (y >> 4) & 1, two = (y >> 5) & 1;
		struct mcs_replica_part q = {
			.segment = mcs_str_c(segs[x % 3]), .key = key, .offset = (uint64_t)(y & 15) << 12, .len = len,
			.size = two ? 2 * len : len, .checksum = y >> 6, .value_off = two && half ? len : 0,
			.flags = (y >> 6) & 1 ? MCS_REPL_SOFT_PIN : 0, .replica = y >> 7, .handle = two && half,
			.n_handles = 1 + two,
		};
		mcs_enc_replica_part(&b, &q);
		op = MCS_OP_REPLICA_REPORT;
		break;
	}
	case 14:
		mcs_enc_unmount_req(&b, &(struct mcs_unmount_req){ mcs_str_c(segs[x % 3]) });
		op = MCS_OP_REPORT_END;
		break;
	default:
		mcs_enc_list_req(&b, &(struct mcs_list_req){ mcs_str_c(y & 1 ? "k/" : ""), x % 4, 1 + y % 8 });
		op = MCS_OP_LIST;
		break;
	}
	FUZZ_ASSERT(b.err == 0);
	handle(s, op, b.p, b.len, id);
	mcs_buf_free(&b);
}

static void check(void)
{
	FUZZ_ASSERT(mcs_store_check(m.store) == 0);
	for (unsigned i = 0; i < NCONN; i++)
		if (slots[i].c)
			FUZZ_ASSERT(slots[i].p.holds == mcs_store_holds_of(m.store, slots[i].c));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!loop)
		return 0;
	struct fuzz_in in = { data, size };
	struct mcs_store_opts so = { .lease_ttl_ms = 500, .put_timeout_ms = 2000, .granule = 64,
				     .max_buffer = fuzz_u8(&in) & 1 ? 4096 : 0, .high_watermark = 0.9,
				     .part_added = master_part_added, .part_dropped = master_part_dropped,
				     .parts_arg = &m };
	m = (struct master){ .loop = loop, .max_holds = 4 };
	mcs_list_init(&m.peers);
	mcs_buf_init(&m.out);
	mcs_buf_init(&m.note);
	FUZZ_ASSERT(mcs_store_new(&so, &m.store) == 0);
	memset(slots, 0, sizeof(slots));
	opened = closed = 0;
	for (uint64_t step = 1; in.n && step <= MAX_STEPS; step++) {
		uint8_t op = fuzz_u8(&in);
		struct slot *s = slot_open(op & 3);
		switch (op >> 2 & 7) {
		case 0: {
			const uint8_t *body;
			uint16_t opc = opcodes[fuzz_u8(&in) % MCS_ARRAY_SIZE(opcodes)];
			size_t n = fuzz_bytes(&in, fuzz_u8(&in), &body);
			handle(s, opc, body, n, step);
			break;
		}
		case 1:
			slot_close(s);
			break;
		case 7: {
			/* a node's answer to a notice (main.c's on_frame): one of the
			 * ids the master gave lately, or a forged one */
			uint8_t x = fuzz_u8(&in), y = fuzz_u8(&in);
			struct mcs_hdr h = { .opcode = x & 0x80 ? MCS_OP_PUT_END : MCS_OP_REPLICA_ADD,
					     .flags = MCS_F_RESPONSE, .status = x & 0x40 ? -ENOMEM : 0,
					     .req_id = (uint64_t)(m.acks.gen - (x & 3)) << 32 | (y % (m.acks.n + 1)) };
			if (!s->p.acks || master_acks_answer(&m, s->c, &h) < 0)
				slot_close(s);
			break;
		}
		case 2: {
			/* time passes; the master's timers run */
			fake_now += (uint64_t)fuzz_u8(&in) * 20;
			mcs_store_reap_retired(m.store, fake_now);
			mcs_store_evict_step(m.store, 512, fake_now);
			mcs_store_expire_puts(m.store, fake_now);
			mcs_store_evict_if_needed(m.store, fake_now);
			break;
		}
		default:
			structured(s, &in, step);
			break;
		}
		check();
	}
	for (unsigned i = 0; i < NCONN; i++)
		slot_close(&slots[i]);
	check();
	/* every put's answer went once its nodes had gone */
	FUZZ_ASSERT(master_acks_waiting(&m.acks) == 0);
	if (opened)
		FUZZ_ASSERT(mcs_loop_run(loop) == 0);
	m.store = mcs_store_free(m.store);
	mcs_buf_free(&m.out);
	mcs_buf_free(&m.note);
	master_acks_free(&m.acks);
	return 0;
}

/* ---- the seeds (MCS_FUZZ_WRITE_SEEDS=DIR writes them) ------------------------- */

/* structured step: op byte (connection c, kind 3), what, x, y [, u16] */
static void st(struct mcs_buf *b, unsigned c, uint8_t what, uint8_t x, uint8_t y)
{
	mcs_buf_put_u8(b, (uint8_t)(3u << 2 | c));
	mcs_buf_put_u8(b, what);
	mcs_buf_put_u8(b, x);
	mcs_buf_put_u8(b, y);
	if (what % 15 == 2 || what % 15 == 3 || what % 15 == 13)
		mcs_buf_put_u16(b, 64); /* 1025 bytes */
}

static void seed_write(const char *dir, const char *name, struct mcs_buf *b)
{
	FUZZ_ASSERT(b->err == 0);
	fuzz_seed_write(dir, name, b->p, b->len);
	mcs_buf_reset(b);
}

static void write_seeds(const char *dir)
{
	struct mcs_buf b;
	mcs_buf_init(&b);
	/* a node mounts two segments; a client puts, gets, holds, releases */
	mcs_buf_put_u8(&b, 0);
	st(&b, 0, 0, 0, 200);
	st(&b, 0, 0, 1, 100);
	st(&b, 1, 2, 0, 2);    /* PUT_START a, 1 replica */
	st(&b, 1, 4, 0, 42);   /* PUT_END a */
	st(&b, 2, 7, 0, MCS_GET_HOLD);
	st(&b, 2, 7, 0, MCS_GET_HOLD);
	st(&b, 2, 9, 0, 1);    /* RELEASE hold 1 */
	st(&b, 3, 10, 0, 0);   /* REMOVE a: held */
	st(&b, 3, 10, 0, MCS_REMOVE_FORCE);
	st(&b, 1, 2, 1, 5);    /* PUT_START b, 2 replicas, 2 slices */
	st(&b, 1, 11, 0, 0);   /* STAT */
	st(&b, 1, 12, 0, 1);   /* LIST k/ */
	seed_write(dir, "put-get-hold", &b);
	/* an upsert while the old version is held, then the holder goes */
	mcs_buf_put_u8(&b, 0);
	st(&b, 0, 0, 0, 255);
	st(&b, 1, 2, 3, 2);
	st(&b, 1, 4, 3, 1);
	st(&b, 2, 7, 3, MCS_GET_HOLD);
	st(&b, 1, 2, 3, 2 | (uint8_t)(MCS_PUT_UPSERT << 3));
	st(&b, 1, 4, 3, 2);
	mcs_buf_put_u8(&b, 1u << 2 | 2); /* close connection 2 */
	mcs_buf_put_u8(&b, 2u << 2);     /* time passes */
	mcs_buf_put_u8(&b, 255);
	seed_write(dir, "upsert-held", &b);
	/* the node goes with objects on its segment; a put that times out */
	mcs_buf_put_u8(&b, 1);
	st(&b, 0, 0, 0, 10);
	st(&b, 0, 0, 1, 10);
	st(&b, 1, 2, 4, 4);
	st(&b, 1, 4, 4, 7);
	st(&b, 1, 2, 5, 2);
	mcs_buf_put_u8(&b, 2u << 2 | 1);
	mcs_buf_put_u8(&b, 120);
	st(&b, 0, 1, 0, 0);    /* UNMOUNT seg-0 */
	mcs_buf_put_u8(&b, 1u << 2 | 0);
	st(&b, 1, 7, 4, 0);
	seed_write(dir, "node-gone", &b);
	/* a node that answers notices: a put answered once it does; another
	 * put, a forged answer, the node closed for it */
	mcs_buf_put_u8(&b, 0);
	st(&b, 0, 0, 0x40, 10); /* MOUNT seg-1, answering notices */
	st(&b, 1, 2, 0, 2);
	st(&b, 1, 4, 0, 42);
	mcs_buf_put_u8(&b, 7u << 2 | 0); /* node 0 answers: the latest id, slot 0 */
	mcs_buf_put_u8(&b, 0);
	mcs_buf_put_u8(&b, 0);
	st(&b, 1, 2, 1, 2);
	st(&b, 1, 4, 1, 42);
	mcs_buf_put_u8(&b, 7u << 2 | 0); /* a forged answer: an older generation */
	mcs_buf_put_u8(&b, 1);
	mcs_buf_put_u8(&b, 0);
	st(&b, 1, 7, 1, 0);
	seed_write(dir, "put-acks", &b);
	/* full: puts until eviction, soft pins */
	mcs_buf_put_u8(&b, 0);
	st(&b, 0, 0, 2, 0);
	for (uint8_t k = 0; k < 8; k++) {
		st(&b, 1, 2, k, (uint8_t)(2 | (k & 1 ? MCS_REPL_SOFT_PIN << 3 : 0)));
		st(&b, 1, 4, k, k);
	}
	seed_write(dir, "evict", &b);
	/* a node reports what it holds after a mount: a plain part, the two
	 * halves of a stripe (one at a taken place), the end; gets and puts */
	mcs_buf_put_u8(&b, 0);
	st(&b, 0, 0, 128, 10);  /* MOUNT seg-2, reporting */
	st(&b, 0, 13, 128, 0);  /* REPLICA_REPORT a at 0 */
	st(&b, 0, 13, 131, 0x21); /* the first half of d's stripe at 4096 */
	st(&b, 0, 13, 131, 0x31); /* its second half at 4096: taken */
	st(&b, 0, 13, 131, 0x32); /* at 8192 */
	st(&b, 1, 7, 128, 0);   /* GET a */
	st(&b, 1, 2, 5, 2);     /* PUT_START: nowhere to go yet */
	st(&b, 0, 14, 128, 0);  /* REPORT_END seg-2 */
	st(&b, 1, 2, 5, 2);
	st(&b, 1, 4, 5, 2);
	st(&b, 1, 10, 128, 0);  /* REMOVE a: DROP to the node */
	seed_write(dir, "rebuild", &b);
	/* raw requests: a truncated PUT_START and a MOUNT of garbage */
	mcs_buf_put_u8(&b, 0);
	mcs_buf_put_u8(&b, 0);
	mcs_buf_put_u8(&b, 4);
	mcs_buf_put_u8(&b, 6);
	mcs_buf_put_bytes(&b, "\x01\x00\x61\x00\x04\x00", 6);
	mcs_buf_put_u8(&b, 1);
	mcs_buf_put_u8(&b, 1);
	mcs_buf_put_u8(&b, 3);
	mcs_buf_put_bytes(&b, "\xff\xff\x00", 3);
	seed_write(dir, "raw", &b);
	mcs_buf_free(&b);
}
