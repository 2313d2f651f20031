/* SPDX-License-Identifier: Apache-2.0 */
/* A migration record for people (the full record, the table) and for scripts (JSON). */
#include <stddef.h>
#include <string.h>
#include <time.h>

#include "migration_print.h"

#define PHASE(p) FABRIC__V1__MIGRATION_PHASE__MIGRATION_PHASE_##p
#define MIB (1024.0 * 1024.0)

const char *migration_phase_name(int phase)
{
	const char *name = enum_short_name(&fabric__v1__migration_phase__descriptor, phase);

	return name ? name : "?";
}

static const char *role_name(int role)
{
	const char *name = enum_short_name(&fabric__v1__migration_role__descriptor, role);

	return name ? name : "?";
}

bool migration_settled(int phase)
{
	return phase == PHASE(CONVERGING) || phase == PHASE(DRAINING) || phase == PHASE(COMPLETED) ||
	       migration_failed(phase);
}

bool migration_failed(int phase)
{
	return phase == PHASE(FAILED) || phase == PHASE(CANCELLED);
}

uint64_t migration_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Unix nanoseconds as local time, with milliseconds when `ms`; "-" for 0. */
static void local_time(uint64_t ns, bool ms, char *out, size_t len)
{
	time_t sec = (time_t)(ns / 1000000000ull);
	struct tm tm;
	size_t n;

	if (!ns || !localtime_r(&sec, &tm)) {
		snprintf(out, len, "-");
		return;
	}
	n = strftime(out, len, "%Y-%m-%d %H:%M:%S", &tm);
	if (ms && n)
		snprintf(out + n, len - n, ".%03u", (unsigned)(ns / 1000000ull % 1000));
}

/* Nanoseconds as milliseconds with `decimals` places; "-" for 0 (not measured yet). */
static void ms_or_dash(uint64_t ns, int decimals, char *out, size_t len)
{
	if (!ns)
		snprintf(out, len, "-");
	else
		snprintf(out, len, "%.*f ms", decimals, (double)ns / 1e6);
}

static void print_options(FILE *out, const Fabric__V1__MigrationOptions *o)
{
	Fabric__V1__MigrationOptions none = FABRIC__V1__MIGRATION_OPTIONS__INIT;

	if (!o)
		o = &none;
	fprintf(out, "%-13s ", "options");
	if (o->downtime_limit_ms)
		fprintf(out, "downtime limit %llu ms, ", (unsigned long long)o->downtime_limit_ms);
	else
		fputs("downtime limit 300 ms (default), ", out);
	if (o->max_bandwidth_bytes_per_second)
		fprintf(out, "max bandwidth %.1f MiB/s, ", (double)o->max_bandwidth_bytes_per_second / MIB);
	else
		fputs("max bandwidth QEMU's default, ", out);
	fprintf(out, "auto-converge %s, post-copy %s, ", o->auto_converge ? "on" : "off",
		o->allow_post_copy ? "allowed" : "not allowed");
	if (o->switchover_timeout_ms)
		fprintf(out, "switchover deadline %llu ms, ", (unsigned long long)o->switchover_timeout_ms);
	else
		fputs("no switchover deadline, ", out);
	if (o->drain_ms)
		fprintf(out, "drain %llu ms\n", (unsigned long long)o->drain_ms);
	else
		fputs("drain fabricd's default\n", out);
}

static bool phase_is_final(int phase)
{
	return phase == PHASE(COMPLETED) || migration_failed(phase);
}

/* Each phase with how long it lasted; the current one so far, and a final one (which
 * never ends) only with when it was reached. */
static void print_timeline(FILE *out, const Fabric__V1__Migration *m)
{
	uint64_t now = migration_now_ns();

	if (!m->n_timeline)
		fprintf(out, "%-13s -\n", "timeline");
	for (size_t i = 0; i < m->n_timeline; i++) {
		const Fabric__V1__MigrationPhaseSpan *s = m->timeline[i];
		uint64_t end = s->end_unix_ns ? s->end_unix_ns : now;
		char at[32], took[32] = "";

		local_time(s->start_unix_ns, true, at, sizeof(at));
		if (!phase_is_final(s->phase))
			snprintf(took, sizeof(took), "%10.1f ms%s",
				 end > s->start_unix_ns ? (double)(end - s->start_unix_ns) / 1e6 : 0.0,
				 s->end_unix_ns ? "" : " so far");
		fprintf(out, "%-13s %-11s %-20s %s %s\n", i ? "" : "timeline",
			migration_phase_name(s->phase), took,
			phase_is_final(s->phase) ? "reached" : "from", at);
	}
}

static void print_qemu(FILE *out, const Fabric__V1__QemuMigrationStats *q)
{
	if (!q) {
		fprintf(out, "%-13s - (QEMU's figures are in the source's record)\n", "qemu");
		return;
	}
	fprintf(out, "%-13s total %llu ms, downtime %llu ms, setup %llu ms\n", "qemu",
		(unsigned long long)q->total_time_ms, (unsigned long long)q->downtime_ms,
		(unsigned long long)q->setup_time_ms);
	fprintf(out, "%-13s %.1f MiB sent, %.1f of %.1f MiB left after %llu pass%s\n", "",
		(double)q->bytes_transferred / MIB, (double)q->bytes_remaining / MIB,
		(double)q->bytes_total / MIB, (unsigned long long)q->passes, q->passes == 1 ? "" : "es");
	fprintf(out, "%-13s dirty %.1f MiB/s, throughput %.1f MiB/s, throttle %u%%, expected downtime "
		     "%llu ms\n",
		"", (double)q->dirty_rate_bytes_per_second / MIB,
		(double)q->throughput_bytes_per_second / MIB, q->cpu_throttle_percent,
		(unsigned long long)q->expected_downtime_ms);
	if (q->post_copy)
		fprintf(out, "%-13s switched to post-copy; %llu page request%s from the target\n", "",
			(unsigned long long)q->postcopy_requests, q->postcopy_requests == 1 ? "" : "s");
}

static void print_convergence(FILE *out, const Fabric__V1__Migration *m)
{
	const Fabric__V1__MigrationConvergence *c = m->convergence;
	char took[32];

	if (!c)
		return;
	ms_or_dash(m->convergence_ns, 3, took, sizeof(took));
	fprintf(out, "%-13s %s; acked by", "convergence", took);
	for (size_t i = 0; i < c->n_acks; i++)
		fprintf(out, "%s %s (generation %llu)", i ? "," : "", c->acks[i]->host_name,
			(unsigned long long)c->acks[i]->generation);
	fputs(c->n_acks ? "" : " none yet", out);
	if (c->n_hosts_pending) {
		fputs("; pending", out);
		for (size_t i = 0; i < c->n_hosts_pending; i++)
			fprintf(out, "%s %s", i ? "," : "", c->hosts_pending[i]);
	}
	fputc('\n', out);
}

void migration_print_text(FILE *out, const Fabric__V1__Migration *m)
{
	const Fabric__V1__MigrationPacketStats *p = m->packets;
	const char *trigger = enum_short_name(&fabric__v1__activation_trigger__descriptor,
					      m->activation_trigger);
	char t1[32], t2[32], t3[32];

	fprintf(out, "%-13s %s, this host's %s record\n", "migration", m->migration_id,
		role_name(m->role));
	fprintf(out, "%-13s %s, generation %llu\n", "vm", m->vm_name, (unsigned long long)m->generation);
	fprintf(out, "%-13s %s (vtep %s)\n", "from", m->source_host_name, m->source_vtep);
	fprintf(out, "%-13s %s (vtep %s)%s%s\n", "to", m->target_host_name, m->target_vtep,
		m->target_migration_uri && *m->target_migration_uri ? ", QEMU at " : "",
		m->target_migration_uri ? m->target_migration_uri : "");
	fprintf(out, "%-13s %s", "phase", migration_phase_name(m->phase));
	if (migration_failed(m->phase))
		fprintf(out, " in %s: %s", migration_phase_name(m->failed_phase),
			m->failure_reason && *m->failure_reason ? m->failure_reason : "(no reason given)");
	fputc('\n', out);
	local_time(m->requested_unix_ns, true, t1, sizeof(t1));
	local_time(m->finished_unix_ns, true, t2, sizeof(t2));
	fprintf(out, "%-13s %s\n%-13s %s\n", "requested", t1, "finished", t2);
	print_options(out, m->options);
	for (size_t i = 0; i < m->n_endpoints; i++)
		fprintf(out, "%-13s vni %u mac %s: port %s on the source, %s on the target\n",
			i ? "" : "endpoints", m->endpoints[i]->vni, m->endpoints[i]->mac,
			m->endpoints[i]->source_port_name, m->endpoints[i]->target_port_name);
	print_timeline(out, m);
	print_qemu(out, m->qemu);
	ms_or_dash(m->blackout_ns, 3, t1, sizeof(t1));
	fprintf(out, "%-13s %s (the fabric's: from the pause on the source to the activation on the "
		     "target)\n",
		"blackout", t1);
	local_time(m->activated_unix_ns, true, t1, sizeof(t1));
	if (m->activated_unix_ns)
		fprintf(out, "%-13s %s at %s\n", "activation",
			trigger && m->activation_trigger ? trigger : "unknown trigger", t1);
	else
		fprintf(out, "%-13s not yet\n", "activation");
	ms_or_dash(m->source_brownout_ns, 1, t1, sizeof(t1));
	ms_or_dash(m->target_brownout_ns, 1, t3, sizeof(t3));
	fprintf(out, "%-13s source %s, target %s\n", "brownout", t1, t3);
	if (p)
		fprintf(out, "%-13s forwarded %llu, held %llu, released %llu, dropped %llu (hold queue "
			     "peak %llu)\n",
			"packets", (unsigned long long)p->packets_forwarded,
			(unsigned long long)p->packets_held, (unsigned long long)p->packets_released,
			(unsigned long long)p->packets_dropped,
			(unsigned long long)p->hold_queue_peak_packets);
	else
		fprintf(out, "%-13s -\n", "packets");
	print_convergence(out, m);
}

void migration_print_json(FILE *out, const Fabric__V1__Migration *m)
{
	json_message(out, &m->base);
}

/* The width of a column: its header or its widest value. `field_offset` is where the
 * column's string field (char *) sits in Fabric__V1__Migration. */
static int column_width(const char *header, Fabric__V1__Migration *const *ms, size_t n,
			size_t field_offset)
{
	size_t w = strlen(header);

	for (size_t i = 0; i < n; i++) {
		const char *s = *(const char *const *)((const char *)ms[i] + field_offset);

		if (s && strlen(s) > w)
			w = strlen(s);
	}
	return (int)w;
}

void migration_print_table(FILE *out, Fabric__V1__Migration *const *ms, size_t n)
{
	int wid = column_width("ID", ms, n, offsetof(Fabric__V1__Migration, migration_id));
	int wvm = column_width("VM", ms, n, offsetof(Fabric__V1__Migration, vm_name));
	int wfrom = column_width("FROM", ms, n, offsetof(Fabric__V1__Migration, source_host_name));
	int wto = column_width("TO", ms, n, offsetof(Fabric__V1__Migration, target_host_name));

	fprintf(out, "%-*s %-10s %-*s %-*s %-*s %-10s %-19s %9s %11s %11s %6s %6s %6s %6s\n", wid, "ID",
		"ROLE", wvm, "VM", wfrom, "FROM", wto, "TO", "PHASE", "STARTED", "TOTAL-MS",
		"DOWNTIME-MS", "BLACKOUT-MS", "FWD", "HELD", "REL", "DROP");
	for (size_t i = 0; i < n; i++) {
		const Fabric__V1__Migration *m = ms[i];
		const Fabric__V1__MigrationPacketStats *p = m->packets;
		char started[32], total[24], down[24], black[24], c[4][16];
		uint64_t counts[4] = {0};

		local_time(m->requested_unix_ns, false, started, sizeof(started));
		/* QEMU's total time where the record has QEMU's figures (the source's); the
		 * target's record has none, so its time from the request to the end. */
		if (m->qemu && m->qemu->total_time_ms)
			snprintf(total, sizeof(total), "%llu", (unsigned long long)m->qemu->total_time_ms);
		else if (!m->qemu && m->finished_unix_ns > m->requested_unix_ns && m->requested_unix_ns)
			snprintf(total, sizeof(total), "%llu",
				 (unsigned long long)((m->finished_unix_ns - m->requested_unix_ns) / 1000000));
		else
			snprintf(total, sizeof(total), "-");
		if (m->qemu && m->qemu->downtime_ms)
			snprintf(down, sizeof(down), "%llu", (unsigned long long)m->qemu->downtime_ms);
		else
			snprintf(down, sizeof(down), "-");
		if (m->blackout_ns)
			snprintf(black, sizeof(black), "%.1f", (double)m->blackout_ns / 1e6);
		else
			snprintf(black, sizeof(black), "-");
		if (p) {
			counts[0] = p->packets_forwarded;
			counts[1] = p->packets_held;
			counts[2] = p->packets_released;
			counts[3] = p->packets_dropped;
		}
		for (int k = 0; k < 4; k++)
			human_count(counts[k], c[k], sizeof(c[k]));
		fprintf(out, "%-*s %-10s %-*s %-*s %-*s %-10s %-19s %9s %11s %11s %6s %6s %6s %6s\n", wid,
			m->migration_id, role_name(m->role), wvm, m->vm_name, wfrom, m->source_host_name,
			wto, m->target_host_name, migration_phase_name(m->phase), started, total, down,
			black, c[0], c[1], c[2], c[3]);
	}
	fprintf(out, "%zu migration%s\n", n, n == 1 ? "" : "s");
}

void migration_print_failure(const char *what, const Fabric__V1__Migration *m)
{
	const char *reason = m->failure_reason && *m->failure_reason ? m->failure_reason
								      : "fabricd gave no reason";

	if (m->phase == PHASE(CANCELLED))
		fprintf(stderr, "fabricctl: %s: migration %s was CANCELLED in %s (%s); %s still runs on "
				"%s\n",
			what, m->migration_id, migration_phase_name(m->failed_phase), reason, m->vm_name,
			m->source_host_name);
	else
		fprintf(stderr, "fabricctl: %s: migration %s FAILED in %s: %s (fabricctl flows shows "
				"where %s's endpoints are now)\n",
			what, m->migration_id, migration_phase_name(m->failed_phase), reason, m->vm_name);
}

int migration_call_fail(const char *what, const char *id, const struct rpc_result *res)
{
	if (res->status == RPC_NOT_FOUND) {
		fprintf(stderr, "fabricctl: %s: no migration %s on this host (fabricctl migrations lists "
				"them)\n",
			what, id);
		return EXIT_REFUSED;
	}
	return ctl_fail(what, res);
}
