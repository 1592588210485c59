/* SPDX-License-Identifier: MIT */
/*
 * Put: PUT_START (the master allocates the replicas), the copies (local
 * replicas by memcpy into the mapped segment, remote ones straight from the
 * caller's memory to their nodes, or through the daemon), PUT_END with the
 * value's hash; PUT_REVOKE on any failure. Batches pipeline every PUT_START,
 * then every PUT_END.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "libmcstore/internal.h"
#include "libmcstore/peer.h"

/* The replicas of one put, split by where they are. */
struct put_reps {
	struct mcs_client *c;
	const struct mcs_replica *local[MCS_MAX_REPLICAS], *remote[MCS_MAX_REPLICAS];
	struct hcursor hc[MCS_MAX_REPLICAS];
	unsigned n_local, n_remote;
};

static void put_reps_init(struct mcs_client *c, const struct mcs_replica_list *l, struct put_reps *pr)
{
	pr->c = c;
	pr->n_local = pr->n_remote = 0;
	for (uint32_t r = 0; r < l->n_replicas && r < MCS_MAX_REPLICAS; r++) {
		pr->hc[r] = (struct hcursor){ 0, 0 };
		if (is_local(c, &l->replicas[r]))
			pr->local[pr->n_local++] = &l->replicas[r];
		else
			pr->remote[pr->n_remote++] = &l->replicas[r];
	}
}

/* peer_write's copy function: the local replicas of items arg[item]. */
static void copy_local(void *arg, size_t item, uint64_t voff, const uint8_t *p, size_t n)
{
	struct put_reps *pr = (struct put_reps *)arg + item;
	(void)voff;
	for (unsigned r = 0; r < pr->n_local; r++)
		hcursor_copy(pr->c, pr->local[r], &pr->hc[r], p, n);
}

/* Through the daemon: hash and copy every chunk to the local replicas and
 * to the staging buffer, PUSHed to the remote ones a window at a time (or
 * straight from a registered buffer holding the value). */
static int write_relayed(struct mcs_client *c, const struct iovec *iov, int iovcnt, uint64_t total,
			 struct put_reps *pr, uint64_t *ret_sum)
{
	unsigned n_remote = pr->n_remote;
	/* a value already in a registered buffer leaves from there */
	struct ubuf *direct = iovcnt == 1 && n_remote ? buf_containing(c, iov[0].iov_base, total) : NULL;
	struct ubuf *st = NULL;
	if (n_remote && !direct) {
		int r = staging(c, &st);
		if (r < 0)
			return r;
	}
	struct cursor cu = { iov, iovcnt, 0, 0 };
	uint64_t voff = 0, win = 0;
	uint8_t *src;
	size_t n;

	XXH3_64bits_reset(c->xxh);
	while ((n = cursor_take(&cu, MCS_MIN((uint64_t)CHUNK, st ? st->seg.size - (voff - win) : (uint64_t)CHUNK),
				&src)) > 0) {
		XXH3_64bits_update(c->xxh, src, n);
		for (unsigned r = 0; r < pr->n_local; r++)
			hcursor_copy(c, pr->local[r], &pr->hc[r], src, n);
		if (st)
			memcpy((uint8_t *)st->seg.base + (voff - win), src, n);
		voff += n;
		if (st && (voff - win == st->seg.size || voff == total)) {
			int r = transfer(c, MCS_OP_PUSH, pr->remote, n_remote, st, 0, win, voff - win);
			if (r < 0)
				return r;
			win = voff;
		}
	}
	if (direct) {
		uint64_t off = (uint64_t)((uintptr_t)iov[0].iov_base - (uintptr_t)direct->seg.base);
		int r = transfer(c, MCS_OP_PUSH, pr->remote, n_remote, direct, off, 0, total);
		if (r < 0)
			return r;
	}
	*ret_sum = XXH3_64bits_digest(c->xxh);
	return 0;
}

/* Write the value into every replica: remote ones straight from the
 * caller's memory to their nodes (peer.c), else through the daemon. Each
 * chunk is hashed once, just before it is copied. */
static int write_replicas(struct mcs_client *c, const struct iovec *iov, int iovcnt, uint64_t total,
			  const struct mcs_replica_list *l, uint64_t *ret_sum)
{
	struct put_reps pr;
	put_reps_init(c, l, &pr);
	struct mcs_peers *peers = pr.n_remote ? direct_peers(c) : NULL;
	if (peers) {
		struct peer_self self = self_of(c);
		struct peer_put it = { .reps = pr.remote, .n_reps = pr.n_remote, .iov = iov, .iovcnt = iovcnt,
				       .size = total };
		int r = peer_write(peers, &self, &it, 1, c->xxh, pr.n_local ? copy_local : NULL, &pr);
		if (r < 0)
			return r;
		if (it.status != PEER_UNREACHABLE) {
			*ret_sum = it.sum;
			return it.status;
		}
	}
	return write_relayed(c, iov, iovcnt, total, &pr, ret_sum);
}

/* The PUT_START request of cfg (NULL: one replica). */
static int put_start_req(const struct mcs_replicate_config *cfg, struct mcs_put_start_req *q)
{
	q->cfg.replica_num = 1;
	if (!cfg)
		return 0;
	if (cfg->size < offsetof(struct mcs_replicate_config, n_locations) + sizeof(cfg->n_locations))
		return -EINVAL;
	if (cfg->replica_num > MCS_MAX_REPLICAS || cfg->n_locations > MCS_MAX_LOCATIONS ||
	    (cfg->n_locations && !cfg->locations))
		return -EINVAL;
	q->cfg.replica_num = cfg->replica_num ? cfg->replica_num : 1;
	q->cfg.flags = cfg->flags;
	q->cfg.n_locations = (uint32_t)cfg->n_locations;
	for (size_t i = 0; i < cfg->n_locations; i++) {
		if (!cfg->locations[i] || !*cfg->locations[i] || strlen(cfg->locations[i]) > MCS_NAME_MAX)
			return -EINVAL;
		q->cfg.locations[i] = mcs_str_c(cfg->locations[i]);
	}
	return 0;
}

/* A PUT_START answer the client may act on: replicas of the value's size,
 * the local ones inside the mapping. */
static int check_start(struct mcs_client *c, const struct mcs_replica_list *l, uint64_t total)
{
	int r = l->n_replicas ? 0 : -EPROTO;
	for (uint32_t i = 0; r == 0 && i < l->n_replicas; i++) {
		const struct mcs_replica *rep = &l->replicas[i];
		if (replica_bytes(rep) != total)
			r = -EPROTO;
		else if (is_local(c, rep))
			r = replica_check(c, rep, total);
	}
	return r;
}

static int do_putv(struct mcs_client *c, struct mcs_str key, const struct iovec *iov, int iovcnt,
		   const struct mcs_replicate_config *cfg, unsigned *ret_replicas)
{
	uint64_t total, one;
	struct mcs_put_start_req q = { .key = key, .n_slices = 1, .slice_lens = &one };
	int r = iov_total(iov, iovcnt, &total);
	if (r == 0)
		r = put_start_req(cfg, &q);
	if (r < 0)
		return r;
	q.value_len = one = total;
	meta_pick(c);
	frame_begin(c, MCS_OP_PUT_START);
	mcs_enc_put_start_req(&c->out, &q);
	if ((r = frame_finish(c)) < 0 || (r = meta_roundtrip(c)) < 0)
		return r;
	struct mcs_put_start_resp resp;
	if ((r = mcs_dec_put_start_resp(c->in, c->in_hdr.body_len, &resp)) < 0) {
		put_revoke(c, key);
		return r;
	}
	_cleanup_free_ uint8_t *body = take_in(c);
	uint64_t checksum = 0;
	r = check_start(c, &resp.list, total);
	if (r == 0)
		r = write_replicas(c, iov, iovcnt, total, &resp.list, &checksum);
	unsigned n_rep = resp.list.n_replicas;
	mcs_replica_list_free(&resp.list);
	if (r == 0) {
		frame_begin(c, MCS_OP_PUT_END);
		struct mcs_put_end_req e = { .key = key, .checksum = checksum };
		mcs_enc_put_end_req(&c->out, &e);
		if ((r = frame_finish(c)) == 0)
			r = meta_roundtrip(c);
	}
	if (r < 0) {
		if (!c->meta->broken)
			put_revoke(c, key);
		return r;
	}
	if (ret_replicas)
		*ret_replicas = n_rep;
	return 0;
}

/* A put that failed at its end across a failover (PUT_END unanswered, or
 * answered by a master that never saw the start): started over. */
static bool end_lost(struct mcs_client *c, int r)
{
	return failover_status(c, r) || (c->fo_until && r == -ENOENT);
}

/* After a put started over, -EEXIST may be the put itself, ended before
 * its master went away: success if what is stored is this value. */
static int stored_already(struct mcs_client *c, struct mcs_str key, const struct iovec *iov, int iovcnt,
			  unsigned *ret_replicas)
{
	struct mcs_get_resp g;
	_cleanup_free_ uint8_t *body = NULL;
	uint64_t total;
	if (iov_total(iov, iovcnt, &total) < 0 || get_replicas(c, key, MCS_GET_NOLEASE, &g, &body) < 0)
		return -EEXIST;
	if (ret_replicas)
		*ret_replicas = g.list.n_replicas;
	mcs_replica_list_free(&g.list);
	XXH3_64bits_reset(c->xxh);
	for (int i = 0; i < iovcnt; i++)
		XXH3_64bits_update(c->xxh, iov[i].iov_base, iov[i].iov_len);
	return g.size == total && g.checksum == XXH3_64bits_digest(c->xxh) ? 0 : -EEXIST;
}

MCS_EXPORT int mcs_putv(struct mcs_client *c, const char *key, const struct iovec *iov, int iovcnt,
			const struct mcs_replicate_config *cfg, unsigned *ret_replicas)
{
	struct mcs_str k;
	int r = key_check(key, &k);
	if (r < 0 || (r = client_lock(c)) < 0)
		return r;
	r = do_putv(c, k, iov, iovcnt, cfg, ret_replicas);
	bool again = false;
	while (r < 0 && end_lost(c, r) && failover_wait(c, failover_status(c, r) ? r : -EHOSTDOWN)) {
		again = true;
		r = do_putv(c, k, iov, iovcnt, cfg, ret_replicas);
	}
	if (r == -EEXIST && again)
		r = stored_already(c, k, iov, iovcnt, ret_replicas);
	client_unlock(c);
	return r;
}

MCS_EXPORT int mcs_put(struct mcs_client *c, const char *key, const void *buf, size_t len,
		       const struct mcs_replicate_config *cfg, unsigned *ret_replicas)
{
	if (len && !buf)
		return -EINVAL;
	struct iovec iov = { (void *)buf, len };
	return mcs_putv(c, key, &iov, 1, cfg, ret_replicas);
}

/* ---- batches -------------------------------------------------------------- */

/* The state of a batch put between its two pipelines. */
struct put_batch {
	size_t n;
	const struct iovec *values;
	struct mcs_put_start_resp *resps;
	uint64_t *checksums;
	int *results;
};

/* The copies of a batch put, once every PUT_START is answered: with direct
 * data, every value that starts right goes to all its replicas in one
 * peer_write() (the DATA_WRITEs of all keys pipelined, one wait for their
 * answers); values it could not send go through write_replicas(). */
static int put_batch_write(struct mcs_client *c, struct put_batch *b, const struct answer *ans)
{
	size_t n = b->n;
	struct put_reps *prs = calloc(n ? n : 1, sizeof(*prs));
	struct peer_put *items = calloc(n ? n : 1, sizeof(*items));
	size_t *idx = calloc(n ? n : 1, sizeof(*idx)), m = 0;
	int r = prs && items && idx ? 0 : -ENOMEM;
	struct mcs_peers *peers = r == 0 ? direct_peers(c) : NULL;
	for (size_t i = 0; r == 0 && i < n; i++) {
		uint64_t total = b->values[i].iov_len;
		int e = ans[i].status;
		if (e == 0)
			e = mcs_dec_put_start_resp(ans[i].body, ans[i].len, &b->resps[i]);
		if (e == 0)
			e = check_start(c, &b->resps[i].list, total);
		if ((b->results[i] = e) < 0)
			continue;
		if (peers) {
			put_reps_init(c, &b->resps[i].list, &prs[m]);
			items[m] = (struct peer_put){ .reps = prs[m].remote, .n_reps = prs[m].n_remote,
						      .iov = &b->values[i], .iovcnt = 1, .size = total };
			idx[m++] = i;
		} else {
			b->results[i] = write_replicas(c, &b->values[i], 1, total, &b->resps[i].list, &b->checksums[i]);
		}
		if (c->daemon.broken)
			r = -ENOTCONN;
	}
	if (r == 0 && m) {
		struct peer_self self = self_of(c);
		r = peer_write(peers, &self, items, m, c->xxh, copy_local, prs);
		for (size_t j = 0; r == 0 && j < m && !c->daemon.broken; j++) {
			size_t i = idx[j];
			b->results[i] = items[j].status;
			if (items[j].status == 0)
				b->checksums[i] = items[j].sum;
			else if (items[j].status == PEER_UNREACHABLE)
				b->results[i] = write_replicas(c, &b->values[i], 1, b->values[i].iov_len,
							       &b->resps[i].list, &b->checksums[i]);
		}
	}
	if (r == 0 && c->daemon.broken)
		r = -ENOTCONN;
	free(prs);
	free(items);
	free(idx);
	return r;
}

/* PUT_END for what was written, PUT_REVOKE for what was started and not
 * written (never for a refused start: the key may be another client's put
 * in progress on this node), all at once. ans[] is reused for the answers. */
static int put_batch_end(struct mcs_client *c, struct put_batch *b, const struct mcs_str *k, struct answer *ans)
{
	size_t n = b->n, m = 0;
	size_t *frame_key = calloc(n ? n : 1, sizeof(*frame_key));
	if (!frame_key)
		return -ENOMEM;
	mcs_buf_reset(&c->out);
	uint64_t first = c->next_req;
	int r = 0;
	for (size_t i = 0; r == 0 && i < n; i++) {
		bool started = ans[i].status >= 0;
		free(ans[i].body);
		ans[i] = (struct answer){ 0 };
		if (!started)
			continue;
		if (b->results[i] >= 0) {
			struct mcs_put_end_req e = { .key = k[i], .checksum = b->checksums[i] };
			mcs_frame_begin(&c->out, MCS_OP_PUT_END, 0, 0, c->next_req++);
			mcs_enc_put_end_req(&c->out, &e);
		} else {
			struct mcs_key_req e = { .key = k[i] };
			mcs_frame_begin(&c->out, MCS_OP_PUT_REVOKE, 0, 0, c->next_req++);
			mcs_enc_key_req(&c->out, &e);
		}
		r = mcs_frame_end(&c->out);
		frame_key[m++] = i;
	}
	if (r >= 0 && m)
		r = meta_pipeline(c, first, m, ans);
	for (size_t j = 0; r >= 0 && j < m; j++) {
		size_t i = frame_key[j];
		if (b->results[i] >= 0 && ans[j].status < 0)
			b->results[i] = ans[j].status;
	}
	free(frame_key);
	return r < 0 ? r : 0;
}

static int do_put_batch(struct mcs_client *c, size_t n, const struct mcs_str *k, const struct iovec *values,
			const struct mcs_replicate_config *cfg, int *results, unsigned *ret_replicas)
{
	uint64_t one;
	struct mcs_put_start_req q = { .n_slices = 1, .slice_lens = &one };
	int r = put_start_req(cfg, &q);
	if (r < 0)
		return r;
	for (size_t i = 0; i < n; i++)
		if (values[i].iov_len && !values[i].iov_base)
			return -EINVAL;
	struct put_batch b = { .n = n, .values = values, .results = results };
	struct answer *ans = calloc(n ? n : 1, sizeof(*ans));
	b.checksums = calloc(n ? n : 1, sizeof(*b.checksums));
	b.resps = calloc(n ? n : 1, sizeof(*b.resps));
	if (!ans || !b.checksums || !b.resps)
		r = -ENOMEM;
	/* 1: every PUT_START at once */
	meta_pick(c);
	mcs_buf_reset(&c->out);
	uint64_t first = c->next_req;
	for (size_t i = 0; r == 0 && i < n; i++) {
		q.key = k[i];
		q.value_len = one = values[i].iov_len;
		mcs_frame_begin(&c->out, MCS_OP_PUT_START, 0, 0, c->next_req++);
		mcs_enc_put_start_req(&c->out, &q);
		r = mcs_frame_end(&c->out);
	}
	if (r >= 0)
		r = meta_pipeline(c, first, n, ans);
	/* 2: the copies, as mcs_put does them; remote ones all in one go */
	if (r >= 0)
		r = put_batch_write(c, &b, ans);
	/* 3: PUT_END / PUT_REVOKE */
	if (r >= 0)
		r = put_batch_end(c, &b, k, ans);
	int stored = 0;
	for (size_t i = 0; r >= 0 && i < n; i++) {
		stored += results[i] >= 0;
		if (ret_replicas)
			ret_replicas[i] = results[i] >= 0 ? b.resps[i].list.n_replicas : 0;
	}
	for (size_t i = 0; b.resps && i < n; i++)
		mcs_replica_list_free(&b.resps[i].list);
	free(b.resps);
	free(b.checksums);
	answers_free(ans, n);
	return r < 0 ? r : stored;
}

/* A batch put across a failover: the keys whose end was lost started
 * over, as a batch of their own, while the call's bound lasts. */
static int put_batch_retried(struct mcs_client *c, size_t n, const struct mcs_str *k, const struct iovec *values,
			     const struct mcs_replicate_config *cfg, int *results, unsigned *ret_replicas)
{
	int r = do_put_batch(c, n, k, values, cfg, results, ret_replicas);
	if (c->failover_ms < 0 || (r < 0 && !end_lost(c, r)))
		return r;
	bool *again = calloc(n ? n : 1, sizeof(*again));
	size_t *idx = calloc(n ? n : 1, sizeof(*idx));
	struct mcs_str *sk = calloc(n ? n : 1, sizeof(*sk));
	struct iovec *sv = calloc(n ? n : 1, sizeof(*sv));
	int *sr = calloc(n ? n : 1, sizeof(*sr));
	unsigned *sn = calloc(n ? n : 1, sizeof(*sn));
	if (!again || !idx || !sk || !sv || !sr || !sn) {
		r = r < 0 ? r : -ENOMEM;
		goto out;
	}
	for (;;) {
		/* a whole batch lost: every key again (those it stored find
		 * themselves, below) */
		int whole = r;
		size_t m = 0;
		for (size_t i = 0; i < n; i++)
			if (whole < 0 || end_lost(c, results[i]))
				idx[m++] = i;
		if (!m || !failover_wait(c, whole < 0 && failover_status(c, whole) ? whole : -EHOSTDOWN))
			break;
		for (size_t j = 0; j < m; j++) {
			sk[j] = k[idx[j]];
			sv[j] = values[idx[j]];
		}
		r = do_put_batch(c, m, sk, sv, cfg, sr, sn);
		if (r < 0 && !end_lost(c, r))
			goto out;
		for (size_t j = 0; r >= 0 && j < m; j++) {
			results[idx[j]] = sr[j];
			if (ret_replicas)
				ret_replicas[idx[j]] = sn[j];
			again[idx[j]] = true;
		}
		if (r < 0 && whole >= 0)
			r = 0; /* the first results stand for what was not redone */
	}
	if (r < 0)
		goto out;
	r = 0;
	for (size_t i = 0; i < n; i++) {
		if (results[i] == -EEXIST && again[i])
			results[i] = stored_already(c, k[i], &values[i], 1, ret_replicas ? &ret_replicas[i] : NULL);
		r += results[i] >= 0;
	}
out:
	free(again);
	free(idx);
	free(sk);
	free(sv);
	free(sr);
	free(sn);
	return r;
}

MCS_EXPORT int mcs_put_batch(struct mcs_client *c, size_t n, const char *const *keys, const struct iovec *values,
			     const struct mcs_replicate_config *cfg, int *results, unsigned *ret_replicas)
{
	struct mcs_str *k;
	if (n && (!values || !results))
		return -EINVAL;
	int r = batch_keys(n, keys, &k);
	if (r < 0)
		return r;
	if ((r = client_lock(c)) == 0) {
		r = put_batch_retried(c, n, k, values, cfg, results, ret_replicas);
		client_unlock(c);
	}
	free(k);
	return r;
}
