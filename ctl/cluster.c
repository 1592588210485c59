/* SPDX-License-Identifier: MIT */
/*
 * mcstorectl's cluster commands: stat, locate, keys, health. Text for
 * people by default; --json (json-c) for scripts, with sizes in bytes.
 */
#include <json-c/json.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "ctl/ctl.h"
#include "mcstore.h"

/* Print a JSON document on its own line and free it. */
static int json_print(struct json_object *o)
{
	if (!o) {
		fprintf(stderr, "mcstorectl: out of memory\n");
		return EXIT_ERROR;
	}
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return 0;
}

static void jadd_u64(struct json_object *o, const char *k, uint64_t v)
{
	json_object_object_add(o, k, json_object_new_uint64(v));
}
static void jadd_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, json_object_new_string(v));
}

/* --json and --bytes, the options of stat and locate */
static const struct option out_opts[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "bytes", no_argument, NULL, 'b' },
	{ 0 },
};

struct out_flags {
	bool json, bytes;
};

/* Parse --json/--bytes and want n_args arguments: 0 to go on, else the exit
 * status (-1 for a --help that was answered). */
static int out_parse(const struct ctl_cmd *cmd, int argc, char **argv, int n_args, struct out_flags *f)
{
	int c;
	*f = (struct out_flags){ 0 };
	while ((c = ctl_getopt(cmd, argc, argv)) != -1) {
		if (c == 'j')
			f->json = true;
		else if (c == 'b')
			f->bytes = true;
		else
			return c == 'h' ? -1 : EXIT_USAGE;
	}
	if (argc - optind != n_args)
		return ctl_usage_error(cmd, n_args ? "needs KEY" : "takes no argument");
	return 0;
}

/* ---- stat --------------------------------------------------------------- */

static const struct {
	const char *name;
	size_t off;
} stat_counters[] = {
#define C(f) { #f, offsetof(struct mcs_stat, f) }
	C(evict_runs), C(evictions), C(evicted_bytes), C(put_no_space), C(leases_granted),
	{ "remove_refused_leased", offsetof(struct mcs_stat, remove_refused) },
	C(puts_timed_out), C(soft_pins_refused), C(nodes_lost),
#undef C
};

static uint64_t stat_counter(const struct mcs_stat *s, size_t i)
{
	return *(const uint64_t *)((const char *)s + stat_counters[i].off);
}

static int stat_json(const struct mcs_stat *s)
{
	struct json_object *o = json_object_new_object(), *node = json_object_new_object();
	struct json_object *ctr = json_object_new_object(), *segs = json_object_new_array();
	jadd_str(node, "name", s->local_node);
	jadd_str(node, "segment", s->local_segment);
	json_object_object_add(node, "hugepages", json_object_new_boolean(s->local_hugepages));
	json_object_object_add(o, "node", node);
	jadd_u64(o, "objects", s->n_objects);
	jadd_u64(o, "capacity", s->capacity);
	jadd_u64(o, "used", s->used);
	for (size_t i = 0; i < MCS_ARRAY_SIZE(stat_counters); i++)
		jadd_u64(ctr, stat_counters[i].name, stat_counter(s, i));
	json_object_object_add(o, "counters", ctr);
	for (uint64_t i = 0; i < s->n_segments; i++) {
		const struct mcs_segment_info *g = mcs_stat_segment(s, i);
		struct json_object *j = json_object_new_object();
		jadd_str(j, "name", g->name);
		jadd_str(j, "node", g->node);
		jadd_u64(j, "size", g->size);
		jadd_u64(j, "used", g->used);
		jadd_u64(j, "buffers", g->n_allocs);
		json_object_array_add(segs, j);
	}
	json_object_object_add(o, "segments", segs);
	return json_print(o);
}

static void stat_text(const struct mcs_stat *s, bool bytes)
{
	char a[32], b[32], e[32];
	printf("node:      %s (segment %s, %s pages)\n", s->local_node, s->local_segment,
	       s->local_hugepages ? "huge" : "normal");
	printf("segments:  %llu\n", (unsigned long long)s->n_segments);
	printf("capacity:  %s\n", ctl_size(s->capacity, bytes, a, sizeof(a)));
	printf("used:      %s (%.1f%%)\n", ctl_size(s->used, bytes, b, sizeof(b)),
	       s->capacity ? 100.0 * (double)s->used / (double)s->capacity : 0.0);
	printf("objects:   %llu\n", (unsigned long long)s->n_objects);
	printf("evictions: %llu objects, %s in %llu runs\n", (unsigned long long)s->evictions,
	       ctl_size(s->evicted_bytes, bytes, e, sizeof(e)), (unsigned long long)s->evict_runs);
	for (size_t i = 0; i < MCS_ARRAY_SIZE(stat_counters); i++)
		if (strncmp(stat_counters[i].name, "evict", 5) != 0)
			printf("%s: %llu\n", stat_counters[i].name, (unsigned long long)stat_counter(s, i));
	printf("\n%-24s %-20s %14s %14s %10s\n", "SEGMENT", "NODE", "SIZE", "USED", "BUFFERS");
	for (uint64_t i = 0; i < s->n_segments; i++) {
		const struct mcs_segment_info *g = mcs_stat_segment(s, i);
		printf("%-24s %-20s %14s %14s %10llu\n", g->name, g->node, ctl_size(g->size, bytes, a, sizeof(a)),
		       ctl_size(g->used, bytes, b, sizeof(b)), (unsigned long long)g->n_allocs);
	}
}

static int stat_run(const struct ctl_cmd *cmd, int argc, char **argv)
{
	struct out_flags f;
	int r = out_parse(cmd, argc, argv, 0, &f);
	if (r)
		return r < 0 ? 0 : r;
	struct mcs_client *cl;
	if ((r = ctl_open(&cl)))
		return r;
	struct mcs_stat *s;
	r = mcs_stat(cl, &s);
	if (r < 0)
		r = ctl_fail("stat", NULL, r);
	else {
		if (f.json)
			r = stat_json(s);
		else
			stat_text(s, f.bytes);
		mcs_stat_free(s);
	}
	mcs_client_unref(cl);
	return r;
}

const struct ctl_cmd ctl_stat = {
	"stat", "[--json] [--bytes]",
	"segments, capacity, use, objects and the master's counters (--bytes: sizes in bytes;\n"
	"      --json: one JSON object, sizes in bytes)",
	"", out_opts, stat_run,
};

/* ---- locate ------------------------------------------------------------- */

static const char *replica_status(uint32_t st)
{
	static const char *const names[] = { "undefined", "initialized", "processing", "complete", "removed", "failed" };
	return st < MCS_ARRAY_SIZE(names) ? names[st] : "unknown";
}

static int locate_json(const char *key, const struct mcs_object_info *info)
{
	struct json_object *o = json_object_new_object(), *reps = json_object_new_array();
	char sum[17];
	snprintf(sum, sizeof(sum), "%016llx", (unsigned long long)info->checksum);
	jadd_str(o, "key", key);
	jadd_u64(o, "size", info->size);
	jadd_str(o, "checksum", sum);
	for (size_t i = 0; i < info->n_replicas; i++) {
		struct json_object *rep = json_object_new_object(), *bufs = json_object_new_array();
		const struct mcs_replica_info *ri = mcs_object_replica(info, i);
		jadd_str(rep, "status", replica_status(ri->status));
		for (size_t b = 0; b < ri->n_buffers; b++) {
			const struct mcs_buffer_location *l = mcs_object_buffer(info, i, b);
			struct json_object *j = json_object_new_object();
			jadd_str(j, "node", l->node);
			jadd_str(j, "segment", l->segment);
			jadd_str(j, "endpoint", l->endpoint);
			jadd_u64(j, "offset", l->offset);
			jadd_u64(j, "length", l->len);
			json_object_array_add(bufs, j);
		}
		json_object_object_add(rep, "buffers", bufs);
		json_object_array_add(reps, rep);
	}
	json_object_object_add(o, "replicas", reps);
	return json_print(o);
}

static void locate_text(const char *key, const struct mcs_object_info *info, bool bytes)
{
	char a[32], b[32];
	printf("# key %s: %s, %zu replicas, checksum %016llx\n", key, ctl_size(info->size, bytes, a, sizeof(a)),
	       info->n_replicas, (unsigned long long)info->checksum);
	printf("%-8s %-20s %-24s %-22s %14s %14s\n", "REPLICA", "NODE", "SEGMENT", "ENDPOINT", "OFFSET", "LENGTH");
	for (size_t i = 0; i < info->n_replicas; i++)
		for (size_t k = 0; k < mcs_object_replica(info, i)->n_buffers; k++) {
			const struct mcs_buffer_location *l = mcs_object_buffer(info, i, k);
			printf("%-8zu %-20s %-24s %-22s %14llu %14s\n", i, l->node, l->segment,
			       *l->endpoint ? l->endpoint : "-", (unsigned long long)l->offset,
			       ctl_size(l->len, bytes, b, sizeof(b)));
		}
}

static int locate_run(const struct ctl_cmd *cmd, int argc, char **argv)
{
	struct out_flags f;
	int r = out_parse(cmd, argc, argv, 1, &f);
	if (r)
		return r < 0 ? 0 : r;
	const char *key = argv[optind];
	struct mcs_client *cl;
	if ((r = ctl_open(&cl)))
		return r;
	struct mcs_object_info *info;
	r = mcs_locate(cl, key, &info);
	if (r < 0)
		r = ctl_fail("locate", key, r);
	else {
		if (f.json)
			r = locate_json(key, info);
		else
			locate_text(key, info, f.bytes);
		mcs_object_info_free(info);
	}
	mcs_client_unref(cl);
	return r;
}

const struct ctl_cmd ctl_locate = {
	"locate", "KEY [--json] [--bytes]",
	"each replica's buffers: node, segment, endpoint, offset, length (offsets in bytes)",
	"", out_opts, locate_run,
};

/* ---- keys --------------------------------------------------------------- */

static int keys_run(const struct ctl_cmd *cmd, int argc, char **argv)
{
	const char *prefix = "";
	uint64_t limit = UINT64_MAX;
	int c;
	while ((c = ctl_getopt(cmd, argc, argv)) != -1) {
		if (c == 'p')
			prefix = optarg;
		else if (c == 'n') {
			if (mcs_parse_u64(optarg, UINT64_MAX, &limit) < 0 || limit == 0)
				return ctl_usage_error(cmd, "invalid --limit '%s' (a positive number)", optarg);
		} else
			return c == 'h' ? 0 : EXIT_USAGE;
	}
	if (argc - optind != 0)
		return ctl_usage_error(cmd, "takes no argument (--prefix P for a prefix)");
	struct mcs_client *cl;
	int r = ctl_open(&cl);
	if (r)
		return r;
	/* page after page: the master never builds one unbounded answer */
	uint64_t cursor = 0, shown = 0;
	do {
		struct mcs_key_page *pg;
		r = mcs_list_keys(cl, prefix, cursor, (size_t)MCS_MIN(limit - shown, 1000u), &pg);
		if (r < 0) {
			r = ctl_fail("keys", NULL, r);
			break;
		}
		for (size_t i = 0; i < pg->n_keys && shown < limit; i++, shown++)
			puts(pg->keys[i]);
		cursor = pg->next_cursor;
		mcs_key_page_free(pg);
	} while (cursor && shown < limit);
	if (fflush(stdout) != 0 && r == 0)
		r = EXIT_ERROR;
	mcs_client_unref(cl);
	return r;
}

static const struct option keys_opts[] = {
	{ "prefix", required_argument, NULL, 'p' },
	{ "limit", required_argument, NULL, 'n' },
	{ 0 },
};
const struct ctl_cmd ctl_keys = {
	"keys", "[--prefix P] [--limit N]",
	"list the stored keys (that start with P; at most N), one per line, in no order",
	"p:n:", keys_opts, keys_run,
};

/* ---- health ------------------------------------------------------------- */

/* One look: 0 healthy, EXIT_NOTFOUND not; *line says which. */
static int health_once(char *line, size_t len)
{
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = ctl_socket_path(), .timeout_ms = 10000 };
	mcs_client_opts_env(&o);
	struct mcs_client *cl;
	int r = mcs_client_new(&o, &cl);
	if (r < 0) {
		snprintf(line, len, "unhealthy: no node daemon answers at %s (%s)", o.socket_path, mcs_strerror(r));
		return EXIT_NOTFOUND;
	}
	struct mcs_stat *s;
	r = mcs_stat(cl, &s);
	mcs_client_unref(cl);
	if (r < 0) {
		snprintf(line, len, "unhealthy: node daemon at %s is up, but the master does not answer (%s)",
			 o.socket_path, mcs_strerror(r));
		return EXIT_NOTFOUND;
	}
	bool mounted = false;
	for (uint64_t i = 0; i < s->n_segments && !mounted; i++)
		mounted = strcmp(mcs_stat_segment(s, i)->name, s->local_segment) == 0;
	if (mounted)
		snprintf(line, len, "healthy: node %s, segment %s mounted with the master (%llu segments in the cluster)",
			 s->local_node, s->local_segment, (unsigned long long)s->n_segments);
	else
		snprintf(line, len, "unhealthy: node %s: the master answers but does not list segment %s",
			 s->local_node, s->local_segment);
	mcs_stat_free(s);
	return mounted ? 0 : EXIT_NOTFOUND;
}

static int health_run(const struct ctl_cmd *cmd, int argc, char **argv)
{
	uint64_t wait_s = 0;
	int c;
	while ((c = ctl_getopt(cmd, argc, argv)) != -1) {
		if (c != 'w')
			return c == 'h' ? 0 : EXIT_USAGE;
		if (mcs_parse_u64(optarg, 24 * 3600, &wait_s) < 0)
			return ctl_usage_error(cmd, "invalid --wait '%s' (seconds, 0..86400)", optarg);
	}
	if (argc - optind != 0)
		return ctl_usage_error(cmd, "takes no argument");
	char line[1024];
	uint64_t until = mcs_now_ms() + wait_s * 1000;
	int r;
	/* with --wait: until healthy (a node starting up) or the time is over */
	while ((r = health_once(line, sizeof(line))) != 0 && mcs_now_ms() < until)
		usleep(100 * 1000);
	puts(line);
	return r;
}

static const struct option health_opts[] = { { "wait", required_argument, NULL, 'w' }, { 0 } };
const struct ctl_cmd ctl_health = {
	"health", "[--wait SECONDS]",
	"exit 0 if this node's segment is mounted and the master answers, 1 if not; one line says\n"
	"      which (--wait: until it is, at most SECONDS)",
	"", health_opts, health_run,
};
