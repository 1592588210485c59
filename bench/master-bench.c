/* SPDX-License-Identifier: MIT */
/*
 * master-bench: the metadata throughput of a real mcstore-master process.
 *
 *   master-bench [--master PATH | --connect HOST:PORT [--pid PID]] [--objects N] ...
 *
 * It plays fake nodes (HELLO is the client<->daemon handshake; a node
 * talks to the master with MOUNT and HEARTBEAT): each mounts a large
 * segment, which costs nothing since the master never touches segment
 * memory. Then, over several TCP connections with pipelined windows of
 * requests, it loads N objects (PUT_START + PUT_END) and runs timed phases:
 * GET_REPLICAS on random resident keys, EXIST, PUT (new keys), REMOVE (the
 * keys that phase added) and a mix of gets and puts. One op is one request;
 * its latency runs from the write of its window to the read that brought its
 * answer. For each phase it prints the master's CPU time (utime + stime from
 * /proc/PID/stat), so ops per CPU-second shows what one core does, and the
 * master's resident memory before and after the load gives bytes per object.
 * It judges nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/limits.h"
#include "bench/master-proc.h"
#include "common/util.h"
#include "mcstore.h"
#include "proto/proto.h"

#define HEARTBEAT_MS 1000
#define MAX_CONNS 64
#define MAX_WINDOW 65536
#define MAX_MASTER_ARGS 32

enum phase { PH_LOAD, PH_GET, PH_EXIST, PH_PUT, PH_REMOVE, PH_MIX, PH_N_ };
static const char *const phase_names[PH_N_] = { "load", "get", "exist", "put", "remove", "mix" };

struct conn {
	int fd;
	uint8_t *in;
	size_t in_len, in_cap;
	struct mcs_buf out;
	uint64_t next_id;     /* request id of the next request */
	uint64_t win_base;    /* first request id of the window in flight */
	uint32_t win_n, win_got;
	uint16_t *ops;        /* opcode expected for each slot of the window */
	uint64_t t_sent;      /* when the window was written */
	uint64_t answers;     /* fake nodes: answers received */
	uint64_t notices;     /* fake nodes: REPLICA_ADD/DROP notices received */
	bool busy;
};

struct lat {
	uint64_t *v;
	size_t n, cap;
};

static struct {
	/* options */
	uint64_t objects, value_size, seconds_ms, conns, window, nodes, segment_size, replicas, mix_get_pct;
	bool phase_on[PH_N_];
	/* the master */
	struct mb_master m;
	char host[256];
	uint16_t port;
	/* state */
	struct conn c[MAX_CONNS];
	struct conn node[16];
	uint64_t last_hb_ms;
	uint64_t rng;
	uint64_t next_load, next_new, rm_next, rm_end;
	/* per phase */
	enum phase ph;
	uint64_t deadline_ns;
	uint64_t ops, errors, verified, n_get, n_put;
	int first_err;
	uint16_t first_err_op;
	struct lat lat;
} B;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("master-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	mb_master_stop(&B.m);
	exit(1);
}

static void on_signal(int sig)
{
	if (B.m.child > 0)
		kill(B.m.child, SIGTERM);
	_exit(128 + sig);
}

static uint64_t rnd(void)
{
	/* xorshift64* */
	B.rng ^= B.rng >> 12;
	B.rng ^= B.rng << 25;
	B.rng ^= B.rng >> 27;
	return B.rng * 2685821657736338717ull;
}

/* ---- connections ------------------------------------------------------ */

static int dial(void)
{
	/* blocking from here on: the bench reads and writes whole frames */
	int fd = mcs_tcp_connect(B.host, B.port, 5000, NULL);
	if (fd < 0) {
		errno = -fd;
		return -1;
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void conn_init(struct conn *c, int fd, uint32_t window)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->in_cap = 1 << 20;
	c->in = malloc(c->in_cap);
	c->ops = calloc(window ? window : 1, sizeof(*c->ops));
	mcs_buf_init(&c->out);
	c->next_id = 1;
	if (!c->in || !c->ops)
		die("out of memory");
}

static void write_all(struct conn *c, const uint8_t *p, size_t n)
{
	while (n) {
		ssize_t w = write(c->fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			die("write to the master: %s", strerror(errno));
		p += w;
		n -= (size_t)w;
	}
}

/* Append one request to c->out and note its slot in the window. */
static void add_req(struct conn *c, uint16_t op, uint64_t key_idx)
{
	/* "k%08llu" without snprintf, which would cost more than the request */
	char key[32], tmp[24];
	unsigned nd = 0;
	for (uint64_t v = key_idx; v || nd < 8; v /= 10)
		tmp[nd++] = (char)('0' + v % 10);
	key[0] = 'k';
	for (unsigned i = 0; i < nd; i++)
		key[1 + i] = tmp[nd - 1 - i];
	struct mcs_str k = { key, nd + 1 };
	mcs_frame_begin(&c->out, op, 0, 0, c->next_id++);
	switch (op) {
	case MCS_OP_PUT_START: {
		uint64_t one = B.value_size;
		struct mcs_put_start_req q = { .key = k, .value_len = B.value_size, .n_slices = 1, .slice_lens = &one };
		q.cfg.replica_num = (uint32_t)B.replicas;
		mcs_enc_put_start_req(&c->out, &q);
		break;
	}
	case MCS_OP_PUT_END: {
		struct mcs_put_end_req q = { .key = k, .checksum = key_idx * 0x9e3779b97f4a7c15ull };
		mcs_enc_put_end_req(&c->out, &q);
		break;
	}
	case MCS_OP_GET_REPLICAS: {
		struct mcs_get_req q = { .key = k };
		mcs_enc_get_req(&c->out, &q);
		break;
	}
	case MCS_OP_EXIST: {
		struct mcs_key_req q = { .key = k };
		mcs_enc_key_req(&c->out, &q);
		break;
	}
	case MCS_OP_REMOVE: {
		struct mcs_remove_req q = { .key = k };
		mcs_enc_remove_req(&c->out, &q);
		break;
	}
	}
	if (mcs_frame_end(&c->out) < 0)
		die("cannot encode a request: %s", mcs_status_text(c->out.err));
	c->ops[c->win_n++] = op;
}

/* Fill and write the next window of the phase; false when it has no more. */
static bool send_window(struct conn *c)
{
	uint64_t now = mcs_now_ns();
	if (B.ph != PH_LOAD && now >= B.deadline_ns)
		return false;
	mcs_buf_reset(&c->out);
	c->win_base = c->next_id;
	c->win_n = 0;
	c->win_got = 0;
	uint32_t w = (uint32_t)B.window;
	while (c->win_n < w) {
		switch (B.ph) {
		case PH_LOAD:
			if (B.next_load >= B.objects || c->win_n + 2 > w)
				goto full;
			add_req(c, MCS_OP_PUT_START, B.next_load);
			add_req(c, MCS_OP_PUT_END, B.next_load++);
			break;
		case PH_GET:
			add_req(c, MCS_OP_GET_REPLICAS, rnd() % B.objects);
			break;
		case PH_EXIST:
			add_req(c, MCS_OP_EXIST, rnd() % B.objects);
			break;
		case PH_PUT:
			if (c->win_n + 2 > w)
				goto full;
			add_req(c, MCS_OP_PUT_START, B.next_new);
			add_req(c, MCS_OP_PUT_END, B.next_new++);
			break;
		case PH_REMOVE:
			if (B.rm_next >= B.rm_end)
				goto full;
			add_req(c, MCS_OP_REMOVE, B.rm_next++);
			break;
		case PH_MIX:
			if (rnd() % 100 < B.mix_get_pct) {
				add_req(c, MCS_OP_GET_REPLICAS, rnd() % B.objects);
				B.n_get++;
			} else {
				if (c->win_n + 2 > w)
					goto full;
				add_req(c, MCS_OP_PUT_START, B.next_new);
				add_req(c, MCS_OP_PUT_END, B.next_new++);
				B.n_put++;
			}
			break;
		default:
			goto full;
		}
	}
full:
	if (!c->win_n)
		return false;
	c->t_sent = mcs_now_ns();
	c->busy = true;
	write_all(c, c->out.p, c->out.len);
	return true;
}

static void lat_add(uint64_t v)
{
	if (B.lat.n == B.lat.cap) {
		size_t cap = B.lat.cap ? B.lat.cap * 2 : 1 << 20;
		uint64_t *p = realloc(B.lat.v, cap * sizeof(*p));
		if (!p)
			die("out of memory");
		B.lat.v = p;
		B.lat.cap = cap;
	}
	B.lat.v[B.lat.n++] = v;
}

/* The first answer of each window is decoded in full, so the figures are
 * those of real answers (replica lists included), not of error frames. */
static void verify(uint16_t op, const uint8_t *body, uint32_t len)
{
	int r = 0;
	if (op == MCS_OP_GET_REPLICAS) {
		struct mcs_get_resp g;
		if ((r = mcs_dec_get_resp(body, len, &g)) == 0) {
			if (g.size != B.value_size || g.list.n_replicas != B.replicas || !g.lease_ms)
				die("GET_REPLICAS answered size %llu, %u replicas, lease %u ms: not what was put",
				    (unsigned long long)g.size, g.list.n_replicas, g.lease_ms);
			mcs_replica_list_free(&g.list);
		}
	} else if (op == MCS_OP_PUT_START) {
		struct mcs_put_start_resp p;
		if ((r = mcs_dec_put_start_resp(body, len, &p)) == 0) {
			uint64_t sum = 0;
			for (uint32_t i = 0; p.list.n_replicas && i < p.list.replicas[0].n_handles; i++)
				sum += p.list.replicas[0].handles[i].len;
			if (p.list.n_replicas != B.replicas || sum != B.value_size)
				die("PUT_START answered %u replicas of %llu bytes", p.list.n_replicas,
				    (unsigned long long)sum);
			mcs_replica_list_free(&p.list);
		}
	} else if (len)
		die("%s answered with a %u-byte body", mcs_op_name(op), len);
	if (r < 0)
		die("cannot decode a %s answer: %s", mcs_op_name(op), mcs_status_text(r));
	B.verified++;
}

/* Read what the master sent; handle every whole answer. */
static void conn_read(struct conn *c, bool is_node)
{
	if (c->in_cap - c->in_len < 65536) {
		uint8_t *p = realloc(c->in, c->in_cap * 2);
		if (!p)
			die("out of memory");
		c->in = p;
		c->in_cap *= 2;
	}
	ssize_t n = read(c->fd, c->in + c->in_len, c->in_cap - c->in_len);
	if (n < 0 && errno == EINTR)
		return;
	if (n < 0)
		die("read from the master: %s", strerror(errno));
	if (n == 0)
		die("the master closed the connection%s", B.m.child ? " (see its log above)" : "");
	uint64_t now = mcs_now_ns();
	c->in_len += (size_t)n;
	size_t off = 0;
	while (c->in_len - off >= MCS_HDR_SIZE) {
		struct mcs_hdr h;
		int r = mcs_hdr_decode(c->in + off, MCS_DEFAULT_MAX_BODY, &h);
		if (r < 0)
			die("bad frame from the master: %s", mcs_status_text(r));
		if (c->in_len - off - MCS_HDR_SIZE < h.body_len)
			break;
		const uint8_t *body = c->in + off + MCS_HDR_SIZE;
		off += MCS_HDR_SIZE + h.body_len;
		if (!(h.flags & MCS_F_RESPONSE) && is_node &&
		    (h.opcode == MCS_OP_REPLICA_ADD || h.opcode == MCS_OP_REPLICA_DROP) && !h.req_id) {
			/* a part to keep in (or drop from) the node's table: a
			 * fake node keeps none (it mounted without MCS_MOUNT_ACKS,
			 * so nothing waits for an answer) */
			c->notices++;
			continue;
		}
		if (!(h.flags & MCS_F_RESPONSE))
			die("the master sent a request (%s)", mcs_op_name(h.opcode));
		if (is_node) {
			if (h.status < 0)
				die("the master refused %s: %s", mcs_op_name(h.opcode), mcs_status_text(h.status));
			c->answers++;
			continue;
		}
		uint64_t slot = h.req_id - c->win_base;
		if (!c->busy || h.req_id < c->win_base || slot >= c->win_n || c->ops[slot] != h.opcode)
			die("the master answered request %llu (%s), which is not in flight",
			    (unsigned long long)h.req_id, mcs_op_name(h.opcode));
		c->ops[slot] = 0; /* answered */
		c->win_got++;
		B.ops++;
		lat_add(now - c->t_sent);
		if (h.status < 0) {
			if (!B.errors++) {
				B.first_err = h.status;
				B.first_err_op = h.opcode;
			}
		} else if (slot == 0)
			verify(h.opcode, body, h.body_len);
		if (c->win_got == c->win_n)
			c->busy = false;
	}
	memmove(c->in, c->in + off, c->in_len - off);
	c->in_len -= off;
}

static void node_send(struct conn *c, uint16_t op, const void *msg)
{
	mcs_buf_reset(&c->out);
	mcs_frame_begin(&c->out, op, 0, 0, c->next_id++);
	if (op == MCS_OP_MOUNT)
		mcs_enc_mount_req(&c->out, msg);
	else
		mcs_enc_heartbeat_req(&c->out, msg);
	if (mcs_frame_end(&c->out) < 0)
		die("cannot encode %s: %s", mcs_op_name(op), mcs_status_text(c->out.err));
	write_all(c, c->out.p, c->out.len);
}

static void heartbeat(void)
{
	uint64_t now = mcs_now_ms();
	if (now - B.last_hb_ms < HEARTBEAT_MS)
		return;
	B.last_hb_ms = now;
	for (uint64_t i = 0; i < B.nodes; i++) {
		char name[64];
		snprintf(name, sizeof(name), "mbench%ld-node%llu", (long)getpid(), (unsigned long long)i);
		struct mcs_heartbeat_req q = { .node = mcs_str_c(name) };
		node_send(&B.node[i], MCS_OP_HEARTBEAT, &q);
	}
}

/* Fake nodes: each mounts one segment of segment_size bytes and waits for
 * the master's answer. */
static void mount_nodes(void)
{
	for (uint64_t i = 0; i < B.nodes; i++) {
		char name[64], seg[64], ep[32];
		int fd = dial();
		if (fd < 0)
			die("cannot connect to the master at %s:%u: %s", B.host, B.port, strerror(errno));
		conn_init(&B.node[i], fd, 0);
		snprintf(name, sizeof(name), "mbench%ld-node%llu", (long)getpid(), (unsigned long long)i);
		snprintf(seg, sizeof(seg), "mbench%ld-seg%llu", (long)getpid(), (unsigned long long)i);
		snprintf(ep, sizeof(ep), "127.0.0.1:%llu", 40000 + (unsigned long long)i);
		struct mcs_mount_req q = { .node = mcs_str_c(name), .segment = mcs_str_c(seg),
					   .size = B.segment_size, .endpoint = mcs_str_c(ep) };
		node_send(&B.node[i], MCS_OP_MOUNT, &q);
		/* its answer (conn_read dies on a refusal) */
		while (!B.node[i].answers)
			conn_read(&B.node[i], true);
	}
	B.last_hb_ms = mcs_now_ms();
}

/* Run the current phase over every connection until it has no more work
 * and every answer is in. */
static void run_phase(void)
{
	struct pollfd pfd[MAX_CONNS + 16];
	uint64_t nc = B.conns;
	bool more = true;
	for (uint64_t i = 0; i < nc; i++)
		if (!send_window(&B.c[i]))
			more = false;
	for (;;) {
		bool busy = false;
		for (uint64_t i = 0; i < nc; i++)
			busy |= B.c[i].busy;
		if (!busy)
			break;
		nfds_t n = 0;
		for (uint64_t i = 0; i < nc; i++)
			pfd[n++] = (struct pollfd){ .fd = B.c[i].fd, .events = B.c[i].busy ? POLLIN : 0 };
		for (uint64_t i = 0; i < B.nodes; i++)
			pfd[n++] = (struct pollfd){ .fd = B.node[i].fd, .events = POLLIN };
		int r = poll(pfd, n, 200);
		if (r < 0 && errno != EINTR)
			die("poll: %s", strerror(errno));
		if (B.m.child > 0 && waitpid(B.m.child, NULL, WNOHANG) == B.m.child) {
			B.m.child = 0;
			die("the master exited during the run");
		}
		for (uint64_t i = 0; r > 0 && i < nc; i++)
			if (pfd[i].revents) {
				conn_read(&B.c[i], false);
				if (!B.c[i].busy && more && !send_window(&B.c[i]))
					more = false;
			}
		for (uint64_t i = 0; r > 0 && i < B.nodes; i++)
			if (pfd[nc + i].revents)
				conn_read(&B.node[i], true);
		heartbeat();
	}
}

static void header(void)
{
	printf("%-7s %9s %7s %10s %8s %8s %8s %11s %6s\n", "phase", "ops", "secs", "ops/s", "p50 us", "p99 us",
	       "cpu %", "ops/cpu-s", "errors");
}

static void run(enum phase ph, uint64_t seconds_ms)
{
	B.ph = ph;
	B.ops = B.errors = B.n_get = B.n_put = 0;
	B.verified = 0;
	B.lat.n = 0;
	double cpu0 = mb_proc_cpu_s(B.m.pid);
	uint64_t t0 = mcs_now_ns();
	B.deadline_ns = t0 + seconds_ms * 1000000ull;
	run_phase();
	uint64_t wall = mcs_now_ns() - t0;
	double cpu = mb_proc_cpu_s(B.m.pid) - cpu0;
	if (cpu0 < 0)
		cpu = -1;
	if (!B.ops) {
		printf("%-7s (nothing to do)\n", phase_names[ph]);
		return;
	}
	qsort(B.lat.v, B.lat.n, sizeof(*B.lat.v), bench_cmp_u64);
	double secs = (double)wall / 1e9, rate = (double)B.ops / secs;
	double p50 = (double)B.lat.v[B.lat.n / 2] / 1000.0, p99 = (double)B.lat.v[B.lat.n * 99 / 100] / 1000.0;
	double pct = cpu >= 0 ? 100.0 * cpu / secs : -1, per_cpu = cpu > 0 ? (double)B.ops / cpu : -1;
	char cpus[16] = "-", pers[24] = "-";
	if (pct >= 0)
		snprintf(cpus, sizeof(cpus), "%.0f", pct);
	if (per_cpu >= 0)
		snprintf(pers, sizeof(pers), "%.0f", per_cpu);
	printf("%-7s %9llu %7.2f %10.0f %8.1f %8.1f %8s %11s %6llu\n", phase_names[ph], (unsigned long long)B.ops,
	       secs, rate, p50, p99, cpus, pers, (unsigned long long)B.errors);
	printf("BENCH op=%s objects=%llu conns=%llu window=%llu ops=%llu secs=%.3f ops_per_s=%.0f p50_us=%.1f "
	       "p99_us=%.1f errors=%llu",
	       phase_names[ph], (unsigned long long)B.objects, (unsigned long long)B.conns,
	       (unsigned long long)B.window, (unsigned long long)B.ops, secs, rate, p50, p99,
	       (unsigned long long)B.errors);
	if (cpu >= 0) /* unknown without the master's PID */
		printf(" master_cpu_s=%.2f master_cpu_pct=%.0f ops_per_cpu_s=%.0f", cpu, pct, per_cpu);
	if (ph == PH_MIX)
		printf(" gets=%llu puts=%llu", (unsigned long long)B.n_get, (unsigned long long)B.n_put);
	printf("\n");
	fflush(stdout);
	if (B.errors)
		fprintf(stderr, "master-bench: %s: %llu errors, the first on %s: %s\n", phase_names[ph],
			(unsigned long long)B.errors, mcs_op_name(B.first_err_op), mcs_status_text(B.first_err));
}

/* ---- starting a master ------------------------------------------------- */

static void usage(void)
{
	printf("Usage: master-bench [--master PATH | --connect HOST:PORT [--pid PID]] [OPTION]...\n"
	       "Metadata operations per second of a real mcstore-master, with N objects resident.\n\n"
	       "  --master PATH        start PATH on a free loopback port and stop it at the end\n"
	       "                       (default: the mcstore-master of this build tree)\n"
	       "  --master-arg ARG     pass ARG to the master it starts (repeatable)\n"
	       "  --connect HOST:PORT  use a running master instead\n"
	       "  --pid PID            its process, for CPU time and memory (with --connect)\n"
	       "  --objects N          objects loaded before the timed phases (default 1000000)\n"
	       "  --value-size SIZE    size each object declares (default 4K; no data moves)\n"
	       "  --seconds S          length of each timed phase (default 3)\n"
	       "  --conns C            client connections (default 4)\n"
	       "  --window W           requests pipelined per connection (default 512)\n"
	       "  --nodes K            fake nodes, one segment each (default 2)\n"
	       "  --segment-size SIZE  segment each node mounts (default 1T)\n"
	       "  --replicas R         replicas per object (default 1; at most --nodes)\n"
	       "  --mix-get-pct P      in the mix phase, P%% gets, the rest puts (default 90)\n"
	       "  --phases LIST        of load,get,exist,put,remove,mix (default all; load\n"
	       "                       always runs)\n\n"
	       "Every phase prints a row and a line \"BENCH op=PHASE ...\"; a put is two\n"
	       "requests (PUT_START, PUT_END), each counted as one op. cpu %% is the master's\n"
	       "CPU time over the phase's wall time; ops/cpu-s what one of its cores does.\n");
}

int main(int argc, char **argv)
{
	static const struct option o[] = {
		{ "master", required_argument, NULL, 'M' },     { "master-arg", required_argument, NULL, 'A' },
		{ "connect", required_argument, NULL, 'c' },    { "pid", required_argument, NULL, 'P' },
		{ "objects", required_argument, NULL, 'n' },    { "value-size", required_argument, NULL, 's' },
		{ "seconds", required_argument, NULL, 't' },    { "conns", required_argument, NULL, 'C' },
		{ "window", required_argument, NULL, 'w' },     { "nodes", required_argument, NULL, 'N' },
		{ "segment-size", required_argument, NULL, 'S' }, { "replicas", required_argument, NULL, 'r' },
		{ "mix-get-pct", required_argument, NULL, 'm' }, { "phases", required_argument, NULL, 'p' },
		{ "help", no_argument, NULL, 'h' },             { 0 },
	};
	const char *master = NULL, *connect_to = NULL, *extra[MAX_MASTER_ARGS];
	int n_extra = 0, c;
	uint64_t pid = 0, seconds = 3;
	B.objects = 1000000;
	B.value_size = 4096;
	B.conns = 4;
	B.window = 512;
	B.nodes = 2;
	B.segment_size = 1ull << 40;
	B.replicas = 1;
	B.mix_get_pct = 90;
	for (int i = 0; i < PH_N_; i++)
		B.phase_on[i] = true;
#define NUM(var, max, min, what)                                                            \
	do {                                                                                \
		if (mcs_parse_u64(optarg, (max), &(var)) < 0 || (var) + 1 < (min) + 1) {    \
			fprintf(stderr, "master-bench: invalid %s: %s\n", what, optarg);      \
			return 2;                                                           \
		}                                                                           \
	} while (0)
	while ((c = getopt_long(argc, argv, "h", o, NULL)) != -1) {
		switch (c) {
		case 'M': master = optarg; break;
		case 'A':
			if (n_extra == MAX_MASTER_ARGS) {
				fprintf(stderr, "master-bench: at most %d --master-arg\n", MAX_MASTER_ARGS);
				return 2;
			}
			extra[n_extra++] = optarg;
			break;
		case 'c': connect_to = optarg; break;
		case 'P': NUM(pid, 1ull << 31, 1, "--pid"); break;
		case 'n': NUM(B.objects, 100000000, 1, "--objects"); break;
		case 's':
			if (mcs_parse_size(optarg, &B.value_size) < 0 || B.value_size == 0) {
				fprintf(stderr, "master-bench: invalid --value-size: %s\n", optarg);
				return 2;
			}
			break;
		case 't': NUM(seconds, 3600, 1, "--seconds"); break;
		case 'C': NUM(B.conns, MAX_CONNS, 1, "--conns"); break;
		case 'w': NUM(B.window, MAX_WINDOW, 2, "--window"); break;
		case 'N': NUM(B.nodes, 16, 1, "--nodes"); break;
		case 'S':
			if (mcs_parse_size(optarg, &B.segment_size) < 0 || B.segment_size < 4096) {
				fprintf(stderr, "master-bench: invalid --segment-size: %s\n", optarg);
				return 2;
			}
			break;
		case 'r': NUM(B.replicas, 16, 1, "--replicas"); break;
		case 'm': NUM(B.mix_get_pct, 100, 0, "--mix-get-pct"); break;
		case 'p': {
			for (int i = 1; i < PH_N_; i++)
				B.phase_on[i] = false;
			char *list = strdup(optarg), *save = NULL;
			for (char *t = strtok_r(list, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
				int i;
				for (i = 0; i < PH_N_ && strcmp(t, phase_names[i]); i++)
					;
				if (i == PH_N_) {
					fprintf(stderr, "master-bench: unknown phase \"%s\" (load, get, exist, put, remove, mix)\n", t);
					return 2;
				}
				B.phase_on[i] = true;
			}
			free(list);
			break;
		}
		case 'h': usage(); return 0;
		default: return 2;
		}
	}
#undef NUM
	if (optind < argc) {
		fprintf(stderr, "master-bench: unexpected argument \"%s\" (see --help)\n", argv[optind]);
		return 2;
	}
	if (master && connect_to) {
		fprintf(stderr, "master-bench: --master and --connect exclude each other\n");
		return 2;
	}
	if (B.replicas > B.nodes) {
		fprintf(stderr, "master-bench: --replicas %llu needs at least that many --nodes\n",
			(unsigned long long)B.replicas);
		return 2;
	}
	B.seconds_ms = seconds * 1000;
	B.rng = 0x2545f4914f6cdd1dull;
	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);

	if (connect_to) {
		if (mcs_parse_hostport(connect_to, B.host, sizeof(B.host), &B.port) < 0) {
			fprintf(stderr, "master-bench: invalid --connect %s: HOST:PORT expected\n", connect_to);
			return 2;
		}
		B.m.pid = (long)pid;
	} else {
		char buf[4096];
		if (!master && !(master = mb_default_master(buf, sizeof(buf))))
			die("no mcstore-master next to this program: give --master PATH or --connect HOST:PORT");
		char err[4200];
		if (mb_master_start(&B.m, master, extra, n_extra, err, sizeof(err)) < 0)
			die("%s", err);
		B.port = B.m.port;
		snprintf(B.host, sizeof(B.host), "127.0.0.1");
	}

	mount_nodes();
	for (uint64_t i = 0; i < B.conns; i++) {
		int fd = dial();
		if (fd < 0)
			die("cannot connect to the master at %s:%u: %s", B.host, B.port, strerror(errno));
		conn_init(&B.c[i], fd, (uint32_t)B.window);
	}
	printf("master %s:%u%s, %llu fake nodes with %llu-byte segments, %llu objects of %llu bytes, "
	       "%llu connections x %llu requests in flight\n",
	       B.host, B.port, B.m.child ? " (started by master-bench)" : "", (unsigned long long)B.nodes,
	       (unsigned long long)B.segment_size, (unsigned long long)B.objects, (unsigned long long)B.value_size,
	       (unsigned long long)B.conns, (unsigned long long)B.window);
	fflush(stdout);

	long rss0 = mb_proc_rss_kb(B.m.pid);
	header();
	B.next_load = 0;
	run(PH_LOAD, 0);
	long rss1 = mb_proc_rss_kb(B.m.pid);
	if (rss0 >= 0 && rss1 >= 0) {
		double per = (double)(rss1 - rss0) * 1024.0 / (double)B.objects;
		printf("memory: master RSS %ld kB before the load, %ld kB after %llu objects: %.0f bytes/object\n", rss0,
		       rss1, (unsigned long long)B.objects, per);
		printf("BENCH op=memory objects=%llu rss_before_kb=%ld rss_after_kb=%ld bytes_per_object=%.0f\n",
		       (unsigned long long)B.objects, rss0, rss1, per);
	} else
		printf("memory: unknown (no --pid)\n");
	fflush(stdout);

	B.next_new = B.objects;
	if (B.phase_on[PH_GET])
		run(PH_GET, B.seconds_ms);
	if (B.phase_on[PH_EXIST])
		run(PH_EXIST, B.seconds_ms);
	B.rm_next = B.next_new;
	if (B.phase_on[PH_PUT])
		run(PH_PUT, B.seconds_ms);
	B.rm_end = B.next_new;
	if (B.phase_on[PH_REMOVE])
		run(PH_REMOVE, B.seconds_ms);
	if (B.phase_on[PH_MIX])
		run(PH_MIX, B.seconds_ms);

	/* closing the node connections drops their segments and every object */
	for (uint64_t i = 0; i < B.conns; i++)
		close(B.c[i].fd);
	for (uint64_t i = 0; i < B.nodes; i++)
		close(B.node[i].fd);
	mb_master_stop(&B.m);
	return 0;
}
