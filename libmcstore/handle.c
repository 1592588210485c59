/* SPDX-License-Identifier: MIT */
/*
 * The handle: the unix-socket link to the node daemon (HELLO hands over the
 * segment's memfd, which is mapped read-write), the options, references
 * (views hold one each), and the check that a call comes from the process
 * that made the handle.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "libmcstore/internal.h"
#include "libmcstore/peer.h"

MCS_EXPORT const char *mcs_version(void) { return LIBMCSTORE_VERSION; }

MCS_EXPORT const char *mcs_strerror(int status) { return mcs_status_text(status); }

/* HELLO: the segment's memfd and what the daemon says of itself. */
static int hello(struct mcs_client *c)
{
	frame_begin(c, MCS_OP_HELLO);
	struct mcs_hello_req hq = { .client_version = MCS_PROTO_VERSION, .pid = (uint32_t)getpid() };
	mcs_enc_hello_req(&c->out, &hq);
	int r = frame_finish(c);
	if (r < 0)
		return r;
	int fd = -1;
	r = link_roundtrip(c, &c->daemon, &fd);
	struct mcs_hello_resp hr;
	if (r == 0)
		r = mcs_dec_hello_resp(c->in, c->in_hdr.body_len, &hr);
	bool ro = r == 0 && (hr.flags & MCS_HELLO_READ_ONLY);
	if (r == 0 && fd < 0 && !ro)
		r = -EPROTO;
	if (r == 0 && ro && fd >= 0)
		r = -EPROTO; /* a read-only client maps nothing */
	if (r == 0 && !ro)
		r = mcs_segment_attach(fd, hr.segment_size, &c->seg);
	if (r < 0) {
		if (fd >= 0)
			close(fd);
		return r;
	}
	memcpy(c->node, hr.node.p, hr.node.len);
	c->node[hr.node.len] = '\0';
	/* a read-only client has no segment of its own: even its node's
	 * replicas are read over the data port */
	if (!ro)
		memcpy(c->segment, hr.segment.p, hr.segment.len);
	c->segment[ro ? 0 : hr.segment.len] = '\0';
	if (hr.max_body)
		c->max_body = MCS_MAX(hr.max_body, MCS_DEFAULT_MAX_BODY);
	c->incarnation = hr.incarnation;
	if ((r = mcs_keys_client((const uint8_t *)hr.client_key.p, hr.client_key.len,
				 ro ? MCS_ROLE_READER : MCS_ROLE_CLIENT, &c->keys)) < 0)
		return r;
	/* metadata straight to the master unless told not to */
	if (!c->via_daemon_meta) {
		memcpy(c->master_addr, hr.master.p, hr.master.len);
		c->master_addr[hr.master.len] = '\0';
	}
	c->seg.hugepages = hr.flags & MCS_HELLO_HUGEPAGES;
	return 0;
}

static int connect_daemon(struct mcs_client *c, const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	int r = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ? -errno : 0;
	struct stat st;
	if (r == 0 && stat(path, &st) == 0) {
		c->sock_dev = st.st_dev;
		c->sock_ino = st.st_ino;
	}
	if (r == 0) {
		link_close(&c->daemon);
		r = link_open(c, &c->daemon, fd);
	}
	if (r < 0)
		close(fd);
	return r;
}

/* Unmap a segment a restarted daemon left, now or once its last view goes. */
static void retire(struct mcs_client *c, struct mcs_segment *old, unsigned views)
{
	struct retired *t = views ? calloc(1, sizeof(*t)) : NULL;
	if (!t) {
		if (!views)
			mcs_segment_close(old);
		else if (old->fd >= 0)
			close(old->fd); /* views point into it, no memory to wait: mapped for good */
		return;
	}
	t->seg = *old;
	t->views = views;
	t->next = c->retired;
	c->retired = t;
}

void daemon_check(struct mcs_client *c)
{
	/* a daemon that restarted made its socket anew: the same socket is
	 * the same daemon, which closed the link on purpose */
	struct stat st;
	if (!c->socket_path || stat(c->socket_path, &st) < 0 || (st.st_dev == c->sock_dev && st.st_ino == c->sock_ino))
		return;
	struct mcs_segment old = c->seg;
	uint64_t inc = c->incarnation;
	if (connect_daemon(c, c->socket_path) < 0)
		return;
	c->seg = (struct mcs_segment){ .fd = -1 };
	int r = hello(c);
	if (r < 0) {
		mcs_segment_close(&c->seg);
		c->seg = old;
		c->incarnation = inc;
		c->daemon.broken = true;
		return;
	}
	/* what the old daemon shared is gone with it: the staging buffer is
	 * made again on first use; the caller's buffers stay mapped (their
	 * memory is the caller's to free) but are no longer the daemon's */
	if (c->staging) {
		mcs_segment_close(&c->staging->seg);
		free(c->staging);
		c->staging = NULL;
	}
	for (struct ubuf *b = c->bufs; b; b = b->next)
		b->gone = true;
	if (old.base || old.fd >= 0)
		retire(c, &old, c->seg_views);
	c->seg_views = 0;
}

void view_unmapped(struct mcs_client *c, const void *base)
{
	if (base == c->seg.base) {
		c->seg_views--;
		return;
	}
	for (struct retired **pp = &c->retired; *pp; pp = &(*pp)->next)
		if ((*pp)->seg.base == base) {
			struct retired *t = *pp;
			if (--t->views == 0) {
				*pp = t->next;
				mcs_segment_close(&t->seg);
				free(t);
			}
			return;
		}
}

/* $MCSTORE_FAILOVER_MS (unless setuid), else 10 s: longer than a failover
 * takes with the masters' default etcd lease (2 s) and a rebuild. */
static int failover_default(void)
{
	const char *e = secure_getenv("MCSTORE_FAILOVER_MS");
	if (!e || !*e)
		return 10000;
	char *end;
	long v = strtol(e, &end, 10);
	if (v == 0 || *end || v > INT_MAX || v < INT_MIN)
		return 10000;
	return (int)v;
}

/* The fields of opts this library knows, as far as the caller's struct has them. */
#define OPT(o, f, dflt) ((o) && (o)->size >= offsetof(struct mcs_client_opts, f) + sizeof((o)->f) ? (o)->f : (dflt))

MCS_EXPORT int mcs_client_new(const struct mcs_client_opts *opts, struct mcs_client **ret)
{
	if (!ret || (opts && opts->size < offsetof(struct mcs_client_opts, timeout_ms) + sizeof(opts->timeout_ms)))
		return -EINVAL;
	const char *path = OPT(opts, socket_path, NULL);
	unsigned timeout = OPT(opts, timeout_ms, 0u), flags = OPT(opts, flags, 0u);
	uint64_t staging_size = OPT(opts, staging_size, (uint64_t)0);
	if (!path || !*path)
		path = secure_getenv("MCSTORE_SOCKET");
	if (!path || !*path)
		path = MCS_DEFAULT_SOCKET;

	struct mcs_client *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	c->refs = 1;
	c->pid = getpid();
	link_init(&c->daemon);
	link_init(&c->master);
	c->meta = &c->daemon;
	c->seg.fd = -1;
	c->timeout_ms = timeout ? timeout : 30000;
	c->busy_poll_us = MCS_MIN(OPT(opts, busy_poll_us, 0u), 1000000u);
	c->failover_ms = OPT(opts, failover_ms, 0);
	if (c->failover_ms == 0)
		c->failover_ms = failover_default();
	c->staging_size = staging_size ? MCS_ALIGN_UP(staging_size, (uint64_t)4096) : (64ull << 20);
	c->next_req = 1;
	c->max_body = MCS_DEFAULT_MAX_BODY;
	if (flags & MCS_CLIENT_VIA_DAEMON_DATA)
		c->data_direct = -1;
	c->via_daemon_meta = flags & MCS_CLIENT_VIA_DAEMON_META;
	mcs_buf_init(&c->out);
	int r = (c->xxh = XXH3_createState()) ? 0 : -ENOMEM;
	if (r == 0 && !(c->socket_path = strdup(path)))
		r = -ENOMEM;
	if (r == 0)
		r = connect_daemon(c, path);
	if (r == 0)
		r = hello(c);
	if (r < 0) {
		mcs_client_unref(c);
		return r;
	}
	/* map every page of the segment now rather than fault them in 4 KiB
	 * at a time under the first copies (which halves the speed of a put
	 * into untouched memory); this commits the whole segment */
	if ((flags & MCS_CLIENT_PREFAULT) && c->seg.base)
		(void)madvise(c->seg.base, c->seg.size, MADV_POPULATE_WRITE);
	/* metadata straight to the master unless told not to; if it cannot
	 * be reached, through the daemon (see meta_pick) */
	meta_pick(c);
	*ret = c;
	return 0;
}

MCS_EXPORT struct mcs_client *mcs_client_ref(struct mcs_client *c)
{
	if (c)
		__atomic_add_fetch(&c->refs, 1, __ATOMIC_RELAXED);
	return c;
}

MCS_EXPORT struct mcs_client *mcs_client_unref(struct mcs_client *c)
{
	if (!c || __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return NULL;
	/* in a child after fork the links are the parent's: no word on them */
	bufs_free(c, c->pid == getpid());
	peers_free(c->peers);
	/* closing the links makes the daemon and the master release what
	 * this handle held there */
	link_close(&c->daemon);
	link_close(&c->master);
	mcs_segment_close(&c->seg);
	while (c->retired) {
		struct retired *t = c->retired;
		c->retired = t->next;
		mcs_segment_close(&t->seg);
		free(t);
	}
	free(c->socket_path);
	mcs_keys_wipe(&c->keys);
	mcs_buf_free(&c->out);
	free(c->in);
	if (c->xxh)
		XXH3_freeState(c->xxh);
	pthread_mutex_destroy(&c->lock);
	free(c);
	return NULL;
}
