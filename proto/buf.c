/* SPDX-License-Identifier: MIT */
/*
 * The memory of the output buffer (struct mcs_buf): its life and its
 * growth. The writers that fill it are inline in wire.h, whose fast path
 * comes here only when the buffer must grow.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/proto.h"

/* Only the first failure is kept (wire.h's buf_fail, which this file, below
 * wire.h, does not include). */
static int buf_nomem(struct mcs_buf *b)
{
	if (!b->err)
		b->err = -ENOMEM;
	return b->err;
}

void mcs_buf_init(struct mcs_buf *b)
{
	memset(b, 0, sizeof(*b));
}

void mcs_buf_free(struct mcs_buf *b)
{
	free(b->p);
	mcs_buf_init(b);
}

void mcs_buf_reset(struct mcs_buf *b)
{
	b->len = 0;
	b->frame_start = 0;
	b->err = 0;
}

int mcs_buf_reserve(struct mcs_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (b->err)
		return b->err;
	if (extra <= b->cap - b->len)
		return 0;
	if (__builtin_add_overflow(b->len, extra, &need))
		return buf_nomem(b);
	/* Doubling keeps appends amortised O(1) for bodies built field by field. */
	cap = b->cap ? b->cap : 256;
	while (cap < need) {
		if (cap > SIZE_MAX / 2) {
			cap = need;
			break;
		}
		cap *= 2;
	}
	p = realloc(b->p, cap);
	if (!p)
		return buf_nomem(b);
	b->p = p;
	b->cap = cap;
	return 0;
}
