/* SPDX-License-Identifier: Apache-2.0 */
/*
 * QMP's JSON: building commands' arguments and reading replies and events into the typed
 * structs of qmp.h. The names of QEMU's enums are here too.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "qmp_json.h"

/* ---- enum names ---- */

static const char *const migration_status_names[] = {
	[QMP_MIGRATION_UNKNOWN] = "unknown",
#define QMP_X(e, s) [QMP_MIGRATION_##e] = s,
	QMP_MIGRATION_STATUSES(QMP_X)
#undef QMP_X
};

static const char *const run_state_names[] = {
	[QMP_RUN_UNKNOWN] = "unknown",
#define QMP_X(e, s) [QMP_RUN_##e] = s,
	QMP_RUN_STATES(QMP_X)
#undef QMP_X
};

#define N_ELEMS(a) (sizeof(a) / sizeof((a)[0]))

const char *qmp_migration_status_name(enum qmp_migration_status status)
{
	if ((unsigned)status >= N_ELEMS(migration_status_names))
		return "unknown";
	return migration_status_names[status];
}

enum qmp_migration_status qmp_migration_status_parse(const char *name)
{
	if (!name)
		return QMP_MIGRATION_UNKNOWN;
	for (size_t i = 1; i < N_ELEMS(migration_status_names); i++)
		if (strcmp(migration_status_names[i], name) == 0)
			return (enum qmp_migration_status)i;
	return QMP_MIGRATION_UNKNOWN;
}

const char *qmp_run_state_name(enum qmp_run_state state)
{
	if ((unsigned)state >= N_ELEMS(run_state_names))
		return "unknown";
	return run_state_names[state];
}

enum qmp_run_state qmp_run_state_parse(const char *name)
{
	if (!name)
		return QMP_RUN_UNKNOWN;
	for (size_t i = 1; i < N_ELEMS(run_state_names); i++)
		if (strcmp(run_state_names[i], name) == 0)
			return (enum qmp_run_state)i;
	return QMP_RUN_UNKNOWN;
}

/* ---- helpers ---- */

__attribute__((format(printf, 3, 4))) static int fail(char *err, size_t err_len,
						      const char *fmt, ...)
{
	if (err && err_len) {
		va_list ap;

		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return -EPROTO;
}

static void copy_str(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

/* Reads an optional non-negative integer member. Absent: 0 with *has false. */
static int get_u64(const json_t *obj, const char *key, uint64_t *val, bool *has, char *err,
		   size_t err_len)
{
	const json_t *v = json_object_get(obj, key);

	*val = 0;
	if (has)
		*has = false;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0)
		return fail(err, err_len, "\"%s\" is not a non-negative integer", key);
	*val = (uint64_t)json_integer_value(v);
	if (has)
		*has = true;
	return 0;
}

/* Reads an optional integer member (may be negative). */
static int get_i64(const json_t *obj, const char *key, int64_t *val, bool *has, char *err,
		   size_t err_len)
{
	const json_t *v = json_object_get(obj, key);

	*val = 0;
	*has = false;
	if (!v)
		return 0;
	if (!json_is_integer(v))
		return fail(err, err_len, "\"%s\" is not an integer", key);
	*val = json_integer_value(v);
	*has = true;
	return 0;
}

/* Reads an optional string member; absent gives "". */
static int get_str(const json_t *obj, const char *key, char *buf, size_t len, char *err,
		   size_t err_len)
{
	const json_t *v = json_object_get(obj, key);

	buf[0] = '\0';
	if (!v)
		return 0;
	if (!json_is_string(v))
		return fail(err, err_len, "\"%s\" is not a string", key);
	copy_str(buf, len, json_string_value(v));
	return 0;
}

/* ---- messages ---- */

enum qmp_msg_type qmp_json_classify(const json_t *msg)
{
	if (!json_is_object(msg))
		return QMP_MSG_INVALID;
	if (json_object_get(msg, "return"))
		return QMP_MSG_RETURN;
	if (json_object_get(msg, "error"))
		return QMP_MSG_ERROR;
	if (json_is_string(json_object_get(msg, "event")))
		return QMP_MSG_EVENT;
	if (json_is_object(json_object_get(msg, "QMP")))
		return QMP_MSG_GREETING;
	return QMP_MSG_INVALID;
}

json_t *qmp_json_command(const char *command, json_t *args, const char *id)
{
	json_t *msg = json_object();

	if (!msg || json_object_set_new(msg, "execute", json_string(command)))
		goto nomem;
	if (args && json_object_set(msg, "arguments", args))
		goto nomem;
	if (id && json_object_set_new(msg, "id", json_string(id)))
		goto nomem;
	json_decref(args);
	return msg;
nomem:
	json_decref(args);
	json_decref(msg);
	return NULL;
}

int qmp_json_decode_error(const json_t *msg, char *cls, size_t cls_len, char *desc,
			  size_t desc_len)
{
	const json_t *e = json_object_get(msg, "error");
	const char *c = json_string_value(json_object_get(e, "class"));
	const char *d = json_string_value(json_object_get(e, "desc"));

	copy_str(cls, cls_len, c);
	copy_str(desc, desc_len, d);
	return c && d ? 0 : -EPROTO;
}

int qmp_json_decode_greeting(const json_t *msg, struct qmp_version *out, char *err,
			     size_t err_len)
{
	const json_t *qmp = json_object_get(msg, "QMP");
	const json_t *ver = json_object_get(qmp, "version");
	const json_t *qemu = json_object_get(ver, "qemu");
	const char *keys[] = {"major", "minor", "micro"};
	int *vals[] = {&out->major, &out->minor, &out->micro};

	memset(out, 0, sizeof(*out));
	if (!json_is_object(qmp))
		return fail(err, err_len, "not a QMP greeting (no \"QMP\" object)");
	if (!json_is_object(qemu))
		return fail(err, err_len, "QMP greeting without version.qemu");
	for (size_t i = 0; i < N_ELEMS(keys); i++) {
		const json_t *v = json_object_get(qemu, keys[i]);

		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > 100000)
			return fail(err, err_len, "QMP greeting: bad version.qemu.%s", keys[i]);
		*vals[i] = (int)json_integer_value(v);
	}
	return get_str(ver, "package", out->package, sizeof(out->package), err, err_len);
}

int qmp_json_decode_event(const json_t *msg, struct qmp_event *out, char *err,
			  size_t err_len)
{
	static const struct {
		const char *name;
		enum qmp_event_kind kind;
	} kinds[] = {
		{"MIGRATION", QMP_EVENT_MIGRATION}, {"MIGRATION_PASS", QMP_EVENT_MIGRATION_PASS},
		{"STOP", QMP_EVENT_STOP},           {"RESUME", QMP_EVENT_RESUME},
		{"SHUTDOWN", QMP_EVENT_SHUTDOWN},
	};
	const char *name = json_string_value(json_object_get(msg, "event"));
	const json_t *ts = json_object_get(msg, "timestamp");
	const json_t *data = json_object_get(msg, "data");
	int64_t sec, usec;
	bool has_sec, has_usec;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!name)
		return fail(err, err_len, "event without a name");
	copy_str(out->name, sizeof(out->name), name);
	for (size_t i = 0; i < N_ELEMS(kinds); i++)
		if (strcmp(kinds[i].name, name) == 0)
			out->kind = kinds[i].kind;
	if (ts) {
		if (get_i64(ts, "seconds", &sec, &has_sec, err, err_len) ||
		    get_i64(ts, "microseconds", &usec, &has_usec, err, err_len))
			return -EPROTO;
		out->qemu_time_us = sec * 1000000 + usec;
	}
	if (data && !json_is_object(data))
		return fail(err, err_len, "event %s: \"data\" is not an object", name);
	if (data && get_str(data, "status", out->status, sizeof(out->status), err, err_len))
		return -EPROTO;

	switch (out->kind) {
	case QMP_EVENT_MIGRATION:
		if (!out->status[0])
			return fail(err, err_len, "MIGRATION event without a status");
		out->migration_status = qmp_migration_status_parse(out->status);
		break;
	case QMP_EVENT_MIGRATION_PASS: {
		bool has;

		rc = get_i64(data, "pass", &out->pass, &has, err, err_len);
		if (rc == 0 && !has)
			rc = fail(err, err_len, "MIGRATION_PASS event without a pass");
		return rc;
	}
	case QMP_EVENT_SHUTDOWN: {
		const json_t *guest = json_object_get(data, "guest");

		if (guest && !json_is_boolean(guest))
			return fail(err, err_len, "SHUTDOWN: \"guest\" is not a boolean");
		out->guest = json_is_true(guest);
		return get_str(data, "reason", out->reason, sizeof(out->reason), err, err_len);
	}
	default:
		break;
	}
	return 0;
}

/* ---- arguments ---- */

int qmp_json_encode_capabilities(const struct qmp_capability *caps, size_t n, json_t **args)
{
	json_t *list, *obj;

	*args = NULL;
	if (!caps && n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++)
		if (!caps[i].name || !caps[i].name[0])
			return -EINVAL;
	list = json_array();
	obj = json_object();
	if (!list || !obj || json_object_set(obj, "capabilities", list))
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		json_t *cap = json_pack("{s:s, s:b}", "capability", caps[i].name, "state",
					caps[i].state);

		if (!cap || json_array_append_new(list, cap))
			goto nomem;
	}
	json_decref(list);
	*args = obj;
	return 0;
nomem:
	json_decref(list);
	json_decref(obj);
	return -ENOMEM;
}

/* QEMU's name of each parameter of struct qmp_migrate_params, and its field. */
#define MIGRATE_PARAMS(X)                                                                  \
	X(downtime_limit_ms, "downtime-limit", has_downtime_limit)                         \
	X(max_bandwidth, "max-bandwidth", has_max_bandwidth)                               \
	X(max_postcopy_bandwidth, "max-postcopy-bandwidth", has_max_postcopy_bandwidth)    \
	X(announce_initial_ms, "announce-initial", has_announce_initial)                   \
	X(announce_max_ms, "announce-max", has_announce_max)                               \
	X(announce_rounds, "announce-rounds", has_announce_rounds)                         \
	X(announce_step_ms, "announce-step", has_announce_step)                            \
	X(cpu_throttle_initial, "cpu-throttle-initial", has_cpu_throttle_initial)          \
	X(cpu_throttle_increment, "cpu-throttle-increment", has_cpu_throttle_increment)    \
	X(max_cpu_throttle, "max-cpu-throttle", has_max_cpu_throttle)

int qmp_json_encode_migrate_params(const struct qmp_migrate_params *params, json_t **args)
{
	json_t *obj;

	*args = NULL;
	if (!params)
		return -EINVAL;
#define X(field, name, has)                                                                \
	if (params->has && params->field > INT64_MAX)                                     \
		return -EINVAL;
	MIGRATE_PARAMS(X)
#undef X
	obj = json_object();
	if (!obj)
		return -ENOMEM;
#define X(field, name, has)                                                                \
	if (params->has && json_object_set_new(obj, name, json_integer((json_int_t)params->field))) \
		goto nomem;
	MIGRATE_PARAMS(X)
#undef X
	*args = obj;
	return 0;
nomem:
	json_decref(obj);
	return -ENOMEM;
}

int qmp_json_encode_uri(const char *uri, json_t **args)
{
	*args = NULL;
	if (!uri || !uri[0])
		return -EINVAL;
	*args = json_pack("{s:s}", "uri", uri);
	return *args ? 0 : -ENOMEM;
}

int qmp_json_encode_migrate_continue(enum qmp_migration_status state, json_t **args)
{
	*args = NULL;
	if (state == QMP_MIGRATION_UNKNOWN ||
	    (unsigned)state >= N_ELEMS(migration_status_names))
		return -EINVAL;
	*args = json_pack("{s:s}", "state", qmp_migration_status_name(state));
	return *args ? 0 : -ENOMEM;
}

int qmp_json_encode_announce(const struct qmp_announce *a, json_t **args)
{
	*args = NULL;
	if (!a || a->initial_ms < 0 || a->max_ms < 0 || a->rounds < 0 || a->step_ms < 0)
		return -EINVAL;
	*args = json_pack("{s:I, s:I, s:I, s:I}", "initial", (json_int_t)a->initial_ms, "max",
			  (json_int_t)a->max_ms, "rounds", (json_int_t)a->rounds, "step",
			  (json_int_t)a->step_ms);
	return *args ? 0 : -ENOMEM;
}

/* ---- replies ---- */

int qmp_json_decode_status(const json_t *ret, struct qmp_status *out, char *err,
			   size_t err_len)
{
	const char *status = json_string_value(json_object_get(ret, "status"));
	const json_t *running = json_object_get(ret, "running");

	memset(out, 0, sizeof(*out));
	if (!json_is_object(ret))
		return fail(err, err_len, "query-status: the return is not an object");
	if (!status)
		return fail(err, err_len, "query-status: no \"status\" string");
	if (!json_is_boolean(running))
		return fail(err, err_len, "query-status: no \"running\" boolean");
	out->state = qmp_run_state_parse(status);
	out->running = json_is_true(running);
	return 0;
}

static int decode_ram(const json_t *ram, struct qmp_migrate_ram *out, char *err,
		      size_t err_len)
{
	const json_t *mbps = json_object_get(ram, "mbps");
	struct {
		const char *key;
		uint64_t *val;
		bool *has;
	} fields[] = {
		{"total", &out->total, NULL},
		{"remaining", &out->remaining, NULL},
		{"transferred", &out->transferred, NULL},
		{"normal-bytes", &out->normal_bytes, NULL},
		{"duplicate", &out->duplicate, NULL},
		{"dirty-pages-rate", &out->dirty_pages_rate, NULL},
		{"dirty-sync-count", &out->dirty_sync_count, NULL},
		{"page-size", &out->page_size, NULL},
		{"pages-per-second", &out->pages_per_second, NULL},
		{"precopy-bytes", &out->precopy_bytes, NULL},
		{"downtime-bytes", &out->downtime_bytes, NULL},
		{"postcopy-bytes", &out->postcopy_bytes, NULL},
		{"postcopy-requests", &out->postcopy_requests, &out->has_postcopy_requests},
	};

	if (!json_is_object(ram))
		return fail(err, err_len, "query-migrate: \"ram\" is not an object");
	for (size_t i = 0; i < N_ELEMS(fields); i++)
		if (get_u64(ram, fields[i].key, fields[i].val, fields[i].has, err, err_len))
			return -EPROTO;
	/* "total" is what makes the section meaningful; the others may come and go with
	 * QEMU versions. */
	if (!json_object_get(ram, "total"))
		return fail(err, err_len, "query-migrate: \"ram\" without \"total\"");
	if (mbps && !json_is_number(mbps))
		return fail(err, err_len, "query-migrate: \"mbps\" is not a number");
	out->mbps = mbps ? json_number_value(mbps) : 0.0;
	return 0;
}

int qmp_json_decode_migrate_info(const json_t *ret, struct qmp_migrate_info *out, char *err,
				 size_t err_len)
{
	const json_t *status, *ram;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(ret))
		return fail(err, err_len, "query-migrate: the return is not an object");
	status = json_object_get(ret, "status");
	if (!status) {
		/* QEMU 7.2 answers {} when no migration ever started. */
		out->status = QMP_MIGRATION_NONE;
	} else if (!json_is_string(status)) {
		return fail(err, err_len, "query-migrate: \"status\" is not a string");
	} else {
		out->status = qmp_migration_status_parse(json_string_value(status));
	}
	ram = json_object_get(ret, "ram");
	if (ram) {
		if (decode_ram(ram, &out->ram, err, err_len))
			return -EPROTO;
		out->has_ram = true;
	}
	if (get_i64(ret, "total-time", &out->total_time_ms, &out->has_total_time, err,
		    err_len) ||
	    get_i64(ret, "expected-downtime", &out->expected_downtime_ms,
		    &out->has_expected_downtime, err, err_len) ||
	    get_i64(ret, "downtime", &out->downtime_ms, &out->has_downtime, err, err_len) ||
	    get_i64(ret, "setup-time", &out->setup_time_ms, &out->has_setup_time, err,
		    err_len) ||
	    get_i64(ret, "cpu-throttle-percentage", &out->cpu_throttle_percentage,
		    &out->has_cpu_throttle_percentage, err, err_len))
		return -EPROTO;
	return get_str(ret, "error-desc", out->error_desc, sizeof(out->error_desc), err,
		       err_len);
}

int qmp_json_decode_migrate_params(const json_t *ret, struct qmp_migrate_params *out,
				   char *err, size_t err_len)
{
	memset(out, 0, sizeof(*out));
	if (!json_is_object(ret))
		return fail(err, err_len, "query-migrate-parameters: the return is not an object");
#define X(field, name, has)                                                                \
	if (get_u64(ret, name, &out->field, &out->has, err, err_len))                     \
		return -EPROTO;
	MIGRATE_PARAMS(X)
#undef X
	return 0;
}

int qmp_json_decode_capability(const json_t *ret, const char *name, bool *state, char *err,
			       size_t err_len)
{
	size_t i;
	const json_t *cap;

	*state = false;
	if (!json_is_array(ret))
		return fail(err, err_len, "query-migrate-capabilities: the return is not a list");
	json_array_foreach(ret, i, cap) {
		const char *n = json_string_value(json_object_get(cap, "capability"));
		const json_t *s = json_object_get(cap, "state");

		if (!n || !json_is_boolean(s))
			return fail(err, err_len,
				    "query-migrate-capabilities: entry %zu is not "
				    "{capability, state}",
				    i);
		if (strcmp(n, name) == 0) {
			*state = json_is_true(s);
			return 0;
		}
	}
	if (err && err_len)
		snprintf(err, err_len, "this QEMU has no migration capability \"%s\"", name);
	return -ENOENT;
}

int qmp_json_decode_empty(const json_t *ret, char *err, size_t err_len)
{
	/* QEMU answers {}; members a later QEMU might add are ignored. */
	if (!json_is_object(ret))
		return fail(err, err_len, "the return is not an object");
	return 0;
}
