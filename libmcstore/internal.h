/* SPDX-License-Identifier: MIT */
/*
 * libmcstore's insides, shared by its files (none of this is exported):
 *
 *   handle.c  the handle: connect, HELLO, options, references, fork check
 *   link.c    one blocking link (daemon or master): frames, read-ahead,
 *             round trips, pipelines
 *   meta.c    which link metadata goes on, and the requests put, get and
 *             views share (GET_REPLICAS, PUT_REVOKE, RELEASE)
 *   iov.c     the checks of keys and replica lists; walking values over
 *             iovecs and replicas over their buffers
 *   put.c     put, putv, put batches
 *   get.c     get, getv, get batches, exists batches
 *   view.c    zero-copy views
 *   relay.c   transfers through the daemon: shared buffers, FETCH / PUSH
 *   admin.c   exists, remove, list, locate, stat
 *   peer.c    the data path straight to other nodes (peer.h)
 *
 * Data integrity: put hashes the source (XXH3-64) as it copies and hands
 * the hash to the master at PutEnd; get hashes what it copied into the
 * caller's buffer and compares, so a torn, stale or overwritten replica is
 * never returned as data. Copies go in chunks that fit in L2 so the hash
 * reads hot bytes.
 */
#ifndef MCS_LIBMCSTORE_INTERNAL_H
#define MCS_LIBMCSTORE_INTERNAL_H

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <unistd.h>
#include <xxhash.h>
#ifdef HAVE_XXH_DISPATCH
/* XXH3_64bits and XXH3_64bits_update become their dispatching versions:
 * the widest vector unit this CPU has (the hash pass over a 1 MiB value in
 * cache runs about 4x faster with AVX-512 than with SSE2) */
#include <xxh_x86dispatch.h>
#endif

#include "mcstore.h"
#include "auth/auth.h"
#include "proto/proto.h"
#include "shm/shm.h"

/* The library exports what libmcstore.sym names, and only what is marked so. */
#define MCS_EXPORT __attribute__((visibility("default")))

/* the piece copies and hashes go by: fits in L2 */
#define CHUNK (256u << 10)

/* ---- links (link.c) ------------------------------------------------------ */

/* Read-ahead of one link: frames are taken from here, so that an answer
 * (header and body, or a batch of answers) costs one recv, not two each. A
 * frame of up to RA_SIZE bytes is consumed only once whole: a timeout in
 * the middle of one leaves it for the next call, which resynchronises by
 * request id. A larger body lands in place; a timeout inside it breaks the
 * link. */
#define RA_SIZE (64u << 10)
struct rahead {
	uint8_t *buf;             /* RA_SIZE bytes, made on first use */
	size_t off, len;          /* unread bytes: [off, len) */
};

/* One blocking socket carrying frames: to the daemon (unix) or straight
 * to the master (TCP). */
struct mcs_link {
	int fd;                   /* -1: none */
	bool broken;              /* out of step: every exchange fails until reopened */
	uint64_t gen;             /* bumped on every connect: holds die with the link */
	struct rahead ra;         /* what one recv brought beyond the frame asked for */
};

struct mcs_client;

void link_init(struct mcs_link *l);
/* Adopt a connected socket: blocking, the handle's timeout as SO_RCVTIMEO. */
int link_open(struct mcs_client *c, struct mcs_link *l, int fd);
void link_close(struct mcs_link *l);
int link_write(struct mcs_client *c, struct mcs_link *l, const uint8_t *p, size_t n);
/* One whole frame: header into c->in_hdr, body into c->in. ret_fd (may be
 * NULL) receives an fd passed with the frame (HELLO, BUF_ALLOC). */
int link_read_frame(struct mcs_client *c, struct mcs_link *l, int *ret_fd);
/* Send the frame in c->out and wait for its answer (body in c->in):
 * returns the answer's status. A timeout leaves the link in step (the late
 * answer is skipped by request id later); any other failure breaks it. */
int link_roundtrip(struct mcs_client *c, struct mcs_link *l, int *ret_fd);

/* An answer of a pipeline, matched by request id. */
struct answer {
	int status;
	bool got;
	uint32_t len;
	uint8_t *body;            /* owned */
};
void answers_free(struct answer *a, size_t n);
/* c->out holds frames with request ids first .. first+n-1: send them and
 * fill ans[i] with the answer to first+i. Any failure breaks the link, but
 * a timeout with keep_on_timeout (the late answers are skipped when they
 * come). */
int link_pipeline(struct mcs_client *c, struct mcs_link *l, uint64_t first, size_t n, struct answer *ans,
		  bool keep_on_timeout);

/* Frames in c->out. */
void frame_begin(struct mcs_client *c, uint16_t op);
int frame_finish(struct mcs_client *c);
/* Detach the last answer's body (decoded strings point into it). */
uint8_t *take_in(struct mcs_client *c);

/* ---- the handle (handle.c) ----------------------------------------------- */

/* A buffer shared with the daemon (BUF_ALLOC): the daemon made the memfd. */
struct ubuf {
	uint32_t id;
	bool gone;                /* its daemon restarted: the id means nothing now */
	struct mcs_segment seg;
	struct ubuf *next;
};

/* The mapping of a segment of a daemon that restarted, kept while views
 * point into it. */
struct retired {
	struct mcs_segment seg;
	unsigned views;
	struct retired *next;
};

struct mcs_client {
	pthread_mutex_t lock;
	unsigned refs;            /* atomic */
	pid_t pid;                /* the process that made it: others get -ECHILD */
	unsigned timeout_ms;
	unsigned busy_poll_us;    /* spin before sleeping in recv */
	uint64_t busy_est_ns;     /* how long recent waits for answers lasted */
	uint64_t next_req;
	struct mcs_link daemon;   /* HELLO, buffers, transfers, STAT, relayed metadata */
	/* metadata straight to the master (the daemon's HELLO names it): one
	 * hop less than through the daemon */
	struct mcs_link master;
	char master_addr[MCS_NAME_MAX + 1]; /* host:port, "" for none */
	uint64_t master_retry_ms; /* no connect attempt before this time */
	struct mcs_link *meta;    /* the link of the current operation (meta_pick) */
	bool hold_op;             /* the operation takes holds: on the daemon's link */
	int failover_ms;          /* how long a call waits for a master to lead; <0: not */
	uint64_t fo_until;        /* this call's bound (0: no failover met yet) */
	unsigned fo_pause_ms;     /* the next pause before another try */
	struct mcs_segment seg;
	unsigned seg_views;       /* views into seg */
	struct retired *retired;  /* earlier daemons' segments still viewed */
	char *socket_path;        /* the daemon's, to connect again after its restart */
	dev_t sock_dev;           /* its socket's inode when connected: a new one */
	ino_t sock_ino;           /* is a new daemon */
	bool via_daemon_meta;     /* MCS_CLIENT_VIA_DAEMON_META */
	char node[MCS_NAME_MAX + 1];
	char segment[MCS_NAME_MAX + 1];
	uint64_t incarnation;     /* of the segment mapped: handles of another are remote */
	struct mcs_keys keys;     /* the client key the daemon handed over (off: none) */
	uint32_t max_body;
	struct mcs_buf out;
	uint8_t *in;              /* last answer's body */
	size_t in_cap;
	struct mcs_hdr in_hdr;
	XXH3_state_t *xxh;
	uint64_t staging_size;
	struct ubuf *staging;     /* for relayed transfers, made on first use */
	struct ubuf *bufs;        /* mcs_buffer_alloc()ed */
	int data_direct;          /* remote data: 0 unknown, 1 straight to peers, -1 via the daemon */
	struct mcs_peers *peers;  /* data connections to other nodes (peer.c) */
};

/* A daemon link that broke (the daemon restarted): connect again, HELLO,
 * map the new segment (its incarnation makes the replicas of the old one
 * remote); the old mapping goes, or stays while views point into it. The
 * link stays broken while the daemon cannot be reached. */
void daemon_check(struct mcs_client *c);
/* A view into the mapping at base is gone. */
void view_unmapped(struct mcs_client *c, const void *base);

/* Lock the handle for a call: -EINVAL for NULL, -ECHILD in a child of the
 * process that made it (the sockets and the mapping are the parent's:
 * sharing them would interleave two processes' frames on one stream). */
static inline int client_lock(struct mcs_client *c)
{
	if (!c)
		return -EINVAL;
	if (c->pid != getpid())
		return -ECHILD;
	pthread_mutex_lock(&c->lock);
	c->fo_until = 0;
	c->hold_op = false;
	if (c->daemon.broken || c->daemon.fd < 0)
		daemon_check(c);
	return 0;
}
static inline void client_unlock(struct mcs_client *c) { pthread_mutex_unlock(&c->lock); }

/* ---- metadata (meta.c) --------------------------------------------------- */

/* Choose the link of the operation that starts (never in the middle of
 * one: a put is owned by the link that started it). Holds are taken
 * through the daemon (c->hold_op), which takes them again at a master
 * that restarted or took over, whether or not the client calls. */
void meta_pick(struct mcs_client *c);
/* The request in c->out on the chosen link; a pipeline of requests with
 * ids first .. first+n-1, answers in ans[]. Across a failover (no master
 * leads, the direct link broke, a standby answered) each request that can
 * be sent again is, on the link chosen again, within the call's bound
 * (failover_ms from the first such failure); PUT_END, PUT_REVOKE and
 * RELEASE are not (they belong to the link that started the put or took
 * the hold): the caller starts over (see failover_due). */
int meta_roundtrip(struct mcs_client *c);
int meta_pipeline(struct mcs_client *c, uint64_t first, size_t n, struct answer *ans);
/* A status that says no master leads right now, or the master of the
 * direct link went away: a failover or a restart under way. */
bool failover_status(const struct mcs_client *c, int status);
/* Whether the call that failed with status tries again: after a pause,
 * while its bound has not passed. */
bool failover_wait(struct mcs_client *c, int status);
/* GET_REPLICAS; on success the decoded answer is in *ret and the body its
 * strings point into in *ret_body (free both). */
int get_replicas(struct mcs_client *c, struct mcs_str key, uint32_t flags, struct mcs_get_resp *ret,
		 uint8_t **ret_body);
int put_revoke(struct mcs_client *c, struct mcs_str key);
/* Fire and forget, on the link that took the hold (if it still stands). */
void release_hold(struct mcs_client *c, struct mcs_link *l, uint64_t gen, struct mcs_str key, uint64_t hold_id);

/* GET_REPLICAS (flags: MCS_GET_*) for every key at once (get.c). */
int get_batch_query(struct mcs_client *c, uint32_t flags, size_t n, const struct mcs_str *k, struct answer **ret);

/* ---- arguments, values and replicas (iov.c) ------------------------------ */

/* 1..MCS_KEY_MAX bytes: -EINVAL, -ENAMETOOLONG. */
int key_check(const char *key, struct mcs_str *ret);
/* The keys of a batch checked; *ret_keys is freed by the caller. */
int batch_keys(size_t n, const char *const *keys, struct mcs_str **ret_keys);

/* Walks the value as a byte stream over a list of iovecs. */
struct cursor {
	const struct iovec *iov;
	int n, i;
	size_t off;
};
size_t cursor_take(struct cursor *cu, size_t max, uint8_t **ret);
/* The total length of iov[0..n); -EINVAL for a bad list (NULL base with a
 * length, overflow, n < 0). */
int iov_total(const struct iovec *iov, int n, uint64_t *ret);
/* Every buffer of rep is in this node's segment. */
bool is_local(const struct mcs_client *c, const struct mcs_replica *rep);
/* The bytes of rep's buffers (UINT64_MAX, never a size, when their sum
 * overflows). */
uint64_t replica_bytes(const struct mcs_replica *rep);
/* Every buffer inside our mapping and the buffers adding up to size: a
 * master that answered otherwise would make us touch memory we must not. */
int replica_check(const struct mcs_client *c, const struct mcs_replica *rep, uint64_t size);

/* Walks a replica's buffers in value order for local copies. */
struct hcursor {
	uint32_t idx;
	uint64_t off;
};
void hcursor_copy(struct mcs_client *c, const struct mcs_replica *rep, struct hcursor *hc, const uint8_t *src,
		  size_t n);

/* ---- through the daemon (relay.c) ---------------------------------------- */

struct peer_self;
struct mcs_peers;
/* The data connections to other nodes, or NULL when remote bytes go through
 * the daemon (MCS_CLIENT_VIA_DAEMON_DATA). */
struct mcs_peers *direct_peers(struct mcs_client *c);
struct peer_self self_of(const struct mcs_client *c);
int staging(struct mcs_client *c, struct ubuf **ret);
/* The registered buffer wholly containing [p, p+len), if any. */
struct ubuf *buf_containing(struct mcs_client *c, const void *p, uint64_t len);
/* One FETCH/PUSH per replica in reps[] for value bytes [off, off+len)
 * to/from buffer b at buf_off; one round trip whatever their number. */
int transfer(struct mcs_client *c, uint16_t op, const struct mcs_replica *const *reps, unsigned n_reps,
	     const struct ubuf *b, uint64_t buf_off, uint64_t off, uint64_t len);
void bufs_free(struct mcs_client *c, bool tell_daemon);

/* ---- views (view.c) ------------------------------------------------------ */

/* Turn a GET_REPLICAS answer with a hold into a view holding a reference
 * on the handle (frees the list either way). */
int make_view(struct mcs_client *c, struct mcs_str k, struct mcs_get_resp *g, unsigned flags, struct mcs_view **ret);

#endif
