/* SPDX-License-Identifier: MIT */
/*
 * The kernel types ebpf/mcstore.bpf.c needs, in place of a vmlinux.h
 * dumped from some kernel's BTF (bpftool btf dump ... format c).
 *
 * Why so small: a dumped vmlinux.h is the build host's running kernel,
 * 100,000 lines of it, so a package built on one machine differs from
 * the same package built on another, and a build host without BTF (a
 * container, a chroot on an old kernel) silently built no `top`. The
 * programs only count and keep histograms of USDT arguments; what they
 * take from the kernel is fixed-width integers, a few BPF UAPI
 * constants (stable ABI: their values never change), and the register
 * set a uprobe program is handed (struct pt_regs), of which libbpf's
 * <bpf/usdt.bpf.h> reads the instruction pointer (PT_REGS_IP) when the
 * kernel has no BPF cookies. The arguments themselves are read at
 * offsets libbpf computes in user space when it attaches.
 *
 * CO-RE: the register structs are marked preserve_access_index, so each
 * field access is recorded as a relocation by name, and libbpf rewrites
 * the offsets against the BTF of the kernel it loads on
 * (/sys/kernel/btf/vmlinux, which mcstorectl top therefore needs at run
 * time). One object runs on every kernel with BTF; the layouts below are
 * the current ones, so the offsets are right even before relocation.
 *
 * Defining __VMLINUX_H__ tells <bpf/bpf_tracing.h> that struct pt_regs
 * has the kernel's field names (x86: di, si, ip, not rdi, rsi, rip).
 *
 * To extend it (a new program, a new architecture): declare only what
 * the compiler asks for, with the kernel's names (take them from
 * `bpftool btf dump file /sys/kernel/btf/vmlinux format c`, never copy
 * the dump), mark every kernel struct the programs dereference with
 * MCS_CORE, and for a new architecture declare the struct that
 * bpf_tracing.h's __PT_REGS_CAST names for it, then add the architecture
 * to the list configure.ac accepts. A build that wants the whole dump
 * after all can still have it: configure VMLINUX_BTF=/sys/kernel/btf/vmlinux.
 */
#ifndef __VMLINUX_H__
#define __VMLINUX_H__

#define MCS_CORE __attribute__((preserve_access_index))

typedef signed char __s8;
typedef unsigned char __u8;
typedef short __s16;
typedef unsigned short __u16;
typedef int __s32;
typedef unsigned int __u32;
typedef long long __s64;
typedef unsigned long long __u64;
typedef __s8 s8;
typedef __u8 u8;
typedef __s16 s16;
typedef __u16 u16;
typedef __s32 s32;
typedef __u32 u32;
typedef __s64 s64;
typedef __u64 u64;
/* in the prototypes of <bpf/bpf_helper_defs.h> */
typedef __u16 __be16;
typedef __u32 __be32;
typedef __u32 __wsum;

typedef _Bool bool;
enum { false = 0, true = 1 };

/* include/uapi/linux/bpf.h: the map types and update flags used here */
enum bpf_map_type {
	BPF_MAP_TYPE_UNSPEC = 0,
	BPF_MAP_TYPE_HASH = 1,
	BPF_MAP_TYPE_ARRAY = 2,
};

enum {
	BPF_ANY = 0,
	BPF_NOEXIST = 1,
	BPF_EXIST = 2,
};

#if defined(__TARGET_ARCH_x86)
/* arch/x86/include/asm/ptrace.h (x86_64); the context of uprobe programs */
struct pt_regs {
	unsigned long r15;
	unsigned long r14;
	unsigned long r13;
	unsigned long r12;
	unsigned long bp;
	unsigned long bx;
	unsigned long r11;
	unsigned long r10;
	unsigned long r9;
	unsigned long r8;
	unsigned long ax;
	unsigned long cx;
	unsigned long dx;
	unsigned long si;
	unsigned long di;
	unsigned long orig_ax;
	unsigned long ip;
	unsigned long cs;
	unsigned long flags;
	unsigned long sp;
	unsigned long ss;
} MCS_CORE;
#elif defined(__TARGET_ARCH_arm64)
/* arch/arm64/include/uapi/asm/ptrace.h: what bpf_tracing.h casts the
 * context (struct pt_regs, which begins with these) to */
struct pt_regs;
struct user_pt_regs {
	__u64 regs[31];
	__u64 sp;
	__u64 pc;
	__u64 pstate;
} MCS_CORE;
#else
#error "ebpf/mcstore-vmlinux.h: no register set for this architecture (configure with VMLINUX_BTF=/sys/kernel/btf/vmlinux, or add it here)"
#endif

#endif /* __VMLINUX_H__ */
