#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Interoperability test of fabricd's Agent service with Debian's python3-grpcio.
#
#   tests/grpc/test_agent_interop.sh FABRICD [-v]
#
# e.g. sudo tests/grpc/test_agent_interop.sh build/plain/controlplane/fabricd/fabricd
#
# Exits 0 when every check passed, 1 when some failed, 77 (skip) when it cannot run here
# (not root, no /usr/bin/python3 with grpcio, no protoc or openssl). Whatever happens, it
# kills the fabricd processes the test started (by their recorded pids), and removes its
# scratch directory (sockets, certificates, generated code, logs) and the DPDK runtime
# directories of its --file-prefix values.
set -u

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
fabricd=${1:-}
shift || true

skip() {
	echo "SKIP: test_agent_interop: $*"
	echo "SKIP: test_agent_interop: $*" >&2
	exit 77
}

[ -n "$fabricd" ] || { echo "usage: $0 FABRICD [-v]" >&2; exit 2; }
[ -x "$fabricd" ] || { echo "FAIL: $fabricd is not an executable fabricd" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || skip "must run as root (fabricd's DPDK EAL needs it); rerun with sudo"
py=/usr/bin/python3
[ -x "$py" ] || skip "$py not found (the test needs Debian's python3 with python3-grpcio)"
"$py" -c 'import grpc, google.protobuf' 2>/dev/null ||
	skip "$py lacks grpcio or protobuf (apt-get install python3-grpcio python3-protobuf)"
command -v protoc >/dev/null || skip "protoc not found (apt-get install protobuf-compiler)"
command -v openssl >/dev/null || skip "openssl not found"

work=$(mktemp -d /tmp/fabricd-interop.XXXXXX)
prefix="gitest$$"

cleanup() {
	local pid
	if [ -f "$work/pids" ]; then
		while read -r pid; do
			# Only our own fabricd: the pid must still name a fabricd process.
			if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null &&
				grep -q fabricd "/proc/$pid/cmdline" 2>/dev/null; then
				kill -TERM "$pid" 2>/dev/null
				for _ in 1 2 3 4 5 6 7 8 9 10; do
					kill -0 "$pid" 2>/dev/null || break
					sleep 0.1
				done
				kill -KILL "$pid" 2>/dev/null
			fi
		done <"$work/pids"
	fi
	if [ -f "$work/prefixes" ]; then
		while read -r p; do
			case "$p" in "$prefix"?*) rm -rf "/var/run/dpdk/$p" ;; esac
		done <"$work/prefixes"
	fi
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$py" "$here/test_agent_interop.py" --fabricd "$fabricd" --workdir "$work" \
	--prefix "$prefix" --proto-dir "$here/../../proto" "$@"
