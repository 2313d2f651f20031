/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The migration driver, target side: preparing the incoming QEMU and the VM's endpoints
 * (INCOMING), activation (by the VM's own announcement or QEMU resuming it), and giving
 * the endpoints back to the source when the migration fails first.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "driver_internal.h"

/* Points every endpoint not yet activated back at the source (REMOTE at g+1), or deletes
 * it where this host did not know it before. */
void target_give_back(struct mig_driver *d, struct mig *m)
{
	for (unsigned int i = 0; i < m->r.n_eps; i++) {
		struct mig_endpoint *e = &m->r.eps[i];
		struct fab_flow f;
		uint32_t vtep = m->r.source_vtep ? m->r.source_vtep
				: e->before.state == FAB_EP_REMOTE ? e->before.vtep
								     : 0;
		int ret;

		if (fabric_endpoint_get(d->cfg.fab, &e->key, &f) != 0 ||
		    f.loc.state != FAB_EP_INCOMING || f.loc.generation != m->r.generation)
			continue;
		if (vtep) {
			struct fab_endpoint loc = {.state = FAB_EP_REMOTE, .vtep = vtep,
						   .generation = m->r.generation + 1};

			ret = fabric_endpoint_step(d->cfg.fab, &e->key, FAB_STEP_SET, &loc);
		} else {
			struct fab_endpoint arg = {.generation = m->r.generation + 1};

			ret = fabric_endpoint_step(d->cfg.fab, &e->key, FAB_STEP_DELETE, &arg);
		}
		if (ret) {
			char mac[18];

			fab_format_mac(e->key.mac, mac);
			drv_log(d, m, "could not drop the INCOMING state of vni %u mac %s: %s",
				e->key.vni, mac, strerror(-ret));
		}
	}
}

void target_packets(struct mig_driver *d, struct mig *m)
{
	m->r.packets.held = drv_counter(d->cfg.fab, FAB_CTR_HELD) - m->base_held;
	m->r.packets.released = drv_counter(d->cfg.fab, FAB_CTR_RELEASED) - m->base_released;
	m->r.packets.dropped = drv_hold_drops(d->cfg.fab) - m->base_dropped;
}

/* The VM runs here: every endpoint LOCAL, the VM announced. */
static void target_activate(struct mig_driver *d, struct mig *m, uint8_t trigger)
{
	struct mig_record *r = &m->r;
	uint64_t now = drv_wall_ns();

	for (unsigned int i = 0; i < r->n_eps; i++) {
		struct fab_endpoint arg = {.generation = r->generation};
		int ret;

		if (r->eps[i].activated)
			continue;
		ret = fabric_endpoint_step(d->cfg.fab, &r->eps[i].key, FAB_STEP_ACTIVATE, &arg);
		r->eps[i].activated = ret == 0;
		if (ret) {
			char mac[18];

			fab_format_mac(r->eps[i].key.mac, mac);
			drv_log(d, m, "could not activate vni %u mac %s: %s", r->eps[i].key.vni,
				mac, strerror(-ret));
		}
	}
	if (!r->activated_ns) {
		r->activated_ns = now;
		r->activation_trigger = trigger;
	}
}

static void target_resumed(struct mig_driver *d, struct mig *m)
{
	struct qmp_announce ann = {.initial_ms = 50, .max_ms = 550, .rounds = 5, .step_ms = 100};
	int ret;

	target_activate(d, m, MIG_TRIGGER_QMP_RESUME);
	ret = qmp_announce_self(m->qmp, &ann, drv_qto(d));
	target_packets(d, m);
	drv_log(d, m,
		"the VM resumed here: endpoints LOCAL (%s), %llu frames held, %llu released, "
		"%llu dropped; announce-self %s",
		m->r.activation_trigger == MIG_TRIGGER_QMP_RESUME ? "on QMP RESUME"
								  : "on the guest's announcement",
		(unsigned long long)m->r.packets.held, (unsigned long long)m->r.packets.released,
		(unsigned long long)m->r.packets.dropped, ret ? qmp_last_error(m->qmp) : "sent");
	drv_finish(d, m, MIG_PHASE_COMPLETED, "%s", "");
}

void target_event(struct mig_driver *d, struct mig *m, const struct qmp_event *ev)
{
	if (ev->kind == QMP_EVENT_RESUME) {
		target_resumed(d, m);
		return;
	}
	if (ev->kind != QMP_EVENT_MIGRATION)
		return;
	if (ev->migration_status == QMP_MIGRATION_ACTIVE && m->r.phase == MIG_PHASE_PREPARING)
		drv_enter(m, MIG_PHASE_PRECOPY);
	else if (ev->migration_status == QMP_MIGRATION_COMPLETED && !m->r.activated_ns) {
		/* The source's driver paused the VM before the switchover, so QEMU here keeps it
		 * paused (it was not running when its state was sent): start it. */
		if (qmp_cont(m->qmp, drv_qto(d)) != 0)
			drv_log(d, m, "could not start the VM here: %s", qmp_last_error(m->qmp));
		else
			drv_log(d, m, "the incoming migration completed; VM started (cont)");
	}
	else if (ev->migration_status == QMP_MIGRATION_FAILED ||
		 ev->migration_status == QMP_MIGRATION_CANCELLED) {
		target_give_back(d, m);
		target_packets(d, m);
		drv_finish(d, m, MIG_PHASE_FAILED, "the incoming migration %s (QEMU)",
			   ev->migration_status == QMP_MIGRATION_FAILED ? "failed"
									: "was cancelled");
	}
}

int mig_prepare_incoming(struct mig_driver *d, const struct mig_incoming *in, char *err,
			 size_t len)
{
	struct mig *m;
	struct mig_endpoint *e;
	struct fab_flow f;
	int ret;

	if (!in->id || !*in->id || !drv_valid_name(in->id))
		return snprintf(err, len, "migration_id: required with incoming_migration_uri (letters, "
					  "digits, '-', '_', '.')"), -EINVAL;
	m = drv_find(d, in->id);
	if (m && (m->r.role != MIG_ROLE_TARGET || mig_phase_final(m->r.phase)))
		return snprintf(err, len, "migration_id: %s is %s here", in->id,
				m->r.role != MIG_ROLE_TARGET ? "a migration this host is the source of"
							     : "a finished migration"), -EEXIST;
	if (!m && (!in->uri || !*in->uri))
		return snprintf(err, len, "incoming_migration_uri: required for the first endpoint of "
					  "migration %s", in->id), -EINVAL;
	if (!m) {
		if (!drv_valid_name(in->vm_name))
			return snprintf(err, len, "vm_name: required with incoming_migration_uri (it "
						  "names the QEMU monitor %s/VM.qmp)", d->cfg.qemu_dir),
			       -EINVAL;
		if (strlen(in->uri) >= MIG_URI_MAX ||
		    (strncmp(in->uri, "tcp:", 4) && strncmp(in->uri, "unix:", 5)))
			return snprintf(err, len, "incoming_migration_uri: \"tcp:HOST:PORT\" or "
						  "\"unix:PATH\""), -EINVAL;
		m = drv_add(d, in->id, MIG_ROLE_TARGET, in->vm_name);
		if (!m)
			return snprintf(err, len, "out of memory"), -ENOMEM;
		snprintf(m->r.uri, sizeof(m->r.uri), "%s", in->uri);
		snprintf(m->r.source_host, sizeof(m->r.source_host), "%s", in->source_host ? in->source_host : "");
		snprintf(m->r.target_host, sizeof(m->r.target_host), "%s", d->cfg.host_name ? d->cfg.host_name : "");
		m->r.source_vtep = in->source_vtep;
		m->r.target_vtep = d->cfg.vtep;
		m->r.generation = in->generation;
		m->r.opt.allow_post_copy = in->allow_post_copy;
		m->base_held = drv_counter(d->cfg.fab, FAB_CTR_HELD);
		m->base_released = drv_counter(d->cfg.fab, FAB_CTR_RELEASED);
		m->base_dropped = drv_hold_drops(d->cfg.fab);
		drv_enter(m, MIG_PHASE_PREPARING);
		ret = drv_connect_vm(d, m, err, len);
		if (ret == 0) {
			struct qmp_capability caps[] = {{"events", true},
							{"postcopy-ram", in->allow_post_copy}};

			if ((ret = qmp_migrate_set_capabilities(m->qmp, caps, 2, drv_qto(d))) ||
			    (ret = qmp_migrate_incoming(m->qmp, in->uri, drv_qto(d))))
				snprintf(err, len, "the incoming QEMU of %s: %s", in->vm_name,
					 qmp_last_error(m->qmp));
		}
		if (ret) {
			drv_finish(d, m, MIG_PHASE_FAILED, "%s", err);
			return -EIO;
		}
		drv_log(d, m, "QEMU listens on %s for the VM from %s, generation %llu", in->uri,
			m->r.source_host, (unsigned long long)in->generation);
	} else if (in->generation != m->r.generation) {
		return snprintf(err, len, "generation: %llu, but migration %s moves to %llu",
				(unsigned long long)in->generation, in->id,
				(unsigned long long)m->r.generation), -EINVAL;
	}
	if (m->r.n_eps >= MIG_MAX_ENDPOINTS)
		return snprintf(err, len, "at most %d endpoints per migration", MIG_MAX_ENDPOINTS),
		       -ENOSPC;
	e = &m->r.eps[m->r.n_eps++];
	memset(e, 0, sizeof(*e));
	e->key = in->key;
	snprintf(e->target_port, sizeof(e->target_port), "%s", in->port_name ? in->port_name : "");
	if (fabric_endpoint_get(d->cfg.fab, &in->key, &f) == 0)
		e->before = f.loc;
	return 0;
}
