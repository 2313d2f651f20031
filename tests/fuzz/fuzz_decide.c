/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the parse + decide path. The first input byte picks the port
 * the frame arrives on (uplink or one of two VM ports), the rest is the frame. The frame
 * is parsed in a buffer of exactly its size (so AddressSanitizer sees any read past the
 * end), then run through the whole reference pipeline against a table that holds an
 * endpoint in every state; every outcome must be a named verdict.
 */
#include <stdlib.h>
#include <string.h>

#include "ref_fabric.h"

static struct vec_case table;

static void add_endpoint(uint32_t vni, uint8_t last, uint8_t state, uint16_t port,
			 uint32_t vtep, uint32_t ip4)
{
	struct vec_endpoint *e = &table.endpoints[table.n_endpoints++];

	e->vni = vni;
	memcpy(e->mac, (uint8_t[6]){0x52, 0x54, 0, 0, 0, last}, 6);
	e->loc.state = state;
	e->loc.port = port;
	e->loc.vtep = vtep;
	e->loc.generation = 5;
	e->ip4[e->n_ip4++] = ip4;
	memcpy(e->ip6[e->n_ip6++], (uint8_t[16]){0xfd, [15] = last}, 16);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	table.host.vtep = 0xc0000201;
	memcpy(table.host.mac, (uint8_t[6]){2, 0, 0, 0, 1, 1}, 6);
	table.peers[0] = (struct vec_peer){.vtep = 0xc0000202, .mac = {2, 0, 0, 0, 1, 2}};
	table.peers[1] = (struct vec_peer){.vtep = 0xc0000203, .mac = {2, 0, 0, 0, 1, 3}};
	table.n_peers = 2;
	table.ports[0] = (struct vec_port){.name = "vm1", .index = 1, .vni = 100};
	table.ports[1] = (struct vec_port){.name = "vm2", .index = 2, .vni = 100};
	table.n_ports = 2;
	add_endpoint(100, 1, FAB_EP_LOCAL, 1, 0, 0x0a000001);
	add_endpoint(100, 2, FAB_EP_INCOMING, 2, 0, 0x0a000002);
	add_endpoint(100, 3, FAB_EP_REMOTE, 0, 0xc0000202, 0x0a000003);
	add_endpoint(100, 4, FAB_EP_FORWARDING, 0, 0xc0000203, 0x0a000004);
	add_endpoint(200, 5, FAB_EP_REMOTE, 0, 0xc0000209, 0x0a000005); /* no underlay route */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ref_result r;
	uint16_t port;
	uint8_t *frame;
	struct fab_frame f;
	struct fab_vxlan vx = {0};
	size_t len;
	int ret;

	if (size < 1 || size > VEC_MAX_FRAME)
		return -1;
	port = data[0] % 3;
	len = size - 1;
	frame = malloc(len ? len : 1);
	if (!frame)
		abort();
	memcpy(frame, data + 1, len);
	ret = fab_parse_frame(frame, frame + len, &f);
	if (ret && !fab_drop_name((unsigned int)ret))
		abort();
	if (ret == 0 && fab_frame_is_vxlan_to(&f, table.host.vtep)) {
		ret = fab_parse_vxlan_outer(frame, frame + len, &f, &vx);
		if (ret == 0)
			ret = fab_parse_inner(frame, &vx, &f);
		if (ret && !fab_drop_name((unsigned int)ret))
			abort();
	}
	free(frame);

	ref_process(&table, data + 1, len, port, &r);
	switch (r.kind) {
	case VEC_EXPECT_DROP:
		if (r.drop <= 0 || !fab_drop_name((unsigned int)r.drop))
			abort();
		break;
	case VEC_EXPECT_OUT:
	case VEC_EXPECT_HOLD:
		/* An output frame lies inside the buffer and is at least an Ethernet header. */
		if (r.len < FAB_ETH_HLEN || r.frame < r.buf || r.frame + r.len > r.buf + sizeof(r.buf))
			abort();
		break;
	default:
		break;
	}
	return 0;
}
