#!/usr/bin/env bash
# No leak in a start / serve / shut down cycle: fabricd built with AddressSanitizer (its
# LeakSanitizer runs at exit) serves every kind of call — unary, a batch upload, a paged
# listing, an event stream left open and one cancelled — then stops on SIGTERM.
#   test_leaks.sh FABRICD(asan build) FABRICCTL
set -u
FABRICD=$1
FABRICCTL=$2
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../netns/lib.sh"
require_root test_leaks
# Library noise outside our code, known and bounded (see ../shared/NOTES-grpc-core.md).
cat >"$TMP/lsan.supp" <<'SUPP'
leak:libgrpc
leak:libabsl
leak:libcares
leak:librte_
leak:libnuma
SUPP
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=23
export LSAN_OPTIONS="suppressions=$TMP/lsan.supp:print_suppressions=0"
add_ns hL
start_fabricd hL --vtep 192.0.2.1 --uplink net_null0 --vm-port vm1:100:net_null1 \
	--max-endpoints 4096 --peer 192.0.2.2=02:00:00:00:01:02 || exit 1
pid=${PIDS[-1]}
ctl hL endpoints add --vni 100 --mac 52:54:00:00:00:01 --state local --port vm1 --gen 1 \
	--ip 10.0.0.1 --ip fd00::1 >/dev/null
check "unary calls" test $? -eq 0
for i in $(seq 2 300); do
	printf -v mac '52:54:00:00:%02x:%02x' $((i / 256)) $((i % 256))
	ctl hL endpoints add --vni 100 --mac "$mac" --state remote --vtep 192.0.2.2 --gen 1 >/dev/null || break
done
check "300 endpoints" sh -c "'$FABRICCTL' --socket unix:$TMP/hL.sock flows --json | grep -c '\"vni\"' | grep -qx 300"
ctl hL endpoints del --vni 100 --mac 52:54:00:00:00:05 --gen 2 >/dev/null
ctl hL endpoints forward --vni 100 --mac 52:54:00:00:00:01 --to 192.0.2.2 --gen 2 >/dev/null
ctl hL stats >/dev/null
ctl hL endpoints add --vni 100 --mac 52:54:00:00:00:07 --state remote --vtep 192.0.2.2 --gen 1 \
	>/dev/null 2>&1 # refused: stale
# A watcher that stays, and one that goes away.
"$FABRICCTL" --socket "unix:$TMP/hL.sock" watch >/dev/null 2>&1 &
watcher=$!
timeout -s INT 1 "$FABRICCTL" --socket "unix:$TMP/hL.sock" watch >/dev/null 2>&1
timeout -s INT 0.2 "$FABRICCTL" --socket "unix:$TMP/hL.sock" flows --watch 1 >/dev/null 2>&1
sleep 0.5
kill -TERM "$pid"
for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
wait "$pid"
rc=$?
kill "$watcher" 2>/dev/null
check "fabricd stopped cleanly (exit $rc)" test "$rc" -eq 0
leaks=$(grep -c 'LeakSanitizer' "$TMP/hL.log")
check "LeakSanitizer found no leak in our code" test "$leaks" -eq 0
[ "$leaks" -eq 0 ] || sed -n '/LeakSanitizer/,$p' "$TMP/hL.log" | head -40
finish
