/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The Agent service's migration RPCs (StartMigration, GetMigration, ListMigrations,
 * CancelMigration), thin translators over the migration driver (driver.h), and the
 * driver's way to the target host: the target's Agent service over gRPC with mutual TLS
 * (struct mig_target_ops).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent_convert.h"
#include "agent_internal.h"
#include "driver.h"
#include "fabric/v1/agent.pb-c.h"
#include "fabric/v1/migration.pb-c.h"

/* ---- records into messages ---- */

/* One Migration message and everything it points to. */
struct mig_msg {
	Fabric__V1__Migration m;
	Fabric__V1__MigrationEndpoint eps[MIG_MAX_ENDPOINTS];
	Fabric__V1__MigrationEndpoint *epp[MIG_MAX_ENDPOINTS];
	char macs[MIG_MAX_ENDPOINTS][18];
	Fabric__V1__MigrationOptions opt;
	Fabric__V1__MigrationPhaseSpan spans[MIG_MAX_SPANS];
	Fabric__V1__MigrationPhaseSpan *spanp[MIG_MAX_SPANS];
	Fabric__V1__QemuMigrationStats qemu;
	Fabric__V1__MigrationPacketStats packets;
	char svtep[16], tvtep[16];
};

static void mig_to_msg(const struct mig_record *r, struct mig_msg *o)
{
	Fabric__V1__Migration *m = &o->m;

	fabric__v1__migration__init(m);
	m->migration_id = (char *)r->id;
	m->role = (Fabric__V1__MigrationRole)r->role;
	m->vm_name = (char *)r->vm_name;
	for (unsigned int i = 0; i < r->n_eps; i++) {
		fabric__v1__migration_endpoint__init(&o->eps[i]);
		o->eps[i].vni = r->eps[i].key.vni;
		fab_format_mac(r->eps[i].key.mac, o->macs[i]);
		o->eps[i].mac = o->macs[i];
		o->eps[i].source_port_name = (char *)r->eps[i].source_port;
		o->eps[i].target_port_name = (char *)r->eps[i].target_port;
		o->epp[i] = &o->eps[i];
	}
	m->n_endpoints = r->n_eps;
	m->endpoints = o->epp;
	m->source_host_name = (char *)r->source_host;
	o->svtep[0] = o->tvtep[0] = 0;
	if (r->source_vtep)
		fab_format_ip4(r->source_vtep, o->svtep);
	if (r->target_vtep)
		fab_format_ip4(r->target_vtep, o->tvtep);
	m->source_vtep = o->svtep;
	m->target_host_name = (char *)r->target_host;
	m->target_vtep = o->tvtep;
	m->target_migration_uri = r->role == MIG_ROLE_SOURCE ? (char *)r->uri : "";
	fabric__v1__migration_options__init(&o->opt);
	o->opt.downtime_limit_ms = r->opt.downtime_limit_ms;
	o->opt.max_bandwidth_bytes_per_second = r->opt.max_bandwidth;
	o->opt.auto_converge = r->opt.auto_converge;
	o->opt.allow_post_copy = r->opt.allow_post_copy;
	o->opt.switchover_timeout_ms = r->opt.switchover_timeout_ms;
	o->opt.drain_ms = r->opt.drain_ms;
	m->options = &o->opt;
	m->generation = r->generation;
	m->phase = (Fabric__V1__MigrationPhase)r->phase;
	m->failed_phase = (Fabric__V1__MigrationPhase)r->failed_phase;
	m->failure_reason = (char *)r->failure_reason;
	m->requested_unix_ns = r->requested_ns;
	m->finished_unix_ns = r->finished_ns;
	for (unsigned int i = 0; i < r->n_spans; i++) {
		fabric__v1__migration_phase_span__init(&o->spans[i]);
		o->spans[i].phase = (Fabric__V1__MigrationPhase)r->timeline[i].phase;
		o->spans[i].start_unix_ns = r->timeline[i].start_ns;
		o->spans[i].end_unix_ns = r->timeline[i].end_ns;
		o->spanp[i] = &o->spans[i];
	}
	m->n_timeline = r->n_spans;
	m->timeline = o->spanp;
	m->activation_trigger = (Fabric__V1__ActivationTrigger)r->activation_trigger;
	m->activated_unix_ns = r->activated_ns;
	m->source_brownout_ns = r->source_brownout_ns;
	m->blackout_ns = r->blackout_ns;
	m->target_brownout_ns = r->target_brownout_ns;
	if (r->role == MIG_ROLE_SOURCE) {
		fabric__v1__qemu_migration_stats__init(&o->qemu);
		o->qemu.total_time_ms = r->qemu.total_time_ms;
		o->qemu.downtime_ms = r->qemu.downtime_ms;
		o->qemu.setup_time_ms = r->qemu.setup_time_ms;
		o->qemu.bytes_transferred = r->qemu.bytes_transferred;
		o->qemu.bytes_remaining = r->qemu.bytes_remaining;
		o->qemu.bytes_total = r->qemu.bytes_total;
		o->qemu.passes = r->qemu.passes;
		o->qemu.dirty_rate_bytes_per_second = r->qemu.dirty_rate;
		o->qemu.throughput_bytes_per_second = r->qemu.throughput;
		o->qemu.expected_downtime_ms = r->qemu.expected_downtime_ms;
		o->qemu.cpu_throttle_percent = r->qemu.cpu_throttle_percent;
		o->qemu.post_copy = r->qemu.post_copy;
		o->qemu.postcopy_requests = r->qemu.postcopy_requests;
		m->qemu = &o->qemu;
	}
	fabric__v1__migration_packet_stats__init(&o->packets);
	o->packets.packets_forwarded = r->packets.forwarded;
	o->packets.packets_held = r->packets.held;
	o->packets.packets_released = r->packets.released;
	o->packets.packets_dropped = r->packets.dropped;
	o->packets.hold_queue_peak_packets = r->packets.hold_peak;
	m->packets = &o->packets;
}

/* Answers with a response whose one field, *field, is the migration `rec`
 * (StartMigration, GetMigration and CancelMigration answer so). */
static void reply_migration(struct rpc_call *call, const struct mig_record *rec,
			    ProtobufCMessage *resp, Fabric__V1__Migration **field)
{
	struct mig_msg *out = rec ? malloc(sizeof(*out)) : NULL;

	if (!out) {
		rpc_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	mig_to_msg(rec, out);
	*field = &out->m;
	rpc_reply(call, resp);
	free(out);
}

static bool no_driver(struct rpc_call *call, const struct agent *a)
{
	if (a->cfg.mig)
		return false;
	rpc_fail(call, RPC_UNIMPLEMENTED, "this fabricd runs without a migration driver");
	return true;
}

/* ---- StartMigration ---- */

/* The LOCAL endpoints of VM `vm`, each to the port of the same name on the target. */
struct vm_collect {
	const struct agent *a;
	const char *vm;
	struct mig_endpoint *eps;
	unsigned int n;
};

static int collect_vm(const struct fab_flow *f, void *ctx)
{
	struct vm_collect *c = ctx;
	const char *name = vm_name_of(c->a, f->slot);

	if (!name || strcmp(name, c->vm) != 0 || f->loc.state != FAB_EP_LOCAL)
		return 0;
	if (c->n == MIG_MAX_ENDPOINTS)
		return -E2BIG;
	memset(&c->eps[c->n], 0, sizeof(c->eps[c->n]));
	c->eps[c->n].key = f->key;
	snprintf(c->eps[c->n].source_port, FAB_PORT_NAME_MAX, "%s", f->port_name ? f->port_name : "");
	snprintf(c->eps[c->n].target_port, FAB_PORT_NAME_MAX, "%s", f->port_name ? f->port_name : "");
	c->n++;
	return 0;
}

void agent_h_start_migration(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__StartMigrationRequest *req = (const void *)msg;
	struct agent *a = ctx;
	struct mig_endpoint eps[MIG_MAX_ENDPOINTS];
	struct mig_request mr = {0};
	const struct mig_record *rec;
	Fabric__V1__StartMigrationResponse resp = FABRIC__V1__START_MIGRATION_RESPONSE__INIT;
	char err[512];
	int ret;

	if (no_driver(call, a))
		return;
	if (req->target_vtep && *req->target_vtep &&
	    conv_vtep(req->target_vtep, "target_vtep", &mr.target_vtep, err, sizeof(err))) {
		rpc_fail(call, RPC_INVALID_ARGUMENT, "%s", err);
		return;
	}
	if (req->n_endpoints > MIG_MAX_ENDPOINTS) {
		rpc_fail(call, RPC_INVALID_ARGUMENT, "endpoints: at most %d per migration",
			 MIG_MAX_ENDPOINTS);
		return;
	}
	for (size_t i = 0; i < req->n_endpoints; i++) {
		const Fabric__V1__MigrationEndpoint *e = req->endpoints[i];
		char prefix[48];

		snprintf(prefix, sizeof(prefix), "endpoints[%u].", (unsigned int)i);
		memset(&eps[i], 0, sizeof(eps[i]));
		if (conv_key(e->vni, e->mac, prefix, &eps[i].key, err, sizeof(err))) {
			rpc_fail(call, RPC_INVALID_ARGUMENT, "%s", err);
			return;
		}
		if (strlen(e->source_port_name) >= FAB_PORT_NAME_MAX ||
		    strlen(e->target_port_name) >= FAB_PORT_NAME_MAX) {
			rpc_fail(call, RPC_INVALID_ARGUMENT, "endpoints[%zu]: port names are at most %d "
							     "bytes", i, FAB_PORT_NAME_MAX - 1);
			return;
		}
		snprintf(eps[i].source_port, FAB_PORT_NAME_MAX, "%s", e->source_port_name);
		snprintf(eps[i].target_port, FAB_PORT_NAME_MAX, "%s", e->target_port_name);
	}
	mr.n_eps = (unsigned int)req->n_endpoints;
	if (mr.n_eps == 0 && req->vm_name && *req->vm_name) {
		struct vm_collect c = {.a = a, .vm = req->vm_name, .eps = eps};

		if (fabric_flows_foreach(a->cfg.fab, NULL, collect_vm, &c) == -E2BIG) {
			rpc_fail(call, RPC_INVALID_ARGUMENT, "vm_name: %s has more than %d local "
							     "endpoints; name those that move",
				 req->vm_name, MIG_MAX_ENDPOINTS);
			return;
		}
		mr.n_eps = c.n;
	}
	mr.id = req->migration_id;
	mr.vm_name = req->vm_name;
	mr.target_host = req->target_host_name;
	mr.target_agent = req->target_agent_address;
	mr.uri = req->target_migration_uri;
	mr.eps = eps;
	mr.generation = req->generation;
	if (req->options) {
		mr.opt.downtime_limit_ms = req->options->downtime_limit_ms;
		mr.opt.max_bandwidth = req->options->max_bandwidth_bytes_per_second;
		mr.opt.auto_converge = req->options->auto_converge;
		mr.opt.allow_post_copy = req->options->allow_post_copy;
		mr.opt.switchover_timeout_ms = req->options->switchover_timeout_ms;
		mr.opt.drain_ms = req->options->drain_ms;
	}
	ret = mig_start(a->cfg.mig, &mr, &rec, err, sizeof(err));
	if (ret) {
		enum rpc_status st = ret == -EINVAL || ret == -ESTALE ? RPC_INVALID_ARGUMENT
				     : ret == -ENOENT		 ? RPC_NOT_FOUND
				     : ret == -ENOMEM		 ? RPC_RESOURCE_EXHAUSTED
								 : RPC_FAILED_PRECONDITION;

		if (rec)
			rpc_fail(call, st, "migration %s failed: %s", rec->id, rec->failure_reason);
		else
			rpc_fail(call, st, "%s", err);
		return;
	}
	reply_migration(call, rec, &resp.base, &resp.migration);
}

/* ---- GetMigration, ListMigrations, CancelMigration ---- */

void agent_h_get_migration(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__GetMigrationRequest *req = (const void *)msg;
	struct agent *a = ctx;
	Fabric__V1__GetMigrationResponse resp = FABRIC__V1__GET_MIGRATION_RESPONSE__INIT;
	const struct mig_record *rec;

	if (no_driver(call, a))
		return;
	rec = mig_find(a->cfg.mig, req->migration_id);
	if (!rec) {
		rpc_fail(call, RPC_NOT_FOUND, "migration_id: no migration %s on this host",
			 req->migration_id);
		return;
	}
	reply_migration(call, rec, &resp.base, &resp.migration);
}

void agent_h_list_migrations(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__ListMigrationsRequest *req = (const void *)msg;
	struct agent *a = ctx;
	Fabric__V1__ListMigrationsResponse resp = FABRIC__V1__LIST_MIGRATIONS_RESPONSE__INIT;
	const struct mig_record *rec;
	unsigned int n = 0, cap = 0;
	struct mig_msg *out;
	Fabric__V1__Migration **ptrs;

	if (no_driver(call, a))
		return;
	while (mig_at(a->cfg.mig, cap))
		cap++;
	out = calloc(cap ? cap : 1, sizeof(*out));
	ptrs = calloc(cap ? cap : 1, sizeof(*ptrs));
	if (!out || !ptrs) {
		free(out);
		free(ptrs);
		rpc_fail(call, RPC_RESOURCE_EXHAUSTED, "out of memory");
		return;
	}
	for (unsigned int i = 0; (rec = mig_at(a->cfg.mig, i)) != NULL; i++) {
		if (req->limit && n >= req->limit)
			break;
		if (req->vm_name && *req->vm_name && strcmp(req->vm_name, rec->vm_name) != 0)
			continue;
		if (req->active_only && mig_phase_final(rec->phase))
			continue;
		mig_to_msg(rec, &out[n]);
		ptrs[n] = &out[n].m;
		n++;
	}
	resp.n_migrations = n;
	resp.migrations = ptrs;
	rpc_reply(call, &resp.base);
	free(out);
	free(ptrs);
}

void agent_h_cancel_migration(struct rpc_call *call, const ProtobufCMessage *msg, void *ctx)
{
	const Fabric__V1__CancelMigrationRequest *req = (const void *)msg;
	struct agent *a = ctx;
	Fabric__V1__CancelMigrationResponse resp = FABRIC__V1__CANCEL_MIGRATION_RESPONSE__INIT;
	char err[512];
	int ret;

	if (no_driver(call, a))
		return;
	if (req->reason && (!conv_utf8_valid(req->reason) || strlen(req->reason) > 160)) {
		rpc_fail(call, RPC_INVALID_ARGUMENT, "reason: at most 160 bytes of valid UTF-8");
		return;
	}
	ret = mig_cancel(a->cfg.mig, req->migration_id, req->reason, err, sizeof(err));
	if (ret) {
		rpc_fail(call, ret == -ENOENT ? RPC_NOT_FOUND : RPC_FAILED_PRECONDITION, "%s", err);
		return;
	}
	reply_migration(call, mig_find(a->cfg.mig, req->migration_id), &resp.base,
			&resp.migration);
}

/* ---- the target's agent, for the driver ---- */

struct agent_peers {
	struct fabric *fab;
	struct rpc_tls tls;
	struct rpc_client *client;
	char address[MIG_URI_MAX];
	char server_name[MIG_NAME_MAX];
};

int agent_peers_create(struct agent_peers **out, struct fabric *fab, const struct rpc_tls *tls)
{
	struct agent_peers *p = calloc(1, sizeof(*p));

	if (!p)
		return -ENOMEM;
	p->fab = fab;
	if (tls)
		p->tls = *tls;
	*out = p;
	return 0;
}

void agent_peers_destroy(struct agent_peers *p)
{
	if (!p)
		return;
	rpc_client_close(p->client);
	free(p);
}

static struct rpc_client *peer(struct agent_peers *p, const struct mig_record *m, char *err,
			       size_t len)
{
	if (p->client && strcmp(p->address, m->target_agent) == 0 &&
	    strcmp(p->server_name, m->target_host) == 0)
		return p->client;
	rpc_client_close(p->client);
	p->client = NULL;
	if (rpc_client_open(&p->client, m->target_agent, &p->tls, m->target_host, err, len))
		return NULL;
	snprintf(p->address, sizeof(p->address), "%s", m->target_agent);
	snprintf(p->server_name, sizeof(p->server_name), "%s", m->target_host);
	return p->client;
}

static int call_failed(struct agent_peers *p, const struct rpc_result *res, const char *what,
		       char *err, size_t len)
{
	snprintf(err, len, "%s on %s: %s: %s", what, p->address, rpc_status_name(res->status),
		 res->message);
	if (res->status == RPC_UNAVAILABLE || res->status == RPC_DEADLINE_EXCEEDED) {
		rpc_client_close(p->client);
		p->client = NULL;
	}
	return res->status == RPC_NOT_FOUND ? -ENOENT : -EIO;
}

static int peer_prepare(void *ctx, const struct mig_record *m, char *err, size_t len)
{
	struct agent_peers *p = ctx;
	struct rpc_client *c = peer(p, m, err, len);
	char svtep[16];

	if (!c)
		return -ECONNREFUSED;
	fab_format_ip4(m->source_vtep, svtep);
	for (unsigned int i = 0; i < m->n_eps; i++) {
		Fabric__V1__PrepareIncomingRequest req = FABRIC__V1__PREPARE_INCOMING_REQUEST__INIT;
		Fabric__V1__PrepareIncomingResponse *resp = NULL;
		struct rpc_result res;
		struct conv_strings s;
		struct fab_flow f;
		char mac[18];

		fab_format_mac(m->eps[i].key.mac, mac);
		req.vni = m->eps[i].key.vni;
		req.mac = mac;
		req.generation = m->generation;
		req.port_name = (char *)m->eps[i].target_port;
		req.vm_name = (char *)m->vm_name;
		req.migration_id = (char *)m->id;
		req.source_host_name = (char *)m->source_host;
		req.incoming_migration_uri = i == 0 ? (char *)m->uri : "";
		req.allow_post_copy = m->opt.allow_post_copy;
		req.source_vtep = svtep;
		/* The addresses go along, so that the target answers ARP and ND for them even if
		 * it did not know the endpoint. */
		if (fabric_endpoint_get(p->fab, &m->eps[i].key, &f) == 0) {
			for (unsigned int j = 0; j < f.addrs.n_ip4; j++) {
				fab_format_ip4(f.addrs.ip4[j], s.ip4[j]);
				s.ip4p[j] = s.ip4[j];
			}
			req.n_ipv4_addresses = f.addrs.n_ip4;
			req.ipv4_addresses = s.ip4p;
		}
		if (rpc_client_unary(c, "/fabric.v1.Agent/PrepareIncoming", &req.base,
				     &fabric__v1__prepare_incoming_response__descriptor,
				     (ProtobufCMessage **)&resp, 5000, &res))
			return call_failed(p, &res, "PrepareIncoming", err, len);
		fabric__v1__prepare_incoming_response__free_unpacked(resp, NULL);
	}
	return 0;
}

static int peer_abort(void *ctx, const struct mig_record *m, const char *reason, char *err,
		      size_t len)
{
	struct agent_peers *p = ctx;
	struct rpc_client *c = peer(p, m, err, len);
	Fabric__V1__CancelMigrationRequest req = FABRIC__V1__CANCEL_MIGRATION_REQUEST__INIT;
	Fabric__V1__CancelMigrationResponse *resp = NULL;
	struct rpc_result res;
	char why[161];

	if (!c)
		return -ECONNREFUSED;
	snprintf(why, sizeof(why), "%s", reason ? reason : "");
	req.migration_id = (char *)m->id;
	req.reason = why;
	if (rpc_client_unary(c, "/fabric.v1.Agent/CancelMigration", &req.base,
			     &fabric__v1__cancel_migration_response__descriptor,
			     (ProtobufCMessage **)&resp, 5000, &res)) {
		/* A target that never kept the record has nothing to drop. */
		if (res.status == RPC_NOT_FOUND)
			return 0;
		return call_failed(p, &res, "CancelMigration", err, len);
	}
	fabric__v1__cancel_migration_response__free_unpacked(resp, NULL);
	return 0;
}

static int peer_query(void *ctx, const struct mig_record *m, struct mig_target_view *out,
		      char *err, size_t len)
{
	struct agent_peers *p = ctx;
	struct rpc_client *c = peer(p, m, err, len);
	Fabric__V1__GetMigrationRequest req = FABRIC__V1__GET_MIGRATION_REQUEST__INIT;
	Fabric__V1__GetMigrationResponse *resp = NULL;
	struct rpc_result res;

	if (!c)
		return -ECONNREFUSED;
	req.migration_id = (char *)m->id;
	if (rpc_client_unary(c, "/fabric.v1.Agent/GetMigration", &req.base,
			     &fabric__v1__get_migration_response__descriptor,
			     (ProtobufCMessage **)&resp, 2000, &res))
		return call_failed(p, &res, "GetMigration", err, len);
	memset(out, 0, sizeof(*out));
	if (resp->migration) {
		out->phase = (uint8_t)resp->migration->phase;
		out->trigger = (uint8_t)resp->migration->activation_trigger;
		out->activated_ns = resp->migration->activated_unix_ns;
		if (resp->migration->packets) {
			out->packets.held = resp->migration->packets->packets_held;
			out->packets.released = resp->migration->packets->packets_released;
			out->packets.dropped = resp->migration->packets->packets_dropped;
			out->packets.hold_peak = resp->migration->packets->hold_queue_peak_packets;
		}
	}
	fabric__v1__get_migration_response__free_unpacked(resp, NULL);
	return 0;
}

const struct mig_target_ops agent_peer_ops = {
	.prepare = peer_prepare,
	.abort = peer_abort,
	.query = peer_query,
};
