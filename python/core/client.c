/* SPDX-License-Identifier: MIT */
/*
 * mcstore._core.Client: libmcstore's calls for Python (see core.h). Each
 * call takes a handle from the pool (pool.c), releases the GIL for the
 * call and gives the handle back; statuses come back as negative ints.
 * Here: the type, its construction, and the calls on keys and on what the
 * cluster holds; the data calls are data.c's.
 */
#include "python/core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DEFAULT_MAX_HANDLES 8

/* ---- construction ---------------------------------------------------------- */

static int client_init(CoreClient *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "socket_path", "timeout_ms", "staging_size", "flags", "busy_poll_us",
				  "max_handles", NULL };
	const char *sock = NULL;
	unsigned int timeout_ms = 0, flags = 0, busy = 0;
	unsigned long long staging = 0;
	Py_ssize_t max = DEFAULT_MAX_HANDLES;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|zIKIIn:Client", kwlist, &sock, &timeout_ms, &staging, &flags,
					 &busy, &max))
		return -1;
	if (max < 1 || max > 1024) {
		PyErr_SetString(PyExc_ValueError, "max_handles is 1..1024");
		return -1;
	}
	if (c->idle) {
		PyErr_SetString(PyExc_RuntimeError, "Client.__init__ called twice");
		return -1;
	}
	c->socket_path = sock ? strdup(sock) : NULL;
	c->idle = calloc((size_t)max, sizeof(*c->idle));
	if ((sock && !c->socket_path) || !c->idle) {
		PyErr_NoMemory();
		return -1;
	}
	c->opts = (struct mcs_client_opts){ .size = sizeof(c->opts),
					    .socket_path = c->socket_path,
					    .timeout_ms = timeout_ms,
					    .staging_size = staging,
					    .flags = flags,
					    .busy_poll_us = busy };
	c->max_handles = (size_t)max;
	c->pid = getpid();
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->returned, NULL);
	/* one handle now, so that a daemon that is not there says so here */
	struct mcs_client *h;
	int r = core_pool_take(c, &h);
	if (r < 0) {
		errno = -r;
		PyObject *path = PyUnicode_FromString(sock ? sock : MCS_DEFAULT_SOCKET);
		PyErr_SetObject(PyExc_OSError,
				Py_BuildValue("(isO)", -r, mcs_strerror(r), path ? path : Py_None));
		Py_XDECREF(path);
		return -1;
	}
	core_pool_give(c, h, 0);
	return 0;
}

static void client_dealloc(CoreClient *c)
{
	if (c->idle) {
		core_pool_close(c);
		free(c->idle);
		pthread_cond_destroy(&c->returned);
		pthread_mutex_destroy(&c->lock);
	}
	free(c->socket_path);
	Py_TYPE(c)->tp_free((PyObject *)c);
}

static PyObject *client_close(CoreClient *c, PyObject *unused)
{
	if (c->idle && !c->closed)
		core_pool_close(c);
	Py_RETURN_NONE;
}

static PyObject *client_get_closed(CoreClient *c, void *unused)
{
	return PyBool_FromLong(c->closed);
}

/* ---- one key, one answer --------------------------------------------------- */

static PyObject *client_get_size(CoreClient *c, PyObject *ko)
{
	const char *key;
	if (core_key(ko, &key) < 0)
		return NULL;
	uint64_t size = 0;
	long r;
	CALL(c, r, r = mcs_get_size(h, key, &size));
	return r < 0 ? PyLong_FromLong(r) : PyLong_FromUnsignedLongLong(size);
}

static PyObject *client_exists(CoreClient *c, PyObject *ko)
{
	const char *key;
	if (core_key(ko, &key) < 0)
		return NULL;
	long r;
	CALL(c, r, r = mcs_exists(h, key));
	return PyLong_FromLong(r);
}

struct exists_arg {
	const char **keys;
	int *ires;
	long *res;
};

static int exists_slice(struct mcs_client *h, size_t base, size_t len, void *arg)
{
	struct exists_arg *a = arg;
	int r = mcs_exists_batch(h, len, a->keys + base, a->ires + base);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++)
		a->res[base + i] = a->ires[base + i];
	return 0;
}

static PyObject *client_exists_batch(CoreClient *c, PyObject *ko)
{
	const char **keys = NULL;
	PyObject *kt = core_batch_keys(ko, &keys), *out = NULL;
	if (!kt)
		return NULL;
	size_t n = (size_t)PyTuple_GET_SIZE(kt);
	int *ires = PyMem_Calloc(n + 1, sizeof(*ires));
	long *res = PyMem_Calloc(n + 1, sizeof(*res));
	if (ires && res) {
		struct exists_arg a = { keys, ires, res };
		core_run_slices(c, n, exists_slice, &a, res);
		out = core_int_list(res, n);
	} else {
		PyErr_NoMemory();
	}
	PyMem_Free(ires);
	PyMem_Free(res);
	PyMem_Free(keys);
	Py_DECREF(kt);
	return out;
}

static PyObject *client_remove(CoreClient *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "key", "force", NULL };
	PyObject *ko;
	int force = 0;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p:remove", kwlist, &ko, &force))
		return NULL;
	const char *key;
	if (core_key(ko, &key) < 0)
		return NULL;
	long r;
	CALL(c, r, r = mcs_remove(h, key, force ? MCS_REMOVE_FORCE : 0));
	return PyLong_FromLong(r);
}

/* remove_all() -> how many objects were removed, or a negative status */
static PyObject *client_remove_all(CoreClient *c, PyObject *unused)
{
	uint64_t count = 0;
	long r;
	CALL(c, r, r = mcs_remove_all(h, &count));
	return r < 0 ? PyLong_FromLong(r) : PyLong_FromUnsignedLongLong(count);
}

/* ---- what the cluster holds -------------------------------------------------- */

/* list_keys(prefix="", cursor=0, max=1000) -> (next_cursor, [keys]), or a
 * negative status */
static PyObject *client_list_keys(CoreClient *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "prefix", "cursor", "max", NULL };
	const char *prefix = "";
	unsigned long long cursor = 0;
	Py_ssize_t max = 1000;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "|sKn:list_keys", kwlist, &prefix, &cursor, &max))
		return NULL;
	if (max < 1)
		max = 1;
	struct mcs_key_page *page = NULL;
	long r;
	CALL(c, r, r = mcs_list_keys(h, prefix, cursor, (size_t)max, &page));
	if (r < 0)
		return PyLong_FromLong(r);
	PyObject *keys = PyList_New((Py_ssize_t)page->n_keys), *out = NULL;
	for (size_t i = 0; keys && i < page->n_keys; i++) {
		PyObject *k = PyUnicode_DecodeUTF8(page->keys[i], (Py_ssize_t)strlen(page->keys[i]), "surrogateescape");
		if (!k) {
			Py_CLEAR(keys);
			break;
		}
		PyList_SET_ITEM(keys, (Py_ssize_t)i, k);
	}
	if (keys)
		out = Py_BuildValue("(KN)", (unsigned long long)page->next_cursor, keys);
	mcs_key_page_free(page);
	return out;
}

/* locate(key) -> (size, checksum, [(status, [(node, segment, endpoint,
 * offset, length), ...]), ...]), or a negative status */
static PyObject *client_locate(CoreClient *c, PyObject *ko)
{
	const char *key;
	if (core_key(ko, &key) < 0)
		return NULL;
	struct mcs_object_info *info = NULL;
	long r;
	CALL(c, r, r = mcs_locate(h, key, &info));
	if (r < 0)
		return PyLong_FromLong(r);
	PyObject *reps = PyList_New((Py_ssize_t)info->n_replicas), *out = NULL;
	for (size_t i = 0; reps && i < info->n_replicas; i++) {
		const struct mcs_replica_info *ri = mcs_object_replica(info, i);
		PyObject *bl = PyList_New((Py_ssize_t)ri->n_buffers), *rep;
		for (size_t b = 0; bl && b < ri->n_buffers; b++) {
			const struct mcs_buffer_location *l = mcs_object_buffer(info, i, b);
			PyObject *t = Py_BuildValue("(sssKK)", l->node, l->segment, l->endpoint,
						    (unsigned long long)l->offset, (unsigned long long)l->len);
			if (!t) {
				Py_CLEAR(bl);
				break;
			}
			PyList_SET_ITEM(bl, (Py_ssize_t)b, t);
		}
		if (!bl || !(rep = Py_BuildValue("(iN)", (int)ri->status, bl))) {
			Py_CLEAR(reps);
			break;
		}
		PyList_SET_ITEM(reps, (Py_ssize_t)i, rep);
	}
	if (reps)
		out = Py_BuildValue("(KKN)", (unsigned long long)info->size, (unsigned long long)info->checksum, reps);
	mcs_object_info_free(info);
	return out;
}

static int dict_set(PyObject *d, const char *name, PyObject *v)
{
	if (!v)
		return -1;
	int r = PyDict_SetItemString(d, name, v);
	Py_DECREF(v);
	return r;
}

/* stat() -> dict (the cluster's and this node's figures, with
 * "segments": a list of dicts), or a negative status */
static PyObject *client_stat(CoreClient *c, PyObject *unused)
{
	struct mcs_stat *s = NULL;
	long r;
	CALL(c, r, r = mcs_stat(h, &s));
	if (r < 0)
		return PyLong_FromLong(r);
	PyObject *d = PyDict_New(), *segs = PyList_New((Py_ssize_t)s->n_segments);
	const struct {
		const char *name;
		uint64_t v;
	} u[] = {
		{ "n_objects", s->n_objects },
		{ "capacity", s->capacity },
		{ "used", s->used },
		{ "evict_runs", s->evict_runs },
		{ "evictions", s->evictions },
		{ "evicted_bytes", s->evicted_bytes },
		{ "put_no_space", s->put_no_space },
		{ "leases_granted", s->leases_granted },
		{ "remove_refused", s->remove_refused },
		{ "puts_timed_out", s->puts_timed_out },
		{ "soft_pins_refused", s->soft_pins_refused },
		{ "nodes_lost", s->nodes_lost },
	};
	bool ok = d && segs;
	for (size_t i = 0; ok && i < sizeof(u) / sizeof(u[0]); i++)
		ok = dict_set(d, u[i].name, PyLong_FromUnsignedLongLong(u[i].v)) == 0;
	ok = ok && dict_set(d, "local_node", PyUnicode_FromString(s->local_node)) == 0 &&
	     dict_set(d, "local_segment", PyUnicode_FromString(s->local_segment)) == 0 &&
	     dict_set(d, "local_hugepages", PyBool_FromLong(s->local_hugepages)) == 0;
	for (size_t i = 0; ok && i < s->n_segments; i++) {
		const struct mcs_segment_info *g = mcs_stat_segment(s, i);
		PyObject *e = Py_BuildValue("{s:s,s:s,s:K,s:K,s:K}", "name", g->name, "node", g->node, "size",
					    (unsigned long long)g->size, "used", (unsigned long long)g->used,
					    "n_allocs", (unsigned long long)g->n_allocs);
		ok = e != NULL;
		if (ok)
			PyList_SET_ITEM(segs, (Py_ssize_t)i, e);
	}
	if (ok) {
		ok = PyDict_SetItemString(d, "segments", segs) == 0;
	}
	Py_XDECREF(segs);
	mcs_stat_free(s);
	if (!ok)
		Py_CLEAR(d);
	return d;
}

/* ---- the type ---------------------------------------------------------------- */

#define KW(name, fn, doc) { name, (PyCFunction)(void (*)(void))fn, METH_VARARGS | METH_KEYWORDS, doc }
static PyMethodDef client_methods[] = {
	KW("put", core_client_put,
	   "put(key, value, cfg=None) -> 0 or a status; value: bytes-like, or a list of them (its parts)"),
	KW("put_ptr", core_client_put_ptr,
	   "put_ptr(key, ptr, size, cfg=None) -> 0 or a status; ptr, size: ints, or lists of them (parts)"),
	KW("put_batch", core_client_put_batch, "put_batch(keys, values, cfg=None) -> [0 or a status per key]"),
	KW("put_batch_ptr", core_client_put_batch_ptr,
	   "put_batch_ptr(keys, ptrs, sizes, cfg=None) -> [0 or a status per key]"),
	{ "get", (PyCFunction)core_client_get, METH_O, "get(key) -> bytes, or a status" },
	KW("get_into", core_client_get_into,
	   "get_into(key, target, size=None) -> the object's size, or a status; target: a writable bytes-like "
	   "object, or an address (or a list of them) with size (or sizes)"),
	KW("get_batch_into", core_client_get_batch_into,
	   "get_batch_into(keys, targets, sizes=None) -> [size or status per key]"),
	KW("view", core_client_view, "view(key, verify=True) -> View, or a status (-EREMOTE: not on this node)"),
	{ "buffer", (PyCFunction)core_client_buffer, METH_O,
	  "buffer(key) -> View (zero-copy here, else over a copy), or a status" },
	{ "get_size", (PyCFunction)client_get_size, METH_O, "get_size(key) -> size, or a status" },
	{ "exists", (PyCFunction)client_exists, METH_O, "exists(key) -> 1, 0 (absent or incomplete) or a status" },
	{ "exists_batch", (PyCFunction)client_exists_batch, METH_O, "exists_batch(keys) -> [1, 0 or a status]" },
	KW("remove", client_remove, "remove(key, force=False) -> 0 or a status (-EBUSY: leased or held)"),
	{ "remove_all", (PyCFunction)client_remove_all, METH_NOARGS,
	  "remove_all() -> how many objects (without a lease) were removed, or a status" },
	KW("list_keys", client_list_keys,
	   "list_keys(prefix='', cursor=0, max=1000) -> (next_cursor, [keys]) or a status"),
	{ "locate", (PyCFunction)client_locate, METH_O,
	  "locate(key) -> (size, checksum, [(status, [(node, segment, endpoint, offset, length)])]) or a status" },
	{ "stat", (PyCFunction)client_stat, METH_NOARGS, "stat() -> dict, or a status" },
	{ "close", (PyCFunction)client_close, METH_NOARGS,
	  "Close the handles; every later call answers -ESHUTDOWN." },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef client_getset[] = {
	{ "closed", (getter)client_get_closed, NULL, "Whether close() was called.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

PyTypeObject CoreClient_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "mcstore._core.Client",
	.tp_basicsize = sizeof(CoreClient),
	.tp_dealloc = (destructor)client_dealloc,
	.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE,
	.tp_doc = "Client(socket_path=None, timeout_ms=0, staging_size=0, flags=0, busy_poll_us=0, max_handles=8):\n"
		  "libmcstore handles on this node's mcstored, pooled for threads; statuses are negative ints.",
	.tp_methods = client_methods,
	.tp_getset = client_getset,
	.tp_init = (initproc)client_init,
	.tp_new = PyType_GenericNew,
};
