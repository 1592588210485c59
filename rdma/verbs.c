/* SPDX-License-Identifier: MIT */
/* The verbs layer of the RDMA transport (see rdma.h). */
#include <errno.h>
#include <infiniband/verbs.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "common/util.h"
#include "rdma/rdma.h"

static int neg_errno(int fallback)
{
	return errno > 0 ? -errno : -fallback;
}

/* the port's GID that holds an IPv4 address (::ffff:a.b.c.d), RoCE v2
 * preferred; -1 when there is none */
static int ipv4_gid(struct ibv_context *ctx, uint8_t port, int tbl_len, uint8_t out[16])
{
	static const uint8_t v4[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	int found = -1;
	for (int i = 0; i < tbl_len; i++) {
		struct ibv_gid_entry g;
		if (ibv_query_gid_ex(ctx, port, (uint32_t)i, &g, 0) || memcmp(g.gid.raw, v4, sizeof(v4)))
			continue;
		if (found < 0 || g.gid_type == IBV_GID_TYPE_ROCE_V2) {
			found = i;
			memcpy(out, g.gid.raw, 16);
		}
		if (g.gid_type == IBV_GID_TYPE_ROCE_V2)
			break;
	}
	return found;
}

/* d from an opened context: -errno, with the context closed on failure */
static int dev_setup(struct ibv_context *ctx, struct mcs_rdma_dev *d)
{
	struct ibv_port_attr pa;
	struct ibv_device_attr da;
	memset(d, 0, sizeof(*d));
	d->ctx = ctx;
	d->port = 1;
	snprintf(d->name, sizeof(d->name), "%s", ibv_get_device_name(ctx->device));
	int r = 0;
	if (ibv_query_port(ctx, d->port, &pa) || ibv_query_device(ctx, &da))
		r = neg_errno(EIO);
	else if (pa.state != IBV_PORT_ACTIVE)
		r = -ENETDOWN;
	if (r == 0) {
		d->mtu = (uint8_t)pa.active_mtu;
		d->lid = pa.lid;
		d->gid_index = -1;
		if (pa.link_layer == IBV_LINK_LAYER_ETHERNET) {
			d->gid_index = ipv4_gid(ctx, d->port, pa.gid_tbl_len, d->gid);
			if (d->gid_index < 0)
				r = -EADDRNOTAVAIL;
		}
		d->mw2 = (da.device_cap_flags & IBV_DEVICE_MEM_WINDOW_TYPE_2B) != 0;
		d->max_sge = (uint32_t)da.max_sge;
		d->max_qp_wr = (uint32_t)da.max_qp_wr;
		d->max_rd_atom = (uint8_t)MCS_MIN(da.max_qp_rd_atom, 255);
		d->max_init_rd_atom = (uint8_t)MCS_MIN(da.max_qp_init_rd_atom, 255);
	}
	if (r == 0 && !(d->pd = ibv_alloc_pd(ctx)))
		r = neg_errno(ENOMEM);
	if (r) {
		ibv_close_device(ctx);
		d->ctx = NULL;
	}
	return r;
}

int mcs_rdma_dev_open(const char *name, struct mcs_rdma_dev *ret)
{
	int n = 0;
	struct ibv_device **l = ibv_get_device_list(&n);
	if (!l)
		return neg_errno(ENODEV);
	int r = -ENODEV;
	for (int i = 0; i < n && r; i++) {
		if (name && strcmp(ibv_get_device_name(l[i]), name))
			continue;
		struct ibv_context *ctx = ibv_open_device(l[i]);
		if (!ctx) {
			r = neg_errno(ENODEV);
			continue;
		}
		r = dev_setup(ctx, ret);
		if (name)
			break;
	}
	ibv_free_device_list(l);
	return r;
}

void mcs_rdma_dev_close(struct mcs_rdma_dev *d)
{
	if (!d || !d->ctx)
		return;
	if (d->pd)
		ibv_dealloc_pd(d->pd);
	ibv_close_device(d->ctx);
	d->ctx = NULL;
	d->pd = NULL;
}

int mcs_rdma_dev_list(char *out, size_t len)
{
	int n = 0;
	struct ibv_device **l = ibv_get_device_list(&n);
	size_t at = 0;
	if (len)
		out[0] = 0;
	for (int i = 0; l && i < n; i++) {
		int w = snprintf(out + at, len > at ? len - at : 0, "%s%s", i ? "," : "", ibv_get_device_name(l[i]));
		if (w > 0)
			at = MCS_MIN(at + (size_t)w, len ? len - 1 : 0);
	}
	if (l)
		ibv_free_device_list(l);
	return l ? n : 0;
}

/* ---- registrations ------------------------------------------------------ */

int mcs_rdma_reg(struct mcs_rdma_dev *d, void *base, size_t len, unsigned access, struct mcs_rdma_mr *ret)
{
	memset(ret, 0, sizeof(*ret));
	if (!base || !len)
		return -EINVAL;
	int acc = IBV_ACCESS_LOCAL_WRITE; /* READ answers land in it too */
	if (access & MCS_RDMA_REMOTE_READ)
		acc |= IBV_ACCESS_REMOTE_READ;
	if (access & MCS_RDMA_REMOTE_WRITE)
		acc |= IBV_ACCESS_REMOTE_WRITE;
	if (access & MCS_RDMA_WINDOWS)
		acc |= IBV_ACCESS_MW_BIND;
	errno = 0;
	ret->mr = ibv_reg_mr(d->pd, base, len, acc);
	if (!ret->mr)
		return neg_errno(ENOMEM);
	ret->base = base;
	ret->len = len;
	ret->lkey = ret->mr->lkey;
	ret->rkey = ret->mr->rkey;
	return 0;
}

void mcs_rdma_dereg(struct mcs_rdma_mr *m)
{
	if (m && m->mr)
		ibv_dereg_mr(m->mr);
	if (m)
		memset(m, 0, sizeof(*m));
}

/* ---- queue pairs -------------------------------------------------------- */

int mcs_rdma_qp_new(struct mcs_rdma_dev *d, uint32_t depth, struct mcs_rdma_qp *q)
{
	memset(q, 0, sizeof(*q));
	q->dev = d;
	depth = MCS_MAX(1u, MCS_MIN(depth, d->max_qp_wr ? d->max_qp_wr : depth));
	q->depth = depth;
	int r = 0;
	if (!(q->ch = ibv_create_comp_channel(d->ctx)) ||
	    !(q->cq = ibv_create_cq(d->ctx, (int)depth + 1, NULL, q->ch, 0)))
		r = neg_errno(ENOMEM);
	struct ibv_qp_init_attr ia = {
		.send_cq = q->cq,
		.recv_cq = q->cq,
		.cap = { .max_send_wr = depth, .max_recv_wr = 1, .max_send_sge = 1, .max_recv_sge = 1 },
		.qp_type = IBV_QPT_RC,
		.sq_sig_all = 0,
	};
	if (r == 0 && !(q->qp = ibv_create_qp(d->pd, &ia)))
		r = neg_errno(ENOMEM);
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_INIT,
		.port_num = d->port,
		.qp_access_flags = IBV_ACCESS_REMOTE_READ | IBV_ACCESS_REMOTE_WRITE,
	};
	if (r == 0 && ibv_modify_qp(q->qp, &a, IBV_QP_STATE | IBV_QP_PKEY_INDEX | IBV_QP_PORT | IBV_QP_ACCESS_FLAGS))
		r = neg_errno(EIO);
	if (r) {
		mcs_rdma_qp_free(q);
		return r;
	}
	uint32_t psn = 0;
	if (getrandom(&psn, sizeof(psn), 0) != sizeof(psn))
		psn = (uint32_t)mcs_now_ns();
	q->self = (struct mcs_rdma_qp_info){
		.qpn = q->qp->qp_num, .psn = psn & 0xffffff, .lid = d->lid, .mtu = d->mtu, .roce = d->gid_index >= 0,
	};
	memcpy(q->self.gid, d->gid, 16);
	return 0;
}

int mcs_rdma_qp_connect(struct mcs_rdma_qp *q, const struct mcs_rdma_qp_info *peer)
{
	struct mcs_rdma_dev *d = q->dev;
	if (peer->roce != q->self.roce || peer->mtu < IBV_MTU_256 || peer->mtu > IBV_MTU_4096)
		return -EPROTO;
	struct ibv_qp_attr a = {
		.qp_state = IBV_QPS_RTR,
		.path_mtu = (enum ibv_mtu)MCS_MIN(peer->mtu, d->mtu),
		.dest_qp_num = peer->qpn,
		.rq_psn = peer->psn & 0xffffff,
		.max_dest_rd_atomic = d->max_rd_atom ? d->max_rd_atom : 1,
		.min_rnr_timer = 12,
		.ah_attr = { .port_num = d->port },
	};
	if (peer->roce) {
		a.ah_attr.is_global = 1;
		memcpy(a.ah_attr.grh.dgid.raw, peer->gid, 16);
		a.ah_attr.grh.sgid_index = (uint8_t)d->gid_index;
		a.ah_attr.grh.hop_limit = 64;
	} else {
		a.ah_attr.dlid = peer->lid;
	}
	if (ibv_modify_qp(q->qp, &a,
			  IBV_QP_STATE | IBV_QP_AV | IBV_QP_PATH_MTU | IBV_QP_DEST_QPN | IBV_QP_RQ_PSN |
				  IBV_QP_MAX_DEST_RD_ATOMIC | IBV_QP_MIN_RNR_TIMER))
		return neg_errno(EIO);
	a = (struct ibv_qp_attr){
		.qp_state = IBV_QPS_RTS,
		.timeout = 14,  /* 4.096 us << 14: 67 ms per try */
		.retry_cnt = 7,
		.rnr_retry = 7,
		.sq_psn = q->self.psn,
		.max_rd_atomic = d->max_init_rd_atom ? d->max_init_rd_atom : 1,
	};
	if (ibv_modify_qp(q->qp, &a,
			  IBV_QP_STATE | IBV_QP_TIMEOUT | IBV_QP_RETRY_CNT | IBV_QP_RNR_RETRY | IBV_QP_SQ_PSN |
				  IBV_QP_MAX_QP_RD_ATOMIC))
		return neg_errno(EIO);
	return 0;
}

void mcs_rdma_qp_free(struct mcs_rdma_qp *q)
{
	if (!q)
		return;
	if (q->qp)
		ibv_destroy_qp(q->qp);
	if (q->cq)
		ibv_destroy_cq(q->cq);
	if (q->ch)
		ibv_destroy_comp_channel(q->ch);
	q->qp = NULL;
	q->cq = NULL;
	q->ch = NULL;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}
static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void mcs_rdma_qp_info_enc(const struct mcs_rdma_qp_info *i, uint8_t out[MCS_RDMA_QP_INFO_LEN])
{
	memset(out, 0, MCS_RDMA_QP_INFO_LEN);
	memcpy(out, i->gid, 16);
	put32(out + 16, i->qpn);
	put32(out + 20, i->psn);
	out[24] = (uint8_t)(i->lid >> 8);
	out[25] = (uint8_t)i->lid;
	out[26] = i->mtu;
	out[27] = i->roce;
}

int mcs_rdma_qp_info_dec(const uint8_t *in, size_t len, struct mcs_rdma_qp_info *ret)
{
	if (len != MCS_RDMA_QP_INFO_LEN || in[27] > 1 || get32(in + 16) > 0xffffff || get32(in + 20) > 0xffffff ||
	    in[26] < IBV_MTU_256 || in[26] > IBV_MTU_4096 || get32(in + 28) != 0)
		return -EPROTO;
	memcpy(ret->gid, in, 16);
	ret->qpn = get32(in + 16);
	ret->psn = get32(in + 20);
	ret->lid = (uint16_t)(in[24] << 8 | in[25]);
	ret->mtu = in[26];
	ret->roce = in[27];
	return 0;
}

/* ---- one-sided operations ----------------------------------------------- */

/* a signalled work request's id: how many requests its completion ends */
#define WR_BATCH(id) ((uint32_t)(id))

int mcs_rdma_post(struct mcs_rdma_qp *q, bool write, const struct mcs_rdma_op *ops, size_t n)
{
	if (q->error)
		return -EIO;
	if (n == 0)
		return -EINVAL;
	if (n > q->depth - q->posted)
		return -ENOSPC;
	struct ibv_send_wr wr[16];
	struct ibv_sge sg[16];
	size_t done = 0;
	while (done < n) {
		size_t k = MCS_MIN(n - done, (size_t)16);
		for (size_t i = 0; i < k; i++) {
			const struct mcs_rdma_op *o = &ops[done + i];
			if (!o->len)
				return -EINVAL;
			sg[i] = (struct ibv_sge){ .addr = (uintptr_t)o->local, .length = o->len, .lkey = o->lkey };
			wr[i] = (struct ibv_send_wr){
				.sg_list = &sg[i],
				.num_sge = 1,
				.opcode = write ? IBV_WR_RDMA_WRITE : IBV_WR_RDMA_READ,
				.wr.rdma = { .remote_addr = o->remote, .rkey = o->rkey },
				.next = i + 1 < k ? &wr[i + 1] : NULL,
			};
		}
		/* the last of each group is signalled: its completion ends it */
		wr[k - 1].send_flags = IBV_SEND_SIGNALED;
		wr[k - 1].wr_id = k;
		struct ibv_send_wr *bad = NULL;
		int e = ibv_post_send(q->qp, wr, &bad);
		if (e) {
			/* those before bad went, unsignalled: nothing will say
			 * when they end, so the queue pair is unusable */
			q->error = true;
			return -e;
		}
		q->posted += (uint32_t)k;
		done += k;
	}
	return 0;
}

static int wc_errno(enum ibv_wc_status s)
{
	switch (s) {
	case IBV_WC_REM_ACCESS_ERR:
	case IBV_WC_LOC_PROT_ERR:
	case IBV_WC_MW_BIND_ERR:
		return -EACCES;
	case IBV_WC_RETRY_EXC_ERR:
	case IBV_WC_RNR_RETRY_EXC_ERR:
		return -ETIMEDOUT;
	default:
		return -EIO;
	}
}

int mcs_rdma_wait(struct mcs_rdma_qp *q, unsigned spin_us, unsigned timeout_ms, int *status)
{
	uint64_t t0 = mcs_now_ns(), spin_end = t0 + (uint64_t)spin_us * 1000u,
		 end = t0 + (uint64_t)timeout_ms * 1000000u;
	if (status)
		*status = IBV_WC_SUCCESS;
	while (q->posted) {
		struct ibv_wc wc[8];
		int n = ibv_poll_cq(q->cq, 8, wc);
		if (n < 0) {
			q->error = true;
			return -EIO;
		}
		for (int i = 0; i < n; i++) {
			if (wc[i].status != IBV_WC_SUCCESS) {
				/* the queue pair is in error: what is left is flushed */
				q->error = true;
				q->posted = 0;
				if (status)
					*status = wc[i].status;
				return wc_errno(wc[i].status);
			}
			q->posted -= MCS_MIN(q->posted, WR_BATCH(wc[i].wr_id));
		}
		if (n || !q->posted)
			continue;
		uint64_t now = mcs_now_ns();
		if (now < spin_end)
			continue;
		if (now >= end)
			return -ETIMEDOUT;
		/* sleep until the next completion: arm, then look once more (one
		 * may have come before the arming) */
		if (!q->armed) {
			if (ibv_req_notify_cq(q->cq, 0))
				return -EIO;
			q->armed = true;
			continue;
		}
		struct pollfd pf = { .fd = q->ch->fd, .events = POLLIN };
		int ms = (int)MCS_MIN((end - now) / 1000000u + 1, (uint64_t)1000);
		int p = poll(&pf, 1, ms);
		if (p < 0 && errno != EINTR)
			return -errno;
		if (p > 0) {
			struct ibv_cq *cq;
			void *ctx;
			if (ibv_get_cq_event(q->ch, &cq, &ctx) == 0) {
				ibv_ack_cq_events(cq, 1);
				q->armed = false;
			}
		}
	}
	return 0;
}

/* ---- memory windows ----------------------------------------------------- */

/* post one signalled work request and wait for it */
static int post_one(struct mcs_rdma_qp *q, struct ibv_send_wr *wr, unsigned timeout_ms)
{
	if (q->error)
		return -EIO;
	if (q->posted >= q->depth)
		return -ENOSPC;
	wr->send_flags = IBV_SEND_SIGNALED;
	wr->wr_id = 1;
	struct ibv_send_wr *bad;
	int e = ibv_post_send(q->qp, wr, &bad);
	if (e)
		return -e;
	q->posted++;
	return mcs_rdma_wait(q, 0, timeout_ms, NULL);
}

int mcs_rdma_grant(struct mcs_rdma_qp *q, struct mcs_rdma_mw *w, const struct mcs_rdma_mr *m, const void *p,
		   size_t n, bool write, unsigned timeout_ms)
{
	if (!q->dev->mw2)
		return -EOPNOTSUPP;
	if (!n || !mcs_rdma_mr_has(m, p, n))
		return -EINVAL;
	if (w->mw)
		return -EBUSY;
	if (!(w->mw = ibv_alloc_mw(q->dev->pd, IBV_MW_TYPE_2)))
		return neg_errno(ENOMEM);
	uint32_t key = ibv_inc_rkey(w->mw->rkey);
	struct ibv_send_wr wr = {
		.opcode = IBV_WR_BIND_MW,
		.bind_mw = { .mw = w->mw, .rkey = key,
			     .bind_info = { .mr = m->mr, .addr = (uintptr_t)p, .length = n,
					    .mw_access_flags = IBV_ACCESS_REMOTE_READ |
							       (write ? IBV_ACCESS_REMOTE_WRITE : 0) } },
	};
	int r = post_one(q, &wr, timeout_ms);
	if (r) {
		ibv_dealloc_mw(w->mw);
		w->mw = NULL;
		return r;
	}
	w->rkey = key;
	return 0;
}

int mcs_rdma_revoke(struct mcs_rdma_qp *q, struct mcs_rdma_mw *w, unsigned timeout_ms)
{
	if (!w->mw)
		return 0;
	int r = 0;
	if (!q->error) {
		struct ibv_send_wr wr = { .opcode = IBV_WR_LOCAL_INV, .invalidate_rkey = w->rkey };
		r = post_one(q, &wr, timeout_ms);
	}
	ibv_dealloc_mw(w->mw);
	w->mw = NULL;
	w->rkey = 0;
	return r;
}
