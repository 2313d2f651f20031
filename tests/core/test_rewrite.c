/* SPDX-License-Identifier: Apache-2.0 */
/* The flow hash, the VXLAN header and the in-place replies. The vectors compare whole
 * frames with scapy's; these pin the pieces: the flow hash against known answers of an
 * independent implementation, and what a receiver checks (checksums, lengths, flags). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "fab_rewrite.h"

/* Known answers from tests/vectors/gen.py's implementation of the specification. */
static void test_flow_hash_reference_values(void **state)
{
	struct fab_frame v4 = {.kind = FAB_L3_IPV4, .ip4_src = 0x0a000001, .ip4_dst = 0x0a000002,
			       .l4_proto = 17, .has_ports = 1, .sport = 10, .dport = 20};
	struct fab_frame v6 = {.kind = FAB_L3_IPV6, .ip6_src = {0x20, 0x01, 0x0d, 0xb8, [15] = 1},
			       .ip6_dst = {0x20, 0x01, 0x0d, 0xb8, [15] = 2}, .l4_proto = 6,
			       .has_ports = 1, .sport = 443, .dport = 5000};
	struct fab_frame l2 = {.kind = FAB_L3_OTHER, .dst_mac = {2, 0, 0, 0, 0, 1},
			       .src_mac = {2, 0, 0, 0, 0, 2}, .ethertype = 0x88b5};

	(void)state;
	assert_int_equal(fab_flow_hash(&v4), 0x9e6baedf);
	assert_int_equal(fab_flow_hash(&v6), 0x6485987e);
	assert_int_equal(fab_flow_hash(&l2), 0x8fce1776);
}

static void test_sport_in_dynamic_range(void **state)
{
	(void)state;
	assert_int_equal(fab_vxlan_sport(0), 49152);
	assert_int_equal(fab_vxlan_sport(0xffffffff), 65535);
	assert_int_equal(fab_vxlan_sport(0x12345678) & 0xc000, 0xc000);
}

static void test_flow_hash_depends_on_flow(void **state)
{
	struct fab_frame a = {.kind = FAB_L3_IPV4, .ip4_src = 1, .ip4_dst = 2, .l4_proto = 17,
			      .has_ports = 1, .sport = 10, .dport = 20};
	struct fab_frame b = a;

	(void)state;
	assert_int_equal(fab_flow_hash(&a), fab_flow_hash(&b));
	b.sport = 11;
	assert_int_not_equal(fab_flow_hash(&a), fab_flow_hash(&b));
	/* Without ports (a fragment), every packet of the datagram hashes alike. */
	a.has_ports = 0;
	b.has_ports = 0;
	assert_int_equal(fab_flow_hash(&a), fab_flow_hash(&b));
}

/* ECMP on the underlay spreads what the source ports spread: 65536 flows of one VM pair
 * (source ports 0..65535, then destination ports, then destination addresses varying in
 * their low and then their high 16 bits) must use nearly all of the 16384 source ports,
 * none much more than the others (uniform: about 16084 used, at most about 15 flows on
 * one port). */
static void test_flow_hash_spreads_source_ports(void **state)
{
	static uint16_t flows_on[16384];
	struct fab_frame f = {.kind = FAB_L3_IPV4, .ip4_src = 0x0a000001, .ip4_dst = 0x0a000002,
			      .l4_proto = 6, .has_ports = 1, .dport = 443};

	(void)state;
	for (int pass = 0; pass < 4; pass++) {
		struct fab_frame g = f;
		unsigned int used = 0, most = 0;

		memset(flows_on, 0, sizeof(flows_on));
		for (uint32_t i = 0; i < 65536; i++) {
			if (pass == 0)
				g.sport = (uint16_t)i;
			else if (pass == 1)
				g.dport = (uint16_t)i;
			else if (pass == 2)
				g.ip4_dst = 0x0a000000 + i;
			else
				g.ip4_dst = i << 16 | 2;
			flows_on[fab_vxlan_sport(fab_flow_hash(&g)) - FAB_VXLAN_SPORT_MIN]++;
		}
		for (unsigned int p = 0; p < 16384; p++) {
			used += flows_on[p] != 0;
			most = flows_on[p] > most ? flows_on[p] : most;
		}
		assert_true(used >= 15800);
		assert_true(most <= 24);
	}
}

static void test_vxlan_header_parses_back(void **state)
{
	uint8_t frame[FAB_VXLAN_ENCAP_LEN + 64] = {0};
	uint8_t *inner = frame + FAB_VXLAN_ENCAP_LEN;
	struct fab_encap e = {.src_mac = {2, 0, 0, 0, 1, 1}, .dst_mac = {2, 0, 0, 0, 1, 2},
			      .src_ip = 0xc0000201, .dst_ip = 0xc0000202, .vni = 0xabcdef, .mark = 1};
	struct fab_frame f;
	struct fab_vxlan vx = {0};

	(void)state;
	memset(inner, 0x52, 12); /* unicast-looking inner MACs */
	inner[0] = 0x52;
	inner[12] = 0x88;
	inner[13] = 0xb5; /* a local experimental ethertype: nothing to parse further */
	fab_vxlan_write(frame, &e, 64, 50000);
	assert_int_equal(fab_parse_frame(frame, frame + sizeof(frame), &f), 0);
	assert_true(fab_frame_is_vxlan_to(&f, 0xc0000202));
	assert_false(fab_frame_is_vxlan_to(&f, 0xc0000203));
	assert_int_equal(f.sport, 50000);
	assert_int_equal(f.hop_limit, FAB_OUTER_TTL);
	assert_int_equal(fab_parse_vxlan_outer(frame, frame + sizeof(frame), &f, &vx), 0);
	assert_int_equal(vx.vni, 0xabcdef);
	assert_true(vx.marked);
	assert_int_equal(vx.src_vtep, 0xc0000201);
	assert_int_equal(vx.inner_off, FAB_VXLAN_ENCAP_LEN);
	assert_int_equal(vx.inner_len, 64);
	/* Unmarked: the bit is clear and the frame is otherwise the same. */
	e.mark = 0;
	fab_vxlan_write(frame, &e, 64, 50000);
	assert_int_equal(fab_parse_frame(frame, frame + sizeof(frame), &f), 0);
	assert_int_equal(fab_parse_vxlan_outer(frame, frame + sizeof(frame), &f, &vx), 0);
	assert_false(vx.marked);
	/* A flipped bit in the outer IPv4 header is caught by its checksum. */
	frame[FAB_ETH_HLEN + 8] ^= 1;
	assert_int_equal(fab_parse_frame(frame, frame + sizeof(frame), &f), 0);
	assert_int_equal(fab_parse_vxlan_outer(frame, frame + sizeof(frame), &f, &vx),
			 FAB_DROP_IPV4_BAD_CHECKSUM);
}

/* A header from a template equals the one written whole, over many hosts, lengths, ports,
 * VNIs and markers (a small xorshift generator: the same cases every run). */
static void test_vxlan_template_equals_whole_write(void **state)
{
	uint64_t x = 0x9e3779b97f4a7c15ull;

	(void)state;
	for (int i = 0; i < 200000; i++) {
		struct fab_encap e = {.src_mac = {2, 0, 0, 0, 0, 1}, .dst_mac = {2, 0, 0, 0, 0, 2}};
		uint8_t whole[FAB_VXLAN_ENCAP_LEN], tmpl[FAB_VXLAN_ENCAP_LEN], from[FAB_VXLAN_ENCAP_LEN];
		uint16_t inner_len, sport;

		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		e.src_ip = (uint32_t)x;
		e.dst_ip = (uint32_t)(x >> 32);
		/* Extremes too: addresses of all ones or zeros, the longest inner frame. */
		if (i % 7 == 0)
			e.src_ip = e.dst_ip = i % 14 ? 0xffffffffu : 0;
		e.dst_mac[5] = (uint8_t)(x >> 8);
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
		inner_len = i % 5 == 0 ? (uint16_t)(0xffff - 36) : (uint16_t)(x % 9000);
		sport = (uint16_t)(x >> 16);
		e.vni = (uint32_t)(x >> 32) & 0xffffff;
		e.mark = (uint8_t)(x >> 60) & 1;
		fab_vxlan_write(whole, &e, inner_len, sport);
		/* What a receiver checks: the outer IPv4 header's checksum. */
		assert_int_equal(fab_csum_fold(fab_csum_add(0, whole + FAB_ETH_HLEN,
							   whole + FAB_ETH_HLEN + FAB_IPV4_MIN_HLEN,
							   FAB_IPV4_MIN_HLEN)),
				 0);
		{
			struct fab_encap t = e;

			t.vni = 0;
			t.mark = 0;
			fab_vxlan_write(tmpl, &t, 0, 0);
		}
		fab_vxlan_from_template(from, tmpl, inner_len, sport, e.vni, e.mark);
		assert_memory_equal(from, whole, sizeof(whole));
	}
}

static void test_nd_reply_checksum_verifies(void **state)
{
	/* A neighbour solicitation from fd00::1 for fd00::2, without options. */
	uint8_t frame[128] = {0x33, 0x33, 0xff, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1, 0x86, 0xdd,
			      0x60, 0, 0, 0, 0, 24, 58, 255};
	uint8_t *ip = frame + 14;
	const uint8_t answer[6] = {0x52, 0x54, 0, 0, 0, 2};
	const uint8_t asker[6] = {0x52, 0x54, 0, 0, 0, 1};
	const uint8_t solicited_node[16] = {0xff, 0x02, [11] = 1, [12] = 0xff, [15] = 2};
	struct fab_frame f;
	uint32_t sum;

	(void)state;
	ip[8] = 0xfd;
	ip[23] = 1;
	memcpy(ip + 24, solicited_node, 16);
	ip[40] = FAB_ICMPV6_NS;
	ip[48] = 0xfd;
	ip[63] = 2;
	assert_int_equal(fab_parse_frame(frame, frame + 14 + 40 + 24, &f), 0);
	assert_int_equal(f.nd_type, FAB_ICMPV6_NS);
	assert_int_equal(fab_nd_reply_write(frame, frame + sizeof(frame), &f, answer), 0);
	assert_int_equal(fab_nd_reply_len(&f), 14 + 40 + 32);
	assert_memory_equal(frame, asker, 6);
	assert_memory_equal(frame + 6, answer, 6);
	assert_int_equal(ip[40], FAB_ICMPV6_NA);
	assert_int_equal(ip[44], FAB_ND_NA_SOLICITED | FAB_ND_NA_OVERRIDE);
	/* A receiver's check: pseudo header plus message sums to 0xffff. */
	sum = 32 + 58;
	for (int i = 8; i < 40; i += 2)
		sum += (uint32_t)ip[i] << 8 | ip[i + 1];
	for (int i = 40; i < 72; i += 2)
		sum += (uint32_t)ip[i] << 8 | ip[i + 1];
	assert_int_equal(fab_csum_fold(sum), 0);
	/* No room for the reply: refused, nothing written past the end. */
	assert_int_equal(fab_nd_reply_write(frame, frame + 14 + 40 + 24, &f, answer),
			 FAB_DROP_ENCAP_NO_ROOM);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flow_hash_reference_values),
		cmocka_unit_test(test_flow_hash_spreads_source_ports),
		cmocka_unit_test(test_sport_in_dynamic_range),
		cmocka_unit_test(test_flow_hash_depends_on_flow),
		cmocka_unit_test(test_vxlan_header_parses_back),
		cmocka_unit_test(test_vxlan_template_equals_whole_write),
		cmocka_unit_test(test_nd_reply_checksum_verifies),
	};

	return cmocka_run_group_tests_name("rewrite", tests, NULL, NULL);
}
