#!/usr/bin/env bash
# fabricd and fabricctl as an operator meets them: --help, a clear message and exit code
# for every kind of bad configuration, the socket lock, the Prometheus scrape and the
# DPDK telemetry commands, and fabricctl's exit codes.
#   test_cli.sh FABRICD FABRICCTL
set -u
FABRICD=$1
FABRICCTL=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../netns/lib.sh"
require_root test_cli
EAL=(--no-huge --no-pci -m 256 -l 0-1 --log-level '*:error')

# Runs fabricd with the given options; expects exit code $1 and stderr matching $2.
expect_refusal() {
	local code=$1 pattern=$2
	shift 2
	local out rc
	out=$(timeout 30 "$FABRICD" "${EAL[@]}" --file-prefix "${NS_PREFIX}bad" -- "$@" 2>&1 >/dev/null)
	rc=$?
	rm -rf "/var/run/dpdk/${NS_PREFIX}bad"
	if [ "$rc" -eq "$code" ] && grep -q -- "$pattern" <<<"$out"; then
		ok "refused ($rc): $(grep -m1 -- "$pattern" <<<"$out")"
	else
		not_ok "expected exit $code and '$pattern' for '$*'; got $rc: $out"
	fi
}

check "fabricd --help explains every option" sh -c "'$FABRICD' --help | grep -q -- '--hold-timeout-ms'"
base=(--vtep 192.0.2.1 --uplink net_null0 --listen "unix:$TMP/bad.sock")
expect_refusal 2 "--vtep is required" --uplink net_null0
expect_refusal 2 "--uplink is required" --vtep 192.0.2.1
expect_refusal 2 "unknown option '--vtpe'" --vtpe 192.0.2.1
expect_refusal 2 "expected NAME:VNI:DEVARGS" "${base[@]}" --vm-port vm1
expect_refusal 2 "VNI '0' is not in 1..16777215" "${base[@]}" --vm-port vm1:0:net_null1
expect_refusal 2 "is this host's own --vtep" "${base[@]}" --peer 192.0.2.1=02:00:00:00:00:02
expect_refusal 2 "port 'vm9' is not a --vm-port" "${base[@]}" --vm-port vm1:100:net_null1 \
	--endpoint "vni=100 mac=52:54:00:00:00:01 state=local port=vm9 gen=1"
expect_refusal 2 "smaller than the 2 static endpoints" "${base[@]}" --max-endpoints 1 \
	--endpoint "vni=100 mac=52:54:00:00:00:01 state=remote vtep=192.0.2.2 gen=1" \
	--endpoint "vni=100 mac=52:54:00:00:00:02 state=remote vtep=192.0.2.2 gen=1"
expect_refusal 2 "--max-endpoints '0'" "${base[@]}" --max-endpoints 0
expect_refusal 1 "cannot probe port 'net_af_packet0,iface=${NS_PREFIX}none': no such device" --vtep 192.0.2.1 \
	--uplink "net_af_packet0,iface=${NS_PREFIX}none" --listen "unix:$TMP/bad.sock"
expect_refusal 1 "are the same device" "${base[@]}" --vm-port a:100:net_null1 --vm-port b:100:net_null1
expect_refusal 2 "needs --tls-ca" "${base[@]}" --listen-tcp 127.0.0.1:17411
printf 'vtep 192.0.2.1\nuplink net_null0\nbogus 1\n' >"$TMP/bad.conf"
expect_refusal 2 "bad.conf:3: unknown option '--bogus'" --config "$TMP/bad.conf"

# A good one, from a config file, with metrics.
cat >"$TMP/good.conf" <<CONF
# host A
vtep 192.0.2.1
uplink net_null0
vm-port vm1:100:net_null1
peer 192.0.2.2=02:00:00:00:01:02
endpoint vni=100 mac=52:54:00:00:00:01 state=local port=vm1 gen=1 ip=10.0.0.1
metrics-listen 127.0.0.1:19177
CONF
add_ns hX
start_fabricd hX --config "$TMP/good.conf" || exit 1
check "fabricctl health answers" ctl hX health
second=$(timeout 30 "$FABRICD" "${EAL[@]}" --file-prefix "${NS_PREFIX}two" -- --vtep 192.0.2.9 \
	--uplink net_null0 --listen "unix:$TMP/hX.sock" 2>&1)
rc=$?
rm -rf "/var/run/dpdk/${NS_PREFIX}two"
check "a second fabricd cannot take a live one's socket (exit $rc)" \
	sh -c "[ $rc -ne 0 ] && echo '$second' | grep -q 'served by another live process'"
check "the first one still answers" ctl hX health
scrape=$(in_ns hX /usr/bin/python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:19177/metrics', timeout=5).read().decode())")
check "Prometheus scrape has the frame counters" grep -q '^vmfabric_frames_total{counter="rx"} [0-9]' <<<"$scrape"
check "Prometheus scrape has every drop reason" test "$(grep -c '^vmfabric_drops_total{reason=' <<<"$scrape")" -eq 43
check "Prometheus scrape counts the static endpoint" grep -q '^vmfabric_endpoints 1$' <<<"$scrape"
tel=$(echo /fabric/stats | timeout 10 /usr/bin/python3 /usr/bin/dpdk-telemetry.py -f "${NS_PREFIX}hX" 2>/dev/null)
check "DPDK telemetry /fabric/stats answers" grep -q '"/fabric/stats": {"rx": [0-9]' <<<"$tel"

# fabricctl's exit codes and messages.
out=$(ctl hX flow 2>&1); rc=$?
[ $rc -eq 2 ] && grep -q "no command 'flow'" <<<"$out"
check "fabricctl: a misspelt command is a usage error (2), no prefix matching" test $? -eq 0
out=$(ctl hX endpoints add --vni 100 --mac 52:54:00:00:00:01 --state local --port vm1 --gen 1 2>&1); rc=$?
check "fabricctl: a stale generation is refused by the agent (1)" sh -c "[ $rc -eq 1 ] && echo '$out' | grep -q ABORTED"
"$FABRICCTL" --socket "unix:$TMP/none.sock" --timeout 500 health >/dev/null 2>&1
check "fabricctl: no agent is exit code 3" test $? -eq 3
for c in flows endpoints stats migrate migrations watch health; do
	check "fabricctl $c --help" sh -c "'$FABRICCTL' $c --help | grep -q 'usage: fabricctl $c'"
done
man_page=$here/../../doc/fabricctl.1
for c in $("$FABRICCTL" --help | awk '/^commands:/{on=1; next} on && NF {print $1} on && !NF {exit}'); do
	check "the man page documents 'fabricctl $c'" grep -q "^\.B $c" "$man_page"
done
check "fabricctl flows --json is JSON with the endpoint" sh -c \
	"'$FABRICCTL' --socket unix:$TMP/hX.sock flows --json | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); assert r[0][\"mac\"]==\"52:54:00:00:00:01\" and r[0][\"port\"]==\"vm1\"'"

# Hugepages, as production runs it: fabricd's memory comes from a hugetlbfs of its own.
want=128
have=$(cat /proc/sys/vm/nr_hugepages)
free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
if [ "$free" -lt "$want" ]; then
	echo $((have + want - free)) >/proc/sys/vm/nr_hugepages
	free=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
fi
if [ "$free" -lt "$want" ]; then
	echo "SKIP: fabricd on hugepages: only $free free 2 MiB hugepages could be reserved"
else
	mkdir -p "$TMP/huge"
	mount -t hugetlbfs -o pagesize=2M nodev "$TMP/huge"
	before=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
	ip netns exec "$(ns hX)" "$FABRICD" -m 128 --huge-dir "$TMP/huge" --no-pci -l 0-1 \
		--file-prefix "${NS_PREFIX}huge" --log-level '*:warning' -- --vtep 192.0.2.1 \
		--uplink net_null0 --listen "unix:$TMP/huge.sock" >"$TMP/huge.log" 2>&1 &
	hpid=$!
	PIDS+=("$hpid")
	for _ in $(seq 100); do
		"$FABRICCTL" --socket "unix:$TMP/huge.sock" --timeout 500 health >/dev/null 2>&1 && break
		sleep 0.1
	done
	during=$(awk '/HugePages_Free/ {print $2}' /proc/meminfo)
	check "fabricd serves on hugepages ($((before - during)) pages in use)" \
		sh -c "[ $during -lt $before ] && '$FABRICCTL' --socket unix:$TMP/huge.sock health >/dev/null"
	kill -INT "$hpid"
	wait "$hpid"
	check "and stops cleanly" test $? -eq 0
	umount "$TMP/huge"
	[ "$have" -lt "$(cat /proc/sys/vm/nr_hugepages)" ] && echo "$have" >/proc/sys/vm/nr_hugepages
fi
finish
