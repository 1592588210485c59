/* SPDX-License-Identifier: MIT */
/*
 * What the files of the shm/ unit suite share (test-shm.c, which builds the
 * suite, test-shm-fdpass.c, test-shm-huge.c; the code is in shm-fixture.c):
 * byte patterns to fill and check a mapping, fd and segment checks,
 * /proc/meminfo, and the huge page pool.
 *
 * The pool (/proc/sys/vm/nr_hugepages and nr_overcommit_hugepages) is a
 * machine-wide setting that the hugepage cases change: pool_save() records
 * it, pool_raise() and pool_starve() change it, pool_restore() puts it back
 * (from the hugepage cases' checked teardown). The suite runs in no-fork
 * mode so that teardown runs even after a failed assertion; as a last resort
 * main() writes the saved values back at exit (pool_restore_at_exit) and on
 * SIGABRT (pool_restore_on_abort, what ASan raises with abort_on_error=1).
 */
#ifndef MCS_TESTS_SHM_FIXTURE_H
#define MCS_TESTS_SHM_FIXTURE_H

#include <check.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "shm/shm.h"

#define NR_HUGEPAGES "/proc/sys/vm/nr_hugepages"
#define HUGEPAGE_LOCK "/tmp/mcstore-test-hugepages.lock"
#define NR_OVERCOMMIT "/proc/sys/vm/nr_overcommit_hugepages"

/* ---- the cases of the other files, added to the suite by test-shm.c ---- */

/* TCase "fdpass" (test-shm-fdpass.c). */
void shm_add_fdpass_cases(Suite *s);
/* TCase "hugepages" (test-shm-huge.c), or its cases named as skipped when
 * they cannot run here; hp is mcs_hugepage_size(). */
void shm_add_huge_cases(Suite *s, uint64_t hp);

/* ---- helpers ----------------------------------------------------------- */

uint64_t base_page(void);
/* A /proc/meminfo field ("HugePages_Free"), or -1. */
long meminfo(const char *key);

void fill_pattern(void *p, size_t n, unsigned int seed);
/* Index of the first byte that differs, or SIZE_MAX. */
size_t check_pattern(const void *p, size_t n, unsigned int seed);

/* Failure must leave *ret alone: fill it with a sentinel and compare. */
void seg_poison(struct mcs_segment *s);
bool seg_is_poisoned(const struct mcs_segment *s);

bool fd_is_open(int fd);
bool fd_is_cloexec(int fd);
bool fd_on_hugetlbfs(int fd);

/* ---- huge page pool: save, change, always restore ---------------------- */

struct hp_pool {
	bool saved;
	volatile sig_atomic_t dirty;  /* changed and not yet restored */
	unsigned long nr, overcommit;
	/* Preformatted so the SIGABRT handler only needs open/write/close. */
	char nr_str[32], oc_str[32];
	size_t nr_len, oc_len;
};
extern struct hp_pool pool;

/* Record the pool (unless changed and not yet restored: keep the original). */
int pool_save(void);
/* Write the saved values back and check they took. */
int pool_restore(void);
/* For atexit(): pool_restore(), or blindly write the saved values back. */
void pool_restore_at_exit(void);
/* For SIGABRT: write the saved values back (async-signal-safe), re-raise. */
void pool_restore_on_abort(int sig);
/* Add `want` pages to the pool and check the kernel could allocate them. */
void pool_raise(unsigned long want);
/* Leave exactly one unreserved huge page (if the kernel can). */
void pool_starve(void);

#endif
