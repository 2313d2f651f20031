/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Wire constants of the protocols the forwarding core reads and writes. Headers are read
 * byte by byte through the fab_load_* helpers rather than through packed structs, so
 * that no access is unaligned and the BPF verifier sees plain byte loads.
 */
#ifndef FAB_PROTO_H
#define FAB_PROTO_H

#define FAB_ETH_HLEN 14
#define FAB_VLAN_HLEN 4
#define FAB_ETH_MIN_FRAME 60 /* without the frame check sequence */
#define FAB_ETHERTYPE_IPV4 0x0800
#define FAB_ETHERTYPE_ARP 0x0806
#define FAB_ETHERTYPE_RARP 0x8035
#define FAB_ETHERTYPE_VLAN 0x8100
#define FAB_ETHERTYPE_QINQ 0x88a8
#define FAB_ETHERTYPE_IPV6 0x86dd
#define FAB_MAX_VLAN_TAGS 2

#define FAB_ARP_LEN 28
#define FAB_ARP_HTYPE_ETHER 1
#define FAB_ARP_OP_REQUEST 1
#define FAB_ARP_OP_REPLY 2
#define FAB_RARP_OP_REQUEST 3

#define FAB_IPV4_MIN_HLEN 20
#define FAB_IPV4_MF 0x2000
#define FAB_IPV4_DF 0x4000
#define FAB_IPV4_OFFSET_MASK 0x1fff
#define FAB_IPV6_HLEN 40

#define FAB_IPPROTO_HOPOPTS 0
#define FAB_IPPROTO_TCP 6
#define FAB_IPPROTO_UDP 17
#define FAB_IPPROTO_ROUTING 43
#define FAB_IPPROTO_FRAGMENT 44
#define FAB_IPPROTO_ICMPV6 58
#define FAB_IPPROTO_NONE 59
#define FAB_IPPROTO_DSTOPTS 60
#define FAB_IPPROTO_SCTP 132

/* The parser walks at most this many IPv6 extension headers before it gives up. */
#define FAB_IPV6_MAX_EXT 4

#define FAB_UDP_HLEN 8
#define FAB_ICMPV6_NS 135
#define FAB_ICMPV6_NA 136
#define FAB_ND_MSG_LEN 24 /* ICMPv6 header, flags or reserved word, target address */
#define FAB_ND_OPT_SLLA 1
#define FAB_ND_OPT_TLLA 2
#define FAB_ND_NA_ROUTER 0x80
#define FAB_ND_NA_SOLICITED 0x40
#define FAB_ND_NA_OVERRIDE 0x20

#define FAB_VXLAN_PORT 4789
#define FAB_VXLAN_HLEN 8
#define FAB_VXLAN_FLAG_VNI 0x08 /* first byte: the I flag of RFC 7348 */
/*
 * The forwarded-by-source marker: bit 0 of the second header byte, one of the 24
 * reserved flag bits of RFC 7348, unused by VXLAN-GBP (RFC draft, bits in bytes 0-1:
 * G, D, A) and by VXLAN-GPE (byte 0 only). RFC 7348 receivers ignore it, so a marked
 * frame still decapsulates anywhere.
 */
#define FAB_VXLAN_MARK_BYTE 1
#define FAB_VXLAN_MARK_BIT 0x01
/* Outer Ethernet + IPv4 (no options) + UDP + VXLAN. */
#define FAB_VXLAN_ENCAP_LEN (FAB_ETH_HLEN + FAB_IPV4_MIN_HLEN + FAB_UDP_HLEN + FAB_VXLAN_HLEN)
#define FAB_VNI_MAX 0xffffff

#endif
