/* SPDX-License-Identifier: MIT */
/*
 * The cluster key and what is made of it (libsodium; no home-made crypto):
 *
 *   - the key file: one line "mcstore-cluster-key-1 <64 hex digits>",
 *     made by `mcstorectl keygen` or the packages' postinst, refused when
 *     others may read it;
 *   - four keys derived from it (crypto_kdf): the client key, which
 *     authenticates clients and which a node's daemon hands to its local
 *     clients in the HELLO answer; the reader key, the same for clients
 *     that may only read (--read-only-users); the node key, which
 *     authenticates nodes to the master and to each other; the token key,
 *     with which the master mints capability tokens and the nodes check
 *     them. A client holds its own key only: it can neither pass for a
 *     node (nor a reader for a writer) nor mint a token;
 *   - the link handshake's MACs (HMAC-SHA-256 over the role and both
 *     sides' random nonces, one label per side so that no proof can be
 *     reflected);
 *   - capability tokens (keyed BLAKE2b, 16 bytes): what the master grants
 *     on one buffer of one segment (read or write, a range, an expiry),
 *     checked by the node on every DATA_READ / DATA_WRITE.
 *
 * See mcstore-protocol(7), "AUTHENTICATION" and "CAPABILITY TOKENS".
 */
#ifndef MCS_AUTH_H
#define MCS_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/proto.h"

#define MCS_KEY_LEN 32
#define MCS_NONCE_LEN 32
#define MCS_AUTH_MAC_LEN 32
#define MCS_TAG_LEN 16
/* a token on the wire: rights u8, offset u64, length u64, expiry u64 (ms
 * since the epoch, CLOCK_REALTIME), tag */
#define MCS_TOKEN_LEN MCS_TOKEN_WIRE_LEN
_Static_assert(MCS_TOKEN_WIRE_LEN == 1 + 8 + 8 + 8 + MCS_TAG_LEN, "token layout");
#define MCS_KEY_FILE_TAG "mcstore-cluster-key-1"

enum mcs_role {
	MCS_ROLE_CLIENT = 1, /* libmcstore: metadata and data, never MOUNT */
	MCS_ROLE_NODE = 2,   /* mcstored: MOUNT, heartbeats, relayed requests */
	MCS_ROLE_READER = 3, /* libmcstore for a read-only user: gets, exists, lists */
};

enum mcs_rights {
	MCS_TOK_READ = 1,
	MCS_TOK_WRITE = 2,
};

struct mcs_keys {
	bool on;                      /* a key is configured: links authenticate */
	bool full;                    /* the cluster key's holder: every key */
	uint8_t role;                 /* a client's: the role of the key it holds */
	uint8_t client[MCS_KEY_LEN];  /* a client's own key, whatever its role */
	uint8_t reader[MCS_KEY_LEN];
	uint8_t node[MCS_KEY_LEN];
	uint8_t token[MCS_KEY_LEN];
};

/* Load the cluster key from path. 0, or a negative errno with *why (a
 * static string) saying what is wrong: -EPERM when others can read the
 * file, -EINVAL when it is not a key file. */
int mcs_keys_load(const char *path, struct mcs_keys *ret, const char **why);
/* A daemon's key-file option: path (NULL: not given, "": none), else
 * CONFDIR/cluster.key (confdir: the daemon's configuration directory)
 * when that file exists (the packages' postinst makes it) and this user
 * may read it. Logs the file used, or what is wrong and returns < 0 when a
 * key file named or found cannot be used; 0 otherwise, with *ret on or off. */
int mcs_keys_setup(const char *path, const char *confdir, struct mcs_keys *ret);
/* The keys a client holds: the key of role (MCS_ROLE_CLIENT or
 * MCS_ROLE_READER) as the daemon handed it; none when len is 0. */
int mcs_keys_client(const uint8_t *key, size_t len, uint8_t role, struct mcs_keys *ret);
/* The key a client of role is handed (full keys only). */
const uint8_t *mcs_keys_for(const struct mcs_keys *k, uint8_t role);
/* A new key file's line, NUL-terminated ("mcstore-cluster-key-1 HEX\n"). */
int mcs_key_generate(char *out, size_t len);
void mcs_keys_wipe(struct mcs_keys *k);

/* ---- the handshake ---------------------------------------------------------- */

void mcs_auth_nonce(uint8_t n[MCS_NONCE_LEN]);
/* The proof of side 'C' (the connecting peer) or 'S' (the server) for role,
 * over both nonces; -EACCES when these keys cannot speak for role. */
int mcs_auth_mac(const struct mcs_keys *k, uint8_t role, char side, const uint8_t nc[MCS_NONCE_LEN],
		 const uint8_t ns[MCS_NONCE_LEN], uint8_t out[MCS_AUTH_MAC_LEN]);
/* 0 when mac is that proof (constant time), else -EACCES. */
int mcs_auth_verify(const struct mcs_keys *k, uint8_t role, char side, const uint8_t nc[MCS_NONCE_LEN],
		    const uint8_t ns[MCS_NONCE_LEN], struct mcs_str mac);

/* ---- capability tokens -------------------------------------------------------- */

struct mcs_grant {
	uint8_t rights;               /* MCS_TOK_* */
	uint64_t off, len;            /* the granted range of the segment */
	uint64_t expiry_ms;           /* CLOCK_REALTIME */
	uint8_t tag[MCS_TAG_LEN];
};

/* The token for g (its tag computed) in out[MCS_TOKEN_LEN], for the buffer
 * of segment (incarnation inc) served at endpoint. Needs the full keys. */
void mcs_token_mint(const struct mcs_keys *k, struct mcs_str segment, uint64_t inc, struct mcs_str endpoint,
		    struct mcs_grant *g, uint8_t out[MCS_TOKEN_LEN]);
/* Parse a token from the wire. 0 or -EPROTO (wrong length). */
int mcs_token_parse(struct mcs_str tok, struct mcs_grant *ret);
/* Whether tok grants want on [off, off+len) of segment (incarnation inc,
 * served at endpoint) at now_ms: 0; -EACCES (no token, a forged or damaged
 * one, other rights or a range outside the grant), -EKEYEXPIRED (expired). */
int mcs_token_check(const struct mcs_keys *k, struct mcs_str segment, uint64_t inc, struct mcs_str endpoint,
		    struct mcs_str tok, uint8_t want, uint64_t off, uint64_t len, uint64_t now_ms);

/* ---- the handshake on a link (frames: proto.h's AUTH and AUTH_PROOF) -------------
 *
 *   connecting side                      server
 *   AUTH {role, nonce C}           ->
 *                                  <-    AUTH answer {nonce S, proof S}
 *   (checks proof S)
 *   AUTH_PROOF {proof C}           ->    (checks proof C)
 *   requests...                    ->    answered only once proof C held
 *                                  <-    AUTH_PROOF answer (status 0)
 *
 * A server with a key refuses, and closes on, any other frame before the
 * proof (-EACCES); one without a key refuses AUTH (-EOPNOTSUPP). */

/* One link's handshake as the server sees it. */
struct mcs_auth_peer {
	uint8_t state;                /* enum mcs_auth_state */
	uint8_t role;                 /* enum mcs_role, once MCS_AUTH_DONE */
	uint8_t nc[MCS_NONCE_LEN], ns[MCS_NONCE_LEN];
};
enum mcs_auth_state { MCS_AUTH_NONE, MCS_AUTH_CHALLENGED, MCS_AUTH_DONE };
enum { MCS_AUTH_PASS = 0, MCS_AUTH_ANSWER = 1 };

/* The server's part for a request h (body) on link p. MCS_AUTH_PASS: the
 * caller handles the frame (the link is authenticated, or no key is
 * configured and the frame is no AUTH). MCS_AUTH_ANSWER: answer h with
 * status 0 and the body in out. < 0: answer with that status and close the
 * link; *why says why, for the log. */
int mcs_auth_serve(struct mcs_auth_peer *p, const struct mcs_keys *k, const struct mcs_hdr *h, const uint8_t *body,
		   struct mcs_buf *out, const char **why);
/* The server lets a frame through: authenticated, or no key configured. */
static inline bool mcs_auth_passes(const struct mcs_auth_peer *p, const struct mcs_keys *k)
{
	return !k->on || p->state == MCS_AUTH_DONE;
}

/* One link's handshake as the connecting side sees it. */
struct mcs_auth_client {
	uint8_t role;
	uint8_t nc[MCS_NONCE_LEN];
};
/* The AUTH request's body, into out (a fresh nonce in st). */
void mcs_auth_client_start(struct mcs_auth_client *st, uint8_t role, struct mcs_buf *out);
/* The AUTH answer (status, body): the server proved it holds the key;
 * the AUTH_PROOF request's body into out. 0, -EACCES (a wrong proof, or
 * the server refused ours), -EOPNOTSUPP (the server has no key), -EPROTO. */
int mcs_auth_client_answer(struct mcs_auth_client *st, const struct mcs_keys *k, int status, const uint8_t *body,
			   size_t len, struct mcs_buf *out);

/* The whole handshake as role on fd (a TCP socket just connected, blocking
 * or not), bounded by timeout_ms (auth/client.c). 0, or -EACCES (refused,
 * or the server's proof is wrong), -EOPNOTSUPP (the server has no key),
 * or an I/O error. Nothing to do (0) when k is NULL or has no key. */
int mcs_auth_connect(const struct mcs_keys *k, uint8_t role, int fd, unsigned timeout_ms);
/* One request on fd, blocking until deadline (mcs_now_ms()): the frame
 * (op, request id 1, the body in b, at most 128 bytes) and its answer,
 * whose body (at most cap bytes) goes to body and its length to *ret_len.
 * The answer's status, or an I/O error (-ECONNRESET, -ETIMEDOUT, ...),
 * -EPROTO for an answer that is not this request's. The handshake's
 * exchanges, and one-shot requests such as mcs_leader()'s LEADER. */
int mcs_call_blocking(int fd, uint16_t op, const struct mcs_buf *b, uint8_t *body, size_t cap, size_t *ret_len,
		      uint64_t deadline);

/* Milliseconds since the epoch (tokens' clock: the cluster's clocks must
 * agree to well within a token's life). */
uint64_t mcs_realtime_ms(void);

#endif
