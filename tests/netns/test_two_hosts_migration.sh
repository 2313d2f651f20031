#!/usr/bin/env bash
# Two hosts on an underlay veth pair, each running fabricd (DPDK backend on af_packet
# ports), with VMs in namespaces behind them. Checks that ping and a UDP stream cross the
# overlay as VXLAN with the right VNI (tshark decodes the underlay), then moves a VM from
# host A to host B with the four steps (INCOMING on B, FORWARDING on A, activation by the
# moved VM's gratuitous ARP, end of forwarding) while a client on A streams UDP to it,
# and checks that no sequence number is lost or duplicated.
#   test_two_hosts_migration.sh FABRICD FABRICCTL
set -u
FABRICD=$1
FABRICCTL=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
require_root test_two_hosts_migration
for tool in tshark ethtool ping; do
	command -v "$tool" >/dev/null || { echo "FAIL: $tool is not installed (scripts/setup-debian.sh)"; exit 1; }
done

VNI=100
MAC_A=02:00:00:00:01:01
MAC_B=02:00:00:00:01:02
VM_C=52:54:00:00:00:0c # the client, on A
VM_Y=52:54:00:00:00:0e # a VM on B
VM_X=52:54:00:00:00:0a # the VM that moves from A to B
UDP=$here/udpseq.py

add_host hA
add_host hB
ip link add uA netns "$(ns hA)" address $MAC_A type veth peer name uB netns "$(ns hB)" address $MAC_B
in_ns hA ip link set uA up
in_ns hB ip link set uB up
add_vm vmC $VM_C 10.0.0.3 hA pC
add_vm vmX $VM_X 10.0.0.1 hA pX
add_vm vmY $VM_Y 10.0.0.2 hB pY
# X's new home on B: the same MAC and address, as after a live migration.
add_vm vmX2 $VM_X 10.0.0.1 hB pX

start_fabricd hA --vtep 192.0.2.1 --uplink net_af_packet0,iface=uA --peer 192.0.2.2=$MAC_B \
	--vm-port c:$VNI:net_af_packet1,iface=pC --vm-port x:$VNI:net_af_packet2,iface=pX \
	--hold-frames 16384 || exit 1
start_fabricd hB --vtep 192.0.2.2 --uplink net_af_packet0,iface=uB --peer 192.0.2.1=$MAC_A \
	--vm-port y:$VNI:net_af_packet1,iface=pY --vm-port x:$VNI:net_af_packet2,iface=pX \
	--hold-frames 16384 || exit 1

# The controller's part, by hand: where every endpoint is, generation 1.
ctl hA endpoints add --vni $VNI --mac $VM_C --state local --port c --gen 1 --ip 10.0.0.3 >/dev/null &&
ctl hA endpoints add --vni $VNI --mac $VM_X --state local --port x --gen 1 --ip 10.0.0.1 >/dev/null &&
ctl hA endpoints add --vni $VNI --mac $VM_Y --state remote --vtep 192.0.2.2 --gen 1 --ip 10.0.0.2 >/dev/null &&
ctl hB endpoints add --vni $VNI --mac $VM_Y --state local --port y --gen 1 --ip 10.0.0.2 >/dev/null &&
ctl hB endpoints add --vni $VNI --mac $VM_C --state remote --vtep 192.0.2.1 --gen 1 --ip 10.0.0.3 >/dev/null &&
ctl hB endpoints add --vni $VNI --mac $VM_X --state remote --vtep 192.0.2.1 --gen 1 --ip 10.0.0.1 >/dev/null
check "endpoints programmed on both hosts" test $? -eq 0

# --- across the overlay: ping, UDP, and what the underlay carries ---
# The capture is on B's side of the underlay: frames fabricd sends on an af_packet port
# bypass the qdisc and are not seen by a capture on the sending interface.
bg_in_ns hB tshark -q -i uB -f "udp port 4789" -w "$TMP/underlay.pcap" -a duration:8 >/dev/null 2>&1
tshark_pid=$BG_PID
wait_for_capture "$TMP/underlay.pcap"
check "ping from a VM on A to a VM on B" in_ns vmC ping -c 5 -i 0.2 -W 2 10.0.0.2 >/dev/null
packets_y_before=$(flow_packets hB $VM_Y)
bg_in_ns vmY "$UDP" recv 6000 "$TMP/y.seq" 2
recv_pid=$BG_PID
sleep 0.3
in_ns vmC "$UDP" send 10.0.0.2 6000 2000 2000 >/dev/null
wait $recv_pid
kill -INT $tshark_pid 2>/dev/null
check "UDP stream A -> B: 2000 datagrams, none lost or duplicated" "$UDP" check "$TMP/y.seq" 2000
packets_y_after=$(flow_packets hB $VM_Y)
check "fabricctl flows on B: Y's packets grew by the stream ($packets_y_before -> $packets_y_after)" \
	test "$packets_y_after" -ge $((packets_y_before + 2000))
wait $tshark_pid
tshark -r "$TMP/underlay.pcap" -T fields -e vxlan.vni -e ip.src -e ip.dst -E separator=' ' \
	-Y vxlan >"$TMP/vxlan.txt" 2>/dev/null
vxlan_frames=$(wc -l <"$TMP/vxlan.txt")
check "tshark decodes the underlay as VXLAN ($vxlan_frames frames)" test "$vxlan_frames" -ge 2000
# Each line: the VNI, then outer and inner IPv4 sources, then outer and inner destinations.
other_vni=$(grep -vc "^$VNI " "$TMP/vxlan.txt")
check "every VXLAN frame carries VNI $VNI ($other_vni others)" test "$other_vni" -eq 0
check "outer addresses are the VTEPs, inner the VMs'" \
	grep -q '^100 192.0.2.1,10.0.0.3 192.0.2.2,10.0.0.2$' "$TMP/vxlan.txt"

# --- the move of X from A to B, under a UDP stream from C (on A) to X ---
COUNT=6000
RATE=2000
bg_in_ns vmX "$UDP" recv 7000 "$TMP/x-on-a.seq"
recv_a=$BG_PID
bg_in_ns vmX2 "$UDP" recv 7000 "$TMP/x-on-b.seq" 20
recv_b=$BG_PID
sleep 0.3
bg_in_ns vmC "$UDP" send 10.0.0.1 7000 $RATE $COUNT >"$TMP/send.log"
send_pid=$BG_PID
sleep 1
bg_in_ns hB tshark -q -i uB -f "udp port 4789" -w "$TMP/move.pcap" -a duration:5 >/dev/null 2>&1
tshark_pid=$BG_PID
wait_for_capture "$TMP/move.pcap"
# 1. Target: B holds frames for X from now on.
ctl hB endpoints prepare --vni $VNI --mac $VM_X --port x --gen 2 --ip 10.0.0.1 >/dev/null
check "B: X is INCOMING on port x" test $? -eq 0
# 2. Source, at the switchover: A tunnels every frame for X to B.
ctl hA endpoints forward --vni $VNI --mac $VM_X --to 192.0.2.2 --gen 2 >/dev/null
check "A: X is FORWARDING to B" test $? -eq 0
sleep 0.2
# 3. X stops on A and resumes on B, where it announces itself: B activates it and
#    releases what it held, in order.
kill -TERM $recv_a
wait $recv_a
in_ns vmX2 /usr/bin/python3 -c "
from scapy.all import Ether, ARP, sendp
sendp(Ether(src='$VM_X', dst='ff:ff:ff:ff:ff:ff')/ARP(op=1, hwsrc='$VM_X', psrc='10.0.0.1',
      hwdst='00:00:00:00:00:00', pdst='10.0.0.1'), iface='eth0', verbose=False)"
sleep 0.3
check "B: X activated by its own gratuitous ARP" \
	sh -c "'$FABRICCTL' --socket unix:$TMP/hB.sock flows --mac $VM_X | grep -q ' local .*port x'"
# 4. The rest of the fabric converged: A stops forwarding.
ctl hA endpoints end-forward --vni $VNI --mac $VM_X --gen 2 >/dev/null
check "A: X is REMOTE at B" sh -c "'$FABRICCTL' --socket unix:$TMP/hA.sock flows --mac $VM_X | grep -q ' remote .*host 192.0.2.2'"
wait $send_pid
sleep 0.5
kill -INT $tshark_pid 2>/dev/null
kill -TERM $recv_b
wait $recv_b
wait $tshark_pid
check "UDP stream during the move: $COUNT datagrams, none lost or duplicated" \
	"$UDP" check "$TMP/x-on-a.seq" "$TMP/x-on-b.seq" $COUNT
forwarded=$(counter hA forwarded)
held=$(counter hB held)
released=$(counter hB released)
echo "# A forwarded $forwarded frames, B held $held and released $released"
check "A forwarded frames to B" test "$forwarded" -gt 0
check "B held frames and released every one" test "$held" -gt 0 -a "$held" -eq "$released"
marked=$(tshark -r "$TMP/move.pcap" -Y 'vxlan && ip.src == 192.0.2.1' -T fields -e vxlan.flags 2>/dev/null | grep -c '0x0801')
check "the forwarded frames carry the forwarded-by-source marker on the wire ($marked seen)" \
	test "$marked" -gt 0 -a "$marked" -le "$forwarded"
ctl hA flows
ctl hB flows
finish
