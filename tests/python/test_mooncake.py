# SPDX-License-Identifier: MIT
"""MooncakeDistributedStore on a real cluster: every method, with
Mooncake's return values and codes."""

import ctypes
import errno
import threading

import pytest

from mooncake.store import (
    MooncakeDistributedStore, MooncakeHostMemAllocator, ReplicaStatus, ReplicateConfig, SoftPinAction,
)

NOT_FOUND, EXISTS, HAS_LEASE, NOT_READY, INVALID = -704, -705, -706, -703, -600


def pattern(n, seed=1):
    """n bytes that depend on seed and position."""
    b = bytearray(n)
    x = (seed * 2654435761 + 1) & 0xFFFFFFFF
    for i in range(0, n, 4096):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        chunk = x.to_bytes(4, "little") * 1024
        b[i:i + 4096] = chunk[: n - i]
    return bytes(b)


class Mem:
    """Host memory by address, as engines hand it to zero-copy calls."""

    def __init__(self, n):
        self.buf = ctypes.create_string_buffer(n)
        self.ptr = ctypes.addressof(self.buf)
        self.n = n

    def write(self, off, data):
        ctypes.memmove(self.ptr + off, data, len(data))

    def read(self, off, n):
        return ctypes.string_at(self.ptr + off, n)


# ---- setup and lifecycle ----------------------------------------------------------


def test_setup_positional_keywords_and_dict(cluster, n1):
    s = MooncakeDistributedStore()
    assert s.health_check() == 1
    assert s.setup(local_hostname="127.0.0.1", metadata_server="P2PHANDSHAKE", global_segment_size=0,
                   local_buffer_size=16 << 20, protocol="tcp", rdma_devices="",
                   master_server_addr=cluster.master_addr) == 0
    assert s.health_check() == 0
    assert s.get_hostname() == "n1"
    assert s.close() == 0 and s.close() == 0
    assert s.health_check() == 1
    assert s.setup({"local_hostname": "127.0.0.1", "metadata_server": "P2PHANDSHAKE",
                    "global_segment_size": "0", "local_buffer_size": "16MB", "protocol": "tcp",
                    "master_server_addr": cluster.master_addr}) == 0
    assert s.health_check() == 0
    s.close()


def test_setup_refusals(cluster, n1):
    s = MooncakeDistributedStore()
    with pytest.raises(TypeError):
        s.setup("127.0.0.1", "P2PHANDSHAKE", 0)                       # the first 7 are required
    with pytest.raises(TypeError):
        s.setup("127.0.0.1", "P2PHANDSHAKE", "big", 0, "tcp", "", cluster.master_addr)
    with pytest.raises(TypeError):
        s.setup("127.0.0.1", "P2PHANDSHAKE", 0, 0, "tcp", "", cluster.master_addr, bogus=1)
    assert s.setup("127.0.0.1", "P2PHANDSHAKE", 0, 0, "rdma", "", cluster.master_addr) == INVALID
    assert s.setup("127.0.0.1", "P2PHANDSHAKE", 0, 0, "carrier-pigeon", "", cluster.master_addr) == INVALID
    assert s.setup("", "P2PHANDSHAKE", 0, 0, "tcp", "", cluster.master_addr) == INVALID
    assert s.setup({"local_hostname": "h", "metadata_server": "m", "global_segment_size": "16MiB"}) == INVALID
    assert s.setup({"local_hostname": "h"}) == INVALID                  # metadata_server is required
    assert s.health_check() == 1


def test_calls_before_setup_and_after_close(cluster, n1, key):
    s = MooncakeDistributedStore()
    for st in (s, None):
        if st is None:
            st = MooncakeDistributedStore()
            assert st.setup("127.0.0.1", "P2PHANDSHAKE", 0, 0, "tcp", "", cluster.master_addr) == 0
            assert st.put(key, b"v") == 0
            st.close()
        assert st.put(key, b"v") == INVALID
        assert st.get(key) == b""
        assert st.get_batch([key]) == [b""]
        assert st.is_exist(key) == INVALID
        assert st.batch_is_exist([key]) == [INVALID]
        assert st.get_into(key, 0, 0) == INVALID
        assert st.batch_get_into([key], [0], [0]) == [INVALID]
        assert st.batch_put_from([key], [0], [1]) == [INVALID]
        assert st.remove(key) == INVALID
        assert st.get_buffer(key) is None
        assert st.get_replica_desc(key) == []
        assert st.get_size(key) == INVALID


# ---- plain put and get ------------------------------------------------------------


@pytest.mark.parametrize("size", [1, 4096, 1 << 20, 16 << 20, 64 << 20])
def test_round_trip_sizes(store, key, size):
    data = pattern(size, size)
    assert store.put(key, data) == 0
    assert store.get(key) == data
    assert store.get_size(key) == size
    assert store.is_exist(key) == 1


def test_zero_bytes(store, key):
    assert store.put(key, b"") == INVALID          # as Mooncake: nothing to allocate
    assert store.put_from(key, 0, 0) == 0          # as Mooncake: 0, nothing stored
    assert store.is_exist(key) == 0


def test_put_existing_keeps_old_value(store, key):
    assert store.put(key, b"first") == 0
    assert store.put(key, b"second") == 0
    assert store.get(key) == b"first"


def test_missing_keys(store, key):
    assert store.get(key) == b""
    assert store.is_exist(key) == 0
    assert store.get_size(key) == NOT_FOUND
    assert store.remove(key) == NOT_FOUND
    assert store.get_buffer(key) is None
    assert store.get_replica_desc(key) == []
    assert store.batch_get_replica_desc([key]) == {}
    m = Mem(16)
    assert store.get_into(key, m.ptr, 16) == NOT_FOUND


def test_put_parts_and_batches(store, key):
    assert store.put_parts(key, b"ab", bytearray(b"cd"), memoryview(b"ef")) == 0
    assert store.get(key) == b"abcdef"
    with pytest.raises(RuntimeError):
        store.put_parts(key + "x", memoryview(bytes(8)).cast("I"))
    keys = [key + "-%d" % i for i in range(10)]
    vals = [pattern(100 + i, i) for i in range(10)]
    assert store.put_batch(keys, vals) == 0
    assert store.get_batch(keys + [key + "-none"]) == vals + [b""]
    assert store.put_batch(keys, vals[:3]) == INVALID            # lengths differ
    assert store.put_batch([], []) == 0
    assert store.get_batch([]) == []


def test_buffer_protocol_objects(store, key):
    np = pytest.importorskip("numpy")
    a = np.arange(1000, dtype=np.float32)
    assert store.put(key, a) == 0
    assert store.get(key) == a.tobytes()                 # bytes, not elements
    b = np.zeros(1000, dtype=np.float32)
    assert store.get_into(key, b.ctypes.data, b.nbytes) == a.nbytes
    assert (a == b).all()
    with pytest.raises((BufferError, ValueError)):
        store.put(key + "s", a[::2])                     # not contiguous: refused, not mangled


def test_wrong_argument_types(store, key):
    for bad in (None, 1.5, ["k"]):
        with pytest.raises(TypeError):
            store.put(bad, b"v")
    with pytest.raises(TypeError):
        store.put(key, 12)
    with pytest.raises(TypeError):
        store.put(key, "a str is not bytes")
    with pytest.raises(TypeError):
        store.get_into(key, "0x1000", 10)
    with pytest.raises(TypeError):
        store.batch_get_into(key, [1], [1])              # a str is not a list of keys
    with pytest.raises(ValueError):
        store.put("a\0b", b"v")
    assert store.is_exist(key) == 0                      # nothing was stored meanwhile


def test_buffer_handles(store, key):
    data = pattern(1 << 20, 7)
    assert store.put(key, data) == 0
    h = store.get_buffer(key)
    assert h.size() == len(h) == len(data) and h.ptr() != 0
    assert bytes(h) == data and memoryview(h).readonly
    assert store.remove(key) == HAS_LEASE                # held while the handle lives
    hs = store.batch_get_buffer([key, key + "-none"])
    assert hs[1] is None and bytes(hs[0]) == data
    del h, hs
    assert store.remove(key, force=True) == 0


# ---- zero-copy ----------------------------------------------------------------------


def test_registered_buffers(store, key):
    m = Mem(4 << 20)
    assert store.register_buffer(m.ptr, m.n) == 0
    assert store.register_buffer(m.ptr, m.n) == INVALID          # twice
    data = [pattern(1000 * (i + 1), i) for i in range(4)]
    offs = [0, 1 << 20, 2 << 20, 3 << 20]
    for o, d in zip(offs, data):
        m.write(o, d)
    keys = [key + "-%d" % i for i in range(4)]
    assert store.put_from(keys[0], m.ptr, len(data[0])) == 0
    assert store.batch_put_from(keys[1:], [m.ptr + o for o in offs[1:]], [len(d) for d in data[1:]]) == [0, 0, 0]
    out = Mem(4 << 20)
    assert store.register_buffer(out.ptr, out.n) == 0
    # a buffer larger than the object is fine: the object's size comes back
    assert store.batch_get_into(keys, [out.ptr + o for o in offs], [1 << 20] * 4) == [len(d) for d in data]
    for o, d in zip(offs, data):
        assert out.read(o, len(d)) == d
    assert store.get_into(keys[3], out.ptr, 10) == INVALID       # smaller than the object
    assert store.batch_get_into(keys, [out.ptr], [10]) == [INVALID] * 4   # lengths differ
    assert store.batch_put_from([], [], []) == []
    assert store.batch_get_into([], [], []) == []
    assert store.unregister_buffer(m.ptr) == 0
    assert store.unregister_buffer(m.ptr) == INVALID
    assert store.unregister_buffer(out.ptr) == 0


def test_multi_buffers_and_ranges(store, key):
    m = Mem(1 << 16)
    m.write(0, b"A" * 100)
    m.write(1000, b"B" * 50)
    assert store.batch_put_from_multi_buffers([key], [[m.ptr, m.ptr + 1000]], [[100, 50]]) == [0]
    assert store.get(key) == b"A" * 100 + b"B" * 50
    assert store.batch_get_into_multi_buffers([key], [[m.ptr + 2000, m.ptr + 3000]], [[120, 30]]) == [150]
    assert m.read(2000, 120) == b"A" * 100 + b"B" * 20 and m.read(3000, 30) == b"B" * 30
    assert store.batch_put_from_multi_buffers([key], [[m.ptr]], [[1, 2]]) == [INVALID]
    r = store.get_into_ranges([m.ptr + 5000], [[key]], [[[0, 10]]], [[[95, 0]]], [[[10, 5]]])
    assert r == [[[10, 5]]]
    assert m.read(5000, 10) == b"AAAAABBBBB" and m.read(5010, 5) == b"AAAAA"
    r = store.get_into_ranges([m.ptr], [[key]], [[[0]]], [[[140]]], [[[20]]])   # past the end
    assert r == [[[INVALID]]]


def test_device_memory_is_refused(store, key):
    # an address no mapping covers, as a GPU pointer is for host code
    gpu = 0x7E0000000000
    assert store.register_buffer(gpu, 1 << 20) == INVALID
    assert store.put_from(key, gpu, 4096) == INVALID
    assert store.get_into(key, gpu, 4096) in (INVALID, NOT_FOUND)
    assert store.batch_put_from([key], [gpu], [4096]) == [INVALID]
    assert store.is_exist(key) == 0
    assert store.put(key, b"fine") == 0
    assert store.get_into(key, gpu, 4096) == INVALID


def test_host_allocator(store, key):
    a = MooncakeHostMemAllocator()
    p = a.alloc(1 << 20)
    ctypes.memset(p, 0x5A, 1 << 20)
    assert store.put_from(key, p, 1 << 20) == 0
    assert store.get(key) == b"\x5a" * (1 << 20)
    assert a.free(p) == 0
    assert a.free(p) != 0


# ---- query and remove ----------------------------------------------------------------


def test_is_exist_is_exactly_one_or_zero(store, key):
    assert store.put(key, b"v") == 0
    assert store.is_exist(key) is not True and store.is_exist(key) == 1
    assert store.batch_is_exist([key, key + "-none"]) == [1, 0]
    assert store.batch_is_exist([]) == []


def test_leased_remove_and_force(store, key):
    assert store.put(key, b"v") == 0
    assert store.get(key) == b"v"                  # a read lease, 10 s long here
    assert store.remove(key) == HAS_LEASE
    assert store.remove(key, force=True) == 0
    assert store.is_exist(key) == 0
    assert store.put(key + "-a", b"1") == 0 and store.put(key + "-b", b"2") == 0
    assert store.batch_remove([key + "-a", key + "-b", key + "-c"]) == [0, 0, NOT_FOUND]


def test_remove_by_regex_and_all(store, key):
    for i in range(5):
        assert store.put("%s-re-%d" % (key, i), b"x") == 0
    assert store.remove_by_regex("[") == INVALID
    assert store.remove_by_regex("^" + key + "-re-[0-2]$") == 3
    assert store.batch_is_exist(["%s-re-%d" % (key, i) for i in range(5)]) == [0, 0, 0, 1, 1]
    n = store.remove_all(force=True)
    assert n >= 2
    assert store.batch_is_exist(["%s-re-%d" % (key, i) for i in (3, 4)]) == [0, 0]


def test_replica_descriptors(cluster, store, key):
    cfg = ReplicateConfig()
    cfg.replica_num = 2
    assert store.put(key, pattern(5000), cfg) == 0
    reps = store.get_replica_desc(key)
    assert len(reps) == 2
    assert all(r.status == ReplicaStatus.COMPLETE and r.is_memory_replica() for r in reps)
    d = [r.get_memory_descriptor().buffer_descriptor for r in reps]
    assert [x.size for x in d] == [5000, 5000]
    assert {x.node for x in d} == {"n1", "n2"}
    assert store.batch_get_replica_desc([key, key + "-none"]).keys() == {key}


def test_replicate_config(store, key):
    c = ReplicateConfig()
    assert str(c).startswith("ReplicateConfig: { replica_num: 1,")
    with pytest.raises(TypeError):
        c.soft_pin_ttl_ms = -1
    with pytest.raises(TypeError):
        c.replica_num = "2"
    c.soft_pin_ttl_ms = 1000                          # with PRESERVE: refused, as Mooncake's master does
    assert store.put(key, b"v", c) == INVALID
    c.soft_pin_action = SoftPinAction.ENABLE
    assert store.put(key, b"v", c) == 0
    c2 = ReplicateConfig()
    c2.preferred_segment = "n2"
    assert store.put(key + "-p", b"v", c2) == 0
    reps = store.get_replica_desc(key + "-p")
    assert reps[0].get_memory_descriptor().buffer_descriptor.node == "n2"
    c3 = ReplicateConfig()
    c3.replica_num = 0
    assert store.put(key + "-z", b"v", c3) == INVALID


# ---- many threads ------------------------------------------------------------------


def test_eight_threads(store, key):
    errors = []

    def work(t):
        try:
            for i in range(50):
                k = "%s-t%d-%d" % (key, t, i)
                d = pattern(4096 + t * 100 + i, t * 1000 + i)
                assert store.put(k, d) == 0
                assert store.get(k) == d
                assert store.is_exist(k) == 1
        except Exception as e:  # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_errno_mapping_table():
    from mcstore.mooncake import code
    assert code(-errno.ENOENT) == NOT_FOUND
    assert code(-errno.EEXIST) == EXISTS
    assert code(-errno.EBUSY) == HAS_LEASE
    assert code(-errno.EAGAIN) == NOT_READY
    assert code(-errno.ENOSPC) == -200
    assert code(-errno.EBADMSG) == -801
    assert code(1234) == 1234


# ---- upsert ----------------------------------------------------------------------------


def test_upsert_replaces_while_readers_keep_the_old_bytes(store, key):
    old, new = pattern(1 << 20, 1), pattern(1 << 20, 2)
    cfg = ReplicateConfig()
    cfg.preferred_segment = "n1"                   # local: the handle is a zero-copy view
    assert store.upsert(key, old, cfg) == 0        # a new key: a plain put
    h = store.get_buffer(key)
    assert store.upsert(key, new, cfg) == 0
    assert store.get(key) == new                   # visible at once, whole
    assert bytes(h) == old                         # the reader still has the old bytes
    assert store.put(key, pattern(10)) == 0 and store.get(key) == new   # put keeps, as before
    del h
    m = Mem(3 << 20)
    m.write(0, b"x" * 100)
    assert store.upsert_from(key, m.ptr, 100) == 0 and store.get(key) == b"x" * 100
    assert store.upsert_parts(key, b"a", b"b") == 0 and store.get(key) == b"ab"
    keys = [key + "-1", key + "-2"]
    assert store.put_batch(keys, [b"1", b"2"]) == 0
    assert store.upsert_batch(keys, [b"one", b"two"]) == 0
    assert store.get_batch(keys) == [b"one", b"two"]
    m.write(1000, b"y" * 10)
    assert store.batch_upsert_from(keys, [m.ptr, m.ptr + 1000], [100, 10]) == [0, 0]
    assert store.get_batch(keys) == [b"x" * 100, b"y" * 10]
    bad = ReplicateConfig()
    bad.soft_pin_ttl_ms = 5000                     # with PRESERVE: refused, as Mooncake's tests expect
    assert store.upsert(key, b"z", bad) == INVALID


def test_client_upsert(n1, key):
    import mcstore
    with mcstore.Client() as c:
        c.put(key, b"first")
        with pytest.raises(mcstore.Exists):
            c.put(key, b"second")
        c.put(key, b"second", upsert=True)
        assert c.get(key) == b"second"
