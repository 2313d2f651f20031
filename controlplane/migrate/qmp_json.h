/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The JSON side of the QMP client: every typed call builds its arguments with one encode
 * function here and reads its reply with one decode function here, so that tests can
 * check the wire format (against commands and replies recorded from a real QEMU) apart
 * from the I/O. Nothing in this file touches a socket.
 *
 * Encoders return 0 and a new object in *args (the caller owns one reference), -EINVAL
 * for an argument QEMU cannot take, or -ENOMEM. Decoders take a borrowed object and fill
 * a struct; they return 0, or -EPROTO with the reason in `err` (which may be NULL) when
 * the JSON does not have the shape QEMU 7.2 gives. A field QEMU may leave out is marked
 * absent (has_ flags); a field of the wrong type is an error.
 */
#ifndef VMF_QMP_JSON_H
#define VMF_QMP_JSON_H

#include <stddef.h>

#include <jansson.h>

#include "qmp.h"

/* ---- messages ---- */

enum qmp_msg_type {
	QMP_MSG_INVALID = 0, /* not an object, or none of the keys below */
	QMP_MSG_GREETING,    /* {"QMP": {...}} */
	QMP_MSG_RETURN,      /* {"return": ..., "id": ...} */
	QMP_MSG_ERROR,       /* {"error": {"class", "desc"}, "id": ...} */
	QMP_MSG_EVENT,       /* {"event": NAME, "data": ..., "timestamp": ...} */
};

/* Which kind of message `msg` is (from its keys only). */
enum qmp_msg_type qmp_json_classify(const json_t *msg);

/*
 * Builds a command: {"execute": command, "arguments": args, "id": id}. Steals `args`
 * (NULL: no "arguments"), also on failure. `id` may be NULL (no "id"). Returns the new
 * object, or NULL when out of memory.
 */
json_t *qmp_json_command(const char *command, json_t *args, const char *id);

/* Reads an error reply: QEMU's class and desc, each truncated to its buffer. -EPROTO
 * when `msg` has no "error" object with string "class" and "desc". */
int qmp_json_decode_error(const json_t *msg, char *cls, size_t cls_len, char *desc,
			  size_t desc_len);

/* Reads the greeting {"QMP": {"version": {"qemu": {...}, "package"}, ...}}. */
int qmp_json_decode_greeting(const json_t *msg, struct qmp_version *out, char *err,
			     size_t err_len);

/* Reads an event message (any event: unknown names give QMP_EVENT_OTHER). `recv_time_ns`
 * is left to the caller (set to 0 here). */
int qmp_json_decode_event(const json_t *msg, struct qmp_event *out, char *err,
			  size_t err_len);

/* ---- typed calls: arguments ---- */

/* {"capabilities": [{"capability": NAME, "state": BOOL}, ...]} */
int qmp_json_encode_capabilities(const struct qmp_capability *caps, size_t n, json_t **args);

/* The parameters whose has_ flag is set, under QEMU's names. */
int qmp_json_encode_migrate_params(const struct qmp_migrate_params *params, json_t **args);

/* {"uri": URI}, for migrate and migrate-incoming. */
int qmp_json_encode_uri(const char *uri, json_t **args);

/* {"state": NAME}, for migrate-continue. */
int qmp_json_encode_migrate_continue(enum qmp_migration_status state, json_t **args);

/* {"initial", "max", "rounds", "step"}, for announce-self. -EINVAL for a negative value. */
int qmp_json_encode_announce(const struct qmp_announce *announce, json_t **args);

/* ---- typed calls: replies (the value of "return") ---- */

/* query-status */
int qmp_json_decode_status(const json_t *ret, struct qmp_status *out, char *err,
			   size_t err_len);

/* query-migrate. An empty object (no migration yet) gives status NONE. */
int qmp_json_decode_migrate_info(const json_t *ret, struct qmp_migrate_info *out, char *err,
				 size_t err_len);

/* query-migrate-parameters: sets has_ for every parameter present. */
int qmp_json_decode_migrate_params(const json_t *ret, struct qmp_migrate_params *out,
				   char *err, size_t err_len);

/* query-migrate-capabilities, for the capability `name`: -ENOENT when it is not listed. */
int qmp_json_decode_capability(const json_t *ret, const char *name, bool *state, char *err,
			       size_t err_len);

/* The return of a command that answers nothing: QEMU gives {}; any object is taken (a
 * later QEMU may add members), anything else is -EPROTO. */
int qmp_json_decode_empty(const json_t *ret, char *err, size_t err_len);

#endif /* VMF_QMP_JSON_H */
