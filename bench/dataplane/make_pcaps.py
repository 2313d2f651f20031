#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Builds the dataplane benchmark's input pcaps: FLOWS distinct flows each, 64-byte frames
on the wire (60 bytes without the FCS), bare or inside VXLAN.

  encap.pcap    frames of the bound local VM (endpoint 0) to remote endpoints 1..FLOWS
  decap.pcap    VXLAN from the known host 198.18.0.2 to this host (198.18.0.1), VNI 42,
                carrying frames of remote endpoints 1..FLOWS to the local VM
  forward.pcap  the same VXLAN, carrying frames of remote endpoints 1..FLOWS to endpoints
                in FORWARDING state (FLOWS+1 .. 2*FLOWS)
  arp.pcap      ARP requests of the local VM for the addresses of endpoints 1..FLOWS (the
                ARP proxy answers them)

The numbering (MACs 02:ee:00 + endpoint number, IPv4 10.0.0.1 + endpoint number, this
host's MAC 02:00:00:00:00:01) is the one bench_dataplane.c loads into its table; the
VXLAN frames are also what an OVS vxlan port (remote_ip=198.18.0.2, key=42) on a bridge
with address 198.18.0.1 and that MAC accepts.

scapy builds about two thousand frames a second here, so building 196608 of them would
take minutes: scapy builds each kind of frame, and the flows are made by writing the
varying fields (MACs, addresses, ports) and the checksums into a copy. A sample of the
frames, the first and last of each file among them, is then checked byte for byte against
frames scapy builds for the same flow from scratch.

usage: make_pcaps.py OUTDIR [FLOWS]
"""
import os
import signal
import random
import struct
import sys

from scapy.all import ARP, IP, UDP, VXLAN, Ether, raw

VNI = 42
LOCAL_VTEP, PEER_VTEP = "198.18.0.1", "198.18.0.2"
LOCAL_MAC, PEER_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
FRAME = 60  # bytes without the FCS
VX = 50     # outer Ethernet + IPv4 + UDP + VXLAN


def ep_mac_bytes(i):
    return bytes((0x02, 0xEE, 0x00, (i >> 16) & 0xFF, (i >> 8) & 0xFF, i & 0xFF))


def ep_mac(i):
    return ":".join("%02x" % b for b in ep_mac_bytes(i))


def ep_ip_int(i):
    return 0x0A000001 + i


def ep_ip(i):
    a = ep_ip_int(i)
    return "%d.%d.%d.%d" % (a >> 24, (a >> 16) & 0xFF, (a >> 8) & 0xFF, a & 0xFF)


def flow_ports(k):
    return 1024 + (k & 0xFF), 2048 + (k >> 8)


def outer_sport(k):
    # Stands for the sender's hash of the inner flow, as RFC 7348 asks.
    return 49152 + (k * 40503 & 0x3FFF)


# The reference: scapy builds one flow's frame from scratch.
def scapy_inner(src, dst, k):
    sport, dport = flow_ports(k)
    f = (Ether(src=ep_mac(src), dst=ep_mac(dst)) / IP(src=ep_ip(src), dst=ep_ip(dst), ttl=64)
         / UDP(sport=sport, dport=dport))
    return f / (b"\x00" * (FRAME - len(f)))


def scapy_vxlan(frame, k):
    return (Ether(src=PEER_MAC, dst=LOCAL_MAC) / IP(src=PEER_VTEP, dst=LOCAL_VTEP, ttl=64)
            / UDP(sport=outer_sport(k), dport=4789, chksum=0)
            / VXLAN(vni=VNI, flags=0x08) / frame)


def scapy_arp(k):
    f = Ether(src=ep_mac(0), dst="ff:ff:ff:ff:ff:ff") / ARP(
        op=1, hwsrc=ep_mac(0), psrc=ep_ip(0), hwdst="00:00:00:00:00:00", pdst=ep_ip(1 + k))
    return f / (b"\x00" * (FRAME - len(f)))


def csum(data):
    if len(data) % 2:
        data += b"\x00"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


class Patcher:
    """Makes flow k's frame from the scapy-built frame of flow 0."""

    def __init__(self, template, vxlan):
        self.t = bytes(template)
        self.off = VX if vxlan else 0
        self.vxlan = vxlan

    def frame(self, src, dst, k):
        b = bytearray(self.t)
        o = self.off
        b[o:o + 6] = ep_mac_bytes(dst)
        b[o + 6:o + 12] = ep_mac_bytes(src)
        ip, udp = o + 14, o + 34
        struct.pack_into("!II", b, ip + 12, ep_ip_int(src), ep_ip_int(dst))
        struct.pack_into("!H", b, ip + 10, 0)
        struct.pack_into("!H", b, ip + 10, csum(bytes(b[ip:ip + 20])))
        sport, dport = flow_ports(k)
        ulen = struct.unpack_from("!H", b, udp + 4)[0]
        struct.pack_into("!HH", b, udp, sport, dport)
        struct.pack_into("!H", b, udp + 6, 0)
        pseudo = bytes(b[ip + 12:ip + 20]) + struct.pack("!BBH", 0, 17, ulen)
        c = csum(pseudo + bytes(b[udp:udp + ulen])) or 0xFFFF
        struct.pack_into("!H", b, udp + 6, c)
        if self.vxlan:
            struct.pack_into("!H", b, 34, outer_sport(k))  # outer UDP checksum stays 0
        return bytes(b)


def arp_frame(template, k):
    b = bytearray(template)
    struct.pack_into("!I", b, 14 + 24, ep_ip_int(1 + k))  # the target protocol address
    return bytes(b)


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, fr in enumerate(frames):
            f.write(struct.pack("<IIII", i // 1000000, i % 1000000, len(fr), len(fr)))
            f.write(fr)


def main():
    # Die of SIGINT rather than raise: the shell that runs us then stops too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    out = sys.argv[1]
    flows = int(sys.argv[2]) if len(sys.argv) > 2 else 65536
    os.makedirs(out, exist_ok=True)
    kinds = {
        # name: (source endpoint of flow k, destination endpoint, VXLAN or not)
        "encap": (lambda k: 0, lambda k: 1 + k, False),
        "decap": (lambda k: 1 + k, lambda k: 0, True),
        "forward": (lambda k: 1 + k, lambda k: 1 + flows + k, True),
    }
    rng = random.Random(7)
    for name, (src, dst, vx) in kinds.items():
        def reference(k):
            f = scapy_inner(src(k), dst(k), k)
            return raw(scapy_vxlan(f, k) if vx else f)

        p = Patcher(reference(0), vx)
        frames = [p.frame(src(k), dst(k), k) for k in range(flows)]
        sample = {0, flows - 1} | {rng.randrange(flows) for _ in range(30)}
        for k in sorted(sample):
            if frames[k] != reference(k):
                sys.exit("make_pcaps: %s flow %d differs from scapy's frame" % (name, k))
        if len(set(frames)) != flows:
            sys.exit("make_pcaps: %s: frames are not all distinct" % name)
        write_pcap(os.path.join(out, name + ".pcap"), frames)
    template = raw(scapy_arp(0))
    frames = [arp_frame(template, k) for k in range(flows)]
    for k in sorted({0, flows - 1} | {rng.randrange(flows) for _ in range(30)}):
        if frames[k] != raw(scapy_arp(k)):
            sys.exit("make_pcaps: arp flow %d differs from scapy's frame" % k)
    write_pcap(os.path.join(out, "arp.pcap"), frames)


if __name__ == "__main__":
    main()
