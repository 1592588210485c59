/* SPDX-License-Identifier: MIT */
/* mcstorectl top: live counters and histograms of a running daemon, from
 * the BPF programs in ebpf/ attached to its USDT probes. */
#ifndef MCS_CTL_TOP_H
#define MCS_CTL_TOP_H

/* argv[0] is "top". Returns the exit status (0, 2 usage, 3 failure). */
int mcs_ctl_top(int argc, char **argv);

#endif
