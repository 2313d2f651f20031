/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fabric's control layer. Endpoint records live in an array indexed by a stable slot
 * number, which is also the endpoint's counter slot in the fast path, so counters survive
 * location changes. Indexes by (VNI, MAC) and (VNI, address) point at slots.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "fab_map.h"
#include "fabric.h"

#define NO_SLOT FAB_NO_SLOT
#define STATE_CHANGES 4096

struct ep_record {
	struct fab_ep_key key;
	struct fab_endpoint loc; /* state ABSENT: a tombstone, or a free slot */
	struct fab_ep_addrs addrs;
	bool used;
	/* FORWARDING: the port the VM left, still bound (as FORWARDING) so that the frames it
	 * sends until QEMU pauses it go out; 0 otherwise. */
	uint16_t linger_port;
};

struct fab_port {
	char name[FAB_PORT_NAME_MAX];
	uint32_t vni;
	uint32_t bound; /* slot of the endpoint LOCAL or INCOMING here, or NO_SLOT */
	bool used;
};

struct fab_host {
	uint32_t vtep;
	uint8_t mac[6];
};

/* (VNI, family, address): the address index's key. */
struct addr_key {
	uint32_t vni;
	uint8_t family;
	uint8_t zero[3];
	uint8_t addr[16];
};

struct fabric {
	struct fabric_config cfg;
	const struct fab_backend_ops *ops;
	void *be;
	struct ep_record *eps;
	uint32_t *free_slots;
	uint32_t n_free;
	uint32_t n_live;
	uint32_t n_tombstones;
	struct fab_map *ep_index;
	struct fab_map *addr_index;
	struct fab_map *vni_refs; /* vni -> slot in vni_count */
	uint32_t *vni_count;
	uint32_t n_vnis;
	struct fab_map *host_index;
	struct fab_host *hosts;
	uint32_t n_hosts;
	struct fab_port ports[FAB_MAX_PORTS];
	struct fab_event changes[STATE_CHANGES]; /* state changes not yet handed to fabric_poll */
	uint32_t changes_head, changes_len;
};

#define MAX_VNIS 65536
#define MAX_HOSTS 4096

int fabric_create(struct fabric **out, const struct fabric_config *cfg,
		  const struct fab_backend_ops *ops, void *backend)
{
	struct fabric *fab;
	uint32_t cap = cfg->max_endpoints;

	if (!cfg->local_vtep || cap == 0 || cap > (1u << 26) || !ops ||
	    cfg->max_addresses > (1u << 27))
		return -EINVAL;
	fab = calloc(1, sizeof(*fab));
	if (!fab)
		return -ENOMEM;
	fab->cfg = *cfg;
	fab->ops = ops;
	fab->be = backend;
	fab->eps = calloc(cap, sizeof(*fab->eps));
	fab->free_slots = malloc(sizeof(*fab->free_slots) * cap);
	fab->vni_count = calloc(MAX_VNIS, sizeof(*fab->vni_count));
	fab->hosts = calloc(MAX_HOSTS, sizeof(*fab->hosts));
	if (!fab->eps || !fab->free_slots || !fab->vni_count || !fab->hosts ||
	    fab_map_create(&fab->ep_index, sizeof(struct fab_ep_key), cap) ||
	    fab_map_create(&fab->addr_index, sizeof(struct addr_key),
			   cfg->max_addresses ? cfg->max_addresses : cap * 2) ||
	    fab_map_create(&fab->vni_refs, sizeof(uint32_t), MAX_VNIS) ||
	    fab_map_create(&fab->host_index, sizeof(uint32_t), MAX_HOSTS)) {
		fabric_destroy(fab);
		return -ENOMEM;
	}
	/* Hand out low slots first: a small table stays compact. */
	for (uint32_t i = 0; i < cap; i++)
		fab->free_slots[i] = cap - 1 - i;
	fab->n_free = cap;
	for (int i = 0; i < FAB_MAX_PORTS; i++)
		fab->ports[i].bound = NO_SLOT;
	*out = fab;
	return 0;
}

void fabric_destroy(struct fabric *fab)
{
	if (!fab)
		return;
	fab_map_destroy(fab->ep_index);
	fab_map_destroy(fab->addr_index);
	fab_map_destroy(fab->vni_refs);
	fab_map_destroy(fab->host_index);
	free(fab->eps);
	free(fab->free_slots);
	free(fab->vni_count);
	free(fab->hosts);
	free(fab);
}

/* Counts a user of `vni`; the fast path learns of a VNI when its first user arrives and
 * forgets it when the last leaves. */
static int vni_ref(struct fabric *fab, uint32_t vni, int delta)
{
	uint32_t idx;
	int ret;

	if (fab_map_get(fab->vni_refs, &vni, &idx)) {
		if (delta < 0)
			return 0;
		if (fab->n_vnis == MAX_VNIS)
			return -ENOSPC;
		idx = fab->n_vnis++;
		fab->vni_count[idx] = 0;
		ret = fab_map_put(fab->vni_refs, &vni, idx);
		if (ret)
			return ret;
	}
	if (delta > 0 && fab->vni_count[idx]++ == 0)
		return fab->ops->vni_publish(fab->be, vni, true);
	if (delta < 0 && fab->vni_count[idx] > 0 && --fab->vni_count[idx] == 0)
		return fab->ops->vni_publish(fab->be, vni, false);
	return 0;
}

static bool vni_valid(uint32_t vni)
{
	return vni >= 1 && vni <= FAB_VNI_MAX;
}

int fabric_port_add(struct fabric *fab, uint16_t index, const char *name, uint32_t vni)
{
	struct fab_port *p;
	int ret;

	if (index == 0 || index >= FAB_MAX_PORTS || !name || !*name ||
	    strlen(name) >= FAB_PORT_NAME_MAX || !vni_valid(vni))
		return -EINVAL;
	if (fab->ports[index].used || fabric_port_index(fab, name) >= 0)
		return -EEXIST;
	p = &fab->ports[index];
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->vni = vni;
	p->bound = NO_SLOT;
	ret = vni_ref(fab, vni, +1);
	if (ret == 0)
		ret = fab->ops->port_publish(fab->be, index, vni, FAB_EP_ABSENT, NULL);
	if (ret == 0)
		p->used = true;
	return ret;
}

int fabric_port_index(const struct fabric *fab, const char *name)
{
	for (int i = 1; i < FAB_MAX_PORTS; i++)
		if (fab->ports[i].used && strcmp(fab->ports[i].name, name) == 0)
			return i;
	return -ENOENT;
}

const char *fabric_port_name(const struct fabric *fab, uint16_t index)
{
	return index < FAB_MAX_PORTS && fab->ports[index].used ? fab->ports[index].name : NULL;
}

bool fabric_port_holds_paused(const struct fabric *fab, uint16_t index)
{
	return fabric_port_name(fab, index) && fab->ops->port_holds_paused &&
	       fab->ops->port_holds_paused(fab->be, index);
}

int fabric_host_set(struct fabric *fab, uint32_t vtep, const uint8_t mac[6])
{
	uint32_t idx;
	int ret;

	if (vtep == 0 || vtep == fab->cfg.local_vtep || (mac[0] & 1) ||
	    !(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return -EINVAL;
	if (fab_map_get(fab->host_index, &vtep, &idx)) {
		if (fab->n_hosts == MAX_HOSTS)
			return -ENOSPC;
		idx = fab->n_hosts;
		ret = fab_map_put(fab->host_index, &vtep, idx);
		if (ret)
			return ret;
		fab->n_hosts++;
	}
	fab->hosts[idx].vtep = vtep;
	memcpy(fab->hosts[idx].mac, mac, 6);
	return fab->ops->host_publish(fab->be, vtep, mac);
}

int fabric_host_delete(struct fabric *fab, uint32_t vtep)
{
	uint32_t idx, last;
	int ret;

	if (fab_map_get(fab->host_index, &vtep, &idx))
		return -ENOENT;
	ret = fab->ops->host_publish(fab->be, vtep, NULL);
	if (ret)
		return ret;
	fab_map_del(fab->host_index, &vtep);
	last = --fab->n_hosts;
	if (idx != last) {
		fab->hosts[idx] = fab->hosts[last];
		fab_map_put(fab->host_index, &fab->hosts[idx].vtep, idx);
	}
	return 0;
}

static void addr_key_make(struct addr_key *k, uint32_t vni, int family, const void *addr)
{
	memset(k, 0, sizeof(*k));
	k->vni = vni;
	k->family = (uint8_t)family;
	if (family == 4) {
		uint32_t be = htonl(*(const uint32_t *)addr);

		memcpy(k->addr, &be, 4);
	} else {
		memcpy(k->addr, addr, 16);
	}
}

static bool key_valid(const struct fab_ep_key *key)
{
	const uint8_t *m = key->mac;

	return vni_valid(key->vni) && !(m[0] & 1) && (m[0] | m[1] | m[2] | m[3] | m[4] | m[5]) &&
	       key->zero == 0;
}

static bool addrs_valid(const struct fab_ep_addrs *a)
{
	if (a->n_ip4 > FAB_EP_MAX_IP4 || a->n_ip6 > FAB_EP_MAX_IP6)
		return false;
	for (int i = 0; i < a->n_ip4; i++)
		if (a->ip4[i] == 0 || a->ip4[i] >= 0xe0000000u) /* no 0.0.0.0, multicast, class E */
			return false;
	for (int i = 0; i < a->n_ip6; i++) {
		static const uint8_t zero[16];

		if (a->ip6[i][0] == 0xff || memcmp(a->ip6[i], zero, 16) == 0)
			return false;
	}
	return true;
}

static bool addrs_equal(const struct fab_ep_addrs *x, const struct fab_ep_addrs *y)
{
	return x->n_ip4 == y->n_ip4 && x->n_ip6 == y->n_ip6 &&
	       memcmp(x->ip4, y->ip4, sizeof(y->ip4[0]) * y->n_ip4) == 0 &&
	       memcmp(x->ip6, y->ip6, sizeof(y->ip6[0]) * y->n_ip6) == 0;
}

/*
 * Fails with -EADDRINUSE if an address of `a` belongs to an endpoint other than `slot`,
 * and with -ENOSPC if the address table could not hold them once the endpoint's current
 * addresses are gone: checked before anything changes, so nothing is half-applied. Sets
 * *own when every address belongs to `slot` already. `owners_known`: a check made just
 * before found the owners right, so only the room is checked again.
 */
static int addrs_check(struct fabric *fab, uint32_t vni, const struct fab_ep_addrs *a,
		       uint32_t slot, bool owners_known, bool *own)
{
	struct addr_key k;
	uint32_t owner;
	const struct ep_record *r = slot != NO_SLOT && fab->eps[slot].used ? &fab->eps[slot] : NULL;
	uint32_t held = r ? r->addrs.n_ip4 + r->addrs.n_ip6 : 0;

	*own = false;
	if (fab_map_count(fab->addr_index) - held + a->n_ip4 + a->n_ip6 >
	    fab_map_capacity(fab->addr_index))
		return -ENOSPC;
	/* The index holds a record's addresses under its slot: the addresses it has already
	 * (an update that moves the endpoint keeps them) need no lookup. */
	if (r && addrs_equal(&r->addrs, a)) {
		*own = true;
		return 0;
	}
	if (owners_known)
		return 0;
	*own = true;
	for (int i = 0; i < a->n_ip4; i++) {
		addr_key_make(&k, vni, 4, &a->ip4[i]);
		if (fab_map_get(fab->addr_index, &k, &owner))
			*own = false;
		else if (owner != slot)
			return -EADDRINUSE;
	}
	for (int i = 0; i < a->n_ip6; i++) {
		addr_key_make(&k, vni, 6, a->ip6[i]);
		if (fab_map_get(fab->addr_index, &k, &owner))
			*own = false;
		else if (owner != slot)
			return -EADDRINUSE;
	}
	return 0;
}

static int addr_publish(struct fabric *fab, uint32_t vni, int family, const void *addr,
			const uint8_t *mac, uint32_t slot)
{
	struct addr_key k;
	int ret;

	addr_key_make(&k, vni, family, addr);
	ret = fab->ops->address_publish(fab->be, vni, family, k.addr, mac);
	if (ret)
		return ret;
	if (mac)
		return fab_map_put(fab->addr_index, &k, slot);
	fab_map_del(fab->addr_index, &k); /* gone already is fine: removal is idempotent */
	return 0;
}

/* Publishes (`mac` set) or withdraws (`mac` NULL) every address of `a` for `slot`. On a
 * failure part way through, what this call published is withdrawn again. */
static int addrs_publish(struct fabric *fab, uint32_t slot, const struct fab_ep_addrs *a,
			 const uint8_t *mac)
{
	uint32_t vni = fab->eps[slot].key.vni;
	int i4 = 0, i6 = 0, ret = 0;

	for (; i4 < a->n_ip4 && ret == 0; i4++)
		ret = addr_publish(fab, vni, 4, &a->ip4[i4], mac, slot);
	for (; ret == 0 && i6 < a->n_ip6; i6++)
		ret = addr_publish(fab, vni, 6, a->ip6[i6], mac, slot);
	if (ret && mac) {
		/* i4 and i6 are one past the address that failed (or past the last). */
		for (int i = 0; i < i4; i++)
			addr_publish(fab, vni, 4, &a->ip4[i], NULL, slot);
		for (int i = 0; i < i6; i++)
			addr_publish(fab, vni, 6, a->ip6[i], NULL, slot);
	}
	return ret;
}

/* Replaces the published addresses of `r` by `next` (NULL: none). On failure the old
 * addresses are published again: nothing in the address index points at a slot that does
 * not hold the address (a later check would find a stale owner). */
static int addrs_replace(struct fabric *fab, uint32_t slot, const struct fab_ep_addrs *next)
{
	struct ep_record *r = &fab->eps[slot];
	static const struct fab_ep_addrs none;
	int ret;

	if (!next)
		next = &none;
	/* A move keeps the addresses: nothing to republish. */
	if (addrs_equal(&r->addrs, next))
		return 0;
	ret = addrs_publish(fab, slot, &r->addrs, NULL);
	if (ret == 0)
		ret = addrs_publish(fab, slot, next, r->key.mac);
	if (ret) {
		addrs_publish(fab, slot, &r->addrs, r->key.mac); /* best effort: it fitted before */
		return ret;
	}
	r->addrs = *next;
	return 0;
}

static bool state_on_port(uint8_t state)
{
	return state == FAB_EP_LOCAL || state == FAB_EP_INCOMING;
}

/* Checks that `loc` may be installed for the endpoint in `slot`. */
static int location_check(struct fabric *fab, const struct fab_endpoint *loc, uint32_t slot)
{
	if (state_on_port(loc->state)) {
		const struct fab_port *p;

		if (loc->port == 0 || loc->port >= FAB_MAX_PORTS || !fab->ports[loc->port].used)
			return -ENOENT;
		p = &fab->ports[loc->port];
		if (p->vni != fab->eps[slot].key.vni)
			return -EINVAL;
		if (p->bound != NO_SLOT && p->bound != slot)
			return -EBUSY;
	} else if (loc->state == FAB_EP_REMOTE || loc->state == FAB_EP_FORWARDING) {
		if (loc->vtep == fab->cfg.local_vtep)
			return -EINVAL;
	}
	return 0;
}

/*
 * Publishes record `slot` moving from `prev` to its current location, keeping the ports'
 * bindings right. The order matters to the workers: a port is bound before frames are
 * delivered to it, and unbound only after the endpoint points elsewhere.
 */
static int publish_location(struct fabric *fab, uint32_t slot, const struct fab_endpoint *prev)
{
	struct ep_record *r = &fab->eps[slot];
	const struct fab_endpoint *loc = &r->loc;
	int ret = 0;

	if (state_on_port(loc->state)) {
		fab->ports[loc->port].bound = slot;
		ret = fab->ops->port_publish(fab->be, loc->port, r->key.vni, loc->state, r->key.mac);
	}
	if (ret == 0)
		ret = fab->ops->endpoint_publish(fab->be, &r->key, loc, slot);
	if (ret == 0 && state_on_port(prev->state) &&
	    (!state_on_port(loc->state) || prev->port != loc->port)) {
		if (prev->state == FAB_EP_LOCAL && loc->state == FAB_EP_FORWARDING) {
			/* The VM still runs here until QEMU pauses it for the switchover: what it
			 * sends meanwhile must go out, not be dropped as from an unbound port. */
			r->linger_port = prev->port;
			ret = fab->ops->port_publish(fab->be, prev->port, r->key.vni, FAB_EP_FORWARDING,
						     r->key.mac);
		} else {
			fab->ports[prev->port].bound = NO_SLOT;
			ret = fab->ops->port_publish(fab->be, prev->port, r->key.vni, FAB_EP_ABSENT, NULL);
		}
	}
	if (ret == 0 && r->linger_port && loc->state != FAB_EP_FORWARDING) {
		uint16_t port = r->linger_port;

		r->linger_port = 0;
		if (!(state_on_port(loc->state) && loc->port == port) && fab->ports[port].bound == slot) {
			fab->ports[port].bound = NO_SLOT;
			ret = fab->ops->port_publish(fab->be, port, r->key.vni, FAB_EP_ABSENT, NULL);
		}
	}
	return ret;
}

/* Finds the slot of `key`, or takes a fresh one (reclaiming a tombstone if the table is
 * full). */
static int slot_for(struct fabric *fab, const struct fab_ep_key *key, uint32_t *slot,
		    bool *fresh)
{
	int ret;

	*fresh = false;
	if (fab_map_get(fab->ep_index, key, slot) == 0)
		return 0;
	if (fab->n_free == 0 && fab->n_tombstones > 0) {
		/* Full of live endpoints and deletion records: forget the oldest-slotted
		 * deletion. Its generation guard is lost, which only matters for an update
		 * older than the deletion that arrives after this much churn. */
		for (uint32_t i = 0; i < fab->cfg.max_endpoints; i++) {
			struct ep_record *t = &fab->eps[i];

			if (t->used && t->loc.state == FAB_EP_ABSENT) {
				fab_map_del(fab->ep_index, &t->key);
				t->used = false;
				fab->n_tombstones--;
				fab->free_slots[fab->n_free++] = i;
				break;
			}
		}
	}
	if (fab->n_free == 0)
		return -ENOSPC;
	*slot = fab->free_slots[fab->n_free - 1];
	ret = fab_map_put(fab->ep_index, key, *slot);
	if (ret)
		return ret;
	fab->n_free--;
	memset(&fab->eps[*slot], 0, sizeof(fab->eps[*slot]));
	fab->eps[*slot].key = *key;
	fab->eps[*slot].used = true;
	fab->eps[*slot].linger_port = 0;
	*fresh = true;
	return 0;
}

/* Undoes slot_for() for a fresh slot whose first update failed. */
static void slot_release(struct fabric *fab, uint32_t slot)
{
	fab_map_del(fab->ep_index, &fab->eps[slot].key);
	fab->eps[slot].used = false;
	fab->free_slots[fab->n_free++] = slot;
}

/* Applies `step` to the endpoint in `slot` and publishes it; `addrs` replaces its
 * addresses when not NULL (`owners_known`: as for addrs_check()). On failure nothing has
 * changed. */
static int apply_step(struct fabric *fab, uint32_t slot, unsigned int step,
		      const struct fab_endpoint *arg, const struct fab_ep_addrs *addrs,
		      bool owners_known)
{
	struct ep_record *r = &fab->eps[slot];
	struct fab_endpoint prev = r->loc;
	struct fab_endpoint next = r->loc;
	bool was_live = prev.state != FAB_EP_ABSENT;
	bool live, own;
	int ret;

	ret = fab_endpoint_step(&next, step, arg);
	if (ret)
		return ret;
	live = next.state != FAB_EP_ABSENT;
	if (live) {
		ret = location_check(fab, &next, slot);
		if (ret == 0 && addrs)
			ret = addrs_check(fab, r->key.vni, addrs, slot, owners_known, &own);
		if (ret)
			return ret;
	}
	if (!was_live && live) {
		ret = vni_ref(fab, r->key.vni, +1);
		if (ret)
			return ret;
		fab->ops->endpoint_stats(fab->be, slot, true, &(struct fab_ep_stats){0});
	}
	r->loc = next;
	ret = publish_location(fab, slot, &prev);
	if (ret == 0 && (addrs || !live))
		ret = addrs_replace(fab, slot, live ? addrs : NULL);
	if (ret) {
		/* The backend refused (it cannot, short of running out of memory): put the
		 * fast path back as it was. */
		r->loc = prev;
		publish_location(fab, slot, &next);
		return ret;
	}
	if (was_live && live && prev.state != next.state) {
		struct fab_event *ev;

		if (fab->changes_len == STATE_CHANGES) { /* nobody polls: drop the oldest */
			fab->changes_head = (fab->changes_head + 1) % STATE_CHANGES;
			fab->changes_len--;
		}
		ev = &fab->changes[(fab->changes_head + fab->changes_len++) % STATE_CHANGES];
		*ev = (struct fab_event){.kind = FAB_EVENT_STATE_CHANGED, .step = (uint8_t)step,
					 .key = r->key, .loc = next, .prev = prev};
	}
	if (was_live && !live) {
		vni_ref(fab, r->key.vni, -1);
		fab->n_live--;
		fab->n_tombstones++;
	} else if (!was_live && live) {
		fab->n_live++;
		if (prev.generation)
			fab->n_tombstones--;
	}
	return 0;
}

int fabric_endpoint_upsert(struct fabric *fab, const struct fab_ep_key *key,
			   const struct fab_endpoint *loc, const struct fab_ep_addrs *addrs)
{
	static const struct fab_ep_addrs none;
	uint32_t slot;
	bool fresh;
	int ret;

	if (!key_valid(key) || !fab_ep_location_valid(loc) || (addrs && !addrs_valid(addrs)))
		return -EINVAL;
	ret = slot_for(fab, key, &slot, &fresh);
	if (ret)
		return ret;
	ret = apply_step(fab, slot, FAB_STEP_SET, loc, addrs ? addrs : &none, false);
	if (ret && fresh)
		slot_release(fab, slot);
	return ret;
}

int fabric_endpoint_upsert_checked(struct fabric *fab, const struct fab_ep_key *key,
				   const struct fab_endpoint *loc, const struct fab_ep_addrs *addrs,
				   struct fab_ep_check *chk)
{
	static const struct fab_ep_addrs none;
	uint32_t slot = chk->slot;
	bool fresh = false;
	int ret;

	if (!key_valid(key) || !fab_ep_location_valid(loc) || (addrs && !addrs_valid(addrs)))
		return -EINVAL;
	/* The record the check found may have been forgotten since, its slot reclaimed for a
	 * new endpoint of the batch (a full table): then the endpoint is looked up again.
	 * The owners the check found stay right: a deletion record owns no address. */
	if (slot == NO_SLOT || !fab->eps[slot].used ||
	    memcmp(&fab->eps[slot].key, key, sizeof(*key)) != 0) {
		ret = slot_for(fab, key, &slot, &fresh);
		if (ret)
			return ret;
	}
	ret = apply_step(fab, slot, FAB_STEP_SET, loc, addrs ? addrs : &none, true);
	if (ret && fresh)
		slot_release(fab, slot);
	if (ret == 0)
		chk->slot = slot;
	return ret;
}

int fabric_endpoint_step(struct fabric *fab, const struct fab_ep_key *key, unsigned int step,
			 const struct fab_endpoint *arg)
{
	uint32_t slot;
	bool fresh;
	int ret;

	if (!key_valid(key) || step > FAB_STEP_DELETE)
		return -EINVAL;
	if (step == FAB_STEP_SET)
		return fabric_endpoint_upsert(fab, key, arg, NULL);
	/* Only a target preparing for an endpoint it has never seen creates a record. */
	if (step != FAB_STEP_PREPARE_INCOMING) {
		if (fab_map_get(fab->ep_index, key, &slot))
			return -ENOENT;
		return apply_step(fab, slot, step, arg, NULL, false);
	}
	ret = slot_for(fab, key, &slot, &fresh);
	if (ret)
		return ret;
	ret = apply_step(fab, slot, step, arg, NULL, false);
	if (ret && fresh)
		slot_release(fab, slot);
	return ret;
}

static void flow_fill(struct fabric *fab, uint32_t slot, struct fab_flow *out)
{
	const struct ep_record *r = &fab->eps[slot];

	out->key = r->key;
	out->slot = slot;
	out->loc = r->loc;
	out->addrs = r->addrs;
	out->port_name = state_on_port(r->loc.state) ? fab->ports[r->loc.port].name : NULL;
	fab->ops->endpoint_stats(fab->be, slot, false, &out->stats);
}

int fabric_endpoint_get(struct fabric *fab, const struct fab_ep_key *key, struct fab_flow *out)
{
	uint32_t slot;

	if (fab_map_get(fab->ep_index, key, &slot) || fab->eps[slot].loc.state == FAB_EP_ABSENT)
		return -ENOENT;
	flow_fill(fab, slot, out);
	return 0;
}

static bool flow_matches(const struct ep_record *r, const struct fab_flow_filter *f)
{
	if (!f)
		return true;
	if (f->vni && r->key.vni != f->vni)
		return false;
	if (f->match_mac && memcmp(r->key.mac, f->mac, 6) != 0)
		return false;
	return f->state == FAB_EP_ABSENT || r->loc.state == f->state;
}

int fabric_flows_foreach(struct fabric *fab, const struct fab_flow_filter *filter,
			 int (*cb)(const struct fab_flow *flow, void *ctx), void *ctx)
{
	struct fab_flow flow;

	for (uint32_t i = 0; i < fab->cfg.max_endpoints; i++) {
		const struct ep_record *r = &fab->eps[i];
		int ret;

		if (!r->used || r->loc.state == FAB_EP_ABSENT || !flow_matches(r, filter))
			continue;
		flow_fill(fab, i, &flow);
		ret = cb(&flow, ctx);
		if (ret)
			return ret;
	}
	return 0;
}

int fabric_flows_next(struct fabric *fab, const struct fab_flow_filter *filter,
		      uint32_t *cursor, struct fab_flow *out)
{
	for (uint32_t i = *cursor; i < fab->cfg.max_endpoints; i++) {
		const struct ep_record *r = &fab->eps[i];

		if (!r->used || r->loc.state == FAB_EP_ABSENT || !flow_matches(r, filter))
			continue;
		flow_fill(fab, i, out);
		*cursor = i + 1;
		return 1;
	}
	*cursor = fab->cfg.max_endpoints;
	return 0;
}

int fabric_endpoint_check_slot(struct fabric *fab, const struct fab_ep_key *key,
			       const struct fab_endpoint *loc, const struct fab_ep_addrs *addrs,
			       struct fab_ep_check *out)
{
	struct fab_endpoint next = {0};
	uint32_t slot = NO_SLOT;
	int ret;

	*out = (struct fab_ep_check){.slot = NO_SLOT, .is_new = true, .addrs_own = true};
	if (!key_valid(key) || !fab_ep_location_valid(loc) || (addrs && !addrs_valid(addrs)))
		return -EINVAL;
	if (fab_map_get(fab->ep_index, key, &slot) == 0) {
		next = fab->eps[slot].loc;
		out->slot = slot;
		out->is_new = next.state == FAB_EP_ABSENT;
	}
	ret = fab_endpoint_step(&next, FAB_STEP_SET, loc);
	if (ret)
		return ret;
	if (slot == NO_SLOT) {
		/* A location check needs a record for the VNI: use a stand-in. */
		if (state_on_port(loc->state)) {
			const struct fab_port *p = loc->port < FAB_MAX_PORTS ? &fab->ports[loc->port] : NULL;

			if (!p || !p->used)
				return -ENOENT;
			if (p->vni != key->vni)
				return -EINVAL;
			if (p->bound != NO_SLOT)
				return -EBUSY;
		} else if (loc->vtep == fab->cfg.local_vtep) {
			return -EINVAL;
		}
	} else {
		ret = location_check(fab, loc, slot);
		if (ret)
			return ret;
	}
	return addrs ? addrs_check(fab, key->vni, addrs, slot, false, &out->addrs_own) : 0;
}

int fabric_endpoint_check(struct fabric *fab, const struct fab_ep_key *key,
			  const struct fab_endpoint *loc, const struct fab_ep_addrs *addrs,
			  bool *is_new)
{
	struct fab_ep_check chk;
	int ret = fabric_endpoint_check_slot(fab, key, loc, addrs, &chk);

	*is_new = chk.is_new;
	return ret;
}

uint32_t fabric_room(const struct fabric *fab)
{
	return fab->n_free + fab->n_tombstones;
}

int fabric_endpoint_slot(const struct fabric *fab, const struct fab_ep_key *key)
{
	uint32_t slot;

	if (fab_map_get(fab->ep_index, key, &slot) || fab->eps[slot].loc.state == FAB_EP_ABSENT)
		return -ENOENT;
	return (int)slot;
}

int fabric_address_owner(const struct fabric *fab, uint32_t vni, int family, const void *addr)
{
	struct addr_key k;
	uint32_t slot;

	addr_key_make(&k, vni, family, addr);
	return fab_map_get(fab->addr_index, &k, &slot) ? -ENOENT : (int)slot;
}

int fabric_port_owner(const struct fabric *fab, uint16_t index)
{
	if (index >= FAB_MAX_PORTS || fab->ports[index].bound == NO_SLOT)
		return -ENOENT;
	return (int)fab->ports[index].bound;
}

void fabric_stats(struct fabric *fab, struct fab_host_stats *out)
{
	memset(out, 0, sizeof(*out));
	fab->ops->host_stats(fab->be, out);
	out->endpoints = fab->n_live;
	out->endpoint_capacity = fab->cfg.max_endpoints;
	out->hosts = fab->n_hosts;
}

int fabric_poll(struct fabric *fab, fab_event_cb *cb, void *ctx)
{
	struct fab_dp_event dp[32];
	int n = fab->ops->poll_events(fab->be, dp, 32);

	for (int i = 0; i < n; i++) {
		struct fab_event ev = {.kind = dp[i].kind, .count = dp[i].count};
		uint32_t slot = dp[i].port < FAB_MAX_PORTS ? fab->ports[dp[i].port].bound : NO_SLOT;

		if (slot == NO_SLOT)
			continue; /* the port was unbound since: nothing left to act on */
		if (dp[i].kind == FAB_EVENT_ACTIVATED) {
			struct fab_endpoint arg = {.generation = fab->eps[slot].loc.generation};

			if (fab->eps[slot].loc.state != FAB_EP_INCOMING ||
			    apply_step(fab, slot, FAB_STEP_ACTIVATE, &arg, NULL, false))
				continue;
		}
		ev.key = fab->eps[slot].key;
		ev.loc = fab->eps[slot].loc;
		if (cb)
			cb(&ev, ctx);
	}
	while (fab->changes_len > 0) {
		struct fab_event ev = fab->changes[fab->changes_head];

		fab->changes_head = (fab->changes_head + 1) % STATE_CHANGES;
		fab->changes_len--;
		if (cb)
			cb(&ev, ctx);
		n++;
	}
	return n;
}

static int hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Exactly "xx:xx:xx:xx:xx:xx", two hex digits per byte: no signs, spaces or shortcuts. */
int fab_parse_mac(const char *s, uint8_t mac[6])
{
	if (!s || strlen(s) != 17)
		return -EINVAL;
	for (int i = 0; i < 6; i++) {
		int hi = hex_digit(s[3 * i]), lo = hex_digit(s[3 * i + 1]);

		if (hi < 0 || lo < 0 || (i < 5 && s[3 * i + 2] != ':'))
			return -EINVAL;
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int fab_parse_ip4(const char *s, uint32_t *ip)
{
	struct in_addr a;

	if (!s || inet_pton(AF_INET, s, &a) != 1)
		return -EINVAL;
	*ip = ntohl(a.s_addr);
	return 0;
}

void fab_format_mac(const uint8_t mac[6], char out[18])
{
	snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
		 mac[5]);
}

void fab_format_ip4(uint32_t ip, char out[16])
{
	snprintf(out, 16, "%u.%u.%u.%u", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

const char *fab_ep_state_name(uint8_t state)
{
	static const char *const names[] = {"absent", "local", "remote", "incoming", "forwarding"};

	return state <= FAB_EP_FORWARDING ? names[state] : "?";
}
