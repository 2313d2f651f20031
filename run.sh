#!/usr/bin/env bash
# vmfabric's two entry points, as in README.md's quick start:
#   ./run.sh demo   installs what is needed, builds, runs the migration demo
#   ./run.sh test   installs what is needed, builds, runs every test
# Both work alone on a fresh Debian 12 machine as root.
set -euo pipefail
top=$(cd "$(dirname "$0")" && pwd)
cd "$top"

fuzz_seconds=${VMF_FUZZ_SECONDS:-30}
jobs=$(nproc)

say() { printf '\n== %s\n' "$*"; }

setup() {
	say "setup: Debian packages"
	bash scripts/setup-debian.sh
}

# meson setup once per variant; later runs only rebuild.
configure() {
	local dir=$1
	shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@"
	fi
}

build_plain() {
	say "build: build/plain (gcc, warnings as errors)"
	configure build/plain -Dwerror=true
	ninja -C build/plain -j "$jobs"
}

passed=0
failed=0
failures=()

# Runs one stage; a failure is recorded and the remaining stages still run. Inside a
# stage errexit is off (bash ignores it in an `if` condition): stages check each step.
stage() {
	local name=$1
	shift
	say "test: $name"
	if "$@"; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		failures+=("$name")
	fi
}

test_plain() {
	meson test -C build/plain -v --num-processes "$jobs" --print-errorlogs
}

test_sanitized() {
	configure build/asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false || return 1
	ninja -C build/asan -j "$jobs" || return 1
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		meson test -C build/asan -v --suite unit --suite leaks --num-processes "$jobs" --print-errorlogs
}

# One libFuzzer run: harness $1 for $2 seconds over corpus folder $3.
fuzz_one() {
	local name=$1 seconds=$2 corpus=$3
	echo "$name: ${seconds} s"
	"build/fuzz/tests/fuzz/$name" -max_total_time="$seconds" -max_len=4096 \
		-print_final_stats=1 -artifact_prefix="build/fuzz/$name-" "$corpus" 2>&1 |
		grep -E 'INFO: Seed|Done|stat::number_of_executed_units|stat::peak_rss|ERROR|SUMMARY|==[0-9]+==' || true
	# libFuzzer's exit status is lost in the pipe: a finding leaves an artifact. (One
	# check per kind: `ls A B C` fails when any pattern is unmatched, which hid findings.)
	local f
	for f in "build/fuzz/$name-"crash-* "build/fuzz/$name-"leak-* "build/fuzz/$name-"timeout-*; do
		[ -e "$f" ] || continue
		echo "$name: finding saved in $f (replay: build/fuzz/tests/fuzz/$name $f)"
		return 1
	done
}

test_fuzz() {
	CC=clang configure build/fuzz -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false ||
		return 1
	ninja -C build/fuzz -j "$jobs" tests/fuzz/fuzz_decide tests/fuzz/fuzz_agent_request || return 1
	rm -rf build/fuzz/corpus-* build/fuzz/*-crash-* build/fuzz/*-leak-* build/fuzz/*-timeout-*
	/usr/bin/python3 tests/fuzz/make_corpus.py tests/vectors/cases build/fuzz/corpus-decide || return 1
	/usr/bin/python3 tests/fuzz/make_request_corpus.py proto build/fuzz/corpus-request || return 1
	fuzz_one fuzz_decide "$fuzz_seconds" build/fuzz/corpus-decide || return 1
	fuzz_one fuzz_agent_request "$fuzz_seconds" build/fuzz/corpus-request || return 1
}

cmd_test() {
	setup
	build_plain
	stage "unit and system tests (gcc)" test_plain
	stage "unit tests under ASan+UBSan" test_sanitized
	stage "fuzzing parse + decide, and request decoding + validation" test_fuzz
	say "summary"
	for f in "${failures[@]+"${failures[@]}"}"; do echo "FAILED: $f"; done
	echo "stages: ${passed} passed, ${failed} failed"
	[ "$failed" -eq 0 ]
}

cmd_demo() {
	setup
	build_plain
	say "demo: a QEMU guest live-migrates between hosts under a client's stream"
	cat <<'TXT'
Three hosts (network namespaces on an underlay bridge and a management bridge), each
running fabricd (an af_packet uplink). A real guest (Debian's kernel, a busybox
initramfs, guestd) runs under QEMU on host A, attached to fabricd over vhost-user (a
net_vhost port, as production attaches it); a client behind host C streams 5000 UDP
datagrams a second to it and holds a TCP connection open.

1. `fabricctl migrate vm1 --to B`: fabricd on A prepares B over gRPC with mutual TLS
   (B's QEMU listens, B holds the guest's frames), runs QEMU's pre-copy; when QEMU pauses
   the guest, A holds what arrives for it and flips its endpoint to FORWARDING, sending
   everything on to B; QEMU finishes; B activates the guest when it resumes and releases
   what it held, in order. Nothing is lost.
2. The baseline: the guest moves back with QEMU alone, the fabric told only after QEMU
   completed, as a fabric without a cutover service would be. It loses packets.
3. A failure: the target QEMU is killed during pre-copy; the guest keeps running on A,
   and the fabric is as it was.
The demo prints the migration's timeline, QEMU's figures, the stream's figures and the
counters of every host.
TXT
	tests/migrate/test_e2e_migration.sh build/plain/controlplane/fabricd/fabricd \
		build/plain/controlplane/fabricctl/fabricctl
}

case "${1:-}" in
test) cmd_test ;;
demo) cmd_demo ;;
*)
	echo "usage: ./run.sh demo | ./run.sh test" >&2
	exit 2
	;;
esac
