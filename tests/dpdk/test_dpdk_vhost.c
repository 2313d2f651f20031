/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A VM on a vhost-user port, through the real DPDK backend and a real vhost-user
 * connection: the VM port is net_vhost, the "guest" is a net_virtio_user port in the same
 * process (the virtio front end a guest's driver would be), the uplink a ring PMD port.
 * What a user would notice: frames reach the running VM in order; while the VM's device is
 * stopped (QEMU pausing it, e.g. for a migration's switchover) frames for it are held, not
 * lost, and arrive in order when it runs again; and if the VM moves meanwhile, the held
 * frames follow it to its new host, marked as forwarded by the migration source.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dpdk_backend.h"
#include "dpdk_rig.h"
#include "fab_parse.h"
#include "fab_rewrite.h"
#include "fabric.h"

#define TARGET 0xc0000203u
#define VM_PORT 1   /* the vhost-user port */
#define RING_PORT 2 /* a VM port on a ring PMD, for comparison */
#define WAIT_MS 2000

static const uint8_t target_mac[6] = {2, 0, 0, 0, 1, 3};

static struct rte_mempool *pool;
static unsigned int rig_no;

struct rig {
	struct rte_ring *rx[2], *tx[2]; /* [0] uplink, [1] the ring VM port */
	char sock[108];                 /* the vhost-user socket */
	char guest_name[32];            /* the virtio_user vdev */
	uint16_t guest;                 /* its ethdev */
	bool guest_probed;
	uint16_t vhost;                 /* the VM port's ethdev */
	struct dpdk_backend *b;
	struct fabric *fab;
	bool live;
};

static struct rig r;

/* Polls `cond` every millisecond for up to WAIT_MS; fails the test, naming `what`, if it
 * never holds. The worker loop and the vhost-user thread run on their own: nothing here
 * sleeps a fixed time hoping they are done. */
#define WAIT_FOR(cond, what)                                                                  \
	do {                                                                                  \
		for (int wait_ms_ = 0; wait_ms_ < WAIT_MS && !(cond); wait_ms_++)            \
			usleep(1000);                                                         \
		if (!(cond))                                                                  \
			fail_msg("timed out after %d ms waiting for %s", WAIT_MS, what);      \
	} while (0)

static void ring_port(int i, char *devname)
{
	dpdk_rig_ring_port("v", rig_no, i, &r.rx[i], &r.tx[i], devname);
}

static bool vhost_link_up(void)
{
	struct rte_eth_link link;

	return rte_eth_link_get_nowait(r.vhost, &link) == 0 && link.link_status == RTE_ETH_LINK_UP;
}

/*
 * The "guest": a virtio_user port on the vhost-user socket, configured with one queue
 * pair and started, as a guest's virtio-net driver would; the vhost-user port's link
 * comes up once the device runs.
 */
static void guest_attach(void)
{
	struct rte_eth_conf conf = {0};
	char args[160];

	snprintf(r.guest_name, sizeof(r.guest_name), "net_virtio_user%u", rig_no);
	snprintf(args, sizeof(args), "path=%s,queues=1,mac=52:54:00:00:00:0a", r.sock);
	if (rte_vdev_init(r.guest_name, args) != 0)
		fail_msg("cannot probe %s,%s: the virtio_user front end did not connect to the "
			 "vhost-user socket (EAL's log above says why)",
			 r.guest_name, args);
	r.guest_probed = true;
	assert_int_equal(rte_eth_dev_get_port_by_name(r.guest_name, &r.guest), 0);
	assert_int_equal(rte_eth_dev_configure(r.guest, 1, 1, &conf), 0);
	assert_int_equal(rte_eth_rx_queue_setup(r.guest, 0, 256, rte_socket_id(), NULL, pool), 0);
	assert_int_equal(rte_eth_tx_queue_setup(r.guest, 0, 256, rte_socket_id(), NULL), 0);
	assert_int_equal(rte_eth_dev_start(r.guest), 0);
	WAIT_FOR(vhost_link_up(), "the vhost-user port's link to come up once the guest started");
}

/*
 * The VM's device stops, as when QEMU pauses the VM: the vhost-user device goes down.
 *
 * QEMU stops a paused VM's rings with VHOST_USER_GET_VRING_BASE, which makes the vhost
 * library destroy the device (the port's link goes down). virtio_user sends the same
 * messages only when its device is reset: rte_eth_dev_stop() does not reset it in
 * DPDK 22.11 (virtio_dev_stop() only marks its own link down and keeps the rings
 * running, so the vhost side never notices), while rte_eth_dev_close() does. So the
 * guest's device is closed here, and guest_attach() brings a device back on the same
 * socket, as the guest's driver would: to the backend, this is the same link-down,
 * link-up pair of events that QEMU's pause and resume make.
 */
static void guest_pause(void)
{
	assert_int_equal(rte_eth_dev_stop(r.guest), 0);
	assert_int_equal(rte_eth_dev_close(r.guest), 0);
	assert_int_equal(rte_vdev_uninit(r.guest_name), 0);
	r.guest_probed = false;
	WAIT_FOR(!vhost_link_up(), "the vhost-user port's link to go down once the guest's "
				   "device stopped");
}

/* A host with the VM LOCAL on its vhost-user port (generation 2), the client remote on
 * RIG_PEER, a would-be migration target TARGET, and the guest attached and running. */
static void rig_up(void)
{
	struct dpdk_config cfg;
	struct fabric_config fcfg = {.local_vtep = RIG_HOST, .max_endpoints = 16};
	struct fab_ep_key vm = {.vni = RIG_VNI}, client = {.vni = RIG_VNI};
	struct fab_endpoint local = {.state = FAB_EP_LOCAL, .port = VM_PORT, .generation = 2};
	struct fab_endpoint remote = {.state = FAB_EP_REMOTE, .vtep = RIG_PEER, .generation = 1};
	char err[256];

	rig_no++;
	dpdk_rig_config(&cfg, RIG_HOST, rig_host_mac);
	cfg.hold_frames = 256; /* more than a worker sends on in one turn (32) */
	cfg.hold_timeout_ms = 60000;
	cfg.mbufs = 8192;
	ring_port(0, cfg.uplink_devargs);
	snprintf(r.sock, sizeof(r.sock), "/tmp/vmf_vhost_%d_%u.sock", getpid(), rig_no);
	unlink(r.sock);
	snprintf(cfg.vm_ports[0].devargs, sizeof(cfg.vm_ports[0].devargs),
		 "net_vhost%u,iface=%s,queues=1", rig_no, r.sock);
	snprintf(cfg.vm_ports[0].name, sizeof(cfg.vm_ports[0].name), "vm");
	cfg.vm_ports[0].vni = RIG_VNI;
	ring_port(1, cfg.vm_ports[1].devargs);
	snprintf(cfg.vm_ports[1].name, sizeof(cfg.vm_ports[1].name), "other");
	cfg.vm_ports[1].vni = RIG_VNI;
	cfg.n_vm_ports = 2;
	if (dpdk_backend_create(&r.b, &cfg, err, sizeof(err)))
		fail_msg("backend: %s", err);
	r.live = true;
	r.vhost = (uint16_t)dpdk_backend_ethdev(r.b, VM_PORT);
	assert_int_equal(fabric_create(&r.fab, &fcfg, &dpdk_backend_ops, r.b), 0);
	assert_int_equal(fabric_port_add(r.fab, VM_PORT, "vm", RIG_VNI), 0);
	assert_int_equal(fabric_port_add(r.fab, RING_PORT, "other", RIG_VNI), 0);
	assert_int_equal(fabric_host_set(r.fab, RIG_PEER, rig_peer_mac), 0);
	assert_int_equal(fabric_host_set(r.fab, TARGET, target_mac), 0);
	memcpy(vm.mac, rig_vm_mac, 6);
	memcpy(client.mac, rig_client_mac, 6);
	assert_int_equal(fabric_endpoint_upsert(r.fab, &vm, &local, NULL), 0);
	assert_int_equal(fabric_endpoint_upsert(r.fab, &client, &remote, NULL), 0);
	if (dpdk_backend_start(r.b, err, sizeof(err)))
		fail_msg("start: %s", err);
	/* The guest attaches after fabricd started, as QEMU does. */
	guest_attach();
}

static void free_ring(struct rte_ring *ring)
{
	struct rte_mbuf *m;

	while (rte_ring_dequeue(ring, (void **)&m) == 0)
		rte_pktmbuf_free(m);
	rte_ring_free(ring);
}

static int rig_down(void **state)
{
	(void)state;
	if (r.guest_probed) {
		rte_eth_dev_stop(r.guest);
		rte_eth_dev_close(r.guest);
		rte_vdev_uninit(r.guest_name);
	}
	if (r.live) {
		dpdk_backend_stop(r.b);
		fabric_destroy(r.fab);
		dpdk_backend_destroy(r.b);
	}
	for (int i = 0; i < 2; i++) {
		if (r.rx[i])
			free_ring(r.rx[i]);
		if (r.tx[i])
			free_ring(r.tx[i]);
	}
	if (r.sock[0])
		unlink(r.sock);
	memset(&r, 0, sizeof(r));
	return 0;
}

/* VXLAN from the peer: the client's datagram number `seq` for the VM. */
static void send_from_peer(uint32_t seq)
{
	dpdk_rig_send_from_peer(pool, r.rx[0], &rig_from_peer, seq);
}

static uint64_t ctr(unsigned int c)
{
	struct fab_host_stats st;

	fabric_stats(r.fab, &st);
	return st.counters[c];
}

/* Reads what the guest received until `n` frames came or WAIT_MS passed, checking that
 * they are the VM's frames `first`, `first`+1, ... in that order. Returns how many came. */
static unsigned int guest_take_in_order(uint32_t first, unsigned int n)
{
	struct rte_mbuf *pkts[32];
	unsigned int got = 0;

	for (int ms = 0; ms < WAIT_MS && got < n; ms++) {
		uint16_t k = rte_eth_rx_burst(r.guest, 0, pkts, 32);

		for (uint16_t i = 0; i < k; i++) {
			const uint8_t *d = rte_pktmbuf_mtod(pkts[i], const uint8_t *);

			if (rte_pktmbuf_data_len(pkts[i]) < 18 || memcmp(d, rig_vm_mac, 6) != 0)
				fail_msg("the guest received a frame that is not for the VM");
			if (fab_load_be32(d + 14) != first + got)
				fail_msg("the guest received frame %u where %u was due",
					 fab_load_be32(d + 14), first + got);
			got++;
			rte_pktmbuf_free(pkts[i]);
		}
		if (!k)
			usleep(1000);
	}
	return got;
}

static void test_frames_reach_the_running_vm_in_order(void **state)
{
	(void)state;
	rig_up();
	for (uint32_t i = 0; i < 20; i++)
		send_from_peer(i);
	assert_int_equal(guest_take_in_order(0, 20), 20);
	assert_int_equal(ctr(FAB_CTR_DROPPED), 0);
}

static void test_a_vhost_port_holds_a_paused_vms_frames(void **state)
{
	(void)state;
	rig_up();
	assert_true(fabric_port_holds_paused(r.fab, VM_PORT));
	assert_false(fabric_port_holds_paused(r.fab, RING_PORT));
}

static void test_frames_wait_while_the_vm_is_paused(void **state)
{
	uint64_t held0, released0, delivered0;

	(void)state;
	rig_up();
	send_from_peer(0);
	assert_int_equal(guest_take_in_order(0, 1), 1);
	held0 = ctr(FAB_CTR_HELD);
	released0 = ctr(FAB_CTR_RELEASED);
	delivered0 = ctr(FAB_CTR_DELIVERED);
	guest_pause();
	for (uint32_t i = 1; i <= 10; i++)
		send_from_peer(i);
	WAIT_FOR(ctr(FAB_CTR_HELD) - held0 >= 10, "the 10 frames sent to the paused VM to be held");
	assert_int_equal(ctr(FAB_CTR_HELD) - held0, 10);
	assert_int_equal(ctr(FAB_CTR_DROPPED), 0);
	assert_int_equal(ctr(FAB_CTR_RELEASED) - released0, 0);
	assert_int_equal(ctr(FAB_CTR_DELIVERED) - delivered0, 0);
	guest_attach();
	assert_int_equal(guest_take_in_order(1, 10), 10);
	WAIT_FOR(ctr(FAB_CTR_RELEASED) - released0 >= 10, "the released counter to count 10");
	assert_int_equal(ctr(FAB_CTR_RELEASED) - released0, 10);
	assert_int_equal(ctr(FAB_CTR_DROPPED), 0);
	/* Frames after the release go straight to the VM, after the held ones. */
	send_from_peer(11);
	assert_int_equal(guest_take_in_order(11, 1), 1);
}

/*
 * A running guest that does not read its ring (256 descriptors) for a while: the frames
 * its device refuses wait in the hold queue, not timed out (the hold timeout is 60 s),
 * and all arrive in order once the guest reads again.
 */
static void test_frames_a_busy_guest_refuses_wait_for_it(void **state)
{
	enum { N = 300 };
	struct fab_host_stats st;

	(void)state;
	rig_up();
	for (uint32_t i = 0; i < N; i++) {
		send_from_peer(i);
		if (i % 100 == 99) /* the uplink's ring holds 255 */
			WAIT_FOR(ctr(FAB_CTR_RX) >= i + 1, "the worker to take the frames sent");
	}
	WAIT_FOR(ctr(FAB_CTR_HELD) > 0, "frames the full ring refused to be held");
	usleep(20000); /* a few hundred turns of the worker, any of which could drop them */
	fabric_stats(r.fab, &st);
	assert_int_equal(st.drops[FAB_DROP_HOLD_TIMEOUT], 0);
	assert_int_equal(ctr(FAB_CTR_DROPPED), 0);
	assert_int_equal(guest_take_in_order(0, N), N);
	assert_int_equal(ctr(FAB_CTR_DROPPED), 0);
}

/* The VM asks for an address (ARP, through its virtio front end). */
static void guest_send_arp_request(uint32_t tpa)
{
	struct rte_mbuf *m = dpdk_rig_vm_arp_request(pool, 0x0a000001, tpa);

	assert_int_equal(rte_eth_tx_burst(r.guest, 0, &m, 1), 1);
}

/*
 * The busy guest asks for an address while its ring is full: the proxy's reply waits
 * behind the frames ahead of it and arrives last. Counted once, as what became of it:
 * released (not also as a proxy reply, and not by taking one off delivered).
 */
static void test_a_refused_proxy_reply_waits_and_counts_once(void **state)
{
	enum { N = 300 };
	struct fab_ep_key client = {.vni = RIG_VNI};
	struct fab_endpoint remote = {.state = FAB_EP_REMOTE, .vtep = RIG_PEER, .generation = 2};
	struct fab_ep_addrs addrs = {.n_ip4 = 1, .ip4 = {0x0a000002}};
	struct rte_mbuf *pkts[32];
	unsigned int got = 0, held;
	bool reply = false;

	(void)state;
	rig_up();
	memcpy(client.mac, rig_client_mac, 6);
	assert_int_equal(fabric_endpoint_upsert(r.fab, &client, &remote, &addrs), 0);
	for (uint32_t i = 0; i < N; i++) {
		send_from_peer(i);
		if (i % 100 == 99)
			WAIT_FOR(ctr(FAB_CTR_RX) >= i + 1, "the worker to take the frames sent");
	}
	WAIT_FOR(ctr(FAB_CTR_HELD) > 0, "frames the full ring refused to be held");
	held = (unsigned int)ctr(FAB_CTR_HELD);
	guest_send_arp_request(0x0a000002);
	WAIT_FOR(ctr(FAB_CTR_HELD) == held + 1, "the refused reply to be held");
	assert_int_equal(ctr(FAB_CTR_ARP_REPLIED), 0);
	for (int ms = 0; ms < WAIT_MS && !reply; ms++) {
		uint16_t k = rte_eth_rx_burst(r.guest, 0, pkts, 32);

		for (uint16_t i = 0; i < k; i++) {
			const uint8_t *d = rte_pktmbuf_mtod(pkts[i], const uint8_t *);

			if (fab_load_be16(d + 12) == FAB_ETHERTYPE_ARP) {
				if (got != N)
					fail_msg("the reply came after %u of the %u frames ahead of it",
						 got, N);
				assert_int_equal(fab_load_be16(d + 20), FAB_ARP_OP_REPLY);
				assert_memory_equal(d + 22, rig_client_mac, 6);
				reply = true;
			} else if (fab_load_be32(d + 14) != got++) {
				fail_msg("frame %u arrived out of order", got - 1);
			}
			rte_pktmbuf_free(pkts[i]);
		}
		if (!k)
			usleep(1000);
	}
	assert_true(reply);
	WAIT_FOR(ctr(FAB_CTR_RELEASED) == held + 1, "every held frame to count as released");
	assert_int_equal(ctr(FAB_CTR_DELIVERED) + ctr(FAB_CTR_RELEASED), N + 1);
	assert_int_equal(ctr(FAB_CTR_ARP_REPLIED), 0);
	assert_int_equal(ctr(FAB_CTR_DROPPED), 0);
}

static void test_held_frames_follow_the_vm_to_its_new_host(void **state)
{
	/* More held frames than a worker sends on in one turn, and new frames right after
	 * the flip: the new ones must not overtake the held ones. */
	enum { HELD = 100, AFTER = 50 };
	struct fab_ep_key vm = {.vni = RIG_VNI};
	struct fab_endpoint arg = {.generation = 3, .vtep = TARGET};
	uint64_t held0, fwd0;
	struct rte_mbuf *m;
	unsigned int got = 0;

	(void)state;
	rig_up();
	held0 = ctr(FAB_CTR_HELD);
	fwd0 = ctr(FAB_CTR_FORWARDED);
	guest_pause();
	for (uint32_t i = 0; i < HELD; i++)
		send_from_peer(i);
	WAIT_FOR(ctr(FAB_CTR_HELD) - held0 >= HELD, "the frames sent to the paused VM to be held");
	assert_int_equal(rte_ring_count(r.tx[0]), 0); /* nothing left yet */
	/* The switchover: the driver flips the VM's endpoint to FORWARDING to the target. */
	memcpy(vm.mac, rig_vm_mac, 6);
	assert_int_equal(fabric_endpoint_step(r.fab, &vm, FAB_STEP_BEGIN_FORWARDING, &arg), 0);
	for (uint32_t i = HELD; i < HELD + AFTER; i++)
		send_from_peer(i);
	for (int tries = 0; tries < 2000 && got < HELD + AFTER; tries++) {
		if (rte_ring_dequeue(r.tx[0], (void **)&m) != 0) {
			usleep(1000);
			continue;
		}
		const uint8_t *d = rte_pktmbuf_mtod(m, const uint8_t *);
		const uint8_t *end = d + rte_pktmbuf_data_len(m);
		struct fab_vxlan vx = {0};

		/* The outer headers, checked by the core's own parser as the target would. */
		if (!fab_parse_vxlan_fast(d, end, TARGET, &vx))
			fail_msg("frame %u on the uplink is not well-formed VXLAN to the target", got);
		assert_memory_equal(d, target_mac, 6);
		assert_memory_equal(d + 6, rig_host_mac, 6);
		assert_int_equal(vx.src_vtep, RIG_HOST);
		assert_int_equal(vx.vni, RIG_VNI);
		if (!vx.marked)
			fail_msg("frame %u to the target lacks the forwarded-by-source mark", got);
		assert_memory_equal(d + vx.inner_off, rig_vm_mac, 6);
		if (fab_load_be32(d + vx.inner_off + 14) != got)
			fail_msg("frame %u to the target is number %u: out of order", got,
				 fab_load_be32(d + vx.inner_off + 14));
		rte_pktmbuf_free(m);
		got++;
	}
	assert_int_equal(got, HELD + AFTER);
	assert_int_equal(ctr(FAB_CTR_FORWARDED) - fwd0, HELD + AFTER);
	assert_int_equal(ctr(FAB_CTR_DROPPED), 0);
}

int main(void)
{
	const struct dpdk_rig_eal eal = {
		.prog = "test_dpdk_vhost", .file_prefix = "vmf_vhost", .pool_name = "vhost_in",
		.pool_mbufs = 2048, .pool = &pool,
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_frames_reach_the_running_vm_in_order, rig_down),
		cmocka_unit_test_teardown(test_a_vhost_port_holds_a_paused_vms_frames, rig_down),
		cmocka_unit_test_teardown(test_frames_wait_while_the_vm_is_paused, rig_down),
		cmocka_unit_test_teardown(test_frames_a_busy_guest_refuses_wait_for_it, rig_down),
		cmocka_unit_test_teardown(test_a_refused_proxy_reply_waits_and_counts_once, rig_down),
		cmocka_unit_test_teardown(test_held_frames_follow_the_vm_to_its_new_host, rig_down),
	};

	return dpdk_rig_run(&eal, "dpdk_vhost", tests, sizeof(tests) / sizeof(tests[0]));
}
