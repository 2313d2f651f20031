/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DPDK backend's tables and its side of the provider interface: the control thread
 * publishes, workers read without locks. Key slots freed by a deletion are reused only
 * after every worker has passed a quiescent state (QSBR, through the hash's own defer
 * queue); data words are replaced by one atomic store.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <rte_cycles.h>
#include <rte_hash_crc.h>
#include <rte_malloc.h>

#include "dpdk_internal.h"

static struct rte_hash *hash_create(const char *name, uint32_t entries, uint32_t key_len)
{
	char full[RTE_HASH_NAMESIZE];
	struct rte_hash_parameters p = {
		.name = full,
		.entries = entries,
		.key_len = key_len,
		.hash_func = rte_hash_crc,
		.socket_id = (int)rte_socket_id(),
		.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF,
	};

	/* Names are global to the process: several backends may live in one (tests). */
	snprintf(full, sizeof(full), "%s_%p", name, (void *)&p);
	return rte_hash_create(&p);
}

static int attach_qsbr(struct dpdk_backend *b, struct rte_hash *h)
{
	/* Freed key slots wait in a defer queue until the workers have moved on. DPDK sizes
	 * it for the whole table by default (a quarter of the memory of 1M endpoints);
	 * 64K waiting deletions are plenty, since workers report a quiescent state every
	 * loop and a full queue is reclaimed on the spot. */
	struct rte_hash_rcu_config rc = {
		.v = b->qsbr,
		.mode = RTE_HASH_QSBR_MODE_DQ,
		.dq_size = 65536,
		.trigger_reclaim_limit = 1024,
		.max_reclaim_size = 4096,
	};

	return rte_hash_rcu_qsbr_add(h, &rc);
}

int dp_tables_create(struct dpdk_backend *b, char *err, size_t err_len)
{
	size_t qsize = rte_rcu_qsbr_get_memsize(DPDK_MAX_WORKERS);
	char name[RTE_RING_NAMESIZE];

	b->qsbr = rte_zmalloc("fab_qsbr", qsize, RTE_CACHE_LINE_SIZE);
	if (!b->qsbr || rte_rcu_qsbr_init(b->qsbr, DPDK_MAX_WORKERS)) {
		snprintf(err, err_len, "cannot allocate the RCU state");
		return -ENOMEM;
	}
	uint32_t addresses = b->cfg.max_addresses ? b->cfg.max_addresses : b->cfg.max_endpoints * 2;

	b->addr_hash = hash_create("fab_addr", addresses + addresses / 8 + 64,
				   sizeof(struct dp_addr_key));
	b->host_hash = hash_create("fab_host", 8192, sizeof(uint32_t));
	b->vni_bits = rte_zmalloc("fab_vnis", (FAB_VNI_MAX + 1) / 8, RTE_CACHE_LINE_SIZE);
	snprintf(name, sizeof(name), "fab_ev_%p", (void *)b);
	b->events = rte_ring_create_elem(name, sizeof(struct fab_dp_event), 1024,
					 (int)rte_socket_id(), RING_F_SC_DEQ);
	if (dp_ep_table_init(&b->ep_table, b->cfg.max_endpoints, b->qsbr, (int)rte_socket_id()) ||
	    !b->addr_hash || !b->host_hash || !b->vni_bits || !b->events) {
		snprintf(err, err_len,
			 "cannot allocate tables for %u endpoints (try a smaller --max-endpoints, "
			 "or more memory with -m or hugepages)",
			 b->cfg.max_endpoints);
		return -ENOMEM;
	}
	if (attach_qsbr(b, b->addr_hash) ||
	    attach_qsbr(b, b->host_hash)) {
		snprintf(err, err_len, "cannot attach RCU to the tables");
		return -ENOMEM;
	}
	b->ep_base = rte_zmalloc("fab_ep_base", sizeof(*b->ep_base) * b->cfg.max_endpoints, 0);
	if (!b->ep_base) {
		snprintf(err, err_len, "cannot allocate endpoint counters for %u endpoints",
			 b->cfg.max_endpoints);
		return -ENOMEM;
	}
	for (unsigned int w = 0; w < b->n_workers; w++) {
		b->workers[w].ep = rte_zmalloc("fab_ep_ctr",
					       sizeof(struct dp_ep_counters) * b->cfg.max_endpoints,
					       RTE_CACHE_LINE_SIZE);
		if (!b->workers[w].ep) {
			snprintf(err, err_len, "cannot allocate endpoint counters for %u endpoints",
				 b->cfg.max_endpoints);
			return -ENOMEM;
		}
	}
	return 0;
}

void dp_tables_destroy(struct dpdk_backend *b)
{
	dp_ep_table_fini(&b->ep_table);
	rte_hash_free(b->addr_hash);
	rte_hash_free(b->host_hash);
	rte_ring_free(b->events);
	rte_free(b->vni_bits);
	rte_free(b->ep_base);
	for (unsigned int w = 0; w < b->n_workers; w++)
		rte_free(b->workers[w].ep);
	rte_free(b->qsbr);
}

/* Adds or replaces, or deletes: the data word is stored atomically for readers. */
static int hash_set(struct rte_hash *h, const void *key, uint64_t data, bool present)
{
	int ret;

	if (!present) {
		ret = rte_hash_del_key(h, key);
		return ret == -ENOENT ? 0 : (ret < 0 ? ret : 0);
	}
	ret = rte_hash_add_key_data(h, key, (void *)(uintptr_t)data);
	return ret == -ENOSPC ? -ENOSPC : ret;
}

static int dp_endpoint_publish(void *be, const struct fab_ep_key *key,
			       const struct fab_endpoint *loc, uint32_t stats)
{
	struct dpdk_backend *b = be;
	int ret;

	if (loc->state == FAB_EP_ABSENT) {
		ret = dp_ep_table_del(&b->ep_table, key->vni, key->mac);
		return ret == -ENOENT ? 0 : ret;
	}
	return dp_ep_table_set(&b->ep_table, key->vni, key->mac, dp_ep_pack(loc, stats));
}

static int dp_address_publish(void *be, uint32_t vni, int family, const uint8_t *addr,
			      const uint8_t *mac)
{
	struct dpdk_backend *b = be;
	struct dp_addr_key k = {.vni = vni, .family = (uint8_t)family};

	memcpy(k.addr, addr, family == 4 ? 4 : 16);
	return hash_set(b->addr_hash, &k, mac ? dp_mac_pack(mac) : 0, mac != NULL);
}

static int dp_host_publish(void *be, uint32_t vtep, const uint8_t *mac)
{
	struct dpdk_backend *b = be;
	int ret = hash_set(b->host_hash, &vtep, mac ? dp_mac_pack(mac) : 0, mac != NULL);

	/* Workers cache host lookups; a new generation empties their caches. Steps of two:
	 * a worker tags its entries with the generation | 1 (0 marks an empty entry). */
	if (ret == 0)
		__atomic_add_fetch(&b->hosts_gen, 2, __ATOMIC_RELEASE);
	return ret;
}

static int dp_vni_publish(void *be, uint32_t vni, bool present)
{
	struct dpdk_backend *b = be;
	uint64_t bit = 1ull << (vni & 63);

	if (present)
		__atomic_fetch_or(&b->vni_bits[vni >> 6], bit, __ATOMIC_RELEASE);
	else
		__atomic_fetch_and(&b->vni_bits[vni >> 6], ~bit, __ATOMIC_RELEASE);
	return 0;
}

static struct dp_port *port_by_index(struct dpdk_backend *b, uint16_t index)
{
	for (unsigned int i = 1; i < b->n_ports; i++)
		if (b->ports[i].index == index)
			return &b->ports[i];
	return NULL;
}

static int dp_port_publish(void *be, uint16_t index, uint32_t vni, uint8_t bound,
			   const uint8_t *mac)
{
	struct dpdk_backend *b = be;
	struct dp_port *p = port_by_index(b, index);
	uint64_t word, old;

	if (!p)
		return -ENOENT;
	if (vni != p->vni)
		return -EINVAL;
	/* Unbound, the port keeps the MAC it had: frames still held for that VM are sent
	 * where its endpoint now points (drain_hold). */
	old = __atomic_load_n(&p->binding, __ATOMIC_RELAXED) & DP_MAC_MASK;
	word = (uint64_t)bound << 48 | (mac ? dp_mac_pack(mac) : old);
	/* Given to another VM: the workers first finish the bursts they decided while the
	 * port was the previous VM's (its endpoint has moved by now: fabric.c unbinds a port
	 * before it binds another VM), and send what they buffered for it (a worker flushes
	 * before it reports a quiescent state). What they queued for it stays queued and
	 * follows it (drain_hold). Without this wait, a frame delivered or held for the
	 * previous VM mid-burst would reach the new one. */
	if (old && (word & DP_MAC_MASK) != old)
		rte_rcu_qsbr_synchronize(b->qsbr, RTE_QSBR_THRID_INVALID);
	__atomic_store_n(&p->binding, word, __ATOMIC_RELEASE);
	/* The new binding now says what the activation flag said. */
	__atomic_store_n(&p->activated, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&p->overflow_reported, 0, __ATOMIC_RELAXED);
	return 0;
}

/* Binds the counter slot a port's own frames are counted to (0: none). Called with the
 * slot's endpoint publish. */
static void port_slot_set(struct dpdk_backend *b, uint16_t index, uint64_t slot_plus_one)
{
	struct dp_port *p = port_by_index(b, index);

	if (p)
		__atomic_store_n(&p->bound_slot, slot_plus_one, __ATOMIC_RELEASE);
}

static int dp_endpoint_publish_and_bind(void *be, const struct fab_ep_key *key,
					const struct fab_endpoint *loc, uint32_t stats)
{
	struct dpdk_backend *b = be;
	int ret = dp_endpoint_publish(be, key, loc, stats);

	if (ret == 0 && (loc->state == FAB_EP_LOCAL || loc->state == FAB_EP_INCOMING))
		port_slot_set(b, loc->port, (uint64_t)stats + 1);
	return ret;
}

static void dp_endpoint_stats(void *be, uint32_t slot, bool reset, struct fab_ep_stats *out)
{
	struct dpdk_backend *b = be;
	struct fab_ep_stats *base;
	uint64_t last = 0;

	memset(out, 0, sizeof(*out));
	if (slot >= b->cfg.max_endpoints)
		return;
	base = &b->ep_base[slot];
	for (unsigned int w = 0; w < b->n_workers; w++) {
		const struct dp_ep_counters *c = &b->workers[w].ep[slot];
		uint64_t t = __atomic_load_n(&c->last_tsc, __ATOMIC_RELAXED);

		out->packets += __atomic_load_n(&c->packets, __ATOMIC_RELAXED);
		out->bytes += __atomic_load_n(&c->bytes, __ATOMIC_RELAXED);
		out->drops += __atomic_load_n(&c->drops, __ATOMIC_RELAXED);
		if (t > last)
			last = t;
	}
	if (reset) {
		/* A slot's new owner starts from zero. Workers only ever add to their own
		 * counters, so the control thread keeps a baseline instead of writing them. */
		*base = *out;
		base->last_seen_ns = last;
		memset(out, 0, sizeof(*out));
		return;
	}
	out->packets -= base->packets;
	out->bytes -= base->bytes;
	out->drops -= base->drops;
	if (last > base->last_seen_ns) {
		/* TSC to wall clock: now minus how long ago. */
		struct timespec ts;
		uint64_t ago_ns = (rte_get_tsc_cycles() - last) * 1000000000ull / rte_get_tsc_hz();

		clock_gettime(CLOCK_REALTIME, &ts);
		out->last_seen_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec - ago_ns;
	}
}

static void dp_host_stats(void *be, struct fab_host_stats *out)
{
	struct dpdk_backend *b = be;

	for (unsigned int w = 0; w < b->n_workers; w++) {
		for (int i = 0; i < FAB_CTR__COUNT; i++)
			out->counters[i] += __atomic_load_n(&b->workers[w].ctr[i], __ATOMIC_RELAXED);
		for (int i = 0; i < FAB_DROP__COUNT; i++)
			out->drops[i] += __atomic_load_n(&b->workers[w].drops[i], __ATOMIC_RELAXED);
	}
}

static int dp_poll_events(void *be, struct fab_dp_event *ev, int max)
{
	struct dpdk_backend *b = be;

	return (int)rte_ring_dequeue_burst_elem(b->events, ev, sizeof(*ev), (unsigned int)max,
						NULL);
}

const struct fab_backend_ops dpdk_backend_ops = {
	.name = "dpdk",
	.endpoint_publish = dp_endpoint_publish_and_bind,
	.address_publish = dp_address_publish,
	.host_publish = dp_host_publish,
	.vni_publish = dp_vni_publish,
	.port_publish = dp_port_publish,
	.endpoint_stats = dp_endpoint_stats,
	.host_stats = dp_host_stats,
	.port_holds_paused = dp_port_holds_paused,
	.poll_events = dp_poll_events,
};
