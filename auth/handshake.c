/* SPDX-License-Identifier: MIT */
/*
 * The link handshake (auth.h): the server's part, frame by frame, and the
 * connecting side's two steps. Both only encode and check: the callers do
 * the I/O, the loop's daemons on the ring and libmcstore on its sockets.
 */
#include <errno.h>
#include <string.h>

#include "auth/auth.h"

int mcs_auth_serve(struct mcs_auth_peer *p, const struct mcs_keys *k, const struct mcs_hdr *h, const uint8_t *body,
		   struct mcs_buf *out, const char **why)
{
	*why = NULL;
	bool auth_op = h->opcode == MCS_OP_AUTH || h->opcode == MCS_OP_AUTH_PROOF;
	if (!k->on) {
		if (!auth_op)
			return MCS_AUTH_PASS;
		*why = "it authenticates, and this side has no cluster key (key-file)";
		return -EOPNOTSUPP;
	}
	if (p->state == MCS_AUTH_DONE && !auth_op)
		return MCS_AUTH_PASS;
	if (h->opcode == MCS_OP_AUTH && p->state == MCS_AUTH_NONE) {
		struct mcs_auth_req q;
		if (mcs_dec_auth_req(body, h->body_len, &q) < 0 || q.nonce.len != MCS_NONCE_LEN ||
		    (q.role != MCS_ROLE_CLIENT && q.role != MCS_ROLE_NODE && q.role != MCS_ROLE_READER)) {
			*why = "a malformed AUTH";
			return -EPROTO;
		}
		p->role = (uint8_t)q.role;
		memcpy(p->nc, q.nonce.p, MCS_NONCE_LEN);
		mcs_auth_nonce(p->ns);
		uint8_t mac[MCS_AUTH_MAC_LEN];
		if (mcs_auth_mac(k, p->role, 'S', p->nc, p->ns, mac) < 0) {
			*why = "it asked for a role this side cannot authenticate";
			return -EACCES;
		}
		struct mcs_auth_resp a = { .nonce = { (const char *)p->ns, MCS_NONCE_LEN },
					   .mac = { (const char *)mac, MCS_AUTH_MAC_LEN } };
		mcs_enc_auth_resp(out, &a);
		p->state = MCS_AUTH_CHALLENGED;
		return MCS_AUTH_ANSWER;
	}
	if (h->opcode == MCS_OP_AUTH_PROOF && p->state == MCS_AUTH_CHALLENGED) {
		struct mcs_auth_proof_req q;
		if (mcs_dec_auth_proof_req(body, h->body_len, &q) < 0) {
			*why = "a malformed AUTH_PROOF";
			return -EPROTO;
		}
		if (mcs_auth_verify(k, p->role, 'C', p->nc, p->ns, q.mac) < 0) {
			*why = "its proof is wrong (another cluster key?)";
			return -EACCES;
		}
		p->state = MCS_AUTH_DONE;
		return MCS_AUTH_ANSWER;
	}
	*why = auth_op ? "it repeated a step of the handshake" : "it sent a request before authenticating (no cluster key?)";
	return -EACCES;
}

void mcs_auth_client_start(struct mcs_auth_client *st, uint8_t role, struct mcs_buf *out)
{
	st->role = role;
	mcs_auth_nonce(st->nc);
	struct mcs_auth_req q = { .role = role, .nonce = { (const char *)st->nc, MCS_NONCE_LEN } };
	mcs_enc_auth_req(out, &q);
}

int mcs_auth_client_answer(struct mcs_auth_client *st, const struct mcs_keys *k, int status, const uint8_t *body,
			   size_t len, struct mcs_buf *out)
{
	if (status < 0)
		return status == -EOPNOTSUPP ? -EOPNOTSUPP : -EACCES;
	struct mcs_auth_resp a;
	if (mcs_dec_auth_resp(body, len, &a) < 0 || a.nonce.len != MCS_NONCE_LEN)
		return -EPROTO;
	const uint8_t *ns = (const uint8_t *)a.nonce.p;
	if (mcs_auth_verify(k, st->role, 'S', st->nc, ns, a.mac) < 0)
		return -EACCES;
	uint8_t mac[MCS_AUTH_MAC_LEN];
	if (mcs_auth_mac(k, st->role, 'C', st->nc, ns, mac) < 0)
		return -EACCES;
	struct mcs_auth_proof_req q = { .mac = { (const char *)mac, MCS_AUTH_MAC_LEN } };
	mcs_enc_auth_proof_req(out, &q);
	return out->err;
}
