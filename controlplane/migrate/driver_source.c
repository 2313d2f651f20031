/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The migration driver, source side: starting a migration (StartMigration); stopping it
 * here, the VM's endpoints taken back, when it fails before the VM runs on the target;
 * and after the switchover, following the target until the fabric converged.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "driver_internal.h"

/*
 * Lowers the priority of QEMU's migration thread ("live_migration", found through the
 * monitor socket's peer, which is QEMU): the switchover depends on QMP answering quickly,
 * and QEMU's main loop, which answers QMP and reads the VM's tap, must not starve behind
 * the thread that copies memory. Best effort: a QEMU in another PID namespace or a
 * thread not found is left as it is.
 */
static void yield_migration_thread(struct mig_driver *d, struct mig *m)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	char path[64], comm[32];
	DIR *dir;
	struct dirent *de;

	if (getsockopt(qmp_fd(m->qmp), SOL_SOCKET, SO_PEERCRED, &cred, &len) || cred.pid <= 0)
		return;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)cred.pid);
	/* Without `-name ...,debug-threads=on` every thread bears the process's name: there
	 * is nothing to find, and no reason to wait for the thread to appear. */
	{
		char cmd[4096], cpath[64];
		FILE *f;

		snprintf(cpath, sizeof(cpath), "/proc/%d/cmdline", (int)cred.pid);
		f = fopen(cpath, "r");
		size_t n = f ? fread(cmd, 1, sizeof(cmd), f) : 0;

		if (f)
			fclose(f);
		if (!memmem(cmd, n, "debug-threads=on", 16))
			return;
	}
	for (int tries = 0; tries < 50; tries++) {
		dir = opendir(path);
		if (!dir)
			return;
		while ((de = readdir(dir)) != NULL) {
			char cpath[400];
			FILE *f;

			if (de->d_name[0] == '.')
				continue;
			snprintf(cpath, sizeof(cpath), "%s/%s/comm", path, de->d_name);
			f = fopen(cpath, "r");
			if (!f)
				continue;
			if (fgets(comm, sizeof(comm), f) && strncmp(comm, "live_migration", 14) == 0) {
				int tid = atoi(de->d_name);

				fclose(f);
				closedir(dir);
				if (setpriority(PRIO_PROCESS, (id_t)tid, 10) == 0)
					drv_log(d, m,
						"QEMU's migration thread (%d) runs at nice 10 so that QMP "
						"stays responsive",
						tid);
				return;
			}
			fclose(f);
		}
		closedir(dir);
		struct timespec pause = {0, 2000000};

		nanosleep(&pause, NULL);
	}
}

/* Moves every endpoint of `m` back to LOCAL on its source port at g+1 (g the migration's
 * generation): the VM runs here, and the target points back here at the same generation. */
static void source_take_back(struct mig_driver *d, struct mig *m)
{
	for (unsigned int i = 0; i < m->r.n_eps; i++) {
		struct mig_endpoint *e = &m->r.eps[i];
		int port = fabric_port_index(d->cfg.fab, e->source_port);
		struct fab_endpoint loc = {.state = FAB_EP_LOCAL,
					   .port = port > 0 ? (uint16_t)port : e->before.port,
					   .generation = m->r.generation + 1};
		int ret = fabric_endpoint_step(d->cfg.fab, &e->key, FAB_STEP_SET, &loc);

		if (ret && ret != -ESTALE) {
			char mac[18];

			fab_format_mac(e->key.mac, mac);
			drv_log(d, m, "could not point vni %u mac %s back at port %s: %s",
				e->key.vni, mac, e->source_port, strerror(-ret));
		}
	}
}

void tell_target_abort(struct mig_driver *d, struct mig *m, const char *reason)
{
	char err[256];
	int ret = d->cfg.target->abort(d->cfg.target_ctx, &m->r, reason, err, sizeof(err));

	if (ret)
		drv_log(d, m, "could not tell the target %s to drop its INCOMING state: %s",
			m->r.target_host, err);
}

/* The migration stops with the VM on this host: QEMU stopped (cancelled or failed),
 * the fabric points here, the target is told. */
void source_stop_here(struct mig_driver *d, struct mig *m, uint8_t phase, const char *reason)
{
	/* The endpoints first, so that frames arriving meanwhile wait on the VM's port (read
	 * when it resumes) rather than go to a target that drops them. Then the VM: QEMU
	 * resumes one it paused itself; one the driver paused, the driver resumes. */
	source_take_back(d, m);
	if (m->stop_sent && m->qmp && qmp_cont(m->qmp, drv_qto(d)) != 0)
		drv_log(d, m, "could not resume the VM here: %s", qmp_last_error(m->qmp));
	m->stop_sent = false;
	tell_target_abort(d, m, reason);
	drv_finish(d, m, phase, "%s", reason);
}

/* After the switchover: learn when the target activated, keep the figures current, and
 * complete once every endpoint stopped forwarding (EndForwarding). */
void source_converging(struct mig_driver *d, struct mig *m, uint64_t now)
{
	struct mig_record *r = &m->r;
	bool forwarding = false;

	r->packets.forwarded = drv_counter(d->cfg.fab, FAB_CTR_FORWARDED) - m->base_forwarded;
	if (m->target_seen && now >= m->next_target_query_ns && !m->target_gone) {
		/* The target's figures settle after the activation (it releases its hold queue
		 * in bursts): keep them current until this record completes. */
		struct mig_target_view v = {0};
		char err[256] = "";

		m->next_target_query_ns = now + 200000000;
		if (d->cfg.target->query(d->cfg.target_ctx, r, &v, err, sizeof(err)) == 0) {
			r->packets.held = v.packets.held;
			r->packets.released = v.packets.released;
			r->packets.dropped = v.packets.dropped;
		}
	}
	if (!m->target_seen && now >= m->next_target_query_ns) {
		struct mig_target_view v = {0};
		char err[256] = "";

		m->next_target_query_ns = now + 20000000;
		if (d->cfg.target->query(d->cfg.target_ctx, r, &v, err, sizeof(err)) == 0 &&
		    v.activated_ns) {
			m->target_seen = true;
			r->activation_trigger = v.trigger;
			r->activated_ns = v.activated_ns;
			r->packets.held = v.packets.held;
			r->packets.released = v.packets.released;
			r->packets.dropped = v.packets.dropped;
			r->packets.hold_peak = v.packets.hold_peak;
			if (r->paused_ns && v.activated_ns > r->paused_ns)
				r->blackout_ns = v.activated_ns - r->paused_ns;
			drv_log(d, m,
				"the target activated the VM (%s) %.3f ms after it paused here; "
				"%llu frames held there, %llu released",
				v.trigger == MIG_TRIGGER_QMP_RESUME           ? "QMP RESUME"
				: v.trigger == MIG_TRIGGER_GUEST_ANNOUNCEMENT ? "guest announcement"
									      : "API",
				r->blackout_ns / 1e6, (unsigned long long)v.packets.held,
				(unsigned long long)v.packets.released);
		} else if (now > m->target_deadline_ns) {
			m->target_seen = true;
			m->target_gone = true;
			drv_log(d, m, "the target did not report the activation within 10 s%s%s",
				err[0] ? ": " : "", err);
		}
	}
	if (r->phase != MIG_PHASE_CONVERGING)
		return;
	for (unsigned int i = 0; i < r->n_eps; i++) {
		struct fab_flow f;

		if (fabric_endpoint_get(d->cfg.fab, &r->eps[i].key, &f) == 0 &&
		    f.loc.state == FAB_EP_FORWARDING && f.loc.generation == r->generation)
			forwarding = true;
	}
	if (!forwarding && m->target_seen && m->final_stats_done) {
		if (r->activated_ns)
			r->target_brownout_ns = drv_wall_ns() - r->activated_ns;
		drv_finish(d, m, MIG_PHASE_COMPLETED, "%s", "");
	}
}

int mig_start(struct mig_driver *d, const struct mig_request *req, const struct mig_record **out,
	      char *err, size_t len)
{
	struct mig *m;
	struct mig_record *r;
	uint64_t gen = 0;
	int ret;

	*out = NULL;
	if (req->id && *req->id) {
		m = drv_find(d, req->id);
		if (m) {
			if (m->r.role != MIG_ROLE_SOURCE)
				return snprintf(err, len, "migration_id: %s is a migration this host is "
							  "the target of", req->id), -EINVAL;
			*out = &m->r;
			return 0;
		}
		if (strlen(req->id) >= MIG_ID_MAX || !drv_valid_name(req->id))
			return snprintf(err, len, "migration_id: at most %d letters, digits, '-', '_' "
						  "or '.'", MIG_ID_MAX - 1), -EINVAL;
	}
	if (!drv_valid_name(req->vm_name))
		return snprintf(err, len, "vm_name: 1 to %d letters, digits, '-', '_' or '.' (it "
					  "names the QEMU monitor %s/VM.qmp)",
				MIG_NAME_MAX - 1, d->cfg.qemu_dir), -EINVAL;
	if (!req->target_host || !*req->target_host || strlen(req->target_host) >= MIG_NAME_MAX)
		return snprintf(err, len, "target_host_name: required, at most %d bytes",
				MIG_NAME_MAX - 1), -EINVAL;
	if (!req->target_vtep)
		return snprintf(err, len, "target_vtep: required until a controller can look it up"),
		       -EINVAL;
	if (req->target_vtep == d->cfg.vtep)
		return snprintf(err, len, "target_vtep: that is this host"), -EINVAL;
	if (!req->target_agent || !*req->target_agent || strlen(req->target_agent) >= MIG_URI_MAX)
		return snprintf(err, len, "target_agent_address: required (\"host:port\" of the "
					  "target's agent) until a controller can look it up"), -EINVAL;
	if (!req->uri || strlen(req->uri) >= MIG_URI_MAX ||
	    (strncmp(req->uri, "tcp:", 4) != 0 && strncmp(req->uri, "unix:", 5) != 0))
		return snprintf(err, len, "target_migration_uri: required, \"tcp:HOST:PORT\" or "
					  "\"unix:PATH\", at most %d bytes", MIG_URI_MAX - 1), -EINVAL;
	if (req->n_eps == 0)
		return snprintf(err, len, "vm_name: no endpoint of VM %s is LOCAL on this host",
				req->vm_name), -ENOENT;
	if (req->n_eps > MIG_MAX_ENDPOINTS)
		return snprintf(err, len, "endpoints: at most %d per migration", MIG_MAX_ENDPOINTS),
		       -EINVAL;
	for (m = d->list; m; m = m->next)
		if (m->r.role == MIG_ROLE_SOURCE && !mig_phase_final(m->r.phase) &&
		    strcmp(m->r.vm_name, req->vm_name) == 0)
			return snprintf(err, len, "vm_name: %s is migrating already (%s, %s)",
					req->vm_name, m->r.id, mig_phase_name(m->r.phase)), -EBUSY;
	for (unsigned int i = 0; i < req->n_eps; i++) {
		struct fab_flow f;
		char mac[18];

		fab_format_mac(req->eps[i].key.mac, mac);
		if (fabric_endpoint_get(d->cfg.fab, &req->eps[i].key, &f) != 0 ||
		    f.loc.state != FAB_EP_LOCAL ||
		    (req->eps[i].source_port[0] && (!f.port_name ||
						    strcmp(f.port_name, req->eps[i].source_port))))
			return snprintf(err, len, "endpoints[%u]: vni %u mac %s is not LOCAL on this "
						  "host%s%s", i, req->eps[i].key.vni, mac,
					req->eps[i].source_port[0] ? " on port " : "",
					req->eps[i].source_port), -ENOENT;
		if (f.loc.generation >= gen)
			gen = f.loc.generation + 1;
	}
	if (req->generation) {
		if (req->generation < gen)
			return snprintf(err, len, "generation: %llu does not exceed the %llu held",
					(unsigned long long)req->generation,
					(unsigned long long)gen - 1), -ESTALE;
		gen = req->generation;
	}

	m = drv_add(d, req->id, MIG_ROLE_SOURCE, req->vm_name);
	if (!m)
		return snprintf(err, len, "out of memory"), -ENOMEM;
	r = &m->r;
	for (unsigned int i = 0; i < req->n_eps; i++) {
		struct fab_flow f;

		r->eps[i] = req->eps[i];
		fabric_endpoint_get(d->cfg.fab, &r->eps[i].key, &f);
		r->eps[i].before = f.loc;
		snprintf(r->eps[i].source_port, sizeof(r->eps[i].source_port), "%s", f.port_name);
		if (!r->eps[i].target_port[0])
			snprintf(r->eps[i].target_port, sizeof(r->eps[i].target_port), "%s", f.port_name);
	}
	r->n_eps = req->n_eps;
	m->qemu_decides = r->n_eps > 0;
	for (unsigned int i = 0; i < r->n_eps; i++)
		if (!fabric_port_holds_paused(d->cfg.fab, r->eps[i].before.port))
			m->qemu_decides = false;
	snprintf(r->source_host, sizeof(r->source_host), "%s", d->cfg.host_name ? d->cfg.host_name : "");
	snprintf(r->target_host, sizeof(r->target_host), "%s", req->target_host);
	r->source_vtep = d->cfg.vtep;
	r->target_vtep = req->target_vtep;
	snprintf(r->target_agent, sizeof(r->target_agent), "%s", req->target_agent);
	snprintf(r->uri, sizeof(r->uri), "%s", req->uri);
	r->opt = req->opt;
	r->generation = gen;
	*out = r;

	drv_enter(m, MIG_PHASE_PREPARING);
	ret = drv_connect_vm(d, m, err, len);
	if (ret == 0)
		qmp_set_event_handler(m->qmp, on_source_event, m);
	if (ret == 0) {
		struct qmp_status st;
		struct qmp_migrate_info mi;

		if ((ret = qmp_query_status(m->qmp, &st, drv_qto(d))) ||
		    (ret = qmp_query_migrate(m->qmp, &mi, drv_qto(d))))
			snprintf(err, len, "QEMU: %s", qmp_last_error(m->qmp));
		else if (!st.running)
			ret = -EPERM, snprintf(err, len, "the VM is not running here (QEMU says %s)",
					       qmp_run_state_name(st.state));
		else if (mi.status == QMP_MIGRATION_SETUP || mi.status == QMP_MIGRATION_ACTIVE ||
			 mi.status == QMP_MIGRATION_PRE_SWITCHOVER || mi.status == QMP_MIGRATION_DEVICE ||
			 mi.status == QMP_MIGRATION_POSTCOPY_ACTIVE ||
			 mi.status == QMP_MIGRATION_CANCELLING)
			ret = -EBUSY, snprintf(err, len, "QEMU is migrating already (%s)",
					       qmp_migration_status_name(mi.status));
	}
	if (ret == 0) {
		struct qmp_capability caps[] = {
			{"events", true},
			{"pause-before-switchover", true},
			{"auto-converge", r->opt.auto_converge},
			{"postcopy-ram", r->opt.allow_post_copy},
		};
		/* When the driver decides (taps), QEMU's own downtime-limit is 1 ms: the driver
		 * switches over (maybe_switch) with the request's downtime limit as its budget,
		 * well before QEMU would. (Not 0: QEMU re-reads the dirty bitmap only when fewer
		 * bytes than its limit allows are left, so with 0 it never makes a second pass.)
		 * When QEMU decides, the budget is its downtime-limit. */
		struct qmp_migrate_params p = {
			.has_downtime_limit = true,
			.downtime_limit_ms = m->qemu_decides ? switch_budget_ms(r) : 1,
			.has_max_bandwidth = r->opt.max_bandwidth != 0,
			.max_bandwidth = r->opt.max_bandwidth,
		};

		if ((ret = qmp_migrate_set_capabilities(m->qmp, caps, 4, drv_qto(d))) ||
		    (ret = qmp_migrate_set_parameters(m->qmp, &p, drv_qto(d))))
			snprintf(err, len, "QEMU: %s", qmp_last_error(m->qmp));
		/* The VM's NICs, to wait for their queues at the switchover (drain_port); a
		 * QEMU without virtio introspection is migrated without that wait. */
		if (ret == 0 && qmp_virtio_net_paths(m->qmp, m->nics, 4, &m->n_nics, drv_qto(d)))
			m->n_nics = 0;
	}
	if (ret == 0) {
		ret = d->cfg.target->prepare(d->cfg.target_ctx, r, err, len);
		if (ret) {
			char why[300];

			snprintf(why, sizeof(why), "%s", err);
			snprintf(err, len, "preparing the target %s: %s", r->target_host, why);
			tell_target_abort(d, m, err);
		}
	}
	if (ret == 0) {
		qmp_discard_events(m->qmp);
		ret = qmp_migrate(m->qmp, r->uri, drv_qto(d));
		if (ret) {
			snprintf(err, len, "QEMU did not start migrating to %s: %s", r->uri,
				 qmp_last_error(m->qmp));
			tell_target_abort(d, m, err);
		}
	}
	if (ret) {
		/* Nothing changed here: the endpoints stay LOCAL at their generation. */
		drv_finish(d, m, MIG_PHASE_FAILED, "%s", err);
		return -EIO;
	}
	m->migrate_started = true;
	/* When QEMU decides, nothing waits on QMP during pre-copy: the copy keeps its speed. */
	if (!m->qemu_decides)
		yield_migration_thread(d, m);
	m->precopy_start_ns = drv_wall_ns();
	drv_enter(m, MIG_PHASE_PRECOPY);
	drv_log(d, m,
		"pre-copy to %s (%s) started, generation %llu, blackout budget %llu ms (%s), "
		"auto-converge %s, post-copy %s, deadline %llu ms",
		r->target_host, r->uri, (unsigned long long)gen,
		(unsigned long long)switch_budget_ms(r),
		m->qemu_decides
			? "QEMU's downtime-limit: the VM's ports hold its frames while it is paused"
			: "the driver switches over: a paused VM's tap queue is lost",
		r->opt.auto_converge ? "on" : "off", r->opt.allow_post_copy ? "allowed" : "off",
		(unsigned long long)r->opt.switchover_timeout_ms);
	return 0;
}
