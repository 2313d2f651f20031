/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A backend without a fast path: it keeps what the control layer published, so unit tests
 * can check what workers would see, and lets a test inject fast path events.
 */
#ifndef FAB_DUMMY_BACKEND_H
#define FAB_DUMMY_BACKEND_H

#include "backend.h"

#define DUMMY_MAX 64

struct dummy_backend {
	struct {
		struct fab_ep_key key;
		struct fab_endpoint loc;
		uint32_t stats;
	} eps[DUMMY_MAX];
	int n_eps;
	struct {
		uint32_t vni;
		int family;
		uint8_t addr[16];
		uint8_t mac[6];
	} addrs[DUMMY_MAX];
	int n_addrs;
	struct {
		uint8_t bound;
		uint8_t mac[6];
		bool holds_paused; /* set by a test: a vhost-user port */
	} ports[FAB_MAX_PORTS];
	uint32_t hosts[DUMMY_MAX];
	int n_hosts;
	uint32_t vnis[DUMMY_MAX];
	int n_vnis;
	struct fab_dp_event events[DUMMY_MAX];
	int n_events;
	int publishes;
	int fail_after; /* > 0: the n-th publish from now fails with -ENOMEM */
};

extern const struct fab_backend_ops dummy_backend_ops;

/* The published location of `key`, or NULL if the fast path would not find it. */
const struct fab_endpoint *dummy_endpoint(const struct dummy_backend *d,
					  const struct fab_ep_key *key);
/* The MAC the ARP/ND proxy would answer with, or NULL. */
const uint8_t *dummy_address(const struct dummy_backend *d, uint32_t vni, int family,
			     const uint8_t *addr);
bool dummy_vni(const struct dummy_backend *d, uint32_t vni);
bool dummy_host(const struct dummy_backend *d, uint32_t vtep);

#endif
