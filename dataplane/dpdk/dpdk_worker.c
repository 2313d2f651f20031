/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A worker lcore's loop: receive a burst, parse every frame, look the destinations up in
 * bulk, decide with the forwarding core, carry out the verdicts, and send in bursts. No
 * allocation, lock, log line or system call per packet; when idle it backs off into
 * short sleeps (announced to RCU as offline, so the control thread never waits for a
 * sleeping worker).
 */
#include <string.h>
#include <time.h>

#include <rte_cycles.h>
#include <rte_hash.h>
#include <rte_lcore.h>
#include <rte_prefetch.h>
#include <rte_ring_peek.h>

#include "dpdk_internal.h"
#include "fab_rewrite.h"

struct dp_pkt {
	struct fab_frame f;
	struct fab_vxlan vx;
	struct dp_ep_probe probe; /* the destination endpoint's key, when need_ep */
	uint8_t target_mac[6];
	uint8_t has_target;
	uint8_t overlay;   /* VXLAN for this host */
	uint8_t src_known;
	uint8_t vni_ok;
	uint8_t need_ep;   /* key is to be looked up */
	int ret;
	int inner_ret;
};

static inline void count_drop(struct dp_worker *w, unsigned int reason)
{
	w->drops[reason]++;
	w->ctr[FAB_CTR_DROPPED]++;
}

static inline void ep_add(struct dp_worker *w, uint32_t slot, uint32_t packets, uint32_t bytes,
			  uint32_t drops, uint64_t now)
{
	struct dp_ep_counters *c = &w->ep[slot];

	c->packets += packets;
	c->bytes += bytes;
	c->drops += drops;
	c->last_tsc = now;
}

/* Where host `vtep` sits in the worker's host cache. */
static inline struct dp_vtep_cache_entry *vtep_slot(struct dp_worker *w, uint32_t vtep)
{
	return &w->vtep_cache[(vtep ^ (vtep >> 8) ^ (vtep >> 16)) & (DP_VTEP_CACHE - 1)];
}

/* The cache entry of host `vtep`: known or not, and the VXLAN header towards it. A
 * per-worker cache in front of the hosts table, emptied whenever the control thread
 * changes a host. */
static inline const struct dp_vtep_cache_entry *host_entry(struct dp_worker *w, uint32_t vtep)
{
	struct dpdk_backend *b = w->b;
	uint32_t gen = __atomic_load_n(&b->hosts_gen, __ATOMIC_ACQUIRE) | 1;
	struct dp_vtep_cache_entry *e = vtep_slot(w, vtep);
	void *data = NULL;

	if (fab_likely(e->gen == gen && e->vtep == vtep))
		return e;
	e->vtep = vtep;
	e->gen = gen;
	e->known = rte_hash_lookup_data(b->host_hash, &vtep, &data) >= 0 && data;
	if (e->known) {
		struct fab_encap t = {.src_ip = b->host.vtep, .dst_ip = vtep};

		fab_copy6(t.src_mac, b->host.mac);
		dp_mac_unpack((uint64_t)(uintptr_t)data, t.dst_mac);
		fab_vxlan_write(e->hdr, &t, 0, 0);
	}
	return e;
}

static inline struct fab_port_ctx port_ctx(const struct dp_port *p)
{
	uint64_t binding = __atomic_load_n(&p->binding, __ATOMIC_ACQUIRE);
	struct fab_port_ctx ctx = {.vni = p->vni, .index = p->index};

	ctx.bound = (uint8_t)(binding >> 48);
	dp_mac_unpack(binding, ctx.mac);
	return ctx;
}

static inline void tx(struct dp_worker *w, const struct dp_port *p, struct rte_mbuf *m)
{
	rte_eth_tx_buffer(p->ethdev, (uint16_t)w->id, w->tx[p - w->b->ports], m);
}

/* Queues a frame for an incoming VM or a paused one, or delivers it if the VM runs here
 * and nothing is still queued ahead of it. */
static void hold(struct dp_worker *w, struct dp_port *p, struct rte_mbuf *m, uint64_t now,
		 uint32_t slot, bool have_slot, bool marked)
{
	uint8_t bound = (uint8_t)(__atomic_load_n(&p->binding, __ATOMIC_ACQUIRE) >> 48);
	bool active = (bound == FAB_EP_LOCAL || __atomic_load_n(&p->activated, __ATOMIC_ACQUIRE)) &&
		      !__atomic_load_n(&p->paused, __ATOMIC_ACQUIRE);
	struct dp_held h = {.m = m, .tsc = now, .marked = marked};

	if (active && rte_ring_empty(p->hold)) {
		tx(w, p, m);
		w->ctr[FAB_CTR_DELIVERED]++;
		return;
	}
	/* Older frames this worker buffered for the port go first: sent, or queued ahead of
	 * this one if the device refuses them (dp_unsent). */
	rte_eth_tx_buffer_flush(p->ethdev, (uint16_t)w->id, w->tx[p - w->b->ports]);
	if (rte_ring_enqueue_elem(p->hold, &h, sizeof(h)) == 0) {
		w->ctr[FAB_CTR_HELD]++;
		return;
	}
	count_drop(w, FAB_DROP_HOLD_OVERFLOW);
	if (have_slot)
		w->ep[slot].drops++;
	rte_pktmbuf_free(m);
	if (!__atomic_exchange_n(&p->overflow_reported, 1, __ATOMIC_RELAXED)) {
		struct fab_dp_event ev = {.kind = FAB_EVENT_HOLD_OVERFLOW, .port = p->index,
					  .count = 1};

		rte_ring_enqueue_elem(w->b->events, &ev, sizeof(ev));
	}
}

/* Strips the outer headers and any trailer the verdict names. */
static inline void strip(struct rte_mbuf *m, const struct fab_verdict *v)
{
	if (v->strip)
		rte_pktmbuf_adj(m, v->strip);
	if (v->keep && rte_pktmbuf_pkt_len(m) > v->keep)
		rte_pktmbuf_trim(m, (uint16_t)(rte_pktmbuf_pkt_len(m) - v->keep));
}

/* Verdict ENCAP: strips, pushes VXLAN to the verdict's host, sends on the uplink. Returns
 * the drop reason, or 0. */
static unsigned int encap(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *pkt,
			  const struct fab_verdict *v)
{
	struct dpdk_backend *b = w->b;
	const struct dp_vtep_cache_entry *host = host_entry(w, v->vtep);
	uint32_t inner_len;
	uint8_t *hdr;

	if (!host->known)
		return FAB_DROP_NO_ROUTE_TO_VTEP;
	strip(m, v);
	inner_len = rte_pktmbuf_pkt_len(m);
	if (inner_len + FAB_VXLAN_ENCAP_LEN - FAB_ETH_HLEN > b->cfg.underlay_mtu)
		return FAB_DROP_FRAME_TOO_LARGE;
	hdr = (uint8_t *)rte_pktmbuf_prepend(m, FAB_VXLAN_ENCAP_LEN);
	if (!hdr)
		return FAB_DROP_ENCAP_NO_ROOM;
	fab_vxlan_from_template(hdr, host->hdr, (uint16_t)inner_len,
				fab_vxlan_sport(fab_flow_hash(&pkt->f)), v->vni, v->mark);
	tx(w, &b->ports[DP_UPLINK], m);
	w->ctr[v->mark ? FAB_CTR_FORWARDED : FAB_CTR_ENCAPSULATED]++;
	return 0;
}

/* A frame a migration source forwards (verdict ENCAP, marked) for a VM whose port here
 * still holds frames from its pause goes behind them, so that the target gets them all in
 * arrival order (drain_hold sends the queue on). Only while the VM's frames are forwarded,
 * so a loop over the few VM ports is fine. Returns -1 when no port holds frames for it,
 * else what encap() would (0: queued or sent). */
static int behind_held(struct dp_worker *w, struct rte_mbuf *m, const struct dp_pkt *pkt,
		       const struct fab_verdict *v, uint64_t now)
{
	struct dpdk_backend *b = w->b;
	/* A port still bound to the VM, lingering as it leaves: its state and its MAC. */
	uint64_t want = (uint64_t)FAB_EP_FORWARDING << 48 | dp_mac_pack(pkt->f.dst_mac);
	uint64_t mask = 0xffull << 48 | DP_MAC_MASK;

	for (unsigned int i = 1; i < b->n_ports; i++) {
		struct dp_port *p = &b->ports[i];
		struct dp_held h = {.m = m, .tsc = now, .marked = 1};
		struct fab_verdict stripped = *v;

		if (p->vni != v->vni || rte_ring_empty(p->hold) ||
		    (__atomic_load_n(&p->binding, __ATOMIC_ACQUIRE) & mask) != want)
			continue;
		strip(m, v); /* held frames are inner frames */
		if (rte_ring_enqueue_elem(p->hold, &h, sizeof(h)) == 0) {
			w->ctr[FAB_CTR_HELD]++;
			return 0;
		}
		stripped.strip = stripped.keep = 0; /* the queue is full: straight on */
		return (int)encap(w, m, pkt, &stripped);
	}
	return -1;
}

/* Carries out verdict `v` on `m`. Returns the drop reason when the frame is dropped
 * here (the caller frees it), or 0 when it went somewhere. */
static unsigned int execute(struct dp_worker *w, struct dp_port *in, struct rte_mbuf *m,
			    struct dp_pkt *pkt, const struct fab_verdict *v, uint64_t now,
			    uint32_t slot, bool have_slot)
{
	struct dpdk_backend *b = w->b;
	uint8_t *data = rte_pktmbuf_mtod(m, uint8_t *);

	switch (v->action) {
	case FAB_ACT_DROP:
		return v->drop;
	case FAB_ACT_TO_HOST:
		w->ctr[FAB_CTR_TO_HOST]++;
		return FAB_DROP__COUNT; /* freed, counted as to_host only */
	case FAB_ACT_DELIVER: {
		struct dp_port *out = v->port < FAB_MAX_PORTS ? b->port_of_index[v->port] : NULL;

		if (!out)
			return FAB_DROP_PORT_NOT_BOUND;
		strip(m, v);
		/* Frames wait behind older ones still held (a release in progress) and while
		 * the VM is paused. (A port is given to another VM only after every worker
		 * finished the bursts it had decided for the one before: dp_port_publish.) */
		if (fab_unlikely(__atomic_load_n(&out->paused, __ATOMIC_ACQUIRE) ||
				 !rte_ring_empty(out->hold))) {
			hold(w, out, m, now, slot, have_slot, pkt->overlay && pkt->vx.marked);
			return 0;
		}
		tx(w, out, m);
		w->ctr[FAB_CTR_DELIVERED]++;
		return 0;
	}
	case FAB_ACT_HOLD: {
		struct dp_port *out = v->port < FAB_MAX_PORTS ? b->port_of_index[v->port] : NULL;

		if (!out)
			return FAB_DROP_PORT_NOT_BOUND;
		strip(m, v);
		hold(w, out, m, now, slot, have_slot, pkt->overlay && pkt->vx.marked);
		return 0;
	}
	case FAB_ACT_ENCAP:
		if (fab_unlikely(v->mark)) {
			int ret = behind_held(w, m, pkt, v, now);

			if (ret >= 0)
				return (unsigned int)ret;
		}
		return encap(w, m, pkt, v);
	case FAB_ACT_ARP_REPLY: {
		unsigned int ret = (unsigned int)fab_arp_reply_write(
			data, data + rte_pktmbuf_data_len(m), &pkt->f, v->answer_mac);

		if (ret)
			return ret;
		m->ol_flags |= b->reply_flag;
		tx(w, in, m);
		w->ctr[FAB_CTR_ARP_REPLIED]++;
		return 0;
	}
	case FAB_ACT_ND_REPLY: {
		uint16_t want = fab_nd_reply_len(&pkt->f);
		uint16_t have = rte_pktmbuf_data_len(m);

		if (want > have && !rte_pktmbuf_append(m, (uint16_t)(want - have)))
			return FAB_DROP_ENCAP_NO_ROOM;
		if (want < have)
			rte_pktmbuf_trim(m, (uint16_t)(have - want));
		if (fab_nd_reply_write(data, data + want, &pkt->f, v->answer_mac))
			return FAB_DROP_ENCAP_NO_ROOM;
		m->ol_flags |= b->reply_flag;
		tx(w, in, m);
		w->ctr[FAB_CTR_ND_REPLIED]++;
		return 0;
	}
	case FAB_ACT_ACTIVATE: {
		struct dp_port *p = b->port_of_index[v->port];
		struct fab_dp_event ev = {.kind = FAB_EVENT_ACTIVATED, .port = v->port};

		if (p && !__atomic_exchange_n(&p->activated, 1, __ATOMIC_ACQ_REL)) {
			rte_ring_enqueue_elem(b->events, &ev, sizeof(ev));
			w->ctr[FAB_CTR_ACTIVATED]++;
		}
		return FAB_DROP__COUNT; /* the announcement itself goes no further */
	}
	default:
		return FAB_DROP_UNKNOWN_DESTINATION;
	}
}

/* Prepares the endpoint lookup of (vni, mac) and starts fetching its bucket; a key equal
 * to the burst's previous one (a busy VM's traffic) reuses that one's hash. */
static inline void ep_probe(const struct dp_ep_table *t, struct dp_pkt *pkt,
			    struct dp_ep_probe *last, uint32_t vni, const uint8_t *mac)
{
	if (dp_ep_key_word(vni, mac) == last->word && (uint8_t)(vni >> 16) == last->vni_hi) {
		pkt->probe = *last;
	} else {
		dp_ep_probe_init(t, &pkt->probe, vni, mac);
		dp_ep_prefetch(t, &pkt->probe);
		*last = pkt->probe;
	}
	pkt->need_ep = 1;
}

/* Parses one frame and prepares its lookups. */
static void classify(struct dp_worker *w, const struct dp_port *in,
		     const struct fab_port_ctx *pctx, struct rte_mbuf *m, struct dp_pkt *pkt,
		     struct dp_ep_probe *last)
{
	struct dpdk_backend *b = w->b;
	const uint8_t *data = rte_pktmbuf_mtod(m, const uint8_t *);
	const uint8_t *end = data + rte_pktmbuf_data_len(m);
	struct fab_frame *f = &pkt->f;

	pkt->need_ep = 0;
	pkt->overlay = 0;
	pkt->has_target = 0;
	pkt->inner_ret = 0;
	if (in->index == DP_UPLINK) {
		/* Well-formed VXLAN for us skips the general parse of the outer headers. */
		if (fab_likely(fab_parse_vxlan_fast(data, end, b->host.vtep, &pkt->vx))) {
			pkt->ret = 0;
		} else {
			pkt->ret = fab_parse_frame(data, end, f);
			if (pkt->ret || !fab_frame_is_vxlan_to(f, b->host.vtep))
				return;
			pkt->ret = fab_parse_vxlan_outer(data, end, f, &pkt->vx);
		}
		pkt->overlay = 1;
		pkt->src_known = pkt->vni_ok = 0;
		if (pkt->ret)
			return;
		pkt->src_known = host_entry(w, pkt->vx.src_vtep)->known;
		pkt->vni_ok = dp_vni_known(b, pkt->vx.vni);
		if (!pkt->src_known || !pkt->vni_ok)
			return;
		/* The inner frame too: IPv4 TCP or UDP in the usual layout at fixed offsets. */
		if (fab_likely(fab_parse_ip4_fast(data + pkt->vx.inner_off,
						  data + pkt->vx.inner_off + pkt->vx.inner_len, f)))
			pkt->inner_ret = 0;
		else
			pkt->inner_ret = fab_parse_inner(data, &pkt->vx, f);
		if (pkt->inner_ret || fab_mac_is_multicast(f->dst_mac))
			return;
		ep_probe(&b->ep_table, pkt, last, pkt->vx.vni, f->dst_mac);
		return;
	}
	/* A VM's IPv4 TCP or UDP in the usual layout skips the general parse. */
	if (fab_likely(fab_parse_ip4_fast(data, end, f))) {
		pkt->ret = 0;
	} else {
		pkt->ret = fab_parse_frame(data, end, f);
		if (pkt->ret)
			return;
	}
	switch (fab_vm_lookup_kind(f)) {
	case FAB_LOOKUP_DST_MAC:
		ep_probe(&b->ep_table, pkt, last, pctx->vni, f->dst_mac);
		break;
	case FAB_LOOKUP_IP4:
	case FAB_LOOKUP_IP6: {
		/* ARP and ND are rare: one lookup each, not worth a bulk pass. */
		struct dp_addr_key k = {.vni = pctx->vni};
		void *mac = NULL;

		if (f->kind == FAB_L3_ARP) {
			k.family = 4;
			fab_store_be32(k.addr, f->arp_tpa);
		} else {
			k.family = 6;
			fab_copy16(k.addr, f->nd_target);
		}
		if (rte_hash_lookup_data(b->addr_hash, &k, &mac) >= 0) {
			dp_mac_unpack((uint64_t)(uintptr_t)mac, pkt->target_mac);
			pkt->has_target = 1;
		}
		break;
	}
	default:
		break;
	}
}

static inline bool ep_key_equal(const struct dp_ep_probe *a, const struct dp_ep_probe *b)
{
	return ((a->word ^ b->word) | (uint64_t)(a->vni_hi ^ b->vni_hi)) == 0;
}

static void process_burst(struct dp_worker *w, struct dp_port *in, struct rte_mbuf **pkts,
			  unsigned int n, uint64_t now)
{
	struct dp_pkt st[DP_BURST];
	const struct dp_ep_probe *keys[DP_BURST];
	uint64_t found[DP_BURST];
	unsigned int key_of[DP_BURST];
	/* A run of frames for one endpoint (consecutive frames with one key): what went to it,
	 * counted to it when the run ends. */
	unsigned int run_key = DP_BURST;
	uint32_t run_slot = 0, run_packets = 0, run_bytes = 0, run_drops = 0;
	struct rte_mbuf *drop[DP_BURST];
	unsigned int nk = 0, nd = 0;
	uint64_t hits = 0;
	struct fab_port_ctx pctx = {0};
	uint64_t src_slot = 0;
	uint32_t src_bytes = 0, src_drops = 0;
	static const uint8_t zero_mac[6];
	struct dp_ep_probe last;

	/* A real probe (the all-zero key's) for the first frame's key to be compared with. */
	dp_ep_probe_init(&w->b->ep_table, &last, 0, zero_mac);

	if (in->index != DP_UPLINK) {
		pctx = port_ctx(in);
		src_slot = __atomic_load_n(&in->bound_slot, __ATOMIC_ACQUIRE);
	}
	w->ctr[FAB_CTR_RX] += n;
	for (unsigned int i = 0; i < n; i++) {
		if (i + 1 < n)
			rte_prefetch0(rte_pktmbuf_mtod(pkts[i + 1], void *));
		if (fab_unlikely(pkts[i]->nb_segs > 1) && rte_pktmbuf_linearize(pkts[i])) {
			st[i].ret = FAB_DROP_FRAME_TOO_LARGE;
			st[i].need_ep = st[i].overlay = st[i].has_target = 0;
			continue;
		}
		classify(w, in, &pctx, pkts[i], &st[i], &last);
	}
	/* A run of frames for one endpoint (a busy VM's traffic) is looked up once. This is a
	 * pass of its own so that the keys' stores have completed before they are compared
	 * as words. */
	for (unsigned int i = 0; i < n; i++) {
		if (!st[i].need_ep)
			continue;
		if (nk && ep_key_equal(&st[i].probe, keys[nk - 1])) {
			key_of[i] = nk - 1;
			continue;
		}
		key_of[i] = nk;
		keys[nk++] = &st[i].probe;
	}
	/* The buckets were prefetched by classify(). The counters of many flows' endpoints
	 * do not stay cached either: start fetching them now, while the burst is decided. */
	for (unsigned int k = 0; k < nk; k++) {
		if (dp_ep_lookup(&w->b->ep_table, keys[k], &found[k])) {
			hits |= 1ull << k;
			rte_prefetch0(&w->ep[dp_ep_slot(found[k])]);
			/* Frames for another host: its cached header, too. */
			if (dp_ep_remote(found[k]))
				rte_prefetch0(vtep_slot(w, dp_ep_vtep(found[k])));
		}
	}

	for (unsigned int i = 0; i < n; i++) {
		struct dp_pkt *pkt = &st[i];
		struct fab_endpoint dst_loc;
		const struct fab_endpoint *dst = NULL;
		struct fab_verdict v;
		uint32_t slot = 0;
		uint32_t bytes = rte_pktmbuf_pkt_len(pkts[i]);
		unsigned int reason;

		if (pkt->need_ep && (hits >> key_of[i]) & 1) {
			dp_ep_unpack(found[key_of[i]], &dst_loc, &slot);
			dst = &dst_loc;
		}
		if (in->index != DP_UPLINK)
			fab_decide_vm(&v, &pctx, pkt->ret, &pkt->f, dst,
				      pkt->has_target ? pkt->target_mac : NULL);
		else if (pkt->overlay)
			fab_decide_overlay(&v, pkt->ret, &pkt->vx, pkt->src_known, pkt->vni_ok,
					   pkt->inner_ret, &pkt->f, dst);
		else
			fab_decide_underlay(&v, &w->b->host, pkt->ret, &pkt->f);

		reason = execute(w, in, pkts[i], pkt, &v, now, slot, dst != NULL);
		if (reason) {
			if (reason < FAB_DROP__COUNT)
				count_drop(w, reason);
			drop[nd++] = pkts[i];
		}
		if (dst) {
			if (key_of[i] != run_key) {
				if (run_packets)
					ep_add(w, run_slot, run_packets, run_bytes, run_drops, now);
				run_key = key_of[i];
				run_slot = slot;
				run_packets = run_bytes = run_drops = 0;
			}
			run_packets++;
			run_bytes += bytes;
			run_drops += reason && reason < FAB_DROP__COUNT;
		}
		src_bytes += bytes;
		src_drops += reason && reason < FAB_DROP__COUNT;
	}
	/* The last run's endpoint; and the one VM bound to the port, which every frame of the
	 * burst came from, once per burst. */
	if (run_packets)
		ep_add(w, run_slot, run_packets, run_bytes, run_drops, now);
	if (src_slot)
		ep_add(w, (uint32_t)src_slot - 1, n, src_bytes, src_drops, now);
	if (nd)
		rte_pktmbuf_free_bulk(drop, nd);
}

/* Drops the held frames at the head of `p`'s queue that waited longer than the hold
 * timeout (checked once per millisecond). */
static unsigned int expire_held(struct dp_worker *w, struct dp_port *p, uint64_t now)
{
	struct dp_held h;
	unsigned int n = 0;

	if (now < w->next_hold_check)
		return 0;
	/* Oldest first: peek at the head and take it only if it has expired. */
	while (n < DP_BURST &&
	       rte_ring_dequeue_bulk_elem_start(p->hold, &h, sizeof(h), 1, NULL) == 1) {
		/* Not `now - h.tsc`: another worker (the uplink's, or a device's refusal in
		 * its own turn) may have queued the frame with a reading taken after `now`. */
		if (h.tsc + w->b->hold_timeout_tsc > now) {
			rte_ring_dequeue_elem_finish(p->hold, 0);
			break;
		}
		rte_ring_dequeue_elem_finish(p->hold, 1);
		rte_pktmbuf_free(h.m);
		count_drop(w, FAB_DROP_HOLD_TIMEOUT);
		n++;
	}
	return n;
}

/* The VM a held frame waits for: its destination MAC (held frames are inner frames, and
 * only unicast frames for the VM are held), packed as in a port's binding. */
static inline uint64_t held_mac(const struct dp_held *h)
{
	return dp_mac_pack(rte_pktmbuf_mtod(h->m, const uint8_t *));
}

/* How many of the `n` frames in `h` are for `mac`, from the first on. */
static inline unsigned int held_run(const struct dp_held *h, unsigned int n, uint64_t mac)
{
	unsigned int i = 0;

	while (i < n && held_mac(&h[i]) == mac)
		i++;
	return i;
}

/* The same for the head of `p`'s queue, up to a burst: looked at, not taken. */
static unsigned int head_run(struct dp_port *p, uint64_t mac)
{
	struct dp_held h[DP_BURST];
	unsigned int n = rte_ring_dequeue_burst_elem_start(p->hold, h, sizeof(h[0]), DP_BURST, NULL);
	unsigned int run = held_run(h, n, mac);

	rte_ring_dequeue_elem_finish(p->hold, 0);
	return run;
}

/* Sends the held frames for the VM that now takes them (`mac`, the ones at the head of
 * the queue), oldest first; what the device does not take stays at the head of the
 * queue for the next turn. */
static unsigned int release_held(struct dp_worker *w, struct dp_port *p, uint64_t mac)
{
	struct dp_held h[DP_BURST];
	struct rte_mbuf *m[DP_BURST];
	unsigned int n, sent;

	/* Frames this worker buffered before the queue filled are older: they go first. */
	rte_eth_tx_buffer_flush(p->ethdev, (uint16_t)w->id, w->tx[p - w->b->ports]);
	n = rte_ring_dequeue_burst_elem_start(p->hold, h, sizeof(h[0]), DP_BURST, NULL);
	n = held_run(h, n, mac);
	for (unsigned int i = 0; i < n; i++)
		m[i] = h[i].m;
	sent = n ? rte_eth_tx_burst(p->ethdev, (uint16_t)w->id, m, (uint16_t)n) : 0;
	rte_ring_dequeue_elem_finish(p->hold, sent);
	w->ctr[FAB_CTR_RELEASED] += sent;
	return sent;
}

/* The VM that `limit` frames at the head of the queue wait for (`mac`) is not coming to
 * this port any more: it left (the port FORWARDING: paused for the switchover, then
 * moved), a migration to here failed (the port unbound, the endpoint REMOTE at the source
 * again), or the port was given to another VM before they drained. The frames follow the
 * VM: re-encapsulated to wherever its endpoint points now, marked when this host forwards
 * for a migration. Returns how many went, or -1 when the endpoint points nowhere they
 * could go (the caller drops them). `lingering`: the VM is leaving from this port, and
 * its endpoint may not say where to yet. */
static int send_held_on(struct dp_worker *w, struct dp_port *p, uint64_t mac_word,
			unsigned int limit, bool lingering)
{
	uint8_t mac[6];
	struct dp_ep_probe probe;
	struct fab_endpoint loc;
	struct dp_held h[DP_BURST];
	struct dp_pkt pkt;
	uint64_t data;
	uint32_t slot;
	unsigned int n;
	uint8_t mark;

	dp_mac_unpack(mac_word, mac);
	dp_ep_probe_init(&w->b->ep_table, &probe, p->vni, mac);
	if (!mac_word || !dp_ep_lookup(&w->b->ep_table, &probe, &data))
		return -1;
	dp_ep_unpack(data, &loc, &slot);
	if (loc.state == FAB_EP_FORWARDING)
		mark = 1;
	else if (loc.state == FAB_EP_REMOTE)
		mark = 0;
	else if (lingering)
		return 0; /* between two publishes: look again next turn */
	else
		return -1; /* nowhere they could go; a VM LOCAL or INCOMING on another port here
			    * (moved between two ports of one host) is not looked for */
	n = rte_ring_dequeue_burst_elem(p->hold, h, sizeof(h[0]), limit, NULL);
	for (unsigned int i = 0; i < n; i++) {
		struct fab_verdict v = {.action = FAB_ACT_ENCAP, .mark = mark | h[i].marked,
					.vtep = loc.vtep, .vni = p->vni};
		const uint8_t *d = rte_pktmbuf_mtod(h[i].m, const uint8_t *);
		unsigned int reason;

		memset(&pkt.f, 0, sizeof(pkt.f));
		fab_parse_frame(d, d + rte_pktmbuf_data_len(h[i].m), &pkt.f); /* for the flow hash */
		reason = encap(w, h[i].m, &pkt, &v);
		/* The frame was counted to the endpoint when it arrived; only a drop is new. */
		if (reason) {
			count_drop(w, reason);
			w->ep[slot].drops++;
			rte_pktmbuf_free(h[i].m);
		}
	}
	return (int)n;
}

/* Drops the first `n` held frames: there is nowhere they could go. */
static unsigned int cancel_held(struct dp_worker *w, struct dp_port *p, unsigned int n)
{
	struct dp_held h[DP_BURST];

	n = rte_ring_dequeue_burst_elem(p->hold, h, sizeof(h[0]), n, NULL);
	for (unsigned int i = 0; i < n; i++)
		rte_pktmbuf_free(h[i].m);
	w->drops[FAB_DROP_HOLD_CANCELLED] += n;
	w->ctr[FAB_CTR_DROPPED] += n;
	return n;
}

/* The owner of a VM port drains its hold queue: released in arrival order once the VM
 * runs here and takes frames, sent on when the VM left meanwhile or is not coming after
 * all, dropped when they waited too long or the VM's endpoint is gone. Frames for a VM the
 * port is no longer bound to go first, where that VM is. */
static unsigned int drain_hold(struct dp_worker *w, struct dp_port *p, uint64_t now)
{
	uint64_t binding, mac, head;
	uint8_t bound;
	bool active;
	struct dp_held h;
	unsigned int n = 0;

	if (rte_ring_empty(p->hold) ||
	    rte_ring_dequeue_bulk_elem_start(p->hold, &h, sizeof(h), 1, NULL) != 1)
		return 0;
	head = held_mac(&h);
	rte_ring_dequeue_elem_finish(p->hold, 0);
	binding = __atomic_load_n(&p->binding, __ATOMIC_ACQUIRE);
	mac = binding & DP_MAC_MASK;
	bound = (uint8_t)(binding >> 48);
	active = bound == FAB_EP_LOCAL || __atomic_load_n(&p->activated, __ATOMIC_ACQUIRE);
	if (head == mac && active && !__atomic_load_n(&p->paused, __ATOMIC_ACQUIRE)) {
		n = release_held(w, p, mac);
		if (n == DP_BURST)
			return n;
	} else if (head != mac || (!active && bound != FAB_EP_INCOMING)) {
		/* Frames for a VM that is not coming to this port: another VM's, left from
		 * before the port was given to this one, or this VM's after it left. */
		unsigned int run = head_run(p, head);
		int sent = send_held_on(w, p, head, run, head == mac && bound == FAB_EP_FORWARDING);

		if (sent < 0)
			return cancel_held(w, p, run);
		if (sent > 0)
			return (unsigned int)sent;
		/* Nothing yet (between two publishes): the hold timeout still runs. */
	}
	return n + expire_held(w, p, now);
}

/* What a frame buffered for a VM port was counted as: a proxy ARP or ND reply, or a
 * delivered frame. */
static enum fab_counter uncount_as(const struct dpdk_backend *b, const struct rte_mbuf *m)
{
	const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
	struct fab_frame f;

	if (!(m->ol_flags & b->reply_flag))
		return FAB_CTR_DELIVERED;
	memset(&f, 0, sizeof(f));
	fab_parse_frame(d, d + rte_pktmbuf_data_len(m), &f);
	return f.kind == FAB_L3_ARP ? FAB_CTR_ARP_REPLIED : FAB_CTR_ND_REPLIED;
}

/* A transmit buffer's error callback: frames a device did not take. A vhost-user port's
 * go to its hold queue (its rings stop under a burst when QEMU pauses the VM); other
 * ports' are dropped and counted. */
void dp_unsent(struct rte_mbuf **unsent, uint16_t count, void *userdata)
{
	struct dp_unsent_ctx *c = userdata;
	struct dp_worker *w = c->w;
	unsigned int held = 0;

	if (c->p->hold_unsent) {
		struct dp_held h[DP_BURST];
		unsigned int n = count < DP_BURST ? count : DP_BURST; /* buffers hold DP_BURST */

		for (unsigned int i = 0; i < n; i++)
			h[i] = (struct dp_held){.m = unsent[i], .tsc = w->now};
		held = rte_ring_enqueue_burst_elem(c->p->hold, h, sizeof(h[0]), n, NULL);
		w->ctr[FAB_CTR_HELD] += held;
		/* Counted as delivered (or as proxy replies) when they were buffered: they were
		 * not, yet. They count as released when they are. */
		for (unsigned int i = 0; i < held; i++)
			w->ctr[uncount_as(w->b, unsent[i])]--;
	}
	if (held < count) {
		rte_pktmbuf_free_bulk(unsent + held, count - held);
		w->drops[FAB_DROP_TX_FULL] += count - held;
		w->ctr[FAB_CTR_DROPPED] += count - held;
	}
}

static void flush_tx(struct dp_worker *w)
{
	struct dpdk_backend *b = w->b;

	for (unsigned int i = 0; i < b->n_ports; i++)
		rte_eth_tx_buffer_flush(b->ports[i].ethdev, (uint16_t)w->id, w->tx[i]);
}

static void idle_sleep(struct dp_worker *w, unsigned int us)
{
	struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)us * 1000};

	rte_rcu_qsbr_thread_offline(w->b->qsbr, w->id);
	nanosleep(&ts, NULL);
	rte_rcu_qsbr_thread_online(w->b->qsbr, w->id);
}

int dp_worker_main(void *arg)
{
	struct dp_worker *w = arg;
	struct dpdk_backend *b = w->b;
	struct rte_mbuf *pkts[DP_BURST];
	uint64_t ms_tsc = rte_get_tsc_hz() / 1000;
	unsigned int idle = 0;

	rte_rcu_qsbr_thread_register(b->qsbr, w->id);
	rte_rcu_qsbr_thread_online(b->qsbr, w->id);
	while (__atomic_load_n(&b->running, __ATOMIC_ACQUIRE)) {
		unsigned int work = 0;
		uint64_t now = rte_rdtsc(); /* one reading per turn: the bursts' and the queues' */

		w->now = now;

		for (unsigned int i = 0; i < w->n_rx_ports; i++) {
			struct dp_port *p = &b->ports[w->rx_ports[i]];
			uint16_t n = rte_eth_rx_burst(p->ethdev, 0, pkts, DP_BURST);

			if (n) {
				process_burst(w, p, pkts, n, now);
				work += n;
			}
		}
		for (unsigned int i = 0; i < w->n_rx_ports; i++) {
			struct dp_port *p = &b->ports[w->rx_ports[i]];

			if (p->hold)
				work += drain_hold(w, p, now);
		}
		if (now >= w->next_hold_check)
			w->next_hold_check = now + ms_tsc;
		flush_tx(w);
		rte_rcu_qsbr_quiescent(b->qsbr, w->id);

		if (work) {
			idle = 0;
		} else if (b->cfg.idle_sleep_max_us && ++idle > 64) {
			/* Back off: 1, 2, 4 ... up to the configured microseconds. */
			unsigned int shift = idle - 64 > 16 ? 16 : idle - 64;
			unsigned int us = 1u << shift;

			idle_sleep(w, us < b->cfg.idle_sleep_max_us ? us : b->cfg.idle_sleep_max_us);
		}
	}
	flush_tx(w);
	rte_rcu_qsbr_thread_offline(b->qsbr, w->id);
	rte_rcu_qsbr_thread_unregister(b->qsbr, w->id);
	return 0;
}
