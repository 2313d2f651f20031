#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Smoke test of the QMP client against real QEMU: two qemu-system-x86_64 processes (TCG,
# 128 MiB, no guest OS: the firmware idles, and memory migrates all the same), a local
# migration over a unix socket driven by qmp_migrate_demo (pause-before-switchover,
# migrate-continue at pre-switchover), which checks that the target runs and the source
# is in postmigrate. About 2 s; QEMU processes and sockets are cleaned up on any exit.
#
#   test_qmp_real.sh PATH/TO/qmp_migrate_demo
set -euo pipefail

demo=${1:?usage: test_qmp_real.sh PATH/TO/qmp_migrate_demo}

skip() {
	echo "****************************************************************" >&2
	echo "SKIP: test_qmp_real: $*" >&2
	echo "****************************************************************" >&2
	echo "SKIP: test_qmp_real: $*"
	exit 77
}
command -v qemu-system-x86_64 >/dev/null ||
	skip "qemu-system-x86_64 is missing (Debian package qemu-system-x86)"
[ "$(id -u)" -eq 0 ] || skip "needs root (run the tests as root)"

tmp=$(mktemp -d /tmp/vmf-qmp-real.XXXXXX)
pids=()
cleanup() {
	local rc=$?
	for pid in "${pids[@]+"${pids[@]}"}"; do kill -KILL "$pid" 2>/dev/null || true; done
	for pid in "${pids[@]+"${pids[@]}"}"; do wait "$pid" 2>/dev/null || true; done
	if [ "$rc" -ne 0 ]; then
		for log in "$tmp"/*.log; do
			[ -s "$log" ] && { echo "--- $log"; cat "$log"; }
		done
	fi
	rm -rf "$tmp"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_qemu() {
	local name=$1
	shift
	qemu-system-x86_64 -nodefaults -accel tcg -cpu qemu64 -m 128 -smp 1 \
		-display none -monitor none -serial none \
		-qmp "unix:$tmp/$name.qmp,server=on,wait=off" "$@" \
		>"$tmp/$name.log" 2>&1 &
	pids+=($!)
}

start_qemu source
start_qemu target -incoming defer

# The demo waits for the sockets itself (qmp_connect retries while QEMU starts).
timeout 25 "$demo" --source "$tmp/source.qmp" --target "$tmp/target.qmp" \
	--uri "unix:$tmp/migration.sock" --timeout-ms 20000

# The demo made both QEMUs quit.
for pid in "${pids[@]}"; do
	for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$pid" 2>/dev/null; then
		echo "test_qmp_real: QEMU $pid did not quit" >&2
		exit 1
	fi
done
echo "test_qmp_real: PASS"
