/* SPDX-License-Identifier: MIT */
/*
 * mcstorectl keygen: a new cluster key (auth/auth.h), the secret every
 * master and node of one cluster is given with key-file. Written to a new
 * file, readable by its owner (and with --group, by the file's group: the
 * mcstore service's), never over an existing one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/auth.h"
#include "ctl/ctl.h"

static const struct option keygen_opts[] = { { "group", no_argument, NULL, 'g' }, { 0 } };

static int keygen_run(const struct ctl_cmd *cmd, int argc, char **argv)
{
	bool group = false;
	int c;
	while ((c = ctl_getopt(cmd, argc, argv)) != -1) {
		if (c == 'h')
			return EXIT_OK;
		if (c == 'g')
			group = true;
		else
			return EXIT_USAGE;
	}
	if (argc - optind != 1)
		return ctl_usage_error(cmd, "expected one FILE");
	const char *path = argv[optind];
	char line[128];
	if (mcs_key_generate(line, sizeof(line)) < 0) {
		fprintf(stderr, "mcstorectl: keygen: cannot make a key (libsodium)\n");
		return EXIT_ERROR;
	}
	mode_t mode = group ? 0640 : 0600;
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
	if (fd < 0) {
		fprintf(stderr, "mcstorectl: keygen: cannot create %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (a key is never overwritten: remove it first if you mean to)" : "");
		return EXIT_ERROR;
	}
	size_t n = strlen(line);
	int r = fchmod(fd, mode) < 0 || write(fd, line, n) != (ssize_t)n || fsync(fd) < 0 ? -errno : 0;
	memset(line, 0, sizeof(line));
	if (close(fd) < 0 && r == 0)
		r = -errno;
	if (r < 0) {
		fprintf(stderr, "mcstorectl: keygen: cannot write %s: %s\n", path, strerror(-r));
		unlink(path);
		return EXIT_ERROR;
	}
	printf("wrote a new cluster key to %s (mode %04o); give every master and node of the cluster this "
	       "file as key-file\n",
	       path, (unsigned)mode);
	return EXIT_OK;
}

const struct ctl_cmd ctl_keygen = {
	"keygen", "[--group] FILE",
	"make a new cluster key in FILE (mode 0600, with --group 0640); it is never overwritten",
	"g", keygen_opts, keygen_run,
};
