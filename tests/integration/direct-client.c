/* SPDX-License-Identifier: MIT */
/*
 * A long-lived client for t-direct-master.sh: it keeps one handle across a
 * master restart, to show that the direct metadata link to the master is
 * re-established (or the daemon relays) without the caller doing anything.
 *
 *   direct-client SOCKET
 *
 * Reads commands from stdin, one per line, answers one line each on stdout:
 *   put KEY SIZE      store SIZE bytes derived from KEY   -> "ok N" / "err STATUS"
 *   get KEY SIZE      read it back and compare            -> "ok" / "bad" / "err STATUS"
 *   view KEY          take a zero-copy view and keep it   -> "ok" / "err STATUS"
 *   release           release the view taken last         -> "ok"
 *   quit
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "mcstore.h"

static void fill(const char *key, uint8_t *p, size_t n)
{
	uint64_t h = 1469598103934665603ull;
	for (const char *k = key; *k; k++)
		h = (h ^ (unsigned char)*k) * 1099511628211ull;
	for (size_t i = 0; i < n; i++) {
		h ^= h << 13;
		h ^= h >> 7;
		h ^= h << 17;
		p[i] = (uint8_t)h;
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: direct-client SOCKET\n");
		return 2;
	}
	struct mcs_client_opts o = { .size = sizeof(o), .socket_path = argv[1], .timeout_ms = 5000 };
	mcs_client_opts_env(&o);
	struct mcs_client *c;
	int r = mcs_client_new(&o, &c);
	if (r < 0) {
		fprintf(stderr, "direct-client: %s\n", mcs_strerror(r));
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	struct mcs_view *view = NULL;
	char line[512], key[256];
	size_t size;
	while (fgets(line, sizeof(line), stdin)) {
		if (sscanf(line, "put %255s %zu", key, &size) == 2) {
			uint8_t *p = malloc(size ? size : 1);
			fill(key, p, size);
			unsigned reps = 0;
			r = mcs_put(c, key, p, size, NULL, &reps);
			free(p);
			if (r < 0)
				printf("err %s\n", mcs_strerror(r));
			else
				printf("ok %u\n", reps);
		} else if (sscanf(line, "get %255s %zu", key, &size) == 2) {
			uint8_t *want = malloc(size ? size : 1), *got = malloc(size + 1);
			fill(key, want, size);
			ssize_t n = mcs_get(c, key, got, size + 1);
			if (n < 0)
				printf("err %s\n", mcs_strerror((int)n));
			else
				printf("%s\n", (size_t)n == size && memcmp(got, want, size) == 0 ? "ok" : "bad");
			free(want);
			free(got);
		} else if (sscanf(line, "view %255s", key) == 1) {
			r = mcs_get_view(c, key, 0, &view);
			if (r < 0)
				printf("err %s\n", mcs_strerror(r));
			else
				printf("ok\n");
		} else if (strncmp(line, "release", 7) == 0) {
			mcs_view_release(view);
			view = NULL;
			printf("ok\n");
		} else if (strncmp(line, "quit", 4) == 0) {
			break;
		} else {
			printf("err unknown command\n");
		}
	}
	mcs_client_unref(c);
	return 0;
}
