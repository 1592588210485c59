/* SPDX-License-Identifier: MIT */
/*
 * What each owner (a connection) has in puts started and not ended, so
 * that one of them cannot take the whole capacity with PUT_STARTs it
 * never ends (issue 14, finding 9): a chained hash of the owners that
 * have any, by pointer; an owner leaves it with its last pending put.
 */
#include <stdlib.h>

#include "master/tables.h"

struct owner_debt {
	struct owner_debt *next;
	const void *owner;
	uint64_t bytes;
};

static struct owner_debt **debt_slot(struct mcs_store *s, const void *owner)
{
	uint64_t h = (uint64_t)(uintptr_t)owner * 0x9e3779b97f4a7c15ull;
	struct owner_debt **pp = &s->owner_debts[h >> 56];     /* 256 buckets */
	while (*pp && (*pp)->owner != owner)
		pp = &(*pp)->next;
	return pp;
}

uint64_t store_owner_pending(struct mcs_store *s, const void *owner)
{
	struct owner_debt *d = *debt_slot(s, owner);
	return d ? d->bytes : 0;
}

int store_owner_pending_add(struct mcs_store *s, const void *owner, uint64_t bytes)
{
	struct owner_debt **pp = debt_slot(s, owner);
	if (!*pp) {
		if (!(*pp = calloc(1, sizeof(**pp))))
			return -ENOMEM;
		(*pp)->owner = owner;
	}
	(*pp)->bytes += bytes;
	return 0;
}

void store_pending_done(struct mcs_store *s, const struct mcs_obj *o)
{
	struct owner_debt **pp = debt_slot(s, obj_put_owner(o)), *d = *pp;
	if (!d)
		return;
	d->bytes -= d->bytes < o->size ? d->bytes : o->size;
	if (d->bytes == 0) {
		*pp = d->next;
		free(d);
	}
}

void store_owners_free(struct mcs_store *s)
{
	for (size_t i = 0; i < MCS_ARRAY_SIZE(s->owner_debts); i++)
		while (s->owner_debts[i]) {
			struct owner_debt *d = s->owner_debts[i];
			s->owner_debts[i] = d->next;
			free(d);
		}
}
