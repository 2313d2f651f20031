/* SPDX-License-Identifier: Apache-2.0 */
/* fabricctl stats, watch and health. */
#include <stdlib.h>
#include <string.h>

#include "fabric/v1/agent.pb-c.h"
#include "fabric/v1/events.pb-c.h"
#include "fabricctl.h"

static int only_json(const char *cmd, int argc, char **argv, struct ctl *ctl, bool *all)
{
	for (int i = 0; i < argc; i++) {
		if (opt_is(argv[i], "json"))
			ctl->json = true;
		else if (all && opt_is(argv[i], "all"))
			*all = true;
		else
			return ctl_usage_error("%s: unexpected '%s' (fabricctl %s --help)", cmd, argv[i], cmd);
	}
	return ctl_connect(ctl);
}

int cmd_stats(struct ctl *ctl, int argc, char **argv)
{
	Fabric__V1__GetStatsRequest req = FABRIC__V1__GET_STATS_REQUEST__INIT;
	Fabric__V1__GetStatsResponse *r;
	struct rpc_result res;
	bool all = false;
	int ret = only_json("stats", argc, argv, ctl, &all);

	if (ret)
		return ret;
	if (rpc_client_unary(ctl->client, "/fabric.v1.Agent/GetStats", &req.base,
			     &fabric__v1__get_stats_response__descriptor, (ProtobufCMessage **)&r,
			     ctl->timeout_ms, &res))
		return ctl_fail("stats", &res);
	if (ctl->json) {
		printf("{\"counters\": {");
		for (size_t i = 0; i < r->n_counters; i++) {
			printf("%s", i ? ", " : "");
			json_string(stdout, r->counters[i]->name);
			printf(": %llu", (unsigned long long)r->counters[i]->value);
		}
		printf("}, \"drops\": {");
		for (size_t i = 0; i < r->n_drop_reasons; i++) {
			printf("%s", i ? ", " : "");
			json_string(stdout, r->drop_reasons[i]->name);
			printf(": %llu", (unsigned long long)r->drop_reasons[i]->value);
		}
		printf("}}\n");
	} else {
		printf("%-24s %14s\n", "COUNTER", "VALUE");
		for (size_t i = 0; i < r->n_counters; i++)
			printf("%-24s %14llu\n", r->counters[i]->name,
			       (unsigned long long)r->counters[i]->value);
		printf("\n%-24s %14s  %s\n", "DROP REASON", "FRAMES", "MEANING");
		for (size_t i = 0; i < r->n_drop_reasons; i++)
			if (all || r->drop_reasons[i]->value)
				printf("%-24s %14llu  %s\n", r->drop_reasons[i]->name,
				       (unsigned long long)r->drop_reasons[i]->value,
				       r->drop_reasons[i]->description);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return EXIT_OK;
}

int cmd_health(struct ctl *ctl, int argc, char **argv)
{
	Fabric__V1__HealthRequest req = FABRIC__V1__HEALTH_REQUEST__INIT;
	Fabric__V1__HealthResponse *r;
	struct rpc_result res;
	int ret = only_json("health", argc, argv, ctl, NULL);

	if (ret)
		return ret;
	if (rpc_client_unary(ctl->client, "/fabric.v1.Agent/Health", &req.base,
			     &fabric__v1__health_response__descriptor, (ProtobufCMessage **)&r,
			     ctl->timeout_ms, &res))
		return ctl_fail("health", &res);
	if (ctl->json) {
		printf("{\"serving\": %s, \"host\": ",
		       r->status == FABRIC__V1__HEALTH_STATUS__HEALTH_STATUS_SERVING ? "true" : "false");
		json_string(stdout, r->host_name);
		printf(", \"vtep\": ");
		json_string(stdout, r->vtep);
		printf(", \"datapath\": ");
		json_string(stdout, r->datapath);
		printf(", \"version\": ");
		json_string(stdout, r->version);
		printf("}\n");
	} else {
		printf("%s: %s, vtep %s, datapath %s, version %s\n", r->host_name,
		       r->status == FABRIC__V1__HEALTH_STATUS__HEALTH_STATUS_SERVING ? "serving"
										 : "not serving",
		       r->vtep, r->datapath, r->version);
	}
	protobuf_c_message_free_unpacked(&r->base, NULL);
	return EXIT_OK;
}

int cmd_watch(struct ctl *ctl, int argc, char **argv)
{
	Fabric__V1__WatchEventsRequest req = FABRIC__V1__WATCH_EVENTS_REQUEST__INIT;
	struct rpc_stream *st;
	struct rpc_result res;
	ProtobufCMessage *msg;
	int r, ret = only_json("watch", argc, argv, ctl, NULL);

	if (ret)
		return ret;
	/* Runs until the agent ends the stream or the operator interrupts (Ctrl-C ends the
	 * process: nothing is left to tidy). */
	if (rpc_client_stream_open(ctl->client, "/fabric.v1.Agent/WatchEvents", &req.base, 0, &st, &res))
		return ctl_fail("watch", &res);
	while ((r = rpc_client_stream_next(st, &fabric__v1__event__descriptor, &msg, &res)) == 1) {
		const Fabric__V1__Event *ev = (const void *)msg;

		if (ev->detail_case == FABRIC__V1__EVENT__DETAIL_ACTIVATION) {
			const Fabric__V1__ActivationEvent *a = ev->activation;

			if (ctl->json)
				printf("{\"seq\": %llu, \"type\": \"activation\", \"vni\": %u, \"mac\": \"%s\", "
				       "\"port\": \"%s\", \"generation\": %llu}\n",
				       (unsigned long long)ev->sequence, a->vni, a->mac, a->port_name,
				       (unsigned long long)a->generation);
			else
				printf("#%llu activation: vni %u mac %s on port %s (generation %llu)\n",
				       (unsigned long long)ev->sequence, a->vni, a->mac, a->port_name,
				       (unsigned long long)a->generation);
		} else if (ev->detail_case == FABRIC__V1__EVENT__DETAIL_HOLD_OVERFLOW) {
			const Fabric__V1__HoldOverflowEvent *o = ev->hold_overflow;

			if (ctl->json)
				printf("{\"seq\": %llu, \"type\": \"hold_overflow\", \"vni\": %u, \"mac\": "
				       "\"%s\", \"port\": \"%s\"}\n",
				       (unsigned long long)ev->sequence, o->vni, o->mac, o->port_name);
			else
				printf("#%llu hold overflow: vni %u mac %s on port %s: frames dropped\n",
				       (unsigned long long)ev->sequence, o->vni, o->mac, o->port_name);
		} else if (ctl->json) {
			printf("{\"seq\": %llu, \"type\": %d}\n", (unsigned long long)ev->sequence, ev->type);
		} else {
			printf("#%llu event type %d\n", (unsigned long long)ev->sequence, ev->type);
		}
		fflush(stdout);
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	rpc_client_stream_close(st);
	if (r < 0)
		return ctl_fail("watch", &res);
	return EXIT_OK;
}
