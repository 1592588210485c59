/* SPDX-License-Identifier: MIT */
/* What placement.c needs of eviction (evict.c) beyond store.h's calls. */
#ifndef MCS_MASTER_EVICT_H
#define MCS_MASTER_EVICT_H

#include "master/tables.h"

/* A run starts: the part of it beyond what the caller evicts at once
 * (eviction_ratio of the objects) becomes the background's debt, unless
 * one is still being paid. */
void mcs_evict_owe_run(struct mcs_store *s);

#endif
