/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Carrying out a verdict: the flow hash that picks the VXLAN source port, the VXLAN
 * encapsulation header, and the in-place rewrites that turn an ARP request or a neighbour
 * solicitation into its answer. Header-only, for gcc and `clang -target bpf` alike.
 */
#ifndef FAB_REWRITE_H
#define FAB_REWRITE_H

#include "fab_compat.h"
#include "fab_parse.h"
#include "fab_proto.h"

#define FAB_VXLAN_SPORT_MIN 49152 /* the dynamic range, as RFC 7348 recommends */
#define FAB_OUTER_TTL 64

/*
 * The hash of an inner flow: a multilinear hash (Lemire and Kaser, "Strongly universal
 * string hashing is fast", 2014) over a list of 32-bit words w[0..n-1], each read
 * big-endian from the wire:
 *   IPv4:  source, destination, sport << 16 | dport, protocol
 *   IPv6:  source (4 words), destination (4 words), sport << 16 | dport, next header
 *   other: destination MAC bytes 0-3, bytes 4-5 << 16 | source MAC bytes 0-1,
 *          source MAC bytes 2-5, ethertype
 * Ports are zero for fragments and for protocols without ports. With the K below,
 * x = (K[0] + K[1] * w[0] + ... + K[n] * w[n-1]) mod 2^64, then a finaliser:
 * x ^= x >> 32; x *= 0xff51afd7ed558ccd (mod 2^64); x ^= x >> 32; the hash is x's low 32
 * bits. The sum alone is linear in each word, so flows that differ in one word (the
 * destination port of a server's replies) walked the source ports in strides and used
 * half of them; the finaliser mixes every bit into the low ones. The products are
 * independent, so the hash costs two multiplies' latency, not MurmurHash3's chain (12% of
 * the encap worker). The specification is written out here because the test vectors
 * recompute it independently.
 */
#define FAB_FLOW_HASH_WORDS_MAX 10
#define FAB_FLOW_HASH_FINAL 0xff51afd7ed558ccdull

static const uint64_t fab_flow_hash_k[FAB_FLOW_HASH_WORDS_MAX + 1] = {
	0xa72706904499b695ull, 0x9a2b2896fc76e2f7ull, 0xc574b814e8fdb921ull,
	0x34d86a5ec2687271ull, 0xf100296da8467957ull, 0xfccdc080d594e1ebull,
	0xc5f36c88fd1db953ull, 0x82fbefeb23611d43ull, 0xf79b7baf3406b13full,
	0x6f27b1602655ee57ull, 0x42a9671be9ff84e3ull,
};

FAB_INLINE uint32_t fab_flow_hash_final(uint64_t x)
{
	x ^= x >> 32;
	x *= FAB_FLOW_HASH_FINAL;
	return (uint32_t)(x ^ (x >> 32));
}

FAB_INLINE uint32_t fab_flow_hash4(uint32_t w0, uint32_t w1, uint32_t w2, uint32_t w3)
{
	uint64_t a = fab_flow_hash_k[0] + fab_flow_hash_k[1] * w0;
	uint64_t b = fab_flow_hash_k[2] * w1 + fab_flow_hash_k[3] * w2;

	return fab_flow_hash_final(a + b + fab_flow_hash_k[4] * w3);
}

FAB_INLINE uint32_t fab_flow_hash(const struct fab_frame *f)
{
	uint32_t ports = f->has_ports ? (uint32_t)f->sport << 16 | f->dport : 0;
	uint64_t h;
	int i;

	if (f->kind == FAB_L3_IPV4)
		return fab_flow_hash4(f->ip4_src, f->ip4_dst, ports, f->l4_proto);
	if (f->kind == FAB_L3_IPV6) {
		h = fab_flow_hash_k[0];
	FAB_UNROLL
		for (i = 0; i < 4; i++) {
			h += fab_flow_hash_k[1 + i] * fab_load_be32(f->ip6_src + 4 * i);
			h += fab_flow_hash_k[5 + i] * fab_load_be32(f->ip6_dst + 4 * i);
		}
		h += fab_flow_hash_k[9] * ports + fab_flow_hash_k[10] * f->l4_proto;
		return fab_flow_hash_final(h);
	}
	return fab_flow_hash4(fab_load_be32(f->dst_mac),
			      (uint32_t)fab_load_be16(f->dst_mac + 4) << 16 |
				      fab_load_be16(f->src_mac),
			      fab_load_be32(f->src_mac + 2), f->ethertype);
}

FAB_INLINE uint16_t fab_vxlan_sport(uint32_t hash)
{
	return (uint16_t)(FAB_VXLAN_SPORT_MIN | (hash & 0x3fff));
}

/* Where an encapsulated frame goes: the outer addresses. IPv4 in host byte order. */
struct fab_encap {
	uint8_t src_mac[6]; /* this host's underlay MAC */
	uint8_t dst_mac[6]; /* the underlay next hop towards dst_ip */
	uint32_t src_ip;    /* this host's VTEP */
	uint32_t dst_ip;    /* the destination host's VTEP */
	uint32_t vni;
	uint8_t mark; /* set the forwarded-by-source marker */
};

/*
 * Writes the FAB_VXLAN_ENCAP_LEN (50) bytes of outer Ethernet, IPv4, UDP and VXLAN
 * headers at `hdr`, in front of an inner frame of `inner_len` bytes. IPv4: no options,
 * DSCP 0, identification 0, don't-fragment set, TTL 64, checksum filled in. UDP:
 * source port from the inner flow hash, destination 4789, checksum zero (allowed for
 * VXLAN over IPv4). VXLAN: the I flag, the marker if asked, the VNI.
 */
FAB_INLINE void fab_vxlan_write(uint8_t *hdr, const struct fab_encap *e, uint16_t inner_len,
				uint16_t sport)
{
	uint8_t *ip = hdr + FAB_ETH_HLEN;
	uint8_t *udp = ip + FAB_IPV4_MIN_HLEN;
	uint8_t *vx = udp + FAB_UDP_HLEN;
	uint16_t total = (uint16_t)(FAB_IPV4_MIN_HLEN + FAB_UDP_HLEN + FAB_VXLAN_HLEN + inner_len);
	/* The header checksum from the values written, not read back from the frame: loads
	 * of bytes just stored cannot be served from the store buffer, and stall. */
	uint32_t sum = 0x4500u + total + FAB_IPV4_DF + (FAB_OUTER_TTL << 8 | FAB_IPPROTO_UDP) +
		       (e->src_ip >> 16) + (e->src_ip & 0xffff) + (e->dst_ip >> 16) +
		       (e->dst_ip & 0xffff);

	fab_copy6(hdr, e->dst_mac);
	fab_copy6(hdr + 6, e->src_mac);
	fab_store_be16(hdr + 12, FAB_ETHERTYPE_IPV4);

	ip[0] = 0x45;
	ip[1] = 0;
	fab_store_be16(ip + 2, total);
	fab_store_be16(ip + 4, 0);
	fab_store_be16(ip + 6, FAB_IPV4_DF);
	ip[8] = FAB_OUTER_TTL;
	ip[9] = FAB_IPPROTO_UDP;
	fab_store_be16(ip + 10, fab_csum_fold(sum));
	fab_store_be32(ip + 12, e->src_ip);
	fab_store_be32(ip + 16, e->dst_ip);

	fab_store_be16(udp, sport);
	fab_store_be16(udp + 2, FAB_VXLAN_PORT);
	fab_store_be16(udp + 4, (uint16_t)(FAB_UDP_HLEN + FAB_VXLAN_HLEN + inner_len));
	fab_store_be16(udp + 6, 0);

	vx[0] = FAB_VXLAN_FLAG_VNI;
	vx[1] = e->mark ? FAB_VXLAN_MARK_BIT : 0;
	vx[2] = 0;
	vx[3] = 0;
	fab_store_be32(vx + 4, e->vni << 8);
}

/*
 * The VXLAN header of a frame from a template: `tmpl` is what fab_vxlan_write() wrote for
 * one destination host with an empty inner frame, source port 0, VNI 0 and no marker.
 * Copies it to `hdr` and sets what differs per frame: the IPv4 and UDP lengths for
 * `inner_len` bytes, the IPv4 checksum updated for them (RFC 1624), the source port, the
 * marker and the VNI. The result is byte for byte fab_vxlan_write()'s with those values;
 * a backend keeps one template per destination host and saves writing the rest.
 */
FAB_INLINE void fab_vxlan_from_template(uint8_t *hdr, const uint8_t *tmpl, uint16_t inner_len,
					uint16_t sport, uint32_t vni, uint8_t mark)
{
	uint8_t *ip = hdr + FAB_ETH_HLEN;
	uint8_t *udp = ip + FAB_IPV4_MIN_HLEN;
	uint8_t *vx = udp + FAB_UDP_HLEN;
	/* The template's sum, recovered from its checksum, plus the added length: one's
	 * complement sums agree modulo 0xffff and neither is zero. */
	uint32_t sum = (uint16_t)~fab_load_be16(tmpl + FAB_ETH_HLEN + 10) + (uint32_t)inner_len;

	__builtin_memcpy(hdr, tmpl, FAB_VXLAN_ENCAP_LEN);
	fab_store_be16(ip + 2, (uint16_t)(FAB_IPV4_MIN_HLEN + FAB_UDP_HLEN + FAB_VXLAN_HLEN + inner_len));
	fab_store_be16(ip + 10, fab_csum_fold(sum));
	fab_store_be16(udp, sport);
	fab_store_be16(udp + 4, (uint16_t)(FAB_UDP_HLEN + FAB_VXLAN_HLEN + inner_len));
	vx[1] = mark ? FAB_VXLAN_MARK_BIT : 0;
	fab_store_be32(vx + 4, vni << 8);
}

/*
 * Turns the ARP request parsed in `f` (the frame at `data`, checked to hold the ARP
 * header) into the reply from `answer_mac`, in place: Ethernet back to the asker, VLAN
 * tags kept, the frame's length and padding unchanged.
 */
FAB_INLINE int fab_arp_reply_write(uint8_t *data, const uint8_t *end, const struct fab_frame *f,
				   const uint8_t *answer_mac)
{
	uint8_t *a = data + f->l3_off;

	if (a + FAB_ARP_LEN > end)
		return FAB_DROP_ARP_TRUNCATED;
	fab_copy6(data, f->src_mac);
	fab_copy6(data + 6, answer_mac);
	fab_store_be16(a + 6, FAB_ARP_OP_REPLY);
	fab_copy6(a + 8, answer_mac);
	fab_store_be32(a + 14, f->arp_tpa);
	fab_copy6(a + 18, f->arp_sha);
	fab_store_be32(a + 24, f->arp_spa);
	return 0;
}

/* The length of the neighbour advertisement that fab_nd_reply_write() makes: the
 * request's Ethernet and VLAN headers, IPv6, and NA with a target link-layer option. */
FAB_INLINE uint16_t fab_nd_reply_len(const struct fab_frame *f)
{
	return (uint16_t)(f->l3_off + FAB_IPV6_HLEN + FAB_ND_MSG_LEN + 8);
}

/*
 * Turns the neighbour solicitation parsed in `f` into the solicited, overriding
 * advertisement from `answer_mac` for the asked target, with a target link-layer address
 * option. The result is fab_nd_reply_len() bytes long: the caller makes the frame that
 * long (it may grow by 8 bytes or shrink) and `end` must lie at or past that length.
 * Returns 0 or FAB_DROP_ENCAP_NO_ROOM.
 */
FAB_INLINE int fab_nd_reply_write(uint8_t *data, const uint8_t *end, const struct fab_frame *f,
				  const uint8_t *answer_mac)
{
	uint8_t *ip = data + f->l3_off;
	uint8_t *na = ip + FAB_IPV6_HLEN;
	uint16_t plen = FAB_ND_MSG_LEN + 8;
	uint32_t sum;
	int i;

	if (na + FAB_ND_MSG_LEN + 8 > end)
		return FAB_DROP_ENCAP_NO_ROOM;
	fab_copy6(data, f->src_mac);
	fab_copy6(data + 6, answer_mac);

	ip[0] = 0x60;
	ip[1] = 0;
	ip[2] = 0;
	ip[3] = 0;
	fab_store_be16(ip + 4, plen);
	ip[6] = FAB_IPPROTO_ICMPV6;
	ip[7] = 255;
	fab_copy16(ip + 8, f->nd_target);
	fab_copy16(ip + 24, f->ip6_src);

	na[0] = FAB_ICMPV6_NA;
	na[1] = 0;
	na[2] = 0;
	na[3] = 0;
	na[4] = FAB_ND_NA_SOLICITED | FAB_ND_NA_OVERRIDE;
	na[5] = 0;
	na[6] = 0;
	na[7] = 0;
	fab_copy16(na + 8, f->nd_target);
	na[24] = FAB_ND_OPT_TLLA;
	na[25] = 1;
	fab_copy6(na + 26, answer_mac);

	/* The checksum covers the pseudo header (addresses, length, next header) and the
	 * message. */
	sum = plen + FAB_IPPROTO_ICMPV6;
	FAB_UNROLL
	for (i = 0; i < 32; i += 2)
		sum += fab_load_be16(ip + 8 + i);
	FAB_UNROLL
	for (i = 0; i < FAB_ND_MSG_LEN + 8; i += 2)
		sum += fab_load_be16(na + i);
	fab_store_be16(na + 2, fab_csum_fold(sum));
	return 0;
}

#endif
