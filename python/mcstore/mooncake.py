# SPDX-License-Identifier: MIT
"""The names of Mooncake's store module (mooncake.store, as its pybind
module binds them) besides the store class itself, which is
mcstore.mooncake_store's: its error codes and the mapping from mcstore's
statuses, ReplicateConfig, the enums, the replica descriptors,
MooncakeHostMemAllocator and bind_to_numa_node. What differs from
Mooncake, and why, is in mcstore-python(3)."""

import errno
import os
from enum import IntEnum

from mcstore import _core


class ErrorCode(IntEnum):
    """Mooncake's ErrorCode numbers (the ones mcstore answers)."""
    OK = 0
    INTERNAL_ERROR = -1
    SEGMENT_NOT_FOUND = -101
    NO_AVAILABLE_HANDLE = -200
    INVALID_PARAMS = -600
    ILLEGAL_CLIENT = -601
    INVALID_REPLICA = -702
    REPLICA_IS_NOT_READY = -703
    OBJECT_NOT_FOUND = -704
    OBJECT_ALREADY_EXISTS = -705
    OBJECT_HAS_LEASE = -706
    REPLICA_NOT_IN_LOCAL_MEMORY = -713
    TRANSFER_FAIL = -800
    CHECKSUM_MISMATCH = -801
    RPC_FAIL = -900
    RPC_TIMEOUT = -901
    NOT_SUPPORTED = -1012


E = ErrorCode
_CODES = {
    -errno.ENOENT: E.OBJECT_NOT_FOUND,
    -errno.EEXIST: E.OBJECT_ALREADY_EXISTS,
    -errno.EBUSY: E.OBJECT_HAS_LEASE,
    -errno.EAGAIN: E.REPLICA_IS_NOT_READY,
    -errno.ENOSPC: E.NO_AVAILABLE_HANDLE,
    -errno.EXFULL: E.NO_AVAILABLE_HANDLE,
    -errno.EBADMSG: E.CHECKSUM_MISMATCH,
    -errno.EREMOTE: E.REPLICA_NOT_IN_LOCAL_MEMORY,
    -errno.ENODEV: E.SEGMENT_NOT_FOUND,
    -errno.ERANGE: E.INVALID_PARAMS,
    -errno.EINVAL: E.INVALID_PARAMS,
    -errno.ENAMETOOLONG: E.INVALID_PARAMS,
    -errno.EMSGSIZE: E.INVALID_PARAMS,
    -errno.EFAULT: E.INVALID_PARAMS,
    -errno.ESHUTDOWN: E.INVALID_PARAMS,
    -errno.EOPNOTSUPP: E.NOT_SUPPORTED,
    -errno.ETIMEDOUT: E.RPC_TIMEOUT,
    -errno.EHOSTDOWN: E.RPC_FAIL,
    -errno.ENOLINK: E.TRANSFER_FAIL,
    -errno.ECONNREFUSED: E.RPC_FAIL,
    -errno.ECONNRESET: E.RPC_FAIL,
    -errno.ENOTCONN: E.RPC_FAIL,
    -errno.EPIPE: E.RPC_FAIL,
    -errno.EPROTO: E.RPC_FAIL,
    -errno.EPROTONOSUPPORT: E.RPC_FAIL,
    -errno.ECHILD: E.ILLEGAL_CLIENT,
}


def code(status):
    """Mooncake's code for an mcstore status (0 and sizes pass through)."""
    if status >= 0:
        return status
    return int(_CODES.get(status, E.INTERNAL_ERROR))


class SoftPinAction(IntEnum):
    PRESERVE = 0
    ENABLE = 1
    DISABLE = 2


class ReplicaStatus(IntEnum):
    UNDEFINED = 0
    INITIALIZED = 1
    PROCESSING = 2
    COMPLETE = 3
    REMOVED = 4
    FAILED = 5


class ObjectDataType(IntEnum):
    UNKNOWN = 0
    KVCACHE = 1
    TENSOR = 2
    WEIGHT = 3
    SAMPLE = 4
    ACTIVATION = 5
    GRADIENT = 6
    OPTIMIZER_STATE = 7
    METADATA = 8
    GENERAL = 9


_MAX_SOFT_PIN_TTL_MS = 24 * 3600 * 1000


class ReplicateConfig:
    """How a put places its object, as Mooncake's ReplicateConfig."""

    def __init__(self):
        self.replica_num = 1
        self.nof_replica_num = 0
        self.dfs_replica_num = 0
        self.soft_pin_action = SoftPinAction.PRESERVE
        self.soft_pin_ttl_ms = None
        self.with_hard_pin = False
        self.preferred_segments = []
        self.preferred_nof_segments = []
        self.preferred_segment = ""
        self.prefer_alloc_in_same_node = False
        self.data_type = ObjectDataType.UNKNOWN
        self.group_ids = None

    @property
    def with_soft_pin(self):
        return self.soft_pin_action == SoftPinAction.ENABLE

    @with_soft_pin.setter
    def with_soft_pin(self, on):
        self.soft_pin_action = SoftPinAction.ENABLE if on else SoftPinAction.PRESERVE

    def __setattr__(self, name, value):
        if name in ("replica_num", "nof_replica_num", "dfs_replica_num") and \
                (not isinstance(value, int) or isinstance(value, bool) or value < 0):
            raise TypeError("%s is a non-negative int" % name)
        if name == "soft_pin_ttl_ms" and value is not None and \
                (not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 1 << 64):
            raise TypeError("soft_pin_ttl_ms is None or an int of 0..2**64-1")
        if name in ("preferred_segments", "preferred_nof_segments"):
            value = list(value)
        object.__setattr__(self, name, value)

    def _locations(self, hostname):
        locs = list(self.preferred_segments)
        if self.preferred_segment:
            locs.insert(0, self.preferred_segment)
        if self.prefer_alloc_in_same_node and hostname:
            locs.insert(0, hostname)
        return tuple(dict.fromkeys(locs))[: _core.MAX_LOCATIONS]

    def _core(self, hostname, n_keys=None, upsert=False):
        """(replica_num, flags, locations) for mcstore._core, or a Mooncake
        code when the config is refused (as Mooncake's master refuses it)."""
        if self.replica_num == 0 or self.dfs_replica_num or self.nof_replica_num:
            return E.INVALID_PARAMS  # no RAM replica, or tiers mcstore has not
        if self.soft_pin_ttl_ms is not None and (self.soft_pin_action != SoftPinAction.ENABLE or
                                                 self.soft_pin_ttl_ms > _MAX_SOFT_PIN_TTL_MS):
            return E.INVALID_PARAMS
        if self.group_ids is not None and n_keys is not None and len(self.group_ids) != n_keys:
            return E.INVALID_PARAMS
        flags = 0
        if self.soft_pin_action == SoftPinAction.ENABLE:
            flags |= _core.REPL_SOFT_PIN
        if self.with_hard_pin:
            flags |= _core.REPL_HARD_PIN
        if upsert:
            if not hasattr(_core, "PUT_UPSERT"):
                return E.NOT_SUPPORTED
            flags |= _core.PUT_UPSERT
        return (min(self.replica_num, _core.MAX_REPLICAS), flags, self._locations(hostname))

    def __str__(self):
        def names(lst):
            return "[" + ", ".join(lst) + "]"
        s = ("ReplicateConfig: { replica_num: %d, nof_replica_num: %d, dfs_replica_num: %d, "
             "soft_pin_action: %s, soft_pin_ttl_ms: %s, with_hard_pin: %d, preferred_segments: %s, "
             "preferred_nof_segments: %s, prefer_alloc_in_same_node: %d, data_type: %s"
             % (self.replica_num, self.nof_replica_num, self.dfs_replica_num,
                SoftPinAction(self.soft_pin_action).name,
                "default" if self.soft_pin_ttl_ms is None else self.soft_pin_ttl_ms, bool(self.with_hard_pin),
                names(self.preferred_segments), names(self.preferred_nof_segments),
                bool(self.prefer_alloc_in_same_node), ObjectDataType(self.data_type).name))
        if self.preferred_segment:
            s += ", preferred_segment (deprecated): %s" % self.preferred_segment
        if self.group_ids is not None:
            s += ", group_ids: %s" % names(self.group_ids)
        return s + " }"

    __repr__ = __str__


BufferHandle = _core.View


class Descriptor:
    """Where a replica's bytes are: buffer_address is the offset in its
    node's segment, transport_endpoint the node's data address."""

    def __init__(self, size=0, buffer_address=0, transport_endpoint=""):
        self.size = size
        self.buffer_address = buffer_address
        self.transport_endpoint = transport_endpoint

    def __repr__(self):
        return "<Descriptor size=%d buffer_address=%d transport_endpoint=%s>" % (
            self.size, self.buffer_address, self.transport_endpoint)


class MemoryDescriptor:
    def __init__(self, buffer_descriptor, buffers):
        self.buffer_descriptor = buffer_descriptor
        self.buffer_descriptors = buffers  # every piece of a striped replica
        self.segment = buffers[0].segment if buffers else ""


class ReplicaDescriptor:
    """One replica of an object (every mcstore replica is in memory)."""

    def __init__(self, status, pieces):
        self.status = ReplicaStatus(status)
        descs = []
        for node, segment, endpoint, offset, length in pieces:
            d = Descriptor(length, offset, endpoint)
            d.node, d.segment = node, segment
            descs.append(d)
        self._mem = MemoryDescriptor(descs[0] if descs else Descriptor(), descs)

    def is_memory_replica(self):
        return True

    def is_disk_replica(self):
        return False

    def is_local_disk_replica(self):
        return False

    def get_memory_descriptor(self):
        return self._mem

    def get_disk_descriptor(self):
        raise RuntimeError("Expected DiskDescriptor")


class MooncakeHostMemAllocator:
    """Host memory for zero-copy calls, registered with mcstore at once."""

    def alloc(self, size):
        p = _core.host_alloc(size)
        if p < 0:
            raise RuntimeError("cannot allocate %d bytes: %s" % (size, _core.strerror(p)))
        return p

    def free(self, ptr):
        return code(_core.host_free(ptr))


def bind_to_numa_node(node):
    """Run this process on the CPUs of NUMA node `node` (as Mooncake's)."""
    try:
        with open("/sys/devices/system/node/node%d/cpulist" % int(node)) as f:
            spec = f.read().strip()
    except OSError:
        return
    cpus = set()
    for part in spec.split(","):
        a, _, b = part.partition("-")
        cpus.update(range(int(a), int(b or a) + 1))
    if cpus:
        os.sched_setaffinity(0, cpus)


_SETUP_ARGS = ("local_hostname", "metadata_server", "global_segment_size", "local_buffer_size", "protocol",
               "rdma_devices", "master_server_addr")
_SETUP_EXTRA = {"engine": None, "enable_ssd_offload": False, "ssd_offload_path": "", "tenant_id": "default",
                "enable_client_http_server": False, "client_http_port": 9300}
