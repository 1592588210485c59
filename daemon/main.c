/* SPDX-License-Identifier: MIT */
/*
 * mcstored: the node daemon. It owns this node's shared-memory segment,
 * mounts it with the master, and serves local inference processes on a
 * unix socket (see node.h for how the parts divide the work). main()
 * wires the parts together; it is here that the client socket opens, once
 * the segment is mounted.
 */
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/conf.h"
#include "common/endpoints.h"
#include "common/log.h"
#include "common/notify.h"
#include "common/util.h"
#include "daemon/fdstore.h"
#include "daemon/node.h"
#include "mcstore.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mcstored [OPTION]...\n"
		"The mcstore node daemon: owns this node's shared-memory segment and\n"
		"serves local clients.\n\n"
		"  -m, --master HOST:PORT   master to mount with (default 127.0.0.1:50051);\n"
		"               etcd://HOST:PORT;HOST:PORT  the leader of HA masters, as etcd says\n"
		"  -n, --name NAME          node name (default: the host name)\n"
		"      --segment-name NAME  segment name (default NAME-0)\n"
		"  -s, --segment-size SIZE  segment size, suffixes K, M, G (default 1G)\n"
		"      --hugepages MODE     auto (default: huge pages, else normal pages\n"
		"                           with a warning), on (huge pages or fail), off\n"
		"      --populate[=BOOL]    fault the whole segment in at start\n"
		"  -S, --socket PATH        client socket (default $MCSTORE_SOCKET, else\n"
		"                           " MCS_DEFAULT_SOCKET ")\n"
		"      --socket-mode MODE   permissions of the socket, octal (default 0660)\n"
		"      --allow-users LIST   only these users (names or uids, comma-separated)\n"
		"                           may use the socket, besides root and this\n"
		"                           daemon's user (default: whoever its mode lets in)\n"
		"      --allow-groups LIST  and the members of these groups (the same)\n"
		"      --read-only-users LIST, --read-only-groups LIST  these may only read:\n"
		"                           no mapping of the segment, no write anywhere\n"
		"                           (needs a cluster key)\n"
		"      --data-port PORT     TCP port serving other nodes (default 50052;\n"
		"                           0 picks a free one)\n"
		"      --data-listen ADDR   address the data port binds (default 0.0.0.0 with\n"
		"                           a cluster key, else 127.0.0.1)\n"
		"      --key-file FILE      the cluster key (mcstorectl keygen): every TCP\n"
		"                           link authenticates, data requests need tokens\n"
		"                           (default: %s/cluster.key if it exists;\n"
		"                           \"\": none)\n"
		"      --protected-mode yes|no  without a key, refuse to serve beyond\n"
		"                           loopback (default yes)\n"
		"      --data-host ADDR     address other nodes reach this one at (default:\n"
		"                           the local address of the master connection)\n"
		"      --client-master ADDR master address local clients send their metadata\n"
		"                           requests to directly (default: the --master\n"
		"                           address; none: through this daemon)\n"
		"      --heartbeat-interval-ms MS  heartbeat period to the master (default 1000)\n"
		"      --data-timeout-ms MS drop a peer that leaves a transfer unanswered this\n"
		"                           long (default 10000)\n"
		"      --max-client-buffers SIZE  shared buffer space one client may hold\n"
		"                           (default 4G)\n"
		"      --max-client-buffer-count N  shared buffers one client may hold\n"
		"                           (default 64)\n"
		"      --max-clients N      connections on the client socket at once\n"
		"                           (default 4096)\n"
		"      --max-client-inflight N  requests one client may have relayed to the\n"
		"                           master and not answered yet (default 65536)\n"
		"      --max-frame SIZE     largest request body accepted (default 64M)\n"
		"      --max-connections N  data port connections accepted at once\n"
		"                           (default 4096; 0: no limit)\n"
		"      --max-connections-per-peer N  of them from one address (default\n"
		"                           1024; 0: no limit)\n"
		"      --max-queued-answers SIZE  stop reading a connection while more than\n"
		"                           SIZE of its answers wait unread (default 64M;\n"
		"                           0: no limit)\n"
		"      --frame-timeout-ms MS  close a connection that began a frame and sent\n"
		"                           nothing more for MS (default 30000; 0: never)\n"
		"      --idle-timeout-ms MS close a connection that sent no request within\n"
		"                           MS of connecting (default 60000; 0: never)\n"
		"      --log-level LEVEL    error, warning, notice, info (default),\n"
		"                           debug\n"
		"      --busy-poll-us US    poll for requests up to US microseconds before\n"
		"                           sleeping, while they come closer than that\n"
		"                           (default 0: never)\n"
		"      --metrics-port PORT  serve Prometheus metrics over HTTP on PORT of\n"
		"                           the --data-listen address (default: none;\n"
		"                           0 picks a free one)\n"
		"      --parent-fd FD       shut down as on SIGTERM when FD, the read end\n"
		"                           of a pipe, reaches its end: when the process\n"
		"                           that started this daemon, holding the write\n"
		"                           end, exits (a private daemon's lifetime)\n"
		"  -h, --help               show this help and exit\n"
		"  -V, --version            show the version and exit\n",
		mcs_conf_dir());
	fprintf(f,
		"\nConfiguration file: a line NAME = VALUE sets option --NAME (see\n"
		"mcstore.conf(5)); options on the command line win.\n"
		"      --config FILE        read FILE instead of %s/mcstored.conf\n"
		"      --no-config          read no configuration file\n",
		mcs_conf_dir());
}

/* Unmount, then exit; a second request exits at once. */
static void node_shut_down(struct node *n, const char *why)
{
	if (n->master.stopping) {
		log_info("%s again, exiting now", why);
		mcs_loop_exit(n->loop, 0);
		return;
	}
	log_info("%s, unmounting and shutting down", why);
	mcs_notify_stopping();
	node_clients_stop(&n->clients);
	node_master_stop(&n->master);
}

static void on_signal(struct mcs_loop *l, int signo, void *userdata)
{
	node_shut_down(userdata, signo == SIGINT ? "received SIGINT" : "received SIGTERM");
}

static void on_parent_gone(struct mcs_loop *l, void *userdata)
{
	node_shut_down(userdata, "the process that started this daemon is gone (--parent-fd)");
}

/* The segment is mounted: the first time, the client socket opens, so a
 * socket that accepts means a node that serves. */
static void on_mounted(void *arg)
{
	struct node *n = arg;
	if (!n->clients.listening) {
		if (node_clients_listen(&n->clients) < 0) {
			mcs_loop_exit(n->loop, 1);
			return;
		}
		log_info("serving clients on %s", n->o.socket_path);
		mcs_notify_ready(NULL);
	}
	mcs_notify_status("segment %s mounted with master %s:%u, serving %s", n->o.segment_name, n->master.host,
			  n->master.port, n->o.socket_path);
}

static void on_master_lost(void *arg)
{
	struct node *n = arg;
	node_clients_master_lost(&n->clients);
}

static void on_watchdog(struct mcs_timer *t, void *userdata)
{
	mcs_notify_watchdog();
}

/* A new segment, empty. 0, or 1 after logging why not. */
static int make_segment(struct node *n)
{
	uint64_t hp = mcs_hugepage_size();
	if (n->o.seg_mode != MCS_SEG_NORMAL && hp && n->o.segment_size % hp) {
		char a[32];
		log_error("--segment-size %llu is not a multiple of the huge page size (%s); use a multiple, or "
			  "--hugepages off",
			  (unsigned long long)n->o.segment_size, mcs_fmt_size(hp, a, sizeof(a)));
		return 1;
	}
	bool fell_back = false;
	int r = mcs_segment_create(n->o.segment_name, n->o.segment_size, n->o.seg_mode, n->o.populate, &n->seg, &fell_back);
	if (r < 0) {
		char a[32];
		if (n->o.seg_mode == MCS_SEG_HUGE_ONLY && hp)
			log_error_errno(r,
					"cannot allocate a %s segment in huge pages: %m; reserve %llu pages of %llu KiB "
					"(vm.nr_hugepages) or use --hugepages auto",
					mcs_fmt_size(n->o.segment_size, a, sizeof(a)),
					(unsigned long long)(n->o.segment_size / hp), (unsigned long long)(hp >> 10));
		else
			log_error_errno(r, "cannot allocate a %s segment: %m", mcs_fmt_size(n->o.segment_size, a, sizeof(a)));
		return 1;
	}
	if (fell_back)
		log_warning("not enough huge pages for a %llu MiB segment (%llu pages of %llu KiB needed); "
			    "using normal pages",
			    (unsigned long long)(n->o.segment_size >> 20),
			    hp ? (unsigned long long)(n->o.segment_size / hp) : 0ull, (unsigned long long)(hp >> 10));
	return 0;
}

static void on_reported(void *arg)
{
	struct node *n = arg;
	node_clients_retake_holds(&n->clients);
}

static void on_table_moved(void *arg)
{
	struct node *n = arg;
	node_fds_store(NODE_FD_REPLICAS, mcs_rtab_fd(n->rtab), "table of the segment's objects");
}

/* The segment the previous start of the daemon left in the service
 * manager's fd store, when it is one of --segment-size: taken (fd
 * closed on failure). 0, or a negative errno (logged). */
static int take_segment(struct node *n, int fd)
{
	struct stat st;
	char a[32], b[32];
	if (fstat(fd, &st) < 0 || (uint64_t)st.st_size != n->o.segment_size) {
		log_warning("the segment in the service manager's fd store is of %s, not --segment-size %s: its "
			    "objects are forgotten, a new segment is made",
			    mcs_fmt_size((uint64_t)st.st_size, a, sizeof(a)),
			    mcs_fmt_size(n->o.segment_size, b, sizeof(b)));
		close(fd);
		return -EINVAL;
	}
	int r = mcs_segment_attach(fd, n->o.segment_size, &n->seg);
	if (r < 0) {
		log_warning_errno(r, "cannot map the segment in the service manager's fd store: %m; a new segment "
				  "is made");
		close(fd);
	}
	return r;
}

/* The segment and its table of parts: those of the fd store when the
 * previous start left them there and they are whole, else new ones; both
 * go (back) to the store. 0, or 1 after logging why the daemon cannot
 * start. */
static int node_memory(struct node *n)
{
	struct node_fds fds;
	node_fds_take(&fds);
	bool kept = fds.segment >= 0 && take_segment(n, fds.segment) == 0;
	int r;
	if (kept && fds.replicas >= 0) {
		if ((r = mcs_rtab_open(fds.replicas, 0, &n->rtab)) < 0)
			log_warning("the table of the segment's objects in the service manager's fd store is refused "
				    "(%s): its objects are forgotten, the segment starts empty",
				    r == -EBADMSG ? "a record or its header fails its checks" : strerrordesc_np(-r));
	} else if (fds.replicas >= 0) {
		close(fds.replicas);
	}
	n->o.segment_kept = kept;
	if (kept) {
		char a[32];
		log_notice("segment \"%s\" (%s, %s pages) taken back from the service manager's fd store, with %llu "
			   "parts of objects in its table", n->o.segment_name, mcs_fmt_size(n->seg.size, a, sizeof(a)),
			   n->seg.hugepages ? "huge" : "normal",
			   n->rtab ? (unsigned long long)mcs_rtab_count(n->rtab) : 0ull);
	} else if ((r = make_segment(n)) != 0) {
		return r;
	}
	if (!n->rtab && (r = mcs_rtab_new(n->o.incarnation, &n->rtab)) < 0) {
		log_error_errno(r, "cannot make the table of the segment's objects: %m");
		return 1;
	}
	if (node_fds_store(NODE_FD_SEGMENT, n->seg.fd, "segment") > 0)
		node_fds_store(NODE_FD_REPLICAS, mcs_rtab_fd(n->rtab), "table of the segment's objects");
	return 0;
}

/* A segment the machine cannot hold is refused at start, not found out
 * when its pages are faulted in (with --populate: at once, filling memory
 * until the OOM killer comes). */
static int check_memory(const struct node_opts *o)
{
	struct mcs_mem_info mi;
	char a[32], b[32];
	if (mcs_mem_info(&mi) < 0)
		return 0; /* nothing known: nothing to refuse */
	uint64_t limit = mi.total;
	const char *what = "this machine's memory";
	if (mi.cgroup_max && mi.cgroup_max < limit) {
		limit = mi.cgroup_max;
		what = "this service's memory limit (cgroup memory.max)";
	}
	if (limit && o->segment_size > limit) {
		log_error("--segment-size %s is more than %s, %s", mcs_fmt_size(o->segment_size, a, sizeof(a)), what,
			  mcs_fmt_size(limit, b, sizeof(b)));
		return -ENOMEM;
	}
	if (o->seg_mode == MCS_SEG_HUGE_ONLY && mi.hugepage_size &&
	    o->segment_size > mi.hugepages_free * mi.hugepage_size) {
		log_error("--segment-size %s needs %llu huge pages of %llu KiB with --hugepages on; %llu are free "
			  "(vm.nr_hugepages)",
			  mcs_fmt_size(o->segment_size, a, sizeof(a)),
			  (unsigned long long)(o->segment_size / mi.hugepage_size),
			  (unsigned long long)(mi.hugepage_size >> 10), (unsigned long long)mi.hugepages_free);
		return -ENOMEM;
	}
	if (o->populate && o->seg_mode != MCS_SEG_HUGE_ONLY && mi.available &&
	    o->segment_size > mi.available + mi.hugepages_free * mi.hugepage_size) {
		log_error("--segment-size %s with --populate is more than the memory available now, %s",
			  mcs_fmt_size(o->segment_size, a, sizeof(a)), mcs_fmt_size(mi.available, b, sizeof(b)));
		return -ENOMEM;
	}
	return 0;
}

enum {
	OPT_SEGNAME = 256,
	OPT_HUGE,
	OPT_POPULATE,
	OPT_SOCKMODE,
	OPT_DATAPORT,
	OPT_DATALISTEN,
	OPT_DATAHOST,
	OPT_HEARTBEAT,
	OPT_DATATIMEOUT,
	OPT_MAXCLIENTBUF,
	OPT_MAXCLIENTBUFCOUNT,
	OPT_MAXFRAME,
	OPT_LOGLEVEL,
	OPT_CONFIG,
	OPT_NOCONFIG,
	OPT_METRICSPORT,
	OPT_BUSYPOLL,
	OPT_CLIENTMASTER,
	OPT_PARENTFD,
	OPT_KEYFILE,
	OPT_PROTECTED,
	OPT_ALLOWUSERS,
	OPT_ALLOWGROUPS,
	OPT_ROUSERS,
	OPT_ROGROUPS,
	OPT_MAXCLIENTS,
	OPT_MAXINFLIGHT,
	OPT_FRAMETIMEOUT,
	OPT_IDLETIMEOUT,
	OPT_MAXQUEUED,
	OPT_MAXCONNS,
	OPT_MAXCONNSPEER,
};

/* A list of user or group names (or numbers), comma-separated, into ids. */
static int opt_ids(const struct mcs_opt_ctx *ctx, const char *arg, bool groups, uint32_t *ids, unsigned *n)
{
	char buf[1024], *save = NULL;
	if (strlen(arg) >= sizeof(buf))
		return mcs_opt_invalid(ctx, "too long");
	strcpy(buf, arg);
	*n = 0;
	for (char *t = strtok_r(buf, ", ", &save); t; t = strtok_r(NULL, ", ", &save)) {
		uint64_t v;
		if (*n == NODE_MAX_ALLOW)
			return mcs_opt_invalid(ctx, "at most 64 names");
		if (mcs_parse_u64(t, UINT32_MAX - 1, &v) == 0) {
			ids[(*n)++] = (uint32_t)v;
			continue;
		}
		struct passwd *pw = groups ? NULL : getpwnam(t);
		struct group *gr = groups ? getgrnam(t) : NULL;
		if (!pw && !gr)
			return mcs_opt_invalid(ctx, groups ? "a group that does not exist" : "a user that does not exist");
		ids[(*n)++] = groups ? (uint32_t)gr->gr_gid : (uint32_t)pw->pw_uid;
	}
	return 0;
}

/* One option, from the command line or the configuration file. */
static int set_option(const struct mcs_opt_ctx *ctx, int c, const char *arg, void *userdata)
{
	struct node *n = userdata;
	int r;

	switch (c) {
	case 'm': {
		/* HOST:PORT, or etcd://HOST:PORT;...: the leader of HA
		 * masters, from etcd */
		char why[512];
		if (!mcs_master_addr_valid(arg, why, sizeof(why)))
			return mcs_opt_invalid(ctx, why);
		n->o.master = arg;
		break;
	}
	case 'n':
		n->o.name = arg;
		break;
	case OPT_SEGNAME:
		n->o.segment_name = arg;
		break;
	case 's':
		return mcs_opt_size(ctx, arg, 1u << 20, UINT64_MAX, &n->o.segment_size);
	case OPT_HUGE:
		/* in the order of enum mcs_seg_mode */
		if ((r = mcs_opt_choice(ctx, arg, (const char *const[]){ "auto", "on", "off", NULL })) < 0)
			return r;
		n->o.seg_mode = (enum mcs_seg_mode)r;
		break;
	case OPT_POPULATE: {
		int b = arg ? mcs_conf_parse_bool(arg) : 1;
		if (b < 0)
			return mcs_opt_invalid(ctx, "yes or no");
		n->o.populate = b;
		break;
	}
	case 'S':
		n->o.socket_path = arg;
		break;
	case OPT_SOCKMODE: {
		char *end;
		unsigned long v = strtoul(arg, &end, 8);
		if (*end || end == arg || v > 0777)
			return mcs_opt_invalid(ctx, "octal, e.g. 0660");
		n->o.socket_mode = (unsigned)v;
		break;
	}
	case OPT_DATAPORT:
		return mcs_opt_port(ctx, arg, &n->o.data_port);
	case OPT_DATATIMEOUT:
		return mcs_opt_u64(ctx, arg, 10, 3600 * 1000, &n->o.data_timeout_ms);
	case OPT_MAXCLIENTBUF:
		return mcs_opt_size(ctx, arg, 4096, UINT64_MAX, &n->o.max_client_buffers);
	case OPT_MAXCLIENTBUFCOUNT:
		return mcs_opt_u64(ctx, arg, 1, 65536, &n->o.max_client_buffer_count);
	case OPT_MAXCONNS:
		return mcs_opt_u64(ctx, arg, 0, 1u << 24, &n->o.max_conns);
	case OPT_MAXCONNSPEER:
		return mcs_opt_u64(ctx, arg, 0, 1u << 24, &n->o.max_conns_per_peer);
	case OPT_MAXQUEUED:
		return mcs_opt_size(ctx, arg, 0, UINT64_MAX, &n->o.max_queued);
	case OPT_FRAMETIMEOUT:
		return mcs_opt_u64(ctx, arg, 0, 24ull * 3600 * 1000, &n->o.frame_timeout_ms);
	case OPT_IDLETIMEOUT:
		return mcs_opt_u64(ctx, arg, 0, 24ull * 3600 * 1000, &n->o.idle_timeout_ms);
	case OPT_DATALISTEN:
		n->o.data_listen = arg;
		break;
	case OPT_DATAHOST:
		n->o.data_host = arg;
		break;
	case OPT_CLIENTMASTER:
		if (strcmp(arg, "none") != 0 && (r = mcs_opt_hostport(ctx, arg)) < 0)
			return r;
		n->o.client_master = arg;
		break;
	case OPT_HEARTBEAT:
		return mcs_opt_u64(ctx, arg, 10, 3600 * 1000, &n->o.heartbeat_ms);
	case OPT_MAXFRAME: {
		uint64_t v;
		if ((r = mcs_opt_size(ctx, arg, 65536, 1u << 30, &v)) < 0)
			return r;
		n->o.max_frame = (uint32_t)v;
		break;
	}
	case OPT_BUSYPOLL:
		return mcs_opt_u64(ctx, arg, 0, 1000000, &n->o.busy_poll_us);
	case OPT_METRICSPORT: {
		uint16_t v;
		if ((r = mcs_opt_port(ctx, arg, &v)) < 0)
			return r;
		n->o.metrics_port = v;
		break;
	}
	case OPT_PARENTFD: {
		uint64_t v;
		if ((r = mcs_opt_u64(ctx, arg, 0, INT32_MAX, &v)) < 0)
			return r;
		if (fcntl((int)v, F_GETFD) < 0)
			return mcs_opt_invalid(ctx, "an open file descriptor");
		n->o.parent_fd = (int)v;
		break;
	}
	case OPT_KEYFILE:
		n->o.key_file = arg;
		break;
	case OPT_ALLOWUSERS:
		return opt_ids(ctx, arg, false, n->o.allow_uids, &n->o.n_allow_uids);
	case OPT_ALLOWGROUPS:
		return opt_ids(ctx, arg, true, n->o.allow_gids, &n->o.n_allow_gids);
	case OPT_MAXCLIENTS:
		return mcs_opt_u64(ctx, arg, 1, 1u << 20, &n->o.max_clients);
	case OPT_MAXINFLIGHT:
		return mcs_opt_u64(ctx, arg, 1, 1u << 24, &n->o.max_client_inflight);
	case OPT_ROUSERS:
		return opt_ids(ctx, arg, false, n->o.ro_uids, &n->o.n_ro_uids);
	case OPT_ROGROUPS:
		return opt_ids(ctx, arg, true, n->o.ro_gids, &n->o.n_ro_gids);
	case OPT_PROTECTED:
		if ((r = mcs_opt_choice(ctx, arg, (const char *const[]){ "no", "yes", NULL })) < 0)
			return r;
		n->o.protected_mode = r == 1;
		break;
	default: /* --log-level, --help, --version */
		return mcs_opt_common(ctx, arg);
	}
	return 0;
}


int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "master", required_argument, NULL, 'm' },
		{ "name", required_argument, NULL, 'n' },
		{ "segment-name", required_argument, NULL, OPT_SEGNAME },
		{ "segment-size", required_argument, NULL, 's' },
		{ "hugepages", required_argument, NULL, OPT_HUGE },
		{ "populate", optional_argument, NULL, OPT_POPULATE },
		{ "socket", required_argument, NULL, 'S' },
		{ "socket-mode", required_argument, NULL, OPT_SOCKMODE },
		{ "data-port", required_argument, NULL, OPT_DATAPORT },
		{ "data-listen", required_argument, NULL, OPT_DATALISTEN },
		{ "data-host", required_argument, NULL, OPT_DATAHOST },
		{ "client-master", required_argument, NULL, OPT_CLIENTMASTER },
		{ "heartbeat-interval-ms", required_argument, NULL, OPT_HEARTBEAT },
		{ "data-timeout-ms", required_argument, NULL, OPT_DATATIMEOUT },
		{ "max-client-buffers", required_argument, NULL, OPT_MAXCLIENTBUF },
		{ "max-client-buffer-count", required_argument, NULL, OPT_MAXCLIENTBUFCOUNT },
		{ "max-frame", required_argument, NULL, OPT_MAXFRAME },
		{ "max-queued-answers", required_argument, NULL, OPT_MAXQUEUED },
		{ "max-connections", required_argument, NULL, OPT_MAXCONNS },
		{ "max-connections-per-peer", required_argument, NULL, OPT_MAXCONNSPEER },
		{ "frame-timeout-ms", required_argument, NULL, OPT_FRAMETIMEOUT },
		{ "idle-timeout-ms", required_argument, NULL, OPT_IDLETIMEOUT },
		{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
		{ "metrics-port", required_argument, NULL, OPT_METRICSPORT },
		{ "busy-poll-us", required_argument, NULL, OPT_BUSYPOLL },
		{ "parent-fd", required_argument, NULL, OPT_PARENTFD },
		{ "key-file", required_argument, NULL, OPT_KEYFILE },
		{ "protected-mode", required_argument, NULL, OPT_PROTECTED },
		{ "allow-users", required_argument, NULL, OPT_ALLOWUSERS },
		{ "allow-groups", required_argument, NULL, OPT_ALLOWGROUPS },
		{ "read-only-users", required_argument, NULL, OPT_ROUSERS },
		{ "max-clients", required_argument, NULL, OPT_MAXCLIENTS },
		{ "max-client-inflight", required_argument, NULL, OPT_MAXINFLIGHT },
		{ "read-only-groups", required_argument, NULL, OPT_ROGROUPS },
		{ "config", required_argument, NULL, OPT_CONFIG },
		{ "no-config", no_argument, NULL, OPT_NOCONFIG },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct node n = { 0 };
	char hostname[256] = "localhost", segname[MCS_NAME_MAX + 1];
	int r;

	mcs_log_init("mcstored", MCS_LOG_INFO);
	gethostname(hostname, sizeof(hostname) - 1);
	n.o.master = "127.0.0.1:50051";
	n.o.name = hostname;
	n.o.segment_size = 1ull << 30;
	n.o.seg_mode = MCS_SEG_HUGE_OR_NORMAL;
	n.o.socket_path = getenv("MCSTORE_SOCKET") && *getenv("MCSTORE_SOCKET") ? getenv("MCSTORE_SOCKET")
										   : MCS_DEFAULT_SOCKET;
	n.o.socket_mode = 0660;
	n.o.data_port = 50052;
	n.o.data_listen = NULL; /* by the key, below */
	n.o.protected_mode = true;
	n.o.heartbeat_ms = 1000;
	n.o.max_frame = MCS_DEFAULT_MAX_BODY;
	n.o.data_timeout_ms = 10000;
	n.o.max_client_buffers = 4ull << 30;
	n.o.max_client_buffer_count = 64;
	n.o.max_clients = 4096;
	n.o.max_client_inflight = 65536;
	n.o.max_queued = 64ull << 20;
	n.o.max_conns = 4096;
	n.o.max_conns_per_peer = 1024;
	n.o.frame_timeout_ms = 30000;
	n.o.idle_timeout_ms = 60000;
	n.o.metrics_port = -1;
	n.o.busy_poll_us = 0;
	n.o.parent_fd = -1;

	/* options: the command line, over the configuration file */
	static const int early[] = { 'h', 'V', 0 };
	const struct mcs_opt_spec spec = {
		.prog = "mcstored",
		.shortopts = "m:n:s:S:hV",
		.longopts = longopts,
		.default_config = "mcstored.conf",
		.opt_config = OPT_CONFIG,
		.opt_no_config = OPT_NOCONFIG,
		.early = early,
		.not_keys = (const int[]){ OPT_PARENTFD, 0 },
		.set = set_option,
		.usage = usage,
		.userdata = &n,
	};
	_cleanup_(mcs_conf_freep) struct mcs_conf *conf = NULL;
	r = mcs_opt_parse(&spec, argc, argv, &conf);
	if (r != 0)
		return r > 0 ? 0 : 2;
	if (!n.o.segment_name) {
		if ((size_t)snprintf(segname, sizeof(segname), "%s-0", n.o.name) >= sizeof(segname)) {
			fprintf(stderr, "mcstored: --name is too long\n");
			return 2;
		}
		n.o.segment_name = segname;
	}
	if (!*n.o.name || strlen(n.o.name) > MCS_NAME_MAX || strlen(n.o.segment_name) > MCS_NAME_MAX) {
		fprintf(stderr, "mcstored: names must be 1..%d bytes\n", MCS_NAME_MAX);
		return 2;
	}

	if ((r = check_memory(&n.o)) < 0)
		return 2;
	if (mcs_keys_setup(n.o.key_file, mcs_conf_dir(), &n.o.keys) < 0)
		return 1;
	if (!n.o.data_listen)
		n.o.data_listen = n.o.keys.on ? "0.0.0.0" : "127.0.0.1";
	if ((n.o.n_ro_uids || n.o.n_ro_gids) && !n.o.keys.on) {
		log_error("--read-only-users and --read-only-groups need a cluster key (key-file): without one the "
			  "data port cannot tell a reader from a writer");
		return 1;
	}
	/* without a key every local user reaches the master and the data
	 * ports on loopback: the lists would keep out nobody (found in review) */
	if ((n.o.n_allow_uids || n.o.n_allow_gids) && !n.o.keys.on) {
		log_error("--allow-users and --allow-groups need a cluster key (key-file): without one any local user "
			  "reaches the master and the data ports on loopback, whatever the socket allows");
		return 1;
	}
	/* a new segment: what the master and the clients tell apart from the
	 * one this node had before a restart */
	uint8_t rnd[MCS_NONCE_LEN];
	mcs_auth_nonce(rnd);
	memcpy(&n.o.incarnation, rnd, sizeof(n.o.incarnation));
	n.o.incarnation |= 1;
	if ((r = node_memory(&n)) != 0)
		return r;

	struct mcs_loop_opts lo = {
		.size = sizeof(lo), .max_body = n.o.max_frame, .frame_timeout_ms = n.o.frame_timeout_ms,
		.busy_poll_us = (unsigned)n.o.busy_poll_us,
		.idle_timeout_ms = n.o.idle_timeout_ms, .max_queued_bytes = n.o.max_queued,
		.max_conns = (unsigned)n.o.max_conns, .max_conns_per_peer = (unsigned)n.o.max_conns_per_peer, .log = mcs_log,
	};
	if ((r = mcs_loop_new(&lo, &n.loop)) < 0) {
		log_error_errno(r, "cannot set up io_uring: %m");
		mcs_segment_close(&n.seg);
		return 1;
	}
	uint64_t wd = mcs_notify_watchdog_usec() / 4000; /* ms: ping every quarter interval */
	if (wd && (r = mcs_loop_add_timer(n.loop, wd, wd, on_watchdog, NULL, NULL)) < 0)
		log_warning_errno(r, "cannot arm the watchdog timer: %m, ignoring");
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	r = mcs_loop_add_signals(n.loop, &ss, on_signal, &n);
	if (r < 0)
		log_error_errno(r, "cannot watch signals: %m");
	if (r == 0 && n.o.parent_fd >= 0 && (r = mcs_loop_watch_end(n.loop, n.o.parent_fd, on_parent_gone, &n)) < 0)
		log_error_errno(r, "cannot watch --parent-fd %d: %m", n.o.parent_fd);
	/* from the bottom up: the data port, the clients (not listening
	 * yet), the metrics page, then the master link, whose mount opens the
	 * client socket */
	node_clients_init(&n.clients, n.loop, &n.o, &n.seg, &n.data, &n.master);
	if (r == 0)
		r = node_data_start(&n.data, n.loop, &n.o, &n.seg);
	if (r == 0)
		r = node_metrics_start(&n.metrics, n.loop, &n.o, &n.master, &n.clients, &n.data);
	const struct node_master_events ev = { .mounted = on_mounted, .lost = on_master_lost,
					       .table_moved = on_table_moved, .reported = on_reported, .arg = &n };
	if (r == 0)
		r = node_master_start(&n.master, n.loop, &n.o, &n.seg, n.rtab, n.data.port, &ev);
	if (r == 0) {
		log_info("mcstored %s: node \"%s\", segment \"%s\", master %s, data port %u, %s", PACKAGE_VERSION,
			 n.o.name, n.o.segment_name, n.o.master, n.data.port,
			 n.o.keys.on ? "links authenticated with the cluster key" : "no cluster key: links not authenticated");
		mcs_notify_status("mounting segment %s with master %s", n.o.segment_name, n.o.master);
		r = mcs_loop_run(n.loop);
		if (r < 0)
			log_error_errno(r, "event loop failed: %m");
	}
	node_master_detach(&n.master); /* no reconnect while the loop closes everything */
	node_metrics_stop(&n.metrics);
	n.loop = mcs_loop_free(n.loop);
	node_clients_free(&n.clients);
	node_data_free(&n.data);
	node_master_free(&n.master);
	n.rtab = mcs_rtab_free(n.rtab);
	mcs_segment_close(&n.seg);
	mcs_keys_wipe(&n.o.keys);
	log_info("stopped");
	return r == 0 ? 0 : 1;
}
