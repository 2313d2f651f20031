# Shared by the network-namespace tests: namespaces, veths, fabricd instances, checks,
# and cleanup of everything they made, even when a check fails half-way.
# shellcheck shell=bash

NS_PREFIX="vmf$$"
NAMESPACES=()
PIDS=()
TMP=$(mktemp -d /tmp/vmf-netns.XXXXXX)
PASSED=0
FAILED=0

require_root() {
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: $1 needs root for network namespaces and raw sockets (run the tests as root)"
		exit 77
	fi
}

cleanup() {
	for pid in "${PIDS[@]+"${PIDS[@]}"}"; do kill -INT "$pid" 2>/dev/null; done
	for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null
	done
	for ns in "${NAMESPACES[@]+"${NAMESPACES[@]}"}"; do ip netns del "$ns" 2>/dev/null; done
	grep -o " $TMP/[^ ]*" /proc/mounts | while read -r m; do umount "$m"; done
	rm -rf "/var/run/dpdk/${NS_PREFIX}"*
	# VMF_KEEP_TMP=1 keeps the logs, captures and guests' consoles for a look afterwards.
	if [ -n "${VMF_KEEP_TMP:-}" ]; then echo "# kept $TMP (VMF_KEEP_TMP)"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ns() { echo "${NS_PREFIX}$1"; }

add_ns() {
	local n
	n=$(ns "$1")
	ip netns add "$n"
	NAMESPACES+=("$n")
	ip -n "$n" link set lo up
}

in_ns() {
	local n
	n=$(ns "$1")
	shift
	ip netns exec "$n" "$@"
}

# Starts a command in a namespace in the background; BG_PID is its own pid (not a
# subshell's), so it can be signalled and waited for.
bg_in_ns() {
	local n
	n=$(ns "$1")
	shift
	ip netns exec "$n" "$@" &
	BG_PID=$!
	PIDS+=("$BG_PID")
}

# A VM: namespace $1 with eth0 (MAC $2, address $3/24, MTU 1450 so VXLAN fits the
# underlay), cabled to interface $5 inside host namespace $4. Checksums are computed in
# software: a frame taken by af_packet from a veth with a checksum left to "hardware"
# would reach the other VM with a wrong one.
add_vm() {
	local vm=$1 mac=$2 addr=$3 host=$4 port=$5
	add_ns "$vm"
	ip link add eth0 netns "$(ns "$vm")" address "$mac" type veth peer name "$port" netns "$(ns "$host")"
	in_ns "$vm" ip link set eth0 mtu 1450 up
	in_ns "$vm" ip addr add "$addr/24" dev eth0
	in_ns "$vm" ethtool -K eth0 tx off >/dev/null
	in_ns "$host" ip link set "$port" up
}

# Host namespaces: IPv6 off on their interfaces, so the only frames on the ports are the
# VMs' and the fabric's.
add_host() {
	add_ns "$1"
	in_ns "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	in_ns "$1" sysctl -qw net.ipv6.conf.default.disable_ipv6=1
}

# fabricd in host namespace $1 with agent socket $TMP/$1.sock; the rest are its options.
start_fabricd() {
	local host=$1
	shift
	ip netns exec "$(ns "$host")" "$FABRICD" --no-huge --no-pci -m 256 -l 0-1 --file-prefix "${NS_PREFIX}$host" \
		--log-level '*:warning' -- --listen "unix:$TMP/$host.sock" --host-name "$host" "$@" \
		>"$TMP/$host.log" 2>&1 &
	PIDS+=($!)
	for _ in $(seq 100); do
		"$FABRICCTL" --socket "unix:$TMP/$host.sock" --timeout 500 health >/dev/null 2>&1 && return 0
		kill -0 "${PIDS[-1]}" 2>/dev/null || break
		sleep 0.1
	done
	echo "fabricd on $host did not come up:"
	cat "$TMP/$host.log"
	return 1
}

ctl() {
	local host=$1
	shift
	"$FABRICCTL" --socket "unix:$TMP/$host.sock" "$@"
}

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
}

# The value of a counter in `fabricctl stats --json` of host $1.
counter() {
	ctl "$1" stats --json | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['counters']['$2'])"
}

# Waits until a capture started in the background is writing (dumpcap has begun).
wait_for_capture() {
	for _ in $(seq 100); do
		[ -s "$1" ] && { sleep 0.3; return 0; }
		sleep 0.1
	done
	echo "# capture $1 did not start"
}

# The packets counter of endpoint MAC $2 in `fabricctl flows --json` of host $1.
flow_packets() {
	ctl "$1" flows --json --mac "$2" |
		/usr/bin/python3 -c "import json,sys; r=json.load(sys.stdin); print(r[0]['packets'] if r else 0)"
}
