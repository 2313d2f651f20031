#!/usr/bin/env bash
# Installs every Debian package that vmfabric's build, tests, benchmarks and demo need.
# Idempotent: a second run only checks that the packages are present. Debian's own
# repositories are the only source; nothing is downloaded from anywhere else.
set -euo pipefail

packages=(
	# build
	build-essential pkg-config meson ninja-build git
	clang llvm lld libclang-rt-14-dev
	# libraries
	libdpdk-dev dpdk-dev dpdk libbpf-dev bpftool libxdp-dev
	libgrpc-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler
	libcmocka-dev libjansson-dev libpcap-dev libelf-dev zlib1g-dev libssl-dev
	# tests: independent packet builder and decoder, gRPC peer, namespaces
	python3 python3-scapy python3-grpcio python3-protobuf tshark iproute2 iputils-ping procps ethtool
	valgrind openssl
	# the test guest and the migration demo
	qemu-system-x86 linux-image-cloud-amd64 busybox-static cpio
	# the distributed store and the benchmark peers
	etcd-server openvswitch-switch-dpdk
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
	echo "setup: all ${#packages[@]} Debian packages present"
	exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
	echo "setup: missing packages: ${missing[*]}" >&2
	echo "setup: run as root (or install them) and try again" >&2
	exit 1
fi

echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Wireshark asks whether non-root users may capture; the answer does not matter here.
echo 'wireshark-common wireshark-common/install-setuid boolean false' | debconf-set-selections
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup: done"
