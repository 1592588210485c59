/* SPDX-License-Identifier: MIT */
/*
 * libmcstore's batch pipelines (answers out of order, missing, twice, a
 * key's error among successes) against the scripted daemon, and the
 * cursors and checks of iov.c called directly.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "tests/unit/libmcstore-fake.h"

void add_batch_tcases(Suite *s);

/* ---- batch pipelines ----------------------------------------------------- */

static const char *const bkeys[] = { "k0", "k1", "k2", "k3", "k4", "k5" };

/* Read n requests op of a batch: the keys of bkeys in order, consecutive
 * request ids (and for GET_REPLICAS, the flags get_flags). */
static void read_batch(struct fake *f, struct fk_link *l, uint16_t op, size_t n, struct mcs_hdr *hs)
{
	for (size_t i = 0; i < n; i++) {
		fk_expect(f, l, op);
		fk_expect_key(f, bkeys[i]);
		if (op == MCS_OP_GET_REPLICAS) {
			struct mcs_get_req q;
			ck_assert_int_eq(mcs_dec_get_req(f->body, f->h.body_len, &q), 0);
			ck_assert_uint_eq(q.flags, 0);
		}
		if (i)
			ck_assert_uint_eq(f->h.req_id, hs[i - 1].req_id + 1);
		hs[i] = f->h;
	}
}

static void send_status(struct fk_link *l, const struct mcs_hdr *h, int status)
{
	struct mcs_buf b;
	mcs_buf_init(&b);
	fk_add_status(&b, h, status);
	fk_send_raw(l, b.p, b.len);
	mcs_buf_free(&b);
}

static const int exist_st[] = { 0, -ENOENT, 0, -EAGAIN, -EHOSTDOWN, 0 };

static void s_batch_order(struct fake *f)
{
	struct mcs_hdr hs[6];
	read_batch(f, &f->d, MCS_OP_EXIST, 6, hs);
	for (size_t i = 6; i-- > 0;)
		send_status(&f->d, &hs[i], exist_st[i]);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_batch_out_of_order)
{
	struct fake *f = fake_start(s_batch_order, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	int res[6];
	ck_assert_int_eq(mcs_exists_batch(c, 6, bkeys, res), 3);
	const int want[] = { 1, 0, 1, 0, -EHOSTDOWN, 1 };
	for (size_t i = 0; i < 6; i++)
		ck_assert_msg(res[i] == want[i], "key %zu: %d", i, res[i]);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

static void s_batch_missing(struct fake *f)
{
	struct mcs_hdr hs[3];
	read_batch(f, &f->d, MCS_OP_EXIST, 3, hs);
	send_status(&f->d, &hs[2], 0);
	send_status(&f->d, &hs[0], 0);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_batch_missing_answer)
{
	struct fake *f = fake_start(s_batch_missing, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	int res[3];
	fake_set_timeout(c, FK_SHORT_MS);
	ck_assert_int_eq(mcs_exists_batch(c, 3, bkeys, res), -ETIMEDOUT);
	fake_set_timeout(c, FK_LONG_MS);
	/* which requests had effect is unknown: the link is given up */
	ck_assert_int_eq(mcs_exists(c, "k0"), -ENOTCONN);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* On the master link, the broken link is closed and a new one opened on
 * the next call. */
static void s_batch_missing_master(struct fake *f)
{
	fk_accept_master(f);
	struct mcs_hdr hs[3];
	read_batch(f, &f->m, MCS_OP_EXIST, 3, hs);
	send_status(&f->m, &hs[1], 0);
	send_status(&f->m, &hs[2], 0);
	fk_expect_eof(f, &f->m);
	fk_accept_master(f);
	fk_expect(f, &f->m, MCS_OP_EXIST);
	fk_expect_key(f, "again");
	fk_answer(f, &f->m, 0);
	fk_expect_eof(f, &f->m);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_batch_missing_answer_master)
{
	struct fake *f = fake_start(s_batch_missing_master, FK_MASTER, NULL);
	struct mcs_client *c = fake_client(f, 0);
	ck_assert_int_ge(c->master.fd, 0);
	uint64_t gen = c->master.gen;
	int res[3];
	fake_set_timeout(c, FK_SHORT_MS);
	ck_assert_int_eq(mcs_exists_batch(c, 3, bkeys, res), -ETIMEDOUT);
	fake_set_timeout(c, FK_LONG_MS);
	ck_assert_int_eq(mcs_exists(c, "again"), 1);
	ck_assert_uint_eq(c->master.gen, gen + 1);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

static void s_batch_dup(struct fake *f)
{
	struct mcs_hdr hs[3];
	read_batch(f, &f->d, MCS_OP_EXIST, 3, hs);
	/* in one send: the client gives up at the second and closes */
	struct mcs_buf b;
	mcs_buf_init(&b);
	fk_add_status(&b, &hs[0], 0);
	fk_add_status(&b, &hs[0], 0);
	fk_add_status(&b, &hs[1], 0);
	fk_add_status(&b, &hs[2], 0);
	fk_send_raw(&f->d, b.p, b.len);
	mcs_buf_free(&b);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_batch_duplicate_answer)
{
	struct fake *f = fake_start(s_batch_dup, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	int res[3];
	ck_assert_int_eq(mcs_exists_batch(c, 3, bkeys, res), -EPROTO);
	ck_assert_int_eq(mcs_exists(c, "k0"), -ENOTCONN);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* A get batch over local replicas, answered out of order: a success, no
 * such key, a checksum mismatch, a buffer too small, a striped success, a
 * buffer outside the segment. */
#define GB_CAP 8192

static void s_get_batch(struct fake *f)
{
	struct mcs_hdr hs[6];
	read_batch(f, &f->d, MCS_OP_GET_REPLICAS, 6, hs);
	static const size_t order[] = { 5, 3, 1, 0, 4, 2 };
	struct fk_list l;
	uint8_t v4[6000];
	fk_value(4, v4, sizeof(v4));
	memcpy((uint8_t *)f->seg.base + 32768, v4, 2000);
	memcpy((uint8_t *)f->seg.base + 65536, v4 + 2000, 4000);
	for (size_t j = 0; j < 6; j++) {
		size_t i = order[j];
		f->h = hs[i];
		if (i == 0) {
			fk_list_one(&l, NULL, 0, 5000);
			fk_answer_get(f, &f->d, 5000, fk_store(f, 0, 5000, 0), 0, &l);
		} else if (i == 1) {
			fk_answer(f, &f->d, -ENOENT);
		} else if (i == 2) {
			fk_list_one(&l, NULL, 8192, 3000);
			fk_answer_get(f, &f->d, 3000, fk_store(f, 8192, 3000, 2) ^ 1, 0, &l);
		} else if (i == 3) {
			fk_list_one(&l, NULL, 16384, 9000);
			fk_answer_get(f, &f->d, 9000, fk_store(f, 16384, 9000, 3), 0, &l);
		} else if (i == 4) {
			fk_list_one(&l, NULL, 32768, 2000);
			fk_list_stripe(&l, 65536, 4000);
			fk_answer_get(f, &f->d, 6000, XXH3_64bits(v4, sizeof(v4)), 0, &l);
		} else {
			fk_list_one(&l, NULL, FK_SEG_SIZE - 100, 200);
			fk_answer_get(f, &f->d, 200, 0, 0, &l);
		}
	}
	fk_expect_eof(f, &f->d);
}

START_TEST(test_get_batch)
{
	struct fake *f = fake_start(s_get_batch, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	static uint8_t bufs[6][GB_CAP];
	struct iovec iov[6];
	for (size_t i = 0; i < 6; i++)
		iov[i] = (struct iovec){ bufs[i], i == 3 ? 4096 : GB_CAP };
	ssize_t res[6];
	ck_assert_int_eq(mcs_get_batch(c, 6, bkeys, iov, res), 2);
	const ssize_t want[] = { 5000, -ENOENT, -EBADMSG, -ERANGE, 6000, -EPROTO };
	for (size_t i = 0; i < 6; i++)
		ck_assert_msg(res[i] == want[i], "key %zu: %zd", i, res[i]);
	uint8_t v[6000];
	fk_value(0, v, 5000);
	ck_assert_mem_eq(bufs[0], v, 5000);
	fk_value(4, v, 6000);
	ck_assert_mem_eq(bufs[4], v, 6000);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* A put batch: PUT_STARTs answered out of order (a local replica, the key
 * stored already, a buffer outside the segment, two replicas, a replica
 * whose PUT_END is refused), then one PUT_END or PUT_REVOKE per started
 * key, in key order, answered out of order too. */
static const size_t pb_len[] = { 3000, 100, 200, 70000, 5 };
static const uint64_t pb_off[] = { 0, 0, FK_SEG_SIZE - 10, 100000, 300000 };

static void s_put_batch(struct fake *f)
{
	struct mcs_hdr hs[5];
	for (size_t i = 0; i < 5; i++) {
		fk_expect(f, &f->d, MCS_OP_PUT_START);
		struct mcs_put_start_req q;
		ck_assert_int_eq(mcs_dec_put_start_req(f->body, f->h.body_len, &q), 0);
		ck_assert(mcs_str_eq(q.key, mcs_str_c(bkeys[i])));
		ck_assert_uint_eq(q.value_len, pb_len[i]);
		ck_assert_uint_eq(q.cfg.replica_num, 1);
		mcs_put_start_req_free(&q);
		hs[i] = f->h;
	}
	static const size_t order[] = { 3, 1, 4, 0, 2 };
	for (size_t j = 0; j < 5; j++) {
		size_t i = order[j];
		struct fk_list l;
		f->h = hs[i];
		if (i == 1) {
			fk_answer(f, &f->d, -EEXIST);
			continue;
		}
		fk_list_one(&l, NULL, pb_off[i], pb_len[i]);
		if (i == 3)
			fk_list_add(&l, NULL, 200000, pb_len[i]);
		fk_answer_put_start(f, &f->d, &l);
	}
	/* PUT_END 0, PUT_REVOKE 2, PUT_END 3, PUT_END 4 */
	static const size_t ended[] = { 0, 2, 3, 4 };
	for (size_t j = 0; j < 4; j++) {
		size_t i = ended[j];
		fk_expect(f, &f->d, i == 2 ? MCS_OP_PUT_REVOKE : MCS_OP_PUT_END);
		fk_expect_key(f, bkeys[i]);
		if (j)
			ck_assert_uint_eq(f->h.req_id, hs[ended[j - 1]].req_id + 1);
		hs[i] = f->h;
		if (i == 2)
			continue;
		uint8_t v[70000];
		fk_value((unsigned)i, v, pb_len[i]);
		struct mcs_put_end_req e;
		ck_assert_int_eq(mcs_dec_put_end_req(f->body, f->h.body_len, &e), 0);
		ck_assert_uint_eq(e.checksum, XXH3_64bits(v, pb_len[i]));
		ck_assert_mem_eq((uint8_t *)f->seg.base + pb_off[i], v, pb_len[i]);
		if (i == 3)
			ck_assert_mem_eq((uint8_t *)f->seg.base + 200000, v, pb_len[i]);
	}
	send_status(&f->d, &hs[4], -ENOENT);
	send_status(&f->d, &hs[0], 0);
	send_status(&f->d, &hs[3], 0);
	send_status(&f->d, &hs[2], 0);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_put_batch)
{
	struct fake *f = fake_start(s_put_batch, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	static uint8_t vals[5][70000];
	struct iovec iov[5];
	for (size_t i = 0; i < 5; i++) {
		fk_value((unsigned)i, vals[i], pb_len[i]);
		iov[i] = (struct iovec){ vals[i], pb_len[i] };
	}
	int res[5];
	unsigned reps[5];
	ck_assert_int_eq(mcs_put_batch(c, 5, bkeys, iov, NULL, res, reps), 2);
	const int want[] = { 0, -EEXIST, -EPROTO, 0, -ENOENT };
	const unsigned want_reps[] = { 1, 0, 0, 2, 0 };
	for (size_t i = 0; i < 5; i++) {
		ck_assert_msg(res[i] == want[i], "key %zu: %d", i, res[i]);
		ck_assert_msg(reps[i] == want_reps[i], "key %zu: %u replicas", i, reps[i]);
	}
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* ---- cursors and checks (iov.c) ------------------------------------------ */

START_TEST(test_cursor_uneven)
{
	uint8_t a[3], c5[5], f2[2];
	const struct iovec iov[] = { { NULL, 0 }, { a, 3 }, { NULL, 0 }, { c5, 5 }, { NULL, 0 },
				     { NULL, 0 }, { f2, 2 }, { NULL, 0 } };
	struct cursor cu = { iov, (int)MCS_ARRAY_SIZE(iov), 0, 0 };
	uint8_t *p = NULL;
	ck_assert_uint_eq(cursor_take(&cu, 4, &p), 3);
	ck_assert_ptr_eq(p, a);
	ck_assert_uint_eq(cursor_take(&cu, 4, &p), 4);
	ck_assert_ptr_eq(p, c5);
	ck_assert_uint_eq(cursor_take(&cu, 4, &p), 1);
	ck_assert_ptr_eq(p, c5 + 4);
	ck_assert_uint_eq(cursor_take(&cu, 1, &p), 1);
	ck_assert_ptr_eq(p, f2);
	ck_assert_uint_eq(cursor_take(&cu, 100, &p), 1);
	ck_assert_ptr_eq(p, f2 + 1);
	p = FK_POISON;
	ck_assert_uint_eq(cursor_take(&cu, 100, &p), 0);
	ck_assert_uint_eq(cursor_take(&cu, 100, &p), 0);
	ck_assert_ptr_eq(p, FK_POISON);

	/* nothing but empty ones, and none at all */
	struct cursor e = { iov, 1, 0, 0 }, none = { NULL, 0, 0, 0 };
	ck_assert_uint_eq(cursor_take(&e, 10, &p), 0);
	ck_assert_uint_eq(cursor_take(&none, 10, &p), 0);
	ck_assert_ptr_eq(p, FK_POISON);
}
END_TEST

START_TEST(test_iov_total)
{
	uint8_t x[4];
	uint64_t t = 77;
	const struct iovec ok[] = { { x, 4 }, { NULL, 0 }, { x, 1 } };
	ck_assert_int_eq(iov_total(ok, 3, &t), 0);
	ck_assert_uint_eq(t, 5);
	ck_assert_int_eq(iov_total(NULL, 0, &t), 0);
	ck_assert_uint_eq(t, 0);

	t = 77;
	const struct iovec over[] = { { x, SIZE_MAX }, { x, 2 } };
	ck_assert_int_eq(iov_total(over, 2, &t), -EINVAL);
	const struct iovec null_base[] = { { x, 4 }, { NULL, 1 } };
	ck_assert_int_eq(iov_total(null_base, 2, &t), -EINVAL);
	ck_assert_int_eq(iov_total(ok, -1, &t), -EINVAL);
	ck_assert_int_eq(iov_total(NULL, 1, &t), -EINVAL);
	ck_assert_uint_eq(t, 77);
}
END_TEST

/* A handle that is only its segment: base NULL, so a check that let a
 * buffer through and touched it would crash. */
static struct mcs_client *seg_only(void)
{
	struct mcs_client *c = calloc(1, sizeof(*c));
	ck_assert_ptr_nonnull(c);
	c->seg.size = FK_SEG_SIZE;
	strcpy(c->segment, FK_SEGMENT);
	return c;
}

START_TEST(test_replica_check)
{
	struct mcs_client *c = seg_only();
	static const struct {
		uint64_t off, len, size;
		int want;
	} cases[] = {
		{ 0, FK_SEG_SIZE, FK_SEG_SIZE, 0 },
		{ FK_SEG_SIZE - 1, 1, 1, 0 },
		{ FK_SEG_SIZE, 0, 0, 0 },
		{ FK_SEG_SIZE - 1, 2, 2, -EPROTO },
		{ FK_SEG_SIZE + 1, 0, 0, -EPROTO },
		{ 0, FK_SEG_SIZE + 1, FK_SEG_SIZE + 1, -EPROTO },
		{ UINT64_MAX, 1, 1, -EPROTO },
		{ 1, UINT64_MAX, UINT64_MAX, -EPROTO },
		{ 4096, 100, 99, -EPROTO },  /* not the object's size */
		{ 4096, 100, 101, -EPROTO },
	};
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cases); i++) {
		struct fk_list l;
		fk_list_one(&l, NULL, cases[i].off, cases[i].len);
		ck_assert_msg(replica_check(c, &l.rep[0], cases[i].size) == cases[i].want, "case %zu", i);
	}
	/* striped: every buffer inside, the sum the size */
	struct fk_list l;
	fk_list_one(&l, NULL, 0, 10);
	fk_list_stripe(&l, FK_SEG_SIZE - 10, 10);
	ck_assert_int_eq(replica_check(c, &l.rep[0], 20), 0);
	ck_assert_int_eq(replica_check(c, &l.rep[0], 21), -EPROTO);
	fk_list_stripe(&l, FK_SEG_SIZE - 5, 10);
	ck_assert_int_eq(replica_check(c, &l.rep[0], 30), -EPROTO);
	ck_assert_uint_eq(replica_bytes(&l.rep[0]), 30);
	free(c);
}
END_TEST

START_TEST(test_is_local)
{
	struct mcs_client *c = seg_only();
	struct fk_list l;
	fk_list_one(&l, NULL, 0, 10);
	ck_assert(is_local(c, &l.rep[0]));
	fk_list_one(&l, "fake-seg2", 0, 10);
	ck_assert(!is_local(c, &l.rep[0]));
	fk_list_one(&l, "fake-se", 0, 10);
	ck_assert(!is_local(c, &l.rep[0]));
	/* one buffer elsewhere makes the replica remote */
	fk_list_one(&l, NULL, 0, 10);
	fk_list_stripe(&l, 10, 10);
	l.h[1].segment = mcs_str_c("other");
	ck_assert(!is_local(c, &l.rep[0]));
	free(c);
}
END_TEST

START_TEST(test_hcursor_copy)
{
	struct mcs_client *c = seg_only();
	uint8_t seg[256] = { 0 };
	c->seg.base = seg;
	c->seg.size = sizeof(seg);
	struct fk_list l;
	fk_list_one(&l, NULL, 200, 3);
	fk_list_stripe(&l, 50, 7);
	fk_list_stripe(&l, 0, 5);
	uint8_t v[15];
	fk_value(9, v, sizeof(v));
	struct hcursor hc = { 0, 0 };
	/* pieces that cross the buffers' ends anywhere */
	hcursor_copy(c, &l.rep[0], &hc, v, 2);
	hcursor_copy(c, &l.rep[0], &hc, v + 2, 6);
	hcursor_copy(c, &l.rep[0], &hc, v + 8, 7);
	ck_assert_mem_eq(seg + 200, v, 3);
	ck_assert_mem_eq(seg + 50, v + 3, 7);
	ck_assert_mem_eq(seg, v + 10, 5);
	ck_assert_uint_eq(hc.idx, 3);
	ck_assert_uint_eq(seg[5], 0);
	ck_assert_uint_eq(seg[49], 0);
	ck_assert_uint_eq(seg[57], 0);
	free(c);
}
END_TEST

void add_batch_tcases(Suite *s)
{
	TCase *tc = tcase_create("batch");
	tcase_add_test(tc, test_batch_out_of_order);
	tcase_add_test(tc, test_batch_missing_answer);
	tcase_add_test(tc, test_batch_missing_answer_master);
	tcase_add_test(tc, test_batch_duplicate_answer);
	tcase_add_test(tc, test_get_batch);
	tcase_add_test(tc, test_put_batch);
	suite_add_tcase(s, tc);

	tc = tcase_create("iov");
	tcase_add_test(tc, test_cursor_uneven);
	tcase_add_test(tc, test_iov_total);
	tcase_add_test(tc, test_replica_check);
	tcase_add_test(tc, test_is_local);
	tcase_add_test(tc, test_hcursor_copy);
	suite_add_tcase(s, tc);
}
