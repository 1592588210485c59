/* SPDX-License-Identifier: MIT */
/*
 * mcstorectl: the command-line client of mcstore, for operators and
 * scripts. Every command but top and leader goes through libmcstore to
 * the local node daemon; this file holds what they share (see ctl.h) and main().
 *
 * Exit status: 0 success, 1 not found (or unhealthy), 2 usage error, 3 any
 * other error.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "ctl/ctl.h"
#include "ctl/top.h"
#include "mcstore.h"

static const char *socket_path;

static int run_top(const struct ctl_cmd *cmd, int argc, char **argv) { return mcs_ctl_top(argc, argv); }

static const struct ctl_cmd ctl_top = {
	"top", "--pid PID [--json] [--once] [--interval SECONDS]",
	"live lease, heartbeat, put and get telemetry of a running daemon (eBPF, as root)",
	NULL, NULL, run_top,
};

static const struct ctl_cmd *const commands[] = {
	&ctl_put, &ctl_get, &ctl_exists, &ctl_rm, &ctl_rm_all, &ctl_locate,
	&ctl_keys, &ctl_stat, &ctl_health, &ctl_leader, &ctl_top, &ctl_keygen,
};

static void usage(FILE *f)
{
	fprintf(f, "Usage: mcstorectl [--socket PATH] COMMAND [ARG]...\n"
		   "Store, fetch and inspect objects in mcstore through the local node daemon.\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < MCS_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %s %s\n      %s\n", commands[i]->name, commands[i]->args, commands[i]->help);
	fprintf(f, "\nOptions (anywhere on the line):\n"
		   "  -S, --socket PATH      daemon socket (default $MCSTORE_SOCKET, else\n"
		   "                         " MCS_DEFAULT_SOCKET ")\n"
		   "  -h, --help             show this help (after a command: its help) and exit\n"
		   "  -V, --version          show the version and exit\n"
		   "  --                     ends the options: what follows is arguments (keys\n"
		   "                         that start with '-')\n\n"
		   "Exit status: 0 success, 1 not found (health: unhealthy), 2 usage error,\n"
		   "3 other error. See mcstorectl(1).\n");
}

void ctl_cmd_help(const struct ctl_cmd *cmd, FILE *f)
{
	fprintf(f, "Usage: mcstorectl %s %s\n%s\n\nGlobal options: -S, --socket PATH; -h, --help. See mcstorectl(1).\n",
		cmd->name, cmd->args, cmd->help);
}

int ctl_usage_error(const struct ctl_cmd *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "mcstorectl: %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'mcstorectl %s --help'.\n", cmd->name);
	return EXIT_USAGE;
}

enum { OPT_GLOBAL_SOCKET = 'S', OPT_GLOBAL_HELP = 'h' };

int ctl_getopt(const struct ctl_cmd *cmd, int argc, char **argv)
{
	/* the command's options followed by the global ones */
	static const struct ctl_cmd *built;
	static struct option merged[32];
	static char shortopts[64];
	if (built != cmd) {
		size_t n = 0;
		for (const struct option *o = cmd->longopts; o && o->name && n < MCS_ARRAY_SIZE(merged) - 3; o++)
			merged[n++] = *o;
		merged[n++] = (struct option){ "socket", required_argument, NULL, OPT_GLOBAL_SOCKET };
		merged[n++] = (struct option){ "help", no_argument, NULL, OPT_GLOBAL_HELP };
		merged[n] = (struct option){ 0 };
		snprintf(shortopts, sizeof(shortopts), ":%sS:h", cmd->shortopts ? cmd->shortopts : "");
		built = cmd;
	}
	for (;;) {
		int c = getopt_long(argc, argv, shortopts, merged, NULL);
		switch (c) {
		case OPT_GLOBAL_SOCKET:
			socket_path = optarg;
			continue;
		case OPT_GLOBAL_HELP:
			ctl_cmd_help(cmd, stdout);
			return 'h';
		case ':':
			ctl_usage_error(cmd, "option '%s' needs a value", argv[optind - 1]);
			return '?';
		case '?':
			if (optopt)
				ctl_usage_error(cmd, "unknown option '-%c'", optopt);
			else
				ctl_usage_error(cmd, "unknown option '%s'", argv[optind - 1]);
			return '?';
		default:
			return c;
		}
	}
}

const char *ctl_socket_path(void)
{
	if (socket_path)
		return socket_path;
	const char *e = getenv("MCSTORE_SOCKET");
	return e && *e ? e : MCS_DEFAULT_SOCKET;
}

/* Why a connection to the socket failed, with what an operator does
 * about it. */
static void explain_connect(const char *path, int r)
{
	fprintf(stderr, "mcstorectl: cannot connect to mcstored at %s: %s", path, mcs_strerror(r));
	struct stat st;
	if (r == -EACCES && stat(path, &st) == 0) {
		struct group *g = getgrgid(st.st_gid);
		char gid[16];
		snprintf(gid, sizeof(gid), "%u", (unsigned)st.st_gid);
		const char *name = g ? g->gr_name : gid;
		struct passwd *me = getpwuid(getuid());
		fprintf(stderr, "\nmcstorectl: the socket is for group '%s': add yourself with 'usermod -aG %s %s' "
				"(as root), then log in again",
			name, name, me ? me->pw_name : "USER");
	} else if (r == -ENOENT || r == -ECONNREFUSED) {
		fprintf(stderr, "\nmcstorectl: is mcstored running? ('systemctl status mcstored'; another "
				"socket: --socket PATH or $MCSTORE_SOCKET)");
	}
	fputc('\n', stderr);
}

int ctl_open(struct mcs_client **ret)
{
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = ctl_socket_path() };
	mcs_client_opts_env(&o);
	int r = mcs_client_new(&o, ret);
	if (r < 0) {
		explain_connect(o.socket_path, r);
		return EXIT_ERROR;
	}
	return 0;
}

int ctl_fail(const char *what, const char *key, int r)
{
	if (key)
		fprintf(stderr, "mcstorectl: %s %s: %s\n", what, key, mcs_strerror(r));
	else
		fprintf(stderr, "mcstorectl: %s: %s\n", what, mcs_strerror(r));
	return r == -ENOENT ? EXIT_NOTFOUND : EXIT_ERROR;
}

const char *ctl_size(unsigned long long v, bool bytes, char *buf, size_t len)
{
	if (bytes) {
		snprintf(buf, len, "%llu", v);
		return buf;
	}
	return mcs_fmt_size(v, buf, len);
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
	/* the options before the command; each command takes them too */
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
			fprintf(stderr, "Try 'mcstorectl --help'.\n");
			return EXIT_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	const char *name = argv[optind];
	argc -= optind;
	argv += optind;
	if (strcmp(name, "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < MCS_ARRAY_SIZE(commands); i++)
		if (strcmp(name, commands[i]->name) == 0) {
			optind = 0; /* a fresh getopt for the command */
			return commands[i]->run(commands[i], argc, argv);
		}
	fprintf(stderr, "mcstorectl: unknown command '%s'\nTry 'mcstorectl --help'.\n", name);
	return EXIT_USAGE;
}
