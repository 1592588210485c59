/* SPDX-License-Identifier: MIT */
/*
 * A scripted node daemon (and master) for the libmcstore unit suite.
 *
 * fake_start() listens on a unix socket in a private directory and starts
 * a thread that accepts one client, answers its HELLO as mcstored does (a
 * sealed memfd segment on the answer, the fake master's address when
 * FK_MASTER), then runs the test's script, which reads the client's
 * requests (blocking reads, bounded by FK_WAIT_MS) and answers them with
 * proto/'s encoders. The fake master is a TCP listener on 127.0.0.1, port
 * 0; the client connects to it itself, the script accepts when it wants
 * its requests.
 *
 * Scripts check what they get with Check's assertions: in fork mode a
 * failed one ends the test's process from any thread, with its message.
 * Nothing sleeps to let the client do something: the fake waits for the
 * client's requests, and a test wanting a timeout sets the handle's timeout
 * short for that one call (fake_set_timeout) while the fake waits for the
 * next request. Where the call must time out with part of an answer read,
 * the fake queues that part before the call starts (for the request id it
 * will have), while the client is in no call (which could read it with the
 * answer before): the test says it is idle and waits for the bytes with
 * fake_sync(), the script answers with fk_synced() once they are sent.
 */
#ifndef MCS_TESTS_LIBMCSTORE_FAKE_H
#define MCS_TESTS_LIBMCSTORE_FAKE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "libmcstore/internal.h"
#include "mcstore.h"
#include "proto/proto.h"
#include "shm/shm.h"

#define FK_WAIT_MS 20000         /* the fake's bound on a wait for the client */
#define FK_LONG_MS 20000         /* the handle's timeout where none is tested */
#define FK_SHORT_MS 100          /* where the call under test must time out */
#define FK_SEG_SIZE (1u << 20)
#define FK_NODE "fake-node"
#define FK_SEGMENT "fake-seg"
/* what ret_* pointers are filled with before a call that must fail */
#define FK_POISON ((void *)(uintptr_t)0xa5a5a5a5a5a5a5a5ull)
#define FK_U32_POISON 0xa5a5a5a5u
#define FK_U64_POISON 0xa5a5a5a5a5a5a5a5ull

enum {
	FK_MASTER = 1u << 0,     /* HELLO names the fake master */
	FK_NO_HELLO = 1u << 1,   /* the script answers HELLO itself */
};

/* One accepted connection of the fake. */
struct fk_link {
	int fd;                  /* -1: none */
	const char *name;        /* "daemon", "master", for messages */
};

struct fake;
typedef void (*fk_script)(struct fake *f);

struct fake {
	unsigned flags;
	fk_script script;
	void *arg;               /* the test's, for its script */
	char dir[64], path[128];
	int lfd, mlfd;           /* the unix and the TCP listener */
	uint16_t mport;
	struct fk_link d, m;     /* the daemon link, the master link */
	struct mcs_segment seg;  /* the node's segment, mapped here too */
	struct mcs_hdr h;        /* the last request read */
	uint8_t *body;           /* its body */
	size_t body_cap;
	struct mcs_buf out;      /* the answer being built */
	int go[2], sent[2];      /* fake_sync() <-> fk_wait_idle(), fk_synced() */
	pthread_t thr;
};

/* ---- the test's side ----------------------------------------------------- */

struct fake *fake_start(fk_script script, unsigned flags, void *arg);
/* A handle on the fake (opts NULL: its socket, FK_LONG_MS, flags). */
struct mcs_client *fake_client(struct fake *f, unsigned flags);
/* The same with failover_ms (fake_client: -1, each answer as it comes). */
struct mcs_client *fake_client_failover(struct fake *f, unsigned flags, int failover_ms);
/* Wait for the script to end, then free the fake. */
void fake_join(struct fake *f);
/* Tell the script the client is in no call; wait for its fk_synced(). */
void fake_sync(struct fake *f);
/* The handle's timeout from now on, on both of its links. */
void fake_set_timeout(struct mcs_client *c, unsigned ms);
/* Open file descriptors of this process. */
int fake_count_fds(void);

/* ---- the script's side --------------------------------------------------- */

/* Accept the client on the daemon socket, or its link to the master. */
void fk_accept(struct fake *f);
void fk_accept_master(struct fake *f);
/* The same, for a master that answers LEADER as a standby naming
 * standby_for (NULL: as the leader). */
void fk_accept_master_as(struct fake *f, const char *standby_for);
/* Expect LEADER on l and answer it: leader, a master that leads itself
 * (self) or not (a standby, or the daemon naming its master). */
void fk_answer_leader(struct fake *f, struct fk_link *l, const char *leader, bool self);
/* The next request on l: f->h, f->body; -ECONNRESET when l was closed
 * instead (at a frame boundary). */
int fk_read(struct fake *f, struct fk_link *l);
/* The next request on l must be op. */
void fk_expect(struct fake *f, struct fk_link *l, uint16_t op);
/* l must be closed with no frame more; _eofs: every link the fake has. */
void fk_expect_eof(struct fake *f, struct fk_link *l);
void fk_expect_eofs(struct fake *f);
/* The link metadata goes on as the fake was started (FK_MASTER or not);
 * accept it if it is the master's. */
struct fk_link *fk_meta(struct fake *f);
void fk_accept_meta(struct fake *f);
/* The key of the last request (EXIST, REMOVE, PUT_*, GET_REPLICAS, RELEASE)
 * must be key. */
void fk_expect_key(struct fake *f, const char *key);
/* A RELEASE of key's hold. */
void fk_expect_release(struct fake *f, struct fk_link *l, const char *key, uint64_t hold);
/* No connection waits on the master listener. */
void fk_expect_no_master(struct fake *f);
/* Wait for the test's fake_sync(); end it. */
void fk_wait_idle(struct fake *f);
void fk_synced(struct fake *f);
/* The header of the request the client will send next on that link (op,
 * the request id after f->h's), to answer it before it comes. */
struct mcs_hdr fk_next(const struct fake *f, uint16_t op);

/* Answers to f->h: begin (then encode into f->out), send. */
void fk_begin(struct fake *f, int status);
void fk_send(struct fake *f, struct fk_link *l);
void fk_answer(struct fake *f, struct fk_link *l, int status);
void fk_answer_detail(struct fake *f, struct fk_link *l, int status, uint64_t detail);
/* A response frame to req appended to b (end it with mcs_frame_end);
 * fk_add_status: a whole one with no body. */
void fk_frame(struct mcs_buf *b, const struct mcs_hdr *req, int status);
void fk_add_status(struct mcs_buf *b, const struct mcs_hdr *req, int status);
/* Raw bytes on l; _drained waits until the client has read every one of
 * them (SIOCOUTQ, unix sockets), so that the next bytes come in another
 * recv of the client. */
void fk_send_raw(struct fk_link *l, const void *p, size_t n);
void fk_send_drained(struct fk_link *l, const void *p, size_t n);
void fk_send_fd(struct fk_link *l, const void *p, size_t n, int fd);

/* Replica lists for answers: handles in the fake's segment. */
struct fk_list {
	struct mcs_handle h[8];
	struct mcs_replica rep[4];
	struct mcs_replica_list list;
};
/* One replica of one buffer [off, off+len) of segment seg (NULL: the local
 * one); fk_list_add: one replica more. */
void fk_list_one(struct fk_list *l, const char *seg, uint64_t off, uint64_t len);
void fk_list_add(struct fk_list *l, const char *seg, uint64_t off, uint64_t len);
/* One buffer more in the last replica. */
void fk_list_stripe(struct fk_list *l, uint64_t off, uint64_t len);
void fk_answer_get(struct fake *f, struct fk_link *l, uint64_t size, uint64_t sum, uint64_t hold,
		   const struct fk_list *list);
void fk_answer_put_start(struct fake *f, struct fk_link *l, const struct fk_list *list);
/* Values: n bytes of a pattern (seed) at p; into the fake's segment at off
 * (returns their XXH3-64). */
uint8_t fk_pattern(unsigned seed, size_t i);
void fk_value(unsigned seed, uint8_t *p, size_t n);
uint64_t fk_store(struct fake *f, uint64_t off, size_t n, unsigned seed);
/* A BUF_ALLOC answer with a new memfd of size bytes holding the pattern
 * seed; returns the fd's segment (mapped, the caller closes it). */
struct mcs_segment fk_answer_buf_alloc(struct fake *f, struct fk_link *l, uint32_t id, uint64_t size,
				       unsigned seed);

#endif
