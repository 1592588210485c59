/* SPDX-License-Identifier: MIT */
/*
 * What the commands of mcstorectl share: exit statuses, option parsing
 * with the global options allowed anywhere, the connection to the node
 * daemon, and error messages. The commands live by job: objects.c (put,
 * get, exists, rm, rm-all), cluster.c (stat, locate, keys, health),
 * leader.c (which master leads), top.c (eBPF telemetry).
 */
#ifndef MCS_CTL_H
#define MCS_CTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

struct mcs_client;

enum { EXIT_OK = 0, EXIT_NOTFOUND = 1, EXIT_USAGE = 2, EXIT_ERROR = 3 };

/* One command: its name, its arguments for the usage line, a short help
 * and its own options (the global ones are added by ctl_getopt). */
struct ctl_cmd {
	const char *name;
	const char *args;
	const char *help;
	const char *shortopts;          /* without the global ones */
	const struct option *longopts;  /* NULL-terminated; may be NULL */
	int (*run)(const struct ctl_cmd *cmd, int argc, char **argv);
};

/* getopt_long over the command's options and the global ones (-S PATH,
 * --socket PATH, -h, --help), which may come anywhere on the line. Returns
 * the next option of the command, -1 at the end of the options (optind is
 * the first argument), 'h' when help was printed (exit 0), or '?' after a
 * message (exit EXIT_USAGE). Start each command with optind = 0. */
int ctl_getopt(const struct ctl_cmd *cmd, int argc, char **argv);
/* "mcstorectl: CMD ...: message" on stderr; returns EXIT_USAGE. */
int ctl_usage_error(const struct ctl_cmd *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Print the command's usage and help to f. */
void ctl_cmd_help(const struct ctl_cmd *cmd, FILE *f);

/* Connect to the node daemon (--socket, $MCSTORE_SOCKET or the default),
 * explaining a failure on stderr: 0, or EXIT_ERROR. */
int ctl_open(struct mcs_client **ret);
/* The socket path ctl_open uses. */
const char *ctl_socket_path(void);
/* Explain a failed call on KEY (NULL: none) and return the exit status
 * for status r: EXIT_NOTFOUND for no such key, else EXIT_ERROR. */
int ctl_fail(const char *what, const char *key, int r);

/* Sizes for people ("1.5 GiB") unless --bytes was given. */
const char *ctl_size(unsigned long long v, bool bytes, char *buf, size_t len);

extern const struct ctl_cmd ctl_put, ctl_get, ctl_exists, ctl_rm, ctl_rm_all;
extern const struct ctl_cmd ctl_stat, ctl_locate, ctl_keys, ctl_health, ctl_leader, ctl_keygen;

#endif
