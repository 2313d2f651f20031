/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Any protobuf-c message as one line of JSON, walked from its descriptor, so a record
 * printed with --json has every field of the .proto under the .proto's own (snake_case)
 * name, and a field added to the .proto appears without a change here. Every field is
 * printed, zero or not, so scripts can rely on the keys; an unset message field is null.
 * Enums print as their value names without the enum's prefix ("COMPLETED" for
 * MIGRATION_PHASE_COMPLETED); 64-bit integers print as JSON numbers, as everywhere else
 * in fabricctl's output.
 */
#include <inttypes.h>
#include <string.h>

#include "fabricctl.h"

const char *enum_short_name(const ProtobufCEnumDescriptor *desc, int value)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);
	const ProtobufCEnumValue *zero = protobuf_c_enum_descriptor_get_value(desc, 0);
	static const char unspecified[] = "UNSPECIFIED";
	size_t prefix;

	if (!v)
		return NULL;
	/* The style guide's enums start with PREFIX_UNSPECIFIED = 0: PREFIX_ is what every
	 * value's name starts with. Without such a zero value, the full name. */
	if (!zero || strlen(zero->name) < sizeof(unspecified) - 1)
		return v->name;
	prefix = strlen(zero->name) - (sizeof(unspecified) - 1);
	if (strcmp(zero->name + prefix, unspecified) != 0 || strncmp(v->name, zero->name, prefix) != 0)
		return v->name;
	return v->name + prefix;
}

static void json_base64(FILE *out, const ProtobufCBinaryData *b)
{
	static const char digits[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	fputc('"', out);
	for (size_t i = 0; i < b->len; i += 3) {
		uint32_t n = (uint32_t)b->data[i] << 16;
		size_t left = b->len - i;

		if (left > 1)
			n |= (uint32_t)b->data[i + 1] << 8;
		if (left > 2)
			n |= b->data[i + 2];
		fputc(digits[(n >> 18) & 63], out);
		fputc(digits[(n >> 12) & 63], out);
		fputc(left > 1 ? digits[(n >> 6) & 63] : '=', out);
		fputc(left > 2 ? digits[n & 63] : '=', out);
	}
	fputc('"', out);
}

/* One value of field `f` stored at `p` (a scalar, or a pointer for strings and messages). */
static void json_value(FILE *out, const ProtobufCFieldDescriptor *f, const void *p)
{
	const char *name;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		fprintf(out, "%" PRId32, *(const int32_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		fprintf(out, "%" PRIu32, *(const uint32_t *)p);
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		fprintf(out, "%" PRId64, *(const int64_t *)p);
		break;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		fprintf(out, "%" PRIu64, *(const uint64_t *)p);
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		fprintf(out, "%.9g", (double)*(const float *)p);
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		fprintf(out, "%.17g", *(const double *)p);
		break;
	case PROTOBUF_C_TYPE_BOOL:
		fputs(*(const protobuf_c_boolean *)p ? "true" : "false", out);
		break;
	case PROTOBUF_C_TYPE_ENUM:
		/* A value this build does not know (a newer fabricd) prints as its number, as
		 * the proto3 JSON mapping does. */
		name = enum_short_name(f->descriptor, *(const int *)p);
		if (name)
			json_string(out, name);
		else
			fprintf(out, "%d", *(const int *)p);
		break;
	case PROTOBUF_C_TYPE_STRING:
		json_string(out, *(char *const *)p);
		break;
	case PROTOBUF_C_TYPE_BYTES:
		json_base64(out, p);
		break;
	case PROTOBUF_C_TYPE_MESSAGE:
		json_message(out, *(ProtobufCMessage *const *)p);
		break;
	}
}

static size_t value_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return 8;
	case PROTOBUF_C_TYPE_DOUBLE:
		return sizeof(double);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	case PROTOBUF_C_TYPE_ENUM:
		return sizeof(int);
	case PROTOBUF_C_TYPE_STRING:
		return sizeof(char *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(ProtobufCMessage *);
	default:
		return 4;
	}
}

void json_message(FILE *out, const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d;
	const char *base = (const char *)msg;
	bool first = true;

	if (!msg) {
		fputs("null", out);
		return;
	}
	d = msg->descriptor;
	fputc('{', out);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		const void *p = base + f->offset;

		/* A member of a oneof only when it is the one set; an explicit-presence field
		 * only when present. */
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL && !(f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    f->quantifier_offset && f->type != PROTOBUF_C_TYPE_MESSAGE &&
		    f->type != PROTOBUF_C_TYPE_STRING && !*(const protobuf_c_boolean *)(base + f->quantifier_offset))
			continue;
		fputs(first ? "" : ", ", out);
		first = false;
		json_string(out, f->name);
		fputs(": ", out);
		if (f->label != PROTOBUF_C_LABEL_REPEATED) {
			json_value(out, f, p);
			continue;
		}
		fputc('[', out);
		for (size_t k = 0; k < *(const size_t *)(base + f->quantifier_offset); k++) {
			fputs(k ? ", " : "", out);
			json_value(out, f, *(char *const *)p + k * value_size(f));
		}
		fputc(']', out);
	}
	fputc('}', out);
}
