/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The forwarding core's parse + decide (+ rewrite) cost in nanoseconds per packet, for
 * the three paths that carry a migrating VM's traffic, over 65536 distinct flows:
 *   encap   VM port -> remote endpoint: parse, decide, flow hash, VXLAN header
 *   decap   uplink VXLAN -> local VM: outer parse and checks, inner parse, decide
 *   forward uplink VXLAN -> forwarding endpoint: the above plus a new marked header
 * and, as the floor measured in the same run, `touch`: reading each frame's ethertype
 * and nothing else. Table lookups are not part of this figure (the backends' tables are
 * measured by their own benchmarks); each frame's lookup result is given.
 *
 * Prints the median of several runs of each as BENCH lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fab_decide.h"
#include "fab_rewrite.h"

#define FLOWS 65536
#define FRAME_LEN 64
#define ROUNDS 40
#define RUNS 7

static uint8_t vm_frames[FLOWS][FRAME_LEN];
static uint8_t vx_frames[FLOWS][FAB_VXLAN_ENCAP_LEN + FRAME_LEN];
static volatile uint32_t sink;

static const struct fab_host_ctx host = {.vtep = 0xc0000201, .mac = {2, 0, 0, 0, 1, 1}};
static const struct fab_port_ctx port = {.vni = 100, .index = 1, .bound = FAB_EP_LOCAL,
					 .mac = {0x52, 0x54, 0, 0, 0, 1}};
static const struct fab_endpoint remote = {.state = FAB_EP_REMOTE, .vtep = 0xc0000202,
					   .generation = 3};
static const struct fab_endpoint local = {.state = FAB_EP_LOCAL, .port = 1, .generation = 3};
static const struct fab_endpoint forwarding = {.state = FAB_EP_FORWARDING, .vtep = 0xc0000203,
					       .generation = 4};

/* Ethernet / IPv4 / UDP from the VM to a remote endpoint, flow `i` in the ports. */
static void build_vm_frame(uint8_t *p, uint32_t i)
{
	static const uint8_t hdr[] = {0x52, 0x54, 0, 0, 0, 2, 0x52, 0x54, 0, 0, 0, 1, 0x08, 0x00,
				      0x45, 0, 0, 50, 0, 0, 0x40, 0, 64, 17, 0, 0, 10, 0, 0, 1,
				      10, 0, 0, 2};

	memset(p, 0, FRAME_LEN);
	memcpy(p, hdr, sizeof(hdr));
	fab_store_be16(p + 34, (uint16_t)(1024 + (i & 0xff)));
	fab_store_be16(p + 36, (uint16_t)(2048 + (i >> 8)));
	fab_store_be16(p + 38, 30);
}

static void build_vx_frame(uint8_t *p, uint32_t i)
{
	struct fab_encap e = {.src_mac = {2, 0, 0, 0, 1, 2}, .dst_mac = {2, 0, 0, 0, 1, 1},
			      .src_ip = 0xc0000202, .dst_ip = 0xc0000201, .vni = 100};
	struct fab_frame f;

	build_vm_frame(p + FAB_VXLAN_ENCAP_LEN, i);
	fab_parse_frame(p + FAB_VXLAN_ENCAP_LEN, p + FAB_VXLAN_ENCAP_LEN + FRAME_LEN, &f);
	fab_vxlan_write(p, &e, FRAME_LEN, fab_vxlan_sport(fab_flow_hash(&f)));
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static uint32_t run_touch(void)
{
	uint32_t acc = 0;

	for (uint32_t i = 0; i < FLOWS; i++)
		acc += fab_load_be16(vm_frames[i] + 12);
	return acc;
}

static uint32_t run_encap(void)
{
	static uint8_t out[FAB_VXLAN_ENCAP_LEN];
	uint32_t acc = 0;

	for (uint32_t i = 0; i < FLOWS; i++) {
		const uint8_t *p = vm_frames[i];
		struct fab_verdict v;
		struct fab_frame f;
		int ret = fab_parse_frame(p, p + FRAME_LEN, &f);

		fab_decide_vm(&v, &port, ret, &f, &remote, NULL);
		if (v.action == FAB_ACT_ENCAP) {
			struct fab_encap e = {.src_ip = host.vtep, .dst_ip = v.vtep, .vni = v.vni,
					      .mark = v.mark};

			fab_vxlan_write(out, &e, FRAME_LEN, fab_vxlan_sport(fab_flow_hash(&f)));
			acc += out[FAB_ETH_HLEN + FAB_IPV4_MIN_HLEN];
		}
	}
	return acc;
}

static uint32_t run_overlay(const struct fab_endpoint *dst)
{
	static uint8_t out[FAB_VXLAN_ENCAP_LEN];
	uint32_t acc = 0;

	for (uint32_t i = 0; i < FLOWS; i++) {
		const uint8_t *p = vx_frames[i];
		const uint8_t *end = p + sizeof(vx_frames[i]);
		struct fab_verdict v;
		struct fab_frame f;
		struct fab_vxlan vx = {0};
		int ret = fab_parse_frame(p, end, &f), inner = 0;

		if (ret == 0 && fab_frame_is_vxlan_to(&f, host.vtep)) {
			ret = fab_parse_vxlan_outer(p, end, &f, &vx);
			if (ret == 0)
				inner = fab_parse_inner(p, &vx, &f);
		}
		fab_decide_overlay(&v, ret, &vx, true, true, inner, &f, dst);
		if (v.action == FAB_ACT_ENCAP) {
			struct fab_encap e = {.src_ip = host.vtep, .dst_ip = v.vtep, .vni = v.vni,
					      .mark = v.mark};

			fab_vxlan_write(out, &e, vx.inner_len, fab_vxlan_sport(fab_flow_hash(&f)));
			acc += out[FAB_ETH_HLEN + FAB_IPV4_MIN_HLEN];
		}
		acc += v.action + v.port;
	}
	return acc;
}

static uint32_t run_decap(void)
{
	return run_overlay(&local);
}

static uint32_t run_forward(void)
{
	return run_overlay(&forwarding);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median_ns_per_packet(uint32_t (*fn)(void))
{
	double runs[RUNS];

	for (int r = 0; r < RUNS; r++) {
		double t0 = now_ns();

		for (int k = 0; k < ROUNDS; k++)
			sink += fn();
		runs[r] = (now_ns() - t0) / ((double)ROUNDS * FLOWS);
	}
	qsort(runs, RUNS, sizeof(runs[0]), cmp_double);
	return runs[RUNS / 2];
}

int main(void)
{
	struct {
		const char *name;
		uint32_t (*fn)(void);
		double ns;
	} cases[] = {
		{"touch", run_touch, 0},
		{"encap", run_encap, 0},
		{"decap", run_decap, 0},
		{"forward", run_forward, 0},
	};
	const int n = (int)(sizeof(cases) / sizeof(cases[0]));

	for (uint32_t i = 0; i < FLOWS; i++) {
		build_vm_frame(vm_frames[i], i);
		build_vx_frame(vx_frames[i], i);
	}
	/* Warm the caches and the branch predictors once for every path. */
	for (int i = 0; i < n; i++)
		sink += cases[i].fn();
	for (int i = 0; i < n; i++) {
		cases[i].ns = median_ns_per_packet(cases[i].fn);
		printf("BENCH core_%s_ns %.2f ns\n", cases[i].name, cases[i].ns);
	}
	for (int i = 1; i < n; i++)
		printf("BENCH core_%s_vs_touch %.2f x\n", cases[i].name, cases[i].ns / cases[0].ns);
	printf("BENCH core_encap_mpps_one_core %.1f Mpps\n", 1e3 / cases[1].ns);
	return 0;
}
