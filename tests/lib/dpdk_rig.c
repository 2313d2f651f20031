/* SPDX-License-Identifier: Apache-2.0 */
#include "dpdk_rig.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <rte_eal.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "dpdk_backend.h"
#include "fab_rewrite.h"

#define PEER_INNER_LEN 60
#define PEER_ETHERTYPE 0x88b5 /* a local experimental ethertype: just a payload */
#define PEER_UDP_SPORT 50000

int dpdk_rig_run(const struct dpdk_rig_eal *eal, const char *group,
		 const struct CMUnitTest *tests, size_t n_tests)
{
	char prog[64], prefix[256];
	/* These are enough for virtio_user too: the vhost side must map the guest's memory from
	 * file descriptors, and with --no-huge EAL backs its memory with a memfd (since
	 * DPDK 19.02) that virtio_user passes in VHOST_USER_SET_MEM_TABLE; no hugepages,
	 * --single-file-segments or --in-memory are needed. */
	char *argv[] = {prog, "--no-huge", "--no-pci", "-m", "256", "-l", "0-1",
			"--file-prefix", prefix, "--no-shconf", "--no-telemetry", "--log-level",
			"*:warning", NULL};
	int ret;

	snprintf(prog, sizeof(prog), "%s", eal->prog);
	snprintf(prefix, sizeof(prefix), "%s_%d", eal->file_prefix, getpid());
	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0) {
		fprintf(stderr, "%s: EAL init failed\n", eal->prog);
		return 1;
	}
	*eal->pool = rte_pktmbuf_pool_create(eal->pool_name, eal->pool_mbufs, 0, 0,
					     RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (*eal->pool) {
		ret = _cmocka_run_group_tests(group, tests, n_tests, NULL, NULL);
	} else {
		fprintf(stderr, "%s: cannot create the mbuf pool %s\n", eal->prog, eal->pool_name);
		ret = 1;
	}
	/* The directory's name is gone once EAL is cleaned up: keep a copy. */
	snprintf(prefix, sizeof(prefix), "%s", rte_eal_get_runtime_dir());
	rte_eal_cleanup();
	dpdk_remove_runtime_dir(prefix);
	return ret;
}

void dpdk_rig_config(struct dpdk_config *cfg, uint32_t vtep, const uint8_t mac[6])
{
	dpdk_config_defaults(cfg);
	cfg->local_vtep = vtep;
	memcpy(cfg->local_mac, mac, 6);
	cfg->max_endpoints = 16;
	cfg->idle_sleep_max_us = 50;
}

void dpdk_rig_ring_port(const char *tag, unsigned int rig_no, int i, struct rte_ring **rx,
			struct rte_ring **tx, char *devname)
{
	char name[32];
	int id;

	snprintf(name, sizeof(name), "%s%u_rx%d", tag, rig_no, i);
	*rx = rte_ring_create(name, 256, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "%s%u_tx%d", tag, rig_no, i);
	*tx = rte_ring_create(name, 256, (int)rte_socket_id(), RING_F_SP_ENQ | RING_F_SC_DEQ);
	snprintf(name, sizeof(name), "%s%u_p%d", tag, rig_no, i);
	id = rte_eth_from_rings(name, rx, 1, tx, 1, rte_socket_id());
	assert_true(id >= 0);
	assert_int_equal(rte_eth_dev_get_name_by_port((uint16_t)id, devname), 0);
}

void dpdk_rig_send_from_peer(struct rte_mempool *pool, struct rte_ring *uplink_rx,
			     const struct dpdk_rig_peer *peer, uint32_t seq)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t p[FAB_VXLAN_ENCAP_LEN + PEER_INNER_LEN];
	uint8_t *in = p + FAB_VXLAN_ENCAP_LEN;
	struct fab_encap e = {.src_ip = peer->peer_vtep, .dst_ip = peer->host_vtep,
			      .vni = peer->vni};

	assert_non_null(m);
	memset(in, 0, PEER_INNER_LEN);
	memcpy(in, peer->vm_mac, 6);
	memcpy(in + 6, peer->client_mac, 6);
	fab_store_be16(in + 12, PEER_ETHERTYPE);
	fab_store_be32(in + 14, seq);
	memcpy(e.src_mac, peer->peer_mac, 6);
	memcpy(e.dst_mac, peer->host_mac, 6);
	fab_vxlan_write(p, &e, PEER_INNER_LEN, PEER_UDP_SPORT);
	memcpy(rte_pktmbuf_append(m, sizeof(p)), p, sizeof(p));
	assert_int_equal(rte_ring_enqueue(uplink_rx, m), 0);
}

struct rte_mbuf *dpdk_rig_vm_arp_request(struct rte_mempool *pool, uint32_t spa, uint32_t tpa)
{
	struct rte_mbuf *m = rte_pktmbuf_alloc(pool);
	uint8_t p[60];

	assert_non_null(m);
	memset(p, 0, sizeof(p));
	memset(p, 0xff, 6);
	memcpy(p + 6, rig_vm_mac, 6);
	fab_store_be16(p + 12, FAB_ETHERTYPE_ARP);
	fab_store_be16(p + 14, 1);
	fab_store_be16(p + 16, FAB_ETHERTYPE_IPV4);
	p[18] = 6;
	p[19] = 4;
	fab_store_be16(p + 20, FAB_ARP_OP_REQUEST);
	memcpy(p + 22, rig_vm_mac, 6);
	fab_store_be32(p + 28, spa);
	fab_store_be32(p + 38, tpa);
	memcpy(rte_pktmbuf_append(m, sizeof(p)), p, sizeof(p));
	return m;
}

const uint8_t rig_host_mac[6] = {2, 0, 0, 0, 1, 1};
const uint8_t rig_peer_mac[6] = {2, 0, 0, 0, 1, 2};
const uint8_t rig_vm_mac[6] = {0x52, 0x54, 0, 0, 0, 0x0a};
const uint8_t rig_client_mac[6] = {0x52, 0x54, 0, 0, 0, 0x0c};
const struct dpdk_rig_peer rig_from_peer = {
	.peer_vtep = RIG_PEER, .host_vtep = RIG_HOST, .vni = RIG_VNI, .peer_mac = rig_peer_mac,
	.host_mac = rig_host_mac, .vm_mac = rig_vm_mac, .client_mac = rig_client_mac,
};
