/* SPDX-License-Identifier: MIT */
/*
 * An outsider and a misbehaving insider for the authentication tests
 * (issue 14, findings 1, 2 and 5): raw frames on the master's and the
 * nodes' TCP ports, with or without the handshake, and DATA_* requests
 * with tokens that were never granted, stretched or edited.
 *
 *   intruder noauth HOST:PORT            STAT, MOUNT, REMOVE_ALL, DATA_READ
 *                                        without authenticating: each refused
 *   intruder auth KEYFILE ROLE HOST:PORT the handshake as ROLE (client|node):
 *                                        exit 0 when the server accepts it
 *   intruder mount KEYFILE HOST:PORT     authenticated as a client: MOUNT is
 *                                        refused, STAT answered
 *   intruder tokens KEYFILE MASTER KEY   GET_REPLICAS of KEY as a client, then
 *                                        at the node holding it: the granted
 *                                        read works, every forged one fails
 *   intruder fence KEYFILE MASTER        a writer that hangs past the put timeout:
 *                                        its write token works before, and
 *                                        is refused once expired (the space
 *                                        is the master's again by then)
 *   intruder reader SOCKET MASTER DATA   a read-only user (--read-only-users):
 *                                        HELLO gives no memfd and a reader's
 *                                        key, with which every write is
 *                                        refused at the master and the node
 *   intruder ssrf SOCKET HOST:PORT       a local client aims its daemon's FETCH
 *                                        and PUSH at HOST:PORT with a handle the
 *                                        master never gave: refused
 *   intruder pipeline SOCKET N LIMIT     N relayed EXISTs at once, unread; says
 *                                        "busy B" once N - LIMIT answers came
 *                                        (all must be -EBUSY), then waits for
 *                                        the other LIMIT (none -EBUSY)
 *   intruder outlive SOCKET FLAG KEY OUT a client handle that outlives its
 *                                        daemon's restart: puts KEY once FLAG
 *                                        exists, the value also into OUT
 *                                        (finding 5), then views it (local:
 *                                        the handle maps the new segment)
 *
 * Prints one line per case; exit 0 when every case went as it must.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "auth/auth.h"
#include "common/util.h"
#include "mcstore.h"
#include "proto/proto.h"

static unsigned failures;
static struct mcs_keys keys;

static void expect(bool ok, const char *what, int status)
{
	printf("%s: %s (%s)\n", ok ? "ok" : "FAILED", what, mcs_strerror(status));
	if (!ok)
		failures++;
}

static int dial(const char *hostport)
{
	char host[256];
	uint16_t port;
	if (mcs_parse_hostport(hostport, host, sizeof(host), &port) < 0)
		return -EINVAL;
	int fd = mcs_tcp_connect(host, port, 10000, NULL);
	if (fd < 0)
		return fd;
	struct timeval tv = { .tv_sec = 30 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	/* blocking from here on */
	int f = fcntl(fd, F_GETFL);
	fcntl(fd, F_SETFL, f & ~O_NONBLOCK);
	return fd;
}

static int send_frame(int fd, uint16_t op, const struct mcs_buf *body, uint64_t req_id)
{
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_frame_begin(&b, op, 0, 0, req_id);
	if (body && body->len)
		mcs_buf_put_bytes(&b, body->p, body->len);
	int r = mcs_frame_end(&b);
	if (r == 0 && send(fd, b.p, b.len, MSG_NOSIGNAL) != (ssize_t)b.len)
		r = -errno;
	mcs_buf_free(&b);
	return r;
}

static int recv_all(int fd, void *p, size_t n)
{
	uint8_t *q = p;
	while (n) {
		ssize_t k = recv(fd, q, n, 0);
		if (k == 0)
			return -ECONNRESET;
		if (k < 0)
			return -errno;
		q += k;
		n -= (size_t)k;
	}
	return 0;
}

/* One answer: its status, its body (malloc'ed) into *ret_body. A closed
 * connection gives -ECONNRESET. */
static int recv_answer(int fd, struct mcs_hdr *h, uint8_t **ret_body)
{
	uint8_t hb[MCS_HDR_SIZE];
	*ret_body = NULL;
	int r = recv_all(fd, hb, sizeof(hb));
	if (r == 0)
		r = mcs_hdr_decode(hb, 1u << 20, h);
	if (r < 0)
		return r;
	*ret_body = malloc(h->body_len + 1);
	if (!*ret_body)
		return -ENOMEM;
	return recv_all(fd, *ret_body, h->body_len);
}

/* The status of the answer to op (body b), or a transport error. */
static int call(int fd, uint16_t op, const struct mcs_buf *b, uint8_t **ret_body, uint32_t *ret_len)
{
	struct mcs_hdr h;
	uint8_t *body = NULL;
	int r = send_frame(fd, op, b, 7);
	if (r == 0)
		r = recv_answer(fd, &h, &body);
	if (r == 0)
		r = h.status;
	if (ret_body)
		*ret_body = body;
	else
		free(body);
	if (ret_len)
		*ret_len = r == 0 || body ? h.body_len : 0;
	return r;
}

/* After a refusal the server hangs up: the next read sees the end. */
static bool closed_after(int fd)
{
	char c;
	return recv(fd, &c, 1, 0) <= 0;
}

static int handshake(int fd, uint8_t role)
{
	return mcs_auth_connect(&keys, role, fd, 30000);
}

static int load(const char *path)
{
	const char *why = NULL;
	int r = mcs_keys_load(path, &keys, &why);
	if (r < 0)
		fprintf(stderr, "intruder: %s: %s\n", path, why ? why : mcs_strerror(r));
	return r;
}

static int cmd_noauth(const char *addr)
{
	struct mcs_buf b;
	mcs_buf_init(&b);
	struct {
		uint16_t op;
		const char *what;
	} cases[] = {
		{ MCS_OP_STAT, "STAT without authenticating" },
		{ MCS_OP_MOUNT, "MOUNT of a fake 1 TiB segment without authenticating" },
		{ MCS_OP_REMOVE_ALL, "REMOVE_ALL without authenticating" },
		{ MCS_OP_DATA_READ, "DATA_READ of a whole segment without authenticating" },
		{ MCS_OP_AUTH_PROOF, "AUTH_PROOF before AUTH" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int fd = dial(addr);
		if (fd < 0)
			return fd;
		mcs_buf_reset(&b);
		if (cases[i].op == MCS_OP_MOUNT)
			mcs_enc_mount_req(&b, &(struct mcs_mount_req){ mcs_str_c("evil"), mcs_str_c("evil-0"), 1ull << 40,
								       mcs_str_c("127.0.0.1:9"), 1, 0 });
		else if (cases[i].op == MCS_OP_DATA_READ)
			mcs_enc_data_req(&b, &(struct mcs_data_req){ mcs_str_c("n1-0"), 0, 1u << 20, 0, mcs_str_c(""),
								     mcs_str_c("") });
		else if (cases[i].op == MCS_OP_AUTH_PROOF)
			mcs_enc_auth_proof_req(&b, &(struct mcs_auth_proof_req){ mcs_str_c("x") });
		uint32_t len = 0;
		int r = call(fd, cases[i].op, &b, NULL, &len);
		expect(r == -EACCES && len == 0 && closed_after(fd), cases[i].what, r);
		close(fd);
	}
	mcs_buf_free(&b);
	return 0;
}

static int cmd_auth(const char *keyfile, const char *role, const char *addr)
{
	if (load(keyfile) < 0)
		return 2;
	int fd = dial(addr);
	if (fd < 0)
		return 2;
	int r = handshake(fd, strcmp(role, "node") == 0 ? MCS_ROLE_NODE : MCS_ROLE_CLIENT);
	printf("handshake as %s: %s\n", role, mcs_strerror(r));
	close(fd);
	return r == 0 ? 0 : 1;
}

static int cmd_mount(const char *keyfile, const char *addr)
{
	if (load(keyfile) < 0)
		return 2;
	int fd = dial(addr);
	if (fd < 0)
		return 2;
	int r = handshake(fd, MCS_ROLE_CLIENT);
	expect(r == 0, "a client with the key authenticates", r);
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_enc_mount_req(&b, &(struct mcs_mount_req){ mcs_str_c("evil"), mcs_str_c("evil-0"), 1ull << 40,
						       mcs_str_c("127.0.0.1:9"), 1, 0 });
	r = call(fd, MCS_OP_MOUNT, &b, NULL, NULL);
	expect(r == -EPERM, "a client's MOUNT of a fake 1 TiB segment is refused", r);
	mcs_buf_reset(&b);
	mcs_enc_heartbeat_req(&b, &(struct mcs_heartbeat_req){ mcs_str_c("evil") });
	r = call(fd, MCS_OP_HEARTBEAT, &b, NULL, NULL);
	expect(r == -EPERM, "a client's HEARTBEAT is refused", r);
	r = call(fd, MCS_OP_STAT, NULL, NULL, NULL);
	expect(r == 0, "the same client's STAT is answered", r);
	mcs_buf_free(&b);
	close(fd);
	return 0;
}

/* One DATA_* request at the node; the status, and for a read that
 * succeeded its payload is drained. */
static int data_call(int fd, uint16_t op, const struct mcs_data_req *q, bool with_payload)
{
	struct mcs_buf b;
	struct mcs_hdr h;
	uint8_t *body = NULL;
	mcs_buf_init(&b);
	mcs_enc_data_req(&b, q);
	if (b.err) {
		mcs_buf_free(&b);
		return b.err;
	}
	int r = send_frame(fd, op, &b, 9);
	mcs_buf_free(&b);
	if (r == 0 && with_payload) {
		char *zero = calloc(1, q->len);
		if (send(fd, zero, q->len, MSG_NOSIGNAL) != (ssize_t)q->len)
			r = -errno;
		free(zero);
	}
	if (r == 0)
		r = recv_answer(fd, &h, &body);
	if (r == 0)
		r = h.status;
	free(body);
	if (r == 0 && op == MCS_OP_DATA_READ) {
		char *sink = malloc(q->len);
		r = recv_all(fd, sink, q->len);
		free(sink);
	}
	return r;
}

static int data_dial(const struct mcs_handle *hd)
{
	char ep[MCS_NAME_MAX + 1];
	memcpy(ep, hd->endpoint.p, hd->endpoint.len);
	ep[hd->endpoint.len] = '\0';
	int fd = dial(ep);
	if (fd >= 0 && handshake(fd, MCS_ROLE_CLIENT) < 0) {
		close(fd);
		return -EACCES;
	}
	return fd;
}

/* Authenticated as a client at master, with the cluster key of keyfile. */
static int client_at(const char *keyfile, const char *master)
{
	if (load(keyfile) < 0)
		return -EINVAL;
	int fd = dial(master);
	int r = fd < 0 ? fd : handshake(fd, MCS_ROLE_CLIENT);
	if (r < 0 && fd >= 0)
		close(fd);
	return r < 0 ? r : fd;
}

static int cmd_tokens(const char *keyfile, const char *master, const char *key)
{
	int fd = client_at(keyfile, master);
	if (fd < 0)
		return 2;
	struct mcs_buf b;
	uint8_t *body;
	uint32_t len;
	mcs_buf_init(&b);
	mcs_enc_get_req(&b, &(struct mcs_get_req){ mcs_str_c(key), 0 });
	int r = call(fd, MCS_OP_GET_REPLICAS, &b, &body, &len);
	struct mcs_get_resp g;
	if (r < 0 || mcs_dec_get_resp(body, len, &g) < 0 || g.list.n_replicas < 1 ||
	    g.list.replicas[0].n_handles < 1) {
		fprintf(stderr, "intruder: GET_REPLICAS %s: %s\n", key, mcs_strerror(r));
		return 2;
	}
	const struct mcs_handle *hd = &g.list.replicas[0].handles[0];
	expect(hd->token.len == MCS_TOKEN_LEN, "the master grants a token with the replica", 0);
	uint64_t chunk = MCS_MIN(hd->len, (uint64_t)4096);
	struct mcs_data_req ok = { hd->segment, hd->offset, chunk, hd->incarnation, hd->endpoint, hd->token };
	int dfd = data_dial(hd);
	expect(dfd >= 0, "a client with the key authenticates at the node", dfd < 0 ? dfd : 0);
	if (dfd < 0)
		return 1;
	r = data_call(dfd, MCS_OP_DATA_READ, &ok, false);
	expect(r == 0, "DATA_READ with the granted token", r);

	struct mcs_data_req q = ok;
	q.token = mcs_str_c("");
	r = data_call(dfd, MCS_OP_DATA_READ, &q, false);
	expect(r == -EACCES, "DATA_READ without a token", r);

	uint8_t forged[MCS_TOKEN_LEN];
	for (size_t i = 0; i < MCS_TOKEN_LEN; i += 8) {
		memcpy(forged, hd->token.p, MCS_TOKEN_LEN);
		forged[i] ^= 1;
		q = ok;
		q.token = (struct mcs_str){ (const char *)forged, MCS_TOKEN_LEN };
		r = data_call(dfd, MCS_OP_DATA_READ, &q, false);
		char what[96];
		snprintf(what, sizeof(what), "DATA_READ with the token's byte %zu edited", i);
		expect(r == -EACCES, what, r);
	}
	/* a token minted for a small range, used for the whole segment */
	q = ok;
	q.offset = 0;
	q.len = hd->offset + hd->len + 1;
	r = data_call(dfd, MCS_OP_DATA_READ, &q, false);
	expect(r == -EACCES, "DATA_READ past the granted range", r);
	if (hd->offset > 0) {
		q = ok;
		q.offset = hd->offset - 1;
		r = data_call(dfd, MCS_OP_DATA_READ, &q, false);
		expect(r == -EACCES, "DATA_READ before the granted range", r);
	}
	q = ok;
	q.incarnation ^= 2;
	r = data_call(dfd, MCS_OP_DATA_READ, &q, false);
	expect(r == -ESTALE, "DATA_READ naming another incarnation of the segment", r);
	/* the read token for a write over the object: refused, and the link
	 * is closed (its payload is not taken) */
	r = data_call(dfd, MCS_OP_DATA_WRITE, &ok, true);
	expect(r == -EACCES, "DATA_WRITE over the object with its read token", r);
	close(dfd);
	free(body);
	mcs_replica_list_free(&g.list);
	mcs_buf_free(&b);
	close(fd);
	return 0;
}

static int cmd_fence(const char *keyfile, const char *master)
{
	int fd = client_at(keyfile, master);
	if (fd < 0)
		return 2;
	struct mcs_buf b;
	uint8_t *body;
	uint32_t len;
	uint64_t slice = 4096;
	mcs_buf_init(&b);
	mcs_enc_put_start_req(&b, &(struct mcs_put_start_req){ .key = mcs_str_c("fenced"), .value_len = 4096,
							      .n_slices = 1, .slice_lens = &slice,
							      .cfg = { .replica_num = 1 } });
	int r = call(fd, MCS_OP_PUT_START, &b, &body, &len);
	struct mcs_put_start_resp ps;
	if (r < 0 || mcs_dec_put_start_resp(body, len, &ps) < 0 || ps.list.n_replicas < 1 ||
	    ps.list.replicas[0].n_handles < 1) {
		fprintf(stderr, "intruder: PUT_START: %s\n", mcs_strerror(r));
		return 2;
	}
	const struct mcs_handle *hd = &ps.list.replicas[0].handles[0];
	struct mcs_grant g;
	expect(mcs_token_parse(hd->token, &g) == 0 && g.rights == MCS_TOK_WRITE, "PUT_START grants a write token", 0);
	struct mcs_data_req q = { hd->segment, hd->offset, hd->len, hd->incarnation, hd->endpoint, hd->token };
	int dfd = data_dial(hd);
	r = dfd < 0 ? dfd : data_call(dfd, MCS_OP_DATA_WRITE, &q, true);
	expect(r == 0, "the writer's DATA_WRITE with it, in time", r);
	if (dfd >= 0)
		close(dfd);
	/* hang past the put timeout: the token's expiry, on this clock */
	while (mcs_realtime_ms() <= g.expiry_ms + 50)
		usleep(20000);
	dfd = data_dial(hd);
	r = dfd < 0 ? dfd : data_call(dfd, MCS_OP_DATA_WRITE, &q, true);
	expect(r == -EKEYEXPIRED, "the same DATA_WRITE once the put timed out: refused", r);
	if (dfd >= 0)
		close(dfd);
	/* the master revokes it on its own timer, a sweep after the timeout:
	 * EXIST says -EAGAIN while it is pending */
	mcs_buf_reset(&b);
	mcs_enc_key_req(&b, &(struct mcs_key_req){ mcs_str_c("fenced") });
	for (int i = 0; i < 1500 && (r = call(fd, MCS_OP_EXIST, &b, NULL, NULL)) == -EAGAIN; i++)
		usleep(20000);
	expect(r == -ENOENT, "the master revoked the put", r);
	mcs_buf_reset(&b);
	mcs_enc_put_end_req(&b, &(struct mcs_put_end_req){ mcs_str_c("fenced"), 0 });
	r = call(fd, MCS_OP_PUT_END, &b, NULL, NULL);
	expect(r == -ENOENT, "its PUT_END: the put is gone", r);
	free(body);
	mcs_replica_list_free(&ps.list);
	mcs_buf_free(&b);
	close(fd);
	return 0;
}

/* One request on a unix link, its answer's status; *ret_fd (may be NULL)
 * says whether an fd came with it (closed here). */
static int unix_call(int fd, uint16_t op, const struct mcs_buf *b, uint8_t *body, size_t cap, uint32_t *ret_len,
		     bool *ret_fd)
{
	int r = send_frame(fd, op, b, 3);
	uint8_t hb[MCS_HDR_SIZE];
	char cbuf[CMSG_SPACE(sizeof(int))];
	struct iovec iov = { hb, sizeof(hb) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct mcs_hdr h;
	if (r == 0 && recvmsg(fd, &mh, MSG_WAITALL) != (ssize_t)sizeof(hb))
		r = -EPROTO;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); r == 0 && cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
			int pfd;
			memcpy(&pfd, CMSG_DATA(cm), sizeof(pfd));
			close(pfd);
			if (ret_fd)
				*ret_fd = true;
		}
	if (r == 0)
		r = mcs_hdr_decode(hb, (uint32_t)cap, &h);
	if (r == 0)
		r = recv_all(fd, body, h.body_len);
	if (r == 0 && ret_len)
		*ret_len = h.body_len;
	return r < 0 ? r : h.status;
}

/* HELLO on a new connection to the node's socket: its fd in *ret_sock,
 * the answer's status and body, and whether an fd came. */
static int raw_hello(const char *sock, int *ret_sock, uint8_t *body, size_t cap, uint32_t *ret_len, bool *ret_fd)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock);
	*ret_fd = false;
	*ret_len = 0;
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_enc_hello_req(&b, &(struct mcs_hello_req){ MCS_PROTO_VERSION, (uint32_t)getpid() });
	int r = unix_call(fd, MCS_OP_HELLO, &b, body, cap, ret_len, ret_fd);
	mcs_buf_free(&b);
	*ret_sock = fd;
	return r;
}

static int cmd_reader(const char *sock, const char *master, const char *data)
{
	uint8_t body[4096];
	uint32_t len = 0;
	bool got_fd = false;
	struct mcs_hello_resp hr;
	int ufd = -1;
	int r = raw_hello(sock, &ufd, body, sizeof(body), &len, &got_fd);
	if (r < 0 || mcs_dec_hello_resp(body, len, &hr) < 0) {
		fprintf(stderr, "intruder: HELLO: %s\n", mcs_strerror(r));
		return 2;
	}
	expect(!got_fd && (hr.flags & MCS_HELLO_READ_ONLY), "a read-only user's HELLO: no memfd, the read-only flag", 0);
	/* its daemon copies nothing of its own segment for it without a
	 * token: the reader maps nothing, and may read only what is granted */
	struct mcs_buf ub;
	mcs_buf_init(&ub);
	mcs_enc_buf_alloc_req(&ub, &(struct mcs_buf_alloc_req){ 1 << 16 });
	uint8_t ab[256];
	uint32_t alen = 0;
	struct mcs_buf_alloc_resp ba;
	r = unix_call(ufd, MCS_OP_BUF_ALLOC, &ub, ab, sizeof(ab), &alen, NULL);
	if (r == 0 && mcs_dec_buf_alloc_resp(ab, alen, &ba) == 0) {
		struct mcs_handle own = { hr.segment, hr.node, mcs_str_c(""), 0, 4096, hr.incarnation, mcs_str_c("") };
		mcs_buf_reset(&ub);
		mcs_enc_transfer_req(&ub, &(struct mcs_transfer_req){ ba.buf_id, 0, 1, &own });
		r = unix_call(ufd, MCS_OP_FETCH, &ub, ab, sizeof(ab), &alen, NULL);
	}
	expect(r == -EACCES, "a reader's FETCH of its own node's segment without a token is refused", r);
	mcs_buf_free(&ub);
	close(ufd);
	expect(mcs_keys_client((const uint8_t *)hr.client_key.p, hr.client_key.len, MCS_ROLE_READER, &keys) == 0,
	       "... and a reader's key", 0);
	int fd = dial(master);
	if (fd < 0)
		return 2;
	r = handshake(fd, MCS_ROLE_CLIENT);
	expect(r == -EACCES, "the reader's key does not pass for a client's", r);
	close(fd);
	fd = dial(master);
	r = handshake(fd, MCS_ROLE_READER);
	expect(r == 0, "it passes as a reader's at the master", r);
	struct mcs_buf b;
	mcs_buf_init(&b);
	uint64_t slice = 4096;
	mcs_enc_put_start_req(&b, &(struct mcs_put_start_req){ .key = mcs_str_c("ro-put"), .value_len = 4096,
							      .n_slices = 1, .slice_lens = &slice,
							      .cfg = { .replica_num = 1 } });
	r = call(fd, MCS_OP_PUT_START, &b, NULL, NULL);
	expect(r == -EPERM, "a reader's PUT_START is refused", r);
	mcs_buf_reset(&b);
	mcs_enc_remove_req(&b, &(struct mcs_remove_req){ mcs_str_c("k"), MCS_REMOVE_FORCE });
	r = call(fd, MCS_OP_REMOVE, &b, NULL, NULL);
	expect(r == -EPERM, "a reader's forced REMOVE is refused", r);
	r = call(fd, MCS_OP_REMOVE_ALL, NULL, NULL, NULL);
	expect(r == -EPERM, "a reader's REMOVE_ALL is refused", r);
	mcs_buf_reset(&b);
	mcs_enc_get_req(&b, &(struct mcs_get_req){ mcs_str_c("k"), MCS_GET_HOLD });
	r = call(fd, MCS_OP_GET_REPLICAS, &b, NULL, NULL);
	expect(r == -EPERM, "a reader's hold is refused", r);
	mcs_buf_reset(&b);
	mcs_enc_get_req(&b, &(struct mcs_get_req){ mcs_str_c("r"), 0 });
	r = call(fd, MCS_OP_GET_REPLICAS, &b, NULL, NULL);
	expect(r == 0, "a reader's GET_REPLICAS is answered", r);
	close(fd);
	int dfd = dial(data);
	r = dfd < 0 ? dfd : handshake(dfd, MCS_ROLE_READER);
	expect(r == 0, "it passes as a reader's at the data port", r);
	r = data_call(dfd, MCS_OP_DATA_WRITE,
		      &(struct mcs_data_req){ hr.segment, 0, 4096, hr.incarnation, mcs_str_c(""), mcs_str_c("") }, true);
	expect(r == -EPERM, "a reader's DATA_WRITE is refused", r);
	close(dfd);
	mcs_buf_free(&b);
	return 0;
}

static int cmd_ssrf(const char *sock, const char *target)
{
	uint8_t body[4096];
	uint32_t len = 0;
	bool got_fd;
	int fd = -1;
	int r = raw_hello(sock, &fd, body, sizeof(body), &len, &got_fd);
	struct mcs_buf b;
	mcs_buf_init(&b);
	mcs_enc_buf_alloc_req(&b, &(struct mcs_buf_alloc_req){ 1 << 20 });
	if (r == 0)
		r = unix_call(fd, MCS_OP_BUF_ALLOC, &b, body, sizeof(body), &len, NULL);
	struct mcs_buf_alloc_resp ba;
	if (r < 0 || mcs_dec_buf_alloc_resp(body, len, &ba) < 0) {
		fprintf(stderr, "intruder: HELLO / BUF_ALLOC: %s\n", mcs_strerror(r));
		return 2;
	}
	/* a handle no master gave: another segment, the target's endpoint */
	struct mcs_handle hd = { mcs_str_c("victim-0"), mcs_str_c("victim"), mcs_str_c(target), 0, 4096, 1,
				 mcs_str_c("") };
	static const uint16_t ops[] = { MCS_OP_FETCH, MCS_OP_PUSH };
	for (size_t i = 0; i < 2; i++) {
		mcs_buf_reset(&b);
		mcs_enc_transfer_req(&b, &(struct mcs_transfer_req){ ba.buf_id, 0, 1, &hd });
		r = unix_call(fd, ops[i], &b, body, sizeof(body), &len, NULL);
		char what[128];
		snprintf(what, sizeof(what), "%s aimed at %s with a handle the master never gave",
			 mcs_op_name(ops[i]), target);
		expect(r == -EACCES, what, r);
	}
	mcs_buf_free(&b);
	close(fd);
	return 0;
}

static int cmd_pipeline(const char *sock, unsigned n, unsigned limit)
{
	uint8_t body[4096];
	uint32_t len;
	bool got_fd;
	int fd = -1;
	int r = raw_hello(sock, &fd, body, sizeof(body), &len, &got_fd);
	if (r < 0 || limit > n)
		return 2;
	struct mcs_buf b;
	mcs_buf_init(&b);
	for (unsigned i = 0; i < n; i++) {
		mcs_frame_begin(&b, MCS_OP_EXIST, 0, 0, 100 + i);
		mcs_enc_key_req(&b, &(struct mcs_key_req){ mcs_str_c("pipelined") });
		mcs_frame_end(&b);
	}
	if (send(fd, b.p, b.len, MSG_NOSIGNAL) != (ssize_t)b.len)
		return 2;
	mcs_buf_free(&b);
	unsigned busy = 0, other = 0;
	for (unsigned got = 0; got < n; got++) {
		struct mcs_hdr h;
		uint8_t *ab;
		if (recv_answer(fd, &h, &ab) < 0)
			return 2;
		free(ab);
		if (h.status == -EBUSY)
			busy++;
		else
			other++;
		if (got + 1 == n - limit) {
			printf("busy %u other %u\n", busy, other);
			fflush(stdout);
		}
	}
	printf("done: busy %u other %u\n", busy, other);
	close(fd);
	return busy == n - limit && other == limit ? 0 : 1;
}

static int cmd_outlive(const char *sock, const char *flag, const char *key, const char *out)
{
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = sock, .timeout_ms = 30000 };
	struct mcs_client *c;
	int r = mcs_client_new(&o, &c);
	if (r < 0) {
		fprintf(stderr, "intruder: connect: %s\n", mcs_strerror(r));
		return 2;
	}
	printf("started\n");
	fflush(stdout);
	while (access(flag, F_OK) != 0)
		usleep(20000);
	char value[65536];
	for (size_t i = 0; i < sizeof(value); i++)
		value[i] = (char)(i * 7 + 3);
	FILE *f = fopen(out, "w");
	if (!f || fwrite(value, 1, sizeof(value), f) != sizeof(value) || fclose(f) != 0)
		return 2;
	r = mcs_put(c, key, value, sizeof(value), NULL, NULL);
	printf("put %s after the restart: %s\n", key, mcs_strerror(r));
	/* a view is of the local segment: it needs the handle connected to
	 * the new daemon and its segment mapped */
	struct mcs_view *v = NULL;
	r = mcs_get_view(c, key, 0, &v);
	if (r == 0 && (v->size != sizeof(value) || v->n_iov != 1 || memcmp(v->iov[0].iov_base, value, sizeof(value))))
		r = -EBADMSG;
	printf("view %s after the restart: %s\n", key, mcs_strerror(r));
	fflush(stdout);
	mcs_view_release(v);
	mcs_client_unref(c);
	return 0;
}

int main(int argc, char **argv)
{
	int r = 2;
	if (argc == 3 && strcmp(argv[1], "noauth") == 0)
		r = cmd_noauth(argv[2]) < 0 ? 2 : 0;
	else if (argc == 5 && strcmp(argv[1], "auth") == 0)
		return cmd_auth(argv[2], argv[3], argv[4]);
	else if (argc == 4 && strcmp(argv[1], "mount") == 0)
		r = cmd_mount(argv[2], argv[3]);
	else if (argc == 5 && strcmp(argv[1], "tokens") == 0)
		r = cmd_tokens(argv[2], argv[3], argv[4]);
	else if (argc == 4 && strcmp(argv[1], "fence") == 0)
		r = cmd_fence(argv[2], argv[3]);
	else if (argc == 4 && strcmp(argv[1], "ssrf") == 0)
		r = cmd_ssrf(argv[2], argv[3]);
	else if (argc == 5 && strcmp(argv[1], "reader") == 0)
		r = cmd_reader(argv[2], argv[3], argv[4]);
	else if (argc == 5 && strcmp(argv[1], "pipeline") == 0)
		return cmd_pipeline(argv[2], (unsigned)atoi(argv[3]), (unsigned)atoi(argv[4]));
	else if (argc == 6 && strcmp(argv[1], "outlive") == 0)
		return cmd_outlive(argv[2], argv[3], argv[4], argv[5]);
	else
		fprintf(stderr, "usage: see the head of tests/integration/intruder.c\n");
	mcs_keys_wipe(&keys);
	return r ? r : failures ? 1 : 0;
}
