/* SPDX-License-Identifier: MIT */
/*
 * mcstored: the node daemon. It owns this node's shared-memory segment,
 * mounts it with the master, and serves local inference processes on a
 * unix socket (see node.h for how the parts divide the work).
 */
#include "config.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"
#include "common/notify.h"
#include "common/util.h"
#include "daemon/node.h"
#include "mcstore.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: mcstored [OPTION]...\n"
		"The mcstore node daemon: owns this node's shared-memory segment and\n"
		"serves local clients.\n\n"
		"  -m, --master HOST:PORT   master to mount with (default 127.0.0.1:50051)\n"
		"  -n, --name NAME          node name (default: the host name)\n"
		"      --segment-name NAME  segment name (default NAME-0)\n"
		"  -s, --segment-size SIZE  segment size, suffixes K, M, G (default 1G)\n"
		"      --hugepages MODE     auto (default: huge pages, else normal pages\n"
		"                           with a warning), on (huge pages or fail), off\n"
		"      --populate           fault the whole segment in at start\n"
		"  -S, --socket PATH        client socket (default $MCSTORE_SOCKET, else\n"
		"                           " MCS_DEFAULT_SOCKET ")\n"
		"      --socket-mode MODE   permissions of the socket, octal (default 0660)\n"
		"      --data-port PORT     TCP port serving other nodes (default 50052;\n"
		"                           0 picks a free one)\n"
		"      --data-listen ADDR   address the data port binds (default 0.0.0.0)\n"
		"      --data-host ADDR     address other nodes reach this one at (default:\n"
		"                           the local address of the master connection)\n"
		"      --heartbeat-interval-ms MS  heartbeat period to the master (default 1000)\n"
		"      --data-timeout-ms MS drop a peer that leaves a transfer unanswered this\n"
		"                           long (default 10000)\n"
		"      --max-client-buffers SIZE  shared buffer space one client may hold\n"
		"                           (default 4G)\n"
		"      --max-frame SIZE     largest request body accepted (default 64M)\n"
		"      --log-level LEVEL    err, warning, notice, info (default), debug\n"
		"  -h, --help               show this help and exit\n"
		"  -V, --version            show the version and exit\n");
}

static void on_signal(struct mcs_loop *l, int signo, void *userdata)
{
	struct node *n = userdata;
	if (n->stopping) {
		log_info("second signal, exiting now");
		mcs_loop_exit(l, 0);
		return;
	}
	log_info("received %s, unmounting and shutting down", signo == SIGINT ? "SIGINT" : "SIGTERM");
	mcs_notify_stopping();
	if (n->listening)
		unlink(n->o.socket_path);
	node_clients_close_all(n);
	node_master_stop(n);
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
	OPT_MAXFRAME,
	OPT_LOGLEVEL,
};

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "master", required_argument, NULL, 'm' },
		{ "name", required_argument, NULL, 'n' },
		{ "segment-name", required_argument, NULL, OPT_SEGNAME },
		{ "segment-size", required_argument, NULL, 's' },
		{ "hugepages", required_argument, NULL, OPT_HUGE },
		{ "populate", no_argument, NULL, OPT_POPULATE },
		{ "socket", required_argument, NULL, 'S' },
		{ "socket-mode", required_argument, NULL, OPT_SOCKMODE },
		{ "data-port", required_argument, NULL, OPT_DATAPORT },
		{ "data-listen", required_argument, NULL, OPT_DATALISTEN },
		{ "data-host", required_argument, NULL, OPT_DATAHOST },
		{ "heartbeat-interval-ms", required_argument, NULL, OPT_HEARTBEAT },
		{ "data-timeout-ms", required_argument, NULL, OPT_DATATIMEOUT },
		{ "max-client-buffers", required_argument, NULL, OPT_MAXCLIENTBUF },
		{ "max-frame", required_argument, NULL, OPT_MAXFRAME },
		{ "log-level", required_argument, NULL, OPT_LOGLEVEL },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ 0 },
	};
	struct node n = { 0 };
	char hostname[256] = "localhost", segname[MCS_NAME_MAX + 1];
	uint64_t max_frame = MCS_DEFAULT_MAX_BODY;
	int c, r;

	mcs_log_init("mcstored", MCS_LOG_INFO);
	gethostname(hostname, sizeof(hostname) - 1);
	n.o.master = "127.0.0.1:50051";
	n.o.name = hostname;
	n.o.segment_size = 1ull << 30;
	n.o.seg_mode = MCS_SEG_HUGE_OR_NORMAL;
	n.o.socket_path = getenv("MCSTORE_SOCKET") && *getenv("MCSTORE_SOCKET") ? getenv("MCSTORE_SOCKET")
										   : MCS_DEFAULT_SOCKET;
	n.o.socket_mode = 0660;
	n.o.endpoint = "";
	n.o.data_port = 50052;
	n.o.data_listen = "0.0.0.0";
	n.o.heartbeat_ms = 1000;
	n.o.data_timeout_ms = 10000;
	n.o.max_client_buffers = 4ull << 30;

	while ((c = getopt_long(argc, argv, "m:n:s:S:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 'm':
			n.o.master = optarg;
			break;
		case 'n':
			n.o.name = optarg;
			break;
		case OPT_SEGNAME:
			n.o.segment_name = optarg;
			break;
		case 's':
			if (mcs_parse_size(optarg, &n.o.segment_size) < 0 || n.o.segment_size < (1u << 20)) {
				fprintf(stderr, "mcstored: invalid --segment-size '%s' (at least 1M)\n", optarg);
				return 2;
			}
			break;
		case OPT_HUGE:
			if (strcmp(optarg, "auto") == 0)
				n.o.seg_mode = MCS_SEG_HUGE_OR_NORMAL;
			else if (strcmp(optarg, "on") == 0)
				n.o.seg_mode = MCS_SEG_HUGE_ONLY;
			else if (strcmp(optarg, "off") == 0)
				n.o.seg_mode = MCS_SEG_NORMAL;
			else {
				fprintf(stderr, "mcstored: invalid --hugepages '%s' (auto, on or off)\n", optarg);
				return 2;
			}
			break;
		case OPT_POPULATE:
			n.o.populate = true;
			break;
		case 'S':
			n.o.socket_path = optarg;
			break;
		case OPT_SOCKMODE: {
			char *end;
			unsigned long v = strtoul(optarg, &end, 8);
			if (*end || end == optarg || v > 0777) {
				fprintf(stderr, "mcstored: invalid --socket-mode '%s' (octal, e.g. 0660)\n", optarg);
				return 2;
			}
			n.o.socket_mode = (unsigned)v;
			break;
		}
		case OPT_DATAPORT: {
			uint64_t v;
			if (mcs_parse_u64(optarg, 65535, &v) < 0) {
				fprintf(stderr, "mcstored: invalid --data-port '%s'\n", optarg);
				return 2;
			}
			n.o.data_port = (uint16_t)v;
			break;
		}
		case OPT_DATATIMEOUT:
			if (mcs_parse_u64(optarg, 3600 * 1000, &n.o.data_timeout_ms) < 0 || n.o.data_timeout_ms < 10) {
				fprintf(stderr, "mcstored: invalid --data-timeout-ms '%s' (10..3600000)\n", optarg);
				return 2;
			}
			break;
		case OPT_MAXCLIENTBUF:
			if (mcs_parse_size(optarg, &n.o.max_client_buffers) < 0 || n.o.max_client_buffers < 4096) {
				fprintf(stderr, "mcstored: invalid --max-client-buffers '%s'\n", optarg);
				return 2;
			}
			break;
		case OPT_DATALISTEN:
			n.o.data_listen = optarg;
			break;
		case OPT_DATAHOST:
			n.o.data_host = optarg;
			break;
		case OPT_HEARTBEAT:
			if (mcs_parse_u64(optarg, 3600 * 1000, &n.o.heartbeat_ms) < 0 || n.o.heartbeat_ms < 10) {
				fprintf(stderr, "mcstored: invalid --heartbeat-interval-ms '%s' (10..3600000)\n", optarg);
				return 2;
			}
			break;
		case OPT_MAXFRAME:
			if (mcs_parse_size(optarg, &max_frame) < 0 || max_frame < 65536 || max_frame > (1u << 30)) {
				fprintf(stderr, "mcstored: invalid --max-frame '%s' (64K..1G)\n", optarg);
				return 2;
			}
			break;
		case OPT_LOGLEVEL:
			if ((r = mcs_log_parse_level(optarg)) < 0) {
				fprintf(stderr, "mcstored: invalid --log-level '%s'\n", optarg);
				return 2;
			}
			mcs_log_set_level(r);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("mcstored %s\n", PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "mcstored: unexpected argument '%s'\n", argv[optind]);
		usage(stderr);
		return 2;
	}
	n.o.max_frame = (uint32_t)max_frame;
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

	uint64_t hp = mcs_hugepage_size();
	if (n.o.seg_mode != MCS_SEG_NORMAL && hp && n.o.segment_size % hp) {
		char a[32];
		log_error("--segment-size %llu is not a multiple of the huge page size (%s); use a multiple, or "
			  "--hugepages off",
			  (unsigned long long)n.o.segment_size, mcs_fmt_size(hp, a, sizeof(a)));
		return 1;
	}
	bool fell_back = false;
	r = mcs_segment_create(n.o.segment_name, n.o.segment_size, n.o.seg_mode, n.o.populate, &n.seg, &fell_back);
	if (r < 0) {
		char a[32];
		if (n.o.seg_mode == MCS_SEG_HUGE_ONLY && hp)
			log_error_errno(r,
					"cannot allocate a %s segment in huge pages: %m; reserve %llu pages of %llu KiB "
					"(vm.nr_hugepages) or use --hugepages auto",
					mcs_fmt_size(n.o.segment_size, a, sizeof(a)),
					(unsigned long long)(n.o.segment_size / hp), (unsigned long long)(hp >> 10));
		else
			log_error_errno(r, "cannot allocate a %s segment: %m", mcs_fmt_size(n.o.segment_size, a, sizeof(a)));
		return 1;
	}
	if (fell_back)
		log_warning("not enough huge pages for a %llu MiB segment (%llu pages of %llu KiB needed); "
			    "using normal pages",
			    (unsigned long long)(n.o.segment_size >> 20),
			    hp ? (unsigned long long)(n.o.segment_size / hp) : 0ull, (unsigned long long)(hp >> 10));

	struct mcs_loop_opts lo = { .size = sizeof(lo), .max_body = n.o.max_frame };
	if ((r = mcs_loop_new(&lo, &n.loop)) < 0) {
		log_error_errno(r, "cannot set up io_uring: %m");
		mcs_segment_close(&n.seg);
		return 1;
	}
	mcs_buf_init(&n.scratch);
	sigset_t ss;
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	r = mcs_loop_add_signals(n.loop, &ss, on_signal, &n);
	if (r < 0)
		log_error_errno(r, "cannot watch signals: %m");
	if (r == 0)
		r = node_data_listen(&n);
	if (r == 0)
		r = node_master_start(&n);
	if (r == 0) {
		log_info("mcstored %s: node \"%s\", segment \"%s\", master %s, data port %u", PACKAGE_VERSION,
			 n.o.name, n.o.segment_name, n.o.master, n.data_port_bound);
		r = mcs_loop_run(n.loop);
		if (r < 0)
			log_error_errno(r, "event loop failed: %m");
	}
	if (n.listening && !n.stopping)
		unlink(n.o.socket_path);
	n.stopping = true; /* no reconnect while the loop closes everything */
	n.loop = mcs_loop_free(n.loop);
	node_data_free(&n);
	for (uint32_t i = 0; i < n.n_pend; i++)
		free(n.pend[i].key);
	free(n.pend);
	mcs_buf_free(&n.scratch);
	mcs_segment_close(&n.seg);
	log_info("stopped");
	return r == 0 ? 0 : 1;
}
