/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The migration driver, source side, up to the switchover: QEMU's progress (query-migrate
 * and events), the convergence policy (throttling harder, then post-copy, when pre-copy
 * stops shrinking) and the switchover itself (the fast path's flip to FORWARDING and
 * QEMU's pause, in the order the VM's ports allow).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "driver_internal.h"

/* The request's blackout budget, or the default 300 ms. */
uint64_t switch_budget_ms(const struct mig_record *r)
{
	return r->opt.downtime_limit_ms ? r->opt.downtime_limit_ms : 300;
}

static void switch_fill_qemu(struct mig_record *r, const struct qmp_migrate_info *mi)
{
	struct mig_qemu_stats *q = &r->qemu;

	if (mi->has_total_time)
		q->total_time_ms = (uint64_t)mi->total_time_ms;
	if (mi->has_downtime)
		q->downtime_ms = (uint64_t)mi->downtime_ms;
	if (mi->has_setup_time)
		q->setup_time_ms = (uint64_t)mi->setup_time_ms;
	if (mi->has_expected_downtime)
		q->expected_downtime_ms = (uint64_t)mi->expected_downtime_ms;
	if (mi->has_cpu_throttle_percentage)
		q->cpu_throttle_percent = (uint32_t)mi->cpu_throttle_percentage;
	if (mi->has_ram) {
		q->bytes_total = mi->ram.total;
		q->bytes_remaining = mi->ram.remaining;
		q->bytes_transferred = mi->ram.transferred;
		q->passes = mi->ram.dirty_sync_count;
		q->dirty_rate = mi->ram.dirty_pages_rate * (mi->ram.page_size ? mi->ram.page_size : 4096);
		q->throughput = (uint64_t)(mi->ram.mbps * 1e6 / 8);
		if (mi->ram.has_postcopy_requests)
			q->postcopy_requests = mi->ram.postcopy_requests;
	}
	if (mi->status == QMP_MIGRATION_POSTCOPY_ACTIVE)
		q->post_copy = true;
}

/* What pre-copy is doing, for the log: "N bytes left after pass P, dirtying D B/s,
 * sending S B/s". */
static const char *precopy_progress(const struct mig_qemu_stats *q, char *buf, size_t len)
{
	snprintf(buf, len, "%llu bytes left after pass %llu, dirtying %llu B/s, sending %llu B/s",
		 (unsigned long long)q->bytes_remaining, (unsigned long long)q->passes,
		 (unsigned long long)q->dirty_rate, (unsigned long long)q->throughput);
	return buf;
}

/* The convergence policy, at each new pass: escalate when the bytes left stop shrinking. */
static void converge(struct mig_driver *d, struct mig *m)
{
	struct mig_qemu_stats *q = &m->r.qemu;
	unsigned int limit = d->cfg.stall_passes ? d->cfg.stall_passes : 3;
	char progress[160];
	int ret;

	if (q->passes <= m->last_pass || q->passes < 2)
		return;
	m->last_pass = q->passes;
	if (m->best_remaining == 0 || q->bytes_remaining < m->best_remaining - m->best_remaining / 10) {
		m->best_remaining = q->bytes_remaining;
		m->stalled_passes = 0;
		return;
	}
	if (++m->stalled_passes < limit)
		return;
	m->stalled_passes = 0;
	precopy_progress(q, progress, sizeof(progress));
	if (m->escalation == 0 && m->r.opt.auto_converge) {
		struct qmp_migrate_params p = {.has_cpu_throttle_increment = true,
					       .cpu_throttle_increment = 20,
					       .has_max_cpu_throttle = true,
					       .max_cpu_throttle = 99};

		m->escalation = 1;
		ret = qmp_migrate_set_parameters(m->qmp, &p, drv_qto(d));
		drv_log(d, m,
			"pre-copy is not converging (%s, throttle %u%%): throttling harder "
			"(increment 20%%, max 99%%)%s%s",
			progress, q->cpu_throttle_percent, ret ? ": QEMU refused: " : "",
			ret ? qmp_last_error(m->qmp) : "");
		return;
	}
	if (m->escalation < 2 && m->r.opt.allow_post_copy) {
		m->escalation = 2;
		ret = qmp_migrate_start_postcopy(m->qmp, drv_qto(d));
		drv_log(d, m, "pre-copy is not converging (%s, throttle %u%%): switching to post-copy%s%s",
			progress, q->cpu_throttle_percent, ret ? ": QEMU refused: " : "",
			ret ? qmp_last_error(m->qmp) : "");
		return;
	}
	if (m->escalation < 3) {
		m->escalation = 3;
		drv_log(d, m,
			"pre-copy is not converging (%s) and nothing is left to escalate to "
			"(auto-converge %s, post-copy %s): waiting%s",
			progress, m->r.opt.auto_converge ? "on" : "off",
			m->r.opt.allow_post_copy ? "allowed" : "not allowed",
			m->r.opt.switchover_timeout_ms ? " for the deadline" : " (no deadline set)");
	}
}

/* The fast path's part of the cutover: every endpoint forwards to the target. Makes no
 * QMP call, so that it can run inside one (on_source_event). Returns 0, or the fabric's
 * error for endpoint *failed (the endpoints before it forward already). */
static int flip_fast_path(struct mig_driver *d, struct mig *m, unsigned int *failed)
{
	unsigned int i;
	int ret = 0;

	drv_enter(m, MIG_PHASE_BLACKOUT);
	m->base_forwarded = drv_counter(d->cfg.fab, FAB_CTR_FORWARDED);
	for (i = 0; i < m->r.n_eps; i++) {
		struct fab_endpoint arg = {.generation = m->r.generation, .vtep = m->r.target_vtep};

		ret = fabric_endpoint_step(d->cfg.fab, &m->r.eps[i].key, FAB_STEP_BEGIN_FORWARDING, &arg);
		if (ret == -ESTALE && m->flip_started)
			ret = 0; /* flipped already, by an earlier attempt */
		if (ret)
			break;
	}
	m->flip_started = true;
	*failed = i;
	if (ret == 0)
		m->flipped = true;
	return ret;
}

/*
 * Runs inside whichever QMP call read the event. A STOP during pre-copy means QEMU paused
 * the VM for the switchover on its own: frames delivered to its port from now on would
 * wait in a queue the VM will never read, so the fast path flips here and now, not when
 * the call that read the event returns (a query-migrate waits for QEMU's main loop, which
 * the switchover keeps busy for tens of milliseconds).
 */
bool on_source_event(struct qmp *q, const struct qmp_event *ev, void *opaque)
{
	struct mig *m = opaque;
	unsigned int failed;

	(void)q;
	if (ev->kind == QMP_EVENT_STOP)
		m->qemu_stopped = true;
	if (ev->kind == QMP_EVENT_STOP && m->r.phase == MIG_PHASE_PRECOPY && !m->flipped &&
	    !m->flip_started) {
		flip_fast_path(m->d, m, &failed);
		m->flipped_by_handler = m->flipped;
	}
	return true; /* and queued, for the rest of the work */
}

/*
 * The cutover on the source: every endpoint of the VM forwards to the target from now on
 * (the target holds what it receives until the VM runs there). Returns 0, or stops the
 * migration with the VM here and returns -1.
 */
static int flip(struct mig_driver *d, struct mig *m, const char *why)
{
	uint64_t t0 = drv_mono_ns();
	unsigned int i;
	int ret = 0;

	if (m->flipped) {
		if (m->flipped_by_handler) {
			m->flipped_by_handler = false;
			drv_log(d, m,
				"cutover (%s): %u endpoints forward to %s, flipped as soon as the "
				"STOP event was read",
				why, m->r.n_eps, m->r.target_host);
		}
		return 0;
	}
	ret = flip_fast_path(d, m, &i);
	if (ret) {
		char reason[160];

		snprintf(reason, sizeof(reason), "the fast path refused to forward endpoint %u: %s", i + 1,
			 strerror(-ret));
		qmp_migrate_cancel(m->qmp, drv_qto(d));
		source_stop_here(d, m, MIG_PHASE_FAILED, reason);
		return -1;
	}
	m->flipped = true;
	drv_log(d, m, "cutover (%s): %u endpoints forward to %s (%llu us)", why, m->r.n_eps,
		m->r.target_host, (unsigned long long)((drv_mono_ns() - t0) / 1000));
	return 0;
}

/*
 * After the flip, before the pause: frames the fast path delivered to the VM's tap just
 * before the flip may still wait in the tap's queue (QEMU reads it from its main loop,
 * which a migration keeps busy), and a paused VM never reads them: they would be lost.
 * Waits until QEMU has handed the guest all it will (the receive queue's used index of
 * every virtio-net device stops moving), at most 200 ms.
 */
static void drain_port(struct mig_driver *d, struct mig *m)
{
	uint64_t t0 = drv_mono_ns(), end = t0 + 200000000ull;
	uint16_t last[4] = {0}, used;
	unsigned int stable = 0, moved = 0;

	if (m->n_nics == 0)
		return;
	for (size_t i = 0; i < m->n_nics; i++)
		if (qmp_virtio_queue_used_idx(m->qmp, m->nics[i], 0, &last[i], drv_qto(d)))
			return;
	while (stable < 3 && drv_mono_ns() < end) {
		bool same = true;
		struct timespec pause = {0, 1000000};

		nanosleep(&pause, NULL);
		for (size_t i = 0; i < m->n_nics; i++) {
			if (qmp_virtio_queue_used_idx(m->qmp, m->nics[i], 0, &used, drv_qto(d)))
				return;
			if (used != last[i]) {
				moved += (uint16_t)(used - last[i]);
				same = false;
			}
			last[i] = used;
		}
		stable = same ? stable + 1 : 0;
	}
	drv_log(d, m,
		"the VM took %u more frames from its port in %.1f ms after the cutover%s; pausing it",
		moved, (drv_mono_ns() - t0) / 1e6,
		stable < 3 ? " (still taking them: pausing anyway)" : "");
}

/* The driver's own switchover: flip, let the VM take what is on its port, pause it. */
static void switch_now(struct mig_driver *d, struct mig *m, const char *why)
{
	int ret;

	if (flip(d, m, why) < 0)
		return;
	drain_port(d, m);
	if (m->qemu_stopped) /* QEMU paused it meanwhile */
		return;
	ret = qmp_stop(m->qmp, drv_qto(d));
	if (ret) {
		char reason[300];

		snprintf(reason, sizeof(reason), "QEMU did not pause the VM for the switchover: %s",
			 qmp_last_error(m->qmp));
		qmp_migrate_cancel(m->qmp, drv_qto(d));
		source_stop_here(d, m, MIG_PHASE_FAILED, reason);
		return;
	}
	m->stop_sent = true;
}

/*
 * The driver's switchover decision, at each look at pre-copy: once the bytes left (and
 * those the guest dirties meanwhile) can be sent within the downtime budget, flip the
 * fast path first and pause the VM right after, so that no frame is delivered to a VM
 * that no longer reads its port (a tap's queue is not migrated); QEMU then sends what is
 * left and waits at pre-switchover. QEMU's own downtime-limit is kept at 1 ms so that it
 * rarely stops the VM first; if it does anyway, the STOP event flips at once.
 */
static void maybe_switch(struct mig_driver *d, struct mig *m)
{
	const struct mig_qemu_stats *q = &m->r.qemu;
	uint64_t budget = switch_budget_ms(&m->r);
	unsigned int every = d->cfg.query_interval_ms ? d->cfg.query_interval_ms : 20;
	uint64_t left, predicted_ms;
	char progress[160];

	if (m->qemu_decides || m->flipped || q->passes < 2 || q->throughput == 0)
		return;
	left = q->bytes_remaining + q->dirty_rate * every / 1000;
	predicted_ms = left * 1000 / q->throughput;
	precopy_progress(q, progress, sizeof(progress));
	if (q->passes != m->logged_pass) {
		m->logged_pass = q->passes;
		drv_log(d, m, "%s: about %llu ms to send (budget %llu ms)", progress,
			(unsigned long long)predicted_ms, (unsigned long long)budget);
	}
	if (predicted_ms > budget)
		return;
	drv_log(d, m, "switchover: %s: about %llu ms to send, within the %llu ms budget", progress,
		(unsigned long long)predicted_ms, (unsigned long long)budget);
	switch_now(d, m, "the driver's switchover");
}

/*
 * The same decision from QEMU's MIGRATION_PASS events alone, which arrive at once where a
 * query-migrate may wait long for QEMU's main loop: the time a pass takes is about the
 * time its bytes take to send, and passes shrink by about the same ratio each time, so
 * the pass starting now should take d(n-1)^2 / d(n-2). If that fits the budget, this
 * pass is the last.
 */
static void maybe_switch_on_pass(struct mig_driver *d, struct mig *m, const struct qmp_event *ev)
{
	uint64_t budget = switch_budget_ms(&m->r);
	int64_t d1, d2;
	uint64_t predicted_ms;

	m->pass_us[0] = m->pass_us[1];
	m->pass_us[1] = m->pass_us[2];
	m->pass_us[2] = ev->qemu_time_us;
	if (m->qemu_decides || m->flipped || ev->pass < 3 || !m->pass_us[0])
		return;
	d1 = m->pass_us[1] - m->pass_us[0];
	d2 = m->pass_us[2] - m->pass_us[1];
	if (d1 <= 0 || d2 <= 0 || d2 >= d1)
		return; /* not shrinking: the convergence policy's business */
	predicted_ms = (uint64_t)(d2 * d2 / d1) / 1000;
	if (predicted_ms > budget)
		return;
	drv_log(d, m,
		"pass %lld began; the last two took %.1f and %.1f ms, so this one should take "
		"about %llu ms: within the %llu ms budget",
		(long long)ev->pass, d1 / 1e3, d2 / 1e3, (unsigned long long)predicted_ms,
		(unsigned long long)budget);
	switch_now(d, m, "the driver's switchover, on QEMU's pass event");
}

/* QEMU waits at pre-switchover with the VM paused: the fast path forwards already (or now);
 * let QEMU finish. */
static void switchover(struct mig_driver *d, struct mig *m)
{
	int ret;

	if (flip(d, m, "QEMU paused at pre-switchover") < 0)
		return;
	ret = qmp_migrate_continue(m->qmp, QMP_MIGRATION_PRE_SWITCHOVER, drv_qto(d));
	if (ret) {
		char reason[300];

		snprintf(reason, sizeof(reason), "migrate-continue failed: %s", qmp_last_error(m->qmp));
		qmp_migrate_cancel(m->qmp, drv_qto(d));
		source_stop_here(d, m, MIG_PHASE_FAILED, reason);
		return;
	}
	m->continued = true;
	drv_log(d, m, "QEMU waited at pre-switchover; let go (migrate-continue)");
}

/* QEMU says the migration failed or was cancelled. */
static void source_qemu_stopped(struct mig_driver *d, struct mig *m, bool cancelled)
{
	struct qmp_migrate_info mi;
	char reason[400];

	memset(&mi, 0, sizeof(mi));
	qmp_query_migrate(m->qmp, &mi, drv_qto(d));
	if (m->cancel_requested)
		snprintf(reason, sizeof(reason), "%s", m->cancel_reason);
	else if (cancelled)
		snprintf(reason, sizeof(reason), "QEMU cancelled the migration");
	else
		snprintf(reason, sizeof(reason), "QEMU reports the migration failed%s%s",
			 mi.error_desc[0] ? ": " : "", mi.error_desc);
	/* Whatever the phase, QEMU resumes the VM here after a failed or cancelled outgoing
	 * migration that had not completed: the VM runs on this host. */
	source_stop_here(d, m, m->cancel_requested ? MIG_PHASE_CANCELLED : MIG_PHASE_FAILED, reason);
}

void source_event(struct mig_driver *d, struct mig *m, const struct qmp_event *ev)
{
	if (ev->kind == QMP_EVENT_STOP && !m->r.paused_ns &&
	    (m->r.phase == MIG_PHASE_PRECOPY || m->r.phase == MIG_PHASE_BLACKOUT)) {
		m->r.paused_ns = (uint64_t)ev->qemu_time_us * 1000;
		if (m->precopy_start_ns && m->r.paused_ns > m->precopy_start_ns)
			m->r.source_brownout_ns = m->r.paused_ns - m->precopy_start_ns;
		/* QEMU paused the VM on its own (it converged first, or post-copy starts):
		 * flip now rather than at pre-switchover. */
		if (!m->flipped)
			flip(d, m, "QEMU paused the VM");
		return;
	}
	if (ev->kind == QMP_EVENT_MIGRATION_PASS) {
		/* A new pass: QEMU just counted what is left; look now, not at the next tick. */
		m->next_query_ns = 0;
		if (m->r.phase == MIG_PHASE_PRECOPY)
			maybe_switch_on_pass(d, m, ev);
		return;
	}
	if (ev->kind != QMP_EVENT_MIGRATION)
		return;
	switch (ev->migration_status) {
	case QMP_MIGRATION_PRE_SWITCHOVER:
		if ((m->r.phase == MIG_PHASE_PRECOPY || m->r.phase == MIG_PHASE_BLACKOUT) &&
		    !m->continued)
			switchover(d, m);
		break;
	case QMP_MIGRATION_POSTCOPY_ACTIVE:
		m->r.qemu.post_copy = true;
		if (m->r.phase == MIG_PHASE_BLACKOUT)
			drv_enter(m, MIG_PHASE_POSTCOPY);
		break;
	case QMP_MIGRATION_COMPLETED:
		if (m->r.phase == MIG_PHASE_BLACKOUT || m->r.phase == MIG_PHASE_POSTCOPY) {
			drv_enter(m, MIG_PHASE_CONVERGING);
			m->target_deadline_ns = drv_mono_ns() + 10000000000ull;
			drv_log(d, m,
				"QEMU completed; the VM runs on %s, this host forwards its frames "
				"there until EndForwarding",
				m->r.target_host);
		}
		break;
	case QMP_MIGRATION_FAILED:
	case QMP_MIGRATION_CANCELLED:
		if (!mig_phase_final(m->r.phase) && m->r.phase != MIG_PHASE_CONVERGING)
			source_qemu_stopped(d, m, ev->migration_status == QMP_MIGRATION_CANCELLED);
		break;
	default:
		break;
	}
}

void source_query(struct mig_driver *d, struct mig *m, uint64_t now)
{
	struct qmp_migrate_info mi;
	unsigned int every = d->cfg.query_interval_ms ? d->cfg.query_interval_ms : 20;

	if (!m->qmp || now < m->next_query_ns)
		return;
	m->next_query_ns = now + (uint64_t)every * 1000000;
	if (m->r.phase == MIG_PHASE_CONVERGING && m->final_stats_done)
		return;
	if (qmp_query_migrate(m->qmp, &mi, drv_qto(d)) != 0)
		return;
	switch_fill_qemu(&m->r, &mi);
	if (m->r.phase == MIG_PHASE_PRECOPY) {
		if (m->r.opt.switchover_timeout_ms &&
		    now - m->precopy_start_ns > m->r.opt.switchover_timeout_ms * 1000000) {
			snprintf(m->cancel_reason, sizeof(m->cancel_reason),
				 "no switchover within the deadline of %llu ms (%llu bytes left after "
				 "%llu passes, dirtying %llu B/s, sending %llu B/s)",
				 (unsigned long long)m->r.opt.switchover_timeout_ms,
				 (unsigned long long)m->r.qemu.bytes_remaining,
				 (unsigned long long)m->r.qemu.passes,
				 (unsigned long long)m->r.qemu.dirty_rate,
				 (unsigned long long)m->r.qemu.throughput);
			drv_log(d, m, "%s: cancelling", m->cancel_reason);
			qmp_migrate_cancel(m->qmp, drv_qto(d));
			/* The MIGRATION cancelled event finishes it; the record says FAILED. */
			m->cancel_requested = false;
			source_stop_here(d, m, MIG_PHASE_FAILED, m->cancel_reason);
			return;
		}
		converge(d, m);
		if (m->qmp && m->r.phase == MIG_PHASE_PRECOPY)
			maybe_switch(d, m);
	}
	if (m->r.phase == MIG_PHASE_CONVERGING) {
		/* QEMU 7.2 fills total-time and downtime a little after it says completed. */
		if ((mi.has_downtime && mi.downtime_ms > 0) || ++m->final_queries > 20) {
			m->final_stats_done = true;
			drv_log(d, m,
				"QEMU: total %llu ms, downtime %llu ms, setup %llu ms, %llu bytes "
				"in %llu passes",
				(unsigned long long)m->r.qemu.total_time_ms,
				(unsigned long long)m->r.qemu.downtime_ms,
				(unsigned long long)m->r.qemu.setup_time_ms,
				(unsigned long long)m->r.qemu.bytes_transferred,
				(unsigned long long)m->r.qemu.passes);
			/* Nothing more to learn from the source QEMU: free its monitor for the
			 * orchestrator (QEMU serves one client at a time). */
			qmp_close(m->qmp);
			m->qmp = NULL;
		}
	}
}
