# SPDX-License-Identifier: MIT
"""mooncake.store on mcstore: the names of Mooncake's store module (see
mcstore.mooncake and mcstore-python(3))."""

from mcstore.mooncake import (  # noqa: F401
    BufferHandle, Descriptor, ErrorCode, MemoryDescriptor, MooncakeHostMemAllocator, ObjectDataType,
    ReplicaDescriptor, ReplicaStatus, ReplicateConfig, SoftPinAction, bind_to_numa_node,
)
from mcstore.mooncake_store import MooncakeDistributedStore  # noqa: F401

# Mooncake exports the values of these enums at module level too
globals().update({m.name: m for m in ReplicaStatus})
globals().update({m.name: m for m in ObjectDataType})
