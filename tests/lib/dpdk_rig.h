/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the DPDK backend's system tests share: running a cmocka group inside an EAL that
 * is set up for a test (no hugepages, no PCI, two lcores, a per-process file prefix) and
 * torn down after, ring PMD ports the test feeds and drains, and the VXLAN frame a peer
 * host sends for a VM. Each test keeps its own addresses and passes them in.
 */
#ifndef VMF_TEST_DPDK_RIG_H
#define VMF_TEST_DPDK_RIG_H

/* cmocka.h needs these three before it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include <cmocka.h>
#include <stdint.h>

struct dpdk_config;
struct rte_mempool;
struct rte_ring;

/* How dpdk_rig_run() sets up EAL and the test's mbuf pool. */
struct dpdk_rig_eal {
	const char *prog;        /* EAL's argv[0], and the name in error messages */
	const char *file_prefix; /* EAL's --file-prefix, the process id appended */
	const char *pool_name;   /* the mbuf pool's name */
	unsigned int pool_mbufs; /* and its size */
	struct rte_mempool **pool; /* set to the pool before the group runs */
};

/*
 * Initialises EAL as `eal` says, creates the mbuf pool, runs the cmocka group `group`
 * (`n_tests` tests, no group setup or teardown), then cleans EAL up and removes its
 * runtime directory, so that a test run leaves nothing in /var/run/dpdk.
 *
 * Returns what cmocka returns (the number of failed tests), or 1 if EAL or the pool could
 * not be set up (with a message on stderr): a value for main() to return.
 */
int dpdk_rig_run(const struct dpdk_rig_eal *eal, const char *group,
		 const struct CMUnitTest *tests, size_t n_tests);

/*
 * Fills `cfg` with the backend's defaults for a test host: VTEP `vtep` with underlay MAC
 * `mac`, room for 16 endpoints, and a worker that naps at most 50 us when idle, so that
 * frames a test sends are picked up promptly. The caller adds the ports and the hold
 * queue's limits.
 */
void dpdk_rig_config(struct dpdk_config *cfg, uint32_t vtep, const uint8_t mac[6]);

/*
 * Creates ring PMD port `i` of rig number `rig_no`: the test enqueues on *rx what the port
 * receives and dequeues from *tx what it sends. The rings and the port are named after
 * `tag`, `rig_no` and `i`, so tag and rig_no must differ between the rigs a process
 * creates. Writes the port's device name, as the backend's devargs take it, to `devname`
 * (at least RTE_ETH_NAME_MAX_LEN bytes). Fails the running test if any of it fails.
 */
void dpdk_rig_ring_port(const char *tag, unsigned int rig_no, int i, struct rte_ring **rx,
			struct rte_ring **tx, char *devname);

/* Who sends a frame from the peer host: the outer (underlay) and inner (VM) addresses. */
struct dpdk_rig_peer {
	uint32_t peer_vtep;         /* outer source */
	uint32_t host_vtep;         /* outer destination: the host under test */
	uint32_t vni;
	const uint8_t *peer_mac;    /* outer source MAC */
	const uint8_t *host_mac;    /* outer destination MAC */
	const uint8_t *vm_mac;      /* inner destination: the VM */
	const uint8_t *client_mac;  /* inner source: the client behind the peer */
};

/* The addresses both tests use: this host (the one under test), the peer host that sends
 * to it, the VM's VNI, the VM and the client behind the peer. */
#define RIG_HOST 0xc0000201u
#define RIG_PEER 0xc0000202u
#define RIG_VNI 100
extern const uint8_t rig_host_mac[6], rig_peer_mac[6], rig_vm_mac[6], rig_client_mac[6];
/* The client's frames for the VM, as the peer sends them to this host. */
extern const struct dpdk_rig_peer rig_from_peer;

/*
 * Enqueues on `uplink_rx` the VXLAN frame the peer sends for the VM: a 60-byte inner
 * frame from the client with a local experimental ethertype, carrying `seq` as a
 * big-endian number right after the Ethernet header (at inner offset 14), so that a test
 * can check the order frames arrive in. The mbuf comes from `pool`. Fails the running test
 * if it cannot be allocated or enqueued.
 */
void dpdk_rig_send_from_peer(struct rte_mempool *pool, struct rte_ring *uplink_rx,
			     const struct dpdk_rig_peer *peer, uint32_t seq);

/*
 * A broadcast ARP request from the VM (rig_vm_mac, sender address `spa`) for `tpa`, 60
 * bytes, in an mbuf from `pool` (a gratuitous ARP when `tpa` is `spa`). Fails the running
 * test if it cannot be allocated.
 */
struct rte_mbuf *dpdk_rig_vm_arp_request(struct rte_mempool *pool, uint32_t spa, uint32_t tpa);

#endif
