#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""
Generates the packet vectors of vmfabric's fast path (tests/vectors/README.md describes
the format) into OUTDIR, one `NNN-name.vec` file per case:

    /usr/bin/python3 tests/vectors/gen.py tests/vectors/cases

Every frame, and above all every expected frame, is built with scapy layers: never with
our own encoder. The one thing recomputed here by hand is the VXLAN source port, from the
flow hash specification written above fab_flow_hash() in dataplane/core/fab_rewrite.h
(a multilinear hash over big-endian 32-bit words, K0 + sum Ki * w(i-1) modulo 2^64, then
a multiply-xorshift finaliser).

The output is deterministic byte for byte: no timestamps, no randomness, no address
taken from this machine's interfaces (every MAC and IP address is given explicitly).
"""

import logging
import os
import socket
import struct
import sys

logging.getLogger("scapy.runtime").setLevel(logging.ERROR)
logging.getLogger("scapy.loading").setLevel(logging.ERROR)

from scapy.layers.dhcp import BOOTP, DHCP  # noqa: E402
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert  # noqa: E402
from scapy.layers.inet6 import (  # noqa: E402
    ICMPv6EchoRequest,
    ICMPv6ND_NA,
    ICMPv6ND_NS,
    ICMPv6ND_RS,
    ICMPv6NDOptDstLLAddr,
    ICMPv6NDOptMTU,
    ICMPv6NDOptSrcLLAddr,
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
)
from scapy.layers.l2 import ARP, Dot1Q, Ether  # noqa: E402
from scapy.layers.vxlan import VXLAN  # noqa: E402
from scapy.packet import Padding, Raw  # noqa: E402

# --------------------------------------------------------------------------------------
# The flow hash, from its specification in fab_rewrite.h
# --------------------------------------------------------------------------------------

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF
VXLAN_PORT = 4789
# The multilinear hash's constants, copied from fab_flow_hash_k (a specification's
# numbers, like a CRC's polynomial).
FLOW_HASH_K = [
    0xA72706904499B695, 0x9A2B2896FC76E2F7, 0xC574B814E8FDB921, 0x34D86A5EC2687271,
    0xF100296DA8467957, 0xFCCDC080D594E1EB, 0xC5F36C88FD1DB953, 0x82FBEFEB23611D43,
    0xF79B7BAF3406B13F, 0x6F27B1602655EE57, 0x42A9671BE9FF84E3,
]


FLOW_HASH_FINAL = 0xFF51AFD7ED558CCD


def flow_hash_words(words):
    """x = K0 + K1*w0 + ... + Kn*w(n-1) modulo 2^64; x ^= x >> 32; x *= FINAL modulo
    2^64; x ^= x >> 32; the low 32 bits."""
    assert 1 <= len(words) < len(FLOW_HASH_K)
    x = FLOW_HASH_K[0]
    for k, w in zip(FLOW_HASH_K[1:], words):
        assert 0 <= w <= M32
        x = (x + k * w) & M64
    x ^= x >> 32
    x = (x * FLOW_HASH_FINAL) & M64
    x ^= x >> 32
    return x & M32


def _ip4_word(addr):
    return struct.unpack("!I", socket.inet_pton(socket.AF_INET, addr))[0]


def _ip6_words(addr):
    return list(struct.unpack("!4I", socket.inet_pton(socket.AF_INET6, addr)))


def _mac_bytes(mac):
    return bytes.fromhex(mac.replace(":", ""))


IP6_EXT = (IPv6ExtHdrHopByHop, IPv6ExtHdrRouting, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment)


def flow_words(frame):
    """The words of the flow hash of an Ethernet frame, read through scapy's dissection:
       IPv4:  source, destination, sport << 16 | dport, protocol
       IPv6:  source (4 words), destination (4 words), sport << 16 | dport, next header
       other: dst MAC 0-3, dst MAC 4-5 << 16 | src MAC 0-1, src MAC 2-5, ethertype
    Ports are zero for fragments and for protocols without ports (only TCP, UDP and SCTP
    have them, and only when four bytes of their header are there)."""
    p = Ether(frame)
    etype = p.type
    layer = p.payload
    while isinstance(layer, Dot1Q):
        etype = layer.type
        layer = layer.payload
    if etype == 0x0800 and isinstance(layer, IP):
        ip = layer
        fragment = bool(ip.flags.MF) or ip.frag != 0
        ports = 0
        if not fragment and ip.proto in (6, 17, 132):
            l4 = bytes(ip)[ip.ihl * 4:ip.len]
            if len(l4) >= 4:
                ports = struct.unpack("!I", l4[:4])[0]
        return [_ip4_word(ip.src), _ip4_word(ip.dst), ports, ip.proto]
    if etype == 0x86DD and isinstance(layer, IPv6):
        ip6 = layer
        nh = ip6.nh
        fragment = False
        q = ip6.payload
        while isinstance(q, IP6_EXT):
            if isinstance(q, IPv6ExtHdrFragment):
                fragment = True
            nh = q.nh
            q = q.payload
        ports = 0
        if not fragment and nh in (6, 17, 132):
            l4 = bytes(q)
            if len(l4) >= 4:
                ports = struct.unpack("!I", l4[:4])[0]
        return _ip6_words(ip6.src) + _ip6_words(ip6.dst) + [ports, nh]
    dst = _mac_bytes(p.dst)
    src = _mac_bytes(p.src)
    return [
        struct.unpack("!I", dst[0:4])[0],
        struct.unpack("!H", dst[4:6])[0] << 16 | struct.unpack("!H", src[0:2])[0],
        struct.unpack("!I", src[2:6])[0],
        etype,
    ]


def vxlan_sport(frame):
    return 49152 | (flow_hash_words(flow_words(frame)) & 0x3FFF)


# --------------------------------------------------------------------------------------
# The topology
# --------------------------------------------------------------------------------------

HOST_VTEP = "192.0.2.1"
HOST_MAC = "02:00:00:00:01:01"
PEER2 = "192.0.2.2"
PEER2_MAC = "02:00:00:00:01:02"
PEER3 = "192.0.2.3"
PEER3_MAC = "02:00:00:00:01:03"
STRANGER = "192.0.2.9"  # on the underlay, not a host of the fabric
STRANGER_MAC = "02:00:00:00:01:09"
ROUTER_MAC = "02:00:00:00:01:fe"
ROUTER_IP = "192.0.2.254"
PEER_MACS = {PEER2: PEER2_MAC, PEER3: PEER3_MAC}

BCAST = "ff:ff:ff:ff:ff:ff"

# Endpoints of the base topology. VNI 100: A on vm1, B on vm2 (both local), C remote on
# 192.0.2.2, D remote on 192.0.2.3, E migrated from here to 192.0.2.3 (forwarding).
# VNI 200: G remote on 192.0.2.2 (and F, when vm2 is moved into VNI 200).
MAC_A, IP4_A, IP6_A = "52:54:00:00:00:01", "10.0.0.1", "fd00::1"
MAC_B, IP4_B, IP6_B = "52:54:00:00:00:02", "10.0.0.2", "fd00::2"
MAC_C, IP4_C, IP6_C = "52:54:00:00:00:03", "10.0.0.3", "fd00::3"
MAC_D, IP4_D, IP6_D = "52:54:00:00:00:04", "10.0.0.4", "fd00::4"
MAC_E, IP4_E, IP6_E = "52:54:00:00:00:05", "10.0.0.5", "fd00::5"
MAC_F, IP4_F, IP6_F = "52:54:00:00:02:01", "10.2.0.1", "fd02::1"
MAC_G, IP4_G, IP6_G = "52:54:00:00:02:02", "10.2.0.2", "fd02::2"
MAC_X = "52:54:00:00:00:99"  # known nowhere
LL_A = "fe80::5054:ff:fe00:1"


class Ep:
    def __init__(self, vni, mac, state, where, gen, ips=()):
        self.vni, self.mac, self.state, self.where, self.gen, self.ips = (
            vni, mac, state, where, gen, tuple(ips))

    def line(self):
        loc = "port" if self.state in ("local", "incoming") else "vtep"
        s = "endpoint vni %d mac %s state %s %s %s gen %d" % (
            self.vni, self.mac, self.state, loc, self.where, self.gen)
        for ip in self.ips:
            s += " ip " + ip
        return s


def base_endpoints():
    return {
        "A": Ep(100, MAC_A, "local", "vm1", 1, (IP4_A, IP6_A)),
        "B": Ep(100, MAC_B, "local", "vm2", 2, (IP4_B, IP6_B)),
        "C": Ep(100, MAC_C, "remote", PEER2, 3, (IP4_C, IP6_C)),
        "D": Ep(100, MAC_D, "remote", PEER3, 2, (IP4_D, IP6_D)),
        "E": Ep(100, MAC_E, "forwarding", PEER3, 6, (IP4_E, IP6_E)),
        "G": Ep(200, MAC_G, "remote", PEER2, 4, (IP4_G, IP6_G)),
    }


class Topo:
    def __init__(self, peers=None, ports=None, eps=None, mods=None):
        self.peers = [PEER2, PEER3] if peers is None else peers
        self.ports = [("vm1", 1, 100), ("vm2", 2, 100)] if ports is None else ports
        e = base_endpoints() if eps is None else eps
        for key, val in (mods or {}).items():
            if val is None:
                e.pop(key, None)
            else:
                e[key] = val
        self.eps = e

    def lines(self):
        out = ["host vtep %s mac %s" % (HOST_VTEP, HOST_MAC)]
        out += ["peer %s mac %s" % (p, PEER_MACS[p]) for p in self.peers]
        out += ["port %s index %d vni %d" % p for p in self.ports]
        out += [self.eps[k].line() for k in sorted(self.eps)]
        return out


def base():
    return Topo()


def incoming_b():
    """vm2 is a migration target: B arrives here but its VM does not run yet."""
    return Topo(mods={"B": Ep(100, MAC_B, "incoming", "vm2", 7, (IP4_B, IP6_B))})


def vm2_in_vni200():
    """vm2 belongs to VNI 200, with F bound to it."""
    return Topo(ports=[("vm1", 1, 100), ("vm2", 2, 200)],
                mods={"B": None, "F": Ep(200, MAC_F, "local", "vm2", 1, (IP4_F, IP6_F))})


# --------------------------------------------------------------------------------------
# Frame builders (scapy layers only)
# --------------------------------------------------------------------------------------


def l2(dst, src, tags=(), ethertype=None):
    """Ether, then VLAN tags given as (tpid, vid, prio), outermost first. `ethertype`
    forces the type after the tags (otherwise scapy derives it from the payload)."""
    if not tags:
        return Ether(dst=dst, src=src) if ethertype is None else Ether(dst=dst, src=src,
                                                                       type=ethertype)
    p = Ether(dst=dst, src=src, type=tags[0][0])
    for i, (_, vid, prio) in enumerate(tags):
        if i + 1 < len(tags):
            p = p / Dot1Q(prio=prio, vlan=vid, type=tags[i + 1][0])
        elif ethertype is not None:
            p = p / Dot1Q(prio=prio, vlan=vid, type=ethertype)
        else:
            p = p / Dot1Q(prio=prio, vlan=vid)
    return p


def pad_to(pkt, size=60, fill=b"\x00"):
    """Pads the frame as an Ethernet driver does, to `size` bytes."""
    n = size - len(bytes(pkt))
    return pkt / Padding(load=fill * n) if n > 0 else pkt


def data(text, n=None):
    b = text.encode()
    if n is not None:
        b = (b * (n // len(b) + 1))[:n]
    return Raw(load=b)


def tcp4(src_mac, dst_mac, src, dst, sport=40000, dport=80, tags=(), text="tcp payload",
         **ipkw):
    return (l2(dst_mac, src_mac, tags) / IP(src=src, dst=dst, id=0x1111, flags="DF", **ipkw)
            / TCP(sport=sport, dport=dport, seq=1000, ack=2000, flags="PA", window=502)
            / data(text))


def udp4(src_mac, dst_mac, src, dst, sport=40001, dport=5001, tags=(), text="udp payload",
         **ipkw):
    return (l2(dst_mac, src_mac, tags) / IP(src=src, dst=dst, id=0x2222, **ipkw)
            / UDP(sport=sport, dport=dport) / data(text))


def tcp6(src_mac, dst_mac, src, dst, sport=40002, dport=443, tags=(), text="tcp6 payload"):
    return (l2(dst_mac, src_mac, tags) / IPv6(src=src, dst=dst, hlim=64)
            / TCP(sport=sport, dport=dport, seq=7, ack=9, flags="PA", window=1000)
            / data(text))


def udp6(src_mac, dst_mac, src, dst, sport=40003, dport=53, tags=(), ext=(),
         text="udp6 payload"):
    p = l2(dst_mac, src_mac, tags) / IPv6(src=src, dst=dst, hlim=64)
    for e in ext:
        p = p / e
    return p / UDP(sport=sport, dport=dport) / data(text)


def arp_request(asker_mac, asker_ip, target_ip, dst=BCAST, tags=()):
    return pad_to(l2(dst, asker_mac, tags) / ARP(op=1, hwsrc=asker_mac, psrc=asker_ip,
                                                 hwdst="00:00:00:00:00:00", pdst=target_ip))


def arp_reply_for(req_tags, asker_mac, asker_ip, answer_mac, asked_ip, pad_len):
    """The reply the core writes in place of a request: scapy's ARP is-at, the request's
    VLAN tags, padded with zeros to the request's length."""
    rep = l2(asker_mac, answer_mac, req_tags) / ARP(op=2, hwsrc=answer_mac, psrc=asked_ip,
                                                    hwdst=asker_mac, pdst=asker_ip)
    return pad_to(rep, pad_len)


def solicited_node(addr):
    b = socket.inet_pton(socket.AF_INET6, addr)
    sn = b"\xff\x02" + b"\x00" * 9 + b"\x01\xff" + b[13:]
    mac = "33:33:" + ":".join("%02x" % x for x in sn[12:])
    return socket.inet_ntop(socket.AF_INET6, sn), mac


def ns(src_mac, src_ip, target, sll=True, tags=(), hlim=255, unicast_to=None, opts=None):
    dst_ip, dst_mac = solicited_node(target)
    if unicast_to is not None:
        dst_mac, dst_ip = unicast_to
    p = l2(dst_mac, src_mac, tags) / IPv6(src=src_ip, dst=dst_ip, hlim=hlim) / ICMPv6ND_NS(
        tgt=target)
    if opts is not None:
        p = p / opts
    elif sll:
        p = p / ICMPv6NDOptSrcLLAddr(lladdr=src_mac)
    return p


def na_reply_for(req_tags, asker_mac, asker_ip, answer_mac, target):
    """fab_nd_reply_write(): the solicited, overriding advertisement with a target
    link-layer address option, the request's VLAN tags kept."""
    return (l2(asker_mac, answer_mac, req_tags)
            / IPv6(tc=0, fl=0, plen=32, nh=58, hlim=255, src=target, dst=asker_ip)
            / ICMPv6ND_NA(R=0, S=1, O=1, tgt=target)
            / ICMPv6NDOptDstLLAddr(lladdr=answer_mac))


def rarp(mac, tags=()):
    """QEMU's self-announcement after a migration: RARP request reverse (op 3)."""
    return pad_to(l2(BCAST, mac, tags, ethertype=0x8035) / ARP(
        op=3, hwsrc=mac, psrc="0.0.0.0", hwdst=mac, pdst="0.0.0.0"))


def garp(mac, ip, op=1):
    return pad_to(l2(BCAST, mac) / ARP(op=op, hwsrc=mac, psrc=ip,
                                       hwdst="00:00:00:00:00:00" if op == 1 else BCAST,
                                       pdst=ip))


def unsolicited_na(mac, ip):
    return (l2("33:33:00:00:00:01", mac) / IPv6(src=ip, dst="ff02::1", hlim=255)
            / ICMPv6ND_NA(R=0, S=0, O=1, tgt=ip) / ICMPv6NDOptDstLLAddr(lladdr=mac))


def vxlan_in(inner, src=PEER2, vni=100, marked=False, vxflags=0x08, gbp_id=None,
             sport=50123, src_mac=None, dst=HOST_VTEP, tags=(), udp_chksum=0, trailer=b"",
             **ipkw):
    """A VXLAN frame as a peer sends it to us (or, varied, as it should not). `ipkw` are
    fields of the outer IPv4 header; `trailer` is Ethernet trailer after the IP packet."""
    if src_mac is None:
        src_mac = PEER_MACS.get(src, STRANGER_MAC)
    ipkw.setdefault("flags", "DF")
    ipkw.setdefault("id", 0)
    ipkw.setdefault("ttl", 64)
    udp = UDP(sport=sport, dport=VXLAN_PORT) if udp_chksum is None else UDP(
        sport=sport, dport=VXLAN_PORT, chksum=udp_chksum)
    if gbp_id is not None:
        # VXLAN Group Policy: G flag, policy flags byte (where the marker bit would be)
        # and a 16-bit group policy ID.
        vx = VXLAN(flags=vxflags | 0x80, gpflags=0x01 if marked else 0, gpid=gbp_id, vni=vni)
        want = bytes([vxflags | 0x80, 0x01 if marked else 0]) + gbp_id.to_bytes(2, "big")
    else:
        # Bits 0x04 (GPE next protocol) and 0x80 (GBP) change scapy's field layout.
        assert not vxflags & 0x84
        vx = VXLAN(flags=vxflags, reserved1=0x010000 if marked else 0, vni=vni)
        want = bytes([vxflags, 0x01 if marked else 0, 0, 0])
    want += vni.to_bytes(3, "big") + b"\x00"
    assert bytes(vx) == want, (bytes(vx).hex(), want.hex())
    p = l2(HOST_MAC, src_mac, tags) / IP(src=src, dst=dst, **ipkw) / udp / vx / Raw(
        load=bytes(inner))
    if trailer:
        p = p / Padding(load=trailer)
    return p


def encap_out(inner, vtep, vni=100, marked=False):
    """The frame the core sends for `inner`, per fab_vxlan_write(): outer Ethernet to the
    peer's MAC, IPv4 without options (DSCP 0, id 0, DF, TTL 64), UDP from the flow hash's
    port to 4789 with a zero checksum, VXLAN with the I flag, the marker if forwarding."""
    inner = bytes(inner)
    return (Ether(dst=PEER_MACS[vtep], src=HOST_MAC)
            / IP(version=4, ihl=5, tos=0, id=0, flags="DF", frag=0, ttl=64, proto=17,
                 src=HOST_VTEP, dst=vtep)
            / UDP(sport=vxlan_sport(inner), dport=VXLAN_PORT, chksum=0)
            / VXLAN(flags=0x08, reserved1=0x010000 if marked else 0, vni=vni, reserved2=0)
            / Raw(load=inner))


def check_vxlan_header(frame, marked, vni):
    """The VXLAN header bytes, checked byte for byte (scapy's field layout is easy to get
    wrong): 08 00 00 00 VNI 00, or 08 01 00 00 VNI 00 when marked."""
    vh = bytes(frame)[42:50]
    want = bytes([0x08, 0x01 if marked else 0x00, 0, 0]) + vni.to_bytes(3, "big") + b"\x00"
    assert vh == want, (vh.hex(), want.hex())


# --------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------

CASES = []


def case(name, comment, topo, in_port, frame, expect):
    CASES.append((name, comment, topo, in_port, bytes(frame), expect))


def out(port, frame):
    return ("out", port, bytes(frame))


def hold(port, frame):
    return ("hold", port, bytes(frame))


def activate(port):
    return ("activate", port)


def drop(reason):
    return ("drop", reason)


def tohost():
    return ("tohost",)


def encapsulated(inner, vtep, vni=100, marked=False):
    f = encap_out(inner, vtep, vni, marked)
    check_vxlan_header(f, marked, vni)
    return out("uplink", f)


def vm_cases():
    # ---- unicast from a VM port, by the destination's state ----
    f = tcp4(MAC_A, MAC_B, IP4_A, IP4_B)
    case("vm-deliver-local", "VM to a LOCAL endpoint on another port: delivered unchanged",
         base(), "vm1", f, out("vm2", f))

    f = tcp4(MAC_A, MAC_C, IP4_A, IP4_C)
    case("vm-encap-remote-ipv4-tcp",
         "VM to a REMOTE endpoint, IPv4/TCP: VXLAN to its host, unmarked, port from the hash",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = udp4(MAC_A, MAC_D, IP4_A, IP4_D, sport=33333, dport=4242)
    case("vm-encap-remote-ipv4-udp",
         "VM to a REMOTE endpoint on the other peer, IPv4/UDP: VXLAN to 192.0.2.3",
         base(), "vm1", f, encapsulated(f, PEER3))

    f = tcp6(MAC_A, MAC_C, IP6_A, IP6_C)
    case("vm-encap-remote-ipv6-tcp",
         "VM to a REMOTE endpoint, IPv6/TCP: the hash covers both addresses and the ports",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = udp6(MAC_A, MAC_C, IP6_A, IP6_C,
             ext=[IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt()])
    case("vm-encap-ipv6-udp-hopbyhop-dstopts",
         "IPv6 UDP behind Hop-by-Hop and Destination Options headers: skipped, ports hashed",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = (l2(MAC_C, MAC_A) / IPv6(src=IP6_A, dst=IP6_C, hlim=64) / IPv6ExtHdrDestOpt()
         / TCP(sport=40100, dport=22, seq=1, ack=1, flags="A", window=100) / data("ssh", 16))
    case("vm-encap-ipv6-tcp-dstopts",
         "IPv6 TCP behind a Destination Options header: next header 6 and ports hashed",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = udp6(MAC_A, MAC_D, IP6_A, IP6_D, sport=40200, dport=9999,
             ext=[IPv6ExtHdrFragment(nh=17, offset=0, m=1, id=0xABCD)],
             text="first fragment of a longer datagram")
    case("vm-encap-ipv6-fragment",
         "IPv6 first fragment (Fragment header): hashed without ports, next header 17",
         base(), "vm1", f, encapsulated(f, PEER3))

    f = udp6(MAC_A, MAC_C, IP6_A, IP6_C,
             ext=[IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(), IPv6ExtHdrRouting(),
                  IPv6ExtHdrDestOpt()])
    case("vm-encap-ipv6-four-ext-headers",
         "IPv6 with exactly four extension headers (the parser's limit): forwarded",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = udp6(MAC_A, MAC_C, IP6_A, IP6_C,
             ext=[IPv6ExtHdrHopByHop(), IPv6ExtHdrDestOpt(), IPv6ExtHdrRouting(),
                  IPv6ExtHdrDestOpt(), IPv6ExtHdrDestOpt()])
    case("vm-drop-ipv6-five-ext-headers",
         "IPv6 with a chain of five extension headers: ipv6_ext_chain_too_long",
         base(), "vm1", f, drop("ipv6_ext_chain_too_long"))

    f = tcp4(MAC_A, MAC_C, IP4_A, IP4_C, dport=8080,
             options=[IPOption_Router_Alert(), IPOption_Router_Alert()])
    case("vm-encap-ipv4-options",
         "IPv4 with options (IHL 7) and TCP: ports found past the options and hashed",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = (l2(MAC_C, MAC_A) / IP(src=IP4_A, dst=IP4_C, id=0x3333, flags="MF", frag=0)
         / UDP(sport=40300, dport=5353, len=1208) / data("x", 32))
    case("vm-encap-ipv4-first-fragment",
         "IPv4 first fragment (MF): hashed without ports, UDP length not checked",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = (l2(MAC_C, MAC_A) / IP(src=IP4_A, dst=IP4_C, id=0x3333, frag=150, proto=17)
         / data("rest of the datagram", 40))
    case("vm-encap-ipv4-later-fragment",
         "IPv4 non-first fragment (offset 150): no UDP header to read, hashed without ports",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = (l2(MAC_C, MAC_A) / IP(src=IP4_A, dst=IP4_C, id=0x4444)
         / ICMP(type=8, code=0, id=0x77, seq=1) / data("ping", 32))
    case("vm-encap-ipv4-icmp",
         "IPv4 ICMP echo to a REMOTE endpoint: protocol without ports, hashed with zero ports",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = pad_to(l2(MAC_C, MAC_A) / IP(src=IP4_A, dst=IP4_C, id=0x5555, proto=6)
               / Raw(load=b"\x9c\x40"))
    case("vm-encap-tcp-stub",
         "IPv4 TCP with only two bytes of header: hashed without ports, left to the VM",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = (l2(MAC_C, MAC_A) / IPv6(src=IP6_A, dst=IP6_C, hlim=64)
         / ICMPv6EchoRequest(id=5, seq=6, data=b"ping6 payload"))
    case("vm-encap-ipv6-icmp-echo",
         "IPv6 ICMPv6 echo (not ND) to a REMOTE endpoint: hashed with next header 58",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = pad_to(l2(MAC_C, MAC_A) / ARP(op=2, hwsrc=MAC_A, psrc=IP4_A, hwdst=MAC_C,
                                      pdst=IP4_C))
    case("vm-encap-arp-reply-unicast",
         "unicast ARP reply (not gratuitous) to a REMOTE endpoint: hashed on MACs + ethertype",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = l2(MAC_D, MAC_A, ethertype=0x88B5) / data("local experimental ethertype", 46)
    case("vm-encap-non-ip",
         "non-IP ethertype 0x88b5 to a REMOTE endpoint: hashed on MACs and ethertype",
         base(), "vm1", f, encapsulated(f, PEER3))

    f = (l2(MAC_C, MAC_A) / IPv6(src=IP6_A, dst=IP6_C, hlim=255)
         / ICMPv6ND_NA(R=0, S=1, O=1, tgt=IP6_A) / ICMPv6NDOptDstLLAddr(lladdr=MAC_A))
    case("vm-encap-solicited-na",
         "a solicited NA (answer to a real NS) unicast to a REMOTE endpoint: encapsulated",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = udp4(MAC_A, MAC_C, IP4_A, IP4_C, tags=((0x8100, 10, 3),), text="tagged once")
    case("vm-encap-vlan-tagged",
         "802.1Q tagged frame from a VM: tag kept inside the VXLAN payload, IPv4 ports hashed",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = tcp6(MAC_A, MAC_D, IP6_A, IP6_D, tags=((0x88A8, 100, 0), (0x8100, 20, 5)))
    case("vm-encap-qinq",
         "QinQ (0x88a8 + 0x8100) tagged IPv6/TCP from a VM: both tags kept, IPv6 hashed",
         base(), "vm1", f, encapsulated(f, PEER3))

    f = tcp4(MAC_A, MAC_B, IP4_A, IP4_B, tags=((0x8100, 10, 0),))
    case("vm-deliver-local-vlan-tagged",
         "802.1Q tagged frame to a LOCAL endpoint: delivered unchanged, tag kept",
         base(), "vm1", f, out("vm2", f))

    f = udp4(MAC_A, MAC_C, IP4_A, IP4_C,
             tags=((0x88A8, 100, 0), (0x8100, 20, 0), (0x8100, 30, 0)))
    case("vm-drop-three-vlan-tags", "three stacked VLAN tags: vlan_too_many_tags",
         base(), "vm1", f, drop("vlan_too_many_tags"))

    f = udp4(MAC_A, MAC_G, IP4_A, IP4_G)
    t = Topo(ports=[("vm1", 1, 200), ("vm2", 2, 100)],
             mods={"A": Ep(200, MAC_A, "local", "vm1", 1, (IP4_A, IP6_A))})
    case("vm-encap-vni-200",
         "a VM port of VNI 200 to a REMOTE endpoint of VNI 200: VXLAN with VNI 200",
         t, "vm1", f, encapsulated(f, PEER2, vni=200))

    # ---- the migration states ----
    f = tcp4(MAC_A, MAC_B, IP4_A, IP4_B, text="to the incoming VM")
    case("vm-hold-incoming",
         "VM to an INCOMING endpoint (migration target, VM not running): held as sent",
         incoming_b(), "vm1", f, hold("vm2", f))

    f = tcp4(MAC_A, MAC_E, IP4_A, IP4_E, dport=443)
    case("vm-forwarding-marked",
         "VM to a FORWARDING endpoint (migrated away): VXLAN to the target, marked",
         base(), "vm1", f, encapsulated(f, PEER3, marked=True))

    f = udp6(MAC_A, MAC_E, IP6_A, IP6_E, sport=41000, dport=123)
    case("vm-forwarding-marked-ipv6",
         "VM to a FORWARDING endpoint over IPv6/UDP: VXLAN to the target, marked",
         base(), "vm1", f, encapsulated(f, PEER3, marked=True))

    t = Topo(peers=[PEER2], mods={"D": None, "E": None})
    t.eps["C"] = Ep(100, MAC_C, "remote", PEER3, 3, (IP4_C, IP6_C))
    f = tcp4(MAC_A, MAC_C, IP4_A, IP4_C)
    case("vm-no-route-to-vtep",
         "REMOTE endpoint whose host has no underlay neighbour (not a peer): no_route_to_vtep",
         t, "vm1", f, drop("no_route_to_vtep"))

    f = rarp(MAC_B)
    case("vm-activate-rarp",
         "RARP (ethertype 0x8035, op 3) from the INCOMING VM, as QEMU announces: activate",
         incoming_b(), "vm2", f, activate("vm2"))

    f = garp(MAC_B, IP4_B)
    case("vm-activate-garp",
         "gratuitous ARP request (sender IP = target IP) from the INCOMING VM: activate",
         incoming_b(), "vm2", f, activate("vm2"))

    f = garp(MAC_B, IP4_B, op=2)
    case("vm-activate-garp-reply",
         "gratuitous ARP reply (op 2, sender IP = target IP) from the INCOMING VM: activate",
         incoming_b(), "vm2", f, activate("vm2"))

    f = unsolicited_na(MAC_B, IP6_B)
    case("vm-activate-unsolicited-na",
         "unsolicited neighbour advertisement (S clear) from the INCOMING VM: activate",
         incoming_b(), "vm2", f, activate("vm2"))

    f = rarp(MAC_A)
    case("vm-announcement-absorbed-rarp",
         "RARP announcement on a LOCAL port: announcement_absorbed, not flooded",
         base(), "vm1", f, drop("announcement_absorbed"))

    f = garp(MAC_A, IP4_A)
    case("vm-announcement-absorbed-garp",
         "gratuitous ARP on a LOCAL port: announcement_absorbed",
         base(), "vm1", f, drop("announcement_absorbed"))

    f = unsolicited_na(MAC_A, IP6_A)
    case("vm-announcement-absorbed-na",
         "unsolicited NA on a LOCAL port: announcement_absorbed",
         base(), "vm1", f, drop("announcement_absorbed"))

    f = rarp(MAC_X)
    case("vm-spoofed-announcement",
         "RARP from a foreign MAC on the INCOMING port: source_mac_spoofed, no activation",
         incoming_b(), "vm2", f, drop("source_mac_spoofed"))

    f = tcp4(MAC_B, MAC_A, IP4_B, IP4_A, text="before its announcement")
    case("vm-incoming-vm-sends-unicast",
         "the INCOMING VM sends unicast before announcing: forwarded, no activation",
         incoming_b(), "vm2", f, out("vm1", f))

    # ---- ARP and ND proxy ----
    req = arp_request(MAC_A, IP4_A, IP4_C)
    case("vm-arp-proxy-remote",
         "ARP request for a REMOTE endpoint's address: answered in place with its MAC",
         base(), "vm1", req, out("vm1", arp_reply_for((), MAC_A, IP4_A, MAC_C, IP4_C, 60)))

    req = arp_request(MAC_A, IP4_A, IP4_B)
    case("vm-arp-proxy-local",
         "ARP request for a LOCAL endpoint on another port: answered with its MAC",
         base(), "vm1", req, out("vm1", arp_reply_for((), MAC_A, IP4_A, MAC_B, IP4_B, 60)))

    tags = ((0x8100, 10, 2),)
    req = arp_request(MAC_A, IP4_A, IP4_D, tags=tags)
    case("vm-arp-proxy-vlan-tagged",
         "802.1Q tagged ARP request: answered with the tag kept, same length and padding",
         base(), "vm1", req, out("vm1", arp_reply_for(tags, MAC_A, IP4_A, MAC_D, IP4_D, 60)))

    req = arp_request(MAC_A, IP4_A, IP4_C, dst=MAC_C)
    case("vm-arp-proxy-unicast-request",
         "unicast ARP request (reachability probe) for a REMOTE endpoint: answered by proxy",
         base(), "vm1", req, out("vm1", arp_reply_for((), MAC_A, IP4_A, MAC_C, IP4_C, 60)))

    req = pad_to(l2(BCAST, MAC_A) / ARP(op=1, hwsrc=MAC_A, psrc=IP4_A, hwdst=BCAST,
                                        pdst=IP4_E), 64, b"\xa5")
    rep = (l2(MAC_A, MAC_E) / ARP(op=2, hwsrc=MAC_E, psrc=IP4_E, hwdst=MAC_A, pdst=IP4_A)
           / Padding(load=b"\xa5" * 22))
    case("vm-arp-proxy-nonzero-padding",
         "ARP request with 22 bytes of non-zero padding: reply keeps length and padding",
         base(), "vm1", req, out("vm1", rep))

    req = arp_request(MAC_A, IP4_A, "10.0.0.99")
    case("vm-arp-unknown-target", "ARP request for an address no endpoint has: arp_unknown_target",
         base(), "vm1", req, drop("arp_unknown_target"))

    req = arp_request(MAC_A, IP4_A, IP4_G)
    case("vm-arp-target-in-other-vni",
         "ARP request for an address known only in VNI 200, from a VNI 100 port: unknown",
         base(), "vm1", req, drop("arp_unknown_target"))

    req = pad_to(l2(BCAST, MAC_A) / ARP(op=1, hwsrc=MAC_A, psrc="0.0.0.0",
                                        hwdst="00:00:00:00:00:00", pdst=IP4_A))
    case("vm-arp-probe-self-resolution",
         "ARP probe (sender 0.0.0.0) for the VM's own address: self_resolution",
         base(), "vm1", req, drop("self_resolution"))

    t = base()
    t.eps["A"] = Ep(100, MAC_A, "local", "vm1", 1, (IP4_A, "10.0.0.11", IP6_A))
    req = arp_request(MAC_A, IP4_A, "10.0.0.11")
    case("vm-arp-self-resolution",
         "ARP request from 10.0.0.1 for the VM's own second address: self_resolution",
         t, "vm1", req, drop("self_resolution"))

    req = ns(MAC_A, IP6_A, IP6_C, sll=True)
    case("vm-nd-proxy-with-sllao",
         "NS (with source link-layer option) for a REMOTE endpoint: answered with an NA",
         base(), "vm1", req, out("vm1", na_reply_for((), MAC_A, IP6_A, MAC_C, IP6_C)))

    req = ns(MAC_A, LL_A, IP6_B, sll=False)
    case("vm-nd-proxy-without-sllao",
         "NS without options for a LOCAL endpoint: the NA grows by its 8-byte option",
         base(), "vm1", req, out("vm1", na_reply_for((), MAC_A, LL_A, MAC_B, IP6_B)))

    tags = ((0x88A8, 100, 0), (0x8100, 20, 1))
    req = ns(MAC_A, IP6_A, IP6_D, tags=tags)
    case("vm-nd-proxy-qinq",
         "QinQ tagged NS: the NA keeps both tags",
         base(), "vm1", req, out("vm1", na_reply_for(tags, MAC_A, IP6_A, MAC_D, IP6_D)))

    req = ns(MAC_A, IP6_A, IP6_C, unicast_to=(MAC_C, IP6_C))
    case("vm-nd-proxy-unicast-ns",
         "unicast NS (reachability confirmation) for a REMOTE endpoint: answered by proxy",
         base(), "vm1", req, out("vm1", na_reply_for((), MAC_A, IP6_A, MAC_C, IP6_C)))

    req = ns(MAC_A, IP6_A, IP6_D, opts=ICMPv6NDOptSrcLLAddr(lladdr=MAC_A) / ICMPv6NDOptMTU(
        mtu=1450))
    case("vm-nd-proxy-two-options",
         "NS with two options (source link-layer, MTU): the NA is written 8 bytes shorter",
         base(), "vm1", req, out("vm1", na_reply_for((), MAC_A, IP6_A, MAC_D, IP6_D)))

    req = ns(MAC_A, IP6_A, "fd00::99")
    case("vm-nd-unknown-target", "NS for an address no endpoint has: nd_unknown_target",
         base(), "vm1", req, drop("nd_unknown_target"))

    t = base()
    t.eps["A"] = Ep(100, MAC_A, "local", "vm1", 1, (IP4_A, IP6_A, "fd00::11"))
    req = ns(MAC_A, IP6_A, "fd00::11")
    case("vm-nd-self-resolution", "NS for the VM's own (second) address: self_resolution",
         t, "vm1", req, drop("self_resolution"))

    req = ns(MAC_A, "::", IP6_A, sll=False)
    case("vm-nd-dad",
         "duplicate address detection (NS from the unspecified address): self_resolution",
         base(), "vm1", req, drop("self_resolution"))

    req = ns(MAC_A, "::", "fd00::77", sll=False)
    case("vm-nd-dad-unknown-address",
         "DAD NS for an address nobody has: still self_resolution, never a lookup",
         base(), "vm1", req, drop("self_resolution"))

    # ---- broadcast, unknown, hairpin, binding ----
    f = (l2(BCAST, MAC_A) / IP(src="0.0.0.0", dst="255.255.255.255", id=0, ttl=64)
         / UDP(sport=68, dport=67)
         / BOOTP(op=1, xid=0x12345678, chaddr=_mac_bytes(MAC_A) + b"\x00" * 10)
         / DHCP(options=[("message-type", "discover"), "end"]))
    case("vm-broadcast-dhcp-discover",
         "DHCP discover to the broadcast MAC: broadcast_not_forwarded",
         base(), "vm1", f, drop("broadcast_not_forwarded"))

    f = (l2("33:33:00:00:00:02", MAC_A) / IPv6(src=LL_A, dst="ff02::2", hlim=255)
         / ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr=MAC_A))
    case("vm-multicast-router-solicitation",
         "IPv6 router solicitation to a multicast MAC: broadcast_not_forwarded",
         base(), "vm1", f, drop("broadcast_not_forwarded"))

    f = pad_to(l2(BCAST, MAC_A) / ARP(op=2, hwsrc=MAC_A, psrc=IP4_A, hwdst=MAC_C,
                                      pdst=IP4_C))
    case("vm-broadcast-arp-reply",
         "ARP reply sent to broadcast (neither request nor announcement): broadcast_not_forwarded",
         base(), "vm1", f, drop("broadcast_not_forwarded"))

    f = tcp4(MAC_A, MAC_X, IP4_A, "10.0.0.99")
    case("vm-unknown-destination",
         "unicast to a MAC no endpoint has: unknown_destination, no flooding",
         base(), "vm1", f, drop("unknown_destination"))

    f = tcp4(MAC_A, MAC_F, IP4_A, IP4_F)
    case("vm-unknown-destination-other-vni",
         "unicast to a MAC that is LOCAL but in VNI 200, from VNI 100: unknown_destination",
         vm2_in_vni200(), "vm1", f, drop("unknown_destination"))

    f = tcp4(MAC_A, MAC_A, IP4_A, IP4_A)
    case("vm-hairpin", "unicast to the MAC bound to the same port: hairpin",
         base(), "vm1", f, drop("hairpin"))

    f = tcp4(MAC_X, MAC_B, "10.0.0.99", IP4_B)
    case("vm-source-mac-spoofed",
         "frame from a MAC that is not the endpoint bound to the port: source_mac_spoofed",
         base(), "vm1", f, drop("source_mac_spoofed"))

    f = tcp4(MAC_B, MAC_C, IP4_B, IP4_C)
    case("vm-source-mac-of-other-endpoint",
         "frame on vm1 from the MAC of the endpoint bound to vm2: source_mac_spoofed",
         base(), "vm1", f, drop("source_mac_spoofed"))

    t = Topo(ports=[("vm1", 1, 100), ("vm2", 2, 100), ("vm3", 3, 100)])
    f = tcp4(MAC_X, MAC_A, "10.0.0.99", IP4_A)
    case("vm-port-not-bound", "frame on a port with no endpoint bound: port_not_bound",
         t, "vm3", f, drop("port_not_bound"))

    t = Topo(mods={"B": Ep(100, MAC_B, "forwarding", PEER3, 8, (IP4_B, IP6_B))})
    f = garp(MAC_B, IP4_B)
    case("vm-port-not-bound-after-migration",
         "announcement on vm2 after its VM migrated away (B FORWARDING): port_not_bound",
         t, "vm2", f, drop("port_not_bound"))

    t = Topo(ports=[("vm1", 1, 100), ("vm2", 2, 100), ("vm3", 3, 100)])
    f = bytes(l2(MAC_A, MAC_X, ((0x8100, 5, 0),)) / IP(src="10.0.0.99", dst=IP4_A))[:16]
    case("vm-parse-error-before-binding",
         "truncated VLAN tag on an unbound port: the parse error (vlan_truncated) comes first",
         t, "vm3", f, drop("vlan_truncated"))

    f = bytes(l2(MAC_C, MAC_X, ((0x8100, 5, 0),)) / IPv6(src=IP6_A, dst=IP6_C, hlim=64)
              / UDP())[:14 + 4 + 39]
    case("vm-parse-error-before-spoofing",
         "truncated IPv6 header from a spoofed MAC: ipv6_truncated comes first",
         base(), "vm1", f, drop("ipv6_truncated"))


def vm_malformed_cases():
    """Frames malformed at every layer, from a VM port."""
    full = tcp4(MAC_A, MAC_C, IP4_A, IP4_C)

    case("vm-eth-truncated", "13-byte frame: eth_truncated",
         base(), "vm1", bytes(full)[:13], drop("eth_truncated"))

    f = bytes(l2(MAC_C, MAC_A, ((0x8100, 10, 0),)) / IP(src=IP4_A, dst=IP4_C))[:17]
    case("vm-vlan-truncated", "frame ending inside an 802.1Q tag: vlan_truncated",
         base(), "vm1", f, drop("vlan_truncated"))

    f = bytes(l2(MAC_C, MAC_A, ((0x88A8, 10, 0), (0x8100, 20, 0))) / IP(src=IP4_A,
                                                                        dst=IP4_C))[:20]
    case("vm-vlan-truncated-second-tag",
         "frame ending inside the second (inner) tag: vlan_truncated",
         base(), "vm1", f, drop("vlan_truncated"))

    f = bytes(arp_request(MAC_A, IP4_A, IP4_C))[:14 + 27]
    case("vm-arp-truncated", "ARP header cut after 27 of 28 bytes: arp_truncated",
         base(), "vm1", f, drop("arp_truncated"))

    f = pad_to(l2(BCAST, MAC_A) / ARP(hwtype=6, op=1, hwsrc=_mac_bytes(MAC_A),
                                      hwdst=bytes(6), psrc=IP4_A, pdst=IP4_C))
    case("vm-arp-malformed-htype",
         "ARP with hardware type 6 (IEEE 802), not Ethernet: arp_malformed",
         base(), "vm1", f, drop("arp_malformed"))

    f = pad_to(l2(BCAST, MAC_A) / ARP(op=1, hwlen=8, hwsrc=_mac_bytes(MAC_A) + b"\0\0",
                                      hwdst=bytes(8), psrc=IP4_A, pdst=IP4_C))
    case("vm-arp-malformed-hlen", "ARP with a hardware address length of 8: arp_malformed",
         base(), "vm1", f, drop("arp_malformed"))

    f = bytes(full)[:14 + 19]
    case("vm-ipv4-truncated-header", "frame ending inside the 20-byte IPv4 header: ipv4_truncated",
         base(), "vm1", f, drop("ipv4_truncated"))

    f = bytes(tcp4(MAC_A, MAC_C, IP4_A, IP4_C,
                   options=[IPOption_Router_Alert(), IPOption_Router_Alert()]))[:14 + 24]
    case("vm-ipv4-truncated-options",
         "IHL 7 (28 bytes) but the frame ends after 24 bytes of header: ipv4_truncated",
         base(), "vm1", f, drop("ipv4_truncated"))

    f = tcp4(MAC_A, MAC_C, IP4_A, IP4_C, version=5)
    case("vm-ipv4-bad-version", "IPv4 ethertype with version 5: ipv4_bad_version",
         base(), "vm1", f, drop("ipv4_bad_version"))

    f = tcp4(MAC_A, MAC_C, IP4_A, IP4_C, ihl=4)
    case("vm-ipv4-bad-ihl", "IHL 4 (16 bytes, below the minimum): ipv4_bad_ihl",
         base(), "vm1", f, drop("ipv4_bad_ihl"))

    f = tcp4(MAC_A, MAC_C, IP4_A, IP4_C, len=200)
    case("vm-ipv4-length-past-frame", "IPv4 total length 200 in a shorter frame: ipv4_bad_length",
         base(), "vm1", f, drop("ipv4_bad_length"))

    f = tcp4(MAC_A, MAC_C, IP4_A, IP4_C, len=19)
    case("vm-ipv4-length-below-header", "IPv4 total length 19, below its header: ipv4_bad_length",
         base(), "vm1", f, drop("ipv4_bad_length"))

    f = (l2(MAC_C, MAC_A) / IP(src=IP4_A, dst=IP4_C, chksum=0x1234)
         / UDP(sport=1, dport=2) / data("bad checksum from a vm", 30))
    case("vm-ipv4-bad-checksum-forwarded",
         "IPv4 with a wrong header checksum from a VM: not checked, encapsulated as is",
         base(), "vm1", f, encapsulated(f, PEER2))

    f = bytes(tcp6(MAC_A, MAC_C, IP6_A, IP6_C))[:14 + 39]
    case("vm-ipv6-truncated", "frame ending inside the 40-byte IPv6 header: ipv6_truncated",
         base(), "vm1", f, drop("ipv6_truncated"))

    f = (l2(MAC_C, MAC_A, ethertype=0x86DD) / IPv6(version=4, src=IP6_A, dst=IP6_C)
         / UDP(sport=1, dport=2) / data("v4"))
    case("vm-ipv6-bad-version", "IPv6 ethertype with version 4: ipv6_bad_version",
         base(), "vm1", f, drop("ipv6_bad_version"))

    f = (l2(MAC_C, MAC_A) / IPv6(src=IP6_A, dst=IP6_C, plen=100)
         / UDP(sport=1, dport=2) / data("short"))
    case("vm-ipv6-bad-length", "IPv6 payload length 100 in a shorter frame: ipv6_bad_length",
         base(), "vm1", f, drop("ipv6_bad_length"))

    f = (l2(MAC_C, MAC_A) / IPv6(src=IP6_A, dst=IP6_C)
         / IPv6ExtHdrHopByHop(nh=17, len=2) / UDP(sport=1, dport=2))
    case("vm-ipv6-ext-longer-than-payload",
         "Hop-by-Hop header claiming 24 bytes in a 16-byte payload: ipv6_ext_truncated",
         base(), "vm1", f, drop("ipv6_ext_truncated"))

    f = (l2(MAC_C, MAC_A) / IPv6(src=IP6_A, dst=IP6_C, nh=60, plen=4)
         / Raw(load=b"\x11\x00\x01\x02"))
    case("vm-ipv6-ext-cut",
         "Destination Options header with only 4 bytes of payload left: ipv6_ext_truncated",
         base(), "vm1", f, drop("ipv6_ext_truncated"))

    nsb = bytes(ICMPv6ND_NS(tgt=IP6_C))
    f = (l2(solicited_node(IP6_C)[1], MAC_A)
         / IPv6(src=IP6_A, dst=solicited_node(IP6_C)[0], nh=58, hlim=255) / Raw(load=nsb[:20]))
    case("vm-icmpv6-truncated", "NS cut to 20 of its 24 bytes: icmpv6_truncated",
         base(), "vm1", f, drop("icmpv6_truncated"))

    f = ns(MAC_A, IP6_A, IP6_C, hlim=254)
    case("vm-nd-hop-limit-254", "NS with hop limit 254 (routed, not on-link): nd_malformed",
         base(), "vm1", f, drop("nd_malformed"))

    f = ns(MAC_A, IP6_A, IP6_C, opts=ICMPv6NDOptSrcLLAddr(len=0, lladdr=MAC_A))
    case("vm-nd-option-length-zero", "NS with an option of length 0: nd_malformed",
         base(), "vm1", f, drop("nd_malformed"))

    f = ns(MAC_A, IP6_A, IP6_C, opts=ICMPv6NDOptSrcLLAddr(len=2, lladdr=MAC_A))
    case("vm-nd-option-overrun", "NS whose option claims 16 bytes where 8 remain: nd_malformed",
         base(), "vm1", f, drop("nd_malformed"))

    f = (l2(solicited_node(IP6_C)[1], MAC_A)
         / IPv6(src=IP6_A, dst=solicited_node(IP6_C)[0], hlim=255)
         / ICMPv6ND_NS(code=1, tgt=IP6_C) / ICMPv6NDOptSrcLLAddr(lladdr=MAC_A))
    case("vm-nd-code-nonzero", "NS with ICMPv6 code 1: nd_malformed",
         base(), "vm1", f, drop("nd_malformed"))

    f = (l2(MAC_C, MAC_A) / IP(src=IP4_A, dst=IP4_C, proto=17)
         / Raw(load=b"\x9c\x41\x13\x89\x00\x0e"))
    case("vm-udp-truncated", "IPv4 UDP with a 6-byte payload: udp_truncated",
         base(), "vm1", f, drop("udp_truncated"))

    f = (l2(MAC_C, MAC_A) / IP(src=IP4_A, dst=IP4_C) / UDP(sport=1, dport=2, len=100)
         / data("short udp"))
    case("vm-udp-length-past-ip", "UDP length 100 beyond the IP payload: udp_bad_length",
         base(), "vm1", f, drop("udp_bad_length"))

    f = (l2(MAC_C, MAC_A) / IP(src=IP4_A, dst=IP4_C) / UDP(sport=1, dport=2, len=7)
         / data("tiny udp"))
    case("vm-udp-length-below-header", "UDP length 7, below its header: udp_bad_length",
         base(), "vm1", f, drop("udp_bad_length"))

    f = (l2(MAC_C, MAC_A) / IPv6(src=IP6_A, dst=IP6_C) / UDP(sport=1, dport=2, len=64)
         / data("ipv6 udp"))
    case("vm-udp6-bad-length", "IPv6 UDP length beyond the IPv6 payload: udp_bad_length",
         base(), "vm1", f, drop("udp_bad_length"))


def overlay_cases():
    """VXLAN frames from the uplink, addressed to this host's VTEP."""
    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A, sport=443, dport=51000, text="reply from C")
    case("uplink-decap-local",
         "VXLAN from a peer for a LOCAL endpoint: decapsulated, the inner frame delivered",
         base(), "uplink", vxlan_in(inner), out("vm1", inner))

    inner = udp6(MAC_D, MAC_B, IP6_D, IP6_B, sport=53, dport=40003)
    case("uplink-decap-local-ipv6",
         "VXLAN from the other peer, inner IPv6/UDP, for a LOCAL endpoint: delivered",
         base(), "uplink", vxlan_in(inner, src=PEER3), out("vm2", inner))

    inner = udp4(MAC_C, MAC_A, IP4_C, IP4_A, tags=((0x8100, 10, 0),))
    case("uplink-decap-inner-vlan",
         "VXLAN whose inner frame is 802.1Q tagged: delivered with its tag",
         base(), "uplink", vxlan_in(inner), out("vm1", inner))

    inner = tcp6(MAC_C, MAC_A, IP6_C, IP6_A, tags=((0x88A8, 100, 0), (0x8100, 20, 0)))
    case("uplink-decap-inner-qinq",
         "VXLAN whose inner frame is QinQ tagged: delivered with both tags",
         base(), "uplink", vxlan_in(inner), out("vm1", inner))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-decap-outer-vlan",
         "VXLAN in an 802.1Q tagged underlay frame: outer tag stripped with the outer headers",
         base(), "uplink", vxlan_in(inner, tags=((0x8100, 4000, 0),)), out("vm1", inner))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-decap-outer-ipv4-options",
         "VXLAN whose outer IPv4 header has options (IHL 6): checksum over 24 bytes, delivered",
         base(), "uplink", vxlan_in(inner, options=[IPOption_Router_Alert()]), out("vm1", inner))

    inner = udp4(MAC_C, MAC_A, IP4_C, IP4_A, text="short")
    case("uplink-decap-trailer",
         "VXLAN frame with 6 bytes of Ethernet trailer after the IP packet: inner bounded by UDP",
         base(), "uplink", vxlan_in(inner, trailer=b"\xde\xad\xbe\xef\x00\x01"),
         out("vm1", inner))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    # The IPv4 total length counts 10 bytes past the UDP datagram (scapy's Padding is
    # not counted in the UDP length).
    outer = vxlan_in(inner, trailer=b"\x5a" * 10, len=20 + 8 + 8 + len(inner) + 10)
    case("uplink-decap-udp-shorter-than-ip",
         "UDP length 10 bytes short of the IP payload: the inner frame ends where UDP says",
         base(), "uplink", outer, out("vm1", inner))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-decap-udp-checksum",
         "VXLAN with a non-zero outer UDP checksum: accepted, not verified",
         base(), "uplink", vxlan_in(inner, udp_chksum=None), out("vm1", inner))

    inner = (l2(MAC_A, MAC_C) / IP(src=IP4_C, dst=IP4_A, chksum=0xBEEF)
             / UDP(sport=7, dport=7) / data("inner checksum is wrong", 30))
    case("uplink-decap-inner-bad-checksum",
         "inner IPv4 with a wrong checksum: only the outer checksum is verified, delivered",
         base(), "uplink", vxlan_in(inner), out("vm1", inner))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-decap-ttl-1",
         "outer TTL 1 and a non-DF outer header: still ours, delivered (no router here)",
         base(), "uplink", vxlan_in(inner, ttl=1, flags=0, id=0x4242), out("vm1", inner))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-decap-reserved-flags",
         "VXLAN flags 0x48 (I plus a reserved bit) and no marker: delivered",
         base(), "uplink", vxlan_in(inner, vxflags=0x48), out("vm1", inner))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-decap-gbp-header",
         "VXLAN-GBP header (G flag, group policy 0x1234), not marked: delivered",
         base(), "uplink", vxlan_in(inner, vxflags=0x08, gbp_id=0x1234), out("vm1", inner))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A, text="forwarded by the source")
    case("uplink-marked-local",
         "marked VXLAN (forwarded by a migration source) for a LOCAL endpoint: delivered",
         base(), "uplink", vxlan_in(inner, marked=True), out("vm1", inner))

    inner = tcp4(MAC_C, MAC_F, IP4_C, IP4_F)
    case("uplink-decap-vni-200",
         "VXLAN with VNI 200 for the endpoint of a VNI 200 port: delivered",
         vm2_in_vni200(), "uplink", vxlan_in(inner, vni=200), out("vm2", inner))

    inner = tcp4(MAC_C, MAC_B, IP4_C, IP4_B, text="to the incoming VM")
    case("uplink-hold-incoming",
         "VXLAN for an INCOMING endpoint: decapsulated and held",
         incoming_b(), "uplink", vxlan_in(inner), hold("vm2", inner))

    inner = tcp4(MAC_D, MAC_B, IP4_D, IP4_B, text="relayed by the source")
    case("uplink-hold-marked",
         "marked VXLAN from the migration source for the INCOMING endpoint: held",
         incoming_b(), "uplink", vxlan_in(inner, src=PEER3, marked=True), hold("vm2", inner))

    inner = tcp4(MAC_C, MAC_E, IP4_C, IP4_E, text="for the migrated VM")
    case("uplink-forward-reencap",
         "VXLAN for a FORWARDING endpoint: re-encapsulated, marked, to the target's VTEP",
         base(), "uplink", vxlan_in(inner), encapsulated(inner, PEER3, marked=True))

    inner = udp6(MAC_C, MAC_E, IP6_C, IP6_E, tags=((0x8100, 10, 0),),
                 ext=[IPv6ExtHdrHopByHop()])
    case("uplink-forward-reencap-ipv6-vlan",
         "tagged inner IPv6 for a FORWARDING endpoint: re-encapsulated byte for byte, marked",
         base(), "uplink", vxlan_in(inner, sport=60000, udp_chksum=None),
         encapsulated(inner, PEER3, marked=True))

    inner = udp4(MAC_C, MAC_E, IP4_C, IP4_E, text="trailer is not forwarded")
    case("uplink-forward-reencap-trailer",
         "VXLAN with an Ethernet trailer for a FORWARDING endpoint: only the inner frame moves",
         base(), "uplink", vxlan_in(inner, trailer=b"\xff" * 4),
         encapsulated(inner, PEER3, marked=True))

    inner = tcp4(MAC_C, MAC_E, IP4_C, IP4_E)
    case("uplink-marked-at-forwarding",
         "marked VXLAN for an endpoint FORWARDING here too: marked_not_reforwarded",
         base(), "uplink", vxlan_in(inner, marked=True), drop("marked_not_reforwarded"))

    inner = tcp4(MAC_C, MAC_D, IP4_C, IP4_D)
    case("uplink-marked-at-remote",
         "marked VXLAN for an endpoint REMOTE from here: marked_not_reforwarded",
         base(), "uplink", vxlan_in(inner, marked=True), drop("marked_not_reforwarded"))

    inner = tcp4(MAC_C, MAC_D, IP4_C, IP4_D)
    case("uplink-stale-location",
         "unmarked VXLAN for an endpoint REMOTE from here: stale_location, never relayed",
         base(), "uplink", vxlan_in(inner), drop("stale_location"))

    inner = tcp4(MAC_D, MAC_C, IP4_D, IP4_C)
    case("uplink-stale-location-sender-host",
         "VXLAN from 192.0.2.3 for an endpoint that lives on 192.0.2.2: stale_location",
         base(), "uplink", vxlan_in(inner, src=PEER3), drop("stale_location"))

    inner = tcp4(MAC_C, MAC_X, IP4_C, "10.0.0.99")
    case("uplink-unknown-destination",
         "VXLAN for a MAC no endpoint has in that VNI: unknown_destination",
         base(), "uplink", vxlan_in(inner), drop("unknown_destination"))

    inner = tcp4(MAC_G, MAC_A, IP4_G, IP4_A)
    case("uplink-wrong-vni",
         "VXLAN with VNI 200 for a MAC that is LOCAL in VNI 100: unknown_destination",
         base(), "uplink", vxlan_in(inner, vni=200), drop("unknown_destination"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-unknown-vni", "VXLAN with VNI 300, not configured here: unknown_vni",
         base(), "uplink", vxlan_in(inner, vni=300), drop("unknown_vni"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-unknown-vtep",
         "VXLAN from an underlay address that is not a peer: unknown_vtep (anti-spoofing)",
         base(), "uplink", vxlan_in(inner, src=STRANGER), drop("unknown_vtep"))

    inner = udp4(MAC_C, MAC_A, IP4_C, IP4_A,
                 tags=((0x88A8, 1, 0), (0x8100, 2, 0), (0x8100, 3, 0)))
    case("uplink-unknown-vtep-before-inner",
         "stranger's VXLAN with a malformed inner frame: unknown_vtep, inner never parsed",
         base(), "uplink", vxlan_in(inner, src=STRANGER), drop("unknown_vtep"))

    inner = bytes(tcp4(MAC_C, MAC_A, IP4_C, IP4_A))[:10]
    case("uplink-inner-truncated-before-vtep",
         "stranger's VXLAN with a 10-byte payload: inner_truncated (an outer check) first",
         base(), "uplink", vxlan_in(inner, src=STRANGER), drop("inner_truncated"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A, len=300)
    case("uplink-unknown-vni-before-inner",
         "unknown VNI with a malformed inner frame: unknown_vni comes before the inner parse",
         base(), "uplink", vxlan_in(inner, vni=300), drop("unknown_vni"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-unknown-vtep-before-vni",
         "stranger's VXLAN with an unknown VNI: unknown_vtep comes first",
         base(), "uplink", vxlan_in(inner, src=STRANGER, vni=300), drop("unknown_vtep"))

    inner = arp_request(MAC_C, IP4_C, IP4_A)
    case("uplink-inner-broadcast",
         "VXLAN carrying a broadcast ARP request: broadcast_not_forwarded",
         base(), "uplink", vxlan_in(inner), drop("broadcast_not_forwarded"))

    inner = ns(MAC_C, IP6_C, IP6_A)
    case("uplink-inner-multicast-ns",
         "VXLAN carrying a multicast NS: broadcast_not_forwarded (no proxy from the uplink)",
         base(), "uplink", vxlan_in(inner), drop("broadcast_not_forwarded"))

    inner = ns(MAC_C, IP6_C, IP6_A, unicast_to=(MAC_A, IP6_A))
    case("uplink-inner-unicast-ns",
         "VXLAN carrying a unicast NS for a LOCAL endpoint: delivered like any unicast",
         base(), "uplink", vxlan_in(inner), out("vm1", inner))

    # ---- outer header errors ----
    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-outer-bad-checksum",
         "VXLAN to us with a wrong outer IPv4 checksum: ipv4_bad_checksum",
         base(), "uplink", vxlan_in(inner, chksum=0x1234), drop("ipv4_bad_checksum"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-bad-checksum-before-vtep",
         "stranger's VXLAN with a wrong checksum: ipv4_bad_checksum before unknown_vtep",
         base(), "uplink", vxlan_in(inner, src=STRANGER, chksum=0x1234),
         drop("ipv4_bad_checksum"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-outer-fragment-first",
         "first fragment (MF) of a VXLAN packet: outer_fragment, never reassembled",
         base(), "uplink", vxlan_in(inner, flags="MF", id=0x0777), drop("outer_fragment"))

    f = (l2(HOST_MAC, PEER2_MAC) / IP(src=PEER2, dst=HOST_VTEP, id=0x0777, frag=185, proto=17)
         / data("the rest of a VXLAN packet", 64))
    case("uplink-outer-fragment-later",
         "non-first fragment of UDP to our VTEP (no ports to read): outer_fragment",
         base(), "uplink", f, drop("outer_fragment"))

    f = (l2(HOST_MAC, PEER2_MAC) / IP(src=PEER2, dst=HOST_VTEP, flags="DF", id=0)
         / UDP(sport=50000, dport=VXLAN_PORT, chksum=0) / Raw(load=b"\x08\x00\x00\x00"))
    case("uplink-vxlan-truncated", "UDP to port 4789 with 4 bytes of payload: vxlan_truncated",
         base(), "uplink", pad_to(f), drop("vxlan_truncated"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-vxlan-bad-flags", "VXLAN header without the I flag (flags 0x00): vxlan_bad_flags",
         base(), "uplink", vxlan_in(inner, vxflags=0x00), drop("vxlan_bad_flags"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-vxlan-bad-flags-marked",
         "marker set but the I flag clear (flags 0x00): vxlan_bad_flags",
         base(), "uplink", vxlan_in(inner, vxflags=0x00, marked=True), drop("vxlan_bad_flags"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-bad-flags-before-vtep",
         "stranger's VXLAN without the I flag: vxlan_bad_flags comes before unknown_vtep",
         base(), "uplink", vxlan_in(inner, src=STRANGER, vxflags=0x00), drop("vxlan_bad_flags"))

    inner = bytes(tcp4(MAC_C, MAC_A, IP4_C, IP4_A))[:13]
    case("uplink-inner-truncated",
         "VXLAN payload of 13 bytes, shorter than Ethernet: inner_truncated",
         base(), "uplink", vxlan_in(inner), drop("inner_truncated"))

    f = pad_to(l2(HOST_MAC, PEER2_MAC) / IP(src=PEER2, dst=HOST_VTEP, flags="DF", id=0, proto=17)
               / Raw(load=b"\xc3\x50\x12\xb5\x00"))
    case("uplink-outer-udp-truncated",
         "UDP to our VTEP whose IP payload holds 5 bytes of the UDP header: udp_truncated",
         base(), "uplink", f, drop("udp_truncated"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    f = vxlan_in(inner)
    f[UDP].len = 2000
    case("uplink-outer-udp-bad-length",
         "VXLAN whose UDP length exceeds the IP payload: udp_bad_length",
         base(), "uplink", f, drop("udp_bad_length"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-outer-ipv4-bad-length",
         "VXLAN whose outer IPv4 total length exceeds the frame: ipv4_bad_length",
         base(), "uplink", vxlan_in(inner, len=1400), drop("ipv4_bad_length"))

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("uplink-outer-ipv4-bad-ihl", "outer IPv4 with IHL 3: ipv4_bad_ihl",
         base(), "uplink", vxlan_in(inner, ihl=3), drop("ipv4_bad_ihl"))

    case("uplink-eth-truncated", "10-byte frame on the uplink: eth_truncated",
         base(), "uplink", bytes(vxlan_in(tcp4(MAC_C, MAC_A, IP4_C, IP4_A)))[:10],
         drop("eth_truncated"))

    case("uplink-outer-ipv4-truncated", "underlay frame cut inside the IPv4 header: ipv4_truncated",
         base(), "uplink", bytes(vxlan_in(tcp4(MAC_C, MAC_A, IP4_C, IP4_A)))[:14 + 16],
         drop("ipv4_truncated"))

    # ---- inner frame errors (sender and VNI known) ----
    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A, len=300)
    case("uplink-inner-ipv4-bad-length",
         "inner IPv4 total length past the inner frame (bounded by UDP): ipv4_bad_length",
         base(), "uplink", vxlan_in(inner, trailer=b"\x00" * 300), drop("ipv4_bad_length"))

    inner = udp4(MAC_C, MAC_A, IP4_C, IP4_A,
                 tags=((0x88A8, 1, 0), (0x8100, 2, 0), (0x8100, 3, 0)))
    case("uplink-inner-three-vlan-tags", "inner frame with three VLAN tags: vlan_too_many_tags",
         base(), "uplink", vxlan_in(inner), drop("vlan_too_many_tags"))

    inner = udp6(MAC_C, MAC_A, IP6_C, IP6_A,
                 ext=[IPv6ExtHdrDestOpt(), IPv6ExtHdrDestOpt(), IPv6ExtHdrDestOpt(),
                      IPv6ExtHdrDestOpt(), IPv6ExtHdrDestOpt()])
    case("uplink-inner-ext-chain-too-long",
         "inner IPv6 with five extension headers: ipv6_ext_chain_too_long",
         base(), "uplink", vxlan_in(inner), drop("ipv6_ext_chain_too_long"))

    inner = ns(MAC_C, IP6_C, IP6_A, unicast_to=(MAC_A, IP6_A), hlim=64)
    case("uplink-inner-nd-malformed", "inner NS with hop limit 64: nd_malformed",
         base(), "uplink", vxlan_in(inner), drop("nd_malformed"))

    inner = bytes(tcp6(MAC_C, MAC_A, IP6_C, IP6_A))[:14 + 30]
    case("uplink-inner-ipv6-truncated", "inner frame ending inside its IPv6 header: ipv6_truncated",
         base(), "uplink", vxlan_in(inner), drop("ipv6_truncated"))

    inner = (l2(MAC_A, MAC_C) / IP(src=IP4_C, dst=IP4_A, proto=17)
             / Raw(load=b"\x00\x35\x9c\x40"))
    case("uplink-inner-udp-truncated", "inner IPv4 UDP with a 4-byte payload: udp_truncated",
         base(), "uplink", vxlan_in(inner), drop("udp_truncated"))


def underlay_cases():
    """Uplink traffic that is not VXLAN for this host."""
    req = arp_request(ROUTER_MAC, ROUTER_IP, HOST_VTEP)
    case("underlay-arp-for-vtep",
         "underlay ARP request for this host's VTEP: answered with the host's underlay MAC",
         base(), "uplink", req,
         out("uplink", arp_reply_for((), ROUTER_MAC, ROUTER_IP, HOST_MAC, HOST_VTEP, 60)))

    tags = ((0x8100, 4000, 0),)
    req = arp_request(PEER2_MAC, PEER2, HOST_VTEP, tags=tags)
    case("underlay-arp-for-vtep-vlan",
         "tagged underlay ARP request from a peer for our VTEP: answered, tag kept",
         base(), "uplink", req,
         out("uplink", arp_reply_for(tags, PEER2_MAC, PEER2, HOST_MAC, HOST_VTEP, 60)))

    req = arp_request(ROUTER_MAC, ROUTER_IP, "192.0.2.77")
    case("underlay-arp-other-ip", "underlay ARP request for another address: tohost",
         base(), "uplink", req, tohost())

    req = arp_request(ROUTER_MAC, ROUTER_IP, IP4_A)
    case("underlay-arp-for-overlay-ip",
         "underlay ARP request for an overlay endpoint's address: tohost, no proxy on the uplink",
         base(), "uplink", req, tohost())

    f = pad_to(l2(HOST_MAC, PEER2_MAC) / ARP(op=2, hwsrc=PEER2_MAC, psrc=PEER2, hwdst=HOST_MAC,
                                             pdst=HOST_VTEP))
    case("underlay-arp-reply", "underlay ARP reply to this host: tohost",
         base(), "uplink", f, tohost())

    f = garp(PEER3_MAC, PEER3)
    case("underlay-garp", "gratuitous ARP from a peer: tohost",
         base(), "uplink", f, tohost())

    f = (l2(HOST_MAC, ROUTER_MAC) / IP(src="198.51.100.7", dst=HOST_VTEP, id=9)
         / TCP(sport=51515, dport=22, flags="S", seq=1) / data("ssh to host", 12))
    case("underlay-tcp-to-vtep", "TCP to our VTEP address (ssh to the host): tohost",
         base(), "uplink", f, tohost())

    f = (l2(HOST_MAC, ROUTER_MAC) / IP(src="198.51.100.7", dst=HOST_VTEP, id=9, chksum=0x0001)
         / TCP(sport=51515, dport=22, flags="S", seq=1) / data("bad checksum", 12))
    case("underlay-tcp-bad-checksum",
         "TCP to our VTEP with a wrong IPv4 checksum: tohost (checksum only for VXLAN)",
         base(), "uplink", f, tohost())

    f = (l2(HOST_MAC, PEER2_MAC) / IP(src=PEER2, dst=HOST_VTEP, id=0, flags="DF")
         / UDP(sport=50000, dport=8472, chksum=0)
         / VXLAN(flags=0x08, vni=100) / Raw(load=bytes(tcp4(MAC_C, MAC_A, IP4_C, IP4_A))))
    case("underlay-udp-other-port",
         "VXLAN-looking UDP to port 8472 (not 4789): tohost",
         base(), "uplink", f, tohost())

    inner = tcp4(MAC_C, MAC_A, IP4_C, IP4_A)
    case("underlay-vxlan-for-other-vtep",
         "VXLAN to port 4789 of another underlay address: tohost",
         base(), "uplink", vxlan_in(inner, dst="192.0.2.50"), tohost())

    f = (l2(HOST_MAC, ROUTER_MAC) / IPv6(src="2001:db8::2", dst="2001:db8::1", hlim=64)
         / UDP(sport=50000, dport=VXLAN_PORT) / data("ipv6 underlay", 24))
    case("underlay-ipv6", "IPv6 on the uplink (even to port 4789): tohost",
         base(), "uplink", f, tohost())

    f = pad_to(l2("01:80:c2:00:00:0e", ROUTER_MAC, ethertype=0x88CC)
               / Raw(load=bytes.fromhex("020704020000000001fe0403030201fe0602007800000000")))
    case("underlay-lldp", "LLDP on the uplink: tohost",
         base(), "uplink", f, tohost())

    f = (l2(HOST_MAC, ROUTER_MAC) / IPv6(src="2001:db8::2", dst="2001:db8::1", hlim=64)
         / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt()
         / IPv6ExtHdrDestOpt() / IPv6ExtHdrDestOpt() / UDP(sport=1, dport=2) / data("x", 8))
    case("underlay-parse-error-dropped",
         "underlay IPv6 with five extension headers: dropped (ipv6_ext_chain_too_long), not passed",
         base(), "uplink", f, drop("ipv6_ext_chain_too_long"))


# --------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------


def render(comment, topo, in_port, frame, expect):
    lines = ["# " + comment]
    lines += topo.lines()
    lines.append("in %s %s" % (in_port, frame.hex()))
    kind = expect[0]
    if kind in ("out", "hold"):
        lines.append("%s %s %s" % (kind, expect[1], expect[2].hex()))
    elif kind == "activate":
        lines.append("activate %s" % expect[1])
    elif kind == "drop":
        lines.append("drop %s" % expect[1])
    else:
        lines.append("tohost")
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) != 2:
        sys.stderr.write("usage: %s OUTDIR\n" % argv[0])
        return 2
    outdir = argv[1]
    vm_cases()
    vm_malformed_cases()
    overlay_cases()
    underlay_cases()

    names = [c[0] for c in CASES]
    assert len(names) == len(set(names)), "duplicate case names"
    os.makedirs(outdir, exist_ok=True)
    wanted = set()
    for i, (name, comment, topo, in_port, frame, expect) in enumerate(CASES, 1):
        fname = "%03d-%s.vec" % (i, name)
        wanted.add(fname)
        text = render(comment, topo, in_port, frame, expect)
        with open(os.path.join(outdir, fname), "w", encoding="ascii", newline="\n") as fh:
            fh.write(text)
    # Cases renumbered or removed since the last run must not linger.
    for fname in sorted(os.listdir(outdir)):
        if fname.endswith(".vec") and fname not in wanted:
            os.remove(os.path.join(outdir, fname))
    print("%d cases written to %s" % (len(CASES), outdir))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
