/* SPDX-License-Identifier: MIT */
/*
 * Unit tests for libmcstore: its links (round trips, request ids, the
 * read-ahead, timeouts, broken streams, answers carrying an fd), its batch
 * pipelines, and the cursors and checks of iov.c (test-libmcstore-batch.c),
 * the refusals (-errors.c) and the API's promises (-api.c). All drive the library
 * (linked from its objects, so internal functions can be called and its
 * state looked at) against the scripted daemon of libmcstore-fake.c.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "tests/unit/libmcstore-fake.h"

/* in test-libmcstore-batch.c, -errors.c and -api.c */
void add_batch_tcases(Suite *s);
void add_error_tcases(Suite *s);
void add_failover_tcases(Suite *s);
void add_api_tcases(Suite *s);

/* A LIST answer of n keys to req appended to b; big keys make a frame far
 * larger than the read-ahead. */
#define BIG_KEYS 1000
static void big_key(unsigned i, char *out)
{
	snprintf(out, 128, "key-%04u-%0110u", i, i * 7);
}
static void add_page(struct mcs_buf *b, const struct mcs_hdr *req, unsigned n, bool big)
{
	static char names[BIG_KEYS][128];
	struct mcs_str *keys = calloc(n, sizeof(*keys));
	ck_assert_ptr_nonnull(keys);
	for (unsigned i = 0; i < n; i++) {
		if (big)
			big_key(i, names[i]);
		else
			snprintf(names[i], sizeof(names[i]), "k%u", i);
		keys[i] = mcs_str_c(names[i]);
	}
	fk_frame(b, req, 0);
	struct mcs_list_resp lr = { .next_cursor = 9, .n_keys = n, .keys = keys };
	mcs_enc_list_resp(b, &lr);
	ck_assert_int_eq(mcs_frame_end(b), 0);
	free(keys);
}

static void check_page(const struct mcs_key_page *pg, unsigned n, bool big)
{
	ck_assert_uint_eq(pg->n_keys, n);
	ck_assert_uint_eq(pg->next_cursor, 9);
	for (unsigned i = 0; i < n; i++) {
		char want[128];
		if (big)
			big_key(i, want);
		else
			snprintf(want, sizeof(want), "k%u", i);
		ck_assert_str_eq(pg->keys[i], want);
	}
}

/* ---- links: round trips and request ids ---------------------------------- */

static void s_roundtrip(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_expect_key(f, "k");
	uint64_t id = f->h.req_id;
	fk_answer(f, &f->d, 0);
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_expect_key(f, "gone");
	ck_assert_uint_eq(f->h.req_id, id + 1);
	fk_answer(f, &f->d, -ENOENT);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_link_roundtrip)
{
	struct fake *f = fake_start(s_roundtrip, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	ck_assert_int_eq(mcs_exists(c, "k"), 1);
	ck_assert_int_eq(mcs_exists(c, "gone"), 0);
	ck_assert_ptr_null(mcs_client_unref(c));
	fake_join(f);
}
END_TEST

/* Late answers come before the one asked for: in the same recv, or alone. */
static void s_skip_late(struct fake *f)
{
	struct mcs_buf b;
	mcs_buf_init(&b);
	fk_expect(f, &f->d, MCS_OP_EXIST); /* "a": answered with "b" */
	struct mcs_hdr late = f->h;
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_expect_key(f, "b");
	fk_add_status(&b, &late, 0);
	fk_add_status(&b, &f->h, -ENOENT);
	fk_send_raw(&f->d, b.p, b.len);

	fk_expect(f, &f->d, MCS_OP_EXIST); /* "c": alone before "d"'s */
	late = f->h;
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_expect_key(f, "d");
	mcs_buf_reset(&b);
	fk_add_status(&b, &late, -ENOENT);
	fk_send_drained(&f->d, b.p, b.len);
	fk_answer(f, &f->d, 0);
	mcs_buf_free(&b);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_link_skip_late)
{
	struct fake *f = fake_start(s_skip_late, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	fake_set_timeout(c, FK_SHORT_MS);
	ck_assert_int_eq(mcs_exists(c, "a"), -ETIMEDOUT);
	fake_set_timeout(c, FK_LONG_MS);
	ck_assert_int_eq(mcs_exists(c, "b"), 0);
	fake_set_timeout(c, FK_SHORT_MS);
	ck_assert_int_eq(mcs_exists(c, "c"), -ETIMEDOUT);
	fake_set_timeout(c, FK_LONG_MS);
	ck_assert_int_eq(mcs_exists(c, "d"), 1);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* ---- links: the read-ahead ----------------------------------------------- */

/* A byte, the rest of the header but one, its last byte with the body's
 * first, then the body a byte at a time: each in a recv of its own. */
static void s_split(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_LIST);
	struct mcs_list_req q;
	ck_assert_int_eq(mcs_dec_list_req(f->body, f->h.body_len, &q), 0);
	ck_assert_uint_eq(q.limit, 10);
	ck_assert(mcs_str_eq(q.prefix, mcs_str_c("k")));
	mcs_buf_reset(&f->out);
	add_page(&f->out, &f->h, 3, false);
	size_t at = 0, cuts[] = { 1, MCS_HDR_SIZE - 1, MCS_HDR_SIZE + 1 };
	for (size_t i = 0; i < MCS_ARRAY_SIZE(cuts); i++) {
		fk_send_drained(&f->d, f->out.p + at, cuts[i] - at);
		at = cuts[i];
	}
	for (; at < f->out.len; at++)
		fk_send_drained(&f->d, f->out.p + at, 1);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_link_split_frame)
{
	struct fake *f = fake_start(s_split, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	struct mcs_key_page *pg = NULL;
	ck_assert_int_eq(mcs_list_keys(c, "k", 0, 10, &pg), 0);
	check_page(pg, 3, false);
	mcs_key_page_free(pg);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* A late answer, a LIST answer larger than the read-ahead, and the answer to the
 * request after it, all queued at once: the large body is read in place
 * and no byte beyond it. */
static void s_big(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_EXIST);
	struct mcs_hdr late = f->h;
	fk_expect(f, &f->d, MCS_OP_LIST);
	struct mcs_hdr next = f->h;
	next.opcode = MCS_OP_EXIST;
	next.req_id++;
	struct mcs_buf b;
	mcs_buf_init(&b);
	fk_add_status(&b, &late, -ENOENT);
	add_page(&b, &f->h, BIG_KEYS, true);
	ck_assert_uint_gt(b.len - 2 * MCS_HDR_SIZE, RA_SIZE);
	fk_add_status(&b, &next, 0);
	fk_send_raw(&f->d, b.p, b.len);
	mcs_buf_free(&b);
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_expect_key(f, "after");
	ck_assert_uint_eq(f->h.req_id, next.req_id);
	fk_expect_eof(f, &f->d);
}

START_TEST(test_link_big_frame)
{
	struct fake *f = fake_start(s_big, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	fake_set_timeout(c, FK_SHORT_MS);
	ck_assert_int_eq(mcs_exists(c, "late"), -ETIMEDOUT);
	fake_set_timeout(c, FK_LONG_MS);
	struct mcs_key_page *pg = NULL;
	ck_assert_int_eq(mcs_list_keys(c, NULL, 0, BIG_KEYS, &pg), 0);
	check_page(pg, BIG_KEYS, true);
	mcs_key_page_free(pg);
	ck_assert_int_eq(mcs_exists(c, "after"), 1);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* ---- links: timeouts ----------------------------------------------------- */

/* Where a small answer is cut when its call times out: the part is queued
 * before the call (see libmcstore-fake.h), the rest comes with the answer
 * to the next request. */
static const size_t small_cuts[] = { 1, 12, MCS_HDR_SIZE - 1, MCS_HDR_SIZE, MCS_HDR_SIZE + 5, 0 /* all but one */ };

static void s_small_timeout(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_answer(f, &f->d, 0);
	for (size_t i = 0; i < MCS_ARRAY_SIZE(small_cuts); i++) {
		struct mcs_hdr list = fk_next(f, MCS_OP_LIST);
		struct mcs_buf b;
		mcs_buf_init(&b);
		add_page(&b, &list, 3, false);
		size_t cut = small_cuts[i] ? small_cuts[i] : b.len - 1;
		fk_wait_idle(f);
		fk_send_raw(&f->d, b.p, cut);
		fk_synced(f);
		fk_expect(f, &f->d, MCS_OP_LIST);
		ck_assert_uint_eq(f->h.req_id, list.req_id);
		fk_expect(f, &f->d, MCS_OP_EXIST);
		fk_expect_key(f, "next");
		fk_add_status(&b, &f->h, 0);
		fk_send_raw(&f->d, b.p + cut, b.len - cut);
		mcs_buf_free(&b);
	}
	fk_expect_eof(f, &f->d);
}

START_TEST(test_link_small_timeout_in_step)
{
	struct fake *f = fake_start(s_small_timeout, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	ck_assert_int_eq(mcs_exists(c, "first"), 1);
	for (size_t i = 0; i < MCS_ARRAY_SIZE(small_cuts); i++) {
		struct mcs_key_page *pg = FK_POISON;
		fake_sync(f);
		fake_set_timeout(c, FK_SHORT_MS);
		ck_assert_int_eq(mcs_list_keys(c, NULL, 0, 10, &pg), -ETIMEDOUT);
		ck_assert_ptr_eq(pg, FK_POISON);
		ck_assert(!c->daemon.broken);
		if (small_cuts[i])
			ck_assert_uint_eq(c->daemon.ra.len - c->daemon.ra.off, small_cuts[i]);
		fake_set_timeout(c, FK_LONG_MS);
		ck_assert_msg(mcs_exists(c, "next") == 1, "after a cut at %zu", small_cuts[i]);
	}
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

static void s_big_timeout(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_answer(f, &f->d, 0);
	struct mcs_hdr list = fk_next(f, MCS_OP_LIST);
	mcs_buf_reset(&f->out);
	add_page(&f->out, &list, BIG_KEYS, true);
	fk_wait_idle(f);
	fk_send_raw(&f->d, f->out.p, MCS_HDR_SIZE + 1000);
	fk_synced(f);
	fk_expect(f, &f->d, MCS_OP_LIST);
	/* the stream is out of step: nothing more may come on it */
	fk_expect_eof(f, &f->d);
}

START_TEST(test_link_big_timeout_breaks)
{
	struct fake *f = fake_start(s_big_timeout, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	ck_assert_int_eq(mcs_exists(c, "first"), 1);
	struct mcs_key_page *pg = FK_POISON;
	fake_sync(f);
	fake_set_timeout(c, FK_SHORT_MS);
	ck_assert_int_eq(mcs_list_keys(c, NULL, 0, BIG_KEYS, &pg), -ETIMEDOUT);
	ck_assert_ptr_eq(pg, FK_POISON);
	ck_assert(c->daemon.broken);
	fake_set_timeout(c, FK_LONG_MS);
	ck_assert_int_eq(mcs_exists(c, "next"), -ENOTCONN);
	ck_assert_int_eq(mcs_list_keys(c, NULL, 0, 1, &pg), -ENOTCONN);
	ck_assert_ptr_eq(pg, FK_POISON);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* ---- links: broken streams ----------------------------------------------- */

/* What the fake answers an EXIST with, and what the client says of it. */
static const struct {
	const char *what;
	int status;
} garbage[] = {
	{ "bad magic", -EPROTO },
	{ "protocol version 1", -EPROTONOSUPPORT },
	{ "a body over the limit", -EMSGSIZE },
	{ "a request, not an answer", -EPROTO },
	{ "the answer to a request not sent yet", -EPROTO },
};

static void s_garbage(struct fake *f)
{
	int i = *(int *)f->arg;
	fk_expect(f, &f->d, MCS_OP_BUF_ALLOC);
	struct mcs_segment ub = fk_answer_buf_alloc(f, &f->d, 3, 4096, 1);
	fk_expect(f, &f->d, MCS_OP_EXIST);
	struct mcs_hdr h = { .magic = MCS_PROTO_MAGIC, .version = MCS_PROTO_VERSION, .flags = MCS_F_RESPONSE,
			     .opcode = MCS_OP_EXIST, .req_id = f->h.req_id };
	if (i == 0)
		h.magic = 0x47415242;
	else if (i == 1)
		h.version = 1;
	else if (i == 2)
		h.body_len = MCS_DEFAULT_MAX_BODY + 1;
	else if (i == 3)
		h.flags = 0;
	else
		h.req_id++;
	uint8_t hb[MCS_HDR_SIZE];
	mcs_hdr_encode(&h, hb);
	fk_send_raw(&f->d, hb, sizeof(hb));
	/* no frame more: not even the BUF_FREE of the buffer */
	fk_expect_eof(f, &f->d);
	mcs_segment_close(&ub);
}

START_TEST(test_link_garbage_breaks)
{
	struct fake *f = fake_start(s_garbage, 0, &_i);
	struct mcs_client *c = fake_client(f, 0);
	void *buf = NULL;
	ck_assert_int_eq(mcs_buffer_alloc(c, 4096, &buf), 0);
	ck_assert_msg(mcs_exists(c, "k") == garbage[_i].status, "after %s", garbage[_i].what);
	ck_assert(c->daemon.broken);
	char out[16];
	uint64_t size = 7;
	struct mcs_stat *st = FK_POISON;
	void *buf2 = FK_POISON;
	ck_assert_int_eq(mcs_exists(c, "k"), -ENOTCONN);
	ck_assert_int_eq(mcs_get(c, "k", out, sizeof(out)), -ENOTCONN);
	ck_assert_int_eq(mcs_put(c, "k", "v", 1, NULL, NULL), -ENOTCONN);
	ck_assert_int_eq(mcs_get_size(c, "k", &size), -ENOTCONN);
	ck_assert_int_eq(mcs_stat(c, &st), -ENOTCONN);
	ck_assert_int_eq(mcs_buffer_alloc(c, 4096, &buf2), -ENOTCONN);
	ck_assert_uint_eq(size, 7);
	ck_assert_ptr_eq(st, FK_POISON);
	ck_assert_ptr_eq(buf2, FK_POISON);
	ck_assert_ptr_null(mcs_buffer_free(c, buf));
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* ---- links: answers carrying an fd after late frames --------------------- */

/* tests/integration/fake-daemon.c has the late frame cut in two, its rest
 * coming with the fd answer. These go further: a whole late answer already
 * in the read-ahead; two late answers, one in the read-ahead and one on
 * the socket; the fd answer itself cut by a timeout. */

/* The fake's side of alloc_in_step(): the EXIST, the BUF_FREE of buffer
 * id, the close. */
static void in_step_tail(struct fake *f, uint32_t id)
{
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_expect_key(f, "c");
	fk_answer(f, &f->d, 0);
	fk_expect(f, &f->d, MCS_OP_BUF_FREE);
	struct mcs_buf_free_req q;
	ck_assert_int_eq(mcs_dec_buf_free_req(f->body, f->h.body_len, &q), 0);
	ck_assert_uint_eq(q.buf_id, id);
	fk_answer(f, &f->d, 0);
	fk_expect_eof(f, &f->d);
}

static void s_fd_after_buffered(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_EXIST); /* "a" */
	struct mcs_hdr late = f->h;
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_expect_key(f, "b");
	struct mcs_buf b;
	mcs_buf_init(&b);
	fk_add_status(&b, &f->h, 0);          /* "b", then "a"'s, in one recv */
	fk_add_status(&b, &late, -ENOENT);
	fk_send_raw(&f->d, b.p, b.len);
	mcs_buf_free(&b);
	fk_expect(f, &f->d, MCS_OP_BUF_ALLOC);
	struct mcs_segment ub = fk_answer_buf_alloc(f, &f->d, 5, 65536, 1);
	in_step_tail(f, 5);
	mcs_segment_close(&ub);
}

static void check_buffer(const void *p, size_t n, unsigned seed)
{
	uint8_t *v = malloc(n);
	ck_assert_ptr_nonnull(v);
	fk_value(seed, v, n);
	ck_assert_mem_eq(p, v, n);
	free(v);
}

/* After late answers: the fd answer's buffer holds the fake's bytes, and
 * the link is in step. */
static void alloc_in_step(struct mcs_client *c, size_t size, unsigned seed)
{
	void *buf = NULL;
	ck_assert_int_eq(mcs_buffer_alloc(c, size, &buf), 0);
	check_buffer(buf, size, seed);
	ck_assert_int_eq(mcs_exists(c, "c"), 1);
	ck_assert_ptr_null(mcs_buffer_free(c, buf));
}

START_TEST(test_fd_after_buffered_late)
{
	struct fake *f = fake_start(s_fd_after_buffered, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	fake_set_timeout(c, FK_SHORT_MS);
	ck_assert_int_eq(mcs_exists(c, "a"), -ETIMEDOUT);
	fake_set_timeout(c, FK_LONG_MS);
	ck_assert_int_eq(mcs_exists(c, "b"), 1);
	/* "a"'s answer came with it and waits in the read-ahead */
	ck_assert_uint_eq(c->daemon.ra.len - c->daemon.ra.off, MCS_HDR_SIZE);
	alloc_in_step(c, 65536, 1);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* "a" late and cut in two, "b" late with a body: the fd answer's read
 * completes "a" from the read-ahead, reads all of "b" from the socket (no
 * further), then takes the fd. */
static void s_fd_after_two(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_EXIST); /* "a" */
	struct mcs_buf late;
	mcs_buf_init(&late);
	fk_add_status(&late, &f->h, 0);
	struct mcs_hdr list = fk_next(f, MCS_OP_LIST);
	add_page(&late, &list, 3, false);
	fk_wait_idle(f);
	fk_send_raw(&f->d, late.p, 10);    /* a piece of "a"'s answer */
	fk_synced(f);
	fk_expect(f, &f->d, MCS_OP_LIST);  /* "b", while the piece waits */
	fk_expect(f, &f->d, MCS_OP_BUF_ALLOC);
	fk_send_raw(&f->d, late.p + 10, late.len - 10);
	struct mcs_segment ub = fk_answer_buf_alloc(f, &f->d, 6, 4096, 2);
	mcs_buf_free(&late);
	in_step_tail(f, 6);
	mcs_segment_close(&ub);
}

START_TEST(test_fd_after_two_late)
{
	struct fake *f = fake_start(s_fd_after_two, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	struct mcs_key_page *pg = FK_POISON;
	fake_set_timeout(c, FK_SHORT_MS);
	ck_assert_int_eq(mcs_exists(c, "a"), -ETIMEDOUT);
	fake_sync(f);
	ck_assert_int_eq(mcs_list_keys(c, NULL, 0, 10, &pg), -ETIMEDOUT);
	ck_assert_uint_eq(c->daemon.ra.len - c->daemon.ra.off, 10);
	fake_set_timeout(c, FK_LONG_MS);
	alloc_in_step(c, 4096, 2);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

/* The fd answer cut after its first bytes (which carry the fd): the call
 * times out, the fd is closed, and the rest is skipped later like any
 * late answer. */
static void s_fd_cut(struct fake *f)
{
	fk_expect(f, &f->d, MCS_OP_EXIST);
	fk_answer(f, &f->d, 0);
	struct mcs_hdr alloc = fk_next(f, MCS_OP_BUF_ALLOC);
	struct mcs_segment ub = { .fd = -1 };
	bool fb;
	ck_assert_int_eq(mcs_segment_create("fake-buf", 4096, MCS_SEG_NORMAL, false, &ub, &fb), 0);
	struct mcs_buf b;
	mcs_buf_init(&b);
	fk_frame(&b, &alloc, 0);
	struct mcs_buf_alloc_resp a = { .buf_id = 8, .size = 4096 };
	mcs_enc_buf_alloc_resp(&b, &a);
	ck_assert_int_eq(mcs_frame_end(&b), 0);
	fk_wait_idle(f);
	fk_send_fd(&f->d, b.p, 10, ub.fd);
	fk_synced(f);
	fk_expect(f, &f->d, MCS_OP_BUF_ALLOC);
	ck_assert_uint_eq(f->h.req_id, alloc.req_id);
	fk_expect(f, &f->d, MCS_OP_EXIST);
	mcs_segment_close(&ub); /* (only now: the client counts its fds) */
	fk_add_status(&b, &f->h, 0);
	fk_send_raw(&f->d, b.p + 10, b.len - 10);
	mcs_buf_free(&b);
	fk_expect(f, &f->d, MCS_OP_BUF_ALLOC);
	ub = fk_answer_buf_alloc(f, &f->d, 9, 4096, 3);
	fk_expect(f, &f->d, MCS_OP_BUF_FREE);
	fk_answer(f, &f->d, 0);
	fk_expect_eof(f, &f->d);
	mcs_segment_close(&ub);
}

START_TEST(test_fd_answer_cut)
{
	struct fake *f = fake_start(s_fd_cut, 0, NULL);
	struct mcs_client *c = fake_client(f, 0);
	int fds = fake_count_fds(); /* (the fake waits for "first") */
	ck_assert_int_eq(mcs_exists(c, "first"), 1);
	void *buf = FK_POISON;
	fake_sync(f);
	fake_set_timeout(c, FK_SHORT_MS);
	ck_assert_int_eq(mcs_buffer_alloc(c, 4096, &buf), -ETIMEDOUT);
	ck_assert_ptr_eq(buf, FK_POISON);
	ck_assert(!c->daemon.broken);
	ck_assert_uint_eq(c->daemon.ra.len - c->daemon.ra.off, 10);
	/* the one more is the fake's memfd, which it keeps until the EXIST;
	 * the client's copy, which came with the 10 bytes, is closed */
	ck_assert_int_eq(fake_count_fds(), fds + 1);
	fake_set_timeout(c, FK_LONG_MS);
	ck_assert_int_eq(mcs_exists(c, "x"), 1);
	ck_assert_int_eq(mcs_buffer_alloc(c, 4096, &buf), 0);
	check_buffer(buf, 4096, 3);
	mcs_buffer_free(c, buf);
	mcs_client_unref(c);
	fake_join(f);
}
END_TEST

static Suite *libmcstore_suite(void)
{
	Suite *s = suite_create("libmcstore");
	TCase *tc = tcase_create("link");
	tcase_add_test(tc, test_link_roundtrip);
	tcase_add_test(tc, test_link_skip_late);
	tcase_add_test(tc, test_link_split_frame);
	tcase_add_test(tc, test_link_big_frame);
	tcase_add_test(tc, test_link_small_timeout_in_step);
	tcase_add_test(tc, test_link_big_timeout_breaks);
	tcase_add_loop_test(tc, test_link_garbage_breaks, 0, (int)MCS_ARRAY_SIZE(garbage));
	tcase_add_test(tc, test_fd_after_buffered_late);
	tcase_add_test(tc, test_fd_after_two_late);
	tcase_add_test(tc, test_fd_answer_cut);
	suite_add_tcase(s, tc);

	add_batch_tcases(s);
	add_error_tcases(s);
	add_failover_tcases(s);
	add_api_tcases(s);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(libmcstore_suite());
	srunner_set_fork_status(sr, CK_FORK);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
