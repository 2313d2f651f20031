/* SPDX-License-Identifier: Apache-2.0 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "replay_util.h"

#ifndef QMP_RECORDINGS
#define QMP_RECORDINGS "tests/migrate/recordings"
#endif

static const char *recordings_dir = QMP_RECORDINGS;

void recordings_init(int argc, char **argv)
{
	if (argc > 1)
		recordings_dir = argv[1];
}

const char *recording(const char *name)
{
	static char path[4096];

	snprintf(path, sizeof(path), "%s/%s", recordings_dir, name);
	return path;
}

json_t *recorded_return(const char *file, const char *tag, const char *execute, int nth)
{
	json_t *reply, *ret;

	if (fake_qmp_find_exchange(recording(file), tag, execute, nth, NULL, &reply))
		fail_msg("%s: no reply to %s #%d on %s", file, execute, nth, tag);
	ret = json_incref(json_object_get(reply, "return"));
	json_decref(reply);
	if (!ret)
		fail_msg("%s: the reply to %s #%d on %s is not a return", file, execute, nth, tag);
	return ret;
}

json_t *recorded_arguments(const char *file, const char *tag, const char *execute, int nth)
{
	json_t *cmd, *args;

	if (fake_qmp_find_exchange(recording(file), tag, execute, nth, &cmd, NULL))
		fail_msg("%s: no command %s #%d on %s", file, execute, nth, tag);
	args = json_incref(json_object_get(cmd, "arguments"));
	json_decref(cmd);
	return args;
}

const char *recorded_error_desc(const char *file, const char *tag, const char *execute,
				int nth)
{
	static char desc[512];
	json_t *reply;
	const char *d;

	if (fake_qmp_find_exchange(recording(file), tag, execute, nth, NULL, &reply))
		fail_msg("%s: no reply to %s #%d on %s", file, execute, nth, tag);
	d = json_string_value(json_object_get(json_object_get(reply, "error"), "desc"));
	if (!d)
		fail_msg("%s: %s #%d on %s was not refused", file, execute, nth, tag);
	snprintf(desc, sizeof(desc), "%s", d);
	json_decref(reply);
	return desc;
}

struct fake_qmp *script_parse(const char *text)
{
	struct fake_qmp *fake;
	char err[512];
	char *copy = strdup(text);

	assert_non_null(copy);
	for (char *p = copy; *p; p++)
		if (*p == '\'')
			*p = '"';
	if (fake_qmp_parse(&fake, copy, NULL, err, sizeof(err)))
		fail_msg("script: %s", err);
	free(copy);
	return fake;
}

struct qmp *connect_fake(struct fake_qmp *fake)
{
	struct qmp *q;
	char err[512];
	int fd, rc;

	assert_int_equal(fake_qmp_start(fake, &fd), 0);
	rc = qmp_connect_fd(&q, fd, CALL_MS, err, sizeof(err));
	if (rc)
		fail_msg("connect: %d %s", rc, err);
	return q;
}

struct qmp *connect_recording(struct fake_qmp **fake, const char *file, const char *tag)
{
	char err[512];

	if (fake_qmp_load(fake, recording(file), tag, err, sizeof(err)))
		fail_msg("%s", err);
	return connect_fake(*fake);
}

void finish_replay(struct fake_qmp *fake, struct qmp *q)
{
	char err[1024];

	qmp_close(q);
	if (fake_qmp_finish(fake, err, sizeof(err)))
		fail_msg("the replay went off script: %s", err);
}

long long mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
