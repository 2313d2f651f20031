#!/usr/bin/env bash
# The end-to-end migration test: a real QEMU guest moves from host A to host B while a
# client behind host C streams UDP to it at 5000 datagrams per second and holds a TCP
# connection open. Hosts are network namespaces on an underlay bridge, each with fabricd
# (DPDK: an af_packet uplink; the guest on a net_vhost port over vhost-user, or with
# E2E_PORT=tap behind a tap read by an af_packet port); fabricd on A drives the migration
# (QMP), prepares B over gRPC with mutual TLS, and flips the guest's endpoint to FORWARDING
# at the switchover; B holds and releases. Then, in the same run:
#   - the baseline: the guest moves back B -> A with QEMU alone and the fabric updated
#     only after QEMU completed (no forwarding, no hold), and the packets it loses;
#   - the failure test: a migration A -> B whose target QEMU is killed during pre-copy;
#     the guest keeps running on A and answering, and the fabric is as it was.
#
#   test_e2e_migration.sh FABRICD FABRICCTL
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
FABRICD=$1
FABRICCTL=$2
RATE=${VMF_E2E_RATE:-5000}
# shellcheck source=../netns/lib.sh
. "$HERE/../netns/lib.sh"
# shellcheck source=e2e_lib.sh
. "$HERE/e2e_lib.sh"

require_root "the end-to-end migration test"
for tool in qemu-system-x86_64 openssl busybox; do
	command -v "$tool" >/dev/null || { echo "SKIP: $tool not found (scripts/setup-debian.sh installs it)"; exit 77; }
done

setup_rig || { echo "# the rig did not come up"; exit 1; }
ok "three hosts, fabricd on each, endpoints programmed"
start_guest A || exit 1
check "the guest answers from A before the migration" \
	in_ns cl /usr/bin/python3 "$GUESTCTL" udp-echo $GUEST_IP 20

# --- vmfabric: A -> B ---
start_stream "$RATE" stream1 || exit 1
guest_ctl dirty 32 20 >/dev/null
sleep 1
if vmfabric_migrate A B mig1; then ok "vmfabric migrated the guest A -> B (COMPLETED)"; else not_ok "vmfabric migration A -> B"; fi
sleep 2
stop_stream stream1 || not_ok "the client's stream wrote no result"
guest_ctl stop >/dev/null 2>&1

r=$TMP/stream1.json m=$TMP/mig1.json
echo "# stream: $(stream_summary "$r")"
echo "# timeline and figures:"
ctl hA migrations show "$(jfield "$m" "['migration_id']")" | sed 's/^/#   /'
echo "# the migration drivers' log (A, then B):"
grep -h "migration " "$TMP/hA.log" "$TMP/hB.log" | sed 's/^/#   /'
for h in A B; do
	[ "$E2E_PORT" = tap ] && echo "# $h's tap: $(in_ns h$h ip -s link show tapvm | awk 'NR==4{rx=$2" rx, "$4" rx dropped"} NR==6{print rx", "$2" tx, "$4" tx dropped"}')"
	echo "# $h's counters: $(ctl h$h stats --json | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print({k: v for k, v in d["counters"].items() if v}, {k: v for k, v in d.get("drops", {}).items() if v})')"
done
check "no datagram lost across the vmfabric migration" test "$(jfield "$r" "['lost']")" -eq 0
check "no datagram duplicated" test "$(jfield "$r" "['duplicates']")" -eq 0
check "at least $RATE datagrams per second were sent" \
	test "$(jfield "$r" "['sent']")" -ge "$RATE"
check "the TCP connection survived, every line echoed" test "$(jfield "$r" "['tcp_ok']")" = True
check "the source forwarded frames to the target" test "$(jfield "$m" "['packets']['packets_forwarded']")" -gt 0
check "the target held frames and released them all" /usr/bin/python3 -c "
import json,sys; p=json.load(open('$m'))['packets']
sys.exit(0 if p['packets_held'] > 0 and p['packets_released'] == p['packets_held'] else 1)"
check "QEMU reported the downtime" test "$(jfield "$m" "['qemu']['downtime_ms']")" -gt 0
check "the target activated the VM (trigger recorded)" test "$(jfield "$m" "['activation_trigger']")" != UNSPECIFIED
check "the guest answers at the same IP from B" in_ns cl /usr/bin/python3 "$GUESTCTL" udp-echo $GUEST_IP 20
check "the client still sees the guest's MAC for its IP" \
	sh -c "ip netns exec $(ns cl) ip neigh show $GUEST_IP | grep -qi $GUEST_MAC"
check "the guest runs on B (QEMU on B is running)" \
	sh -c "/usr/bin/python3 '$GUESTCTL' qmp '$TMP/qB/vm1.qmp' '{\"execute\":\"query-status\"}' | grep -q '\"running\": true'"
check "B holds the guest's endpoint LOCAL" sh -c "'$FABRICCTL' --socket unix:$TMP/hB.sock flows --mac $GUEST_MAC --json | grep -q '\"state\": *\"local\"'"
VMF_DOWNTIME=$(jfield "$m" "['qemu']['downtime_ms']")
VMF_GAP=$(jfield "$r" "['longest_gap_ms']")
VMF_LOST=$(jfield "$r" "['lost']")

# --- the baseline: B -> A with QEMU alone, the fabric updated after completion ---
start_stream "$RATE" stream2 || exit 1
sleep 1
if baseline_migrate B A base1; then ok "baseline migration B -> A done by QEMU alone"; else not_ok "baseline migration B -> A"; fi
sleep 2
stop_stream stream2 || not_ok "the client's stream wrote no result"
BASE_LOST=$(jfield "$TMP/stream2.json" "['lost']")
BASE_GAP=$(jfield "$TMP/stream2.json" "['longest_gap_ms']")
echo "# baseline stream: $(stream_summary "$TMP/stream2.json")"
echo "# baseline QEMU: $(cat "$TMP/base1.json")"
check "the guest answers from A after the baseline migration" \
	in_ns cl /usr/bin/python3 "$GUESTCTL" udp-echo $GUEST_IP 20

# --- failure: the target QEMU dies during pre-copy ---
start_stream "$RATE" stream3 || exit 1
guest_ctl dirty 64 40 >/dev/null
start_guest B incoming || exit 1

ctl hA migrate vm1 --to B --target-vtep "$(vtep_of B)" --target-agent "$(mgmt_of B):7411" \
	--uri "tcp:$(mgmt_of B):6444" --max-bandwidth 4000000 --no-wait --json \
	>"$TMP/mig3.start.json" 2>"$TMP/mig3.err"
check "a second migration A -> B started" test -s "$TMP/mig3.start.json"
id3=$(jfield "$TMP/mig3.start.json" "['migration_id']" 2>/dev/null)
for _ in $(seq 50); do
	ctl hA migrations show "$id3" --json >"$TMP/mig3.json" 2>/dev/null
	[ "$(jfield "$TMP/mig3.json" "['phase']" 2>/dev/null)" = PRECOPY ] && break
	sleep 0.1
done
check "it is in pre-copy" test "$(jfield "$TMP/mig3.json" "['phase']")" = PRECOPY
check "B holds the guest's endpoint INCOMING" sh -c "'$FABRICCTL' --socket unix:$TMP/hB.sock flows --mac $GUEST_MAC --json | grep -q '\"state\": *\"incoming\"'"
sleep 1
kill -KILL "$(guest_pid B)"
for _ in $(seq 100); do
	ctl hA migrations show "$id3" --json >"$TMP/mig3.json" 2>/dev/null
	[ "$(jfield "$TMP/mig3.json" "['phase']")" = FAILED ] && break
	sleep 0.1
done
check "the migration FAILED" test "$(jfield "$TMP/mig3.json" "['phase']")" = FAILED
echo "# failure reason: $(jfield "$TMP/mig3.json" "['failure_reason']")"
sleep 1
stop_stream stream3 || not_ok "the client's stream wrote no result"
guest_ctl stop >/dev/null 2>&1
echo "# stream through the failure: $(stream_summary "$TMP/stream3.json")"
check "the guest kept answering through the failure (nothing lost)" test "$(jfield "$TMP/stream3.json" "['lost']")" -eq 0
check "the guest still answers from A" in_ns cl /usr/bin/python3 "$GUESTCTL" udp-echo $GUEST_IP 20
check "the guest runs on A" \
	sh -c "/usr/bin/python3 '$GUESTCTL' qmp '$TMP/qA/vm1.qmp' '{\"execute\":\"query-status\"}' | grep -q '\"running\": true'"
state_of() { "$FABRICCTL" --socket "unix:$TMP/h$1.sock" flows --mac $GUEST_MAC --json |
	/usr/bin/python3 -c "import json,sys; f=json.load(sys.stdin)[0]; print(f['state'], f.get('port') or f.get('vtep'))"; }
s=$(state_of A); check "A: the guest's endpoint is LOCAL on vm1 ($s)" test "$s" = "local vm1"
s=$(state_of B); check "B: REMOTE at A, its INCOMING state dropped ($s)" test "$s" = "remote $(vtep_of A)"
s=$(state_of C); check "C: REMOTE at A, unchanged ($s)" test "$s" = "remote $(vtep_of A)"

echo "#"
echo "# guest attached by $E2E_PORT"
echo "# vmfabric:  lost $VMF_LOST datagrams at $RATE/s; QEMU downtime ${VMF_DOWNTIME} ms, longest gap ${VMF_GAP} ms"
echo "# baseline:  lost $BASE_LOST datagrams at $RATE/s; longest gap ${BASE_GAP} ms"
stop_guest A
finish
