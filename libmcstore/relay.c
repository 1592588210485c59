/* SPDX-License-Identifier: MIT */
/*
 * Remote bytes through the node daemon, for when the client does not speak
 * to other nodes itself (MCS_CLIENT_VIA_DAEMON_DATA, or a node it cannot
 * reach): buffers shared with the daemon (BUF_ALLOC memfds: the staging
 * buffer and mcs_buffer_alloc()'s), and FETCH / PUSH requests naming them.
 */
#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"
#include "libmcstore/internal.h"
#include "libmcstore/peer.h"
#include "xfer/xfer.h"

static int buf_alloc(struct mcs_client *c, uint64_t size, struct ubuf **ret)
{
	frame_begin(c, MCS_OP_BUF_ALLOC);
	struct mcs_buf_alloc_req q = { .size = size };
	mcs_enc_buf_alloc_req(&c->out, &q);
	int fd = -1, r = frame_finish(c);
	if (r == 0)
		r = link_roundtrip(c, &c->daemon, &fd);
	struct mcs_buf_alloc_resp resp;
	if (r == 0)
		r = mcs_dec_buf_alloc_resp(c->in, c->in_hdr.body_len, &resp);
	if (r == 0 && (fd < 0 || resp.size < size))
		r = -EPROTO;
	struct ubuf *b = NULL;
	if (r == 0 && !(b = calloc(1, sizeof(*b))))
		r = -ENOMEM;
	if (r == 0)
		r = mcs_segment_attach(fd, resp.size, &b->seg);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		free(b);
		return r;
	}
	b->id = resp.buf_id;
	*ret = b;
	return 0;
}

/* tell_daemon: false in a child after fork (the link is the parent's). */
static void buf_release(struct mcs_client *c, struct ubuf *b, bool tell_daemon)
{
	if (tell_daemon && !c->daemon.broken && !b->gone) {
		frame_begin(c, MCS_OP_BUF_FREE);
		struct mcs_buf_free_req q = { .buf_id = b->id };
		mcs_enc_buf_free_req(&c->out, &q);
		if (frame_finish(c) == 0)
			(void)link_roundtrip(c, &c->daemon, NULL);
	}
	mcs_segment_close(&b->seg);
	free(b);
}

void bufs_free(struct mcs_client *c, bool tell_daemon)
{
	while (c->bufs) {
		struct ubuf *b = c->bufs;
		c->bufs = b->next;
		buf_release(c, b, tell_daemon);
	}
	if (c->staging)
		buf_release(c, c->staging, tell_daemon);
	c->staging = NULL;
}

int staging(struct mcs_client *c, struct ubuf **ret)
{
	if (!c->staging) {
		int r = buf_alloc(c, c->staging_size, &c->staging);
		if (r < 0)
			return r;
	}
	*ret = c->staging;
	return 0;
}

struct mcs_peers *direct_peers(struct mcs_client *c)
{
	if (c->data_direct == 0 && peers_new(c->timeout_ms, c->busy_poll_us, &c->keys, &c->peers) < 0)
		c->data_direct = -1;
	if (c->data_direct == 0)
		c->data_direct = 1;
	return c->data_direct > 0 ? c->peers : NULL;
}

struct peer_self self_of(const struct mcs_client *c)
{
	return (struct peer_self){ mcs_str_c(c->segment), c->seg.base, c->seg.size, c->incarnation };
}

struct ubuf *buf_containing(struct mcs_client *c, const void *p, uint64_t len)
{
	for (struct ubuf *b = c->bufs; b; b = b->next) {
		if (b->gone)
			continue;
		uintptr_t base = (uintptr_t)b->seg.base, at = (uintptr_t)p;
		if (at >= base && mcs_xfer_range_ok(at - base, len, b->seg.size))
			return b;
	}
	return NULL;
}

int transfer(struct mcs_client *c, uint16_t op, const struct mcs_replica *const *reps, unsigned n_reps,
	     const struct ubuf *b, uint64_t buf_off, uint64_t off, uint64_t len)
{
	mcs_buf_reset(&c->out);
	uint64_t first = c->next_req;
	for (unsigned i = 0; i < n_reps; i++) {
		struct mcs_handle *hs = calloc(reps[i]->n_handles ? reps[i]->n_handles : 1, sizeof(*hs));
		if (!hs)
			return -ENOMEM;
		struct mcs_transfer_req q = { .buf_id = b->id, .buf_off = buf_off };
		q.handles = hs;
		q.n_handles = mcs_xfer_window(reps[i]->handles, reps[i]->n_handles, off, len, hs);
		mcs_frame_begin(&c->out, op, 0, 0, c->next_req++);
		mcs_enc_transfer_req(&c->out, &q);
		int r = mcs_frame_end(&c->out);
		free(hs);
		if (r < 0)
			return r;
	}
	struct answer *ans = calloc(n_reps ? n_reps : 1, sizeof(*ans));
	if (!ans)
		return -ENOMEM;
	/* answers come in any order; the first failure is the result */
	int r = link_pipeline(c, &c->daemon, first, n_reps, ans, true);
	for (unsigned i = 0; r == 0 && i < n_reps; i++)
		r = ans[i].status;
	answers_free(ans, n_reps);
	return r;
}

MCS_EXPORT int mcs_buffer_alloc(struct mcs_client *c, size_t size, void **ret)
{
	if (!ret || size == 0)
		return -EINVAL;
	int r = client_lock(c);
	if (r < 0)
		return r;
	struct ubuf *b;
	r = buf_alloc(c, size, &b);
	if (r == 0) {
		b->next = c->bufs;
		c->bufs = b;
		*ret = b->seg.base;
	}
	client_unlock(c);
	return r;
}

MCS_EXPORT void *mcs_buffer_free(struct mcs_client *c, void *p)
{
	if (!p || client_lock(c) < 0)
		return NULL;
	for (struct ubuf **pp = &c->bufs; *pp; pp = &(*pp)->next)
		if ((*pp)->seg.base == p) {
			struct ubuf *b = *pp;
			*pp = b->next;
			buf_release(c, b, true);
			break;
		}
	client_unlock(c);
	return NULL;
}
