/* SPDX-License-Identifier: MIT */
/*
 * libmcstore across a failover, against the scripted daemon and master: a
 * request answered "no master" (-EHOSTDOWN) or "standby" (-EREMCHG), or
 * whose direct link broke, is sent again within the handle's failover_ms;
 * a put whose end was lost starts over, and takes an -EEXIST of its own
 * lost success for what it is; a batch sends again only the keys that
 * need it; past the bound the failure comes back as it is.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "common/util.h"
#include "tests/unit/libmcstore-fake.h"

void add_failover_tcases(Suite *s);

/* Long enough for any loaded machine: the tests that retry never reach it. */
#define FO_LONG_MS 60000

/* ---- through the daemon --------------------------------------------------- */

static void s_relay_hostdown(struct fake *f)
{
	for (int i = 0; i < 3; i++) {
		fk_expect(f, &f->d, MCS_OP_EXIST);
		fk_expect_key(f, "k");
		fk_answer(f, &f->d, -EHOSTDOWN);
	}
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_expect_key(f, "k");
	fk_answer(f, &f->d, 0);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_relayed_until_a_master_leads)
{
	struct fake *f = fake_start(s_relay_hostdown, 0, NULL);
	struct mcs_client *c = fake_client_failover(f, 0, FO_LONG_MS);
	ck_assert_int_eq(mcs_exists(c, "k"), 1);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* No master ever: every try answered -EHOSTDOWN until the bound passes;
 * the script counts them. */
static void s_never(struct fake *f)
{
	int *tries = f->arg;
	while (fk_read(f, &f->d) == 0) {
		ck_assert_uint_eq(f->h.opcode, MCS_OP_EXIST);
		fk_answer(f, &f->d, -EHOSTDOWN);
		++*tries;
	}
	close(f->d.fd);
	f->d.fd = -1;
}

START_TEST(test_bound_passes)
{
	int tries = 0;
	struct fake *f = fake_start(s_never, 0, &tries);
	struct mcs_client *c = fake_client_failover(f, 0, 2000);
	ck_assert_int_eq(mcs_exists(c, "k"), -EHOSTDOWN);
	mcs_client_unref(c);
	fake_join(f);
	ck_assert_int_ge(tries, 2);
}
END_TEST

/* A batch: only the key answered -EHOSTDOWN is asked again. */
static void s_batch_one_again(struct fake *f)
{
	struct mcs_hdr hs[3];
	for (int i = 0; i < 3; i++) {
		fk_expect(f, &f->d, MCS_OP_EXIST);
		hs[i] = f->h;
	}
	int st[3] = { 0, -EHOSTDOWN, -ENOENT };
	for (int i = 0; i < 3; i++) {
		f->h = hs[i];
		fk_answer(f, &f->d, st[i]);
	}
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_expect_key(f, "b1");
	fk_answer(f, &f->d, 0);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_batch_sends_again_what_failed)
{
	struct fake *f = fake_start(s_batch_one_again, 0, NULL);
	struct mcs_client *c = fake_client_failover(f, 0, FO_LONG_MS);
	const char *const keys[] = { "b0", "b1", "b2" };
	int res[3];
	ck_assert_int_eq(mcs_exists_batch(c, 3, keys, res), 2);
	ck_assert_int_eq(res[0], 1);
	ck_assert_int_eq(res[1], 1);
	ck_assert_int_eq(res[2], 0);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* ---- the direct link ------------------------------------------------------ */

/* A standby answers on the direct link (the leader stepped down): the
 * client dials again, finds a leader, and asks there. */
static void s_standby_mid_call(struct fake *f)
{
	fk_accept_master(f);
	fk_expect(f, &f->m, MCS_OP_EXIST);
	fk_answer(f, &f->m, -EREMCHG);
	fk_expect_eof(f, &f->m);
	fk_accept_master(f);
	fk_expect(f, &f->m, MCS_OP_EXIST);
	fk_expect_key(f, "k");
	fk_answer(f, &f->m, 0);
	fk_expect_eofs(f);
}

START_TEST(test_standby_answer_dials_again)
{
	struct fake *f = fake_start(s_standby_mid_call, FK_MASTER, NULL);
	struct mcs_client *c = fake_client_failover(f, 0, FO_LONG_MS);
	ck_assert_int_eq(mcs_exists(c, "k"), 1);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

static void put_start_local(struct fake *f, struct fk_link *l, const char *key, uint64_t off, size_t n)
{
	fk_expect(f, l, MCS_OP_PUT_START);
	fk_expect_key(f, key);
	struct fk_list list;
	fk_list_one(&list, NULL, off, n);
	fk_answer_put_start(f, l, &list);
}

/* The master dies with the PUT_END unanswered: the put starts over on a
 * new link (here the same fake master, dialled again) and ends there. */
static void s_end_lost(struct fake *f)
{
	uint8_t v[3000];
	fk_value(5, v, sizeof(v));
	fk_accept_master(f);
	put_start_local(f, &f->m, "p", 0, sizeof(v));
	fk_expect(f, &f->m, MCS_OP_PUT_END);
	close(f->m.fd); /* the master goes away */
	f->m.fd = -1;
	fk_accept_master(f);
	put_start_local(f, &f->m, "p", 4096, sizeof(v));
	fk_expect(f, &f->m, MCS_OP_PUT_END);
	struct mcs_put_end_req e;
	ck_assert_int_eq(mcs_dec_put_end_req(f->body, f->h.body_len, &e), 0);
	ck_assert_uint_eq(e.checksum, XXH3_64bits(v, sizeof(v)));
	fk_answer(f, &f->m, 0);
	ck_assert_mem_eq((uint8_t *)f->seg.base + 4096, v, sizeof(v));
	fk_expect_eofs(f);
}

START_TEST(test_put_end_lost_starts_over)
{
	struct fake *f = fake_start(s_end_lost, FK_MASTER, NULL);
	struct mcs_client *c = fake_client_failover(f, 0, FO_LONG_MS);
	uint8_t v[3000];
	fk_value(5, v, sizeof(v));
	unsigned reps = 0;
	ck_assert_int_eq(mcs_put(c, "p", v, sizeof(v), NULL, &reps), 0);
	ck_assert_uint_eq(reps, 1);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* The lost PUT_END had ended the put: started over, it finds the key
 * stored (-EEXIST), looks (no lease), and finds its own bytes: success. A
 * key stored with other bytes stays -EEXIST. */
static void s_end_lost_but_done(struct fake *f)
{
	uint8_t v[3000];
	fk_value(5, v, sizeof(v));
	uint64_t sum[2] = { XXH3_64bits(v, sizeof(v)), XXH3_64bits(v, sizeof(v)) ^ 1 };
	fk_accept_master(f);
	for (int i = 0; i < 2; i++) {
		put_start_local(f, &f->m, "p", 0, sizeof(v));
		fk_expect(f, &f->m, MCS_OP_PUT_END);
		close(f->m.fd);
		f->m.fd = -1;
		fk_accept_master(f);
		fk_expect(f, &f->m, MCS_OP_PUT_START);
		fk_answer(f, &f->m, -EEXIST);
		fk_expect(f, &f->m, MCS_OP_GET_REPLICAS);
		struct mcs_get_req g;
		ck_assert_int_eq(mcs_dec_get_req(f->body, f->h.body_len, &g), 0);
		ck_assert_uint_eq(g.flags, MCS_GET_NOLEASE);
		struct fk_list list;
		fk_list_one(&list, NULL, 8192, sizeof(v));
		fk_answer_get(f, &f->m, sizeof(v), sum[i], 0, &list);
	}
	fk_expect_eofs(f);
}

START_TEST(test_put_end_lost_but_done)
{
	struct fake *f = fake_start(s_end_lost_but_done, FK_MASTER, NULL);
	struct mcs_client *c = fake_client_failover(f, 0, FO_LONG_MS);
	uint8_t v[3000];
	fk_value(5, v, sizeof(v));
	ck_assert_int_eq(mcs_put(c, "p", v, sizeof(v), NULL, NULL), 0);
	ck_assert_int_eq(mcs_put(c, "p", v, sizeof(v), NULL, NULL), -EEXIST);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* A batch put whose PUT_ENDs were lost with the link: every key starts
 * over, in one batch. */
static void s_batch_end_lost(struct fake *f)
{
	fk_accept_master(f);
	for (int round = 0; round < 2; round++) {
		struct mcs_hdr hs[2];
		for (int i = 0; i < 2; i++) {
			fk_expect(f, &f->m, MCS_OP_PUT_START);
			hs[i] = f->h;
		}
		for (int i = 0; i < 2; i++) {
			f->h = hs[i];
			struct fk_list list;
			fk_list_one(&list, NULL, (uint64_t)(round * 2 + i) * 4096, 100);
			fk_answer_put_start(f, &f->m, &list);
		}
		for (int i = 0; i < 2; i++) {
			fk_expect(f, &f->m, MCS_OP_PUT_END);
			hs[i] = f->h;
		}
		if (round == 0) {
			close(f->m.fd);
			f->m.fd = -1;
			fk_accept_master(f);
			continue;
		}
		for (int i = 0; i < 2; i++) {
			f->h = hs[i];
			fk_answer(f, &f->m, 0);
		}
	}
	fk_expect_eofs(f);
}

START_TEST(test_put_batch_end_lost)
{
	struct fake *f = fake_start(s_batch_end_lost, FK_MASTER, NULL);
	struct mcs_client *c = fake_client_failover(f, 0, FO_LONG_MS);
	uint8_t a[100], b[100];
	fk_value(1, a, sizeof(a));
	fk_value(2, b, sizeof(b));
	const char *const keys[] = { "x", "y" };
	struct iovec vals[] = { { a, sizeof(a) }, { b, sizeof(b) } };
	int res[2] = { 1, 1 };
	ck_assert_int_eq(mcs_put_batch(c, 2, keys, vals, NULL, res, NULL), 2);
	ck_assert_int_eq(res[0], 0);
	ck_assert_int_eq(res[1], 0);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* failover_ms negative: the first answer is the call's. */
static void s_no_retry(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_answer(f, &f->d, -EHOSTDOWN);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_failover_off)
{
	struct fake *f = fake_start(s_no_retry, 0, NULL);
	struct mcs_client *c = fake_client_failover(f, 0, -1);
	ck_assert_int_eq(mcs_exists(c, "k"), -EHOSTDOWN);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

void add_failover_tcases(Suite *s)
{
	TCase *tc = tcase_create("failover");
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_relayed_until_a_master_leads);
	tcase_add_test(tc, test_bound_passes);
	tcase_add_test(tc, test_batch_sends_again_what_failed);
	tcase_add_test(tc, test_standby_answer_dials_again);
	tcase_add_test(tc, test_put_end_lost_starts_over);
	tcase_add_test(tc, test_put_end_lost_but_done);
	tcase_add_test(tc, test_put_batch_end_lost);
	tcase_add_test(tc, test_failover_off);
	suite_add_tcase(s, tc);
}
