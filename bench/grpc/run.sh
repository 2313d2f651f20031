#!/usr/bin/env bash
# bench/run grpc: endpoint updates per second from a gRPC client into the fast path's
# tables (streamed batches), the time `fabricctl flows --json` takes to list 1M flows,
# and unary latency; against a fabricd on net_null ports (no traffic, all control plane).
#   run.sh BUILD_DIR [ENDPOINTS]
set -euo pipefail
build=$1
n=${2:-1000000}
tmp=$(mktemp -d /tmp/vmf-bench-grpc.XXXXXX)
prefix=vmfbg$$
pid=
cleanup() {
	[ -n "$pid" ] && kill -INT "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$tmp" "/var/run/dpdk/$prefix"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$build/controlplane/fabricd/fabricd" --no-huge --no-pci -m 2048 -l 0-1 --file-prefix "$prefix" \
	--log-level '*:warning' -- --vtep 192.0.2.1 --uplink net_null0,no-rx=1 \
	--max-endpoints $((n + n / 8)) --listen "unix:$tmp/f.sock" >"$tmp/fabricd.log" 2>&1 &
pid=$!
for _ in $(seq 300); do
	"$build/controlplane/fabricctl/fabricctl" --socket "unix:$tmp/f.sock" --timeout 500 health \
		>/dev/null 2>&1 && break
	kill -0 "$pid" || { cat "$tmp/fabricd.log"; exit 1; }
	sleep 0.2
done
"$build/bench/bench_grpc" "unix:$tmp/f.sock" "$n"
rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "BENCH fabricd_rss_mib_with_endpoints $((rss / 1024)) MiB"
runs=()
for _ in 1 2 3; do
	start=$(date +%s%N)
	rows=$("$build/controlplane/fabricctl/fabricctl" --socket "unix:$tmp/f.sock" --timeout 60000 \
		flows --json | grep -c '"vni"')
	end=$(date +%s%N)
	[ "$rows" -eq "$n" ] || { echo "bench_grpc: listed $rows rows, want $n"; exit 1; }
	runs+=($(((end - start) / 1000000)))
done
median_ms=$(printf '%s\n' "${runs[@]}" | sort -n | sed -n 2p)
printf 'BENCH list_%s_flows_s %d.%03d s\n' "$( [ "$n" -eq 1000000 ] && echo 1m || echo "$n")" \
	$((median_ms / 1000)) $((median_ms % 1000))
