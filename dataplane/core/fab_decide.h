/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-packet decision, written once for both backends. It is a pure function of the
 * parsed frame, the port it came in on and what the backend's tables answered; it
 * touches no table itself, so the DPDK path can look up a whole burst in bulk and the
 * XDP program can use its maps, and both reach the same verdict.
 *
 * A backend's sequence for one frame:
 *
 *   from a VM port:   fab_parse_frame -> look up fab_vm_lookup_kind()'s key in the
 *                     port's VNI -> fab_decide_vm
 *   from the uplink:  fab_parse_frame -> if fab_frame_is_vxlan_to(): fab_parse_vxlan_outer,
 *                     look up the source VTEP and the VNI, fab_parse_frame on the inner
 *                     frame, look up its destination MAC -> fab_decide_overlay;
 *                     otherwise fab_decide_underlay
 *
 * then carries out the verdict with the rewrite helpers of fab_rewrite.h.
 */
#ifndef FAB_DECIDE_H
#define FAB_DECIDE_H

#include "fab_compat.h"
#include "fab_counters.h"
#include "fab_endpoint.h"
#include "fab_parse.h"

enum fab_action {
	FAB_ACT_DROP = 0,      /* count verdict.drop */
	FAB_ACT_DELIVER = 1,   /* strip and trim (`strip`, `keep`), send to VM port `port` */
	FAB_ACT_ENCAP = 2,     /* strip and trim, push VXLAN(vni) to `vtep`, marked if `mark` */
	FAB_ACT_HOLD = 3,      /* strip and trim, queue for incoming VM port `port` */
	FAB_ACT_ARP_REPLY = 4, /* rewrite into the ARP reply for `answer_mac`, send back */
	FAB_ACT_ND_REPLY = 5,  /* rewrite into the neighbour advertisement, send back */
	FAB_ACT_ACTIVATE = 6,  /* the port's INCOMING endpoint announced itself: flip it to
				* LOCAL and release its hold queue; the frame is consumed */
	FAB_ACT_TO_HOST = 7,   /* underlay traffic that is not overlay for us: the host's
				* stack (XDP_PASS), or dropped and counted by DPDK */
};

struct fab_verdict {
	uint8_t action; /* enum fab_action */
	uint8_t drop;   /* FAB_ACT_DROP: enum fab_drop_reason */
	uint8_t mark;   /* FAB_ACT_ENCAP: a migration source forwarding to its target */
	uint8_t pad;
	uint16_t port;  /* DELIVER, HOLD, ACTIVATE */
	uint16_t strip; /* outer header bytes to remove first */
	uint16_t keep;  /* then the bytes to keep (the inner frame as UDP bounds it, without
			 * the outer frame's trailer), or 0 for all that follow */
	uint16_t pad2;
	uint32_t vtep;  /* ENCAP: destination host, host byte order */
	uint32_t vni;   /* ENCAP */
	uint8_t answer_mac[6]; /* ARP_REPLY, ND_REPLY: the MAC that owns the asked address */
};

/* A VM port as the fast path sees it: the VNI it belongs to and the endpoint bound. */
struct fab_port_ctx {
	uint32_t vni;
	uint16_t index;
	uint8_t bound; /* FAB_EP_LOCAL or FAB_EP_INCOMING, or FAB_EP_ABSENT if none */
	uint8_t pad;
	uint8_t mac[6];
};

/* This host on the underlay. */
struct fab_host_ctx {
	uint32_t vtep; /* host byte order */
	uint8_t mac[6];
};

enum fab_lookup_kind {
	FAB_LOOKUP_NONE = 0,
	FAB_LOOKUP_DST_MAC = 1, /* endpoint of (VNI, destination MAC) */
	FAB_LOOKUP_IP4 = 2,     /* MAC of (VNI, ARP target address) */
	FAB_LOOKUP_IP6 = 3,     /* MAC of (VNI, ND target address) */
};

FAB_INLINE bool fab_ip6_is_unspecified(const uint8_t *a)
{
	int i;

	FAB_UNROLL
	for (i = 0; i < 16; i++)
		if (a[i])
			return false;
	return true;
}

/* RARP (QEMU's announce), gratuitous ARP (sender address = target address), or an
 * unsolicited neighbour advertisement: the VM telling the network where it is. */
FAB_INLINE bool fab_frame_is_announcement(const struct fab_frame *f)
{
	if (f->kind == FAB_L3_ARP) {
		if (f->ethertype == FAB_ETHERTYPE_RARP)
			return true;
		return f->arp_spa == f->arp_tpa &&
		       (f->arp_op == FAB_ARP_OP_REQUEST || f->arp_op == FAB_ARP_OP_REPLY);
	}
	return f->nd_type == FAB_ICMPV6_NA && !(f->nd_flags & FAB_ND_NA_SOLICITED);
}

FAB_INLINE bool fab_frame_is_arp_request(const struct fab_frame *f)
{
	return f->kind == FAB_L3_ARP && f->ethertype == FAB_ETHERTYPE_ARP &&
	       f->arp_op == FAB_ARP_OP_REQUEST && !fab_frame_is_announcement(f);
}

/* What the backend must look up for a frame parsed from a VM port. */
FAB_INLINE enum fab_lookup_kind fab_vm_lookup_kind(const struct fab_frame *f)
{
	if (fab_frame_is_announcement(f))
		return FAB_LOOKUP_NONE;
	if (fab_frame_is_arp_request(f))
		return FAB_LOOKUP_IP4;
	if (f->nd_type == FAB_ICMPV6_NS)
		return fab_ip6_is_unspecified(f->ip6_src) ? FAB_LOOKUP_NONE : FAB_LOOKUP_IP6;
	if (fab_mac_is_multicast(f->dst_mac))
		return FAB_LOOKUP_NONE;
	return FAB_LOOKUP_DST_MAC;
}

FAB_INLINE void fab_verdict_drop(struct fab_verdict *v, unsigned int reason)
{
	v->action = FAB_ACT_DROP;
	v->drop = (uint8_t)reason;
}

/* The common tail: where a unicast frame for endpoint `dst` goes. `from_overlay` frames
 * came in VXLAN from another host; `marked` ones were forwarded by a migration source. */
FAB_INLINE void fab_decide_unicast(struct fab_verdict *v, const struct fab_endpoint *dst,
				   uint32_t vni, bool from_overlay, bool marked, uint16_t in_port)
{
	if (!dst || dst->state == FAB_EP_ABSENT) {
		fab_verdict_drop(v, FAB_DROP_UNKNOWN_DESTINATION);
		return;
	}
	switch (dst->state) {
	case FAB_EP_LOCAL:
		if (!from_overlay && dst->port == in_port) {
			fab_verdict_drop(v, FAB_DROP_HAIRPIN);
			return;
		}
		v->action = FAB_ACT_DELIVER;
		v->port = dst->port;
		return;
	case FAB_EP_INCOMING:
		v->action = FAB_ACT_HOLD;
		v->port = dst->port;
		return;
	case FAB_EP_REMOTE:
		if (from_overlay) {
			/* Not ours and not migrating from here: someone's table is stale, and
			 * relaying could loop between two hosts that disagree. */
			fab_verdict_drop(v, marked ? FAB_DROP_MARKED_NOT_REFORWARDED
						   : FAB_DROP_STALE_LOCATION);
			return;
		}
		v->action = FAB_ACT_ENCAP;
		v->vtep = dst->vtep;
		v->vni = vni;
		return;
	case FAB_EP_FORWARDING:
		if (marked) {
			fab_verdict_drop(v, FAB_DROP_MARKED_NOT_REFORWARDED);
			return;
		}
		v->action = FAB_ACT_ENCAP;
		v->vtep = dst->vtep;
		v->vni = vni;
		v->mark = 1;
		return;
	default:
		fab_verdict_drop(v, FAB_DROP_UNKNOWN_DESTINATION);
	}
}

/*
 * Decides for a frame that came in on VM port `port`.
 *
 * @parse_ret:  what fab_parse_frame returned.
 * @dst:        FAB_LOOKUP_DST_MAC: the endpoint found, or NULL.
 * @target_mac: FAB_LOOKUP_IP4/IP6: the MAC that owns the asked address, or NULL.
 */
FAB_INLINE void fab_decide_vm(struct fab_verdict *v, const struct fab_port_ctx *port,
			      int parse_ret, const struct fab_frame *f,
			      const struct fab_endpoint *dst, const uint8_t *target_mac)
{
	__builtin_memset(v, 0, sizeof(*v));
	if (parse_ret) {
		fab_verdict_drop(v, (unsigned int)parse_ret);
		return;
	}
	if (port->bound == FAB_EP_ABSENT) {
		fab_verdict_drop(v, FAB_DROP_PORT_NOT_BOUND);
		return;
	}
	if (!fab_mac_equal(f->src_mac, port->mac)) {
		fab_verdict_drop(v, FAB_DROP_SOURCE_MAC_SPOOFED);
		return;
	}
	switch (fab_vm_lookup_kind(f)) {
	case FAB_LOOKUP_NONE:
		if (fab_frame_is_announcement(f)) {
			if (port->bound == FAB_EP_INCOMING) {
				v->action = FAB_ACT_ACTIVATE;
				v->port = port->index;
			} else {
				fab_verdict_drop(v, FAB_DROP_ANNOUNCEMENT_ABSORBED);
			}
		} else if (f->nd_type == FAB_ICMPV6_NS) {
			fab_verdict_drop(v, FAB_DROP_SELF_RESOLUTION); /* duplicate address detection */
		} else {
			fab_verdict_drop(v, FAB_DROP_BROADCAST_NOT_FORWARDED);
		}
		return;
	case FAB_LOOKUP_IP4:
	case FAB_LOOKUP_IP6:
		if (!target_mac) {
			fab_verdict_drop(v, f->kind == FAB_L3_ARP ? FAB_DROP_ARP_UNKNOWN_TARGET
								   : FAB_DROP_ND_UNKNOWN_TARGET);
			return;
		}
		if (fab_mac_equal(target_mac, f->src_mac)) {
			fab_verdict_drop(v, FAB_DROP_SELF_RESOLUTION);
			return;
		}
		v->action = f->kind == FAB_L3_ARP ? FAB_ACT_ARP_REPLY : FAB_ACT_ND_REPLY;
		fab_copy6(v->answer_mac, target_mac);
		return;
	default:
		fab_decide_unicast(v, dst, port->vni, false, false, port->index);
	}
}

/*
 * Decides for a frame from the uplink that is not VXLAN for this host: an ARP request for
 * this host's VTEP address is answered (the underlay must resolve us); anything else is
 * the host stack's.
 */
FAB_INLINE void fab_decide_underlay(struct fab_verdict *v, const struct fab_host_ctx *host,
				    int parse_ret, const struct fab_frame *f)
{
	__builtin_memset(v, 0, sizeof(*v));
	if (parse_ret) {
		fab_verdict_drop(v, (unsigned int)parse_ret);
		return;
	}
	if (fab_frame_is_arp_request(f) && f->arp_tpa == host->vtep) {
		v->action = FAB_ACT_ARP_REPLY;
		fab_copy6(v->answer_mac, host->mac);
		return;
	}
	v->action = FAB_ACT_TO_HOST;
}

/*
 * Decides for a VXLAN frame addressed to this host. The checks come in a fixed order,
 * which the packet vectors pin down: outer headers, then the sender (anti-spoofing:
 * nothing of a stranger's frame is looked at further), then the VNI, then the inner
 * frame, then its destination.
 *
 * @outer_ret:       what fab_parse_vxlan_outer returned.
 * @src_vtep_known:  the outer source address is a known host.
 * @vni_known:       the VNI is configured here.
 * @inner_ret:       what fab_parse_frame returned for the inner frame.
 * @f:               the inner frame.
 * @dst:             the endpoint of (VNI, inner destination MAC), or NULL.
 */
FAB_INLINE void fab_decide_overlay(struct fab_verdict *v, int outer_ret,
				   const struct fab_vxlan *vx, bool src_vtep_known, bool vni_known,
				   int inner_ret, const struct fab_frame *f,
				   const struct fab_endpoint *dst)
{
	__builtin_memset(v, 0, sizeof(*v));
	if (outer_ret) {
		fab_verdict_drop(v, (unsigned int)outer_ret);
		return;
	}
	if (!src_vtep_known) {
		fab_verdict_drop(v, FAB_DROP_UNKNOWN_VTEP);
		return;
	}
	if (!vni_known) {
		fab_verdict_drop(v, FAB_DROP_UNKNOWN_VNI);
		return;
	}
	if (inner_ret) {
		fab_verdict_drop(v, (unsigned int)inner_ret);
		return;
	}
	if (fab_mac_is_multicast(f->dst_mac)) {
		fab_verdict_drop(v, FAB_DROP_BROADCAST_NOT_FORWARDED);
		return;
	}
	v->strip = vx->inner_off;
	v->keep = vx->inner_len;
	fab_decide_unicast(v, dst, vx->vni, true, vx->marked, 0xffff);
}

#endif
