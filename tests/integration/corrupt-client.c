/* SPDX-License-Identifier: MIT */
/*
 * A test client for checksum verification (t-corrupt.sh). It damages
 * stored bytes the way a stray write would: a client maps its node's
 * segment read-write, a view's iov_base points into it, so casting the
 * const away lets it flip a byte of the local replica in place. Then it
 * checks what every read path makes of it.
 *
 * A key names its size after its last '.' ("solo.1048579"); its value
 * derives from the key, so any process can tell right bytes from wrong.
 * A key with "stripe" in its name must be striped (a view has pieces).
 *
 *   corrupt-client SOCKET put KEY [REPLICAS [LOCATION...]]
 *   corrupt-client SOCKET flip KEY [OFFSET]     xor 0xff into byte OFFSET
 *                                               (default size/2) of the local replica
 *   corrupt-client SOCKET expect KEY=STATE...   STATE ok or corrupt: mcs_get, mcs_getv,
 *                                               mcs_get_alloc, a get into mcs_buffer_alloc
 *                                               memory, and one mcs_get_batch of all keys
 *   corrupt-client SOCKET view KEY STATE        mcs_get_view: ok (the bytes match) or corrupt
 *                                               (then the key can be removed: no hold is left)
 *   corrupt-client SOCKET viewnv KEY=STATE...   views with MCS_VIEW_NOVERIFY (one by one and in
 *                                               one batch) succeed either way; mcs_view_verify
 *                                               says ok or -EBADMSG, as does a verified
 *                                               batch; corrupt keys are then removed
 *   corrupt-client SOCKET reverify KEY          damage an intact object under a verified view and
 *                                               repair it: mcs_view_verify follows
 *
 * Prints what failed; exits 0 only if everything matched.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "mcstore.h"

static int failures;

#define expect(cond, ...)                                                    \
	do {                                                                 \
		if (!(cond)) {                                               \
			failures++;                                          \
			fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
		}                                                            \
	} while (0)

static size_t size_of(const char *key)
{
	const char *dot = strrchr(key, '.');
	if (!dot) {
		fprintf(stderr, "key %s does not name its size (NAME.SIZE)\n", key);
		exit(2);
	}
	return (size_t)strtoull(dot + 1, NULL, 10);
}

static uint8_t *value(const char *key, size_t n)
{
	uint8_t *p = malloc(n ? n : 1);
	if (!p)
		exit(2);
	uint64_t x = 1469598103934665603ull;
	for (const char *k = key; *k; k++)
		x = (x ^ (unsigned char)*k) * 1099511628211ull;
	for (size_t i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		p[i] = (uint8_t)x;
	}
	return p;
}

static bool is_ok(const char *state)
{
	if (!strcmp(state, "ok"))
		return true;
	if (strcmp(state, "corrupt")) {
		fprintf(stderr, "state %s: ok or corrupt\n", state);
		exit(2);
	}
	return false;
}

/* KEY=STATE arguments: the keys (the '=' cut off) and their states */
static const char **parse_states(int n, char **args, bool **ret_ok)
{
	const char **keys = calloc((size_t)n, sizeof(*keys));
	bool *ok = calloc((size_t)n, sizeof(*ok));
	if (!keys || !ok)
		exit(2);
	for (int i = 0; i < n; i++) {
		char *eq = strrchr(args[i], '=');
		if (!eq) {
			fprintf(stderr, "%s: KEY=STATE\n", args[i]);
			exit(2);
		}
		*eq = 0;
		keys[i] = args[i];
		ok[i] = is_ok(eq + 1);
	}
	*ret_ok = ok;
	return keys;
}

static void do_put(struct mcs_client *c, const char *key, int argc, char **argv)
{
	size_t n = size_of(key);
	uint8_t *v = value(key, n);
	struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = 1 };
	if (argc > 0)
		cfg.replica_num = (uint32_t)strtoul(argv[0], NULL, 10);
	if (argc > 1) {
		cfg.locations = (const char *const *)argv + 1;
		cfg.n_locations = (size_t)argc - 1;
	}
	unsigned reps = 0;
	int r = mcs_put(c, key, v, n, &cfg, &reps);
	expect(r == 0 && reps == cfg.replica_num, "put %s: %d (%s), %u replicas, wanted %u", key, r, mcs_strerror(r),
	       reps, cfg.replica_num);
	free(v);
}

/* The byte at offset off of a view, through its pieces. */
static uint8_t *byte_at(const struct mcs_view *v, size_t off)
{
	for (size_t i = 0; i < v->n_iov; i++) {
		if (off < v->iov[i].iov_len)
			return (uint8_t *)v->iov[i].iov_base + off;
		off -= v->iov[i].iov_len;
	}
	return NULL;
}

static void do_flip(struct mcs_client *c, const char *key, const char *offset)
{
	size_t n = size_of(key), off = offset ? (size_t)strtoull(offset, NULL, 10) : n / 2;
	struct mcs_view *v = NULL;
	int r = mcs_get_view(c, key, 0, &v);
	expect(r == 0, "view of %s to damage it: %s", key, mcs_strerror(r));
	if (r < 0)
		return;
	uint8_t *p = byte_at(v, off);
	expect(p && v->size == n, "view of %s: size %zu, offset %zu", key, v->size, off);
	if (p)
		*p ^= 0xff; /* the segment is mapped read-write: the view is read-only by contract only */
	mcs_view_release(v);
}

/* Every copying read of one key, one at a time. */
static void get_one(struct mcs_client *c, const char *key, bool ok, uint8_t *shared)
{
	size_t n = size_of(key);
	uint8_t *want = value(key, n), *buf = malloc(n + 1);
	if (!buf)
		exit(2);
	memset(buf, 0, n + 1);
	ssize_t r = mcs_get(c, key, buf, n + 1);
	if (ok)
		expect(r == (ssize_t)n && !memcmp(buf, want, n), "mcs_get %s: %zd (%s), wanted %zu right bytes", key,
		       r, r < 0 ? mcs_strerror((int)r) : "", n);
	else
		expect(r == -EBADMSG, "mcs_get %s: %zd (%s), wanted -EBADMSG", key, r,
		       r < 0 ? mcs_strerror((int)r) : "data");

	/* three pieces of uneven sizes */
	memset(buf, 0, n + 1);
	size_t a = n / 3, b = n / 2;
	struct iovec iov[3] = { { buf, a }, { buf + a, b - a }, { buf + b, n + 1 - b } };
	r = mcs_getv(c, key, iov, 3);
	if (ok)
		expect(r == (ssize_t)n && !memcmp(buf, want, n), "mcs_getv %s: %zd, wanted %zu right bytes", key, r, n);
	else
		expect(r == -EBADMSG, "mcs_getv %s: %zd, wanted -EBADMSG", key, r);

	void *got = NULL;
	size_t len = 0;
	int ri = mcs_get_alloc(c, key, &got, &len);
	if (ok)
		expect(ri == 0 && len == n && !memcmp(got, want, n), "mcs_get_alloc %s: %d (%s), %zu bytes", key, ri,
		       mcs_strerror(ri), len);
	else
		expect(ri == -EBADMSG && !got, "mcs_get_alloc %s: %d (%s), wanted -EBADMSG", key, ri,
		       mcs_strerror(ri));
	free(got);

	/* into memory shared with the daemon: a remote replica lands there
	 * straight from the other node and is hashed in place */
	memset(shared, 0, n);
	r = mcs_get(c, key, shared, n);
	if (ok)
		expect(r == (ssize_t)n && !memcmp(shared, want, n), "mcs_get %s into a shared buffer: %zd", key, r);
	else
		expect(r == -EBADMSG, "mcs_get %s into a shared buffer: %zd, wanted -EBADMSG", key, r);
	free(want);
	free(buf);
}

static void do_expect(struct mcs_client *c, int n, char **args)
{
	bool *ok;
	const char **keys = parse_states(n, args, &ok);
	struct iovec *bufs = calloc((size_t)n, sizeof(*bufs));
	ssize_t *res = calloc((size_t)n, sizeof(*res));
	if (!bufs || !res)
		exit(2);
	size_t biggest = 1;
	for (int i = 0; i < n; i++)
		if (size_of(keys[i]) > biggest)
			biggest = size_of(keys[i]);
	void *shared;
	int r = mcs_buffer_alloc(c, biggest, &shared);
	expect(r == 0, "mcs_buffer_alloc %zu: %s", biggest, mcs_strerror(r));
	if (r < 0)
		exit(1);
	for (int i = 0; i < n; i++)
		get_one(c, keys[i], ok[i], shared);

	int good = 0;
	for (int i = 0; i < n; i++) {
		bufs[i].iov_len = size_of(keys[i]);
		bufs[i].iov_base = calloc(1, bufs[i].iov_len + 1);
		good += ok[i];
	}
	r = mcs_get_batch(c, (size_t)n, keys, bufs, res);
	expect(r == good, "mcs_get_batch: %d (%s), wanted %d", r, r < 0 ? mcs_strerror(r) : "keys", good);
	for (int i = 0; i < n; i++) {
		size_t sz = size_of(keys[i]);
		uint8_t *want = value(keys[i], sz);
		if (ok[i])
			expect(res[i] == (ssize_t)sz && !memcmp(bufs[i].iov_base, want, sz),
			       "mcs_get_batch %s: %zd, wanted %zu right bytes", keys[i], res[i], sz);
		else
			expect(res[i] == -EBADMSG, "mcs_get_batch %s: %zd, wanted -EBADMSG", keys[i], res[i]);
		free(want);
		free(bufs[i].iov_base);
	}
	mcs_buffer_free(c, shared);
	free(keys);
	free(ok);
	free(bufs);
	free(res);
}

static bool view_matches(const struct mcs_view *v, const char *key)
{
	size_t n = size_of(key);
	expect(!strstr(key, "stripe") || v->n_iov > 1, "view of %s: %zu piece(s), wanted stripes", key, v->n_iov);
	if (v->size != n)
		return false;
	uint8_t *want = value(key, n), *p = want;
	bool same = true;
	for (size_t i = 0; i < v->n_iov && same; i++) {
		same = (size_t)(p - want) + v->iov[i].iov_len <= n && !memcmp(p, v->iov[i].iov_base, v->iov[i].iov_len);
		p += v->iov[i].iov_len;
	}
	same = same && (size_t)(p - want) == n;
	free(want);
	return same;
}

/* Remove key, waiting out the read lease of the last get (a hold would
 * never go away while this handle is open). */
static int remove_soon(struct mcs_client *c, const char *key)
{
	int r = -EBUSY;
	for (int i = 0; i < 3000 && r == -EBUSY; i++) {
		r = mcs_remove(c, key, 0);
		if (r == -EBUSY)
			nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	return r;
}

static void do_view(struct mcs_client *c, const char *key, bool ok)
{
	size_t n = size_of(key);
	struct mcs_view *v = (struct mcs_view *)0x1;
	int r = mcs_get_view(c, key, 0, &v);
	if (!ok) {
		expect(r == -EBADMSG, "mcs_get_view %s: %d (%s), wanted -EBADMSG", key, r,
		       mcs_strerror(r));
		expect(v == (struct mcs_view *)0x1, "a failed mcs_get_view set *ret");
		if (r == 0)
			mcs_view_release(v);
		r = remove_soon(c, key);
		expect(r == 0, "remove %s after the failed view: %d (%s)", key, r, mcs_strerror(r));
		expect(mcs_exists(c, key) == 0, "%s still exists after its removal", key);
		return;
	}
	expect(r == 0, "mcs_get_view %s: %d (%s)", key, r, mcs_strerror(r));
	if (r < 0)
		return;
	expect(v->size == n && view_matches(v, key), "view of %s: size %zu, wanted %zu right bytes", key, v->size, n);
	mcs_view_release(v);
}

static void do_viewnv(struct mcs_client *c, int n, char **args)
{
	bool *ok;
	const char **keys = parse_states(n, args, &ok);
	struct mcs_view **v = calloc((size_t)n, sizeof(*v)), *bad = (struct mcs_view *)0x1;
	int *res = calloc((size_t)n, sizeof(*res));
	if (!v || !res)
		exit(2);
	int want_ok = 0;
	for (int i = 0; i < n; i++) {
		want_ok += ok[i];
		int r = mcs_get_view(c, keys[i], MCS_VIEW_NOVERIFY, &v[i]);
		expect(r == 0, "unverified view of %s: %d (%s)", keys[i], r, mcs_strerror(r));
		if (r < 0)
			continue;
		expect(v[i]->size == size_of(keys[i]), "unverified view of %s: size %zu", keys[i], v[i]->size);
		expect(view_matches(v[i], keys[i]) == ok[i], "unverified view of %s: bytes %s", keys[i],
		       ok[i] ? "differ" : "match though damaged");
		r = mcs_view_verify(v[i]);
		expect(r == (ok[i] ? 0 : -EBADMSG), "mcs_view_verify %s: %d (%s)", keys[i], r, mcs_strerror(r));
		r = mcs_view_verify(v[i]);
		expect(r == (ok[i] ? 0 : -EBADMSG), "mcs_view_verify %s again: %d", keys[i], r);
		mcs_view_release(v[i]);
	}

	int r = mcs_get_view_batch(c, (size_t)n, keys, MCS_VIEW_NOVERIFY, v, res);
	expect(r == n, "unverified view batch: %d (%s), wanted %d", r, r < 0 ? mcs_strerror(r) : "views", n);
	for (int i = 0; r >= 0 && i < n; i++) {
		expect(res[i] == 0 && v[i], "unverified batch view of %s: %d", keys[i], res[i]);
		if (res[i] < 0 || !v[i])
			continue;
		int vr = mcs_view_verify(v[i]);
		expect(vr == (ok[i] ? 0 : -EBADMSG), "mcs_view_verify of batch view %s: %d", keys[i], vr);
		mcs_view_release(v[i]);
	}
	r = mcs_get_view_batch(c, (size_t)n, keys, 0, v, res);
	expect(r == want_ok, "verified view batch: %d, wanted %d", r, want_ok);
	for (int i = 0; r >= 0 && i < n; i++) {
		expect(ok[i] ? res[i] == 0 && v[i] && view_matches(v[i], keys[i]) : res[i] == -EBADMSG && !v[i],
		       "verified batch view of %s: %d (%s)", keys[i], res[i], mcs_strerror(res[i]));
		mcs_view_release(res[i] == 0 ? v[i] : NULL);
	}

	/* bad flags and arguments are refused, leaving *ret alone */
	expect(mcs_get_view(c, keys[0], 2, &bad) == -EINVAL && bad == (struct mcs_view *)0x1,
	       "mcs_get_view_flags with an unknown flag");
	expect(mcs_get_view_batch(c, (size_t)n, keys, ~0u, v, res) == -EINVAL,
	       "mcs_get_view_batch_flags with unknown flags");
	expect(mcs_view_verify(NULL) == -EINVAL, "mcs_view_verify of NULL");

	/* neither kind of view left a hold behind */
	for (int i = 0; i < n; i++) {
		if (ok[i])
			continue;
		r = remove_soon(c, keys[i]);
		expect(r == 0, "remove %s after its views: %d (%s)", keys[i], r, mcs_strerror(r));
	}
	free(keys);
	free(ok);
	free(v);
	free(res);
}

static void do_reverify(struct mcs_client *c, const char *key)
{
	size_t n = size_of(key);
	struct mcs_view *v;
	int r = mcs_get_view(c, key, 0, &v);
	expect(r == 0, "view of %s: %s", key, mcs_strerror(r));
	if (r < 0)
		return;
	expect(mcs_view_verify(v) == 0, "mcs_view_verify of an intact view");
	uint8_t *p = byte_at(v, n - 1);
	if (!p)
		exit(2);
	*p ^= 0x01;
	expect(mcs_view_verify(v) == -EBADMSG, "mcs_view_verify after the last bit changed");
	*p ^= 0x01;
	expect(mcs_view_verify(v) == 0, "mcs_view_verify after the repair");
	mcs_view_release(v);
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: corrupt-client SOCKET put|flip|expect|view|viewnv|reverify ARGS...\n");
		return 2;
	}
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = argv[1] };
	mcs_client_opts_env(&o);
	struct mcs_client *c;
	int r = mcs_client_new(&o, &c);
	if (r < 0) {
		fprintf(stderr, "connect: %s\n", mcs_strerror(r));
		return 1;
	}
	const char *cmd = argv[2];
	if (!strcmp(cmd, "put"))
		do_put(c, argv[3], argc - 4, argv + 4);
	else if (!strcmp(cmd, "flip"))
		do_flip(c, argv[3], argc > 4 ? argv[4] : NULL);
	else if (!strcmp(cmd, "expect"))
		do_expect(c, argc - 3, argv + 3);
	else if (!strcmp(cmd, "view") && argc == 5)
		do_view(c, argv[3], is_ok(argv[4]));
	else if (!strcmp(cmd, "viewnv"))
		do_viewnv(c, argc - 3, argv + 3);
	else if (!strcmp(cmd, "reverify"))
		do_reverify(c, argv[3]);
	else
		return 2;
	mcs_client_unref(c);
	return failures ? 1 : 0;
}
