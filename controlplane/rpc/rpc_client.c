/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The gRPC client: a channel and a pluck queue per client, one call at a time. Used by
 * fabricctl, by fabricd to reach other hosts' agents, and by tests and benchmarks.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "rpc_internal.h"

struct rpc_client {
	grpc_channel *channel;
	grpc_completion_queue *cq;
	char target[256];
};

struct rpc_stream {
	struct rpc_client *c;
	grpc_call *call;
	grpc_metadata_array initial_md;
	grpc_metadata_array trailing_md;
	grpc_status_code status;
	grpc_slice details;
	bool status_pending; /* RECV_STATUS_ON_CLIENT is outstanding */
	bool done;
	grpc_byte_buffer *recv_buf;
};

int rpc_client_open(struct rpc_client **out, const char *target, const struct rpc_tls *tls,
		    const char *server_name, char *err, size_t err_len)
{
	struct rpc_client *c = calloc(1, sizeof(*c));
	grpc_channel_credentials *creds;
	grpc_arg args[2];
	grpc_channel_args chargs = {.num_args = 0, .args = args};

	if (!c)
		return snprintf(err, err_len, "out of memory"), -1;
	grpc_init();
	snprintf(c->target, sizeof(c->target), "%s", target);
	if (strncmp(target, "unix:", 5) == 0) {
		creds = grpc_insecure_credentials_create();
	} else {
		char *ca = tls ? rpc_read_file(tls->ca_file ? tls->ca_file : "") : NULL;
		char *cert = tls ? rpc_read_file(tls->cert_file ? tls->cert_file : "") : NULL;
		char *key = tls ? rpc_read_file(tls->key_file ? tls->key_file : "") : NULL;
		grpc_ssl_pem_key_cert_pair pair = {.private_key = key, .cert_chain = cert};

		if (!ca || !cert || !key) {
			snprintf(err, err_len,
				 "%s is a TCP address: mutual TLS needs --tls-ca, --tls-cert and --tls-key "
				 "(cannot read %s)",
				 target, !ca ? "the CA" : !cert ? "the certificate" : "the key");
			free(ca);
			free(cert);
			free(key);
			grpc_shutdown();
			free(c);
			return -1;
		}
		creds = grpc_ssl_credentials_create(ca, &pair, NULL, NULL);
		free(ca);
		free(cert);
		free(key);
		if (server_name && *server_name) {
			args[chargs.num_args].type = GRPC_ARG_STRING;
			args[chargs.num_args].key = GRPC_SSL_TARGET_NAME_OVERRIDE_ARG;
			args[chargs.num_args].value.string = (char *)server_name;
			chargs.num_args++;
		}
	}
	c->channel = grpc_channel_create(target, creds, &chargs);
	grpc_channel_credentials_release(creds);
	c->cq = grpc_completion_queue_create_for_pluck(NULL);
	*out = c;
	return 0;
}

void rpc_client_close(struct rpc_client *c)
{
	if (!c)
		return;
	grpc_channel_destroy(c->channel);
	grpc_completion_queue_shutdown(c->cq);
	while (grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_future(GPR_CLOCK_REALTIME), NULL)
		       .type != GRPC_QUEUE_SHUTDOWN)
		;
	grpc_completion_queue_destroy(c->cq);
	grpc_shutdown();
	free(c);
}

/* Waits for the batch tagged `tag`. */
static bool wait_for(struct rpc_client *c, void *tag)
{
	grpc_event ev = grpc_completion_queue_pluck(c->cq, tag, gpr_inf_future(GPR_CLOCK_REALTIME),
						    NULL);

	return ev.type == GRPC_OP_COMPLETE && ev.success;
}

static void result_set(struct rpc_result *res, int status, const char *msg, size_t len)
{
	res->status = status;
	snprintf(res->message, sizeof(res->message), "%.*s", (int)len, msg ? msg : "");
}

static void stream_result(struct rpc_stream *st, struct rpc_result *res)
{
	result_set(res, (int)st->status, (const char *)GRPC_SLICE_START_PTR(st->details),
		   GRPC_SLICE_LENGTH(st->details));
}

static struct rpc_stream *stream_new(struct rpc_client *c, const char *path, int timeout_ms)
{
	struct rpc_stream *st = calloc(1, sizeof(*st));
	grpc_slice method = grpc_slice_from_copied_string(path);

	if (!st)
		return NULL;
	st->c = c;
	st->call = grpc_channel_create_call(c->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq,
					    method, NULL, rpc_deadline(timeout_ms), NULL);
	grpc_slice_unref(method);
	grpc_metadata_array_init(&st->initial_md);
	grpc_metadata_array_init(&st->trailing_md);
	st->details = grpc_empty_slice();
	return st;
}

static void stream_free(struct rpc_stream *st)
{
	if (st->recv_buf)
		grpc_byte_buffer_destroy(st->recv_buf);
	grpc_metadata_array_destroy(&st->initial_md);
	grpc_metadata_array_destroy(&st->trailing_md);
	grpc_slice_unref(st->details);
	grpc_call_unref(st->call);
	free(st);
}

/* Starts the call's status receipt so that a failing server's answer is seen early. */
static void recv_status_op(struct rpc_stream *st, grpc_op *op)
{
	op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
	op->data.recv_status_on_client.trailing_metadata = &st->trailing_md;
	op->data.recv_status_on_client.status = &st->status;
	op->data.recv_status_on_client.status_details = &st->details;
}

int rpc_client_unary(struct rpc_client *c, const char *path, const ProtobufCMessage *request,
		     const ProtobufCMessageDescriptor *response_desc, ProtobufCMessage **response,
		     int timeout_ms, struct rpc_result *res)
{
	struct rpc_stream *st = stream_new(c, path, timeout_ms);
	grpc_byte_buffer *req;
	grpc_op ops[6];
	int ret = -1;

	*response = NULL;
	if (!st)
		return result_set(res, RPC_RESOURCE_EXHAUSTED, "out of memory", 13), -1;
	req = rpc_pack(request);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &st->initial_md;
	ops[4].op = GRPC_OP_RECV_MESSAGE;
	ops[4].data.recv_message.recv_message = &st->recv_buf;
	recv_status_op(st, &ops[5]);
	if (grpc_call_start_batch(st->call, ops, 6, st, NULL) != GRPC_CALL_OK || !wait_for(c, st)) {
		result_set(res, RPC_INTERNAL, "the call could not be made", 26);
	} else {
		stream_result(st, res);
		if (st->status == GRPC_STATUS_OK) {
			*response = rpc_unpack(st->recv_buf, response_desc, NULL, 0);
			if (*response)
				ret = 0;
			else
				result_set(res, RPC_INTERNAL, "the answer is not a valid message", 33);
		}
	}
	grpc_byte_buffer_destroy(req);
	stream_free(st);
	return ret;
}

int rpc_client_stream_open(struct rpc_client *c, const char *path, const ProtobufCMessage *request,
			   int timeout_ms, struct rpc_stream **out, struct rpc_result *res)
{
	struct rpc_stream *st = stream_new(c, path, timeout_ms);
	grpc_byte_buffer *req;
	grpc_op ops[4];
	bool ok;

	if (!st)
		return result_set(res, RPC_RESOURCE_EXHAUSTED, "out of memory", 13), -1;
	req = rpc_pack(request);
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
	ops[1].op = GRPC_OP_SEND_MESSAGE;
	ops[1].data.send_message.send_message = req;
	ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[3].data.recv_initial_metadata.recv_initial_metadata = &st->initial_md;
	ok = grpc_call_start_batch(st->call, ops, 4, st, NULL) == GRPC_CALL_OK && wait_for(c, st);
	grpc_byte_buffer_destroy(req);
	if (!ok) {
		result_set(res, RPC_UNAVAILABLE, "the call could not be made", 26);
		stream_free(st);
		return -1;
	}
	*out = st;
	return 0;
}

static int finish_status(struct rpc_stream *st, struct rpc_result *res)
{
	grpc_op op;

	memset(&op, 0, sizeof(op));
	recv_status_op(st, &op);
	if (grpc_call_start_batch(st->call, &op, 1, &st->status, NULL) != GRPC_CALL_OK ||
	    !wait_for(st->c, &st->status))
		return result_set(res, RPC_INTERNAL, "no status from the server", 25), -1;
	st->done = true;
	stream_result(st, res);
	return st->status == GRPC_STATUS_OK ? 0 : -1;
}

int rpc_client_stream_next(struct rpc_stream *st, const ProtobufCMessageDescriptor *desc,
			   ProtobufCMessage **msg, struct rpc_result *res)
{
	grpc_op op;

	*msg = NULL;
	if (st->done)
		return stream_result(st, res), st->status == GRPC_STATUS_OK ? 0 : -1;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_RECV_MESSAGE;
	op.data.recv_message.recv_message = &st->recv_buf;
	if (grpc_call_start_batch(st->call, &op, 1, st, NULL) != GRPC_CALL_OK || !wait_for(st->c, st))
		return finish_status(st, res) == 0 ? 0 : -1;
	if (!st->recv_buf) /* the end of the stream: the status says how it went */
		return finish_status(st, res) == 0 ? 0 : -1;
	*msg = rpc_unpack(st->recv_buf, desc, NULL, 0);
	grpc_byte_buffer_destroy(st->recv_buf);
	st->recv_buf = NULL;
	if (!*msg) {
		result_set(res, RPC_INTERNAL, "a streamed message is not valid", 31);
		return -1;
	}
	return 1;
}

void rpc_client_stream_close(struct rpc_stream *st)
{
	if (!st)
		return;
	if (!st->done) {
		struct rpc_result res;

		grpc_call_cancel(st->call, NULL);
		finish_status(st, &res);
	}
	stream_free(st);
}

int rpc_client_upload_open(struct rpc_client *c, const char *path, int timeout_ms,
			   struct rpc_stream **out, struct rpc_result *res)
{
	struct rpc_stream *st = stream_new(c, path, timeout_ms);
	grpc_op op;

	if (!st)
		return result_set(res, RPC_RESOURCE_EXHAUSTED, "out of memory", 13), -1;
	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_INITIAL_METADATA;
	if (grpc_call_start_batch(st->call, &op, 1, st, NULL) != GRPC_CALL_OK || !wait_for(c, st)) {
		result_set(res, RPC_UNAVAILABLE, "the call could not be made", 26);
		stream_free(st);
		return -1;
	}
	*out = st;
	return 0;
}

int rpc_client_upload_send(struct rpc_stream *st, const ProtobufCMessage *msg,
			   struct rpc_result *res)
{
	grpc_byte_buffer *buf = rpc_pack(msg);
	grpc_op op;
	bool ok;

	memset(&op, 0, sizeof(op));
	op.op = GRPC_OP_SEND_MESSAGE;
	op.data.send_message.send_message = buf;
	ok = grpc_call_start_batch(st->call, &op, 1, st, NULL) == GRPC_CALL_OK && wait_for(st->c, st);
	grpc_byte_buffer_destroy(buf);
	if (!ok) {
		/* The server ended the call early (it refused something): its status says why. */
		finish_status(st, res);
		return -1;
	}
	return 0;
}

int rpc_client_upload_finish(struct rpc_stream *st, const ProtobufCMessageDescriptor *desc,
			     ProtobufCMessage **response, struct rpc_result *res)
{
	grpc_op ops[4];
	int ret = -1;

	*response = NULL;
	if (st->done) {
		stream_result(st, res);
		stream_free(st);
		return -1;
	}
	memset(ops, 0, sizeof(ops));
	ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
	ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
	ops[1].data.recv_initial_metadata.recv_initial_metadata = &st->initial_md;
	ops[2].op = GRPC_OP_RECV_MESSAGE;
	ops[2].data.recv_message.recv_message = &st->recv_buf;
	recv_status_op(st, &ops[3]);
	if (grpc_call_start_batch(st->call, ops, 4, st, NULL) == GRPC_CALL_OK && wait_for(st->c, st)) {
		stream_result(st, res);
		if (st->status == GRPC_STATUS_OK) {
			*response = rpc_unpack(st->recv_buf, desc, NULL, 0);
			ret = *response ? 0 : -1;
		}
	} else {
		result_set(res, RPC_INTERNAL, "the call could not be finished", 30);
	}
	st->done = true;
	stream_free(st);
	return ret;
}
