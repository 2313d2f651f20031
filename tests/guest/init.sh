#!/bin/busybox sh
# /init of vmfabric's test guest (build-initramfs.sh puts it in the initramfs).
# Kernel command line settings it reads from /proc/cmdline:
#   vmf.ip=ADDR/LEN   eth0's IPv4 address (none: eth0 is up without an address)
#   vmf.gw=ADDR       default route via ADDR
#   vmf.mtu=N         eth0's MTU
#   vmf.ddloop=MB     also run `dd` of MB MiB into a file on tmpfs in a loop (a dirtying
#                     workload of the shell kind, for migration experiments)
# eth0 keeps the MAC that QEMU gives it. When everything runs it prints
#   vmf-guest: ready ip=... mac=... mtu=... uptime=...
# on the console, the line harnesses wait for.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=0755 tmpfs /run
exec </dev/null >/dev/console 2>&1

say() { echo "vmf-guest: $*"; }

for m in $(cat /lib/modules/order); do
	insmod "/lib/modules/$m.ko" || say "insmod $m failed"
done

ip='' gw='' mtu='' ddloop=''
for arg in $(cat /proc/cmdline); do
	case "$arg" in
	vmf.ip=*) ip=${arg#vmf.ip=} ;;
	vmf.gw=*) gw=${arg#vmf.gw=} ;;
	vmf.mtu=*) mtu=${arg#vmf.mtu=} ;;
	vmf.ddloop=*) ddloop=${arg#vmf.ddloop=} ;;
	esac
done

ip link set lo up
mac=none
# The NIC's driver may still be probing when insmod returns.
for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
	[ -e /sys/class/net/eth0 ] && break
	sleep 0.1
done
if [ -e /sys/class/net/eth0 ]; then
	[ -n "$mtu" ] && { ip link set eth0 mtu "$mtu" || say "cannot set MTU $mtu"; }
	[ -n "$ip" ] && { ip addr add "$ip" dev eth0 || say "cannot set address $ip"; }
	ip link set eth0 up
	[ -n "$gw" ] && { ip route add default via "$gw" || say "cannot set gateway $gw"; }
	mac=$(cat /sys/class/net/eth0/address)
	mtu=$(cat /sys/class/net/eth0/mtu)
else
	say "no eth0"
fi

(
	while :; do
		/bin/guestd -r /run/guestd.ready
		say "guestd exited ($?), restarting"
		sleep 1
	done
) &

if [ -n "$ddloop" ]; then
	(
		while :; do dd if=/dev/zero of=/tmp/dirty bs=1M count="$ddloop" 2>/dev/null; done
	) &
	say "dd loop of $ddloop MiB into /tmp (tmpfs) started"
fi

for _ in $(seq 200); do
	[ -e /run/guestd.ready ] && break
	sleep 0.05
done
[ -e /run/guestd.ready ] || say "guestd did not say it is ready"
say "ready ip=${ip:-none} mac=$mac mtu=${mtu:-none} kernel=$(uname -r) uptime=$(cut -d' ' -f1 /proc/uptime)"

# PID 1 must never exit; it also reaps its children.
while :; do
	wait
	sleep 1
done
