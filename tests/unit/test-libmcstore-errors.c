/* SPDX-License-Identifier: MIT */
/*
 * libmcstore's refusals against the scripted daemon: every refusal of the
 * master reaches the caller unchanged, with its detail (mcs_error_detail);
 * answers that would make the client touch memory it must not, or return
 * bytes that do not hash right, are refused; bad arguments are refused
 * before anything is sent; ret_* outputs are untouched on every failure.
 */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "tests/unit/libmcstore-fake.h"

void add_error_tcases(Suite *s);

/* ---- every refusal, unchanged -------------------------------------------- */

static const int err_st[] = { -ENOENT, -EAGAIN, -EEXIST, -ENOSPC, -EXFULL,
			      -EBUSY, -EPROTO, -EMSGSIZE, -ENAMETOOLONG, -EHOSTDOWN };
#define N_ERR ((int)MCS_ARRAY_SIZE(err_st))

static uint64_t detail_of(int st) { return st == -EXFULL ? 3 : st == -EBUSY ? 1234 : 0; }

/* The requests of test_error_answers in order: n of op, on the daemon link
 * or the metadata one. The client is made with failover_ms -1: -EHOSTDOWN
 * comes back at once, as any other refusal. */
static const struct {
	uint16_t op;
	bool daemon;
	unsigned n;
} err_calls[] = {
	{ MCS_OP_REMOVE, false, 1 },       /* a refusal with a detail first */
	{ MCS_OP_PUT_START, false, 1 },    /* mcs_put */
	{ MCS_OP_PUT_START, false, 1 },    /* mcs_putv */
	{ MCS_OP_GET_REPLICAS, false, 1 }, /* mcs_get */
	{ MCS_OP_GET_REPLICAS, false, 1 }, /* mcs_get_alloc */
	{ MCS_OP_GET_REPLICAS, false, 1 }, /* mcs_get_size */
	{ MCS_OP_GET_REPLICAS, true, 1 },  /* mcs_get_view: holds on the daemon's */
	{ MCS_OP_GET_REPLICAS, false, 1 }, /* mcs_locate */
	{ MCS_OP_EXIST, false, 1 },
	{ MCS_OP_REMOVE, false, 1 },
	{ MCS_OP_REMOVE_ALL, false, 1 },
	{ MCS_OP_LIST, false, 1 },
	{ MCS_OP_STAT, true, 1 },
	{ MCS_OP_BUF_ALLOC, true, 1 },
	{ MCS_OP_EXIST, false, 2 },        /* the batches, every key refused */
	{ MCS_OP_GET_REPLICAS, false, 2 },
	{ MCS_OP_PUT_START, false, 2 },
	{ MCS_OP_GET_REPLICAS, true, 2 },  /* mcs_get_view_batch */
};

static void s_errors(struct fake *f)
{
	int st = err_st[*(int *)f->arg % N_ERR];
	fk_accept_meta(f);
	for (size_t i = 0; i < MCS_ARRAY_SIZE(err_calls); i++) {
		struct fk_link *l = err_calls[i].daemon ? &f->d : fk_meta(f);
		struct mcs_hdr hs[2];
		for (unsigned k = 0; k < err_calls[i].n; k++) {
			fk_expect(f, l, err_calls[i].op);
			hs[k] = f->h;
		}
		for (unsigned k = 0; k < err_calls[i].n; k++) {
			f->h = hs[k];
			if (i == 0)
				fk_answer_detail(f, l, -EBUSY, 99);
			else if (detail_of(st))
				fk_answer_detail(f, l, st, detail_of(st));
			else
				fk_answer(f, l, st);
		}
	}
	fk_expect_eofs(f);
}

/* The call returns want and leaves the refusal's detail (0 without one). */
#define CHECK_REFUSED(call, want)                                                                          \
	do {                                                                                               \
		int r_ = (int)(call);                                                                      \
		ck_assert_msg(r_ == (want), "%s refused with \"%s\" returned \"%s\"", #call, mcs_strerror(st), \
			      mcs_strerror(r_));                                                           \
		ck_assert_msg(mcs_error_detail() == detail_of(st), "%s: detail %llu", #call,               \
			      (unsigned long long)mcs_error_detail());                                     \
	} while (0)

START_TEST(test_error_answers)
{
	int st = err_st[_i % N_ERR], absent = st == -ENOENT || st == -EAGAIN ? 0 : st;
	struct fake *f = fake_start(s_errors, _i >= N_ERR ? FK_MASTER : 0, &_i);
	struct mcs_client *c = fake_client(f, 0);
	ck_assert_int_eq(mcs_remove(c, "warm", 0), -EBUSY);
	ck_assert_uint_eq(mcs_error_detail(), 99);

	char buf[64] = "value";
	struct iovec iov[2] = { { buf, 10 }, { buf + 10, 20 } };
	unsigned reps = FK_U32_POISON;
	size_t len = FK_U64_POISON;
	uint64_t size = FK_U64_POISON, count = FK_U64_POISON;
	void *p = FK_POISON, *ubuf = FK_POISON;
	struct mcs_view *v = FK_POISON;
	struct mcs_object_info *info = FK_POISON;
	struct mcs_key_page *pg = FK_POISON;
	struct mcs_stat *stat = FK_POISON;
	CHECK_REFUSED(mcs_put(c, "k", buf, 30, NULL, &reps), st);
	CHECK_REFUSED(mcs_putv(c, "k", iov, 2, NULL, &reps), st);
	CHECK_REFUSED(mcs_get(c, "k", buf, sizeof(buf)), st);
	CHECK_REFUSED(mcs_get_alloc(c, "k", &p, &len), st);
	CHECK_REFUSED(mcs_get_size(c, "k", &size), st);
	CHECK_REFUSED(mcs_get_view(c, "k", 0, &v), st);
	CHECK_REFUSED(mcs_locate(c, "k", &info), st);
	CHECK_REFUSED(mcs_exists(c, "k"), absent);
	CHECK_REFUSED(mcs_remove(c, "k", 0), st);
	CHECK_REFUSED(mcs_remove_all(c, &count), st);
	CHECK_REFUSED(mcs_list_keys(c, "", 0, 10, &pg), st);
	CHECK_REFUSED(mcs_stat(c, &stat), st);
	CHECK_REFUSED(mcs_buffer_alloc(c, 4096, &ubuf), st);
	ck_assert_uint_eq(reps, FK_U32_POISON);
	ck_assert_uint_eq(len, FK_U64_POISON);
	ck_assert_uint_eq(size, FK_U64_POISON);
	ck_assert_uint_eq(count, FK_U64_POISON);
	ck_assert_ptr_eq(p, FK_POISON);
	ck_assert_ptr_eq(ubuf, FK_POISON);
	ck_assert_ptr_eq(v, FK_POISON);
	ck_assert_ptr_eq(info, FK_POISON);
	ck_assert_ptr_eq(pg, FK_POISON);
	ck_assert_ptr_eq(stat, FK_POISON);

	/* in a batch, each key gets the refusal */
	const char *const keys[] = { "a", "b" };
	int res[2];
	ssize_t sres[2];
	struct mcs_view *views[2];
	ck_assert_int_eq(mcs_exists_batch(c, 2, keys, res), 0);
	ck_assert(res[0] == absent && res[1] == absent);
	ck_assert_int_eq(mcs_get_batch(c, 2, keys, iov, sres), 0);
	ck_assert(sres[0] == st && sres[1] == st);
	ck_assert_int_eq(mcs_put_batch(c, 2, keys, iov, NULL, res, NULL), 0);
	ck_assert(res[0] == st && res[1] == st);
	ck_assert_int_eq(mcs_get_view_batch(c, 2, keys, 0, views, res), 0);
	ck_assert(res[0] == st && res[1] == st);
	ck_assert(!views[0] && !views[1]);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* ---- answers the client must not act on ---------------------------------- */

#define BS_LEN 300
static const char *const bad_start[] = {
	"an offset past the end", "a length past the end", "buffers that are not the value's size",
	"an answer that does not decode", "no replica", "a stripe outside",
	"a good replica and a bad one",
};

static void bad_list(int i, struct fk_list *l)
{
	switch (i) {
	case 0:
		fk_list_one(l, NULL, FK_SEG_SIZE + 4096, BS_LEN);
		break;
	case 1:
		fk_list_one(l, NULL, FK_SEG_SIZE - 100, BS_LEN);
		break;
	case 2:
		fk_list_one(l, NULL, 0, BS_LEN - 1);
		break;
	case 3: /* see s_bad_start */
	case 4:
		fk_list_one(l, NULL, 0, BS_LEN);
		l->list.n_replicas = 0;
		break;
	case 5:
		fk_list_one(l, NULL, 0, 50);
		fk_list_stripe(l, FK_SEG_SIZE - 10, BS_LEN - 50);
		break;
	default:
		fk_list_one(l, NULL, 0, BS_LEN);
		fk_list_add(l, NULL, FK_SEG_SIZE - 100, BS_LEN);
	}
}

static void s_bad_start(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_PUT_START);
	struct fk_list l;
	bad_list(*(int *)f->arg, &l);
	if (*(int *)f->arg == 3) {
		fk_begin(f, 0);
		mcs_buf_put_u32(&f->out, 2); /* replicas that are not there */
		fk_send(f, &f->d);
	} else {
		fk_answer_put_start(f, &f->d, &l);
	}
	fk_expect(f, &f->d, MCS_OP_PUT_REVOKE);
	fk_expect_key(f, "k");
	fk_answer(f, &f->d, 0);
	/* not a byte was written */
	const uint8_t *p = f->seg.base;
	size_t i = 0;
	while (i < f->seg.size && p[i] == 0)
		i++;
	ck_assert_msg(i == f->seg.size, "the client wrote byte %zu of the segment", i);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_put_bad_start)
{
	struct fake *f = fake_start(s_bad_start, 0, &_i);
	struct mcs_client *c = fake_client(f, 0);
	uint8_t v[BS_LEN];
	fk_value(1, v, sizeof(v));
	unsigned reps = FK_U32_POISON;
	ck_assert_msg(mcs_put(c, "k", v, sizeof(v), NULL, &reps) == -EPROTO, "PUT_START with %s", bad_start[_i]);
	ck_assert_uint_eq(reps, FK_U32_POISON);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* Bytes that do not hash to the checksum: get and view refuse them (the
 * view's hold released), an unverified view returns them and
 * mcs_view_verify() tells. */
static void s_checksum(struct fake *f)
{
	struct fk_list l;
	fk_list_one(&l, NULL, 4096, 1000);
	uint64_t sum = fk_store(f, 4096, 1000, 5);
	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS);
	fk_answer_get(f, &f->d, 1000, sum ^ 1, 0, &l);
	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS);
	fk_answer_get(f, &f->d, 1000, sum ^ 1, 11, &l);
	fk_expect_release(f, &f->d, "k", 11);
	fk_answer(f, &f->d, 0); /* skipped by the next call */
	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS);
	fk_answer_get(f, &f->d, 1000, sum ^ 1, 12, &l);
	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS);
	fk_answer_get(f, &f->d, 1000, sum, 13, &l);
	fk_expect_release(f, &f->d, "k", 12);
	fk_expect_release(f, &f->d, "k", 13);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_checksum_mismatch)
{
	struct fake *f = fake_start(s_checksum, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	char buf[1000];
	ck_assert_int_eq(mcs_get(c, "k", buf, sizeof(buf)), -EBADMSG);
	struct mcs_view *v = FK_POISON, *good = NULL;
	ck_assert_int_eq(mcs_get_view(c, "k", 0, &v), -EBADMSG);
	ck_assert_ptr_eq(v, FK_POISON);
	ck_assert_int_eq(mcs_get_view(c, "k", MCS_VIEW_NOVERIFY, &v), 0);
	ck_assert_uint_eq(v->size, 1000);
	ck_assert_uint_eq(v->n_iov, 1);
	ck_assert_ptr_eq(v->iov[0].iov_base, (uint8_t *)c->seg.base + 4096);
	ck_assert_int_eq(mcs_view_verify(v), -EBADMSG);
	ck_assert_int_eq(mcs_get_view(c, "k", 0, &good), 0);
	ck_assert_int_eq(mcs_view_verify(good), 0);
	uint8_t want[1000];
	fk_value(5, want, sizeof(want));
	ck_assert_mem_eq(good->iov[0].iov_base, want, sizeof(want));
	mcs_view_release(v);
	mcs_view_release(good);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* A local replica outside the mapping: -EPROTO for get and view, whose
 * hold is released; a replica elsewhere only: -EREMOTE for a view. */
static void s_outside(struct fake *f)
{
	struct fk_list l;
	fk_list_one(&l, NULL, FK_SEG_SIZE - 10, 100);
	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS);
	fk_answer_get(f, &f->d, 100, 0, 0, &l);
	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS);
	fk_answer_get(f, &f->d, 100, 0, 21, &l);
	fk_expect_release(f, &f->d, "k", 21);
	fk_list_one(&l, "elsewhere", 0, 100);
	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS);
	fk_answer_get(f, &f->d, 100, 0, 22, &l);
	fk_expect_release(f, &f->d, "k", 22);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_replica_outside)
{
	struct fake *f = fake_start(s_outside, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	char buf[100];
	ck_assert_int_eq(mcs_get(c, "k", buf, sizeof(buf)), -EPROTO);
	struct mcs_view *v = FK_POISON;
	ck_assert_int_eq(mcs_get_view(c, "k", MCS_VIEW_NOVERIFY, &v), -EPROTO);
	ck_assert_int_eq(mcs_get_view(c, "k", MCS_VIEW_NOVERIFY, &v), -EREMOTE);
	ck_assert_ptr_eq(v, FK_POISON);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* Refused before anything is sent: the fake sees no frame. */
static void s_nothing(struct fake *f) { fk_expect_eof(f, &f->d); }

START_TEST(test_local_refusals)
{
	struct fake *f = fake_start(s_nothing, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	static char key[MCS_KEY_MAX + 2];
	memset(key, 'k', MCS_KEY_MAX + 1);
	char b[4];
	struct iovec iov = { NULL, 1 };
	struct mcs_key_page *pg = FK_POISON;
	const char *const keys[] = { key };
	int res[1];
	ck_assert_int_eq(mcs_exists(c, key), -ENAMETOOLONG);
	ck_assert_int_eq(mcs_put(c, key, b, 1, NULL, NULL), -ENAMETOOLONG);
	ck_assert_int_eq(mcs_exists_batch(c, 1, keys, res), -ENAMETOOLONG);
	ck_assert_int_eq(mcs_list_keys(c, key, 0, 10, &pg), -ENAMETOOLONG);
	ck_assert_int_eq(mcs_list_keys(c, NULL, 0, 0, &pg), -EINVAL);
	ck_assert_ptr_eq(pg, FK_POISON);
	ck_assert_int_eq(mcs_get(c, "", b, 1), -EINVAL);
	ck_assert_int_eq(mcs_get(c, NULL, b, 1), -EINVAL);
	ck_assert_int_eq(mcs_get(NULL, "k", b, 1), -EINVAL);
	ck_assert_int_eq(mcs_put(c, "k", NULL, 1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(mcs_putv(c, "k", &iov, 1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(mcs_putv(c, "k", &iov, -1, NULL, NULL), -EINVAL);
	ck_assert_int_eq(mcs_getv(c, "k", &iov, 1), -EINVAL);
	ck_assert_int_eq(mcs_exists_batch(c, MCS_BATCH_MAX + 1, keys, res), -EINVAL);
	ck_assert_int_eq(mcs_buffer_alloc(c, 0, (void **)&pg), -EINVAL);
	struct mcs_view *v = FK_POISON;
	ck_assert_int_eq(mcs_get_view(c, "k", 2, &v), -EINVAL);
	ck_assert_ptr_eq(v, FK_POISON);
	struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = MCS_MAX_REPLICAS + 1 };
	ck_assert_int_eq(mcs_put(c, "k", b, 1, &cfg, NULL), -EINVAL);
	cfg = (struct mcs_replicate_config){ .size = offsetof(struct mcs_replicate_config, locations) };
	ck_assert_int_eq(mcs_put(c, "k", b, 1, &cfg, NULL), -EINVAL);
	cfg = (struct mcs_replicate_config){ .size = sizeof(cfg), .n_locations = 1 };
	ck_assert_int_eq(mcs_put(c, "k", b, 1, &cfg, NULL), -EINVAL);
	/* empty batches: nothing to ask */
	ck_assert_int_eq(mcs_exists_batch(c, 0, NULL, NULL), 0);
	ck_assert_int_eq(mcs_get_batch(c, 0, NULL, NULL, NULL), 0);
	ck_assert_int_eq(mcs_put_batch(c, 0, NULL, NULL, NULL, NULL, NULL), 0);
	ck_assert_int_eq(mcs_get_view_batch(c, 0, NULL, 0, NULL, NULL), 0);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* HELLO refused, or answered without the segment's fd: no handle. */
static void s_hello_bad(struct fake *f)
{
	fk_accept(f);
	fk_expect(f, &f->d, MCS_OP_HELLO);
	if (*(int *)f->arg == 0) {
		fk_answer(f, &f->d, -EPROTONOSUPPORT);
	} else {
		struct mcs_hello_resp hr = { .node = mcs_str_c(FK_NODE), .segment = mcs_str_c(FK_SEGMENT),
					     .segment_size = f->seg.size, .master = mcs_str_c("") };
		fk_begin(f, 0);
		mcs_enc_hello_resp(&f->out, &hr);
		fk_send(f, &f->d);
	}
	fk_expect_eof(f, &f->d);
}

START_TEST(test_hello_refused)
{
	struct fake *f = fake_start(s_hello_bad, FK_NO_HELLO, &_i);
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = f->path, .timeout_ms = FK_LONG_MS };
	struct mcs_client *c = FK_POISON;
	ck_assert_int_eq(mcs_client_new(&o, &c), _i == 0 ? -EPROTONOSUPPORT : -EPROTO);
	ck_assert_ptr_eq(c, FK_POISON);
	fake_join(f);
}
END_TEST

void add_error_tcases(Suite *s)
{
	TCase *tc = tcase_create("errors");
	tcase_add_loop_test(tc, test_error_answers, 0, 2 * N_ERR);
	tcase_add_loop_test(tc, test_put_bad_start, 0, (int)MCS_ARRAY_SIZE(bad_start));
	tcase_add_test(tc, test_checksum_mismatch);
	tcase_add_test(tc, test_replica_outside);
	tcase_add_test(tc, test_local_refusals);
	tcase_add_loop_test(tc, test_hello_refused, 0, 2);
	suite_add_tcase(s, tc);
}
