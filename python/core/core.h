/* SPDX-License-Identifier: MIT */
/*
 * mcstore._core: the C core of the Python package, a thin layer over
 * libmcstore. It answers statuses as negative ints (negated errnos, as
 * libmcstore does) and raises only for arguments of the wrong type or
 * value (TypeError, ValueError, OverflowError); the Python modules above
 * it (mcstore.Client, mcstore.MooncakeDistributedStore) turn statuses into
 * exceptions or into Mooncake's codes. Every call that waits releases the
 * GIL.
 */
#ifndef MCS_PY_CORE_H
#define MCS_PY_CORE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "mcstore.h"

/* ---- the Client type (client.c) ---------------------------------------- */

/* A pool of libmcstore handles on one daemon: a call takes a free handle
 * (opening one more, up to max_handles, when none is free) so that threads
 * run their calls side by side; the pool itself is guarded by the GIL. */
typedef struct {
	PyObject_HEAD
	struct mcs_client_opts opts;
	char *socket_path;          /* owned copy of opts.socket_path */
	struct mcs_client **idle;   /* handles not in use */
	size_t n_idle, n_open, max_handles;
	pid_t pid;                  /* the process that opened them */
	size_t last_get_size;       /* the size of the last get(): the next one's guess */
	bool closed;
	pthread_mutex_t lock;       /* with returned: wakes a thread waiting for a handle */
	pthread_cond_t returned;
	unsigned long returns;      /* handles given back, under lock */
} CoreClient;

extern PyTypeObject CoreClient_Type;

/* A handle for one call (0 and *ret, or a negative status), given back
 * after the call with the status it answered (pool.c). */
int core_pool_take(CoreClient *c, struct mcs_client **ret);
void core_pool_give(CoreClient *c, struct mcs_client *h, long status);
void core_pool_close(CoreClient *c);

/* Run stmt (which sets r, a long, from the handle h) without the GIL. */
#define CALL(c, r, stmt)                                      \
	do {                                                  \
		struct mcs_client *h;                         \
		(r) = core_pool_take((c), &h);                     \
		if ((r) == 0) {                               \
			Py_BEGIN_ALLOW_THREADS                \
			stmt;                                 \
			Py_END_ALLOW_THREADS                  \
			core_pool_give((c), h, (r));               \
		}                                             \
	} while (0)

/* Run a batch call over n keys in slices of MCS_BATCH_MAX: fn(h, base, len,
 * arg) fills its results for [base, base+len) and returns a negative
 * status when the slice could not be carried out at all (then res[] of
 * every key of it gets it). */
typedef int (*slice_fn)(struct mcs_client *h, size_t base, size_t len, void *arg);
void core_run_slices(CoreClient *c, size_t n, slice_fn fn, void *arg, long *res);

/* The data calls (data.c), for the method table. */
PyObject *core_client_put(CoreClient *c, PyObject *args, PyObject *kw);
PyObject *core_client_put_ptr(CoreClient *c, PyObject *args, PyObject *kw);
PyObject *core_client_put_batch(CoreClient *c, PyObject *args, PyObject *kw);
PyObject *core_client_put_batch_ptr(CoreClient *c, PyObject *args, PyObject *kw);
PyObject *core_client_get(CoreClient *c, PyObject *ko);
PyObject *core_client_get_into(CoreClient *c, PyObject *args, PyObject *kw);
PyObject *core_client_get_batch_into(CoreClient *c, PyObject *args, PyObject *kw);
PyObject *core_client_view(CoreClient *c, PyObject *args, PyObject *kw);
PyObject *core_client_buffer(CoreClient *c, PyObject *ko);

/* ---- zero-copy views (view.c) ------------------------------------------ */

/* A read-only buffer over an object in the local segment (a libmcstore
 * view, held until release() or collection), or over a private copy when
 * the object is not one contiguous piece here. */
typedef struct {
	PyObject_HEAD
	struct mcs_view *view;      /* NULL once released, or for a copy */
	void *copy;                 /* malloc()ed bytes of a copy */
	const void *data;
	Py_ssize_t size;
	Py_ssize_t exports;         /* buffers handed out and not released */
} CoreView;

extern PyTypeObject CoreView_Type;

/* A view of v's data (takes v over), or of a copy of its pieces. */
PyObject *core_view_new(struct mcs_view *v);
/* A view of len malloc()ed bytes at buf (taken over). */
PyObject *core_view_copy(void *buf, size_t len);

/* ---- caller memory (memory.c) ------------------------------------------ */

/* Whether [ptr, ptr+size) is memory of this process that may be read (and
 * written, with writable): 0, or -EFAULT. Ranges registered with
 * core_mem_register are answered at once; others are looked up in
 * /proc/self/maps. Call with the GIL held. */
int core_mem_check(uintptr_t ptr, size_t size, bool writable);
int core_mem_register(uintptr_t ptr, size_t size);
int core_mem_unregister(uintptr_t ptr);
extern PyMethodDef core_mem_methods[];

/* ---- arguments (module.c) ---------------------------------------------- */

/* A key: str (UTF-8) or bytes without NUL. 0, or -1 with an exception. */
int core_key(PyObject *o, const char **ret);
/* A replication config: None, or (replica_num, flags, locations). cfg and
 * its locations array (of MCS_MAX_LOCATIONS) are filled; pointers stay
 * valid as long as o. 0, or -1 with an exception. */
int core_cfg(PyObject *o, struct mcs_replicate_config *cfg, const char **locations);
/* A tuple of o's items (a sequence, not str or bytes), so that the items
 * stay alive while the GIL is released. NULL with an exception. */
PyObject *core_tuple(PyObject *o, const char *what);
/* An int that fits uintptr_t / size_t. 0, or -1 with an exception. */
int core_uintptr(PyObject *o, uintptr_t *ret);
/* A list of n ints from r[]. */
PyObject *core_int_list(const long *r, size_t n);
/* The keys of a batch, as a tuple (kept alive for the call) and their
 * strings (PyMem_Free them); NULL with an exception. */
PyObject *core_batch_keys(PyObject *ko, const char ***ret_keys);

#endif
