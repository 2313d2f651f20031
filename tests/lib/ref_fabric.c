/* SPDX-License-Identifier: Apache-2.0 */
#include <string.h>

#include "fab_decide.h"
#include "fab_rewrite.h"
#include "ref_fabric.h"

static const struct fab_endpoint *lookup_mac(const struct vec_case *c, uint32_t vni,
					     const uint8_t *mac)
{
	for (unsigned int i = 0; i < c->n_endpoints; i++)
		if (c->endpoints[i].vni == vni && fab_mac_equal(c->endpoints[i].mac, mac))
			return &c->endpoints[i].loc;
	return NULL;
}

static const uint8_t *lookup_ip4(const struct vec_case *c, uint32_t vni, uint32_t ip)
{
	for (unsigned int i = 0; i < c->n_endpoints; i++)
		for (unsigned int j = 0; j < c->endpoints[i].n_ip4; j++)
			if (c->endpoints[i].vni == vni && c->endpoints[i].ip4[j] == ip)
				return c->endpoints[i].mac;
	return NULL;
}

static const uint8_t *lookup_ip6(const struct vec_case *c, uint32_t vni, const uint8_t *ip)
{
	for (unsigned int i = 0; i < c->n_endpoints; i++)
		for (unsigned int j = 0; j < c->endpoints[i].n_ip6; j++)
			if (c->endpoints[i].vni == vni && memcmp(c->endpoints[i].ip6[j], ip, 16) == 0)
				return c->endpoints[i].mac;
	return NULL;
}

static const struct vec_peer *lookup_peer(const struct vec_case *c, uint32_t vtep)
{
	for (unsigned int i = 0; i < c->n_peers; i++)
		if (c->peers[i].vtep == vtep)
			return &c->peers[i];
	return NULL;
}

static bool vni_known(const struct vec_case *c, uint32_t vni)
{
	for (unsigned int i = 0; i < c->n_ports; i++)
		if (c->ports[i].vni == vni)
			return true;
	for (unsigned int i = 0; i < c->n_endpoints; i++)
		if (c->endpoints[i].vni == vni)
			return true;
	return false;
}

/* The port as the fast path would hold it: its VNI and the endpoint bound to it. */
static bool port_ctx(const struct vec_case *c, uint16_t index, struct fab_port_ctx *p)
{
	memset(p, 0, sizeof(*p));
	for (unsigned int i = 0; i < c->n_ports; i++) {
		if (c->ports[i].index != index)
			continue;
		p->vni = c->ports[i].vni;
		p->index = index;
		for (unsigned int j = 0; j < c->n_endpoints; j++) {
			const struct vec_endpoint *e = &c->endpoints[j];

			if (e->vni == p->vni && e->loc.port == index &&
			    (e->loc.state == FAB_EP_LOCAL || e->loc.state == FAB_EP_INCOMING)) {
				p->bound = e->loc.state;
				fab_copy6(p->mac, e->mac);
			}
		}
		return true;
	}
	return false;
}

static void result_drop(struct ref_result *r, int reason)
{
	r->kind = VEC_EXPECT_DROP;
	r->drop = reason;
}

/* Carries out verdict `v` on the frame at [data, data + len) in r->buf. */
static void execute(const struct vec_case *c, const struct fab_verdict *v,
		    const struct fab_frame *f, uint8_t *data, size_t len, uint16_t in_port,
		    struct ref_result *r)
{
	uint8_t *end = r->buf + sizeof(r->buf);
	int ret;

	switch (v->action) {
	case FAB_ACT_DROP:
		result_drop(r, v->drop);
		return;
	case FAB_ACT_TO_HOST:
		r->kind = VEC_EXPECT_TOHOST;
		return;
	case FAB_ACT_ACTIVATE:
		r->kind = VEC_EXPECT_ACTIVATE;
		r->port = v->port;
		return;
	case FAB_ACT_DELIVER:
	case FAB_ACT_HOLD:
		r->kind = v->action == FAB_ACT_DELIVER ? VEC_EXPECT_OUT : VEC_EXPECT_HOLD;
		r->port = v->port;
		r->frame = data + v->strip;
		r->len = len - v->strip;
		return;
	case FAB_ACT_ENCAP: {
		const struct vec_peer *peer = lookup_peer(c, v->vtep);
		struct fab_encap e = {.src_ip = c->host.vtep, .dst_ip = v->vtep, .vni = v->vni,
				      .mark = v->mark};
		uint8_t *inner = data + v->strip;
		size_t inner_len = len - v->strip;

		if (!peer) {
			result_drop(r, FAB_DROP_NO_ROUTE_TO_VTEP);
			return;
		}
		fab_copy6(e.src_mac, c->host.mac);
		fab_copy6(e.dst_mac, peer->mac);
		fab_vxlan_write(inner - FAB_VXLAN_ENCAP_LEN, &e, (uint16_t)inner_len,
				fab_vxlan_sport(fab_flow_hash(f)));
		r->kind = VEC_EXPECT_OUT;
		r->port = VEC_UPLINK_INDEX;
		r->frame = inner - FAB_VXLAN_ENCAP_LEN;
		r->len = inner_len + FAB_VXLAN_ENCAP_LEN;
		return;
	}
	case FAB_ACT_ARP_REPLY:
		ret = fab_arp_reply_write(data, data + len, f, v->answer_mac);
		break;
	case FAB_ACT_ND_REPLY:
		ret = fab_nd_reply_write(data, end, f, v->answer_mac);
		len = fab_nd_reply_len(f);
		break;
	default:
		result_drop(r, FAB_DROP__COUNT);
		return;
	}
	if (ret) {
		result_drop(r, ret);
		return;
	}
	r->kind = VEC_EXPECT_OUT;
	r->port = in_port;
	r->frame = data;
	r->len = len;
}

void ref_process(const struct vec_case *c, const uint8_t *in, size_t len, uint16_t in_port,
		 struct ref_result *r)
{
	uint8_t *data = r->buf + REF_HEADROOM;
	struct fab_verdict v;
	struct fab_frame f;
	int ret;

	memset(r, 0, offsetof(struct ref_result, buf));
	if (len > VEC_MAX_FRAME)
		len = VEC_MAX_FRAME;
	memcpy(data, in, len);
	ret = fab_parse_frame(data, data + len, &f);

	if (in_port != VEC_UPLINK_INDEX) {
		struct fab_port_ctx port;
		const struct fab_endpoint *dst = NULL;
		const uint8_t *target = NULL;

		if (!port_ctx(c, in_port, &port)) {
			result_drop(r, FAB_DROP_PORT_NOT_BOUND);
			return;
		}
		if (ret == 0) {
			switch (fab_vm_lookup_kind(&f)) {
			case FAB_LOOKUP_DST_MAC:
				dst = lookup_mac(c, port.vni, f.dst_mac);
				break;
			case FAB_LOOKUP_IP4:
				target = lookup_ip4(c, port.vni, f.arp_tpa);
				break;
			case FAB_LOOKUP_IP6:
				target = lookup_ip6(c, port.vni, f.nd_target);
				break;
			default:
				break;
			}
		}
		fab_decide_vm(&v, &port, ret, &f, dst, target);
	} else if (ret == 0 && fab_frame_is_vxlan_to(&f, c->host.vtep)) {
		struct fab_vxlan vx = {0};
		bool src_known = false, vni_ok = false;
		const struct fab_endpoint *dst = NULL;
		int inner_ret = 0;

		ret = fab_parse_vxlan_outer(data, data + len, &f, &vx);
		if (ret == 0) {
			src_known = lookup_peer(c, vx.src_vtep) != NULL;
			vni_ok = vni_known(c, vx.vni);
		}
		if (ret == 0 && src_known && vni_ok) {
			inner_ret = fab_parse_inner(data, &vx, &f);
			if (inner_ret == 0 && !fab_mac_is_multicast(f.dst_mac))
				dst = lookup_mac(c, vx.vni, f.dst_mac);
		}
		fab_decide_overlay(&v, ret, &vx, src_known, vni_ok, inner_ret, &f, dst);
	} else {
		struct fab_host_ctx host = c->host;

		fab_decide_underlay(&v, &host, ret, &f);
	}
	/* Only the inner frame travels on: a padded outer frame's tail does not. */
	if (v.keep && v.strip + v.keep <= len)
		len = (size_t)v.strip + v.keep;
	execute(c, &v, &f, data, len, in_port, r);
}
