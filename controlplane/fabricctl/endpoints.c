/* SPDX-License-Identifier: Apache-2.0 */
/* fabricctl endpoints: add, delete and list endpoints, and the four migration steps. */
#include <stdlib.h>
#include <string.h>

#include "fabric/v1/agent.pb-c.h"
#include "fabricctl.h"

int parse_state_name(const char *s);

/* The options every endpoints subcommand may take. */
struct ep_args {
	uint32_t vni;
	const char *mac;
	int state;
	const char *port;
	const char *vtep;
	uint64_t gen;
	char *ip4[8], *ip6[8];
	size_t n4, n6;
	const char *vm; /* the VM the endpoint belongs to (add) */
};

static int parse_args(const char *sub, int argc, char **argv, struct ep_args *a, bool *json)
{
	memset(a, 0, sizeof(*a));
	for (int i = 0; i < argc; i++) {
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		char *end;

		if (opt_is(argv[i], "json")) {
			*json = true;
			continue;
		}
		if (!v)
			return ctl_usage_error("endpoints %s: '%s' needs a value or is unknown "
					       "(fabricctl endpoints --help)",
					       sub, argv[i]);
		if (opt_is(argv[i], "vni")) {
			unsigned long n = strtoul(v, &end, 10);

			if (*end || n < 1 || n > 16777215)
				return ctl_usage_error("endpoints %s --vni '%s': a VNI is 1..16777215", sub, v);
			a->vni = (uint32_t)n;
		} else if (opt_is(argv[i], "mac")) {
			a->mac = v;
		} else if (opt_is(argv[i], "state")) {
			a->state = parse_state_name(v);
			if (a->state < 0)
				return ctl_usage_error("endpoints %s --state '%s': local, remote, incoming "
						       "or forwarding",
						       sub, v);
		} else if (opt_is(argv[i], "port")) {
			a->port = v;
		} else if (opt_is(argv[i], "vm")) {
			a->vm = v;
		} else if (opt_is(argv[i], "vtep") || opt_is(argv[i], "to")) {
			a->vtep = v;
		} else if (opt_is(argv[i], "gen")) {
			a->gen = strtoull(v, &end, 10);
			if (*end || !*v || a->gen == 0)
				return ctl_usage_error("endpoints %s --gen '%s': a generation is 1 or more",
						       sub, v);
		} else if (opt_is(argv[i], "ip")) {
			if (strchr(v, ':')) {
				if (a->n6 == 8)
					return ctl_usage_error("endpoints %s: too many --ip", sub);
				a->ip6[a->n6++] = (char *)v;
			} else {
				if (a->n4 == 8)
					return ctl_usage_error("endpoints %s: too many --ip", sub);
				a->ip4[a->n4++] = (char *)v;
			}
		} else {
			return ctl_usage_error("endpoints %s: unknown option '%s' (fabricctl endpoints "
					       "--help)",
					       sub, argv[i]);
		}
		i++;
	}
	return 0;
}

static int need(const char *sub, bool ok, const char *what)
{
	return ok ? 0 : ctl_usage_error("endpoints %s needs %s", sub, what);
}

static void print_endpoint(const Fabric__V1__Endpoint *ep, bool json)
{
	static const char *const states[] = {"?", "local", "remote", "incoming", "forwarding"};
	const char *state = ep && ep->state <= 4 ? states[ep->state] : "?";

	if (!ep)
		return;
	if (json) {
		printf("{\"vni\": %u, \"mac\": ", ep->vni);
		json_string(stdout, ep->mac);
		printf(", \"state\": \"%s\", \"port\": ", state);
		json_string(stdout, ep->port_name);
		fputs(", \"vtep\": ", stdout);
		json_string(stdout, ep->vtep);
		printf(", \"generation\": %llu}\n", (unsigned long long)ep->generation);
		return;
	}
	printf("vni %u mac %s: %s %s%s (generation %llu)\n", ep->vni, ep->mac, state,
	       ep->port_name && *ep->port_name ? "port " : "host ",
	       ep->port_name && *ep->port_name ? ep->port_name : ep->vtep,
	       (unsigned long long)ep->generation);
}

/* Calls a unary method whose answer carries the endpoint in field 1, and prints it. */
static int call_and_print(struct ctl *ctl, const char *sub, const char *method,
			  const ProtobufCMessage *req, const ProtobufCMessageDescriptor *desc)
{
	ProtobufCMessage *resp;
	struct rpc_result res;
	char path[96];
	int ret = ctl_connect(ctl);

	if (ret)
		return ret;
	snprintf(path, sizeof(path), "/fabric.v1.Agent/%s", method);
	if (rpc_client_unary(ctl->client, path, req, desc, &resp, ctl->timeout_ms, &res)) {
		char what[64];

		snprintf(what, sizeof(what), "endpoints %s", sub);
		return ctl_fail(what, &res);
	}
	/* All these answers are { Endpoint endpoint = 1; ... }: same layout up front. */
	print_endpoint(((Fabric__V1__UpsertEndpointResponse *)resp)->endpoint, ctl->json);
	protobuf_c_message_free_unpacked(resp, NULL);
	return EXIT_OK;
}

int cmd_endpoints(struct ctl *ctl, int argc, char **argv)
{
	const char *sub = argc > 0 ? argv[0] : "";
	struct ep_args a;
	int ret;

	if (argc == 0)
		return ctl_usage_error("endpoints needs a subcommand: add, del, list, prepare, "
				       "forward, activate or end-forward");
	ret = parse_args(sub, argc - 1, argv + 1, &a, &ctl->json);
	if (ret)
		return ret;
	if (strcmp(sub, "list") == 0) {
		char *args[8];
		int n = 0;
		char vni[16];

		if (ctl->json)
			args[n++] = "--json";
		if (a.vni) {
			snprintf(vni, sizeof(vni), "%u", a.vni);
			args[n++] = "--vni";
			args[n++] = vni;
		}
		if (a.mac) {
			args[n++] = "--mac";
			args[n++] = (char *)a.mac;
		}
		return cmd_flows(ctl, n, args);
	}
	if ((ret = need(sub, a.vni && a.mac, "--vni and --mac")) || (ret = need(sub, a.gen, "--gen")))
		return ret;
	if (strcmp(sub, "add") == 0) {
		Fabric__V1__Endpoint ep = FABRIC__V1__ENDPOINT__INIT;
		Fabric__V1__UpsertEndpointRequest req = FABRIC__V1__UPSERT_ENDPOINT_REQUEST__INIT;

		if ((ret = need(sub, a.state > 0, "--state")) ||
		    (ret = need(sub, (a.state == 1 || a.state == 3) ? a.port != NULL : a.vtep != NULL,
				"--port for local/incoming, --vtep for remote/forwarding")))
			return ret;
		ep.vni = a.vni;
		ep.mac = (char *)a.mac;
		ep.state = (Fabric__V1__EndpointState)a.state;
		ep.port_name = (char *)(a.port ? a.port : "");
		ep.vtep = (char *)(a.vtep ? a.vtep : "");
		ep.generation = a.gen;
		ep.vm_name = (char *)(a.vm ? a.vm : "");
		ep.n_ipv4_addresses = a.n4;
		ep.ipv4_addresses = a.ip4;
		ep.n_ipv6_addresses = a.n6;
		ep.ipv6_addresses = a.ip6;
		req.endpoint = &ep;
		return call_and_print(ctl, sub, "UpsertEndpoint", &req.base,
				      &fabric__v1__upsert_endpoint_response__descriptor);
	}
	if (strcmp(sub, "del") == 0) {
		Fabric__V1__DeleteEndpointRequest req = FABRIC__V1__DELETE_ENDPOINT_REQUEST__INIT;

		req.vni = a.vni;
		req.mac = (char *)a.mac;
		req.generation = a.gen;
		return call_and_print(ctl, sub, "DeleteEndpoint", &req.base,
				      &fabric__v1__delete_endpoint_response__descriptor);
	}
	if (strcmp(sub, "prepare") == 0) {
		Fabric__V1__PrepareIncomingRequest req = FABRIC__V1__PREPARE_INCOMING_REQUEST__INIT;

		if ((ret = need(sub, a.port != NULL, "--port (the VM's port on this host)")))
			return ret;
		req.vni = a.vni;
		req.mac = (char *)a.mac;
		req.generation = a.gen;
		req.port_name = (char *)a.port;
		req.n_ipv4_addresses = a.n4;
		req.ipv4_addresses = a.ip4;
		req.n_ipv6_addresses = a.n6;
		req.ipv6_addresses = a.ip6;
		return call_and_print(ctl, sub, "PrepareIncoming", &req.base,
				      &fabric__v1__prepare_incoming_response__descriptor);
	}
	if (strcmp(sub, "forward") == 0) {
		Fabric__V1__BeginForwardingRequest req = FABRIC__V1__BEGIN_FORWARDING_REQUEST__INIT;

		if ((ret = need(sub, a.vtep != NULL, "--to VTEP (the migration target)")))
			return ret;
		req.vni = a.vni;
		req.mac = (char *)a.mac;
		req.generation = a.gen;
		req.target_vtep = (char *)a.vtep;
		return call_and_print(ctl, sub, "BeginForwarding", &req.base,
				      &fabric__v1__begin_forwarding_response__descriptor);
	}
	if (strcmp(sub, "activate") == 0) {
		Fabric__V1__ActivateRequest req = FABRIC__V1__ACTIVATE_REQUEST__INIT;

		req.vni = a.vni;
		req.mac = (char *)a.mac;
		req.generation = a.gen;
		return call_and_print(ctl, sub, "Activate", &req.base,
				      &fabric__v1__activate_response__descriptor);
	}
	if (strcmp(sub, "end-forward") == 0) {
		Fabric__V1__EndForwardingRequest req = FABRIC__V1__END_FORWARDING_REQUEST__INIT;

		req.vni = a.vni;
		req.mac = (char *)a.mac;
		req.generation = a.gen;
		return call_and_print(ctl, sub, "EndForwarding", &req.base,
				      &fabric__v1__end_forwarding_response__descriptor);
	}
	return ctl_usage_error("endpoints: no subcommand '%s' (add, del, list, prepare, forward, "
			       "activate, end-forward)",
			       sub);
}
