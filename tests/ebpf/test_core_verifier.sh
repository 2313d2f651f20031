#!/usr/bin/env bash
# Loads the forwarding core, compiled for BPF, into the running kernel: the verifier must
# accept every parser, the decision and the rewrites. Needs root (CAP_BPF) and bpffs.
set -u
obj=$1
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: test_core_verifier needs root to load BPF programs (run the tests as root)"
	exit 77
fi
command -v bpftool >/dev/null || { echo "FAIL: bpftool not installed (scripts/setup-debian.sh installs it)"; exit 1; }
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
pin=/sys/fs/bpf/vmf_core_check_$$
log=$(mktemp)
trap 'rm -f "$pin" "$log"' EXIT
if bpftool prog load "$obj" "$pin" >"$log" 2>&1; then
	echo "core_check.bpf.o: accepted by the verifier ($(bpftool prog show pinned "$pin" | head -1))"
	echo "1 passed, 0 failed"
	exit 0
fi
echo "FAIL: the kernel's verifier refused the forwarding core compiled for BPF:"
tail -40 "$log"
echo "0 passed, 1 failed"
exit 1
