/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A local live migration between two running QEMU processes, driven through the QMP
 * client the way the migration driver does it: the target listens (migrate-incoming),
 * the source migrates with pause-before-switchover, the demo continues at
 * pre-switchover, waits for completion on both sides, prints QEMU's figures and checks
 * that the target runs and the source is in postmigrate.
 *
 *   qmp_migrate_demo --source SOCK --target SOCK --uri URI [--downtime-limit MS]
 *                    [--max-bandwidth BYTES] [--hold-ms MS] [--timeout-ms MS] [--no-quit]
 *
 * --hold-ms keeps the source paused at pre-switchover that long before continuing, as a
 * driver flipping the fabric would (QEMU counts it in its downtime figure). The target
 * must have been started with -incoming defer. Exits 0 when the migration
 * went through and both sides are where they should be, 1 otherwise (with the reason),
 * 2 for a usage error. Used by test_qmp_real.sh.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "qmp.h"

#define CALL_MS 5000

struct side {
	const char *name;
	struct qmp *q;
	int64_t t0_us; /* the demo's start, on QEMU's clock (CLOCK_REALTIME) */
	struct qmp_event stop, resume; /* the last of each, for the timeline */
	bool has_stop, has_resume;
	int passes;
};

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int64_t realtime_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Every event, as it is read, stamped with QEMU's time since the start (both QEMUs run on
 * this host: one clock); kept in the queue for the waits too. The demo reads a monitor
 * only when it waits on it, so the lines of the two sides can come out of order. */
static bool on_event(struct qmp *q, const struct qmp_event *ev, void *opaque)
{
	struct side *s = opaque;

	(void)q;
	printf("  %8.1f ms  %-6s %s%s%s", (double)(ev->qemu_time_us - s->t0_us) / 1e3, s->name,
	       ev->name, ev->status[0] ? " " : "", ev->status);
	if (ev->kind == QMP_EVENT_MIGRATION_PASS)
		printf(" %" PRId64, ev->pass);
	printf("\n");
	if (ev->kind == QMP_EVENT_STOP) {
		s->stop = *ev;
		s->has_stop = true;
	} else if (ev->kind == QMP_EVENT_RESUME) {
		s->resume = *ev;
		s->has_resume = true;
	} else if (ev->kind == QMP_EVENT_MIGRATION_PASS) {
		s->passes = (int)ev->pass;
	}
	return true;
}

static int failed(const struct side *s, const char *step, int rc)
{
	fprintf(stderr, "qmp_migrate_demo: %s: %s: %s (%s)\n", s->name, step,
		qmp_last_error(s->q), strerror(-rc));
	return 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: qmp_migrate_demo --source SOCK --target SOCK --uri URI "
			"[--downtime-limit MS] [--max-bandwidth BYTES] [--hold-ms MS] "
			"[--timeout-ms MS] "
			"[--no-quit]\n");
}

static int run(struct side *src, struct side *dst, const char *uri,
	       const struct qmp_migrate_params *params, int hold_ms, int timeout_ms)
{
	struct qmp_capability dst_caps[] = {{"events", true}};
	struct qmp_capability src_caps[] = {{"events", true}, {"pause-before-switchover", true}};
	struct qmp_migrate_info mi;
	struct qmp_status st;
	struct qmp_event ev;
	int64_t paused_ns, continue_ns;
	int rc;

	if ((rc = qmp_migrate_set_capabilities(dst->q, dst_caps, 1, CALL_MS)))
		return failed(dst, "migrate-set-capabilities", rc);
	if ((rc = qmp_migrate_incoming(dst->q, uri, CALL_MS)))
		return failed(dst, "migrate-incoming", rc);
	if ((rc = qmp_migrate_set_capabilities(src->q, src_caps, 2, CALL_MS)))
		return failed(src, "migrate-set-capabilities", rc);
	if ((rc = qmp_migrate_set_parameters(src->q, params, CALL_MS)))
		return failed(src, "migrate-set-parameters", rc);
	qmp_discard_events(src->q);
	qmp_discard_events(dst->q);
	printf("migrating to %s (pause-before-switchover, downtime-limit %" PRIu64
	       " ms, max-bandwidth %" PRIu64 " B/s)\n",
	       uri, params->downtime_limit_ms, params->max_bandwidth);
	if ((rc = qmp_migrate(src->q, uri, CALL_MS)))
		return failed(src, "migrate", rc);

	rc = qmp_wait_event(src->q, "MIGRATION", "pre-switchover", timeout_ms, &ev);
	if (rc)
		return failed(src, "waiting for pre-switchover", rc);
	paused_ns = ev.recv_time_ns;
	if ((rc = qmp_query_migrate(src->q, &mi, CALL_MS)))
		return failed(src, "query-migrate", rc);
	printf("paused at pre-switchover: %" PRIu64 " bytes sent, %" PRIu64
	       " left, %" PRIu64 " dirty-bitmap syncs; continuing\n",
	       mi.ram.transferred, mi.ram.remaining, mi.ram.dirty_sync_count);
	/* Here the driver flips the fabric to forwarding before letting QEMU go on. */
	if (hold_ms > 0)
		nanosleep(&(struct timespec){.tv_sec = hold_ms / 1000,
					     .tv_nsec = (hold_ms % 1000) * 1000000L},
			  NULL);
	continue_ns = now_ns();
	if ((rc = qmp_migrate_continue(src->q, QMP_MIGRATION_PRE_SWITCHOVER, CALL_MS)))
		return failed(src, "migrate-continue", rc);
	if ((rc = qmp_wait_event(src->q, "MIGRATION", "completed", timeout_ms, NULL)))
		return failed(src, "waiting for completed", rc);
	if ((rc = qmp_wait_event(dst->q, "MIGRATION", "completed", timeout_ms, NULL)))
		return failed(dst, "waiting for completed", rc);

	/* QEMU 7.2 announces completed before it computes total-time and downtime: a query
	 * right after the event can read 0 for both. Ask again until they are there. */
	for (int i = 0; i < 100; i++) {
		if ((rc = qmp_query_migrate(src->q, &mi, CALL_MS)))
			return failed(src, "query-migrate", rc);
		if (mi.status != QMP_MIGRATION_COMPLETED || mi.total_time_ms > 0)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 10 * 1000000}, NULL);
	}
	if (mi.status != QMP_MIGRATION_COMPLETED) {
		fprintf(stderr, "qmp_migrate_demo: source reports %s\n",
			qmp_migration_status_name(mi.status));
		return 1;
	}
	printf("QEMU (source): total time %" PRId64 " ms, downtime %" PRId64
	       " ms, setup time %" PRId64 " ms, %" PRIu64 " bytes in %" PRIu64
	       " passes, %.1f Mbit/s\n",
	       mi.total_time_ms, mi.downtime_ms, mi.setup_time_ms, mi.ram.transferred,
	       mi.ram.dirty_sync_count, mi.ram.mbps);
	if (src->has_stop && dst->has_resume)
		printf("driver's view: source STOP to target RESUME %.1f ms (QEMU clocks), "
		       "paused at pre-switchover for %.1f ms before continue\n",
		       (double)(dst->resume.qemu_time_us - src->stop.qemu_time_us) / 1e3,
		       (double)(continue_ns - paused_ns) / 1e6);

	if ((rc = qmp_query_status(dst->q, &st, CALL_MS)))
		return failed(dst, "query-status", rc);
	printf("target: %s\n", qmp_run_state_name(st.state));
	if (st.state != QMP_RUN_RUNNING || !st.running) {
		fprintf(stderr, "qmp_migrate_demo: the target is %s, not running\n",
			qmp_run_state_name(st.state));
		return 1;
	}
	if ((rc = qmp_query_status(src->q, &st, CALL_MS)))
		return failed(src, "query-status", rc);
	printf("source: %s\n", qmp_run_state_name(st.state));
	if (st.state != QMP_RUN_POSTMIGRATE) {
		fprintf(stderr, "qmp_migrate_demo: the source is %s, not postmigrate\n",
			qmp_run_state_name(st.state));
		return 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"source", required_argument, NULL, 's'},
		{"target", required_argument, NULL, 't'},
		{"uri", required_argument, NULL, 'u'},
		{"downtime-limit", required_argument, NULL, 'd'},
		{"max-bandwidth", required_argument, NULL, 'b'},
		{"hold-ms", required_argument, NULL, 'H'},
		{"timeout-ms", required_argument, NULL, 'T'},
		{"no-quit", no_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	const char *src_path = NULL, *dst_path = NULL, *uri = NULL;
	struct qmp_migrate_params params = {
		.has_downtime_limit = true, .downtime_limit_ms = 100,
		.has_max_bandwidth = true, .max_bandwidth = 1ull << 30,
	};
	struct side src = {.name = "source"}, dst = {.name = "target"};
	int timeout_ms = 20000, hold_ms = 0, opt, rc;
	bool quit = true;
	char err[512];

	while ((opt = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (opt) {
		case 's': src_path = optarg; break;
		case 't': dst_path = optarg; break;
		case 'u': uri = optarg; break;
		case 'd': params.downtime_limit_ms = strtoull(optarg, NULL, 10); break;
		case 'b': params.max_bandwidth = strtoull(optarg, NULL, 10); break;
		case 'H': hold_ms = atoi(optarg); break;
		case 'T': timeout_ms = atoi(optarg); break;
		case 'n': quit = false; break;
		default: usage(); return 2;
		}
	}
	if (!src_path || !dst_path || !uri || timeout_ms <= 0) {
		usage();
		return 2;
	}

	src.t0_us = dst.t0_us = realtime_us();
	/* QEMU may still be starting: connecting retries until its socket answers. */
	rc = qmp_connect(&dst.q, dst_path, CALL_MS, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "qmp_migrate_demo: target: %s\n", err);
		return 1;
	}
	rc = qmp_connect(&src.q, src_path, CALL_MS, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "qmp_migrate_demo: source: %s\n", err);
		qmp_close(dst.q);
		return 1;
	}
	printf("connected: source QEMU %d.%d.%d, target QEMU %d.%d.%d\n",
	       qmp_qemu_version(src.q)->major, qmp_qemu_version(src.q)->minor,
	       qmp_qemu_version(src.q)->micro, qmp_qemu_version(dst.q)->major,
	       qmp_qemu_version(dst.q)->minor, qmp_qemu_version(dst.q)->micro);
	qmp_set_event_handler(src.q, on_event, &src);
	qmp_set_event_handler(dst.q, on_event, &dst);

	rc = run(&src, &dst, uri, &params, hold_ms, timeout_ms);
	if (rc) {
		/* Leave the VM on the source, as the driver would. */
		if (qmp_is_connected(src.q))
			qmp_migrate_cancel(src.q, CALL_MS);
	} else if (quit) {
		/* Quitting the source is what the driver does once the fabric converged. */
		if (qmp_quit(src.q, CALL_MS) || qmp_quit(dst.q, CALL_MS)) {
			fprintf(stderr, "qmp_migrate_demo: quit: %s / %s\n",
				qmp_last_error(src.q), qmp_last_error(dst.q));
			rc = 1;
		}
	}
	qmp_close(src.q);
	qmp_close(dst.q);
	printf("%s\n", rc ? "FAIL" : "PASS");
	return rc;
}
