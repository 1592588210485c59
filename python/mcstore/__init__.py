# SPDX-License-Identifier: MIT
"""mcstore: a distributed KV-cache store for LLM inference, from Python.

Two APIs over one C core (mcstore._core, over libmcstore):

- mcstore.Client: the Pythonic one, for new code. Failures raise
  mcstore.Error subclasses carrying the C status (NotFound, Exists, Busy,
  NotReady, NoSpace, ChecksumError, ...); a Client is a context manager;
  get_view() returns a zero-copy memoryview that holds the object until it
  is released.
- mcstore.MooncakeDistributedStore: a drop-in for Mooncake's class of the
  same name (mooncake.store), with its methods, arguments, return values
  and error codes; see mcstore-python(3) for the rules.

Both are safe to use from many threads at once: every call that waits
releases the GIL, and a store keeps a small pool of connections to its
node's daemon so that threads do not wait for each other.
"""

import collections as _collections
import errno as _errno
import os as _os

from mcstore import _core
from mcstore._core import View

__all__ = [
    "Client", "View", "Error", "NotFound", "Exists", "Busy", "NotReady", "NoSpace",
    "ChecksumError", "NotLocal", "Closed", "NoLeader", "Leader", "leader", "check_master_address",
    "MooncakeDistributedStore", "ReplicateConfig",
    "SoftPinAction", "ReplicaStatus", "MooncakeHostMemAllocator", "BufferHandle",
    "LIBRARY_VERSION", "__version__",
]

__version__ = _core.VERSION  # mcstore's, of the build the core comes from
LIBRARY_VERSION = _core.LIBRARY_VERSION


class Error(OSError):
    """A refusal of mcstore. status is the negative C status (a negated
    errno, as libmcstore returns it); errno and strerror as for OSError."""

    def __init__(self, status, what=None):
        self.status = status
        msg = _core.strerror(status)
        if what is not None:
            msg = "%s: %s" % (what, msg)
        super().__init__(-status, msg)

    def __str__(self):
        return self.strerror


class NotFound(Error, KeyError):
    """No such key (-ENOENT)."""


class Exists(Error):
    """The key is stored already (-EEXIST): keys are immutable."""


class Busy(Error):
    """The object is under a read lease or held by a view (-EBUSY);
    lease_ms is the lease left, 0 for a view."""

    def __init__(self, status, what=None):
        super().__init__(status, what)
        self.lease_ms = _core.error_detail()


class NotReady(Error):
    """The key's put has started and not ended yet (-EAGAIN)."""


class NoSpace(Error):
    """No segment can hold the object (-ENOSPC), or fewer nodes than the
    replicas asked (-EXFULL)."""


class ChecksumError(Error):
    """Every replica failed its checksum (-EBADMSG); no byte is returned."""


class NotLocal(Error):
    """No replica on this node (-EREMOTE): views are local."""


class Closed(Error):
    """The client is closed (-ESHUTDOWN)."""


class NoLeader(Error):
    """No master leads now (-EREMCHG): etcd names none, a standby knows
    none, or the master named does not answer as the leader (a failover
    under way). leader is the master named ("" for none), term its term,
    named_by who named it ("etcd HOST:PORT" or "master HOST:PORT")."""

    def __init__(self, leader, term, named_by):
        self.status = -_errno.EREMCHG
        self.leader, self.term, self.named_by = leader, term, named_by
        if leader:
            msg = "no leader: %s names %s (term %d), which does not answer as the leader" % (named_by, leader, term)
        else:
            msg = "no leader: %s names none" % named_by
        OSError.__init__(self, _errno.EREMCHG, msg)


# What leader() answers: the leading master's HOST:PORT, its term (the
# create revision of its etcd key; 0 without HA), and who named it.
Leader = _collections.namedtuple("Leader", "address term named_by")


def check_master_address(master):
    """Raise ValueError, saying what is wrong, unless master is a master
    address as mcstored's --master takes it: HOST:PORT, [V6]:PORT, or
    etcd://HOST:PORT;HOST:PORT... (the same rules, the same words)."""
    why = _core.master_addr_why(master)
    if why is not None:
        raise ValueError("invalid master address %r: %s" % (master, why))
    return master


def leader(master=None, *, key_file=None, timeout=None):
    """Which master leads, asked of the masters or etcd straight (no
    daemon), as `mcstorectl leader` does: a Leader once the leader
    confirmed it. master: HOST:PORT or etcd://HOST:PORT;... (default
    $MCSTORE_MASTER); key_file: the cluster key when the masters have one;
    timeout: seconds per master or etcd member (None: 2). Raises ValueError
    for a bad address, NoLeader when none leads now, Error otherwise
    (nothing answered: ConnectionRefusedError's errno; the key refused:
    EACCES)."""
    master = master or _os.environ.get("MCSTORE_MASTER")
    if not master:
        raise ValueError("leader() needs master= (HOST:PORT or etcd://HOST:PORT;...) or $MCSTORE_MASTER")
    check_master_address(master)
    ms = 0 if timeout is None else max(1, int(timeout * 1000))
    r = _core.leader(master, _os.fspath(key_file) if key_file else None, ms)
    if type(r) is int:
        raise error(r, "who leads, asked of %s" % master)
    confirmed, term, addr, named_by = r
    if not confirmed:
        raise NoLeader(addr, term, named_by)
    return Leader(addr, term, named_by)


_BY_STATUS = {
    -_errno.ENOENT: NotFound,
    -_errno.EEXIST: Exists,
    -_errno.EBUSY: Busy,
    -_errno.EAGAIN: NotReady,
    -_errno.ENOSPC: NoSpace,
    -_errno.EXFULL: NoSpace,
    -_errno.EBADMSG: ChecksumError,
    -_errno.EREMOTE: NotLocal,
    -_errno.ESHUTDOWN: Closed,
}


def error(status, what=None):
    """The exception for a negative status."""
    return _BY_STATUS.get(status, Error)(status, what)


def _check(r, what=None):
    if type(r) is int and r < 0:
        raise error(r, what)
    return r


def env_options():
    """The client options the environment asks for, as mcstorectl and the
    benchmarks read them: (flags, busy_poll_us). MCSTORE_PREFAULT=1 maps
    the whole segment at connect; MCSTORE_DIRECT_MASTER=0 and
    MCSTORE_DIRECT_DATA=0 send metadata or data through the daemon;
    MCSTORE_BUSY_POLL_US=N spins N us on a socket before sleeping."""
    e = _os.environ.get
    flags = 0
    if e("MCSTORE_PREFAULT") == "1":
        flags |= _core.CLIENT_PREFAULT
    if e("MCSTORE_DIRECT_MASTER") == "0":
        flags |= _core.CLIENT_VIA_DAEMON_META
    if e("MCSTORE_DIRECT_DATA") == "0":
        flags |= _core.CLIENT_VIA_DAEMON_DATA
    busy = e("MCSTORE_BUSY_POLL_US", "")
    return flags, int(busy) if busy.isdigit() and int(busy) <= 1000000 else 0


_PINS = {None: 0, "soft": _core.REPL_SOFT_PIN, "hard": _core.REPL_HARD_PIN}


def _cfg(replicas, pin, locations, all_or_nothing, upsert=False):
    try:
        flags = _PINS[pin]
    except KeyError:
        raise ValueError("pin is None, 'soft' or 'hard', not %r" % (pin,)) from None
    if all_or_nothing:
        flags |= _core.REPL_ALL_OR_NOTHING
    if upsert:
        if not hasattr(_core, "PUT_UPSERT"):
            raise Error(-_errno.EOPNOTSUPP, "upsert (libmcstore 1.1)")
        flags |= _core.PUT_UPSERT
    if isinstance(locations, str):
        locations = (locations,)
    return (int(replicas), flags, tuple(locations or ()))


class Client:
    """A connection to this node's mcstored (socket: its path; default
    $MCSTORE_SOCKET, else /run/mcstore/mcstored.sock).

    timeout: seconds per request (None: the library's 30 s); max_threads:
    how many calls may run at once (one daemon connection each); prefault
    and busy_poll_us as in libmcstore(3) (None: as env_options() says)."""

    def __init__(self, socket=None, *, timeout=None, max_threads=8, prefault=None, busy_poll_us=None):
        flags, env_busy = env_options()
        if prefault is not None:
            flags = (flags | _core.CLIENT_PREFAULT) if prefault else (flags & ~_core.CLIENT_PREFAULT)
        busy_poll_us = env_busy if busy_poll_us is None else busy_poll_us
        ms = 0 if timeout is None else max(1, int(timeout * 1000))
        socket = socket or _os.environ.get("MCSTORE_SOCKET") or None
        try:
            self._c = _core.Client(socket, ms, 0, flags, busy_poll_us, max_threads)
        except OSError as e:
            raise error(-e.errno, "cannot connect to mcstored at %s" % (socket or _core.DEFAULT_SOCKET)) from None

    def close(self):
        """Close the connections; later calls raise Closed."""
        self._c.close()

    @property
    def closed(self):
        return self._c.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- put ----
    def put(self, key, value, *, replicas=1, pin=None, locations=None, all_or_nothing=False, upsert=False):
        """Store value (bytes-like, or a list of bytes-like parts) under key.
        pin: None, 'soft' (kept unless nothing else can be evicted) or
        'hard' (never evicted); locations: preferred node or segment names;
        upsert: replace the value if the key exists."""
        _check(self._c.put(key, value, _cfg(replicas, pin, locations, all_or_nothing, upsert)), key)

    def put_many(self, items, *, replicas=1, pin=None, locations=None, all_or_nothing=False, upsert=False):
        """Store many (key, value) pairs (a dict or an iterable of pairs) in
        one batch. Returns {key: Error} for the keys that failed."""
        pairs = list(items.items() if hasattr(items, "items") else items)
        keys = [k for k, _ in pairs]
        res = self._c.put_batch(keys, [v for _, v in pairs],
                                _cfg(replicas, pin, locations, all_or_nothing, upsert))
        return {k: error(r, k) for k, r in zip(keys, res) if r < 0}

    # ---- get ----
    def get(self, key):
        """The value of key, as bytes."""
        return _check(self._c.get(key), key)

    def get_into(self, key, buffer):
        """Read key into a writable bytes-like object at least as large;
        returns the value's size."""
        return _check(self._c.get_into(key, buffer), key)

    def get_many(self, keys, buffers):
        """Read each key into its buffer, in one batch: a list with each
        value's size, or the Error of that key."""
        keys = list(keys)
        res = self._c.get_batch_into(keys, list(buffers))
        return [error(r, k) if r < 0 else r for k, r in zip(keys, res)]

    def get_view(self, key, *, verify=True):
        """A read-only memoryview of the value in this node's memory, without
        a copy. The object is held (not removed nor evicted) until the
        memoryview is released (mv.release(), or a with block) and
        collected. Raises NotLocal when no replica is on this node.
        verify=False skips hashing the bytes first (see libmcstore(3))."""
        return memoryview(_check(self._c.view(key, verify), key))

    def exists(self, key):
        """Whether key is stored and complete."""
        return _check(self._c.exists(key), key) == 1

    def exists_many(self, keys):
        keys = list(keys)
        return [_check(r, k) == 1 for k, r in zip(keys, self._c.exists_batch(keys))]

    def size(self, key):
        """The size of the value, without reading it."""
        return _check(self._c.get_size(key), key)

    # ---- removal ----
    def remove(self, key, *, force=False):
        """Remove key. Raises Busy while a reader holds a lease or a view,
        unless force (operators)."""
        _check(self._c.remove(key, force), key)

    def remove_all(self):
        """Remove every object without a lease; returns how many."""
        return _check(self._c.remove_all())

    # ---- what is stored ----
    def keys(self, prefix=""):
        """Iterate over the stored keys that start with prefix (no lease is
        taken; keys put or removed meanwhile may or may not appear)."""
        cursor = 0
        while True:
            page = _check(self._c.list_keys(prefix, cursor, 1000))
            cursor, keys = page
            yield from keys
            if cursor == 0:
                return

    def locate(self, key):
        """Where key's replicas are: (size, checksum, [(status, [(node,
        segment, endpoint, offset, length), ...]), ...])."""
        return _check(self._c.locate(key), key)

    def stat(self):
        """The cluster's figures and this node's, as a dict."""
        return _check(self._c.stat())

    # ---- who leads ----
    def leader(self, master=None, *, key_file=None, timeout=None):
        """Which master leads, as mcstore.leader() asks it (of the masters
        or etcd, not of this client's daemon): a Leader (address, term,
        named_by); raises NoLeader when none leads now."""
        if self._c.closed:
            raise Closed(-_errno.ESHUTDOWN)
        return leader(master, key_file=key_file, timeout=timeout)


from mcstore.mooncake import (  # noqa: E402  (they use the names above)
    BufferHandle, MooncakeHostMemAllocator, ReplicaStatus, ReplicateConfig, SoftPinAction,
)
from mcstore.mooncake_store import MooncakeDistributedStore  # noqa: E402
