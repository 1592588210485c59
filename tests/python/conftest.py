# SPDX-License-Identifier: MIT
"""pytest fixtures for the Python package: a real cluster on loopback
(mcstore-master and two mcstored from the build tree, in a private
directory: mcstore.localcluster starts each, ready once it says READY=1
on a notification socket of its own, and stops it by PID; each must exit
0), and a TAP report (MCS_TAP_FD) for the suite's tap-driver."""

import os
import subprocess
import sys
import tempfile

import pytest

from mcstore.localcluster import LocalCluster

BUILD = os.environ.get("MCS_BUILDDIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "../../build")))
MASTER = os.path.join(BUILD, "master/mcstore-master")
MCSTORED = os.path.join(BUILD, "daemon/mcstored")
# leases the tests see run out must last a loaded machine's pauses; none
# of them waits for one to end
LEASE_MS = 10000


class Cluster(LocalCluster):
    """A LocalCluster of the build tree's daemons, in tmp."""

    def __init__(self, tmp, lease_ms=LEASE_MS, master_args=()):
        super().__init__(MASTER, MCSTORED, tmp, lease_ms, master_args)


@pytest.fixture(scope="session")
def cluster():
    tmp = tempfile.mkdtemp(prefix="mcs-py-")
    c = Cluster(tmp)
    c.add_node("n1")
    c.add_node("n2")
    yield c
    bad = c.stop()
    assert not bad, "daemons that did not stop cleanly: %s" % ", ".join(bad)


@pytest.fixture
def n1(cluster, monkeypatch):
    """MCSTORE_SOCKET names node n1."""
    monkeypatch.setenv("MCSTORE_SOCKET", cluster.nodes["n1"].sock)
    return cluster.nodes["n1"]


@pytest.fixture
def store(cluster, n1):
    """A MooncakeDistributedStore set up on node n1."""
    from mooncake.store import MooncakeDistributedStore
    s = MooncakeDistributedStore()
    assert s.setup("127.0.0.1", "P2PHANDSHAKE", 0, 64 << 20, "tcp", "", cluster.master_addr) == 0
    yield s
    s.close()


_seq = [0]


@pytest.fixture
def key(request):
    """A key of its own for each test."""
    _seq[0] += 1
    return "%s-%d-%d" % (request.node.name, os.getpid(), _seq[0])


# ---- TAP, for the suite's tap-driver ------------------------------------------

class _Tap:
    def __init__(self, fd):
        self.out = os.fdopen(fd, "w", buffering=1)
        self.n = 0

    def _line(self, ok, name, directive=""):
        self.n += 1
        self.out.write("%s %d - %s%s\n" % ("ok" if ok else "not ok", self.n, name, directive))

    def pytest_runtest_logreport(self, report):
        name = report.nodeid
        if report.when == "setup" and report.skipped:
            why = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self._line(True, name, " # SKIP " + why.replace("\n", " "))
        elif report.failed:
            self._line(False, "%s (%s)" % (name, report.when))
            for line in str(report.longrepr).splitlines():
                self.out.write("# %s\n" % line)
        elif report.when == "call":
            self._line(True, name)

    def pytest_collectreport(self, report):
        if report.failed:
            self._line(False, "collect " + report.nodeid)
            for line in str(report.longrepr).splitlines():
                self.out.write("# %s\n" % line)

    def pytest_sessionfinish(self, session, exitstatus):
        if self.n == 0:
            self._line(False, "no test ran (pytest exit status %s)" % exitstatus)
        self.out.write("1..%d\n" % self.n)


def pytest_configure(config):
    fd = os.environ.get("MCS_TAP_FD")
    if fd:
        config.pluginmanager.register(_Tap(int(fd)), "mcs-tap")


def run_python(code, env=None, timeout=120):
    """Run code in a fresh interpreter with the build tree's package."""
    e = dict(os.environ if env is None else env)
    return subprocess.run([sys.executable, "-c", code], env=e, capture_output=True, text=True, timeout=timeout)
