#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""stress_cluster_benchmark.py: the sample of the design, on mcstore.

    ROLE=prefill python3 stress_cluster_benchmark.py   # on one machine: puts
    ROLE=decode  python3 stress_cluster_benchmark.py   # on another: gets and checks

Configuration from the environment (Mooncake's names): PROTOCOL (tcp),
DEVICE_NAME, LOCAL_HOSTNAME (localhost), METADATA_ADDR (accepted, not
needed), MASTER_SERVER (127.0.0.1:50051), and VALUE_LENGTH (1 MiB),
MAX_REQUESTS (1000), KEY_PREFIX (stress), GLOBAL_SEGMENT_SIZE (3200 MiB:
used when no mcstored runs on this machine, for a private one),
LOCAL_BUFFER_SIZE (512 MiB), DECODE_WAIT_S (how long decode waits for a
key prefill has not put yet, 60). Every value depends on its key, so
decode checks each byte. Prints what it did and exits 0; on a mismatch or
a missing key, says which and exits 1.
"""

import os
import sys
import time

from mooncake.store import MooncakeDistributedStore


def value_of(key, n):
    seed = sum(key.encode()) & 0xFF
    block = bytes((seed + i) & 0xFF for i in range(256))
    return (block * (n // 256 + 1))[:n]


def main():
    role = os.getenv("ROLE", "")
    if role not in ("prefill", "decode"):
        print("stress_cluster_benchmark: set ROLE=prefill or ROLE=decode", file=sys.stderr)
        return 2
    protocol = os.getenv("PROTOCOL", "tcp")
    device_name = os.getenv("DEVICE_NAME", "")
    local_hostname = os.getenv("LOCAL_HOSTNAME", "localhost")
    metadata_server = os.getenv("METADATA_ADDR", "P2PHANDSHAKE")
    global_segment_size = int(os.getenv("GLOBAL_SEGMENT_SIZE", 3200 * 1024 * 1024))
    local_buffer_size = int(os.getenv("LOCAL_BUFFER_SIZE", 512 * 1024 * 1024))
    master_server_address = os.getenv("MASTER_SERVER", "127.0.0.1:50051")
    value_length = int(os.getenv("VALUE_LENGTH", 1024 * 1024))
    max_requests = int(os.getenv("MAX_REQUESTS", 1000))
    prefix = os.getenv("KEY_PREFIX", "stress")
    wait_s = float(os.getenv("DECODE_WAIT_S", 60))

    store = MooncakeDistributedStore()
    retcode = store.setup(local_hostname, metadata_server, global_segment_size, local_buffer_size, protocol,
                          device_name, master_server_address)
    if retcode:
        print("stress_cluster_benchmark: setup failed: %d" % retcode, file=sys.stderr)
        return 1
    start = time.monotonic()
    moved = 0
    for i in range(max_requests):
        key = "%s-%d" % (prefix, i)
        if role == "prefill":
            r = store.put(key, value_of(key, value_length))
            if r != 0:
                print("stress_cluster_benchmark: put %s: %d" % (key, r), file=sys.stderr)
                return 1
        else:
            deadline = time.monotonic() + wait_s
            while store.is_exist(key) != 1:
                if time.monotonic() > deadline:
                    print("stress_cluster_benchmark: %s did not appear in %.0f s" % (key, wait_s),
                          file=sys.stderr)
                    return 1
                time.sleep(0.01)
            got = store.get(key)
            if got != value_of(key, value_length):
                print("stress_cluster_benchmark: %s: %d bytes, not the %d put" % (key, len(got), value_length),
                      file=sys.stderr)
                return 1
        moved += value_length
    secs = time.monotonic() - start
    print("%s: %d requests of %d bytes in %.2f s (%.1f MB/s), node %s" % (
        role, max_requests, value_length, secs, moved / secs / 1e6, store.get_hostname()))
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
