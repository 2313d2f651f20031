#!/usr/bin/env bash
# Builds vmfabric's test guest image:
#   build-initramfs.sh OUTDIR
# writes OUTDIR/vmlinuz (a copy of the newest /boot/vmlinuz-*-cloud-amd64),
# OUTDIR/initrd.img (gzip'd newc cpio: busybox-static, the virtio-net modules of that
# kernel, guestd, /init) and OUTDIR/guestd. Deterministic (sorted entries, fixed times
# and owners, gzip -n) and cached: it rebuilds only when one of its inputs (this script,
# init.sh, guestd.c, the kernel, its modules, busybox) changed. Concurrent runs on the
# same OUTDIR are serialised with flock.
# Needs: linux-image-cloud-amd64, busybox-static, cpio, gcc (libc6-dev for -static).
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: $0 OUTDIR" >&2
	exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$1"
out=$(cd "$1" && pwd)

MODULES=(virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev virtio_pci failover net_failover virtio_net)

die() {
	echo "build-initramfs: $*" >&2
	exit 1
}

kernel=$(find /boot -maxdepth 1 -name 'vmlinuz-*-cloud-amd64' 2>/dev/null | sort -V | tail -n 1 || true)
[ -n "$kernel" ] || die "no /boot/vmlinuz-*-cloud-amd64 (install linux-image-cloud-amd64)"
kver=${kernel#/boot/vmlinuz-}
moddir=/lib/modules/$kver
[ -d "$moddir" ] || die "no $moddir for kernel $kver"
busybox=/bin/busybox
[ -x "$busybox" ] || die "no $busybox (install busybox-static)"
# The guest has no libc: busybox must be the static one.
if LC_ALL=C readelf -l "$busybox" 2>/dev/null | grep -q 'Requesting program interpreter'; then
	die "$busybox is dynamically linked: install busybox-static"
fi
command -v cpio >/dev/null || die "no cpio (install cpio)"
command -v gcc >/dev/null || die "no gcc"

modfiles=()
for m in "${MODULES[@]}"; do
	f=$(find "$moddir/kernel" -name "$m.ko" -o -name "$m.ko.xz" -o -name "$m.ko.zst" -o -name "$m.ko.gz" | head -n 1)
	[ -n "$f" ] || die "module $m not found under $moddir (is virtio-net built in? then drop it from MODULES)"
	modfiles+=("$f")
done

exec 9>"$out/.lock"
flock 9

# Everything the image is made of, by content.
stamp=$(
	{
		echo "kernel $kver"
		sha256sum "$0" "$here/init.sh" "$here/guestd.c" "$kernel" "$busybox" "${modfiles[@]}"
		gcc --version | head -n 1
	} | sha256sum | cut -d' ' -f1
)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ] &&
	[ -s "$out/vmlinuz" ] && [ -s "$out/initrd.img" ]; then
	echo "build-initramfs: $out is up to date (kernel $kver)"
	exit 0
fi

start=$(date +%s%N)
stage=$(mktemp -d "$out/.stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
root=$stage/root
mkdir -p "$root"/{bin,sbin,dev,proc,sys,tmp,run,etc,lib/modules,usr/bin,usr/sbin}

# busybox: the binary and a link for every applet it has.
cp "$busybox" "$root/bin/busybox"
for applet in $("$busybox" --list); do
	[ "$applet" = busybox ] && continue
	ln -sf busybox "$root/bin/$applet"
done

# virtio-net modules, decompressed.
for f in "${modfiles[@]}"; do
	name=$(basename "$f")
	case "$f" in
	*.ko) cp "$f" "$root/lib/modules/$name" ;;
	*.ko.xz)
		if command -v xz >/dev/null; then xz -dc "$f"; else "$busybox" xz -dc "$f"; fi >"$root/lib/modules/${name%.xz}"
		;;
	*.ko.zst)
		command -v zstd >/dev/null || die "$f is zstd-compressed: install zstd"
		zstd -q -dc "$f" >"$root/lib/modules/${name%.zst}"
		;;
	*.ko.gz) gzip -dc "$f" >"$root/lib/modules/${name%.gz}" ;;
	esac
done
printf '%s\n' "${MODULES[@]}" >"$root/lib/modules/order"
echo "$kver" >"$root/etc/kernel-version"

gcc -static -O2 -pthread -Wall -o "$stage/guestd" "$here/guestd.c"
strip "$stage/guestd" 2>/dev/null || true
cp "$stage/guestd" "$root/bin/guestd"
cp "$here/init.sh" "$root/init"
chmod 0755 "$root/init" "$root/bin/guestd" "$root/bin/busybox"
chmod 1777 "$root/tmp"

# Reproducible archive: sorted names, fixed times, root-owned, no device numbers.
find "$root" -exec touch -h -d @0 {} +
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort |
	cpio --quiet -o -H newc -R 0:0 --reproducible) | gzip -n -6 >"$stage/initrd.img"

cp "$kernel" "$stage/vmlinuz"
mv -f "$stage/vmlinuz" "$out/vmlinuz"
mv -f "$stage/initrd.img" "$out/initrd.img"
mv -f "$stage/guestd" "$out/guestd"
echo "$kver" >"$out/kernel-version"
echo "$stamp" >"$out/.stamp"
ms=$((($(date +%s%N) - start) / 1000000))
echo "build-initramfs: built $out (kernel $kver, initrd $(stat -c %s "$out/initrd.img") bytes) in $ms ms"
