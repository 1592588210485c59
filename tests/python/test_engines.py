# SPDX-License-Identifier: MIT
"""The calls the inference engines' Mooncake backends make, in their order,
with their key formats, value sizes, batch sizes and the checks they apply
to the answers, through the mooncake compatibility import (from
mooncake.store import ...). Written from the engines' sources:
LMCache lmcache/v1/storage_backend/connector/mooncakestore_connector.py,
SGLang python/sglang/srt/mem_cache/storage/mooncake_store/mooncake_store.py,
vLLM vllm/distributed/kv_transfer/kv_connector/v1/mooncake/store/."""

import ctypes
import hashlib
import json
import struct
import uuid

import pytest

from test_mooncake import Mem, pattern

MiB = 1 << 20


def sha_chain(pages, prior=""):
    """SGLang's and vLLM's chained page hashes: 64 hex characters each."""
    out = []
    for tokens in pages:
        h = hashlib.sha256(bytes.fromhex(prior) + b"".join(struct.pack("<i", t) for t in tokens)).hexdigest()
        out.append(h)
        prior = h
    return out


def fill(mem, off, n, seed):
    mem.write(off, pattern(n, seed))


# ---- LMCache ---------------------------------------------------------------------------


def test_lmcache_zero_copy(cluster, n1, tmp_path, monkeypatch):
    """LMCache (current): setup(dict) with the JSON names, is_exist as a
    truth value in prefix order, batch_put_from of 256-token chunks (the
    last one partial), batch_get_into into full-chunk buffers, which must
    answer each object's true size, then unregister_buffer and close."""
    from mooncake.store import MooncakeDistributedStore, ReplicateConfig  # as LMCache imports them
    cfg_file = tmp_path / "mc.json"
    cfg_file.write_text(json.dumps({"local_hostname": "127.0.0.1", "metadata_server": "P2PHANDSHAKE",
                                    "master_server_address": cluster.master_addr, "protocol": "tcp",
                                    "global_segment_size": 0, "local_buffer_size": 1073741824}))
    monkeypatch.setenv("MOONCAKE_CONFIG_PATH", str(cfg_file))
    raw = json.loads(cfg_file.read_text())
    setup_dict = {k: str(v) for k, v in raw.items()}
    setup_dict.setdefault("device_name", "")
    s = MooncakeDistributedStore()
    s.setup(setup_dict)                          # LMCache ignores the return code
    assert s.health_check() == 0
    rc = ReplicateConfig()
    rc.replica_num = 1
    full = 2 * 4 * 256 * 8 * 128 * 2             # a 256-token chunk of a 4-layer bf16 model (4 MiB)
    pool = Mem(4 * full)                         # LMCache's pinned host pool
    assert s.register_buffer(pool.ptr, pool.n) == 0
    model = "meta-llama/Llama-3.1-8B-Instruct"
    hashes = [hash(("chunk", i)) for i in range(3)]          # builtin hash: may be negative
    keys = ["%s@1@0@%x@bfloat16" % (model, h) for h in hashes]
    sizes = [full, full, full * 88 // 256]                   # 600 tokens: 256, 256, 88
    # lookup: a loop of is_exist that stops at the first falsy answer
    assert not s.is_exist(keys[0])
    for i, n in enumerate(sizes):
        fill(pool, i * full, n, i)
    res = s.batch_put_from(keys, [pool.ptr + i * full for i in range(3)], sizes, rc)
    assert res == [0, 0, 0]                      # LMCache does not look, we do
    assert [bool(s.is_exist(k)) for k in keys] == [True, True, True]
    out = Mem(4 * full)
    got = s.batch_get_into(keys, [out.ptr + i * full for i in range(3)], [full] * 3)
    assert got == sizes
    for i, n in enumerate(got):
        assert n > 0 and n % (2 * 4 * 8 * 128 * 2) == 0 and n <= full
        assert out.read(i * full, n) == pattern(n, i)
    # a second writer of the same chunks (another instance): 0, the old bytes stay
    assert s.batch_put_from(keys, [pool.ptr] * 3, sizes, rc) == [0, 0, 0]
    assert s.unregister_buffer(pool.ptr) == 0
    assert s.close() == 0


def test_lmcache_legacy_put_parts(cluster, n1):
    """LMCache (save_chunk_meta): put_parts(key, 28-byte metadata, payload)
    without a config, read back with batch_get_buffer, memoryview and
    torch.frombuffer at offset 28."""
    from mooncake.store import MooncakeDistributedStore
    s = MooncakeDistributedStore()
    assert s.setup("127.0.0.1", "P2PHANDSHAKE", 0, 1 << 30, "tcp", "", cluster.master_addr) == 0
    payload = pattern(3 * MiB, 9)
    meta = struct.pack("<7i", len(payload), 2, 4, 256, 1024, 0, 1)
    key = "m/M@1@0@%x@half" % 0xabcdef
    s.put_parts(key, meta, memoryview(payload))
    bufs = s.batch_get_buffer([key, key + "-miss"])
    assert bufs[1] is None
    mv = memoryview(bufs[0])
    length = struct.unpack("<7i", mv[:28])[0]
    assert len(bufs[0]) == 28 + length
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning):              # torch says the buffer is read-only
        t = torch.frombuffer(bufs[0], dtype=torch.uint8, offset=28)
    assert bytes(t.numpy()) == payload
    del t, mv, bufs
    s.close()


# ---- SGLang ------------------------------------------------------------------------------


def test_sglang_hicache(cluster, n1):
    """SGLang HiCache (MHA, TP=1, page 64): setup with 8 positionals and
    keywords (an unknown keyword must be named by the TypeError), warm-up,
    register_buffer of the host pool (MooncakeHostMemAllocator), then per
    request: batch_is_exist over [h_k, h_v, ...], a write-through backup
    of the missing keys with batch_put_from, and on a hit batch_get_into
    (every result > 0). remove_all() on a flush; no close."""
    from mooncake.store import MooncakeDistributedStore, MooncakeHostMemAllocator, ReplicateConfig
    assert hasattr(ReplicateConfig, "group_ids") or hasattr(ReplicateConfig(), "group_ids")
    s = MooncakeDistributedStore()
    with pytest.raises(TypeError) as e:
        s.setup("localhost", "P2PHANDSHAKE", 0, 16777216, "tcp", "", cluster.master_addr, None,
                not_in_this_version=True)
    assert "not_in_this_version" in str(e.value)
    ret = s.setup("localhost", "P2PHANDSHAKE", 0, 16777216, "tcp", "", cluster.master_addr, None,
                  enable_client_http_server=False, tenant_id="default")
    assert not ret                                # SGLang: any non-zero is fatal
    w = "sglang_mooncake_store_warmup_key" + uuid.uuid4().hex
    assert s.put(w, bytes(4096)) == 0
    assert s.is_exist(w) == 1 and s.get(w) == bytes(4096)
    page_bytes = 64 * 4 * 8 * 128 * 2            # page of 64 tokens, 4 layers, 8 heads, bf16 (512 KiB)
    n_pages = 8
    host = MooncakeHostMemAllocator().alloc(2 * n_pages * page_bytes)
    assert s.register_buffer(host, 2 * n_pages * page_bytes) == 0
    pages = [[p * 64 + t for t in range(64)] for p in range(n_pages)]
    prefix = "Qwen-Qwen2.5-7B-Instruct_"
    keys = []
    for h in sha_chain(pages):
        keys += [prefix + h + "_0_k", prefix + h + "_0_v"]
    ptrs = [host + i * page_bytes for i in range(2 * n_pages)]
    for i in range(2 * n_pages):
        ctypes.memmove(ptrs[i], pattern(page_bytes, i), page_bytes)
    # request A, cold: prefetch query, then backup of what is missing
    res = s.batch_is_exist(keys)
    hit_pages = next((i for i, r in enumerate(res) if r != 1), len(res)) // 2
    assert hit_pages == 0
    missing = [i for i, r in enumerate(s.batch_is_exist(keys)) if r != 1]
    put = s.batch_put_from([keys[i] for i in missing], [ptrs[i] for i in missing], [page_bytes] * len(missing))
    assert all(r == 0 for r in put)
    # request B, same prefix: all pages hit, then loaded into other host pages
    res = s.batch_is_exist(keys)
    assert next((i for i, r in enumerate(res) if r != 1), len(res)) // 2 == n_pages
    dst = MooncakeHostMemAllocator().alloc(2 * n_pages * page_bytes)
    assert s.register_buffer(dst, 2 * n_pages * page_bytes) == 0
    got = s.batch_get_into(keys, [dst + i * page_bytes for i in range(2 * n_pages)], [page_bytes] * (2 * n_pages))
    assert all(r > 0 for r in got) and got == [page_bytes] * (2 * n_pages)
    for i in range(2 * n_pages):
        assert ctypes.string_at(dst + i * page_bytes, page_bytes) == pattern(page_bytes, i)
    # group semantics: a ReplicateConfig with one group id per key
    cfg = ReplicateConfig()
    cfg.group_ids = ["sglang-hicache:" + keys[0][:-2]] * 2
    assert s.batch_put_from([k + "g" for k in keys[:2]], ptrs[:2], [page_bytes] * 2, cfg) == [0, 0]
    # a flush
    assert s.remove_all() >= 0
    assert s.batch_is_exist(keys[:2]) in ([0, 0], [1, 1])   # leased keys (just read) survive a plain remove_all


# ---- vLLM --------------------------------------------------------------------------------


def test_vllm_store_connector(cluster, n1, monkeypatch, tmp_path):
    """vLLM MooncakeStoreConnector (TP=1, block 16): MOONCAKE_CONFIG_PATH,
    setup with 7 positionals (ret != 0 is fatal), register_buffer of each
    layer's KV region (GPU memory in vLLM: refused here with -600, only
    logged there), lookup with batch_is_exist (== 1), save with
    batch_is_exist then batch_put_from_multi_buffers(keys, addrs, sizes,
    rc) (-200 would pause saving), load with batch_get_into_multi_buffers
    (>= 0 is success), reset with remove_all(force=True), close."""
    from mooncake.store import MooncakeDistributedStore, ReplicateConfig
    from mooncake.mooncake_config import MooncakeConfig
    cfg_file = tmp_path / "vllm.json"
    cfg_file.write_text(json.dumps({"mode": "embedded", "metadata_server": "P2PHANDSHAKE",
                                    "master_server_address": cluster.master_addr, "global_segment_size": "0",
                                    "local_buffer_size": "64MB", "protocol": "tcp", "device_name": "",
                                    "local_hostname": "127.0.0.1"}))
    monkeypatch.setenv("MOONCAKE_CONFIG_PATH", str(cfg_file))
    c = MooncakeConfig.load_from_env()
    s = MooncakeDistributedStore()
    if s.setup("127.0.0.1", c.metadata_server, c.global_segment_size, c.local_buffer_size, c.protocol,
               c.device_name, c.master_server_address) != 0:
        raise RuntimeError("Initialize MooncakeDistributedStore failed.")
    rc = ReplicateConfig()
    layers, blocks, block_len = 8, 16, 32768
    # one KV region per layer, K and V halves: host memory here
    regions = [Mem(2 * blocks * block_len) for _ in range(layers)]
    for r in regions:
        assert s.register_buffer(r.ptr, r.n) == 0
    assert s.register_buffer(0x7F0000000000, 1 << 30) == -600      # a GPU region: refused, not faulted on
    model = "Llama-3.1-8B-Instruct"
    hashes = sha_chain([[b * 16 + t for t in range(16)] for b in range(6)])
    keys = ["%s@tp_rank:0@pcp0@dcp0@pp_rank:0@group:0@%s" % (model, h) for h in hashes]
    for b in range(6):
        for li, r in enumerate(regions):
            fill(r, b * block_len, block_len, 1000 * li + b)                       # K
            fill(r, (blocks + b) * block_len, block_len, 1000 * li + b + 500)     # V

    def addrs(b, rs):
        return [x for r in rs for x in (r.ptr + b * block_len, r.ptr + (blocks + b) * block_len)]

    assert s.batch_is_exist(keys) == [0] * 6
    todo = [i for i, e in enumerate(s.batch_is_exist(keys)) if e != 1]
    res = s.batch_put_from_multi_buffers([keys[i] for i in todo], [addrs(i, regions) for i in todo],
                                         [[block_len] * (2 * layers)] * len(todo), rc)
    assert -200 not in res and all(v >= 0 for v in res)
    assert s.batch_is_exist(keys) == [1] * 6
    dst = [Mem(2 * blocks * block_len) for _ in range(layers)]
    # the load thread rotates its lists by tp_rank % len: rank 0, none
    got = s.batch_get_into_multi_buffers(keys, [addrs(b, dst) for b in range(6)],
                                         [[block_len] * (2 * layers)] * 6)
    assert got == [2 * layers * block_len] * 6
    for b in range(6):
        for li, r in enumerate(dst):
            assert r.read(b * block_len, block_len) == pattern(block_len, 1000 * li + b)
            assert r.read((blocks + b) * block_len, block_len) == pattern(block_len, 1000 * li + b + 500)
    s.batch_get_replica_desc(keys)                # VLLM_MOONCAKE_STORE_TIER_LOG
    assert s.remove_all(True) >= 6
    assert s.batch_is_exist(keys) == [0] * 6
    s.close()
    # vLLM's regions live as long as the process; these die with the test
    for r in regions:
        assert s.unregister_buffer(r.ptr) == 0
