/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The fake monitor of fake_qmp.h: a script parser and a replay thread.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "fake_qmp.h"

enum step_kind {
	STEP_SEND,
	STEP_EXPECT,
	STEP_CLOSE,
	STEP_DELAY,
	STEP_GARBAGE,
	STEP_PARTIAL,
	STEP_MATCH_IDS,
	STEP_HOLD,
};

struct step {
	enum step_kind kind;
	int line_no;
	char *text;   /* SEND, EXPECT, GARBAGE, PARTIAL: as written */
	json_t *json; /* SEND, EXPECT */
	int ms;       /* DELAY */
};

/* A recorded id and the id the client used in its place. */
struct id_map {
	json_t *recorded;
	json_t *actual;
};

struct fake_qmp {
	struct step *steps;
	size_t n_steps;
	char source[128]; /* file name or "script", for messages */

	int listen_fd;
	int fd;
	bool started;
	pthread_t thread;

	bool match_ids;
	struct id_map *ids;
	size_t n_ids;

	char in[1 << 16];
	size_t in_len;

	char err[1024]; /* the first discrepancy; "" if none */

	/* `!hold` steps: the replay thread waits for the test's releases. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned int holds;    /* hold steps reached */
	unsigned int releases; /* fake_qmp_release() calls */
	bool ended;            /* the replay thread is done */
};

__attribute__((format(printf, 2, 3))) static int discrepancy(struct fake_qmp *f,
							     const char *fmt, ...)
{
	va_list ap;

	if (f->err[0])
		return -1;
	va_start(ap, fmt);
	vsnprintf(f->err, sizeof(f->err), fmt, ap);
	va_end(ap);
	/* Said at once: the client's test usually fails on what follows (its call gets
	 * -ENOTCONN) before it asks the fake what went wrong. */
	fprintf(stderr, "fake_qmp: %s\n", f->err);
	return -1;
}

static void free_fake(struct fake_qmp *f)
{
	for (size_t i = 0; i < f->n_steps; i++) {
		free(f->steps[i].text);
		json_decref(f->steps[i].json);
	}
	for (size_t i = 0; i < f->n_ids; i++) {
		json_decref(f->ids[i].recorded);
		json_decref(f->ids[i].actual);
	}
	free(f->ids);
	free(f->steps);
	pthread_cond_destroy(&f->cond);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

/* ---- parsing ---- */

static bool is_directive(const char *word)
{
	return strcmp(word, "<-") == 0 || strcmp(word, "->") == 0 || word[0] == '!';
}

/* Parses one line into a step; 0 (step added), 1 (nothing: comment, other monitor), or
 * -1 with err set. `line` is modified. */
static int parse_line(struct fake_qmp *f, char *line, int line_no, const char *tag,
		      char *err, size_t err_len)
{
	char *word, *rest, *p = line;
	struct step st = {.line_no = line_no};
	json_error_t jerr;

	while (*p == ' ' || *p == '\t')
		p++;
	if (!*p || *p == '#')
		return 1;
	word = p;
	p += strcspn(p, " \t");
	if (*p)
		*p++ = '\0';
	if (!is_directive(word)) {
		/* A tag. */
		if (tag && strcmp(word, tag) != 0)
			return 1;
		while (*p == ' ' || *p == '\t')
			p++;
		word = p;
		p += strcspn(p, " \t");
		if (*p)
			*p++ = '\0';
	}
	rest = p;
	while (*rest == ' ' || *rest == '\t')
		rest++;

	if (strcmp(word, "<-") == 0 || strcmp(word, "->") == 0) {
		st.kind = word[0] == '<' ? STEP_SEND : STEP_EXPECT;
		st.json = json_loads(rest, 0, &jerr);
		if (!st.json) {
			snprintf(err, err_len, "%s:%d: bad JSON: %s", f->source, line_no, jerr.text);
			return -1;
		}
	} else if (strcmp(word, "!close") == 0) {
		st.kind = STEP_CLOSE;
	} else if (strcmp(word, "!delay") == 0) {
		char *end;
		long ms = strtol(rest, &end, 10);

		if (end == rest || ms < 0 || ms > 60000) {
			snprintf(err, err_len, "%s:%d: !delay needs milliseconds", f->source,
				 line_no);
			return -1;
		}
		st.kind = STEP_DELAY;
		st.ms = (int)ms;
	} else if (strcmp(word, "!garbage") == 0) {
		st.kind = STEP_GARBAGE;
	} else if (strcmp(word, "!partial") == 0) {
		st.kind = STEP_PARTIAL;
	} else if (strcmp(word, "!match-ids") == 0) {
		st.kind = STEP_MATCH_IDS;
	} else if (strcmp(word, "!hold") == 0) {
		st.kind = STEP_HOLD;
	} else {
		snprintf(err, err_len, "%s:%d: unknown step \"%s\"", f->source, line_no, word);
		return -1;
	}
	if (f->n_steps && f->steps[f->n_steps - 1].kind == STEP_CLOSE) {
		json_decref(st.json);
		snprintf(err, err_len, "%s:%d: a step after !close", f->source, line_no);
		return -1;
	}
	st.text = strdup(rest);
	if (!st.text) {
		json_decref(st.json);
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	{
		struct step *steps = realloc(f->steps, (f->n_steps + 1) * sizeof(*steps));

		if (!steps) {
			free(st.text);
			json_decref(st.json);
			snprintf(err, err_len, "out of memory");
			return -1;
		}
		f->steps = steps;
	}
	f->steps[f->n_steps++] = st;
	return 0;
}

int fake_qmp_parse(struct fake_qmp **out, const char *text, const char *tag, char *err,
		   size_t err_len)
{
	struct fake_qmp *f = calloc(1, sizeof(*f));
	char *copy = strdup(text), *line;
	int line_no = 0;

	*out = NULL;
	if (!f || !copy) {
		free(f);
		free(copy);
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	if (!f->source[0])
		snprintf(f->source, sizeof(f->source), "script");
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->cond, NULL);
	f->listen_fd = -1;
	f->fd = -1;
	/* strtok_r would merge empty lines and lose line numbers; split by hand. */
	line = copy;
	while (line) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = '\0';
		line_no++;
		if (parse_line(f, line, line_no, tag, err, err_len) < 0) {
			free(copy);
			free_fake(f);
			return -1;
		}
		line = nl ? nl + 1 : NULL;
	}
	free(copy);
	*out = f;
	return 0;
}

int fake_qmp_load(struct fake_qmp **out, const char *path, const char *tag, char *err,
		  size_t err_len)
{
	FILE *fp = fopen(path, "r");
	char *text;
	long len;
	int rc;

	*out = NULL;
	if (!fp) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fseek(fp, 0, SEEK_END) || (len = ftell(fp)) < 0 || fseek(fp, 0, SEEK_SET)) {
		fclose(fp);
		snprintf(err, err_len, "%s: cannot size", path);
		return -1;
	}
	text = malloc((size_t)len + 1);
	if (!text || fread(text, 1, (size_t)len, fp) != (size_t)len) {
		free(text);
		fclose(fp);
		snprintf(err, err_len, "%s: cannot read", path);
		return -1;
	}
	text[len] = '\0';
	fclose(fp);
	rc = fake_qmp_parse(out, text, tag, err, err_len);
	free(text);
	if (rc == 0) {
		const char *base = strrchr(path, '/');

		snprintf((*out)->source, sizeof((*out)->source), "%s", base ? base + 1 : path);
	}
	return rc;
}

/* ---- replay ---- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int send_text(struct fake_qmp *f, const struct step *st, const char *text, bool eol)
{
	size_t len = strlen(text), off = 0;
	char *buf = malloc(len + 3);

	if (!buf)
		return discrepancy(f, "out of memory");
	memcpy(buf, text, len);
	if (eol) {
		memcpy(buf + len, "\r\n", 2);
		len += 2;
	}
	while (off < len) {
		ssize_t w = send(f->fd, buf + off, len - off, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			free(buf);
			return discrepancy(f, "%s:%d: the client went away before this line (%s)",
					   f->source, st->line_no, strerror(errno));
		}
		off += (size_t)w;
	}
	free(buf);
	return 0;
}

/* Reads one line from the client: 1 with the line in `line` (NUL-terminated, no line
 * end), 0 at end of file, -1 on timeout or error. */
static int read_line(struct fake_qmp *f, char *line, size_t line_len)
{
	int64_t deadline = now_ms() + FAKE_QMP_TIMEOUT_MS;

	for (;;) {
		char *nl = memchr(f->in, '\n', f->in_len);
		struct pollfd p = {.fd = f->fd, .events = POLLIN};
		ssize_t n;
		int left;

		if (nl) {
			size_t len = (size_t)(nl - f->in);

			if (len >= line_len)
				len = line_len - 1;
			memcpy(line, f->in, len);
			line[len] = '\0';
			if (len && line[len - 1] == '\r')
				line[len - 1] = '\0';
			f->in_len -= (size_t)(nl - f->in) + 1;
			memmove(f->in, nl + 1, f->in_len);
			return 1;
		}
		if (f->in_len == sizeof(f->in))
			return -1;
		left = (int)(deadline - now_ms());
		if (left <= 0 || poll(&p, 1, left) == 0)
			return -1;
		n = recv(f->fd, f->in + f->in_len, sizeof(f->in) - f->in_len, 0);
		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == ECONNRESET ? 0 : -1;
		}
		f->in_len += (size_t)n;
	}
}

static json_t *without_id(const json_t *msg)
{
	json_t *copy = json_deep_copy(msg);

	json_object_del(copy, "id");
	return copy;
}

static const json_t *mapped_id(const struct fake_qmp *f, const json_t *recorded)
{
	for (size_t i = 0; i < f->n_ids; i++)
		if (json_equal(f->ids[i].recorded, recorded))
			return f->ids[i].actual;
	return NULL;
}

static void map_id(struct fake_qmp *f, json_t *recorded, json_t *actual)
{
	struct id_map *ids;

	if (!recorded || !actual)
		return;
	ids = realloc(f->ids, (f->n_ids + 1) * sizeof(*ids));
	if (!ids)
		return;
	f->ids = ids;
	f->ids[f->n_ids].recorded = json_incref(recorded);
	f->ids[f->n_ids].actual = json_incref(actual);
	f->n_ids++;
}

static int step_send(struct fake_qmp *f, const struct step *st)
{
	const json_t *rec_id = json_object_get(st->json, "id");
	const json_t *id = rec_id ? mapped_id(f, rec_id) : NULL;
	json_t *copy;
	char *text;
	int rc;

	if (!id)
		return send_text(f, st, st->text, true);
	copy = json_deep_copy(st->json);
	json_object_set(copy, "id", (json_t *)id);
	text = json_dumps(copy, JSON_PRESERVE_ORDER);
	json_decref(copy);
	if (!text)
		return discrepancy(f, "out of memory");
	rc = send_text(f, st, text, true);
	free(text);
	return rc;
}

static int step_expect(struct fake_qmp *f, const struct step *st)
{
	char line[1 << 16];
	json_t *got, *a, *b;
	json_error_t jerr;
	bool same;
	int rc = read_line(f, line, sizeof(line));

	if (rc == 0)
		return discrepancy(f, "%s:%d: the client closed the connection instead of "
				      "sending %s",
				   f->source, st->line_no, st->text);
	if (rc < 0)
		return discrepancy(f, "%s:%d: nothing from the client within %d ms; expected %s",
				   f->source, st->line_no, FAKE_QMP_TIMEOUT_MS, st->text);
	got = json_loads(line, 0, &jerr);
	if (!got)
		return discrepancy(f, "%s:%d: the client sent bad JSON (%s): %s", f->source,
				   st->line_no, jerr.text, line);
	a = without_id(st->json);
	b = without_id(got);
	same = json_equal(a, b) &&
	       (!f->match_ids ||
		json_equal(json_object_get(st->json, "id"), json_object_get(got, "id")));
	json_decref(a);
	json_decref(b);
	if (!same) {
		json_decref(got);
		return discrepancy(f, "%s:%d: expected %s\n  but the client sent %s", f->source,
				   st->line_no, st->text, line);
	}
	map_id(f, json_object_get(st->json, "id"), json_object_get(got, "id"));
	json_decref(got);
	return 0;
}

static struct timespec deadline_in(int ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	return ts;
}

static int step_hold(struct fake_qmp *f, const struct step *st)
{
	struct timespec until = deadline_in(FAKE_QMP_TIMEOUT_MS);
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	f->holds++;
	pthread_cond_broadcast(&f->cond);
	while (f->releases < f->holds && rc == 0)
		rc = pthread_cond_timedwait(&f->cond, &f->lock, &until);
	pthread_mutex_unlock(&f->lock);
	if (rc)
		return discrepancy(f, "%s:%d: the test did not release the hold within %d ms",
				   f->source, st->line_no, FAKE_QMP_TIMEOUT_MS);
	return 0;
}

void fake_qmp_release(struct fake_qmp *f)
{
	pthread_mutex_lock(&f->lock);
	f->releases++;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
}

int fake_qmp_wait_hold(struct fake_qmp *f, int timeout_ms)
{
	struct timespec until = deadline_in(timeout_ms);
	int rc = 0;

	pthread_mutex_lock(&f->lock);
	while (!f->ended && f->holds <= f->releases && rc == 0)
		rc = pthread_cond_timedwait(&f->cond, &f->lock, &until);
	rc = f->holds > f->releases ? 0 : f->ended ? -EPIPE : -ETIMEDOUT;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static void replay_steps(struct fake_qmp *f)
{
	bool closed = false;
	char line[1 << 16];

	if (f->listen_fd >= 0) {
		struct pollfd p = {.fd = f->listen_fd, .events = POLLIN};

		if (poll(&p, 1, FAKE_QMP_TIMEOUT_MS) <= 0) {
			discrepancy(f, "no client connected within %d ms", FAKE_QMP_TIMEOUT_MS);
			return;
		}
		f->fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (f->fd < 0) {
			discrepancy(f, "accept: %s", strerror(errno));
			return;
		}
	}
	for (size_t i = 0; i < f->n_steps && !closed; i++) {
		const struct step *st = &f->steps[i];
		int rc = 0;

		switch (st->kind) {
		case STEP_SEND:
			rc = step_send(f, st);
			break;
		case STEP_EXPECT:
			rc = step_expect(f, st);
			break;
		case STEP_CLOSE:
			closed = true;
			break;
		case STEP_DELAY:
			nanosleep(&(struct timespec){.tv_sec = st->ms / 1000,
						     .tv_nsec = (st->ms % 1000) * 1000000L},
				  NULL);
			break;
		case STEP_GARBAGE:
			rc = send_text(f, st, st->text, true);
			break;
		case STEP_PARTIAL:
			rc = send_text(f, st, st->text, false);
			break;
		case STEP_MATCH_IDS:
			f->match_ids = true;
			break;
		case STEP_HOLD:
			rc = step_hold(f, st);
			break;
		}
		if (rc < 0) {
			/* Off script: hang up, as a confused QEMU would not. */
			shutdown(f->fd, SHUT_RDWR);
			return;
		}
	}
	/* The script is done: the client should only close now. */
	while (!closed) {
		int rc = read_line(f, line, sizeof(line));

		if (rc == 0)
			break;
		if (rc < 0) {
			discrepancy(f, "%s: the client did not close the connection within %d ms "
				       "of the script's end",
				    f->source, FAKE_QMP_TIMEOUT_MS);
			break;
		}
		if (line[0]) {
			discrepancy(f, "%s: the client sent a command after the script's end: %s",
				    f->source, line);
			break;
		}
	}
	shutdown(f->fd, SHUT_RDWR);
}

static void *replay(void *arg)
{
	struct fake_qmp *f = arg;

	replay_steps(f);
	pthread_mutex_lock(&f->lock);
	f->ended = true;
	pthread_cond_broadcast(&f->cond);
	pthread_mutex_unlock(&f->lock);
	return NULL;
}

int fake_qmp_start(struct fake_qmp *f, int *client_fd)
{
	int sv[2];
	int rc;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	f->fd = sv[0];
	rc = pthread_create(&f->thread, NULL, replay, f);
	if (rc) {
		close(sv[0]);
		close(sv[1]);
		f->fd = -1;
		return -rc;
	}
	f->started = true;
	*client_fd = sv[1];
	return 0;
}

int fake_qmp_start_unix(struct fake_qmp *f, const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd, rc;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -EINVAL;
	strcpy(addr.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	unlink(path);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(fd, 1) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	f->listen_fd = fd;
	rc = pthread_create(&f->thread, NULL, replay, f);
	if (rc) {
		close(fd);
		f->listen_fd = -1;
		return -rc;
	}
	f->started = true;
	return 0;
}

int fake_qmp_finish(struct fake_qmp *f, char *err, size_t err_len)
{
	int rc;

	if (f->started)
		pthread_join(f->thread, NULL);
	if (f->fd >= 0)
		close(f->fd);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	rc = f->err[0] ? -1 : 0;
	if (err && err_len)
		snprintf(err, err_len, "%s", f->err);
	free_fake(f);
	return rc;
}

/* ---- lookups ---- */

int fake_qmp_find_exchange(const char *path, const char *tag, const char *execute, int nth,
			   json_t **command, json_t **reply)
{
	struct fake_qmp *f;
	char err[256];
	int rc = -ENOENT;

	if (command)
		*command = NULL;
	if (reply)
		*reply = NULL;
	if (fake_qmp_load(&f, path, tag, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -ENOENT;
	}
	for (size_t i = 0; i < f->n_steps; i++) {
		const struct step *st = &f->steps[i];
		const json_t *id;
		const char *name = json_string_value(json_object_get(st->json, "execute"));

		if (st->kind != STEP_EXPECT || !name || strcmp(name, execute) != 0 || nth-- > 0)
			continue;
		id = json_object_get(st->json, "id");
		for (size_t j = i + 1; j < f->n_steps; j++) {
			const struct step *r = &f->steps[j];

			if (r->kind == STEP_SEND && id &&
			    json_equal(json_object_get(r->json, "id"), id)) {
				if (command)
					*command = json_incref(st->json);
				if (reply)
					*reply = json_incref(r->json);
				rc = 0;
				break;
			}
		}
		break;
	}
	free_fake(f);
	return rc;
}

int fake_qmp_find_event(const char *path, const char *tag, const char *name, int nth,
			json_t **event)
{
	struct fake_qmp *f;
	char err[256];
	int rc = -ENOENT;

	*event = NULL;
	if (fake_qmp_load(&f, path, tag, err, sizeof(err)) < 0) {
		fprintf(stderr, "%s\n", err);
		return -ENOENT;
	}
	for (size_t i = 0; i < f->n_steps; i++) {
		const struct step *st = &f->steps[i];
		const char *ev = json_string_value(json_object_get(st->json, "event"));

		if (st->kind == STEP_SEND && ev && strcmp(ev, name) == 0 && nth-- == 0) {
			*event = json_incref(st->json);
			rc = 0;
			break;
		}
	}
	free_fake(f);
	return rc;
}
