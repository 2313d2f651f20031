/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DPDK backend's shared state: what the control thread publishes and the workers
 * read. Workers and the control thread meet only here, through
 *   - the endpoint table (dpdk_ep_table.h) and the rte_hash tables (lock-free readers,
 *     one writer: the control thread), whose freed entries wait for a QSBR grace period;
 *   - 64-bit words written atomically (the fast path's view of an endpoint is packed
 *     into the hash's data word, a port's binding into one word per port);
 *   - a ring from the workers to the control thread for events.
 */
#ifndef FAB_DPDK_INTERNAL_H
#define FAB_DPDK_INTERNAL_H

#include <string.h>

#include <rte_ethdev.h>
#include <rte_hash.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include "dpdk_backend.h"
#include "dpdk_ep_table.h"
#include "fab_decide.h"

#define DP_BURST 32
#define DP_UPLINK 0
#define DP_MAX_PORTS (DPDK_MAX_VM_PORTS + 1)
#define DP_VTEP_CACHE 4096 /* entries per worker (256 KiB): hosts of a large fabric stay cached */

/*
 * The fast path's view of an endpoint, packed into the 64-bit data word of its table
 * entry so that an update is one atomic store: bits 0-3 the state, 4-31 the counter
 * slot, 32-63 the port (LOCAL, INCOMING) or the VTEP (REMOTE, FORWARDING).
 */
static inline uint64_t dp_ep_pack(const struct fab_endpoint *loc, uint32_t slot)
{
	uint32_t where = loc->state == FAB_EP_LOCAL || loc->state == FAB_EP_INCOMING ? loc->port
										       : loc->vtep;

	return (uint64_t)where << 32 | (uint64_t)(slot & 0x0fffffffu) << 4 | (loc->state & 0xf);
}

/* The counter slot alone, for prefetching it. */
static inline uint32_t dp_ep_slot(uint64_t w)
{
	return (uint32_t)(w >> 4) & 0x0fffffffu;
}

/* Does the endpoint of data word `w` live on another host (REMOTE, or FORWARDING to a
 * migration target)? dp_ep_vtep() then names it. */
static inline bool dp_ep_remote(uint64_t w)
{
	return (w & 0xf) == FAB_EP_REMOTE || (w & 0xf) == FAB_EP_FORWARDING;
}

static inline uint32_t dp_ep_vtep(uint64_t w)
{
	return (uint32_t)(w >> 32);
}

static inline void dp_ep_unpack(uint64_t w, struct fab_endpoint *loc, uint32_t *slot)
{
	loc->state = (uint8_t)(w & 0xf);
	loc->generation = 0; /* the fast path never needs it */
	loc->flags = 0;
	*slot = dp_ep_slot(w);
	if (loc->state == FAB_EP_LOCAL || loc->state == FAB_EP_INCOMING) {
		loc->port = (uint16_t)(w >> 32);
		loc->vtep = 0;
	} else {
		loc->port = 0;
		loc->vtep = dp_ep_vtep(w);
	}
}

#define DP_MAC_MASK 0xffffffffffffull /* a packed MAC's bits in a port's binding */

/* A MAC in the low 48 bits of a word, as two loads in host byte order (the word never
 * leaves the process): the encap path unpacks one per frame, and a byte loop there cost
 * 2% of the worker. */
static inline uint64_t dp_mac_pack(const uint8_t *mac)
{
	uint32_t lo;
	uint16_t hi;

	memcpy(&lo, mac, 4);
	memcpy(&hi, mac + 4, 2);
	return (uint64_t)hi << 32 | lo;
}

static inline void dp_mac_unpack(uint64_t w, uint8_t *mac)
{
	uint32_t lo = (uint32_t)w;
	uint16_t hi = (uint16_t)(w >> 32);

	memcpy(mac, &lo, 4);
	memcpy(mac + 4, &hi, 2);
}

/* (VNI, family, address): the key of the ARP/ND proxy table. */
struct dp_addr_key {
	uint32_t vni;
	uint8_t family;
	uint8_t zero[3];
	uint8_t addr[16];
};

/* Hold queue entry: a frame for an incoming VM and when it arrived. */
struct dp_held {
	struct rte_mbuf *m;
	uint64_t tsc;
	/* It came forwarded by a migration source (marked): if it must leave this host
	 * again, it leaves marked, so that nobody forwards it once more. */
	uint8_t marked;
	uint8_t pad[7];
};

struct dp_port {
	char name[FAB_PORT_NAME_MAX];
	uint16_t ethdev;
	uint16_t index; /* 0: the uplink */
	uint32_t vni;
	uint16_t owner; /* the worker that polls its RX queue and drains its hold queue */
	/* Binding, written by the control thread: bits 0-47 the MAC, 48-55 the state
	 * (FAB_EP_LOCAL, FAB_EP_INCOMING or ABSENT). */
	uint64_t binding;
	/* The bound endpoint's counter slot + 1, or 0: counts the VM's own frames. */
	uint64_t bound_slot;
	/* Set by a worker that saw the incoming VM announce itself; cleared by the control
	 * thread when it publishes the port's next binding. */
	uint8_t activated;
	uint8_t overflow_reported;
	/* The VM behind the port is not taking frames: a vhost-user port whose device QEMU
	 * has stopped (the VM paused, e.g. for a migration's switchover) or not started yet.
	 * Written by the ethdev's link-state callback; frames for the port wait in its hold
	 * queue meanwhile. Never set on other kinds of port. */
	uint8_t paused;
	/* A frame the device refused (a vhost-user port's rings stopping under a burst) goes
	 * to the hold queue instead of being dropped. */
	uint8_t hold_unsent;
	struct rte_ring *hold;
};

/* What a transmit buffer's error callback needs: whose counters, which port. */
struct dp_unsent_ctx {
	struct dp_worker *w;
	struct dp_port *p;
};

/* One worker's counters, summed by the control thread on read. */
struct dp_ep_counters {
	uint64_t packets;
	uint64_t bytes;
	uint64_t drops;
	uint64_t last_tsc;
};

/* A host as a worker caches it: whether it is known and, if so, the VXLAN header towards
 * it (fab_vxlan_write()'s for an empty inner frame, port 0, VNI 0, no marker), which
 * fab_vxlan_from_template() completes per frame. One cache line. */
struct dp_vtep_cache_entry {
	uint32_t vtep;
	uint32_t gen; /* hosts_gen when filled; 0: empty */
	uint8_t known;
	uint8_t hdr[FAB_VXLAN_ENCAP_LEN];
} __rte_cache_aligned;

struct dp_tx {
	struct rte_eth_dev_tx_buffer *buf;
};

struct dp_worker {
	struct dpdk_backend *b;
	unsigned int id;
	unsigned int lcore;
	uint16_t rx_ports[DP_MAX_PORTS];
	unsigned int n_rx_ports;
	struct rte_eth_dev_tx_buffer *tx[DP_MAX_PORTS];
	struct dp_unsent_ctx unsent[DP_MAX_PORTS];
	uint64_t ctr[FAB_CTR__COUNT];
	uint64_t drops[FAB_DROP__COUNT];
	struct dp_ep_counters *ep; /* [max_endpoints] */
	struct dp_vtep_cache_entry *vtep_cache; /* [DP_VTEP_CACHE], for configured workers only */
	uint64_t next_hold_check;
	uint64_t now; /* the TSC read at the start of this turn: held frames' timestamp */
} __rte_cache_aligned;

struct dpdk_backend {
	struct dpdk_config cfg;
	struct fab_host_ctx host;
	struct dp_port ports[DP_MAX_PORTS];
	unsigned int n_ports; /* uplink + VM ports */
	struct dp_port *port_of_index[FAB_MAX_PORTS]; /* VM ports by their fabric index */
	struct rte_mempool *pool;
	struct dp_ep_table ep_table;
	struct rte_hash *addr_hash;
	struct rte_hash *host_hash;
	uint64_t *vni_bits; /* one bit per VNI */
	struct fab_ep_stats *ep_base; /* per slot: counter sums when the slot was assigned */
	uint32_t hosts_gen; /* bumped on every host change, so worker caches refill */
	struct rte_rcu_qsbr *qsbr;
	struct rte_ring *events; /* struct fab_dp_event, workers -> control */
	struct dp_worker workers[DPDK_MAX_WORKERS];
	unsigned int n_workers;
	uint64_t hold_timeout_tsc;
	/* An ol_flags bit (a dynamic flag) on proxy ARP and ND replies: a reply a vhost-user
	 * device refuses is taken back from arp_replied or nd_replied, not from delivered. */
	uint64_t reply_flag;
	volatile bool running;
	bool started;
};

int dp_tables_create(struct dpdk_backend *b, char *err, size_t err_len);
void dp_tables_destroy(struct dpdk_backend *b);
int dp_worker_main(void *arg);
bool dp_port_holds_paused(void *be, uint16_t index);
void dp_unsent(struct rte_mbuf **unsent, uint16_t count, void *userdata);

static inline bool dp_vni_known(const struct dpdk_backend *b, uint32_t vni)
{
	return (__atomic_load_n(&b->vni_bits[vni >> 6], __ATOMIC_RELAXED) >> (vni & 63)) & 1;
}

#endif
