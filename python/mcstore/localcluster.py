# SPDX-License-Identifier: MIT
"""A private mcstore cluster on 127.0.0.1, for tests and benchmarks: a
master and nodes started from given programs in a directory of their
own, each ready once it says READY=1 on a notification socket of its own
(the sd_notify protocol), each stopped by PID.

    with LocalCluster(master="mcstore-master", mcstored="mcstored") as c:
        n1 = c.add_node("n1", "256M")
        client = mcstore.Client(n1.sock)
"""

import os
import shutil
import signal
import socket
import subprocess
import tempfile

from mcstore.notify import NotReady, wait_ready

READY_S = 60.0


class Daemon:
    """A daemon started with its own notification socket; stop() by PID."""

    def __init__(self, name, argv, directory, env=None):
        self.name = name
        self.log_path = os.path.join(directory, name + ".log")
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self.notify.bind(os.path.join(directory, name + ".notify"))
        self.messages = []
        e = dict(os.environ if env is None else env, NOTIFY_SOCKET=os.path.join(directory, name + ".notify"))
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log, env=e)
        self.pid = self.proc.pid
        self.sock = None

    def wait_ready(self, timeout=READY_S):
        try:
            wait_ready(self.notify, self.proc, timeout, self.messages)
        except NotReady as e:
            what = "exited with %d before it was ready" % e.exit_status if e.exit_status is not None else \
                "did not say READY=1 in %d s" % timeout
            raise RuntimeError("%s %s:\n%s" % (self.name, what, self.read_log())) from None
        return self

    def status_port(self):
        for m in reversed(self.messages):
            if m.startswith("STATUS=listening on ") and " port " in m:
                return int(m.rsplit(" ", 1)[1])
        raise RuntimeError("%s did not say where it listens: %r" % (self.name, self.messages))

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def alive(self):
        return self.proc.poll() is None

    def stop(self, timeout=60):
        """SIGTERM, wait, and the exit status (None if it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return None
        self.notify.close()
        self.log.close()
        return self.proc.returncode


class LocalCluster:
    """A master (lease_ms long read leases) and nodes on 127.0.0.1;
    nodes[name] is a Daemon whose .sock is its client socket."""

    def __init__(self, master, mcstored, directory=None, lease_ms=10000, master_args=()):
        self.mcstored = mcstored
        self.own_dir = directory is None
        self.dir = directory or tempfile.mkdtemp(prefix="mcstore-cluster-")
        self.nodes = {}
        self.master = Daemon("master", [master, "--no-config", "--listen", "127.0.0.1", "--port", "0",
                                        "--lease-ttl-ms", str(lease_ms)] + list(master_args), self.dir).wait_ready()
        self.master_addr = "127.0.0.1:%d" % self.master.status_port()

    def add_node(self, name, size="256M", *args):
        sock = os.path.join(self.dir, name + ".sock")
        d = Daemon(name, [self.mcstored, "--no-config", "--master", self.master_addr, "--name", name,
                          "--segment-size", size, "--socket", sock, "--data-port", "0",
                          "--data-listen", "127.0.0.1", "--data-host", "127.0.0.1", "--hugepages", "off"]
                   + list(args), self.dir).wait_ready()
        d.sock = sock
        self.nodes[name] = d
        return d

    def stop(self):
        """Stop every daemon; the names of those that did not exit 0 (or
        had died before)."""
        bad = []
        for d in list(self.nodes.values()) + [self.master]:
            was_alive = d.alive()
            rc = d.stop()
            if not was_alive or rc != 0:
                bad.append("%s (%s)" % (d.name, "died before the end" if not was_alive else "exit %s" % rc))
        if self.own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
        return bad

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
