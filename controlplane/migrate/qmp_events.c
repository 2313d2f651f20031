/* SPDX-License-Identifier: Apache-2.0 */
/*
 * QMP events: the bounded queue, the handler, waiting for one event, and the
 * non-blocking entry point of an event loop.
 */
#include <errno.h>
#include <string.h>

#include "qmp_internal.h"

static void queue_push(struct qmp *q, const struct qmp_event *ev)
{
	if (q->ev_count == QMP_EVENT_QUEUE_LEN) {
		/* Full: the oldest goes, so that a wait still sees what is happening now. */
		q->ev_head = (q->ev_head + 1) % QMP_EVENT_QUEUE_LEN;
		q->ev_count--;
		q->events_lost++;
	}
	q->events[(q->ev_head + q->ev_count) % QMP_EVENT_QUEUE_LEN] = *ev;
	q->ev_count++;
}

static bool queue_pop(struct qmp *q, struct qmp_event *out)
{
	if (!q->ev_count)
		return false;
	*out = q->events[q->ev_head];
	q->ev_head = (q->ev_head + 1) % QMP_EVENT_QUEUE_LEN;
	q->ev_count--;
	return true;
}

void qmp_event_arrived(struct qmp *q, const struct qmp_event *ev)
{
	bool keep = true;

	q->events_read++;
	if (q->handler) {
		q->in_handler = true;
		keep = q->handler(q, ev, q->handler_opaque);
		q->in_handler = false;
	}
	if (keep)
		queue_push(q, ev);
}

void qmp_set_event_handler(struct qmp *q,
			   bool (*handler)(struct qmp *q, const struct qmp_event *ev, void *opaque),
			   void *opaque)
{
	q->handler = handler;
	q->handler_opaque = opaque;
}

int qmp_next_event(struct qmp *q, struct qmp_event *out)
{
	struct qmp_event ev;

	if (!queue_pop(q, out ? out : &ev))
		return -EAGAIN;
	return 0;
}

void qmp_discard_events(struct qmp *q)
{
	q->ev_head = 0;
	q->ev_count = 0;
}

uint64_t qmp_events_lost(const struct qmp *q)
{
	return q->events_lost;
}

static bool migration_ended(const struct qmp_event *ev)
{
	return ev->kind == QMP_EVENT_MIGRATION &&
	       (ev->migration_status == QMP_MIGRATION_FAILED ||
		ev->migration_status == QMP_MIGRATION_CANCELLED);
}

int qmp_wait_event(struct qmp *q, const char *name, const char *status, int timeout_ms,
		   struct qmp_event *out)
{
	int64_t deadline;
	struct qmp_event ev;
	int rc;

	if (!q)
		return -EINVAL;
	if (!name || !name[0])
		return qmp_set_error(q, -EINVAL, "wait for an event: no name");
	/* Queued events need no connection: look at them before checking it. */
	rc = q->in_handler ? qmp_set_error(q, -EBUSY, "QMP call from inside the event handler")
	     : timeout_ms < 0 ? qmp_set_error(q, -EINVAL, "negative timeout (%d ms)", timeout_ms)
			      : 0;
	if (rc < 0)
		return rc;
	deadline = qmp_deadline(timeout_ms);
	for (;;) {
		while (queue_pop(q, &ev)) {
			bool match = strcmp(ev.name, name) == 0 &&
				     (!status || strcmp(ev.status, status) == 0);

			if (match) {
				if (out)
					*out = ev;
				return 0;
			}
			if (status && strcmp(name, "MIGRATION") == 0 && migration_ended(&ev)) {
				if (out)
					*out = ev;
				return qmp_set_error(q, -ECANCELED,
						     "waiting for MIGRATION %s: the migration %s",
						     status, ev.status);
			}
		}
		if (!q->connected)
			return qmp_set_error(q, -ENOTCONN,
					     "waiting for %s%s%s: not connected to QEMU: %s", name,
					     status ? " " : "", status ? status : "",
					     q->down_reason);
		rc = qmp_read_input(q, deadline);
		if (rc == -ETIMEDOUT)
			return qmp_set_error(q, rc, "no %s%s%s event from QEMU within %d ms", name,
					     status ? " " : "", status ? status : "", timeout_ms);
		/* When the connection went down, the loop says so once the events that came
		 * before the end are looked at. */
		if (rc < 0 && q->connected)
			return rc;
	}
}

int qmp_process_input(struct qmp *q)
{
	uint64_t before;
	int rc;

	rc = qmp_check_usable(q, 0);
	if (rc < 0)
		return rc;
	before = q->events_read;
	rc = qmp_read_available(q);
	if (rc < 0)
		return rc;
	return (int)(q->events_read - before);
}
