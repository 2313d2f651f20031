# The three-host migration rig, shared by the end-to-end test and `bench/run migration`:
# hosts A, B and C are network namespaces on an underlay bridge (VXLAN, fabricd's
# af_packet uplinks) and a management bridge (gRPC between agents with mutual TLS, and
# QEMU's migration stream); fabricd runs on each; the test guest runs under QEMU on A (or
# B), attached to fabricd as production attaches it, over vhost-user (fabricd's net_vhost
# port, E2E_PORT=vhost, the default), or behind a tap that fabricd reads with af_packet
# (E2E_PORT=tap); a client namespace behind C's fabricd talks to it.
# Needs tests/netns/lib.sh sourced first, and FABRICD, FABRICCTL, HERE (tests/migrate).
# shellcheck shell=bash

VNI=100
GUEST_MAC=52:54:00:00:00:10
GUEST_IP=10.0.0.10
CLIENT_MAC=52:54:00:00:00:20
CLIENT_IP=10.0.0.20
GUESTS=$(cd "$HERE/../guest" && pwd)
RUN_GUEST="$GUESTS/run-guest.sh"
GUESTCTL="$GUESTS/guestctl.py"
GEN=1 # the generation every host holds for the guest's endpoint
# How the migrations run: the driver's default blackout budget (300 ms, QEMU's own
# downtime limit on vhost-user; the driver's decision on a tap), bandwidth not limited
# (QEMU's default is 128 MiB/s); the baseline gets the same from guestctl.py.
E2E_PORT=${E2E_PORT:-vhost}
case "$E2E_PORT" in
# Bandwidth as the baseline has it (not limited); the blackout budget is QEMU's default.
# (With a tap the driver decides the switchover, with QEMU's own limit at 1 ms.)
vhost | tap) MIGRATE_OPTS=${MIGRATE_OPTS:---max-bandwidth 10000000000} ;;
*) echo "E2E_PORT is vhost or tap" >&2; exit 2 ;;
esac
BASELINE_OPTS=${BASELINE_OPTS:---downtime-ms 300}
declare -A HOST_INDEX=([A]=1 [B]=2 [C]=3)

# Every QEMU this rig started goes too, whatever happened (run-guest.sh daemonizes them).
e2e_cleanup() {
	local f
	for f in "$TMP"/q*/*.pid; do
		[ -f "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
	done
	cleanup
}
trap e2e_cleanup EXIT

vhost_sock() { echo "$TMP/q$1/vm1.vhost"; }
vtep_of() { echo "192.0.2.${HOST_INDEX[$1]}"; }
mgmt_of() { echo "10.98.0.${HOST_INDEX[$1]}"; }
umac_of() { echo "02:00:00:00:01:0${HOST_INDEX[$1]}"; }

# A CA and one certificate per host (its name as DNS SAN, for server and client use).
make_pki() {
	local d=$TMP/pki h
	mkdir -p "$d"
	openssl req -x509 -newkey rsa:2048 -nodes -days 2 -keyout "$d/ca.key" -out "$d/ca.pem" \
		-subj "/CN=vmfabric test CA" -addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" >/dev/null 2>&1 || return 1
	for h in A B C; do
		openssl req -newkey rsa:2048 -nodes -keyout "$d/$h.key" -out "$d/$h.csr" -subj "/CN=$h" \
			>/dev/null 2>&1 || return 1
		printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$h" >"$d/$h.ext"
		openssl x509 -req -in "$d/$h.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
			-days 2 -out "$d/$h.pem" -extfile "$d/$h.ext" >/dev/null 2>&1 || return 1
	done
}

# The namespaces, bridges, taps and the client; fabricd on each host; the endpoints.
setup_rig() {
	local h i others
	make_pki || { echo "cannot make the test certificates (openssl)"; return 1; }
	add_ns net
	in_ns net ip link add brU type bridge
	in_ns net ip link add brM type bridge
	in_ns net ip link set brU up
	in_ns net ip link set brM up
	for h in A B C; do
		i=${HOST_INDEX[$h]}
		add_host "h$h"
		ip link add u0 netns "$(ns "h$h")" address "$(umac_of "$h")" type veth peer name "u$h" netns "$(ns net)"
		ip link add m0 netns "$(ns "h$h")" type veth peer name "m$h" netns "$(ns net)"
		in_ns net ip link set "u$h" master brU up
		in_ns net ip link set "m$h" master brM up
		in_ns "h$h" ip link set u0 up
		in_ns "h$h" ip link set m0 up
		in_ns "h$h" ip addr add "$(mgmt_of "$h")/24" dev m0
		mkdir -p "$TMP/q$h"
	done
	# The guest's taps exist before fabricd opens them, on A and on B.
	for h in A B; do
		[ "$E2E_PORT" = tap ] || continue
		in_ns "h$h" ip tuntap add dev tapvm mode tap
		in_ns "h$h" ip link set tapvm txqueuelen 50000 up
	done
	add_vm cl "$CLIENT_MAC" "$CLIENT_IP" hC pcl
	for h in A B C; do
		others=()
		for o in A B C; do
			[ "$o" = "$h" ] && continue
			others+=(--peer "$(vtep_of "$o")=$(umac_of "$o")" --allow-peer "$o")
		done
		local port=(--vm-port "vm1:$VNI:net_af_packet1,iface=tapvm")
		[ "$E2E_PORT" = vhost ] && port=(--vm-port "vm1:$VNI:net_vhost1,iface=$(vhost_sock "$h"),queues=1")
		[ "$h" = C ] && port=(--vm-port "cl:$VNI:net_af_packet1,iface=pcl")
		start_fabricd "h$h" --vtep "$(vtep_of "$h")" --uplink "net_af_packet0,iface=u0" \
			"${others[@]}" "${port[@]}" --hold-frames 16384 --hold-timeout-ms 10000 \
			--listen-tcp "$(mgmt_of "$h"):7411" --tls-ca "$TMP/pki/ca.pem" \
			--tls-cert "$TMP/pki/$h.pem" --tls-key "$TMP/pki/$h.key" \
			--qemu-dir "$TMP/q$h" || return 1
	done
	ctl hA endpoints add --vni $VNI --mac $GUEST_MAC --state local --port vm1 --gen 1 --ip $GUEST_IP --vm vm1 &&
		ctl hA endpoints add --vni $VNI --mac $CLIENT_MAC --state remote --vtep "$(vtep_of C)" --gen 1 --ip $CLIENT_IP &&
		ctl hB endpoints add --vni $VNI --mac $GUEST_MAC --state remote --vtep "$(vtep_of A)" --gen 1 --ip $GUEST_IP --vm vm1 &&
		ctl hB endpoints add --vni $VNI --mac $CLIENT_MAC --state remote --vtep "$(vtep_of C)" --gen 1 --ip $CLIENT_IP &&
		ctl hC endpoints add --vni $VNI --mac $CLIENT_MAC --state local --port cl --gen 1 --ip $CLIENT_IP &&
		ctl hC endpoints add --vni $VNI --mac $GUEST_MAC --state remote --vtep "$(vtep_of A)" --gen 1 --ip $GUEST_IP
}

# Starts the guest on host $1 (a fresh boot), or with $2 = incoming, a QEMU waiting for
# it. The guest's memory: $GUEST_MEM (default 256 MiB).
start_guest() {
	local h=$1 mode=${2:-boot} extra=()
	[ "$mode" = incoming ] && extra=(--incoming)
	local nic=(-t tapvm) qarg
	[ "$E2E_PORT" = vhost ] && nic=(-u "$(vhost_sock "$h")")
	# E2E_QEMU_ARGS: more QEMU arguments for every guest, e.g. "-trace events=FILE"
	# (QEMU's trace events, to see where a switchover's time goes).
	for qarg in ${E2E_QEMU_ARGS:-}; do extra+=(--qemu-arg "$qarg"); done
	"$RUN_GUEST" -d "$TMP/q$h" -N vm1 -n "$(ns "h$h")" "${nic[@]}" --no-offload --mac $GUEST_MAC \
		--ip "$GUEST_IP/24" --mtu 1450 -m "${GUEST_MEM:-256}" "${extra[@]}" >>"$TMP/guest.log" 2>&1 || {
		echo "# the guest did not start on $h:"
		tail -n 30 "$TMP/guest.log"
		return 1
	}
}

stop_guest() {
	"$RUN_GUEST" --stop "$TMP/q$1" -N vm1 >>"$TMP/guest.log" 2>&1
}

guest_pid() { cat "$TMP/q$1/vm1.pid" 2>/dev/null; }

# The client's stream: UDP echo at $1 per second plus a TCP connection, into $TMP/$2.json.
start_stream() {
	bg_in_ns cl /usr/bin/python3 "$HERE/echo_stream.py" "$GUEST_IP" "$1" "$TMP/$2.json" --tcp \
		>"$TMP/$2.log" 2>&1
	STREAM_PID=$BG_PID
	for _ in $(seq 200); do
		grep -q "echo-stream: started" "$TMP/$2.log" && return 0
		kill -0 "$STREAM_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "# the client's stream did not start:"
	cat "$TMP/$2.log"
	return 1
}

stop_stream() {
	kill -TERM "$STREAM_PID" 2>/dev/null
	wait "$STREAM_PID" 2>/dev/null
	[ -s "$TMP/$1.json" ]
}

# The client's figures from $1, without the list of every gap (the count of them instead).
stream_summary() {
	/usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); d['gaps'] = len(d.get('gaps', [])); print(json.dumps(d))" "$1"
}

# A field of the JSON file $1.
jfield() { /usr/bin/python3 -c "import json,sys; print(json.load(open(sys.argv[1]))$2)" "$1"; }

# A guestd control command from the client.
guest_ctl() { in_ns cl /usr/bin/python3 "$GUESTCTL" ctl "$GUEST_IP" "$@"; }

# Migrates the guest from host $1 to host $2 with vmfabric: the target QEMU waits, fabricd
# on $1 runs the migration (StartMigration through fabricctl), then the fabric learns the
# new location (the controller's part, by hand: C updated) and $1 ends forwarding.
# Writes the migration record to $TMP/$3.json. Extra fabricctl options in MIGRATE_OPTS.
vmfabric_migrate() {
	local from=$1 to=$2 out=$3 id
	local port=$((4444 + RANDOM % 1000))
	start_guest "$to" incoming || return 1
	# shellcheck disable=SC2086 # MIGRATE_OPTS is a list of options
	ctl "h$from" migrate vm1 --to "$to" --target-vtep "$(vtep_of "$to")" \
		--target-agent "$(mgmt_of "$to"):7411" --uri "tcp:$(mgmt_of "$to"):$port" \
		$MIGRATE_OPTS --json >"$TMP/$out.start.json" 2>"$TMP/$out.err" || {
		echo "# fabricctl migrate failed:"
		cat "$TMP/$out.err" "$TMP/$out.start.json"
		return 1
	}
	id=$(jfield "$TMP/$out.start.json" "['migration_id']")
	GEN=$(jfield "$TMP/$out.start.json" "['generation']")
	# The controller's part: every other host learns the new location, then the source
	# stops forwarding.
	for h in A B C; do
		[ "$h" = "$from" ] || [ "$h" = "$to" ] && continue
		ctl "h$h" endpoints add --vni $VNI --mac $GUEST_MAC --state remote --vtep "$(vtep_of "$to")" \
			--gen $GEN --ip $GUEST_IP >/dev/null || return 1
	done
	sleep 0.5
	ctl "h$from" endpoints end-forward --vni $VNI --mac $GUEST_MAC --gen $GEN >/dev/null || return 1
	for _ in $(seq 100); do
		ctl "h$from" migrations show "$id" --json >"$TMP/$out.json" 2>/dev/null
		[ "$(jfield "$TMP/$out.json" "['phase']")" = COMPLETED ] && break
		sleep 0.1
	done
	stop_guest "$from"
	[ "$(jfield "$TMP/$out.json" "['phase']")" = COMPLETED ]
}

# The same move without vmfabric's cutover: QEMU migrates on its own (guestctl.py drives
# QMP), and the fabric learns the new location only once QEMU reports completion, as a
# fabric without a cutover service would. Writes QEMU's figures to $TMP/$3.json.
baseline_migrate() {
	local from=$1 to=$2 out=$3 h
	local port=$((5444 + RANDOM % 1000))
	start_guest "$to" incoming || return 1
	/usr/bin/python3 "$GUESTCTL" migrate "$TMP/q$from/vm1.qmp" "$TMP/q$to/vm1.qmp" \
		"tcp:$(mgmt_of "$to"):$port" $BASELINE_OPTS >"$TMP/$out.json" 2>"$TMP/$out.err" || {
		echo "# the baseline migration failed:"
		cat "$TMP/$out.err"
		return 1
	}
	# One more than any host holds (a failed migration moves generations on by two).
	GEN=$(($(ctl "h$from" flows --mac $GUEST_MAC --json | /usr/bin/python3 -c \
		"import json,sys; print(json.load(sys.stdin)[0]['generation'])") + 10))
	ctl "h$to" endpoints add --vni $VNI --mac $GUEST_MAC --state local --port vm1 --gen $GEN \
		--ip $GUEST_IP --vm vm1 >/dev/null || return 1
	for h in A B C; do
		[ "$h" = "$to" ] && continue
		ctl "h$h" endpoints add --vni $VNI --mac $GUEST_MAC --state remote --vtep "$(vtep_of "$to")" \
			--gen $GEN --ip $GUEST_IP >/dev/null || return 1
	done
	stop_guest "$from"
}
