/* SPDX-License-Identifier: MIT */
/*
 * The cluster key, the handshake's MACs and the capability tokens (see
 * auth.h), on libsodium.
 */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "auth/auth.h"
#include "common/log.h"
#include "common/util.h"

/* crypto_kdf's context: 8 bytes naming what the keys are for */
static const char KDF_CTX[crypto_kdf_CONTEXTBYTES] = { 'm', 'c', 's', 't', 'o', 'r', 'e', '1' };
enum { SUB_CLIENT = 1, SUB_NODE = 2, SUB_TOKEN = 3, SUB_READER = 4 };

static int sodium_ready(void)
{
	return sodium_init() < 0 ? -ENOSYS : 0;
}

static int derive(const uint8_t cluster[MCS_KEY_LEN], struct mcs_keys *k)
{
	*k = (struct mcs_keys){ .on = true, .full = true };
	if (crypto_kdf_derive_from_key(k->client, MCS_KEY_LEN, SUB_CLIENT, KDF_CTX, cluster) ||
	    crypto_kdf_derive_from_key(k->node, MCS_KEY_LEN, SUB_NODE, KDF_CTX, cluster) ||
	    crypto_kdf_derive_from_key(k->token, MCS_KEY_LEN, SUB_TOKEN, KDF_CTX, cluster) ||
	    crypto_kdf_derive_from_key(k->reader, MCS_KEY_LEN, SUB_READER, KDF_CTX, cluster)) {
		mcs_keys_wipe(k);
		return -EINVAL;
	}
	return 0;
}

int mcs_keys_load(const char *path, struct mcs_keys *ret, const char **why)
{
	*ret = (struct mcs_keys){ 0 };
	*why = NULL;
	int r = sodium_ready();
	if (r < 0) {
		*why = "libsodium cannot start";
		return r;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	struct stat st;
	char line[256];
	ssize_t n = -1;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		r = -EINVAL;
	} else if (st.st_mode & (S_IROTH | S_IWOTH)) {
		*why = "other users may read or write it (chmod o-rw)";
		r = -EPERM;
	} else if ((n = read(fd, line, sizeof(line) - 1)) < 0)
		r = -errno;
	close(fd);
	if (r < 0)
		return r;
	line[n] = '\0';
	uint8_t cluster[MCS_KEY_LEN];
	size_t tl = strlen(MCS_KEY_FILE_TAG), got = 0;
	const char *end = NULL;
	if (strncmp(line, MCS_KEY_FILE_TAG " ", tl + 1) != 0 ||
	    sodium_hex2bin(cluster, sizeof(cluster), line + tl + 1, (size_t)n - tl - 1, NULL, &got, &end) != 0 ||
	    got != sizeof(cluster) || (*end && strspn(end, "\r\n") != strlen(end))) {
		sodium_memzero(line, sizeof(line));
		*why = "not a key file (expected one line \"" MCS_KEY_FILE_TAG " <64 hex digits>\", "
		       "as mcstorectl keygen writes)";
		return -EINVAL;
	}
	sodium_memzero(line, sizeof(line));
	r = derive(cluster, ret);
	sodium_memzero(cluster, sizeof(cluster));
	if (r < 0)
		*why = "cannot derive the keys";
	return r;
}

int mcs_keys_setup(const char *path, const char *confdir, struct mcs_keys *ret)
{
	char dflt[512];
	*ret = (struct mcs_keys){ 0 };
	if (path && !*path)
		return 0;
	if (!path) {
		if ((size_t)snprintf(dflt, sizeof(dflt), "%s/cluster.key", confdir) >= sizeof(dflt) ||
		    access(dflt, F_OK) != 0)
			return 0;
		path = dflt;
	}
	const char *why;
	int r = mcs_keys_load(path, ret, &why);
	if (r == -EACCES && path == dflt) {
		/* the service's key, and a user's own daemon that may not read
		 * it: that daemon goes without, on loopback */
		log_notice("cannot read the cluster key %s (%s): going without it", path, strerror(EACCES));
		return 0;
	}
	if (r < 0 && why)
		log_error("cannot use the key file %s: %s", path, why);
	else if (r < 0)
		log_error_errno(r, "cannot read the key file %s: %m", path);
	else
		log_info("cluster key from %s", path);
	return r;
}

int mcs_keys_client(const uint8_t *key, size_t len, uint8_t role, struct mcs_keys *ret)
{
	*ret = (struct mcs_keys){ 0 };
	if (len == 0)
		return 0;
	if (len != MCS_KEY_LEN || (role != MCS_ROLE_CLIENT && role != MCS_ROLE_READER))
		return -EPROTO;
	int r = sodium_ready();
	if (r < 0)
		return r;
	ret->on = true;
	ret->role = role;
	memcpy(ret->client, key, MCS_KEY_LEN);
	return 0;
}

const uint8_t *mcs_keys_for(const struct mcs_keys *k, uint8_t role)
{
	if (!k->on || !k->full)
		return NULL;
	return role == MCS_ROLE_READER ? k->reader : role == MCS_ROLE_CLIENT ? k->client : NULL;
}

int mcs_key_generate(char *out, size_t len)
{
	uint8_t k[MCS_KEY_LEN];
	char hex[2 * MCS_KEY_LEN + 1];
	int r = sodium_ready();
	if (r < 0)
		return r;
	randombytes_buf(k, sizeof(k));
	sodium_bin2hex(hex, sizeof(hex), k, sizeof(k));
	r = snprintf(out, len, "%s %s\n", MCS_KEY_FILE_TAG, hex);
	sodium_memzero(k, sizeof(k));
	sodium_memzero(hex, sizeof(hex));
	return r > 0 && (size_t)r < len ? 0 : -ENOSPC;
}

void mcs_keys_wipe(struct mcs_keys *k)
{
	sodium_memzero(k, sizeof(*k));
}

/* ---- the handshake ------------------------------------------------------------ */

void mcs_auth_nonce(uint8_t n[MCS_NONCE_LEN])
{
	(void)sodium_ready();
	randombytes_buf(n, MCS_NONCE_LEN);
}

static const uint8_t *role_key(const struct mcs_keys *k, uint8_t role)
{
	if (!k->on)
		return NULL;
	if (!k->full) /* a client: its own role only */
		return role == k->role ? k->client : NULL;
	return role == MCS_ROLE_NODE ? k->node : mcs_keys_for(k, role);
}

int mcs_auth_mac(const struct mcs_keys *k, uint8_t role, char side, const uint8_t nc[MCS_NONCE_LEN],
		 const uint8_t ns[MCS_NONCE_LEN], uint8_t out[MCS_AUTH_MAC_LEN])
{
	const uint8_t *key = role_key(k, role);
	if (!key)
		return -EACCES;
	/* a label per side: the server's proof is never a valid client proof */
	uint8_t msg[8 + 1 + 2 * MCS_NONCE_LEN];
	memcpy(msg, side == 'S' ? "mcsauthS" : "mcsauthC", 8);
	msg[8] = role;
	memcpy(msg + 9, nc, MCS_NONCE_LEN);
	memcpy(msg + 9 + MCS_NONCE_LEN, ns, MCS_NONCE_LEN);
	crypto_auth_hmacsha256(out, msg, sizeof(msg), key);
	return 0;
}

int mcs_auth_verify(const struct mcs_keys *k, uint8_t role, char side, const uint8_t nc[MCS_NONCE_LEN],
		    const uint8_t ns[MCS_NONCE_LEN], struct mcs_str mac)
{
	uint8_t want[MCS_AUTH_MAC_LEN];
	if (mac.len != MCS_AUTH_MAC_LEN || mcs_auth_mac(k, role, side, nc, ns, want) < 0)
		return -EACCES;
	int r = sodium_memcmp(want, mac.p, MCS_AUTH_MAC_LEN) == 0 ? 0 : -EACCES;
	sodium_memzero(want, sizeof(want));
	return r;
}

/* ---- tokens ----------------------------------------------------------------------- */

static void le64(uint8_t *o, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		o[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t rd64(const uint8_t *i)
{
	uint64_t v = 0;
	for (int j = 7; j >= 0; j--)
		v = v << 8 | i[j];
	return v;
}

static void tag_of(const struct mcs_keys *k, struct mcs_str segment, uint64_t inc, struct mcs_str endpoint,
		   const struct mcs_grant *g, uint8_t out[MCS_TAG_LEN])
{
	/* every field with its length: no two grants hash the same bytes */
	uint8_t fixed[8 + 1 + 8 * 4];
	uint8_t lens[4] = { (uint8_t)segment.len, (uint8_t)(segment.len >> 8), (uint8_t)endpoint.len,
			    (uint8_t)(endpoint.len >> 8) };
	memcpy(fixed, "mcstok01", 8);
	fixed[8] = g->rights;
	le64(fixed + 9, inc);
	le64(fixed + 17, g->off);
	le64(fixed + 25, g->len);
	le64(fixed + 33, g->expiry_ms);
	crypto_generichash_state st;
	crypto_generichash_init(&st, k->token, MCS_KEY_LEN, MCS_TAG_LEN);
	crypto_generichash_update(&st, fixed, sizeof(fixed));
	crypto_generichash_update(&st, lens, sizeof(lens));
	crypto_generichash_update(&st, (const uint8_t *)segment.p, segment.len);
	crypto_generichash_update(&st, (const uint8_t *)endpoint.p, endpoint.len);
	crypto_generichash_final(&st, out, MCS_TAG_LEN);
}

void mcs_token_mint(const struct mcs_keys *k, struct mcs_str segment, uint64_t inc, struct mcs_str endpoint,
		    struct mcs_grant *g, uint8_t out[MCS_TOKEN_LEN])
{
	tag_of(k, segment, inc, endpoint, g, g->tag);
	out[0] = g->rights;
	le64(out + 1, g->off);
	le64(out + 9, g->len);
	le64(out + 17, g->expiry_ms);
	memcpy(out + 25, g->tag, MCS_TAG_LEN);
}

int mcs_token_parse(struct mcs_str tok, struct mcs_grant *ret)
{
	const uint8_t *p = (const uint8_t *)tok.p;
	if (tok.len != MCS_TOKEN_LEN)
		return -EPROTO;
	ret->rights = p[0];
	ret->off = rd64(p + 1);
	ret->len = rd64(p + 9);
	ret->expiry_ms = rd64(p + 17);
	memcpy(ret->tag, p + 25, MCS_TAG_LEN);
	return 0;
}

int mcs_token_check(const struct mcs_keys *k, struct mcs_str segment, uint64_t inc, struct mcs_str endpoint,
		    struct mcs_str tok, uint8_t want, uint64_t off, uint64_t len, uint64_t now_ms)
{
	struct mcs_grant g;
	uint8_t tag[MCS_TAG_LEN];
	if (!k->full || mcs_token_parse(tok, &g) < 0)
		return -EACCES;
	tag_of(k, segment, inc, endpoint, &g, tag);
	if (crypto_verify_16(tag, g.tag) != 0)
		return -EACCES;
	if (!(g.rights & want) || off < g.off || len > g.len || off - g.off > g.len - len)
		return -EACCES;
	if (now_ms > g.expiry_ms)
		return -EKEYEXPIRED;
	return 0;
}

uint64_t mcs_realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}
