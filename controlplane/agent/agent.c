/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Agent service's handlers. They run in the control thread (the one that polls the
 * RPC server), call the fabric's control API and translate its errors, in one place
 * (fail_errno), into statuses with messages an operator can act on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "agent_convert.h"
#include "agent_internal.h"
#include "driver.h"
#include "fab_map.h"
#include "fabric/v1/agent.pb-c.h"
#include "fabric/v1/events.pb-c.h"

uint64_t agent_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int agent_create(struct agent **out, const struct agent_config *cfg)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	struct fab_host_stats st;

	a->cfg = *cfg;
	fabric_stats(cfg->fab, &st);
	a->n_slots = st.endpoint_capacity;
	a->vm_names = calloc(a->n_slots, sizeof(*a->vm_names));
	if (!a->vm_names) {
		free(a);
		return -ENOMEM;
	}
	a->started_ns = agent_now_ns();
	a->next_seq = 1;
	*out = a;
	return 0;
}

void agent_destroy(struct agent *a)
{
	if (!a)
		return;
	for (uint32_t i = 0; i < a->n_slots; i++)
		free(a->vm_names[i]);
	free(a->vm_names);
	free(a);
}

const char *vm_name_of(const struct agent *a, uint32_t slot)
{
	return slot < a->n_slots ? a->vm_names[slot] : NULL;
}

/* Records the VM name of the endpoint in `slot` (an empty name clears it). */
void agent_vm_name_set_slot(struct agent *a, uint32_t slot, const char *name)
{
	if ((!name || !*name) && a->n_names == 0)
		return;
	if (slot >= a->n_slots)
		return;
	a->n_names -= a->vm_names[slot] != NULL;
	free(a->vm_names[slot]);
	a->vm_names[slot] = name && *name ? strdup(name) : NULL;
	a->n_names += a->vm_names[slot] != NULL;
}

/* Records the VM name of the endpoint `key` (an empty name clears it). */
static void vm_name_set(struct agent *a, const struct fab_ep_key *key, const char *name)
{
	int slot;

	/* Most endpoints have no VM name here: nothing to clear, nothing to look up. */
	if ((!name || !*name) && a->n_names == 0)
		return;
	slot = fabric_endpoint_slot(a->cfg.fab, key);
	if (slot >= 0)
		agent_vm_name_set_slot(a, (uint32_t)slot, name);
}

void agent_record_event(struct agent *a, const struct fab_event *ev)
{
	struct logged_event *l = &a->log[a->next_seq % EVENT_LOG];

	l->seq = a->next_seq++;
	l->time_ns = agent_now_ns();
	l->ev = *ev;
}

/* The one translation of the fabric's errors for an endpoint operation. */
static void fail_errno(struct rpc_call *call, struct agent *a, int err,
		       const struct fab_ep_key *key, const struct fab_endpoint *loc)
{
	char mac[18];
	struct fab_flow held;
	bool have = key && fabric_endpoint_get(a->cfg.fab, key, &held) == 0;

	if (key)
		fab_format_mac(key->mac, mac);
	else
		snprintf(mac, sizeof(mac), "?");
	switch (-err) {
	case ESTALE:
		rpc_fail(call, RPC_ABORTED,
			 "vni %u mac %s: generation %llu does not win over the held generation %llu "
			 "(a newer update was applied; re-read and retry with a newer generation)",
			 key ? key->vni : 0, mac, (unsigned long long)(loc ? loc->generation : 0),
			 (unsigned long long)(have ? held.loc.generation : 0));
		return;
	case ENOENT:
		rpc_fail(call, RPC_NOT_FOUND, "vni %u mac %s: no such endpoint on this host",
			 key ? key->vni : 0, mac);
		return;
	case EPERM:
		rpc_fail(call, RPC_FAILED_PRECONDITION,
			 "vni %u mac %s: not allowed from state %s", key ? key->vni : 0, mac,
			 have ? fab_ep_state_name(held.loc.state) : "absent");
		return;
	case EBUSY:
		rpc_fail(call, RPC_FAILED_PRECONDITION,
			 "vni %u mac %s: port %s is bound to another endpoint (move or delete it first)",
			 key ? key->vni : 0, mac,
			 loc ? (fabric_port_name(a->cfg.fab, loc->port) ?: "?") : "?");
		return;
	case EADDRINUSE:
		rpc_fail(call, RPC_ALREADY_EXISTS,
			 "vni %u mac %s: an address belongs to another endpoint of the VNI",
			 key ? key->vni : 0, mac);
		return;
	case ENOSPC:
		rpc_fail(call, RPC_RESOURCE_EXHAUSTED,
			 "the endpoint table or the address table is full (raise fabricd's "
			 "--max-endpoints or --max-addresses)");
		return;
	case EINVAL:
		rpc_fail(call, RPC_INVALID_ARGUMENT,
			 "vni %u mac %s: the location is not valid here (port in another VNI, or this "
			 "host's own VTEP as a remote)",
			 key ? key->vni : 0, mac);
		return;
	default:
		rpc_fail(call, rpc_status_from_errno(err), "vni %u mac %s: %s", key ? key->vni : 0,
			 mac, strerror(-err));
	}
}

static void reply_endpoint(struct rpc_call *call, struct agent *a, const struct fab_ep_key *key,
			   const ProtobufCMessageDescriptor *desc, bool created)
{
	struct fab_flow flow;
	struct conv_strings buf;
	Fabric__V1__Endpoint ep;

	if (fabric_endpoint_get(a->cfg.fab, key, &flow)) {
		memset(&flow, 0, sizeof(flow));
		flow.key = *key;
		flow.slot = UINT32_MAX;
	}
	conv_endpoint_out(&flow, vm_name_of(a, flow.slot), &ep, &buf);
	/* Every response that carries the endpoint has it as field 1, first member. */
	if (desc == &fabric__v1__upsert_endpoint_response__descriptor) {
		Fabric__V1__UpsertEndpointResponse r = FABRIC__V1__UPSERT_ENDPOINT_RESPONSE__INIT;
		r.endpoint = &ep;
		r.created = created;
		rpc_reply(call, &r.base);
	} else if (desc == &fabric__v1__prepare_incoming_response__descriptor) {
		Fabric__V1__PrepareIncomingResponse r = FABRIC__V1__PREPARE_INCOMING_RESPONSE__INIT;
		r.endpoint = &ep;
		rpc_reply(call, &r.base);
	} else if (desc == &fabric__v1__begin_forwarding_response__descriptor) {
		Fabric__V1__BeginForwardingResponse r = FABRIC__V1__BEGIN_FORWARDING_RESPONSE__INIT;
		r.endpoint = &ep;
		rpc_reply(call, &r.base);
	} else if (desc == &fabric__v1__activate_response__descriptor) {
		Fabric__V1__ActivateResponse r = FABRIC__V1__ACTIVATE_RESPONSE__INIT;
		r.endpoint = &ep;
		rpc_reply(call, &r.base);
	} else if (desc == &fabric__v1__end_forwarding_response__descriptor) {
		Fabric__V1__EndForwardingResponse r = FABRIC__V1__END_FORWARDING_RESPONSE__INIT;
		r.endpoint = &ep;
		rpc_reply(call, &r.base);
	} else {
		Fabric__V1__DeleteEndpointResponse r = FABRIC__V1__DELETE_ENDPOINT_RESPONSE__INIT;
		r.endpoint = &ep;
		rpc_reply(call, &r.base);
	}
}

static void h_upsert(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__UpsertEndpointRequest *req = (const void *)msg;
	struct agent *a = ctx;
	struct fab_ep_key key;
	struct fab_endpoint loc;
	struct fab_ep_addrs addrs;
	char err[256];
	int ret;

	if (conv_endpoint(a->cfg.fab, req->endpoint, "endpoint.", &key, &loc, &addrs, err,
			  sizeof(err))) {
		rpc_fail(call, RPC_INVALID_ARGUMENT, "%s", err);
		return;
	}
	bool created = fabric_endpoint_slot(a->cfg.fab, &key) < 0;

	ret = fabric_endpoint_upsert(a->cfg.fab, &key, &loc, &addrs);
	if (ret) {
		fail_errno(call, a, ret, &key, &loc);
		return;
	}
	vm_name_set(a, &key, req->endpoint->vm_name);
	reply_endpoint(call, a, &key, &fabric__v1__upsert_endpoint_response__descriptor, created);
}

static void h_delete(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__DeleteEndpointRequest *req = (const void *)msg;
	struct agent *a = ctx;
	struct fab_ep_key key;
	struct fab_endpoint arg = {.generation = req->generation};
	struct fab_flow before;
	struct conv_strings buf;
	Fabric__V1__Endpoint ep;
	Fabric__V1__DeleteEndpointResponse r = FABRIC__V1__DELETE_ENDPOINT_RESPONSE__INIT;
	char err[256];
	int ret;

	if (conv_key(req->vni, req->mac, "", &key, err, sizeof(err)) ||
	    conv_generation(req->generation, "generation", err, sizeof(err))) {
		rpc_fail(call, RPC_INVALID_ARGUMENT, "%s", err);
		return;
	}
	if (fabric_endpoint_get(a->cfg.fab, &key, &before)) {
		fail_errno(call, a, -ENOENT, &key, &arg);
		return;
	}
	ret = fabric_endpoint_step(a->cfg.fab, &key, FAB_STEP_DELETE, &arg);
	if (ret) {
		fail_errno(call, a, ret, &key, &arg);
		return;
	}
	conv_endpoint_out(&before, vm_name_of(a, before.slot), &ep, &buf);
	r.endpoint = &ep;
	rpc_reply(call, &r.base);
	if (before.slot < a->n_slots && a->vm_names[before.slot]) {
		free(a->vm_names[before.slot]);
		a->vm_names[before.slot] = NULL;
		a->n_names--;
	}
}

/* ---- ListFlows: pages of rows ---- */

struct flows_cursor {
	struct agent *a;
	struct fab_flow_filter filter;
	uint32_t cursor;
	bool sent_any;
	Fabric__V1__ListFlowsResponse page;
	Fabric__V1__Flow rows[FLOWS_PER_PAGE];
	Fabric__V1__Flow *row_ptrs[FLOWS_PER_PAGE];
	struct conv_strings strings[FLOWS_PER_PAGE];
};

static int flows_next(void *state, const ProtobufCMessage **msg)
{
	struct flows_cursor *fc = state;
	size_t n = 0;
	struct fab_flow flow;

	while (n < FLOWS_PER_PAGE &&
	       fabric_flows_next(fc->a->cfg.fab, &fc->filter, &fc->cursor, &flow) == 1) {
		conv_flow(&flow, vm_name_of(fc->a, flow.slot), &fc->rows[n], &fc->strings[n]);
		fc->row_ptrs[n] = &fc->rows[n];
		n++;
	}
	if (n == 0 && fc->sent_any)
		return 0;
	fabric__v1__list_flows_response__init(&fc->page);
	fc->page.n_flows = n;
	fc->page.flows = fc->row_ptrs;
	fc->sent_any = true; /* an empty table still gets one empty page */
	*msg = &fc->page.base;
	return 1;
}

static void h_list_flows(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__ListFlowsRequest *req = (const void *)msg;
	struct flows_cursor *fc;
	char err[256];

	fc = calloc(1, sizeof(*fc));
	if (!fc) {
		rpc_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	fc->a = ctx;
	if (req->vni && conv_vni(req->vni, "vni", err, sizeof(err))) {
		free(fc);
		rpc_fail(call, RPC_INVALID_ARGUMENT, "%s", err);
		return;
	}
	fc->filter.vni = req->vni;
	if (req->mac && *req->mac) {
		if (!conv_utf8_valid(req->mac) || fab_parse_mac(req->mac, fc->filter.mac)) {
			free(fc);
			rpc_fail(call, RPC_INVALID_ARGUMENT, "mac: not a MAC address (aa:bb:cc:dd:ee:ff)");
			return;
		}
		fc->filter.match_mac = true;
	}
	if ((int)req->state < 0 || req->state > FABRIC__V1__ENDPOINT_STATE__ENDPOINT_STATE_FORWARDING) {
		free(fc);
		rpc_fail(call, RPC_INVALID_ARGUMENT, "state: %d is not an endpoint state", (int)req->state);
		return;
	}
	fc->filter.state = (uint8_t)req->state;
	rpc_stream_start(call, &(struct rpc_producer){.next = flows_next, .done = free, .state = fc});
}

static void h_stats(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	struct agent *a = ctx;
	struct fab_host_stats st;
	Fabric__V1__GetStatsResponse r = FABRIC__V1__GET_STATS_RESPONSE__INIT;
	Fabric__V1__CounterValue ctr[FAB_CTR__COUNT], drops[FAB_DROP__COUNT];
	Fabric__V1__CounterValue *ctrp[FAB_CTR__COUNT], *dropp[FAB_DROP__COUNT];
	static const char *const ctr_help[] = {
#define X(sym, num, name, help) [num] = help,
		FAB_COUNTERS(X)
#undef X
	};

	(void)msg;
	fabric_stats(a->cfg.fab, &st);
	for (unsigned int i = 0; i < FAB_CTR__COUNT; i++) {
		fabric__v1__counter_value__init(&ctr[i]);
		ctr[i].number = i;
		ctr[i].name = (char *)fab_counter_name(i);
		ctr[i].description = (char *)ctr_help[i];
		ctr[i].value = st.counters[i];
		ctrp[i] = &ctr[i];
	}
	/* Drop reason 0 is "not dropped": leave it out. */
	for (unsigned int i = 1; i < FAB_DROP__COUNT; i++) {
		fabric__v1__counter_value__init(&drops[i]);
		drops[i].number = i;
		drops[i].name = (char *)fab_drop_name(i);
		drops[i].description = (char *)fab_drop_help(i);
		drops[i].value = st.drops[i];
		dropp[i - 1] = &drops[i];
	}
	r.n_counters = FAB_CTR__COUNT;
	r.counters = ctrp;
	r.n_drop_reasons = FAB_DROP__COUNT - 1;
	r.drop_reasons = dropp;
	r.collected_unix_ns = agent_now_ns();
	r.counting_since_unix_ns = a->started_ns;
	rpc_reply(call, &r.base);
}

/* ---- the four migration steps ---- */

static void step(struct rpc_call *call, struct agent *a, uint32_t vni, const char *mac,
		 unsigned int which, struct fab_endpoint *arg,
		 const ProtobufCMessageDescriptor *reply)
{
	struct fab_ep_key key;
	char err[256];
	int ret;

	if (conv_key(vni, mac, "", &key, err, sizeof(err)) ||
	    conv_generation(arg->generation, "generation", err, sizeof(err))) {
		rpc_fail(call, RPC_INVALID_ARGUMENT, "%s", err);
		return;
	}
	ret = fabric_endpoint_step(a->cfg.fab, &key, which, arg);
	if (ret) {
		fail_errno(call, a, ret, &key, arg);
		return;
	}
	reply_endpoint(call, a, &key, reply, false);
}

static void h_prepare(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__PrepareIncomingRequest *req = (const void *)msg;
	struct agent *a = ctx;
	struct fab_ep_key key;
	struct fab_endpoint loc = {.state = FAB_EP_INCOMING, .generation = req->generation};
	struct fab_ep_addrs addrs;
	char err[256];
	int ret;

	if (req->vm_name && (!conv_utf8_valid(req->vm_name) || strlen(req->vm_name) > 63)) {
		rpc_fail(call, RPC_INVALID_ARGUMENT, "vm_name: at most 63 bytes of valid UTF-8");
		return;
	}
	if (conv_key(req->vni, req->mac, "", &key, err, sizeof(err)) ||
	    conv_generation(req->generation, "generation", err, sizeof(err)) ||
	    conv_port(a->cfg.fab, req->port_name, "port_name", &loc.port, err, sizeof(err)) ||
	    conv_addresses(req->ipv4_addresses, req->n_ipv4_addresses, req->ipv6_addresses,
			   req->n_ipv6_addresses, "", &addrs, err, sizeof(err))) {
		rpc_fail(call, RPC_INVALID_ARGUMENT, "%s", err);
		return;
	}
	/* Preparing is setting the INCOMING location with a newer generation. Without
	 * addresses, the endpoint keeps those the host holds. */
	if (addrs.n_ip4 == 0 && addrs.n_ip6 == 0) {
		struct fab_flow held;

		if (fabric_endpoint_get(a->cfg.fab, &key, &held) == 0)
			addrs = held.addrs;
	}
	/* With an incoming URI (or a later endpoint of a migration prepared so), the
	 * migration driver makes the VM's QEMU listen and keeps the TARGET record. */
	if (a->cfg.mig && ((req->incoming_migration_uri && *req->incoming_migration_uri) ||
			   (req->migration_id && mig_find(a->cfg.mig, req->migration_id)))) {
		struct mig_incoming in = {
			.id = req->migration_id,
			.vm_name = req->vm_name,
			.source_host = req->source_host_name,
			.uri = req->incoming_migration_uri,
			.allow_post_copy = req->allow_post_copy,
			.key = key,
			.port_name = req->port_name,
			.generation = req->generation,
		};

		if (req->source_vtep && *req->source_vtep &&
		    conv_vtep(req->source_vtep, "source_vtep", &in.source_vtep, err, sizeof(err))) {
			rpc_fail(call, RPC_INVALID_ARGUMENT, "%s", err);
			return;
		}
		ret = mig_prepare_incoming(a->cfg.mig, &in, err, sizeof(err));
		if (ret) {
			rpc_fail(call, ret == -EINVAL ? RPC_INVALID_ARGUMENT
				       : ret == -EEXIST ? RPC_ALREADY_EXISTS
				       : ret == -ENOSPC ? RPC_RESOURCE_EXHAUSTED
							: RPC_FAILED_PRECONDITION,
				 "%s", err);
			return;
		}
	}
	bool created = fabric_endpoint_slot(a->cfg.fab, &key) < 0;

	ret = fabric_endpoint_upsert(a->cfg.fab, &key, &loc, &addrs);
	if (ret) {
		fail_errno(call, a, ret, &key, &loc);
		return;
	}
	/* Without a VM name the endpoint keeps the one held (none if it is new here). */
	if (created || (req->vm_name && *req->vm_name))
		vm_name_set(a, &key, req->vm_name);
	reply_endpoint(call, a, &key, &fabric__v1__prepare_incoming_response__descriptor, false);
}

static void h_begin(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__BeginForwardingRequest *req = (const void *)msg;
	struct fab_endpoint arg = {.generation = req->generation};
	char err[256];

	if (conv_vtep(req->target_vtep, "target_vtep", &arg.vtep, err, sizeof(err))) {
		rpc_fail(call, RPC_INVALID_ARGUMENT, "%s", err);
		return;
	}
	step(call, ctx, req->vni, req->mac, FAB_STEP_BEGIN_FORWARDING, &arg,
	     &fabric__v1__begin_forwarding_response__descriptor);
}

static void h_activate(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__ActivateRequest *req = (const void *)msg;
	struct fab_endpoint arg = {.generation = req->generation};

	step(call, ctx, req->vni, req->mac, FAB_STEP_ACTIVATE, &arg,
	     &fabric__v1__activate_response__descriptor);
}

static void h_end(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__EndForwardingRequest *req = (const void *)msg;
	struct fab_endpoint arg = {.generation = req->generation};

	step(call, ctx, req->vni, req->mac, FAB_STEP_END_FORWARDING, &arg,
	     &fabric__v1__end_forwarding_response__descriptor);
}

/* ---- WatchEvents ---- */

struct watcher {
	struct agent *a;
	uint64_t next_seq;
	uint32_t vni;     /* 0: any */
	bool match_mac;
	uint8_t mac_filter[6];
	uint32_t types;   /* bit per EventType; 0: any */
	Fabric__V1__Event ev;
	union {
		Fabric__V1__ActivationEvent activation;
		Fabric__V1__HoldOverflowEvent overflow;
		Fabric__V1__StateChangeEvent change;
	} d;
	char mac[18], port[FAB_PORT_NAME_MAX], vtep[16];
	char prev_port[FAB_PORT_NAME_MAX], prev_vtep[16];
};

static int watch_next(void *state, const ProtobufCMessage **msg)
{
	struct watcher *w = state;
	struct agent *a = w->a;
	const struct logged_event *l;
	const char *port;

	for (;;) {
		uint32_t type;

		if (w->next_seq >= a->next_seq)
			return -EAGAIN;
		if (a->next_seq - w->next_seq > EVENT_LOG)
			return -ENOSPC; /* fell behind: RESOURCE_EXHAUSTED rather than a silent gap */
		l = &a->log[w->next_seq % EVENT_LOG];
		w->next_seq++;
		type = l->ev.kind == FAB_EVENT_ACTIVATED       ? FABRIC__V1__EVENT_TYPE__EVENT_TYPE_ACTIVATION
		       : l->ev.kind == FAB_EVENT_HOLD_OVERFLOW ? FABRIC__V1__EVENT_TYPE__EVENT_TYPE_HOLD_OVERFLOW
							       : FABRIC__V1__EVENT_TYPE__EVENT_TYPE_STATE_CHANGE;
		if ((w->types && !(w->types & (1u << type))) || (w->vni && l->ev.key.vni != w->vni) ||
		    (w->match_mac && memcmp(l->ev.key.mac, w->mac_filter, 6) != 0))
			continue;
		break;
	}
	fabric__v1__event__init(&w->ev);
	w->ev.sequence = l->seq;
	w->ev.time_unix_ns = l->time_ns;
	w->ev.host_name = (char *)(a->cfg.host_name ? a->cfg.host_name : "");
	fab_format_mac(l->ev.key.mac, w->mac);
	port = fabric_port_name(a->cfg.fab, l->ev.loc.port);
	snprintf(w->port, sizeof(w->port), "%s",
		 port && (l->ev.loc.state == FAB_EP_LOCAL || l->ev.loc.state == FAB_EP_INCOMING) ? port
														 : "");
	w->vtep[0] = 0;
	if (l->ev.loc.vtep)
		fab_format_ip4(l->ev.loc.vtep, w->vtep);
	switch (l->ev.kind) {
	case FAB_EVENT_ACTIVATED:
		fabric__v1__activation_event__init(&w->d.activation);
		w->d.activation.vni = l->ev.key.vni;
		w->d.activation.mac = w->mac;
		w->d.activation.port_name = w->port;
		w->d.activation.generation = l->ev.loc.generation;
		w->ev.type = FABRIC__V1__EVENT_TYPE__EVENT_TYPE_ACTIVATION;
		w->ev.detail_case = FABRIC__V1__EVENT__DETAIL_ACTIVATION;
		w->ev.activation = &w->d.activation;
		break;
	case FAB_EVENT_HOLD_OVERFLOW:
		fabric__v1__hold_overflow_event__init(&w->d.overflow);
		w->d.overflow.vni = l->ev.key.vni;
		w->d.overflow.mac = w->mac;
		w->d.overflow.port_name = w->port;
		w->d.overflow.generation = l->ev.loc.generation;
		w->d.overflow.packets_dropped = l->ev.count;
		w->ev.type = FABRIC__V1__EVENT_TYPE__EVENT_TYPE_HOLD_OVERFLOW;
		w->ev.detail_case = FABRIC__V1__EVENT__DETAIL_HOLD_OVERFLOW;
		w->ev.hold_overflow = &w->d.overflow;
		break;
	default:
		fabric__v1__state_change_event__init(&w->d.change);
		w->d.change.vni = l->ev.key.vni;
		w->d.change.mac = w->mac;
		w->d.change.state = (Fabric__V1__EndpointState)l->ev.loc.state;
		w->d.change.port_name = w->port;
		w->d.change.vtep = w->vtep;
		w->d.change.generation = l->ev.loc.generation;
		w->d.change.step = (Fabric__V1__EndpointStep)(l->ev.step + 1);
		w->d.change.previous_state = (Fabric__V1__EndpointState)l->ev.prev.state;
		w->d.change.previous_generation = l->ev.prev.generation;
		w->prev_vtep[0] = 0;
		if (l->ev.prev.vtep)
			fab_format_ip4(l->ev.prev.vtep, w->prev_vtep);
		w->d.change.previous_vtep = w->prev_vtep;
		port = fabric_port_name(a->cfg.fab, l->ev.prev.port);
		snprintf(w->prev_port, sizeof(w->prev_port), "%s",
			 port && (l->ev.prev.state == FAB_EP_LOCAL || l->ev.prev.state == FAB_EP_INCOMING)
				 ? port
				 : "");
		w->d.change.previous_port_name = w->prev_port;
		w->ev.type = FABRIC__V1__EVENT_TYPE__EVENT_TYPE_STATE_CHANGE;
		w->ev.detail_case = FABRIC__V1__EVENT__DETAIL_STATE_CHANGE;
		w->ev.state_change = &w->d.change;
		break;
	}
	*msg = &w->ev.base;
	return 1;
}

static void h_watch(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__WatchEventsRequest *req = (const void *)msg;
	struct agent *a = ctx;
	struct watcher *w = calloc(1, sizeof(*w));
	char err[256];

	if (!w) {
		rpc_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	if ((req->vni && conv_vni(req->vni, "vni", err, sizeof(err))) ||
	    (req->mac && *req->mac && conv_mac(req->mac, "mac", w->mac_filter, err, sizeof(err)))) {
		free(w);
		rpc_fail(call, RPC_INVALID_ARGUMENT, "%s", err);
		return;
	}
	for (size_t i = 0; i < req->n_types; i++) {
		if ((int)req->types[i] < FABRIC__V1__EVENT_TYPE__EVENT_TYPE_ACTIVATION ||
		    req->types[i] > FABRIC__V1__EVENT_TYPE__EVENT_TYPE_CONVERGENCE) {
			free(w);
			rpc_fail(call, RPC_INVALID_ARGUMENT, "types[%zu]: %d is not an event type", i,
				 (int)req->types[i]);
			return;
		}
		w->types |= 1u << req->types[i];
	}
	w->vni = req->vni;
	w->match_mac = req->mac && *req->mac;
	w->a = a;
	w->next_seq = a->next_seq; /* events from now on */
	rpc_stream_start(call, &(struct rpc_producer){.next = watch_next, .done = free, .state = w});
}

static void h_health(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	struct agent *a = ctx;
	Fabric__V1__HealthResponse r = FABRIC__V1__HEALTH_RESPONSE__INIT;
	char vtep[16];

	(void)msg;
	fab_format_ip4(a->cfg.vtep, vtep);
	r.status = FABRIC__V1__HEALTH_STATUS__HEALTH_STATUS_SERVING;
	r.service = "fabricd";
	r.version = "0.1.0";
	r.host_name = (char *)(a->cfg.host_name ? a->cfg.host_name : "");
	r.vtep = vtep;
	r.datapath = (char *)(a->cfg.datapath ? a->cfg.datapath : "");
	r.store = "";
	r.started_unix_ns = a->started_ns;
	r.now_unix_ns = agent_now_ns();
	rpc_reply(call, &r.base);
}

#define PATH(m) "/fabric.v1.Agent/" m
#define DESC(t) &fabric__v1__##t##__descriptor

static const struct rpc_method methods[] = {
	{PATH("UpsertEndpoint"), RPC_KIND_UNARY, DESC(upsert_endpoint_request), true, h_upsert},
	{PATH("DeleteEndpoint"), RPC_KIND_UNARY, DESC(delete_endpoint_request), true, h_delete},
	{PATH("UpsertEndpoints"), RPC_KIND_CLIENT_STREAM, DESC(upsert_endpoints_request), true,
	 NULL, agent_h_batch_message, agent_h_batch_end, agent_batch_new, agent_batch_free},
	{PATH("ListFlows"), RPC_KIND_SERVER_STREAM, DESC(list_flows_request), false, h_list_flows},
	{PATH("GetStats"), RPC_KIND_UNARY, DESC(get_stats_request), false, h_stats},
	{PATH("PrepareIncoming"), RPC_KIND_UNARY, DESC(prepare_incoming_request), true, h_prepare},
	{PATH("BeginForwarding"), RPC_KIND_UNARY, DESC(begin_forwarding_request), true, h_begin},
	{PATH("Activate"), RPC_KIND_UNARY, DESC(activate_request), true, h_activate},
	{PATH("EndForwarding"), RPC_KIND_UNARY, DESC(end_forwarding_request), true, h_end},
	{PATH("StartMigration"), RPC_KIND_UNARY, DESC(start_migration_request), true,
	 agent_h_start_migration},
	{PATH("GetMigration"), RPC_KIND_UNARY, DESC(get_migration_request), false,
	 agent_h_get_migration},
	{PATH("ListMigrations"), RPC_KIND_UNARY, DESC(list_migrations_request), false,
	 agent_h_list_migrations},
	{PATH("CancelMigration"), RPC_KIND_UNARY, DESC(cancel_migration_request), true,
	 agent_h_cancel_migration},
	{PATH("WatchEvents"), RPC_KIND_SERVER_STREAM, DESC(watch_events_request), false, h_watch},
	{PATH("Health"), RPC_KIND_UNARY, DESC(health_request), false, h_health},
};

const struct rpc_method *agent_methods(size_t *n)
{
	*n = sizeof(methods) / sizeof(methods[0]);
	return methods;
}
