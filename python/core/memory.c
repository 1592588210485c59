/* SPDX-License-Identifier: MIT */
/*
 * Caller memory named by address (Mooncake's buffer_ptr arguments): which
 * ranges a call may read or write. An address that is not memory of this
 * process, such as a GPU pointer handed to a host-memory call, is refused
 * with -EFAULT before libmcstore touches it, never faulted on. Registered
 * ranges (register_buffer) are checked against the process's mappings
 * once, when registered; any other range at each call, in
 * /proc/self/maps. Host memory from host_alloc is registered at once.
 * The table is guarded by the GIL.
 */
#include "python/core/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

struct range {
	uintptr_t start, end;       /* [start, end) */
	bool mapped_here;           /* made by host_alloc: unmapped by host_free */
};

static struct range *ranges;    /* sorted by start, not overlapping */
static size_t n_ranges, cap_ranges;

/* The index of the first range whose end is above p. */
static size_t range_find(uintptr_t p)
{
	size_t lo = 0, hi = n_ranges;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (ranges[mid].end <= p)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Whether /proc/self/maps covers [start, end) with readable (and writable)
 * mappings, back to back. */
static bool maps_cover(uintptr_t start, uintptr_t end, bool writable)
{
	FILE *f = fopen("/proc/self/maps", "re");
	if (!f)
		return false;
	char *line = NULL;
	size_t cap = 0;
	uintptr_t at = start;
	while (at < end && getline(&line, &cap, f) > 0) {
		unsigned long a, b;
		char perm[5];
		if (sscanf(line, "%lx-%lx %4s", &a, &b, perm) != 3)
			break;
		if (b <= at)
			continue;
		if (a > at || perm[0] != 'r' || (writable && perm[1] != 'w'))
			break;
		at = b;
	}
	free(line);
	fclose(f);
	return at >= end;
}

int core_mem_check(uintptr_t ptr, size_t size, bool writable)
{
	if (size == 0)
		return 0;
	if (ptr == 0 || ptr + size < ptr)
		return -EFAULT;
	size_t i = range_find(ptr);
	if (i < n_ranges && ranges[i].start <= ptr && ptr + size <= ranges[i].end)
		return 0;
	return maps_cover(ptr, ptr + size, writable) ? 0 : -EFAULT;
}

static int range_add(uintptr_t ptr, size_t size, bool mapped_here)
{
	if (size == 0 || ptr == 0 || ptr + size < ptr)
		return -EINVAL;
	size_t i = range_find(ptr);
	if (i < n_ranges && ranges[i].start < ptr + size)
		return -EEXIST; /* overlaps a registered range */
	if (n_ranges == cap_ranges) {
		size_t cap = cap_ranges ? 2 * cap_ranges : 16;
		struct range *r = realloc(ranges, cap * sizeof(*r));
		if (!r)
			return -ENOMEM;
		ranges = r;
		cap_ranges = cap;
	}
	memmove(&ranges[i + 1], &ranges[i], (n_ranges - i) * sizeof(*ranges));
	ranges[i] = (struct range){ ptr, ptr + size, mapped_here };
	n_ranges++;
	return 0;
}

/* The index of the range starting at ptr, or n_ranges. */
static size_t range_at(uintptr_t ptr)
{
	size_t i = range_find(ptr);
	return i < n_ranges && ranges[i].start == ptr ? i : n_ranges;
}

static void range_del(size_t i)
{
	memmove(&ranges[i], &ranges[i + 1], (n_ranges - i - 1) * sizeof(*ranges));
	n_ranges--;
}

int core_mem_register(uintptr_t ptr, size_t size)
{
	if (size == 0 || ptr == 0 || ptr + size < ptr)
		return -EINVAL;
	/* host_alloc's memory is registered already: saying so again is fine */
	size_t i = range_find(ptr);
	if (i < n_ranges && ranges[i].mapped_here && ranges[i].start <= ptr && ptr + size <= ranges[i].end)
		return 0;
	if (!maps_cover(ptr, ptr + size, true))
		return -EFAULT;
	return range_add(ptr, size, false);
}

int core_mem_unregister(uintptr_t ptr)
{
	size_t i = range_at(ptr);
	if (i == n_ranges || ranges[i].mapped_here)
		return -ENOENT;
	range_del(i);
	return 0;
}

/* ---- the module's functions --------------------------------------------- */

static int parse_ptr_size(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t want, uintptr_t *ptr, uintptr_t *size)
{
	if (nargs != want) {
		PyErr_Format(PyExc_TypeError, "%zd arguments expected, %zd given", want, nargs);
		return -1;
	}
	if (core_uintptr(args[0], ptr) < 0)
		return -1;
	if (want > 1 && core_uintptr(args[1], size) < 0)
		return -1;
	return 0;
}

static PyObject *py_register(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	uintptr_t p, n;
	if (parse_ptr_size(args, nargs, 2, &p, &n) < 0)
		return NULL;
	return PyLong_FromLong(core_mem_register(p, n));
}

static PyObject *py_unregister(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	uintptr_t p, n = 0;
	if (parse_ptr_size(args, nargs, 1, &p, &n) < 0)
		return NULL;
	return PyLong_FromLong(core_mem_unregister(p));
}

static PyObject *py_check(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	uintptr_t p, n;
	if (nargs != 3) {
		PyErr_SetString(PyExc_TypeError, "check_memory(ptr, size, writable)");
		return NULL;
	}
	if (parse_ptr_size(args, 2, 2, &p, &n) < 0)
		return NULL;
	int w = PyObject_IsTrue(args[2]);
	if (w < 0)
		return NULL;
	return PyLong_FromLong(core_mem_check(p, n, w));
}

static PyObject *py_host_alloc(PyObject *self, PyObject *arg)
{
	uintptr_t n;
	if (core_uintptr(arg, &n) < 0)
		return NULL;
	if (n == 0)
		return PyLong_FromLong(-EINVAL);
	void *p;
	Py_BEGIN_ALLOW_THREADS
	p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	Py_END_ALLOW_THREADS
	if (p == MAP_FAILED)
		return PyLong_FromLong(-errno);
	int r = range_add((uintptr_t)p, n, true);
	if (r < 0) {
		munmap(p, n);
		return PyLong_FromLong(r);
	}
	return PyLong_FromVoidPtr(p);
}

static PyObject *py_host_free(PyObject *self, PyObject *arg)
{
	uintptr_t p;
	if (core_uintptr(arg, &p) < 0)
		return NULL;
	size_t i = range_at(p);
	if (i == n_ranges || !ranges[i].mapped_here)
		return PyLong_FromLong(-ENOENT);
	size_t n = ranges[i].end - ranges[i].start;
	range_del(i);
	munmap((void *)p, n);
	return PyLong_FromLong(0);
}

/* copy(dst_ptr, src, src_offset, size): size bytes of the buffer src from
 * src_offset to the checked address dst_ptr; 0, or a negative status. */
static PyObject *py_copy(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
	uintptr_t dst, off, n;
	if (nargs != 4) {
		PyErr_SetString(PyExc_TypeError, "copy(dst_ptr, src, src_offset, size)");
		return NULL;
	}
	if (core_uintptr(args[0], &dst) < 0 || core_uintptr(args[2], &off) < 0 || core_uintptr(args[3], &n) < 0)
		return NULL;
	Py_buffer b;
	if (PyObject_GetBuffer(args[1], &b, PyBUF_SIMPLE) < 0)
		return NULL;
	long r = 0;
	if (off > (uintptr_t)b.len || n > (uintptr_t)b.len - off)
		r = -ERANGE;
	else if ((r = core_mem_check(dst, n, true)) == 0) {
		Py_BEGIN_ALLOW_THREADS
		memmove((void *)dst, (const char *)b.buf + off, n);
		Py_END_ALLOW_THREADS
	}
	PyBuffer_Release(&b);
	return PyLong_FromLong(r);
}

PyMethodDef core_mem_methods[] = {
	{ "register_memory", (PyCFunction)(void (*)(void))py_register, METH_FASTCALL,
	  "register_memory(ptr, size) -> 0, -EFAULT (not writable memory of this process), -EEXIST, -EINVAL" },
	{ "unregister_memory", (PyCFunction)(void (*)(void))py_unregister, METH_FASTCALL,
	  "unregister_memory(ptr) -> 0 or -ENOENT" },
	{ "check_memory", (PyCFunction)(void (*)(void))py_check, METH_FASTCALL,
	  "check_memory(ptr, size, writable) -> 0 or -EFAULT" },
	{ "host_alloc", py_host_alloc, METH_O, "host_alloc(size) -> address of fresh registered memory, or a status" },
	{ "host_free", py_host_free, METH_O, "host_free(ptr) -> 0, or -ENOENT if host_alloc did not give it" },
	{ "copy", (PyCFunction)(void (*)(void))py_copy, METH_FASTCALL,
	  "copy(dst_ptr, src, src_offset, size) -> 0 or a status" },
	{ NULL, NULL, 0, NULL },
};
