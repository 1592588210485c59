/* SPDX-License-Identifier: MIT */
/*
 * The master's options: one table, one setter that checks a value whether
 * it comes from the command line or from master.conf (common/conf.h).
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "master/options.h"
#include "proto/proto.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mcstore-master [OPTION]...\n"
		"The metadata service of mcstore: segments, objects, replicas, leases.\n\n"
		"  -l, --listen ADDR         address to listen on (default 0.0.0.0 with a\n"
		"                            cluster key, else 127.0.0.1)\n"
		"      --key-file FILE       the cluster key (mcstorectl keygen): every link\n"
		"                            authenticates (default: %s/cluster.key\n"
		"                            if it exists; \"\": none)\n"
		"      --protected-mode yes|no  without a key, refuse to listen on other than\n"
		"                            loopback (default yes)\n"
		"      --token-ttl-ms MS     life of a read capability token (default 60000)\n"
		"  -p, --port PORT           TCP port (default 50051; 0 picks a free one)\n"
		"      --lease-ttl-ms MS     read lease length (default 200)\n"
		"      --default-kv-lease-ttl MS  the same as --lease-ttl-ms\n"
		"      --node-timeout-ms MS  drop a node silent for this long (default 5000)\n"
		"      --eviction-high-watermark-ratio R  evict when use passes R of the\n"
		"                            capacity (default 1.0: only when full)\n"
		"      --eviction-ratio R    share of objects one eviction run removes, and\n"
		"                            the gap down to the low watermark (default 0.1)\n"
		"      --max-soft-pin-ratio R  share of capacity soft pins may hold (default 0.5)\n"
		"      --put-timeout-ms MS   revoke puts not ended within MS (default 30000)\n"
		"      --max-pending-put-ratio R  share of the capacity one connection may\n"
		"                            have in puts not ended (default 0.9)\n"
		"      --max-buffer SIZE     largest buffer of one replica before striping\n"
		"                            (default: no limit; suffixes K, M, G)\n"
		"      --strategy NAME       segment choice: load (default) or random\n"
		"      --seed N              seed of the random strategy (default 1)\n"
		"      --max-frame SIZE      largest request body accepted (default 64M)\n"
		"      --log-level LEVEL     error, warning, notice, info (default),\n"
		"                            debug\n"
		"      --metrics-port PORT   serve Prometheus metrics over HTTP on PORT of\n"
		"                            the --listen address (default: none; 0 picks one)\n"
		"      --busy-poll-us US     poll for requests up to US microseconds before sleeping,\n"
		"                            while they come closer than that (default 50; 0: never)\n"
		"                            (a core spins while requests flow; default 0)\n"
		"      --max-holds-per-connection N  zero-copy holds one connection (a\n"
		"                            client, or a node relaying for its clients) may\n"
		"                            have at once (default 65536)\n"
		"      --max-connections N   TCP connections accepted at once (default 4096;\n"
		"                            0: no limit)\n"
		"      --max-connections-per-peer N  of them from one address (default 1024;\n"
		"                            0: no limit)\n"
		"      --max-queued-answers SIZE  stop reading a connection while more than\n"
		"                            SIZE of its answers wait unread (default 64M;\n"
		"                            0: no limit)\n"
		"      --max-queued-answers-total SIZE  the same for all connections\n"
		"                            together: each gets its share, at least 64K\n"
		"                            (default 1G; 0: no limit)\n"
		"      --frame-timeout-ms MS  close a connection that began a frame and sent\n"
		"                            nothing more for MS (default 30000; 0: never)\n"
		"      --idle-timeout-ms MS  close a connection that sent no request within\n"
		"                            MS of connecting (default 60000; 0: never)\n"
		"      --enable-ha[=yes|no]  HA mode: masters elect a leader through etcd;\n"
		"                            standbys answer only who leads\n"
		"      --etcd-endpoints LIST etcd members, HOST:PORT;HOST:PORT (HA mode)\n"
		"      --rpc-address HOST:PORT  what nodes dial to reach this master, as\n"
		"                            published in etcd (default: --listen and --port)\n"
		"      --etcd-lease-ttl S    the leader's etcd lease, seconds: the longest a\n"
		"                            failover waits for a leader that stopped (default 2)\n"
		"  -h, --help                show this help and exit\n"
		"  -V, --version             show the version and exit\n",
		mcs_conf_dir());
	fprintf(f,
		"\nConfiguration file: a line NAME = VALUE sets option --NAME (see\n"
		"mcstore.conf(5)); options on the command line win.\n"
		"      --config FILE         read FILE instead of %s/master.conf\n"
		"      --no-config           read no configuration file\n",
		mcs_conf_dir());
}

enum { OPT_LEASE = 256, OPT_NODETIMEOUT, OPT_HIGHWM, OPT_EVRATIO, OPT_PINRATIO, OPT_PUTTIMEOUT, OPT_MAXBUF, OPT_STRATEGY, OPT_SEED, OPT_MAXFRAME, OPT_LOGLEVEL,
       OPT_CONFIG, OPT_METRICSPORT, OPT_NOCONFIG, OPT_BUSYPOLL, OPT_MAXHOLDS, OPT_KEYFILE, OPT_PROTECTED, OPT_TOKENTTL,
       OPT_FRAMETIMEOUT, OPT_IDLETIMEOUT, OPT_MAXQUEUED, OPT_MAXQUEUEDTOTAL,
       OPT_MAXCONNS, OPT_MAXCONNSPEER, OPT_PENDINGRATIO, OPT_HA, OPT_ETCD, OPT_RPCADDR, OPT_ETCDTTL };

static const struct option longopts[] = {
	{ "listen", required_argument, NULL, 'l' },
	{ "port", required_argument, NULL, 'p' },
	{ "lease-ttl-ms", required_argument, NULL, OPT_LEASE },
	{ "default-kv-lease-ttl", required_argument, NULL, OPT_LEASE },
	{ "node-timeout-ms", required_argument, NULL, OPT_NODETIMEOUT },
	{ "eviction-high-watermark-ratio", required_argument, NULL, OPT_HIGHWM },
	{ "eviction-ratio", required_argument, NULL, OPT_EVRATIO },
	{ "max-soft-pin-ratio", required_argument, NULL, OPT_PINRATIO },
	{ "put-timeout-ms", required_argument, NULL, OPT_PUTTIMEOUT },
	{ "max-pending-put-ratio", required_argument, NULL, OPT_PENDINGRATIO },
	{ "max-buffer", required_argument, NULL, OPT_MAXBUF },
	{ "strategy", required_argument, NULL, OPT_STRATEGY },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "max-frame", required_argument, NULL, OPT_MAXFRAME },
	{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
	{ "busy-poll-us", required_argument, NULL, OPT_BUSYPOLL },
	{ "max-holds-per-connection", required_argument, NULL, OPT_MAXHOLDS },
	{ "max-queued-answers", required_argument, NULL, OPT_MAXQUEUED },
	{ "max-queued-answers-total", required_argument, NULL, OPT_MAXQUEUEDTOTAL },
	{ "max-connections", required_argument, NULL, OPT_MAXCONNS },
	{ "max-connections-per-peer", required_argument, NULL, OPT_MAXCONNSPEER },
	{ "frame-timeout-ms", required_argument, NULL, OPT_FRAMETIMEOUT },
	{ "idle-timeout-ms", required_argument, NULL, OPT_IDLETIMEOUT },
	{ "metrics-port", required_argument, NULL, OPT_METRICSPORT },
	{ "key-file", required_argument, NULL, OPT_KEYFILE },
	{ "protected-mode", required_argument, NULL, OPT_PROTECTED },
	{ "token-ttl-ms", required_argument, NULL, OPT_TOKENTTL },
	{ "enable-ha", optional_argument, NULL, OPT_HA },
	{ "etcd-endpoints", required_argument, NULL, OPT_ETCD },
	{ "rpc-address", required_argument, NULL, OPT_RPCADDR },
	{ "etcd-lease-ttl", required_argument, NULL, OPT_ETCDTTL },
	{ "config", required_argument, NULL, OPT_CONFIG },
	{ "no-config", no_argument, NULL, OPT_NOCONFIG },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ 0 },
};

/* One option, from the command line or the configuration file. */
static int set_option(const struct mcs_opt_ctx *ctx, int c, const char *arg, void *userdata)
{
	struct master_config *o = userdata;
	int r;

	switch (c) {
	case 'l':
		o->listen_addr = arg;
		break;
	case 'p':
		return mcs_opt_port(ctx, arg, &o->port);
	case OPT_LEASE:
		return mcs_opt_u64(ctx, arg, 1, 3600 * 1000, &o->store.lease_ttl_ms);
	case OPT_HIGHWM:
	case OPT_EVRATIO:
	case OPT_PINRATIO:
	case OPT_PENDINGRATIO: {
		char *end;
		double v = strtod(arg, &end);
		if (*end || end == arg || !(v > 0.0 && v <= 1.0))
			return mcs_opt_invalid(ctx, "a ratio, 0 < R <= 1");
		if (c == OPT_HIGHWM)
			o->store.high_watermark = v;
		else if (c == OPT_EVRATIO)
			o->store.eviction_ratio = v;
		else if (c == OPT_PINRATIO)
			o->store.max_soft_pin_ratio = v;
		else
			o->store.max_pending_put_ratio = v;
		break;
	}
	case OPT_PUTTIMEOUT:
		return mcs_opt_u64(ctx, arg, 10, 24ull * 3600 * 1000, &o->store.put_timeout_ms);
	case OPT_NODETIMEOUT:
		return mcs_opt_u64(ctx, arg, 20, 3600 * 1000, &o->node_timeout_ms);
	case OPT_MAXBUF:
		return mcs_opt_size(ctx, arg, 4096, UINT64_MAX, &o->store.max_buffer);
	case OPT_STRATEGY:
		/* in the order of enum mcs_alloc_strategy */
		if ((r = mcs_opt_choice(ctx, arg, (const char *const[]){ "load", "random", NULL })) < 0)
			return r;
		o->store.strategy = (enum mcs_alloc_strategy)r;
		break;
	case OPT_SEED:
		return mcs_opt_u64(ctx, arg, 0, UINT64_MAX, &o->store.seed);
	case OPT_MAXFRAME:
		return mcs_opt_size(ctx, arg, 4096, 1u << 30, &o->max_frame);
	case OPT_METRICSPORT: {
		uint16_t v;
		if ((r = mcs_opt_port(ctx, arg, &v)) < 0)
			return r;
		o->metrics_port = v;
		break;
	}
	case OPT_BUSYPOLL:
		return mcs_opt_u64(ctx, arg, 0, 1000000, &o->busy_poll_us);
	case OPT_MAXHOLDS:
		return mcs_opt_u64(ctx, arg, 1, UINT32_MAX, &o->max_holds);
	case OPT_KEYFILE:
		o->key_file = arg;
		break;
	case OPT_PROTECTED:
		if ((r = mcs_opt_choice(ctx, arg, (const char *const[]){ "no", "yes", NULL })) < 0)
			return r;
		o->protected_mode = r == 1;
		break;
	case OPT_TOKENTTL:
		return mcs_opt_u64(ctx, arg, 100, 24ull * 3600 * 1000, &o->token_ttl_ms);
	case OPT_MAXCONNS:
		return mcs_opt_u64(ctx, arg, 0, 1u << 24, &o->max_conns);
	case OPT_MAXCONNSPEER:
		return mcs_opt_u64(ctx, arg, 0, 1u << 24, &o->max_conns_per_peer);
	case OPT_MAXQUEUED:
		return mcs_opt_size(ctx, arg, 0, UINT64_MAX, &o->max_queued);
	case OPT_MAXQUEUEDTOTAL:
		return mcs_opt_size(ctx, arg, 0, UINT64_MAX, &o->max_queued_total);
	case OPT_FRAMETIMEOUT:
		return mcs_opt_u64(ctx, arg, 0, 24ull * 3600 * 1000, &o->frame_timeout_ms);
	case OPT_IDLETIMEOUT:
		return mcs_opt_u64(ctx, arg, 0, 24ull * 3600 * 1000, &o->idle_timeout_ms);
	case OPT_HA:
		/* a flag on the command line; "enable-ha = yes" in master.conf */
		r = arg ? mcs_opt_choice(ctx, arg, (const char *const[]){ "no", "yes", NULL }) : 1;
		if (r < 0)
			return r;
		o->enable_ha = r == 1;
		break;
	case OPT_ETCD:
		o->etcd_endpoints = arg;
		break;
	case OPT_RPCADDR: {
		char host[256];
		uint16_t port;
		if (mcs_parse_hostport(arg, host, sizeof(host), &port) < 0 || port == 0 || strlen(arg) > MCS_NAME_MAX)
			return mcs_opt_invalid(ctx, "HOST:PORT");
		o->rpc_address = arg;
		break;
	}
	case OPT_ETCDTTL:
		return mcs_opt_u64(ctx, arg, 1, 3600, &o->etcd_lease_ttl_s);
	default: /* --log-level, --help, --version */
		return mcs_opt_common(ctx, arg);
	}
	return 0;
}

int master_options(int argc, char **argv, struct master_config *ret, struct mcs_conf **ret_conf)
{
	*ret = (struct master_config){
		.listen_addr = NULL, /* by the key: see master_setup */
		.protected_mode = true,
		.token_ttl_ms = 60000,
		.port = 50051,
		.max_frame = MCS_DEFAULT_MAX_BODY,
		.node_timeout_ms = 5000,
		.max_holds = 65536,
		.max_queued = 64ull << 20,
		.max_queued_total = 1ull << 30,
		.max_conns = 4096,
		.max_conns_per_peer = 1024,
		.frame_timeout_ms = 30000,
		.idle_timeout_ms = 60000,
		.metrics_port = -1,
		.busy_poll_us = 50,
		.etcd_lease_ttl_s = 2,
		.store = { .lease_ttl_ms = 200, .strategy = MCS_STRATEGY_LOAD, .seed = 1, .high_watermark = 1.0,
			   .eviction_ratio = 0.1, .max_soft_pin_ratio = 0.5, .put_timeout_ms = 30000,
			   .max_pending_put_ratio = 0.9 },
	};
	static const int early[] = { 'h', 'V', 0 };
	const struct mcs_opt_spec spec = {
		.prog = "mcstore-master",
		.shortopts = "l:p:hV",
		.longopts = longopts,
		.default_config = "master.conf",
		.opt_config = OPT_CONFIG,
		.opt_no_config = OPT_NOCONFIG,
		.early = early,
		.set = set_option,
		.usage = usage,
		.userdata = ret,
	};
	return mcs_opt_parse(&spec, argc, argv, ret_conf);
}
