/* SPDX-License-Identifier: MIT */
/*
 * kv-bench: one workload, three stores. bench/compare runs it against
 * mcstore (libmcstore), Redis (hiredis) and memcached (libmemcached), and
 * for the two physical limits of the machine, so that every figure of its
 * table comes from the same client code, the same value sizes and the
 * same concurrency.
 *
 *   kv-bench --limits [--size SIZE]
 *   kv-bench --backends
 *   kv-bench --backend mcstore|redis|memcached --target T --size SIZE
 *            [--clients N] [--count N] [--batch N] [--location SEG] [--ops LIST]
 *
 * T is the node's socket (mcstore) or HOST:PORT. Each client is a process
 * with its own connection; all start each phase together (a pipe barrier).
 * Ops: put, get (into a caller buffer; for mcstore the checksum is verified),
 * view (mcstore only: zero-copy, verified in place), viewnv (the same view
 * with MCS_VIEW_NOVERIFY: not hashed, one round trip), viewread (that view,
 * then every byte of it read by the caller, as a consumer of the view
 * does: what a view is worth against a copy), bput/bget (batches of
 * --batch keys: mcs_put_batch/mcs_get_batch, pipelined SET/GET, memcached
 * pipelined sets (noreply, buffered, then one get of the last key as the
 * fence that says the server took them all) and mget). Prints one line per op:
 *   RESULT backend=B op=O size=S clients=N ops_per_s=X gbps=X p50_us=X p99_us=X
 * It judges nothing; a backend not built in prints "RESULT ... unavailable".
 */
#include <arpa/inet.h>
#include <getopt.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench/limits.h"
#include "common/util.h"
#include "mcstore.h"
#ifdef HAVE_HIREDIS
#include <hiredis/hiredis.h>
#endif
#ifdef HAVE_LIBMEMCACHED
#include <libmemcached/memcached.h>
#endif

#define MAX_BATCH 1024

struct opts {
	const char *backend, *target, *location, *ops;
	uint64_t size, count, clients, batch;
};

struct conn {
	struct mcs_client *mcs;
#ifdef HAVE_HIREDIS
	redisContext *redis;
#endif
#ifdef HAVE_LIBMEMCACHED
	memcached_st *mc;
	memcached_st *mcb; /* batch puts: noreply, buffered (a connection of its own) */
#endif
};

/* ---- the three clients --------------------------------------------------- */

static int hostport(const char *t, char *host, size_t cap, int *port)
{
	const char *colon = strrchr(t, ':');
	if (!colon || (size_t)(colon - t) >= cap)
		return -1;
	memcpy(host, t, (size_t)(colon - t));
	host[colon - t] = '\0';
	*port = atoi(colon + 1);
	return *port > 0 ? 0 : -1;
}

static int conn_open(const struct opts *o, struct conn *c)
{
	memset(c, 0, sizeof(*c));
	char host[256];
	int port = 0;
	if (!strcmp(o->backend, "mcstore")) {
		struct mcs_client_opts co = { .size = sizeof(co), .socket_path = o->target };
		mcs_client_opts_env(&co);
		return mcs_client_new(&co, &c->mcs) < 0 ? -1 : 0;
	}
	if (hostport(o->target, host, sizeof(host), &port) < 0)
		return -1;
#ifdef HAVE_HIREDIS
	if (!strcmp(o->backend, "redis")) {
		c->redis = redisConnect(host, port);
		return c->redis && !c->redis->err ? 0 : -1;
	}
#endif
#ifdef HAVE_LIBMEMCACHED
	if (!strcmp(o->backend, "memcached")) {
		c->mc = memcached_create(NULL);
		if (!c->mc || memcached_server_add(c->mc, host, (in_port_t)port) != MEMCACHED_SUCCESS)
			return -1;
		memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_BINARY_PROTOCOL, 0);
		memcached_behavior_set(c->mc, MEMCACHED_BEHAVIOR_TCP_NODELAY, 1);
		c->mcb = memcached_clone(NULL, c->mc);
		if (!c->mcb)
			return -1;
		memcached_behavior_set(c->mcb, MEMCACHED_BEHAVIOR_NOREPLY, 1);
		memcached_behavior_set(c->mcb, MEMCACHED_BEHAVIOR_BUFFER_REQUESTS, 1);
		return 0;
	}
#endif
	return -1;
}

static bool available(const char *backend)
{
	if (!strcmp(backend, "mcstore"))
		return true;
#ifdef HAVE_HIREDIS
	if (!strcmp(backend, "redis"))
		return true;
#endif
#ifdef HAVE_LIBMEMCACHED
	if (!strcmp(backend, "memcached"))
		return true;
#endif
	return false;
}

/* Reads every byte of [p, p + n), as a caller consuming a view would: the
 * sum goes to a volatile, so the loads are not optimised away */
volatile uint64_t kvb_sink;
static void read_all(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint64_t acc[4] = { 0 };
	size_t i = 0;
	for (; i + 32 <= n; i += 32)
		for (int k = 0; k < 4; k++) {
			uint64_t w;
			memcpy(&w, b + i + 8 * k, 8);
			acc[k] += w;
		}
	for (; i < n; i++)
		acc[0] += b[i];
	kvb_sink += acc[0] + acc[1] + acc[2] + acc[3];
}

/* One operation on n keys (n > 1 only for the batch ops). 0 or -1. */
static int run_op(const struct opts *o, struct conn *c, const char *op, const char *const *keys, size_t n,
		  uint8_t *const *bufs, size_t size)
{
	bool put = !strcmp(op, "put") || !strcmp(op, "bput");
	if (c->mcs) {
		struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = 1 };
		if (o->location) {
			cfg.locations = &o->location;
			cfg.n_locations = 1;
		}
		if (!strcmp(op, "put"))
			return mcs_put(c->mcs, keys[0], bufs[0], size, &cfg, NULL) == 0 ? 0 : -1;
		if (!strcmp(op, "get"))
			return mcs_get(c->mcs, keys[0], bufs[0], size) == (ssize_t)size ? 0 : -1;
		if (!strcmp(op, "view") || !strcmp(op, "viewnv") || !strcmp(op, "viewread")) {
			struct mcs_view *v;
			unsigned flags = strcmp(op, "view") ? MCS_VIEW_NOVERIFY : 0;
			if (mcs_get_view(c->mcs, keys[0], flags, &v) < 0)
				return -1;
			for (size_t k = 0; !strcmp(op, "viewread") && k < v->n_iov; k++)
				read_all(v->iov[k].iov_base, v->iov[k].iov_len);
			mcs_view_release(v);
			return 0;
		}
		struct iovec iov[MAX_BATCH];
		for (size_t i = 0; i < n; i++)
			iov[i] = (struct iovec){ bufs[i], size };
		if (put) {
			int res[MAX_BATCH];
			return mcs_put_batch(c->mcs, n, keys, iov, &cfg, res, NULL) == (int)n ? 0 : -1;
		}
		ssize_t res[MAX_BATCH];
		return mcs_get_batch(c->mcs, n, keys, iov, res) == (int)n ? 0 : -1;
	}
#ifdef HAVE_HIREDIS
	if (c->redis) {
		for (size_t i = 0; i < n; i++) {
			if (put)
				redisAppendCommand(c->redis, "SET %s %b", keys[i], bufs[i], size);
			else
				redisAppendCommand(c->redis, "GET %s", keys[i]);
		}
		int bad = 0;
		for (size_t i = 0; i < n; i++) {
			redisReply *rep = NULL;
			if (redisGetReply(c->redis, (void **)&rep) != REDIS_OK || !rep)
				return -1;
			if (put)
				bad |= rep->type != REDIS_REPLY_STATUS;
			else if (rep->type == REDIS_REPLY_STRING && rep->len == size)
				memcpy(bufs[i], rep->str, size);
			else
				bad = 1;
			freeReplyObject(rep);
		}
		return bad ? -1 : 0;
	}
#endif
#ifdef HAVE_LIBMEMCACHED
	if (c->mc) {
		if (put && n == 1)
			return memcached_set(c->mc, keys[0], strlen(keys[0]), (const char *)bufs[0], size, 0, 0) ==
					       MEMCACHED_SUCCESS
				       ? 0
				       : -1;
		if (put) {
			/* pipelined: every set buffered without a reply, sent
			 * in few writes, then one round trip that ends after
			 * the server has taken them (the same connection) */
			for (size_t i = 0; i < n; i++) {
				memcached_return_t rc = memcached_set(c->mcb, keys[i], strlen(keys[i]),
								      (const char *)bufs[i], size, 0, 0);
				if (rc != MEMCACHED_SUCCESS && rc != MEMCACHED_BUFFERED)
					return -1;
			}
			if (memcached_flush_buffers(c->mcb) != MEMCACHED_SUCCESS)
				return -1;
			size_t len = 0;
			uint32_t flags;
			memcached_return_t rc;
			char *v = memcached_get(c->mcb, keys[n - 1], strlen(keys[n - 1]), &len, &flags, &rc);
			int ok = v && len == size && (size == 0 || memcmp(v, bufs[n - 1], size) == 0);
			free(v);
			return ok ? 0 : -1;
		}
		if (n == 1) {
			size_t len = 0;
			uint32_t flags;
			memcached_return_t rc;
			char *v = memcached_get(c->mc, keys[0], strlen(keys[0]), &len, &flags, &rc);
			if (!v || len != size) {
				free(v);
				return -1;
			}
			memcpy(bufs[0], v, size);
			free(v);
			return 0;
		}
		size_t lens[MAX_BATCH];
		for (size_t i = 0; i < n; i++)
			lens[i] = strlen(keys[i]);
		if (memcached_mget(c->mc, keys, lens, n) != MEMCACHED_SUCCESS)
			return -1;
		size_t got = 0;
		memcached_return_t rc;
		memcached_result_st *res;
		while ((res = memcached_fetch_result(c->mc, NULL, &rc))) {
			if (memcached_result_length(res) == size && got < n)
				memcpy(bufs[got], memcached_result_value(res), size);
			got++;
			memcached_result_free(res);
		}
		return got == n ? 0 : -1;
	}
#endif
	return -1;
}

/* ---- one client process -------------------------------------------------- */

struct phase_result {
	uint64_t ns, ops, failed;
	uint64_t p50_ns, p99_ns;
};

static int xread(int fd, void *p, size_t n)
{
	while (n) {
		ssize_t r = read(fd, p, n);
		if (r <= 0)
			return -1;
		p = (uint8_t *)p + r;
		n -= (size_t)r;
	}
	return 0;
}

static void client(const struct opts *o, unsigned id, const char *const *ops, size_t n_ops, int to_parent,
		   int from_parent)
{
	struct conn c;
	if (conn_open(o, &c) < 0) {
		fprintf(stderr, "kv-bench: client %u: cannot connect to %s %s\n", id, o->backend, o->target);
		_exit(1);
	}
	size_t size = (size_t)o->size;
	/* sources and destinations spread over 64 MiB so copies read cold
	 * memory, and at least a batch of them when batches run */
	bool batches = false;
	for (size_t p = 0; p < n_ops; p++)
		batches |= ops[p][0] == 'b';
	size_t nbuf = MCS_MAX(batches ? (size_t)o->batch : 1, (size_t)((64u << 20) / size));
	uint8_t *src = bench_alloc(nbuf * size), *dst = bench_alloc(nbuf * size);
	uint64_t *lat = calloc(o->count, sizeof(*lat));
	char **keys = calloc(o->count, sizeof(*keys));
	if (!src || !dst || !lat || !keys)
		_exit(1);
	for (size_t i = 0; i < nbuf * size; i += 64)
		src[i] = (uint8_t)(i * 131 + id);
	for (uint64_t phase = 0; phase < n_ops; phase++) {
		const char *op = ops[phase];
		bool put = !strcmp(op, "put") || !strcmp(op, "bput");
		bool batch = op[0] == 'b';
		size_t step = batch ? (size_t)o->batch : 1;
		for (uint64_t i = 0; i < o->count; i++) {
			free(keys[i]);
			/* every put op stores fresh keys (this run's, by the parent's
			 * pid); gets read the last put's */
			if (asprintf(&keys[i], "kvb%d-%s-%u-%llu-%llu", (int)getppid(), put ? op : "x", id,
				     (unsigned long long)phase,
				     (unsigned long long)i) < 0)
				_exit(1);
		}
		if (!put) {
			/* read what the last put phase wrote */
			int last = -1;
			for (uint64_t p = 0; p < phase; p++)
				if (!strcmp(ops[p], "put") || !strcmp(ops[p], "bput"))
					last = (int)p;
			for (uint64_t i = 0; i < o->count && last >= 0; i++) {
				free(keys[i]);
				if (asprintf(&keys[i], "kvb%d-%s-%u-%d-%llu", (int)getppid(), ops[last], id, last,
					     (unsigned long long)i) < 0)
					_exit(1);
			}
		}
		struct phase_result pr = { 0 };
		char b = 0;
		if (write(to_parent, &b, 1) != 1 || xread(from_parent, &b, 1) < 0)
			_exit(1);
		uint64_t t0 = mcs_now_ns(), n_lat = 0;
		for (uint64_t i = 0; i + step <= o->count; i += step) {
			uint8_t *bufs[MAX_BATCH];
			for (size_t j = 0; j < step; j++)
				bufs[j] = (put ? src : dst) + ((i + j) % nbuf) * size;
			uint64_t s = mcs_now_ns();
			if (run_op(o, &c, op, (const char *const *)&keys[i], step, bufs, size) < 0 && !pr.failed++)
				fprintf(stderr, "kv-bench: %s %s: %s of %s failed\n", o->backend, o->target, op, keys[i]);
			lat[n_lat++] = mcs_now_ns() - s;
			pr.ops += step;
		}
		pr.ns = mcs_now_ns() - t0;
		qsort(lat, n_lat, sizeof(*lat), bench_cmp_u64);
		pr.p50_ns = n_lat ? lat[n_lat / 2] : 0;
		pr.p99_ns = n_lat ? lat[n_lat * 99 / 100] : 0;
		if (write(to_parent, &pr, sizeof(pr)) != sizeof(pr))
			_exit(1);
	}
	_exit(0);
}

static int run(const struct opts *o)
{
	char *list = strdup(o->ops), *save = NULL;
	const char *ops[16];
	size_t n_ops = 0;
	for (char *t = strtok_r(list, ",", &save); t && n_ops < 16; t = strtok_r(NULL, ",", &save))
		ops[n_ops++] = t;
	if (!available(o->backend)) {
		for (size_t p = 0; p < n_ops; p++)
			printf("RESULT backend=%s op=%s size=%llu clients=%llu unavailable\n", o->backend, ops[p],
			       (unsigned long long)o->size, (unsigned long long)o->clients);
		return 0;
	}
	unsigned n = (unsigned)o->clients;
	int up[64][2], down[64][2];
	pid_t pids[64];
	for (unsigned i = 0; i < n; i++) {
		if (pipe(up[i]) < 0 || pipe(down[i]) < 0)
			return 1;
		pids[i] = fork();
		if (pids[i] == 0) {
			for (unsigned j = 0; j <= i; j++) {
				close(up[j][0]);
				close(down[j][1]);
			}
			client(o, i, ops, n_ops, up[i][1], down[i][0]);
		}
		close(up[i][1]);
		close(down[i][0]);
	}
	int status = 0;
	for (size_t p = 0; p < n_ops && !status; p++) {
		char b;
		for (unsigned i = 0; i < n && !status; i++)
			if (xread(up[i][0], &b, 1) < 0)
				status = 1;
		for (unsigned i = 0; i < n && !status; i++)
			if (write(down[i][1], &b, 1) != 1)
				status = 1;
		uint64_t ops_total = 0, failed = 0, ns_max = 0, p50 = 0, p99 = 0;
		for (unsigned i = 0; i < n && !status; i++) {
			struct phase_result pr;
			if (xread(up[i][0], &pr, sizeof(pr)) < 0) {
				status = 1;
				break;
			}
			ops_total += pr.ops;
			failed += pr.failed;
			ns_max = MCS_MAX(ns_max, pr.ns);
			p50 = MCS_MAX(p50, pr.p50_ns); /* the slowest client's */
			p99 = MCS_MAX(p99, pr.p99_ns);
		}
		if (status)
			break;
		double secs = (double)ns_max / 1e9;
		printf("RESULT backend=%s op=%s size=%llu clients=%u ops_per_s=%.0f gbps=%.3f p50_us=%.1f p99_us=%.1f "
		       "failed=%llu\n",
		       o->backend, ops[p], (unsigned long long)o->size, n, (double)ops_total / secs,
		       (double)(ops_total * o->size) / (double)ns_max, (double)p50 / 1e3, (double)p99 / 1e3,
		       (unsigned long long)failed);
		fflush(stdout);
		if (failed)
			status = 1;
	}
	for (unsigned i = 0; i < n; i++) {
		int st;
		close(down[i][1]);
		waitpid(pids[i], &st, 0);
		if (!WIFEXITED(st) || WEXITSTATUS(st))
			status = 1;
	}
	free(list);
	return status;
}

int main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "backend", required_argument, NULL, 'b' }, { "target", required_argument, NULL, 't' },
		{ "size", required_argument, NULL, 's' },    { "clients", required_argument, NULL, 'c' },
		{ "count", required_argument, NULL, 'n' },   { "batch", required_argument, NULL, 'B' },
		{ "location", required_argument, NULL, 'L' }, { "ops", required_argument, NULL, 'o' },
		{ "limits", no_argument, NULL, 'l' },        { "help", no_argument, NULL, 'h' },
		{ "backends", no_argument, NULL, 'K' },
		{ 0 },
	};
	struct opts o = { .backend = "mcstore", .ops = "put,get", .size = 1 << 20, .count = 100, .clients = 1,
			  .batch = 64 };
	bool limits = false;
	int c;
	while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		switch (c) {
		case 'b': o.backend = optarg; break;
		case 't': o.target = optarg; break;
		case 'L': o.location = optarg; break;
		case 'o': o.ops = optarg; break;
		case 'l': limits = true; break;
		case 'K':
			/* the clients this build has */
			printf("mcstore%s%s\n", available("redis") ? " redis" : "",
			       available("memcached") ? " memcached" : "");
			return 0;
		case 's':
			if (mcs_parse_size(optarg, &o.size) < 0 || o.size == 0)
				return 2;
			break;
		case 'c':
			if (mcs_parse_u64(optarg, 64, &o.clients) < 0 || o.clients == 0)
				return 2;
			break;
		case 'n':
			if (mcs_parse_u64(optarg, 10000000, &o.count) < 0 || o.count == 0)
				return 2;
			break;
		case 'B':
			if (mcs_parse_u64(optarg, MAX_BATCH, &o.batch) < 0 || o.batch == 0)
				return 2;
			break;
		case 'h':
			printf("Usage: kv-bench --limits [--size SIZE] | --backends\n"
			       "       kv-bench --backend mcstore|redis|memcached --target SOCKET|HOST:PORT\n"
			       "                --size SIZE [--clients N] [--count N] [--batch N]\n"
			       "                [--location SEGMENT] [--ops put,get,view,viewnv,viewread,bput,bget]\n");
			return 0;
		default: return 2;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	if (limits) {
		/* cold memcpy over 2 x 1 GiB, 3 rounds; 4 GiB over one stream,
		 * hot (one buffer resent), then cold (from 1 GiB into a 64 MiB
		 * ring: what a client's kv-bench run reads into) */
		printf("LIMIT memcpy size=%llu gbps=%.3f\n", (unsigned long long)o.size,
		       bench_memcpy_gbps((size_t)o.size, 1u << 30, 3));
		printf("LIMIT tcp size=%llu gbps=%.3f\n", (unsigned long long)o.size,
		       bench_tcp_gbps((size_t)o.size, 4ull << 30, 0, 0));
		printf("LIMIT tcpcold size=%llu gbps=%.3f\n", (unsigned long long)o.size,
		       bench_tcp_gbps((size_t)o.size, 4ull << 30, 1u << 30, 64u << 20));
		return 0;
	}
	if (!o.target)
		return 2;
	return run(&o);
}
