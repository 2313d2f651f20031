/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The QMP client against a fake monitor (fake_qmp.h): negotiation, every typed call on a
 * recorded session of QEMU 7.2, events met while a command is pending, waits, timeouts,
 * QEMU going away, garbage, error replies, and the non-blocking interface.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "qmp_raw.h"
#include "replay_util.h"

#define MiB (1024ull * 1024)

static void assert_contains(const char *haystack, const char *needle)
{
	if (!strstr(haystack, needle))
		fail_msg("\"%s\" does not contain \"%s\"", haystack, needle);
}

static void sleep_ms(int ms)
{
	nanosleep(&(struct timespec){.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L},
		  NULL);
}

/* ---- negotiation ---- */

static void test_negotiation(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(SCRIPT_NEGOTIATION);
	struct qmp *q = connect_fake(fake);
	const struct qmp_version *v = qmp_qemu_version(q);

	assert_true(qmp_is_connected(q));
	assert_int_equal(v->major, 7);
	assert_int_equal(v->minor, 2);
	assert_int_equal(v->micro, 22);
	assert_string_equal(v->package, "Debian 1:7.2+dfsg-7+deb12u18+b3");
	assert_true(qmp_fd(q) >= 0);
	assert_string_equal(qmp_last_error(q), "");
	finish_replay(fake, q);
}

/* Connecting by path, as the driver does. */
static void test_connect_unix_path(void **state)
{
	(void)state;
	char dir[] = "/tmp/vmf-qmp-test.XXXXXX", path[64], err[256];
	struct fake_qmp *fake = script_parse(SCRIPT_NEGOTIATION);
	struct qmp *q;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/qmp.sock", dir);
	assert_int_equal(fake_qmp_start_unix(fake, path), 0);
	assert_int_equal(qmp_connect(&q, path, CALL_MS, err, sizeof(err)), 0);
	assert_int_equal(qmp_qemu_version(q)->minor, 2);
	finish_replay(fake, q);
	unlink(path);
	rmdir(dir);
}

static void test_connect_failures(void **state)
{
	(void)state;
	struct qmp *q = (struct qmp *)1;
	char err[256];
	long long t0;
	int fds[2];

	/* No socket (QEMU never started): retried until the timeout, then said so. */
	t0 = mono_ms();
	assert_int_equal(qmp_connect(&q, "/nonexistent/vmf/qmp.sock", 100, err, sizeof(err)),
			 -ETIMEDOUT);
	assert_true(mono_ms() - t0 >= 90);
	assert_null(q);
	assert_contains(err, "No such file");

	assert_int_equal(qmp_connect(&q, "/tmp/x.sock", 0, err, sizeof(err)), -EINVAL);
	assert_int_equal(qmp_connect(&q, NULL, 100, err, sizeof(err)), -EINVAL);
	assert_int_equal(qmp_connect_fd(&q, -1, 100, err, sizeof(err)), -EINVAL);

	/* A socket where nothing speaks: no greeting in time. */
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	t0 = mono_ms();
	assert_int_equal(qmp_connect_fd(&q, fds[0], 100, err, sizeof(err)), -ETIMEDOUT);
	assert_true(mono_ms() - t0 < 1000);
	assert_contains(err, "no QMP greeting");
	close(fds[1]);
}

static void connect_fails(const char *script, int want, const char *message)
{
	struct fake_qmp *fake = script_parse(script);
	struct qmp *q;
	char err[512];
	int fd;

	assert_int_equal(fake_qmp_start(fake, &fd), 0);
	assert_int_equal(qmp_connect_fd(&q, fd, CALL_MS, err, sizeof(err)), want);
	assert_null(q);
	assert_contains(err, message);
	assert_int_equal(fake_qmp_finish(fake, err, sizeof(err)), 0);
}

static void test_connect_bad_peers(void **state)
{
	(void)state;
	/* Something else on the socket. */
	connect_fails("!garbage SSH-2.0-OpenSSH_9.2\n", -EPROTO, "malformed JSON");
	connect_fails("<- {'hello': 'world'}\n", -EPROTO, "not a QMP message");
	connect_fails("<- {'QMP': {'capabilities': []}}\n", -EPROTO, "version");
	/* QEMU going away before or during the negotiation. */
	connect_fails("!close\n", -ENOTCONN, "closed the monitor");
	connect_fails(SCRIPT_GREETING "-> {'execute': 'qmp_capabilities', 'id': 'c0'}\n!close\n",
		      -ENOTCONN, "qmp_capabilities: QEMU closed the monitor");
	/* QEMU refusing the negotiation. */
	connect_fails(SCRIPT_GREETING
		      "-> {'execute': 'qmp_capabilities', 'id': 'c0'}\n"
		      "<- {'error': {'class': 'CommandNotFound', 'desc': 'Capabilities "
		      "negotiation is already complete, command ignored'}, 'id': 'c0'}\n",
		      -EOPNOTSUPP, "negotiation is already complete");
}

/* ---- every typed call, on a recorded session ---- */

static void test_basic_recording(void **state)
{
	(void)state;
	struct fake_qmp *fake;
	struct qmp *q = connect_recording(&fake, "basic.qmp", "vm");
	struct qmp_status st;
	struct qmp_migrate_info mi;
	struct qmp_migrate_params p;
	struct qmp_event ev;
	bool on = true;

	assert_int_equal(qmp_query_status(q, &st, CALL_MS), 0);
	assert_int_equal(st.state, QMP_RUN_RUNNING);
	assert_true(st.running);

	assert_int_equal(qmp_query_migrate(q, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_NONE);
	assert_false(mi.has_ram);

	assert_int_equal(qmp_query_migrate_capability(q, "pause-before-switchover", &on,
						      CALL_MS),
			 0);
	assert_false(on);

	assert_int_equal(qmp_query_migrate_parameters(q, &p, CALL_MS), 0);
	assert_true(p.has_downtime_limit);
	assert_int_equal(p.downtime_limit_ms, 300);

	struct qmp_migrate_params set = {
		.has_downtime_limit = true, .downtime_limit_ms = 50,
		.has_max_bandwidth = true, .max_bandwidth = 256 * MiB,
		.has_max_postcopy_bandwidth = true, .max_postcopy_bandwidth = 0,
		.has_announce_initial = true, .announce_initial_ms = 50,
		.has_announce_max = true, .announce_max_ms = 550,
		.has_announce_rounds = true, .announce_rounds = 5,
		.has_announce_step = true, .announce_step_ms = 100,
		.has_cpu_throttle_initial = true, .cpu_throttle_initial = 30,
		.has_cpu_throttle_increment = true, .cpu_throttle_increment = 10,
		.has_max_cpu_throttle = true, .max_cpu_throttle = 99,
	};
	assert_int_equal(qmp_migrate_set_parameters(q, &set, CALL_MS), 0);
	assert_int_equal(qmp_query_migrate_parameters(q, &p, CALL_MS), 0);
	assert_int_equal(p.downtime_limit_ms, 50);
	assert_int_equal(p.max_bandwidth, 256 * MiB);

	struct qmp_capability caps[] = {{"events", true}, {"pause-before-switchover", true}};
	assert_int_equal(qmp_migrate_set_capabilities(q, caps, 2, CALL_MS), 0);

	/* QEMU's refusals: -EIO, with QEMU's own words and class for the caller. */
	struct qmp_capability bogus[] = {{"no-such-capability", true}};
	assert_int_equal(qmp_migrate_set_capabilities(q, bogus, 1, CALL_MS), -EIO);
	assert_contains(qmp_last_error(q),
			recorded_error_desc("basic.qmp", "vm", "migrate-set-capabilities", 1));
	assert_contains(qmp_last_error(q), "migrate-set-capabilities");
	assert_string_equal(qmp_last_error_class(q), "GenericError");

	struct qmp_migrate_params too_long = {.has_downtime_limit = true,
					      .downtime_limit_ms = 3000000};
	assert_int_equal(qmp_migrate_set_parameters(q, &too_long, CALL_MS), -EIO);
	assert_contains(qmp_last_error(q),
			recorded_error_desc("basic.qmp", "vm", "migrate-set-parameters", 1));

	assert_int_equal(qmp_migrate_continue(q, QMP_MIGRATION_PRE_SWITCHOVER, CALL_MS), -EIO);
	assert_contains(qmp_last_error(q), "Migration not in expected state: none");

	assert_int_equal(qmp_migrate_start_postcopy(q, CALL_MS), -EIO);
	assert_contains(qmp_last_error(q),
			recorded_error_desc("basic.qmp", "vm", "migrate-start-postcopy", 0));

	assert_int_equal(qmp_migrate_incoming(q, "unix:/tmp/vmf-rec-basic/migration.sock",
					      CALL_MS),
			 -EIO);
	assert_contains(qmp_last_error(q), "'-incoming' was not specified");

	/* A command this QEMU does not have (through the untyped layer). */
	assert_int_equal(qmp_execute(q, "x-vmf-no-such-command", NULL, NULL, CALL_MS),
			 -EOPNOTSUPP);
	assert_string_equal(qmp_last_error_class(q), "CommandNotFound");
	assert_true(qmp_is_connected(q));

	struct qmp_announce ann = {.initial_ms = 50, .max_ms = 550, .rounds = 5, .step_ms = 100};
	assert_int_equal(qmp_announce_self(q, &ann, CALL_MS), 0);

	/* STOP comes before stop's reply: it is queued while the command is pending. */
	assert_int_equal(qmp_next_event(q, &ev), -EAGAIN);
	assert_int_equal(qmp_stop(q, CALL_MS), 0);
	assert_int_equal(qmp_next_event(q, &ev), 0);
	assert_int_equal(ev.kind, QMP_EVENT_STOP);
	assert_true(ev.qemu_time_us > 1600000000ll * 1000000);
	assert_true(ev.recv_time_ns > 0);
	assert_int_equal(qmp_query_status(q, &st, CALL_MS), 0);
	assert_int_equal(st.state, QMP_RUN_PAUSED);
	assert_false(st.running);
	assert_int_equal(qmp_cont(q, CALL_MS), 0);
	assert_int_equal(qmp_wait_event(q, "RESUME", NULL, 0, &ev), 0);

	assert_int_equal(qmp_migrate_cancel(q, CALL_MS), 0);
	assert_int_equal(qmp_quit(q, CALL_MS), 0);
	assert_int_equal(qmp_next_event(q, &ev), 0);
	assert_int_equal(ev.kind, QMP_EVENT_SHUTDOWN);
	assert_string_equal(ev.reason, "host-qmp-quit");
	/* QEMU closes the monitor after quit. */
	assert_int_equal(qmp_wait_event(q, "NEVER", NULL, CALL_MS, NULL), -ENOTCONN);
	assert_false(qmp_is_connected(q));
	finish_replay(fake, q);
}

/* Bad arguments are refused before anything is sent (the script expects nothing). */
static void test_bad_arguments_send_nothing(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(SCRIPT_NEGOTIATION);
	struct qmp *q = connect_fake(fake);
	struct qmp_capability caps[] = {{NULL, true}};
	struct qmp_migrate_params huge = {.has_max_bandwidth = true, .max_bandwidth = UINT64_MAX};
	struct qmp_announce neg = {.initial_ms = -5};
	struct qmp_status st;
	bool on;

	assert_int_equal(qmp_migrate(q, NULL, CALL_MS), -EINVAL);
	assert_contains(qmp_last_error(q), "migrate: invalid argument");
	assert_int_equal(qmp_migrate_incoming(q, "", CALL_MS), -EINVAL);
	assert_int_equal(qmp_migrate_set_capabilities(q, caps, 1, CALL_MS), -EINVAL);
	assert_int_equal(qmp_migrate_set_parameters(q, &huge, CALL_MS), -EINVAL);
	assert_int_equal(qmp_migrate_continue(q, QMP_MIGRATION_UNKNOWN, CALL_MS), -EINVAL);
	assert_int_equal(qmp_announce_self(q, &neg, CALL_MS), -EINVAL);
	assert_int_equal(qmp_query_migrate_capability(q, "", &on, CALL_MS), -EINVAL);
	assert_int_equal(qmp_query_status(q, &st, -1), -EINVAL);
	assert_int_equal(qmp_wait_event(q, NULL, NULL, 10, NULL), -EINVAL);
	assert_int_equal(qmp_execute(q, "", NULL, NULL, CALL_MS), -EINVAL);
	assert_true(qmp_is_connected(q));
	finish_replay(fake, q);
}

/* ---- events ---- */

static void test_events_queued_while_pending(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(
		SCRIPT_NEGOTIATION
		"-> {'execute': 'query-status', 'id': 1}\n"
		"<- {'timestamp': {'seconds': 1795313522, 'microseconds': 933248}, 'event': "
		"'MIGRATION', 'data': {'status': 'setup'}}\n"
		"<- {'timestamp': {'seconds': 1795313522, 'microseconds': 934629}, 'event': "
		"'MIGRATION_PASS', 'data': {'pass': 1}}\n"
		"<- {'timestamp': {'seconds': 1795313522, 'microseconds': 934700}, 'event': "
		"'BALLOON_CHANGE', 'data': {'actual': 134217728}}\n"
		"<- {'return': {'status': 'running', 'singlestep': false, 'running': true}, "
		"'id': 1}\n");
	struct qmp *q = connect_fake(fake);
	struct qmp_status st;
	struct qmp_event ev;

	assert_int_equal(qmp_query_status(q, &st, CALL_MS), 0);
	assert_int_equal(st.state, QMP_RUN_RUNNING);
	assert_int_equal(qmp_next_event(q, &ev), 0);
	assert_int_equal(ev.kind, QMP_EVENT_MIGRATION);
	assert_int_equal(ev.migration_status, QMP_MIGRATION_SETUP);
	assert_int_equal(ev.qemu_time_us, 1795313522933248ll);
	assert_int_equal(qmp_next_event(q, &ev), 0);
	assert_int_equal(ev.kind, QMP_EVENT_MIGRATION_PASS);
	assert_int_equal(ev.pass, 1);
	assert_int_equal(qmp_next_event(q, &ev), 0);
	assert_int_equal(ev.kind, QMP_EVENT_OTHER);
	assert_string_equal(ev.name, "BALLOON_CHANGE");
	assert_int_equal(qmp_next_event(q, &ev), -EAGAIN);
	finish_replay(fake, q);
}

#define EVENT(sec_usec, name, data)                                                        \
	"<- {'timestamp': {'seconds': 1795313522, 'microseconds': " sec_usec "}, 'event': '" \
	name "'" data "}\n"

static void test_wait_event_with_status(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(
		SCRIPT_NEGOTIATION
		"-> {'execute': 'migrate', 'arguments': {'uri': 'unix:/m'}, 'id': 1}\n"
		EVENT("1", "MIGRATION", ", 'data': {'status': 'setup'}")
		"<- {'return': {}, 'id': 1}\n"
		"!delay 50\n"
		EVENT("2", "MIGRATION_PASS", ", 'data': {'pass': 1}")
		EVENT("3", "MIGRATION", ", 'data': {'status': 'active'}")
		"!delay 50\n"
		EVENT("4", "MIGRATION_PASS", ", 'data': {'pass': 2}")
		EVENT("5", "STOP", "")
		EVENT("6", "MIGRATION", ", 'data': {'status': 'pre-switchover'}")
		"!delay 50\n"
		EVENT("7", "RESUME", ""));
	struct qmp *q = connect_fake(fake);
	struct qmp_event ev;

	assert_int_equal(qmp_migrate(q, "unix:/m", CALL_MS), 0);
	/* Skips setup and pass 1. */
	assert_int_equal(qmp_wait_event(q, "MIGRATION", "active", CALL_MS, &ev), 0);
	assert_int_equal(ev.qemu_time_us, 1795313522000003ll);
	assert_int_equal(qmp_wait_event(q, "MIGRATION", "pre-switchover", CALL_MS, &ev), 0);
	assert_int_equal(ev.migration_status, QMP_MIGRATION_PRE_SWITCHOVER);
	/* Events before the match were dropped from the queue. */
	assert_int_equal(qmp_next_event(q, &ev), -EAGAIN);
	/* Any status. */
	assert_int_equal(qmp_wait_event(q, "RESUME", NULL, CALL_MS, &ev), 0);
	assert_int_equal(ev.kind, QMP_EVENT_RESUME);
	finish_replay(fake, q);
}

static void test_wait_event_timeout_keeps_connection(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(
		SCRIPT_NEGOTIATION
		EVENT("1", "MIGRATION", ", 'data': {'status': 'active'}")
		"-> {'execute': 'query-status', 'id': 1}\n"
		"<- {'return': {'status': 'running', 'singlestep': false, 'running': true}, "
		"'id': 1}\n");
	struct qmp *q = connect_fake(fake);
	struct qmp_status st;
	long long t0 = mono_ms();

	assert_int_equal(qmp_wait_event(q, "MIGRATION", "completed", 150, NULL), -ETIMEDOUT);
	assert_true(mono_ms() - t0 >= 140);
	assert_true(mono_ms() - t0 < 1000);
	assert_contains(qmp_last_error(q), "no MIGRATION completed event");
	assert_true(qmp_is_connected(q));
	assert_int_equal(qmp_query_status(q, &st, CALL_MS), 0);
	finish_replay(fake, q);
}

/* A migration that fails while the caller waits for its completion ends the wait. */
static void test_wait_event_migration_fails(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(
		SCRIPT_NEGOTIATION
		EVENT("1", "MIGRATION", ", 'data': {'status': 'active'}")
		EVENT("2", "MIGRATION", ", 'data': {'status': 'failed'}")
		EVENT("3", "MIGRATION", ", 'data': {'status': 'cancelled'}"));
	struct qmp *q = connect_fake(fake);
	struct qmp_event ev;

	assert_int_equal(qmp_wait_event(q, "MIGRATION", "completed", CALL_MS, &ev), -ECANCELED);
	assert_int_equal(ev.migration_status, QMP_MIGRATION_FAILED);
	assert_contains(qmp_last_error(q), "failed");
	/* Waiting for that very status is fine. */
	assert_int_equal(qmp_wait_event(q, "MIGRATION", "cancelled", CALL_MS, &ev), 0);
	finish_replay(fake, q);
}

struct seen {
	char names[8][48];
	int n;
	int nested_rc;
};

static bool record_event(struct qmp *q, const struct qmp_event *ev, void *opaque)
{
	struct seen *seen = opaque;
	struct qmp_status st;

	if (seen->n < 8)
		snprintf(seen->names[seen->n], sizeof(seen->names[0]), "%s", ev->name);
	seen->n++;
	/* Calling back into the monitor from the handler is refused. */
	seen->nested_rc = qmp_query_status(q, &st, 100);
	/* Keep STOP in the queue; the others are dealt with here. */
	return ev->kind == QMP_EVENT_STOP;
}

/* The driver's event loop: poll the fd, process input, events to the handler. */
static void test_event_loop_interface(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(SCRIPT_NEGOTIATION
					     "!delay 30\n"
					     EVENT("1", "STOP", "")
					     EVENT("2", "RESUME", "")
					     "!delay 30\n"
					     "!partial {'timestamp': {'seconds': 1, "
					     "'microseconds': 2}, \n"
					     "!delay 30\n"
					     "!garbage 'event': 'SHUTDOWN', 'data': "
					     "{'guest': true, 'reason': 'guest-shutdown'}}\n"
					     "!close\n");
	struct qmp *q = connect_fake(fake);
	struct seen seen = {0};
	struct qmp_event ev;
	long long t0 = mono_ms();
	int rc = 0, events = 0;

	qmp_set_event_handler(q, record_event, &seen);
	while (mono_ms() - t0 < CALL_MS) {
		struct pollfd p = {.fd = qmp_fd(q), .events = POLLIN};

		assert_true(poll(&p, 1, CALL_MS) == 1);
		rc = qmp_process_input(q);
		if (rc < 0)
			break;
		events += rc;
	}
	assert_int_equal(rc, -ENOTCONN);
	/* The read that meets the end of the stream returns -ENOTCONN, not its count. */
	assert_true(events == seen.n || events + 1 == seen.n);
	assert_int_equal(seen.n, 3);
	assert_string_equal(seen.names[0], "STOP");
	assert_string_equal(seen.names[1], "RESUME");
	assert_string_equal(seen.names[2], "SHUTDOWN");
	assert_int_equal(seen.nested_rc, -EBUSY);
	/* Only STOP was kept for the queue. */
	assert_int_equal(qmp_next_event(q, &ev), 0);
	assert_int_equal(ev.kind, QMP_EVENT_STOP);
	assert_int_equal(qmp_next_event(q, &ev), -EAGAIN);
	assert_int_equal(qmp_process_input(q), -ENOTCONN);
	finish_replay(fake, q);
}

static void test_event_queue_bounded(void **state)
{
	(void)state;
	const int n = QMP_EVENT_QUEUE_LEN + 44;
	char *text = malloc(strlen(SCRIPT_NEGOTIATION) + (size_t)n * 64 + 16);
	struct fake_qmp *fake;
	struct qmp *q;
	struct qmp_event ev;

	assert_non_null(text);
	strcpy(text, SCRIPT_NEGOTIATION);
	for (int i = 1; i <= n; i++)
		sprintf(text + strlen(text),
			"<- {'event': 'MIGRATION_PASS', 'data': {'pass': %d}}\n", i);
	strcat(text, "!close\n");
	fake = script_parse(text);
	free(text);
	q = connect_fake(fake);
	for (long long t0 = mono_ms(); qmp_is_connected(q) && mono_ms() - t0 < CALL_MS;) {
		struct pollfd p = {.fd = qmp_fd(q), .events = POLLIN};

		poll(&p, 1, 100);
		qmp_process_input(q);
	}
	assert_false(qmp_is_connected(q));
	assert_int_equal(qmp_events_lost(q), 44);
	/* The oldest went: the queue starts at pass 45 and ends with the last. */
	assert_int_equal(qmp_next_event(q, &ev), 0);
	assert_int_equal(ev.pass, 45);
	for (int i = 1; i < QMP_EVENT_QUEUE_LEN; i++)
		assert_int_equal(qmp_next_event(q, &ev), 0);
	assert_int_equal(ev.pass, n);
	assert_int_equal(qmp_next_event(q, &ev), -EAGAIN);
	finish_replay(fake, q);
}

/* Discarding forgets old events, so that a wait cannot match one. */
static void test_discard_events(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(SCRIPT_NEGOTIATION
					     "-> {'execute': 'cont', 'id': 1}\n"
					     "<- {'event': 'RESUME'}\n"
					     "<- {'return': {}, 'id': 1}\n");
	struct qmp *q = connect_fake(fake);
	struct qmp_event ev;

	assert_int_equal(qmp_cont(q, CALL_MS), 0);
	qmp_discard_events(q);
	assert_int_equal(qmp_next_event(q, &ev), -EAGAIN);
	assert_int_equal(qmp_wait_event(q, "RESUME", NULL, 50, &ev), -ETIMEDOUT);
	finish_replay(fake, q);
}

/* ---- timeouts ---- */

#define STATUS_RUNNING "{'status': 'running', 'singlestep': false, 'running': true}"

/* QEMU answers after the caller gave up: -ETIMEDOUT, the connection stays usable, and
 * the late reply is recognised by its id and dropped. */
static void test_timeout_then_usable(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(SCRIPT_NEGOTIATION
					     "-> {'execute': 'query-status', 'id': 1}\n"
					     "!delay 300\n"
					     "<- {'return': " STATUS_RUNNING ", 'id': 1}\n"
					     "-> {'execute': 'query-migrate', 'id': 2}\n"
					     "<- {'return': {'status': 'active'}, 'id': 2}\n");
	struct qmp *q = connect_fake(fake);
	struct qmp_status st;
	struct qmp_migrate_info mi;
	long long t0 = mono_ms();

	assert_int_equal(qmp_query_status(q, &st, 100), -ETIMEDOUT);
	assert_true(mono_ms() - t0 >= 95);
	assert_true(mono_ms() - t0 < 280);
	assert_contains(qmp_last_error(q), "query-status: no reply from QEMU in time");
	assert_true(qmp_is_connected(q));
	/* The next call gets its own reply, not the late one. */
	assert_int_equal(qmp_query_migrate(q, &mi, CALL_MS), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_ACTIVE);
	finish_replay(fake, q);
}

/* A monitor that never answers: after QMP_MAX_ABANDONED unanswered commands the client
 * gives up on it instead of piling them up. */
static void test_timeouts_give_up_eventually(void **state)
{
	(void)state;
	char text[4096];
	struct fake_qmp *fake;
	struct qmp *q;
	int rc = 0, n = 0;

	strcpy(text, SCRIPT_NEGOTIATION);
	for (int i = 0; i <= 16; i++)
		strcat(text, "-> {'execute': 'stop'}\n");
	fake = script_parse(text);
	q = connect_fake(fake);
	while (qmp_is_connected(q)) {
		rc = qmp_stop(q, 5);
		assert_int_equal(rc, -ETIMEDOUT);
		n++;
	}
	assert_int_equal(n, 17);
	assert_contains(qmp_last_error(q), "giving up");
	assert_int_equal(qmp_stop(q, 5), -ENOTCONN);
	finish_replay(fake, q);
}

/* A reply split across reads, with a pause in the middle; ids are the client's own. */
static void test_reply_in_pieces(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(SCRIPT_NEGOTIATION
					     "!match-ids\n"
					     "-> {'execute': 'query-status', 'id': 'vmf-2'}\n"
					     "!partial {'return': {'status': 'paused', \n"
					     "!delay 50\n"
					     "!partial 'singlestep': false, 'running': false}, \n"
					     "!delay 50\n"
					     "!garbage 'id': 'vmf-2'}\n"
					     "-> {'execute': 'cont', 'id': 'vmf-3'}\n"
					     "<- {'return': {}, 'id': 'vmf-3'}\n");
	struct qmp *q = connect_fake(fake);
	struct qmp_status st;

	assert_int_equal(qmp_query_status(q, &st, CALL_MS), 0);
	assert_int_equal(st.state, QMP_RUN_PAUSED);
	assert_int_equal(qmp_cont(q, CALL_MS), 0);
	finish_replay(fake, q);
}

/* ---- QEMU going away ---- */

static void test_qemu_gone_mid_call(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(SCRIPT_NEGOTIATION
					     "-> {'execute': 'query-migrate', 'id': 1}\n"
					     "!close\n");
	struct qmp *q = connect_fake(fake);
	struct qmp_migrate_info mi;
	struct qmp_status st;

	assert_int_equal(qmp_query_migrate(q, &mi, CALL_MS), -ENOTCONN);
	assert_contains(qmp_last_error(q), "query-migrate: QEMU closed the monitor");
	assert_false(qmp_is_connected(q));
	/* Every later call says so at once. */
	assert_int_equal(qmp_query_status(q, &st, CALL_MS), -ENOTCONN);
	assert_contains(qmp_last_error(q), "not connected to QEMU: ");
	assert_int_equal(qmp_process_input(q), -ENOTCONN);
	assert_int_equal(qmp_wait_event(q, "RESUME", NULL, CALL_MS, NULL), -ENOTCONN);
	finish_replay(fake, q);
}

/* QEMU gone before the command is written: -EPIPE (it was not delivered). */
static void test_qemu_gone_before_write(void **state)
{
	(void)state;
	/* The delay keeps the end of the stream out of the read that gets the negotiation's
	 * reply: the client has not seen it when it writes. */
	struct fake_qmp *fake = script_parse(SCRIPT_NEGOTIATION "!delay 50\n!close\n");
	struct qmp *q = connect_fake(fake);

	sleep_ms(150);
	assert_int_equal(qmp_stop(q, CALL_MS), -EPIPE);
	assert_contains(qmp_last_error(q), "stop: QEMU is gone");
	assert_false(qmp_is_connected(q));
	finish_replay(fake, q);
}

/* quit: QEMU may close before its reply; that is what was asked. */
static void test_quit_without_reply(void **state)
{
	(void)state;
	struct fake_qmp *fake = script_parse(SCRIPT_NEGOTIATION
					     "-> {'execute': 'quit', 'id': 1}\n"
					     EVENT("1", "SHUTDOWN",
						   ", 'data': {'guest': false, "
						   "'reason': 'host-qmp-quit'}")
					     "!close\n");
	struct qmp *q = connect_fake(fake);
	struct qmp_event ev;

	assert_int_equal(qmp_quit(q, CALL_MS), 0);
	assert_false(qmp_is_connected(q));
	assert_int_equal(qmp_next_event(q, &ev), 0);
	assert_int_equal(ev.kind, QMP_EVENT_SHUTDOWN);
	/* But quitting a monitor already gone is an error. */
	assert_int_equal(qmp_quit(q, CALL_MS), -ENOTCONN);
	finish_replay(fake, q);
}

/* ---- answers that make no sense ---- */

static void expect_protocol_error(const char *reply_lines, int want, const char *message,
				  bool stays_up)
{
	char text[2048];
	struct fake_qmp *fake;
	struct qmp *q;
	struct qmp_status st;

	snprintf(text, sizeof(text), "%s-> {'execute': 'query-status', 'id': 1}\n%s",
		 SCRIPT_NEGOTIATION, reply_lines);
	fake = script_parse(text);
	q = connect_fake(fake);
	assert_int_equal(qmp_query_status(q, &st, CALL_MS), want);
	assert_contains(qmp_last_error(q), message);
	assert_int_equal(qmp_is_connected(q), stays_up);
	if (!stays_up)
		assert_int_equal(qmp_query_status(q, &st, CALL_MS), -ENOTCONN);
	finish_replay(fake, q);
}

static void test_garbage_and_wrong_answers(void **state)
{
	(void)state;
	/* Not JSON: the stream cannot be trusted any more. */
	expect_protocol_error("!garbage <html><body>502 Bad Gateway</body></html>\n", -EPROTO,
			      "malformed JSON from QEMU", false);
	expect_protocol_error("!garbage {'return': {}, 'id': \n", -EPROTO, "malformed JSON",
			      false);
	/* JSON, but not QMP. */
	expect_protocol_error("<- {'result': 'ok', 'id': 1}\n", -EPROTO, "not a QMP message",
			      false);
	expect_protocol_error("<- [1, 2, 3]\n", -EPROTO, "not a QMP message", false);
	/* A reply to a command never sent. */
	expect_protocol_error("<- {'return': " STATUS_RUNNING ", 'id': 'libvirt-7'}\n",
			      -EPROTO, "QEMU replied to a command not sent (id libvirt-7)",
			      false);
	/* A second greeting. */
	expect_protocol_error(SCRIPT_GREETING, -EPROTO, "unexpected QMP greeting", false);
	/* A malformed event. */
	expect_protocol_error("<- {'event': 'MIGRATION', 'data': {'status': 7}}\n", -EPROTO,
			      "malformed event", false);
	/* Well-formed, with the right id, but the wrong shape: the stream is fine. */
	expect_protocol_error("<- {'return': {'status': 'running'}, 'id': 1}\n", -EPROTO,
			      "query-status: unexpected reply from QEMU", true);
	/* An error QEMU could not tie to the command (it could not parse it). */
	expect_protocol_error("<- {'error': {'class': 'GenericError', 'desc': 'JSON parse "
			      "error, invalid keyword'}}\n",
			      -EIO, "JSON parse error, invalid keyword", true);
	/* An error reply without its desc. */
	expect_protocol_error("<- {'error': {'class': 'GenericError'}, 'id': 1}\n", -EPROTO,
			      "malformed error reply", true);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_negotiation),
		cmocka_unit_test(test_connect_unix_path),
		cmocka_unit_test(test_connect_failures),
		cmocka_unit_test(test_connect_bad_peers),
		cmocka_unit_test(test_basic_recording),
		cmocka_unit_test(test_bad_arguments_send_nothing),
		cmocka_unit_test(test_events_queued_while_pending),
		cmocka_unit_test(test_wait_event_with_status),
		cmocka_unit_test(test_wait_event_timeout_keeps_connection),
		cmocka_unit_test(test_wait_event_migration_fails),
		cmocka_unit_test(test_event_loop_interface),
		cmocka_unit_test(test_event_queue_bounded),
		cmocka_unit_test(test_discard_events),
		cmocka_unit_test(test_timeout_then_usable),
		cmocka_unit_test(test_timeouts_give_up_eventually),
		cmocka_unit_test(test_reply_in_pieces),
		cmocka_unit_test(test_qemu_gone_mid_call),
		cmocka_unit_test(test_qemu_gone_before_write),
		cmocka_unit_test(test_quit_without_reply),
		cmocka_unit_test(test_garbage_and_wrong_answers),
	};

	recordings_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
