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

#include "proto/proto.h"

struct mcs_rtab;

/* A part is the wire's struct mcs_replica_part (proto.h), as the master's
 * REPLICA_ADD brings it and the REPLICA_REPORT takes it back: bytes
 * [offset, offset + len) of the segment hold bytes [value_off, value_off
 * + len) of the value of key, as handle `handle` of `n_handles` of
 * replica `replica`. Its segment is the table's own: ignored by add,
 * empty in what the table returns, whose key points into the table. */

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
/* fn(arg) after every change of mcs_rtab_fd() (a compaction, a clear),
 * from inside the call that made it: whoever keeps the fd (the service
 * manager's fd store) must be given the new one. */
void mcs_rtab_on_move(struct mcs_rtab *t, void (*fn)(void *arg), void *arg);

/* Record p (its fields are checked: -EINVAL). A part already at
 * p->offset is dropped first (the master reuses space it freed). */
int mcs_rtab_add(struct mcs_rtab *t, const struct mcs_replica_part *p);
/* Drop the part at offset: 0, or -ENOENT. */
int mcs_rtab_drop(struct mcs_rtab *t, uint64_t offset);
/* The part at offset, its key pointing into the table (valid until the
 * next add or drop): 0, or -ENOENT. */
int mcs_rtab_get(const struct mcs_rtab *t, uint64_t offset, struct mcs_replica_part *ret);
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
int mcs_rtab_walk(const struct mcs_rtab *t, int (*fn)(const struct mcs_replica_part *p, void *arg), void *arg);

#endif
