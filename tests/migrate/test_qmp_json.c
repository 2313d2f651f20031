/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The QMP client's JSON encoding and decoding, checked against commands and replies
 * recorded from QEMU 7.2 (recordings/, made by record.sh). No socket here: the exchange
 * itself is test_qmp.c's and test_qmp_replay.c's.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "qmp_json.h"
#include "replay_util.h"

#define MiB (1024ull * 1024)

static void assert_json_equal(json_t *want, json_t *got)
{
	if (!json_equal(want, got)) {
		char *a = json_dumps(want, JSON_SORT_KEYS), *b = json_dumps(got, JSON_SORT_KEYS);

		print_error("want %s\n got  %s\n", a, b);
		free(a);
		free(b);
		fail();
	}
}

/* Encoding: what the client would send equals what the recorder sent QEMU (which QEMU
 * accepted, or refused with the recorded error). */
static void test_encode_matches_recordings(void **state)
{
	(void)state;
	json_t *args, *rec;

	struct qmp_migrate_params all = {
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
	assert_int_equal(qmp_json_encode_migrate_params(&all, &args), 0);
	rec = recorded_arguments("basic.qmp", "vm", "migrate-set-parameters", 0);
	assert_json_equal(rec, args);
	json_decref(args);
	json_decref(rec);

	struct qmp_migrate_params two = {
		.has_downtime_limit = true, .downtime_limit_ms = 10,
		.has_max_bandwidth = true, .max_bandwidth = 64 * MiB,
	};
	assert_int_equal(qmp_json_encode_migrate_params(&two, &args), 0);
	rec = recorded_arguments("precopy-pause.qmp", "src", "migrate-set-parameters", 0);
	assert_json_equal(rec, args);
	json_decref(args);
	json_decref(rec);

	struct qmp_capability caps[] = {{"events", true}, {"pause-before-switchover", true}};
	assert_int_equal(qmp_json_encode_capabilities(caps, 2, &args), 0);
	rec = recorded_arguments("precopy-pause.qmp", "src", "migrate-set-capabilities", 0);
	assert_json_equal(rec, args);
	json_decref(args);
	json_decref(rec);

	assert_int_equal(qmp_json_encode_uri("unix:/tmp/vmf-rec-precopy-pause/migration.sock",
					     &args),
			 0);
	rec = recorded_arguments("precopy-pause.qmp", "src", "migrate", 0);
	assert_json_equal(rec, args);
	json_decref(rec);
	rec = recorded_arguments("precopy-pause.qmp", "dst", "migrate-incoming", 0);
	assert_json_equal(rec, args);
	json_decref(args);
	json_decref(rec);

	assert_int_equal(qmp_json_encode_migrate_continue(QMP_MIGRATION_PRE_SWITCHOVER, &args),
			 0);
	rec = recorded_arguments("precopy-pause.qmp", "src", "migrate-continue", 0);
	assert_json_equal(rec, args);
	json_decref(args);
	json_decref(rec);

	struct qmp_announce ann = {.initial_ms = 50, .max_ms = 550, .rounds = 5, .step_ms = 100};
	assert_int_equal(qmp_json_encode_announce(&ann, &args), 0);
	rec = recorded_arguments("basic.qmp", "vm", "announce-self", 0);
	assert_json_equal(rec, args);
	json_decref(args);
	json_decref(rec);
}

/* A whole command: execute, arguments only when there are some, the id. */
static void test_encode_command(void **state)
{
	(void)state;
	json_t *cmd = qmp_json_command("query-status", NULL, "vmf-7");
	json_t *want = json_pack("{s:s, s:s}", "execute", "query-status", "id", "vmf-7");

	assert_json_equal(want, cmd);
	json_decref(cmd);
	json_decref(want);

	cmd = qmp_json_command("migrate", json_pack("{s:s}", "uri", "unix:/x"), "vmf-8");
	want = json_pack("{s:s, s:{s:s}, s:s}", "execute", "migrate", "arguments", "uri",
			 "unix:/x", "id", "vmf-8");
	assert_json_equal(want, cmd);
	json_decref(cmd);
	json_decref(want);
}

static void test_encode_rejects_bad_arguments(void **state)
{
	(void)state;
	json_t *args = (json_t *)1;
	struct qmp_capability bad[] = {{"events", true}, {"", true}};
	struct qmp_migrate_params huge = {.has_max_bandwidth = true, .max_bandwidth = UINT64_MAX};
	struct qmp_announce neg = {.initial_ms = -1, .max_ms = 550, .rounds = 5, .step_ms = 100};

	assert_int_equal(qmp_json_encode_uri(NULL, &args), -EINVAL);
	assert_null(args);
	assert_int_equal(qmp_json_encode_uri("", &args), -EINVAL);
	assert_int_equal(qmp_json_encode_capabilities(bad, 2, &args), -EINVAL);
	assert_int_equal(qmp_json_encode_capabilities(NULL, 1, &args), -EINVAL);
	assert_int_equal(qmp_json_encode_migrate_params(&huge, &args), -EINVAL);
	assert_int_equal(qmp_json_encode_migrate_continue(QMP_MIGRATION_UNKNOWN, &args),
			 -EINVAL);
	assert_int_equal(qmp_json_encode_migrate_continue((enum qmp_migration_status)99, &args),
			 -EINVAL);
	assert_int_equal(qmp_json_encode_announce(&neg, &args), -EINVAL);
	assert_null(args);

	/* No capability at all is a valid (empty) list. */
	assert_int_equal(qmp_json_encode_capabilities(NULL, 0, &args), 0);
	assert_int_equal(json_array_size(json_object_get(args, "capabilities")), 0);
	json_decref(args);
}

/* Every field of a decoded query-migrate equals the member of QEMU's reply. */
static struct qmp_migrate_info check_migrate_info(const char *where, json_t *ret)
{
	struct qmp_migrate_info mi;
	json_t *ram = json_object_get(ret, "ram");
	const char *status = json_string_value(json_object_get(ret, "status"));
	const char *desc = json_string_value(json_object_get(ret, "error-desc"));
	char err[256];

	if (qmp_json_decode_migrate_info(ret, &mi, err, sizeof(err)))
		fail_msg("%s: %s", where, err);
	assert_string_equal(qmp_migration_status_name(mi.status), status ? status : "none");
	assert_int_equal(mi.has_ram, ram != NULL);
	if (ram) {
		struct {
			const char *key;
			uint64_t val;
		} f[] = {
			{"total", mi.ram.total},
			{"remaining", mi.ram.remaining},
			{"transferred", mi.ram.transferred},
			{"normal-bytes", mi.ram.normal_bytes},
			{"duplicate", mi.ram.duplicate},
			{"dirty-pages-rate", mi.ram.dirty_pages_rate},
			{"dirty-sync-count", mi.ram.dirty_sync_count},
			{"page-size", mi.ram.page_size},
			{"pages-per-second", mi.ram.pages_per_second},
			{"precopy-bytes", mi.ram.precopy_bytes},
			{"downtime-bytes", mi.ram.downtime_bytes},
			{"postcopy-bytes", mi.ram.postcopy_bytes},
			{"postcopy-requests", mi.ram.postcopy_requests},
		};

		for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
			assert_int_equal(f[i].val,
					 json_integer_value(json_object_get(ram, f[i].key)));
		assert_int_equal(mi.ram.has_postcopy_requests,
				 json_object_get(ram, "postcopy-requests") != NULL);
		assert_true(mi.ram.mbps == json_number_value(json_object_get(ram, "mbps")));
	}
	struct {
		const char *key;
		bool has;
		int64_t val;
	} t[] = {
		{"total-time", mi.has_total_time, mi.total_time_ms},
		{"expected-downtime", mi.has_expected_downtime, mi.expected_downtime_ms},
		{"downtime", mi.has_downtime, mi.downtime_ms},
		{"setup-time", mi.has_setup_time, mi.setup_time_ms},
		{"cpu-throttle-percentage", mi.has_cpu_throttle_percentage,
		 mi.cpu_throttle_percentage},
	};
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		json_t *v = json_object_get(ret, t[i].key);

		assert_int_equal(t[i].has, v != NULL);
		assert_int_equal(t[i].val, json_integer_value(v));
	}
	assert_string_equal(mi.error_desc, desc ? desc : "");
	return mi;
}

static const char *const recordings_all[] = {
	"basic.qmp", "precopy-pause.qmp", "cancelled.qmp", "postcopy.qmp", "target-killed.qmp",
};
static const char *const tags_all[] = {"vm", "src", "dst"};

/* Every query-migrate reply recorded, decoded field by field. */
static void test_decode_every_recorded_migrate_info(void **state)
{
	(void)state;
	int checked = 0;

	for (size_t f = 0; f < 5; f++) {
		for (size_t t = 0; t < 3; t++) {
			json_t *reply;
			char where[128];

			for (int nth = 0;
			     fake_qmp_find_exchange(recording(recordings_all[f]), tags_all[t],
						    "query-migrate", nth, NULL, &reply) == 0;
			     nth++) {
				snprintf(where, sizeof(where), "%s %s #%d", recordings_all[f],
					 tags_all[t], nth);
				check_migrate_info(where, json_object_get(reply, "return"));
				json_decref(reply);
				checked++;
			}
		}
	}
	assert_true(checked >= 12);
}

/* What a driver reads from the replies at each step of the recorded migrations. */
static void test_decode_migrate_info_by_phase(void **state)
{
	(void)state;
	struct qmp_migrate_info mi;
	json_t *ret;

	ret = recorded_return("basic.qmp", "vm", "query-migrate", 0);
	mi = check_migrate_info("no migration", ret);
	assert_int_equal(mi.status, QMP_MIGRATION_NONE); /* QEMU answers {} */
	assert_false(mi.has_ram);
	json_decref(ret);

	ret = recorded_return("precopy-pause.qmp", "src", "query-migrate", 0);
	mi = check_migrate_info("active", ret);
	assert_int_equal(mi.status, QMP_MIGRATION_ACTIVE);
	assert_true(mi.has_ram && mi.ram.remaining > 0 && mi.ram.transferred > 0);
	assert_true(mi.ram.total == 128 * MiB + mi.ram.total % MiB); /* 128 MiB and ROMs */
	assert_true(mi.has_expected_downtime && mi.has_total_time && mi.has_setup_time);
	assert_false(mi.has_downtime);
	json_decref(ret);

	ret = recorded_return("precopy-pause.qmp", "src", "query-migrate", 1);
	mi = check_migrate_info("pre-switchover", ret);
	assert_int_equal(mi.status, QMP_MIGRATION_PRE_SWITCHOVER);
	assert_true(mi.ram.dirty_sync_count >= 2);
	json_decref(ret);

	ret = recorded_return("precopy-pause.qmp", "src", "query-migrate", 2);
	mi = check_migrate_info("completed", ret);
	assert_int_equal(mi.status, QMP_MIGRATION_COMPLETED);
	assert_true(mi.has_downtime && mi.has_total_time && mi.has_setup_time);
	assert_false(mi.has_expected_downtime);
	assert_int_equal(mi.ram.remaining, 0);
	json_decref(ret);

	/* The target knows its status and nothing else. */
	ret = recorded_return("precopy-pause.qmp", "dst", "query-migrate", 0);
	mi = check_migrate_info("target", ret);
	assert_int_equal(mi.status, QMP_MIGRATION_COMPLETED);
	assert_false(mi.has_ram || mi.has_total_time || mi.has_downtime);
	json_decref(ret);

	ret = recorded_return("postcopy.qmp", "src", "query-migrate", 1);
	mi = check_migrate_info("postcopy-active", ret);
	assert_int_equal(mi.status, QMP_MIGRATION_POSTCOPY_ACTIVE);
	json_decref(ret);
	ret = recorded_return("postcopy.qmp", "src", "query-migrate", 2);
	mi = check_migrate_info("postcopy completed", ret);
	assert_int_equal(mi.status, QMP_MIGRATION_COMPLETED);
	assert_true(mi.ram.has_postcopy_requests && mi.ram.postcopy_bytes > 0);
	json_decref(ret);

	ret = recorded_return("cancelled.qmp", "src", "query-migrate", 1);
	mi = check_migrate_info("cancelled", ret);
	assert_int_equal(mi.status, QMP_MIGRATION_CANCELLED);
	assert_false(mi.has_ram);
	json_decref(ret);

	ret = recorded_return("target-killed.qmp", "src", "query-migrate", 1);
	mi = check_migrate_info("failed", ret);
	assert_int_equal(mi.status, QMP_MIGRATION_FAILED);
	assert_true(strlen(mi.error_desc) > 0);
	assert_non_null(strstr(mi.error_desc, "Broken pipe"));
	json_decref(ret);
}

static void test_decode_recorded_status(void **state)
{
	(void)state;
	static const struct {
		const char *file, *tag;
		int nth;
		enum qmp_run_state state;
		bool running;
	} cases[] = {
		{"basic.qmp", "vm", 0, QMP_RUN_RUNNING, true},
		{"basic.qmp", "vm", 1, QMP_RUN_PAUSED, false},
		{"precopy-pause.qmp", "src", 0, QMP_RUN_FINISH_MIGRATE, false},
		{"precopy-pause.qmp", "src", 1, QMP_RUN_POSTMIGRATE, false},
		{"precopy-pause.qmp", "dst", 0, QMP_RUN_RUNNING, true},
		{"postcopy.qmp", "src", 0, QMP_RUN_POSTMIGRATE, false},
		{"postcopy.qmp", "dst", 0, QMP_RUN_RUNNING, true},
		{"cancelled.qmp", "src", 0, QMP_RUN_RUNNING, true},
		{"target-killed.qmp", "src", 0, QMP_RUN_RUNNING, true},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *ret = recorded_return(cases[i].file, cases[i].tag, "query-status",
					      cases[i].nth);
		struct qmp_status st;
		char err[256];

		assert_int_equal(qmp_json_decode_status(ret, &st, err, sizeof(err)), 0);
		assert_int_equal(st.state, cases[i].state);
		assert_int_equal(st.running, cases[i].running);
		assert_string_equal(qmp_run_state_name(st.state),
				    json_string_value(json_object_get(ret, "status")));
		json_decref(ret);
	}
}

static void test_decode_recorded_params_and_capabilities(void **state)
{
	(void)state;
	struct qmp_migrate_params p;
	char err[256];
	bool on;
	json_t *ret = recorded_return("basic.qmp", "vm", "query-migrate-parameters", 0);

	/* QEMU 7.2's defaults. */
	assert_int_equal(qmp_json_decode_migrate_params(ret, &p, err, sizeof(err)), 0);
	assert_true(p.has_downtime_limit && p.has_max_bandwidth && p.has_announce_initial &&
		    p.has_announce_max && p.has_announce_rounds && p.has_announce_step &&
		    p.has_max_postcopy_bandwidth && p.has_cpu_throttle_initial &&
		    p.has_cpu_throttle_increment && p.has_max_cpu_throttle);
	assert_int_equal(p.downtime_limit_ms, 300);
	assert_int_equal(p.max_bandwidth, 128 * MiB);
	assert_int_equal(p.announce_initial_ms, 50);
	assert_int_equal(p.announce_max_ms, 550);
	assert_int_equal(p.announce_rounds, 5);
	assert_int_equal(p.announce_step_ms, 100);
	json_decref(ret);

	/* After migrate-set-parameters. */
	ret = recorded_return("basic.qmp", "vm", "query-migrate-parameters", 1);
	assert_int_equal(qmp_json_decode_migrate_params(ret, &p, err, sizeof(err)), 0);
	assert_int_equal(p.downtime_limit_ms, 50);
	assert_int_equal(p.max_bandwidth, 256 * MiB);
	assert_int_equal(p.cpu_throttle_initial, 30);
	json_decref(ret);

	ret = recorded_return("basic.qmp", "vm", "query-migrate-capabilities", 0);
	assert_int_equal(qmp_json_decode_capability(ret, "pause-before-switchover", &on, err,
						    sizeof(err)),
			 0);
	assert_false(on);
	assert_int_equal(qmp_json_decode_capability(ret, "postcopy-ram", &on, err, sizeof(err)),
			 0);
	assert_int_equal(qmp_json_decode_capability(ret, "x-no-such", &on, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "x-no-such"));
	json_decref(ret);
}

static struct qmp_event decode_recorded_event(const char *file, const char *tag,
					      const char *name, int nth)
{
	json_t *msg;
	struct qmp_event ev;
	char err[256];

	if (fake_qmp_find_event(recording(file), tag, name, nth, &msg))
		fail_msg("%s: no event %s #%d on %s", file, name, nth, tag);
	assert_int_equal(qmp_json_classify(msg), QMP_MSG_EVENT);
	if (qmp_json_decode_event(msg, &ev, err, sizeof(err)))
		fail_msg("%s: %s", file, err);
	assert_string_equal(ev.name, name);
	assert_true(ev.qemu_time_us ==
		    json_integer_value(json_object_get(json_object_get(msg, "timestamp"),
						       "seconds")) * 1000000 +
			    json_integer_value(json_object_get(
				    json_object_get(msg, "timestamp"), "microseconds")));
	json_decref(msg);
	return ev;
}

static void test_decode_recorded_events(void **state)
{
	(void)state;
	struct qmp_event ev;

	ev = decode_recorded_event("precopy-pause.qmp", "src", "MIGRATION", 0);
	assert_int_equal(ev.kind, QMP_EVENT_MIGRATION);
	assert_int_equal(ev.migration_status, QMP_MIGRATION_SETUP);
	assert_string_equal(ev.status, "setup");

	ev = decode_recorded_event("precopy-pause.qmp", "src", "MIGRATION_PASS", 0);
	assert_int_equal(ev.kind, QMP_EVENT_MIGRATION_PASS);
	assert_int_equal(ev.pass, 1);
	assert_string_equal(ev.status, "");

	ev = decode_recorded_event("precopy-pause.qmp", "src", "STOP", 0);
	assert_int_equal(ev.kind, QMP_EVENT_STOP);
	ev = decode_recorded_event("precopy-pause.qmp", "dst", "RESUME", 0);
	assert_int_equal(ev.kind, QMP_EVENT_RESUME);

	ev = decode_recorded_event("basic.qmp", "vm", "SHUTDOWN", 0);
	assert_int_equal(ev.kind, QMP_EVENT_SHUTDOWN);
	assert_false(ev.guest);
	assert_string_equal(ev.reason, "host-qmp-quit");

	ev = decode_recorded_event("target-killed.qmp", "src", "MIGRATION", 2);
	assert_int_equal(ev.migration_status, QMP_MIGRATION_FAILED);
}

static json_t *squoted(const char *text)
{
	char *copy = strdup(text);
	json_t *j;
	json_error_t jerr;

	for (char *p = copy; *p; p++)
		if (*p == '\'')
			*p = '"';
	j = json_loads(copy, JSON_DECODE_ANY, &jerr);
	if (!j)
		fail_msg("bad test JSON %s: %s", copy, jerr.text);
	free(copy);
	return j;
}

static void test_decode_greeting_and_classify(void **state)
{
	(void)state;
	/* SCRIPT_GREETING without its "<- " and line end. */
	char text[512];
	json_t *msg;
	struct qmp_version v;
	char err[256];

	snprintf(text, sizeof(text), "%s", &SCRIPT_GREETING[3]);
	msg = squoted(text);
	assert_int_equal(qmp_json_classify(msg), QMP_MSG_GREETING);
	assert_int_equal(qmp_json_decode_greeting(msg, &v, err, sizeof(err)), 0);
	assert_int_equal(v.major, 7);
	assert_int_equal(v.minor, 2);
	assert_int_equal(v.micro, 22);
	assert_string_equal(v.package, "Debian 1:7.2+dfsg-7+deb12u18+b3");
	json_decref(msg);

	static const struct {
		const char *json;
		enum qmp_msg_type type;
	} cases[] = {
		{"{'return': {}, 'id': 'a'}", QMP_MSG_RETURN},
		{"{'return': [], 'id': 1}", QMP_MSG_RETURN},
		{"{'error': {'class': 'GenericError', 'desc': 'x'}}", QMP_MSG_ERROR},
		{"{'event': 'STOP', 'timestamp': {'seconds': 1, 'microseconds': 2}}",
		 QMP_MSG_EVENT},
		{"{'event': 5}", QMP_MSG_INVALID},
		{"{'hello': 'world'}", QMP_MSG_INVALID},
		{"[1, 2]", QMP_MSG_INVALID},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		msg = squoted(cases[i].json);
		assert_int_equal(qmp_json_classify(msg), cases[i].type);
		json_decref(msg);
	}
}

enum decoder { D_STATUS, D_MIGRATE, D_PARAMS, D_CAP, D_EVENT, D_GREETING };

static int run_decoder(enum decoder d, json_t *j, char *err, size_t len)
{
	struct qmp_status st;
	struct qmp_migrate_info mi;
	struct qmp_migrate_params p;
	struct qmp_event ev;
	struct qmp_version v;
	bool on;

	switch (d) {
	case D_STATUS:
		return qmp_json_decode_status(j, &st, err, len);
	case D_MIGRATE:
		return qmp_json_decode_migrate_info(j, &mi, err, len);
	case D_PARAMS:
		return qmp_json_decode_migrate_params(j, &p, err, len);
	case D_CAP:
		return qmp_json_decode_capability(j, "events", &on, err, len);
	case D_EVENT:
		return qmp_json_decode_event(j, &ev, err, len);
	case D_GREETING:
		return qmp_json_decode_greeting(j, &v, err, len);
	}
	return 0;
}

/* Replies of the wrong shape are -EPROTO with a reason, not garbage in a struct. */
static void test_decode_rejects_wrong_shapes(void **state)
{
	(void)state;
	static const struct {
		enum decoder d;
		const char *json;
	} cases[] = {
		{D_STATUS, "{'status': 'running'}"},
		{D_STATUS, "{'status': 3, 'running': true}"},
		{D_STATUS, "{'status': 'running', 'running': 'yes'}"},
		{D_STATUS, "[]"},
		{D_MIGRATE, "{'status': 4}"},
		{D_MIGRATE, "{'status': 'active', 'ram': {'total': 'lots'}}"},
		{D_MIGRATE, "{'status': 'active', 'ram': {'total': -1}}"},
		{D_MIGRATE, "{'status': 'active', 'ram': {'remaining': 5}}"},
		{D_MIGRATE, "{'status': 'active', 'ram': {'total': 1, 'mbps': 'fast'}}"},
		{D_MIGRATE, "{'status': 'active', 'ram': 7}"},
		{D_MIGRATE, "{'status': 'completed', 'downtime': 1.5}"},
		{D_MIGRATE, "{'status': 'failed', 'error-desc': 42}"},
		{D_MIGRATE, "'active'"},
		{D_PARAMS, "{'downtime-limit': '300'}"},
		{D_PARAMS, "{'max-bandwidth': -5}"},
		{D_CAP, "{'capability': 'events', 'state': true}"},
		{D_CAP, "[{'capability': 'events'}]"},
		{D_EVENT, "{'event': 'MIGRATION', 'data': {}}"},
		{D_EVENT, "{'event': 'MIGRATION', 'data': {'status': 5}}"},
		{D_EVENT, "{'event': 'MIGRATION_PASS', 'data': {'pass': 'one'}}"},
		{D_EVENT, "{'event': 'MIGRATION_PASS'}"},
		{D_EVENT, "{'event': 'STOP', 'timestamp': {'seconds': 'now'}}"},
		{D_EVENT, "{'event': 'X', 'data': [1]}"},
		{D_EVENT, "{'event': 'SHUTDOWN', 'data': {'guest': 'no'}}"},
		{D_GREETING, "{'QMP': {}}"},
		{D_GREETING, "{'QMP': {'version': {'qemu': {'major': 7, 'minor': 'two'}}}}"},
		{D_GREETING, "{'qmp': 1}"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *j = squoted(cases[i].json);
		char err[256] = "";
		int rc = run_decoder(cases[i].d, j, err, sizeof(err));

		if (rc != -EPROTO)
			fail_msg("case %zu (%s): %d, want -EPROTO", i, cases[i].json, rc);
		assert_true(strlen(err) > 0);
		json_decref(j);
	}
}

/* What a newer QEMU may send is taken, not refused. */
static void test_decode_tolerates_newer_qemu(void **state)
{
	(void)state;
	struct qmp_migrate_info mi;
	struct qmp_status st;
	struct qmp_event ev;
	char err[256];
	json_t *j;

	j = squoted("{'status': 'teleporting', 'new-member': [1], 'ram': {'total': 1}}");
	assert_int_equal(qmp_json_decode_migrate_info(j, &mi, err, sizeof(err)), 0);
	assert_int_equal(mi.status, QMP_MIGRATION_UNKNOWN);
	assert_true(mi.has_ram);
	assert_false(mi.ram.has_postcopy_requests);
	json_decref(j);

	j = squoted("{'status': 'hibernating', 'running': false, 'singlestep': false}");
	assert_int_equal(qmp_json_decode_status(j, &st, err, sizeof(err)), 0);
	assert_int_equal(st.state, QMP_RUN_UNKNOWN);
	json_decref(j);

	j = squoted("{'event': 'MIGRATION', 'data': {'status': 'teleporting'}}");
	assert_int_equal(qmp_json_decode_event(j, &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.migration_status, QMP_MIGRATION_UNKNOWN);
	assert_string_equal(ev.status, "teleporting");
	assert_int_equal(ev.qemu_time_us, 0);
	json_decref(j);

	j = squoted("{'event': 'BLOCK_JOB_COMPLETED', 'data': {'device': 'd0', 'len': 1}}");
	assert_int_equal(qmp_json_decode_event(j, &ev, err, sizeof(err)), 0);
	assert_int_equal(ev.kind, QMP_EVENT_OTHER);
	assert_string_equal(ev.name, "BLOCK_JOB_COMPLETED");
	json_decref(j);

	j = squoted("{'ignored': true}");
	assert_int_equal(qmp_json_decode_empty(j, err, sizeof(err)), 0);
	json_decref(j);
	j = squoted("[]");
	assert_int_equal(qmp_json_decode_empty(j, err, sizeof(err)), -EPROTO);
	json_decref(j);
}

static void test_names(void **state)
{
	(void)state;
	for (int s = QMP_MIGRATION_NONE; s <= QMP_MIGRATION_WAIT_UNPLUG; s++)
		assert_int_equal(qmp_migration_status_parse(qmp_migration_status_name(s)), s);
	for (int s = QMP_RUN_DEBUG; s <= QMP_RUN_COLO; s++)
		assert_int_equal(qmp_run_state_parse(qmp_run_state_name(s)), s);
	assert_string_equal(qmp_migration_status_name(QMP_MIGRATION_PRE_SWITCHOVER),
			    "pre-switchover");
	assert_string_equal(qmp_run_state_name(QMP_RUN_POSTMIGRATE), "postmigrate");
	assert_string_equal(qmp_migration_status_name((enum qmp_migration_status)99), "unknown");
	assert_string_equal(qmp_run_state_name((enum qmp_run_state)-1), "unknown");
	assert_int_equal(qmp_migration_status_parse(NULL), QMP_MIGRATION_UNKNOWN);
	assert_int_equal(qmp_migration_status_parse("unknown"), QMP_MIGRATION_UNKNOWN);
	assert_int_equal(qmp_run_state_parse("Running"), QMP_RUN_UNKNOWN);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_matches_recordings),
		cmocka_unit_test(test_encode_command),
		cmocka_unit_test(test_encode_rejects_bad_arguments),
		cmocka_unit_test(test_decode_every_recorded_migrate_info),
		cmocka_unit_test(test_decode_migrate_info_by_phase),
		cmocka_unit_test(test_decode_recorded_status),
		cmocka_unit_test(test_decode_recorded_params_and_capabilities),
		cmocka_unit_test(test_decode_recorded_events),
		cmocka_unit_test(test_decode_greeting_and_classify),
		cmocka_unit_test(test_decode_rejects_wrong_shapes),
		cmocka_unit_test(test_decode_tolerates_newer_qemu),
		cmocka_unit_test(test_names),
	};

	recordings_init(argc, argv);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
