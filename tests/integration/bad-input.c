/* SPDX-License-Identifier: MIT */
/*
 * The bad-input table for t-bad-input.sh (issue 14): every opcode of
 * enum mcs_opcode, sent to one port of a real cluster with its fields
 * truncated, oversized, out of range, wrapped, duplicated and forged.
 * Each case must be answered with an error status or a close within
 * 30 s: never a success, never a hang.
 *
 *   bad-input PORT MASTER SOCKET [KEYFILE]
 *
 * PORT is master (MASTER, host:port), unix (SOCKET, after HELLO) or data
 * (the data port of the node that holds bi-own, from its handle). With
 * KEYFILE every TCP connection authenticates as a client (with the
 * client key only, as libmcstore does); without one the cluster is
 * keyless (protected mode: loopback, no handshake, no tokens).
 *
 * The valid bodies are made with the descriptor table's encoders
 * (mcs_msg_for) from real values: bi-own and bi-loc, which the caller
 * stored (bi-own on the attacked data port's node, bi-loc on the other,
 * the node of SOCKET), their handles, incarnations, endpoints and tokens
 * from GET_REPLICAS, a pending put of this program (write tokens), and a
 * hold and a pending put of another connection (for the forged cases).
 * The families: base (the valid requests a port serves are answered 0,
 * so the refusals below are the mutations' doing), auth (no handshake,
 * wrong proofs, roles; no HELLO on the socket), truncated (every cut of
 * every body), oversized (body_len past the port's limit; trailing
 * bytes), out-of-range, wrapped, duplicated (the same request twice,
 * every field twice, one handle twice) and forged (header flags,
 * versions, magic, unknown opcodes, another client's hold, put and
 * buffer, wrong incarnations, segments and endpoints, edited and
 * misused tokens, and the write token of a put that went, whose space
 * must not be another put's yet). BAD_INPUT_VERBOSE=1 prints every case
 * and its reaction on stderr.
 *
 * Prints, in a fixed order, one line per case family:
 *   ok FAMILY N        every one of its N cases went as it must
 *   not ok FAMILY N: WHAT
 * and the failed cases on stderr. Exit 0 when all went well, 2 when the
 * setup itself failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth/auth.h"
#include "common/util.h"
#include "proto/proto.h"

#define WAIT_MS 30000

enum port { P_MASTER, P_UNIX, P_DATA };
static enum port port;
static const char *master_addr, *sock_path;
static char data_addr[MCS_NAME_MAX + 1];
static struct mcs_keys keys; /* the client key only, or off */
static uint32_t port_max;    /* the port's largest body */
static uint64_t next_id = 100;

/* ---- families ---------------------------------------------------------- */

enum fam { F_BASE, F_AUTH, F_TRUNC, F_OVER, F_RANGE, F_WRAP, F_DUP, F_FORGE, F_N };
static const char *fam_name[F_N] = { "base", "auth", "truncated", "oversized", "out-of-range",
				     "wrapped", "duplicated", "forged" };
static unsigned fam_n[F_N], fam_bad[F_N];
static char fam_first[F_N][200];

static void fail(enum fam f, const char *fmt, ...)
{
	char m[200];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(m, sizeof(m), fmt, ap);
	va_end(ap);
	if (!fam_bad[f]++)
		snprintf(fam_first[f], sizeof(fam_first[f]), "%s", m);
	fprintf(stderr, "bad-input: FAILED %s: %s\n", fam_name[f], m);
}

/* ---- connections ----------------------------------------------------- */

struct conn {
	int fd;           /* -1: closed */
	uint32_t buf_id;  /* unix: its BUF_ALLOC */
	uint64_t seg_size;
	uint64_t incarnation;
};

static int send_all(int fd, const void *p, size_t n)
{
	const uint8_t *c = p;
	while (n) {
		ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
		if (w <= 0)
			return -EPIPE; /* the server may close mid-way */
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

/* n bytes within the deadline; -ETIMEDOUT, -ECONNRESET (closed) */
static int recv_all(int fd, void *p, size_t n)
{
	uint8_t *q = p;
	while (n) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		if (poll(&pf, 1, WAIT_MS) <= 0)
			return -ETIMEDOUT;
		ssize_t k = recv(fd, q, n, 0); /* no cmsg buffer: passed fds are dropped */
		if (k <= 0)
			return -ECONNRESET;
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

enum { A_OK, A_ERR, A_CLOSED, A_HANG, A_WRONG };
struct answer {
	int r;
	int32_t status;
	uint32_t len;
	uint8_t body[65536];
};

/* The reaction to request id: A_OK / A_ERR with the answer's body (up to
 * 64 KiB kept), A_CLOSED, A_HANG (nothing within 30 s), A_WRONG (an
 * answer to another request). */
static void reaction(int fd, uint64_t id, struct answer *a)
{
	uint8_t hb[MCS_HDR_SIZE];
	struct mcs_hdr h;
	a->len = 0;
	a->status = 0;
	int r = recv_all(fd, hb, sizeof(hb));
	if (r == -ETIMEDOUT) {
		a->r = A_HANG;
		return;
	}
	if (r < 0 || mcs_hdr_decode(hb, 1u << 30, &h) < 0) {
		a->r = A_CLOSED;
		return;
	}
	uint32_t keep = MCS_MIN(h.body_len, (uint32_t)sizeof(a->body));
	if (recv_all(fd, a->body, keep) < 0) {
		a->r = A_CLOSED;
		return;
	}
	for (uint32_t left = h.body_len - keep; left;) {
		uint8_t sink[4096];
		uint32_t k = MCS_MIN(left, (uint32_t)sizeof(sink));
		if (recv_all(fd, sink, k) < 0) {
			a->r = A_CLOSED;
			return;
		}
		left -= k;
	}
	a->len = keep;
	a->status = h.status;
	if (h.req_id != id || !(h.flags & MCS_F_RESPONSE))
		a->r = A_WRONG;
	else
		a->r = h.status < 0 ? A_ERR : A_OK;
}

static int frame(int fd, uint16_t op, const struct mcs_buf *body, uint64_t id)
{
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_frame_begin(&b, op, 0, 0, id);
	if (body && body->len)
		mcs_buf_put_bytes(&b, body->p, body->len);
	int r = mcs_frame_end(&b);
	if (r == 0)
		r = send_all(fd, b.p, b.len);
	mcs_buf_free(&b);
	return r;
}

/* One request on fd and its answer (status, or a transport error). */
static int call(int fd, uint16_t op, const struct mcs_buf *body, struct answer *a)
{
	uint64_t id = next_id++;
	int r = frame(fd, op, body, id);
	if (r < 0)
		return r;
	reaction(fd, id, a);
	return a->r == A_OK || a->r == A_ERR ? a->status : -ECONNRESET;
}

static int dial_tcp(const char *hostport)
{
	char host[256];
	uint16_t p;
	if (mcs_parse_hostport(hostport, host, sizeof(host), &p) < 0)
		return -EINVAL;
	int fd = mcs_tcp_connect(host, p, 10000, NULL);
	if (fd < 0)
		return fd;
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
	return fd;
}

static int dial_unix(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		close(fd);
		return -errno;
	}
	return fd;
}

static struct answer ans; /* the last answer (big: one, static) */

/* HELLO and a 64 KiB buffer, on the node's socket */
static int unix_prepare(struct conn *c)
{
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_enc_hello_req(&b, &(struct mcs_hello_req){ MCS_PROTO_VERSION, (uint32_t)getpid() });
	int r = call(c->fd, MCS_OP_HELLO, &b, &ans);
	struct mcs_hello_resp hr;
	if (r == 0 && (r = mcs_dec_hello_resp(ans.body, ans.len, &hr)) == 0) {
		port_max = hr.max_body;
		c->seg_size = hr.segment_size;
		c->incarnation = hr.incarnation;
	}
	mcs_buf_reset(&b);
	mcs_enc_buf_alloc_req(&b, &(struct mcs_buf_alloc_req){ 65536 });
	struct mcs_buf_alloc_resp br;
	if (r == 0 && (r = call(c->fd, MCS_OP_BUF_ALLOC, &b, &ans)) == 0 &&
	    (r = mcs_dec_buf_alloc_resp(ans.body, ans.len, &br)) == 0)
		c->buf_id = br.buf_id;
	mcs_buf_free(&b);
	return r;
}

/* A connection to the port under test, authenticated (or HELLO'd) unless
 * bare; the master's port for P_MASTER and for the setup. */
static int conn_open(struct conn *c, enum port p, bool bare)
{
	*c = (struct conn){ .fd = -1 };
	int fd = p == P_UNIX ? dial_unix() : dial_tcp(p == P_MASTER ? master_addr : data_addr);
	if (fd < 0)
		return fd;
	c->fd = fd;
	if (bare)
		return 0;
	int r = p == P_UNIX ? unix_prepare(c) : mcs_auth_connect(&keys, MCS_ROLE_CLIENT, fd, WAIT_MS);
	if (r < 0) {
		close(fd);
		c->fd = -1;
	}
	return r;
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

/* ---- the real values ----------------------------------------------- */

struct real_handle {
	struct mcs_handle h;
	char seg[MCS_NAME_MAX + 1], node[MCS_NAME_MAX + 1], ep[MCS_NAME_MAX + 1];
	uint8_t tok[MCS_TOKEN_LEN];
};
static struct real_handle own, loc, wr; /* bi-own (read), bi-loc (read), our pending put (write) */
static char pend_key[64], other_key[64];
static uint64_t other_hold;
static struct conn setup, atk;
static uint32_t other_buf = 0xdead;  /* another connection's buf_id on the socket */
static struct conn other_unix;

static void keep_handle(struct real_handle *rh, const struct mcs_handle *h)
{
	rh->h = *h;
	memcpy(rh->seg, h->segment.p, h->segment.len);
	memcpy(rh->node, h->node.p, h->node.len);
	memcpy(rh->ep, h->endpoint.p, h->endpoint.len);
	memcpy(rh->tok, h->token.p, MCS_MIN(h->token.len, (uint32_t)MCS_TOKEN_LEN));
	rh->h.segment = (struct mcs_str){ rh->seg, h->segment.len };
	rh->h.node = (struct mcs_str){ rh->node, h->node.len };
	rh->h.endpoint = (struct mcs_str){ rh->ep, h->endpoint.len };
	rh->h.token = (struct mcs_str){ (const char *)rh->tok, h->token.len };
}

static int get_handle(int fd, const char *key, uint32_t flags, struct real_handle *rh, uint64_t *hold)
{
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_enc_get_req(&b, &(struct mcs_get_req){ mcs_str_c(key), flags });
	int r = call(fd, MCS_OP_GET_REPLICAS, &b, &ans);
	mcs_buf_free(&b);
	struct mcs_get_resp g;
	if (r == 0 && (r = mcs_dec_get_resp(ans.body, ans.len, &g)) == 0) {
		if (g.list.n_replicas < 1 || g.list.replicas[0].n_handles < 1)
			r = -ENOENT;
		else if (rh)
			keep_handle(rh, &g.list.replicas[0].handles[0]);
		if (hold)
			*hold = g.hold_id;
		mcs_replica_list_free(&g.list);
	}
	if (r < 0)
		fprintf(stderr, "bad-input: GET_REPLICAS %s: %s\n", key, mcs_status_text(r));
	return r;
}

static void enc_put_start(struct mcs_buf *b, const char *key, uint64_t *len, const char *where)
{
	struct mcs_put_start_req q = { .key = mcs_str_c(key), .value_len = *len, .n_slices = 1, .slice_lens = len };
	q.cfg.replica_num = 1;
	if (where) {
		q.cfg.n_locations = 1;
		q.cfg.locations[0] = mcs_str_c(where);
	}
	mcs_enc_put_start_req(b, &q);
}

static int put_start(int fd, const char *key, uint64_t len, const char *where, struct real_handle *rh)
{
	struct mcs_buf b;
	mcs_buf_init(&b);
	enc_put_start(&b, key, &len, where);
	int r = call(fd, MCS_OP_PUT_START, &b, &ans);
	mcs_buf_free(&b);
	struct mcs_put_start_resp p;
	if (r == 0 && (r = mcs_dec_put_start_resp(ans.body, ans.len, &p)) == 0) {
		if (p.list.n_replicas < 1 || p.list.replicas[0].n_handles < 1)
			r = -ENOSPC;
		else if (rh)
			keep_handle(rh, &p.list.replicas[0].handles[0]);
		mcs_replica_list_free(&p.list);
	}
	if (r < 0 && r != -EAGAIN) /* -EAGAIN: the caller waits for the key */
		fprintf(stderr, "bad-input: PUT_START %s: %s\n", key, mcs_status_text(r));
	return r;
}

static int key_op(int fd, uint16_t op, const char *key)
{
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_enc_key_req(&b, &(struct mcs_key_req){ mcs_str_c(key) });
	int r = call(fd, op, &b, &ans);
	mcs_buf_free(&b);
	return r;
}

static int setup_all(void)
{
	static const char *pname[] = { "master", "unix", "data" };
	int r = conn_open(&setup, P_MASTER, false);
	if (r < 0) {
		fprintf(stderr, "bad-input: cannot reach the master: %s\n", mcs_status_text(r));
		return r;
	}
	if ((r = get_handle(setup.fd, "bi-own", 0, &own, NULL)) < 0 ||
	    (r = get_handle(setup.fd, "bi-loc", 0, &loc, NULL)) < 0)
		return r;
	memcpy(data_addr, own.ep, sizeof(own.ep));
	/* a pending put of ours on bi-own's node (write tokens for DATA_WRITE
	 * and PUSH), a hold and a pending put of another connection */
	snprintf(pend_key, sizeof(pend_key), "bi-pend-%s", pname[port]);
	snprintf(other_key, sizeof(other_key), "bi-other-%s", pname[port]);
	port_max = port == P_DATA ? MCS_DATA_PORT_MAX_BODY : MCS_DEFAULT_MAX_BODY;
	/* on the socket, the other is another client of the same daemon (the
	 * master sees both as the node: the daemon tells them apart) */
	int ofd = setup.fd;
	if (port == P_UNIX) {
		if ((r = conn_open(&other_unix, P_UNIX, false)) < 0)
			return r;
		other_buf = other_unix.buf_id;
		ofd = other_unix.fd;
	}
	if ((r = get_handle(ofd, "bi-own", MCS_GET_HOLD, NULL, &other_hold)) < 0 ||
	    (r = put_start(ofd, other_key, 4096, NULL, NULL)) < 0)
		return r;
	if ((r = conn_open(&atk, port, false)) < 0) {
		fprintf(stderr, "bad-input: cannot connect to the port: %s\n", mcs_status_text(r));
		return r;
	}
	/* on the setup connection, which stays open: the attacker's is
	 * closed by some cases, and its puts revoked with it */
	return put_start(setup.fd, pend_key, 8192, own.seg, &wr);
}

/* ---- one case --------------------------------------------------------- */

enum { EXPECT_REFUSAL, EXPECT_OK };
struct xcase {
	enum fam fam;
	uint16_t op;
	uint8_t flags;
	int version;      /* -1: MCS_PROTO_VERSION */
	uint32_t magic;   /* 0: MCS_PROTO_MAGIC */
	const struct mcs_buf *body;
	bool declare;     /* a header declaring decl bytes, and no body */
	uint32_t decl;
	bool fresh;       /* on a connection of its own */
	bool bare;        /* ... not authenticated (no HELLO on the socket) */
	bool patch_buf;   /* body[0..4) is the connection's buf_id */
	size_t payload;   /* raw bytes after the frame (DATA_WRITE) */
	int expect;
};

/* x on c; its reaction into ans */
static void send_case(struct conn *c, const struct xcase *x)
{
	uint64_t id = next_id++;
	size_t blen = x->body ? x->body->len : 0;
	struct mcs_hdr h = { .magic = x->magic ? x->magic : MCS_PROTO_MAGIC,
			     .version = (uint8_t)(x->version < 0 ? MCS_PROTO_VERSION : x->version),
			     .flags = x->flags, .opcode = x->op, .req_id = id,
			     .body_len = x->declare ? x->decl : (uint32_t)blen };
	uint8_t hb[MCS_HDR_SIZE];
	mcs_hdr_encode(&h, hb);
	uint8_t *body = NULL;
	if (!x->declare && blen) {
		body = malloc(blen);
		memcpy(body, x->body->p, blen);
		if (x->patch_buf && blen >= 4)
			memcpy(body, &c->buf_id, 4); /* little-endian host */
	}
	int r = send_all(c->fd, hb, sizeof(hb));
	if (r == 0 && body)
		r = send_all(c->fd, body, blen);
	free(body);
	if (r == 0 && x->payload) {
		uint8_t *z = calloc(1, x->payload);
		r = send_all(c->fd, z, x->payload);
		free(z);
	}
	reaction(c->fd, id, &ans);
	if (r < 0 && ans.r != A_OK && ans.r != A_ERR)
		ans.r = A_CLOSED; /* it hung up while we sent: a close */
}

static void run(const struct xcase *x, const char *fmt, ...)
{
	char what[160];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(what + MCS_MIN(n, 100), sizeof(what) - (size_t)MCS_MIN(n, 100), " (%s %u)", mcs_op_name(x->op), x->op);
	fam_n[x->fam]++;
	if (x->body && x->body->err) {
		fail(x->fam, "%s: the body could not be made (%s)", what, mcs_status_text(x->body->err));
		return;
	}

	struct conn tmp, *c = &atk;
	bool reused = false;
	if (x->fresh || x->bare) {
		c = &tmp;
		if (conn_open(c, port, x->bare) < 0) {
			fail(x->fam, "%s: cannot connect", what);
			return;
		}
	} else if (atk.fd >= 0) {
		reused = true;
	} else if (conn_open(&atk, port, false) < 0) {
		fail(x->fam, "%s: cannot reconnect", what);
		return;
	}
	send_case(c, x);
	/* a connection the server closed after an earlier refusal's answer:
	 * the case again on a new one */
	if (reused && ans.r == A_CLOSED) {
		conn_close(&atk);
		if (conn_open(&atk, port, false) < 0) {
			fail(x->fam, "%s: cannot reconnect", what);
			return;
		}
		send_case(c, x);
	}
	bool good;
	if (x->expect == EXPECT_OK)
		good = ans.r == A_OK;
	else
		good = ans.r == A_ERR || ans.r == A_CLOSED;
	if (getenv("BAD_INPUT_VERBOSE"))
		fprintf(stderr, "case %s: %s: reaction %d status %d\n", fam_name[x->fam], what, ans.r, ans.status);
	if (!good) {
		static const char *rn[] = { "answered with success", "refused", "closed", "no answer within 30 s",
					    "answered another request" };
		fail(x->fam, "%s: %s (status %d, %s)", what, rn[ans.r], ans.status, mcs_status_text(ans.status));
	}
	/* a successful DATA_READ is followed by its bytes */
	struct mcs_data_resp dr;
	if (ans.r == A_OK && (x->op == MCS_OP_DATA_READ || x->op == MCS_OP_DATA_READV)) {
		if (mcs_dec_data_resp(ans.body, ans.len, &dr) == 0 && dr.len <= (1u << 20)) {
			uint8_t *sink = malloc(dr.len ? dr.len : 1);
			if (recv_all(c->fd, sink, dr.len) < 0)
				ans.r = A_CLOSED;
			free(sink);
		} else {
			ans.r = A_CLOSED;
			close(c->fd);
			c->fd = -1;
		}
	}
	if (c == &tmp || ans.r == A_CLOSED || ans.r == A_HANG || ans.r == A_WRONG)
		conn_close(c);
}

/* ---- the table ------------------------------------------------------- */

/* Does the port serve op (for an authenticated client)? */
static bool serves(uint16_t op)
{
	switch (port) {
	case P_MASTER:
		return op == MCS_OP_PING || op == MCS_OP_LEADER || (op >= MCS_OP_PUT_START && op <= MCS_OP_STAT) ||
		       (!keys.on && ((op >= MCS_OP_MOUNT && op <= MCS_OP_HEARTBEAT) ||
				     op == MCS_OP_REPLICA_REPORT || op == MCS_OP_REPORT_END));
	case P_UNIX:
		return op == MCS_OP_HELLO || op == MCS_OP_PING || op == MCS_OP_BUF_ALLOC || op == MCS_OP_BUF_FREE ||
		       op == MCS_OP_FETCH || op == MCS_OP_PUSH || (op >= MCS_OP_PUT_START && op <= MCS_OP_STAT);
	case P_DATA:
		return op == MCS_OP_PING || op == MCS_OP_DATA_READ || op == MCS_OP_DATA_WRITE || op == MCS_OP_DATA_READV;
	}
	return false;
}

static const uint16_t all_ops[] = { MCS_OP_HELLO, MCS_OP_PING, MCS_OP_BUF_ALLOC, MCS_OP_BUF_FREE, MCS_OP_AUTH,
				    MCS_OP_AUTH_PROOF, MCS_OP_MOUNT, MCS_OP_UNMOUNT, MCS_OP_HEARTBEAT,
				    MCS_OP_PUT_START, MCS_OP_PUT_END, MCS_OP_PUT_REVOKE, MCS_OP_GET_REPLICAS,
				    MCS_OP_RELEASE, MCS_OP_EXIST, MCS_OP_REMOVE, MCS_OP_REMOVE_ALL, MCS_OP_LIST,
				    MCS_OP_STAT, MCS_OP_FETCH, MCS_OP_PUSH, MCS_OP_DATA_READ, MCS_OP_DATA_WRITE,
				    MCS_OP_REPLICA_ADD, MCS_OP_REPLICA_DROP, MCS_OP_REPLICA_REPORT, MCS_OP_REPORT_END,
				    MCS_OP_LEADER, MCS_OP_DATA_READV };
#define N_OPS (sizeof(all_ops) / sizeof(all_ops[0]))
_Static_assert(N_OPS == 29, "every opcode of enum mcs_opcode is in the table");

static uint8_t nonce[MCS_NONCE_LEN] = { 1, 2, 3 };

/* The valid request body of op, from the real values, through the
 * descriptor table's encoder (none for PING, REMOVE_ALL and STAT); false
 * when op has no request body. */
static bool valid_body(uint16_t op, struct mcs_buf *b)
{
	const struct mcs_msg_desc *d = mcs_msg_for(op, false);
	mcs_buf_reset(b);
	if (!d)
		return false;
	uint64_t len = 4096;
	struct mcs_handle fh = own.h;
	fh.len = MCS_MIN(fh.len, (uint64_t)4096);
	union {
		struct mcs_hello_req hello;
		struct mcs_auth_req auth;
		struct mcs_auth_proof_req proof;
		struct mcs_mount_req mount;
		struct mcs_unmount_req unmount;
		struct mcs_replica_part part;
		struct mcs_replica_drop drop;
		struct mcs_heartbeat_req hb;
		struct mcs_put_start_req ps;
		struct mcs_put_end_req pe;
		struct mcs_key_req key;
		struct mcs_get_req get;
		struct mcs_release_req rel;
		struct mcs_remove_req rm;
		struct mcs_list_req list;
		struct mcs_buf_alloc_req ba;
		struct mcs_buf_free_req bf;
		struct mcs_transfer_req xfer;
		struct mcs_data_req data;
		struct mcs_data_readv_req readv;
	} m;
	struct mcs_data_range rs[2];
	memset(&m, 0, sizeof(m));
	switch (op) {
	case MCS_OP_HELLO:
		m.hello = (struct mcs_hello_req){ MCS_PROTO_VERSION, (uint32_t)getpid() };
		break;
	case MCS_OP_AUTH:
		m.auth = (struct mcs_auth_req){ MCS_ROLE_CLIENT, { (const char *)nonce, MCS_NONCE_LEN } };
		break;
	case MCS_OP_AUTH_PROOF:
		m.proof = (struct mcs_auth_proof_req){ { (const char *)nonce, MCS_AUTH_MAC_LEN } };
		break;
	case MCS_OP_MOUNT: /* a segment of a real name: mounted already */
		m.mount = (struct mcs_mount_req){ loc.h.node, loc.h.segment, 1u << 20, loc.h.endpoint, 7, 0 };
		break;
	case MCS_OP_UNMOUNT: /* another connection's segment */
	case MCS_OP_REPORT_END:
		m.unmount = (struct mcs_unmount_req){ loc.h.segment };
		break;
	case MCS_OP_REPLICA_ADD: /* where a stored object lies, on another connection's segment */
	case MCS_OP_REPLICA_REPORT:
		m.part = (struct mcs_replica_part){ loc.h.segment, mcs_str_c("bi-own"), loc.h.offset, loc.h.len, loc.h.len,
						    42, 0, 0, 0, 0, 1 };
		break;
	case MCS_OP_REPLICA_DROP:
		m.drop = (struct mcs_replica_drop){ loc.h.segment, loc.h.offset };
		break;
	case MCS_OP_HEARTBEAT:
		m.hb = (struct mcs_heartbeat_req){ loc.h.node };
		break;
	case MCS_OP_PUT_START: /* a stored key: -EEXIST */
		m.ps = (struct mcs_put_start_req){ .key = mcs_str_c("bi-own"), .value_len = len, .n_slices = 1,
						   .slice_lens = &len };
		m.ps.cfg.replica_num = 1;
		break;
	case MCS_OP_PUT_END: /* our pending put (ended in the duplicated family) */
		m.pe = (struct mcs_put_end_req){ mcs_str_c(pend_key), 42 };
		break;
	case MCS_OP_PUT_REVOKE:
	case MCS_OP_EXIST:
		m.key = (struct mcs_key_req){ mcs_str_c(op == MCS_OP_EXIST ? "bi-own" : pend_key) };
		break;
	case MCS_OP_GET_REPLICAS:
		m.get = (struct mcs_get_req){ mcs_str_c("bi-own"), 0 };
		break;
	case MCS_OP_RELEASE:
		m.rel = (struct mcs_release_req){ mcs_str_c("bi-own"), other_hold };
		break;
	case MCS_OP_REMOVE: /* a key that is not stored */
		m.rm = (struct mcs_remove_req){ mcs_str_c("bi-none"), 0 };
		break;
	case MCS_OP_LIST:
		m.list = (struct mcs_list_req){ mcs_str_c("bi-"), 0, 10 };
		break;
	case MCS_OP_BUF_ALLOC:
		m.ba = (struct mcs_buf_alloc_req){ 4096 };
		break;
	case MCS_OP_BUF_FREE:
		m.bf = (struct mcs_buf_free_req){ atk.buf_id };
		break;
	case MCS_OP_FETCH:
	case MCS_OP_PUSH:
		if (op == MCS_OP_PUSH) {
			fh = wr.h;
			fh.len = MCS_MIN(fh.len, (uint64_t)4096);
		}
		m.xfer = (struct mcs_transfer_req){ atk.buf_id, 0, 1, &fh };
		break;
	case MCS_OP_DATA_READ:
		m.data = (struct mcs_data_req){ own.h.segment, own.h.offset, fh.len, own.h.incarnation, own.h.endpoint,
						own.h.token };
		break;
	case MCS_OP_DATA_WRITE:
		m.data = (struct mcs_data_req){ wr.h.segment, wr.h.offset, 4096, wr.h.incarnation, wr.h.endpoint,
						wr.h.token };
		break;
	case MCS_OP_DATA_READV: /* the object's first bytes, then its first byte again */
		rs[0] = (struct mcs_data_range){ own.h.offset, fh.len, own.h.token };
		rs[1] = (struct mcs_data_range){ own.h.offset, 1, own.h.token };
		m.readv = (struct mcs_data_readv_req){ own.h.segment, own.h.incarnation, own.h.endpoint, 2, rs };
		break;
	default:
		return false;
	}
	d->enc(b, &m);
	if (b->err || d->dec(b->p, b->len, &m) < 0) {
		fprintf(stderr, "bad-input: the valid body of %s does not decode\n", mcs_op_name(op));
		exit(2);
	}
	if (d->free)
		d->free(&m);
	return true;
}

/* Whether body decodes as op's request (a generic mutation that happens
 * to be valid is no bad case) */
static bool decodes(uint16_t op, const uint8_t *p, size_t n)
{
	const struct mcs_msg_desc *d = mcs_msg_for(op, false);
	_Alignas(16) uint8_t m[1024];
	if (!d) /* no body expected: only an empty one is valid */
		return n == 0;
	if (d->size > sizeof(m) || d->dec(p, n, m) < 0)
		return false;
	if (d->free)
		d->free(m);
	return true;
}

static bool is_buf_op(uint16_t op)
{
	return op == MCS_OP_BUF_FREE || op == MCS_OP_FETCH || op == MCS_OP_PUSH;
}

/* a request refused on the attacker's connection (pipelined) */
static void refuse(enum fam f, uint16_t op, const struct mcs_buf *b, const char *what)
{
	struct xcase x = { .fam = f, .op = op, .version = -1, .body = b, .expect = EXPECT_REFUSAL };
	run(&x, "%s", what);
}

static void fam_base(struct mcs_buf *b)
{
	static const uint16_t ops[] = { MCS_OP_PING, MCS_OP_HELLO, MCS_OP_STAT, MCS_OP_EXIST, MCS_OP_GET_REPLICAS,
					MCS_OP_LIST, MCS_OP_BUF_ALLOC, MCS_OP_FETCH, MCS_OP_DATA_READ,
					MCS_OP_DATA_WRITE, MCS_OP_PUSH, MCS_OP_DATA_READV };
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (!serves(ops[i]))
			continue;
		bool has = valid_body(ops[i], b);
		struct xcase x = { .fam = F_BASE, .op = ops[i], .version = -1, .body = has ? b : NULL,
				   .patch_buf = is_buf_op(ops[i]), .expect = EXPECT_OK,
				   .payload = ops[i] == MCS_OP_DATA_WRITE ? 4096 : 0 };
		run(&x, "the valid request");
	}
}

static void fam_auth(struct mcs_buf *b)
{
	struct xcase x = { .fam = F_AUTH, .version = -1, .bare = true, .body = b, .expect = EXPECT_REFUSAL };
	if (port == P_UNIX) {
		x.op = MCS_OP_STAT;
		x.body = NULL;
		run(&x, "a request before HELLO");
		x.op = MCS_OP_GET_REPLICAS;
		valid_body(x.op, b);
		x.body = b;
		run(&x, "a get before HELLO");
		x.op = MCS_OP_AUTH;
		valid_body(x.op, b);
		run(&x, "AUTH on the socket");
		mcs_buf_reset(b);
		mcs_enc_hello_req(b, &(struct mcs_hello_req){ 2, 1 });
		x.op = MCS_OP_HELLO;
		run(&x, "HELLO of protocol 2");
		return;
	}
	if (!keys.on) {
		x.op = MCS_OP_AUTH;
		valid_body(x.op, b);
		run(&x, "AUTH to a keyless port");
		x.op = MCS_OP_AUTH_PROOF;
		valid_body(x.op, b);
		run(&x, "AUTH_PROOF to a keyless port");
		return;
	}
	/* a valid request of the port, unauthenticated */
	x.op = port == P_MASTER ? MCS_OP_GET_REPLICAS : MCS_OP_DATA_READ;
	valid_body(x.op, b);
	run(&x, "the valid request, not authenticated");
	x.op = port == P_MASTER ? MCS_OP_STAT : MCS_OP_DATA_WRITE;
	x.payload = x.op == MCS_OP_DATA_WRITE ? 4096 : 0;
	if (x.op == MCS_OP_DATA_WRITE)
		valid_body(x.op, b);
	else
		x.body = NULL;
	run(&x, "the valid request, not authenticated");
	x.payload = 0;
	x.body = b;
	x.op = MCS_OP_AUTH_PROOF;
	valid_body(x.op, b);
	run(&x, "AUTH_PROOF before AUTH");
	/* AUTH then a wrong proof, as a client and as a node (the client key
	 * cannot make a node's proof), and an unknown role */
	static const uint32_t roles[] = { MCS_ROLE_CLIENT, MCS_ROLE_NODE, 0, 3, 0xffffffffu };
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		struct conn c;
		fam_n[F_AUTH]++;
		if (conn_open(&c, port, true) < 0) {
			fail(F_AUTH, "AUTH role %u: cannot connect", roles[i]);
			continue;
		}
		mcs_buf_reset(b);
		mcs_enc_auth_req(b, &(struct mcs_auth_req){ roles[i], { (const char *)nonce, MCS_NONCE_LEN } });
		int r = call(c.fd, MCS_OP_AUTH, b, &ans);
		if (r == 0) {
			mcs_buf_reset(b);
			uint8_t mac[MCS_AUTH_MAC_LEN] = { 9 };
			mcs_enc_auth_proof_req(b, &(struct mcs_auth_proof_req){ { (const char *)mac, sizeof(mac) } });
			r = call(c.fd, MCS_OP_AUTH_PROOF, b, &ans);
		}
		if (r == 0)
			fail(F_AUTH, "AUTH as role %u with a forged proof: accepted", roles[i]);
		else if (ans.r == A_HANG)
			fail(F_AUTH, "AUTH as role %u with a forged proof: no answer within 30 s", roles[i]);
		conn_close(&c);
	}
}

static void fam_trunc(struct mcs_buf *b)
{
	struct mcs_buf t;
	mcs_buf_init(&t);
	for (size_t i = 0; i < N_OPS; i++) {
		uint16_t op = all_ops[i];
		if (!valid_body(op, b))
			continue;
		for (size_t cut = 0; cut < b->len; cut++) {
			if (decodes(op, b->p, cut))
				continue;
			mcs_buf_reset(&t);
			mcs_buf_put_bytes(&t, b->p, cut);
			struct xcase x = { .fam = F_TRUNC, .op = op, .version = -1, .body = &t, .expect = EXPECT_REFUSAL,
					   .patch_buf = is_buf_op(op) };
			run(&x, "cut at byte %zu of %zu", cut, b->len);
		}
	}
	mcs_buf_free(&t);
}

static void fam_over(struct mcs_buf *b)
{
	struct mcs_buf t;
	mcs_buf_init(&t);
	for (size_t i = 0; i < N_OPS; i++) {
		uint16_t op = all_ops[i];
		/* a header above the port's limit: closed at once, unread */
		struct xcase x = { .fam = F_OVER, .op = op, .version = -1, .declare = true, .decl = port_max + 1,
				   .fresh = true, .expect = EXPECT_REFUSAL };
		run(&x, "body_len %u, one above the limit", port_max + 1);
		x.decl = 0xffffffffu;
		run(&x, "body_len 2^32-1");
		/* trailing bytes (PING's body is not read: documented) */
		if (op == MCS_OP_PING)
			continue;
		bool has = valid_body(op, b);
		static const size_t extra[] = { 1, 8, 300 };
		for (size_t e = 0; e < sizeof(extra) / sizeof(extra[0]); e++) {
			mcs_buf_reset(&t);
			if (has)
				mcs_buf_put_bytes(&t, b->p, b->len);
			for (size_t k = 0; k < extra[e]; k++)
				mcs_buf_put_u8(&t, (uint8_t)(k + 1));
			if (decodes(op, t.p, t.len))
				continue;
			struct xcase y = { .fam = F_OVER, .op = op, .version = -1, .body = &t, .expect = EXPECT_REFUSAL,
					   .patch_buf = is_buf_op(op) };
			run(&y, "%zu trailing bytes", extra[e]);
		}
	}
	mcs_buf_free(&t);
}

/* ---- hand-made bodies (the encoders refuse to make them) --------------- */

static void put_raw_str(struct mcs_buf *b, const char *p, size_t n)
{
	mcs_buf_put_u16(b, (uint16_t)n);
	mcs_buf_put_bytes(b, p, n);
}

static void put_raw_handle(struct mcs_buf *b, const struct mcs_handle *h)
{
	put_raw_str(b, h->segment.p, h->segment.len);
	put_raw_str(b, h->node.p, h->node.len);
	put_raw_str(b, h->endpoint.p, h->endpoint.len);
	mcs_buf_put_u64(b, h->offset);
	mcs_buf_put_u64(b, h->len);
	mcs_buf_put_u64(b, h->incarnation);
	put_raw_str(b, h->token.p, h->token.len);
}

static void raw_transfer(struct mcs_buf *b, uint32_t buf_id, uint64_t off, uint32_t n, const struct mcs_handle *hs,
			 uint32_t nh)
{
	mcs_buf_reset(b);
	mcs_buf_put_u32(b, buf_id);
	mcs_buf_put_u64(b, off);
	mcs_buf_put_u32(b, n);
	for (uint32_t i = 0; i < nh; i++)
		put_raw_handle(b, &hs[i]);
}

static void raw_data(struct mcs_buf *b, const struct mcs_handle *h, uint64_t off, uint64_t len)
{
	mcs_buf_reset(b);
	put_raw_str(b, h->segment.p, h->segment.len);
	mcs_buf_put_u64(b, off);
	mcs_buf_put_u64(b, len);
	mcs_buf_put_u64(b, h->incarnation);
	put_raw_str(b, h->endpoint.p, h->endpoint.len);
	put_raw_str(b, h->token.p, h->token.len);
}

/* As raw_data for DATA_READ and DATA_WRITE; for DATA_READV, a request of
 * h's segment, incarnation and endpoint whose first range is valid (the
 * first byte of bi-own, its token) and whose second is the case's: one
 * bad range must refuse the whole request. */
static void raw_data_op(struct mcs_buf *b, uint16_t op, const struct mcs_handle *h, uint64_t off, uint64_t len)
{
	if (op != MCS_OP_DATA_READV) {
		raw_data(b, h, off, len);
		return;
	}
	mcs_buf_reset(b);
	put_raw_str(b, h->segment.p, h->segment.len);
	mcs_buf_put_u64(b, h->incarnation);
	put_raw_str(b, h->endpoint.p, h->endpoint.len);
	mcs_buf_put_u32(b, 2);
	mcs_buf_put_u64(b, own.h.offset);
	mcs_buf_put_u64(b, 1);
	put_raw_str(b, own.h.token.p, own.h.token.len);
	mcs_buf_put_u64(b, off);
	mcs_buf_put_u64(b, len);
	put_raw_str(b, h->token.p, h->token.len);
}

/* A DATA_READV of n ranges of len bytes each, from bi-own's offset on. */
static void raw_readv(struct mcs_buf *b, uint32_t n_said, uint32_t n, uint64_t len)
{
	mcs_buf_reset(b);
	put_raw_str(b, own.h.segment.p, own.h.segment.len);
	mcs_buf_put_u64(b, own.h.incarnation);
	put_raw_str(b, own.h.endpoint.p, own.h.endpoint.len);
	mcs_buf_put_u32(b, n_said);
	for (uint32_t i = 0; i < n; i++) {
		mcs_buf_put_u64(b, own.h.offset);
		mcs_buf_put_u64(b, len);
		put_raw_str(b, own.h.token.p, own.h.token.len);
	}
}

static void raw_put_start(struct mcs_buf *b, const char *key, size_t klen, uint64_t value_len, uint32_t n_slices,
			  const uint64_t *slices, uint32_t n_given, uint32_t replicas, uint16_t n_loc)
{
	mcs_buf_reset(b);
	put_raw_str(b, key, klen);
	mcs_buf_put_u64(b, value_len);
	mcs_buf_put_u32(b, n_slices);
	for (uint32_t i = 0; i < n_given; i++)
		mcs_buf_put_u64(b, slices[i]);
	mcs_buf_put_u32(b, replicas);
	mcs_buf_put_u32(b, 0);
	mcs_buf_put_u16(b, n_loc);
	for (uint16_t i = 0; i < n_loc && i < 4; i++)
		put_raw_str(b, loc.seg, strlen(loc.seg));
}

static char big[MCS_KEY_MAX + 2];

static void transfer_case(enum fam f, uint16_t op, struct mcs_buf *b, bool patch, const char *what)
{
	struct xcase x = { .fam = f, .op = op, .version = -1, .body = b, .patch_buf = patch, .expect = EXPECT_REFUSAL };
	run(&x, "%s", what);
}

static void fam_range(struct mcs_buf *b)
{
	uint64_t one = 4096;
	/* keys, names and strings one past their limits, and empty keys */
	raw_put_start(b, big, MCS_KEY_MAX + 1, one, 1, &one, 1, 1, 0);
	refuse(F_RANGE, MCS_OP_PUT_START, b, "a key of MCS_KEY_MAX+1 bytes");
	raw_put_start(b, big, 0, one, 1, &one, 1, 1, 0);
	refuse(F_RANGE, MCS_OP_PUT_START, b, "an empty key");
	raw_put_start(b, "bi-r1", 5, one, MCS_MAX_SLICES + 1, &one, 1, 1, 0);
	refuse(F_RANGE, MCS_OP_PUT_START, b, "MCS_MAX_SLICES+1 slices");
	raw_put_start(b, "bi-r1", 5, one, 1, &one, 1, MCS_MAX_REPLICAS + 1, 0);
	refuse(F_RANGE, MCS_OP_PUT_START, b, "replica_num MCS_MAX_REPLICAS+1");
	raw_put_start(b, "bi-r1", 5, one, 1, &one, 1, 1, MCS_MAX_LOCATIONS + 1);
	refuse(F_RANGE, MCS_OP_PUT_START, b, "MCS_MAX_LOCATIONS+1 locations");
	uint64_t huge = 1ull << 62;
	raw_put_start(b, "bi-r1", 5, huge, 1, &huge, 1, 1, 0);
	refuse(F_RANGE, MCS_OP_PUT_START, b, "a 4 EiB value");
	static const uint16_t key_ops[] = { MCS_OP_PUT_END, MCS_OP_PUT_REVOKE, MCS_OP_GET_REPLICAS, MCS_OP_RELEASE,
					    MCS_OP_EXIST, MCS_OP_REMOVE };
	for (size_t i = 0; i < sizeof(key_ops) / sizeof(key_ops[0]); i++)
		for (int empty = 0; empty < 2; empty++) {
			mcs_buf_reset(b);
			put_raw_str(b, big, empty ? 0 : MCS_KEY_MAX + 1);
			if (key_ops[i] == MCS_OP_PUT_END || key_ops[i] == MCS_OP_RELEASE)
				mcs_buf_put_u64(b, 1);
			else if (key_ops[i] != MCS_OP_PUT_REVOKE && key_ops[i] != MCS_OP_EXIST)
				mcs_buf_put_u32(b, 0);
			refuse(F_RANGE, key_ops[i], b, empty ? "an empty key" : "a key of MCS_KEY_MAX+1 bytes");
		}
	/* hold ids that were never handed out */
	static const uint64_t holds[] = { 0, 1, 0xffffffffffffffffull };
	for (size_t i = 0; i < 3; i++) {
		mcs_buf_reset(b);
		mcs_enc_release_req(b, &(struct mcs_release_req){ mcs_str_c("bi-own"), holds[i] });
		refuse(F_RANGE, MCS_OP_RELEASE, b, "a hold id never granted");
	}
	/* LIST limits */
	static const uint32_t limits[] = { 0, MCS_LIST_MAX + 1, 0xffffffffu };
	for (size_t i = 0; i < 3; i++) {
		mcs_buf_reset(b);
		put_raw_str(b, "bi-", 3);
		mcs_buf_put_u64(b, 0);
		mcs_buf_put_u32(b, limits[i]);
		refuse(F_RANGE, MCS_OP_LIST, b, "LIST limit out of 1..MCS_LIST_MAX");
	}
	mcs_buf_reset(b);
	put_raw_str(b, big, MCS_KEY_MAX + 1);
	mcs_buf_put_u64(b, 0);
	mcs_buf_put_u32(b, 10);
	refuse(F_RANGE, MCS_OP_LIST, b, "a LIST prefix of MCS_KEY_MAX+1 bytes");
	/* names of MCS_NAME_MAX+1 bytes; a zero size */
	mcs_buf_reset(b);
	put_raw_str(b, big, MCS_NAME_MAX + 1);
	refuse(F_RANGE, MCS_OP_UNMOUNT, b, "a name of MCS_NAME_MAX+1 bytes");
	refuse(F_RANGE, MCS_OP_HEARTBEAT, b, "a name of MCS_NAME_MAX+1 bytes");
	mcs_buf_reset(b);
	put_raw_str(b, "bi", 2);
	put_raw_str(b, big, MCS_NAME_MAX + 1);
	mcs_buf_put_u64(b, 1 << 20);
	put_raw_str(b, "", 0);
	mcs_buf_put_u64(b, 1);
	refuse(F_RANGE, MCS_OP_MOUNT, b, "a segment name of MCS_NAME_MAX+1 bytes");
	mcs_buf_reset(b);
	mcs_enc_mount_req(b, &(struct mcs_mount_req){ mcs_str_c("bi"), mcs_str_c("bi-0"), 0, mcs_str_c(""), 1, 0 });
	refuse(F_RANGE, MCS_OP_MOUNT, b, "a segment of 0 bytes");
	/* HELLO of other versions; AUTH with short nonces and proofs */
	static const uint32_t versions[] = { 0, MCS_PROTO_VERSION - 1, MCS_PROTO_VERSION + 1, 0xffffffffu };
	for (size_t i = 0; i < 4; i++) {
		mcs_buf_reset(b);
		mcs_enc_hello_req(b, &(struct mcs_hello_req){ versions[i], 1 });
		struct xcase x = { .fam = F_RANGE, .op = MCS_OP_HELLO, .version = -1, .body = b, .fresh = true,
				   .bare = true, .expect = EXPECT_REFUSAL };
		run(&x, "HELLO of protocol %u", versions[i]);
	}
	static const size_t nlens[] = { 0, MCS_NONCE_LEN - 1, MCS_NONCE_LEN + 1 };
	for (size_t i = 0; i < 3; i++) {
		mcs_buf_reset(b);
		mcs_buf_put_u32(b, MCS_ROLE_CLIENT);
		put_raw_str(b, big, nlens[i]);
		struct xcase x = { .fam = F_RANGE, .op = MCS_OP_AUTH, .version = -1, .body = b, .fresh = true,
				   .bare = true, .expect = EXPECT_REFUSAL };
		run(&x, "AUTH with a nonce of %zu bytes", nlens[i]);
		mcs_buf_reset(b);
		put_raw_str(b, big, nlens[i]);
		x.op = MCS_OP_AUTH_PROOF;
		run(&x, "AUTH_PROOF with a proof of %zu bytes", nlens[i]);
	}
	/* BUF_ALLOC sizes: 0, past any limit */
	static const uint64_t sizes[] = { 0, 1ull << 50, 1ull << 63 };
	for (size_t i = 0; i < 3; i++) {
		mcs_buf_reset(b);
		mcs_enc_buf_alloc_req(b, &(struct mcs_buf_alloc_req){ sizes[i] });
		refuse(F_RANGE, MCS_OP_BUF_ALLOC, b, "BUF_ALLOC of 0 or too many bytes");
	}
	mcs_buf_reset(b);
	mcs_enc_buf_free_req(b, &(struct mcs_buf_free_req){ 0xffffffffu });
	refuse(F_RANGE, MCS_OP_BUF_FREE, b, "BUF_FREE of buf_id 2^32-1");
	/* FETCH / PUSH: counts, offsets and lengths past their ends */
	for (int push = 0; push < 2; push++) {
		uint16_t op = push ? MCS_OP_PUSH : MCS_OP_FETCH;
		struct mcs_handle h = push ? wr.h : own.h, l = loc.h;
		h.len = 4096;
		raw_transfer(b, 0, 0, MCS_MAX_HANDLES + 1, &h, 1);
		transfer_case(F_RANGE, op, b, true, "MCS_MAX_HANDLES+1 handles");
		raw_transfer(b, 0, 65536, 1, &h, 1);
		transfer_case(F_RANGE, op, b, true, "buf_off at the buffer's end");
		raw_transfer(b, 0, 65536 - 100, 1, &h, 1);
		transfer_case(F_RANGE, op, b, true, "a handle running past the buffer's end");
		h.len = 1u << 20;
		raw_transfer(b, 0, 0, 1, &h, 1);
		transfer_case(F_RANGE, op, b, true, "a handle longer than the buffer");
		/* the socket's own segment: past its end (no token is asked) */
		l.offset = atk.seg_size ? atk.seg_size : (1ull << 40);
		l.len = 4096;
		raw_transfer(b, 0, 0, 1, &l, 1);
		transfer_case(F_RANGE, op, b, true, "a local handle past the segment's end");
		l.offset = 0;
		l.len = (atk.seg_size ? atk.seg_size : (1ull << 40)) + 4096;
		raw_transfer(b, 0, 0, 1, &l, 1);
		transfer_case(F_RANGE, op, b, true, "a local handle longer than the segment");
		raw_transfer(b, 0, 0, 1, &l, 0);
		transfer_case(F_RANGE, op, b, true, "n_handles 1 and no handle");
	}
	/* DATA_*: lengths 0 and past MCS_MAX_DATA_CHUNK, ranges past the
	 * segment, a token of the wrong size, a name too long (for
	 * DATA_READV, in its second range, after a valid one) */
	static const uint16_t data_ops[] = { MCS_OP_DATA_READ, MCS_OP_DATA_WRITE, MCS_OP_DATA_READV };
	for (int w = 0; w < 3; w++) {
		uint16_t op = data_ops[w];
		const struct mcs_handle *h = w == 1 ? &wr.h : &own.h;
		raw_data_op(b, op, h, h->offset, 0);
		refuse(F_RANGE, op, b, "len 0");
		raw_data_op(b, op, h, h->offset, MCS_MAX_DATA_CHUNK + 1);
		refuse(F_RANGE, op, b, "len MCS_MAX_DATA_CHUNK+1");
		raw_data_op(b, op, h, 1ull << 40, 4096);
		refuse(F_RANGE, op, b, "an offset past the segment's end");
		if (keys.on) { /* without a key, any range of the segment is open (documented) */
			raw_data_op(b, op, h, h->offset, h->len + 4096);
			refuse(F_RANGE, op, b, "4 KiB past the granted range");
		}
		struct mcs_handle t = *h;
		t.token.len = MCS_TOKEN_LEN - 1;
		raw_data_op(b, op, &t, h->offset, 4096);
		refuse(F_RANGE, op, b, "a token of 40 bytes");
		t = *h;
		t.segment = (struct mcs_str){ big, MCS_NAME_MAX + 1 };
		raw_data_op(b, op, &t, h->offset, 4096);
		refuse(F_RANGE, op, b, "a segment name of MCS_NAME_MAX+1 bytes");
		t.segment = (struct mcs_str){ big, 0 };
		raw_data_op(b, op, &t, h->offset, 4096);
		refuse(F_RANGE, op, b, "an empty segment name");
	}
	/* DATA_READV's own counts: none, one too many (said, and sent),
	 * more than it sends, and ranges adding up past MCS_MAX_DATA_CHUNK */
	raw_readv(b, 0, 0, 1);
	refuse(F_RANGE, MCS_OP_DATA_READV, b, "n_ranges 0");
	raw_readv(b, MCS_MAX_READV + 1, MCS_MAX_READV + 1, 1);
	refuse(F_RANGE, MCS_OP_DATA_READV, b, "MCS_MAX_READV+1 ranges");
	raw_readv(b, MCS_MAX_READV, 2, 1);
	refuse(F_RANGE, MCS_OP_DATA_READV, b, "n_ranges 256 and 2 ranges");
	raw_readv(b, 3, 3, MCS_MAX_DATA_CHUNK / 2);
	refuse(F_RANGE, MCS_OP_DATA_READV, b, "3 ranges of 32 MiB (96 MiB in all)");
	raw_readv(b, 2, 2, UINT64_MAX / 2 + 1);
	refuse(F_RANGE, MCS_OP_DATA_READV, b, "2 ranges adding up to 2^64");
}

static void fam_wrap(struct mcs_buf *b)
{
	/* slices whose sum wraps to value_len */
	uint64_t sl[2] = { 1ull << 63, (1ull << 63) + 4096 };
	raw_put_start(b, "bi-w1", 5, 4096, 2, sl, 2, 1, 0);
	refuse(F_WRAP, MCS_OP_PUT_START, b, "slices adding up to 4096 modulo 2^64");
	uint64_t mx[1] = { UINT64_MAX };
	raw_put_start(b, "bi-w1", 5, UINT64_MAX, 1, mx, 1, 1, 0);
	refuse(F_WRAP, MCS_OP_PUT_START, b, "a value of 2^64-1 bytes");
	for (int push = 0; push < 2; push++) {
		uint16_t op = push ? MCS_OP_PUSH : MCS_OP_FETCH;
		struct mcs_handle h[2] = { push ? wr.h : own.h, push ? wr.h : own.h };
		h[0].len = h[1].len = 4096;
		raw_transfer(b, 0, UINT64_MAX - 100, 1, h, 1);
		transfer_case(F_WRAP, op, b, true, "buf_off + len wraps");
		h[0].len = 1ull << 63;
		h[1].len = (1ull << 63) + 4096;
		raw_transfer(b, 0, 0, 2, h, 2);
		transfer_case(F_WRAP, op, b, true, "handle lengths adding up to 4096 modulo 2^64");
		h[0] = loc.h;
		h[0].offset = UINT64_MAX - 100;
		h[0].len = 4096;
		raw_transfer(b, 0, 0, 1, h, 1);
		transfer_case(F_WRAP, op, b, true, "a local handle whose offset + len wraps");
		h[0] = own.h;
		h[0].offset = UINT64_MAX - 100;
		h[0].len = 4096;
		raw_transfer(b, 0, 0, 1, h, 1);
		transfer_case(F_WRAP, op, b, true, "a remote handle whose offset + len wraps");
		h[0].offset = own.h.offset + 4096;
		h[0].len = UINT64_MAX - 4095; /* ends at the real offset, modulo 2^64 */
		raw_transfer(b, 0, 0, 1, h, 1);
		transfer_case(F_WRAP, op, b, true, "a handle wrapping onto the granted range");
	}
	static const uint16_t data_ops[] = { MCS_OP_DATA_READ, MCS_OP_DATA_WRITE, MCS_OP_DATA_READV };
	for (int w = 0; w < 3; w++) {
		uint16_t op = data_ops[w];
		const struct mcs_handle *h = w == 1 ? &wr.h : &own.h;
		raw_data_op(b, op, h, UINT64_MAX - 100, 4096);
		refuse(F_WRAP, op, b, "offset + len wraps");
		raw_data_op(b, op, h, UINT64_MAX, 1);
		refuse(F_WRAP, op, b, "offset 2^64-1, len 1");
		raw_data_op(b, op, h, h->offset + 4096, UINT64_MAX - 4095);
		refuse(F_WRAP, op, b, "a range wrapping onto the granted one");
	}
	static const uint64_t sizes[] = { UINT64_MAX, UINT64_MAX - 4094 };
	for (size_t i = 0; i < 2; i++) {
		mcs_buf_reset(b);
		mcs_enc_buf_alloc_req(b, &(struct mcs_buf_alloc_req){ sizes[i] });
		refuse(F_WRAP, MCS_OP_BUF_ALLOC, b, "a BUF_ALLOC whose rounding up to 4096 wraps");
	}
	mcs_buf_reset(b);
	mcs_enc_mount_req(b, &(struct mcs_mount_req){ loc.h.node, loc.h.segment, UINT64_MAX, loc.h.endpoint, 7, 0 });
	refuse(F_WRAP, MCS_OP_MOUNT, b, "a MOUNT of 2^64-1 bytes under a mounted name");
}

/* the same request twice: the first as the port serves it, the second refused */
static void twice(uint16_t op, struct mcs_buf *b, const char *what, bool patch)
{
	struct xcase x = { .fam = F_DUP, .op = op, .version = -1, .body = b, .patch_buf = patch,
			   .expect = serves(op) ? EXPECT_OK : EXPECT_REFUSAL };
	run(&x, "%s, first", what);
	x.expect = EXPECT_REFUSAL;
	run(&x, "%s, again", what);
}

static bool atk_open(void)
{
	return atk.fd >= 0 || conn_open(&atk, port, false) == 0;
}

static void fam_dup(struct mcs_buf *b)
{
	char key[96], key2[96];
	snprintf(key, sizeof(key), "%s-dup", pend_key);
	snprintf(key2, sizeof(key2), "%s-dup2", pend_key);
	uint64_t len = 4096;
	/* on one connection (these pairs must not be split by a reconnect) */
	if (!atk_open())
		fail(F_DUP, "cannot reconnect");
	/* PUT_START twice (a put under way), PUT_END twice, REMOVE twice */
	mcs_buf_reset(b);
	enc_put_start(b, key, &len, NULL);
	twice(MCS_OP_PUT_START, b, "PUT_START of a new key", false);
	mcs_buf_reset(b);
	mcs_enc_put_end_req(b, &(struct mcs_put_end_req){ mcs_str_c(key), 42 });
	twice(MCS_OP_PUT_END, b, "PUT_END", false);
	mcs_buf_reset(b);
	mcs_enc_remove_req(b, &(struct mcs_remove_req){ mcs_str_c(key), 0 });
	twice(MCS_OP_REMOVE, b, "REMOVE", false);
	/* another put, revoked twice */
	mcs_buf_reset(b);
	enc_put_start(b, key2, &len, NULL);
	struct xcase x = { .fam = F_DUP, .op = MCS_OP_PUT_START, .version = -1, .body = b,
			   .expect = serves(MCS_OP_PUT_START) ? EXPECT_OK : EXPECT_REFUSAL };
	run(&x, "PUT_START of another new key");
	mcs_buf_reset(b);
	mcs_enc_key_req(b, &(struct mcs_key_req){ mcs_str_c(key2) });
	twice(MCS_OP_PUT_REVOKE, b, "PUT_REVOKE", false);
	/* a hold of ours released twice */
	uint64_t hold = 0;
	if (serves(MCS_OP_GET_REPLICAS) && (!atk_open() || get_handle(atk.fd, "bi-own", MCS_GET_HOLD, NULL, &hold) < 0))
		fail(F_DUP, "GET_REPLICAS with MCS_GET_HOLD failed");
	mcs_buf_reset(b);
	mcs_enc_release_req(b, &(struct mcs_release_req){ mcs_str_c("bi-own"), hold ? hold : 77 });
	twice(MCS_OP_RELEASE, b, "RELEASE of our hold", false);
	/* a buffer freed twice */
	uint32_t id = 0xbeef;
	if (port == P_UNIX) {
		mcs_buf_reset(b);
		mcs_enc_buf_alloc_req(b, &(struct mcs_buf_alloc_req){ 4096 });
		struct mcs_buf_alloc_resp br;
		if (atk_open() && call(atk.fd, MCS_OP_BUF_ALLOC, b, &ans) == 0 && mcs_dec_buf_alloc_resp(ans.body, ans.len, &br) == 0)
			id = br.buf_id;
		else
			fail(F_DUP, "BUF_ALLOC failed");
	}
	mcs_buf_reset(b);
	mcs_enc_buf_free_req(b, &(struct mcs_buf_free_req){ id });
	twice(MCS_OP_BUF_FREE, b, "BUF_FREE", false);
	/* a second AUTH on an authenticated link (refused and closed) */
	valid_body(MCS_OP_AUTH, b);
	refuse(F_DUP, MCS_OP_AUTH, b, "AUTH after the handshake");
	/* MOUNT of a name mounted already */
	valid_body(MCS_OP_MOUNT, b);
	refuse(F_DUP, MCS_OP_MOUNT, b, "MOUNT of a segment name mounted already");
	/* fields given twice: a body followed by itself, for every opcode */
	struct mcs_buf t;
	mcs_buf_init(&t);
	for (size_t i = 0; i < N_OPS; i++) {
		if (!valid_body(all_ops[i], b))
			continue;
		mcs_buf_reset(&t);
		mcs_buf_put_bytes(&t, b->p, b->len);
		mcs_buf_put_bytes(&t, b->p, b->len);
		if (decodes(all_ops[i], t.p, t.len))
			continue;
		struct xcase y = { .fam = F_DUP, .op = all_ops[i], .version = -1, .body = &t, .expect = EXPECT_REFUSAL,
				   .patch_buf = is_buf_op(all_ops[i]) };
		run(&y, "every field twice");
	}
	mcs_buf_free(&t);
	/* the same handle twice, more than the buffer holds */
	for (int push = 0; push < 2; push++) {
		struct mcs_handle h[2] = { push ? wr.h : own.h, push ? wr.h : own.h };
		h[0].len = h[1].len = 4096;
		raw_transfer(b, 0, 65536 - 4096, 2, h, 2);
		transfer_case(F_DUP, push ? MCS_OP_PUSH : MCS_OP_FETCH, b, true,
			      "the same handle twice, past the buffer's end");
	}
}

static void forged_token_cases(struct mcs_buf *b, uint16_t op, const struct mcs_handle *h, const struct mcs_handle *other)
{
	bool xfer = op == MCS_OP_FETCH || op == MCS_OP_PUSH;
	uint8_t tok[MCS_TOKEN_LEN];
	struct mcs_handle t;
	char what[96];
#define SEND(desc)                                                            \
	do {                                                                  \
		if (xfer)                                                     \
			raw_transfer(b, 0, 0, 1, &t, 1);                      \
		else                                                          \
			raw_data_op(b, op, &t, t.offset, t.len);              \
		transfer_case(F_FORGE, op, b, xfer, desc);                    \
	} while (0)
	for (size_t i = 0; i < MCS_TOKEN_LEN; i += 5) {
		t = *h;
		t.len = 4096;
		memcpy(tok, h->token.p, MCS_TOKEN_LEN);
		tok[i] ^= 0x40;
		t.token = (struct mcs_str){ (const char *)tok, MCS_TOKEN_LEN };
		snprintf(what, sizeof(what), "a token with byte %zu edited", i);
		SEND(what);
	}
	t = *h;
	t.len = 4096;
	t.token = (struct mcs_str){ "", 0 };
	SEND("no token");
	t = *h;
	t.len = 4096;
	t.token = other->token;
	SEND("the token of another range");
	t = *other;
	t.len = 4096;
	t.token = h->token;
	SEND("a token on another range");
	t = *h;
	t.len = 4096;
	t.endpoint = mcs_str_c("127.0.0.1:1");
	SEND("another endpoint than the token's");
	t = *h;
	t.len = 4096;
	t.offset += 4096 * 1024;
	SEND("the range moved past the grant");
#undef SEND
}

/* A writer whose put went before its PUT_END (revoked; its connection
 * closed) still holds its write token until the token expires: the space
 * must not be given to another put meanwhile, or the old writer writes
 * into the new object (found by this table: the master freed the space at
 * once). The put that goes, made on the setup connection (revoke) or on
 * one of its own (close); then another put on the same segment; then the
 * old token at the node, directly (DATA_WRITE) or through the daemon
 * (PUSH). */
static void stale_writer(struct mcs_buf *b, bool by_close, int n)
{
	struct real_handle wx, wy;
	char kx[96], ky[96];
	snprintf(kx, sizeof(kx), "%s-gone-%d", pend_key, n);
	snprintf(ky, sizeof(ky), "%s-next-%d", pend_key, n);
	struct conn c;
	int fd = setup.fd;
	if (by_close) {
		if (conn_open(&c, P_MASTER, false) < 0) {
			fail(F_FORGE, "cannot connect to the master");
			return;
		}
		fd = c.fd;
	}
	if (put_start(fd, kx, 8192, own.seg, &wx) < 0) {
		fail(F_FORGE, "PUT_START %s failed", kx);
		return;
	}
	if (by_close) {
		conn_close(&c);
		/* the master has seen the close once a put of the same key is
		 * taken (its put went with the connection) */
		int r = -EAGAIN;
		for (int i = 0; i < 3000 && r == -EAGAIN; i++) {
			r = put_start(setup.fd, kx, 8192, own.seg, NULL);
			if (r == -EAGAIN)
				usleep(10000);
		}
		if (r < 0 || key_op(setup.fd, MCS_OP_PUT_REVOKE, kx) < 0) {
			fail(F_FORGE, "the put of a closed connection stayed (%s)", mcs_status_text(r));
			return;
		}
	} else if (key_op(setup.fd, MCS_OP_PUT_REVOKE, kx) < 0) {
		fail(F_FORGE, "PUT_REVOKE %s failed", kx);
		return;
	}
	if (put_start(setup.fd, ky, 8192, own.seg, &wy) < 0) {
		fail(F_FORGE, "PUT_START %s failed", ky);
		return;
	}
	bool overlap = wx.h.offset < wy.h.offset + wy.h.len && wy.h.offset < wx.h.offset + wx.h.len;
	struct xcase x = { .fam = F_FORGE, .version = -1, .body = b, .expect = EXPECT_REFUSAL };
	struct mcs_handle t = wx.h;
	t.len = 4096;
	if (port == P_DATA) {
		raw_data(b, &t, t.offset, t.len);
		x.op = MCS_OP_DATA_WRITE;
		x.payload = 4096;
	} else {
		raw_transfer(b, 0, 0, 1, &t, 1);
		x.op = MCS_OP_PUSH;
		x.patch_buf = true;
	}
	if (!overlap) {
		fam_n[F_FORGE]++; /* the space was not reused: nothing to refuse */
	} else {
		run(&x, "the token of a put %s, its space given to another put", by_close ? "whose writer hung up" : "revoked");
	}
	key_op(setup.fd, MCS_OP_PUT_REVOKE, ky);
}

static void fam_forge(struct mcs_buf *b)
{
	/* header forgeries, every opcode: a response flag, another version,
	 * another magic (each closes) */
	for (size_t i = 0; i < N_OPS; i++) {
		uint16_t op = all_ops[i];
		bool has = valid_body(op, b);
		struct xcase x = { .fam = F_FORGE, .op = op, .version = -1, .body = has ? b : NULL, .fresh = true,
				   .flags = MCS_F_RESPONSE, .patch_buf = is_buf_op(op), .expect = EXPECT_REFUSAL };
		run(&x, "the response flag on a request");
		x.flags = 0;
		x.version = MCS_PROTO_VERSION - 1;
		run(&x, "version %d", x.version);
		x.version = 0xff;
		run(&x, "version 255");
		x.version = -1;
		x.magic = 0x3253434du;
		run(&x, "another magic");
	}
	/* unknown opcodes */
	static const uint16_t unknown[] = { 0, 8, 17, 29, 31, 42, 52, 1000, 0xffff };
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		mcs_buf_reset(b);
		mcs_buf_put_u64(b, 1);
		refuse(F_FORGE, unknown[i], b, "an unknown opcode");
		refuse(F_FORGE, unknown[i], NULL, "an unknown opcode without a body");
	}
	/* another connection's hold, pending put and buffer */
	mcs_buf_reset(b);
	mcs_enc_release_req(b, &(struct mcs_release_req){ mcs_str_c("bi-own"), other_hold });
	refuse(F_FORGE, MCS_OP_RELEASE, b, "RELEASE of another connection's hold");
	for (uint64_t d = 1; d <= 16; d++) {
		mcs_buf_reset(b);
		mcs_enc_release_req(b, &(struct mcs_release_req){ mcs_str_c("bi-own"), other_hold + d });
		refuse(F_FORGE, MCS_OP_RELEASE, b, "RELEASE of a hold id near another's");
	}
	mcs_buf_reset(b);
	mcs_enc_put_end_req(b, &(struct mcs_put_end_req){ mcs_str_c(other_key), 42 });
	refuse(F_FORGE, MCS_OP_PUT_END, b, "PUT_END of another connection's put");
	mcs_buf_reset(b);
	mcs_enc_key_req(b, &(struct mcs_key_req){ mcs_str_c(other_key) });
	refuse(F_FORGE, MCS_OP_PUT_REVOKE, b, "PUT_REVOKE of another connection's put");
	static const uint32_t bufs[] = { 0, 12345, 0x7fffffff };
	for (size_t i = 0; i < 4; i++) {
		uint32_t id = i < 3 ? bufs[i] : other_buf;
		if (id == atk.buf_id && port == P_UNIX)
			id ^= 0x10000;
		mcs_buf_reset(b);
		mcs_enc_buf_free_req(b, &(struct mcs_buf_free_req){ id });
		refuse(F_FORGE, MCS_OP_BUF_FREE, b, i < 3 ? "BUF_FREE of a random buf_id" : "BUF_FREE of another's buffer");
		struct mcs_handle h = own.h;
		h.len = 4096;
		raw_transfer(b, id, 0, 1, &h, 1);
		transfer_case(F_FORGE, MCS_OP_FETCH, b, false, i < 3 ? "FETCH into a random buf_id" : "FETCH into another's buffer");
		h = wr.h;
		h.len = 4096;
		raw_transfer(b, id, 0, 1, &h, 1);
		transfer_case(F_FORGE, MCS_OP_PUSH, b, false, i < 3 ? "PUSH from a random buf_id" : "PUSH from another's buffer");
	}
	/* a node's requests: MOUNT, UNMOUNT of another's segment, HEARTBEAT */
	valid_body(MCS_OP_UNMOUNT, b);
	refuse(F_FORGE, MCS_OP_UNMOUNT, b, "UNMOUNT of another connection's segment");
	if (keys.on || port != P_MASTER) { /* keyless: a heartbeat from anyone is taken (documented) */
		valid_body(MCS_OP_HEARTBEAT, b);
		refuse(F_FORGE, MCS_OP_HEARTBEAT, b, "HEARTBEAT for another node");
		mcs_buf_reset(b);
		mcs_enc_mount_req(b, &(struct mcs_mount_req){ mcs_str_c("evil"), mcs_str_c("evil-0"), 1ull << 40,
							      mcs_str_c("127.0.0.1:9"), 1, 0 });
		refuse(F_FORGE, MCS_OP_MOUNT, b, "MOUNT of a fake 1 TiB segment by a client");
	}
	/* wrong incarnations, segments and endpoints */
	for (int k = 0; k < 5; k++) {
		static const uint16_t ops[] = { MCS_OP_DATA_READ, MCS_OP_DATA_WRITE, MCS_OP_FETCH, MCS_OP_PUSH,
						MCS_OP_DATA_READV };
		uint16_t op = ops[k];
		bool xfer = k == 2 || k == 3;
		struct mcs_handle h = k & 1 ? wr.h : own.h;
		h.len = 4096;
		struct mcs_handle t = h;
		t.incarnation ^= 0x5a5a;
		if (xfer)
			raw_transfer(b, 0, 0, 1, &t, 1);
		else
			raw_data_op(b, op, &t, t.offset, t.len);
		transfer_case(F_FORGE, op, b, xfer, "a wrong incarnation");
		t = h;
		t.segment = loc.h.segment; /* another node's segment at this one */
		if (!xfer) {
			raw_data_op(b, op, &t, t.offset, t.len);
			transfer_case(F_FORGE, op, b, false, "another node's segment");
		}
		if (xfer) {
			/* the local segment with a wrong incarnation */
			t = loc.h;
			t.len = 4096;
			t.incarnation ^= 0x5a5a;
			raw_transfer(b, 0, 0, 1, &t, 1);
			transfer_case(F_FORGE, op, b, true, "the local segment, a wrong incarnation");
			/* aimed elsewhere: a name, a non-loopback address */
			static const char *eps[] = { "localhost:1", "10.255.255.1:50052", "[::ffff:10.0.0.1]:1" };
			for (size_t e = 0; e < 3; e++) {
				t = h;
				t.segment = mcs_str_c("bi-elsewhere");
				t.endpoint = mcs_str_c(eps[e]);
				raw_transfer(b, 0, 0, 1, &t, 1);
				transfer_case(F_FORGE, op, b, true, "a remote handle aimed elsewhere");
			}
		}
	}
	/* capability tokens: only where there is a key */
	if (keys.on) {
		forged_token_cases(b, MCS_OP_DATA_READ, &own.h, &wr.h);
		forged_token_cases(b, MCS_OP_DATA_READV, &own.h, &wr.h);
		forged_token_cases(b, MCS_OP_DATA_WRITE, &wr.h, &own.h);
		forged_token_cases(b, MCS_OP_FETCH, &own.h, &wr.h);
		forged_token_cases(b, MCS_OP_PUSH, &wr.h, &own.h);
		/* a read token for a write, a write token for a read */
		struct mcs_handle t = own.h;
		t.len = 4096;
		raw_data(b, &t, t.offset, t.len);
		refuse(F_FORGE, MCS_OP_DATA_WRITE, b, "DATA_WRITE with a read token");
		raw_transfer(b, 0, 0, 1, &t, 1);
		transfer_case(F_FORGE, MCS_OP_PUSH, b, true, "PUSH with a read token");
		t = wr.h;
		t.len = 4096;
		t.token = own.h.token;
		raw_transfer(b, 0, 0, 1, &t, 1);
		transfer_case(F_FORGE, MCS_OP_PUSH, b, true, "PUSH into a put with another object's read token");
		t = wr.h;
		raw_data_op(b, MCS_OP_DATA_READV, &t, t.offset, 4096);
		refuse(F_FORGE, MCS_OP_DATA_READV, b, "DATA_READV of a put's range with its write token");
		if (port != P_MASTER) {
			stale_writer(b, false, 1);
			stale_writer(b, true, 2);
		}
	}
}

int main(int argc, char **argv)
{
	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: bad-input master|unix|data MASTER SOCKET [KEYFILE]\n");
		return 2;
	}
	port = strcmp(argv[1], "unix") == 0 ? P_UNIX : strcmp(argv[1], "data") == 0 ? P_DATA : P_MASTER;
	master_addr = argv[2];
	sock_path = argv[3];
	if (argc == 5) {
		struct mcs_keys full;
		const char *why = NULL;
		if (mcs_keys_load(argv[4], &full, &why) < 0 || mcs_keys_client(full.client, MCS_KEY_LEN, MCS_ROLE_CLIENT, &keys) < 0) {
			fprintf(stderr, "bad-input: %s: %s\n", argv[4], why ? why : "cannot use it");
			return 2;
		}
		mcs_keys_wipe(&full);
	}
	memset(big, 'k', sizeof(big) - 1);
	mcs_auth_nonce(nonce);
	if (setup_all() < 0)
		return 2;
	struct mcs_buf b;
	mcs_buf_init(&b);
	fam_base(&b);
	fam_auth(&b);
	fam_trunc(&b);
	fam_over(&b);
	fam_range(&b);
	fam_wrap(&b);
	fam_forge(&b);
	fam_dup(&b); /* last: it ends our pending put */
	mcs_buf_free(&b);

	/* the other connection's put, and its hold, end with it */
	key_op(port == P_UNIX ? other_unix.fd : setup.fd, MCS_OP_PUT_REVOKE, other_key);
	conn_close(&setup);
	conn_close(&other_unix);
	conn_close(&atk);
	unsigned bad = 0;
	for (int f = 0; f < F_N; f++) {
		if (fam_bad[f])
			printf("not ok %s %u: %u failed, first: %s\n", fam_name[f], fam_n[f], fam_bad[f], fam_first[f]);
		else
			printf("ok %s %u\n", fam_name[f], fam_n[f]);
		bad += fam_bad[f];
	}
	mcs_keys_wipe(&keys);
	return bad ? 1 : 0;
}
