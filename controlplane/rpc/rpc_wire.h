/* SPDX-License-Identifier: Apache-2.0 */
#ifndef VMF_RPC_WIRE_H
#define VMF_RPC_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/*
 * protobuf-c hands strings over as C strings, so one with a NUL byte inside would lose
 * its tail without a word. Walks the wire bytes of a `desc` message and returns false if
 * a string field (at any depth) holds a NUL, or the bytes are not well formed; `path`
 * then names the field ("endpoint.mac").
 */
bool rpc_wire_strings_clean(const uint8_t *buf, size_t len,
			    const ProtobufCMessageDescriptor *desc, char *path, size_t path_len);

#endif
