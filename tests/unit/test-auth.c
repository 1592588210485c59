/* SPDX-License-Identifier: MIT */
/*
 * auth/: the key file, the handshake as both sides run it, and the
 * capability tokens against every way of forging or stretching one.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"

#define S(s) mcs_str_c(s)

static char dir[64];

static void setup(void)
{
	strcpy(dir, "/tmp/test-auth-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

static void write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	ck_assert_int_eq(fchmod(fd, mode), 0);
	close(fd);
}

/* A new key, written 0600, loaded with all three keys. */
static void make_keys(const char *name, struct mcs_keys *k)
{
	char line[128], path[128];
	ck_assert_int_eq(mcs_key_generate(line, sizeof(line)), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	write_file(path, line, 0600);
	const char *why = "unset";
	ck_assert_int_eq(mcs_keys_load(path, k, &why), 0);
	ck_assert_ptr_null(why);
	ck_assert(k->on && k->full);
}

START_TEST(test_key_file)
{
	struct mcs_keys k, k2;
	const char *why;
	char path[128], line[128];
	make_keys("a.key", &k);
	make_keys("b.key", &k2);
	/* fresh keys differ, and so do the three keys of one */
	ck_assert(memcmp(k.client, k2.client, MCS_KEY_LEN) != 0);
	ck_assert(memcmp(k.client, k.node, MCS_KEY_LEN) != 0 && memcmp(k.node, k.token, MCS_KEY_LEN) != 0);
	/* the same file gives the same keys */
	snprintf(path, sizeof(path), "%s/a.key", dir);
	ck_assert_int_eq(mcs_keys_load(path, &k2, &why), 0);
	ck_assert(memcmp(&k, &k2, sizeof(k)) == 0);
	/* others may read it: refused with a reason */
	ck_assert_int_eq(chmod(path, 0644), 0);
	ck_assert_int_eq(mcs_keys_load(path, &k2, &why), -EPERM);
	ck_assert_ptr_nonnull(why);
	ck_assert(!k2.on);
	/* the group may (a service's group reads it) */
	ck_assert_int_eq(chmod(path, 0640), 0);
	ck_assert_int_eq(mcs_keys_load(path, &k2, &why), 0);
	/* not a key: wrong tag, short, bad hex, trailing junk */
	const char *bad[] = {
		"mcstore-cluster-key-2 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
		"mcstore-cluster-key-1 00112233\n",
		"mcstore-cluster-key-1 zz112233445566778899aabbccddeeff00112233445566778899aabbccddeeff\n",
		"mcstore-cluster-key-1 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff junk\n",
		"",
	};
	snprintf(path, sizeof(path), "%s/bad.key", dir);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_file(path, bad[i], 0600);
		ck_assert_int_eq(mcs_keys_load(path, &k2, &why), -EINVAL);
		ck_assert_ptr_nonnull(why);
	}
	snprintf(line, sizeof(line), "%s/none.key", dir);
	ck_assert_int_eq(mcs_keys_load(line, &k2, &why), -ENOENT);
	/* a client holds the client key only */
	ck_assert_int_eq(mcs_keys_client(k.client, MCS_KEY_LEN, MCS_ROLE_CLIENT, &k2), 0);
	ck_assert(k2.on && !k2.full);
	ck_assert_int_eq(mcs_keys_client(k.client, 5, MCS_ROLE_CLIENT, &k2), -EPROTO);
	ck_assert_int_eq(mcs_keys_client(k.client, MCS_KEY_LEN, MCS_ROLE_NODE, &k2), -EPROTO);
	ck_assert_int_eq(mcs_keys_client(NULL, 0, MCS_ROLE_CLIENT, &k2), 0);
	ck_assert(!k2.on);
}
END_TEST

/* Runs the handshake between a server with keys sk and a client with ck
 * as role: the server's verdict on the proof (or the client's on the
 * server's proof). */
static int handshake(const struct mcs_keys *sk, const struct mcs_keys *ck, uint8_t role, int *ret_client)
{
	struct mcs_auth_peer p = { 0 };
	struct mcs_auth_client st;
	struct mcs_buf q, a;
	const char *why;
	mcs_buf_init(&q);
	mcs_buf_init(&a);
	mcs_auth_client_start(&st, role, &q);
	struct mcs_hdr h = { .opcode = MCS_OP_AUTH, .body_len = (uint32_t)q.len };
	int r = mcs_auth_serve(&p, sk, &h, q.p, &a, &why);
	*ret_client = 0;
	if (r == MCS_AUTH_ANSWER) {
		mcs_buf_reset(&q);
		*ret_client = mcs_auth_client_answer(&st, ck, 0, a.p, a.len, &q);
		if (*ret_client == 0) {
			mcs_buf_reset(&a);
			struct mcs_hdr h2 = { .opcode = MCS_OP_AUTH_PROOF, .body_len = (uint32_t)q.len };
			r = mcs_auth_serve(&p, sk, &h2, q.p, &a, &why);
			if (r == MCS_AUTH_ANSWER) {
				ck_assert_int_eq(p.state, MCS_AUTH_DONE);
				ck_assert_int_eq(p.role, role);
				/* then requests pass, and a second AUTH is refused */
				struct mcs_hdr h3 = { .opcode = MCS_OP_STAT };
				ck_assert_int_eq(mcs_auth_serve(&p, sk, &h3, NULL, &a, &why), MCS_AUTH_PASS);
				ck_assert_int_eq(mcs_auth_serve(&p, sk, &h, NULL, &a, &why), -EACCES);
			}
		}
	}
	mcs_buf_free(&q);
	mcs_buf_free(&a);
	return r;
}

START_TEST(test_handshake)
{
	struct mcs_keys k, other, client, none = { 0 };
	int cr;
	make_keys("a.key", &k);
	make_keys("b.key", &other);
	ck_assert_int_eq(mcs_keys_client(k.client, MCS_KEY_LEN, MCS_ROLE_CLIENT, &client), 0);
	/* the right keys, as a node and as a client */
	ck_assert_int_eq(handshake(&k, &k, MCS_ROLE_NODE, &cr), MCS_AUTH_ANSWER);
	ck_assert_int_eq(cr, 0);
	ck_assert_int_eq(handshake(&k, &client, MCS_ROLE_CLIENT, &cr), MCS_AUTH_ANSWER);
	ck_assert_int_eq(cr, 0);
	/* another cluster's key: the client finds the server's proof wrong */
	ck_assert_int_eq(handshake(&k, &other, MCS_ROLE_CLIENT, &cr), MCS_AUTH_ANSWER);
	ck_assert_int_eq(cr, -EACCES);
	/* a client key cannot pass for a node, nor for a reader */
	ck_assert_int_eq(handshake(&k, &client, MCS_ROLE_NODE, &cr), MCS_AUTH_ANSWER);
	ck_assert_int_eq(cr, -EACCES);
	ck_assert_int_eq(handshake(&k, &client, MCS_ROLE_READER, &cr), MCS_AUTH_ANSWER);
	ck_assert_int_eq(cr, -EACCES);
	/* a reader's key (what a daemon hands a read-only user) passes as a
	 * reader only */
	struct mcs_keys reader;
	ck_assert_ptr_nonnull(mcs_keys_for(&k, MCS_ROLE_READER));
	ck_assert_ptr_null(mcs_keys_for(&client, MCS_ROLE_READER));
	ck_assert_int_eq(mcs_keys_client(mcs_keys_for(&k, MCS_ROLE_READER), MCS_KEY_LEN, MCS_ROLE_READER, &reader), 0);
	ck_assert(memcmp(reader.client, k.client, MCS_KEY_LEN) != 0);
	ck_assert_int_eq(handshake(&k, &reader, MCS_ROLE_READER, &cr), MCS_AUTH_ANSWER);
	ck_assert_int_eq(cr, 0);
	ck_assert_int_eq(handshake(&k, &reader, MCS_ROLE_CLIENT, &cr), MCS_AUTH_ANSWER);
	ck_assert_int_eq(cr, -EACCES);
	/* a server without a key refuses AUTH; requests pass */
	ck_assert_int_eq(handshake(&none, &k, MCS_ROLE_NODE, &cr), -EOPNOTSUPP);

	/* a server with a key: a request first, a proof first, a forged proof */
	struct mcs_auth_peer p = { 0 };
	struct mcs_buf a;
	const char *why;
	mcs_buf_init(&a);
	struct mcs_hdr stat = { .opcode = MCS_OP_STAT };
	ck_assert_int_eq(mcs_auth_serve(&p, &k, &stat, NULL, &a, &why), -EACCES);
	ck_assert_ptr_nonnull(why);
	uint8_t mac[MCS_AUTH_MAC_LEN] = { 0 };
	struct mcs_buf pb;
	mcs_buf_init(&pb);
	mcs_enc_auth_proof_req(&pb, &(struct mcs_auth_proof_req){ { (const char *)mac, sizeof(mac) } });
	struct mcs_hdr proof = { .opcode = MCS_OP_AUTH_PROOF, .body_len = (uint32_t)pb.len };
	ck_assert_int_eq(mcs_auth_serve(&p, &k, &proof, pb.p, &a, &why), -EACCES);
	struct mcs_auth_client st;
	struct mcs_buf q;
	mcs_buf_init(&q);
	mcs_auth_client_start(&st, MCS_ROLE_CLIENT, &q);
	struct mcs_hdr auth = { .opcode = MCS_OP_AUTH, .body_len = (uint32_t)q.len };
	ck_assert_int_eq(mcs_auth_serve(&p, &k, &auth, q.p, &a, &why), MCS_AUTH_ANSWER);
	ck_assert_int_eq(mcs_auth_serve(&p, &k, &stat, NULL, &a, &why), -EACCES); /* before the proof */
	ck_assert_int_eq(mcs_auth_serve(&p, &k, &proof, pb.p, &a, &why), -EACCES); /* zeros */
	/* a server's own proof sent back as the client's (reflection) */
	struct mcs_auth_resp ar;
	ck_assert_int_eq(mcs_dec_auth_resp(a.p, a.len, &ar), 0);
	struct mcs_auth_peer p2 = { 0 };
	mcs_buf_reset(&a);
	ck_assert_int_eq(mcs_auth_serve(&p2, &k, &auth, q.p, &a, &why), MCS_AUTH_ANSWER);
	ck_assert_int_eq(mcs_dec_auth_resp(a.p, a.len, &ar), 0);
	mcs_buf_reset(&pb);
	mcs_enc_auth_proof_req(&pb, &(struct mcs_auth_proof_req){ ar.mac });
	proof.body_len = (uint32_t)pb.len;
	ck_assert_int_eq(mcs_auth_serve(&p2, &k, &proof, pb.p, &a, &why), -EACCES);
	/* a malformed AUTH */
	struct mcs_auth_peer p3 = { 0 };
	struct mcs_hdr junk = { .opcode = MCS_OP_AUTH, .body_len = 3 };
	ck_assert_int_eq(mcs_auth_serve(&p3, &k, &junk, (const uint8_t *)"abc", &a, &why), -EPROTO);
	mcs_buf_free(&a);
	mcs_buf_free(&pb);
	mcs_buf_free(&q);
}
END_TEST

START_TEST(test_tokens)
{
	struct mcs_keys k, other, client;
	make_keys("a.key", &k);
	make_keys("b.key", &other);
	ck_assert_int_eq(mcs_keys_client(k.client, MCS_KEY_LEN, MCS_ROLE_CLIENT, &client), 0);
	uint8_t tok[MCS_TOKEN_LEN];
	struct mcs_grant g = { .rights = MCS_TOK_READ, .off = 4096, .len = 8192, .expiry_ms = 1000000 };
	mcs_token_mint(&k, S("seg-0"), 7, S("127.0.0.1:5000"), &g, tok);
	struct mcs_str t = { (const char *)tok, MCS_TOKEN_LEN };
	const uint64_t now = 999999;
#define CHECK(kk, seg, inc, ep, tk, want, off, len, at) \
	mcs_token_check(kk, S(seg), inc, S(ep), tk, want, off, len, at)
	/* the whole grant, and parts of it */
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_READ, 4096, 8192, now), 0);
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_READ, 8192, 4096, now), 0);
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_READ, 4096, 1, 1000000), 0);
	/* outside it: before, after, longer, wrapping */
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_READ, 4095, 10, now), -EACCES);
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_READ, 12288, 1, now), -EACCES);
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_READ, 4096, 8193, now), -EACCES);
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_READ, UINT64_MAX, 2, now), -EACCES);
	/* other rights, segment, incarnation, endpoint, key; expired */
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_WRITE, 4096, 1, now), -EACCES);
	ck_assert_int_eq(CHECK(&k, "seg-1", 7, "127.0.0.1:5000", t, MCS_TOK_READ, 4096, 1, now), -EACCES);
	ck_assert_int_eq(CHECK(&k, "seg-0", 8, "127.0.0.1:5000", t, MCS_TOK_READ, 4096, 1, now), -EACCES);
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "10.1.1.1:5000", t, MCS_TOK_READ, 4096, 1, now), -EACCES);
	ck_assert_int_eq(CHECK(&other, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_READ, 4096, 1, now), -EACCES);
	ck_assert_int_eq(CHECK(&client, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_READ, 4096, 1, now), -EACCES);
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_READ, 4096, 1, 1000001), -EKEYEXPIRED);
	/* a token edited: every byte matters (rights, range, expiry, tag) */
	for (size_t i = 0; i < MCS_TOKEN_LEN; i++) {
		uint8_t forged[MCS_TOKEN_LEN];
		memcpy(forged, tok, sizeof(forged));
		forged[i] ^= 0x40;
		struct mcs_str f = { (const char *)forged, MCS_TOKEN_LEN };
		ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", f, MCS_TOK_READ | MCS_TOK_WRITE, 4096, 1,
				       now),
				 -EACCES);
	}
	/* none, or of another length */
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", S(""), MCS_TOK_READ, 4096, 1, now), -EACCES);
	t.len--;
	ck_assert_int_eq(CHECK(&k, "seg-0", 7, "127.0.0.1:5000", t, MCS_TOK_READ, 4096, 1, now), -EACCES);
}
END_TEST

static Suite *auth_suite(void)
{
	Suite *s = suite_create("auth");
	TCase *tc = tcase_create("auth");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_key_file);
	tcase_add_test(tc, test_handshake);
	tcase_add_test(tc, test_tokens);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(auth_suite());
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? 1 : 0;
}
