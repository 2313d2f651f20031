/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The provider interface between the fabric's control layer (fabric.c) and a fast path
 * backend (DPDK, XDP, or the dummy backend of the unit tests), in the manner of OVS's
 * dpif-provider: the control layer decides, the backend publishes to its workers.
 *
 * All calls come from the control thread. A `publish` returns once workers that start a
 * new burst see the change; a removal's memory is reclaimed by the backend only after
 * its workers have passed a quiescent state. Returns are 0 or a negative errno.
 */
#ifndef FAB_BACKEND_H
#define FAB_BACKEND_H

#include "fabric.h"

/* What the fast path reports to the control thread, through a ring. */
struct fab_dp_event {
	uint8_t kind; /* FAB_EVENT_ACTIVATED, FAB_EVENT_HOLD_OVERFLOW */
	uint16_t port;
	uint64_t count;
};

struct fab_backend_ops {
	const char *name;
	/* The fast path's view of endpoint `key`: loc->state ABSENT removes it. `stats` is
	 * the endpoint's counter slot, stable across location changes. */
	int (*endpoint_publish)(void *be, const struct fab_ep_key *key,
				const struct fab_endpoint *loc, uint32_t stats);
	/* (VNI, address) -> MAC for the ARP/ND proxy; `mac` NULL removes. `family` is 4 or 6
	 * and `addr` 4 (big-endian) or 16 bytes. */
	int (*address_publish)(void *be, uint32_t vni, int family, const uint8_t *addr,
			       const uint8_t *mac);
	/* A peer host; `mac` NULL removes it. */
	int (*host_publish)(void *be, uint32_t vtep, const uint8_t *mac);
	/* VNI `vni` is configured here (used by a port or an endpoint) or not. */
	int (*vni_publish)(void *be, uint32_t vni, bool present);
	/* The endpoint bound to VM port `port`: state LOCAL or INCOMING with its MAC, or
	 * ABSENT. A change from INCOMING to LOCAL releases the port's hold queue. */
	int (*port_publish)(void *be, uint16_t port, uint32_t vni, uint8_t bound,
			    const uint8_t *mac);
	/* Sums the per-worker counters of slot `stats` (zeroes it first when `reset`). */
	void (*endpoint_stats)(void *be, uint32_t stats, bool reset, struct fab_ep_stats *out);
	void (*host_stats)(void *be, struct fab_host_stats *out);
	/* Whether frames for VM port `port` wait in the fast path while the VM is paused
	 * (a vhost-user port: the backend sees QEMU stop the device) and go wherever the VM's
	 * endpoint points once it moves; false when a paused VM's frames would be lost in a
	 * queue the backend cannot see (a tap). Optional: NULL means false. */
	bool (*port_holds_paused)(void *be, uint16_t port);
	/* Takes up to `max` events the workers reported. Returns how many. */
	int (*poll_events)(void *be, struct fab_dp_event *ev, int max);
};

#endif
