/* SPDX-License-Identifier: MIT */
/*
 * The scripted daemon and master of the libmcstore unit suite; see
 * libmcstore-fake.h.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "tests/unit/libmcstore-fake.h"

/* ---- waiting and moving bytes -------------------------------------------- */

static void wait_in(int fd, const char *what)
{
	int r = mcs_poll_fd(fd, POLLIN, FK_WAIT_MS);
	ck_assert_msg(r == 0, "fake: waiting for %s: %s", what, strerror(-r));
}

/* n bytes, or 0 bytes at EOF (false); a close in the middle fails. */
static bool recv_all(struct fk_link *l, void *p, size_t n)
{
	size_t got = 0;
	while (got < n) {
		wait_in(l->fd, l->name);
		ssize_t r = recv(l->fd, (uint8_t *)p + got, n - got, 0);
		if (r < 0 && errno == EINTR)
			continue;
		/* a client that closes with answers unread resets the link */
		if (r < 0 && errno == ECONNRESET && got == 0)
			return false;
		ck_assert_msg(r >= 0, "fake: recv on the %s link: %s", l->name, strerror(errno));
		if (r == 0) {
			ck_assert_msg(got == 0, "fake: the %s link closed inside a frame", l->name);
			return false;
		}
		got += (size_t)r;
	}
	return true;
}

void fk_send_raw(struct fk_link *l, const void *p, size_t n)
{
	while (n) {
		ssize_t r = send(l->fd, p, n, MSG_NOSIGNAL);
		if (r < 0 && errno == EINTR)
			continue;
		ck_assert_msg(r > 0, "fake: send on the %s link: %s", l->name, strerror(errno));
		p = (const uint8_t *)p + r;
		n -= (size_t)r;
	}
}

void fk_send_drained(struct fk_link *l, const void *p, size_t n)
{
	fk_send_raw(l, p, n);
	/* a condition, not a delay: the bytes are out of the client's
	 * receive queue once SIOCOUTQ (unread bytes, on a unix socket) is 0 */
	uint64_t end = mcs_now_ms() + FK_WAIT_MS;
	for (;;) {
		int q = -1;
		ck_assert_msg(ioctl(l->fd, SIOCOUTQ, &q) == 0, "fake: SIOCOUTQ: %s", strerror(errno));
		if (q == 0)
			return;
		ck_assert_msg(mcs_now_ms() < end, "fake: the client left %d bytes unread", q);
		nanosleep(&(struct timespec){ .tv_nsec = 200 * 1000 }, NULL);
	}
}

void fk_send_fd(struct fk_link *l, const void *p, size_t n, int fd)
{
	ssize_t r = mcs_send_with_fd(l->fd, p, n, fd);
	ck_assert_msg(r == (ssize_t)n, "fake: sending an fd on the %s link: %s", l->name,
		      r < 0 ? strerror((int)-r) : "short");
}

/* ---- requests ------------------------------------------------------------ */

int fk_read(struct fake *f, struct fk_link *l)
{
	uint8_t hb[MCS_HDR_SIZE];
	ck_assert_msg(l->fd >= 0, "fake: no %s link", l->name);
	if (!recv_all(l, hb, sizeof(hb)))
		return -ECONNRESET;
	int r = mcs_hdr_decode(hb, MCS_DEFAULT_MAX_BODY, &f->h);
	ck_assert_msg(r == 0, "fake: a bad header on the %s link: %s", l->name, strerror(-r));
	ck_assert_msg(!(f->h.flags & MCS_F_RESPONSE), "fake: the client sent a response (%s)",
		      mcs_op_name(f->h.opcode));
	if (f->h.body_len > f->body_cap) {
		f->body = realloc(f->body, f->h.body_len);
		ck_assert_ptr_nonnull(f->body);
		f->body_cap = f->h.body_len;
	}
	if (f->h.body_len)
		ck_assert_msg(recv_all(l, f->body, f->h.body_len), "fake: the %s link closed inside a frame", l->name);
	return 0;
}

void fk_expect(struct fake *f, struct fk_link *l, uint16_t op)
{
	int r = fk_read(f, l);
	ck_assert_msg(r == 0, "fake: wanted %s on the %s link, it was closed", mcs_op_name(op), l->name);
	ck_assert_msg(f->h.opcode == op, "fake: wanted %s on the %s link, got %s", mcs_op_name(op), l->name,
		      mcs_op_name(f->h.opcode));
}

void fk_expect_eof(struct fake *f, struct fk_link *l)
{
	int r = fk_read(f, l);
	ck_assert_msg(r == -ECONNRESET, "fake: wanted the %s link closed, got %s", l->name, mcs_op_name(f->h.opcode));
	close(l->fd);
	l->fd = -1;
}

void fk_expect_eofs(struct fake *f)
{
	if (f->m.fd >= 0)
		fk_expect_eof(f, &f->m);
	fk_expect_eof(f, &f->d);
}

struct fk_link *fk_meta(struct fake *f) { return f->flags & FK_MASTER ? &f->m : &f->d; }

void fk_accept_meta(struct fake *f)
{
	if (f->flags & FK_MASTER)
		fk_accept_master(f);
}

void fk_expect_key(struct fake *f, const char *key)
{
	const void *b = f->body;
	size_t n = f->h.body_len;
	struct mcs_str k = { 0 };
	int r;
	switch (f->h.opcode) {
	case MCS_OP_EXIST:
	case MCS_OP_PUT_REVOKE: {
		struct mcs_key_req q;
		r = mcs_dec_key_req(b, n, &q);
		k = q.key;
		break;
	}
	case MCS_OP_REMOVE: {
		struct mcs_remove_req q;
		r = mcs_dec_remove_req(b, n, &q);
		k = q.key;
		break;
	}
	case MCS_OP_PUT_START: {
		struct mcs_put_start_req q;
		r = mcs_dec_put_start_req(b, n, &q);
		k = q.key;
		mcs_put_start_req_free(&q);
		break;
	}
	case MCS_OP_PUT_END: {
		struct mcs_put_end_req q;
		r = mcs_dec_put_end_req(b, n, &q);
		k = q.key;
		break;
	}
	case MCS_OP_GET_REPLICAS: {
		struct mcs_get_req q;
		r = mcs_dec_get_req(b, n, &q);
		k = q.key;
		break;
	}
	case MCS_OP_RELEASE: {
		struct mcs_release_req q;
		r = mcs_dec_release_req(b, n, &q);
		k = q.key;
		break;
	}
	default:
		ck_abort_msg("fake: %s has no key", mcs_op_name(f->h.opcode));
	}
	ck_assert_msg(r == 0, "fake: a bad %s body: %s", mcs_op_name(f->h.opcode), strerror(-r));
	ck_assert_msg(mcs_str_eq(k, mcs_str_c(key)), "fake: %s for \"%.*s\", not \"%s\"", mcs_op_name(f->h.opcode),
		      (int)k.len, k.p, key);
}

void fk_expect_release(struct fake *f, struct fk_link *l, const char *key, uint64_t hold)
{
	fk_expect(f, l, MCS_OP_RELEASE);
	fk_expect_key(f, key);
	struct mcs_release_req q;
	ck_assert_int_eq(mcs_dec_release_req(f->body, f->h.body_len, &q), 0);
	ck_assert_uint_eq(q.hold_id, hold);
}

static void pipe_get(int fd, const char *what)
{
	char ch;
	wait_in(fd, what);
	ck_assert_int_eq(read(fd, &ch, 1), 1);
}

void fake_sync(struct fake *f)
{
	ck_assert_int_eq(write(f->go[1], "g", 1), 1);
	pipe_get(f->sent[0], "the fake's bytes");
}

void fk_wait_idle(struct fake *f) { pipe_get(f->go[0], "the test to be idle"); }

void fk_synced(struct fake *f) { ck_assert_int_eq(write(f->sent[1], "s", 1), 1); }

struct mcs_hdr fk_next(const struct fake *f, uint16_t op)
{
	struct mcs_hdr h = f->h;
	h.opcode = op;
	h.req_id++;
	return h;
}

void fk_expect_no_master(struct fake *f)
{
	struct pollfd p = { .fd = f->mlfd, .events = POLLIN };
	ck_assert_int_eq(poll(&p, 1, 0), 0);
}

/* ---- answers ------------------------------------------------------------- */

void fk_frame(struct mcs_buf *b, const struct mcs_hdr *req, int status)
{
	mcs_frame_begin(b, req->opcode, MCS_F_RESPONSE, status, req->req_id);
}

void fk_add_status(struct mcs_buf *b, const struct mcs_hdr *req, int status)
{
	fk_frame(b, req, status);
	ck_assert_int_eq(mcs_frame_end(b), 0);
}

void fk_begin(struct fake *f, int status)
{
	mcs_buf_reset(&f->out);
	fk_frame(&f->out, &f->h, status);
}

void fk_send(struct fake *f, struct fk_link *l)
{
	ck_assert_int_eq(mcs_frame_end(&f->out), 0);
	fk_send_raw(l, f->out.p, f->out.len);
}

void fk_answer(struct fake *f, struct fk_link *l, int status)
{
	fk_begin(f, status);
	fk_send(f, l);
}

void fk_answer_detail(struct fake *f, struct fk_link *l, int status, uint64_t detail)
{
	fk_begin(f, status);
	struct mcs_err_detail d = { detail };
	mcs_enc_err_detail(&f->out, &d);
	fk_send(f, l);
}

void fk_list_one(struct fk_list *l, const char *seg, uint64_t off, uint64_t len)
{
	memset(l, 0, sizeof(*l));
	l->list.replicas = l->rep;
	fk_list_add(l, seg, off, len);
}

static unsigned list_handles(const struct fk_list *l)
{
	unsigned n = 0;
	for (uint32_t i = 0; i < l->list.n_replicas; i++)
		n += l->rep[i].n_handles;
	return n;
}

void fk_list_add(struct fk_list *l, const char *seg, uint64_t off, uint64_t len)
{
	unsigned at = list_handles(l);
	ck_assert(l->list.n_replicas < MCS_ARRAY_SIZE(l->rep) && at < MCS_ARRAY_SIZE(l->h));
	l->h[at] = (struct mcs_handle){ .segment = mcs_str_c(seg ? seg : FK_SEGMENT),
					.node = mcs_str_c(seg ? "other-node" : FK_NODE),
					.endpoint = mcs_str_c(""), .offset = off, .len = len };
	l->rep[l->list.n_replicas++] = (struct mcs_replica){ .status = MCS_REPLICA_COMPLETE, .n_handles = 1,
							      .handles = &l->h[at] };
}

void fk_list_stripe(struct fk_list *l, uint64_t off, uint64_t len)
{
	unsigned at = list_handles(l);
	struct mcs_replica *rep = &l->rep[l->list.n_replicas - 1];
	/* the handles of a replica are consecutive: only the last one grows */
	ck_assert(at < MCS_ARRAY_SIZE(l->h) && rep->handles + rep->n_handles == &l->h[at]);
	l->h[at] = rep->handles[0];
	l->h[at].offset = off;
	l->h[at].len = len;
	rep->n_handles++;
}

void fk_answer_get(struct fake *f, struct fk_link *l, uint64_t size, uint64_t sum, uint64_t hold,
		   const struct fk_list *list)
{
	fk_begin(f, 0);
	struct mcs_get_resp g = { .size = size, .checksum = sum, .hold_id = hold, .lease_ms = 5000,
				  .list = list->list };
	mcs_enc_get_resp(&f->out, &g);
	fk_send(f, l);
}

void fk_answer_put_start(struct fake *f, struct fk_link *l, const struct fk_list *list)
{
	fk_begin(f, 0);
	struct mcs_put_start_resp p = { .list = list->list };
	mcs_enc_put_start_resp(&f->out, &p);
	fk_send(f, l);
}

uint8_t fk_pattern(unsigned seed, size_t i) { return (uint8_t)(i * 131 + seed * 17 + (i >> 9)); }

void fk_value(unsigned seed, uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = fk_pattern(seed, i);
}

uint64_t fk_store(struct fake *f, uint64_t off, size_t n, unsigned seed)
{
	ck_assert(off + n <= f->seg.size);
	uint8_t *p = (uint8_t *)f->seg.base + off;
	fk_value(seed, p, n);
	return XXH3_64bits(p, n);
}

struct mcs_segment fk_answer_buf_alloc(struct fake *f, struct fk_link *l, uint32_t id, uint64_t size,
				       unsigned seed)
{
	struct mcs_segment b = { .fd = -1 };
	bool fb;
	ck_assert_int_eq(mcs_segment_create("fake-buf", size, MCS_SEG_NORMAL, false, &b, &fb), 0);
	fk_value(seed, b.base, size);
	fk_begin(f, 0);
	struct mcs_buf_alloc_resp a = { .buf_id = id, .size = b.size };
	mcs_enc_buf_alloc_resp(&f->out, &a);
	ck_assert_int_eq(mcs_frame_end(&f->out), 0);
	fk_send_fd(l, f->out.p, f->out.len, b.fd);
	return b;
}

/* ---- the fake's life ----------------------------------------------------- */

void fk_accept(struct fake *f)
{
	wait_in(f->lfd, "the client to connect");
	f->d.fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_msg(f->d.fd >= 0, "fake: accept: %s", strerror(errno));
}

void fk_accept_master(struct fake *f)
{
	fk_accept_master_as(f, NULL);
}

void fk_accept_master_as(struct fake *f, const char *standby_for)
{
	wait_in(f->mlfd, "the client to connect to the master");
	f->m.fd = accept4(f->mlfd, NULL, NULL, SOCK_CLOEXEC);
	ck_assert_msg(f->m.fd >= 0, "fake: accept on the master: %s", strerror(errno));
	/* answers sent back to back leave at once, as the master's do */
	int one = 1;
	ck_assert_int_eq(setsockopt(f->m.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)), 0);
	/* a direct link asks who leads first: this master does (or, a
	 * standby, names standby_for) */
	char self[64];
	snprintf(self, sizeof(self), "127.0.0.1:%u", f->mport);
	fk_answer_leader(f, &f->m, standby_for ? standby_for : self, !standby_for);
}

void fk_answer_leader(struct fake *f, struct fk_link *l, const char *leader, bool self)
{
	fk_expect(f, l, MCS_OP_LEADER);
	ck_assert_uint_eq(f->h.body_len, 0);
	fk_begin(f, 0);
	struct mcs_leader_resp a = { 7, mcs_str_c(leader), self ? MCS_LEADER_SELF : 0 };
	mcs_enc_leader_resp(&f->out, &a);
	fk_send(f, l);
}

static void hello(struct fake *f)
{
	fk_accept(f);
	fk_expect(f, &f->d, MCS_OP_HELLO);
	struct mcs_hello_req q;
	ck_assert_int_eq(mcs_dec_hello_req(f->body, f->h.body_len, &q), 0);
	ck_assert_uint_eq(q.client_version, MCS_PROTO_VERSION);
	ck_assert_uint_eq(q.pid, (uint32_t)getpid());
	char master[64] = "";
	if (f->flags & FK_MASTER)
		snprintf(master, sizeof(master), "127.0.0.1:%u", f->mport);
	struct mcs_hello_resp hr = { .node = mcs_str_c(FK_NODE), .segment = mcs_str_c(FK_SEGMENT),
				     .segment_size = f->seg.size, .max_body = 1u << 20,
				     .master = mcs_str_c(master) };
	fk_begin(f, 0);
	mcs_enc_hello_resp(&f->out, &hr);
	ck_assert_int_eq(mcs_frame_end(&f->out), 0);
	fk_send_fd(&f->d, f->out.p, f->out.len, f->seg.fd);
}

static void *fake_main(void *arg)
{
	struct fake *f = arg;
	if (!(f->flags & FK_NO_HELLO))
		hello(f);
	f->script(f);
	return NULL;
}

struct fake *fake_start(fk_script script, unsigned flags, void *arg)
{
	struct fake *f = calloc(1, sizeof(*f));
	ck_assert_ptr_nonnull(f);
	*f = (struct fake){ .flags = flags, .script = script, .arg = arg, .lfd = -1, .mlfd = -1,
			    .d = { -1, "daemon" }, .m = { -1, "master" }, .seg = { .fd = -1 } };
	mcs_buf_init(&f->out);
	ck_assert_int_eq(pipe2(f->go, O_CLOEXEC), 0);
	ck_assert_int_eq(pipe2(f->sent, O_CLOEXEC), 0);
	const char *tmp = getenv("TMPDIR");
	snprintf(f->dir, sizeof(f->dir), "%s/mcs-ut-XXXXXX", tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	ck_assert_ptr_nonnull(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/mcstored.sock", f->dir);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	memcpy(sa.sun_path, f->path, strlen(f->path) + 1);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(f->lfd, 0);
	ck_assert_int_eq(bind(f->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(f->lfd, 4), 0);
	f->mlfd = mcs_tcp_listen("127.0.0.1", 0, 4, &f->mport, NULL);
	ck_assert_int_ge(f->mlfd, 0);
	bool fb;
	ck_assert_int_eq(mcs_segment_create(FK_SEGMENT, FK_SEG_SIZE, MCS_SEG_NORMAL, false, &f->seg, &fb), 0);
	ck_assert_int_eq(pthread_create(&f->thr, NULL, fake_main, f), 0);
	return f;
}

static void fake_unlink(struct fake *f)
{
	if (f->path[0]) {
		unlink(f->path);
		rmdir(f->dir);
		f->path[0] = '\0';
	}
}

struct mcs_client *fake_client(struct fake *f, unsigned flags) { return fake_client_failover(f, flags, -1); }

struct mcs_client *fake_client_failover(struct fake *f, unsigned flags, int failover_ms)
{
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = f->path, .timeout_ms = FK_LONG_MS,
				     .flags = flags, .failover_ms = failover_ms };
	struct mcs_client *c = NULL;
	int r = mcs_client_new(&o, &c);
	ck_assert_msg(r == 0, "mcs_client_new: %s", mcs_strerror(r));
	/* connected: nothing is left behind, even by a test that fails */
	fake_unlink(f);
	return c;
}

void fake_join(struct fake *f)
{
	ck_assert_int_eq(pthread_join(f->thr, NULL), 0);
	fake_unlink(f);
	if (f->d.fd >= 0)
		close(f->d.fd);
	if (f->m.fd >= 0)
		close(f->m.fd);
	close(f->lfd);
	close(f->mlfd);
	for (int i = 0; i < 2; i++) {
		close(f->go[i]);
		close(f->sent[i]);
	}
	mcs_segment_close(&f->seg);
	mcs_buf_free(&f->out);
	free(f->body);
	free(f);
}

void fake_set_timeout(struct mcs_client *c, unsigned ms)
{
	c->timeout_ms = ms;
	struct timeval tv = { .tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000 };
	struct mcs_link *links[] = { &c->daemon, &c->master };
	for (size_t i = 0; i < MCS_ARRAY_SIZE(links); i++)
		if (links[i]->fd >= 0)
			ck_assert_int_eq(setsockopt(links[i]->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
}

int fake_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	ck_assert_ptr_nonnull(d);
	int n = 0;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}
