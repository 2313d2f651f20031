/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Compiles the forwarding core for the BPF target, as the XDP program will: every parser,
 * the decision and the rewrites, over the real XDP packet pointers. Built by the test
 * command so that a change that breaks `clang -target bpf` fails the build, before the
 * XDP backend exists to catch it.
 */
#include <linux/bpf.h>

#include "fab_decide.h"
#include "fab_rewrite.h"

#define SEC(name) __attribute__((section(name), used))

SEC("xdp")
int fab_core_check(struct xdp_md *ctx)
{
	uint8_t *data = (uint8_t *)(long)ctx->data;
	uint8_t *end = (uint8_t *)(long)ctx->data_end;
	struct fab_host_ctx host = {.vtep = 0xc0000201};
	struct fab_verdict v;
	struct fab_frame f;
	struct fab_vxlan vx;
	int ret;

	ret = fab_parse_frame(data, end, &f);
	if (ret == 0 && fab_frame_is_vxlan_to(&f, host.vtep)) {
		int inner = 0;

		ret = fab_parse_vxlan_outer(data, end, &f, &vx);
		if (ret == 0)
			inner = fab_parse_inner(data, &vx, &f);
		fab_decide_overlay(&v, ret, &vx, true, true, inner, &f, NULL);
	} else {
		fab_decide_underlay(&v, &host, ret, &f);
	}
	if (v.action == FAB_ACT_ARP_REPLY && fab_arp_reply_write(data, end, &f, host.mac) == 0)
		return XDP_TX;
	return v.action == FAB_ACT_DROP ? XDP_DROP : (int)(fab_flow_hash(&f) & 1) + XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
