/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The untyped layer under the typed calls of qmp.h: send any command as a jansson object
 * and get its raw return value. The typed calls are the interface for the driver; this is
 * for them, for tests, and for a command that has no typed call yet (add one instead of
 * calling this from the driver).
 */
#ifndef VMF_QMP_RAW_H
#define VMF_QMP_RAW_H

#include <jansson.h>

#include "qmp.h"

/*
 * Sends {"execute": command, "arguments": args, "id": ...} and waits up to `timeout_ms`
 * for the reply with the same id, reading (and queueing) events meanwhile.
 *
 * @command: QEMU's command name.
 * @args: the arguments object; stolen (also on failure); NULL for none.
 * @ret: receives a new reference to the reply's "return" value; NULL to drop it.
 * @timeout_ms: >= 0.
 * Returns 0 or a negative errno as listed in qmp.h (-EIO/-EOPNOTSUPP carry QEMU's
 * class and desc in qmp_last_error_class()/qmp_last_error()).
 */
int qmp_execute(struct qmp *q, const char *command, json_t *args, json_t **ret,
		int timeout_ms);

#endif /* VMF_QMP_RAW_H */
