/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The connection's state, shared by the files of the QMP client (qmp.c: the
 * socket, framing and replies; qmp_events.c: the event queue and waits). Not for users.
 */
#ifndef VMF_QMP_INTERNAL_H
#define VMF_QMP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "qmp.h"

#define QMP_ID_LEN 24
/* Commands that timed out and whose replies may still come; one more closes the
 * connection (QEMU is not answering at all). */
#define QMP_MAX_ABANDONED 16

struct qmp {
	int fd;
	bool connected;
	bool peer_closed; /* QEMU closed or reset the connection (as opposed to our closing it
			   * after a protocol error) */
	bool in_handler; /* the event handler is running: calls into q are refused */

	/* Input not yet handled: at most one partial line after each read. */
	char *in;
	size_t in_len;
	size_t in_cap;
	int64_t last_recv_ns; /* CLOCK_MONOTONIC of the last read that got bytes */

	/* The command in flight (one at a time) and its reply once read. */
	uint64_t next_id;
	bool waiting;
	bool want_greeting; /* connecting: the greeting is the awaited "reply" */
	char pending_id[QMP_ID_LEN];
	json_t *reply;

	/* Ids of commands given up on (timeout): their replies are dropped if they come. */
	char abandoned[QMP_MAX_ABANDONED][QMP_ID_LEN];
	unsigned n_abandoned;

	/* Events: a ring, oldest at `ev_head`. */
	struct qmp_event *events;
	size_t ev_head;
	size_t ev_count;
	uint64_t events_read;
	uint64_t events_lost;
	bool (*handler)(struct qmp *q, const struct qmp_event *ev, void *opaque);
	void *handler_opaque;

	struct qmp_version version;
	char err[512];
	char err_class[64];
	char down_reason[512]; /* why the connection is down */
};

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t qmp_now_ns(void);

/* The deadline `timeout_ms` from now (nanoseconds, CLOCK_MONOTONIC). */
int64_t qmp_deadline(int timeout_ms);

/* Records a failure's message on q (clearing the error class) and returns `rc`. */
int qmp_set_error(struct qmp *q, int rc, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Whether a call may start: 0, -EBUSY (from the handler), -ENOTCONN (down), -EINVAL
 * (negative timeout). Sets the message. */
int qmp_check_usable(struct qmp *q, int timeout_ms);

/* Waits until the socket is readable or `deadline_ns` passes, then reads what is there
 * and handles every complete message. 0 (maybe nothing complete yet), -ETIMEDOUT, or the
 * errno that closed the connection. */
int qmp_read_input(struct qmp *q, int64_t deadline_ns);

/* Reads what is there without waiting and handles every complete message. */
int qmp_read_available(struct qmp *q);

/* A decoded event: to the handler, then (unless the handler took it) to the queue. */
void qmp_event_arrived(struct qmp *q, const struct qmp_event *ev);

#endif /* VMF_QMP_INTERNAL_H */
