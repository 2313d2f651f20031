#!/usr/bin/env bash
# Boots vmfabric's test guest under QEMU in a network namespace, cabled to a tap whose host
# side has an address in the guest's subnet, and checks guestd's three services: the UDP
# echo (sequence numbers come back once each), the TCP line echo and the dirty control.
# Then quits QEMU over QMP. Exits 77 (SKIP) without root, /dev/net/tun or QEMU.
#   test_guest_boot.sh
# Environment: VMF_ACCEL (auto|kvm|tcg), VMF_GUEST_IMAGE (a directory to keep the image
# in between runs; by default it is built in a temporary directory and removed).
set -u
here=$(cd "$(dirname "$0")" && pwd)

skip() {
	echo "SKIP: test_guest_boot: $*"
	exit 77
}
[ "$(id -u)" -eq 0 ] || skip "needs root (network namespaces, taps)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun"
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86_64 is not installed (qemu-system-x86)"
[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3"

NS=vmfg$$
TMP=$(mktemp -d /tmp/vmf-guest-boot.XXXXXX)
IMAGE=${VMF_GUEST_IMAGE:-$TMP/image}
PASSED=0
FAILED=0

cleanup() {
	"$here/run-guest.sh" --stop "$TMP" >/dev/null 2>&1
	ip netns del "$NS" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ok() {
	PASSED=$((PASSED + 1))
	echo "ok - $*"
}
not_ok() {
	FAILED=$((FAILED + 1))
	echo "not ok - $*"
}
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
finish() {
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit
}
in_ns() { ip netns exec "$NS" "$@"; }
ctl() { in_ns "$here/guestctl.py" ctl 10.0.0.1 "$@"; }

check "the image builds ($IMAGE)" "$here/build-initramfs.sh" "$IMAGE"

ip netns add "$NS"
ip -n "$NS" link set lo up
in_ns sysctl -qw net.ipv6.conf.all.disable_ipv6=1

if "$here/run-guest.sh" -d "$TMP" -n "$NS" -t tapvm -i "$IMAGE" --ip 10.0.0.1/24 --mtu 1450 \
	--mac 52:54:00:12:34:56 >"$TMP/run.out" 2>&1; then
	cat "$TMP/run.out"
	ok "the guest boots and says it is ready ($(cat "$TMP/guest.boot-ms") ms, $(cat "$TMP/guest.accel"))"
else
	cat "$TMP/run.out"
	not_ok "the guest boots and says it is ready"
	finish
fi
ip -n "$NS" addr add 10.0.0.2/24 dev tapvm

ready=$(grep -m1 'vmf-guest: ready' "$TMP/guest.serial")
check "the guest keeps QEMU's MAC and takes the address and MTU from the command line" \
	grep -q 'ip=10.0.0.1/24 mac=52:54:00:12:34:56 mtu=1450' <<<"$ready"
check "guestd printed its ready line" grep -q '^guestd: ready' "$TMP/guest.serial"
check "the guest answers ping" in_ns ping -c 2 -i 0.2 -W 2 10.0.0.1 >/dev/null
check "UDP echo: 20 numbered datagrams come back once each" in_ns "$here/guestctl.py" udp-echo 10.0.0.1 20
check "TCP echo: 5 lines come back on one connection" in_ns "$here/guestctl.py" tcp-echo 10.0.0.1 5

stats=$(ctl stats)
check "guestd counted the UDP datagrams ($stats)" grep -q 'udp_rx=20 udp_tx=20' <<<"$stats"
check "dirty 8 MiB at 50 MiB/s: ok" test "$(ctl dirty 8 50)" = ok
sleep 1.5
stats=$(ctl stats)
dirtied=$(sed -n 's/.*dirtied_mib=\([0-9]*\).*/\1/p' <<<"$stats")
check "memory is being dirtied (${dirtied:-?} MiB in 1.5 s)" test "${dirtied:-0}" -ge 20
check "dirty 16 MiB as fast as it can, fill mode: ok" test "$(ctl dirty 16 0 fill)" = ok
sleep 0.5
check "check: every page of the buffer holds its last write" grep -q '^ok 4096 pages$' <<<"$(ctl check)"
check "dirty 4 MiB as fast as it can: ok" test "$(ctl dirty 4 0)" = ok
check "stop: ok" test "$(ctl stop)" = ok
check "a bad command is refused" grep -q '^error' <<<"$(ctl dirty lots 2>&1)"
check "the guest still answers after dirtying" in_ns "$here/guestctl.py" udp-echo 10.0.0.1 5
check "no kernel trouble on the console" bash -c "! grep -E 'Kernel panic|BUG|Oops|Call Trace' '$TMP/guest.serial'"

pid=$(cat "$TMP/guest.pid")
check "QMP quit is accepted" "$here/guestctl.py" qmp "$TMP/guest.qmp" '{"execute":"quit"}' >/dev/null
for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
check "QEMU exited after quit" bash -c "! kill -0 $pid 2>/dev/null"
finish
