#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Builds the dataplane benchmark's input pcaps with scapy: FLOWS distinct flows each,
64-byte frames on the wire (60 bytes without the FCS) inside the VXLAN ones.

  encap.pcap    frames of the bound local VM (endpoint 0) to remote endpoints 1..FLOWS
  decap.pcap    VXLAN from the known host 198.18.0.2 to this host (198.18.0.1), VNI 42,
                carrying frames of remote endpoints 1..FLOWS to the local VM
  forward.pcap  the same VXLAN, carrying frames of remote endpoints to endpoints in
                FORWARDING state (FLOWS+1 .. 2*FLOWS)

The numbering (MACs 02:ee:00 + endpoint number, IPv4 10.0.0.1 + endpoint number, this
host's MAC 02:00:00:00:00:01) is the one bench_dataplane.c loads into the table; the
VXLAN frames are also what an OVS vxlan port (remote_ip=198.18.0.2, key=42) on a bridge
with address 198.18.0.1 and that MAC accepts.

usage: make_pcaps.py OUTDIR [FLOWS]
"""
import ipaddress
import os
import sys

from scapy.all import IP, UDP, VXLAN, Ether, PcapWriter, raw  # noqa: E402

VNI = 42
LOCAL_VTEP, PEER_VTEP = "198.18.0.1", "198.18.0.2"
LOCAL_MAC, PEER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
FRAME = 60  # bytes without the FCS


def ep_mac(i):
    return "02:ee:00:%02x:%02x:%02x" % ((i >> 16) & 0xff, (i >> 8) & 0xff, i & 0xff)


def ep_ip(i):
    return str(ipaddress.IPv4Address(0x0A000001 + i))


def inner(src, dst, k):
    """A UDP frame from endpoint src to endpoint dst, flow k in its ports."""
    f = (Ether(src=ep_mac(src), dst=ep_mac(dst)) / IP(src=ep_ip(src), dst=ep_ip(dst), ttl=64)
         / UDP(sport=1024 + (k & 0xff), dport=2048 + (k >> 8)))
    return f / (b"\x00" * (FRAME - len(f)))


def vxlan(frame, k):
    # The source port stands for the sender's hash of the inner flow, as RFC 7348 asks.
    return (Ether(src=PEER_MAC, dst=LOCAL_MAC) / IP(src=PEER_VTEP, dst=LOCAL_VTEP, ttl=64)
            / UDP(sport=49152 + (k * 40503 & 0x3fff), dport=4789, chksum=0)
            / VXLAN(vni=VNI, flags=0x08) / frame)


def write(path, frames):
    w = PcapWriter(path, linktype=1, sync=False)
    for f in frames:
        w.write(raw(f))
    w.close()


def main():
    out = sys.argv[1]
    flows = int(sys.argv[2]) if len(sys.argv) > 2 else 65536
    os.makedirs(out, exist_ok=True)
    write(os.path.join(out, "encap.pcap"), (inner(0, 1 + k, k) for k in range(flows)))
    write(os.path.join(out, "decap.pcap"), (vxlan(inner(1 + k, 0, k), k) for k in range(flows)))
    write(os.path.join(out, "forward.pcap"),
          (vxlan(inner(1 + k, 1 + flows + k, k), k) for k in range(flows)))


if __name__ == "__main__":
    main()
