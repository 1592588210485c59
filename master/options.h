/* SPDX-License-Identifier: MIT */
/* The master's options (options.c): the command line over master.conf. */
#ifndef MCS_MASTER_OPTIONS_H
#define MCS_MASTER_OPTIONS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/conf.h"
#include "master/store.h"

struct master_config {
	const char *listen_addr;
	uint16_t port;
	uint64_t max_frame;
	uint64_t busy_poll_us;
	uint64_t node_timeout_ms;
	uint64_t max_holds;         /* zero-copy holds one connection may have */
	uint64_t max_conns;         /* accepted at once; 0: no limit */
	uint64_t max_conns_per_peer; /* of them from one address; 0: no limit */
	uint64_t max_queued;        /* answer bytes unread before a conn is not read; 0: none */
	uint64_t max_queued_total;  /* the same for all connections together; 0: none */
	uint64_t frame_timeout_ms;  /* a frame begun and not finished; 0: none */
	uint64_t idle_timeout_ms;   /* connected and no request yet; 0: none */
	int32_t metrics_port;       /* -1: none */
	const char *key_file;       /* the cluster key; NULL: CONFDIR/cluster.key if there, "": none */
	bool protected_mode;        /* without a key, listen on loopback only */
	uint64_t token_ttl_ms;
	bool enable_ha;             /* elect a leader through etcd (master/ha.h) */
	const char *etcd_endpoints; /* "HOST:PORT;HOST:PORT" */
	const char *rpc_address;    /* HOST:PORT the nodes dial; NULL: the listen address and port */
	uint64_t etcd_lease_ttl_s;
	struct mcs_store_opts store;
};

/* The defaults, then the configuration file, then the command line, into
 * *ret. 0 to go on, 1 to exit with success (--help, --version), -EINVAL
 * to exit with status 2 (why has been printed). Strings in *ret point into
 * argv or into *ret_conf, to be freed once they are no longer used. */
int master_options(int argc, char **argv, struct master_config *ret, struct mcs_conf **ret_conf);

#endif
