/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The control-thread API of a host's fabric: what the gRPC agent, the migration driver,
 * the tests and the benchmarks call. It holds the authoritative view of every endpoint
 * (location, generation, addresses), applies the endpoint model's rules
 * (fab_endpoint_step) and publishes the result to a fast path backend (DPDK or XDP)
 * through the provider interface of backend.h.
 *
 * Every function is for the control thread only and returns 0 or a negative errno.
 */
#ifndef FABRIC_H
#define FABRIC_H

#include <stdbool.h>
#include <stdint.h>

#include "fab_counters.h"
#include "fab_endpoint.h"
#include "fab_proto.h"

#define FAB_EP_MAX_IP4 4
#define FAB_EP_MAX_IP6 4
#define FAB_PORT_NAME_MAX 32
#define FAB_MAX_PORTS 256

struct fab_backend_ops;
struct fabric;

/* (VNI, MAC): the identity of an endpoint. Padding is zero so the key can be hashed
 * as bytes. */
struct fab_ep_key {
	uint32_t vni;
	uint8_t mac[6];
	uint16_t zero;
};

struct fab_ep_addrs {
	uint8_t n_ip4, n_ip6;
	uint32_t ip4[FAB_EP_MAX_IP4]; /* host byte order */
	uint8_t ip6[FAB_EP_MAX_IP6][16];
};

struct fab_ep_stats {
	uint64_t packets; /* frames to and from the endpoint */
	uint64_t bytes;
	uint64_t drops;   /* frames to or from it that were dropped */
	uint64_t last_seen_ns; /* CLOCK_REALTIME of its last frame, 0 if none */
};

/* One endpoint as fabric_flows_foreach() shows it. */
struct fab_flow {
	struct fab_ep_key key;
	struct fab_endpoint loc;
	struct fab_ep_addrs addrs;
	const char *port_name; /* LOCAL, INCOMING; NULL otherwise */
	struct fab_ep_stats stats;
	uint32_t slot; /* stable while the endpoint lives: an index for callers' side tables */
};

struct fab_flow_filter {
	uint32_t vni;       /* 0: any */
	bool match_mac;
	uint8_t mac[6];
	uint8_t state;      /* FAB_EP_ABSENT: any */
};

struct fab_host_stats {
	uint64_t counters[FAB_CTR__COUNT];
	uint64_t drops[FAB_DROP__COUNT];
	uint32_t endpoints;
	uint32_t endpoint_capacity;
	uint32_t hosts;
};

/* What happened in the fast path that the control plane should know. */
enum fab_event_kind {
	FAB_EVENT_ACTIVATED = 1,     /* an incoming VM announced itself; now LOCAL */
	FAB_EVENT_HOLD_OVERFLOW = 2, /* an incoming VM's hold queue overflowed */
	FAB_EVENT_STATE_CHANGED = 3, /* an endpoint's location changed */
};

struct fab_event {
	uint8_t kind;
	uint8_t step;            /* STATE_CHANGED: the enum fab_ep_step that made it */
	struct fab_ep_key key;
	struct fab_endpoint loc; /* after the change */
	struct fab_endpoint prev; /* STATE_CHANGED: before it */
	uint64_t count;          /* HOLD_OVERFLOW: frames dropped */
};

typedef void fab_event_cb(const struct fab_event *ev, void *ctx);

struct fabric_config {
	uint32_t local_vtep; /* host byte order, not 0 */
	uint8_t local_mac[6];
	uint32_t max_endpoints; /* > 0 */
	uint32_t max_addresses; /* ARP/ND proxy addresses; 0: twice max_endpoints */
};

/*
 * Creates a fabric over a backend that is already set up (ports added). The fabric takes
 * ownership of nothing: the caller closes the backend after fabric_destroy().
 *   -EINVAL  bad configuration; -ENOMEM.
 */
int fabric_create(struct fabric **out, const struct fabric_config *cfg,
		  const struct fab_backend_ops *ops, void *backend);
void fabric_destroy(struct fabric *fab);

/* Declares VM port `index` (1..FAB_MAX_PORTS-1) named `name` in `vni`.
 *   -EINVAL bad index, name or VNI; -EEXIST index or name taken. */
int fabric_port_add(struct fabric *fab, uint16_t index, const char *name, uint32_t vni);
/* The index of the port named `name`, or -ENOENT. */
int fabric_port_index(const struct fabric *fab, const char *name);
const char *fabric_port_name(const struct fabric *fab, uint16_t index);
/* Whether the fast path keeps frames for a paused VM on port `index` (backend.h). */
bool fabric_port_holds_paused(const struct fabric *fab, uint16_t index);

/* Declares a peer host (its VTEP and the underlay MAC to send to it). VXLAN is accepted
 * only from declared hosts. -EINVAL: zero or own VTEP, multicast MAC. */
int fabric_host_set(struct fabric *fab, uint32_t vtep, const uint8_t mac[6]);
int fabric_host_delete(struct fabric *fab, uint32_t vtep);

/*
 * Sets an endpoint's location and addresses (FAB_STEP_SET: the generation must be newer
 * than the one held). Addresses replace the previous ones.
 *   -EINVAL   bad key, location, port or addresses; -ESTALE older or equal generation;
 *   -ENOENT   the port is not declared; -EBUSY the port is bound to another endpoint;
 *   -EADDRINUSE an address belongs to another endpoint of the VNI;
 *   -ENOSPC   the table is full.
 */
int fabric_endpoint_upsert(struct fabric *fab, const struct fab_ep_key *key,
			   const struct fab_endpoint *loc, const struct fab_ep_addrs *addrs);

/*
 * Applies one migration step (or a deletion) to an existing endpoint; `arg` as for
 * fab_endpoint_step(). Errors as fab_endpoint_step() plus those of upsert.
 */
int fabric_endpoint_step(struct fabric *fab, const struct fab_ep_key *key, unsigned int step,
			 const struct fab_endpoint *arg);

/* Reads one endpoint. -ENOENT if unknown or deleted. */
int fabric_endpoint_get(struct fabric *fab, const struct fab_ep_key *key, struct fab_flow *out);

/* Calls `cb` for each endpoint that matches `filter` (NULL: all), with its counters. Stops
 * early and returns what `cb` returned if that is not 0. */
int fabric_flows_foreach(struct fabric *fab, const struct fab_flow_filter *filter,
			 int (*cb)(const struct fab_flow *flow, void *ctx), void *ctx);

/*
 * The same, one at a time, for callers that cannot take a callback (a stream that sends
 * a page per completion): fills `out` with the next endpoint at or after `*cursor`
 * (start at 0) and moves the cursor past it. Returns 1, or 0 when there is no more.
 */
int fabric_flows_next(struct fabric *fab, const struct fab_flow_filter *filter,
		      uint32_t *cursor, struct fab_flow *out);

/*
 * Every check fabric_endpoint_upsert() makes, without changing anything: the same
 * errors. Sets *is_new when the endpoint has no live record (it would take a new slot
 * unless it has a deletion record). For batches that must be applied all or nothing.
 */
int fabric_endpoint_check(struct fabric *fab, const struct fab_ep_key *key,
			  const struct fab_endpoint *loc, const struct fab_ep_addrs *addrs,
			  bool *is_new);

/* What fabric_endpoint_check_slot() found, for fabric_endpoint_upsert_checked(). */
#define FAB_NO_SLOT UINT32_MAX
struct fab_ep_check {
	uint32_t slot;   /* the endpoint's record (live or a deletion record), or FAB_NO_SLOT */
	bool is_new;     /* as fabric_endpoint_check()'s */
	bool addrs_own;  /* every address is the endpoint's own already: it claims none */
};

/*
 * fabric_endpoint_check(), keeping what it found so that a batch can apply each endpoint
 * without looking it and its addresses up again: the same checks and errors. A batch
 * checks every endpoint first, then applies each with fabric_endpoint_upsert_checked().
 */
int fabric_endpoint_check_slot(struct fabric *fab, const struct fab_ep_key *key,
			       const struct fab_endpoint *loc, const struct fab_ep_addrs *addrs,
			       struct fab_ep_check *out);

/*
 * fabric_endpoint_upsert() for an endpoint that fabric_endpoint_check_slot() accepted with
 * these same arguments, filling `chk`. Since that check the fabric may only have changed by
 * the upserts of other endpoints that bind neither this endpoint's port nor any of its
 * addresses (the other endpoints of a batch without duplicates): the address owners it
 * found are then still true and are not looked up again. The generation, the location and
 * the room in the tables are checked again (they are cheap), with the same errors as
 * fabric_endpoint_upsert(). On success chk->slot is the endpoint's slot.
 */
int fabric_endpoint_upsert_checked(struct fabric *fab, const struct fab_ep_key *key,
				   const struct fab_endpoint *loc, const struct fab_ep_addrs *addrs,
				   struct fab_ep_check *chk);

/* How many more endpoints fit. */
uint32_t fabric_room(const struct fabric *fab);
/* The slot an endpoint holds (stable while it lives), or -ENOENT. For batch checks. */
int fabric_endpoint_slot(const struct fabric *fab, const struct fab_ep_key *key);
/* The slot of the endpoint that owns an address (family 4: host-order IPv4 in addr[0..3]
 * as a uint32_t; 6: 16 bytes), or -ENOENT. */
int fabric_address_owner(const struct fabric *fab, uint32_t vni, int family, const void *addr);
/* The slot of the endpoint bound to port `index`, or -ENOENT. */
int fabric_port_owner(const struct fabric *fab, uint16_t index);

void fabric_stats(struct fabric *fab, struct fab_host_stats *out);

/*
 * Takes in what the fast path reported (activations, hold overflows), applies it to the
 * endpoint table and calls `cb` for each event (NULL: none), then for each state change
 * the API made since the last call (an endpoint that changed state, not one created,
 * deleted or updated in place; at most 4096 wait, older ones are dropped). Returns the
 * number of events handled. Call it often from the control thread's loop.
 */
int fabric_poll(struct fabric *fab, fab_event_cb *cb, void *ctx);

/* Parsing helpers shared by the command line, the config file and the API. */
int fab_parse_mac(const char *s, uint8_t mac[6]);
int fab_parse_ip4(const char *s, uint32_t *ip);
void fab_format_mac(const uint8_t mac[6], char out[18]);
void fab_format_ip4(uint32_t ip, char out[16]);
const char *fab_ep_state_name(uint8_t state);

#endif
