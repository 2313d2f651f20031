#!/usr/bin/env bash
# run-guest.sh: starts vmfabric's test guest under QEMU, in the background.
#
#   run-guest.sh --dir DIR [options]      start a guest; returns once it is ready (or, with
#                                         --incoming, once QEMU listens on QMP)
#   run-guest.sh --stop DIR [--name N]    QMP quit (SIGKILL after 5 s), remove the tap if
#                                         run-guest.sh created it
#   run-guest.sh --probe [--image IMG]    print the accelerator "auto" picks (kvm or tcg)
#
# Options:
#   -d, --dir DIR        where the guest's files go: NAME.qmp (QMP socket), NAME.serial
#                        (serial console), NAME.pid, NAME.qemu.log (QEMU's stderr),
#                        NAME.accel, NAME.cmdline (the QEMU command line)
#   -N, --name NAME      default "guest" (two guests in one DIR need two names)
#   -n, --netns NS       run QEMU inside network namespace NS (must exist)
#   -t, --tap TAP        NIC on tap TAP (created inside NS, up, if it does not exist)
#   -u, --vhost-user SOCK  NIC on vhost-user, QEMU connecting to the backend listening on
#                        unix socket SOCK (fabricd's net_vhost port); guest memory then
#                        comes from a shared memfd, as vhost-user needs
#       --user-net       NIC on -netdev user instead of a tap (no host side)
#       --no-net         no NIC at all
#       --mac MAC        the NIC's MAC (default 52:54:00:12:34:56)
#       --nic-opts OPTS  more virtio-net-pci properties, e.g. "csum=off,host_tso4=off"
#       --no-offload     the guest computes every checksum and segment itself (csum,
#                        TSO, UFO, ECN off): needed when a DPDK af_packet port reads the
#                        tap, which does not carry the partial checksums of offloads
#       --ip ADDR/LEN    guest eth0 address (kernel command line vmf.ip=)
#       --gw ADDR        guest default route (vmf.gw=)
#       --mtu N          guest eth0 MTU (vmf.mtu=)
#       --append TEXT    more kernel command line (e.g. "vmf.ddloop=32")
#   -m, --mem SIZE       guest memory, QEMU's -m syntax (default 256, MiB). Under tcg a
#                        plain number of MiB gets 64 KiB less (256 -> 262080k): QEMU 7.2
#                        loses dirty pages under TCG when the RAM size is a multiple of
#                        256 KiB, and migrated guests crash (README.md, "Crash after
#                        migration"). Source and target get the same size.
#       --exact-mem      use SIZE as given under tcg too (reproduces that crash)
#       --smp N          vCPUs (default 1)
#   -a, --accel A        auto | kvm | tcg (default auto, or $VMF_ACCEL). auto boots the
#                        image once under kvm without a NIC and uses kvm if the guest says
#                        it is ready within $VMF_KVM_PROBE_S (6) seconds, tcg otherwise;
#                        the answer is cached in IMG/accel-probe (delete it to probe again).
#                        The choice is printed loudly.
#       --cpu MODEL      default: host under kvm, qemu64 under tcg (or $VMF_CPU)
#   -M, --machine TYPE   default pc (or $VMF_MACHINE); source and target must agree
#       --tcg-thread T   single | multi (tcg only; QEMU's default is multi)
#       --incoming       start with -incoming defer (a migration target; no ready wait)
#       --wait S         seconds to wait for the ready line (default 90; 0: do not wait)
#   -i, --image IMG      image directory (vmlinuz, initrd.img); build-initramfs.sh IMG is
#                        run first (a no-op when up to date). Default /tmp/vmf-guest-image
#                        or $VMF_GUEST_IMAGE.
#       --qemu-arg ARG   one more QEMU argument (repeatable)
#
# On success it prints one line "run-guest: NAME pid P accel A ... ready in N ms" and
# the guest's serial console has "vmf-guest: ready ...". On failure it kills the QEMU it
# started, shows the ends of the logs and exits 1.
#
# Example (as root):
#   ip netns add vm1; ip -n vm1 link set lo up
#   tests/guest/run-guest.sh -d /tmp/g -n vm1 -t tap0 --ip 10.0.0.1/24
#   ip -n vm1 addr add 10.0.0.2/24 dev tap0
#   ip netns exec vm1 tests/guest/guestctl.py udp-echo 10.0.0.1
#   tests/guest/run-guest.sh --stop /tmp/g; ip netns del vm1
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
QEMU=${QEMU:-qemu-system-x86_64}
READY='vmf-guest: ready'

mode=start dir='' name=guest netns='' tap='' vhost_sock='' net=tap mac=52:54:00:12:34:56 ip='' gw='' mtu='' append=''
mem=256 smp=1 accel=${VMF_ACCEL:-auto} cpu=${VMF_CPU:-} machine=${VMF_MACHINE:-pc} tcg_thread=''
exact_mem=0 incoming=0 nic_opts='' wait_s=90 image=${VMF_GUEST_IMAGE:-/tmp/vmf-guest-image}
extra=()

usage() {
	sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
	exit 2
}
say() { echo "run-guest: $*"; }
die() {
	echo "run-guest: $*" >&2
	exit 1
}

while [ $# -gt 0 ]; do
	case "$1" in
	--stop) mode=stop dir=${2:?} && shift ;;
	--probe) mode=probe ;;
	-d | --dir) dir=${2:?} && shift ;;
	-N | --name) name=${2:?} && shift ;;
	-n | --netns) netns=${2:?} && shift ;;
	-t | --tap) tap=${2:?} net=tap && shift ;;
	-u | --vhost-user) vhost_sock=${2:?} net=vhost && shift ;;
	--user-net) net=user ;;
	--no-net) net=none ;;
	--mac) mac=${2:?} && shift ;;
	--ip) ip=${2:?} && shift ;;
	--gw) gw=${2:?} && shift ;;
	--mtu) mtu=${2:?} && shift ;;
	--append) append=${2?} && shift ;;
	-m | --mem) mem=${2:?} && shift ;;
	--exact-mem) exact_mem=1 ;;
	--smp) smp=${2:?} && shift ;;
	-a | --accel) accel=${2:?} && shift ;;
	--cpu) cpu=${2:?} && shift ;;
	-M | --machine) machine=${2:?} && shift ;;
	--tcg-thread) tcg_thread=${2:?} && shift ;;
	--incoming) incoming=1 ;;
	--nic-opts) nic_opts+=",${2:?}" && shift ;;
	--no-offload) nic_opts+=",csum=off,guest_csum=off,host_tso4=off,host_tso6=off,host_ecn=off,host_ufo=off,guest_tso4=off,guest_tso6=off,guest_ecn=off,guest_ufo=off" ;;
	--wait) wait_s=${2:?} && shift ;;
	-i | --image) image=${2:?} && shift ;;
	--qemu-arg) extra+=("${2?}") && shift ;;
	-h | --help) usage ;;
	*) echo "run-guest: unknown option $1" >&2 && usage ;;
	esac
	shift
done

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# Sends QMP quit to SOCK; returns non-zero if it could not.
qmp_quit() {
	/usr/bin/python3 - "$1" <<'EOF' 2>/dev/null
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(3)
s.connect(sys.argv[1])
f = s.makefile("rw")
f.readline()
for cmd in ("qmp_capabilities", "quit"):
    f.write(json.dumps({"execute": cmd}) + "\n"); f.flush()
    while "return" not in json.loads(f.readline() or '{"return": 0}'):
        pass
EOF
}

# Kills pid $1 (a QEMU) after a QMP quit on $2 had 5 s. A pid that is no longer a QEMU
# (a stale pid file) is left alone.
stop_qemu() {
	local pid=$1 sock=$2
	[ -n "$pid" ] || return 0
	case "$(cat "/proc/$pid/comm" 2>/dev/null)" in
	qemu*) ;;
	*) return 0 ;;
	esac
	[ -S "$sock" ] && qmp_quit "$sock" || kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

if [ "$mode" = stop ]; then
	base=$dir/$name
	pid=$(cat "$base.pid" 2>/dev/null || true)
	stop_qemu "$pid" "$base.qmp"
	if [ -f "$base.tap-created" ]; then
		read -r t_ns t_tap <"$base.tap-created"
		if [ "$t_ns" = - ]; then ip link del "$t_tap" 2>/dev/null || true; else ip -n "$t_ns" link del "$t_tap" 2>/dev/null || true; fi
		rm -f "$base.tap-created"
	fi
	rm -f "$base.pid" "$base.qmp"
	exit 0
fi

command -v "$QEMU" >/dev/null || die "$QEMU is not installed (qemu-system-x86)"
"$here/build-initramfs.sh" "$image" >/dev/null || die "cannot build the image in $image"

# Boots the image under kvm without a NIC; true if the guest says it is ready within
# VMF_KVM_PROBE_S seconds.
kvm_boots() {
	if [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
		probe_why="/dev/kvm is missing or not usable"
		return 1
	fi
	local t pid ok=1 limit=${VMF_KVM_PROBE_S:-6}
	t=$(mktemp -d /tmp/vmf-kvm-probe.XXXXXX)
	"$QEMU" -nodefaults -accel kvm -cpu host -m 256 -smp 1 -display none -monitor none \
		-serial "file:$t/serial" -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
		-append "console=ttyS0 quiet" >"$t/log" 2>&1 </dev/null &
	pid=$!
	for _ in $(seq $((limit * 10))); do
		grep -q "$READY" "$t/serial" 2>/dev/null && { ok=0; break; }
		kill -0 $pid 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL $pid 2>/dev/null || true
	wait $pid 2>/dev/null || true
	if [ $ok -ne 0 ]; then
		probe_why="the guest was not ready within $limit s under kvm"
		grep -q 'emulation failure\|internal error' "$t/log" 2>/dev/null &&
			probe_why="$probe_why ($(grep -m1 -o 'KVM internal error.*\|emulation failure.*' "$t/log"))"
	fi
	rm -rf "$t"
	return $ok
}

probe_cached() {
	[ -f "$image/accel-probe" ] && [ "$(sed -n 2p "$image/accel-probe")" = "$(cat "$image/.stamp")" ]
}

# Prints kvm or tcg; the answer and its reason are kept in IMG/accel-probe.
probe_accel() {
	local cache=$image/accel-probe
	if probe_cached; then
		sed -n 1p "$cache"
		return
	fi
	local a probe_why=
	if kvm_boots; then a=kvm probe_why="the guest booted under kvm"; else a=tcg; fi
	printf '%s\n%s\n%s\n' "$a" "$(cat "$image/.stamp")" "$probe_why" >"$cache"
	echo "$a"
}

probe_reason() {
	echo "$(sed -n 3p "$image/accel-probe")$1"
}

loud() {
	echo "run-guest: ######## ACCELERATOR: $1 ($2) ########"
}

if [ "$mode" = probe ]; then
	was_cached=
	probe_cached && was_cached="; cached in $image/accel-probe"
	a=$(probe_accel)
	loud "$a" "$(probe_reason "$was_cached")"
	exit 0
fi

[ -n "$dir" ] || usage
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
base=$dir/$name
if [ -f "$base.pid" ] && kill -0 "$(cat "$base.pid")" 2>/dev/null; then
	die "a guest named $name already runs from $dir (pid $(cat "$base.pid"))"
fi
rm -f "$base.pid" "$base.qmp" "$base.serial" "$base.qemu.log" "$base.accel"

case "$accel" in
auto)
	was_cached=
	probe_cached && was_cached="; cached in $image/accel-probe"
	accel=$(probe_accel)
	loud "$accel" "$(probe_reason "$was_cached")"
	;;
kvm | tcg) loud "$accel" "asked for" ;;
*) die "--accel is auto, kvm or tcg" ;;
esac
if [ -z "$cpu" ]; then
	if [ "$accel" = kvm ]; then cpu=host; else cpu=qemu64; fi
fi
accel_opt=$accel
qemu_mem=$mem
if [ "$accel" = tcg ] && [ $exact_mem -eq 0 ] && [[ "$mem" =~ ^[0-9]+$ ]]; then
	# QEMU 7.2's fast path for syncing the migration dirty bitmap (taken when a RAM
	# block's size is a multiple of 64 pages) forgets to reset TCG's TLBs (fixed upstream
	# in 9.0, commit 03bfc2188f): pages written through a cached TLB entry are not sent
	# again. A size that is not a multiple of 256 KiB takes the slow path, which is right.
	qemu_mem=$((mem * 1024 - 64))k
fi
if [ -n "$tcg_thread" ]; then
	[ "$accel" = tcg ] || die "--tcg-thread is for tcg"
	accel_opt="tcg,thread=$tcg_thread"
fi

in_ns=()
[ -n "$netns" ] && in_ns=(ip netns exec "$netns")

netargs=() machine_opts='' vhost_nic_opts=''
# QEMU 7.2 under TCG crashes starting a vhost-user NIC that uses MSI-X (a segfault in
# msix_set_vector_notifiers from vhost_net_start: there is no KVM irqfd to route the
# vectors to). Without MSI-X vectors the NIC interrupts through INTx and works.
[ "$accel" = tcg ] && vhost_nic_opts=",vectors=0"
case "$net" in
tap)
	[ -n "$tap" ] || die "give --tap TAP, --user-net or --no-net"
	if ! "${in_ns[@]}" ip link show "$tap" >/dev/null 2>&1; then
		"${in_ns[@]}" ip tuntap add dev "$tap" mode tap || die "cannot create tap $tap"
		echo "${netns:--} $tap" >"$base.tap-created"
	fi
	"${in_ns[@]}" ip link set "$tap" up
	netargs=(-netdev "tap,id=n0,ifname=$tap,script=no,downscript=no,vhost=off"
		-device "virtio-net-pci,netdev=n0,mac=$mac$nic_opts")
	;;
vhost)
	[ -S "$vhost_sock" ] || die "no vhost-user backend listens on $vhost_sock (start fabricd first)"
	netargs=(-object "memory-backend-memfd,id=ram0,size=$qemu_mem,share=on"
		-chardev "socket,id=vu0,path=$vhost_sock"
		-netdev "vhost-user,id=n0,chardev=vu0"
		-device "virtio-net-pci,netdev=n0,mac=$mac$nic_opts$vhost_nic_opts")
	machine_opts=",memory-backend=ram0"
	;;
user) netargs=(-netdev user,id=n0 -device "virtio-net-pci,netdev=n0,mac=$mac") ;;
none) ;;
esac

cmdline="console=ttyS0 quiet"
[ -n "$ip" ] && cmdline+=" vmf.ip=$ip"
[ -n "$gw" ] && cmdline+=" vmf.gw=$gw"
[ -n "$mtu" ] && cmdline+=" vmf.mtu=$mtu"
[ -n "$append" ] && cmdline+=" $append"

qemu=("$QEMU" -name "$name,debug-threads=on" -nodefaults -machine "$machine$machine_opts" -accel "$accel_opt" -cpu "$cpu"
	-m "$qemu_mem" -smp "$smp" -display none -monitor none -serial "file:$base.serial"
	-kernel "$image/vmlinuz" -initrd "$image/initrd.img" -append "$cmdline"
	"${netargs[@]}" -qmp "unix:$base.qmp,server=on,wait=off" -pidfile "$base.pid")
[ $incoming -eq 1 ] && qemu+=(-incoming defer)
qemu+=("${extra[@]+"${extra[@]}"}")
printf '%q ' "${in_ns[@]+"${in_ns[@]}"}" "${qemu[@]}" >"$base.cmdline"
echo >>"$base.cmdline"
echo "$accel" >"$base.accel"

start=$(now_ms)
"${in_ns[@]+"${in_ns[@]}"}" "${qemu[@]}" </dev/null >"$base.qemu.log" 2>&1 &
pid=$!

fail() {
	echo "run-guest: $name: $*" >&2
	stop_qemu "$pid" "$base.qmp"
	echo "--- $base.qemu.log" >&2
	tail -n 20 "$base.qemu.log" >&2 2>/dev/null || true
	echo "--- $base.serial" >&2
	tail -n 40 "$base.serial" >&2 2>/dev/null || true
	rm -f "$base.pid"
	if [ -f "$base.tap-created" ]; then
		"${in_ns[@]+"${in_ns[@]}"}" ip link del "$tap" 2>/dev/null || true
		rm -f "$base.tap-created"
	fi
	exit 1
}

# QEMU is up when its QMP socket listens.
for _ in $(seq 100); do
	[ -S "$base.qmp" ] && break
	kill -0 $pid 2>/dev/null || fail "QEMU exited at start"
	sleep 0.05
done
[ -S "$base.qmp" ] || fail "no QMP socket after 5 s"
[ -s "$base.pid" ] || echo $pid >"$base.pid"

if [ $incoming -eq 1 ] || [ "$wait_s" = 0 ]; then
	say "$name pid $pid accel $accel machine $machine cpu $cpu mem $qemu_mem$([ $incoming -eq 1 ] && echo ' incoming (defer)'), qmp $base.qmp, serial $base.serial"
	exit 0
fi

deadline=$((start + wait_s * 1000))
while :; do
	grep -q "$READY" "$base.serial" 2>/dev/null && break
	kill -0 $pid 2>/dev/null || fail "QEMU exited before the guest was ready"
	[ "$(now_ms)" -lt $deadline ] || fail "the guest was not ready within $wait_s s"
	sleep 0.05
done
ms=$(($(now_ms) - start))
echo "$ms" >"$base.boot-ms"
say "$name pid $pid accel $accel machine $machine cpu $cpu mem $qemu_mem, qmp $base.qmp, serial $base.serial; ready in $ms ms"
say "$name: $(grep -m1 "$READY" "$base.serial")"
