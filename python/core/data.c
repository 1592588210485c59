/* SPDX-License-Identifier: MIT */
/*
 * mcstore._core.Client's data calls (see core.h): put and get, of values
 * given as buffers or by address, one or a batch; views.
 */
#include "python/core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- values given by buffer or by address -------------------------------- */

#define MAX_PARTS 65536

/* The pieces of one value: iov[0..n), with the buffers they come from
 * (n_bufs of them, to release); one piece needs no allocation. */
struct parts {
	struct iovec *iov;
	Py_buffer *bufs;
	int n, n_bufs;
	struct iovec one;
	Py_buffer one_buf;
};

static void release_bufs(Py_buffer *bufs, int n)
{
	for (int i = 0; i < n; i++)
		PyBuffer_Release(&bufs[i]);
}

static void parts_free(struct parts *p)
{
	release_bufs(p->bufs, p->n_bufs);
	if (p->iov != &p->one)
		PyMem_Free(p->iov);
	if (p->bufs != &p->one_buf)
		PyMem_Free(p->bufs);
	*p = (struct parts){ 0 };
}

static int parts_room(struct parts *p, Py_ssize_t n, bool bufs)
{
	if (n > MAX_PARTS) {
		PyErr_Format(PyExc_ValueError, "at most %d parts", MAX_PARTS);
		return -1;
	}
	p->iov = n <= 1 ? &p->one : PyMem_Calloc((size_t)n, sizeof(*p->iov));
	p->bufs = !bufs ? NULL : n <= 1 ? &p->one_buf : PyMem_Calloc((size_t)n, sizeof(*p->bufs));
	if (!p->iov || (bufs && !p->bufs)) {
		PyErr_NoMemory();
		return -1;
	}
	return 0;
}

/* The pieces of a value: one buffer, or a list of buffers (its parts). 0,
 * or -1 with an exception; parts_free() either way. */
static int value_parts(PyObject *v, struct parts *p, int buf_flags)
{
	*p = (struct parts){ 0 };
	if (PyObject_CheckBuffer(v)) {
		if (parts_room(p, 1, true) < 0 || PyObject_GetBuffer(v, &p->bufs[0], buf_flags) < 0)
			return -1;
		p->iov[0] = (struct iovec){ p->bufs[0].buf, (size_t)p->bufs[0].len };
		p->n = p->n_bufs = 1;
		return 0;
	}
	if (!PyList_Check(v) && !PyTuple_Check(v)) {
		PyErr_Format(PyExc_TypeError, "a value is a bytes-like object or a list of them, not %.100s",
			     Py_TYPE(v)->tp_name);
		return -1;
	}
	Py_ssize_t n = PySequence_Fast_GET_SIZE(v);
	if (parts_room(p, n, true) < 0)
		return -1;
	for (Py_ssize_t i = 0; i < n; i++) {
		if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(v, i), &p->bufs[i], buf_flags) < 0)
			return -1;
		p->iov[i] = (struct iovec){ p->bufs[i].buf, (size_t)p->bufs[i].len };
		p->n = ++p->n_bufs;
	}
	return 0;
}

/* The pieces of memory named by address: (ptr, size) as two ints, or two
 * lists of ints. 0, a negative status (-EFAULT: not memory of this
 * process, -EINVAL), or ARG_RAISED with an exception; parts_free() in
 * every case. A list may hold a tuple of ints only while the GIL is held:
 * the addresses are copied out at once. */
#define ARG_RAISED (-1000)
static int addr_parts(PyObject *ptrs, PyObject *sizes, bool writable, struct parts *p)
{
	*p = (struct parts){ 0 };
	uintptr_t a, n;
	if (PyLong_Check(ptrs)) {
		if (core_uintptr(ptrs, &a) < 0 || core_uintptr(sizes, &n) < 0 || parts_room(p, 1, false) < 0)
			return ARG_RAISED;
		p->iov[0] = (struct iovec){ (void *)a, n };
		p->n = 1;
		return core_mem_check(a, n, writable);
	}
	if (!PyList_Check(ptrs) && !PyTuple_Check(ptrs)) {
		PyErr_Format(PyExc_TypeError, "an address is an int or a list of them, not %.100s",
			     Py_TYPE(ptrs)->tp_name);
		return ARG_RAISED;
	}
	if (!PyList_Check(sizes) && !PyTuple_Check(sizes)) {
		PyErr_Format(PyExc_TypeError, "sizes are a list of ints, not %.100s", Py_TYPE(sizes)->tp_name);
		return ARG_RAISED;
	}
	Py_ssize_t k = PySequence_Fast_GET_SIZE(ptrs);
	if (k != PySequence_Fast_GET_SIZE(sizes))
		return -EINVAL;
	if (parts_room(p, k, false) < 0)
		return ARG_RAISED;
	int status = 0;
	for (Py_ssize_t i = 0; i < k; i++) {
		if (core_uintptr(PySequence_Fast_GET_ITEM(ptrs, i), &a) < 0 ||
		    core_uintptr(PySequence_Fast_GET_ITEM(sizes, i), &n) < 0)
			return ARG_RAISED;
		p->iov[i] = (struct iovec){ (void *)a, n };
		if (status == 0)
			status = core_mem_check(a, n, writable);
	}
	p->n = (int)k;
	return status;
}

/* The values of a batch of n keys: n buffers (so NULL: vo's items), or n
 * addresses (vo's ints) with n sizes (so's ints). vals[i] is filled and
 * status[i] set to the memory check of an address (0 for a buffer); the
 * tuples and the buffers taken (*bufs, *n_bufs) are the caller's to
 * release, also on failure. 0, or -1 with an exception. */
struct batch_values {
	PyObject *vt, *st;
	Py_buffer *bufs;
	size_t n_bufs;
};

static int batch_values(struct batch_values *b, PyObject *vo, PyObject *so, size_t n, bool writable,
			const char *what, struct iovec *vals, long *status)
{
	if (!(b->vt = core_tuple(vo, what)))
		return -1;
	if ((size_t)PyTuple_GET_SIZE(b->vt) != n) {
		PyErr_Format(PyExc_ValueError, "keys and %s differ in length", what);
		return -1;
	}
	if (so) {
		if (!(b->st = core_tuple(so, "sizes")))
			return -1;
		if ((size_t)PyTuple_GET_SIZE(b->st) != n) {
			PyErr_SetString(PyExc_ValueError, "keys and sizes differ in length");
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			uintptr_t p, len;
			if (core_uintptr(PyTuple_GET_ITEM(b->vt, i), &p) < 0 ||
			    core_uintptr(PyTuple_GET_ITEM(b->st, i), &len) < 0)
				return -1;
			vals[i] = (struct iovec){ (void *)p, len };
			status[i] = core_mem_check(p, len, writable);
		}
		return 0;
	}
	if (!(b->bufs = PyMem_Calloc(n + 1, sizeof(*b->bufs)))) {
		PyErr_NoMemory();
		return -1;
	}
	for (; b->n_bufs < n; b->n_bufs++) {
		Py_buffer *pb = &b->bufs[b->n_bufs];
		if (PyObject_GetBuffer(PyTuple_GET_ITEM(b->vt, b->n_bufs), pb, writable ? PyBUF_WRITABLE : PyBUF_SIMPLE) < 0)
			return -1;
		vals[b->n_bufs] = (struct iovec){ pb->buf, (size_t)pb->len };
	}
	return 0;
}

static void batch_values_free(struct batch_values *b)
{
	release_bufs(b->bufs, (int)b->n_bufs);
	PyMem_Free(b->bufs);
	Py_XDECREF(b->st);
	Py_XDECREF(b->vt);
}

/* A batch call's arguments: the keys (kt, keys), their values (vals) and
 * a status per key found before the call (res: memory that is not this
 * process's); the keys with none, compacted (k2, v2, idx: m of them), go
 * to the call, whose results (r2) batch_end() puts back in place. */
struct batch {
	PyObject *kt;
	const char **keys;
	size_t n, m;
	struct batch_values bv;
	struct iovec *vals, *v2;
	long *res, *r2;
	const char **k2;
	size_t *idx;
};

static int batch_begin(struct batch *b, PyObject *ko, PyObject *vo, PyObject *so, bool writable, const char *what)
{
	*b = (struct batch){ 0 };
	if (!(b->kt = core_batch_keys(ko, &b->keys)))
		return -1;
	size_t n = b->n = (size_t)PyTuple_GET_SIZE(b->kt);
	b->vals = PyMem_Calloc(n + 1, sizeof(*b->vals));
	b->v2 = PyMem_Calloc(n + 1, sizeof(*b->v2));
	b->res = PyMem_Calloc(n + 1, sizeof(*b->res));
	b->r2 = PyMem_Calloc(n + 1, sizeof(*b->r2));
	b->k2 = PyMem_Calloc(n + 1, sizeof(*b->k2));
	b->idx = PyMem_Calloc(n + 1, sizeof(*b->idx));
	if (!b->vals || !b->v2 || !b->res || !b->r2 || !b->k2 || !b->idx) {
		PyErr_NoMemory();
		return -1;
	}
	if (batch_values(&b->bv, vo, so, n, writable, what, b->vals, b->res) < 0)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (b->res[i] == 0) {
			b->k2[b->m] = b->keys[i];
			b->v2[b->m] = b->vals[i];
			b->idx[b->m++] = i;
		}
	return 0;
}

/* The list of results (NULL if !ok or on failure); frees b. */
static PyObject *batch_end(struct batch *b, bool ok)
{
	PyObject *out = NULL;
	if (ok) {
		for (size_t i = 0; i < b->m; i++)
			b->res[b->idx[i]] = b->r2[i];
		out = core_int_list(b->res, b->n);
	}
	batch_values_free(&b->bv);
	PyMem_Free(b->vals);
	PyMem_Free(b->v2);
	PyMem_Free(b->res);
	PyMem_Free(b->r2);
	PyMem_Free(b->k2);
	PyMem_Free(b->idx);
	PyMem_Free(b->keys);
	Py_XDECREF(b->kt);
	return out;
}

/* ---- put ------------------------------------------------------------------- */

PyObject *core_client_put(CoreClient *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "key", "value", "cfg", NULL };
	PyObject *ko, *vo, *co = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:put", kwlist, &ko, &vo, &co))
		return NULL;
	const char *key, *locs[MCS_MAX_LOCATIONS];
	struct mcs_replicate_config cfg;
	if (core_key(ko, &key) < 0 || core_cfg(co, &cfg, locs) < 0)
		return NULL;
	struct parts p;
	if (value_parts(vo, &p, PyBUF_SIMPLE) < 0) {
		parts_free(&p);
		return NULL;
	}
	long r;
	CALL(c, r, r = mcs_putv(h, key, p.iov, p.n, &cfg, NULL));
	parts_free(&p);
	return PyLong_FromLong(r);
}

PyObject *core_client_put_ptr(CoreClient *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "key", "ptr", "size", "cfg", NULL };
	PyObject *ko, *po, *so, *co = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|O:put_ptr", kwlist, &ko, &po, &so, &co))
		return NULL;
	const char *key, *locs[MCS_MAX_LOCATIONS];
	struct mcs_replicate_config cfg;
	if (core_key(ko, &key) < 0 || core_cfg(co, &cfg, locs) < 0)
		return NULL;
	struct parts p;
	long r = addr_parts(po, so, false, &p);
	if (r == 0)
		CALL(c, r, r = mcs_putv(h, key, p.iov, p.n, &cfg, NULL));
	parts_free(&p);
	return r == ARG_RAISED ? NULL : PyLong_FromLong(r);
}

struct put_batch_arg {
	const char **keys;          /* the keys that go to the call, compacted */
	struct iovec *vals;
	const struct mcs_replicate_config *cfg;
	int *ires;
	long *res;                  /* their results */
};

static int put_slice(struct mcs_client *h, size_t base, size_t len, void *arg)
{
	struct put_batch_arg *a = arg;
	int r = mcs_put_batch(h, len, a->keys + base, a->vals + base, a->cfg, a->ires + base, NULL);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++)
		a->res[base + i] = a->ires[base + i];
	return 0;
}

/* put_batch(keys, values, cfg=None): values are bytes-like objects;
 * put_batch_ptr(keys, ptrs, sizes, cfg=None): addresses and sizes. */
static PyObject *put_batch_common(CoreClient *c, PyObject *ko, PyObject *vo, PyObject *so, PyObject *co)
{
	const char *locs[MCS_MAX_LOCATIONS];
	struct mcs_replicate_config cfg;
	if (core_cfg(co, &cfg, locs) < 0)
		return NULL;
	struct batch b;
	int *ires = NULL;
	bool ok = batch_begin(&b, ko, vo, so, false, so ? "buffer_ptrs" : "values") == 0 &&
		  (ires = PyMem_Calloc(b.m + 1, sizeof(*ires)));
	if (ok) {
		struct put_batch_arg a = { b.k2, b.v2, &cfg, ires, b.r2 };
		core_run_slices(c, b.m, put_slice, &a, b.r2);
	} else if (!PyErr_Occurred()) {
		PyErr_NoMemory();
	}
	PyMem_Free(ires);
	return batch_end(&b, ok);
}

PyObject *core_client_put_batch(CoreClient *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "keys", "values", "cfg", NULL };
	PyObject *ko, *vo, *co = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:put_batch", kwlist, &ko, &vo, &co))
		return NULL;
	return put_batch_common(c, ko, vo, NULL, co);
}

PyObject *core_client_put_batch_ptr(CoreClient *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "keys", "ptrs", "sizes", "cfg", NULL };
	PyObject *ko, *po, *so, *co = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OOO|O:put_batch_ptr", kwlist, &ko, &po, &so, &co))
		return NULL;
	return put_batch_common(c, ko, po, so, co);
}

/* ---- get ------------------------------------------------------------------- */

/* get(key) -> bytes, or a negative status. Read straight into the bytes
 * object: at the size of this Client's last get first (engines store
 * values of a few sizes), and when the object is larger, at its size
 * (mcs_get_size) - a key upserted meanwhile may need another try. */
PyObject *core_client_get(CoreClient *c, PyObject *ko)
{
	const char *key;
	if (core_key(ko, &key) < 0)
		return NULL;
	size_t want = c->last_get_size ? c->last_get_size : 64 * 1024;
	for (int attempt = 0; attempt < 4; attempt++) {
		PyObject *b = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)want);
		if (!b)
			return NULL;
		char *p = PyBytes_AS_STRING(b);
		long r, rs = 0;
		uint64_t size = 0;
		CALL(c, r, r = mcs_get(h, key, p, want); if (r == -ERANGE) rs = mcs_get_size(h, key, &size));
		if (r >= 0) {
			c->last_get_size = (size_t)r;
			if ((size_t)r != want && _PyBytes_Resize(&b, (Py_ssize_t)r) < 0)
				return NULL;
			return b;
		}
		Py_DECREF(b);
		if (r != -ERANGE)
			return PyLong_FromLong(r);
		if (rs < 0)
			return PyLong_FromLong(rs);
		if (size > PY_SSIZE_T_MAX)
			return PyErr_NoMemory();
		want = (size_t)size;
	}
	return PyLong_FromLong(-EAGAIN);
}

/* get_into(key, target, size=None): target is a writable bytes-like
 * object (size: None), or an address (an int, or a list of them for a
 * scatter) with its size(s). The object's size, or a negative status
 * (-ERANGE: the target is smaller than the object). */
PyObject *core_client_get_into(CoreClient *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "key", "target", "size", NULL };
	PyObject *ko, *to, *so = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:get_into", kwlist, &ko, &to, &so))
		return NULL;
	const char *key;
	if (core_key(ko, &key) < 0)
		return NULL;
	long r;
	if (so == Py_None) {
		Py_buffer b;
		if (PyObject_GetBuffer(to, &b, PyBUF_WRITABLE) < 0)
			return NULL;
		CALL(c, r, r = mcs_get(h, key, b.buf, (size_t)b.len));
		PyBuffer_Release(&b);
		return PyLong_FromLong(r);
	}
	struct parts p;
	r = addr_parts(to, so, true, &p);
	if (r == 0)
		CALL(c, r,
		     r = p.n == 1 ? mcs_get(h, key, p.iov[0].iov_base, p.iov[0].iov_len) : mcs_getv(h, key, p.iov, p.n));
	parts_free(&p);
	return r == ARG_RAISED ? NULL : PyLong_FromLong(r);
}

struct get_batch_arg {
	const char **keys;
	struct iovec *bufs;
	ssize_t *sres;
	long *res;
};

static int get_slice(struct mcs_client *h, size_t base, size_t len, void *arg)
{
	struct get_batch_arg *a = arg;
	int r = mcs_get_batch(h, len, a->keys + base, a->bufs + base, a->sres + base);
	if (r < 0)
		return r;
	for (size_t i = 0; i < len; i++)
		a->res[base + i] = (long)a->sres[base + i];
	return 0;
}

/* get_batch_into(keys, targets, sizes=None): writable bytes-like objects,
 * or addresses with sizes. A list: each object's size or a status. */
PyObject *core_client_get_batch_into(CoreClient *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "keys", "targets", "sizes", NULL };
	PyObject *ko, *to, *so = Py_None;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "OO|O:get_batch_into", kwlist, &ko, &to, &so))
		return NULL;
	struct batch b;
	ssize_t *sres = NULL;
	bool ok = batch_begin(&b, ko, to, so == Py_None ? NULL : so, true, "targets") == 0 &&
		  (sres = PyMem_Calloc(b.m + 1, sizeof(*sres)));
	if (ok) {
		struct get_batch_arg a = { b.k2, b.v2, sres, b.r2 };
		core_run_slices(c, b.m, get_slice, &a, b.r2);
	} else if (!PyErr_Occurred()) {
		PyErr_NoMemory();
	}
	PyMem_Free(sres);
	return batch_end(&b, ok);
}

/* view(key, verify=True) -> View, or a negative status (-EREMOTE: no
 * replica on this node) */
PyObject *core_client_view(CoreClient *c, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "key", "verify", NULL };
	PyObject *ko;
	int verify = 1;
	if (!PyArg_ParseTupleAndKeywords(args, kw, "O|p:view", kwlist, &ko, &verify))
		return NULL;
	const char *key;
	if (core_key(ko, &key) < 0)
		return NULL;
	struct mcs_view *v = NULL;
	long r;
	CALL(c, r, r = mcs_get_view(h, key, verify ? 0 : MCS_VIEW_NOVERIFY, &v));
	if (r < 0)
		return PyLong_FromLong(r);
	return core_view_new(v);
}

/* buffer(key) -> View: zero-copy when a replica is on this node, else over
 * a private copy; or a negative status */
PyObject *core_client_buffer(CoreClient *c, PyObject *ko)
{
	const char *key;
	if (core_key(ko, &key) < 0)
		return NULL;
	struct mcs_view *v = NULL;
	void *buf = NULL;
	size_t len = 0;
	long r;
	CALL(c, r, r = mcs_get_view(h, key, 0, &v); if (r == -EREMOTE) r = mcs_get_alloc(h, key, &buf, &len));
	if (r < 0)
		return PyLong_FromLong(r);
	return v ? core_view_new(v) : core_view_copy(buf, len);
}

