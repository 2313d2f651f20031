/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Helpers shared by the QMP client's tests: where the recordings are, scripts written
 * inline, and a client connected to a fake monitor.
 */
#ifndef VMF_REPLAY_UTIL_H
#define VMF_REPLAY_UTIL_H

#include <jansson.h>

#include "fake_qmp.h"
#include "qmp.h"

/* The greeting QEMU 7.2 sends here, and the capability negotiation, as script lines in
 * the quoting of script_parse() (single quotes for double quotes). */
#define SCRIPT_GREETING                                                                    \
	"<- {'QMP': {'version': {'qemu': {'micro': 22, 'minor': 2, 'major': 7}, "         \
	"'package': 'Debian 1:7.2+dfsg-7+deb12u18+b3'}, 'capabilities': ['oob']}}\n"
#define SCRIPT_NEGOTIATION                                                                 \
	SCRIPT_GREETING "-> {'execute': 'qmp_capabilities', 'id': 'c0'}\n"                 \
			"<- {'return': {}, 'id': 'c0'}\n"

/* The generous timeout of calls that are expected to succeed at once. */
#define CALL_MS 2000

/* Sets the recordings' directory (the test's first argument, else the build's default). */
void recordings_init(int argc, char **argv);

/* The path of recording `name` ("basic.qmp"); a static buffer. */
const char *recording(const char *name);

/* The "return" value of the `nth` reply to `execute` on monitor `tag` of recording
 * `file` (a new reference); fails the test when there is none. */
json_t *recorded_return(const char *file, const char *tag, const char *execute, int nth);

/* The "arguments" of the `nth` command `execute` (a new reference; NULL if it had
 * none); fails the test when there is no such command. */
json_t *recorded_arguments(const char *file, const char *tag, const char *execute, int nth);

/* The "desc" of the error QEMU gave to the `nth` `execute` (a static buffer). */
const char *recorded_error_desc(const char *file, const char *tag, const char *execute,
				int nth);

/* A fake monitor replaying `text`, where ' stands for " (JSON in C strings). */
struct fake_qmp *script_parse(const char *text);

/* Starts `fake` and connects a client to it; fails the test on error. */
struct qmp *connect_fake(struct fake_qmp *fake);

/* Connects a client to a fake replaying monitor `tag` of recording `file`. */
struct qmp *connect_recording(struct fake_qmp **fake, const char *file, const char *tag);

/* Closes the client, then checks that the replay went exactly as scripted. */
void finish_replay(struct fake_qmp *fake, struct qmp *q);

/* Milliseconds of CLOCK_MONOTONIC. */
long long mono_ms(void);

#endif /* VMF_REPLAY_UTIL_H */
