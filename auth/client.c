/* SPDX-License-Identifier: MIT */
/*
 * The connecting side of the link handshake (auth.h) on a socket just
 * opened, for the callers that block (libmcstore, to the master and to the
 * nodes' data ports; the tests' hostile peers): AUTH, its answer checked,
 * AUTH_PROOF, its answer awaited, all before the socket carries anything
 * else, so no byte of the handshake is left for a link's read-ahead.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>

#include "auth/auth.h"
#include "common/util.h"

/* All n bytes of p to or from fd (blocking or not), before deadline. */
static int move_all(int fd, uint8_t *p, size_t n, bool out, uint64_t deadline)
{
	while (n) {
		ssize_t k = out ? send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT) : recv(fd, p, n, MSG_DONTWAIT);
		if (k > 0) {
			p += k;
			n -= (size_t)k;
			continue;
		}
		if (k == 0)
			return -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		uint64_t now = mcs_now_ms();
		if (now >= deadline)
			return -ETIMEDOUT;
		int r = mcs_poll_fd(fd, out ? POLLOUT : POLLIN, (int)(deadline - now));
		if (r < 0)
			return r;
	}
	return 0;
}

int mcs_call_blocking(int fd, uint16_t op, const struct mcs_buf *b, uint8_t *body, size_t cap, size_t *ret_len,
		      uint64_t deadline)
{
	uint8_t frame[MCS_HDR_SIZE + 128];
	struct mcs_hdr h = { .magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .opcode = op, .req_id = 1,
			     .body_len = (uint32_t)b->len };
	if (b->err || b->len > sizeof(frame) - MCS_HDR_SIZE)
		return b->err ? b->err : -EMSGSIZE;
	mcs_hdr_encode(&h, frame);
	memcpy(frame + MCS_HDR_SIZE, b->p, b->len);
	int r = move_all(fd, frame, MCS_HDR_SIZE + b->len, true, deadline);
	if (r == 0)
		r = move_all(fd, frame, MCS_HDR_SIZE, false, deadline);
	if (r == 0)
		r = mcs_hdr_decode(frame, (uint32_t)cap, &h);
	if (r == 0 && (!(h.flags & MCS_F_RESPONSE) || h.opcode != op || h.req_id != 1))
		r = -EPROTO;
	if (r == 0)
		r = move_all(fd, body, h.body_len, false, deadline);
	if (r < 0)
		return r;
	*ret_len = h.body_len;
	return h.status;
}

int mcs_auth_connect(const struct mcs_keys *k, uint8_t role, int fd, unsigned timeout_ms)
{
	if (!k || !k->on)
		return 0;
	uint64_t deadline = mcs_now_ms() + timeout_ms;
	uint8_t ob[128], ib[128];
	struct mcs_buf b = { .p = ob, .cap = sizeof(ob) };
	struct mcs_auth_client st;
	size_t len = 0;
	mcs_auth_client_start(&st, role, &b);
	int r = mcs_call_blocking(fd, MCS_OP_AUTH, &b, ib, sizeof(ib), &len, deadline);
	if (r < -1000 || r == -ETIMEDOUT || r == -ECONNRESET || r == -EPROTO)
		return r; /* no answer: an I/O failure */
	b.len = 0;
	r = mcs_auth_client_answer(&st, k, r, ib, len, &b);
	if (r == 0)
		r = mcs_call_blocking(fd, MCS_OP_AUTH_PROOF, &b, ib, sizeof(ib), &len, deadline);
	return r;
}
