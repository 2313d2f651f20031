#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/run dataplane: the DPDK fast path's Mpps on one worker core, against dpdk-testpmd
# (io forwarding: the PMD path's limit) and OVS-DPDK (VXLAN push and pop) on the same
# input and the same ports, all in one run on this machine. See bench/README.md.
#
# usage: run.sh BUILD_DIR
#
# Environment (defaults in brackets):
#   VMF_BENCH_ROUNDS [3]       rounds of (ours, testpmd, OVS), interleaved against drift
#   VMF_BENCH_WINDOWS [3]      measurement windows per process and round
#   VMF_BENCH_WINDOW_S [2]     seconds per window
#   VMF_BENCH_HUGE [1]         2 MiB hugepages for every process (ours and the peers); 0: none
#   VMF_BENCH_UPDATES [1000000] endpoint updates per second in the busy windows
#   VMF_BENCH_UPDATE_MODES [encap decap forward arp]
#   VMF_BENCH_PEERS [testpmd ovs]
#
# Everything it creates (temporary directory, hugepage mount and pages, network namespace,
# OVS processes and their devices, DPDK runtime directories) is removed on exit, also on
# failure or interruption.
set -euo pipefail

build=${1:?usage: run.sh BUILD_DIR}
here=$(cd "$(dirname "$0")" && pwd)
bench=$build/bench/bench_dataplane
rounds=${VMF_BENCH_ROUNDS:-3}
windows=${VMF_BENCH_WINDOWS:-3}
window_s=${VMF_BENCH_WINDOW_S:-2}
use_huge=${VMF_BENCH_HUGE:-1}
update_rate=${VMF_BENCH_UPDATES:-1000000}
update_modes=${VMF_BENCH_UPDATE_MODES:-encap decap forward arp}
peers=${VMF_BENCH_PEERS:-testpmd ovs}
pages=1024 # 2 GiB: the largest process (OVS's shared mempool, or our 1M-endpoint tables
	   # with 131072 mbufs) needs under 1 GiB, and they run one at a time

tag=vmfbdp$$
work=$(mktemp -d "/tmp/vmf-bench-dataplane.XXXXXX")
ns=$tag
results=$work/results
: >"$results"
failed=()
child=""
pages_added=0
huge_mounted=0
ovs_up=0

log() { echo "# $*" >&2; }

ovs_env() {
	export OVS_RUNDIR=$work/ovs OVS_LOGDIR=$work/ovs OVS_DBDIR=$work/ovs
	export OVS_SYSCONFDIR=$work/ovs
}

# Stops the process a pidfile names (ours: OVS writes them into our directory): gives it
# $2 tenths of a second to exit by itself, then SIGTERM, then SIGKILL after 5 s.
stop_pidfile() {
	[ -f "$1" ] || return 0
	local pid
	pid=$(cat "$1")
	for _ in $(seq "${2:-0}"); do alive "$pid" || break; sleep 0.1; done
	alive "$pid" && { kill "$pid" 2>/dev/null || true; }
	for _ in $(seq 50); do alive "$pid" || break; sleep 0.1; done
	alive "$pid" && { kill -9 "$pid" 2>/dev/null || true; }
	rm -f "$1"
}

# Running and not a zombie: daemons that detached are reparented to PID 1, which here may
# take its time to reap them.
alive() {
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$state" ] && [ "$state" != Z ]
}

ovs_stop() {
	[ "$ovs_up" = 1 ] || return 0
	ovs_env
	ovs-appctl -t "$work/ovs/ovs-vswitchd.ctl" exit --cleanup >/dev/null 2>&1 || true
	stop_pidfile "$work/ovs/ovs-vswitchd.pid" 30
	stop_pidfile "$work/ovs/ovsdb-server.pid"
	# OVS leaves its tap devices behind when it cannot clean up; they live in our
	# namespace, which goes next, but say so explicitly.
	for dev in br-phy br-int ovs-netdev; do
		ip netns exec "$ns" ip link del "$dev" >/dev/null 2>&1 || true
	done
	ovs_up=0
}

cleanup() {
	local rc=$?
	set +e
	[ -n "$child" ] && kill "$child" 2>/dev/null && wait "$child" 2>/dev/null
	ovs_stop
	ip netns del "$ns" 2>/dev/null
	rm -rf /var/run/dpdk/"${tag}"_*
	if [ "$huge_mounted" = 1 ]; then
		umount "$work/huge" || umount -l "$work/huge"
	fi
	if [ "$pages_added" -gt 0 ]; then
		local now
		now=$(cat /proc/sys/vm/nr_hugepages)
		echo $((now > pages_added ? now - pages_added : 0)) >/proc/sys/vm/nr_hugepages
	fi
	rm -rf "$work"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Runs a command in the background so that cleanup can stop it, and waits for it.
run_child() {
	"$@" &
	child=$!
	local rc=0
	wait "$child" || rc=$?
	child=""
	return "$rc"
}

# Percentage of both CPUs that something else kept busy over one second.
cpu_busy_pct() {
	local a b
	a=($(head -1 /proc/stat))
	sleep 1
	b=($(head -1 /proc/stat))
	local idle=$((b[4] + b[5] - a[4] - a[5])) total=0
	for i in 1 2 3 4 5 6 7 8; do total=$((total + b[i] - a[i])); done
	echo $((total > 0 ? 100 * (total - idle) / total : 0))
}

[ "$(nproc)" -ge 2 ] || { echo "bench/run dataplane: needs 2 CPUs" >&2; exit 1; }

# --- memory: hugepages for everyone, or for no one ---------------------------------------
if [ "$use_huge" = 1 ]; then
	free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
	if [ "$free" -lt "$pages" ]; then
		want=$(($(cat /proc/sys/vm/nr_hugepages) + pages - free))
		before=$(cat /proc/sys/vm/nr_hugepages)
		echo "$want" >/proc/sys/vm/nr_hugepages
		pages_added=$(($(cat /proc/sys/vm/nr_hugepages) - before))
	fi
	free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
	if [ "$free" -lt "$pages" ]; then
		echo "bench/run dataplane: only $free free 2 MiB hugepages (need $pages);" \
			"VMF_BENCH_HUGE=0 runs without" >&2
		exit 1
	fi
	mkdir -p "$work/huge"
	mount -t hugetlbfs -o pagesize=2M nodev "$work/huge"
	huge_mounted=1
	mem_bench=(--huge-dir "$work/huge")
	mem_testpmd=(--huge-dir "$work/huge")
	mem_ovs="--huge-dir $work/huge"
	log "memory: 2 MiB hugepages for all (ours, testpmd, OVS)"
else
	mem_bench=(--no-huge -m 2048)
	mem_testpmd=(--no-huge -m 1024)
	mem_ovs="--no-huge --legacy-mem -m 2048"
	log "memory: no hugepages for all (ours, testpmd, OVS)"
fi

log "other load before the run: $(cpu_busy_pct)% of the CPUs busy"

# --- input: 65536 flows of each kind, built with scapy ------------------------------------
/usr/bin/python3 "$here/make_pcaps.py" "$work/pcap" 65536
log "input: $(ls "$work/pcap" | tr '\n' ' ')(65536 flows each)"

eal_common=(--no-pci -l 0-1 --log-level '*:warning')

# --- ours -----------------------------------------------------------------------------------
# The per-window figures go to results as `<case> <Mpps> <on-CPU share>`; the process's own summary lines
# (LOAD, RESULT) are kept for the memory and update figures.
run_ours() {
	local mode=$1 label=$2 out=$work/ours.$1.$2
	shift 2
	if ! run_child "$bench" "${mem_bench[@]}" "${eal_common[@]}" --file-prefix "${tag}_b" -- \
		--mode "$mode" --pcap "$work/pcap/$mode.pcap" --windows "$windows" \
		--window-s "$window_s" "$@" >"$out" 2>"$out.err"; then
		cat "$out.err" >&2
		failed+=("ours $mode")
		return 0
	fi
	# The update runs' windows are read from their own files by the report.
	[ "$label" = updates ] ||
		awk -v m="$mode" '$1 == "WINDOW" {print m, $3, $6}' "$out" >>"$results"
	awk '$1 == "LOAD" {print "load_s", $3; print "load_per_s", $4}' "$out" >>"$results"
	grep -v TELEMETRY "$out.err" >&2 || true
}

# --- dpdk-testpmd io forwarding: the pcap port into a net_null sink -----------------------
# Measured from outside through its telemetry socket, over the same windows as ours.
run_testpmd() {
	local input=$1 name=$2 out=$work/testpmd.$1
	dpdk-testpmd "${mem_testpmd[@]}" "${eal_common[@]}" --file-prefix "${tag}_t" \
		--vdev="net_pcap0,rx_pcap=$work/pcap/$input.pcap,infinite_rx=1" \
		--vdev=net_null1,no-rx=1 -- \
		--total-num-mbufs=131072 --forward-mode=io -a --stats-period 3600 \
		</dev/null >"$out" 2>&1 &
	child=$!
	if ! /usr/bin/python3 "$here/sample.py" "$name" "$windows" "$window_s" telemetry \
		"/var/run/dpdk/${tag}_t/dpdk_telemetry.v2" 1 >>"$results"; then
		tail -20 "$out" >&2
		failed+=("testpmd $input")
	fi
	kill -INT "$child" 2>/dev/null || true
	wait "$child" || true
	child=""
}

# --- OVS-DPDK: VXLAN push (encap input) and pop (decap input) ------------------------------
# Each step must work; a failure stops the OVS part of the round, not the benchmark.
must() { "$@" >/dev/null || { echo "bench/run dataplane: ovs: '$*' failed" >&2; return 1; }; }

ovs_start() {
	ovs_env
	mkdir -p "$work/ovs"
	ip netns add "$ns" 2>/dev/null || true
	vsctl=(ovs-vsctl --db="unix:$work/ovs/db.sock" --timeout=60)
	appctl=(ovs-appctl -t "$work/ovs/ovs-vswitchd.ctl")
	ovs_up=1
	rm -f "$work/ovs/conf.db"
	must ovsdb-tool create "$work/ovs/conf.db" /usr/share/openvswitch/vswitch.ovsschema || return 1
	must ip netns exec "$ns" ovsdb-server "$work/ovs/conf.db" --remote="punix:$work/ovs/db.sock" \
		--pidfile="$work/ovs/ovsdb-server.pid" --detach -vconsole:off \
		--log-file="$work/ovs/ovsdb-server.log" || return 1
	must "${vsctl[@]}" --no-wait init || return 1
	must "${vsctl[@]}" --no-wait set Open_vSwitch . other_config:dpdk-init=true \
		other_config:dpdk-lcore-mask=0x1 other_config:pmd-cpu-mask=0x2 \
		"other_config:dpdk-extra=--no-pci --file-prefix ${tag}_o $mem_ovs --log-level *:warning" ||
		return 1
	must ip netns exec "$ns" /usr/lib/openvswitch-switch-dpdk/ovs-vswitchd-dpdk \
		"unix:$work/ovs/db.sock" --pidfile="$work/ovs/ovs-vswitchd.pid" \
		--unixctl="$work/ovs/ovs-vswitchd.ctl" --detach -vconsole:off \
		--log-file="$work/ovs/ovs-vswitchd.log" || return 1
	# br-phy: this host on the underlay (198.18.0.1, the MAC the VXLAN input is sent to);
	# br-int: the overlay, with a vxlan port to 198.18.0.2, key 42.
	must "${vsctl[@]}" add-br br-phy -- set bridge br-phy datapath_type=netdev \
		other_config:hwaddr=02:00:00:00:00:01 || return 1
	must "${vsctl[@]}" add-br br-int -- set bridge br-int datapath_type=netdev || return 1
	must "${vsctl[@]}" add-port br-int vx -- set interface vx type=vxlan \
		options:remote_ip=198.18.0.2 options:key=42 || return 1
	must ip netns exec "$ns" ip addr add 198.18.0.1/24 dev br-phy || return 1
	must ip netns exec "$ns" ip link set br-phy up || return 1
	must "${appctl[@]}" tnl/neigh/set br-phy 198.18.0.2 02:00:00:00:00:02 || return 1
}

# Samples the sink's transmit counter and the PMD thread's time on its CPU.
ovs_rate() {
	/usr/bin/python3 "$here/sample.py" "$3" "$windows" "$window_s" ovs \
		"$work/ovs/ovs-vswitchd.pid" "$1" "$2" >>"$results"
}

ovs_measure() {
	local round=$1
	ovs_start || return 1
	# Push: the VM frames enter br-int and leave through the vxlan port; OVS routes the
	# encapsulated frames out of br-phy, whose LOCAL port feeds the sink.
	must "${vsctl[@]}" add-port br-phy sinkp -- set Interface sinkp type=dpdk \
		options:dpdk-devargs=net_null1,no-rx=1 || return 1
	must "${vsctl[@]}" add-port br-int srcp -- set Interface srcp type=dpdk \
		"options:dpdk-devargs=net_pcap0,rx_pcap=$work/pcap/encap.pcap,infinite_rx=1" || return 1
	must ovs-ofctl del-flows br-int || return 1
	must ovs-ofctl add-flow br-int in_port=srcp,actions=output:vx || return 1
	must ovs-ofctl del-flows br-phy || return 1
	must ovs-ofctl add-flow br-phy in_port=LOCAL,actions=output:sinkp || return 1
	ovs_rate br-phy sinkp ovs_push || return 1
	"${appctl[@]}" dpctl/dump-flows >"$work/ovs/push-flows" 2>&1
	must "${vsctl[@]}" del-port br-int srcp || return 1
	# Pop: VXLAN enters br-phy and goes to its LOCAL port, where the native tunnel pops
	# it; the inner frames come out of the vxlan port on br-int and go to the sink.
	must "${vsctl[@]}" add-port br-int sinkv -- set Interface sinkv type=dpdk \
		options:dpdk-devargs=net_null3,no-rx=1 || return 1
	must "${vsctl[@]}" add-port br-phy srcv -- set Interface srcv type=dpdk \
		"options:dpdk-devargs=net_pcap2,rx_pcap=$work/pcap/decap.pcap,infinite_rx=1" || return 1
	must ovs-ofctl del-flows br-int || return 1
	must ovs-ofctl add-flow br-int in_port=vx,actions=output:sinkv || return 1
	must ovs-ofctl del-flows br-phy || return 1
	must ovs-ofctl add-flow br-phy in_port=srcv,actions=LOCAL || return 1
	ovs_rate br-int sinkv ovs_pop || return 1
	"${appctl[@]}" dpctl/dump-flows >"$work/ovs/pop-flows" 2>&1
	# The datapath must really have pushed and popped VXLAN.
	grep -q "tnl_push" "$work/ovs/push-flows" ||
		{ echo "bench/run dataplane: ovs: no tnl_push datapath flow" >&2; return 1; }
	grep -q "tnl_pop" "$work/ovs/pop-flows" ||
		{ echo "bench/run dataplane: ovs: no tnl_pop datapath flow" >&2; return 1; }
}

run_ovs() {
	if ! ovs_measure "$1"; then
		failed+=("ovs (round $1)")
		[ -f "$work/ovs/ovs-vswitchd.log" ] && tail -15 "$work/ovs/ovs-vswitchd.log" >&2
	fi
	ovs_stop
}

# --- the run --------------------------------------------------------------------------------
t_start=$(date +%s)
for r in $(seq "$rounds"); do
	log "round $r of $rounds"
	for m in encap decap forward; do
		run_ours "$m" "r$r"
	done
	if [[ " $peers " == *" testpmd "* ]]; then
		run_testpmd encap testpmd_io
		run_testpmd decap testpmd_io_vxlan
	fi
	[[ " $peers " == *" ovs "* ]] && run_ovs "$r"
done

# Forwarding while the control thread moves endpoints: quiet and busy windows alternate in
# one process, so that both see the same table and the same neighbours.
for m in $update_modes; do
	log "updates: $m at $update_rate per second"
	run_ours "$m" updates --updates "$update_rate" --windows 6 --window-s 1
done

# Memory: a fabric holding the endpoints, in a process without hugepages so that all of
# DPDK's memory counts in its RSS.
log "memory"
"$bench" --no-huge -m 2048 "${eal_common[@]}" --file-prefix "${tag}_m" -- --mode mem \
	>"$work/mem" 2>"$work/mem.err" || { cat "$work/mem.err" >&2; failed+=("memory"); }
log "other load after the run: $(cpu_busy_pct)% of the CPUs busy; took $(($(date +%s) - t_start)) s"

# --- report -----------------------------------------------------------------------------------
/usr/bin/python3 "$here/report.py" "$work" "$update_modes"

if [ ${#failed[@]} -gt 0 ]; then
	echo "bench/run dataplane: FAILED: ${failed[*]}" >&2
	exit 1
fi
