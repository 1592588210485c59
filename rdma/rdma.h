/* SPDX-License-Identifier: MIT */
/*
 * The verbs layer of mcstore's RDMA transport (libibverbs), shared by the
 * node (which registers its segments and grants ranges of them) and the
 * client (which registers the memory it reads into and writes from, and
 * moves the bytes with one-sided READs and WRITEs):
 *
 *   - a device: the verbs context of one RDMA device by name, its
 *     protection domain, the port's RoCE v2 GID that carries an IPv4
 *     address (or the port's LID on InfiniBand), and what it supports;
 *   - registrations of memory with the access a side needs;
 *   - RC queue pairs, one completion queue each, connected by exchanging
 *     a struct mcs_rdma_qp_info out of band (over the authenticated TCP
 *     link of the data path; nothing here does I/O but verbs);
 *   - one-sided READ and WRITE of many pieces, and waiting for them: a
 *     short busy poll, then the completion channel (poll(2) on its fd),
 *     so that an idle waiter does not spin;
 *   - type-2 memory windows: a range of a registration granted to one
 *     queue pair, until invalidated.
 *
 * Errors are negative errnos; nothing here logs. Not thread-safe: one
 * queue pair is used by one thread at a time.
 */
#ifndef MCS_RDMA_H
#define MCS_RDMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ibv_context;
struct ibv_pd;
struct ibv_mr;
struct ibv_mw;
struct ibv_cq;
struct ibv_qp;
struct ibv_comp_channel;

#define MCS_RDMA_DEV_NAME_MAX 63

struct mcs_rdma_dev {
	struct ibv_context *ctx;
	struct ibv_pd *pd;
	char name[MCS_RDMA_DEV_NAME_MAX + 1];
	uint8_t port;             /* 1 */
	int gid_index;            /* RoCE: the IPv4-mapped GID; -1 on InfiniBand */
	uint8_t gid[16];
	uint16_t lid;             /* InfiniBand */
	uint8_t mtu;              /* enum ibv_mtu of the active port */
	bool mw2;                 /* type-2B memory windows */
	uint32_t max_sge, max_qp_wr;
	uint8_t max_rd_atom;      /* READs a queue pair answers at once (responder) */
	uint8_t max_init_rd_atom; /* READs a queue pair has in flight (initiator) */
};

/* Open device name (NULL: the first with an active port). -ENODEV when
 * there is none such, -ENETDOWN when its port 1 is not active, -EADDRNOTAVAIL
 * when a RoCE port has no IPv4 GID yet. */
int mcs_rdma_dev_open(const char *name, struct mcs_rdma_dev *ret);
void mcs_rdma_dev_close(struct mcs_rdma_dev *d);
/* The names of the devices present, comma-separated, into out; how many. */
int mcs_rdma_dev_list(char *out, size_t len);

/* ---- registrations ----------------------------------------------------- */

enum {
	MCS_RDMA_LOCAL = 0,          /* the local side of one-sided ops only */
	MCS_RDMA_REMOTE_READ = 1,    /* peers may READ it (with a key) */
	MCS_RDMA_REMOTE_WRITE = 2,   /* peers may WRITE it */
	MCS_RDMA_WINDOWS = 4,        /* windows may be bound over it */
};

struct mcs_rdma_mr {
	struct ibv_mr *mr;
	uint8_t *base;
	size_t len;
	uint32_t lkey, rkey;
};

/* Register [base, base+len) with access (MCS_RDMA_*). -EINVAL for an
 * empty range, else the verbs' error (-ENOMEM past the locked-memory
 * limit, -EFAULT for memory that is not mapped). */
int mcs_rdma_reg(struct mcs_rdma_dev *d, void *base, size_t len, unsigned access, struct mcs_rdma_mr *ret);
void mcs_rdma_dereg(struct mcs_rdma_mr *m);
/* [p, p+n) lies in m */
static inline bool mcs_rdma_mr_has(const struct mcs_rdma_mr *m, const void *p, size_t n)
{
	const uint8_t *b = p;
	return b >= m->base && (size_t)(b - m->base) <= m->len && n <= m->len - (size_t)(b - m->base);
}

/* ---- queue pairs ------------------------------------------------------- */

/* What one side tells the other to connect (out of band, as it is). */
struct mcs_rdma_qp_info {
	uint8_t gid[16];
	uint32_t qpn;
	uint32_t psn;
	uint16_t lid;
	uint8_t mtu;
	uint8_t roce;  /* 1: route by GID (RoCE v2) */
};

struct mcs_rdma_qp {
	struct mcs_rdma_dev *dev;
	struct ibv_comp_channel *ch;
	struct ibv_cq *cq;
	struct ibv_qp *qp;
	uint32_t depth;       /* work requests the send queue holds */
	uint32_t posted;      /* signalled ones not yet completed */
	bool error;           /* a completion failed: the queue pair is in error */
	bool armed;           /* the CQ asks for an event */
	struct mcs_rdma_qp_info self;
};

/* A new RC queue pair on d, with room for depth outstanding work requests
 * (each up to max_sge pieces), in state INIT; its info in q->self. */
int mcs_rdma_qp_new(struct mcs_rdma_dev *d, uint32_t depth, struct mcs_rdma_qp *q);
/* Move q to ready-to-send against the peer that sent peer. */
int mcs_rdma_qp_connect(struct mcs_rdma_qp *q, const struct mcs_rdma_qp_info *peer);
void mcs_rdma_qp_free(struct mcs_rdma_qp *q);

/* Encode and decode the info as 32 bytes (all fields, big-endian). */
#define MCS_RDMA_QP_INFO_LEN 32
void mcs_rdma_qp_info_enc(const struct mcs_rdma_qp_info *i, uint8_t out[MCS_RDMA_QP_INFO_LEN]);
int mcs_rdma_qp_info_dec(const uint8_t *in, size_t len, struct mcs_rdma_qp_info *ret);

/* ---- one-sided operations ---------------------------------------------- */

/* One piece of local memory (in a registration) and where it goes. */
struct mcs_rdma_op {
	void *local;
	uint32_t lkey;
	uint64_t remote;      /* address in the peer's registration or window */
	uint32_t rkey;
	uint32_t len;
};

/* Post n READs (write: WRITEs), one work request each, the last
 * signalled (an RC queue pair completes in order). -ENOSPC when the send
 * queue cannot take them besides what is in flight, -EIO when q is in
 * error, -EINVAL for n of 0 or a piece of no bytes. */
int mcs_rdma_post(struct mcs_rdma_qp *q, bool write, const struct mcs_rdma_op *ops, size_t n);

/* Wait for the completion of what was posted: 0, -EIO when a work
 * request failed (*status: its ibv_wc_status; the queue pair is in error
 * from then on: -EACCES for a refused key or range), -ETIMEDOUT after
 * timeout_ms. Busy-polls for spin_us first, then sleeps on the channel. */
int mcs_rdma_wait(struct mcs_rdma_qp *q, unsigned spin_us, unsigned timeout_ms, int *status);

/* ---- memory windows ---------------------------------------------------- */

/* One grant: a type-2 window, allocated for it and freed at its end (rxe
 * refuses to bind a window again once it was invalidated: a window per
 * grant works everywhere, at one allocation each). */
struct mcs_rdma_mw {
	struct ibv_mw *mw;
	uint32_t rkey;        /* the key of the grant; 0 when none */
};

/* Grant [p, p+n) of m to the peer of q (remote read, or write too)
 * through a new window: its key in w->rkey. Waits for the bind to
 * complete. -EOPNOTSUPP without type-2 windows, -EBUSY while w holds a
 * grant, -EINVAL for a range outside m. */
int mcs_rdma_grant(struct mcs_rdma_qp *q, struct mcs_rdma_mw *w, const struct mcs_rdma_mr *m, const void *p,
		   size_t n, bool write, unsigned timeout_ms);
/* End the grant: the window is invalidated through q (the key reads and
 * writes nothing from then on) and freed. When q is in error (it cannot
 * post the invalidation) the window is freed only, which ends its key as
 * well. 0, or the invalidation's error (the window is freed anyway). */
int mcs_rdma_revoke(struct mcs_rdma_qp *q, struct mcs_rdma_mw *w, unsigned timeout_ms);

#endif
