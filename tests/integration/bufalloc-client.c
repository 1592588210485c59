/* SPDX-License-Identifier: MIT */
/*
 * A test client for the shared-buffer bounds of mcstored (t-bounds.sh):
 *
 *   bufalloc-client SOCKET SIZE...
 *
 * asks for one mcs_buffer_alloc() of each SIZE in turn, on one handle,
 * keeping what it gets, and prints a line per request: "SIZE 0" or
 * "SIZE -ERRNO" (the errno's name, e.g. -EMSGSIZE). Exits 0 when every
 * line was printed (whatever the answers), 1 when it cannot connect.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mcstore.h"

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: bufalloc-client SOCKET SIZE...\n");
		return 2;
	}
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = argv[1], .timeout_ms = 30000 };
	struct mcs_client *c;
	int r = mcs_client_new(&o, &c);
	if (r < 0) {
		fprintf(stderr, "bufalloc-client: %s: %s\n", argv[1], mcs_strerror(r));
		return 1;
	}
	for (int i = 2; i < argc; i++) {
		size_t size = strtoull(argv[i], NULL, 0);
		void *p = NULL;
		r = mcs_buffer_alloc(c, size, &p);
		if (r == 0)
			memset(p, 0x5a, size); /* the memory is there, and ours */
		printf("%s %s%s\n", argv[i], r ? "-" : "0", r ? strerrorname_np(-r) : "");
	}
	fflush(stdout);
	mcs_client_unref(c);
	return 0;
}
