# SPDX-License-Identifier: MIT
"""mcstore.Client, the Pythonic API, on a real cluster; and what both
APIs share: remote reads, tensors, views, closed handles."""

import errno
import os

import pytest

import mcstore
from conftest import run_python
from test_mooncake import Mem, pattern


@pytest.fixture
def client(n1):
    with mcstore.Client() as c:
        yield c


def test_put_get_and_exceptions(client, key):
    client.put(key, b"value")
    assert client.get(key) == b"value"
    assert client.exists(key) and client.size(key) == 5
    with pytest.raises(mcstore.Exists) as e:
        client.put(key, b"other")
    assert e.value.status == -errno.EEXIST and e.value.errno == errno.EEXIST
    with pytest.raises(mcstore.NotFound):
        client.get(key + "-none")
    with pytest.raises(KeyError):                 # NotFound is a KeyError too
        client.size(key + "-none")
    assert not client.exists(key + "-none")
    with pytest.raises(mcstore.Busy) as b:        # the get above took a lease
        client.remove(key)
    assert b.value.lease_ms > 0
    client.remove(key, force=True)
    assert not client.exists(key)


def test_parts_many_and_keys(client, key):
    client.put(key, [b"ab", bytearray(b"cd")])
    assert client.get(key) == b"abcd"
    failed = client.put_many({key + "-1": b"1", key + "-2": b"22", key: b"again"})
    assert list(failed) == [key] and isinstance(failed[key], mcstore.Exists)
    bufs = [bytearray(8), bytearray(8), bytearray(8)]
    res = client.get_many([key + "-1", key + "-2", key + "-3"], bufs)
    assert res[:2] == [1, 2] and isinstance(res[2], mcstore.NotFound)
    assert bytes(bufs[1][:2]) == b"22"
    # any iterable of keys, read once
    assert client.get_many((k for k in [key + "-1"]), [bytearray(8)]) == [1]
    assert {key, key + "-1", key + "-2"} <= set(client.keys(key))
    assert client.exists_many([key, key + "-3"]) == [True, False]
    size, checksum, replicas = client.locate(key)
    assert size == 4 and replicas[0][0] == 3       # COMPLETE
    st = client.stat()
    assert st["local_node"] == "n1" and st["n_objects"] >= 3 and len(st["segments"]) == 2


def test_view_holds_the_object(client, key):
    data = pattern(1 << 20, 3)
    client.put(key, data, locations="n1")
    with client.get_view(key) as v:
        assert v.readonly and bytes(v) == data
        with pytest.raises(mcstore.Busy) as b:
            client.remove(key)
        assert b.value.lease_ms == 0 or b.value.lease_ms > 0
        with pytest.raises(TypeError):
            v[0] = 1                               # read-only
    del v
    # released: only the read lease of the view is left, which force ignores
    client.remove(key, force=True)


def test_view_of_a_remote_object_is_refused(client, key):
    client.put(key, b"far away", locations="n2")
    with pytest.raises(mcstore.NotLocal):
        client.get_view(key)
    assert client.get(key) == b"far away"          # a get reads it from n2


def test_remote_round_trips(cluster, n1, key):
    from mooncake.store import MooncakeDistributedStore, ReplicateConfig
    s = MooncakeDistributedStore()
    assert s.setup("127.0.0.1", "P2PHANDSHAKE", 0, 64 << 20, "tcp", "", cluster.master_addr) == 0
    cfg = ReplicateConfig()
    cfg.preferred_segment = "n2"
    sizes = [1, 4096, 1 << 20, 16 << 20]
    keys = ["%s-%d" % (key, n) for n in sizes]
    for k, n in zip(keys, sizes):
        assert s.put(k, pattern(n, n), cfg) == 0
        assert s.get_replica_desc(k)[0].get_memory_descriptor().buffer_descriptor.node == "n2"
        assert s.get(k) == pattern(n, n)
    m = Mem(sum(sizes))
    offs = [sum(sizes[:i]) for i in range(len(sizes))]
    assert s.batch_get_into(keys, [m.ptr + o for o in offs], sizes) == sizes
    for o, n in zip(offs, sizes):
        assert m.read(o, n) == pattern(n, n)
    h = s.get_buffer(keys[2])                        # a copy: the object is on n2
    assert bytes(h) == pattern(1 << 20, 1 << 20) and h.ptr() != 0
    s.close()


def test_numpy_and_torch_round_trips(store, key):
    np = pytest.importorskip("numpy")
    a = np.random.default_rng(5).standard_normal((4, 2, 8, 64, 16)).astype(np.float16)
    assert store.put_from(key + "-np", a.ctypes.data, a.nbytes) == 0
    b = np.empty_like(a)
    assert store.get_into(key + "-np", b.ctypes.data, b.nbytes) == a.nbytes
    assert np.array_equal(a, b)
    torch = pytest.importorskip("torch")
    t = torch.randn(4, 2, 8, 64, 16).to(torch.float16)
    ts = [t[i].contiguous() for i in range(4)]
    keys = ["%s-t%d" % (key, i) for i in range(4)]
    assert store.batch_put_from(keys, [x.data_ptr() for x in ts],
                                [x.numel() * x.element_size() for x in ts]) == [0] * 4
    out = [torch.empty_like(x) for x in ts]
    assert store.batch_get_into(keys, [x.data_ptr() for x in out],
                                [x.numel() * x.element_size() for x in out]) == [ts[0].numel() * ts[0].element_size()] * 4
    assert all(torch.equal(x, y) for x, y in zip(ts, out))
    assert store.put(key + "-tensor", t.numpy()) == 0              # the buffer protocol, via numpy
    assert store.get(key + "-tensor") == t.numpy().tobytes()


def test_closed_client(n1, key):
    c = mcstore.Client()
    c.close()
    assert c.closed
    with pytest.raises(mcstore.Closed):
        c.put(key, b"x")
    with pytest.raises(mcstore.Closed):
        c.get(key)


def test_no_daemon():
    with pytest.raises(mcstore.Error) as e:
        mcstore.Client("/nonexistent/mcstored.sock")
    assert e.value.errno == errno.ENOENT


def test_process_killed_mid_put_leaks_nothing(tmp_path, key):
    """A process killed while its puts are in flight: the node forgets it,
    the master revokes its puts, and every byte it held comes back. On a
    cluster of its own, so that nothing else is stored or evicted."""
    import time
    from conftest import Cluster
    cl = Cluster(str(tmp_path))
    try:
        node = cl.add_node("solo", "128M")
        env = dict(os.environ, MCSTORE_SOCKET=node.sock)
        code = """
import os, signal, threading, mcstore
c = mcstore.Client()
data = bytes(8 << 20)
def put(i):
    try:
        c.put("%s-%%d" %% i, data)
    except mcstore.Error:
        pass
ts = [threading.Thread(target=put, args=(i,)) for i in range(6)]
for t in ts: t.start()
os.kill(os.getpid(), signal.SIGKILL)
""" % key
        r = run_python(code, env)
        assert r.returncode == -9, r.stderr
        with mcstore.Client(node.sock) as c:
            deadline = time.monotonic() + 60
            while True:
                used = c.stat()["used"]
                stored = list(c.keys(key))
                if used == len(stored) * (8 << 20) or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            assert used == len(stored) * (8 << 20), (used, stored)
            for k in stored:
                assert c.get(k) == bytes(8 << 20)
        assert node.alive()
    finally:
        assert not cl.stop()


def test_man_page_names_every_method():
    page = os.path.join(os.path.dirname(__file__), "../../man/mcstore-python.3")
    with open(page, encoding="utf-8") as f:
        text = f.read().replace("\\-", "-").replace("\\(dq", '"')
    from mooncake.store import MooncakeDistributedStore
    missing = [m for m in dir(MooncakeDistributedStore) if not m.startswith("_") and m not in text]
    missing += [m for m in dir(mcstore.Client) if not m.startswith("_") and m not in text]
    assert not missing, "mcstore-python(3) does not name: %s" % ", ".join(missing)


def test_get_sizes_up_and_down(client, key):
    """get() reads into a bytes object sized by the last get's size: larger
    and smaller values in turn come back whole and exact."""
    sizes = [1 << 20, 10, 70000, 5, 3 << 20, 64 * 1024, 64 * 1024 + 1, 1]
    for i, n in enumerate(sizes):
        client.put("%s-%d" % (key, i), pattern(n, i))
    for _ in range(2):
        for i, n in enumerate(sizes):
            got = client.get("%s-%d" % (key, i))
            assert type(got) is bytes and len(got) == n and got == pattern(n, i)
