# SPDX-License-Identifier: MIT
"""Embedded mode, as Mooncake has it: a process that sets up a store with
global_segment_size > 0 on a node where no mcstored runs gets a private
mcstored of its own, whose segment of that size joins the cluster.

The daemon lives exactly as long as the process: it holds the read end of
a pipe whose write end only this process has (mcstored --parent-fd), so
it unmounts and exits when the process exits, even on SIGKILL; close()
stops it sooner, by PID. It is ready when it says READY=1 on a
notification socket of its own (the sd_notify protocol)."""

import atexit
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading

from mcstore import _core
from mcstore.notify import NotReady, wait_ready

log = logging.getLogger("mcstore")

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 15.0
_HUGE = 2 << 20


def find_mcstored():
    """$MCSTORE_MCSTORED, else mcstored on PATH or in /usr/sbin, /sbin."""
    path = os.environ.get("MCSTORE_MCSTORED")
    if path:
        return path
    return shutil.which("mcstored", path=os.environ.get("PATH", "") + ":/usr/local/sbin:/usr/sbin:/sbin")


def _address(host):
    """The numeric address a host name stands for (IPv4 first)."""
    if host in ("", "localhost"):
        return "127.0.0.1"
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return host
    infos.sort(key=lambda i: i[0] != socket.AF_INET)
    return infos[0][4][0] if infos else host


class PrivateDaemon:
    """A private mcstored: start() and stop(); socket_path, name."""

    def __init__(self, master, segment_size, local_hostname="localhost"):
        why = _core.master_addr_why(master)
        if why is not None:  # mcstored would refuse it, less clearly for the caller
            raise ValueError("invalid master address %r: %s" % (master, why))
        host, sep, port = local_hostname.rpartition(":")
        if not sep or not port.isdigit():
            host, port = local_hostname, ""
        host = host.strip("[]")
        self.master = master
        # whole huge pages, so that the daemon may take them when it can
        self.segment_size = max(_HUGE, (segment_size + _HUGE - 1) // _HUGE * _HUGE)
        self.listen = _address(host)
        self.port = int(port) if port.isdigit() else 0
        self.name = "%s-py%d" % (socket.gethostname().split(".")[0] or "node", os.getpid())
        self.dir = None
        self.proc = None
        self._wfd = -1
        self._lock = threading.Lock()

    @property
    def socket_path(self):
        return os.path.join(self.dir, "mcstored.sock")

    def start(self):
        """Start it and wait until it serves; OSError or RuntimeError with
        the reason otherwise."""
        exe = find_mcstored()
        if not exe:
            raise RuntimeError("no mcstored to start (install the mcstore package, or set MCSTORE_MCSTORED)")
        self.dir = tempfile.mkdtemp(prefix="mcstore-py%d-" % os.getpid())
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            notify.bind(os.path.join(self.dir, "notify"))
            rfd, self._wfd = os.pipe()
            argv = [exe, "--no-config", "--master", self.master, "--name", self.name,
                    "--segment-size", str(self.segment_size), "--socket", self.socket_path,
                    "--socket-mode", "0600", "--data-listen", self.listen, "--data-port", str(self.port),
                    "--parent-fd", str(rfd), "--log-level", os.environ.get("MCSTORE_LOG_LEVEL", "warning")]
            # the cluster key: $MCSTORE_KEY_FILE, else mcstored's default
            # (/etc/mcstore/cluster.key when this user may read it); without
            # one the daemon serves loopback only
            if os.environ.get("MCSTORE_KEY_FILE"):
                argv += ["--key-file", os.environ["MCSTORE_KEY_FILE"]]
            env = dict(os.environ, NOTIFY_SOCKET=os.path.join(self.dir, "notify"))
            try:
                self.proc = subprocess.Popen(argv, pass_fds=(rfd,), env=env, stdin=subprocess.DEVNULL,
                                             start_new_session=True)
            finally:
                os.close(rfd)
            self._wait_ready(notify)
        except BaseException:
            self.stop()
            raise
        finally:
            notify.close()
        atexit.register(self.stop)
        log.info("mcstore: started a private mcstored (pid %d, node %s, %d-byte segment, master %s)",
                 self.proc.pid, self.name, self.segment_size, self.master)

    def _wait_ready(self, notify):
        try:
            wait_ready(notify, self.proc, READY_TIMEOUT_S)
        except NotReady as e:
            if e.exit_status is not None:
                raise RuntimeError("the private mcstored exited with status %d before it served "
                                   "(master %s; see its messages above)" % (e.exit_status, self.master)) from None
            raise RuntimeError("the private mcstored did not become ready within %d s (master %s "
                               "unreachable?)" % (READY_TIMEOUT_S, self.master)) from None

    def stop(self):
        """SIGTERM, then SIGKILL after STOP_TIMEOUT_S; removes its directory."""
        with self._lock:
            proc, self.proc = self.proc, None
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if self._wfd >= 0:
                os.close(self._wfd)
                self._wfd = -1
            if self.dir:
                shutil.rmtree(self.dir, ignore_errors=True)
                self.dir = None
        try:
            atexit.unregister(self.stop)
        except Exception:
            pass
