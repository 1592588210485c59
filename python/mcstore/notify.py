# SPDX-License-Identifier: MIT
"""The receiving side of the sd_notify protocol, for the daemons this
package starts (embedded.py's private mcstored, localcluster.py's): a
daemon is ready once it sends READY=1 to the datagram socket named by
its $NOTIFY_SOCKET."""

import socket
import time


class NotReady(RuntimeError):
    """The daemon exited (exit_status set) or stayed silent (None)."""

    def __init__(self, exit_status):
        super().__init__("exited with %d" % exit_status if exit_status is not None else "not ready in time")
        self.exit_status = exit_status


def wait_ready(notify, proc, timeout_s, messages=None):
    """Read notify (a bound AF_UNIX datagram socket) until proc (a Popen)
    says READY=1; the lines it sent, also appended to messages. NotReady
    when proc exits first or timeout_s passes."""
    messages = [] if messages is None else messages
    deadline = time.monotonic() + timeout_s
    notify.settimeout(0.2)
    while "READY=1" not in messages:
        try:
            messages += notify.recv(65536).decode("utf-8", "replace").split("\n")
            continue
        except socket.timeout:
            pass
        if proc.poll() is not None:
            raise NotReady(proc.returncode)
        if time.monotonic() > deadline:
            raise NotReady(None)
    return messages
