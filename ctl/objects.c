/* SPDX-License-Identifier: MIT */
/* mcstorectl's object commands: put, get, exists, rm, rm-all. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "ctl/ctl.h"
#include "mcstore.h"

/* ---- put ---------------------------------------------------------------- */

/* All of a stream (stdin, a pipe, a device, a /proc file) into memory. */
static int read_stream(int fd, void **ret, size_t *ret_len)
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
		ssize_t n = read(fd, buf + len, cap - len);
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

struct input {
	void *data;
	size_t len;
	bool mapped;
};

/* The value of a put: a regular file is mapped, anything else that can be
 * read (stdin as "-", a pipe, a device) is read to its end. */
static int input_open(const char *path, struct input *in)
{
	*in = (struct input){ 0 };
	if (strcmp(path, "-") == 0) {
		int r = read_stream(STDIN_FILENO, &in->data, &in->len);
		if (r < 0)
			fprintf(stderr, "mcstorectl: cannot read stdin: %s\n", strerror(-r));
		return r < 0 ? EXIT_ERROR : 0;
	}
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "mcstorectl: cannot open %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return EXIT_ERROR;
	}
	int r = 0;
	if (S_ISDIR(st.st_mode)) {
		fprintf(stderr, "mcstorectl: %s: is a directory\n", path);
		r = EXIT_ERROR;
	} else if (S_ISREG(st.st_mode) && st.st_size > 0) {
		in->len = (size_t)st.st_size;
		in->data = mmap(NULL, in->len, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (in->data == MAP_FAILED) {
			fprintf(stderr, "mcstorectl: cannot map %s: %s\n", path, strerror(errno));
			in->data = NULL;
			r = EXIT_ERROR;
		} else
			in->mapped = true;
	} else {
		/* pipes, devices, and files that report no size (/proc) */
		int e = read_stream(fd, &in->data, &in->len);
		if (e < 0) {
			fprintf(stderr, "mcstorectl: cannot read %s: %s\n", path, strerror(-e));
			r = EXIT_ERROR;
		}
	}
	close(fd);
	return r;
}

static void input_close(struct input *in)
{
	if (in->mapped)
		munmap(in->data, in->len);
	else
		free(in->data);
}

static int put_run(const struct ctl_cmd *cmd, int argc, char **argv)
{
	struct mcs_replicate_config cfg = { .size = sizeof(cfg), .replica_num = 1 };
	const char *locs[MCS_MAX_LOCATIONS];
	cfg.locations = locs;
	int c;
	while ((c = ctl_getopt(cmd, argc, argv)) != -1) {
		uint64_t v;
		switch (c) {
		case 'r':
			if (mcs_parse_u64(optarg, MCS_MAX_REPLICAS, &v) < 0 || v == 0)
				return ctl_usage_error(cmd, "invalid --replicas '%s' (1..%d)", optarg, MCS_MAX_REPLICAS);
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
		case 'U':
			cfg.flags |= MCS_PUT_UPSERT;
			break;
		case 'L':
			if (cfg.n_locations == MCS_MAX_LOCATIONS)
				return ctl_usage_error(cmd, "at most %d --location", MCS_MAX_LOCATIONS);
			locs[cfg.n_locations++] = optarg;
			break;
		case 'h':
			return 0;
		default:
			return EXIT_USAGE;
		}
	}
	if (argc - optind != 2)
		return ctl_usage_error(cmd, "needs KEY and FILE");
	const char *key = argv[optind], *path = argv[optind + 1];
	struct input in;
	int r = input_open(path, &in);
	if (r)
		return r;
	struct mcs_client *cl;
	if ((r = ctl_open(&cl)) != 0)
		goto out;
	unsigned stored = 0;
	int n = mcs_put(cl, key, in.data, in.len, &cfg, &stored);
	if (n == -EXFULL) {
		uint64_t able = mcs_error_detail();
		fprintf(stderr, "mcstorectl: put %s: only %llu node%s can hold a replica, %u asked (--all-or-nothing)\n",
			key, (unsigned long long)able, able == 1 ? "" : "s", cfg.replica_num);
		r = EXIT_ERROR;
	} else if (n < 0)
		r = ctl_fail("put", key, n);
	else if (stored < cfg.replica_num)
		fprintf(stderr, "mcstorectl: put %s: stored %u of %u replicas\n", key, stored, cfg.replica_num);
	mcs_client_unref(cl);
out:
	input_close(&in);
	return r;
}

static const struct option put_opts[] = {
	{ "replicas", required_argument, NULL, 'r' },
	{ "all-or-nothing", no_argument, NULL, 'A' },
	{ "soft-pin", no_argument, NULL, 'P' },
	{ "hard-pin", no_argument, NULL, 'H' },
	{ "upsert", no_argument, NULL, 'U' },
	{ "location", required_argument, NULL, 'L' },
	{ 0 },
};
const struct ctl_cmd ctl_put = {
	"put",
	"KEY FILE [--replicas N] [--location NODE|SEGMENT]... [--all-or-nothing] [--soft-pin] [--hard-pin] "
	"[--upsert]",
	"store FILE (- for stdin) under KEY, preferably on the given nodes or segments; with\n"
	"      --all-or-nothing, fail unless every replica is stored; a soft pin is evicted last,\n"
	"      a hard pin never (operators); --upsert replaces the value of a stored KEY",
	"r:", put_opts, put_run,
};

/* ---- get ---------------------------------------------------------------- */

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

static int get_run(const struct ctl_cmd *cmd, int argc, char **argv)
{
	const char *out = NULL;
	int c;
	while ((c = ctl_getopt(cmd, argc, argv)) != -1) {
		if (c == 'h')
			return 0;
		if (c != 'o')
			return EXIT_USAGE;
		out = optarg;
	}
	if (argc - optind != 1)
		return ctl_usage_error(cmd, "needs KEY");
	const char *key = argv[optind];
	struct mcs_client *cl;
	int r = ctl_open(&cl);
	if (r)
		return r;
	/* read in place when the object is local; copy otherwise */
	struct mcs_view *v = NULL;
	void *buf = NULL;
	size_t len = 0;
	r = mcs_get_view(cl, key, 0, &v);
	if (r == -EREMOTE)
		r = mcs_get_alloc(cl, key, &buf, &len);
	if (r < 0) {
		r = ctl_fail("get", key, r);
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
	mcs_view_release(v);
	free(buf);
	mcs_client_unref(cl);
	return r;
}

static const struct option get_opts[] = { { "output", required_argument, NULL, 'o' }, { 0 } };
const struct ctl_cmd ctl_get = {
	"get", "KEY [-o FILE]", "write the object to FILE (default stdout)", "o:", get_opts, get_run,
};

/* ---- exists, rm --------------------------------------------------------- */

/* The one argument KEY of exists and rm, after their options. */
static int one_key(const struct ctl_cmd *cmd, int argc, char **argv, const char **ret)
{
	if (argc - optind != 1)
		return ctl_usage_error(cmd, "needs KEY");
	*ret = argv[optind];
	return 0;
}

static int exists_run(const struct ctl_cmd *cmd, int argc, char **argv)
{
	int c;
	while ((c = ctl_getopt(cmd, argc, argv)) != -1)
		return c == 'h' ? 0 : EXIT_USAGE;
	const char *key = NULL;
	struct mcs_client *cl;
	int r = one_key(cmd, argc, argv, &key);
	if (r || (r = ctl_open(&cl)))
		return r;
	r = mcs_exists(cl, key);
	r = r == 1 ? 0 : r == 0 ? EXIT_NOTFOUND : ctl_fail("exists", key, r);
	mcs_client_unref(cl);
	return r;
}

const struct ctl_cmd ctl_exists = {
	"exists", "KEY", "exit 0 if KEY is stored, 1 if not", "", NULL, exists_run,
};

/* A read lease lasts a moment (the master's --lease-ttl-ms); rm waits it
 * out, as long as the master says it has left each time, but not for
 * readers that keep renewing it forever. */
#define RM_WAIT_MAX_MS 60000
#define RM_WAIT_MAX_TRIES 20

static void sleep_ms(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int rm_leased(const char *key, bool waited, uint64_t waited_ms)
{
	uint64_t left = mcs_error_detail();
	if (waited)
		fprintf(stderr, "mcstorectl: rm %s: still leased by readers after waiting %llu ms; --force removes it "
				"anyway\n",
			key, (unsigned long long)waited_ms);
	else if (left)
		fprintf(stderr, "mcstorectl: rm %s: object is leased by a reader for %llu ms more; wait, or --force "
				"removes it anyway\n",
			key, (unsigned long long)left);
	else
		fprintf(stderr, "mcstorectl: rm %s: object is held by a zero-copy reader until it releases it; "
				"--force removes it anyway\n",
			key);
	return EXIT_ERROR;
}

static int rm_run(const struct ctl_cmd *cmd, int argc, char **argv)
{
	unsigned flags = 0;
	bool wait = true;
	int c;
	while ((c = ctl_getopt(cmd, argc, argv)) != -1) {
		if (c == 'f')
			flags |= MCS_REMOVE_FORCE;
		else if (c == 'W')
			wait = false;
		else
			return c == 'h' ? 0 : EXIT_USAGE;
	}
	const char *key = NULL;
	struct mcs_client *cl;
	int r = one_key(cmd, argc, argv, &key);
	if (r || (r = ctl_open(&cl)))
		return r;
	uint64_t waited = 0;
	int tries = 0;
	r = mcs_remove(cl, key, flags);
	while (r == -EBUSY && wait && tries < RM_WAIT_MAX_TRIES) {
		uint64_t left = mcs_error_detail();
		if (left == 0 || waited + left > RM_WAIT_MAX_MS)
			break; /* a hold has no end; a lease that long is no moment */
		if (tries++ == 0)
			fprintf(stderr, "mcstorectl: rm %s: leased by a reader for %llu ms more, waiting (--no-wait: "
					"fail at once; --force: ignore leases)\n",
				key, (unsigned long long)left);
		sleep_ms(left + 1);
		waited += left + 1;
		r = mcs_remove(cl, key, flags);
	}
	if (r == -EBUSY)
		r = rm_leased(key, tries > 0, waited);
	else if (r < 0)
		r = ctl_fail("rm", key, r);
	mcs_client_unref(cl);
	return r;
}

static const struct option rm_opts[] = {
	{ "force", no_argument, NULL, 'f' },
	{ "no-wait", no_argument, NULL, 'W' },
	{ 0 },
};
const struct ctl_cmd ctl_rm = {
	"rm", "KEY [--no-wait] [--force]",
	"remove KEY; waits out a read lease first (--no-wait: fail at once;\n"
	"      --force: remove even while leased)",
	"f", rm_opts, rm_run,
};

static int rm_all_run(const struct ctl_cmd *cmd, int argc, char **argv)
{
	int c;
	while ((c = ctl_getopt(cmd, argc, argv)) != -1)
		return c == 'h' ? 0 : EXIT_USAGE;
	if (argc - optind != 0)
		return ctl_usage_error(cmd, "takes no argument");
	struct mcs_client *cl;
	int r = ctl_open(&cl);
	if (r)
		return r;
	uint64_t n = 0;
	r = mcs_remove_all(cl, &n);
	if (r < 0)
		r = ctl_fail("rm-all", NULL, r);
	else
		printf("removed %llu objects\n", (unsigned long long)n);
	mcs_client_unref(cl);
	return r;
}

const struct ctl_cmd ctl_rm_all = {
	"rm-all", "", "remove every object without a lease", "", NULL, rm_all_run,
};
