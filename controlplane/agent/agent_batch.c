/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Agent service's UpsertEndpoints: a client-streamed batch of endpoints, checked as a
 * whole (conflicts inside the batch, then against the table) and applied all or nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_convert.h"
#include "agent_internal.h"
#include "fab_map.h"
#include "fabric/v1/agent.pb-c.h"

struct batch_item {
	struct fab_ep_key key;
	struct fab_endpoint loc;
	struct fab_ep_addrs addrs;
	struct fab_ep_check chk; /* what the check found, for the update */
	uint32_t vm_name; /* where its VM name is in the batch's names; 0: none */
};

#define BATCH_VM_NAME_MAX 63

/* The endpoints received so far. VM names are kept apart, one after the other: most
 * endpoints have none, and a million items are a lot of fresh pages to fault in. */
struct batch {
	struct batch_item *items;
	size_t n, cap;
	char *names; /* NUL-terminated names; byte 0 is the empty name */
	size_t names_len, names_cap;
};

/* Keeps an endpoint's VM name (`len` bytes) in the batch. */
static int batch_name_add(struct batch *b, const char *name, size_t len, uint32_t *at)
{
	*at = 0;
	if (len == 0)
		return 0;
	if (b->names_len + len + 2 > b->names_cap) {
		size_t cap = b->names_cap ? b->names_cap : 4096;
		char *grown;

		while (cap < b->names_len + len + 2)
			cap *= 2;
		grown = realloc(b->names, cap);
		if (!grown)
			return -ENOMEM;
		b->names = grown;
		b->names_cap = cap;
	}
	if (b->names_len == 0)
		b->names[b->names_len++] = 0;
	memcpy(b->names + b->names_len, name, len + 1);
	*at = (uint32_t)b->names_len;
	b->names_len += len + 1;
	return 0;
}

void *agent_batch_new(void *ctx)
{
	(void)ctx;
	return calloc(1, sizeof(struct batch));
}

void agent_batch_free(void *state)
{
	struct batch *b = state;

	free(b->items);
	free(b->names);
	free(b);
}

int agent_h_batch_message(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__UpsertEndpointsRequest *req = (const void *)msg;
	struct agent *a = ctx;
	struct batch *b = rpc_call_state(call);

	for (size_t i = 0; i < req->n_endpoints; i++) {
		char prefix[48], err[256];
		struct batch_item *it;

		if (b->n == b->cap) {
			size_t cap = b->cap ? b->cap * 2 : 1024;
			struct batch_item *grown;

			if (cap > BATCH_MAX || !(grown = realloc(b->items, cap * sizeof(*grown)))) {
				rpc_fail(call, RPC_RESOURCE_EXHAUSTED,
					 "a batch holds at most %u endpoints", BATCH_MAX);
				return -1;
			}
			b->items = grown;
			b->cap = cap;
		}
		it = &b->items[b->n];
		if (conv_endpoint(a->cfg.fab, req->endpoints[i], "", &it->key, &it->loc, &it->addrs,
				  err, sizeof(err))) {
			/* Again, to name the field with the endpoint's position in the batch. */
			snprintf(prefix, sizeof(prefix), "endpoints[%zu].", b->n);
			conv_endpoint(a->cfg.fab, req->endpoints[i], prefix, &it->key, &it->loc,
				      &it->addrs, err, sizeof(err));
			rpc_fail(call, RPC_INVALID_ARGUMENT, "%s; nothing was applied", err);
			return -1;
		}
		{
			const char *name = req->endpoints[i]->vm_name ? req->endpoints[i]->vm_name : "";
			size_t n = strlen(name);

			if (n > BATCH_VM_NAME_MAX) {
				rpc_fail(call, RPC_INVALID_ARGUMENT,
					 "endpoints[%zu].vm_name: at most %d bytes; nothing was applied", b->n,
					 BATCH_VM_NAME_MAX);
				return -1;
			}
			if (batch_name_add(b, name, n, &it->vm_name)) {
				rpc_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory for the batch");
				return -1;
			}
		}
		b->n++;
	}
	return 0;
}

/* An address as the batch's duplicate checks see it: VNI and family, then the address. */
struct batch_addr_key {
	uint32_t vni_family; /* VNI << 8 | 4 or 6 */
	uint8_t addr[16];
};

static void batch_addr_key(const struct batch_item *it, int k, struct batch_addr_key *out)
{
	memset(out, 0, sizeof(*out));
	if (k < it->addrs.n_ip4) {
		out->vni_family = it->key.vni << 8 | 4;
		memcpy(out->addr, &it->addrs.ip4[k], 4);
	} else {
		out->vni_family = it->key.vni << 8 | 6;
		memcpy(out->addr, it->addrs.ip6[k - it->addrs.n_ip4], 16);
	}
}

static bool on_port(const struct batch_item *it)
{
	return it->loc.state == FAB_EP_LOCAL || it->loc.state == FAB_EP_INCOMING;
}

/* Checks that the batch's endpoints do not collide with one another: one (VNI, MAC),
 * one port and one address per endpoint within the batch. Returns the index of the first
 * offender, or -1. The thorough check that names the offender of a refused batch. */
static long batch_conflict(struct batch *b, const char **why)
{
	struct fab_map *keys = NULL, *ports = NULL, *addrs = NULL;
	uint32_t n_addrs = 1, n_ports = 1;
	long bad = -1;

	/* Sized for what the batch holds, not for what it could hold. */
	for (size_t i = 0; i < b->n; i++) {
		n_addrs += b->items[i].addrs.n_ip4 + b->items[i].addrs.n_ip6;
		n_ports += on_port(&b->items[i]);
	}
	if (fab_map_create(&keys, sizeof(struct fab_ep_key), (uint32_t)b->n) ||
	    fab_map_create(&ports, sizeof(uint32_t), n_ports) ||
	    fab_map_create(&addrs, sizeof(struct batch_addr_key), n_addrs)) {
		*why = "out of memory";
		bad = 0;
		goto out;
	}
	for (size_t i = 0; i < b->n && bad < 0; i++) {
		const struct batch_item *it = &b->items[i];

		if (fab_map_add(keys, &it->key, (uint32_t)i) == -EEXIST) {
			*why = "names the same endpoint as an earlier one";
			bad = (long)i;
			break;
		}
		if (on_port(it)) {
			uint32_t p = it->loc.port;

			if (fab_map_add(ports, &p, (uint32_t)i) == -EEXIST) {
				*why = "binds a port an earlier one binds";
				bad = (long)i;
				break;
			}
		}
		for (int k = 0; k < it->addrs.n_ip4 + it->addrs.n_ip6; k++) {
			struct batch_addr_key ak;

			batch_addr_key(it, k, &ak);
			if (fab_map_add(addrs, &ak, (uint32_t)i) == -EEXIST) {
				*why = "claims an address an earlier one claims";
				bad = (long)i;
				break;
			}
		}
	}
out:
	fab_map_destroy(keys);
	fab_map_destroy(ports);
	fab_map_destroy(addrs);
	return bad;
}

/* Sets bit `i`; returns whether it was set already. */
static bool bit_test_set(uint64_t *bits, uint32_t i)
{
	uint64_t m = 1ull << (i & 63);
	bool was = (bits[i >> 6] & m) != 0;

	bits[i >> 6] |= m;
	return was;
}

/*
 * The quick check of a whole batch, made when it ends: every endpoint checked against the
 * tables once, what the check found kept in the item for its update, and the batch's own
 * duplicates found with no more memory than they need. An endpoint the host holds is
 * found by its slot (a bit per slot); a port by its index (a bit per port); an address
 * that already belongs to the endpoint naming it cannot be named by another endpoint
 * without failing that one's check. Maps are left only for the endpoints that are new
 * here and the addresses that are new to their endpoint: none when a batch moves
 * endpoints the host holds. Returns 0 and the number of new endpoints when the batch can
 * be applied; -1 when it cannot (or memory ran out): batch_refuse() then names why.
 */
static int batch_check_quick(struct agent *a, struct batch *b, uint32_t *news)
{
	uint64_t ports[FAB_MAX_PORTS / 64] = {0};
	uint64_t *slots = calloc(a->n_slots / 64 + 1, sizeof(*slots));
	struct fab_map *keys = NULL, *addrs = NULL;
	uint32_t n_keys = 0, n_addrs = 0;
	int ret = -1;

	*news = 0;
	if (!slots)
		return -1;
	for (size_t i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];

		if (fabric_endpoint_check_slot(a->cfg.fab, &it->key, &it->loc, &it->addrs, &it->chk))
			goto out;
		if (it->chk.slot == FAB_NO_SLOT)
			n_keys++;
		else if (it->chk.slot >= a->n_slots || bit_test_set(slots, it->chk.slot))
			goto out;
		if (on_port(it) && (it->loc.port >= FAB_MAX_PORTS || bit_test_set(ports, it->loc.port)))
			goto out;
		if (!it->chk.addrs_own)
			n_addrs += it->addrs.n_ip4 + it->addrs.n_ip6;
		*news += it->chk.is_new;
	}
	if ((n_keys && fab_map_create(&keys, sizeof(struct fab_ep_key), n_keys)) ||
	    (n_addrs && fab_map_create(&addrs, sizeof(struct batch_addr_key), n_addrs)))
		goto out;
	for (size_t i = 0; i < b->n && (n_keys || n_addrs); i++) {
		const struct batch_item *it = &b->items[i];

		if (it->chk.slot == FAB_NO_SLOT && fab_map_add(keys, &it->key, (uint32_t)i))
			goto out;
		for (int k = 0; !it->chk.addrs_own && k < it->addrs.n_ip4 + it->addrs.n_ip6; k++) {
			struct batch_addr_key ak;

			batch_addr_key(it, k, &ak);
			if (fab_map_add(addrs, &ak, (uint32_t)i))
				goto out;
		}
	}
	ret = 0;
out:
	fab_map_destroy(keys);
	fab_map_destroy(addrs);
	free(slots);
	return ret;
}

/* Refuses a batch that batch_check_quick() did not pass, naming the first offender as
 * the rules order them: a collision inside the batch first, then the first endpoint the
 * tables refuse. */
static void batch_refuse(struct rpc_call *call, struct agent *a, struct batch *b)
{
	const char *why = NULL;
	long bad = batch_conflict(b, &why);

	if (bad >= 0) {
		char mac[18];

		fab_format_mac(b->items[bad].key.mac, mac);
		rpc_fail(call, RPC_INVALID_ARGUMENT, "endpoints[%ld] (vni %u mac %s) %s; nothing was applied",
			 bad, b->items[bad].key.vni, mac, why);
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		bool is_new;
		int ret = fabric_endpoint_check(a->cfg.fab, &b->items[i].key, &b->items[i].loc,
						&b->items[i].addrs, &is_new);

		if (ret) {
			char mac[18];

			fab_format_mac(b->items[i].key.mac, mac);
			rpc_fail(call, rpc_status_from_errno(ret),
				 "endpoints[%zu] (vni %u mac %s): %s; nothing was applied", i,
				 b->items[i].key.vni, mac,
				 ret == -ESTALE ? "generation not newer than the held one"
				 : ret == -EBUSY ? "its port is bound to another endpoint"
				 : ret == -EADDRINUSE ? "an address belongs to another endpoint"
				 : ret == -ENOENT ? "no such port"
						   : strerror(-ret));
			return;
		}
	}
	/* Both checks pass: the quick one ran out of memory. */
	rpc_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory checking the batch; nothing was applied");
}

void agent_h_batch_end(struct rpc_call *call, void *ctx)
{
	struct agent *a = ctx;
	struct batch *b = rpc_call_state(call);
	Fabric__V1__UpsertEndpointsResponse r = FABRIC__V1__UPSERT_ENDPOINTS_RESPONSE__INIT;
	uint32_t created = 0, news = 0;

	/* Check everything first, so a refusal leaves the fast path untouched. */
	if (b->n && batch_check_quick(a, b, &news)) {
		batch_refuse(call, a, b);
		return;
	}
	if (news > fabric_room(a->cfg.fab)) {
		rpc_fail(call, RPC_RESOURCE_EXHAUSTED,
			 "the batch adds %u endpoints, the table has room for %u (raise "
			 "--max-endpoints); nothing was applied",
			 news, fabric_room(a->cfg.fab));
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		struct batch_item *it = &b->items[i];
		bool is_new = it->chk.is_new;
		int ret = fabric_endpoint_upsert_checked(a->cfg.fab, &it->key, &it->loc, &it->addrs,
							 &it->chk);

		if (ret) {
			/* Checked above: only the fast path's own memory can fail here. */
			rpc_fail(call, RPC_INTERNAL,
				 "endpoints[%zu]: the fast path refused it after the checks (%s); %zu "
				 "of %zu were applied",
				 i, strerror(-ret), i, b->n);
			return;
		}
		agent_vm_name_set_slot(a, it->chk.slot, it->vm_name ? b->names + it->vm_name : "");
		created += is_new;
	}
	r.endpoints_received = (uint32_t)b->n;
	r.endpoints_created = created;
	r.endpoints_updated = (uint32_t)b->n - created;
	r.applied_unix_ns = agent_now_ns();
	rpc_reply(call, &r.base);
}
