/* SPDX-License-Identifier: MIT */
/*
 * The table of the complete replica parts a node holds in its segment
 * (issue 15, under way): for each part, the key, where it lies in the
 * segment, and what a master needs to make the object COMPLETE again
 * (its size and checksum, the part's place in its replica, the pins), so
 * that a master that lost its tables (a restart, a new leader) rebuilds
 * them from what the nodes report.
 *
 * The table lives in a memfd of its own, mapped, not in the daemon's
 * heap: it can go to the service manager's fd store beside the segment
 * and be opened again by the next start of the daemon. It is a log:
 *
 *   a 64-byte header (magic, version, the segment's incarnation, the
 *   committed length), then records back to back, each 8-byte aligned:
 *   u32 record length, u32 state (live / dropped), the part's fields,
 *   the key, and an XXH3 of all of it but the state.
 *
 * An add appends a record and then publishes it by storing the new
 * committed length (one aligned 8-byte store): a daemon killed in between
 * loses that one record, never the table. A drop stores the state word.
 * When dropped records pass half of the log, the live ones are copied to a
 * new memfd (mcs_rtab_fd() changes: the caller stores the new one). The
 * index (segment offset -> record) is the process's own, rebuilt by
 * mcs_rtab_open().
 */
#ifndef MCS_DAEMON_REPLICAS_H
#define MCS_DAEMON_REPLICAS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct mcs_rtab;

/* One part: bytes [offset, offset + len) of the segment hold bytes
 * [value_off, value_off + len) of the value of key, as handle `handle`
 * of `n_handles` of replica `replica`. */
struct mcs_rpart {
	const char *key;            /* not NUL-terminated; in the table for what it returns */
	uint32_t keylen;            /* 1 .. MCS_KEY_MAX */
	uint64_t offset, len;       /* in the segment; len > 0 */
	uint64_t size, checksum;    /* of the object */
	uint64_t value_off;         /* value_off + len <= size */
	uint32_t flags;             /* MCS_REPL_* (the pins) */
	uint16_t replica;           /* < MCS_MAX_REPLICAS */
	uint16_t handle, n_handles; /* handle < n_handles <= MCS_MAX_HANDLES */
};

/* A new empty table for the segment of that incarnation (its memfd is
 * made here). 0, or a negative errno. */
int mcs_rtab_new(uint64_t incarnation, struct mcs_rtab **ret);
/* The table a previous start of the daemon left in fd (taken over: closed
 * with the table, also on failure), for the segment of that incarnation
 * (0: of any; mcs_rtab_incarnation() then says which).
 * -EBADMSG when it is not one, or for another incarnation, or any
 * committed record fails its hash: the caller starts empty and says so. */
int mcs_rtab_open(int fd, uint64_t incarnation, struct mcs_rtab **ret);
/* NULL ok; closes the memfd. Returns NULL. */
struct mcs_rtab *mcs_rtab_free(struct mcs_rtab *t);

/* The incarnation of the segment the table was made for. */
uint64_t mcs_rtab_incarnation(const struct mcs_rtab *t);
/* The memfd holding the table now (a compaction makes a new one). */
int mcs_rtab_fd(const struct mcs_rtab *t);
/* Bumped by every change of mcs_rtab_fd(). */
uint64_t mcs_rtab_generation(const struct mcs_rtab *t);

/* Record p (its fields are checked: -EINVAL). A part already at
 * p->offset is dropped first (the master reuses space it freed). */
int mcs_rtab_add(struct mcs_rtab *t, const struct mcs_rpart *p);
/* Drop the part at offset: 0, or -ENOENT. */
int mcs_rtab_drop(struct mcs_rtab *t, uint64_t offset);
/* The part at offset, its key pointing into the table (valid until the
 * next add or drop): 0, or -ENOENT. */
int mcs_rtab_get(const struct mcs_rtab *t, uint64_t offset, struct mcs_rpart *ret);
/* Forget every part (the segment's memory is gone). */
int mcs_rtab_clear(struct mcs_rtab *t);

uint64_t mcs_rtab_count(const struct mcs_rtab *t);
/* Bytes of the log (committed) and of its dropped records. */
uint64_t mcs_rtab_log_bytes(const struct mcs_rtab *t);
uint64_t mcs_rtab_dead_bytes(const struct mcs_rtab *t);

/* Drop every part of which a later add recorded another part of the same
 * key: the value an upsert replaced, whose DROP may not have come (a
 * master that went first). A node holds one part of an object at most (a
 * replica's stripes are on nodes of their own), so a key's last part is
 * its newest value; the table keeps the order of the adds, compactions
 * included. Returns how many went, or -ENOMEM. */
int64_t mcs_rtab_drop_superseded(struct mcs_rtab *t);
/* Every part, in ascending segment offset (a master reserves their space
 * in that order): fn is called with each until it returns non-zero, which
 * is returned. The table must not change meanwhile. -ENOMEM possible. */
int mcs_rtab_walk(const struct mcs_rtab *t, int (*fn)(const struct mcs_rpart *p, void *arg), void *arg);

#endif
