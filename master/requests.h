/* SPDX-License-Identifier: MIT */
/* The master's answers to requests (requests.c), for main.c. */
#ifndef MCS_MASTER_REQUESTS_H
#define MCS_MASTER_REQUESTS_H

#include <stdint.h>

#include "master/master.h"

/* Decode the request h (body: h->body_len bytes) that came from p on c,
 * call the store and send the answer: a status, with a body or a
 * refusal's detail. Everything the request leaves (segments, pending
 * puts, holds) belongs to c. 0, or a negative errno to close c. */
int master_handle(struct peer *p, struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body);
/* The same for a link not yet authenticated: the handshake's steps are
 * answered here, anything else refused (and c closed). */
int master_auth(struct peer *p, struct mcs_conn *c, const struct mcs_hdr *h, const uint8_t *body);

/* The store's part_added and part_dropped (store.h), arg the master: the
 * REPLICA_ADD and REPLICA_DROP notices to the node of the segment, so
 * that its table of parts (daemon/replicas.h) follows the master's. */
void master_part_added(void *arg, const struct mcs_obj *o, uint32_t r, uint32_t h);
void master_part_dropped(void *arg, const struct mcs_seg *g, uint64_t offset);

#endif
