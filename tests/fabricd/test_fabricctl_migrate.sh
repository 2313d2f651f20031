#!/usr/bin/env bash
# fabricctl migrate and fabricctl migrations as an operator meets them without QEMU: every
# usage error exits 2 with a message that says what is missing, before any agent is
# asked; no agent is exit 3; a fresh fabricd lists no migration (an empty table, [] in
# JSON); an unknown ID is exit 1 with "no migration ID on this host"; and a VM with no
# local endpoint is refused (exit 1) with fabricd's own message.
#   test_fabricctl_migrate.sh FABRICD FABRICCTL
set -u
FABRICD=$1 # started by lib.sh's start_fabricd
FABRICCTL=$2
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: test_fabricctl_migrate needs root to start fabricd in a network namespace (run the tests as root)" >&2
fi
# shellcheck source=../netns/lib.sh
. "$here/../netns/lib.sh"
require_root test_fabricctl_migrate

TARGET=(--to hB --target-vtep 192.0.2.2 --target-agent 192.0.2.2:7411 --uri tcp:192.0.2.2:49152)

# Runs fabricctl against host hA; expects exit code $1 and stderr matching $2 (a grep
# pattern, fixed string), and an empty stdout when $3 is "quiet".
expect() {
	local code=$1 pattern=$2 quiet=$3 out err rc
	shift 3
	out=$("$FABRICCTL" --socket "unix:$TMP/hA.sock" "$@" 2>"$TMP/err")
	rc=$?
	err=$(cat "$TMP/err")
	if [ "$rc" -eq "$code" ] && grep -qF -- "$pattern" <<<"$err" &&
		{ [ "$quiet" != quiet ] || [ -z "$out" ]; }; then
		ok "fabricctl $* -> $rc: $(head -1 <<<"$err")"
	else
		not_ok "fabricctl $*: expected exit $code and '$pattern'; got $rc: $err${out:+ (stdout: $out)}"
	fi
}

# Usage errors come before any call: no fabricd is running yet, and still they are 2.
expect 2 "migrate needs the VM's name" quiet migrate --to hB
expect 2 "missing --to, --target-vtep, --target-agent, --uri" quiet migrate vm1
expect 2 "missing --uri" quiet migrate vm1 --to hB --target-vtep 192.0.2.2 --target-agent 192.0.2.2:7411
expect 2 "missing --target-vtep" quiet migrate vm1 --to hB --target-agent 192.0.2.2:7411 --uri tcp:192.0.2.2:49152
expect 2 "--target-vtep '192.0.2.300'" quiet migrate vm1 "${TARGET[@]}" --target-vtep 192.0.2.300
expect 2 "--target-agent 'hB': the target fabricd's agent as HOST:PORT" quiet migrate vm1 "${TARGET[@]}" --target-agent hB
expect 2 "--uri '49152'" quiet migrate vm1 "${TARGET[@]}" --uri 49152
expect 2 "--downtime-limit-ms 'soon': a whole number" quiet migrate vm1 "${TARGET[@]}" --downtime-limit-ms soon
expect 2 "--max-bandwidth '-1': a whole number" quiet migrate vm1 "${TARGET[@]}" --max-bandwidth -1
expect 2 "--interval-ms '0': a whole number, 10..60000" quiet migrate vm1 "${TARGET[@]}" --interval-ms 0
expect 2 "--generation '0'" quiet migrate vm1 "${TARGET[@]}" --generation 0
expect 2 "--to needs a value" quiet migrate vm1 --to
expect 2 "one VM at a time" quiet migrate vm1 vm2 "${TARGET[@]}"
expect 2 "unknown option '--post-copies'" quiet migrate vm1 "${TARGET[@]}" --post-copies
expect 2 "migrations show needs the migration's ID" quiet migrations show
expect 2 "migrations: no subcommand 'list'" quiet migrations list
expect 2 "--limit 'many'" quiet migrations --limit many
expect 3 "no agent answered" quiet migrations
expect 3 "is fabricd running" quiet migrate vm1 "${TARGET[@]}" --json

check "fabricctl migrate --help names every option" sh -c "'$FABRICCTL' migrate --help |
	grep -q -- '--target-agent' && '$FABRICCTL' migrate --help | grep -q -- '--downtime-limit-ms'"
check "fabricctl migrations show --help explains show and cancel" sh -c \
	"'$FABRICCTL' migrations show --help | grep -q 'fabricctl migrations cancel ID'"
check "the man page documents migrations show and cancel" sh -c \
	"grep -q '^\.B migrations show' '$here/../../doc/fabricctl.1' && grep -q '^\.B migrations cancel' '$here/../../doc/fabricctl.1'"

# A fabricd with a VM port but no endpoint: no migration, and nothing to migrate.
add_ns hA
start_fabricd hA --vtep 192.0.2.1 --uplink net_null0 --vm-port vm1:100:net_null1 || exit 1

# From here on the checks need fabricd's migration RPCs (a fabricd without them answers
# UNIMPLEMENTED, and these fail).
out=$(ctl hA migrations 2>"$TMP/err"); rc=$?
check "migrations on a fresh fabricd: exit 0 (got $rc: $(cat "$TMP/err"))" test "$rc" -eq 0
empty_table() {
	head -1 <<<"$out" | grep -q '^ID  *ROLE  *VM  *FROM  *TO  *PHASE  *STARTED  *TOTAL-MS' &&
		[ "$(wc -l <<<"$out")" -eq 2 ] && [ "$(tail -1 <<<"$out")" = "0 migrations" ]
}
check "and an empty table" empty_table
out=$(ctl hA migrations --json 2>&1); rc=$?
check "migrations --json on a fresh fabricd is [] (got $rc: $out)" test "$rc:$out" = "0:[]"
out=$(ctl hA migrations --vm vm1 --active --limit 5 --json 2>&1); rc=$?
check "migrations --vm vm1 --active --limit 5 --json is [] (got $rc: $out)" test "$rc:$out" = "0:[]"
expect 1 "migrations show: no migration mig-nope on this host (fabricctl migrations lists them)" quiet \
	migrations show mig-nope
expect 1 "migrations show: no migration mig-nope on this host" quiet migrations show mig-nope --json
expect 1 "migrations cancel: no migration mig-nope on this host (fabricctl migrations lists them)" quiet \
	migrations cancel mig-nope --reason "not wanted"
# vm1 has a port but no LOCAL endpoint: fabricd refuses, and fabricctl says what fabricd
# said (its message names the VM), in text and in JSON mode, with nothing on stdout.
expect 1 "fabricctl: migrate: " quiet migrate vm1 "${TARGET[@]}"
expect 1 "vm1" quiet migrate vm1 "${TARGET[@]}" --json
check "and the refusal is fabricd's reason, not a missing RPC" sh -c "! grep -q UNIMPLEMENTED '$TMP/err'"
out=$(ctl hA migrations --json 2>&1)
check "a refused migration leaves no record (got $out)" test "$out" = "[]"
finish
