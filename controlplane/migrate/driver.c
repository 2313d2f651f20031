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

#include <dirent.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "driver.h"
#include "qmp.h"

/* The runtime state of a migration, beside its public record. */
struct mig {
	struct mig_record r;
	struct qmp *qmp;        /* the local QEMU: the source's or the incoming one */
	bool migrate_started;   /* source: QMP migrate was accepted */
	bool continued;         /* source: migrate-continue was sent */
	bool flipped;           /* source: the endpoints forward to the target */
	bool stop_sent;         /* source: the driver paused the VM (QMP stop) */
	bool flip_started;      /* source: flip_fast_path() ran */
	bool flipped_by_handler;
	bool qemu_stopped;      /* source: a STOP event was read */
	/* source: every port of the VM keeps its frames while it is paused (vhost-user), so
	 * QEMU may pause it whenever it likes: QEMU decides the switchover, with the budget
	 * as its downtime-limit. Otherwise (taps) the driver decides, flipping first. */
	bool qemu_decides;
	char nics[4][QMP_QOM_PATH_MAX]; /* source: the VM's virtio-net devices */
	size_t n_nics;
	bool cancel_requested;  /* source: by the operator */
	char cancel_reason[160];
	uint64_t next_query_ns; /* CLOCK_MONOTONIC */
	uint64_t precopy_start_ns;
	/* convergence policy */
	uint64_t last_pass;
	uint64_t best_remaining;
	unsigned int stalled_passes;
	unsigned int escalation; /* 0 none, 1 throttled harder, 2 post-copy */
	uint64_t logged_pass;
	int64_t pass_us[3]; /* QEMU's times of the last three MIGRATION_PASS events */
	/* completion */
	unsigned int final_queries;  /* source: re-queries for QEMU's final figures */
	bool final_stats_done;
	bool target_seen;            /* source: the target's activation is known */
	bool target_gone;            /* source: the target stopped answering */
	uint64_t target_deadline_ns; /* source: stop asking the target after this */
	uint64_t next_target_query_ns;
	/* counters at the start, for deltas */
	uint64_t base_forwarded, base_held, base_released, base_dropped;
	struct mig_driver *d;
	struct mig *next; /* newest first */
};

struct mig_driver {
	struct mig_driver_config cfg;
	struct mig *list;
	unsigned int n;
	uint64_t id_seq;
};

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

static uint64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void logf_(struct mig_driver *d, const struct mig *m, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void logf_(struct mig_driver *d, const struct mig *m, const char *fmt, ...)
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

static int qto(const struct mig_driver *d)
{
	return d->cfg.qmp_timeout_ms > 0 ? d->cfg.qmp_timeout_ms : 5000;
}

/* ---- records ---- */

static void enter(struct mig *m, uint8_t phase)
{
	struct mig_record *r = &m->r;
	uint64_t now = wall_ns();

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

static void finish(struct mig_driver *d, struct mig *m, uint8_t phase, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void finish(struct mig_driver *d, struct mig *m, uint8_t phase, const char *fmt, ...)
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
	enter(m, phase);
	if (phase == MIG_PHASE_COMPLETED)
		logf_(d, m, "completed");
	else
		logf_(d, m, "%s in %s: %s", mig_phase_name(phase), mig_phase_name(m->r.failed_phase),
		      m->r.failure_reason);
	qmp_close(m->qmp);
	m->qmp = NULL;
}

static struct mig *find(struct mig_driver *d, const char *id)
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

static struct mig *add(struct mig_driver *d, const char *id, uint8_t role, const char *vm)
{
	struct mig *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	if (id && *id)
		snprintf(m->r.id, sizeof(m->r.id), "%s", id);
	else
		snprintf(m->r.id, sizeof(m->r.id), "mig-%06llx",
			 (unsigned long long)((wall_ns() / 1000 + ++d->id_seq) & 0xffffff));
	m->r.role = role;
	m->d = d;
	snprintf(m->r.vm_name, sizeof(m->r.vm_name), "%s", vm ? vm : "");
	m->r.requested_ns = wall_ns();
	enter(m, MIG_PHASE_REQUESTED);
	m->next = d->list;
	d->list = m;
	d->n++;
	trim(d);
	return m;
}

const struct mig_record *mig_find(struct mig_driver *d, const char *id)
{
	struct mig *m = id ? find(d, id) : NULL;

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

static int connect_vm(struct mig_driver *d, struct mig *m, char *err, size_t len)
{
	char path[PATH_MAX], why[256];
	int ret;

	snprintf(path, sizeof(path), "%s/%s.qmp", d->cfg.qemu_dir, m->r.vm_name);
	ret = qmp_connect(&m->qmp, path, qto(d) < 2000 ? qto(d) : 2000, why, sizeof(why));
	if (ret)
		snprintf(err, len, "cannot reach the QEMU monitor of %s at %s: %s", m->r.vm_name, path,
			 why);
	return ret;
}

static uint64_t counter(struct fabric *fab, unsigned int which)
{
	struct fab_host_stats st;

	fabric_stats(fab, &st);
	return st.counters[which];
}

static uint64_t hold_drops(struct fabric *fab)
{
	struct fab_host_stats st;

	fabric_stats(fab, &st);
	return st.drops[FAB_DROP_HOLD_OVERFLOW] + st.drops[FAB_DROP_HOLD_TIMEOUT] +
	       st.drops[FAB_DROP_HOLD_CANCELLED];
}

static bool valid_name(const char *s)
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

/* ---- source ---- */

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
					logf_(d, m, "QEMU's migration thread (%d) runs at nice 10 so that QMP "
						    "stays responsive", tid);
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
			logf_(d, m, "could not point vni %u mac %s back at port %s: %s", e->key.vni,
			      mac, e->source_port, strerror(-ret));
		}
	}
}

static void tell_target_abort(struct mig_driver *d, struct mig *m, const char *reason)
{
	char err[256];
	int ret = d->cfg.target->abort(d->cfg.target_ctx, &m->r, reason, err, sizeof(err));

	if (ret)
		logf_(d, m, "could not tell the target %s to drop its INCOMING state: %s",
		      m->r.target_host, err);
}

/* The migration stops with the VM on this host: QEMU stopped (cancelled or failed),
 * the fabric points here, the target is told. */
static void source_stop_here(struct mig_driver *d, struct mig *m, uint8_t phase,
			     const char *reason)
{
	/* The endpoints first, so that frames arriving meanwhile wait on the VM's port (read
	 * when it resumes) rather than go to a target that drops them. Then the VM: QEMU
	 * resumes one it paused itself; one the driver paused, the driver resumes. */
	source_take_back(d, m);
	if (m->stop_sent && m->qmp && qmp_cont(m->qmp, qto(d)) != 0)
		logf_(d, m, "could not resume the VM here: %s", qmp_last_error(m->qmp));
	m->stop_sent = false;
	tell_target_abort(d, m, reason);
	finish(d, m, phase, "%s", reason);
}

/* The request's blackout budget, or the default 300 ms. */
static uint64_t budget_ms(const struct mig_record *r)
{
	return r->opt.downtime_limit_ms ? r->opt.downtime_limit_ms : 300;
}

static void fill_qemu(struct mig_record *r, const struct qmp_migrate_info *mi)
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

/* The convergence policy, at each new pass: escalate when the bytes left stop shrinking. */
static void converge(struct mig_driver *d, struct mig *m)
{
	struct mig_qemu_stats *q = &m->r.qemu;
	unsigned int limit = d->cfg.stall_passes ? d->cfg.stall_passes : 3;
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
	if (m->escalation == 0 && m->r.opt.auto_converge) {
		struct qmp_migrate_params p = {.has_cpu_throttle_increment = true,
					       .cpu_throttle_increment = 20,
					       .has_max_cpu_throttle = true,
					       .max_cpu_throttle = 99};

		m->escalation = 1;
		ret = qmp_migrate_set_parameters(m->qmp, &p, qto(d));
		logf_(d, m,
		      "pre-copy is not converging (%llu bytes left after pass %llu, dirtying %llu B/s, "
		      "sending %llu B/s, throttle %u%%): throttling harder (increment 20%%, max 99%%)%s%s",
		      (unsigned long long)q->bytes_remaining, (unsigned long long)q->passes,
		      (unsigned long long)q->dirty_rate, (unsigned long long)q->throughput,
		      q->cpu_throttle_percent, ret ? ": QEMU refused: " : "",
		      ret ? qmp_last_error(m->qmp) : "");
		return;
	}
	if (m->escalation < 2 && m->r.opt.allow_post_copy) {
		m->escalation = 2;
		ret = qmp_migrate_start_postcopy(m->qmp, qto(d));
		logf_(d, m,
		      "pre-copy is not converging (%llu bytes left after pass %llu, dirtying %llu B/s, "
		      "sending %llu B/s, throttle %u%%): switching to post-copy%s%s",
		      (unsigned long long)q->bytes_remaining, (unsigned long long)q->passes,
		      (unsigned long long)q->dirty_rate, (unsigned long long)q->throughput,
		      q->cpu_throttle_percent, ret ? ": QEMU refused: " : "",
		      ret ? qmp_last_error(m->qmp) : "");
		return;
	}
	if (m->escalation < 3) {
		m->escalation = 3;
		logf_(d, m,
		      "pre-copy is not converging (%llu bytes left after pass %llu, dirtying %llu B/s, "
		      "sending %llu B/s) and nothing is left to escalate to (auto-converge %s, "
		      "post-copy %s): waiting%s",
		      (unsigned long long)q->bytes_remaining, (unsigned long long)q->passes,
		      (unsigned long long)q->dirty_rate, (unsigned long long)q->throughput,
		      m->r.opt.auto_converge ? "on" : "off", m->r.opt.allow_post_copy ? "allowed" : "not allowed",
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

	enter(m, MIG_PHASE_BLACKOUT);
	m->base_forwarded = counter(d->cfg.fab, FAB_CTR_FORWARDED);
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
static bool on_source_event(struct qmp *q, const struct qmp_event *ev, void *opaque)
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
	uint64_t t0 = mono_ns();
	unsigned int i;
	int ret = 0;

	if (m->flipped) {
		if (m->flipped_by_handler) {
			m->flipped_by_handler = false;
			logf_(d, m, "cutover (%s): %u endpoints forward to %s, flipped as soon as the "
				    "STOP event was read", why, m->r.n_eps, m->r.target_host);
		}
		return 0;
	}
	ret = flip_fast_path(d, m, &i);
	if (ret) {
		char reason[160];

		snprintf(reason, sizeof(reason), "the fast path refused to forward endpoint %u: %s", i + 1,
			 strerror(-ret));
		qmp_migrate_cancel(m->qmp, qto(d));
		source_stop_here(d, m, MIG_PHASE_FAILED, reason);
		return -1;
	}
	m->flipped = true;
	logf_(d, m, "cutover (%s): %u endpoints forward to %s (%llu us)", why, m->r.n_eps,
	      m->r.target_host, (unsigned long long)((mono_ns() - t0) / 1000));
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
	uint64_t t0 = mono_ns(), end = t0 + 200000000ull;
	uint16_t last[4] = {0}, used;
	unsigned int stable = 0, moved = 0;

	if (m->n_nics == 0)
		return;
	for (size_t i = 0; i < m->n_nics; i++)
		if (qmp_virtio_queue_used_idx(m->qmp, m->nics[i], 0, &last[i], qto(d)))
			return;
	while (stable < 3 && mono_ns() < end) {
		bool same = true;
		struct timespec pause = {0, 1000000};

		nanosleep(&pause, NULL);
		for (size_t i = 0; i < m->n_nics; i++) {
			if (qmp_virtio_queue_used_idx(m->qmp, m->nics[i], 0, &used, qto(d)))
				return;
			if (used != last[i]) {
				moved += (uint16_t)(used - last[i]);
				same = false;
			}
			last[i] = used;
		}
		stable = same ? stable + 1 : 0;
	}
	logf_(d, m, "the VM took %u more frames from its port in %.1f ms after the cutover%s; pausing it", moved,
	      (mono_ns() - t0) / 1e6, stable < 3 ? " (still taking them: pausing anyway)" : "");
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
	ret = qmp_stop(m->qmp, qto(d));
	if (ret) {
		char reason[300];

		snprintf(reason, sizeof(reason), "QEMU did not pause the VM for the switchover: %s",
			 qmp_last_error(m->qmp));
		qmp_migrate_cancel(m->qmp, qto(d));
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
	uint64_t budget = budget_ms(&m->r);
	unsigned int every = d->cfg.query_interval_ms ? d->cfg.query_interval_ms : 20;
	uint64_t left, predicted_ms;

	if (m->qemu_decides || m->flipped || q->passes < 2 || q->throughput == 0)
		return;
	left = q->bytes_remaining + q->dirty_rate * every / 1000;
	predicted_ms = left * 1000 / q->throughput;
	if (q->passes != m->logged_pass) {
		m->logged_pass = q->passes;
		logf_(d, m, "pass %llu: %llu bytes left, dirtying %llu B/s, sending %llu B/s: about "
			    "%llu ms to send (budget %llu ms)",
		      (unsigned long long)q->passes, (unsigned long long)q->bytes_remaining,
		      (unsigned long long)q->dirty_rate, (unsigned long long)q->throughput,
		      (unsigned long long)predicted_ms, (unsigned long long)budget);
	}
	if (predicted_ms > budget)
		return;
	logf_(d, m, "switchover: %llu bytes left after pass %llu, dirtying %llu B/s, sending %llu "
		    "B/s: about %llu ms to send, within the %llu ms budget",
	      (unsigned long long)q->bytes_remaining, (unsigned long long)q->passes,
	      (unsigned long long)q->dirty_rate, (unsigned long long)q->throughput,
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
	uint64_t budget = budget_ms(&m->r);
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
	logf_(d, m, "pass %lld began; the last two took %.1f and %.1f ms, so this one should take "
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
	ret = qmp_migrate_continue(m->qmp, QMP_MIGRATION_PRE_SWITCHOVER, qto(d));
	if (ret) {
		char reason[300];

		snprintf(reason, sizeof(reason), "migrate-continue failed: %s", qmp_last_error(m->qmp));
		qmp_migrate_cancel(m->qmp, qto(d));
		source_stop_here(d, m, MIG_PHASE_FAILED, reason);
		return;
	}
	m->continued = true;
	logf_(d, m, "QEMU waited at pre-switchover; let go (migrate-continue)");
}

/* QEMU says the migration failed or was cancelled. */
static void source_qemu_stopped(struct mig_driver *d, struct mig *m, bool cancelled)
{
	struct qmp_migrate_info mi;
	char reason[400];

	memset(&mi, 0, sizeof(mi));
	qmp_query_migrate(m->qmp, &mi, qto(d));
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

static void source_event(struct mig_driver *d, struct mig *m, const struct qmp_event *ev)
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
			enter(m, MIG_PHASE_POSTCOPY);
		break;
	case QMP_MIGRATION_COMPLETED:
		if (m->r.phase == MIG_PHASE_BLACKOUT || m->r.phase == MIG_PHASE_POSTCOPY) {
			enter(m, MIG_PHASE_CONVERGING);
			m->target_deadline_ns = mono_ns() + 10000000000ull;
			logf_(d, m, "QEMU completed; the VM runs on %s, this host forwards its frames "
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

static void source_query(struct mig_driver *d, struct mig *m, uint64_t now)
{
	struct qmp_migrate_info mi;
	unsigned int every = d->cfg.query_interval_ms ? d->cfg.query_interval_ms : 20;

	if (!m->qmp || now < m->next_query_ns)
		return;
	m->next_query_ns = now + (uint64_t)every * 1000000;
	if (m->r.phase == MIG_PHASE_CONVERGING && m->final_stats_done)
		return;
	if (qmp_query_migrate(m->qmp, &mi, qto(d)) != 0)
		return;
	fill_qemu(&m->r, &mi);
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
			logf_(d, m, "%s: cancelling", m->cancel_reason);
			qmp_migrate_cancel(m->qmp, qto(d));
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
			logf_(d, m, "QEMU: total %llu ms, downtime %llu ms, setup %llu ms, %llu bytes "
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

/* After the switchover: learn when the target activated, keep the figures current, and
 * complete once every endpoint stopped forwarding (EndForwarding). */
static void source_converging(struct mig_driver *d, struct mig *m, uint64_t now)
{
	struct mig_record *r = &m->r;
	bool forwarding = false;

	r->packets.forwarded = counter(d->cfg.fab, FAB_CTR_FORWARDED) - m->base_forwarded;
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
			logf_(d, m, "the target activated the VM (%s) %.3f ms after it paused here; "
				    "%llu frames held there, %llu released",
			      v.trigger == MIG_TRIGGER_QMP_RESUME	 ? "QMP RESUME"
			      : v.trigger == MIG_TRIGGER_GUEST_ANNOUNCEMENT ? "guest announcement"
									 : "API",
			      r->blackout_ns / 1e6, (unsigned long long)v.packets.held,
			      (unsigned long long)v.packets.released);
		} else if (now > m->target_deadline_ns) {
			m->target_seen = true;
			m->target_gone = true;
			logf_(d, m, "the target did not report the activation within 10 s%s%s",
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
			r->target_brownout_ns = wall_ns() - r->activated_ns;
		finish(d, m, MIG_PHASE_COMPLETED, "%s", "");
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
		m = find(d, req->id);
		if (m) {
			if (m->r.role != MIG_ROLE_SOURCE)
				return snprintf(err, len, "migration_id: %s is a migration this host is "
							  "the target of", req->id), -EINVAL;
			*out = &m->r;
			return 0;
		}
		if (strlen(req->id) >= MIG_ID_MAX || !valid_name(req->id))
			return snprintf(err, len, "migration_id: at most %d letters, digits, '-', '_' "
						  "or '.'", MIG_ID_MAX - 1), -EINVAL;
	}
	if (!valid_name(req->vm_name))
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

	m = add(d, req->id, MIG_ROLE_SOURCE, req->vm_name);
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

	enter(m, MIG_PHASE_PREPARING);
	ret = connect_vm(d, m, err, len);
	if (ret == 0)
		qmp_set_event_handler(m->qmp, on_source_event, m);
	if (ret == 0) {
		struct qmp_status st;
		struct qmp_migrate_info mi;

		if ((ret = qmp_query_status(m->qmp, &st, qto(d))) ||
		    (ret = qmp_query_migrate(m->qmp, &mi, qto(d))))
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
			.downtime_limit_ms = m->qemu_decides ? budget_ms(r) : 1,
			.has_max_bandwidth = r->opt.max_bandwidth != 0,
			.max_bandwidth = r->opt.max_bandwidth,
		};

		if ((ret = qmp_migrate_set_capabilities(m->qmp, caps, 4, qto(d))) ||
		    (ret = qmp_migrate_set_parameters(m->qmp, &p, qto(d))))
			snprintf(err, len, "QEMU: %s", qmp_last_error(m->qmp));
		/* The VM's NICs, to wait for their queues at the switchover (drain_port); a
		 * QEMU without virtio introspection is migrated without that wait. */
		if (ret == 0 && qmp_virtio_net_paths(m->qmp, m->nics, 4, &m->n_nics, qto(d)))
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
		ret = qmp_migrate(m->qmp, r->uri, qto(d));
		if (ret) {
			snprintf(err, len, "QEMU did not start migrating to %s: %s", r->uri,
				 qmp_last_error(m->qmp));
			tell_target_abort(d, m, err);
		}
	}
	if (ret) {
		/* Nothing changed here: the endpoints stay LOCAL at their generation. */
		finish(d, m, MIG_PHASE_FAILED, "%s", err);
		return -EIO;
	}
	m->migrate_started = true;
	/* When QEMU decides, nothing waits on QMP during pre-copy: the copy keeps its speed. */
	if (!m->qemu_decides)
		yield_migration_thread(d, m);
	m->precopy_start_ns = wall_ns();
	enter(m, MIG_PHASE_PRECOPY);
	logf_(d, m, "pre-copy to %s (%s) started, generation %llu, blackout budget %llu ms (%s), "
		    "auto-converge %s, post-copy %s, deadline %llu ms",
	      r->target_host, r->uri, (unsigned long long)gen,
	      (unsigned long long)budget_ms(r),
	      m->qemu_decides ? "QEMU's downtime-limit: the VM's ports hold its frames while it is paused"
			      : "the driver switches over: a paused VM's tap queue is lost",
	      r->opt.auto_converge ? "on" : "off",
	      r->opt.allow_post_copy ? "allowed" : "off",
	      (unsigned long long)r->opt.switchover_timeout_ms);
	return 0;
}

/* ---- target ---- */

/* Points every endpoint not yet activated back at the source (REMOTE at g+1), or deletes
 * it where this host did not know it before. */
static void target_give_back(struct mig_driver *d, struct mig *m)
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
			logf_(d, m, "could not drop the INCOMING state of vni %u mac %s: %s", e->key.vni,
			      mac, strerror(-ret));
		}
	}
}

static void target_packets(struct mig_driver *d, struct mig *m)
{
	m->r.packets.held = counter(d->cfg.fab, FAB_CTR_HELD) - m->base_held;
	m->r.packets.released = counter(d->cfg.fab, FAB_CTR_RELEASED) - m->base_released;
	m->r.packets.dropped = hold_drops(d->cfg.fab) - m->base_dropped;
}

/* The VM runs here: every endpoint LOCAL, the VM announced. */
static void target_activate(struct mig_driver *d, struct mig *m, uint8_t trigger)
{
	struct mig_record *r = &m->r;
	uint64_t now = wall_ns();

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
			logf_(d, m, "could not activate vni %u mac %s: %s", r->eps[i].key.vni, mac,
			      strerror(-ret));
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
	ret = qmp_announce_self(m->qmp, &ann, qto(d));
	target_packets(d, m);
	logf_(d, m, "the VM resumed here: endpoints LOCAL (%s), %llu frames held, %llu released, "
		    "%llu dropped; announce-self %s",
	      m->r.activation_trigger == MIG_TRIGGER_QMP_RESUME ? "on QMP RESUME"
								 : "on the guest's announcement",
	      (unsigned long long)m->r.packets.held, (unsigned long long)m->r.packets.released,
	      (unsigned long long)m->r.packets.dropped, ret ? qmp_last_error(m->qmp) : "sent");
	finish(d, m, MIG_PHASE_COMPLETED, "%s", "");
}

static void target_event(struct mig_driver *d, struct mig *m, const struct qmp_event *ev)
{
	if (ev->kind == QMP_EVENT_RESUME) {
		target_resumed(d, m);
		return;
	}
	if (ev->kind != QMP_EVENT_MIGRATION)
		return;
	if (ev->migration_status == QMP_MIGRATION_ACTIVE && m->r.phase == MIG_PHASE_PREPARING)
		enter(m, MIG_PHASE_PRECOPY);
	else if (ev->migration_status == QMP_MIGRATION_COMPLETED && !m->r.activated_ns) {
		/* The source's driver paused the VM before the switchover, so QEMU here keeps it
		 * paused (it was not running when its state was sent): start it. */
		if (qmp_cont(m->qmp, qto(d)) != 0)
			logf_(d, m, "could not start the VM here: %s", qmp_last_error(m->qmp));
		else
			logf_(d, m, "the incoming migration completed; VM started (cont)");
	}
	else if (ev->migration_status == QMP_MIGRATION_FAILED ||
		 ev->migration_status == QMP_MIGRATION_CANCELLED) {
		target_give_back(d, m);
		target_packets(d, m);
		finish(d, m, MIG_PHASE_FAILED, "the incoming migration %s (QEMU)",
		       ev->migration_status == QMP_MIGRATION_FAILED ? "failed" : "was cancelled");
	}
}

int mig_prepare_incoming(struct mig_driver *d, const struct mig_incoming *in, char *err,
			 size_t len)
{
	struct mig *m;
	struct mig_endpoint *e;
	struct fab_flow f;
	int ret;

	if (!in->id || !*in->id || !valid_name(in->id))
		return snprintf(err, len, "migration_id: required with incoming_migration_uri (letters, "
					  "digits, '-', '_', '.')"), -EINVAL;
	m = find(d, in->id);
	if (m && (m->r.role != MIG_ROLE_TARGET || mig_phase_final(m->r.phase)))
		return snprintf(err, len, "migration_id: %s is %s here", in->id,
				m->r.role != MIG_ROLE_TARGET ? "a migration this host is the source of"
							     : "a finished migration"), -EEXIST;
	if (!m && (!in->uri || !*in->uri))
		return snprintf(err, len, "incoming_migration_uri: required for the first endpoint of "
					  "migration %s", in->id), -EINVAL;
	if (!m) {
		if (!valid_name(in->vm_name))
			return snprintf(err, len, "vm_name: required with incoming_migration_uri (it "
						  "names the QEMU monitor %s/VM.qmp)", d->cfg.qemu_dir),
			       -EINVAL;
		if (strlen(in->uri) >= MIG_URI_MAX ||
		    (strncmp(in->uri, "tcp:", 4) && strncmp(in->uri, "unix:", 5)))
			return snprintf(err, len, "incoming_migration_uri: \"tcp:HOST:PORT\" or "
						  "\"unix:PATH\""), -EINVAL;
		m = add(d, in->id, MIG_ROLE_TARGET, in->vm_name);
		if (!m)
			return snprintf(err, len, "out of memory"), -ENOMEM;
		snprintf(m->r.uri, sizeof(m->r.uri), "%s", in->uri);
		snprintf(m->r.source_host, sizeof(m->r.source_host), "%s", in->source_host ? in->source_host : "");
		snprintf(m->r.target_host, sizeof(m->r.target_host), "%s", d->cfg.host_name ? d->cfg.host_name : "");
		m->r.source_vtep = in->source_vtep;
		m->r.target_vtep = d->cfg.vtep;
		m->r.generation = in->generation;
		m->r.opt.allow_post_copy = in->allow_post_copy;
		m->base_held = counter(d->cfg.fab, FAB_CTR_HELD);
		m->base_released = counter(d->cfg.fab, FAB_CTR_RELEASED);
		m->base_dropped = hold_drops(d->cfg.fab);
		enter(m, MIG_PHASE_PREPARING);
		ret = connect_vm(d, m, err, len);
		if (ret == 0) {
			struct qmp_capability caps[] = {{"events", true},
							{"postcopy-ram", in->allow_post_copy}};

			if ((ret = qmp_migrate_set_capabilities(m->qmp, caps, 2, qto(d))) ||
			    (ret = qmp_migrate_incoming(m->qmp, in->uri, qto(d))))
				snprintf(err, len, "the incoming QEMU of %s: %s", in->vm_name,
					 qmp_last_error(m->qmp));
		}
		if (ret) {
			finish(d, m, MIG_PHASE_FAILED, "%s", err);
			return -EIO;
		}
		logf_(d, m, "QEMU listens on %s for the VM from %s, generation %llu", in->uri,
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

/* ---- both ---- */

int mig_cancel(struct mig_driver *d, const char *id, const char *reason, char *err, size_t len)
{
	struct mig *m = id ? find(d, id) : NULL;
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
		finish(d, m, MIG_PHASE_CANCELLED, "%s", why);
		return 0;
	}
	if (m->r.phase >= MIG_PHASE_BLACKOUT)
		return snprintf(err, len, "migration %s is past the switchover (%s): the VM belongs to "
					  "%s; migrate it back instead", id, mig_phase_name(m->r.phase),
				m->r.target_host), -EBUSY;
	m->cancel_requested = true;
	snprintf(m->cancel_reason, sizeof(m->cancel_reason), "%s", why);
	if (m->qmp && m->migrate_started)
		qmp_migrate_cancel(m->qmp, qto(d));
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
				m->r.activated_ns = wall_ns();
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
			finish(d, m, MIG_PHASE_COMPLETED, "%s", "");
			return;
		}
		target_give_back(d, m);
		target_packets(d, m);
		finish(d, m, MIG_PHASE_FAILED, "the incoming QEMU went away before the VM ran here");
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
			enter(m, MIG_PHASE_CONVERGING);
			return;
		}
		finish(d, m, MIG_PHASE_FAILED, "the source QEMU went away during the switchover and the "
					       "target did not activate the VM: it runs nowhere");
		return;
	}
	tell_target_abort(d, m, "the source QEMU went away");
	finish(d, m, MIG_PHASE_FAILED, "the source QEMU went away during %s: the VM is gone",
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
	uint64_t now = mono_ns();

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
			    wall_ns() - m->r.finished_ns < 3000000000ull)
				target_packets(d, m);
			continue;
		}
		running++;
		if (m->r.role == MIG_ROLE_TARGET) {
			if (m->r.activated_ns && m->qmp == NULL)
				finish(d, m, MIG_PHASE_COMPLETED, "%s", "");
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
