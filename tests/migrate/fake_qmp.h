/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fake QEMU monitor for tests: it replays a script of QMP traffic on a socket, in a
 * thread, and checks that the client sends what the script expects.
 *
 * A script is text, one step per line (recordings/NAME.qmp are scripts, made by record.sh):
 *
 *   # a comment, and blank lines, are ignored
 *   TAG <- {json}        send this line to the client (greeting, reply, event)
 *   TAG -> {json}        read one line from the client; it must be this command
 *   TAG !close           close the connection (QEMU is gone); must be TAG's last step
 *   TAG !delay MS        wait MS milliseconds before the next step
 *   TAG !garbage TEXT    send TEXT and a line end, verbatim
 *   TAG !partial TEXT    send TEXT without a line end (the rest of a message may follow)
 *   TAG !match-ids       from here on, compare command ids too
 *   TAG !hold            wait until the test calls fake_qmp_release() (a point where
 *                        the test looks at the client before QEMU says more)
 *
 * TAG names the monitor ("src", "dst", "vm"); a script file may interleave several, and
 * each fake serves one (untagged lines belong to every monitor). Commands are compared as
 * JSON values without their "id": the recorder's ids are not the client's. Each recorded
 * id met in a `->` step is mapped to the id the client sent, and a `<-` reply carrying a
 * recorded id is sent with the client's one, so replies match whatever ids the client
 * uses; an id that was never mapped is sent as written (a reply to no command).
 *
 * After its last step the fake waits for the client to close the connection; a command
 * sent meanwhile is a discrepancy. It never waits more than FAKE_QMP_TIMEOUT_MS for the
 * client.
 */
#ifndef VMF_FAKE_QMP_H
#define VMF_FAKE_QMP_H

#include <stddef.h>

#include <jansson.h>

#define FAKE_QMP_TIMEOUT_MS 5000

struct fake_qmp;

/* Loads the steps of monitor `tag` (NULL: every line) from the script file `path`.
 * Returns 0, or -1 with the reason (file, line) in err. */
int fake_qmp_load(struct fake_qmp **out, const char *path, const char *tag, char *err,
		  size_t err_len);

/* Same, from a script in memory. */
int fake_qmp_parse(struct fake_qmp **out, const char *text, const char *tag, char *err,
		   size_t err_len);

/* Starts replaying on one end of a new socketpair; `*client_fd` is the other end (for
 * qmp_connect_fd). Returns 0 or a negative errno. */
int fake_qmp_start(struct fake_qmp *f, int *client_fd);

/* Starts replaying on a unix socket listening at `path` now (it accepts one client).
 * Returns 0 or a negative errno. */
int fake_qmp_start_unix(struct fake_qmp *f, const char *path);

/* Waits for the replay to end (every step done and the client gone, or a discrepancy),
 * then frees `f` (started or not). Returns 0 when the client did exactly what the script
 * expects, -1 otherwise with the first discrepancy in err. */
int fake_qmp_finish(struct fake_qmp *f, char *err, size_t err_len);

/* Lets a replay waiting at a `!hold` step go on (a release given early is kept for the
 * next hold). */
void fake_qmp_release(struct fake_qmp *f);

/* Waits up to `timeout_ms` until the replay waits at a `!hold` step not yet released.
 * Returns 0; -ETIMEDOUT; -EPIPE when the replay ended (its script done, or off script). */
int fake_qmp_wait_hold(struct fake_qmp *f, int timeout_ms);

/* ---- looking things up in a recording (for encode/decode tests) ---- */

/* The `nth` (from 0) command `execute` sent to monitor `tag` in the script file `path`,
 * and the reply to it, as new references (either out pointer may be NULL). Returns 0, or
 * -ENOENT. */
int fake_qmp_find_exchange(const char *path, const char *tag, const char *execute, int nth,
			   json_t **command, json_t **reply);

/* The `nth` (from 0) event `name` sent by monitor `tag`, as a new reference. 0 or -ENOENT. */
int fake_qmp_find_event(const char *path, const char *tag, const char *name, int nth,
			json_t **event);

#endif /* VMF_FAKE_QMP_H */
