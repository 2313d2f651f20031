#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Re-records the real QMP exchanges that tests/migrate/test_qmp.c replays:
#
#   tests/migrate/record.sh [SCENARIO ...]     (default: all of them)
#
# Scenarios (tests/migrate/record_scenarios.py): basic, precopy-pause, cancelled, postcopy,
# target-killed. Each starts one or two QEMU instances (TCG, 128 MiB, a tiny busybox guest
# when Debian's cloud kernel is installed), drives them through a tap on their QMP sockets
# (tests/migrate/qmp_tap.py) and writes tests/migrate/recordings/SCENARIO.qmp. Needs
# qemu-system-x86_64, root (post-copy uses userfaultfd), busybox-static and cpio.
# After re-recording, run the replay tests: they check the C client against the new files
# and tell which expectations (figures, event order) moved.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

if ! command -v qemu-system-x86_64 >/dev/null; then
	echo "record: qemu-system-x86_64 is missing (Debian package qemu-system-x86)" >&2
	exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "record: run as root (post-copy needs userfaultfd)" >&2
	exit 1
fi
mkdir -p "$here/recordings"
exec /usr/bin/python3 "$here/record_scenarios.py" "$here/recordings" "$@"
