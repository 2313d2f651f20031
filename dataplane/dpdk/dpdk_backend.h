/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The DPDK backend of the fast path: ports from DPDK devargs (one uplink, one port per
 * VM), worker lcores that receive, parse, look up in bulk, decide with the forwarding
 * core and transmit in bursts, and lock-free tables that the control thread updates
 * while the workers read.
 *
 * Call order: rte_eal_init, dpdk_backend_create, fabric_create over dpdk_backend_ops,
 * fabric_port_add for each VM port (same indexes), dpdk_backend_start; at the end
 * dpdk_backend_stop, fabric_destroy, dpdk_backend_destroy.
 */
#ifndef FAB_DPDK_BACKEND_H
#define FAB_DPDK_BACKEND_H

#include <stdbool.h>
#include <stdint.h>

#include "backend.h"

#define DPDK_MAX_VM_PORTS 64
#define DPDK_MAX_WORKERS 16

struct dpdk_vm_port_config {
	char name[FAB_PORT_NAME_MAX];
	char devargs[256];
	uint32_t vni;
};

struct dpdk_config {
	char uplink_devargs[256];
	struct dpdk_vm_port_config vm_ports[DPDK_MAX_VM_PORTS];
	unsigned int n_vm_ports;
	uint32_t local_vtep;      /* host byte order */
	uint8_t local_mac[6];     /* all zero: the uplink port's own MAC */
	uint32_t max_endpoints;   /* table size */
	uint32_t max_addresses;   /* ARP/ND proxy table size; 0: twice max_endpoints */
	unsigned int workers;     /* worker lcores, at least 1 */
	unsigned int hold_frames; /* per incoming VM; rounded up to a power of two */
	unsigned int hold_timeout_ms;
	unsigned int idle_sleep_max_us; /* 0: poll without ever sleeping */
	unsigned int mbufs;       /* 0: sized from ports and hold queues */
	unsigned int underlay_mtu; /* IP MTU of the underlay: larger VXLAN frames are dropped */
};

/* Sets the defaults documented by `fabricd --help`. */
void dpdk_config_defaults(struct dpdk_config *cfg);

struct dpdk_backend;

/*
 * Probes and configures the ports, creates the tables and the mbuf pool. EAL must be
 * initialised with at least `workers` lcores besides the main one.
 * Returns 0, or a negative errno with a one-line message in `err`:
 *   -EINVAL  bad configuration (no uplink, duplicate port names, too few lcores);
 *   -ENODEV  a devargs string names no working device;
 *   -ENOMEM  tables or mbufs do not fit.
 */
int dpdk_backend_create(struct dpdk_backend **out, const struct dpdk_config *cfg, char *err,
			size_t err_len);
/* Starts the ports and launches the workers. */
int dpdk_backend_start(struct dpdk_backend *b, char *err, size_t err_len);
/* Stops the workers (they finish their burst) and the ports. */
void dpdk_backend_stop(struct dpdk_backend *b);
void dpdk_backend_destroy(struct dpdk_backend *b);

/* Returns once every worker has finished the loop iteration it was in: frames received
 * before the call have been decided and their output sent. */
void dpdk_backend_sync(struct dpdk_backend *b);

/* The backend's local VTEP MAC (configured, or the uplink's). */
void dpdk_backend_local_mac(const struct dpdk_backend *b, uint8_t mac[6]);
/* The DPDK port id of VM port `index` (1-based as in the config order), or of the uplink
 * for index 0; -ENOENT if none. For tests. */
int dpdk_backend_ethdev(const struct dpdk_backend *b, uint16_t index);
/* Bytes the tables and counters hold. */
size_t dpdk_backend_footprint(const struct dpdk_backend *b);

/* Removes EAL's runtime directory (pass a copy of rte_eal_get_runtime_dir() taken before
 * rte_eal_cleanup): a process that exits cleanly leaves nothing in /var/run/dpdk. */
void dpdk_remove_runtime_dir(const char *dir);

extern const struct fab_backend_ops dpdk_backend_ops;

#endif
