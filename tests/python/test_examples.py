# SPDX-License-Identifier: MIT
"""The examples (examples/*.py) as the design runs them: ROLE=prefill on
one node, ROLE=decode on the other, through the real cluster."""

import os
import subprocess
import sys

import pytest

EXAMPLES = os.path.join(os.path.dirname(__file__), "../../examples")


def run(cluster, node, script, **env):
    e = dict(os.environ, MCSTORE_SOCKET=cluster.nodes[node].sock, MASTER_SERVER=cluster.master_addr,
             MOONCAKE_MASTER=cluster.master_addr, LOCAL_HOSTNAME="127.0.0.1")
    e.update({k: str(v) for k, v in env.items()})
    return subprocess.run([sys.executable, os.path.join(EXAMPLES, script)], env=e, capture_output=True, text=True,
                          timeout=600)


def test_stress_cluster_benchmark(cluster, key):
    p = run(cluster, "n1", "stress_cluster_benchmark.py", ROLE="prefill", MAX_REQUESTS=200,
            VALUE_LENGTH=256 * 1024, KEY_PREFIX=key)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("prefill: 200 requests of 262144 bytes")
    d = run(cluster, "n2", "stress_cluster_benchmark.py", ROLE="decode", MAX_REQUESTS=200,
            VALUE_LENGTH=256 * 1024, KEY_PREFIX=key)
    assert d.returncode == 0, d.stderr
    assert "node n2" in d.stdout
    # a decode of keys nobody put fails, and says which
    m = run(cluster, "n2", "stress_cluster_benchmark.py", ROLE="decode", MAX_REQUESTS=1, KEY_PREFIX=key + "-none",
            DECODE_WAIT_S=1)
    assert m.returncode == 1 and "did not appear" in m.stderr


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_kv_offload(cluster, backend):
    pytest.importorskip(backend)
    seed = {"numpy": 7, "torch": 8}[backend]
    p = run(cluster, "n1", "kv_offload.py", ROLE="prefill", BACKEND=backend, SEED=seed)
    assert p.returncode == 0, p.stderr
    assert "prefill: 4 chunks" in p.stdout and backend in p.stdout
    d = run(cluster, "n2", "kv_offload.py", ROLE="decode", BACKEND=backend, SEED=seed)
    assert d.returncode == 0, d.stdout + d.stderr
    assert "4 of 4 chunks found on node n2, 0 tokens to recompute, 0 mismatched" in d.stdout
    other = run(cluster, "n2", "kv_offload.py", ROLE="decode", BACKEND=backend, SEED=seed + 100)
    assert other.returncode == 1 and "0 of 4 chunks" in other.stdout
