/* SPDX-License-Identifier: MIT */
/* PUT_END answers that wait for their notices' answers: see acks.h. */
#include <stdlib.h>

#include "common/log.h"
#include "common/util.h"
#include "mcstore.h"
#include "master/acks.h"
#include "master/master.h"
#include "uring/conn.h"

struct wait_node {
	struct mcs_conn *node;     /* a reference; NULL: the relaying node's own */
	uint32_t replica;          /* the part's replica */
	bool done;                 /* answered, or its node went away */
	bool ok;                   /* the part is in the node's table */
};

struct master_wait {
	struct mcs_conn *client;   /* a reference; NULL: the slot is free */
	struct mcs_hdr req;        /* the PUT_END's opcode and req_id */
	uint32_t gen;
	uint32_t waiting;          /* notices not answered yet */
	bool unasked;              /* some went to a node that does not answer */
	bool answered;             /* the PUT_END's answer went */
	uint32_t n, cap;
	struct wait_node *nodes;   /* one per notice sent */
};

void master_acks_begin(struct master_acks *a, struct mcs_conn *client, const struct mcs_hdr *h)
{
	a->collecting = true;
	a->client = client;
	a->req = *h;
	a->cur = -1;
	a->unasked = false;
}

void master_acks_unasked(struct master_acks *a)
{
	a->unasked = true;
}

static int32_t slot_get(struct master_acks *a)
{
	if (!a->n_free) {
		if (a->n == a->cap) {
			uint32_t cap = a->cap ? 2 * a->cap : 16;
			struct master_wait *w = realloc(a->w, cap * sizeof(*w));
			if (!w)
				return -1;
			a->w = w;
			uint32_t *f = realloc(a->free, cap * sizeof(*f));
			if (!f)
				return -1;
			a->free = f;
			a->cap = cap;
		}
		a->w[a->n] = (struct master_wait){ 0 };
		a->free[a->n_free++] = a->n++;
	}
	uint32_t i = a->free[--a->n_free];
	struct master_wait *w = &a->w[i];
	if (++a->gen == 0)
		a->gen = 1;
	*w = (struct master_wait){ .client = mcs_conn_ref(a->client), .req = a->req, .gen = a->gen, .nodes = w->nodes,
				   .cap = w->cap };
	return (int32_t)i;
}

static void slot_put(struct master_acks *a, uint32_t i)
{
	struct master_wait *w = &a->w[i];
	for (uint32_t k = 0; k < w->n; k++)
		mcs_conn_unref(w->nodes[k].node);
	w->client = mcs_conn_unref(w->client);
	w->n = 0;
	w->gen = 0;
	a->free[a->n_free++] = i;
}

/* A notice to the node that relays the PUT_END itself needs no answer:
 * it goes on the link the PUT_END's answer takes, before it, so the node
 * has it in its table before it can tell its client the put is done. */
uint64_t master_acks_want(struct master_acks *a, struct mcs_conn *node, uint32_t replica)
{
	if (!a->collecting)
		return 0;
	if (a->cur < 0 && (a->cur = slot_get(a)) < 0) {
		a->unasked = true;
		return 0;
	}
	struct master_wait *w = &a->w[a->cur];
	if (w->n == w->cap) {
		uint32_t cap = w->cap ? 2 * w->cap : 4;
		struct wait_node *nodes = realloc(w->nodes, cap * sizeof(*nodes));
		if (!nodes) {
			a->unasked = true;
			return 0;
		}
		w->nodes = nodes;
		w->cap = cap;
	}
	bool self = node == a->client;
	w->nodes[w->n++] = (struct wait_node){ .node = self ? NULL : mcs_conn_ref(node), .replica = replica,
					       .done = self, .ok = self };
	if (self)
		return 0;
	w->waiting++;
	return ((uint64_t)w->gen << 32) | (uint32_t)a->cur;
}

/* Whether a rebuild would find the put: every part of one of its
 * replicas is in the table of a node (or on its way to the relaying
 * node's, or sent to one that does not answer, trusted as before). */
static bool recorded(const struct master_wait *w)
{
	if (w->unasked)
		return true;
	for (uint32_t k = 0; k < w->n; k++) {
		bool whole = true;
		for (uint32_t j = 0; j < w->n && whole; j++)
			if (w->nodes[j].replica == w->nodes[k].replica && !w->nodes[j].ok)
				whole = false;
		if (whole)
			return true;
	}
	return false;
}

bool master_acks_end(struct master_acks *a)
{
	a->collecting = false;
	a->client = NULL;
	if (a->cur < 0)
		return false;
	struct master_wait *w = &a->w[a->cur];
	a->cur = -1;
	w->unasked = a->unasked;
	if (!w->waiting) {
		slot_put(a, (uint32_t)(w - a->w));
		return false;
	}
	if (recorded(w)) {
		/* answered now; the other nodes' answers are still taken */
		w->answered = true;
		return false;
	}
	a->puts_waited++;
	return true;
}

/* The put's answer, once: a master that no longer leads says so instead
 * (a new leader may serve; its index has the object if the nodes' tables
 * do). */
static void answer(struct master *m, struct master_wait *w)
{
	int status = 0;
	w->answered = true;
	if (m->ha_on && !master_ha_leading(&m->ha, mcs_now_ms(), NULL))
		status = -EREMCHG;
	else if (!recorded(w)) {
		status = -ENOLINK;
		m->acks.puts_unrecorded++;
	}
	if (!mcs_conn_is_closed(w->client)) {
		struct mcs_hdr h = { .opcode = w->req.opcode, .flags = MCS_F_RESPONSE, .status = status,
				     .req_id = w->req.req_id };
		mcs_conn_send(w->client, &h, NULL, 0, -1);
	}
}

/* After a notice of slot i was answered or lost: the put is answered as
 * soon as one replica is whole in the tables, and the slot goes once
 * every notice is. */
static void progress(struct master *m, uint32_t i)
{
	struct master_wait *w = &m->acks.w[i];
	if (!w->answered && (w->waiting == 0 || recorded(w)))
		answer(m, w);
	if (w->waiting == 0)
		slot_put(&m->acks, i);
}

int master_acks_answer(struct master *m, struct mcs_conn *node, const struct mcs_hdr *h)
{
	struct master_acks *a = &m->acks;
	uint32_t i = (uint32_t)h->req_id;
	struct master_wait *w = i < a->n ? &a->w[i] : NULL;
	if (h->opcode != MCS_OP_REPLICA_ADD || !w || !w->client || w->gen != (uint32_t)(h->req_id >> 32))
		return -EPROTO;
	uint32_t k = 0;
	while (k < w->n && (w->nodes[k].node != node || w->nodes[k].done))
		k++;
	if (k == w->n)
		return -EPROTO;
	w->nodes[k].done = true;
	w->nodes[k].ok = h->status >= 0;
	w->waiting--;
	a->answers++;
	if (h->status < 0) {
		a->answers_failed++;
		static struct mcs_ratelimit rl;
		char note[64];
		if (mcs_ratelimit_ok(&rl, note, sizeof(note)))
			log_warning("a node could not record a part in its table (%s): it is lost to a restart of the "
				    "master%s", mcs_status_text(h->status), note);
	}
	progress(m, i);
	return 0;
}

void master_acks_closed(struct master *m, struct mcs_conn *c)
{
	struct master_acks *a = &m->acks;
	for (uint32_t i = 0; i < a->n; i++) {
		struct master_wait *w = &a->w[i];
		if (!w->client)
			continue;
		bool lost = false;
		for (uint32_t k = 0; k < w->n; k++)
			if (w->nodes[k].node == c && !w->nodes[k].done) {
				w->nodes[k].done = true;
				a->nodes_gone++;
				w->waiting--;
				lost = true;
			}
		if (lost)
			progress(m, i);
	}
}

uint32_t master_acks_waiting(const struct master_acks *a)
{
	uint32_t n = 0;
	for (uint32_t i = 0; i < a->n; i++)
		n += a->w[i].client && !a->w[i].answered;
	return n;
}

void master_acks_free(struct master_acks *a)
{
	for (uint32_t i = 0; i < a->n; i++) {
		if (a->w[i].client)
			slot_put(a, i);
		free(a->w[i].nodes);
	}
	free(a->w);
	free(a->free);
	*a = (struct master_acks){ 0 };
}
