/* SPDX-License-Identifier: MIT */
/*
 * A connection's ordered send queue (see sendq.h).
 *
 * Small copies are coalesced into shared chunks; an entry carrying an fd
 * gets its own and goes out with SENDMSG and SCM_RIGHTS. Sends start when
 * the turn is about to submit, not when something is queued, and one
 * SENDMSG takes up to MCS_SENDQ_GATHER consecutive entries: an answer's
 * header and the payload queued behind it, or all the answers to a
 * pipelined batch, leave in one send (one CQE, one wake-up of the peer).
 *
 * A reference (send_ref) is an entry pointing at the caller's memory, so
 * it goes out after everything queued before it and before everything
 * queued after. It is sent with the entries around it in one SENDMSG
 * (MSG_WAITALL), or alone with SEND_ZC at or above zc_threshold. A SEND_ZC
 * keeps the stream's single send slot busy until its notification CQE, so
 * the memory is never reported done (nor the next bytes sent) before the
 * kernel lets go of it; a refusal switches the stream to plain sends.
 *
 * Entries covered by the armed send are busy: nothing is appended to them
 * and nothing moves them until its completion.
 */
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "uring/sendq.h"

#define OUT_COALESCE (64u << 10)          /* small frames share chunks up to this */
#define OUT_MIN_CAP 4096u

/* One run of outgoing bytes. */
struct ent {
	struct mcs_list link;       /* on q->ents */
	uint8_t *data;              /* ours, or the caller's if ref */
	size_t len, cap, off;       /* off: bytes already sent */
	int fd;                     /* dup to pass with the first byte, or -1 */
	bool ref;                   /* a reference: not copied, not ours to free */
	bool busy;                  /* in the armed send: append nothing, move nothing */
	mcs_sendq_done_fn done;     /* ref only; NULL ok */
	void *done_arg;
	/* SENDMSG arguments: must stay put until its CQE */
	struct msghdr msg;
	struct iovec iov;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} cmsg;
};

static struct ent *ent_of(struct mcs_list *n)
{
	return mcs_list_entry(n, struct ent, link);
}

static struct ent *head(struct mcs_sendq *q)
{
	return mcs_list_first(&q->ents, struct ent, link);
}

void mcs_sendq_init(struct mcs_sendq *q, struct mcs_stream *s, struct mcs_conn *owner, uint32_t zc_threshold)
{
	memset(q, 0, sizeof(*q));
	q->s = s;
	q->owner = owner;
	q->zc_threshold = zc_threshold;
	mcs_list_init(&q->ents);
}

/* Release an unlinked entry; a reference reports err to its owner. With
 * leak, our own buffer stays allocated (the kernel may still read it). */
static void ent_release(struct mcs_sendq *q, struct ent *e, int err, bool leak)
{
	mcs_sendq_done_fn done = e->ref ? e->done : NULL;
	void *arg = e->done_arg;
	if (e->fd >= 0)
		close(e->fd);
	if (!e->ref && !leak)
		free(e->data);
	if (!leak)
		free(e);
	if (done)
		done(q->owner, err, arg);
}

void mcs_sendq_drop(struct mcs_sendq *q, int err, bool leak)
{
	struct ent *e;
	while ((e = head(q))) {
		mcs_list_del(&e->link);
		ent_release(q, e, err, leak);
	}
	q->bytes = 0;
}

static bool wants_zc(const struct mcs_sendq *q, const struct ent *e)
{
	return e->ref && q->zc_threshold > 0 && e->len >= q->zc_threshold && !q->s->no_zc;
}

static bool passes_fd(const struct ent *e)
{
	return e->fd >= 0 && e->off == 0;
}

/* The head entry and those after it that can leave in one SENDMSG (none
 * with an fd to pass, none empty, none bound for SEND_ZC) into q->iov;
 * returns how many. */
static unsigned gather(struct mcs_sendq *q)
{
	unsigned k = 0;
	size_t sum = 0;
	struct mcs_list *n;
	mcs_list_for_each(n, &q->ents) {
		struct ent *e = ent_of(n);
		size_t len = e->len - e->off;
		if (k == MCS_SENDQ_GATHER || len == 0 || passes_fd(e) || wants_zc(q, e) ||
		    len > MCS_STREAM_IO_MAX - sum)
			break;
		q->iov[k].iov_base = e->data + e->off;
		q->iov[k].iov_len = len;
		sum += len;
		k++;
	}
	return k;
}

/* The SENDMSG of an entry whose fd rides on its first byte. */
static const struct msghdr *fd_msg(struct ent *e, size_t n)
{
	memset(&e->msg, 0, sizeof(e->msg));
	memset(&e->cmsg, 0, sizeof(e->cmsg));
	e->iov.iov_base = e->data;
	e->iov.iov_len = n;
	e->msg.msg_iov = &e->iov;
	e->msg.msg_iovlen = 1;
	e->msg.msg_control = e->cmsg.buf;
	e->msg.msg_controllen = sizeof(e->cmsg.buf);
	struct cmsghdr *cm = CMSG_FIRSTHDR(&e->msg);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &e->fd, sizeof(int));
	return &e->msg;
}

int mcs_sendq_start(struct mcs_sendq *q)
{
	struct mcs_stream *s = q->s;
	if (s->send_armed || s->connecting || !mcs_stream_live(s))
		return 0;
	/* Empty references are done once everything before them is (done
	 * may queue more, even arm the send itself, or close the conn). */
	struct ent *e;
	while ((e = head(q)) && e->len == 0) {
		mcs_list_del(&e->link);
		ent_release(q, e, 0, false);
		if (s->send_armed || !mcs_stream_live(s))
			return 0;
	}
	if (!e)
		return 0;
	size_t n = MCS_MIN(e->len - e->off, (size_t)MCS_STREAM_IO_MAX);
	unsigned k = 1;
	int r;
	if (wants_zc(q, e)) {
		r = mcs_stream_send_zc(s, e->data + e->off, n, MSG_WAITALL);
	} else if (!passes_fd(e) && (k = gather(q)) > 1) {
		/* several entries (a header and the payload behind it, many
		 * small answers and a reference...): one SENDMSG */
		memset(&q->msg, 0, sizeof(q->msg));
		q->msg.msg_iov = q->iov;
		q->msg.msg_iovlen = k;
		r = mcs_stream_sendmsg(s, &q->msg, MSG_WAITALL);
	} else if (e->ref) {
		k = 1;
		r = mcs_stream_send(s, e->data + e->off, n, MSG_WAITALL);
	} else if (passes_fd(e)) {
		/* A remainder after a partial send goes out as a plain SEND. */
		r = mcs_stream_sendmsg(s, fd_msg(e, n), 0);
	} else {
		k = 1;
		r = mcs_stream_send(s, e->data + e->off, n, 0);
	}
	if (r < 0)
		return r;
	q->nents = k;
	for (struct mcs_list *x = &e->link; k-- > 0; x = x->next)
		ent_of(x)->busy = true;
	return 0;
}

void mcs_sendq_sent(struct mcs_sendq *q, size_t n)
{
	/* the entries it covered may be appended to (and move) again */
	struct mcs_list *x = q->ents.next;
	for (unsigned i = 0; i < q->nents && x != &q->ents; i++, x = x->next)
		ent_of(x)->busy = false;
	q->nents = 0;

	/* n bytes from the head on, over one or more entries: credit and
	 * unlink every finished entry first, then release them, as a done
	 * callback may queue (coalescing into the entry after them) and even
	 * close, which sends what is queued at once */
	struct mcs_list fin;
	mcs_list_init(&fin);
	struct ent *e;
	while (n > 0 && (e = head(q))) {
		size_t k = MCS_MIN(n, e->len - e->off);
		e->off += k;
		n -= k;
		q->bytes -= k;
		if (e->off < e->len)
			break;
		mcs_list_move_tail(&fin, &e->link);
	}
	while ((e = mcs_list_first(&fin, struct ent, link))) {
		mcs_list_del(&e->link);
		/* sent: done(0), even if an earlier done closed the conn */
		ent_release(q, e, 0, false);
	}
	if (mcs_stream_live(q->s))
		mcs_sendq_kick(q);
}

/* Frames without an fd are appended to the last chunk while it is not
 * being sent and stays small; an fd frame always gets an entry of its own. */
uint8_t *mcs_sendq_reserve(struct mcs_sendq *q, size_t n, int fd)
{
	struct ent *t = ent_of(q->ents.prev);   /* the tail, if not the head itself */

	if (fd < 0 && &t->link != &q->ents && t->fd < 0 && !t->ref && !t->busy && t->len + n <= OUT_COALESCE) {
		if (t->len + n > t->cap) {
			size_t cap = MCS_MIN(MCS_MAX(t->cap * 2, t->len + n), (size_t)OUT_COALESCE);
			uint8_t *p = realloc(t->data, cap);
			if (!p)
				return NULL;
			t->data = p;
			t->cap = cap;
		}
		uint8_t *p = t->data + t->len;
		t->len += n;
		q->bytes += n;
		return p;
	}

	struct ent *e = calloc(1, sizeof(*e));
	if (!e)
		return NULL;
	e->cap = n >= OUT_COALESCE || fd >= 0 ? n : MCS_MAX(n, (size_t)OUT_MIN_CAP);
	e->data = malloc(e->cap);
	if (!e->data) {
		free(e);
		return NULL;
	}
	e->len = n;
	e->fd = fd;
	mcs_list_add_tail(&q->ents, &e->link);
	q->bytes += n;
	return e->data;
}

int mcs_sendq_add_ref(struct mcs_sendq *q, const void *p, size_t len, mcs_sendq_done_fn done, void *arg)
{
	struct ent *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->data = (uint8_t *)(uintptr_t)p;
	e->len = e->cap = len;
	e->fd = -1;
	e->ref = true;
	e->done = done;
	e->done_arg = arg;
	mcs_list_add_tail(&q->ents, &e->link);
	q->bytes += len;
	return 0;
}
