#!/usr/bin/env bash
# Repeated local live migrations of the test guest under a memory-dirtying workload,
# counting guest kernel panics on the target (README.md, "Crash after migration").
#
#   migration-crash-study.sh [--runs N] [--workload W] [--machine M] [--cpu C]
#                            [--tcg-thread single|multi] [--mem SIZE] [--settle S]
#                            [--accel tcg|kvm] [--append TEXT] [--fresh]
#
#   SIZE: QEMU's -m syntax, given to QEMU as is (default 256: reproduces the crash under
#      tcg; 262080k is the workaround, see README.md)
#   W: idle | dd:MB (a shell loop of `dd if=/dev/zero of=/tmp/dirty bs=1M count=MB` on
#      tmpfs, started by init) | touch:MB[:RATE] | fill:MB[:RATE] (guestd's dirtying thread:
#      one word per page, or every byte; RATE MiB/s, 0 = flat out)
#
# Two namespaces, each with a tap "tapvm" (host side 10.0.0.2/24); the guest (10.0.0.1)
# ping-pongs between a QEMU in one and a QEMU started with -incoming defer in the other,
# the stream over a unix socket. A run: start the target, migrate (pause-before-switchover,
# migrate-continue), quit the source, give the guest --settle (4) seconds on the target,
# then look at its console for "Kernel panic", "BUG", "Oops", and check it still echoes
# UDP. After a broken run the guest is booted afresh (so is every run with --fresh).
# Prints one line per run and a summary line:
#   study: W=dd:32 machine=pc cpu=default tcg=multi mem=256: 6 runs, 3 panics,
#          0 with lost writes in the buffer, 0 other failures
# With touch/fill workloads each run also asks guestd to check its buffer ("check": every
# page must hold the last value written there) and then restarts the dirtying.
# Run as root. Consoles of broken runs are kept in $VMF_STUDY_KEEP (default
# /tmp/vmf-study-logs) as NAME.serial.
set -u
here=$(cd "$(dirname "$0")" && pwd)

runs=6 workload=dd:32 machine=pc cpu='' tcg_thread='' mem=256 settle=4 accel=tcg append='' fresh=0
while [ $# -gt 0 ]; do
	case "$1" in
	--runs) runs=$2 && shift ;;
	--workload) workload=$2 && shift ;;
	--machine) machine=$2 && shift ;;
	--cpu) cpu=$2 && shift ;;
	--tcg-thread) tcg_thread=$2 && shift ;;
	--mem) mem=$2 && shift ;;
	--settle) settle=$2 && shift ;;
	--accel) accel=$2 && shift ;;
	--append) append=$2 && shift ;;
	--fresh) fresh=1 ;;
	*) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2 && exit 2 ;;
	esac
	shift
done
[ "$(id -u)" -eq 0 ] || { echo "SKIP: migration-crash-study needs root"; exit 77; }

TMP=$(mktemp -d /tmp/vmf-study.XXXXXX)
IMAGE=${VMF_GUEST_IMAGE:-/tmp/vmf-guest-image}
KEEP=${VMF_STUDY_KEEP:-/tmp/vmf-study-logs}
NS=(vmfsa$$ vmfsb$$)
mkdir -p "$KEEP"

cleanup() {
	for i in 0 1; do "$here/run-guest.sh" --stop "$TMP" --name "g$i" >/dev/null 2>&1; done
	for n in "${NS[@]}"; do ip netns del "$n" 2>/dev/null; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$here/build-initramfs.sh" "$IMAGE" >/dev/null || exit 1
for n in "${NS[@]}"; do
	ip netns add "$n"
	ip -n "$n" link set lo up
	ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
	ip -n "$n" tuntap add dev tapvm mode tap
	ip -n "$n" addr add 10.0.0.2/24 dev tapvm
	ip -n "$n" link set tapvm up
done

kind=${workload%%:*}
wargs=${workload#*:}
guest_append=$append
[ "$kind" = dd ] && guest_append="$guest_append vmf.ddloop=$wargs"
# --exact-mem: the size given here is the size QEMU gets (run-guest.sh would otherwise
# take 64 KiB off under tcg, the workaround this study found).
opts=(-i "$IMAGE" -t tapvm --ip 10.0.0.1/24 -m "$mem" --exact-mem -M "$machine" -a "$accel")
[ -n "$cpu" ] && opts+=(--cpu "$cpu")
[ -n "$tcg_thread" ] && opts+=(--tcg-thread "$tcg_thread")
[ -n "$guest_append" ] && opts+=(--append "$guest_append")

cur=0 # index of the namespace/QEMU the guest runs in
label="W=$workload machine=$machine cpu=${cpu:-default} tcg=${tcg_thread:-multi} mem=$mem"

boot() {
	"$here/run-guest.sh" --stop "$TMP" --name "g$cur" >/dev/null 2>&1
	if ! "$here/run-guest.sh" -d "$TMP" -N "g$cur" -n "${NS[$cur]}" "${opts[@]}" >"$TMP/boot.out" 2>&1; then
		cat "$TMP/boot.out"
		return 1
	fi
	case "$kind" in
	touch | fill)
		IFS=: read -r mb rate <<<"$wargs"
		ip netns exec "${NS[$cur]}" "$here/guestctl.py" ctl 10.0.0.1 dirty "$mb" "${rate:-0}" "$kind" >/dev/null || return 1
		;;
	esac
	sleep 2 # the workload gets going
}

panics=0 others=0 done_runs=0 stale=0
need_boot=1
for run in $(seq "$runs"); do
	if [ $need_boot -eq 1 ] || [ $fresh -eq 1 ]; then
		boot || { echo "study: run $run: the guest did not boot"; others=$((others + 1)); continue; }
		need_boot=0
	fi
	nxt=$((1 - cur))
	"$here/run-guest.sh" --stop "$TMP" --name "g$nxt" >/dev/null 2>&1
	"$here/run-guest.sh" -d "$TMP" -N "g$nxt" -n "${NS[$nxt]}" "${opts[@]}" --incoming >/dev/null 2>&1 ||
		{ echo "study: run $run: the target did not start"; others=$((others + 1)); need_boot=1; continue; }
	rm -f "$TMP/mig.sock"
	res=$("$here/guestctl.py" migrate "$TMP/g$cur.qmp" "$TMP/g$nxt.qmp" "unix:$TMP/mig.sock" --timeout 60 2>&1)
	mrc=$?
	"$here/run-guest.sh" --stop "$TMP" --name "g$cur" >/dev/null 2>&1
	done_runs=$((done_runs + 1))
	if [ $mrc -ne 0 ]; then
		echo "study: run $run: migration failed: $res"
		others=$((others + 1))
		need_boot=1
		cur=$nxt
		continue
	fi
	cur=$nxt
	sleep "$settle"
	serial=$TMP/g$cur.serial
	summary=$(/usr/bin/python3 -c '
import json, sys
r = json.loads(sys.argv[1])
print("downtime %s ms, stop->resume %s ms, precopy %s s, %s syncs" % (r["downtime_ms"],
      r["stop_to_resume_ms"], r["precopy_s"], r["ram"].get("dirty-sync-count")))' "$res" 2>/dev/null)
	if grep -qE 'Kernel panic|BUG|Oops|general protection|Call Trace' "$serial"; then
		panics=$((panics + 1))
		keep=$KEEP/$(date +%H%M%S)-run$run-$(echo "$label" | tr ' =:' '__.').serial
		cp "$serial" "$keep"
		echo "study: run $run: PANIC ($summary): $(grep -m1 -E 'Kernel panic|BUG|Oops|general protection' "$serial") [$keep]"
		need_boot=1
	elif ! ip netns exec "${NS[$cur]}" "$here/guestctl.py" udp-echo 10.0.0.1 5 >/dev/null 2>&1; then
		others=$((others + 1))
		keep=$KEEP/$(date +%H%M%S)-run$run-noecho.serial
		cp "$serial" "$keep"
		# Where is the guest? (QEMU's view: run state and the vCPU's instruction pointer.)
		where=$("$here/guestctl.py" qmp "$TMP/g$cur.qmp" '{"execute":"query-status"}' \
			'{"execute":"human-monitor-command","arguments":{"command-line":"info registers"}}' 2>&1 |
			/usr/bin/python3 -c '
import json, re, sys
lines = sys.stdin.read().splitlines()
st = json.loads(lines[0]).get("status", "?") if lines else "?"
regs = json.loads(lines[1]) if len(lines) > 1 else ""
rip = re.search(r"RIP=(\S+)", regs)
print("status %s, RIP %s" % (st, rip.group(1) if rip else "?"))' 2>/dev/null)
		echo "study: run $run: no panic message but no UDP echo: hung? ($where; $summary) [$keep]"
		need_boot=1
	elif [ "$kind" = touch ] || [ "$kind" = fill ]; then
		# The dirtying thread's own memory: did every write it made reach the target?
		answer=$(ip netns exec "${NS[$cur]}" "$here/guestctl.py" ctl 10.0.0.1 check 2>&1)
		ip netns exec "${NS[$cur]}" "$here/guestctl.py" ctl 10.0.0.1 dirty "$mb" "${rate:-0}" "$kind" >/dev/null
		if [ "${answer%% *}" = ok ]; then
			echo "study: run $run: ok ($summary; buffer $answer)"
		else
			stale=$((stale + 1))
			echo "study: run $run: no panic, but LOST WRITES in the dirtied buffer: $answer ($summary)"
		fi
	else
		echo "study: run $run: ok ($summary)"
	fi
done
echo "study: $label: $done_runs runs, $panics panics, $stale with lost writes in the buffer, $others other failures"
