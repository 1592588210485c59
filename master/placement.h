/* SPDX-License-Identifier: MIT */
/* Where the replicas of a new object go (placement.c), for store.c. */
#ifndef MCS_MASTER_PLACEMENT_H
#define MCS_MASTER_PLACEMENT_H

#include "master/tables.h"

/* Place the replicas of the new PENDING object o (not yet in the tables;
 * its replica records are its own room, spare its buffer records, see
 * obj_inline), evicting for the space when it is not there. 0 with
 * o->n_replicas set (fewer than asked unless all-or-nothing), -ENOSPC, or
 * -EXFULL when all-or-nothing asks for more replicas than there are nodes
 * able to hold one. */
int mcs_place_replicas(struct mcs_store *s, const struct mcs_put_start_req *req, struct mcs_obj *o,
		       struct mcs_mhandle *spare, uint64_t now_ms);

#endif
