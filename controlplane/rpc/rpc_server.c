/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC server: one completion queue, polled by the caller's thread. Every method
 * always has a request outstanding, and so does a generic request for methods nobody
 * registered (they get UNIMPLEMENTED at once instead of hanging until the deadline).
 *
 * A call's batches each carry a tag naming the call and the batch; the call is freed
 * when its last batch completes after the status went out (or the client went away).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "rpc_internal.h"

enum tag_kind { TAG_NEW, TAG_RECV, TAG_SEND, TAG_FINISH, TAG_CLOSE, TAG_PROBE };

struct rpc_tag {
	struct rpc_call *call;
	enum tag_kind kind;
};

struct rpc_waiter {
	struct rpc_server *s;
	const struct rpc_method *m; /* NULL: the generic request for unknown methods */
	void *registered;
};

struct rpc_call {
	struct rpc_server *s;
	struct rpc_waiter *w;
	const struct rpc_method *m;
	grpc_call *call;
	gpr_timespec deadline;
	grpc_metadata_array md;
	grpc_call_details details;
	grpc_byte_buffer *recv_buf;
	grpc_byte_buffer *send_buf;
	grpc_slice status_details;
	bool have_status_details;
	int cancelled;
	int outstanding;
	bool md_sent;
	bool close_armed;
	bool finished; /* the status is out (or will never be) */
	bool answered; /* the handler answered */
	bool streaming;
	bool parked;
	struct rpc_producer producer;
	void *state;
	char peer[256];
	bool authenticated; /* a verified TLS peer (TCP); a unix-socket client is not */
	bool allowed;       /* one of its identities is on the allow-list */
	struct rpc_call *next_parked;
	struct rpc_tag t_new, t_recv, t_send, t_finish, t_close, t_probe;
};

struct rpc_server {
	grpc_server *server;
	grpc_completion_queue *cq;
	struct rpc_server_config cfg;
	struct rpc_waiter *waiters;
	size_t n_waiters;
	struct rpc_call *parked;
	int lock_fd;
	bool shutting_down;
	unsigned int live_calls;
};

static void call_free(struct rpc_call *c)
{
	c->s->live_calls--;
	if (c->producer.done)
		c->producer.done(c->producer.state);
	if (c->state && c->m && c->m->call_state_free)
		c->m->call_state_free(c->state);
	if (c->call)
		grpc_call_unref(c->call);
	grpc_metadata_array_destroy(&c->md);
	grpc_call_details_destroy(&c->details);
	if (c->recv_buf)
		grpc_byte_buffer_destroy(c->recv_buf);
	if (c->send_buf)
		grpc_byte_buffer_destroy(c->send_buf);
	if (c->have_status_details)
		grpc_slice_unref(c->status_details);
	free(c);
}

static void maybe_free(struct rpc_call *c)
{
	if (c->outstanding == 0 && (c->finished || c->cancelled) && !c->parked)
		call_free(c);
}

static bool start_batch(struct rpc_call *c, const grpc_op *ops, size_t n, struct rpc_tag *tag)
{
	if (grpc_call_start_batch(c->call, ops, n, tag, NULL) != GRPC_CALL_OK) {
		c->finished = true;
		return false;
	}
	c->outstanding++;
	return true;
}

/* Keeps a RECV_CLOSE_ON_SERVER outstanding: it completes when the call ends and says
 * whether the client cancelled. */
static void arm_close(struct rpc_call *c)
{
	grpc_op op = {.op = GRPC_OP_RECV_CLOSE_ON_SERVER};

	if (c->close_armed)
		return;
	op.data.recv_close_on_server.cancelled = &c->cancelled;
	c->close_armed = true;
	start_batch(c, &op, 1, &c->t_close);
}

static void send_status(struct rpc_call *c, enum rpc_status status, const char *msg,
			grpc_byte_buffer *response)
{
	grpc_op ops[3];
	size_t n = 0;

	if (c->finished)
		return;
	memset(ops, 0, sizeof(ops));
	if (!c->md_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->md_sent = true;
	}
	if (response) {
		c->send_buf = response;
		ops[n].op = GRPC_OP_SEND_MESSAGE;
		ops[n++].data.send_message.send_message = response;
	}
	ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
	ops[n].data.send_status_from_server.status = (grpc_status_code)status;
	if (msg && *msg) {
		c->status_details = grpc_slice_from_copied_string(msg);
		c->have_status_details = true;
		ops[n].data.send_status_from_server.status_details = &c->status_details;
	}
	n++;
	c->answered = true;
	c->finished = true;
	if (start_batch(c, ops, n, &c->t_finish))
		arm_close(c);
}

void rpc_reply(struct rpc_call *c, const ProtobufCMessage *response)
{
	send_status(c, RPC_OK, NULL, rpc_pack(response));
}

void rpc_fail(struct rpc_call *c, enum rpc_status status, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	send_status(c, status, msg, NULL);
}

void *rpc_call_state(struct rpc_call *c)
{
	return c->state;
}

const char *rpc_call_peer(struct rpc_call *c)
{
	return c->peer;
}

static void unpark(struct rpc_call *c)
{
	struct rpc_call **p = &c->s->parked;

	while (*p && *p != c)
		p = &(*p)->next_parked;
	if (*p)
		*p = c->next_parked;
	c->parked = false;
}

/* Sends the producer's next message, or the final status. */
static void stream_next(struct rpc_call *c)
{
	const ProtobufCMessage *msg = NULL;
	grpc_op ops[2];
	size_t n = 0;
	int r;

	if (c->finished || c->cancelled)
		return;
	r = c->producer.next(c->producer.state, &msg);
	if (r == -EAGAIN) {
		if (!c->parked) {
			c->parked = true;
			c->next_parked = c->s->parked;
			c->s->parked = c;
		}
		return;
	}
	if (r <= 0) {
		send_status(c, r == 0 ? RPC_OK : rpc_status_from_errno(r),
			    r == 0 ? NULL : strerror(-r), NULL);
		return;
	}
	memset(ops, 0, sizeof(ops));
	if (!c->md_sent) {
		ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
		c->md_sent = true;
	}
	if (c->send_buf)
		grpc_byte_buffer_destroy(c->send_buf);
	c->send_buf = rpc_pack(msg);
	ops[n].op = GRPC_OP_SEND_MESSAGE;
	ops[n++].data.send_message.send_message = c->send_buf;
	start_batch(c, ops, n, &c->t_send);
}

void rpc_stream_start(struct rpc_call *c, const struct rpc_producer *p)
{
	c->producer = *p;
	c->streaming = true;
	c->answered = true;
	arm_close(c);
	stream_next(c);
}

void rpc_server_wake(struct rpc_server *s)
{
	struct rpc_call *list = s->parked;

	s->parked = NULL;
	while (list) {
		struct rpc_call *c = list;

		list = c->next_parked;
		c->parked = false;
		stream_next(c);
		maybe_free(c);
	}
}

static void start_recv(struct rpc_call *c)
{
	grpc_op op = {.op = GRPC_OP_RECV_MESSAGE};

	op.data.recv_message.recv_message = &c->recv_buf;
	start_batch(c, &op, 1, &c->t_recv);
}

/* Mutating calls: a unix-socket client is trusted (the socket file's permissions
 * decide who reaches it); a TLS peer must have an identity on the allow-list. */
static bool peer_allowed(struct rpc_call *c)
{
	return !c->authenticated || c->allowed;
}

static bool on_allow_list(const struct rpc_server *s, const char *id, size_t len)
{
	for (const char *const *p = s->cfg.allowed_peers; p && *p; p++)
		if (strlen(*p) == len && memcmp(*p, id, len) == 0)
			return true;
	return false;
}

/* Reads the peer's identities (the certificate's SANs, or its CN without SANs): the
 * first names the peer in messages; any of them may be on the allow-list. */
static void read_peer(struct rpc_call *c)
{
	grpc_auth_context *ctx = grpc_call_auth_context(c->call);
	grpc_auth_property_iterator it;
	const grpc_auth_property *p;

	c->peer[0] = 0;
	c->authenticated = false;
	c->allowed = false;
	if (!ctx)
		return;
	c->authenticated = grpc_auth_context_peer_is_authenticated(ctx) != 0;
	it = grpc_auth_context_peer_identity(ctx);
	while ((p = grpc_auth_property_iterator_next(&it))) {
		if (!c->peer[0])
			snprintf(c->peer, sizeof(c->peer), "%.*s", (int)p->value_length, p->value);
		if (on_allow_list(c->s, p->value, p->value_length))
			c->allowed = true;
	}
	/* The certificate's common name counts too when SANs are present. */
	it = grpc_auth_context_find_properties_by_name(ctx, GRPC_X509_CN_PROPERTY_NAME);
	while ((p = grpc_auth_property_iterator_next(&it)))
		if (on_allow_list(c->s, p->value, p->value_length))
			c->allowed = true;
	grpc_auth_context_release(ctx);
}

static struct rpc_call *call_new(struct rpc_waiter *w)
{
	struct rpc_call *c = calloc(1, sizeof(*c));

	if (!c)
		abort(); /* the server cannot run without its waiting calls */
	c->s = w->s;
	c->w = w;
	c->m = w->m;
	c->t_new = (struct rpc_tag){c, TAG_NEW};
	c->t_recv = (struct rpc_tag){c, TAG_RECV};
	c->t_send = (struct rpc_tag){c, TAG_SEND};
	c->t_finish = (struct rpc_tag){c, TAG_FINISH};
	c->t_close = (struct rpc_tag){c, TAG_CLOSE};
	c->t_probe = (struct rpc_tag){c, TAG_PROBE};
	grpc_metadata_array_init(&c->md);
	grpc_call_details_init(&c->details);
	w->s->live_calls++;
	return c;
}

/* Puts a fresh call in wait for the next request to `w`'s method. */
static void arm_waiter(struct rpc_waiter *w)
{
	struct rpc_server *s = w->s;
	struct rpc_call *c;
	grpc_call_error e;

	if (s->shutting_down)
		return;
	c = call_new(w);
	if (w->m)
		e = grpc_server_request_registered_call(
			s->server, w->registered, &c->call, &c->deadline, &c->md,
			w->m->kind == RPC_KIND_CLIENT_STREAM ? NULL : &c->recv_buf, s->cq, s->cq,
			&c->t_new);
	else
		e = grpc_server_request_call(s->server, &c->call, &c->details, &c->md, s->cq, s->cq,
					     &c->t_new);
	if (e != GRPC_CALL_OK) {
		call_free(c);
		return;
	}
	c->outstanding++;
}

static void on_new(struct rpc_call *c)
{
	struct rpc_server *s = c->s;
	const struct rpc_method *m = c->m;
	ProtobufCMessage *req;
	char why[320];

	arm_waiter(c->w);
	if (!m) {
		char path[256];

		snprintf(path, sizeof(path), "%.*s", (int)GRPC_SLICE_LENGTH(c->details.method),
			 (const char *)GRPC_SLICE_START_PTR(c->details.method));
		rpc_fail(c, RPC_UNIMPLEMENTED, "no method %s on this server", path);
		return;
	}
	read_peer(c);
	if (m->mutating && !peer_allowed(c)) {
		rpc_fail(c, RPC_PERMISSION_DENIED,
			 "peer '%s' may not call %s: add it to fabricd's --allow-peer list", c->peer,
			 m->path);
		return;
	}
	if (m->kind == RPC_KIND_CLIENT_STREAM) {
		c->state = m->call_state_new ? m->call_state_new(s->cfg.ctx) : NULL;
		if (m->call_state_new && !c->state) {
			rpc_fail(c, RPC_RESOURCE_EXHAUSTED, "out of memory");
			return;
		}
		arm_close(c);
		start_recv(c);
		return;
	}
	req = rpc_unpack(c->recv_buf, m->request, why, sizeof(why));
	if (c->recv_buf) {
		grpc_byte_buffer_destroy(c->recv_buf);
		c->recv_buf = NULL;
	}
	if (!req) {
		rpc_fail(c, RPC_INVALID_ARGUMENT, "%s", why);
		return;
	}
	m->handle(c, req, s->cfg.ctx);
	protobuf_c_message_free_unpacked(req, NULL);
	if (!c->answered)
		rpc_fail(c, RPC_INTERNAL, "the handler of %s gave no answer", m->path);
}

static void on_recv(struct rpc_call *c)
{
	const struct rpc_method *m = c->m;
	ProtobufCMessage *req;
	char why[320];

	if (c->finished)
		return;
	if (!c->recv_buf) {
		/* The client half-closed, or went away: a cancelled call ends its messages
		 * the same way. Only a call that still takes our initial metadata is alive,
		 * so the batch is applied only then. */
		grpc_op op = {.op = GRPC_OP_SEND_INITIAL_METADATA};

		c->md_sent = true;
		start_batch(c, &op, 1, &c->t_probe);
		return;
	}
	req = rpc_unpack(c->recv_buf, m->request, why, sizeof(why));
	grpc_byte_buffer_destroy(c->recv_buf);
	c->recv_buf = NULL;
	if (!req) {
		rpc_fail(c, RPC_INVALID_ARGUMENT, "a streamed message: %s", why);
		return;
	}
	if (m->message(c, req, c->s->cfg.ctx) == 0 && !c->finished)
		start_recv(c);
	else if (!c->answered)
		rpc_fail(c, RPC_INTERNAL, "the handler of %s refused a message without a reason",
			 m->path);
	protobuf_c_message_free_unpacked(req, NULL);
}

int rpc_server_poll(struct rpc_server *s, int timeout_ms)
{
	int handled = 0;
	/* 0: what is ready now, no wait (rpc_deadline(0) would mean no deadline at all). */
	gpr_timespec deadline = timeout_ms > 0 ? rpc_deadline(timeout_ms)
					       : gpr_inf_past(GPR_CLOCK_REALTIME);

	for (;;) {
		grpc_event ev = grpc_completion_queue_next(s->cq, deadline, NULL);
		struct rpc_tag *tag;
		struct rpc_call *c;

		if (ev.type != GRPC_OP_COMPLETE)
			return handled;
		handled++;
		tag = ev.tag;
		if (!tag)
			continue; /* the shutdown notification */
		c = tag->call;
		c->outstanding--;
		switch (tag->kind) {
		case TAG_NEW:
			if (!ev.success) {
				c->finished = true; /* the server is shutting down */
				break;
			}
			on_new(c);
			break;
		case TAG_RECV:
			if (ev.success)
				on_recv(c);
			else
				c->finished = true;
			break;
		case TAG_SEND:
			if (c->send_buf) {
				grpc_byte_buffer_destroy(c->send_buf);
				c->send_buf = NULL;
			}
			if (ev.success)
				stream_next(c);
			else
				c->finished = true;
			break;
		case TAG_FINISH:
			break;
		case TAG_PROBE:
			if (ev.success && !c->cancelled && !c->finished) {
				c->m->end(c, c->s->cfg.ctx);
				if (!c->answered)
					rpc_fail(c, RPC_INTERNAL, "the handler of %s gave no answer",
						 c->m->path);
			} else {
				c->finished = true;
			}
			break;
		case TAG_CLOSE:
			if (c->cancelled && c->parked)
				unpark(c);
			if (c->cancelled)
				c->finished = true;
			break;
		}
		maybe_free(c);
		/* After the first event, take what is ready without waiting again. */
		deadline = gpr_time_0(GPR_CLOCK_REALTIME);
	}
}

static int take_lock(struct rpc_server *s, const char *path, char *err, size_t err_len)
{
	char lock[512], pid[32];
	int n;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	s->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (s->lock_fd < 0) {
		snprintf(err, err_len, "cannot open %s: %s", lock, strerror(errno));
		return -1;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		n = (int)read(s->lock_fd, pid, sizeof(pid) - 1);
		pid[n > 0 ? n : 0] = 0;
		snprintf(err, err_len, "%s is served by another live process (pid %s); stop it or "
				       "choose another --listen path",
			 path, pid[0] ? pid : "?");
		close(s->lock_fd);
		s->lock_fd = -1;
		return -1;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	/* The pid is a courtesy for the message above: a failure to write it is harmless. */
	if (ftruncate(s->lock_fd, 0) == 0 && write(s->lock_fd, pid, (size_t)n) != n)
		pid[0] = 0;
	return 0;
}

static grpc_server_credentials *tls_credentials(const struct rpc_tls *tls, char *err,
						size_t err_len)
{
	char *ca = rpc_read_file(tls->ca_file ? tls->ca_file : "");
	char *cert = rpc_read_file(tls->cert_file ? tls->cert_file : "");
	char *key = rpc_read_file(tls->key_file ? tls->key_file : "");
	grpc_server_credentials *creds = NULL;

	if (!ca || !cert || !key) {
		snprintf(err, err_len, "TCP needs mutual TLS: cannot read %s",
			 !ca ? "the CA file (--tls-ca)" : !cert ? "the certificate (--tls-cert)"
						       : "the key (--tls-key)");
	} else {
		grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};
		grpc_ssl_server_certificate_config *cc =
			grpc_ssl_server_certificate_config_create(ca, &pair, 1);
		grpc_ssl_server_credentials_options *o =
			grpc_ssl_server_credentials_create_options_using_config(
				GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY, cc);

		creds = grpc_ssl_server_credentials_create_with_options(o);
	}
	free(ca);
	free(cert);
	free(key);
	return creds;
}

int rpc_server_start(struct rpc_server **out, const struct rpc_server_config *cfg, char *err,
		     size_t err_len)
{
	struct rpc_server *s = calloc(1, sizeof(*s));
	char addr[600];

	if (!s)
		return snprintf(err, err_len, "out of memory"), -1;
	s->cfg = *cfg;
	s->lock_fd = -1;
	if (cfg->unix_path && take_lock(s, cfg->unix_path, err, err_len)) {
		free(s);
		return -1;
	}
	grpc_init();
	s->cq = grpc_completion_queue_create_for_next(NULL);
	s->server = grpc_server_create(NULL, NULL);
	grpc_server_register_completion_queue(s->server, s->cq, NULL);
	s->n_waiters = cfg->n_methods + 1;
	s->waiters = calloc(s->n_waiters, sizeof(*s->waiters));
	for (size_t i = 0; i < cfg->n_methods; i++) {
		const struct rpc_method *m = &cfg->methods[i];

		s->waiters[i].s = s;
		s->waiters[i].m = m;
		s->waiters[i].registered = grpc_server_register_method(
			s->server, m->path, NULL,
			m->kind == RPC_KIND_CLIENT_STREAM ? GRPC_SRM_PAYLOAD_NONE
							  : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
			0);
	}
	s->waiters[cfg->n_methods].s = s;
	if (cfg->unix_path) {
		grpc_server_credentials *creds = grpc_insecure_server_credentials_create();

		snprintf(addr, sizeof(addr), "unix:%s", cfg->unix_path);
		if (!grpc_server_add_http2_port(s->server, addr, creds)) {
			grpc_server_credentials_release(creds);
			snprintf(err, err_len, "cannot listen on %s", addr);
			goto fail;
		}
		grpc_server_credentials_release(creds);
	}
	if (cfg->tcp_listen) {
		grpc_server_credentials *creds = tls_credentials(&cfg->tls, err, err_len);

		if (!creds)
			goto fail;
		if (!grpc_server_add_http2_port(s->server, cfg->tcp_listen, creds)) {
			grpc_server_credentials_release(creds);
			snprintf(err, err_len, "cannot listen on %s (address in use?)", cfg->tcp_listen);
			goto fail;
		}
		grpc_server_credentials_release(creds);
	}
	grpc_server_start(s->server);
	for (size_t i = 0; i < s->n_waiters; i++)
		arm_waiter(&s->waiters[i]);
	*out = s;
	return 0;
fail:
	s->shutting_down = true;
	grpc_server_destroy(s->server);
	grpc_completion_queue_shutdown(s->cq);
	while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(s->cq);
	grpc_shutdown();
	if (s->lock_fd >= 0)
		close(s->lock_fd);
	free(s->waiters);
	free(s);
	return -1;
}

void rpc_server_stop(struct rpc_server *s)
{
	if (!s)
		return;
	s->shutting_down = true;
	grpc_server_shutdown_and_notify(s->server, s->cq, NULL);
	grpc_server_cancel_all_calls(s->server);
	/* Parked streams have no batch that would end them: finish them here. */
	while (s->parked) {
		struct rpc_call *c = s->parked;

		unpark(c);
		c->finished = true;
		maybe_free(c);
	}
	while (s->live_calls > 0) {
		if (rpc_server_poll(s, 100) == 0 && s->live_calls > 0) {
			/* Nothing more will come for what is left. */
			break;
		}
	}
	grpc_server_destroy(s->server);
	grpc_completion_queue_shutdown(s->cq);
	while (grpc_completion_queue_next(s->cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
	       GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(s->cq);
	grpc_shutdown_blocking();
	for (int i = 0; i < 100 && grpc_is_initialized(); i++)
		usleep(10000);
	if (s->cfg.unix_path) {
		unlink(s->cfg.unix_path);
		if (s->lock_fd >= 0)
			close(s->lock_fd);
	}
	free(s->waiters);
	free(s);
}
