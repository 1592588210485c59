/* SPDX-License-Identifier: MIT */
/* mcstore._core: the module, its constants, and the argument helpers the
 * types share (see core.h). */
#include "python/core/core.h"

#include <limits.h>
#include <string.h>

#include "common/endpoints.h"

int core_key(PyObject *o, const char **ret)
{
	const char *s;
	Py_ssize_t n;
	if (PyUnicode_Check(o)) {
		if (!(s = PyUnicode_AsUTF8AndSize(o, &n)))
			return -1;
	} else if (PyBytes_Check(o)) {
		s = PyBytes_AS_STRING(o);
		n = PyBytes_GET_SIZE(o);
	} else {
		PyErr_Format(PyExc_TypeError, "a key is str or bytes, not %.100s", Py_TYPE(o)->tp_name);
		return -1;
	}
	if ((size_t)n != strlen(s)) {
		PyErr_SetString(PyExc_ValueError, "a key cannot contain a NUL character");
		return -1;
	}
	*ret = s;
	return 0;
}

int core_uintptr(PyObject *o, uintptr_t *ret)
{
	if (!PyLong_Check(o)) {
		PyErr_Format(PyExc_TypeError, "an address or a size is an int, not %.100s", Py_TYPE(o)->tp_name);
		return -1;
	}
	unsigned long long v = PyLong_AsUnsignedLongLong(o);
	if (v == (unsigned long long)-1 && PyErr_Occurred())
		return -1;
	*ret = (uintptr_t)v;
	return 0;
}

PyObject *core_tuple(PyObject *o, const char *what)
{
	if (PyUnicode_Check(o) || PyBytes_Check(o) || !PySequence_Check(o)) {
		PyErr_Format(PyExc_TypeError, "%s must be a list, not %.100s", what, Py_TYPE(o)->tp_name);
		return NULL;
	}
	return PySequence_Tuple(o);
}

int core_cfg(PyObject *o, struct mcs_replicate_config *cfg, const char **locations)
{
	*cfg = (struct mcs_replicate_config){ .size = sizeof(*cfg), .replica_num = 1 };
	if (!o || o == Py_None)
		return 0;
	unsigned int replicas, flags;
	PyObject *locs;
	if (!PyTuple_Check(o) || !PyArg_ParseTuple(o, "IIO!;a config is (replica_num, flags, locations)", &replicas,
						  &flags, &PyTuple_Type, &locs)) {
		if (!PyErr_Occurred())
			PyErr_SetString(PyExc_TypeError, "a config is a tuple (replica_num, flags, locations)");
		return -1;
	}
	Py_ssize_t n = PyTuple_GET_SIZE(locs);
	if (n > MCS_MAX_LOCATIONS) {
		PyErr_Format(PyExc_ValueError, "at most %d preferred locations", MCS_MAX_LOCATIONS);
		return -1;
	}
	for (Py_ssize_t i = 0; i < n; i++)
		if (core_key(PyTuple_GET_ITEM(locs, i), &locations[i]) < 0)
			return -1;
	cfg->replica_num = replicas;
	cfg->flags = flags;
	cfg->locations = n ? locations : NULL;
	cfg->n_locations = (size_t)n;
	return 0;
}

/* A list of n ints from r[]. */
PyObject *core_int_list(const long *r, size_t n)
{
	PyObject *l = PyList_New((Py_ssize_t)n);
	for (size_t i = 0; l && i < n; i++) {
		PyObject *v = PyLong_FromLong(r[i]);
		if (!v) {
			Py_CLEAR(l);
			break;
		}
		PyList_SET_ITEM(l, (Py_ssize_t)i, v);
	}
	return l;
}

/* The keys of a batch, as a tuple (kept alive for the call) and their
 * strings; NULL with an exception. */
PyObject *core_batch_keys(PyObject *ko, const char ***ret_keys)
{
	PyObject *t = core_tuple(ko, "keys");
	if (!t)
		return NULL;
	Py_ssize_t n = PyTuple_GET_SIZE(t);
	const char **keys = PyMem_Malloc((size_t)(n ? n : 1) * sizeof(*keys));
	if (!keys) {
		Py_DECREF(t);
		return PyErr_NoMemory();
	}
	for (Py_ssize_t i = 0; i < n; i++)
		if (core_key(PyTuple_GET_ITEM(t, i), &keys[i]) < 0) {
			PyMem_Free(keys);
			Py_DECREF(t);
			return NULL;
		}
	*ret_keys = keys;
	return t;
}

static PyObject *core_strerror(PyObject *self, PyObject *arg)
{
	long status = PyLong_AsLong(arg);
	if (status == -1 && PyErr_Occurred())
		return NULL;
	if (status < INT_MIN || status > INT_MAX) {
		PyErr_SetString(PyExc_OverflowError, "a status is an int of C");
		return NULL;
	}
	return PyUnicode_FromString(mcs_strerror((int)status));
}

static PyObject *core_error_detail(PyObject *self, PyObject *unused)
{
	return PyLong_FromUnsignedLongLong(mcs_error_detail());
}

/* master_addr_why(addr) -> None, or what is wrong with addr as a master
 * address (the grammar of mcstored's --master and mcs_leader). */
static PyObject *core_master_addr_why(PyObject *self, PyObject *arg)
{
	const char *s;
	Py_ssize_t n;
	if (!PyUnicode_Check(arg)) {
		PyErr_Format(PyExc_TypeError, "a master address is a str, not %.100s", Py_TYPE(arg)->tp_name);
		return NULL;
	}
	if (!(s = PyUnicode_AsUTF8AndSize(arg, &n)))
		return NULL;
	if ((size_t)n != strlen(s))
		return PyUnicode_FromString("contains a NUL character");
	char why[512];
	if (mcs_master_addr_valid(s, why, sizeof(why)))
		Py_RETURN_NONE;
	return PyUnicode_FromString(why);
}

/* leader(master, key_file, timeout_ms) -> (confirmed, term, leader,
 * named_by), or a negative status (mcs_leader's), without the GIL. */
static PyObject *core_leader(PyObject *self, PyObject *args)
{
	const char *master, *key_file = NULL;
	unsigned int timeout_ms = 0;
	if (!PyArg_ParseTuple(args, "s|zI:leader", &master, &key_file, &timeout_ms))
		return NULL;
	struct mcs_leader_opts o = { .size = sizeof(o), .key_file = key_file, .timeout_ms = timeout_ms };
	struct mcs_leader_info *in = NULL;
	int r;
	Py_BEGIN_ALLOW_THREADS
	r = mcs_leader(master, &o, &in);
	Py_END_ALLOW_THREADS
	if (r < 0)
		return PyLong_FromLong(r);
	PyObject *t = Py_BuildValue("(NKss)", PyBool_FromLong(in->confirmed), (unsigned long long)in->term, in->leader,
				    in->named_by);
	mcs_leader_info_free(in);
	return t;
}

static PyMethodDef core_methods[] = {
	{ "master_addr_why", core_master_addr_why, METH_O,
	  "master_addr_why(addr) -> None, or why addr is no master address (HOST:PORT, etcd://H:P;H:P...)" },
	{ "leader", core_leader, METH_VARARGS,
	  "leader(master, key_file=None, timeout_ms=0) -> (confirmed, term, leader, named_by) or a negative status" },
	{ "strerror", core_strerror, METH_O, "strerror(status) -> str: mcstore's words for a negative status" },
	{ "error_detail", core_error_detail, METH_NOARGS,
	  "error_detail() -> int: the detail of the last refusal in this thread (ms of lease left, nodes)" },
	{ NULL, NULL, 0, NULL },
};

static int add_constants(PyObject *m)
{
	static const struct {
		const char *name;
		long value;
	} k[] = {
		{ "REPL_ALL_OR_NOTHING", MCS_REPL_ALL_OR_NOTHING },
		{ "REPL_SOFT_PIN", MCS_REPL_SOFT_PIN },
		{ "REPL_HARD_PIN", MCS_REPL_HARD_PIN },
#if MCSTORE_CHECK_VERSION(1, 1)
		{ "PUT_UPSERT", MCS_PUT_UPSERT },
#endif
		{ "CLIENT_PREFAULT", MCS_CLIENT_PREFAULT },
		{ "CLIENT_VIA_DAEMON_META", MCS_CLIENT_VIA_DAEMON_META },
		{ "CLIENT_VIA_DAEMON_DATA", MCS_CLIENT_VIA_DAEMON_DATA },
		{ "KEY_MAX", MCS_KEY_MAX },
		{ "MAX_REPLICAS", MCS_MAX_REPLICAS },
		{ "MAX_LOCATIONS", MCS_MAX_LOCATIONS },
		{ "BATCH_MAX", MCS_BATCH_MAX },
	};
	for (size_t i = 0; i < sizeof(k) / sizeof(k[0]); i++)
		if (PyModule_AddIntConstant(m, k[i].name, k[i].value) < 0)
			return -1;
	if (PyModule_AddStringConstant(m, "DEFAULT_SOCKET", MCS_DEFAULT_SOCKET) < 0 ||
	    PyModule_AddStringConstant(m, "LIBRARY_VERSION", mcs_version()) < 0 ||
	    PyModule_AddStringConstant(m, "VERSION", PACKAGE_VERSION) < 0)
		return -1;
	return 0;
}

static struct PyModuleDef core_module = {
	PyModuleDef_HEAD_INIT,
	.m_name = "mcstore._core",
	.m_doc = "The C core of mcstore's Python package, over libmcstore (see mcstore-python(3)).",
	.m_size = -1,
	.m_methods = core_methods,
};

PyMODINIT_FUNC PyInit__core(void);
PyMODINIT_FUNC PyInit__core(void)
{
	if (PyType_Ready(&CoreClient_Type) < 0 || PyType_Ready(&CoreView_Type) < 0)
		return NULL;
	PyObject *m = PyModule_Create(&core_module);
	if (!m)
		return NULL;
	if (PyModule_AddFunctions(m, core_mem_methods) < 0 || add_constants(m) < 0 ||
	    PyModule_AddObjectRef(m, "Client", (PyObject *)&CoreClient_Type) < 0 ||
	    PyModule_AddObjectRef(m, "View", (PyObject *)&CoreView_Type) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
