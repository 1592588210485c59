/* SPDX-License-Identifier: MIT */
/*
 * mcstore._core.View: a read-only buffer over an object (see core.h). The
 * libmcstore view is held, so the object cannot be removed, evicted or
 * its memory reused, until release() or until the View and every
 * memoryview made from it are gone. Read-only because the memory is the
 * node's segment, which other processes read: a write through it would
 * change a stored object under its checksum.
 */
#include "python/core/core.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

PyObject *core_view_new(struct mcs_view *v)
{
	CoreView *o = PyObject_New(CoreView, &CoreView_Type);
	if (!o) {
		mcs_view_release(v);
		return NULL;
	}
	o->view = NULL;
	o->copy = NULL;
	o->exports = 0;
	o->size = (Py_ssize_t)v->size;
	if (v->n_iov == 1 || v->size == 0) {
		o->view = v;
		o->data = v->size ? v->iov[0].iov_base : "";
		return (PyObject *)o;
	}
	/* a striped object: its pieces lie apart, a buffer is one piece */
	if (!(o->copy = malloc(v->size))) {
		mcs_view_release(v);
		Py_DECREF(o);
		return PyErr_NoMemory();
	}
	size_t at = 0;
	for (size_t i = 0; i < v->n_iov; i++) {
		memcpy((char *)o->copy + at, v->iov[i].iov_base, v->iov[i].iov_len);
		at += v->iov[i].iov_len;
	}
	mcs_view_release(v);
	o->data = o->copy;
	return (PyObject *)o;
}

PyObject *core_view_copy(void *buf, size_t len)
{
	CoreView *o = PyObject_New(CoreView, &CoreView_Type);
	if (!o) {
		free(buf);
		return NULL;
	}
	o->view = NULL;
	o->copy = buf;
	o->data = buf ? buf : "";
	o->size = (Py_ssize_t)len;
	o->exports = 0;
	return (PyObject *)o;
}

static void view_drop(CoreView *o)
{
	if (o->view) {
		struct mcs_view *v = o->view;
		o->view = NULL;
		Py_BEGIN_ALLOW_THREADS
		mcs_view_release(v);
		Py_END_ALLOW_THREADS
	}
	free(o->copy);
	o->copy = NULL;
	o->data = NULL;
	o->size = 0;
}

static void view_dealloc(CoreView *o)
{
	view_drop(o);
	PyObject_Free(o);
}

static int view_getbuffer(CoreView *o, Py_buffer *b, int flags)
{
	if (!o->data) {
		PyErr_SetString(PyExc_ValueError, "the view is released");
		b->obj = NULL;
		return -1;
	}
	if (PyBuffer_FillInfo(b, (PyObject *)o, (void *)o->data, o->size, 1, flags) < 0)
		return -1;
	o->exports++;
	return 0;
}

static void view_releasebuffer(CoreView *o, Py_buffer *b)
{
	o->exports--;
}

static PyBufferProcs view_as_buffer = {
	.bf_getbuffer = (getbufferproc)view_getbuffer,
	.bf_releasebuffer = (releasebufferproc)view_releasebuffer,
};

static PyObject *view_release(CoreView *o, PyObject *unused)
{
	if (o->exports > 0) {
		PyErr_Format(PyExc_BufferError, "%zd memoryview(s) of this view still exist: release them first",
			     o->exports);
		return NULL;
	}
	view_drop(o);
	Py_RETURN_NONE;
}

static PyObject *view_verify(CoreView *o, PyObject *unused)
{
	if (!o->data) {
		PyErr_SetString(PyExc_ValueError, "the view is released");
		return NULL;
	}
	if (!o->view) /* a copy, verified when it was made */
		return PyLong_FromLong(0);
	int r;
	Py_BEGIN_ALLOW_THREADS
	r = mcs_view_verify(o->view);
	Py_END_ALLOW_THREADS
	return PyLong_FromLong(r);
}

static PyObject *view_ptr(CoreView *o, PyObject *unused)
{
	return PyLong_FromVoidPtr(o->data && o->size ? (void *)o->data : NULL);
}

static PyObject *view_size(CoreView *o, PyObject *unused)
{
	return PyLong_FromSsize_t(o->size);
}

static Py_ssize_t view_len(CoreView *o)
{
	return o->size;
}

static PyObject *view_enter(PyObject *o, PyObject *unused)
{
	return Py_NewRef(o);
}

static PyObject *view_exit(CoreView *o, PyObject *args)
{
	return view_release(o, NULL);
}

static PyObject *view_released(CoreView *o, void *unused)
{
	return PyBool_FromLong(o->data == NULL);
}

static PyMethodDef view_methods[] = {
	{ "release", (PyCFunction)view_release, METH_NOARGS,
	  "Give the object back (it may then be removed or evicted); BufferError while memoryviews of it exist." },
	{ "verify", (PyCFunction)view_verify, METH_NOARGS,
	  "Hash the bytes now against the stored checksum: 0, or -EBADMSG." },
	{ "ptr", (PyCFunction)view_ptr, METH_NOARGS, "The address of the first byte (0 when empty or released)." },
	{ "size", (PyCFunction)view_size, METH_NOARGS, "The size of the object in bytes." },
	{ "__enter__", view_enter, METH_NOARGS, NULL },
	{ "__exit__", (PyCFunction)view_exit, METH_VARARGS, NULL },
	{ NULL, NULL, 0, NULL },
};

static PyGetSetDef view_getset[] = {
	{ "released", (getter)view_released, NULL, "Whether release() was called.", NULL },
	{ NULL, NULL, NULL, NULL, NULL },
};

static PySequenceMethods view_as_sequence = {
	.sq_length = (lenfunc)view_len,
};

PyTypeObject CoreView_Type = {
	PyVarObject_HEAD_INIT(NULL, 0)
	.tp_name = "mcstore._core.View",
	.tp_basicsize = sizeof(CoreView),
	.tp_dealloc = (destructor)view_dealloc,
	.tp_as_sequence = &view_as_sequence,
	.tp_as_buffer = &view_as_buffer,
	.tp_flags = Py_TPFLAGS_DEFAULT,
	.tp_doc = "A read-only, zero-copy buffer over a stored object, held until release().",
	.tp_methods = view_methods,
	.tp_getset = view_getset,
};
