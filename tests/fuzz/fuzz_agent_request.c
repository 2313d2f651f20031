/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the agent's request decoding and validation: the first byte
 * picks a request type, the rest is its wire encoding. Decoding (protobuf-c plus our
 * wire check), the field-by-field conversion with its error messages, and the fabric's
 * checks and updates (over the dummy backend) must never crash, leak or misbehave; an
 * accepted endpoint must be readable back as accepted.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_convert.h"
#include "dummy_backend.h"
#include "fabric.h"
#include "fabric/v1/agent.pb-c.h"
#include "fabric/v1/events.pb-c.h"
#include "rpc_wire.h"

static struct fabric *fab;
static struct dummy_backend be;

static void fuzz_fail(const char *why)
{
	fprintf(stderr, "fuzz_agent_request: %s\n", why);
	abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct fabric_config cfg = {.local_vtep = 0xc0000201, .max_endpoints = 48};

	(void)argc;
	(void)argv;
	if (fabric_create(&fab, &cfg, &dummy_backend_ops, &be) ||
	    fabric_port_add(fab, 1, "vm1", 100) || fabric_port_add(fab, 2, "vm2", 200))
		fuzz_fail("cannot set up the fabric");
	return 0;
}

static void upsert(const Fabric__V1__Endpoint *ep)
{
	struct fab_ep_key key;
	struct fab_endpoint loc;
	struct fab_ep_addrs addrs;
	struct fab_flow flow;
	char err[256];
	bool is_new;
	int checked, applied;

	if (conv_endpoint(fab, ep, "endpoint.", &key, &loc, &addrs, err, sizeof(err))) {
		if (!err[0])
			fuzz_fail("a refusal without a message");
		return;
	}
	checked = fabric_endpoint_check(fab, &key, &loc, &addrs, &is_new);
	applied = fabric_endpoint_upsert(fab, &key, &loc, &addrs);
	/* The dry run and the real thing agree. */
	if ((checked == 0) != (applied == 0) && applied != -ENOSPC) {
		fprintf(stderr, "check %d, upsert %d\n", checked, applied);
		fuzz_fail("the dry run and the upsert disagree");
	}
	if (applied == 0 && (fabric_endpoint_get(fab, &key, &flow) || flow.loc.state != loc.state ||
			     flow.loc.generation != loc.generation))
		fuzz_fail("an accepted endpoint does not read back");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const ProtobufCMessageDescriptor *const types[] = {
		&fabric__v1__upsert_endpoint_request__descriptor,
		&fabric__v1__upsert_endpoints_request__descriptor,
		&fabric__v1__delete_endpoint_request__descriptor,
		&fabric__v1__prepare_incoming_request__descriptor,
		&fabric__v1__begin_forwarding_request__descriptor,
		&fabric__v1__list_flows_request__descriptor,
		&fabric__v1__watch_events_request__descriptor,
	};
	const ProtobufCMessageDescriptor *desc;
	ProtobufCMessage *msg;
	char path[256];

	if (size < 1)
		return -1;
	desc = types[data[0] % (sizeof(types) / sizeof(types[0]))];
	msg = protobuf_c_message_unpack(desc, NULL, size - 1, data + 1);
	if (!msg)
		return 0;
	if (!rpc_wire_strings_clean(data + 1, size - 1, desc, path, sizeof(path))) {
		protobuf_c_message_free_unpacked(msg, NULL);
		return 0;
	}
	if (desc == &fabric__v1__upsert_endpoint_request__descriptor) {
		upsert(((Fabric__V1__UpsertEndpointRequest *)msg)->endpoint);
	} else if (desc == &fabric__v1__upsert_endpoints_request__descriptor) {
		const Fabric__V1__UpsertEndpointsRequest *r = (const void *)msg;

		for (size_t i = 0; i < r->n_endpoints && i < 64; i++)
			upsert(r->endpoints[i]);
	} else if (desc == &fabric__v1__delete_endpoint_request__descriptor) {
		const Fabric__V1__DeleteEndpointRequest *r = (const void *)msg;
		struct fab_ep_key key;
		struct fab_endpoint arg = {.generation = r->generation};
		char err[256];

		if (conv_key(r->vni, r->mac, "", &key, err, sizeof(err)) == 0)
			fabric_endpoint_step(fab, &key, FAB_STEP_DELETE, &arg);
	} else if (desc == &fabric__v1__prepare_incoming_request__descriptor) {
		const Fabric__V1__PrepareIncomingRequest *r = (const void *)msg;
		struct fab_ep_key key;
		struct fab_endpoint loc = {.state = FAB_EP_INCOMING, .generation = r->generation};
		struct fab_ep_addrs addrs;
		char err[256];

		if (conv_key(r->vni, r->mac, "", &key, err, sizeof(err)) == 0 &&
		    conv_port(fab, r->port_name, "port_name", &loc.port, err, sizeof(err)) == 0 &&
		    conv_addresses(r->ipv4_addresses, r->n_ipv4_addresses, r->ipv6_addresses,
				   r->n_ipv6_addresses, "", &addrs, err, sizeof(err)) == 0 &&
		    loc.generation)
			fabric_endpoint_upsert(fab, &key, &loc, &addrs);
	} else if (desc == &fabric__v1__begin_forwarding_request__descriptor) {
		const Fabric__V1__BeginForwardingRequest *r = (const void *)msg;
		struct fab_ep_key key;
		struct fab_endpoint arg = {.generation = r->generation};
		char err[256];

		if (conv_key(r->vni, r->mac, "", &key, err, sizeof(err)) == 0 &&
		    conv_vtep(r->target_vtep, "target_vtep", &arg.vtep, err, sizeof(err)) == 0)
			fabric_endpoint_step(fab, &key, FAB_STEP_BEGIN_FORWARDING, &arg);
	} else {
		/* Filters: only their checks. */
		uint8_t mac[6];
		char err[256];
		const Fabric__V1__ListFlowsRequest *r = (const void *)msg;

		if (desc == &fabric__v1__list_flows_request__descriptor && r->mac && *r->mac)
			conv_mac(r->mac, "mac", mac, err, sizeof(err));
	}
	fabric_poll(fab, NULL, NULL);
	protobuf_c_message_free_unpacked(msg, NULL);
	return 0;
}
