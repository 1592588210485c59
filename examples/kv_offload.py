#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""kv_offload.py: KV cache offload as LMCache does it, on mcstore.

A prefill step computes the attention KV cache of a prompt, one tensor
of layers x 2 (K, V) x heads x tokens x head_dim in float16 per chunk of
CHUNK tokens, and stores each chunk under a hash of the token prefix it
ends; a decode step (on another node) that sees the same prefix looks the
chunks up in order, reads the ones present straight into its own tensors
(batch_get_into, zero-copy) and recomputes only the rest.

    ROLE=prefill python3 kv_offload.py     # store the chunks of PROMPT_TOKENS
    ROLE=decode  python3 kv_offload.py     # read them back and compare

Environment: MOONCAKE_MASTER (127.0.0.1:50051), MOONCAKE_LOCAL_HOSTNAME,
LAYERS (8), HEADS (8), HEAD_DIM (128), CHUNK (256), PROMPT_TOKENS (1000),
SEED (the prompt; the same on both sides), BACKEND (torch, else numpy).
Exits 0 when decode found every full chunk and every byte matched.
"""

import hashlib
import os
import sys

from mooncake.store import MooncakeDistributedStore, ReplicateConfig

E = os.environ.get
LAYERS, HEADS, HEAD_DIM = int(E("LAYERS", 8)), int(E("HEADS", 8)), int(E("HEAD_DIM", 128))
CHUNK, TOKENS, SEED = int(E("CHUNK", 256)), int(E("PROMPT_TOKENS", 1000)), int(E("SEED", 42))
MODEL = "example/tiny-llm"


def backend():
    if E("BACKEND", "torch") == "torch":
        try:
            import torch
            return "torch", torch
        except ImportError:
            pass
    import numpy
    return "numpy", numpy


def prompt():
    x, out = SEED, []
    for _ in range(TOKENS):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(x % 32000)
    return out


def chunk_keys(tokens):
    """One key per chunk: a hash of the whole prefix the chunk ends (as
    LMCache chains them), so that a key names the same KV cache anywhere."""
    keys, h = [], hashlib.sha256()
    for start in range(0, len(tokens), CHUNK):
        for t in tokens[start:start + CHUNK]:
            h.update(t.to_bytes(4, "little"))
        keys.append("%s@1@0@%s@half" % (MODEL, h.copy().hexdigest()))
    return keys


def kv_of(name, lib, n_tokens, chunk):
    """The KV cache of one chunk, as a model would compute it (here: from
    the chunk index, so that decode can check it)."""
    shape = (LAYERS, 2, HEADS, n_tokens, HEAD_DIM)
    if name == "torch":
        g = lib.Generator().manual_seed(SEED * 1000 + chunk)
        return lib.randn(shape, generator=g).to(lib.float16)
    rng = lib.random.default_rng(SEED * 1000 + chunk)
    return rng.standard_normal(shape).astype(lib.float16)


def ptr_and_size(name, t):
    if name == "torch":
        return t.data_ptr(), t.numel() * t.element_size()
    return t.ctypes.data, t.nbytes


def empty_like(name, lib, t):
    return lib.empty_like(t)


def equal(name, lib, a, b):
    return bool(lib.equal(a, b)) if name == "torch" else bool(lib.array_equal(a, b))


def main():
    role = E("ROLE", "")
    if role not in ("prefill", "decode"):
        print("kv_offload: set ROLE=prefill or ROLE=decode", file=sys.stderr)
        return 2
    name, lib = backend()
    store = MooncakeDistributedStore()
    r = store.setup(E("MOONCAKE_LOCAL_HOSTNAME", "localhost"), "P2PHANDSHAKE",
                    int(E("MOONCAKE_GLOBAL_SEGMENT_SIZE", 512 << 20)), 64 << 20, "tcp", "",
                    E("MOONCAKE_MASTER", "127.0.0.1:50051"))
    if r != 0:
        print("kv_offload: setup failed: %d" % r, file=sys.stderr)
        return 1
    tokens = prompt()
    keys = chunk_keys(tokens)
    sizes = [min(CHUNK, TOKENS - i * CHUNK) for i in range(len(keys))]
    if role == "prefill":
        kvs = [kv_of(name, lib, n, i) for i, n in enumerate(sizes)]
        ps = [ptr_and_size(name, t) for t in kvs]
        for p, n in ps:
            assert store.register_buffer(p, n) == 0
        rc = ReplicateConfig()
        rc.replica_num = 1
        res = store.batch_put_from(keys, [p for p, _ in ps], [n for _, n in ps], rc)
        for p, _ in ps:
            store.unregister_buffer(p)
        if any(r != 0 for r in res):
            print("kv_offload: puts failed: %s" % res, file=sys.stderr)
            return 1
        print("prefill: %d chunks of KV cache (%s, %d bytes) stored from node %s" % (
            len(keys), name, sum(n for _, n in ps), store.get_hostname()))
    else:
        # look the chunks up in prefix order; read those present in one batch
        hit = 0
        while hit < len(keys) and store.is_exist(keys[hit]) == 1:
            hit += 1
        want = [kv_of(name, lib, n, i) for i, n in enumerate(sizes[:hit])]
        outs = [empty_like(name, lib, t) for t in want]
        ps = [ptr_and_size(name, t) for t in outs]
        got = store.batch_get_into(keys[:hit], [p for p, _ in ps], [n for _, n in ps])
        bad = [i for i, (g, (_, n)) in enumerate(zip(got, ps)) if g != n or not equal(name, lib, outs[i], want[i])]
        print("decode: %d of %d chunks found on node %s, %d tokens to recompute, %d mismatched" % (
            hit, len(keys), store.get_hostname(), TOKENS - sum(sizes[:hit]), len(bad)))
        if bad or hit < len(keys):
            return 1
    store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
