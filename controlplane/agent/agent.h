/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The per-host Agent service (fabric.v1.Agent): each RPC is a thin translator between
 * protobuf messages and the fabric's control API (dataplane/fabric.h). Requests are
 * checked field by field; a bad one is refused with INVALID_ARGUMENT and a message that
 * names the field.
 */
#ifndef VMF_AGENT_H
#define VMF_AGENT_H

#include "fabric.h"
#include "rpc.h"

struct agent;
struct mig_driver;

struct agent_config {
	struct fabric *fab;
	const char *host_name;
	const char *datapath; /* "dpdk", "xdp" */
	uint32_t vtep;
	struct mig_driver *mig; /* the migration driver; NULL: migration RPCs UNIMPLEMENTED */
};

int agent_create(struct agent **out, const struct agent_config *cfg);
void agent_destroy(struct agent *a);
/* The service's methods, for rpc_server_start (with the agent as ctx). */
const struct rpc_method *agent_methods(size_t *n);
/* Records a fabric event for WatchEvents (call rpc_server_wake afterwards). */
void agent_record_event(struct agent *a, const struct fab_event *ev);


/*
 * The migration driver's way to other hosts (struct mig_target_ops of driver.h): each
 * call goes to the target's Agent service, over gRPC with mutual TLS for a TCP address
 * (`tls`, fabricd's own certificate) or over a unix socket. The target's certificate must
 * name its host (target_host_name). Endpoint addresses are read from `fab`.
 */
struct agent_peers;
int agent_peers_create(struct agent_peers **out, struct fabric *fab, const struct rpc_tls *tls);
void agent_peers_destroy(struct agent_peers *p);
extern const struct mig_target_ops agent_peer_ops;

#endif
