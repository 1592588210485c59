/* SPDX-License-Identifier: MIT */
/*
 * How many connections each peer address has (internal to uring/): the
 * accepted TCP connections of a loop are counted in all and by the
 * address they come from, and one over mcs_loop_opts.max_conns or
 * .max_conns_per_peer is refused before its owner hears of it.
 */
#ifndef MCS_PEERS_H
#define MCS_PEERS_H

struct mcs_loop;
struct mcs_peer_slot;

/* Count the accepted socket fd: 0 and *ret (NULL for sockets that are not
 * TCP, which are not counted), or -EUSERS when its address or the loop
 * is at its limit (said in the loop's log, at most once a second). */
int mcs_peers_admit(struct mcs_loop *l, int fd, struct mcs_peer_slot **ret);
/* The connection counted in slot is gone (NULL ok). */
void mcs_peers_leave(struct mcs_loop *l, struct mcs_peer_slot *slot);

#endif
