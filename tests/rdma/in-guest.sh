#!/bin/bash
# SPDX-License-Identifier: MIT
# The RDMA suite, inside the test guest (t-rdma.sh boots it with
# rxe-guest.sh): the guest's network, then each check, as one TAP stream.
#
# The network: one Soft-RoCE device per node, each on its own end of a
# veth pair whose other end is a port of a bridge, all in the guest's one
# network namespace (Soft-RoCE of Debian 12's kernel 6.1 listens in the
# first namespace only, and two devices on dummies, whose packets the
# kernel delivers locally, never reach each other; both were tried). For
# the packets between two of its own addresses to go out on the wire
# instead of through lo, each address has a rule of its own: from it, the
# subnet is reached through its veth; packets that come in on a veth are
# looked up in the local table first (delivered here, to the device on
# that veth); ARP answers only for the address of the interface asked.
#   rxe0  veth r0  10.9.0.1    rxe1  veth r1  10.9.0.2    rxe2  veth r2  10.9.0.3
set -u
: "${MCS_BUILDDIR:?}"
N_DEV=3
fail_setup() { echo "1..1"; echo "not ok 1 - the guest's RDMA network: $*"; exit 1; }

# the kernel's settings, written to /proc/sys itself (a minimal root has
# no sysctl): ifc setting value
conf() { echo "$3" >"/proc/sys/net/ipv4/conf/$1/$2" || fail_setup "cannot set $1 $2"; }
conf all arp_ignore 1
conf all arp_announce 2
conf all rp_filter 0
conf default rp_filter 0
conf all accept_local 1
ip link add br0 type bridge && ip link set br0 up || fail_setup "no bridge"
for i in $(seq 0 $((N_DEV - 1))); do
	ip link add r$i type veth peer name b$i || fail_setup "no veth pair r$i"
	ip link set b$i master br0 && ip link set b$i up
	conf r$i rp_filter 0
	conf r$i accept_local 1
	conf r$i arp_ignore 1
	conf r$i arp_announce 2
	ip addr add 10.9.0.$((i + 1))/24 dev r$i && ip link set r$i up || fail_setup "r$i"
	ip rule add pref $((10 + i)) iif r$i lookup local
	ip rule add pref $((20 + i)) from 10.9.0.$((i + 1)) to 10.9.0.$((i + 1)) lookup local
	ip rule add pref $((30 + i)) from 10.9.0.$((i + 1)) lookup $((100 + i))
	ip route add 10.9.0.0/24 dev r$i src 10.9.0.$((i + 1)) table $((100 + i))
	rdma link add rxe$i type rxe netdev r$i || fail_setup "rdma link add rxe$i"
done
ip rule del pref 0 lookup local && ip rule add pref 50 lookup local || fail_setup "the local rule"
# each device's IPv4 GID (its port is active): waited for, up to 180 s of
# an emulated machine on a loaded host (it comes within milliseconds)
for i in $(seq 0 $((N_DEV - 1))); do
	end=$((SECONDS + 180))
	until grep -q ffff:0a09 /sys/class/infiniband/rxe$i/ports/1/gids/1 2>/dev/null || [ $SECONDS -ge $end ]; do
		sleep 0.1
	done
	grep -q ffff:0a09 /sys/class/infiniband/rxe$i/ports/1/gids/1 || fail_setup "rxe$i has no IPv4 GID"
done

# the checks: each prints TAP of its own; here they become one stream
N=0
FAILED=0
sub() { # DESCRIPTION COMMAND...: the command's TAP lines, renumbered
	local desc=$1 line rc
	shift
	local out
	out=$("$@" 2>&1)
	rc=$?
	while IFS= read -r line; do
		case $line in
		"ok "* | "not ok "*)
			N=$((N + 1))
			local st=${line%% [0-9]*} rest=${line#* [0-9]* }
			[ "$st" = "ok" ] || FAILED=$((FAILED + 1))
			echo "$st $N - $desc: ${rest#- }"
			;;
		1..*) ;;
		*) echo "# $line" ;;
		esac
	done <<<"$out"
	if [ $rc -ne 0 ] && ! grep -q '^not ok' <<<"$out"; then
		N=$((N + 1))
		FAILED=$((FAILED + 1))
		echo "not ok $N - $desc: exited $rc"
	fi
}
V=$MCS_BUILDDIR/tests/rdma/verbs-check
sub "verbs rxe0-rxe1" "$V" rxe0 rxe1
sub "verbs rxe1-rxe2" "$V" rxe1 rxe2
sub "verbs rxe0 on itself" "$V" rxe0 rxe0
# rdma/'s own suite (Check, TAP on stdout), on two of the devices
if [ -x "$MCS_BUILDDIR/tests/rdma/test-rdma" ]; then
	sub "rdma/ (Check)" env CK_TAP_LOG_FILE_NAME=- CK_VERBOSITY=silent MCS_RDMA_DEVS=rxe0,rxe1 \
		"$MCS_BUILDDIR/tests/rdma/test-rdma"
fi
echo "1..$N"
exit 0
