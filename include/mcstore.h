/* SPDX-License-Identifier: MIT */
/*
 * mcstore.h - the public C API of mcstore, a distributed KV-cache store
 * (libmcstore 1.0; see libmcstore(3)).
 *
 * A process opens a handle on its node's daemon (mcstored) through a unix
 * socket. The daemon passes the node's shared-memory segment to the process,
 * which maps it: replicas on the local node are written and read with a plain
 * memcpy, or read in place through a zero-copy view; remote replicas move
 * straight between the caller's memory and the node holding them.
 *
 * Conventions:
 *  - Every function returns 0 (or a non-negative count or size) on success
 *    and a negated errno on failure (see Statuses below).
 *  - Output parameters are named ret_* and are left untouched on failure.
 *  - Objects made by the library are released by a function that accepts
 *    NULL and returns NULL (mcs_client_unref, mcs_view_release, ..._free),
 *    with a cleanup helper for __attribute__((cleanup)) beside each
 *    (mcs_client_unrefp, ...).
 *  - A handle may be shared by threads: calls on one handle are serialised
 *    by an internal mutex. Open one handle per thread for parallelism.
 *  - A link to the master that breaks is opened again on the next call;
 *    the link to the daemon is not: once it is out of step (a batch or a
 *    transfer that timed out part way, a malformed answer) every call on
 *    the handle answers -ENOTCONN, and the caller makes a new handle.
 *  - A handle belongs to the process that made it: in a child after
 *    fork(), every call on it answers -ECHILD and unref only frees the
 *    child's memory; open a new handle in the child.
 *  - Every returned byte is verified against the 64-bit checksum recorded
 *    when the object was stored; a mismatch is never returned as data. The
 *    one exception is a view asked for with MCS_VIEW_NOVERIFY (see there).
 *  - The ABI grows by symbol-version nodes (MCSTORE_1.0, then MCSTORE_1.1,
 *    ...); nothing is renumbered. Structs passed in start with their size;
 *    structs handed out are allocated by the library, read through their
 *    pointer and may grow at their end.
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

/* The API version this header describes; mcs_version() tells the
 * library's at run time. */
#define MCSTORE_VERSION_MAJOR 1
#define MCSTORE_VERSION_MINOR 1
/* True when this header is at least version major.minor. */
#define MCSTORE_CHECK_VERSION(major, minor) \
	(MCSTORE_VERSION_MAJOR > (major) || (MCSTORE_VERSION_MAJOR == (major) && MCSTORE_VERSION_MINOR >= (minor)))

/* Statuses are negated errno values, the Linux libraries' convention; what
 * each means as an answer of mcstore:
 *   -ENOENT        no such key
 *   -EAGAIN        the key's put has started and not ended yet (Mooncake's
 *                  "replica not ready")
 *   -EEXIST        the key is stored already (keys are immutable, unless
 *                  the put says MCS_PUT_UPSERT)
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
 *   -EHOSTDOWN     the node daemon has no master connection (after the
 *                  handle's failover_ms of trying again)
 *   -EREMCHG       the master reached is a standby, and no leader was
 *                  reached within failover_ms
 *   -ETIMEDOUT     a peer did not answer in time
 *   -ECHILD        the handle was made by the parent of this process
 *   -ENODEV        no such segment;  -ESRCH  no such view or hold
 *   -EDQUOT        too many views held at once on this link (the master's
 *                  --max-holds-per-connection)
 *   -ENOLINK       a put: no replica is recorded whole in the tables of
 *                  nodes still up (they went away first, or could not
 *                  record it); it may be gone, a master restart would
 *                  lose it: put it again
 * and any other errno from the system calls underneath (-ECONNREFUSED,
 * -EACCES, -ENOMEM, ...). */

#define MCS_KEY_MAX 4096        /* bytes in a key */
#define MCS_MAX_REPLICAS 16     /* replicas per object */
#define MCS_MAX_LOCATIONS 16    /* preferred locations per put */
#define MCS_BATCH_MAX 4096      /* keys per batch call */

/* mcstore's words for a status, as the answer of an object operation
 * (-ENOENT: "no such key"); the system's (strerror) for the others.
 * Thread-safe; never NULL. */
const char *mcs_strerror(int status);

/* After a call failed, the detail the master gave with its refusal, in the
 * thread that made the call (as errno): after -EBUSY the milliseconds left
 * on the read lease (0: held by a view, which has no end), after -EXFULL
 * how many nodes can hold a replica of the object; 0 without one. */
uint64_t mcs_error_detail(void);

/* The library's version, e.g. "1.0.0". */
const char *mcs_version(void);

/* ---- handles ---------------------------------------------------------- */

struct mcs_client;

enum {
	/* Map every page of the segment at connect, so that the first copies
	 * into it take no page faults (commits the whole segment). */
	MCS_CLIENT_PREFAULT = 1u << 0,
	/* Send metadata requests through the node daemon instead of straight
	 * to the master (one hop and two wake-ups more per request). */
	MCS_CLIENT_VIA_DAEMON_META = 1u << 1,
	/* Move remote bytes through the node daemon (a shared staging buffer)
	 * instead of straight between this process and the node holding them. */
	MCS_CLIENT_VIA_DAEMON_DATA = 1u << 2,
};

struct mcs_client_opts {
	size_t size;              /* sizeof(struct mcs_client_opts) */
	const char *socket_path;  /* NULL: $MCSTORE_SOCKET (unless setuid), else
				   * MCS_DEFAULT_SOCKET */
	unsigned timeout_ms;      /* per request; 0: 30000 */
	uint64_t staging_size;    /* shared buffer for relayed transfers; 0: 64 MiB */
	unsigned flags;           /* MCS_CLIENT_* */
	unsigned busy_poll_us;    /* spin this long on a socket before sleeping
				   * (lower latency, a core busy); 0: never */
	int failover_ms;          /* how long a call waits, trying again, while
				   * no master leads (a failover, a master
				   * restart): 0: $MCSTORE_FAILOVER_MS (unless
				   * setuid), else 10000; negative: it fails
				   * at once with -EHOSTDOWN or -EREMCHG */
};

#define MCS_DEFAULT_SOCKET "/run/mcstore/mcstored.sock"

/* Connect to the node daemon and map its segment; *ret holds one reference. */
int mcs_client_new(const struct mcs_client_opts *opts, struct mcs_client **ret);
/* A reference more (views hold one each). Accepts NULL; returns c. */
struct mcs_client *mcs_client_ref(struct mcs_client *c);
/* A reference less; the last one closes the handle (and what it shared
 * with the daemon). Accepts NULL; returns NULL. */
struct mcs_client *mcs_client_unref(struct mcs_client *c);

/* ---- put -------------------------------------------------------------- */

/* Replication config, as ReplicateConfig in Mooncake, and put flags. */
enum {
	MCS_REPL_ALL_OR_NOTHING = 1u << 0, /* fail unless replica_num replicas fit */
	MCS_REPL_SOFT_PIN = 1u << 1,       /* keep unless nothing else can be evicted */
	MCS_REPL_HARD_PIN = 1u << 2,       /* never evict (operators) */
	/* Replace the value if the key exists (new in 1.1): the new value
	 * becomes what gets see at once when its put ends; views and reads
	 * of the old one keep its bytes until they are released (or their
	 * lease ends). -EAGAIN while another put of the key is under way. */
	MCS_PUT_UPSERT = 1u << 3,
};
struct mcs_replicate_config {
	size_t size;                      /* sizeof(struct mcs_replicate_config) */
	uint32_t replica_num;             /* 0 is taken as 1 */
	uint32_t flags;                   /* MCS_REPL_*, MCS_PUT_UPSERT */
	const char *const *locations;     /* preferred segment or node names, may be NULL */
	size_t n_locations;
};

/* Store len bytes of buf under key. cfg may be NULL (one replica). 0 on
 * success; *ret_replicas (may be NULL) gets how many replicas were stored:
 * fewer than asked when fewer nodes can hold one (unless all-or-nothing). */
int mcs_put(struct mcs_client *c, const char *key, const void *buf, size_t len,
	    const struct mcs_replicate_config *cfg, unsigned *ret_replicas);
/* Store the concatenation of iov[0..iovcnt) under key. */
int mcs_putv(struct mcs_client *c, const char *key, const struct iovec *iov, int iovcnt,
	     const struct mcs_replicate_config *cfg, unsigned *ret_replicas);

/* ---- get -------------------------------------------------------------- */

/* Copy the object into buf. Returns its size, or -ERANGE when cap is
 * smaller (mcs_get_size() tells the size). */
ssize_t mcs_get(struct mcs_client *c, const char *key, void *buf, size_t cap);
/* Scatter the object over iov; the iov must hold at least its size. */
ssize_t mcs_getv(struct mcs_client *c, const char *key, const struct iovec *iov, int iovcnt);
/* Copy the object into a malloc()ed buffer the caller frees. */
int mcs_get_alloc(struct mcs_client *c, const char *key, void **ret_buf, size_t *ret_len);
/* The size of a stored object, without reading it or taking a lease. */
int mcs_get_size(struct mcs_client *c, const char *key, uint64_t *ret_size);

/* 1 if key is stored and complete, 0 if not (or not complete yet),
 * negative on error. */
int mcs_exists(struct mcs_client *c, const char *key);

/* ---- zero-copy views -------------------------------------------------- */

/* A read-only view of an object in the local segment. The object cannot be
 * removed or evicted until the view is released; the view keeps its handle
 * alive. Striped objects have several pieces; iov[0..n_iov) cover the value
 * in order. */
struct mcs_view {
	size_t size;
	size_t n_iov;
	const struct iovec *iov;
};
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
/* A view of key; flags: 0 (its bytes are hashed before it is returned,
 * -EBADMSG on a mismatch, a pass over the whole object: over half a
 * millisecond for 16 MiB) or MCS_VIEW_NOVERIFY. -EREMOTE when no replica
 * is on this node. */
int mcs_get_view(struct mcs_client *c, const char *key, unsigned flags, struct mcs_view **ret);
/* Hash the view's bytes now and compare them with the checksum recorded at
 * put: 0 if they match, -EBADMSG if not. Works on any view, as often as
 * wanted; takes no lock on the handle, so it may run in any thread beside
 * other calls, e.g. while a GPU copies the view, but not concurrently with
 * the release of v. */
int mcs_view_verify(const struct mcs_view *v);
/* Release a view (and its reference on the handle). Accepts NULL;
 * returns NULL. */
struct mcs_view *mcs_view_release(struct mcs_view *v);

/* ---- batches ---------------------------------------------------------- */

/* As Mooncake's BatchPut / BatchGet / BatchIsExist: one request per key,
 * all written at once and answered together, so n keys cost the round trips
 * of one (a put: one for every PUT_START, one for every PUT_END). Each key
 * succeeds or fails on its own in results[i], which gets what the single
 * call would return for keys[i]. The return value is the number of keys
 * that succeeded (present, for mcs_exists_batch), or a negative status when
 * the batch could not be carried out at all (invalid arguments, a
 * connection error; results[] is then undefined). At most MCS_BATCH_MAX. */
/* results[i]: 0 or a status; ret_replicas[i] (the array may be NULL): the
 * replicas stored for keys[i]. */
int mcs_put_batch(struct mcs_client *c, size_t n, const char *const *keys, const struct iovec *values,
		  const struct mcs_replicate_config *cfg, int *results, unsigned *ret_replicas);
/* Copy each object into bufs[i]; results[i]: its size or a status. */
int mcs_get_batch(struct mcs_client *c, size_t n, const char *const *keys, const struct iovec *bufs,
		  ssize_t *results);
/* A view of each object (flags as mcs_get_view; NULL where results[i] < 0);
 * release each one. */
int mcs_get_view_batch(struct mcs_client *c, size_t n, const char *const *keys, unsigned flags,
		       struct mcs_view **views, int *results);
/* results[i]: 1 if keys[i] is stored and complete, 0 if not, or a status. */
int mcs_exists_batch(struct mcs_client *c, size_t n, const char *const *keys, int *results);

/* ---- shared buffers --------------------------------------------------- */

/* Memory shared with the node daemon, like Mooncake's registerLocalMemory:
 * a relayed get into such a buffer lands there straight from the remote
 * node, and a put from one leaves from there, so relayed transfers make no
 * copy in this process. Freed with mcs_buffer_free() or with the handle. */
int mcs_buffer_alloc(struct mcs_client *c, size_t size, void **ret);
/* Accepts NULL (and a pointer the handle did not give: nothing is done);
 * returns NULL. */
void *mcs_buffer_free(struct mcs_client *c, void *p);

/* ---- removal ---------------------------------------------------------- */

enum {
	MCS_REMOVE_FORCE = 1u << 0, /* ignore leases, not views (operators) */
};
/* -EBUSY while the object is leased or held (see mcs_error_detail()). */
int mcs_remove(struct mcs_client *c, const char *key, unsigned flags);
/* Remove every object without a lease; *ret_count (may be NULL) gets how many. */
int mcs_remove_all(struct mcs_client *c, uint64_t *ret_count);

/* ---- where objects are, what the cluster holds ------------------------- */

enum mcs_replica_status {
	MCS_REPLICA_UNDEFINED = 0,
	MCS_REPLICA_INITIALIZED = 1,  /* allocated, being written */
	MCS_REPLICA_PROCESSING = 2,
	MCS_REPLICA_COMPLETE = 3,     /* readable */
	MCS_REPLICA_REMOVED = 4,
	MCS_REPLICA_FAILED = 5,
};
/* One buffer of a replica: bytes [offset, offset+len) of a segment. */
struct mcs_buffer_location {
	const char *node;
	const char *segment;
	const char *endpoint;     /* data address of the node, "" if none */
	uint64_t offset;
	uint64_t len;
};
struct mcs_replica_info {
	enum mcs_replica_status status;
	size_t n_buffers;
};
struct mcs_object_info {
	uint64_t size;
	uint64_t checksum;        /* XXH3-64 of the value */
	size_t n_replicas;
};
/* Where an object is: every replica and the buffers it is made of. Takes no
 * lease: looking does not keep the object from being removed or evicted,
 * nor make it recently used. */
int mcs_locate(struct mcs_client *c, const char *key, struct mcs_object_info **ret);
/* Replica r (< n_replicas) of info, and buffer b (< its n_buffers) of it;
 * NULL when out of range. Valid as long as info. */
const struct mcs_replica_info *mcs_object_replica(const struct mcs_object_info *info, size_t r);
const struct mcs_buffer_location *mcs_object_buffer(const struct mcs_object_info *info, size_t r, size_t b);
/* Accepts NULL; returns NULL. */
struct mcs_object_info *mcs_object_info_free(struct mcs_object_info *info);

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

/* One segment of the cluster. */
struct mcs_segment_info {
	const char *name;
	const char *node;
	uint64_t size;
	uint64_t used;
	uint64_t n_allocs;        /* buffers allocated in it */
};
/* Cluster statistics. */
struct mcs_stat {
	uint64_t n_objects;
	uint64_t capacity;
	uint64_t used;
	size_t n_segments;        /* see mcs_stat_segment() */
	/* this node, as the daemon sees it */
	const char *local_node;
	const char *local_segment;
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
/* Segment i (< n_segments) of s; NULL when out of range. */
const struct mcs_segment_info *mcs_stat_segment(const struct mcs_stat *s, size_t i);
/* Accepts NULL; returns NULL. */
struct mcs_stat *mcs_stat_free(struct mcs_stat *s);

/* ---- who leads (new in 1.1) --------------------------------------------- */

/* How mcs_leader() asks. */
struct mcs_leader_opts {
	size_t size;              /* sizeof(struct mcs_leader_opts) */
	const char *key_file;     /* the cluster key (mcstorectl keygen), when
				   * the masters have one; NULL or "": none */
	unsigned timeout_ms;      /* per master or etcd member asked; 0: 2000 */
};

#define MCS_ADDR_MAX 272          /* "HOST:PORT" or "[V6]:PORT", NUL included */

/* What mcs_leader() learnt. Free with mcs_leader_info_free(). */
struct mcs_leader_info {
	int confirmed;            /* 1: the leader itself answered that it leads,
				   * in the term etcd names (with etcd://) */
	uint64_t term;            /* its term: the create revision of its etcd
				   * key (0: a master without HA) */
	char leader[MCS_ADDR_MAX];    /* HOST:PORT of the master named as the
				       * leader; "" when none is named */
	char named_by[MCS_ADDR_MAX + 8]; /* who named it: "etcd HOST:PORT" or
					  * "master HOST:PORT" */
};

/* Which master leads, without a daemon: master is "HOST:PORT" (a master,
 * which answers for itself or, a standby, names the leader, asked in turn
 * a few hops at most) or "etcd://HOST:PORT;HOST:PORT..." (etcd's
 * election key names the leader and its term; the leader is then asked
 * to confirm it). opts may be NULL.
 *
 * 0 when the masters or etcd answered, with *ret: confirmed 1 when a
 * leader is confirmed; 0 when none leads now (etcd names none, a standby
 * knows none, or the master named does not answer or does not lead in
 * that term, as in a failover), leader then being what was named, if
 * anything. Else: -EINVAL (master is no master address; see
 * mcs_master_addr_valid in mcstore's grammar: HOST:PORT or
 * etcd://H:P;H:P...), the key file's error (-ENOENT, -EACCES, -EPERM: others
 * may read it, -EBADMSG: not a key file), -EACCES (a master refused the
 * key, or its absence), -EOPNOTSUPP (a key given, the master has none),
 * -ECONNREFUSED, -ETIMEDOUT, -EHOSTUNREACH (nothing answered), -EPROTO. */
int mcs_leader(const char *master, const struct mcs_leader_opts *opts, struct mcs_leader_info **ret);
/* Accepts NULL; returns NULL. */
struct mcs_leader_info *mcs_leader_info_free(struct mcs_leader_info *info);

/* ---- cleanup helpers, for __attribute__((cleanup(...))) ---------------- */

static inline void mcs_client_unrefp(struct mcs_client **p)
{
	if (*p)
		mcs_client_unref(*p);
}
static inline void mcs_view_releasep(struct mcs_view **p)
{
	if (*p)
		mcs_view_release(*p);
}
static inline void mcs_object_info_freep(struct mcs_object_info **p)
{
	if (*p)
		mcs_object_info_free(*p);
}
static inline void mcs_key_page_freep(struct mcs_key_page **p)
{
	if (*p)
		mcs_key_page_free(*p);
}
static inline void mcs_stat_freep(struct mcs_stat **p)
{
	if (*p)
		mcs_stat_free(*p);
}

#ifdef __cplusplus
}
#endif
#endif
