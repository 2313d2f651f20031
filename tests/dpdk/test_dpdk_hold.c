/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The hold queue of an incoming VM, through the real DPDK backend on ring PMD ports:
 * frames for an INCOMING endpoint are held, released in arrival order when the VM
 * announces itself (the fast path activates it without the control plane), dropped and
 * counted when the queue overflows (with one event), after the hold timeout, and when
 * the VM's endpoint is deleted; sent back to the source, in order, when the migration
 * fails and the endpoint points there again, also when the port is given to another VM
 * meanwhile. And, on the same rig, the workers' host caches following a host's MAC.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dpdk_backend.h"
#include "dpdk_rig.h"
#include "fab_rewrite.h"
#include "fabric.h"

#define HOLD 8


static struct rte_mempool *pool;
static unsigned int rig_no;

struct rig {
	struct rte_ring *rx[2], *tx[2]; /* [0] uplink, [1] the VM's port */
	struct dpdk_backend *b;
	struct fabric *fab;
	bool live;
};

static struct rig r;
static unsigned int rig_idle_us; /* the worker's longest idle nap, if not the rig's */

static void port(int i, char *devname)
{
	dpdk_rig_ring_port("h", rig_no, i, &r.rx[i], &r.tx[i], devname);
}

/* A host with the VM INCOMING on its port "vm" (generation 2), the client remote. */
static void rig_up(unsigned int hold_timeout_ms)
{
	struct dpdk_config cfg;
	struct fabric_config fcfg = {.local_vtep = RIG_HOST, .max_endpoints = 16};
	struct fab_ep_key vm = {.vni = RIG_VNI}, client = {.vni = RIG_VNI};
	struct fab_endpoint incoming = {.state = FAB_EP_INCOMING, .port = 1, .generation = 2};
	struct fab_endpoint remote = {.state = FAB_EP_REMOTE, .vtep = RIG_PEER, .generation = 1};
	char err[256];

	rig_no++;
	dpdk_rig_config(&cfg, RIG_HOST, rig_host_mac);
	cfg.hold_frames = HOLD;
	cfg.hold_timeout_ms = hold_timeout_ms;
	cfg.mbufs = 2048;
	if (rig_idle_us)
		cfg.idle_sleep_max_us = rig_idle_us;
	port(0, cfg.uplink_devargs);
	port(1, cfg.vm_ports[0].devargs);
	snprintf(cfg.vm_ports[0].name, sizeof(cfg.vm_ports[0].name), "vm");
	cfg.vm_ports[0].vni = RIG_VNI;
	cfg.n_vm_ports = 1;
	if (dpdk_backend_create(&r.b, &cfg, err, sizeof(err)))
		fail_msg("backend: %s", err);
	r.live = true;
	assert_int_equal(fabric_create(&r.fab, &fcfg, &dpdk_backend_ops, r.b), 0);
	assert_int_equal(fabric_port_add(r.fab, 1, "vm", RIG_VNI), 0);
	assert_int_equal(fabric_host_set(r.fab, RIG_PEER, rig_peer_mac), 0);
	memcpy(vm.mac, rig_vm_mac, 6);
	memcpy(client.mac, rig_client_mac, 6);
	assert_int_equal(fabric_endpoint_upsert(r.fab, &vm, &incoming, NULL), 0);
	assert_int_equal(fabric_endpoint_upsert(r.fab, &client, &remote, NULL), 0);
	if (dpdk_backend_start(r.b, err, sizeof(err)))
		fail_msg("start: %s", err);
}

static int rig_down(void **state)
{
	struct rte_mbuf *m;

	(void)state;
	if (!r.live)
		return 0;
	dpdk_backend_stop(r.b);
	fabric_destroy(r.fab);
	dpdk_backend_destroy(r.b);
	for (int i = 0; i < 2; i++) {
		while (rte_ring_dequeue(r.tx[i], (void **)&m) == 0)
			rte_pktmbuf_free(m);
		while (rte_ring_dequeue(r.rx[i], (void **)&m) == 0)
			rte_pktmbuf_free(m);
		rte_ring_free(r.rx[i]);
		rte_ring_free(r.tx[i]);
	}
	memset(&r, 0, sizeof(r));
	rig_idle_us = 0;
	return 0;
}

/* VXLAN from the peer: the client's UDP datagram number `seq` for the VM. */
static void send_from_peer(uint32_t seq)
{
	dpdk_rig_send_from_peer(pool, r.rx[0], &rig_from_peer, seq);
}

/* The VM's gratuitous ARP on its port. */
static void send_garp(void)
{
	assert_int_equal(rte_ring_enqueue(r.rx[1], dpdk_rig_vm_arp_request(pool, 0x0a000001,
									 0x0a000001)), 0);
}

static void settle(uint64_t rx_total)
{
	struct fab_host_stats st;

	for (int i = 0; i < 2000; i++) {
		fabric_stats(r.fab, &st);
		if (st.counters[FAB_CTR_RX] >= rx_total)
			break;
		usleep(500);
	}
	dpdk_backend_sync(r.b);
}

static uint64_t ctr(unsigned int c)
{
	struct fab_host_stats st;

	fabric_stats(r.fab, &st);
	return st.counters[c];
}

static uint64_t dropped(unsigned int reason)
{
	struct fab_host_stats st;

	fabric_stats(r.fab, &st);
	return st.drops[reason];
}

/* Takes every frame the VM's port sent and checks they are `first`, `first`+1, ... */
static unsigned int take_in_order(uint32_t first)
{
	struct rte_mbuf *m;
	unsigned int n = 0;

	while (rte_ring_dequeue(r.tx[1], (void **)&m) == 0) {
		uint32_t seq = fab_load_be32(rte_pktmbuf_mtod(m, uint8_t *) + 14);

		assert_int_equal(seq, first + n);
		rte_pktmbuf_free(m);
		n++;
	}
	return n;
}

static void test_released_in_order_on_the_vms_announcement(void **state)
{
	(void)state;
	rig_up(60000);
	for (uint32_t i = 0; i < 5; i++)
		send_from_peer(i);
	settle(5);
	assert_int_equal(ctr(FAB_CTR_HELD), 5);
	assert_int_equal(rte_ring_count(r.tx[1]), 0); /* nothing reaches the VM before */
	send_garp();
	settle(6);
	/* The fast path flipped the port by itself; the control plane hears of it after. */
	for (int i = 0; i < 200 && ctr(FAB_CTR_RELEASED) < 5; i++) {
		usleep(500);
		dpdk_backend_sync(r.b);
	}
	assert_int_equal(take_in_order(0), 5);
	assert_int_equal(ctr(FAB_CTR_ACTIVATED), 1);
	/* Frames after the activation go straight to the VM, after the held ones. */
	send_from_peer(5);
	settle(7);
	assert_int_equal(take_in_order(5), 1);
	assert_int_equal(ctr(FAB_CTR_HELD), 5); /* that one was not held */
	assert_int_equal(fabric_poll(r.fab, NULL, NULL), 2); /* activated, then INCOMING -> LOCAL */
	{
		struct fab_ep_key vm = {.vni = RIG_VNI};
		struct fab_flow flow;

		memcpy(vm.mac, rig_vm_mac, 6);
		assert_int_equal(fabric_endpoint_get(r.fab, &vm, &flow), 0);
		assert_int_equal(flow.loc.state, FAB_EP_LOCAL);
		assert_int_equal(flow.loc.generation, 2);
	}
}

static void test_overflow_is_dropped_counted_and_reported(void **state)
{
	(void)state;
	rig_up(60000);
	for (uint32_t i = 0; i < HOLD + 3; i++)
		send_from_peer(i);
	settle(HOLD + 3);
	assert_int_equal(ctr(FAB_CTR_HELD), HOLD);
	assert_int_equal(dropped(FAB_DROP_HOLD_OVERFLOW), 3);
	/* One event for the episode, not one per frame. */
	assert_int_equal(fabric_poll(r.fab, NULL, NULL), 1);
	/* The oldest frames are kept: the first HOLD come out on activation. */
	send_garp();
	settle(HOLD + 4);
	for (int i = 0; i < 200 && ctr(FAB_CTR_RELEASED) < HOLD; i++) {
		usleep(500);
		dpdk_backend_sync(r.b);
	}
	assert_int_equal(take_in_order(0), HOLD);
}

static void test_held_frames_time_out(void **state)
{
	(void)state;
	rig_up(50);
	for (uint32_t i = 0; i < 4; i++)
		send_from_peer(i);
	settle(4);
	assert_int_equal(ctr(FAB_CTR_HELD), 4);
	for (int i = 0; i < 100 && dropped(FAB_DROP_HOLD_TIMEOUT) < 4; i++)
		usleep(5000);
	assert_int_equal(dropped(FAB_DROP_HOLD_TIMEOUT), 4);
	send_garp();
	settle(5);
	usleep(20000);
	dpdk_backend_sync(r.b);
	assert_int_equal(take_in_order(0), 0);
}

/* Takes what left on the uplink: VXLAN to `vtep` (not marked) carrying the VM's frames
 * `first`, `first`+1, ... in order. */
static unsigned int take_sent_back(uint32_t vtep, uint32_t first)
{
	struct rte_mbuf *m;
	unsigned int n = 0;

	while (rte_ring_dequeue(r.tx[0], (void **)&m) == 0) {
		const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
		struct fab_vxlan vx = {0};

		if (!fab_parse_vxlan_fast(d, d + rte_pktmbuf_data_len(m), vtep, &vx))
			fail_msg("frame %u on the uplink is not VXLAN to the VM's host", n);
		assert_int_equal(vx.src_vtep, RIG_HOST);
		assert_int_equal(vx.vni, RIG_VNI);
		assert_false(vx.marked);
		assert_memory_equal(d + vx.inner_off, rig_vm_mac, 6);
		assert_int_equal(fab_load_be32(d + vx.inner_off + 14), first + n);
		rte_pktmbuf_free(m);
		n++;
	}
	return n;
}

/* Waits up to 2 s for `want` of the VM's frames, in order from 0, to leave on the uplink
 * to the peer; returns how many did. */
static unsigned int wait_sent_back(unsigned int want)
{
	unsigned int got = 0;

	for (int i = 0; i < 1000 && got < want; i++) {
		got += take_sent_back(RIG_PEER, got);
		if (got < want)
			usleep(2000);
	}
	return got;
}

/* A rig whose incoming VM has 3 frames held; `vm` gets its key. */
static void hold_three(struct fab_ep_key *vm)
{
	rig_up(60000);
	for (uint32_t i = 0; i < 3; i++)
		send_from_peer(i);
	settle(3);
	assert_int_equal(ctr(FAB_CTR_HELD), 3);
	memcpy(vm->mac, rig_vm_mac, 6);
}

/* The migration to this host failed: the VM stays on the source (REMOTE at the peer again).
 * What was held for it here goes back to it, in order; nothing is dropped. */
static void test_failed_migration_sends_held_frames_back(void **state)
{
	struct fab_ep_key vm = {.vni = RIG_VNI};
	struct fab_endpoint back = {.state = FAB_EP_REMOTE, .vtep = RIG_PEER, .generation = 3};

	(void)state;
	hold_three(&vm);
	assert_int_equal(fabric_endpoint_upsert(r.fab, &vm, &back, NULL), 0);
	assert_int_equal(wait_sent_back(3), 3);
	assert_int_equal(ctr(FAB_CTR_ENCAPSULATED), 3);
	/* Counted to the VM's endpoint once, when they arrived, not again when sent on. */
	{
		struct fab_flow flow;

		dpdk_backend_sync(r.b);
		assert_int_equal(fabric_endpoint_get(r.fab, &vm, &flow), 0);
		assert_int_equal(flow.stats.packets, 3);
		assert_int_equal(flow.stats.drops, 0);
	}
	assert_int_equal(dropped(FAB_DROP_HOLD_CANCELLED), 0);
	assert_int_equal(take_in_order(0), 0);
}

/* The VM's endpoint is deleted while frames wait for it: there is nowhere to send them;
 * they are dropped and counted. */
static void test_deleted_endpoint_drops_what_was_held(void **state)
{
	struct fab_ep_key vm = {.vni = RIG_VNI};

	(void)state;
	hold_three(&vm);
	assert_int_equal(fabric_endpoint_step(r.fab, &vm, FAB_STEP_DELETE,
					      &(struct fab_endpoint){.generation = 3}),
			 0);
	for (int i = 0; i < 100 && dropped(FAB_DROP_HOLD_CANCELLED) < 3; i++)
		usleep(2000);
	assert_int_equal(dropped(FAB_DROP_HOLD_CANCELLED), 3);
	assert_int_equal(take_in_order(0), 0);
	assert_int_equal(take_sent_back(RIG_PEER, 0), 0);
}

/* The migration to this host failed and the controller gives the port to another VM
 * at once, before the worker has looked at the queue again (it naps, idle). The frames
 * held for the first VM are not the new one's: they follow the first VM back to its
 * host, and the new VM gets only its own. */
static void test_port_given_to_another_vm_keeps_nothing_of_the_first(void **state)
{
	static const uint8_t other_mac[6] = {0x52, 0x54, 0x00, 0x00, 0x00, 0x99};
	struct fab_ep_key vm = {.vni = RIG_VNI}, other = {.vni = RIG_VNI};
	struct fab_endpoint back = {.state = FAB_EP_REMOTE, .vtep = RIG_PEER, .generation = 3};
	struct fab_endpoint here = {.state = FAB_EP_LOCAL, .port = 1, .generation = 1};
	struct rte_mbuf *m;

	(void)state;
	rig_idle_us = 100000;
	hold_three(&vm);
	usleep(300000); /* the worker is deep in its back-off: naps of 65 ms */
	memcpy(other.mac, other_mac, 6);
	assert_int_equal(fabric_endpoint_upsert(r.fab, &vm, &back, NULL), 0);
	assert_int_equal(fabric_endpoint_upsert(r.fab, &other, &here, NULL), 0);
	assert_int_equal(wait_sent_back(3), 3);
	usleep(100000);
	dpdk_backend_sync(r.b);
	while (rte_ring_dequeue(r.tx[1], (void **)&m) == 0) {
		const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);

		if (memcmp(d, rig_vm_mac, 6) == 0)
			fail_msg("a frame held for the first VM reached the port's new VM");
		rte_pktmbuf_free(m);
	}
	assert_int_equal(dropped(FAB_DROP_HOLD_CANCELLED), 0);
}

/* The VM's UDP datagram `seq` to the client (remote, at the peer). */
static void vm_to_client(uint32_t seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t p[60];

	memset(p, 0, 60);
	memcpy(p, rig_client_mac, 6);
	memcpy(p + 6, rig_vm_mac, 6);
	fab_store_be16(p + 12, FAB_ETHERTYPE_IPV4);
	p[14] = 0x45;
	fab_store_be16(p + 16, 46);
	p[22] = 64;
	p[23] = 17;
	fab_store_be32(p + 26, 0x0a000002);
	fab_store_be32(p + 30, 0x0a000001);
	fab_store_be16(p + 34, 1000 + seq);
	fab_store_be16(p + 36, 2000);
	fab_store_be16(p + 38, 26);
	memcpy(rte_pktmbuf_append(m, sizeof(p)), p, sizeof(p));
	assert_int_equal(rte_ring_enqueue(r.rx[1], m), 0);
}

/* The next frame on the uplink goes to underlay MAC `mac`. */
static void expect_uplink_dst(const uint8_t *mac)
{
	struct rte_mbuf *m = NULL;

	for (int i = 0; i < 1000 && rte_ring_dequeue(r.tx[0], (void **)&m) != 0; i++)
		usleep(1000);
	assert_non_null(m);
	assert_memory_equal(rte_pktmbuf_mtod(m, uint8_t *), mac, 6);
	rte_pktmbuf_free(m);
}

/* A host's underlay MAC changes, twice: each change reaches the workers' host caches and
 * the next frame to the host goes to its new MAC. */
static void test_host_mac_changes_reach_the_encapsulation(void **state)
{
	static const uint8_t mac2[6] = {2, 0, 0, 0, 0xaa, 2}, mac3[6] = {2, 0, 0, 0, 0xaa, 3};

	(void)state;
	rig_up(60000);
	vm_to_client(0);
	settle(1);
	expect_uplink_dst(rig_peer_mac);
	assert_int_equal(fabric_host_set(r.fab, RIG_PEER, mac2), 0);
	vm_to_client(1);
	settle(2);
	expect_uplink_dst(mac2);
	assert_int_equal(fabric_host_set(r.fab, RIG_PEER, mac3), 0);
	vm_to_client(2);
	settle(3);
	expect_uplink_dst(mac3);
}

int main(void)
{
	const struct dpdk_rig_eal eal = {
		.prog = "test_dpdk_hold", .file_prefix = "vmf_hold", .pool_name = "hold_in",
		.pool_mbufs = 1024, .pool = &pool,
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_released_in_order_on_the_vms_announcement, rig_down),
		cmocka_unit_test_teardown(test_overflow_is_dropped_counted_and_reported, rig_down),
		cmocka_unit_test_teardown(test_held_frames_time_out, rig_down),
		cmocka_unit_test_teardown(test_failed_migration_sends_held_frames_back, rig_down),
		cmocka_unit_test_teardown(test_deleted_endpoint_drops_what_was_held, rig_down),
		cmocka_unit_test_teardown(test_port_given_to_another_vm_keeps_nothing_of_the_first,
					  rig_down),
		cmocka_unit_test_teardown(test_host_mac_changes_reach_the_encapsulation, rig_down),
	};

	return dpdk_rig_run(&eal, "dpdk_hold_queue", tests, sizeof(tests) / sizeof(tests[0]));
}
