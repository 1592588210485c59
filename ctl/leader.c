/* SPDX-License-Identifier: MIT */
/*
 * mcstorectl leader: which master leads, as the masters or etcd say
 * (mcs_leader()), asked straight, without the node daemon. Exit 0 when the
 * leader confirmed it leads, 1 when none does now, 2 for bad arguments, 3
 * when nothing answered or the key was refused.
 */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "auth/auth.h"
#include "common/endpoints.h"
#include "common/util.h"
#include "ctl/ctl.h"
#include "mcstore.h"

static int leader_json(const char *master, const struct mcs_leader_info *in)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "master", json_object_new_string(master));
	json_object_object_add(o, "leader", in->leader[0] ? json_object_new_string(in->leader) : NULL);
	json_object_object_add(o, "term", json_object_new_uint64(in->term));
	json_object_object_add(o, "confirmed", json_object_new_boolean(in->confirmed));
	json_object_object_add(o, "named_by", json_object_new_string(in->named_by));
	puts(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return in->confirmed ? EXIT_OK : EXIT_NOTFOUND;
}

static int leader_text(const struct mcs_leader_info *in)
{
	if (in->confirmed)
		printf("leader: %s (term %llu; named by %s, confirmed by the leader)\n", in->leader,
		       (unsigned long long)in->term, in->named_by);
	else if (in->leader[0])
		printf("no leader: %s names %s (term %llu), which does not answer as the leader (a failover under "
		       "way?)\n",
		       in->named_by, in->leader, (unsigned long long)in->term);
	else
		printf("no leader: %s names none\n", in->named_by);
	return in->confirmed ? EXIT_OK : EXIT_NOTFOUND;
}

static int leader_run(const struct ctl_cmd *cmd, int argc, char **argv)
{
	const char *master = getenv("MCSTORE_MASTER"), *key_file = NULL;
	bool json = false;
	int c;
	while ((c = ctl_getopt(cmd, argc, argv)) != -1) {
		if (c == 'm')
			master = optarg;
		else if (c == 'k')
			key_file = optarg;
		else if (c == 'j')
			json = true;
		else
			return c == 'h' ? 0 : EXIT_USAGE;
	}
	if (argc - optind != 0)
		return ctl_usage_error(cmd, "takes no argument (--master HOST:PORT or etcd://HOST:PORT;...)");
	if (!master || !*master)
		return ctl_usage_error(cmd, "needs --master HOST:PORT or etcd://HOST:PORT;HOST:PORT (or $MCSTORE_MASTER)");
	char why[512];
	if (!mcs_master_addr_valid(master, why, sizeof(why)))
		return ctl_usage_error(cmd, "invalid --master '%s' (%s)", master, why);
	if (key_file && *key_file) {
		/* what is wrong with the file, in words, before any master is asked */
		struct mcs_keys k;
		const char *kwhy = NULL;
		int r = mcs_keys_load(key_file, &k, &kwhy);
		mcs_keys_wipe(&k);
		if (r < 0)
			return ctl_usage_error(cmd, "cannot use --key-file %s: %s", key_file, kwhy ? kwhy : strerror(-r));
	}
	struct mcs_leader_opts o = { .size = sizeof(o), .key_file = key_file };
	struct mcs_leader_info *in;
	int r = mcs_leader(master, &o, &in);
	if (r == -EACCES) {
		fprintf(stderr, "mcstorectl: leader: %s refused %s (%s)\n", master,
			key_file ? "the cluster key" : "to answer without the cluster key", mcs_strerror(r));
		fprintf(stderr, "mcstorectl: give the cluster's key file with --key-file FILE\n");
		return EXIT_ERROR;
	}
	if (r == -EOPNOTSUPP) {
		fprintf(stderr, "mcstorectl: leader: %s has no cluster key: ask it without --key-file\n", master);
		return EXIT_ERROR;
	}
	if (r < 0) {
		fprintf(stderr, "mcstorectl: leader: cannot ask %s: %s\n", master, mcs_strerror(r));
		return EXIT_ERROR;
	}
	r = json ? leader_json(master, in) : leader_text(in);
	mcs_leader_info_free(in);
	return r;
}

static const struct option leader_opts[] = {
	{ "master", required_argument, NULL, 'm' },
	{ "key-file", required_argument, NULL, 'k' },
	{ "json", no_argument, NULL, 'j' },
	{ 0 },
};
const struct ctl_cmd ctl_leader = {
	"leader", "[--master HOST:PORT|etcd://HOST:PORT;...] [--key-file FILE] [--json]",
	"which master leads and in which term, as the masters or etcd say, asked without the\n"
	"      daemon; exit 0 when the leader confirms it, 1 when none leads now, 3 when nothing\n"
	"      answers or the key is refused ($MCSTORE_MASTER: the default --master)",
	"m:k:", leader_opts, leader_run,
};
