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
#include <unistd.h>

#include "common/util.h"
#include "libmcstore/internal.h"

/* Whether the master on the new direct link leads: a standby of HA
 * masters answers nothing else (-EREMCHG), and names the leader, which
 * the next attempt dials. */
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

/* Open the direct link to the master. Failing is not an error: the daemon
 * relays instead, and another attempt waits a second. */
static void master_connect(struct mcs_client *c)
{
	char host[MCS_NAME_MAX + 1];
	uint16_t port;
	if (mcs_parse_hostport(c->master_addr, host, sizeof(host), &port) < 0) {
		c->master_addr[0] = '\0';
		return;
	}
	int fd = mcs_tcp_connect(host, port, (int)MCS_MIN(c->timeout_ms, 2000u), NULL);
	if (fd >= 0 && (mcs_auth_connect(&c->keys, c->keys.role, fd, c->timeout_ms) < 0 || link_open(c, &c->master, fd) < 0)) {
		close(fd);
		fd = -1;
	}
	if (fd >= 0 && !master_leads(c)) {
		link_close(&c->master);
		fd = -1;
	}
	if (fd < 0)
		c->master_retry_ms = mcs_now_ms() + 1000;
}

/* A broken direct link (the master restarted, say) is closed here:
 * whatever it held (pending puts, holds) the master has dropped with it. */
void meta_pick(struct mcs_client *c)
{
	if (c->master.fd >= 0 && c->master.broken)
		link_close(&c->master);
	if (c->master.fd < 0 && c->master_addr[0] && mcs_now_ms() >= c->master_retry_ms)
		master_connect(c);
	c->meta = c->master.fd >= 0 ? &c->master : &c->daemon;
}

int meta_roundtrip(struct mcs_client *c) { return link_roundtrip(c, c->meta, NULL); }

int meta_pipeline(struct mcs_client *c, uint64_t first, size_t n, struct answer *ans)
{
	return link_pipeline(c, c->meta, first, n, ans, false);
}

int get_replicas(struct mcs_client *c, struct mcs_str key, uint32_t flags, struct mcs_get_resp *ret,
		 uint8_t **ret_body)
{
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
