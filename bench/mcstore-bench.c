/* SPDX-License-Identifier: MIT */
/*
 * mcstore-bench: drives a running node through libmcstore and prints
 * numbers beside the machine's own limit, measured in the same run:
 * single-thread memcpy bandwidth with cold buffers (larger than any cache),
 * and with --tcp one loopback TCP stream.
 *
 * Workloads, in this order each round (--ops picks some): put (distinct
 * keys), get into a caller buffer (copy + hash check), get as a zero-copy
 * view (hash check in place), the same view with MCS_VIEW_NOVERIFY (no
 * hash: one round trip whatever the size), and mixed (--mix % gets of the
 * keys just put, the rest puts of new keys). --threads runs them in that
 * many threads at once, each with its own handle; --batch N makes puts and
 * gets go N keys per mcs_put_batch / mcs_get_batch call (latency is then
 * per call); --replicas and --location choose where the replicas go. One
 * row per case and one machine-readable BENCH line; a progress line on
 * standard error while a phase runs longer than a second. It judges
 * nothing.
 */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/limits.h"
#include "common/util.h"
#include "mcstore.h"

enum phase { P_PUT, P_GET, P_VIEW, P_VIEWNV, P_MIXED, P_N, P_EXIT = P_N };
static const char *const phase_name[P_N] = { "put", "get", "get-view", "get-view-nv", "mixed" };
static const char *const phase_opt[P_N] = { "put", "get", "view", "viewnv", "mixed" };

struct bench {
	const char *sock;
	uint64_t size, count, rounds, threads, replicas, batch, mix;
	const char *location;
	bool shared, progress;
	unsigned ops;                 /* 1 << phase */
	struct mcs_replicate_config cfg;
	pthread_barrier_t start, end;
	enum phase phase;
	uint64_t round;
	atomic_uint_fast64_t done;    /* objects handled in the phase, all threads */
	atomic_bool failed;
};

struct worker {
	struct bench *b;
	unsigned id;
	struct mcs_client *cl;
	uint8_t *src, *dst;
	size_t nsrc;
	uint64_t *lat;                /* one per call */
	size_t n_lat;
	uint64_t rng;
	pthread_t th;
};

static void key_of(char *buf, size_t len, const struct worker *w, const char *kind, uint64_t i)
{
	snprintf(buf, len, "bench-%d-%u-%s%llu-%llu", (int)getpid(), w->id, kind, (unsigned long long)w->b->round,
		 (unsigned long long)i);
}

static int fail(struct worker *w, const char *what, const char *key, int r)
{
	fprintf(stderr, "mcstore-bench: thread %u: %s %s: %s\n", w->id, what, key, mcs_strerror(r));
	atomic_store(&w->b->failed, true);
	return -1;
}

/* Keys [i, i+n) of this thread, for one call (n == 1) or one batch, with
 * the slots of buf (the sources or the destinations) they go with. */
struct keys {
	char names[MCS_BATCH_MAX][80];
	const char *k[MCS_BATCH_MAX];
	struct iovec v[MCS_BATCH_MAX];
};

static void keys_fill(struct keys *ks, const struct worker *w, const char *kind, uint64_t i, uint64_t n, uint8_t *buf)
{
	for (uint64_t j = 0; j < n; j++) {
		key_of(ks->names[j], sizeof(ks->names[j]), w, kind, i + j);
		ks->k[j] = ks->names[j];
		ks->v[j] = (struct iovec){ buf + ((i + j) % w->nsrc) * w->b->size, (size_t)w->b->size };
	}
}

static int put_keys(struct worker *w, const char *kind, uint64_t i, uint64_t n)
{
	if (n == 0 || n > MCS_BATCH_MAX)
		return 0;
	struct keys ks;
	int res[MCS_BATCH_MAX];
	keys_fill(&ks, w, kind, i, n, w->src);
	if (n == 1) {
		int r = mcs_put(w->cl, ks.k[0], ks.v[0].iov_base, ks.v[0].iov_len, &w->b->cfg, NULL);
		return r < 0 ? fail(w, "put", ks.k[0], r) : 0;
	}
	int r = mcs_put_batch(w->cl, n, ks.k, ks.v, &w->b->cfg, res, NULL);
	if (r < 0)
		return fail(w, "put batch at", ks.k[0], r);
	for (uint64_t j = 0; j < n; j++)
		if (res[j] < 0)
			return fail(w, "put", ks.k[j], res[j]);
	return 0;
}

static int get_keys(struct worker *w, const char *kind, uint64_t i, uint64_t n)
{
	if (n == 0 || n > MCS_BATCH_MAX)
		return 0;
	const ssize_t size = (ssize_t)w->b->size;
	struct keys ks;
	ssize_t res[MCS_BATCH_MAX];
	keys_fill(&ks, w, kind, i, n, w->dst);
	if (n == 1) {
		ssize_t r = mcs_get(w->cl, ks.k[0], ks.v[0].iov_base, ks.v[0].iov_len);
		return r != size ? fail(w, "get", ks.k[0], r < 0 ? (int)r : -EPROTO) : 0;
	}
	int r = mcs_get_batch(w->cl, n, ks.k, ks.v, res);
	if (r < 0)
		return fail(w, "get batch at", ks.k[0], r);
	for (uint64_t j = 0; j < n; j++)
		if (res[j] != size)
			return fail(w, "get", ks.k[j], res[j] < 0 ? (int)res[j] : -EPROTO);
	return 0;
}

/* 1 when views do not apply (the object is on another node) */
static int view_key(struct worker *w, uint64_t i, unsigned flags)
{
	char key[80];
	key_of(key, sizeof(key), w, "", i);
	struct mcs_view *v;
	int r = mcs_get_view(w->cl, key, flags, &v);
	if (r == -EREMOTE)
		return 1;
	if (r < 0)
		return fail(w, "view", key, r);
	mcs_view_release(v);
	return 0;
}

static uint64_t rnd(struct worker *w)
{
	w->rng ^= w->rng << 13;
	w->rng ^= w->rng >> 7;
	w->rng ^= w->rng << 17;
	return w->rng;
}

static void run_phase(struct worker *w)
{
	struct bench *b = w->b;
	uint64_t step = (b->phase == P_PUT || b->phase == P_GET) ? b->batch : 1;
	uint64_t m = 0; /* new keys of the mixed phase */
	w->n_lat = 0;
	for (uint64_t i = 0; i < b->count && !atomic_load(&b->failed); i += step) {
		uint64_t n = MCS_MIN(step, b->count - i);
		uint64_t s = mcs_now_ns();
		int r = 0;
		switch (b->phase) {
		case P_PUT: r = put_keys(w, "", i, n); break;
		case P_GET: r = get_keys(w, "", i, n); break;
		case P_VIEW: r = view_key(w, i, 0); break;
		case P_VIEWNV: r = view_key(w, i, MCS_VIEW_NOVERIFY); break;
		case P_MIXED:
			if (rnd(w) % 100 < b->mix)
				r = get_keys(w, "", rnd(w) % b->count, 1);
			else
				r = put_keys(w, "m", m++, 1);
			break;
		default: break;
		}
		if (r > 0) { /* no views of remote objects: the phase is skipped */
			w->n_lat = 0;
			break;
		}
		if (r < 0)
			break;
		w->lat[w->n_lat++] = mcs_now_ns() - s;
		atomic_fetch_add(&b->done, n);
	}
}

static void cleanup_round(struct worker *w)
{
	char key[80];
	for (uint64_t i = 0; i < w->b->count; i++) {
		key_of(key, sizeof(key), w, "", i);
		mcs_remove(w->cl, key, MCS_REMOVE_FORCE);
		key_of(key, sizeof(key), w, "m", i);
		mcs_remove(w->cl, key, MCS_REMOVE_FORCE);
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (;;) {
		pthread_barrier_wait(&w->b->start);
		if (w->b->phase == P_EXIT)
			return NULL;
		if (w->b->phase == P_N + 1)
			cleanup_round(w);
		else
			run_phase(w);
		pthread_barrier_wait(&w->b->end);
	}
}

static void report(struct bench *b, struct worker *ws, uint64_t ns, double limit)
{
	size_t n = 0, objects = 0;
	for (unsigned t = 0; t < b->threads; t++)
		n += ws[t].n_lat;
	if (n == 0)
		return;
	uint64_t *lat = malloc(n * sizeof(*lat));
	if (!lat)
		return;
	n = 0;
	for (unsigned t = 0; t < b->threads; t++) {
		memcpy(lat + n, ws[t].lat, ws[t].n_lat * sizeof(*lat));
		n += ws[t].n_lat;
	}
	objects = (size_t)atomic_load(&b->done);
	qsort(lat, n, sizeof(*lat), bench_cmp_u64);
	double gbps = (double)objects * (double)b->size / (double)ns, ops = (double)objects * 1e9 / (double)ns;
	double p50 = (double)lat[n / 2] / 1e3, p99 = (double)lat[n * 99 / 100] / 1e3,
	       p999 = (double)lat[n * 999 / 1000] / 1e3;
	printf("%-12s %9llu %3llu %5llu %10.0f %8.2f %9.1f %9.1f %9.1f %7.0f%%\n", phase_name[b->phase],
	       (unsigned long long)b->size, (unsigned long long)b->threads,
	       (unsigned long long)((b->phase == P_PUT || b->phase == P_GET) ? b->batch : 1), ops, gbps, p50, p99, p999,
	       limit > 0 ? 100.0 * gbps / limit : 0.0);
	printf("BENCH op=%s size=%llu threads=%llu batch=%llu replicas=%llu location=%s round=%llu ops=%zu "
	       "ops_per_s=%.0f gbps=%.3f p50_us=%.1f p99_us=%.1f p999_us=%.1f limit_gbps=%.3f\n",
	       phase_name[b->phase], (unsigned long long)b->size, (unsigned long long)b->threads,
	       (unsigned long long)((b->phase == P_PUT || b->phase == P_GET) ? b->batch : 1),
	       (unsigned long long)b->replicas, b->location ? b->location : "-", (unsigned long long)b->round, objects,
	       ops, gbps, p50, p99, p999, limit);
	fflush(stdout);
	free(lat);
}

/* Run one phase in every thread; the calling thread prints progress. */
static uint64_t run_all(struct bench *b, enum phase p)
{
	b->phase = p;
	atomic_store(&b->done, 0);
	uint64_t t0 = mcs_now_ns();
	pthread_barrier_wait(&b->start);
	pthread_barrier_wait(&b->end);
	return mcs_now_ns() - t0;
}

static void *progress_main(void *arg)
{
	struct bench *b = arg;
	uint64_t total = b->count * b->threads, last_phase = UINT64_MAX, since = 0;
	for (;;) {
		usleep(250000);
		enum phase p = b->phase;
		if (p == P_EXIT)
			return NULL;
		if ((uint64_t)p != last_phase) {
			last_phase = p;
			since = mcs_now_ns();
			continue;
		}
		uint64_t done = atomic_load(&b->done);
		if (p < P_N && mcs_now_ns() - since > 1000000000ull && done < total)
			fprintf(stderr, "mcstore-bench: round %llu %s: %llu of %llu objects\n",
				(unsigned long long)b->round + 1, phase_name[p], (unsigned long long)done,
				(unsigned long long)total);
	}
}

static int parse_ops(const char *s, unsigned *ret)
{
	unsigned m = 0;
	char *dup = strdup(s), *save = NULL;
	if (!dup)
		return -1;
	for (char *t = strtok_r(dup, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
		unsigned p;
		for (p = 0; p < P_N && strcmp(t, phase_opt[p]); p++)
			;
		if (p == P_N) {
			free(dup);
			return -1;
		}
		m |= 1u << p;
	}
	free(dup);
	*ret = m;
	return m ? 0 : -1;
}

static void usage(FILE *f)
{
	fprintf(f, "Usage: mcstore-bench [OPTION]...\n"
		   "Drive a running mcstore node through libmcstore and print ops/s, GB/s and\n"
		   "p50/p99/p999 latency per workload, beside this machine's cold memcpy speed.\n\n"
		   "  -S, --socket PATH     the node's socket (default $MCSTORE_SOCKET, else\n"
		   "                        " MCS_DEFAULT_SOCKET ")\n"
		   "  -s, --size SIZE       value size, K/M/G suffixes (default 1M)\n"
		   "  -n, --count N         objects per thread per round (default 200)\n"
		   "  -r, --rounds R        rounds (default 3)\n"
		   "  -t, --threads N       threads, each with its own handle (default 1)\n"
		   "  -b, --batch N         keys per mcs_put_batch/mcs_get_batch call (default 1:\n"
		   "                        mcs_put/mcs_get)\n"
		   "      --replicas N      replicas per object (default 1)\n"
		   "  -L, --location SEG    place the first replica on segment SEG (another\n"
		   "                        node's: remote puts and gets)\n"
		   "      --ops LIST        of put,get,view,viewnv,mixed (default all; every\n"
		   "                        workload but put reads the keys put in the round)\n"
		   "      --mix PCT         share of gets in the mixed workload (default 90)\n"
		   "      --shared-buffers  put from and get into mcs_buffer_alloc() memory\n"
		   "      --tcp             also measure one loopback TCP stream (2 processes)\n"
		   "      --no-progress     no progress lines on standard error\n"
		   "  -h, --help            show this help and exit\n");
}

static int bad(const char *opt)
{
	fprintf(stderr, "mcstore-bench: invalid %s (see --help)\n", opt);
	return 2;
}

enum { O_REPLICAS = 256, O_OPS, O_MIX, O_SHARED, O_TCP, O_NOPROGRESS };

int main(int argc, char **argv)
{
	static const struct option o[] = {
		{ "socket", required_argument, NULL, 'S' },   { "size", required_argument, NULL, 's' },
		{ "count", required_argument, NULL, 'n' },    { "rounds", required_argument, NULL, 'r' },
		{ "threads", required_argument, NULL, 't' },  { "batch", required_argument, NULL, 'b' },
		{ "location", required_argument, NULL, 'L' }, { "replicas", required_argument, NULL, O_REPLICAS },
		{ "ops", required_argument, NULL, O_OPS },    { "mix", required_argument, NULL, O_MIX },
		{ "shared-buffers", no_argument, NULL, O_SHARED }, { "tcp", no_argument, NULL, O_TCP },
		{ "no-progress", no_argument, NULL, O_NOPROGRESS }, { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct bench b = { .size = 1 << 20, .count = 200, .rounds = 3, .threads = 1, .replicas = 1, .batch = 1,
			   .mix = 90, .progress = true, .ops = (1u << P_N) - 1 };
	bool tcp = false;
	int c;
	while ((c = getopt_long(argc, argv, "S:s:n:r:t:b:L:h", o, NULL)) != -1) {
		switch (c) {
		case 'S': b.sock = optarg; break;
		case 's':
			if (mcs_parse_size(optarg, &b.size) < 0 || b.size == 0 || b.size > (1ull << 36))
				return bad("--size");
			break;
		case 'n':
			if (mcs_parse_u64(optarg, 10000000, &b.count) < 0 || b.count == 0)
				return bad("--count");
			break;
		case 'r':
			if (mcs_parse_u64(optarg, 1000, &b.rounds) < 0 || b.rounds == 0)
				return bad("--rounds");
			break;
		case 't':
			if (mcs_parse_u64(optarg, 256, &b.threads) < 0 || b.threads == 0)
				return bad("--threads");
			break;
		case 'b':
			if (mcs_parse_u64(optarg, MCS_BATCH_MAX, &b.batch) < 0 || b.batch == 0)
				return bad("--batch");
			break;
		case O_REPLICAS:
			if (mcs_parse_u64(optarg, MCS_MAX_REPLICAS, &b.replicas) < 0 || b.replicas == 0)
				return bad("--replicas");
			break;
		case 'L': b.location = optarg; break;
		case O_OPS:
			if (parse_ops(optarg, &b.ops) < 0)
				return bad("--ops");
			break;
		case O_MIX:
			if (mcs_parse_u64(optarg, 100, &b.mix) < 0)
				return bad("--mix");
			break;
		case O_SHARED: b.shared = true; break;
		case O_TCP: tcp = true; break;
		case O_NOPROGRESS: b.progress = false; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mcstore-bench: unexpected argument %s (see --help)\n", argv[optind]);
		return 2;
	}
	/* every workload but put reads the keys of the round's put */
	if (b.ops & ~(1u << P_PUT))
		b.ops |= 1u << P_PUT;
	b.cfg = (struct mcs_replicate_config){ .size = sizeof(b.cfg), .replica_num = (uint32_t)b.replicas };
	if (b.location) {
		b.cfg.locations = &b.location;
		b.cfg.n_locations = 1;
	}

	struct worker *ws = calloc(b.threads, sizeof(*ws));
	if (!ws)
		return 1;
	struct mcs_client_opts co = { .size = sizeof(co), .socket_path = b.sock };
	mcs_client_opts_env(&co);
	/* sources spread over more than the cache so puts read cold memory */
	size_t nsrc = MCS_MAX((size_t)1, (size_t)((256u << 20) / b.size / b.threads));
	for (unsigned t = 0; t < b.threads; t++) {
		struct worker *w = &ws[t];
		*w = (struct worker){ .b = &b, .id = t, .nsrc = nsrc, .rng = 0x9e3779b97f4a7c15ull * (t + 1) };
		int r = mcs_client_new(&co, &w->cl);
		if (r < 0) {
			fprintf(stderr, "mcstore-bench: cannot connect to the node: %s\n", mcs_strerror(r));
			return 1;
		}
		if (b.shared) {
			void *s, *d;
			if ((r = mcs_buffer_alloc(w->cl, nsrc * b.size, &s)) < 0 ||
			    (r = mcs_buffer_alloc(w->cl, nsrc * b.size, &d)) < 0) {
				fprintf(stderr, "mcstore-bench: cannot allocate shared buffers: %s\n", mcs_strerror(r));
				return 1;
			}
			w->src = s;
			w->dst = d;
		} else {
			w->src = bench_alloc(nsrc * b.size);
			w->dst = bench_alloc(nsrc * b.size);
		}
		w->lat = calloc(b.count, sizeof(*w->lat));
		if (!w->src || !w->dst || !w->lat) {
			fprintf(stderr, "mcstore-bench: out of memory\n");
			return 1;
		}
		for (size_t i = 0; i < nsrc * b.size; i++)
			w->src[i] = (uint8_t)(i * 131 + 7 + t);
	}

	double limit = bench_memcpy_gbps((size_t)b.size, 512u << 20, 4);
	printf("memcpy (cold, %llu B pieces, 1 thread): %.2f GB/s\n", (unsigned long long)b.size, limit);
	if (tcp) {
		double g = bench_tcp_gbps((size_t)b.size, 2ull << 30, 0, 0);
		printf("tcp (loopback, 1 stream, 2 processes, %llu B writes): %.2f GB/s\n", (unsigned long long)b.size, g);
		printf("BENCH op=tcp-stream size=%llu gbps=%.3f\n", (unsigned long long)b.size, g);
		if (b.location)
			limit = g; /* remote figures are judged against the network */
	}
	printf("%-12s %9s %3s %5s %10s %8s %9s %9s %9s %8s\n", "op", "size", "thr", "batch", "ops/s", "GB/s", "p50 us",
	       "p99 us", "p999 us", b.location && tcp ? "tcp" : "memcpy");

	pthread_barrier_init(&b.start, NULL, (unsigned)b.threads + 1);
	pthread_barrier_init(&b.end, NULL, (unsigned)b.threads + 1);
	for (unsigned t = 0; t < b.threads; t++)
		if (pthread_create(&ws[t].th, NULL, worker_main, &ws[t]) != 0) {
			fprintf(stderr, "mcstore-bench: cannot start a thread\n");
			return 1;
		}
	pthread_t prog;
	bool have_prog = b.progress && pthread_create(&prog, NULL, progress_main, &b) == 0;
	for (b.round = 0; b.round < b.rounds && !atomic_load(&b.failed); b.round++) {
		for (enum phase p = 0; p < P_N && !atomic_load(&b.failed); p++) {
			if (!(b.ops & (1u << p)))
				continue;
			uint64_t ns = run_all(&b, p);
			if (!atomic_load(&b.failed))
				report(&b, ws, ns, limit);
		}
		run_all(&b, (enum phase)(P_N + 1)); /* remove the round's objects */
	}
	b.phase = P_EXIT;
	pthread_barrier_wait(&b.start);
	for (unsigned t = 0; t < b.threads; t++) {
		pthread_join(ws[t].th, NULL);
		mcs_client_unref(ws[t].cl);
		free(ws[t].lat);
	}
	if (have_prog)
		pthread_join(prog, NULL);
	free(ws);
	return atomic_load(&b.failed) ? 1 : 0;
}
