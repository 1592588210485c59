/* SPDX-License-Identifier: MIT */
/*
 * rdma/: the verbs layer of the RDMA transport, on real devices. Run by
 * tests/rdma/in-guest.sh inside the test guest, where MCS_RDMA_DEVS names
 * two Soft-RoCE devices on the same bridge (A, B); without it every case
 * says so and fails (this program is not run where there is no device).
 */
#include <check.h>
#include <errno.h>
#include <infiniband/verbs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "common/util.h"
#include "rdma/rdma.h"

#define SEG (32u << 20)
#define TMO 60000 /* ms: an emulated machine on a loaded host is slow */

static char dev_a[64], dev_b[64];

static void devs(void)
{
	const char *e = getenv("MCS_RDMA_DEVS");
	ck_assert_msg(e && strchr(e, ','), "MCS_RDMA_DEVS (two devices, A,B) is not set");
	const char *c = strchr(e, ',');
	snprintf(dev_a, sizeof(dev_a), "%.*s", (int)(c - e), e);
	snprintf(dev_b, sizeof(dev_b), "%s", c + 1);
}

/* a node's side (B: a memfd segment, registered for peers and windows)
 * and a client's (A: its own buffer), their queue pairs connected */
struct pair {
	struct mcs_rdma_dev a, b;
	struct mcs_rdma_qp qa, qb;
	struct mcs_rdma_mr ma, mb;
	uint8_t *buf, *seg;
};

static void pair_connect(struct pair *p)
{
	ck_assert_int_eq(mcs_rdma_qp_new(&p->a, 64, &p->qa), 0);
	ck_assert_int_eq(mcs_rdma_qp_new(&p->b, 64, &p->qb), 0);
	/* the infos cross as they would over the data link: encoded */
	uint8_t wa[MCS_RDMA_QP_INFO_LEN], wb[MCS_RDMA_QP_INFO_LEN];
	struct mcs_rdma_qp_info ia, ib;
	mcs_rdma_qp_info_enc(&p->qa.self, wa);
	mcs_rdma_qp_info_enc(&p->qb.self, wb);
	ck_assert_int_eq(mcs_rdma_qp_info_dec(wa, sizeof(wa), &ia), 0);
	ck_assert_int_eq(mcs_rdma_qp_info_dec(wb, sizeof(wb), &ib), 0);
	ck_assert_int_eq(mcs_rdma_qp_connect(&p->qa, &ib), 0);
	ck_assert_int_eq(mcs_rdma_qp_connect(&p->qb, &ia), 0);
}

static void pair_open(struct pair *p)
{
	devs();
	memset(p, 0, sizeof(*p));
	ck_assert_int_eq(mcs_rdma_dev_open(dev_a, &p->a), 0);
	ck_assert_int_eq(mcs_rdma_dev_open(dev_b, &p->b), 0);
	int fd = memfd_create("seg", MFD_CLOEXEC);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(ftruncate(fd, SEG), 0);
	p->seg = mmap(NULL, SEG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	ck_assert_ptr_ne(p->seg, MAP_FAILED);
	p->buf = mmap(NULL, SEG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ck_assert_ptr_ne(p->buf, MAP_FAILED);
	for (size_t i = 0; i < SEG; i++)
		p->seg[i] = (uint8_t)(i * 131 + 7);
	ck_assert_int_eq(mcs_rdma_reg(&p->b, p->seg, SEG,
				      MCS_RDMA_REMOTE_READ | MCS_RDMA_REMOTE_WRITE | MCS_RDMA_WINDOWS, &p->mb), 0);
	ck_assert_int_eq(mcs_rdma_reg(&p->a, p->buf, SEG, MCS_RDMA_LOCAL, &p->ma), 0);
	pair_connect(p);
}

static void pair_close(struct pair *p)
{
	mcs_rdma_qp_free(&p->qa);
	mcs_rdma_qp_free(&p->qb);
	mcs_rdma_dereg(&p->ma);
	mcs_rdma_dereg(&p->mb);
	mcs_rdma_dev_close(&p->a);
	mcs_rdma_dev_close(&p->b);
	munmap(p->seg, SEG);
	munmap(p->buf, SEG);
}

/* one op: n bytes between A's buffer at la and B's segment at rb */
static struct mcs_rdma_op op(struct pair *p, size_t la, size_t rb, uint32_t n, uint32_t rkey)
{
	return (struct mcs_rdma_op){ .local = p->buf + la, .lkey = p->ma.lkey, .remote = (uintptr_t)(p->seg + rb),
				     .rkey = rkey, .len = n };
}

START_TEST(test_devices)
{
	devs();
	char names[256];
	ck_assert_int_ge(mcs_rdma_dev_list(names, sizeof(names)), 2);
	ck_assert_ptr_nonnull(strstr(names, dev_a));
	ck_assert_ptr_nonnull(strstr(names, dev_b));
	struct mcs_rdma_dev d;
	ck_assert_int_eq(mcs_rdma_dev_open("no-such-device", &d), -ENODEV);
	ck_assert_int_eq(mcs_rdma_dev_open(dev_a, &d), 0);
	ck_assert_str_eq(d.name, dev_a);
	/* RoCE: the port's IPv4-mapped GID */
	ck_assert_int_ge(d.gid_index, 0);
	ck_assert_int_eq(d.gid[10], 0xff);
	ck_assert_int_eq(d.gid[11], 0xff);
	struct mcs_rdma_mr m;
	ck_assert_int_eq(mcs_rdma_reg(&d, NULL, 4096, MCS_RDMA_LOCAL, &m), -EINVAL);
	ck_assert_int_eq(mcs_rdma_reg(&d, &m, 0, MCS_RDMA_LOCAL, &m), -EINVAL);
	mcs_rdma_dev_close(&d);
	mcs_rdma_dev_close(&d); /* twice: harmless */
}
END_TEST

START_TEST(test_info_wire)
{
	struct mcs_rdma_qp_info i = { .qpn = 0x123456, .psn = 0xabcdef, .lid = 0x1234, .mtu = IBV_MTU_1024, .roce = 1 };
	for (int k = 0; k < 16; k++)
		i.gid[k] = (uint8_t)(k * 17);
	uint8_t w[MCS_RDMA_QP_INFO_LEN];
	mcs_rdma_qp_info_enc(&i, w);
	struct mcs_rdma_qp_info o;
	ck_assert_int_eq(mcs_rdma_qp_info_dec(w, sizeof(w), &o), 0);
	ck_assert_mem_eq(o.gid, i.gid, 16);
	ck_assert_uint_eq(o.qpn, i.qpn);
	ck_assert_uint_eq(o.psn, i.psn);
	ck_assert_uint_eq(o.lid, i.lid);
	ck_assert_uint_eq(o.mtu, i.mtu);
	ck_assert_uint_eq(o.roce, 1);
	/* what a hostile peer could send */
	ck_assert_int_eq(mcs_rdma_qp_info_dec(w, sizeof(w) - 1, &o), -EPROTO);
	uint8_t bad[MCS_RDMA_QP_INFO_LEN];
	memcpy(bad, w, sizeof(w));
	bad[27] = 2; /* roce neither 0 nor 1 */
	ck_assert_int_eq(mcs_rdma_qp_info_dec(bad, sizeof(bad), &o), -EPROTO);
	memcpy(bad, w, sizeof(w));
	bad[16] = 1; /* a QP number past 24 bits */
	ck_assert_int_eq(mcs_rdma_qp_info_dec(bad, sizeof(bad), &o), -EPROTO);
	memcpy(bad, w, sizeof(w));
	bad[26] = 9; /* no such MTU */
	ck_assert_int_eq(mcs_rdma_qp_info_dec(bad, sizeof(bad), &o), -EPROTO);
	memcpy(bad, w, sizeof(w));
	bad[31] = 1; /* the reserved bytes */
	ck_assert_int_eq(mcs_rdma_qp_info_dec(bad, sizeof(bad), &o), -EPROTO);
}
END_TEST

/* READs and WRITEs of 1 B to 16 MiB, and a batch of 64 small pieces */
START_TEST(test_read_write)
{
	struct pair p;
	pair_open(&p);
	static const uint32_t sizes[] = { 1, 4096, (1u << 20) + 7, 16u << 20 };
	for (size_t s = 0; s < sizeof(sizes) / sizeof(*sizes); s++) {
		uint32_t n = sizes[s];
		size_t at = 4096 * (s + 1) + s; /* unaligned too */
		memset(p.buf, 0, n + 1);
		struct mcs_rdma_op o = op(&p, 0, at, n, p.mb.rkey);
		ck_assert_int_eq(mcs_rdma_post(&p.qa, false, &o, 1), 0);
		ck_assert_int_eq(mcs_rdma_wait(&p.qa, 50, TMO, NULL), 0);
		ck_assert_msg(!memcmp(p.buf, p.seg + at, n), "READ of %u bytes", n);
		ck_assert_int_eq(p.buf[n], 0);
		for (uint32_t i = 0; i < n; i++)
			p.buf[i] = (uint8_t)~p.buf[i];
		o = op(&p, 0, SEG - n, n, p.mb.rkey);
		ck_assert_int_eq(mcs_rdma_post(&p.qa, true, &o, 1), 0);
		ck_assert_int_eq(mcs_rdma_wait(&p.qa, 50, TMO, NULL), 0);
		ck_assert_msg(!memcmp(p.buf, p.seg + SEG - n, n), "WRITE of %u bytes", n);
	}
	/* a batch: 64 pieces of 4 KiB from scattered places, one wait */
	struct mcs_rdma_op ops[64];
	memset(p.buf, 0, 64 * 4096);
	for (int i = 0; i < 64; i++)
		ops[i] = op(&p, (size_t)i * 4096, (size_t)(63 - i) * 65536 + 3, 4096, p.mb.rkey);
	ck_assert_int_eq(mcs_rdma_post(&p.qa, false, ops, 64), 0);
	ck_assert_int_eq(mcs_rdma_wait(&p.qa, 50, TMO, NULL), 0);
	for (int i = 0; i < 64; i++)
		ck_assert_msg(!memcmp(p.buf + (size_t)i * 4096, p.seg + (size_t)(63 - i) * 65536 + 3, 4096), "piece %d", i);
	/* more than the queue holds at once: refused, nothing posted */
	struct mcs_rdma_op many[65];
	for (int i = 0; i < 65; i++)
		many[i] = op(&p, 0, 0, 1, p.mb.rkey);
	ck_assert_int_eq(mcs_rdma_post(&p.qa, false, many, 65), -ENOSPC);
	ck_assert_int_eq(mcs_rdma_post(&p.qa, false, many, 0), -EINVAL);
	many[0].len = 0;
	ck_assert_int_eq(mcs_rdma_post(&p.qa, false, many, 1), -EINVAL);
	ck_assert_int_eq(mcs_rdma_wait(&p.qa, 0, TMO, NULL), 0); /* nothing in flight */
	pair_close(&p);
}
END_TEST

/* a forged key: refused by the responder, the requester's pair in error,
 * the segment untouched */
START_TEST(test_forged_key)
{
	struct pair p;
	pair_open(&p);
	memset(p.buf, 0xee, 4096);
	struct mcs_rdma_op o = op(&p, 0, 0, 4096, p.mb.rkey ^ 0x5a5a00);
	ck_assert_int_eq(mcs_rdma_post(&p.qa, true, &o, 1), 0);
	int st = 0;
	ck_assert_int_eq(mcs_rdma_wait(&p.qa, 0, TMO, &st), -EACCES);
	ck_assert_int_eq(st, IBV_WC_REM_ACCESS_ERR);
	ck_assert(p.qa.error);
	ck_assert_int_eq(mcs_rdma_post(&p.qa, false, &o, 1), -EIO);
	for (size_t i = 0; i < 8192; i++)
		ck_assert_int_eq(p.seg[i], (uint8_t)(i * 131 + 7));
	pair_close(&p);
}
END_TEST

/* a grant through a window: READ inside works, after revoke nothing */
START_TEST(test_grant)
{
	struct pair p;
	pair_open(&p);
	ck_assert_msg(p.b.mw2, "%s has no type-2B windows", dev_b);
	struct mcs_rdma_mw w = { 0 };
	uint8_t *at = p.seg + (3u << 20);
	ck_assert_int_eq(mcs_rdma_grant(&p.qb, &w, &p.mb, at, 65536, false, TMO), 0);
	ck_assert_uint_ne(w.rkey, 0);
	ck_assert_uint_ne(w.rkey, p.mb.rkey);
	ck_assert_int_eq(mcs_rdma_grant(&p.qb, &w, &p.mb, at, 65536, false, TMO), -EBUSY);
	ck_assert_int_eq(mcs_rdma_grant(&p.qb, &w, &p.mb, p.seg + SEG - 10, 11, false, TMO), -EINVAL);
	memset(p.buf, 0, 65536);
	struct mcs_rdma_op o = op(&p, 0, 3u << 20, 65536, w.rkey);
	ck_assert_int_eq(mcs_rdma_post(&p.qa, false, &o, 1), 0);
	ck_assert_int_eq(mcs_rdma_wait(&p.qa, 50, TMO, NULL), 0);
	ck_assert(!memcmp(p.buf, at, 65536));
	/* revoked, then granted again through the same queue pair: a new key
	 * that reads, and the old one that reads nothing */
	uint32_t key = w.rkey;
	ck_assert_int_eq(mcs_rdma_revoke(&p.qb, &w, TMO), 0);
	ck_assert_uint_eq(w.rkey, 0);
	ck_assert_ptr_null(w.mw);
	ck_assert_int_eq(mcs_rdma_revoke(&p.qb, &w, TMO), 0); /* twice: harmless */
	ck_assert_int_eq(mcs_rdma_grant(&p.qb, &w, &p.mb, at, 4096, false, TMO), 0);
	ck_assert_uint_ne(w.rkey, key);
	memset(p.buf, 0, 4096);
	o = op(&p, 0, 3u << 20, 4096, w.rkey);
	ck_assert_int_eq(mcs_rdma_post(&p.qa, false, &o, 1), 0);
	ck_assert_int_eq(mcs_rdma_wait(&p.qa, 50, TMO, NULL), 0);
	ck_assert(!memcmp(p.buf, at, 4096));
	o.rkey = key;
	ck_assert_int_eq(mcs_rdma_post(&p.qa, false, &o, 1), 0);
	ck_assert_int_eq(mcs_rdma_wait(&p.qa, 0, TMO, NULL), -EACCES);
	/* new queue pairs (a refusal leaves both in error), a grant through
	 * the new one: a window of its own; read-only, it refuses a WRITE */
	ck_assert(p.qa.error);
	/* B's pair is in error too: the invalidation cannot be posted (it is
	 * flushed), and the window is freed all the same */
	int rr = mcs_rdma_revoke(&p.qb, &w, TMO);
	ck_assert_msg(rr == 0 || rr == -EIO, "revoke: %d", rr);
	ck_assert_ptr_null(w.mw);
	mcs_rdma_qp_free(&p.qa);
	mcs_rdma_qp_free(&p.qb);
	pair_connect(&p);
	ck_assert_int_eq(mcs_rdma_grant(&p.qb, &w, &p.mb, at, 65536, false, TMO), 0);
	memset(p.buf, 0x55, 4096);
	o = op(&p, 0, 3u << 20, 4096, w.rkey);
	ck_assert_int_eq(mcs_rdma_post(&p.qa, true, &o, 1), 0);
	ck_assert_int_eq(mcs_rdma_wait(&p.qa, 0, TMO, NULL), -EACCES);
	for (size_t i = 0; i < 65536; i++)
		ck_assert_int_eq(at[i], (uint8_t)(((3u << 20) + i) * 131 + 7));
	rr = mcs_rdma_revoke(&p.qb, &w, TMO);
	ck_assert_msg(rr == 0 || rr == -EIO, "revoke: %d", rr);
	ck_assert_ptr_null(w.mw);
	pair_close(&p);
}
END_TEST

/* a peer that is gone: the wait ends with an error, and it sleeps on the
 * channel rather than spinning */
START_TEST(test_dead_peer)
{
	struct pair p;
	pair_open(&p);
	mcs_rdma_qp_free(&p.qb); /* B's queue pair is gone; A retries, then gives up */
	struct mcs_rdma_op o = op(&p, 0, 0, 4096, p.mb.rkey);
	ck_assert_int_eq(mcs_rdma_post(&p.qa, false, &o, 1), 0);
	struct rusage r0, r1;
	getrusage(RUSAGE_SELF, &r0);
	uint64_t t0 = mcs_now_ns();
	int r = mcs_rdma_wait(&p.qa, 0, TMO, NULL);
	uint64_t wall = mcs_now_ns() - t0;
	getrusage(RUSAGE_SELF, &r1);
	ck_assert_msg(r == -ETIMEDOUT || r == -EIO, "wait: %d", r);
	uint64_t cpu = (uint64_t)(r1.ru_utime.tv_sec - r0.ru_utime.tv_sec) * 1000000000ull +
		       (uint64_t)(r1.ru_utime.tv_usec - r0.ru_utime.tv_usec) * 1000ull;
	/* user time only: the kernel's retries are not this process's
	 * spinning. Sleeping, it is a small part of the wait */
	ck_assert_msg(cpu < wall / 2, "%llu ns of user CPU in a wait of %llu ns",
		      (unsigned long long)cpu, (unsigned long long)wall);
	pair_close(&p);
}
END_TEST

int main(void)
{
	Suite *s = suite_create("rdma");
	TCase *t = tcase_create("verbs");
	tcase_set_timeout(t, 600);
	tcase_add_test(t, test_devices);
	tcase_add_test(t, test_info_wire);
	tcase_add_test(t, test_read_write);
	tcase_add_test(t, test_forged_key);
	tcase_add_test(t, test_grant);
	tcase_add_test(t, test_dead_peer);
	suite_add_tcase(s, t);
	SRunner *sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
