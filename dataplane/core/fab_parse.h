/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Bounds-checked parsers for the frames the fast path sees: Ethernet with up to two VLAN
 * tags, ARP/RARP, IPv4 with options, IPv6 with extension headers, ICMPv6 neighbour
 * discovery, UDP and VXLAN.
 *
 * Every parser takes the frame as [data, end), reads nothing at or past `end`, and
 * returns 0 or the fab_drop_reason that names what is wrong. Every byte is read after a
 * pointer comparison against `end`, the form the BPF verifier accepts. Lengths that only
 * have to agree with each other are compared as integers.
 *
 * The IPv6 extension header rule: Hop-by-Hop Options, Routing, Destination Options and
 * Fragment headers are skipped, at most FAB_IPV6_MAX_EXT (4) of them; a longer chain is
 * refused (ipv6_ext_chain_too_long), as is a chain that runs past the payload. Any other
 * next header (TCP, UDP, SCTP, ICMPv6, ESP, AH, No Next Header, ...) ends the walk. A
 * fragment of any kind (IPv4 or IPv6, first or not) contributes no ports to the flow
 * hash, so that all fragments of a datagram take one underlay path.
 */
#ifndef FAB_PARSE_H
#define FAB_PARSE_H

#include "fab_compat.h"
#include "fab_counters.h"
#include "fab_proto.h"

enum fab_l3_kind {
	FAB_L3_OTHER = 0,
	FAB_L3_ARP = 1, /* ARP or RARP: see ethertype */
	FAB_L3_IPV4 = 2,
	FAB_L3_IPV6 = 3,
};

/*
 * What the parsers found in one Ethernet frame. Offsets are from the frame's start.
 *
 * The fields up to `arp_spa` are read for every frame and are zeroed before a parse; the
 * rest belong to one kind of frame and are written whenever that kind is found (the ARP
 * fields with kind FAB_L3_ARP, the IPv6 addresses with FAB_L3_IPV6, nd_target with a
 * non-zero nd_type), so nothing reads them otherwise. The DPDK path zeroes only the
 * first part (the full clear, a `rep stosq`, was 7% of its decap time); the BPF
 * program clears all of it, since the verifier wants every stack byte written before
 * any path reads it.
 */
struct fab_frame {
	uint8_t dst_mac[6];
	uint8_t src_mac[6];
	uint16_t ethertype; /* after any VLAN tags */
	uint16_t len;       /* bytes in the frame */
	uint16_t l3_off;
	uint16_t l4_off;
	uint16_t l4_len; /* IP payload bytes after the IP header and extensions */
	uint8_t vlan_count;
	uint8_t kind;     /* enum fab_l3_kind */
	uint8_t l4_proto; /* IPv4 protocol, or IPv6 upper-layer header */
	uint8_t fragment; /* IPv4 or IPv6 fragment: no ports */
	uint8_t has_ports;
	uint8_t hop_limit; /* IPv4 TTL or IPv6 hop limit */
	uint16_t sport;
	uint16_t dport;
	uint32_t ip4_src; /* host byte order */
	uint32_t ip4_dst;
	/* ICMPv6 neighbour discovery: nd_type is 0 unless NS or NA */
	uint8_t nd_type;
	uint8_t nd_flags; /* NA: router, solicited, override */
	uint16_t arp_op;
	/* Only with kind FAB_L3_ARP (ARP and RARP). */
	uint32_t arp_spa; /* host byte order */
	uint32_t arp_tpa;
	uint8_t arp_sha[6];
	uint8_t arp_tha[6];
	/* Only with kind FAB_L3_IPV6. */
	uint8_t ip6_src[16];
	uint8_t ip6_dst[16];
	/* Only with a non-zero nd_type. */
	uint8_t nd_target[16];
};

/* Zeroes what every reader of a parsed frame may look at (see struct fab_frame). */
FAB_INLINE void fab_frame_clear(struct fab_frame *f)
{
#ifdef __bpf__
	__builtin_memset(f, 0, sizeof(*f));
#else
	__builtin_memset(f, 0, __builtin_offsetof(struct fab_frame, arp_spa));
#endif
}

/* What the VXLAN parser keeps of the outer headers once the inner frame is parsed. */
struct fab_vxlan {
	uint32_t src_vtep; /* outer IPv4 source, host byte order */
	uint32_t dst_vtep;
	uint32_t vni;
	uint16_t inner_off; /* the inner Ethernet header, from the outer frame's start */
	uint16_t inner_len;
	uint8_t marked; /* forwarded by a migration source */
};

FAB_INLINE int fab_parse_eth(const uint8_t *data, const uint8_t *end, struct fab_frame *f)
{
	uint16_t type;
	uint16_t off = FAB_ETH_HLEN;
	int i;

	if (data + FAB_ETH_HLEN > end)
		return FAB_DROP_ETH_TRUNCATED;
	fab_copy6(f->dst_mac, data);
	fab_copy6(f->src_mac, data + 6);
	type = fab_load_be16(data + 12);
	f->vlan_count = 0;
	FAB_UNROLL
	for (i = 0; i <= FAB_MAX_VLAN_TAGS; i++) {
		if (type != FAB_ETHERTYPE_VLAN && type != FAB_ETHERTYPE_QINQ)
			break;
		if (i == FAB_MAX_VLAN_TAGS)
			return FAB_DROP_VLAN_TOO_MANY;
		if (data + off + FAB_VLAN_HLEN > end)
			return FAB_DROP_VLAN_TRUNCATED;
		type = fab_load_be16(data + off + 2);
		off += FAB_VLAN_HLEN;
		f->vlan_count++;
	}
	f->ethertype = type;
	f->l3_off = off;
	return 0;
}

FAB_INLINE int fab_parse_arp(const uint8_t *data, const uint8_t *end, struct fab_frame *f)
{
	const uint8_t *a = data + f->l3_off;

	if (a + FAB_ARP_LEN > end)
		return FAB_DROP_ARP_TRUNCATED;
	if (fab_load_be16(a) != FAB_ARP_HTYPE_ETHER || fab_load_be16(a + 2) != FAB_ETHERTYPE_IPV4 ||
	    a[4] != 6 || a[5] != 4)
		return FAB_DROP_ARP_MALFORMED;
	f->kind = FAB_L3_ARP;
	f->arp_op = fab_load_be16(a + 6);
	fab_copy6(f->arp_sha, a + 8);
	f->arp_spa = fab_load_be32(a + 14);
	fab_copy6(f->arp_tha, a + 18);
	f->arp_tpa = fab_load_be32(a + 24);
	return 0;
}

/* Reads the first four bytes of a TCP, UDP or SCTP header: the ports. UDP is checked
 * more closely because VXLAN rides on it. */
FAB_INLINE int fab_parse_l4(const uint8_t *data, const uint8_t *end, struct fab_frame *f)
{
	const uint8_t *l4 = data + f->l4_off;

	f->has_ports = 0;
	if (f->fragment)
		return 0;
	if (f->l4_proto == FAB_IPPROTO_UDP) {
		uint16_t ulen;

		if (l4 + FAB_UDP_HLEN > end || f->l4_len < FAB_UDP_HLEN)
			return FAB_DROP_UDP_TRUNCATED;
		ulen = fab_load_be16(l4 + 4);
		if (ulen < FAB_UDP_HLEN || ulen > f->l4_len)
			return FAB_DROP_UDP_BAD_LENGTH;
	} else if (f->l4_proto != FAB_IPPROTO_TCP && f->l4_proto != FAB_IPPROTO_SCTP) {
		return 0;
	}
	if (l4 + 4 > end || f->l4_len < 4)
		return 0; /* a stub TCP/SCTP header: hashed without ports, judged by the VM */
	f->sport = fab_load_be16(l4);
	f->dport = fab_load_be16(l4 + 2);
	f->has_ports = 1;
	return 0;
}

FAB_INLINE int fab_parse_ipv4(const uint8_t *data, const uint8_t *end, struct fab_frame *f)
{
	const uint8_t *ip = data + f->l3_off;
	uint16_t ihl, total, frag;

	if (ip + FAB_IPV4_MIN_HLEN > end)
		return FAB_DROP_IPV4_TRUNCATED;
	if ((ip[0] >> 4) != 4)
		return FAB_DROP_IPV4_BAD_VERSION;
	ihl = (uint16_t)((ip[0] & 0x0f) * 4);
	if (ihl < FAB_IPV4_MIN_HLEN)
		return FAB_DROP_IPV4_BAD_IHL;
	if ((uint32_t)f->l3_off + ihl > f->len)
		return FAB_DROP_IPV4_TRUNCATED;
	total = fab_load_be16(ip + 2);
	if (total < ihl || (uint32_t)f->l3_off + total > f->len)
		return FAB_DROP_IPV4_BAD_LENGTH;
	frag = fab_load_be16(ip + 6);
	f->kind = FAB_L3_IPV4;
	f->fragment = (frag & (FAB_IPV4_MF | FAB_IPV4_OFFSET_MASK)) != 0;
	f->hop_limit = ip[8];
	f->l4_proto = ip[9];
	f->ip4_src = fab_load_be32(ip + 12);
	f->ip4_dst = fab_load_be32(ip + 16);
	f->l4_off = (uint16_t)(f->l3_off + ihl);
	f->l4_len = (uint16_t)(total - ihl);
	return fab_parse_l4(data, end, f);
}

FAB_INLINE bool fab_ipv6_is_ext(uint8_t nh)
{
	return nh == FAB_IPPROTO_HOPOPTS || nh == FAB_IPPROTO_ROUTING ||
	       nh == FAB_IPPROTO_DSTOPTS || nh == FAB_IPPROTO_FRAGMENT;
}

/* Checks an NS or NA: its fixed part, and that each of its first four options has a
 * non-zero length and ends inside the message (RFC 4861 section 7.1.1). Later options
 * are the receiving VM's to judge: the proxy reads none of them. */
FAB_INLINE int fab_parse_nd(const uint8_t *data, const uint8_t *end, struct fab_frame *f)
{
	const uint8_t *m = data + f->l4_off;
	uint16_t off = FAB_ND_MSG_LEN;
	int i;

	if (m + FAB_ND_MSG_LEN > end || f->l4_len < FAB_ND_MSG_LEN)
		return FAB_DROP_ICMPV6_TRUNCATED;
	if (f->hop_limit != 255 || m[1] != 0)
		return FAB_DROP_ND_MALFORMED;
	f->nd_type = m[0];
	f->nd_flags = m[4];
	fab_copy16(f->nd_target, m + 8);
	FAB_UNROLL
	for (i = 0; i < 4; i++) {
		const uint8_t *opt = m + off;
		uint16_t olen;

		if (off >= f->l4_len)
			break;
		if (opt + 2 > end || off + 2 > f->l4_len)
			return FAB_DROP_ND_MALFORMED;
		olen = (uint16_t)(opt[1] * 8);
		if (olen == 0 || off + olen > f->l4_len)
			return FAB_DROP_ND_MALFORMED;
		off += olen;
	}
	return 0;
}

FAB_INLINE int fab_parse_ipv6(const uint8_t *data, const uint8_t *end, struct fab_frame *f)
{
	const uint8_t *ip = data + f->l3_off;
	uint16_t payload, off, left;
	uint8_t nh;
	int i;

	if (ip + FAB_IPV6_HLEN > end)
		return FAB_DROP_IPV6_TRUNCATED;
	if ((ip[0] >> 4) != 6)
		return FAB_DROP_IPV6_BAD_VERSION;
	payload = fab_load_be16(ip + 4);
	if ((uint32_t)f->l3_off + FAB_IPV6_HLEN + payload > f->len)
		return FAB_DROP_IPV6_BAD_LENGTH;
	f->kind = FAB_L3_IPV6;
	nh = ip[6];
	f->hop_limit = ip[7];
	fab_copy16(f->ip6_src, ip + 8);
	fab_copy16(f->ip6_dst, ip + 24);
	off = (uint16_t)(f->l3_off + FAB_IPV6_HLEN);
	left = payload;
	FAB_UNROLL
	for (i = 0; i <= FAB_IPV6_MAX_EXT; i++) {
		const uint8_t *ext = data + off;
		uint16_t elen;

		if (!fab_ipv6_is_ext(nh))
			break;
		if (i == FAB_IPV6_MAX_EXT)
			return FAB_DROP_IPV6_EXT_CHAIN_TOO_LONG;
		if (ext + 8 > end || left < 8)
			return FAB_DROP_IPV6_EXT_TRUNCATED;
		if (nh == FAB_IPPROTO_FRAGMENT) {
			f->fragment = 1;
			elen = 8;
		} else {
			elen = (uint16_t)((ext[1] + 1) * 8);
		}
		if (elen > left)
			return FAB_DROP_IPV6_EXT_TRUNCATED;
		nh = ext[0];
		off += elen;
		left -= elen;
	}
	f->l4_proto = nh;
	f->l4_off = off;
	f->l4_len = left;
	if (nh == FAB_IPPROTO_ICMPV6 && !f->fragment) {
		const uint8_t *icmp = data + off;

		if (icmp + 1 > end || left < 1)
			return 0; /* an empty ICMPv6 payload is the VM's business */
		if (icmp[0] == FAB_ICMPV6_NS || icmp[0] == FAB_ICMPV6_NA)
			return fab_parse_nd(data, end, f);
		return 0;
	}
	return fab_parse_l4(data, end, f);
}

/*
 * Parses one Ethernet frame of `end - data` bytes (at most 65535) down to the ports or
 * the neighbour discovery message. Clears `f` first (fab_frame_clear). Returns 0 or a
 * drop reason.
 */
FAB_INLINE int fab_parse_frame(const uint8_t *data, const uint8_t *end, struct fab_frame *f)
{
	int ret;

	fab_frame_clear(f);
	f->len = (uint16_t)(end - data);
	ret = fab_parse_eth(data, end, f);
	if (ret)
		return ret;
	switch (f->ethertype) {
	case FAB_ETHERTYPE_ARP:
	case FAB_ETHERTYPE_RARP:
		return fab_parse_arp(data, end, f);
	case FAB_ETHERTYPE_IPV4:
		return fab_parse_ipv4(data, end, f);
	case FAB_ETHERTYPE_IPV6:
		return fab_parse_ipv6(data, end, f);
	default:
		return 0;
	}
}

/* True if an already parsed outer frame is VXLAN addressed to this VTEP. */
FAB_INLINE bool fab_frame_is_vxlan_to(const struct fab_frame *f, uint32_t local_vtep)
{
	return f->kind == FAB_L3_IPV4 && f->l4_proto == FAB_IPPROTO_UDP &&
	       f->ip4_dst == local_vtep && (f->fragment || (f->has_ports && f->dport == FAB_VXLAN_PORT));
}

/* Sums 16-bit big-endian words; the caller folds. Reads only inside [data, end). */
FAB_INLINE uint32_t fab_csum_add(uint32_t sum, const uint8_t *p, const uint8_t *end, uint16_t len)
{
	uint16_t i;

	FAB_UNROLL
	for (i = 0; i < 60; i += 2) {
		if (i + 1 >= len || p + i + 2 > end)
			break;
		sum += fab_load_be16(p + i);
	}
	return sum;
}

FAB_INLINE uint16_t fab_csum_fold(uint32_t sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* Does the 20-byte IPv4 header at `ip` (no options) carry a valid checksum? The one's
 * complement sum does not depend on the byte order of its words (RFC 1071), so the
 * header is summed as five native 32-bit words, not ten byte-swapped 16-bit ones; only
 * the BPF build, which may not load unaligned words, sums it the long way. */
FAB_INLINE bool fab_ip4_hdr_csum_ok(const uint8_t *ip)
{
#ifdef __bpf__
	return fab_csum_fold(fab_csum_add(0, ip, ip + FAB_IPV4_MIN_HLEN, FAB_IPV4_MIN_HLEN)) == 0;
#else
	uint64_t sum = 0;

	for (int i = 0; i < FAB_IPV4_MIN_HLEN; i += 4) {
		uint32_t w;

		__builtin_memcpy(&w, ip + i, 4);
		sum += w;
	}
	sum = (sum & 0xffffffffu) + (sum >> 32);
	sum = (sum & 0xffffffffu) + (sum >> 32);
	return fab_csum_fold((uint32_t)sum) == 0;
#endif
}

/*
 * Validates the outer IPv4 header (checksum, no fragment) and the VXLAN header of a frame
 * that fab_frame_is_vxlan_to() accepted and keeps what forwarding needs of the outer
 * headers in `vx`. Returns 0 or a drop reason. The inner frame is parsed next, with
 * fab_parse_inner(), once the sender is known to be a host of the fabric.
 */
FAB_INLINE int fab_parse_vxlan_outer(const uint8_t *data, const uint8_t *end, struct fab_frame *f,
			       struct fab_vxlan *vx)
{
	const uint8_t *ip = data + f->l3_off;
	const uint8_t *udp = data + f->l4_off;
	const uint8_t *vh;
	uint16_t ihl = (uint16_t)(f->l4_off - f->l3_off);
	uint16_t ulen;

	if (f->fragment)
		return FAB_DROP_OUTER_FRAGMENT;
	if (fab_csum_fold(fab_csum_add(0, ip, end, ihl)) != 0)
		return FAB_DROP_IPV4_BAD_CHECKSUM;
	if (udp + FAB_UDP_HLEN > end)
		return FAB_DROP_UDP_TRUNCATED;
	ulen = fab_load_be16(udp + 4);
	vh = udp + FAB_UDP_HLEN;
	if (vh + FAB_VXLAN_HLEN > end || ulen < FAB_UDP_HLEN + FAB_VXLAN_HLEN)
		return FAB_DROP_VXLAN_TRUNCATED;
	if (!(vh[0] & FAB_VXLAN_FLAG_VNI))
		return FAB_DROP_VXLAN_BAD_FLAGS;
	vx->src_vtep = f->ip4_src;
	vx->dst_vtep = f->ip4_dst;
	vx->vni = (uint32_t)vh[4] << 16 | (uint32_t)vh[5] << 8 | vh[6];
	vx->marked = (vh[FAB_VXLAN_MARK_BYTE] & FAB_VXLAN_MARK_BIT) != 0;
	vx->inner_off = (uint16_t)(f->l4_off + FAB_UDP_HLEN + FAB_VXLAN_HLEN);
	vx->inner_len = (uint16_t)(ulen - FAB_UDP_HLEN - FAB_VXLAN_HLEN);
	if (vx->inner_len < FAB_ETH_HLEN)
		return FAB_DROP_INNER_TRUNCATED;
	return 0;
}

/*
 * The common case of fab_parse_frame + fab_frame_is_vxlan_to + fab_parse_vxlan_outer at
 * fixed offsets: untagged Ethernet, IPv4 without options or fragmentation, UDP to the
 * VXLAN port, a valid header checksum and a VXLAN header with the I flag. Returns true
 * and fills `vx` exactly as fab_parse_vxlan_outer would when the frame is such a frame
 * addressed to `local_vtep`; false when it is not (or is malformed), and the caller takes
 * the general path, which finds the same or names what is wrong. `f` is not touched: the
 * inner parse fills it next.
 */
FAB_INLINE bool fab_parse_vxlan_fast(const uint8_t *data, const uint8_t *end, uint32_t local_vtep,
				     struct fab_vxlan *vx)
{
	const uint8_t *ip = data + FAB_ETH_HLEN;
	const uint8_t *udp = ip + FAB_IPV4_MIN_HLEN;
	const uint8_t *vh = udp + FAB_UDP_HLEN;
	uint16_t total, ulen;

	if (vh + FAB_VXLAN_HLEN > end || fab_load_be16(data + 12) != FAB_ETHERTYPE_IPV4 ||
	    ip[0] != 0x45 || ip[9] != FAB_IPPROTO_UDP ||
	    (fab_load_be16(ip + 6) & (FAB_IPV4_MF | FAB_IPV4_OFFSET_MASK)) ||
	    fab_load_be32(ip + 16) != local_vtep || fab_load_be16(udp + 2) != FAB_VXLAN_PORT ||
	    !(vh[0] & FAB_VXLAN_FLAG_VNI))
		return false;
	total = fab_load_be16(ip + 2);
	ulen = fab_load_be16(udp + 4);
	if (total < FAB_IPV4_MIN_HLEN + FAB_UDP_HLEN ||
	    FAB_ETH_HLEN + (uint32_t)total > (uint32_t)(end - data) ||
	    ulen < FAB_UDP_HLEN + FAB_VXLAN_HLEN + FAB_ETH_HLEN ||
	    ulen > total - FAB_IPV4_MIN_HLEN)
		return false;
	if (!fab_ip4_hdr_csum_ok(ip))
		return false;
	vx->src_vtep = fab_load_be32(ip + 12);
	vx->dst_vtep = local_vtep;
	vx->vni = (uint32_t)vh[4] << 16 | (uint32_t)vh[5] << 8 | vh[6];
	vx->marked = (vh[FAB_VXLAN_MARK_BYTE] & FAB_VXLAN_MARK_BIT) != 0;
	vx->inner_off = FAB_ETH_HLEN + FAB_IPV4_MIN_HLEN + FAB_UDP_HLEN + FAB_VXLAN_HLEN;
	vx->inner_len = (uint16_t)(ulen - FAB_UDP_HLEN - FAB_VXLAN_HLEN);
	return true;
}

/*
 * The common case of fab_parse_frame at fixed offsets: untagged Ethernet, IPv4 without
 * options or fragmentation, and a UDP header of valid length or a TCP header of at least
 * 8 bytes (the length fields and the frame both hold it). Returns true when the frame is
 * such a frame, and then `f` holds exactly what fab_parse_frame would write (it would
 * return 0): every field up to `arp_spa`, the ones fab_frame_clear zeroes; the fields
 * after them belong to ARP and IPv6 frames and are left alone, as fab_parse_frame leaves
 * them for IPv4. Returns false for any other frame, well-formed or not, with `f` in no
 * particular state: the caller runs fab_parse_frame, which finds the rest or names what
 * is wrong. A VM's traffic is nearly all of the first kind.
 */
FAB_INLINE bool fab_parse_ip4_fast(const uint8_t *data, const uint8_t *end, struct fab_frame *f)
{
	const uint8_t *ip = data + FAB_ETH_HLEN;
	const uint8_t *l4 = ip + FAB_IPV4_MIN_HLEN;
	uint16_t len = (uint16_t)(end - data);
	uint16_t total, ulen;
	uint8_t proto;

	if (l4 + FAB_UDP_HLEN > end || fab_load_be16(data + 12) != FAB_ETHERTYPE_IPV4 ||
	    ip[0] != 0x45 || (fab_load_be16(ip + 6) & (FAB_IPV4_MF | FAB_IPV4_OFFSET_MASK)))
		return false;
	proto = ip[9];
	total = fab_load_be16(ip + 2);
	if (total < FAB_IPV4_MIN_HLEN + FAB_UDP_HLEN ||
	    FAB_ETH_HLEN + (uint32_t)total > len)
		return false;
	if (proto == FAB_IPPROTO_UDP) {
		ulen = fab_load_be16(l4 + 4);
		if (ulen < FAB_UDP_HLEN || ulen > total - FAB_IPV4_MIN_HLEN)
			return false;
	} else if (proto != FAB_IPPROTO_TCP) {
		return false;
	}
	fab_copy6(f->dst_mac, data);
	fab_copy6(f->src_mac, data + 6);
	f->ethertype = FAB_ETHERTYPE_IPV4;
	f->len = len;
	f->l3_off = FAB_ETH_HLEN;
	f->l4_off = FAB_ETH_HLEN + FAB_IPV4_MIN_HLEN;
	f->l4_len = (uint16_t)(total - FAB_IPV4_MIN_HLEN);
	f->vlan_count = 0;
	f->kind = FAB_L3_IPV4;
	f->l4_proto = proto;
	f->fragment = 0;
	f->has_ports = 1;
	f->hop_limit = ip[8];
	f->sport = fab_load_be16(l4);
	f->dport = fab_load_be16(l4 + 2);
	f->ip4_src = fab_load_be32(ip + 12);
	f->ip4_dst = fab_load_be32(ip + 16);
	f->nd_type = 0;
	f->nd_flags = 0;
	f->arp_op = 0;
	return true;
}

/* Parses the inner frame of a VXLAN frame into `f`, overwriting the outer result. The
 * inner frame ends where UDP says, not at the end of a padded outer frame. */
FAB_INLINE int fab_parse_inner(const uint8_t *data, const struct fab_vxlan *vx,
			       struct fab_frame *f)
{
	return fab_parse_frame(data + vx->inner_off, data + vx->inner_off + vx->inner_len, f);
}

#endif
