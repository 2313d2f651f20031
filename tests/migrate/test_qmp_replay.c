/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Whole migrations recorded from two QEMU 7.2 processes (record.sh), replayed end to end
 * through the client's typed calls, source and target each on its own fake monitor: the
 * sequence the migration driver runs, with what it reads at each step.
 *
 * The commands here are the ones record_scenarios.py sent; the replayer checks each one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "replay_util.h"

#define MiB (1024ull * 1024)

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

/* What the event handler saw, in order (the driver's timeline). */
struct timeline {
	struct qmp_event ev[64];
	int n;
};

static bool log_event(struct qmp *q, const struct qmp_event *ev, void *opaque)
{
	struct timeline *t = opaque;

	(void)q;
	if (t->n < 64)
		t->ev[t->n++] = *ev;
	return true; /* and queue it for the waits */
}

/* The position of the first event `name` (with `status` unless NULL) in the timeline. */
static int find(const struct timeline *t, const char *name, const char *status)
{
	for (int i = 0; i < t->n; i++)
		if (strcmp(t->ev[i].name, name) == 0 &&
		    (!status || strcmp(t->ev[i].status, status) == 0))
			return i;
	fail_msg("no %s %s in the timeline", name, status ? status : "");
	return -1;
}

/* The number of a recorded reply's member, for comparing figures with the recording. */
static int64_t recorded_figure(const char *file, const char *tag, const char *execute,
			       int nth, const char *section, const char *key)
{
	json_t *ret = recorded_return(file, tag, execute, nth);
	json_t *obj = section ? json_object_get(ret, section) : ret;
	int64_t v = json_integer_value(json_object_get(obj, key));

	json_decref(ret);
	return v;
}

#define URI(name) "unix:/tmp/vmf-rec-" name "/migration.sock"

/* Pre-copy with pause-before-switchover: the driver's normal path. */
static void test_precopy_pause_before_switchover(void **state)
{
	(void)state;
	const char *file = "precopy-pause.qmp";
	struct fake_qmp *fsrc, *fdst;
	struct qmp *dst = connect_recording(&fdst, file, "dst");
	struct qmp *src = connect_recording(&fsrc, file, "src");
	struct timeline tsrc = {0}, tdst = {0};
	struct qmp_migrate_info mi;
	struct qmp_status st;
	struct qmp_event stop, resume;

	qmp_set_event_handler(src, log_event, &tsrc);
	qmp_set_event_handler(dst, log_event, &tdst);

	/* The target listens. */
	struct qmp_capability events[] = {{"events", true}};
	assert_int_equal(qmp_migrate_set_capabilities(dst, events, 1, CALL_MS), 0);
	assert_int_equal(qmp_migrate_incoming(dst, URI("precopy-pause"), CALL_MS), 0);

	/* The source: pause before the switchover, QEMU's downtime limit, bandwidth. */
	struct qmp_capability caps[] = {{"events", true}, {"pause-before-switchover", true}};
	struct qmp_migrate_params params = {
		.has_downtime_limit = true, .downtime_limit_ms = 10,
		.has_max_bandwidth = true, .max_bandwidth = 64 * MiB,
	};
	assert_int_equal(qmp_migrate_set_capabilities(src, caps, 2, CALL_MS), 0);
	assert_int_equal(qmp_migrate_set_parameters(src, &params, CALL_MS), 0);
	assert_int_equal(qmp_migrate(src, URI("precopy-pause"), CALL_MS), 0);

	/* Brownout: pre-copy runs while the VM does. */
	assert_int_equal(qmp_wait_event(src, "MIGRATION", "active", CALL_MS, NULL), 0);
	assert_int_equal(qmp_query_migrate(src, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_ACTIVE);
	assert_true(mi.has_ram && mi.has_expected_downtime);
	assert_int_equal(mi.ram.remaining,
			 recorded_figure(file, "src", "query-migrate", 0, "ram", "remaining"));
	assert_int_equal(mi.ram.transferred,
			 recorded_figure(file, "src", "query-migrate", 0, "ram", "transferred"));

	/* QEMU stops the VM and waits for the driver. */
	assert_int_equal(qmp_wait_event(src, "MIGRATION", "pre-switchover", CALL_MS, NULL), 0);
	assert_true(find(&tsrc, "STOP", NULL) < find(&tsrc, "MIGRATION", "pre-switchover"));
	assert_true(find(&tsrc, "MIGRATION", "setup") < find(&tsrc, "MIGRATION", "active"));
	/* In QEMU 7.2 the first MIGRATION_PASS comes before MIGRATION active. */
	assert_true(find(&tsrc, "MIGRATION_PASS", NULL) < find(&tsrc, "MIGRATION", "active"));
	assert_int_equal(qmp_query_migrate(src, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_PRE_SWITCHOVER);
	assert_true(mi.ram.dirty_sync_count >= 2);
	assert_int_equal(qmp_query_status(src, &st, CALL_MS), 0);
	assert_int_equal(st.state, QMP_RUN_FINISH_MIGRATE);
	assert_false(st.running);

	/* The fabric flips to forwarding here; then the driver lets QEMU finish. */
	assert_int_equal(qmp_migrate_continue(src, QMP_MIGRATION_PRE_SWITCHOVER, CALL_MS), 0);
	assert_int_equal(qmp_wait_event(src, "MIGRATION", "completed", CALL_MS, NULL), 0);
	assert_true(find(&tsrc, "MIGRATION", "device") < find(&tsrc, "MIGRATION", "completed"));
	assert_int_equal(qmp_query_migrate(src, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_COMPLETED);
	assert_true(mi.has_downtime && mi.has_total_time && mi.has_setup_time);
	assert_int_equal(mi.downtime_ms,
			 recorded_figure(file, "src", "query-migrate", 2, NULL, "downtime"));
	assert_int_equal(mi.total_time_ms,
			 recorded_figure(file, "src", "query-migrate", 2, NULL, "total-time"));

	/* The VM runs on the target. */
	assert_int_equal(qmp_wait_event(dst, "RESUME", NULL, CALL_MS, &resume), 0);
	assert_int_equal(qmp_wait_event(dst, "MIGRATION", "completed", CALL_MS, NULL), 0);
	assert_int_equal(qmp_query_migrate(dst, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_COMPLETED);
	assert_false(mi.has_ram);
	assert_int_equal(qmp_query_status(dst, &st, CALL_MS), 0);
	assert_int_equal(st.state, QMP_RUN_RUNNING);
	assert_int_equal(qmp_query_status(src, &st, CALL_MS), 0);
	assert_int_equal(st.state, QMP_RUN_POSTMIGRATE);

	/* The blackout from QEMU's own timestamps (one host, one clock): source STOP to
	 * target RESUME. */
	stop = tsrc.ev[find(&tsrc, "STOP", NULL)];
	assert_true(resume.qemu_time_us > stop.qemu_time_us);
	assert_true(resume.qemu_time_us - stop.qemu_time_us < 1000000);

	assert_int_equal(qmp_quit(src, CALL_MS), 0);
	assert_int_equal(qmp_quit(dst, CALL_MS), 0);
	finish_replay(fsrc, src);
	finish_replay(fdst, dst);
}

/* The driver cancels: the source keeps running, the target gives up and exits. */
static void test_cancelled(void **state)
{
	(void)state;
	const char *file = "cancelled.qmp";
	struct fake_qmp *fsrc, *fdst;
	struct qmp *dst = connect_recording(&fdst, file, "dst");
	struct qmp *src = connect_recording(&fsrc, file, "src");
	struct timeline tsrc = {0};
	struct qmp_migrate_info mi;
	struct qmp_status st;
	struct qmp_event ev;

	qmp_set_event_handler(src, log_event, &tsrc);
	struct qmp_capability events[] = {{"events", true}};
	assert_int_equal(qmp_migrate_set_capabilities(dst, events, 1, CALL_MS), 0);
	assert_int_equal(qmp_migrate_incoming(dst, URI("cancelled"), CALL_MS), 0);

	struct qmp_capability caps[] = {{"events", true}, {"pause-before-switchover", true}};
	struct qmp_migrate_params params = {
		.has_downtime_limit = true, .downtime_limit_ms = 50,
		.has_max_bandwidth = true, .max_bandwidth = 1 * MiB,
	};
	assert_int_equal(qmp_migrate_set_capabilities(src, caps, 2, CALL_MS), 0);
	assert_int_equal(qmp_migrate_set_parameters(src, &params, CALL_MS), 0);
	assert_int_equal(qmp_migrate(src, URI("cancelled"), CALL_MS), 0);
	assert_int_equal(qmp_wait_event(src, "MIGRATION", "active", CALL_MS, NULL), 0);
	assert_int_equal(qmp_query_migrate(src, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_ACTIVE);
	assert_true(mi.ram.remaining > 0);

	assert_int_equal(qmp_migrate_cancel(src, CALL_MS), 0);
	assert_int_equal(qmp_wait_event(src, "MIGRATION", "cancelled", CALL_MS, NULL), 0);
	assert_true(find(&tsrc, "MIGRATION", "cancelling") <
		    find(&tsrc, "MIGRATION", "cancelled"));
	assert_int_equal(qmp_query_migrate(src, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_CANCELLED);
	assert_int_equal(qmp_query_status(src, &st, CALL_MS), 0);
	assert_int_equal(st.state, QMP_RUN_RUNNING);

	/* The target reports failed, then QEMU exits (7.2 quits on a failed incoming
	 * migration). */
	assert_int_equal(qmp_wait_event(dst, "MIGRATION", "completed", CALL_MS, &ev),
			 -ECANCELED);
	assert_int_equal(ev.migration_status, QMP_MIGRATION_FAILED);
	assert_int_equal(qmp_wait_event(dst, "RESUME", NULL, CALL_MS, NULL), -ENOTCONN);
	assert_contains(qmp_last_error(dst), "QEMU closed the monitor");

	assert_int_equal(qmp_quit(src, CALL_MS), 0);
	finish_replay(fsrc, src);
	finish_replay(fdst, dst);
}

/* Pre-copy switched to post-copy: the VM runs on the target before all memory is there. */
static void test_postcopy(void **state)
{
	(void)state;
	const char *file = "postcopy.qmp";
	struct fake_qmp *fsrc, *fdst;
	struct qmp *dst = connect_recording(&fdst, file, "dst");
	struct qmp *src = connect_recording(&fsrc, file, "src");
	struct timeline tsrc = {0}, tdst = {0};
	struct qmp_migrate_info mi;
	struct qmp_status st;

	qmp_set_event_handler(src, log_event, &tsrc);
	qmp_set_event_handler(dst, log_event, &tdst);
	struct qmp_capability caps[] = {{"events", true}, {"postcopy-ram", true}};
	assert_int_equal(qmp_migrate_set_capabilities(dst, caps, 2, CALL_MS), 0);
	assert_int_equal(qmp_migrate_incoming(dst, URI("postcopy"), CALL_MS), 0);

	struct qmp_migrate_params params = {
		.has_downtime_limit = true, .downtime_limit_ms = 50,
		.has_max_bandwidth = true, .max_bandwidth = 4 * MiB,
	};
	assert_int_equal(qmp_migrate_set_capabilities(src, caps, 2, CALL_MS), 0);
	assert_int_equal(qmp_migrate_set_parameters(src, &params, CALL_MS), 0);
	assert_int_equal(qmp_migrate(src, URI("postcopy"), CALL_MS), 0);
	assert_int_equal(qmp_wait_event(src, "MIGRATION", "active", CALL_MS, NULL), 0);
	assert_int_equal(qmp_query_migrate(src, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_ACTIVE);

	assert_int_equal(qmp_migrate_start_postcopy(src, CALL_MS), 0);
	assert_int_equal(qmp_wait_event(src, "MIGRATION", "postcopy-active", CALL_MS, NULL), 0);
	assert_int_equal(qmp_query_migrate(src, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_POSTCOPY_ACTIVE);
	assert_true(mi.ram.remaining > 0); /* memory still to come while the target runs */

	assert_int_equal(qmp_wait_event(dst, "RESUME", NULL, CALL_MS, NULL), 0);
	assert_true(find(&tdst, "MIGRATION", "postcopy-active") < find(&tdst, "RESUME", NULL));
	assert_int_equal(qmp_wait_event(src, "MIGRATION", "completed", CALL_MS, NULL), 0);
	/* In post-copy QEMU 7.2 reports MIGRATION postcopy-active before STOP. */
	assert_true(find(&tsrc, "MIGRATION", "postcopy-active") < find(&tsrc, "STOP", NULL));
	assert_int_equal(qmp_query_migrate(src, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_COMPLETED);
	assert_true(mi.ram.has_postcopy_requests);
	assert_int_equal(mi.ram.postcopy_requests,
			 recorded_figure(file, "src", "query-migrate", 2, "ram",
					 "postcopy-requests"));
	assert_int_equal(qmp_wait_event(dst, "MIGRATION", "completed", CALL_MS, NULL), 0);
	assert_int_equal(qmp_query_status(dst, &st, CALL_MS), 0);
	assert_int_equal(st.state, QMP_RUN_RUNNING);
	assert_int_equal(qmp_query_status(src, &st, CALL_MS), 0);
	assert_int_equal(st.state, QMP_RUN_POSTMIGRATE);

	assert_int_equal(qmp_quit(src, CALL_MS), 0);
	assert_int_equal(qmp_quit(dst, CALL_MS), 0);
	finish_replay(fsrc, src);
	finish_replay(fdst, dst);
}

/* The target QEMU is killed mid-migration: the source reports failed with QEMU's reason
 * and keeps the VM running; the target's monitor just ends. */
static void test_target_killed(void **state)
{
	(void)state;
	const char *file = "target-killed.qmp";
	struct fake_qmp *fsrc, *fdst;
	struct qmp *dst = connect_recording(&fdst, file, "dst");
	struct qmp *src = connect_recording(&fsrc, file, "src");
	struct qmp_migrate_info mi;
	struct qmp_status st;
	struct qmp_event ev;
	json_t *ret;

	struct qmp_capability events[] = {{"events", true}};
	assert_int_equal(qmp_migrate_set_capabilities(dst, events, 1, CALL_MS), 0);
	assert_int_equal(qmp_migrate_incoming(dst, URI("target-killed"), CALL_MS), 0);

	struct qmp_capability caps[] = {{"events", true}, {"pause-before-switchover", true}};
	struct qmp_migrate_params params = {
		.has_downtime_limit = true, .downtime_limit_ms = 50,
		.has_max_bandwidth = true, .max_bandwidth = 1 * MiB,
	};
	assert_int_equal(qmp_migrate_set_capabilities(src, caps, 2, CALL_MS), 0);
	assert_int_equal(qmp_migrate_set_parameters(src, &params, CALL_MS), 0);
	assert_int_equal(qmp_migrate(src, URI("target-killed"), CALL_MS), 0);
	assert_int_equal(qmp_wait_event(src, "MIGRATION", "active", CALL_MS, NULL), 0);
	assert_int_equal(qmp_query_migrate(src, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_ACTIVE);

	/* The target's monitor ends while the driver waits for the VM there. */
	assert_int_equal(qmp_wait_event(dst, "RESUME", NULL, CALL_MS, NULL), -ENOTCONN);
	assert_contains(qmp_last_error(dst), "QEMU closed the monitor");
	assert_false(qmp_is_connected(dst));

	/* The source's wait for completion ends with the failure. */
	assert_int_equal(qmp_wait_event(src, "MIGRATION", "completed", CALL_MS, &ev),
			 -ECANCELED);
	assert_int_equal(ev.migration_status, QMP_MIGRATION_FAILED);
	assert_int_equal(qmp_query_migrate(src, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_FAILED);
	ret = recorded_return(file, "src", "query-migrate", 1);
	assert_string_equal(mi.error_desc, json_string_value(json_object_get(ret, "error-desc")));
	json_decref(ret);
	assert_true(mi.error_desc[0] != '\0');
	assert_int_equal(qmp_query_status(src, &st, CALL_MS), 0);
	assert_int_equal(st.state, QMP_RUN_RUNNING);

	assert_int_equal(qmp_quit(src, CALL_MS), 0);
	finish_replay(fsrc, src);
	finish_replay(fdst, dst);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precopy_pause_before_switchover),
		cmocka_unit_test(test_cancelled),
		cmocka_unit_test(test_postcopy),
		cmocka_unit_test(test_target_killed),
	};

	recordings_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
