# SPDX-License-Identifier: MIT
"""Embedded mode: a store set up where no mcstored runs starts a private
one with the segment size asked, which joins the cluster and lives as long
as the process (close(), or the process's death, even by SIGKILL)."""

import os
import signal
import time

import mcstore
from conftest import run_python

MiB = 1 << 20


def segments(c):
    return {s["name"]: s for s in c.stat()["segments"]}


def wait_for(pred, what, timeout=60):
    deadline = time.monotonic() + timeout
    while not pred():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)


def gone(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie of ours is gone too
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[1].split()[0] == "Z"
    except OSError:
        return True


def test_private_daemon_joins_and_leaves(cluster, monkeypatch, tmp_path, key):
    from mooncake.store import MooncakeDistributedStore, ReplicateConfig
    monkeypatch.setenv("MCSTORE_SOCKET", str(tmp_path / "no-daemon-here.sock"))
    s = MooncakeDistributedStore()
    assert s.setup("127.0.0.1", "P2PHANDSHAKE", 48 * MiB, 16 * MiB, "tcp", "", cluster.master_addr) == 0
    d = s._daemon
    assert d is not None and d.proc.poll() is None
    name = s.get_hostname()
    assert name.endswith("-py%d" % os.getpid())
    with mcstore.Client(cluster.nodes["n1"].sock) as n1:
        seg = segments(n1)[name + "-0"]
        assert seg["size"] == 48 * MiB and seg["node"] == name
        cfg = ReplicateConfig()
        cfg.preferred_segment = name
        assert s.put(key, b"kept by the private daemon", cfg) == 0
        assert s.get_replica_desc(key)[0].get_memory_descriptor().buffer_descriptor.node == name
        assert n1.get(key) == b"kept by the private daemon"      # from another node
        pid, sock = d.proc.pid, d.socket_path
        assert os.path.exists(sock)
        assert s.close() == 0
        assert gone(pid)
        wait_for(lambda: name + "-0" not in segments(n1), "the private segment to be unmounted")
        assert not os.path.exists(sock)


def test_private_daemon_dies_with_its_process(cluster, tmp_path):
    code = """
import os, signal, sys
from mooncake.store import MooncakeDistributedStore
s = MooncakeDistributedStore()
r = s.setup("127.0.0.1", "P2PHANDSHAKE", 8 << 20, 0, "tcp", "", sys.argv[1] if len(sys.argv) > 1 else %r)
print(r, s._daemon.proc.pid, s.get_hostname(), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
""" % cluster.master_addr
    env = dict(os.environ, MCSTORE_SOCKET=str(tmp_path / "none.sock"))
    r = run_python(code, env)
    assert r.returncode == -signal.SIGKILL, r.stderr
    rc, pid, name = r.stdout.split()
    assert rc == "0"
    # the daemon saw its pipe end and shut down; the master forgets the segment
    wait_for(lambda: gone(int(pid)), "the private mcstored to exit")
    with mcstore.Client(cluster.nodes["n1"].sock) as n1:
        wait_for(lambda: name + "-0" not in segments(n1), "the dead process's segment to go")


def test_no_daemon_and_no_segment(cluster, monkeypatch, tmp_path):
    from mooncake.store import MooncakeDistributedStore
    monkeypatch.setenv("MCSTORE_SOCKET", str(tmp_path / "none.sock"))
    s = MooncakeDistributedStore()
    assert s.setup("127.0.0.1", "P2PHANDSHAKE", 0, 0, "tcp", "", cluster.master_addr) == -900
    assert s.health_check() == 1


def test_private_daemon_without_a_master(monkeypatch, tmp_path):
    from mooncake.store import MooncakeDistributedStore
    import mcstore.embedded
    monkeypatch.setattr(mcstore.embedded, "READY_TIMEOUT_S", 5.0)
    monkeypatch.setenv("MCSTORE_SOCKET", str(tmp_path / "none.sock"))
    s = MooncakeDistributedStore()
    # nobody listens on port 1 of 127.0.0.1: the daemon never mounts
    assert s.setup("127.0.0.1", "P2PHANDSHAKE", 8 * MiB, 0, "tcp", "", "127.0.0.1:1") == -900
    assert s._daemon is None and s.health_check() == 1
