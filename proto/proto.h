/* SPDX-License-Identifier: MIT */
/*
 * The mcstore wire protocol, shared by every link (client<->daemon,
 * client<->master, daemon<->master, daemon<->daemon). See mcstore-protocol(7).
 *
 * A frame is a fixed 24-byte little-endian header followed by body_len bytes:
 *
 *   off size field
 *     0    4 magic     0x3153434d ("MCS1" in memory order)
 *     4    1 version   MCS_PROTO_VERSION
 *     5    1 flags     MCS_F_RESPONSE, ...
 *     6    2 opcode    MCS_OP_*
 *     8    4 status    int32, 0 or a negative mcs_status/errno (responses)
 *    12    8 req_id    echoed in the response; requests are pipelined
 *    20    4 body_len  bytes that follow; <= the link's configured maximum
 *
 * Bodies are sequences of little-endian fixed-width integers and
 * length-prefixed byte strings (u16 length for names and keys, u32 for
 * blobs). Decoders check every length against the bytes remaining and
 * against protocol limits, and reject trailing bytes.
 *
 * The code: buf.c (the buffer's memory), frame.c (the header, opcode
 * names, frames, and the writers and reader below), wire.h (their inline
 * forms and the checked key/name/count helpers, for proto/ only);
 * messages.def lists every message once, messages.c generates the flat ones
 * from it, arrays.c writes the messages with arrays by hand.
 *
 * A response with status != 0 has an empty body, or the 8 bytes of an
 * error detail (mcs_err_detail) for the statuses that have one. Decoded
 * strings point into the frame body (no copy, not NUL-terminated): they
 * live as long as it.
 */
#ifndef MCS_PROTO_H
#define MCS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "mcstore.h"

#define MCS_PROTO_MAGIC 0x3153434du
#define MCS_PROTO_VERSION 4  /* 2: statuses are negated errnos; 3: AUTH, tokens, incarnations;
			      * 4: the nodes' replica tables (REPLICA_*, REPORT_END), LEADER */
#define MCS_HDR_SIZE 24
#define MCS_NAME_MAX 255           /* segment and node names */
#define MCS_MAX_SLICES 65536       /* slices in one put */
#define MCS_MAX_HANDLES 4096       /* buffers in one replica */
#define MCS_MAX_SEGMENTS 65536     /* segments in a stat reply */
#define MCS_DEFAULT_MAX_BODY (64u << 20)
#define MCS_TOKEN_WIRE_LEN 41      /* a capability token: empty or exactly this (auth/auth.h) */

enum mcs_hdr_flags {
	MCS_F_RESPONSE = 1u << 0,
};

enum mcs_opcode {
	MCS_OP_HELLO = 1,        /* client -> daemon; reply carries the segment memfd */
	MCS_OP_PING = 2,         /* any; empty body both ways */
	MCS_OP_LEADER = 7,       /* any -> master: who leads, and in which term (empty request) */
	MCS_OP_AUTH = 5,         /* first frame on a TCP link with a cluster key: nonces */
	MCS_OP_AUTH_PROOF = 6,   /* the connecting side's proof; then requests */
	MCS_OP_MOUNT = 10,       /* daemon -> master */
	MCS_OP_UNMOUNT = 11,     /* daemon -> master */
	MCS_OP_HEARTBEAT = 12,   /* daemon -> master */
	MCS_OP_REPLICA_ADD = 13, /* master -> daemon, a notice (req_id 0, no answer): a part to keep */
	MCS_OP_REPLICA_DROP = 14, /* master -> daemon, a notice: a part to forget */
	MCS_OP_REPLICA_REPORT = 15, /* daemon -> master: a part it holds (after MOUNT, for the rebuild) */
	MCS_OP_REPORT_END = 16,  /* daemon -> master: the report is over, place new objects here */
	MCS_OP_PUT_START = 20,
	MCS_OP_PUT_END = 21,
	MCS_OP_PUT_REVOKE = 22,
	MCS_OP_GET_REPLICAS = 23,
	MCS_OP_RELEASE = 24,     /* end a hold taken by GET_REPLICAS with MCS_GET_HOLD */
	MCS_OP_EXIST = 25,
	MCS_OP_REMOVE = 26,
	MCS_OP_REMOVE_ALL = 27,
	MCS_OP_LIST = 28,        /* a page of keys, for operators (never one unbounded answer) */
	MCS_OP_STAT = 30,
	MCS_OP_BUF_ALLOC = 3,    /* client -> daemon; reply carries the buffer memfd */
	MCS_OP_BUF_FREE = 4,     /* client -> daemon */
	MCS_OP_FETCH = 40,       /* client -> daemon: remote buffers -> client buffer */
	MCS_OP_PUSH = 41,        /* client -> daemon: client buffer -> remote buffers */
	MCS_OP_DATA_READ = 50,   /* daemon -> daemon; answer: data_resp + len raw bytes */
	MCS_OP_DATA_WRITE = 51,  /* daemon -> daemon; len raw bytes follow the frame */
	MCS_OP_DATA_READV = 52,  /* many ranges of one segment; answer: data_resp + their bytes back to back */
	MCS_OP_MAX_ = 53,
};

/* Header, host byte order after decoding. */
struct mcs_hdr {
	uint32_t magic;
	uint8_t version;
	uint8_t flags;
	uint16_t opcode;
	int32_t status;
	uint64_t req_id;
	uint32_t body_len;
};

/* Encode h into out[MCS_HDR_SIZE]. */
void mcs_hdr_encode(const struct mcs_hdr *h, uint8_t out[MCS_HDR_SIZE]);
/* Decode and validate magic, version and body_len <= max_body.
 * 0, -EPROTO (bad magic), -EPROTONOSUPPORT, or -EMSGSIZE. */
int mcs_hdr_decode(const uint8_t in[MCS_HDR_SIZE], uint32_t max_body, struct mcs_hdr *ret);
/* The largest body a valid request of opcode can have, from the limits of
 * its message (keys, names, counts, tokens); 0 for the requests without a
 * body and for unknown opcodes. Servers close a connection whose request
 * header declares more, before buffering any of it. */
uint32_t mcs_req_body_max(uint16_t opcode);

/* Name of an opcode for logs ("PUT_START"), "UNKNOWN" otherwise. */
const char *mcs_op_name(uint16_t opcode);

/* Bytes not owned by the decoded message: a pointer into the frame body. */
struct mcs_str {
	const char *p;
	uint32_t len;
};
/* The key of a request of one key (PUT_START, PUT_END, PUT_REVOKE,
 * GET_REPLICAS, EXIST, RELEASE, REMOVE: its first field), read without
 * decoding the rest: 0 and *ret pointing into body; -ENOENT for other
 * opcodes; -EPROTO or -ENAMETOOLONG when the body has no valid key. A
 * hint (a master looks ahead to prefetch), never a check. */
int mcs_peek_key(uint16_t opcode, const void *body, size_t n, struct mcs_str *ret);

static inline struct mcs_str mcs_str_c(const char *s);

/* ---- growable output buffer ------------------------------------------ */
struct mcs_buf {
	uint8_t *p;
	size_t len, cap;
	size_t frame_start; /* offset of the header of the frame being built */
	int err;          /* sticky -ENOMEM, -EMSGSIZE, -ENAMETOOLONG
			   * or -EINVAL (encoders check the decoders' limits) */
};
void mcs_buf_init(struct mcs_buf *b);
void mcs_buf_free(struct mcs_buf *b);
void mcs_buf_reset(struct mcs_buf *b);            /* len = 0, err = 0 */
int mcs_buf_reserve(struct mcs_buf *b, size_t extra);
void mcs_buf_put_u8(struct mcs_buf *b, uint8_t v);
void mcs_buf_put_u16(struct mcs_buf *b, uint16_t v);
void mcs_buf_put_u32(struct mcs_buf *b, uint32_t v);
void mcs_buf_put_u64(struct mcs_buf *b, uint64_t v);
void mcs_buf_put_str(struct mcs_buf *b, struct mcs_str s);  /* u16 len; err if > 65535 */
void mcs_buf_put_bytes(struct mcs_buf *b, const void *p, size_t n); /* raw, no prefix */

/* A frame is built in a buf: begin reserves the header, end patches body_len.
 * mcs_frame_end returns b->err (0 if the frame is complete). */
void mcs_frame_begin(struct mcs_buf *b, uint16_t opcode, uint8_t flags, int32_t status, uint64_t req_id);
int mcs_frame_end(struct mcs_buf *b);

/* ---- bounds-checked reader ------------------------------------------- */
struct mcs_rd {
	const uint8_t *p, *end;
	int err;          /* sticky -EPROTO once anything overran */
};
static inline void mcs_rd_init(struct mcs_rd *r, const void *p, size_t n)
{
	r->p = (const uint8_t *)p;
	r->end = r->p + n;
	r->err = 0;
}
uint8_t mcs_rd_u8(struct mcs_rd *r);
uint16_t mcs_rd_u16(struct mcs_rd *r);
uint32_t mcs_rd_u32(struct mcs_rd *r);
uint64_t mcs_rd_u64(struct mcs_rd *r);
struct mcs_str mcs_rd_str(struct mcs_rd *r, uint32_t max_len);
/* 0 if no error and every byte was consumed, else -EPROTO. */
int mcs_rd_finish(struct mcs_rd *r);

/* ---- messages --------------------------------------------------------
 * For each message: mcs_enc_X appends the body to a buf (the caller
 * wraps it in mcs_frame_begin/end), mcs_dec_X parses a whole body and
 * returns 0 or -EPROTO / -EMSGSIZE / -ENAMETOOLONG / -ENOMEM.
 * Messages with arrays are allocated by the decoder: free them with the
 * matching mcs_X_free (which accepts NULL-initialised structs).
 */

/* HELLO request (client -> daemon) */
struct mcs_hello_req {
	uint32_t client_version;   /* MCS_PROTO_VERSION */
	uint32_t pid;
};
/* HELLO response; the segment memfd travels as SCM_RIGHTS with this frame
 * (none for a read-only client) */
struct mcs_hello_resp {
	struct mcs_str node;
	struct mcs_str segment;
	uint64_t segment_size;
	uint32_t flags;            /* MCS_HELLO_HUGEPAGES */
	uint32_t max_body;         /* largest body the daemon accepts */
	struct mcs_str master;     /* host:port clients may ask directly; "" for none */
	uint64_t incarnation;      /* of the segment: a new one at every start of the daemon */
	struct mcs_str client_key; /* MCS_KEY_LEN bytes, or empty when the cluster has no key */
};

/* AUTH: the connecting side's role (enum mcs_role of auth/auth.h) and
 * nonce; the answer, the server's nonce and proof; AUTH_PROOF, the
 * connecting side's proof (auth/auth.h says over what). */
struct mcs_auth_req {
	uint32_t role;
	struct mcs_str nonce;
};
struct mcs_auth_resp {
	struct mcs_str nonce;
	struct mcs_str mac;
};
struct mcs_auth_proof_req {
	struct mcs_str mac;
};
void mcs_enc_auth_req(struct mcs_buf *b, const struct mcs_auth_req *m);
int mcs_dec_auth_req(const void *body, size_t n, struct mcs_auth_req *ret);
void mcs_enc_auth_resp(struct mcs_buf *b, const struct mcs_auth_resp *m);
int mcs_dec_auth_resp(const void *body, size_t n, struct mcs_auth_resp *ret);
void mcs_enc_auth_proof_req(struct mcs_buf *b, const struct mcs_auth_proof_req *m);
int mcs_dec_auth_proof_req(const void *body, size_t n, struct mcs_auth_proof_req *ret);
enum {
	MCS_HELLO_HUGEPAGES = 1u << 0,
	MCS_HELLO_READ_ONLY = 1u << 1, /* no memfd: reads over the data port, client_key is a reader's */
};

/* LEADER response: the term of the master that leads (the create
 * revision of its etcd key; 0 without HA) and its address. A standby
 * answers every other request with -EREMCHG. */
struct mcs_leader_resp {
	uint64_t term;
	struct mcs_str leader;     /* HOST:PORT; "" while none is known */
	uint32_t flags;            /* MCS_LEADER_* */
};
enum {
	MCS_LEADER_SELF = 1u << 0, /* the answering master leads */
};
void mcs_enc_leader_resp(struct mcs_buf *b, const struct mcs_leader_resp *m);
int mcs_dec_leader_resp(const void *body, size_t n, struct mcs_leader_resp *ret);

/* MOUNT request (daemon -> master) */
struct mcs_mount_req {
	struct mcs_str node;
	struct mcs_str segment;
	uint64_t size;
	struct mcs_str endpoint;   /* "host:port" of the node's data service, may be empty */
	uint64_t incarnation;      /* random, made when the segment was */
	uint32_t flags;            /* MCS_MOUNT_* */
};
enum {
	/* REPLICA_REPORTs and a REPORT_END follow: place nothing on the
	 * segment until then (its space is the reported parts') */
	MCS_MOUNT_REPORTS = 1u << 0,
	/* the node answers a REPLICA_ADD whose req_id is not 0, once the part
	 * is in its table (master/acks.h) */
	MCS_MOUNT_ACKS = 1u << 1,
};
/* UNMOUNT and REPORT_END requests */
struct mcs_unmount_req {
	struct mcs_str segment;
};
/* HEARTBEAT request */
struct mcs_heartbeat_req {
	struct mcs_str node;
};

/* REPLICA_ADD (master -> node) and REPLICA_REPORT (node -> master): one
 * part of a complete replica in the node's segment. Bytes [offset,
 * offset+len) of the segment hold bytes [value_off, value_off+len) of the
 * value of key (size bytes, XXH3-64 checksum), as buffer `handle` of the
 * n_handles of replica number `replica`. The decoder checks the fields'
 * own ranges; whether they fit the segment is the receiver's to judge. */
struct mcs_replica_part {
	struct mcs_str segment;
	struct mcs_str key;
	uint64_t offset, len;      /* len >= 1, offset + len does not wrap */
	uint64_t size, checksum;
	uint64_t value_off;        /* value_off + len <= size */
	uint32_t flags;            /* MCS_REPL_* pins */
	uint32_t replica;          /* < MCS_MAX_REPLICAS */
	uint32_t handle, n_handles; /* handle < n_handles <= MCS_MAX_HANDLES */
};
/* REPLICA_DROP (master -> node): forget the part at offset. */
struct mcs_replica_drop {
	struct mcs_str segment;
	uint64_t offset;
};
void mcs_enc_replica_part(struct mcs_buf *b, const struct mcs_replica_part *m);
int mcs_dec_replica_part(const void *body, size_t n, struct mcs_replica_part *ret);
void mcs_enc_replica_drop(struct mcs_buf *b, const struct mcs_replica_drop *m);
int mcs_dec_replica_drop(const void *body, size_t n, struct mcs_replica_drop *ret);

/* Keys only: PUT_REVOKE, EXIST */
struct mcs_key_req {
	struct mcs_str key;
};

struct mcs_replicate_cfg {
	uint32_t replica_num;
	uint32_t flags;            /* MCS_REPL_* of mcstore.h */
	uint32_t n_locations;      /* <= MCS_MAX_LOCATIONS */
	struct mcs_str locations[MCS_MAX_LOCATIONS];
};

struct mcs_put_start_req {
	struct mcs_str key;
	uint64_t value_len;
	uint32_t n_slices;         /* <= MCS_MAX_SLICES; sum must equal value_len */
	uint64_t *slice_lens;      /* allocated by the decoder */
	struct mcs_replicate_cfg cfg;
};
void mcs_put_start_req_free(struct mcs_put_start_req *m);

/* One buffer of a replica: bytes [offset, offset+len) of a segment. */
struct mcs_handle {
	struct mcs_str segment;
	struct mcs_str node;
	struct mcs_str endpoint;   /* data service of the node, may be empty */
	uint64_t offset;
	uint64_t len;
	uint64_t incarnation;      /* of the segment, as it mounted */
	struct mcs_str token;      /* capability for DATA_*: MCS_TOKEN_LEN bytes, or empty */
};
/* a replica's status: enum mcs_replica_status of mcstore.h */
struct mcs_replica {
	uint8_t status;
	uint32_t n_handles;        /* <= MCS_MAX_HANDLES */
	struct mcs_handle *handles;
};
struct mcs_replica_list {
	uint32_t n_replicas;       /* <= MCS_MAX_REPLICAS */
	struct mcs_replica *replicas;
};
void mcs_replica_list_free(struct mcs_replica_list *l);

/* PUT_START response */
struct mcs_put_start_resp {
	struct mcs_replica_list list;
};

/* PUT_END request */
struct mcs_put_end_req {
	struct mcs_str key;
	uint64_t checksum;         /* XXH3-64 of the whole value */
};

/* GET_REPLICAS request */
enum {
	MCS_GET_HOLD = 1u << 0,    /* hold a lease until RELEASE (zero-copy views) */
	MCS_GET_NOLEASE = 1u << 1, /* only look: no lease, not made recently used (locate) */
};
struct mcs_get_req {
	struct mcs_str key;
	uint32_t flags;
};
struct mcs_get_resp {
	uint64_t size;
	uint64_t checksum;
	uint64_t hold_id;          /* 0 unless MCS_GET_HOLD was asked */
	uint32_t lease_ms;
	struct mcs_replica_list list;
};

/* RELEASE request */
struct mcs_release_req {
	struct mcs_str key;
	uint64_t hold_id;
};

/* REMOVE request */
struct mcs_remove_req {
	struct mcs_str key;
	uint32_t flags;            /* MCS_REMOVE_FORCE */
};
/* REMOVE_ALL response */
struct mcs_remove_all_resp {
	uint64_t count;
};

/* LIST request: up to limit COMPLETE keys starting with prefix, from
 * cursor (0: the start). The cursor walks the master's hash buckets in
 * reverse-binary order, so a key present for the whole walk is listed at
 * least once even if the table grows in between (a key may come twice). */
#define MCS_LIST_MAX 1000          /* keys in one LIST answer */
struct mcs_list_req {
	struct mcs_str prefix;     /* may be empty; <= MCS_KEY_MAX */
	uint64_t cursor;
	uint32_t limit;            /* 1 .. MCS_LIST_MAX */
};
/* LIST response: next_cursor 0 when the walk is over. An answer may hold
 * fewer keys than asked (even none) with a cursor that goes on: the master
 * bounds the work of one request. */
struct mcs_list_resp {
	uint64_t next_cursor;
	uint32_t n_keys;           /* <= MCS_LIST_MAX */
	struct mcs_str *keys;      /* allocated by the decoder */
};
void mcs_list_resp_free(struct mcs_list_resp *m);

/* The detail some refusals carry as their body: -EBUSY, the
 * milliseconds left on the lease; -EXFULL, how many nodes can
 * hold a replica of the object. */
struct mcs_err_detail {
	uint64_t value;
};

/* STAT response */
struct mcs_seg_stat {
	struct mcs_str name;
	struct mcs_str node;
	uint64_t size;
	uint64_t used;
	uint64_t n_allocs;
};
/* Master counters, sent as a count and that many u64s, so that a newer
 * master can add some (an older client ignores the extra ones). */
enum mcs_stat_counter {
	MCS_STAT_EVICT_RUNS,
	MCS_STAT_EVICTIONS,
	MCS_STAT_EVICTED_BYTES,
	MCS_STAT_PUT_NO_SPACE,
	MCS_STAT_LEASES_GRANTED,
	MCS_STAT_REMOVE_REFUSED,
	MCS_STAT_PUTS_TIMED_OUT,
	MCS_STAT_SOFT_PINS_REFUSED,
	MCS_STAT_NODES_LOST,
	MCS_STAT_N_,
};
#define MCS_STAT_MAX_COUNTERS 32
struct mcs_stat_resp {
	uint64_t n_objects;
	uint64_t capacity;
	uint64_t used;
	uint32_t n_segments;       /* <= MCS_MAX_SEGMENTS */
	struct mcs_seg_stat *segments;
	uint32_t n_counters;       /* <= MCS_STAT_MAX_COUNTERS */
	uint64_t counters[MCS_STAT_MAX_COUNTERS];
};
void mcs_stat_resp_free(struct mcs_stat_resp *m);

/* BUF_ALLOC: a buffer shared between a client and its daemon (memfd,
 * passed with the answer), where remote data lands and leaves from. */
struct mcs_buf_alloc_req {
	uint64_t size;
};
struct mcs_buf_alloc_resp {
	uint32_t buf_id;
	uint64_t size;
};
struct mcs_buf_free_req {
	uint32_t buf_id;
};

/* FETCH / PUSH: move the bytes of handles[0..n) (in order, back to back)
 * from / to the client's buffer buf_id at buf_off. */
struct mcs_transfer_req {
	uint32_t buf_id;
	uint64_t buf_off;
	uint32_t n_handles;        /* <= MCS_MAX_HANDLES */
	struct mcs_handle *handles;
};
void mcs_transfer_req_free(struct mcs_transfer_req *m);

/* DATA_READ / DATA_WRITE between daemons: bytes [offset, offset+len) of a
 * segment. A DATA_WRITE frame is followed by len raw bytes; a successful
 * DATA_READ answer carries mcs_data_resp and is followed by len raw bytes. */
#define MCS_MAX_DATA_CHUNK (64ull << 20)
struct mcs_data_req {
	struct mcs_str segment;
	uint64_t offset;
	uint64_t len;              /* 1 .. MCS_MAX_DATA_CHUNK */
	uint64_t incarnation;      /* of the segment the handle named */
	struct mcs_str endpoint;   /* the handle's endpoint, which its token covers */
	struct mcs_str token;      /* the handle's token, or empty */
};
struct mcs_data_resp {
	uint64_t len;
};

/* DATA_READV: ranges[0..n) of one segment in one request (a batch of small
 * objects in one frame each way). Each range is checked as a DATA_READ of
 * its own (in the segment, its token); one that fails refuses the whole
 * request. A successful answer carries mcs_data_resp, len the sum of the
 * ranges' lengths, and is followed by their bytes, in request order. */
#define MCS_MAX_READV 256          /* ranges in one DATA_READV */
#define MCS_DATA_PORT_MAX_BODY (16u << 10) /* largest request body on a data port: a DATA_READV of MCS_MAX_READV tokens */
struct mcs_data_range {
	uint64_t offset;
	uint64_t len;              /* 1 .. MCS_MAX_DATA_CHUNK, and all of them together too */
	struct mcs_str token;      /* the handle's token, or empty */
};
struct mcs_data_readv_req {
	struct mcs_str segment;
	uint64_t incarnation;
	struct mcs_str endpoint;
	uint32_t n_ranges;         /* 1 .. MCS_MAX_READV */
	struct mcs_data_range *ranges;
};
void mcs_data_readv_req_free(struct mcs_data_readv_req *m);

void mcs_enc_buf_alloc_req(struct mcs_buf *b, const struct mcs_buf_alloc_req *m);
int mcs_dec_buf_alloc_req(const void *body, size_t n, struct mcs_buf_alloc_req *ret);
void mcs_enc_buf_alloc_resp(struct mcs_buf *b, const struct mcs_buf_alloc_resp *m);
int mcs_dec_buf_alloc_resp(const void *body, size_t n, struct mcs_buf_alloc_resp *ret);
void mcs_enc_buf_free_req(struct mcs_buf *b, const struct mcs_buf_free_req *m);
int mcs_dec_buf_free_req(const void *body, size_t n, struct mcs_buf_free_req *ret);
void mcs_enc_transfer_req(struct mcs_buf *b, const struct mcs_transfer_req *m);
int mcs_dec_transfer_req(const void *body, size_t n, struct mcs_transfer_req *ret);
void mcs_enc_data_req(struct mcs_buf *b, const struct mcs_data_req *m);
int mcs_dec_data_req(const void *body, size_t n, struct mcs_data_req *ret);
void mcs_enc_data_resp(struct mcs_buf *b, const struct mcs_data_resp *m);
int mcs_dec_data_resp(const void *body, size_t n, struct mcs_data_resp *ret);
void mcs_enc_data_readv_req(struct mcs_buf *b, const struct mcs_data_readv_req *m);
int mcs_dec_data_readv_req(const void *body, size_t n, struct mcs_data_readv_req *ret);

void mcs_enc_hello_req(struct mcs_buf *b, const struct mcs_hello_req *m);
int mcs_dec_hello_req(const void *body, size_t n, struct mcs_hello_req *ret);
void mcs_enc_hello_resp(struct mcs_buf *b, const struct mcs_hello_resp *m);
int mcs_dec_hello_resp(const void *body, size_t n, struct mcs_hello_resp *ret);
void mcs_enc_mount_req(struct mcs_buf *b, const struct mcs_mount_req *m);
int mcs_dec_mount_req(const void *body, size_t n, struct mcs_mount_req *ret);
void mcs_enc_unmount_req(struct mcs_buf *b, const struct mcs_unmount_req *m);
int mcs_dec_unmount_req(const void *body, size_t n, struct mcs_unmount_req *ret);
void mcs_enc_heartbeat_req(struct mcs_buf *b, const struct mcs_heartbeat_req *m);
int mcs_dec_heartbeat_req(const void *body, size_t n, struct mcs_heartbeat_req *ret);
void mcs_enc_key_req(struct mcs_buf *b, const struct mcs_key_req *m);
int mcs_dec_key_req(const void *body, size_t n, struct mcs_key_req *ret);
void mcs_enc_put_start_req(struct mcs_buf *b, const struct mcs_put_start_req *m);
int mcs_dec_put_start_req(const void *body, size_t n, struct mcs_put_start_req *ret);
void mcs_enc_put_start_resp(struct mcs_buf *b, const struct mcs_put_start_resp *m);
int mcs_dec_put_start_resp(const void *body, size_t n, struct mcs_put_start_resp *ret);
void mcs_enc_put_end_req(struct mcs_buf *b, const struct mcs_put_end_req *m);
int mcs_dec_put_end_req(const void *body, size_t n, struct mcs_put_end_req *ret);
void mcs_enc_get_req(struct mcs_buf *b, const struct mcs_get_req *m);
int mcs_dec_get_req(const void *body, size_t n, struct mcs_get_req *ret);
void mcs_enc_get_resp(struct mcs_buf *b, const struct mcs_get_resp *m);
int mcs_dec_get_resp(const void *body, size_t n, struct mcs_get_resp *ret);
void mcs_enc_release_req(struct mcs_buf *b, const struct mcs_release_req *m);
int mcs_dec_release_req(const void *body, size_t n, struct mcs_release_req *ret);
void mcs_enc_remove_req(struct mcs_buf *b, const struct mcs_remove_req *m);
int mcs_dec_remove_req(const void *body, size_t n, struct mcs_remove_req *ret);
void mcs_enc_remove_all_resp(struct mcs_buf *b, const struct mcs_remove_all_resp *m);
int mcs_dec_remove_all_resp(const void *body, size_t n, struct mcs_remove_all_resp *ret);
void mcs_enc_list_req(struct mcs_buf *b, const struct mcs_list_req *m);
int mcs_dec_list_req(const void *body, size_t n, struct mcs_list_req *ret);
void mcs_enc_list_resp(struct mcs_buf *b, const struct mcs_list_resp *m);
int mcs_dec_list_resp(const void *body, size_t n, struct mcs_list_resp *ret);
void mcs_enc_err_detail(struct mcs_buf *b, const struct mcs_err_detail *m);
int mcs_dec_err_detail(const void *body, size_t n, struct mcs_err_detail *ret);
void mcs_enc_stat_resp(struct mcs_buf *b, const struct mcs_stat_resp *m);
int mcs_dec_stat_resp(const void *body, size_t n, struct mcs_stat_resp *ret);

/* Replica lists appear in two responses; exposed for the daemon and tests. */
void mcs_enc_replica_list(struct mcs_buf *b, const struct mcs_replica_list *l);
int mcs_rd_replica_list(struct mcs_rd *r, struct mcs_replica_list *ret);

/* ---- message descriptors ---------------------------------------------
 * Every message above, as a row of proto/messages.def, for code that treats
 * them alike (the unit tests and the fuzz target walk this table).
 * mcs_msgs[MCS_MSG_put_start_req] describes struct mcs_put_start_req. */
enum mcs_msg_id {
#define MCS_MSG(name, ...) MCS_MSG_##name,
#include "proto/messages.def"
#undef MCS_MSG
	MCS_N_MSGS
};
#define MCS_MSG_MAX_OPS 2
struct mcs_msg_desc {
	const char *name;                /* "put_start_req" */
	uint16_t ops[MCS_MSG_MAX_OPS];   /* opcodes of the frames that carry it; 0 ends the list */
	bool response;                   /* carried by responses (MCS_F_RESPONSE) */
	size_t size;                     /* sizeof(struct mcs_<name>) */
	void (*enc)(struct mcs_buf *b, const void *m);            /* mcs_enc_<name> */
	int (*dec)(const void *body, size_t n, void *ret);        /* mcs_dec_<name> */
	void (*free)(void *m);           /* frees what dec allocated, zeroes *m */
};
extern const struct mcs_msg_desc mcs_msgs[MCS_N_MSGS];
/* The message of the first row that lists (opcode, response), or NULL (PING,
 * and the requests and responses with an empty body). */
const struct mcs_msg_desc *mcs_msg_for(uint16_t opcode, bool response);

static inline struct mcs_str mcs_str_c(const char *s)
{
	struct mcs_str r = { s, 0 };
	if (s)
		while (s[r.len])
			r.len++;
	return r;
}
static inline bool mcs_str_eq(struct mcs_str a, struct mcs_str b)
{
	return a.len == b.len && (a.len == 0 || memcmp(a.p, b.p, a.len) == 0);
}
/* An order of strings: by length, then bytes (for grouping, not for people). */
static inline int mcs_str_cmp(struct mcs_str a, struct mcs_str b)
{
	if (a.len != b.len)
		return a.len < b.len ? -1 : 1;
	return a.len ? memcmp(a.p, b.p, a.len) : 0;
}

#endif
