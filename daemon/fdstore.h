/* SPDX-License-Identifier: MIT */
/*
 * The service manager's file-descriptor store (sd_pid_notify_with_fds(3),
 * sd_listen_fds_with_names(3)): the segment's memfd and the memfd of its
 * table of parts are kept there, so that the next start of the daemon
 * (after a crash, a restart, an upgrade) takes them back with every
 * object in them. Outside a service manager that keeps fds, nothing is
 * stored and every start is a new segment.
 */
#ifndef MCS_DAEMON_FDSTORE_H
#define MCS_DAEMON_FDSTORE_H

#include <stdint.h>

#define NODE_FD_SEGMENT "segment"
#define NODE_FD_REPLICAS "replicas"

/* What the previous start left: -1 where nothing came. Other fds passed
 * in are closed (and named in the log). */
struct node_fds {
	int segment;
	int replicas;
};
void node_fds_take(struct node_fds *ret);
/* Keep fd (what it is, for the log) in the store under name, in place of what it held under that
 * name. 1 when the service manager took it, 0 without one, else a
 * negative errno (logged: the next start will not find it). */
int node_fds_store(const char *name, int fd, const char *what);
/* Forget what the store holds under name (the memory is gone). */
void node_fds_remove(const char *name);

#endif
