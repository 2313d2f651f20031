/* SPDX-License-Identifier: Apache-2.0 */
/* Checks on the protobuf wire bytes that protobuf-c does not make. No gRPC here: the
 * request fuzzer links this file alone. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "rpc_wire.h"

static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

/*
 * protobuf-c hands strings over as C strings: one with a NUL inside would silently lose
 * its tail. Walks the wire bytes and refuses a string field (at any depth) holding a NUL.
 */
static bool strings_clean(const uint8_t *p, const uint8_t *end,
			  const ProtobufCMessageDescriptor *desc, int depth, char *path, size_t path_len)
{
	size_t base = strlen(path);

	if (depth > 16)
		return false;
	while (p < end) {
		uint64_t key, len;
		const ProtobufCFieldDescriptor *f;

		if (!read_varint(&p, end, &key))
			return false;
		switch (key & 7) {
		case 0:
			if (!read_varint(&p, end, &len))
				return false;
			break;
		case 1:
			p += 8;
			break;
		case 5:
			p += 4;
			break;
		case 2:
			if (!read_varint(&p, end, &len) || len > (uint64_t)(end - p))
				return false;
			f = protobuf_c_message_descriptor_get_field(desc, (unsigned)(key >> 3));
			if (f)
				snprintf(path + base, path_len - base, "%s%s", base ? "." : "", f->name);
			if (f && f->type == PROTOBUF_C_TYPE_STRING && memchr(p, 0, len))
				return false;
			if (f && f->type == PROTOBUF_C_TYPE_MESSAGE &&
			    !strings_clean(p, p + len, f->descriptor, depth + 1, path, path_len))
				return false;
			path[base] = 0;
			p += len;
			break;
		default:
			return false;
		}
	}
	return p == end;
}

bool rpc_wire_strings_clean(const uint8_t *buf, size_t len,
			    const ProtobufCMessageDescriptor *desc, char *path, size_t path_len)
{
	path[0] = 0;
	return strings_clean(buf, buf + len, desc, 0, path, path_len);
}
