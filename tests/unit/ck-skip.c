/* SPDX-License-Identifier: MIT */
/* Skips for Check suites (see ck-skip.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/ck-skip.h"

#define MAX_SKIPS 32

static struct {
	char name[160];
	const char *why;
} skips[MAX_SKIPS];
static size_t n_skips;

void ck_skip(const char *file, const char *tcase, const char *name, const char *why)
{
	if (n_skips == MAX_SKIPS)
		abort();
	snprintf(skips[n_skips].name, sizeof(skips[0].name), "%s:%s:%s", file, tcase, name);
	skips[n_skips].why = why;
	n_skips++;
}

/* Check's TAP (from tap_fd, where it wrote it) to dest ("-": stdout),
 * with the skips after its own results and the plan counting both. Its
 * lines are "ok N - ..." / "not ok N - ..." numbered from 1, then the plan
 * "1..N". 0, or -1 if its output is not that. */
static int pass_on(int tap_fd, const char *dest)
{
	FILE *in = fdopen(tap_fd, "r");
	FILE *out = strcmp(dest, "-") == 0 ? stdout : fopen(dest, "we");
	char line[4096];
	int n = 0, plan = -1, r = 0;

	if (!in || !out || fseek(in, 0, SEEK_SET) < 0) {
		fprintf(stderr, "ck-skip: cannot pass the TAP output on: %s\n", strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), in)) {
		if (sscanf(line, "1..%d", &plan) == 1)
			continue;
		if (strncmp(line, "ok ", 3) == 0 || strncmp(line, "not ok ", 7) == 0)
			n++;
		fputs(line, out);
	}
	fclose(in);
	if (plan != n) {
		fprintf(stderr, "ck-skip: Check's TAP had %d results for a plan of %d\n", n, plan);
		r = -1;
	}
	for (size_t i = 0; i < n_skips; i++)
		fprintf(out, "ok %d - %s # SKIP %s\n", ++n, skips[i].name, skips[i].why);
	fprintf(out, "1..%d\n", n);
	if (out != stdout)
		fclose(out);
	else
		fflush(out);
	return r;
}

int ck_run(Suite *s, enum fork_status fork_status)
{
	/* TAP: Check's into an unlinked file, passed on by pass_on() */
	const char *tap = getenv("CK_TAP_LOG_FILE_NAME");
	char tap_path[64];
	int tap_fd = -1;
	if (tap && *tap && n_skips) {
		char tmpl[] = "/tmp/ck-skip-tap.XXXXXX";
		tap_fd = mkostemp(tmpl, O_CLOEXEC);
		if (tap_fd < 0) {
			fprintf(stderr, "ck-skip: cannot create a file for the TAP output: %s\n", strerror(errno));
			return 1;
		}
		unlink(tmpl);
		snprintf(tap_path, sizeof(tap_path), "/proc/self/fd/%d", tap_fd);
		unsetenv("CK_TAP_LOG_FILE_NAME");
	}
	SRunner *sr = srunner_create(s);
	if (tap_fd >= 0)
		srunner_set_tap(sr, tap_path);
	srunner_set_fork_status(sr, fork_status);
	srunner_run_all(sr, CK_ENV);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	if (tap_fd >= 0)
		failed += pass_on(tap_fd, tap) < 0;
	else
		for (size_t i = 0; i < n_skips; i++)
			printf("skipped: %s: %s\n", skips[i].name, skips[i].why);
	return failed;
}
