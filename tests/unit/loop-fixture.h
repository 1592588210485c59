/* SPDX-License-Identifier: MIT */
/*
 * What the unit tests of the io_uring loop share (test-ring.c, test-conn.c,
 * test-sendq.c, test-sendq-trip.c; the code is in loop-fixture.c).
 *
 * Both ends of a stream are usually loop connections (socketpair or TCP on
 * 127.0.0.1), so the loop drives both sides; a "raw" end is a plain socket
 * the test writes to or reads from itself. Waiting is never by sleeping:
 * run_until() runs the loop until a predicate holds (checked every
 * millisecond by a timer), with a generous deadline that fails the test.
 */
#ifndef MCS_TEST_LOOP_FIXTURE_H
#define MCS_TEST_LOOP_FIXTURE_H

#include <check.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "mcstore.h"
#include "uring/loop.h"

#define KiB (1u << 10)
#define MiB (1u << 20)
#define DEADLINE_MS 20000

/* Run the suite, as main() of each test program: exit 77 (or a TAP skip
 * plan) when io_uring is unavailable, disabled by sysctl or seccomp. */
int loop_test_main(Suite *s);

/* ---- the loop --------------------------------------------------------------- */

struct mcs_loop *new_loop(uint32_t max_body);
/* One that sends references of zc_threshold bytes or more with SEND_ZC. */
struct mcs_loop *new_loop_zc(uint32_t zc_threshold);

typedef bool (*pred_fn)(void *arg);
/* Run the loop until pred(arg) holds; fail the test after DEADLINE_MS. */
void run_until(struct mcs_loop *l, pred_fn pred, void *arg);
/* ... until *counter >= goal. */
void run_until_count(struct mcs_loop *l, const int *counter, int goal);
/* Let the loop run for ms milliseconds (only to give a wrong extra
 * callback the chance to show up, never to wait for a result). */
void run_for(struct mcs_loop *l, uint64_t ms);

/* ---- sockets ---------------------------------------------------------------- */

void tcp_listener(int *ret_fd, struct sockaddr_in *ret_addr);
int tcp_connect(const struct sockaddr_in *a);

enum { T_UNIX, T_TCP, T_COUNT };
/* A connected stream pair of the given transport. */
void make_pair(int transport, int sv[2]);
void write_all(int fd, const void *p, size_t n);
/* Whether the kernel takes SEND_ZC on a connected TCP socket: 0, or why
 * not (a negative errno); to be called outside any case. */
int probe_send_zc(void);

/* ---- bytes and frames ------------------------------------------------------- */

/* A pattern that depends on seed and position. */
void fill(uint8_t *p, size_t n, uint64_t seed);
bool check_fill(const uint8_t *p, size_t n, uint64_t seed);
/* A faster one, a word at a time (fill() is too slow for hundreds of MiB
 * under the sanitizers). */
void fill_fast(uint8_t *p, size_t n, uint64_t seed);
void put_le(uint8_t *p, uint64_t v, int n);
uint64_t get_le(const uint8_t *p, int n);
/* Hand-made header, so bad ones can be written too. */
void raw_hdr(uint8_t out[MCS_HDR_SIZE], uint32_t magic, uint8_t version, uint16_t opcode, uint64_t req_id,
	     uint32_t body_len);
/* Shared anonymous memory, like the segments payloads really land in. */
uint8_t *map_buf(size_t n);
void unmap_buf(uint8_t *p, size_t n);

/* ---- a generic peer: counts, checks order and content, may echo ------------- */

struct peer {
	struct mcs_conn *c;
	int frames;
	int closes;
	int close_err;
	uint64_t next_id;         /* req_id expected next */
	int order_errors;
	int content_errors;
	bool echo;                /* send each frame back as a response */
	bool in_frame;
	int close_after;          /* mcs_conn_close(self) after this many frames */
	int fail_with;            /* return this from on_frame (after close_after logic) */
	size_t *lens;             /* expected body lengths, indexed by req_id */
	size_t n_lens;
	int send_after_close;     /* result of a send tried after closing self */
};

extern const struct mcs_conn_ops peer_ops;
/* Adopt fd as a conn driven by p, checking what a new conn says of itself. */
struct mcs_conn *add_peer(struct mcs_loop *l, int fd, struct peer *p);
/* A frame whose body is fill(len, req_id). */
int send_frame(struct mcs_conn *c, uint16_t opcode, uint64_t req_id, size_t len, int fd);

/* ---- send_ref outcomes ------------------------------------------------------ */

struct ref_track {
	int calls;
	int err;
	int seq;                  /* order of completion */
	int closes_at_done;       /* on_close calls seen when done ran */
	int *counter;
	const struct peer *p;
};

/* An mcs_io_done_fn: arg is a struct ref_track. */
void ref_done(struct mcs_conn *c, int err, void *arg);

#endif
