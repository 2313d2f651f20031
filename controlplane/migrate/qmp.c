/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The QMP connection: connecting, the greeting and capability negotiation, framing
 * (QEMU writes one JSON message per line, ending in "\r\n"), sending a command and
 * matching its reply by id. Events met on the way are handed to qmp_events.c.
 *
 * The socket is non-blocking; every wait is a poll() bounded by the caller's deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "qmp_internal.h"
#include "qmp_json.h"
#include "qmp_raw.h"

/* The longest message accepted (query-qmp-schema is about 200 KiB in QEMU 7.2). */
#define QMP_MAX_MESSAGE (16u << 20)
#define QMP_READ_CHUNK 65536
#define QMP_READ_CHUNKS_MAX 64 /* per read_available: 4 MiB at most */
#define QMP_CONNECT_RETRY_MS 10

int64_t qmp_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t qmp_deadline(int timeout_ms)
{
	return qmp_now_ns() + (int64_t)timeout_ms * 1000000;
}

/* Milliseconds left until `deadline_ns`, rounded up, for poll(). */
static int remaining_ms(int64_t deadline_ns)
{
	int64_t left = deadline_ns - qmp_now_ns();

	if (left <= 0)
		return 0;
	left = (left + 999999) / 1000000;
	return left > INT_MAX ? INT_MAX : (int)left;
}

__attribute__((format(printf, 2, 0))) static void vset_error(struct qmp *q, const char *fmt,
							  va_list ap)
{
	vsnprintf(q->err, sizeof(q->err), fmt, ap);
	q->err_class[0] = '\0';
}

int qmp_set_error(struct qmp *q, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_error(q, fmt, ap);
	va_end(ap);
	return rc;
}

/*
 * Takes the connection down after QEMU went away or said something that breaks the
 * stream. The fd stays open (shut down) until qmp_close(): an event loop that polls it
 * finds it readable, calls qmp_process_input() and learns why.
 */
__attribute__((format(printf, 3, 4))) static int disconnect(struct qmp *q, int rc,
							    const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_error(q, fmt, ap);
	va_end(ap);
	if (q->connected) {
		shutdown(q->fd, SHUT_RDWR);
		q->connected = false;
		snprintf(q->down_reason, sizeof(q->down_reason), "%s", q->err);
	}
	return rc;
}

int qmp_check_usable(struct qmp *q, int timeout_ms)
{
	if (q->in_handler)
		return qmp_set_error(q, -EBUSY, "QMP call from inside the event handler");
	if (!q->connected)
		return qmp_set_error(q, -ENOTCONN, "not connected to QEMU: %s", q->down_reason);
	if (timeout_ms < 0)
		return qmp_set_error(q, -EINVAL, "negative timeout (%d ms)", timeout_ms);
	return 0;
}

/* ---- replies ---- */

static bool take_abandoned(struct qmp *q, const char *id)
{
	for (unsigned i = 0; i < q->n_abandoned; i++) {
		if (strcmp(q->abandoned[i], id) == 0) {
			q->n_abandoned--;
			memmove(q->abandoned[i], q->abandoned[i + 1],
				(q->n_abandoned - i) * sizeof(q->abandoned[0]));
			return true;
		}
	}
	return false;
}

/* A short, printable excerpt of a message for error texts. */
static const char *excerpt(const char *s, size_t len, char *buf, size_t buf_len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 4 < buf_len; i++)
		buf[n++] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	if (len > n && n + 4 <= buf_len) {
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	buf[n] = '\0';
	return buf;
}

/* Handles one message; takes the reference to `msg`. */
static int handle_message(struct qmp *q, json_t *msg, const char *line, size_t len)
{
	enum qmp_msg_type type = qmp_json_classify(msg);
	const json_t *id = json_object_get(msg, "id");
	const char *id_str = json_string_value(id);
	char buf[128];
	struct qmp_event ev;
	char why[256];
	int rc;

	switch (type) {
	case QMP_MSG_EVENT:
		if (qmp_json_decode_event(msg, &ev, why, sizeof(why))) {
			json_decref(msg);
			return disconnect(q, -EPROTO, "malformed event from QEMU (%s): %s", why,
					  excerpt(line, len, buf, sizeof(buf)));
		}
		json_decref(msg);
		ev.recv_time_ns = q->last_recv_ns;
		qmp_event_arrived(q, &ev);
		return 0;
	case QMP_MSG_RETURN:
	case QMP_MSG_ERROR:
		if (q->waiting && !q->reply && id_str && strcmp(id_str, q->pending_id) == 0) {
			q->reply = msg;
			return 0;
		}
		if (id_str && take_abandoned(q, id_str)) {
			/* The late reply of a command that timed out. */
			json_decref(msg);
			return 0;
		}
		if (!id && type == QMP_MSG_ERROR && q->waiting && !q->reply && !q->want_greeting) {
			/* QEMU could not even parse the command, so it could not echo its id. */
			q->reply = msg;
			return 0;
		}
		rc = disconnect(q, -EPROTO, "QEMU replied to a command not sent (id %s): %s",
				id_str ? id_str : "none", excerpt(line, len, buf, sizeof(buf)));
		json_decref(msg);
		return rc;
	case QMP_MSG_GREETING:
		if (q->want_greeting && !q->reply) {
			q->reply = msg;
			return 0;
		}
		json_decref(msg);
		return disconnect(q, -EPROTO, "unexpected QMP greeting in the middle of the session");
	case QMP_MSG_INVALID:
	default:
		json_decref(msg);
		return disconnect(q, -EPROTO, "not a QMP message: %s",
				  excerpt(line, len, buf, sizeof(buf)));
	}
}

/* Handles every complete line in the input buffer; keeps the partial one. */
static int handle_lines(struct qmp *q)
{
	size_t start = 0;
	int rc = 0;

	while (q->connected && start < q->in_len) {
		char *line = q->in + start;
		char *nl = memchr(line, '\n', q->in_len - start);
		size_t len;
		json_error_t jerr;
		json_t *msg;
		char buf[128];

		if (!nl)
			break;
		len = (size_t)(nl - line);
		start += len + 1;
		while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' ||
			       line[len - 1] == '\t'))
			len--;
		if (!len)
			continue;
		msg = json_loadb(line, len, 0, &jerr);
		if (!msg)
			return disconnect(q, -EPROTO, "malformed JSON from QEMU (%s): %s", jerr.text,
					  excerpt(line, len, buf, sizeof(buf)));
		rc = handle_message(q, msg, line, len);
		if (rc < 0)
			return rc;
	}
	if (!q->connected)
		return rc;
	memmove(q->in, q->in + start, q->in_len - start);
	q->in_len -= start;
	if (q->in_len > QMP_MAX_MESSAGE)
		return disconnect(q, -EPROTO, "a message from QEMU longer than %u bytes",
				  QMP_MAX_MESSAGE);
	return 0;
}

int qmp_read_available(struct qmp *q)
{
	int rc;

	/* Bounded, so that a QEMU that never stops talking cannot hold a caller past its
	 * deadline: what is left stays in the socket, and poll() says so. */
	for (int chunk = 0; chunk < QMP_READ_CHUNKS_MAX; chunk++) {
		ssize_t n;

		if (q->in_cap - q->in_len < QMP_READ_CHUNK) {
			size_t cap = q->in_cap * 2;
			char *in = realloc(q->in, cap);

			if (!in)
				return qmp_set_error(q, -ENOMEM, "out of memory for QMP input");
			q->in = in;
			q->in_cap = cap;
		}
		n = recv(q->fd, q->in + q->in_len, q->in_cap - q->in_len, 0);
		if (n > 0) {
			q->in_len += (size_t)n;
			q->last_recv_ns = qmp_now_ns();
			/* Handle as we go, so that the buffer holds one message at most. */
			rc = handle_lines(q);
			if (rc < 0)
				return rc;
			continue;
		}
		if (n == 0) {
			q->peer_closed = true;
			return disconnect(q, -ENOTCONN, "QEMU closed the monitor%s",
					  q->in_len ? " in the middle of a message" : "");
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		q->peer_closed = errno == ECONNRESET;
		return disconnect(q, -ENOTCONN, "QEMU's monitor connection failed (read: %s)",
				  strerror(errno));
	}
	return 0;
}

int qmp_read_input(struct qmp *q, int64_t deadline_ns)
{
	struct pollfd p = {.fd = q->fd, .events = POLLIN};

	for (;;) {
		int n = poll(&p, 1, remaining_ms(deadline_ns));

		if (n > 0)
			break;
		if (n == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return qmp_set_error(q, -errno, "poll on the QMP socket: %s",
					     strerror(errno));
	}
	return qmp_read_available(q);
}

/* ---- commands ---- */

static int send_all(struct qmp *q, const char *what, const char *buf, size_t len,
		    int64_t deadline_ns)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = send(q->fd, buf + off, len - off, MSG_NOSIGNAL);
		struct pollfd p = {.fd = q->fd, .events = POLLOUT};

		if (n >= 0) {
			off += (size_t)n;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return disconnect(q, -EPIPE, "%s: QEMU is gone (write: %s)", what,
					  strerror(errno));
		n = poll(&p, 1, remaining_ms(deadline_ns));
		if (n == 0) {
			if (off == 0)
				return qmp_set_error(q, -ETIMEDOUT,
						     "%s: QEMU does not read its monitor", what);
			/* Half a command in the socket: the next one would be garbage. */
			return disconnect(q, -ETIMEDOUT,
					  "%s: QEMU stopped reading in the middle of the command",
					  what);
		}
		if (n < 0 && errno != EINTR)
			return qmp_set_error(q, -errno, "%s: poll: %s", what, strerror(errno));
	}
	return 0;
}

/* Reads until q->reply is set or the deadline passes. The reply wins over an error met
 * after it (QEMU answers quit, then closes). */
static int wait_reply(struct qmp *q, int64_t deadline_ns, json_t **reply)
{
	int rc = 0;

	/* Something may already be buffered (never a whole line: see handle_lines). */
	while (!q->reply) {
		rc = qmp_read_input(q, deadline_ns);
		if (rc < 0)
			break;
	}
	*reply = q->reply;
	q->reply = NULL;
	return *reply ? 0 : rc;
}

/* Sends one command and waits for its reply until `deadline_ns`. */
static int execute_until(struct qmp *q, const char *command, json_t *args, json_t **ret,
			 int64_t deadline_ns)
{
	char id[QMP_ID_LEN];
	json_t *msg, *reply;
	char *text;
	size_t len;
	int rc;

	snprintf(id, sizeof(id), "vmf-%" PRIu64, ++q->next_id);
	msg = qmp_json_command(command, args, id);
	if (!msg)
		return qmp_set_error(q, -ENOMEM, "%s: out of memory", command);
	text = json_dumps(msg, JSON_COMPACT);
	json_decref(msg);
	if (!text)
		return qmp_set_error(q, -ENOMEM, "%s: out of memory", command);
	len = strlen(text);
	/* Replace the terminating NUL with the line end QEMU expects after a message. */
	{
		char *line = realloc(text, len + 2);

		if (!line) {
			free(text);
			return qmp_set_error(q, -ENOMEM, "%s: out of memory", command);
		}
		text = line;
		text[len++] = '\n';
		text[len] = '\0';
	}
	rc = send_all(q, command, text, len, deadline_ns);
	free(text);
	if (rc < 0)
		return rc;

	snprintf(q->pending_id, sizeof(q->pending_id), "%s", id);
	q->waiting = true;
	rc = wait_reply(q, deadline_ns, &reply);
	q->waiting = false;
	if (rc == -ETIMEDOUT) {
		if (q->n_abandoned == QMP_MAX_ABANDONED)
			return disconnect(q, -ETIMEDOUT,
					  "%s: no reply from QEMU, and %d earlier commands are "
					  "still unanswered: giving up on the monitor",
					  command, QMP_MAX_ABANDONED);
		snprintf(q->abandoned[q->n_abandoned++], QMP_ID_LEN, "%s", id);
		return qmp_set_error(q, -ETIMEDOUT,
				     "%s: no reply from QEMU in time (the monitor stays usable)",
				     command);
	}
	if (rc < 0) {
		/* Keep the cause, and say which command it interrupted. */
		char cause[sizeof(q->err)];

		snprintf(cause, sizeof(cause), "%s", q->err);
		return qmp_set_error(q, rc, "%s: %s", command, cause);
	}

	if (qmp_json_classify(reply) == QMP_MSG_ERROR) {
		char cls[sizeof(q->err_class)], desc[384];

		if (qmp_json_decode_error(reply, cls, sizeof(cls), desc, sizeof(desc)))
			rc = qmp_set_error(q, -EPROTO, "%s: malformed error reply from QEMU",
					   command);
		else {
			rc = strcmp(cls, "CommandNotFound") == 0 ? -EOPNOTSUPP : -EIO;
			qmp_set_error(q, rc, "%s: QEMU refused: %s", command, desc);
			snprintf(q->err_class, sizeof(q->err_class), "%s", cls);
		}
	} else if (ret) {
		*ret = json_incref(json_object_get(reply, "return"));
	}
	json_decref(reply);
	return rc;
}

int qmp_execute(struct qmp *q, const char *command, json_t *args, json_t **ret,
		int timeout_ms)
{
	int rc;

	if (ret)
		*ret = NULL;
	if (!q || !command || !command[0]) {
		json_decref(args);
		return q ? qmp_set_error(q, -EINVAL, "no command name") : -EINVAL;
	}
	rc = qmp_check_usable(q, timeout_ms);
	if (rc < 0) {
		json_decref(args);
		return rc;
	}
	return execute_until(q, command, args, ret, qmp_deadline(timeout_ms));
}

/* ---- connection ---- */

static void copy_err(char *err, size_t err_len, const char *msg)
{
	if (err && err_len)
		snprintf(err, err_len, "%s", msg);
}

int qmp_connect_fd(struct qmp **out, int fd, int timeout_ms, char *err, size_t err_len)
{
	int64_t deadline;
	struct qmp *q;
	json_t *greeting;
	int flags, rc;
	char why[256];

	*out = NULL;
	if (fd < 0 || timeout_ms <= 0) {
		copy_err(err, err_len, fd < 0 ? "no socket" : "timeout must be > 0");
		if (fd >= 0)
			close(fd);
		return -EINVAL;
	}
	deadline = qmp_deadline(timeout_ms);
	q = calloc(1, sizeof(*q));
	if (q) {
		q->in_cap = 2 * QMP_READ_CHUNK;
		q->in = malloc(q->in_cap);
		q->events = calloc(QMP_EVENT_QUEUE_LEN, sizeof(*q->events));
	}
	if (!q || !q->in || !q->events) {
		if (q) {
			free(q->in);
			free(q->events);
			free(q);
		}
		close(fd);
		copy_err(err, err_len, "out of memory");
		return -ENOMEM;
	}
	q->fd = fd;
	q->connected = true;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
		rc = qmp_set_error(q, -errno, "fcntl O_NONBLOCK: %s", strerror(errno));
		goto fail;
	}

	q->want_greeting = true;
	rc = wait_reply(q, deadline, &greeting);
	q->want_greeting = false;
	if (rc == -ETIMEDOUT)
		qmp_set_error(q, rc, "no QMP greeting from QEMU within %d ms", timeout_ms);
	if (rc < 0)
		goto fail;
	rc = qmp_json_decode_greeting(greeting, &q->version, why, sizeof(why));
	json_decref(greeting);
	if (rc < 0) {
		rc = qmp_set_error(q, rc, "%s", why);
		goto fail;
	}
	rc = execute_until(q, "qmp_capabilities", NULL, NULL, deadline);
	if (rc < 0)
		goto fail;
	*out = q;
	return 0;
fail:
	copy_err(err, err_len, q->err);
	qmp_close(q);
	return rc;
}

int qmp_connect(struct qmp **out, const char *path, int timeout_ms, char *err, size_t err_len)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int64_t deadline;
	int fd, last = 0;

	*out = NULL;
	if (!path || !path[0] || strlen(path) >= sizeof(addr.sun_path) || timeout_ms <= 0) {
		copy_err(err, err_len,
			 timeout_ms <= 0 ? "timeout must be > 0" : "bad QMP socket path");
		return -EINVAL;
	}
	memcpy(addr.sun_path, path, strlen(path) + 1);
	deadline = qmp_deadline(timeout_ms);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0) {
			last = errno;
			if (err && err_len)
				snprintf(err, err_len, "socket: %s", strerror(last));
			return -last;
		}
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			break;
		last = errno;
		close(fd);
		/* QEMU not started yet, a stale socket, or a full backlog: try again. */
		if (last != ENOENT && last != ECONNREFUSED && last != EAGAIN && last != EINTR) {
			if (err && err_len)
				snprintf(err, err_len, "connect to %s: %s", path, strerror(last));
			return -last;
		}
		if (qmp_now_ns() + (int64_t)QMP_CONNECT_RETRY_MS * 1000000 > deadline) {
			if (err && err_len)
				snprintf(err, err_len, "could not connect to %s within %d ms: %s",
					 path, timeout_ms, strerror(last));
			return -ETIMEDOUT;
		}
		nanosleep(&(struct timespec){.tv_nsec = QMP_CONNECT_RETRY_MS * 1000000}, NULL);
	}
	return qmp_connect_fd(out, fd, remaining_ms(deadline) ? remaining_ms(deadline) : 1, err,
			      err_len);
}

void qmp_close(struct qmp *q)
{
	if (!q)
		return;
	if (q->fd >= 0)
		close(q->fd);
	json_decref(q->reply);
	free(q->in);
	free(q->events);
	free(q);
}

bool qmp_is_connected(const struct qmp *q)
{
	return q && q->connected;
}

const struct qmp_version *qmp_qemu_version(const struct qmp *q)
{
	return &q->version;
}

const char *qmp_last_error(const struct qmp *q)
{
	return q->err;
}

const char *qmp_last_error_class(const struct qmp *q)
{
	return q->err_class;
}

int qmp_fd(const struct qmp *q)
{
	return q ? q->fd : -1;
}
