/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>

#include "rpc.h"

enum rpc_status rpc_status_from_errno(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return RPC_OK;
	case EINVAL:
	case EILSEQ:
		return RPC_INVALID_ARGUMENT;
	case ENOENT:
		return RPC_NOT_FOUND;
	case ESTALE:
		return RPC_ABORTED;
	case EPERM:
	case EBUSY:
		return RPC_FAILED_PRECONDITION;
	case EEXIST:
	case EADDRINUSE:
		return RPC_ALREADY_EXISTS;
	case ENOSPC:
	case ENOMEM:
	case EMSGSIZE:
		return RPC_RESOURCE_EXHAUSTED;
	case EAGAIN:
		return RPC_UNAVAILABLE;
	case EACCES:
		return RPC_PERMISSION_DENIED;
	case ETIMEDOUT:
		return RPC_DEADLINE_EXCEEDED;
	case ECANCELED:
		return RPC_CANCELLED;
	case ENOSYS:
		return RPC_UNIMPLEMENTED;
	default:
		return RPC_INTERNAL;
	}
}

const char *rpc_status_name(int status)
{
	static const char *const names[] = {
		"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
		"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
		"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
		"UNAUTHENTICATED",
	};

	return status >= 0 && status < (int)(sizeof(names) / sizeof(names[0])) ? names[status]
										 : "?";
}

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/support/time.h>

#include "rpc_internal.h"
#include "rpc_wire.h"

grpc_byte_buffer *rpc_pack(const ProtobufCMessage *msg)
{
	size_t len = protobuf_c_message_get_packed_size(msg);
	grpc_slice slice = grpc_slice_malloc(len);
	grpc_byte_buffer *buf;

	protobuf_c_message_pack(msg, GRPC_SLICE_START_PTR(slice));
	buf = grpc_raw_byte_buffer_create(&slice, 1);
	grpc_slice_unref(slice);
	return buf;
}

ProtobufCMessage *rpc_unpack(grpc_byte_buffer *buf, const ProtobufCMessageDescriptor *desc,
			     char *why, size_t why_len)
{
	char path[256] = "";

	grpc_byte_buffer_reader reader;
	grpc_slice slice;
	ProtobufCMessage *msg;

	if (!buf || !grpc_byte_buffer_reader_init(&reader, buf))
		return NULL;
	slice = grpc_byte_buffer_reader_readall(&reader);
	grpc_byte_buffer_reader_destroy(&reader);
	msg = protobuf_c_message_unpack(desc, NULL, GRPC_SLICE_LENGTH(slice),
					GRPC_SLICE_START_PTR(slice));
	if (!msg && why)
		snprintf(why, why_len, "the request is not a valid %s message", desc->name);
	if (msg && !rpc_wire_strings_clean(GRPC_SLICE_START_PTR(slice), GRPC_SLICE_LENGTH(slice),
					   desc, path, sizeof(path))) {
		protobuf_c_message_free_unpacked(msg, NULL);
		msg = NULL;
		if (why)
			snprintf(why, why_len, "%s: a NUL byte inside a string", path);
	}
	grpc_slice_unref(slice);
	return msg;
}

char *rpc_read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long len;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) == 0 && (len = ftell(f)) >= 0 && len < (1 << 20) &&
	    fseek(f, 0, SEEK_SET) == 0 && (buf = malloc((size_t)len + 1))) {
		if (fread(buf, 1, (size_t)len, f) != (size_t)len) {
			free(buf);
			buf = NULL;
			errno = EIO;
		} else {
			buf[len] = 0;
		}
	}
	fclose(f);
	return buf;
}

gpr_timespec rpc_deadline(int timeout_ms)
{
	if (timeout_ms <= 0)
		return gpr_inf_future(GPR_CLOCK_REALTIME);
	return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
			    gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}
