// SPDX-License-Identifier: (MIT OR GPL-2.0)
/*
 * BPF side of mcstorectl top: programs on the USDT probes of
 * mcstore-master and mcstored (common/probes.h) that count and keep
 * histograms (ebpf/mcstore-top.h). CO-RE: built against the few kernel
 * types of ebpf/mcstore-vmlinux.h (or, with configure VMLINUX_BTF=FILE,
 * a vmlinux.h bpftool dumps from that BTF), relocated by libbpf against
 * the running kernel's BTF when loaded through the skeleton bpftool
 * generates. Each program is named after its probe, so the loader
 * attaches program NAME to probe mcstore:NAME.
 */
#ifdef MCS_VMLINUX_DUMP
#include "vmlinux.h"
#else
#include "ebpf/mcstore-vmlinux.h"
#endif
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/usdt.bpf.h>

#include "ebpf/mcstore-top.h"

char LICENSE[] SEC("license") = "Dual MIT/GPL";

struct mcs_top_stats stats;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MCS_TOP_MAX_NODES);
	__type(key, __u64);
	__type(value, struct mcs_top_node);
} nodes SEC(".maps");

static __always_inline __u32 log2_slot(__u64 v)
{
	__u32 r = 0;
	if (v >= (1ull << 32)) { v >>= 32; r += 32; }
	if (v >= (1ull << 16)) { v >>= 16; r += 16; }
	if (v >= (1ull << 8)) { v >>= 8; r += 8; }
	if (v >= (1ull << 4)) { v >>= 4; r += 4; }
	if (v >= (1ull << 2)) { v >>= 2; r += 2; }
	if (v >= (1ull << 1)) { r += 1; }
	return r;
}

static __always_inline void hist_add(struct mcs_hist *h, __u64 v)
{
	__u32 s = v ? log2_slot(v) + 1 : 0;
	if (s >= MCS_HIST_SLOTS)
		s = MCS_HIST_SLOTS - 1;
	__sync_fetch_and_add(&h->count, 1);
	__sync_fetch_and_add(&h->sum, v);
	__sync_fetch_and_add(&h->slot[s], 1);
}

#define INC(f) __sync_fetch_and_add(&stats.f, 1)

/* ---- mcstore-master ---- */

SEC("usdt")
int BPF_USDT(lease_grant, __u64 hash, __u64 ttl_ms, int kind)
{
	INC(lease_grants);
	return 0;
}

SEC("usdt")
int BPF_USDT(lease_extend, __u64 hash, __u64 ttl_ms, int kind)
{
	INC(lease_grants);
	INC(lease_extends);
	return 0;
}

SEC("usdt")
int BPF_USDT(lease_expire, __u64 hash, __u64 held_ms, __u64 late_ms)
{
	INC(lease_expires);
	hist_add(&stats.lease_held_ms, held_ms);
	return 0;
}

SEC("usdt")
int BPF_USDT(get, __u64 hash, __u64 size, int hold)
{
	INC(gets);
	return 0;
}

SEC("usdt")
int BPF_USDT(put_start, __u64 hash, __u64 size, int status)
{
	if (status < 0)
		INC(puts_refused);
	else
		INC(puts_started);
	return 0;
}

SEC("usdt")
int BPF_USDT(put_end, __u64 hash, __u64 size, __u64 put_ms)
{
	INC(puts_ended);
	hist_add(&stats.put_ms, put_ms);
	return 0;
}

SEC("usdt")
int BPF_USDT(put_revoke, __u64 hash)
{
	INC(puts_revoked);
	return 0;
}

SEC("usdt")
int BPF_USDT(evict_run, __u64 objects, __u64 bytes, __u64 samples, __u64 ns)
{
	INC(evict_runs);
	__sync_fetch_and_add(&stats.evicted_objects, objects);
	__sync_fetch_and_add(&stats.evicted_bytes, bytes);
	hist_add(&stats.evict_ns, ns);
	return 0;
}

static __always_inline struct mcs_top_node *node_of(__u64 peer, const char *name)
{
	struct mcs_top_node *n = bpf_map_lookup_elem(&nodes, &peer);
	if (n)
		return n;
	static const struct mcs_top_node zero;
	bpf_map_update_elem(&nodes, &peer, &zero, BPF_NOEXIST);
	n = bpf_map_lookup_elem(&nodes, &peer);
	if (n)
		bpf_probe_read_user_str(n->name, sizeof(n->name), name);
	return n;
}

SEC("usdt")
int BPF_USDT(heartbeat_recv, __u64 peer, __u64 gap_ns, const char *name)
{
	INC(heartbeats_recv);
	struct mcs_top_node *n = node_of(peer, name);
	if (!n)
		return 0;
	n->heartbeats++;
	n->last_ns = bpf_ktime_get_ns();
	if (gap_ns) {
		hist_add(&n->gap_ns, gap_ns);
		if (n->last_gap_ns)
			hist_add(&n->jitter_ns, gap_ns > n->last_gap_ns ? gap_ns - n->last_gap_ns : n->last_gap_ns - gap_ns);
		n->last_gap_ns = gap_ns;
	}
	return 0;
}

SEC("usdt")
int BPF_USDT(node_lost, __u64 peer, __u64 silent_ms, const char *name)
{
	INC(nodes_lost);
	hist_add(&stats.loss_silent_ms, silent_ms);
	struct mcs_top_node *n = node_of(peer, name);
	if (n)
		n->lost++;
	return 0;
}

SEC("usdt")
int BPF_USDT(node_gone, __u64 peer, __u64 objects, const char *name)
{
	INC(nodes_gone);
	return 0;
}

/* ---- mcstored ---- */

SEC("usdt")
int BPF_USDT(heartbeat_send, __u64 seq)
{
	INC(heartbeats_sent);
	return 0;
}

SEC("usdt")
int BPF_USDT(heartbeat_ack, __u64 seq, __u64 rtt_ns, int status)
{
	INC(heartbeats_acked);
	hist_add(&stats.heartbeat_rtt_ns, rtt_ns);
	return 0;
}

SEC("usdt")
int BPF_USDT(heartbeat_missed, __u64 seq, __u64 outstanding)
{
	INC(heartbeats_missed);
	return 0;
}

/* opcodes, as in proto/proto.h */
#define OP_PUT_START 20
#define OP_PUT_END 21
#define OP_GET_REPLICAS 23

SEC("usdt")
int BPF_USDT(request, int opcode, int status, __u64 ns)
{
	INC(requests);
	__u32 i = opcode == OP_PUT_START ? MCS_TOP_REQ_PUT_START
		: opcode == OP_PUT_END	 ? MCS_TOP_REQ_PUT_END
		: opcode == OP_GET_REPLICAS ? MCS_TOP_REQ_GET
					    : MCS_TOP_REQ_OTHER;
	if (i < MCS_TOP_REQ_N)
		hist_add(&stats.request_ns[i], ns);
	return 0;
}
