/* SPDX-License-Identifier: MIT */
/*
 * Static tracing points (USDT, provider "mcstore") in mcstore-master and
 * mcstored, for ebpf/ and mcstorectl top. A probe is one nop in the code
 * and a note in the ELF file (.note.stapsdt); it costs nothing until a
 * tracer attaches (a uprobe then replaces the nop). Arguments are plain
 * integers or pointers the caller already has, so the nop is all that
 * runs. Without <sys/sdt.h> (systemtap-sdt-dev) the probes compile to
 * nothing.
 *
 * The probes and their arguments (times: CLOCK_MONOTONIC; hash: XXH3-64
 * of the key, as the store keys its table):
 *
 *  mcstore-master
 *   lease_grant(hash, ttl_ms, kind)     a read lease on a free object;
 *                                       kind 0: GetReplicaList, 1: ExistKey
 *   lease_extend(hash, ttl_ms, kind)    the same on an object still leased
 *   lease_expire(hash, held_ms, late_ms)  a lease that ran out, observed
 *                                       when the object is leased again
 *                                       (leases end without a timer);
 *                                       held_ms: first grant to end, late_ms:
 *                                       end to observation
 *   get(hash, size, hold)               GetReplicaList served
 *   put_start(hash, size, status)       PutStart answered (status < 0: refused)
 *   put_end(hash, size, put_ms)         PutEnd: object complete, put_ms after start
 *   put_revoke(hash)                    a pending put dropped
 *   evict_run(objects, bytes, samples, ns)  one eviction run
 *   heartbeat_recv(peer, gap_ns, name)  a heartbeat; peer: an id of the
 *                                       connection, gap_ns since the
 *                                       previous one (0: first), name:
 *                                       "NODE@ADDR:PORT", the name the
 *                                       heartbeats give and the peer's
 *                                       address (NUL-terminated)
 *   node_lost(peer, silent_ms, name)    a node declared lost after silent_ms
 *   node_gone(peer, objects, name)      a node's connection closed from its
 *                                       side (it died) with segments still
 *                                       mounted; objects: how many dropped
 *
 *  mcstored
 *   heartbeat_send(seq)                 a heartbeat sent to the master
 *   heartbeat_ack(seq, rtt_ns, status)  the master's answer
 *   heartbeat_missed(seq, outstanding)  the previous heartbeat was not yet
 *                                       answered when the next one is due
 *   request(opcode, status, ns)         a client's request relayed to the
 *                                       master and answered, ns round trip
 *                                       (PUT_START, PUT_END, GET_REPLICAS...)
 */
#ifndef MCS_PROBES_H
#define MCS_PROBES_H

#if defined(HAVE_SYS_SDT_H) && !defined(MCS_NO_PROBES)
#include <sys/sdt.h>
#define MCS_PROBE1(n, a) DTRACE_PROBE1(mcstore, n, a)
#define MCS_PROBE2(n, a, b) DTRACE_PROBE2(mcstore, n, a, b)
#define MCS_PROBE3(n, a, b, c) DTRACE_PROBE3(mcstore, n, a, b, c)
#define MCS_PROBE4(n, a, b, c, d) DTRACE_PROBE4(mcstore, n, a, b, c, d)
#else
#define MCS_PROBE1(n, a) ((void)(a))
#define MCS_PROBE2(n, a, b) ((void)(a), (void)(b))
#define MCS_PROBE3(n, a, b, c) ((void)(a), (void)(b), (void)(c))
#define MCS_PROBE4(n, a, b, c, d) ((void)(a), (void)(b), (void)(c), (void)(d))
#endif

#endif
