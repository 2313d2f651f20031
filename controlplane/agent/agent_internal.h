/* SPDX-License-Identifier: Apache-2.0 */
/* The Agent service's state, shared by its files (agent.c, agent_batch.c,
 * agent_migrate.c). */
#ifndef VMF_AGENT_INTERNAL_H
#define VMF_AGENT_INTERNAL_H

#include "agent.h"

#define FLOWS_PER_PAGE 1024
#define EVENT_LOG 4096
#define BATCH_MAX (1u << 24)

struct logged_event {
	uint64_t seq;
	uint64_t time_ns;
	struct fab_event ev;
};

struct agent {
	struct agent_config cfg;
	uint64_t started_ns;
	char **vm_names; /* by endpoint slot: the VM an endpoint belongs to, or NULL */
	uint32_t n_slots;
	uint32_t n_names; /* how many are set */
	struct logged_event log[EVENT_LOG];
	uint64_t next_seq; /* sequence of the next event; the log holds the last EVENT_LOG */
};

/* The VM an endpoint slot belongs to, or NULL. */
const char *vm_name_of(const struct agent *a, uint32_t slot);
/* Records the VM name of the endpoint in `slot` (an empty name clears it). */
void agent_vm_name_set_slot(struct agent *a, uint32_t slot, const char *name);
/* Wall-clock time, ns since the epoch. */
uint64_t agent_now_ns(void);

/* UpsertEndpoints, a client stream (agent_batch.c): a batch per call, checked and applied
 * at its end. */
void *agent_batch_new(void *ctx);
void agent_batch_free(void *state);
int agent_h_batch_message(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx);
void agent_h_batch_end(struct rpc_call *call, void *ctx);

/* The migration RPCs (agent_migrate.c). */
void agent_h_start_migration(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx);
void agent_h_get_migration(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx);
void agent_h_list_migrations(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx);
void agent_h_cancel_migration(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx);

#endif
