/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fabricctl migrate: starts a VM's live migration on its source host (Agent.StartMigration)
 * and follows it (Agent.GetMigration) until the VM runs on the target or the migration is
 * over, with a progress line, then the record's summary. Ctrl-C while following cancels
 * the migration (Agent.CancelMigration) and keeps following until it has ended.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "migration_print.h"

#define CANCEL_REASON "cancelled from fabricctl"
#define MIB (1024.0 * 1024.0)

struct migrate_args {
	const char *vm;
	const char *to;
	const char *vtep;
	const char *agent;
	const char *uri;
	const char *id;
	uint64_t generation;
	uint64_t downtime_limit_ms;
	uint64_t max_bandwidth;
	uint64_t deadline_ms;
	uint64_t interval_ms;
	bool auto_converge;
	bool post_copy;
	bool no_wait;
};

/* How the progress is shown: one line redrawn in place on a terminal, one line per phase
 * otherwise, nothing with --json. */
struct progress {
	bool tty;
	bool quiet;
	bool line_open; /* a line is on the terminal without its newline */
	int last_phase;
	struct timespec start;
};

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
	(void)sig;
	interrupted = 1;
}

/* "HOST:PORT", "[v6]:PORT": something before the last colon, a port after it. */
static bool is_host_port(const char *s)
{
	const char *colon = strrchr(s, ':');
	uint64_t port = 0;
	const char *p;

	if (!colon || colon == s || !colon[1])
		return false;
	for (p = colon + 1; *p >= '0' && *p <= '9' && port <= 65535; p++)
		port = port * 10 + (uint64_t)(*p - '0');
	return !*p && port >= 1 && port <= 65535;
}

/* A QMP migration URI: a scheme ("tcp", "unix", "rdma", ...), a colon, and an address. */
static bool is_migration_uri(const char *s)
{
	const char *colon = strchr(s, ':');

	return colon && colon > s && colon[1];
}

static int parse_migrate(int argc, char **argv, struct migrate_args *a, bool *json)
{
	char missing[96] = "";
	int ret;

	memset(a, 0, sizeof(*a));
	a->interval_ms = 200;
	for (int i = 0; i < argc; i++) {
		const char *o = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (o[0] != '-') {
			if (a->vm)
				return ctl_usage_error("migrate: one VM at a time ('%s' and '%s'; fabricctl "
						       "migrate --help)",
						       a->vm, o);
			a->vm = o;
			continue;
		}
		if (opt_is(o, "json")) {
			*json = true;
			continue;
		}
		if (opt_is(o, "auto-converge")) {
			a->auto_converge = true;
			continue;
		}
		if (opt_is(o, "post-copy")) {
			a->post_copy = true;
			continue;
		}
		if (opt_is(o, "no-wait")) {
			a->no_wait = true;
			continue;
		}
		if (!opt_is(o, "to") && !opt_is(o, "target-vtep") && !opt_is(o, "target-agent") &&
		    !opt_is(o, "uri") && !opt_is(o, "id") && !opt_is(o, "generation") &&
		    !opt_is(o, "downtime-limit-ms") && !opt_is(o, "max-bandwidth") &&
		    !opt_is(o, "deadline-ms") && !opt_is(o, "interval-ms"))
			return ctl_usage_error("migrate: unknown option '%s' (fabricctl migrate --help)", o);
		if (!v)
			return ctl_usage_error("migrate: %s needs a value (fabricctl migrate --help)", o);
		i++;
		ret = 0;
		if (opt_is(o, "to")) {
			a->to = v;
		} else if (opt_is(o, "target-vtep")) {
			unsigned char addr[16];

			if (inet_pton(AF_INET, v, addr) != 1 && inet_pton(AF_INET6, v, addr) != 1)
				return ctl_usage_error("migrate --target-vtep '%s': the target's underlay "
						       "address, IPv4 or IPv6",
						       v);
			a->vtep = v;
		} else if (opt_is(o, "target-agent")) {
			if (!is_host_port(v))
				return ctl_usage_error("migrate --target-agent '%s': the target fabricd's "
						       "agent as HOST:PORT, e.g. 192.0.2.12:7411",
						       v);
			a->agent = v;
		} else if (opt_is(o, "uri")) {
			if (!is_migration_uri(v))
				return ctl_usage_error("migrate --uri '%s': where the target's QEMU listens, "
						       "as QMP migrate takes it, e.g. tcp:192.0.2.12:49152",
						       v);
			a->uri = v;
		} else if (opt_is(o, "id")) {
			if (!*v)
				return ctl_usage_error("migrate --id: an ID is not empty");
			a->id = v;
		} else if (opt_is(o, "generation")) {
			ret = opt_u64("migrate", o, v, 1, UINT64_MAX, &a->generation);
		} else if (opt_is(o, "downtime-limit-ms")) {
			ret = opt_u64("migrate", o, v, 1, 3600000, &a->downtime_limit_ms);
		} else if (opt_is(o, "max-bandwidth")) {
			ret = opt_u64("migrate", o, v, 1, UINT64_MAX, &a->max_bandwidth);
		} else if (opt_is(o, "deadline-ms")) {
			ret = opt_u64("migrate", o, v, 1, UINT64_MAX, &a->deadline_ms);
		} else {
			ret = opt_u64("migrate", o, v, 10, 60000, &a->interval_ms);
		}
		if (ret)
			return ret;
	}
	if (!a->vm)
		return ctl_usage_error("migrate needs the VM's name: fabricctl migrate VM --to HOST "
				       "--target-vtep IP --target-agent HOST:PORT --uri URI");
	if (!a->to)
		strcat(missing, missing[0] ? ", --to" : " --to");
	if (!a->vtep)
		strcat(missing, missing[0] ? ", --target-vtep" : " --target-vtep");
	if (!a->agent)
		strcat(missing, missing[0] ? ", --target-agent" : " --target-agent");
	if (!a->uri)
		strcat(missing, missing[0] ? ", --uri" : " --uri");
	if (missing[0])
		return ctl_usage_error("migrate %s: missing%s (the target's host name, underlay address, "
				       "agent HOST:PORT and QEMU's incoming URI; fabricctl migrate --help)",
				       a->vm, missing);
	return 0;
}

/* All three answers (Start, Get, Cancel) are { Migration migration = 1; }: the same
 * layout up front. */
static Fabric__V1__Migration *record_of(ProtobufCMessage *resp)
{
	return resp ? ((Fabric__V1__GetMigrationResponse *)resp)->migration : NULL;
}

static double seconds_since(const struct timespec *t0)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t0->tv_sec) + (double)(now.tv_nsec - t0->tv_nsec) / 1e9;
}

/* Bytes as MiB: whole above 100, one decimal below (the end of a pre-copy pass). */
static void mib(uint64_t bytes, char *out, size_t len)
{
	double v = (double)bytes / MIB;

	snprintf(out, len, v >= 100.0 ? "%.0f" : "%.1f", v);
}

/* The progress line, the most telling figures first, since a terminal narrower than the
 * line cuts its end: phase, memory left of the total, the time left at the current
 * throughput, the guest's dirty rate, the passes, auto-converge's throttle. */
static void progress_line(const struct progress *pr, const Fabric__V1__Migration *m, char *buf,
			  size_t len)
{
	const Fabric__V1__QemuMigrationStats *q = m->qemu;
	char eta[24] = "-", left[24], total[24], rate[24], dirty[24];
	int n, pad;

	n = snprintf(buf, len, "[%6.1fs] %s", seconds_since(&pr->start),
		     migration_phase_name(m->phase));
	if (!q || !q->bytes_total || n < 0 || (size_t)n >= len)
		return;
	if (q->throughput_bytes_per_second)
		snprintf(eta, sizeof(eta), "%.1fs",
			 (double)q->bytes_remaining / (double)q->throughput_bytes_per_second);
	mib(q->bytes_remaining, left, sizeof(left));
	mib(q->bytes_total, total, sizeof(total));
	mib(q->throughput_bytes_per_second, rate, sizeof(rate));
	mib(q->dirty_rate_bytes_per_second, dirty, sizeof(dirty));
	/* The figures start in the same column whatever the phase. */
	pad = 10 - (int)strlen(migration_phase_name(m->phase));
	snprintf(buf + n, len - (size_t)n,
		 "%*s %s/%s MiB left, ETA %s at %s MiB/s, dirty %s MiB/s, pass %llu, throttle %u%%",
		 pad > 0 ? pad : 0, "", left, total, eta, rate, dirty, (unsigned long long)q->passes,
		 q->cpu_throttle_percent);
}

static void progress_show(struct progress *pr, const Fabric__V1__Migration *m)
{
	struct winsize ws;
	char line[320];
	size_t width = 80;

	if (pr->quiet)
		return;
	progress_line(pr, m, line, sizeof(line));
	if (!pr->tty) {
		if ((int)m->phase != pr->last_phase)
			printf("%s\n", line);
		pr->last_phase = m->phase;
		fflush(stdout);
		return;
	}
	/* A line wider than the terminal wraps, and \r would only go back to its last row. */
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 1)
		width = ws.ws_col;
	if (strlen(line) >= width)
		line[width - 1] = '\0';
	printf("\r\033[K%s", line);
	fflush(stdout);
	pr->line_open = true;
	pr->last_phase = m->phase;
}

/* Clears the in-place line, so a message or the summary starts on an empty line. */
static void progress_clear(struct progress *pr)
{
	if (!pr->line_open)
		return;
	printf("\r\033[K");
	fflush(stdout);
	pr->line_open = false;
}

static void nap_ms(uint64_t ms)
{
	struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};

	/* Ctrl-C cuts the nap short (no SA_RESTART): the cancellation goes out at once. */
	nanosleep(&ts, NULL);
}

/*
 * Asks fabricd to cancel migration `id`. On success *resp is the cancelled record. A
 * refusal (the migration passed the switchover: FAILED_PRECONDITION) is said and is not
 * an error: the migration goes on and fabricctl keeps following it. Returns 0 or
 * EXIT_UNREACHABLE.
 */
static int cancel_migration(struct ctl *ctl, const char *id, ProtobufCMessage **resp)
{
	Fabric__V1__CancelMigrationRequest req = FABRIC__V1__CANCEL_MIGRATION_REQUEST__INIT;
	struct rpc_result res;

	req.migration_id = (char *)id;
	req.reason = CANCEL_REASON;
	fprintf(stderr, "fabricctl: migrate: Ctrl-C: asking fabricd to cancel %s, then following it "
			"until it ends (Ctrl-C again stops following at once)\n",
		id);
	if (rpc_client_unary(ctl->client, "/fabric.v1.Agent/CancelMigration", &req.base,
			     &fabric__v1__cancel_migration_response__descriptor, resp, ctl->timeout_ms,
			     &res) == 0)
		return 0;
	*resp = NULL;
	if (res.status == RPC_UNAVAILABLE || res.status == RPC_DEADLINE_EXCEEDED)
		return ctl_fail("migrate: cancel", &res);
	fprintf(stderr, "fabricctl: migrate: fabricd did not cancel %s (%s: %s); it goes on, and "
			"fabricctl keeps following it\n",
		id, rpc_status_name(res.status), res.message[0] ? res.message : "no detail");
	return 0;
}

/*
 * Polls the migration in *resp every `interval_ms` until it settles (see
 * migration_settled), showing progress. *resp always holds the latest record (the
 * caller frees it). Returns 0, or the exit code of a failed call.
 */
static int follow(struct ctl *ctl, uint64_t interval_ms, struct progress *pr,
		  ProtobufCMessage **resp)
{
	Fabric__V1__GetMigrationRequest req = FABRIC__V1__GET_MIGRATION_REQUEST__INIT;
	struct sigaction sa = {.sa_handler = on_interrupt, .sa_flags = SA_RESETHAND};
	char id[256];
	bool cancel_sent = false;
	int ret = 0;

	snprintf(id, sizeof(id), "%s", record_of(*resp)->migration_id);
	req.migration_id = id;
	/* The first Ctrl-C cancels; SA_RESETHAND gives the second its default effect. */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	for (;;) {
		ProtobufCMessage *next = NULL;
		struct rpc_result res;

		progress_show(pr, record_of(*resp));
		if (migration_settled(record_of(*resp)->phase))
			break;
		if (!interrupted || cancel_sent)
			nap_ms(interval_ms);
		if (interrupted && !cancel_sent) {
			cancel_sent = true;
			progress_clear(pr);
			ret = cancel_migration(ctl, id, &next);
			if (ret)
				break;
		}
		if (!next && rpc_client_unary(ctl->client, "/fabric.v1.Agent/GetMigration", &req.base,
					      &fabric__v1__get_migration_response__descriptor, &next,
					      ctl->timeout_ms, &res)) {
			progress_clear(pr);
			ret = migration_call_fail("migrate: following", id, &res);
			break;
		}
		if (!record_of(next)) {
			/* Keep the record we have: an answer without one tells nothing new. */
			if (next)
				protobuf_c_message_free_unpacked(next, NULL);
			continue;
		}
		protobuf_c_message_free_unpacked(*resp, NULL);
		*resp = next;
	}
	progress_clear(pr);
	signal(SIGINT, SIG_DFL);
	return ret;
}

/* What a settled migration means for the operator, once the summary is out. */
static void print_outcome(const Fabric__V1__Migration *m)
{
	if (m->phase == FABRIC__V1__MIGRATION_PHASE__MIGRATION_PHASE_CONVERGING)
		printf("\n%s runs on %s. This host keeps forwarding the frames that still reach it for "
		       "%s to %s until EndForwarding ends it (the controller calls it once every host "
		       "acknowledged the new location; by hand: fabricctl endpoints end-forward).\n",
		       m->vm_name, m->target_host_name, m->vm_name, m->target_vtep);
	else if (m->phase == FABRIC__V1__MIGRATION_PHASE__MIGRATION_PHASE_DRAINING)
		printf("\n%s runs on %s and every host acknowledged it; this host forwards stragglers "
		       "until the drain time has passed.\n",
		       m->vm_name, m->target_host_name);
	else if (m->phase == FABRIC__V1__MIGRATION_PHASE__MIGRATION_PHASE_COMPLETED)
		printf("\n%s runs on %s, and the fabric points at it everywhere.\n", m->vm_name,
		       m->target_host_name);
}

int cmd_migrate(struct ctl *ctl, int argc, char **argv)
{
	Fabric__V1__StartMigrationRequest req = FABRIC__V1__START_MIGRATION_REQUEST__INIT;
	Fabric__V1__MigrationOptions options = FABRIC__V1__MIGRATION_OPTIONS__INIT;
	struct progress pr = {.last_phase = -1};
	const Fabric__V1__Migration *m;
	struct migrate_args a;
	ProtobufCMessage *resp;
	struct rpc_result res;
	int ret = parse_migrate(argc, argv, &a, &ctl->json);

	if (ret)
		return ret;
	ret = ctl_connect(ctl);
	if (ret)
		return ret;
	req.migration_id = (char *)(a.id ? a.id : "");
	req.vm_name = (char *)a.vm;
	req.target_host_name = (char *)a.to;
	req.target_vtep = (char *)a.vtep;
	req.target_agent_address = (char *)a.agent;
	req.target_migration_uri = (char *)a.uri;
	req.generation = a.generation;
	options.downtime_limit_ms = a.downtime_limit_ms;
	options.max_bandwidth_bytes_per_second = a.max_bandwidth;
	options.auto_converge = a.auto_converge;
	options.allow_post_copy = a.post_copy;
	options.switchover_timeout_ms = a.deadline_ms;
	req.options = &options;
	if (rpc_client_unary(ctl->client, "/fabric.v1.Agent/StartMigration", &req.base,
			     &fabric__v1__start_migration_response__descriptor, &resp, ctl->timeout_ms,
			     &res))
		return ctl_fail("migrate", &res);
	m = record_of(resp);
	if (!m) {
		protobuf_c_message_free_unpacked(resp, NULL);
		fprintf(stderr, "fabricctl: migrate: fabricd started the migration but answered no "
				"record; fabricctl migrations shows it\n");
		return EXIT_REFUSED;
	}
	pr.tty = isatty(STDOUT_FILENO);
	pr.quiet = ctl->json;
	clock_gettime(CLOCK_MONOTONIC, &pr.start);
	if (!ctl->json) {
		printf("migration %s: %s from %s to %s (vtep %s)%s\n", m->migration_id, m->vm_name,
		       m->source_host_name, m->target_host_name, m->target_vtep,
		       a.no_wait ? ", started" : "");
		fflush(stdout);
	}
	if (!a.no_wait)
		ret = follow(ctl, a.interval_ms, &pr, &resp);
	if (ret) {
		/* Following failed (the message is out): no record, as it would not be final. */
		protobuf_c_message_free_unpacked(resp, NULL);
		return ret;
	}
	m = record_of(resp);
	if (ctl->json) {
		migration_print_json(stdout, m);
		putchar('\n');
	} else if (a.no_wait) {
		printf("now %s; follow it with: fabricctl migrations show %s\n",
		       migration_phase_name(m->phase), m->migration_id);
	} else {
		migration_print_text(stdout, m);
		print_outcome(m);
	}
	if (migration_failed(m->phase)) {
		migration_print_failure("migrate", m);
		ret = EXIT_REFUSED;
	}
	protobuf_c_message_free_unpacked(resp, NULL);
	return ret;
}
