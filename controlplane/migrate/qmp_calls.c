/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The typed monitor calls: each is one encode step (qmp_json.c), one exchange
 * (qmp_execute) and one decode step (qmp_json.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qmp_internal.h"
#include "qmp_json.h"
#include "qmp_raw.h"

/* An encoder's failure: nothing was sent. */
static int encode_failed(struct qmp *q, const char *command, int rc)
{
	if (rc == -ENOMEM)
		return qmp_set_error(q, rc, "%s: out of memory", command);
	return qmp_set_error(q, rc, "%s: invalid argument", command);
}

/* A decoder's failure: the reply had the wrong shape (the connection stays up). */
static int decode_failed(struct qmp *q, const char *command, int rc, const char *why)
{
	return qmp_set_error(q, rc, "%s: unexpected reply from QEMU: %s", command, why);
}

/* A command whose reply carries nothing. Takes `args`. */
static int call_simple(struct qmp *q, const char *command, json_t *args, int timeout_ms)
{
	json_t *ret;
	char why[256];
	int rc;

	rc = qmp_execute(q, command, args, &ret, timeout_ms);
	if (rc == 0 && qmp_json_decode_empty(ret, why, sizeof(why)))
		rc = decode_failed(q, command, -EPROTO, why);
	json_decref(ret);
	return rc;
}

int qmp_query_status(struct qmp *q, struct qmp_status *out, int timeout_ms)
{
	json_t *ret;
	char why[256];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = qmp_execute(q, "query-status", NULL, &ret, timeout_ms);
	if (rc == 0 && qmp_json_decode_status(ret, out, why, sizeof(why)))
		rc = decode_failed(q, "query-status", -EPROTO, why);
	json_decref(ret);
	return rc;
}

int qmp_query_migrate(struct qmp *q, struct qmp_migrate_info *out, int timeout_ms)
{
	json_t *ret;
	char why[256];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = qmp_execute(q, "query-migrate", NULL, &ret, timeout_ms);
	if (rc == 0 && qmp_json_decode_migrate_info(ret, out, why, sizeof(why)))
		rc = decode_failed(q, "query-migrate", -EPROTO, why);
	json_decref(ret);
	return rc;
}

int qmp_migrate_set_capabilities(struct qmp *q, const struct qmp_capability *caps, size_t n,
				 int timeout_ms)
{
	json_t *args;
	int rc = qmp_json_encode_capabilities(caps, n, &args);

	if (rc < 0)
		return encode_failed(q, "migrate-set-capabilities", rc);
	return call_simple(q, "migrate-set-capabilities", args, timeout_ms);
}

int qmp_query_migrate_capability(struct qmp *q, const char *name, bool *state, int timeout_ms)
{
	json_t *ret;
	char why[256];
	int rc;

	*state = false;
	if (!name || !name[0])
		return qmp_set_error(q, -EINVAL, "query-migrate-capabilities: no name");
	rc = qmp_execute(q, "query-migrate-capabilities", NULL, &ret, timeout_ms);
	if (rc == 0) {
		rc = qmp_json_decode_capability(ret, name, state, why, sizeof(why));
		if (rc == -ENOENT)
			qmp_set_error(q, rc, "%s", why);
		else if (rc < 0)
			decode_failed(q, "query-migrate-capabilities", rc, why);
	}
	json_decref(ret);
	return rc;
}

int qmp_migrate_set_parameters(struct qmp *q, const struct qmp_migrate_params *params,
			       int timeout_ms)
{
	json_t *args;
	int rc = qmp_json_encode_migrate_params(params, &args);

	if (rc < 0)
		return encode_failed(q, "migrate-set-parameters", rc);
	return call_simple(q, "migrate-set-parameters", args, timeout_ms);
}

int qmp_query_migrate_parameters(struct qmp *q, struct qmp_migrate_params *out,
				 int timeout_ms)
{
	json_t *ret;
	char why[256];
	int rc;

	memset(out, 0, sizeof(*out));
	rc = qmp_execute(q, "query-migrate-parameters", NULL, &ret, timeout_ms);
	if (rc == 0 && qmp_json_decode_migrate_params(ret, out, why, sizeof(why)))
		rc = decode_failed(q, "query-migrate-parameters", -EPROTO, why);
	json_decref(ret);
	return rc;
}

int qmp_migrate(struct qmp *q, const char *uri, int timeout_ms)
{
	json_t *args;
	int rc = qmp_json_encode_uri(uri, &args);

	if (rc < 0)
		return encode_failed(q, "migrate", rc);
	return call_simple(q, "migrate", args, timeout_ms);
}

int qmp_migrate_incoming(struct qmp *q, const char *uri, int timeout_ms)
{
	json_t *args;
	int rc = qmp_json_encode_uri(uri, &args);

	if (rc < 0)
		return encode_failed(q, "migrate-incoming", rc);
	return call_simple(q, "migrate-incoming", args, timeout_ms);
}

int qmp_migrate_continue(struct qmp *q, enum qmp_migration_status state, int timeout_ms)
{
	json_t *args;
	int rc = qmp_json_encode_migrate_continue(state, &args);

	if (rc < 0)
		return encode_failed(q, "migrate-continue", rc);
	return call_simple(q, "migrate-continue", args, timeout_ms);
}

int qmp_migrate_cancel(struct qmp *q, int timeout_ms)
{
	return call_simple(q, "migrate_cancel", NULL, timeout_ms);
}

int qmp_migrate_start_postcopy(struct qmp *q, int timeout_ms)
{
	return call_simple(q, "migrate-start-postcopy", NULL, timeout_ms);
}

int qmp_announce_self(struct qmp *q, const struct qmp_announce *announce, int timeout_ms)
{
	json_t *args;
	int rc = qmp_json_encode_announce(announce, &args);

	if (rc < 0)
		return encode_failed(q, "announce-self", rc);
	return call_simple(q, "announce-self", args, timeout_ms);
}

int qmp_stop(struct qmp *q, int timeout_ms)
{
	return call_simple(q, "stop", NULL, timeout_ms);
}

int qmp_cont(struct qmp *q, int timeout_ms)
{
	return call_simple(q, "cont", NULL, timeout_ms);
}

int qmp_quit(struct qmp *q, int timeout_ms)
{
	bool was_up = q->connected;
	int rc = call_simple(q, "quit", NULL, timeout_ms);

	/* QEMU may close the monitor before its reply reaches us: it is quitting, as asked. */
	if (rc == -ENOTCONN && was_up && q->peer_closed)
		return 0;
	return rc;
}

int qmp_virtio_net_paths(struct qmp *q, char (*paths)[QMP_QOM_PATH_MAX], size_t max, size_t *n,
			 int timeout_ms)
{
	json_t *ret, *dev;
	size_t i;
	int rc;

	*n = 0;
	rc = qmp_execute(q, "x-query-virtio", NULL, &ret, timeout_ms);
	if (rc)
		return rc;
	if (!json_is_array(ret)) {
		json_decref(ret);
		return decode_failed(q, "x-query-virtio", -EPROTO, "not a list");
	}
	json_array_foreach(ret, i, dev) {
		const char *name = json_string_value(json_object_get(dev, "name"));
		const char *path = json_string_value(json_object_get(dev, "path"));

		if (!name || !path || strcmp(name, "virtio-net") != 0 || *n == max ||
		    strlen(path) >= QMP_QOM_PATH_MAX)
			continue;
		snprintf(paths[(*n)++], QMP_QOM_PATH_MAX, "%s", path);
	}
	json_decref(ret);
	return 0;
}

int qmp_virtio_queue_used_idx(struct qmp *q, const char *path, unsigned int queue,
			      uint16_t *used, int timeout_ms)
{
	json_t *args = json_pack("{s:s, s:I}", "path", path ? path : "", "queue", (json_int_t)queue);
	json_t *ret, *v;
	int rc;

	if (!path || !args) {
		json_decref(args);
		return encode_failed(q, "x-query-virtio-queue-status", args ? -EINVAL : -ENOMEM);
	}
	rc = qmp_execute(q, "x-query-virtio-queue-status", args, &ret, timeout_ms);
	if (rc)
		return rc;
	v = json_object_get(ret, "used-idx");
	if (!json_is_integer(v)) {
		json_decref(ret);
		return decode_failed(q, "x-query-virtio-queue-status", -EPROTO, "no used-idx");
	}
	*used = (uint16_t)json_integer_value(v);
	json_decref(ret);
	return 0;
}
