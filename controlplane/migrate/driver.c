/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The migration driver (driver.h): one state machine per migration, advanced by
 * mig_poll() on fabricd's control thread.
 *
 * Source:  PREPARING -> PRECOPY -> BLACKOUT [-> POSTCOPY] -> CONVERGING -> COMPLETED
 * Target:  PREPARING [-> PRECOPY] -> COMPLETED (the VM runs here)
 * Either may end FAILED or CANCELLED. Generations: the move sets g+1 (g the highest
 * held); a migration that stops before the VM runs on the target moves every endpoint
 * back to the source at g+2 on both hosts, so that a later migration (g+3) wins on both.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "driver_internal.h"

static const char *const phase_names[] = {
	"UNSPECIFIED", "REQUESTED",  "PREPARING", "PRECOPY",   "BLACKOUT", "POSTCOPY",
	"CONVERGING",  "DRAINING",   "COMPLETED", "FAILED",    "CANCELLED",
};

const char *mig_phase_name(uint8_t phase)
{
	return phase < sizeof(phase_names) / sizeof(phase_names[0]) ? phase_names[phase] : "?";
}

bool mig_phase_final(uint8_t phase)
{
	return phase == MIG_PHASE_COMPLETED || phase == MIG_PHASE_FAILED ||
	       phase == MIG_PHASE_CANCELLED;
}

uint64_t drv_wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t drv_mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void drv_log(struct mig_driver *d, const struct mig *m, const char *fmt, ...)
{
	char line[768];
	int n = snprintf(line, sizeof(line), "migration %s (%s %s): ", m->r.id,
			 m->r.role == MIG_ROLE_SOURCE ? "source of" : "target of", m->r.vm_name);
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	if (d->cfg.log) {
		d->cfg.log(d->cfg.log_ctx, line);
	} else {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		localtime_r(&ts.tv_sec, &tm);
		fprintf(stderr, "fabricd: %02d:%02d:%02d.%03ld %s\n", tm.tm_hour, tm.tm_min, tm.tm_sec,
			ts.tv_nsec / 1000000, line);
	}
}

int drv_qto(const struct mig_driver *d)
{
	return d->cfg.qmp_timeout_ms > 0 ? d->cfg.qmp_timeout_ms : 5000;
}

/* ---- records ---- */

void drv_enter(struct mig *m, uint8_t phase)
{
	struct mig_record *r = &m->r;
	uint64_t now = drv_wall_ns();

	if (r->phase == phase)
		return;
	if (r->n_spans && r->timeline[r->n_spans - 1].end_ns == 0)
		r->timeline[r->n_spans - 1].end_ns = now;
	r->phase = phase;
	if (mig_phase_final(phase)) {
		r->finished_ns = now;
		return;
	}
	if (r->n_spans < MIG_MAX_SPANS)
		r->timeline[r->n_spans++] = (struct mig_span){.phase = phase, .start_ns = now};
}

void drv_finish(struct mig_driver *d, struct mig *m, uint8_t phase, const char *fmt, ...)
{
	va_list ap;

	if (mig_phase_final(m->r.phase))
		return;
	if (phase != MIG_PHASE_COMPLETED) {
		m->r.failed_phase = m->r.phase;
		va_start(ap, fmt);
		vsnprintf(m->r.failure_reason, sizeof(m->r.failure_reason), fmt, ap);
		va_end(ap);
	}
	drv_enter(m, phase);
	if (phase == MIG_PHASE_COMPLETED)
		drv_log(d, m, "completed");
	else
		drv_log(d, m, "%s in %s: %s", mig_phase_name(phase),
			mig_phase_name(m->r.failed_phase), m->r.failure_reason);
	qmp_close(m->qmp);
	m->qmp = NULL;
}

struct mig *drv_find(struct mig_driver *d, const char *id)
{
	for (struct mig *m = d->list; m; m = m->next)
		if (strcmp(m->r.id, id) == 0)
			return m;
	return NULL;
}

/* Frees the oldest finished records beyond the configured number. */
static void trim(struct mig_driver *d)
{
	unsigned int keep = d->cfg.keep_finished ? d->cfg.keep_finished : 64, finished = 0;
	struct mig **pp = &d->list;

	while (*pp) {
		struct mig *m = *pp;

		if (mig_phase_final(m->r.phase) && ++finished > keep) {
			*pp = m->next;
			qmp_close(m->qmp);
			free(m);
			d->n--;
			continue;
		}
		pp = &m->next;
	}
}

struct mig *drv_add(struct mig_driver *d, const char *id, uint8_t role, const char *vm)
{
	struct mig *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (id && *id)
		snprintf(m->r.id, sizeof(m->r.id), "%s", id);
	else
		snprintf(m->r.id, sizeof(m->r.id), "mig-%06llx",
			 (unsigned long long)((drv_wall_ns() / 1000 + ++d->id_seq) & 0xffffff));
	m->r.role = role;
	m->d = d;
	snprintf(m->r.vm_name, sizeof(m->r.vm_name), "%s", vm ? vm : "");
	m->r.requested_ns = drv_wall_ns();
	drv_enter(m, MIG_PHASE_REQUESTED);
	m->next = d->list;
	d->list = m;
	d->n++;
	trim(d);
	return m;
}

const struct mig_record *mig_find(struct mig_driver *d, const char *id)
{
	struct mig *m = id ? drv_find(d, id) : NULL;

	return m ? &m->r : NULL;
}

const struct mig_record *mig_at(struct mig_driver *d, unsigned int i)
{
	struct mig *m = d->list;

	while (m && i--)
		m = m->next;
	return m ? &m->r : NULL;
}

int mig_driver_create(struct mig_driver **out, const struct mig_driver_config *cfg)
{
	struct mig_driver *d;

	if (!out || !cfg || !cfg->fab || !cfg->qemu_dir || !cfg->target || !cfg->target->prepare ||
	    !cfg->target->abort || !cfg->target->query)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	d->cfg = *cfg;
	*out = d;
	return 0;
}

void mig_driver_destroy(struct mig_driver *d)
{
	if (!d)
		return;
	while (d->list) {
		struct mig *m = d->list;

		d->list = m->next;
		qmp_close(m->qmp);
		free(m);
	}
	free(d);
}

/* ---- shared helpers ---- */

int drv_connect_vm(struct mig_driver *d, struct mig *m, char *err, size_t len)
{
	char path[PATH_MAX], why[256];
	int ret;

	snprintf(path, sizeof(path), "%s/%s.qmp", d->cfg.qemu_dir, m->r.vm_name);
	ret = qmp_connect(&m->qmp, path, drv_qto(d) < 2000 ? drv_qto(d) : 2000, why, sizeof(why));
	if (ret)
		snprintf(err, len, "cannot reach the QEMU monitor of %s at %s: %s", m->r.vm_name, path,
			 why);
	return ret;
}

uint64_t drv_counter(struct fabric *fab, unsigned int which)
{
	struct fab_host_stats st;

	fabric_stats(fab, &st);
	return st.counters[which];
}

uint64_t drv_hold_drops(struct fabric *fab)
{
	struct fab_host_stats st;

	fabric_stats(fab, &st);
	return st.drops[FAB_DROP_HOLD_OVERFLOW] + st.drops[FAB_DROP_HOLD_TIMEOUT] +
	       st.drops[FAB_DROP_HOLD_CANCELLED];
}

bool drv_valid_name(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n >= MIG_NAME_MAX || s[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

/* ---- both ---- */

int mig_cancel(struct mig_driver *d, const char *id, const char *reason, char *err, size_t len)
{
	struct mig *m = id ? drv_find(d, id) : NULL;
	char why[160];

	if (!m)
		return snprintf(err, len, "no migration %s on this host", id ? id : ""), -ENOENT;
	snprintf(why, sizeof(why), "%.159s", reason && *reason ? reason : "cancelled by the operator");
	if (m->r.phase == MIG_PHASE_CANCELLED)
		return 0;
	if (mig_phase_final(m->r.phase))
		return snprintf(err, len, "migration %s is %s already", id, mig_phase_name(m->r.phase)),
		       -EALREADY;
	if (m->r.role == MIG_ROLE_TARGET) {
		if (m->r.activated_ns)
			return snprintf(err, len, "the VM runs on this host already"), -EBUSY;
		target_give_back(d, m);
		target_packets(d, m);
		drv_finish(d, m, MIG_PHASE_CANCELLED, "%s", why);
		return 0;
	}
	if (m->r.phase >= MIG_PHASE_BLACKOUT)
		return snprintf(err, len, "migration %s is past the switchover (%s): the VM belongs to "
					  "%s; migrate it back instead", id, mig_phase_name(m->r.phase),
				m->r.target_host), -EBUSY;
	m->cancel_requested = true;
	snprintf(m->cancel_reason, sizeof(m->cancel_reason), "%s", why);
	if (m->qmp && m->migrate_started)
		qmp_migrate_cancel(m->qmp, drv_qto(d));
	source_stop_here(d, m, MIG_PHASE_CANCELLED, why);
	return 0;
}

void mig_on_fabric_event(struct mig_driver *d, const struct fab_event *ev)
{
	if (!d || ev->kind != FAB_EVENT_ACTIVATED)
		return;
	for (struct mig *m = d->list; m; m = m->next) {
		if (m->r.role != MIG_ROLE_TARGET || mig_phase_final(m->r.phase))
			continue;
		for (unsigned int i = 0; i < m->r.n_eps; i++) {
			if (memcmp(&m->r.eps[i].key, &ev->key, sizeof(ev->key)) != 0 ||
			    ev->loc.generation != m->r.generation)
				continue;
			m->r.eps[i].activated = true;
			if (!m->r.activated_ns) {
				m->r.activated_ns = drv_wall_ns();
				m->r.activation_trigger = MIG_TRIGGER_GUEST_ANNOUNCEMENT;
			}
		}
	}
}

static void handle_input(struct mig_driver *d, struct mig *m)
{
	struct qmp_event ev;
	int ret = qmp_process_input(m->qmp);

	while (m->qmp && qmp_next_event(m->qmp, &ev) == 0) {
		if (m->r.role == MIG_ROLE_SOURCE)
			source_event(d, m, &ev);
		else
			target_event(d, m, &ev);
		if (mig_phase_final(m->r.phase))
			return;
	}
	if (ret >= 0 || !m->qmp || mig_phase_final(m->r.phase))
		return;
	/* QEMU went away. */
	if (m->r.role == MIG_ROLE_TARGET) {
		if (m->r.activated_ns) {
			drv_finish(d, m, MIG_PHASE_COMPLETED, "%s", "");
			return;
		}
		target_give_back(d, m);
		target_packets(d, m);
		drv_finish(d, m, MIG_PHASE_FAILED, "the incoming QEMU went away before the VM ran here");
		return;
	}
	qmp_close(m->qmp);
	m->qmp = NULL;
	if (m->r.phase == MIG_PHASE_CONVERGING) {
		m->final_stats_done = true; /* the figures seen so far are all there will be */
		return;
	}
	if (m->r.phase == MIG_PHASE_BLACKOUT || m->r.phase == MIG_PHASE_POSTCOPY) {
		/* Whether the VM lives on depends on the target: it does if it was activated. */
		struct mig_target_view v = {0};
		char err[256];

		if (d->cfg.target->query(d->cfg.target_ctx, &m->r, &v, err, sizeof(err)) == 0 &&
		    v.activated_ns) {
			m->final_stats_done = true;
			drv_enter(m, MIG_PHASE_CONVERGING);
			return;
		}
		drv_finish(d, m, MIG_PHASE_FAILED,
			   "the source QEMU went away during the switchover and the "
			   "target did not activate the VM: it runs nowhere");
		return;
	}
	tell_target_abort(d, m, "the source QEMU went away");
	drv_finish(d, m, MIG_PHASE_FAILED, "the source QEMU went away during %s: the VM is gone",
		   mig_phase_name(m->r.phase));
}

int mig_poll(struct mig_driver *d)
{
	if (!d)
		return 0;

	struct pollfd fds[64];
	struct mig *who[64];
	unsigned int n = 0;
	int running = 0;
	uint64_t now = drv_mono_ns();

	for (struct mig *m = d->list; m && n < 64; m = m->next) {
		if (!m->qmp)
			continue;
		fds[n] = (struct pollfd){.fd = qmp_fd(m->qmp), .events = POLLIN};
		who[n++] = m;
	}
	/* Every open monitor, readable or not: a QMP call made since the last poll may have
	 * read events into the queue that the socket no longer announces. */
	if (n)
		poll(fds, n, 0);
	for (unsigned int i = 0; i < n; i++)
		if (who[i]->qmp)
			handle_input(d, who[i]);
	for (struct mig *m = d->list; m; m = m->next) {
		if (mig_phase_final(m->r.phase)) {
			/* A target's hold queue drains in bursts after the activation: its
			 * figures settle for a few seconds more. */
			if (m->r.role == MIG_ROLE_TARGET && m->r.activated_ns &&
			    drv_wall_ns() - m->r.finished_ns < 3000000000ull)
				target_packets(d, m);
			continue;
		}
		running++;
		if (m->r.role == MIG_ROLE_TARGET) {
			if (m->r.activated_ns && m->qmp == NULL)
				drv_finish(d, m, MIG_PHASE_COMPLETED, "%s", "");
			continue;
		}
		source_query(d, m, now);
		if (!mig_phase_final(m->r.phase) && m->r.phase == MIG_PHASE_CONVERGING)
			source_converging(d, m, now);
	}
	return running;
}

bool mig_busy(struct mig_driver *d)
{
	for (struct mig *m = d ? d->list : NULL; m; m = m->next)
		if (m->qmp && !mig_phase_final(m->r.phase))
			return true;
	return false;
}

int mig_wait(struct mig_driver *d, int timeout_ms)
{
	struct pollfd fds[64];
	unsigned int n = 0;

	for (struct mig *m = d ? d->list : NULL; m && n < 64; m = m->next)
		if (m->qmp)
			fds[n++] = (struct pollfd){.fd = qmp_fd(m->qmp), .events = POLLIN};
	return n ? poll(fds, n, timeout_ms) : 0;
}
