/* SPDX-License-Identifier: MIT */
/*
 * mcstorectl top --pid PID [--json] [--once] [--interval SECONDS]
 *
 * Loads the BPF programs of ebpf/mcstore.bpf.c (a libbpf skeleton),
 * attaches each program to the USDT probe of the same name in the
 * process's executable, only for that process, and every interval prints
 * what the programs counted: totals since attach, rates over the last
 * interval, and histogram percentiles (log2 buckets: a percentile is the
 * upper bound of its bucket). The probes cost a nop when nobody listens;
 * once attached each hit is a uprobe trap, which is what the overhead
 * figures in the issue report measure.
 */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "ctl/top.h"
#include "ebpf/mcstore-top.h"

#ifdef HAVE_BPF
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "ebpf/mcstore.skel.h"
#endif

#define EXIT_USAGE 2
#define EXIT_FAIL 3

static void top_usage(FILE *f)
{
	fprintf(f, "Usage: mcstorectl top --pid PID [--json] [--once] [--interval SECONDS]\n"
		   "Attach to a running mcstore-master or mcstored and show its lease,\n"
		   "heartbeat, put and get telemetry (eBPF on its USDT probes; needs root).\n");
}

#ifndef HAVE_BPF
int mcs_ctl_top(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			top_usage(stdout);
			return 0;
		}
	fprintf(stderr,
		"mcstorectl top: this mcstorectl was built without BPF support (missing at build time: %s);\n"
		"rebuild with libbpf-dev, clang and bpftool (configure --enable-bpf=yes).\n"
		"The daemons' --metrics-port gives counters without BPF.\n",
		MCS_BPF_MISSING);
	return EXIT_FAIL;
}
#else

static volatile sig_atomic_t stop;
static void on_stop(int sig) { stop = 1; }

static int libbpf_quiet(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	if (getenv("MCSTORECTL_TOP_DEBUG"))
		return vfprintf(stderr, fmt, ap);
	return 0;
}

/* The value below which a share q of the samples fall (bucket bound). */
static unsigned long long hist_pct(const struct mcs_hist *h, double q)
{
	if (!h->count)
		return 0;
	unsigned long long want = (unsigned long long)((double)h->count * q), seen = 0;
	if (want == 0)
		want = 1;
	for (int i = 0; i < MCS_HIST_SLOTS; i++) {
		seen += h->slot[i];
		if (seen >= want)
			return i == 0 ? 0 : 1ull << i;
	}
	return ~0ull;
}

struct sample {
	struct mcs_top_stats s;
	struct mcs_top_node nodes[MCS_TOP_MAX_NODES];
	unsigned n_nodes;
	double t;
};

static double now_s(void) { return (double)mcs_now_ns() / 1e9; }

static void take(struct mcstore_bpf *skel, struct sample *out)
{
	out->t = now_s();
	memcpy(&out->s, (const void *)&skel->bss->stats, sizeof(out->s));
	int fd = bpf_map__fd(skel->maps.nodes);
	unsigned long long key, next, *prev = NULL;
	out->n_nodes = 0;
	while (out->n_nodes < MCS_TOP_MAX_NODES && bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (bpf_map_lookup_elem(fd, &next, &out->nodes[out->n_nodes]) == 0)
			out->n_nodes++;
		key = next;
		prev = &key;
	}
}

struct counter {
	const char *name;
	size_t off;
	bool master;
};
#define C(f, m) { #f, offsetof(struct mcs_top_stats, f), m }
static const struct counter counters[] = {
	C(lease_grants, true), C(lease_extends, true), C(lease_expires, true), C(gets, true),
	C(puts_started, true), C(puts_ended, true), C(puts_refused, true), C(puts_revoked, true),
	C(evict_runs, true), C(evicted_objects, true), C(evicted_bytes, true), C(heartbeats_recv, true),
	C(nodes_lost, true), C(nodes_gone, true), C(heartbeats_sent, false), C(heartbeats_acked, false),
	C(heartbeats_missed, false), C(requests, false),
};
struct hist {
	const char *name;
	size_t off;
	bool master;
};
#define H(f, n, m) { n, offsetof(struct mcs_top_stats, f), m }
static const struct hist hists[] = {
	H(lease_held_ms, "lease_held_ms", true),
	H(put_ms, "put_ms", true),
	H(evict_ns, "evict_run_ns", true),
	H(loss_silent_ms, "loss_detect_ms", true),
	H(heartbeat_rtt_ns, "heartbeat_rtt_ns", false),
	H(request_ns[MCS_TOP_REQ_PUT_START], "put_start_ns", false),
	H(request_ns[MCS_TOP_REQ_PUT_END], "put_end_ns", false),
	H(request_ns[MCS_TOP_REQ_GET], "get_ns", false),
	H(request_ns[MCS_TOP_REQ_OTHER], "other_request_ns", false),
};

static unsigned long long ctr(const struct mcs_top_stats *s, size_t off)
{
	return *(const unsigned long long *)((const char *)s + off);
}
static const struct mcs_hist *hst(const struct mcs_top_stats *s, size_t off)
{
	return (const struct mcs_hist *)((const char *)s + off);
}

static void print_json(int pid, const char *prog, bool master, const struct sample *a, const struct sample *b)
{
	double dt = b->t - a->t;
	struct json_object *o = json_object_new_object(), *cs = json_object_new_object();
	struct json_object *rs = json_object_new_object(), *hs = json_object_new_object();
	json_object_object_add(o, "pid", json_object_new_int(pid));
	json_object_object_add(o, "program", json_object_new_string(prog));
	json_object_object_add(o, "interval_s", json_object_new_double(dt));
	for (size_t i = 0; i < MCS_ARRAY_SIZE(counters); i++) {
		if (counters[i].master != master)
			continue;
		unsigned long long now = ctr(&b->s, counters[i].off), then = ctr(&a->s, counters[i].off);
		json_object_object_add(cs, counters[i].name, json_object_new_uint64(now));
		json_object_object_add(rs, counters[i].name, json_object_new_double(dt > 0 ? (double)(now - then) / dt : 0));
	}
	for (size_t i = 0; i < MCS_ARRAY_SIZE(hists); i++) {
		if (hists[i].master != master)
			continue;
		const struct mcs_hist *h = hst(&b->s, hists[i].off);
		struct json_object *j = json_object_new_object();
		json_object_object_add(j, "count", json_object_new_uint64(h->count));
		json_object_object_add(j, "sum", json_object_new_uint64(h->sum));
		json_object_object_add(j, "p50", json_object_new_uint64(hist_pct(h, 0.5)));
		json_object_object_add(j, "p90", json_object_new_uint64(hist_pct(h, 0.9)));
		json_object_object_add(j, "p99", json_object_new_uint64(hist_pct(h, 0.99)));
		json_object_object_add(hs, hists[i].name, j);
	}
	json_object_object_add(o, "counters", cs);
	json_object_object_add(o, "rates", rs);
	json_object_object_add(o, "histograms", hs);
	if (master) {
		struct json_object *ns = json_object_new_array();
		for (unsigned i = 0; i < b->n_nodes; i++) {
			const struct mcs_top_node *n = &b->nodes[i];
			struct json_object *j = json_object_new_object();
			/* the name as the probe copied it: not NUL-terminated when full */
			json_object_object_add(j, "node", json_object_new_string_len(n->name, (int)strnlen(n->name, sizeof(n->name))));
			json_object_object_add(j, "heartbeats", json_object_new_uint64(n->heartbeats));
			json_object_object_add(j, "interval_p50_ns", json_object_new_uint64(hist_pct(&n->gap_ns, 0.5)));
			json_object_object_add(j, "jitter_p50_ns", json_object_new_uint64(hist_pct(&n->jitter_ns, 0.5)));
			json_object_object_add(j, "jitter_p99_ns", json_object_new_uint64(hist_pct(&n->jitter_ns, 0.99)));
			json_object_object_add(j, "lost", json_object_new_uint64(n->lost));
			json_object_array_add(ns, j);
		}
		json_object_object_add(o, "nodes", ns);
	}
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	fflush(stdout);
}

static void print_text(int pid, const char *prog, bool master, const struct sample *a, const struct sample *b,
		       bool clear)
{
	double dt = b->t - a->t;
	time_t t = time(NULL);
	char ts[32];
	strftime(ts, sizeof(ts), "%H:%M:%S", localtime(&t));
	if (clear)
		fputs("\033[H\033[2J", stdout);
	printf("mcstorectl top - %s pid %d - %s - over %.1f s\n\n", prog, pid, ts, dt);
	printf("%-20s %14s %12s\n", "COUNTER", "TOTAL", "PER SECOND");
	for (size_t i = 0; i < MCS_ARRAY_SIZE(counters); i++) {
		if (counters[i].master != master)
			continue;
		unsigned long long v = ctr(&b->s, counters[i].off);
		double r = dt > 0 ? (double)(v - ctr(&a->s, counters[i].off)) / dt : 0;
		printf("%-20s %14llu %12.1f\n", counters[i].name, v, r);
	}
	printf("\n%-20s %10s %12s %12s %12s\n", "HISTOGRAM", "COUNT", "P50 <=", "P90 <=", "P99 <=");
	for (size_t i = 0; i < MCS_ARRAY_SIZE(hists); i++) {
		if (hists[i].master != master)
			continue;
		const struct mcs_hist *h = hst(&b->s, hists[i].off);
		printf("%-20s %10llu %12llu %12llu %12llu\n", hists[i].name, h->count, hist_pct(h, 0.5),
		       hist_pct(h, 0.9), hist_pct(h, 0.99));
	}
	if (master) {
		printf("\n%-28s %10s %14s %14s %14s %5s\n", "NODE@PEER", "HEARTBEATS", "INTERVAL P50", "JITTER P50",
		       "JITTER P99", "LOST");
		for (unsigned i = 0; i < b->n_nodes; i++) {
			const struct mcs_top_node *n = &b->nodes[i];
			printf("%-28.*s %10llu %11.3f ms %11.3f ms %11.3f ms %5llu\n", (int)sizeof(n->name), n->name,
			       n->heartbeats, hist_pct(&n->gap_ns, 0.5) / 1e6, hist_pct(&n->jitter_ns, 0.5) / 1e6,
			       hist_pct(&n->jitter_ns, 0.99) / 1e6, n->lost);
		}
		if (!b->n_nodes)
			printf("(no heartbeat seen yet)\n");
	}
	fflush(stdout);
}

/* What stops BPF from loading, said plainly; mounts tracefs when absent. */
static int preflight(void)
{
	if (geteuid() != 0) {
		fprintf(stderr, "mcstorectl top: needs root (CAP_BPF and CAP_PERFMON) to load BPF programs\n");
		return -EPERM;
	}
	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		/* the programs are CO-RE: libbpf relocates them against the
		 * running kernel's types, so they cannot load without them */
		fprintf(stderr, "mcstorectl top: the running kernel has no BTF (/sys/kernel/btf/vmlinux: %s), "
				"which the BPF programs need to load (CO-RE); it takes a kernel built with "
				"CONFIG_DEBUG_INFO_BTF=y\n", strerror(errno));
		return -ENOTSUP;
	}
	struct stat st;
	if (stat("/sys/kernel/tracing/uprobe_events", &st) != 0 &&
	    stat("/sys/kernel/debug/tracing/uprobe_events", &st) != 0) {
		if (mount("tracefs", "/sys/kernel/tracing", "tracefs", 0, NULL) == 0)
			fprintf(stderr, "mcstorectl top: mounted tracefs on /sys/kernel/tracing\n");
		else
			fprintf(stderr, "mcstorectl top: tracefs is not mounted and mounting it failed (%s), "
					"trying without it\n", strerror(errno));
	}
	return 0;
}

int mcs_ctl_top(int argc, char **argv)
{
	static const struct option o[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "json", no_argument, NULL, 'j' },
		{ "once", no_argument, NULL, '1' },
		{ "interval", required_argument, NULL, 'i' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c, pid = 0;
	bool json = false, once = false;
	double interval = 1.0;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:i:h", o, NULL)) != -1) {
		switch (c) {
		case 'p':
			pid = atoi(optarg);
			break;
		case 'j':
			json = true;
			break;
		case '1':
			once = true;
			break;
		case 'i': {
			char *end;
			interval = strtod(optarg, &end);
			if (*end || !(interval >= 0.05 && interval <= 3600)) {
				fprintf(stderr, "mcstorectl top: --interval takes seconds, 0.05 to 3600\n");
				return EXIT_USAGE;
			}
			break;
		}
		case 'h':
			top_usage(stdout);
			return 0;
		default:
			top_usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (pid <= 0 || optind != argc) {
		top_usage(stderr);
		return EXIT_USAGE;
	}
	char exe[4096], link[64], prog[64] = "?";
	snprintf(link, sizeof(link), "/proc/%d/exe", pid);
	ssize_t n = readlink(link, exe, sizeof(exe) - 1);
	if (n < 0) {
		fprintf(stderr, "mcstorectl top: no process %d to attach to (%s)\n", pid, strerror(errno));
		return EXIT_FAIL;
	}
	exe[n] = 0;
	snprintf(link, sizeof(link), "/proc/%d/comm", pid);
	FILE *cf = fopen(link, "re");
	if (cf) {
		if (fgets(prog, sizeof(prog), cf))
			prog[strcspn(prog, "\n")] = 0;
		fclose(cf);
	}
	bool master = strstr(prog, "master") != NULL;
	if (preflight() < 0)
		return EXIT_FAIL;

	libbpf_set_print(libbpf_quiet);
	struct mcstore_bpf *skel = mcstore_bpf__open_and_load();
	if (!skel) {
		fprintf(stderr, "mcstorectl top: cannot load the BPF programs: %s\n", strerror(errno));
		return EXIT_FAIL;
	}
	int attached = 0, r = EXIT_FAIL;
	struct bpf_link *links[64];
	struct sample *a = NULL;
	struct bpf_program *p;
	bpf_object__for_each_program(p, skel->obj)
	{
		/* every program, on the probe of its name; those of the other
		 * daemon are simply not in this executable */
		struct bpf_link *l = bpf_program__attach_usdt(p, pid, exe, "mcstore", bpf_program__name(p), NULL);
		if (l && attached < (int)MCS_ARRAY_SIZE(links))
			links[attached++] = l;
		else
			bpf_link__destroy(l);
	}
	if (!attached) {
		fprintf(stderr,
			"mcstorectl top: no mcstore probe in %s (pid %d): not an mcstore daemon, or built "
			"without <sys/sdt.h>\n",
			exe, pid);
		goto out;
	}
	fprintf(stderr, "mcstorectl top: attached %d probes to %s (pid %d)\n", attached, prog, pid);
	struct sigaction sa = { .sa_handler = on_stop };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	a = calloc(3, sizeof(*a));
	if (!a)
		goto out;
	struct sample *b = a + 1, *first = a + 2;
	take(skel, a);
	*first = *a;
	r = 0;
	while (!stop) {
		struct timespec ts = { (time_t)interval, (long)((interval - (double)(time_t)interval) * 1e9) };
		nanosleep(&ts, NULL); /* a signal ends the wait early */
		if (kill(pid, 0) != 0 && errno == ESRCH) {
			fprintf(stderr, "mcstorectl top: process %d is gone\n", pid);
			stop = 1;
		}
		take(skel, b);
		/* --once: everything since attach; otherwise the last interval */
		const struct sample *from = once ? first : a;
		if (json)
			print_json(pid, prog, master, from, b);
		else
			print_text(pid, prog, master, from, b, !once);
		if (once)
			break;
		*a = *b;
	}
out:
	free(a);
	for (int i = 0; i < attached; i++)
		bpf_link__destroy(links[i]);
	mcstore_bpf__destroy(skel);
	return r;
}
#endif
