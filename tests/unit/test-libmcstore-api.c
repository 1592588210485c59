/* SPDX-License-Identifier: MIT */
/*
 * libmcstore's promises (include/mcstore.h, libmcstore(3)) against the
 * scripted daemon: put returns 0 and the replica count and writes what
 * the master named; releases accept NULL and return NULL; a view outlives
 * its caller's reference; a handle answers -ECHILD in a child after fork
 * and sends nothing there; options structs may be older or newer than the
 * library; where metadata goes, and with which GET_REPLICAS flags. The
 * refusals are in test-libmcstore-errors.c.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/unit/libmcstore-fake.h"

void add_api_tcases(Suite *s);

/* ---- put ----------------------------------------------------------------- */

static void expect_put_end(struct fake *f, const char *key, const uint8_t *v, size_t n)
{
	fk_expect(f, &f->d, MCS_OP_PUT_END);
	fk_expect_key(f, key);
	struct mcs_put_end_req e;
	ck_assert_int_eq(mcs_dec_put_end_req(f->body, f->h.body_len, &e), 0);
	ck_assert_uint_eq(e.checksum, XXH3_64bits(v, n));
	fk_answer(f, &f->d, 0);
}

static void s_put(struct fake *f)
{
	uint8_t v[5004];
	struct fk_list l;
	struct mcs_put_start_req q;
	/* two replicas, where the config asks */
	fk_expect(f, &f->d, MCS_OP_PUT_START);
	ck_assert_int_eq(mcs_dec_put_start_req(f->body, f->h.body_len, &q), 0);
	ck_assert(mcs_str_eq(q.key, mcs_str_c("two")));
	ck_assert_uint_eq(q.value_len, 5000);
	ck_assert(q.n_slices == 1 && q.slice_lens[0] == 5000);
	ck_assert_uint_eq(q.cfg.replica_num, 2);
	ck_assert_uint_eq(q.cfg.flags, MCS_REPL_SOFT_PIN);
	ck_assert(q.cfg.n_locations == 1 && mcs_str_eq(q.cfg.locations[0], mcs_str_c(FK_NODE)));
	mcs_put_start_req_free(&q);
	fk_list_one(&l, NULL, 0, 5000);
	fk_list_add(&l, NULL, 10000, 5000);
	fk_answer_put_start(f, &f->d, &l);
	fk_value(1, v, 5000);
	expect_put_end(f, "two", v, 5000);
	ck_assert_mem_eq(f->seg.base, v, 5000);
	ck_assert_mem_eq((uint8_t *)f->seg.base + 10000, v, 5000);

	/* uneven and empty iovecs over a striped replica */
	fk_expect(f, &f->d, MCS_OP_PUT_START);
	ck_assert_int_eq(mcs_dec_put_start_req(f->body, f->h.body_len, &q), 0);
	ck_assert(q.value_len == sizeof(v) && q.cfg.replica_num == 1);
	mcs_put_start_req_free(&q);
	fk_list_one(&l, NULL, 20000, 1000);
	fk_list_stripe(&l, 500000, sizeof(v) - 1000);
	fk_answer_put_start(f, &f->d, &l);
	fk_value(2, v, sizeof(v));
	expect_put_end(f, "striped", v, sizeof(v));
	ck_assert_mem_eq((uint8_t *)f->seg.base + 20000, v, 1000);
	ck_assert_mem_eq((uint8_t *)f->seg.base + 500000, v + 1000, sizeof(v) - 1000);

	/* an empty value */
	fk_expect(f, &f->d, MCS_OP_PUT_START);
	fk_list_one(&l, NULL, 0, 0);
	fk_answer_put_start(f, &f->d, &l);
	expect_put_end(f, "empty", v, 0);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_put)
{
	struct fake *f = fake_start(s_put, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	uint8_t v[5004];
	fk_value(1, v, 5000);
	const char *const locs[] = { FK_NODE };
	struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = 2, .flags = MCS_REPL_SOFT_PIN,
					    .locations = locs, .n_locations = 1 };
	unsigned reps = 0;
	ck_assert_int_eq(mcs_put(c, "two", v, 5000, &cfg, &reps), 0);
	ck_assert_uint_eq(reps, 2);
	fk_value(2, v, sizeof(v));
	const struct iovec iov[] = { { v, 3 }, { NULL, 0 }, { v + 3, 997 }, { v + 1000, 1 },
				     { NULL, 0 }, { v + 1001, sizeof(v) - 1001 } };
	ck_assert_int_eq(mcs_putv(c, "striped", iov, (int)MCS_ARRAY_SIZE(iov), NULL, &reps), 0);
	ck_assert_uint_eq(reps, 1);
	ck_assert_int_eq(mcs_put(c, "empty", NULL, 0, NULL, NULL), 0);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* ---- releases ------------------------------------------------------------ */

START_TEST(test_release_null)
{
	int x;
	ck_assert_ptr_null(mcs_client_ref(NULL));
	ck_assert_ptr_null(mcs_client_unref(NULL));
	ck_assert_ptr_null(mcs_view_release(NULL));
	ck_assert_ptr_null(mcs_object_info_free(NULL));
	ck_assert_ptr_null(mcs_key_page_free(NULL));
	ck_assert_ptr_null(mcs_stat_free(NULL));
	ck_assert_ptr_null(mcs_buffer_free(NULL, NULL));
	ck_assert_ptr_null(mcs_buffer_free(NULL, &x));
	ck_assert_int_eq(mcs_view_verify(NULL), -EINVAL);
	ck_assert_ptr_null(mcs_object_replica(NULL, 0));
	ck_assert_ptr_null(mcs_object_buffer(NULL, 0, 0));
	ck_assert_ptr_null(mcs_stat_segment(NULL, 0));
	struct mcs_client *c = NULL;
	struct mcs_view *v = NULL;
	struct mcs_object_info *info = NULL;
	struct mcs_key_page *pg = NULL;
	struct mcs_stat *st = NULL;
	mcs_client_unrefp(&c);
	mcs_view_releasep(&v);
	mcs_object_info_freep(&info);
	mcs_key_page_freep(&pg);
	mcs_stat_freep(&st);
}
END_TEST

static void s_release(struct fake *f)
{
	struct fk_list l;
	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS); /* locate */
	fk_list_one(&l, NULL, 4096, 100);
	fk_list_add(&l, "seg-b", 8192, 100);
	l.h[1].endpoint = mcs_str_c("127.0.0.1:7000");
	l.rep[1].status = MCS_REPLICA_INITIALIZED;
	fk_answer_get(f, &f->d, 100, 0x1234, 0, &l);

	fk_expect(f, &f->d, MCS_OP_LIST);
	struct mcs_str keys[] = { mcs_str_c("x"), mcs_str_c("yy") };
	struct mcs_list_resp lr = { .next_cursor = 0, .n_keys = 2, .keys = keys };
	fk_begin(f, 0);
	mcs_enc_list_resp(&f->out, &lr);
	fk_send(f, &f->d);

	fk_expect(f, &f->d, MCS_OP_STAT);
	struct mcs_seg_stat ss[2] = { { mcs_str_c("s0"), mcs_str_c("n0"), 1000, 10, 1 },
				      { mcs_str_c("s1"), mcs_str_c("n1"), 2000, 20, 2 } };
	struct mcs_stat_resp sr = { .n_objects = 5, .capacity = 3000, .used = 30, .n_segments = 2, .segments = ss,
				    .n_counters = MCS_STAT_N_ + 2 };
	for (uint32_t i = 0; i < sr.n_counters; i++)
		sr.counters[i] = 100 + i;
	fk_begin(f, 0);
	mcs_enc_stat_resp(&f->out, &sr);
	fk_send(f, &f->d);

	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS); /* the view */
	fk_list_one(&l, NULL, 0, 10);
	fk_answer_get(f, &f->d, 10, fk_store(f, 0, 10, 1), 31, &l);
	fk_expect(f, &f->d, MCS_OP_BUF_ALLOC);
	struct mcs_segment ub = fk_answer_buf_alloc(f, &f->d, 4, 4096, 0);
	fk_expect_release(f, &f->d, "v", 31);
	fk_answer(f, &f->d, -ESRCH); /* late, and an error: skipped */
	fk_expect(f, &f->d, MCS_OP_BUF_FREE);
	fk_answer(f, &f->d, 0);
	/* not a BUF_FREE for the pointer the handle did not give */
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_answer(f, &f->d, 0);
	fk_expect_eof(f, &f->d);
	mcs_segment_close(&ub);
}

START_TEST(test_release_real)
{
	struct fake *f = fake_start(s_release, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	{
		_cleanup_(mcs_object_info_freep) struct mcs_object_info *info = NULL;
		ck_assert_int_eq(mcs_locate(c, "k", &info), 0);
		ck_assert(info->size == 100 && info->checksum == 0x1234 && info->n_replicas == 2);
		const struct mcs_buffer_location *b = mcs_object_buffer(info, 1, 0);
		ck_assert_str_eq(b->node, "other-node");
		ck_assert_str_eq(b->segment, "seg-b");
		ck_assert_str_eq(b->endpoint, "127.0.0.1:7000");
		ck_assert(b->offset == 8192 && b->len == 100);
		ck_assert_str_eq(mcs_object_buffer(info, 0, 0)->segment, FK_SEGMENT);
		ck_assert_int_eq(mcs_object_replica(info, 1)->status, MCS_REPLICA_INITIALIZED);
		ck_assert_ptr_null(mcs_object_replica(info, 2));
		ck_assert_ptr_null(mcs_object_buffer(info, 0, 1));
	}
	{
		_cleanup_(mcs_key_page_freep) struct mcs_key_page *pg = NULL;
		ck_assert_int_eq(mcs_list_keys(c, "", 0, 5, &pg), 0);
		ck_assert(pg->n_keys == 2 && pg->next_cursor == 0);
		ck_assert_str_eq(pg->keys[1], "yy");
	}
	{
		_cleanup_(mcs_stat_freep) struct mcs_stat *st = NULL;
		ck_assert_int_eq(mcs_stat(c, &st), 0);
		ck_assert(st->n_objects == 5 && st->capacity == 3000 && st->used == 30 && st->n_segments == 2);
		ck_assert_str_eq(mcs_stat_segment(st, 1)->name, "s1");
		ck_assert_uint_eq(mcs_stat_segment(st, 1)->n_allocs, 2);
		ck_assert_ptr_null(mcs_stat_segment(st, 2));
		ck_assert_str_eq(st->local_node, FK_NODE);
		ck_assert_str_eq(st->local_segment, FK_SEGMENT);
		ck_assert_uint_eq(st->evict_runs, 100 + MCS_STAT_EVICT_RUNS);
		ck_assert_uint_eq(st->nodes_lost, 100 + MCS_STAT_NODES_LOST);
	}
	struct mcs_view *v = NULL;
	void *buf = NULL;
	int x;
	ck_assert_int_eq(mcs_get_view(c, "v", 0, &v), 0);
	ck_assert_int_eq(mcs_buffer_alloc(c, 4096, &buf), 0);
	ck_assert_ptr_null(mcs_view_release(v));
	ck_assert_ptr_null(mcs_buffer_free(c, buf));
	ck_assert_ptr_null(mcs_buffer_free(c, &x));
	ck_assert_int_eq(mcs_exists(c, "k"), 1);
	ck_assert_ptr_null(mcs_client_unref(c));
	fake_join(f);
}
END_TEST

/* ---- references and processes -------------------------------------------- */

/* The view keeps the handle open: the fake sees its RELEASE (on the link
 * that took the hold: the daemon's, even beside a direct link, since the
 * daemon takes holds again at a master that restarted), then the close. */
static void s_outlive(struct fake *f)
{
	fk_accept_meta(f);
	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS);
	fk_expect_key(f, "v");
	struct fk_list l;
	fk_list_one(&l, NULL, 0, 777);
	fk_answer_get(f, &f->d, 777, fk_store(f, 0, 777, 7), 42, &l);
	fk_expect_release(f, &f->d, "v", 42);
	fk_expect_eofs(f);
}

START_TEST(test_view_outlives_handle)
{
	struct fake *f = fake_start(s_outlive, _i ? FK_MASTER : 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	struct mcs_view *v = NULL;
	ck_assert_int_eq(mcs_get_view(c, "v", 0, &v), 0);
	ck_assert_ptr_null(mcs_client_unref(c));
	ck_assert_int_eq(mcs_view_verify(v), 0);
	uint8_t want[777];
	fk_value(7, want, sizeof(want));
	ck_assert_mem_eq(v->iov[0].iov_base, want, sizeof(want));
	ck_assert_ptr_null(mcs_view_release(v));
	fake_join(f);
}
END_TEST

static void s_fork(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_BUF_ALLOC);
	struct mcs_segment ub = fk_answer_buf_alloc(f, &f->d, 2, 4096, 1);
	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS);
	struct fk_list l;
	fk_list_one(&l, NULL, 0, 64);
	fk_answer_get(f, &f->d, 64, fk_store(f, 0, 64, 3), 5, &l);
	/* nothing from the child: the next frame is the parent's */
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_expect_key(f, "parent");
	fk_answer(f, &f->d, 0);
	fk_expect_release(f, &f->d, "v", 5);
	fk_expect(f, &f->d, MCS_OP_BUF_FREE);
	fk_answer(f, &f->d, 0);
	fk_expect_eof(f, &f->d);
	mcs_segment_close(&ub);
}

/* In the child: every call on the parent's handle; how many did not answer
 * -ECHILD, touched an output, or failed to release. */
#define ECHILD_OR_COUNT(call)                                                        \
	do {                                                                         \
		int r_ = (int)(call);                                                \
		if (r_ != -ECHILD) {                                                 \
			fprintf(stderr, "child: %s answered %d\n", #call, r_);       \
			bad++;                                                       \
		}                                                                    \
	} while (0)

static int child_calls(struct mcs_client *c, struct mcs_view *v, void *buf)
{
	int bad = 0;
	char b[8];
	struct iovec iov = { b, sizeof(b) };
	const char *const keys[] = { "k" };
	int res[1];
	ssize_t sres[1];
	struct mcs_view *views[1];
	unsigned reps = 7;
	uint64_t u = 7;
	size_t len = 7;
	void *p = FK_POISON;
	struct mcs_view *vp = FK_POISON;
	struct mcs_object_info *info = FK_POISON;
	struct mcs_key_page *pg = FK_POISON;
	struct mcs_stat *st = FK_POISON;
	ECHILD_OR_COUNT(mcs_put(c, "k", b, 1, NULL, &reps));
	ECHILD_OR_COUNT(mcs_putv(c, "k", &iov, 1, NULL, &reps));
	ECHILD_OR_COUNT(mcs_get(c, "k", b, sizeof(b)));
	ECHILD_OR_COUNT(mcs_getv(c, "k", &iov, 1));
	ECHILD_OR_COUNT(mcs_get_alloc(c, "k", &p, &len));
	ECHILD_OR_COUNT(mcs_get_size(c, "k", &u));
	ECHILD_OR_COUNT(mcs_exists(c, "k"));
	ECHILD_OR_COUNT(mcs_get_view(c, "k", 0, &vp));
	ECHILD_OR_COUNT(mcs_put_batch(c, 1, keys, &iov, NULL, res, &reps));
	ECHILD_OR_COUNT(mcs_get_batch(c, 1, keys, &iov, sres));
	ECHILD_OR_COUNT(mcs_get_view_batch(c, 1, keys, 0, views, res));
	ECHILD_OR_COUNT(mcs_exists_batch(c, 1, keys, res));
	ECHILD_OR_COUNT(mcs_buffer_alloc(c, 4096, &p));
	ECHILD_OR_COUNT(mcs_remove(c, "k", 0));
	ECHILD_OR_COUNT(mcs_remove_all(c, &u));
	ECHILD_OR_COUNT(mcs_locate(c, "k", &info));
	ECHILD_OR_COUNT(mcs_list_keys(c, NULL, 0, 10, &pg));
	ECHILD_OR_COUNT(mcs_stat(c, &st));
	if (reps != 7 || u != 7 || len != 7 || p != FK_POISON || vp != FK_POISON || info != FK_POISON ||
	    pg != FK_POISON || st != FK_POISON) {
		fprintf(stderr, "child: an output was written\n");
		bad++;
	}
	/* the view's memory is the child's too; the releases send nothing */
	if (mcs_view_verify(v) != 0 || mcs_buffer_free(c, buf) || mcs_view_release(v) || mcs_client_unref(c)) {
		fprintf(stderr, "child: a release failed\n");
		bad++;
	}
	return bad;
}

START_TEST(test_fork_echild)
{
	struct fake *f = fake_start(s_fork, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	void *buf = NULL;
	struct mcs_view *v = NULL;
	ck_assert_int_eq(mcs_buffer_alloc(c, 4096, &buf), 0);
	ck_assert_int_eq(mcs_get_view(c, "v", 0, &v), 0);
	pid_t pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(child_calls(c, v, buf) ? 1 : 0);
	int ws = 0;
	ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
	ck_assert_msg(WIFEXITED(ws) && WEXITSTATUS(ws) == 0, "the child's calls (see its messages)");
	ck_assert_int_eq(mcs_exists(c, "parent"), 1);
	mcs_view_release(v);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* ---- options and where metadata goes ------------------------------------- */

/* One EXIST on the metadata link (with an arg: the daemon link, whatever
 * HELLO said) and one STAT, which is the daemon's. */
static void s_exist_stat(struct fake *f)
{
	struct fk_link *l = f->arg ? &f->d : fk_meta(f);
	if (!f->arg)
		fk_accept_meta(f);
	fk_expect(f, l, MCS_OP_EXIST);
	fk_answer(f, l, 0);
	fk_expect(f, &f->d, MCS_OP_STAT);
	struct mcs_stat_resp sr = { .n_objects = 1 };
	fk_begin(f, 0);
	mcs_enc_stat_resp(&f->out, &sr);
	fk_send(f, &f->d);
	fk_expect_eofs(f);
}

static void exist_stat(struct mcs_client *c)
{
	ck_assert_int_eq(mcs_exists(c, "k"), 1);
	struct mcs_stat *st = NULL;
	ck_assert_int_eq(mcs_stat(c, &st), 0);
	ck_assert_uint_eq(st->n_objects, 1);
	mcs_stat_free(st);
}

/* The master HELLO named is a standby of HA masters (it led when the
 * daemon said so): the client closes its direct link and dials the leader
 * the standby named at once; that one refuses, so the client asks the
 * daemon which master it uses (the same: no other hop), and goes through
 * the daemon. */
static void s_standby(struct fake *f)
{
	fk_accept_master_as(f, "127.0.0.1:9");
	fk_expect_eof(f, &f->m);
	fk_answer_leader(f, &f->d, "127.0.0.1:9", false);
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_answer(f, &f->d, 0);
	fk_expect_eofs(f);
}

START_TEST(test_direct_link_to_a_standby)
{
	struct fake *f = fake_start(s_standby, FK_MASTER, NULL);
	struct mcs_client *c = fake_client(f, 0);
	ck_assert_int_eq(mcs_exists(c, "k"), 1);
	ck_assert_int_lt(c->master.fd, 0);
	ck_assert_str_eq(c->master_addr, "127.0.0.1:9");
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* An older caller's struct ends before staging_size: what follows is not
 * read (garbage there changes nothing), the defaults hold. */
START_TEST(test_opts_older)
{
	struct fake *f = fake_start(s_exist_stat, FK_MASTER, NULL);
	struct mcs_client_opts o = { .size = offsetof(struct mcs_client_opts, staging_size),
				     .socket_path = f->path, .timeout_ms = FK_LONG_MS, .staging_size = 12345,
				     .flags = MCS_CLIENT_VIA_DAEMON_META | MCS_CLIENT_VIA_DAEMON_DATA,
				     .busy_poll_us = 999 };
	struct mcs_client *c = FK_POISON;
	ck_assert_int_eq(mcs_client_new(&o, &c), 0);
	ck_assert_uint_eq(c->timeout_ms, FK_LONG_MS);
	ck_assert_uint_eq(c->staging_size, 64ull << 20);
	ck_assert_uint_eq(c->busy_poll_us, 0);
	ck_assert_int_eq(c->data_direct, 0);
	ck_assert_int_ge(c->master.fd, 0);
	exist_stat(c);
	mcs_client_unref(c);
	fake_join(f);

	/* too small to hold the timeout: refused */
	o.size = offsetof(struct mcs_client_opts, timeout_ms);
	c = FK_POISON;
	ck_assert_int_eq(mcs_client_new(&o, &c), -EINVAL);
	ck_assert_ptr_eq(c, FK_POISON);
}
END_TEST

/* A newer caller's struct is larger: the fields this library knows are
 * read; no options at all: $MCSTORE_SOCKET and the defaults. */
START_TEST(test_opts_newer_and_none)
{
	struct fake *f = fake_start(s_exist_stat, FK_MASTER, "on the daemon link");
	struct {
		struct mcs_client_opts o;
		uint64_t later[4];
	} big = { .o = { .size = sizeof(big), .socket_path = f->path, .timeout_ms = 1234,
			 .flags = MCS_CLIENT_VIA_DAEMON_META, .busy_poll_us = 5 } };
	struct mcs_client *c = NULL;
	ck_assert_int_eq(mcs_client_new(&big.o, &c), 0);
	ck_assert_uint_eq(c->timeout_ms, 1234);
	ck_assert_uint_eq(c->busy_poll_us, 5);
	ck_assert_int_lt(c->master.fd, 0);
	exist_stat(c);
	mcs_client_unref(c);
	fake_join(f);

	f = fake_start(s_exist_stat, 0, NULL);
	ck_assert_int_eq(setenv("MCSTORE_SOCKET", f->path, 1), 0);
	ck_assert_int_eq(mcs_client_new(NULL, &c), 0);
	ck_assert_uint_eq(c->timeout_ms, 30000);
	ck_assert_uint_eq(c->staging_size, 64ull << 20);
	exist_stat(c);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* MCS_CLIENT_VIA_DAEMON_META: the daemon's HELLO names a master, and the
 * handle never connects to it. */
static void s_via_daemon(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_answer(f, &f->d, 0);
	fk_expect(f, &f->d, MCS_OP_GET_REPLICAS);
	struct fk_list l;
	fk_list_one(&l, NULL, 0, 5);
	fk_answer_get(f, &f->d, 5, 0, 0, &l);
	fk_expect(f, &f->d, MCS_OP_PUT_START);
	fk_answer(f, &f->d, -EEXIST);
	fk_expect(f, &f->d, MCS_OP_REMOVE);
	fk_answer(f, &f->d, 0);
	fk_expect(f, &f->d, MCS_OP_REMOVE_ALL);
	fk_begin(f, 0);
	struct mcs_remove_all_resp ra = { .count = 7 };
	mcs_enc_remove_all_resp(&f->out, &ra);
	fk_send(f, &f->d);
	fk_expect_no_master(f);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_via_daemon_meta)
{
	struct fake *f = fake_start(s_via_daemon, FK_MASTER, NULL);
	struct mcs_client *c = fake_client(f, MCS_CLIENT_VIA_DAEMON_META);
	ck_assert_int_lt(c->master.fd, 0);
	ck_assert_int_eq(mcs_exists(c, "k"), 1);
	uint64_t size = 0;
	ck_assert_int_eq(mcs_get_size(c, "k", &size), 0);
	ck_assert_uint_eq(size, 5);
	ck_assert_int_eq(mcs_put(c, "k", "v", 1, NULL, NULL), -EEXIST);
	ck_assert_int_eq(mcs_remove(c, "k", 0), 0);
	uint64_t count = 0;
	ck_assert_int_eq(mcs_remove_all(c, &count), 0);
	ck_assert_uint_eq(count, 7);
	ck_assert_int_lt(c->master.fd, 0);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* The GET_REPLICAS flags of each call: looking takes no lease. */
static const struct {
	const char *what;
	uint32_t flags;
} get_flags[] = {
	{ "mcs_locate", MCS_GET_NOLEASE },   { "mcs_get_size", MCS_GET_NOLEASE },
	{ "mcs_get_alloc's size", MCS_GET_NOLEASE }, { "mcs_get_alloc's read", 0 },
	{ "mcs_get", 0 },                    { "mcs_get_view", MCS_GET_HOLD },
	{ "an unverified view", MCS_GET_HOLD },
};

static void s_get_flags(struct fake *f)
{
	struct fk_list l;
	fk_list_one(&l, NULL, 0, 10);
	uint64_t sum = fk_store(f, 0, 10, 1);
	for (size_t i = 0; i < MCS_ARRAY_SIZE(get_flags); i++) {
		fk_expect(f, &f->d, MCS_OP_GET_REPLICAS);
		struct mcs_get_req q;
		ck_assert_int_eq(mcs_dec_get_req(f->body, f->h.body_len, &q), 0);
		ck_assert_msg(q.flags == get_flags[i].flags, "%s asked with flags %u", get_flags[i].what, q.flags);
		fk_answer_get(f, &f->d, 10, sum, q.flags & MCS_GET_HOLD ? 50 + i : 0, &l);
	}
	fk_expect_release(f, &f->d, "k", 55);
	fk_expect_release(f, &f->d, "k", 56);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_get_flags)
{
	struct fake *f = fake_start(s_get_flags, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	struct mcs_object_info *info = NULL;
	ck_assert_int_eq(mcs_locate(c, "k", &info), 0);
	ck_assert_uint_eq(info->size, 10);
	mcs_object_info_free(info);
	uint64_t size = 0;
	ck_assert_int_eq(mcs_get_size(c, "k", &size), 0);
	ck_assert_uint_eq(size, 10);
	void *p = NULL;
	size_t len = 0;
	ck_assert_int_eq(mcs_get_alloc(c, "k", &p, &len), 0);
	ck_assert_uint_eq(len, 10);
	uint8_t want[10], got[16];
	fk_value(1, want, sizeof(want));
	ck_assert_mem_eq(p, want, sizeof(want));
	free(p);
	ck_assert_int_eq(mcs_get(c, "k", got, sizeof(got)), 10);
	ck_assert_mem_eq(got, want, sizeof(want));
	struct mcs_view *v1 = NULL, *v2 = NULL;
	ck_assert_int_eq(mcs_get_view(c, "k", 0, &v1), 0);
	ck_assert_int_eq(mcs_get_view(c, "k", MCS_VIEW_NOVERIFY, &v2), 0);
	mcs_view_release(v1);
	mcs_view_release(v2);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

void add_api_tcases(Suite *s)
{
	TCase *tc = tcase_create("api");
	tcase_add_test(tc, test_put);
	tcase_add_test(tc, test_release_null);
	tcase_add_test(tc, test_release_real);
	tcase_add_loop_test(tc, test_view_outlives_handle, 0, 2);
	tcase_add_test(tc, test_fork_echild);
	tcase_add_test(tc, test_direct_link_to_a_standby);
	tcase_add_test(tc, test_opts_older);
	tcase_add_test(tc, test_opts_newer_and_none);
	tcase_add_test(tc, test_via_daemon_meta);
	tcase_add_test(tc, test_get_flags);
	suite_add_tcase(s, tc);
}
