/* SPDX-License-Identifier: Apache-2.0 */
/* What the server and the client share: protobuf <-> byte buffer, PEM files. */
#ifndef VMF_RPC_INTERNAL_H
#define VMF_RPC_INTERNAL_H

#include <grpc/byte_buffer.h>
#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/slice.h>

#include "rpc.h"

/* Packs `msg` into a new byte buffer (the caller destroys it). */
grpc_byte_buffer *rpc_pack(const ProtobufCMessage *msg);
/* Decodes a byte buffer; NULL if it is not a valid `desc` message (including a string
 * field with a NUL byte inside, which a C string would cut short). */
ProtobufCMessage *rpc_unpack(grpc_byte_buffer *buf, const ProtobufCMessageDescriptor *desc,
			     char *why, size_t why_len);
/* Reads a whole (PEM) file into a malloc'd string, or NULL with errno set. */
char *rpc_read_file(const char *path);
/* A millisecond timeout from now as a gRPC deadline (0: none). */
gpr_timespec rpc_deadline(int timeout_ms);

#endif
