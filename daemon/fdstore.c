/* SPDX-License-Identifier: MIT */
/*
 * The service manager's fd store, through libsystemd: see fdstore.h.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "common/log.h"
#include "daemon/fdstore.h"

void node_fds_take(struct node_fds *ret)
{
	char **names = NULL;
	*ret = (struct node_fds){ -1, -1 };
	/* unset_environment: the clients we may start see none of it */
	int n = sd_listen_fds_with_names(1, &names);
	if (n < 0) {
		log_warning_errno(n, "cannot read the fds the service manager passed: %m; starting afresh");
		return;
	}
	for (int i = 0; i < n; i++) {
		int fd = SD_LISTEN_FDS_START + i;
		const char *name = names && names[i] ? names[i] : "";
		int *slot = strcmp(name, NODE_FD_SEGMENT) == 0 ? &ret->segment
			    : strcmp(name, NODE_FD_REPLICAS) == 0 ? &ret->replicas
								  : NULL;
		if (slot && *slot < 0) {
			*slot = fd;
		} else {
			log_warning("the service manager passed fd %d named \"%s\", which this daemon does not use; "
				    "closing it", fd, name);
			close(fd);
		}
	}
	if (names)
		for (int i = 0; names[i]; i++)
			free(names[i]);
	free(names);
}

void node_fds_remove(const char *name)
{
	char msg[64];
	snprintf(msg, sizeof(msg), "FDSTOREREMOVE=1\nFDNAME=%s", name);
	int r = sd_notify(0, msg);
	if (r < 0)
		log_debug("cannot tell the service manager to forget fd \"%s\": %s", name, strerrordesc_np(-r));
}

int node_fds_store(const char *name, int fd, const char *what)
{
	char msg[64];
	node_fds_remove(name);
	snprintf(msg, sizeof(msg), "FDSTORE=1\nFDNAME=%s", name);
	int r = sd_pid_notify_with_fds(0, 0, msg, &fd, 1);
	if (r < 0)
		log_warning_errno(r, "cannot keep the %s in the service manager's fd store: %m; a restart of the "
				  "daemon will lose it", what);
	return r;
}
