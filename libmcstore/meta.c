/* SPDX-License-Identifier: MIT */
/*
 * Which link a handle's metadata goes on, and the metadata requests that
 * put, get and views share. The master itself when it can be reached (the
 * daemon's HELLO names it): one hop and two process wake-ups less per
 * request than through the daemon, which relays otherwise. The master, like
 * the daemon, undoes what a link left (pending puts, holds) when it closes.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "libmcstore/internal.h"

/* Whether the master on the new direct link leads: a standby of HA
 * masters answers nothing else (-EREMCHG), and names the leader, which
 * master_connect() dials next. */
static bool master_leads(struct mcs_client *c)
{
	frame_begin(c, MCS_OP_LEADER);
	struct mcs_leader_resp a;
	if (frame_finish(c) < 0 || link_roundtrip(c, &c->master, NULL) != 0 ||
	    mcs_dec_leader_resp(c->in, c->in_hdr.body_len, &a) < 0)
		return false;
	if (a.flags & MCS_LEADER_SELF)
		return true;
	if (a.leader.len && a.leader.len < sizeof(c->master_addr)) {
		memcpy(c->master_addr, a.leader.p, a.leader.len);
		c->master_addr[a.leader.len] = '\0';
	}
	return false;
}

/* The master the daemon is linked with now (it answers LEADER itself):
 * where to go when the one we knew is gone. */
static bool daemon_names_master(struct mcs_client *c)
{
	frame_begin(c, MCS_OP_LEADER);
	struct mcs_leader_resp a;
	if (frame_finish(c) < 0 || link_roundtrip(c, &c->daemon, NULL) != 0 ||
	    mcs_dec_leader_resp(c->in, c->in_hdr.body_len, &a) < 0 || !a.leader.len ||
	    a.leader.len >= sizeof(c->master_addr) ||
	    (strlen(c->master_addr) == a.leader.len && memcmp(c->master_addr, a.leader.p, a.leader.len) == 0))
		return false;
	memcpy(c->master_addr, a.leader.p, a.leader.len);
	c->master_addr[a.leader.len] = '\0';
	return true;
}

/* Open the direct link to the master that leads: the one we know, the
 * leader a standby names, or the master the daemon is linked with, a
 * few hops at most. Failing is not an error: the daemon relays instead,
 * and another attempt waits a second. */
static void master_connect(struct mcs_client *c)
{
	for (int hop = 0; hop < 3; hop++) {
		char host[MCS_NAME_MAX + 1];
		uint16_t port;
		if (mcs_parse_hostport(c->master_addr, host, sizeof(host), &port) < 0) {
			c->master_addr[0] = '\0';
			return;
		}
		int fd = mcs_tcp_connect(host, port, (int)MCS_MIN(c->timeout_ms, 2000u), NULL);
		if (fd >= 0 && (mcs_auth_connect(&c->keys, c->keys.role, fd, c->timeout_ms) < 0 ||
				link_open(c, &c->master, fd) < 0)) {
			close(fd);
			fd = -1;
		}
		if (fd >= 0 && master_leads(c))
			return;
		if (fd >= 0)
			link_close(&c->master); /* a standby: it named the leader */
		else if (c->daemon.fd < 0 || c->daemon.broken || !daemon_names_master(c))
			break;
	}
	c->master_retry_ms = mcs_now_ms() + 1000;
}

/* A broken direct link (the master restarted, say) is closed here:
 * whatever it held (pending puts, holds) the master has dropped with it. */
void meta_pick(struct mcs_client *c)
{
	if (c->daemon.broken || c->daemon.fd < 0)
		daemon_check(c);
	if (c->master.fd >= 0 && c->master.broken)
		link_close(&c->master);
	if (c->master.fd < 0 && c->master_addr[0] && mcs_now_ms() >= c->master_retry_ms)
		master_connect(c);
	c->meta = c->master.fd >= 0 && !c->hold_op ? &c->master : &c->daemon;
}

/* ---- failover ------------------------------------------------------------- */

bool failover_status(const struct mcs_client *c, int r)
{
	if (r == -EHOSTDOWN || r == -EREMCHG)
		return true;
	/* the master of the direct link died or closed it (a leader that
	 * steps down closes every connection), or the daemon went away (it
	 * restarts: the next try connects again, see daemon_check) */
	bool gone = r == -ECONNRESET || r == -EPIPE || r == -ENOTCONN;
	return gone && ((c->meta == &c->master && c->master.broken) || c->daemon.broken);
}

bool failover_wait(struct mcs_client *c, int r)
{
	if (c->failover_ms < 0 || !failover_status(c, r))
		return false;
	uint64_t now = mcs_now_ms();
	if (!c->fo_until) {
		c->fo_until = now + (uint64_t)c->failover_ms;
		c->fo_pause_ms = 10;
	}
	if (now >= c->fo_until)
		return false;
	/* a standby on the direct link: dial the leader it names now */
	if (r == -EREMCHG && c->meta == &c->master) {
		link_close(&c->master);
		c->master_retry_ms = 0;
	}
	uint64_t ms = MCS_MIN((uint64_t)c->fo_pause_ms, c->fo_until - now);
	struct timespec ts = { .tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	c->fo_pause_ms = MCS_MIN(c->fo_pause_ms * 2, 250u);
	return true;
}

/* Requests that may be sent again on another link: they either did
 * nothing, or what they did went with the master or link that failed. */
static bool resendable(uint16_t op)
{
	return op != MCS_OP_PUT_END && op != MCS_OP_PUT_REVOKE && op != MCS_OP_RELEASE;
}

/* Whether a request is sent again: its answer says a failover (or none
 * came before the link broke with one). A PUT_START sent again may find
 * its first self still pending, until the master has seen the old link
 * close (-EAGAIN). */
static bool resend_due(const struct mcs_client *c, uint16_t op, bool got, int status, int whole, bool again)
{
	if (!resendable(op))
		return false;
	if (!got)
		return failover_status(c, whole);
	return failover_status(c, status) || (again && op == MCS_OP_PUT_START && status == -EAGAIN);
}

/* The frames of keep whose pend[] is set, into c->out under fresh request
 * ids (the first returned in *first). */
static int refill(struct mcs_client *c, const struct mcs_buf *keep, size_t n, const bool *pend, uint64_t *first)
{
	mcs_buf_reset(&c->out);
	*first = c->next_req;
	size_t off = 0;
	for (size_t i = 0; i < n; i++) {
		struct mcs_hdr h;
		if (off + MCS_HDR_SIZE > keep->len || mcs_hdr_decode(keep->p + off, UINT32_MAX, &h) < 0 ||
		    h.body_len > keep->len - off - MCS_HDR_SIZE)
			return -EPROTO;
		if (pend[i]) {
			mcs_frame_begin(&c->out, h.opcode, h.flags, h.status, c->next_req++);
			mcs_buf_put_bytes(&c->out, keep->p + off + MCS_HDR_SIZE, h.body_len);
			int r = mcs_frame_end(&c->out);
			if (r < 0)
				return r;
		}
		off += MCS_HDR_SIZE + h.body_len;
	}
	return 0;
}

static uint16_t frame_op(const struct mcs_buf *b, size_t off)
{
	struct mcs_hdr h;
	return off + MCS_HDR_SIZE <= b->len && mcs_hdr_decode(b->p + off, UINT32_MAX, &h) == 0 ? h.opcode : 0;
}

/* The requests in c->out (n of them, ans[] their answers after a first
 * try that ended with whole) sent again while a failover calls for it. */
static int resend(struct mcs_client *c, size_t n, struct answer *ans, int whole)
{
	struct mcs_buf keep;
	mcs_buf_init(&keep);
	bool *pend = calloc(n, sizeof(*pend));
	uint16_t *ops = calloc(n, sizeof(*ops));
	size_t *map = calloc(n, sizeof(*map));
	struct answer *sub = calloc(n, sizeof(*sub));
	int r = pend && ops && map && sub && mcs_buf_reserve(&keep, c->out.len) == 0 ? 0 : -ENOMEM;
	if (r < 0)
		goto out;
	mcs_buf_put_bytes(&keep, c->out.p, c->out.len);
	for (size_t i = 0, off = 0; i < n; i++) {
		struct mcs_hdr h;
		if (off + MCS_HDR_SIZE > keep.len || mcs_hdr_decode(keep.p + off, UINT32_MAX, &h) < 0) {
			r = -EPROTO;
			goto out;
		}
		ops[i] = h.opcode;
		off += MCS_HDR_SIZE + h.body_len;
	}
	int fail = whole; /* the first try's failure, if nothing better comes */
	for (bool again = false;; again = true) {
		size_t m = 0;
		int why = whole;
		for (size_t i = 0; i < n; i++) {
			pend[i] = resend_due(c, ops[i], ans[i].got, ans[i].status, whole, again);
			if (pend[i]) {
				map[m++] = i;
				if (ans[i].got)
					why = ans[i].status == -EAGAIN ? -EHOSTDOWN : ans[i].status;
			}
		}
		if (!m || !failover_wait(c, why))
			break;
		meta_pick(c);
		uint64_t first;
		if ((r = refill(c, &keep, n, pend, &first)) < 0)
			goto out;
		memset(sub, 0, m * sizeof(*sub));
		whole = link_pipeline(c, c->meta, first, m, sub, false);
		if (whole < 0)
			fail = whole;
		for (size_t j = 0; j < m; j++) {
			free(ans[map[j]].body);
			/* one not got this time is not got: sent again, if due */
			ans[map[j]] = sub[j];
		}
	}
	r = 0;
	for (size_t i = 0; i < n; i++)
		if (!ans[i].got)
			r = fail < 0 ? fail : -EPROTO;
out:
	mcs_buf_free(&keep);
	free(pend);
	free(ops);
	free(map);
	free(sub);
	return r;
}

int meta_roundtrip(struct mcs_client *c)
{
	int r = link_roundtrip(c, c->meta, NULL);
	if (c->failover_ms < 0 || !resendable(frame_op(&c->out, 0)) || !failover_status(c, r))
		return r;
	/* as a pipeline of one: an answer (no leader, a standby) or none (the
	 * link broke); the last answer's body goes back to c->in */
	bool got = r == -EHOSTDOWN || r == -EREMCHG;
	struct answer a = { .status = r, .got = got };
	if (got) {
		a.len = c->in_hdr.body_len;
		a.body = take_in(c);
	}
	r = resend(c, 1, &a, got ? 0 : r);
	if (!a.got)
		return r;
	free(c->in);
	c->in = a.body;
	c->in_cap = a.len;
	c->in_hdr.body_len = a.len;
	c->in_hdr.status = a.status;
	return r < 0 ? r : a.status;
}

int meta_pipeline(struct mcs_client *c, uint64_t first, size_t n, struct answer *ans)
{
	int r = link_pipeline(c, c->meta, first, n, ans, false);
	if (c->failover_ms < 0 || !n)
		return r;
	return resend(c, n, ans, r);
}

int get_replicas(struct mcs_client *c, struct mcs_str key, uint32_t flags, struct mcs_get_resp *ret,
		 uint8_t **ret_body)
{
	c->hold_op = flags & MCS_GET_HOLD;
	meta_pick(c);
	frame_begin(c, MCS_OP_GET_REPLICAS);
	struct mcs_get_req q = { .key = key, .flags = flags };
	mcs_enc_get_req(&c->out, &q);
	int r = frame_finish(c);
	if (r < 0 || (r = meta_roundtrip(c)) < 0)
		return r;
	r = mcs_dec_get_resp(c->in, c->in_hdr.body_len, ret);
	if (r == 0)
		*ret_body = take_in(c);
	return r;
}

int put_revoke(struct mcs_client *c, struct mcs_str key)
{
	frame_begin(c, MCS_OP_PUT_REVOKE);
	struct mcs_key_req q = { .key = key };
	mcs_enc_key_req(&c->out, &q);
	int r = frame_finish(c);
	return r < 0 ? r : meta_roundtrip(c);
}

/* Nothing the caller could do about a failed release (whoever holds the
 * other end of the link, daemon or master, releases what is left when we
 * disconnect), so do not wait a round trip for it: link_roundtrip() skips
 * the late answer. A hold taken on a link since closed (another gen) is
 * gone already. */
void release_hold(struct mcs_client *c, struct mcs_link *l, uint64_t gen, struct mcs_str key, uint64_t hold_id)
{
	if (l->fd < 0 || l->broken || l->gen != gen)
		return;
	frame_begin(c, MCS_OP_RELEASE);
	struct mcs_release_req q = { .key = key, .hold_id = hold_id };
	mcs_enc_release_req(&c->out, &q);
	if (frame_finish(c) == 0)
		(void)link_write(c, l, c->out.p, c->out.len);
}
