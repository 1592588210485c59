# SPDX-License-Identifier: MIT
"""mcstore.MooncakeDistributedStore: Mooncake's class of the same name,
over mcstore, so that an engine's Mooncake backend runs unchanged. Same
method names, argument order, defaults and return values, with Mooncake's
negative ErrorCode numbers (mcstore.mooncake); where Mooncake's behaviour
is undefined (a call before setup or after close crashes it) this one
answers INVALID_PARAMS (-600)."""

import errno
import logging
import os
import re

from mcstore import _core, env_options
from mcstore.config import parse_size
from mcstore.embedded import PrivateDaemon
from mcstore.mooncake import (
    _SETUP_ARGS, _SETUP_EXTRA, E, ReplicaDescriptor, ReplicateConfig, code,
)

log = logging.getLogger("mcstore")
_DEFAULT_CFG = ReplicateConfig()
_LIST_PAGE = 1000


def _client(sock, staging):
    flags, busy = env_options()
    return _core.Client(sock, 0, staging, flags, busy)


def _bad_lengths(*lists):
    """Whether the lists differ in length; TypeError for what is not a
    list (a str is not a list of keys), as Mooncake's binding raises."""
    for x in lists:
        if isinstance(x, (str, bytes)) or not hasattr(x, "__len__"):
            raise TypeError("a list expected, not %s" % type(x).__name__)
    return len({len(x) for x in lists}) > 1


class MooncakeDistributedStore:
    """Mooncake's store client, on mcstore. Construct, then setup()."""

    def __init__(self):
        self._c = None
        self._daemon = None
        self._hostname = ""
        self._warned_memory = False

    # ---- setup and lifecycle ---------------------------------------------

    def setup(self, *args, **kw):
        """setup(local_hostname, metadata_server, global_segment_size,
        local_buffer_size, protocol, rdma_devices, master_server_addr,
        engine=None, ...) or setup(config: dict) -> 0 or a negative code.

        Attaches to this node's mcstored ($MCSTORE_SOCKET, else
        /run/mcstore/mcstored.sock); when none runs and global_segment_size
        > 0, starts a private one with a segment of that size, mounted with
        the master at master_server_addr. metadata_server is accepted and
        not needed."""
        if len(args) == 1 and not kw and isinstance(args[0], dict):
            return self._setup_dict(args[0])
        if len(args) > len(_SETUP_ARGS) + len(_SETUP_EXTRA):
            raise TypeError("setup() takes at most %d arguments" % (len(_SETUP_ARGS) + len(_SETUP_EXTRA)))
        names = _SETUP_ARGS + tuple(_SETUP_EXTRA)
        v = dict(_SETUP_EXTRA)
        v.update(zip(names, args))
        for k, x in kw.items():
            if k not in names:
                raise TypeError("setup() got an unexpected keyword argument '%s'" % k)
            if k in names[: len(args)]:
                raise TypeError("setup() got multiple values for argument '%s'" % k)
            v[k] = x
        missing = [n for n in _SETUP_ARGS if n not in v]
        if missing:
            raise TypeError("setup() missing required argument(s): %s" % ", ".join(missing))
        for n in ("local_hostname", "metadata_server", "protocol", "rdma_devices", "master_server_addr"):
            if not isinstance(v[n], str):
                raise TypeError("setup(): %s must be str, not %s" % (n, type(v[n]).__name__))
        for n in ("global_segment_size", "local_buffer_size"):
            if not isinstance(v[n], int) or isinstance(v[n], bool) or v[n] < 0:
                raise TypeError("setup(): %s must be a non-negative int" % n)
        return self._setup(v["local_hostname"], v["global_segment_size"], v["local_buffer_size"],
                           v["protocol"], v["master_server_addr"])

    def _setup_dict(self, d):
        s = {str(k): str(x) for k, x in d.items()}
        # the JSON config's names, as LMCache sends them, are taken too
        master = s.get("master_server_addr") or s.get("master_server_address") or "127.0.0.1:50051"
        if not s.get("local_hostname") or not s.get("metadata_server"):
            log.error("mcstore: setup: local_hostname and metadata_server are required")
            return int(E.INVALID_PARAMS)
        try:
            gss = parse_size(s.get("global_segment_size", 16 << 20))
            lbs = parse_size(s.get("local_buffer_size", 16 << 20))
        except ValueError as e:
            log.error("mcstore: setup: %s", e)
            return int(E.INVALID_PARAMS)
        if (gss and gss < 1024) or (lbs and not 1024 <= lbs <= 1 << 40):
            log.error("mcstore: setup: a size below 1 KiB (or a local buffer above 1 TiB)")
            return int(E.INVALID_PARAMS)
        return self._setup(s["local_hostname"], gss, lbs, s.get("protocol", "tcp"), master)

    def _setup(self, local_hostname, global_segment_size, local_buffer_size, protocol, master):
        if not local_hostname:
            log.error("mcstore: setup: local_hostname is empty")
            return int(E.INVALID_PARAMS)
        proto = protocol.strip().lower()
        if proto == "rdma":
            log.error("mcstore: setup: protocol 'rdma' is not available in this build of mcstore yet; "
                      "use protocol='tcp'")
            return int(E.INVALID_PARAMS)
        if proto != "tcp":
            log.error("mcstore: setup: unknown protocol %r (tcp is what mcstore moves data over)", protocol)
            return int(E.INVALID_PARAMS)
        why = _core.master_addr_why(master)
        if why is not None:
            log.error("mcstore: setup: invalid master_server_addr %r: %s (HOST:PORT, or "
                      "etcd://HOST:PORT;HOST:PORT for HA masters)", master, why)
            return int(E.INVALID_PARAMS)
        self.close()
        sock = os.environ.get("MCSTORE_SOCKET") or _core.DEFAULT_SOCKET
        try:
            c = _client(sock, local_buffer_size)
        except OSError as e:
            if global_segment_size == 0:
                log.error("mcstore: setup: no mcstored at %s (%s), and global_segment_size is 0, so none "
                          "is started: run mcstored on this node, or give a segment size", sock, e.strerror)
                return int(E.RPC_FAIL)
            d = PrivateDaemon(master, global_segment_size, local_hostname)
            try:
                d.start()
                c = _client(d.socket_path, local_buffer_size)
            except (OSError, RuntimeError) as e2:
                d.stop()
                log.error("mcstore: setup: %s", e2)
                return int(E.RPC_FAIL)
            self._daemon = d
        self._c = c
        st = c.stat()
        self._hostname = st["local_node"] if isinstance(st, dict) else ""
        return 0

    def setup_dummy(self, mem_pool_size, local_buffer_size, server_address):
        """Mooncake's client of a standalone real client: here, the node's
        mcstored ($MCSTORE_SOCKET, or a socket path given as
        server_address), which plays that part. 0, or -1."""
        self.close()
        sock = server_address if server_address.startswith("/") else \
            os.environ.get("MCSTORE_SOCKET") or _core.DEFAULT_SOCKET
        try:
            self._c = _client(sock, local_buffer_size)
        except OSError as e:
            log.error("mcstore: setup_dummy: no mcstored at %s: %s", sock, e.strerror)
            return -1
        st = self._c.stat()
        self._hostname = st["local_node"] if isinstance(st, dict) else ""
        return 0

    def init_all(self, protocol, device_name, mount_segment_size):
        if self._c is not None:
            return int(E.INVALID_PARAMS)
        return self._setup("localhost", mount_segment_size, 1 << 30, protocol,
                           os.environ.get("MOONCAKE_MASTER", "127.0.0.1:50051"))

    initAll = init_all

    def close(self):
        c, self._c = self._c, None
        if c is not None:
            c.close()
        d, self._daemon = self._daemon, None
        if d is not None:
            d.stop()
        return 0

    def health_check(self):
        """0 healthy, 1 not set up or closed, 2 the master unreachable."""
        if self._c is None:
            return 1
        return 0 if isinstance(self._c.stat(), dict) else 2

    def get_hostname(self):
        """The name of this process's node, which ReplicateConfig's
        preferred_segment accepts."""
        return self._hostname

    # ---- helpers ----------------------------------------------------------

    def _cfg(self, config, n_keys=None, upsert=False):
        return (config if config is not None else _DEFAULT_CFG)._core(self._hostname, n_keys, upsert)

    def _mem_refused(self, what):
        if not self._warned_memory:
            self._warned_memory = True
            log.warning("mcstore: %s: an address that is not host memory of this process (a GPU pointer?); "
                        "device memory is not supported yet, the call answers INVALID_PARAMS", what)

    def _code(self, r, what):
        if r == -errno.EFAULT:
            self._mem_refused(what)
        return code(r)

    def _put_status(self, r, upsert, what):
        """A put's answer as Mooncake gives it: for the put family an
        existing key is success (the old value stays), for upsert not."""
        return 0 if r == -errno.EEXIST and not upsert else self._code(r, what)

    # ---- put ---------------------------------------------------------------

    def _put(self, key, value, config, upsert):
        if self._c is None:
            return int(E.INVALID_PARAMS)
        cfg = self._cfg(config, upsert=upsert)
        if isinstance(cfg, int):
            return int(cfg)
        if memoryview(value).nbytes == 0:
            return int(E.INVALID_PARAMS)  # as Mooncake: nothing to allocate
        return self._put_status(self._c.put(key, value, cfg), upsert, "put")

    def put(self, key, value, config=None):
        return self._put(key, value, config, False)

    def upsert(self, key, value, config=None):
        return self._put(key, value, config, True)

    def _put_parts(self, key, parts, config, upsert):
        if self._c is None:
            return int(E.INVALID_PARAMS)
        for p in parts:
            m = memoryview(p)
            if m.ndim != 1 or m.itemsize != 1:
                raise RuntimeError("parts must be 1-D bytes-like")
        if not any(memoryview(p).nbytes for p in parts):
            return 0  # as Mooncake: nothing is stored
        cfg = self._cfg(config, upsert=upsert)
        if isinstance(cfg, int):
            return int(cfg)
        return self._put_status(self._c.put(key, list(parts), cfg), upsert, "put_parts")

    def put_parts(self, key, *parts, config=None):
        return self._put_parts(key, parts, config, False)

    def upsert_parts(self, key, *parts, config=None):
        return self._put_parts(key, parts, config, True)

    def _put_batch(self, keys, values, config, upsert):
        if _bad_lengths(keys, values) or self._c is None:
            return int(E.INVALID_PARAMS)
        if not keys:
            return 0
        if any(memoryview(v).nbytes == 0 for v in values):
            return int(E.INVALID_PARAMS)
        cfg = self._cfg(config, len(keys), upsert)
        if isinstance(cfg, int):
            return int(cfg)
        for r in self._c.put_batch(keys, values, cfg):
            st = self._put_status(r, upsert, "put_batch")
            if st < 0:
                return st
        return 0

    def put_batch(self, keys, values, config=None):
        """One code for the whole batch: 0, or the first key's failure."""
        return self._put_batch(keys, values, config, False)

    def upsert_batch(self, keys, values, config=None):
        return self._put_batch(keys, values, config, True)

    # ---- zero-copy put ---------------------------------------------------------

    def register_buffer(self, buffer_ptr, size):
        """Declare host memory that zero-copy calls will name (0), or -600
        when it is not writable memory of this process (device memory)."""
        r = _core.register_memory(buffer_ptr, size)
        if r == -errno.EEXIST:
            return int(E.INVALID_PARAMS)
        return self._code(r, "register_buffer")

    def unregister_buffer(self, buffer_ptr):
        r = _core.unregister_memory(buffer_ptr)
        return 0 if r == 0 else int(E.INVALID_PARAMS)

    def _put_from(self, key, buffer_ptr, size, config, upsert):
        if self._c is None:
            return int(E.INVALID_PARAMS)
        if size == 0:
            return 0  # as Mooncake: nothing is stored
        cfg = self._cfg(config, upsert=upsert)
        if isinstance(cfg, int):
            return int(cfg)
        return self._put_status(self._c.put_ptr(key, buffer_ptr, size, cfg), upsert, "put_from")

    def put_from(self, key, buffer_ptr, size, config=None):
        return self._put_from(key, buffer_ptr, size, config, False)

    def upsert_from(self, key, buffer_ptr, size, config=None):
        return self._put_from(key, buffer_ptr, size, config, True)

    def _batch_put_from(self, keys, buffer_ptrs, sizes, config, upsert):
        if _bad_lengths(keys, buffer_ptrs, sizes) or self._c is None:
            return [int(E.INVALID_PARAMS)] * len(keys)
        if not keys:
            return []
        cfg = self._cfg(config, len(keys), upsert)
        if isinstance(cfg, int):
            return [int(cfg)] * len(keys)
        res = self._c.put_batch_ptr(keys, buffer_ptrs, sizes, cfg)
        out = []
        for r, n in zip(res, sizes):
            if n == 0:
                out.append(int(E.INVALID_PARAMS))  # as Mooncake's master: no empty slice
            else:
                out.append(self._put_status(r, upsert, "batch_put_from"))
        return out

    def batch_put_from(self, keys, buffer_ptrs, sizes, config=None):
        return self._batch_put_from(keys, buffer_ptrs, sizes, config, False)

    def batch_upsert_from(self, keys, buffer_ptrs, sizes, config=None):
        return self._batch_put_from(keys, buffer_ptrs, sizes, config, True)

    def batch_put_from_multi_buffers(self, keys, all_buffer_ptrs, all_sizes, config=None):
        """Each key's value is the concatenation of its buffers."""
        if self._c is None:
            return []
        if _bad_lengths(keys, all_buffer_ptrs, all_sizes) or \
                any(len(p) != len(s) for p, s in zip(all_buffer_ptrs, all_sizes)):
            return [int(E.INVALID_PARAMS)] * len(keys)
        cfg = self._cfg(config, len(keys))
        if isinstance(cfg, int):
            return [int(cfg)] * len(keys)
        out = []
        for k, p, s in zip(keys, all_buffer_ptrs, all_sizes):
            r = self._c.put_ptr(k, list(p), list(s), cfg)
            out.append(self._put_status(r, False, "batch_put_from_multi_buffers"))
        return out

    # ---- get -------------------------------------------------------------------

    def get(self, key):
        """The value, or b"" on a miss or any error (as Mooncake)."""
        if self._c is None:
            return b""
        r = self._c.get(key)
        return b"" if type(r) is int else r

    def get_batch(self, keys):
        if self._c is None:
            return [b""] * len(keys)
        out = []
        for k in keys:
            r = self._c.get(k)
            out.append(b"" if type(r) is int else r)
        return out

    def _buffer(self, key):
        r = self._c.buffer(key)
        return None if type(r) is int else r

    def get_buffer(self, key):
        """A BufferHandle (ptr(), size(), len(), the buffer protocol) over
        the value: zero-copy from this node's segment, a private copy when
        no replica is here; None on a miss. Read-only."""
        if self._c is None:
            return None
        return self._buffer(key)

    def batch_get_buffer(self, keys):
        if self._c is None:
            return [None] * len(keys)
        return [self._buffer(k) for k in keys]

    def get_into(self, key, buffer_ptr, size):
        """Bytes read (the object's size), or a negative code (-600 when
        the buffer is smaller than the object)."""
        if self._c is None:
            return int(E.INVALID_PARAMS)
        return self._code(self._c.get_into(key, buffer_ptr, size), "get_into")

    def batch_get_into(self, keys, buffer_ptrs, sizes):
        if _bad_lengths(keys, buffer_ptrs, sizes) or self._c is None:
            return [int(E.INVALID_PARAMS)] * len(keys)
        if not keys:
            return []
        return [self._code(r, "batch_get_into") for r in self._c.get_batch_into(keys, buffer_ptrs, sizes)]

    def batch_get_into_multi_buffers(self, keys, all_buffer_ptrs, all_sizes, prefer_alloc_in_same_node=False):
        if self._c is None:
            return [int(E.INVALID_PARAMS)] * len(keys)
        if _bad_lengths(keys, all_buffer_ptrs, all_sizes) or \
                any(len(p) != len(s) for p, s in zip(all_buffer_ptrs, all_sizes)):
            return [int(E.INVALID_PARAMS)] * len(keys)
        return [self._code(self._c.get_into(k, list(p), list(s)), "batch_get_into_multi_buffers")
                for k, p, s in zip(keys, all_buffer_ptrs, all_sizes)]

    def get_into_ranges(self, buffer_ptrs, all_keys, all_dst_offsets, all_src_offsets, all_sizes):
        """For buffer b, key k, fragment f: copy all_sizes[b][k][f] bytes of
        the object from all_src_offsets[b][k][f] to buffer_ptrs[b] +
        all_dst_offsets[b][k][f]. [b][k][f]: the size, or a negative code."""
        bad = int(E.INVALID_PARAMS)

        def shaped(fill):
            return [[[fill] * len(f) for f in (all_dst_offsets[b] if b < len(all_dst_offsets) else [])]
                    for b in range(len(buffer_ptrs))]

        if self._c is None or _bad_lengths(buffer_ptrs, all_keys, all_dst_offsets, all_src_offsets, all_sizes):
            return shaped(bad)
        out = []
        for b, base in enumerate(buffer_ptrs):
            per_key = []
            for i, key in enumerate(all_keys[b]):
                dst, src, sz = all_dst_offsets[b][i], all_src_offsets[b][i], all_sizes[b][i]
                if _bad_lengths(dst, src, sz) or len(all_keys[b]) != len(all_dst_offsets[b]):
                    per_key.append([bad] * len(dst))
                    continue
                per_key.append(self._ranges(key, base, dst, src, sz))
            out.append(per_key)
        return out

    def _ranges(self, key, base, dst, src, sz):
        obj = self._c.buffer(key)
        if type(obj) is int:
            return [code(obj)] * len(dst)
        res = []
        for d, s, n in zip(dst, src, sz):
            r = _core.copy(base + d, obj, s, n)
            res.append(n if r == 0 else self._code(r if r != -errno.ERANGE else -errno.EINVAL, "get_into_ranges"))
        obj.release()
        return res

    # ---- query and remove ---------------------------------------------------------

    def is_exist(self, key):
        """1 if stored and complete, 0 if not, a negative code on error."""
        if self._c is None:
            return int(E.INVALID_PARAMS)
        return code(self._c.exists(key))

    isExist = is_exist

    def batch_is_exist(self, keys):
        if self._c is None:
            return [int(E.INVALID_PARAMS)] * len(keys)
        if not keys:
            return []
        return [code(r) for r in self._c.exists_batch(keys)]

    def get_size(self, key):
        if self._c is None:
            return int(E.INVALID_PARAMS)
        return code(self._c.get_size(key))

    def remove(self, key, force=False):
        if self._c is None:
            return int(E.INVALID_PARAMS)
        return code(self._c.remove(key, force))

    def batch_remove(self, keys, force=False):
        if self._c is None:
            return [int(E.INVALID_PARAMS)] * len(keys)
        return [code(self._c.remove(k, force)) for k in keys]

    def _all_keys(self):
        cursor, keys = 0, []
        while True:
            page = self._c.list_keys("", cursor, _LIST_PAGE)
            if type(page) is int:
                return page
            cursor, got = page
            keys.extend(got)
            if cursor == 0:
                return list(dict.fromkeys(keys))

    def remove_by_regex(self, regex_pattern, force=False):
        """How many keys matching the pattern (re.search) were removed;
        leased ones are skipped unless force. -600 for a bad pattern."""
        if self._c is None:
            return int(E.INVALID_PARAMS)
        try:
            rx = re.compile(regex_pattern)
        except (re.error, TypeError):
            return int(E.INVALID_PARAMS)
        keys = self._all_keys()
        if type(keys) is int:
            return code(keys)
        return sum(1 for k in keys if rx.search(k) and self._c.remove(k, force) == 0)

    def remove_all(self, force=False):
        """How many objects were removed (without force, those without a
        lease), or a negative code."""
        if self._c is None:
            return int(E.INVALID_PARAMS)
        if not force:
            return code(self._c.remove_all())
        keys = self._all_keys()
        if type(keys) is int:
            return code(keys)
        return sum(1 for k in keys if self._c.remove(k, True) == 0)

    def get_replica_desc(self, key):
        if self._c is None:
            return []
        r = self._c.locate(key)
        if type(r) is int:
            return []
        return [ReplicaDescriptor(status, pieces) for status, pieces in r[2]]

    def batch_get_replica_desc(self, keys):
        out = {}
        for k in keys:
            d = self.get_replica_desc(k)
            if d:
                out[k] = d
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
