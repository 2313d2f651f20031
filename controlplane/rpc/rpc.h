/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vmfabric's gRPC plumbing over the gRPC C core and protobuf-c. Every grpc_* call of the
 * project lives in this folder; services are written against this interface and never
 * see gRPC types.
 *
 * The server runs its completion queue in the caller's thread (rpc_server_poll): every
 * handler runs there, so a service may use single-threaded state (the fabric's control
 * layer) without locks. Handlers must not block.
 */
#ifndef VMF_RPC_H
#define VMF_RPC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* gRPC status codes, numbered as on the wire. */
enum rpc_status {
	RPC_OK = 0,
	RPC_CANCELLED = 1,
	RPC_UNKNOWN = 2,
	RPC_INVALID_ARGUMENT = 3,
	RPC_DEADLINE_EXCEEDED = 4,
	RPC_NOT_FOUND = 5,
	RPC_ALREADY_EXISTS = 6,
	RPC_PERMISSION_DENIED = 7,
	RPC_RESOURCE_EXHAUSTED = 8,
	RPC_FAILED_PRECONDITION = 9,
	RPC_ABORTED = 10,
	RPC_OUT_OF_RANGE = 11,
	RPC_UNIMPLEMENTED = 12,
	RPC_INTERNAL = 13,
	RPC_UNAVAILABLE = 14,
	RPC_UNAUTHENTICATED = 16,
};

/* The one place errors become statuses: a negative errno of the fabric's API to the gRPC
 * status an operator's tooling expects (the table in proto/fabric/v1/types.proto). */
enum rpc_status rpc_status_from_errno(int err);
const char *rpc_status_name(int status);

/* TLS material for mutual authentication (PEM files). */
struct rpc_tls {
	const char *ca_file;   /* the CA that signs peers' certificates */
	const char *cert_file; /* our certificate */
	const char *key_file;  /* our private key */
};

/* ---- server ---- */

struct rpc_server;
struct rpc_call;

enum rpc_kind {
	RPC_KIND_UNARY,
	RPC_KIND_SERVER_STREAM,
	RPC_KIND_CLIENT_STREAM,
};

/*
 * What a server-streaming handler hands to rpc_stream_start: `next` is called each time
 * the previous message is on its way. It returns 1 with the next message in `*msg` (owned
 * by the producer, valid until the next call), 0 when the stream is complete, -EAGAIN
 * when it has nothing now (rpc_server_wake() calls it again later), or another negative
 * errno to end the stream with that error. `done` frees the producer's state.
 */
struct rpc_producer {
	int (*next)(void *state, const ProtobufCMessage **msg);
	void (*done)(void *state);
	void *state;
};

struct rpc_method {
	const char *path; /* "/package.Service/Method" */
	enum rpc_kind kind;
	const ProtobufCMessageDescriptor *request;
	bool mutating; /* needs an authorised peer on TCP */
	/* UNARY and SERVER_STREAM: the decoded request. The handler answers with rpc_reply,
	 * rpc_fail or rpc_stream_start before it returns. */
	void (*handle)(struct rpc_call *call, const ProtobufCMessage *request, void *ctx);
	/* CLIENT_STREAM: each request message in turn (0 to continue, or it calls rpc_fail),
	 * then `end` when the client half-closes, which answers. */
	int (*message)(struct rpc_call *call, const ProtobufCMessage *request, void *ctx);
	void (*end)(struct rpc_call *call, void *ctx);
	/* CLIENT_STREAM: per-call state, created when the call starts, freed when it ends. */
	void *(*call_state_new)(void *ctx);
	void (*call_state_free)(void *state);
};

struct rpc_server_config {
	const char *unix_path;  /* "unix:/run/x.sock" style path without the prefix, or NULL */
	const char *tcp_listen; /* "0.0.0.0:7411", or NULL */
	struct rpc_tls tls;     /* required with tcp_listen: mutual TLS only */
	const char *const *allowed_peers; /* identities (CN/SAN) allowed to mutate; NULL-ended */
	const struct rpc_method *methods;
	size_t n_methods;
	void *ctx; /* passed to every handler */
};

/*
 * Creates and starts a server. For a unix socket it first takes PATH.lock, so a second
 * daemon cannot take over a live one's socket. Returns 0, or -1 with a message in err.
 */
int rpc_server_start(struct rpc_server **out, const struct rpc_server_config *cfg, char *err,
		     size_t err_len);
/* Runs the completion queue for up to `timeout_ms` (0 or less: only what is ready, no wait),
 * dispatching to handlers. Returns the number of events handled. */
int rpc_server_poll(struct rpc_server *s, int timeout_ms);
/* Asks every parked stream producer (-EAGAIN) for its next message. */
void rpc_server_wake(struct rpc_server *s);
/* Cancels every call, waits for them to end, and frees everything. */
void rpc_server_stop(struct rpc_server *s);

/* Inside a handler: answer OK with `response`. */
void rpc_reply(struct rpc_call *call, const ProtobufCMessage *response);
/* Inside a handler: answer with an error status and a one-line message. */
void rpc_fail(struct rpc_call *call, enum rpc_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Inside a server-streaming handler: start streaming from `p`. */
void rpc_stream_start(struct rpc_call *call, const struct rpc_producer *p);
/* The per-call state of a client-streaming call. */
void *rpc_call_state(struct rpc_call *call);
/* The peer's authenticated identity ("" on a unix socket). */
const char *rpc_call_peer(struct rpc_call *call);

/* ---- client ---- */

struct rpc_client;

/*
 * Connects to `target`: "unix:/path" or "HOST:PORT" (then `tls` is required and
 * `server_name` is the name in the server's certificate, for targets given by address).
 * Returns 0 or -1 with a message.
 */
int rpc_client_open(struct rpc_client **out, const char *target, const struct rpc_tls *tls,
		    const char *server_name, char *err, size_t err_len);
void rpc_client_close(struct rpc_client *c);

/* The outcome of a call: status and the server's message. */
struct rpc_result {
	int status;
	char message[512];
};

/* One unary call. On RPC_OK, *response is the decoded answer (free it with
 * protobuf_c_message_free_unpacked). */
int rpc_client_unary(struct rpc_client *c, const char *path, const ProtobufCMessage *request,
		     const ProtobufCMessageDescriptor *response_desc, ProtobufCMessage **response,
		     int timeout_ms, struct rpc_result *res);

struct rpc_stream;
/* Starts a server-streaming call; timeout_ms 0 for none. */
int rpc_client_stream_open(struct rpc_client *c, const char *path, const ProtobufCMessage *request,
			   int timeout_ms, struct rpc_stream **out, struct rpc_result *res);
/* The next message: 1 and *msg (free it), 0 at the end (res holds the status), -1 on
 * error (res says what). */
int rpc_client_stream_next(struct rpc_stream *st, const ProtobufCMessageDescriptor *desc,
			   ProtobufCMessage **msg, struct rpc_result *res);
void rpc_client_stream_close(struct rpc_stream *st);

/* Client-streaming: open, send messages, then finish to get the single answer. */
int rpc_client_upload_open(struct rpc_client *c, const char *path, int timeout_ms,
			   struct rpc_stream **out, struct rpc_result *res);
int rpc_client_upload_send(struct rpc_stream *st, const ProtobufCMessage *msg,
			   struct rpc_result *res);
int rpc_client_upload_finish(struct rpc_stream *st, const ProtobufCMessageDescriptor *desc,
			     ProtobufCMessage **response, struct rpc_result *res);

#endif
