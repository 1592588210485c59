# SPDX-License-Identifier: MIT
"""mcstore.leader() and Client.leader(), and the master addresses the
package takes (HOST:PORT or etcd://H:P;H:P..., mcstored's rules): against
the session's master (no HA), and against a real etcd with two real HA
masters this module starts (the leader killed: the other is named; both
killed: NoLeader). Every wait is for a condition, within a generous bound."""

import errno
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

import mcstore
from conftest import MASTER
from mcstore.config import MooncakeConfig
from mcstore.localcluster import Daemon

BOUND_S = 90  # a loaded machine's failover, well within


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(cond, what, bound=BOUND_S):
    end = time.monotonic() + bound
    while True:
        last = cond()
        if last:
            return last
        if time.monotonic() > end:
            pytest.fail("not within %d s: %s" % (bound, what))
        time.sleep(0.05)


# ---- addresses ---------------------------------------------------------------

@pytest.mark.parametrize("addr,names", [
    ("localhost", "no port"),
    ("h:0", "port 1..65535"),
    ("http://h:1", "scheme 'http' unknown"),
    ("etcd://", "no etcd member"),
    ("etcd://a:1;b", "etcd member 'b': no port"),
    ("etcd://a:1;;c:3", "etcd member '': empty"),
])
def test_bad_addresses_refused_with_the_reason(addr, names):
    with pytest.raises(ValueError, match=names):
        mcstore.check_master_address(addr)
    with pytest.raises(ValueError, match=names):
        mcstore.leader(addr)
    with pytest.raises(ValueError, match=names):
        MooncakeConfig(local_hostname="h", metadata_server="P2PHANDSHAKE", master_server_address=addr)


@pytest.mark.parametrize("addr", ["127.0.0.1:50051", "[::1]:1", "etcd://a:1;b:2,c:3", "etcd://http://a:1"])
def test_good_addresses_taken(addr):
    assert mcstore.check_master_address(addr) == addr
    MooncakeConfig(local_hostname="h", metadata_server="P2PHANDSHAKE", master_server_address=addr)


def test_setup_refuses_a_bad_master(n1):
    from mooncake.store import MooncakeDistributedStore
    s = MooncakeDistributedStore()
    assert s.setup("127.0.0.1", "P2PHANDSHAKE", 0, 16 << 20, "tcp", "", "etcd://127.0.0.1:1;nohost") == -600
    s.close()


def test_no_master_given(monkeypatch):
    monkeypatch.delenv("MCSTORE_MASTER", raising=False)
    with pytest.raises(ValueError, match="needs master="):
        mcstore.leader()


# ---- a master without HA ---------------------------------------------------------

def test_client_leader_of_a_plain_master(cluster, n1, monkeypatch):
    with mcstore.Client() as c:
        got = c.leader(cluster.master_addr)
        assert got == mcstore.Leader(cluster.master_addr, 0, "master " + cluster.master_addr)
        monkeypatch.setenv("MCSTORE_MASTER", cluster.master_addr)
        assert c.leader().address == cluster.master_addr
    with pytest.raises(mcstore.Closed):
        c.leader(cluster.master_addr)


def test_unreachable_raises_its_error():
    for addr in ("127.0.0.1:%d" % free_port(), "etcd://127.0.0.1:%d" % free_port()):
        with pytest.raises(mcstore.Error) as e:
            mcstore.leader(addr, timeout=5)
        assert e.value.errno == errno.ECONNREFUSED, (addr, e.value)
        assert str(e.value).startswith("who leads, asked of %s: " % addr), e.value


# ---- HA masters through a real etcd -----------------------------------------------

@pytest.fixture(scope="module")
def ha(tmp_path_factory):
    if not shutil.which("etcd"):
        pytest.skip("etcd is not installed (package etcd-server)")
    d = str(tmp_path_factory.mktemp("ha"))
    cp, pp = free_port(), free_port()
    log = open(os.path.join(d, "etcd.log"), "ab")
    etcd = subprocess.Popen(
        ["etcd", "--name", "e1", "--data-dir", os.path.join(d, "e1.etcd"),
         "--listen-client-urls", "http://127.0.0.1:%d" % cp, "--advertise-client-urls", "http://127.0.0.1:%d" % cp,
         "--listen-peer-urls", "http://127.0.0.1:%d" % pp, "--initial-advertise-peer-urls",
         "http://127.0.0.1:%d" % pp, "--initial-cluster", "e1=http://127.0.0.1:%d" % pp,
         "--election-timeout", "500", "--heartbeat-interval", "100"],
        stdin=subprocess.DEVNULL, stdout=log, stderr=log)

    def healthy():
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d/health" % cp, timeout=2) as r:
                return b'"health":"true"' in r.read()
        except OSError:
            return etcd.poll() is not None and pytest.fail("etcd exited with %s" % etcd.returncode)

    masters = []
    try:
        wait_for(healthy, "etcd healthy")
        ep = "127.0.0.1:%d" % cp
        for name in ("m1", "m2"):
            masters.append(Daemon(name, [MASTER, "--no-config", "--listen", "127.0.0.1", "--port", "0",
                                         "--enable-ha", "--etcd-endpoints", ep, "--etcd-lease-ttl", "3"],
                                  d).wait_ready())
        yield ep, {"127.0.0.1:%d" % m.status_port(): m for m in masters}
    finally:
        for m in masters:
            m.stop()
        etcd.send_signal(signal.SIGTERM)
        etcd.wait(60)
        log.close()


def confirmed(master):
    try:
        return mcstore.leader(master)
    except mcstore.NoLeader:
        return None


def test_ha_leader_named_then_the_new_one_then_none(ha):
    ep, masters = ha
    first = wait_for(lambda: confirmed("etcd://" + ep), "a leader through etcd")
    assert first.address in masters and first.term > 0 and first.named_by == "etcd " + ep
    standby = next(a for a in masters if a != first.address)
    # a standby names the leader, who confirms it (once the standby has
    # read etcd's key: it polls it)
    got = wait_for(lambda: confirmed(standby), "the standby naming the leader")
    assert got == mcstore.Leader(first.address, first.term, "master " + standby)
    # a list whose first member does not answer
    assert mcstore.leader("etcd://127.0.0.1:%d;%s" % (free_port(), ep)).address == first.address

    old = masters[first.address]
    old.proc.send_signal(signal.SIGKILL)
    old.proc.wait()
    new = wait_for(lambda: (lambda g: g if g and g.address == standby else None)(confirmed("etcd://" + ep)),
                   "the standby named leader after the leader was killed")
    assert new.term > first.term

    last = masters[standby]
    last.proc.send_signal(signal.SIGKILL)
    last.proc.wait()
    with pytest.raises(mcstore.NoLeader) as e:
        wait_for(lambda: mcstore.leader("etcd://" + ep) and False, "NoLeader with no master left")
    assert e.value.errno == errno.EREMCHG and e.value.named_by == "etcd " + ep
    assert e.value.leader in ("", standby)

    def names_none():
        try:
            mcstore.leader("etcd://" + ep)
        except mcstore.NoLeader as n:
            return n.leader == "" and "names none" in str(n)
        return False
    wait_for(names_none, "etcd naming none once the dead leader's lease ran out")
