/* SPDX-License-Identifier: Apache-2.0 */
/* What the parsers extract from well-formed frames, and the rules they apply. The packet
 * vectors check whole decisions; these check the fields the decisions stand on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "fab_parse.h"
#include "fab_rewrite.h"

/* Builds frames byte by byte: the test states every byte it means. */
struct builder {
	uint8_t buf[512];
	size_t len;
};

static void put(struct builder *b, const void *p, size_t n)
{
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static void put8(struct builder *b, uint8_t v)
{
	put(b, &v, 1);
}

static void put16(struct builder *b, uint16_t v)
{
	put8(b, (uint8_t)(v >> 8));
	put8(b, (uint8_t)v);
}

static void put32(struct builder *b, uint32_t v)
{
	put16(b, (uint16_t)(v >> 16));
	put16(b, (uint16_t)v);
}

static const uint8_t mac_a[6] = {0x52, 0x54, 0, 0, 0, 1};
static const uint8_t mac_b[6] = {0x52, 0x54, 0, 0, 0, 2};

static void eth(struct builder *b, uint16_t type)
{
	put(b, mac_b, 6);
	put(b, mac_a, 6);
	put16(b, type);
}

/* IPv4 with `opt_words` 4-byte words of options (NOPs), carrying UDP 1111 -> 2222. */
static void ipv4_udp(struct builder *b, int opt_words, uint16_t frag)
{
	uint16_t ihl = (uint16_t)(20 + 4 * opt_words);

	put8(b, (uint8_t)(0x40 | ihl / 4));
	put8(b, 0);
	put16(b, (uint16_t)(ihl + 8 + 4));
	put16(b, 1);
	put16(b, frag);
	put8(b, 64);
	put8(b, 17);
	put16(b, 0);
	put32(b, 0x0a000001);
	put32(b, 0x0a000002);
	for (int i = 0; i < opt_words * 4; i++)
		put8(b, 1);
	put16(b, 1111);
	put16(b, 2222);
	put16(b, 12);
	put16(b, 0);
	put32(b, 0xdeadbeef);
}

static int parse(struct builder *b, struct fab_frame *f)
{
	return fab_parse_frame(b->buf, b->buf + b->len, f);
}

static void test_ipv4_udp_fields(void **state)
{
	struct builder b = {0};
	struct fab_frame f;

	(void)state;
	eth(&b, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&b, 0, 0);
	assert_int_equal(parse(&b, &f), 0);
	assert_int_equal(f.kind, FAB_L3_IPV4);
	assert_memory_equal(f.dst_mac, mac_b, 6);
	assert_memory_equal(f.src_mac, mac_a, 6);
	assert_int_equal(f.l3_off, 14);
	assert_int_equal(f.l4_off, 34);
	assert_int_equal(f.ip4_src, 0x0a000001);
	assert_int_equal(f.ip4_dst, 0x0a000002);
	assert_int_equal(f.l4_proto, 17);
	assert_true(f.has_ports);
	assert_int_equal(f.sport, 1111);
	assert_int_equal(f.dport, 2222);
}

static void test_ipv4_options_move_l4(void **state)
{
	struct builder b = {0};
	struct fab_frame f;

	(void)state;
	eth(&b, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&b, 10, 0); /* the largest header: 60 bytes */
	assert_int_equal(parse(&b, &f), 0);
	assert_int_equal(f.l4_off, 14 + 60);
	assert_int_equal(f.dport, 2222);
}

static void test_ipv4_fragments_have_no_ports(void **state)
{
	struct builder first = {0}, later = {0};
	struct fab_frame f;

	(void)state;
	eth(&first, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&first, 0, FAB_IPV4_MF);
	assert_int_equal(parse(&first, &f), 0);
	assert_true(f.fragment);
	assert_false(f.has_ports);
	eth(&later, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&later, 0, 3);
	assert_int_equal(parse(&later, &f), 0);
	assert_true(f.fragment);
	assert_false(f.has_ports);
}

static void test_vlan_tags(void **state)
{
	struct builder one = {0}, two = {0}, three = {0};
	struct fab_frame f;

	(void)state;
	eth(&one, FAB_ETHERTYPE_VLAN);
	put16(&one, 10);
	put16(&one, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&one, 0, 0);
	assert_int_equal(parse(&one, &f), 0);
	assert_int_equal(f.vlan_count, 1);
	assert_int_equal(f.l3_off, 18);
	assert_int_equal(f.ethertype, FAB_ETHERTYPE_IPV4);

	eth(&two, FAB_ETHERTYPE_QINQ);
	put16(&two, 10);
	put16(&two, FAB_ETHERTYPE_VLAN);
	put16(&two, 20);
	put16(&two, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&two, 0, 0);
	assert_int_equal(parse(&two, &f), 0);
	assert_int_equal(f.vlan_count, 2);
	assert_int_equal(f.l3_off, 22);

	eth(&three, FAB_ETHERTYPE_QINQ);
	for (int i = 0; i < 3; i++) {
		put16(&three, 10);
		put16(&three, FAB_ETHERTYPE_VLAN);
	}
	put32(&three, 0);
	assert_int_equal(parse(&three, &f), FAB_DROP_VLAN_TOO_MANY);
}

/* IPv6 with `n` destination-options headers (8 bytes each) before UDP. */
static void ipv6_ext_chain(struct builder *b, int n, uint8_t first_nh_override)
{
	uint8_t src[16] = {0xfd, 0, [15] = 1};
	uint8_t dst[16] = {0xfd, 0, [15] = 2};

	eth(b, FAB_ETHERTYPE_IPV6);
	put32(b, 0x60000000);
	put16(b, (uint16_t)(8 * n + 8));
	put8(b, first_nh_override ? first_nh_override : (n ? FAB_IPPROTO_DSTOPTS : FAB_IPPROTO_UDP));
	put8(b, 64);
	put(b, src, 16);
	put(b, dst, 16);
	for (int i = 0; i < n; i++) {
		put8(b, i + 1 < n ? FAB_IPPROTO_DSTOPTS : FAB_IPPROTO_UDP);
		put8(b, 0);
		put16(b, 0x0104); /* PadN of 4 bytes */
		put32(b, 0);
	}
	put16(b, 3333);
	put16(b, 4444);
	put16(b, 8);
	put16(b, 0);
}

static void test_ipv6_extension_rule(void **state)
{
	struct builder four = {0}, five = {0}, frag = {0};
	struct fab_frame f;

	(void)state;
	ipv6_ext_chain(&four, FAB_IPV6_MAX_EXT, 0);
	assert_int_equal(parse(&four, &f), 0);
	assert_int_equal(f.kind, FAB_L3_IPV6);
	assert_int_equal(f.l4_off, 14 + 40 + 8 * FAB_IPV6_MAX_EXT);
	assert_int_equal(f.sport, 3333);
	assert_int_equal(f.dport, 4444);

	ipv6_ext_chain(&five, FAB_IPV6_MAX_EXT + 1, 0);
	assert_int_equal(parse(&five, &f), FAB_DROP_IPV6_EXT_CHAIN_TOO_LONG);

	/* A fragment header (the same 8 bytes, read as one) keeps the ports out of the hash. */
	ipv6_ext_chain(&frag, 1, FAB_IPPROTO_FRAGMENT);
	assert_int_equal(parse(&frag, &f), 0);
	assert_true(f.fragment);
	assert_false(f.has_ports);
}

static void test_parsers_name_every_failure(void **state)
{
	struct builder b = {0};
	struct fab_frame f;

	(void)state;
	eth(&b, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&b, 0, 0);
	b.buf[14] = 0x44; /* IHL 4: 16 bytes */
	assert_int_equal(parse(&b, &f), FAB_DROP_IPV4_BAD_IHL);
	b.buf[14] = 0x55;
	assert_int_equal(parse(&b, &f), FAB_DROP_IPV4_BAD_VERSION);
	b.buf[14] = 0x45;
	b.buf[17] = 200; /* total length past the frame */
	assert_int_equal(parse(&b, &f), FAB_DROP_IPV4_BAD_LENGTH);
	b.buf[17] = 32;
	b.buf[14 + 20 + 5] = 40; /* UDP length past the IP payload */
	assert_int_equal(parse(&b, &f), FAB_DROP_UDP_BAD_LENGTH);
	b.buf[14 + 20 + 5] = 4; /* UDP length below its header */
	assert_int_equal(parse(&b, &f), FAB_DROP_UDP_BAD_LENGTH);
	b.len = 13;
	assert_int_equal(parse(&b, &f), FAB_DROP_ETH_TRUNCATED);
}

static void test_checksum_fold(void **state)
{
	/* RFC 1071's example header sums to 0xddf2 before complementing. */
	static const uint8_t hdr[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
				      0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

	(void)state;
	assert_int_equal(fab_csum_fold(fab_csum_add(0, hdr, hdr + sizeof(hdr), sizeof(hdr))), 0);
}

/* The word-wise header checksum check agrees with the RFC 1071 sum of 16-bit words on
 * the RFC's example, on random headers (about half of them given a valid checksum, some
 * of them all ones or zeros) and at every alignment. */
static void test_ip4_header_checksum_check(void **state)
{
	static const uint8_t rfc[] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
				      0xb8, 0x61, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};
	uint8_t buf[FAB_IPV4_MIN_HLEN + 8];
	uint64_t x = 0x2545f4914f6cdd1dull;
	unsigned int valid = 0;

	(void)state;
	assert_true(fab_ip4_hdr_csum_ok(rfc));
	for (int n = 0; n < 200000; n++) {
		uint8_t *ip = buf + n % 8;
		bool want;

		for (int i = 0; i < FAB_IPV4_MIN_HLEN; i++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			ip[i] = n % 11 == 0 ? 0xff : n % 13 == 0 ? 0 : (uint8_t)x;
		}
		if (n % 2) {
			fab_store_be16(ip + 10, 0);
			fab_store_be16(ip + 10, fab_csum_fold(fab_csum_add(0, ip, ip + FAB_IPV4_MIN_HLEN,
									  FAB_IPV4_MIN_HLEN)));
		}
		want = fab_csum_fold(fab_csum_add(0, ip, ip + FAB_IPV4_MIN_HLEN, FAB_IPV4_MIN_HLEN)) == 0;
		valid += want;
		assert_int_equal(fab_ip4_hdr_csum_ok(ip), want);
	}
	assert_true(valid > 90000); /* the valid half was really checked */
}

/* Runs both parsers on the frame; whenever the fast one takes it, the general one must
 * accept it and produce the same bytes in every field the fast one writes, and leave the
 * others as they were. Returns whether the fast one took it. */
static bool fast_agrees(const uint8_t *data, size_t len)
{
	struct fab_frame fast, general;
	bool took;

	memset(&fast, 0xa5, sizeof(fast));
	memset(&general, 0xa5, sizeof(general));
	took = fab_parse_ip4_fast(data, data + len, &fast);
	if (!took)
		return false;
	assert_int_equal(fab_parse_frame(data, data + len, &general), 0);
	assert_memory_equal(&fast, &general, sizeof(fast));
	return true;
}

static void test_ipv4_fast_takes_the_usual_frames(void **state)
{
	struct builder b = {0};
	struct fab_frame f;

	(void)state;
	eth(&b, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&b, 0, 0);
	assert_true(fast_agrees(b.buf, b.len));
	/* Ethernet padding after the datagram. */
	memset(b.buf + b.len, 0, 18);
	assert_true(fast_agrees(b.buf, b.len + 18));
	/* TCP: the same bytes, protocol 6, the ports read from the same place. */
	b.buf[14 + 9] = 6;
	assert_true(fast_agrees(b.buf, b.len));
	assert_true(fab_parse_ip4_fast(b.buf, b.buf + b.len, &f));
	assert_int_equal(f.sport, 1111);
	assert_int_equal(f.dport, 2222);
	assert_int_equal(f.l4_len, 12);
}

/* Every frame the fast parse leaves to the general one: other layouts and the malformed. */
static void test_ipv4_fast_leaves_the_rest(void **state)
{
	struct builder b = {0}, o = {0}, v = {0};
	struct fab_frame f;
	uint8_t t[512];

	(void)state;
	eth(&b, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&b, 0, 0);
#define LEAVES(edit, n)                                                               \
	do {                                                                          \
		memcpy(t, b.buf, b.len);                                              \
		edit;                                                                 \
		assert_false(fab_parse_ip4_fast(t, t + (n), &f));                     \
	} while (0)
	LEAVES((void)0, 14 + 20 + 7);                   /* short of a UDP header */
	LEAVES((void)0, 14 + 20 + 11);                  /* shorter than IPv4 says */
	LEAVES(t[14] = 0x46, b.len);                    /* options */
	LEAVES(t[14] = 0x65, b.len);                    /* version 6 */
	LEAVES(t[14] = 0x44, b.len);                    /* IHL too small */
	LEAVES(t[14 + 6] = 0x20, b.len);                /* MF: a first fragment */
	LEAVES(t[14 + 7] = 0x01, b.len);                /* a later fragment */
	LEAVES(t[14 + 9] = 1, b.len);                   /* ICMP */
	LEAVES(t[14 + 9] = 132, b.len);                 /* SCTP */
	LEAVES(t[14 + 3] = 27, b.len);                  /* IPv4 total under 20 + 8 */
	LEAVES(t[14 + 3] = 33, b.len);                  /* IPv4 total past the frame */
	LEAVES(t[14 + 20 + 5] = 7, b.len);              /* UDP length under 8 */
	LEAVES(t[14 + 20 + 5] = 13, b.len);             /* UDP length past IPv4's */
	LEAVES(t[12] = 0x86, b.len);                    /* not IPv4 */
#undef LEAVES
	/* DF is not fragmentation. */
	memcpy(t, b.buf, b.len);
	t[14 + 6] = 0x40;
	assert_true(fast_agrees(t, b.len));
	/* Options and VLAN tags: the general parse's. */
	eth(&o, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&o, 1, 0);
	assert_false(fab_parse_ip4_fast(o.buf, o.buf + o.len, &f));
	eth(&v, FAB_ETHERTYPE_VLAN);
	put16(&v, 100);
	put16(&v, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&v, 0, 0);
	assert_false(fab_parse_ip4_fast(v.buf, v.buf + v.len, &f));
	assert_int_equal(fab_parse_frame(v.buf, v.buf + v.len, &f), 0);
}

/* Random edits of the header bytes and random lengths: whenever the fast parse takes a
 * frame it agrees with the general one, and it takes every frame of its kind. */
/* Up to two random bytes of `t` changed, among the `span` from the ethertype on. */
static void random_edits(uint8_t *t, unsigned int span, uint32_t *seed)
{
	int edits;

	*seed = *seed * 1103515245u + 12345u;
	edits = (int)(*seed >> 16) % 3;
	for (int e = 0; e < edits; e++) {
		*seed = *seed * 1103515245u + 12345u;
		t[12 + (*seed >> 16) % span] = (uint8_t)(*seed >> 8);
	}
}

static void test_ipv4_fast_agrees_on_random_frames(void **state)
{
	struct builder b = {0};
	uint32_t seed = 12345;
	unsigned int taken = 0;

	(void)state;
	eth(&b, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&b, 0, 0);
	memset(b.buf + b.len, 0x5a, 64);
	for (int i = 0; i < 200000; i++) {
		uint8_t t[sizeof(b.buf)];
		struct fab_frame g;
		size_t len;

		memcpy(t, b.buf, b.len + 64);
		/* The bytes that matter: the ethertype, IPv4's and UDP's headers. */
		random_edits(t, 30, &seed);
		seed = seed * 1103515245u + 12345u;
		if ((seed >> 16) % 4 == 0)
			t[14 + 9] = 6;
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % 4 ? b.len + (seed >> 8) % 40 : (seed >> 8) % (b.len + 1);
		if (fast_agrees(t, len)) {
			taken++;
			continue;
		}
		/* Not taken: then not of its kind. */
		if (fab_parse_frame(t, t + len, &g) == 0 && g.ethertype == FAB_ETHERTYPE_IPV4 &&
		    g.vlan_count == 0 && g.l4_off == 34 && !g.fragment && g.l4_len >= 8 &&
		    (g.l4_proto == FAB_IPPROTO_UDP || g.l4_proto == FAB_IPPROTO_TCP))
			fail_msg("frame %d: the fast parse left a usual frame", i);
	}
	assert_true(taken > 10000);
}

/* The fixed-offset VXLAN parse against the general one (fab_parse_frame,
 * fab_frame_is_vxlan_to, fab_parse_vxlan_outer) on randomly edited outer headers: what
 * it takes, the general one takes too, with the same result; what the general one takes
 * in the usual layout (no VLAN tag, no IPv4 options), it takes. */
static void test_vxlan_fast_agrees_on_random_frames(void **state)
{
	const uint32_t vtep = 0xc0000201, peer = 0xc0000202;
	struct fab_encap e = {.src_mac = {2, 0, 0, 0, 0, 2}, .dst_mac = {2, 0, 0, 0, 0, 1},
			      .src_ip = peer, .dst_ip = vtep, .vni = 0x123456, .mark = 1};
	struct builder inner = {0};
	uint8_t frame[FAB_VXLAN_ENCAP_LEN + sizeof(inner.buf)];
	size_t flen;
	uint32_t seed = 4242;
	unsigned int taken = 0;

	(void)state;
	eth(&inner, FAB_ETHERTYPE_IPV4);
	ipv4_udp(&inner, 0, 0);
	fab_vxlan_write(frame, &e, (uint16_t)inner.len, 50000);
	memcpy(frame + FAB_VXLAN_ENCAP_LEN, inner.buf, inner.len);
	flen = FAB_VXLAN_ENCAP_LEN + inner.len;
	for (int i = 0; i < 200000; i++) {
		uint8_t t[sizeof(frame) + 16];
		struct fab_vxlan vf, vg;
		struct fab_frame f;
		bool fast, general;
		size_t len;

		memset(t, 0x5a, sizeof(t));
		memcpy(t, frame, flen);
		/* The outer headers: ethertype, IPv4, UDP, VXLAN. */
		random_edits(t, 38, &seed);
		seed = seed * 1103515245u + 12345u;
		len = (seed >> 16) % 4 ? flen + (seed >> 8) % 16 : (seed >> 8) % (flen + 1);
		memset(&vf, 0, sizeof(vf));
		memset(&vg, 0, sizeof(vg));
		fast = fab_parse_vxlan_fast(t, t + len, vtep, &vf);
		general = fab_parse_frame(t, t + len, &f) == 0 && fab_frame_is_vxlan_to(&f, vtep) &&
			  fab_parse_vxlan_outer(t, t + len, &f, &vg) == 0;
		if (fast) {
			taken++;
			if (!general)
				fail_msg("frame %d: the fast parse took what the general one refuses", i);
			assert_int_equal(vf.src_vtep, vg.src_vtep);
			assert_int_equal(vf.dst_vtep, vg.dst_vtep);
			assert_int_equal(vf.vni, vg.vni);
			assert_int_equal(vf.marked, vg.marked);
			assert_int_equal(vf.inner_off, vg.inner_off);
			assert_int_equal(vf.inner_len, vg.inner_len);
		} else if (general && f.vlan_count == 0 && f.l4_off == FAB_ETH_HLEN + FAB_IPV4_MIN_HLEN) {
			fail_msg("frame %d: the fast parse left a usual frame", i);
		}
	}
	assert_true(taken > 10000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ipv4_udp_fields),
		cmocka_unit_test(test_ipv4_options_move_l4),
		cmocka_unit_test(test_ipv4_fragments_have_no_ports),
		cmocka_unit_test(test_vlan_tags),
		cmocka_unit_test(test_ipv6_extension_rule),
		cmocka_unit_test(test_parsers_name_every_failure),
		cmocka_unit_test(test_checksum_fold),
		cmocka_unit_test(test_ip4_header_checksum_check),
		cmocka_unit_test(test_ipv4_fast_takes_the_usual_frames),
		cmocka_unit_test(test_ipv4_fast_leaves_the_rest),
		cmocka_unit_test(test_ipv4_fast_agrees_on_random_frames),
		cmocka_unit_test(test_vxlan_fast_agrees_on_random_frames),
	};

	return cmocka_run_group_tests_name("parsers", tests, NULL, NULL);
}
