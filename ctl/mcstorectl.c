/* SPDX-License-Identifier: MIT */
/*
 * mcstorectl: the command-line client of mcstore, for operators and
 * scripts. Every command goes through libmcstore to the local node daemon.
 *
 * Exit status: 0 success, 1 not found, 2 usage error, 3 any other error.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "ctl/top.h"
#include "mcstore.h"

enum { EXIT_NOTFOUND = 1, EXIT_USAGE = 2, EXIT_ERROR = 3 };

static const char *socket_path;

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mcstorectl [--socket PATH] COMMAND [ARG]...\n"
		"Store, fetch and inspect objects in mcstore through the local node daemon.\n\n"
		"Commands:\n"
		"  put KEY FILE [--replicas N] [--location NODE|SEGMENT]... [--all-or-nothing]\n"
		"      [--soft-pin] [--hard-pin]\n"
		"                         store FILE (- for stdin) under KEY, preferably on\n"
		"                         the given nodes or segments; a soft pin is evicted\n"
		"                         last, a hard pin never (operators)\n"
		"  get KEY [-o FILE]      write the object to FILE (default stdout)\n"
		"  exists KEY             exit 0 if KEY is stored, 1 if not\n"
		"  rm KEY [--force]       remove KEY (--force ignores read leases)\n"
		"  locate KEY             print each replica's buffers: node, segment,\n"
		"                         endpoint, offset, length (one per line)\n"
		"  rm-all                 remove every object without a lease\n"
		"  stat                   segments, capacity, use and object count\n"
		"  top --pid PID [--json] [--once] [--interval SECONDS]\n"
		"                         live lease, heartbeat, put and get telemetry of\n"
		"                         a running daemon (eBPF, as root)\n\n"
		"Options:\n"
		"  -S, --socket PATH      daemon socket (default $MCSTORE_SOCKET, else\n"
		"                         " MCS_DEFAULT_SOCKET ")\n"
		"  -h, --help             show this help and exit\n"
		"  -V, --version          show the version and exit\n\n"
		"Exit status: 0 success, 1 not found, 2 usage error, 3 other error.\n");
}

static int fail(const char *what, const char *key, int r)
{
	if (key)
		fprintf(stderr, "mcstorectl: %s %s: %s\n", what, key, mcs_strerror(r));
	else
		fprintf(stderr, "mcstorectl: %s: %s\n", what, mcs_strerror(r));
	return r == MCS_E_NOT_FOUND ? EXIT_NOTFOUND : EXIT_ERROR;
}

static int open_client(struct mcs_client **ret)
{
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = socket_path };
	int r = mcs_client_new(&o, ret);
	if (r < 0) {
		const char *p = socket_path ? socket_path : getenv("MCSTORE_SOCKET");
		fprintf(stderr, "mcstorectl: cannot connect to mcstored at %s: %s\n",
			p && *p ? p : MCS_DEFAULT_SOCKET, mcs_strerror(r));
		return EXIT_ERROR;
	}
	return 0;
}

static int read_stdin(void **ret, size_t *ret_len)
{
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (len == cap) {
			char *nb = realloc(buf, cap * 2);
			if (!nb) {
				free(buf);
				return -ENOMEM;
			}
			buf = nb;
			cap *= 2;
		}
		ssize_t n = read(STDIN_FILENO, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = -errno;
			free(buf);
			return e;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	*ret = buf;
	*ret_len = len;
	return 0;
}

static int cmd_put(int argc, char **argv)
{
	static const struct option o[] = {
		{ "replicas", required_argument, NULL, 'r' },
		{ "all-or-nothing", no_argument, NULL, 'A' },
		{ "soft-pin", no_argument, NULL, 'P' },
		{ "hard-pin", no_argument, NULL, 'H' },
		{ "location", required_argument, NULL, 'L' },
		{ 0 },
	};
	struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = 1 };
	const char *locs[MCS_MAX_LOCATIONS];
	cfg.locations = locs;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "r:", o, NULL)) != -1) {
		uint64_t v;
		switch (c) {
		case 'r':
			if (mcs_parse_u64(optarg, MCS_MAX_REPLICAS, &v) < 0 || v == 0) {
				fprintf(stderr, "mcstorectl: invalid --replicas '%s' (1..%d)\n", optarg, MCS_MAX_REPLICAS);
				return EXIT_USAGE;
			}
			cfg.replica_num = (uint32_t)v;
			break;
		case 'A':
			cfg.flags |= MCS_REPL_ALL_OR_NOTHING;
			break;
		case 'P':
			cfg.flags |= MCS_REPL_SOFT_PIN;
			break;
		case 'H':
			cfg.flags |= MCS_REPL_HARD_PIN;
			break;
		case 'L':
			if (cfg.n_locations == MCS_MAX_LOCATIONS) {
				fprintf(stderr, "mcstorectl: at most %d --location\n", MCS_MAX_LOCATIONS);
				return EXIT_USAGE;
			}
			locs[cfg.n_locations++] = optarg;
			break;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2) {
		fprintf(stderr, "mcstorectl: put needs KEY and FILE\n");
		return EXIT_USAGE;
	}
	const char *key = argv[optind], *path = argv[optind + 1];
	void *data = NULL;
	size_t len = 0;
	bool mapped = false;
	int r;
	if (strcmp(path, "-") == 0) {
		if ((r = read_stdin(&data, &len)) < 0)
			return fail("cannot read", "stdin", r);
	} else {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) < 0) {
			fprintf(stderr, "mcstorectl: cannot open %s: %s\n", path, strerror(errno));
			if (fd >= 0)
				close(fd);
			return EXIT_ERROR;
		}
		len = (size_t)st.st_size;
		if (len) {
			data = mmap(NULL, len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
			if (data == MAP_FAILED) {
				fprintf(stderr, "mcstorectl: cannot map %s: %s\n", path, strerror(errno));
				close(fd);
				return EXIT_ERROR;
			}
			mapped = true;
		}
		close(fd);
	}
	struct mcs_client *cl;
	if ((r = open_client(&cl)) != 0)
		goto out;
	int n = mcs_put(cl, key, data, len, &cfg);
	if (n < 0)
		r = fail("put", key, n);
	else if ((uint32_t)n < cfg.replica_num)
		fprintf(stderr, "mcstorectl: put %s: stored %d of %u replicas\n", key, n, cfg.replica_num);
	mcs_client_free(cl);
out:
	if (mapped)
		munmap(data, len);
	else
		free(data);
	return r;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;
	while (n) {
		ssize_t w = write(fd, c, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int cmd_get(int argc, char **argv)
{
	static const struct option o[] = { { "output", required_argument, NULL, 'o' }, { 0 } };
	const char *out = NULL;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, "o:", o, NULL)) != -1) {
		if (c != 'o')
			return EXIT_USAGE;
		out = optarg;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "mcstorectl: get needs KEY\n");
		return EXIT_USAGE;
	}
	const char *key = argv[optind];
	struct mcs_client *cl;
	int r = open_client(&cl);
	if (r)
		return r;
	/* read in place when the object is local; copy otherwise */
	struct mcs_view *v = NULL;
	void *buf = NULL;
	size_t len = 0;
	r = mcs_get_view(cl, key, &v);
	if (r == MCS_E_NOT_LOCAL)
		r = mcs_get_alloc(cl, key, &buf, &len);
	if (r < 0) {
		r = fail("get", key, r);
		goto done;
	}
	int fd = STDOUT_FILENO;
	if (out && strcmp(out, "-") != 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd < 0) {
			fprintf(stderr, "mcstorectl: cannot create %s: %s\n", out, strerror(errno));
			r = EXIT_ERROR;
			goto done;
		}
	}
	int w = 0;
	if (v)
		for (size_t i = 0; i < v->n_iov && w == 0; i++)
			w = write_all(fd, v->iov[i].iov_base, v->iov[i].iov_len);
	else
		w = write_all(fd, buf, len);
	if (w == 0 && fd != STDOUT_FILENO && close(fd) < 0)
		w = -errno;
	if (w < 0) {
		fprintf(stderr, "mcstorectl: cannot write %s: %s\n", out ? out : "stdout", strerror(-w));
		r = EXIT_ERROR;
	}
done:
	mcs_view_release(cl, v);
	free(buf);
	mcs_client_free(cl);
	return r;
}

static int cmd_key(int argc, char **argv, const char *name)
{
	static const struct option o[] = { { "force", no_argument, NULL, 'f' }, { 0 } };
	unsigned flags = 0;
	int c;
	optind = 0;
	while ((c = getopt_long(argc, argv, strcmp(name, "rm") == 0 ? "f" : "", strcmp(name, "rm") == 0 ? o : o + 1,
				NULL)) != -1) {
		if (c != 'f')
			return EXIT_USAGE;
		flags |= MCS_REMOVE_FORCE;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "mcstorectl: %s needs KEY\n", name);
		return EXIT_USAGE;
	}
	const char *key = argv[optind];
	struct mcs_client *cl;
	int r = open_client(&cl);
	if (r)
		return r;
	if (strcmp(name, "exists") == 0) {
		r = mcs_exists(cl, key);
		r = r == 1 ? 0 : r == 0 ? EXIT_NOTFOUND : fail("exists", key, r);
	} else {
		r = mcs_remove(cl, key, flags);
		r = r == 0 ? 0 : fail("rm", key, r);
	}
	mcs_client_free(cl);
	return r;
}

static int cmd_locate(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "mcstorectl: locate needs KEY\n");
		return EXIT_USAGE;
	}
	struct mcs_client *cl;
	int r = open_client(&cl);
	if (r)
		return r;
	struct mcs_object_info *info;
	r = mcs_locate(cl, argv[1], &info);
	if (r < 0) {
		r = fail("locate", argv[1], r);
		mcs_client_free(cl);
		return r;
	}
	printf("# key %s: %llu bytes, %zu replicas, checksum %016llx\n", argv[1], (unsigned long long)info->size,
	       info->n_replicas, (unsigned long long)info->checksum);
	printf("%-8s %-20s %-24s %-22s %14s %14s\n", "REPLICA", "NODE", "SEGMENT", "ENDPOINT", "OFFSET", "LENGTH");
	for (size_t i = 0; i < info->n_replicas; i++)
		for (size_t b = 0; b < info->replicas[i].n_buffers; b++) {
			const struct mcs_buffer_location *l = &info->replicas[i].buffers[b];
			printf("%-8zu %-20s %-24s %-22s %14llu %14llu\n", i, l->node, l->segment,
			       *l->endpoint ? l->endpoint : "-", (unsigned long long)l->offset,
			       (unsigned long long)l->len);
		}
	mcs_object_info_free(info);
	mcs_client_free(cl);
	return 0;
}

static int cmd_rm_all(int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "mcstorectl: rm-all takes no argument\n");
		return EXIT_USAGE;
	}
	struct mcs_client *cl;
	int r = open_client(&cl);
	if (r)
		return r;
	uint64_t n = 0;
	r = mcs_remove_all(cl, &n);
	if (r < 0)
		r = fail("rm-all", NULL, r);
	else
		printf("removed %llu objects\n", (unsigned long long)n);
	mcs_client_free(cl);
	return r;
}

static int cmd_stat(int argc, char **argv)
{
	if (argc != 1) {
		fprintf(stderr, "mcstorectl: stat takes no argument\n");
		return EXIT_USAGE;
	}
	struct mcs_client *cl;
	int r = open_client(&cl);
	if (r)
		return r;
	struct mcs_stat *s;
	r = mcs_stat(cl, &s);
	if (r < 0) {
		r = fail("stat", NULL, r);
		mcs_client_free(cl);
		return r;
	}
	char a[32], b[32];
	printf("node:      %s (segment %s, %s pages)\n", s->local_node, s->local_segment,
	       s->local_hugepages ? "huge" : "normal");
	printf("segments:  %llu\n", (unsigned long long)s->n_segments);
	printf("capacity:  %s (%llu bytes)\n", mcs_fmt_size(s->capacity, a, sizeof(a)), (unsigned long long)s->capacity);
	printf("used:      %s (%llu bytes, %.1f%%)\n", mcs_fmt_size(s->used, b, sizeof(b)), (unsigned long long)s->used,
	       s->capacity ? 100.0 * (double)s->used / (double)s->capacity : 0.0);
	printf("objects:   %llu\n", (unsigned long long)s->n_objects);
	printf("evictions: %llu objects, %llu bytes in %llu runs\n", (unsigned long long)s->evictions,
	       (unsigned long long)s->evicted_bytes, (unsigned long long)s->evict_runs);
	printf("put_no_space: %llu\n", (unsigned long long)s->put_no_space);
	printf("leases_granted: %llu\n", (unsigned long long)s->leases_granted);
	printf("remove_refused_leased: %llu\n", (unsigned long long)s->remove_refused);
	printf("puts_timed_out: %llu\n", (unsigned long long)s->puts_timed_out);
	printf("soft_pins_refused: %llu\n", (unsigned long long)s->soft_pins_refused);
	printf("nodes_lost: %llu\n", (unsigned long long)s->nodes_lost);
	printf("\n%-24s %-20s %14s %14s %10s\n", "SEGMENT", "NODE", "SIZE", "USED", "BUFFERS");
	for (uint64_t i = 0; i < s->n_segments; i++) {
		const struct mcs_segment_info *g = &s->segments[i];
		printf("%-24s %-20s %14llu %14llu %10llu\n", g->name, g->node, (unsigned long long)g->size,
		       (unsigned long long)g->used, (unsigned long long)g->n_allocs);
	}
	mcs_stat_free(s);
	mcs_client_free(cl);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option o[] = {
		{ "socket", required_argument, NULL, 'S' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	int c;
	/* options before the command only; the command parses its own */
	while ((c = getopt_long(argc, argv, "+S:hV", o, NULL)) != -1) {
		switch (c) {
		case 'S':
			socket_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("mcstorectl %s (libmcstore %s)\n", PACKAGE_VERSION, mcs_version());
			return 0;
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *cmd = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "put") == 0)
		return cmd_put(argc, argv);
	if (strcmp(cmd, "get") == 0)
		return cmd_get(argc, argv);
	if (strcmp(cmd, "exists") == 0 || strcmp(cmd, "rm") == 0)
		return cmd_key(argc, argv, cmd);
	if (strcmp(cmd, "locate") == 0)
		return cmd_locate(argc, argv);
	if (strcmp(cmd, "rm-all") == 0)
		return cmd_rm_all(argc, argv);
	if (strcmp(cmd, "stat") == 0)
		return cmd_stat(argc, argv);
	if (strcmp(cmd, "top") == 0)
		return mcs_ctl_top(argc, argv);
	if (strcmp(cmd, "help") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "mcstorectl: unknown command '%s'\n", cmd);
	usage(stderr);
	return EXIT_USAGE;
}
