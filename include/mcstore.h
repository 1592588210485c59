/* SPDX-License-Identifier: MIT */
/*
 * mcstore.h - the public C API of mcstore, a distributed KV-cache store.
 *
 * A process opens a handle on its node's daemon (mcstored) through a unix
 * socket. The daemon passes the node's shared-memory segment to the process,
 * which maps it: replicas on the local node are written and read with a plain
 * memcpy, or read in place through a zero-copy view held under a lease.
 *
 * Conventions:
 *  - Every function returns 0 (or a non-negative count/size) on success and a
 *    negative value on failure: either a negated errno (-ENOMEM, -ECONNREFUSED,
 *    ...): see Statuses below. mcs_strerror() names them.
 *  - Output parameters are named ret_* and are untouched on failure.
 *  - A handle may be shared by threads: calls on one handle are serialised by
 *    an internal mutex. Open one handle per thread for parallelism.
 *  - Every returned byte is verified against the 64-bit checksum recorded when
 *    the object was stored; a mismatch is never returned as data. The one
 *    exception is a view asked for with MCS_VIEW_NOVERIFY (see there).
 */
#ifndef MCSTORE_H
#define MCSTORE_H

#include <errno.h>  /* statuses are negated errnos */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Statuses are negated errno values, the Linux libraries' convention; what
 * each means as an answer of mcstore:
 *   -ENOENT        no such key
 *   -EAGAIN        the key's put has started and not ended yet (Mooncake's
 *                  "replica not ready")
 *   -EEXIST        the key is stored already (keys are immutable)
 *   -ENOSPC        no segment can hold the object, even after eviction
 *   -EXFULL        fewer nodes than replicas asked can hold the object
 *                  (all-or-nothing; mcs_error_detail() says how many can)
 *   -EBUSY         the object is under a read lease or held by a view
 *   -EBADMSG       checksum mismatch on every replica
 *   -ERANGE        the caller's buffer is smaller than the object
 *   -EREMOTE       no replica on this node (views are local)
 *   -ENAMETOOLONG  key longer than MCS_KEY_MAX
 *   -EMSGSIZE      a length exceeds a configured limit
 *   -EINVAL        invalid argument
 *   -EPROTO        malformed or unexpected message
 *   -EPROTONOSUPPORT  the daemon speaks another protocol version
 *   -EHOSTDOWN     the node daemon has no master connection
 *   -ETIMEDOUT     a peer did not answer in time
 *   -ENODEV        no such segment;  -ESRCH  no such view or hold
 * and any other errno from the system calls underneath (-ECONNREFUSED,
 * -EACCES, -ENOMEM, ...). mcs_strerror() gives mcstore's words for them,
 * strerror(-status) the system's. */

#define MCS_KEY_MAX 4096        /* bytes in a key */
#define MCS_MAX_REPLICAS 16     /* replicas per object */
#define MCS_MAX_LOCATIONS 16    /* preferred locations per put */

/* Name of a status (or of a negated errno). Never NULL. */
const char *mcs_strerror(int status);

/* After a call failed with one of these statuses, the detail the master
 * gave with it, in the thread that made the call (as errno): for
 * -EBUSY (leased) the milliseconds left on the read lease, for
 * -EXFULL how many nodes can hold a replica of the object.
 * 0 when the refusal came without one. */
uint64_t mcs_error_detail(void);

/* Library version string, e.g. "0.1.0". */
const char *mcs_version(void);

struct mcs_client;

struct mcs_client_opts {
	size_t size;              /* sizeof(struct mcs_client_opts) */
	const char *socket_path;  /* NULL: $MCSTORE_SOCKET, else MCS_DEFAULT_SOCKET */
	unsigned timeout_ms;      /* per request; 0: 30000 */
	uint64_t staging_size;    /* shared buffer for remote transfers; 0: 64 MiB */
};

#define MCS_DEFAULT_SOCKET "/run/mcstore/mcstored.sock"

/* Connect to the node daemon and map its segment. */
int mcs_client_new(const struct mcs_client_opts *opts, struct mcs_client **ret);
/* Close the handle; releases every view still held. Accepts NULL, returns NULL. */
struct mcs_client *mcs_client_free(struct mcs_client *c);

/* Replication config, as ReplicateConfig in Mooncake. */
enum {
	MCS_REPL_ALL_OR_NOTHING = 1u << 0, /* fail unless replica_num replicas fit */
	MCS_REPL_SOFT_PIN = 1u << 1,       /* keep unless nothing else can be evicted */
	MCS_REPL_HARD_PIN = 1u << 2,       /* never evict (operators) */
};
struct mcs_replicate_config {
	size_t size;                      /* sizeof(struct mcs_replicate_config) */
	uint32_t replica_num;             /* 0 is taken as 1 */
	uint32_t flags;                   /* MCS_REPL_* */
	const char *const *locations;     /* preferred segment names, may be NULL */
	size_t n_locations;
};

/* Store one buffer under key. cfg may be NULL (one replica). Returns the
 * number of replicas stored (>= 1) or a negative status. */
int mcs_put(struct mcs_client *c, const char *key, const void *buf, size_t len,
	    const struct mcs_replicate_config *cfg);
/* Store the concatenation of iov[0..iovcnt) under key. */
int mcs_putv(struct mcs_client *c, const char *key, const struct iovec *iov, int iovcnt,
	     const struct mcs_replicate_config *cfg);

/* Copy the object into buf. Returns its size, or -ERANGE when
 * cap is smaller (then *ret_size, if not NULL, holds the size needed). */
ssize_t mcs_get(struct mcs_client *c, const char *key, void *buf, size_t cap, size_t *ret_size);
/* Scatter the object over iov; the iov must hold at least its size. */
ssize_t mcs_getv(struct mcs_client *c, const char *key, const struct iovec *iov, int iovcnt);
/* Copy the object into a malloc()ed buffer the caller frees. */
int mcs_get_alloc(struct mcs_client *c, const char *key, void **ret_buf, size_t *ret_len);

/* A read-only view of an object in the local segment. The object cannot be
 * removed or evicted until the view is released. Striped objects have several
 * pieces; iov[0..n_iov) cover the value in order. */
struct mcs_view {
	size_t size;
	size_t n_iov;
	const struct iovec *iov;
};
/* A view verified against the checksum: its bytes are hashed before it is
 * returned (-EBADMSG on a mismatch), which costs a pass over the
 * whole object (over half a millisecond for 16 MiB). Same as
 * mcs_get_view_flags(c, key, 0, ret). */
int mcs_get_view(struct mcs_client *c, const char *key, struct mcs_view **ret);
enum {
	/* Return the view after the round trip, without hashing it: the cost
	 * no longer depends on the size. Still guaranteed: the object was
	 * complete with this size, the view covers one of its replicas in the
	 * local segment (every offset checked against the mapping), and the
	 * hold keeps that memory from being removed, evicted or reused until
	 * the release. NOT guaranteed: that the bytes are those stored. A
	 * replica damaged after its put (a stray write by any process that
	 * maps the node's segment, which every client maps read-write; a
	 * memory error; a bug) is returned as it is, and nothing else will
	 * notice. Call mcs_view_verify() before trusting the bytes. */
	MCS_VIEW_NOVERIFY = 1u << 0,
};
/* A view; flags: 0 or MCS_VIEW_NOVERIFY (anything else: -EINVAL). */
int mcs_get_view_flags(struct mcs_client *c, const char *key, unsigned flags, struct mcs_view **ret);
/* Hash the view's bytes now and compare them with the checksum recorded at
 * put: 0 if they match, -EBADMSG if not (-ENOMEM, -EINVAL). Works
 * on any view, verified or not, as often as wanted (a verified view was only
 * checked when it was made). Takes no lock on the handle, so it may run in
 * any thread beside other calls on c, e.g. while a GPU copies the view, but
 * not concurrently with mcs_view_release() of v. */
int mcs_view_verify(struct mcs_client *c, const struct mcs_view *v);
/* Release a view; accepts NULL. */
void mcs_view_release(struct mcs_client *c, struct mcs_view *v);

/* Memory shared with the node daemon, like Mooncake's registerLocalMemory:
 * a get into such a buffer lands there straight from the remote node, and
 * a put from one leaves from there, so remote transfers make no copy in
 * this process. Freed with mcs_buffer_free or with the handle. */
int mcs_buffer_alloc(struct mcs_client *c, size_t size, void **ret);
int mcs_buffer_free(struct mcs_client *c, void *p);

/* Where an object is: every replica and the buffers it is made of. */
struct mcs_buffer_location {
	char node[256];
	char segment[256];
	char endpoint[256];       /* data address of the node */
	uint64_t offset;
	uint64_t len;
};
struct mcs_replica_location {
	uint32_t status;          /* 3: complete */
	size_t n_buffers;
	struct mcs_buffer_location *buffers;
};
struct mcs_object_info {
	uint64_t size;
	uint64_t checksum;
	size_t n_replicas;
	struct mcs_replica_location *replicas;
};
int mcs_locate(struct mcs_client *c, const char *key, struct mcs_object_info **ret);
void mcs_object_info_free(struct mcs_object_info *info);

/* 1 if key is stored and complete, 0 if not, negative on error. */
int mcs_exists(struct mcs_client *c, const char *key);

/* Batches, as Mooncake's BatchPut / BatchGet / BatchIsExist: one request
 * per key, all written at once and answered together, so n keys cost the
 * round trips of one (a put: one for every PUT_START, one for every
 * PUT_END; the copies in between are those of mcs_put). Each key succeeds
 * or fails on its own: results[i] gets what the single call would return
 * for keys[i]. The return value is the number of keys that succeeded
 * (present, for mcs_exists_batch), or a negative status when the batch
 * could not be carried out at all (invalid arguments, a connection error;
 * results[] is then undefined). At most MCS_BATCH_MAX keys per call. */
#define MCS_BATCH_MAX 4096
/* Store values[i] under keys[i]; results[i]: replicas stored or a status. */
int mcs_put_batch(struct mcs_client *c, size_t n, const char *const *keys, const struct iovec *values,
		  const struct mcs_replicate_config *cfg, int *results);
/* Copy each object into bufs[i]; results[i]: its size or a status. */
int mcs_get_batch(struct mcs_client *c, size_t n, const char *const *keys, const struct iovec *bufs,
		  ssize_t *results);
/* A view of each object (NULL where results[i] < 0); release each one. */
int mcs_get_view_batch(struct mcs_client *c, size_t n, const char *const *keys, struct mcs_view **views,
		       int *results);
/* The same with the flags of mcs_get_view_flags() (MCS_VIEW_NOVERIFY). */
int mcs_get_view_batch_flags(struct mcs_client *c, size_t n, const char *const *keys, unsigned flags,
			     struct mcs_view **views, int *results);
/* results[i]: 1 if keys[i] is stored and complete, 0 if not, or a status. */
int mcs_exists_batch(struct mcs_client *c, size_t n, const char *const *keys, int *results);

enum {
	MCS_REMOVE_FORCE = 1u << 0, /* ignore leases (operators) */
};
int mcs_remove(struct mcs_client *c, const char *key, unsigned flags);
/* Remove every object without a lease; *ret_count (may be NULL) gets how many. */
int mcs_remove_all(struct mcs_client *c, uint64_t *ret_count);

/* A page of keys, as mcs_list_keys() gives it: keys[0..n_keys), each a
 * NUL-terminated string; next_cursor continues the walk, 0 when it is
 * over. Free with mcs_key_page_free(). */
struct mcs_key_page {
	uint64_t next_cursor;
	size_t n_keys;
	const char *const *keys;
};
/* List stored (complete) keys that start with prefix (NULL or "": every
 * key), for operators: a page of about max keys (at most 1000) from
 * cursor, 0 for the first page. A page may hold fewer keys than asked,
 * even none, while next_cursor is not 0: the master bounds the work of
 * one request. Walking every page lists each key stored for the whole
 * walk at least once (a key may come twice when the table grew); keys put
 * or removed meanwhile may or may not appear. No lease is taken. */
int mcs_list_keys(struct mcs_client *c, const char *prefix, uint64_t cursor, size_t max,
		  struct mcs_key_page **ret);
/* Accepts NULL; returns NULL. */
struct mcs_key_page *mcs_key_page_free(struct mcs_key_page *page);

/* Cluster statistics. */
struct mcs_segment_info {
	char name[256];
	char node[256];
	uint64_t size;
	uint64_t used;
	uint64_t n_allocs;
};
struct mcs_stat {
	uint64_t n_objects;
	uint64_t capacity;
	uint64_t used;
	uint64_t n_segments;
	struct mcs_segment_info *segments;
	/* this node, as the daemon sees it */
	char local_node[256];
	char local_segment[256];
	int local_hugepages;      /* 1 if the local segment uses huge pages */
	/* master counters since it started */
	uint64_t evict_runs;
	uint64_t evictions;
	uint64_t evicted_bytes;
	uint64_t put_no_space;    /* puts refused for space even after eviction */
	uint64_t leases_granted;
	uint64_t remove_refused;  /* removes refused because of a lease */
	uint64_t puts_timed_out;
	uint64_t soft_pins_refused;
	uint64_t nodes_lost;
};
int mcs_stat(struct mcs_client *c, struct mcs_stat **ret);
void mcs_stat_free(struct mcs_stat *s);

#ifdef __cplusplus
}
#endif
#endif
